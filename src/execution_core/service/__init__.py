"""The async orchestration over the ports (docs/execution-service.md).

The order manager, the position tracker, and the pure reconciliation and bookkeeping they share.
"""

from __future__ import annotations

from execution_core.service.manager import OrderExecutionManager, PositionBook
from execution_core.service.order_book import OrderBook
from execution_core.service.reconcile import (
    OrderUpdate,
    ReconciliationPlan,
    order_from_report,
    reconcile,
    reconcile_order,
)
from execution_core.service.results import (
    ExecutionResult,
    KillSwitchResult,
    OrderControl,
    PollSummary,
    ReconciliationSummary,
)
from execution_core.service.retry import Pacer, RetryPolicy, TokenBucket
from execution_core.service.statistics import ExecutionStatistics, StatisticsSnapshot
from execution_core.service.tasks import OrderTaskError, SupervisedLoop
from execution_core.service.tracker import PositionTracker

__all__ = [
    "ExecutionResult",
    "ExecutionStatistics",
    "KillSwitchResult",
    "OrderBook",
    "OrderControl",
    "OrderExecutionManager",
    "OrderTaskError",
    "OrderUpdate",
    "Pacer",
    "PollSummary",
    "PositionBook",
    "PositionTracker",
    "ReconciliationPlan",
    "ReconciliationSummary",
    "RetryPolicy",
    "StatisticsSnapshot",
    "SupervisedLoop",
    "TokenBucket",
    "order_from_report",
    "reconcile",
    "reconcile_order",
]
