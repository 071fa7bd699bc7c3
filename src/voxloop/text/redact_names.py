"""Person names for :mod:`voxloop.text.redact`: cue and lexicon rules, and where to run NER.

Three sources of names, whose union is redacted (the reasons are in ``redact``'s docstring):

1. **cues** — a title ("M.", "Mme", "Mr", "Dr"), a self-introduction ("je m'appelle", "my
   name is"), a field label ("Nom :", "From:"), a role ("la conseillère", "the agent", "my
   husband"), a mention ("merci à", "I spoke to"), a greeting or a signature ("Bonjour
   Julie,", "Regards,\\nTom Baker") followed by capitalised words that are not in
   :data:`~voxloop.text.redact_lexicon.NOT_NAMES`;
2. **lexicons** — capitalised words where one is a known given name ("Kevin", "Jean-Pierre
   Roux", "DUPONT Marie"), or a capitalised word followed by a common surname ("Yusuf
   Peterson");
3. **NER** — spaCy's ``PER`` entities, run only on windows around capitalised words that the
   rules did not already explain (:func:`ner_windows`), then trimmed (:func:`clean_person`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import regex
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

from voxloop.text.redact_lexicon import (
    AMBIGUOUS_GIVEN_NAMES,
    GIVEN_NAMES,
    NOT_NAMES,
    SURNAMES,
    TITLES,
    WORDLIKE_GIVEN_NAMES,
)

PERSON = "PERSON"

# A name-shaped word: "Jean-Pierre", "O'Connor", "McDonald", "DUPONT", "Zoë"; or an initial "J."
_WORD = regex.compile(r"\p{Lu}[\p{L}\p{M}]*(?:['’\-]\p{L}[\p{L}\p{M}]*)*|\p{Lu}\.")
# Particles inside a name ("Jean de La Fontaine", "Le Goff", "Van Damme", "D'Angelo").
_PARTICLE_WORD = regex.compile(
    r"(?i:de|du|des|del|della|di|da|van|von|der|den|le|la|ben|bin|el|al|dos|das|ter|ten|st\.)"
)
_PARTICLE = regex.compile(_PARTICLE_WORD.pattern + r"[ \t]+(?=\p{Lu}\p{Ll})")
_GAP = regex.compile(r"[ \t\u00a0]{1,3}")
_CAPITALISED = regex.compile(r"(?<![\p{L}\p{M}\d@._\-'’/:#=?&+%~])\p{Lu}[\p{L}\p{M}'’\-]*")
_END_OF_CLAUSE = regex.compile(r"[ \t]*(?:[,.!?;:)\r\n]|\Z|\s+[-–—(<])")

_TITLE_CUES = (
    r"(?:\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Mme|Mlle|Mmes|MM|Pr)\b\.?"
    r"|\bM\."
    r"|(?i:\b(?:monsieur|madame|mademoiselle|docteur|ma[iî]tre|miss|sir|madam|lady|lord)\b))"
    r"[ \t\u00a0]+"
)
_INTRO_CUES = (
    r"(?i:\b(?:my\s+name\s+is|my\s+name's|name's|i\s+am\s+called|je\s+m['’]appelle"
    r"|je\s+me\s+nomme|je\s+me\s+pr[ée]nomme|mon\s+nom\s+est|mon\s+nom\s+c['’]est"
    r"|mon\s+pr[ée]nom\s+est|moi\s+c['’]est|named|nomm[ée]e?|pr[ée]nomm[ée]e?"
    r"|d[ée]nomm[ée]e?|de\s+la\s+part\s+de|on\s+behalf\s+of|(?:under|in|with)\s+the\s+name"
    r"(?:\s+of)?|au\s+nom\s+de|the\s+name\s+of|sous\s+le\s+nom\s+de)\b)[ \t]+"
)
_LABEL_CUES = (
    r"(?im:^[ \t>]*(?:nom|pr[ée]nom|nom\s+et\s+pr[ée]nom|nom\s+complet|name|first\s+name"
    r"|last\s+name|surname|full\s+name|titulaire|account\s+holder|holder|sign[ée]|signed"
    r"|from|de|exp[ée]diteur|sender|client|customer|contact|auteur|author)[ \t]*:[ \t]*)"
)
_ROLE_CUES = (
    r"(?i:\b(?:agent|advisor|adviser|representative|rep|operator|technician|engineer"
    r"|driver|courier|colleague|supervisor|manager|conseill[eè]re?|technicienne?"
    r"|op[ée]rat(?:eur|rice)|vendeu(?:r|se)|livreu(?:r|se)|chauffeur|responsable"
    r"|interlocut(?:eur|rice)|coll[eè]gue|h[ôo]tesse|superviseu(?:r|se)|gestionnaire"
    r"|charg[ée]e?\s+de\s+client[eè]le|agente|assistant|sales\s+assistant"
    r"|(?:my|our|mon|ma|notre)\s+(?:husband|wife|partner|son|daughter|mother|mum|mom|father"
    r"|dad|brother|sister|neighbou?r|friend|grandmother|grandfather|grandma|grandpa|granddad"
    r"|aunt|uncle|niece|nephew|cousin|boss|mari|femme|[ée]pou(?:x|se)|conjointe?|compagne"
    r"|compagnon|fils|fille|m[èe]re|p[èe]re|s(?:œ|oe)ur|fr[èe]re|voisine?|amie?"
    r"|grand-m[èe]re|grand-p[èe]re|tante|oncle|ni[èe]ce|neveu|cousine?|patron(?:ne)?))\b)"
    r"[ \t,]+"
)
_GREETING_CUES = (
    r"(?i:\b(?:hi|hello|hey|dear|bonjour|bonsoir|salut|coucou|cher|ch[eè]re|good\s+morning"
    r"|good\s+afternoon|good\s+evening)\b)[ \t]+"
)
_SIGNATURE_CUES = (
    r"(?i:\b(?:regards|best\s+regards|kind\s+regards|warm\s+regards|warmest\s+regards"
    r"|best\s+wishes|many\s+thanks|thanks|thank\s+you|thanks\s+again|cheers|sincerely"
    r"|yours\s+sincerely|yours\s+faithfully|yours\s+truly|respectfully|best|cordialement"
    r"|bien\s+cordialement|tr[eè]s\s+cordialement|bien\s+[àa]\s+vous|salutations"
    r"|sinc[eè]res\s+salutations|meilleures\s+salutations|amicalement|bien\s+amicalement"
    r"|merci|merci\s+d['’]avance|merci\s+beaucoup|bonne\s+journ[ée]e|bonne\s+soir[ée]e"
    r"|[àa]\s+bient[ôo]t)\b)(?:[ \t]*[,.!]?[ \t]*\r?\n[ \t>]*|[ \t]*,[ \t]*|[ \t]*-[ \t]*)"
)
_MENTION_CUES = (
    r"(?i:\b(?:thanks?(?:\s+you)?(?:\s+(?:again|so\s+much|a\s+lot|very\s+much))?\s+to"
    r"|thank|merci(?:\s+(?:encore|beaucoup|infiniment))?\s+[àa]|remercie|remercier"
    r"|m['’]a\s+pass[ée]|m['’]a\s+transf[ée]r[ée]|put\s+me\s+through\s+to"
    r"|gr[âa]ce\s+[àa]|spoke\s+(?:to|with)|speaking\s+(?:to|with)|talked\s+(?:to|with)"
    r"|told|asked|call\s+with|chat\s+with|meeting\s+with|according\s+to"
    r"|parl[ée]\s+(?:[àa]|avec)|eu\s+affaire\s+[àa]|dit\s+[àa]|pr[ée]venu|selon|d['’]apr[èe]s"
    r"|appel\s+avec|[ée]change\s+avec|rendez-vous\s+avec|ask\s+for|asked\s+for"
    r"|demand[ée]\s+[àa]|transf[ée]r[ée]e?\s+[àa])\b)[ \t]+"
)
# A person noun, a few words, a comma, then the name: "the guy at the counter, Tomasz,".
_APPOSITION_CUES = (
    r"(?i:\b(?:guy|man|woman|lady|gentleman|boy|girl|person|employee|staff\s+member|cashier"
    r"|salesman|saleswoman|clerk|receptionist|dame|monsieur|jeune\s+homme|jeune\s+femme"
    r"|gar[çc]on|caissi[eè]re?|employ[ée]e?|r[ée]ceptionniste|standardiste)\b)"
    r"(?:[ \t]+[\w'’]+){0,4}?,[ \t]+"
)
_SELF_CUES = r"(?i:\b(?:i\s+am|i['’]m|this\s+is|je\s+suis|c['’]est|ici)\b)[ \t]+"
# (compiled pattern, the name must end a clause, a particle may start the name, score)
_CUES: tuple[tuple[regex.Pattern[str], bool, bool, float], ...] = (
    (regex.compile(_TITLE_CUES), False, True, 0.9),
    (regex.compile(_INTRO_CUES), False, False, 0.9),
    (regex.compile(_LABEL_CUES), False, False, 0.85),
    (regex.compile(_ROLE_CUES), False, False, 0.8),
    (regex.compile(_GREETING_CUES), True, False, 0.8),
    (regex.compile(_SIGNATURE_CUES), True, False, 0.8),
    (regex.compile(_MENTION_CUES), False, False, 0.7),
    (regex.compile(_APPOSITION_CUES), True, False, 0.7),
    (regex.compile(_SELF_CUES), True, False, 0.6),
)


def fold(word: str) -> str:
    """How words are looked up in the lexicons: case-folded, typographic apostrophes plain."""
    return word.casefold().replace("’", "'")


def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.fr.stop_words import STOP_WORDS as FR

    return frozenset(w.casefold() for w in (*EN, *FR))


# Words that are not a name when capitalised (a sentence start, a greeting, a brand...).
COMMON = NOT_NAMES | _stop_words()


def _is_upper_word(word: str) -> bool:
    return word.isupper() and sum(c.isalpha() for c in word) >= 2


def _is_title_word(word: str) -> bool:
    return word[0].isupper() and any(c.islower() for c in word[1:])


def _given(word: str) -> bool:
    folded = fold(word)
    return folded in GIVEN_NAMES or folded.split("-", 1)[0] in GIVEN_NAMES


_MASK = regex.compile(r"X{2,}", regex.I)


def _not_a_name_word(word: str) -> bool:
    """A common word, an already masked value ("XXXX"), or something too long for a name."""
    return fold(word) in COMMON or bool(_MASK.fullmatch(word)) or len(word) > 30


def read_name(
    text: str, pos: int, *, max_words: int = 4, particle_first: bool = False
) -> list[tuple[int, int]]:
    """The name-shaped words from ``pos`` on (not crossing a line), stopping at a non-name.
    A particle is a name word when a capitalised word follows ("Mme de La Fontaine",
    "Le Goff"); it may start the name only when ``particle_first``."""
    words: list[tuple[int, int]] = []
    i = pos
    while len(words) < max_words:
        particle = _PARTICLE.match(text, i)
        if particle is not None and (words or particle_first or text[i].isupper()):
            j = particle.end()
            second = _PARTICLE.match(text, j)  # "de La Fontaine"
            k = second.end() if second is not None and text[j].isupper() else j
            nxt = _WORD.match(text, k)
            if nxt is not None and not _not_a_name_word(nxt.group()):
                words.append((i, i + len(particle.group().rstrip())))
                if k != j:
                    words.append((j, j + len(text[j:k].rstrip())))
                i = k
                continue
        match = _WORD.match(text, i)
        if match is None:
            break
        if _not_a_name_word(match.group()):
            break
        words.append(match.span())
        gap = _GAP.match(text, match.end())
        if gap is None:
            break
        i = gap.end()
    while words and not text[words[-1][0] : words[-1][1]][:1].isupper():
        words.pop()  # a particle with nothing after it
    if len(words) == 1 and text[words[0][0] : words[0][1]].endswith("."):
        words.pop()  # a lone initial
    return [(a, b) for a, b in words]


class NameRuleRecognizer(LocalRecognizer):
    """Names after a cue, and capitalised words that the name lexicons recognise (no NLP)."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[PERSON],
            supported_language=supported_language,
            name=f"NameRuleRecognizer_{supported_language}",
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        name: str = vars(self)["name"]  # presidio leaves the attribute unannotated
        spans: dict[tuple[int, int], tuple[float, str]] = {}
        for start, end, score, why in (*self._after_cues(text), *self._known_names(text)):
            if (start, end) not in spans or spans[(start, end)][0] < score:
                spans[(start, end)] = (score, why)
        return [
            RecognizerResult(
                entity_type=PERSON,
                start=start,
                end=end,
                score=score,
                analysis_explanation=AnalysisExplanation(
                    recognizer=name, original_score=score, textual_explanation=why
                ),
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for (start, end), (score, why) in sorted(spans.items())
        ]

    @staticmethod
    def _after_cues(text: str) -> Iterable[tuple[int, int, float, str]]:
        for pattern, must_end_clause, particle_first, score in _CUES:
            for cue in pattern.finditer(text):
                words = read_name(text, cue.end(), particle_first=particle_first)
                if not words:
                    continue
                shapes = [text[a:b] for a, b in words]
                if not any(_is_title_word(w) or _is_upper_word(w) for w in shapes):
                    continue
                end = words[-1][1]
                if must_end_clause and not _END_OF_CLAUSE.match(text, end):
                    continue
                yield words[0][0], end, score, f"after the cue {cue.group().strip()!r}"

    @staticmethod
    def _known_names(text: str) -> Iterable[tuple[int, int, float, str]]:
        done = 0
        for match in _CAPITALISED.finditer(text):
            if match.start() < done:
                continue
            words = read_name(text, match.start())
            if not words:
                continue
            done = words[-1][1]
            shapes = [text[a:b] for a, b in words]
            start = words[0][0]
            if _STREET_BEFORE.search(text, max(0, start - 20), start):
                continue  # "avenue Jean Jaurès" is a place
            why = _why_a_name(text, start, shapes)
            if why is None:
                continue
            if _is_upper_word(shapes[0]):  # "LE GOFF Anouk": an upper-case particle before
                before = _UPPER_PARTICLE_BEFORE.search(text, max(0, start - 5), start)
                start = before.start() if before else start
            yield start, words[-1][1], 0.7, why


_STREET_BEFORE = regex.compile(
    r"(?i:\b(?:rue|avenue|av\.|boulevard|bd|place|all[ée]e|impasse|quai|chemin|cours|route"
    r"|square|street|st\.|road|rd\.|lane|drive|way|gare|station|lyc[ée]e|coll[èe]ge|h[ôo]pital"
    r"|saint|sainte|st)\b)[ \t]+\Z"
)
_UPPER_PARTICLE_BEFORE = regex.compile(r"\b(?:LE|LA|DE|DU|DA|DI|DEL|DOS|VAN|VON|MAC|EL|AL|BEN) \Z")


def _why_a_name(text: str, start: int, shapes: Sequence[str]) -> str | None:
    """Why these capitalised words are a name, or ``None``."""
    if not any(_is_title_word(w) for w in shapes):
        return None  # shouting: "MERCI JEAN" is too weak a sign on its own
    given = [w for w in shapes if _given(w) and (_is_title_word(w) or len(shapes) > 1)]
    if len(shapes) > 1 and given:
        return f"given name {given[0]!r} in a full name"
    for word in given:
        folded = fold(word)
        if folded in AMBIGUOUS_GIVEN_NAMES:
            continue
        if folded in WORDLIKE_GIVEN_NAMES and is_sentence_start(text, start):
            continue
        return f"given name {word!r}"
    if (
        len(shapes) > 1
        and _is_title_word(shapes[0])
        and any(fold(w) in SURNAMES for w in shapes[1:])
    ):
        return "a capitalised word then a surname"
    if (
        len(shapes) > 1
        and all(_is_upper_word(w) for w in shapes[:-1])
        and _is_title_word(shapes[-1])
        and all(len(w) >= 3 for w in shapes[:-1])
    ):
        return "an upper-case surname then a given name"
    return None


def is_sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t\u00a0\"'«»“”‘’([-–—*>":
        i -= 1
    return i < 0 or text[i] in ".!?…:;\n\r"


_NEXT_CAPITALISED = regex.compile(r"[ \t]+(?:\p{Ll}{1,3}[ \t]+)?\p{Lu}")


def ner_windows(
    text: str,
    covered: Sequence[tuple[int, int]],
    *,
    context_words: int = 6,
    max_chars: int,
) -> list[tuple[int, int]]:
    """Spans of ``text`` worth running NER on: a few words around each capitalised word that
    is not a sentence-initial common word, an acronym, or already inside ``covered``."""
    candidates = []
    for match in _CAPITALISED.finditer(text):
        start, word = match.start(), match.group().rstrip("'’-")
        if len(word) < 2 or (word.isupper() and len(word) <= 3):
            continue
        if any(a <= start < b for a, b in covered):
            continue
        folded = fold(word)
        first = is_sentence_start(text, start)
        if _MASK.fullmatch(word) or (folded in COMMON and (first or folded in NOT_NAMES)):
            continue
        if first and not _given(word) and not _NEXT_CAPITALISED.match(text, match.end()):
            continue  # one unknown word opening a sentence: clean_person drops it anyway
        candidates.append(start)
    if not candidates:
        return []
    tokens = [m.span() for m in regex.finditer(r"\S+", text)]
    starts = [a for a, _ in tokens]
    windows: list[tuple[int, int]] = []
    k = 0
    for pos in candidates:
        while k + 1 < len(starts) and starts[k + 1] <= pos:
            k += 1
        lo = tokens[max(0, k - context_words)][0]
        hi = tokens[min(len(tokens) - 1, k + context_words)][1]
        if windows and lo <= windows[-1][1] + 1:
            windows[-1] = (windows[-1][0], max(windows[-1][1], hi))
        else:
            windows.append((lo, hi))
    kept, total = [], 0
    for lo, hi in windows:
        if total >= max_chars:
            break
        hi = min(hi, lo + max_chars - total)
        kept.append((lo, hi))
        total += hi - lo
    return kept


def clean_person(
    text: str, start: int, end: int, *, single_word_mid_sentence: bool = True
) -> tuple[int, int] | None:
    """Trim an NER ``PER`` span to its name words; ``None`` when nothing name-like is left.

    spaCy's French model tags many capitalised words at the start of a sentence as ``PER``
    ("Veuillez", and in English text "Furthermore", "Glad", "Said"), and unknown capitalised
    English words anywhere ("Fios", "Chase"). So a one-word span is kept only when it is a
    known given name or surname, or — with ``single_word_mid_sentence`` (French text) — when
    it is inside a sentence. Spans without a capitalised-then-lower-case word ("OPEN BOXES")
    or with masks ("XXXX") or digits are dropped."""
    words = [(m.start() + start, m.end() + start) for m in regex.finditer(r"\S+", text[start:end])]

    def strip(word: str) -> str:
        return word.strip(".,;:!?()[]{}\"'«»“”‘’")

    while words:
        word = strip(text[words[0][0] : words[0][1]])
        if word and word[0].isupper() and fold(word) not in COMMON | TITLES:
            break
        words.pop(0)
    while words:
        word = strip(text[words[-1][0] : words[-1][1]])
        if word and word[0].isupper() and fold(word) not in COMMON:
            break
        words.pop()
    if not words or len(words) > 5:
        return None
    first, last = words[0][0], words[-1][1]
    while last > first and text[last - 1] in ".,;:!?)]}\"'«»“”’":
        last -= 1
    while first < last and text[first] in "([{\"'«“‘":
        first += 1
    span = text[first:last]
    shapes = span.split()
    if any(c.isdigit() or c in "@/<>_=#" for c in span):
        return None
    if not any(_is_title_word(w) for w in shapes):
        return None
    inner = [w for w in shapes if not _PARTICLE_WORD.fullmatch(w)]
    if any(_not_a_name_word(strip(w)) for w in inner) or len(inner) < len(shapes) - 2:
        return None
    if _STREET_BEFORE.search(text, max(0, first - 20), first):
        return None
    if len(shapes) == 1:
        known = _given(span) or fold(span) in SURNAMES
        inside = not is_sentence_start(text, first) and (
            single_word_mid_sentence or _plain_capitalised(span)
        )
        if not (known or inside):
            return None
    initial = _INITIAL_BEFORE.search(text, max(0, first - 4), first)
    return (initial.start() if initial else first), last


_INITIAL_BEFORE = regex.compile(r"\b\p{Lu}\.[ \t]\Z")


def _plain_capitalised(word: str) -> bool:
    """One capital then lower-case letters ("Tomasz"), not "T-Mobile", "iPhone" or "McAfee"."""
    return word[:1].isupper() and word[1:].isalpha() and word[1:].islower() and len(word) > 2
