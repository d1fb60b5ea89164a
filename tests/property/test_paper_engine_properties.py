"""Properties of PaperEngine under random sequences of prices, orders, amends, cancels and time.

Balances never go negative and never hold more than they have; every balance equals its
deposit plus the trades' deltas net of fees; every order's cumulative fields equal the sum of
its trades, vol_exec <= vol, its average price lies within its fill prices and never beyond its
limit; the same seed and the same calls give the same outcome.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from adapters.memory import (
    UNLIMITED,
    AmendRequest,
    EngineConfig,
    OrderInfo,
    OrderRequest,
    PaperEngine,
)
from execution_core.domain.enums import FeeCurrency, OrderSide, OrderType, TimeInForce
from execution_core.domain.instruments import default_instruments
from execution_core.ports import ReportedStatus

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
BTC = "BTC/USDT"
DEPOSITS = {"USDT": Decimal(30_000), "BTC": Decimal("0.6")}

prices = st.integers(450_000, 550_000).map(lambda n: Decimal(n).scaleb(-1))
volumes = st.integers(1, 3_000).map(lambda n: Decimal(n).scaleb(-4))
offsets = st.integers(0, 20_000).map(lambda n: Decimal(n).scaleb(-1))

price_moves = st.tuples(st.just("price"), prices, offsets, offsets, st.booleans())
adds = st.tuples(
    st.just("add"),
    st.sampled_from(OrderSide),
    st.sampled_from(OrderType),
    volumes,
    prices,
    prices,
    st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.GTD]),
    st.booleans(),
    st.booleans(),
)
amends = st.tuples(
    st.just("amend"),
    st.integers(0, 50),
    st.one_of(st.none(), volumes),
    st.one_of(st.none(), prices),
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 50))
switches = st.tuples(st.just("switch"), st.integers(0, 120))
cancel_alls = st.tuples(st.just("cancel_all"))
waits = st.tuples(st.just("wait"), st.integers(1, 120))
liquidity = st.tuples(
    st.just("liquidity"),
    st.one_of(st.none(), volumes),
    st.one_of(st.none(), volumes),
)
operations = st.lists(
    # adds and price moves listed twice: they are what makes trades happen
    st.one_of(
        adds,
        adds,
        price_moves,
        price_moves,
        amends,
        cancels,
        waits,
        liquidity,
        switches,
        cancel_alls,
    ),
    min_size=20,
    max_size=100,
)


configs = st.builds(
    EngineConfig,
    tier=st.just(UNLIMITED),
    hold_untriggered=st.booleans(),
    fee_decimals=st.sampled_from([2, 5, 8]),
)


def fresh_engine(seed: int, config: EngineConfig | None = None) -> PaperEngine:
    config = config or EngineConfig(tier=UNLIMITED)
    engine = PaperEngine(default_instruments(), seed=seed, config=config)
    for asset, amount in DEPOSITS.items():
        engine.deposit(asset, amount)
    engine.set_price(BTC, Decimal(50_000), now=T0)
    return engine


def run(engine: PaperEngine, ops: list[tuple[Any, ...]], check: bool) -> list[object]:  # noqa: C901, PLR0912 - one dispatcher over the operation kinds
    outcomes: list[object] = []
    clock = T0
    txids: list[str] = []
    for op in ops:
        match op:
            case ("price", price, below, above, is_bar):
                low, high = (
                    (max(price - below, Decimal("0.1")), price + above) if is_bar else (None, None)
                )
                outcomes.append(engine.set_price(BTC, price, now=clock, low=low, high=high))
            case ("add", side, ordertype, volume, price, price2, tif, fcib, post):
                ack = engine.add_order(
                    OrderRequest(
                        pair=BTC,
                        side=side,
                        ordertype=ordertype,
                        volume=volume,
                        price=None if ordertype is OrderType.MARKET else price,
                        price2=price2
                        if ordertype.is_triggered and ordertype.has_limit_price
                        else None,
                        timeinforce=tif,
                        expiretm=clock + timedelta(seconds=30) if tif is TimeInForce.GTD else None,
                        oflags=("fcib" if fcib else "")
                        + (",post" if post and ordertype is OrderType.LIMIT else ""),
                    ),
                    now=clock,
                )
                outcomes.append(ack)
                if ack.value_or(None) is not None and ack.unwrap().txid is not None:
                    txids.append(ack.unwrap().txid)  # type: ignore[arg-type]  # checked just above
            case ("amend", index, qty, limit):
                if txids:
                    target = engine.order(txids[index % len(txids)])
                    assert target is not None
                    limit_price = limit if target.ordertype.has_limit_price else None
                    movable = target.ordertype.is_triggered and not target.triggered
                    trigger_price = limit if movable and limit_price is None else None
                    amendment = AmendRequest(
                        txid=target.txid,
                        order_qty=qty,
                        limit_price=limit_price,
                        trigger_price=trigger_price,
                    )
                    outcomes.append(engine.amend_order(amendment, now=clock))
            case ("cancel", index):
                if txids:
                    outcomes.append(engine.cancel_order(txid=txids[index % len(txids)], now=clock))
            case ("switch", timeout):
                outcomes.append(engine.cancel_all_after(timeout, now=clock))
            case ("cancel_all",):
                outcomes.append(engine.cancel_all(now=clock))
            case ("wait", seconds):
                clock += timedelta(seconds=seconds)
                engine.advance(clock)
            case ("liquidity", per_update, per_order):
                engine.set_liquidity(BTC, per_update=per_update, per_order=per_order)
            case _:  # pragma: no cover - the strategies produce only the cases above
                raise AssertionError(op)
        if check:
            check_invariants(engine)
    outcomes.append(engine.balances())
    outcomes.append(tuple(engine.closed_orders().values()))
    outcomes.append(tuple(engine.open_orders().values()))
    return outcomes


def all_orders(engine: PaperEngine) -> list[OrderInfo]:
    return [*engine.open_orders().values(), *engine.closed_orders().values()]


def check_invariants(engine: PaperEngine) -> None:
    balances = engine.balances()
    for balance in balances.values():
        assert balance.total >= 0, balance
        assert 0 <= balance.held <= balance.total, balance

    expected: dict[str, Decimal] = defaultdict(Decimal, DEPOSITS)
    for trade in engine.trades_history():
        base_fee = trade.fee if trade.fee_currency is FeeCurrency.BASE else Decimal(0)
        quote_fee = trade.fee if trade.fee_currency is FeeCurrency.QUOTE else Decimal(0)
        if trade.side is OrderSide.BUY:
            expected["BTC"] += trade.vol - base_fee
            expected["USDT"] -= trade.cost + quote_fee
        else:
            expected["BTC"] -= trade.vol + base_fee
            expected["USDT"] += trade.cost - quote_fee
    assert {a: b.total for a, b in balances.items()} == dict(expected)

    held: dict[str, Decimal] = defaultdict(Decimal)
    for internal in engine._open.values():
        held[internal.hold_asset] += internal.hold_amount
    assert {a: b.held for a, b in balances.items()} == {a: held[a] for a in balances}

    for order in all_orders(engine):
        check_order(order)


def check_order(order: OrderInfo) -> None:
    assert 0 <= order.vol_exec <= order.vol
    assert order.vol_exec == sum((t.vol for t in order.trades), Decimal(0))
    assert order.cost == sum((t.cost for t in order.trades), Decimal(0))
    assert order.fee == sum((t.fee for t in order.trades), Decimal(0))
    if order.status is ReportedStatus.CLOSED:
        assert order.vol_exec == order.vol
        assert order.closetm is not None
    if order.trades:
        fill_prices = [t.price for t in order.trades]
        assert min(fill_prices) <= order.avg_price <= max(fill_prices)
        limit = order.limit_price
        # an amend may move the limit after some fills: only the unamended limit binds them all
        if limit is not None and order.ordertype is OrderType.LIMIT and not order.misc:
            if order.side is OrderSide.BUY:
                assert max(fill_prices) <= limit
            else:
                assert min(fill_prices) >= limit
    else:
        assert order.avg_price == 0


@given(ops=operations, seed=st.integers(0, 2**32), config=configs)
def test_balances_stay_non_negative_conserved_and_orders_consistent(
    ops: list[tuple[Any, ...]], seed: int, config: EngineConfig
) -> None:
    engine = fresh_engine(seed, config)
    run(engine, ops, check=True)
    event(f"trades: {min(engine.trade_count(), 5)}+")
    event(f"orders: {min(engine.open_order_count() + engine.closed_count(), 5)}+")


@given(ops=operations, seed=st.integers(0, 2**32))
def test_the_same_seed_and_the_same_calls_give_the_same_outcome(
    ops: list[tuple[Any, ...]], seed: int
) -> None:
    assert run(fresh_engine(seed), ops, check=False) == run(fresh_engine(seed), ops, check=False)
