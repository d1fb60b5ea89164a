"""SimulatedExchange: mapping our orders to the engine, driving the market, counting calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from returns.result import Failure

from adapters.kraken.errors import classify_error
from adapters.memory import INTERMEDIATE, EngineConfig, PaperEngine
from adapters.memory.clock import FakeClock
from adapters.memory.simulated import SimulatedExchange, order_request
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderSide,
    OrderType,
    SymbolStatus,
    TimeInForce,
)
from execution_core.domain.instruments import BTC_USDT, default_instruments
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


def make(**fields: object) -> Order:
    defaults: dict[str, object] = {
        "id": "o-1",
        "client_order_id": "cl-1",
        "symbol": BTC,
        "side": BUY,
        "order_type": OrderType.LIMIT,
        "size": Decimal("0.01"),
        "price": Decimal(49_000),
    }
    defaults.update(fields)
    return Order(**defaults)  # type: ignore[arg-type]  # test helper: fields by name


def exchange(clock: FakeClock | None = None, **kwargs: object) -> SimulatedExchange:
    simulated = SimulatedExchange(clock=clock or FakeClock(), seed=5, **kwargs)  # type: ignore[arg-type]  # test helper
    simulated.deposit("USDT", 100_000)
    simulated.deposit("BTC", 2)
    simulated.set_price(BTC, 50_000)
    return simulated


async def placed(simulated: SimulatedExchange, order: Order) -> Order:
    placement = (await simulated.place_order(order)).unwrap()
    return attrs.evolve(order, exchange_order_id=placement.exchange_order_id)


async def report(simulated: SimulatedExchange, order: Order) -> OrderReport:
    assert order.exchange_order_id is not None
    return (await simulated.order_status([order.exchange_order_id])).unwrap()[
        order.exchange_order_id
    ]


def failure_of(result: object) -> ExchangeFailure:
    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, ExchangeFailure)
    return failure


# --------------------------------------------------------------------------- mapping
def test_a_protected_market_order_goes_to_the_engine_as_a_limit_ioc_at_its_cap() -> None:
    request = order_request(make(order_type=OrderType.MARKET, price=Decimal(50_250))).unwrap()

    assert (request.ordertype, request.timeinforce, request.price) == (
        OrderType.LIMIT,
        TimeInForce.IOC,
        Decimal(50_250),
    )


def test_an_unprotected_market_order_goes_to_the_engine_as_a_market_order() -> None:
    request = order_request(make(order_type=OrderType.MARKET, price=None)).unwrap()

    assert (request.ordertype, request.price, request.price2) == (OrderType.MARKET, None, None)


def test_a_stop_loss_carries_its_trigger_in_price_and_nothing_in_price2() -> None:
    request = order_request(
        make(side=SELL, order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(48_000))
    ).unwrap()

    assert (request.ordertype, request.price, request.price2) == (
        OrderType.STOP_LOSS,
        Decimal(48_000),
        None,
    )


def test_a_take_profit_limit_carries_its_trigger_in_price_and_its_limit_in_price2() -> None:
    request = order_request(
        make(
            side=SELL,
            order_type=OrderType.TAKE_PROFIT_LIMIT,
            trigger_price=Decimal(52_000),
            price=Decimal(51_900),
        )
    ).unwrap()

    assert (request.price, request.price2) == (Decimal(52_000), Decimal(51_900))


def test_the_client_order_id_fee_currency_and_post_only_flag_reach_the_engine() -> None:
    request = order_request(
        make(client_order_id="entry-42", fee_currency=FeeCurrency.BASE, post_only=True)
    ).unwrap()

    assert request.cl_ord_id == "entry-42"
    assert request.oflags == frozenset({"fcib", "post"})


def test_the_fee_currency_is_always_explicit_quote_by_default() -> None:
    assert order_request(make()).unwrap().oflags == frozenset({"fciq"})


def test_a_gtd_expiry_is_rounded_down_to_the_whole_second() -> None:
    expires = datetime(2026, 1, 5, 12, 1, 0, 999_999, tzinfo=UTC)

    request = order_request(make(time_in_force=TimeInForce.GTD, expires_at=expires)).unwrap()

    assert request.expiretm == datetime(2026, 1, 5, 12, 1, 0, tzinfo=UTC)


def test_leverage_one_is_spot_and_other_leverage_is_sent() -> None:
    assert order_request(make()).unwrap().leverage is None
    assert order_request(make(leverage=Decimal(2))).unwrap().leverage == Decimal(2)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param(
            {"order_type": OrderType.STOP_LOSS, "trigger_price": Decimal(48_000)},
            "EGeneral:Invalid arguments:price2",
            id="a stop-loss with a limit price",
        ),
        pytest.param(
            {"trigger_price": Decimal(48_000)},
            "EGeneral:Invalid arguments:trigger_price",
            id="a limit with a trigger",
        ),
        pytest.param(
            {"order_type": OrderType.MARKET, "trigger_price": Decimal(48_000)},
            "EGeneral:Invalid arguments:trigger_price",
            id="a market order with a trigger",
        ),
        pytest.param(
            {"time_in_force": TimeInForce.GTD, "expires_at": datetime(2026, 1, 5, 13)},  # noqa: DTZ001 - the naive time is the point
            "EGeneral:Invalid arguments:expiretm",
            id="a naive expiry",
        ),
    ],
)
def test_a_price_the_order_type_cannot_carry_is_refused_for_good_not_dropped(
    fields: dict[str, object], code: str
) -> None:
    failure = failure_of(order_request(make(**fields)))

    assert (failure.code, failure.kind, failure.retry) == (
        code,
        FailureKind.INVALID_ARGUMENTS,
        RetryClass.NEVER,
    )


async def test_the_engine_holds_the_order_as_mapped() -> None:
    simulated = exchange()
    stop = await placed(
        simulated,
        make(
            side=SELL,
            order_type=OrderType.STOP_LOSS_LIMIT,
            trigger_price=Decimal(48_000),
            price=Decimal(47_900),
            client_order_id="sl-7",
        ),
    )

    info = simulated.engine.order(stop.exchange_order_id or "")

    assert info is not None
    assert (info.ordertype, info.price, info.price2, info.cl_ord_id) == (
        OrderType.STOP_LOSS_LIMIT,
        Decimal(48_000),
        Decimal(47_900),
        "sl-7",
    )


# --------------------------------------------------------------------------- driving
async def test_set_price_returns_the_fills_it_caused_stamped_with_the_clock_time() -> None:
    clock = FakeClock()
    simulated = exchange(clock)
    await placed(simulated, make())
    clock.advance(30)

    fills = simulated.set_price(BTC, 48_900)

    assert [(f.quantity, f.price, f.liquidity) for f in fills] == [
        (Decimal("0.01"), Decimal(49_000), LiquidityRole.MAKER)
    ]
    assert fills[0].timestamp == clock.now()


async def test_a_price_range_fills_a_stop_at_its_trigger_not_at_the_close() -> None:
    simulated = exchange()
    stop = await placed(
        simulated,
        make(side=SELL, order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(48_000)),
    )

    simulated.set_price(BTC, 47_500, low=47_400, high=50_000)

    assert (await report(simulated, stop)).average_price == Decimal(48_000)


async def test_liquidity_per_tick_fills_a_market_order_over_several_ticks() -> None:
    simulated = exchange()
    simulated.set_liquidity(BTC, per_update="0.004")
    simulated.set_price(BTC, 50_000)
    order = await placed(simulated, make(order_type=OrderType.MARKET, price=None))

    first = await report(simulated, order)
    simulated.set_price(BTC, 50_100)
    simulated.set_price(BTC, 50_200)
    last = await report(simulated, order)

    assert (first.status, first.filled_size) == (ReportedStatus.OPEN, Decimal("0.004"))
    assert (last.status, last.filled_size) == (ReportedStatus.CLOSED, Decimal("0.01"))
    assert [t.price for t in last.trades] == [Decimal(50_000), Decimal(50_100), Decimal(50_200)]


async def test_fee_rates_set_for_the_account_show_in_instruments_and_in_fees() -> None:
    simulated = exchange()
    simulated.set_fee_rates(maker="0.001", taker="0.002")

    instruments = (await simulated.instruments()).unwrap()
    order = await placed(simulated, make(order_type=OrderType.MARKET, price=None))

    btc = next(i for i in instruments if i.symbol == BTC)
    assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.001"), Decimal("0.002"))
    assert (await report(simulated, order)).fee == Decimal(1)


async def test_instruments_are_the_engine_pairs() -> None:
    simulated = exchange()

    symbols = [i.symbol for i in (await simulated.instruments()).unwrap()]

    assert sorted(symbols) == sorted(i.symbol for i in default_instruments())


async def test_the_reference_price_before_any_trade_is_unavailable_not_zero() -> None:
    simulated = SimulatedExchange(clock=FakeClock())

    failure = failure_of(await simulated.reference_price(BTC))

    assert (failure.kind, failure.retry) == (FailureKind.UNAVAILABLE, RetryClass.OUTCOME_UNKNOWN)
    assert failure.code == "EService:Unavailable"


async def test_balances_are_keyed_by_our_asset_names_with_available_net_of_holds() -> None:
    simulated = exchange()
    await placed(simulated, make(side=SELL, price=Decimal(51_000), size=Decimal("0.5")))

    balances = (await simulated.balances()).unwrap()

    assert set(balances) == {"BTC", "USDT"}
    assert (balances["BTC"].total, balances["BTC"].available) == (Decimal(2), Decimal("1.5"))


async def test_a_gtd_order_expires_when_the_clock_passes_its_expiry_without_a_price_move() -> None:
    clock = FakeClock()
    simulated = exchange(clock)
    order = await placed(
        simulated,
        make(time_in_force=TimeInForce.GTD, expires_at=clock.now() + timedelta(seconds=10)),
    )

    clock.advance(10)
    simulated.sync()

    info = simulated.engine.order(order.exchange_order_id or "")
    assert info is not None
    assert info.status is ReportedStatus.EXPIRED


# --------------------------------------------------------------------------- refusals
async def test_refusals_are_classified_exactly_as_the_kraken_adapter_classifies_the_string() -> (
    None
):
    simulated = exchange()

    failure = failure_of(await simulated.place_order(make(size=Decimal(100))))

    assert failure == classify_error("EOrder:Insufficient funds")


@pytest.mark.parametrize(
    ("fields", "code", "kind"),
    [
        ({"size": Decimal("0.00005")}, "EOrder:Order minimum not met", FailureKind.ORDER_MINIMUM),
        (
            {"size": Decimal("0.0001"), "price": Decimal(1000)},
            "EOrder:Cost minimum not met",
            FailureKind.COST_MINIMUM,
        ),
        (
            {"price": Decimal("49000.05")},
            "EOrder:Invalid price:XBTUSDT price can only be specified up to 1 decimals.",
            FailureKind.INVALID_PRICE,
        ),
        ({"size": Decimal(100)}, "EOrder:Insufficient funds", FailureKind.INSUFFICIENT_FUNDS),
        ({"symbol": "DOGE/USDT"}, "EQuery:Unknown asset pair", FailureKind.UNKNOWN_PAIR),
    ],
    ids=["order minimum", "cost minimum", "price decimals", "funds", "unknown pair"],
)
async def test_a_refusal_carries_kraken_s_exact_error_string(
    fields: dict[str, object], code: str, kind: FailureKind
) -> None:
    simulated = exchange()

    failure = failure_of(await simulated.place_order(make(**fields)))

    assert (failure.code, failure.kind, failure.retry) == (code, kind, RetryClass.NEVER)


async def test_a_price_off_a_coarse_tick_is_refused_with_the_tick_size_error() -> None:
    coarse = attrs.evolve(BTC_USDT, tick_size=Decimal("0.5"))
    simulated = SimulatedExchange(clock=FakeClock(), instruments=[coarse])
    simulated.deposit("USDT", 100_000)

    failure = failure_of(await simulated.place_order(make(price=Decimal("49000.2"))))

    assert (failure.code, failure.kind, failure.retry) == (
        "EOrder:Tick size check failed",
        FailureKind.TICK_SIZE,
        RetryClass.NEVER,
    )


async def test_a_pair_in_cancel_only_mode_refuses_orders_until_it_reopens() -> None:
    simulated = exchange()
    simulated.set_pair_status(BTC, SymbolStatus.CANCEL_ONLY)

    failure = failure_of(await simulated.place_order(make()))

    assert (failure.kind, failure.retry) == (FailureKind.MARKET_RESTRICTED, RetryClass.WAIT)
    assert failure.code == "EService:Market in cancel_only mode"


async def test_an_amend_of_a_type_without_a_limit_price_is_refused_for_good() -> None:
    simulated = exchange()
    stop = await placed(
        simulated,
        make(side=SELL, order_type=OrderType.STOP_LOSS, price=None, trigger_price=Decimal(48_000)),
    )

    failure = failure_of(await simulated.amend_order(stop, Amendment(price=Decimal(47_000))))

    assert (failure.kind, failure.retry) == (FailureKind.INVALID_ARGUMENTS, RetryClass.NEVER)


async def test_the_open_orders_cap_per_pair_follows_the_configured_tier() -> None:
    simulated = exchange(config=EngineConfig(tier=INTERMEDIATE))

    accepted = 0
    while True:
        result = await simulated.place_order(
            make(client_order_id=f"r-{accepted}", price=Decimal(40_000), size=Decimal("0.0001"))
        )
        if isinstance(result, Failure):
            break
        accepted += 1

    assert accepted == 80  # Intermediate: at most 80 open orders per pair
    assert failure_of(result).kind is FailureKind.ORDERS_LIMIT


# --------------------------------------------------------------------------- calls and time
async def test_one_status_call_answers_for_a_thousand_orders() -> None:
    simulated = SimulatedExchange(
        clock=FakeClock(),
        config=EngineConfig(
            tier=attrs.evolve(INTERMEDIATE, max_open_orders=2000, threshold=Decimal(10**6))
        ),
    )
    simulated.deposit("USDT", 10**7)
    simulated.set_price(BTC, 50_000)
    ids = [
        (
            await simulated.place_order(
                make(client_order_id=f"p-{i}", price=Decimal(40_000), size=Decimal("0.001"))
            )
        )
        .unwrap()
        .exchange_order_id
        for i in range(1000)
    ]

    reports = (await simulated.order_status(ids)).unwrap()

    assert len(reports) == 1000
    assert simulated.calls["order_status"] == 1
    assert simulated.calls["place_order"] == 1000


async def test_every_port_method_is_counted_by_name() -> None:
    simulated = exchange()
    order = await placed(simulated, make())

    await simulated.order_status([order.exchange_order_id or ""])
    await simulated.find_order(order.client_order_id)
    await simulated.open_orders()
    await simulated.amend_order(order, Amendment(price=Decimal(48_000)))
    await simulated.cancel_order(order)
    await simulated.cancel_all()
    await simulated.cancel_all_after(0)
    await simulated.balances()
    await simulated.instruments()
    await simulated.reference_price(BTC)
    await simulated.reference_price(BTC)

    assert dict(simulated.calls) == {
        "place_order": 1,
        "order_status": 1,
        "find_order": 1,
        "open_orders": 1,
        "amend_order": 1,
        "cancel_order": 1,
        "cancel_all": 1,
        "cancel_all_after": 1,
        "balances": 1,
        "instruments": 1,
        "reference_price": 2,
    }


async def test_a_positive_latency_sleeps_on_the_clock_before_the_exchange_acts() -> None:
    clock = FakeClock()
    simulated = exchange(clock, latency=0.25)
    start = clock.now()

    order = await placed(simulated, make(order_type=OrderType.MARKET, price=None))

    assert clock.sleeps == [0.25]
    assert (await report(simulated, order)).opened_at == start + timedelta(seconds=0.25)


async def test_a_zero_latency_lets_other_tasks_run_during_a_call_and_none_does_not() -> None:
    async def flag_when_run(flags: list[str]) -> None:
        flags.append("ran")

    for latency, expected in ((0.0, ["ran"]), (None, [])):
        simulated = exchange(latency=latency)
        flags: list[str] = []
        task = asyncio.ensure_future(flag_when_run(flags))
        await simulated.balances()
        seen = list(flags)
        await task
        assert seen == expected, latency


def test_an_engine_and_its_instruments_are_not_given_together() -> None:
    with pytest.raises(ValueError, match="either an engine"):
        SimulatedExchange(engine=PaperEngine(default_instruments()), instruments=[BTC_USDT])


async def test_the_same_seed_and_calls_give_the_same_exchange_ids() -> None:
    async def ids(seed: int) -> list[str]:
        simulated = SimulatedExchange(clock=FakeClock(), seed=seed)
        simulated.deposit("USDT", 10_000)
        simulated.set_price(BTC, 50_000)
        out = []
        for i in range(3):
            order = await placed(simulated, make(client_order_id=f"s-{i}"))
            out.append(order.exchange_order_id or "")
        return out

    assert await ids(9) == await ids(9)
    assert await ids(9) != await ids(10)
