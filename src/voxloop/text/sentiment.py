"""Sentiment of a verbatim in French or English: a score in [-1, 1] and a label.

Method: VADER (Hutto & Gilbert 2014) in English and its French adaptation
(``vaderSentiment-fr``) — a lexicon with rules for negation ("pas mal"), intensifiers
("très déçu"), punctuation, capitals and emojis — extended with a **customer-service
lexicon**: words that are neutral in general text but signal a grievance in a contact
centre's mail ("still", "waiting", "refund", "retard", "injoignable", "toujours pas").

Why this rather than a neural model: it runs offline from PyPI packages alone (no model to
download), at tens of thousands of texts a second on one core, and every score can be
explained word by word — which matters when a manager asks why a verbatim counts as
negative. It is measured on real French and English customer messages (bench/README.md);
its known weakness is sarcasm. A survey score (NPS, CSAT, stars) is never an input, so the
two can be compared: a promoter writing an angry comment is a finding, not a contradiction.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from voxloop.text.types import Sentiment

SENTENCE_SPLIT_OVER = 400  # characters
MAX_SENTENCES = 60
_SENTENCES = re.compile(r"(?<=[.!?…])\s+|\n+")

# Label thresholds on VADER's compound score: the authors' recommended ±0.05.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

# Customer-service words, valence on VADER's scale (−4 … +4). French keys without accents,
# as vaderSentiment-fr looks them up.
CX_LEXICON: dict[str, dict[str, float]] = {
    "en": {
        "late": -1.5, "delay": -1.5, "delayed": -1.5, "waiting": -1.2, "waited": -1.2,
        "still": -0.4, "again": -0.6, "refund": -0.8, "unreachable": -2.0,
        "outage": -2.0, "down": -0.8, "broken": -2.0, "faulty": -2.0, "missing": -1.5,
        "lost": -1.5, "overcharged": -2.5, "charged": -0.6, "cancel": -1.0,
        "cancelled": -1.2, "canceled": -1.2, "nobody": -1.2, "ignored": -2.0,
        "useless": -2.0, "disconnected": -1.5, "hold": -0.8, "scam": -3.0,
        "ridiculous": -2.0, "unacceptable": -2.5, "worst": -3.1, "slow": -1.2,
        "resolved": 1.5, "solved": 1.5, "fixed": 1.5, "quick": 1.0, "quickly": 1.0,
        "helpful": 2.0, "thanks": 1.9, "thank": 1.5, "free": 0.0, "issue": -1.0,
        "issues": -1.0, "problem": -1.5, "problems": -1.5, "error": -1.5, "fix": -0.5,
        "frustrating": -2.2, "annoying": -2.0, "terrible": -3.0,
    },
    "fr": {
        "retard": -1.5, "attente": -1.2, "attendre": -1.0, "attends": -1.0,
        "toujours": -0.3, "encore": -0.5, "remboursement": -0.8, "injoignable": -2.2,
        "panne": -2.0, "coupure": -1.8, "coupe": -1.2, "bug": -1.5, "plante": -1.5,
        "defectueux": -2.0, "casse": -2.0, "manquant": -1.5, "perdu": -1.5,
        "facture": -0.4, "preleve": -0.8, "resilier": -1.2, "resiliation": -1.0,
        "personne": -0.4, "ignore": -1.5, "inutile": -2.0, "lent": -1.2, "lente": -1.2,
        "arnaque": -3.0, "honteux": -2.5, "inadmissible": -2.5, "scandaleux": -2.8,
        "nul": -2.0, "nulle": -2.0, "catastrophe": -2.8, "galere": -2.0, "marre": -2.5,
        "debit": -0.3, "rappel": -0.3, "relance": -0.8, "impossible": -1.5,
        "rapide": 1.2, "rapidement": 1.2, "efficace": 2.0, "merci": 0.8, "top": 2.0,
        "bravo": 1.0, "scandale": -3.0, "pourri": -2.5, "pourrie": -2.5, "mediocre": -2.0,
        "incapable": -2.0, "incapables": -2.0, "bloque": -1.5, "bloquee": -1.5,
        "coince": -1.5, "coincee": -1.5, "probleme": -1.5, "problemes": -1.5, "sans": -0.6,
        "honte": -2.5, "lamentable": -2.8, "inacceptable": -2.5, "deplorable": -2.5,
        "degoute": -2.5, "furieux": -2.8, "enerve": -2.2, "agace": -1.8,
        # entries of the translated lexicon that are neutral in French customer messages
        # ("sur" is "on", "net" the internet, "frais" the fees, "part" in "de la part de")
        "sur": 0.0, "net": 0.0, "frais": 0.0, "part": 0.0, "domicile": 0.0, "prise": 0.0,
        "sous": 0.0, "succession": 0.0, "prix": 0.0, "augmenter": 0.0, "traiter": 0.0,
        "attirer": 0.0, "mieux": 0.3, "bien": 0.6, "resolution": 0.0, "resoudre": 0.0,
        "ameliorer": 0.0, "free": 0.0,
    },
}  # fmt: skip


# Phrases whose meaning the word-by-word rules get wrong ("toujours pas de remboursement":
# the negation would flip "remboursement" to positive), and emojis, rewritten as one token
# that the lexicon scores. French is matched without accents.
CX_PHRASES: dict[str, dict[str, tuple[str, float]]] = {
    "en": {
        "still no": ("cx_stillno", -1.8), "still not": ("cx_stillno", -1.8),
        "still waiting": ("cx_stillno", -1.8), "no answer": ("cx_noanswer", -1.8),
        "no response": ("cx_noanswer", -1.8), "no reply": ("cx_noanswer", -1.8),
        "not working": ("cx_broken", -2.0), "doesn't work": ("cx_broken", -2.0),
        "thanks in advance": ("cx_please", 0.0), "please help": ("cx_please", -0.5),
        "does not work": ("cx_broken", -2.0), "on hold": ("cx_hold", -1.2),
    },
    "fr": {
        "toujours pas": ("cx_toujourspas", -1.8), "toujours rien": ("cx_toujourspas", -1.8),
        "toujours aucun": ("cx_toujourspas", -1.8), "personne ne": ("cx_personne", -1.5),
        "pas de reponse": ("cx_sansreponse", -1.8), "aucune reponse": ("cx_sansreponse", -1.8),
        "sans reponse": ("cx_sansreponse", -1.8), "ne marche pas": ("cx_enpanne", -2.0),
        "plus d'internet": ("cx_enpanne", -2.0), "plus de connexion": ("cx_enpanne", -2.0),
        "plus de reseau": ("cx_enpanne", -2.0), "plus de tele": ("cx_enpanne", -2.0),
        "merci de": ("cx_svp", 0.0), "merci d'avance": ("cx_svp", 0.0),
        "ne fonctionne pas": ("cx_enpanne", -2.0), "marche pas": ("cx_enpanne", -2.0),
        "fonctionne plus": ("cx_enpanne", -2.0), "marche plus": ("cx_enpanne", -2.0),
    },
}  # fmt: skip
EMOJI_VALENCE = {
    "😡": -2.5, "😠": -2.2, "🤬": -3.0, "😤": -1.8, "😒": -1.5, "😞": -1.8, "😢": -1.8,
    "😭": -2.0, "👎": -2.0, "💩": -2.2, "🙄": -1.5, "😩": -1.8, "😫": -1.8,
    "👍": 1.5, "🙏": 1.2, "❤": 2.2, "❤️": 2.2, "😊": 2.0, "😀": 2.0, "😃": 2.0,
    "😍": 2.5, "🥰": 2.5, "👏": 2.0, "💯": 1.8, "😁": 2.0, "🎉": 2.0,
}  # fmt: skip


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


_EMOJI_TOKENS = {e: f" cx_emoji{i} " for i, e in enumerate(EMOJI_VALENCE)}
_PHRASE_PATTERNS = {
    lang: re.compile(
        r"\b(" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    for lang, phrases in CX_PHRASES.items()
}
_EMOJI_PATTERN = re.compile(
    "|".join(re.escape(e) for e in sorted(EMOJI_VALENCE, key=len, reverse=True))
)


def _rewrite(text: str, language: str) -> str:
    phrases = CX_PHRASES[language]
    text = _PHRASE_PATTERNS[language].sub(lambda m: phrases[m.group(1).lower()][0], text)
    return _EMOJI_PATTERN.sub(lambda m: _EMOJI_TOKENS[m.group(0)], text)


class SentimentAnalyzer:
    """Scores verbatims; ``extra_lexicon`` adds or overrides words per language."""

    def __init__(self, extra_lexicon: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._extra = {k: dict(v) for k, v in (extra_lexicon or {}).items()}
        self._analyzers: dict[str, Any] = {}

    def _analyzer(self, language: str) -> Any:
        language = "fr" if language == "fr" else "en"
        if language not in self._analyzers:
            if language == "fr":
                with warnings.catch_warnings():  # fuzzywuzzy's "slow SequenceMatcher"
                    warnings.simplefilter("ignore")
                    from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer
            else:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
            analyzer = SentimentIntensityAnalyzer()
            analyzer.lexicon.update(CX_LEXICON[language])
            analyzer.lexicon.update(dict(CX_PHRASES[language].values()))
            analyzer.lexicon.update(
                {f"cx_emoji{i}": v for i, v in enumerate(EMOJI_VALENCE.values())}
            )
            analyzer.lexicon.update(
                {
                    (_strip_accents(w) if language == "fr" else w).lower(): v
                    for w, v in self._extra.get(language, {}).items()
                }
            )
            self._analyzers[language] = analyzer
        return self._analyzers[language]

    def score(self, text: str, language: str | None) -> Sentiment:
        if not text.strip():
            return Sentiment(0.0, "neutral")
        lang = "fr" if language == "fr" else "en"
        source = _rewrite(_strip_accents(text) if lang == "fr" else text, lang)
        analyzer = self._analyzer(lang)
        if len(source) <= SENTENCE_SPLIT_OVER:
            compound = float(analyzer.polarity_scores(source)["compound"])
        else:
            # VADER's negation check is quadratic in a text's length: a long e-mail is
            # scored sentence by sentence, and the sentences that carry feeling averaged.
            scores = [
                float(analyzer.polarity_scores(part)["compound"])
                for part in _SENTENCES.split(source)[:MAX_SENTENCES]
                if part.strip()
            ]
            felt = [x for x in scores if x != 0.0]
            compound = sum(felt) / len(felt) if felt else 0.0
        compound = max(-1.0, min(1.0, compound))
        if compound >= POSITIVE_AT:
            label = "positive"
        elif compound <= NEGATIVE_AT:
            label = "negative"
        else:
            label = "neutral"
        return Sentiment(round(compound, 4), label)

    def score_many(self, texts: Sequence[str], languages: Sequence[str | None]) -> list[Sentiment]:
        return [self.score(t, lang) for t, lang in zip(texts, languages, strict=True)]
