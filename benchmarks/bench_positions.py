"""Positions: a fill applied to its order and position (issue 2 section 4), and valuation.

The "earlier fills" rows apply one more entry fill to a position that has already taken 1,
1,000 or 10,000 fills, to show that the cost does not grow with the history.
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks import ours, scenario
from benchmarks.harness import Benchmark, Setup, repeat
from benchmarks.scenario import AT
from execution_core.domain.order_states import accept, apply_fill, submit
from execution_core.domain.positions import Position

GROUP = "position"
FILL_TARGET_NS = 15_000
"""Issue 2 section 4: one fill applied to its order and position, median <= 15 us."""


def _open_from_fill() -> Setup:
    """A fill on a new order that opens the position (0 earlier fills)."""
    fill = ours.fill_of(scenario.NEXT_ENTRY, trade_id="t-next", order_id="o-next")
    pending = ours.pending_order(size=scenario.NEXT_ENTRY.quantity, order_id="o-next")
    order = accept(submit(pending, at=AT).unwrap().order, exchange_order_id="X", at=AT)
    open_order = order.unwrap().order

    def both() -> None:
        apply_fill(open_order, fill, at=AT).unwrap()
        Position.open_from_fills((fill,), id=ours.POSITION_ID).unwrap()

    return lambda n: repeat(both, n)


def _exit_fill() -> Setup:
    """A partial exit: realized P&L net of the exit fee and the entry fees' share."""
    position = ours.position_of(ours.fills_of(scenario.ENTRIES))
    fill = ours.fill_of(scenario.ROUND_TRIP[3], trade_id="t-exit")
    return lambda n: repeat(lambda: position.apply_fill(fill).unwrap(), n)


def register() -> Iterator[Benchmark]:
    """The position benchmarks."""
    yield Benchmark(
        group=GROUP,
        name="fill -> order + new position (0 earlier)",
        setup=_open_from_fill(),
        target_ns=FILL_TARGET_NS,
    )
    for earlier in scenario.EARLIER_FILLS:
        yield Benchmark(
            group=GROUP,
            name=f"fill -> order + position ({earlier:,} earlier)",
            setup=ours.order_and_position_fill(earlier),
            target_ns=FILL_TARGET_NS,
            memory=True,
        )
    for earlier in (1, 10_000):
        yield Benchmark(
            group=GROUP,
            name=f"fill -> position only ({earlier:,} earlier)",
            setup=ours.position_fill(earlier),
        )
    yield Benchmark(group=GROUP, name="exit fill (partial close)", setup=_exit_fill())
    yield Benchmark(
        group=GROUP,
        name="unrealized P&L, net of fees",
        setup=ours.unrealized_pnl(include_fees=True),
    )
    yield Benchmark(
        group=GROUP,
        name="unrealized P&L, gross",
        setup=ours.unrealized_pnl(include_fees=False),
    )
