"""PaperEngine order management: amend, cancel, cancel-all, dead man's switch, queries, rates."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.memory import (
    AmendRequest,
    EngineConfig,
    OrderInfo,
    OrderRequest,
    PaperEngine,
    RateTier,
)
from execution_core.domain.enums import OrderSide, OrderType
from execution_core.domain.instruments import default_instruments
from execution_core.ports import ReportedStatus

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
BTC = "BTC/USDT"
NO_DECAY = RateTier(
    name="NoDecay", decay_per_second=Decimal(0), threshold=Decimal(60), max_open_orders=60
)
KRAKEN_ID = re.compile(r"[OT][A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_engine(config: EngineConfig | None = None, seed: int = 3) -> PaperEngine:
    engine = PaperEngine(default_instruments(), seed=seed, config=config)
    engine.deposit("USDT", Decimal(100_000))
    engine.deposit("BTC", Decimal(2))
    engine.set_price(BTC, Decimal(50_000), now=T0)
    return engine


def request(**fields: object) -> OrderRequest:
    defaults: dict[str, object] = {
        "pair": BTC,
        "side": BUY,
        "ordertype": OrderType.LIMIT,
        "volume": Decimal("0.02"),
        "price": Decimal(49_000),
    }
    defaults.update(fields)
    return OrderRequest(**defaults)  # type: ignore[arg-type]  # test helper: fields by name


def place(engine: PaperEngine, now: datetime = T0, **fields: object) -> OrderInfo:
    order = engine.add_order(request(**fields), now=now).unwrap().order
    assert order is not None
    return order


def state(engine: PaperEngine, order: OrderInfo) -> OrderInfo:
    current = engine.order(order.txid)
    assert current is not None
    return current


def amend(engine: PaperEngine, now: datetime = T0, **fields: object) -> OrderInfo:
    return engine.amend_order(AmendRequest(**fields), now=now).unwrap().order  # type: ignore[arg-type]  # test helper


def amend_refusal(engine: PaperEngine, now: datetime = T0, **fields: object) -> str:
    return engine.amend_order(AmendRequest(**fields), now=now).failure().code  # type: ignore[arg-type]  # test helper


# --------------------------------------------------------------------------- amend
def test_amending_the_quantity_down_keeps_ids_and_shrinks_the_hold() -> None:
    engine = make_engine()
    order = place(engine, cl_ord_id="entry-1")
    assert engine.balance("USDT").held == Decimal("983.92")
    ack = engine.amend_order(AmendRequest(txid=order.txid, order_qty="0.01"), now=at(1)).unwrap()
    assert ack.amend_id.startswith("T")
    assert ack.amend_id != order.txid
    amended = ack.order
    assert (amended.txid, amended.cl_ord_id, amended.vol, amended.misc) == (
        order.txid,
        "entry-1",
        Decimal("0.01"),
        ("amended",),
    )
    assert engine.balance("USDT").held == Decimal("491.96")


def test_an_order_can_be_amended_by_its_cl_ord_id() -> None:
    engine = make_engine()
    order = place(engine, cl_ord_id="entry-1")
    assert amend(engine, cl_ord_id="entry-1", limit_price=48_000).price == Decimal(48_000)
    assert state(engine, order).price == Decimal(48_000)


def test_amending_below_the_executed_volume_cancels_the_remainder_and_keeps_the_fills() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.015"), per_order=None)
    order = place(engine)
    engine.set_price(BTC, Decimal(48_000), now=at(1))
    assert state(engine, order).vol_exec == Decimal("0.015")
    amended = amend(engine, now=at(2), txid=order.txid, order_qty="0.01")
    assert (amended.status, amended.vol, amended.vol_exec, amended.reason) == (
        ReportedStatus.CANCELED,
        Decimal("0.02"),
        Decimal("0.015"),
        "Amended below executed volume",
    )
    assert "amended" in amended.misc
    assert engine.balance("USDT").held == 0


def test_a_limit_price_amended_to_a_marketable_price_fills_at_once_as_taker() -> None:
    engine = make_engine()
    order = place(engine)
    amended = amend(engine, txid=order.txid, limit_price=50_100)
    assert amended.status is ReportedStatus.CLOSED
    assert amended.avg_price == Decimal(50_000)
    assert not amended.trades[0].maker


def test_a_moved_limit_fills_at_its_new_price_not_its_old_one() -> None:
    engine = make_engine()
    order = place(engine)
    amend(engine, txid=order.txid, limit_price=47_000)
    engine.set_price(BTC, Decimal(48_000), now=at(1))
    assert state(engine, order).vol_exec == 0
    engine.set_price(BTC, Decimal(46_000), now=at(2))
    assert state(engine, order).avg_price == Decimal(47_000)


def test_a_smaller_quantity_keeps_queue_priority_and_a_larger_one_loses_it() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.01"), per_order=None)
    first = place(engine)
    second = place(engine)
    amend(engine, txid=first.txid, order_qty="0.015")
    engine.set_price(BTC, Decimal(48_000), now=at(1))
    assert (state(engine, first).vol_exec, state(engine, second).vol_exec) == (
        Decimal("0.01"),
        Decimal(0),
    )
    engine.set_price(BTC, Decimal(49_500), now=at(2))
    amend(engine, now=at(2), txid=first.txid, order_qty="0.03")
    engine.set_price(BTC, Decimal(48_000), now=at(3))
    assert (state(engine, first).vol_exec, state(engine, second).vol_exec) == (
        Decimal("0.01"),
        Decimal("0.01"),
    )


def test_amending_a_stop_trigger_moves_it_and_a_crossed_trigger_fires_at_once() -> None:
    engine = make_engine()
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000)
    moved = amend(engine, txid=stop.txid, trigger_price=49_000)
    assert (moved.price, moved.stopprice, moved.triggered) == (
        Decimal(49_000),
        Decimal(49_000),
        False,
    )
    fired = amend(engine, now=at(1), txid=stop.txid, trigger_price=50_500)
    assert fired.triggered
    assert fired.status is ReportedStatus.CLOSED
    assert fired.avg_price == Decimal(50_000)


def test_the_limit_price_of_a_stop_loss_limit_is_its_price2() -> None:
    engine = make_engine()
    stop = place(
        engine, side=SELL, ordertype=OrderType.STOP_LOSS_LIMIT, price=48_000, price2=47_900
    )
    amended = amend(engine, txid=stop.txid, limit_price=47_800)
    assert (amended.price, amended.price2) == (Decimal(48_000), Decimal(47_800))


def test_a_limit_price_is_refused_for_types_without_one() -> None:
    engine = make_engine()
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000)
    assert amend_refusal(engine, txid=stop.txid, limit_price=47_000) == (
        "EGeneral:Invalid arguments:limit_price"
    )


def test_a_trigger_price_is_refused_for_a_limit_and_for_a_triggered_stop_limit() -> None:
    engine = make_engine()
    limit = place(engine)
    assert amend_refusal(engine, txid=limit.txid, trigger_price=47_000) == (
        "EGeneral:Invalid arguments:trigger_price"
    )
    stop = place(
        engine, side=SELL, ordertype=OrderType.STOP_LOSS_LIMIT, price=48_000, price2=47_000
    )
    engine.set_price(BTC, Decimal(46_000), now=at(1))
    assert state(engine, stop).triggered
    assert amend_refusal(engine, now=at(2), txid=stop.txid, trigger_price=47_500) == (
        "EGeneral:Invalid arguments:trigger_price"
    )


def test_an_amend_with_post_only_that_would_take_is_refused_and_changes_nothing() -> None:
    engine = make_engine()
    order = place(engine)
    code = amend_refusal(engine, txid=order.txid, limit_price=50_000, post_only=True)
    assert code == "EOrder:Post only order"
    assert state(engine, order).price == Decimal(49_000)
    assert state(engine, order).misc == ()


def test_an_amend_that_needs_more_funds_than_available_is_refused() -> None:
    engine = make_engine()
    order = place(engine)
    assert amend_refusal(engine, txid=order.txid, order_qty=3) == "EOrder:Insufficient funds"
    assert state(engine, order).vol == Decimal("0.02")


def test_an_unfunded_untriggered_stop_shrinks_while_a_take_profit_holds_every_coin() -> None:
    # hold_untriggered=False: the stop holds nothing, so shrinking it needs nothing either
    engine = make_engine(EngineConfig(hold_untriggered=False))
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000, volume=2)
    take = place(engine, side=SELL, volume=2, price=52_000)
    engine.set_liquidity(BTC, per_update=Decimal("0.8"), per_order=None)
    engine.set_price(BTC, Decimal(52_100), now=at(1))  # the take-profit sells 0.8 of 2
    assert (state(engine, take).vol_exec, engine.balance("BTC").total) == (
        Decimal("0.8"),
        Decimal("1.2"),
    )
    assert engine.balance("BTC").held == Decimal("1.2")  # every coin left is the target's
    shrunk = amend(engine, now=at(2), txid=stop.txid, order_qty="1.2")
    assert (shrunk.vol, shrunk.status) == (Decimal("1.2"), ReportedStatus.OPEN)
    assert engine.balance("BTC").held == Decimal("1.2")  # still unfunded until it triggers


def test_an_unfunded_untriggered_stop_is_funded_when_it_triggers_not_when_amended() -> None:
    engine = make_engine(EngineConfig(hold_untriggered=False))
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000, volume=1)
    place(engine, side=SELL, volume="1.5", price=52_000)  # a limit holds 1.5 of the 2 BTC
    grown = amend(engine, txid=stop.txid, order_qty=1)
    assert grown.vol == Decimal(1)
    engine.set_price(BTC, Decimal(47_900), now=at(1))  # it triggers: 0.5 free for 1 to sell
    fired = state(engine, stop)
    assert (fired.status, fired.reason, fired.vol_exec) == (
        ReportedStatus.CANCELED,
        "Insufficient funds",
        Decimal(0),
    )


def test_a_held_untriggered_stop_still_needs_funds_to_grow() -> None:
    engine = make_engine()  # hold_untriggered=True, as on Kraken spot
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000, volume="1.5")
    assert engine.balance("BTC").held == Decimal("1.5")
    assert amend_refusal(engine, txid=stop.txid, order_qty="2.5") == "EOrder:Insufficient funds"
    assert amend(engine, txid=stop.txid, order_qty=2).vol == Decimal(2)
    assert engine.balance("BTC").held == Decimal(2)


def test_shrinking_an_order_never_needs_more_funds_even_after_the_fees_rose() -> None:
    engine = make_engine()
    order = place(engine, volume=2, price=49_000)  # 98,000 + 0.40% = 98,392 of 100,000 held
    assert engine.balance("USDT").held == Decimal(98_392)
    engine.set_fee_rates(maker=Decimal("0.05"), taker=Decimal("0.05"))  # 1.99 now needs 102,385.5
    shrunk = amend(engine, txid=order.txid, order_qty="1.99")
    assert shrunk.vol == Decimal("1.99")
    assert engine.balance("USDT").held == Decimal(98_392)  # it never holds more than before
    assert engine.balance("USDT").available >= 0


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({}, "EGeneral:Invalid arguments"),
        ({"order_qty": "0.000000001"}, "EGeneral:Invalid arguments:order_qty"),
        ({"order_qty": 0}, "EGeneral:Invalid arguments:order_qty"),
        ({"order_qty": "0.00001"}, "EOrder:Order minimum not met"),
        (
            {"limit_price": "48000.01"},
            "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals.",
        ),
    ],
)
def test_malformed_amends_are_refused_with_kraken_strings(
    fields: dict[str, object], code: str
) -> None:
    engine = make_engine()
    order = place(engine)
    result = engine.amend_order(AmendRequest(txid=order.txid, **fields), now=T0)  # type: ignore[arg-type]  # fields by name
    assert result.failure().code == code


def test_an_amend_must_name_the_order_by_exactly_one_id() -> None:
    engine = make_engine()
    order = place(engine, cl_ord_id="entry-1")
    assert amend_refusal(engine, order_qty=1) == "EGeneral:Invalid arguments"
    assert amend_refusal(engine, txid=order.txid, cl_ord_id="entry-1", order_qty=1) == (
        "EGeneral:Invalid arguments"
    )


# --------------------------------------------------------------------------- cancel
def test_a_canceled_order_releases_its_hold_and_moves_to_closed_orders() -> None:
    engine = make_engine()
    order = place(engine)
    ack = engine.cancel_order(txid=order.txid, now=at(1)).unwrap()
    assert (ack.count, ack.pending, ack.txids) == (1, False, (order.txid,))
    canceled = state(engine, order)
    assert (canceled.status, canceled.reason, canceled.closetm) == (
        ReportedStatus.CANCELED,
        "User requested",
        at(1),
    )
    assert engine.balance("USDT").held == 0
    assert engine.open_orders() == {}
    assert list(engine.closed_orders()) == [order.txid]


def test_a_partially_filled_order_keeps_its_fills_when_canceled() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.005"), per_order=None)
    order = place(engine)
    engine.set_price(BTC, Decimal(48_000), now=at(1))
    engine.cancel_order(txid=order.txid, now=at(2)).unwrap()
    canceled = state(engine, order)
    assert (canceled.status, canceled.vol_exec, canceled.cost) == (
        ReportedStatus.CANCELED,
        Decimal("0.005"),
        Decimal(245),
    )


def test_cancel_by_cl_ord_id_and_by_userref() -> None:
    engine = make_engine()
    by_client = place(engine, cl_ord_id="entry-1")
    tagged = [place(engine, userref=7), place(engine, userref=7)]
    other = place(engine, userref=8)
    assert engine.cancel_order(cl_ord_id="entry-1", now=T0).unwrap().count == 1
    ack = engine.cancel_order(userref=7, now=T0).unwrap()
    assert (ack.count, set(ack.txids)) == (2, {o.txid for o in tagged})
    assert state(engine, by_client).status is ReportedStatus.CANCELED
    assert list(engine.open_orders()) == [other.txid]


def test_a_cancel_must_name_exactly_one_kind_of_id() -> None:
    engine = make_engine()
    order = place(engine)
    assert engine.cancel_order(now=T0).failure().code == "EGeneral:Invalid arguments"
    both = engine.cancel_order(txid=order.txid, userref=1, now=T0)
    assert both.failure().code == "EGeneral:Invalid arguments"


def test_cancel_all_cancels_every_open_order_including_untriggered_stops() -> None:
    engine = make_engine()
    orders = [
        place(engine),
        place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_000),
        place(engine, side=SELL, price=51_000),
    ]
    ack = engine.cancel_all(now=at(1))
    assert ack.count == 3
    assert {state(engine, o).status for o in orders} == {ReportedStatus.CANCELED}
    assert engine.balance("USDT").held == 0
    assert engine.balance("BTC").held == 0
    assert engine.cancel_all(now=at(2)).count == 0


# --------------------------------------------------------------------------- dead man's switch
def test_the_dead_mans_switch_cancels_everything_when_its_time_passes() -> None:
    engine = make_engine()
    order = place(engine)
    switch = engine.cancel_all_after(60, now=T0).unwrap()
    assert (switch.current_time, switch.trigger_time) == (T0, at(60))
    engine.set_price(BTC, Decimal(49_500), now=at(59))
    assert state(engine, order).status is ReportedStatus.OPEN
    engine.set_price(BTC, Decimal(49_500), now=at(61))
    canceled = state(engine, order)
    assert (canceled.status, canceled.reason, canceled.closetm) == (
        ReportedStatus.CANCELED,
        "Dead man's switch",
        at(60),
    )
    assert engine.dead_mans_switch() is None
    later = place(engine, now=at(200))
    engine.advance(at(500))
    assert state(engine, later).status is ReportedStatus.OPEN


def test_renewing_the_dead_mans_switch_pushes_its_time_back() -> None:
    engine = make_engine()
    order = place(engine)
    engine.cancel_all_after(60, now=T0).unwrap()
    engine.cancel_all_after(60, now=at(30)).unwrap()
    engine.advance(at(89))
    assert state(engine, order).status is ReportedStatus.OPEN
    engine.advance(at(90))
    assert state(engine, order).status is ReportedStatus.CANCELED


def test_a_zero_timeout_disables_the_dead_mans_switch() -> None:
    engine = make_engine()
    order = place(engine)
    engine.cancel_all_after(60, now=T0).unwrap()
    assert engine.cancel_all_after(0, now=at(10)).unwrap().trigger_time is None
    engine.advance(at(1000))
    assert state(engine, order).status is ReportedStatus.OPEN


@pytest.mark.parametrize("timeout", [-1, 86_400])
def test_a_timeout_outside_zero_to_a_day_is_refused(timeout: int) -> None:
    result = make_engine().cancel_all_after(timeout, now=T0)
    assert result.failure().code == "EGeneral:Invalid arguments:timeout"


def test_orders_due_to_expire_before_the_switch_fires_expire_rather_than_cancel() -> None:
    engine = make_engine()
    gtd = place(engine, timeinforce="GTD", expiretm=at(30))
    engine.cancel_all_after(60, now=T0).unwrap()
    engine.advance(at(100))
    assert state(engine, gtd).status is ReportedStatus.EXPIRED


# --------------------------------------------------------------------------- queries
def test_query_orders_answers_a_batch_of_open_and_closed_orders_in_request_order() -> None:
    engine = make_engine()
    open_order = place(engine)
    closed = place(engine, ordertype=OrderType.MARKET, price=None)
    found = engine.query_orders([closed.txid, open_order.txid, closed.txid]).unwrap()
    assert list(found) == [closed.txid, open_order.txid]
    assert found[closed.txid].status is ReportedStatus.CLOSED
    assert found[open_order.txid].status is ReportedStatus.OPEN


def test_query_orders_refuses_an_empty_or_oversized_batch() -> None:
    engine = make_engine()
    assert engine.query_orders([]).failure().code == "EGeneral:Invalid arguments"
    ids = [place(engine, volume="0.0001", now=at(i)).txid for i in range(51)]
    assert engine.query_orders(ids).failure().code == "EGeneral:Invalid arguments"
    assert len(engine.query_orders(ids[:50]).unwrap()) == 50


def test_find_order_looks_among_open_and_closed_orders() -> None:
    engine = make_engine()
    assert engine.find_order("entry-1") is None
    first = place(engine, cl_ord_id="entry-1")
    assert engine.find_order("entry-1") == state(engine, first)
    engine.cancel_order(txid=first.txid, now=at(1)).unwrap()
    found = engine.find_order("entry-1")
    assert found is not None
    assert (found.txid, found.status) == (first.txid, ReportedStatus.CANCELED)
    second = place(engine, now=at(2), cl_ord_id="entry-1")
    assert engine.find_order("entry-1") == state(engine, second)
    engine.cancel_order(txid=second.txid, now=at(3)).unwrap()
    latest = engine.find_order("entry-1")
    assert latest is not None
    assert latest.txid == second.txid


def test_open_orders_are_listed_oldest_first_and_filter_by_userref_and_cl_ord_id() -> None:
    engine = make_engine()
    a = place(engine, userref=1)
    b = place(engine, cl_ord_id="b")
    c = place(engine, userref=1)
    assert list(engine.open_orders()) == [a.txid, b.txid, c.txid]
    assert list(engine.open_orders(userref=1)) == [a.txid, c.txid]
    assert list(engine.open_orders(cl_ord_id="b")) == [b.txid]
    assert engine.open_orders(cl_ord_id="zzz") == {}


def test_closed_orders_are_listed_most_recent_first_and_can_be_paged_and_filtered() -> None:
    engine = make_engine()
    orders = [place(engine, userref=i % 2, now=at(i)) for i in range(5)]
    for i, order in enumerate(orders):
        engine.cancel_order(txid=order.txid, now=at(10 + i)).unwrap()
    newest_first = [o.txid for o in reversed(orders)]
    assert list(engine.closed_orders()) == newest_first
    assert list(engine.closed_orders(offset=1, limit=2)) == newest_first[1:3]
    assert list(engine.closed_orders(userref=1)) == [orders[3].txid, orders[1].txid]
    assert engine.closed_count() == 5


def test_the_trade_history_is_newest_first_and_trades_can_be_queried_by_id() -> None:
    engine = make_engine()
    first = place(engine, ordertype=OrderType.MARKET, price=None)
    second = place(engine, side=SELL, ordertype=OrderType.MARKET, price=None, now=at(1))
    history = engine.trades_history()
    assert [t.ordertxid for t in history] == [second.txid, first.txid]
    assert [t.trade_id for t in history] == [2, 1]
    assert engine.trades_history(offset=1) == history[1:]
    ids = [t.txid for t in history]
    assert list(engine.query_trades(ids).unwrap()) == ids
    assert engine.trade(ids[0]) == history[0]
    assert engine.query_trades(["TAAAAA-BBBBB-CCCCCC"]).failure().code == (
        "EGeneral:Invalid arguments:txid"
    )


# --------------------------------------------------------------------------- rate counter
def test_the_rate_counter_matches_the_worked_example_add_amend_at_7s_cancel_36s_later() -> None:
    engine = make_engine(EngineConfig(tier=NO_DECAY))
    order = place(engine)
    assert engine.rate_counter(BTC) == 1
    amend(engine, now=at(7), txid=order.txid, order_qty="0.01")
    assert engine.rate_counter(BTC) == 4  # +1 fixed, +2 for an order under 10 s old
    engine.cancel_order(txid=order.txid, now=at(43)).unwrap()
    assert engine.rate_counter(BTC) == 8  # +4 for an order 36 s past its last amend


def test_the_rate_counter_decays_at_the_tier_rate_and_never_below_zero() -> None:
    engine = make_engine()  # Starter: -1 per second
    order = place(engine)
    amend(engine, now=at(7), txid=order.txid, order_qty="0.01")
    assert engine.rate_counter(BTC) == 3  # 1 decayed to 0, then +3
    assert engine.rate_counter(BTC, now=at(8.5)) == Decimal("1.5")
    engine.cancel_order(txid=order.txid, now=at(43)).unwrap()
    assert engine.rate_counter(BTC) == 4


def test_a_cancel_of_an_order_five_minutes_old_costs_nothing() -> None:
    engine = make_engine(EngineConfig(tier=NO_DECAY))
    order = place(engine)
    engine.cancel_order(txid=order.txid, now=at(300)).unwrap()
    assert engine.rate_counter(BTC) == 1


def test_adds_over_the_threshold_are_refused_until_the_counter_decays() -> None:
    engine = make_engine()
    for _ in range(60):
        place(engine, volume="0.0001")
    assert engine.rate_counter(BTC) == 60
    refused = engine.add_order(request(volume="0.0001"), now=T0)
    assert refused.failure().code == "EOrder:Rate limit exceeded"
    assert engine.rate_counter(BTC) == 61
    assert engine.open_order_count(BTC) == 60
    engine.cancel_order(txid=next(iter(engine.open_orders())), now=at(600)).unwrap()
    assert place(engine, volume="0.0001", now=at(600)).status is ReportedStatus.OPEN


def test_the_counter_is_per_pair() -> None:
    engine = make_engine()
    engine.deposit("XRP", Decimal(1000))
    for _ in range(60):
        place(engine, volume="0.0001")
    assert place(engine, pair="XRP/USDT", volume=10, price="0.4").status is ReportedStatus.OPEN
    assert engine.rate_counter("XRP/USDT") == 1


def test_a_request_that_fails_validation_still_pays_its_fixed_cost() -> None:
    engine = make_engine()
    for _ in range(3):
        assert engine.add_order(request(volume="0.00001"), now=T0).failure().code == (
            "EOrder:Order minimum not met"
        )
    assert engine.rate_counter(BTC) == 3


def test_amends_over_the_threshold_are_refused_but_cancels_are_accepted() -> None:
    engine = make_engine(
        EngineConfig(
            tier=RateTier(
                name="Tight", decay_per_second=Decimal(0), threshold=Decimal(4), max_open_orders=9
            )
        )
    )
    order = place(engine)
    assert amend_refusal(engine, txid=order.txid, order_qty="0.01") == (
        "EOrder:Rate limit exceeded"
    )
    assert engine.cancel_order(txid=order.txid, now=T0).unwrap().count == 1
    assert engine.rate_counter(BTC) == 1 + 4 + 8


def test_cancels_over_the_threshold_can_be_refused_by_configuration() -> None:
    tight = RateTier(
        name="Tight", decay_per_second=Decimal(0), threshold=Decimal(5), max_open_orders=9
    )
    engine = make_engine(EngineConfig(tier=tight, reject_cancels_over_limit=True))
    order = place(engine)
    assert engine.cancel_order(txid=order.txid, now=T0).failure().code == (
        "EOrder:Rate limit exceeded"
    )
    assert state(engine, order).status is ReportedStatus.OPEN


def test_the_rate_limit_can_be_switched_off_while_the_counter_still_counts() -> None:
    engine = make_engine(EngineConfig(enforce_rate_limit=False))
    for _ in range(60):
        place(engine, volume="0.0001")
    engine.cancel_all(now=T0)
    for _ in range(10):
        place(engine, volume="0.0001")
    assert engine.rate_counter(BTC) == 60 + 60 * 8 + 10


# --------------------------------------------------------------------------- determinism
def scripted_run(engine: PaperEngine) -> tuple[object, ...]:
    engine.set_liquidity(BTC, per_update=Decimal("0.01"), per_order=None)
    place(engine)
    place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=48_500)
    place(engine, ordertype=OrderType.MARKET, price=None, volume="0.005")
    engine.set_price(BTC, Decimal(48_000), now=at(1))
    engine.set_price(BTC, Decimal(47_000), now=at(2))
    return (
        tuple(engine.closed_orders().values()),
        tuple(engine.open_orders().values()),
        engine.trades_history(),
        engine.balances(),
    )


def test_the_same_seed_and_calls_give_the_same_ids_and_results() -> None:
    assert scripted_run(make_engine(seed=42)) == scripted_run(make_engine(seed=42))


def test_a_passed_in_random_generator_is_the_only_source_of_ids() -> None:
    first = PaperEngine(default_instruments(), rng=random.Random(5))  # noqa: S311 - ids only
    second = PaperEngine(default_instruments(), seed=5)
    for engine in (first, second):
        engine.deposit("USDT", Decimal(1000))
    a = first.add_order(request(volume="0.001"), now=T0).unwrap().txid
    b = second.add_order(request(volume="0.001"), now=T0).unwrap().txid
    assert a == b


def test_different_seeds_give_different_ids_in_kraken_format() -> None:
    ids = {make_engine(seed=seed).add_order(request(), now=T0).unwrap().txid for seed in range(20)}
    assert len(ids) == 20
    assert all(txid is not None and KRAKEN_ID.fullmatch(txid) for txid in ids)


def test_trade_ids_are_kraken_format_and_unique() -> None:
    engine = make_engine()
    for i in range(20):
        place(engine, ordertype=OrderType.MARKET, price=None, volume="0.001", now=at(i))
    ids = [t.txid for t in engine.trades_history()]
    assert len(set(ids)) == 20
    assert all(KRAKEN_ID.fullmatch(txid) and txid[0] == "T" for txid in ids)


def test_fill_against_fills_part_of_a_resting_order_and_settles_it() -> None:
    engine = make_engine()
    order = place(engine)
    usdt_before = engine.balance("USDT").total

    trade = engine.fill_against(order.txid, Decimal("0.005"), price=Decimal(49_000), now=at(1))

    info = engine.order(order.txid)
    assert info is not None
    assert trade.unwrap().vol == Decimal("0.005")
    assert info.vol_exec == Decimal("0.005")
    assert info.status is ReportedStatus.OPEN
    maker_fee = Decimal("0.005") * Decimal(49_000) * Decimal("0.0025")
    assert engine.balance("USDT").total == usdt_before - Decimal(245) - maker_fee


def test_fill_against_an_unknown_or_closed_order_is_an_unknown_order() -> None:
    engine = make_engine()
    order = place(engine)
    engine.cancel_order(now=at(1), txid=order.txid).unwrap()

    closed = engine.fill_against(order.txid, Decimal("0.005"), price=Decimal(49_000), now=at(2))
    unknown = engine.fill_against("OAAAAA-BBBBB-CCCCCC", Decimal(1), price=Decimal(1), now=at(2))

    assert closed.failure().code == "EOrder:Unknown order"
    assert unknown.failure().code == "EOrder:Unknown order"
