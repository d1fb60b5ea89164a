"""The closed vocabularies of the domain. Each is a `StrEnum` so its value is its wire spelling."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Final

PLUS_ONE: Final = Decimal(1)
MINUS_ONE: Final = Decimal(-1)
"""The two signs, built once: a `sign` property returns one of these, never a new Decimal."""


class OrderSide(enum.StrEnum):
    """Buy or sell, as bots send it."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        """The side that closes what this side opens."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY

    @property
    def sign(self) -> Decimal:
        """+1 for a buy, -1 for a sell: the direction of the base quantity."""
        return PLUS_ONE if self is OrderSide.BUY else MINUS_ONE

    @property
    def position_side(self) -> PositionSide:
        """The position an entry on this side opens."""
        return PositionSide.LONG if self is OrderSide.BUY else PositionSide.SHORT


class PositionSide(enum.StrEnum):
    """Long or short."""

    LONG = "long"
    SHORT = "short"

    @property
    def entry_side(self) -> OrderSide:
        """The order side that opens or adds to this position."""
        return OrderSide.BUY if self is PositionSide.LONG else OrderSide.SELL

    @property
    def exit_side(self) -> OrderSide:
        """The order side that reduces or closes this position."""
        return OrderSide.SELL if self is PositionSide.LONG else OrderSide.BUY

    @property
    def sign(self) -> Decimal:
        """+1 for long, -1 for short: P&L is sign x (price - entry) x size."""
        return PLUS_ONE if self is PositionSide.LONG else MINUS_ONE


class OrderType(enum.StrEnum):
    """Order types, spelled as Kraken's `ordertype`."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop-loss"
    TAKE_PROFIT = "take-profit"
    STOP_LOSS_LIMIT = "stop-loss-limit"
    TAKE_PROFIT_LIMIT = "take-profit-limit"

    @property
    def is_triggered(self) -> bool:
        """Whether the order rests untriggered until its trigger price is touched."""
        return self in _TRIGGERED

    @property
    def has_limit_price(self) -> bool:
        """Whether the order carries a limit price (-limit variants: the post-trigger limit)."""
        return self in _WITH_LIMIT


_TRIGGERED = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.TAKE_PROFIT,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)
_WITH_LIMIT = frozenset({OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})


class TimeInForce(enum.StrEnum):
    """How long an order may rest."""

    GTC = "GTC"
    IOC = "IOC"
    GTD = "GTD"


class OrderStatus(enum.StrEnum):
    """The states of the order state machine (see `execution_core.domain.order_states`)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        """Whether no further transition leaves this state (late fills excepted)."""
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Whether the order may still trade at the exchange (or may have reached it)."""
        return not self.is_terminal


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)


class OrderRole(enum.StrEnum):
    """What an order does for its position."""

    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"


class LiquidityRole(enum.StrEnum):
    """Whether a fill added (maker) or took (taker) liquidity."""

    MAKER = "maker"
    TAKER = "taker"


class FeeCurrency(enum.StrEnum):
    """The currency a fee is charged in (Kraken `fciq` / `fcib`). Quote is Kraken's default."""

    QUOTE = "quote"
    BASE = "base"


class TradingState(enum.StrEnum):
    """The kill switch: ACTIVE trades, REDUCING only exits, HALTED nothing."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class SymbolStatus(enum.StrEnum):
    """A pair's trading status, spelled as Kraken's AssetPairs `status`."""

    ONLINE = "online"
    CANCEL_ONLY = "cancel_only"
    POST_ONLY = "post_only"
    LIMIT_ONLY = "limit_only"
    REDUCE_ONLY = "reduce_only"
    DELISTED = "delisted"


class TriggerKind(enum.StrEnum):
    """Which protective level a price crossed."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
