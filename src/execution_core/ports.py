"""The ports: what the service layer needs from the world, as `typing.Protocol`s.

Adapters do not inherit from these; conformance is checked statically where the adapter is
defined (`_: type[Exchange] = SimulatedExchange`) and behaviourally by one contract suite per port
(tests/contract). Expected failures cross a port as `returns` `Result` values: the exchange's
refusals and transport failures are `ExchangeFailure`s with a retry class; exceptions crossing a
port are bugs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeAlias

import attrs
from returns.result import Result

from execution_core.domain.enums import FeeCurrency, LiquidityRole, OrderSide, OrderType
from execution_core.domain.events import Event
from execution_core.domain.instruments import Instrument
from execution_core.domain.orders import Fill, Order

if TYPE_CHECKING:
    from execution_core.domain.positions import Position


# --------------------------------------------------------------------------- exchange values
class RetryClass(enum.StrEnum):
    """What a caller may do after an exchange failure (kraken-api.md §8)."""

    RETRY = "retry"
    """Rejected before taking effect: the same request may be sent again."""
    WAIT = "wait"
    """Rate limit, lockout or maintenance: retry only after backing off."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """Timeout, 5xx, lost response: the request may have taken effect. Reconcile before retrying."""
    NEVER = "never"
    """The request is wrong; sending it again cannot succeed."""


class FailureKind(enum.StrEnum):
    """What went wrong at (or on the way to) the exchange, independent of Kraken's spelling."""

    INVALID_ARGUMENTS = "invalid_arguments"
    ORDER_MINIMUM = "order_minimum"
    COST_MINIMUM = "cost_minimum"
    INVALID_PRICE = "invalid_price"
    TICK_SIZE = "tick_size"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_ORDER = "unknown_order"
    INVALID_ORDER = "invalid_order"
    ORDERS_LIMIT = "orders_limit"
    RATE_LIMIT = "rate_limit"
    ORDER_RATE_LIMIT = "order_rate_limit"
    AUTHENTICATION = "authentication"
    INVALID_NONCE = "invalid_nonce"
    PERMISSION = "permission"
    LOCKOUT = "lockout"
    MARKET_RESTRICTED = "market_restricted"
    UNAVAILABLE = "unavailable"
    TRANSPORT = "transport"
    UNKNOWN_PAIR = "unknown_pair"
    MARGIN = "margin"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class ExchangeFailure:
    """The exchange refused a request, or the request's outcome is unknown.

    `code` is the exchange's own error string (e.g. `EOrder:Insufficient funds`) or, for a
    transport failure, a description such as `HTTP 502`. `retry` says what the caller may do.
    """

    kind: FailureKind
    retry: RetryClass
    code: str
    message: str = ""

    @property
    def outcome_unknown(self) -> bool:
        """Whether the request may have taken effect (resolve before retrying a placement)."""
        return self.retry is RetryClass.OUTCOME_UNKNOWN

    def __str__(self) -> str:
        suffix = f" ({self.message})" if self.message else ""
        return f"{self.code}{suffix} [{self.kind}, {self.retry}]"


class ReportedStatus(enum.StrEnum):
    """An order's status as the exchange reports it (Kraken OrderInfo `status`)."""

    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"
    CANCELED = "canceled"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class TradeReport:
    """One execution as the exchange reports it."""

    trade_id: str
    exchange_order_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: FeeCurrency = FeeCurrency.QUOTE
    liquidity: LiquidityRole = LiquidityRole.TAKER
    timestamp: datetime

    def to_fill(self, order: Order) -> Fill:
        """This trade as a domain fill of `order`."""
        return Fill(
            trade_id=self.trade_id,
            order_id=order.id,
            symbol=order.symbol,
            side=order.side,
            quantity=self.quantity,
            price=self.price,
            fee=self.fee,
            fee_currency=self.fee_currency,
            liquidity=self.liquidity,
            timestamp=self.timestamp,
        )


@attrs.frozen(kw_only=True)
class OrderReport:
    """An order as the exchange reports it: cumulative executed volume, cost and fee.

    A canceled or expired order with `filled_size > 0` was partially filled; consumers use
    `filled_size`, never the status alone. `trades` holds the individual executions when the
    exchange reported them (it may be empty even when `filled_size > 0`).
    """

    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: OrderSide
    order_type: OrderType
    status: ReportedStatus
    size: Decimal
    filled_size: Decimal
    filled_cost: Decimal
    fee: Decimal
    fee_currency: FeeCurrency = FeeCurrency.QUOTE
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    reason: str | None = None
    trades: tuple[TradeReport, ...] = ()

    @property
    def average_price(self) -> Decimal | None:
        """filled_cost / filled_size, or None before any fill."""
        if not self.filled_size:
            return None
        return self.filled_cost / self.filled_size

    @property
    def is_closed(self) -> bool:
        """Whether the exchange will not fill this order any further."""
        return self.status not in {ReportedStatus.PENDING, ReportedStatus.OPEN}


@attrs.frozen(kw_only=True)
class Placement:
    """The exchange accepted an order."""

    exchange_order_id: str
    client_order_id: str


@attrs.frozen(kw_only=True)
class Balance:
    """One asset's balance: `total` includes what open orders hold; `available` does not."""

    asset: str
    total: Decimal
    available: Decimal


@attrs.frozen(kw_only=True)
class Amendment:
    """A change to a resting order, applied in place (Kraken AmendOrder): ids and fills stay."""

    size: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


ExchangeResult: TypeAlias = Result
"""Readability alias: `ExchangeResult[T, ExchangeFailure]` is a plain `Result`."""


class Exchange(Protocol):
    """A spot exchange. Every method returns `Failure(ExchangeFailure)` rather than raising."""

    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        """Send `order` (with its client order id); a lost answer is OUTCOME_UNKNOWN."""
        ...

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        """Amend a resting order in place (not cancel-and-replace)."""
        ...

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        """Cancel one order; an order already gone is `FailureKind.UNKNOWN_ORDER`."""
        ...

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        """Cancel every open order; returns how many were cancelled."""
        ...

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        """Dead man's switch: cancel everything unless called again within the timeout (0 = off)."""
        ...

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        """Reports for many orders in as few calls as the exchange allows (one poll, not N)."""
        ...

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        """The order with this client id among open AND closed orders; None if it never arrived."""
        ...

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        """Every open order of the account (to find orders we do not know)."""
        ...

    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        """Balances by our asset name (BTC, USDT, XRP)."""
        ...

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        """The exchange's live instrument rules."""
        ...

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        """The last traded price of `symbol` (used to size and protect market orders)."""
        ...


# --------------------------------------------------------------------------- repository
@attrs.frozen(kw_only=True)
class PositionSnapshot:
    """A stored point-in-time valuation of one position at a fresh price."""

    position_id: str
    symbol: str
    price: Decimal
    size: Decimal
    unrealized_pnl: Decimal
    unrealized_pnl_pct: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class UnitOfWork:
    """What one state change writes, atomically: its events and the rows it changed."""

    events: tuple[Event, ...] = ()
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    positions: tuple[Position, ...] = ()
    snapshots: tuple[PositionSnapshot, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.fills or self.positions or self.snapshots)


@attrs.frozen(kw_only=True)
class StoredEvent:
    """An event with the sequence number the repository gave it."""

    sequence: int
    event: Event


class Repository(Protocol):
    """The book's store. `commit` writes one unit of work in one transaction, or nothing."""

    async def commit(self, unit: UnitOfWork) -> None:
        """Append the events and upsert the rows of `unit` in one transaction, or raise."""
        ...

    async def load_open_orders(self) -> Sequence[Order]:
        """Every order not in a terminal status."""
        ...

    async def load_order(self, order_id: str) -> Order | None:
        """One order by our id, open or not."""
        ...

    async def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        """One order by its client order id."""
        ...

    async def load_open_positions(self) -> Sequence[Position]:
        """Every position still open."""
        ...

    async def load_position(self, position_id: str) -> Position | None:
        """One position by id, open or closed."""
        ...

    async def load_fills(self, order_id: str) -> Sequence[Fill]:
        """The fills stored for one order, in the order they were stored."""
        ...

    async def load_events(self, after_sequence: int = 0) -> Sequence[StoredEvent]:
        """Stored events with a sequence number above `after_sequence`, in order."""
        ...

    async def load_snapshots(self, position_id: str) -> Sequence[PositionSnapshot]:
        """The snapshots of one position, oldest first."""
        ...


# --------------------------------------------------------------------------- clock
class Clock(Protocol):
    """Time, for the service layer: wall time for records, monotonic time and sleep for pacing."""

    def now(self) -> datetime:
        """The current UTC time (timezone-aware)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and pacing)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a fake clock advances instead)."""
        ...


# --------------------------------------------------------------------------- risk engine
@attrs.frozen(kw_only=True)
class CircuitBreakerStatus:
    """Whether the risk engine's circuit breaker forbids new entries, and why."""

    active: bool
    reason: str = ""


class RiskAction(enum.StrEnum):
    """What the risk engine can ask the execution layer to do."""

    CLOSE = "close"
    REDUCE = "reduce"
    HALT = "halt"


@attrs.frozen(kw_only=True)
class RiskAlert:
    """A request from the risk engine: close or reduce a position (by id or symbol), or halt."""

    action: RiskAction
    reason: str
    symbol: str | None = None
    position_id: str | None = None
    fraction: Decimal = Decimal(1)


class RiskEngine(Protocol):
    """The risk engine the execution layer reports to and takes orders from."""

    async def circuit_breaker(self) -> CircuitBreakerStatus:
        """The circuit breaker's current status."""
        ...

    async def update_exposures(self, exposures: Mapping[str, Decimal]) -> None:
        """The actual (filled) exposure per symbol, in quote, after every change."""
        ...

    async def drain_alerts(self) -> Sequence[RiskAlert]:
        """Alerts raised since the last call (close / reduce / halt requests)."""
        ...


# --------------------------------------------------------------------------- publisher
class EventPublisher(Protocol):
    """Where events go after they are stored (a message bus, a dashboard, a notebook)."""

    async def publish(self, events: Sequence[Event]) -> None:
        """Deliver `events`, in order."""
        ...
