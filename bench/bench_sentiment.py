"""Sentiment quality on real customer messages (issue 4): accuracy and macro-F1 per language
on the labelled sets in ``tests/data/sentiment/`` (real French tweets about an operator,
real English tweets to support accounts; labelled by hand — see their README), against two
baselines in the same run: the majority class, and plain VADER (the same lexicons without
the customer-service additions). Also the texts/s of the scorer.

    python bench/bench_sentiment.py
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

from voxloop.text.clean import clean_text
from voxloop.text.sentiment import SentimentAnalyzer

DATA = Path(__file__).parents[1] / "tests" / "data" / "sentiment"
LABELS = ("negative", "neutral", "positive")


def macro_f1(pred: list[str], gold: list[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(p == label and g == label for p, g in zip(pred, gold, strict=True))
        fp = sum(p == label and g != label for p, g in zip(pred, gold, strict=True))
        fn = sum(p != label and g == label for p, g in zip(pred, gold, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0)
    return sum(scores) / len(scores)


def plain_vader(text: str, language: str) -> str:
    """VADER with its own lexicon only (the baseline)."""
    import warnings

    if language == "fr":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer
    else:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    compound = float(
        _analyzers(language, SentimentIntensityAnalyzer).polarity_scores(text)["compound"]
    )
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


_cache: dict[str, Any] = {}


def _analyzers(language: str, factory: type) -> Any:
    if language not in _cache:
        _cache[language] = factory()
    return _cache[language]


def main() -> None:
    analyzer = SentimentAnalyzer()
    print(f"{'set':<6}{'n':>5}  {'method':<28}{'accuracy':>9}{'macro-F1':>10}")
    for language in ("fr", "en"):
        with (DATA / f"{language}.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        texts = [clean_text(r["text"]).text for r in rows]
        gold = [r["label"] for r in rows]
        majority = Counter(gold).most_common(1)[0][0]
        started = time.perf_counter()
        ours = [analyzer.score(t, language).label for t in texts]
        rate = len(texts) / (time.perf_counter() - started)
        plain = [plain_vader(t, language) for t in texts]
        for name, pred in (
            (f"majority ({majority})", [majority] * len(gold)),
            ("plain VADER", plain),
            ("voxloop (VADER + CX lexicon)", ours),
        ):
            accuracy = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
            f1 = macro_f1(pred, gold)
            print(f"{language:<6}{len(gold):>5}  {name:<28}{accuracy:>9.3f}{f1:>10.3f}")
        print(f"{language:<6}       voxloop scores {rate:,.0f} texts/s on one core")


if __name__ == "__main__":
    main()
