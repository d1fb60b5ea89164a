"""Run every benchmark in benchmarks/: `python -m benchmarks.run` (nox -s bench).

Discovery: every module `benchmarks/bench_*.py` is imported and asked for its benchmarks, by
calling its `register() -> Iterable[Benchmark]` or, failing that, reading its `BENCHMARKS`
sequence. A new area adds a new `bench_<area>.py`; nothing here changes. A module that fails
to import or to register, or a benchmark that raises, is reported and makes the run exit
non-zero, after the others ran.

Prints one table (operation, median, p95, ops/s, and memory where a benchmark asks for it)
and writes it to benchmarks/results/bench.json (git-ignored).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Iterable, Sequence
from types import ModuleType

import benchmarks
from benchmarks.harness import (
    DEFAULT_SAMPLES,
    DEFAULT_TARGET_SAMPLE_NS,
    Benchmark,
    Measurement,
    machine,
    measure,
    measurement_table,
    write_json,
)

PREFIX = "bench_"


def module_names() -> list[str]:
    """The importable names of every `benchmarks/bench_*.py`, sorted."""
    return sorted(
        f"{benchmarks.__name__}.{info.name}"
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith(PREFIX)
    )


def benchmarks_of(module: ModuleType) -> list[Benchmark]:
    """The benchmarks a module declares through `register()` or `BENCHMARKS`."""
    register = getattr(module, "register", None)
    declared: Iterable[object] = (
        register() if callable(register) else getattr(module, "BENCHMARKS", ())
    )
    found = list(declared)
    wrong = [b for b in found if not isinstance(b, Benchmark)]
    if wrong:
        raise TypeError(f"{module.__name__} declares non-Benchmark values: {wrong!r}")
    if not found:
        raise LookupError(f"{module.__name__} declares no benchmarks (register() or BENCHMARKS)")
    return [b for b in found if isinstance(b, Benchmark)]


def discover(names: Sequence[str]) -> tuple[list[Benchmark], list[str]]:
    """Import each module and collect its benchmarks; failures are returned, not raised."""
    found: list[Benchmark] = []
    failures: list[str] = []
    for name in names:
        try:
            found.extend(benchmarks_of(importlib.import_module(name)))
        except Exception:  # noqa: BLE001 - one broken module must not hide the others' figures
            failures.append(f"{name}: {traceback.format_exc(limit=3)}")
    return found, failures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("-k", "--filter", default="", help="only operations containing this text")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="samples per op")
    parser.add_argument(
        "--target-sample-us",
        type=int,
        default=DEFAULT_TARGET_SAMPLE_NS // 1000,
        help="calibrate each sample to last about this long",
    )
    parser.add_argument("--quick", action="store_true", help="11 short samples: a smoke run")
    parser.add_argument("--json-name", default="bench", help="results/<name>.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Discover, measure, print the table, write the JSON; non-zero if a module failed."""
    args = _parser().parse_args(argv)
    samples = 11 if args.quick else args.samples
    target_ns = 50_000 if args.quick else args.target_sample_us * 1000
    found, failures = discover(module_names())
    selected = [b for b in found if args.filter.lower() in b.label.lower()]
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}")
    measurements: list[Measurement] = []
    for bench in selected:
        print(f"  measuring {bench.label} ...", file=sys.stderr, flush=True)
        try:
            measurements.append(measure(bench, samples=samples, target_sample_ns=target_ns))
        except Exception:  # noqa: BLE001 - report the broken benchmark, measure the others
            failures.append(f"{bench.label}: {traceback.format_exc(limit=4)}")
    print(measurement_table(measurements))
    path = write_json(
        args.json_name,
        {
            "samples": samples,
            "results": [m.as_json() for m in measurements],
            "failures": failures,
        },
    )
    print(f"\nwritten: {path}")
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
