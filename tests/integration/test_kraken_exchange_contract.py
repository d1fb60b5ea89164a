"""The Exchange port's contract (tests/contract/exchange_contract.py) run against KrakenExchange.

The adapter talks HTTP to the local Kraken server on 127.0.0.1; the harness drives the world
behind the server directly (funds, prices, liquidity) and moves one FakeClock shared by the
server and the adapter. Two variants: the adapter with its pacing (the per-pair counter is never
hit, so the rate-limit case does not apply) and without it (the server's refusal must come
through as ORDER_RATE_LIMIT / WAIT).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from adapters.kraken.ratelimit import CounterLimits, KrakenLimits
from adapters.kraken.testing import LOCAL_OPTIONS, LocalKraken, local_kraken
from adapters.memory.clock import FakeClock
from execution_core.ports import Exchange

_CONTRACT_DIR = str(Path(__file__).resolve().parents[1] / "contract")
if _CONTRACT_DIR not in sys.path:
    sys.path.insert(0, _CONTRACT_DIR)

from exchange_contract import ExchangeContract, ExchangeHarness  # noqa: E402 - needs the path line

_UNPACED = KrakenLimits(
    rest=CounterLimits(maximum=1e9, decay_per_second=1e9),
    trading=CounterLimits(maximum=1e9, decay_per_second=1e9),
)


class KrakenHarness:
    """KrakenExchange over HTTP to a local server; the world moved behind the server's back."""

    def __init__(self, kraken: LocalKraken, clock: FakeClock, *, paced: bool) -> None:
        self.kraken = kraken
        self.clock = clock
        self.paced = paced

    @property
    def exchange(self) -> Exchange:
        return self.kraken.exchange

    @property
    def rate_limited(self) -> bool:
        # With pacing the adapter waits instead of being refused: nothing to see here.
        return not self.paced

    def now(self) -> datetime:
        return self.clock.now()

    async def fund(self, asset: str, amount: Decimal) -> None:
        self.kraken.server.deposit(asset, amount)

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.kraken.server.set_price(symbol, price)

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        self.kraken.server.engine.set_liquidity(symbol, per_update=per_update, per_order=None)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


_conforms: type[ExchangeHarness] = KrakenHarness


class TestKrakenExchange(ExchangeContract):
    @pytest.fixture(params=[True, False], ids=["paced", "unpaced"])
    async def harness(self, request: pytest.FixtureRequest) -> AsyncIterator[ExchangeHarness]:
        paced: bool = request.param
        clock = FakeClock()
        options = LOCAL_OPTIONS if paced else attrs.evolve(LOCAL_OPTIONS, limits=_UNPACED)
        # The contract's account starts empty and unpriced, so there is nothing to price the
        # key check's validate=true order with: instruments load on first use instead.
        async with local_kraken(
            clock=clock, balances={}, prices={}, options=options, start=False
        ) as kraken:
            yield KrakenHarness(kraken, clock, paced=paced)
