"""The worked example of docs/quickstart.md, as a program.

Run it with `python -m execution_core.examples.quickstart`.

It walks the review's own scenario through the pure domain: a limit buy of 4,500 USDT of BTC at
45,000 is planned (0.1 BTC), 0.07 BTC of it fills, the position is opened from that fill, valued
with fees, its stop trails, and the remainder is cancelled. Every number printed is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from returns.result import Failure, Success

from execution_core import (
    ExecutionConfig,
    Fill,
    LiquidityRole,
    Position,
    TradeProposal,
    TrailingStop,
    apply_fill,
    cancel,
    default_instruments,
    plan_order,
    submit,
)
from execution_core.domain.order_states import accept

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def run() -> list[str]:
    """Run the scenario and return the report lines."""
    lines: list[str] = []
    instrument = default_instruments().get("BTC/USDT").unwrap()
    config = ExecutionConfig()

    too_small = TradeProposal("BTC/USDT", "buy", "2.25", entry_price=45_000)
    match plan_order(too_small, instrument, config):
        case Failure(refusal):
            lines.append(f"refused: {refusal.message}")
        case Success(order):  # pragma: no cover - the minimum is 0.0001 BTC
            lines.append(f"unexpected order {order.size}")

    proposal = TradeProposal(
        "BTC/USDT",
        "buy",
        4_500,
        entry_price=45_000,
        stop_loss=44_500,
        take_profit=47_000,
        proposal_id="quickstart-1",
    )
    order = plan_order(proposal, instrument, config).unwrap()
    lines.append(
        f"planned: {order.side} {order.size} {order.symbol} @ {order.price} ({order.order_type})"
    )

    market = TradeProposal("BTC/USDT", "buy", 4_500, proposal_id="quickstart-2")
    protected = plan_order(market, instrument, config, reference_price=Decimal(45_000)).unwrap()
    lines.append(
        f"protected market buy at reference 45000: limit {protected.price} "
        f"{protected.time_in_force}"
    )

    order = submit(order, at=START).unwrap().order
    order = accept(order, exchange_order_id="OABCDE-FGHIJ-KLMNOP", at=START).unwrap().order
    fill = Fill(
        trade_id="TAAAAA-BBBBB-CCCCCC",
        order_id=order.id,
        symbol=order.symbol,
        side=order.side,
        quantity=Decimal("0.07"),
        price=Decimal(45_000),
        fee=Decimal("7.875"),
        liquidity=LiquidityRole.MAKER,
        timestamp=START + timedelta(seconds=3),
    )
    order = apply_fill(order, fill, at=fill.timestamp).unwrap().order
    again = apply_fill(order, fill, at=fill.timestamp).unwrap()
    lines.append(
        f"filled {order.filled_size} of {order.size} ({order.status}); "
        f"the same trade again adds {len(again.events)} events"
    )

    position = (
        Position.open_from_fills(
            [fill],
            id=order.id,
            stop_loss=proposal.stop_loss,
            take_profit=proposal.take_profit,
            trailing=TrailingStop(activation_pct=Decimal(1), distance_pct=Decimal("1.5")),
        )
        .unwrap()
        .position
    )
    lines.append(
        f"position: {position.side} {position.size} BTC @ {position.entry_price}, "
        f"exposure {position.notional_at(position.entry_price)} USDT"
    )
    pnl, pct = position.calculate_pnl(Decimal(46_000))
    gross, _ = position.calculate_pnl(Decimal(46_000), include_fees=False)
    lines.append(f"P&L at 46000: {gross} gross, {pnl} after fees ({pct:.4f}% of margin)")

    trailed = position.trail(Decimal(45_450))
    lines.append(f"high 45450 with a 1.5% trail: stop {position.stop_loss} -> {trailed.stop_loss}")

    done = cancel(order, reason="limit order timeout", at=START + timedelta(minutes=10))
    final = done.unwrap().order
    lines.append(f"remainder cancelled: {final.status}, filled stays {final.filled_size}")
    return lines


def main() -> None:
    """Print the scenario's report."""
    for line in run():
        print(line)  # noqa: T201 - this program's output is its report


if __name__ == "__main__":
    main()
