"""DDL for each engine, generated from the neutral schema in :mod:`voxloop.model`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from voxloop.model.migrations import AddColumn, CreateTable, CreateUniqueIndex, Operation
from voxloop.model.schema import Column

TYPES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "duckdb": {
            "text": "VARCHAR",
            "bigint": "BIGINT",
            "integer": "INTEGER",
            "double": "DOUBLE",
            "boolean": "BOOLEAN",
            "timestamp": "TIMESTAMPTZ",
            "json": "JSON",
        },
        "postgres": {
            "text": "TEXT",
            "bigint": "BIGINT",
            "integer": "INTEGER",
            "double": "DOUBLE PRECISION",
            "boolean": "BOOLEAN",
            "timestamp": "TIMESTAMPTZ",
            "json": "JSONB",
        },
    }
)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def column_sql(column: Column, dialect: str) -> str:
    null = "" if column.nullable else " NOT NULL"
    return f"{quote(column.name)} {TYPES[dialect][column.type]}{null}"


def operation_sql(op: Operation, dialect: str) -> str:
    if isinstance(op, CreateTable):
        cols = ",\n  ".join(column_sql(c, dialect) for c in op.columns)
        return f"CREATE TABLE {quote(op.table.name)} (\n  {cols}\n)"
    if isinstance(op, AddColumn):
        # Added columns are nullable so that rows already stored stay valid.
        col = op.column
        return (
            f"ALTER TABLE {quote(op.table.name)} ADD COLUMN {quote(col.name)} "
            f"{TYPES[dialect][col.type]}"
        )
    if isinstance(op, CreateUniqueIndex):
        cols = ", ".join(quote(c) for c in op.index.columns)
        return f"CREATE UNIQUE INDEX {quote(op.index.name)} ON {quote(op.table.name)} ({cols})"
    raise TypeError(op)
