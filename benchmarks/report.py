"""Markdown tables from the last results: `python -m benchmarks.report` (for docs/performance.md).

Reads benchmarks/results/bench.json (`nox -s bench`) and compare.json (`nox -s bench_compare`)
and prints the tables docs/performance.md quotes, so the page never carries hand-copied figures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULTS_DIR, format_bytes, format_ns


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _machine(document: dict[str, Any]) -> str:
    m = document["machine"]
    return (
        f"{m['nproc']} cores, {m['cpu_model']}, {m['implementation']} {m['python']}, "
        f"taken {document['taken_at']}"
    )


def bench_table(document: dict[str, Any]) -> str:
    """The `nox -s bench` table."""
    rows = [
        [
            r["operation"],
            format_ns(r["median_ns"]),
            format_ns(r["p95_ns"]),
            f"{r['ops_per_s']:,.0f}",
            (f"<= {format_ns(r['target_ns'])}: {r['verdict']}" if r.get("target_ns") else ""),
            _memory(r.get("memory")),
        ]
        for r in document["results"]
    ]
    header = ["operation", "median", "p95", "ops/s", "target", "peak allocated per op"]
    return _markdown(header, rows, "lrrrlr")


def _memory(memory: dict[str, int] | None) -> str:
    return format_bytes(memory["peak_bytes"]) if memory else ""


def compare_table(document: dict[str, Any]) -> str:
    """The `nox -s bench_compare` table."""
    rows = [
        [
            r["workload"],
            format_ns(r["ours_median_ns"]),
            format_ns(r["nautilus_median_ns"]),
            f"{r['ratio']:.2f}",
            f"<= {r['target']}" if r["target"] is not None else "",
            r["verdict"] if r["verdict"] != "-" else "",
        ]
        for r in document["results"]
    ]
    header = ["workload", "ours (median)", "NautilusTrader (median)", "ours / NT", "target", ""]
    return _markdown(header, rows, "lrrrll")


def main(directory: Path = RESULTS_DIR) -> int:
    """Print whichever tables have results."""
    printed = False
    for name, render in (("bench", bench_table), ("compare", compare_table)):
        path = directory / f"{name}.json"
        if not path.exists():
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        print(f"<!-- {name}.json: {_machine(document)} -->")
        print(render(document))
        print()
        printed = True
    if not printed:
        print(f"no results in {directory}: run `nox -s bench` / `nox -s bench_compare`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
