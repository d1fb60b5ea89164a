"""What drives the paper run: a strategy turns what it sees at each tick into trade proposals.

A strategy is any function `(StrategyView) -> Iterable[TradeProposal | PaperProposal]`, called
once per tick after the monitor's pass, while the run's proposal budget lasts. It returns the
proposals to execute now (none is fine). A `PaperProposal` adds what a `TradeProposal` cannot
carry: a trailing stop, switched on once the entry has filled (`PositionTracker.modify_position`).

The run numbers the proposals: one without a `proposal_id` gets `paper-<seed>-<n>`, which makes
every id, and so the whole run, a function of the seed. A strategy that wants randomness draws it
from `view.rng` (seeded from the run's seed), never from the global `random`.

`default_strategy` is deliberately simple: it is there to exercise the library (market and limit
entries, both sides, stops and targets, trailing stops, refusals), not to make money.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final, TypeAlias

import attrs

from execution_core.domain.instruments import Instruments
from execution_core.domain.numbers import ONE
from execution_core.domain.positions import Position
from execution_core.domain.proposals import TradeProposal
from execution_core.domain.trailing import TrailingStop


@attrs.frozen(kw_only=True)
class PaperProposal:
    """A proposal, and the trailing stop to switch on once its position is open."""

    proposal: TradeProposal
    trailing: TrailingStop | None = None


@attrs.frozen(kw_only=True)
class StrategyView:
    """What a strategy sees at one tick.

    `prices` are this tick's closes; `history` the recent closes per symbol, oldest first (this
    tick's last); `positions` the open positions; `proposed` how many proposals the run has
    made so far and `remaining` how many it may still make (extra ones are dropped).
    """

    tick: int
    now: datetime
    prices: Mapping[str, Decimal]
    history: Mapping[str, Sequence[Decimal]]
    positions: Sequence[Position]
    instruments: Instruments
    rng: random.Random
    proposed: int
    remaining: int


Strategy: TypeAlias = Callable[[StrategyView], Iterable[TradeProposal | PaperProposal]]
"""A function from what it sees to the proposals to execute now."""

PROPOSAL_CHANCE: Final = 0.6
"""The default strategy proposes on about this share of the ticks."""
TREND_WINDOW: Final = 10
STOP_PCT: Final = Decimal("1.5")
TARGET_PCT: Final = Decimal(3)
LIMIT_OFFSET_PCT: Final = Decimal("0.1")
LIMIT_SHARE: Final = 0.4
TRAILING_EVERY: Final = 3
TINY_EVERY: Final = 25
NOTIONAL_RANGES: Final[Mapping[str, tuple[Decimal, Decimal]]] = {
    "BTC/USDT": (Decimal(300), Decimal(1500)),
    "XRP/USDT": (Decimal(100), Decimal(600)),
    "XRP/BTC": (Decimal("0.003"), Decimal("0.015")),
}
"""Entry notionals per symbol, in the quote currency (USDT, or BTC for XRP/BTC)."""
_PCT: Final = Decimal(100)


def default_strategy(view: StrategyView) -> list[PaperProposal]:
    """One proposal on about 60% of the ticks, following the short trend of a random symbol.

    - symbol: drawn at random; side: buy when the close is at or above the mean of the last 10
      closes, else sell (a short, on spot: selling base the account holds);
    - size: a notional drawn in the symbol's range (`NOTIONAL_RANGES`); every 25th proposal is
      sized far below the exchange minimum, to show a refusal in the report;
    - type: 40% limit orders 0.1% inside the market (they rest, fill when the price comes back,
      or time out), the rest protected market orders;
    - protection: a stop-loss 1.5% and a take-profit 3% from the entry; every 3rd proposal
      also trails its stop (activation 1%, distance 0.8%).
    """
    rng = view.rng
    if not view.remaining or rng.random() >= PROPOSAL_CHANCE:
        return []
    symbol = rng.choice(sorted(view.prices))
    price = view.prices[symbol]
    recent = list(view.history[symbol])[-TREND_WINDOW:]
    mean = sum(recent, Decimal(0)) / len(recent)
    buy = price >= mean
    number = view.proposed + 1
    low, high = NOTIONAL_RANGES.get(symbol, _fallback_range(view, symbol, price))
    notional = low + (high - low) * Decimal(rng.randint(0, 100)) / _PCT
    if number % TINY_EVERY == 0:
        notional = _tiny(view, symbol, price)
    limit = rng.random() < LIMIT_SHARE
    offset = LIMIT_OFFSET_PCT / _PCT
    entry = price * (ONE - offset if buy else ONE + offset) if limit else None
    reference = entry if entry is not None else price
    stop_move, target_move = STOP_PCT / _PCT, TARGET_PCT / _PCT
    proposal = TradeProposal(
        symbol,
        "buy" if buy else "sell",
        notional,
        entry_price=entry,
        stop_loss=reference * (ONE - stop_move if buy else ONE + stop_move),
        take_profit=reference * (ONE + target_move if buy else ONE - target_move),
    )
    trailing = (
        TrailingStop(activation_pct=1, distance_pct="0.8") if number % TRAILING_EVERY == 0 else None
    )
    return [PaperProposal(proposal=proposal, trailing=trailing)]


def _fallback_range(view: StrategyView, symbol: str, price: Decimal) -> tuple[Decimal, Decimal]:
    """For a symbol without a configured range: 2x to 10x the exchange's minimum notional."""
    instrument = view.instruments.get(symbol).unwrap()
    minimum = max(instrument.min_size * price, instrument.min_cost)
    return minimum * 2, minimum * 10


def _tiny(view: StrategyView, symbol: str, price: Decimal) -> Decimal:
    """A notional a tenth of the exchange's minimum order size."""
    instrument = view.instruments.get(symbol).unwrap()
    return instrument.min_size * price / 10
