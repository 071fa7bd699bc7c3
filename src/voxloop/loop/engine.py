"""``voxloop loop run``: open cases from new signals, then watch the open ones — warn before a
deadline, escalate on breach (the hub's lead, then the next level), hand cases over to a hub
that is open when theirs has closed.

One run is one transaction on the store: it either happens entirely or not at all, and a
run at the same instant twice changes nothing (signals are read once, by load; warnings and
escalations are recorded once per level).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from voxloop.errors import TransientError
from voxloop.loop.config import LoopConfig
from voxloop.loop.deadlines import BusinessClock, Pause, due_many, due_with_pauses
from voxloop.loop.notify import Notification
from voxloop.loop.opening import (
    deadlines,
    decide,
    matched_signals_sql,
    priority_factors,
    value_reference,
)
from voxloop.loop.routing import Router
from voxloop.store.duckdb_store import DuckDBStore

LOOP_ACTOR = "voxloop-loop"

# Current state of every case, derived from its log in one pass (the Python fold in
# :func:`voxloop.loop.events.derive` says the same for one case).
CASE_STATE_SQL = """
    SELECT case_id,
           coalesce(arg_max(to_state, seq) FILTER (WHERE kind = 'step'), 'new') AS state,
           min("at") FILTER (WHERE kind = 'step' AND to_state <> 'escalated') AS responded_at,
           max("at") FILTER (WHERE kind = 'step' AND to_state = 'closed') AS closed_at,
           arg_max(data->>'hub', seq) FILTER (WHERE kind IN ('opened', 'route')) AS hub,
           arg_max(data->>'to', seq)
               FILTER (WHERE data->>'to' IS NOT NULL
                       AND kind IN ('opened', 'route', 'assign', 'escalate')) AS owner,
           coalesce(max(CAST(data->>'level' AS INTEGER)) FILTER (WHERE kind = 'escalate'), 0)
               AS escalation_level,
           list(DISTINCT data->>'phase') FILTER (WHERE kind = 'warning') AS warned_phases,
           count(*) FILTER (WHERE kind = 'pause') AS pauses,
           count(*) FILTER (WHERE kind = 'resume') AS resumes,
           count(*) FILTER (WHERE kind = 'signal') + 1 AS signals,
           bool_or(kind = 'resurvey') AS resurveyed,
           arg_max(data->>'root_cause', seq) FILTER (WHERE data->>'root_cause' IS NOT NULL)
               AS root_cause,
           arg_max(data->>'theme', seq) FILTER (WHERE data->>'theme' IS NOT NULL) AS theme,
           sum(CAST(data->>'compensation' AS DOUBLE)) AS compensation,
           arg_max(data->>'due_response', seq) FILTER (WHERE kind = 'resume') AS due_response,
           arg_max(data->>'due_resolution', seq) FILTER (WHERE kind = 'resume')
               AS due_resolution,
           max(seq) AS last_seq
    FROM case_events GROUP BY case_id
"""


@dataclass
class RunResult:
    run_id: int
    as_of: datetime
    signals: int = 0
    matched: int = 0
    opened: int = 0
    attached: int = 0
    cooling_off: int = 0
    warnings: int = 0
    escalations: int = 0
    handovers: int = 0
    duration_s: float = 0.0
    notifications: list[Notification] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.__dict__.items()
            if k != "notifications"
        }


def _epoch(ts: datetime) -> float:
    return ts.timestamp()


def _from_epoch(values: np.ndarray[Any, np.dtype[np.float64]]) -> pa.Array:
    micros = np.where(np.isnan(values), 0, np.round(values * 1e6)).astype(np.int64)
    return pa.array(micros, pa.int64(), mask=np.isnan(values)).cast(pa.timestamp("us", "UTC"))


class LoopEngine:
    def __init__(self, store: DuckDBStore, config: LoopConfig) -> None:
        self.store = store
        self.config = config
        self.clocks: dict[str, BusinessClock] = {}

    def clock(self, calendar: str | None) -> BusinessClock:
        key = calendar or ""
        if key not in self.clocks:
            self.clocks[key] = BusinessClock(self.config.calendars[calendar] if calendar else None)
        return self.clocks[key]

    # -- the run ------------------------------------------------------------------------------
    def run(self, as_of: datetime | None = None, actor: str = LOOP_ACTOR) -> RunResult:
        as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
        started = time.perf_counter()
        try:
            with self.store.transaction() as con:
                run_id = int(
                    con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM loop_runs").fetchall()[0][
                        0
                    ]
                )
                result = RunResult(run_id, as_of)
                last_load = self._open_cases(con, result)
                self._watch(con, result)
                result.duration_s = time.perf_counter() - started
                con.execute(
                    "INSERT INTO loop_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        datetime.now(UTC),
                        as_of,
                        last_load,
                        result.signals,
                        result.matched,
                        result.opened,
                        result.attached,
                        result.cooling_off,
                        result.duration_s,
                        actor,
                    ],
                )
        except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
            raise TransientError(
                "cases changed while the loop was running; nothing was written",
                hint="run `voxloop loop run` again",
            ) from exc
        return result

    # -- opening ------------------------------------------------------------------------------
    def _open_cases(self, con: duckdb.DuckDBPyConnection, result: RunResult) -> int | None:
        row = con.execute(
            "SELECT last_load_id, as_of FROM loop_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchall()
        since = int(row[0][0] or 0) if row else 0
        since_at = row[0][1] if row else datetime(1900, 1, 1, tzinfo=UTC)
        window = [result.as_of, since, since_at]
        row = con.execute(
            "SELECT (SELECT max(load_id) FROM feedback), count(*) FROM feedback f "
            "WHERE f.answered_at <= ? AND (f.load_id > ? OR f.answered_at > ?)",
            window,
        ).fetchall()
        last_load = int(row[0][0]) if row[0][0] is not None else since
        result.signals = int(row[0][1])
        if not self.config.rules or result.signals == 0:
            return last_load
        m: pa.Table = con.sql(matched_signals_sql(self.config), params=window).to_arrow_table()
        result.matched = m.num_rows
        if m.num_rows == 0:
            return last_load
        con.register("_loop_matched", m.select(["who"]))
        existing = con.execute(
            f"""
            WITH st AS ({CASE_STATE_SQL})
            SELECT coalesce(c.customer_id, 'signal:' || c.signal_id) AS who, c.reason,
                   c.case_id, c.opened_at, st.state
            FROM cases c JOIN st USING (case_id)
            WHERE coalesce(c.customer_id, 'signal:' || c.signal_id)
                  IN (SELECT who FROM _loop_matched)
            """
        ).fetchall()
        con.unregister("_loop_matched")
        existing_open = {(w, r): cid for w, r, cid, _at, st in existing if st != "closed"}
        last_opened: dict[str, datetime] = {}
        for w, _r, _cid, at, _st in existing:
            if w not in last_opened or at > last_opened[w]:
                last_opened[w] = at
        next_id = self._next_case_number(con)
        who = m["who"].to_pylist()
        rules = [r[0] for r in m["rules"].to_pylist()]
        bypass = frozenset(r.id for r in self.config.rules if r.bypass_cooling_off)
        d = decide(
            who,
            rules,
            existing_open,
            last_opened,
            result.as_of,
            self.config.cooling_off_s,
            bypass,
            next_id,
        )
        result.opened = len(d.new_case_rows)
        result.attached = d.decision.count("attached")
        result.cooling_off = d.decision.count("cooling_off")
        signals = pa.table(
            {
                "run_id": pa.array([result.run_id] * m.num_rows, pa.int64()),
                "signal_table": pa.array(["feedback"] * m.num_rows, pa.string()),
                "signal_id": m["feedback_id"],
                "signal_at": m["signal_at"],
                "customer_id": m["who"],
                "rule": pa.array(rules, pa.string()),
                "decision": pa.array(d.decision, pa.string()),
                "case_id": pa.array(d.case_id, pa.string()),
            }
        )
        _insert_arrow(con, "loop_signals", signals)
        if d.new_case_rows:  # first: signals of this run may join the cases it opens
            self._create(con, result, m, d.new_case_rows, d.case_id)
        self._attach(con, result, m, d.decision, d.case_id)
        return last_load

    @staticmethod
    def _next_case_number(con: duckdb.DuckDBPyConnection) -> int:
        row = con.execute(
            "SELECT max(TRY_CAST(substr(case_id, 2) AS BIGINT)) FROM cases WHERE case_id LIKE 'C%'"
        ).fetchall()
        return int(row[0][0] or 0) + 1

    def _attach(
        self,
        con: duckdb.DuckDBPyConnection,
        result: RunResult,
        m: pa.Table,
        decision: list[str],
        case_ids: list[str | None],
    ) -> None:
        """A signal with the same reason as an open case joins it (a ``signal`` event)."""
        rows = [i for i, x in enumerate(decision) if x == "attached"]
        if not rows:
            return
        ids = [case_ids[i] for i in rows]
        con.register(
            "_attach_ids",
            pa.table({"case_id": pa.array(sorted({c for c in ids if c is not None}))}),
        )
        last = dict(
            con.execute(
                "SELECT case_id, coalesce(max(seq), 0) FROM case_events "
                "WHERE case_id IN (SELECT case_id FROM _attach_ids) GROUP BY case_id"
            ).fetchall()
        )
        con.unregister("_attach_ids")
        seqs: list[int] = []
        for cid in ids:
            assert cid is not None
            last[cid] = last.get(cid, 0) + 1
            seqs.append(last[cid])
        feedback_ids = m["feedback_id"].to_pylist()
        events = _events(
            case_ids=ids,
            at=result.as_of,
            kind="signal",
            notes=[f"another signal: {feedback_ids[i]}" for i in rows],
            data=[json.dumps({"signal_id": feedback_ids[i]}) for i in rows],
            seqs=seqs,
        )
        _insert_arrow(con, "case_events", events)

    def _create(
        self,
        con: duckdb.DuckDBPyConnection,
        result: RunResult,
        m: pa.Table,
        rows: list[int],
        case_ids: list[str | None],
    ) -> None:
        config = self.config
        as_of = _epoch(result.as_of)
        factors = priority_factors(config, m, rows, value_reference(con, config), as_of)
        weights = config.weights
        priority = 100 * np.sum([weights[f] * v for f, v in factors.items()], axis=0)
        t = m.take(pa.array(rows, pa.int64()))
        channels = t["channel"].to_pylist()
        response, resolution = deadlines(config, channels, as_of, self.clocks)
        promises = [config.promise(c) for c in channels]
        load = dict(
            con.execute(
                f"WITH st AS ({CASE_STATE_SQL}) SELECT hub, count(*) FROM st "
                "WHERE state <> 'closed' AND hub IS NOT NULL GROUP BY hub"
            ).fetchall()
        )
        hubs = Router(config.hubs, load).assign_many(len(rows), as_of)
        ids = [case_ids[i] for i in rows]
        n = len(rows)
        matched_rules = t["rules"].to_pylist()
        cases = pa.table(
            {
                "case_id": pa.array(ids, pa.string()),
                "customer_id": t["customer_id"],
                "opened_at": pa.array([result.as_of] * n, pa.timestamp("us", "UTC")),
                "rule": pa.array([r[0] for r in matched_rules], pa.string()),
                "reason": pa.array([r[0] for r in matched_rules], pa.string()),
                "signal_table": pa.array(["feedback"] * n, pa.string()),
                "signal_id": t["feedback_id"],
                "channel": t["channel"],
                "priority": pa.array(priority, pa.float64()),
                "also_matched": pa.array([r[1:] for r in matched_rules], pa.list_(pa.string())),
                **{f"f_{k}": pa.array(v, pa.float64()) for k, v in factors.items()},
                "due_at": _from_epoch(response),
                "signal_at": t["signal_at"],
                "resolution_due_at": _from_epoch(resolution),
                "response_target_s": pa.array(
                    [p.first_response.seconds for p in promises], pa.float64()
                ),
                "resolution_target_s": pa.array(
                    [p.resolution.seconds if p.resolution else None for p in promises],
                    pa.float64(),
                ),
                "calendar": pa.array([p.calendar for p in promises], pa.string()),
                "value": t["value"],
                "score": t["score"],
                "instrument": t["instrument"],
                "hub": pa.array(hubs, pa.string()),
            }
        )
        con.register("_new_cases", cases)
        w = weights
        explain = ", ".join(
            f"{f} := {{'value': round(f_{f}, 3), 'weight': round({w[f]!r}, 3), "
            f"'points': round(100 * {w[f]!r} * f_{f}, 1)}}"
            for f in factors
        )
        con.execute(
            f"""
            INSERT INTO cases (case_id, customer_id, opened_at, rule, reason, signal_table,
                signal_id, channel, priority, priority_explained, due_at, signal_at,
                resolution_due_at, response_target_s, resolution_target_s, calendar, value,
                score, instrument, run_id)
            SELECT case_id, customer_id, opened_at, rule, reason, signal_table, signal_id,
                channel, round(priority, 1),
                to_json(struct_pack({explain}, also_matched := also_matched)),
                due_at, signal_at, resolution_due_at, response_target_s, resolution_target_s,
                calendar, value, score, instrument, {result.run_id}
            FROM _new_cases
            """
        )
        con.execute(
            """
            INSERT INTO case_events (event_id, case_id, "at", actor, kind, from_state, to_state,
                note, data, seq)
            SELECT replace(CAST(uuid() AS VARCHAR), '-', ''), case_id, opened_at, ?, 'opened',
                NULL, 'new', 'opened by rule ' || rule,
                to_json(struct_pack(hub := hub, "to" := hub, rule := rule, signal_id := signal_id)),
                1
            FROM _new_cases
            """,
            [LOOP_ACTOR],
        )
        con.unregister("_new_cases")
        if n > 1000:  # a backfill does not send thousands of messages
            return
        result.notifications.extend(
            Notification(
                "case_opened",
                cid,
                f"New case {cid}: {rule} (priority {p:.0f})",
                f"Case {cid} was opened by rule {rule} and routed to {hub or 'no hub'}.",
                {"case_id": cid, "rule": rule, "priority": round(float(p), 1), "hub": hub},
            )
            for cid, rule, p, hub in zip(
                ids, cases["rule"].to_pylist(), priority, hubs, strict=True
            )
        )

    # -- watching -----------------------------------------------------------------------------
    def _watch(self, con: duckdb.DuckDBPyConnection, result: RunResult) -> None:
        """Warnings, escalations and hand-overs for the open cases at ``result.as_of``.

        Deadlines and warning instants are computed for all open cases at once, per
        calendar; only cases whose clock was paused are computed one by one."""
        now = _epoch(result.as_of)
        config = self.config
        t = con.sql(
            f"""
            WITH st AS ({CASE_STATE_SQL})
            SELECT c.case_id, epoch(c.opened_at) AS opened, coalesce(c.calendar, '') AS cal,
                   CASE WHEN st.responded_at IS NULL THEN 'response' ELSE 'resolution' END
                       AS phase,
                   CASE WHEN st.responded_at IS NULL THEN c.response_target_s
                        ELSE c.resolution_target_s END AS target,
                   epoch(CASE WHEN st.responded_at IS NULL THEN c.due_at
                              ELSE c.resolution_due_at END) AS due,
                   st.hub, st.escalation_level AS level,
                   coalesce(list_contains(st.warned_phases,
                       CASE WHEN st.responded_at IS NULL THEN 'response' ELSE 'resolution' END),
                       false) AS warned,
                   st.pauses, st.last_seq
            FROM cases c JOIN st USING (case_id)
            WHERE st.state <> 'closed' AND c.opened_at <= ?
            ORDER BY c.case_id
            """,
            params=[result.as_of],
        ).to_arrow_table()
        if t.num_rows == 0:
            return
        cols = {name: t[name].to_pylist() for name in t.column_names}
        n = t.num_rows
        opened = np.asarray(cols["opened"], dtype=np.float64)
        target = np.array([np.nan if x is None else x for x in cols["target"]], np.float64)
        due = np.array([np.nan if x is None else x for x in cols["due"]], np.float64)
        warn = np.full(n, np.nan)
        paused_rows = [i for i in range(n) if cols["pauses"][i]]
        pauses = self._pauses(con, [cols["case_id"][i] for i in paused_rows])
        by_cal: dict[str, list[int]] = {}
        for i, cal in enumerate(cols["cal"]):
            if not cols["pauses"][i] and not np.isnan(target[i]):
                by_cal.setdefault(cal, []).append(i)
        for cal, idx in by_cal.items():
            at = np.array(idx)
            warn[at] = due_many(self.clock(cal or None), opened[at], target[at] * config.warn_at)
        for i in paused_rows:
            if np.isnan(target[i]):
                continue
            clock = self.clock(cols["cal"][i] or None)
            spans = pauses[cols["case_id"][i]]
            d = due_with_pauses(clock, opened[i], target[i], spans)
            w = due_with_pauses(clock, opened[i], target[i] * config.warn_at, spans)
            due[i] = np.nan if d is None else d
            warn[i] = np.nan if w is None else w
        with np.errstate(invalid="ignore"):
            late = np.where(now > due, now - due, np.nan)
        load: dict[str, int] = {}
        for hub in cols["hub"]:
            if hub:
                load[hub] = load.get(hub, 0) + 1
        router = Router(config.hubs, load)
        open_hubs = set(router.open_hubs(now))
        new: list[tuple[str, str, str, dict[str, Any], int]] = []
        for i in range(n):
            case_id, phase, hub = cols["case_id"][i], cols["phase"][i], cols["hub"][i]
            seq, level = int(cols["last_seq"][i]), int(cols["level"][i])
            if not np.isnan(warn[i]) and now >= warn[i] and not cols["warned"][i]:
                seq += 1
                data = {"phase": phase, "due_at": _iso(float(due[i]))}
                new.append((case_id, "warning", f"{phase} deadline at {data['due_at']}", data, seq))
                result.warnings += 1
            if not np.isnan(late[i]):
                chain = self._chain(hub)
                wanted = 1 + int(late[i] // (config.escalate_every * float(target[i])))
                wanted = min(wanted, max(len(chain), 1))
                if wanted > level:
                    seq += 1
                    to = chain[wanted - 1] if wanted - 1 < len(chain) else None
                    note = f"{phase} deadline missed by {_hours(float(late[i]))}"
                    data = {
                        "phase": phase,
                        "level": wanted,
                        "to": to,
                        "due_at": _iso(float(due[i])),
                    }
                    new.append((case_id, "escalate", note, data, seq))
                    result.escalations += 1
                    level = wanted
            if open_hubs and hub not in open_hubs:
                target_hub = router.handover(hub, now)
                if target_hub is not None:
                    seq += 1
                    new.append(
                        (
                            case_id,
                            "route",
                            f"hand-over: {hub or 'no hub'} is closed, {target_hub} is open",
                            # an escalated case keeps the person it was escalated to
                            {"hub": target_hub, "from": hub}
                            | ({} if level > 0 else {"to": target_hub}),
                            seq,
                        )
                    )
                    result.handovers += 1
        if not new:
            return
        events = _events(
            case_ids=[x[0] for x in new],
            at=result.as_of,
            kind=[x[1] for x in new],
            notes=[x[2] for x in new],
            data=[json.dumps(x[3]) for x in new],
            seqs=[x[4] for x in new],
        )
        _insert_arrow(con, "case_events", events)
        for case_id, kind, note, data, _seq in new:
            if kind in ("warning", "escalate") and len(result.notifications) < 1000:
                event = "deadline_warning" if kind == "warning" else "escalated"
                result.notifications.append(
                    Notification(event, case_id, f"Case {case_id}: {note}", note, data)
                )

    def _chain(self, hub: str | None) -> list[str]:
        h = self.config.hubs.get(hub or "")
        if h is None:
            return []
        return [x for x in (h.lead, *h.escalation) if x]

    @staticmethod
    def _pauses(con: duckdb.DuckDBPyConnection, case_ids: list[str]) -> dict[str, list[Pause]]:
        out: dict[str, list[Pause]] = {c: [] for c in case_ids}
        if not case_ids:
            return out
        con.register("_paused", pa.table({"case_id": pa.array(case_ids, pa.string())}))
        rows = con.execute(
            "SELECT case_id, kind, \"at\" FROM case_events WHERE kind IN ('pause', 'resume') "
            "AND case_id IN (SELECT case_id FROM _paused) ORDER BY case_id, seq"
        ).fetchall()
        con.unregister("_paused")
        for case_id, kind, at in rows:
            spans = out[case_id]
            if kind == "pause" and not (spans and spans[-1].end is None):
                spans.append(Pause(_epoch(at), None))
            elif kind == "resume" and spans and spans[-1].end is None:
                spans[-1] = Pause(spans[-1].start, _epoch(at))
        return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _events(
    *,
    case_ids: list[str | None] | list[str],
    at: datetime,
    kind: str | list[str],
    notes: list[str],
    data: list[str],
    seqs: list[int],
) -> pa.Table:
    n = len(case_ids)
    return pa.table(
        {
            "event_id": pa.array([uuid.uuid4().hex for _ in range(n)], pa.string()),
            "case_id": pa.array(case_ids, pa.string()),
            "at": pa.array([at] * n, pa.timestamp("us", "UTC")),
            "actor": pa.array([LOOP_ACTOR] * n, pa.string()),
            "kind": pa.array(kind if isinstance(kind, list) else [kind] * n, pa.string()),
            "from_state": pa.nulls(n, pa.string()),
            "to_state": pa.nulls(n, pa.string()),
            "note": pa.array(notes, pa.string()),
            "data": pa.array(data, pa.string()),
            "seq": pa.array(seqs, pa.int64()),
        }
    )


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    name = f"_ins_{table}"
    con.register(name, data)
    cols = ", ".join(f'"{c}"' for c in data.column_names)
    con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    con.unregister(name)
