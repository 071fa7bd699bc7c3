"""Normalisers, tested as the SQL that runs in DuckDB (property-based where it matters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from voxloop.ingest import normalise as nz
from voxloop.model.vocab import CHANNEL_SYNONYMS, canonical_word

REGIONS = ("FR", "GB", "US", "BE", "CH", "CA")
ZONES = ("Europe/Paris", "America/New_York", "Asia/Singapore", "UTC", "Australia/Sydney")


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def sql_value(con: duckdb.DuckDBPyConnection, expression: str, value: str | None) -> Any:
    row = con.execute(
        f"SELECT {expression} FROM (SELECT {nz.raw_text('p.v')} AS v "
        "FROM (SELECT ?::VARCHAR AS v) p)",
        [value],
    ).fetchone()
    assert row is not None
    return row[0]


# -- phones ---------------------------------------------------------------------------------
@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(
        region,
        draw(
            st.sampled_from(
                [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
            )
        ),
    )
    assert example is not None
    digits = str(example.national_number)
    tail = draw(st.integers(min_value=0, max_value=999))
    candidate = digits[:-3] + f"{tail:03d}"
    number = phonenumbers.parse("+" + str(example.country_code) + candidate)
    assume(phonenumbers.is_valid_number(number))
    return region, number


@given(valid_numbers(), st.sampled_from(["national", "international", "e164", "dots", "00"]))
@settings(max_examples=300, deadline=None)
def test_any_written_form_of_a_valid_number_gives_its_e164(
    case: tuple[str, phonenumbers.PhoneNumber], style: str
) -> None:
    region, number = case
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if style == "national":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    elif style == "international":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    elif style == "e164":
        text = e164
    elif style == "dots":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        text = text.replace(" ", ".")
    else:
        text = "00" + e164[1:]
    assert nz.normalise_phone(f"  {text} ", region) == e164


@pytest.mark.parametrize("raw", ["12", "not a phone", "06 12", "+33 1", "0000000000", "☎"])
def test_garbage_phones_are_rejected(raw: str) -> None:
    assert nz.normalise_phone(raw, "FR") is None


def test_french_formats_agree() -> None:
    forms = ["06 12 34 56 78", "+33 6 12 34 56 78", "0612345678", "06.12.34.56.78", "0033612345678"]
    assert {nz.normalise_phone(f, "FR") for f in forms} == {"+33612345678"}


# -- e-mails ----------------------------------------------------------------------------------
local_parts = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9._+-]{0,15}", fullmatch=True)
domains = st.from_regex(r"[a-zA-Z0-9]{1,10}(\.[a-zA-Z0-9]{1,8})?\.[a-zA-Z]{2,6}", fullmatch=True)


@given(local_parts, domains, st.sampled_from(["", " ", "\t", "  "]))
@settings(max_examples=200, deadline=None)
def test_emails_are_trimmed_lowercased_and_idempotent(
    con: duckdb.DuckDBPyConnection, local: str, domain: str, pad: str
) -> None:
    raw = f"{pad}{local}@{domain}{pad}"
    once = sql_value(con, nz.email_sql("v"), raw)
    assert once == f"{local}@{domain}".lower()
    assert sql_value(con, nz.email_sql("v"), once) == once


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b", "a@@b.fr", "a b@c.fr", "@c.fr", "a@.fr"])
def test_malformed_emails_are_null(con: duckdb.DuckDBPyConnection, raw: str) -> None:
    assert sql_value(con, nz.email_sql("v"), raw) is None


# -- numbers, durations, booleans -------------------------------------------------------------
@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=2),
    st.sampled_from(["fr", "en", "plain"]),
)
@settings(max_examples=200, deadline=None)
def test_numbers_written_the_french_or_english_way(
    con: duckdb.DuckDBPyConnection, value: Any, style: str
) -> None:
    text = f"{value:,.2f}"
    if style == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    elif style == "plain":
        text = text.replace(",", "")
    assert sql_value(con, nz.number_sql("v"), text) == pytest.approx(float(value))


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
@settings(max_examples=100, deadline=None)
def test_clock_durations(con: duckdb.DuckDBPyConnection, h: int, m: int, s: int) -> None:
    assert (
        sql_value(con, nz.duration_sql("v", "s"), f"{h:02d}:{m:02d}:{s:02d}")
        == h * 3600 + m * 60 + s
    )
    assert sql_value(con, nz.duration_sql("v", "min"), str(m)) == m * 60


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Oui", True),
        ("yes", True),
        ("1", True),
        ("NON", False),
        ("false", False),
        ("peut-être", None),
    ],
)
def test_booleans_in_french_and_english(
    con: duckdb.DuckDBPyConnection, raw: str, expected: bool | None
) -> None:
    assert sql_value(con, nz.bool_sql("v"), raw) is expected


# -- vocabularies -------------------------------------------------------------------------------
@given(
    st.sampled_from(sorted(CHANNEL_SYNONYMS)),
    st.sampled_from(["lower", "upper", "title"]),
    st.sampled_from(["", " ", "  "]),
)
@settings(max_examples=200, deadline=None)
def test_channel_words_map_whatever_their_case_and_spacing(word: str, case: str, pad: str) -> None:
    written = pad + getattr(word, case)() + pad
    assert canonical_word("channel", written) == CHANNEL_SYNONYMS[word]
    assert nz.vocabulary_word("channel", {}, written) == CHANNEL_SYNONYMS[word]


def test_user_value_map_wins_over_builtin_synonyms() -> None:
    assert nz.vocabulary_word("channel", {"Web": "self_care"}, " WEB ") == "self_care"
    assert nz.vocabulary_word("channel", {}, "web") == "web_form"
    assert nz.vocabulary_word("channel", {}, "pigeon voyageur") is None
    assert nz.lookup_values("vocab:direction", ["Entrant", "?"], region="FR", value_map={}) == [
        ("Entrant", "inbound"),
        ("?", None),
    ]


# -- timestamps ---------------------------------------------------------------------------------
FORMATS = ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M"]


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)),
    st.sampled_from(ZONES),
    st.sampled_from(FORMATS),
)
@settings(max_examples=300, deadline=None)
def test_local_times_are_stored_as_the_right_utc_instant(
    con: duckdb.DuckDBPyConnection, local: datetime, zone: str, fmt: str
) -> None:
    local = local.replace(microsecond=0, second=0 if "%S" not in fmt else local.second)
    tz = ZoneInfo(zone)
    # times that do not exist (spring forward) or exist twice (fall back) are ambiguous
    assume(
        local.replace(tzinfo=tz, fold=0).utcoffset() == local.replace(tzinfo=tz, fold=1).utcoffset()
    )
    expected = local.replace(tzinfo=tz).astimezone(UTC)
    got = sql_value(con, nz.timestamp_sql("v", FORMATS, zone), local.strftime(fmt))
    assert got == expected


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)),
    st.integers(min_value=-12 * 4, max_value=14 * 4),
)
@settings(max_examples=200, deadline=None)
def test_an_explicit_offset_wins_over_the_source_zone(
    con: duckdb.DuckDBPyConnection, moment: datetime, quarter_hours: int
) -> None:
    from datetime import timezone

    offset = timezone(timedelta(minutes=15 * quarter_hours))
    aware = moment.replace(microsecond=0, tzinfo=offset)
    got = sql_value(con, nz.timestamp_sql("v", FORMATS, "Europe/Paris"), aware.isoformat())
    assert got == aware.astimezone(UTC)


def test_twitter_dates_with_offset_inside(con: duckdb.DuckDBPyConnection) -> None:
    got = sql_value(
        con,
        nz.timestamp_sql("v", ["%a %b %d %H:%M:%S %z %Y"], "Europe/Paris"),
        "Wed Oct 04 13:59:33 +0000 2017",
    )
    assert got == datetime(2017, 10, 4, 13, 59, 33, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", ["not a date", "31/02/2024 10:00", "2024-13-01 00:00:00", "yesterday"]
)
def test_unparseable_dates_are_null(con: duckdb.DuckDBPyConnection, raw: str) -> None:
    assert sql_value(con, nz.timestamp_sql("v", FORMATS, "Europe/Paris"), raw) is None


def test_separators_are_dropped_before_lookup(con: duckdb.DuckDBPyConnection) -> None:
    key = nz.lookup_key_sql("phone", "v")
    keys = {sql_value(con, key, f) for f in ["06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78"]}
    assert keys == {"0612345678"}
    assert nz.normalise_phone(sql_value(con, key, "+33 (0)6 12 34 56 78"), "FR") == "+33612345678"


def test_many_phones_are_normalised_in_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    raws = [f"06{d}{n:07d}" for d in "1245678" for n in range(0, 70, 7)] + [
        "garbage",
        "+41 44 668 18 00",
    ]
    serial = [(raw, nz.normalise_phone(raw, "FR")) for raw in raws]
    monkeypatch.setattr(nz, "PARALLEL_THRESHOLD", 10)
    assert nz.normalise_phones(raws, "FR") == serial
    assert serial[-1] == ("+41 44 668 18 00", "+41446681800")


@given(
    st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2035, 12, 31).date()),
    st.sampled_from(ZONES),
    st.sampled_from(["%Y-%m-%d", "%d/%m/%Y"]),
)
@settings(max_examples=200, deadline=None)
def test_dates_without_a_time_are_local_midnight(
    con: duckdb.DuckDBPyConnection, day: Any, zone: str, fmt: str
) -> None:
    # "2024-03-05" ends in "-05", which must not be read as a UTC offset
    expected = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    got = sql_value(con, nz.timestamp_sql("v", ["%d/%m/%Y", "%Y-%m-%d"], zone), day.strftime(fmt))
    assert got == expected


def test_clock_changes_follow_a_stated_rule(con: duckdb.DuckDBPyConnection) -> None:
    ts = nz.timestamp_sql("v", ["%Y-%m-%d %H:%M"], "America/New_York")
    # 01:30 happens twice on 2024-11-03: read as the second occurrence (EST, UTC-5)
    assert sql_value(con, ts, "2024-11-03 01:30") == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
    # 02:30 does not exist on 2024-03-10: moved past the gap, never dropped
    paris = nz.timestamp_sql("v", ["%Y-%m-%d %H:%M"], "Europe/Paris")
    assert sql_value(con, paris, "2024-03-31 02:30") == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2.345,5", 2345.5),
        ("1,234,567", 1234567.0),
        ("1.234.567", 1234567.0),
        ("1,234.5", 1234.5),
        ("4,5", 4.5),
        ("1,234", 1.234),  # a lone comma is a decimal comma
        ("1'234.5", 1234.5),
        ("-0,75", -0.75),
        ("1e3", 1000.0),
        ("nan", None),
        ("inf", None),
        ("-Infinity", None),
        ("12abc", None),
    ],
)
def test_decimal_numbers(con: duckdb.DuckDBPyConnection, raw: str, expected: float | None) -> None:
    assert sql_value(con, nz.number_sql("v"), raw) == expected


@pytest.mark.parametrize(
    ("raw", "sql_type", "expected"),
    [
        ("1,234", "BIGINT", 1234),
        ("1.234", "BIGINT", 1234),
        ("12 345", "BIGINT", 12345),
        ("3", "INTEGER", 3),
        ("3000000000", "INTEGER", None),
        ("3000000000", "BIGINT", 3000000000),
        ("1,5", "BIGINT", None),
        ("1e30", "BIGINT", None),
        ("nan", "BIGINT", None),
    ],
)
def test_whole_numbers(
    con: duckdb.DuckDBPyConnection, raw: str, sql_type: str, expected: int | None
) -> None:
    assert sql_value(con, nz.integer_sql("v", sql_type), raw) == expected


FAST_REGIONS = ("FR", "BE", "CH", "DE", "ES", "GB", "IL", "IN", "TH", "BG")


@given(
    st.sampled_from(FAST_REGIONS),
    st.sampled_from(["national", "plus", "00"]),
    st.one_of(
        st.text(alphabet="0123456789", min_size=6, max_size=12),
        st.text(alphabet="0123456789", min_size=6, max_size=12).map(lambda d: "0" + d),
        st.text(alphabet="0123456789", min_size=6, max_size=12).map(lambda d: "12" + d),
    ),
)
@settings(max_examples=2500, deadline=None)
def test_the_sql_fast_path_never_disagrees_with_phonenumbers(
    con: duckdb.DuckDBPyConnection, region: str, form: str, digits: str
) -> None:
    fast = nz.fast_phone_sql("v", region)
    if fast is None:  # e.g. GB: several regions share +44, so no fast path
        assert region == "GB"
        return
    cc = str(phonenumbers.country_code_for_region(region))
    text = {"national": "0" + digits, "plus": "+" + cc + digits, "00": "00" + cc + digits}[form]
    got = sql_value(con, fast, text)
    if got is not None:  # when the fast path answers, it answers what phonenumbers says
        assert got == nz.normalise_phone(text, region)


@given(valid_numbers(), st.sampled_from(["national", "e164"]))
@settings(max_examples=300, deadline=None)
def test_the_fast_path_settles_ordinary_valid_numbers(
    con: duckdb.DuckDBPyConnection, case: tuple[str, phonenumbers.PhoneNumber], style: str
) -> None:
    region, number = case
    fast = nz.fast_phone_sql("v", region)
    assume(fast is not None)
    assert fast is not None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    text = e164 if style == "e164" else "".join(ch for ch in national if ch.isdigit())
    assert sql_value(con, fast, text) == e164
