"""Invariants of the PositionTracker under random fills, modifications, trails, ticks and time.

- size of every position = its entry fills - its exit fills (net of base fees), an exit larger
  than the position counting up to its size: it closes the position (never flips it) and reports
  the excess in a critical alert; a closed position leaves the book;
- the trigger index always holds exactly the open positions' levels, so a tick through the index
  finds what a scan of every position finds (stop-loss first);
- exposures and the P&L sums equal the figures recomputed from the positions;
- a trailed stop never loosens, and the exchange's stop follows the book's;
- a snapshot exists for a symbol exactly when its price is fresh.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from returns.pipeline import is_successful

from execution_core.domain.enums import OrderSide, PositionSide
from execution_core.domain.events import AlertRaised, PriceStale
from execution_core.domain.positions import Position
from execution_core.domain.trailing import TrailingStop
from execution_core.domain.triggers import check_sl_tp_triggers

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the tracker's shared fakes
from test_tracker_fakes import BTC, World, exit_order, fill, make_world, order

T = TypeVar("T")
TOLERANCE = Decimal("1e-12")
XRP = "XRP/USDT"

sizes = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(2), places=3)
prices = st.integers(min_value=40_000, max_value=50_000).map(Decimal)
offsets = st.integers(min_value=1, max_value=3_000).map(Decimal)
trails = st.none() | st.builds(
    TrailingStop,
    activation_pct=st.integers(min_value=0, max_value=3),
    distance_pct=st.decimals(min_value=Decimal("0.1"), max_value=Decimal(3), places=1),
)


class TrackerMachine(RuleBasedStateMachine):
    """One tracker, one symbol (BTC/USDT): the hardest case for the index."""

    positions = Bundle("positions")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.world: World = make_world()
        self.expected: dict[str, Decimal] = {}
        self.count = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        self.runner.close()

    @initialize()
    def start(self) -> None:
        self.run(self.world.tracker.check_sl_tp_triggers({BTC: Decimal(45_000)}))

    # ----------------------------------------------------------------------- rules
    @rule(
        target=positions,
        side=st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        size=sizes,
        price=prices,
        stop=st.none() | offsets,
        target_offset=st.none() | offsets,
        trailing=trails,
    )
    def open_position(
        self,
        *,
        side: OrderSide,
        size: Decimal,
        price: Decimal,
        stop: Decimal | None,
        target_offset: Decimal | None,
        trailing: TrailingStop | None,
    ) -> str:
        self.count += 1
        position_id = f"p{self.count}"
        sign = 1 if side is OrderSide.BUY else -1
        entry = order(position_id, side=side, size=size)
        self.world.tracker.apply_entry_fill(
            entry,
            fill(entry, size, price),
            at=self.world.clock.now(),
            stop_loss=None if stop is None else price - sign * stop,
            take_profit=None if target_offset is None else price + sign * target_offset,
            trailing=trailing,
        )
        self.expected[position_id] = size
        return position_id

    @rule(position_id=positions, size=sizes, price=prices)
    def add_to_position(self, position_id: str, size: Decimal, price: Decimal) -> None:
        position = self.world.tracker.get(position_id)
        if position is None or not position.is_open:
            return
        more = order(f"{position_id}+", side=position.side.entry_side, position_id=position_id)
        self.world.tracker.apply_entry_fill(
            more, fill(more, size, price), at=self.world.clock.now()
        )
        self.expected[position_id] += size

    @rule(position_id=positions, share=st.fractions(min_value=0, max_value=2), price=prices)
    def exit_part(self, position_id: str, share: Any, price: Decimal) -> None:
        position = self.world.tracker.get(position_id)
        if position is None or not position.is_open:
            return
        quantity = (position.size * Decimal(share.numerator) / Decimal(share.denominator)).quantize(
            Decimal("0.001")
        )
        if quantity <= 0:
            return
        out = exit_order(position_id, side=position.side.exit_side)
        result = self.world.tracker.apply_exit_fill(
            out, fill(out, quantity, price), at=self.world.clock.now()
        )
        assert is_successful(result)
        change = result.unwrap()
        alerts = [e for e in change.events if isinstance(e, AlertRaised)]
        if quantity > position.size:
            assert not change.position.is_open
            assert change.position.side is position.side  # never flipped
            assert [a.severity for a in alerts] == ["critical"]
            self.expected[position_id] = Decimal(0)
        else:
            assert alerts == []
            self.expected[position_id] -= quantity

    @rule(position_id=consumes(positions), price=prices)
    def close(self, position_id: str, price: Decimal) -> None:
        position = self.world.tracker.get(position_id)
        if position is None or not position.is_open:
            return
        out = exit_order(position_id, side=position.side.exit_side)
        self.world.tracker.apply_exit_fill(
            out, fill(out, position.size, price), at=self.world.clock.now()
        ).unwrap()
        self.expected[position_id] = Decimal(0)

    @rule(position_id=positions, stop=st.none() | offsets, target_offset=st.none() | offsets)
    def modify(self, position_id: str, stop: Decimal | None, target_offset: Decimal | None) -> None:
        position = self.world.tracker.get(position_id)
        if position is None or not position.is_open:
            return
        sign = position.side.sign
        result = self.run(
            self.world.tracker.modify_position(
                position_id,
                stop_loss=position.entry_price - sign * stop
                if stop is not None
                else position.stop_loss,
                take_profit=(
                    position.entry_price + sign * target_offset
                    if target_offset is not None
                    else position.take_profit
                ),
            )
        )
        if is_successful(result):
            moved = result.unwrap()
            assert self.world.orders.exchange_stops.get(position_id) in {None, moved.stop_loss}

    @rule(price=prices)
    def trail(self, price: Decimal) -> None:
        before = {p.id: p.stop_loss for p in self.world.tracker.open_positions()}
        self.run(self.world.tracker.update_trailing_stops({BTC: price}))
        for position in self.world.tracker.open_positions():
            old, new = before[position.id], position.stop_loss
            if position.trailing is not None and old is not None:
                assert new is not None
                assert new >= old if position.side is PositionSide.LONG else new <= old
            if position.trailing is not None and new != old:
                assert self.world.orders.exchange_stops[position.id] == new

    @rule(price=prices)
    def tick(self, price: Decimal) -> None:
        scanned = {
            (t.position_id, t.kind)
            for t in check_sl_tp_triggers(self.world.tracker.open_positions(), price)
        }
        indexed = {(t.position_id, t.kind) for t in self.world.tracker.index.on_price(BTC, price)}
        assert indexed == scanned
        fired = self.run(self.world.tracker.check_sl_tp_triggers({BTC: price}))
        assert {(e.position_id, e.trigger) for e in fired} <= scanned

    @rule(seconds=st.integers(min_value=0, max_value=90))
    def wait(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    # ----------------------------------------------------------------------- invariants
    @invariant()
    def sizes_are_entries_minus_exits(self) -> None:
        tracker = self.world.tracker
        for position_id, size in self.expected.items():
            position = tracker.get(position_id)
            if size == 0:
                assert position_id not in {p.id for p in tracker.open_positions()}
            else:
                assert position is not None
                assert position.is_open
                assert position.size == size

    @invariant()
    def the_index_holds_exactly_the_open_levels(self) -> None:
        tracker = self.world.tracker
        with_levels = [
            p
            for p in tracker.open_positions()
            if p.stop_loss is not None or p.take_profit is not None
        ]
        assert len(tracker.index) == len(with_levels)
        for position in with_levels:
            assert tracker.index.levels(position.id) == (position.stop_loss, position.take_profit)

    @invariant()
    def sums_match_the_positions(self) -> None:
        tracker = self.world.tracker
        open_positions = tracker.open_positions()
        exposure = sum((p.size * p.entry_price for p in open_positions), Decimal(0))
        assert abs(tracker.exposures().get(BTC, Decimal(0)) - exposure) <= TOLERANCE
        price = tracker.fresh_price(BTC)
        if price is not None and open_positions:
            unrealized = sum((p.calculate_pnl(price)[0] for p in open_positions), Decimal(0))
            assert abs(tracker.daily_pnl_detail().unrealized - unrealized) <= TOLERANCE


TestTrackerMachine = TrackerMachine.TestCase
TestTrackerMachine.settings = settings(stateful_step_count=40, deadline=None)


# --------------------------------------------------------------------------- staleness
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([BTC, XRP, None]), st.integers(min_value=0, max_value=100)),
        max_size=12,
    )
)
def test_a_snapshot_exists_exactly_for_the_symbols_with_a_fresh_price(
    steps: list[tuple[str | None, int]],
) -> None:
    world = make_world()
    world.tracker.load(
        [
            Position(BTC, "long", "0.1", 45_000, id="b"),
            Position(XRP, "long", "100", "0.5", id="x"),
        ]
    )
    last_update: dict[str, int] = {}
    now = 0
    for symbol, seconds in steps:
        world.clock.advance(seconds)
        now += seconds
        if symbol is not None:
            world.tracker.update_price(symbol, Decimal(45_000) if symbol == BTC else Decimal("0.5"))
            last_update[symbol] = now
    snapshots = asyncio.run(world.tracker.take_snapshots())
    fresh = {s for s, at in last_update.items() if now - at <= 60}
    assert {s.symbol for s in snapshots} == fresh
    assert {e.symbol for e in world.stored(PriceStale)} == {BTC, XRP} - fresh
