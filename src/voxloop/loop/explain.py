"""``voxloop sla due``: when a promise falls due, and the calendar reasoning behind it, in
words a team lead can check against the wall calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from voxloop.errors import UserError
from voxloop.loop.config import LoopConfig
from voxloop.loop.deadlines import BusinessClock, due_many
from voxloop.loop.routing import Router
from voxloop.metrics import Calendar, Target
from voxloop.model.vocab import CHANNELS, canonical_word


def _local(epoch: float, zone: str) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(zone))


def _closed_days(calendar: Calendar, first: date, last: date) -> dict[date, str]:
    """Days a calendar is closed between two dates, with the holiday's name when it is one."""
    import holidays as holidays_lib

    out: dict[date, str] = {}
    names: dict[date, str] = {}
    if calendar.country:
        country, _, subdiv = calendar.country.partition("-")
        names = dict(
            holidays_lib.country_holidays(
                country, subdiv=subdiv or None, years=range(first.year, last.year + 1)
            )
        )
    day = first
    while day <= last:
        if day in names:
            out[day] = f"public holiday ({names[day]})"
        elif day in calendar.closed:
            out[day] = "closed (declared in the calendar)"
        elif not calendar.hours.get(day.weekday()):
            out[day] = "closed every " + day.strftime("%A")
        day += timedelta(days=1)
    return out


def _one(
    name: str, target: Target, calendar: Calendar | None, start: float, zone: str
) -> dict[str, Any]:
    clock = BusinessClock(calendar if target.business else None)
    due = float(due_many(clock, np.array([start]), np.array([target.seconds]))[0])
    lines: list[str] = []
    if not target.business or calendar is None:
        lines.append(f"{name}: {target.describe()} around the clock → start + {target.describe()}")
    else:
        lines.append(
            f"{name}: {target.describe()} on calendar {calendar.name!r} ({calendar.zone}"
            + (f", public holidays of {calendar.country}" if calendar.country else "")
            + ")"
        )
        for a, b in clock.spans_between(start, due):
            la, lb = _local(a, calendar.zone), _local(b, calendar.zone)
            lines.append(
                f"  counts {la:%a %d %b %H:%M}–{lb:%H:%M} ({(b - a) / 3600:.2f} h business time)"
            )
        first = _local(start, calendar.zone).date()
        last = _local(due, calendar.zone).date()
        for day, why in sorted(_closed_days(calendar, first, last).items()):
            lines.append(f"  skips {day:%a %d %b}: {why}")
    local_due = _local(due, calendar.zone if calendar and target.business else zone)
    lines.append(f"  → due {local_due:%a %d %b %Y %H:%M %Z} ({_iso(due)})")
    return {
        "due_at": _iso(due),
        "due_local": local_due.isoformat(),
        "target": target.describe(),
        "business": target.business,
        "calendar": calendar.name if calendar and target.business else None,
        "reasoning": lines,
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def explain_due(
    config: LoopConfig,
    channel: str,
    at: datetime,
    hub: str | None = None,
    zone: str = "UTC",
    load: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The first-response and resolution deadlines of a case on ``channel`` opened from a
    signal at ``at``, on the calendars cases use; with ``hub``, business time is counted on
    that hub's hours instead (a what-if). ``load``: open cases per hub, for the hub lines."""
    word = canonical_word("channel", channel) or channel
    if word not in CHANNELS:
        raise UserError(f"unknown channel {channel!r}", hint=f"channels: {', '.join(CHANNELS)}")
    if hub is not None and hub not in config.hubs:
        raise UserError(
            f"unknown hub {hub!r}", hint=f"hubs in loop.yaml: {', '.join(config.hubs) or 'none'}"
        )
    promise = config.promise(word)

    def calendar_for(name: str | None) -> Calendar | None:
        if hub is not None:  # what if this hub's hours counted
            return config.hubs[hub].calendar
        return config.calendars[name] if name else None

    start = at.astimezone(UTC).timestamp()
    out: dict[str, Any] = {
        "channel": word,
        "at": at.astimezone(UTC).isoformat(),
        "promise_from": promise.source,
        "hub": hub,
        "first_response": _one(
            "first response", promise.first_response,
            calendar_for(promise.response_calendar), start, zone,
        ),
        "resolution": _one(
            "resolution", promise.resolution, calendar_for(promise.resolution_calendar),
            start, zone,
        ),
    }  # fmt: skip
    if config.hubs:
        out["hubs"] = Router(config.hubs, load).explain(start)
    return out
