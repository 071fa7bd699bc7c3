"""Read any supported file into a staging table of text columns, losing nothing.

Every value is staged as text: typing happens in one place (the compiler), where a bad value
becomes a quarantined row with a reason instead of a failed load. CSV goes through DuckDB's
parallel reader; lines it cannot split are kept as *rejects* (line number, raw line, reason).
JSON Lines and Excel are read in Python and handed to DuckDB as Arrow.

Staged columns get internal names (``c1``, ``c2``…) so that no header — ``rowid``, a quote,
two names differing only by case — can collide with SQL; :class:`Staged` maps the file's
header names onto them. Each staged row knows its data-row number in the file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from voxloop.errors import IngestError
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.readers.csv_reader import stage_csv
from voxloop.ingest.readers.other_formats import read_excel, read_jsonl, stage_arrow, stage_parquet
from voxloop.ingest.readers.staged import ROW_COLUMN, Reject, Staged, detect_format, unique_names

__all__ = ["ROW_COLUMN", "Reject", "Staged", "detect_format", "stage", "unique_names"]


def stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: SourceMapping,
    table: str,
    work_dir: Path,
) -> Staged:
    """Stage ``path`` into temporary table ``table``; raise IngestError if it is unusable."""
    if path.is_dir():
        raise IngestError(f"{path} is a folder, not a file", hint="give the files inside it")
    if not path.is_file():
        raise IngestError(
            f"{path}: no such file", hint="check the path (relative paths start from here)"
        )
    if path.stat().st_size == 0:
        raise IngestError(
            f"{path}: the file is empty (0 bytes)",
            hint="export it again; nothing was loaded",
        )
    fmt = detect_format(path, mapping.format)
    if fmt in ("csv", "tsv"):
        staged = stage_csv(con, path, mapping, table, work_dir, tab=fmt == "tsv")
    elif fmt == "jsonl":
        staged = stage_arrow(con, table, *read_jsonl(path))
    elif fmt == "parquet":
        staged = stage_parquet(con, path, table)
    else:
        staged = stage_arrow(con, table, *read_excel(path, mapping.sheet))
    row = con.execute(f"SELECT min(rowid) FROM {table}").fetchall()
    staged.row_base = int(row[0][0]) if row and row[0][0] is not None else 0
    return staged
