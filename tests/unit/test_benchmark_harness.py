"""The benchmark harness's statistics and plumbing (its figures are printed, never asserted)."""

from __future__ import annotations

import doctest
import json
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

# benchmarks/ is a top-level folder of the repository, not part of the installed distribution.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks import harness  # noqa: E402 - importable only once the repository root is on the path
from benchmarks.compare import differences  # noqa: E402 - ditto
from benchmarks.harness import Benchmark, Measurement, Memory  # noqa: E402 - ditto
from benchmarks.ours import Figures  # noqa: E402 - ditto
from benchmarks.run import benchmarks_of  # noqa: E402 - ditto


def test_the_median_of_an_even_count_is_the_mean_of_the_two_middle_samples() -> None:
    assert harness.median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_the_median_of_an_odd_count_is_the_middle_sample() -> None:
    assert harness.median([9.0, 1.0, 5.0]) == 5.0


def test_the_p95_interpolates_between_the_closest_ranks() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert harness.percentile(samples, 95) == pytest.approx(95.05)
    assert harness.percentile(samples, 0) == 1.0
    assert harness.percentile(samples, 100) == 100.0


def test_the_p95_of_one_sample_is_that_sample() -> None:
    assert harness.percentile([7.0], 95) == 7.0


def test_a_percentile_of_no_samples_or_out_of_range_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no samples"):
        harness.percentile([], 50)
    with pytest.raises(ValueError, match="within"):
        harness.percentile([1.0], 101)


def test_a_measurement_reports_median_p95_and_ops_per_second_of_its_samples() -> None:
    m = Measurement(label="op", samples_ns=(1_000.0, 2_000.0, 3_000.0, 4_000.0, 100_000.0), batch=1)
    assert m.median_ns == 3_000.0
    assert m.p95_ns == pytest.approx(4_000.0 + (100_000.0 - 4_000.0) * 0.8)
    assert m.ops_per_s == pytest.approx(1e9 / 3_000.0)
    assert m.as_json()["median_ns"] == 3_000.0


def test_measure_times_exactly_the_operations_the_runner_was_built_for() -> None:
    built: list[int] = []
    performed: list[int] = []

    def setup(n: int) -> harness.Runner:
        built.append(n)
        return harness.repeat(lambda: performed.append(1), n)

    bench = Benchmark(name="append", setup=setup, max_batch=8)
    result = harness.measure(bench, samples=7, warmup=2, target_sample_ns=10**9)
    assert len(result.samples_ns) == 7
    assert result.batch == 8
    assert built[-9:] == [8] * 9
    assert len(performed) == sum(built)
    assert all(s > 0 for s in result.samples_ns)


def test_memory_counts_the_state_setup_built_and_the_operations_peak() -> None:
    def setup(n: int) -> harness.Runner:
        state = [bytearray(100_000)]

        def run() -> None:
            for _ in range(n):
                state.append(bytearray(50_000))
                state.pop()

        return run

    memory = harness.measure_memory(Benchmark(name="m", setup=setup))
    assert memory.state_bytes >= 100_000
    assert 50_000 <= memory.peak_bytes < 100_000


def test_the_table_aligns_every_column() -> None:
    rows = [
        Measurement(label="short", samples_ns=(850.0,), batch=1),
        Measurement(
            label="a much longer operation",
            samples_ns=(12_345.0,),
            batch=1,
            memory=Memory(state_bytes=2048, peak_bytes=512),
        ),
    ]
    lines = harness.measurement_table(rows).splitlines()
    assert lines[0].split()[:2] == ["operation", "median"]
    assert "850 ns" in lines[2]
    assert "12.3 us" in lines[3]
    assert "2.0 KiB / 512 B" in lines[3]
    assert lines[0].index("median") + len("median") == lines[2].index("850 ns") + len("850 ns")


def test_results_are_written_as_json_with_the_machine(tmp_path: Path) -> None:
    path = harness.write_json("x", {"results": [1]}, directory=tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["results"] == [1]
    assert document["machine"]["nproc"] >= 1
    assert document["machine"]["python"].startswith("3.")


def test_a_module_declares_benchmarks_by_register_or_by_a_benchmarks_list() -> None:
    bench = Benchmark(name="x", setup=lambda n: harness.repeat(int, n))
    by_function = ModuleType("bench_a")
    by_function.register = lambda: [bench]  # type: ignore[attr-defined]  # a module built here
    by_list = ModuleType("bench_b")
    by_list.BENCHMARKS = (bench,)  # type: ignore[attr-defined]  # ditto
    assert benchmarks_of(by_function) == [bench]
    assert benchmarks_of(by_list) == [bench]


def test_a_module_declaring_nothing_or_something_else_is_reported() -> None:
    empty = ModuleType("bench_empty")
    wrong = ModuleType("bench_wrong")
    wrong.BENCHMARKS = ("not a benchmark",)  # type: ignore[attr-defined]  # a module built here
    with pytest.raises(LookupError, match="declares no benchmarks"):
        benchmarks_of(empty)
    with pytest.raises(TypeError, match="non-Benchmark"):
        benchmarks_of(wrong)


def test_the_harness_doctests_hold() -> None:
    outcome = doctest.testmod(harness)
    assert outcome.attempted >= 5
    assert outcome.failed == 0


def test_a_target_reads_pass_at_or_under_it_and_miss_above_it() -> None:
    under = Measurement(label="a", samples_ns=(9_000.0, 10_000.0, 11_000.0), batch=1, target_ns=1e4)
    above = Measurement(label="b", samples_ns=(12_000.0,), batch=1, target_ns=1e4)
    untargeted = Measurement(label="c", samples_ns=(12_000.0,), batch=1)
    assert under.verdict == "<= 10 us PASS"
    assert above.verdict == "<= 10 us MISS"
    assert untargeted.verdict == ""
    assert above.as_json()["verdict"] == "MISS"


def _figures(*, realized_net: str = "27.712", after_1000: str = "44999.9") -> Figures:
    return Figures(
        order_size=Decimal("0.1"),
        order_price=Decimal(45000),
        order_status="filled",
        order_filled=Decimal("0.1"),
        order_average_price=Decimal(45000),
        entry_price=Decimal(45040),
        size=Decimal("0.1"),
        unrealized_at_new_price=Decimal(96),
        realized_net=Decimal(realized_net),
        entry_price_after_earlier={
            1: Decimal(44990),
            1_000: Decimal(after_1000),
            10_000: Decimal("44999.9963"),
        },
    )


def test_the_comparison_accepts_an_average_kept_as_a_binary_double() -> None:
    checked = differences(_figures(), _figures(after_1000="44999.89999999998"))
    assert [name for name, _, _, same in checked if not same] == []
    assert len(checked) == 12


def test_the_comparison_flags_a_realized_pnl_one_cent_apart() -> None:
    checked = differences(_figures(), _figures(realized_net="27.722"))
    assert [name for name, _, _, same in checked if not same] == ["realized net of fees"]
