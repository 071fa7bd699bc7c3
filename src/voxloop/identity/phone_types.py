"""Mobile or fixed line, in SQL, from ``phonenumbers``' own metadata.

A mobile number is a person's; a fixed line is often a household's or an office's, so
resolution links on it more cautiously (``identity_limits["landline"]``). Classifying millions
of numbers one by one through ``phonenumbers`` would take a minute; its metadata's
national-number patterns, as an SQL ``CASE`` per country calling code present, take a scan.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from phonenumbers import PhoneMetadata


def _pattern(region: str) -> tuple[str | None, bool]:
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.mobile is None or meta.mobile.national_number_pattern is None:
        return None, False
    fixed = meta.fixed_line.national_number_pattern if meta.fixed_line else None
    # where mobiles and fixed lines cannot be told apart (the +1 plan), count as mobile
    return meta.mobile.national_number_pattern, fixed == meta.mobile.national_number_pattern


def country_codes(values: Iterable[str]) -> set[int]:
    """Country calling codes of E.164 numbers (``+33…`` → 33)."""
    found = set()
    for value in values:
        for length in (1, 2, 3):
            code = value[1 : 1 + length]
            if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                found.add(int(code))
                break
    return found


def is_fixed_line_sql(column: str, codes: Iterable[int]) -> str:
    """SQL true when the E.164 number in ``column`` is not a mobile of its country (unknown
    countries and undecidable plans count as mobile)."""
    branches = []
    for code in sorted(codes):
        region = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code][0]
        pattern, undecidable = _pattern(region)
        if pattern is None or undecidable:
            continue
        prefix = f"+{code}"
        escaped = pattern.replace("'", "''")
        branches.append(
            f"WHEN {column} LIKE '{prefix}%' THEN NOT regexp_full_match("
            f"substr({column}, {len(prefix) + 1}), '{escaped}')"
        )
    if not branches:
        return "FALSE"
    return "CASE " + " ".join(branches) + " ELSE FALSE END"
