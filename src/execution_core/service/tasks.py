# Rule of this module: a background loop never dies of an exception and never swallows one. Each
# failure of an iteration is handed to the owner's `on_failure` (which records an AlertRaised,
# publishes it and marks the affected order for reconciliation: review SAFETY-3), counted, and
# the loop carries on at its next interval. Only `stop()` (cancellation) ends it.
"""Supervised background loops on the Clock: the order monitor, the heartbeat, snapshots."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from execution_core.ports import Clock


class OrderTaskError(Exception):
    """A failure while handling one order; names it, so it can be marked for reconciliation."""

    def __init__(self, order_id: str, cause: BaseException) -> None:
        self.order_id = order_id
        self.cause = cause
        super().__init__(f"order {order_id}: {type(cause).__name__}: {cause}")


FailureHandler = Callable[[str, Exception], Awaitable[None]]
"""`on_failure(loop name, exception)`: record, alert, mark for reconciliation."""


class SupervisedLoop:
    """Runs `body` every `interval` seconds of the Clock until stopped; failures are reported."""

    def __init__(
        self,
        *,
        name: str,
        interval: float,
        body: Callable[[], Awaitable[object]],
        clock: Clock,
        on_failure: FailureHandler,
    ) -> None:
        if interval <= 0:
            msg = f"{name}: the interval must be > 0 seconds (got {interval})"
            raise ValueError(msg)
        self.name = name
        self.interval = interval
        self._body = body
        self._clock = clock
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None
        self.iterations = 0
        """Iterations run (failed ones included)."""
        self.failures = 0
        """Iterations that raised."""
        self.handler_failures = 0
        """Failures of `on_failure` itself (the loop survives those too)."""

    @property
    def running(self) -> bool:
        """Whether the loop's task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop and wait until it has stopped."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> bool:
        """One iteration: True when the body completed, False when it raised (and was reported)."""
        self.iterations += 1
        try:
            await self._body()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - reported to the owner, never swallowed
            self.failures += 1
            try:
                await self._on_failure(self.name, error)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must outlive a broken handler too
                self.handler_failures += 1
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await self._clock.sleep(self.interval)
