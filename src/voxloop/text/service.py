"""Text analytics as the workspace offers it (``ws.text``): annotate the store, classify or
evaluate a file, train the head, find and accept emerging themes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from voxloop.config import Settings
from voxloop.errors import UserError
from voxloop.store.duckdb_store import DuckDBStore
from voxloop.text.analyser import TextAnalyser
from voxloop.text.pipeline import AnnotateResult, ProgressFn, annotate

BATCH = 1000


def read_table(path: Path, columns: list[str]) -> Any:
    """Rows of a CSV, TSV, JSON Lines or Parquet file as a pyarrow table, checking that
    ``columns`` exist (the error names the file and the columns it has)."""
    if not path.exists():
        raise UserError(f"{path}: no such file", hint="check the path")
    suffix = path.suffix.lower()
    con = duckdb.connect()
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            rel = con.read_json(str(path), format="newline_delimited")
        elif suffix == ".parquet":
            rel = con.read_parquet(str(path))
        else:
            rel = con.read_csv(str(path), header=True, all_varchar=True)
        table = rel.to_arrow_table()
    except duckdb.Error as exc:
        raise UserError(
            f"{path}: cannot be read: {exc}", hint="give a CSV, JSONL or Parquet file"
        ) from exc
    finally:
        con.close()
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise UserError(
            f"{path}: no column {missing[0]!r}",
            hint=f"columns in the file: {', '.join(table.column_names)}",
        )
    return table


class TextAnalytics:
    def __init__(self, store: DuckDBStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.root = settings.root

    @property
    def model_dir(self) -> Path:
        return self.root / ".voxloop" / "models"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".voxloop" / "cache"

    def analyser(self, taxonomy: Path | None = None) -> TextAnalyser:
        return TextAnalyser(
            languages=self.settings.languages,
            default_language=self.settings.default_language,
            default_region=self.settings.default_region,
            taxonomy_path=taxonomy or self.root / "taxonomy.yaml",
            model_dir=self.model_dir,
            cache_dir=self.cache_dir,
        )

    def annotate(self, progress: ProgressFn | None = None) -> AnnotateResult:
        """Analyse every text of the store not yet analysed by this pipeline version."""
        return annotate(self.store, self.analyser(), progress=progress)

    def classify_file(
        self, path: Path, text_column: str, taxonomy: Path | None = None
    ) -> Iterator[dict[str, Any]]:
        """Per input row, in order: language, redacted text, themes, sentiment."""
        table = read_table(path, [text_column])
        analyser = self.analyser(taxonomy)
        texts = table[text_column].to_pylist()
        for start in range(0, len(texts), BATCH):
            for a in analyser.analyse(texts[start : start + BATCH]):
                yield a.as_dict()

    def evaluate_file(
        self, path: Path, text_column: str, label_column: str, taxonomy: Path | None = None
    ) -> dict[str, Any]:
        from voxloop.text.evaluate import evaluate

        table = read_table(path, [text_column, label_column])
        texts = table[text_column].to_pylist()
        gold = [_labels(v) for v in table[label_column].to_pylist()]
        predicted = [[t["id"] for t in row["themes"]] for row in
                     self.classify_file(path, text_column, taxonomy)]  # fmt: skip
        return evaluate(texts, gold, predicted)

    def train(self, path: Path, text_column: str, label_column: str) -> dict[str, Any]:
        from voxloop.text.train import train_from_file

        table = read_table(path, [text_column, label_column])
        analyser = self.analyser()
        texts = [a.redacted or "" for a in analyser.analyse(table[text_column].to_pylist())]
        labels = [_labels(v) for v in table[label_column].to_pylist()]
        return train_from_file(
            texts, labels, self.root / "taxonomy.yaml", self.model_dir, self.cache_dir
        )

    # -- emerging themes ----------------------------------------------------------------------
    def themes(self, since: str | None = None, min_size: int = 5) -> list[dict[str, Any]]:
        """Candidate themes among the texts no theme explains (annotated since ``since``)."""
        from voxloop.text.embed import embed_texts
        from voxloop.text.emerging import find_candidates

        version = self.analyser().version
        start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
        rows = (
            self.store.cursor()
            .execute(
                """
            SELECT a.owner_table || ':' || a.owner_id, a.redacted_text, a.language
            FROM annotations a
            LEFT JOIN feedback f ON a.owner_table = 'feedback' AND f.feedback_id = a.owner_id
            LEFT JOIN interactions i
                   ON a.owner_table = 'interactions' AND i.interaction_id = a.owner_id
            WHERE a.pipeline_version = ? AND coalesce(a.status, 'ok') <> 'skipped'
              AND (a.themes IS NULL OR json_array_length(a.themes) = 0)
              AND (CAST(? AS TIMESTAMPTZ) IS NULL
                   OR coalesce(f.answered_at, i.started_at) >= CAST(? AS TIMESTAMPTZ))
            ORDER BY 1
            """,
                [version, start, start],
            )
            .fetchall()
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        texts = [r[1] or "" for r in rows]
        embeddings = np.asarray(embed_texts(texts, self.cache_dir), dtype=np.float32)
        found = find_candidates(
            ids, texts, [r[2] for r in rows], embeddings, min_cluster_size=min_size
        )
        data = [c.as_dict() for c in found]
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        (self.cache_dir / "candidates.json").write_text(
            json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return data

    def accept(
        self, candidate: str, theme_id: str, *, domain: str, label_fr: str | None = None,
        label_en: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Add a candidate theme to ``taxonomy.yaml`` (its words as keywords, its examples as
        example sentences); the file stays valid or is left untouched."""
        from voxloop.text.taxonomy import append_theme

        path = self.cache_dir / "candidates.json"
        if not path.exists():
            raise UserError("no candidate themes yet", hint="run `voxloop text themes` first")
        candidates = {c["id"]: c for c in json.loads(path.read_text(encoding="utf-8"))}
        if candidate not in candidates:
            raise UserError(
                f"no candidate {candidate!r}",
                hint=f"candidates: {', '.join(candidates) or 'none'} (voxloop text themes)",
            )
        c = candidates[candidate]
        return append_theme(
            self.root / "taxonomy.yaml",
            theme_id=theme_id,
            domain=domain,
            labels={"fr": label_fr or c["label"], "en": label_en or c["label"]},
            keywords=c["words"],
            examples=c["examples"],
        )


def _labels(value: Any) -> list[str]:
    """A gold label cell: one theme, or several separated by | or ;."""
    if value is None:
        return []
    return [p.strip() for p in str(value).replace(";", "|").split("|") if p.strip()]
