"""The numbers both libraries are fed: one instrument, one order, fill sequences, prices.

Everything here is plain data (Decimal strings, sides) so that `benchmarks.ours` and
`benchmarks.nautilus_workloads` build their own objects from the same figures, and the
comparison can check that both books agree before timing them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

import attrs

AT: Final = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
"""The `now` every domain call receives (the core never reads the clock)."""

SYMBOL: Final = "BTC/USDT"
EXCHANGE_SYMBOL: Final = "XBTUSDT"
TAKER_FEE: Final = Decimal("0.004")
MAKER_FEE: Final = Decimal("0.0025")
TICK: Final = Decimal("0.1")
LOT: Final = Decimal("0.00000001")
MIN_SIZE: Final = Decimal("0.0001")
MIN_COST: Final = Decimal("0.5")

# The limit order of workload (1): 4,500 USDT of BTC at 45,000 -> 0.1 BTC.
ORDER_SIZE_USD: Final = Decimal(4500)
ORDER_PRICE: Final = Decimal(45000)
ORDER_SIZE: Final = Decimal("0.1")
MAX_ORDER_NOTIONAL: Final = Decimal(10_000)
"""Per-order notional limit on both sides (our `RiskConfig.max_order_notional` default)."""
QUOTE_BALANCE: Final = Decimal(1_000_000)

NEW_PRICE: Final = Decimal(46000)
"""The fresh market price of workload (4)."""

EARLIER_FILLS: Final = (1, 1_000, 10_000)
"""Workload (3): a fill applied to a position that already has this many fills."""


@attrs.frozen
class FillSpec:
    """One execution: side ("buy"/"sell"), quantity, price, fee in quote."""

    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal


def _taker(side: str, quantity: str, price: str) -> FillSpec:
    q, p = Decimal(quantity), Decimal(price)
    return FillSpec(side=side, quantity=q, price=p, fee=q * p * TAKER_FEE)


ROUND_TRIP: Final = (
    _taker("buy", "0.05", "45000.0"),
    _taker("buy", "0.03", "45200.0"),
    _taker("buy", "0.02", "44900.0"),
    _taker("sell", "0.04", "45500.0"),
    _taker("sell", "0.06", "45800.0"),
)
"""Three entries and two exits that close the position: the equivalence check's sequence.

Entry VWAP 45,040; gross P&L 64.0; fees 36.288; realized net of fees 27.712; unrealized at
46,000 after the entries 96.0.
"""

ENTRIES: Final = ROUND_TRIP[:3]
EXPECTED_ENTRY_PRICE: Final = Decimal(45040)
EXPECTED_UNREALIZED_AT_NEW_PRICE: Final = Decimal(96)
EXPECTED_REALIZED_NET: Final = Decimal("27.712")


def entry_fills(count: int) -> tuple[FillSpec, ...]:
    """`count` small buys at prices cycling around 45,000 (the earlier fills of workload 3)."""
    return tuple(
        _taker("buy", "0.001", str(Decimal(45000) + Decimal(i % 41 - 20) * Decimal("0.5")))
        for i in range(count)
    )


NEXT_ENTRY: Final = _taker("buy", "0.002", "45123.4")
"""The fill workload (3) applies to a position with earlier fills."""
