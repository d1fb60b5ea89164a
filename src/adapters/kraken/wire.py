"""Kraken's wire format: our orders as request fields, Kraken's JSON results as our reports.

Encoding (kraken-api.md §2-§5): `encode_order` maps an `Order` to AddOrder's fields with §2.2's
price semantics -- `stop-loss` / `take-profit` carry their trigger in `price`; the `-limit` variants
carry the trigger in `price` and the limit in `price2` (the review's CRITICAL-5 had it backwards);
a protected market order goes out as `limit` + `IOC` at its cap. Prices and volumes are written in
plain notation with at most the pair's decimals; a value that needs more is a bug upstream (the
domain rounds in the safe direction) and raises `EncodeError` instead of being nudged here.

Parsing (§5-§7): every parser takes the `result` object of the envelope (see `errors`), checks
every field it reads and returns `Success(value)` or `Failure(MalformedResponse)` naming the path
and the problem -- never a KeyError. Numbers arrive as strings; they become `Decimal`.

Names: Kraken calls BTC/USDT `XBTUSDT` (pair id and altname) or `XBT/USDT` (wsname), and XRP/BTC
`XXRPXXBT` / `XRPXBT` / `XRP/XBT`; legacy asset ids carry an X/Z prefix (`XXBT`, `ZUSD`).
`PairNames` maps all of them to our symbols; a pair we do not know keeps Kraken's name (it has
no `/`, so it never collides with one of ours).
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, ParamSpec, TypeVar, assert_never
from urllib.parse import urlencode

import attrs
from returns.result import Failure, Result, Success

from adapters.kraken.ids import (
    InvalidId,
    validate_amend_id,
    validate_client_order_id,
    validate_order_id,
    validate_trade_id,
)
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    SymbolStatus,
    TimeInForce,
)
from execution_core.domain.instruments import Instrument, Instruments
from execution_core.domain.numbers import HUNDRED, ONE, ZERO, InvalidNumber, to_decimal
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    Balance,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    Placement,
    ReportedStatus,
    RetryClass,
    TradeReport,
)

QUERY_ORDERS_MAX_IDS: Final = 20
"""QueryOrders ids per call: the docs now say 50, older docs 20 (UNCERTAIN) -- 20 is safe."""
QUERY_TRADES_MAX_IDS: Final = 20
"""QueryTrades ids per call (documented maximum)."""
CANCEL_ALL_AFTER_MAX: Final = 86_400
"""CancelAllOrdersAfter's timeout must be below one day."""

_WIDE: Final = Context(prec=100)  # enough digits that quantize/normalize never round a price


# =========================================================================== formatting
class EncodeError(ValueError):
    """An order or request that cannot be written as Kraken fields: a bug upstream, never sent."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def format_decimal(value: Decimal, decimals: int, *, field: str = "value") -> str:
    """`value` in plain notation with at most `decimals` decimals; EncodeError if it needs more.

    >>> format_decimal(Decimal("45000.10"), 1, field="price")
    '45000.1'
    >>> format_decimal(Decimal("1E+5"), 1), format_decimal(Decimal("1E-8"), 8)
    ('100000', '0.00000001')
    >>> format_decimal(Decimal("0.123"), 2, field="price")
    Traceback (most recent call last):
    ...
    adapters.kraken.wire.EncodeError: price: 0.123 has more than 2 decimals
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0 (got {decimals})")
    if not value.is_finite():
        raise EncodeError(field, f"{value} is not a finite number")
    try:
        exact = value.quantize(Decimal(1).scaleb(-decimals), context=_WIDE)
    except InvalidOperation:
        raise EncodeError(field, f"{value} cannot be written with {decimals} decimals") from None
    if exact != value:
        raise EncodeError(field, f"{value} has more than {decimals} decimals")
    if exact.is_zero():
        return "0"
    return format(exact.normalize(_WIDE), "f")


def _on_step(value: Decimal, step: Decimal, decimals: int, field: str) -> str:
    if value <= ZERO:
        raise EncodeError(field, f"{value} must be > 0")
    text = format_decimal(value, decimals, field=field)
    if _WIDE.remainder(value, step) != ZERO:
        raise EncodeError(field, f"{value} is not a multiple of {step}")
    return text


def format_price(value: Decimal, instrument: Instrument, *, field: str = "price") -> str:
    """A price on `instrument`'s tick, in plain notation (EncodeError if off the tick)."""
    return _on_step(value, instrument.tick_size, instrument.price_decimals, field)


def format_volume(value: Decimal, instrument: Instrument, *, field: str = "volume") -> str:
    """A base volume on `instrument`'s lot step, in plain notation (EncodeError if off the step)."""
    return _on_step(value, instrument.lot_size, instrument.size_decimals, field)


# =========================================================================== names
_LEGACY_ASSETS: Final = MappingProxyType(
    {
        "XXBT": "BTC",
        "XBT": "BTC",
        "XXDG": "DOGE",
        "XDG": "DOGE",
        "XETH": "ETH",
        "XETC": "ETC",
        "XLTC": "LTC",
        "XMLN": "MLN",
        "XREP": "REP",
        "XXLM": "XLM",
        "XXMR": "XMR",
        "XXRP": "XRP",
        "XZEC": "ZEC",
        "XICN": "ICN",
        "XNMC": "NMC",
        "XXVN": "XVN",
        "XDAO": "DAO",
        "ZUSD": "USD",
        "ZEUR": "EUR",
        "ZGBP": "GBP",
        "ZCAD": "CAD",
        "ZJPY": "JPY",
        "ZAUD": "AUD",
        "ZCHF": "CHF",
        "ZKRW": "KRW",
    }
)
"""Kraken's legacy asset ids (X/Z-prefixed, XBT, XDG) and our names for them."""


def asset_from_kraken(asset_id: str) -> str:
    """Our name of a Kraken asset id; a balance suffix (`.S`, `.M`, `.F`...) is kept.

    >>> [asset_from_kraken(a) for a in ("XXBT", "XBT", "ZUSD", "XXRP", "USDT", "XDG", "XBT.M")]
    ['BTC', 'BTC', 'USD', 'XRP', 'USDT', 'DOGE', 'BTC.M']
    """
    asset, dot, suffix = asset_id.partition(".")
    return f"{_LEGACY_ASSETS.get(asset, asset)}{dot}{suffix}"


@attrs.frozen(kw_only=True)
class PairName:
    """Every name of one pair: our symbol (also Kraken's WS v2 name), pair id, altname, wsname."""

    symbol: str
    pair_id: str
    altname: str
    wsname: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling that refers to this pair."""
        names = (self.symbol, self.pair_id, self.altname, self.wsname)
        return tuple(dict.fromkeys(n for n in names if n))


def _index(entries: Iterable[PairName]) -> Mapping[str, PairName]:
    index: dict[str, PairName] = {}
    for entry in entries:
        for name in entry.names:
            if index.setdefault(name, entry) != entry:
                raise ValueError(f"pair name {name!r} names both {index[name]} and {entry}")
    return MappingProxyType(index)


@attrs.frozen
class PairNames:
    """Our symbols <-> Kraken's pair ids, altnames and wsnames.

    >>> names = DEFAULT_PAIR_NAMES
    >>> names.symbol_of("XBTUSDT"), names.symbol_of("XRPXBT"), names.symbol_of("XRP/XBT")
    ('BTC/USDT', 'XRP/BTC', 'XRP/BTC')
    >>> names.pair_id_of("XRP/BTC"), names.symbol_of("DOTUSD")
    ('XXRPXXBT', 'DOTUSD')
    """

    entries: tuple[PairName, ...]
    _by_name: Mapping[str, PairName] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_name", _index(self.entries))

    def lookup(self, name: str) -> PairName | None:
        """The pair any of whose names is `name`, or None."""
        return self._by_name.get(name)

    def symbol_of(self, name: str) -> str:
        """Our symbol for a Kraken pair name; an unknown name is returned as it is."""
        entry = self._by_name.get(name)
        return entry.symbol if entry else name

    def pair_id_of(self, symbol: str) -> str | None:
        """Kraken's pair id for one of our symbols (or any other name of the pair)."""
        entry = self._by_name.get(symbol)
        return entry.pair_id if entry else None

    def merged(self, other: PairNames) -> PairNames:
        """These names with `other`'s added; `other` wins for a symbol both know."""
        symbols = {e.symbol for e in other.entries}
        return PairNames((*(e for e in self.entries if e.symbol not in symbols), *other.entries))


DEFAULT_PAIR_NAMES: Final = PairNames(
    (
        PairName(symbol="BTC/USDT", pair_id="XBTUSDT", altname="XBTUSDT", wsname="XBT/USDT"),
        PairName(symbol="BTC/USD", pair_id="XXBTZUSD", altname="XBTUSD", wsname="XBT/USD"),
        PairName(symbol="XRP/USDT", pair_id="XRPUSDT", altname="XRPUSDT", wsname="XRP/USDT"),
        PairName(symbol="XRP/USD", pair_id="XXRPZUSD", altname="XRPUSD", wsname="XRP/USD"),
        PairName(symbol="XRP/BTC", pair_id="XXRPXXBT", altname="XRPXBT", wsname="XRP/XBT"),
        PairName(symbol="ETH/USDT", pair_id="ETHUSDT", altname="ETHUSDT", wsname="ETH/USDT"),
    )
)
"""The pairs of kraken-api.md §6 (the three we trade and their USD/ETH neighbours)."""


# =========================================================================== encoding
class TriggerReference(enum.StrEnum):
    """The price a stop or take-profit watches (Kraken `trigger`)."""

    LAST = "last"
    INDEX = "index"


@attrs.frozen(kw_only=True)
class WireOptions:
    """Choices for points kraken-api.md marks UNCERTAIN or leaves to the caller.

    `trigger`: None sends nothing (Kraken's default, `last`); `index` may be refused on some pairs.
    `true_text`: how a boolean is spelled in a form body (Kraken certainly accepts `true`).
    `fee_flag`: always send `fciq`/`fcib`, so the fee currency never depends on Kraken's default
    (its docs and its behaviour disagree for sells).
    `validate_only`: send `validate=true` (Kraken checks the order and places nothing).
    `reduce_only_on_spot`: Kraken documents `reduce_only` for margin orders only, and a spot
    order has no margin position to reduce (`EOrder:Reduce only:No position exists`). By default
    it is sent only with leverage > 1, so a spot stop-loss is never refused for carrying it; the
    domain already keeps exits within the open size.
    """

    trigger: TriggerReference | None = None
    true_text: str = "true"
    fee_flag: bool = True
    validate_only: bool = False
    reduce_only_on_spot: bool = False


DEFAULT_WIRE_OPTIONS: Final = WireOptions()

_KRAKEN_ORDER_TYPE: Final = MappingProxyType(
    {
        OrderType.MARKET: "market",
        OrderType.LIMIT: "limit",
        OrderType.STOP_LOSS: "stop-loss",
        OrderType.TAKE_PROFIT: "take-profit",
        OrderType.STOP_LOSS_LIMIT: "stop-loss-limit",
        OrderType.TAKE_PROFIT_LIMIT: "take-profit-limit",
    }
)


def _required(value: Decimal | None, field: str, why: str) -> Decimal:
    if value is None:
        raise EncodeError(field, f"is required {why}")
    return value


def _forbidden(value: object, field: str, why: str) -> None:
    if value is not None:
        raise EncodeError(field, f"must not be set {why}")


def _expiry(order: Order) -> str:
    expires_at = order.expires_at
    if expires_at is None:
        raise EncodeError("expires_at", "is required for a GTD order")
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise EncodeError("expires_at", "must be timezone-aware")
    # Whole seconds, rounded down: the order never outlives the time we asked for.
    return str(int(expires_at.timestamp() // 1))


def _prices(order: Order, instrument: Instrument) -> dict[str, str]:
    """`price` / `price2` per kraken-api.md §2.2."""
    kind = order.order_type
    what = f"for a {kind} order"
    match kind:
        case OrderType.MARKET:
            _forbidden(order.trigger_price, "trigger_price", what)
            if order.price is None:
                return {}
            return {"price": format_price(order.price, instrument)}
        case OrderType.LIMIT:
            _forbidden(order.trigger_price, "trigger_price", what)
            return {"price": format_price(_required(order.price, "price", what), instrument)}
        case OrderType.STOP_LOSS | OrderType.TAKE_PROFIT:
            _forbidden(order.price, "price", f"{what} (use the -limit type for a limit)")
            trigger = _required(order.trigger_price, "trigger_price", what)
            return {"price": format_price(trigger, instrument, field="trigger_price")}
        case OrderType.STOP_LOSS_LIMIT | OrderType.TAKE_PROFIT_LIMIT:
            trigger = _required(order.trigger_price, "trigger_price", what)
            limit = _required(order.price, "price", what)
            return {
                "price": format_price(trigger, instrument, field="trigger_price"),
                "price2": format_price(limit, instrument),
            }
        case _:  # pragma: no cover - mypy checks exhaustiveness
            assert_never(kind)


def _time_in_force(order: Order) -> dict[str, str]:
    if order.order_type is OrderType.MARKET:
        if order.time_in_force is TimeInForce.GTD:
            raise EncodeError("time_in_force", "a market order cannot be GTD")
        # A protected market order must never rest: it is a limit that fills or dies at once.
        return {"timeinforce": TimeInForce.IOC.value} if order.price is not None else {}
    match order.time_in_force:
        case TimeInForce.GTC:
            return {}
        case TimeInForce.IOC:
            return {"timeinforce": TimeInForce.IOC.value}
        case TimeInForce.GTD:
            return {"timeinforce": TimeInForce.GTD.value, "expiretm": _expiry(order)}
        case _:  # pragma: no cover - mypy checks exhaustiveness
            assert_never(order.time_in_force)


def _leverage(order: Order) -> dict[str, str]:
    leverage = order.leverage
    if leverage < ONE:
        raise EncodeError("leverage", f"{leverage} must be >= 1")
    if leverage == ONE:
        return {}
    if leverage != leverage.to_integral_value():
        raise EncodeError("leverage", f"{leverage} must be a whole number (Kraken takes 2, 3, ...)")
    return {"leverage": str(int(leverage))}


def _oflags(order: Order, options: WireOptions) -> dict[str, str]:
    flags: list[str] = []
    if order.post_only:
        if order.order_type is not OrderType.LIMIT:
            raise EncodeError("post_only", f"applies to limit orders only, not {order.order_type}")
        flags.append("post")
    if options.fee_flag:
        flags.append("fcib" if order.fee_currency is FeeCurrency.BASE else "fciq")
    return {"oflags": ",".join(flags)} if flags else {}


def _checked_id(result: Result[str, InvalidId], field: str) -> str:
    if isinstance(result, Failure):
        raise EncodeError(field, result.failure().message)
    return result.unwrap()


def _client_order_id(value: str) -> str:
    return _checked_id(validate_client_order_id(value), "client_order_id")


def _exchange_order_id(value: str) -> str:
    return _checked_id(validate_order_id(value), "exchange_order_id")


def encode_order(
    order: Order, instrument: Instrument, options: WireOptions = DEFAULT_WIRE_OPTIONS
) -> dict[str, str]:
    """AddOrder's fields for `order` on `instrument` (without the nonce).

    >>> from execution_core.domain.instruments import BTC_USDT
    >>> stop = Order(id="o-1", client_order_id="sl-1", symbol="BTC/USDT", side=OrderSide.SELL,
    ...              order_type=OrderType.STOP_LOSS_LIMIT, size=Decimal("0.01"),
    ...              trigger_price=Decimal("44500"), price=Decimal("44400.5"))
    >>> print(form_body(1, encode_order(stop, BTC_USDT)))
    nonce=1&ordertype=stop-loss-limit&type=sell&volume=0.01&pair=XBTUSDT&price=44500&price2=44400.5&oflags=fciq&cl_ord_id=sl-1
    """
    if order.symbol != instrument.symbol:
        raise EncodeError(
            "symbol", f"order is for {order.symbol}, instrument is {instrument.symbol}"
        )
    prices = _prices(order, instrument)
    protected = order.is_protected_market
    fields = {
        "ordertype": "limit" if protected else _KRAKEN_ORDER_TYPE[order.order_type],
        "type": order.side.value,
        "volume": format_volume(order.size, instrument),
        "pair": instrument.exchange_symbol,
        **prices,
        **_time_in_force(order),
        **_leverage(order),
    }
    if order.reduce_only and (order.leverage > ONE or options.reduce_only_on_spot):
        fields["reduce_only"] = options.true_text
    fields.update(_oflags(order, options))
    fields["cl_ord_id"] = _client_order_id(order.client_order_id)
    if options.trigger is not None and order.order_type.is_triggered:
        fields["trigger"] = options.trigger.value
    if options.validate_only:
        fields["validate"] = options.true_text
    return fields


def _order_ref(order: Order) -> dict[str, str]:
    """Kraken's id when we have it (unique forever), else our client id (unique among open)."""
    if order.exchange_order_id is not None:
        return {"txid": _exchange_order_id(order.exchange_order_id)}
    return {"cl_ord_id": _client_order_id(order.client_order_id)}


def encode_amend(
    order: Order,
    amendment: Amendment,
    instrument: Instrument,
    options: WireOptions = DEFAULT_WIRE_OPTIONS,
) -> dict[str, str]:
    """AmendOrder's fields: the order by txid (or cl_ord_id) and the values that change.

    >>> from execution_core.domain.instruments import BTC_USDT
    >>> stop = Order(id="o-1", client_order_id="sl-1", symbol="BTC/USDT", side=OrderSide.SELL,
    ...              order_type=OrderType.STOP_LOSS, size=Decimal("0.01"),
    ...              trigger_price=Decimal("44500"), exchange_order_id="OUF4EM-FRGI2-MQMWZD")
    >>> encode_amend(stop, Amendment(trigger_price=Decimal("44748.2")), BTC_USDT)
    {'txid': 'OUF4EM-FRGI2-MQMWZD', 'trigger_price': '44748.2'}
    """
    if order.symbol != instrument.symbol:
        raise EncodeError(
            "symbol", f"order is for {order.symbol}, instrument is {instrument.symbol}"
        )
    fields = _order_ref(order)
    if amendment.size is not None:
        fields["order_qty"] = format_volume(amendment.size, instrument, field="size")
    if amendment.price is not None:
        if not order.order_type.has_limit_price:
            raise EncodeError("price", f"a {order.order_type} order has no limit price to amend")
        fields["limit_price"] = format_price(amendment.price, instrument)
        if order.post_only:
            fields["post_only"] = options.true_text
    if amendment.trigger_price is not None:
        if not order.order_type.is_triggered:
            raise EncodeError("trigger_price", f"a {order.order_type} order has no trigger")
        fields["trigger_price"] = format_price(
            amendment.trigger_price, instrument, field="trigger_price"
        )
    if not fields.keys() - {"txid", "cl_ord_id", "post_only"}:
        raise EncodeError("amendment", "changes nothing")
    return fields


def encode_cancel(order: Order) -> dict[str, str]:
    """CancelOrder's fields: Kraken's txid when known, else the client order id."""
    return _order_ref(order)


def encode_cancel_all_after(timeout_seconds: int) -> dict[str, str]:
    """CancelAllOrdersAfter's fields; 0 disables the dead man's switch."""
    if not 0 <= timeout_seconds < CANCEL_ALL_AFTER_MAX:
        raise EncodeError("timeout", f"{timeout_seconds} must be in [0, {CANCEL_ALL_AFTER_MAX})")
    return {"timeout": str(timeout_seconds)}


def _order_ids(ids: Sequence[str], max_ids: int) -> str:
    if not ids:
        raise EncodeError("txid", "at least one order id is required")
    if len(ids) > max_ids:
        raise EncodeError("txid", f"{len(ids)} ids, at most {max_ids} per call (use batched)")
    return ",".join(_exchange_order_id(i) for i in ids)


def encode_query_orders(
    exchange_order_ids: Sequence[str],
    *,
    trades: bool = True,
    max_ids: int = QUERY_ORDERS_MAX_IDS,
    options: WireOptions = DEFAULT_WIRE_OPTIONS,
) -> dict[str, str]:
    """QueryOrders' fields for up to `max_ids` order ids (with their trade ids by default)."""
    fields = {"txid": _order_ids(exchange_order_ids, max_ids)}
    if trades:
        fields["trades"] = options.true_text
    return fields


def encode_query_trades(
    trade_ids: Sequence[str], *, max_ids: int = QUERY_TRADES_MAX_IDS
) -> dict[str, str]:
    """QueryTrades' fields for up to `max_ids` trade ids."""
    if not trade_ids:
        raise EncodeError("txid", "at least one trade id is required")
    if len(trade_ids) > max_ids:
        raise EncodeError("txid", f"{len(trade_ids)} ids, at most {max_ids} per call")
    return {"txid": ",".join(_checked_id(validate_trade_id(t), "txid") for t in trade_ids)}


def encode_open_orders(
    *,
    client_order_id: str | None = None,
    trades: bool = True,
    options: WireOptions = DEFAULT_WIRE_OPTIONS,
) -> dict[str, str]:
    """OpenOrders' fields, optionally filtered by client order id."""
    fields: dict[str, str] = {}
    if trades:
        fields["trades"] = options.true_text
    if client_order_id is not None:
        fields["cl_ord_id"] = _client_order_id(client_order_id)
    return fields


def encode_closed_orders(
    *,
    client_order_id: str | None = None,
    trades: bool = True,
    start: int | None = None,
    offset: int | None = None,
    options: WireOptions = DEFAULT_WIRE_OPTIONS,
) -> dict[str, str]:
    """ClosedOrders' fields: filter by client order id, start (unix seconds, exclusive), offset."""
    fields = encode_open_orders(client_order_id=client_order_id, trades=trades, options=options)
    if start is not None:
        fields["start"] = str(start)
    if offset is not None:
        fields["ofs"] = str(offset)
    return fields


def encode_trades_history(
    *, start: int | None = None, end: int | None = None, offset: int | None = None
) -> dict[str, str]:
    """TradesHistory's fields (unix seconds; newest first, 50 per page)."""
    fields: dict[str, str] = {}
    if start is not None:
        fields["start"] = str(start)
    if end is not None:
        fields["end"] = str(end)
    if offset is not None:
        fields["ofs"] = str(offset)
    return fields


def encode_pairs(pair_ids: Sequence[str]) -> dict[str, str]:
    """The `pair` list of AssetPairs, Ticker (query string) and TradeVolume (body)."""
    if not pair_ids or any(not p or "," in p for p in pair_ids):
        raise EncodeError("pair", f"needs one or more pair names without commas (got {pair_ids})")
    return {"pair": ",".join(pair_ids)}


def batched(ids: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """`ids` in consecutive groups of at most `size` (one QueryOrders call each).

    >>> batched(["a", "b", "c"], 2)
    [('a', 'b'), ('c',)]
    """
    if size < 1:
        raise ValueError(f"size must be >= 1 (got {size})")
    return [tuple(ids[i : i + size]) for i in range(0, len(ids), size)]


_JSON_BOOLEANS: Final = frozenset(
    {"reduce_only", "validate", "trades", "post_only", "consolidate_taker", "without_count"}
)


def form_body(nonce: int, fields: Mapping[str, str]) -> str:
    """The form-encoded body exactly as sent and signed: the nonce first, then `fields`.

    >>> form_body(1616492376594, {"ordertype": "limit", "pair": "XBTUSD", "price": "37500",
    ...                           "type": "buy", "volume": "1.25"})
    'nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25'
    """
    if "nonce" in fields:
        raise ValueError("fields must not carry their own nonce")
    return urlencode([("nonce", str(nonce)), *fields.items()])


def json_body(nonce: int, fields: Mapping[str, str]) -> str:
    """The JSON body exactly as sent and signed; boolean fields become JSON booleans.

    >>> json_body(42, {"txid": "OUF4EM-FRGI2-MQMWZD", "trades": "true"})
    '{"nonce":42,"txid":"OUF4EM-FRGI2-MQMWZD","trades":true}'
    """
    if "nonce" in fields:
        raise ValueError("fields must not carry their own nonce")
    body: dict[str, object] = {"nonce": nonce}
    for key, value in fields.items():
        is_bool = key in _JSON_BOOLEANS and value.lower() in {"true", "false"}
        body[key] = value.lower() == "true" if is_bool else value
    return json.dumps(body, separators=(",", ":"))


def query_string(fields: Mapping[str, str]) -> str:
    """The query string of a public GET call (`pair=XBTUSDT%2CXRPUSDT`)."""
    return urlencode(list(fields.items()))


# =========================================================================== parsing
@attrs.frozen(kw_only=True)
class MalformedResponse:
    """A Kraken result that is not shaped as documented: where (`path`) and what is wrong."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        """`<path>: <reason>`."""
        return f"{self.path}: {self.reason}"

    def to_failure(self) -> ExchangeFailure:
        """As a port failure: we cannot tell what Kraken did, so the outcome is unknown."""
        return ExchangeFailure(
            kind=FailureKind.OTHER,
            retry=RetryClass.OUTCOME_UNKNOWN,
            code="malformed response",
            message=self.message,
        )

    def __str__(self) -> str:
        return self.message


class _Malformed(Exception):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _parser(function: Callable[_P, _T]) -> Callable[_P, Result[_T, MalformedResponse]]:
    @functools.wraps(function)
    def parse(*args: _P.args, **kwargs: _P.kwargs) -> Result[_T, MalformedResponse]:
        try:
            return Success(function(*args, **kwargs))
        except _Malformed as error:
            return Failure(MalformedResponse(path=error.path, reason=error.reason))

    return parse


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _Malformed(path, f"must be an object, not {_kind(value)}")
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _Malformed(path, f"must be a list, not {_kind(value)}")
    return value


def _field(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj:
        raise _Malformed(f"{path}.{key}", "is missing")
    return obj[key]


def _text_value(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(path, f"must be a string, not {_kind(value)}")
    return value


def _text(obj: Mapping[str, object], key: str, path: str) -> str:
    return _text_value(_field(obj, key, path), f"{path}.{key}")


def _opt_text(obj: Mapping[str, object], key: str, path: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _text_value(value, f"{path}.{key}")


def _decimal_value(value: object, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
        raise _Malformed(path, f"must be a number or a numeric string, not {_kind(value)}")
    try:
        return to_decimal(value, field=path)
    except InvalidNumber as error:
        raise _Malformed(path, error.reason) from None


def _decimal(obj: Mapping[str, object], key: str, path: str) -> Decimal:
    return _decimal_value(_field(obj, key, path), f"{path}.{key}")


def _amount(obj: Mapping[str, object], key: str, path: str) -> Decimal:
    value = _decimal(obj, key, path)
    if value < ZERO:
        raise _Malformed(f"{path}.{key}", f"must be >= 0 (got {value})")
    return value


def _positive(obj: Mapping[str, object], key: str, path: str) -> Decimal:
    value = _decimal(obj, key, path)
    if value <= ZERO:
        raise _Malformed(f"{path}.{key}", f"must be > 0 (got {value})")
    return value


def _opt_price(obj: Mapping[str, object], key: str, path: str) -> Decimal | None:
    """A price that Kraken reports as 0 (or omits) when it does not apply."""
    if obj.get(key) is None:
        return None
    value = _amount(obj, key, path)
    return None if value.is_zero() else value


def _int_value(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    raise _Malformed(path, f"must be an integer, not {_kind(value)} {value!r}")


def _bool_value(value: object, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise _Malformed(path, f"must be a boolean, not {_kind(value)}")


def _timestamp_value(value: object, path: str) -> datetime:
    seconds = _decimal_value(value, path)
    if seconds < ZERO:
        raise _Malformed(path, f"must be >= 0 (got {seconds})")
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    try:
        return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micros)
    except (OverflowError, OSError, ValueError):
        raise _Malformed(path, f"{seconds} is not a usable unix time") from None


def _is_unset(value: object) -> bool:
    """Kraken's spellings of "no value" for a time: null, 0, "0" or ""."""
    if value is None:
        return True
    return not isinstance(value, bool) and any(value == unset for unset in (0, "0", ""))


def _opt_timestamp(obj: Mapping[str, object], key: str, path: str) -> datetime | None:
    value = obj.get(key)
    if _is_unset(value):
        return None
    return _timestamp_value(value, f"{path}.{key}")


def _valid_id(result: Result[str, InvalidId], path: str) -> str:
    if isinstance(result, Failure):
        raise _Malformed(path, result.failure().message)
    return result.unwrap()


def _side(value: str, path: str) -> OrderSide:
    try:
        return OrderSide(value)
    except ValueError:
        raise _Malformed(path, f"must be buy or sell (got {value!r})") from None


# --------------------------------------------------------------------------- order calls
@_parser
def parse_add_order(result: object, client_order_id: str) -> Placement:
    """AddOrder's result as a placement of the order we sent with `client_order_id`.

    >>> parse_add_order({"descr": {"order": "buy 1.25 XBTUSD @ limit 37500"},
    ...                  "txid": ["OUF4EM-FRGI2-MQMWZD"]}, "entry-1")
    <Success: Placement(exchange_order_id='OUF4EM-FRGI2-MQMWZD', client_order_id='entry-1')>
    """
    obj = _object(result, "result")
    txids = _list(_field(obj, "txid", "result"), "result.txid")
    if len(txids) != 1:
        raise _Malformed("result.txid", f"must hold exactly one order id (got {len(txids)})")
    exchange_order_id = _valid_id(validate_order_id(txids[0]), "result.txid[0]")
    return Placement(exchange_order_id=exchange_order_id, client_order_id=client_order_id)


@_parser
def parse_amend_order(result: object) -> str:
    """AmendOrder's `amend_id`."""
    obj = _object(result, "result")
    return _valid_id(validate_amend_id(_field(obj, "amend_id", "result")), "result.amend_id")


@attrs.frozen(kw_only=True)
class CancelResult:
    """CancelOrder / CancelAll: how many orders were cancelled, and whether that is pending."""

    count: int
    pending: bool = False


@_parser
def parse_cancel_order(result: object) -> CancelResult:
    """CancelOrder's (or CancelAll's) `{count, pending}`; a string count is accepted too."""
    obj = _object(result, "result")
    count = _int_value(_field(obj, "count", "result"), "result.count")
    pending = obj.get("pending")
    return CancelResult(
        count=count, pending=False if pending is None else _bool_value(pending, "result.pending")
    )


@attrs.frozen(kw_only=True)
class DeadMansSwitch:
    """CancelAllOrdersAfter's answer: Kraken's time now and when it will cancel (None: disabled)."""

    current_time: datetime
    trigger_time: datetime | None


def _rfc3339(value: object, path: str) -> datetime:
    text = _text_value(value, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Malformed(path, f"is not an RFC 3339 time (got {text!r})") from None
    if moment.tzinfo is None:
        raise _Malformed(path, f"has no time zone (got {text!r})")
    return moment


@_parser
def parse_cancel_all_after(result: object) -> DeadMansSwitch:
    """CancelAllOrdersAfter's `{currentTime, triggerTime}`; a trigger time of "0" means disabled."""
    obj = _object(result, "result")
    current = _rfc3339(_field(obj, "currentTime", "result"), "result.currentTime")
    trigger = _field(obj, "triggerTime", "result")
    disabled = _is_unset(trigger)
    return DeadMansSwitch(
        current_time=current,
        trigger_time=None if disabled else _rfc3339(trigger, "result.triggerTime"),
    )


# --------------------------------------------------------------------------- orders
_ORDER_TYPES: Final = MappingProxyType(
    {
        "market": OrderType.MARKET,
        "limit": OrderType.LIMIT,
        "stop-loss": OrderType.STOP_LOSS,
        "take-profit": OrderType.TAKE_PROFIT,
        "stop-loss-limit": OrderType.STOP_LOSS_LIMIT,
        "take-profit-limit": OrderType.TAKE_PROFIT_LIMIT,
        # Types we never place, reported as their nearest kind so foreign orders still show up.
        "iceberg": OrderType.LIMIT,
        "trailing-stop": OrderType.STOP_LOSS,
        "trailing-stop-limit": OrderType.STOP_LOSS_LIMIT,
        "settle-position": OrderType.MARKET,
    }
)
_STATUSES: Final = MappingProxyType({s.value: s for s in ReportedStatus})


def _descr_price(descr: Mapping[str, object], key: str, path: str) -> Decimal | None:
    """A descr price: None when absent, zero, or relative (`+50.0000%`, `-100`, `#2%`)."""
    value = descr.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or text[0] in "+-#" or text.endswith("%"):
            return None
    price = _decimal_value(value, f"{path}.{key}")
    if price < ZERO:
        raise _Malformed(f"{path}.{key}", f"must be >= 0 (got {price})")
    return None if price.is_zero() else price


def _order_prices(
    kraken_type: str, descr: Mapping[str, object], info: Mapping[str, object], path: str
) -> tuple[Decimal | None, Decimal | None]:
    """(limit price, trigger price) per kraken-api.md §2.2 and §5.2."""
    price = _descr_price(descr, "price", f"{path}.descr")
    price2 = _descr_price(descr, "price2", f"{path}.descr")
    stop = _opt_price(info, "stopprice", path)
    limit = _opt_price(info, "limitprice", path)
    match kraken_type:
        case "limit" | "iceberg":
            return price, None
        case "stop-loss" | "take-profit":
            return None, price or stop
        case "stop-loss-limit" | "take-profit-limit":
            return price2 or limit, price or stop
        case "trailing-stop":
            return None, stop
        case "trailing-stop-limit":
            return limit, stop
        case _:
            return None, None


def _fee_currency(oflags: str | None) -> FeeCurrency:
    flags = {f.strip() for f in (oflags or "").split(",")}
    return FeeCurrency.BASE if "fcib" in flags else FeeCurrency.QUOTE


def _trade_ids(info: Mapping[str, object], path: str) -> tuple[str, ...]:
    value = info.get("trades")
    if value is None:
        return ()
    items = _list(value, f"{path}.trades")
    return tuple(
        _valid_id(validate_trade_id(t), f"{path}.trades[{i}]") for i, t in enumerate(items)
    )


def _order_report(
    txid: str,
    info: object,
    names: PairNames,
    trades: Mapping[str, TradeReport],
    path: str,
) -> OrderReport:
    exchange_order_id = _valid_id(validate_order_id(txid), path)
    obj = _object(info, path)
    descr = _object(_field(obj, "descr", path), f"{path}.descr")
    status_text = _text(obj, "status", path)
    status = _STATUSES.get(status_text)
    if status is None:
        raise _Malformed(f"{path}.status", f"unknown status {status_text!r}")
    kraken_type = _text(descr, "ordertype", f"{path}.descr")
    order_type = _ORDER_TYPES.get(kraken_type)
    if order_type is None:
        raise _Malformed(f"{path}.descr.ordertype", f"unknown order type {kraken_type!r}")
    limit_price, trigger_price = _order_prices(kraken_type, descr, obj, path)
    client_order_id = _opt_text(obj, "cl_ord_id", path) or None
    if client_order_id is not None:
        client_order_id = _valid_id(validate_client_order_id(client_order_id), f"{path}.cl_ord_id")
    fee_currency = _fee_currency(_opt_text(obj, "oflags", path))
    attached = tuple(
        attrs.evolve(trades[t], fee_currency=fee_currency)
        for t in _trade_ids(obj, path)
        if t in trades and trades[t].exchange_order_id == exchange_order_id
    )
    return OrderReport(
        exchange_order_id=exchange_order_id,
        client_order_id=client_order_id,
        symbol=names.symbol_of(_text(descr, "pair", f"{path}.descr")),
        side=_side(_text(descr, "type", f"{path}.descr"), f"{path}.descr.type"),
        order_type=order_type,
        status=status,
        size=_amount(obj, "vol", path),
        filled_size=_amount(obj, "vol_exec", path),
        filled_cost=_amount(obj, "cost", path),
        fee=_amount(obj, "fee", path),
        fee_currency=fee_currency,
        limit_price=limit_price,
        trigger_price=trigger_price,
        opened_at=_opt_timestamp(obj, "opentm", path),
        closed_at=_opt_timestamp(obj, "closetm", path),
        reason=_opt_text(obj, "reason", path),
        trades=attached,
    )


_NO_TRADES: Final[Mapping[str, TradeReport]] = MappingProxyType({})


@_parser
def parse_order_info(
    txid: str,
    info: object,
    names: PairNames = DEFAULT_PAIR_NAMES,
    trades: Mapping[str, TradeReport] = _NO_TRADES,
) -> OrderReport:
    """One OrderInfo (QueryOrders / OpenOrders / ClosedOrders entry) as an `OrderReport`.

    `vol_exec` is the filled size whatever the status: a canceled or expired order with
    `vol_exec > 0` was partially filled. Trades of `trades` listed in the order's `trades` are
    attached (with the order's fee currency).
    """
    return _order_report(txid, info, names, trades, f"order {txid}")


def _orders(
    value: object, names: PairNames, trades: Mapping[str, TradeReport], path: str
) -> dict[str, OrderReport]:
    obj = _object(value, path)
    return {
        txid: _order_report(txid, info, names, trades, f"{path}.{txid}")
        for txid, info in obj.items()
    }


@_parser
def parse_query_orders(
    result: object,
    names: PairNames = DEFAULT_PAIR_NAMES,
    trades: Mapping[str, TradeReport] = _NO_TRADES,
) -> dict[str, OrderReport]:
    """QueryOrders' `{txid: OrderInfo}` as reports by exchange order id."""
    return _orders(result, names, trades, "result")


@_parser
def parse_open_orders(
    result: object,
    names: PairNames = DEFAULT_PAIR_NAMES,
    trades: Mapping[str, TradeReport] = _NO_TRADES,
) -> dict[str, OrderReport]:
    """OpenOrders' `{"open": {txid: OrderInfo}}` as reports by exchange order id."""
    obj = _object(result, "result")
    return _orders(_field(obj, "open", "result"), names, trades, "result.open")


@attrs.frozen(kw_only=True)
class OrdersPage:
    """One page of ClosedOrders: the reports and Kraken's total `count` (None if not sent)."""

    orders: Mapping[str, OrderReport]
    count: int | None


@_parser
def parse_closed_orders(
    result: object,
    names: PairNames = DEFAULT_PAIR_NAMES,
    trades: Mapping[str, TradeReport] = _NO_TRADES,
) -> OrdersPage:
    """ClosedOrders' `{"closed": {txid: OrderInfo}, "count": N}`."""
    obj = _object(result, "result")
    orders = _orders(_field(obj, "closed", "result"), names, trades, "result.closed")
    count = obj.get("count")
    return OrdersPage(
        orders=orders, count=None if count is None else _int_value(count, "result.count")
    )


@_parser
def collect_trade_ids(orders: object) -> tuple[str, ...]:
    """Every trade id listed by a `{txid: OrderInfo}` map (to fetch them with QueryTrades)."""
    obj = _object(orders, "orders")
    ids: dict[str, None] = {}
    for txid, info in obj.items():
        ids.update(dict.fromkeys(_trade_ids(_object(info, f"orders.{txid}"), f"orders.{txid}")))
    return tuple(ids)


# --------------------------------------------------------------------------- trades
def _trade_report(
    trade_id: str, info: object, fee_currency_of: Callable[[str], FeeCurrency], path: str
) -> TradeReport:
    valid_trade_id = _valid_id(validate_trade_id(trade_id), path)
    obj = _object(info, path)
    order_id = _valid_id(validate_order_id(_field(obj, "ordertxid", path)), f"{path}.ordertxid")
    maker = obj.get("maker")
    is_maker = maker is not None and _bool_value(maker, f"{path}.maker")
    return TradeReport(
        trade_id=valid_trade_id,
        exchange_order_id=order_id,
        quantity=_positive(obj, "vol", path),
        price=_positive(obj, "price", path),
        fee=_amount(obj, "fee", path),
        fee_currency=fee_currency_of(order_id),
        liquidity=LiquidityRole.MAKER if is_maker else LiquidityRole.TAKER,
        timestamp=_timestamp_value(_field(obj, "time", path), f"{path}.time"),
    )


_NO_FEE_CURRENCIES: Final[Mapping[str, FeeCurrency]] = MappingProxyType({})


@_parser
def parse_trade(
    trade_id: str, info: object, fee_currency: FeeCurrency = FeeCurrency.QUOTE
) -> TradeReport:
    """One trade (QueryTrades / TradesHistory entry); `maker: true` is a maker fill, else taker.

    Trades do not say their fee currency; it is the order's (its `oflags`), quote by default.
    """

    def fee_currency_of(order_id: str) -> FeeCurrency:
        del order_id
        return fee_currency

    return _trade_report(trade_id, info, fee_currency_of, f"trade {trade_id}")


def _trades(
    value: object, fee_currencies: Mapping[str, FeeCurrency], path: str
) -> dict[str, TradeReport]:
    def fee_currency_of(order_id: str) -> FeeCurrency:
        return fee_currencies.get(order_id, FeeCurrency.QUOTE)

    obj = _object(value, path)
    return {t: _trade_report(t, info, fee_currency_of, f"{path}.{t}") for t, info in obj.items()}


@_parser
def parse_query_trades(
    result: object, fee_currencies: Mapping[str, FeeCurrency] = _NO_FEE_CURRENCIES
) -> dict[str, TradeReport]:
    """QueryTrades' `{trade txid: Trade}`; `fee_currencies` maps order ids to their fee currency."""
    return _trades(result, fee_currencies, "result")


@attrs.frozen(kw_only=True)
class TradesPage:
    """One page of TradesHistory (newest first) and Kraken's total `count`."""

    trades: Mapping[str, TradeReport]
    count: int | None


@_parser
def parse_trades_history(
    result: object, fee_currencies: Mapping[str, FeeCurrency] = _NO_FEE_CURRENCIES
) -> TradesPage:
    """TradesHistory's `{"trades": {txid: Trade}, "count": N}`."""
    obj = _object(result, "result")
    trades = _trades(_field(obj, "trades", "result"), fee_currencies, "result.trades")
    count = obj.get("count")
    return TradesPage(
        trades=trades, count=None if count is None else _int_value(count, "result.count")
    )


# --------------------------------------------------------------------------- asset pairs
@attrs.frozen(kw_only=True)
class FeeTier:
    """A fee rate (a fraction: 0.0025 = 0.25%) from a 30-day volume upwards."""

    volume: Decimal
    rate: Decimal


@attrs.frozen(kw_only=True)
class KrakenPair:
    """One AssetPairs entry: its names, our `Instrument`, and what the instrument cannot hold."""

    name: PairName
    base_id: str
    quote_id: str
    instrument: Instrument
    taker_tiers: tuple[FeeTier, ...]
    maker_tiers: tuple[FeeTier, ...]
    leverage_buy: tuple[int, ...] = ()
    leverage_sell: tuple[int, ...] = ()
    cost_decimals: int | None = None
    fee_volume_currency: str | None = None


@attrs.frozen
class KrakenPairs:
    """AssetPairs, parsed: lookup by any pair name and the `Instruments` of all of them."""

    pairs: tuple[KrakenPair, ...]
    names: PairNames = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "names", PairNames(tuple(p.name for p in self.pairs)))

    def get(self, name: str) -> KrakenPair | None:
        """The pair any of whose names (our symbol, id, altname, wsname) is `name`."""
        entry = self.names.lookup(name)
        return next((p for p in self.pairs if p.name == entry), None) if entry else None

    def instruments(self) -> Instruments:
        """Every pair as an `Instrument`, by our symbol."""
        return Instruments.of(p.instrument for p in self.pairs)


_SYMBOL_STATUSES: Final = MappingProxyType({s.value: s for s in SymbolStatus})


def _tiers(value: object, path: str) -> tuple[FeeTier, ...]:
    tiers: list[FeeTier] = []
    for i, item in enumerate(_list(value, path)):
        pair = _list(item, f"{path}[{i}]")
        if len(pair) != 2:  # noqa: PLR2004 - [volume, percent]
            raise _Malformed(f"{path}[{i}]", f"must be [volume, percent] (got {len(pair)} items)")
        volume = _decimal_value(pair[0], f"{path}[{i}][0]")
        percent = _decimal_value(pair[1], f"{path}[{i}][1]")
        if volume < ZERO or percent < ZERO:
            raise _Malformed(f"{path}[{i}]", "volume and percent must be >= 0")
        tiers.append(FeeTier(volume=volume, rate=percent / HUNDRED))
    if not tiers:
        raise _Malformed(path, "must list at least one tier")
    return tuple(sorted(tiers, key=lambda t: t.volume))


def _leverages(obj: Mapping[str, object], key: str, path: str) -> tuple[int, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    items = _list(value, f"{path}.{key}")
    return tuple(_int_value(v, f"{path}.{key}[{i}]") for i, v in enumerate(items))


def _decimals(obj: Mapping[str, object], key: str, path: str) -> int:
    value = _int_value(_field(obj, key, path), f"{path}.{key}")
    if value > 18:  # noqa: PLR2004 - no pair has more; a bigger value is garbage
        raise _Malformed(f"{path}.{key}", f"{value} decimals is implausible")
    return value


def _tick(obj: Mapping[str, object], pair_decimals: int, path: str) -> Decimal:
    step = Decimal(1).scaleb(-pair_decimals)
    if obj.get("tick_size") is None:
        return step
    tick = _positive(obj, "tick_size", path)
    if tick >= step:
        return tick
    # A tick finer than pair_decimals allows: the price is bound by both, so use the coarser.
    if _WIDE.remainder(step, tick) != ZERO:
        raise _Malformed(f"{path}.tick_size", f"{tick} does not divide 10^-{pair_decimals}")
    return step


def _max_leverage(buy: tuple[int, ...], sell: tuple[int, ...]) -> Decimal:
    # The leverage both sides allow: a position may be long or short.
    return Decimal(max(1, min(max(buy, default=1), max(sell, default=1))))


def _pair(pair_id: str, info: object, path: str) -> KrakenPair:
    obj = _object(info, path)
    altname = _text(obj, "altname", path)
    wsname = _opt_text(obj, "wsname", path)
    base_id = _text(obj, "base", path)
    quote_id = _text(obj, "quote", path)
    symbol = f"{asset_from_kraken(base_id)}/{asset_from_kraken(quote_id)}"
    pair_decimals = _decimals(obj, "pair_decimals", path)
    lot_decimals = _decimals(obj, "lot_decimals", path)
    taker = _tiers(_field(obj, "fees", path), f"{path}.fees")
    maker = _tiers(obj["fees_maker"], f"{path}.fees_maker") if obj.get("fees_maker") else taker
    buy = _leverages(obj, "leverage_buy", path)
    sell = _leverages(obj, "leverage_sell", path)
    status_text = _opt_text(obj, "status", path)
    # An unknown status is treated as cancel-only: we place nothing on a pair we do not understand.
    status = (
        SymbolStatus.ONLINE
        if status_text is None
        else _SYMBOL_STATUSES.get(status_text, SymbolStatus.CANCEL_ONLY)
    )
    try:
        instrument = Instrument(
            symbol=symbol,
            exchange_symbol=pair_id,
            base=asset_from_kraken(base_id),
            quote=asset_from_kraken(quote_id),
            min_size=_positive(obj, "ordermin", path),
            min_cost=_amount(obj, "costmin", path) if obj.get("costmin") is not None else ZERO,
            tick_size=_tick(obj, pair_decimals, path),
            lot_size=Decimal(1).scaleb(-lot_decimals),
            maker_fee=maker[0].rate,
            taker_fee=taker[0].rate,
            max_leverage=_max_leverage(buy, sell),
            status=status,
        )
    except ValueError as error:
        raise _Malformed(path, str(error)) from None
    cost_decimals = obj.get("cost_decimals")
    fee_volume_currency = _opt_text(obj, "fee_volume_currency", path)
    return KrakenPair(
        name=PairName(symbol=symbol, pair_id=pair_id, altname=altname, wsname=wsname),
        base_id=base_id,
        quote_id=quote_id,
        instrument=instrument,
        taker_tiers=taker,
        maker_tiers=maker,
        leverage_buy=buy,
        leverage_sell=sell,
        cost_decimals=None
        if cost_decimals is None
        else _int_value(cost_decimals, f"{path}.cost_decimals"),
        fee_volume_currency=None
        if fee_volume_currency is None
        else asset_from_kraken(fee_volume_currency),
    )


@_parser
def parse_asset_pairs(result: object) -> KrakenPairs:
    """AssetPairs' `{pair id: info}` as pairs with instruments (fee percent -> fraction).

    `ordermin` -> min_size, `costmin` -> min_cost, `tick_size` -> tick (else 10^-pair_decimals),
    10^-lot_decimals -> lot, the entry fee tier -> maker/taker fee, the leverage both sides allow ->
    max_leverage (at least 1), `status` -> SymbolStatus. Dark-pool variants (ids with a `.`, e.g.
    `XXBTZUSD.d`) are skipped: they would share a symbol with the lit pair.
    """
    obj = _object(result, "result")
    pairs = tuple(
        _pair(pair_id, info, f"result.{pair_id}")
        for pair_id, info in obj.items()
        if "." not in pair_id
    )
    try:
        return KrakenPairs(pairs)
    except ValueError as error:
        raise _Malformed("result", str(error)) from None


# --------------------------------------------------------------------------- ticker
@attrs.frozen(kw_only=True)
class Ticker:
    """The last trade price and the best bid and ask of one pair."""

    symbol: str
    last: Decimal
    bid: Decimal
    ask: Decimal


def _first_price(obj: Mapping[str, object], key: str, path: str) -> Decimal:
    items = _list(_field(obj, key, path), f"{path}.{key}")
    if not items:
        raise _Malformed(f"{path}.{key}", "is empty")
    value = _decimal_value(items[0], f"{path}.{key}[0]")
    if value <= ZERO:
        raise _Malformed(f"{path}.{key}[0]", f"must be > 0 (got {value})")
    return value


@_parser
def parse_ticker(result: object, names: PairNames = DEFAULT_PAIR_NAMES) -> dict[str, Ticker]:
    """Ticker's `{pair id: {a, b, c, ...}}` as tickers by our symbol (`c[0]` is the last price)."""
    obj = _object(result, "result")
    tickers: dict[str, Ticker] = {}
    for pair, info in obj.items():
        path = f"result.{pair}"
        entry = _object(info, path)
        symbol = names.symbol_of(pair)
        tickers[symbol] = Ticker(
            symbol=symbol,
            last=_first_price(entry, "c", path),
            bid=_first_price(entry, "b", path),
            ask=_first_price(entry, "a", path),
        )
    return tickers


# --------------------------------------------------------------------------- balances
def _add_balance(balances: dict[str, Balance], kraken_asset: str, balance: Balance) -> None:
    if balance.asset in balances:
        raise _Malformed(f"result.{kraken_asset}", f"a second balance for {balance.asset}")
    balances[balance.asset] = balance


@_parser
def parse_balance(result: object) -> dict[str, Balance]:
    """Balance's `{asset id: amount}` by our asset name; `available` is `total` here.

    Balance cannot tell what open orders hold: prefer BalanceEx (`parse_balance_ex`).
    """
    obj = _object(result, "result")
    balances: dict[str, Balance] = {}
    for kraken_asset, value in obj.items():
        total = _decimal_value(value, f"result.{kraken_asset}")
        asset = asset_from_kraken(kraken_asset)
        _add_balance(balances, kraken_asset, Balance(asset=asset, total=total, available=total))
    return balances


@_parser
def parse_balance_ex(result: object) -> dict[str, Balance]:
    """BalanceEx's `{asset id: {balance, hold_trade}}`: available = balance - hold_trade.

    >>> parse_balance_ex({"XXBT": {"balance": "2.10", "hold_trade": "0.14"}}).unwrap()["BTC"]
    Balance(asset='BTC', total=Decimal('2.10'), available=Decimal('1.96'))
    """
    obj = _object(result, "result")
    balances: dict[str, Balance] = {}
    for kraken_asset, value in obj.items():
        path = f"result.{kraken_asset}"
        entry = _object(value, path)
        total = _decimal(entry, "balance", path)
        held = _amount(entry, "hold_trade", path) if entry.get("hold_trade") is not None else ZERO
        asset = asset_from_kraken(kraken_asset)
        balance = Balance(asset=asset, total=total, available=total - held)
        _add_balance(balances, kraken_asset, balance)
    return balances


# --------------------------------------------------------------------------- trade volume
@attrs.frozen(kw_only=True)
class FeeRates:
    """The account's current fee rates on one pair (fractions), and the next tier if any."""

    symbol: str
    taker: Decimal
    maker: Decimal
    next_taker: Decimal | None = None
    next_maker: Decimal | None = None
    next_volume: Decimal | None = None


@attrs.frozen(kw_only=True)
class AccountFees:
    """TradeVolume: the 30-day volume (in `currency`) and the fee rates by our symbol."""

    currency: str
    volume: Decimal
    rates: Mapping[str, FeeRates]


def _percent(obj: Mapping[str, object], keys: tuple[str, ...], path: str) -> Decimal | None:
    # Real responses spell `nextfee`, the OpenAPI document `next_fee` (UNCERTAIN): accept both.
    for key in keys:
        if obj.get(key) is not None:
            return _amount(obj, key, path) / HUNDRED
    return None


def _opt_amount(obj: Mapping[str, object], keys: tuple[str, ...], path: str) -> Decimal | None:
    for key in keys:
        if obj.get(key) is not None:
            return _amount(obj, key, path)
    return None


@_parser
def parse_trade_volume(result: object, names: PairNames = DEFAULT_PAIR_NAMES) -> AccountFees:
    """TradeVolume's `{currency, volume, fees, fees_maker}` (percent strings -> fractions)."""
    obj = _object(result, "result")
    fees = obj.get("fees") or {}
    fees_maker = obj.get("fees_maker") or {}
    taker_by_pair = _object(fees, "result.fees")
    maker_by_pair = _object(fees_maker, "result.fees_maker")
    rates: dict[str, FeeRates] = {}
    for pair, value in taker_by_pair.items():
        path = f"result.fees.{pair}"
        taker = _object(value, path)
        maker_value = maker_by_pair.get(pair)
        maker_path = f"result.fees_maker.{pair}"
        maker = taker if maker_value is None else _object(maker_value, maker_path)
        symbol = names.symbol_of(pair)
        rates[symbol] = FeeRates(
            symbol=symbol,
            taker=_amount(taker, "fee", path) / HUNDRED,
            maker=_amount(maker, "fee", maker_path if maker_value is not None else path) / HUNDRED,
            next_taker=_percent(taker, ("nextfee", "next_fee"), path),
            next_maker=_percent(maker, ("nextfee", "next_fee"), maker_path)
            if maker_value is not None
            else None,
            next_volume=_opt_amount(taker, ("nextvolume", "next_volume"), path),
        )
    return AccountFees(
        currency=asset_from_kraken(_text(obj, "currency", "result")),
        volume=_amount(obj, "volume", "result"),
        rates=MappingProxyType(rates),
    )


def with_account_fees(instruments: Instruments, fees: AccountFees) -> Instruments:
    """`instruments` with the account's maker/taker rates where TradeVolume reported them."""
    updated = instruments
    for instrument in instruments:
        rates = fees.rates.get(instrument.symbol)
        if rates is not None:
            updated = updated.replace(
                attrs.evolve(instrument, maker_fee=rates.maker, taker_fee=rates.taker)
            )
    return updated
