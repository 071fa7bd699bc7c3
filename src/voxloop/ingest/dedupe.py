"""Duplicates: the same natural key twice in one file, or already in the store.

Within a file, rows are compared per canonical table across every output writing to it (a
tweet cannot be both inbound and outbound): a repeat with the same content is a duplicate; a
repeat with different content is an error (the first occurrence is kept). Only rows that are
valid everywhere take part, so a quarantined row never "wins" over a good one.
"""

from __future__ import annotations

import duckdb

from voxloop.ingest.normalise import literal


def in_file_duplicates(
    con: duckdb.DuckDBPyConnection,
    tables: list[str],  # validated temp tables writing to the same canonical table
    bad: str,  # temp table of rows already known to be bad (__row, target, reason)
    target: str,
    work: str,  # name for a scratch table
) -> None:
    """Mark repeats ``__dup`` in their table, and add conflicting repeats to ``bad``."""
    union = " UNION ALL ".join(
        f"SELECT {i} AS part, __row, external_id, "
        f"hash(*COLUMNS(lambda c: c NOT IN ('__row', '__errors', '__dup'))) AS h FROM {t} "
        f"WHERE __errors IS NULL AND __row NOT IN (SELECT __row FROM {bad})"
        for i, t in enumerate(tables)
    )
    ids = " UNION ALL ".join(
        f"SELECT external_id FROM {t} WHERE __errors IS NULL AND external_id IS NOT NULL "
        f"AND __row NOT IN (SELECT __row FROM {bad})"
        for t in tables
    )
    [counts] = con.execute(f"SELECT count(*), count(DISTINCT external_id) FROM ({ids})").fetchall()
    if counts[0] == counts[1]:
        return
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {work} AS
        SELECT part, __row, external_id,
               first_value(__row) OVER w AS first_row,
               row_number() OVER w AS rank,
               first_value(h) OVER w = h AS same
        FROM ({union})
        WINDOW w AS (PARTITION BY external_id ORDER BY __row, part)
        QUALIFY rank > 1
        """
    )
    for i, table in enumerate(tables):
        con.execute(
            f"UPDATE {table} SET __dup = TRUE FROM {work} d "
            f"WHERE d.part = {i} AND {table}.__row = d.__row AND d.same"
        )
    con.execute(
        f"INSERT INTO {bad} SELECT DISTINCT __row, {literal(target)}, "
        f"'external_id: ' || external_id || ' appears again with different values "
        f"(first at row ' || first_row || ', which was kept)' FROM {work} WHERE NOT same"
    )
    con.execute(f"DROP TABLE {work}")
