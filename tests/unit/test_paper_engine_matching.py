"""PaperEngine matching: each order type's trigger and execution, partial fills, IOC, GTD, fees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.memory import EngineConfig, OrderInfo, OrderRequest, PaperEngine
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    TimeInForce,
)
from execution_core.domain.instruments import default_instruments
from execution_core.ports import ReportedStatus

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL
BTC = "BTC/USDT"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_engine(config: EngineConfig | None = None) -> PaperEngine:
    engine = PaperEngine(default_instruments(), seed=11, config=config)
    engine.deposit("USDT", Decimal(100_000))
    engine.deposit("BTC", Decimal(2))
    engine.set_price(BTC, Decimal(50_000), now=T0)
    return engine


def place(engine: PaperEngine, now: datetime = T0, **fields: object) -> OrderInfo:
    defaults: dict[str, object] = {
        "pair": BTC,
        "side": BUY,
        "ordertype": OrderType.LIMIT,
        "volume": Decimal("0.01"),
    }
    defaults.update(fields)
    request = OrderRequest(**defaults)  # type: ignore[arg-type]  # test helper: fields by name
    order = engine.add_order(request, now=now).unwrap().order
    assert order is not None
    return order


def state(engine: PaperEngine, order: OrderInfo) -> OrderInfo:
    current = engine.order(order.txid)
    assert current is not None
    return current


def move(engine: PaperEngine, price: str, seconds: float = 1, **bar: Decimal) -> None:
    engine.set_price(BTC, Decimal(price), now=at(seconds), **bar)


# --------------------------------------------------------------------------- market and limit
def test_a_market_buy_fills_at_once_at_the_current_price_as_taker() -> None:
    engine = make_engine()
    order = place(engine, ordertype=OrderType.MARKET)
    assert order.status is ReportedStatus.CLOSED
    assert (order.vol_exec, order.cost, order.fee, order.avg_price) == (
        Decimal("0.01"),
        Decimal(500),
        Decimal(2),
        Decimal(50_000),
    )
    assert order.closetm == T0
    assert len(order.trades) == 1
    assert not order.trades[0].maker
    assert engine.balance("USDT").total == Decimal(99_498)
    assert engine.balance("BTC").total == Decimal("2.01")


def test_a_market_sell_receives_the_cost_minus_the_quote_fee() -> None:
    engine = make_engine()
    order = place(engine, side=SELL, ordertype=OrderType.MARKET)
    assert order.status is ReportedStatus.CLOSED
    assert engine.balance("USDT").total == Decimal(100_498)
    assert engine.balance("BTC").total == Decimal("1.99")


def test_a_limit_buy_below_the_market_rests_until_the_price_reaches_it() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000))
    move(engine, "49000.1")
    assert state(engine, order).vol_exec == 0
    move(engine, "49000", seconds=2)
    filled = state(engine, order)
    assert filled.status is ReportedStatus.CLOSED
    assert filled.avg_price == Decimal(49_000)
    assert filled.trades[0].maker


def test_a_resting_limit_buy_fills_at_its_own_price_when_the_market_jumps_through_it() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000))
    move(engine, "48000")
    filled = state(engine, order)
    assert filled.avg_price == Decimal(49_000)
    assert filled.cost == Decimal(490)
    assert filled.fee == Decimal("1.225")  # 0.25% maker
    assert engine.balance("USDT").total == Decimal("99508.775")
    assert engine.balance("USDT").held == 0
    assert engine.balance("BTC").total == Decimal("2.01")


def test_a_limit_sell_above_the_market_fills_as_maker_when_the_price_rises_to_it() -> None:
    engine = make_engine()
    order = place(engine, side=SELL, price=Decimal(51_000))
    assert engine.balance("BTC").held == Decimal("0.01")
    move(engine, "50999.9")
    assert state(engine, order).vol_exec == 0
    move(engine, "52000", seconds=2)
    filled = state(engine, order)
    assert (filled.status, filled.avg_price, filled.fee) == (
        ReportedStatus.CLOSED,
        Decimal(51_000),
        Decimal("1.275"),
    )
    assert engine.balance("BTC").total == Decimal("1.99")
    assert engine.balance("BTC").held == 0
    assert engine.balance("USDT").total == Decimal("100508.725")


def test_a_marketable_limit_buy_fills_at_once_as_taker_at_the_better_current_price() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(51_000))
    assert order.status is ReportedStatus.CLOSED
    assert order.avg_price == Decimal(50_000)
    assert order.fee == Decimal(2)
    assert not order.trades[0].maker


def test_a_limit_order_placed_before_any_price_rests_and_fills_on_the_first_crossing_price() -> (
    None
):
    engine = PaperEngine(default_instruments(), seed=1)
    engine.deposit("USDT", Decimal(1000))
    order = place(engine, price=Decimal(49_000))
    assert order.status is ReportedStatus.OPEN
    engine.set_price(BTC, Decimal(48_500), now=at(1))
    assert state(engine, order).avg_price == Decimal(49_000)


def test_a_bar_low_touching_a_resting_buy_fills_it_even_if_the_bar_closes_above() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000))
    move(engine, "50200", low=Decimal(48_900), high=Decimal(50_500))
    assert state(engine, order).vol_exec == Decimal("0.01")


# --------------------------------------------------------------------------- triggers
def test_a_stop_loss_sell_rests_untriggered_until_the_price_falls_to_it() -> None:
    engine = make_engine()
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=Decimal(48_000))
    assert stop.status is ReportedStatus.OPEN
    assert not stop.triggered
    assert stop.stopprice == Decimal(48_000)
    assert engine.balance("BTC").held == Decimal("0.01")
    move(engine, "48000.1")
    assert not state(engine, stop).triggered
    move(engine, "47000", seconds=2)
    fired = state(engine, stop)
    assert fired.status is ReportedStatus.CLOSED
    assert fired.triggered
    assert fired.misc == ("stopped",)
    assert fired.avg_price == Decimal(47_000)  # a gap: executed as a market order at the new price
    assert fired.fee == Decimal("1.88")
    assert not fired.trades[0].maker


def test_a_stop_loss_sell_touched_inside_a_bar_executes_at_its_trigger() -> None:
    engine = make_engine()
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=Decimal(48_000))
    move(engine, "47500", low=Decimal(47_000), high=Decimal(50_000))
    assert state(engine, stop).avg_price == Decimal(48_000)


def test_a_stop_loss_buy_triggers_when_the_price_rises_to_it() -> None:
    engine = make_engine()
    stop = place(engine, ordertype=OrderType.STOP_LOSS, price=Decimal(52_000))
    move(engine, "51999.9")
    assert not state(engine, stop).triggered
    move(engine, "53000", seconds=2)
    assert state(engine, stop).avg_price == Decimal(53_000)
    assert state(engine, stop).misc == ("stopped",)


def test_a_take_profit_sell_triggers_when_the_price_rises_to_it() -> None:
    engine = make_engine()
    take = place(engine, side=SELL, ordertype=OrderType.TAKE_PROFIT, price=Decimal(52_000))
    move(engine, "47000")
    assert not state(engine, take).triggered
    move(engine, "52500", seconds=2)
    fired = state(engine, take)
    assert (fired.status, fired.avg_price, fired.misc) == (
        ReportedStatus.CLOSED,
        Decimal(52_500),
        ("touched",),
    )


def test_a_take_profit_buy_triggers_when_the_price_falls_to_it() -> None:
    engine = make_engine()
    take = place(engine, ordertype=OrderType.TAKE_PROFIT, price=Decimal(48_000))
    move(engine, "53000")
    assert not state(engine, take).triggered
    move(engine, "48000", seconds=2)
    assert state(engine, take).avg_price == Decimal(48_000)


def test_a_stop_already_crossed_when_placed_triggers_at_once() -> None:
    engine = make_engine()
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=Decimal(51_000))
    assert stop.triggered
    assert stop.status is ReportedStatus.CLOSED
    assert stop.avg_price == Decimal(50_000)


def test_a_stop_loss_limit_sell_becomes_a_limit_at_price2_and_takes_when_marketable() -> None:
    engine = make_engine()
    stop = place(
        engine,
        side=SELL,
        ordertype=OrderType.STOP_LOSS_LIMIT,
        price=Decimal(48_000),
        price2=Decimal(47_900),
    )
    assert stop.limitprice == Decimal(47_900)
    move(engine, "47950")
    fired = state(engine, stop)
    assert fired.status is ReportedStatus.CLOSED
    assert fired.avg_price == Decimal(47_950)
    assert not fired.trades[0].maker


def test_a_stop_loss_limit_gapped_past_its_limit_rests_and_later_fills_as_maker() -> None:
    engine = make_engine()
    stop = place(
        engine,
        side=SELL,
        ordertype=OrderType.STOP_LOSS_LIMIT,
        price=Decimal(48_000),
        price2=Decimal(47_900),
    )
    move(engine, "47000")
    resting = state(engine, stop)
    assert (resting.status, resting.triggered, resting.vol_exec) == (
        ReportedStatus.OPEN,
        True,
        Decimal(0),
    )
    move(engine, "48000", seconds=2)
    filled = state(engine, stop)
    assert filled.avg_price == Decimal(47_900)
    assert filled.trades[0].maker


def test_a_take_profit_limit_buy_triggers_on_a_fall_and_takes_below_its_limit() -> None:
    engine = make_engine()
    take = place(
        engine,
        ordertype=OrderType.TAKE_PROFIT_LIMIT,
        price=Decimal(48_000),
        price2=Decimal(48_100),
    )
    move(engine, "47500")
    fired = state(engine, take)
    assert fired.misc == ("touched",)
    assert fired.avg_price == Decimal(47_500)


def test_an_untriggered_stop_can_be_left_unfunded_until_it_triggers() -> None:
    engine = make_engine(EngineConfig(hold_untriggered=False))
    stop = place(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=Decimal(48_000), volume=2)
    take = place(
        engine, side=SELL, ordertype=OrderType.TAKE_PROFIT, price=Decimal(52_000), volume=2
    )
    assert engine.balance("BTC").held == 0
    move(engine, "47000")
    assert state(engine, stop).status is ReportedStatus.CLOSED
    assert engine.balance("BTC").total == 0
    move(engine, "53000", seconds=2)
    canceled = state(engine, take)
    assert (canceled.status, canceled.reason, canceled.vol_exec) == (
        ReportedStatus.CANCELED,
        "Insufficient funds",
        Decimal(0),
    )


# --------------------------------------------------------------------------- liquidity
def test_limited_liquidity_fills_a_resting_order_over_several_updates() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(engine, price=Decimal(49_000), volume=Decimal(1))
    fills = []
    for second, price in enumerate(["48000", "48500", "48900", "48800"], start=1):
        move(engine, price, seconds=second)
        current = state(engine, order)
        fills.append((current.status, current.vol_exec))
    assert fills == [
        (ReportedStatus.OPEN, Decimal("0.3")),
        (ReportedStatus.OPEN, Decimal("0.6")),
        (ReportedStatus.OPEN, Decimal("0.9")),
        (ReportedStatus.CLOSED, Decimal("1.0")),
    ]
    done = state(engine, order)
    assert [t.vol for t in done.trades] == [Decimal("0.3")] * 3 + [Decimal("0.1")]
    assert done.avg_price == Decimal(49_000)
    assert engine.balance("USDT").held == 0


def test_a_partially_filled_resting_order_is_open_with_cumulative_cost_and_fee() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(engine, price=Decimal(49_000), volume=Decimal(1))
    move(engine, "48000")
    partial = state(engine, order)
    assert (partial.status, partial.cost, partial.fee, partial.remaining) == (
        ReportedStatus.OPEN,
        Decimal(14_700),
        Decimal("36.75"),
        Decimal("0.7"),
    )
    # the hold shrinks with the remainder: 0.7 x 49000 x 1.004
    assert engine.balance("USDT").held == Decimal("34437.2")


def test_the_update_budget_goes_to_the_best_price_first_then_to_the_oldest_order() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    low = place(engine, price=Decimal(49_000), volume=Decimal("0.2"))
    high = place(engine, price=Decimal(49_500), volume=Decimal("0.2"))
    later_low = place(engine, price=Decimal(49_000), volume=Decimal("0.2"))
    move(engine, "48000")
    assert state(engine, high).vol_exec == Decimal("0.2")
    assert state(engine, low).vol_exec == Decimal("0.1")
    assert state(engine, later_low).vol_exec == 0


def test_a_per_order_cap_spreads_an_update_over_every_crossing_order() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=None, per_order=Decimal("0.1"))
    first = place(engine, price=Decimal(49_000), volume=Decimal("0.25"))
    second = place(engine, price=Decimal(49_000), volume=Decimal("0.25"))
    move(engine, "48000")
    assert (state(engine, first).vol_exec, state(engine, second).vol_exec) == (
        Decimal("0.1"),
        Decimal("0.1"),
    )
    move(engine, "48000", seconds=2)
    move(engine, "48000", seconds=3)
    assert state(engine, first).vol_exec == Decimal("0.25")
    assert state(engine, second).status is ReportedStatus.CLOSED


def test_a_market_order_without_enough_liquidity_keeps_executing_at_later_prices() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(engine, ordertype=OrderType.MARKET, volume=Decimal("0.5"))
    assert (order.status, order.vol_exec) == (ReportedStatus.OPEN, Decimal("0.3"))
    move(engine, "50100")
    done = state(engine, order)
    assert done.status is ReportedStatus.CLOSED
    assert [(t.vol, t.price) for t in done.trades] == [
        (Decimal("0.3"), Decimal(50_000)),
        (Decimal("0.2"), Decimal(50_100)),
    ]
    assert done.avg_price == Decimal(50_040)


def test_immediate_executions_between_updates_share_the_update_budget() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    first = place(engine, ordertype=OrderType.MARKET, volume=Decimal("0.2"))
    second = place(engine, ordertype=OrderType.MARKET, volume=Decimal("0.2"))
    assert (first.vol_exec, second.vol_exec) == (Decimal("0.2"), Decimal("0.1"))


def test_a_marketable_limit_remainder_stops_taking_once_the_price_moves_past_its_limit() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(engine, price=Decimal(50_500), volume=Decimal("0.5"))
    assert order.vol_exec == Decimal("0.3")
    move(engine, "51000")
    assert state(engine, order).vol_exec == Decimal("0.3")
    move(engine, "50200", seconds=2)
    done = state(engine, order)
    assert done.status is ReportedStatus.CLOSED
    assert done.trades[-1].price == Decimal(50_500)
    assert done.trades[-1].maker


# --------------------------------------------------------------------------- IOC and GTD
def test_an_ioc_remainder_is_canceled_and_its_fills_are_kept() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(engine, price=Decimal(51_000), volume=Decimal("0.5"), timeinforce=TimeInForce.IOC)
    assert (order.status, order.vol_exec, order.reason) == (
        ReportedStatus.CANCELED,
        Decimal("0.3"),
        "IOC remainder",
    )
    assert engine.balance("USDT").held == 0
    assert engine.open_order_count() == 0


def test_an_ioc_market_order_remainder_is_canceled_too() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(
        engine, ordertype=OrderType.MARKET, volume=Decimal("0.5"), timeinforce=TimeInForce.IOC
    )
    assert (order.status, order.vol_exec) == (ReportedStatus.CANCELED, Decimal("0.3"))


def test_a_fully_filled_ioc_order_is_closed() -> None:
    order = place(make_engine(), price=Decimal(51_000), timeinforce=TimeInForce.IOC)
    assert (order.status, order.vol_exec, order.reason) == (
        ReportedStatus.CLOSED,
        Decimal("0.01"),
        None,
    )


def test_an_ioc_limit_that_cannot_take_is_canceled_unfilled() -> None:
    order = place(make_engine(), price=Decimal(49_000), timeinforce=TimeInForce.IOC)
    assert (order.status, order.vol_exec) == (ReportedStatus.CANCELED, Decimal(0))


def test_a_gtd_order_expires_when_now_reaches_expiretm() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000), timeinforce=TimeInForce.GTD, expiretm=at(10))
    engine.advance(at(9.999))
    assert state(engine, order).status is ReportedStatus.OPEN
    engine.advance(at(10))
    expired = state(engine, order)
    assert (expired.status, expired.reason, expired.closetm) == (
        ReportedStatus.EXPIRED,
        "Expired",
        at(10),
    )
    assert engine.balance("USDT").held == 0
    assert engine.closed_orders() == {order.txid: expired}


def test_a_gtd_order_keeps_its_partial_fills_when_it_expires() -> None:
    engine = make_engine()
    engine.set_liquidity(BTC, per_update=Decimal("0.3"), per_order=None)
    order = place(
        engine,
        price=Decimal(49_000),
        volume=Decimal(1),
        timeinforce=TimeInForce.GTD,
        expiretm=at(10),
    )
    move(engine, "48000", seconds=5)
    move(engine, "48000", seconds=10)
    expired = state(engine, order)
    assert (expired.status, expired.vol_exec) == (ReportedStatus.EXPIRED, Decimal("0.3"))


def test_an_order_expires_before_an_update_at_its_expiry_time_can_fill_it() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000), timeinforce=TimeInForce.GTD, expiretm=at(10))
    move(engine, "48000", seconds=10)
    assert state(engine, order).status is ReportedStatus.EXPIRED
    assert engine.trade_count() == 0


# --------------------------------------------------------------------------- fees
def test_a_buy_with_the_fee_in_base_receives_the_volume_minus_the_fee() -> None:
    engine = make_engine()
    order = place(engine, ordertype=OrderType.MARKET, oflags="fcib")
    assert (order.fee, order.fee_currency) == (Decimal("0.00004"), FeeCurrency.BASE)
    assert engine.balance("BTC").total == Decimal("2.00996")
    assert engine.balance("USDT").total == Decimal(99_500)


def test_a_sell_with_the_fee_in_base_delivers_the_volume_plus_the_fee() -> None:
    engine = make_engine()
    order = place(engine, side=SELL, ordertype=OrderType.MARKET, oflags="fcib")
    assert order.fee == Decimal("0.00004")
    assert engine.balance("BTC").total == Decimal("1.98996")
    assert engine.balance("USDT").total == Decimal(100_500)


def test_fciq_is_the_default_and_is_reported_in_oflags() -> None:
    order = place(make_engine(), side=SELL, ordertype=OrderType.MARKET)
    assert order.oflags == ("fciq",)
    assert order.fee_currency is FeeCurrency.QUOTE


def test_an_account_fee_override_replaces_the_instrument_rates() -> None:
    engine = make_engine()
    engine.set_fee_rates(maker=Decimal(0), taker=Decimal("0.001"))
    assert place(engine, ordertype=OrderType.MARKET).fee == Decimal("0.5")
    engine.set_fee_rates(maker=Decimal(0), taker=Decimal("0.002"), symbol=BTC)
    assert place(engine, ordertype=OrderType.MARKET).fee == Decimal(1)
    assert engine.fee_rates("XRP/USDT") == (Decimal(0), Decimal("0.001"))


def test_fees_are_rounded_half_up_to_the_configured_decimals() -> None:
    engine = make_engine(EngineConfig(fee_decimals=2))
    order = place(engine, price=Decimal(49_000))
    move(engine, "48000")
    assert state(engine, order).fee == Decimal("1.23")  # 490 x 0.25% = 1.225


def test_reports_carry_the_fills_for_the_exchange_port() -> None:
    engine = make_engine()
    order = place(engine, price=Decimal(49_000), cl_ord_id="entry-1")
    move(engine, "48000")
    report = state(engine, order).to_report()
    assert report.exchange_order_id == order.txid
    assert report.client_order_id == "entry-1"
    assert (report.status, report.filled_size, report.filled_cost, report.fee) == (
        ReportedStatus.CLOSED,
        Decimal("0.01"),
        Decimal(490),
        Decimal("1.225"),
    )
    assert report.limit_price == Decimal(49_000)
    assert report.trigger_price is None
    assert report.closed_at == at(1)
    (trade,) = report.trades
    assert (trade.quantity, trade.price, trade.liquidity, trade.timestamp) == (
        Decimal("0.01"),
        Decimal(49_000),
        LiquidityRole.MAKER,
        at(1),
    )


def test_a_stop_limit_report_separates_trigger_and_limit() -> None:
    engine = make_engine()
    stop = place(
        engine,
        side=SELL,
        ordertype=OrderType.STOP_LOSS_LIMIT,
        price=Decimal(48_000),
        price2=Decimal(47_900),
    )
    report = stop.to_report()
    assert (report.trigger_price, report.limit_price) == (Decimal(48_000), Decimal(47_900))
