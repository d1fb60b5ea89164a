"""Planning: a bot's proposal made a safe order (plan_order) and risk-checked (check_pre_trade)."""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks import ours, scenario
from benchmarks.harness import Benchmark, Setup, repeat
from benchmarks.scenario import AT
from execution_core.domain.enums import OrderSide
from execution_core.domain.instruments import BTC_USDT
from execution_core.domain.proposals import TradeProposal, plan_order
from execution_core.domain.risk import check_pre_trade

GROUP = "planning"
PLAN_TARGET_NS = 10_000
"""Issue 2 section 4: plan_order + validation, median <= 10 us."""


def _proposal() -> TradeProposal:
    return TradeProposal(
        scenario.SYMBOL, OrderSide.BUY, scenario.ORDER_SIZE_USD, entry_price=scenario.ORDER_PRICE
    )


def _plan_only() -> Setup:
    proposal = _proposal()
    return lambda n: repeat(lambda: plan_order(proposal, BTC_USDT, ours.CONFIG, now=AT), n)


def _market_plan() -> Setup:
    proposal = TradeProposal(scenario.SYMBOL, OrderSide.BUY, scenario.ORDER_SIZE_USD)
    ref = scenario.ORDER_PRICE
    return lambda n: repeat(
        lambda: plan_order(proposal, BTC_USDT, ours.CONFIG, reference_price=ref, now=AT), n
    )


def _check_only() -> Setup:
    order = plan_order(_proposal(), BTC_USDT, ours.CONFIG, now=AT).unwrap()
    return lambda n: repeat(lambda: check_pre_trade(order, BTC_USDT, ours.SNAPSHOT, ours.CONFIG), n)


def _refused() -> Setup:
    tiny = TradeProposal(scenario.SYMBOL, OrderSide.BUY, 2, entry_price=scenario.ORDER_PRICE)
    return lambda n: repeat(lambda: plan_order(tiny, BTC_USDT, ours.CONFIG, now=AT), n)


def register() -> Iterator[Benchmark]:
    """The planning benchmarks."""
    yield Benchmark(
        group=GROUP,
        name="proposal + plan_order + check_pre_trade (limit)",
        setup=ours.create_validate(),
        target_ns=PLAN_TARGET_NS,
        memory=True,
    )
    yield Benchmark(group=GROUP, name="plan_order (limit)", setup=_plan_only())
    yield Benchmark(group=GROUP, name="plan_order (protected market)", setup=_market_plan())
    yield Benchmark(group=GROUP, name="check_pre_trade", setup=_check_only())
    yield Benchmark(group=GROUP, name="plan_order refused (below min size)", setup=_refused())
