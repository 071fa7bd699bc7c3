"""The customer file ("dossier client"): who the customer is and everything that happened.

One function serves the CLI, the Python API and (later) the web page, so an agent, a script
and a browser see the same file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import phonenumbers

from voxloop.errors import UserError
from voxloop.identity.rules import current_id

CUSTOMER_FIELDS = (
    "customer_id", "created_at", "segment", "persona", "value", "influence", "region",
    "time_zone", "consent_email", "consent_phone",
)  # fmt: skip
SURVEY_INSTRUMENTS = ("nps", "csat", "ces", "fcr", "rating")


def find_customer(con: duckdb.DuckDBPyConnection, query: str, default_region: str) -> str:
    """A customer id from an id, an e-mail, a phone number (any format) or a handle."""
    text = query.strip()
    if con.execute("SELECT 1 FROM customers WHERE customer_id = ?", [text]).fetchall():
        return current_id(con, text)
    candidates: list[tuple[str, str]] = []
    if "@" in text and not text.startswith("@"):
        candidates.append(("email", text.lower()))
    else:
        try:
            number = phonenumbers.parse(text, default_region)
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                candidates.append(("phone", e164))
        except phonenumbers.NumberParseException:
            pass
        candidates.append(("handle", text.lstrip("@").lower()))
        candidates.append(("account", text))
    for kind, value in candidates:
        row = con.execute(
            "SELECT customer_id, status FROM identities WHERE kind = ? AND value = ?",
            [kind, value],
        ).fetchall()
        if not row:
            continue
        customer, status = row[0]
        if customer is None:
            raise UserError(
                f"{kind} {value} is known but belongs to no customer ({status or 'not resolved'})",
                hint="run `voxloop resolve`; a shared identifier (a switchboard, contact@) "
                "never designates one customer",
            )
        return current_id(con, str(customer))
    raise UserError(
        f"no customer matches {query!r}",
        hint="give a customer id (C000000123), an e-mail, a phone number or a social handle",
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = con.sql(sql, params=params).to_arrow_table().to_pylist()
    return result


def customer_file(
    con: duckdb.DuckDBPyConnection,
    query: str,
    *,
    default_region: str,
    now: datetime | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """Identities, attributes, a chronological timeline across channels, and summary facts."""
    now = now or datetime.now(UTC)
    cid = find_customer(con, query, default_region)
    [customer] = _rows(
        con, f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM customers WHERE customer_id = ?", [cid]
    )
    merged = [
        r["merged_id"]
        for r in _rows(
            con,
            "SELECT merged_id FROM customer_merges WHERE into_id = ? ORDER BY merged_at",
            [cid],
        )
    ]
    identities = _rows(
        con,
        "SELECT kind, value, status, records, source, first_seen_at FROM identities "
        "WHERE customer_id = ? ORDER BY kind, value",
        [cid],
    )
    contacts = _rows(
        con,
        """
        SELECT started_at AS at, 'contact' AS type, channel, direction, reason, outcome,
               handle_s, epoch(first_response_at) - epoch(started_at) AS wait_s,
               agent, team, hub, source, interaction_id AS id, left(text, 300) AS text
        FROM interactions WHERE customer_id = ?
        """,
        [cid],
    )
    voices = _rows(
        con,
        f"""
        SELECT answered_at AS at,
               CASE WHEN instrument IN {SURVEY_INSTRUMENTS} THEN 'answer'
                    WHEN survey_kind = 'complaint' THEN 'complaint' ELSE 'mention' END AS type,
               channel, instrument, score, scale_min, scale_max, survey_kind, platform,
               followers, source, feedback_id AS id, interaction_id, left(comment, 500) AS text
        FROM feedback WHERE customer_id = ?
        """,
        [cid],
    )
    cases = _rows(
        con,
        "SELECT opened_at AS at, 'case' AS type, case_id AS id, rule, reason, channel, "
        "priority, due_at FROM cases WHERE customer_id = ?",
        [cid],
    )
    steps = _rows(
        con,
        "SELECT e.\"at\" AS at, 'case_step' AS type, e.case_id, e.kind, e.from_state, "
        "e.to_state, e.actor, e.note FROM case_events e JOIN cases c USING (case_id) "
        "WHERE c.customer_id = ?",
        [cid],
    )
    timeline = sorted(
        (e for e in [*contacts, *voices, *cases, *steps] if e["at"] is not None),
        key=lambda e: (e["at"], e["type"]),
    )
    since = now - timedelta(days=90)
    nps = [v for v in voices if v["type"] == "answer" and v["instrument"] == "nps"]
    last_nps = max(nps, key=lambda v: v["at"]) if nps else None
    open_cases = _rows(
        con,
        """
        SELECT c.case_id FROM cases c
        LEFT JOIN (SELECT case_id, arg_max(to_state, "at") AS state FROM case_events
                   WHERE to_state IS NOT NULL GROUP BY case_id) s USING (case_id)
        WHERE c.customer_id = ? AND coalesce(s.state, 'new') <> 'closed'
        """,
        [cid],
    )
    summary = {
        "contacts": len(contacts),
        "contacts_last_90_days": sum(1 for c in contacts if c["at"] >= since),
        "channels": sorted({c["channel"] for c in [*contacts, *voices] if c["channel"]}),
        "first_seen": timeline[0]["at"] if timeline else None,
        "last_seen": timeline[-1]["at"] if timeline else None,
        "answers": sum(1 for v in voices if v["type"] == "answer"),
        "mentions": sum(1 for v in voices if v["type"] != "answer"),
        "last_nps": None
        if last_nps is None
        else {"score": last_nps["score"], "at": last_nps["at"]},
        "open_cases": [c["case_id"] for c in open_cases],
    }
    return {
        "customer": customer,
        "merged_ids": merged,
        "identities": identities,
        "summary": summary,
        "timeline": timeline[-limit:],
        "timeline_truncated": max(0, len(timeline) - limit),
    }
