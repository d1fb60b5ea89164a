"""The Exchange port's contract (exchange_contract.py) run against `SimulatedExchange`.

Two harnesses: calls that never suspend (the default) and calls that yield to the event loop
once, as a network adapter's always do. To run the contract against another adapter, see the
docstring of exchange_contract.py.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.simulated import SimulatedExchange
from execution_core.ports import Exchange

# tests/ is not a package and pytest imports test files by path: put the contract on the path.
_CONTRACT_DIR = str(Path(__file__).resolve().parent)
if _CONTRACT_DIR not in sys.path:
    sys.path.insert(0, _CONTRACT_DIR)

from exchange_contract import ExchangeContract, ExchangeHarness  # noqa: E402 - needs the path line


class SimulatedHarness:
    """A `SimulatedExchange` on a `FakeClock`, driven directly."""

    def __init__(self, *, latency: float | None) -> None:
        self.clock = FakeClock()
        self.simulated = SimulatedExchange(clock=self.clock, seed=11, latency=latency)

    @property
    def exchange(self) -> Exchange:
        return self.simulated

    @property
    def rate_limited(self) -> bool:
        return True

    def now(self) -> datetime:
        return self.clock.now()

    async def fund(self, asset: str, amount: Decimal) -> None:
        self.simulated.deposit(asset, amount)

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.simulated.set_price(symbol, price)

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        self.simulated.set_liquidity(symbol, per_update=per_update)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


_conforms: type[ExchangeHarness] = SimulatedHarness


class TestSimulatedExchange(ExchangeContract):
    @pytest.fixture(params=[None, 0.0], ids=["immediate", "yielding"])
    def harness(self, request: pytest.FixtureRequest) -> ExchangeHarness:
        latency: float | None = request.param
        return SimulatedHarness(latency=latency)
