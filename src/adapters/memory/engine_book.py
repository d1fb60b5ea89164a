"""The paper engine's machinery: price ladders, Kraken-style ids, the matching-engine rate costs.

A `Ladder` keeps resting orders of one symbol and one direction best first in a heap with lazy
removal, so adding, canceling and amending cost O(log n) and a price update touches only the
orders it crosses. `rate costs` are kraken-api.md §9.2's table as pure functions.
"""

from __future__ import annotations

import heapq
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final, Generic, Protocol, TypeVar

_ONE_MICROSECOND: Final = timedelta(microseconds=1)
_MICROS_PER_SECOND: Final = Decimal(1_000_000)


class Ranked(Protocol):
    """What a ladder needs from an order: a priority sequence and a removal token."""

    seq: int
    token: int
    ladder: Ladder[Any] | None


_R = TypeVar("_R", bound=Ranked)


class Ladder(Generic[_R]):
    """Resting orders at prices, best first: descending for bids and falling triggers.

    An entry is `(key, seq, token, order)`; it is live while the order's `token` is unchanged
    and the order still names this ladder. Removal only bumps the token (O(1)); stale entries
    are dropped when they reach the top or when they outnumber the live ones.
    """

    __slots__ = ("_descending", "_heap", "_live")

    def __init__(self, *, descending: bool) -> None:
        self._descending = descending
        self._heap: list[tuple[Decimal, int, int, _R]] = []
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def push(self, price: Decimal, order: _R) -> None:
        """Add `order` at `price` with its current `seq` as time priority."""
        if order.ladder is not None:
            order.ladder.remove(order)
        order.token += 1
        order.ladder = self
        key = -price if self._descending else price
        heapq.heappush(self._heap, (key, order.seq, order.token, order))
        self._live += 1

    def remove(self, order: _R) -> None:
        """Take `order` out (lazily); a no-op if it is not in this ladder."""
        if order.ladder is not self:
            return
        order.ladder = None
        order.token += 1
        self._live -= 1
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live:  # noqa: PLR2004 - compaction slack
            self._heap = [e for e in self._heap if e[3].ladder is self and e[3].token == e[2]]
            heapq.heapify(self._heap)

    def pop_crossing(self, bound: Decimal) -> _R | None:
        """Remove and return the best order whose price is at or beyond `bound`, if any.

        Descending ladders yield prices >= bound (highest first); ascending ones prices <= bound.
        """
        heap = self._heap
        key_bound = -bound if self._descending else bound
        while heap:
            key, _, token, order = heap[0]
            if order.ladder is not self or order.token != token:
                heapq.heappop(heap)
                continue
            if key > key_bound:
                return None
            heapq.heappop(heap)
            order.ladder = None
            order.token += 1
            self._live -= 1
            return order
        return None


# --------------------------------------------------------------------------- ids
_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class IdGenerator:
    """Kraken-format ids (`OUF4EM-FRGI2-MQMWZD`): a prefix letter and 16 base32 characters.

    Drawn from the engine's seeded `random.Random`, so the same seed gives the same ids; never
    repeats an id it has issued.
    """

    __slots__ = ("_issued", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._issued: set[str] = set()

    def next(self, prefix: str) -> str:
        """A fresh id starting with `prefix` (`O` orders, `T` trades and amends)."""
        while True:
            bits = self._rng.getrandbits(80)
            chars = "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(16))
            candidate = f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:]}"
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate


# --------------------------------------------------------------------------- rate costs
ADD_COST: Final = Decimal(1)
AMEND_FIXED_COST: Final = Decimal(1)
_AMEND_AGE: Final = ((5, 3), (10, 2), (15, 1))
_EDIT_AGE: Final = ((5, 6), (10, 5), (15, 4), (45, 2), (90, 1))
_CANCEL_AGE: Final = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))


def _age_cost(table: tuple[tuple[int, int], ...], age: Decimal) -> Decimal:
    for upper, cost in table:
        if age < upper:
            return Decimal(cost)
    return Decimal(0)


def amend_cost(age: Decimal) -> Decimal:
    """Fixed +1 plus +3/+2/+1 for an order under 5/10/15 s old (since creation or last amend).

    >>> amend_cost(Decimal(7))
    Decimal('3')
    """
    return AMEND_FIXED_COST + _age_cost(_AMEND_AGE, age)


def edit_cost(age: Decimal) -> Decimal:
    """Fixed +1 plus +6/+5/+4/+2/+1 under 5/10/15/45/90 s (EditOrder; the engine has no edit)."""
    return Decimal(1) + _age_cost(_EDIT_AGE, age)


def cancel_cost(age: Decimal) -> Decimal:
    """+8/+6/+5/+4/+2/+1 for an order under 5/10/15/45/90/300 s old, 0 after.

    >>> cancel_cost(Decimal(36))
    Decimal('4')
    """
    return _age_cost(_CANCEL_AGE, age)


def seconds(delta: timedelta) -> Decimal:
    """A timedelta as exact Decimal seconds (never negative: a clock going back counts as 0)."""
    micros = delta // _ONE_MICROSECOND
    return Decimal(max(micros, 0)) / _MICROS_PER_SECOND
