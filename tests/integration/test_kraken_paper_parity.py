"""Paper and Kraken-local behave alike: one script, SimulatedExchange vs KrakenExchange + server.

Both run the same PaperEngine with the same seed on clocks that read the same time, so the same
calls must give the same reports -- ids, fills, fees, statuses -- and the same balances. What
differs is only the path: Python calls on one side, signed HTTP and Kraken's JSON on the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from adapters.kraken.testing import KrakenTestServer, LocalKraken, local_kraken
from adapters.memory.clock import FakeClock
from adapters.memory.simulated import SimulatedExchange
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.orders import Order
from execution_core.ports import Amendment, Exchange, OrderReport

SEED = 20


class Twin:
    """The same world twice: the paper exchange, and the local Kraken behind HTTP."""

    def __init__(
        self, paper: SimulatedExchange, kraken: LocalKraken, clocks: list[FakeClock]
    ) -> None:
        self.paper = paper
        self.kraken = kraken
        self.clocks = clocks

    @property
    def exchanges(self) -> tuple[Exchange, Exchange]:
        return self.paper, self.kraken.exchange

    def deposit(self, asset: str, amount: str) -> None:
        self.paper.deposit(asset, Decimal(amount))
        self.kraken.server.deposit(asset, Decimal(amount))

    def set_price(self, price: str) -> None:
        self.paper.set_price("BTC/USDT", Decimal(price))
        self.kraken.server.set_price("BTC/USDT", Decimal(price))

    def set_liquidity(self, per_update: str) -> None:
        self.paper.set_liquidity("BTC/USDT", per_update=Decimal(per_update))
        self.kraken.server.engine.set_liquidity(
            "BTC/USDT", per_update=Decimal(per_update), per_order=None
        )

    def advance(self, seconds: float) -> None:
        for clock in self.clocks:
            clock.advance(seconds)

    async def place(self, order: Order) -> Order:
        paper = (await self.paper.place_order(order)).unwrap()
        kraken = (await self.kraken.exchange.place_order(order)).unwrap()
        assert paper == kraken
        return attrs.evolve(order, exchange_order_id=paper.exchange_order_id)


@pytest.fixture
async def twin() -> AsyncIterator[Twin]:
    paper_clock, kraken_clock = FakeClock(), FakeClock()
    paper = SimulatedExchange(clock=paper_clock, seed=SEED)
    server = KrakenTestServer(clock=kraken_clock, seed=SEED)
    async with server, local_kraken(server=server, balances={}, prices={}, start=False) as kraken:
        yield Twin(paper, kraken, [paper_clock, kraken_clock])


def order(n: int, order_type: OrderType, side: OrderSide, size: str, **prices: Any) -> Order:
    made = Order(
        id=f"twin-{n}",
        client_order_id=f"twin-{n}",
        symbol="BTC/USDT",
        side=side,
        order_type=order_type,
        size=Decimal(size),
    )
    return attrs.evolve(made, **prices)


async def reports(twin: Twin, orders: list[Order]) -> tuple[dict[str, OrderReport], ...]:
    ids = [o.exchange_order_id or "" for o in orders]
    paper, kraken = [(await e.order_status(ids)).unwrap() for e in twin.exchanges]
    return dict(paper), dict(kraken)


async def test_one_script_gives_the_same_reports_and_balances_on_paper_and_kraken_local(
    twin: Twin,
) -> None:
    twin.deposit("USDT", "20000")
    twin.deposit("BTC", "1")
    twin.set_price("50000")
    buy, sell = OrderSide.BUY, OrderSide.SELL
    placed = [
        await twin.place(order(1, OrderType.LIMIT, buy, "0.02", price=Decimal(49_000))),
        await twin.place(
            order(2, OrderType.STOP_LOSS, sell, "0.01", trigger_price=Decimal(48_000))
        ),
        await twin.place(
            order(
                3,
                OrderType.TAKE_PROFIT_LIMIT,
                sell,
                "0.01",
                trigger_price=Decimal(52_000),
                price=Decimal(51_900),
            )
        ),
        await twin.place(order(4, OrderType.MARKET, buy, "0.01")),
        await twin.place(order(5, OrderType.MARKET, buy, "0.01", price=Decimal(49_500))),
        await twin.place(
            order(
                6,
                OrderType.LIMIT,
                buy,
                "0.01",
                price=Decimal(45_000),
                time_in_force=TimeInForce.GTD,
                expires_at=twin.clocks[0].now() + timedelta(seconds=30),
            )
        ),
        await twin.place(order(7, OrderType.MARKET, sell, "0.01", fee_currency=FeeCurrency.BASE)),
    ]
    twin.set_liquidity("0.005")
    twin.advance(10)
    twin.set_price("48500")
    for exchange in twin.exchanges:
        assert (
            await exchange.amend_order(placed[0], Amendment(size=Decimal("0.015")))
        ).unwrap() is None
    twin.advance(25)
    twin.set_price("47900")
    twin.advance(5)
    twin.set_price("52100")
    for exchange in twin.exchanges:
        (await exchange.cancel_order(placed[0])).unwrap()

    paper, kraken = await reports(twin, placed)
    assert paper == kraken
    assert {r.status.value for r in paper.values()} >= {"closed", "canceled", "expired"}
    assert any(r.trades for r in paper.values())
    paper_balances, kraken_balances = [(await e.balances()).unwrap() for e in twin.exchanges]
    assert dict(paper_balances) == dict(kraken_balances)
    paper_open, kraken_open = [(await e.open_orders()).unwrap() for e in twin.exchanges]
    assert list(paper_open) == list(kraken_open)
    for placed_order in placed:
        paper_found, kraken_found = [
            (await e.find_order(placed_order.client_order_id)).unwrap() for e in twin.exchanges
        ]
        assert paper_found == kraken_found


async def test_refusals_carry_the_same_kind_and_retry_class_on_both(twin: Twin) -> None:
    twin.deposit("USDT", "100")
    twin.set_price("50000")
    cases = [
        order(10, OrderType.LIMIT, OrderSide.BUY, "0.00001", price=Decimal(49_000)),
        order(11, OrderType.LIMIT, OrderSide.BUY, "0.0001", price=Decimal(1_000)),
        order(12, OrderType.LIMIT, OrderSide.BUY, "1", price=Decimal(49_000)),
        order(13, OrderType.LIMIT, OrderSide.SELL, "0.01", price=Decimal(51_000)),
    ]
    for case in cases:
        paper, kraken = [(await e.place_order(case)).failure() for e in twin.exchanges]
        assert (paper.kind, paper.retry, paper.code) == (kraken.kind, kraken.retry, kraken.code)
