"""The Exchange port's contract: what every adapter of `execution_core.ports.Exchange` must do.

This module holds the adapter-independent checks as the methods of `ExchangeContract`. It is not
a test file itself (pytest collects only `test_*.py`); each adapter runs it by subclassing it in
its own test file and providing a `harness` fixture:

    # tests/integration/test_kraken_exchange_contract.py
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
    from exchange_contract import ExchangeContract, ExchangeHarness  # noqa: E402

    class KrakenHarness:           # satisfies ExchangeHarness
        ...                        # the adapter over HTTP + direct access to the test server

    class TestKrakenExchange(ExchangeContract):
        @pytest.fixture
        async def harness(self) -> AsyncIterator[ExchangeHarness]:
            async with running_test_server() as server:
                yield KrakenHarness(server)

(tests are not a package and pytest runs with `--import-mode=importlib`, so the directory of
this module is put on `sys.path` by hand, as tests/unit/test_benchmark_harness.py does for
benchmarks/.) tests/contract/test_exchange_contract.py runs it against `SimulatedExchange`.

What the contract assumes of the exchange behind the harness (Kraken spot, kraken-api.md):
- it trades BTC/USDT with Kraken's rules (ordermin 0.0001 BTC, costmin 0.5 USDT, tick 0.1, lot
  1e-8) and reports its fee rates in `instruments()`; the account starts empty;
- the harness can fund the account, move the last price, cap the liquidity of a price move
  (to produce partial fills) and let time pass -- the exchange's time and the adapter's;
- a price move fills resting limits crossed by it at their limit (maker) and market orders at
  the last price (taker); stops trigger when the price reaches them;
- `rate_limited` says whether the per-pair trading counter (kraken-api.md §9.2, Starter tier:
  threshold 60, add +1, cancel under 5 s +8) is enforced.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import attrs
import pytest
from returns.result import Failure, Result

from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    TimeInForce,
)
from execution_core.domain.instruments import Instrument
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    Exchange,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    ReportedStatus,
    RetryClass,
)

BTC = "BTC/USDT"
BUY, SELL = OrderSide.BUY, OrderSide.SELL
UNKNOWN_TXID = "OAAAAA-BBBBB-CCCCCC"
"""A well-formed Kraken order id no exchange has issued."""


class ExchangeHarness(Protocol):
    """What the contract needs to drive one adapter and the exchange (or fake) behind it."""

    @property
    def exchange(self) -> Exchange:
        """The adapter under test."""
        ...

    @property
    def rate_limited(self) -> bool:
        """Whether the per-pair trading counter is enforced (Starter tier)."""
        ...

    def now(self) -> datetime:
        """The exchange's current time (for GTD expiries)."""
        ...

    async def fund(self, asset: str, amount: Decimal) -> None:
        """Add `amount` of `asset` (our name: BTC, USDT) to the account."""
        ...

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last price of `symbol` to `price` (a jump), matching what it crosses."""
        ...

    async def set_liquidity(self, symbol: str, per_update: Decimal | None) -> None:
        """Cap the base volume one price move (or an immediate execution) fills; None = no cap."""
        ...

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass, for the exchange and the adapter alike."""
        ...


_ids = itertools.count(1)


def new_order(
    *,
    side: OrderSide = BUY,
    order_type: OrderType = OrderType.LIMIT,
    size: str = "0.01",
    price: str | None = None,
    trigger_price: str | None = None,
    time_in_force: TimeInForce = TimeInForce.GTC,
    expires_at: datetime | None = None,
    fee_currency: FeeCurrency = FeeCurrency.QUOTE,
    symbol: str = BTC,
    client_order_id: str | None = None,
) -> Order:
    """An order as the manager sends it: a fresh client id (<= 18 characters), no exchange id."""
    number = next(_ids)
    return Order(
        id=f"order-{number}",
        client_order_id=client_order_id or f"contract-{number}",
        symbol=symbol,
        side=side,
        order_type=order_type,
        size=Decimal(size),
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger_price is None else Decimal(trigger_price),
        time_in_force=time_in_force,
        expires_at=expires_at,
        fee_currency=fee_currency,
    )


async def place(harness: ExchangeHarness, order: Order) -> Order:
    """Place `order`; the same order with the exchange's id."""
    placement = (await harness.exchange.place_order(order)).unwrap()
    assert placement.client_order_id == order.client_order_id
    assert placement.exchange_order_id
    return attrs.evolve(order, exchange_order_id=placement.exchange_order_id)


async def report_of(harness: ExchangeHarness, order: Order) -> OrderReport:
    """The exchange's current report of a placed order, by its exchange id."""
    assert order.exchange_order_id is not None
    reports = (await harness.exchange.order_status([order.exchange_order_id])).unwrap()
    return reports[order.exchange_order_id]


async def btc_instrument(harness: ExchangeHarness) -> Instrument:
    """BTC/USDT as the exchange reports it (rules and fee rates in force)."""
    instruments = (await harness.exchange.instruments()).unwrap()
    return next(i for i in instruments if i.symbol == BTC)


def refusal(result: Result[object, ExchangeFailure]) -> ExchangeFailure:
    """The failure of a result that must have failed."""
    assert isinstance(result, Failure), f"expected a refusal, got {result}"
    failure = result.failure()
    assert isinstance(failure, ExchangeFailure)
    return failure


def balance_totals(balances: Mapping[str, object]) -> dict[str, Decimal]:
    """{asset: total} of a balances answer."""
    totals: dict[str, Decimal] = {}
    for asset, balance in balances.items():
        total = getattr(balance, "total", None)
        assert isinstance(total, Decimal)
        totals[asset] = total
    return totals


class ExchangeContract:
    """Every behaviour of the Exchange port; subclass it and provide a `harness` fixture."""

    # ------------------------------------------------------------------ placing and finding
    async def test_a_placement_answers_with_the_exchange_id_and_our_client_id(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = new_order(price="49000")

        placement = (await harness.exchange.place_order(order)).unwrap()

        assert placement.client_order_id == order.client_order_id
        assert placement.exchange_order_id

    async def test_a_placed_order_is_found_by_its_client_id_while_it_is_open(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000", size="0.02"))

        found = (await harness.exchange.find_order(order.client_order_id)).unwrap()

        assert found is not None
        assert found.exchange_order_id == order.exchange_order_id
        assert found.client_order_id == order.client_order_id
        assert (found.status, found.symbol, found.side) == (ReportedStatus.OPEN, BTC, BUY)
        assert (found.size, found.filled_size, found.limit_price) == (
            Decimal("0.02"),
            Decimal(0),
            Decimal(49_000),
        )

    async def test_a_filled_order_is_found_by_its_client_id_among_closed_orders(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))
        await harness.set_price(BTC, Decimal(48_900))

        found = (await harness.exchange.find_order(order.client_order_id)).unwrap()

        assert found is not None
        assert found.exchange_order_id == order.exchange_order_id
        assert found.status is ReportedStatus.CLOSED
        assert found.filled_size == Decimal("0.01")
        assert found.average_price == Decimal(49_000)

    async def test_a_canceled_order_is_found_by_its_client_id_among_closed_orders(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))
        (await harness.exchange.cancel_order(order)).unwrap()

        found = (await harness.exchange.find_order(order.client_order_id)).unwrap()

        assert found is not None
        assert found.exchange_order_id == order.exchange_order_id
        assert found.status is ReportedStatus.CANCELED
        assert found.filled_size == Decimal(0)

    async def test_an_unknown_client_id_is_found_as_none(self, harness: ExchangeHarness) -> None:
        assert (await harness.exchange.find_order("never-sent-1")).unwrap() is None

    async def test_a_second_open_order_with_the_same_client_id_is_refused_for_good(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        first = await place(harness, new_order(price="49000"))

        again = new_order(price="48000", client_order_id=first.client_order_id)
        failure = refusal(await harness.exchange.place_order(again))

        assert failure.retry is RetryClass.NEVER
        open_orders = (await harness.exchange.open_orders()).unwrap()
        assert [o.exchange_order_id for o in open_orders] == [first.exchange_order_id]

    async def test_open_orders_lists_resting_orders_and_untriggered_stops_but_not_closed_ones(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        resting = await place(harness, new_order(price="49000"))
        stop = await place(
            harness, new_order(side=SELL, order_type=OrderType.STOP_LOSS, trigger_price="45000")
        )
        filled = await place(harness, new_order(order_type=OrderType.MARKET))

        listed = (await harness.exchange.open_orders()).unwrap()

        ids = {report.exchange_order_id for report in listed}
        assert ids == {resting.exchange_order_id, stop.exchange_order_id}
        assert filled.exchange_order_id not in ids
        assert all(report.status is ReportedStatus.OPEN for report in listed)

    # ------------------------------------------------------------------ status
    async def test_order_status_reports_every_order_asked_for_in_one_call(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(100_000))
        await harness.set_price(BTC, Decimal(50_000))
        orders = [
            await place(harness, new_order(price=f"{40_000 + 10 * i}", size="0.001"))
            for i in range(30)
        ]
        ids = [o.exchange_order_id for o in orders if o.exchange_order_id is not None]

        reports = (await harness.exchange.order_status(ids)).unwrap()

        assert sorted(reports) == sorted(ids)
        for order in orders:
            report = reports[order.exchange_order_id or ""]
            assert report.client_order_id == order.client_order_id
            assert report.limit_price == order.price
            assert report.status is ReportedStatus.OPEN

    async def test_order_status_leaves_out_an_id_the_exchange_does_not_know(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))
        assert order.exchange_order_id is not None

        reports = (
            await harness.exchange.order_status([order.exchange_order_id, UNKNOWN_TXID])
        ).unwrap()

        assert list(reports) == [order.exchange_order_id]

    async def test_a_partial_fill_is_reported_with_the_filled_size_and_average_price(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        await harness.set_liquidity(BTC, Decimal("0.004"))
        order = await place(harness, new_order(price="49000"))
        maker = (await btc_instrument(harness)).maker_fee

        await harness.set_price(BTC, Decimal(48_900))
        report = await report_of(harness, order)

        assert report.status is ReportedStatus.OPEN
        assert report.filled_size == Decimal("0.004") < report.size
        assert report.average_price == Decimal(49_000)
        assert report.fee == Decimal("0.004") * Decimal(49_000) * maker
        if report.trades:
            assert sum(t.quantity for t in report.trades) == report.filled_size
            assert {t.liquidity for t in report.trades} == {LiquidityRole.MAKER}

        await harness.set_price(BTC, Decimal(48_800))
        await harness.set_price(BTC, Decimal(48_700))
        final = await report_of(harness, order)
        assert (final.status, final.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))

    async def test_an_ioc_remainder_is_canceled_with_the_filled_part_reported(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        await harness.set_liquidity(BTC, Decimal("0.004"))
        order = await place(
            harness, new_order(price="50100", time_in_force=TimeInForce.IOC, size="0.01")
        )

        report = await report_of(harness, order)

        assert report.status is ReportedStatus.CANCELED
        assert report.filled_size == Decimal("0.004")
        assert report.average_price == Decimal(50_000)

    # ------------------------------------------------------------------ order types
    async def test_a_market_buy_fills_at_the_last_price_as_a_taker(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        taker = (await btc_instrument(harness)).taker_fee

        order = await place(harness, new_order(order_type=OrderType.MARKET))
        report = await report_of(harness, order)

        assert (report.status, report.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
        assert report.average_price == Decimal(50_000)
        assert report.fee == Decimal(500) * taker
        assert report.fee_currency is FeeCurrency.QUOTE
        if report.trades:
            assert {t.liquidity for t in report.trades} == {LiquidityRole.TAKER}

    async def test_a_protected_market_buy_fills_below_its_cap(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))

        order = await place(harness, new_order(order_type=OrderType.MARKET, price="50250"))
        report = await report_of(harness, order)

        assert (report.status, report.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
        assert report.average_price == Decimal(50_000)

    async def test_a_protected_market_buy_never_pays_more_than_its_cap_and_never_rests(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))

        order = await place(harness, new_order(order_type=OrderType.MARKET, price="49750"))
        report = await report_of(harness, order)

        assert report.status is ReportedStatus.CANCELED
        assert report.filled_size == Decimal(0)
        assert (await harness.exchange.open_orders()).unwrap() == []

    async def test_a_stop_loss_rests_untriggered_and_sells_when_the_price_falls_to_it(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        stop = await place(
            harness, new_order(side=SELL, order_type=OrderType.STOP_LOSS, trigger_price="48000")
        )

        untriggered = await report_of(harness, stop)
        await harness.set_price(BTC, Decimal(48_100))
        still = await report_of(harness, stop)
        await harness.set_price(BTC, Decimal(47_900))
        fired = await report_of(harness, stop)

        assert (untriggered.status, untriggered.filled_size) == (ReportedStatus.OPEN, Decimal(0))
        assert untriggered.trigger_price == Decimal(48_000)
        assert (still.status, still.filled_size) == (ReportedStatus.OPEN, Decimal(0))
        assert (fired.status, fired.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
        assert fired.average_price is not None
        assert fired.average_price <= Decimal(48_000)

    async def test_a_take_profit_sells_when_the_price_rises_to_it(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        take = await place(
            harness, new_order(side=SELL, order_type=OrderType.TAKE_PROFIT, trigger_price="52000")
        )

        await harness.set_price(BTC, Decimal(51_900))
        before = await report_of(harness, take)
        await harness.set_price(BTC, Decimal(52_100))
        after = await report_of(harness, take)

        assert (before.status, before.filled_size) == (ReportedStatus.OPEN, Decimal(0))
        assert (after.status, after.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
        assert after.average_price is not None
        assert after.average_price >= Decimal(52_000)

    async def test_a_stop_loss_limit_becomes_a_limit_at_its_limit_price_once_triggered(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        stop = await place(
            harness,
            new_order(
                side=SELL,
                order_type=OrderType.STOP_LOSS_LIMIT,
                trigger_price="48000",
                price="47900",
            ),
        )

        placed = await report_of(harness, stop)
        await harness.set_price(BTC, Decimal(47_950))
        fired = await report_of(harness, stop)

        assert (placed.trigger_price, placed.limit_price) == (Decimal(48_000), Decimal(47_900))
        assert (fired.status, fired.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
        assert fired.average_price is not None
        assert fired.average_price >= Decimal(47_900)

    async def test_a_gtd_order_expires_at_its_expiry_time(self, harness: ExchangeHarness) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        expires = harness.now() + timedelta(seconds=60)
        order = await place(
            harness, new_order(price="49000", time_in_force=TimeInForce.GTD, expires_at=expires)
        )

        await harness.advance(30)
        before = await report_of(harness, order)
        await harness.advance(31)
        after = await report_of(harness, order)

        assert before.status is ReportedStatus.OPEN
        assert (after.status, after.filled_size) == (ReportedStatus.EXPIRED, Decimal(0))

    async def test_a_fee_in_base_is_reported_in_base_and_taken_from_the_base_bought(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        taker = (await btc_instrument(harness)).taker_fee

        order = await place(
            harness, new_order(order_type=OrderType.MARKET, fee_currency=FeeCurrency.BASE)
        )
        report = await report_of(harness, order)
        totals = balance_totals((await harness.exchange.balances()).unwrap())

        assert report.fee_currency is FeeCurrency.BASE
        assert report.fee == Decimal("0.01") * taker
        assert totals["BTC"] == Decimal("0.01") - report.fee
        assert totals["USDT"] == Decimal(10_000) - Decimal(500)

    # ------------------------------------------------------------------ amend and cancel
    async def test_an_amend_changes_size_and_price_in_place_and_keeps_both_ids(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="45000", size="0.02"))

        amendment = Amendment(size=Decimal("0.01"), price=Decimal(46_000))
        (await harness.exchange.amend_order(order, amendment)).unwrap()
        report = await report_of(harness, order)

        assert report.exchange_order_id == order.exchange_order_id
        assert report.client_order_id == order.client_order_id
        assert (report.status, report.size, report.limit_price) == (
            ReportedStatus.OPEN,
            Decimal("0.01"),
            Decimal(46_000),
        )

    async def test_an_amend_moves_the_trigger_of_an_untriggered_stop(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        stop = await place(
            harness, new_order(side=SELL, order_type=OrderType.STOP_LOSS, trigger_price="48000")
        )

        (
            await harness.exchange.amend_order(stop, Amendment(trigger_price=Decimal(48_500)))
        ).unwrap()
        report = await report_of(harness, stop)

        assert report.exchange_order_id == stop.exchange_order_id
        assert report.trigger_price == Decimal(48_500)

    async def test_an_amend_of_an_order_already_gone_is_an_unknown_order(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))
        (await harness.exchange.cancel_order(order)).unwrap()

        failure = refusal(
            await harness.exchange.amend_order(order, Amendment(price=Decimal(48_000)))
        )

        assert (failure.kind, failure.retry) == (FailureKind.UNKNOWN_ORDER, RetryClass.NEVER)

    async def test_a_cancel_of_an_order_already_gone_is_an_unknown_order(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))
        (await harness.exchange.cancel_order(order)).unwrap()

        failure = refusal(await harness.exchange.cancel_order(order))

        assert (failure.kind, failure.retry) == (FailureKind.UNKNOWN_ORDER, RetryClass.NEVER)

    async def test_a_cancel_of_a_filled_order_is_an_unknown_order(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(order_type=OrderType.MARKET))

        failure = refusal(await harness.exchange.cancel_order(order))

        assert (failure.kind, failure.retry) == (FailureKind.UNKNOWN_ORDER, RetryClass.NEVER)

    async def test_an_order_whose_placement_answer_we_lack_is_canceled_by_its_client_id(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = new_order(price="49000")
        (await harness.exchange.place_order(order)).unwrap()

        (await harness.exchange.cancel_order(order)).unwrap()  # no exchange id on `order`
        found = (await harness.exchange.find_order(order.client_order_id)).unwrap()

        assert found is not None
        assert found.status is ReportedStatus.CANCELED

    async def test_cancel_all_cancels_every_open_order_and_counts_them(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.fund("BTC", Decimal(1))
        await harness.set_price(BTC, Decimal(50_000))
        orders = [
            await place(harness, new_order(price="49000")),
            await place(harness, new_order(side=SELL, price="51000")),
            await place(
                harness,
                new_order(side=SELL, order_type=OrderType.STOP_LOSS, trigger_price="45000"),
            ),
        ]

        count = (await harness.exchange.cancel_all()).unwrap()
        reports = [await report_of(harness, order) for order in orders]
        again = (await harness.exchange.cancel_all()).unwrap()

        assert count == 3
        assert {r.status for r in reports} == {ReportedStatus.CANCELED}
        assert again == 0

    async def test_cancel_all_after_cancels_everything_when_not_renewed_in_time(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))

        (await harness.exchange.cancel_all_after(60)).unwrap()
        await harness.advance(45)
        (await harness.exchange.cancel_all_after(60)).unwrap()  # renewed: 60 s from here
        await harness.advance(45)
        renewed = await report_of(harness, order)
        await harness.advance(20)
        fired = await report_of(harness, order)

        assert renewed.status is ReportedStatus.OPEN
        assert fired.status is ReportedStatus.CANCELED
        assert (await harness.exchange.open_orders()).unwrap() == []

    async def test_cancel_all_after_zero_disarms_the_switch(self, harness: ExchangeHarness) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))

        (await harness.exchange.cancel_all_after(60)).unwrap()
        (await harness.exchange.cancel_all_after(0)).unwrap()
        await harness.advance(120)

        assert (await report_of(harness, order)).status is ReportedStatus.OPEN

    # ------------------------------------------------------------------ balances
    async def test_balances_move_by_the_fill_and_its_fee(self, harness: ExchangeHarness) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        taker = (await btc_instrument(harness)).taker_fee
        before = balance_totals((await harness.exchange.balances()).unwrap())

        order = await place(harness, new_order(order_type=OrderType.MARKET))
        report = await report_of(harness, order)
        after = balance_totals((await harness.exchange.balances()).unwrap())

        assert before["USDT"] == Decimal(10_000)
        assert report.fee == Decimal(500) * taker
        assert after["USDT"] == Decimal(10_000) - Decimal(500) - report.fee
        assert after["BTC"] == Decimal("0.01")

    async def test_a_sell_pays_its_quote_fee_out_of_the_proceeds(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("BTC", Decimal("0.05"))
        await harness.set_price(BTC, Decimal(50_000))

        order = await place(harness, new_order(side=SELL, order_type=OrderType.MARKET))
        report = await report_of(harness, order)
        after = balance_totals((await harness.exchange.balances()).unwrap())

        assert after["BTC"] == Decimal("0.04")
        assert after["USDT"] == Decimal(500) - report.fee
        assert report.fee > 0

    async def test_an_open_order_holds_funds_it_may_spend_until_it_is_canceled(
        self, harness: ExchangeHarness
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = await place(harness, new_order(price="49000"))

        held = (await harness.exchange.balances()).unwrap()["USDT"]
        (await harness.exchange.cancel_order(order)).unwrap()
        released = (await harness.exchange.balances()).unwrap()["USDT"]

        assert held.total == Decimal(10_000)
        assert held.available <= Decimal(10_000) - Decimal(490)
        assert released.available == released.total == Decimal(10_000)

    # ------------------------------------------------------------------ rules and prices
    async def test_instruments_report_the_pair_rules_and_fee_rates(
        self, harness: ExchangeHarness
    ) -> None:
        instrument = await btc_instrument(harness)

        assert (instrument.base, instrument.quote) == ("BTC", "USDT")
        assert instrument.min_size == Decimal("0.0001")
        assert instrument.min_cost == Decimal("0.5")
        assert instrument.tick_size == Decimal("0.1")
        assert 0 <= instrument.maker_fee <= instrument.taker_fee < 1

    async def test_the_reference_price_is_the_last_price(self, harness: ExchangeHarness) -> None:
        await harness.set_price(BTC, Decimal(50_000))
        await harness.set_price(BTC, Decimal("50123.4"))

        assert (await harness.exchange.reference_price(BTC)).unwrap() == Decimal("50123.4")

    async def test_the_reference_price_of_an_unknown_pair_is_refused_for_good(
        self, harness: ExchangeHarness
    ) -> None:
        failure = refusal(await harness.exchange.reference_price("DOGE/USDT"))

        assert (failure.kind, failure.retry) == (FailureKind.UNKNOWN_PAIR, RetryClass.NEVER)

    # ------------------------------------------------------------------ refusals
    @pytest.mark.parametrize(
        ("fields", "kinds"),
        [
            pytest.param(
                {"size": "0.00005", "price": "49000"},
                {FailureKind.ORDER_MINIMUM},
                id="order minimum",
            ),
            pytest.param(
                {"size": "0.0001", "price": "1000"},
                {FailureKind.COST_MINIMUM},
                id="cost minimum",
            ),
            pytest.param(
                {"price": "49000.05"},
                # Kraken answers INVALID_PRICE (too many decimals) or TICK_SIZE; an adapter that
                # refuses such a price before sending it says INVALID_ARGUMENTS.
                {FailureKind.INVALID_PRICE, FailureKind.TICK_SIZE, FailureKind.INVALID_ARGUMENTS},
                id="price off the tick",
            ),
            pytest.param(
                {"size": "1", "price": "49000"},
                {FailureKind.INSUFFICIENT_FUNDS},
                id="insufficient funds",
            ),
            pytest.param(
                {"symbol": "DOGE/USDT", "size": "100", "price": "0.1"},
                {FailureKind.UNKNOWN_PAIR},
                id="unknown pair",
            ),
        ],
    )
    async def test_a_refused_order_carries_kind_and_retry_class_and_is_not_placed(
        self,
        harness: ExchangeHarness,
        fields: dict[str, str],
        kinds: set[FailureKind],
    ) -> None:
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))
        order = new_order(**fields)  # type: ignore[arg-type]  # test table: fields by name

        failure = refusal(await harness.exchange.place_order(order))

        assert failure.kind in kinds
        assert failure.retry is RetryClass.NEVER
        assert (await harness.exchange.find_order(order.client_order_id)).unwrap() is None

    async def test_too_many_orders_too_fast_on_one_pair_are_refused_until_the_counter_decays(
        self, harness: ExchangeHarness
    ) -> None:
        if not harness.rate_limited:
            pytest.skip("this exchange does not enforce the per-pair trading counter")
        await harness.fund("USDT", Decimal(10_000))
        await harness.set_price(BTC, Decimal(50_000))

        failure: ExchangeFailure | None = None
        for _ in range(20):  # add +1, cancel under 5 s +8: over 60 within 8 rounds
            result = await harness.exchange.place_order(new_order(price="49000"))
            if isinstance(result, Failure):
                failure = result.failure()
                break
            placement = result.unwrap()
            cancel = new_order(price="49000", client_order_id=placement.client_order_id)
            placed = attrs.evolve(cancel, exchange_order_id=placement.exchange_order_id)
            (await harness.exchange.cancel_order(placed)).unwrap()

        assert failure is not None, "20 add/cancel rounds in no time were all accepted"
        assert (failure.kind, failure.retry) == (FailureKind.ORDER_RATE_LIMIT, RetryClass.WAIT)
        await harness.advance(120)
        later = (await harness.exchange.place_order(new_order(price="49000"))).unwrap()
        assert later.exchange_order_id
