"""``voxloop annotate``: every text of the store (survey comments, posts, complaints, contact
texts) analysed once per pipeline version, in batches with progress.

A text already analysed under the current version — even attached to another row (the same
comment pasted twice, a template reply) — is not analysed again: its results are copied by
text hash. Each batch is committed on its own, so an interrupted run keeps what it finished
and the next run goes on from there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from voxloop.store.duckdb_store import DuckDBStore
from voxloop.text.analyser import Annotation, TextAnalyser

ProgressFn = Callable[[str, float], None]  # stage, fraction done

# Every text of the canonical model, with the row it belongs to.
SOURCES_SQL = """
    SELECT 'feedback' AS owner_table, feedback_id AS owner_id, comment AS text
    FROM feedback WHERE comment IS NOT NULL AND trim(comment) <> ''
    UNION ALL
    SELECT 'interactions', interaction_id, text
    FROM interactions WHERE text IS NOT NULL AND trim(text) <> ''
"""


@dataclass
class AnnotateResult:
    version: str
    texts: int = 0  # rows needing an annotation
    analysed: int = 0  # distinct texts analysed
    reused: int = 0  # rows whose text was already analysed (same hash)
    skipped: int = 0
    truncated: int = 0
    duration_s: float = 0.0
    by_language: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pending(con: Any, version: str) -> pa.Table:
    return con.sql(
        f"""
        WITH src AS ({SOURCES_SQL})
        SELECT s.owner_table, s.owner_id, s.text, sha256(s.text) AS text_hash
        FROM src s
        ANTI JOIN (SELECT owner_table, owner_id FROM annotations
                   WHERE pipeline_version = ?) a USING (owner_table, owner_id)
        ORDER BY text_hash, s.owner_table, s.owner_id
        """,
        params=[version],
    ).to_arrow_table()


def _reuse(con: Any, version: str, now: datetime) -> int:
    """Copy the results of texts already analysed under ``version`` onto rows lacking them."""
    row = con.execute(
        f"""
        INSERT INTO annotations (text_hash, owner_table, owner_id, pipeline_version, language,
            redacted_text, themes, sentiment_score, sentiment_label, created_at, status, note,
            pii_found)
        WITH src AS ({SOURCES_SQL}),
        need AS (
            SELECT s.owner_table, s.owner_id, sha256(s.text) AS text_hash FROM src s
            ANTI JOIN (SELECT owner_table, owner_id FROM annotations
                       WHERE pipeline_version = ?) a USING (owner_table, owner_id)
        ),
        done AS (
            SELECT text_hash, any_value(language) AS language,
                   any_value(redacted_text) AS redacted_text, any_value(themes) AS themes,
                   any_value(sentiment_score) AS sentiment_score,
                   any_value(sentiment_label) AS sentiment_label, any_value(status) AS status,
                   any_value(note) AS note, any_value(pii_found) AS pii_found
            FROM annotations WHERE pipeline_version = ? GROUP BY text_hash
        )
        SELECT n.text_hash, n.owner_table, n.owner_id, ?, d.language, d.redacted_text,
               d.themes, d.sentiment_score, d.sentiment_label, ?, d.status, d.note,
               d.pii_found
        FROM need n JOIN done d USING (text_hash)
        """,
        [version, version, version, now],
    ).fetchall()
    return int(row[0][0]) if row else 0


def _themes_json(a: Annotation) -> str:
    return json.dumps(
        [{"id": t.id, "confidence": round(t.confidence, 4), "source": t.source} for t in a.themes]
    )


def _rows(
    batch: pa.Table, annotations: dict[str, Annotation], version: str, now: datetime
) -> pa.Table:
    hashes = batch["text_hash"].to_pylist()
    found = [annotations[h] for h in hashes]
    return pa.table(
        {
            "text_hash": batch["text_hash"],
            "owner_table": batch["owner_table"],
            "owner_id": batch["owner_id"],
            "pipeline_version": pa.array([version] * len(found), pa.string()),
            "language": pa.array([a.language for a in found], pa.string()),
            "redacted_text": pa.array([a.redacted for a in found], pa.string()),
            "themes": pa.array([_themes_json(a) for a in found], pa.string()),
            "sentiment_score": pa.array([a.sentiment_score for a in found], pa.float64()),
            "sentiment_label": pa.array([a.sentiment_label for a in found], pa.string()),
            "created_at": pa.array([now] * len(found), pa.timestamp("us", "UTC")),
            "status": pa.array([a.status for a in found], pa.string()),
            "note": pa.array([a.note for a in found], pa.string()),
            "pii_found": pa.array([json.dumps(a.pii) for a in found], pa.string()),
        }
    )


def annotate(
    store: DuckDBStore,
    analyser: TextAnalyser,
    *,
    batch_size: int = 2000,
    progress: ProgressFn | None = None,
) -> AnnotateResult:
    started = time.perf_counter()
    version = analyser.version
    result = AnnotateResult(version)
    now = datetime.now(UTC)
    with store.transaction() as con:
        result.reused = _reuse(con, version, now)
    pending = _pending(store.cursor(), version)
    result.texts = pending.num_rows + result.reused
    if pending.num_rows:
        hashes = pending["text_hash"].to_pylist()
        texts = pending["text"].to_pylist()
        first_of: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            first_of.setdefault(h, t)
        distinct = list(first_of)
        done = 0
        for start in range(0, len(distinct), batch_size):
            chunk = distinct[start : start + batch_size]
            found = dict(zip(chunk, analyser.analyse([first_of[h] for h in chunk]), strict=True))
            mask = pa.array([h in found for h in hashes])
            rows = _rows(pending.filter(mask), found, version, now)
            with store.transaction() as con:
                con.register("_annotations", rows)
                con.execute(
                    f"INSERT INTO annotations ({', '.join(rows.column_names)}) "
                    f"SELECT * FROM _annotations"
                )
                con.unregister("_annotations")
            for a in found.values():
                result.analysed += 1
                result.skipped += a.status == "skipped"
                result.truncated += a.status == "truncated"
                if a.language:
                    result.by_language[a.language] = result.by_language.get(a.language, 0) + 1
            done += len(chunk)
            if progress is not None:
                progress("annotate", done / len(distinct))
    result.duration_s = time.perf_counter() - started
    return result
