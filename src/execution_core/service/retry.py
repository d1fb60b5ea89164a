# Rule of this module: the manager waits in two ways only, both through the Clock port so a
# FakeClock makes them instant: retries of what may be retried (bounded, exponential backoff with
# jitter, by tenacity), and pacing of order entry below Kraken's per-pair trading counter (a
# token bucket). An exchange failure whose outcome is unknown is NEVER retried here: the caller
# resolves it first (design.md §2 "Submission is idempotent").
"""How the manager waits: `RetryPolicy` (tenacity) and `TokenBucket` / `Pacer` (rate limits).

`RetryPolicy.call(fn, retryable)` calls `fn` once; only when its result is retryable does it
hand over to a tenacity `AsyncRetrying` for the remaining attempts (`retry.max_attempts` in
all), sleeping `backoff_base x 2^(n-1)` seconds plus up to `backoff_base` of jitter, capped at
`backoff_max`, between them. The first call needs no tenacity machinery: that is the hot path.
`RetryPolicy.call_raising(fn)` does the same for a callable that raises (a repository commit).

`TokenBucket` refills `rate` tokens per second up to `capacity`; `acquire(cost)` waits until
`cost` tokens are there, re-reading the bucket after every wait (the reviewed bucket assumed it
was full after sleeping and let concurrent callers through: DESIGN-1). Waiters are served in
arrival order under one lock, which guards the bucket's two numbers and nothing else. `Pacer`
keeps one bucket per pair with Kraken's matching-engine limits for the account's tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs
from returns.result import Failure, Result
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from execution_core.config import RateLimitConfig, RateLimitTier, RetryConfig
from execution_core.ports import Clock, ExchangeFailure, RetryClass

_T = TypeVar("_T")
_V = TypeVar("_V")

_EPSILON: Final = 1e-9
"""Tokens short of a cost by less than this are float rounding, not a shortage."""
_MIN_WAIT: Final = 1e-3
_RETRYABLE: Final = frozenset({RetryClass.RETRY, RetryClass.WAIT})


def is_retryable(result: Result[_V, ExchangeFailure]) -> bool:
    """Whether `result` is a failure that may simply be sent again (RETRY or WAIT).

    OUTCOME_UNKNOWN is not: the request may have taken effect (resolve it first); NEVER is not.
    """
    if not isinstance(result, Failure):
        return False
    return result.failure().retry in _RETRYABLE


def _last_result(state: RetryCallState) -> object:
    outcome = state.outcome
    assert outcome is not None  # noqa: S101 - tenacity calls this only after an attempt
    return outcome.result()


class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, sleeping on the Clock."""

    def __init__(self, config: RetryConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        wait: wait_base
        if config.jitter:
            wait = wait_exponential_jitter(
                multiplier=config.backoff_base_seconds,
                max=config.backoff_max_seconds,
                jitter=config.backoff_base_seconds,
            )
        else:
            wait = wait_exponential(
                multiplier=config.backoff_base_seconds, max=config.backoff_max_seconds
            )
        self._wait = wait
        self._stop = stop_after_attempt(config.max_attempts)

    @property
    def max_attempts(self) -> int:
        """How many times one call is attempted at most."""
        return self._config.max_attempts

    async def call(self, fn: Callable[[], Awaitable[_T]], retryable: Callable[[_T], bool]) -> _T:
        """`fn()`, retried while `retryable(result)`; the last result when attempts run out."""
        first = await fn()
        if not retryable(first) or self._config.max_attempts == 1:
            return first
        carried = [first]

        async def attempt() -> _T:
            if carried:
                return carried.pop()  # the first attempt, already made
            return await fn()

        retrying = AsyncRetrying(
            sleep=self._clock.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_result(retryable),
            retry_error_callback=_last_result,
        )
        result: _T = await retrying(attempt)
        return result

    async def call_raising(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        """`fn()`, retried while it raises; the last exception propagates when attempts run out."""
        try:
            return await fn()
        except Exception:  # any failure of the store is retried, then re-raised
            if self._config.max_attempts == 1:
                raise
        retrying = AsyncRetrying(
            sleep=self._clock.sleep,
            stop=stop_after_attempt(self._config.max_attempts - 1),
            wait=self._wait,
            retry=retry_if_exception_type(Exception),
            reraise=True,
            before=self._sleep_first,
        )
        result: _T = await retrying(fn)
        return result

    async def _sleep_first(self, state: RetryCallState) -> None:
        # The first attempt of `call_raising` was made outside tenacity: back off before the
        # first attempt tenacity makes, as before any other retry.
        if state.attempt_number == 1:
            await self._clock.sleep(self._config.backoff_base_seconds)


# --------------------------------------------------------------------------- pacing
class TokenBucket:
    """`capacity` tokens refilled at `rate` per second on the Clock's monotonic time."""

    def __init__(self, *, capacity: float, rate: float, clock: Clock) -> None:
        if capacity <= 0 or rate <= 0:
            msg = f"a token bucket needs capacity > 0 and rate > 0 (got {capacity}, {rate})"
            raise ValueError(msg)
        self._capacity = capacity
        self._rate = rate
        self._clock = clock
        self._tokens = capacity
        self._updated = clock.monotonic()
        self._lock = asyncio.Lock()
        """Serves waiters in arrival order; guards `_tokens` and `_updated` across a wait."""

    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds."""
        return self._capacity

    @property
    def tokens(self) -> float:
        """The tokens available now (negative after a forced debit)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._updated
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
            self._updated = now

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Take `cost` tokens now if they are there and nobody is waiting; never waits."""
        if self._lock.locked():
            return False
        self._refill()
        if self._tokens + _EPSILON >= cost:
            self._tokens -= cost
            return True
        return False

    async def acquire(self, cost: float = 1.0) -> float:
        """Take `cost` tokens, waiting for them in arrival order; returns the seconds waited."""
        cost = min(cost, self._capacity)  # more than a full bucket could never be served
        if self.try_acquire(cost):
            return 0.0
        waited = 0.0
        async with self._lock:
            while True:
                self._refill()  # re-read after every wait: others may have taken tokens
                if self._tokens + _EPSILON >= cost:
                    self._tokens -= cost
                    return waited
                # A floor on the wait: a delay below the clock's float resolution would not
                # move it, and the bucket would never refill (an endless loop on a FakeClock).
                delay = max((cost - self._tokens) / self._rate, _MIN_WAIT)
                await self._clock.sleep(delay)
                waited += delay

    def debit(self, cost: float) -> None:
        """Take `cost` tokens without waiting, even below zero (cancels are never held back)."""
        self._refill()
        self._tokens -= cost


@attrs.frozen
class _TierLimits:
    capacity: float
    decay_per_second: float


TRADING_LIMITS: Final = {
    RateLimitTier.STARTER: _TierLimits(60.0, 1.0),
    RateLimitTier.INTERMEDIATE: _TierLimits(125.0, 2.34),
    RateLimitTier.PRO: _TierLimits(180.0, 3.75),
}
"""Kraken's per-pair matching-engine counter: threshold, decay per second (kraken-api.md §9.2)."""

ADD_ORDER_COST: Final = 1.0
AMEND_FIXED_COST: Final = 1.0
_AMEND_AGE_COSTS: Final = ((5.0, 3.0), (10.0, 2.0), (15.0, 1.0))
_CANCEL_AGE_COSTS: Final = (
    (5.0, 8.0),
    (10.0, 6.0),
    (15.0, 5.0),
    (45.0, 4.0),
    (90.0, 2.0),
    (300.0, 1.0),
)


def _age_cost(age_seconds: float, table: tuple[tuple[float, float], ...]) -> float:
    for bound, cost in table:
        if age_seconds < bound:
            return cost
    return 0.0


def amend_cost(age_seconds: float) -> float:
    """Kraken's counter cost of amending an order `age_seconds` old (fixed +1, +3/+2/+1 early)."""
    return AMEND_FIXED_COST + _age_cost(age_seconds, _AMEND_AGE_COSTS)


def cancel_cost(age_seconds: float) -> float:
    """Kraken's counter cost of cancelling an order `age_seconds` old (+8 .. +1, 0 from 300 s)."""
    return _age_cost(age_seconds, _CANCEL_AGE_COSTS)


class Pacer:
    """One token bucket per pair with the tier's matching-engine limits.

    Placements and amendments wait for their cost; cancellations are debited without waiting (a
    cancel reduces risk and Kraken accepts cancels over the threshold), so they make the next
    placements wait instead.
    """

    def __init__(self, config: RateLimitConfig, clock: Clock) -> None:
        self._limits = TRADING_LIMITS[config.tier]
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, symbol: str) -> TokenBucket:
        """The bucket of `symbol` (created full on first use)."""
        bucket = self._buckets.get(symbol)
        if bucket is None:
            limits = self._limits
            bucket = TokenBucket(
                capacity=limits.capacity, rate=limits.decay_per_second, clock=self._clock
            )
            self._buckets[symbol] = bucket
        return bucket

    async def before_place(self, symbol: str) -> float:
        """Wait until an AddOrder on `symbol` stays below the threshold; the seconds waited."""
        bucket = self.bucket(symbol)
        if bucket.try_acquire(ADD_ORDER_COST):
            return 0.0
        return await bucket.acquire(ADD_ORDER_COST)

    async def before_amend(self, symbol: str, age_seconds: float) -> float:
        """Wait for the cost of amending an order of this age on `symbol`."""
        return await self.bucket(symbol).acquire(amend_cost(age_seconds))

    def on_cancel(self, symbol: str, age_seconds: float) -> None:
        """Count a cancellation on `symbol` without holding it back."""
        cost = cancel_cost(age_seconds)
        if cost:
            self.bucket(symbol).debit(cost)
