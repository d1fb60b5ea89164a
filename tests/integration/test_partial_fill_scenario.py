"""The review's partial-fill scenario (CRITICAL-2), end to end through the whole service.

    Order: BUY 0.1 BTC @ $45,000 (size_usd = $4,500)
    Kraken fills: 0.07 BTC (partial)
    System records: 0.07 BTC position
    SL/TP orders placed: for 0.07 BTC
    Risk engine: exposure $3,150 (not the intended $4,500)

Each test drives `OrderExecutionManager` + `PositionTracker` + the venue's exchange +
`InMemoryRepository` + `FakeClock` (tests/integration/scenarios.py), fills 0.07 of the 0.1 BTC,
lets the rest end in one of the ways it can end (timeout, cancel, expiry, IOC remainder), and
checks the position, the stop-loss and take-profit orders the EXCHANGE holds, the exposure the
(recording) risk engine received, the store, and a restart from the store.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

from execution_core.config import ExecutionConfig
from execution_core.domain.enums import OrderRole, OrderStatus, OrderType
from execution_core.domain.events import PositionOpened
from execution_core.domain.proposals import TradeProposal
from execution_core.ports import ReportedStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scenario kit lives beside this file
from scenarios import (
    BTC,
    VENUES,
    VenueFactory,
    VenueOptions,
    World,
    scenario,
    venue_names,
)

FILLED = Decimal("0.07")
EXPOSURE = Decimal(3150)  # 0.07 x 45,000
INTENDED = Decimal(4500)  # 0.1 x 45,000: what the reviewed code reported
STOP, TARGET = Decimal(44_000), Decimal(47_000)
REVIEW_BUY = TradeProposal(BTC, "buy", 4500, entry_price=45_000, stop_loss=STOP, take_profit=TARGET)


@pytest.fixture(params=venue_names())
def venue_factory(request: pytest.FixtureRequest) -> VenueFactory:
    return VENUES[request.param]


async def fill_seven_of_ten(world: World, proposal: TradeProposal = REVIEW_BUY) -> str:
    """Place the review's order on a market just above it; a dip fills 0.07 of the 0.1 BTC."""
    result = await world.manager.execute_trade(proposal)
    assert result.success, result.error_message
    assert result.order is not None
    assert result.order.size == Decimal("0.1")
    assert result.status is OrderStatus.OPEN  # resting: the market is at 45,050
    await world.liquidity(FILLED)
    await world.step(seconds=5, price=44_990)  # crosses the bid: only 0.07 trades
    await world.liquidity(None)
    await world.step(seconds=5, price=45_100)  # back above: nothing more fills
    assert result.order_id is not None
    return result.order_id


async def assert_the_review_outcome(world: World, position_id: str) -> None:
    """0.07 BTC position; SL/TP at the exchange for 0.07; exposure 3,150, never 4,500."""
    position = world.tracker.get(position_id)
    assert position is not None
    assert position.is_open
    assert (position.size, position.entry_price) == (FILLED, Decimal(45_000))
    assert (position.stop_loss, position.take_profit) == (STOP, TARGET)

    # a restarted manager keeps only open orders in memory; the store keeps every order
    entry = world.manager.get_order(position_id) or await world.repository.load_order(position_id)
    assert entry is not None
    assert entry.status.is_terminal
    assert entry.filled_size == FILLED
    truth = await world.at_exchange(entry)
    assert truth.is_closed
    assert (truth.size, truth.filled_size) == (Decimal("0.1"), FILLED)

    for role, order_type, level in (
        (OrderRole.STOP_LOSS, OrderType.STOP_LOSS, STOP),
        (OrderRole.TAKE_PROFIT, OrderType.TAKE_PROFIT, TARGET),
    ):
        ours = world.role(position_id, role)
        assert ours is not None, f"no {role} order"
        held = await world.at_exchange(ours)
        assert held.status is ReportedStatus.OPEN
        assert held.order_type is order_type
        assert (held.size, held.filled_size, held.trigger_price) == (FILLED, Decimal(0), level)
    assert len(await world.open_at_exchange()) == 2  # the stop and the target, nothing else

    assert world.risk.last_exposure == {BTC: EXPOSURE}
    reported = [e[BTC] for e in world.risk.exposures if BTC in e]
    assert reported
    assert max(reported) == EXPOSURE
    assert INTENDED not in reported

    stored = await world.repository.load_position(position_id)
    assert stored is not None
    assert stored.size == FILLED
    fills = await world.repository.load_fills(position_id)
    assert sum(f.quantity for f in fills) == FILLED
    assert [e.size for e in world.stored(PositionOpened)] == [FILLED]


SCENARIOS = ["timeout", "cancelled", "expired"]


@pytest.mark.parametrize("ending", SCENARIOS)
async def test_the_review_partial_fill_leaves_a_0_07_btc_position_protected_for_0_07(
    venue_factory: VenueFactory, ending: str
) -> None:
    config = ExecutionConfig()
    if ending == "expired":  # no timeout of ours: the exchange's GTD expiry (1 h) ends it
        config = ExecutionConfig.from_mapping({"orders": {"limit_order_timeout_seconds": "none"}})
    async with scenario(venue_factory, config=config, prices={BTC: 45_050}) as world:
        position_id = await fill_seven_of_ten(world)

        # 0.07 in: the position, its protection and the exposure follow the fill at once
        position = world.tracker.get(position_id)
        assert position is not None
        assert position.size == FILLED
        assert world.risk.last_exposure == {BTC: EXPOSURE}

        if ending == "timeout":
            await world.step(seconds=589)  # 599 s after placement: not yet
            entry = world.manager.get_order(position_id)
            assert entry is not None
            assert entry.status is OrderStatus.PARTIALLY_FILLED
            await world.step(seconds=1)  # 600 s: the remainder is cancelled
            await world.step()  # the cancel's final report
        elif ending == "cancelled":
            cancelled = await world.manager.cancel_order(position_id)
            assert cancelled.unwrap().status is OrderStatus.CANCELLED
        else:
            await world.step(seconds=3600)
        entry = world.manager.get_order(position_id)
        assert entry is not None
        expected = OrderStatus.EXPIRED if ending == "expired" else OrderStatus.CANCELLED
        assert entry.status is expected
        await assert_the_review_outcome(world, position_id)
        # resized in place, never re-placed: one entry, one stop, one target, no amendments
        assert world.venue.calls["place_order"] == 3
        assert world.venue.calls["amend_order"] == 0


async def test_a_protected_market_buy_filled_0_07_of_0_1_cancels_its_ioc_remainder(
    venue_factory: VenueFactory,
) -> None:
    async with scenario(venue_factory) as world:
        await world.liquidity(FILLED)
        proposal = TradeProposal(BTC, "buy", 4500, stop_loss=STOP, take_profit=TARGET)
        result = await world.manager.execute_trade(proposal)
        assert result.order is not None
        assert result.order.price == Decimal("45225.0")  # the IOC cap, 0.5% above 45,000
        await world.liquidity(None)
        assert result.order_id is not None
        await world.step()
        entry = world.manager.get_order(result.order_id)
        assert entry is not None
        assert (entry.status, entry.filled_size) == (OrderStatus.CANCELLED, FILLED)
        await assert_the_review_outcome(world, result.order_id)


async def test_the_rest_filling_in_two_more_pieces_amends_the_stop_and_target_each_time(
    venue_factory: VenueFactory,
) -> None:
    async with scenario(venue_factory, prices={BTC: 45_050}) as world:
        position_id = await fill_seven_of_ten(world)
        stop = world.role(position_id, OrderRole.STOP_LOSS)
        assert stop is not None
        sizes: list[Decimal] = []
        for piece in ("0.02", "0.01"):
            await world.liquidity(piece)
            await world.step(seconds=5, price=44_990)
            await world.step(seconds=5, price=45_100)
            held = await world.at_exchange(stop)
            sizes.append(held.size)
        assert sizes == [Decimal("0.09"), Decimal("0.1")]
        position = world.tracker.get(position_id)
        assert position is not None
        assert position.size == Decimal("0.1")
        assert [e[BTC] for e in world.risk.exposures if BTC in e][-3:] == [
            EXPOSURE,
            Decimal(4050),
            INTENDED,
        ]
        target = world.role(position_id, OrderRole.TAKE_PROFIT)
        assert target is not None
        assert (await world.at_exchange(target)).size == Decimal("0.1")
        assert world.venue.calls["place_order"] == 3  # amended in place, never replaced
        assert world.venue.calls["cancel_order"] == 0


async def test_a_restart_from_the_store_finds_the_same_0_07_position_and_its_orders(
    venue_factory: VenueFactory,
) -> None:
    async with scenario(venue_factory, prices={BTC: 45_050}) as world:
        position_id = await fill_seven_of_ten(world)
        await world.manager.cancel_order(position_id)
        placed = world.venue.calls["place_order"]
        summary = await world.restart()
        assert summary.error is None
        assert summary.unknown == 0
        await assert_the_review_outcome(world, position_id)
        assert world.venue.calls["place_order"] == placed  # nothing placed again


async def test_on_kraken_spot_the_stop_rests_for_0_07_and_the_target_is_watched(
    venue_factory: VenueFactory,
) -> None:
    options = VenueOptions(hold_untriggered=True)  # the stop holds the 0.07 BTC
    async with scenario(venue_factory, options=options, prices={BTC: 45_050}) as world:
        position_id = await fill_seven_of_ten(world)
        await world.manager.cancel_order(position_id)
        stop = world.role(position_id, OrderRole.STOP_LOSS)
        assert stop is not None
        held = await world.at_exchange(stop)
        assert (held.size, held.trigger_price) == (FILLED, STOP)
        assert world.role(position_id, OrderRole.TAKE_PROFIT) is None
        assert any("watched" in a.message for a in world.alerts("contingent"))
        assert world.risk.last_exposure == {BTC: EXPOSURE}

        await world.step(seconds=5, price=47_000)  # the target is reached: a protected exit
        await world.step()
        position = world.tracker.get(position_id)
        assert position is not None
        assert not position.is_open
        assert position.exited_quantity == FILLED
        assert await world.open_at_exchange() == []  # the stop went with the position
        assert world.risk.last_exposure == {}
