"""Paper trading: the execution service on a simulated Kraken, driven by a strategy.

`python -m adapters.paper` runs it from the command line (docs/paper-trading.md);
`run_paper(PaperConfig(...), strategy)` runs it from code and returns the `PaperReport`.
"""

from adapters.paper.market import Bar, RandomWalk
from adapters.paper.report import Invariant, PaperReport, PositionLine, format_report
from adapters.paper.run import PaperConfig, main, run_paper
from adapters.paper.strategy import PaperProposal, Strategy, StrategyView, default_strategy

__all__ = [
    "Bar",
    "Invariant",
    "PaperConfig",
    "PaperProposal",
    "PaperReport",
    "PositionLine",
    "RandomWalk",
    "Strategy",
    "StrategyView",
    "default_strategy",
    "format_report",
    "main",
    "run_paper",
]
