"""Every check this project runs, one session each. `nox -l` lists them.

Sessions install the project and its dependency groups from pyproject.toml into their own
virtualenvs, so a fresh machine needs only Python 3.11+ and `pip install nox`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"
ROOT = Path(__file__).parent


def _install(session: nox.Session, *groups: str, editable: bool = True) -> None:
    deps: list[str] = []
    for group in groups:
        deps.extend(nox.project.dependency_groups(PYPROJECT, group))
    if editable:
        session.install("-e", ".", *deps)
    elif deps:
        session.install(*deps)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check, and the import-linter contracts that keep the core pure."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Mypy --strict with the returns plugin over src, tests and benchmarks.

    tests/typing/test_returns_plugin.py `assert_type`s a `flow`: without the plugin that file
    fails to type-check, so a missing plugin cannot pass silently.
    """
    _install(session, "typing")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, property, integration and doc tests with a coverage report.

    In CI (CI=true) Hypothesis runs its `ci` profile, and the PostgreSQL tests must run:
    tests/conftest.py turns a skipped Postgres test into a failure there.
    """
    _install(session, "test")
    env = {
        "HYPOTHESIS_PROFILE": os.environ.get(
            "HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"
        )
    }
    session.run(
        "pytest",
        "--cov",
        "--cov-report=term",
        *session.posargs,
        env=env,
    )


@nox.session(python=PYTHON)
def example(session: nox.Session) -> None:
    """Run the worked example: a proposal planned, filled and valued, as in docs/quickstart.md."""
    _install(session)
    session.run("python", "-m", "execution_core.examples.quickstart")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark in benchmarks/: one table (operation, median, p95, ops/s) plus JSON."""
    _install(session, "bench")
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session(python="3.12")
def bench_compare(session: nox.Session) -> None:
    """The same workloads through execution-core and NautilusTrader, alternating: ratios.

    NautilusTrader 1.231 needs Python >= 3.12 (its last 3.11 wheel is 1.221), so this session
    runs on 3.12; execution-core supports 3.11+, and both libraries share the one process.
    """
    _install(session, "bench")
    session.install("nautilus_trader==1.231.0")
    session.run("python", "-m", "benchmarks.compare", *session.posargs)


@nox.session(python=PYTHON)
def diagrams(session: nox.Session) -> None:
    """Regenerate the order state diagram in docs/ from the transition table."""
    _install(session)
    session.run("python", "-m", "execution_core.domain.order_states", "--write-docs")


@nox.session(python=PYTHON)
def paper(session: nox.Session) -> None:
    """The paper-trading run: a seeded strategy's proposals through the service on a paper Kraken.

    Prints proposals, orders, fills, fees, positions with P&L net of fees, balances and the
    invariant checks; fails when an invariant breaks. Options pass through:
    `nox -s paper -- --proposals 500 --seed 3` (docs/paper-trading.md). A seed replays byte
    for byte, whatever the hash seed.
    """
    _install(session)
    session.run("python", "-m", "adapters.paper", *session.posargs)
