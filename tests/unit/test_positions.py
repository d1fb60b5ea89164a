from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from returns.result import Failure, Success

from execution_core.domain.enums import FeeCurrency, OrderSide, PositionSide
from execution_core.domain.events import (
    PositionClosed,
    PositionIncreased,
    PositionOpened,
    PositionReduced,
    StopMoved,
    TakeProfitMoved,
)
from execution_core.domain.numbers import InvalidNumber
from execution_core.domain.orders import Fill
from execution_core.domain.positions import (
    UNCHANGED,
    InvalidPosition,
    Position,
    PositionChange,
    _change,
    _derived,
    _increased,
    _opened,
)
from execution_core.domain.refusals import (
    AboveMaximum,
    BelowMinimum,
    InvalidValue,
    SymbolMismatch,
    WrongSideOfPrice,
)
from execution_core.domain.trailing import TrailingStop

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 5, 12, 1, tzinfo=UTC)
T2 = datetime(2026, 1, 5, 12, 2, tzinfo=UTC)


def fill(
    side: OrderSide,
    quantity: str,
    price: str | int,
    fee: str | int = 0,
    *,
    fee_currency: FeeCurrency = FeeCurrency.QUOTE,
    symbol: str = "BTC/USDT",
    at: datetime = T0,
    trade_id: str = "T1",
) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id="O1",
        symbol=symbol,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        timestamp=at,
    )


def long_position(**overrides: object) -> Position:
    values: dict[str, object] = {
        "id": "P1",
        "stop_loss": 44_000,
        "take_profit": 47_000,
        "entry_fees": 18,
    }
    values.update(overrides)
    return Position("BTC/USDT", "long", "0.1", 45_000, **values)  # type: ignore[arg-type]  # test helper


# --------------------------------------------------------------------------- validation
def test_an_entry_price_of_zero_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 0)
    assert raised.value.field == "entry_price"
    assert raised.value.refusal == InvalidValue(
        symbol="BTC/USDT", field="entry_price", actual=Decimal(0), reason="must be > 0"
    )
    assert str(raised.value) == "BTC/USDT: entry_price must be > 0 (got 0)"


def test_a_negative_entry_price_is_refused() -> None:
    with pytest.raises(InvalidPosition, match="entry_price must be > 0"):
        Position("BTC/USDT", "long", 1, -45_000)


@pytest.mark.parametrize("size", [0, "-0.1"])
def test_a_size_that_is_not_positive_is_refused(size: int | str) -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", size, 45_000)
    assert raised.value.field == "size"


def test_a_leverage_of_6_is_refused_naming_the_field_and_the_limit() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, leverage=6)
    assert raised.value.refusal == AboveMaximum(
        symbol="BTC/USDT", field="leverage", limit=Decimal(5), actual=Decimal(6)
    )


def test_a_leverage_below_1_is_refused() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, leverage="0.5")
    assert raised.value.refusal == BelowMinimum(
        symbol="BTC/USDT", field="leverage", limit=Decimal(1), actual=Decimal("0.5")
    )


def test_a_leverage_of_exactly_5_is_allowed() -> None:
    assert Position("BTC/USDT", "long", 1, 45_000, leverage=5).leverage == Decimal(5)


def test_the_maximum_leverage_is_configurable() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, leverage=4, max_leverage=3)
    assert raised.value.refusal.limit == Decimal(3)


def test_a_long_stop_above_the_entry_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, stop_loss=45_500)
    assert raised.value.refusal == WrongSideOfPrice(
        symbol="BTC/USDT",
        field="stop_loss",
        limit=Decimal(45_000),
        actual=Decimal(45_500),
        relation="below",
        reference="entry price",
    )


def test_a_long_stop_at_the_entry_is_refused() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, stop_loss=45_000)
    assert raised.value.field == "stop_loss"


def test_a_long_take_profit_below_the_entry_is_refused() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, take_profit=44_000)
    assert raised.value.field == "take_profit"
    assert raised.value.refusal.message == (
        "BTC/USDT: take_profit 44000 must be above the entry price 45000"
    )


def test_a_short_needs_its_take_profit_below_and_its_stop_above_the_entry() -> None:
    short = Position("BTC/USDT", "short", 1, 45_000, stop_loss=45_500, take_profit=44_000)
    assert (short.stop_loss, short.take_profit) == (Decimal(45_500), Decimal(44_000))
    with pytest.raises(InvalidPosition, match="stop_loss 44500 must be above the entry price"):
        Position("BTC/USDT", "short", 1, 45_000, stop_loss=44_500)
    with pytest.raises(InvalidPosition, match="take_profit 46000 must be below the entry price"):
        Position("BTC/USDT", "short", 1, 45_000, take_profit=46_000)


def test_invalid_position_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="leverage 6 is above the maximum 5"):
        Position("BTC/USDT", "long", 1, 45_000, leverage=6)


def test_create_returns_the_same_refusal_as_a_failure() -> None:
    result = Position.create("BTC/USDT", "long", 1, 0)
    assert result == Failure(
        InvalidValue(
            symbol="BTC/USDT", field="entry_price", actual=Decimal(0), reason="must be > 0"
        )
    )


def test_create_returns_a_valid_position_as_a_success() -> None:
    result = Position.create("BTC/USDT", "short", "0.5", "45000", id="P9", stop_loss=46_000)
    assert result == Success(
        Position("BTC/USDT", "short", "0.5", 45_000, id="P9", stop_loss=46_000)
    )


def test_create_refuses_a_stop_the_current_price_has_already_crossed() -> None:
    result = Position.create("BTC/USDT", "long", 1, 45_000, stop_loss=44_500, current_price=44_400)
    assert result.failure() == WrongSideOfPrice(
        symbol="BTC/USDT",
        field="stop_loss",
        limit=Decimal(44_400),
        actual=Decimal(44_500),
        relation="below",
        reference="current price",
    )


def test_create_refuses_a_value_that_is_not_a_number_naming_the_field() -> None:
    refusal = Position.create("BTC/USDT", "long", 1, "NaN").failure()
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "entry_price"


def test_create_refuses_an_unknown_side() -> None:
    refusal = Position.create("BTC/USDT", "sideways", 1, 45_000).failure()
    assert refusal == InvalidValue(
        symbol="BTC/USDT", field="side", actual="sideways", reason="must be long or short"
    )


def test_the_constructor_refuses_nan_naming_the_field() -> None:
    with pytest.raises(InvalidNumber) as raised:
        Position("BTC/USDT", "long", "NaN", 45_000)
    assert raised.value.field == "size"


def test_numbers_may_be_given_as_int_str_or_float_and_floats_go_through_str() -> None:
    position = Position("XRP/USDT", PositionSide.LONG, 0.1, "2.5", leverage=2.0)
    assert (position.size, position.entry_price, position.leverage) == (
        Decimal("0.1"),
        Decimal("2.5"),
        Decimal("2.0"),
    )


def test_the_exit_fee_rate_defaults_to_the_taker_rate_and_is_configurable() -> None:
    assert Position("BTC/USDT", "long", 1, 45_000).exit_fee_rate == Decimal("0.0040")
    configured = Position("BTC/USDT", "long", 1, 45_000, exit_fee_rate="0.0026")
    assert configured.exit_fee_rate == Decimal("0.0026")


def test_an_exit_fee_rate_given_as_a_percent_is_refused() -> None:
    with pytest.raises(InvalidPosition) as raised:
        Position("BTC/USDT", "long", 1, 45_000, exit_fee_rate="0.26")
    assert raised.value.field == "exit_fee_rate"


# --------------------------------------------------------------------------- P&L
def test_long_pnl_is_price_move_times_size() -> None:
    position = Position("BTC/USDT", "long", "0.1", 45_000)
    assert position.calculate_pnl(46_000, include_fees=False)[0] == Decimal(100)
    assert position.calculate_pnl(44_000, include_fees=False)[0] == Decimal(-100)


def test_short_pnl_is_the_mirror() -> None:
    position = Position("BTC/USDT", "short", "0.1", 45_000)
    assert position.calculate_pnl(44_000, include_fees=False)[0] == Decimal(100)
    assert position.calculate_pnl(46_000, include_fees=False)[0] == Decimal(-100)


def test_leverage_does_not_multiply_pnl_it_only_sets_the_margin() -> None:
    at_1x = Position("BTC/USDT", "long", "0.1", 45_000)
    at_2x = Position("BTC/USDT", "long", "0.1", 45_000, leverage=2)
    assert at_2x.calculate_pnl(46_000, include_fees=False) == (
        Decimal(100),
        Decimal(100) / 2250 * 100,
    )
    assert at_2x.calculate_pnl(46_000)[0] == at_1x.calculate_pnl(46_000)[0]
    assert at_2x.margin == Decimal(2250)
    assert at_1x.margin == Decimal(4500)


def test_pnl_with_fees_deducts_entry_fees_paid_and_the_estimated_exit_fee() -> None:
    position = Position("BTC/USDT", "long", "0.1", 45_000, leverage=2, entry_fees=18)
    pnl, pct = position.calculate_pnl(46_000)
    # 100 gross - 18 entry fee - 0.1 x 46000 x 0.0040 = 18.4 estimated exit fee
    assert pnl == Decimal("63.6")
    assert pct == Decimal("63.6") / Decimal(2250) * 100


def test_the_reviews_example_deducts_an_exit_fee_of_26_on_10000_at_026_percent() -> None:
    position = Position("BTC/USDT", "long", "0.2", 50_000, exit_fee_rate="0.0026")
    assert position.estimated_exit_fee(50_000) == Decimal(26)
    assert position.calculate_pnl(50_000) == (Decimal(-26), Decimal("-0.26"))


def test_a_closed_position_has_no_unrealized_pnl() -> None:
    closed = long_position().close(46_000, at=T1).unwrap().position
    assert closed.calculate_pnl(50_000) == (Decimal(0), Decimal(0))


# --------------------------------------------------------------------------- opening from fills
def test_a_partial_fill_of_007_btc_at_45000_opens_007_btc_with_3150_usdt_exposure() -> None:
    change = Position.open_from_fills([fill(OrderSide.BUY, "0.07", 45_000)], id="P1").unwrap()
    assert change.position.size == Decimal("0.07")
    assert change.position.cost_basis == Decimal(3150)
    assert change.position.notional_at(45_000) == Decimal(3150)
    assert change.events == (
        PositionOpened(
            position_id="P1",
            symbol="BTC/USDT",
            side="long",
            size=Decimal("0.07"),
            entry_price=Decimal(45_000),
            at=T0,
        ),
    )


def test_the_entry_price_is_the_vwap_of_the_entry_fills_and_their_fees_add_up() -> None:
    fills = [
        fill(OrderSide.BUY, "0.03", 45_000, "5.4", at=T0),
        fill(OrderSide.BUY, "0.01", 45_400, "1.8", at=T1, trade_id="T2"),
    ]
    position = Position.open_from_fills(fills, id="P1").unwrap().position
    assert position.size == Decimal("0.04")
    assert position.entry_price == Decimal(45_100)
    assert position.entry_fees == Decimal("7.2")
    assert position.opened_at == T0


def test_sell_fills_open_a_short() -> None:
    position = Position.open_from_fills([fill(OrderSide.SELL, "0.5", 45_000)], id="S1").unwrap()
    assert position.position.side is PositionSide.SHORT


def test_a_base_fee_on_a_buy_reduces_the_size_and_counts_as_an_entry_fee() -> None:
    entry = fill(OrderSide.BUY, "0.1", 45_000, "0.0004", fee_currency=FeeCurrency.BASE)
    position = Position.open_from_fills([entry], id="P1").unwrap().position
    assert position.size == Decimal("0.0996")
    assert position.entry_fees == Decimal(18)
    # Paid 4500, holds 0.0996 BTC worth 4482 at 45000: down exactly the fee.
    assert position.calculate_pnl(45_000, include_fees=False)[0] == Decimal(0)
    assert position.calculate_pnl(45_000)[0] == -18 - position.estimated_exit_fee(45_000)


def test_a_base_fee_on_a_short_entry_adds_to_the_base_owed() -> None:
    entry = fill(OrderSide.SELL, "0.1", 45_000, "0.0004", fee_currency=FeeCurrency.BASE)
    position = Position.open_from_fills([entry], id="S1").unwrap().position
    assert position.size == Decimal("0.1004")


def test_opening_refuses_no_fills_mixed_symbols_and_mixed_sides() -> None:
    assert isinstance(Position.open_from_fills([], id="P1").failure(), InvalidValue)
    mixed_symbols = [fill(OrderSide.BUY, "1", 2), fill(OrderSide.BUY, "1", 2, symbol="XRP/USDT")]
    assert Position.open_from_fills(mixed_symbols, id="P1").failure() == SymbolMismatch(
        symbol="BTC/USDT", limit="BTC/USDT", actual="XRP/USDT"
    )
    mixed_sides = [fill(OrderSide.BUY, "1", 2), fill(OrderSide.SELL, "1", 2)]
    refusal = Position.open_from_fills(mixed_sides, id="P1").failure()
    assert isinstance(refusal, InvalidValue)
    assert refusal.field == "fill.side"


def test_opening_validates_the_levels_against_the_vwap() -> None:
    result = Position.open_from_fills([fill(OrderSide.BUY, "1", 45_000)], id="P1", stop_loss=45_100)
    assert result.failure().field == "stop_loss"


# --------------------------------------------------------------------------- adding and exiting
def test_an_entry_fill_moves_the_entry_to_the_new_vwap_and_adds_its_fee() -> None:
    position = long_position()
    change = position.apply_fill(fill(OrderSide.BUY, "0.1", 45_400, "18.16", at=T1)).unwrap()
    assert change.position.size == Decimal("0.2")
    assert change.position.entry_price == Decimal(45_200)
    assert change.position.entry_fees == Decimal("36.16")
    assert change.realized_pnl == 0
    assert change.events == (
        PositionIncreased(
            position_id="P1",
            quantity=Decimal("0.1"),
            price=Decimal(45_400),
            size=Decimal("0.2"),
            entry_price=Decimal(45_200),
            at=T1,
        ),
    )


def test_an_entry_fill_that_would_put_the_stop_above_the_entry_is_refused() -> None:
    position = long_position(stop_loss=44_900)
    result = position.apply_fill(fill(OrderSide.BUY, "0.1", 44_000))
    assert result.failure().field == "stop_loss"


def test_a_partial_exit_realizes_its_share_net_of_exit_fee_and_pro_rata_entry_fee() -> None:
    position = Position("BTC/USDT", "long", "0.2", 45_000, id="P1", entry_fees=36)
    change = position.apply_fill(fill(OrderSide.SELL, "0.05", 46_000, "9.2", at=T1)).unwrap()
    # 1 x (46000 - 45000) x 0.05 - 9.2 exit fee - 36 x 0.05 / 0.2 = 9 entry fee share
    assert change.realized_pnl == Decimal("31.8")
    assert change.position.size == Decimal("0.15")
    assert change.position.entry_fees == Decimal(27)
    assert change.position.realized_pnl == Decimal("31.8")
    assert change.position.entry_price == Decimal(45_000)
    assert change.position.is_open
    assert change.events == (
        PositionReduced(
            position_id="P1",
            quantity=Decimal("0.05"),
            price=Decimal(46_000),
            size=Decimal("0.15"),
            realized_pnl=Decimal("31.8"),
            at=T1,
        ),
    )


def test_a_short_partial_exit_realizes_the_mirrored_move() -> None:
    position = Position("BTC/USDT", "short", "1", 45_000, id="S1", entry_fees=40)
    change = position.reduce("0.25", 44_000, fee=11, at=T1).unwrap()
    assert change.realized_pnl == Decimal(250) - 11 - 10


def test_a_full_close_realizes_the_rest_and_emits_reduced_then_closed() -> None:
    position = Position("BTC/USDT", "long", "0.2", 45_000, id="P1", entry_fees=36)
    first = position.reduce("0.05", 46_000, fee="9.2", at=T1).unwrap()
    last = first.position.close(44_000, fee="26.4", at=T2, reason="stop_loss").unwrap()
    # -1000 x 0.15 - 26.4 - 27 (the rest of the entry fees)
    assert last.realized_pnl == Decimal("-203.4")
    closed = last.position
    assert (closed.size, closed.entry_fees, closed.is_open) == (Decimal(0), Decimal(0), False)
    assert closed.closed_at == T2
    assert closed.realized_pnl == Decimal("31.8") + Decimal("-203.4")
    assert closed.average_exit_price == Decimal(44_500)
    assert last.events[1] == PositionClosed(
        position_id="P1",
        exit_price=Decimal(44_500),
        realized_pnl=Decimal("-171.6"),
        reason="stop_loss",
        at=T2,
    )
    assert isinstance(last.events[0], PositionReduced)


def test_realized_pnl_over_a_round_trip_equals_the_cash_result() -> None:
    position = (
        Position.open_from_fills([fill(OrderSide.BUY, "0.1", 45_000, 18)], id="P1")
        .unwrap()
        .position
    )
    position = position.apply_fill(fill(OrderSide.SELL, "0.04", 46_000, "7.36")).unwrap().position
    position = position.apply_fill(fill(OrderSide.SELL, "0.06", 44_000, "10.56")).unwrap().position
    cash = -(Decimal(4500) + 18) + (Decimal(1840) - Decimal("7.36")) + (2640 - Decimal("10.56"))
    assert position.realized_pnl == cash


def test_an_exit_larger_than_the_open_size_is_refused_and_never_flips_the_position() -> None:
    position = long_position()
    refusal = position.apply_fill(fill(OrderSide.SELL, "0.2", 46_000)).failure()
    assert refusal == AboveMaximum(
        symbol="BTC/USDT", field="quantity", limit=Decimal("0.1"), actual=Decimal("0.2")
    )
    assert position.reduce("0.10000001", 46_000, at=T1).failure().field == "quantity"


def test_a_base_fee_on_an_exit_sell_takes_the_fee_from_the_size_too() -> None:
    position = Position("BTC/USDT", "long", "0.1", 45_000, id="P1")
    exit_fill = fill(OrderSide.SELL, "0.05", 46_000, "0.0002", fee_currency=FeeCurrency.BASE)
    change = position.apply_fill(exit_fill).unwrap()
    assert change.position.size == Decimal("0.0498")
    # sold 0.05 for 2300 quote, 0.0502 BTC of basis 45000 left the book: 2300 - 2259 = 41
    assert change.realized_pnl == Decimal(41)


def test_the_default_exit_fee_of_a_reduce_is_the_estimate() -> None:
    position = Position("BTC/USDT", "long", "0.1", 45_000, id="P1")
    change = position.close(46_000, at=T1).unwrap()
    assert change.realized_pnl == Decimal(100) - Decimal("0.1") * 46_000 * Decimal("0.0040")


def test_a_closed_position_refuses_fills_and_changes() -> None:
    closed = long_position().close(46_000, at=T1).unwrap().position
    assert closed.apply_fill(fill(OrderSide.BUY, "0.1", 45_000)).failure().field == "position"
    assert closed.reduce("0.1", 45_000, at=T2).failure().field == "position"
    assert closed.modify(stop_loss=44_000).failure().field == "position"


def test_a_fill_of_another_symbol_is_refused() -> None:
    refusal = long_position().apply_fill(fill(OrderSide.SELL, "1", 2, symbol="XRP/USDT")).failure()
    assert refusal == SymbolMismatch(symbol="BTC/USDT", limit="BTC/USDT", actual="XRP/USDT")


def test_a_fill_with_no_quantity_is_refused() -> None:
    assert long_position().apply_fill(fill(OrderSide.SELL, "0", 46_000)).failure().field == "fill"


def test_the_position_keeps_aggregates_so_entries_minus_exits_is_the_size() -> None:
    position = long_position()
    for _ in range(3):
        position = position.apply_fill(fill(OrderSide.BUY, "0.1", 45_000)).unwrap().position
    position = position.reduce("0.15", 46_000, at=T1).unwrap().position
    assert position.entered_quantity == Decimal("0.4")
    assert position.exited_quantity == Decimal("0.15")
    assert position.size == position.entered_quantity - position.exited_quantity


def every_field_set() -> Position:
    """A position whose every field differs from its default."""
    return Position(
        "XRP/BTC",
        "short",
        "100",
        "0.00001",
        id="P9",
        leverage=2,
        stop_loss="0.000011",
        take_profit="0.000009",
        entry_fees="0.0000001",
        realized_pnl="0.0000002",
        exit_fee_rate="0.0016",
        max_leverage=4,
        trailing=TrailingStop(activation_pct=1, distance_pct="1.5"),
        exited_quantity=7,
        exit_value="0.00007",
        opened_at=T0,
    )


def test_the_position_used_by_the_hot_path_tests_sets_every_field_but_closed_at() -> None:
    position = every_field_set()

    for field in attrs.fields(Position):
        if field.name in {"symbol", "side", "size", "entry_price", "closed_at"}:
            continue  # no default, or (closed_at) open: a closed position has size 0
        assert getattr(position, field.name) != field.default, f"set {field.name} in the test"
    assert position.closed_at is None


def test_the_hot_path_copy_sets_every_field_like_the_constructor() -> None:
    position = every_field_set()
    copy = _derived(
        position,
        position.size,
        position.entry_price,
        position.entry_fees,
        position.realized_pnl,
        position.exited_quantity,
        position.exit_value,
        position.closed_at,
    )
    for field in attrs.fields(Position):
        assert getattr(copy, field.name) == getattr(position, field.name), field.name
    assert type(copy) is Position
    assert copy == position
    assert hash(copy) == hash(position)


def test_the_hot_path_copy_puts_each_changed_value_in_its_own_field() -> None:
    position = every_field_set()
    changed = {
        "size": Decimal(1),
        "entry_price": Decimal(2),
        "entry_fees": Decimal(3),
        "realized_pnl": Decimal(4),
        "exited_quantity": Decimal(5),
        "exit_value": Decimal(6),
        "closed_at": T2,
    }

    copy = _derived(position, *changed.values())  # type: ignore[arg-type]  # in _derived's order

    for field in attrs.fields(Position):
        expected = changed.get(field.name, getattr(position, field.name))
        assert getattr(copy, field.name) is expected, field.name


@pytest.mark.parametrize("realized", [Decimal(0), Decimal("-3.5")])
def test_the_hot_path_change_is_the_constructors(realized: Decimal) -> None:
    position = every_field_set()
    events = (
        PositionReduced(
            position_id="P9",
            quantity=Decimal(1),
            price=Decimal("0.00001"),
            size=Decimal(99),
            realized_pnl=realized,
            at=T1,
        ),
    )

    fast = _change(position, realized, events)

    expected = PositionChange(position=position, realized_pnl=realized, events=events)
    for field in attrs.fields(PositionChange):
        assert getattr(fast, field.name) is getattr(expected, field.name), field.name
    assert type(fast) is PositionChange
    assert fast == expected


def test_the_increase_event_built_slot_by_slot_is_the_constructors() -> None:
    # `_increased` skips the constructor: a rule added to the event would be skipped there.
    assert [f.name for f in attrs.fields(PositionIncreased) if f.converter or f.validator] == []
    assert not hasattr(PositionIncreased, "__attrs_post_init__")
    assert not hasattr(PositionIncreased, "__attrs_pre_init__")
    quantity, price, size, entry = (Decimal(n) for n in range(1, 5))

    fast = _increased("P1", quantity, price, size, entry, T1)

    expected = PositionIncreased(
        position_id="P1", quantity=quantity, price=price, size=size, entry_price=entry, at=T1
    )
    assert type(fast) is PositionIncreased
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(expected, recurse=False)
    assert fast == expected


def test_a_new_position_built_slot_by_slot_is_the_constructors() -> None:
    p = every_field_set()
    fast = _opened(
        p.symbol,
        p.side,
        p.size,
        p.entry_price,
        p.id,
        p.leverage,
        p.stop_loss,
        p.take_profit,
        p.entry_fees,
        p.exit_fee_rate,
        p.max_leverage,
        p.trailing,
        p.opened_at,
    )

    # Nothing exited yet: realized P&L, exited quantity and value at their defaults.
    expected = attrs.evolve(p, realized_pnl=0, exited_quantity=0, exit_value=0)
    for field in attrs.fields(Position):
        assert getattr(fast, field.name) == getattr(expected, field.name), field.name
    assert type(fast) is Position
    assert fast == expected


@pytest.mark.parametrize("currency", list(FeeCurrency))
@pytest.mark.parametrize("side", list(OrderSide))
def test_opening_from_fills_gives_what_the_constructor_would_accept_unchanged(
    side: OrderSide, currency: FeeCurrency
) -> None:
    fills = [
        fill(side, "0.07", 45_000, "0.0001", fee_currency=currency, trade_id="T1"),
        fill(side, "0.03000000", "45100.5", "0.00002", fee_currency=currency, trade_id="T2"),
    ]

    position = (
        Position.open_from_fills(fills, id="P1", leverage=2, exit_fee_rate="0.0016")
        .unwrap()
        .position
    )

    # The constructor, run on the same values, converts nothing and refuses nothing.
    rebuilt = attrs.evolve(position)
    for field in attrs.fields(Position):
        assert getattr(position, field.name) == getattr(rebuilt, field.name), field.name
        if isinstance(getattr(position, field.name), Decimal):
            digits = getattr(position, field.name).as_tuple()
            assert digits == getattr(rebuilt, field.name).as_tuple(), field.name
    assert position.side is side.position_side
    assert position.opened_at == T0


def test_opening_a_subclass_of_position_goes_through_its_constructor() -> None:
    @attrs.frozen
    class Tagged(Position):
        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            object.__setattr__(self, "id", f"tagged-{self.id}")

    opened = Tagged.open_from_fills([fill(OrderSide.BUY, "0.1", 45_000)], id="P1").unwrap()

    assert type(opened.position) is Tagged
    assert opened.position.id == "tagged-P1"


# --------------------------------------------------------------------------- modify
def test_modify_moves_a_stop_to_a_valid_level() -> None:
    assert long_position().modify(stop_loss=44_500).unwrap().stop_loss == Decimal(44_500)


def test_modify_refuses_a_stop_on_the_wrong_side_of_the_entry() -> None:
    refusal = long_position().modify(stop_loss=45_100).failure()
    assert isinstance(refusal, WrongSideOfPrice)
    assert (refusal.field, refusal.reference) == ("stop_loss", "entry price")


def test_modify_refuses_a_stop_the_market_has_already_crossed() -> None:
    refusal = long_position().modify(stop_loss=44_500, current_price=44_400).failure()
    assert refusal == WrongSideOfPrice(
        symbol="BTC/USDT",
        field="stop_loss",
        limit=Decimal(44_400),
        actual=Decimal(44_500),
        relation="below",
        reference="current price",
    )


def test_modify_refuses_a_short_stop_the_market_has_already_crossed() -> None:
    short = Position("BTC/USDT", "short", 1, 45_000, stop_loss=46_000)
    assert short.modify(stop_loss=45_500, current_price=45_600).failure().field == "stop_loss"
    assert short.modify(stop_loss=45_500, current_price=45_400).unwrap().stop_loss == 45_500


def test_modify_refuses_a_take_profit_the_market_has_already_crossed() -> None:
    refusal = long_position().modify(take_profit=46_000, current_price=46_100).failure()
    assert refusal.field == "take_profit"


def test_modify_checks_only_the_changed_level_against_the_market() -> None:
    # The stop at 44000 is already crossed at 43900; moving the take-profit is still allowed.
    moved = long_position().modify(take_profit=48_000, current_price=43_900).unwrap()
    assert moved.take_profit == Decimal(48_000)


def test_modify_keeps_unchanged_levels_and_none_removes_one() -> None:
    position = long_position()
    assert position.modify(stop_loss=UNCHANGED).unwrap() == position
    removed = position.modify(take_profit=None).unwrap()
    assert (removed.stop_loss, removed.take_profit) == (Decimal(44_000), None)


def test_modify_with_events_reports_each_moved_level() -> None:
    change = long_position().modify_with_events(at=T1, stop_loss=44_500, take_profit=48_000)
    assert change.unwrap().events == (
        StopMoved(
            position_id="P1", old=Decimal(44_000), new=Decimal(44_500), reason="manual", at=T1
        ),
        TakeProfitMoved(position_id="P1", old=Decimal(47_000), new=Decimal(48_000), at=T1),
    )


def test_modify_with_events_reports_nothing_when_nothing_moved() -> None:
    change = long_position().modify_with_events(at=T1, stop_loss=44_000).unwrap()
    assert change == PositionChange(position=long_position())


# --------------------------------------------------------------------------- exposure
def test_exposure_helpers_value_the_open_size() -> None:
    position = Position("BTC/USDT", "long", "0.07", 45_000, leverage=3)
    assert position.notional_at(46_000) == Decimal(3220)
    assert position.cost_basis == Decimal(3150)
    assert position.margin == Decimal(1050)


def test_an_entry_buy_whose_base_fee_exceeds_its_quantity_is_refused() -> None:
    entry = fill(OrderSide.BUY, "0.001", 45_000, "0.002", fee_currency=FeeCurrency.BASE)

    opened = Position.open_from_fills([entry], id="p-1")
    added = long_position().apply_fill(
        fill(OrderSide.BUY, "0.001", 45_000, "0.002", fee_currency=FeeCurrency.BASE)
    )

    assert opened.failure().field == "fill.fee"
    assert added.failure().field == "fill.fee"
