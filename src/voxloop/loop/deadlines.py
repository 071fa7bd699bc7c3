"""Deadlines on business-hours calendars: add a promise to an instant, pausing the clock.

A :class:`BusinessClock` holds one calendar's open spans as sorted arrays of UTC epoch seconds
with the business seconds elapsed before each span. ``B(t)`` (business seconds up to ``t``)
is then one binary search, and its inverse — the instant at which a given amount of business
time has elapsed — another; both are vectorised with NumPy, so a million due dates take
well under a second. Time zones, daylight-saving changes, split shifts and public holidays
are all in the spans (:meth:`voxloop.metrics.Calendar.open_spans_utc`), computed once.

A deadline found this way is the *end* of the business second that exhausts the promise, so
it is always inside opening hours or exactly at a closing time — never in closed hours.
Paused intervals (the case waits on the customer) consume no business time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from voxloop.metrics import Calendar

FloatArray = npt.NDArray[np.float64]
# How far spans are computed at first (days); extended when a promise reaches beyond.
_INITIAL_DAYS = 60


class BusinessClock:
    """Business time on one calendar (``None`` = around the clock)."""

    def __init__(self, calendar: Calendar | None) -> None:
        self.calendar = calendar
        self._first: date | None = None
        self._last: date | None = None
        self.starts: FloatArray = np.empty(0)
        self.ends: FloatArray = np.empty(0)
        self.cum_before: FloatArray = np.empty(0)
        self.cum_after: FloatArray = np.empty(0)

    @property
    def around_the_clock(self) -> bool:
        return self.calendar is None

    def _cover(self, lo: float, hi: float) -> None:
        """Make sure the spans cover instants ``lo``…``hi`` (epoch seconds) with margin."""
        if self.calendar is None:
            return
        first = (datetime.fromtimestamp(lo, UTC) - timedelta(days=2)).date()
        last = (datetime.fromtimestamp(hi, UTC) + timedelta(days=2)).date()
        if self._first is not None and self._last is not None:
            if first >= self._first and last <= self._last:
                return
            first, last = min(first, self._first), max(last, self._last)
        spans = self.calendar.open_spans_utc(first, last)
        # B must keep its value at every instant when the range grows (either way): values
        # handed out before stay comparable with those handed out after.
        anchor = (float(self.starts[0]), float(self.cum_before[0])) if self.starts.size else None
        self.starts = np.array([a.timestamp() for a, _ in spans], dtype=np.float64)
        self.ends = np.array([b.timestamp() for _, b in spans], dtype=np.float64)
        lengths = self.ends - self.starts
        self.cum_after = np.cumsum(lengths)
        self.cum_before = self.cum_after - lengths
        if anchor is not None:
            old_start, old_value = anchor
            shift = self.cum_before[int(np.searchsorted(self.starts, old_start))] - old_value
            self.cum_before -= shift
            self.cum_after -= shift
        self._first, self._last = first, last

    def elapsed(self, t: FloatArray) -> FloatArray:
        """``B(t)``: business seconds from the start of the covered range up to ``t``."""
        if self.calendar is None:
            return t.astype(np.float64, copy=True)
        self._cover(float(t.min()), float(t.max()))
        i = np.searchsorted(self.starts, t, side="right") - 1
        safe = np.maximum(i, 0)
        inside = np.clip(t - self.starts[safe], 0.0, self.ends[safe] - self.starts[safe])
        out: FloatArray = np.where(i >= 0, self.cum_before[safe] + inside, self.cum_before[0])
        return out

    def instant(self, b: FloatArray, hint: FloatArray) -> FloatArray:
        """The earliest instant at which ``B`` reaches ``b`` (``hint``: a lower bound on it,
        used to size the covered range)."""
        if self.calendar is None:
            return b.astype(np.float64, copy=True)
        days = _INITIAL_DAYS
        while True:
            self._cover(float(hint.min()), float(hint.max()) + days * 86400)
            if self.cum_after.size and float(b.max()) <= float(self.cum_after[-1]):
                break
            if days > 366 * 20:
                raise ValueError(f"calendar {self.calendar.name!r} is open too rarely")
            days *= 4
        j = np.searchsorted(self.cum_after, b, side="left")
        out: FloatArray = self.starts[j] + np.maximum(b - self.cum_before[j], 0.0)
        return out

    def is_open(self, t: float) -> bool:
        if self.calendar is None:
            return True
        self._cover(t, t)
        i = int(np.searchsorted(self.starts, t, side="right")) - 1
        return i >= 0 and t < float(self.ends[i])

    def next_open(self, t: float) -> float:
        """``t`` when open, else the next opening."""
        if self.is_open(t):
            return t
        assert self.calendar is not None
        days = 8
        while True:
            self._cover(t, t + days * 86400)
            i = int(np.searchsorted(self.starts, t, side="left"))
            if i < self.starts.size:
                return float(self.starts[i])
            days *= 4

    def closes_at(self, t: float) -> float | None:
        """When the span open at ``t`` ends (``None`` around the clock or when closed)."""
        if self.calendar is None or not self.is_open(t):
            return None
        i = int(np.searchsorted(self.starts, t, side="right")) - 1
        return float(self.ends[i])

    def spans_between(self, lo: float, hi: float) -> list[tuple[float, float]]:
        if self.calendar is None:
            return [(lo, hi)]
        self._cover(lo, hi)
        i = max(int(np.searchsorted(self.starts, lo, side="right")) - 1, 0)
        out = []
        while i < self.starts.size and self.starts[i] < hi:
            a, b = max(float(self.starts[i]), lo), min(float(self.ends[i]), hi)
            if b > a:
                out.append((a, b))
            i += 1
        return out


def due_many(clock: BusinessClock, starts: FloatArray, seconds: FloatArray) -> FloatArray:
    """Deadlines (epoch seconds) of many clocks started at ``starts`` with ``seconds`` of
    promise each, none paused."""
    if starts.size == 0:
        return starts.astype(np.float64)
    return clock.instant(clock.elapsed(starts) + seconds, starts)


@dataclass(frozen=True)
class Pause:
    start: float
    end: float | None  # None: still paused


def due_with_pauses(
    clock: BusinessClock, start: float, seconds: float, pauses: Sequence[Pause]
) -> float | None:
    """The deadline of one clock that was paused over ``pauses`` (sorted, non-overlapping);
    ``None`` while a pause is open — the clock is stopped."""
    remaining = seconds
    cursor = start
    for pause in sorted(pauses, key=lambda p: p.start):
        if pause.end is not None and pause.end <= cursor:
            continue
        p0 = max(pause.start, cursor)
        available = float(clock.elapsed(np.array([p0]))[0] - clock.elapsed(np.array([cursor]))[0])
        if available >= remaining:
            break
        remaining -= available
        if pause.end is None:
            return None
        cursor = pause.end
    b = clock.elapsed(np.array([cursor]))[0] + remaining
    return float(clock.instant(np.array([b]), np.array([cursor]))[0])


def consumed(clock: BusinessClock, start: float, now: float, pauses: Sequence[Pause] = ()) -> float:
    """Business seconds of the promise used between ``start`` and ``now``, pauses excluded."""
    if now <= start:
        return 0.0
    total = float(clock.elapsed(np.array([now]))[0] - clock.elapsed(np.array([start]))[0])
    for pause in pauses:
        lo = max(pause.start, start)
        hi = min(pause.end if pause.end is not None else now, now)
        if hi > lo:
            total -= float(clock.elapsed(np.array([hi]))[0] - clock.elapsed(np.array([lo]))[0])
    return max(total, 0.0)
