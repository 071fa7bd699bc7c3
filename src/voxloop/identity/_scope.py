"""What a resolution reads: every record (a full run), the records of some customers (after
a manual decision), or the records loaded since the last resolution (an incremental run).

Each way leaves the same temporary tables for the steps that follow:

* ``_pairs`` (rec, prior_id, is_new, kind, value): the identifiers of the records in the run;
* ``_info``: per identifier of ``_pairs`` (and of the new records left aside), what
  ``identities`` knows of it (``irow`` its row id there, ``old_status``, ``old_id``,
  ``old_records``, ``old_shared``) and two flags:
  *whole* — every record that carries it is in the run, so its counts are recounted — and
  *pinned* — it linked before and its customer is not re-read (below), with ``bound``, an
  upper bound of its ``shared_with`` now;
* ``_read``: the customers whose records are all in the run.

The new records are those of the loads after the newest one that has a resolved record
(``resolved_load``); DuckDB finds them from its zone maps on ``load_id`` without reading
the older row groups. Records changed by a later load come back as new records; the old
version's counts stay until a full run, and a customer a deleted record held together does
not come apart before one either.

An incremental run re-reads a customer its new records touch only when it has to. Its
identifiers' statuses can change only if one of them may now be seen with more identifiers
of one kind than its limit allows. An upper bound of that number needs no record: what the
identifier was seen with before is at most its ``shared_with`` and at most the identifiers
of that kind its customer has, plus what the new records bring. Customers for which a bound
exceeds a limit are re-read whole — exact counts, and the customer may come apart; the
others are *pinned*: they stay one customer, their identifiers keep their status, their
record counts grow by the new records, and ``shared_with`` holds the bound (still within
the limit; exact again once the customer is re-read, or after ``resolve --full``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from voxloop.identity._sql import RECORD_TABLES, count, limit_sql, pairs_sql


def collect_all(con: duckdb.DuckDBPyConnection, extra: Mapping[str, str]) -> None:
    """Every record is in the run."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _pairs AS " + pairs_sql(extra, "TRUE", prior=False, new=False)
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _read (customer_id VARCHAR)")
    _no_owned(con)
    _probe(con, "SELECT DISTINCT kind, value FROM _pairs", whole="TRUE")


def collect_customers(
    con: duckdb.DuckDBPyConnection, extra: Mapping[str, str], customers: Sequence[str]
) -> None:
    """The records of ``customers`` are in the run (after a manual merge or split)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _read (customer_id VARCHAR)")
    con.executemany("INSERT INTO _read VALUES (?)", [(c,) for c in customers])
    _no_owned(con)
    scope = "r.customer_id IN (SELECT customer_id FROM _read)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _pairs AS " + pairs_sql(extra, scope, prior=True, new=False)
    )
    _probe(con, "SELECT DISTINCT kind, value FROM _pairs", whole=_WHOLE)


def collect_new(
    con: duckdb.DuckDBPyConnection,
    extra: Mapping[str, str],
    limits: Mapping[str, int],
    default_limit: int,
    weak: frozenset[str],
) -> None:
    """The records loaded since the last resolution that can link, and the records of the
    customers they touch that must be re-read (see the module's documentation)."""
    since = resolved_load(con)
    scope = "r.customer_id IS NULL" + ("" if since is None else f" AND r.load_id > {since}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new AS " + pairs_sql(extra, scope, prior=False, new=True)
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _known AS
        SELECT n.kind, n.value, i.rowid AS irow, i.status AS old_status,
               i.customer_id AS old_id, i.records AS old_records, i.shared_with AS old_shared
        FROM (SELECT DISTINCT kind, value FROM _new) n
        LEFT JOIN identities i ON i.kind = n.kind AND i.value = n.value
        """
    )
    # records that carry only identifiers too common or too weak to link stay as they are
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new AS SELECT * FROM _new WHERE rec IN ("
        "SELECT rec FROM _new WHERE (kind, value) NOT IN ("
        "SELECT kind, value FROM _known WHERE old_status NOT IN ('linked', 'split')))"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT old_id AS customer_id "
        "FROM _known WHERE old_id IS NOT NULL"
    )
    _bound(con, limits, default_limit, weak)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _read AS SELECT DISTINCT old_id AS customer_id "
        "FROM _bound WHERE bound > lim"
    )
    parts = ["SELECT * FROM _new"]
    if count(con, "SELECT * FROM _read"):
        scope = "r.customer_id IN (SELECT customer_id FROM _read)"
        parts.append(pairs_sql(extra, scope, prior=True, new=False))
    con.execute("CREATE OR REPLACE TEMP TABLE _pairs AS " + " UNION ALL ".join(parts))
    read = "SELECT customer_id FROM _read"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _info AS
        SELECT k.*,
               k.old_status IS NULL OR (k.old_status = 'linked' AND k.old_id IN ({read}))
                   AS whole,
               coalesce(k.old_status = 'linked' AND k.old_id NOT IN ({read}), FALSE) AS pinned,
               b.bound
        FROM _known k LEFT JOIN _bound b USING (kind, value)
        """
    )
    # the identifiers of the customers re-read that the new records do not carry
    others = (
        "SELECT DISTINCT kind, value FROM _pairs WHERE NOT is_new "
        "AND (kind, value) NOT IN (SELECT kind, value FROM _info)"
    )
    if count(con, others):
        _probe(con, others, whole=_WHOLE, table="_info_read")
        con.execute("INSERT INTO _info BY NAME SELECT * FROM _info_read")


def _no_owned(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _owned "
        "(irow BIGINT, customer_id VARCHAR, kind VARCHAR, value VARCHAR)"
    )


# an identifier that links (or was never resolved) sits only on its customer's records
_WHOLE = "o.status IS NULL OR o.status = 'linked'"


def _probe(
    con: duckdb.DuckDBPyConnection, identifiers: str, *, whole: str, table: str = "_info"
) -> None:
    """``table``: what ``identities`` knows of ``identifiers`` (one scan of it)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT d.kind, d.value, o.rowid AS irow, o.status AS old_status,
               o.customer_id AS old_id, o.records AS old_records, o.shared_with AS old_shared,
               {whole} AS whole, FALSE AS pinned, NULL::BIGINT AS bound
        FROM ({identifiers}) d LEFT JOIN identities o ON o.kind = d.kind AND o.value = d.value
        """
    )


def _bound(
    con: duckdb.DuckDBPyConnection,
    limits: Mapping[str, int],
    default_limit: int,
    weak: frozenset[str],
) -> None:
    """``_bound``: per identifier of the new records that linked before, an upper bound of
    the most identifiers of one other kind it has now been seen with, and its limit.

    Per other kind, it is the smaller of: its ``shared_with`` (what it was seen with before)
    plus the identifiers of that kind the new records show it with; and the identifiers of
    that kind its customer has, joined with those. The second does not hold for kinds that
    sit on a customer's records without belonging to it — weak kinds, and kinds with
    identifiers split off by hand. Identifiers already too common (shared) never count."""
    # the customers' identifiers, from identities (one scan of its customer column; their row
    # ids serve again if customers merge)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _owned AS SELECT rowid AS irow, customer_id, kind, value "
        "FROM identities WHERE customer_id IN (SELECT customer_id FROM _touched) "
        "AND status IN ('linked', 'split')"
    )
    split = {k for (k,) in con.execute(
        "SELECT DISTINCT kind FROM identity_rules WHERE action = 'split'").fetchall()}  # fmt: skip
    loose = ", ".join(f"'{k}'" for k in sorted(weak | split)) or "NULL"
    limit = limit_sql(con, limits, default_limit, "_known", "k")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _bound AS
        WITH k AS (SELECT k.*, {limit} AS lim FROM _known k),
        met AS (
            SELECT DISTINCT a.kind, a.value, b.kind AS other_kind, b.value AS other
            FROM _new a JOIN _new b ON a.rec = b.rec AND a.kind <> b.kind
            WHERE (b.kind, b.value) NOT IN (SELECT kind, value FROM k WHERE old_status = 'shared')),
        x AS (SELECT kind, value, old_id, old_shared, lim FROM k WHERE old_status = 'linked'),
        fresh AS (
            SELECT kind, value, other_kind, count(*) AS n FROM met JOIN x USING (kind, value)
            GROUP BY ALL),
        owned AS (
            SELECT kind, value, other_kind, count(DISTINCT other) AS n FROM (
                SELECT m.kind, m.value, m.other_kind, m.other FROM met m JOIN x USING (kind, value)
                UNION ALL
                SELECT x.kind, x.value, o.kind, o.value FROM x JOIN _owned o
                ON o.customer_id = x.old_id AND o.kind <> x.kind)
            GROUP BY ALL)
        SELECT x.kind, x.value, x.old_id, x.lim,
               max(CASE WHEN f.other_kind IN ({loose}) THEN coalesce(x.old_shared, 0) + f.n
                        ELSE least(coalesce(x.old_shared, 0) + f.n, o.n) END) AS bound
        FROM x JOIN fresh f USING (kind, value) JOIN owned o USING (kind, value, other_kind)
        GROUP BY x.kind, x.value, x.old_id, x.lim
        """
    )


def resolved_load(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest load one of whose records has a customer, or None.

    Ingestion numbers loads in order and writes a load's records at once, and every
    resolution handles all the records that need it; so the records of that load and of the
    loads before it have all been through a resolution, and the new records are those of
    later loads. It is derived from the records rather than stored, so it can never
    disagree with them. The newest loads are asked first, one at a time: DuckDB answers
    each from the row groups that hold that load (zone maps on ``load_id``)."""
    loads = sorted(
        {
            int(load)
            for table in RECORD_TABLES
            for (load,) in con.execute(f"SELECT DISTINCT load_id FROM {table}").fetchall()
        },
        reverse=True,
    )
    for load in loads[:8]:
        for table in RECORD_TABLES:
            if con.execute(
                f"SELECT 1 FROM {table} WHERE load_id = {load} AND customer_id IS NOT NULL LIMIT 1"
            ).fetchall():
                return load
    if len(loads) <= 8:
        return None
    found = [
        int(row[0])
        for table in RECORD_TABLES
        for row in con.execute(
            f"SELECT max(load_id) FROM {table} WHERE customer_id IS NOT NULL"
        ).fetchall()
        if row[0] is not None
    ]
    return max(found) if found else None
