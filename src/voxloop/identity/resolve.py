"""Identity resolution: records that share an identifier belong to one customer.

The graph is bipartite — records (contacts, answers, mentions) and the identifiers they
carry — and a customer is a connected component. The heavy lifting is split between the
two tools made for it: DuckDB builds the edges and writes the result, and SciPy's
``connected_components`` (C, union–find over a sparse matrix) finds the components.

Guard-rails real data needs:

* an identifier seen with more than ``identity_limits[kind]`` distinct identifiers of one
  other kind (a switchboard number with thousands of e-mails, a family landline, a shared
  ``contact@`` address) is **shared**: it is reported and never used to link. Fixed-line
  phones use the stricter ``identity_limits["landline"]`` (default 1): a household's line;
* weak kinds (``weak_identifiers``, e.g. a device cookie) attach to nothing on their own;
* manual rules (``identity_rules``) are applied on every run: a *split* identifier links to
  nothing, a *merge* adds an edge between the two customers' identifiers.

Customer ids are stable: a component keeps the id its identifiers already had; when several
customers meet, the oldest id is kept and the others are recorded in ``customer_merges`` and
marked ``merged_into``. A run is **incremental** by default: it reads the records loaded
since the last resolution and, of the customers they touch, re-reads only those whose
identifiers may now be too common (``_scope`` says how, and what it leaves approximate);
``full=True`` re-resolves everything (needed after an identifier became shared, to undo the
links it made earlier, or after the limits changed). The steps: what is read (``_scope``),
which identifiers are shared and the components (here), names and writes (``_write``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from voxloop.identity import _scope, _write
from voxloop.identity._sql import COLUMN_KINDS, RECORD_TABLES, limit_sql
from voxloop.store.duckdb_store import DuckDBStore

__all__ = [
    "COLUMN_KINDS",
    "RECORD_TABLES",
    "ResolveOptions",
    "ResolveResult",
    "parse_identifier",
    "resolve",
]

ProgressFn = Callable[[str, float], None]

MAX_ROUNDS = 24  # of the shared-identifier fixpoint (real data settles in 2 to 4)


@dataclass(frozen=True)
class ResolveOptions:
    limits: Mapping[str, int]  # kind → most distinct identifiers of one other kind
    weak: frozenset[str]  # kinds that never link
    extra: Mapping[str, str]  # attribute name → identifier kind (loyalty cards, devices…)
    default_limit: int = 2


@dataclass
class ResolveResult:
    mode: str  # full, incremental or nothing
    records: int = 0  # records (re)examined
    identifiers: int = 0
    customers_created: int = 0
    customers_merged: int = 0
    records_assigned: int = 0
    records_unresolved: int = 0  # carry only shared/weak identifiers
    shared: list[dict[str, object]] = field(default_factory=list)  # newly shared identifiers
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def resolve(
    store: DuckDBStore,
    options: ResolveOptions,
    *,
    full: bool = False,
    customers: Sequence[str] = (),
    now: datetime | None = None,
    progress: ProgressFn | None = None,
    setup: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> ResolveResult:
    """Resolve customers; see the module's documentation. ``customers`` re-resolves only
    those customers' records (after a manual merge or split)."""
    started = datetime.now(UTC)
    now = now or started
    report = progress or (lambda _stage, _fraction: None)
    con = store.con
    previous = con.execute("SELECT count(*) FROM identities WHERE status IS NOT NULL").fetchall()
    if not previous[0][0] and not customers:
        full = True
    with store.transaction() as tx:
        if setup is not None:  # e.g. a manual rule, committed with the resolution or not at all
            setup(tx)
        result = _run(tx, options, full=full, customers=customers, now=now, report=report)
    result.duration_s = (datetime.now(UTC) - started).total_seconds()
    return result


def _run(
    con: duckdb.DuckDBPyConnection,
    options: ResolveOptions,
    *,
    full: bool,
    customers: Sequence[str],
    now: datetime,
    report: ProgressFn,
) -> ResolveResult:
    result = ResolveResult(mode="full" if full else "incremental")
    report("collecting identifiers", 0.0)
    if full:
        _scope.collect_all(con, options.extra)
    elif customers:
        result.mode = "customers"
        _scope.collect_customers(con, options.extra, customers)
    else:
        _scope.collect_new(con, options.extra, options.limits, options.default_limit, options.weak)
    [(n_pairs, n_records)] = con.execute(
        "SELECT count(*), count(DISTINCT rec) FROM _pairs"
    ).fetchall()
    if not n_pairs:
        result.mode = "nothing"
        result.notes.append(
            "nothing to resolve: no record carries an identifier that is not resolved yet"
        )
        return result
    result.records = int(n_records)

    # identifiers, numbered, with what identities knows of them
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ids AS "
        "SELECT *, (row_number() OVER ()) - 1 AS iid FROM _info"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _p AS SELECT p.rec, i.iid, i.kind, p.is_new, p.prior_id "
        "FROM _pairs p JOIN _ids i USING (kind, value)"
    )
    report("collecting identifiers", 1.0)
    report("finding shared identifiers", 0.0)
    _degrees(con, options, count_new=not full)
    # what is not whole keeps its counts, plus the new records; a pinned identifier keeps
    # linking (its bound is within its limit) and records that bound (see _scope)
    weak = ", ".join(f"'{k}'" for k in sorted(options.weak)) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _status AS
        SELECT *,
               CASE
                 WHEN kind IN ({weak}) THEN 'weak'
                 WHEN EXISTS (SELECT 1 FROM identity_rules r WHERE r.action = 'split'
                              AND r.kind = c.kind AND r.value = c.value) THEN 'split'
                 WHEN ({"FALSE" if full else "old_status = 'shared'"}) THEN 'shared'
                 WHEN pinned THEN 'linked'
                 WHEN shared_with > lim THEN 'shared'
                 ELSE 'linked'
               END AS status
        FROM (
            SELECT i.iid, i.kind, i.value, d.lim, i.irow, i.old_id, i.old_status,
                   i.old_records, i.old_shared, i.pinned,
                   CASE WHEN i.whole THEN d.records
                        ELSE coalesce(i.old_records, 0) + d.new_records END AS records,
                   CASE WHEN i.whole THEN d.shared_with
                        ELSE greatest(coalesce(i.old_shared, 0), coalesce(i.bound, 0),
                                      d.shared_with) END AS shared_with
            FROM _deg d JOIN _ids i USING (iid)) c
        """
    )
    newly_shared = con.execute(
        "SELECT kind, value, records, shared_with FROM _status "
        "WHERE status = 'shared' AND (old_status IS DISTINCT FROM 'shared') "
        "ORDER BY shared_with DESC, kind, value"
    ).fetchall()
    result.shared = [
        {"kind": k, "value": v, "records": int(r), "shared_with": int(s)}
        for k, v, r, s in newly_shared
    ]
    relinked = con.execute(
        "SELECT count(*) FROM _status WHERE status = 'shared' AND old_status = 'linked'"
    ).fetchall()[0][0]
    if relinked:
        result.notes.append(
            f"{relinked} identifier(s) linked before are now too common to link on; the "
            "records that only they linked were detached"
            + ("" if full else " (`voxloop resolve --full` re-checks every customer)")
        )
    report("finding shared identifiers", 1.0)

    # the graph: linking identifiers of one record form a star around the record's smallest
    report("linking", 0.0)
    edges = con.execute(
        """
        WITH l AS (SELECT p.rec, p.iid FROM _p p JOIN _status s USING (iid)
                   WHERE s.status = 'linked')
        SELECT min(iid) OVER (PARTITION BY rec) AS a, iid AS b FROM l
        """
    ).fetchnumpy()
    # manual merges: an edge between the two sides' representative identifiers, or, when one
    # no longer links (it became shared), another linked identifier of the customer kept
    manual = con.execute(
        """
        WITH side AS (
            SELECT r.rule_id, r.customer_id, s.iid, s.status,
                   r.kind = s.kind AND r.value = s.value AS first_side,
                   r.other_kind = s.kind AND r.other_value = s.value AS second_side
            FROM identity_rules r JOIN _status s
              ON (s.kind = r.kind AND s.value = r.value)
              OR (s.kind = r.other_kind AND s.value = r.other_value)
            WHERE r.action = 'merge'),
        fallback AS (
            SELECT r.rule_id, min(s.iid) AS iid FROM identity_rules r
            JOIN _status s ON s.old_id = r.customer_id AND s.status = 'linked'
            WHERE r.action = 'merge' GROUP BY r.rule_id),
        ends AS (
            SELECT s.rule_id,
                   coalesce(max(CASE WHEN s.first_side AND s.status = 'linked' THEN s.iid END),
                            f.iid) AS a,
                   coalesce(max(CASE WHEN s.second_side AND s.status = 'linked' THEN s.iid END),
                            f.iid) AS b
            FROM side s LEFT JOIN fallback f USING (rule_id) GROUP BY s.rule_id, f.iid)
        SELECT a, b FROM ends WHERE a IS NOT NULL AND b IS NOT NULL
        """
    ).fetchnumpy()
    n_ids = con.execute("SELECT count(*) FROM _ids").fetchall()[0][0]
    # a pinned customer stays one: its identifiers in the run meet at a node of its own
    pinned = con.execute(
        f"SELECT iid AS a, {int(n_ids)} + dense_rank() OVER (ORDER BY old_id) - 1 AS b "
        "FROM _status WHERE pinned AND status = 'linked'"
    ).fetchnumpy()
    ends = [(edges["a"], edges["b"]), (manual["a"], manual["b"]), (pinned["a"], pinned["b"])]
    src = np.concatenate([_int64(a) for a, _ in ends])
    dst = np.concatenate([_int64(b) for _, b in ends])
    n_nodes = max(int(n_ids), int(dst.max()) + 1 if len(dst) else 0)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    iids = np.arange(n_ids, dtype=np.int64)
    comps = _int64(labels[:n_ids])
    # Arrow arrays over the NumPy buffers: pa.array(ndarray) would import pandas (0.1 to
    # 0.2 s, a tenth of an incremental run)
    table = pa.Table.from_arrays(
        [pa.Array.from_buffers(pa.int64(), n_ids, [None, pa.py_buffer(a)]) for a in (iids, comps)],
        names=["iid", "comp"],
    )
    con.register("_labels_arrow", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _labels AS SELECT * FROM _labels_arrow")
    con.unregister("_labels_arrow")
    result.identifiers = int(con.execute("SELECT count(*) FROM _deg").fetchall()[0][0])
    report("linking", 1.0)

    report("naming customers", 0.0)
    _write.name_components(con)
    report("naming customers", 1.0)
    report("writing", 0.0)
    _write.write(con, result, now, full=full)
    report("writing", 1.0)
    return result


def _degrees(con: duckdb.DuckDBPyConnection, options: ResolveOptions, *, count_new: bool) -> None:
    """``_deg``: per identifier, its records (and, when ``count_new``, those of them new),
    its limit and ``shared_with`` — the most distinct identifiers of one other kind seen with
    it, not counting identifiers that are themselves over their limit (a ``noreply@``
    address must not make every phone it met look shared)."""
    limit = limit_sql(con, options.limits, options.default_limit, "_ids", "i")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _lim AS SELECT i.iid, {limit} AS lim FROM _ids i")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _co AS
        SELECT DISTINCT a.iid, b.iid AS other, b.kind AS other_kind
        FROM _p a JOIN _p b ON a.rec = b.rec AND a.kind <> b.kind
        """
    )
    # Over their limit, not counting what is itself over. "Over, given a set S" shrinks as S
    # grows, so iterating from S = {} alternates: the switchboard makes an e-mail look shared
    # in round one; once the switchboard is discounted the e-mail is personal again in round
    # two. The rounds either settle (one answer) or fall into a 2-cycle (an e-mail with three
    # phones, one of which has three e-mails: which one is shared?); then the union of the
    # two is kept — when in doubt, do not link (precision first).
    # Identifiers only partly in this run (shared, weak, split: see _scope) cannot be judged
    # from that part; they count as over when they were shared or over before.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _over_0 AS
        SELECT i.iid FROM _ids i JOIN _lim l USING (iid)
        WHERE NOT i.whole AND NOT i.pinned
          AND (i.old_status = 'shared' OR coalesce(i.old_shared, 0) > l.lim)
        """
    )
    rounds = ["_over_0"]
    for k in range(1, MAX_ROUNDS + 1):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _over_{k} AS
            SELECT iid FROM (
                SELECT iid, other_kind, count(*) AS n FROM _co
                WHERE other NOT IN (SELECT iid FROM {rounds[-1]}) GROUP BY ALL) c
            JOIN _lim USING (iid) GROUP BY iid, lim HAVING max(n) > lim
            UNION SELECT iid FROM _over_0
            """
        )
        rounds.append(f"_over_{k}")
        if _same_set(con, rounds[-1], rounds[-2]) or (
            k >= 2 and _same_set(con, rounds[-1], rounds[-3])
        ):
            break
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _over AS SELECT iid FROM {rounds[-1]} "
        f"UNION SELECT iid FROM {rounds[-2]}"
    )
    for name in rounds:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    new_records = "count(DISTINCT rec) FILTER (WHERE is_new)" if count_new else "0"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _deg AS
        WITH deg AS (
            SELECT iid, max(n) AS shared_with FROM (
                SELECT iid, other_kind, count(*) AS n FROM _co
                WHERE other NOT IN (SELECT iid FROM _over) GROUP BY ALL)
            GROUP BY iid),
        recs AS (SELECT iid, count(DISTINCT rec) AS records, {new_records} AS new_records
                 FROM _p GROUP BY iid)
        SELECT l.iid, l.lim, recs.records, recs.new_records,
               coalesce(deg.shared_with, 0) AS shared_with
        FROM _lim l JOIN recs USING (iid) LEFT JOIN deg USING (iid)
        """
    )


def _same_set(con: duckdb.DuckDBPyConnection, a: str, b: str) -> bool:
    [(differ,)] = con.execute(
        f"SELECT count(*) FROM ((SELECT iid FROM {a} EXCEPT SELECT iid FROM {b}) "
        f"UNION ALL (SELECT iid FROM {b} EXCEPT SELECT iid FROM {a}))"
    ).fetchall()
    return int(differ) == 0


def _int64(values: Any) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = np.ascontiguousarray(values, dtype=np.int64)
    return out


def parse_identifier(text: str, kinds: Sequence[str]) -> tuple[str, str]:
    """``"email:a@b.fr"`` → ("email", "a@b.fr"), checking the kind."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise ValueError(f"{text!r} is not KIND:VALUE (e.g. email:jean@example.fr)")
    if kind not in kinds:
        raise ValueError(f"unknown identifier kind {kind!r}; kinds: {', '.join(kinds)}")
    return kind, value
