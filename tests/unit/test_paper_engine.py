"""PaperEngine: what it accepts, and Kraken's exact error string for everything it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from adapters.memory import (
    STARTER,
    AmendRequest,
    EngineConfig,
    OrderInfo,
    OrderRequest,
    PaperEngine,
    RateTier,
    Reason,
)
from execution_core.domain.enums import OrderSide, OrderType, SymbolStatus, TimeInForce
from execution_core.domain.instruments import BTC_USDT, XRP_USDT, default_instruments
from execution_core.ports import ReportedStatus

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_engine(config: EngineConfig | None = None) -> PaperEngine:
    engine = PaperEngine(default_instruments(), seed=7, config=config)
    engine.deposit("USDT", Decimal(100_000))
    engine.deposit("BTC", Decimal(2))
    engine.deposit("XRP", Decimal(10_000))
    engine.set_price("BTC/USDT", Decimal(50_000), now=T0)
    engine.set_price("XRP/USDT", Decimal("0.5"), now=T0)
    return engine


def request(**fields: object) -> OrderRequest:
    defaults: dict[str, object] = {
        "pair": "BTC/USDT",
        "side": BUY,
        "ordertype": OrderType.LIMIT,
        "volume": Decimal("0.01"),
        "price": Decimal(49_000),
    }
    defaults.update(fields)
    return OrderRequest(**defaults)  # type: ignore[arg-type]  # test helper: fields by name


def refusal(engine: PaperEngine, now: datetime = T0, **fields: object) -> str:
    return engine.add_order(request(**fields), now=now).failure().code


def place(engine: PaperEngine, now: datetime = T0, **fields: object) -> OrderInfo:
    order = engine.add_order(request(**fields), now=now).unwrap().order
    assert order is not None
    return order


# --------------------------------------------------------------------------- accepted
def test_a_limit_buy_below_the_market_is_accepted_open_with_a_kraken_txid_and_descr() -> None:
    engine = make_engine()
    ack = engine.add_order(request(), now=T0).unwrap()
    assert ack.txid is not None
    assert ack.order is not None
    assert ack.order.status is ReportedStatus.OPEN
    assert ack.order.vol_exec == 0
    assert ack.descr == "buy 0.01000000 XBTUSDT @ limit 49000.0"
    assert ack.order.oflags == ("fciq",)
    assert ack.order.txid == ack.txid
    assert ack.txid[0] == "O"
    assert [len(part) for part in ack.txid.split("-")] == [6, 5, 6]


def test_descr_names_the_trigger_and_the_limit_of_a_stop_loss_limit_and_the_leverage() -> None:
    engine = make_engine()
    ack = engine.add_order(
        request(
            side=SELL,
            ordertype=OrderType.STOP_LOSS_LIMIT,
            price=Decimal(48_000),
            price2=Decimal("47900.5"),
            leverage=Decimal(2),
        ),
        now=T0,
    ).unwrap()
    assert (
        ack.descr
        == "sell 0.01000000 XBTUSDT @ stop loss 48000.0 -> limit 47900.5 with 2:1 leverage"
    )


def test_requests_accept_kraken_wire_spellings_and_numbers_as_strings() -> None:
    wire = OrderRequest(
        pair="BTC/USDT",
        side="sell",
        ordertype="stop-loss-limit",
        volume="0.01",
        price="48000",
        price2=47900,
        timeinforce="IOC",
        oflags="fcib,post",
    )
    assert (wire.side, wire.ordertype, wire.timeinforce) == (
        SELL,
        OrderType.STOP_LOSS_LIMIT,
        TimeInForce.IOC,
    )
    assert (wire.volume, wire.price, wire.price2) == (
        Decimal("0.01"),
        Decimal(48_000),
        Decimal(47_900),
    )
    assert wire.oflags == frozenset({"fcib", "post"})
    with pytest.raises(ValueError, match="'short'"):
        OrderRequest(pair="BTC/USDT", side="short", ordertype="limit", volume=1)


def test_validate_only_checks_the_request_and_places_nothing() -> None:
    engine = make_engine()
    ack = engine.add_order(request(validate=True), now=T0).unwrap()
    assert ack.txid is None
    assert ack.order is None
    assert ack.descr == "buy 0.01000000 XBTUSDT @ limit 49000.0"
    assert engine.open_order_count() == 0
    assert engine.rate_counter("BTC/USDT") == 0
    assert engine.add_order(
        request(validate=True, volume=Decimal("0.00001")), now=T0
    ).failure().code == ("EOrder:Order minimum not met")


# --------------------------------------------------------------------------- refusals
def test_an_unknown_pair_is_refused_as_an_unknown_asset_pair() -> None:
    assert refusal(make_engine(), pair="DOGE/USDT") == "EQuery:Unknown asset pair"


def test_a_volume_below_ordermin_is_refused_as_order_minimum_not_met() -> None:
    assert refusal(make_engine(), volume=Decimal("0.00009")) == "EOrder:Order minimum not met"


def test_exactly_ordermin_is_accepted() -> None:
    assert place(make_engine(), volume=Decimal("0.0001")).vol == Decimal("0.0001")


def test_a_limit_price_times_volume_below_costmin_is_refused_as_cost_minimum_not_met() -> None:
    engine = make_engine()
    assert (
        refusal(engine, pair="XRP/USDT", volume=Decimal(10), price=Decimal("0.04999"))
        == "EOrder:Cost minimum not met"
    )
    assert place(engine, pair="XRP/USDT", volume=Decimal(10), price=Decimal("0.05")).vol == 10


def test_a_market_order_checks_costmin_at_the_current_price() -> None:
    engine = make_engine()
    engine.set_price("XRP/USDT", Decimal("0.04"), now=T0)
    assert (
        refusal(engine, pair="XRP/USDT", ordertype=OrderType.MARKET, volume=Decimal(10), price=None)
        == "EOrder:Cost minimum not met"
    )
    engine.set_price("XRP/USDT", Decimal("0.05"), now=T0)
    ack = engine.add_order(
        request(pair="XRP/USDT", ordertype=OrderType.MARKET, volume=Decimal(10), price=None), now=T0
    )
    assert ack.unwrap().order is not None


def test_a_stop_limit_checks_costmin_at_its_limit_price() -> None:
    engine = make_engine()
    code = refusal(
        engine,
        pair="XRP/USDT",
        side=SELL,
        ordertype=OrderType.STOP_LOSS_LIMIT,
        volume=Decimal(10),
        price=Decimal("0.06"),
        price2=Decimal("0.04"),
    )
    assert code == "EOrder:Cost minimum not met"


def test_a_price_with_more_decimals_than_the_pair_allows_names_the_pair_id_and_the_decimals() -> (
    None
):
    assert refusal(make_engine(), price=Decimal("49000.05")) == (
        "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals."
    )


def test_a_price2_with_too_many_decimals_is_refused_the_same_way() -> None:
    code = refusal(
        make_engine(),
        side=SELL,
        ordertype=OrderType.STOP_LOSS_LIMIT,
        price=Decimal(48_000),
        price2=Decimal("47999.99"),
    )
    assert code == "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals."


def test_trailing_zeros_do_not_count_as_decimals() -> None:
    assert place(make_engine(), price=Decimal("49000.100")).price == Decimal("49000.100")


def test_a_price_off_the_tick_is_refused_as_tick_size_check_failed() -> None:
    half_tick = attrs.evolve(BTC_USDT, tick_size=Decimal("0.5"))
    engine = PaperEngine([half_tick], seed=1)
    engine.deposit("USDT", Decimal(10_000))
    assert refusal(engine, price=Decimal("49000.3")) == "EOrder:Tick size check failed"
    assert place(engine, price=Decimal("49000.5")).price == Decimal("49000.5")


def test_a_volume_with_more_decimals_than_lot_decimals_is_refused_as_invalid_volume() -> None:
    assert (
        refusal(make_engine(), volume=Decimal("0.010000001")) == "EGeneral:Invalid arguments:volume"
    )


def test_a_zero_or_negative_volume_is_refused_as_invalid_volume() -> None:
    assert refusal(make_engine(), volume=Decimal(0)) == "EGeneral:Invalid arguments:volume"
    assert refusal(make_engine(), volume=Decimal(-1)) == "EGeneral:Invalid arguments:volume"


@pytest.mark.parametrize("ordertype", [OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT])
def test_a_limit_variant_without_price2_is_refused_as_invalid_price2(ordertype: OrderType) -> None:
    code = refusal(
        make_engine(), side=SELL, ordertype=ordertype, price=Decimal(48_000), price2=None
    )
    assert code == "EGeneral:Invalid arguments:price2"


@pytest.mark.parametrize("ordertype", [OrderType.LIMIT, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT])
def test_a_priced_type_without_price_is_refused_as_invalid_price(ordertype: OrderType) -> None:
    assert refusal(make_engine(), ordertype=ordertype, price=None) == (
        "EGeneral:Invalid arguments:price"
    )


def test_a_buy_needs_quote_for_the_cost_and_the_fee() -> None:
    engine = make_engine()
    engine.set_balance("USDT", Decimal(490))  # 0.01 x 49000 = 490, nothing left for the 0.40% fee
    assert refusal(engine) == "EOrder:Insufficient funds"
    engine.set_balance("USDT", Decimal("491.96"))  # 490 + 0.40% taker (the worst case is held)
    assert place(engine).status is ReportedStatus.OPEN
    assert engine.balance("USDT").held == Decimal("491.96")
    assert engine.balance("USDT").available == 0


def test_a_buy_with_the_fee_in_base_needs_only_the_cost_in_quote() -> None:
    engine = make_engine()
    engine.set_balance("USDT", Decimal(490))
    assert place(engine, oflags="fcib").oflags == ("fcib",)


def test_a_sell_needs_the_base_it_sells() -> None:
    engine = make_engine()
    assert refusal(engine, side=SELL, volume=Decimal("2.00000001"), price=Decimal(51_000)) == (
        "EOrder:Insufficient funds"
    )
    assert place(engine, side=SELL, volume=Decimal(2), price=Decimal(51_000)).vol == 2


def test_a_sell_with_the_fee_in_base_needs_the_base_fee_too() -> None:
    engine = make_engine()
    assert refusal(engine, side=SELL, volume=Decimal(2), price=Decimal(51_000), oflags="fcib") == (
        "EOrder:Insufficient funds"
    )


def test_funds_held_by_open_orders_are_not_available_to_new_ones() -> None:
    engine = make_engine()
    place(engine, side=SELL, volume=Decimal("1.5"), price=Decimal(51_000))
    assert engine.balance("BTC").available == Decimal("0.5")
    assert refusal(engine, side=SELL, volume=Decimal("0.6"), price=Decimal(51_000)) == (
        "EOrder:Insufficient funds"
    )


def test_a_cl_ord_id_together_with_a_userref_is_refused_as_invalid_arguments() -> None:
    assert refusal(make_engine(), cl_ord_id="abc", userref=5) == "EGeneral:Invalid arguments"


@pytest.mark.parametrize("cl_ord_id", ["", "x" * 19, "has space", "é"])
def test_a_malformed_cl_ord_id_is_refused(cl_ord_id: str) -> None:
    assert refusal(make_engine(), cl_ord_id=cl_ord_id) == "EGeneral:Invalid arguments:cl_ord_id"


@pytest.mark.parametrize(
    "cl_ord_id",
    ["6d1b345e-2821-40e2-ad83-4ecb18a06876", "da8e4ad59b78481c93e589746b0cf91f", "x" * 18],
)
def test_long_and_short_uuids_and_short_free_text_are_valid_cl_ord_ids(cl_ord_id: str) -> None:
    assert place(make_engine(), cl_ord_id=cl_ord_id).cl_ord_id == cl_ord_id


def test_a_cl_ord_id_used_by_an_open_order_is_refused_as_an_invalid_order() -> None:
    engine = make_engine()
    place(engine, cl_ord_id="entry-1")
    assert refusal(engine, cl_ord_id="entry-1") == "EOrder:Invalid order"


def test_a_cl_ord_id_may_be_reused_once_its_order_is_closed() -> None:
    engine = make_engine()
    first = place(engine, cl_ord_id="entry-1")
    engine.cancel_order(txid=first.txid, now=T0).unwrap()
    assert place(engine, cl_ord_id="entry-1").txid != first.txid


def test_the_duplicate_cl_ord_id_answer_is_configurable() -> None:
    engine = make_engine(EngineConfig(duplicate_cl_ord_id_error="EOrder:Duplicate cl_ord_id"))
    place(engine, cl_ord_id="entry-1")
    assert refusal(engine, cl_ord_id="entry-1") == "EOrder:Duplicate cl_ord_id"


def test_open_orders_above_the_tier_maximum_per_pair_are_refused() -> None:
    tier = RateTier(
        name="Tiny", decay_per_second=Decimal(1), threshold=Decimal(60), max_open_orders=3
    )
    engine = make_engine(EngineConfig(tier=tier))
    for _ in range(3):
        place(engine)
    assert refusal(engine) == "EOrder:Orders limit exceeded"
    assert (
        place(engine, pair="XRP/USDT", volume=Decimal(10), price=Decimal("0.4")).pair == "XRP/USDT"
    )


def test_the_starter_tier_allows_60_open_orders_per_pair() -> None:
    assert STARTER.max_open_orders == 60
    engine = make_engine()
    for i in range(60):
        place(engine, now=at(i))  # one per second: the rate counter decays as fast as it grows
    assert refusal(engine, now=at(60)) == "EOrder:Orders limit exceeded"


def test_a_market_in_cancel_only_mode_refuses_new_orders_and_amends_but_cancels() -> None:
    engine = make_engine()
    resting = place(engine)
    engine.set_pair_status("BTC/USDT", SymbolStatus.CANCEL_ONLY)
    assert refusal(engine) == "EService:Market in cancel_only mode"
    amend = engine.amend_order(AmendRequest(txid=resting.txid, order_qty=Decimal("0.02")), now=T0)
    assert amend.failure().code == "EService:Market in cancel_only mode"
    assert engine.cancel_order(txid=resting.txid, now=T0).unwrap().count == 1


def test_a_market_in_post_only_mode_takes_only_post_only_limits() -> None:
    engine = make_engine()
    engine.set_pair_status("BTC/USDT", SymbolStatus.POST_ONLY)
    assert refusal(engine) == "EService:Market in post_only mode"
    assert refusal(engine, ordertype=OrderType.MARKET, price=None) == (
        "EService:Market in post_only mode"
    )
    assert place(engine, oflags="post").oflags == ("post", "fciq")


def test_a_market_in_limit_only_mode_takes_only_limits() -> None:
    engine = make_engine()
    engine.set_pair_status("BTC/USDT", SymbolStatus.LIMIT_ONLY)
    assert refusal(engine, ordertype=OrderType.MARKET, price=None) == (
        "EService:Market in limit_only mode"
    )
    assert refusal(engine, side=SELL, ordertype=OrderType.STOP_LOSS, price=Decimal(48_000)) == (
        "EService:Market in limit_only mode"
    )
    assert place(engine).status is ReportedStatus.OPEN


def test_a_market_in_reduce_only_mode_takes_only_reduce_only_orders() -> None:
    engine = make_engine()
    engine.set_pair_status("BTC/USDT", SymbolStatus.REDUCE_ONLY)
    assert refusal(engine) == "EService:Market in reduce_only mode"
    assert place(engine, reduce_only=True).reduce_only


def test_a_delisted_pair_is_unknown() -> None:
    engine = make_engine()
    engine.set_pair_status("BTC/USDT", SymbolStatus.DELISTED)
    assert refusal(engine) == "EQuery:Unknown asset pair"


def test_a_post_only_limit_that_would_take_is_accepted_then_canceled() -> None:
    engine = make_engine()
    ack = engine.add_order(request(price=Decimal(50_000), oflags="post"), now=T0).unwrap()
    assert ack.txid is not None
    assert ack.order is not None
    assert ack.order.status is ReportedStatus.CANCELED
    assert ack.order.reason == "Post only order"
    assert ack.order.vol_exec == 0
    assert engine.balance("USDT").held == 0
    assert engine.trade_count() == 0


def test_a_post_only_limit_that_rests_is_open() -> None:
    assert (
        place(make_engine(), price=Decimal("49999.9"), oflags="post").status is ReportedStatus.OPEN
    )


@pytest.mark.parametrize(
    ("oflags", "code"),
    [
        ("fcib,fciq", "EGeneral:Invalid arguments:oflags"),
        ("bogus", "EGeneral:Invalid arguments:oflags"),
        ("viqc", "EGeneral:Invalid arguments:viqc"),
    ],
)
def test_conflicting_unknown_or_unsupported_oflags_are_refused(oflags: str, code: str) -> None:
    assert refusal(make_engine(), oflags=oflags) == code


def test_post_only_is_for_limit_orders_only() -> None:
    code = refusal(make_engine(), side=SELL, ordertype=OrderType.STOP_LOSS, oflags="post")
    assert code == "EGeneral:Invalid arguments:oflags"


def test_nompp_is_accepted_and_ignored() -> None:
    assert place(make_engine(), oflags="nompp").oflags == ("fciq",)


def test_gtd_needs_an_expiretm_in_the_future() -> None:
    engine = make_engine()
    assert refusal(engine, timeinforce=TimeInForce.GTD) == "EGeneral:Invalid arguments:expiretm"
    assert refusal(engine, timeinforce=TimeInForce.GTD, expiretm=T0) == (
        "EGeneral:Invalid arguments:expiretm"
    )
    assert place(engine, timeinforce=TimeInForce.GTD, expiretm=at(5)).expiretm == at(5)


def test_leverage_above_the_pair_maximum_is_refused() -> None:
    engine = make_engine()
    assert refusal(engine, leverage=Decimal(6)) == "EGeneral:Invalid arguments:leverage"
    assert refusal(engine, leverage=Decimal(1)) == "EGeneral:Invalid arguments:leverage"
    assert place(engine, leverage=Decimal(5)).leverage == 5


def test_a_userref_must_fit_in_a_signed_32_bit_integer() -> None:
    engine = make_engine()
    assert refusal(engine, userref=2**31) == "EGeneral:Invalid arguments:userref"
    assert place(engine, userref=-(2**31)).userref == -(2**31)


def test_a_market_order_without_any_price_yet_is_refused_as_unavailable() -> None:
    engine = PaperEngine(default_instruments(), seed=1)
    engine.deposit("USDT", Decimal(1000))
    assert refusal(engine, ordertype=OrderType.MARKET, price=None) == "EService:Unavailable"


def test_an_unknown_order_is_refused_on_cancel_amend_and_query() -> None:
    engine = make_engine()
    unknown = "OAAAAA-BBBBB-CCCCCC"
    assert engine.cancel_order(txid=unknown, now=T0).failure().code == "EOrder:Unknown order"
    assert engine.cancel_order(cl_ord_id="nope", now=T0).failure().code == "EOrder:Unknown order"
    assert engine.amend_order(
        AmendRequest(txid=unknown, order_qty=Decimal(1)), now=T0
    ).failure().code == ("EOrder:Unknown order")
    assert engine.query_orders([unknown]).failure().code == "EOrder:Unknown order"


def test_a_closed_order_is_unknown_to_cancel_and_amend() -> None:
    engine = make_engine()
    order = place(engine)
    engine.cancel_order(txid=order.txid, now=T0).unwrap()
    assert engine.cancel_order(txid=order.txid, now=T0).failure().code == "EOrder:Unknown order"
    amend = engine.amend_order(AmendRequest(txid=order.txid, order_qty=Decimal("0.02")), now=T0)
    assert amend.failure().code == "EOrder:Unknown order"


def test_a_refused_order_changes_no_balance_and_leaves_no_order() -> None:
    engine = make_engine()
    before = engine.balances()
    refusal(engine, volume=Decimal(100))
    assert engine.balances() == before
    assert engine.open_order_count() == 0
    assert engine.closed_count() == 0


def test_the_reason_constants_match_the_confirmed_kraken_texts() -> None:
    assert Reason.USER_REQUESTED == "User requested"
    assert Reason.POST_ONLY == "Post only order"


def test_xrp_usdt_prices_take_five_decimals() -> None:
    engine = make_engine()
    assert place(
        engine, pair="XRP/USDT", volume=Decimal(10), price=Decimal("0.41234")
    ).price == Decimal("0.41234")
    assert refusal(engine, pair="XRP/USDT", volume=Decimal(10), price=Decimal("0.412345")) == (
        f"EOrder:Invalid price:{XRP_USDT.exchange_symbol} price can only be specified"
        " up to 5 decimals."
    )
