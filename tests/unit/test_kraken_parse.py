"""Kraken results -> our reports, against recorded-shape fixtures (kraken-api.md §2-§7)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from returns.result import Failure, Success

from adapters.kraken.errors import parse_envelope
from adapters.kraken.ids import (
    IdKind,
    is_client_order_id,
    is_order_id,
    is_trade_id,
    validate_amend_id,
    validate_client_order_id,
    validate_order_id,
    validate_trade_id,
)
from adapters.kraken.wire import (
    DEFAULT_PAIR_NAMES,
    CancelResult,
    MalformedResponse,
    PairName,
    PairNames,
    asset_from_kraken,
    collect_trade_ids,
    parse_add_order,
    parse_amend_order,
    parse_asset_pairs,
    parse_balance,
    parse_balance_ex,
    parse_cancel_all_after,
    parse_cancel_order,
    parse_closed_orders,
    parse_open_orders,
    parse_order_info,
    parse_query_orders,
    parse_query_trades,
    parse_ticker,
    parse_trade,
    parse_trade_volume,
    parse_trades_history,
    with_account_fees,
)
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    SymbolStatus,
)
from execution_core.domain.instruments import default_instruments
from execution_core.ports import (
    Balance,
    FailureKind,
    OrderReport,
    Placement,
    ReportedStatus,
    RetryClass,
    TradeReport,
)

FIXTURES = Path(__file__).parent / "fixtures" / "kraken"
NOT_A_TXID = "is not of the form XXXXXX-XXXXX-XXXXXX (A-Z, 0-9)"
NOT_A_CLIENT_ID = (
    "is neither a UUID (36 characters with dashes, or 32 hex digits) nor printable ASCII text "
    "of 1 to 18 characters without spaces"
)


def result_of(name: str) -> Mapping[str, object]:
    return parse_envelope(200, (FIXTURES / name).read_text()).unwrap()


def trades() -> dict[str, TradeReport]:
    return parse_query_trades(result_of("query_trades.json")).unwrap()


def open_orders() -> dict[str, OrderReport]:
    return parse_open_orders(result_of("open_orders.json"), DEFAULT_PAIR_NAMES, trades()).unwrap()


def closed_orders() -> Mapping[str, OrderReport]:
    return parse_closed_orders(result_of("closed_orders.json"), trades=trades()).unwrap().orders


def at(seconds: str) -> datetime:
    whole, _, fraction = seconds.partition(".")
    micros = int((fraction + "000000")[:6])
    return datetime.fromtimestamp(int(whole), UTC).replace(microsecond=micros)


# --------------------------------------------------------------------------- order calls
def test_add_order_yields_the_single_txid_with_our_client_order_id() -> None:
    placement = parse_add_order(result_of("add_order.json"), "entry-1")
    assert placement == Success(
        Placement(exchange_order_id="OUF4EM-FRGI2-MQMWZD", client_order_id="entry-1")
    )


@pytest.mark.parametrize(
    ("result", "path", "reason"),
    [
        ({"descr": {"order": "buy ..."}}, "result.txid", "is missing"),
        ({"txid": []}, "result.txid", "must hold exactly one order id (got 0)"),
        (
            {"txid": ["OUF4EM-FRGI2-MQMWZD"] * 2},
            "result.txid",
            "must hold exactly one order id (got 2)",
        ),
        ({"txid": "OUF4EM-FRGI2-MQMWZD"}, "result.txid", "must be a list, not str"),
        (
            {"txid": ["'; DROP TABLE x;--"]},
            "result.txid[0]",
            f'order id "\'; DROP TABLE x;--" {NOT_A_TXID}',
        ),
        (["OUF4EM-FRGI2-MQMWZD"], "result", "must be an object, not list"),
    ],
)
def test_an_add_order_result_without_one_valid_txid_is_malformed(
    result: object, path: str, reason: str
) -> None:
    assert parse_add_order(result, "entry-1") == Failure(
        MalformedResponse(path=path, reason=reason)
    )


def test_amend_order_yields_the_amend_id() -> None:
    assert parse_amend_order(result_of("amend_order.json")) == Success("TTW6PD-RC36L-ZZSWNU")


def test_cancel_order_yields_count_and_pending_and_tolerates_a_string_count() -> None:
    assert parse_cancel_order(result_of("cancel_order.json")) == Success(CancelResult(count=1))
    assert parse_cancel_order({"count": "2", "pending": True}) == Success(
        CancelResult(count=2, pending=True)
    )
    assert parse_cancel_order({"count": "two"}).failure().path == "result.count"


def test_cancel_all_after_yields_both_times_and_zero_means_disabled() -> None:
    switch = parse_cancel_all_after(result_of("cancel_all_after.json")).unwrap()
    assert switch.current_time == datetime(2023, 4, 6, 6, 51, 56, tzinfo=UTC)
    assert switch.trigger_time == datetime(2023, 4, 6, 6, 52, 56, tzinfo=UTC)
    disabled = parse_cancel_all_after({"currentTime": "2023-04-06T06:51:56Z", "triggerTime": "0"})
    assert disabled.unwrap().trigger_time is None
    naive = parse_cancel_all_after({"currentTime": "2023-04-06T06:51:56", "triggerTime": "0"})
    assert naive.failure().reason == "has no time zone (got '2023-04-06T06:51:56')"


# --------------------------------------------------------------------------- orders
def test_a_resting_partially_filled_limit_reports_its_cumulative_fill_and_trades() -> None:
    report = open_orders()["OQCLML-BW3P3-BUCMWZ"]
    assert report.status is ReportedStatus.OPEN
    assert (report.symbol, report.side, report.order_type) == (
        "BTC/USDT",
        OrderSide.BUY,
        OrderType.LIMIT,
    )
    assert report.client_order_id == "6d1b345e-2821-40e2-ad83-4ecb18a06876"
    assert report.size == Decimal("1.25")
    assert report.filled_size == Decimal("0.375")
    assert report.filled_cost == Decimal("11253.75")
    assert report.fee == Decimal("28.13438")
    assert report.fee_currency is FeeCurrency.QUOTE
    assert report.average_price == Decimal(30010)
    assert report.limit_price == Decimal("30010.0")
    assert report.trigger_price is None
    assert report.opened_at == at("1688666559.8974")
    assert report.closed_at is None
    assert not report.is_closed
    assert [t.trade_id for t in report.trades] == ["TCCCTY-WE2O6-P3NB37", "TRJT2S-NAKBW-T2JD5B"]
    assert sum(t.quantity for t in report.trades) == report.filled_size
    assert {t.liquidity for t in report.trades} == {LiquidityRole.MAKER}


def test_a_stop_loss_limit_reports_price_as_trigger_and_price2_as_limit() -> None:
    report = open_orders()["O6YDQ5-LOMWU-37YKEE"]
    assert report.order_type is OrderType.STOP_LOSS_LIMIT
    assert report.trigger_price == Decimal(28500)
    assert report.limit_price == Decimal(28400)
    assert (report.filled_size, report.average_price, report.trades) == (Decimal(0), None, ())


def test_a_stop_loss_on_xrp_btc_reports_its_trigger_from_price() -> None:
    report = open_orders()["OSLXRP-BTC01-STOPLS"]
    assert report.symbol == "XRP/BTC"
    assert report.order_type is OrderType.STOP_LOSS
    assert report.trigger_price == Decimal("0.000015")
    assert report.limit_price is None


def test_a_take_profit_reports_its_trigger_from_price() -> None:
    report = open_orders()["OTPBTC-USDT1-TAKEPR"]
    assert (report.order_type, report.trigger_price, report.limit_price) == (
        OrderType.TAKE_PROFIT,
        Decimal(32000),
        None,
    )


def test_a_foreign_trailing_stop_is_reported_as_a_stop_at_its_current_trigger() -> None:
    report = open_orders()["OTRAIL-XRPUS-DTSTOP"]
    assert report.order_type is OrderType.STOP_LOSS
    assert report.trigger_price == Decimal("0.23424")
    assert report.limit_price is None
    assert report.client_order_id is None


def test_a_canceled_order_with_executed_volume_is_a_partial_fill() -> None:
    report = closed_orders()["OB5VMB-B4U2U-DK2WRW"]
    assert report.status is ReportedStatus.CANCELED
    assert report.is_closed
    assert report.filled_size == Decimal(40)
    assert report.size == Decimal(100)
    assert report.filled_cost == Decimal("20.936")
    assert report.average_price == Decimal("0.5234")
    assert report.reason == "User requested"
    assert report.closed_at == at("1688667000.123")
    assert [t.quantity for t in report.trades] == [Decimal(40)]


def test_an_expired_gtd_order_with_executed_volume_is_a_partial_fill() -> None:
    report = closed_orders()["OEXPGD-XRPUS-DT0001"]
    assert report.status is ReportedStatus.EXPIRED
    assert (report.filled_size, report.size) == (Decimal("25.5"), Decimal(200))
    assert report.average_price == Decimal("0.5")


def test_a_protected_market_order_comes_back_as_a_limit_at_its_cap() -> None:
    report = closed_orders()["OPMKTB-XBTUS-DTBUY1"]
    assert report.status is ReportedStatus.CLOSED
    assert report.order_type is OrderType.LIMIT
    assert report.limit_price == Decimal(30200)
    assert report.average_price == Decimal(30005)
    assert report.client_order_id == "c0ffee00c0ffee00c0ffee00c0ffee00"
    assert [t.liquidity for t in report.trades] == [LiquidityRole.TAKER]


def test_an_order_with_fcib_reports_fees_in_base_for_itself_and_its_trades() -> None:
    report = closed_orders()["OMKTSL-XBTUS-DTSELL"]
    assert report.order_type is OrderType.MARKET
    assert (report.limit_price, report.trigger_price) == (None, None)
    assert report.fee_currency is FeeCurrency.BASE
    assert report.fee == Decimal("0.00008")
    assert [t.fee_currency for t in report.trades] == [FeeCurrency.BASE]
    assert report.client_order_id is None


def test_query_orders_reports_every_status_including_pending() -> None:
    reports = parse_query_orders(result_of("query_orders.json")).unwrap()
    assert {txid: r.status for txid, r in reports.items()} == {
        "OQCLML-BW3P3-BUCMWZ": ReportedStatus.OPEN,
        "O6YDQ5-LOMWU-37YKEE": ReportedStatus.OPEN,
        "OB5VMB-B4U2U-DK2WRW": ReportedStatus.CANCELED,
        "OPMKTB-XBTUS-DTBUY1": ReportedStatus.CLOSED,
        "OEXPGD-XRPUS-DT0001": ReportedStatus.EXPIRED,
        "OMKTSL-XBTUS-DTSELL": ReportedStatus.CLOSED,
        "OPENDG-XBTUS-DT0001": ReportedStatus.PENDING,
    }
    assert all(r.trades == () for r in reports.values())  # no trades were given to attach


def test_closed_orders_carry_krakens_total_count() -> None:
    page = parse_closed_orders(result_of("closed_orders.json")).unwrap()
    assert page.count == 4
    assert len(page.orders) == 4


def test_every_trade_id_of_a_set_of_orders_is_collected_once() -> None:
    closed = result_of("closed_orders.json")["closed"]
    assert collect_trade_ids(closed) == Success(
        (
            "TXRPCN-PARTL-FILL01",
            "TPMKTB-FILL0-000001",
            "TEXPGD-PARTL-FILL01",
            "TMKTSL-FILL0-000001",
        )
    )


def test_a_trade_of_another_order_is_not_attached() -> None:
    info = result_of("open_orders.json")["open"]["OQCLML-BW3P3-BUCMWZ"]  # type: ignore[index] # fixture shape is known
    stranger = trades()["TXRPCN-PARTL-FILL01"]
    report = parse_order_info(
        "OQCLML-BW3P3-BUCMWZ", info, trades={"TCCCTY-WE2O6-P3NB37": stranger}
    ).unwrap()
    assert report.trades == ()


def test_an_order_on_a_pair_we_do_not_know_keeps_krakens_name() -> None:
    info = {
        "status": "open",
        "descr": {"pair": "ETHUSD", "type": "buy", "ordertype": "limit", "price": "1860.76"},
        "vol": "0.02000000",
        "vol_exec": "0.00000000",
        "cost": "0.00000",
        "fee": "0.00000",
    }
    assert parse_order_info("OUF4EM-FRGI2-MQMWZD", info).unwrap().symbol == "ETHUSD"


VALID_ORDER: dict[str, object] = {
    "status": "open",
    "opentm": 1688666559.8974,
    "descr": {"pair": "XBTUSDT", "type": "buy", "ordertype": "limit", "price": "30010.0"},
    "vol": "1.25000000",
    "vol_exec": "0.00000000",
    "cost": "0.00000",
    "fee": "0.00000",
    "oflags": "fciq",
}


def with_field(path: str, value: object) -> dict[str, object]:
    order = {**VALID_ORDER, "descr": dict(VALID_ORDER["descr"])}  # type: ignore[call-overload] # a dict
    target: dict[str, object] = order
    *parents, key = path.split(".")
    for parent in parents:
        target = target[parent]  # type: ignore[assignment] # nested dicts
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return order


TXID = "OQCLML-BW3P3-BUCMWZ"


@pytest.mark.parametrize(
    ("path", "value", "where", "reason"),
    [
        ("vol", ..., "vol", "is missing"),
        ("vol_exec", "abc", "vol_exec", "is not a decimal number"),
        ("cost", ["1"], "cost", "must be a number or a numeric string, not list"),
        ("fee", "-0.1", "fee", "must be >= 0 (got -0.1)"),
        ("vol", "NaN", "vol", "must be a finite number"),
        ("vol", True, "vol", "must be a number or a numeric string, not bool"),
        ("status", "weird", "status", "unknown status 'weird'"),
        ("status", None, "status", "must be a string, not null"),
        ("descr", "limit", "descr", "must be an object, not str"),
        ("descr.ordertype", "moon", "descr.ordertype", "unknown order type 'moon'"),
        ("descr.type", "hold", "descr.type", "must be buy or sell (got 'hold')"),
        ("descr.pair", ..., "descr.pair", "is missing"),
        ("descr.price", "12,5", "descr.price", "is not a decimal number"),
        ("cl_ord_id", "x" * 40, "cl_ord_id", f"client order id '{'x' * 39}... {NOT_A_CLIENT_ID}"),
        ("opentm", "yesterday", "opentm", "is not a decimal number"),
        ("closetm", -5, "closetm", "must be >= 0 (got -5)"),
        ("trades", ["not-a-trade"], "trades[0]", f"trade id 'not-a-trade' {NOT_A_TXID}"),
        ("trades", "TCCCTY-WE2O6-P3NB37", "trades", "must be a list, not str"),
    ],
)
def test_a_malformed_order_info_is_a_typed_failure_naming_the_field(
    path: str, value: object, where: str, reason: str
) -> None:
    assert parse_order_info(TXID, with_field(path, value)) == Failure(
        MalformedResponse(path=f"order {TXID}.{where}", reason=reason)
    )


def test_an_order_keyed_by_an_invalid_txid_is_malformed() -> None:
    failure = parse_query_orders({"not-a-txid": VALID_ORDER}).failure()
    assert failure.path == "result.not-a-txid"
    assert "is not of the form" in failure.reason


def test_a_malformed_response_becomes_a_failure_of_unknown_outcome() -> None:
    failure = MalformedResponse(path="result.txid", reason="is missing").to_failure()
    assert (failure.kind, failure.retry) == (FailureKind.OTHER, RetryClass.OUTCOME_UNKNOWN)
    assert (failure.code, failure.message) == ("malformed response", "result.txid: is missing")


# --------------------------------------------------------------------------- trades
def test_trades_report_quantity_price_fee_role_and_time() -> None:
    report = trades()["TCCCTY-WE2O6-P3NB37"]
    assert report == TradeReport(
        trade_id="TCCCTY-WE2O6-P3NB37",
        exchange_order_id="OQCLML-BW3P3-BUCMWZ",
        quantity=Decimal("0.25"),
        price=Decimal(30010),
        fee=Decimal("18.75625"),
        fee_currency=FeeCurrency.QUOTE,
        liquidity=LiquidityRole.MAKER,
        timestamp=at("1688666600.1234"),
    )
    assert trades()["TPMKTB-FILL0-000001"].liquidity is LiquidityRole.TAKER


def test_trades_history_parses_a_real_kraken_trade_without_a_maker_flag_as_taker() -> None:
    page = parse_trades_history(result_of("trades_history.json")).unwrap()
    assert page.count == 3
    real = page.trades["TZX2WP-XSEOP-FP7WYR"]
    assert (real.exchange_order_id, real.quantity, real.price, real.fee) == (
        "OHAJCS-ON45W-UIXHT7",
        Decimal("0.02"),
        Decimal("1855.16"),
        Decimal("0.05937"),
    )
    assert real.liquidity is LiquidityRole.TAKER
    assert real.timestamp == at("1680606470.360982")


def test_a_trades_fee_currency_comes_from_its_order() -> None:
    reports = parse_query_trades(
        result_of("query_trades.json"), {"OMKTSL-XBTUS-DTSELL": FeeCurrency.BASE}
    ).unwrap()
    assert reports["TMKTSL-FILL0-000001"].fee_currency is FeeCurrency.BASE
    assert reports["TCCCTY-WE2O6-P3NB37"].fee_currency is FeeCurrency.QUOTE
    single = parse_trade(
        "TMKTSL-FILL0-000001",
        result_of("query_trades.json")["TMKTSL-FILL0-000001"],
        FeeCurrency.BASE,
    )
    assert single.unwrap().fee_currency is FeeCurrency.BASE


def test_a_trade_with_a_zero_volume_or_a_bad_order_id_is_malformed() -> None:
    trade = dict(result_of("query_trades.json")["TCCCTY-WE2O6-P3NB37"])  # type: ignore[call-overload] # a dict
    assert parse_trade("TCCCTY-WE2O6-P3NB37", {**trade, "vol": "0"}).failure() == MalformedResponse(
        path="trade TCCCTY-WE2O6-P3NB37.vol", reason="must be > 0 (got 0)"
    )
    bad_order = parse_trade("TCCCTY-WE2O6-P3NB37", {**trade, "ordertxid": "TCCCTY-WE2O6-P3NB37"})
    assert bad_order.failure().path == "trade TCCCTY-WE2O6-P3NB37.ordertxid"
    assert parse_trade("TCCCTY-WE2O6-P3NB37", {**trade, "maker": "yes"}).failure().reason == (
        "must be a boolean, not str"
    )


# --------------------------------------------------------------------------- asset pairs
def test_asset_pairs_become_instruments_for_our_three_symbols() -> None:
    pairs = parse_asset_pairs(result_of("asset_pairs.json")).unwrap()
    instruments = pairs.instruments()
    btc = instruments.get("BTC/USDT").unwrap()
    assert (btc.exchange_symbol, btc.base, btc.quote) == ("XBTUSDT", "BTC", "USDT")
    assert (btc.min_size, btc.min_cost, btc.tick_size, btc.lot_size) == (
        Decimal("0.00005"),
        Decimal("0.5"),
        Decimal("0.1"),
        Decimal("1E-8"),
    )
    assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.0025"), Decimal("0.004"))
    assert btc.max_leverage == Decimal(5)
    assert btc.status is SymbolStatus.ONLINE
    assert (btc.price_decimals, btc.size_decimals) == (1, 8)
    xrp = instruments.get("XRP/USDT").unwrap()
    assert (xrp.min_size, xrp.tick_size, xrp.price_decimals, xrp.max_leverage) == (
        Decimal(10),
        Decimal("0.00001"),
        5,
        Decimal(1),
    )
    xrp_btc = instruments.get("XRP/BTC").unwrap()
    assert (xrp_btc.exchange_symbol, xrp_btc.quote, xrp_btc.min_cost) == (
        "XXRPXXBT",
        "BTC",
        Decimal("0.00002"),
    )
    assert (xrp_btc.price_decimals, xrp_btc.max_leverage) == (8, Decimal(3))


def test_asset_pairs_agree_with_the_built_in_defaults_on_everything_but_live_values() -> None:
    live = parse_asset_pairs(result_of("asset_pairs.json")).unwrap().instruments()
    for default in default_instruments():
        instrument = live.get(default.symbol).unwrap()
        assert instrument.exchange_symbol == default.exchange_symbol
        assert (instrument.base, instrument.quote) == (default.base, default.quote)
        assert (instrument.tick_size, instrument.lot_size) == (default.tick_size, default.lot_size)


def test_asset_pairs_keep_every_fee_tier_as_a_fraction() -> None:
    pair = parse_asset_pairs(result_of("asset_pairs.json")).unwrap().get("XBTUSDT")
    assert pair is not None
    assert len(pair.taker_tiers) == 10
    assert (pair.taker_tiers[1].volume, pair.taker_tiers[1].rate) == (
        Decimal(10000),
        Decimal("0.0035"),
    )
    assert pair.maker_tiers[-1].rate == Decimal(0)
    assert (pair.leverage_buy, pair.leverage_sell) == ((2, 3, 4, 5), (2, 3, 4, 5))
    assert (pair.cost_decimals, pair.fee_volume_currency) == (5, "USD")


def test_asset_pairs_map_every_kraken_name_to_our_symbol() -> None:
    pairs = parse_asset_pairs(result_of("asset_pairs.json")).unwrap()
    names = pairs.names
    assert [names.symbol_of(n) for n in ("XBTUSDT", "XBT/USDT", "BTC/USDT")] == ["BTC/USDT"] * 3
    assert [names.symbol_of(n) for n in ("XXRPXXBT", "XRPXBT", "XRP/XBT")] == ["XRP/BTC"] * 3
    assert names.pair_id_of("XRP/USDT") == "XRPUSDT"
    pair = pairs.get("XRP/XBT")
    assert pair is not None
    assert pair.instrument.symbol == "XRP/BTC"
    assert pairs.get("DOGE/USDT") is None


def xbt_usdt(**changes: object) -> dict[str, object]:
    info = dict(result_of("asset_pairs.json")["XBTUSDT"])  # type: ignore[call-overload] # a dict
    info.update(changes)
    return {key: value for key, value in info.items() if value is not ...}


def test_a_pair_without_tick_size_uses_its_pair_decimals() -> None:
    pair = parse_asset_pairs({"XBTUSDT": xbt_usdt(tick_size=...)}).unwrap().get("XBTUSDT")
    assert pair is not None
    assert pair.instrument.tick_size == Decimal("0.1")


def test_a_tick_finer_than_the_pair_decimals_is_widened_to_them() -> None:
    pair = parse_asset_pairs({"XBTUSDT": xbt_usdt(tick_size="0.01")}).unwrap().get("XBTUSDT")
    assert pair is not None
    assert pair.instrument.tick_size == Decimal("0.1")


def test_a_pair_without_maker_fees_uses_its_taker_fees_for_both() -> None:
    pair = parse_asset_pairs({"XBTUSDT": xbt_usdt(fees_maker=...)}).unwrap().get("XBTUSDT")
    assert pair is not None
    assert pair.instrument.maker_fee == pair.instrument.taker_fee == Decimal("0.004")


def test_leverage_offered_on_one_side_only_gives_a_maximum_of_one() -> None:
    pair = parse_asset_pairs({"XBTUSDT": xbt_usdt(leverage_sell=[])}).unwrap().get("XBTUSDT")
    assert pair is not None
    assert pair.instrument.max_leverage == Decimal(1)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("cancel_only", SymbolStatus.CANCEL_ONLY),
        ("post_only", SymbolStatus.POST_ONLY),
        ("limit_only", SymbolStatus.LIMIT_ONLY),
        ("reduce_only", SymbolStatus.REDUCE_ONLY),
        ("work_in_progress", SymbolStatus.CANCEL_ONLY),
        (..., SymbolStatus.ONLINE),
    ],
)
def test_a_pair_status_maps_to_symbol_status_and_an_unknown_one_to_cancel_only(
    status: object, expected: SymbolStatus
) -> None:
    pair = parse_asset_pairs({"XBTUSDT": xbt_usdt(status=status)}).unwrap().get("XBTUSDT")
    assert pair is not None
    assert pair.instrument.status is expected


def test_dark_pool_variants_are_skipped() -> None:
    pairs = parse_asset_pairs(
        {"XBTUSDT": xbt_usdt(), "XBTUSDT.d": xbt_usdt(altname="XBTUSDT.d")}
    ).unwrap()
    assert [p.name.pair_id for p in pairs.pairs] == ["XBTUSDT"]


@pytest.mark.parametrize(
    ("changes", "where", "reason"),
    [
        ({"ordermin": "0"}, "ordermin", "must be > 0 (got 0)"),
        ({"ordermin": ...}, "ordermin", "is missing"),
        ({"lot_decimals": "eight"}, "lot_decimals", "must be an integer, not str 'eight'"),
        ({"pair_decimals": 40}, "pair_decimals", "40 decimals is implausible"),
        ({"fees": []}, "fees", "must list at least one tier"),
        ({"fees": [[0]]}, "fees[0]", "must be [volume, percent] (got 1 items)"),
        ({"fees": [[0, "-1"]]}, "fees[0]", "volume and percent must be >= 0"),
        ({"tick_size": "0.03"}, "tick_size", "0.03 does not divide 10^-1"),
        ({"leverage_buy": ["x"]}, "leverage_buy[0]", "must be an integer, not str 'x'"),
    ],
)
def test_a_malformed_asset_pair_is_a_typed_failure_naming_the_field(
    changes: dict[str, object], where: str, reason: str
) -> None:
    assert parse_asset_pairs({"XBTUSDT": xbt_usdt(**changes)}) == Failure(
        MalformedResponse(path=f"result.XBTUSDT.{where}", reason=reason)
    )


def test_two_pairs_claiming_one_name_are_malformed() -> None:
    failure = parse_asset_pairs({"XBTUSDT": xbt_usdt(), "XBTUSDC": xbt_usdt()}).failure()
    assert failure.path == "result"
    assert "BTC/USDT" in failure.reason


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("asset_id", "ours"),
    [
        ("XXBT", "BTC"),
        ("XBT", "BTC"),
        ("XXRP", "XRP"),
        ("ZUSD", "USD"),
        ("ZEUR", "EUR"),
        ("XXDG", "DOGE"),
        ("XDG", "DOGE"),
        ("XETH", "ETH"),
        ("USDT", "USDT"),
        ("XTZ", "XTZ"),
        ("ZRX", "ZRX"),
        ("XBT.M", "BTC.M"),
        ("USDT.F", "USDT.F"),
    ],
)
def test_kraken_asset_ids_map_to_our_names(asset_id: str, ours: str) -> None:
    assert asset_from_kraken(asset_id) == ours


def test_the_default_names_know_our_three_pairs_by_every_kraken_name() -> None:
    names = DEFAULT_PAIR_NAMES
    assert {names.symbol_of(n) for n in ("XBTUSDT", "XBT/USDT")} == {"BTC/USDT"}
    assert {names.symbol_of(n) for n in ("XRPUSDT", "XRP/USDT")} == {"XRP/USDT"}
    assert {names.symbol_of(n) for n in ("XXRPXXBT", "XRPXBT", "XRP/XBT")} == {"XRP/BTC"}
    assert names.pair_id_of("BTC/USDT") == "XBTUSDT"
    assert names.pair_id_of("XRP/BTC") == "XXRPXXBT"
    assert names.lookup("DOGE/USDT") is None


def test_merged_names_take_the_newer_entry_for_a_symbol() -> None:
    newer = PairNames((PairName(symbol="BTC/USDT", pair_id="XBTUSDT", altname="XBTUSDT"),))
    merged = DEFAULT_PAIR_NAMES.merged(newer)
    assert merged.lookup("XBT/USDT") is None
    assert merged.symbol_of("XRPXBT") == "XRP/BTC"


def test_a_name_claimed_by_two_pairs_is_refused() -> None:
    with pytest.raises(ValueError, match="XBTUSDT"):
        PairNames(
            (
                PairName(symbol="BTC/USDT", pair_id="XBTUSDT", altname="XBTUSDT"),
                PairName(symbol="BTC/USDC", pair_id="XBTUSDC", altname="XBTUSDT"),
            )
        )


# --------------------------------------------------------------------------- ticker, balances
def test_the_ticker_yields_last_bid_and_ask_by_our_symbol() -> None:
    tickers = parse_ticker(result_of("ticker.json")).unwrap()
    btc = tickers["BTC/USDT"]
    assert (btc.last, btc.bid, btc.ask) == (
        Decimal("27947.9"),
        Decimal("27947.9"),
        Decimal(27948),
    )
    assert tickers["XRP/USDT"].last == Decimal("0.52345")


def test_a_ticker_without_a_last_price_is_malformed() -> None:
    failure = parse_ticker({"XBTUSDT": {"a": ["1"], "b": ["1"], "c": []}}).failure()
    assert failure == MalformedResponse(path="result.XBTUSDT.c", reason="is empty")


def test_balances_are_keyed_by_our_asset_names() -> None:
    balances = parse_balance(result_of("balance.json")).unwrap()
    assert balances["BTC"] == Balance(
        asset="BTC", total=Decimal("2.10317091"), available=Decimal("2.10317091")
    )
    assert balances["USD"].total == Decimal("241983.1415")
    assert set(balances) == {"USD", "BTC", "XRP", "USDT", "BTC.M"}


def test_extended_balances_subtract_what_open_orders_hold() -> None:
    balances = parse_balance_ex(result_of("balance_ex.json")).unwrap()
    assert balances["BTC"].available == Decimal("1.96317091")
    assert balances["USDT"] == Balance(
        asset="USDT", total=Decimal("10250.5"), available=Decimal("9950.45")
    )
    assert balances["XRP"].available == balances["XRP"].total


def test_two_kraken_ids_for_one_asset_are_malformed() -> None:
    failure = parse_balance({"XXBT": "1", "XBT": "2"}).failure()
    assert failure == MalformedResponse(path="result.XBT", reason="a second balance for BTC")


def test_the_trade_volume_gives_the_accounts_fee_rates_as_fractions() -> None:
    fees = parse_trade_volume(result_of("trade_volume.json")).unwrap()
    assert (fees.currency, fees.volume) == ("USD", Decimal("212220.9741"))
    btc = fees.rates["BTC/USDT"]
    assert (btc.taker, btc.maker) == (Decimal("0.0022"), Decimal("0.0012"))
    assert (btc.next_taker, btc.next_maker, btc.next_volume) == (
        Decimal("0.002"),
        Decimal("0.001"),
        Decimal(250000),
    )
    xrp = fees.rates["XRP/USDT"]
    assert xrp.maker == xrp.taker == Decimal("0.0022")


def test_the_trade_volume_without_fee_info_has_no_rates() -> None:
    fees = parse_trade_volume({"currency": "ZUSD", "volume": "0", "fees": None}).unwrap()
    assert dict(fees.rates) == {}


def test_account_fees_replace_the_instruments_entry_tier_rates() -> None:
    fees = parse_trade_volume(result_of("trade_volume.json")).unwrap()
    instruments = with_account_fees(default_instruments(), fees)
    btc = instruments.get("BTC/USDT").unwrap()
    assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.0012"), Decimal("0.0022"))
    xrp_btc = instruments.get("XRP/BTC").unwrap()
    assert xrp_btc.taker_fee == Decimal("0.0040")


# --------------------------------------------------------------------------- envelopes
def test_error_fixtures_become_classified_failures() -> None:
    funds = parse_envelope(200, (FIXTURES / "error_insufficient_funds.json").read_text())
    assert funds.failure().kind is FailureKind.INSUFFICIENT_FUNDS
    price = parse_envelope(200, (FIXTURES / "error_invalid_price.json").read_text()).failure()
    assert (price.kind, price.retry) == (FailureKind.INVALID_PRICE, RetryClass.NEVER)


# --------------------------------------------------------------------------- identifiers
@pytest.mark.parametrize(
    "value", ["OUF4EM-FRGI2-MQMWZD", "OQCLML-BW3P3-BUCMWZ", "O6YDQ5-LOMWU-37YKEE"]
)
def test_well_formed_order_ids_are_accepted(value: str) -> None:
    assert validate_order_id(value) == Success(value)
    assert is_order_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "ouf4em-frgi2-mqmwzd",
        "OUF4EM-FRGI2-MQMWZ",
        "OUF4EM-FRGI2-MQMWZDX",
        "OUF4EMFRGI2MQMWZD",
        "OUF4EM-FRGI2-MQMWZD\n",
        "TGBB7L-HT5LX-J3BZ4A",
        "OUF4EM-FRGI2-MQMWZD'; DROP TABLE orders; --",
        "OUF4ÉM-FRGI2-MQMWZD",
        "",
        None,
        12345,
    ],
)
def test_malformed_order_ids_are_refused_before_use_or_storage(value: object) -> None:
    result = validate_order_id(value)
    assert isinstance(result, Failure)
    assert result.failure().kind is IdKind.ORDER
    assert not is_order_id(value)


def test_trade_and_amend_ids_start_with_t() -> None:
    assert validate_trade_id("TGBB7L-HT5LX-J3BZ4A") == Success("TGBB7L-HT5LX-J3BZ4A")
    assert validate_amend_id("TTW6PD-RC36L-ZZSWNU") == Success("TTW6PD-RC36L-ZZSWNU")
    assert is_trade_id("TGBB7L-HT5LX-J3BZ4A")
    assert not is_trade_id("OUF4EM-FRGI2-MQMWZD")
    assert str(validate_trade_id("OUF4EM-FRGI2-MQMWZD").failure()) == (
        "trade id 'OUF4EM-FRGI2-MQMWZD' must start with 'T'"
    )


@pytest.mark.parametrize(
    "value",
    [
        "6d1b345e-2821-40e2-ad83-4ecb18a06876",
        "6D1B345E-2821-40E2-AD83-4ECB18A06876",
        "6d1b345e282140e2ad834ecb18a06876",
        "a",
        "entry-42",
        "123456789012345678",
        "sl:BTC/USDT#1",
    ],
)
def test_client_order_ids_kraken_accepts_are_accepted(value: str) -> None:
    assert validate_client_order_id(value) == Success(value)
    assert is_client_order_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1234567890123456789",
        "6d1b345e-2821-40e2-ad83-4ecb18a0687",
        "6d1b345e-2821-40e2-ad83-4ecb18a06876x",
        "6g1b345e-2821-40e2-ad83-4ecb18a06876",
        "6d1b345e282140e2ad834ecb18a0687z",
        "has space",
        "tab\there",
        "ünïcode",
        None,
    ],
)
def test_client_order_ids_kraken_refuses_are_refused(value: object) -> None:
    result = validate_client_order_id(value)
    assert isinstance(result, Failure)
    assert result.failure().kind is IdKind.CLIENT_ORDER


def test_a_refused_value_is_shown_shortened() -> None:
    failure = validate_order_id("O" * 500).failure()
    assert len(failure.shown) <= 43
    assert failure.shown.endswith("...")
