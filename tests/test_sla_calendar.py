"""sla.yaml: calendars, targets and business time as a table that every engine joins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxloop.errors import ConfigError
from voxloop.metrics.calendar import (
    BUCKET_S,
    business_expr,
    business_seconds,
    calendar_table,
    load_sla,
    parse_duration,
)

PARIS = """
calendars:
  paris:
    time_zone: Europe/Paris
    holidays: FR
    closed: [2024-12-24]
    hours:
      lundi: ["08:30-12:30", "13:30-19:00"]
      tue: ["08:30-12:30", "13:30-19:00"]
      wed: ["08:30-12:30", "13:30-19:00"]
      thu: ["08:30-12:30", "13:30-19:00"]
      fri: ["08:30-12:30", "13:30-19:00"]
      sat: ["09:00-12:00"]
targets:
  téléphone: {first_response: 60s}
  email: {first_response: 24h ouvrées, calendar: paris}
  social: {first_response: 1h, resolution: 24h}
"""


def sla_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_targets_and_calendars_are_read(tmp_path: Path) -> None:
    sla = load_sla(sla_file(tmp_path, PARIS))
    assert sla.first_response["phone"].seconds == 60  # "téléphone" is the phone channel
    assert sla.first_response["email"].business and sla.calendar_of["email"] == "paris"
    assert sla.resolution["social"].seconds == 86400 and not sla.resolution["social"].business
    assert sla.channels == ["email", "phone", "social"]


@pytest.mark.parametrize(
    ("text", "seconds", "business"),
    [
        ("60s", 60, False),
        ("90 min", 5400, False),
        ("1h", 3600, False),
        ("24h business", 86400, True),
        ("2 jours ouvrés", 172800, True),
        ("1,5h", 5400, False),
        (30, 30, False),
    ],
)
def test_durations(text: str | int, seconds: float, business: bool) -> None:
    assert parse_duration(text) == (seconds, business)


def test_business_time_skips_nights_weekends_lunch_and_holidays(tmp_path: Path) -> None:
    sla = load_sla(sla_file(tmp_path, PARIS))
    paris = sla.calendars["paris"]

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=paris_tz()).astimezone(UTC)

    # Friday 18:00 → Monday 09:30: 1 h Friday, 3 h Saturday, 1 h Monday
    assert (
        business_seconds(sla, "paris", at("2024-03-15T18:00"), at("2024-03-18T09:30")) == 5 * 3600
    )
    # lunch is closed: 12:00 → 14:00 counts 12:00–12:30 and 13:30–14:00
    assert business_seconds(sla, "paris", at("2024-03-19T12:00"), at("2024-03-19T14:00")) == 3600
    # 1 May is a French public holiday (a Wednesday in 2024): nothing counts
    assert business_seconds(sla, "paris", at("2024-05-01T09:00"), at("2024-05-01T18:00")) == 0
    # the extra closed day
    assert business_seconds(sla, "paris", at("2024-12-24T09:00"), at("2024-12-24T18:00")) == 0
    assert paris.zone == "Europe/Paris"


def paris_tz() -> ZoneInfo:
    return ZoneInfo("Europe/Paris")


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 20)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)),
)
def test_table_join_equals_direct_computation(start: datetime, length: timedelta) -> None:
    """The calendar table (what engines join) gives the same business time as walking the
    opening spans, across DST changes, holidays and split shifts."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sla = load_sla(sla_file(Path(tmp), PARIS))
    a = start.replace(tzinfo=UTC)
    b = a + length
    table = calendar_table(sla, a, b, ["paris"])
    rows = ibis.memtable(pa.table({"a": [a], "b": [b], "cal": ["paris"]}))
    cal = ibis.memtable(table)
    c0, c1 = cal.view(), cal.view()
    ba = (rows.a.epoch_seconds() / BUCKET_S).floor().cast("int64")
    bb = (rows.b.epoch_seconds() / BUCKET_S).floor().cast("int64")
    rows = rows.mutate(_ba=ba, _bb=bb)
    joined = rows.left_join(c0, [rows.cal == c0.calendar, rows._ba == c0.bucket]).select(
        rows, b0=business_expr(rows.a, c0)
    )
    joined = joined.left_join(c1, [joined.cal == c1.calendar, joined._bb == c1.bucket]).select(
        joined, b1=business_expr(joined.b, c1)
    )
    con = ibis.duckdb.connect()
    [got] = con.to_pyarrow(joined.select(d=joined.b1 - joined.b0)).to_pylist()
    expected = business_seconds(sla, "paris", a, b)
    assert got["d"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calendars:\n  c: {time_zone: Europe/Paris, hours: {}}\n", "no opening hours"),
        (
            "calendars:\n  c: {time_zone: Mars/Olympus, hours: {mon: ['09:00-17:00']}}\n",
            "unknown time zone",
        ),
        ("calendars:\n  c: {time_zone: UTC, hours: {mon: ['09:10-17:00']}}\n", "quarter hour"),
        ("calendars:\n  c: {time_zone: UTC, hours: {mon: ['18:00-09:00']}}\n", "ends before"),
        ("calendars:\n  c: {time_zone: UTC, hours: {funday: ['09:00-17:00']}}\n", "unknown day"),
        (
            "calendars:\n  c: {time_zone: UTC, holidays: XX, hours: {mon: ['09:00-17:00']}}\n",
            "no public-holiday list",
        ),
        ("targets:\n  pigeon: {first_response: 1h}\n", "unknown channel"),
        ("targets:\n  email: {first_response: soon}\n", "not a duration"),
        ("targets:\n  email: {first_response: 8h business}\n", "names no calendar"),
        ("targets:\n  email: {first_response: 8h business, calendar: nope}\n", "unknown calendar"),
        ("targets: [\n", "not valid YAML"),
    ],
)
def test_bad_sla_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_sla(sla_file(tmp_path, text))
    assert "sla.yaml" in info.value.message


def test_missing_file_means_no_targets(tmp_path: Path) -> None:
    assert load_sla(tmp_path / "sla.yaml").channels == []


def test_business_time_up_to_now_inside_the_table(tmp_path: Path) -> None:
    from voxloop.metrics.calendar import business_until

    sla = load_sla(sla_file(tmp_path, PARIS))
    start = datetime(2024, 3, 19, 7, 0, tzinfo=UTC)  # Tuesday 08:00 in Paris
    now = datetime(2024, 3, 19, 9, 7, tzinfo=UTC)  # 10:07 in Paris
    table = calendar_table(sla, start, now + timedelta(minutes=20), ["paris"])
    first = int(table["cum_s"][0].as_py())
    assert first == 0
    # B(now) − B(start) is the business time between them: 08:30–10:07 = 97 minutes
    assert business_until(sla, table, "paris", now) - 0 == pytest.approx(
        business_seconds(sla, "paris", datetime.fromtimestamp(
            int(table["bucket"][0].as_py()) * BUCKET_S, UTC), now)
    )  # fmt: skip
    assert business_seconds(sla, "paris", start, now) == 97 * 60


@pytest.mark.parametrize(("code", "ok"), [("fr", True), ("us-ca", True), ("US-XX", False)])
def test_holiday_codes_are_normalised_and_checked(tmp_path: Path, code: str, ok: bool) -> None:
    text = (
        f"calendars:\n  c: {{time_zone: UTC, holidays: {code}, hours: {{mon: ['09:00-17:00']}}}}\n"
    )
    if ok:
        cal = load_sla(sla_file(tmp_path, text)).calendars["c"]
        assert cal.closed_days(range(2024, 2025))  # it has holidays
    else:
        with pytest.raises(ConfigError, match="no region 'XX'"):
            load_sla(sla_file(tmp_path, text))
