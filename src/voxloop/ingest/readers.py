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

import codecs
import csv
import gzip
import io
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voxloop.errors import IngestError
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.normalise import literal

SAMPLE_BYTES = 1 << 20
# DuckDB sizes its read buffers from the longest line it accepts, so lines up to 8 MB are read
# in one pass and a file with longer ones (a 100 MB e-mail body) is read again with 256 MB
# lines: the long field then reaches our own check and its row goes to quarantine, whole.
MAX_LINE_BYTES = 1 << 23
LONG_LINE_BYTES = 1 << 28
DELIMITERS = (",", ";", "\t", "|")
ROW_COLUMN = "__voxloop_row"
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
    """A staged file: internal column names, header names, and how to number rows."""

    table: str
    columns: list[str]  # header names as written (made unique), in file order
    rows: int
    encoding: str
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_base: int = 0  # rowid of the first staged row (temporary tables do not start at 0)
    numbered: bool = False  # True when the table carries ROW_COLUMN (true data-row numbers)

    def ident(self, column: str) -> str:
        """Internal SQL name of a header name."""
        return f"c{self.columns.index(column) + 1}"

    def column_sql(self, column: str, alias: str) -> str:
        return f"{alias}.{self.ident(column)}"

    def row_number_sql(self, alias: str) -> str:
        """SQL for the 1-based data row number of a staged row."""
        if self.numbered:
            return f"{alias}.{ROW_COLUMN}"
        return f"({alias}.rowid - {self.row_base} + 1)"

    def row_filter_sql(self, alias: str, rows_table: str) -> str:
        """SQL keeping the staged rows whose number is in ``rows_table.__row`` (by rowid
        when possible, which DuckDB answers without reading the other rows)."""
        if self.numbered:
            return f"{alias}.{ROW_COLUMN} IN (SELECT __row FROM {rows_table})"
        return f"{alias}.rowid IN (SELECT __row + {self.row_base - 1} FROM {rows_table})"

    def raw_json_sql(self, alias: str) -> str:
        """The raw row as a JSON object keyed by the file's own header names."""
        pairs = ", ".join(f"{literal(c)}, {self.column_sql(c, alias)}" for c in self.columns)
        return f"json_object({pairs})"


def unique_names(names: Iterable[str | None]) -> list[str]:
    """Header names as a person reads them: blanks get their position, repeats a suffix
    (case-insensitively, since mappings match columns regardless of case)."""
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(names):
        base = (value or "").strip().lstrip("\ufeff") or f"column{i + 1}"
        name, n = base, 1
        while name.casefold() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.casefold())
        out.append(name)
    return out


def detect_format(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return EXTENSIONS.get(suffixes[-1], "csv") if suffixes else "csv"


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


MIXED = "utf-8, some lines cp1252"


def _transcode_lines(path: Path, target: Path) -> int:
    """Rewrite as UTF-8 a file that is UTF-8 except for some lines (an export appended to by a
    Windows tool): each line is decoded on its own. Returns how many lines were not UTF-8."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    fallback = 0
    with opener(path, "rb") as src, target.open("wb") as dst:
        for line in src:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                fallback += 1
                try:
                    text = line.decode("cp1252")
                except UnicodeDecodeError:
                    text = line.decode("latin-1")
            dst.write(text.encode("utf-8"))
    return fallback


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
        staged = _stage_csv(con, path, mapping, table, work_dir, tab=fmt == "tsv")
    elif fmt == "jsonl":
        staged = _stage_arrow(con, table, *_read_jsonl(path))
    elif fmt == "parquet":
        staged = _stage_parquet(con, path, table)
    else:
        staged = _stage_arrow(con, table, *_read_excel(path, mapping.sheet))
    row = con.execute(f"SELECT min(rowid) FROM {table}").fetchall()
    staged.row_base = int(row[0][0]) if row and row[0][0] is not None else 0
    return staged


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
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(
            f"{path}: the file is in UTF-16 (Excel's 'Unicode text')",
            hint="save it as 'CSV UTF-8' instead, or as .xlsx",
        )
    if b"\x00" in sample:
        raise IngestError(
            f"{path}: this is not a text (CSV) file — it contains binary data",
            hint="export the data as CSV, JSON Lines, Parquet or Excel, "
            "or give the file its right extension",
        )
    if not mapping.csv.header:
        raise IngestError(
            f"{path}: files without a header row are not supported",
            hint="add a first line naming the columns",
        )
    declared = mapping.csv.encoding.lower()
    encoding = declared if declared != "auto" else ("utf-8" if _is_utf8(sample) else "cp1252")
    work_dir.mkdir(parents=True, exist_ok=True)
    converted = work_dir / f"{table}.utf8.csv"
    try:
        staged = _read_csv_as(con, path, mapping, table, converted, encoding, tab=tab)
        unicode_rejects = [r for r in staged.rejects if "UTF-8" in r.reason]
        if declared == "auto" and encoding == "utf-8" and unicode_rejects:
            # the first megabyte was UTF-8, a later line is not: decode line by line
            staged = _read_csv_as(con, path, mapping, table, converted, MIXED, tab=tab)
        return staged
    finally:
        converted.unlink(missing_ok=True)


def _read_csv_as(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mapping: SourceMapping,
    table: str,
    converted: Path,
    encoding: str,
    *,
    tab: bool,
) -> Staged:
    opts = mapping.csv
    notes: list[str] = []
    read_path = path
    if encoding == MIXED:
        lines = _transcode_lines(path, converted)
        read_path = converted
        notes.append(f"{lines} line(s) were not UTF-8 and were read as Windows-1252")
    elif encoding not in ("utf-8", "utf8", "utf-8-sig"):
        if path.suffix.lower() == ".gz":
            raise IngestError(
                f"{path}: compressed files must be UTF-8 (this one is {encoding})",
                hint="decompress it first; voxloop then converts the encoding itself",
            )
        encoding = _transcode(path, converted)
        read_path = converted
        notes.append(f"read as {encoding} and converted to UTF-8")
    text_sample = _open_sample(read_path).decode("utf-8", errors="replace").lstrip("\ufeff")
    if opts.delimiter != "auto":
        delimiter = "\t" if opts.delimiter in ("\\t", "tab") else opts.delimiter
    else:
        delimiter = "\t" if tab else sniff_delimiter(_first_line(text_sample))
    header = _header_columns(text_sample, delimiter, opts.quote)
    if not header:
        raise IngestError(f"{path}: no header row found", hint="the first line must name columns")
    columns = "{" + ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(len(header))) + "}"

    def read(max_line: int) -> None:
        buffer = f", buffer_size = {2 * max_line}" if max_line > MAX_LINE_BYTES else ""
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(
            f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv({literal(str(read_path))}, "
            f"columns = {columns}, header = true, "
            f"delim = {literal(delimiter)}, quote = {literal(opts.quote)}, "
            f"escape = {literal(opts.quote)}, max_line_size = {max_line}{buffer}, "
            "store_rejects = true, rejects_table = 'voxloop_rejects', "
            "rejects_scan = 'voxloop_reject_scans', null_padding = false, "
            # everything is declared: no sniffing, which one malformed line can defeat
            "auto_detect = false, parallel = true, normalize_names = false)"
        )

    try:
        try:
            read(MAX_LINE_BYTES)
        except duckdb.Error as exc:
            too_long = "bytes exceeded" in str(exc) and "maximum line size of" in str(exc).lower()
            if not too_long or read_path.suffix.lower() == ".gz":
                raise
            read(LONG_LINE_BYTES)
            notes.append("some lines are longer than 8 MB; the file was read in long-line mode")
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: the CSV reader failed: {_short(exc)}",
            hint="check the delimiter and quoting (set them under csv: in the mapping)",
        ) from exc
    rejects = _collect_rejects(con)
    if any("LINE SIZE OVER MAXIMUM" in r.reason for r in rejects) and read_path.suffix != ".gz":
        # a line over 8 MB was set aside: read again with long lines so that its row reaches
        # our own length check whole (the reject table keeps only the start of a line)
        try:
            read(LONG_LINE_BYTES)
        except duckdb.Error as exc:
            raise IngestError(f"{path}: the CSV reader failed: {_short(exc)}") from exc
        rejects = _collect_rejects(con)
        notes.append("some lines are longer than 8 MB; the file was read in long-line mode")
    rows = _count(con, table)
    staged = Staged(table, header, rows, encoding, rejects, notes)
    if rows == 0 and not rejects:
        notes.append("the file has a header but no data rows")
    if rejects:
        _number_rows_around_rejects(con, staged, read_path, delimiter, opts.quote)
    return staged


def _header_columns(sample: str, delimiter: str, quote_char: str) -> list[str]:
    try:
        first = next(csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quote_char))
    except (StopIteration, csv.Error):
        return []
    return unique_names(first)


def _number_rows_around_rejects(
    con: duckdb.DuckDBPyConnection, staged: Staged, path: Path, delimiter: str, quote: str
) -> None:
    """Rejected lines are not staged, so staged rows no longer know their place in the file.

    A second, Python pass over the file finds where every record starts; the records DuckDB
    rejected (by line) are left out and the rest are numbered in order. The numbers are
    attached only when both readers agree on how many good records there are.
    """
    rejected = {r.line for r in staged.rejects if r.line is not None}
    good: list[int] = []
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    csv.field_size_limit(LONG_LINE_BYTES)
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, quotechar=quote)
        next(reader, None)
        number, last_line = 0, reader.line_num
        for record in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not record:
                continue
            number += 1
            if not rejected.intersection(range(first_line, last_line + 1)):
                good.append(number)
    if len(good) != staged.rows:
        staged.notes.append(
            "some lines could not be read; row numbers after the first of them may be off"
        )
        return
    numbers = pa.table(
        {"k": pa.array(range(1, len(good) + 1), pa.int64()), "n": pa.array(good, pa.int64())}
    )
    con.register("__voxloop_numbers", numbers)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {staged.table} AS SELECT m.n AS {ROW_COLUMN}, s.* "
            f"FROM (SELECT rowid - (SELECT min(rowid) FROM {staged.table}) + 1 AS __k, * "
            f"FROM {staged.table}) s JOIN __voxloop_numbers m ON m.k = s.__k ORDER BY m.n"
        )
        con.execute(f"ALTER TABLE {staged.table} DROP COLUMN __k")
    finally:
        con.unregister("__voxloop_numbers")
    staged.numbered = True


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
    if "unicode" in lower or "encoding" in lower:
        return "the line is not valid UTF-8 (declare csv.encoding in the mapping)"
    if "unquoted" in lower or "quote" in lower:
        return "a quoted value is not closed"
    return message[:300]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(row[0][0]) if row else 0


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> Staged:
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
            f"{path}: not a readable Parquet file: {_short(exc)}",
            hint="check the file was fully written (a truncated Parquet file cannot be read)",
        ) from exc
    return Staged(table, header, _count(con, table), "parquet")


def _stage_arrow(
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


def _read_jsonl(
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


def _read_excel(
    path: Path, sheet: str | int
) -> tuple[list[str], list[tuple[int, list[str | None]]], list[Reject], str]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for corrupt files
        raise IngestError(
            f"{path}: not a readable spreadsheet: {_short(exc)}",
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
