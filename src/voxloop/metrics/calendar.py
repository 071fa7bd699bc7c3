"""Business-hours calendars and channel targets (``sla.yaml``), and business time as a table.

Business time is computed by joining a **calendar table**, never a Python UDF, so that
DuckDB, PostgreSQL and Spark measure it identically. The table has one row per quarter hour
(UTC) of the period covered, with the business seconds elapsed before it; the business time
between two instants is then ``B(end) − B(start)`` where
``B(ts) = cum_s + open · (epoch(ts) − bucket_start)``, two equality joins.
Opening hours therefore fall on quarter hours (08:30, 12:45), which every real schedule does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
import pyarrow as pa
import pyarrow.compute
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voxloop.errors import ConfigError
from voxloop.model.vocab import CHANNELS, canonical_word

BUCKET_S = 900
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_WORDS = {
    **{d: d for d in WEEKDAYS},
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
    "lun": "mon",
    "lundi": "mon",
    "mar": "tue",
    "mardi": "tue",
    "mer": "wed",
    "mercredi": "wed",
    "jeu": "thu",
    "jeudi": "thu",
    "ven": "fri",
    "vendredi": "fri",
    "sam": "sat",
    "samedi": "sat",
    "dim": "sun",
    "dimanche": "sun",
}
_SPAN = re.compile(r"^\s*(\d{1,2})[:hH](\d{2})\s*-\s*(\d{1,2})[:hH](\d{2})\s*$")
_DURATION = re.compile(
    r"^\s*(?P<num>\d+(?:[.,]\d+)?)\s*(?P<unit>s|sec|secs|seconds?|min|mins|minutes?|m|h|hours?|"
    r"heures?|d|days?|j|jours?)\s*(?P<business>business|ouvr[ée]e?s?|working)?\s*$",
    re.IGNORECASE,
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "j": 86400}


def parse_duration(text: str | int | float) -> tuple[float, bool]:
    """``"60s"`` → (60, False); ``"24h business"`` / ``"24h ouvrées"`` → (86400, True).

    A bare number is seconds."""
    if isinstance(text, int | float):
        return float(text), False
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration: write e.g. 60s, 90min, 1h, 24h business, 2d")
    number = float(match["num"].replace(",", "."))
    unit = match["unit"].lower()
    seconds = number * (60 if unit.startswith("min") else _UNIT_S[unit[0]])
    return seconds, match["business"] is not None


@dataclass(frozen=True)
class Target:
    """One channel's promise: seconds, and whether they are counted in business time."""

    seconds: float
    business: bool

    def describe(self) -> str:
        unit = f"{self.seconds / 3600:g} h" if self.seconds >= 3600 else f"{self.seconds:g} s"
        return unit + (" (business hours)" if self.business else "")


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_zone: str
    hours: dict[str, list[str]] = Field(default_factory=dict)
    holidays: str | None = None  # country code for the `holidays` package, e.g. FR or US-CA
    closed: list[date] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/Paris)") from exc
        return value


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: str | float | None = None
    resolution: str | float | None = None
    calendar: str | None = None


class SlaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    targets: dict[str, TargetSpec] = Field(default_factory=dict)


@dataclass(frozen=True)
class Calendar:
    """Opening hours of one team or hub, in its own zone."""

    name: str
    zone: str
    hours: dict[int, tuple[tuple[time, time], ...]]  # weekday (0 = Monday) → spans
    country: str | None
    closed: frozenset[date]

    def closed_days(self, years: range) -> set[date]:
        days = set(self.closed)
        if self.country:
            country, _, subdiv = self.country.partition("-")
            days |= set(holidays_lib.country_holidays(country, subdiv=subdiv or None, years=years))
        return days

    def open_spans_utc(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Open intervals in UTC for local days ``first``…``last`` (inclusive)."""
        zone = ZoneInfo(self.zone)
        closed = self.closed_days(range(first.year, last.year + 1))
        spans: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            if day not in closed:
                for start, end in self.hours.get(day.weekday(), ()):
                    a = datetime.combine(day, start, zone).astimezone(UTC)
                    b = (
                        datetime.combine(day + timedelta(days=1), time(0), zone)
                        if end == time(0)
                        else datetime.combine(day, end, zone)
                    ).astimezone(UTC)
                    if b > a:
                        spans.append((a, b))
            day += timedelta(days=1)
        return spans


@dataclass(frozen=True)
class SlaConfig:
    calendars: dict[str, Calendar]
    first_response: dict[str, Target]
    resolution: dict[str, Target]
    calendar_of: dict[str, str]  # channel → calendar name (business targets only)

    @property
    def channels(self) -> list[str]:
        return sorted(set(self.first_response) | set(self.resolution))


def _parse_span(text: str, where: str) -> tuple[time, time]:
    match = _SPAN.match(text)
    if not match:
        raise ConfigError(
            f"{where}: {text!r} is not an opening span",
            hint='write spans as "08:30-12:30" (24-hour clock); split shifts as two spans',
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ConfigError(f"{where}: {text!r} is not a time of day", hint="use 00:00–24:00")
    if m1 % 15 or m2 % 15:
        raise ConfigError(
            f"{where}: {text!r} does not start and end on a quarter hour",
            hint="business time is counted by quarter hours: use :00, :15, :30 or :45",
        )
    start = time(h1, m1)
    end = time(0) if h2 == 24 else time(h2, m2)
    if end != time(0) and end <= start:
        raise ConfigError(
            f"{where}: {text!r} ends before it starts",
            hint="a span that crosses midnight is two spans: 22:00-24:00 and 00:00-06:00",
        )
    return start, end


def build_calendar(name: str, spec: CalendarSpec, where: str) -> Calendar:
    """Check one calendar declaration (sla.yaml, or a hub in loop.yaml) and build it."""
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for word, spans in spec.hours.items():
        day = _WEEKDAY_WORDS.get(word.strip().lower())
        if day is None:
            raise ConfigError(
                f"{where}: calendar {name!r} has an unknown day {word!r}",
                hint="days are mon, tue, wed, thu, fri, sat, sun (or lundi … dimanche)",
            )
        hours[WEEKDAYS.index(day)] = tuple(
            _parse_span(s, f"{where}: calendar {name!r}, {word}") for s in spans
        )
    if not any(hours.values()):
        raise ConfigError(
            f"{where}: calendar {name!r} has no opening hours, so no business time can "
            "ever elapse on it and every deadline would be infinite",
            hint='give at least one day, e.g. hours: {mon: ["09:00-18:00"]}',
        )
    country_code = None
    if spec.holidays:
        country, _, subdiv = spec.holidays.strip().upper().partition("-")
        supported = holidays_lib.list_supported_countries()
        if country not in supported:
            raise ConfigError(
                f"{where}: calendar {name!r}: no public-holiday list for {spec.holidays!r}",
                hint="use an ISO country code such as FR, GB, US, BE, CH, CA (or US-CA)",
            )
        if subdiv and subdiv not in supported[country]:
            raise ConfigError(
                f"{where}: calendar {name!r}: {country} has no region {subdiv!r}",
                hint=f"regions of {country}: {', '.join(supported[country][:30]) or 'none'}",
            )
        country_code = f"{country}-{subdiv}" if subdiv else country
    return Calendar(name, spec.time_zone, hours, country_code, frozenset(spec.closed))


def load_sla(path: Path) -> SlaConfig:
    """Read and check ``sla.yaml``; a missing file means no targets."""
    if not path.exists():
        return SlaConfig({}, {}, {}, {})
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        spec = SlaFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}", hint="fix the indentation") from exc
    except ValidationError as exc:
        problem = exc.errors()[0]
        loc = ".".join(str(p) for p in problem["loc"])
        raise ConfigError(
            f"{where}: {loc}: {problem['msg']}", hint="see the comments in the template sla.yaml"
        ) from exc
    calendars = {n: build_calendar(n, c, where) for n, c in spec.calendars.items()}
    first_response: dict[str, Target] = {}
    resolution: dict[str, Target] = {}
    calendar_of: dict[str, str] = {}
    for word, target in spec.targets.items():
        channel = canonical_word("channel", word) or word
        if channel not in CHANNELS:
            raise ConfigError(
                f"{where}: targets: unknown channel {word!r}",
                hint=f"channels: {', '.join(CHANNELS)}",
            )
        for kind, value, into in (
            ("first_response", target.first_response, first_response),
            ("resolution", target.resolution, resolution),
        ):
            if value is None:
                continue
            try:
                seconds, business = parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: targets.{word}.{kind}: {exc}") from exc
            if business:
                if target.calendar is None:
                    raise ConfigError(
                        f"{where}: targets.{word}.{kind} is in business time but names no calendar",
                        hint=f"add calendar: <name> to targets.{word}",
                    )
                if target.calendar not in calendars:
                    raise ConfigError(
                        f"{where}: targets.{word}: unknown calendar {target.calendar!r}",
                        hint=f"calendars: {', '.join(calendars) or 'none declared'}",
                    )
                calendar_of[channel] = target.calendar
            into[channel] = Target(seconds, business)
    return SlaConfig(calendars, first_response, resolution, calendar_of)


def calendar_table(
    config: SlaConfig, start: datetime, end: datetime, names: list[str] | None = None
) -> pa.Table:
    """Quarter-hour buckets from ``start`` to ``end`` (UTC) for each calendar, with the
    business seconds elapsed before each bucket and whether it is open."""
    first_bucket = int(start.timestamp()) // BUCKET_S - 1
    last_bucket = int(end.timestamp()) // BUCKET_S + 1
    count = last_bucket - first_bucket + 1
    cal_col: list[str] = []
    bucket_col: list[int] = []
    cum_col: list[float] = []
    open_col: list[int] = []
    for name in names if names is not None else list(config.calendars):
        cal = config.calendars[name]
        first_day = (start - timedelta(days=2)).date()
        last_day = (end + timedelta(days=2)).date()
        is_open = bytearray(count)
        for a, b in cal.open_spans_utc(first_day, last_day):
            lo = max(int(a.timestamp()) // BUCKET_S, first_bucket)
            hi = min(int(b.timestamp()) // BUCKET_S, last_bucket + 1)
            for k in range(lo, hi):
                is_open[k - first_bucket] = 1
        cum = 0.0
        for i in range(count):
            cal_col.append(name)
            bucket_col.append(first_bucket + i)
            cum_col.append(cum)
            open_col.append(is_open[i])
            cum += BUCKET_S * is_open[i]
    return pa.table(
        {
            "calendar": pa.array(cal_col, pa.string()),
            "bucket": pa.array(bucket_col, pa.int64()),
            "cum_s": pa.array(cum_col, pa.float64()),
            "open": pa.array(open_col, pa.int64()),
        }
    )


def business_seconds(config: SlaConfig, name: str, start: datetime, end: datetime) -> float:
    """Business seconds between two instants, computed directly from the spans (used to
    check the table and for single cases)."""
    cal = config.calendars[name]
    total = 0.0
    for a, b in cal.open_spans_utc(
        (start - timedelta(days=2)).date(), (end + timedelta(days=2)).date()
    ):
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def business_until(config: SlaConfig, table: pa.Table, name: str, now: datetime) -> float:
    """``B(now)`` on the scale of ``table`` (a :func:`calendar_table`), even past its end."""
    rows = table.filter(pa.compute.equal(table["calendar"], name))
    now_bucket = int(now.timestamp()) // BUCKET_S
    first_bucket = int(rows["bucket"][0].as_py())
    index = now_bucket - first_bucket
    if 0 <= index < rows.num_rows:  # now is inside the table: its own bucket, partly elapsed
        elapsed = now.timestamp() - now_bucket * BUCKET_S
        return float(rows["cum_s"][index].as_py()) + int(rows["open"][index].as_py()) * elapsed
    last = rows.num_rows - 1
    end_bucket = int(rows["bucket"][last].as_py()) + 1
    total = float(rows["cum_s"][last].as_py()) + BUCKET_S * int(rows["open"][last].as_py())
    table_end = datetime.fromtimestamp(end_bucket * BUCKET_S, UTC)
    if now <= table_end:
        return total
    return total + business_seconds(config, name, table_end, now)


def business_expr(ts: Any, cal: Any) -> Any:
    """``B(ts)`` given the calendar row ``cal`` joined on ``ts``'s bucket."""
    from voxloop.metrics.epoch import epoch

    return cal.cum_s + cal.open.cast("float64") * (
        epoch(ts) - (cal.bucket * BUCKET_S).cast("float64")
    )
