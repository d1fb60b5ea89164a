"""execution-core against NautilusTrader, same workloads, same process: `nox -s bench_compare`.

1. create and validate a limit order;
2. apply submitted / accepted / filled to an order;
3. apply a fill to a position with 1, 1,000 and 10,000 earlier fills;
4. a position's unrealized P&L at a new price.

First both libraries replay the same scenario (`benchmarks.scenario`) and every compared
number must agree -- order size and price, filled quantity and average price, the position's
entry price and size, unrealized P&L, realized P&L net of fees after a round trip, the entry
price after 1,000 and 10,000 fills. If one differs, no ratio is printed: a benchmark of
different work proves nothing. Then the workloads run in alternating rounds (ours, theirs,
ours, theirs, ...) so that drift on a shared machine hits both sides alike, and the table shows
the ratio of medians ours / NautilusTrader with PASS or MISS against issue 5's targets. A miss
is reported, never a failure: the exit status is 0 unless the numbers disagree (1) or
NautilusTrader is not installed (2). The table is also written to
benchmarks/results/compare.json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from types import ModuleType
from typing import Any

import attrs

from benchmarks import ours, scenario
from benchmarks.harness import (
    DEFAULT_TARGET_SAMPLE_NS,
    Benchmark,
    Setup,
    calibrate,
    format_ns,
    machine,
    median,
    percentile,
    sample,
    table,
    write_json,
)

PRICE_TOLERANCE = Decimal("1e-9")
"""Relative: NautilusTrader averages prices in binary doubles, we in exact Decimals."""
MONEY_TOLERANCE = Decimal("1e-8")
"""Absolute, in quote: one unit of NautilusTrader's USDT precision."""


FILL_TARGETS = {1: 2.0, 10_000: 0.1}
"""Issue 5's targets for workload (3) by earlier fills (none is set at 1,000)."""


@attrs.frozen(kw_only=True)
class Workload:
    """One comparison row: the same operation built for both libraries, and its target."""

    key: str
    label: str
    ours: Setup
    theirs: Setup
    target: float | None
    theirs_max_batch: int = 100_000
    ours_max_batch: int = 100_000
    note: str = ""


@attrs.frozen(kw_only=True)
class Row:
    """A workload's figures after all rounds."""

    workload: Workload
    ours_ns: tuple[float, ...]
    theirs_ns: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """Median ours / median theirs."""
        return median(self.ours_ns) / median(self.theirs_ns)

    @property
    def verdict(self) -> str:
        """PASS, MISS, or `-` for a row without a target."""
        target = self.workload.target
        if target is None:
            return "-"
        return "PASS" if self.ratio <= target else "MISS"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping of the row."""
        return {
            "key": self.workload.key,
            "workload": self.workload.label,
            "ours_median_ns": round(median(self.ours_ns), 1),
            "ours_p95_ns": round(percentile(self.ours_ns, 95), 1),
            "nautilus_median_ns": round(median(self.theirs_ns), 1),
            "nautilus_p95_ns": round(percentile(self.theirs_ns, 95), 1),
            "ratio": round(self.ratio, 4),
            "target": self.workload.target,
            "verdict": self.verdict,
            "samples_per_side": len(self.ours_ns),
            "note": self.workload.note,
        }


def workloads(theirs: ModuleType) -> list[Workload]:
    """The comparison rows, in issue 5's order, with its targets."""
    rows = [
        Workload(
            key="create_validate",
            label="(1) create + validate a limit order",
            ours=ours.create_validate(),
            theirs=theirs.create_validate(),
            target=0.5,
        ),
        Workload(
            key="order_events",
            label="(2) submitted + accepted + filled",
            ours=ours.order_lifecycle(),
            theirs=theirs.order_lifecycle(),
            target=2.0,
        ),
    ]
    rows.extend(
        Workload(
            key=f"position_fill_{earlier}",
            label=f"(3) fill -> position, {earlier:,} earlier",
            ours=ours.position_fill(earlier),
            theirs=theirs.position_fill(earlier),
            target=FILL_TARGETS.get(earlier),
            theirs_max_batch=theirs.position_fill_max_batch(earlier),
        )
        for earlier in scenario.EARLIER_FILLS
    )
    rows.extend(
        [
            Workload(
                key="unrealized_pnl",
                label="(4) unrealized P&L at a new price",
                ours=ours.unrealized_pnl(include_fees=False),
                theirs=theirs.unrealized_pnl(),
                target=2.0,
                note="ours with include_fees=False: the same arithmetic as theirs",
            ),
            Workload(
                key="unrealized_pnl_with_fees",
                label="(4') the same, ours net of fees",
                ours=ours.unrealized_pnl(include_fees=True),
                theirs=theirs.unrealized_pnl(),
                target=None,
                note="informational: ours also deducts entry fees and the estimated exit fee",
            ),
        ]
    )
    return rows


# --------------------------------------------------------------------------- the same numbers
def differences(mine: ours.Figures, theirs: Any) -> list[tuple[str, str, str, bool]]:  # noqa: ANN401 - NautilusTrader's side is untyped
    """Every compared figure: (name, ours, theirs, equal within tolerance)."""

    def price(a: Decimal, b: Decimal) -> bool:
        return abs(a - b) <= PRICE_TOLERANCE * max(abs(a), abs(b))

    def money(a: Decimal, b: Decimal) -> bool:
        return abs(a - b) <= MONEY_TOLERANCE

    def exact(a: object, b: object) -> bool:
        return a == b

    checks: list[tuple[str, object, object, Callable[[Any, Any], bool]]] = [
        ("(1) order size", mine.order_size, theirs.order_size, exact),
        ("(1) order price", mine.order_price, theirs.order_price, exact),
        ("(2) order status", mine.order_status, theirs.order_status, exact),
        ("(2) filled size", mine.order_filled, theirs.order_filled, exact),
        ("(2) average fill price", mine.order_average_price, theirs.order_average_price, price),
        ("(3) entry price (VWAP)", mine.entry_price, theirs.entry_price, price),
        ("(3) size", mine.size, theirs.size, exact),
        (
            "(4) unrealized at new price",
            mine.unrealized_at_new_price,
            theirs.unrealized_at_new_price,
            money,
        ),
        ("realized net of fees", mine.realized_net, theirs.realized_net, money),
    ]
    checks.extend(
        (
            f"(3) entry price after {n:,} fills",
            mine.entry_price_after_earlier[n],
            theirs.entry_price_after_earlier[n],
            price,
        )
        for n in scenario.EARLIER_FILLS
    )
    return [(name, _show(a), _show(b), same(a, b)) for name, a, b, same in checks]


def _show(value: object) -> str:
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


# --------------------------------------------------------------------------- rounds
def run_rounds(
    rows: Sequence[Workload], *, rounds: int, samples_per_round: int, target_sample_ns: int
) -> list[Row]:
    """Calibrate and warm up both sides, then alternate ours / theirs for `rounds` rounds."""
    plans: list[tuple[Workload, Benchmark, int, Benchmark, int]] = []
    for w in rows:
        mine = Benchmark(name=w.label, setup=w.ours, max_batch=w.ours_max_batch)
        other = Benchmark(name=w.label, setup=w.theirs, max_batch=w.theirs_max_batch)
        print(f"  calibrating {w.label} ...", file=sys.stderr, flush=True)
        mine_batch = calibrate(mine, target_sample_ns=target_sample_ns)
        other_batch = calibrate(other, target_sample_ns=target_sample_ns)
        sample(mine, batch=mine_batch, count=3)
        sample(other, batch=other_batch, count=3)
        plans.append((w, mine, mine_batch, other, other_batch))
    collected: dict[str, tuple[list[float], list[float]]] = {w.key: ([], []) for w in rows}
    for r in range(rounds):
        print(f"  round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for w, mine, mine_batch, other, other_batch in plans:
            ours_samples, theirs_samples = collected[w.key]
            ours_samples.extend(sample(mine, batch=mine_batch, count=samples_per_round))
            theirs_samples.extend(sample(other, batch=other_batch, count=samples_per_round))
    return [
        Row(workload=w, ours_ns=tuple(collected[w.key][0]), theirs_ns=tuple(collected[w.key][1]))
        for w in rows
    ]


def ratio_table(rows: Sequence[Row]) -> str:
    """Ours and NautilusTrader's medians and p95s, the ratio, the target and the verdict."""
    header = [
        "workload",
        "ours median",
        "ours p95",
        "NT median",
        "NT p95",
        "ours/NT",
        "target",
        "",
    ]
    body = [
        [
            row.workload.label,
            format_ns(median(row.ours_ns)),
            format_ns(percentile(row.ours_ns, 95)),
            format_ns(median(row.theirs_ns)),
            format_ns(percentile(row.theirs_ns, 95)),
            f"{row.ratio:.2f}",
            f"<= {row.workload.target}" if row.workload.target is not None else "",
            row.verdict,
        ]
        for row in rows
    ]
    return table(header, body)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--samples", type=int, default=11, help="samples per side per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 short samples")
    parser.add_argument("-k", "--filter", default="", help="only workloads containing this text")
    return parser


def _import_nautilus() -> ModuleType | None:
    try:
        from benchmarks import nautilus_workloads  # noqa: PLC0415 - optional, only here
    except ImportError as error:
        print(
            f"NautilusTrader is not importable ({error}); run `nox -s bench_compare`, "
            "which installs nautilus_trader==1.231.0 in its own environment.",
            file=sys.stderr,
        )
        return None
    return nautilus_workloads


def main(argv: Sequence[str] | None = None) -> int:
    """Check the numbers agree, run the rounds, print and write the ratios."""
    args = _parser().parse_args(argv)
    theirs = _import_nautilus()
    if theirs is None:
        return 2
    info = machine()
    print(
        f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}; "
        f"{ours.LIBRARY} vs {theirs.LIBRARY} {theirs.version()}\n"
    )
    their_figures = theirs.figures()
    mine = ours.figures(*ours.planned_size_and_price())
    checked = differences(mine, their_figures)
    print("same numbers for the same fills:")
    print(
        table(
            ["figure", ours.LIBRARY, theirs.LIBRARY, ""],
            [[name, a, b, "same" if ok else "DIFFERENT"] for name, a, b, ok in checked],
        )
    )
    payload: dict[str, Any] = {
        "nautilus_trader": theirs.version(),
        "equivalence": [
            {"figure": name, "ours": a, "nautilus": b, "same": ok} for name, a, b, ok in checked
        ],
    }
    if not all(ok for *_, ok in checked):
        print("\nThe libraries disagree: no ratios (a benchmark of different work proves nothing).")
        write_json("compare", {**payload, "results": [], "refused": True})
        return 1
    quick = args.quick
    rows = [w for w in workloads(theirs) if args.filter.lower() in w.label.lower()]
    results = run_rounds(
        rows,
        rounds=3 if quick else args.rounds,
        samples_per_round=3 if quick else args.samples,
        target_sample_ns=50_000 if quick else DEFAULT_TARGET_SAMPLE_NS,
    )
    print("\nours / NautilusTrader, medians (alternating rounds, same process):")
    print(ratio_table(results))
    misses = [r.workload.label for r in results if r.verdict == "MISS"]
    if misses:
        print(f"\nMISS ({len(misses)}): " + "; ".join(misses) + " (reported, not a failure)")
    path = write_json("compare", {**payload, "results": [r.as_json() for r in results]})
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
