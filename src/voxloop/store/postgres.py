"""PostgreSQL as a shared store: connecting (with errors a person can act on) and the schema.

The schema is the model's, created and upgraded by the same versioned migrations as the
embedded store (:mod:`voxloop.model.migrations`), with PostgreSQL types from
:mod:`voxloop.store.ddl`. Sessions run in UTC. ``psycopg`` is imported only here, when used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voxloop.errors import ConfigError, UserError
from voxloop.model.migrations import DESCRIPTIONS, LATEST_VERSION, fresh_operations, operations
from voxloop.store.ddl import operation_sql
from voxloop.store.duckdb_store import MIGRATIONS_TABLE

if TYPE_CHECKING:
    import psycopg

URL_FORM = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
CONNECT_TIMEOUT_S = 10


def describe(url: str) -> str:
    """Where ``url`` points, without its password (for messages)."""
    import psycopg.conninfo

    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an unreadable URL"
    host = parts.get("host") or "the local socket"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or '(default database)'}" + (
        f" as {parts['user']}" if parts.get("user") else ""
    )


def connect(url: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    """Open a session in UTC; an unreachable server or a bad URL is a :class:`ConfigError`."""
    try:
        import psycopg
        import psycopg.conninfo
    except ImportError as exc:  # pragma: no cover - the test suite installs the extra
        raise UserError(
            "PostgreSQL support is not installed",
            hint="pip install 'voxloop[postgres]'",
        ) from exc
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # psycopg's message repeats the URL, password included: it is not shown.
        raise ConfigError(
            "the PostgreSQL URL cannot be read", hint=f"write it as {URL_FORM}"
        ) from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    try:
        con = psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise ConfigError(
            f"cannot connect to PostgreSQL at {describe(url)}: {reason}",
            hint=f"check that the server is running and reachable, and the URL ({URL_FORM})",
        ) from exc
    try:
        con.execute("SET TIME ZONE 'UTC'")
        if not autocommit:
            con.commit()
    except BaseException:
        con.close()
        raise
    return con


def schema_version(cur: psycopg.Cursor[Any]) -> int:
    row = cur.execute("SELECT to_regclass(%s) IS NOT NULL", [MIGRATIONS_TABLE]).fetchone()
    if row is None or not row[0]:
        return 0
    row = cur.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate(cur: psycopg.Cursor[Any], *, where: str) -> list[int]:
    """Bring the PostgreSQL schema to the latest version, inside the caller's transaction."""
    current = schema_version(cur)
    if current > LATEST_VERSION:
        raise ConfigError(
            f"the PostgreSQL database {where} was made by a newer voxloop (schema version "
            f"{current}; this one knows up to {LATEST_VERSION})",
            hint="upgrade voxloop (pip install -U voxloop); PostgreSQL was not modified",
        )
    if current == 0:
        cur.execute(
            f"CREATE TABLE {MIGRATIONS_TABLE} (version INTEGER NOT NULL, "
            "description TEXT, applied_at TIMESTAMPTZ NOT NULL)"
        )
        ops = fresh_operations(LATEST_VERSION)
    else:
        ops = [op for v in range(current + 1, LATEST_VERSION + 1) for op in operations(v)]
    for op in ops:
        cur.execute(operation_sql(op, "postgres"))
    applied = list(range(current + 1, LATEST_VERSION + 1))
    now = datetime.now(UTC)
    for version in applied:
        cur.execute(
            f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, %s)",
            [version, DESCRIPTIONS[version], now],
        )
    return applied
