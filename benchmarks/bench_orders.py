"""Order state machine: each transition alone and the submit / accept / fill lifecycle."""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks import ours
from benchmarks.harness import Benchmark, Setup, repeat
from benchmarks.scenario import AT
from execution_core.domain.order_states import accept, apply_fill, submit
from execution_core.domain.orders import Order

GROUP = "order"


def _submit() -> Setup:
    order = ours.pending_order()
    return lambda n: repeat(lambda: submit(order, at=AT).unwrap(), n)


def _submitted() -> Order:
    return submit(ours.pending_order(), at=AT).unwrap().order


def _accept() -> Setup:
    order = _submitted()
    return lambda n: repeat(lambda: accept(order, exchange_order_id="X-1", at=AT).unwrap(), n)


def _fill() -> Setup:
    order = accept(_submitted(), exchange_order_id="X-1", at=AT).unwrap().order
    fill = ours.order_fill()
    return lambda n: repeat(lambda: apply_fill(order, fill, at=AT).unwrap(), n)


def _duplicate_fill() -> Setup:
    order = accept(_submitted(), exchange_order_id="X-1", at=AT).unwrap().order
    fill = ours.order_fill()
    filled = apply_fill(order, fill, at=AT).unwrap().order
    return lambda n: repeat(lambda: apply_fill(filled, fill, at=AT).unwrap(), n)


def register() -> Iterator[Benchmark]:
    """The order benchmarks."""
    yield Benchmark(group=GROUP, name="submit (pending -> submitted)", setup=_submit())
    yield Benchmark(group=GROUP, name="accept (submitted -> open)", setup=_accept())
    yield Benchmark(group=GROUP, name="apply_fill (open -> filled)", setup=_fill())
    yield Benchmark(group=GROUP, name="apply_fill, duplicate trade id", setup=_duplicate_fill())
    yield Benchmark(
        group=GROUP, name="submit + accept + fill", setup=ours.order_lifecycle(), memory=True
    )
