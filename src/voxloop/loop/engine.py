"""``voxloop loop run``: open cases from new signals, then watch the open ones (warnings,
escalations, hand-overs: :mod:`voxloop.loop.watch`).

One run is one transaction on the store: it happens entirely or not at all. Every signal is
decided once (its fate is kept in ``loop_signals``, and a signal already there is never read
again, even when a corrected file brings it back); warnings and escalations are recorded
once per phase and level; so running again at the same instant changes nothing.

The promise's clock starts when the customer spoke (``signal_at``), not when the loop
happened to run: an hourly run does not stretch a one-hour promise. Signals older than
``max_signal_age_days`` are recorded as ``too_old`` rather than turned into cases that would
be born overdue — the first run on years of history opens cases for the recent ones only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from voxloop.errors import TransientError, UserError
from voxloop.loop.config import LoopConfig
from voxloop.loop.deadlines import BusinessClock
from voxloop.loop.notify import Notification
from voxloop.loop.opening import (
    deadlines,
    decide,
    matched_signals_sql,
    priority_factors,
    value_reference,
)
from voxloop.loop.records import LOOP_ACTOR, events_table, insert_arrow, timestamps
from voxloop.loop.routing import Router
from voxloop.loop.state_sql import CASE_STATE_SQL
from voxloop.loop.watch import DIGEST_OVER, Watcher
from voxloop.store.duckdb_store import DuckDBStore

__all__ = ["CASE_STATE_SQL", "LOOP_ACTOR", "LoopEngine", "RunResult"]


@dataclass
class RunResult:
    run_id: int
    as_of: datetime
    signals: int = 0
    matched: int = 0
    opened: int = 0
    attached: int = 0
    cooling_off: int = 0
    too_old: int = 0
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


class LoopEngine:
    def __init__(self, store: DuckDBStore, config: LoopConfig) -> None:
        self.store = store
        self.config = config
        self.clocks: dict[str, BusinessClock] = {}

    def run(self, as_of: datetime | None = None, actor: str = LOOP_ACTOR) -> RunResult:
        as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
        started = time.perf_counter()
        try:
            with self.store.transaction() as con:
                last = con.execute(
                    "SELECT run_id, last_load_id, as_of FROM loop_runs ORDER BY run_id DESC LIMIT 1"
                ).fetchall()
                if last and as_of < last[0][2]:
                    raise UserError(
                        f"the loop already ran as of {last[0][2].isoformat()}; it cannot run "
                        f"as of an earlier instant ({as_of.isoformat()})",
                        hint="omit --at to run as of now, or give a later instant",
                    )
                result = RunResult(int(last[0][0]) + 1 if last else 1, as_of)
                since_load = int(last[0][1] or 0) if last else 0
                since_at = last[0][2] if last else datetime(1900, 1, 1, tzinfo=UTC)
                last_load = self._open_cases(con, result, since_load, since_at)
                counts = Watcher(self.config, self.clocks).watch(con, as_of, result.notifications)
                result.warnings = counts.warnings
                result.escalations = counts.escalations
                result.handovers = counts.handovers
                result.duration_s = time.perf_counter() - started
                con.execute(
                    "INSERT INTO loop_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        result.run_id, datetime.now(UTC), as_of, last_load, result.signals,
                        result.matched, result.opened, result.attached, result.cooling_off,
                        result.duration_s, actor,
                    ],
                )  # fmt: skip
        except (duckdb.TransactionException, duckdb.ConstraintException) as exc:
            raise TransientError(
                "cases changed while the loop was running; nothing was written",
                hint="run `voxloop loop run` again",
            ) from exc
        return result

    # -- opening ------------------------------------------------------------------------------
    def _open_cases(
        self,
        con: duckdb.DuckDBPyConnection,
        result: RunResult,
        since_load: int,
        since_at: datetime,
    ) -> int:
        window = [result.as_of, since_load, since_at]
        row = con.execute(
            "SELECT (SELECT max(load_id) FROM feedback), count(*) FROM feedback f "
            "WHERE f.answered_at <= ? AND (f.load_id > ? OR f.answered_at > ?)",
            window,
        ).fetchall()
        last_load = int(row[0][0]) if row[0][0] is not None else since_load
        result.signals = int(row[0][1])
        if not self.config.rules or result.signals == 0:
            return last_load
        m: pa.Table = con.sql(matched_signals_sql(self.config), params=window).to_arrow_table()
        result.matched = m.num_rows
        if m.num_rows == 0:
            return last_load
        rules = self._reasons(m["rules"].to_pylist())
        existing_open, last_contact = self._history(con, m)
        d = decide(
            m["who"].to_pylist(),
            rules,
            [t.timestamp() for t in m["signal_at"].to_pylist()],
            existing_open,
            last_contact,
            result.as_of,
            self.config.cooling_off_s,
            self.config.max_signal_age_s,
            frozenset(r.id for r in self.config.rules if r.bypass_cooling_off),
            self._next_case_number(con),
        )
        result.opened = len(d.new_case_rows)
        result.attached = d.decision.count("attached")
        result.cooling_off = d.decision.count("cooling_off")
        result.too_old = d.decision.count("too_old")
        insert_arrow(
            con,
            "loop_signals",
            pa.table(
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
            ),
        )
        if d.new_case_rows:  # first: signals of this run may join the cases it opens
            self._create(con, result, m, rules, d.new_case_rows, d.case_id)
        self._attach(con, result, m, d.decision, d.case_id)
        return last_load

    def _reasons(self, matched: list[list[str]]) -> list[str]:
        """The reason of each signal: the first rule that matched — unless a rule that
        bypasses the cooling-off matched too (a complaint is a complaint, whatever its
        score), then that one."""
        bypass = [r.id for r in self.config.rules if r.bypass_cooling_off]
        bypassing = set(bypass)
        return [
            rules[0] if bypassing.isdisjoint(rules) else next(r for r in bypass if r in rules)
            for rules in matched
        ]

    @staticmethod
    def _history(
        con: duckdb.DuckDBPyConnection, m: pa.Table
    ) -> tuple[dict[tuple[str, str], str], dict[str, float]]:
        """Open cases by (customer, reason) and the last contact with each customer of these
        signals — merged customers followed to the id they were merged into."""
        con.register("_loop_matched", m.select(["who"]))
        rows = con.execute(
            f"""
            WITH st AS ({CASE_STATE_SQL}),
            ids AS (
                SELECT c.case_id, c.reason,
                       coalesce(cu.merged_into, c.customer_id, 'signal:' || c.signal_id) AS who
                FROM cases c LEFT JOIN customers cu ON cu.customer_id = c.customer_id
            )
            SELECT ids.who, ids.reason, ids.case_id, epoch(st.last_contact_at), st.state
            FROM ids JOIN st USING (case_id)
            WHERE ids.who IN (SELECT who FROM _loop_matched)
            """
        ).fetchall()
        con.unregister("_loop_matched")
        existing_open = {(w, r): cid for w, r, cid, _at, st in rows if st != "closed"}
        last_contact: dict[str, float] = {}
        for w, _r, _cid, at, _st in rows:
            if at is not None and float(at) > last_contact.get(w, -np.inf):
                last_contact[w] = float(at)
        return existing_open, last_contact

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
        ids = [str(case_ids[i]) for i in rows]
        con.register("_attach_ids", pa.table({"case_id": pa.array(sorted(set(ids)))}))
        last = dict(
            con.execute(
                "SELECT case_id, coalesce(max(seq), 0) FROM case_events "
                "WHERE case_id IN (SELECT case_id FROM _attach_ids) GROUP BY case_id"
            ).fetchall()
        )
        con.unregister("_attach_ids")
        seqs: list[int] = []
        for cid in ids:
            last[cid] = last.get(cid, 0) + 1
            seqs.append(last[cid])
        feedback_ids = m["feedback_id"].to_pylist()
        insert_arrow(
            con,
            "case_events",
            events_table(
                case_ids=ids,
                at=result.as_of,
                kinds=["signal"] * len(ids),
                notes=[f"another signal: {feedback_ids[i]}" for i in rows],
                data=[json.dumps({"signal_id": feedback_ids[i]}) for i in rows],
                seqs=seqs,
            ),
        )

    def _create(
        self,
        con: duckdb.DuckDBPyConnection,
        result: RunResult,
        m: pa.Table,
        reasons: list[str],
        rows: list[int],
        case_ids: list[str | None],
    ) -> None:
        config = self.config
        as_of = result.as_of.timestamp()
        factors = priority_factors(config, m, rows, value_reference(con, config), as_of)
        weights = config.weights
        priority = 100 * np.sum([weights[f] * v for f, v in factors.items()], axis=0)
        t = m.take(pa.array(rows, pa.int64()))
        channels = t["channel"].to_pylist()
        starts = np.array([x.timestamp() for x in t["signal_at"].to_pylist()], np.float64)
        response, resolution = deadlines(config, channels, starts, self.clocks)
        promises = [config.promise(c) for c in channels]
        load = dict(
            con.execute(
                f"WITH st AS ({CASE_STATE_SQL}) SELECT hub, count(*) FROM st "
                "WHERE state <> 'closed' AND hub IS NOT NULL GROUP BY hub"
            ).fetchall()
        )
        hubs = Router(config.hubs, load).assign_many(len(rows), as_of)
        ids = [str(case_ids[i]) for i in rows]
        n = len(rows)
        matched = t["rules"].to_pylist()
        reason = [reasons[i] for i in rows]
        cases = pa.table(
            {
                "case_id": pa.array(ids, pa.string()),
                "customer_id": t["customer_id"],
                "opened_at": pa.array([result.as_of] * n, pa.timestamp("us", "UTC")),
                "rule": pa.array(reason, pa.string()),
                "signal_id": t["feedback_id"],
                "channel": t["channel"],
                "priority": pa.array(priority, pa.float64()),
                "also_matched": pa.array(
                    [
                        [r for r in rules if r != why]
                        for rules, why in zip(matched, reason, strict=True)
                    ],
                    pa.list_(pa.string()),
                ),
                **{f"f_{k}": pa.array(v, pa.float64()) for k, v in factors.items()},
                "due_at": timestamps(response),
                "signal_at": t["signal_at"],
                "resolution_due_at": timestamps(resolution),
                "response_target_s": pa.array(
                    [p.first_response.seconds for p in promises], pa.float64()
                ),
                "resolution_target_s": pa.array(
                    [p.resolution.seconds for p in promises], pa.float64()
                ),
                "response_calendar": pa.array([p.response_calendar for p in promises]),
                "resolution_calendar": pa.array([p.resolution_calendar for p in promises]),
                "value": t["value"],
                "score": t["score"],
                "instrument": t["instrument"],
                "hub": pa.array(hubs, pa.string()),
            }
        )
        con.register("_new_cases", cases)
        explain = ", ".join(
            f"{f} := {{'value': round(f_{f}, 3), 'weight': round({weights[f]!r}, 3), "
            f"'points': round(100 * {weights[f]!r} * f_{f}, 1)}}"
            for f in factors
        )
        con.execute(
            f"""
            INSERT INTO cases (case_id, customer_id, opened_at, rule, reason, signal_table,
                signal_id, channel, priority, priority_explained, due_at, signal_at,
                resolution_due_at, response_target_s, resolution_target_s, response_calendar,
                resolution_calendar, value, score, instrument, run_id)
            SELECT case_id, customer_id, opened_at, rule, rule, 'feedback', signal_id,
                channel, round(priority, 1),
                to_json(struct_pack({explain}, also_matched := also_matched)),
                due_at, signal_at, resolution_due_at, response_target_s, resolution_target_s,
                response_calendar, resolution_calendar, value, score, instrument,
                {result.run_id}
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
        if n > DIGEST_OVER:
            result.notifications.append(
                Notification(
                    "case_opened",
                    None,
                    f"{n} new cases",
                    f"The closed loop opened {n} cases: " + ", ".join(ids[:100]),
                    {"case_ids": ids},
                )
            )
            return
        result.notifications.extend(
            Notification(
                "case_opened",
                cid,
                f"New case {cid}: {rule} (priority {p:.0f})",
                f"Case {cid} was opened by rule {rule} and routed to {hub or 'no hub'}.",
                {"case_id": cid, "rule": rule, "priority": round(float(p), 1), "hub": hub},
            )
            for cid, rule, p, hub in zip(ids, reason, priority, hubs, strict=True)
        )
