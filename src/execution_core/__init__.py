"""execution-core: trade proposals in, safe Kraken orders out, and an exact, fee-aware book.

The names below are the public API. Domain values and rules are pure and synchronous; the
service layer (`OrderExecutionManager`, `PositionTracker`) orchestrates them over the ports.
"""

from __future__ import annotations

from execution_core.config import ConfigError, ExecutionConfig
from execution_core.domain import events, refusals
from execution_core.domain.enums import (
    FeeCurrency,
    LiquidityRole,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    SymbolStatus,
    TimeInForce,
    TradingState,
    TriggerKind,
)
from execution_core.domain.fees import KRAKEN_SPOT_FEES, FeeCharge, FeeSchedule, FeeTier
from execution_core.domain.instruments import Instrument, Instruments, default_instruments
from execution_core.domain.numbers import InvalidNumber, to_decimal
from execution_core.domain.order_states import (
    TRANSITIONS,
    OrderEventKind,
    OrderTransition,
    accept,
    amend,
    apply_executed_volume,
    apply_fill,
    cancel,
    expire,
    reject,
    submit,
)
from execution_core.domain.orders import Fill, Order
from execution_core.domain.positions import InvalidPosition, Position, PositionChange
from execution_core.domain.proposals import TradeProposal, plan_order
from execution_core.domain.refusals import Refusal
from execution_core.domain.risk import RiskSnapshot, check_pre_trade
from execution_core.domain.rounding import (
    round_limit_price,
    round_size,
    round_stop_loss,
    round_take_profit,
    slippage_cap,
)
from execution_core.domain.trailing import TrailingStop
from execution_core.domain.triggers import (
    Trigger,
    TriggerIndex,
    check_bar_triggers,
    check_sl_tp_triggers,
    trigger_on_bar,
    trigger_on_price,
)

__all__ = [
    "KRAKEN_SPOT_FEES",
    "TRANSITIONS",
    "ConfigError",
    "ExecutionConfig",
    "FeeCharge",
    "FeeCurrency",
    "FeeSchedule",
    "FeeTier",
    "Fill",
    "Instrument",
    "Instruments",
    "InvalidNumber",
    "InvalidPosition",
    "LiquidityRole",
    "Order",
    "OrderEventKind",
    "OrderRole",
    "OrderSide",
    "OrderStatus",
    "OrderTransition",
    "OrderType",
    "Position",
    "PositionChange",
    "PositionSide",
    "Refusal",
    "RiskSnapshot",
    "SymbolStatus",
    "TimeInForce",
    "TradeProposal",
    "TradingState",
    "TrailingStop",
    "Trigger",
    "TriggerIndex",
    "TriggerKind",
    "accept",
    "amend",
    "apply_executed_volume",
    "apply_fill",
    "cancel",
    "check_bar_triggers",
    "check_pre_trade",
    "check_sl_tp_triggers",
    "default_instruments",
    "events",
    "expire",
    "plan_order",
    "refusals",
    "reject",
    "round_limit_price",
    "round_size",
    "round_stop_loss",
    "round_take_profit",
    "slippage_cap",
    "submit",
    "to_decimal",
    "trigger_on_bar",
    "trigger_on_price",
]
