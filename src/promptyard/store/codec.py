"""Converting between TrialResult and table rows, JSON encoding, and the statements that write
a batch of trials (for the full Store and the lean SQLite one alike). Hot path: keep cheap.

Stored text is capped here, for every writer and both stores alike (STORE_LIMITS, the
defaults of trust.Limits): an output, a reason, a raw body, a var or an error over its limit is
cut, with a marker saying so and which setting it was. The engine caps first with the run's
own limits (TrustPolicy.limits); a setting can lower these ceilings, not raise them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from promptyard.core.types import GradingResult, TokenUsage, TrialResult
from promptyard.trust.limits import (
    OUTPUT_SETTING,
    REASON_SETTING,
    STORED_SETTING,
    TRUNCATED,
    cap_grading,
    cap_json_text,
    cap_optional,
    cap_output,
    cap_text,
    capped_vars,
)
from promptyard.trust.policy import Limits

STORE_LIMITS = Limits()

_dumps = json.JSONEncoder(allow_nan=False, default=str).encode
_dumps_lax = json.JSONEncoder(default=str).encode


def json_dumps(value: Any) -> str:
    """JSON for a JSON column. Never refuses a value: unknown objects become their str(),
    and NaN/Infinity (which PostgreSQL's json rejects) become null, as in JavaScript."""
    try:
        return _dumps(value)
    except ValueError:
        pass
    try:
        return _dumps_lax(_finite(value))
    except (ValueError, RecursionError):  # a circular structure: keep what can be shown
        return _dumps(repr(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def trial_row(t: TrialResult, clean: Any = None, limits: Limits = STORE_LIMITS) -> dict[str, Any]:
    """The trials row for `t`, JSON columns already encoded (None stays SQL NULL), its text
    capped at `limits`.

    `clean` fixes text for backends that refuse some characters.
    """
    g = t.grading
    u = t.usage
    stored = limits.max_stored_value_chars
    prompt = cap_text(t.prompt, stored, STORED_SETTING) if len(t.prompt) > stored else t.prompt
    description = cap_optional(t.description, stored, STORED_SETTING)
    error = cap_optional(t.error, stored, STORED_SETTING)
    if clean is not None:
        prompt, description, error = clean(prompt), clean(description), clean(error)
    return {
        "run_id": t.run_id,
        "idx": t.index,
        "case_index": t.case_index,
        "case_id": t.case_id,
        "prompt_id": t.prompt_id,
        "prompt_label": t.prompt_label,
        "provider_id": t.provider_id,
        "provider_label": t.provider_label,
        "sample": t.sample,
        "description": description,
        "vars": _vars_json(t.vars, stored),
        "prompt": prompt,
        "output": _output_json(t.output, limits.max_output_chars),
        "error": error,
        "grading": None if g is None else _grading_json(g, limits),
        "success": t.success,
        "score": t.score,
        "latency_ms": t.latency_ms,
        "cost": t.cost,
        "prompt_tokens": u.prompt,
        "completion_tokens": u.completion,
        "total_tokens": u.total,
        "cached_tokens": u.cached,
        "cached": t.cached,
        "raw": None if t.raw is None else _capped_json(t.raw, stored, STORED_SETTING),
        "created_at": t.created_at,
        "kpis": None if t.kpis is None else json_dumps(t.kpis),
    }


def _capped_json(value: Any, limit: int, setting: str) -> str:
    """JSON for `value`; over `limit`, the JSON of a marked excerpt of it (a string)."""
    text = json_dumps(value)
    return text if len(text) <= limit else json_dumps(cap_text(text, limit, setting))


def _output_json(output: Any, limit: int) -> str | None:
    if output is None:
        return None
    if isinstance(output, str) and len(output) > limit:
        return json_dumps(cap_text(output, limit, OUTPUT_SETTING))
    return _capped_json(output, limit, OUTPUT_SETTING)


def _vars_json(values: dict[str, Any], limit: int) -> str:
    text = json_dumps(values)
    if len(text) <= limit or not isinstance(values, dict):
        return text
    return json_dumps(capped_vars(values, len(text), limit, json_dumps))


def _grading_json(g: GradingResult, limits: Limits) -> str:
    """The grading column: reasons capped; a verdict still over the stored-value limit (a
    judge's metadata can be long) loses its metadata, with a note saying so."""
    data = g.to_dict()
    text = json_dumps(data)
    if len(text) <= limits.max_reason_chars:
        return text
    text = json_dumps(cap_grading(data, limits.max_reason_chars))
    limit = limits.max_stored_value_chars
    if len(text) > limit:
        stack = [data]
        while stack:
            node = stack.pop()
            if "metadata" in node:
                node["metadata"] = {"truncated": f"{TRUNCATED} over the limit of {limit}"
                                                 f" ({STORED_SETTING})]"}  # fmt: skip
            stack.extend(c for c in node.get("componentResults") or () if isinstance(c, dict))
        text = json_dumps(data)
    return text


def score_rows(
    t: TrialResult, clean: Any = None, limits: Limits = STORE_LIMITS
) -> list[dict[str, Any]]:
    """One scores row per component verdict (or the verdict itself if it has none)."""
    g = t.grading
    if g is None:
        return []
    parts: Sequence[GradingResult] = g.component_results or ([g] if g.assertion else [])
    cap = limits.max_reason_chars
    rows = []
    for pos, c in enumerate(parts):
        a = c.assertion
        metric = a.metric if a is not None else None
        reason = c.reason if len(c.reason) <= cap else cap_text(c.reason, cap, REASON_SETTING)
        rows.append(
            {
                "run_id": t.run_id,
                "trial_index": t.index,
                "position": pos,
                "assertion_type": None if a is None else a.type,
                "passed": c.passed,
                "score": c.score,
                "reason": reason if clean is None else clean(reason),
                "metric": metric,
            }
        )
    return rows


@dataclass(slots=True)
class TrialBatch:
    """The rows one add_trials call writes, the same for every backend."""

    keys: list[dict[str, Any]]  # {"run_id", "idx"}: the trials whose scores are replaced
    rows: list[dict[str, Any]]
    score_rows: list[dict[str, Any]]
    run_ids: list[str]


def trial_batch(
    trials: Sequence[TrialResult], clean: Any = None, limits: Limits = STORE_LIMITS
) -> TrialBatch:
    """Rows for `trials` (text capped at `limits`); the last of several trials with one (run,
    index) wins, since one statement must not touch a row twice."""
    latest = {(t.run_id, t.index): t for t in trials}
    batch = list(latest.values())
    return TrialBatch(
        keys=[{"run_id": r, "idx": i} for r, i in latest],
        rows=[trial_row(t, clean, limits) for t in batch],
        score_rows=[s for t in batch for s in score_rows(t, clean, limits)],
        run_ids=list(dict.fromkeys(r for r, _ in latest)),
    )


def cache_rows(items: Mapping[str, Any], limits: Limits = STORE_LIMITS) -> list[dict[str, Any]]:
    """Cache table rows for `items` (key -> value), stamped now. A completion's output and
    raw body are capped as a trial's are."""
    now = datetime.now(UTC).isoformat()
    ceiling = limits.max_output_chars + limits.max_stored_value_chars
    rows = []
    for k, v in items.items():
        text = json_dumps(v)
        if len(text) > ceiling and isinstance(v, dict):
            v = dict(v)
            v["output"] = cap_output(v.get("output"), limits.max_output_chars, json_dumps)
            raw = v.get("raw")
            if raw is not None:
                limit = limits.max_stored_value_chars
                v["raw"] = cap_json_text(raw, json_dumps(raw), limit, STORED_SETTING)
            text = json_dumps(v)
        rows.append({"key": k, "value": text, "created_at": now})
    return rows


class TrialStatements(Protocol):
    """The SQL of a trial write, in the driver's parameter style."""

    delete_scores: str
    upsert_trial: str
    insert_score: str
    reopen_count: str


def write_trials(cur: Any, sql: TrialStatements, b: TrialBatch) -> None:
    """Write a batch on a DBAPI cursor inside a write transaction: a trial written again
    replaces that trial and its scores (not merged), and its run counts trials on read again."""
    cur.executemany(sql.delete_scores, b.keys)
    cur.executemany(sql.upsert_trial, b.rows)
    if b.score_rows:
        cur.executemany(sql.insert_score, b.score_rows)
    cur.executemany(sql.reopen_count, [{"run_id": r} for r in b.run_ids])


def trial_from_row(r: Any) -> TrialResult:
    """A TrialResult from a trials row (a Row with the columns of schema.trials)."""
    g = r.grading
    return TrialResult(
        run_id=r.run_id,
        index=r.idx,
        case_index=r.case_index,
        case_id=r.case_id,
        prompt_id=r.prompt_id,
        prompt_label=r.prompt_label,
        provider_id=r.provider_id,
        provider_label=r.provider_label,
        sample=r.sample,
        description=r.description,
        vars=r.vars,
        prompt=r.prompt,
        output=r.output,
        error=r.error,
        grading=None if g is None else GradingResult.from_dict(g),
        success=bool(r.success),
        score=r.score,
        latency_ms=r.latency_ms,
        cost=r.cost,
        usage=TokenUsage(r.prompt_tokens, r.completion_tokens, r.total_tokens, r.cached_tokens),
        cached=bool(r.cached),
        raw=r.raw,
        created_at=r.created_at,
        kpis=r.kpis,
    )


def strip_nul(s: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; JSON columns can (as \\u0000), text columns cannot."""
    if s is None or "\x00" not in s:
        return s
    return s.replace("\x00", "\ufffd")
