"""Helpers for end-to-end tests: run the `promptyard` CLI as a user would, in a subprocess.

Every test gets a fresh project folder (its own SQLite store) and a clean environment: no
PROMPTYARD_* or vendor keys leak in from the machine, and the fake key the stub accepts is
set as STUB_KEY.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stub_server import StubServer

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "STUB_KEY"
CLI_TIMEOUT_S = 60.0


@dataclass(slots=True)
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"promptyard {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give: ours minus anything that changes behaviour."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROMPTYARD_", "OPENAI_", "ANTHROPIC_", "PYTEST_"))
        and k not in ("COLUMNS", "LINES", "FORCE_COLOR")
    }
    env[KEY_ENV] = "sk-stub-test"
    env["PYTHONPATH"] = str(REPO / "src")
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "promptyard.cli", *args]


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> CliResult:
    proc = subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: CliResult, *needles: str, code: int = 1) -> None:
    """Exit `code`, no Python traceback, and every needle in stderr (case-insensitive)."""
    assert result.returncode == code, str(result)
    both = result.stdout + result.stderr
    assert "Traceback" not in both, str(result)
    err = " ".join(result.stderr.split()).lower()  # rich wraps long lines
    for needle in needles:
        assert needle.lower() in err, f"{needle!r} not in stderr\n{result}"


def chat_body(text: str, model: str = "stub-model") -> dict[str, Any]:
    """An OpenAI chat completion whose answer is `text` (for scripted stub replies)."""
    n = len(text.split())
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n},
    }


def provider_yaml(base_url: str, model: str = "stub-model", **config: Any) -> str:
    """An `openai:chat:MODEL` provider entry pointed at the stub, as promptfoo spells it."""
    cfg = {"apiBaseUrl": base_url, "apiKeyEnvar": KEY_ENV, **config}
    return f"  - id: openai:chat:{model}\n    config: {json.dumps(cfg)}\n"


class Project:
    """A project folder: write files into it, run the CLI inside it."""

    def __init__(self, root: Path, stub: StubServer) -> None:
        self.root = root
        self.stub = stub

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def config(
        self,
        tests: str,
        *,
        prompts: str = '  - "Repeat: {{ word }}"\n',
        providers: str | None = None,
        extra: str = "",
        name: str = "promptyard.yaml",
    ) -> Path:
        """Write a config; `tests` and the others are YAML bodies indented under their key."""
        providers = providers if providers is not None else provider_yaml(self.stub.base_url)
        text = f"description: e2e\nprompts:\n{prompts}providers:\n{providers}{extra}tests:\n{tests}"
        return self.write(name, text)

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        return run_cli(*args, cwd=self.root, env=env, timeout=timeout)

    def eval(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        return self.cli("eval", "--no-progress", *args, env=env)


def word_tests(*words: str, expect: dict[str, str] | None = None) -> str:
    """Inline tests: each asks the stub to repeat a word and checks the answer contains
    `expect[word]` (default: the word itself, so it passes against the echoing stub)."""
    expect = expect or {}
    out = []
    for w in words:
        out.append(
            f"  - description: case-{w}\n"
            f"    vars: {{word: {w}}}\n"
            f"    assert:\n"
            f"      - type: contains\n"
            f"        value: {expect.get(w, w)}\n"
        )
    return "".join(out)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def run_id_from(result: CliResult) -> str:
    """The run id the eval printed ("Run <id> (<status>) saved.")."""
    for line in result.stdout.splitlines():
        if line.startswith("Run ") and " saved." in line:
            return line.split()[1]
    raise AssertionError(f"no run id in\n{result}")
