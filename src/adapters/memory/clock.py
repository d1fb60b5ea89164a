"""Clocks: `FakeClock`, advanced by the test, and `SystemClock`, the real one.

Both satisfy `execution_core.ports.Clock`. The core never reads the time itself: it is handed
one of these.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from execution_core.ports import Clock


class FakeClock:
    """A clock that moves only when told to: `advance(seconds)`, or by `sleep`.

    `sleep` advances the clock instead of waiting, then yields once to the event loop, so code
    that backs off or polls runs instantly and deterministically in tests.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            msg = "FakeClock needs a timezone-aware start time"
            raise ValueError(msg)
        self._monotonic = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def monotonic(self) -> float:
        """Seconds advanced since creation."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backwards)."""
        if seconds < 0:
            msg = f"time never goes back (advance by {seconds})"
            raise ValueError(msg)
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance by `seconds`, record the sleep, and yield to the loop once."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class SystemClock:
    """The real clock: UTC wall time, `time.monotonic`, `asyncio.sleep`."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


_fake: type[Clock] = FakeClock
_system: type[Clock] = SystemClock
