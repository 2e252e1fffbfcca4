"""How many of promptfoo's own example configs load in Promptyard, and why the rest don't.

    .venv/bin/python bench/promptfoo_examples.py [EXAMPLES_DIR] [--folders a,b] [--json]

Goes through every example folder under EXAMPLES_DIR (default:
/work/shared/promptfoo-examples/examples), takes each file named promptfooconfig.yaml, .yml,
.json, .js or .ts in it (or in its subfolders), and loads it with `promptyard.library.load_spec`
under the local trust policy, then validates every test's assertions the way a run does
before its first call (`Grader.validate_test`, which builds judge and embedding models but
calls nothing). Providers are not contacted: this measures loading only. Prints how many
load, how many load with some tests errored (a promptfoo config's per-test problems), and the
refusal reasons grouped and counted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path("/work/shared/promptfoo-examples/examples")
NAMES = ("promptfooconfig.yaml", "promptfooconfig.yml", "promptfooconfig.json",
         "promptfooconfig.js", "promptfooconfig.ts")  # fmt: skip
# Credentials only so that building judge and embedding models does not stop at a missing
# key: nothing is called.
FAKE_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
             "MISTRAL_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY", "OPENROUTER_API_KEY",
             "DEEPSEEK_API_KEY", "XAI_API_KEY", "PERPLEXITY_API_KEY", "COHERE_API_KEY",
             "HF_API_TOKEN", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "VOYAGE_API_KEY")  # fmt: skip


def find_configs(root: Path, folders: list[str] | None = None) -> list[Path]:
    """Every promptfooconfig.* file in each example folder (subfolders included), sorted."""
    out: list[Path] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folders and folder.name not in folders:
            continue
        out.extend(sorted(p for p in folder.rglob("promptfooconfig.*") if p.name in NAMES))
    return out


_WHERE = re.compile(r"^[^\s:]+(:\d+)?(, [^:]+)?: ")


def reason_of(message: str) -> str:
    """A refusal message without its file, line, field and quoted specifics, to group by."""
    text = message.strip().splitlines()[0] if message.strip() else message
    text = _WHERE.sub("", text, count=1)
    text = re.sub(r"\b[a-z][a-z0-9+.-]*://[^\s:,]+", "<url>", text)
    text = re.sub(r"\(resolved to [^)]*\)", "", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\"[^\"]*\"", '"…"', text)
    text = re.sub(r"\b\d+(\.\d+)?\b", "N", text)
    return text[:160]


def check_one(path: Path) -> tuple[str, str | None, int]:
    """("loaded" | "refused", the refusal message, tests errored at load)."""
    from promptyard.library import check_tests, load_spec
    from promptyard.trust import TrustPolicy

    trust = TrustPolicy.local()
    try:
        spec = load_spec(path, trust=trust)
        check_tests(spec, trust=trust)
    except Exception as exc:  # a refusal of any kind is what this counts
        return "refused", f"{type(exc).__name__}: {exc}", 0
    return "loaded", None, sum(1 for t in spec.tests if getattr(t, "error", None))


def measure(root: Path, folders: list[str] | None = None) -> dict[str, Any]:
    """Load every config; the figures as a dict (see main for the printout)."""
    for key in FAKE_KEYS:
        os.environ.setdefault(key, "sk-promptyard-bench-not-a-key")
    results: dict[str, Any] = {}
    for path in find_configs(root, folders):
        try:
            status, message, errored = check_one(path)
        except Exception as exc:  # a crash is a finding, not the end
            status, message, errored = "refused", f"crash {type(exc).__name__}: {exc}", 0
        results[str(path.relative_to(root))] = {
            "status": status,
            "reason": reason_of(message) if message else None,
            "message": message,
            "errored_tests": errored,
        }
    reasons = Counter(r["reason"] for r in results.values() if r["status"] == "refused")
    loaded = sum(1 for r in results.values() if r["status"] == "loaded")
    return {
        "total": len(results),
        "loaded": loaded,
        "loaded_with_errored_tests": sum(
            1 for r in results.values() if r["status"] == "loaded" and r["errored_tests"]
        ),
        "refused": len(results) - loaded,
        "reasons": reasons.most_common(),
        "configs": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--folders", help="comma-separated example folder names to check")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each refusal")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    figures = measure(args.root, args.folders.split(",") if args.folders else None)
    out = sys.stdout
    if args.json:
        json.dump(figures, out, indent=2)
        out.write("\n")
        return 0
    out.write(
        f"loaded {figures['loaded']} / {figures['total']} configs"
        f" ({figures['loaded_with_errored_tests']} of them with some tests errored);"
        f" refused {figures['refused']}\n"
    )
    for reason, count in figures["reasons"]:
        out.write(f"{count:4d}  {reason}\n")
    if args.verbose:
        for name, r in figures["configs"].items():
            if r["status"] == "refused":
                out.write(f"  {name}: {r['message']}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
