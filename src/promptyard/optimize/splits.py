"""Train / val / test assignment for the optimizer.

A case's own `split` wins; the others fall where a hash of (seed, case id) lands on the
ratios. Each case is placed on its own, never by rank among the others, so adding, removing
or reordering cases never moves a case that was already placed: held-out data stays held out
across runs of a growing dataset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptyard.core.hashing import content_hash
from promptyard.core.plan import case_id
from promptyard.core.types import TestCase
from promptyard.errors import ConfigError

SPLIT_NAMES = ("train", "val", "test")
MIN_HELD_OUT = 2  # fewer than this in val or test says nothing beyond noise
MIN_TRAIN = 1  # an optimizer needs something to learn from
_HASH_BYTES = 8


@dataclass(frozen=True, slots=True)
class Splits:
    """Case indexes (into the list given to `assign_splits`) per split, in ascending order."""

    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3:
        raise ConfigError(f"split ratios must be three numbers (train, val, test), got {ratios!r}")
    train, val, test = (float(r) for r in ratios)
    if any(not math.isfinite(r) or r < 0.0 for r in (train, val, test)):
        raise ConfigError(f"split ratios must be finite and >= 0, got {ratios!r}")
    if not math.isclose(train + val + test, 1.0, abs_tol=1e-6):
        raise ConfigError(f"split ratios must add up to 1, got {ratios!r}")
    return train, val, test


def _position(seed: int, cid: str) -> float:
    """Where a case lands in [0, 1): uniform, and fixed by (seed, case id) alone."""
    digest = content_hash(["split", seed, cid], size=_HASH_BYTES)
    return int(digest, 16) / float(1 << (8 * _HASH_BYTES))


def assign_splits(
    cases: Sequence[TestCase], *, ratios: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0
) -> Splits:
    """Assign every case to train, val or test; ConfigError when a split is too small."""
    train_ratio, val_ratio, _ = _check_ratios(ratios)
    buckets: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    explicit = 0
    for index, case in enumerate(cases):
        if case.split is not None:
            if case.split not in buckets:
                raise ConfigError(
                    f"split must be one of train, val, test; got {case.split!r} "
                    f"for case {case.label}"
                )
            buckets[case.split].append(index)
            explicit += 1
            continue
        where = _position(seed, case_id(case))
        if where < train_ratio:
            buckets["train"].append(index)
        elif where < train_ratio + val_ratio:
            buckets["val"].append(index)
        else:
            buckets["test"].append(index)
    splits = Splits(train=buckets["train"], val=buckets["val"], test=buckets["test"])
    _check_sizes(splits, len(cases), explicit, ratios)
    return splits


def _check_sizes(splits: Splits, total: int, explicit: int, ratios: Sequence[float]) -> None:
    sizes = {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}
    needs = {"train": MIN_TRAIN, "val": MIN_HELD_OUT, "test": MIN_HELD_OUT}
    short = [f"{name} needs at least {need}" for name, need in needs.items() if sizes[name] < need]
    if not short:
        return
    ratio_text = "/".join(f"{float(r):g}" for r in ratios)
    raise ConfigError(
        f"too few cases for the splits: {total} cases ({explicit} with an explicit split) "
        f"gave train {sizes['train']}, val {sizes['val']}, test {sizes['test']} at ratios "
        f"{ratio_text}; {', '.join(short)}. Add cases, set `split` on some, or change the ratios"
    )
