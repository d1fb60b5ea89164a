"""Orders and fills as frozen values.

The state machine that moves an order between statuses lives in `order_states` (the table) and in
the transition functions below it; this module owns the shape of an order and of a fill.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Final, TypeVar

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

    `stop_loss` / `take_profit` are an entry's protection intent: the proposal's levels, rounded
    to the tick as they will be sent, for the position its first fill opens. They travel with
    the order (and so through the repository and a restart), not in the manager's memory.
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
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
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


# --------------------------------------------------------------------------- the hot-path copy
_T = TypeVar("_T")


def slot_setter(cls: type[_T], name: str) -> Callable[[_T, object], None]:
    """The writer of slot `name` of the slotted class `cls`, frozen or not: `set(obj, value)`.

    For the hot paths that build a frozen value field by field: a slot's member descriptor
    writes it directly, about 35 ns a field on CPython 3.11, against 55 ns for
    `object.__setattr__` and about 75 ns through attrs' generated `__init__` (keywords, then
    `object.__setattr__`, then any `__attrs_post_init__`). It runs no converter, validator or
    post-init: a hot path using it is compared with the constructor by a test.
    """
    setter: Callable[[_T, object], None] = cls.__dict__[name].__set__
    return setter


def _slot_setter(name: str) -> Callable[[Order, object], None]:
    return slot_setter(Order, name)


_new_order = object.__new__
_set_id = _slot_setter("id")
_set_client_order_id = _slot_setter("client_order_id")
_set_symbol = _slot_setter("symbol")
_set_side = _slot_setter("side")
_set_order_type = _slot_setter("order_type")
_set_size = _slot_setter("size")
_set_price = _slot_setter("price")
_set_trigger_price = _slot_setter("trigger_price")
_set_time_in_force = _slot_setter("time_in_force")
_set_expires_at = _slot_setter("expires_at")
_set_leverage = _slot_setter("leverage")
_set_reduce_only = _slot_setter("reduce_only")
_set_post_only = _slot_setter("post_only")
_set_fee_currency = _slot_setter("fee_currency")
_set_role = _slot_setter("role")
_set_position_id = _slot_setter("position_id")
_set_parent_order_id = _slot_setter("parent_order_id")
_set_reference_price = _slot_setter("reference_price")
_set_stop_loss = _slot_setter("stop_loss")
_set_take_profit = _slot_setter("take_profit")
_set_status = _slot_setter("status")
_set_exchange_order_id = _slot_setter("exchange_order_id")
_set_filled_size = _slot_setter("filled_size")
_set_filled_cost = _slot_setter("filled_cost")
_set_fee_quote = _slot_setter("fee_quote")
_set_fee_base = _slot_setter("fee_base")
_set_fills = _slot_setter("fills")
_set_created_at = _slot_setter("created_at")
_set_updated_at = _slot_setter("updated_at")
_set_reason = _slot_setter("reason")


def with_execution_state(  # noqa: PLR0917 - positional on purpose: the per-event hot path
    order: Order,
    status: OrderStatus,
    exchange_order_id: str | None,
    filled_size: Decimal,
    filled_cost: Decimal,
    fee_quote: Decimal,
    fee_base: Decimal,
    fills: immutables.Map[str, Fill],
    updated_at: datetime | None,
    reason: str | None,
) -> Order:
    """`order` with a new execution state: what every transition builds.

    The request (ids, symbol, side, type, size, prices, timing, flags, role, links, protection,
    `created_at`) is kept; the other fields are the arguments. This is the hot path of
    `order_states` (submit, accept, fills, reject, cancel, expire): it writes the 30 slots
    directly, about 1.0 us against 3.7 us for `attrs.evolve` and 2.1 us for the constructor
    (CPython 3.11). It does not run `__attrs_post_init__`: only for a state in which
    `0 <= filled_size <= order.size` holds, which every caller checks first (a transition that
    keeps `filled_size` keeps it; a fill is refused as `Overfill` before it gets here).
    `test_order_states.py` compares each transition with `attrs.evolve` field by field, so a
    field added to `Order` and not written here fails there (reading an unset slot raises).
    """
    new: Order = _new_order(Order)
    _set_id(new, order.id)
    _set_client_order_id(new, order.client_order_id)
    _set_symbol(new, order.symbol)
    _set_side(new, order.side)
    _set_order_type(new, order.order_type)
    _set_size(new, order.size)
    _set_price(new, order.price)
    _set_trigger_price(new, order.trigger_price)
    _set_time_in_force(new, order.time_in_force)
    _set_expires_at(new, order.expires_at)
    _set_leverage(new, order.leverage)
    _set_reduce_only(new, order.reduce_only)
    _set_post_only(new, order.post_only)
    _set_fee_currency(new, order.fee_currency)
    _set_role(new, order.role)
    _set_position_id(new, order.position_id)
    _set_parent_order_id(new, order.parent_order_id)
    _set_reference_price(new, order.reference_price)
    _set_stop_loss(new, order.stop_loss)
    _set_take_profit(new, order.take_profit)
    _set_status(new, status)
    _set_exchange_order_id(new, exchange_order_id)
    _set_filled_size(new, filled_size)
    _set_filled_cost(new, filled_cost)
    _set_fee_quote(new, fee_quote)
    _set_fee_base(new, fee_base)
    _set_fills(new, fills)
    _set_created_at(new, order.created_at)
    _set_updated_at(new, updated_at)
    _set_reason(new, reason)
    return new


_ENTRY: Final = OrderRole.ENTRY
_PENDING: Final = OrderStatus.PENDING


def planned_order(
    *,
    id: str,  # noqa: A002 - the order's id, as on the class
    client_order_id: str,
    symbol: str,
    side: OrderSide,
    order_type: OrderType,
    size: Decimal,
    price: Decimal | None,
    time_in_force: TimeInForce,
    expires_at: datetime | None,
    leverage: Decimal,
    post_only: bool,
    fee_currency: FeeCurrency,
    reference_price: Decimal | None,
    created_at: datetime | None,
    stop_loss: Decimal | None = None,
    take_profit: Decimal | None = None,
) -> Order:
    """A new PENDING entry order, nothing executed: `plan_order`'s result.

    The same value as `Order(...)` with these fields (`updated_at` = `created_at`, every other
    field at its default), written slot by slot: about 0.7 us less than the constructor. Nothing
    has executed, so `__attrs_post_init__`'s invariant holds without running it.
    `test_plan_order.py` compares it with the constructor field by field.
    """
    new: Order = _new_order(Order)
    _set_id(new, id)
    _set_client_order_id(new, client_order_id)
    _set_symbol(new, symbol)
    _set_side(new, side)
    _set_order_type(new, order_type)
    _set_size(new, size)
    _set_price(new, price)
    _set_trigger_price(new, None)
    _set_time_in_force(new, time_in_force)
    _set_expires_at(new, expires_at)
    _set_leverage(new, leverage)
    _set_reduce_only(new, False)  # noqa: FBT003 - a slot's value, not a flag argument
    _set_post_only(new, post_only)
    _set_fee_currency(new, fee_currency)
    _set_role(new, _ENTRY)
    _set_position_id(new, None)
    _set_parent_order_id(new, None)
    _set_reference_price(new, reference_price)
    _set_stop_loss(new, stop_loss)
    _set_take_profit(new, take_profit)
    _set_status(new, _PENDING)
    _set_exchange_order_id(new, None)
    _set_filled_size(new, ZERO)
    _set_filled_cost(new, ZERO)
    _set_fee_quote(new, ZERO)
    _set_fee_base(new, ZERO)
    _set_fills(new, _empty_fills())
    _set_created_at(new, created_at)
    _set_updated_at(new, created_at)
    _set_reason(new, None)
    return new
