"""SQL building blocks shared by the steps of a resolution: which record columns carry
which identifier kind, how a record's identifiers are read, and each identifier's limit."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from voxloop.identity.phone_types import country_codes, is_fixed_line_sql

# record columns that carry an identifier, and the identifier's kind
COLUMN_KINDS: Mapping[str, str] = {
    "customer_ref": "account",
    "customer_email": "email",
    "customer_phone": "phone",
    "customer_handle": "handle",
}
RECORD_TABLES = ("interactions", "feedback")  # record id = rowid * 2 + index in this tuple


def pairs_sql(extra: Mapping[str, str], scope: str, *, prior: bool, new: bool) -> str:
    """(rec, prior_id, is_new, kind, value) for every identifier on every record in ``scope``
    (a condition on the record's table, alias ``r``; ``{index}`` stands for the table's
    index in ``RECORD_TABLES``). ``extra`` maps attribute names to identifier kinds.
    ``prior_id`` is the customer the record has now (read only when ``prior``: a run that
    re-reads everything does not need it), so that only the records whose customer changes
    are written back; ``is_new`` marks the records this run adds."""
    # one scan per table, unpivoted (UNPIVOT drops NULLs); columns are named kind__n so that
    # two columns may carry the same kind
    columns = [(f"r.{column}", kind) for column, kind in COLUMN_KINDS.items()]
    for attribute, kind in extra.items():
        path = ("$." + '"' + attribute.replace('"', "") + '"').replace("'", "''")
        columns.append((f"nullif(trim(json_extract_string(r.attributes, '{path}')), '')", kind))
    names = [f"{kind}__{i}" for i, (_, kind) in enumerate(columns)]
    select = ", ".join(f"{expr} AS {name}" for (expr, _), name in zip(columns, names, strict=True))
    customer = "r.customer_id" if prior else "NULL::VARCHAR"
    parts = []
    for index, table in enumerate(RECORD_TABLES):
        where = scope.replace("{index}", str(index))
        parts.append(
            f"SELECT rec, prior_id, {new} AS is_new, split_part(kind, '__', 1) AS kind, value "
            f"FROM (SELECT r.rowid * 2 + {index} AS rec, {customer} AS prior_id, {select} "
            f"FROM {table} r WHERE {where}) UNPIVOT (value FOR kind IN ({', '.join(names)}))"
        )
    return " UNION ALL ".join(parts)


def limit_sql(
    con: duckdb.DuckDBPyConnection,
    limits: Mapping[str, int],
    default: int,
    table: str,
    alias: str,
) -> str:
    """SQL for the limit of the identifier ``alias.kind``/``alias.value``: the most distinct
    identifiers of one other kind it may be seen with and still link. Fixed-line phones
    (a household's line) use ``limits["landline"]``; their countries are taken from the
    phones of ``table``."""
    phones = [value for (value,) in con.execute(
        f"SELECT DISTINCT value FROM {table} WHERE kind = 'phone'").fetchall()]  # fmt: skip
    fixed = is_fixed_line_sql(f"{alias}.value", country_codes(phones))
    cases = " ".join(f"WHEN '{k}' THEN {int(v)}" for k, v in limits.items() if k != "landline")
    landline = int(limits.get("landline", 1))
    return (
        f"CASE WHEN {alias}.kind = 'phone' AND {fixed} THEN {landline} "
        f"ELSE CASE {alias}.kind {cases} ELSE {int(default)} END END"
    )


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Rows of a query (to skip a statement that would have nothing to do)."""
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
