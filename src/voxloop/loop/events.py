"""The case log: append-only events, the current state derived from them, safe under
concurrent writers, on DuckDB and PostgreSQL.

Every event carries its position in the case's log (``seq``) and the database refuses two
events at the same position (a unique index). A writer reads the log, derives the state,
checks its move against it and appends at ``last + 1``; when another writer appended in the
meantime, the commit fails, and the move is checked again against the new state — so two
agents clicking "called back" at once give one event and one clear refusal, never a corrupt
log. Nothing is ever updated or deleted.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from voxloop.errors import TransientError
from voxloop.loop.deadlines import Pause
from voxloop.loop.protocol import CLOSED, ESCALATED, NEW

EVENT_COLUMNS = (
    "event_id",
    "case_id",
    "at",
    "actor",
    "kind",
    "from_state",
    "to_state",
    "note",
    "data",
    "seq",
)
_COLUMNS_SQL = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)  # "at" is a reserved word
_RETRIES = 30


class Db(Protocol):
    """The little a case log needs from a database session."""

    dialect: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def is_conflict(self, exc: BaseException) -> bool: ...


class DuckDb:
    """A DuckDB cursor of its own (one per thread)."""

    dialect = "duckdb"

    def __init__(self, cursor: Any) -> None:
        self.cur = cursor

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result = self.cur.execute(sql, list(params))
        try:
            rows: list[tuple[Any, ...]] = result.fetchall()
        except Exception:  # statements without a result set
            return []
        return rows

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.cur.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.cur.execute("ROLLBACK")
            raise
        self.cur.execute("COMMIT")

    def is_conflict(self, exc: BaseException) -> bool:
        import duckdb

        if isinstance(exc, duckdb.TransactionException):
            return True  # a write-write conflict with another transaction
        return isinstance(exc, duckdb.ConstraintException) and "duplicate key" in str(exc).lower()


class PostgresDb:
    """A psycopg connection (autocommit off: one transaction per append)."""

    dialect = "postgres"

    def __init__(self, con: Any) -> None:
        self.con = con

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), list(params))
            return list(cur.fetchall()) if cur.description else []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def is_conflict(self, exc: BaseException) -> bool:
        import psycopg.errors

        return isinstance(exc, psycopg.errors.UniqueViolation | psycopg.errors.SerializationFailure)


@dataclass(frozen=True)
class CaseEvent:
    event_id: str
    case_id: str
    at: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any]
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "note": self.note,
            "data": self.data,
        }


@dataclass
class CaseState:
    """What the log says now (the SQL fold in :mod:`voxloop.loop.state_sql` says the same
    for every case at once)."""

    state: str = NEW
    resume: str | None = None  # the step an escalated case had reached
    owner: str | None = None
    hub: str | None = None
    levels: dict[str, int] = field(default_factory=dict)  # escalation level per phase
    warned_phases: set[str] = field(default_factory=set)
    pauses: list[Pause] = field(default_factory=list)
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    root_cause: str | None = None
    theme: str | None = None
    compensation: float | None = None
    resurveyed: bool = False
    signals: int = 1
    last_seq: int = 0
    last_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state != CLOSED

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None

    @property
    def phase(self) -> str:
        return "response" if self.responded_at is None else "resolution"

    @property
    def escalation_level(self) -> int:
        return self.levels.get(self.phase, 0)


def derive(events: Sequence[CaseEvent]) -> CaseState:
    """Fold the log (in ``seq`` order) into the current state."""
    s = CaseState()
    for e in sorted(events, key=lambda e: e.seq):
        s.last_seq = e.seq
        s.last_at = e.at
        at = e.at.timestamp()
        to = e.data.get("to")
        if e.kind == "step" and e.to_state:
            if e.to_state == ESCALATED:
                s.resume = s.state
            elif s.state == ESCALATED:
                s.resume = None
            s.state = e.to_state
            if s.responded_at is None and e.to_state != ESCALATED:
                s.responded_at = e.at
            if e.to_state == CLOSED:
                s.closed_at = e.at
            if e.data.get("root_cause") is not None:
                s.root_cause = e.data["root_cause"]
            if e.data.get("theme") is not None:
                s.theme = e.data["theme"]
            if e.data.get("compensation") is not None:
                s.compensation = (s.compensation or 0.0) + float(e.data["compensation"])
        elif e.kind in ("assign", "escalate"):
            if to is not None:
                s.owner = to
            if e.kind == "escalate":
                phase = str(e.data.get("phase", "response"))
                s.levels[phase] = max(s.levels.get(phase, 0), int(e.data.get("level", 1)))
        elif e.kind in ("route", "opened"):
            if e.data.get("hub") is not None:
                s.hub = e.data["hub"]
            if to is not None:
                s.owner = to
        elif e.kind == "warning":
            s.warned_phases.add(str(e.data.get("phase")))
        elif e.kind == "pause" and not s.paused:
            s.pauses.append(Pause(at, None))
        elif e.kind == "resume" and s.paused:
            s.pauses[-1] = Pause(s.pauses[-1].start, at)
        elif e.kind == "resurvey":
            s.resurveyed = True
        elif e.kind == "signal":
            s.signals += 1
    return s


def _row_to_event(row: Sequence[Any]) -> CaseEvent:
    data = row[8]
    if isinstance(data, str):
        data = json.loads(data)
    at = row[2]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return CaseEvent(
        str(row[0]),
        str(row[1]),
        at,
        str(row[3]),
        str(row[4]),
        row[5],
        row[6],
        row[7],
        dict(data or {}),
        int(row[9]),
    )


def read_events(db: Db, case_id: str) -> list[CaseEvent]:
    rows = db.query(
        f"SELECT {_COLUMNS_SQL} FROM case_events WHERE case_id = ? ORDER BY seq",
        [case_id],
    )
    return [_row_to_event(r) for r in rows]


@dataclass(frozen=True)
class NewEvent:
    kind: str
    actor: str
    at: datetime
    from_state: str | None = None
    to_state: str | None = None
    note: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


# A move: given the case's state now, the events to append (an empty list appends nothing);
# raises a UserError when the move is not allowed in that state.
Move = Callable[[CaseState], list[NewEvent]]


def append(db: Db, case_id: str, move: Move) -> tuple[CaseState, list[CaseEvent]]:
    """Apply ``move`` to the case's current state and append its events atomically.

    On a race with another writer the move is re-checked against the new state."""
    for attempt in range(_RETRIES):
        if attempt:  # another writer won the race: wait a little, with jitter, and re-check
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
        try:
            with db.transaction():
                events = read_events(db, case_id)
                state = derive(events)
                new = move(state)
                written: list[CaseEvent] = []
                for offset, ev in enumerate(new, start=1):
                    event = CaseEvent(
                        uuid.uuid4().hex,
                        case_id,
                        ev.at,
                        ev.actor,
                        ev.kind,
                        ev.from_state,
                        ev.to_state,
                        ev.note,
                        ev.data,
                        state.last_seq + offset,
                    )
                    _insert(db, event)
                    written.append(event)
            return derive([*events, *written]), written
        except Exception as exc:
            if not db.is_conflict(exc):
                raise
    raise TransientError(
        f"case {case_id} is being changed by others right now",
        hint="try again in a moment",
    )


def _insert(db: Db, e: CaseEvent) -> None:
    db.query(
        f"INSERT INTO case_events ({_COLUMNS_SQL}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            e.event_id,
            e.case_id,
            e.at,
            e.actor,
            e.kind,
            e.from_state,
            e.to_state,
            e.note,
            json.dumps(e.data, ensure_ascii=False, default=str),
            e.seq,
        ],
    )
