from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
from hypothesis import assume, given
from hypothesis import strategies as st
from returns.pipeline import is_successful

from execution_core.domain.enums import FeeCurrency, OrderSide, PositionSide
from execution_core.domain.numbers import HUNDRED, ONE, ZERO, to_decimal
from execution_core.domain.orders import Fill
from execution_core.domain.positions import Position
from execution_core.domain.refusals import AboveMaximum
from execution_core.domain.triggers import TriggerIndex, check_bar_triggers

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TOLERANCE = Decimal("1e-12")

prices = st.decimals(min_value="0.01", max_value=100_000, places=2)
sizes = st.decimals(min_value="0.0001", max_value=10, places=4)
fees = st.decimals(min_value=0, max_value=50, places=2)
rates = st.decimals(min_value=0, max_value="0.005", places=4)
leverages = st.integers(min_value=1, max_value=5)
sides = st.sampled_from(PositionSide)


def make_fill(
    side: OrderSide,
    quantity: Decimal,
    price: Decimal,
    fee: Decimal,
    currency: FeeCurrency = FeeCurrency.QUOTE,
) -> Fill:
    return Fill(
        trade_id="t",
        order_id="o",
        symbol="BTC/USDT",
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
        fee_currency=currency,
        timestamp=AT,
    )


# --------------------------------------------------------------------------- P&L
@given(prices, sizes, fees, rates, prices)
def test_long_and_short_pnl_mirror_each_other(
    entry: Decimal, size: Decimal, entry_fees: Decimal, rate: Decimal, price: Decimal
) -> None:
    long = Position("BTC/USDT", "long", size, entry, entry_fees=entry_fees, exit_fee_rate=rate)
    short = Position("BTC/USDT", "short", size, entry, entry_fees=entry_fees, exit_fee_rate=rate)
    gross_long, _ = long.calculate_pnl(price, include_fees=False)
    gross_short, _ = short.calculate_pnl(price, include_fees=False)
    assert gross_long == -gross_short
    costs = entry_fees + size * price * rate
    assert long.calculate_pnl(price)[0] == gross_long - costs
    assert short.calculate_pnl(price)[0] == gross_short - costs
    mirrored = 2 * entry - price
    if mirrored > 0:
        assert short.calculate_pnl(mirrored, include_fees=False)[0] == gross_long


@given(
    side=sides,
    entry=prices,
    size=sizes,
    entry_fees=fees,
    rate=rates,
    price=prices,
    leverage=leverages,
)
def test_leverage_never_changes_pnl_and_scales_only_the_percent(
    *,
    side: PositionSide,
    entry: Decimal,
    size: Decimal,
    entry_fees: Decimal,
    rate: Decimal,
    price: Decimal,
    leverage: int,
) -> None:
    plain = Position("BTC/USDT", side, size, entry, entry_fees=entry_fees, exit_fee_rate=rate)
    levered = Position(
        "BTC/USDT", side, size, entry, leverage=leverage, entry_fees=entry_fees, exit_fee_rate=rate
    )
    pnl, pct = plain.calculate_pnl(price)
    levered_pnl, levered_pct = levered.calculate_pnl(price)
    assert levered_pnl == pnl
    assert abs(levered_pct - pct * leverage) <= abs(pct * leverage) * Decimal("1e-20") + TOLERANCE


def reference_pnl(
    position: Position, price: Decimal | str | int, *, include_fees: bool
) -> tuple[Decimal, Decimal]:
    """`calculate_pnl` as it was written before its fast paths: the formula, step by step."""
    if position.size == ZERO:
        return ZERO, ZERO
    current = to_decimal(price, field="current_price")
    sign = Decimal(1) if position.side is PositionSide.LONG else Decimal(-1)
    pnl = sign * (current - position.entry_price) * position.size
    if include_fees:
        pnl -= position.entry_fees + position.size * current * position.exit_fee_rate
    margin = position.entry_price * position.size / position.leverage
    return pnl, pnl / margin * HUNDRED


@given(
    side=sides,
    entry=st.decimals(min_value="0.00000001", max_value=100_000, places=8),
    size=st.decimals(min_value="0.00000001", max_value=1000, places=8),
    entry_fees=fees,
    rate=rates,
    leverage=st.sampled_from([ONE, Decimal(1), Decimal("1.0"), Decimal("1.00"), 2, "2.5", 5]),
    move=st.one_of(st.just(0), st.decimals(min_value=-1000, max_value=1000, places=3)),
    spelling=st.sampled_from([Decimal, str]),
    include_fees=st.booleans(),
)
def test_unrealized_pnl_is_the_formula_digit_for_digit(
    *,
    side: PositionSide,
    entry: Decimal,
    size: Decimal,
    entry_fees: Decimal,
    rate: Decimal,
    leverage: Decimal | int | str,
    move: Decimal | int,
    spelling: type[Decimal | str],
    include_fees: bool,
) -> None:
    # The fast paths (a Decimal price taken as it is, no multiplication by +1, no division by
    # the default leverage) must give the same digits and exponent as the plain formula, the
    # sign of a zero included (a short at its entry price has a P&L of -0).
    price = entry + move
    assume(price > 0)
    position = Position(
        "BTC/USDT",
        side,
        size,
        entry,
        leverage=leverage,
        entry_fees=entry_fees,
        exit_fee_rate=rate,
    )
    given_price = spelling(price)

    got = position.calculate_pnl(given_price, include_fees=include_fees)

    expected = reference_pnl(position, given_price, include_fees=include_fees)
    assert [value.as_tuple() for value in got] == [value.as_tuple() for value in expected]


quantities = st.one_of(
    st.decimals(min_value="0.00000001", max_value=100, places=8),
    st.builds(
        lambda n, shift: Decimal(n).scaleb(shift),  # 5E+1, 12E+2: positive exponents too
        st.integers(min_value=1, max_value=99),
        st.integers(min_value=0, max_value=3),
    ),
)


@given(
    side=sides,
    entry=st.decimals(min_value="0.01", max_value=100_000, places=6),
    size=st.decimals(min_value="0.00000001", max_value=100, places=8),
    entry_fees=fees,
    quantity=quantities,
    price_factor=st.decimals(min_value="0.5", max_value=2, places=3),
    fee=st.decimals(min_value=0, max_value=5, places=4),
    fee_currency=st.sampled_from(FeeCurrency),
    with_levels=st.booleans(),
)
def test_an_entry_fill_gives_the_formulas_digits(
    *,
    side: PositionSide,
    entry: Decimal,
    size: Decimal,
    entry_fees: Decimal,
    quantity: Decimal,
    price_factor: Decimal,
    fee: Decimal,
    fee_currency: FeeCurrency,
    with_levels: bool,
) -> None:
    # The entry fast path (no property calls, no re-check of what apply_fill checked, no level
    # check without levels) must give what the plain rules give, digit for digit.
    long = side is PositionSide.LONG
    far_below, far_above = entry / 1000, entry * 1000
    position = Position(
        "BTC/USDT",
        side,
        size,
        entry,
        id="P1",
        entry_fees=entry_fees,
        stop_loss=(far_below if long else far_above) if with_levels else None,
        take_profit=(far_above if long else far_below) if with_levels else None,
    )
    fill = make_fill(side.entry_side, quantity, entry * price_factor, fee, fee_currency)

    result = position.apply_fill(fill)

    delta = fill.base_delta
    moved = delta if fill.side is OrderSide.BUY else -delta  # a buy's base fee can exceed it
    if moved <= 0:
        assert result.failure().field == "fill.fee"
        return
    new_size = position.size + moved
    new_entry = (position.entry_price * position.size + moved * fill.price) / new_size
    change = result.unwrap()
    after = change.position
    digits = [
        after.size,
        after.entry_price,
        after.entry_fees,
        change.events[0].quantity,  # type: ignore[union-attr]  # PositionIncreased
        change.events[0].size,  # type: ignore[union-attr]
        change.events[0].entry_price,  # type: ignore[union-attr]
    ]
    expected = [
        new_size,
        new_entry,
        position.entry_fees + fill.fee_in_quote,
        moved,
        new_size,
        new_entry,
    ]
    assert [d.as_tuple() for d in digits] == [e.as_tuple() for e in expected]
    assert change.realized_pnl.as_tuple() == ZERO.as_tuple()
    assert (
        attrs.evolve(
            after,
            size=position.size,
            entry_price=position.entry_price,
            entry_fees=position.entry_fees,
        )
        == position
    )


# --------------------------------------------------------------------------- books
operations = st.lists(
    st.tuples(st.booleans(), sizes, prices, fees, st.sampled_from(FeeCurrency)),
    min_size=1,
    max_size=30,
)


@given(sides, sizes, prices, operations)
def test_entries_minus_exits_is_the_size_and_a_position_never_flips(
    side: PositionSide,
    first_size: Decimal,
    first_price: Decimal,
    ops: list[tuple[bool, Decimal, Decimal, Decimal, FeeCurrency]],
) -> None:
    position = Position("BTC/USDT", side, first_size, first_price, id="P")
    entered, exited = first_size, Decimal(0)
    for is_entry, quantity, price, fee, _ in ops:
        order_side = side.entry_side if is_entry else side.exit_side
        before = position
        result = position.apply_fill(make_fill(order_side, quantity, price, fee))
        if not before.is_open:
            assert result.failure().field == "position"
            continue
        if not is_entry and quantity > before.size:
            assert result.failure() == AboveMaximum(
                symbol="BTC/USDT", field="quantity", limit=before.size, actual=quantity
            )
            continue
        change = result.unwrap()
        position = change.position
        if is_entry:
            entered += quantity
        else:
            exited += quantity
            fee_share = before.entry_fees * quantity / before.size
            realized = side.sign * (price - before.entry_price) * quantity - fee - fee_share
            assert abs(change.realized_pnl - realized) <= TOLERANCE
            assert abs(position.entry_fees - (before.entry_fees - fee_share)) <= TOLERANCE
        assert position.side is side
        assert position.size >= 0
        assert position.size == entered - exited
        assert position.entered_quantity == entered
        assert position.exited_quantity == exited
        assert position.is_open == (position.size > 0)


@given(sides, operations, prices, rates)
def test_realized_plus_unrealized_pnl_is_the_cash_result(
    side: PositionSide,
    ops: list[tuple[bool, Decimal, Decimal, Decimal, FeeCurrency]],
    final_price: Decimal,
    rate: Decimal,
) -> None:
    """Whatever the fills and the fee currency, the book agrees with the money that moved."""
    position: Position | None = None
    cash = Decimal(0)  # quote that moved: paid on buys, received on sells, minus quote fees
    base = Decimal(0)  # base held (negative: owed by a short)
    for is_entry, quantity, price, fee_amount, currency in ops:
        order_side = side.entry_side if is_entry or position is None else side.exit_side
        # a base fee is quoted as the same fraction of the quantity as the quote fee of the price
        fee = fee_amount / 10_000 * quantity if currency is FeeCurrency.BASE else fee_amount
        if currency is FeeCurrency.BASE and order_side is OrderSide.BUY and fee >= quantity:
            continue
        fill = make_fill(order_side, quantity, price, fee, currency)
        if position is None:
            position = (
                Position.open_from_fills([fill], id="P", exit_fee_rate=rate).unwrap().position
            )
        else:
            result = position.apply_fill(fill)
            if not is_successful(result):
                continue
            position = result.unwrap().position
        quote_fee = fee if currency is FeeCurrency.QUOTE else Decimal(0)
        sign = -1 if order_side is OrderSide.BUY else 1
        cash += sign * quantity * price - quote_fee
        base += fill.base_delta
        if not position.is_open:
            break
    if position is None:
        return
    assert abs(base) == position.size
    unrealized, _ = position.calculate_pnl(final_price)
    book = position.realized_pnl + unrealized
    money = cash + base * final_price - position.estimated_exit_fee(final_price)
    assert abs(book - money) <= TOLERANCE


# --------------------------------------------------------------------------- triggers
levels = st.integers(min_value=1, max_value=40)


@st.composite
def positions(draw: st.DrawFn) -> list[Position]:
    """Positions around an entry of 20 with small integer levels, so levels often coincide."""
    result = []
    for number in range(draw(st.integers(min_value=0, max_value=25))):
        side = draw(sides)
        below, above = st.integers(1, 19), st.integers(21, 40)
        long = side is PositionSide.LONG
        stop = draw(st.none() | (below if long else above))
        target = draw(st.none() | (above if long else below))
        result.append(
            Position("BTC/USDT", side, 1, 20, id=f"P{number}", stop_loss=stop, take_profit=target)
        )
    return result


@given(positions(), levels, levels)
def test_the_trigger_index_agrees_with_a_scan_of_every_position(
    book: list[Position], a: int, b: int
) -> None:
    low, high = Decimal(min(a, b)), Decimal(max(a, b))
    index = TriggerIndex()
    for position in book:
        index.update(position)
    expected = {
        (t.position_id, t.kind, t.level) for t in check_bar_triggers(book, low=low, high=high)
    }
    got = index.on_bar("BTC/USDT", low=low, high=high)
    assert len(got) == len(expected)
    assert {(t.position_id, t.kind, t.level) for t in got} == expected
    # and it still agrees after half the positions left
    for position in book[::2]:
        index.remove(position.id)
    rest = book[1::2]
    still = {(t.position_id, t.kind) for t in check_bar_triggers(rest, low=low, high=high)}
    assert {(t.position_id, t.kind) for t in index.on_bar("BTC/USDT", low=low, high=high)} == still
