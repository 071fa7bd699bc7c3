"""Parquet, JSON Lines and Excel: read, turned into text columns, staged."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voxloop.errors import IngestError
from voxloop.ingest.normalise import literal
from voxloop.ingest.readers.staged import (
    ROW_COLUMN,
    Reject,
    Staged,
    count_rows,
    short_error,
    unique_names,
)


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Staged:
    source = f"read_parquet({literal(str(path))})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        names = [str(r[0]) for r in described]
        header = unique_names(names)
        select = ", ".join(
            f'CAST("{n.replace(chr(34), chr(34) * 2)}" AS VARCHAR) AS c{i + 1}'
            for i, n in enumerate(names)
        )
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT {select} FROM {source}")
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: not a readable Parquet file: {short_error(exc)}",
            hint="check the file was fully written (a truncated Parquet file cannot be read)",
        ) from exc
    return Staged(table, header, count_rows(con, table), "parquet")


def stage_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    header: list[str],
    rows: list[tuple[int, list[str | None]]],
    rejects: list[Reject],
    encoding: str,
) -> Staged:
    """Stage rows read in Python; each carries its data-row number."""
    data: dict[str, Any] = {ROW_COLUMN: pa.array([n for n, _ in rows], pa.int64())}
    for i in range(len(header)):
        data[f"c{i + 1}"] = pa.array(
            [values[i] if i < len(values) else None for _, values in rows], pa.string()
        )
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.register("__voxloop_arrow", pa.table(data))
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM __voxloop_arrow")
    finally:
        con.unregister("__voxloop_arrow")
    staged = Staged(table, header, len(rows), encoding, rejects, numbered=True)
    if not rows and not rejects:
        staged.notes.append("the file has no data rows")
    return staged


def _cell_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def read_jsonl(
    path: Path,
) -> tuple[list[str], list[tuple[int, list[str | None]]], list[Reject], str]:
    objects: list[tuple[int, dict[str, Any]]] = []
    rejects: list[Reject] = []
    keys: dict[str, None] = {}
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        for line_no, raw_bytes in enumerate(fh, start=1):
            raw = raw_bytes.decode("utf-8", errors="replace").strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON: {exc.msg} (column {exc.colno})"
                rejects.append(Reject(line_no, raw, reason))
                continue
            if not isinstance(obj, dict):
                if line_no == 1 and isinstance(obj, list):
                    raise IngestError(
                        f"{path}: this is one JSON array, not JSON Lines",
                        hint="write one JSON object per line (e.g. jq -c '.[]' file.json)",
                    )
                rejects.append(Reject(line_no, raw, "each line must be a JSON object {...}"))
                continue
            objects.append((line_no, obj))
            for key in obj:
                keys.setdefault(str(key), None)
    names = list(keys)
    if not names and not rejects:
        raise IngestError(f"{path}: no JSON object found", hint="one JSON object per line")
    header = unique_names(names)
    rows = [(n, [_cell_text(o.get(k)) for k in names]) for n, o in objects]
    return header, rows, rejects, "utf-8"


def read_excel(
    path: Path, sheet: str | int
) -> tuple[list[str], list[tuple[int, list[str | None]]], list[Reject], str]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise IngestError(
            f"{path}: not a readable spreadsheet: {short_error(exc)}",
            hint="open it in a spreadsheet program and save it again as .xlsx",
        ) from exc
    try:
        if isinstance(sheet, int):
            sheet_obj = book.get_sheet_by_index(sheet)
        else:
            sheet_obj = book.get_sheet_by_name(sheet)
    except Exception as exc:
        raise IngestError(
            f"{path}: no sheet {sheet!r}",
            hint=f"sheets in this file: {', '.join(book.sheet_names)} (set sheet: in the mapping)",
        ) from exc
    grid = sheet_obj.to_python(skip_empty_area=False)
    filled = [i for i, row in enumerate(grid) if any(v not in ("", None) for v in row)]
    if not filled:
        raise IngestError(
            f"{path}: the sheet {sheet!r} is empty",
            hint=f"sheets in this file: {', '.join(book.sheet_names)} (set sheet: in the mapping)",
        )
    top = filled[0]
    header = unique_names(_cell_text(v) for v in grid[top])
    rows = [(i - top, [_cell_text(v) for v in grid[i]]) for i in filled[1:]]
    return header, rows, [], "xlsx"
