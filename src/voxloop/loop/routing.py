"""Follow-the-sun routing: a case goes to a hub that is open now — the least loaded for its
number of agents — or, when every hub is closed, to the one that opens first; a case whose
hub has closed with the work still pending moves to a hub that is open, and the hand-over is
recorded in the case's log by the caller.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from voxloop.loop.config import Hub
from voxloop.loop.deadlines import BusinessClock


class Router:
    def __init__(self, hubs: Mapping[str, Hub], load: Mapping[str, int] | None = None) -> None:
        self.hubs = dict(hubs)
        self.order = list(hubs)
        self.clocks = {name: BusinessClock(h.calendar) for name, h in hubs.items()}
        self.load = {name: int((load or {}).get(name, 0)) for name in hubs}

    def open_hubs(self, at: float) -> list[str]:
        return [h for h in self.order if self.clocks[h].is_open(at)]

    def _pressure(self, hub: str) -> tuple[float, int]:
        return self.load[hub] / self.hubs[hub].agents, self.order.index(hub)

    def _candidates(self, at: float) -> list[str]:
        open_now = self.open_hubs(at)
        if open_now:
            return open_now
        opening = {h: self.clocks[h].next_open(at) for h in self.order}
        first = min(opening.values())
        return [h for h in self.order if opening[h] == first]

    def choose(self, at: float) -> str | None:
        """The hub for one new case at ``at`` (its load is counted)."""
        if not self.hubs:
            return None
        hub = min(self._candidates(at), key=self._pressure)
        self.load[hub] += 1
        return hub

    def assign_many(self, count: int, at: float) -> list[str | None]:
        """Hubs for ``count`` cases opened at once, balanced by load per agent."""
        if not self.hubs:
            return [None] * count
        heap = [(*self._pressure(h), h) for h in self._candidates(at)]
        heapq.heapify(heap)
        out: list[str | None] = []
        for _ in range(count):
            _p, _o, hub = heapq.heappop(heap)
            out.append(hub)
            self.load[hub] += 1
            heapq.heappush(heap, (*self._pressure(hub), hub))
        return out

    def handover(self, hub: str | None, at: float) -> str | None:
        """Where a pending case of ``hub`` should go at ``at``: ``None`` to stay (its hub is
        open, or no other hub is)."""
        if hub is not None and hub in self.clocks and self.clocks[hub].is_open(at):
            return None
        open_now = [h for h in self.open_hubs(at) if h != hub]
        if not open_now:
            return None
        target = min(open_now, key=self._pressure)
        self.load[target] += 1
        if hub in self.load:
            self.load[hub] -= 1
        return target

    def explain(self, at: float) -> list[str]:
        """One line per hub: open or when it opens, and its load (for ``sla due`` and cases)."""
        lines = []
        for h in self.order:
            clock = self.clocks[h]
            cal = self.hubs[h].calendar
            zone = cal.zone
            local = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(zone))
            if clock.is_open(at):
                closes = clock.closes_at(at)
                until = (
                    datetime.fromtimestamp(closes, UTC).astimezone(ZoneInfo(zone)).strftime("%H:%M")
                    if closes is not None
                    else "—"
                )
                state = f"open ({local:%a %H:%M} local, until {until})"
            else:
                opens = datetime.fromtimestamp(clock.next_open(at), UTC).astimezone(ZoneInfo(zone))
                state = f"closed ({local:%a %H:%M} local; opens {opens:%a %d %b %H:%M})"
            lines.append(
                f"{h} [{zone}]: {state}, {self.load[h]} open case(s), "
                f"{self.hubs[h].agents} agent(s)"
            )
        return lines
