"""The values of the paper matching engine, in Kraken's vocabulary (kraken-api.md §2-§5, §8, §9.2).

Requests (`OrderRequest`, `AmendRequest`), acknowledgements, the records queries return
(`OrderInfo`, `TradeInfo`, both convertible to the Exchange port's reports), balances, the typed
`EngineError` carrying Kraken's exact error string, and the configuration (rate tier, liquidity,
fee rounding). The engine itself lives in `engine.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    TimeInForce,
)
from execution_core.domain.numbers import ZERO, DecimalLike, to_decimal, to_optional_decimal
from execution_core.ports import OrderReport, ReportedStatus, TradeReport


# --------------------------------------------------------------------------- errors
class ErrorCode:
    """Kraken's error strings as the engine answers them (kraken-api.md §8).

    Strings marked UNCERTAIN in the reference are our best reading; `EngineConfig` lets a test
    swap the one most likely to differ (the duplicate `cl_ord_id` answer).
    """

    UNKNOWN_PAIR: Final = "EQuery:Unknown asset pair"
    INVALID_ARGUMENTS: Final = "EGeneral:Invalid arguments"
    ORDER_MINIMUM: Final = "EOrder:Order minimum not met"
    COST_MINIMUM: Final = "EOrder:Cost minimum not met"
    TICK_SIZE: Final = "EOrder:Tick size check failed"
    INSUFFICIENT_FUNDS: Final = "EOrder:Insufficient funds"
    UNKNOWN_ORDER: Final = "EOrder:Unknown order"
    INVALID_ORDER: Final = "EOrder:Invalid order"
    ORDERS_LIMIT: Final = "EOrder:Orders limit exceeded"
    RATE_LIMIT: Final = "EOrder:Rate limit exceeded"
    UNAVAILABLE: Final = "EService:Unavailable"
    POST_ONLY_AMEND: Final = "EOrder:Post only order"
    """An amend with `post_only` whose new limit price would take (UNCERTAIN wording)."""

    @staticmethod
    def invalid_argument(field: str) -> str:
        """`EGeneral:Invalid arguments:<field>` (e.g. `volume`, `price2`)."""
        return f"EGeneral:Invalid arguments:{field}"

    @staticmethod
    def price_decimals(pair_id: str, decimals: int) -> str:
        """The too-many-decimals answer; Kraken names the pair by its id (`XBTUSDT`).

        >>> ErrorCode.price_decimals("XBTUSDT", 1)
        'EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals.'
        """
        return (
            f"EOrder:Invalid price:{pair_id} price can only be specified up to {decimals} decimals."
        )

    @staticmethod
    def market_mode(status: str) -> str:
        """`EService:Market in <status> mode` (cancel_only, post_only, limit_only, reduce_only)."""
        return f"EService:Market in {status} mode"


@attrs.frozen
class EngineError:
    """The engine refused a request; `code` is Kraken's exact error string."""

    code: str

    def __str__(self) -> str:
        return self.code


class Reason:
    """The `reason` the engine writes on orders it closes without a full fill.

    Only "User requested" and "Post only order" are confirmed by the reference (kraken-api.md
    §2.3, §5.3); the others are UNCERTAIN and chosen to be self-explanatory.
    """

    USER_REQUESTED: Final = "User requested"
    POST_ONLY: Final = "Post only order"
    IOC_REMAINDER: Final = "IOC remainder"
    EXPIRED: Final = "Expired"
    DEAD_MANS_SWITCH: Final = "Dead man's switch"
    INSUFFICIENT_FUNDS: Final = "Insufficient funds"
    AMENDED_BELOW_EXECUTED: Final = "Amended below executed volume"


# --------------------------------------------------------------------------- requests
class OFlag(enum.StrEnum):
    """Order flags (Kraken `oflags`): post-only, fee in base / quote; `nompp` is ignored."""

    POST = "post"
    FCIB = "fcib"
    FCIQ = "fciq"
    NOMPP = "nompp"
    VIQC = "viqc"


def oflags_set(value: str | Iterable[str]) -> frozenset[str]:
    """Kraken's comma-separated `oflags` (or an iterable of flags) as a set of strings.

    >>> sorted(oflags_set("post, fcib"))
    ['fcib', 'post']
    """
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip() for item in items if item.strip())


def _side(value: OrderSide | str) -> OrderSide:
    return OrderSide(value)


def _ordertype(value: OrderType | str) -> OrderType:
    return OrderType(value)


def _timeinforce(value: TimeInForce | str) -> TimeInForce:
    return TimeInForce(value)


def _volume(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="volume")


def _price(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="price")


def _price2(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="price2")


def _leverage(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="leverage")


def _order_qty(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="order_qty")


def _limit_price(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="limit_price")


def _trigger_price(value: DecimalLike | None) -> Decimal | None:
    return to_optional_decimal(value, field="trigger_price")


@attrs.frozen(kw_only=True)
class OrderRequest:
    """An AddOrder request (kraken-api.md §2.1): our symbol as `pair`, Kraken's `type` as `side`.

    `price` / `price2` follow §2.2: the limit price of a `limit`; the trigger of the stop and
    take-profit types, whose `-limit` variants take their limit price in `price2`. Numbers may be
    given as Decimal, int or str (floats go through `str()`), `side` / `ordertype` /
    `timeinforce` as enums or their wire spellings (`"sell"`, `"stop-loss"`, `"IOC"`; anything
    else raises ValueError); relative prices (`+5`, `#2%`) are resolved by the caller.
    `validate=True` checks the request without placing it (no txid, no rate cost, no funds
    check).
    """

    pair: str
    side: OrderSide = attrs.field(converter=_side)
    ordertype: OrderType = attrs.field(converter=_ordertype)
    volume: Decimal = attrs.field(converter=_volume)
    price: Decimal | None = attrs.field(default=None, converter=_price)
    price2: Decimal | None = attrs.field(default=None, converter=_price2)
    timeinforce: TimeInForce = attrs.field(default=TimeInForce.GTC, converter=_timeinforce)
    expiretm: datetime | None = None
    cl_ord_id: str | None = None
    userref: int | None = None
    oflags: frozenset[str] = attrs.field(default=frozenset(), converter=oflags_set)
    reduce_only: bool = False
    leverage: Decimal | None = attrs.field(default=None, converter=_leverage)
    validate: bool = False


@attrs.frozen(kw_only=True)
class AmendRequest:
    """An AmendOrder request (kraken-api.md §3.1): the order by `txid` or `cl_ord_id`, new values.

    `order_qty` is the new total quantity; `limit_price` is the limit (the `price2` of a -limit
    type); `trigger_price` the trigger of an untriggered stop or take-profit. `post_only`
    refuses a new limit price that would take liquidity.
    """

    txid: str | None = None
    cl_ord_id: str | None = None
    order_qty: Decimal | None = attrs.field(default=None, converter=_order_qty)
    limit_price: Decimal | None = attrs.field(default=None, converter=_limit_price)
    trigger_price: Decimal | None = attrs.field(default=None, converter=_trigger_price)
    post_only: bool = False


# --------------------------------------------------------------------------- records
@attrs.frozen(kw_only=True)
class TradeInfo:
    """One execution (a Kraken trade record, kraken-api.md §5.4)."""

    txid: str
    ordertxid: str
    pair: str
    side: OrderSide
    ordertype: OrderType
    price: Decimal
    vol: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: FeeCurrency
    maker: bool
    time: datetime
    trade_id: int

    def to_report(self) -> TradeReport:
        """This trade as the Exchange port's `TradeReport`."""
        return TradeReport(
            trade_id=self.txid,
            exchange_order_id=self.ordertxid,
            quantity=self.vol,
            price=self.price,
            fee=self.fee,
            fee_currency=self.fee_currency,
            liquidity=LiquidityRole.MAKER if self.maker else LiquidityRole.TAKER,
            timestamp=self.time,
        )


@attrs.frozen(kw_only=True)
class OrderInfo:
    """A snapshot of one order with Kraken's OrderInfo fields (kraken-api.md §5.2).

    `price` / `price2` are the prices as sent (`descr.price` / `descr.price2`); `avg_price` is
    Kraken's top-level `price` (0 before any fill). `cost` and `fee` are cumulative; `fee` is in
    `fee_currency`. A canceled or expired order may carry fills: read `vol_exec`, not the status.
    """

    txid: str
    pair: str
    exchange_pair: str
    side: OrderSide
    ordertype: OrderType
    status: ReportedStatus
    vol: Decimal
    vol_exec: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: FeeCurrency
    price: Decimal | None
    price2: Decimal | None
    timeinforce: TimeInForce
    opentm: datetime
    closetm: datetime | None
    expiretm: datetime | None
    reason: str | None
    misc: tuple[str, ...]
    oflags: tuple[str, ...]
    cl_ord_id: str | None
    userref: int | None
    leverage: Decimal | None
    reduce_only: bool
    triggered: bool
    descr: str
    trades: tuple[TradeInfo, ...]

    @property
    def avg_price(self) -> Decimal:
        """The average execution price, cost / vol_exec (Kraken shows 0 before any fill)."""
        return self.cost / self.vol_exec if self.vol_exec else ZERO

    @property
    def remaining(self) -> Decimal:
        """What is left to execute: vol - vol_exec."""
        return self.vol - self.vol_exec

    @property
    def limit_price(self) -> Decimal | None:
        """The limit price: `price` of a limit, `price2` of a -limit type, else None."""
        if self.ordertype is OrderType.LIMIT:
            return self.price
        if self.ordertype.has_limit_price:
            return self.price2
        return None

    @property
    def trigger_price(self) -> Decimal | None:
        """The trigger of a stop or take-profit type (its `price`), else None."""
        return self.price if self.ordertype.is_triggered else None

    @property
    def stopprice(self) -> Decimal:
        """Kraken's `stopprice`: the trigger of a triggered type, else 0."""
        return self.trigger_price or ZERO

    @property
    def limitprice(self) -> Decimal:
        """Kraken's `limitprice`: the limit of a -limit type, else 0."""
        return self.price2 if self.ordertype.is_triggered and self.price2 is not None else ZERO

    @property
    def is_open(self) -> bool:
        """Whether the order may still trade (status pending or open)."""
        return self.status in {ReportedStatus.PENDING, ReportedStatus.OPEN}

    @property
    def trade_ids(self) -> tuple[str, ...]:
        """The ids of this order's trades, oldest first (Kraken `trades`)."""
        return tuple(trade.txid for trade in self.trades)

    @property
    def misc_csv(self) -> str:
        """`misc` as Kraken writes it (`"stopped,amended"`)."""
        return ",".join(self.misc)

    @property
    def oflags_csv(self) -> str:
        """`oflags` as Kraken writes it (`"post,fciq"`)."""
        return ",".join(self.oflags)

    def to_report(self) -> OrderReport:
        """This order as the Exchange port's `OrderReport` (with its trades)."""
        return OrderReport(
            exchange_order_id=self.txid,
            client_order_id=self.cl_ord_id,
            symbol=self.pair,
            side=self.side,
            order_type=self.ordertype,
            status=self.status,
            size=self.vol,
            filled_size=self.vol_exec,
            filled_cost=self.cost,
            fee=self.fee,
            fee_currency=self.fee_currency,
            limit_price=self.limit_price,
            trigger_price=self.trigger_price,
            opened_at=self.opentm,
            closed_at=self.closetm,
            reason=self.reason,
            trades=tuple(trade.to_report() for trade in self.trades),
        )


# --------------------------------------------------------------------------- acknowledgements
@attrs.frozen(kw_only=True)
class AddOrderAck:
    """AddOrder's answer: the txid (None when only validating), `descr`, the order after placement.

    `order` already shows what happened at once: an immediate fill, an IOC remainder canceled,
    a post-only order canceled because it would have taken liquidity.
    """

    txid: str | None
    descr: str
    order: OrderInfo | None


@attrs.frozen(kw_only=True)
class AmendAck:
    """AmendOrder's answer: the amend id and the order after the amendment."""

    amend_id: str
    order: OrderInfo


@attrs.frozen(kw_only=True)
class CancelAck:
    """CancelOrder / CancelAll's answer: how many were canceled (`pending` is always False)."""

    count: int
    txids: tuple[str, ...] = ()
    pending: bool = False


@attrs.frozen(kw_only=True)
class DeadMansSwitch:
    """CancelAllOrdersAfter's answer: the current time and the trigger time (None = disabled)."""

    current_time: datetime
    trigger_time: datetime | None


@attrs.frozen(kw_only=True)
class AssetBalance:
    """One asset: `total` includes what open orders hold; `available` = total - held."""

    asset: str
    total: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        """What a new order may use."""
        return self.total - self.held


# --------------------------------------------------------------------------- configuration
@attrs.frozen(kw_only=True)
class RateTier:
    """The per-pair matching-engine limits of one account tier (kraken-api.md §9.2)."""

    name: str
    decay_per_second: Decimal
    threshold: Decimal
    max_open_orders: int


STARTER: Final = RateTier(
    name="Starter", decay_per_second=Decimal(1), threshold=Decimal(60), max_open_orders=60
)
INTERMEDIATE: Final = RateTier(
    name="Intermediate",
    decay_per_second=Decimal("2.34"),
    threshold=Decimal(125),
    max_open_orders=80,
)
PRO: Final = RateTier(
    name="Pro", decay_per_second=Decimal("3.75"), threshold=Decimal(180), max_open_orders=225
)
UNLIMITED: Final = RateTier(
    name="Unlimited",
    decay_per_second=Decimal(1000),
    threshold=Decimal(10**12),
    max_open_orders=10**9,
)
"""No practical limit: for benchmarks and scenarios that are not about rate limits."""


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance
    if value < 0:
        msg = f"EngineConfig.{attribute.name} must be >= 0 (got {value})"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class EngineConfig:
    """How the engine behaves where Kraken leaves room or a test needs a knob.

    - `tier`: rate counter decay / threshold and max open orders per pair.
    - `enforce_rate_limit`: refuse adds and amends over the threshold (the counter always counts).
    - `reject_cancels_over_limit`: refuse cancels over the threshold too (Kraken generally
      accepts them; UNCERTAIN).
    - `duplicate_cl_ord_id_error`: the answer to a `cl_ord_id` already used by an open order.
    - `fee_decimals`: fees are rounded half-up to this many places.
    - `hold_untriggered`: untriggered stop / take-profit orders hold funds like any open order
      (Kraken spot does); if False they are funded only when they trigger.
    - `liquidity_per_update` / `liquidity_per_order`: default caps (base volume) on what one
      price update can fill per symbol / per order (None = unlimited); `set_liquidity`
      overrides them per symbol.
    - `max_query_txids`: how many txids one QueryOrders / QueryTrades may name.
    """

    tier: RateTier = STARTER
    enforce_rate_limit: bool = True
    reject_cancels_over_limit: bool = False
    duplicate_cl_ord_id_error: str = ErrorCode.INVALID_ORDER
    fee_decimals: int = attrs.field(default=8, validator=_non_negative_int)
    hold_untriggered: bool = True
    liquidity_per_update: Decimal | None = None
    liquidity_per_order: Decimal | None = None
    max_query_txids: int = attrs.field(default=50, validator=_non_negative_int)
