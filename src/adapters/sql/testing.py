"""Test seams for the SQL adapter: a throwaway PostgreSQL schema, and the server's URL.

`temporary_postgres_schema()` creates a uniquely named schema, yields engines whose every
statement goes there (`schema_translate_map`), and drops it with everything in it afterwards,
so tests neither see each other's rows nor leave any behind, and can run again and again. A
server that cannot be reached raises `PostgresUnavailable`, whose message is meant to be a
skip reason (the URL is shown with its password hidden).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import attrs
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSchema, DropSchema

POSTGRES_URL_VARIABLE: Final = "EXECUTION_CORE_PG_URL"
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_SECONDS: Final = 5.0


def postgres_url() -> str:
    """The PostgreSQL URL the tests use: `EXECUTION_CORE_PG_URL`, or the local default."""
    return os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL


def safe_url(url: str) -> str:
    """`url` with its password masked, fit for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server could not be reached or refused us; the message says why."""


@attrs.frozen
class TemporarySchema:
    """A schema that exists for one test; `engine` sends every statement into it."""

    name: str
    url: str
    engine: AsyncEngine

    @asynccontextmanager
    async def another_engine(self) -> AsyncIterator[AsyncEngine]:
        """A second, independent engine (its own pool) on the same schema; disposed on exit."""
        engine = _engine(self.url, self.name)
        try:
            yield engine
        finally:
            await engine.dispose()


@asynccontextmanager
async def temporary_postgres_schema(url: str | None = None) -> AsyncIterator[TemporarySchema]:
    """Create a uniquely named schema, yield it, then drop it with everything in it."""
    target = url or postgres_url()
    name = f"ec_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(target, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        try:
            async with admin.begin() as connection:
                await connection.execute(CreateSchema(name))
        except (OSError, TimeoutError, DBAPIError) as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            msg = (
                f"PostgreSQL is not reachable at {safe_url(target)} "
                f"(set {POSTGRES_URL_VARIABLE}): {reason}"
            )
            raise PostgresUnavailable(msg) from None
        schema = TemporarySchema(name=name, url=target, engine=_engine(target, name))
        try:
            yield schema
        finally:
            await schema.engine.dispose()
            async with admin.begin() as connection:
                await connection.execute(DropSchema(name, cascade=True))
    finally:
        await admin.dispose()


def _engine(url: str, schema: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
    return engine.execution_options(schema_translate_map={None: schema})
