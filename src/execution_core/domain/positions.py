"""Positions: an exact, fee-aware book of what the fills did (design.md §2 "Positions").

Rules (each pinned by a test):
- `size` is the base quantity the entry fills actually moved: net of a fee charged in base
  (a long receives `quantity - base_fee`; a short owes `quantity + base_fee`).
- `entry_price` is the VWAP of the entry fills, weighted by that base quantity. `entry_fees` are
  the entry fees paid in quote (a base fee valued at its fill price) still attributed to the open
  size. With these two, P&L is exact whatever currency the fees were charged in.
- Leverage never multiplies P&L. `pnl = sign x (price - entry) x size`; with fees it also
  deducts the entry fees paid and the estimated exit fee `size x price x exit_fee_rate`.
  Leverage only sets the margin, `entry x size / leverage`, and `pnl_pct = pnl / margin x 100`.
- Realized P&L of an exit of `qty` at `exit`: `sign x (exit - entry) x qty - exit fees - entry
  fees x qty / size`. An exit larger than the open size is refused: a position never flips.
- Validation at construction and at every change: `entry_price > 0`, `size > 0` (0 exactly once
  closed), `1 <= leverage <= max_leverage`, long `stop_loss < entry < take_profit`, short
  `take_profit < entry < stop_loss`. Once a trailing stop is active, the stop may lock in profit:
  it must then only be below the high-water mark (long) or above the low-water mark (short).
  When a current price is known, a stop or take-profit the market has already crossed is refused.

A position keeps aggregates, never fill lists: applying a fill is O(1) whatever came before.
Duplicate fills are the order's business (`Order.fills` is keyed by trade id): a position trusts
that each fill it is given is new.

>>> long = Position("BTC/USDT", "long", "0.1", 45_000, leverage=2, entry_fees=18)
>>> long.calculate_pnl(46_000)
(Decimal('63.60000'), Decimal('2.826666666666666666666666667'))
>>> long.calculate_pnl(46_000, include_fees=False)
(Decimal('100.0'), Decimal('4.444444444444444444444444444'))
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal, TypeAlias

import attrs
from returns.result import Failure, Result, Success

from execution_core.domain.enums import MINUS_ONE, FeeCurrency, OrderSide, PositionSide
from execution_core.domain.events import (
    Event,
    PositionClosed,
    PositionIncreased,
    PositionOpened,
    PositionReduced,
    StopMoved,
    TakeProfitMoved,
    TrailingStopActivated,
)
from execution_core.domain.fees import DEFAULT_EXIT_FEE_RATE, MAX_FEE_RATE
from execution_core.domain.numbers import (
    HUNDRED,
    ONE,
    ZERO,
    DecimalLike,
    InvalidNumber,
    to_decimal,
)
from execution_core.domain.orders import Fill, slot_setter
from execution_core.domain.refusals import (
    AboveMaximum,
    BelowMinimum,
    InvalidValue,
    Refusal,
    SymbolMismatch,
    WrongSideOfPrice,
)
from execution_core.domain.trailing import TrailingStop, trail_stop

DEFAULT_MAX_LEVERAGE: Final = Decimal(5)
"""The system's leverage ceiling (design.md §2)."""

_LONG: Final = PositionSide.LONG
_FEE_IN_QUOTE: Final = FeeCurrency.QUOTE
_ENTRY_SIDE: Final[Mapping[PositionSide, OrderSide]] = {
    side: side.entry_side for side in PositionSide
}
"""The order side that opens each position side, as a lookup (the property is 5x dearer)."""
_SIGN: Final[Mapping[PositionSide, Decimal]] = {side: side.sign for side in PositionSide}
"""+1 / -1 by position side (the shared constants of `enums`), as a lookup."""


class InvalidPosition(ValueError):
    """Constructing a `Position` that breaks a rule; `refusal` is the structured reason.

    Use `Position.create` to get the same refusal as a `Failure` instead of an exception.
    """

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        self.field = refusal.field
        super().__init__(refusal.message)


class Unchanged(enum.Enum):
    """The type of `UNCHANGED`: "leave this level as it is" in `Position.modify`."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED
Keep: TypeAlias = Literal[Unchanged.UNCHANGED]


# --------------------------------------------------------------------------- converters
# One named function per field so that a refused number names its field (the mypy attrs plugin
# does not follow converter factories).
def _side(value: PositionSide | str) -> PositionSide:
    return PositionSide(value)


def _size(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="size")


def _entry_price(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="entry_price")


def _leverage(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="leverage")


def _max_leverage(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="max_leverage")


def _stop_loss(value: DecimalLike | None) -> Decimal | None:
    return None if value is None else to_decimal(value, field="stop_loss")


def _take_profit(value: DecimalLike | None) -> Decimal | None:
    return None if value is None else to_decimal(value, field="take_profit")


def _entry_fees(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="entry_fees")


def _realized_pnl(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="realized_pnl")


def _exit_fee_rate(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="exit_fee_rate")


def _exited_quantity(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="exited_quantity")


def _exit_value(value: DecimalLike) -> Decimal:
    return to_decimal(value, field="exit_value")


# --------------------------------------------------------------------------- the position
@attrs.frozen
class Position:
    """An open (or closed) position: size, VWAP entry, protective levels and fee-aware P&L.

    Numbers accept `Decimal | int | str | float` (floats through `str`); `side` accepts
    `PositionSide` or "long"/"short". Breaking a rule raises `InvalidPosition` naming the field.

    >>> Position("BTC/USDT", "long", "0.1", 0)
    Traceback (most recent call last):
    ...
    execution_core.domain.positions.InvalidPosition: BTC/USDT: entry_price must be > 0 (got 0)
    """

    symbol: str
    side: PositionSide = attrs.field(converter=_side)
    size: Decimal = attrs.field(converter=_size)
    """Open base quantity (0 once closed)."""
    entry_price: Decimal = attrs.field(converter=_entry_price)
    """VWAP of the entry fills, weighted by the base quantity each one moved."""
    id: str = attrs.field(default="", kw_only=True)
    leverage: Decimal = attrs.field(default=ONE, converter=_leverage, kw_only=True)
    stop_loss: Decimal | None = attrs.field(default=None, converter=_stop_loss, kw_only=True)
    take_profit: Decimal | None = attrs.field(default=None, converter=_take_profit, kw_only=True)
    entry_fees: Decimal = attrs.field(default=ZERO, converter=_entry_fees, kw_only=True)
    """Entry fees paid (in quote) that belong to the open size; a partial exit takes its share."""
    realized_pnl: Decimal = attrs.field(default=ZERO, converter=_realized_pnl, kw_only=True)
    """P&L realized by the exits so far, net of their fees and of the entry fees they took."""
    exit_fee_rate: Decimal = attrs.field(
        default=DEFAULT_EXIT_FEE_RATE, converter=_exit_fee_rate, kw_only=True
    )
    """The rate of the estimated exit fee in `calculate_pnl` (taker by default)."""
    max_leverage: Decimal = attrs.field(
        default=DEFAULT_MAX_LEVERAGE, converter=_max_leverage, kw_only=True
    )
    trailing: TrailingStop | None = attrs.field(default=None, kw_only=True)
    """Opt-in trailing stop (configuration and state); None: the stop never trails."""
    exited_quantity: Decimal = attrs.field(default=ZERO, converter=_exited_quantity, kw_only=True)
    """Base quantity the exits took out; entries - exits = size."""
    exit_value: Decimal = attrs.field(default=ZERO, converter=_exit_value, kw_only=True)
    """Sum of quantity x price over the exits (their VWAP is `exit_value / exited_quantity`)."""
    opened_at: datetime | None = attrs.field(default=None, kw_only=True)
    closed_at: datetime | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        refusal = _refusal(
            self.symbol,
            self.side,
            self.size,
            self.entry_price,
            leverage=self.leverage,
            max_leverage=self.max_leverage,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            trailing=self.trailing,
            entry_fees=self.entry_fees,
            exit_fee_rate=self.exit_fee_rate,
            closed=self.closed_at is not None,
        )
        if refusal is not None:
            raise InvalidPosition(refusal)
        if self.exited_quantity < ZERO or self.exit_value < ZERO:
            raise InvalidPosition(
                InvalidValue(
                    symbol=self.symbol,
                    field="exited_quantity",
                    actual=min(self.exited_quantity, self.exit_value),
                    reason="must be >= 0",
                )
            )

    # ----------------------------------------------------------------------- constructors
    @classmethod
    def create(
        cls,
        symbol: str,
        side: PositionSide | str,
        size: DecimalLike,
        entry_price: DecimalLike,
        *,
        id: str = "",  # noqa: A002 - the position's id, as on the class
        leverage: DecimalLike = ONE,
        stop_loss: DecimalLike | None = None,
        take_profit: DecimalLike | None = None,
        entry_fees: DecimalLike = ZERO,
        exit_fee_rate: DecimalLike = DEFAULT_EXIT_FEE_RATE,
        max_leverage: DecimalLike = DEFAULT_MAX_LEVERAGE,
        trailing: TrailingStop | None = None,
        opened_at: datetime | None = None,
        current_price: DecimalLike | None = None,
    ) -> Result[Position, Refusal]:
        """A new open position, or the refusal naming the field that breaks a rule.

        With `current_price`, a stop or take-profit the market has already crossed is refused.

        >>> Position.create("BTC/USDT", "long", 1, 45_000, leverage=6).failure().message
        'BTC/USDT: leverage 6 is above the maximum 5'
        >>> Position.create("BTC/USDT", "long", 1, 45_000, stop_loss=45_500).failure().message
        'BTC/USDT: stop_loss 45500 must be below the entry price 45000'
        """
        try:
            position_side = PositionSide(side)
        except ValueError:
            return Failure(
                InvalidValue(
                    symbol=symbol, field="side", actual=str(side), reason="must be long or short"
                )
            )
        try:
            values = {
                "size": to_decimal(size, field="size"),
                "entry_price": to_decimal(entry_price, field="entry_price"),
                "leverage": to_decimal(leverage, field="leverage"),
                "entry_fees": to_decimal(entry_fees, field="entry_fees"),
                "exit_fee_rate": to_decimal(exit_fee_rate, field="exit_fee_rate"),
                "max_leverage": to_decimal(max_leverage, field="max_leverage"),
            }
            stop = None if stop_loss is None else to_decimal(stop_loss, field="stop_loss")
            target = None if take_profit is None else to_decimal(take_profit, field="take_profit")
            price = (
                None if current_price is None else to_decimal(current_price, field="current_price")
            )
        except InvalidNumber as error:
            return Failure(_invalid_number(symbol, error))
        refusal = _refusal(
            symbol,
            position_side,
            values["size"],
            values["entry_price"],
            leverage=values["leverage"],
            max_leverage=values["max_leverage"],
            stop_loss=stop,
            take_profit=target,
            trailing=trailing,
            entry_fees=values["entry_fees"],
            exit_fee_rate=values["exit_fee_rate"],
            closed=False,
        )
        if refusal is None and price is not None:
            refusal = _crossed_refusal(symbol, position_side, price, stop, target)
        if refusal is not None:
            return Failure(refusal)
        return Success(
            cls(
                symbol,
                position_side,
                values["size"],
                values["entry_price"],
                id=id,
                leverage=values["leverage"],
                stop_loss=stop,
                take_profit=target,
                entry_fees=values["entry_fees"],
                exit_fee_rate=values["exit_fee_rate"],
                max_leverage=values["max_leverage"],
                trailing=trailing,
                opened_at=opened_at,
            )
        )

    @classmethod
    def open_from_fills(
        cls,
        fills: Iterable[Fill],
        *,
        id: str,  # noqa: A002 - the position's id, as on the class
        leverage: DecimalLike = ONE,
        stop_loss: DecimalLike | None = None,
        take_profit: DecimalLike | None = None,
        exit_fee_rate: DecimalLike = DEFAULT_EXIT_FEE_RATE,
        max_leverage: DecimalLike = DEFAULT_MAX_LEVERAGE,
        trailing: TrailingStop | None = None,
    ) -> Result[PositionChange, Refusal]:
        """Open a position from its entry fills (all one symbol, all one side).

        Size is the base the fills moved (net of base fees), entry price their VWAP, entry fees
        their fees in quote. The side follows the fills: buys open a long, sells a short.
        `opened_at` is the first fill's timestamp; the `PositionOpened` event is at the last's.
        """
        items = tuple(fills)
        if not items:
            return Failure(
                InvalidValue(symbol="", field="fills", actual="0", reason="needs at least one fill")
            )
        first = items[0]
        symbol = first.symbol
        size = ZERO
        cost = ZERO
        fees = ZERO
        for fill in items:
            problem = _fill_refusal(symbol, first.side, fill)
            if problem is not None:
                return Failure(problem)
            moved = _entry_base(fill)
            if moved <= ZERO:
                return Failure(_fee_exceeds_quantity(fill))
            size += moved
            cost += moved * fill.price
            fees += fill.fee_in_quote
        try:
            lev = to_decimal(leverage, field="leverage")
            stop = None if stop_loss is None else to_decimal(stop_loss, field="stop_loss")
            target = None if take_profit is None else to_decimal(take_profit, field="take_profit")
            fee_rate = to_decimal(exit_fee_rate, field="exit_fee_rate")
            max_lev = to_decimal(max_leverage, field="max_leverage")
        except InvalidNumber as error:
            return Failure(_invalid_number(symbol, error))
        side = first.side.position_side
        entry = cost / size
        refusal = _refusal(
            symbol,
            side,
            size,
            entry,
            leverage=lev,
            max_leverage=max_lev,
            stop_loss=stop,
            take_profit=target,
            trailing=trailing,
            entry_fees=fees,
            exit_fee_rate=fee_rate,
            closed=False,
        )
        if refusal is not None:
            return Failure(refusal)
        if cls is Position:
            # Every value is a checked Decimal and `_refusal` passed: the constructor would
            # convert nothing and check the same rules again (about 2.5 us).
            position = _opened(
                symbol,
                side,
                size,
                entry,
                id,
                lev,
                stop,
                target,
                fees,
                fee_rate,
                max_lev,
                trailing,
                first.timestamp,
            )
        else:
            position = cls(
                symbol,
                side,
                size,
                entry,
                id=id,
                leverage=lev,
                stop_loss=stop,
                take_profit=target,
                entry_fees=fees,
                exit_fee_rate=fee_rate,
                max_leverage=max_lev,
                trailing=trailing,
                opened_at=first.timestamp,
            )
        event = PositionOpened(
            position_id=id,
            symbol=symbol,
            side=side.value,
            size=size,
            entry_price=entry,
            at=items[-1].timestamp,
        )
        return Success(PositionChange(position=position, events=(event,)))

    # ----------------------------------------------------------------------- views
    @property
    def is_open(self) -> bool:
        """Whether the position still holds a size."""
        return self.closed_at is None

    @property
    def sign(self) -> Decimal:
        """+1 for a long, -1 for a short."""
        return self.side.sign

    @property
    def entered_quantity(self) -> Decimal:
        """Base quantity the entries brought in (open size + what the exits took)."""
        return self.size + self.exited_quantity

    @property
    def cost_basis(self) -> Decimal:
        """Entry price x size: the open exposure valued at entry, in quote."""
        return self.entry_price * self.size

    @property
    def margin(self) -> Decimal:
        """The margin the open size ties up: `entry x size / leverage`."""
        return self.entry_price * self.size / self.leverage

    @property
    def average_exit_price(self) -> Decimal | None:
        """VWAP of the exits so far, or None before the first exit."""
        if self.exited_quantity == ZERO:
            return None
        return self.exit_value / self.exited_quantity

    def notional_at(self, price: DecimalLike) -> Decimal:
        """The exposure at a price: `size x price`, in quote (0 once closed).

        >>> Position("BTC/USDT", "long", "0.07", 45_000).notional_at(46_000)
        Decimal('3220.00')
        """
        return self.size * to_decimal(price, field="price")

    def estimated_exit_fee(self, price: DecimalLike) -> Decimal:
        """What closing the open size at `price` would cost: `size x price x exit_fee_rate`."""
        return self.size * to_decimal(price, field="price") * self.exit_fee_rate

    def calculate_pnl(
        self,
        current_price: DecimalLike,
        include_fees: bool = True,  # noqa: FBT001, FBT002 - design.md spells this signature
    ) -> tuple[Decimal, Decimal]:
        """Unrealized P&L in quote and as a percent of the margin. Leverage never multiplies it.

        `pnl = sign x (price - entry) x size`; `include_fees` deducts the entry fees paid and the
        estimated exit fee. `pnl_pct = pnl / (entry x size / leverage) x 100`. A closed position
        has none: `(0, 0)`.

        >>> short = Position("BTC/USDT", "short", 1, 45_000, leverage=5, exit_fee_rate=0)
        >>> short.calculate_pnl(44_100)
        (Decimal('900'), Decimal('10.0'))
        """
        size = self.size
        if not size:
            return ZERO, ZERO
        if type(current_price) is Decimal and current_price.is_finite() and current_price:
            price = current_price  # what to_decimal returns for it, without the call
        else:
            price = to_decimal(current_price, field="current_price")
        entry = self.entry_price
        # Long: `1 x move` is `move` itself (same digits, same exponent), so it is not computed.
        pnl = (price - entry) * size if self.side is _LONG else MINUS_ONE * (price - entry) * size
        if include_fees:
            pnl -= self.entry_fees + size * price * self.exit_fee_rate
        # The margin is `entry x size / leverage`; `x / 1` is `x` itself, so at the default
        # leverage the division is skipped.
        leverage = self.leverage
        if leverage is ONE:
            return pnl, pnl / (entry * size) * HUNDRED
        return pnl, pnl / (entry * size / leverage) * HUNDRED

    # ----------------------------------------------------------------------- fills and exits
    def apply_fill(self, fill: Fill, *, reason: str = "exit") -> Result[PositionChange, Refusal]:
        """Apply one fill: an entry-side fill increases the position, an exit-side one reduces it.

        O(1): the position keeps aggregates only. An exit larger than the open size is refused
        (`AboveMaximum` on `quantity`); the position never flips. `reason` is recorded on the
        `PositionClosed` event if this fill closes the position.
        """
        if fill.symbol != self.symbol:
            return Failure(
                SymbolMismatch(symbol=self.symbol, limit=self.symbol, actual=fill.symbol)
            )
        if self.closed_at is not None:
            return Failure(_closed(self))
        if fill.quantity <= ZERO or fill.price <= ZERO or fill.fee < ZERO:
            return Failure(_bad_fill(self.symbol, fill))
        if fill.side is _ENTRY_SIDE[self.side]:
            return self._increase(fill)
        return self._reduce(
            _entry_base(fill),
            fill.price,
            fill.fee_in_quote,
            fill.timestamp,
            reason,
        )

    def reduce(
        self,
        quantity: DecimalLike,
        price: DecimalLike,
        *,
        at: datetime,
        fee: DecimalLike | None = None,
        reason: str = "exit",
    ) -> Result[PositionChange, Refusal]:
        """Exit `quantity` at `price`; `fee` is the exit fee in quote (default: the estimate).

        Realized: `sign x (price - entry) x quantity - fee - entry_fees x quantity / size`.

        >>> from datetime import UTC, datetime
        >>> p = Position("BTC/USDT", "long", "0.2", 45_000, entry_fees=36)
        >>> now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        >>> change = p.reduce("0.1", 46_000, fee="18.4", at=now).unwrap()
        >>> change.realized_pnl, change.position.size, change.position.entry_fees
        (Decimal('63.6'), Decimal('0.1'), Decimal('18'))
        """
        try:
            qty = to_decimal(quantity, field="quantity")
            px = to_decimal(price, field="price")
            exit_fee = (
                qty * px * self.exit_fee_rate if fee is None else to_decimal(fee, field="fee")
            )
        except InvalidNumber as error:
            return Failure(_invalid_number(self.symbol, error))
        if self.closed_at is not None:
            return Failure(_closed(self))
        if px <= ZERO:
            return Failure(
                InvalidValue(symbol=self.symbol, field="price", actual=px, reason="must be > 0")
            )
        if exit_fee < ZERO:
            return Failure(
                InvalidValue(
                    symbol=self.symbol, field="fee", actual=exit_fee, reason="must be >= 0"
                )
            )
        return self._reduce(qty, px, exit_fee, at, reason)

    def close(
        self,
        price: DecimalLike,
        *,
        at: datetime,
        fee: DecimalLike | None = None,
        reason: str = "exit",
    ) -> Result[PositionChange, Refusal]:
        """Exit the whole open size at `price` (see `reduce`)."""
        return self.reduce(self.size, price, at=at, fee=fee, reason=reason)

    def _increase(self, fill: Fill) -> Result[PositionChange, Refusal]:
        # `apply_fill` checked the symbol, that the position is open, quantity > 0, price > 0
        # and fee >= 0; what is left to check is what this fill changes.
        price = fill.price
        if fill.fee_currency is _FEE_IN_QUOTE:
            # What `_entry_base` gives for a fee in quote, `quantity + 0` (the same digits and
            # exponent), without its property calls; positive, since the quantity is.
            moved = fill.quantity + ZERO
            fee = fill.fee
        else:
            moved = _entry_base(fill)
            if moved <= ZERO:
                return Failure(_fee_exceeds_quantity(fill))
            fee = fill.fee * price
        old_size = self.size
        size = old_size + moved
        entry = (self.entry_price * old_size + moved * price) / size
        stop_loss, take_profit = self.stop_loss, self.take_profit
        if stop_loss is not None or take_profit is not None:
            # A new VWAP may cross a level; without levels there is nothing to cross.
            refusal = _level_refusal(
                self.symbol,
                self.side,
                entry_price=entry,
                stop_loss=stop_loss,
                take_profit=take_profit,
                trailing=self.trailing,
            )
            if refusal is not None:
                return Failure(refusal)
        position = _derived(
            self,
            size,
            entry,
            self.entry_fees + fee,
            self.realized_pnl,
            self.exited_quantity,
            self.exit_value,
            None,
        )
        event = _increased(self.id, moved, price, size, entry, fill.timestamp)
        return Success(_change(position, ZERO, (event,)))

    def _reduce(
        self, qty: Decimal, price: Decimal, exit_fee: Decimal, at: datetime, reason: str
    ) -> Result[PositionChange, Refusal]:
        if qty <= ZERO:
            return Failure(
                InvalidValue(symbol=self.symbol, field="quantity", actual=qty, reason="must be > 0")
            )
        if qty > self.size:
            return Failure(
                AboveMaximum(symbol=self.symbol, field="quantity", limit=self.size, actual=qty)
            )
        closing = qty == self.size
        fee_share = self.entry_fees if closing else self.entry_fees * qty / self.size
        realized = _SIGN[self.side] * (price - self.entry_price) * qty - exit_fee - fee_share
        size = self.size - qty
        exited = self.exited_quantity + qty
        exit_value = self.exit_value + qty * price
        total = self.realized_pnl + realized
        position = _derived(
            self,
            size,
            self.entry_price,
            self.entry_fees - fee_share,
            total,
            exited,
            exit_value,
            at if closing else None,
        )
        reduced = PositionReduced(
            position_id=self.id, quantity=qty, price=price, size=size, realized_pnl=realized, at=at
        )
        if not closing:
            return Success(_change(position, realized, (reduced,)))
        closed = PositionClosed(
            position_id=self.id,
            exit_price=exit_value / exited,
            realized_pnl=total,
            reason=reason,
            at=at,
        )
        return Success(_change(position, realized, (reduced, closed)))

    # ----------------------------------------------------------------------- levels
    def modify(
        self,
        *,
        stop_loss: DecimalLike | Keep | None = UNCHANGED,
        take_profit: DecimalLike | Keep | None = UNCHANGED,
        trailing: TrailingStop | Keep | None = UNCHANGED,
        current_price: DecimalLike | None = None,
    ) -> Result[Position, Refusal]:
        """Change the stop-loss, take-profit or trailing configuration, validated as at creation.

        None removes a level; `UNCHANGED` (the default) keeps it. With `current_price`, a new
        stop or take-profit the market has already crossed is refused (it would fire at once).

        >>> p = Position("BTC/USDT", "long", 1, 45_000, stop_loss=44_000)
        >>> p.modify(stop_loss=44_500, current_price=44_400).failure().message
        'BTC/USDT: stop_loss 44500 must be below the current price 44400'
        >>> p.modify(stop_loss=44_500, current_price=44_600).unwrap().stop_loss
        Decimal('44500')
        """
        if self.closed_at is not None:
            return Failure(_closed(self))
        try:
            stop = (
                self.stop_loss
                if stop_loss is UNCHANGED
                else None
                if stop_loss is None
                else to_decimal(stop_loss, field="stop_loss")
            )
            target = (
                self.take_profit
                if take_profit is UNCHANGED
                else None
                if take_profit is None
                else to_decimal(take_profit, field="take_profit")
            )
            price = (
                None if current_price is None else to_decimal(current_price, field="current_price")
            )
        except InvalidNumber as error:
            return Failure(_invalid_number(self.symbol, error))
        trail = self.trailing if trailing is UNCHANGED else trailing
        refusal = _level_refusal(
            self.symbol,
            self.side,
            entry_price=self.entry_price,
            stop_loss=stop,
            take_profit=target,
            trailing=trail,
        )
        if refusal is None and price is not None:
            refusal = _crossed_refusal(
                self.symbol,
                self.side,
                price,
                None if stop_loss is UNCHANGED else stop,
                None if take_profit is UNCHANGED else target,
            )
        if refusal is not None:
            return Failure(refusal)
        return Success(attrs.evolve(self, stop_loss=stop, take_profit=target, trailing=trail))

    def modify_with_events(
        self,
        *,
        at: datetime,
        stop_loss: DecimalLike | Keep | None = UNCHANGED,
        take_profit: DecimalLike | Keep | None = UNCHANGED,
        trailing: TrailingStop | Keep | None = UNCHANGED,
        current_price: DecimalLike | None = None,
        reason: str = "manual",
    ) -> Result[PositionChange, Refusal]:
        """`modify`, plus a `StopMoved` / `TakeProfitMoved` event for each level that changed."""
        return self.modify(
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing=trailing,
            current_price=current_price,
        ).map(lambda new: _level_events(self, new, at, reason))

    # ----------------------------------------------------------------------- trailing
    def trail(self, price: DecimalLike, *, tick_size: Decimal | None = None) -> Position:
        """Move a trailing stop for an observed price; it only ever tightens.

        A position without a trailing configuration, or closed, is returned unchanged.

        >>> p = Position("BTC/USDT", "long", 1, 45_000, stop_loss=44_500,
        ...              trailing=TrailingStop(activation_pct=1, distance_pct="1.5"))
        >>> p.trail(45_450).stop_loss
        Decimal('44768.250')
        """
        return self.trail_with_events(price, at=None, tick_size=tick_size).position

    def trail_with_events(
        self, price: DecimalLike, *, at: datetime | None, tick_size: Decimal | None = None
    ) -> PositionChange:
        """`trail`, plus `TrailingStopActivated` and `StopMoved` (reason "trailing") events.

        With `at=None` no events are produced (that is what `trail` uses).
        """
        trailing = self.trailing
        if trailing is None or self.closed_at is not None:
            return PositionChange(position=self)
        observed = to_decimal(price, field="price")
        step = trail_stop(
            self.side, self.entry_price, self.stop_loss, trailing, observed, tick_size=tick_size
        )
        if step.trailing is trailing:
            return PositionChange(position=self)
        position = attrs.evolve(self, stop_loss=step.stop, trailing=step.trailing)
        events: list[Event] = []
        if at is not None:
            if step.activated:
                events.append(TrailingStopActivated(position_id=self.id, price=observed, at=at))
            if step.moved:
                events.append(
                    StopMoved(
                        position_id=self.id,
                        old=self.stop_loss,
                        new=step.stop,
                        reason="trailing",
                        at=at,
                    )
                )
        return PositionChange(position=position, events=tuple(events))


def _slot_setter(name: str) -> Callable[[Position, object], None]:
    return slot_setter(Position, name)


_new_position = object.__new__
_set_symbol = _slot_setter("symbol")
_set_side = _slot_setter("side")
_set_size = _slot_setter("size")
_set_entry_price = _slot_setter("entry_price")
_set_id = _slot_setter("id")
_set_leverage = _slot_setter("leverage")
_set_stop_loss = _slot_setter("stop_loss")
_set_take_profit = _slot_setter("take_profit")
_set_entry_fees = _slot_setter("entry_fees")
_set_realized_pnl = _slot_setter("realized_pnl")
_set_exit_fee_rate = _slot_setter("exit_fee_rate")
_set_max_leverage = _slot_setter("max_leverage")
_set_trailing = _slot_setter("trailing")
_set_exited_quantity = _slot_setter("exited_quantity")
_set_exit_value = _slot_setter("exit_value")
_set_opened_at = _slot_setter("opened_at")
_set_closed_at = _slot_setter("closed_at")


def _derived(  # noqa: PLR0917 - positional on purpose: this is the per-fill hot path
    base: Position,
    size: Decimal,
    entry_price: Decimal,
    entry_fees: Decimal,
    realized_pnl: Decimal,
    exited_quantity: Decimal,
    exit_value: Decimal,
    closed_at: datetime | None,
) -> Position:
    """`base` with the fields a fill changes replaced, without converters or full validation.

    This is the per-fill hot path (it writes the 17 slots directly: about a fifth of the
    constructor's cost). Only for values this module derived from a valid position by the fill
    rules, after checking the rules the change can break (the levels against a new entry price;
    an exit never above the open size). `test_positions.py` checks that it sets every field.
    """
    new: Position = _new_position(Position)
    _set_symbol(new, base.symbol)
    _set_side(new, base.side)
    _set_size(new, size)
    _set_entry_price(new, entry_price)
    _set_id(new, base.id)
    _set_leverage(new, base.leverage)
    _set_stop_loss(new, base.stop_loss)
    _set_take_profit(new, base.take_profit)
    _set_entry_fees(new, entry_fees)
    _set_realized_pnl(new, realized_pnl)
    _set_exit_fee_rate(new, base.exit_fee_rate)
    _set_max_leverage(new, base.max_leverage)
    _set_trailing(new, base.trailing)
    _set_exited_quantity(new, exited_quantity)
    _set_exit_value(new, exit_value)
    _set_opened_at(new, base.opened_at)
    _set_closed_at(new, closed_at)
    return new


def _opened(  # noqa: PLR0917 - positional on purpose: a new position's hot path
    symbol: str,
    side: PositionSide,
    size: Decimal,
    entry_price: Decimal,
    id: str,  # noqa: A002 - the position's id, as on the class
    leverage: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    entry_fees: Decimal,
    exit_fee_rate: Decimal,
    max_leverage: Decimal,
    trailing: TrailingStop | None,
    opened_at: datetime | None,
) -> Position:
    """A new open position, nothing exited yet, without converters or validation.

    Only for Decimals that went through `to_decimal` (the converters would return them as they
    are) and values `_refusal` has passed (the post-init would check the same rules).
    `test_positions.py` compares the result with the constructor's field by field.
    """
    new: Position = _new_position(Position)
    _set_symbol(new, symbol)
    _set_side(new, side)
    _set_size(new, size)
    _set_entry_price(new, entry_price)
    _set_id(new, id)
    _set_leverage(new, leverage)
    _set_stop_loss(new, stop_loss)
    _set_take_profit(new, take_profit)
    _set_entry_fees(new, entry_fees)
    _set_realized_pnl(new, ZERO)
    _set_exit_fee_rate(new, exit_fee_rate)
    _set_max_leverage(new, max_leverage)
    _set_trailing(new, trailing)
    _set_exited_quantity(new, ZERO)
    _set_exit_value(new, ZERO)
    _set_opened_at(new, opened_at)
    _set_closed_at(new, None)
    return new


@attrs.frozen(kw_only=True)
class PositionChange:
    """A position after a change, what the change realized, and the events it produced."""

    position: Position
    realized_pnl: Decimal = ZERO
    events: tuple[Event, ...] = ()


_new_change = object.__new__
_set_change_position = slot_setter(PositionChange, "position")
_set_change_realized_pnl = slot_setter(PositionChange, "realized_pnl")
_set_change_events = slot_setter(PositionChange, "events")


_new_increased = object.__new__
_set_increased_position_id = slot_setter(PositionIncreased, "position_id")
_set_increased_quantity = slot_setter(PositionIncreased, "quantity")
_set_increased_price = slot_setter(PositionIncreased, "price")
_set_increased_size = slot_setter(PositionIncreased, "size")
_set_increased_entry_price = slot_setter(PositionIncreased, "entry_price")
_set_increased_at = slot_setter(PositionIncreased, "at")


def _increased(  # noqa: PLR0917 - positional on purpose: the per-fill hot path
    position_id: str,
    quantity: Decimal,
    price: Decimal,
    size: Decimal,
    entry_price: Decimal,
    at: datetime,
) -> PositionIncreased:
    """`PositionIncreased(...)` written slot by slot: half the keyword constructor's cost.

    Events have no converter, validator or post-init; `test_positions.py` checks that this one
    still has none and compares the two builds.
    """
    event: PositionIncreased = _new_increased(PositionIncreased)
    _set_increased_position_id(event, position_id)
    _set_increased_quantity(event, quantity)
    _set_increased_price(event, price)
    _set_increased_size(event, size)
    _set_increased_entry_price(event, entry_price)
    _set_increased_at(event, at)
    return event


def _change(position: Position, realized_pnl: Decimal, events: tuple[Event, ...]) -> PositionChange:
    """`PositionChange(position=..., realized_pnl=..., events=...)` for the per-fill hot path.

    Writes the three slots directly: about half the cost of the keyword constructor.
    `test_positions.py` compares it with the constructor field by field.
    """
    change: PositionChange = _new_change(PositionChange)
    _set_change_position(change, position)
    _set_change_realized_pnl(change, realized_pnl)
    _set_change_events(change, events)
    return change


# --------------------------------------------------------------------------- rules
def _refusal(
    symbol: str,
    side: PositionSide,
    size: Decimal,
    entry_price: Decimal,
    *,
    leverage: Decimal,
    max_leverage: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    trailing: TrailingStop | None,
    entry_fees: Decimal,
    exit_fee_rate: Decimal,
    closed: bool,
) -> Refusal | None:
    """The first rule the values break, or None. Order: entry, size, leverage, fees, levels."""
    return (
        _shape_refusal(symbol, size, entry_price, closed=closed)
        or _leverage_refusal(symbol, leverage, max_leverage)
        or _fee_refusal(symbol, entry_fees, exit_fee_rate)
        or _level_refusal(
            symbol,
            side,
            entry_price=entry_price,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing=trailing,
        )
    )


def _shape_refusal(
    symbol: str, size: Decimal, entry_price: Decimal, *, closed: bool
) -> Refusal | None:
    if entry_price <= ZERO:
        return InvalidValue(
            symbol=symbol, field="entry_price", actual=entry_price, reason="must be > 0"
        )
    if closed and size != ZERO:
        return InvalidValue(
            symbol=symbol, field="size", actual=size, reason="must be 0 once closed"
        )
    if not closed and size <= ZERO:
        return InvalidValue(symbol=symbol, field="size", actual=size, reason="must be > 0")
    return None


def _leverage_refusal(symbol: str, leverage: Decimal, max_leverage: Decimal) -> Refusal | None:
    if max_leverage < ONE:
        return BelowMinimum(symbol=symbol, field="max_leverage", limit=ONE, actual=max_leverage)
    if leverage < ONE:
        return BelowMinimum(symbol=symbol, field="leverage", limit=ONE, actual=leverage)
    if leverage > max_leverage:
        return AboveMaximum(symbol=symbol, field="leverage", limit=max_leverage, actual=leverage)
    return None


def _fee_refusal(symbol: str, entry_fees: Decimal, exit_fee_rate: Decimal) -> Refusal | None:
    if entry_fees < ZERO:
        return InvalidValue(
            symbol=symbol, field="entry_fees", actual=entry_fees, reason="must be >= 0"
        )
    if exit_fee_rate < ZERO:
        return BelowMinimum(symbol=symbol, field="exit_fee_rate", limit=ZERO, actual=exit_fee_rate)
    if exit_fee_rate >= MAX_FEE_RATE:
        return AboveMaximum(
            symbol=symbol, field="exit_fee_rate", limit=MAX_FEE_RATE, actual=exit_fee_rate
        )
    return None


def _level_refusal(
    symbol: str,
    side: PositionSide,
    *,
    entry_price: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    trailing: TrailingStop | None,
) -> Refusal | None:
    """Stop-loss and take-profit on the right side of the entry (or of an active trail's mark)."""
    long = side is PositionSide.LONG
    if stop_loss is not None:
        if stop_loss <= ZERO:
            return InvalidValue(
                symbol=symbol, field="stop_loss", actual=stop_loss, reason="must be > 0"
            )
        mark = trailing.extreme if trailing is not None else None
        bound, reference = (
            (entry_price, "entry price")
            if mark is None
            else (mark, "trailing high-water mark" if long else "trailing low-water mark")
        )
        if (stop_loss >= bound) if long else (stop_loss <= bound):
            return WrongSideOfPrice(
                symbol=symbol,
                field="stop_loss",
                limit=bound,
                actual=stop_loss,
                relation="below" if long else "above",
                reference=reference,
            )
    if take_profit is not None:
        if take_profit <= ZERO:
            return InvalidValue(
                symbol=symbol, field="take_profit", actual=take_profit, reason="must be > 0"
            )
        if (take_profit <= entry_price) if long else (take_profit >= entry_price):
            return WrongSideOfPrice(
                symbol=symbol,
                field="take_profit",
                limit=entry_price,
                actual=take_profit,
                relation="above" if long else "below",
                reference="entry price",
            )
    return None


def _crossed_refusal(
    symbol: str,
    side: PositionSide,
    price: Decimal,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> Refusal | None:
    """A level the market at `price` has already reached would fire at once: refuse it."""
    long = side is PositionSide.LONG
    if stop_loss is not None and ((stop_loss >= price) if long else (stop_loss <= price)):
        return WrongSideOfPrice(
            symbol=symbol,
            field="stop_loss",
            limit=price,
            actual=stop_loss,
            relation="below" if long else "above",
            reference="current price",
        )
    if take_profit is not None and ((take_profit <= price) if long else (take_profit >= price)):
        return WrongSideOfPrice(
            symbol=symbol,
            field="take_profit",
            limit=price,
            actual=take_profit,
            relation="above" if long else "below",
            reference="current price",
        )
    return None


def _entry_base(fill: Fill) -> Decimal:
    """The base a fill moves: what an entry adds to the position, what an exit takes from it.

    A buy moves what it receives (net of a base fee); a sell what it delivers (plus a base fee).
    A buy whose base fee exceeds its quantity moves a negative amount, which callers refuse.
    """
    delta = fill.base_delta
    return delta if fill.side is OrderSide.BUY else -delta


def _fill_refusal(symbol: str, side: OrderSide, fill: Fill) -> Refusal | None:
    if fill.symbol != symbol:
        return SymbolMismatch(symbol=symbol, limit=symbol, actual=fill.symbol)
    if fill.side is not side:
        return InvalidValue(
            symbol=symbol,
            field="fill.side",
            actual=str(fill.side),
            reason="differs from the other entry fills",
        )
    if fill.quantity <= ZERO or fill.price <= ZERO or fill.fee < ZERO:
        return _bad_fill(symbol, fill)
    return None


def _bad_fill(symbol: str, fill: Fill) -> InvalidValue:
    return InvalidValue(
        symbol=symbol,
        field="fill",
        actual=f"{fill.quantity} @ {fill.price} fee {fill.fee}",
        reason="needs quantity > 0, price > 0 and fee >= 0",
    )


def _fee_exceeds_quantity(fill: Fill) -> InvalidValue:
    return InvalidValue(
        symbol=fill.symbol,
        field="fill.fee",
        actual=fill.fee,
        reason=f"in base leaves nothing of the quantity {fill.quantity}",
    )


def _closed(position: Position) -> InvalidValue:
    return InvalidValue(
        symbol=position.symbol,
        field="position",
        actual=position.id or "closed",
        reason="is closed; open a new position",
    )


def _invalid_number(symbol: str, error: InvalidNumber) -> InvalidValue:
    return InvalidValue(
        symbol=symbol, field=error.field, actual=str(error.value), reason=error.reason
    )


def _level_events(old: Position, new: Position, at: datetime, reason: str) -> PositionChange:
    events: list[Event] = []
    if new.stop_loss != old.stop_loss:
        events.append(
            StopMoved(
                position_id=old.id, old=old.stop_loss, new=new.stop_loss, reason=reason, at=at
            )
        )
    if new.take_profit != old.take_profit:
        events.append(
            TakeProfitMoved(position_id=old.id, old=old.take_profit, new=new.take_profit, at=at)
        )
    return PositionChange(position=new, events=tuple(events))
