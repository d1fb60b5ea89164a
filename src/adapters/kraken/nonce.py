"""Nonces for one Kraken API key: strictly increasing across every task and thread that shares it.

Kraken rejects a nonce that is not greater than the last one it accepted for the key
(`EAPI:Invalid nonce`, and repeated failures lock the key out). So every caller that uses a key
must draw from ONE `NonceSource`: it returns `max(last + 1, now)` under a lock, which stays
strictly increasing when the clock stalls, goes backwards or two calls land in the same tick.
Processes cannot share a source: give each process its own API key.

The unit matters: once a key has seen a nanosecond nonce, a millisecond one is "too small"
forever. The default is nanoseconds (what Kraken's documentation and its own CLI now use); a key
that was used with nanoseconds by another tool keeps working, and uint64 holds nanoseconds until
the year 2554.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Final

MAX_NONCE: Final = 2**64 - 1
"""Kraken's nonce is an unsigned 64-bit integer."""


class NonceResolution(enum.IntEnum):
    """How many nanoseconds one nonce step is (the value divides a nanosecond clock)."""

    NANOSECONDS = 1
    MICROSECONDS = 1_000
    MILLISECONDS = 1_000_000


class NonceSource:
    """Strictly increasing nonces from a nanosecond clock; thread-safe and task-safe.

    >>> ticks = iter([5_000_000, 5_000_000, 4_000_000])  # the clock stalls, then goes back
    >>> nonces = NonceSource(lambda: next(ticks), resolution=NonceResolution.MILLISECONDS)
    >>> [nonces.next_nonce() for _ in range(3)]
    [5, 6, 7]
    """

    __slots__ = ("_clock_ns", "_divisor", "_last", "_lock")

    def __init__(
        self,
        clock_ns: Callable[[], int],
        *,
        resolution: NonceResolution = NonceResolution.NANOSECONDS,
        last: int = 0,
    ) -> None:
        """Draw nonces from `clock_ns` (nanoseconds since the epoch), all above `last`."""
        if not 0 <= last < MAX_NONCE:
            raise ValueError(f"last nonce must be in [0, 2**64 - 1) (got {last})")
        self._clock_ns = clock_ns
        self._divisor = int(resolution)
        self._last = last
        # Guards `_last`: the read-compare-write of one draw must not interleave with another.
        self._lock = threading.Lock()

    @classmethod
    def system(cls, *, resolution: NonceResolution = NonceResolution.NANOSECONDS) -> NonceSource:
        """A source on the system wall clock (`time.time_ns`)."""
        return cls(time.time_ns, resolution=resolution)

    @property
    def last(self) -> int:
        """The last nonce handed out (or the starting floor)."""
        with self._lock:
            return self._last

    def next_nonce(self) -> int:
        """A nonce greater than every nonce this source has handed out."""
        now = self._clock_ns() // self._divisor
        with self._lock:
            nonce = max(self._last + 1, now)
            if nonce > MAX_NONCE:
                raise OverflowError("nonce exceeds 2**64 - 1: the clock or its resolution is wrong")
            self._last = nonce
            return nonce

    def advance_past(self, nonce: int) -> None:
        """Make every later nonce greater than `nonce` (e.g. one Kraken saw from another tool)."""
        with self._lock:
            self._last = max(self._last, nonce)

    def __repr__(self) -> str:
        return f"NonceSource(resolution={NonceResolution(self._divisor).name}, last={self._last})"
