"""The SQL adapter: `SqlRepository` on PostgreSQL or SQLite via SQLAlchemy 2 (docs/storage.md)."""

from adapters.sql.codec import Codec, CodecError, make_converter
from adapters.sql.repository import SqlRepository, WriteConflict
from adapters.sql.schema import TABLES, create_schema

__all__ = [
    "TABLES",
    "Codec",
    "CodecError",
    "SqlRepository",
    "WriteConflict",
    "create_schema",
    "make_converter",
]
