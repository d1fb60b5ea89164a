"""execution-core's side of the workloads, shared by the bench_*.py modules and the comparison.

Each builder returns a `harness.Setup`: what an operation needs is built in the setup (untimed)
and the runner performs only the operation, so `benchmarks.compare` times this module and
`benchmarks.nautilus_workloads` the same way. Results are unwrapped (`.unwrap()`): a caller
must look at the `Result`, and a refusal here would be a benchmark bug that must not pass as a
fast figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache

import attrs

from benchmarks import scenario
from benchmarks.harness import Setup, repeat
from benchmarks.scenario import AT, FillSpec
from execution_core.config import ExecutionConfig, RiskConfig
from execution_core.domain.enums import FeeCurrency, LiquidityRole, OrderSide, OrderType
from execution_core.domain.instruments import BTC_USDT
from execution_core.domain.order_states import accept, apply_fill, submit
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import Position
from execution_core.domain.proposals import TradeProposal, plan_order
from execution_core.domain.risk import RiskSnapshot, check_pre_trade

LIBRARY = "execution-core"

_SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
POSITION_ID = "p-1"


def fill_of(spec: FillSpec, *, trade_id: str, order_id: str = "o-1") -> Fill:
    """Our `Fill` for `spec` (fee in quote, taker), as the exchange adapter would build it."""
    return Fill(
        trade_id=trade_id,
        order_id=order_id,
        symbol=scenario.SYMBOL,
        side=_SIDES[spec.side],
        quantity=spec.quantity,
        price=spec.price,
        fee=spec.fee,
        fee_currency=FeeCurrency.QUOTE,
        liquidity=LiquidityRole.TAKER,
        timestamp=AT,
    )


def fills_of(specs: Sequence[FillSpec], *, prefix: str = "t") -> tuple[Fill, ...]:
    """Fills with trade ids `<prefix>-0`, `<prefix>-1`, ..."""
    return tuple(fill_of(spec, trade_id=f"{prefix}-{i}") for i, spec in enumerate(specs))


def pending_order(*, size: Decimal = scenario.ORDER_SIZE, order_id: str = "o-1") -> Order:
    """The PENDING limit buy the order workloads start from."""
    return Order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        symbol=scenario.SYMBOL,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=size,
        price=scenario.ORDER_PRICE,
        created_at=AT,
    )


def order_fill() -> Fill:
    """One fill for the whole order of `pending_order()`."""
    spec = FillSpec(
        side="buy",
        quantity=scenario.ORDER_SIZE,
        price=scenario.ORDER_PRICE,
        fee=scenario.ORDER_SIZE * scenario.ORDER_PRICE * scenario.TAKER_FEE,
    )
    return fill_of(spec, trade_id="t-order")


def lifecycle(order: Order, fill: Fill) -> Order:
    """Submitted, accepted (exchange id `X-1`), filled: the order after the three events."""
    submitted = submit(order, at=AT).unwrap().order
    accepted = accept(submitted, exchange_order_id="X-1", at=AT).unwrap().order
    return apply_fill(accepted, fill, at=AT).unwrap().order


def position_of(fills: Sequence[Fill]) -> Position:
    """A position opened by the first fill and fed the others one by one, as they arrive."""
    position = Position.open_from_fills(fills[:1], id=POSITION_ID).unwrap().position
    for fill in fills[1:]:
        position = position.apply_fill(fill).unwrap().position
    return position


@cache
def position_with_earlier_fills(earlier: int) -> Position:
    """The position of workload (3): `earlier` small entries applied one by one."""
    return position_of(fills_of(scenario.entry_fills(earlier), prefix="early"))


CONFIG = ExecutionConfig(
    risk=RiskConfig(
        max_order_notional=scenario.MAX_ORDER_NOTIONAL,
        max_position_notional=scenario.MAX_ORDER_NOTIONAL,
    )
)

SNAPSHOT = RiskSnapshot(balances={"USDT": scenario.QUOTE_BALANCE, "BTC": Decimal(10)})
"""The account as NautilusTrader's side has it: 1,000,000 USDT and 10 BTC, nothing open."""


def create_and_validate() -> Order:
    """Workload (1): the bot's proposal, planned (sized, rounded, every rule) and risk-checked.

    `plan_order` sizes and rounds the order and checks min size, min cost, leverage, the order
    and position notional limits; `check_pre_trade` the trading state, symbol status, circuit
    breaker, daily loss, balance with fee, and exposure.
    """
    proposal = TradeProposal(
        scenario.SYMBOL, OrderSide.BUY, scenario.ORDER_SIZE_USD, entry_price=scenario.ORDER_PRICE
    )
    order = plan_order(proposal, BTC_USDT, CONFIG, now=AT).unwrap()
    return check_pre_trade(order, BTC_USDT, SNAPSHOT, CONFIG).unwrap()


def planned_size_and_price() -> tuple[Decimal, Decimal]:
    """The size and limit price workload (1) plans."""
    order = create_and_validate()
    if order.price is None:
        raise AssertionError("a planned limit order has a price")
    return order.size, order.price


# --------------------------------------------------------------------------- the workloads
def create_validate() -> Setup:
    """(1) create and validate a limit order."""
    return lambda n: repeat(create_and_validate, n)


def order_lifecycle() -> Setup:
    """(2) submit, accept and fill a PENDING limit order (our values are immutable: reused)."""
    order = pending_order()
    fill = order_fill()
    return lambda n: repeat(lambda: lifecycle(order, fill), n)


def position_fill(earlier: int) -> Setup:
    """(3) apply one more entry fill to a position with `earlier` fills."""
    position = position_with_earlier_fills(earlier)
    fill = fill_of(scenario.NEXT_ENTRY, trade_id="t-next")
    return lambda n: repeat(lambda: position.apply_fill(fill).unwrap(), n)


def order_and_position_fill(earlier: int) -> Setup:
    """Issue 2 section 4: one fill applied to its (open) order and to the position."""
    position = position_with_earlier_fills(earlier)
    fill = fill_of(scenario.NEXT_ENTRY, trade_id="t-next", order_id="o-next")
    pending = pending_order(size=scenario.NEXT_ENTRY.quantity, order_id="o-next")
    submitted = submit(pending, at=AT).unwrap().order
    order = accept(submitted, exchange_order_id="X-next", at=AT).unwrap().order

    def both() -> None:
        apply_fill(order, fill, at=AT).unwrap()
        position.apply_fill(fill).unwrap()

    return lambda n: repeat(both, n)


def unrealized_pnl(*, include_fees: bool = False) -> Setup:
    """(4) the open position's unrealized P&L at a new price.

    `include_fees=False` is the same work as NautilusTrader's `unrealized_pnl` (price move x
    size); with fees, the entry fees paid and the estimated exit fee are deducted as well.
    """
    position = position_of(fills_of(scenario.ENTRIES))
    price = scenario.NEW_PRICE
    calc = position.calculate_pnl
    return lambda n: repeat(lambda: calc(price, include_fees), n)


# --------------------------------------------------------------------------- the same numbers
@attrs.frozen(kw_only=True)
class Figures:
    """What the equivalence check compares (the same fields as NautilusTrader's side)."""

    order_size: Decimal
    order_price: Decimal
    order_status: str
    order_filled: Decimal
    order_average_price: Decimal
    entry_price: Decimal
    size: Decimal
    unrealized_at_new_price: Decimal
    realized_net: Decimal
    entry_price_after_earlier: dict[int, Decimal]


def figures(order_size: Decimal, order_price: Decimal) -> Figures:
    """Run the scenario through execution-core and read back every compared number.

    `order_size` and `order_price` are those of workload (1)'s planned order (see
    `benchmarks.compare`).
    """
    order = lifecycle(pending_order(), order_fill())
    fills = fills_of(scenario.ROUND_TRIP)
    position = position_of(fills[: len(scenario.ENTRIES)])
    unrealized, _ = position.calculate_pnl(scenario.NEW_PRICE, include_fees=False)
    entry_price, size = position.entry_price, position.size
    for fill in fills[len(scenario.ENTRIES) :]:
        position = position.apply_fill(fill).unwrap().position
    average = order.average_price
    if average is None:
        raise AssertionError("a filled order has an average price")
    return Figures(
        order_size=order_size,
        order_price=order_price,
        order_status=order.status.value,
        order_filled=order.filled_size,
        order_average_price=average,
        entry_price=entry_price,
        size=size,
        unrealized_at_new_price=unrealized,
        realized_net=position.realized_pnl,
        entry_price_after_earlier={
            n: position_with_earlier_fills(n).entry_price for n in scenario.EARLIER_FILLS
        },
    )
