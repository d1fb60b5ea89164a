"""A seeded price path for the paper run: one random walk per symbol, as bars on the tick.

Each tick moves every symbol by a whole number of basis points drawn uniformly from
`[-step_bps, step_bps]`, and the bar's low and high reach a further `[0, wick_bps]` basis points
beyond the open and the close, so that a stop or a take-profit inside the bar fills at its own
level (docs/paper-engine.md). Prices are Decimal, on the instrument's tick; the draws are
integers from one `random.Random` per symbol, seeded with the run's seed and the symbol, so a
seed replays the same path on any machine and adding a symbol does not change the others.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

import attrs

from execution_core.domain.instruments import Instruments
from execution_core.domain.numbers import ONE
from execution_core.domain.rounding import ceil_to_step, floor_to_step

BPS: Final = Decimal(10_000)
FLOOR_TICKS: Final = 100
"""A price never falls below this many ticks (a walk stays a market)."""


@attrs.frozen(kw_only=True)
class Bar:
    """One symbol over one tick: open, close, and the range the price went through."""

    symbol: str
    open: Decimal
    close: Decimal
    low: Decimal
    high: Decimal


class RandomWalk:
    """Bars for every symbol, one tick at a time (see the module docstring)."""

    def __init__(
        self,
        start: Mapping[str, Decimal],
        *,
        seed: int,
        step_bps: int,
        wick_bps: int,
        instruments: Instruments,
    ) -> None:
        if step_bps < 0 or wick_bps < 0:
            msg = f"step_bps and wick_bps must be >= 0 (got {step_bps}, {wick_bps})"
            raise ValueError(msg)
        self._ticks = {symbol: instruments.get(symbol).unwrap().tick_size for symbol in start}
        self._prices = {
            symbol: _on_tick(price, self._ticks[symbol]) for symbol, price in start.items()
        }
        self._rngs = {
            symbol: random.Random(f"{seed}:{symbol}")  # noqa: S311 - a simulation, not secrets
            for symbol in start
        }
        self._step = step_bps
        self._wick = wick_bps

    @property
    def prices(self) -> Mapping[str, Decimal]:
        """The last close of every symbol."""
        return dict(self._prices)

    def step(self) -> dict[str, Bar]:
        """Move every symbol one tick; the bars, by symbol."""
        return {symbol: self._bar(symbol) for symbol in self._prices}

    def _bar(self, symbol: str) -> Bar:
        rng = self._rngs[symbol]
        tick = self._ticks[symbol]
        opened = self._prices[symbol]
        move = Decimal(rng.randint(-self._step, self._step)) / BPS
        close = max(_on_tick(opened * (ONE + move), tick), tick * FLOOR_TICKS)
        below = Decimal(rng.randint(0, self._wick)) / BPS
        above = Decimal(rng.randint(0, self._wick)) / BPS
        low = max(floor_to_step(min(opened, close) * (ONE - below), tick), tick)
        high = ceil_to_step(max(opened, close) * (ONE + above), tick)
        self._prices[symbol] = close
        return Bar(symbol=symbol, open=opened, close=close, low=low, high=high)


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).quantize(ONE, rounding=ROUND_HALF_EVEN) * tick
