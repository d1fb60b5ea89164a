"""Stop-loss and take-profit triggers: has a price (or a bar) reached a position's levels?

Rules:
- A level fires when the price reaches it (touching counts): a long's stop-loss at
  `price <= stop_loss` and its take-profit at `price >= take_profit`; a short's mirrored.
- On a bar, a long's stop is reached when `low <= stop_loss` and its take-profit when
  `high >= take_profit` (a short's: `high >= stop_loss`, `low <= take_profit`).
- The stop-loss has priority. When one bar (or, with a trailed stop above the take-profit, one
  price) reaches both levels, the stop-loss is reported and the take-profit is not: we cannot
  know which came first inside the bar, and assuming the loss is the conservative choice.

`TriggerIndex` answers the same question for many positions at once, per price tick, in time
that grows with the positions that trigger, not with those that are open.

>>> from execution_core.domain.positions import Position
>>> p = Position("BTC/USDT", "long", 1, 45_000, id="p1", stop_loss=44_500, take_profit=46_000)
>>> trigger_on_bar(p, low=Decimal(44_400), high=Decimal(46_100)).kind
<TriggerKind.STOP_LOSS: 'stop_loss'>
>>> trigger_on_price(p, Decimal(46_000)).kind
<TriggerKind.TAKE_PROFIT: 'take_profit'>
>>> trigger_on_price(p, Decimal(45_000)) is None
True
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import attrs

from execution_core.domain.enums import PositionSide, TriggerKind
from execution_core.domain.events import TriggerFired
from execution_core.domain.positions import Position


@attrs.frozen(kw_only=True)
class Trigger:
    """A position's level that a price reached: which one, where it sits, the price that hit it.

    For a bar, `price` is the bar extreme that reached the level (the low for a long's stop).
    """

    position_id: str
    symbol: str
    kind: TriggerKind
    level: Decimal
    price: Decimal

    def event(self, at: datetime) -> TriggerFired:
        """The `TriggerFired` event for this trigger."""
        return TriggerFired(
            position_id=self.position_id,
            trigger=self.kind,
            level=self.level,
            price=self.price,
            at=at,
        )


# --------------------------------------------------------------------------- one position
def trigger_on_price(position: Position, price: Decimal) -> Trigger | None:
    """The level `price` reaches on an open position, stop-loss first; None if none."""
    return trigger_on_bar(position, low=price, high=price)


def trigger_on_bar(position: Position, *, low: Decimal, high: Decimal) -> Trigger | None:
    """The level a bar from `low` to `high` reaches, stop-loss first; None if none."""
    if low > high:
        msg = f"a bar's low {low} is above its high {high}"
        raise ValueError(msg)
    if not position.is_open:
        return None
    if position.side is PositionSide.LONG:
        return _long_trigger(position, low, high)
    return _short_trigger(position, low, high)


def _long_trigger(position: Position, low: Decimal, high: Decimal) -> Trigger | None:
    stop, target = position.stop_loss, position.take_profit
    if stop is not None and low <= stop:
        return _trigger(position, TriggerKind.STOP_LOSS, stop, low)
    if target is not None and high >= target:
        return _trigger(position, TriggerKind.TAKE_PROFIT, target, high)
    return None


def _short_trigger(position: Position, low: Decimal, high: Decimal) -> Trigger | None:
    stop, target = position.stop_loss, position.take_profit
    if stop is not None and high >= stop:
        return _trigger(position, TriggerKind.STOP_LOSS, stop, high)
    if target is not None and low <= target:
        return _trigger(position, TriggerKind.TAKE_PROFIT, target, low)
    return None


def check_sl_tp_triggers(positions: Iterable[Position], price: Decimal) -> list[Trigger]:
    """The triggers `price` fires among `positions` (of its symbol), one per position at most.

    A linear scan; for many positions use `TriggerIndex`.
    """
    return [t for p in positions if (t := trigger_on_price(p, price)) is not None]


def check_bar_triggers(
    positions: Iterable[Position], *, low: Decimal, high: Decimal
) -> list[Trigger]:
    """The triggers a bar fires among `positions`, one per position at most, stop-loss first."""
    return [t for p in positions if (t := trigger_on_bar(p, low=low, high=high)) is not None]


def _trigger(position: Position, kind: TriggerKind, level: Decimal, price: Decimal) -> Trigger:
    return Trigger(
        position_id=position.id, symbol=position.symbol, kind=kind, level=level, price=price
    )


# --------------------------------------------------------------------------- the index
class _Ladder:
    """Levels in ascending order with the position id of each, as two parallel lists."""

    __slots__ = ("ids", "levels")

    def __init__(self) -> None:
        self.levels: list[Decimal] = []
        self.ids: list[str] = []

    def insert(self, level: Decimal, position_id: str) -> None:
        index = bisect.bisect_right(self.levels, level)
        self.levels.insert(index, level)
        self.ids.insert(index, position_id)

    def remove(self, level: Decimal, position_id: str) -> None:
        start = bisect.bisect_left(self.levels, level)
        index = self.ids.index(position_id, start, bisect.bisect_right(self.levels, level))
        del self.levels[index]
        del self.ids[index]


class _Book:
    """One symbol's four ladders."""

    __slots__ = ("long_stops", "long_targets", "short_stops", "short_targets")

    def __init__(self) -> None:
        self.long_stops = _Ladder()
        self.long_targets = _Ladder()
        self.short_stops = _Ladder()
        self.short_targets = _Ladder()

    def ladders(self, side: PositionSide) -> tuple[_Ladder, _Ladder]:
        if side is PositionSide.LONG:
            return self.long_stops, self.long_targets
        return self.short_stops, self.short_targets

    def __len__(self) -> int:
        return sum(
            len(ladder.levels)
            for ladder in (self.long_stops, self.long_targets, self.short_stops, self.short_targets)
        )


class TriggerIndex:
    """The stop-loss and take-profit levels of many positions, per symbol, in sorted ladders.

    A price tick costs four binary searches per symbol plus the work for each level it fires:
    with 100,000 open positions and none triggering it is a few microseconds. Adding, moving or
    removing a position's levels costs a binary search and a list insert/delete.

    The index is mutable and NOT thread-safe: it belongs to ONE owner (the position tracker),
    which changes it only from synchronous code (between awaits on one event loop) and keeps it
    in step with its positions: `update` after every change of a position's levels and `remove`
    when a position closes. Firing does not remove anything; the owner decides what a trigger
    leads to, and a level keeps firing on every tick that reaches it until it is moved or removed.

    Memory: per indexed position, one small tuple and a dict slot, plus two list slots per level;
    the level Decimals and id strings are the position's own objects, not copies.
    """

    __slots__ = ("_books", "_entries")

    def __init__(self) -> None:
        self._books: dict[str, _Book] = {}
        self._entries: dict[str, tuple[str, PositionSide, Decimal | None, Decimal | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, position_id: object) -> bool:
        return position_id in self._entries

    def levels(self, position_id: str) -> tuple[Decimal | None, Decimal | None] | None:
        """The (stop_loss, take_profit) indexed for a position, or None if it is not indexed."""
        entry = self._entries.get(position_id)
        return None if entry is None else (entry[2], entry[3])

    def add(self, position: Position) -> None:
        """Index a new position's levels. Adding an id twice is a bug (use `update`)."""
        if position.id in self._entries:
            msg = f"position {position.id!r} is already indexed; use update()"
            raise ValueError(msg)
        self.update(position)

    def update(self, position: Position) -> None:
        """Re-index a position after its levels changed (adds it if absent; a closed one leaves)."""
        if not position.is_open:
            self.remove(position.id)
            return
        self.set_levels(
            position.id,
            position.symbol,
            position.side,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
        )

    def set_levels(
        self,
        position_id: str,
        symbol: str,
        side: PositionSide,
        *,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
    ) -> None:
        """Index (or re-index) one position's levels; both None removes it."""
        if not position_id:
            msg = "a position needs a non-empty id to be indexed"
            raise ValueError(msg)
        old = self._entries.get(position_id)
        if old is not None:
            if old == (symbol, side, stop_loss, take_profit):
                return
            self.remove(position_id)
        if stop_loss is None and take_profit is None:
            return
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book()
        stops, targets = book.ladders(side)
        if stop_loss is not None:
            stops.insert(stop_loss, position_id)
        if take_profit is not None:
            targets.insert(take_profit, position_id)
        self._entries[position_id] = (symbol, side, stop_loss, take_profit)

    def remove(self, position_id: str) -> bool:
        """Stop watching a position; False if it was not indexed."""
        entry = self._entries.pop(position_id, None)
        if entry is None:
            return False
        symbol, side, stop_loss, take_profit = entry
        book = self._books[symbol]
        stops, targets = book.ladders(side)
        if stop_loss is not None:
            stops.remove(stop_loss, position_id)
        if take_profit is not None:
            targets.remove(take_profit, position_id)
        if not len(book):
            del self._books[symbol]
        return True

    def on_price(self, symbol: str, price: Decimal) -> list[Trigger]:
        """The levels of `symbol` that `price` reaches: stop-losses first, one per position."""
        return self.on_bar(symbol, low=price, high=price)

    def on_bar(self, symbol: str, *, low: Decimal, high: Decimal) -> list[Trigger]:
        """The levels a bar reaches; a position whose stop and target both fire reports the stop.

        Order: long stops (highest first), short stops (lowest first), then take-profits.
        """
        book = self._books.get(symbol)
        if book is None:
            return []
        if low > high:
            msg = f"a bar's low {low} is above its high {high}"
            raise ValueError(msg)
        stop, target = TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT
        # A long's stop fires at level >= low; a short's at level <= high.
        fired = [
            _fired(book.long_stops, i, symbol, stop, low) for i in _down_to(book.long_stops, low)
        ]
        fired.extend(
            _fired(book.short_stops, i, symbol, stop, high) for i in _up_to(book.short_stops, high)
        )
        stopped = {t.position_id for t in fired} if fired else None
        # A long's take-profit fires at level <= high; a short's at level >= low.
        ladder = book.long_targets
        fired.extend(
            _fired(ladder, i, symbol, target, high)
            for i in _up_to(ladder, high)
            if stopped is None or ladder.ids[i] not in stopped
        )
        ladder = book.short_targets
        fired.extend(
            _fired(ladder, i, symbol, target, low)
            for i in _down_to(ladder, low)
            if stopped is None or ladder.ids[i] not in stopped
        )
        return fired


def _down_to(ladder: _Ladder, value: Decimal) -> range:
    """Indices of the levels >= value, highest first (the order a falling price meets them)."""
    return range(len(ladder.levels) - 1, bisect.bisect_left(ladder.levels, value) - 1, -1)


def _up_to(ladder: _Ladder, value: Decimal) -> range:
    """Indices of the levels <= value, lowest first (the order a rising price meets them)."""
    return range(bisect.bisect_right(ladder.levels, value))


def _fired(ladder: _Ladder, index: int, symbol: str, kind: TriggerKind, price: Decimal) -> Trigger:
    return Trigger(
        position_id=ladder.ids[index],
        symbol=symbol,
        kind=kind,
        level=ladder.levels[index],
        price=price,
    )
