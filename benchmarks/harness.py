"""A small benchmark harness: warm-up, many samples, median / p95 / ops/s, optional memory.

A `Benchmark` names an operation and a `setup(n)` that builds, untimed, everything `n`
operations need and returns a runner that performs exactly those `n` operations. The harness
times only the runner, so per-operation inputs (a fresh mutable order, a new trade id) cost
nothing. One *sample* is the mean time per operation over one runner call of `batch`
operations; `batch` is calibrated so that a sample lasts about `target_sample_ns`, which keeps
the timer's resolution out of the figures. Median and p95 are taken over the samples.

The garbage collector is disabled while a runner is timed, as `timeit` does, and runs as usual
in between. It is deliberately not forced before a sample: a full collection walks the whole heap
(NautilusTrader's imports make it large) and leaves the caches cold, which was seen to add
~200 us to the first operation after it.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

Runner = Callable[[], object]
"""Performs the `n` operations its setup prepared."""

Setup = Callable[[int], Runner]
"""Builds (untimed) what `n` operations need and returns the runner that performs them."""

RESULTS_DIR = Path(__file__).parent / "results"

DEFAULT_SAMPLES = 101
DEFAULT_WARMUP_SAMPLES = 5
DEFAULT_TARGET_SAMPLE_NS = 500_000
_NS_PER_S = 1_000_000_000


@attrs.frozen(kw_only=True)
class Benchmark:
    """One measured operation.

    `max_batch` caps the operations per sample where `setup` builds a costly object per
    operation (a fresh position with 10,000 fills, say). `memory=True` adds a tracemalloc pass.
    """

    name: str
    setup: Setup
    group: str = ""
    memory: bool = False
    max_batch: int = 100_000
    target_ns: float | None = None
    """A median the operation should stay under (printed PASS / MISS, never a failure)."""
    note: str = ""

    @property
    def label(self) -> str:
        """`group: name`, as printed in the table."""
        return f"{self.group}: {self.name}" if self.group else self.name


def repeat(operation: Callable[[], object], n: int) -> Runner:
    """A runner calling `operation` `n` times (for operations that need no fresh input)."""
    rounds = range(n)

    def run() -> None:
        for _ in rounds:
            operation()

    return run


@attrs.frozen
class Memory:
    """tracemalloc figures: bytes retained by what `setup(1)` built, and one operation's peak."""

    state_bytes: int
    peak_bytes: int


@attrs.frozen(kw_only=True)
class Measurement:
    """The figures of one benchmark: per-operation times in nanoseconds."""

    label: str
    samples_ns: tuple[float, ...]
    batch: int
    memory: Memory | None = None
    target_ns: float | None = None
    note: str = ""

    @property
    def median_ns(self) -> float:
        """The median time per operation."""
        return median(self.samples_ns)

    @property
    def p95_ns(self) -> float:
        """The 95th percentile time per operation (over samples, each a mean of `batch` ops)."""
        return percentile(self.samples_ns, 95)

    @property
    def ops_per_s(self) -> float:
        """Operations per second at the median."""
        return _NS_PER_S / self.median_ns if self.median_ns > 0 else math.inf

    @property
    def verdict(self) -> str:
        """`<= 10 us PASS` / `<= 10 us MISS` against the target, or empty without one."""
        if self.target_ns is None:
            return ""
        outcome = "PASS" if self.median_ns <= self.target_ns else "MISS"
        return f"<= {format_ns(self.target_ns)} {outcome}"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready mapping of the figures."""
        return {
            "operation": self.label,
            "median_ns": round(self.median_ns, 1),
            "p95_ns": round(self.p95_ns, 1),
            "ops_per_s": round(self.ops_per_s, 1),
            "samples": len(self.samples_ns),
            "batch": self.batch,
            "memory": attrs.asdict(self.memory) if self.memory is not None else None,
            "target_ns": self.target_ns,
            "verdict": self.verdict.rsplit(" ", 1)[-1] if self.verdict else None,
            "note": self.note,
        }


# --------------------------------------------------------------------------- statistics
def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile, interpolated linearly between the closest ranks.

    The same definition as numpy's default: rank `(n - 1) * q / 100` in the sorted samples.

    >>> percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50)
    3.0
    >>> percentile([float(i) for i in range(1, 101)], 95)
    95.05
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within [0, 100] (got {q})")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    """The median (the mean of the two middle samples for an even count).

    >>> median([3.0, 1.0, 2.0, 10.0])
    2.5
    """
    return percentile(samples, 50)


# --------------------------------------------------------------------------- timing
def time_once(setup: Setup, n: int) -> int:
    """Nanoseconds one runner of `n` operations takes, with the collector off while timed."""
    runner = setup(n)
    gc.disable()
    try:
        start = time.perf_counter_ns()
        runner()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed


def calibrate(bench: Benchmark, *, target_sample_ns: int = DEFAULT_TARGET_SAMPLE_NS) -> int:
    """The batch size making one sample last about `target_sample_ns` (at most `max_batch`)."""
    n = 1
    while True:
        elapsed = max(time_once(bench.setup, n), 1)
        if elapsed >= target_sample_ns // 4 or n >= bench.max_batch:
            break
        n = min(bench.max_batch, n * 10)
    per_op = elapsed / n
    return max(1, min(bench.max_batch, math.ceil(target_sample_ns / per_op)))


def sample(bench: Benchmark, *, batch: int, count: int) -> list[float]:
    """`count` samples, each the mean nanoseconds per operation over `batch` operations."""
    return [time_once(bench.setup, batch) / batch for _ in range(count)]


def measure_memory(bench: Benchmark) -> Memory:
    """Bytes retained by `setup(1)`'s state and the peak allocated while its one op ran."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        runner = bench.setup(1)
        after_setup, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        runner()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Memory(state_bytes=after_setup - before, peak_bytes=max(0, peak - after_setup))


def measure(
    bench: Benchmark,
    *,
    samples: int = DEFAULT_SAMPLES,
    warmup: int = DEFAULT_WARMUP_SAMPLES,
    target_sample_ns: int = DEFAULT_TARGET_SAMPLE_NS,
) -> Measurement:
    """Warm up, calibrate the batch, take `samples` samples (and memory when asked)."""
    batch = calibrate(bench, target_sample_ns=target_sample_ns)
    sample(bench, batch=batch, count=warmup)
    timings = sample(bench, batch=batch, count=samples)
    memory = measure_memory(bench) if bench.memory else None
    return Measurement(
        label=bench.label,
        samples_ns=tuple(timings),
        batch=batch,
        memory=memory,
        target_ns=bench.target_ns,
        note=bench.note,
    )


# --------------------------------------------------------------------------- output
def format_ns(ns: float) -> str:
    """A duration for a human: `850 ns`, `12.3 us`, `1.25 ms`, `2.00 s`.

    >>> format_ns(850.4), format_ns(12_345.0), format_ns(1_250_000.0)
    ('850 ns', '12.3 us', '1.25 ms')
    """
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.3g} us"
    if ns < _NS_PER_S:
        return f"{ns / 1_000_000:.3g} ms"
    return f"{ns / _NS_PER_S:.3g} s"


def format_bytes(count: int) -> str:
    """A byte count for a human: `512 B`, `3.4 KiB`, `1.2 MiB`.

    >>> format_bytes(512), format_bytes(3_482), format_bytes(1_258_291)
    ('512 B', '3.4 KiB', '1.2 MiB')
    """
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An aligned text table: the first column left-aligned, the others right-aligned."""
    all_rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(all_rows[0]), rule, *(line(r) for r in all_rows[1:])])


def measurement_table(measurements: Sequence[Measurement]) -> str:
    """The table `operation, median, p95, ops/s` (+ target and memory where any has one)."""
    with_target = any(m.target_ns is not None for m in measurements)
    with_memory = any(m.memory is not None for m in measurements)
    header = ["operation", "median", "p95", "ops/s"]
    if with_target:
        header.append("target (median)")
    if with_memory:
        header.append("memory (state / op peak)")
    rows: list[list[str]] = []
    for m in measurements:
        row = [m.label, format_ns(m.median_ns), format_ns(m.p95_ns), f"{m.ops_per_s:,.0f}"]
        if with_target:
            row.append(m.verdict)
        if with_memory:
            row.append(
                f"{format_bytes(m.memory.state_bytes)} / {format_bytes(m.memory.peak_bytes)}"
                if m.memory is not None
                else ""
            )
        rows.append(row)
    return table(header, rows)


def machine() -> dict[str, str | int | None]:
    """The machine the figures were taken on: cores, CPU model, Python, platform."""
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or None
    for raw in text.splitlines():
        key, _, value = raw.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return None


def write_json(name: str, payload: Mapping[str, Any], *, directory: Path = RESULTS_DIR) -> Path:
    """Write `payload` (plus the machine and a UTC timestamp) to `directory/name.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "argv": sys.argv,
        **payload,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
