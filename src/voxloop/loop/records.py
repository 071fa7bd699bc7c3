"""Writing to the case log in bulk (a run appends thousands of events in one statement)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

LOOP_ACTOR = "voxloop-loop"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def timestamps(values: np.ndarray[Any, np.dtype[np.float64]]) -> pa.Array:
    """Epoch seconds (NaN = missing) as a UTC timestamp column."""
    micros = np.where(np.isnan(values), 0, np.round(values * 1e6)).astype(np.int64)
    return pa.array(micros, pa.int64(), mask=np.isnan(values)).cast(pa.timestamp("us", "UTC"))


def events_table(
    *,
    case_ids: list[str],
    at: datetime,
    kinds: list[str],
    notes: list[str],
    data: list[str],
    seqs: list[int],
) -> pa.Table:
    n = len(case_ids)
    return pa.table(
        {
            "case_id": pa.array(case_ids, pa.string()),
            "at": pa.array([at] * n, pa.timestamp("us", "UTC")),
            "actor": pa.array([LOOP_ACTOR] * n, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "from_state": pa.nulls(n, pa.string()),
            "to_state": pa.nulls(n, pa.string()),
            "note": pa.array(notes, pa.string()),
            "data": pa.array(data, pa.string()),
            "seq": pa.array(seqs, pa.int64()),
        }
    )


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Append rows; a case event without an id gets a random one from the database (in
    bulk, far faster than one ``uuid4()`` per row in Python)."""
    name = f"_ins_{table}"
    con.register(name, data)
    cols = [f'"{c}"' for c in data.column_names]
    values = list(cols)
    if table == "case_events" and "event_id" not in data.column_names:
        cols.insert(0, "event_id")
        values.insert(0, "replace(CAST(uuid() AS VARCHAR), '-', '')")
    con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(values)} FROM {name}")
    con.unregister(name)
