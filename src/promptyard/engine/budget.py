"""Spend caps checked before every provider call, so a run cannot overspend between checks.

A call first reserves its estimated cost; it is made only if everything already spent, plus
what calls still in flight have reserved, plus this estimate stays within the cap. When the
call returns, its reservation is settled at the actual cost. A run therefore never spends more
than its cap plus, per concurrency slot, one call's excess over its estimate.

Settling rules (conservative where we cannot know):
- a known cost settles at that cost;
- an unknown cost (`None`: no price for the model) settles at the estimate;
- a call that failed with a provider error settles at 0 (vendors do not bill refused
  requests), except a timeout, which settles at the estimate (the vendor may have answered);
- a call interrupted by a task cancellation settles at the estimate (it may have been sent).

Once the budget refuses a call it stays exhausted: later calls are refused too, so a run (or
an optimizer sharing the budget) stops rather than squeezing in smaller calls at random.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from promptyard.core.types import Completion, CompletionRequest, TokenUsage
from promptyard.errors import PromptyardError, ProviderTimeoutError, RunCancelled

DEFAULT_COMPLETION_TOKENS = 256  # the estimate's output size when the config sets no max_tokens
CHARS_PER_TOKEN = 4  # the estimate's prompt size: ~4 characters per token (English text)
_EPS = 1e-9  # relative float slack: 0.1 + 0.2 must not overshoot a cap of 0.3


@dataclass(slots=True)
class Reservation:
    """What one call holds until it is settled (always truthy, so `if budget.try_reserve(x)`
    reads as a yes/no)."""

    estimate_usd: float
    settled: bool = False


class Budget:
    """Caps on USD spent, calls made and wall-clock time. Thread-safe (judges may run on
    threads); share one between the runs of an optimizer to cap them all together."""

    def __init__(
        self,
        max_cost_usd: float | None = None,
        max_calls: int | None = None,
        deadline: float | None = None,
    ) -> None:
        if max_cost_usd is not None and max_cost_usd < 0:
            raise ValueError("max_cost_usd must be >= 0")
        if max_calls is not None and max_calls < 0:
            raise ValueError("max_calls must be >= 0")
        self.max_cost_usd = max_cost_usd
        self.max_calls = max_calls
        self.deadline = deadline  # a time.monotonic() value
        self._lock = threading.Lock()
        self._spent = 0.0
        self._reserved = 0.0
        self._open = 0  # reservations not yet settled
        self._calls = 0
        self._reason: str | None = None

    @property
    def spent_usd(self) -> float:
        """USD settled so far (not counting calls still in flight)."""
        with self._lock:
            return self._spent

    @property
    def reserved_usd(self) -> float:
        """USD held by calls in flight."""
        with self._lock:
            return self._reserved

    @property
    def calls(self) -> int:
        """Calls allowed so far (in flight or settled)."""
        with self._lock:
            return self._calls

    @property
    def exhausted_reason(self) -> str | None:
        """Why the budget refused a call; None until it has."""
        with self._lock:
            return self._reason

    def try_reserve(self, estimate_usd: float) -> Reservation | None:
        """Hold `estimate_usd` for one call, or None when the call must not be made."""
        if estimate_usd < 0 or math.isnan(estimate_usd):
            raise ValueError(f"estimate_usd must be >= 0, got {estimate_usd!r}")
        with self._lock:
            if self._reason is None:
                self._reason = self._refusal(estimate_usd)
            if self._reason is not None:
                return None
            self._reserved += estimate_usd
            self._open += 1
            self._calls += 1
            return Reservation(estimate_usd)

    def _refusal(self, estimate: float) -> str | None:
        if self.max_calls is not None and self._calls >= self.max_calls:
            return f"max_calls {self.max_calls} reached"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "deadline passed"
        cap = self.max_cost_usd
        if cap is not None and self._spent + self._reserved + estimate > cap * (1 + _EPS):
            return (
                f"max_cost_usd {cap:g} would be passed (spent {self._spent:.6g},"
                f" in flight {self._reserved:.6g}, next call ~{estimate:.6g})"
            )
        return None

    def settle(self, reservation: Reservation, actual_usd: float | None) -> None:
        """Replace a reservation by what the call cost; None (unknown price) counts the
        estimate."""
        cost = reservation.estimate_usd if actual_usd is None else actual_usd
        with self._lock:
            if reservation.settled:
                raise ValueError("this reservation is already settled")
            reservation.settled = True
            self._spent += cost
            self._open -= 1
            # Reset at zero open calls, so float drift never leaves a phantom reservation.
            self._reserved = 0.0 if self._open == 0 else self._reserved - reservation.estimate_usd

    def charge(self, actual_usd: float | None) -> None:
        """Count a call that was not reserved ahead (a judge's, made because the task call it
        grades was allowed): it never refuses, but later reservations see it."""
        with self._lock:
            self._spent += actual_usd or 0.0

    def to_dict(self) -> dict[str, Any]:
        """The run summary's `budget` entry (`stopped` is filled in by the engine)."""
        with self._lock:
            return {
                "spent_usd": round(self._spent, 9),
                "calls": self._calls,
                "max_cost_usd": self.max_cost_usd,
                "max_calls": self.max_calls,
            }


def estimate_call_cost(pricing: Any, prompt_tokens: int, completion_tokens: int) -> float:
    """Pre-flight USD for one call. `pricing` is a pricer (TokenUsage -> USD or None), a
    (USD per input token, USD per output token) pair, or anything with a `pricer` attribute
    (a provider); an unknown price counts as 0."""
    if isinstance(pricing, tuple):
        rate_in, rate_out = pricing
        return float(rate_in) * prompt_tokens + float(rate_out) * completion_tokens
    pricer = pricing if callable(pricing) else getattr(pricing, "pricer", None)
    if pricer is None:
        return 0.0
    usage = TokenUsage(
        prompt=prompt_tokens, completion=completion_tokens, total=prompt_tokens + completion_tokens
    )
    cost = pricer(usage)
    return float(cost) if cost is not None else 0.0


def calls_affordable(budget: Budget, per_call_usd: float) -> int | None:
    """How many more calls of `per_call_usd` the budget allows; None when nothing caps them
    (the pre-flight message: "the budget allows about N candidates on 40 train cases")."""
    if budget.exhausted_reason is not None:
        return 0
    if budget.deadline is not None and time.monotonic() >= budget.deadline:
        return 0
    limits: list[int] = []
    if budget.max_calls is not None:
        limits.append(max(0, budget.max_calls - budget.calls))
    if budget.max_cost_usd is not None and per_call_usd > 0:
        left = budget.max_cost_usd - budget.spent_usd - budget.reserved_usd
        limits.append(max(0, math.floor(left / per_call_usd + _EPS)))
    return min(limits) if limits else None


def prompt_tokens(text: str) -> int:
    """The estimate's prompt tokens: ~len(text)/4, at least 1."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def completion_tokens(config: Mapping[str, Any] | None) -> int:
    """The estimate's output tokens: the config's max_tokens, else a default."""
    cfg = config or {}
    for key in ("max_tokens", "max_completion_tokens"):
        value = cfg.get(key)
        if isinstance(value, int | float) and value > 0:
            return int(value)
    return DEFAULT_COMPLETION_TOKENS


class Caller(Protocol):
    """What the engine calls a provider through (CallPolicy, or BudgetedPolicy around it)."""

    async def complete(
        self, request: CompletionRequest, *, cancel: asyncio.Event | None = None
    ) -> Completion: ...


class BudgetedPolicy:
    """A provider's call policy behind a budget: reserve, call, settle.

    A refused reservation raises RunCancelled before anything is sent (the engine already
    treats that as "nothing finished") and calls `on_refused` so the engine stops feeding work.
    Built only when a run has a budget: a run without one calls its policies directly.
    """

    __slots__ = ("_budget", "_completion", "_on_refused", "_policy", "_pricer")

    def __init__(
        self,
        policy: Caller,
        budget: Budget,
        *,
        pricer: Callable[[TokenUsage], float | None] | None,
        completion_tokens: int,
        on_refused: Callable[[], None],
    ) -> None:
        self._policy = policy
        self._budget = budget
        self._pricer = pricer
        self._completion = completion_tokens
        self._on_refused = on_refused

    def estimate(self, request: CompletionRequest) -> float:
        """USD for the rendered prompt (~len/4 tokens) and max_tokens of output."""
        if self._pricer is None:
            return 0.0
        return estimate_call_cost(self._pricer, prompt_tokens(request.prompt), self._completion)

    async def complete(
        self, request: CompletionRequest, *, cancel: asyncio.Event | None = None
    ) -> Completion:
        reservation = self._budget.try_reserve(self.estimate(request))
        if reservation is None:
            self._on_refused()
            raise RunCancelled(f"budget exhausted: {self._budget.exhausted_reason}")
        try:
            completion = await self._policy.complete(request, cancel=cancel)
        except ProviderTimeoutError:
            self._budget.settle(reservation, None)
            raise
        except PromptyardError:  # a refused request, or cancelled before it was sent
            self._budget.settle(reservation, 0.0)
            raise
        except BaseException:  # a task cancellation mid-call: it may have been sent
            self._budget.settle(reservation, None)
            raise
        self._budget.settle(reservation, completion.cost)
        return completion
