"""Normalisers, as SQL expressions so that ten million rows are normalised inside DuckDB.

Each function takes a SQL expression holding the trimmed raw text (``NULL`` when empty) and
returns a SQL expression for the canonical value. Phone numbers are the exception: their rules
live in ``phonenumbers``, so the distinct raw values of a load are normalised in Python once
and joined back (:func:`normalise_phones`).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping

import phonenumbers

from voxloop.model.vocab import canonical_word, normalise_word

EMAIL_PATTERN = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$"  # noqa: E501

TRUE_WORDS = ("true", "yes", "y", "1", "oui", "o", "vrai", "t", "met", "ok")
FALSE_WORDS = ("false", "no", "n", "0", "non", "faux", "f", "missed", "breached", "ko")
NULL_WORDS = ("n/a", "na", "null", "none", "unknown", "-", "inconnu", "nan")


def literal(value: str | float | None) -> str:
    """A SQL literal (strings quoted, quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, float | int):
        return repr(float(value))
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


WHITESPACE = " \t\r\n\u00a0\u202f\ufeff"


_EDGE_SPACE = r"^[\s\x{00a0}\x{202f}\x{feff}]|[\s\x{00a0}\x{202f}\x{feff}]$"


def raw_text(column_sql: str) -> str:
    """Text trimmed of spaces, tabs, line breaks and non-breaking spaces; empty → NULL.

    Most values need no trimming: one regular-expression test lets them through untouched,
    several times faster than trimming every value of every column.
    """
    x = column_sql
    return (
        f"CASE WHEN {x} = '' THEN NULL WHEN regexp_matches({x}, {literal(_EDGE_SPACE)}) "
        f"THEN NULLIF(trim({x}, {literal(WHITESPACE)}), '') ELSE {x} END"
    )


def id_sql(e: str) -> str:
    # "192625.0" is how spreadsheets and pandas write an integer id that went through a float.
    return (
        f"CASE WHEN {e} LIKE '%.0' THEN regexp_replace({e}, '^(-?[0-9]+)\\.0$', '\\1') ELSE {e} END"
    )


def email_sql(e: str) -> str:
    return f"CASE WHEN regexp_full_match(lower({e}), {literal(EMAIL_PATTERN)}) THEN lower({e}) END"


def handle_sql(e: str) -> str:
    return f"NULLIF(lower(ltrim({e}, '@')), '')"


def vocabulary_word(vocabulary: str, value_map: Mapping[str, str], raw: str) -> str | None:
    """The canonical word for a source word: the user's value map first, then the synonyms."""
    key = normalise_word(raw)
    for word, target in value_map.items():
        if normalise_word(word) == key:
            return target
    return canonical_word(vocabulary, raw)


def _cleaned(e: str) -> str:
    return f"regexp_replace({e}, '[\\s\u00a0\u202f\u2019'']', '', 'g')"


def number_sql(e: str) -> str:
    """A finite decimal number, written the English or the French way.

    ``1234.5``, ``1,234.5``, ``1 234,5``, ``1.234,5`` and ``4,5`` are all read; a lone comma is
    a decimal comma (``1,234`` is 1.234, as a French export means it). ``nan`` and ``inf`` are
    not numbers. Plain numbers take the fast path; only the others pay for the patterns.
    """
    fast = f"TRY_CAST({e} AS DOUBLE)"
    c = _cleaned(e)
    english = f"regexp_full_match({c}, '[+-]?[0-9]{{1,3}}(,[0-9]{{3}})+([.][0-9]+)?')"
    european = f"regexp_full_match({c}, '[+-]?[0-9]{{1,3}}([.][0-9]{{3}})+(,[0-9]+)?')"
    comma = f"regexp_full_match({c}, '[+-]?[0-9]*,[0-9]+')"
    slow = (
        f"CASE WHEN {english} AND ({c} LIKE '%.%' OR {c} LIKE '%,%,%') "
        f"THEN TRY_CAST(replace({c}, ',', '') AS DOUBLE) "
        f"WHEN {european} AND ({c} LIKE '%,%' OR {c} LIKE '%.%.%') "
        f"THEN TRY_CAST(replace(replace({c}, '.', ''), ',', '.') AS DOUBLE) "
        f"WHEN {comma} THEN TRY_CAST(replace({c}, ',', '.') AS DOUBLE) "
        f"ELSE TRY_CAST({c} AS DOUBLE) END"
    )
    return (
        f"(CASE WHEN isfinite({fast}) THEN {fast} "
        f"WHEN {fast} IS NULL AND isfinite({slow}) THEN {slow} END)"
    )


def integer_sql(e: str, sql_type: str = "BIGINT") -> str:
    """A whole number in range of ``sql_type``; thousands separators of either kind allowed."""
    fast = f"TRY_CAST({e} AS DOUBLE)"
    c = _cleaned(e)
    grouped = (
        f"CASE WHEN regexp_full_match({c}, '[+-]?[0-9]{{1,3}}([,.][0-9]{{3}})+') "
        f"THEN TRY_CAST(regexp_replace({c}, '[,.]', '', 'g') AS DOUBLE) END"
    )
    n = (
        f"coalesce(CASE WHEN {fast} = floor({fast}) THEN {fast} END, {grouped}, "
        f"TRY_CAST({c} AS DOUBLE))"
    )
    return f"(CASE WHEN isfinite({n}) AND {n} = floor({n}) THEN TRY_CAST({n} AS {sql_type}) END)"


def duration_sql(e: str, unit: str) -> str:
    factor = {"s": 1.0, "ms": 0.001, "min": 60.0, "h": 3600.0}[unit]
    clock = (
        f"(CASE WHEN regexp_full_match({e}, '[0-9]+(:[0-5][0-9]){{1,2}}') THEN "
        f"list_reduce(list_transform(string_split({e}, ':'), lambda x: CAST(x AS DOUBLE)), "
        f"lambda acc, x: acc * 60 + x) END)"
    )
    return f"(CASE WHEN {e} LIKE '%:%' THEN {clock} ELSE {number_sql(e)} * {factor} END)"


def bool_sql(e: str) -> str:
    w = f"lower({e})"
    return (
        f"(CASE WHEN {w} IN {tuple_sql(TRUE_WORDS)} THEN TRUE "
        f"WHEN {w} IN {tuple_sql(FALSE_WORDS)} THEN FALSE END)"
    )


def is_null_word_sql(e: str) -> str:
    return f"lower({e}) IN {tuple_sql(NULL_WORDS)}"


def tuple_sql(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


# An explicit UTC offset only counts after a time of day: "2024-03-05" ends in "-05" too.
OFFSET_PATTERN = (
    r"[T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
)


def timestamp_sql(e: str, formats: list[str], time_zone: str) -> str:
    """Parse with the declared formats; strings without an offset are in ``time_zone``.

    An explicit offset in the text wins over the source's zone; ISO 8601 is always accepted.
    Local times that occur twice when clocks go back are read as the second occurrence
    (standard time) and times skipped when clocks go forward are moved past the gap — DuckDB's
    ICU rules, documented and tested so that they are a decision, not an accident.
    """
    aware = [f for f in formats if "%z" in f or "%Z" in f]
    naive = [f for f in formats if f not in aware]
    parts: list[str] = []
    if aware:
        parts.append(f"try_strptime({e}, {literal_list(aware)})")
    parts.append(
        f"CASE WHEN regexp_matches({e}, {literal(OFFSET_PATTERN)}) "
        f"THEN TRY_CAST({e} AS TIMESTAMPTZ) END"
    )
    local_parts = [f"try_strptime({e}, {literal_list(naive)})"] if naive else []
    local_parts.append(f"TRY_CAST({e} AS TIMESTAMP)")
    local = f"coalesce({', '.join(local_parts)})"
    parts.append(f"timezone({literal(time_zone)}, {local})")
    return f"coalesce({', '.join(parts)})"


def normalise_phone(raw: str, region: str) -> str | None:
    """E.164 for a valid number, else ``None``. ``00`` international prefixes are understood."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def lookup_key_sql(kind: str, e: str) -> str:
    """The key a looked-up value is normalised under.

    Phones written ``06 12 34 56 78``, ``06.12.34.56.78`` and ``0612345678`` are the same
    number: separators are dropped first so that ``phonenumbers`` sees each number once.
    Parentheses stay (``+33 (0)6…`` needs them to drop the trunk prefix).
    """
    if kind == "phone":
        return f"regexp_replace({e}, '[\\s.\\-/\u00a0]', '', 'g')"
    return e


def fast_phone_sql(key: str, region: str) -> str | None:
    """E.164 in SQL for the plain national and international forms of ``region``'s numbers,
    from ``phonenumbers``' own metadata (its validity patterns and possible lengths); NULL
    for anything else, which then goes through ``phonenumbers`` itself.

    ``key`` is a phone with separators removed (:func:`lookup_key_sql`). Regions whose country
    code is shared (+1) or whose national prefix is not a plain string get no fast path.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if meta is None or meta.country_code is None:
        return None
    if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[meta.country_code]) != 1:
        return None
    prefix = meta.national_prefix
    if (
        meta.national_prefix_for_parsing not in (None, prefix)
        or meta.national_prefix_transform_rule
    ):
        return None
    types = [
        getattr(meta, name)
        for name in (
            "premium_rate",
            "toll_free",
            "shared_cost",
            "voip",
            "personal_number",
            "pager",
            "uan",
            "voicemail",
            "fixed_line",
            "mobile",
        )
    ]
    patterns = [d.national_number_pattern for d in types if d and d.national_number_pattern]
    general = meta.general_desc
    if not patterns or general is None or not general.national_number_pattern:
        return None
    cc = str(meta.country_code)
    # A number starting with the international call prefix (00, or 010 in Israel…) is not a
    # national number even if that prefix begins with the trunk prefix 0.
    idd = meta.international_prefix or "00"
    national = (
        f"WHEN {key} LIKE '{prefix}%' AND NOT regexp_matches({key}, {literal('^(?:' + idd + ')')}) "
        f"THEN substr({key}, {len(prefix) + 1}) "
        if prefix
        else ""
    )
    nsn = (
        f"(CASE WHEN {key} LIKE '+{cc}%' THEN substr({key}, {len(cc) + 2}) "
        f"WHEN {key} LIKE '00{cc}%' THEN substr({key}, {len(cc) + 3}) " + national + "END)"
    )
    lengths = ", ".join(str(n) for n in general.possible_length) or "0"
    return (
        f"CASE WHEN regexp_full_match({nsn}, {literal(general.national_number_pattern)}) "
        f"AND regexp_full_match({nsn}, {literal('(?:' + ')|(?:'.join(patterns) + ')')}) "
        f"AND length({nsn}) IN ({lengths}) THEN '+{cc}' || {nsn} END"
    )


PARALLEL_THRESHOLD = 20_000


def _phones_in_worker(raws: list[str], region: str) -> list[str | None]:
    done = subprocess.run(
        [sys.executable, "-m", "voxloop.ingest._phone_worker", region],
        input=json.dumps(raws),
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[str | None] = json.loads(done.stdout)
    return result


def normalise_phones(raws: list[str], region: str) -> list[tuple[str, str | None]]:
    """Normalise many distinct phones, on every core when there are many."""
    workers = os.cpu_count() or 1
    if len(raws) < PARALLEL_THRESHOLD or workers < 2:
        return [(raw, normalise_phone(raw, region)) for raw in raws]
    size = -(-len(raws) // workers)
    chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
    with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
        parts = list(pool.map(lambda chunk: _phones_in_worker(chunk, region), chunks))
    return [
        (raw, e164)
        for chunk, part in zip(chunks, parts, strict=True)
        for raw, e164 in zip(chunk, part, strict=True)
    ]


def lookup_values(
    kind: str, raws: Iterable[str], *, region: str, value_map: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """Canonical value of each distinct raw value of a looked-up field (``None``: unusable).

    Phones and vocabulary words are normalised in Python, once per distinct value, then joined
    back in SQL: ``phonenumbers`` holds the phone rules, and a hash join on a small table beats
    a long CASE evaluated on every row.
    """
    if kind == "phone":
        return normalise_phones(list(raws), region)
    if kind.startswith("vocab:"):
        vocabulary = kind.split(":", 1)[1]
        return [(raw, vocabulary_word(vocabulary, value_map, raw)) for raw in raws]
    raise ValueError(f"no lookup for kind {kind!r}")


def is_lookup_kind(kind: str | None) -> bool:
    return kind is not None and (kind == "phone" or kind.startswith("vocab:"))
