"""Emerging themes: what customers talk about that no theme of the taxonomy explains yet.

The redacted texts left unclassified are embedded (the same multilingual encoder as the
themes, so French and English complaints about one new problem land together), clustered
with HDBSCAN — which leaves scattered one-off texts as noise instead of forcing them into
groups — and each cluster is described by its most distinctive words (class-based TF-IDF:
words frequent in this cluster and rare in the others) and the texts closest to its centre.
A cluster is proposed as a candidate theme; the user accepts it into ``taxonomy.yaml``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_TEXTS = 20_000  # beyond this, a deterministic sample is clustered
# Mean cosine similarity of a cluster's texts to its centre below which it is not proposed
# (paraphrases of one complaint score 0.7–0.9 with the multilingual encoder; unrelated
# texts 0.3–0.5).
COHERENCE = 0.6


def _coherence(vectors: npt.NDArray[np.float32]) -> float:
    centre = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centre))
    if norm == 0:
        return 0.0
    return float((vectors @ (centre / norm)).mean())


@dataclass(frozen=True)
class Candidate:
    id: str
    words: tuple[str, ...]
    size: int
    share: float  # of the unexplained texts
    examples: tuple[str, ...]
    languages: dict[str, int] = field(default_factory=dict)
    member_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": " / ".join(self.words[:3]),
            "words": list(self.words),
            "size": self.size,
            "share": round(self.share, 4),
            "examples": list(self.examples),
            "languages": self.languages,
        }


def _stop_words() -> list[str]:
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.fr.stop_words import STOP_WORDS as FR

    placeholders = {"email", "phone", "iban", "card", "nir", "name"}
    return sorted(set(FR) | set(EN) | placeholders)


def distinctive_words(docs_by_cluster: Sequence[str], top: int = 6) -> list[list[str]]:
    """Class-based TF-IDF: one document per cluster, words ranked by weight."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        stop_words=_stop_words(),
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]{2,}\b",
        sublinear_tf=True,
        max_features=20_000,
    )
    with warnings.catch_warnings():  # the stop lists' elisions (qu', l') are not tokens here
        warnings.simplefilter("ignore", UserWarning)
        matrix = vectorizer.fit_transform(docs_by_cluster)
    vocab = np.array(vectorizer.get_feature_names_out())
    out = []
    for row in range(matrix.shape[0]):
        weights = matrix[row].toarray().ravel()
        order = np.argsort(-weights)[:top]
        out.append([str(vocab[i]) for i in order if weights[i] > 0])
    return out


def find_candidates(
    ids: Sequence[str],
    texts: Sequence[str],
    languages: Sequence[str | None],
    embeddings: npt.NDArray[np.float32],
    *,
    min_cluster_size: int = 5,
    examples: int = 3,
    seed: int = 0,
) -> list[Candidate]:
    """Candidate themes among unexplained texts, largest first."""
    n = len(texts)
    if n < min_cluster_size:
        return []
    index = np.arange(n)
    if n > MAX_TEXTS:
        index = np.sort(np.random.default_rng(seed).choice(n, MAX_TEXTS, replace=False))
    from sklearn.cluster import HDBSCAN

    vectors = embeddings[index].astype(np.float64)
    # A single cluster is allowed (all the unexplained texts may be one new problem); a
    # cluster must then be coherent to be proposed, so that noise is never one "theme".
    labels = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min(3, min_cluster_size),
        allow_single_cluster=True,
        copy=True,
    ).fit_predict(vectors)
    clusters = [c for c in sorted(set(labels.tolist())) if c >= 0]
    if not clusters:
        return []
    members = {c: index[labels == c] for c in clusters}
    members = {c: rows for c, rows in members.items() if _coherence(embeddings[rows]) >= COHERENCE}
    clusters = [c for c in clusters if c in members]
    if not clusters:
        return []
    words = distinctive_words([" ".join(texts[i] for i in members[c]) for c in clusters])
    out = []
    for c, top_words in zip(clusters, words, strict=True):
        rows = members[c]
        centre = embeddings[rows].mean(axis=0)
        shown: list[str] = []
        for i in rows[np.argsort(-(embeddings[rows] @ centre))]:
            if texts[i] not in shown:
                shown.append(texts[i])
            if len(shown) == examples:
                break
        langs: dict[str, int] = {}
        for i in rows:
            key = languages[i] or "?"
            langs[key] = langs.get(key, 0) + 1
        out.append(
            Candidate(
                id="",
                words=tuple(top_words),
                size=len(rows),
                share=len(rows) / len(index),
                examples=tuple(shown),
                languages=langs,
                member_ids=tuple(ids[i] for i in rows),
            )
        )
    out.sort(key=lambda c: -c.size)
    return [
        Candidate(f"candidate-{k}", c.words, c.size, c.share, c.examples, c.languages,
                  c.member_ids)
        for k, c in enumerate(out, start=1)
    ]  # fmt: skip
