"""Every state change produces one of these events; the repository appends them in order.

Events are frozen values with an `at` timestamp supplied by the caller (the core has no clock).
Each class has a stable `kind` used as the tag when the event is serialized at the edges.
New events are added at the end of a section and to the `Event` union below.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar, TypeAlias

import attrs

from execution_core.domain.enums import OrderStatus, TradingState, TriggerKind
from execution_core.domain.orders import Fill, Order


# --------------------------------------------------------------------------- orders
@attrs.frozen(kw_only=True)
class OrderCreated:
    """An order was planned and stored PENDING with its client order id, before any send."""

    kind: ClassVar[str] = "order_created"
    order: Order
    at: datetime


@attrs.frozen(kw_only=True)
class OrderSubmitted:
    """The order was sent; until the exchange answers its outcome is unknown."""

    kind: ClassVar[str] = "order_submitted"
    order_id: str
    client_order_id: str
    at: datetime


@attrs.frozen(kw_only=True)
class OrderAccepted:
    """The exchange acknowledged the order and gave it an id."""

    kind: ClassVar[str] = "order_accepted"
    order_id: str
    exchange_order_id: str
    at: datetime


@attrs.frozen(kw_only=True)
class OrderRejected:
    """The exchange (or the planner) refused the order; `code` is the stable reason."""

    kind: ClassVar[str] = "order_rejected"
    order_id: str
    code: str
    message: str
    at: datetime


@attrs.frozen(kw_only=True)
class OrderFilled:
    """A fill was applied; `status` is the order's status after it (partially filled or filled)."""

    kind: ClassVar[str] = "order_filled"
    order_id: str
    fill: Fill
    filled_size: Decimal
    status: OrderStatus
    at: datetime


@attrs.frozen(kw_only=True)
class OrderCancelled:
    """The order was cancelled; `filled_size` is what executed before (a partial fill stays)."""

    kind: ClassVar[str] = "order_cancelled"
    order_id: str
    filled_size: Decimal
    reason: str
    at: datetime


@attrs.frozen(kw_only=True)
class OrderExpired:
    """The order reached its GTD expiry or its configured timeout at the exchange."""

    kind: ClassVar[str] = "order_expired"
    order_id: str
    filled_size: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class OrderAmended:
    """The order was amended in place (size, limit price or trigger price)."""

    kind: ClassVar[str] = "order_amended"
    order_id: str
    size: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    at: datetime


@attrs.frozen(kw_only=True)
class OverfillDetected:
    """A reported execution would exceed the order's size; it was not applied."""

    kind: ClassVar[str] = "overfill_detected"
    order_id: str
    size: Decimal
    reported_filled_size: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class TransitionRefused:
    """An event the state machine has no transition for; logged and dropped."""

    kind: ClassVar[str] = "transition_refused"
    order_id: str
    status: OrderStatus
    event: str
    at: datetime


@attrs.frozen(kw_only=True)
class OrderNeedsReconciliation:
    """The order's state is uncertain (a failure around it); reconcile() will resolve it."""

    kind: ClassVar[str] = "order_needs_reconciliation"
    order_id: str
    reason: str
    at: datetime


# --------------------------------------------------------------------------- positions
@attrs.frozen(kw_only=True)
class PositionOpened:
    """A position was opened from entry fills."""

    kind: ClassVar[str] = "position_opened"
    position_id: str
    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class PositionIncreased:
    """Another entry fill added to a position (its entry price is the new VWAP)."""

    kind: ClassVar[str] = "position_increased"
    position_id: str
    quantity: Decimal
    price: Decimal
    size: Decimal
    entry_price: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class PositionReduced:
    """An exit fill reduced a position; `realized_pnl` is net of this exit's fees."""

    kind: ClassVar[str] = "position_reduced"
    position_id: str
    quantity: Decimal
    price: Decimal
    size: Decimal
    realized_pnl: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class PositionClosed:
    """The position's size reached zero; `realized_pnl` is its total, net of all fees."""

    kind: ClassVar[str] = "position_closed"
    position_id: str
    exit_price: Decimal
    realized_pnl: Decimal
    reason: str
    at: datetime


@attrs.frozen(kw_only=True)
class StopMoved:
    """The stop-loss changed (manual modification or trailing)."""

    kind: ClassVar[str] = "stop_moved"
    position_id: str
    old: Decimal | None
    new: Decimal | None
    reason: str
    at: datetime


@attrs.frozen(kw_only=True)
class TakeProfitMoved:
    """The take-profit changed."""

    kind: ClassVar[str] = "take_profit_moved"
    position_id: str
    old: Decimal | None
    new: Decimal | None
    at: datetime


@attrs.frozen(kw_only=True)
class TrailingStopActivated:
    """The position's profit reached the activation threshold; the stop now trails."""

    kind: ClassVar[str] = "trailing_stop_activated"
    position_id: str
    price: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class TriggerFired:
    """A price (or a bar) crossed the position's stop-loss or take-profit."""

    kind: ClassVar[str] = "trigger_fired"
    position_id: str
    trigger: TriggerKind
    level: Decimal
    price: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class PositionSnapshotTaken:
    """A point-in-time valuation of a position at a fresh price."""

    kind: ClassVar[str] = "position_snapshot_taken"
    position_id: str
    price: Decimal
    unrealized_pnl: Decimal
    unrealized_pnl_pct: Decimal
    at: datetime


# --------------------------------------------------------------------------- risk and system
@attrs.frozen(kw_only=True)
class ProposalRefused:
    """A proposal was refused before any order was sent."""

    kind: ClassVar[str] = "proposal_refused"
    symbol: str
    code: str
    message: str
    at: datetime


@attrs.frozen(kw_only=True)
class TradingStateChanged:
    """The kill switch moved (ACTIVE / REDUCING / HALTED)."""

    kind: ClassVar[str] = "trading_state_changed"
    old: TradingState
    new: TradingState
    reason: str
    at: datetime


@attrs.frozen(kw_only=True)
class PriceStale:
    """A price was missing or older than the staleness limit; no P&L figure was produced."""

    kind: ClassVar[str] = "price_stale"
    symbol: str
    age_seconds: Decimal | None
    at: datetime


@attrs.frozen(kw_only=True)
class AlertRaised:
    """Something needs a human or the risk engine: a failed task, an unknown order, ..."""

    kind: ClassVar[str] = "alert_raised"
    source: str
    severity: str
    message: str
    at: datetime


@attrs.frozen(kw_only=True)
class RiskAlertActedOn:
    """The risk engine asked for an action (close / reduce / halt) and it was taken."""

    kind: ClassVar[str] = "risk_alert_acted_on"
    action: str
    target: str
    reason: str
    at: datetime


Event: TypeAlias = (
    OrderCreated
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | OverfillDetected
    | TransitionRefused
    | OrderNeedsReconciliation
    | PositionOpened
    | PositionIncreased
    | PositionReduced
    | PositionClosed
    | StopMoved
    | TakeProfitMoved
    | TrailingStopActivated
    | TriggerFired
    | PositionSnapshotTaken
    | ProposalRefused
    | TradingStateChanged
    | PriceStale
    | AlertRaised
    | RiskAlertActedOn
)
"""Every event the core produces."""
