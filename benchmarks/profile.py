"""Where our time goes: cProfile over the comparison workloads, `python -m benchmarks.profile`.

Runs each of execution-core's comparison workloads many times under cProfile and prints the
functions with the most own time (`tottime`), per operation. cProfile's own overhead inflates
every call by roughly the same amount, so read the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Callable, Sequence

from benchmarks import ours

WORKLOADS: dict[str, Callable[[], Callable[[int], Callable[[], object]]]] = {
    "create_validate": ours.create_validate,
    "order_events": ours.order_lifecycle,
    "position_fill": lambda: ours.position_fill(10_000),
    "order_and_position_fill": lambda: ours.order_and_position_fill(10_000),
    "unrealized_pnl": lambda: ours.unrealized_pnl(include_fees=False),
}


def profile(name: str, *, operations: int, top: int) -> str:
    """The `top` functions by own time over `operations` runs of workload `name`."""
    runner = WORKLOADS[name]()(operations)
    runner()  # warm-up outside the profile
    runner = WORKLOADS[name]()(operations)
    profiler = cProfile.Profile()
    profiler.runcall(runner)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    total = stats.total_tt  # type: ignore[attr-defined]  # pstats keeps it as an attribute
    header = f"== {name}: {total / operations * 1e6:.2f} us per operation under cProfile\n"
    return header + out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Profile the named workloads (all by default) and print the top functions."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"workloads (default all): {', '.join(WORKLOADS)}")
    parser.add_argument("-n", "--operations", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    for name in args.names or list(WORKLOADS):
        print(profile(name, operations=args.operations, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
