"""How well themes are found: precision, recall and F1 per theme, macro averages, and the most
frequent confusions — from texts, gold labels and predictions (``voxloop text eval``).

Multi-label throughout: a text's gold and predicted labels are sets (possibly empty:
*unclassified*). A confusion pairs a gold theme that was missed with a predicted theme that was
wrong on the same text; a missed theme with nothing wrong in its place pairs with
``unclassified``, and a wrong theme on a text whose gold themes were all found (or that had none)
pairs ``unclassified`` with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from voxloop.text.taxonomy import UNCLASSIFIED
from voxloop.text.types import ThemeScore

Labels = str | Iterable[str] | Iterable[ThemeScore] | None


def label_set(value: Labels) -> frozenset[str]:
    """``"a|b"``, ``"a;b"``, ``["a", "b"]``, ``[ThemeScore, …]``, ``""`` or ``None`` → a set;
    ``unclassified`` means no theme."""
    if value is None:
        return frozenset()
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    out: set[str] = set()
    for item in items:
        text = item.id if isinstance(item, ThemeScore) else str(item)
        out |= {p.strip() for p in text.replace(";", "|").split("|")}
    return frozenset(p for p in out if p and p != UNCLASSIFIED)


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate(
    texts: Sequence[str],
    gold: Sequence[Labels],
    predicted: Sequence[Labels],
    *,
    labels: Sequence[str] | None = None,
    top_confusions: int = 10,
) -> dict[str, Any]:
    """A report as a dict: ``per_theme`` rows (theme, support, predicted, correct, precision,
    recall, f1), ``macro_f1`` / ``macro_precision`` / ``macro_recall`` over ``labels`` (default:
    every theme in the gold or the predictions), ``micro_f1``, ``exact_match`` (texts whose
    whole set is right), ``unclassified`` (share of texts with no prediction) and
    ``confusions`` rows (gold, predicted, count, example)."""
    if not len(texts) == len(gold) == len(predicted):
        raise ValueError(
            f"{len(texts)} texts, {len(gold)} gold labels and {len(predicted)} predictions: "
            "give one of each per text"
        )
    gold_sets = [label_set(g) for g in gold]
    pred_sets = [label_set(p) for p in predicted]
    support: Counter[str] = Counter()
    guessed: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for text, g, p in zip(texts, gold_sets, pred_sets, strict=True):
        support.update(g)
        guessed.update(p)
        correct.update(g & p)
        missed, wrong = sorted(g - p), sorted(p - g)
        found = (
            [(m, w) for m in missed for w in wrong]
            or [(m, UNCLASSIFIED) for m in missed]
            or [(UNCLASSIFIED, w) for w in wrong]
        )
        for pair in found:
            pairs[pair] += 1
            examples.setdefault(pair, " ".join(str(text).split())[:120])
    names = list(labels) if labels is not None else sorted(set(support) | set(guessed))
    rows: list[dict[str, Any]] = []
    f1s: list[float] = []
    precisions: list[float] = []
    recalls: list[float] = []
    for name in names:
        precision = _ratio(correct[name], guessed[name])
        recall = _ratio(correct[name], support[name])
        f1 = _ratio(2 * correct[name], support[name] + guessed[name])
        f1s.append(f1)
        precisions.append(precision)
        recalls.append(recall)
        rows.append(
            {
                "theme": name,
                "support": support[name],
                "predicted": guessed[name],
                "correct": correct[name],
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
            }
        )
    n = len(rows)
    exact = sum(g == p for g, p in zip(gold_sets, pred_sets, strict=True))
    total_correct = sum(correct[x] for x in names)
    micro = _ratio(
        2 * total_correct, sum(support[x] for x in names) + sum(guessed[x] for x in names)
    )
    return {
        "texts": len(texts),
        "macro_f1": round(sum(f1s) / n, 4) if n else 0.0,
        "macro_precision": round(sum(precisions) / n, 4) if n else 0.0,
        "macro_recall": round(sum(recalls) / n, 4) if n else 0.0,
        "micro_f1": round(micro, 4),
        "exact_match": round(_ratio(exact, len(texts)), 4),
        "unclassified": round(_ratio(sum(not p for p in pred_sets), len(texts)), 4),
        "per_theme": rows,
        "confusions": [
            {"gold": g, "predicted": p, "count": count, "example": examples[(g, p)]}
            for (g, p), count in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[
                :top_confusions
            ]
        ],
    }


__all__ = ["evaluate", "label_set"]
