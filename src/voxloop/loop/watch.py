"""The watch pass of a loop run: for every open case, warn before its deadline, escalate on
breach — to the hub's lead, then each next level as lateness grows — and hand the case over
to an open hub when its own has closed with the work pending.

Lateness is counted on the same clock as the promise: a 24-business-hour e-mail promise
missed on Friday evening is not "67 hours late" on Monday morning, but a few business
hours. Each phase (first response, resolution) escalates on its own, one event per level
crossed, so the lead is always told before the director.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from voxloop.loop.config import LoopConfig
from voxloop.loop.deadlines import BusinessClock, Pause, due_many, due_with_pauses
from voxloop.loop.notify import Notification
from voxloop.loop.records import events_table, hours, insert_arrow, iso
from voxloop.loop.routing import Router
from voxloop.loop.state_sql import CASE_STATE_SQL

# Beyond this many notifications of one kind in a run, one digest is sent instead.
DIGEST_OVER = 50

WATCH_SQL = f"""
    WITH st AS ({CASE_STATE_SQL})
    SELECT c.case_id,
           epoch(coalesce(c.signal_at, c.opened_at)) AS start,
           st.responded_at IS NULL AS responding,
           CASE WHEN st.responded_at IS NULL THEN c.response_calendar
                ELSE c.resolution_calendar END AS cal,
           CASE WHEN st.responded_at IS NULL THEN c.response_target_s
                ELSE c.resolution_target_s END AS target,
           epoch(CASE WHEN st.responded_at IS NULL
                      THEN coalesce(CAST(st.due_response AS TIMESTAMPTZ), c.due_at)
                      ELSE coalesce(CAST(st.due_resolution AS TIMESTAMPTZ), c.resolution_due_at)
                 END) AS due,
           st.hub, st.owner,
           CASE WHEN st.responded_at IS NULL THEN st.response_level
                ELSE st.resolution_level END AS level,
           coalesce(list_contains(st.warned_phases,
               CASE WHEN st.responded_at IS NULL THEN 'response' ELSE 'resolution' END),
               false) AS warned,
           st.pauses, st.paused, st.last_seq
    FROM cases c JOIN st USING (case_id)
    WHERE st.state <> 'closed' AND c.opened_at <= ?
    ORDER BY c.case_id
"""


@dataclass
class WatchCounts:
    warnings: int = 0
    escalations: int = 0
    handovers: int = 0


class Watcher:
    def __init__(self, config: LoopConfig, clocks: dict[str, BusinessClock]) -> None:
        self.config = config
        self.clocks = clocks

    def clock(self, calendar: str | None) -> BusinessClock:
        key = calendar or ""
        if key not in self.clocks:
            self.clocks[key] = BusinessClock(self.config.calendars[calendar] if calendar else None)
        return self.clocks[key]

    def chain(self, hub: str | None) -> list[str]:
        h = self.config.hubs.get(hub or "")
        return [] if h is None else [x for x in (h.lead, *h.escalation) if x]

    def watch(
        self, con: duckdb.DuckDBPyConnection, as_of: Any, notifications: list[Notification]
    ) -> WatchCounts:
        counts = WatchCounts()
        now = as_of.timestamp()
        t = con.sql(WATCH_SQL, params=[as_of]).to_arrow_table()
        if t.num_rows == 0:
            return counts
        c = {name: t[name].to_pylist() for name in t.column_names}
        n = t.num_rows
        start = np.asarray(c["start"], dtype=np.float64)
        target = np.array([np.nan if x is None else x for x in c["target"]], np.float64)
        due = np.array([np.nan if x is None else x for x in c["due"]], np.float64)
        warn = self._warn_instants(con, c, start, target)
        late_b = self._business_lateness(c["cal"], due, now)
        load: dict[str, int] = {}
        for hub in c["hub"]:
            if hub:
                load[hub] = load.get(hub, 0) + 1
        router = Router(self.config.hubs, load)
        open_hubs = set(router.open_hubs(now))
        new: list[tuple[str, str, str, dict[str, Any], int]] = []
        for i in range(n):
            case_id, hub, owner = c["case_id"][i], c["hub"][i], c["owner"][i]
            phase = "response" if c["responding"][i] else "resolution"
            seq, level = int(c["last_seq"][i]), int(c["level"][i])
            if not c["paused"][i] and not np.isnan(due[i]):
                late = now > due[i]
                if not late and now >= warn[i] and not c["warned"][i]:
                    seq += 1
                    data: dict[str, Any] = {"phase": phase, "due_at": iso(float(due[i]))}
                    note = f"{phase} deadline at {iso(float(due[i]))}"
                    new.append((case_id, "warning", note, data, seq))
                    counts.warnings += 1
                if late:
                    chain = self.chain(hub)
                    steps = late_b[i] // (self.config.escalate_every * float(target[i]))
                    wanted = 1 + int(steps)
                    wanted = min(wanted, max(len(chain), 1))
                    for lvl in range(level + 1, wanted + 1):
                        seq += 1
                        to = chain[lvl - 1] if lvl - 1 < len(chain) else None
                        note = (
                            f"{phase} deadline missed by {hours(float(late_b[i]))} of "
                            f"{'business ' if c['cal'][i] else ''}time: level {lvl}"
                            + (f", to {to}" if to else "")
                        )
                        data = {
                            "phase": phase,
                            "level": lvl,
                            "to": to,
                            "due_at": iso(float(due[i])),
                        }
                        new.append((case_id, "escalate", note, data, seq))
                        counts.escalations += 1
                        owner = to or owner
                    if wanted > level:
                        level = wanted
            if open_hubs and hub not in open_hubs:
                target_hub = router.handover(hub, now)
                if target_hub is not None:
                    seq += 1
                    data = {"hub": target_hub, "from": hub}
                    # a person keeps the case (an agent, a lead it was escalated to); a team's
                    # case goes to the team that is open
                    if owner is None or owner == hub or owner in self.config.hubs:
                        data["to"] = target_hub
                    note = f"hand-over: {hub or 'no hub'} is closed, {target_hub} is open"
                    new.append((case_id, "route", note, data, seq))
                    counts.handovers += 1
        if new:
            insert_arrow(
                con,
                "case_events",
                events_table(
                    case_ids=[x[0] for x in new],
                    at=as_of,
                    kinds=[x[1] for x in new],
                    notes=[x[2] for x in new],
                    data=[json.dumps(x[3]) for x in new],
                    seqs=[x[4] for x in new],
                ),
            )
            notifications.extend(self._notifications(new))
        return counts

    def _business_lateness(
        self, calendars: list[str | None], due: np.ndarray[Any, np.dtype[np.float64]], now: float
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Time past each deadline, counted on the deadline's own clock (business seconds on
        a calendar, plain seconds around the clock); 0 when not late."""
        late = np.zeros(len(due))
        groups: dict[str, list[int]] = {}
        for i, cal in enumerate(calendars):
            if not np.isnan(due[i]) and now > due[i]:
                groups.setdefault(cal or "", []).append(i)
        for cal, idx in groups.items():
            clock = self.clock(cal or None)
            at = np.array(idx)
            elapsed_now = float(clock.elapsed(np.array([now]))[0])
            late[at] = elapsed_now - clock.elapsed(due[at])
        return late

    def _warn_instants(
        self,
        con: duckdb.DuckDBPyConnection,
        c: dict[str, list[Any]],
        start: np.ndarray[Any, np.dtype[np.float64]],
        target: np.ndarray[Any, np.dtype[np.float64]],
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """When each case's warning is due: vectorised per calendar; cases that were paused
        one by one with their pauses."""
        n = len(start)
        warn = np.full(n, np.inf)
        share = self.config.warn_at
        paused_rows = [i for i in range(n) if c["pauses"][i]]
        by_cal: dict[str, list[int]] = {}
        for i in range(n):
            if not c["pauses"][i] and not np.isnan(target[i]):
                by_cal.setdefault(c["cal"][i] or "", []).append(i)
        for cal, idx in by_cal.items():
            at = np.array(idx)
            warn[at] = due_many(self.clock(cal or None), start[at], target[at] * share)
        spans = _pauses(con, [c["case_id"][i] for i in paused_rows])
        for i in paused_rows:
            if np.isnan(target[i]):
                continue
            w = due_with_pauses(
                self.clock(c["cal"][i]), start[i], target[i] * share, spans[c["case_id"][i]]
            )
            warn[i] = np.inf if w is None else w
        return warn

    def _notifications(
        self, new: list[tuple[str, str, str, dict[str, Any], int]]
    ) -> list[Notification]:
        """One notification per event — or one digest per kind when there are many (a
        backfill must not send thousands of e-mails)."""
        by_event: dict[str, list[int]] = {}
        for k, (_case_id, kind, _note, data, _seq) in enumerate(new):
            if kind == "warning":
                by_event.setdefault("deadline_warning", []).append(k)
            elif kind == "escalate":
                if data["level"] == 1:
                    by_event.setdefault("deadline_breached", []).append(k)
                by_event.setdefault("escalated", []).append(k)
        people = self.config.people
        out: list[Notification] = []
        for event, rows in by_event.items():
            if len(rows) > DIGEST_OVER:
                ids = [new[k][0] for k in rows]
                text = "Cases: " + ", ".join(ids[:100]) + (" …" if len(ids) > 100 else "")
                subject = f"{len(ids)} cases: {event.replace('_', ' ')}"
                out.append(Notification(event, None, subject, text, {"case_ids": ids}))
                continue
            for k in rows:
                case_id, _kind, note, data, _seq = new[k]
                to = data.get("to")
                recipients = (people[to],) if to in people else ()
                out.append(
                    Notification(event, case_id, f"Case {case_id}: {note}", note, data, recipients)
                )
        return out


def _pauses(con: duckdb.DuckDBPyConnection, case_ids: list[str]) -> dict[str, list[Pause]]:
    out: dict[str, list[Pause]] = {c: [] for c in case_ids}
    if not case_ids:
        return out
    con.register("_paused", pa.table({"case_id": pa.array(case_ids, pa.string())}))
    rows = con.execute(
        "SELECT case_id, kind, epoch(\"at\") FROM case_events WHERE kind IN ('pause', 'resume') "
        "AND case_id IN (SELECT case_id FROM _paused) ORDER BY case_id, seq"
    ).fetchall()
    con.unregister("_paused")
    for case_id, kind, at in rows:
        spans = out[case_id]
        if kind == "pause" and not (spans and spans[-1].end is None):
            spans.append(Pause(float(at), None))
        elif kind == "resume" and spans and spans[-1].end is None:
            spans[-1] = Pause(spans[-1].start, float(at))
    return out
