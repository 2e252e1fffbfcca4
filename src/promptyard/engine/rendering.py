"""Rendering trials off the event loop: on a worker thread, in time slices, within the
run's render limits (a template is untrusted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from promptyard.core.hashing import content_hash
from promptyard.core.plan import PlannedTrial
from promptyard.core.prompts import render_prompt
from promptyard.core.templates import RenderLimitError, RenderLimits, using_limits
from promptyard.core.types import EvalSpec
from promptyard.engine.trials import _Work
from promptyard.errors import TemplateError
from promptyard.trust.policy import Limits

RENDER_SLICE_S = 0.05  # a render batch returns to the loop after this long (then goes on)
LOOP_RENDER_S = 0.5  # deadline of a render on the event loop (the grader's assertion values)


class RenderingMixin:
    """EvalRunner's renders: prompts on the render thread, bounded by `_render_limits`."""

    spec: EvalSpec
    limits: Limits
    _render_limits: RenderLimits
    _rendering: str | None
    _labels: list[str]
    _identities: list[dict[str, Any] | None]
    _variant_identities: dict[tuple[int, int], dict[str, Any] | None]

    async def _render_all(self, planned: list[PlannedTrial]) -> list[_Work]:
        """Render a chunk on a worker thread, in slices of about RENDER_SLICE_S, so the loop
        (health checks, cancels, event streams) never waits on a template."""
        out: list[_Work] = []
        while len(out) < len(planned):
            out.extend(await self._off_loop(self._render_slice, planned, len(out)))
        return out

    def _with_limits(self, fn: Callable[..., Any], *args: Any) -> Any:
        with using_limits(self._render_limits):
            return fn(*args)

    def _render_slice(self, planned: list[PlannedTrial], start: int) -> list[_Work]:
        until = time.perf_counter() + RENDER_SLICE_S
        out = []
        for p in planned[start:]:
            out.append(self._render(p))
            if time.perf_counter() > until:
                break
        return out

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on a worker thread, which renders templates. A render stops itself at its
        deadline; should one not (stuck in a long C call), the run fails after twice that,
        naming the test, and the thread is left to finish on its own (threads can't be
        killed)."""
        task = asyncio.ensure_future(asyncio.to_thread(self._with_limits, fn, *args))
        grace = 2 * self.limits.render_timeout_s + 1.0
        try:
            finished, _ = await asyncio.wait({task}, timeout=grace)
        except asyncio.CancelledError:
            task.add_done_callback(_drop_result)  # the thread finishes on its own
            raise
        if not finished:
            task.add_done_callback(_drop_result)
            timeout = self.limits.render_timeout_s
            raise RenderLimitError(
                f"template stopped: rendering took longer than {timeout:g} s and did not stop"
                " (limit: PROMPTYARD_RENDER_TIMEOUT_MS)",
                limit="PROMPTYARD_RENDER_TIMEOUT_MS",
                test=self._rendering,
            )
        return task.result()

    def _render(self, planned: PlannedTrial) -> _Work:
        self._rendering = planned.test.label
        if planned.test.error is not None:  # a test refused at load: errored, no call
            return _Work(planned, "", [], None, None, render_error=planned.test.error)
        try:
            if planned.prompt.function is not None:  # a prompt function (promptfoo's)
                text, messages = planned.prompt.function(
                    planned.test, planned.provider.id, self._labels[planned.provider_index]
                )
            else:
                text, messages = render_prompt(planned.prompt, planned.test)
        except RenderLimitError:
            raise  # a template over a limit stops the run (it would stop every trial alike)
        except TemplateError as exc:
            return _Work(planned, "", [], None, None, render_error=str(exc))
        identity = self._identities[planned.provider_index]
        if self._variant_identities:
            pair = (planned.provider_index, planned.prompt_index)
            identity = self._variant_identities.get(pair, identity)
        key = None
        if (
            identity is not None
            and self.spec.options.cache
            and planned.test.provider_output is None
        ):
            key = content_hash({"p": identity, "m": messages, "s": planned.sample}, size=20)
        return _Work(planned, text, messages, key, None)


def _drop_result(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned render's outcome, so asyncio does not log it as never read."""
    if not task.cancelled():
        task.exception()
