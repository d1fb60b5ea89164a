"""Orders and fills as frozen values.

The state machine that moves an order between statuses lives in `order_states` (the table) and in
the transition functions below it; this module owns the shape of an order and of a fill.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs
import immutables

from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from execution_core.domain.numbers import ONE, ZERO


@attrs.frozen(kw_only=True)
class Fill:
    """One execution (a Kraken trade) against an order; keyed by the exchange's trade id."""

    trade_id: str
    order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: FeeCurrency = FeeCurrency.QUOTE
    liquidity: LiquidityRole = LiquidityRole.TAKER
    timestamp: datetime

    @property
    def notional(self) -> Decimal:
        """Quantity x price, in quote."""
        return self.quantity * self.price

    @property
    def fee_in_quote(self) -> Decimal:
        """The fee expressed in quote (a base fee is valued at the fill price)."""
        return self.fee if self.fee_currency is FeeCurrency.QUOTE else self.fee * self.price

    @property
    def base_delta(self) -> Decimal:
        """The base quantity this fill adds to (buy) or takes from (sell) the account.

        A fee charged in base comes out of the base received on a buy and on top of the base
        delivered on a sell.
        """
        base_fee = self.fee if self.fee_currency is FeeCurrency.BASE else ZERO
        if self.side is OrderSide.BUY:
            return self.quantity - base_fee
        return -(self.quantity + base_fee)


def plain(value: Decimal) -> Decimal:
    """`value` without a positive exponent: a quotient such as 3150.00 / 0.07000000 is 4.5E+4.

    >>> plain(Decimal("3150.00") / Decimal("0.07000000"))
    Decimal('45000')
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return value.quantize(ONE)
    return value


def _empty_fills() -> immutables.Map[str, Fill]:
    return immutables.Map()


@attrs.frozen(kw_only=True)
class Order:
    """An order as we know it: what we asked for, where it is, and what has executed.

    `price` is the limit price (for a protected market order, the slippage cap; for the -limit
    stop types, the limit of the order created at the trigger). `trigger_price` is the stop or
    take-profit trigger. `fills` maps exchange trade ids to fills (a persistent map: adding one is
    O(log32 n), and a duplicate trade id is found in O(1) expected time). `filled_cost` is the
    exact sum of quantity x price over the fills, `fee_quote` / `fee_base` the fees paid in each
    currency; `0 <= filled_size <= size` always holds (checked at construction).
    """

    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    size: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expires_at: datetime | None = None
    leverage: Decimal = Decimal(1)
    reduce_only: bool = False
    post_only: bool = False
    fee_currency: FeeCurrency = FeeCurrency.QUOTE
    role: OrderRole = OrderRole.ENTRY
    position_id: str | None = None
    parent_order_id: str | None = None
    reference_price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING
    exchange_order_id: str | None = None
    filled_size: Decimal = ZERO
    filled_cost: Decimal = ZERO
    fee_quote: Decimal = ZERO
    fee_base: Decimal = ZERO
    fills: immutables.Map[str, Fill] = attrs.field(factory=_empty_fills, eq=False, repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        # The one invariant every order holds, whoever builds it: nothing executes beyond the
        # size. Transitions refuse such a fill as `Overfill`; reaching this line is a bug.
        if self.filled_size < ZERO or (self.filled_size > ZERO and self.filled_size > self.size):
            raise ValueError(
                f"order {self.id}: filled_size {self.filled_size} must be within 0..{self.size}"
            )

    @property
    def remaining_size(self) -> Decimal:
        """Size - filled_size."""
        return self.size - self.filled_size

    @property
    def average_price(self) -> Decimal | None:
        """The volume-weighted average fill price, or None before the first fill."""
        if self.filled_size == ZERO:
            return None
        return plain(self.filled_cost / self.filled_size)

    @property
    def is_protected_market(self) -> bool:
        """A market order sent as a limit IOC capped at `price` (the slippage protection)."""
        return self.order_type is OrderType.MARKET and self.price is not None
