"""SimulatedExchange fault injection: broken calls, distorted reports, seeded randomness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import attrs
import pytest
from returns.result import Failure, Result, Success

from adapters.kraken.errors import http_failure
from adapters.memory.clock import FakeClock
from adapters.memory.faults import (
    API_RATE_LIMIT,
    HTTP_502_AFTER,
    HTTP_502_BEFORE,
    LOST_RESPONSE,
    ORDER_RATE_LIMIT,
    SERVICE_UNAVAILABLE,
    TIMEOUT,
    WRITES,
    ExchangeMethod,
    Fault,
    Faults,
    http_error,
    kraken_error,
    lost_response,
    timeout,
)
from adapters.memory.simulated import SimulatedExchange
from execution_core.domain.enums import LiquidityRole, OrderSide, OrderType
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    ExchangeFailure,
    FailureKind,
    OrderReport,
    ReportedStatus,
    RetryClass,
)

BTC = "BTC/USDT"
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def make(client_order_id: str = "cl-1", **fields: object) -> Order:
    defaults: dict[str, object] = {
        "id": f"id-{client_order_id}",
        "client_order_id": client_order_id,
        "symbol": BTC,
        "side": BUY,
        "order_type": OrderType.LIMIT,
        "size": Decimal("0.01"),
        "price": Decimal(49_000),
    }
    defaults.update(fields)
    return Order(**defaults)  # type: ignore[arg-type]  # test helper: fields by name


def market_buy(client_order_id: str = "cl-1") -> Order:
    return make(client_order_id, order_type=OrderType.MARKET, price=None)


def exchange(seed: int = 3) -> SimulatedExchange:
    simulated = SimulatedExchange(clock=FakeClock(), seed=seed)
    simulated.deposit("USDT", 100_000)
    simulated.deposit("BTC", 2)
    simulated.set_price(BTC, 50_000)
    return simulated


async def placed(simulated: SimulatedExchange, order: Order) -> Order:
    placement = (await simulated.place_order(order)).unwrap()
    return attrs.evolve(order, exchange_order_id=placement.exchange_order_id)


async def status(simulated: SimulatedExchange, order: Order) -> OrderReport:
    txid = order.exchange_order_id or ""
    return (await simulated.order_status([txid])).unwrap()[txid]


def failure_of(result: object) -> ExchangeFailure:
    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, ExchangeFailure)
    return failure


# --------------------------------------------------------------------------- placement faults
async def test_accept_then_timeout_places_the_order_and_answers_outcome_unknown() -> None:
    simulated = exchange()
    simulated.faults.next_place(TIMEOUT)

    failure = failure_of(await simulated.place_order(make()))
    found = (await simulated.find_order("cl-1")).unwrap()

    assert (failure.kind, failure.retry) == (FailureKind.TRANSPORT, RetryClass.OUTCOME_UNKNOWN)
    assert found is not None
    assert found.status is ReportedStatus.OPEN


async def test_a_5xx_before_acceptance_places_nothing_but_still_answers_outcome_unknown() -> None:
    simulated = exchange()
    simulated.faults.next_place(HTTP_502_BEFORE)

    failure = failure_of(await simulated.place_order(make()))

    assert failure.outcome_unknown
    assert failure.code == "HTTP 502"
    assert (await simulated.find_order("cl-1")).unwrap() is None
    assert simulated.engine.open_order_count() == 0


async def test_a_5xx_after_acceptance_places_the_order_and_answers_outcome_unknown() -> None:
    simulated = exchange()
    simulated.faults.next_place(HTTP_502_AFTER)

    failure = failure_of(await simulated.place_order(market_buy()))
    found = (await simulated.find_order("cl-1")).unwrap()

    assert failure.outcome_unknown
    assert found is not None
    assert (found.status, found.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))


async def test_an_http_fault_is_the_failure_the_kraken_adapter_builds_for_that_status() -> None:
    simulated = exchange()
    simulated.faults.next_place(http_error(520, executes=False))

    failure = failure_of(await simulated.place_order(make()))

    assert failure == http_failure(520, reason="Web server is returning an unknown error")


async def test_service_unavailable_is_not_executed_and_asks_for_reconciliation() -> None:
    simulated = exchange()
    simulated.faults.next_place(SERVICE_UNAVAILABLE)

    failure = failure_of(await simulated.place_order(make()))

    assert (failure.code, failure.kind, failure.retry) == (
        "EService:Unavailable",
        FailureKind.UNAVAILABLE,
        RetryClass.OUTCOME_UNKNOWN,
    )
    assert (await simulated.find_order("cl-1")).unwrap() is None


@pytest.mark.parametrize(
    ("fault", "kind"),
    [(API_RATE_LIMIT, FailureKind.RATE_LIMIT), (ORDER_RATE_LIMIT, FailureKind.ORDER_RATE_LIMIT)],
    ids=["REST counter", "per-pair counter"],
)
async def test_a_rate_limit_fault_says_wait_and_places_nothing(
    fault: Fault, kind: FailureKind
) -> None:
    simulated = exchange()
    simulated.faults.next_place(fault)

    failure = failure_of(await simulated.place_order(make()))

    assert (failure.kind, failure.retry) == (kind, RetryClass.WAIT)
    assert (await simulated.find_order("cl-1")).unwrap() is None


async def test_any_kraken_error_string_can_be_injected_and_is_classified_by_the_catalogue() -> None:
    simulated = exchange()
    simulated.faults.next_place(kraken_error("EService:Throttled: 1767614400"))

    failure = failure_of(await simulated.place_order(make()))

    assert (failure.kind, failure.retry) == (FailureKind.RATE_LIMIT, RetryClass.WAIT)


# --------------------------------------------------------------------------- other calls
async def test_a_lost_status_answer_changes_nothing_and_the_next_poll_answers() -> None:
    simulated = exchange()
    order = await placed(simulated, make())
    simulated.faults.next_status(LOST_RESPONSE)

    lost = failure_of(await simulated.order_status([order.exchange_order_id or ""]))
    answered = await status(simulated, order)

    assert lost.retry is RetryClass.OUTCOME_UNKNOWN
    assert answered.status is ReportedStatus.OPEN
    assert simulated.calls["order_status"] == 2


async def test_a_lost_cancel_answer_still_cancels_the_order() -> None:
    simulated = exchange()
    order = await placed(simulated, make())
    simulated.faults.next_cancel(lost_response())

    failure = failure_of(await simulated.cancel_order(order))

    assert failure.outcome_unknown
    assert (await status(simulated, order)).status is ReportedStatus.CANCELED


async def test_a_cancel_timing_out_before_it_arrives_leaves_the_order_open() -> None:
    simulated = exchange()
    order = await placed(simulated, make())
    simulated.faults.next_cancel(timeout(executes=False))

    failure = failure_of(await simulated.cancel_order(order))

    assert failure.outcome_unknown
    assert (await status(simulated, order)).status is ReportedStatus.OPEN


@pytest.mark.parametrize("method", list(ExchangeMethod), ids=str)
async def test_every_method_can_lose_its_answer(method: ExchangeMethod) -> None:
    simulated = exchange()
    order = await placed(simulated, make("cl-0"))
    simulated.faults.next_call(method, LOST_RESPONSE)
    calls: dict[ExchangeMethod, Callable[[], Awaitable[Result[object, ExchangeFailure]]]] = {
        ExchangeMethod.PLACE_ORDER: lambda: simulated.place_order(make("cl-2")),
        ExchangeMethod.AMEND_ORDER: lambda: simulated.amend_order(order, _amendment()),
        ExchangeMethod.CANCEL_ORDER: lambda: simulated.cancel_order(order),
        ExchangeMethod.CANCEL_ALL: simulated.cancel_all,
        ExchangeMethod.CANCEL_ALL_AFTER: lambda: simulated.cancel_all_after(60),
        ExchangeMethod.ORDER_STATUS: lambda: simulated.order_status(["x"]),
        ExchangeMethod.FIND_ORDER: lambda: simulated.find_order("cl-0"),
        ExchangeMethod.OPEN_ORDERS: simulated.open_orders,
        ExchangeMethod.BALANCES: simulated.balances,
        ExchangeMethod.INSTRUMENTS: simulated.instruments,
        ExchangeMethod.REFERENCE_PRICE: lambda: simulated.reference_price(BTC),
    }

    result = await calls[method]()

    assert failure_of(result).retry is RetryClass.OUTCOME_UNKNOWN
    assert simulated.calls[method.value] == 1 + (method is ExchangeMethod.PLACE_ORDER)


def _amendment() -> Amendment:
    return Amendment(price=Decimal(48_000))


# --------------------------------------------------------------------------- scripting
async def test_a_fault_queued_for_two_calls_breaks_exactly_two() -> None:
    simulated = exchange()
    simulated.faults.next_call("balances", SERVICE_UNAVAILABLE, times=2)

    results = [await simulated.balances() for _ in range(3)]

    assert [isinstance(r, Failure) for r in results] == [True, True, False]


async def test_a_fault_scheduled_at_the_third_call_leaves_the_others_alone() -> None:
    simulated = exchange()
    simulated.faults.at_call(ExchangeMethod.REFERENCE_PRICE, 3, HTTP_502_BEFORE)

    results = [await simulated.reference_price(BTC) for _ in range(4)]

    assert [isinstance(r, Failure) for r in results] == [False, False, True, False]
    assert [record.call for record in simulated.faults.log] == [3]


async def test_faults_of_one_method_do_not_touch_another() -> None:
    simulated = exchange()
    simulated.faults.next_place(TIMEOUT)

    assert isinstance(await simulated.balances(), Success)
    assert isinstance(await simulated.place_order(make()), Failure)


def test_an_unknown_method_name_is_a_test_bug_not_a_silent_no_op() -> None:
    with pytest.raises(ValueError, match="place_ordr"):
        Faults().next_call("place_ordr", TIMEOUT)


def test_fault_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="5xx"):
        http_error(404, executes=False)
    with pytest.raises(ValueError, match="probability"):
        Faults().randomly(TIMEOUT, probability=1.5)
    with pytest.raises(ValueError, match="fraction"):
        Faults().race_next_cancel(fraction=Decimal(1))


async def test_clear_removes_every_armed_fault() -> None:
    simulated = exchange()
    simulated.faults.next_place(TIMEOUT)
    simulated.faults.randomly(SERVICE_UNAVAILABLE, probability=1.0)
    simulated.faults.delay_fills(polls=3)
    simulated.faults.duplicate_fills()
    simulated.faults.race_next_cancel()

    simulated.faults.clear()
    order = await placed(simulated, market_buy())
    report = await status(simulated, order)

    assert (report.filled_size, len(report.trades)) == (Decimal("0.01"), 1)
    assert simulated.faults.log == []


# --------------------------------------------------------------------------- randomness
async def _random_run(seed: int) -> list[str]:
    simulated = SimulatedExchange(clock=FakeClock(), seed=1, faults=Faults(seed))
    simulated.faults.randomly(TIMEOUT, probability=0.3, methods=WRITES)
    simulated.faults.randomly(SERVICE_UNAVAILABLE, probability=0.2)
    simulated.deposit("USDT", 100_000)
    simulated.set_price(BTC, 50_000)
    for i in range(30):
        await simulated.place_order(make(f"r-{i}", price=Decimal(40_000 + i)))
        await simulated.balances()
    return [f"{r.method}#{r.call}: {r.what}" for r in simulated.faults.log]


async def test_random_faults_replay_exactly_from_their_seed() -> None:
    first, again, other = await _random_run(21), await _random_run(21), await _random_run(22)

    assert first == again
    assert first != other
    assert any("place_order" in line for line in first)
    assert any("balances" in line for line in first)


async def test_a_random_fault_hits_only_the_methods_it_names() -> None:
    simulated = exchange()
    simulated.faults.randomly(TIMEOUT, probability=1.0, methods=["place_order"])

    assert isinstance(await simulated.balances(), Success)
    assert isinstance(await simulated.place_order(make()), Failure)


# --------------------------------------------------------------------------- report faults
async def test_a_duplicated_fill_is_listed_twice_in_one_report_and_the_totals_stay_true() -> None:
    simulated = exchange()
    order = await placed(simulated, market_buy())
    simulated.faults.duplicate_fills()

    doubled = await status(simulated, order)
    next_report = await status(simulated, order)

    assert [t.trade_id for t in doubled.trades] == [doubled.trades[0].trade_id] * 2
    assert doubled.filled_size == Decimal("0.01")
    assert len(next_report.trades) == 1


async def test_a_delayed_fill_stays_out_of_the_next_reports_then_shows() -> None:
    simulated = exchange()
    simulated.faults.delay_fills(polls=2)
    order = await placed(simulated, market_buy())

    first = await status(simulated, order)
    found = (await simulated.find_order(order.client_order_id)).unwrap()
    third = await status(simulated, order)

    assert (first.status, first.filled_size, first.trades) == (ReportedStatus.OPEN, Decimal(0), ())
    assert found is not None
    assert (found.status, found.filled_size, found.fee) == (
        ReportedStatus.OPEN,
        Decimal(0),
        Decimal(0),
    )
    assert (third.status, third.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
    assert len(third.trades) == 1


async def test_an_order_whose_closing_fill_is_delayed_is_still_listed_as_open() -> None:
    simulated = exchange()
    simulated.faults.delay_fills(polls=1)
    order = await placed(simulated, market_buy())

    listed = (await simulated.open_orders()).unwrap()
    later = (await simulated.open_orders()).unwrap()

    assert [r.exchange_order_id for r in listed] == [order.exchange_order_id]
    assert later == []


async def test_a_delayed_fill_already_moved_the_balances() -> None:
    simulated = exchange()
    simulated.faults.delay_fills(polls=5)
    await placed(simulated, market_buy())

    balances = (await simulated.balances()).unwrap()

    assert balances["BTC"].total == Decimal("2.01")


async def test_only_the_delayed_fill_of_a_partially_filled_order_is_hidden() -> None:
    simulated = exchange()
    simulated.set_liquidity(BTC, per_update="0.004")
    order = await placed(simulated, make())
    simulated.set_price(BTC, 48_900)
    simulated.faults.delay_fills(polls=1)
    simulated.set_price(BTC, 48_800)

    lagging = await status(simulated, order)
    current = await status(simulated, order)

    assert (lagging.filled_size, len(lagging.trades)) == (Decimal("0.004"), 1)
    assert lagging.filled_cost == Decimal(196)
    assert (current.filled_size, len(current.trades)) == (Decimal("0.008"), 2)


async def test_a_fill_racing_a_cancel_lands_first_and_the_order_ends_canceled_part_filled() -> None:
    simulated = exchange()
    order = await placed(simulated, make(size=Decimal("0.01")))
    simulated.faults.race_next_cancel(fraction=Decimal("0.5"))

    cancel = await simulated.cancel_order(order)
    report = await status(simulated, order)
    balances = (await simulated.balances()).unwrap()

    assert isinstance(cancel, Success)
    assert (report.status, report.filled_size) == (ReportedStatus.CANCELED, Decimal("0.005"))
    assert report.average_price == Decimal(49_000)
    assert [t.liquidity for t in report.trades] == [LiquidityRole.MAKER]
    assert balances["BTC"].total == Decimal("2.005")
    assert balances["USDT"].available == balances["USDT"].total


async def test_a_race_with_one_lot_left_cannot_fill_part_of_it_and_only_cancels() -> None:
    simulated = exchange()
    simulated.set_liquidity(BTC, per_update="0.00999999")
    order = await placed(simulated, make(size=Decimal("0.01")))
    simulated.set_price(BTC, 48_900)
    simulated.faults.race_next_cancel()

    (await simulated.cancel_order(order)).unwrap()
    report = await status(simulated, order)

    assert (report.status, report.filled_size) == (ReportedStatus.CANCELED, Decimal("0.00999999"))
    assert len(report.trades) == 1


async def test_a_race_fills_at_least_one_lot_however_small_the_fraction() -> None:
    simulated = exchange()
    order = await placed(simulated, make(size=Decimal("0.0001")))
    simulated.faults.race_next_cancel(fraction=Decimal("0.00001"))

    (await simulated.cancel_order(order)).unwrap()
    report = await status(simulated, order)

    assert (report.status, report.filled_size) == (ReportedStatus.CANCELED, Decimal("0.00000001"))


async def test_a_racing_fill_that_is_also_delayed_shows_after_the_cancel() -> None:
    simulated = exchange()
    order = await placed(simulated, make())
    simulated.faults.race_next_cancel()
    simulated.faults.delay_fills(polls=1)

    (await simulated.cancel_order(order)).unwrap()
    first = await status(simulated, order)
    second = await status(simulated, order)

    assert (first.status, first.filled_size) == (ReportedStatus.CANCELED, Decimal(0))
    assert (second.status, second.filled_size) == (ReportedStatus.CANCELED, Decimal("0.005"))


async def test_a_race_against_an_untriggered_stop_fills_part_of_it_at_its_trigger() -> None:
    simulated = exchange()
    stop = await placed(
        simulated,
        make(side=SELL, order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(48_000)),
    )
    simulated.faults.race_next_cancel()

    (await simulated.cancel_order(stop)).unwrap()
    report = await status(simulated, stop)

    assert (report.status, report.filled_size) == (ReportedStatus.CANCELED, Decimal("0.005"))
    assert report.average_price == Decimal(48_000)


async def test_randomly_raced_cancels_replay_from_the_seed() -> None:
    async def filled(seed: int) -> list[Decimal]:
        clock = FakeClock()
        simulated = SimulatedExchange(clock=clock, seed=1, faults=Faults(seed))
        simulated.faults.randomly_race_cancels(probability=0.5)
        simulated.deposit("USDT", 100_000)
        simulated.set_price(BTC, 50_000)
        sizes = []
        for i in range(20):
            order = await placed(simulated, make(f"c-{i}"))
            clock.advance(20)  # keep the per-pair counter low: this test is not about it
            (await simulated.cancel_order(order)).unwrap()
            sizes.append((await status(simulated, order)).filled_size)
        return sizes

    first = await filled(4)

    assert first == await filled(4)
    assert set(first) == {Decimal(0), Decimal("0.005")}


async def test_randomly_delayed_and_duplicated_fills_are_logged() -> None:
    simulated = exchange()
    simulated.faults.randomly_delay_fills(probability=1.0, polls=1)
    simulated.faults.randomly_duplicate_fills(probability=1.0)
    order = await placed(simulated, market_buy())

    hidden = await status(simulated, order)
    shown = await status(simulated, order)

    assert hidden.trades == ()
    assert len(shown.trades) == 2
    assert [record.what.split(" ")[-1] for record in simulated.faults.log] == [
        "reports",
        "twice",
    ]


# --------------------------------------------------------------------------- seeded scenarios
async def _lagging_reports_scenario(seed: int) -> set[str]:
    """Random orders, prices, cancels and every report fault; check what the reports show."""
    clock = FakeClock()
    simulated = SimulatedExchange(clock=clock, seed=seed, faults=Faults(seed))
    simulated.faults.randomly_delay_fills(probability=0.5, polls=3)
    simulated.faults.randomly_duplicate_fills(probability=0.3)
    simulated.faults.randomly_race_cancels(probability=0.5)
    simulated.deposit("USDT", 1_000_000)
    simulated.set_liquidity(BTC, per_update="0.003")
    simulated.set_price(BTC, 50_000)
    shown: dict[str, Decimal] = {}
    orders: list[Order] = []
    for step in range(30):
        clock.advance(20)
        choice = (seed * 31 + step * 7) % 3
        if choice == 0 or not orders:
            orders.append(
                await placed(simulated, make(f"s{seed}-{step}", price=Decimal(49_000 + step)))
            )
        elif choice == 1:
            simulated.set_price(BTC, 49_000 + (step * 13) % 60 - 30)
        else:
            await simulated.cancel_order(orders[step % len(orders)])
        ids = [o.exchange_order_id or "" for o in orders]
        for txid, report in (await simulated.order_status(ids)).unwrap().items():
            truth = simulated.engine.order(txid)
            assert truth is not None
            assert shown.get(txid, Decimal(0)) <= report.filled_size <= truth.vol_exec, seed
            distinct = {t.trade_id: t.quantity for t in report.trades}
            assert sum(distinct.values(), Decimal(0)) == report.filled_size, seed
            shown[txid] = report.filled_size
    for _ in range(3):  # every delay has run out after three more reports
        await simulated.order_status([o.exchange_order_id or "" for o in orders])
    simulated.faults.clear()
    final = (await simulated.order_status([o.exchange_order_id or "" for o in orders])).unwrap()
    for txid, report in final.items():
        truth = simulated.engine.order(txid)
        assert truth is not None
        assert (report.status, report.filled_size, report.fee) == (
            truth.status,
            truth.vol_exec,
            truth.fee,
        ), seed
    return {record.what.split(" ")[-1] for record in simulated.faults.log}


@pytest.mark.parametrize("seed", range(40))
async def test_lagging_reports_never_go_back_never_run_ahead_and_catch_up(seed: int) -> None:
    fired = await _lagging_reports_scenario(seed)

    assert fired, f"seed {seed} injected no fault: the scenario tests nothing"
