"""Write a stored run as Markdown: a summary table per prompt x provider, then the failures.

Meant for pull-request comments and CI job summaries. The summary comes from the run's stored
summary; failures stream from the trials, capped so a large run stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from promptyard.core.types import TrialResult
from promptyard.reports.common import (
    case_name,
    failure_reasons,
    format_ci,
    one_line,
    peek_repeated,
)

if TYPE_CHECKING:
    from promptyard.reports.export import RunInfo

MAX_FAILURES = 200
CELL_LIMIT = 500  # characters of one reason or output in a table cell
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def cell(value: Any, limit: int = CELL_LIMIT) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, newlines as <br>, HTML inert."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _CONTROL.sub("", text).replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\n", "<br>")


def write_markdown(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    summary = run.summary or {}
    title = run.description or (run.config or {}).get("description") or "Promptyard run"
    out.write(f"# {one_line(str(title), 200)}\n\n")
    out.write(f"Run `{run.id}` · {run.status} · {run.created_at}\n\n")
    _write_summary(summary, out)
    _write_failures(trials, out)


def _write_summary(summary: dict[str, Any], out: IO[str]) -> None:
    pairs: list[dict[str, Any]] = summary.get("pairs") or []
    if summary:
        total, passed = summary.get("total", 0), summary.get("passed", 0)
        rate = 100 * summary.get("pass_rate", passed / total if total else 0.0)
        out.write(
            f"**{passed}/{total} passed ({rate:.1f}%)**, {summary.get('failed', 0)} failed, "
            f"{summary.get('errors', 0)} errors, cost ${summary.get('cost', 0.0):.6f}, "
            f"{summary.get('tokens', 0)} tokens\n\n"
        )
    if not pairs:
        out.write("_No summary stored for this run._\n\n")
        return
    with_ci = any("pass_rate_ci" in p for p in pairs)
    head = ["prompt", "provider", "pass rate"]
    head += ["95% CI"] if with_ci else []
    head += ["passed", "failed", "errors", "mean score", "tokens", "cost (USD)"]
    head += ["p50 ms", "p95 ms"]
    out.write("## Summary\n\n")
    out.write("| " + " | ".join(head) + " |\n")
    out.write("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|\n")
    for p in pairs:
        latency = p.get("latency_ms") or {}
        tokens = p.get("tokens") or {}
        row = [
            cell(one_line(str(p.get("prompt_label", "")), 120)),
            cell(p.get("provider_label", "")),
            f"{100 * p.get('pass_rate', 0.0):.1f}%",
        ]
        if with_ci:
            row.append(format_ci(p.get("pass_rate_ci")) or "-")
        row += [
            str(p.get("passed", 0)),
            str(p.get("failed", 0)),
            str(p.get("errors", 0)),
            f"{p.get('mean_score', 0.0):.3f}",
            str(tokens.get("total", 0) if isinstance(tokens, dict) else tokens),
            f"{p.get('cost', 0.0):.6f}",
            _ms(latency.get("p50")),
            _ms(latency.get("p95")),
        ]
        out.write("| " + " | ".join(row) + " |\n")
    out.write("\n")


def _write_failures(trials: Iterable[TrialResult], out: IO[str]) -> None:
    repeated, stream = peek_repeated(trials)
    shown = hidden = 0
    for trial in stream:
        if trial.success and trial.error is None:
            continue
        if shown >= MAX_FAILURES:
            hidden += 1
            continue
        if shown == 0:
            out.write("## Failures\n\n| case | prompt | provider | reason |\n|---|---|---|---|\n")
        shown += 1
        if trial.error is not None:
            reasons = [f"error: {trial.error}"]
        else:
            reasons = failure_reasons(trial) or ["failed"]
        out.write(
            f"| {cell(case_name(trial, with_sample=repeated))} "
            f"| {cell(one_line(trial.prompt_label, 80))} | {cell(trial.provider_label)} "
            f"| {'<br>'.join(cell(r) for r in reasons)} |\n"
        )
    if shown == 0:
        out.write("## Failures\n\nNone: every trial passed.\n")
        return
    if hidden:
        out.write(f"\n... and {hidden} more\n")


def _ms(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "-"
