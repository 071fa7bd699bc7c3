"""What every engine does the same way: canonical tables in, Arrow out.

A :class:`Backend` hands out the canonical tables as Ibis tables whose column types are the
model's on every engine (engines disagree: Spark has no time-zone-aware timestamp type and no
JSON type), runs Ibis expressions to Arrow with the same Arrow types everywhere, and turns small
Arrow tables (a calendar, a list of targets) into tables that join with the canonical ones.
An engine fills in three small methods: :meth:`_source`, :meth:`_execute`, :meth:`_close`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from voxloop.errors import UserError
from voxloop.model.schema import TABLES_BY_NAME, Table

BackendName = Literal["duckdb", "postgresql", "spark"]

# Ibis type of each model type: what ``Backend.table`` presents on every engine.
IBIS_TYPES: Mapping[str, dt.DataType] = MappingProxyType(
    {
        "text": dt.String(),
        "bigint": dt.Int64(),
        "integer": dt.Int32(),
        "double": dt.Float64(),
        "boolean": dt.Boolean(),
        "timestamp": dt.Timestamp(timezone="UTC", scale=6),
        "json": dt.JSON(),
    }
)


def ibis_schema(table: Table) -> Any:
    """The Ibis schema of a canonical table (every column nullable, as engines report them)."""
    return ibis.schema({c.name: IBIS_TYPES[c.type] for c in table.columns})


def canonical(name: str) -> Table:
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise UserError(
            f"no canonical table named {name!r}",
            hint=f"tables: {', '.join(sorted(TABLES_BY_NAME))}",
        ) from None


def _same_type(have: dt.DataType, want: dt.DataType) -> bool:
    if have.is_json() and want.is_json():  # PostgreSQL's jsonb is JSON(binary=True)
        return True
    return bool(have.copy(nullable=True) == want.copy(nullable=True))


def conform(table: Any, schema: Any, *, what: str) -> Any:
    """``table`` with exactly the columns of ``schema``, cast where the engine's type differs.

    The casts cost nothing at run time where they matter (a Spark timestamp is already an
    instant in UTC; a JSON column on Spark is its text).
    """
    have = table.schema()
    missing = [n for n in schema.names if n not in have]
    if missing:
        raise UserError(
            f"{what} lacks the column(s) {', '.join(missing)}",
            hint="it was written by an older voxloop: export or publish the workspace again",
        )
    if list(have.names) == list(schema.names) and all(
        _same_type(have[n], t) for n, t in schema.items()
    ):
        return table
    return table.select(
        [
            table[n] if _same_type(have[n], t) else table[n].cast(t).name(n)
            for n, t in schema.items()
        ]
    )


def arrow_schema(expr: Any) -> pa.Schema:
    """The Arrow schema every engine returns for ``expr``: Ibis's types, all nullable."""
    schema = expr.as_table().schema()
    return pa.schema([pa.field(n, t.to_pyarrow(), nullable=True) for n, t in schema.items()])


class Backend:
    """One engine holding the canonical tables. Use as a context manager, or call close()."""

    name: ClassVar[BackendName]
    dialect: ClassVar[str]  # Ibis's name for it: ibis.to_sql(expr, dialect=backend.dialect)
    # Known gaps of the engine under Ibis 12: capability → why. Tests mark them as strict
    # expected failures; metrics avoid them.
    gaps: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def __init__(self, con: Any) -> None:
        self.con = con  # the Ibis backend

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- the workflow -----------------------------------------------------------------------
    def table(self, name: str) -> Any:
        """Canonical table ``name`` as an ``ibis.Table`` with the model's column types."""
        spec = canonical(name)
        return conform(self._source(name), ibis_schema(spec), what=f"the {self.name} table {name}")

    def to_arrow(self, expr: Any) -> pa.Table:
        """Run an Ibis expression; the same expression gives the same Arrow types everywhere."""
        return self._execute(expr.as_table()).cast(arrow_schema(expr))

    def sql(self, expr: Any) -> str:
        """The SQL this engine runs for ``expr`` (for messages and for reading)."""
        return str(self.con.compile(expr))

    def memtable(self, data: pa.Table) -> Any:
        """A small Arrow table as an ``ibis.Table`` that joins with this engine's tables."""
        return ibis.memtable(data)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what each engine fills in ----------------------------------------------------------
    def _source(self, name: str) -> Any:
        """The engine's table ``name``, as the engine types it."""
        return self.con.table(name)

    def _execute(self, expr: Any) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def _close(self) -> None:
        self.con.disconnect()
