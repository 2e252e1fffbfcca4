"""Demonstrations (few-shot examples) for the `fewshot` and `mipro` optimizers.

A demo is a train case's vars with a known good answer: the incumbent's own output on a case
it passes (bootstrapped), or the case's label (`metadata["expected"]`). Demos are appended to
a prompt as a literal "Examples" section inside `{% raw %}`, so case text is never read as
template syntax, and `strip_demos` takes the section off again.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptyard.optimize.base import ProposeContext

_OPEN = "{% raw %}Examples:\n\n"
_CLOSE = "{% endraw %}"
# Anything Jinja (or the Nunjucks shim) could take for the end of the raw block.
_ENDRAW = re.compile(r"\{%[-+]?\s*endraw", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Demo:
    """One worked example: a train case's vars and the answer to show for them."""

    case_id: str
    vars: dict[str, Any]
    output: str


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _block(demo: Demo) -> str:
    lines = [f"{name}: {_text(value)}" for name, value in demo.vars.items()]
    return "\n".join([*lines, f"Answer: {demo.output}"])


def is_safe(demo: Demo) -> bool:
    """False when the demo's text could close the raw section early (and run as template)."""
    return not _ENDRAW.search(_block(demo)) and bool(demo.output.strip())


def bootstrap_demos(ctx: ProposeContext) -> list[Demo]:
    """Demos from the train cases, in case order: the incumbent's output where every sample
    passed (proven to satisfy the assertions), else the case's `expected` label."""
    results = ctx.train.by_id()
    out: list[Demo] = []
    for cid, case in zip(ctx.case_ids, ctx.cases, strict=True):
        result = results.get(cid)
        answer: str | None = None
        if result is not None and result.passed and all(result.passed) and result.output:
            answer = result.output
        elif case.metadata.get("expected") is not None:
            answer = _text(case.metadata["expected"])
        if answer is not None:
            demo = Demo(cid, dict(case.vars), answer)
            if is_safe(demo):
                out.append(demo)
    return out


def with_demos(prompt: str, demos: Sequence[Demo]) -> str:
    """`prompt` (any earlier demo section replaced) followed by the demos as literal text.
    Unsafe demos are skipped; with none left the bare instruction comes back."""
    base = strip_demos(prompt)
    blocks = [_block(d) for d in demos if is_safe(d)]
    if not blocks:
        return base
    trailing = "\n" if base.endswith("\n") else ""
    return base.rstrip("\n") + "\n\n" + _OPEN + "\n\n".join(blocks) + _CLOSE + trailing


def strip_demos(prompt: str) -> str:
    """The instruction part of a prompt made by `with_demos` (else the prompt unchanged)."""
    start = prompt.rfind("\n\n" + _OPEN)
    if start < 0:
        return prompt
    tail = prompt[start + 2 + len(_OPEN) :]
    end = tail.find(_CLOSE)
    if end < 0 or tail[end + len(_CLOSE) :] not in ("", "\n"):
        return prompt  # not a section we wrote: leave the text alone
    return prompt[:start] + tail[end + len(_CLOSE) :]


def draw_sets(
    demos: Sequence[Demo], size: int, count: int, rng: random.Random
) -> list[tuple[Demo, ...]]:
    """Up to `count` distinct demo sets of `size` (fewer when the demos allow fewer), drawn
    with `rng` only, so the same seed gives the same sets."""
    size = min(size, len(demos))
    if size <= 0:
        return []
    seen: set[frozenset[int]] = set()
    out: list[tuple[Demo, ...]] = []
    for _ in range(count * 20):  # bounded: small pools have fewer distinct sets than asked
        if len(out) >= count:
            break
        picked = rng.sample(range(len(demos)), size)
        if frozenset(picked) not in seen:
            seen.add(frozenset(picked))
            out.append(tuple(demos[i] for i in picked))
    return out


def scoring_ids(ids: Sequence[str], demos: Sequence[Demo]) -> list[str]:
    """`ids` minus the demos' own cases (their answer is in the prompt, so scoring them would
    reward the set for copying); all of `ids` when nothing else is left."""
    own = {d.case_id for d in demos}
    rest = [i for i in ids if i not in own]
    return rest or list(ids)
