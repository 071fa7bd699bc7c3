"""presidio recognisers for the structured personal data of :mod:`voxloop.text.redact`.

Each one is a presidio recogniser (it can be registered in a ``RecognizerRegistry`` and run by
an ``AnalyzerEngine``), and each one is cheap: regular expressions, ``phonenumbers`` and a
checksum, no NLP. What was kept from presidio's predefined recognisers and what was replaced:

- e-mails: presidio's ``EmailRecognizer`` pattern, but its validation calls ``tldextract``,
  whose default extractor fetches the public-suffix list from the network on first use; here
  any alphabetic top-level label of 2–24 letters (or ``xn--``) is accepted, offline (a typo such
  as ``.con`` is still an address to hide). Obfuscated forms (``jean [at] exemple [dot] fr``)
  are recognised too;
- phones: ``phonenumbers.PhoneNumberMatcher`` as in presidio's ``PhoneRecognizer``, over the
  configured regions at leniency ``VALID``; numbers that are only *possible* (fictional ranges
  such as 07700 900xxx) are kept when written in international form or after a phone word;
- IBAN: presidio's pattern wants upper case and groups of four; this one takes any grouping
  and case, cuts the candidate at the country's registered length and checks mod 97;
- cards: presidio's pattern misses 19-digit and some 13/14-digit layouts and cannot step back
  from a run of digits that is too long; this one tries the windows of a digit run, checks
  Luhn, the issuer's first digit (2–6) and the grouping, or wants a card word nearby;
- NIR (French social-security number): new, with the key check (Corsica 2A/2B).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import phonenumbers
from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    LocalRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer

# presidio entity names (the keys of voxloop.text.types.PLACEHOLDERS are derived from them)
EMAIL = "EMAIL_ADDRESS"
PHONE = "PHONE_NUMBER"
IBAN = "IBAN_CODE"
CARD = "CREDIT_CARD"
NIR = "FR_NIR"

_SEP = "[ \u00a0\u202f.\\-]"  # what people put between groups of digits


def _result(
    recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float, why: str
) -> RecognizerResult:
    """A presidio result, explained and tagged with the recogniser as presidio's own are."""
    name = _name_of(recognizer)
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=name, original_score=score, textual_explanation=why
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


def _name_of(recognizer: EntityRecognizer) -> str:
    name: str = vars(recognizer)["name"]  # presidio leaves the attribute unannotated
    return name


# -- e-mail ---------------------------------------------------------------------------------------

_TLD_SPLIT = re.compile(r"\.|\[dot\]|\(dot\)|\{dot\}|\[point\]|\(point\)|\sdot\s|\spoint\s", re.I)
_TLD = re.compile(r"(?:[^\W\d_]{2,24}|xn--[\w-]{2,59})", re.I)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail pattern, plus obfuscated forms, validated without the network."""

    OBFUSCATED = Pattern(
        "Email (obfuscated)",
        r"\b[\w.+\-]+\s*(?:\[at\]|\(at\)|\{at\}|\[arobase\]|\(arobase\)|\sarobase\s)\s*"
        r"[\w\-]+(?:\s*(?:\.|\[dot\]|\(dot\)|\{dot\}|\[point\]|\(point\))\s*[\w\-]+)+\b",
        0.6,
    )

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            patterns=[*EmailRecognizer.PATTERNS, self.OBFUSCATED],
            supported_language=supported_language,
            name=f"OfflineEmailRecognizer_{supported_language}",
        )

    def validate_result(self, pattern_text: str) -> bool:
        tld = _TLD_SPLIT.split(pattern_text)[-1].strip()
        return bool(_TLD.fullmatch(tld))


# -- phone ----------------------------------------------------------------------------------------

_PHONE_WORDS = re.compile(
    r"(?:\bt[ée]l(?:[ée]phone)?|phone|mobile|portable|\bcell|\bfixe|\bgsm|\bfax|"
    r"whats\s?app|\bsms|appel\w*|\bcall\w*|\bring\b|\breach\b|joindre|joignable)"
    r"\W{1,6}(?:\w+\W+){0,3}\Z",
    re.I,
)
_PHONE_WORD = re.compile(_PHONE_WORDS.pattern.split(r"\W{1,6}")[0], re.I)
_INTERNATIONAL = re.compile(r"(?<!\d)00[1-9]|(?<!\d)011")
_TRUNK_ZERO = re.compile(r"(?<![\d+])\(?0[1-9](?:[ .\-/)]{0,2}\d){7}")
_NANP_LIKE = re.compile(r"(?<![\d+])(?:1[ .\-]?)?\(?[2-9]\d\d\)?[ .\-]?[2-9]\d\d[ .\-]?\d{4}(?!\d)")
_DATE_INSIDE = re.compile(
    r"\b\d{1,2}[./\-]\d{1,2}[./\-](?:19|20)\d\d\b|\b(?:19|20)\d\d-\d\d-\d\d\b"
)
_DATE_LIKE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}")
_GLUED_BEFORE = re.compile(r"(?:[^\W_]|[^\W_][\-/#_]|#)\Z")
_MANY_DIGITS = re.compile(r"\d(?:[^\w\n]{0,3}\d){5}")


class RegionPhoneRecognizer(PhoneRecognizer):
    """Phone numbers of the configured regions, by ``phonenumbers.PhoneNumberMatcher``."""

    def __init__(self, regions: Sequence[str], supported_language: str = "en") -> None:
        super().__init__(
            supported_language=supported_language,
            supported_regions=tuple(regions),
            leniency=phonenumbers.Leniency.VALID,
            name=f"RegionPhoneRecognizer_{supported_language}",
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        if not _MANY_DIGITS.search(text):
            return []
        regions = self._regions_for(text)
        found: dict[tuple[int, int], tuple[float, str]] = {}
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                if self._glued(text, match.start) or _DATE_INSIDE.search(match.raw_string):
                    continue
                if not self._looks_dialled(match.raw_string) and not self._after_phone_word(
                    text, match.start
                ):
                    continue  # "facture 2024000123" is a valid US number, and not a phone
                found.setdefault((match.start, match.end), (0.9, f"valid number ({region})"))
        # Possible but not valid numbers: fictional ranges (UK 07700 900xxx, US 555-01xx) or
        # plans missing from the metadata. Kept only with a strong sign that they are phones:
        # an international prefix, or a phone word just before.
        if "+" not in text and not _INTERNATIONAL.search(text) and not _PHONE_WORD.search(text):
            return self._results(found)
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            ):
                key = (match.start, match.end)
                if key in found or self._glued(text, match.start):
                    continue
                raw = match.raw_string
                digits = sum(c.isdigit() for c in raw)
                if digits < 8 or _DATE_LIKE.fullmatch(raw.strip()):
                    continue
                if len(str(match.number.national_number)) < 8:
                    continue  # "0012345678" read as +1 234 5678: too short to be sure
                if self._dialled_abroad(raw, region):
                    found[key] = (0.7, "international form")
                elif self._after_phone_word(text, match.start):
                    found[key] = (0.6, f"possible number ({region}) after a phone word")
        return self._results(found)

    def _regions_for(self, text: str) -> list[str]:
        """The default region (it also reads every international form), then the regions
        whose national form may be in ``text``: a trunk "0" for most, a 3-3-4 number for the
        North American plan; regions with no national prefix are always tried."""
        regions = list(self.supported_regions[:1])
        trunk = nanp = None
        for region in self.supported_regions[1:]:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
            if metadata is not None and metadata.country_code == 1:
                nanp = _NANP_LIKE.search(text) if nanp is None else nanp
                if nanp:
                    regions.append(region)
            elif metadata is not None and metadata.national_prefix == "0":
                trunk = _TRUNK_ZERO.search(text) if trunk is None else trunk
                if trunk:
                    regions.append(region)
            else:
                regions.append(region)
        return regions

    def _results(self, found: dict[tuple[int, int], tuple[float, str]]) -> list[RecognizerResult]:
        return [
            _result(self, PHONE, start, end, score, why)
            for (start, end), (score, why) in _drop_nested(found)
        ]

    @staticmethod
    def _dialled_abroad(raw: str, region: str) -> bool:
        """Written with "+" or the region's international prefix ("00" in Europe)."""
        raw = raw.lstrip("( ")
        if raw.startswith("+"):
            return True
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        idd = metadata.international_prefix if metadata is not None else None
        return bool(idd and re.match(f"(?:{idd})[1-9]", raw))

    @staticmethod
    def _looks_dialled(raw: str) -> bool:
        """Written as a phone: with separators, a "+" or a leading trunk "0"."""
        return not raw.isdigit() or raw.startswith("0")

    @staticmethod
    def _after_phone_word(text: str, start: int) -> bool:
        return bool(_PHONE_WORDS.search(text, max(0, start - 40), start))

    @staticmethod
    def _glued(text: str, start: int) -> bool:
        """The digits continue a word or a reference ("FAC-2024-000123", "#112233445")."""
        return bool(_GLUED_BEFORE.search(text, max(0, start - 2), start))


def _drop_nested(
    found: dict[tuple[int, int], tuple[float, str]],
) -> list[tuple[tuple[int, int], tuple[float, str]]]:
    """Keep the longest of overlapping matches (regions may cut the same digits differently)."""
    kept: list[tuple[tuple[int, int], tuple[float, str]]] = []
    for span, info in sorted(found.items(), key=lambda kv: (kv[0][0] - kv[0][1], kv[0][0])):
        if all(span[1] <= other[0] or span[0] >= other[1] for other, _ in kept):
            kept.append((span, info))
    return sorted(kept)


# -- IBAN -----------------------------------------------------------------------------------------

# Registered IBAN lengths (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_IBAN_CANDIDATE = re.compile(
    rf"(?<![^\W_])[A-Za-z]{{2}}\d{{2}}(?:{_SEP}?[A-Za-z0-9]){{10,32}}", re.ASCII
)


def iban_is_valid(compact: str) -> bool:
    """Country length and ISO 7064 mod 97-10 (``compact``: no separators, any case)."""
    iban = compact.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    number = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(number) % 97 == 1


class IbanChecksumRecognizer(LocalRecognizer):
    """IBANs in any grouping and case, cut at the country's length, checked mod 97."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[IBAN],
            supported_language=supported_language,
            name=f"IbanChecksumRecognizer_{supported_language}",
            context=["iban", "rib", "bank", "banque", "virement", "transfer"],
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        results = []
        for match in _IBAN_CANDIDATE.finditer(text):
            length = IBAN_LENGTHS.get(match.group()[:2].upper())
            if length is None:
                continue
            end, seen = match.start(), 0
            for i, c in enumerate(match.group()):
                if c.isalnum():
                    seen += 1
                    if seen == length:
                        end = match.start() + i + 1
                        break
            if seen < length or (end < len(text) and text[end].isalnum()):
                continue
            compact = "".join(c for c in text[match.start() : end] if c.isalnum())
            if iban_is_valid(compact):
                results.append(_result(self, IBAN, match.start(), end, 1.0, "IBAN, mod 97 ok"))
        return results


# -- payment cards --------------------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"(?<![\d.,])\d(?:[ \u00a0\u202f\-]?\d){12,25}(?![\d])")
_CARD_WORDS = re.compile(
    r"(?:carte|card|\bcb\b|visa|master\s?card|maestro|amex|american express|diners|jcb|"
    r"discover|unionpay|paiement|payment|pay|d[ée]bit|cr[ée]dit|credit)\W+(?:\w+\W+){0,4}\Z",
    re.I,
)
_NOT_CARD_WORDS = re.compile(
    r"\b(?:siret|siren|tva|vat|ean|gencod|isbn|imei|nir|s[ée]cu\w*|r[ée]f[ée]rence|r[ée]f"
    r"|code[- ]barres?|barcode|commande|order|facture|invoice|suivi|tracking|colis|parcel"
    r"|ticket|contrat"
    r"|contract|dossier|case)\W*(?:n°|nº|no\.?|num[ée]ro|number|#)?\W*\Z",
    re.I,
)


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_layout_ok(groups: Sequence[str]) -> bool:
    """How cards are printed: groups of four (the last one shorter), or Amex/Diners 4-6-5/4."""
    sizes = [len(g) for g in groups]
    if len(sizes) == 1:
        return True
    if sizes[:-1] == [4] * (len(sizes) - 1) and 1 <= sizes[-1] <= 4:
        return True
    return sizes in ([4, 6, 5], [4, 6, 4])


class LuhnCardRecognizer(LocalRecognizer):
    """Card numbers: 13–19 digits, Luhn, a plausible issuer and layout (or a card word)."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[CARD],
            supported_language=supported_language,
            name=f"LuhnCardRecognizer_{supported_language}",
            context=["carte", "card", "visa", "mastercard", "cb"],
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        results = []
        for match in _DIGIT_RUN.finditer(text):
            groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", match.group())]
            base = match.start()
            for start, end in self._windows(text, base, groups):
                results.append(_result(self, CARD, start, end, 1.0, "card number, Luhn ok"))
        return results

    def _windows(
        self, text: str, base: int, groups: Sequence[tuple[int, int]]
    ) -> Iterable[tuple[int, int]]:
        """The longest valid windows of whole groups, left to right, not overlapping."""
        i = 0
        while i < len(groups):
            best = None
            for j in range(len(groups) - 1, i - 1, -1):
                start, end = base + groups[i][0], base + groups[j][1]
                chunk = text[start:end]
                digits = "".join(c for c in chunk if c.isdigit())
                if not 13 <= len(digits) <= 19 or not luhn_is_valid(digits):
                    continue
                if self._plausible(text, start, chunk, digits):
                    best = (j, start, end)
                    break
            if best is None:
                i += 1
                continue
            yield best[1], best[2]
            i = best[0] + 1

    @staticmethod
    def _plausible(text: str, start: int, chunk: str, digits: str) -> bool:
        before = text[max(0, start - 50) : start]
        if _NOT_CARD_WORDS.search(before):
            return False
        issuer = digits[0] in "23456"
        layout = _card_layout_ok(re.findall(r"\d+", chunk))
        return (issuer and layout) or bool(_CARD_WORDS.search(before))


# -- French social-security number (NIR) ----------------------------------------------------------

_S = "[ .\\-]?"
_NIR_CANDIDATE = re.compile(
    rf"(?<![^\W_])[1-478]{_S}\d\d{_S}\d\d{_S}(?:\d{_S}\d|2{_S}[ABab]){_S}\d{_S}\d{_S}\d"
    rf"{_S}\d{_S}\d{_S}\d{_S}\d\d(?![^\W_])"
)


def nir_is_valid(compact: str) -> bool:
    """Sex, month, then the key: 97 − (13 digits mod 97), 2A/2B counted as 19/18."""
    nir = compact.upper()
    if len(nir) != 15:
        return False
    month = int(nir[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    body = nir[:13].replace("2A", "19", 1) if nir[5:7] == "2A" else nir[:13]
    body = body.replace("2B", "18", 1) if nir[5:7] == "2B" else body
    if not body.isdigit() or not nir[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(nir[13:])


class NirRecognizer(PatternRecognizer):
    """French social-security numbers (13 characters and a 2-digit key), key checked."""

    PATTERNS: ClassVar[list[Pattern]] = [Pattern("NIR", _NIR_CANDIDATE.pattern, 0.3)]

    def __init__(self, supported_language: str = "fr") -> None:
        super().__init__(
            supported_entity=NIR,
            patterns=list(self.PATTERNS),
            context=["sécurité sociale", "securite sociale", "sécu", "nir", "insee", "vitale"],
            supported_language=supported_language,
            name=f"NirRecognizer_{supported_language}",
            global_regex_flags=0,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return nir_is_valid("".join(c for c in pattern_text if c.isalnum()))
