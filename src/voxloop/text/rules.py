"""Keyword, lemma and regex rules of the taxonomy: the fast path of theme classification.

Everything is compiled once per taxonomy; a text is then tokenised once and each token looked
up in hash tables (phrases by their first word, ``word*`` prefixes by length, lemmas), plus one
search per theme that has regexes. Matching ignores case and accents (``LIVRÉE`` = ``livree``).

Lemmas use simplemma in the text's language. Its dictionaries miss some inflections (French
feminine participles such as *livrée*, English doubled consonants such as *cancelled*), so a few
suffix variants of each word are lemmatised too; the candidates of each distinct word are
cached, so a corpus pays for each word once.

Confidence: each distinct term found contributes a weight (a word 0.6, a phrase 0.75, a lemma
0.6, a regex 0.8) and weights combine as independent evidence: 1 − Π(1 − w), at most 0.99.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from voxloop.text.taxonomy import ANY, Taxonomy
from voxloop.text.types import ThemeScore

WORD_WEIGHT = 0.6
PHRASE_WEIGHT = 0.75
LEMMA_WEIGHT = 0.6
REGEX_WEIGHT = 0.8
MAX_RULE_CONFIDENCE = 0.99
_LEMMA_LANGUAGES_DEFAULT = ("fr", "en")


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base != char and base.isascii():
            table[code] = base.lower()
    table |= {ord(c): "'" for c in "’‘ʼ`´"}
    table |= {ord("œ"): "oe", ord("Œ"): "oe", ord("æ"): "ae", ord("Æ"): "ae", ord("ß"): "ss"}
    return table


_FOLD = _fold_table()
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without accents: ``"Livrée à l'Œil"`` → ``"livree a l'oeil"``."""
    return text.lower().translate(_FOLD)


def words(text: str) -> list[str]:
    """The folded words of a text, as rules see them."""
    return [t.translate(_FOLD) for t in _TOKEN.findall(text.lower())]


def _fr_variants(token: str) -> set[str]:
    out: set[str] = set()
    if len(token) > 3 and token[-1] in "sx":
        out.add(token[:-1])
    for end, stem_len in (("ées", 3), ("ée", 2), ("és", 2), ("é", 1), ("ees", 3), ("ee", 2)):
        if token.endswith(end) and len(token) > stem_len + 2:
            stem = token[:-stem_len]
            out |= {stem + "er", stem + "é"}
            break
    return out


def _en_variants(token: str) -> set[str]:
    out: set[str] = set()
    if len(token) <= 3:
        return out
    if token.endswith(("ies", "ied")):
        out.add(token[:-3] + "y")
    if token.endswith("es"):
        out.add(token[:-2])
    if token.endswith("s") and not token.endswith("ss"):
        out.add(token[:-1])
    for end in ("ed", "ing"):
        if token.endswith(end) and len(token) > len(end) + 2:
            stem = token[: -len(end)]
            out |= {stem, stem + "e"}
            if len(stem) > 2 and stem[-1] == stem[-2]:
                out.add(stem[:-1])
    return out


_VARIANTS = {"fr": _fr_variants, "en": _en_variants}


@dataclass(frozen=True)
class RuleHit:
    """One piece of evidence: which term of which theme matched, and where."""

    theme: str
    kind: Literal["keyword", "lemma", "regex"]
    term: str
    weight: float


@dataclass
class _Index:
    """The compiled words of one language (or of every language: ``any``)."""

    phrases: dict[str, list[tuple[tuple[str, ...], int, int]]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    excludes: dict[str, list[tuple[tuple[str, ...], int]]] = field(default_factory=dict)
    lemmas: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def prefix_lengths(self) -> tuple[int, ...]:
        return tuple(sorted({len(p) for p in self.prefixes}))


class RuleMatcher:
    """Compile a taxonomy's rules once; :meth:`match` a text many times."""

    def __init__(self, taxonomy: Taxonomy, *, cache_size: int = 200_000) -> None:
        self.taxonomy = taxonomy
        self._themes = [t.id for t in taxonomy.themes]
        self._terms: list[tuple[int, Literal["keyword", "lemma", "regex"], str, float]] = []
        self._indexes: dict[str, _Index] = {}
        self._lemmas: dict[str, _Index] = {}
        self._lemma_languages = tuple(
            sorted(set(_LEMMA_LANGUAGES_DEFAULT) | {lang for t in taxonomy.themes
                                                    for lang in t.lemmas if lang != ANY})
        )  # fmt: skip
        self._regexes: list[tuple[int, int, re.Pattern[str]]] = []
        self._cache: dict[tuple[str, str], frozenset[str]] = {}
        self._cache_size = cache_size
        for index in range(len(taxonomy.themes)):
            self._compile_theme(index)
        self._prefix_lengths = {k: v.prefix_lengths for k, v in self._indexes.items()}

    # -- compilation ----------------------------------------------------------------------------
    def _term(self, theme: int, kind: Literal["keyword", "lemma", "regex"], term: str) -> int:
        weight = {"lemma": LEMMA_WEIGHT, "regex": REGEX_WEIGHT}.get(kind, WORD_WEIGHT)
        if kind == "keyword" and len(words(term)) > 1:
            weight = PHRASE_WEIGHT
        self._terms.append((theme, kind, term, weight))
        return len(self._terms) - 1

    def _compile_theme(self, index: int) -> None:
        theme = self.taxonomy.themes[index]
        for lang, keywords in theme.keywords.items():
            target = self._indexes.setdefault(lang, _Index())
            for keyword in keywords:
                term = self._term(index, "keyword", keyword)
                tokens = words(keyword.rstrip("*"))
                if not tokens:
                    continue
                if keyword.endswith("*"):
                    target.prefixes.setdefault(tokens[0], []).append((index, term))
                else:
                    target.phrases.setdefault(tokens[0], []).append(
                        (tuple(tokens[1:]), index, term)
                    )
        for lang, phrases in theme.exclude.items():
            target = self._indexes.setdefault(lang, _Index())
            for phrase in phrases:
                tokens = words(phrase.rstrip("*"))
                if tokens:
                    target.excludes.setdefault(tokens[0], []).append((tuple(tokens[1:]), index))
        for lang, lemmas in theme.lemmas.items():
            languages = self._lemma_languages if lang == ANY else (lang,)
            for lemma in lemmas:
                term = self._term(index, "lemma", lemma)
                for language in languages:
                    target = self._lemmas.setdefault(language, _Index())
                    for form in self._lemma_forms(lemma.lower(), language):
                        entries = target.lemmas.setdefault(form, [])
                        if (index, term) not in entries:
                            entries.append((index, term))
        for pattern in theme.regexes:
            term = self._term(index, "regex", pattern)
            self._regexes.append((index, term, re.compile(pattern.translate(_FOLD), re.I)))

    def _lemma_forms(self, word: str, language: str) -> set[str]:
        import simplemma

        return {fold(word), fold(simplemma.lemmatize(word, lang=language))}

    # -- matching -------------------------------------------------------------------------------
    def _candidates(self, token: str, language: str) -> frozenset[str]:
        key = (token, language)
        found = self._cache.get(key)
        if found is not None:
            return found
        import simplemma

        forms = {token} | _VARIANTS.get(language, lambda _t: set())(token)
        out = {fold(f) for f in forms}
        out |= {fold(simplemma.lemmatize(f, lang=language)) for f in forms}
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = found = frozenset(out)
        return found

    def _scan(self, text: str, language: str | None) -> list[RuleHit]:
        lowered = text.lower()
        raw = _TOKEN.findall(lowered)
        tokens = [t.translate(_FOLD) for t in raw]
        if language is not None:  # per-language words only in texts of that language
            keys: Sequence[str] = (ANY, language)
            lemma_languages: Sequence[str] = (language,) if language in self._lemmas else ()
        else:  # language unknown: every language's words
            keys, lemma_languages = tuple(self._indexes), tuple(self._lemmas)
        indexes = [(self._indexes[k], self._prefix_lengths[k]) for k in keys if k in self._indexes]
        masked: dict[int, set[int]] = {}
        for index, _ in indexes:
            if not index.excludes:
                continue
            for i, token in enumerate(tokens):
                for rest, theme in index.excludes.get(token, ()):
                    end = i + 1 + len(rest)
                    if tuple(tokens[i + 1 : end]) == rest:
                        masked.setdefault(theme, set()).update(range(i, end))
        found: dict[int, tuple[int, int, int]] = {}  # term → (theme, start, end), first seen

        def keep(theme: int, term: int, start: int, end: int) -> None:
            if term in found:
                return
            mask = masked.get(theme)
            if mask and any(p in mask for p in range(start, end)):
                return
            found[term] = (theme, start, end)

        for index, lengths in indexes:
            for i, token in enumerate(tokens):
                for rest, theme, term in index.phrases.get(token, ()):
                    end = i + 1 + len(rest)
                    if not rest or tuple(tokens[i + 1 : end]) == rest:
                        keep(theme, term, i, end)
                for length in lengths:
                    if length > len(token):
                        break
                    for theme, term in index.prefixes.get(token[:length], ()):
                        keep(theme, term, i, i + 1)
        for language_ in lemma_languages:
            lemma_index = self._lemmas[language_].lemmas
            for i, token in enumerate(raw):
                if len(token) < 2 or token.isdigit():
                    continue
                for form in self._candidates(token, language_):
                    for theme, term in lemma_index.get(form, ()):
                        keep(theme, term, i, i + 1)
        if self._regexes:
            folded = lowered.translate(_FOLD)
            for theme, term, regex in self._regexes:
                if term not in found and regex.search(folded):
                    found[term] = (theme, -1, -1)
        return self._distinct(found)

    def _distinct(self, found: dict[int, tuple[int, int, int]]) -> list[RuleHit]:
        """Each word of the text counts once per theme: where terms overlap (the keyword
        *colis* and the lemma *colis*), the strongest is kept."""
        ranked = sorted(found.items(), key=lambda kv: (-self._terms[kv[0]][3], kv[0]))
        taken: dict[int, set[int]] = {}
        hits = []
        for term, (theme, start, end) in ranked:
            if start >= 0:
                used = taken.setdefault(theme, set())
                span = range(start, end)
                if any(p in used for p in span):
                    continue
                used.update(span)
            _, kind, text_term, weight = self._terms[term]
            hits.append(RuleHit(self._themes[theme], kind, text_term, weight))
        return hits

    def explain(self, text: str, language: str | None = None) -> list[RuleHit]:
        """Every term that matched, for people asking "why this theme?"."""
        return self._scan(text, language)

    def scores(self, text: str, language: str | None = None) -> dict[str, float]:
        """Theme id → rule confidence, for the themes with at least one hit."""
        remaining: dict[str, float] = {}
        for hit in self._scan(text, language):
            remaining[hit.theme] = remaining.get(hit.theme, 1.0) * (1.0 - hit.weight)
        return {t: min(MAX_RULE_CONFIDENCE, 1.0 - r) for t, r in remaining.items()}

    def match(self, text: str, language: str | None = None) -> list[ThemeScore]:
        """The themes the rules find in one text, most confident first."""
        found = self.scores(text, language)
        ordered = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        return [ThemeScore(theme, round(conf, 4), "rule") for theme, conf in ordered]

    def match_many(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[list[ThemeScore]]:
        langs = languages if languages is not None else [None] * len(texts)
        if len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        return [self.match(t, lang) for t, lang in zip(texts, langs, strict=True)]


__all__ = [
    "LEMMA_WEIGHT",
    "PHRASE_WEIGHT",
    "REGEX_WEIGHT",
    "WORD_WEIGHT",
    "RuleHit",
    "RuleMatcher",
    "fold",
    "words",
]
