"""PostgreSQL as a backend: Ibis over one psycopg session in UTC.

The tables are the ones :func:`voxloop.store.export.publish_postgres` writes (or a PostgreSQL
store with the same schema). JSON columns are ``jsonb``: Ibis reads them back as text and its
JSON operators compile for ``jsonb`` only; the text is PostgreSQL's normal form (a space after
``:`` and ``,``, keys ordered), equal as JSON to the other engines' but not byte for byte.

Results are fetched here rather than by Ibis's ``to_pyarrow``, which refuses a ``numeric``
where it expects a double: Ibis writes a float literal as ``1.0``, which PostgreSQL types
``numeric`` (so ``sum(1.0 * x)`` is ``numeric`` too), and ``sum`` of a ``bigint`` is ``numeric``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from voxloop.backends.base import Backend, arrow_schema
from voxloop.store.postgres import connect


def _column(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values).cast(type_)  # Decimal → double or integer, checked by Arrow


class PostgresBackend(Backend):
    name = "postgresql"
    dialect = "postgres"

    def _execute(self, expr: Any) -> pa.Table:
        self.con._run_pre_execute_hooks(expr)  # creates the temporary tables of memtables
        schema = arrow_schema(expr)
        con = self.con.con
        with con.cursor() as cur, con.transaction():
            rows = cur.execute(self.con.compile(expr)).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        return pa.Table.from_arrays(
            [_column(v, f.type) for v, f in zip(columns, schema, strict=True)], schema=schema
        )


def postgres_backend(url: str) -> PostgresBackend:
    """Connect to the database at ``url`` (``postgresql://USER@HOST:PORT/DATABASE``)."""
    import ibis

    con = connect(url, autocommit=True)
    try:
        return PostgresBackend(ibis.postgres.from_connection(con))
    except BaseException:
        con.close()
        raise


__all__ = ["PostgresBackend", "postgres_backend"]
