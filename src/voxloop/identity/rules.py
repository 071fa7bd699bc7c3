"""Manual decisions on customers: merge two, split an identifier off one.

Both are recorded in ``identity_rules`` so that every later resolution — incremental or
full — respects them: a merge adds an edge between the two customers' identifiers, a split
stops the identifier from linking anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from voxloop.errors import UserError
from voxloop.identity.resolve import RECORD_TABLES, ResolveOptions, ResolveResult, resolve
from voxloop.store.duckdb_store import DuckDBStore


def current_id(con: duckdb.DuckDBPyConnection, customer_id: str) -> str:
    """The id a customer is known by now (following merges); an unknown id is named."""
    seen = set()
    current = customer_id.strip()
    while True:
        row = con.execute(
            "SELECT merged_into FROM customers WHERE customer_id = ?", [current]
        ).fetchall()
        if not row:
            raise UserError(
                f"there is no customer {customer_id!r}",
                hint="find one with `voxloop customer show EMAIL` or in the customers table",
            )
        if row[0][0] is None or current in seen:
            return current
        seen.add(current)
        current = row[0][0]


def _representative(con: duckdb.DuckDBPyConnection, customer_id: str) -> tuple[str, str]:
    row = con.execute(
        "SELECT kind, value FROM identities WHERE customer_id = ? "
        "AND status IN ('linked', 'split') ORDER BY status, kind, value LIMIT 1",
        [customer_id],
    ).fetchall()
    if not row:
        raise UserError(
            f"customer {customer_id} has no identifier left to link on",
            hint="run `voxloop resolve` first",
        )
    return str(row[0][0]), str(row[0][1])


def _next_rule(con: duckdb.DuckDBPyConnection) -> int:
    return int(
        con.execute("SELECT coalesce(max(rule_id), 0) + 1 FROM identity_rules").fetchall()[0][0]
    )


def merge_customers(
    store: DuckDBStore,
    first: str,
    second: str,
    *,
    actor: str,
    note: str | None = None,
    reason: str = "manual",
) -> dict[str, str]:
    """Merge two customers now and for every later run; the older id is kept. ``reason``
    goes to the merge log (``manual``, or ``probabilistic`` with the score as ``note``)."""
    now = datetime.now(UTC)
    con = store.con
    a, b = current_id(con, first), current_id(con, second)
    if a == b:
        raise UserError(
            f"{first} and {second} are already the same customer ({a})", hint="nothing to do"
        )
    keep, gone = sorted(
        (a, b),
        key=lambda c: (
            con.execute("SELECT created_at FROM customers WHERE customer_id = ?", [c]).fetchall()[
                0
            ][0]
            or now,
            len(c),
            c,
        ),
    )
    keep_kind, keep_value = _representative(con, keep)
    gone_kind, gone_value = _representative(con, gone)
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO identity_rules (rule_id, action, customer_id, other_id, kind, value, "
            "other_kind, other_value, created_at, actor, note) "
            "VALUES (?, 'merge', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_next_rule(tx), keep, gone, keep_kind, keep_value, gone_kind, gone_value, now,
             actor, note],
        )  # fmt: skip
        tx.execute(
            "INSERT INTO customer_merges (merged_id, into_id, merged_at, reason, evidence, actor) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [gone, keep, now, reason, note or "merged by hand", actor],
        )
        tx.execute(
            "UPDATE customers SET merged_into = ? WHERE customer_id = ? OR merged_into = ?",
            [keep, gone, gone],
        )
        tx.execute("UPDATE identities SET customer_id = ? WHERE customer_id = ?", [keep, gone])
        for table in RECORD_TABLES:
            tx.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", [keep, gone])
    return {"kept": keep, "merged": gone}


def split_identifier(
    store: DuckDBStore,
    options: ResolveOptions,
    customer_id: str,
    kind: str,
    value: str,
    *,
    actor: str,
    note: str | None = None,
) -> tuple[str | None, ResolveResult]:
    """Detach ``kind:value`` from a customer: it links nothing from now on, and the records
    that carry only it become a customer of their own. Returns that customer's id."""
    now = datetime.now(UTC)
    con = store.con
    owner = current_id(con, customer_id)
    row = con.execute(
        "SELECT customer_id FROM identities WHERE kind = ? AND value = ?", [kind, value]
    ).fetchall()
    if not row:
        raise UserError(
            f"there is no identifier {kind}:{value}",
            hint="identifiers are stored normalised: e-mails in lower case, phones in E.164 "
            "(+33612345678); see them with `voxloop customer show`",
        )
    if row[0][0] != owner:
        raise UserError(
            f"{kind}:{value} does not belong to customer {owner}",
            hint=f"it belongs to {row[0][0] or 'no customer'}",
        )

    def record_rule(tx: duckdb.DuckDBPyConnection) -> None:
        tx.execute(
            "INSERT INTO identity_rules (rule_id, action, customer_id, kind, value, created_at, "
            "actor, note) VALUES (?, 'split', ?, ?, ?, ?, ?, ?)",
            [_next_rule(tx), owner, kind, value, now, actor, note],
        )

    # the rule and the re-resolution commit together, or neither does
    result = resolve(store, options, customers=[owner], now=now, setup=record_rule)
    new = con.execute(
        "SELECT customer_id FROM identities WHERE kind = ? AND value = ?", [kind, value]
    ).fetchall()
    return (new[0][0] if new else None), result
