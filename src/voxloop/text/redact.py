"""Personal data replaced by typed placeholders, offline, in French and English.

``Redactor`` finds e-mail addresses, phone numbers, IBANs, payment-card numbers, French
social-security numbers (NIR) and person names, and replaces each with its placeholder from
:data:`voxloop.text.types.PLACEHOLDERS` (``<EMAIL>``, ``<PHONE>``, ``<IBAN>``, ``<CARD>``,
``<NIR>``, ``<NAME>``). ``Redaction.spans`` says what was replaced, in the coordinates of the
*original* text.

Built on presidio, configured explicitly
    Every detector is a presidio recogniser registered in a ``RecognizerRegistry``
    (:meth:`Redactor.registry`); the NLP engine is a presidio ``SpacyNlpEngine`` that loads the
    installed ``fr_core_news_md`` (or ``spacy_model``) with only the components NER needs and
    never downloads anything (a bare ``AnalyzerEngine()`` would try to); the replacement is
    presidio-anonymizer's ``replace`` operator. :meth:`Redactor.analyzer` gives a presidio
    ``AnalyzerEngine`` over the same registry and engine. The batch path does not go through
    ``AnalyzerEngine.analyze`` text by text: it runs the cheap recognisers directly on each
    text, and spaCy once over all the texts with ``nlp.pipe`` (see *Speed*).
    What each structured recogniser keeps from presidio and what it replaces is in
    :mod:`voxloop.text.redact_recognizers`.

Person names (French and English), three sources whose union is redacted
    1. spaCy ``fr_core_news_md`` NER (``PER``). Good on French text. On English text it tags
       many names but also whole clauses (as ``MISC``), and it calls unknown capitalised
       English words persons, above all at the start of a sentence ("Furthermore", "Glad").
       So a one-word ``PER`` span is kept only inside a sentence (in English text: only a
       plain capitalised word, not "T-Mobile"), or when the lexicons know it; all-caps,
       masked ("XXXX") and over-long spans are dropped (``redact_names.clean_person``).
    2. Cues, in both languages whatever the text's language (verbatims mix them): titles
       (M., Mme, Mr, Dr…), self-introductions ("je m'appelle", "my name is"), field labels
       ("Nom :", "From:"), roles ("la conseillère", "the agent", "my husband"), mentions
       ("merci à", "I spoke to"), appositions ("the guy at the counter, Tomasz,"), greetings
       and signatures ("Bonjour Julie,", "Regards,\nTom Baker") followed by capitalised words
       that are not common words, brands or places.
    3. Lexicons of common French/English given names and surnames: a capitalised known given
       name with the capitalised words around it ("Jean-Pierre Roux", "DUPONT Marie"), or a
       capitalised word then a known surname ("Yusuf Peterson"). Given names that are also
       places or brands (Florence, Alexa) need a cue or a surname; those that are also words
       (Will, Grace, Mark) do not count at the start of a sentence.
    Why this and not an English spaCy model: none ships on PyPI from spaCy's authors (the
    copies there are third-party re-uploads, not something to put in a privacy path), the
    architecture keeps one NER model, and customer messages put names where rules see them
    best — signatures, greetings, "the agent X". Measured (bench/README.md, "Redaction"): on
    a blind FR/EN set written after the last change, name recall 0.895 (presidio's default
    recognisers with the same model: 0.58); on English texts of the labelled set 0.99 against
    0.54. The price: on English text dense with company names, some are redacted as names.
    Known gaps: names written in lower case ("merci à kevin"), a lone unknown given name
    opening a sentence ("Rémi et Agnès sont venus"), a surname alone with no cue.

Overlaps
    A checksummed value (IBAN, card, NIR) beats an e-mail, which beats a phone number; among
    equals the longest wins ("a card is not also a phone"). A name never swallows a
    structured value: the structured span is cut out of it. Overlapping names are merged.
    Text already carrying placeholders is left as it is (redaction is idempotent).

Speed
    - e-mail, phone, IBAN, card and NIR run only when a cheap regular expression says the
      text has an ``@`` or six digits; ``phonenumbers`` runs per region on those texts only;
    - NER runs only on a few words around capitalised words that are not a sentence-initial
      common word and that the rules have not already explained (a text with no such word
      skips NER altogether; so does a lower-case text); the windows of all the texts of a
      batch go through one ``nlp.pipe``; the spaCy pipeline keeps ``ner`` alone (its own
      tok2vec) and is loaded once per ``Redactor``, lazily, at first use. Measured figures:
      bench/README.md.

Bad input (never an exception for one text)
    - empty, whitespace-only and emoji-only texts come back unchanged with no spans;
    - HTML and e-mail quoting: the analysis reads a copy of the text where tags (but not their
      quoted attribute values, which may hold a ``mailto:``), ``&nbsp;``-like entities and
      quote markers (``>`` at the start of a line) are one space each, so "06&nbsp;12…" is
      still a phone number; spans are mapped back to the original coordinates, and the
      quoted history is redacted like the rest;
    - broken encodings: mojibake is analysed as it is (numbers and e-mails are still found);
      lone surrogates are read as U+FFFD (spaCy cannot encode them);
    - long texts: the structured recognisers and the name rules read all of it; NER reads at
      most ``max_ner_chars`` (50,000 by default) of windows per text, so a 50,000-character
      e-mail is fully covered and a longer one has names past that point found by the rules
      only;
    - a text whose analysis fails unexpectedly is logged and comes back *empty* (fail closed:
      nothing of it leaks downstream); if only NER fails, its names come from the rules.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxloop.errors import ConfigError, UserError
from voxloop.text.types import PLACEHOLDERS, Redaction, Span

if TYPE_CHECKING:
    from presidio_analyzer import (
        AnalyzerEngine,
        EntityRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.nlp_engine import NlpArtifacts

    from voxloop.text.redact_engine import OfflineSpacyNlpEngine, Recognizers

__all__ = ["DEFAULT_SPACY_MODEL", "INSTALL_HINT", "PHONE_REGIONS", "Redactor"]

log = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "fr_core_news_md"
PHONE_REGIONS = ("FR", "BE", "CH", "GB", "US")  # US also parses Canada (same numbering plan)
INSTALL_HINT = "pip install 'voxloop[text]'"

# presidio entities, and the key of PLACEHOLDERS each becomes
EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE = "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE"
CREDIT_CARD, FR_NIR, PERSON = "CREDIT_CARD", "FR_NIR", "PERSON"
KINDS = {
    EMAIL_ADDRESS: "EMAIL",
    PHONE_NUMBER: "PHONE",
    IBAN_CODE: "IBAN",
    CREDIT_CARD: "CARD",
    FR_NIR: "NIR",
    PERSON: "NAME",
}
# A number that passes both the NIR key and Luhn is a NIR: sex, year, month, department and
# key together are far more specific than a checksum (and either way it is redacted).
_PRIORITY = {"NIR": 4, "IBAN": 3, "CARD": 3, "EMAIL": 2, "PHONE": 1}

_SURROGATE = re.compile("[\ud800-\udfff]")
_MARKUP = re.compile(
    r"(?P<tag></?[A-Za-z][A-Za-z0-9]*(?:[\s/][^<>]{0,2000})?>|<!--.{0,2000}?-->|<![^<>]{0,200}>)"
    r"|(?P<entity>&(?:nbsp|#160|#xa0|#xA0|amp|lt|gt|quot|apos|#\d{1,5});)"
    r"|(?P<quote>(?m:^(?:[ \t]*>)+))"
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
_EMAIL_HINT = re.compile(r"@|\[at\]|\(at\)|\{at\}|arobase", re.I)
_DIGITS = re.compile(r"\d(?:[^\w\n]{0,3}\d){5}")


def _analysis_view(text: str) -> tuple[str, list[int] | None]:
    """What the recognisers read: ``text`` with lone surrogates as U+FFFD and markup (HTML
    tags but not their quoted attribute values, ``&nbsp;``-like entities, e-mail quote
    markers) as one space; with, when it differs in length, the position in ``text`` of each
    of its characters (and of its end)."""
    view = _SURROGATE.sub("\ufffd", text)
    if "<" not in view and "&" not in view and ">" not in view:
        return view, None
    pieces: list[str] = []
    where: list[int] = []
    last = 0
    for match in _MARKUP.finditer(view):
        pieces.append(view[last : match.start()])
        where.extend(range(last, match.start()))
        pieces.append(" ")
        where.append(match.start())
        if match.lastgroup == "tag":
            for quoted in _QUOTED.finditer(match.group()):
                value_at = match.start() + quoted.start() + 1
                pieces.append(quoted.group()[1:-1] + " ")
                where.extend(range(value_at, value_at + len(quoted.group()) - 2))
                where.append(match.start() + quoted.end() - 1)
        last = match.end()
    if last == 0:
        return view, None
    pieces.append(view[last:])
    where.extend(range(last, len(view) + 1))
    return "".join(pieces), where


@dataclass
class _Work:
    """One text on its way through the batch."""

    text: str
    view: str
    where: list[int] | None  # position in ``text`` of each character of ``view``
    language: str
    found: list[RecognizerResult] = field(default_factory=list)
    failed: bool = False


class Redactor:
    """Replace personal data with typed placeholders (see the module docstring).

    >>> redactor = Redactor()
    >>> redactor.redact("Écrivez à marie.dupont@example.fr ou au 06 12 34 56 78.").text
    'Écrivez à <EMAIL> ou au <PHONE>.'
    """

    def __init__(
        self,
        languages: Sequence[str] = ("fr", "en"),
        *,
        default_region: str = "FR",
        names: bool = True,
        spacy_model: str | Path | None = None,
        phone_regions: Sequence[str] = PHONE_REGIONS,
        max_ner_chars: int = 50_000,
    ) -> None:
        """``languages``: the languages texts come in (the first is used when a text's is
        unknown); ``default_region``: where national phone numbers are read first;
        ``names``: find person names (spaCy and rules) or not; ``spacy_model``: an installed
        spaCy package name or a pipeline folder with an ``ner`` component (default
        ``fr_core_news_md``); ``phone_regions``: the other regions whose national formats are
        recognised; ``max_ner_chars``: at most this much of one text goes through NER."""
        import phonenumbers

        self.languages = tuple(dict.fromkeys(lang.strip().lower() for lang in languages))
        if not self.languages or not all(self.languages):
            raise ConfigError(
                f"no language to redact in: {languages!r}", hint='pass e.g. ("fr", "en")'
            )
        regions = [default_region, *phone_regions]
        unknown = [r for r in regions if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ConfigError(
                f"unknown phone region(s): {', '.join(map(repr, unknown))}",
                hint="use ISO 3166 codes such as FR, BE, CH, GB, US, CA",
            )
        self.regions = tuple(dict.fromkeys(r.upper() for r in regions))
        self.names = names
        self.spacy_model = spacy_model if spacy_model is not None else DEFAULT_SPACY_MODEL
        if names:
            _check_installed(self.spacy_model)
        self.max_ner_chars = max_ner_chars
        self._lock = threading.Lock()
        self._registry: RecognizerRegistry | None = None
        self._nlp_engine: OfflineSpacyNlpEngine | None = None
        self._by_language: dict[str, Recognizers] = {}
        self._anonymizer: Any = None
        self._operators: dict[str, Any] = {}

    # -- presidio objects, built once ----------------------------------------------------------

    def registry(self) -> RecognizerRegistry:
        """The presidio registry: the structured recognisers, the name rules and spaCy's."""
        self._load()
        assert self._registry is not None
        return self._registry

    def nlp_engine(self) -> OfflineSpacyNlpEngine:
        """The presidio NLP engine (spaCy, NER only, loaded without any download)."""
        self._load()
        assert self._nlp_engine is not None
        if not self._nlp_engine.is_loaded():
            with self._lock:
                if not self._nlp_engine.is_loaded():
                    self._nlp_engine.load()
        return self._nlp_engine

    def analyzer(self) -> AnalyzerEngine:
        """A presidio ``AnalyzerEngine`` over the same registry and NLP engine, for callers
        who want presidio's own interface (``redact_many`` does not use it: it batches)."""
        from presidio_analyzer import AnalyzerEngine

        return AnalyzerEngine(
            registry=self.registry(),
            nlp_engine=self.nlp_engine(),
            supported_languages=list(self.languages),
        )

    def _load(self) -> None:
        if self._registry is not None:
            return
        with self._lock:
            if self._registry is not None:
                return
            try:
                from presidio_analyzer import RecognizerRegistry
                from presidio_anonymizer import AnonymizerEngine
                from presidio_anonymizer.entities import OperatorConfig

                from voxloop.text.redact_engine import OfflineSpacyNlpEngine, Recognizers
            except ImportError as exc:  # pragma: no cover - the test suite installs the extra
                raise UserError(
                    f"personal-data redaction needs presidio and spaCy ({exc.name} is missing)",
                    hint=INSTALL_HINT,
                ) from exc
            recognizers: list[EntityRecognizer] = []
            for language in self.languages:
                mine = Recognizers.build(language, self.regions, names=self.names)
                self._by_language[language] = mine
                recognizers += mine.all()
            self._nlp_engine = OfflineSpacyNlpEngine(self.spacy_model, self.languages)
            self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
            self._operators = {
                entity: OperatorConfig("replace", {"new_value": PLACEHOLDERS[kind]})
                for entity, kind in KINDS.items()
            }
            self._registry = RecognizerRegistry(
                recognizers=recognizers, supported_languages=list(self.languages)
            )

    # -- redaction -----------------------------------------------------------------------------

    def redact(self, text: str, language: str | None = None) -> Redaction:
        """Redact one text (prefer :meth:`redact_many` for many: NER runs in batches)."""
        return self.redact_many([text], [language])[0]

    def redact_many(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        *,
        batch_size: int = 256,
    ) -> list[Redaction]:
        """Redact ``texts`` (one ``Redaction`` each, in order); ``languages`` gives each
        text's language when known. Never raises for one bad text (module docstring)."""
        if languages is not None and len(languages) != len(texts):
            raise UserError(
                f"{len(texts)} texts but {len(languages)} languages",
                hint="give one language (or None) per text, or no languages at all",
            )
        self._load()
        out: list[Redaction] = []
        for start in range(0, len(texts), max(1, batch_size)):
            chunk = texts[start : start + batch_size]
            langs = languages[start : start + batch_size] if languages else [None] * len(chunk)
            out += self._redact_batch(chunk, langs, batch_size)
        return out

    def _redact_batch(
        self, texts: Sequence[str], languages: Sequence[str | None], batch_size: int
    ) -> list[Redaction]:
        works = [
            self._prepare(i, text, lang)
            for i, (text, lang) in enumerate(zip(texts, languages, strict=True))
        ]
        if self.names:
            self._run_ner(works, batch_size)
        return [self._finish(i, work) for i, work in enumerate(works)]

    def _language(self, language: str | None) -> str:
        if language:
            code = language.strip().lower()[:2]
            if code in self._by_language:
                return code
        return self.languages[0]

    def _prepare(self, index: int, raw: object, language: str | None) -> _Work:
        text = raw if isinstance(raw, str) else "" if raw is None else str(raw)
        work = _Work(text=text, view=text, where=None, language=self._language(language))
        if not text.strip():
            return work
        try:
            view, work.where = _analysis_view(text)
            work.view = view
            rec = self._by_language[work.language]
            if _EMAIL_HINT.search(view):
                work.found += rec.email.analyze(view, [EMAIL_ADDRESS])
            work.found += rec.iban.analyze(view, [IBAN_CODE])
            if _DIGITS.search(view):
                work.found += rec.phone.analyze(view, [PHONE_NUMBER])
                work.found += rec.card.analyze(view, [CREDIT_CARD])
                work.found += rec.nir.analyze(view, [FR_NIR])
            if rec.name_rules is not None:
                work.found += rec.name_rules.analyze(view, [PERSON])
        except Exception:
            log.exception("text #%d could not be analysed; it is returned empty", index)
            work.failed = True
        return work

    def _run_ner(self, works: Sequence[_Work], batch_size: int) -> None:
        from voxloop.text.redact_names import ner_windows

        jobs: list[tuple[_Work, int, str]] = []
        for work in works:
            if work.failed or not work.view.strip():
                continue
            covered = [(r.start, r.end) for r in work.found]
            try:
                windows = ner_windows(work.view, covered, max_chars=self.max_ner_chars)
            except Exception:  # pragma: no cover - defensive: names then come from the rules
                log.exception("NER windows failed for one text; names come from the rules")
                continue
            jobs += [(work, lo, work.view[lo:hi]) for lo, hi in windows]
        if not jobs:
            return
        engine = self.nlp_engine()
        by_language: dict[str, list[tuple[_Work, int, str]]] = {}
        for job in jobs:
            by_language.setdefault(job[0].language, []).append(job)
        for language, group in by_language.items():
            artifacts: list[NlpArtifacts | None]
            try:
                artifacts = list(engine.ner_batch([s for _, _, s in group], language, batch_size))
            except Exception:
                log.warning("NER failed on a batch; retrying its texts one by one")
                artifacts = []
                for _, _, snippet in group:
                    try:
                        artifacts.append(engine.process_text(snippet, language))
                    except Exception:
                        log.exception("NER failed on one text; its names come from the rules")
                        artifacts.append(None)
            for (work, offset, snippet), artifact in zip(group, artifacts, strict=True):
                if artifact is not None:
                    self._add_persons(work, offset, snippet, artifact)

    def _add_persons(self, work: _Work, offset: int, snippet: str, artifact: NlpArtifacts) -> None:
        from voxloop.text.redact_names import clean_person

        ner = self._by_language[work.language].ner
        if ner is None:  # pragma: no cover - NER runs only when names are on
            return
        for result in ner.analyze(snippet, [PERSON], artifact):
            span = clean_person(
                work.view,
                result.start + offset,
                result.end + offset,
                single_word_mid_sentence=work.language != "en",
            )
            if span is not None:
                result.start, result.end = span
                work.found.append(result)

    def _finish(self, index: int, work: _Work) -> Redaction:
        if work.failed:
            return Redaction(text="")
        if not work.found:
            return Redaction(text=work.text)
        try:
            if work.where is not None:
                where = work.where
                for r in work.found:
                    r.start, r.end = where[r.start], where[r.end - 1] + 1
            spans = _resolve(work.text, work.found)
            if not spans:
                return Redaction(text=work.text)
            from presidio_anonymizer.entities import RecognizerResult as Replace

            result = self._anonymizer.anonymize(
                text=work.text,
                analyzer_results=[Replace(e, s, t, sc) for e, s, t, sc in spans],
                operators=self._operators,
                merge_entities_with_spaces=False,
            )
            return Redaction(
                text=result.text,
                spans=tuple(Span(KINDS[e], s, t, round(sc, 3)) for e, s, t, sc in spans),
            )
        except Exception:
            log.exception("text #%d could not be redacted; it is returned empty", index)
            return Redaction(text="")


def _resolve(text: str, found: Iterable[RecognizerResult]) -> list[tuple[str, int, int, float]]:
    """Non-overlapping spans: checksummed > e-mail > phone, then longest; names cut around
    structured values and merged with each other; nothing inside an existing placeholder."""
    kept: list[tuple[str, int, int, float]] = [
        ("PLACEHOLDER", m.start(), m.end(), 1.0) for m in _PLACEHOLDER.finditer(text)
    ]
    structured = [r for r in found if r.entity_type != "PERSON" and r.end > r.start]
    structured.sort(key=lambda r: (-_PRIORITY[KINDS[r.entity_type]], r.start - r.end, r.start))
    for r in structured:
        if all(r.end <= s or r.start >= e for _, s, e, _ in kept):
            kept.append((r.entity_type, r.start, r.end, r.score))
    names: list[tuple[int, int, float]] = []
    for r in found:
        if r.entity_type == "PERSON":
            names += _cut(text, r.start, r.end, r.score, [(s, e) for _, s, e, _ in kept])
    names.sort()
    merged: list[tuple[int, int, float]] = []
    for start, end, score in names:
        if merged and start < merged[-1][1]:
            s0, e0, sc0 = merged[-1]
            merged[-1] = (s0, max(e0, end), max(sc0, score))
        else:
            merged.append((start, end, score))
    spans = [k for k in kept if k[0] != "PLACEHOLDER"]
    spans += [("PERSON", s, e, sc) for s, e, sc in merged]
    return sorted(spans, key=lambda k: k[1])


def _cut(
    view: str, start: int, end: int, score: float, taken: Sequence[tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """The parts of a name span outside ``taken``, trimmed, that still hold a letter."""
    pieces = [(start, end)]
    for s, e in taken:
        nxt = []
        for a, b in pieces:
            if e <= a or s >= b:
                nxt.append((a, b))
                continue
            if a < s:
                nxt.append((a, s))
            if e < b:
                nxt.append((e, b))
        pieces = nxt
    out = []
    for a, b in pieces:
        while a < b and not view[a].isalnum():
            a += 1
        while b > a and not view[b - 1].isalnum() and view[b - 1] != ".":
            b -= 1
        if any(c.isalpha() for c in view[a:b]):
            out.append((a, b, score))
    return out


def _check_installed(model: str | Path) -> None:
    """A folder that exists or an installed package (checked without importing spaCy)."""
    import importlib.util

    if Path(model).exists():
        return
    try:
        found = isinstance(model, str) and importlib.util.find_spec(model) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"the spaCy model {str(model)!r} is not installed (voxloop never downloads one)",
            hint=f"{INSTALL_HINT} brings {DEFAULT_SPACY_MODEL}; or pass spacy_model= the "
            "folder of a spaCy pipeline that has an 'ner' component",
        )
