# mypy: disable-error-code="import-not-found, import-untyped"
# Reason: nautilus_trader is installed only in `nox -s bench_compare`'s environment, not in the
# typing one, and its compiled (Cython) modules ship no stubs where it is installed. Everything
# imported from it is therefore `NT` to mypy: see `NT` below.
"""The four comparison workloads run through NautilusTrader 1.231.

Each builder returns a `harness.Setup`, exactly as `benchmarks.ours` does for execution-core,
so that `benchmarks.compare` times both sides with the same harness. What is built in a setup
(fresh orders, events carrying new trade ids, positions with earlier fills) is not timed, as
for our side.

Imported only by `benchmarks.compare`; `nox -s bench` never needs NautilusTrader.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from itertools import count
from typing import Any, TypeAlias

import attrs
from nautilus_trader.accounting.factory import AccountFactory
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import MessageBus, TestClock
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.enums import (
    AccountType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
)
from nautilus_trader.model.events import AccountState, OrderAccepted, OrderFilled, OrderSubmitted
from nautilus_trader.model.identifiers import (
    AccountId,
    InstrumentId,
    PositionId,
    StrategyId,
    Symbol,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import AccountBalance, Money, Price, Quantity
from nautilus_trader.model.position import Position
from nautilus_trader.portfolio.portfolio import Portfolio
from nautilus_trader.risk.config import RiskEngineConfig
from nautilus_trader.risk.engine import RiskEngine

from benchmarks import scenario
from benchmarks.harness import Runner, Setup, repeat
from benchmarks.scenario import FillSpec

LIBRARY = "NautilusTrader"

NT: TypeAlias = Any
"""A NautilusTrader object: its compiled classes are opaque to mypy (see the header)."""

_INSTRUMENT_ID = InstrumentId(Symbol(scenario.SYMBOL), Venue("KRAKEN"))
_TRADER = TraderId("BENCH-001")
_STRATEGY = StrategyId("BENCH-001")
_ACCOUNT = AccountId("KRAKEN-001")
_POSITION = PositionId("P-1")
_SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
_trade_ids = count()


def version() -> str:
    """The installed NautilusTrader version."""
    import nautilus_trader  # noqa: PLC0415 - only to read the version of what is installed

    return str(nautilus_trader.__version__)


def _instrument() -> NT:
    """Kraken's BTC/USDT with the same tick, lot, minimums and fees as our `BTC_USDT`."""
    return CurrencyPair(
        instrument_id=_INSTRUMENT_ID,
        raw_symbol=Symbol(scenario.EXCHANGE_SYMBOL),
        base_currency=BTC,
        quote_currency=USDT,
        price_precision=1,
        size_precision=8,
        price_increment=Price.from_str(str(scenario.TICK)),
        size_increment=Quantity.from_str(str(scenario.LOT)),
        lot_size=None,
        max_quantity=None,
        min_quantity=Quantity.from_str(f"{scenario.MIN_SIZE:.8f}"),
        max_notional=None,
        min_notional=Money(scenario.MIN_COST, USDT),
        max_price=None,
        min_price=None,
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=scenario.MAKER_FEE,
        taker_fee=scenario.TAKER_FEE,
        ts_event=0,
        ts_init=0,
    )


@attrs.define
class Node:
    """The objects a NautilusTrader trading node wires together, minus the I/O.

    A cash account holding 1,000,000 USDT and 10 BTC is registered with the cache, so the risk
    engine's balance and notional checks run (without an account it skips them), and a
    per-order notional limit is configured, as our `check_pre_trade` has one.
    """

    instrument: NT
    clock: NT
    cache: NT
    risk: NT
    factory: NT

    @classmethod
    def build(cls) -> Node:
        """A fresh clock, message bus, cache, portfolio, risk engine and order factory."""
        clock = TestClock()
        msgbus = MessageBus(trader_id=_TRADER, clock=clock)
        cache_ = Cache(database=None)
        portfolio = Portfolio(msgbus=msgbus, cache=cache_, clock=clock)
        config = RiskEngineConfig(
            max_notional_per_order={str(_INSTRUMENT_ID): int(scenario.MAX_ORDER_NOTIONAL)}
        )
        risk = RiskEngine(
            portfolio=portfolio, msgbus=msgbus, cache=cache_, clock=clock, config=config
        )
        instrument = _instrument()
        cache_.add_instrument(instrument)
        cache_.add_account(AccountFactory.create(_account_state()))
        factory = OrderFactory(trader_id=_TRADER, strategy_id=_STRATEGY, clock=clock)
        return cls(instrument=instrument, clock=clock, cache=cache_, risk=risk, factory=factory)

    def create_and_validate(self) -> NT:
        """Workload (1): size and price the order, create it, run the pre-trade checks.

        The sizing mirrors ours (`size_usd / price` made a quantity of the instrument's
        precision); `_check_order` is the risk engine's price / quantity / precision / min-max
        check and `_check_orders_risk` its notional, per-order limit and balance checks -- the
        two calls `RiskEngine._handle_submit_order` makes before an order may go out.
        """
        instrument = self.instrument
        quantity = instrument.make_qty(scenario.ORDER_SIZE_USD / scenario.ORDER_PRICE)
        price = instrument.make_price(scenario.ORDER_PRICE)
        order = self.factory.limit(_INSTRUMENT_ID, OrderSide.BUY, quantity, price)
        if not self.risk._check_order(instrument, order):  # noqa: SLF001 - the engine's own check
            raise AssertionError(f"risk engine denied {order}")
        if not self.risk._check_orders_risk(instrument, [order]):  # noqa: SLF001 - ditto
            raise AssertionError(f"risk engine denied {order}")
        return order

    def new_order(self) -> NT:
        """A fresh limit order (INITIALIZED), not validated: the input of workload (2)."""
        return self.factory.limit(
            _INSTRUMENT_ID,
            OrderSide.BUY,
            Quantity.from_str(str(scenario.ORDER_SIZE)),
            Price.from_str(f"{scenario.ORDER_PRICE:.1f}"),
        )


def _account_state() -> NT:
    balances = [
        AccountBalance(
            Money(scenario.QUOTE_BALANCE, USDT), Money(0, USDT), Money(scenario.QUOTE_BALANCE, USDT)
        ),
        AccountBalance(Money(10, BTC), Money(0, BTC), Money(10, BTC)),
    ]
    return AccountState(
        account_id=_ACCOUNT,
        account_type=AccountType.CASH,
        base_currency=None,
        reported=True,
        balances=balances,
        margins=[],
        info={},
        event_id=UUID4(),
        ts_event=0,
        ts_init=0,
    )


@cache
def node() -> Node:
    """The one wired-up node the workloads share."""
    return Node.build()


# --------------------------------------------------------------------------- events
def order_events(order: NT) -> tuple[NT, NT, NT]:
    """Submitted, accepted and one full fill for `order`, as its execution client emits them."""
    venue_order_id = VenueOrderId(f"V-{next(_trade_ids)}")
    common = {
        "trader_id": _TRADER,
        "strategy_id": _STRATEGY,
        "instrument_id": _INSTRUMENT_ID,
        "client_order_id": order.client_order_id,
        "account_id": _ACCOUNT,
        "ts_event": 0,
        "ts_init": 0,
    }
    submitted = OrderSubmitted(event_id=UUID4(), **common)
    accepted = OrderAccepted(venue_order_id=venue_order_id, event_id=UUID4(), **common)
    spec = FillSpec(
        side="buy",
        quantity=scenario.ORDER_SIZE,
        price=scenario.ORDER_PRICE,
        fee=scenario.ORDER_SIZE * scenario.ORDER_PRICE * scenario.TAKER_FEE,
    )
    filled = fill_event(spec, client_order_id=order.client_order_id, venue_order_id=venue_order_id)
    return submitted, accepted, filled


def fill_event(spec: FillSpec, *, client_order_id: NT = None, venue_order_id: NT = None) -> NT:
    """An `OrderFilled` with a new trade id for `spec` (fee in quote, taker)."""
    trade = next(_trade_ids)
    if client_order_id is None:
        client_order_id = node().factory.generate_client_order_id()
    return OrderFilled(
        trader_id=_TRADER,
        strategy_id=_STRATEGY,
        instrument_id=_INSTRUMENT_ID,
        client_order_id=client_order_id,
        venue_order_id=venue_order_id or VenueOrderId(f"V-{trade}"),
        account_id=_ACCOUNT,
        trade_id=TradeId(f"T-{trade}"),
        position_id=_POSITION,
        order_side=_SIDES[spec.side],
        order_type=OrderType.LIMIT,
        last_qty=Quantity.from_str(f"{spec.quantity:.8f}"),
        last_px=Price.from_str(f"{spec.price:.1f}"),
        currency=USDT,
        commission=Money(spec.fee, USDT),
        liquidity_side=LiquiditySide.TAKER,
        event_id=UUID4(),
        ts_event=0,
        ts_init=0,
    )


def position_of(fills: Sequence[NT]) -> NT:
    """A position opened by the first fill and fed the rest."""
    position = Position(node().instrument, fills[0])
    for fill in fills[1:]:
        position.apply(fill)
    return position


# --------------------------------------------------------------------------- the workloads
def create_validate() -> Setup:
    """(1) create and validate a limit order."""
    return lambda n: repeat(node().create_and_validate, n)


def order_lifecycle() -> Setup:
    """(2) apply submitted, accepted and filled to a fresh order."""

    def setup(n: int) -> Runner:
        orders = [node().new_order() for _ in range(n)]
        work = [(order, *order_events(order)) for order in orders]

        def run() -> None:
            for order, submitted, accepted, filled in work:
                order.apply(submitted)
                order.apply(accepted)
                order.apply(filled)

        return run

    return setup


@cache
def _earlier_fills(earlier: int) -> tuple[NT, ...]:
    return tuple(fill_event(spec) for spec in scenario.entry_fills(earlier))


FRESH_POSITION_BELOW = 100
"""Below this many earlier fills every operation gets its own fresh position."""


def position_fill(earlier: int) -> Setup:
    """(3) apply one more entry fill to a position with `earlier` fills.

    NautilusTrader's `Position` is mutable and refuses a trade id twice, so each operation
    applies a new fill. With few earlier fills each operation gets a fresh position; with many,
    one position per sample takes the batch's fills one after another (the batch is capped so
    the position grows by at most 10% within a sample).
    """
    earlier_fills = _earlier_fills(earlier)

    def setup(n: int) -> Runner:
        fills = [fill_event(scenario.NEXT_ENTRY) for _ in range(n)]
        if earlier < FRESH_POSITION_BELOW:
            positions = [position_of(earlier_fills) for _ in range(n)]
        else:
            positions = [position_of(earlier_fills)] * n
        work = list(zip(positions, fills, strict=True))

        def run() -> None:
            for position, fill in work:
                position.apply(fill)

        return run

    return setup


def position_fill_max_batch(earlier: int) -> int:
    """The batch cap keeping a shared position within 10% of `earlier` fills."""
    return 10_000 if earlier < FRESH_POSITION_BELOW else max(1, earlier // 10)


def unrealized_pnl() -> Setup:
    """(4) the unrealized P&L of the scenario's open position at a new price."""
    position = position_of([fill_event(spec) for spec in scenario.ENTRIES])
    price = Price.from_str(f"{scenario.NEW_PRICE:.1f}")

    def setup(n: int) -> Runner:
        calc = position.unrealized_pnl
        return repeat(lambda: calc(price), n)

    return setup


# --------------------------------------------------------------------------- the same numbers
@attrs.frozen(kw_only=True)
class Figures:
    """What the equivalence check compares, as Decimals."""

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


def figures() -> Figures:
    """Run the scenario through NautilusTrader and read back every compared number."""
    created = node().create_and_validate()
    order = node().new_order()
    for event in order_events(order):
        order.apply(event)
    fills = [fill_event(spec) for spec in scenario.ROUND_TRIP]
    position = position_of(fills[: len(scenario.ENTRIES)])
    entry_price = _decimal(position.avg_px_open)
    size = position.quantity.as_decimal()
    unrealized = position.unrealized_pnl(Price.from_str(f"{scenario.NEW_PRICE:.1f}"))
    for fill in fills[len(scenario.ENTRIES) :]:
        position.apply(fill)
    return Figures(
        order_size=created.quantity.as_decimal(),
        order_price=created.price.as_decimal(),
        order_status="filled" if order.status == OrderStatus.FILLED else str(order.status),
        order_filled=order.filled_qty.as_decimal(),
        order_average_price=_decimal(order.avg_px),
        entry_price=entry_price,
        size=size,
        unrealized_at_new_price=unrealized.as_decimal(),
        realized_net=position.realized_pnl.as_decimal(),
        entry_price_after_earlier={
            n: _decimal(position_of(_earlier_fills(n)).avg_px_open) for n in scenario.EARLIER_FILLS
        },
    )


def _decimal(value: float) -> Decimal:
    # NautilusTrader keeps averages as binary doubles; str() gives the shortest round-trip form.
    return Decimal(str(value))
