"""Randomized fault injection over HTTP: the fault suite's scenarios on the local Kraken server.

Issue 4 §4: the execution service's fault-injection suite run with `KrakenExchange` + the local
Kraken-compatible server (`adapters.kraken.testing`) in place of the `SimulatedExchange`. Each
scenario (one seed) wires the whole service over the scenario kit's `kraken` venue
(tests/integration/scenarios.py: the adapter talks aiohttp to the server on 127.0.0.1, both on
the scenario's `FakeClock`) and plays, from `random.Random(seed)`:

- a few buy proposals (limit and protected market, with a stop-loss and usually a take-profit);
- a random price path (jumps and bars) with a random depth per move (partial fills);
- random server-side faults on the private calls (`KrakenFaults` below): before each port call
  the test may arm one fault of the server's own kit for the Kraken method that call sends --
  Cloudflare's HTML 502 / 520 pages and `EService:Unavailable` (nothing processed), and
  accept-then-drop on AddOrder, AmendOrder and CancelOrder (the order is placed / moved /
  cancelled, the connection closes without an answer); in a fifth of the scenarios, once,
  accept-then-hang past the client timeout on one of those writes (done, then no answer: the
  venue here is the kit's `kraken` venue with a `CLIENT_TIMEOUT` of 0.25 s, so a hang is cheap);
- monitoring passes, cancels of entries, full and partial closes and stop moves;
- Kraken's holding of untriggered stops in half the scenarios (the take-profit is then watched);
- then the faults stop, the monitor settles, a `reconcile()` runs and the monitor settles again.

The invariants and how they are checked are the fault suite's own (test_fault_injection.py,
imported): after every step no client order id placed twice, every exchange order known to the
store, every stored fill an exchange trade of its order stored once, every position the sum of its
stored fills; before the reconcile nothing silently unprotected; after settling, against the truth
of the server's `PaperEngine` (`server.engine`): exactly one exchange order per proposal, position
= entry fills - exit fills, every fill stored exactly once, no open position without its stop once
it was accepted, nothing contingent alive after its position closed, the book matching the
exchange. A failure that matches a bug already reported in that suite (`KNOWN_BUGS` there) is
counted, not failed, unless `FAULT_STRICT=1`.

Not injected: `Fault.slow` past the client timeout (the server would act after the client gave
up, at a real-time moment no seed fixes), and concurrent flows (over real sockets their
interleaving is not replayable from a seed).

Replay one seed, narrated:

    KRAKEN_FAULT_SEED=12 .venv/bin/pytest tests/integration/test_kraken_fault_injection.py -s

`KRAKEN_FAULT_SCENARIOS` (default 200) and `KRAKEN_FAULT_SEED_BASE` (default 0) choose the range.
Every draw comes from the seed; time is a `FakeClock`; the server's ids come from the seed.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from returns.result import Result

from adapters.kraken.exchange import KrakenTimeouts
from adapters.kraken.testing import local_kraken
from adapters.kraken.testing.server import ENGINE_TIERS, Fault, KrakenTestServer
from adapters.memory.clock import FakeClock
from adapters.memory.engine_types import EngineConfig
from adapters.memory.faults import Faults
from execution_core.config import RateLimitTier
from execution_core.domain.instruments import Instrument
from execution_core.domain.orders import Order
from execution_core.ports import (
    Amendment,
    Balance,
    Exchange,
    ExchangeFailure,
    OrderReport,
    Placement,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scenario kit lives beside this file
import test_fault_injection as suite  # the fault suite's scenario steps and invariant checks
from scenarios import CountingExchange, KrakenVenue, Venue, VenueOptions, World, scenario

SCENARIOS = int(os.environ.get("KRAKEN_FAULT_SCENARIOS", "200"))
SEED_BASE = int(os.environ.get("KRAKEN_FAULT_SEED_BASE", "0"))
REPLAY = os.environ.get("KRAKEN_FAULT_SEED")
CHUNK = 50
STEPS = 12

BEFORE = "before acting"
DROP = "accept-then-drop"
WRITES = ("AddOrder", "AmendOrder", "CancelOrder")
READS = ("QueryOrders", "QueryTrades", "OpenOrders", "ClosedOrders", "BalanceEx")
FAULT_KINDS: tuple[tuple[str, Fault, tuple[str, ...]], ...] = (
    ("HTML 502 before acting", Fault.html(502), WRITES + READS),
    ("HTML 520 before acting", Fault.html(520), WRITES + READS),
    ("EService:Unavailable", Fault.unavailable(), WRITES + READS),
    ("accept-then-drop", Fault.accept_then_drop(), WRITES),
)
PROBABILITIES = (0.05, 0.1, 0.2, 0.35)
CLIENT_TIMEOUT = 0.25
"""Seconds the adapter waits for a whole call here (default 15): one hang costs that, really."""
HANG = "accept-then-hang past the client timeout"
HANG_SHARE = 0.2
"""The share of scenarios that arm a hang; each fires at most once (it costs real time)."""
PORT_METHODS: Mapping[str, tuple[str, ...]] = {
    "place_order": ("AddOrder",),
    "amend_order": ("AmendOrder",),
    "cancel_order": ("CancelOrder",),
    "order_status": ("QueryOrders", "QueryTrades"),
    "find_order": ("OpenOrders", "ClosedOrders"),
    "open_orders": ("OpenOrders", "QueryTrades"),
    "balances": ("BalanceEx",),
}
"""The private Kraken calls each port method sends (docs/kraken.md), where a fault may land."""


# --------------------------------------------------------------------------- the fault kit
@attrs.define
class KrakenFaults:
    """Seeded, armed faults of the server's kit: which may hit each Kraken method, how often."""

    rng: random.Random
    armed: list[tuple[str, Fault, float, tuple[str, ...]]] = attrs.field(factory=list)
    server: KrakenTestServer | None = None
    active: bool = True
    fired: list[str] = attrs.field(factory=list)
    calls: Counter[str] = attrs.field(factory=Counter)

    def arm(self, name: str, fault: Fault, probability: float, methods: tuple[str, ...]) -> None:
        self.armed.append((name, fault, probability, methods))

    hangs_left: int = 0

    def before(self, port_method: str) -> None:
        """Maybe arm one fault on the server for the next Kraken call of this port call."""
        self.calls[port_method] += 1
        if not self.active or self.server is None:
            return
        candidates = PORT_METHODS.get(port_method, ())
        for name, fault, probability, methods in self.armed:
            targets = [m for m in candidates if m in methods]
            if targets and self.rng.random() < probability:
                if name == HANG:
                    if not self.hangs_left:
                        continue
                    self.hangs_left -= 1
                method = self.rng.choice(targets)
                self.server.inject(attrs.evolve(fault, method=method, times=1))
                self.fired.append(f"{port_method}#{self.calls[port_method]} {method}: {name}")
                return

    def after(self) -> None:
        """Disarm what the call did not consume (a fault is for this call only)."""
        if self.server is not None:
            self.server.clear_faults()

    def stop(self) -> None:
        self.active = False
        self.after()


class FaultingExchange:
    """Passes every call on, arming a random server-side fault before each private one."""

    def __init__(self, inner: Exchange, faults: KrakenFaults) -> None:
        self.inner = inner
        self.faults = faults

    async def place_order(self, order: Order) -> Result[Placement, ExchangeFailure]:
        self.faults.before("place_order")
        try:
            return await self.inner.place_order(order)
        finally:
            self.faults.after()

    async def amend_order(
        self, order: Order, amendment: Amendment
    ) -> Result[None, ExchangeFailure]:
        self.faults.before("amend_order")
        try:
            return await self.inner.amend_order(order, amendment)
        finally:
            self.faults.after()

    async def cancel_order(self, order: Order) -> Result[None, ExchangeFailure]:
        self.faults.before("cancel_order")
        try:
            return await self.inner.cancel_order(order)
        finally:
            self.faults.after()

    async def cancel_all(self) -> Result[int, ExchangeFailure]:
        return await self.inner.cancel_all()

    async def cancel_all_after(self, timeout_seconds: int) -> Result[None, ExchangeFailure]:
        return await self.inner.cancel_all_after(timeout_seconds)

    async def order_status(
        self, exchange_order_ids: Sequence[str]
    ) -> Result[Mapping[str, OrderReport], ExchangeFailure]:
        self.faults.before("order_status")
        try:
            return await self.inner.order_status(exchange_order_ids)
        finally:
            self.faults.after()

    async def find_order(self, client_order_id: str) -> Result[OrderReport | None, ExchangeFailure]:
        self.faults.before("find_order")
        try:
            return await self.inner.find_order(client_order_id)
        finally:
            self.faults.after()

    async def open_orders(self) -> Result[Sequence[OrderReport], ExchangeFailure]:
        self.faults.before("open_orders")
        try:
            return await self.inner.open_orders()
        finally:
            self.faults.after()

    async def balances(self) -> Result[Mapping[str, Balance], ExchangeFailure]:
        self.faults.before("balances")
        try:
            return await self.inner.balances()
        finally:
            self.faults.after()

    async def instruments(self) -> Result[Sequence[Instrument], ExchangeFailure]:
        return await self.inner.instruments()

    async def reference_price(self, symbol: str) -> Result[Decimal, ExchangeFailure]:
        return await self.inner.reference_price(symbol)


_faulting: type[Exchange] = FaultingExchange


# --------------------------------------------------------------------------- the scenario
@attrs.define
class KrakenPlayed(suite.Played):
    """The fault suite's record of a scenario, naming the server faults and this file's replay."""

    kraken_faults: KrakenFaults | None = None

    def note(self, line: str) -> None:
        self.log.append(line)
        if REPLAY is not None:
            print(f"  {line}")  # noqa: T201 - a replayed seed narrates what it does

    def describe(self, broken: suite.Broken) -> str:
        fired = self.kraken_faults.fired[-12:] if self.kraken_faults is not None else []
        return (
            f"seed {self.seed} (kraken): {broken.invariant}: {broken.detail}\n"
            f"  armed: {', '.join(self.armed) or 'nothing'}"
            f" (hold_untriggered={self.hold_untriggered})\n"
            f"  last actions: {' | '.join(self.log[-10:])}\n"
            f"  last server faults: {'; '.join(fired) or 'none'}\n"
            f"  replay: KRAKEN_FAULT_SEED={self.seed} pytest {Path(__file__).name} -s"
        )


def arm(rng: random.Random, faults: KrakenFaults) -> list[str]:
    """One to four kinds of server fault, each with a random probability per call; maybe a hang."""
    armed: list[str] = []
    for name, fault, methods in rng.sample(FAULT_KINDS, rng.randint(1, len(FAULT_KINDS))):
        probability = rng.choice(PROBABILITIES)
        faults.arm(name, fault, probability, methods)
        armed.append(f"{name} p={probability}")
    if rng.random() < HANG_SHARE:
        probability = rng.choice(PROBABILITIES)
        faults.arm(HANG, Fault.accept_then_hang(CLIENT_TIMEOUT + 0.2), probability, WRITES)
        faults.hangs_left = 1
        armed.append(f"{HANG} p={probability} (once)")
    return armed


class ShortTimeoutKrakenVenue(KrakenVenue):
    """The kit's `kraken` venue with a client timeout of `CLIENT_TIMEOUT` (a hang is cheap)."""

    @classmethod
    async def create(cls, options: VenueOptions, clock: FakeClock) -> KrakenVenue:
        tier = RateLimitTier.STARTER
        server = KrakenTestServer(
            instruments=list(options.instruments),
            tier=tier,
            engine_config=EngineConfig(
                tier=ENGINE_TIERS[tier],
                hold_untriggered=options.hold_untriggered,
                enforce_rate_limit=options.rate_limited,
            ),
            clock=clock,
            seed=options.seed,
        )
        venue = cls(server)
        try:
            await venue._stack.enter_async_context(server)
            rig = await venue._stack.enter_async_context(
                local_kraken(
                    server=server,
                    tier=tier,
                    balances={},
                    timeouts=KrakenTimeouts(connect=1.0, total=CLIENT_TIMEOUT),
                )
            )
        except BaseException:
            await venue._stack.aclose()
            raise
        venue.kraken = rig.exchange
        venue.counting = CountingExchange(rig.exchange)
        return venue


async def kraken_venue(options: VenueOptions, clock: FakeClock) -> Venue:
    """The local Kraken with a short client timeout."""
    return await ShortTimeoutKrakenVenue.create(options, clock)


async def play(seed: int) -> KrakenPlayed:
    """Play the scenario of `seed` over the local Kraken, checking every invariant."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, replayed from its seed
    options = VenueOptions(seed=seed, hold_untriggered=rng.random() < 0.5)
    faults = KrakenFaults(rng=random.Random(seed * 7919 + 1))  # noqa: S311 - seeded simulation
    config = suite.config_for(rng)
    async with scenario(
        kraken_venue,
        config=config,
        options=options,
        wrap=lambda inner: FaultingExchange(inner, faults),
        start=False,
    ) as world:
        assert isinstance(world.venue, KrakenVenue)
        faults.server = world.venue.server
        played = KrakenPlayed(
            seed=seed,
            world=world,
            faults=Faults(seed),  # the paper kit, unused: the faults here are the server's
            hold_untriggered=options.hold_untriggered,
            kraken_faults=faults,
        )
        played.armed = arm(rng, faults)
        played.note(f"armed: {', '.join(played.armed)}")
        await world.manager.start(run_loops=False)
        price = Decimal(45_000)
        due = sorted(rng.sample(range(STEPS - 4), rng.randint(1, 4)))
        for step in range(STEPS):
            price = await suite.move_the_market(played, rng, step, price)
            while due and due[0] == step:
                due.pop(0)
                await suite.execute(played, suite.proposal(rng, price))
            roll = rng.random()
            if roll < 0.12:
                await suite.cancel_an_entry(played, rng)
            elif roll < 0.24:
                await suite.close_a_position(played, rng)
            elif roll < 0.32:
                await suite.move_a_stop(played, rng, price)
            await suite.poll(played)
            world.clock.advance(rng.choice((1, 5, 15, 30, 60)))
            await suite.check_always(played)
        await settle(played, faults)
        await suite.check_settled(played)
        return played


async def settle(played: KrakenPlayed, faults: KrakenFaults) -> None:
    """The faults stop, the monitor settles, a reconcile runs, the monitor settles again."""
    world: World = played.world
    faults.stop()
    await world.liquidity(None)
    await suite.quiesce(played)
    suite.check_never_silently_unprotected(played)
    summary = await world.manager.reconcile()
    played.note(f"reconcile: {summary}")
    await suite.quiesce(played)


# --------------------------------------------------------------------------- the runs
def seed_chunks() -> list[range]:
    if REPLAY is not None:
        return [range(int(REPLAY), int(REPLAY) + 1)]
    end = SEED_BASE + SCENARIOS
    return [range(start, min(start + CHUNK, end)) for start in range(SEED_BASE, end, CHUNK)]


KNOWN_HITS: Counter[str] = Counter()
CHUNKS_RUN: list[range] = []


@pytest.mark.parametrize("seeds", seed_chunks(), ids=lambda s: f"seeds-{s.start}-{s.stop - 1}")
async def test_randomized_kraken_fault_scenarios_keep_every_invariant(seeds: range) -> None:
    CHUNKS_RUN.append(seeds)
    await suite.run_seed_chunk(seeds, play, replay=REPLAY, known_hits=KNOWN_HITS, label=" (kraken)")


def test_a_default_run_covers_at_least_two_hundred_kraken_scenarios() -> None:
    if REPLAY is not None or "KRAKEN_FAULT_SCENARIOS" in os.environ:
        pytest.skip("the seed range was chosen by hand")
    assert sum(len(chunk) for chunk in seed_chunks()) >= 200


def test_the_kraken_run_reports_the_known_bugs_its_scenarios_hit() -> None:
    suite.report_known_hits(CHUNKS_RUN, KNOWN_HITS)
