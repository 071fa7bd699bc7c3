"""Copies of the canonical tables for the other engines: a Parquet lake, a PostgreSQL database.

Both read one consistent snapshot of the embedded store (a single read transaction), write
every table of the model with the model's columns in the model's order, and keep timestamps
as instants in UTC. JSON columns travel as their text.

* :func:`export_parquet` writes ``DIR/<table>.parquet``; each file is written under a
  temporary name and renamed, so a reader sees the old file or the new one, never half of one.
* :func:`publish_postgres` creates (or upgrades) the schema and replaces the contents of every
  table in one PostgreSQL transaction: a failure leaves PostgreSQL as it was. Rows go in
  through ``COPY … FROM STDIN`` as CSV that Arrow writes from the store's record batches.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from voxloop.errors import TransientError, UserError
from voxloop.model.schema import TABLES, Table
from voxloop.store.ddl import quote
from voxloop.store.duckdb_store import DuckDBStore
from voxloop.store.postgres import connect, describe, migrate

if TYPE_CHECKING:
    import psycopg

BATCH_ROWS = 100_000
# pg_advisory_xact_lock key: two publications to one database run one after the other.
PUBLISH_LOCK = 0x766F786C6F6F70  # "voxloop"
_CSV = pacsv.WriteOptions(include_header=False)  # strings always quoted: "" is not NULL


def select_sql(table: Table) -> str:
    """The model's columns of ``table``, JSON as text (Parquet and COPY both want text)."""
    cols = ", ".join(
        f"CAST({quote(c.name)} AS VARCHAR) AS {quote(c.name)}"
        if c.type == "json"
        else quote(c.name)
        for c in table.columns
    )
    return f"SELECT {cols} FROM {quote(table.name)}"


@contextlib.contextmanager
def _snapshot(store: DuckDBStore) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor inside one read transaction: every table as of the same moment."""
    cur = store.cursor()
    try:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        finally:
            cur.execute("ROLLBACK")  # nothing was written
    finally:
        cur.close()


# -- Parquet -------------------------------------------------------------------------------
def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _replace(tmp: Path, final: Path) -> None:
    if final.is_dir():  # a table Spark wrote as a folder of parts
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(final)


def export_parquet(store: DuckDBStore, directory: Path) -> dict[str, int]:
    """Write every canonical table to ``directory/<table>.parquet``; returns the row counts."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} is a file, not a folder", hint="give a folder for the lake")
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _snapshot(store) as cur:
        for table in TABLES:
            tmp = directory / f".{table.name}.parquet.{uuid.uuid4().hex}.tmp"
            try:
                row = cur.execute(
                    f"COPY ({select_sql(table)}) TO {_sql_path(tmp)} (FORMAT parquet)"
                ).fetchone()
                _replace(tmp, directory / f"{table.name}.parquet")
            finally:
                tmp.unlink(missing_ok=True)
            counts[table.name] = int(row[0]) if row else 0
    return counts


# -- PostgreSQL ----------------------------------------------------------------------------
def _copy(cur: duckdb.DuckDBPyConnection, pg: psycopg.Cursor[Any], table: Table) -> int:
    columns = ", ".join(quote(n) for n in table.names)
    reader = cur.sql(select_sql(table)).to_arrow_reader(BATCH_ROWS)
    rows = 0
    with pg.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in reader:
            sink = pa.BufferOutputStream()
            pacsv.write_csv(batch, sink, _CSV)
            copy.write(memoryview(sink.getvalue()))
            rows += batch.num_rows
    return rows


def publish_postgres(store: DuckDBStore, url: str) -> dict[str, int]:
    """Replace the canonical tables in the PostgreSQL database at ``url``; returns row counts.

    All or nothing: schema creation or upgrade, emptying (``TRUNCATE``) and refilling happen
    in one transaction. Queries on these tables wait until it commits, then see the new
    contents; a failure leaves the previous ones.
    """
    import psycopg

    where = describe(url)
    con = connect(url, autocommit=False)
    counts: dict[str, int] = {}
    table = None
    try:
        with con.transaction(), con.cursor() as pg, _snapshot(store) as cur:
            pg.execute("SELECT pg_advisory_xact_lock(%s)", [PUBLISH_LOCK])
            migrate(pg, where=where)
            names = ", ".join(quote(t.name) for t in TABLES)
            pg.execute(f"TRUNCATE {names}")
            for table in TABLES:
                counts[table.name] = _copy(cur, pg, table)
            table = None
            pg.execute(f"ANALYZE {names}")
    except psycopg.Error as exc:
        on = f" (table {table.name})" if table is not None else ""
        message = f"publishing to PostgreSQL at {where} failed{on}: {exc}"
        hint = "PostgreSQL was left as it was"
        if isinstance(exc, psycopg.OperationalError):
            raise TransientError(message, hint=f"{hint}; try again") from exc
        raise UserError(message, hint=hint) from exc
    finally:
        con.close()
    return counts
