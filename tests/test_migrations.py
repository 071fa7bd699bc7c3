"""The schema is created by versioned migrations; older stores are upgraded, never broken."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from voxloop import Workspace
from voxloop.errors import ConfigError
from voxloop.model.migrations import LATEST_VERSION, fresh_operations
from voxloop.model.schema import TABLES
from voxloop.store.ddl import operation_sql
from voxloop.store.duckdb_store import DuckDBStore


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]


def test_fresh_store_has_exactly_the_declared_schema(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    assert store.migrate() == list(range(1, LATEST_VERSION + 1))
    for table in TABLES:
        assert _columns(store.con, table.name) == list(table.names)
    assert store.migrate() == []  # idempotent
    store.close()


def test_store_from_version_1_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER NOT NULL, description VARCHAR, "
        "applied_at TIMESTAMPTZ NOT NULL)"
    )
    for op in fresh_operations(1):
        con.execute(operation_sql(op, "duckdb"))
    con.execute("INSERT INTO schema_migrations VALUES (1, 'v1', now())")
    con.execute(
        "INSERT INTO loads (load_id, source, file_path, status, started_at) "
        "VALUES (1, 'contacts', 'old.csv', 'committed', now())"
    )
    assert "encoding" not in _columns(con, "loads")
    con.close()

    store = DuckDBStore(path)
    assert store.schema_version() == 1
    assert store.migrate() == list(range(2, LATEST_VERSION + 1))
    for table in TABLES:
        assert sorted(_columns(store.con, table.name)) == sorted(table.names)
    assert store.con.execute("SELECT source, encoding FROM loads").fetchall() == [
        ("contacts", None)
    ]
    store.close()


def test_store_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    store = DuckDBStore(path)
    store.migrate()
    store.con.execute("INSERT INTO schema_migrations VALUES (99, 'future', now())")
    store.close()
    store = DuckDBStore(path)
    with pytest.raises(ConfigError, match="newer voxloop"):
        store.migrate()
    store.close()


def test_workspace_open_upgrades_on_the_fly(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    assert ws.status()["schema_version"] == LATEST_VERSION
    ws.close()
