"""Fixtures for the integration suites: a local Kraken over real HTTP on 127.0.0.1.

`kraken` is a started `KrakenExchange` on a fresh `KrakenTestServer` (Starter tier, all
permissions, the default balances and prices, the system clock). `fake_kraken` is the same on a
`FakeClock` shared by server and adapter, so a test moves time (expiry, the dead man's switch,
counter decay) with `clock.advance(...)` and pacing waits cost no real time. Suites that need
another setup (a tier, permissions, options) call `adapters.kraken.testing.local_kraken` directly;
the service's scenario and fault-injection suites can use `kraken` in place of the paper exchange
(`kraken.exchange` is the Exchange, `kraken.server` the controllable world).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.kraken.testing import LocalKraken, local_kraken
from adapters.memory.clock import FakeClock


@pytest.fixture
async def kraken() -> AsyncIterator[LocalKraken]:
    async with local_kraken() as rig:
        yield rig


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake_kraken(clock: FakeClock) -> AsyncIterator[LocalKraken]:
    async with local_kraken(clock=clock) as rig:
        yield rig
