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

from voxloop.loop.records import LOOP_ACTOR
from voxloop.loop.state_sql import CASE_STATE_SQL
from voxloop.metrics.stats import wilson

OUTCOME_SQL = f"""
    WITH st AS ({CASE_STATE_SQL}),
    closed AS (
        SELECT c.case_id, coalesce(cu.merged_into, c.customer_id) AS customer_id,
               c.instrument, c.score, c.value, c.opened_at, st.closed_at, st.root_cause,
               st.theme, st.compensation
        FROM cases c JOIN st USING (case_id)
        LEFT JOIN customers cu ON cu.customer_id = c.customer_id
        WHERE st.state = 'closed'
    ),
    scored AS (
        SELECT coalesce(cu.merged_into, f.customer_id) AS customer_id, f.instrument, f.score,
               f.answered_at
        FROM feedback f LEFT JOIN customers cu ON cu.customer_id = f.customer_id
        WHERE f.score IS NOT NULL AND f.customer_id IS NOT NULL
    ),
    base AS (  -- the score the case started from: its own, else the customer's last before
        SELECT k.case_id,
               coalesce(CASE WHEN k.score IS NOT NULL THEN k.instrument END,
                        arg_max(s.instrument, s.answered_at)) AS instrument,
               coalesce(k.score, arg_max(s.score, s.answered_at)) AS score
        FROM closed k LEFT JOIN scored s
          ON s.customer_id = k.customer_id AND s.answered_at < k.opened_at
        GROUP BY k.case_id, k.score, k.instrument
    ),
    nxt AS (
        SELECT k.case_id, arg_min(s.score, s.answered_at) AS next_score,
               min(s.answered_at) AS next_at
        FROM closed k JOIN base b USING (case_id)
        JOIN scored s ON s.customer_id = k.customer_id AND s.instrument = b.instrument
                     AND s.answered_at > k.closed_at
        GROUP BY k.case_id
    )
    SELECT k.*, b.score AS base_score, n.next_score, n.next_at,
           CASE WHEN n.next_score IS NULL OR b.score IS NULL THEN NULL
                ELSE n.next_score > b.score END AS recovered
    FROM closed k JOIN base b USING (case_id) LEFT JOIN nxt n USING (case_id)
"""


def outcomes(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = con.execute(
        f"""
        SELECT count(*) AS closed,
               count(recovered) AS answered_again,
               count(*) FILTER (WHERE recovered) AS recovered,
               median(epoch(closed_at) - epoch(opened_at)) AS median_time_to_close_s,
               median(epoch(next_at) - epoch(opened_at)) FILTER (WHERE recovered)
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
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Closed cases to re-survey now (closed at least ``after_s`` ago, not yet handled), one
    invitation per customer, only by a channel the customer consented to; and the cases
    that are settled without an invitation, with why."""
    rows = con.execute(
        f"""
        WITH st AS ({CASE_STATE_SQL}),
        contact AS (
            SELECT i.customer_id,
                   min(i.value) FILTER (WHERE i.kind = 'email' AND i.status = 'linked'
                                        AND coalesce(cu.consent_email, true)) AS email,
                   min(i.value) FILTER (WHERE i.kind = 'phone' AND i.status = 'linked'
                                        AND coalesce(cu.consent_phone, true)) AS phone
            FROM identities i LEFT JOIN customers cu USING (customer_id)
            GROUP BY i.customer_id
        ),
        invited AS (  -- customers invited recently, whatever the case
            SELECT c.customer_id, max(e."at") AS last_invited
            FROM case_events e JOIN cases c USING (case_id)
            WHERE e.kind = 'resurvey' AND coalesce(CAST(e.data->>'sent' AS BOOLEAN), true)
            GROUP BY c.customer_id
        )
        SELECT c.case_id, c.customer_id, k.email, k.phone, coalesce(c.instrument, 'nps'),
               c.channel, st.closed_at, c.rule, v.last_invited
        FROM cases c JOIN st USING (case_id) LEFT JOIN contact k USING (customer_id)
        LEFT JOIN invited v USING (customer_id)
        WHERE st.state = 'closed' AND NOT st.resurveyed AND st.closed_at <= ?
        ORDER BY c.customer_id, st.closed_at DESC, c.case_id
        """,
        [as_of - timedelta(seconds=after_s)],
    ).fetchall()
    invite: list[dict[str, Any]] = []
    settled: list[tuple[str, str]] = []
    seen: set[str] = set()
    for row in rows:
        case_id, customer, email, phone, *_rest, last_invited = row
        if customer is None or (email is None and phone is None):
            settled.append((case_id, "no contact details the customer consented to"))
        elif customer in seen:
            settled.append((case_id, "the customer is invited for a more recent case"))
        elif last_invited is not None and (as_of - last_invited).total_seconds() < after_s:
            settled.append((case_id, "the customer was invited recently"))
        else:
            seen.add(customer)
            invite.append(dict(zip(INVITE_FIELDS, row[:-1], strict=True)))
    return invite, settled


def write_invitations(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INVITE_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
            )


def record_invitations(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    settled: list[tuple[str, str]],
    where: str,
    as_of: datetime,
) -> None:
    """A ``resurvey`` event on each case — sent, or settled without sending and why — so no
    case is considered twice and no customer is invited twice."""
    import uuid

    entries = [(r["case_id"], f"re-survey invitation sent to {where}", {"sent": True,
                "where": where}) for r in rows]  # fmt: skip
    entries += [(cid, f"no re-survey: {why}", {"sent": False, "why": why}) for cid, why in settled]
    for case_id, note, data in entries:
        seq = con.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM case_events WHERE case_id = ?", [case_id]
        ).fetchall()[0][0]
        con.execute(
            'INSERT INTO case_events (event_id, case_id, "at", actor, kind, note, data, seq) '
            "VALUES (?, ?, ?, ?, 'resurvey', ?, ?, ?)",
            [uuid.uuid4().hex, case_id, as_of.astimezone(UTC), LOOP_ACTOR, note,
             json.dumps(data), seq],
        )  # fmt: skip
