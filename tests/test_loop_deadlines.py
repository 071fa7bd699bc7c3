"""Deadlines on business-hours calendars, computed by hand: weekends, public holidays,
daylight-saving changes, split shifts, three time zones; and the properties every deadline
must have (never in closed hours; pausing never brings it closer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxloop.errors import ConfigError
from voxloop.loop.config import load_loop
from voxloop.loop.deadlines import BusinessClock, Pause, consumed, due_many, due_with_pauses
from voxloop.metrics import CalendarSpec, build_calendar, load_sla

PARIS = build_calendar(
    "paris",
    CalendarSpec(
        time_zone="Europe/Paris",
        holidays="FR",
        hours={d: ["08:30-12:30", "13:30-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": ["09:00-12:00"]},
    ),
    "test",
)
EVERY_HOUR_PARIS = build_calendar(
    "paris24", CalendarSpec(time_zone="Europe/Paris", hours={"mon": ["00:00-24:00"]} | {
        d: ["00:00-24:00"] for d in ("tue", "wed", "thu", "fri", "sat", "sun")}), "test"
)  # fmt: skip
NEW_YORK = build_calendar(
    "ny",
    CalendarSpec(
        time_zone="America/New_York",
        holidays="US",
        hours={d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    ),
    "test",
)
SINGAPORE = build_calendar(
    "sg",
    CalendarSpec(
        time_zone="Asia/Singapore",
        holidays="SG",
        hours={d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    ),
    "test",
)


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp()


def due(calendar: object, start: float, hours: float) -> float:
    clock = BusinessClock(calendar)  # type: ignore[arg-type]
    return float(due_many(clock, np.array([start]), np.array([hours * 3600]))[0])


def test_split_shift_and_saturday_morning() -> None:
    # Friday 18:00 + 2 h: 18:00–19:00 on Friday, then Saturday 09:00–10:00.
    start = local("Europe/Paris", 2026, 3, 6, 18, 0)
    assert due(PARIS, start, 2) == local("Europe/Paris", 2026, 3, 7, 10, 0)
    # Tuesday 12:00 + 1 h: 12:00–12:30, lunch closed, 13:30–14:00.
    assert due(PARIS, local("Europe/Paris", 2026, 3, 3, 12, 0), 1) == local(
        "Europe/Paris", 2026, 3, 3, 14, 0
    )


def test_christmas_and_a_weekend() -> None:
    # Thu 24 Dec 19:30 (closed) + 24 h business: Sat 3 h, Mon 9.5 h, Tue 9.5 h, Wed 2 h.
    start = local("Europe/Paris", 2026, 12, 24, 19, 30)
    assert due(PARIS, start, 24) == local("Europe/Paris", 2026, 12, 30, 10, 30)


def test_daylight_saving_day_is_23_hours_long() -> None:
    # Paris moves to summer time on Sunday 29 March 2026: that day has 23 hours.
    start = local("Europe/Paris", 2026, 3, 28, 12, 0)
    assert due(EVERY_HOUR_PARIS, start, 24) == local("Europe/Paris", 2026, 3, 29, 13, 0)
    # and in October the day has 25 hours
    start = local("Europe/Paris", 2026, 10, 24, 12, 0)
    assert due(EVERY_HOUR_PARIS, start, 24) == local("Europe/Paris", 2026, 10, 25, 11, 0)


def test_three_time_zones_and_their_holidays() -> None:
    # New York, Wednesday before Thanksgiving 19:00 + 2 h: 19–20 Wed, Thu closed, Fri 08–09.
    start = local("America/New_York", 2026, 11, 25, 19, 0)
    assert due(NEW_YORK, start, 2) == local("America/New_York", 2026, 11, 27, 9, 0)
    # Singapore, New Year's Eve 19:30 + 1 h: 30 min, 1 January closed, Friday 2nd 08:30.
    start = local("Asia/Singapore", 2025, 12, 31, 19, 30)
    assert due(SINGAPORE, start, 1) == local("Asia/Singapore", 2026, 1, 2, 8, 30)
    # The same instant is due at different times on each hub's calendar.
    instant = datetime(2026, 2, 4, 12, 0, tzinfo=UTC).timestamp()  # Wed
    # 13:00 in Paris is the lunch break: the hour runs 13:30–14:30
    assert due(PARIS, instant, 1) == local("Europe/Paris", 2026, 2, 4, 14, 30)
    assert due(NEW_YORK, instant, 1) == local("America/New_York", 2026, 2, 4, 9, 0)
    assert due(SINGAPORE, instant, 1) == local("Asia/Singapore", 2026, 2, 5, 9, 0)


def test_around_the_clock_is_plain_addition() -> None:
    start = datetime(2026, 2, 4, 23, 30, tzinfo=UTC).timestamp()
    assert due(None, start, 1) == start + 3600


def test_a_pause_moves_the_deadline_by_the_business_time_paused() -> None:
    clock = BusinessClock(PARIS)
    start = local("Europe/Paris", 2026, 3, 3, 9, 0)  # Tuesday
    plain = due_with_pauses(clock, start, 4 * 3600, [])
    assert plain == local("Europe/Paris", 2026, 3, 3, 14, 0)
    # paused 10:00–11:30 (1.5 business hours): due 15:30
    paused = [
        Pause(local("Europe/Paris", 2026, 3, 3, 10, 0), local("Europe/Paris", 2026, 3, 3, 11, 30))
    ]
    assert due_with_pauses(clock, start, 4 * 3600, paused) == local(
        "Europe/Paris", 2026, 3, 3, 15, 30
    )
    # a pause still open stops the clock: no deadline
    assert due_with_pauses(clock, start, 4 * 3600, [Pause(start + 60, None)]) is None
    now = local("Europe/Paris", 2026, 3, 3, 12, 0)
    assert consumed(clock, start, now, paused) == pytest.approx(1.5 * 3600)


def _inside_opening_hours(clock: BusinessClock, t: float) -> bool:
    spans = clock.spans_between(t - 86400 * 10, t + 1)
    return any(a <= t <= b for a, b in spans)


instants = st.floats(
    min_value=datetime(2025, 1, 1, tzinfo=UTC).timestamp(),
    max_value=datetime(2028, 1, 1, tzinfo=UTC).timestamp(),
)
durations = st.floats(min_value=1, max_value=200 * 3600)


@settings(max_examples=150, deadline=None)
@given(start=instants, seconds=durations, cal=st.sampled_from([PARIS, NEW_YORK, SINGAPORE]))
def test_a_deadline_is_never_in_closed_hours(start: float, seconds: float, cal: object) -> None:
    clock = BusinessClock(cal)  # type: ignore[arg-type]
    d = float(due_many(clock, np.array([start]), np.array([seconds]))[0])
    assert d > start
    assert _inside_opening_hours(clock, d)
    # and exactly the promised business time lies between the start and the deadline
    assert consumed(clock, start, d) == pytest.approx(seconds, abs=1e-3)


@settings(max_examples=150, deadline=None)
@given(
    start=instants,
    seconds=durations,
    pause_at=st.floats(min_value=0, max_value=100 * 3600),
    pause_for=st.floats(min_value=0, max_value=100 * 3600),
    cal=st.sampled_from([PARIS, NEW_YORK, None]),
)
def test_pausing_never_shortens_a_deadline(
    start: float, seconds: float, pause_at: float, pause_for: float, cal: object
) -> None:
    clock = BusinessClock(cal)  # type: ignore[arg-type]
    plain = due_with_pauses(clock, start, seconds, [])
    pause = Pause(start + pause_at, start + pause_at + pause_for)
    paused = due_with_pauses(clock, start, seconds, [pause])
    assert plain is not None and paused is not None
    assert paused >= plain - 1e-6
    assert paused <= plain + pause_for + 1e-6 or cal is not None


def test_vectorised_and_one_by_one_agree() -> None:
    rng = np.random.default_rng(7)
    starts = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + rng.uniform(0, 86400 * 400, 500)
    seconds = rng.uniform(60, 86400 * 3, 500)
    many = due_many(BusinessClock(PARIS), starts, seconds)
    one = [
        due_with_pauses(BusinessClock(PARIS), s, x, [])
        for s, x in zip(starts, seconds, strict=True)
    ]
    assert np.allclose(many, np.array(one, dtype=float))


def test_loop_yaml_errors_name_the_file_and_field(tmp_path: Path) -> None:
    sla = load_sla(tmp_path / "missing.yaml")
    path = tmp_path / "loop.yaml"
    path.write_text("rules:\n  - id: detractor\n    when: {score_at_mots: 6}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loop\.yaml: rules\.0\.when\.score_at_mots"):
        load_loop(path, sla)
    path.write_text("hubs:\n  europe: {time_zone: Europe/Paris}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hubs\.europe needs its opening hours"):
        load_loop(path, sla)
    path.write_text("priority_weights: {criticality: 1, vanity: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown factor 'vanity'"):
        load_loop(path, sla)
    path.write_text("rules:\n  - {id: a, when: {channel: pigeon}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown channel 'pigeon'"):
        load_loop(path, sla)


def test_the_template_loads_against_the_template_sla() -> None:
    templates = Path(__file__).parents[1] / "src" / "voxloop" / "templates"
    config = load_loop(templates / "loop.yaml", load_sla(templates / "sla.yaml"))
    assert [r.id for r in config.rules][:2] == ["detractor", "unhappy_csat"]
    assert set(config.hubs) == {"europe", "asia", "america"}
    assert sum(config.weights.values()) == pytest.approx(1)
    social = config.promise("social")  # 1 h and 24 h around the clock
    assert (social.response_calendar, social.resolution_calendar) == (None, None)
    assert social.first_response.seconds == 3600 and social.resolution.seconds == 86400
    email = config.promise("email")  # 24 business hours; resolution from the default (7 d)
    assert (email.response_calendar, email.resolution_calendar) == ("paris", None)
    assert email.resolution.seconds == 7 * 86400
    phone = config.promise("phone")  # not the line's 60 s: a call-back within 4 hours
    assert phone.first_response.seconds == 4 * 3600 and phone.response_calendar == "paris"
    assert config.promise("letter-by-pigeon").source == "loop.yaml default_target"
    assert timedelta(seconds=config.cooling_off_s) == timedelta(days=7)


def _minute_walk(calendar: object, start: float, seconds: float, pauses: list[Pause]) -> float:
    """The slow, obviously right answer: walk minute by minute."""
    clock = BusinessClock(calendar)  # type: ignore[arg-type]
    spans = clock.spans_between(start - 86400, start + 86400 * 60)
    t, left = start, seconds
    while left > 0:
        step = min(60.0, left)
        open_now = any(a <= t < b for a, b in spans)
        paused = any(p.start <= t < (p.end or float("inf")) for p in pauses)
        if open_now and not paused:
            left -= step
        t += step
    return t


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(
        min_value=datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        max_value=datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
    ).map(lambda x: x - x % 60),
    hours=st.integers(min_value=1, max_value=30),
    pause_at=st.integers(min_value=-48, max_value=120),
    pause_for=st.integers(min_value=0, max_value=72),
)
def test_fresh_clocks_agree_with_a_minute_by_minute_walk(
    start: float, hours: int, pause_at: int, pause_for: int
) -> None:
    """A new clock for each question (its range grows backwards and forwards as asked):
    the regression where a pause pulled a deadline before the opening."""
    pause = Pause(start + pause_at * 3600, start + (pause_at + pause_for) * 3600)
    expected = _minute_walk(PARIS, start, hours * 3600, [pause])
    got = due_with_pauses(BusinessClock(PARIS), start, hours * 3600.0, [pause])
    assert got is not None
    assert got == pytest.approx(expected, abs=60)
    assert got >= start


def test_a_clock_asked_far_in_the_past_then_the_future_stays_consistent() -> None:
    clock = BusinessClock(PARIS)
    mid = local("Europe/Paris", 2026, 6, 3, 10, 0)
    before = float(clock.elapsed(np.array([mid]))[0])
    clock.elapsed(np.array([mid - 200 * 86400]))  # grows backwards
    clock.elapsed(np.array([mid + 300 * 86400]))  # and forwards
    clock.elapsed(np.array([mid - 400 * 86400]))  # and backwards again
    assert float(clock.elapsed(np.array([mid]))[0]) == before
