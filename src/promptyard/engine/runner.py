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

EvalRunner's parts each live in their own module: preflight.py (the check before any call),
rendering.py (renders off the loop), chains.py (storeOutputAs / `_conversation`), writer.py
(commits) and trials.py (what flows between them).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from promptyard.core.plan import (
    PlannedTrial,
    pair_count,
    plan_trials,
    prompt_configs,
    trial_count,
)
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
    TrialResult,
)
from promptyard.engine.budget import Budget, BudgetedPolicy, Caller, completion_tokens
from promptyard.engine.chains import _CONVERSATION, ChainsMixin
from promptyard.engine.ports import Grader, RunStore
from promptyard.engine.preflight import PreflightMixin
from promptyard.engine.rendering import LOOP_RENDER_S, RenderingMixin
from promptyard.engine.summary import SummaryBuilder
from promptyard.engine.trials import (
    RunOutcome,
    TrialSink,
    _by_index,
    _cache_identity,
    _Done,
    _dumps,
    _Fetched,
    _Work,
    column_labels,
    utc_now,
)
from promptyard.engine.writer import MAX_BATCH, WriterMixin
from promptyard.errors import PromptyardError, RunCancelled
from promptyard.providers.base import Provider
from promptyard.providers.config import normalize_config
from promptyard.providers.policy import CallPolicy
from promptyard.scorers.registry import COMPARE_TYPES
from promptyard.trust.limits import cap_completion, render_limits
from promptyard.trust.policy import Limits

# Imported from here by the library and the tests.
__all__ = ["EvalRunner", "RunOutcome", "TrialSink", "column_labels", "utc_now"]

CHUNK = 128  # trials rendered and cache-checked per store read


class EvalRunner(PreflightMixin, ChainsMixin, RenderingMixin, WriterMixin):
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
