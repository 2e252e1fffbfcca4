"""Optimization iterations: one row per candidate, written as the loop decides on it and
again when its test score is known (an upsert on (optimization, step))."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from promptyard.errors import NotFound
from promptyard.store.part import StorePart, json_ready, now
from promptyard.store.schema import iterations

_SCORES = ("train_score", "val_score", "test_score")


@dataclass(frozen=True, slots=True)
class IterationRecord:
    optimization_id: str
    step: int
    parent: int | None
    prompt: str
    train_score: float | None
    val_score: float | None
    test_score: float | None
    accepted: bool
    cost_usd: float
    decision: dict[str, Any] | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return json_ready(self)


def _finite(value: Any) -> float | None:
    """NaN (a score of no case) is stored as NULL."""
    return None if value is None or math.isnan(value) else float(value)


class IterationStore(StorePart):
    def put(self, optimization_id: str, it: Mapping[str, Any]) -> None:
        """Insert or replace iteration `it["step"]` (keys as loop.iteration_dict)."""
        row = {"optimization_id": optimization_id, "step": int(it["step"]),
               "parent": it.get("parent"), "prompt": it["prompt"],
               "accepted": bool(it["accepted"]), "cost_usd": float(it.get("cost_usd") or 0.0),
               "decision": it.get("decision"), "created_at": now(),
               **{k: _finite(it.get(k)) for k in _SCORES}}  # fmt: skip
        key = (iterations.c.optimization_id == optimization_id) & (iterations.c.step == row["step"])
        what = f"store iteration {row['step']} of {optimization_id}"
        with self._errors(what), self._write() as conn:
            old = conn.execute(sa.select(iterations.c.created_at).where(key)).first()
            if old is None:
                conn.execute(iterations.insert(), row)
            else:
                row["created_at"] = old.created_at
                conn.execute(iterations.update().where(key), row)

    def list(self, optimization_id: str, *, order: str = "step") -> list[IterationRecord]:
        """Every iteration, by step, or by validation score (best first) with order="val"."""
        q = sa.select(iterations).where(iterations.c.optimization_id == optimization_id)
        if order == "val":
            q = q.order_by(iterations.c.val_score.desc().nulls_last(), iterations.c.step)
        else:
            q = q.order_by(iterations.c.step)
        with self._errors(f"list iterations of {optimization_id}"), self.engine.connect() as c:
            return [IterationRecord(**row._mapping) for row in c.execute(q)]

    def best(self, optimization_id: str) -> IterationRecord:
        """The accepted iteration with the highest validation score (the seed counts as
        accepted); the latest step wins a tie, as the loop's incumbent does."""
        rows = [r for r in self.list(optimization_id) if r.accepted]
        if not rows:
            raise NotFound(f"optimization {optimization_id} has no iterations")
        return max(rows, key=lambda r: (-math.inf if r.val_score is None else r.val_score,
                                        r.step))  # fmt: skip
