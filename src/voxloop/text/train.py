"""The trained head: a linear model on sentence embeddings and TF-IDF word features, learned
from the user's labelled verbatims (``voxloop text train``) and kept in the workspace.

scikit-learn fits it; what is kept is only numbers and words — one ``.npz`` file read with
``allow_pickle=False`` (a pickled or joblib model runs code when loaded; this file cannot).
It records the format version, the encoder it was trained with and the taxonomy's theme ids:
a head is refused, with what to do, when the encoder changed or a theme it predicts is gone.

Single-label data (each text one theme) gets a multinomial model (probabilities sum to one);
multi-label data (some texts with several themes, or none) one binary model per theme.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxloop.errors import ConfigError, UserError
from voxloop.text.embed import Encoder, default_cache_file
from voxloop.text.taxonomy import Taxonomy, load_taxonomy

HEAD_FORMAT = 1
HEAD_FILE = "themes-head.npz"
DEFAULT_C = 10.0
_TFIDF: dict[str, Any] = {
    "ngram_range": (1, 2),
    "lowercase": True,
    "strip_accents": "unicode",
    "sublinear_tf": True,
}
_RETRAIN = "retrain it: voxloop text train LABELS.csv --text-column … --label-column …"

Floats = npt.NDArray[np.float64]


def head_file(model_dir: Path) -> Path:
    """Where a workspace keeps its head (``.voxloop/models/themes-head.npz``)."""
    return model_dir / HEAD_FILE


def _tfidf(vocabulary: Sequence[str], idf: Floats) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(vocabulary={w: i for i, w in enumerate(vocabulary)}, **_TFIDF)
    vectorizer.idf_ = idf
    return vectorizer


@dataclass(frozen=True)
class Head:
    """A trained linear head. Scores = embeddings·Wₑ + tfidf·Wₜ + b."""

    labels: tuple[str, ...]
    multi_label: bool
    embedding_coef: npt.NDArray[np.float32]  # (classes, dim)
    tfidf_coef: npt.NDArray[np.float32]  # (classes, vocabulary)
    intercept: npt.NDArray[np.float32]  # (classes,)
    vocabulary: tuple[str, ...]
    idf: npt.NDArray[np.float64]
    encoder_id: str
    label_fingerprint: str
    meta: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for array in (self.embedding_coef, self.tfidf_coef, self.intercept):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update("\n".join(self.labels).encode())
        return digest.hexdigest()[:16]

    def check(self, taxonomy: Taxonomy, encoder_id: str | None) -> None:
        """Refuse a head that does not fit this taxonomy and encoder."""
        if encoder_id is None:
            raise ConfigError(
                "a trained head needs the sentence encoder",
                hint="pass encoder=Encoder() to ThemeClassifier",
            )
        if encoder_id != self.encoder_id:
            raise ConfigError(
                f"the trained head was made with the encoder {self.encoder_id}, "
                f"this installation has {encoder_id}",
                hint=_RETRAIN,
            )
        gone = [label for label in self.labels if label not in taxonomy.by_id]
        if gone:
            raise ConfigError(
                f"the trained head predicts theme(s) {', '.join(gone)} that the taxonomy no "
                "longer has",
                hint=f"put them back in taxonomy.yaml, or {_RETRAIN}",
            )

    def predict_proba(self, texts: Sequence[str], embeddings: npt.NDArray[np.float32]) -> Floats:
        """``(len(texts), len(labels))`` probabilities."""
        scores = np.asarray(embeddings, np.float64) @ self.embedding_coef.T.astype(np.float64)
        if self.vocabulary:
            features = _tfidf(self.vocabulary, self.idf).transform(list(texts))
            scores += np.asarray(features @ self.tfidf_coef.T.astype(np.float64))
        scores += self.intercept
        if self.multi_label:
            return np.asarray(1.0 / (1.0 + np.exp(-scores)))
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    # -- file -----------------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        header = {
            "format": HEAD_FORMAT,
            "labels": list(self.labels),
            "multi_label": self.multi_label,
            "encoder": self.encoder_id,
            "label_fingerprint": self.label_fingerprint,
            "meta": self.meta,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(
            tmp,
            header=np.array(json.dumps(header, ensure_ascii=False)),
            embedding_coef=self.embedding_coef,
            tfidf_coef=self.tfidf_coef,
            intercept=self.intercept,
            vocabulary=np.array(self.vocabulary, dtype=np.str_),
            idf=self.idf,
        )
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Head:
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("format") != HEAD_FORMAT:
                    raise ConfigError(
                        f"{path}: trained head in format {header.get('format')}, this version "
                        f"of voxloop reads format {HEAD_FORMAT}",
                        hint=_RETRAIN,
                    )
                return cls(
                    labels=tuple(header["labels"]),
                    multi_label=bool(header["multi_label"]),
                    embedding_coef=data["embedding_coef"],
                    tfidf_coef=data["tfidf_coef"],
                    intercept=data["intercept"],
                    vocabulary=tuple(str(w) for w in data["vocabulary"].tolist()),
                    idf=data["idf"],
                    encoder_id=str(header["encoder"]),
                    label_fingerprint=str(header["label_fingerprint"]),
                    meta=dict(header.get("meta", {})),
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"{path}: not a readable trained head ({exc})", hint=_RETRAIN
            ) from exc


# -- training ---------------------------------------------------------------------------------


def _label_sets(labels: Sequence[str | Sequence[str]]) -> list[list[str]]:
    out = []
    for value in labels:
        items = [value] if isinstance(value, str) else list(value)
        parts = [p.strip() for item in items for p in item.replace(";", "|").split("|")]
        out.append(sorted({p for p in parts if p and p != "unclassified"}))
    return out


def _check_labels(sets: list[list[str]], taxonomy: Taxonomy) -> None:
    unknown = sorted({label for s in sets for label in s if label not in taxonomy.by_id})
    if unknown:
        close = {u: difflib.get_close_matches(u, taxonomy.ids, n=1) for u in unknown[:5]}
        guesses = [f"{u} → {c[0]}?" for u, c in close.items() if c]
        raise UserError(
            f"{len(unknown)} label(s) are not theme ids of the taxonomy: "
            + ", ".join(unknown[:10])
            + ("…" if len(unknown) > 10 else ""),
            hint=("did you mean " + "; ".join(guesses) + " — " if guesses else "")
            + "add the themes to taxonomy.yaml or fix the labels; themes: "
            + ", ".join(taxonomy.ids),
        )
    distinct = {label for s in sets for label in s}
    if len(distinct) < 2:
        raise UserError(
            f"training needs at least two different themes among the labels, found "
            f"{len(distinct)} ({', '.join(sorted(distinct)) or 'none'})",
            hint="label more verbatims",
        )


def train_head(
    texts: Sequence[str],
    labels: Sequence[str | Sequence[str]],
    taxonomy: Taxonomy,
    encoder: Encoder,
    *,
    c: float = DEFAULT_C,
    use_tfidf: bool = True,
) -> Head:
    """Fit a head on labelled texts. ``labels[i]``: a theme id, several (a list, or ids
    separated by ``|``), or none (``""``: the text has no theme — multi-label training)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if len(texts) != len(labels):
        raise UserError(f"{len(texts)} texts but {len(labels)} labels")
    sets = _label_sets(labels)
    _check_labels(sets, taxonomy)
    classes = sorted({label for s in sets for label in s})
    multi_label = any(len(s) != 1 for s in sets)
    embeddings = encoder.encode(list(texts)).astype(np.float64)
    vocabulary: tuple[str, ...] = ()
    idf = np.zeros(0)
    features: Any = embeddings
    if use_tfidf:
        vectorizer = TfidfVectorizer(min_df=2 if len(texts) >= 200 else 1, **_TFIDF)
        try:
            tfidf = vectorizer.fit_transform(list(texts))
        except ValueError:  # no usable word at all (e.g. emoji-only texts)
            tfidf = None
        if tfidf is not None:
            names = vectorizer.get_feature_names_out()
            vocabulary, idf = tuple(str(w) for w in names), np.asarray(vectorizer.idf_)
            features = sparse.hstack([sparse.csr_matrix(embeddings), tfidf]).tocsr()
    dim = embeddings.shape[1]
    if multi_label:
        coef = np.zeros((len(classes), features.shape[1]))
        intercept = np.zeros(len(classes))
        for k, label in enumerate(classes):
            y = np.array([label in s for s in sets])
            if y.all():
                intercept[k] = 10.0
                continue
            model = LogisticRegression(C=c, max_iter=3000).fit(features, y)
            coef[k], intercept[k] = model.coef_[0], model.intercept_[0]
    else:
        y_single = np.array([s[0] for s in sets])
        model = LogisticRegression(C=c, max_iter=3000).fit(features, y_single)
        order = [list(model.classes_).index(label) for label in classes]
        if len(classes) == 2:  # binary: one row; as softmax: [0, w]
            coef = np.vstack([np.zeros_like(model.coef_[0]), model.coef_[0]])
            intercept = np.array([0.0, model.intercept_[0]])
        else:
            coef, intercept = model.coef_[order], model.intercept_[order]
    counts = Counter(label for s in sets for label in s)
    return Head(
        labels=tuple(classes),
        multi_label=multi_label,
        embedding_coef=coef[:, :dim].astype(np.float32),
        tfidf_coef=coef[:, dim:].astype(np.float32),
        intercept=intercept.astype(np.float32),
        vocabulary=vocabulary,
        idf=idf,
        encoder_id=encoder.model_id,
        label_fingerprint=taxonomy.label_fingerprint,
        meta={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "texts": len(texts),
            "per_theme": dict(sorted(counts.items())),
            "c": c,
            "tfidf_terms": len(vocabulary),
        },
    )


def _holdout_split(
    sets: list[list[str]], share: float, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Per first label, every ``1/share``-th text goes to the hold-out (each theme in both)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, s in enumerate(sets):
        by_label.setdefault(s[0] if s else "", []).append(i)
    train, held = [], []
    for members in by_label.values():
        members = [members[j] for j in rng.permutation(len(members))]
        k = int(len(members) * share) if len(members) >= 4 else 0
        held += members[:k]
        train += members[k:]
    return sorted(train), sorted(held)


def train_from_file(
    texts: Sequence[str],
    labels: Sequence[str | Sequence[str]],
    taxonomy_path: Path | None,
    model_dir: Path,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """``voxloop text train``: estimate quality on a 20 % hold-out (when there are at least
    50 texts), then train on everything and save the head in ``model_dir``."""
    from voxloop.text.classify import ThemeClassifier
    from voxloop.text.evaluate import evaluate

    taxonomy = load_taxonomy(taxonomy_path)
    cache = default_cache_file(cache_dir) if cache_dir is not None else None
    kept = [i for i, t in enumerate(texts) if t and t.strip()]
    texts = [texts[i] for i in kept]
    sets = _label_sets([labels[i] for i in kept])
    _check_labels(sets, taxonomy)
    summary: dict[str, Any] = {"texts": len(texts), "skipped_empty": len(labels) - len(kept)}
    with Encoder(cache_path=cache) as encoder:
        if len(texts) >= 50:
            train, held = _holdout_split(sets, 0.2)
            train_sets = [sets[i] for i in train]
            if len({label for s in train_sets for label in s}) >= 2 and held:
                trial = train_head([texts[i] for i in train], train_sets, taxonomy, encoder)
                classifier = ThemeClassifier(taxonomy, encoder, trial)
                predicted = classifier.classify([texts[i] for i in held])
                report = evaluate(
                    [texts[i] for i in held],
                    [sets[i] for i in held],
                    [[t.id for t in p] for p in predicted],
                )
                summary["holdout_texts"] = len(held)
                summary["holdout_macro_f1"] = round(float(report["macro_f1"]), 3)
        head = train_head(texts, sets, taxonomy, encoder)
    path = head.save(head_file(model_dir))
    summary |= {
        "themes": len(head.labels),
        "mode": "multi-label" if head.multi_label else "single-label",
        "tfidf_terms": len(head.vocabulary),
        "file": str(path),
    }
    return summary


__all__ = ["HEAD_FILE", "HEAD_FORMAT", "Head", "head_file", "train_from_file", "train_head"]
