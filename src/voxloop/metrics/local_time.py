"""UTC instants to wall-clock time of a zone, as a plain SQL expression every engine runs.

Ibis has no portable time-zone conversion, and a Python UDF would not run on PostgreSQL or
Spark. Offsets of a zone are piecewise constant, so over the data's range the local time is
``utc + CASE WHEN ts >= t_k THEN offset_k … END`` with one branch per transition found by
:mod:`zoneinfo` (two a year for zones with summer time, none for UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis


def _offset(zone: ZoneInfo, at: datetime) -> int:
    delta = at.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def transitions(zone_name: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """``[(from_utc, offset_seconds), …]`` covering ``[start, end]``: the first entry is the
    offset at ``start``, then one per change, located to the second."""
    zone = ZoneInfo(zone_name)
    start = start.astimezone(UTC)
    end = end.astimezone(UTC)
    out = [(start, _offset(zone, start))]
    day = start
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        if _offset(zone, nxt) != out[-1][1]:
            low, high = day, nxt  # offset(low) == current, offset(high) != current
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if _offset(zone, mid) == out[-1][1]:
                    low = mid
                else:
                    high = mid
            at = high.replace(microsecond=0)
            if _offset(zone, at) == out[-1][1]:
                at += timedelta(seconds=1)
            out.append((at, _offset(zone, at)))
        day = nxt
    return out


def offset_seconds(ts: Any, zone_name: str, start: datetime, end: datetime) -> Any:
    """An Ibis integer expression: the zone's UTC offset at ``ts`` (in seconds)."""
    steps = transitions(zone_name, start, end)
    if len(steps) == 1:
        return ibis.literal(steps[0][1], type="int64")
    branches = [(ts >= ibis.timestamp(at), off) for at, off in reversed(steps[1:])]
    return ibis.cases(*branches, else_=steps[0][1])


def to_local(ts: Any, zone_name: str, start: datetime, end: datetime) -> Any:
    """``ts`` (UTC) shifted to the zone's wall clock; still typed as a timestamp so that
    ``truncate`` gives local days, weeks, months and quarters."""
    return ts + offset_seconds(ts, zone_name, start, end).as_interval("s")
