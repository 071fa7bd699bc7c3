"""The embedded DuckDB store: one file per workspace, one process owning it.

Why these settings: the session time zone is UTC so that every timestamp is read and written
as an instant; a memory limit and a spill folder inside the workspace keep a 10-million-row load
within a laptop's memory; ``preserve_insertion_order`` keeps file order so row numbers are true.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from voxloop.errors import ConfigError, StoreBusyError
from voxloop.model.migrations import DESCRIPTIONS, LATEST_VERSION, fresh_operations, operations
from voxloop.store.ddl import operation_sql

MIGRATIONS_TABLE = "schema_migrations"


class DuckDBStore:
    """Connection, transactions and migrations of one workspace's DuckDB file."""

    dialect = "duckdb"

    def __init__(
        self,
        path: Path,
        *,
        memory_limit: str = "2GB",
        threads: int = 0,
        temp_dir: Path | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self._lock = threading.RLock()
        config: dict[str, Any] = {"preserve_insertion_order": True}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads > 0:
            config["threads"] = threads
        if temp_dir is not None:
            temp_dir.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(temp_dir)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusyError(
                    f"the store {path} is in use by another voxloop process",
                    hint="wait for the other voxloop command to finish, then try again",
                ) from exc
            raise ConfigError(f"cannot open the store {path}: {exc}") from exc
        except duckdb.InvalidInputException as exc:
            raise ConfigError(
                f"cannot open the store {path}: {exc}",
                hint="the file is not a DuckDB database; check `store` in voxloop.toml",
            ) from exc
        # ICU (time zones) is loaded on first use; the session zone must be UTC everywhere.
        self.con.execute("SET TimeZone = 'UTC'")
        # Progress is tracked (voxloop shows it in its own bars) but never printed by DuckDB.
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")

    # -- schema -----------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            [MIGRATIONS_TABLE],
        ).fetchall()
        if not exists or exists[0][0] == 0:
            return 0
        row = self.con.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchall()
        return int(row[0][0]) if row and row[0][0] is not None else 0

    def migrate(self, target: int = LATEST_VERSION) -> list[int]:
        """Bring the store to ``target``; returns the versions applied. Atomic."""
        current = self.schema_version()
        if current > LATEST_VERSION:
            raise ConfigError(
                f"the store {self.path} was made by a newer voxloop (schema version {current}; "
                f"this one knows up to {LATEST_VERSION})",
                hint="upgrade voxloop (pip install -U voxloop); the store was not modified",
            )
        if current >= target:
            return []
        applied: list[int] = []
        with self.transaction():
            if current == 0:
                self.con.execute(
                    f"CREATE TABLE {MIGRATIONS_TABLE} (version INTEGER NOT NULL, "
                    "description VARCHAR, applied_at TIMESTAMPTZ NOT NULL)"
                )
                for op in fresh_operations(target):
                    self.con.execute(operation_sql(op, self.dialect))
                applied = list(range(1, target + 1))
            else:
                for version in range(current + 1, target + 1):
                    for op in operations(version):
                        self.con.execute(operation_sql(op, self.dialect))
                    applied.append(version)
            now = datetime.now(UTC)
            for version in applied:
                self.con.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?, ?)",
                    [version, DESCRIPTIONS[version], now],
                )
        return applied

    # -- transactions -----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit on success, roll back on any exception (or a killed process)."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")

    def arrow(self, sql: str, params: list[Any] | None = None) -> Any:
        """Run a query and return a ``pyarrow.Table``."""
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread (the web server gives one to each thread)."""
        return self.con.cursor()

    def ibis(self) -> Any:
        """An Ibis backend over this connection (metrics are written as Ibis expressions)."""
        import ibis

        return ibis.duckdb.from_connection(self.con)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
