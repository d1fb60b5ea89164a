"""Why the core refuses: a closed union of small frozen values with structured fields.

Every refusal carries `code` (a stable snake_case reason, used for statistics and storage),
`symbol`, `field`, `limit` and `actual` (`None` where a refusal has no such notion), and a
`message` naming the field, the limit and the value. Refusals are values returned in a
`returns.result.Failure`, never raised. Exchange refusals (which carry Kraken's error code and
a retry class) live with the exchange port, not here: this module is "we would build a bad order".
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, TypeAlias

import attrs

Value: TypeAlias = Decimal | str | None


@attrs.frozen
class _Base:
    code: ClassVar[str] = "refused"

    @property
    def message(self) -> str:
        """A sentence naming the field, the limit and the value."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    def __str__(self) -> str:
        return self.message


@attrs.frozen(kw_only=True)
class UnknownSymbol(_Base):
    """The symbol is not a known instrument."""

    code: ClassVar[str] = "unknown_symbol"
    symbol: str
    field: str = "symbol"
    limit: Value = None
    actual: Value = None
    known: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        known = ", ".join(self.known) if self.known else "none"
        return f"{self.symbol}: unknown symbol (known: {known})"


@attrs.frozen(kw_only=True)
class InvalidValue(_Base):
    """A field holds a value no order or position can have (not a number, zero, negative, ...)."""

    code: ClassVar[str] = "invalid_value"
    symbol: str
    field: str
    actual: Value
    reason: str
    limit: Value = None

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} {self.reason} (got {self.actual})"


@attrs.frozen(kw_only=True)
class BelowMinimumSize(_Base):
    """The order size, after rounding down to the lot, is below the exchange minimum."""

    code: ClassVar[str] = "below_minimum_size"
    symbol: str
    limit: Decimal
    actual: Decimal
    field: str = "size"

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} {self.actual} is below the minimum {self.limit}"


@attrs.frozen(kw_only=True)
class BelowMinimumCost(_Base):
    """size x price is below the exchange's minimum order cost."""

    code: ClassVar[str] = "below_minimum_cost"
    symbol: str
    limit: Decimal
    actual: Decimal
    field: str = "cost"

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} {self.actual} is below the minimum cost {self.limit}"


@attrs.frozen(kw_only=True)
class AboveMaximum(_Base):
    """A value is above a configured or exchange maximum (size, notional, leverage, exposure)."""

    code: ClassVar[str] = "above_maximum"
    symbol: str
    field: str
    limit: Decimal
    actual: Decimal

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} {self.actual} is above the maximum {self.limit}"


@attrs.frozen(kw_only=True)
class BelowMinimum(_Base):
    """A value is below a lower bound other than the exchange's size and cost minimums."""

    code: ClassVar[str] = "below_minimum"
    symbol: str
    field: str
    limit: Decimal
    actual: Decimal

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} {self.actual} is below the minimum {self.limit}"


@attrs.frozen(kw_only=True)
class WrongSideOfPrice(_Base):
    """A stop-loss, take-profit or limit sits on the wrong side of a reference price.

    `limit` is the reference price (entry or market); `relation` says where `actual` must be
    relative to it, e.g. "below" for a long's stop-loss.
    """

    code: ClassVar[str] = "wrong_side_of_price"
    symbol: str
    field: str
    limit: Decimal
    actual: Decimal
    relation: str
    reference: str

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: {self.field} {self.actual} must be {self.relation} "
            f"the {self.reference} {self.limit}"
        )


@attrs.frozen(kw_only=True)
class MissingPrice(_Base):
    """No price to size or protect the order: no entry price and no reference price."""

    code: ClassVar[str] = "missing_price"
    symbol: str
    field: str = "reference_price"
    limit: Value = None
    actual: Value = None

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: a market proposal needs a {self.field}; "
            "without a price the size cannot be computed"
        )


@attrs.frozen(kw_only=True)
class SymbolMismatch(_Base):
    """A proposal names another symbol than the instrument it is planned against."""

    code: ClassVar[str] = "symbol_mismatch"
    symbol: str
    limit: str
    actual: str
    field: str = "symbol"

    @property
    def message(self) -> str:
        return f"{self.symbol}: proposal symbol {self.actual} is not the instrument {self.limit}"


@attrs.frozen(kw_only=True)
class TradingNotAllowed(_Base):
    """The trading state (kill switch) or the symbol's status forbids this order.

    `limit` is the state that forbids it (`halted`, `reducing`, `cancel_only`, ...),
    `actual` what was attempted (`entry`, `exit`, `market`, ...).
    """

    code: ClassVar[str] = "trading_not_allowed"
    symbol: str
    field: str
    limit: str
    actual: str

    @property
    def message(self) -> str:
        return f"{self.symbol}: {self.field} is {self.limit}; an {self.actual} order is not allowed"


@attrs.frozen(kw_only=True)
class CircuitBreakerActive(_Base):
    """The risk engine's circuit breaker is tripped."""

    code: ClassVar[str] = "circuit_breaker_active"
    symbol: str
    reason: str
    field: str = "circuit_breaker"
    limit: Value = None
    actual: Value = None

    @property
    def message(self) -> str:
        return f"{self.symbol}: circuit breaker active: {self.reason}"


@attrs.frozen(kw_only=True)
class InsufficientBalance(_Base):
    """The account lacks what the order needs (quote + fee for buys, base for sells, margin)."""

    code: ClassVar[str] = "insufficient_balance"
    symbol: str
    asset: str
    limit: Decimal
    actual: Decimal
    field: str = "balance"

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: {self.field} of {self.asset} {self.actual} is below "
            f"the required {self.limit}"
        )


@attrs.frozen(kw_only=True)
class IllegalTransition(_Base):
    """The order state machine has no transition for this event in this state."""

    code: ClassVar[str] = "illegal_transition"
    symbol: str
    order_id: str
    limit: str
    actual: str
    field: str = "status"

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: order {self.order_id} in state {self.limit} cannot take {self.actual}"
        )


@attrs.frozen(kw_only=True)
class Overfill(_Base):
    """A fill would take the executed quantity beyond the order's (or position's) size."""

    code: ClassVar[str] = "overfill"
    symbol: str
    order_id: str
    limit: Decimal
    actual: Decimal
    field: str = "filled_size"

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: order {self.order_id} {self.field} would be {self.actual}, "
            f"above its size {self.limit}"
        )


@attrs.frozen(kw_only=True)
class StaleFill(_Base):
    """A cumulative executed volume below the one already applied (volumes never decrease)."""

    code: ClassVar[str] = "stale_fill"
    symbol: str
    order_id: str
    limit: Decimal
    actual: Decimal
    field: str = "filled_size"

    @property
    def message(self) -> str:
        return (
            f"{self.symbol}: order {self.order_id} reported {self.field} {self.actual}, "
            f"below the {self.limit} already applied"
        )


Refusal: TypeAlias = (
    UnknownSymbol
    | InvalidValue
    | BelowMinimumSize
    | BelowMinimumCost
    | AboveMaximum
    | BelowMinimum
    | WrongSideOfPrice
    | MissingPrice
    | SymbolMismatch
    | TradingNotAllowed
    | CircuitBreakerActive
    | InsufficientBalance
    | IllegalTransition
    | Overfill
    | StaleFill
)
"""Every reason the core can refuse. Match on it with `match` + `assert_never`."""
