"""What flows through a run's pipeline: a trial's work, its answer, its finished result."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptyard.core.plan import PlannedTrial
from promptyard.core.types import Completion, TrialResult
from promptyard.providers.base import Provider

_dumps = json.JSONEncoder(default=str).encode  # measures non-text outputs for their cap

TrialSink = Callable[[TrialResult], None]


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    status: str  # succeeded | cancelled | failed (a budget stop is cancelled + stopped_by)
    summary: dict[str, Any]
    started_at: str
    finished_at: str
    trials: list[TrialResult] = field(default_factory=list)  # kept only when asked


@dataclass(slots=True)
class _Work:
    planned: PlannedTrial
    prompt: str
    messages: list[dict[str, Any]]
    cache_key: str | None
    cached: Completion | None
    render_error: str | None = None


@dataclass(slots=True)
class _Fetched:
    """An answer that still has to be graded."""

    work: _Work
    trial: TrialResult
    completion: Completion
    fresh: Completion | None  # None when it came from the cache


@dataclass(slots=True)
class _Done:
    trial: TrialResult
    cache_key: str | None = None
    fresh: Completion | None = None  # to store in the cache


def column_labels(names: Sequence[str]) -> list[str]:
    """Provider labels made unique ("id", "id #2", ...): the same model listed twice with
    different settings must stay two columns in summaries and reports, not merge into one."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _by_index(trial: TrialResult) -> int:
    return trial.index


def _cache_identity(provider: Provider) -> dict[str, Any] | None:
    """None for providers whose answers must not be cached (user code, echo)."""
    identity = provider.cache_identity()
    return identity or None
