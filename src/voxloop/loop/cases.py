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
from voxloop.loop.engine import CASE_STATE_SQL
from voxloop.loop.events import CaseState, Db, NewEvent, append, read_events
from voxloop.loop.protocol import LABELS, StepDetails, allowed_steps, check_step, step_word

CASE_COLUMNS = (
    "case_id", "customer_id", "opened_at", "rule", "reason", "signal_table", "signal_id",
    "channel", "priority", "priority_explained", "due_at", "signal_at", "resolution_due_at",
    "response_target_s", "resolution_target_s", "calendar", "value", "score", "instrument",
)  # fmt: skip


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now(UTC)).astimezone(UTC)


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

    def deadline(self, case: dict[str, Any], state: CaseState, at: datetime) -> dict[str, Any]:
        """The deadline that applies now (first response until the customer is reached, then
        resolution), how much of the promise is used, and whether it is missed."""
        phase = "response" if state.responded_at is None else "resolution"
        target = case["response_target_s"] if phase == "response" else case["resolution_target_s"]
        if state.closed_at is not None or target is None:
            return {"phase": "none" if target is None else "done", "due_at": None}
        calendar = case["calendar"]
        clock = BusinessClock(self.config.calendars[calendar] if calendar else None)
        start = case["opened_at"].timestamp()
        due = due_with_pauses(clock, start, float(target), state.pauses)
        used = consumed(clock, start, at.timestamp(), state.pauses)
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
        from voxloop.loop.events import derive

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
        calendar = case["calendar"]
        clock = BusinessClock(self.config.calendars[calendar] if calendar else None)
        start = case["opened_at"].timestamp()
        data: dict[str, Any] = {}
        for key, target in (
            ("due_response", case["response_target_s"]),
            ("due_resolution", case["resolution_target_s"]),
        ):
            if target is not None:
                due = due_with_pauses(clock, start, float(target), pauses)
                data[key] = None if due is None else datetime.fromtimestamp(due, UTC).isoformat()
        return NewEvent("resume", actor, now, note=note, data=data)

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
            check_step(case_id, state.state, state.resume, target, details)
            events = [
                NewEvent("step", actor, now, state.state, target, details.note, details.data())
            ]
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
    *,
    as_of: datetime | None = None,
    owner: str | None = None,
    hub: str | None = None,
    overdue: bool = False,
    include_closed: bool = False,
    limit: int | None = 200,
) -> pa.Table:
    """Open cases (or all), most urgent first: overdue, then priority, then deadline. The
    deadline shown is the one that applies now (first response until the customer is
    reached, then resolution), moved by any pause; a paused case has none."""
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
                   st.owner, st.escalation_level, c.opened_at,
                   CASE WHEN st.pauses > st.resumes THEN NULL  -- the clock is stopped
                        WHEN st.responded_at IS NULL
                        THEN coalesce(CAST(st.due_response AS TIMESTAMPTZ), c.due_at)
                        ELSE coalesce(CAST(st.due_resolution AS TIMESTAMPTZ),
                                      c.resolution_due_at) END AS due_at,
                   st.pauses > st.resumes AS paused, st.signals
            FROM cases c JOIN st USING (case_id)
        ), d AS (
            SELECT c.*, p.now,
                   coalesce(c.state <> 'closed' AND p.now > c.due_at, false) AS overdue
            FROM c CROSS JOIN p
        )
        SELECT case_id, customer_id, rule, channel, priority, state, hub, owner,
               escalation_level, opened_at, due_at, overdue, paused, signals,
               round(epoch(due_at) - epoch(now), 0) AS seconds_left
        FROM d WHERE {" AND ".join(where)}
        ORDER BY overdue DESC, priority DESC, due_at, case_id
        {"" if limit is None else f"LIMIT {int(limit)}"}
    """
    return con.sql(sql, params=params).to_arrow_table()
