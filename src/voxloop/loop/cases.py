"""What agents and managers do with cases: list, show, step through the protocol, assign,
pause and resume the clock. Every change is an event appended to the case's log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from voxloop.errors import UserError
from voxloop.loop.config import LoopConfig
from voxloop.loop.deadlines import BusinessClock, Pause, consumed, due_with_pauses
from voxloop.loop.events import CaseState, Db, NewEvent, append, derive, read_events
from voxloop.loop.protocol import (
    ESCALATED,
    LABELS,
    StepDetails,
    allowed_steps,
    check_step,
    step_word,
)
from voxloop.loop.state_sql import CASE_STATE_SQL

CASE_COLUMNS = (
    "case_id", "customer_id", "opened_at", "rule", "reason", "signal_table", "signal_id",
    "channel", "priority", "priority_explained", "due_at", "signal_at", "resolution_due_at",
    "response_target_s", "resolution_target_s", "response_calendar", "resolution_calendar",
    "value", "score", "instrument",
)  # fmt: skip


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now(UTC)).astimezone(UTC)


def clock_start(case: dict[str, Any]) -> float:
    """When the promise's clock started: when the customer spoke."""
    start: datetime = case["signal_at"] or case["opened_at"]
    return start.timestamp()


class CaseDesk:
    """One case at a time, on any database the case log runs on (DuckDB, PostgreSQL)."""

    def __init__(self, db: Db, config: LoopConfig) -> None:
        self.db = db
        self.config = config

    def _case(self, case_id: str) -> dict[str, Any]:
        rows = self.db.query(
            f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE case_id = ?", [case_id]
        )
        if not rows:
            raise UserError(
                f"no case {case_id!r}", hint="`voxloop cases list` shows the cases and their ids"
            )
        case = dict(zip(CASE_COLUMNS, rows[0], strict=True))
        if isinstance(case["priority_explained"], str):
            case["priority_explained"] = json.loads(case["priority_explained"])
        return case

    def _clock(self, calendar: str | None) -> BusinessClock:
        return BusinessClock(self.config.calendars[calendar] if calendar else None)

    def _due(self, case: dict[str, Any], phase: str, pauses: list[Pause]) -> float | None:
        target = case["response_target_s" if phase == "response" else "resolution_target_s"]
        if target is None:
            return None
        calendar = case["response_calendar" if phase == "response" else "resolution_calendar"]
        return due_with_pauses(self._clock(calendar), clock_start(case), float(target), pauses)

    def deadline(self, case: dict[str, Any], state: CaseState, at: datetime) -> dict[str, Any]:
        """The deadline that applies now (first response until the customer is reached, then
        resolution), how much of the promise is used, and whether it is missed."""
        phase = state.phase
        target = case["response_target_s" if phase == "response" else "resolution_target_s"]
        if state.closed_at is not None or target is None:
            return {"phase": "done" if state.closed_at else "none", "due_at": None}
        calendar = case["response_calendar" if phase == "response" else "resolution_calendar"]
        due = self._due(case, phase, state.pauses)
        used = consumed(self._clock(calendar), clock_start(case), at.timestamp(), state.pauses)
        return {
            "phase": phase,
            "due_at": None if due is None else datetime.fromtimestamp(due, UTC),
            "paused": state.paused,
            "calendar": calendar or "24/7",
            "target_s": float(target),
            "used_share": round(used / float(target), 3),
            "overdue": due is not None and at.timestamp() > due,
        }

    def show(self, case_id: str, at: datetime | None = None) -> dict[str, Any]:
        now = _now(at)
        case = self._case(case_id)
        events = read_events(self.db, case_id)
        state = derive(events)
        return {
            **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in case.items()},
            "state": state.state,
            "state_label": LABELS[state.state],
            "allowed_steps": list(allowed_steps(state.state, state.resume)),
            "owner": state.owner,
            "hub": state.hub,
            "escalation_level": state.escalation_level,
            "paused": state.paused,
            "root_cause": state.root_cause,
            "theme": state.theme,
            "compensation": state.compensation,
            "deadline": {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.deadline(case, state, now).items()
            },
            "events": [e.as_dict() for e in events],
        }

    def _resume(
        self, case: dict[str, Any], state: CaseState, actor: str, now: datetime, note: str | None
    ) -> NewEvent:
        """A ``resume`` event carrying both deadlines moved by every pause so far, so that
        lists and the loop read them from the log without recomputing."""
        pauses = [*state.pauses[:-1], Pause(state.pauses[-1].start, now.timestamp())]
        data: dict[str, Any] = {}
        for phase in ("response", "resolution"):
            due = self._due(case, phase, pauses)
            data[f"due_{phase}"] = (
                None if due is None else datetime.fromtimestamp(due, UTC).isoformat()
            )
        return NewEvent("resume", actor, now, note=note, data=data)

    @staticmethod
    def _in_order(case_id: str, state: CaseState, now: datetime) -> None:
        if state.last_at is not None and now < state.last_at:
            raise UserError(
                f"case {case_id}: {now.isoformat()} is before its last event "
                f"({state.last_at.isoformat()})",
                hint="a case's log only grows forward in time: omit --at, or give a later time",
            )

    def _chain(self, hub: str | None) -> list[str]:
        h = self.config.hubs.get(hub or "")
        return [] if h is None else [x for x in (h.lead, *h.escalation) if x]

    def step(
        self,
        case_id: str,
        step: str,
        actor: str,
        details: StepDetails,
        at: datetime | None = None,
    ) -> CaseState:
        target = step_word(step)
        case = self._case(case_id)
        now = _now(at)

        def move(state: CaseState) -> list[NewEvent]:
            self._in_order(case_id, state, now)
            check_step(case_id, state.state, state.resume, target, details)
            events = [
                NewEvent("step", actor, now, state.state, target, details.note, details.data())
            ]
            if target == ESCALATED:  # up one level, to the next person of the hub's chain
                level = state.escalation_level + 1
                chain = self._chain(state.hub)
                to = chain[min(level, len(chain)) - 1] if chain else None
                data = {"phase": state.phase, "level": level, "to": to, "manual": True}
                events.append(NewEvent("escalate", actor, now, note=details.note, data=data))
            if state.paused:  # reaching the customer again ends a wait on them
                events.append(self._resume(case, state, actor, now, "resumed by a step"))
            return events

        state, _ = append(self.db, case_id, move)
        return state

    def assign(
        self, case_id: str, to: str, actor: str, note: str | None = None, at: datetime | None = None
    ) -> CaseState:
        self._case(case_id)
        now = _now(at)
        kind = "route" if to in self.config.hubs else "assign"

        def move(state: CaseState) -> list[NewEvent]:
            self._in_order(case_id, state, now)
            if not state.is_open:
                raise UserError(f"case {case_id} is closed", hint="a closed case is not assigned")
            data: dict[str, Any] = {"to": to, "from": state.owner}
            if kind == "route":
                data["hub"] = to
            return [NewEvent(kind, actor, now, note=note, data=data)]

        state, _ = append(self.db, case_id, move)
        return state

    def pause(
        self, case_id: str, actor: str, note: str, resume: bool = False, at: datetime | None = None
    ) -> CaseState:
        """Stop (or restart) the clock while the case waits on the customer."""
        case = self._case(case_id)
        now = _now(at)

        def move(state: CaseState) -> list[NewEvent]:
            self._in_order(case_id, state, now)
            if not state.is_open:
                raise UserError(f"case {case_id} is closed")
            if resume and not state.paused:
                raise UserError(f"case {case_id} is not paused")
            if not resume and state.paused:
                raise UserError(f"case {case_id} is already paused", hint="resume it first")
            if not resume and not note:
                raise UserError("say what the case waits for", hint='--note "documents"')
            if resume:
                return [self._resume(case, state, actor, now, note)]
            return [NewEvent("pause", actor, now, note=note)]

        state, _ = append(self.db, case_id, move)
        return state


def list_cases(
    con: duckdb.DuckDBPyConnection,
    config: LoopConfig,
    *,
    as_of: datetime | None = None,
    owner: str | None = None,
    hub: str | None = None,
    overdue: bool = False,
    include_closed: bool = False,
    limit: int | None = 200,
) -> pa.Table:
    """Open cases (or all), most urgent first: overdue, then priority, then deadline.

    The deadline shown is the one that applies now (first response until the customer is
    reached, then resolution), moved by any pause; a paused case has none. The priority is
    the one at opening with its "waited" factor brought up to now."""
    if hub is not None and hub not in config.hubs:
        raise UserError(
            f"unknown hub {hub!r}", hint=f"hubs in loop.yaml: {', '.join(config.hubs) or 'none'}"
        )
    params: list[Any] = [_now(as_of)]
    where = ["TRUE" if include_closed else "state <> 'closed'", "opened_at <= now"]
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if hub is not None:
        where.append("hub = ?")
        params.append(hub)
    if overdue:
        where.append("overdue")
    sql = f"""
        WITH p AS (SELECT CAST(? AS TIMESTAMPTZ) AS now), st AS ({CASE_STATE_SQL}), c AS (
            SELECT c.case_id, c.customer_id, c.rule, c.channel, c.priority, st.state, st.hub,
                   st.owner, c.opened_at, c.signal_at, c.response_target_s,
                   c.priority_explained,
                   CASE WHEN st.responded_at IS NULL THEN st.response_level
                        ELSE st.resolution_level END AS escalation_level,
                   CASE WHEN st.paused THEN NULL  -- the clock is stopped
                        WHEN st.responded_at IS NULL
                        THEN coalesce(CAST(st.due_response AS TIMESTAMPTZ), c.due_at)
                        ELSE coalesce(CAST(st.due_resolution AS TIMESTAMPTZ),
                                      c.resolution_due_at) END AS due_at,
                   st.paused, st.signals
            FROM cases c JOIN st USING (case_id)
        ), d AS (
            SELECT c.*, p.now,
                   coalesce(c.state <> 'closed' AND p.now > c.due_at, false) AS overdue,
                   round(c.priority
                         - coalesce(CAST(c.priority_explained->'waited'->>'points' AS DOUBLE), 0)
                         + 100 * coalesce(CAST(c.priority_explained->'waited'->>'weight'
                                               AS DOUBLE), 0)
                           * least(1.0, greatest(0.0, (epoch(p.now) - epoch(c.signal_at))
                                                      / c.response_target_s)), 1)
                       AS priority_now
            FROM c CROSS JOIN p
        )
        SELECT case_id, customer_id, rule, channel, priority_now AS priority, state, hub,
               owner, escalation_level, opened_at, due_at, overdue, paused, signals,
               round(epoch(due_at) - epoch(now), 0) AS seconds_left
        FROM d WHERE {" AND ".join(where)}
        ORDER BY overdue DESC, priority_now DESC, due_at, case_id
        {"" if limit is None else f"LIMIT {int(limit)}"}
    """
    return con.sql(sql, params=params).to_arrow_table()
