"""Execution statistics: orders by status, refusals by reason, fills, fees and latency.

`ExecutionStatistics` is the manager's mutable set of counters (updated synchronously, in O(1)
per event); `snapshot()` returns an immutable `StatisticsSnapshot` for callers. Latency is the
time from `execute_trade` being called to the exchange's answer to the placement, on the Clock's
monotonic time; the last `window` samples give the median and 95th percentile.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal

import attrs

from execution_core.domain.enums import FeeCurrency, OrderStatus
from execution_core.domain.numbers import ZERO
from execution_core.domain.orders import Fill

DEFAULT_LATENCY_WINDOW = 1_000


@attrs.frozen(kw_only=True)
class LatencySummary:
    """Placement latency in seconds over the recent window (zeros before the first sample)."""

    count: int = 0
    mean: float = 0.0
    median: float = 0.0
    p95: float = 0.0
    max: float = 0.0


@attrs.frozen(kw_only=True)
class StatisticsSnapshot:
    """The counters at one moment.

    `orders_by_status` counts every order the manager created or adopted, by its current status;
    `refusals_by_reason` counts refused proposals and exchange rejections by their stable code;
    `fees` sums the fees paid per asset (quote fees in the pair's quote, base fees in its base).
    """

    orders_by_status: Mapping[OrderStatus, int]
    refusals_by_reason: Mapping[str, int]
    proposals: int
    fills: int
    filled_notional: Mapping[str, Decimal]
    fees: Mapping[str, Decimal]
    retries: int
    alerts: int
    latency: LatencySummary


class ExecutionStatistics:
    """The manager's counters (synchronous, O(1) per update)."""

    def __init__(self, *, latency_window: int = DEFAULT_LATENCY_WINDOW) -> None:
        self._by_status: Counter[OrderStatus] = Counter()
        self._refusals: Counter[str] = Counter()
        self._proposals = 0
        self._fills = 0
        self._notional: dict[str, Decimal] = {}
        self._fees: dict[str, Decimal] = {}
        self._retries = 0
        self._alerts = 0
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._latency_count = 0
        self._latency_total = 0.0
        self._latency_max = 0.0

    def proposal(self) -> None:
        """One proposal reached `execute_trade`."""
        self._proposals += 1

    def order_status(self, old: OrderStatus | None, new: OrderStatus | None) -> None:
        """An order was created (`old` None), moved, or forgotten (`new` None)."""
        if old is new:
            return
        if old is not None:
            self._by_status[old] -= 1
        if new is not None:
            self._by_status[new] += 1

    def refusal(self, code: str) -> None:
        """A proposal or an order was refused for `code`."""
        self._refusals[code] += 1

    def fill(self, fill: Fill, *, base: str, quote: str) -> None:
        """A new fill was applied (its notional and fee are added per asset)."""
        self._fills += 1
        self._notional[quote] = self._notional.get(quote, ZERO) + fill.quantity * fill.price
        asset = quote if fill.fee_currency is FeeCurrency.QUOTE else base
        self._fees[asset] = self._fees.get(asset, ZERO) + fill.fee

    def retry(self, count: int = 1) -> None:
        """`count` more attempts were made after a retryable failure."""
        self._retries += count

    def alert(self) -> None:
        """An alert was raised."""
        self._alerts += 1

    def latency(self, seconds: float) -> None:
        """One placement took `seconds` from the proposal to the exchange's answer."""
        self._latencies.append(seconds)
        self._latency_count += 1
        self._latency_total += seconds
        self._latency_max = max(self._latency_max, seconds)

    def snapshot(self) -> StatisticsSnapshot:
        """The counters now, as an immutable value."""
        return StatisticsSnapshot(
            orders_by_status={status: n for status, n in self._by_status.items() if n},
            refusals_by_reason=dict(self._refusals),
            proposals=self._proposals,
            fills=self._fills,
            filled_notional=dict(self._notional),
            fees=dict(self._fees),
            retries=self._retries,
            alerts=self._alerts,
            latency=self._latency_summary(),
        )

    def _latency_summary(self) -> LatencySummary:
        if not self._latency_count:
            return LatencySummary()
        window = sorted(self._latencies)
        return LatencySummary(
            count=self._latency_count,
            mean=self._latency_total / self._latency_count,
            median=window[len(window) // 2],
            p95=window[min(len(window) - 1, (len(window) * 95) // 100)],
            max=self._latency_max,
        )
