"""Benchmarks: figures printed by `python -m benchmarks.run` (nox -s bench), never timed tests.

Every `benchmarks/bench_*.py` module defines `register() -> Iterable[Benchmark]` (or a
`BENCHMARKS` sequence); `benchmarks.run` discovers them all. `benchmarks.compare`
(nox -s bench_compare) runs the same workloads through NautilusTrader, alternating, and prints
ratios. See docs/performance.md.
"""
