"""Naming the components and writing the result back.

Only what changed is written. How DuckDB stores text decides how: changing a text value (a
customer id, a status) in place costs, at the next checkpoint, rewriting that column for
every row group the rows are spread over — a second for 350 records scattered among 6
million, for a handful of merges. Numbers are cheap to change in place, and so are rows
that sit together, such as the records and identifiers of the latest load. So a run that
reads only part of the store updates in place its new rows and the counts, and *moves* the
rows resolved before whose text changes: deleted, and added back at the end of the table
with the new value (what ingestion does with a changed record; no row order is promised).
Every statement is fed a small materialised table joined on row ids: DuckDB plans an UPDATE
with joins inline badly (2.5 s for 6,000 identifiers among 400,000, against milliseconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from voxloop.identity._sql import RECORD_TABLES, count

if TYPE_CHECKING:
    from voxloop.identity.resolve import ResolveResult


def name_components(con: duckdb.DuckDBPyConnection) -> None:
    """Give each component of linking identifiers a customer id, keeping ids stable."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _comp AS
        SELECT l.comp, s.iid, s.old_id FROM _labels l JOIN _status s USING (iid)
        WHERE s.status IN ('linked', 'split')
        """
    )
    # each old id goes to the component holding most of its records, counting linked
    # identifiers first: a split identifier's component inherits an id only when nothing
    # else of that customer is left (the split is what leaves)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _owner AS
        SELECT old_id, arg_max(comp, [kept, n, -comp]) AS comp FROM (
            SELECT c.old_id, c.comp,
                   sum(CASE WHEN s.status <> 'split' THEN s.records ELSE 0 END) AS kept,
                   sum(s.records) AS n
            FROM _comp c JOIN _status s USING (iid)
            WHERE c.old_id IS NOT NULL GROUP BY c.old_id, c.comp)
        GROUP BY old_id
        """
    )
    # within a component, the oldest of the ids it owns is kept, the others merge into it
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _keep AS
        SELECT o.comp, o.old_id, c.created_at, c.rowid AS crow,
               first_value(o.old_id) OVER (
                   PARTITION BY o.comp
                   ORDER BY c.created_at NULLS LAST, length(o.old_id), o.old_id) AS keep_id
        FROM _owner o LEFT JOIN customers c ON c.customer_id = o.old_id
        """
    )
    # ids voxloop gives are C + digits; other ids (CRM0042, imported) are left alone
    next_no = con.execute(
        "SELECT coalesce(max(TRY_CAST(substr(customer_id, 2) AS BIGINT)), 0) FROM customers "
        "WHERE customer_id LIKE 'C%'"
    ).fetchall()[0][0]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _names AS
        WITH comps AS (SELECT DISTINCT comp FROM _comp),
             kept AS (SELECT DISTINCT comp, keep_id FROM _keep),
             fresh AS (
                SELECT c.comp, 'C' || lpad(CAST({int(next_no)} + row_number() OVER (ORDER BY c.comp)
                       AS VARCHAR), 9, '0') AS new_id
                FROM comps c ANTI JOIN kept k USING (comp))
        SELECT c.comp, coalesce(k.keep_id, f.new_id) AS customer_id, k.keep_id IS NULL AS created
        FROM comps c LEFT JOIN kept k USING (comp) LEFT JOIN fresh f USING (comp)
        """
    )


def write(
    con: duckdb.DuckDBPyConnection, result: ResolveResult, now: datetime, *, full: bool
) -> None:
    """Write the run's result: new customers, merges, identities, records."""
    # customers: new ids; merged ids point to the id kept, with the evidence
    created = con.execute(
        "INSERT INTO customers (customer_id, created_at) "
        "SELECT customer_id, ? FROM _names WHERE created",
        [now],
    ).fetchall()
    result.customers_created = int(created[0][0]) if created else 0
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _gone AS
        SELECT k.old_id, k.keep_id, k.crow,
               left(coalesce(string_agg(DISTINCT s.kind || ':' || s.value, ', ')
                             FILTER (WHERE s.old_id IS DISTINCT FROM k.old_id), ''), 500)
                   AS evidence
        FROM _keep k JOIN _comp c ON c.comp = k.comp JOIN _status s ON s.iid = c.iid
        WHERE k.old_id <> k.keep_id
        GROUP BY k.old_id, k.keep_id, k.crow
        """
    )
    result.customers_merged = count(con, "SELECT * FROM _gone")
    if result.customers_merged:
        con.execute(
            "INSERT INTO customer_merges (merged_id, into_id, merged_at, reason, evidence, actor) "
            "SELECT old_id, keep_id, ?, 'shared identifier', evidence, 'resolve' FROM _gone",
            [now],
        )
        con.execute(
            "UPDATE customers SET merged_into = g.keep_id FROM _gone g "
            "WHERE customers.rowid = g.crow"
        )
        # an id merged earlier into one that is merged now follows it
        con.execute(
            "UPDATE customers SET merged_into = g.keep_id FROM _gone g "
            "WHERE customers.merged_into = g.old_id"
        )
    _write_identities(con, now, full=full)
    _write_records(con, result, full=full)
    # customers merged away follow the id kept in what this run did not read: in a full run,
    # records without identifiers; otherwise the rest of customers left pinned (_scope)
    outside = "SELECT * FROM _gone WHERE old_id NOT IN (SELECT customer_id FROM _read)"
    if not result.customers_merged or not count(con, outside):
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _outside AS {outside}")
    if full:
        for table in RECORD_TABLES:
            con.execute(
                f"UPDATE {table} SET customer_id = g.keep_id FROM _outside g "
                f"WHERE {table}.customer_id = g.old_id"
            )
        return
    # their identifiers' row ids were read with the customers touched (_scope._bound);
    # rows of the run moved already are gone from those ids, and skipped
    owned = "SELECT customer_id FROM _owned"
    rows = (
        "SELECT o.irow AS rid, g.keep_id AS customer_id FROM _owned o "
        "JOIN _outside g ON o.customer_id = g.old_id"
    )
    if count(con, f"SELECT * FROM _outside WHERE old_id NOT IN ({owned})"):
        rows += (
            " UNION ALL SELECT t.rowid, g.keep_id FROM identities t JOIN _outside g "
            f"ON t.customer_id = g.old_id WHERE g.old_id NOT IN ({owned})"
        )
    _move(con, "identities", rows, ("customer_id",))
    for table in RECORD_TABLES:
        rows = (
            f"SELECT t.rowid AS rid, g.keep_id AS customer_id FROM {table} t "
            "JOIN _outside g ON t.customer_id = g.old_id"
        )
        _move(con, table, rows, ("customer_id",))


def _write_identities(con: duckdb.DuckDBPyConnection, now: datetime, *, full: bool) -> None:
    """Status, counts and customer of every identifier of the run whose values changed;
    identifiers ``identities`` did not know yet (extra attributes) are added."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ident AS
        SELECT * FROM (
            SELECT s.irow, s.kind, s.value, s.status, s.records, s.shared_with,
                   CASE WHEN s.status IN ('linked', 'split') THEN n.customer_id END
                       AS customer_id,
                   s.old_status, s.old_id, s.old_records, s.old_shared
            FROM _status s JOIN _labels l USING (iid) LEFT JOIN _names n ON n.comp = l.comp)
        WHERE irow IS NULL OR status IS DISTINCT FROM old_status
           OR customer_id IS DISTINCT FROM old_id OR records IS DISTINCT FROM old_records
           OR shared_with IS DISTINCT FROM old_shared
        """
    )
    text = "(status IS DISTINCT FROM old_status OR customer_id IS DISTINCT FROM old_id)"
    # in place: the counts; the text of identifiers resolved for the first time (they came
    # with the latest loads, together) or of all of them in a full run
    in_place = "TRUE" if full else f"old_status IS NULL OR NOT {text}"
    for columns, rows in (
        (("status", "records", "shared_with", "customer_id"), text),
        (("records", "shared_with"), f"NOT {text}"),
    ):
        subset = f"SELECT * FROM _ident WHERE irow IS NOT NULL AND ({in_place}) AND {rows}"
        if count(con, subset):
            assignments = ", ".join(f"{c} = u.{c}" for c in columns)
            con.execute(
                f"UPDATE identities SET {assignments} FROM ({subset}) u "
                "WHERE identities.rowid = u.irow"
            )
    # moved: identifiers resolved before (spread over the table) whose text changes
    moved = f"SELECT * FROM _ident WHERE irow IS NOT NULL AND NOT ({in_place})"
    _move(
        con,
        "identities",
        f"SELECT irow AS rid, status, records, shared_with, customer_id FROM ({moved})",
        ("status", "records", "shared_with", "customer_id"),
    )
    con.execute(
        """
        INSERT INTO identities (kind, value, customer_id, first_seen_at, first_load_id, source,
                                status, records, shared_with)
        SELECT kind, value, customer_id, ?, 0, 'resolve', status, records, shared_with
        FROM _ident WHERE irow IS NULL
        """,
        [now],
    )


def _write_records(con: duckdb.DuckDBPyConnection, result: ResolveResult, *, full: bool) -> None:
    """Each record gets the customer of its linking identifiers (all in one component);
    records whose identifiers no longer link anything (a phone that became shared) leave
    the customer they had."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rec AS
        SELECT p.rec, bool_or(p.is_new) AS is_new, any_value(p.prior_id) AS prior_id,
               arg_min(n.customer_id, s.status = 'split')
                   FILTER (WHERE s.status IN ('linked', 'split')) AS customer_id
        FROM _p p JOIN _status s USING (iid) JOIN _labels l USING (iid)
             LEFT JOIN _names n ON n.comp = l.comp
        GROUP BY p.rec
        """
    )
    result.records_unresolved = count(con, "SELECT * FROM _rec WHERE customer_id IS NULL")
    if full:  # every record is in the run: compare with the tables
        assigned = 0
        for index, table in enumerate(RECORD_TABLES):
            rows = f"SELECT rec // 2 AS rid, customer_id FROM _rec WHERE rec % 2 = {index} AND "
            row = con.execute(
                f"UPDATE {table} SET customer_id = m.customer_id "
                f"FROM ({rows} customer_id IS NOT NULL) m WHERE {table}.rowid = m.rid "
                f"AND {table}.customer_id IS DISTINCT FROM m.customer_id"
            ).fetchall()
            assigned += int(row[0][0]) if row else 0
            if result.records_unresolved:
                con.execute(
                    f"UPDATE {table} SET customer_id = NULL FROM ({rows} customer_id IS NULL) m "
                    f"WHERE {table}.rowid = m.rid AND {table}.customer_id IS NOT NULL"
                )
        result.records_assigned = assigned
        return
    # the customer each record had was read with it: only the changes are written, new
    # records in place (they sit together), the others moved
    changed = "SELECT * FROM _rec WHERE customer_id IS DISTINCT FROM prior_id"
    result.records_assigned = count(con, changed + " AND customer_id IS NOT NULL")
    for index, table in enumerate(RECORD_TABLES):
        rows = f"SELECT rec // 2 AS rid, customer_id FROM ({changed}) WHERE rec % 2 = {index} AND "
        if count(con, rows + "is_new"):
            con.execute(
                f"UPDATE {table} SET customer_id = m.customer_id FROM ({rows} is_new) m "
                f"WHERE {table}.rowid = m.rid"
            )
        _move(con, table, rows + "NOT is_new", ("customer_id",))


def _move(con: duckdb.DuckDBPyConnection, table: str, changes: str, columns: Sequence[str]) -> None:
    """Give rows of ``table`` new values by deleting them and adding them back at the end;
    ``changes`` selects ``rid`` (row id) and the new values of ``columns`` (none: nothing
    to do)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _moves AS {changes}")
    if not count(con, "SELECT * FROM _moves"):
        return
    replace = ", ".join(f"m.{c} AS {c}" for c in columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _moving AS SELECT t.* REPLACE ({replace}) "
        f"FROM {table} t JOIN _moves m ON t.rowid = m.rid"
    )
    con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rid FROM _moves)")
    con.execute(f"INSERT INTO {table} SELECT * FROM _moving")
