"""Run an EvalSpec: render, cache, call, grade, persist, then notify.

Three kinds of coroutine share one asyncio loop:
- a producer renders trials in chunks on a worker thread (a template is untrusted: it renders
  off the loop, within the limits of `limits`, and a render that passes one fails the run),
  looks their cache keys up in one store read per chunk, and queues work (the queue is
  bounded, so a 100,000-case run never holds every trial);
- up to `max_concurrency` workers (clamped to `limits.max_concurrency`, and started as work
  arrives) call providers (which enforce their own limits and retries) and grade the outputs;
- one writer commits finished trials in groups (whatever is waiting when the last commit
  returns) and only then hands them to the event sink. A trial is never reported before it is
  durable, and a crash or Ctrl-C loses at most the trials not yet committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from promptyard.core.hashing import content_hash
from promptyard.core.plan import (
    PlannedTrial,
    pair_count,
    plan_trials,
    prompt_configs,
    trial_count,
)
from promptyard.core.prompts import missing_variables, render_prompt
from promptyard.core.secrets import redact
from promptyard.core.templates import (
    RenderLimitError,
    RenderLimits,
    RenderTrip,
    naming_test,
    using_limits,
)
from promptyard.core.types import (
    Completion,
    CompletionRequest,
    EvalSpec,
    GradingContext,
    ProviderSpec,
    TestCase,
    TrialResult,
)
from promptyard.engine.budget import Budget, BudgetedPolicy, Caller, completion_tokens
from promptyard.engine.ports import Grader, RunStore
from promptyard.engine.summary import SummaryBuilder
from promptyard.errors import ConfigError, PromptyardError, RunCancelled, TemplateError
from promptyard.providers.base import Provider
from promptyard.providers.config import normalize_config
from promptyard.providers.policy import CallPolicy
from promptyard.scorers.registry import COMPARE_TYPES
from promptyard.trust.limits import cap_completion, cap_trial, render_limits
from promptyard.trust.policy import Limits

log = logging.getLogger(__name__)

CHUNK = 128  # trials rendered and cache-checked per store read
MAX_BATCH = 512  # finished trials per commit: bounds the writer's memory when it falls behind
RENDER_SLICE_S = 0.05  # a render batch returns to the loop after this long (then goes on)
LOOP_RENDER_S = 0.5  # deadline of a render on the event loop (the grader's assertion values)
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


class EvalRunner:
    """One run of one spec. Build it, then `await runner.run()`."""

    def __init__(
        self,
        spec: EvalSpec,
        *,
        providers: Sequence[Provider],
        grader: Grader,
        store: RunStore,
        on_trial: TrialSink | None = None,
        cancel: asyncio.Event | None = None,
        run_id: str | None = None,
        project: str | None = None,
        keep_trials: bool = False,
        resume: bool = False,
        budget: Budget | None = None,
        limits: Limits | None = None,
        variants: Mapping[tuple[int, int], Provider] | None = None,
    ) -> None:
        """`variants`: the providers built for per-prompt `config`, by (provider index, prompt
        index), as `core.plan.prompt_configs` lists them; those pairs call them instead."""
        if len(providers) != len(spec.providers):
            raise ValueError("one Provider per ProviderSpec is required")
        self.spec = spec
        # Sizes and deadlines for untrusted input (TrustPolicy.limits): template renders,
        # concurrency, and the text a trial keeps.
        self.limits = limits or Limits()
        # The first render over a limit (a prompt on the render thread, an assertion value in
        # a grading task) trips the run: it stops, failing with that render's error.
        self._trip = RenderTrip(on_trip=self._tripped)
        self._halt = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._render_limits = render_limits(self.limits, self._trip)
        # Renders on the loop hold up everything else the loop serves: a shorter deadline.
        self._loop_limits = RenderLimits(
            timeout_s=min(LOOP_RENDER_S, self.limits.render_timeout_s),
            max_chars=self.limits.render_max_chars,
            trip=self._trip,
            timeout_note=" (on the event loop, where an assertion's value renders)",
        )
        self._rendering: str | None = None  # the test a render batch is on (for a stuck one)
        self.providers = list(providers)
        self.grader = grader
        self.store = store
        self.on_trial = on_trial
        self.cancel = cancel or asyncio.Event()
        self.run_id = run_id or str(uuid.uuid4())
        self.project = project
        self.keep_trials = keep_trials
        # Resume: `run_id` names a stored run; its stored trials count, the rest are run.
        self.resume = resume
        self._skip: set[int] = set()
        self.total = trial_count(spec)
        self.summary = SummaryBuilder(
            repeat=spec.options.repeat, derived_metrics=spec.raw_config.get("derivedMetrics")
        )
        # select-best compares a case's outputs: its trials wait here until all have answered.
        self._group_size = pair_count(spec)
        self._compares = any(a.type in COMPARE_TYPES for t in spec.tests for a in t.assertions)
        self._held: dict[tuple[int, int], list[_Done]] = {}
        self._kpis: list[Any] = []
        if spec.kpis:
            from promptyard.scorers.kpi import compile_kpis

            self._kpis = compile_kpis(spec.kpis)
        self._kept: list[TrialResult] = []
        # storeOutputAs and `_conversation` (promptfoo's): a test reads what earlier tests
        # answered, so the trials of each (prompt, provider, sample) run one after another in
        # config order. Other configs take the usual path and pay nothing for this.
        self._stores = any(t.options.get("storeOutputAs") for t in spec.tests)
        self._converses = any(_CONVERSATION in p.text for p in spec.prompts) and not all(
            t.options.get("disableConversationVar") for t in spec.tests
        )
        self._chained = self._stores or self._converses
        self._waiting: dict[int, asyncio.Future[TrialResult]] = {}
        self._resumed: dict[int, TrialResult] = {}
        self._grading: set[asyncio.Task[None]] = set()
        self._bug: BaseException | None = None  # an engine bug raised inside a grading task
        self._started = ""
        self._created = False
        # Set once the first wave of calls is out (or anything finished): the writer records
        # the run only then, so a store still opening uses the network wait, not start-up.
        self._wave_sent = asyncio.Event()
        self._in_flight = 0
        self._wave = 1
        self._identities = [_cache_identity(p) for p in self.providers]
        self._labels = column_labels([p.name for p in spec.providers])
        # A budget wraps the policies (reserve, call, settle), so a run without one pays
        # nothing for it per call. A refusal sets `_budget_stop`: no more work is fed, calls
        # in flight finish and are kept. Not `cancel`: that aborts in-flight calls, and the
        # caller's token (a job's) must not read as a user cancel.
        self.budget = budget
        self._budget_stop: asyncio.Event | None = asyncio.Event() if budget is not None else None
        self._policies: list[Caller] = [
            self._caller(p, s) for p, s in zip(self.providers, spec.providers, strict=True)
        ]
        # Per-prompt config: its own provider, policy and cache identity for those pairs (the
        # identity holds the merged config, so two prompt configs never share an answer).
        self._variant_policies: dict[tuple[int, int], Caller] = {}
        self._variant_identities: dict[tuple[int, int], dict[str, Any] | None] = {}
        if variants:
            specs = prompt_configs(spec)
            if set(variants) != set(specs):
                raise ValueError("one Provider per prompt_configs(spec) entry is required")
            for key, provider in variants.items():
                self._variant_policies[key] = self._caller(provider, specs[key])
                self._variant_identities[key] = _cache_identity(provider)

    def _caller(self, provider: Provider, spec: ProviderSpec) -> Caller:
        policy: Caller = CallPolicy.from_config(
            provider, spec.config, self.spec.options, where=spec.where
        )
        if self.budget is None or self._budget_stop is None:
            return policy
        return BudgetedPolicy(
            policy,
            self.budget,
            pricer=getattr(provider, "pricer", None),
            completion_tokens=completion_tokens(normalize_config(spec.config, spec.where)),
            on_refused=self._budget_stop.set,
        )

    async def run(self) -> RunOutcome:
        # Renders on the loop (assertion values, in grading tasks, which inherit this context)
        # get the loop's limits; the render thread sets the run's own (_off_loop).
        self._loop = asyncio.get_running_loop()
        with using_limits(self._loop_limits):
            return await self._run()

    def _tripped(self, error: RenderLimitError) -> None:
        """A render passed a limit (called from the thread that rendered): stop the run."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._halt.set)

    async def _run(self) -> RunOutcome:
        started = self._started = utc_now()
        await self._off_loop(self._preflight)
        if self.resume:
            await asyncio.to_thread(self._load_finished)
        t0 = time.perf_counter()
        status = "succeeded"
        try:
            await self._pipeline()
            if self._bug is not None:
                raise self._bug
            if self._trip.error is not None:
                raise self._trip.error
        except asyncio.CancelledError:
            # The task running us was cancelled (Ctrl-C, a server shutdown): record the run,
            # then let the cancellation go on, as asyncio requires.
            await self._finish("cancelled", started, t0)
            raise
        except BaseException:
            status = "failed"
            await self._finish(status, started, t0)
            raise
        if self.cancel.is_set() or self._budget_stopped:
            status = "cancelled"  # the store has no `budget_exhausted`: see summary.stopped_by
        summary = await self._finish(status, started, t0)
        self._kept.sort(key=_by_index)  # the writer sees trials in finishing order
        return RunOutcome(self.run_id, status, summary, started, utc_now(), self._kept)

    @property
    def _budget_stopped(self) -> bool:
        return self._budget_stop is not None and self._budget_stop.is_set()

    def _load_finished(self) -> None:
        """A resumed run: skip the stored trials and count them in the summary."""
        self._skip = self.store.finished_indexes(self.run_id)
        for trial in self.store.iter_trials(self.run_id):
            if self._chained:  # their outputs feed the tests that follow them
                self._resumed[trial.index] = trial
            self.summary.add(trial)
            if self.keep_trials:
                self._kept.append(trial)

    def _create_run(self) -> None:
        if self.resume:
            self.store.reopen_run(self.run_id)
            self._created = True
            return
        self.store.create_run(
            run_id=self.run_id,
            description=self.spec.description,
            config=redact(self.spec.raw_config),  # keys are used, never kept
            created_at=self._started,
            prompts=[{"id": p.id, "label": p.label, "raw": p.text} for p in self.spec.prompts],
            providers=[
                {"id": p.id, "label": label}
                for p, label in zip(self.spec.providers, self._labels, strict=True)
            ],
            project=self.project,
        )
        self._created = True

    async def _finish(self, status: str, started: str, t0: float) -> dict[str, Any]:
        summary = self.summary.to_dict()
        summary["status"] = status
        summary["duration_s"] = round(time.perf_counter() - t0, 3)
        summary["planned"] = self.total
        summary["started_at"] = started
        if self.budget is not None:
            stopped = self.budget.exhausted_reason if self._budget_stopped else None
            summary["budget"] = {**self.budget.to_dict(), "stopped": stopped}
            if stopped is not None:
                summary["stopped_by"] = f"budget: {stopped}"
        if self.spec.kpis:
            from promptyard.scorers.kpi_eval import kpi_gate

            kpi = summary["kpi"]
            kpi["threshold"] = self.spec.kpi_threshold
            kpi["passed"] = kpi_gate(kpi["score"], self.spec.kpi_threshold)
        if not self._created:  # the store failed before the run was recorded
            return summary
        await asyncio.to_thread(
            self.store.finish_run,
            self.run_id,
            status=status,
            summary=summary,
            finished_at=utc_now(),
        )
        return summary

    def _preflight(self) -> None:
        """Stop before any call when a test lacks a variable its prompt reads.

        A static check of every (prompt, test) pair is cheap; only a pair that seems to miss a
        name is rendered, which raises TemplateError naming the variable and the test (a name
        read only inside an unrendered `{% if %}` branch is fine and renders).
        """
        tolerant = self.spec.errored_tests
        later: dict[str, Any] = {}  # what a chained run gives tests besides their own vars
        if self._stores:
            later.update((str(t.options["storeOutputAs"]), "") for t in self.spec.tests
                         if t.options.get("storeOutputAs"))  # fmt: skip
        if self._converses:
            later[_CONVERSATION] = []
        for prompt in self.spec.prompts:
            for test in self.spec.tests:
                if self.cancel.is_set():
                    return
                checked = test
                if later and test.error is None and missing_variables(prompt, test):
                    checked = replace(test, vars={**later, **test.vars})  # a stand-in
                if test.error is None and missing_variables(prompt, checked):
                    self._rendering = test.label
                    if not tolerant:
                        render_prompt(prompt, checked)
                        continue
                    try:
                        render_prompt(prompt, checked)
                    except RenderLimitError:
                        raise
                    except TemplateError as exc:  # a promptfoo config: error this test only
                        test.error = str(exc)
        errored = [test for test in self.spec.tests if test.error is not None]
        if errored:
            # Said before the first call: these tests are recorded as errored, not run.
            log.warning(
                "%d of %d tests will not run and are recorded as errored: %s%s",
                len(errored),
                len(self.spec.tests),
                "; ".join(str(t.error) for t in errored[:3]),
                " ..." if len(errored) > 3 else "",
            )
        if (
            self._compares
            and self._group_size < 2
            and any(a.type == "select-best" for t in self.spec.tests for a in t.assertions)
        ):  # max-score over one output simply selects it, as in promptfoo
            raise ConfigError(
                "select-best compares the outputs of several prompts or providers for each"
                " case; this config gives one output per case"
            )

    @property
    def concurrency(self) -> int:
        """Calls in flight at most: the spec's, clamped by the limits (a config may ask for
        10^30); one when the spec asks for a delay between calls."""
        if self.spec.options.delay_ms:
            return 1
        return max(1, min(self.spec.options.max_concurrency, self.limits.max_concurrency))

    async def _pipeline(self) -> None:
        concurrency = self.concurrency
        work: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=max(2 * concurrency, CHUNK))
        # Bounded too: when the store is slower than the providers, workers wait for it
        # instead of piling finished trials up in memory.
        done: asyncio.Queue[_Done | None] = asyncio.Queue(maxsize=max(2 * concurrency, MAX_BATCH))
        writer = asyncio.create_task(self._writer(done))
        grade_slots = asyncio.Semaphore(2 * concurrency)
        self._wave = max(1, min(concurrency, self.total - len(self._skip)))
        # Workers start as work is queued (_dispatch), never more than there are trials.
        workers: list[asyncio.Task[None]] = []

        def spawn(n: int) -> None:
            while len(workers) < min(n, concurrency):
                workers.append(asyncio.create_task(self._worker(work, done, grade_slots)))

        producer = asyncio.create_task(self._producer(work, spawn, workers))
        main: asyncio.Future[Any] = producer
        cancel_wait: asyncio.Future[Any] = asyncio.ensure_future(self.cancel.wait())
        halt_wait: asyncio.Future[Any] = asyncio.ensure_future(self._halt.wait())
        waits: set[asyncio.Future[Any]] = {main, cancel_wait, writer, halt_wait}
        budget_wait: asyncio.Future[Any] | None = None
        if self._budget_stop is not None:
            budget_wait = asyncio.ensure_future(self._budget_stop.wait())
            waits.add(budget_wait)
        try:
            # The writer is watched too: if the store fails (or on_trial raises), workers would
            # otherwise wait forever on the full `done` queue.
            finished, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if main in finished:
                main.result()  # re-raise a bug in the engine itself
            elif writer in finished:
                writer.result()
            elif halt_wait in finished:
                pass  # run() raises the render's error once what finished is stored
            elif budget_wait in finished and cancel_wait not in finished:
                await self._wind_down(producer, workers, work, writer, cancel_wait)
        finally:
            cancel_wait.cancel()
            halt_wait.cancel()
            if budget_wait is not None:
                budget_wait.cancel()
            for task in (producer, *workers):
                task.cancel()
            await asyncio.gather(producer, *workers, return_exceptions=True)
            # Answers already fetched are graded and kept, even on cancel, unless the writer
            # is dead (then nothing can be kept, and grading tasks would wait on it forever).
            if writer.done() or self._halt.is_set():
                for task in self._grading:
                    task.cancel()
            await asyncio.gather(*self._grading, return_exceptions=True)
            if not writer.done():
                # Groups cut short (a cancel, a failure) are kept without their comparison.
                for group in self._held.values():
                    for d in group:
                        await done.put(d)
                self._held.clear()
                await done.put(None)
            await writer

    async def _wind_down(
        self,
        producer: asyncio.Task[None],
        workers: list[asyncio.Task[None]],
        work: asyncio.Queue[_Work | None],
        writer: asyncio.Task[None],
        cancel_wait: asyncio.Future[Any],
    ) -> None:
        """The budget refused a call: feed no more work, but let the calls already made
        finish and be kept. A cancel or a dead writer still cuts this short."""
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        while not work.empty():  # queued, never called: a resume runs them later
            work.get_nowait()
        for _ in workers:  # the queue is empty now and holds at least one slot per worker
            work.put_nowait(None)
        running: set[asyncio.Future[Any]] = set(workers)
        while running:
            finished, _ = await asyncio.wait(
                {*running, cancel_wait, writer}, return_when=asyncio.FIRST_COMPLETED
            )
            if writer in finished:
                writer.result()
                return
            if cancel_wait in finished:
                return  # the caller's finally cancels what is left
            for task in finished:
                task.result()  # re-raise a bug in a worker
            running -= finished

    async def _producer(
        self,
        work: asyncio.Queue[_Work | None],
        spawn: Callable[[int], None],
        workers: list[asyncio.Task[None]],
    ) -> None:
        """Render and queue every trial, then wait for the workers it started."""
        pending: list[PlannedTrial] = []
        skip = self._skip
        queued = 0
        if self._chained:
            await self._run_chains(work, spawn)
        for planned in () if self._chained else plan_trials(self.spec):
            if self.cancel.is_set():
                return
            if skip and planned.index in skip:
                continue
            pending.append(planned)
            if len(pending) >= CHUNK:
                queued += len(pending)
                await self._dispatch(await self._render_all(pending), work, spawn, queued)
                pending = []
        if pending:
            queued += len(pending)
            await self._dispatch(await self._render_all(pending), work, spawn, queued)
        for _ in workers:
            await work.put(None)
        # Wait for the workers, re-raising a bug in one at once. asyncio.wait, not `await`:
        # cancelling the producer (a budget's wind-down) must not cancel the workers.
        running = set(workers)
        while running:
            finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
            for task in finished:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    async def _run_chains(
        self, work: asyncio.Queue[_Work | None], spawn: Callable[[int], None]
    ) -> None:
        """storeOutputAs / `_conversation`: each (prompt, provider, sample) is a chain whose
        trials run in config order, each rendered once the one before it has finished; the
        chains run side by side (bounded by the workers)."""
        chains: dict[tuple[int, int, int], list[PlannedTrial]] = {}
        for planned in plan_trials(self.spec):
            key = (id(planned.prompt), planned.provider_index, planned.sample)
            chains.setdefault(key, []).append(planned)
        spawn(len(chains))
        await asyncio.gather(*(self._run_chain(chain, work) for chain in chains.values()))

    async def _run_chain(
        self, chain: list[PlannedTrial], work: asyncio.Queue[_Work | None]
    ) -> None:
        loop = asyncio.get_running_loop()
        stored: dict[str, Any] = {}  # storeOutputAs name -> output
        turns: dict[str | None, list[dict[str, Any]]] = {}  # conversationId -> turns
        for planned in chain:
            if self.cancel.is_set():
                return
            planned = self._bound(planned, stored, turns)
            finished = self._resumed.get(planned.index)
            if finished is not None:  # stored by the run being resumed
                self._remember(planned, None, finished, stored, turns)
                continue
            (w,) = await self._render_all([planned])
            waiter: asyncio.Future[TrialResult] = loop.create_future()
            self._waiting[planned.index] = waiter
            await self._dispatch([w], work, lambda n: None, 0)
            trial = await waiter
            self._remember(planned, w, trial, stored, turns)

    def _bound(
        self,
        planned: PlannedTrial,
        stored: dict[str, Any],
        turns: dict[str | None, list[dict[str, Any]]],
    ) -> PlannedTrial:
        """`planned` with the outputs stored so far and its conversation among its vars (its
        own vars win, as a test that sets `_conversation` itself keeps it)."""
        test = planned.test
        extra: dict[str, Any] = dict(stored)
        if self._converses and not test.options.get("disableConversationVar"):
            extra[_CONVERSATION] = list(turns.get(_conversation_id(test), ()))
        if not extra:
            return planned
        return replace(planned, test=replace(test, vars={**extra, **test.vars}))

    def _remember(
        self,
        planned: PlannedTrial,
        w: _Work | None,
        trial: TrialResult,
        stored: dict[str, Any],
        turns: dict[str | None, list[dict[str, Any]]],
    ) -> None:
        if trial.error is not None:
            return  # nothing answered: later tests see what was there before
        name = planned.test.options.get("storeOutputAs")
        if name:
            stored[str(name)] = trial.output
        if self._converses and not planned.test.options.get("disableConversationVar"):
            text = w.prompt if w is not None else trial.prompt
            messages = w.messages if w is not None else []
            structured = text.lstrip().startswith("[") and bool(messages)
            turn = {
                "prompt": messages if structured else text,
                "input": messages[-1].get("content", text) if structured else text,
                "output": trial.output if trial.output is not None else "",
            }
            turns.setdefault(_conversation_id(planned.test), []).append(turn)

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
            if pair in self._variant_identities:
                identity = self._variant_identities[pair]
        key = None
        if (
            identity is not None
            and self.spec.options.cache
            and planned.test.provider_output is None
        ):
            key = content_hash({"p": identity, "m": messages, "s": planned.sample}, size=20)
        return _Work(planned, text, messages, key, None)

    async def _dispatch(
        self,
        chunk: list[_Work],
        work: asyncio.Queue[_Work | None],
        spawn: Callable[[int], None],
        queued: int,
    ) -> None:
        spawn(queued)
        keys = [w.cache_key for w in chunk if w.cache_key]
        if keys:
            hits = await asyncio.to_thread(self.store.cache_get_many, keys)
            for w in chunk:
                if w.cache_key and w.cache_key in hits:
                    w.cached = Completion.from_dict(hits[w.cache_key], cached=True)
        for w in chunk:
            await work.put(w)

    async def _worker(
        self,
        work: asyncio.Queue[_Work | None],
        done: asyncio.Queue[_Done | None],
        grade_slots: asyncio.Semaphore,
    ) -> None:
        """Fetch answers; hand each to its own grading task and go straight on to the next
        call, so a burst of answers does not hold the next requests back behind grading."""
        delay = self.spec.options.delay_ms / 1000.0
        while (item := await work.get()) is not None:
            if self.cancel.is_set():
                return
            fetched = await self._fetch(item)
            if fetched is None:  # cancelled mid-call: nothing finished, nothing to keep
                return
            if isinstance(fetched, _Done):
                await self._emit(fetched, done)
                continue
            await grade_slots.acquire()
            task = asyncio.create_task(self._grade(fetched, done, grade_slots))
            self._grading.add(task)
            task.add_done_callback(self._graded)
            if delay and fetched.fresh is not None:
                await asyncio.sleep(delay)

    def _graded(self, task: asyncio.Task[None]) -> None:
        self._grading.discard(task)
        if not task.cancelled() and task.exception() is not None and self._bug is None:
            self._bug = task.exception()
            self.cancel.set()  # stop feeding work; run() re-raises the bug

    def _new_trial(self, w: _Work) -> TrialResult:
        p = w.planned
        return TrialResult(
            run_id=self.run_id,
            index=p.index,
            case_index=p.case_index,
            case_id=p.case_id,
            prompt_id=p.prompt.id,
            prompt_label=p.prompt.label,
            provider_id=p.provider.id,
            provider_label=self._labels[p.provider_index],
            sample=p.sample,
            description=p.test.description,
            vars=p.test.vars,
            prompt=w.prompt,
            created_at=utc_now(),
        )

    async def _fetch(self, w: _Work) -> _Fetched | _Done | None:
        """The answer for one trial (cached or called); a finished _Done when it failed."""
        trial = self._new_trial(w)
        if w.render_error is not None:
            trial.error = w.render_error
            return _Done(trial)
        p = w.planned
        if p.test.provider_output is not None:  # promptfoo's providerOutput: no call, no cost
            return _Fetched(w, trial, Completion(output=p.test.provider_output), None)
        if w.cached is not None:
            return _Fetched(w, trial, w.cached, None)
        request = CompletionRequest(
            prompt=w.prompt,
            messages=w.messages,
            vars=p.test.vars,
            sample=p.sample,
            timeout_s=self.spec.options.timeout_s,
        )
        started = time.perf_counter()
        self._in_flight += 1
        if self._in_flight >= self._wave:
            self._wave_sent.set()
        try:
            policy = self._policies[p.provider_index]
            if self._variant_policies:
                policy = self._variant_policies.get((p.provider_index, p.prompt_index), policy)
            completion = await policy.complete(request, cancel=self.cancel)
        except RunCancelled:
            return None
        except PromptyardError as exc:
            trial.error = str(exc)
            trial.latency_ms = (time.perf_counter() - started) * 1000
            return _Done(trial)
        finally:
            self._in_flight -= 1
            self._wave_sent.set()  # an answer (or failure) came back: the wave is over
        if not completion.latency_ms:
            completion.latency_ms = (time.perf_counter() - started) * 1000
        # Capped as it arrives: grading, the cache and the store see the same bounded text.
        cap_completion(completion, self.limits, _dumps)
        return _Fetched(w, trial, completion, completion)

    async def _grade(
        self, f: _Fetched, done: asyncio.Queue[_Done | None], grade_slots: asyncio.Semaphore
    ) -> None:
        try:
            with naming_test(f.work.planned.test.label):  # this task's own context
                graded = await self._graded_trial(f)
            await self._emit(graded, done)
        finally:
            grade_slots.release()

    async def _emit(self, d: _Done, done: asyncio.Queue[_Done | None]) -> None:
        """Hand a finished trial to the writer; a case with select-best waits for its group."""
        if self._waiting:  # a chained run: the next trial of this chain may start
            waiter = self._waiting.pop(d.trial.index, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(d.trial)
        if self._compares:
            test = self.spec.tests[d.trial.case_index]
            if any(a.type in COMPARE_TYPES for a in test.assertions):
                key = (d.trial.case_index, d.trial.sample)
                group = self._held.setdefault(key, [])
                group.append(d)
                if len(group) < self._group_size:
                    return
                del self._held[key]
                group.sort(key=lambda x: x.trial.index)
                await self.grader.compare(test, [x.trial for x in group])
                for x in group:
                    await done.put(x)
                return
        await done.put(d)

    async def _graded_trial(self, f: _Fetched) -> _Done:
        trial, completion, w = f.trial, f.completion, f.work
        trial.output = completion.output
        trial.usage = completion.usage
        trial.cost = completion.cost
        trial.latency_ms = completion.latency_ms
        trial.cached = completion.cached
        trial.raw = completion.raw
        ctx = GradingContext(
            output=completion.output,
            prompt=w.prompt,
            vars=w.planned.test.vars,
            test=w.planned.test,
            provider_id=w.planned.provider.id,
            completion=completion,
            base_dir=self.spec.base_dir,
        )
        key = w.cache_key if f.fresh is not None else None
        try:
            grading = await self.grader.grade(ctx)
        except RenderLimitError:
            raise  # an assertion's template over a limit stops the run, as a prompt's does
        except PromptyardError as exc:
            trial.error = f"grading failed: {exc}"
            return _Done(trial, key, f.fresh)
        trial.grading = grading
        trial.success = grading.passed
        trial.score = grading.score
        return _Done(trial, key, f.fresh)

    async def _writer(self, done: asyncio.Queue[_Done | None]) -> None:
        # The run is recorded here, once the first calls are out, rather than before the
        # pipeline starts: a store still opening (see library.py) then overlaps the network
        # wait instead of delaying the first calls.
        first = asyncio.ensure_future(done.get())
        wave = asyncio.ensure_future(self._wave_sent.wait())
        await asyncio.wait({first, wave}, return_when=asyncio.FIRST_COMPLETED)
        wave.cancel()
        await asyncio.to_thread(self._create_run)
        seed: list[_Done | None] = [await first]
        finished = False
        while not finished:
            batch = seed or [await done.get()]
            seed = []
            while len(batch) < MAX_BATCH and not done.empty():
                batch.append(done.get_nowait())
            items = [d for d in batch if d is not None]
            finished = len(items) != len(batch)
            if not items:
                continue
            if self._kpis:
                self._score_kpis(items)
            await asyncio.to_thread(self._commit, items)
            for d in items:
                self.summary.add(d.trial)
                if self.keep_trials:
                    self._kept.append(d.trial)
                if self.on_trial is not None:
                    self.on_trial(d.trial)

    def _score_kpis(self, items: list[_Done]) -> None:
        from promptyard.scorers.kpi_eval import evaluate_kpis, trial_variables

        for d in items:
            t = d.trial
            judge_cost = t.grading.cost if t.grading is not None else 0.0
            t.kpis = evaluate_kpis(self._kpis, trial_variables(t, judge_cost or 0.0)).to_dict()

    def _commit(self, items: list[_Done]) -> None:
        for d in items:  # what is stored and reported is capped (and so is what is kept)
            cap_trial(d.trial, self.limits, _dumps)
        self.store.add_trials([d.trial for d in items])
        fresh = {d.cache_key: d.fresh.to_dict() for d in items if d.cache_key and d.fresh}
        if fresh:
            self.store.cache_put_many(fresh)


_CONVERSATION = "_conversation"


def _conversation_id(test: TestCase) -> str | None:
    """promptfoo's `metadata.conversationId` (None: the prompt x provider's own thread)."""
    value = test.metadata.get("conversationId") if test.metadata else None
    return None if value is None else str(value)


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


def _drop_result(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned render's outcome, so asyncio does not log it as never read."""
    if not task.cancelled():
        task.exception()


def _cache_identity(provider: Provider) -> dict[str, Any] | None:
    """None for providers whose answers must not be cached (user code, echo)."""
    identity = provider.cache_identity()
    return identity or None
