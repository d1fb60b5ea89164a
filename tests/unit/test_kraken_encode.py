"""Our orders -> Kraken request fields (kraken-api.md §2-§5, design.md §3 correction 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from adapters.kraken.signing import sign_request
from adapters.kraken.wire import (
    EncodeError,
    TriggerReference,
    WireOptions,
    batched,
    encode_amend,
    encode_cancel,
    encode_cancel_all_after,
    encode_closed_orders,
    encode_open_orders,
    encode_order,
    encode_pairs,
    encode_query_orders,
    encode_query_trades,
    encode_trades_history,
    form_body,
    format_decimal,
    format_price,
    format_volume,
    json_body,
    query_string,
)
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.instruments import BTC_USDT, XRP_BTC, XRP_USDT, Instrument
from execution_core.domain.orders import Order
from execution_core.ports import Amendment

CLIENT_ID = "6d1b345e-2821-40e2-ad83-4ecb18a06876"
TXID = "OUF4EM-FRGI2-MQMWZD"


def order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": "o-1",
        "client_order_id": CLIENT_ID,
        "symbol": "BTC/USDT",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "size": Decimal("0.01"),
        "price": Decimal("45000.5"),
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type] # test helper over keyword fields


# --------------------------------------------------------------------------- every order type
def test_an_unprotected_market_order_goes_out_as_market_without_price() -> None:
    fields = encode_order(order(order_type=OrderType.MARKET, price=None), BTC_USDT)
    assert fields == {
        "ordertype": "market",
        "type": "buy",
        "volume": "0.01",
        "pair": "XBTUSDT",
        "oflags": "fciq",
        "cl_ord_id": CLIENT_ID,
    }


def test_a_protected_market_buy_goes_out_as_a_limit_ioc_at_its_cap() -> None:
    protected = order(order_type=OrderType.MARKET, price=Decimal("45225.1"))
    assert protected.is_protected_market
    assert encode_order(protected, BTC_USDT) == {
        "ordertype": "limit",
        "type": "buy",
        "volume": "0.01",
        "pair": "XBTUSDT",
        "price": "45225.1",
        "timeinforce": "IOC",
        "oflags": "fciq",
        "cl_ord_id": CLIENT_ID,
    }


def test_a_protected_market_sell_is_ioc_even_if_the_order_says_gtc() -> None:
    protected = order(
        order_type=OrderType.MARKET,
        side=OrderSide.SELL,
        price=Decimal("44774.9"),
        time_in_force=TimeInForce.GTC,
    )
    fields = encode_order(protected, BTC_USDT)
    assert (fields["ordertype"], fields["type"], fields["price"], fields["timeinforce"]) == (
        "limit",
        "sell",
        "44774.9",
        "IOC",
    )


def test_a_gtc_limit_carries_its_limit_in_price_and_no_time_in_force() -> None:
    assert encode_order(order(), BTC_USDT) == {
        "ordertype": "limit",
        "type": "buy",
        "volume": "0.01",
        "pair": "XBTUSDT",
        "price": "45000.5",
        "oflags": "fciq",
        "cl_ord_id": CLIENT_ID,
    }


def test_an_ioc_limit_says_so() -> None:
    assert encode_order(order(time_in_force=TimeInForce.IOC), BTC_USDT)["timeinforce"] == "IOC"


def test_a_gtd_limit_carries_its_expiry_in_whole_unix_seconds_rounded_down() -> None:
    expires = datetime(2026, 1, 2, 3, 4, 5, 900_000, tzinfo=UTC)
    fields = encode_order(order(time_in_force=TimeInForce.GTD, expires_at=expires), BTC_USDT)
    assert (fields["timeinforce"], fields["expiretm"]) == ("GTD", str(int(expires.timestamp())))
    assert fields["expiretm"] == "1767323045"


def test_a_gtd_expiry_in_another_time_zone_is_the_same_instant() -> None:
    expires = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    fields = encode_order(order(time_in_force=TimeInForce.GTD, expires_at=expires), BTC_USDT)
    assert fields["expiretm"] == "1767323045"


def test_a_stop_loss_carries_its_trigger_in_price_and_nothing_in_price2() -> None:
    stop = order(
        order_type=OrderType.STOP_LOSS,
        side=OrderSide.SELL,
        price=None,
        trigger_price=Decimal(44500),
    )
    fields = encode_order(stop, BTC_USDT)
    assert fields == {
        "ordertype": "stop-loss",
        "type": "sell",
        "volume": "0.01",
        "pair": "XBTUSDT",
        "price": "44500",
        "oflags": "fciq",
        "cl_ord_id": CLIENT_ID,
    }
    assert "price2" not in fields  # the review's CRITICAL-5 put the trigger in price2: wrong


def test_a_take_profit_carries_its_trigger_in_price() -> None:
    take = order(
        order_type=OrderType.TAKE_PROFIT,
        side=OrderSide.SELL,
        price=None,
        trigger_price=Decimal("46000.1"),
    )
    fields = encode_order(take, BTC_USDT)
    assert (fields["ordertype"], fields["price"]) == ("take-profit", "46000.1")
    assert "price2" not in fields


@pytest.mark.parametrize(
    ("order_type", "kraken_type"),
    [
        (OrderType.STOP_LOSS_LIMIT, "stop-loss-limit"),
        (OrderType.TAKE_PROFIT_LIMIT, "take-profit-limit"),
    ],
)
def test_a_limit_stop_carries_the_trigger_in_price_and_the_limit_in_price2(
    order_type: OrderType, kraken_type: str
) -> None:
    stop = order(
        order_type=order_type,
        side=OrderSide.SELL,
        trigger_price=Decimal(44500),
        price=Decimal("44400.5"),
    )
    fields = encode_order(stop, BTC_USDT)
    assert (fields["ordertype"], fields["price"], fields["price2"]) == (
        kraken_type,
        "44500",
        "44400.5",
    )


def test_xrp_btc_prices_use_eight_decimals_in_plain_notation() -> None:
    xrp = order(symbol="XRP/BTC", size=Decimal(25), price=Decimal("0.00001234"))
    fields = encode_order(xrp, XRP_BTC)
    assert (fields["pair"], fields["price"], fields["volume"]) == ("XXRPXXBT", "0.00001234", "25")


def test_tiny_volumes_are_written_without_exponents() -> None:
    fields = encode_order(order(size=Decimal("1E-8")), BTC_USDT)
    assert fields["volume"] == "0.00000001"
    fields = encode_order(order(size=Decimal("1.2E+3")), BTC_USDT)
    assert fields["volume"] == "1200"


# --------------------------------------------------------------------------- flags and options
def test_leverage_is_sent_only_above_one_and_as_a_whole_number() -> None:
    assert "leverage" not in encode_order(order(leverage=Decimal(1)), BTC_USDT)
    assert encode_order(order(leverage=Decimal("2.0")), BTC_USDT)["leverage"] == "2"
    with pytest.raises(EncodeError, match="whole number"):
        encode_order(order(leverage=Decimal("2.5")), BTC_USDT)
    with pytest.raises(EncodeError, match=">= 1"):
        encode_order(order(leverage=Decimal("0.5")), BTC_USDT)


def test_reduce_only_is_sent_for_margin_orders_only() -> None:
    margin = order(reduce_only=True, leverage=Decimal(2))
    assert encode_order(margin, BTC_USDT)["reduce_only"] == "true"
    assert "reduce_only" not in encode_order(order(leverage=Decimal(2)), BTC_USDT)
    # A spot stop carrying reduce_only would be refused: Kraken has no margin position to reduce.
    spot_stop = order(
        order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(44500), reduce_only=True
    )
    assert "reduce_only" not in encode_order(spot_stop, BTC_USDT)
    forced = encode_order(spot_stop, BTC_USDT, WireOptions(reduce_only_on_spot=True))
    assert forced["reduce_only"] == "true"
    spelled = encode_order(margin, BTC_USDT, WireOptions(true_text="True"))
    assert spelled["reduce_only"] == "True"


def test_post_only_and_the_fee_currency_share_oflags() -> None:
    assert encode_order(order(post_only=True), BTC_USDT)["oflags"] == "post,fciq"
    base = encode_order(order(fee_currency=FeeCurrency.BASE), BTC_USDT)
    assert base["oflags"] == "fcib"
    assert "oflags" not in encode_order(order(), BTC_USDT, WireOptions(fee_flag=False))


@pytest.mark.parametrize("order_type", [OrderType.MARKET, OrderType.STOP_LOSS_LIMIT])
def test_post_only_applies_to_limit_orders_only(order_type: OrderType) -> None:
    with pytest.raises(EncodeError, match="post_only"):
        encode_order(
            order(order_type=order_type, post_only=True, trigger_price=Decimal(44000))
            if order_type is OrderType.STOP_LOSS_LIMIT
            else order(order_type=order_type, post_only=True),
            BTC_USDT,
        )


def test_the_trigger_reference_is_sent_for_triggered_orders_only() -> None:
    options = WireOptions(trigger=TriggerReference.INDEX)
    stop = order(order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(44500))
    assert encode_order(stop, BTC_USDT, options)["trigger"] == "index"
    assert "trigger" not in encode_order(order(), BTC_USDT, options)
    assert "trigger" not in encode_order(stop, BTC_USDT)


def test_validate_only_asks_kraken_to_place_nothing() -> None:
    assert encode_order(order(), BTC_USDT, WireOptions(validate_only=True))["validate"] == "true"


# --------------------------------------------------------------------------- bugs upstream
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"symbol": "XRP/USDT"}, "symbol"),
        ({"price": None}, "price"),
        ({"trigger_price": Decimal(1)}, "trigger_price"),
        ({"order_type": OrderType.STOP_LOSS, "trigger_price": Decimal(44500)}, "price"),
        ({"order_type": OrderType.STOP_LOSS, "price": None}, "trigger_price"),
        ({"order_type": OrderType.STOP_LOSS_LIMIT}, "trigger_price"),
        (
            {"order_type": OrderType.TAKE_PROFIT_LIMIT, "price": None, "trigger_price": Decimal(1)},
            "price",
        ),
        ({"order_type": OrderType.MARKET, "trigger_price": Decimal(44500)}, "trigger_price"),
        ({"price": Decimal("45000.55")}, "price"),
        ({"price": Decimal(0)}, "price"),
        ({"price": Decimal(-1)}, "price"),
        ({"size": Decimal(0)}, "volume"),
        ({"size": Decimal("0.000000001")}, "volume"),
        ({"time_in_force": TimeInForce.GTD}, "expires_at"),
        (
            {"time_in_force": TimeInForce.GTD, "expires_at": datetime(2026, 1, 1)},  # noqa: DTZ001 - a naive time is the point
            "expires_at",
        ),
        ({"order_type": OrderType.MARKET, "time_in_force": TimeInForce.GTD}, "time_in_force"),
        ({"client_order_id": "far-too-long-for-kraken-ids"}, "client_order_id"),
    ],
)
def test_an_order_that_cannot_be_expressed_is_a_bug_and_is_never_sent(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(EncodeError) as caught:
        encode_order(order(**changes), BTC_USDT)
    assert caught.value.field == field


def test_a_price_off_a_coarse_tick_is_refused() -> None:
    half = attrs.evolve(BTC_USDT, tick_size=Decimal("0.5"))
    assert encode_order(order(price=Decimal("45000.5")), half)["price"] == "45000.5"
    with pytest.raises(EncodeError, match=r"multiple of 0\.5"):
        encode_order(order(price=Decimal("45000.1")), half)


def test_formatting_refuses_values_that_need_more_decimals_than_allowed() -> None:
    assert format_decimal(Decimal("1.50"), 1) == "1.5"
    assert format_decimal(Decimal("0E-8"), 8) == "0"
    with pytest.raises(EncodeError, match="more than 1 decimals"):
        format_decimal(Decimal("1.55"), 1, field="price")
    with pytest.raises(EncodeError, match="finite"):
        format_decimal(Decimal("Infinity"), 1)
    with pytest.raises(ValueError, match="decimals"):
        format_decimal(Decimal(1), -1)
    assert format_price(Decimal("0.52340"), XRP_USDT) == "0.5234"
    assert format_volume(Decimal("10.00000000"), XRP_USDT) == "10"


def test_huge_values_are_written_in_full() -> None:
    wide = Instrument(
        symbol="BTC/USDT",
        exchange_symbol="XBTUSDT",
        base="BTC",
        quote="USDT",
        min_size=Decimal(1),
        min_cost=Decimal(0),
        tick_size=Decimal("1E-8"),
        lot_size=Decimal("1E-8"),
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
    )
    value = Decimal("123456789012345678901234567890.12345678")
    assert format_price(value, wide) == "123456789012345678901234567890.12345678"


# --------------------------------------------------------------------------- amend and cancel
def resting(**changes: object) -> Order:
    return order(exchange_order_id=TXID, **changes)


def test_an_amend_names_the_order_by_txid_and_sends_only_what_changes() -> None:
    fields = encode_amend(resting(), Amendment(size=Decimal("0.02")), BTC_USDT)
    assert fields == {"txid": TXID, "order_qty": "0.02"}


def test_an_amend_before_kraken_answered_names_the_order_by_client_id() -> None:
    fields = encode_amend(order(), Amendment(price=Decimal("45100.5")), BTC_USDT)
    assert fields == {"cl_ord_id": CLIENT_ID, "limit_price": "45100.5"}


def test_amending_a_post_only_limit_price_keeps_it_post_only() -> None:
    fields = encode_amend(resting(post_only=True), Amendment(price=Decimal(45100)), BTC_USDT)
    assert fields == {"txid": TXID, "limit_price": "45100", "post_only": "true"}


def test_a_trailing_stop_move_amends_the_trigger_in_place() -> None:
    stop = resting(
        order_type=OrderType.STOP_LOSS_LIMIT,
        side=OrderSide.SELL,
        trigger_price=Decimal(44500),
        price=Decimal(44400),
    )
    change = Amendment(trigger_price=Decimal("44748.2"), price=Decimal("44648.2"))
    assert encode_amend(stop, change, BTC_USDT) == {
        "txid": TXID,
        "limit_price": "44648.2",
        "trigger_price": "44748.2",
    }


@pytest.mark.parametrize(
    ("changes", "amendment", "field"),
    [
        ({}, Amendment(), "amendment"),
        ({}, Amendment(trigger_price=Decimal(1)), "trigger_price"),
        (
            {"order_type": OrderType.STOP_LOSS, "price": None, "trigger_price": Decimal(2)},
            Amendment(price=Decimal(1)),
            "price",
        ),
        ({"order_type": OrderType.MARKET}, Amendment(price=Decimal(1)), "price"),
        ({}, Amendment(size=Decimal("0.000000001")), "size"),
        ({"exchange_order_id": "not-a-txid"}, Amendment(size=Decimal(1)), "exchange_order_id"),
        ({"symbol": "XRP/USDT"}, Amendment(size=Decimal(1)), "symbol"),
    ],
)
def test_an_amend_that_cannot_apply_is_refused(
    changes: dict[str, object], amendment: Amendment, field: str
) -> None:
    target = resting(**{k: v for k, v in changes.items() if k != "exchange_order_id"})
    if "exchange_order_id" in changes:
        target = attrs.evolve(target, exchange_order_id=str(changes["exchange_order_id"]))
    with pytest.raises(EncodeError) as caught:
        encode_amend(target, amendment, BTC_USDT)
    assert caught.value.field == field


def test_a_cancel_names_the_order_by_txid_or_else_by_client_id() -> None:
    assert encode_cancel(resting()) == {"txid": TXID}
    assert encode_cancel(order()) == {"cl_ord_id": CLIENT_ID}


def test_the_dead_mans_switch_timeout_must_be_under_a_day() -> None:
    assert encode_cancel_all_after(60) == {"timeout": "60"}
    assert encode_cancel_all_after(0) == {"timeout": "0"}
    with pytest.raises(EncodeError):
        encode_cancel_all_after(86_400)
    with pytest.raises(EncodeError):
        encode_cancel_all_after(-1)


# --------------------------------------------------------------------------- queries
def test_query_orders_takes_at_most_twenty_valid_txids() -> None:
    assert encode_query_orders([TXID, "OQCLML-BW3P3-BUCMWZ"]) == {
        "txid": f"{TXID},OQCLML-BW3P3-BUCMWZ",
        "trades": "true",
    }
    assert encode_query_orders([TXID], trades=False) == {"txid": TXID}
    with pytest.raises(EncodeError, match="at most 20"):
        encode_query_orders([TXID] * 21)
    assert encode_query_orders([TXID] * 50, max_ids=50)["txid"].count(",") == 49
    with pytest.raises(EncodeError, match="order id"):
        encode_query_orders([TXID, "bad,id"])
    with pytest.raises(EncodeError, match="at least one"):
        encode_query_orders([])


def test_batches_split_many_ids_into_calls() -> None:
    ids = [f"O{i:05d}-AAAAA-BBBBBB" for i in range(45)]
    groups = batched(ids, 20)
    assert [len(g) for g in groups] == [20, 20, 5]
    assert [i for g in groups for i in g] == ids
    with pytest.raises(ValueError, match="size"):
        batched(ids, 0)


def test_query_trades_takes_at_most_twenty_trade_ids() -> None:
    assert encode_query_trades(["TGBB7L-HT5LX-J3BZ4A"]) == {"txid": "TGBB7L-HT5LX-J3BZ4A"}
    with pytest.raises(EncodeError, match="trade id"):
        encode_query_trades([TXID])
    with pytest.raises(EncodeError, match="at most 20"):
        encode_query_trades(["TGBB7L-HT5LX-J3BZ4A"] * 21)
    with pytest.raises(EncodeError, match="at least one"):
        encode_query_trades([])


def test_open_and_closed_orders_filter_by_client_id() -> None:
    assert encode_open_orders() == {"trades": "true"}
    assert encode_open_orders(client_order_id="entry-1", trades=False) == {"cl_ord_id": "entry-1"}
    assert encode_closed_orders(client_order_id="entry-1", start=1688666000, offset=50) == {
        "trades": "true",
        "cl_ord_id": "entry-1",
        "start": "1688666000",
        "ofs": "50",
    }
    with pytest.raises(EncodeError):
        encode_open_orders(client_order_id="no spaces allowed")


def test_trades_history_and_pairs_fields() -> None:
    assert encode_trades_history(start=1, end=2, offset=3) == {"start": "1", "end": "2", "ofs": "3"}
    assert encode_trades_history() == {}
    assert encode_pairs(["XBTUSDT", "XRPUSDT"]) == {"pair": "XBTUSDT,XRPUSDT"}
    assert query_string(encode_pairs(["XBTUSDT", "XRPUSDT"])) == "pair=XBTUSDT%2CXRPUSDT"
    with pytest.raises(EncodeError):
        encode_pairs([])
    with pytest.raises(EncodeError):
        encode_pairs(["XBTUSDT,XRPUSDT"])


# --------------------------------------------------------------------------- bodies
def test_the_form_body_reproduces_krakens_signed_test_vector() -> None:
    body = form_body(
        1616492376594,
        {"ordertype": "limit", "pair": "XBTUSD", "price": "37500", "type": "buy", "volume": "1.25"},
    )
    assert body == (
        "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    )
    secret = (
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="  # noqa: S105 - Kraken's published test vector
    )
    assert sign_request("/0/private/AddOrder", 1616492376594, body, secret) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_the_form_body_escapes_plus_commas_and_spaces() -> None:
    body = form_body(1, {"expiretm": "+30", "oflags": "post,fciq", "cl_ord_id": "a b"})
    assert body == "nonce=1&expiretm=%2B30&oflags=post%2Cfciq&cl_ord_id=a+b"


def test_a_body_cannot_carry_a_second_nonce() -> None:
    with pytest.raises(ValueError, match="nonce"):
        form_body(1, {"nonce": "2"})
    with pytest.raises(ValueError, match="nonce"):
        json_body(1, {"nonce": "2"})


def test_the_json_body_sends_booleans_as_json_and_everything_else_as_strings() -> None:
    fields = encode_order(
        order(reduce_only=True, leverage=Decimal(3)), BTC_USDT, WireOptions(validate_only=True)
    )
    assert json_body(7, fields) == (
        '{"nonce":7,"ordertype":"limit","type":"buy","volume":"0.01","pair":"XBTUSDT",'
        '"price":"45000.5","leverage":"3","reduce_only":true,"oflags":"fciq",'
        f'"cl_ord_id":"{CLIENT_ID}","validate":true}}'
    )
