"""The runs of one registry prompt, newest first, each with its pass rate and cost.

A job that runs a registry prompt labels it `name@version` (jobs/references.py), and the run
keeps that label in `runs.prompts`. SQL narrows the runs to those of the prompt's project whose
prompts JSON holds the string `"name@`; the exact label test happens here in Python, because
the same characters could sit inside a prompt's text and JSON array queries differ between
SQLite and PostgreSQL. Runs per prompt are few, so the page is cut after that test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from promptyard.store.part import StorePart, json_ready
from promptyard.store.schema import runs


@dataclass(frozen=True, slots=True)
class PromptRunRecord:
    """One run of the prompt; counts and cost cover only this prompt's trials in it."""

    id: str
    description: str
    status: str
    project: str | None
    created_at: str
    finished_at: str | None
    versions: list[int] = field(default_factory=list)
    total: int | None = None
    passed: int | None = None
    pass_rate: float | None = None
    cost: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


def prompt_stats(
    summary: Mapping[str, Any] | None, labels: set[str]
) -> tuple[int | None, int | None, float | None, float | None]:
    """(total, passed, pass rate, cost) of the summary's pairs whose prompt is in `labels`;
    all None while the run has no summary (still running)."""
    if not summary:
        return None, None, None, None
    pairs = [p for p in summary.get("pairs") or [] if p.get("prompt_id") in labels]
    total = sum(int(p.get("total") or 0) for p in pairs)
    passed = sum(int(p.get("passed") or 0) for p in pairs)
    cost = sum(float(p.get("total_cost", p.get("cost")) or 0.0) for p in pairs)
    return total, passed, (passed / total if total else None), cost


def matching_labels(name: str, prompts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """{label: version} of the run's prompts that are versions of `name`."""
    pattern = re.compile(re.escape(name) + r"@([1-9][0-9]*)")
    found = {}
    for p in prompts or []:
        match = pattern.fullmatch(str(p.get("id", "")))
        if match:
            found[match.group(0)] = int(match.group(1))
    return found


class PromptRunStore(StorePart):
    def list(
        self, name: str, *, project: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[PromptRunRecord], int]:
        """A page of the runs of prompt `name` in `project`, and how many there are."""
        same_project = runs.c.project.is_(None) if project is None else runs.c.project == project
        needle = f'"{name}@'
        q = (
            sa.select(runs.c.id, runs.c.description, runs.c.status, runs.c.project,
                      runs.c.created_at, runs.c.finished_at, runs.c.prompts, runs.c.summary)
            .where(same_project, sa.cast(runs.c.prompts, sa.Text).contains(needle,
                                                                           autoescape=True))
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
        )  # fmt: skip
        with self._errors(f"list runs of prompt {name!r}"), self.engine.connect() as conn:
            rows = conn.execute(q).all()
        found = []
        for r in rows:
            labels = matching_labels(name, r.prompts)
            if not labels:
                continue
            total, passed, rate, cost = prompt_stats(r.summary, set(labels))
            record = PromptRunRecord(
                id=r.id, description=r.description, status=r.status, project=r.project,
                created_at=r.created_at, finished_at=r.finished_at,
                versions=sorted(set(labels.values())), total=total, passed=passed,
                pass_rate=rate, cost=cost,
            )  # fmt: skip
            found.append(record)
        return found[max(0, offset) : max(0, offset) + max(0, limit)], len(found)
