"""Stores: connections, DDL from the model, transactions, migrations."""

from voxloop.store.duckdb_store import DuckDBStore

__all__ = [
    "DuckDBStore",
]
