"""`ScaledClock`: real time, running `factor` times faster, for rate-limit tests and benchmarks.

Kraken's counters decay over seconds to minutes (a burst of 200 orders at Starter takes 140 s).
A scaled clock lets the server and the adapter live through those minutes in a fraction of the
time while everything else stays real: HTTP round trips, concurrency, the event loop. Both
sides must share the one clock object. A round trip of 1 ms counts as `factor` ms on it, so keep
the factor modest (100 turns a 1 ms round trip into 0.1 s of counter decay).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class ScaledClock:
    """A `Clock` whose time runs `factor` times faster than the real monotonic clock."""

    def __init__(self, factor: float, *, start: datetime | None = None) -> None:
        if factor <= 0:
            raise ValueError(f"factor must be > 0 (got {factor})")
        self._factor = factor
        self._origin = time.monotonic()
        self._start = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    @property
    def factor(self) -> float:
        """How many clock seconds pass per real second."""
        return self._factor

    def monotonic(self) -> float:
        """Scaled seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self._factor

    def now(self) -> datetime:
        """`start` plus the scaled time elapsed."""
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of scaled time (`seconds / factor` of real time)."""
        await asyncio.sleep(max(0.0, seconds) / self._factor)
