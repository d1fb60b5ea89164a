"""The paper-trading run: the whole service on a simulated Kraken, driven by a strategy, in seconds.

`python -m adapters.paper [--proposals N] [--seed S] [--symbols ...] [--ticks T] [--config
path.toml] [--db sqlite:///path] [--all-positions]` wires `OrderExecutionManager` +
`PositionTracker` + `SimulatedExchange` (a seeded random walk per symbol, liquidity caps, Kraken's
fees and holds) + `InMemoryRepository` (or `SqlRepository` on SQLite) + a `FakeClock` that the run
advances, then plays ticks. Each tick:

1. the clock moves `tick_seconds`; every symbol moves one bar (`RandomWalk`), and the exchange
   matches resting orders, stops and take-profits against it;
2. the tracker sees the closes: trailing stops tighten (the exchange stop is amended) and the
   stop-loss / take-profit levels the bar reached are recorded as `TriggerFired`;
3. the manager's monitor makes one pass (`poll_once`): fills reach positions, stops and targets
   follow the filled sizes, timed-out orders are cancelled, watched take-profits close;
4. positions that asked for a trailing stop get it once open; snapshots are taken on the
   configured interval;
5. the strategy proposes (while the budget lasts) and each proposal goes through `execute_trade`.

After the last tick the monitor runs until nothing changes, and the report (adapters/paper/
report.py) is printed, with its invariant checks. The exit code is 0 when every invariant holds,
1 when one breaks, 2 for a usage error. docs/paper-trading.md has the details.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
import tomllib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, TextIO

import attrs

from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import INTERMEDIATE, PRO, STARTER, EngineConfig, RateTier
from adapters.memory.faults import WRITES
from adapters.memory.repository import InMemoryRepository
from adapters.memory.simulated import SimulatedExchange
from adapters.paper.market import RandomWalk
from adapters.paper.report import PaperReport, RunRecord, build_report, format_report
from adapters.paper.strategy import PaperProposal, Strategy, StrategyView, default_strategy
from execution_core.config import ConfigError, ExecutionConfig, RateLimitTier
from execution_core.domain.events import TriggerFired
from execution_core.domain.instruments import Instruments, default_instruments
from execution_core.domain.numbers import to_decimal
from execution_core.domain.proposals import TradeProposal
from execution_core.domain.trailing import TrailingStop
from execution_core.ports import Repository
from execution_core.service.manager import OrderExecutionManager
from execution_core.service.results import PollSummary
from execution_core.service.tracker import PositionTracker

START: Final = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
"""The FakeClock's start: every run begins at the same simulated moment."""
HISTORY: Final = 50
"""Closes per symbol the strategy sees."""
SETTLE_POLLS: Final = 10
"""After the last tick: monitoring passes (without price moves) until nothing changes."""

DEFAULT_SYMBOLS: Final = ("BTC/USDT", "XRP/USDT", "XRP/BTC")
DEFAULT_START_PRICES: Final[Mapping[str, Decimal]] = {
    "BTC/USDT": Decimal(45_000),
    "XRP/USDT": Decimal("0.6"),
    "XRP/BTC": Decimal("0.00001333"),
}
DEFAULT_BALANCES: Final[Mapping[str, Decimal]] = {
    "USDT": Decimal(100_000),
    "BTC": Decimal(2),
    "XRP": Decimal(100_000),
}
"""Enough that the risk limits, not the balances, bound what the strategy holds: on Kraken spot
an untriggered stop holds the base it sells, and a resting take-profit holds it again."""
DEFAULT_LIQUIDITY: Final[Mapping[str, Decimal]] = {
    "BTC/USDT": Decimal("0.05"),
    "XRP/USDT": Decimal(2_000),
    "XRP/BTC": Decimal(1_500),
}
"""Base volume one price update (or one placement between updates) can fill, per symbol."""

PAPER_EXECUTION_DEFAULTS: Final[Mapping[str, object]] = {
    "retry": {"jitter": False},
    "risk": {
        "max_order_notional_by_symbol": {"XRP/BTC": "0.05"},
        "max_position_notional_by_symbol": {"XRP/BTC": "0.25"},
    },
}
"""`ExecutionConfig()` with these changes: no retry jitter (a seed replays exactly), and limits
in BTC for XRP/BTC (the defaults are quote amounts sized for USDT). A `--config` file's
sections are merged over this."""

ENGINE_TIERS: Final[Mapping[RateLimitTier, RateTier]] = {
    RateLimitTier.STARTER: STARTER,
    RateLimitTier.INTERMEDIATE: INTERMEDIATE,
    RateLimitTier.PRO: PRO,
}
"""The paper account's tier follows `rate_limit.tier`: the manager paces for the account it has."""


# --------------------------------------------------------------------------- configuration
def _decimal_map(value: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return dict(value)


def _symbols(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class PaperConfig:
    """Everything a paper run depends on; with a seed, the run is a pure function of it.

    `ticks` None means 3 x `proposals` (the strategy runs out of budget after about 1.7 x, the
    rest lets positions play out). `liquidity` caps the base volume one price update fills per
    symbol (partial fills); `hold_untriggered` makes untriggered stops hold their funds as Kraken
    spot does (a position's take-profit is then watched by the monitor). `db` None keeps the
    store in memory; `sqlite:///path` stores it in a SQLite file.
    """

    proposals: int = 100
    seed: int = 7
    symbols: tuple[str, ...] = attrs.field(default=DEFAULT_SYMBOLS, converter=_symbols)
    ticks: int | None = None
    tick_seconds: float = 5.0
    step_bps: int = 25
    wick_bps: int = 10
    start_prices: Mapping[str, Decimal] = attrs.field(
        default=DEFAULT_START_PRICES, converter=_decimal_map
    )
    balances: Mapping[str, Decimal] = attrs.field(default=DEFAULT_BALANCES, converter=_decimal_map)
    liquidity: Mapping[str, Decimal] = attrs.field(
        default=DEFAULT_LIQUIDITY, converter=_decimal_map
    )
    hold_untriggered: bool = True
    db: str | None = None
    execution: ExecutionConfig = attrs.field(
        factory=lambda: ExecutionConfig.from_mapping(PAPER_EXECUTION_DEFAULTS)
    )

    def __attrs_post_init__(self) -> None:
        _check_counts(self)
        _check_symbols(self)
        _check_amounts(self)
        if self.db is not None:
            _sqlite_path(self.db)

    @property
    def tick_count(self) -> int:
        """The ticks the run plays."""
        return self.ticks if self.ticks is not None else 3 * self.proposals

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PaperConfig:
        """From a parsed TOML document: the `[paper]` table, the rest is the ExecutionConfig."""
        rest = {key: value for key, value in data.items() if key != "paper"}
        paper = data.get("paper", {})
        if not isinstance(paper, Mapping):
            raise ConfigError("paper", "a table", paper)
        fields: dict[str, object] = {}
        for key, value in paper.items():
            if key not in _PAPER_KEYS:
                known = ", ".join(_PAPER_KEYS)
                raise ConfigError(f"paper.{key}", known, value, unknown=True)
            fields[key] = _PAPER_KEYS[key](f"paper.{key}", value)
        execution = ExecutionConfig.from_mapping(_merged(PAPER_EXECUTION_DEFAULTS, rest))
        return cls(execution=execution, **fields)  # type: ignore[arg-type]  # typed by the readers of _PAPER_KEYS

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> PaperConfig:
        """Read a TOML file: `[paper]` for the run, the other sections for the ExecutionConfig."""
        with open(path, "rb") as stream:  # noqa: PTH123 - str and PathLike alike
            try:
                data = tomllib.load(stream)
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(os.fspath(path), "a valid TOML document", str(error)) from None
        return cls.from_mapping(data)


def _check_counts(config: PaperConfig) -> None:
    for name in ("proposals", "ticks", "step_bps", "wick_bps"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ConfigError(f"paper.{name}", "an integer >= 0", value)
    if config.tick_seconds <= 0:
        raise ConfigError("paper.tick_seconds", "a number > 0", config.tick_seconds)


def _check_symbols(config: PaperConfig) -> None:
    if not config.symbols:
        raise ConfigError("paper.symbols", "at least one symbol", [])
    known = default_instruments()
    for symbol in config.symbols:
        if symbol not in known:
            raise ConfigError("paper.symbols", f"symbols among {sorted(known.by_symbol)}", symbol)
        if symbol not in config.start_prices:
            raise ConfigError(f"paper.start_prices.{symbol}", "a start price", None)


def _check_amounts(config: PaperConfig) -> None:
    for table, amounts, least in (
        ("start_prices", config.start_prices, "> 0"),
        ("liquidity", config.liquidity, "> 0"),
        ("balances", config.balances, ">= 0"),
    ):
        for name, amount in amounts.items():
            if amount < 0 or (amount == 0 and least == "> 0"):
                raise ConfigError(f"paper.{table}.{name}", f"a number {least}", amount)


def _integer(path: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, "an integer", value)
    return value


def _seconds(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, "a number of seconds", value)
    return float(value)


def _flag(path: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, "true or false", value)
    return value


def _url(path: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, "a database URL (sqlite:///path)", value)
    return value


def _symbol_list(path: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, "a list of symbols", value)
    return tuple(value)


def _amounts(path: str, value: object) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, "a table of decimal numbers", value)
    amounts: dict[str, Decimal] = {}
    for name, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float | str):
            raise ConfigError(f"{path}.{name}", "a decimal number", amount)
        amounts[name] = to_decimal(amount, field=f"{path}.{name}")
    return amounts


def _prices(path: str, value: object) -> dict[str, Decimal]:
    return {**DEFAULT_START_PRICES, **_amounts(path, value)}


def _caps(path: str, value: object) -> dict[str, Decimal]:
    return {**DEFAULT_LIQUIDITY, **_amounts(path, value)}


_PAPER_KEYS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "proposals": _integer,
    "seed": _integer,
    "symbols": _symbol_list,
    "ticks": _integer,
    "tick_seconds": _seconds,
    "step_bps": _integer,
    "wick_bps": _integer,
    "start_prices": _prices,
    "balances": _amounts,
    "liquidity": _caps,
    "hold_untriggered": _flag,
    "db": _url,
}
"""The keys of the `[paper]` table, each with its reader (which names the key when it refuses).

`start_prices` and `liquidity` are merged over the defaults; `balances` is the whole account."""


def _merged(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """`override` deep-merged over `base` (tables merge, other values replace)."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _merged(current, value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- the run
def _sqlite_path(url: str) -> str:
    """What follows `sqlite://` in `url` (`/path` for `sqlite:///path`); refuses other URLs."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in {"sqlite", "sqlite+aiosqlite"} or not rest.startswith("/"):
        raise ConfigError("paper.db", "sqlite:///path (or sqlite+aiosqlite:///path)", url)
    return rest


async def open_repository(
    url: str | None, clock: FakeClock
) -> tuple[Repository, Callable[[], Awaitable[None]]]:
    """The store: in memory, or SQLite at `sqlite:///path` (schema created); and how to close it."""
    if url is None:
        memory = InMemoryRepository()

        async def nothing() -> None:
            return None

        return memory, nothing
    rest = _sqlite_path(url)
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415 - only with --db

    from adapters.sql.repository import SqlRepository  # noqa: PLC0415 - only with --db

    engine = create_async_engine(f"sqlite+aiosqlite://{rest}")
    sql = SqlRepository(engine, clock=clock)
    await sql.create_schema()
    return sql, engine.dispose


async def run_paper(config: PaperConfig, strategy: Strategy = default_strategy) -> PaperReport:
    """Play the run `config` describes with `strategy`; the report (see the module docstring)."""
    wall_start = time.perf_counter()
    clock = FakeClock(START)
    instruments = Instruments.of(
        default_instruments().get(symbol).unwrap() for symbol in config.symbols
    )
    exchange = SimulatedExchange(
        clock=clock,
        instruments=list(instruments),
        seed=config.seed,
        config=EngineConfig(
            tier=ENGINE_TIERS[config.execution.rate_limit.tier],
            hold_untriggered=config.hold_untriggered,
        ),
    )
    for asset, amount in config.balances.items():
        exchange.deposit(asset, amount)
    for symbol in config.symbols:
        cap = config.liquidity.get(symbol)
        if cap is not None:
            exchange.set_liquidity(symbol, per_update=cap)
    walk = RandomWalk(
        {symbol: config.start_prices[symbol] for symbol in config.symbols},
        seed=config.seed,
        step_bps=config.step_bps,
        wick_bps=config.wick_bps,
        instruments=instruments,
    )
    for symbol, price in walk.prices.items():
        exchange.set_price(symbol, price)
    repository, close_repository = await open_repository(config.db, clock)
    try:
        record = await _play(config, strategy, clock, exchange, walk, repository, instruments)
        report = await build_report(record)
    finally:
        await close_repository()
    return attrs.evolve(report, wall_seconds=time.perf_counter() - wall_start)


async def _play(  # noqa: PLR0917 - the parts of one run, wired by run_paper
    config: PaperConfig,
    strategy: Strategy,
    clock: FakeClock,
    exchange: SimulatedExchange,
    walk: RandomWalk,
    repository: Repository,
    instruments: Instruments,
) -> RunRecord:
    execution = config.execution
    tracker = PositionTracker(
        repository=repository, clock=clock, config=execution, instruments=instruments
    )
    counter = itertools.count(1)
    manager = OrderExecutionManager(
        exchange=exchange,
        repository=repository,
        clock=clock,
        config=execution,
        tracker=tracker,
        instruments=instruments,
        id_factory=lambda: f"o-{next(counter)}",
    )
    record = RunRecord(
        config_seed=config.seed,
        proposals_requested=config.proposals,
        tick_seconds=config.tick_seconds,
        started_at=clock.now(),
        manager=manager,
        tracker=tracker,
        exchange=exchange,
        repository=repository,
        execution=execution,
        start_balances=dict(config.balances),
        start_prices=walk.prices,
    )
    await manager.start(run_loops=False)
    history = {symbol: deque([price], maxlen=HISTORY) for symbol, price in walk.prices.items()}
    rng = random.Random(f"{config.seed}:strategy")  # noqa: S311 - a seeded simulation, not secrets
    trailing: dict[str, TrailingStop] = {}
    snapshot_every = execution.positions.snapshot_interval_seconds
    next_snapshot = snapshot_every
    elapsed = 0.0
    for tick in range(1, config.tick_count + 1):
        clock.advance(config.tick_seconds)
        elapsed += config.tick_seconds
        bars = walk.step()
        for symbol, bar in bars.items():
            exchange.set_price(symbol, bar.close, low=bar.low, high=bar.high)
            history[symbol].append(bar.close)
            record.observe(bar)
        closes = {symbol: bar.close for symbol, bar in bars.items()}
        await tracker.update_trailing_stops(closes)
        for fired in await tracker.check_sl_tp_triggers(closes):
            if isinstance(fired, TriggerFired):
                record.triggers[str(fired.trigger)] += 1
        await _poll(record)
        await _attach_trailing(record, trailing)
        if elapsed >= next_snapshot:
            next_snapshot += snapshot_every
            record.snapshots += len(await tracker.take_snapshots())
        remaining = config.proposals - len(record.proposals)
        if remaining > 0:
            view = StrategyView(
                tick=tick,
                now=clock.now(),
                prices=closes,
                history={symbol: tuple(values) for symbol, values in history.items()},
                positions=tracker.open_positions(),
                instruments=manager.instruments,
                rng=rng,
                proposed=len(record.proposals),
                remaining=remaining,
            )
            for item in list(strategy(view))[:remaining]:
                await _execute(record, item, trailing, config.seed)
        record.ticks = tick
    await _settle(record, trailing, clock, exchange, config.tick_seconds)
    record.finished_at = clock.now()
    return record


async def _poll(record: RunRecord) -> PollSummary:
    """One monitoring pass, with the status calls the exchange counted during it."""
    calls = record.exchange.calls
    before = calls["order_status"]
    summary = await record.manager.poll_once()
    record.polls.append(summary)
    record.status_calls.append(calls["order_status"] - before)
    return summary


async def _execute(
    record: RunRecord,
    item: TradeProposal | PaperProposal,
    trailing: dict[str, TrailingStop],
    seed: int,
) -> None:
    wanted = item if isinstance(item, PaperProposal) else PaperProposal(proposal=item)
    proposal = wanted.proposal
    if proposal.proposal_id is None:
        number = len(record.proposals) + 1
        proposal = attrs.evolve(proposal, proposal_id=f"paper-{seed}-{number:05d}")
    result = await record.manager.execute_trade(proposal)
    record.proposals.append((proposal, result))
    if result.success and wanted.trailing is not None and result.order_id is not None:
        trailing[result.order_id] = wanted.trailing


async def _attach_trailing(record: RunRecord, trailing: dict[str, TrailingStop]) -> None:
    """Switch on the trailing stops of the positions that opened since the last pass."""
    for position_id in list(trailing):
        position = record.tracker.get(position_id)
        if position is None:
            entry = record.manager.get_order(position_id)
            if entry is None or entry.status.is_terminal:
                del trailing[position_id]  # never filled: nothing to trail
            continue
        stop = trailing.pop(position_id)
        if position.is_open:
            result = await record.tracker.modify_position(position_id, trailing=stop)
            record.trailing_results.append((position_id, result))


async def _settle(
    record: RunRecord,
    trailing: dict[str, TrailingStop],
    clock: FakeClock,
    exchange: SimulatedExchange,
    tick_seconds: float,
) -> None:
    """Monitoring passes without price moves until one changes nothing and sends nothing."""
    calls = exchange.calls
    for _ in range(SETTLE_POLLS):
        clock.advance(tick_seconds)
        exchange.sync()
        writes = sum(calls[method] for method in WRITES)
        summary = await _poll(record)
        await _attach_trailing(record, trailing)
        quiet = not (summary.updated or summary.lookups or summary.timeouts or trailing)
        if quiet and sum(calls[method] for method in WRITES) == writes:
            break


# --------------------------------------------------------------------------- the command
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.paper",
        description=(
            "Paper-trade on a simulated Kraken: a seeded strategy's proposals through the "
            "execution service, then a report with invariant checks (docs/paper-trading.md)."
        ),
    )
    parser.add_argument("--proposals", type=int, help="how many proposals (default 100)")
    parser.add_argument("--seed", type=int, help="the seed of prices, strategy and ids (default 7)")
    parser.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="default: all three pairs")
    parser.add_argument("--ticks", type=int, help="ticks to play (default 3 x proposals)")
    parser.add_argument("--config", metavar="PATH", help="a TOML file ([paper] + ExecutionConfig)")
    parser.add_argument("--db", metavar="URL", help="store in SQLite: sqlite:///path")
    parser.add_argument(
        "--all-positions", action="store_true", help="list closed positions too, not only open"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> PaperConfig:
    """The run's configuration: the `--config` file (or the defaults), then the flags."""
    config = PaperConfig.from_toml(args.config) if args.config else PaperConfig()
    changes: dict[str, object] = {}
    for name in ("proposals", "seed", "ticks", "db"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.symbols:
        changes["symbols"] = tuple(args.symbols)
    return attrs.evolve(config, **changes) if changes else config  # type: ignore[arg-type]  # names above


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    strategy: Strategy = default_strategy,
) -> int:
    """Run the paper-trading session the arguments describe; print the report; the exit code.

    0: every invariant held; 1: one broke (the report says which); 2: a usage or configuration
    error. `out` receives the report (default stdout); `strategy` makes the proposals.
    """
    stream = out if out is not None else sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as error:  # ConfigError, InvalidNumber; an unreadable file
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    report = asyncio.run(run_paper(config, strategy))
    stream.write(format_report(report, all_positions=args.all_positions))
    stream.write("\n")
    return 0 if report.ok else 1
