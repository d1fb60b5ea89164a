"""Every KrakenExchange method against the local Kraken server, over HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from adapters.kraken.exchange import BodyFormat, KrakenExchange
from adapters.kraken.testing import LOCAL_OPTIONS, KrakenTestServer, LocalKraken, local_kraken
from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import UNLIMITED, EngineConfig, OrderRequest
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    TimeInForce,
)
from execution_core.domain.instruments import BTC_USDT, XRP_BTC, XRP_USDT
from execution_core.domain.orders import Order
from execution_core.ports import Amendment, FailureKind, ReportedStatus, RetryClass

_ids = itertools.count(1)


def an_order(
    *,
    symbol: str = "BTC/USDT",
    side: OrderSide = OrderSide.BUY,
    order_type: OrderType = OrderType.LIMIT,
    size: str = "0.01",
    price: str | None = "49000",
    trigger_price: str | None = None,
    **changes: Any,
) -> Order:
    n = next(_ids)
    order = Order(
        id=f"o-{n}",
        client_order_id=f"cl-{n}",
        symbol=symbol,
        side=side,
        order_type=order_type,
        size=Decimal(size),
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger_price is None else Decimal(trigger_price),
    )
    return attrs.evolve(order, **changes) if changes else order


async def placed(kraken: LocalKraken, order: Order) -> Order:
    placement = (await kraken.exchange.place_order(order)).unwrap()
    assert placement.client_order_id == order.client_order_id
    return attrs.evolve(order, exchange_order_id=placement.exchange_order_id)


# --------------------------------------------------------------------------- start
async def test_start_loads_the_instruments_from_asset_pairs_with_the_servers_rules() -> None:
    stricter = attrs.evolve(BTC_USDT, min_size=Decimal("0.0005"), tick_size=Decimal(1))
    server = KrakenTestServer(instruments=(stricter, XRP_USDT, XRP_BTC))
    async with server, local_kraken(server=server) as kraken:
        loaded = (await kraken.exchange.instruments()).unwrap()
        by_symbol = {i.symbol: i for i in loaded}
        assert set(by_symbol) == {"BTC/USDT", "XRP/USDT", "XRP/BTC"}
        assert by_symbol["BTC/USDT"].min_size == Decimal("0.0005")
        assert by_symbol["BTC/USDT"].tick_size == Decimal(1)
        assert by_symbol["XRP/BTC"].exchange_symbol == "XXRPXXBT"
        assert by_symbol["XRP/USDT"].taker_fee == Decimal("0.004")
        assert server.stats.calls["AssetPairs"] == 1


async def test_start_applies_the_accounts_fee_tier_from_trade_volume() -> None:
    server = KrakenTestServer()
    server.engine.set_fee_rates(maker=Decimal("0.0016"), taker=Decimal("0.0026"))
    async with server, local_kraken(server=server) as kraken:
        btc = kraken.exchange.loaded_instruments.get("BTC/USDT").unwrap()
        assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.0016"), Decimal("0.0026"))
        fees = (await kraken.exchange.account_fees()).unwrap()
        assert fees.rates["XRP/BTC"].taker == Decimal("0.0026")


async def test_instruments_are_fetched_on_first_use_without_start() -> None:
    async with local_kraken(start=False) as kraken:
        assert kraken.exchange.pairs is None
        loaded = (await kraken.exchange.instruments()).unwrap()
        assert len(loaded) == 3
        assert kraken.exchange.pairs is not None


# --------------------------------------------------------------------------- placing
async def test_a_limit_buy_rests_and_its_report_says_open_with_nothing_filled(
    kraken: LocalKraken,
) -> None:
    order = await placed(kraken, an_order())
    reports = (await kraken.exchange.order_status([order.exchange_order_id or ""])).unwrap()
    report = reports[order.exchange_order_id or ""]
    assert report.status is ReportedStatus.OPEN
    assert report.client_order_id == order.client_order_id
    assert (report.size, report.filled_size, report.limit_price) == (
        Decimal("0.01"),
        Decimal(0),
        Decimal(49000),
    )
    assert kraken.server.engine.balance("USDT").held > 0


@pytest.mark.parametrize(
    ("order_type", "price", "trigger", "side"),
    [
        (OrderType.STOP_LOSS, None, "45000", OrderSide.SELL),
        (OrderType.TAKE_PROFIT, None, "55000", OrderSide.SELL),
        (OrderType.STOP_LOSS_LIMIT, "44900", "45000", OrderSide.SELL),
        (OrderType.TAKE_PROFIT_LIMIT, "54900", "55000", OrderSide.SELL),
    ],
)
async def test_every_triggered_type_arrives_with_kraken_price_semantics(
    kraken: LocalKraken,
    order_type: OrderType,
    price: str | None,
    trigger: str,
    side: OrderSide,
) -> None:
    order = await placed(
        kraken, an_order(order_type=order_type, side=side, price=price, trigger_price=trigger)
    )
    info = kraken.server.engine.order(order.exchange_order_id or "")
    assert info is not None
    assert info.ordertype is order_type
    assert info.trigger_price == Decimal(trigger)  # Kraken's `price` is the trigger
    assert info.limit_price == (None if price is None else Decimal(price))  # `price2`
    report = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert (report.trigger_price, report.limit_price) == (info.trigger_price, info.limit_price)
    assert report.status is ReportedStatus.OPEN


async def test_a_market_buy_fills_at_once_as_taker_and_reports_its_trade(
    kraken: LocalKraken,
) -> None:
    order = await placed(kraken, an_order(order_type=OrderType.MARKET, price=None))
    report = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert report.status is ReportedStatus.CLOSED
    assert report.filled_size == Decimal("0.01")
    assert report.filled_cost == Decimal(500)
    assert report.fee == Decimal(2)  # 0.40% taker in quote
    (trade,) = report.trades
    assert (trade.quantity, trade.price, trade.liquidity) == (
        Decimal("0.01"),
        Decimal(50000),
        LiquidityRole.TAKER,
    )


async def test_a_protected_market_order_goes_out_as_a_limit_ioc_at_its_cap(
    kraken: LocalKraken,
) -> None:
    order = await placed(kraken, an_order(order_type=OrderType.MARKET, price="50100"))
    info = kraken.server.engine.order(order.exchange_order_id or "")
    assert info is not None
    assert (info.ordertype, info.timeinforce, info.price) == (
        OrderType.LIMIT,
        TimeInForce.IOC,
        Decimal(50100),
    )
    assert info.vol_exec == Decimal("0.01")


async def test_a_gtd_order_expires_at_its_time_and_reports_expired(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    order = await placed(
        fake_kraken,
        an_order(time_in_force=TimeInForce.GTD, expires_at=clock.now() + timedelta(seconds=30)),
    )
    clock.advance(31)
    report = (await fake_kraken.exchange.order_status([order.exchange_order_id or ""])).unwrap()
    assert report[order.exchange_order_id or ""].status is ReportedStatus.EXPIRED


async def test_a_fee_in_base_order_reports_its_fee_currency_as_base(kraken: LocalKraken) -> None:
    order = await placed(
        kraken,
        an_order(order_type=OrderType.MARKET, price=None, fee_currency=FeeCurrency.BASE),
    )
    report = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert report.fee_currency is FeeCurrency.BASE
    assert report.fee == Decimal("0.00004")  # 0.40% of 0.01 BTC
    assert report.trades[0].fee_currency is FeeCurrency.BASE


async def test_kraken_refusals_come_back_with_their_code_and_retry_class(
    kraken: LocalKraken,
) -> None:
    too_small = await kraken.exchange.place_order(an_order(size="0.00001"))
    assert too_small.failure().code == "EOrder:Order minimum not met"
    assert too_small.failure().kind is FailureKind.ORDER_MINIMUM
    assert too_small.failure().retry is RetryClass.NEVER
    too_big = await kraken.exchange.place_order(an_order(size="100"))
    assert too_big.failure().code == "EOrder:Insufficient funds"
    assert too_big.failure().kind is FailureKind.INSUFFICIENT_FUNDS


async def test_an_order_off_the_tick_is_refused_locally_before_anything_is_sent(
    kraken: LocalKraken,
) -> None:
    sent_before = kraken.server.stats.calls["AddOrder"]
    result = await kraken.exchange.place_order(an_order(price="49000.05"))
    assert result.failure().kind is FailureKind.INVALID_ARGUMENTS
    assert result.failure().retry is RetryClass.NEVER
    assert "price" in result.failure().message
    assert kraken.server.stats.calls["AddOrder"] == sent_before


async def test_an_unknown_symbol_is_refused_as_unknown_pair(kraken: LocalKraken) -> None:
    result = await kraken.exchange.place_order(an_order(symbol="DOGE/USDT"))
    assert result.failure().kind is FailureKind.UNKNOWN_PAIR
    assert (await kraken.exchange.reference_price("DOGE/USDT")).failure().kind is (
        FailureKind.UNKNOWN_PAIR
    )


async def test_a_pair_in_cancel_only_mode_refuses_orders_with_a_wait_class(
    kraken: LocalKraken,
) -> None:
    from execution_core.domain.enums import SymbolStatus  # noqa: PLC0415 - only this test

    kraken.server.set_pair_status("BTC/USDT", SymbolStatus.CANCEL_ONLY)
    result = await kraken.exchange.place_order(an_order())
    assert result.failure().code == "EService:Market in cancel_only mode"
    assert result.failure().retry is RetryClass.WAIT


# --------------------------------------------------------------------------- amend, cancel
async def test_an_amend_changes_size_and_price_in_place_keeping_the_ids(
    kraken: LocalKraken,
) -> None:
    order = await placed(kraken, an_order(size="0.02"))
    result = await kraken.exchange.amend_order(
        order, Amendment(size=Decimal("0.01"), price=Decimal(48000))
    )
    assert result == Success(None)
    report = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert report.exchange_order_id == order.exchange_order_id
    assert (report.size, report.limit_price) == (Decimal("0.01"), Decimal(48000))
    assert kraken.server.stats.calls["AmendOrder"] == 1


async def test_a_stops_trigger_is_amended_in_place(kraken: LocalKraken) -> None:
    stop = await placed(
        kraken,
        an_order(
            order_type=OrderType.STOP_LOSS, side=OrderSide.SELL, price=None, trigger_price="45000"
        ),
    )
    assert (await kraken.exchange.amend_order(stop, Amendment(trigger_price=Decimal(46000)))) == (
        Success(None)
    )
    info = kraken.server.engine.order(stop.exchange_order_id or "")
    assert info is not None
    assert info.trigger_price == Decimal(46000)


async def test_an_amend_before_kraken_answered_names_the_order_by_client_id(
    kraken: LocalKraken,
) -> None:
    order = await placed(kraken, an_order())
    unanswered = attrs.evolve(order, exchange_order_id=None)
    result = await kraken.exchange.amend_order(unanswered, Amendment(price=Decimal(48500)))
    assert result == Success(None)
    info = kraken.server.engine.order(order.exchange_order_id or "")
    assert info is not None
    assert info.price == Decimal(48500)


async def test_cancelling_twice_says_unknown_order_the_second_time(kraken: LocalKraken) -> None:
    order = await placed(kraken, an_order())
    assert (await kraken.exchange.cancel_order(order)) == Success(None)
    again = await kraken.exchange.cancel_order(order)
    assert again.failure().kind is FailureKind.UNKNOWN_ORDER
    report = (await kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert (report.status, report.reason) == (ReportedStatus.CANCELED, "User requested")


async def test_a_partially_filled_then_cancelled_order_keeps_its_fills(
    kraken: LocalKraken,
) -> None:
    kraken.server.engine.set_liquidity("BTC/USDT", per_update=Decimal("0.004"), per_order=None)
    order = await placed(kraken, an_order())
    kraken.server.set_price("BTC/USDT", Decimal(48000))
    assert (await kraken.exchange.cancel_order(order)) == Success(None)
    report = (await kraken.exchange.order_status([order.exchange_order_id or ""])).unwrap()[
        order.exchange_order_id or ""
    ]
    assert report.status is ReportedStatus.CANCELED
    assert report.filled_size == Decimal("0.004")
    assert report.average_price == Decimal(49000)
    assert [t.quantity for t in report.trades] == [Decimal("0.004")]
    assert report.trades[0].liquidity is LiquidityRole.MAKER


async def test_cancel_all_cancels_every_open_order_and_counts_them(kraken: LocalKraken) -> None:
    for price in ("47000", "48000", "49000"):
        await placed(kraken, an_order(price=price))
    assert (await kraken.exchange.cancel_all()) == Success(3)
    assert (await kraken.exchange.open_orders()).unwrap() == []


async def test_the_dead_mans_switch_cancels_everything_when_not_renewed(
    fake_kraken: LocalKraken, clock: FakeClock
) -> None:
    order = await placed(fake_kraken, an_order())
    assert (await fake_kraken.exchange.cancel_all_after(60)) == Success(None)
    clock.advance(30)
    assert (await fake_kraken.exchange.cancel_all_after(60)) == Success(None)
    clock.advance(59)
    assert len((await fake_kraken.exchange.open_orders()).unwrap()) == 1
    clock.advance(2)
    report = (await fake_kraken.exchange.find_order(order.client_order_id)).unwrap()
    assert report is not None
    assert report.status is ReportedStatus.CANCELED
    assert (await fake_kraken.exchange.cancel_all_after(0)) == Success(None)
    assert fake_kraken.server.engine.dead_mans_switch() is None


async def test_a_timeout_of_a_day_or_more_is_refused_locally(kraken: LocalKraken) -> None:
    result = await kraken.exchange.cancel_all_after(86_400)
    assert result.failure().kind is FailureKind.INVALID_ARGUMENTS
    assert kraken.server.stats.calls["CancelAllOrdersAfter"] == 0


# --------------------------------------------------------------------------- queries
async def test_order_status_batches_query_orders_fifty_ids_per_call() -> None:
    # 120 open orders on one pair are beyond Starter's 60: the engine gets an unlimited tier.
    server = KrakenTestServer(engine_config=EngineConfig(tier=UNLIMITED))
    async with server, local_kraken(server=server) as kraken:
        now = server.clock.now()
        txids = [
            server.engine.add_order(
                OrderRequest(
                    pair="XRP/USDT",
                    side=OrderSide.BUY,
                    ordertype=OrderType.LIMIT,
                    volume="10",
                    price=Decimal("0.4") - Decimal("0.00001") * n,
                ),
                now=now,
            )
            .unwrap()
            .txid
            or ""
            for n in range(120)
        ]
        server.stats.reset()
        reports = (await kraken.exchange.order_status(txids)).unwrap()
        assert set(reports) == set(txids)
        assert all(r.status is ReportedStatus.OPEN for r in reports.values())
        assert server.stats.calls["QueryOrders"] == 3
        assert server.stats.calls["QueryTrades"] == 0  # nothing filled, nothing to fetch


async def test_order_status_leaves_out_ids_kraken_does_not_know(kraken: LocalKraken) -> None:
    known = [await placed(kraken, an_order(price=p)) for p in ("47000", "48000", "49000")]
    ids = [o.exchange_order_id or "" for o in known]
    ghost = "OGHOST-AAAAA-BBBBBB"
    reports = (await kraken.exchange.order_status([ids[0], ghost, ids[1], ids[2]])).unwrap()
    assert set(reports) == set(ids)


async def test_order_status_refuses_an_id_that_is_not_krakens_format(kraken: LocalKraken) -> None:
    result = await kraken.exchange.order_status(["'; DROP TABLE orders; --"])
    assert result.failure().kind is FailureKind.INVALID_ORDER
    assert kraken.server.stats.calls["QueryOrders"] == 0
    assert (await kraken.exchange.order_status([])) == Success({})


async def test_order_status_falls_back_to_twenty_ids_when_fifty_are_refused() -> None:
    server = KrakenTestServer(max_query_orders=20)
    async with server, local_kraken(server=server) as kraken:
        orders = [await placed(kraken, an_order(price=str(40000 + n))) for n in range(25)]
        reports = (
            await kraken.exchange.order_status([o.exchange_order_id or "" for o in orders])
        ).unwrap()
        assert len(reports) == 25
        assert server.stats.errors["EGeneral:Invalid arguments"] == 1
        server.stats.reset()
        await kraken.exchange.order_status([o.exchange_order_id or "" for o in orders])
        assert server.stats.calls["QueryOrders"] == 2  # 20 + 5, no refused attempt this time


async def test_find_order_finds_open_then_closed_orders_and_none_for_a_stranger(
    kraken: LocalKraken,
) -> None:
    resting = await placed(kraken, an_order())
    filled = await placed(kraken, an_order(order_type=OrderType.MARKET, price=None))
    open_report = (await kraken.exchange.find_order(resting.client_order_id)).unwrap()
    closed_report = (await kraken.exchange.find_order(filled.client_order_id)).unwrap()
    assert open_report is not None
    assert open_report.exchange_order_id == resting.exchange_order_id
    assert closed_report is not None
    assert closed_report.status is ReportedStatus.CLOSED
    assert (await kraken.exchange.find_order("never-sent")) == Success(None)


async def test_find_order_refuses_a_client_id_kraken_could_not_hold(kraken: LocalKraken) -> None:
    result = await kraken.exchange.find_order("a client id with spaces that is far too long")
    assert result.failure().kind is FailureKind.INVALID_ARGUMENTS


async def test_open_orders_lists_every_open_order_including_untriggered_stops(
    kraken: LocalKraken,
) -> None:
    limit = await placed(kraken, an_order())
    stop = await placed(
        kraken,
        an_order(
            order_type=OrderType.STOP_LOSS, side=OrderSide.SELL, price=None, trigger_price="40000"
        ),
    )
    await placed(kraken, an_order(order_type=OrderType.MARKET, price=None))
    reports = (await kraken.exchange.open_orders()).unwrap()
    assert {r.exchange_order_id for r in reports} == {
        limit.exchange_order_id,
        stop.exchange_order_id,
    }


async def test_closed_orders_and_trades_history_page_through_the_past(kraken: LocalKraken) -> None:
    for _ in range(3):
        await placed(kraken, an_order(order_type=OrderType.MARKET, price=None))
    page = (await kraken.exchange.closed_orders()).unwrap()
    assert page.count == 3
    assert all(r.status is ReportedStatus.CLOSED for r in page.orders.values())
    trades = (await kraken.exchange.trades_history()).unwrap()
    assert trades.count == 3
    by_id = (await kraken.exchange.query_trades(list(trades.trades))).unwrap()
    assert by_id == trades.trades


# --------------------------------------------------------------------------- account, market
async def test_balances_come_from_balance_ex_with_what_orders_hold(kraken: LocalKraken) -> None:
    await placed(kraken, an_order())  # holds 490 USDT + the worst fee
    balances = (await kraken.exchange.balances()).unwrap()
    usdt = balances["USDT"]
    assert usdt.total == Decimal(100_000)
    assert usdt.available == Decimal(100_000) - Decimal("491.96")
    assert balances["BTC"].total == Decimal(2)
    assert kraken.server.stats.calls["BalanceEx"] >= 1


async def test_balances_fall_back_to_balance_when_balance_ex_is_refused(
    kraken: LocalKraken,
) -> None:
    from adapters.kraken.testing import Fault  # noqa: PLC0415 - only this test

    kraken.server.inject(Fault.error("EGeneral:Unknown method", method="BalanceEx"))
    balances = (await kraken.exchange.balances()).unwrap()
    assert balances["USDT"].total == Decimal(100_000)
    assert kraken.server.stats.calls["Balance"] >= 1
    calls = kraken.server.stats.calls["BalanceEx"]
    await kraken.exchange.balances()
    assert kraken.server.stats.calls["BalanceEx"] == calls  # it remembers


async def test_reference_price_is_tickers_last_price(kraken: LocalKraken) -> None:
    kraken.server.set_price("XRP/BTC", Decimal("0.00001234"))
    assert (await kraken.exchange.reference_price("XRP/BTC")) == Success(Decimal("0.00001234"))
    assert (await kraken.exchange.reference_price("BTC/USDT")) == Success(Decimal(50000))


async def test_server_time_and_system_status(kraken: LocalKraken) -> None:
    now = (await kraken.exchange.server_time()).unwrap()
    assert abs((now - kraken.server.clock.now()).total_seconds()) < 5
    assert (await kraken.exchange.system_status()) == Success("online")
    kraken.server.set_system_status("maintenance")
    assert (await kraken.exchange.system_status()) == Success("maintenance")


# --------------------------------------------------------------------------- JSON bodies
async def test_every_private_call_works_with_json_bodies_too() -> None:
    options = attrs.evolve(LOCAL_OPTIONS, body_format=BodyFormat.JSON)
    async with local_kraken(options=options) as kraken:
        order = await placed(kraken, an_order())
        assert (await kraken.exchange.amend_order(order, Amendment(price=Decimal(48000)))) == (
            Success(None)
        )
        report = (await kraken.exchange.order_status([order.exchange_order_id or ""])).unwrap()
        assert report[order.exchange_order_id or ""].limit_price == Decimal(48000)
        assert (await kraken.exchange.cancel_order(order)) == Success(None)
        assert isinstance(await kraken.exchange.balances(), Success)
        assert kraken.server.stats.errors == {"EOrder:Unknown order": 1}  # the key check's probe


# --------------------------------------------------------------------------- secrets
async def test_the_secret_appears_in_no_repr_failure_or_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from adapters.kraken.signing import Credentials  # noqa: PLC0415 - only this test
    from adapters.kraken.testing import new_key_material  # noqa: PLC0415

    caplog.set_level("DEBUG")
    async with local_kraken() as kraken:
        api_key, secret = new_key_material()
        stranger = KrakenExchange(
            kraken.session,
            Credentials.from_strings(kraken.key.api_key, secret),
            base_url=kraken.server.base_url,
            options=LOCAL_OPTIONS,
        )
        failure = (await stranger.balances()).failure()
        assert failure.code == "EAPI:Invalid signature"
        started = await stranger.start()
        shown = [repr(kraken.exchange), repr(stranger), str(failure), str(started.failure())]
        shown += [r.getMessage() for r in caplog.records]
        real_secret = kraken.key.secret
        for text in shown:
            assert secret not in text
            assert api_key not in text
            assert kraken.key.api_key not in text  # only its first characters are shown
        assert "***" in repr(stranger)
        assert repr(real_secret) == "ApiSecret(***)"
        assert isinstance(started, Failure)
        assert started.failure().kind is FailureKind.AUTHENTICATION
