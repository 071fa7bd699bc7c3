"""CSV and TSV: DuckDB's parallel reader with everything declared, encodings handled."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from voxloop.errors import IngestError
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.normalise import literal
from voxloop.ingest.readers.staged import (
    ROW_COLUMN,
    Reject,
    Staged,
    count_rows,
    short_error,
    unique_names,
)

SAMPLE_BYTES = 1 << 20
# DuckDB sizes its read buffers from the longest line it accepts, so lines up to 8 MB are read
# in one pass and a file with longer ones (a 100 MB e-mail body) is read again with 256 MB
# lines: the long field then reaches our own check and its row goes to quarantine, whole.
MAX_LINE_BYTES = 1 << 23
LONG_LINE_BYTES = 1 << 28
DELIMITERS = (",", ";", "\t", "|")


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


def stage_csv(
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
            f"{path}: the CSV reader failed: {short_error(exc)}",
            hint="check the delimiter and quoting (set them under csv: in the mapping)",
        ) from exc
    rejects = _collect_rejects(con)
    if any("LINE SIZE OVER MAXIMUM" in r.reason for r in rejects) and read_path.suffix != ".gz":
        # a line over 8 MB was set aside: read again with long lines so that its row reaches
        # our own length check whole (the reject table keeps only the start of a line)
        try:
            read(LONG_LINE_BYTES)
        except duckdb.Error as exc:
            raise IngestError(f"{path}: the CSV reader failed: {short_error(exc)}") from exc
        rejects = _collect_rejects(con)
        notes.append("some lines are longer than 8 MB; the file was read in long-line mode")
    rows = count_rows(con, table)
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
