"""Write a stored run as JUnit XML for CI systems: one <testsuite> per prompt x provider.

A suite's counts must precede its test cases, and the plan interleaves suites (case by case),
so each suite's <testcase> elements go to its own spooled temporary buffer during one pass over
the trials; the buffers are joined at the end. Memory stays bounded for 100,000-trial runs.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from promptyard.core.types import TrialResult
from promptyard.reports.common import (
    case_name,
    failure_reasons,
    output_text,
    pair_title,
    peek_repeated,
)

if TYPE_CHECKING:
    from promptyard.reports.export import RunInfo

SPOOL_BUDGET = 32 * 1024 * 1024  # bytes of suite buffers kept in memory before spilling to disk
OUTPUT_LIMIT = 4000  # characters of a failed trial's output in <system-out>

# Characters XML 1.0 forbids anywhere (C0 controls but tab/LF/CR, surrogates, U+FFFE/FFFF).
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTR = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def clean(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry."""
    return _FORBIDDEN.sub("", text)


def attr(text: str) -> str:
    return '"' + clean(text).translate(_ATTR) + '"'


def body(text: str) -> str:
    return clean(text).translate(_TEXT)


@dataclass(slots=True)
class _Suite:
    name: str
    buffer: IO[str]
    tests: int = 0
    failures: int = 0
    errors: int = 0
    time_s: float = 0.0


def write_junit(run: RunInfo, trials: Iterable[TrialResult], out: IO[str]) -> None:
    pairs = max(1, len(run.prompts) * len(run.providers))
    spool = max(64 * 1024, SPOOL_BUDGET // pairs)
    suites: dict[tuple[str, str], _Suite] = {}
    repeated, stream = peek_repeated(trials)
    try:
        for trial in stream:
            key = (trial.prompt_id, trial.provider_label)  # labels are unique per column
            suite = suites.get(key)
            if suite is None:
                buffer = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed below
                    max_size=spool, mode="w+", encoding="utf-8"
                )
                suite = _Suite(pair_title(trial.prompt_label, trial.provider_label), buffer)
                suites[key] = suite
            _write_case(suite, trial, repeated)
        _write_document(run, list(suites.values()), out)
    finally:
        for suite in suites.values():
            suite.buffer.close()


def _write_case(suite: _Suite, trial: TrialResult, repeated: bool) -> None:
    seconds = max(0.0, trial.latency_ms) / 1000.0
    suite.tests += 1
    suite.time_s += seconds
    w = suite.buffer.write
    w(
        f"    <testcase classname={attr(trial.prompt_label)} "
        f'name={attr(case_name(trial, with_sample=repeated))} time="{seconds:.3f}"'
    )
    if trial.error is not None:
        suite.errors += 1
        message = trial.error.splitlines()[0] if trial.error.strip() else "error"
        w(f'>\n      <error message={attr(message)} type="error">{body(trial.error)}</error>\n')
        w("    </testcase>\n")
        return
    if trial.success:
        w("/>\n")
        return
    suite.failures += 1
    reasons = failure_reasons(trial) or ["failed"]
    message = "; ".join(reasons)
    w(f'>\n      <failure message={attr(message)} type="assertion">')
    w(body("\n".join(reasons)))
    w("</failure>\n")
    output = output_text(trial.output)
    if output:
        if len(output) > OUTPUT_LIMIT:
            output = output[:OUTPUT_LIMIT] + "…"
        w(f"      <system-out>{body(output)}</system-out>\n")
    w("    </testcase>\n")


def _write_document(run: RunInfo, suites: list[_Suite], out: IO[str]) -> None:
    tests = sum(s.tests for s in suites)
    failures = sum(s.failures for s in suites)
    errors = sum(s.errors for s in suites)
    time_s = sum(s.time_s for s in suites)
    name = run.description or "promptyard"
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(
        f'<testsuites name={attr(name)} tests="{tests}" failures="{failures}" '
        f'errors="{errors}" time="{time_s:.3f}">\n'
    )
    for i, suite in enumerate(suites):
        out.write(
            f'  <testsuite name={attr(suite.name)} id="{i}" tests="{suite.tests}" '
            f'failures="{suite.failures}" errors="{suite.errors}" skipped="0" '
            f'time="{suite.time_s:.3f}" timestamp={attr(run.created_at[:19])}>\n'
        )
        out.write(f'    <properties><property name="run_id" value={attr(run.id)}/></properties>\n')
        suite.buffer.seek(0)
        while chunk := suite.buffer.read(1 << 16):
            out.write(chunk)
        out.write("  </testsuite>\n")
    out.write("</testsuites>\n")
