"""PositionTracker: valuation only at fresh prices, snapshots, daily P&L, recording and loops."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from adapters.memory.repository import RepositoryWriteError
from execution_core.config import ExecutionConfig, PositionsConfig
from execution_core.domain.events import (
    AlertRaised,
    PositionSnapshotTaken,
    PriceStale,
)
from execution_core.domain.instruments import BTC_USDT, default_instruments
from execution_core.ports import PositionSnapshot, UnitOfWork

sys.path.insert(0, str(Path(__file__).parent))  # the tracker's shared fakes live beside this file
from test_tracker_fakes import (
    BTC,
    World,
    exit_order,
    fill,
    fine_ticks,
    make_world,
    open_long,
    open_short,
    order,
)

XRP = "XRP/USDT"


@pytest.fixture
def world() -> World:
    return make_world()


def open_xrp(world: World, position_id: str = "x1") -> None:
    entry = order(position_id, size="100", symbol=XRP)
    world.tracker.apply_entry_fill(entry, fill(entry, "100", "0.5"), at=world.clock.now())


# --------------------------------------------------------------------------- the review's tests
async def test_pnl_calculation_with_fees(world: World) -> None:
    # 0.1 BTC bought at 45,000 with an 18 USDT fee (0.40% taker); the market is at 46,000.
    open_long(world, "p1", size="0.1", fee="18", stop_loss=None, take_profit=None)
    world.tracker.update_price(BTC, Decimal(46_000))
    (snapshot,) = await world.tracker.take_snapshots()
    # 100 gross - 18 entry fee - 18.4 estimated exit fee (0.1 x 46,000 x 0.0040); leverage 1.
    assert snapshot.unrealized_pnl == Decimal("63.6")
    assert snapshot.unrealized_pnl_pct == Decimal("1.413333333333333333333333333")
    assert world.tracker.daily_pnl() == Decimal("63.6")
    # Closing at 46,000 with the real 18.4 exit fee realizes exactly what was shown.
    out = exit_order("p1")
    change = world.tracker.apply_exit_fill(
        out, fill(out, "0.1", 46_000, fee="18.4"), at=world.clock.now()
    ).unwrap()
    assert change.realized_pnl == Decimal("63.6")
    assert world.tracker.daily_pnl() == Decimal("63.6")


async def test_live_instruments_set_after_construction_price_the_exit_fee_of_new_positions(
    world: World,
) -> None:
    # Built with the default pairs (0.40% taker); the exchange's live tier is 0.16% / 0.26%.
    live = default_instruments().replace(
        attrs.evolve(BTC_USDT, maker_fee=Decimal("0.0016"), taker_fee=Decimal("0.0026"))
    )
    open_long(world, "before", size="0.2", price=50_000, stop_loss=None, take_profit=None)
    world.tracker.set_instruments(live)
    assert world.tracker.instruments is live
    open_long(world, "p1", size="0.2", price=50_000, fee="26", stop_loss=None, take_profit=None)
    position = world.tracker.get("p1")
    assert position is not None
    assert position.exit_fee_rate == Decimal("0.0026")
    # an open position keeps the rate it was opened (and stored) with
    assert world.tracker.get("before").exit_fee_rate == Decimal("0.0040")  # type: ignore[union-attr]
    world.tracker.update_price(BTC, Decimal(50_000))
    snapshots = {s.position_id: s.unrealized_pnl for s in await world.tracker.take_snapshots()}
    # flat: -26 paid - 26 estimated (10,000 x 0.26%); the older one: -40 estimated at 0.40%
    assert snapshots == {"p1": Decimal(-52), "before": Decimal(-40)}
    assert world.tracker.daily_pnl() == Decimal(-92)


async def test_live_instruments_round_levels_to_their_tick(world: World) -> None:
    open_long(world, "p1", stop_loss="44500", take_profit=None)
    world.tracker.set_instruments(fine_ticks())  # a 0.01 tick instead of 0.1
    moved = await world.tracker.modify_position("p1", stop_loss="44600.047")
    assert moved.unwrap().stop_loss == Decimal("44600.05")


async def test_stale_price_cache_handling(world: World) -> None:
    open_long(world, "p1")
    world.tracker.update_price(BTC, Decimal(45_500))
    world.clock.advance(61)  # past the 60 s default
    snapshots = await world.tracker.take_snapshots()
    assert snapshots == []
    assert world.tracker.fresh_price(BTC) is None
    stale = PriceStale(symbol=BTC, age_seconds=Decimal("61.000"), at=world.clock.now())
    assert world.stored(PriceStale) == [stale]
    assert world.publisher.events == [stale]
    assert world.stored(PositionSnapshotTaken) == []
    # No P&L figure from a stale price either: the symbol is named, its P&L left out.
    detail = world.tracker.daily_pnl_detail()
    assert (detail.unrealized, detail.stale) == (Decimal(0), (BTC,))
    assert await world.repository.load_snapshots("p1") == []


# --------------------------------------------------------------------------- snapshots
async def test_snapshot_capture_with_missing_prices_values_only_the_fresh_symbols(
    world: World,
) -> None:
    open_long(world, "p1")
    open_short(world, "s1")
    open_xrp(world, "x1")
    world.tracker.update_price(BTC, Decimal(45_200))
    snapshots = await world.tracker.take_snapshots()
    assert sorted(s.position_id for s in snapshots) == ["p1", "s1"]
    assert world.stored(PriceStale) == [
        PriceStale(symbol=XRP, age_seconds=None, at=world.clock.now())
    ]


async def test_a_snapshot_is_stored_with_its_event_and_published(world: World) -> None:
    open_long(world, "p1", stop_loss=None, take_profit=None)
    world.clock.advance(10)
    world.tracker.update_price(BTC, "45100")
    await world.tracker.take_snapshots()
    expected = PositionSnapshot(
        position_id="p1",
        symbol=BTC,
        price=Decimal(45_100),
        size=Decimal("0.1"),
        unrealized_pnl=Decimal("-8.0400"),  # 10 gross - 18.04 estimated exit fee
        unrealized_pnl_pct=Decimal("-0.1786666666666666666666666667"),
        at=world.clock.now(),
    )
    assert await world.repository.load_snapshots("p1") == [expected]
    assert world.publisher.of(PositionSnapshotTaken) == [
        PositionSnapshotTaken(
            position_id="p1",
            price=expected.price,
            unrealized_pnl=expected.unrealized_pnl,
            unrealized_pnl_pct=expected.unrealized_pnl_pct,
            at=expected.at,
        )
    ]


async def test_a_shorter_staleness_limit_from_the_config_applies() -> None:
    config = ExecutionConfig(positions=PositionsConfig(price_staleness_seconds=5))
    world = make_world(config=config)
    open_long(world, "p1")
    world.tracker.update_price(BTC, 45_000)
    world.clock.advance(6)
    assert await world.tracker.take_snapshots() == []


async def test_the_snapshot_loop_runs_on_the_clocks_interval(world: World) -> None:
    open_long(world, "p1")
    world.tracker.update_price(BTC, 45_000)
    world.clock.advance(30)
    world.tracker.update_price(BTC, 45_100)
    await world.tracker.run_snapshots(rounds=2)
    assert world.clock.sleeps == [60.0, 60.0]
    # Round one (30 s after the last price) is fresh; round two (90 s after) is stale.
    assert len(await world.repository.load_snapshots("p1")) == 1
    assert [e.age_seconds for e in world.stored(PriceStale)] == [Decimal("120.000")]


async def test_the_snapshot_loop_pushes_exposures_that_changed(world: World) -> None:
    open_long(world, "p1")
    assert world.tracker.exposures_changed
    await world.tracker.run_snapshots(rounds=1)
    assert world.risk.exposures == [{BTC: Decimal("4500.0")}]
    assert not world.tracker.exposures_changed


async def test_a_failing_round_is_recorded_as_an_alert_and_the_loop_goes_on(
    world: World,
) -> None:
    open_long(world, "p1")
    world.tracker.update_price(BTC, 45_000)
    world.repository.fail_next_commits(1)
    await world.tracker.run_snapshots(rounds=2)
    alerts = world.stored(AlertRaised)
    assert len(alerts) == 1
    assert "snapshots round failed: RepositoryWriteError" in alerts[0].message
    # Nothing was lost: the failed round's snapshot was stored before the alert.
    assert len(await world.repository.load_snapshots("p1")) == 1
    assert len(world.stored(PriceStale)) == 1  # round two, 120 s after the price


async def test_a_failed_commit_is_kept_and_stored_before_the_next_unit(world: World) -> None:
    open_long(world, "p1")
    world.tracker.update_price(BTC, 45_000)
    world.repository.fail_next_commits(1)
    with pytest.raises(RepositoryWriteError):
        await world.tracker.take_snapshots()
    assert world.publisher.events == []  # nothing published that was not stored
    await world.tracker.take_snapshots()
    snapshots = world.stored(PositionSnapshotTaken)
    assert len(snapshots) == 2
    assert len(world.publisher.of(PositionSnapshotTaken)) == 2


# --------------------------------------------------------------------------- daily P&L
def test_daily_pnl_is_the_sum_of_each_positions_pnl_net_of_fees(world: World) -> None:
    open_long(world, "p1", size="0.1", price=45_000, fee="18")
    open_long(world, "p2", size="0.3", price=44_000, fee="52.8")
    open_short(world, "s1", size="0.2", price=45_500)
    open_xrp(world, "x1")
    world.tracker.update_price(BTC, Decimal("45123.4"))
    world.tracker.update_price(XRP, Decimal("0.55"))
    prices = {BTC: Decimal("45123.4"), XRP: Decimal("0.55")}
    expected = sum(
        (p.calculate_pnl(prices[p.symbol])[0] for p in world.tracker.open_positions()),
        Decimal(0),
    )
    assert world.tracker.daily_pnl() == expected
    assert world.tracker.daily_pnl_detail().stale == ()


def test_daily_pnl_leaves_out_a_symbol_whose_price_went_stale(world: World) -> None:
    open_long(world, "p1", fee="18", stop_loss=None, take_profit=None)
    open_xrp(world, "x1")
    world.tracker.update_price(BTC, 46_000)
    world.clock.advance(30)
    world.tracker.update_price(XRP, "0.6")
    world.clock.advance(31)  # BTC is now 61 s old, XRP 31 s
    detail = world.tracker.daily_pnl_detail()
    assert detail.stale == (BTC,)
    # Only the XRP position: 100 x 0.1 gross - 100 x 0.6 x 0.0040 exit fee.
    assert detail.unrealized == Decimal("9.7600")


async def test_two_flows_recording_at_once_store_each_event_once_and_in_order(
    world: World,
) -> None:
    open_long(world, "p1")
    world.tracker.update_price(BTC, 45_000)
    gate = asyncio.Event()
    commit = world.repository.commit

    async def slow_commit(unit: UnitOfWork) -> None:
        await gate.wait()
        await commit(unit)

    world.repository.commit = slow_commit  # type: ignore[method-assign]
    first = asyncio.create_task(world.tracker.take_snapshots())
    second = asyncio.create_task(world.tracker.check_sl_tp_triggers({BTC: Decimal(44_000)}))
    for _ in range(3):
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, second)
    kinds = [type(stored.event).__name__ for stored in world.repository.events]
    assert kinds == ["PositionSnapshotTaken", "TriggerFired"]
    assert [type(e).__name__ for e in world.publisher.events] == kinds
