"""Properties of the Kraken protocol part: round trips, plain formatting, nonces, robustness."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from adapters.kraken.errors import CATALOGUE, ErrorCode, classify_error, parse_envelope
from adapters.kraken.nonce import NonceSource
from adapters.kraken.signing import ApiSecret, sign_request, verify_signature
from adapters.kraken.wire import (
    DEFAULT_PAIR_NAMES,
    EncodeError,
    encode_order,
    format_decimal,
    parse_asset_pairs,
    parse_balance_ex,
    parse_closed_orders,
    parse_open_orders,
    parse_order_info,
    parse_query_trades,
    parse_ticker,
    parse_trade_volume,
    parse_trades_history,
)
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.instruments import BTC_USDT, XRP_BTC, XRP_USDT, Instrument
from execution_core.domain.orders import Order
from execution_core.ports import FailureKind, OrderReport, RetryClass

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "kraken"
INSTRUMENTS = (BTC_USDT, XRP_USDT, XRP_BTC)


# --------------------------------------------------------------------------- strategies
@st.composite
def orders(draw: st.DrawFn) -> tuple[Order, Instrument]:
    instrument = draw(st.sampled_from(INSTRUMENTS))
    order_type = draw(st.sampled_from(list(OrderType)))
    protected = order_type is OrderType.MARKET and draw(st.booleans())

    def on_tick() -> Decimal:
        return instrument.tick_size * draw(st.integers(1, 10**9))

    price = on_tick() if order_type.has_limit_price or protected else None
    trigger = on_tick() if order_type.is_triggered else None
    tif = TimeInForce.GTC
    expires = None
    if order_type is not OrderType.MARKET:
        tif = draw(st.sampled_from(list(TimeInForce)))
        if tif is TimeInForce.GTD:
            expires = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
                seconds=draw(st.integers(0, 10**8)), microseconds=draw(st.integers(0, 999_999))
            )
    order = Order(
        id="o-1",
        client_order_id=draw(st.uuids()).__str__(),
        symbol=instrument.symbol,
        side=draw(st.sampled_from(list(OrderSide))),
        order_type=order_type,
        size=instrument.lot_size * draw(st.integers(1, 10**12)),
        price=price,
        trigger_price=trigger,
        time_in_force=tif,
        expires_at=expires,
        leverage=Decimal(draw(st.integers(1, 5))),
        reduce_only=draw(st.booleans()),
        post_only=order_type is OrderType.LIMIT and draw(st.booleans()),
        fee_currency=draw(st.sampled_from(list(FeeCurrency))),
    )
    return order, instrument


def kraken_order_info(fields: dict[str, str], instrument: Instrument) -> dict[str, object]:
    """An OrderInfo as Kraken would list the order just placed with `fields` (§5.2)."""
    names = DEFAULT_PAIR_NAMES.lookup(fields["pair"])
    assert names is not None

    def px(key: str) -> str:
        return f"{Decimal(fields[key]):.{instrument.price_decimals}f}" if key in fields else "0"

    return {
        "refid": None,
        "userref": 0,
        "cl_ord_id": fields["cl_ord_id"],
        "status": "open",
        "opentm": Decimal("1700000000.123456"),
        "starttm": 0,
        "expiretm": int(fields.get("expiretm", "0")),
        "descr": {
            "pair": names.altname,
            "type": fields["type"],
            "ordertype": fields["ordertype"],
            "price": px("price"),
            "price2": px("price2"),
            "leverage": f"{fields['leverage']}:1" if "leverage" in fields else "none",
            "order": "...",
            "close": "",
        },
        "vol": f"{Decimal(fields['volume']):.{instrument.size_decimals}f}",
        "vol_exec": "0.00000000",
        "cost": "0.00000",
        "fee": "0.00000",
        "price": "0.00000",
        "stopprice": "0.00000",
        "limitprice": "0.00000",
        "misc": "",
        "oflags": fields.get("oflags", "fciq"),
    }


def decimals_of(text: str) -> int:
    return len(text.partition(".")[2])


# --------------------------------------------------------------------------- round trips
@given(orders())
def test_an_encoded_order_parsed_back_keeps_side_type_volume_and_prices(
    case: tuple[Order, Instrument],
) -> None:
    order, instrument = case
    fields = encode_order(order, instrument)
    report = parse_order_info("OUF4EM-FRGI2-MQMWZD", kraken_order_info(fields, instrument))
    assert isinstance(report, Success)
    parsed: OrderReport = report.unwrap()
    assert parsed.symbol == order.symbol
    assert parsed.side is order.side
    expected_type = OrderType.LIMIT if order.is_protected_market else order.order_type
    assert parsed.order_type is expected_type
    assert parsed.size == order.size
    assert parsed.limit_price == order.price
    assert parsed.trigger_price == order.trigger_price
    assert parsed.client_order_id == order.client_order_id
    assert parsed.fee_currency is order.fee_currency
    assert parsed.filled_size == 0


@given(orders())
def test_encoded_prices_and_volumes_are_plain_and_within_the_pair_decimals(
    case: tuple[Order, Instrument],
) -> None:
    order, instrument = case
    fields = encode_order(order, instrument)
    for key in ("price", "price2", "volume", "expiretm", "leverage"):
        if key in fields:
            assert "e" not in fields[key].lower()
            assert Decimal(fields[key]) >= 0
    for key in ("price", "price2"):
        if key in fields:
            assert decimals_of(fields[key]) <= instrument.price_decimals
    assert decimals_of(fields["volume"]) <= instrument.size_decimals
    if order.expires_at is not None:
        expiry = datetime.fromtimestamp(int(fields["expiretm"]), UTC)
        assert order.expires_at - timedelta(seconds=1) < expiry <= order.expires_at
    if order.is_protected_market:
        assert (fields["ordertype"], fields["timeinforce"]) == ("limit", "IOC")


@given(st.integers(-(10**30), 10**30), st.integers(0, 12), st.integers(0, 6))
def test_formatting_is_plain_exact_and_never_beyond_the_allowed_decimals(
    mantissa: int, places: int, spare: int
) -> None:
    value = Decimal(mantissa).scaleb(-places)  # needs at most `places` decimals
    decimals = places + spare
    text = format_decimal(value, decimals)
    assert "e" not in text.lower()
    assert Decimal(text) == value
    assert decimals_of(text) <= decimals


@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**6, places=12),
    st.integers(0, 11),
)
def test_a_value_with_more_decimals_than_allowed_is_refused_not_rounded(
    value: Decimal, decimals: int
) -> None:
    needs_more = value != value.quantize(Decimal(1).scaleb(-decimals))
    try:
        text = format_decimal(value, decimals)
    except EncodeError:
        assert needs_more
    else:
        assert not needs_more
        assert Decimal(text) == value


# --------------------------------------------------------------------------- nonces
@given(st.lists(st.integers(0, 2**62), min_size=1, max_size=200))
def test_nonces_are_strictly_increasing_whatever_the_clock_does(readings: list[int]) -> None:
    clock = iter(readings)
    source = NonceSource(lambda: next(clock))
    nonces = [source.next_nonce() for _ in readings]
    assert all(a < b for a, b in itertools.pairwise(nonces))
    assert all(n >= r for n, r in zip(nonces, readings, strict=True))


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 8), st.integers(1, 200), st.integers(0, 2**40))
def test_nonces_drawn_concurrently_from_threads_are_unique_and_ordered_per_thread(
    threads: int, per_thread: int, start: int
) -> None:
    lock = threading.Lock()
    ticks = iter(range(start, start + 10 * threads * per_thread))

    def clock() -> int:  # a clock that advances slowly and is shared by every thread
        with lock:
            return next(ticks) // 7

    source = NonceSource(clock)
    drawn: list[list[int]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def draw(out: list[int]) -> None:
        barrier.wait()
        out.extend(source.next_nonce() for _ in range(per_thread))

    workers = [threading.Thread(target=draw, args=(out,)) for out in drawn]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    every = [n for out in drawn for n in out]
    assert len(set(every)) == threads * per_thread
    for out in drawn:
        assert out == sorted(out)
    assert source.last == max(every)


# --------------------------------------------------------------------------- signing, errors
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/", max_size=40),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=64),
)
def test_a_signature_verifies_for_its_request_only(
    path_tail: str, nonce: int, body: bytes, key: bytes
) -> None:
    path = f"/0/private/{path_tail}"
    secret = ApiSecret(key=key)
    signature = sign_request(path, nonce, body, secret)
    assert verify_signature(path, nonce, body, secret, signature)
    assert not verify_signature(path, nonce, body + b"x", secret, signature)
    assert not verify_signature(path, nonce + 1, body, secret, signature)


@given(st.text(max_size=200))
def test_any_error_string_is_classified_without_raising(text: str) -> None:
    failure = classify_error(text)
    assert failure.kind in set(FailureKind)
    assert failure.retry in set(RetryClass)


@given(st.sampled_from(list(ErrorCode)), st.text(max_size=60))
def test_an_extra_part_never_changes_a_codes_class(code: ErrorCode, extra: str) -> None:
    failure = classify_error(f"{code}:{extra}")
    spec = CATALOGUE[code]
    assert (failure.kind, failure.retry) == (spec.kind, spec.retry)


@given(st.integers(100, 599), st.text(max_size=300))
def test_any_response_body_yields_a_result_never_an_exception(status: int, body: str) -> None:
    result = parse_envelope(status, body)
    assert isinstance(result, (Success, Failure))


# --------------------------------------------------------------------------- robust parsers
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=6),
    st.text(max_size=25),
    st.sampled_from(["", "0", "-1", "NaN", "1e400", "+5%", "OUF4EM-FRGI2-MQMWZD", "fcib"]),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

PARSERS: dict[str, Callable[[object], Result[object, object]]] = {
    "open_orders.json": parse_open_orders,
    "closed_orders.json": parse_closed_orders,
    "query_trades.json": parse_query_trades,
    "trades_history.json": parse_trades_history,
    "asset_pairs.json": parse_asset_pairs,
    "ticker.json": parse_ticker,
    "balance_ex.json": parse_balance_ex,
    "trade_volume.json": parse_trade_volume,
}
RESULTS = {
    name: json.loads((FIXTURES / name).read_text(), parse_float=Decimal)["result"]
    for name in PARSERS
}


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths(item, (*prefix, index)))
    return found


@settings(max_examples=300)
@given(st.sampled_from(sorted(PARSERS)), st.data())
def test_a_fixture_with_any_field_broken_is_parsed_or_refused_never_raises(
    name: str, data: st.DataObject
) -> None:
    result = copy.deepcopy(RESULTS[name])
    path = data.draw(st.sampled_from(paths(result)))
    *parents, last = path
    target = result
    for step in parents:
        target = target[step]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[last]
    else:
        target[last] = data.draw(json_values)
    outcome = PARSERS[name](result)
    assert isinstance(outcome, (Success, Failure))


@given(json_values)
def test_any_json_value_is_parsed_or_refused_by_every_parser(value: object) -> None:
    for parser in PARSERS.values():
        assert isinstance(parser(value), (Success, Failure))
    assert isinstance(parse_order_info("OUF4EM-FRGI2-MQMWZD", value), (Success, Failure))
