"""The embedded store as a backend: Ibis over the workspace's own DuckDB connection."""

from __future__ import annotations

from voxloop.backends.base import Backend
from voxloop.store.duckdb_store import DuckDBStore


class DuckDBBackend(Backend):
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, store: DuckDBStore) -> None:
        super().__init__(store.ibis())
        self.store = store

    def _close(self) -> None:
        pass  # the connection belongs to the store (and to the workspace that opened it)


def duckdb_backend(store: DuckDBStore) -> DuckDBBackend:
    """The workspace's embedded store. Closing the backend leaves the store open."""
    return DuckDBBackend(store)


__all__ = ["DuckDBBackend", "duckdb_backend"]
