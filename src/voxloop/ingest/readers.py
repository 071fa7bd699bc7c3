"""Read any supported file into a staging table of text columns, losing nothing.

Every value is staged as text: typing happens in one place (the compiler), where a bad value
becomes a quarantined row with a reason instead of a failed load. CSV goes through DuckDB's
parallel reader; lines it cannot split are kept as *rejects* (line number, raw line, reason).
JSON Lines and Excel are read in Python and handed to DuckDB as Arrow.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voxloop.errors import IngestError
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.normalise import literal

SAMPLE_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 28  # 256 MB: long fields reach our own check and go to quarantine
# A compressed file is decoded into buffers of 16 × the line limit, so it gets a smaller limit.
MAX_LINE_BYTES_COMPRESSED = 1 << 23
DELIMITERS = (",", ";", "\t", "|")
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".ods": "excel",
}


@dataclass
class Reject:
    """A piece of the file that could not become a row."""

    line: int | None
    raw: str
    reason: str


@dataclass
class Staged:
    table: str
    columns: list[str]
    rows: int
    encoding: str
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_base: int = 0  # rowid of the first data row (temporary tables do not start at 0)

    def row_number_sql(self, alias: str) -> str:
        """SQL for the 1-based data row number of a staged row (file order is kept)."""
        return f"({alias}.rowid - {self.row_base} + 1)"


def detect_format(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = EXTENSIONS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        return "csv"
    return fmt


def _open_sample(path: Path) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        data: bytes = fh.read(SAMPLE_BYTES)
    return data


def _is_utf8(sample: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a character cut at the sample's end is fine
    except UnicodeDecodeError:
        return False
    return True


def _first_line(sample: str) -> str:
    """The header line, stopping at a newline outside quotes."""
    in_quotes = False
    for i, ch in enumerate(sample):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            return sample[:i]
    return sample


def sniff_delimiter(header: str) -> str:
    """The candidate that splits the header into the most fields (quotes respected)."""
    best, best_count = ",", 0
    for delim in DELIMITERS:
        count, in_quotes = 0, False
        for ch in header:
            if ch == '"':
                in_quotes = not in_quotes
            elif ch == delim and not in_quotes:
                count += 1
        if count > best_count:
            best, best_count = delim, count
    return best


def _transcode(path: Path, target: Path) -> str:
    """Rewrite a Windows-1252 (or, failing that, Latin-1) file as UTF-8; returns the encoding."""
    for encoding in ("cp1252", "latin-1"):
        try:
            with (
                path.open("r", encoding=encoding, newline="") as src,
                target.open("w", encoding="utf-8", newline="") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
        except UnicodeDecodeError:
            continue
        return encoding
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: SourceMapping,
    table: str,
    work_dir: Path,
) -> Staged:
    """Stage ``path`` into temporary table ``table``; raise IngestError if it is unusable."""
    staged = _stage(con, path, mapping, table, work_dir)
    row = con.execute(f"SELECT min(rowid) FROM {table}").fetchone()
    staged.row_base = int(row[0]) if row and row[0] is not None else 0
    return staged


def _stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: SourceMapping,
    table: str,
    work_dir: Path,
) -> Staged:
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
        return _stage_csv(con, path, mapping, table, work_dir, tab=fmt == "tsv")
    if fmt == "jsonl":
        return _stage_arrow(con, table, *_read_jsonl(path))
    if fmt == "parquet":
        return _stage_parquet(con, path, table)
    if fmt == "excel":
        return _stage_arrow(con, table, *_read_excel(path, mapping.sheet))
    raise IngestError(f"{path}: unsupported format {fmt!r}")  # pragma: no cover


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: SourceMapping,
    table: str,
    work_dir: Path,
    *,
    tab: bool,
) -> Staged:
    sample = _open_sample(path)
    if b"\x00" in sample:
        raise IngestError(
            f"{path}: this is not a text (CSV) file — it contains binary data",
            hint="export the data as CSV, JSON Lines, Parquet or Excel, "
            "or give the right extension",
        )
    notes: list[str] = []
    opts = mapping.csv
    encoding = opts.encoding.lower()
    read_path = path
    if encoding == "auto":
        encoding = "utf-8" if _is_utf8(sample) else "cp1252"
    if encoding not in ("utf-8", "utf8", "utf-8-sig"):
        if path.suffix.lower() == ".gz":
            raise IngestError(
                f"{path}: compressed files must be UTF-8 (this one is {encoding})",
                hint="decompress it first; voxloop then converts the encoding itself",
            )
        work_dir.mkdir(parents=True, exist_ok=True)
        read_path = work_dir / f"{table}.utf8.csv"
        encoding = _transcode(path, read_path)
        notes.append(f"read as {encoding} and converted to UTF-8")
    text_sample = sample.decode("utf-8", errors="replace").lstrip("\ufeff")
    if opts.delimiter != "auto":
        delimiter = "\t" if opts.delimiter in ("\\t", "tab") else opts.delimiter
    else:
        delimiter = "\t" if tab else sniff_delimiter(_first_line(text_sample))
    if not opts.header:
        raise IngestError(
            f"{path}: files without a header row are not supported",
            hint="add a first line naming the columns",
        )
    header_cols = _header_columns(text_sample, delimiter, opts.quote)
    if not header_cols:
        raise IngestError(f"{path}: no header row found", hint="the first line must name columns")
    con.execute(f"DROP TABLE IF EXISTS {table}")
    max_line = MAX_LINE_BYTES_COMPRESSED if read_path.suffix.lower() == ".gz" else MAX_LINE_BYTES
    sql = (
        f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv({literal(str(read_path))}, "
        f"columns = {_columns_struct(header_cols)}, header = true, "
        f"delim = {literal(delimiter)}, quote = {literal(opts.quote)}, "
        f"escape = {literal(opts.quote)}, max_line_size = {max_line}, "
        "store_rejects = true, rejects_table = 'voxloop_rejects', "
        "rejects_scan = 'voxloop_reject_scans', null_padding = false, "
        "parallel = true, normalize_names = false)"
    )
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: the CSV reader failed: {_short(exc)}",
            hint="check the delimiter and quoting (set them under csv: in the mapping)",
        ) from exc
    rejects = _collect_rejects(con)
    rows = _count(con, table)
    if rows == 0 and not rejects:
        notes.append("the file has a header but no data rows")
    return Staged(table, header_cols, rows, encoding, rejects, notes)


def _header_columns(sample: str, delimiter: str, quote_char: str) -> list[str]:
    """The header names, as written (repeated names get a suffix, blank ones a position)."""
    try:
        first = next(csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quote_char))
    except (StopIteration, csv.Error):
        return []
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, value in enumerate(first):
        name = (value or "").strip() or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        names.append(name)
    return names


def _columns_struct(columns: list[str]) -> str:
    return "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in columns) + "}"


def _collect_rejects(con: duckdb.DuckDBPyConnection) -> list[Reject]:
    rows = con.execute(
        "SELECT line, any_value(csv_line), string_agg(DISTINCT error_type || ': ' || "
        "error_message, '; ') FROM voxloop_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS voxloop_rejects")
    con.execute("DROP TABLE IF EXISTS voxloop_reject_scans")
    return [Reject(int(r[0]), str(r[1]), _reject_reason(str(r[2]))) for r in rows]


def _reject_reason(message: str) -> str:
    lower = message.lower()
    if "too many columns" in lower:
        return "the line has more fields than the header (a delimiter inside an unquoted value?)"
    if "missing columns" in lower:
        return "the line has fewer fields than the header (a line break inside a value?)"
    if "unquoted" in lower or "quote" in lower:
        return "a quoted value is not closed"
    if "unicode" in lower or "encoding" in lower:
        return "the line is not valid UTF-8 (declare csv.encoding in the mapping)"
    return message[:300]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Staged:
    con.execute(f"DROP TABLE IF EXISTS {table}")
    try:
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT COLUMNS(*)::VARCHAR "
            f"FROM read_parquet({literal(str(path))})"
        )
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: not a readable Parquet file: {_short(exc)}",
            hint="check the file was fully written (a truncated Parquet file cannot be read)",
        ) from exc
    columns = [str(r[0]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    return Staged(table, columns, _count(con, table), "parquet")


def _stage_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    arrow: pa.Table,
    rejects: list[Reject],
    encoding: str,
) -> Staged:
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.register("__voxloop_arrow", arrow)
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM __voxloop_arrow")
    finally:
        con.unregister("__voxloop_arrow")
    return Staged(table, list(arrow.column_names), arrow.num_rows, encoding, rejects)


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


def _text_table(columns: list[str], rows: Iterator[list[str | None]]) -> pa.Table:
    data: list[list[str | None]] = [[] for _ in columns]
    for row in rows:
        for i, _ in enumerate(columns):
            data[i].append(row[i] if i < len(row) else None)
    return pa.table({c: pa.array(d, type=pa.string()) for c, d in zip(columns, data, strict=True)})


def _read_jsonl(path: Path) -> tuple[pa.Table, list[Reject], str]:
    objects: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    columns: dict[str, None] = {}
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        for line_no, raw_bytes in enumerate(fh, start=1):
            raw = raw_bytes.decode("utf-8", errors="replace").strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                rejects.append(
                    Reject(line_no, raw, f"not valid JSON: {exc.msg} (column {exc.colno})")
                )
                continue
            if not isinstance(obj, dict):
                rejects.append(Reject(line_no, raw, "each line must be a JSON object {...}"))
                continue
            objects.append(obj)
            for key in obj:
                columns.setdefault(str(key), None)
    names = list(columns)
    if not names and not rejects:
        raise IngestError(f"{path}: no JSON object found", hint="one JSON object per line")
    table = _text_table(names, ([_cell_text(o.get(c)) for c in names] for o in objects))
    return table, rejects, "utf-8"


def _read_excel(path: Path, sheet: str | int) -> tuple[pa.Table, list[Reject], str]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise IngestError(
            f"{path}: not a readable spreadsheet: {_short(exc)}",
            hint="open it in a spreadsheet program and save it again as .xlsx",
        ) from exc
    try:
        sheet_obj = (
            book.get_sheet_by_index(sheet)
            if isinstance(sheet, int)
            else book.get_sheet_by_name(sheet)
        )
    except Exception as exc:
        raise IngestError(
            f"{path}: no sheet {sheet!r}",
            hint=f"sheets in this file: {', '.join(book.sheet_names)}",
        ) from exc
    rows = sheet_obj.to_python(skip_empty_area=True)
    if not rows:
        raise IngestError(f"{path}: the sheet is empty", hint="nothing was loaded")
    header = [(_cell_text(v) or f"column{i + 1}").strip() for i, v in enumerate(rows[0])]
    body = (
        [_cell_text(v) for v in row] for row in rows[1:] if any(v not in ("", None) for v in row)
    )
    return _text_table(header, body), [], "xlsx"
