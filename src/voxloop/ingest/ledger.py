"""The load ledger: one row per ingestion run, including the failed and unchanged ones."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from voxloop import __version__
from voxloop.ingest.mapping import SourceMapping
from voxloop.model.schema import LOADS
from voxloop.store.ddl import quote


@dataclass
class LoadResult:
    """What one load did. ``rows_read = rows_loaded + rows_quarantined + duplicates_skipped``."""

    load_id: int
    source: str
    file: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_skipped: int = 0
    rows_updated: int = 0  # of rows_loaded: newer versions of rows already stored
    tables: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path, progress: Callable[[float], None]) -> str:
    digest = hashlib.sha256()
    size = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
            done += len(chunk)
            progress(done / size)
    return digest.hexdigest()


def mapping_fingerprint(mapping: SourceMapping) -> str:
    """Changes whenever the mapping would read the file differently (so a fixed mapping can
    load rows an earlier load quarantined)."""
    return hashlib.sha256(mapping.model_dump_json().encode("utf-8")).hexdigest()


def next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchall()
    return int(rows[0][0])


def previous_load(
    con: duckdb.DuckDBPyConnection, source: str, sha: str, fingerprint: str
) -> tuple[int, int] | None:
    """(load_id, rows_read) of a committed load of the same file through the same mapping."""
    rows = con.execute(
        "SELECT load_id, rows_read FROM loads WHERE source = ? AND file_sha256 = ? "
        "AND mapping_sha256 = ? AND status = 'committed' ORDER BY load_id LIMIT 1",
        [source, sha, fingerprint],
    ).fetchall()
    return (int(rows[0][0]), int(rows[0][1] or 0)) if rows else None


def record(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    *,
    sha: str | None,
    fingerprint: str,
    size: int | None,
    started: datetime,
    message: str | None,
) -> None:
    values: dict[str, Any] = {
        "load_id": result.load_id,
        "source": result.source,
        "file_path": result.file,
        "file_sha256": sha,
        "mapping_sha256": fingerprint,
        "file_bytes": size,
        "status": result.status,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "duration_s": result.duration_s,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "duplicates_skipped": result.duplicates_skipped,
        "encoding": result.encoding,
        "message": message,
        "voxloop_version": __version__,
    }
    cols = [c for c in LOADS.names if c in values]
    con.execute(
        f"INSERT INTO loads ({', '.join(quote(c) for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})",
        [values[c] for c in cols],
    )
