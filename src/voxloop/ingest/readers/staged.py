"""What a reader produces: a staging table of text columns and how to address its rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from voxloop.ingest.normalise import literal

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


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(row[0][0]) if row else 0


def short_error(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"
