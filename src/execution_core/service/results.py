"""What the service layer answers (`ExecutionResult`) and the manager's face to the tracker.

`OrderControl` is what the `PositionTracker` drives (docs/dev/service-design.md, "The manager
<-> tracker interface").

An expected failure never raises: a refused proposal, an exchange refusal or an unresolved
submission comes back as `ExecutionResult(success=False, reason=<stable code>,
error_message=<sentence>)`, with the structured `refusal` when the core refused it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import attrs
from returns.result import Result

from execution_core.domain.enums import OrderStatus
from execution_core.domain.orders import Order
from execution_core.domain.refusals import Refusal
from execution_core.ports import ExchangeFailure


@attrs.frozen(kw_only=True)
class ExecutionResult:
    """The outcome of `execute_trade` (or of a close): what was sent, and what became of it.

    `success` is True when the order reached the exchange (it may still be resting or partly
    filled: read `status`). On failure `reason` is a stable code (a refusal's `code`, an
    exchange failure's kind, `outcome_unknown`, ...) and `error_message` a sentence; `refusal`
    holds the structured refusal when the core refused before sending anything, and `order` the
    order as stored (None when nothing was stored).
    """

    success: bool
    order_id: str | None = None
    client_order_id: str | None = None
    status: OrderStatus | None = None
    reason: str | None = None
    error_message: str | None = None
    order: Order | None = None
    refusal: Refusal | None = None

    @classmethod
    def refused(cls, refusal: Refusal) -> ExecutionResult:
        """A proposal refused before anything was stored or sent."""
        return cls(
            success=False, reason=refusal.code, error_message=refusal.message, refusal=refusal
        )

    @classmethod
    def of_order(
        cls, order: Order, *, success: bool, reason: str | None = None, message: str | None = None
    ) -> ExecutionResult:
        """The result for a stored order, as it is now."""
        return cls(
            success=success,
            order_id=order.id,
            client_order_id=order.client_order_id,
            status=order.status,
            reason=reason,
            error_message=message,
            order=order,
        )


class OrderControl(Protocol):
    """What the position tracker may ask of the order manager (the manager implements it)."""

    async def amend_stop(
        self, position_id: str, stop_loss: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        """Move the position's exchange stop-loss order to `stop_loss` (amended in place)."""
        ...

    async def amend_take_profit(
        self, position_id: str, take_profit: Decimal
    ) -> Result[None, ExchangeFailure | Refusal]:
        """Move the position's exchange take-profit order to `take_profit` (amended in place)."""
        ...

    async def close_position(
        self, position_id: str, *, fraction: Decimal = Decimal(1), reason: str
    ) -> ExecutionResult:
        """Close `fraction` of the position with an exit order; a full close cancels its SL/TP."""
        ...

    async def halt(self, reason: str) -> None:
        """Kill switch: trading state HALTED and every open order cancelled."""
        ...


@attrs.frozen(kw_only=True)
class PollSummary:
    """What one monitoring pass did."""

    status_calls: int = 0
    """Batched `order_status` calls made (one per pass when any order is open at the exchange)."""
    reports: int = 0
    updated: int = 0
    lookups: int = 0
    timeouts: int = 0
    failures: int = 0


@attrs.frozen(kw_only=True)
class ReconciliationSummary:
    """What `reconcile()` found and did; `error` is set when the exchange could not be read."""

    updated: int = 0
    looked_up: int = 0
    unknown: int = 0
    cancelled: int = 0
    adopted: int = 0
    error: str | None = None


@attrs.frozen(kw_only=True)
class KillSwitchResult:
    """`cancel_all`: how many orders the exchange cancelled, and the closes when flattening."""

    cancelled: int
    closes: tuple[ExecutionResult, ...] = ()
    error: str | None = None
