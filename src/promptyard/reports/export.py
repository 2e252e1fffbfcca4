"""Write a stored run as JSON or YAML (promptfoo's shape), JSONL, CSV, text, Markdown, HTML or
JUnit XML.

Every format streams trial by trial; markdown.py, html.py and junit.py hold the last three.

The JSON follows promptfoo's output file where the fields overlap
(`results.results[].success`, `score`, `response.output`, `gradingResult.componentResults[]`),
so tools that read promptfoo output read ours. Trials are streamed: a 100,000-case run is
exported without holding every trial in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Protocol

from promptyard.core.secrets import redact, scrub_text
from promptyard.core.types import TrialResult
from promptyard.reports.common import output_text


class RunInfo(Protocol):
    id: str
    description: str
    status: str
    created_at: str
    finished_at: str | None
    summary: dict[str, Any] | None
    config: dict[str, Any]
    prompts: list[dict[str, Any]]
    providers: list[dict[str, Any]]


FORMATS = ("json", "jsonl", "csv", "yaml", "txt", "md", "html", "junit")
# File extensions, where they differ from the format's name.
EXTENSIONS = {"yml": "yaml", "markdown": "md", "htm": "html", "xml": "junit"}

# promptfoo's ResultFailureReason
_NONE, _ASSERT, _ERROR = 0, 1, 2


def format_for_path(path: str | Path) -> str:
    """The export format a file name asks for, by extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    fmt = EXTENSIONS.get(suffix, suffix)
    if fmt not in FORMATS or (fmt == "junit" and suffix != "xml"):
        known = [f for f in FORMATS if f != "junit"] + list(EXTENSIONS)
        raise ValueError(
            f"cannot write {str(path)!r}: unknown extension {suffix!r} "
            f"(supported: {', '.join('.' + f for f in known)})"
        )
    return fmt


def trial_to_promptfoo(trial: TrialResult, prompt_index: dict[str, int]) -> dict[str, Any]:
    """One result in promptfoo's EvaluateResult shape."""
    if trial.error is not None:
        failure = _ERROR
    elif trial.success:
        failure = _NONE
    else:
        failure = _ASSERT
    grading = trial.grading.to_dict() if trial.grading is not None else None
    return {
        "id": f"{trial.run_id}:{trial.index}",
        "promptIdx": prompt_index.get(trial.prompt_id, 0),
        "testIdx": trial.case_index,
        "caseId": trial.case_id,
        "sample": trial.sample,
        "description": trial.description,
        "promptId": trial.prompt_id,
        "prompt": {"raw": trial.prompt, "label": trial.prompt_label},
        "provider": {"id": trial.provider_id, "label": trial.provider_label},
        "vars": trial.vars,
        "response": None
        if trial.error is not None and trial.output is None
        else {
            "output": trial.output,
            "tokenUsage": trial.usage.to_dict(),
            "cached": trial.cached,
            "cost": trial.cost,
        },
        "error": _error(trial),
        "failureReason": failure,
        "success": trial.success,
        "score": trial.score,
        "latencyMs": round(trial.latency_ms, 3),
        "cost": trial.cost,
        "namedScores": grading.get("namedScores", {}) if grading else {},
        "gradingResult": grading,
    }


def write_json(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    summary = run.summary or {}
    prompt_index = {p["id"]: i for i, p in enumerate(run.prompts)}
    head = {
        "evalId": run.id,
        "description": run.description,
        "status": run.status,
        "createdAt": run.created_at,
        "finishedAt": run.finished_at,
    }
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(', "results": {"version": 3, "timestamp": ')
    out.write(json.dumps(run.created_at))
    out.write(', "prompts": ')
    out.write(json.dumps(run.prompts, ensure_ascii=False))
    out.write(', "results": [')
    successes = failures = errors = 0
    tokens = {"total": 0, "prompt": 0, "completion": 0, "cached": 0}
    for n, trial in enumerate(trials):
        if n:
            out.write(",")
        out.write("\n")
        out.write(json.dumps(trial_to_promptfoo(trial, prompt_index), ensure_ascii=False))
        if trial.error is not None:
            errors += 1
        elif trial.success:
            successes += 1
        else:
            failures += 1
        for key, value in trial.usage.to_dict().items():
            tokens[key] += value
    stats = {"successes": successes, "failures": failures, "errors": errors, "tokenUsage": tokens}
    out.write('\n], "stats": ')
    out.write(json.dumps(stats))
    out.write('}, "summary": ')
    out.write(json.dumps(summary, ensure_ascii=False))
    out.write(', "config": ')
    # Stored configs are redacted already; again here for runs stored by older versions.
    out.write(json.dumps(redact(run.config), ensure_ascii=False, default=str))
    out.write(', "shareableUrl": null}\n')


def write_yaml(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    """promptfoo's output document (the JSON one) as YAML, streamed trial by trial."""
    import yaml

    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def block(value: Any, indent: str) -> str:
        plain = json.loads(json.dumps(value, ensure_ascii=False, default=str))
        text = yaml.dump(plain, Dumper=dumper, sort_keys=False, allow_unicode=True,
                         default_flow_style=False, width=100)  # fmt: skip
        return "".join(indent + line for line in text.splitlines(keepends=True))

    def field(name: str, value: Any, indent: str = "") -> None:
        if isinstance(value, (dict, list)) and value:
            out.write(f"{indent}{name}:\n")
            out.write(block(value, indent + "  "))
        else:
            out.write(block({name: value}, indent))

    summary = run.summary or {}
    prompt_index = {p["id"]: i for i, p in enumerate(run.prompts)}
    for name, value in (("evalId", run.id), ("description", run.description),
                        ("status", run.status), ("createdAt", run.created_at),
                        ("finishedAt", run.finished_at)):  # fmt: skip
        field(name, value)
    out.write("results:\n  version: 3\n")
    field("timestamp", run.created_at, "  ")
    field("prompts", run.prompts, "  ")
    successes = failures = errors = 0
    tokens = {"total": 0, "prompt": 0, "completion": 0, "cached": 0}
    wrote = False
    for trial in trials:
        if not wrote:
            out.write("  results:\n")
            wrote = True
        out.write(block([trial_to_promptfoo(trial, prompt_index)], "  "))
        if trial.error is not None:
            errors += 1
        elif trial.success:
            successes += 1
        else:
            failures += 1
        for key, count in trial.usage.to_dict().items():
            tokens[key] += count
    if not wrote:
        out.write("  results: []\n")
    stats = {"successes": successes, "failures": failures, "errors": errors, "tokenUsage": tokens}
    field("stats", stats, "  ")
    field("summary", summary)
    # Stored configs are redacted already; again here for runs stored by older versions.
    field("config", redact(run.config))
    out.write("shareableUrl: null\n")


def write_txt(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    """A plain-text report: the run, one line per prompt x provider, then one block per trial
    (promptfoo's .txt output is its results table as text)."""
    summary = run.summary or {}
    out.write(f"Run {run.id} ({run.status}) {run.created_at}\n")
    if run.description:
        out.write(f"{run.description}\n")
    total, passed = summary.get("total", 0), summary.get("passed", 0)
    out.write(
        f"{passed}/{total} passed ({100 * float(summary.get('pass_rate', 0.0)):.1f}%), "
        f"{summary.get('failed', 0)} failed, {summary.get('errors', 0)} errors\n\n"
    )
    for pair in summary.get("pairs") or []:
        out.write(
            f"{_one_line(pair.get('prompt_label', ''), 60)} x "
            f"{_one_line(pair.get('provider_label', ''), 40)}: "
            f"{pair.get('passed', 0)} passed, {pair.get('failed', 0)} failed, "
            f"{pair.get('errors', 0)} errors ({100 * float(pair.get('pass_rate', 0.0)):.1f}%)\n"
        )
    for t in trials:
        verdict = "ERROR" if t.error is not None else ("PASS" if t.success else "FAIL")
        name = t.description or f"case {t.case_index}"
        out.write(f"\n[{verdict}] {_one_line(name, 100)}\n")
        out.write(f"  prompt:   {_one_line(t.prompt_label, 100)}\n")
        out.write(f"  provider: {_one_line(t.provider_label, 100)}\n")
        if t.vars:
            text = json.dumps(t.vars, ensure_ascii=False, default=str)
            out.write(f"  vars:     {_one_line(text, 200)}\n")
        out.write(f"  output:   {_one_line(output_text(t.output), 500)}\n")
        why = _error(t) or _failure_reason(t)
        if why:
            out.write(f"  reason:   {_one_line(why, 500)}\n")


def _one_line(value: Any, limit: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_jsonl(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    prompt_index = {p["id"]: i for i, p in enumerate(run.prompts)}
    for trial in trials:
        out.write(json.dumps(trial_to_promptfoo(trial, prompt_index), ensure_ascii=False))
        out.write("\n")


CSV_COLUMNS = [
    "index",
    "case_index",
    "description",
    "prompt",
    "provider",
    "sample",
    "vars",
    "output",
    "success",
    "score",
    "reason",
    "error",
    "latency_ms",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "cached",
]


def write_csv(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for t in trials:
        writer.writerow(
            [
                t.index,
                t.case_index,
                t.description or "",
                t.prompt_label,
                t.provider_label,
                t.sample,
                json.dumps(t.vars, ensure_ascii=False),
                output_text(t.output),
                "true" if t.success else "false",
                f"{t.score:.6g}",
                _failure_reason(t),
                _error(t) or "",
                f"{t.latency_ms:.1f}",
                "" if t.cost is None else f"{t.cost:.8f}",
                t.usage.prompt,
                t.usage.completion,
                "true" if t.cached else "false",
            ]
        )


def _write_md(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    from promptyard.reports.markdown import write_markdown

    write_markdown(run, trials, out)


def _write_html(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    from promptyard.reports.html import write_html

    write_html(run, trials, out)


def _write_junit(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    from promptyard.reports.junit import write_junit

    write_junit(run, trials, out)


WRITERS: dict[str, Callable[[RunInfo, Iterable[TrialResult], IO[str]], None]] = {
    "json": write_json,
    "jsonl": write_jsonl,
    "yaml": write_yaml,
    "csv": write_csv,
    "txt": write_txt,
    "md": _write_md,
    "html": _write_html,
    "junit": _write_junit,
}


def export_run(run: RunInfo, trials: Iterable[TrialResult], path: str | Path, fmt: str) -> None:
    """Write `run` to `path` in `fmt`; `-` writes to standard output."""
    writer = WRITERS[fmt]
    if str(path) == "-":
        import sys

        writer(run, trials, sys.stdout)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    newline = "" if fmt == "csv" else None
    with target.open("w", encoding="utf-8", newline=newline) as out:
        writer(run, trials, out)


def _error(trial: TrialResult) -> str | None:
    """A trial's error without URL credentials (errors are scrubbed when made; older runs)."""
    return None if trial.error is None else scrub_text(trial.error)


def _failure_reason(trial: TrialResult) -> str:
    if trial.grading is None or trial.grading.passed:
        return ""
    return trial.grading.reason
