"""The value types the text modules exchange (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass

# Placeholders that replace personal data in redacted text.
PLACEHOLDERS = {
    "EMAIL": "<EMAIL>",
    "PHONE": "<PHONE>",
    "IBAN": "<IBAN>",
    "CARD": "<CARD>",
    "NIR": "<NIR>",  # French social-security number
    "NAME": "<NAME>",
}


@dataclass(frozen=True)
class Span:
    """Where personal data was found in the *original* text."""

    kind: str  # a key of PLACEHOLDERS
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Redaction:
    """A text with its personal data replaced by placeholders, and what was replaced."""

    text: str
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class ThemeScore:
    """One theme found in a text, with the confidence (0–1) and what found it."""

    id: str
    confidence: float
    source: str  # "rule", "centroid" or "head"


@dataclass(frozen=True)
class Sentiment:
    score: float  # in [-1, 1]
    label: str  # "negative", "neutral" or "positive"
