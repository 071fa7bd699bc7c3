"""presidio's objects for :mod:`voxloop.text.redact`: the recognisers, and the NLP engine.

:class:`Recognizers` holds one of each recogniser for one language (presidio registers
recognisers per language). The NLP engine is presidio's ``SpacyNlpEngine``, offline:

presidio's own ``SpacyNlpEngine.load`` downloads a missing model and loads every component of
the pipeline; this one never downloads (a missing model is a :class:`~voxloop.errors.ConfigError`
that says what to install), loads only NER and what NER listens to, serves every configured
language with the same pipeline, and offers :meth:`OfflineSpacyNlpEngine.ner_batch`, the
batched path ``Redactor.redact_many`` uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.language import Language
from spacy.tokens import Doc, Span

from voxloop.errors import ConfigError
from voxloop.text.redact_names import NameRuleRecognizer
from voxloop.text.redact_recognizers import (
    IbanChecksumRecognizer,
    LuhnCardRecognizer,
    NirRecognizer,
    OfflineEmailRecognizer,
    RegionPhoneRecognizer,
)


@dataclass(frozen=True)
class Recognizers:
    """The recognisers of one language; the name ones are ``None`` when names are off."""

    email: OfflineEmailRecognizer
    phone: RegionPhoneRecognizer
    iban: IbanChecksumRecognizer
    card: LuhnCardRecognizer
    nir: NirRecognizer
    name_rules: NameRuleRecognizer | None
    ner: SpacyRecognizer | None

    @classmethod
    def build(cls, language: str, regions: Sequence[str], *, names: bool) -> Recognizers:
        return cls(
            email=OfflineEmailRecognizer(language),
            phone=RegionPhoneRecognizer(regions, language),
            iban=IbanChecksumRecognizer(language),
            card=LuhnCardRecognizer(language),
            nir=NirRecognizer(language),
            name_rules=NameRuleRecognizer(language) if names else None,
            ner=SpacyRecognizer(
                supported_language=language,
                supported_entities=["PERSON"],
                name=f"SpacyRecognizer_{language}",
            )
            if names
            else None,
        )

    def all(self) -> list[EntityRecognizer]:
        found = [self.email, self.phone, self.iban, self.card, self.nir]
        return [*found, *(r for r in (self.name_rules, self.ner) if r is not None)]


# spaCy components NER does not need (an ``exclude`` list: absent names are ignored).
_UNNEEDED_PIPES = (
    "parser",
    "lemmatizer",
    "trainable_lemmatizer",
    "morphologizer",
    "tagger",
    "attribute_ruler",
    "senter",
    "sentencizer",
    "textcat",
    "textcat_multilabel",
    "entity_linker",
    "entity_ruler",
    "spancat",
    "span_finder",
)

PERSON_LABELS = ("PER", "PERSON")  # what French (WikiNER) and English (OntoNotes) models say


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine over one pipeline loaded with NER only, never downloaded."""

    def __init__(self, model: str | Path, languages: Sequence[str]) -> None:
        super().__init__(
            models=[{"lang_code": lang, "model_name": str(model)} for lang in languages],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict.fromkeys(PERSON_LABELS, "PERSON"),
                default_score=0.85,
            ),
        )
        self.model = model
        self.languages = tuple(languages)
        self.pipeline: Language | None = None

    def load(self) -> None:
        self.pipeline = load_spacy(self.model)
        # presidio declares ``nlp`` as None until loaded: one pipeline serves every language
        self.nlp = dict.fromkeys(self.languages, self.pipeline)  # type: ignore[assignment]

    def _get_entities(self, doc: Doc) -> list[Span]:
        return [ent for ent in doc.ents if ent.label_ in PERSON_LABELS]

    def _get_scores_for_entities(self, doc: Doc) -> list[float]:
        score = self.ner_model_configuration.default_score or 0.85
        return [score] * len(self._get_entities(doc))

    def ner_batch(self, texts: list[str], language: str, batch_size: int) -> Iterator[NlpArtifacts]:
        """Like ``process_batch``, for ``SpacyRecognizer`` only: the artifacts carry the
        entities and their scores, not the per-token lemmas (a third of the time)."""
        if self.pipeline is None:
            self.load()
        assert self.pipeline is not None
        for doc in self.pipeline.pipe(texts, batch_size=batch_size):
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc)
            )
            yield NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[],
                lemmas=[],
                nlp_engine=self,
                language=language,
                scores=scores,
            )


def load_spacy(model: str | Path) -> Language:
    """``model`` (a package name or a folder) with NER and what NER listens to, nothing else."""
    from voxloop.text.redact import DEFAULT_SPACY_MODEL, _check_installed

    _check_installed(model)
    try:
        nlp = spacy.load(model, exclude=list(_UNNEEDED_PIPES))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"the spaCy model {str(model)!r} cannot be loaded: {exc}",
            hint="pass the folder of a spaCy 3 pipeline (its config.cfg is inside)",
        ) from exc
    if "ner" not in nlp.pipe_names:
        raise ConfigError(
            f"the spaCy model {str(model)!r} has no 'ner' component "
            f"(it has: {', '.join(nlp.pipe_names) or 'nothing'})",
            hint=f"use a pipeline with named-entity recognition, e.g. {DEFAULT_SPACY_MODEL}",
        )
    for name in nlp.pipe_names:
        listeners: Any = getattr(nlp.get_pipe(name), "listening_components", [])
        if name != "ner" and "ner" not in listeners:
            nlp.disable_pipe(name)
    return nlp
