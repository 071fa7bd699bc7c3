"""The language of each verbatim, with ``py3langid`` restricted to the workspace's languages.

Very short texts ("ok", "merci", an emoji) carry too little signal for any identifier: when
the identifier is not confident, the workspace's default language is used and said so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MIN_CONFIDENCE = 0.8


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    defaulted: bool  # True when the default language was used for lack of confidence


class LanguageDetector:
    def __init__(self, languages: Sequence[str] = ("fr", "en"), default: str = "fr") -> None:
        self.languages = [lang.lower() for lang in languages]
        self.default = default.lower()
        self._identifier: Any = None

    def _model(self) -> Any:
        if self._identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            if self.languages:
                identifier.set_languages(self.languages)
            self._identifier = identifier
        return self._identifier

    def detect(self, text: str) -> LanguageGuess:
        language, confidence = self._model().classify(text)
        if confidence < MIN_CONFIDENCE:
            return LanguageGuess(self.default, float(confidence), True)
        return LanguageGuess(str(language), float(confidence), False)

    def detect_many(self, texts: Sequence[str]) -> list[LanguageGuess]:
        return [self.detect(t) for t in texts]
