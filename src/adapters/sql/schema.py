"""Creating the execution-core tables: `await create_schema(engine)` before the first commit.

Creation is idempotent (existing tables are left alone), so a service may call it at start-up.
To keep the tables in a PostgreSQL schema other than the default, create that schema and pass an
engine with `engine.execution_options(schema_translate_map={None: "<schema>"})`: every statement,
DDL included, then goes there.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.rows import Base

TABLES = tuple(Base.metadata.tables)
"""The names of the tables `create_schema` creates."""


async def create_schema(engine: AsyncEngine) -> None:
    """Create every table and index that does not exist yet, in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
