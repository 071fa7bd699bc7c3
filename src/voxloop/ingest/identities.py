"""Identifiers seen by a load (e-mails, phones, handles, account numbers) for resolution."""

from __future__ import annotations

from datetime import datetime

import duckdb

from voxloop.ingest.normalise import literal
from voxloop.store.ddl import quote

IDENTITY_KINDS = {
    "customer_email": "email",
    "customer_phone": "phone",
    "customer_handle": "handle",
    "customer_ref": "account",
}


def record_identities(
    con: duckdb.DuckDBPyConnection,
    outputs: list[tuple[list[str], str]],  # (canonical fields produced, validated temp table)
    keep: str,  # SQL condition on a validated row: it was written
    source: str,
    load_id: int,
    now: datetime,
) -> None:
    """Add the identifiers not seen before. Malformed e-mails and phones are kept as
    ``invalid_email`` / ``invalid_phone`` so that the quality report can list them."""
    selects: list[str] = []
    for fields, table in outputs:
        for column, kind in IDENTITY_KINDS.items():
            if column not in fields:
                continue
            selects.append(
                f"SELECT {literal(kind)} AS kind, {quote(column)} AS value FROM {table} v "
                f"WHERE {keep} AND {quote(column)} IS NOT NULL"
            )
            if kind in ("email", "phone"):
                raw = f"(attributes->>{literal('$.' + chr(34) + 'raw.' + column + chr(34))})"
                selects.append(
                    f"SELECT {literal('invalid_' + kind)}, {raw} FROM {table} v "
                    f"WHERE {keep} AND {quote(column)} IS NULL AND {raw} IS NOT NULL"
                )
    if not selects:
        return
    con.execute(
        "INSERT INTO identities (kind, value, customer_id, first_seen_at, first_load_id, source) "
        "SELECT DISTINCT i.kind, i.value, NULL, ?::TIMESTAMPTZ, ?, ? "
        f"FROM ({' UNION ALL '.join(selects)}) i "
        "WHERE NOT EXISTS (SELECT 1 FROM identities x "
        "WHERE x.kind = i.kind AND x.value = i.value)",
        [now, load_id, source],
    )


def link_feedback_to_interactions(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Fill ``feedback.interaction_id`` from ``interaction_ref`` when exactly one contact has
    that id, whichever of the two was loaded first. Ambiguous ids stay unlinked."""
    pending = con.execute(
        "SELECT count(*) FROM feedback WHERE interaction_id IS NULL AND interaction_ref IS NOT NULL"
    ).fetchall()[0][0]
    if not pending:
        return
    con.execute(
        """
        UPDATE feedback SET interaction_id = m.interaction_id
        FROM (SELECT external_id, any_value(interaction_id) AS interaction_id
              FROM interactions GROUP BY external_id HAVING count(*) = 1) m
        WHERE feedback.interaction_id IS NULL
          AND feedback.interaction_ref = m.external_id
          AND (feedback.load_id = ?
               OR m.external_id IN (SELECT external_id FROM interactions WHERE load_id = ?))
        """,
        [load_id, load_id],
    )
