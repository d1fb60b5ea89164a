"""Client-side pacing below Kraken's two rate limits (kraken-api.md §9).

Kraken keeps two counters per client; each rises by a call's cost and decays linearly, never
below 0, and a call that would take a counter above its maximum is refused:

- the REST counter, per API key: +1 per private call, +2 for the ledger and trade history
  calls (configurable: one doc scrape says +4), 0 for order entry, which is counted by the
  other counter. Starter 15 / -0.33 per s, Intermediate 20 / -0.5, Pro 20 / -1. Over the
  maximum: `EAPI:Rate limit exceeded`.
- the matching-engine counter, per pair: AddOrder +1; AmendOrder +1 plus +3/+2/+1 for an order
  under 5/10/15 s old; CancelOrder +8/+6/+5/+4/+2/+1 under 5/10/15/45/90/300 s (the age counts
  from the order's creation or last amend). Starter 60 / -1 per s, Intermediate 125 / -2.34,
  Pro 180 / -3.75. Over the threshold: `EOrder:Rate limit exceeded`.

Why a small exact model and not aiolimiter for these two: the client must refuse exactly what
Kraken refuses and no more -- `level + cost <= maximum` with Kraken's own costs -- so the pacing
is as fast as the counter allows (a burst of 200 orders at Starter takes 140 s, not more); a
cancel must be counted without being held back (it reduces risk, and Kraken accepts it); the
model must be corrected when Kraken says we were over (`saturate`); and it must run on an
injected `Clock`, so tests and benchmarks can compress time, which aiolimiter (bound to the
event loop's clock, with no way to read or raise its level) cannot do. aiolimiter is used where
it fits: the plain per-IP pacing of public calls (`PublicLimit`).

Two safety rules. The model charges a call when it is *sent*, Kraken when it *arrives*: while
calls are in flight Kraken's level is lower than ours, but near an empty counter (which never
goes below 0) a late arrival leaves Kraken's level above ours by up to `decay x transit time`.
So the model stays `jitter_allowance_seconds` of decay (default 0.5 s: the longest a request
should take to reach Kraken) below the maximum, and the adapter charges at the moment it sends,
never earlier. And after a restart the model starts at 0 unless told otherwise
(`assume_full_at_start`): Kraken may still remember the previous run's calls, and its first
refusal saturates the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import attrs
from aiolimiter import AsyncLimiter

from execution_core.config import RateLimitTier
from execution_core.ports import Clock


# --------------------------------------------------------------------------- limits
@attrs.frozen(kw_only=True)
class CounterLimits:
    """One counter's maximum and its linear decay per second."""

    maximum: float
    decay_per_second: float

    def __attrs_post_init__(self) -> None:
        if self.maximum <= 0 or self.decay_per_second <= 0:
            raise ValueError(
                f"a counter needs maximum > 0 and decay > 0 (got {self.maximum}, "
                f"{self.decay_per_second})"
            )


REST_LIMITS: Final[Mapping[RateLimitTier, CounterLimits]] = MappingProxyType(
    {
        RateLimitTier.STARTER: CounterLimits(maximum=15, decay_per_second=0.33),
        RateLimitTier.INTERMEDIATE: CounterLimits(maximum=20, decay_per_second=0.5),
        RateLimitTier.PRO: CounterLimits(maximum=20, decay_per_second=1.0),
    }
)
"""The REST call counter per API key (kraken-api.md §9.1)."""

TRADING_LIMITS: Final[Mapping[RateLimitTier, CounterLimits]] = MappingProxyType(
    {
        RateLimitTier.STARTER: CounterLimits(maximum=60, decay_per_second=1.0),
        RateLimitTier.INTERMEDIATE: CounterLimits(maximum=125, decay_per_second=2.34),
        RateLimitTier.PRO: CounterLimits(maximum=180, decay_per_second=3.75),
    }
)
"""The matching-engine counter per pair (kraken-api.md §9.2)."""

ORDER_ENTRY_METHODS: Final = frozenset(
    {"AddOrder", "AddOrderBatch", "AmendOrder", "EditOrder", "CancelOrder", "CancelOrderBatch"}
)
"""Private calls the REST counter does not count: the matching-engine counter does."""

HISTORY_METHODS: Final = frozenset({"Ledgers", "QueryLedgers", "TradesHistory"})
"""Private calls that cost `history_call_cost` on the REST counter."""


@attrs.frozen(kw_only=True)
class KrakenLimits:
    """Both counters' limits and what each private call costs on the REST counter.

    `CancelAll` and `CancelAllOrdersAfter` are counted as ordinary private calls (+1): Kraken does
    not say whether they count here (UNCERTAIN), and over-counting only paces a little earlier.
    `rest_costs` overrides the cost of any method.
    """

    rest: CounterLimits
    trading: CounterLimits
    history_call_cost: float = 2.0
    rest_costs: Mapping[str, float] = attrs.field(factory=dict)
    jitter_allowance_seconds: float = 0.5
    assume_full_at_start: bool = False

    @classmethod
    def for_tier(cls, tier: RateLimitTier, *, history_call_cost: float = 2.0) -> KrakenLimits:
        """Kraken's documented limits for an account tier.

        >>> limits = KrakenLimits.for_tier(RateLimitTier.STARTER)
        >>> limits.rest.maximum, limits.trading.maximum, limits.rest_cost("TradesHistory")
        (15, 60, 2.0)
        """
        return cls(
            rest=REST_LIMITS[tier],
            trading=TRADING_LIMITS[tier],
            history_call_cost=history_call_cost,
        )

    def rest_cost(self, method: str) -> float:
        """What one call of the private `method` adds to the REST counter.

        >>> limits = KrakenLimits.for_tier(RateLimitTier.PRO)
        >>> limits.rest_cost("QueryOrders"), limits.rest_cost("AddOrder")
        (1.0, 0.0)
        """
        if method in self.rest_costs:
            return self.rest_costs[method]
        if method in ORDER_ENTRY_METHODS:
            return 0.0
        if method in HISTORY_METHODS:
            return self.history_call_cost
        return 1.0


# --------------------------------------------------------------------------- trading costs
ADD_COST: Final = 1.0
AMEND_FIXED_COST: Final = 1.0
_AMEND_AGE: Final = ((5.0, 3.0), (10.0, 2.0), (15.0, 1.0))
_CANCEL_AGE: Final = ((5.0, 8.0), (10.0, 6.0), (15.0, 5.0), (45.0, 4.0), (90.0, 2.0), (300.0, 1.0))
CANCEL_COST_HORIZON: Final = 300.0
"""From this age on, cancelling an order costs nothing (and amending costs the fixed +1)."""


def _age_cost(age_seconds: float, table: tuple[tuple[float, float], ...]) -> float:
    for bound, cost in table:
        if age_seconds < bound:
            return cost
    return 0.0


def amend_cost(age_seconds: float) -> float:
    """AmendOrder's cost: +1, plus +3/+2/+1 under 5/10/15 s since creation or the last amend.

    >>> amend_cost(0.0), amend_cost(7.0), amend_cost(20.0)
    (4.0, 3.0, 1.0)
    """
    return AMEND_FIXED_COST + _age_cost(age_seconds, _AMEND_AGE)


def cancel_cost(age_seconds: float) -> float:
    """CancelOrder's cost: +8/+6/+5/+4/+2/+1 under 5/10/15/45/90/300 s, then 0.

    >>> cancel_cost(0.0), cancel_cost(36.0), cancel_cost(300.0)
    (8.0, 4.0, 0.0)
    """
    return _age_cost(age_seconds, _CANCEL_AGE)


# --------------------------------------------------------------------------- the model
class LeakyCounter:
    """Kraken's counter as a pure model: `charge` adds, time decays it linearly, never below 0.

    Times are seconds on any monotonic clock, passed in; nothing here reads a clock.

    >>> counter = LeakyCounter(CounterLimits(maximum=15, decay_per_second=0.5), now=0.0)
    >>> counter.charge(15.0, now=0.0)
    >>> counter.level(now=2.0), counter.delay(1.0, now=2.0), counter.delay(2.0, now=2.0)
    (14.0, 0.0, 2.0)
    """

    __slots__ = ("_level", "_limits", "_updated")

    def __init__(self, limits: CounterLimits, *, now: float, level: float = 0.0) -> None:
        self._limits = limits
        self._level = max(0.0, level)
        self._updated = now

    @property
    def limits(self) -> CounterLimits:
        """The counter's maximum and decay."""
        return self._limits

    def level(self, *, now: float) -> float:
        """The counter at `now` (a time before the last update counts as that update)."""
        elapsed = max(0.0, now - self._updated)
        return max(0.0, self._level - elapsed * self._limits.decay_per_second)

    def allows(self, cost: float, *, now: float, margin: float = 0.0) -> bool:
        """Whether a call of `cost` at `now` keeps the counter at or below `maximum - margin`."""
        return self.level(now=now) + min(cost, self._limits.maximum) <= self._ceiling(margin)

    def delay(self, cost: float, *, now: float, margin: float = 0.0) -> float:
        """Seconds to wait from `now` until a call of `cost` is allowed (0 when it is now).

        A cost above the maximum is treated as the maximum: it waits for an empty counter.
        """
        excess = self.level(now=now) + min(cost, self._limits.maximum) - self._ceiling(margin)
        return max(0.0, excess / self._limits.decay_per_second)

    def charge(self, cost: float, *, now: float) -> None:
        """Add `cost` at `now` (the counter may go above the maximum: Kraken counts refusals)."""
        self._level = self.level(now=now) + cost
        self._updated = max(now, self._updated)

    def saturate(self, *, now: float) -> None:
        """Raise the counter to its maximum: Kraken just said we were over it."""
        self._level = max(self.level(now=now), self._limits.maximum)
        self._updated = max(now, self._updated)

    def _ceiling(self, margin: float) -> float:
        return max(0.0, self._limits.maximum - margin)

    def __repr__(self) -> str:
        return f"LeakyCounter(level={self._level:.3f}, maximum={self._limits.maximum})"


class CounterGate:
    """A `LeakyCounter` that callers wait at, in arrival order, on a `Clock`.

    `wait_for(cost)` returns once a call of `cost` would be allowed now, without charging it;
    `try_charge(cost)` charges it if it still is (callers charge at the moment they send, see
    `KrakenExchange`); `acquire(cost)` does both; `debit(cost)` charges without waiting
    (cancels). One `asyncio.Lock` serves waiters first come, first served; it guards the
    counter across a wait and nothing else.
    """

    def __init__(self, limits: CounterLimits, clock: Clock, *, margin: float = 0.0) -> None:
        self._clock = clock
        self._margin = margin
        self._counter = LeakyCounter(limits, now=clock.monotonic())
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0
        """The total time callers have waited here (for statistics and benchmarks)."""

    @property
    def counter(self) -> LeakyCounter:
        """The model (read it; charge it through the gate)."""
        return self._counter

    def level(self) -> float:
        """The modelled counter now."""
        return self._counter.level(now=self._clock.monotonic())

    def allows(self, cost: float) -> bool:
        """Whether a call of `cost` sent now keeps the counter under the limit (less the margin)."""
        return self._counter.allows(cost, now=self._clock.monotonic(), margin=self._margin)

    async def wait_for(self, cost: float) -> float:
        """Wait until a call of `cost` would be allowed now (nothing is charged); seconds waited."""
        if not self._lock.locked() and self.allows(cost):
            return 0.0
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                delay = self._counter.delay(cost, now=now, margin=self._margin)
                if delay <= 0.0:
                    self.waited_seconds += waited
                    return waited
                # Sleep a hair longer than computed: float rounding must not leave the loop
                # spinning on a remainder of 1e-15 s.
                pause = delay * 1.000001 + 1e-9
                await self._clock.sleep(pause)
                waited += pause

    def try_charge(self, cost: float) -> bool:
        """Charge a call of `cost` if it is allowed now; whether it was."""
        now = self._clock.monotonic()
        if not self._counter.allows(cost, now=now, margin=self._margin):
            return False
        self._counter.charge(cost, now=now)
        return True

    async def acquire(self, cost: float) -> float:
        """Wait until a call of `cost` stays under the limit and charge it; the seconds waited."""
        waited = 0.0
        while True:
            waited += await self.wait_for(cost)
            if self.try_charge(cost):
                return waited

    def debit(self, cost: float) -> None:
        """Charge `cost` without waiting (it may push the counter over: cancels are not held)."""
        if cost:
            self._counter.charge(cost, now=self._clock.monotonic())

    def saturate(self) -> None:
        """Kraken refused a call for this counter: model it as full."""
        self._counter.saturate(now=self._clock.monotonic())


class KrakenPacer:
    """Both of Kraken's counters for one API key: one REST gate, one trading gate per pair.

    >>> from adapters.memory.clock import FakeClock
    >>> pacer = KrakenPacer(KrakenLimits.for_tier(RateLimitTier.STARTER), FakeClock())
    >>> pacer.trading("BTC/USDT") is pacer.trading("BTC/USDT"), pacer.rest.counter.limits.maximum
    (True, 15)
    """

    def __init__(self, limits: KrakenLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._rest = self._gate(limits.rest)
        self._trading: dict[str, CounterGate] = {}

    @property
    def limits(self) -> KrakenLimits:
        """The limits this pacer keeps to."""
        return self._limits

    def _gate(self, limits: CounterLimits) -> CounterGate:
        margin = limits.decay_per_second * self._limits.jitter_allowance_seconds
        gate = CounterGate(limits, self._clock, margin=margin)
        if self._limits.assume_full_at_start:
            gate.saturate()
        return gate

    @property
    def rest(self) -> CounterGate:
        """The REST counter's gate."""
        return self._rest

    def trading(self, symbol: str) -> CounterGate:
        """The matching-engine counter's gate of one pair (created on first use)."""
        gate = self._trading.get(symbol)
        if gate is None:
            gate = self._trading[symbol] = self._gate(self._limits.trading)
        return gate


# --------------------------------------------------------------------------- public calls
@attrs.frozen(kw_only=True)
class PublicLimit:
    """Pacing of public calls (Ticker, AssetPairs...), which Kraken limits per IP, not by counter.

    Kraken suggests about one call per second (UNCERTAIN: no counter is documented); `burst`
    calls may go at once. Implemented with aiolimiter's leaky bucket on the event loop's clock.

    >>> PublicLimit().limiter().max_rate
    3.0
    """

    burst: int = 3
    per_second: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError(f"PublicLimit needs burst >= 1 and per_second > 0 (got {self})")

    def limiter(self) -> AsyncLimiter:
        """A fresh aiolimiter bucket for these figures."""
        return AsyncLimiter(max_rate=float(self.burst), time_period=self.burst / self.per_second)
