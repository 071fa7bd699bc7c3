"""Theme classification: rules first, then the nearest centroid of each theme's example
sentences, then (once labelled verbatims were given) the trained head.

Multi-label: every theme whose confidence reaches its threshold is kept (most specific first:
a theme's ancestors are dropped when it is found); a text with none is *unclassified* (an empty
list). Texts arrive already redacted.

Centroid confidences are calibrated on the taxonomy's own examples: each example is compared,
leave-one-out, with every theme's centroid, and a two-feature logistic model (similarity to the
theme, and its margin over the best other theme) learns how similarity turns into the
probability that the theme is right. A taxonomy with many close themes thus needs a clearer
margin than one with a few distinct themes, with no constant to tune by hand.

The fast path (the default, ``embed_when_rules_match=False``): a text that the rules settle (a
theme at or above its threshold) is not embedded. On the FR/EN verbatim sets of
``bench/bench_themes.py`` it embeds about half the texts for a macro-F1 within ±0.04 of embedding
every text; ``embed_when_rules_match=True`` lets the centroid add themes to those texts too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voxloop.errors import ConfigError
from voxloop.text.embed import Encoder, default_cache_file
from voxloop.text.rules import RuleMatcher
from voxloop.text.taxonomy import Taxonomy, load_taxonomy
from voxloop.text.train import Head, head_file
from voxloop.text.types import ThemeScore

Floats = npt.NDArray[np.float64]
# Calibration used when a taxonomy has too few examples to learn its own (fitted on the
# default taxonomy's examples): logit = a·similarity + b·margin + c.
DEFAULT_CALIBRATION = (5.0, 10.6, -3.2)
_MIN_CALIBRATION_THEMES = 3


def _fit_logistic(x: Floats, y: Floats, l2: float = 1.0, iterations: int = 60) -> Floats:
    """A small L2-regularised logistic regression (Newton steps); the bias is not shrunk."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    shrink = np.full(xb.shape[1], l2)
    shrink[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        gradient = xb.T @ (p - y) + shrink * w
        hessian = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(shrink + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return w


def _margins(sims: Floats) -> Floats:
    """For each theme: its similarity minus the best similarity among the other themes."""
    if sims.shape[1] == 1:
        return np.zeros_like(sims)
    order = np.argsort(-sims, axis=1)
    best = np.take_along_axis(sims, order[:, :1], axis=1)
    second = np.take_along_axis(sims, order[:, 1:2], axis=1)
    others_best = np.where(sims >= best, second, best)
    return sims - others_best


@dataclass(frozen=True)
class Centroids:
    """Each theme's centroid in embedding space and the calibration of similarities."""

    theme_ids: tuple[str, ...]
    vectors: npt.NDArray[np.float32]  # (themes, dim), unit norm
    calibration: tuple[float, float, float]
    calibrated_on: int  # examples used to learn the calibration (0: the default one)

    def similarities(self, embeddings: npt.NDArray[np.float32]) -> Floats:
        return np.asarray(embeddings @ self.vectors.T, dtype=np.float64)

    def confidences(self, embeddings: npt.NDArray[np.float32]) -> Floats:
        sims = self.similarities(embeddings)
        a, b, c = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * sims + b * _margins(sims) + c)))


def fit_centroids(taxonomy: Taxonomy, encoder: Encoder) -> Centroids:
    """Embed every theme's examples; centroids and leave-one-out calibration."""
    owners: list[int] = []
    sentences: list[str] = []
    ids = [t.id for t in taxonomy.themes if t.examples]
    for k, theme_id in enumerate(ids):
        for sentence in taxonomy.by_id[theme_id].examples:
            owners.append(k)
            sentences.append(sentence)
    if not ids:
        return Centroids((), np.zeros((0, 512), np.float32), DEFAULT_CALIBRATION, 0)
    x = encoder.encode(sentences).astype(np.float64)
    y = np.asarray(owners)
    sums = np.zeros((len(ids), x.shape[1]))
    np.add.at(sums, y, x)
    counts = np.bincount(y, minlength=len(ids)).astype(np.float64)
    vectors = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    calibration, used = DEFAULT_CALIBRATION, 0
    usable = counts[y] >= 2
    if int((counts >= 2).sum()) >= _MIN_CALIBRATION_THEMES and len(ids) >= 2:
        sims = x[usable] @ vectors.T
        own = y[usable]
        rows = np.arange(len(own))
        loo = sums[own] - x[usable]  # the own centroid without the example itself
        sims[rows, own] = np.einsum("ij,ij->i", x[usable], loo) / np.linalg.norm(loo, axis=1)
        features = np.stack([sims.ravel(), _margins(sims).ravel()], axis=1)
        target = np.zeros_like(sims)
        target[rows, own] = 1.0
        w = _fit_logistic(features, target.ravel())
        if w[0] > 0 or w[1] > 0:  # similarity must raise confidence, else keep the default
            calibration, used = (float(w[0]), float(w[1]), float(w[2])), int(usable.sum())
    return Centroids(tuple(ids), vectors.astype(np.float32), calibration, used)


@dataclass
class Stats:
    """What the classifier did so far (the pipeline reports it)."""

    texts: int = 0
    empty: int = 0
    settled_by_rules: int = 0
    embedded: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


class ThemeClassifier:
    """``ThemeClassifier(taxonomy, encoder, head).classify(texts, languages)``.

    ``encoder=None`` classifies with the rules only. ``max_themes`` keeps the most confident
    themes of a text (``None``: all above threshold). With a head, the head's probability
    replaces the centroid for the themes it was trained on; rules always count, and each theme
    keeps its most confident source.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        encoder: Encoder | None = None,
        head: Head | None = None,
        *,
        embed_when_rules_match: bool = False,
        max_themes: int | None = 3,
    ) -> None:
        if head is not None:
            head.check(taxonomy, encoder.model_id if encoder is not None else None)
        self.taxonomy = taxonomy
        self.encoder = encoder
        self.head = head
        self.rules = RuleMatcher(taxonomy)
        self.embed_when_rules_match = embed_when_rules_match
        self.max_themes = max_themes
        self.stats = Stats()
        self._centroids: Centroids | None = None

    @property
    def centroids(self) -> Centroids:
        if self._centroids is None:
            if self.encoder is None:
                raise ConfigError("centroids need an encoder", hint="pass encoder=Encoder()")
            self._centroids = fit_centroids(self.taxonomy, self.encoder)
        return self._centroids

    @property
    def fingerprint(self) -> str:
        """Changes with the taxonomy, the encoder or the head."""
        parts = [self.taxonomy.fingerprint]
        parts.append(self.encoder.model_id if self.encoder is not None else "rules-only")
        parts.append(self.head.fingerprint if self.head is not None else "no-head")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def _thresholds(self, threshold: float | None) -> dict[str, float]:
        return {
            t.id: threshold if threshold is not None else self.taxonomy.threshold_for(t.id)
            for t in self.taxonomy.themes
        }

    def confidences(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[dict[str, tuple[float, str]]]:
        """Every theme any stage found, with its confidence and source, before thresholds
        (for tuning and evaluation); every text is embedded."""
        return self._run(texts, languages, embed_all=True, thresholds=None)

    def classify(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        *,
        embed_when_rules_match: bool | None = None,
        threshold: float | None = None,
    ) -> list[list[ThemeScore]]:
        """Themes of each text, most confident first; ``[]`` means unclassified.

        ``languages``: ISO codes from language detection (``None`` when unknown: the rules of
        every language apply). ``threshold`` overrides the taxonomy's for this call.
        """
        embed_all = (
            self.embed_when_rules_match
            if embed_when_rules_match is None
            else embed_when_rules_match
        )
        thresholds = self._thresholds(threshold)
        found = self._run(texts, languages, embed_all=embed_all, thresholds=thresholds)
        out: list[list[ThemeScore]] = []
        for scores in found:
            kept = {t: cs for t, cs in scores.items() if cs[0] >= thresholds[t]}
            for theme in list(kept):
                for ancestor in self.taxonomy.ancestors(theme):
                    kept.pop(ancestor, None)
            ordered = sorted(kept.items(), key=lambda kv: (-kv[1][0], kv[0]))
            if self.max_themes is not None:
                ordered = ordered[: self.max_themes]
            for _, (_, source) in ordered:
                self.stats.by_source[source] = self.stats.by_source.get(source, 0) + 1
            out.append([ThemeScore(t, round(c, 4), s) for t, (c, s) in ordered])
        return out

    __call__ = classify

    def _run(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None,
        *,
        embed_all: bool,
        thresholds: dict[str, float] | None,
    ) -> list[dict[str, tuple[float, str]]]:
        langs: Sequence[str | None] = languages if languages is not None else [None] * len(texts)
        if len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
        self.stats.texts += len(texts)
        found: list[dict[str, tuple[float, str]]] = []
        todo: list[int] = []
        for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
            if not text or not text.strip():
                self.stats.empty += 1
                found.append({})
                continue
            rule = self.rules.scores(text, lang)
            found.append({t: (c, "rule") for t, c in rule.items()})
            settled = thresholds is not None and any(c >= thresholds[t] for t, c in rule.items())
            self.stats.settled_by_rules += settled
            if self.encoder is not None and (embed_all or not settled):
                todo.append(i)
        if todo and self.encoder is not None:
            embeddings = self.encoder.encode([texts[i] for i in todo])
            self.stats.embedded += len(todo)
            self._merge_embedding_scores(found, todo, [texts[i] for i in todo], embeddings)
            if self.encoder.cache_path is not None:
                self.encoder.flush()
        return found

    def _merge_embedding_scores(
        self,
        found: list[dict[str, tuple[float, str]]],
        todo: list[int],
        texts: list[str],
        embeddings: npt.NDArray[np.float32],
    ) -> None:
        learned: set[str] = set()
        if self.head is not None:
            probabilities = self.head.predict_proba(texts, embeddings)
            learned = set(self.head.labels)
            self._merge(found, todo, self.head.labels, probabilities, "head")
        centroids = self.centroids
        if centroids.theme_ids:
            columns = [k for k, t in enumerate(centroids.theme_ids) if t not in learned]
            if columns:
                conf = centroids.confidences(embeddings)[:, columns]
                ids = tuple(centroids.theme_ids[k] for k in columns)
                self._merge(found, todo, ids, conf, "centroid")

    @staticmethod
    def _merge(
        found: list[dict[str, tuple[float, str]]],
        todo: list[int],
        ids: Sequence[str],
        confidences: Floats,
        source: str,
    ) -> None:
        floor = 0.05  # below this a theme is noise; keeps the per-text dicts small
        for row, i in enumerate(todo):
            scores = found[i]
            for k in np.flatnonzero(confidences[row] >= floor):
                theme, conf = ids[int(k)], float(confidences[row, k])
                if theme not in scores or conf > scores[theme][0]:
                    scores[theme] = (conf, source)


def build_classifier(
    taxonomy_path: Path | None,
    *,
    model_dir: Path | None = None,
    cache_dir: Path | None = None,
    embed_when_rules_match: bool = False,
    max_themes: int | None = 3,
) -> ThemeClassifier:
    """The workspace's classifier: its ``taxonomy.yaml`` (``None``: the default taxonomy),
    the embeddings cache in ``cache_dir`` and the trained head in ``model_dir`` if any."""
    taxonomy = load_taxonomy(taxonomy_path)
    cache = default_cache_file(cache_dir) if cache_dir is not None else None
    encoder = Encoder(cache_path=cache)
    head = None
    if model_dir is not None and head_file(model_dir).is_file():
        head = Head.load(head_file(model_dir))
    return ThemeClassifier(
        taxonomy,
        encoder,
        head,
        embed_when_rules_match=embed_when_rules_match,
        max_themes=max_themes,
    )


__all__ = [
    "Centroids",
    "Stats",
    "ThemeClassifier",
    "build_classifier",
    "fit_centroids",
]
