"""The paper-trading run (`python -m adapters.paper`): deterministic per seed, every proposal
accounted for, the invariants checked, the numbers consistent with what the store holds.

Seed 11 with 30 proposals is used throughout; its figures are the same in every process (see
docs/paper-trading.md, "Replaying a seed").
"""

from __future__ import annotations

import asyncio
import io
import re
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.paper import (
    PaperConfig,
    PaperProposal,
    PaperReport,
    StrategyView,
    main,
    run_paper,
)
from adapters.sql.repository import SqlRepository
from execution_core.domain.enums import FeeCurrency, OrderSide
from execution_core.domain.events import OrderCreated
from execution_core.domain.instruments import default_instruments
from execution_core.domain.numbers import ZERO
from execution_core.domain.proposals import TradeProposal
from execution_core.domain.trailing import TrailingStop

SEED = 11
PROPOSALS = 30
ARGS = ["--proposals", str(PROPOSALS), "--seed", str(SEED)]


def run_main(argv: list[str], **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, out=out, **kwargs)  # type: ignore[arg-type]  # strategy only, in one test
    return code, out.getvalue()


def without_wall_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("(wall time"))


def invariant_lines(text: str) -> list[str]:
    block = text.split("\ninvariants\n", 1)[1]
    return [line for line in block.splitlines() if line.startswith("  ")]


# --------------------------------------------------------------------------- the command
def test_the_default_command_line_run_keeps_every_invariant_and_exits_0() -> None:
    code, text = run_main(ARGS)

    assert code == 0
    lines = invariant_lines(text)
    assert len(lines) == 6
    assert all(line.startswith("  ok   ") for line in lines), lines
    assert "result: all invariants hold" in text


def test_every_proposal_is_accounted_for_as_executed_or_refused_with_a_reason() -> None:
    _, text = run_main(ARGS)

    found = re.search(
        r"proposals: (\d+) made \(of (\d+) allowed\), (\d+) executed, (\d+) refused", text
    )
    assert found is not None, text
    made, allowed, executed, refused = map(int, found.groups())
    assert (made, allowed) == (PROPOSALS, PROPOSALS)
    assert executed + refused == made
    reasons = dict(re.findall(r"  refused (.+): (\d+)", text))
    assert sum(int(count) for count in reasons.values()) == refused
    # the default strategy sizes its 25th proposal far below the exchange minimum
    assert reasons["below_minimum_size (size)"] == "1"
    assert f"{made} = {executed} executed + {refused} refused" in text


def test_a_seed_replays_the_same_report_and_another_seed_does_not() -> None:
    _, first = run_main(ARGS)
    _, again = run_main(ARGS)
    _, other = run_main(["--proposals", str(PROPOSALS), "--seed", str(SEED + 1)])

    assert without_wall_time(first) == without_wall_time(again)
    assert without_wall_time(first) != without_wall_time(other)


def test_a_bad_option_is_a_usage_error_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--symbols", "DOGE/USDT"], out=io.StringIO())

    assert exited.value.code == 2
    assert "paper.symbols" in capsys.readouterr().err


def test_a_config_file_sets_the_run_and_the_service_and_the_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "paper.toml"
    path.write_text(
        '[paper]\nproposals = 4\nseed = 5\nsymbols = ["BTC/USDT"]\n'
        '[paper.liquidity]\n"BTC/USDT" = "0.01"\n'
        "[risk]\nmax_position_notional = 777\n",
        encoding="utf-8",
    )

    config = PaperConfig.from_toml(path)
    code, text = run_main(["--config", str(path), "--seed", str(SEED)])

    assert (config.proposals, config.seed, config.symbols) == (4, 5, ("BTC/USDT",))
    assert config.liquidity["BTC/USDT"] == Decimal("0.01")
    assert config.liquidity["XRP/USDT"] == Decimal(2000)  # merged over the defaults
    assert config.execution.risk.max_position_notional == Decimal(777)
    assert config.execution.risk.max_order_notional_by_symbol["XRP/BTC"] == Decimal("0.05")
    assert not config.execution.retry.jitter  # the run's defaults stay under the file
    assert code == 0
    assert text.startswith(f"paper run: seed {SEED}, 12 ticks")
    assert "proposals: 4 made (of 4 allowed)" in text


def test_an_unknown_key_in_the_config_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "paper.toml"
    path.write_text("[paper]\nproposal = 4\n", encoding="utf-8")

    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path)], out=io.StringIO())

    assert exited.value.code == 2
    assert "paper.proposal: unknown key" in capsys.readouterr().err


def test_a_strategy_that_opens_a_position_without_a_stop_fails_the_run_with_exit_code_1() -> None:
    def unprotected(view: StrategyView) -> list[TradeProposal]:
        if view.tick != 1:
            return []
        return [TradeProposal("BTC/USDT", "buy", 900)]  # no stop-loss

    code, text = run_main(["--proposals", "1", "--ticks", "3"], strategy=unprotected)

    assert code == 1
    assert "  FAIL no open position without a stop: paper-7-00001 (BTC/USDT " in text
    assert "result: AN INVARIANT BROKE" in text


# --------------------------------------------------------------------------- the report's values
@pytest.fixture(scope="module")
def report() -> PaperReport:
    return asyncio.run(run_paper(PaperConfig(proposals=PROPOSALS, seed=SEED)))


def test_the_report_adds_up(report: PaperReport) -> None:
    assert report.ok, report.invariants
    assert report.proposals_generated == PROPOSALS
    assert report.executed + sum(report.refused.values()) == PROPOSALS
    entries = report.orders["entry"]
    assert sum(entries.values()) == report.executed  # one entry order per executed proposal
    assert entries.get("filled", 0) <= len(report.positions) <= report.executed
    assert len(report.open_positions) + len(report.closed_positions) == len(report.positions)
    assert sum(report.closes.values()) == len(report.closed_positions)
    assert report.entry_fills >= len(report.positions)
    for line in report.pnl:
        mine = [p for p in report.positions if p.symbol == line.symbol]
        assert line.opened == len(mine)
        assert line.realized == sum((p.realized_pnl for p in mine), ZERO)
        assert line.unrealized == sum((p.unrealized_pnl or ZERO for p in mine), ZERO)
    for position in report.open_positions:
        assert position.stop_loss is not None
        assert position.unrealized_pnl is not None
    for position in report.closed_positions:
        assert position.unrealized_pnl is None
        assert position.opened_size > ZERO
    assert report.status_calls_per_pass.keys() <= {0, 1}  # never two status calls in one pass
    assert sum(report.status_calls_per_pass.values()) == report.polls


def test_the_price_path_is_the_seeds(report: PaperReport) -> None:
    btc = next(p for p in report.prices if p.symbol == "BTC/USDT")

    # the random walk depends on the seed alone (integer draws, Decimal arithmetic)
    assert (btc.start, btc.end, btc.low, btc.high) == (
        Decimal(45_000),
        Decimal("45510.9"),
        Decimal("44982.0"),
        Decimal("45797.4"),
    )
    assert report.ticks == 3 * PROPOSALS


def test_the_seeds_figures_are_the_ones_recorded(report: PaperReport) -> None:
    # Golden figures of seed 11. They move when the service's behaviour moves: check the new
    # figures by hand (the invariants above must still hold) before updating them here.
    assert report.executed == 29
    assert report.refused == {"below_minimum_size (size)": 1}
    assert (report.entry_fills, report.exit_fills) == (28, 12)
    assert len(report.positions) == 28
    assert report.closes == {"stop_loss": 10, "take_profit": 2}
    assert report.trailing_attached == 10
    assert report.alerts == {}


async def test_a_run_is_the_same_value_twice(report: PaperReport) -> None:
    again = await run_paper(PaperConfig(proposals=PROPOSALS, seed=SEED))

    assert again == report  # attrs equality over every figure (the wall time excluded)


# --------------------------------------------------------------------------- the store
async def test_the_balances_moved_exactly_by_the_fills_the_sqlite_store_holds(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    report = await run_paper(PaperConfig(proposals=PROPOSALS, seed=SEED, db=url))
    assert report.ok, report.invariants

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'paper.db'}")
    try:
        store = SqlRepository(engine)
        instruments = default_instruments().by_symbol
        moved: dict[str, Decimal] = {}
        fills = 0
        for stored in await store.load_events():
            if not isinstance(stored.event, OrderCreated):
                continue
            for fill in await store.load_fills(stored.event.order.id):
                fills += 1
                pair = instruments[fill.symbol]
                sign = 1 if fill.side is OrderSide.BUY else -1
                cost = fill.quantity * fill.price
                moved[pair.base] = moved.get(pair.base, ZERO) + sign * fill.quantity
                moved[pair.quote] = moved.get(pair.quote, ZERO) - sign * cost
                fee_asset = pair.quote if fill.fee_currency is FeeCurrency.QUOTE else pair.base
                moved[fee_asset] -= fill.fee
        open_positions = await store.load_open_positions()
    finally:
        await engine.dispose()

    assert fills == report.entry_fills + report.exit_fills
    for balance in report.balances:
        assert balance.end - balance.start == moved.get(balance.asset, ZERO), balance.asset
    assert sorted(p.id for p in open_positions) == sorted(p.id for p in report.open_positions)


# --------------------------------------------------------------------------- plugging a strategy
async def test_a_custom_strategy_with_a_trailing_stop_gets_it_once_its_position_is_open() -> None:
    seen: list[Decimal] = []

    def one_trade(view: StrategyView) -> list[PaperProposal]:
        if view.proposed:
            return []
        price = view.prices["BTC/USDT"]
        seen.append(price)
        proposal = TradeProposal(
            "BTC/USDT", "buy", 900, stop_loss=price * Decimal("0.98"), take_profit=price * 2
        )
        return [
            PaperProposal(
                proposal=proposal, trailing=TrailingStop(activation_pct=1, distance_pct=1)
            )
        ]

    report = await run_paper(
        PaperConfig(proposals=5, seed=SEED, symbols=("BTC/USDT",), ticks=20), one_trade
    )

    assert report.ok, report.invariants
    assert (report.proposals_generated, report.executed) == (1, 1)
    assert report.trailing_attached == 1
    (position,) = report.positions
    assert position.id == f"paper-{SEED}-00001"
    assert position.trailing
    # a protected market buy of 900 USDT at the tick's price, rounded down to the lot
    assert position.opened_size == (Decimal(900) / seen[0]).quantize(Decimal("1E-8"), ROUND_FLOOR)


def test_a_seeded_run_prints_the_same_report_whatever_the_hash_seed() -> None:
    # Seed 3 used to amend trailing stops in the order of a hash-seeded set.
    import os  # noqa: PLC0415 - only this test starts processes
    import subprocess  # noqa: PLC0415 - ditto
    import sys  # noqa: PLC0415 - ditto

    def report(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-m", "adapters.paper", "--seed", "3"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        return "\n".join(
            line for line in done.stdout.splitlines() if not line.startswith("(wall time")
        )

    first, second = report("0"), report("2")
    assert "result:" in first
    assert first == second


def test_the_pacer_prices_amends_so_the_exchange_never_refuses_one_for_its_rate_limit() -> None:
    # The pacer once aged orders from their creation, while Kraken ages them from the last
    # amendment: trailing-stop amendments were then refused with EOrder:Rate limit exceeded.
    import os  # noqa: PLC0415 - only these tests start processes
    import subprocess  # noqa: PLC0415 - ditto
    import sys  # noqa: PLC0415 - ditto

    done = subprocess.run(
        [sys.executable, "-m", "adapters.paper", "--seed", "7"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,
        timeout=120,
    )

    assert done.returncode == 0
    assert "result: all invariants hold" in done.stdout
    assert "Rate limit exceeded" not in done.stdout
