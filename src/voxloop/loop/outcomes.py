"""After closing: did we win the customer back? Re-survey invitations, recovery rate, time to
recover, value recovered, and the root causes that feed the improvement roadmap.

A closed case is *recovered* when the customer's next answer on the same instrument, given
after the case was closed, scores higher than the one that opened it. Cases whose customer
has not answered again are counted apart (``awaiting``), never as failures.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from voxloop.loop.engine import CASE_STATE_SQL, LOOP_ACTOR
from voxloop.metrics.stats import wilson

OUTCOME_SQL = f"""
    WITH st AS ({CASE_STATE_SQL}),
    closed AS (
        SELECT c.case_id, c.customer_id, c.instrument, c.score, c.value, c.opened_at,
               st.closed_at, st.root_cause, st.theme, st.compensation
        FROM cases c JOIN st USING (case_id)
        WHERE st.state = 'closed'
    ),
    nxt AS (
        SELECT k.case_id, arg_min(f.score, f.answered_at) AS next_score
        FROM closed k JOIN feedback f
          ON f.customer_id = k.customer_id AND f.instrument = k.instrument
         AND f.answered_at > k.closed_at
        GROUP BY k.case_id
    )
    SELECT k.*, n.next_score,
           CASE WHEN n.next_score IS NULL THEN NULL ELSE n.next_score > k.score END AS recovered
    FROM closed k LEFT JOIN nxt n USING (case_id)
"""


def outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute(
        f"""
        SELECT count(*) AS closed,
               count(recovered) AS answered_again,
               count(*) FILTER (WHERE recovered) AS recovered,
               median(epoch(closed_at) - epoch(opened_at)) AS median_time_to_close_s,
               median(epoch(closed_at) - epoch(opened_at)) FILTER (WHERE recovered)
                   AS median_time_to_recover_s,
               coalesce(sum(value) FILTER (WHERE recovered), 0) AS value_recovered,
               coalesce(sum(compensation), 0) AS compensation_paid
        FROM ({OUTCOME_SQL})
        """
    ).fetchall()[0]
    closed, answered, recovered = int(rows[0]), int(rows[1]), int(rows[2])
    interval = wilson(recovered, answered)
    causes = con.execute(
        f"""
        SELECT coalesce(root_cause, 'unknown') AS domain, coalesce(theme, 'unknown') AS theme,
               count(*) AS cases, count(*) FILTER (WHERE recovered) AS recovered
        FROM ({OUTCOME_SQL}) GROUP BY ALL ORDER BY cases DESC, domain, theme
        """
    ).fetchall()
    return {
        "closed": closed,
        "answered_again": answered,
        "awaiting_answer": closed - answered,
        "recovered": recovered,
        "recovery_rate": recovered / answered if answered else None,
        "recovery_rate_ci": [interval.ci_low, interval.ci_high] if answered else None,
        "median_time_to_close_h": None if rows[3] is None else round(float(rows[3]) / 3600, 1),
        "median_time_to_recover_h": None if rows[4] is None else round(float(rows[4]) / 3600, 1),
        "value_recovered": float(rows[5]),
        "compensation_paid": float(rows[6]),
        "root_causes": [
            {"domain": d, "theme": t, "cases": int(n), "recovered": int(r)} for d, t, n, r in causes
        ],
    }


INVITE_FIELDS = (
    "case_id", "customer_id", "email", "phone", "instrument", "channel", "closed_at", "rule",
)  # fmt: skip


def due_invitations(
    con: duckdb.DuckDBPyConnection, as_of: datetime, after_s: float
) -> list[dict[str, Any]]:
    """Closed cases not yet re-surveyed whose closing is at least ``after_s`` old."""
    rows = con.execute(
        f"""
        WITH st AS ({CASE_STATE_SQL}),
        contact AS (
            SELECT customer_id,
                   min(value) FILTER (WHERE kind = 'email' AND status = 'linked') AS email,
                   min(value) FILTER (WHERE kind = 'phone' AND status = 'linked') AS phone
            FROM identities GROUP BY customer_id
        )
        SELECT c.case_id, c.customer_id, k.email, k.phone, coalesce(c.instrument, 'nps'),
               c.channel, st.closed_at, c.rule
        FROM cases c JOIN st USING (case_id) LEFT JOIN contact k USING (customer_id)
        WHERE st.state = 'closed' AND NOT coalesce(st.resurveyed, false)
          AND st.closed_at <= ?
        ORDER BY st.closed_at, c.case_id
        """,
        [as_of - timedelta(seconds=after_s)],
    ).fetchall()
    return [dict(zip(INVITE_FIELDS, r, strict=True)) for r in rows]


def write_invitations(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INVITE_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
            )


def record_invitations(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], where: str, as_of: datetime
) -> None:
    """A ``resurvey`` event on each case, so no customer is invited twice."""
    import uuid

    for row in rows:
        seq = con.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM case_events WHERE case_id = ?",
            [row["case_id"]],
        ).fetchall()[0][0]
        con.execute(
            'INSERT INTO case_events (event_id, case_id, "at", actor, kind, note, data, seq) '
            "VALUES (?, ?, ?, ?, 'resurvey', ?, ?, ?)",
            [
                uuid.uuid4().hex,
                row["case_id"],
                as_of.astimezone(UTC),
                LOOP_ACTOR,
                f"re-survey invitation sent to {where}",
                json.dumps({"where": where}),
                seq,
            ],
        )
