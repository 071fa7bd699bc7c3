"""``voxloop quality``: completeness and inconsistency per source and field (the KPI
engine's own definitions), what identity resolution found, and the collection plan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from voxloop.metrics import MetricsEngine
from voxloop.model.schema import CUSTOMERS

IDENTITY_FIELDS = {
    "customer_email": "email",
    "customer_phone": "phone",
    "customer_handle": "handle",
    "customer_ref": "account",
}


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = con.sql(sql, params=params or None).to_arrow_table().to_pylist()
    return out


def quality_report(
    con: duckdb.DuckDBPyConnection, metrics: MetricsEngine, target_fields: Sequence[str]
) -> dict[str, Any]:
    # an empty store gives one n = 0 row without table/field: nothing to report
    completeness = [
        {k: r.get(k) for k in ("table", "source", "field", "value", "n")}
        for r in metrics.compute("completeness", ["source"]).to_pylist()
        if r.get("n")
    ]
    inconsistency = [
        {k: r.get(k) for k in ("table", "source", "rule", "value", "n")}
        for r in metrics.compute("inconsistency", ["source"]).to_pylist()
        if r.get("n")
    ]
    return {
        "completeness": completeness,
        "inconsistency": inconsistency,
        "resolution": _resolution(con),
        "shared_identifiers": _rows(
            con,
            "SELECT kind, value, records, shared_with FROM identities WHERE status = 'shared' "
            "ORDER BY records DESC, kind, value LIMIT 50",
        ),
        "invalid_identifiers": _rows(
            con,
            "SELECT kind, source, count(*) AS identifiers, min(value) AS example "
            "FROM identities WHERE kind LIKE 'invalid_%' GROUP BY kind, source ORDER BY 3 DESC",
        ),
        "collection_plan": _collection_plan(con, target_fields),
    }


def _resolution(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    [counts] = _rows(
        con,
        """
        SELECT (SELECT count(*) FROM customers WHERE merged_into IS NULL) AS customers,
               (SELECT count(*) FROM customer_merges) AS merges,
               (SELECT count(*) FROM customer_merges WHERE reason = 'manual') AS manual_merges,
               (SELECT count(*) FROM identity_rules WHERE action = 'split') AS splits,
               (SELECT count(*) FROM interactions) + (SELECT count(*) FROM feedback) AS records,
               (SELECT count(customer_id) FROM interactions)
                 + (SELECT count(customer_id) FROM feedback) AS records_resolved
        """,
    )
    # duplicates in the source systems: one person, several e-mails or customer numbers
    duplicates = _rows(
        con,
        """
        SELECT kind, count(*) AS customers_with_several, max(n) AS most
        FROM (SELECT customer_id, kind, count(*) AS n FROM identities
              WHERE customer_id IS NOT NULL AND status = 'linked' GROUP BY ALL HAVING n > 1)
        GROUP BY kind ORDER BY kind
        """,
    )
    multi_source = _rows(
        con,
        """
        SELECT count(*) AS customers FROM (
            SELECT customer_id FROM (
                SELECT customer_id, source FROM interactions WHERE customer_id IS NOT NULL
                UNION SELECT customer_id, source FROM feedback WHERE customer_id IS NOT NULL)
            GROUP BY customer_id HAVING count(DISTINCT source) > 1)
        """,
    )[0]["customers"]
    share = counts["records_resolved"] / counts["records"] if counts["records"] else None
    return {
        **counts,
        "share_resolved": share,
        "customers_in_several_sources": multi_source,
        "several_identifiers_of_one_kind": duplicates,
    }


def _collection_plan(
    con: duckdb.DuckDBPyConnection, target_fields: Sequence[str]
) -> list[dict[str, Any]]:
    [(customers,)] = con.execute(
        "SELECT count(*) FROM customers WHERE merged_into IS NULL"
    ).fetchall()
    plan = []
    for field in target_fields:
        row: dict[str, Any] = {"field": field}
        if field in IDENTITY_FIELDS:
            kind = IDENTITY_FIELDS[field]
            [(have,)] = con.execute(
                "SELECT count(DISTINCT i.customer_id) FROM identities i JOIN customers c "
                "ON c.customer_id = i.customer_id AND c.merged_into IS NULL "
                "WHERE i.kind = ? AND i.status = 'linked'",
                [kind],
            ).fetchall()
            row["coverage"] = have / customers if customers else None
            row["customers_missing_it"] = customers - have
            row["sources"] = _rows(
                con,
                f"""
                SELECT source, count({field}) AS records_with_it, count(*) AS records,
                       count({field}) / count(*) AS share
                FROM (SELECT source, {field} FROM interactions
                      UNION ALL SELECT source, {field} FROM feedback)
                GROUP BY source ORDER BY share DESC, source
                """,
            )
            row["advice"] = (
                "ask for it where the share is low; sources with none do not map it"
                if row["coverage"] is not None and row["coverage"] < 1
                else "complete"
            )
        elif field in CUSTOMERS.names:
            [(have,)] = con.execute(
                f"SELECT count({field}) FROM customers WHERE merged_into IS NULL"
            ).fetchall()
            row["coverage"] = have / customers if customers else None
            row["customers_missing_it"] = customers - have
            row["sources"] = []
            row["advice"] = (
                "no source provides it yet: it is a customer attribute (CRM export)"
                if not have
                else "filled on part of the customers"
            )
        else:
            row.update(coverage=None, customers_missing_it=None, sources=[])
            row["advice"] = (
                f"unknown field {field!r}: use customer_email, customer_phone, customer_handle, "
                f"customer_ref or a customer attribute ({', '.join(CUSTOMERS.names[2:10])})"
            )
        plan.append(row)
    return plan
