"""Stores: connections, DDL from the model, transactions, migrations, copies for other engines."""

from voxloop.store.duckdb_store import DuckDBStore
from voxloop.store.export import export_parquet, publish_postgres

__all__ = [
    "DuckDBStore",
    "export_parquet",
    "publish_postgres",
]
