"""One verbatim in, everything text analytics knows about it out: clean → language →
redaction → themes → sentiment. Themes and sentiment only ever see the redacted text.

The same :class:`TextAnalyser` serves ``voxloop annotate`` (the store), ``voxloop text
classify`` (a file) and the Python API, so a verbatim gets the same answer everywhere.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxloop.text.clean import MAX_CHARS, clean_text
from voxloop.text.language import LanguageDetector
from voxloop.text.sentiment import SentimentAnalyzer
from voxloop.text.types import ThemeScore

# Bump when the pipeline's behaviour changes: every text is then analysed again.
PIPELINE_CODE_VERSION = "1"


@dataclass(frozen=True)
class Annotation:
    status: str  # ok | truncated | skipped
    note: str | None
    language: str | None
    redacted: str | None
    themes: tuple[ThemeScore, ...] = ()
    sentiment_score: float | None = None
    sentiment_label: str | None = None
    pii: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "redacted": self.redacted,
            "themes": [{"id": t.id, "confidence": round(t.confidence, 3)} for t in self.themes],
            "sentiment": self.sentiment_label,
            "sentiment_score": self.sentiment_score,
            "status": self.status,
            "note": self.note,
        }


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


Classify = Callable[[list[str], list[str]], list[list[ThemeScore]]]


class TextAnalyser:
    """Build once (models load lazily), then :meth:`analyse` batches of raw texts."""

    def __init__(
        self,
        *,
        languages: Sequence[str] = ("fr", "en"),
        default_language: str = "fr",
        default_region: str = "FR",
        taxonomy_path: Path | None = None,
        model_dir: Path | None = None,
        cache_dir: Path | None = None,
        max_chars: int = MAX_CHARS,
        redact_names: bool = True,
    ) -> None:
        self.languages = tuple(languages)
        self.detector = LanguageDetector(languages, default_language)
        self.default_region = default_region
        self.taxonomy_path = taxonomy_path
        self.model_dir = model_dir
        self.cache_dir = cache_dir
        self.max_chars = max_chars
        self.redact_names = redact_names
        self.sentiment = SentimentAnalyzer()
        self._redactor: Any = None
        self._classify: Classify | None = None

    @property
    def version(self) -> str:
        """Code version + fingerprints of the taxonomy and of the trained head: editing
        ``taxonomy.yaml`` or retraining makes every text due again."""
        parts = [PIPELINE_CODE_VERSION]
        for path in (self.taxonomy_path, self._head_path()):
            if path is not None and path.exists():
                parts.append(hashlib.sha256(path.read_bytes()).hexdigest()[:8])
        return "-".join(parts)

    def _head_path(self) -> Path | None:
        if self.model_dir is None:
            return None
        from voxloop.text.train import head_file

        return head_file(self.model_dir)

    def redactor(self) -> Any:
        if self._redactor is None:
            from voxloop.text.redact import Redactor

            self._redactor = Redactor(
                self.languages, default_region=self.default_region, names=self.redact_names
            )
        return self._redactor

    def classifier(self) -> Classify:
        if self._classify is None:
            from voxloop.text.classify import build_classifier

            self._classify = build_classifier(
                self.taxonomy_path, model_dir=self.model_dir, cache_dir=self.cache_dir
            )
        return self._classify

    def analyse(self, texts: Sequence[str | None]) -> list[Annotation]:
        cleaned = [clean_text(t, self.max_chars) for t in texts]
        todo = [i for i, c in enumerate(cleaned) if c.status != "skipped"]
        out: list[Annotation | None] = [
            None if c.status != "skipped" else Annotation("skipped", c.note, None, None)
            for c in cleaned
        ]
        if not todo:
            return [a for a in out if a is not None]
        bodies = [cleaned[i].text for i in todo]
        languages = [g.language for g in self.detector.detect_many(bodies)]
        redactions = self.redactor().redact_many(bodies, languages)
        redacted = [r.text for r in redactions]
        themes = self.classifier()(redacted, languages)
        for k, i in enumerate(todo):
            sentiment = self.sentiment.score(redacted[k], languages[k])
            out[i] = Annotation(
                cleaned[i].status,
                cleaned[i].note,
                languages[k],
                redacted[k],
                tuple(themes[k]),
                sentiment.score,
                sentiment.label,
                dict(Counter(span.kind for span in redactions[k].spans)),
            )
        return [a for a in out if a is not None]
