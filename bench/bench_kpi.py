"""KPI engine benchmark: a dashboard set through voxloop, hand-written DuckDB SQL and pandas.

The issue's target: on ten million interactions (and two million survey answers), the
dashboard set computed by ``ws.metrics.compute`` takes ≤ 1.3 × the time of hand-written
DuckDB SQL computing the same numbers, in ≤ 2 GB of peak memory.

Data: generated with SQL directly in a fresh workspace's DuckDB store (no ingestion), every
"random" draw a ``hash`` of the row and a salt, so the same ``--rows`` give the same data. It is
cached in ``bench/out/kpi_ws_<rows>/`` (git-ignored); ``--regenerate`` rebuilds it.

* interactions: channels weighted like a French contact centre (phone 40 %, e-mail 25 %,
  chat 12 %, social 8 %, web form 8 %, the rest self-care, store, mail and call-back);
  about ``rows × 0.15`` distinct customers with a skewed (power-law) contact count, keyed by
  e-mail (2 % of rows carry only a phone; ``customer_id`` is NULL as before identity
  resolution); half the contacts come in episodes (a customer's contacts within days of each
  other, mostly on one reason), so repeat contacts and channel switching happen; 15 months of
  ``started_at`` in Paris business hours mostly, ending at :data:`DATA_END`; first responses
  log-normal per channel (seconds on the phone and chat, hours on e-mail and social), with
  unanswered contacts and a few clock-skewed ones; ~30 teams in 3 hubs, ~500 agents,
  15 reasons; 93 % inbound;
* feedback: ``rows / 5`` answers, nps 60 % / csat 30 % / ces 10 % with skewed scores on their
  scales, 90 % linked to a contact (its channel, customer and a later ``answered_at``), hot
  80 % / cold 20 %, weights on a few cold answers.

The dashboard set (:data:`DASHBOARD`), computed three ways, each checked against voxloop:

* ``voxloop`` — ``ws.metrics.compute(name, by=…)`` on the workspace's store (the workspace's
  engine, its clock pinned at :data:`NOW`);
* ``sql`` — the named baseline: hand-written DuckDB SQL on the same connection (same
  ``memory_limit``, 2GB by default, and threads), same definitions, written the way a good SQL
  author would (a quarter-hour calendar table for business hours, ``lead()`` for the next
  contact, the data's end as a first statement for fcr and channel-switching);
* ``pandas`` — the same on DataFrames loaded from the store (loading timed separately).

voxloop and the SQL run in one process, interleaved metric by metric (the order alternating
between rounds) so that a slow spell of a shared machine hits both alike: one warm-up run of
each set, then ``--repeat`` rounds; medians. Peak memory comes from two more processes, one
running only voxloop's set and one only the SQL's (warm-up + one run each); pandas runs in its
own process. Peak memory is the larger of the process's ``VmHWM`` and its sampled tree RSS.

Every result is compared with voxloop's: value and n (and frt's interval bounds, which are
order statistics) within 1e-9 relative; a difference is printed as a MISMATCH. ``now``
(which decides whether an unanswered contact is still within its target) is :data:`NOW` for
everyone.

``--engines``: on a separately generated 1,000,000-row workspace, the same dashboard through
voxloop on DuckDB, PostgreSQL (a throwaway server started like ``tests/conftest.py``'s
``postgres_url`` fixture, the workspace published with ``ws.publish_postgres``) and Spark
(a lake written by ``ws.export_parquet``, read by ``ws.metrics_on("spark", lake=…)``), each
checked against DuckDB; publishing, exporting and starting Spark are timed separately.

Results: a table on stdout and ``bench/out/kpi_<rows>.json``.

Usage: ``python bench/bench_kpi.py --rows 10000000 --repeat 3 [--engines]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_ingest import _busy_cpu_s, _own_peak_mb, _poll_tree_rss, source_fingerprint

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
TARGET_RATIO = 1.3  # voxloop total ≤ 1.3 × hand-written SQL total
TARGET_PEAK_MB = 2048.0
TOLERANCE = 1e-9
GENERATOR_VERSION = 1  # bump when the generated data changes (invalidates the cache)
ENGINES_ROWS = 1_000_000

# The data ends on a Friday afternoon; "now" is half an hour later, so the last contacts are
# still within their targets (pending) and unanswered e-mails straddle the weekend.
DATA_END = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
NOW = DATA_END + timedelta(minutes=30)
DAYS = 456  # about 15 months
ZONE = "Europe/Paris"

DASHBOARD: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nps", ("channel", "month")),
    ("frt", ("channel",)),
    ("service-level", ("channel",)),
    ("fcr", ()),
    ("channel-switching", ()),
    ("csat", ("team",)),
)

CHANNEL_SHARES: tuple[tuple[str, float], ...] = (
    ("phone", 0.40),
    ("email", 0.25),
    ("chat", 0.12),
    ("social", 0.08),
    ("web_form", 0.08),
    ("self_care", 0.03),
    ("store", 0.02),
    ("mail", 0.01),
    ("callback", 0.01),
)
# channel → (source, median first response s, log-sd, share unanswered, median handle s)
CHANNEL_TIMES: dict[str, tuple[str, float, float, float, float | None]] = {
    "phone": ("genesys", 25, 1.0, 0.06, 280),
    "chat": ("genesys", 45, 1.1, 0.05, 480),
    "callback": ("genesys", 7200, 1.0, 0.04, 300),
    "email": ("zendesk", 5 * 3600, 1.3, 0.03, 360),
    "social": ("zendesk", 40 * 60, 1.2, 0.12, 240),
    "web_form": ("zendesk", 8 * 3600, 1.3, 0.05, 420),
    "self_care": ("zendesk", 3600, 1.5, 0.03, None),
    "store": ("crm", 120, 0.8, 0.01, 600),
    "mail": ("crm", 3 * 86400, 0.6, 0.02, 900),
}
REASONS = (
    "billing",
    "technical_issue",
    "delivery",
    "contract_change",
    "cancellation",
    "payment",
    "complaint",
    "information",
    "moving",
    "account_access",
    "refund",
    "equipment",
    "offer",
    "fraud",
    "other",
)
HUBS = ("Paris", "Lyon", "Casablanca")
DOMAINS = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "sfr.fr", "laposte.net", "yahoo.fr")
# score → weight (percent) per instrument
SCORES: dict[str, tuple[float, float, tuple[float, ...]]] = {
    "nps": (0, 10, (3, 1, 1.5, 2, 2.5, 5, 6, 9, 15, 22, 33)),
    "csat": (1, 5, (8, 6, 12, 32, 42)),
    "ces": (1, 7, (4, 5, 8, 13, 22, 28, 20)),
}


# -- data -----------------------------------------------------------------------------------
def _u(salt: int, key: str = "i") -> str:
    """A uniform draw in [0, 1) from ``hash(key · 128 + salt)``, ``key`` an integer.

    (Not ``hash(key, salt)`` used raw: DuckDB combines the two hashes so that such draws
    with different salts are strongly correlated, r from −0.5 to 0.99.)"""
    return f"(hash(({key}) * 128 + {salt})::DOUBLE / 18446744073709551616.0)"


def _normal(salt: int, key: str = "i") -> str:
    """A standard normal draw (Box–Muller on two uniforms)."""
    return f"(sqrt(-2 * ln(1 - {_u(salt, key)})) * cos(2 * pi() * {_u(salt + 1, key)}))"


def _pick(values: Sequence[object], weights: Sequence[float], u: str) -> str:
    """CASE choosing ``values[k]`` (as SQL literals) with probability ``weights[k] / sum``."""
    total = sum(weights)
    acc = 0.0
    parts = []
    for value, weight in zip(values[:-1], weights[:-1], strict=True):
        acc += weight / total
        parts.append(f"WHEN {u} < {acc!r} THEN {_lit(value)}")
    return f"CASE {' '.join(parts)} ELSE {_lit(values[-1])} END"


def _lit(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _by_channel(column: int, default: str = "NULL") -> str:
    parts = " ".join(
        f"WHEN {_lit(c)} THEN {_lit(v[column]) if v[column] is not None else 'NULL'}"
        for c, v in CHANNEL_TIMES.items()
    )
    return f"CASE channel {parts} ELSE {default} END"


def interactions_sql(rows: int) -> str:
    customers = max(1000, round(rows * 0.155))
    end = DATA_END.strftime("%Y-%m-%d %H:%M:%S")
    first_day = (DATA_END.date() - timedelta(days=DAYS - 1)).isoformat()
    channels = _pick([c for c, _ in CHANNEL_SHARES], [s for _, s in CHANNEL_SHARES], _u(2))
    reasons = list(REASONS)
    reason_weights = [1 / (k + 1) ** 0.9 for k in range(len(reasons))]
    reason_any = _pick(reasons, reason_weights, _u(10))
    reason_episode = _pick(reasons, reason_weights, _u(11, "c * 4 + g"))
    domain = _pick(list(DOMAINS), [30, 20, 12, 12, 10, 8, 8], _u(3, "c"))
    lognormal = f"exp(ln({_by_channel(1)}) + {_by_channel(2)} * {_normal(20)})"
    handle = f"round({_by_channel(4)} * exp(0.6 * {_normal(30)}))"
    return f"""
    WITH base AS (
        SELECT
            i,
            floor({customers} * pow({_u(1)}, 1.7))::BIGINT AS c,
            (hash(i * 128 + 4) % 4)::BIGINT AS g,
            {channels} AS channel,
            {_u(5)} AS u_episode
        FROM range({rows}) AS r(i)
    ),
    timed AS (
        SELECT
            *,
            least({DAYS - 1}, CASE
                WHEN u_episode < 0.5
                THEN (hash((c * 4 + g) * 128 + 6) % {DAYS})::BIGINT
                    + floor(-2.5 * ln(1 - {_u(7)}))::BIGINT
                ELSE floor({DAYS} * {_u(8)})::BIGINT
            END) AS day_index,
            CASE
                WHEN {_u(9)} < 0.85 THEN 28800 + floor(39600 * {_u(12)})
                ELSE floor(86400 * {_u(12)})
            END::BIGINT AS second_of_day,
            CASE
                WHEN u_episode < 0.5 AND {_u(13)} < 0.7 THEN {reason_episode}
                WHEN {_u(14)} < 0.02 THEN NULL
                ELSE {reason_any}
            END AS reason,
            floor(30 * pow({_u(15)}, 1.2))::BIGINT AS team_index
        FROM base
    ),
    started AS (
        SELECT
            *,
            timezone('{ZONE}', (DATE '{first_day}' + day_index::INTEGER)::TIMESTAMP
                + to_seconds(second_of_day)) AS local_start
        FROM timed
    ),
    started_utc AS (
        SELECT
            *,
            CASE WHEN local_start > TIMESTAMPTZ '{end}+00'
                THEN local_start - INTERVAL 7 DAY ELSE local_start END AS started_at,
            {_by_channel(0)} AS source,
            CASE
                WHEN {_u(16)} < 0.0005 THEN -round(600 * {_u(17)})
                WHEN {_u(18)} < {_by_channel(3)} THEN NULL
                ELSE greatest(1, round({lognormal}))
            END AS response_s
        FROM started
    ),
    responded AS (
        SELECT
            *,
            CASE WHEN response_s IS NOT NULL
                AND started_at + to_seconds(response_s::BIGINT) <= TIMESTAMPTZ '{end}+00'
                THEN started_at + to_seconds(response_s::BIGINT) END AS first_response_at,
            {handle} AS handle_raw
        FROM started_utc
    ),
    ended AS (
        SELECT
            *,
            CASE
                WHEN {_u(19)} < 0.01 THEN NULL
                WHEN first_response_at IS NOT NULL THEN first_response_at + to_seconds(
                    (coalesce(handle_raw, 600) * CASE WHEN channel IN ('phone', 'chat', 'store')
                        THEN 1.1 ELSE 1 + 40 * {_u(21)} END)::BIGINT)
                WHEN channel IN ('phone', 'chat', 'callback')
                THEN started_at + to_seconds((5 + 120 * {_u(22)})::BIGINT)
            END AS ended_raw
        FROM responded
    )
    SELECT
        source || ':' || upper(substr(source, 1, 2)) || lpad(i::VARCHAR, 10, '0')
            AS interaction_id,
        source,
        upper(substr(source, 1, 2)) || lpad(i::VARCHAR, 10, '0') AS external_id,
        CASE WHEN {_u(23)} < 0.4 THEN 'A' || lpad(c::VARCHAR, 8, '0') END AS customer_ref,
        CASE WHEN {_u(24)} >= 0.02 THEN 'client' || c || '@' || {domain} END AS customer_email,
        CASE WHEN channel IN ('phone', 'callback') OR {_u(24)} < 0.02
            THEN '+336' || lpad((c % 100000000)::VARCHAR, 8, '0') END AS customer_phone,
        CASE WHEN channel = 'social' THEN 'user' || c END AS customer_handle,
        NULL AS customer_name,
        NULL AS customer_id,
        channel,
        CASE
            WHEN {_u(25)} < 0.93 THEN 'inbound'
            WHEN {_u(25)} < 0.98 THEN 'outbound'
            WHEN {_u(25)} < 0.99 THEN 'internal'
        END AS direction,
        started_at,
        first_response_at,
        CASE WHEN ended_raw <= TIMESTAMPTZ '{end}+00' THEN ended_raw END AS ended_at,
        CASE WHEN first_response_at IS NULL AND channel IN ('phone', 'chat') THEN 0
            ELSE handle_raw END AS handle_s,
        'agent_' || lpad((team_index * 17 + floor(17 * {_u(26)}))::BIGINT::VARCHAR, 3, '0')
            AS agent,
        {_pick(list(HUBS), [1, 1, 1], _u(27, "team_index"))} || '-'
            || lpad((team_index + 1)::VARCHAR, 2, '0') AS team,
        {_pick(list(HUBS), [1, 1, 1], _u(27, "team_index"))} AS hub,
        reason,
        NULL AS touchpoint,
        CASE
            WHEN first_response_at IS NULL AND channel IN ('phone', 'chat') THEN 'abandoned'
            WHEN {_u(28)} < 0.08 THEN 'escalated'
            ELSE 'resolved'
        END AS outcome,
        CASE WHEN channel IN ('phone', 'callback')
            THEN floor(-0.6 * ln(1 - {_u(29)}))::INTEGER END AS transfers,
        NULL AS sla_met,
        NULL AS thread_ref,
        CASE WHEN source = 'zendesk' THEN 'Z' || (i * 7 + 13) END AS case_ref,
        NULL AS organisation,
        NULL AS text,
        NULL AS attributes,
        1 AS load_id,
        i + 1 AS row_number,
        TIMESTAMPTZ '{end}+00' + INTERVAL 1 HOUR AS ingested_at
    FROM ended
    """


def feedback_sql(rows: int, answers: int) -> str:
    end = DATA_END.strftime("%Y-%m-%d %H:%M:%S")
    first = f"TIMESTAMPTZ '{end}+00' - INTERVAL {DAYS} DAY"

    def score(instrument: str) -> str:
        lo, _hi, weights = SCORES[instrument]
        return _pick([float(lo + k) for k in range(len(weights))], weights, _u(42, "k"))

    instrument = _pick(["nps", "csat", "ces"], [60, 30, 10], _u(41, "k"))
    unlinked_channel = _pick(
        [c for c, _ in CHANNEL_SHARES], [s for _, s in CHANNEL_SHARES], _u(47, "k")
    )
    return f"""
    WITH base AS (
        SELECT
            k,
            {_u(40, "k")} < 0.9 AS linked,
            floor({rows} * {_u(43, "k")})::BIGINT + 1 AS contact_row,
            {instrument} AS instrument,
            CASE WHEN {_u(44, "k")} < 0.8 THEN 'hot' ELSE 'cold' END AS survey_kind
        FROM range({answers}) AS r(k)
    ),
    joined AS (
        SELECT b.*, i.interaction_id, i.external_id AS contact_ref, i.channel,
            i.customer_email, i.customer_phone, i.started_at, i.reason
        FROM base AS b
        LEFT JOIN interactions AS i ON b.linked AND i.row_number = b.contact_row
    ),
    answered AS (
        SELECT
            *,
            CASE
                WHEN NOT linked THEN {first} + to_seconds(floor({DAYS} * 86400 * {_u(45, "k")})
                    ::BIGINT)
                ELSE started_at + to_seconds(round(
                    CASE survey_kind WHEN 'hot' THEN 3 * 3600 ELSE 3 * 86400 END
                    * exp(0.8 * {_normal(48, "k")}))::BIGINT)
            END AS answered_raw,
            CASE instrument
                WHEN 'nps' THEN {score("nps")}
                WHEN 'csat' THEN {score("csat")}
                ELSE {score("ces")}
            END AS score_raw
        FROM joined
    )
    SELECT
        'qualtrics:R_' || lpad(k::VARCHAR, 10, '0') AS feedback_id,
        'qualtrics' AS source,
        'R_' || lpad(k::VARCHAR, 10, '0') AS external_id,
        contact_ref AS interaction_ref,
        interaction_id,
        NULL AS customer_ref,
        CASE WHEN linked THEN customer_email
            ELSE 'client' || floor(100000 * {_u(46, "k")})::BIGINT || '@gmail.com'
        END AS customer_email,
        CASE WHEN linked THEN customer_phone END AS customer_phone,
        NULL AS customer_handle,
        NULL AS customer_name,
        NULL AS customer_id,
        CASE WHEN linked THEN channel WHEN {_u(49, "k")} < 0.05 THEN NULL
            ELSE {unlinked_channel} END AS channel,
        instrument,
        CASE WHEN {_u(50, "k")} < 0.01 THEN NULL ELSE score_raw END AS score,
        CASE instrument WHEN 'nps' THEN 0.0 ELSE 1.0 END AS scale_min,
        CASE instrument WHEN 'nps' THEN 10.0 WHEN 'csat' THEN 5.0 ELSE 7.0 END AS scale_max,
        CASE WHEN {_u(51, "k")} < 0.15 THEN 'Commentaire ' || k END AS comment,
        'fr' AS language,
        CASE WHEN answered_raw > TIMESTAMPTZ '{end}+00'
            THEN started_at + (TIMESTAMPTZ '{end}+00' - started_at) * {_u(52, "k")}
            ELSE answered_raw END AS answered_at,
        survey_kind,
        CASE WHEN survey_kind = 'cold' AND {_u(53, "k")} < 0.3
            THEN round(0.5 + 2 * {_u(54, "k")}, 3) END AS weight,
        NULL AS platform,
        NULL AS followers,
        NULL AS in_reply_to,
        NULL AS brand,
        NULL AS organisation,
        reason,
        NULL AS attributes,
        2 AS load_id,
        k + 1 AS row_number,
        TIMESTAMPTZ '{end}+00' + INTERVAL 2 HOUR AS ingested_at
    FROM answered
    """


def generate(path: Path, rows: int) -> dict[str, Any]:
    """A fresh workspace at ``path`` with ``rows`` interactions and ``rows // 5`` answers."""
    from voxloop import Workspace

    if path.exists():
        shutil.rmtree(path)
    answers = rows // 5
    t0 = time.perf_counter()
    ws = Workspace.init(path)
    try:
        con = ws.store.con
        con.execute("SET enable_progress_bar = false")
        with ws.store.transaction():
            con.execute(f"INSERT INTO interactions BY NAME {interactions_sql(rows)}")
            t1 = time.perf_counter()
            con.execute(f"INSERT INTO feedback BY NAME {feedback_sql(rows, answers)}")
            t2 = time.perf_counter()
            for load_id, source, table, n in (
                (1, "bench:interactions", "interactions", rows),
                (2, "bench:feedback", "feedback", answers),
            ):
                con.execute(
                    "INSERT INTO loads (load_id, source, file_path, status, started_at, "
                    "finished_at, rows_read, rows_loaded, rows_quarantined, duplicates_skipped, "
                    "message) VALUES (?, ?, ?, 'committed', ?, ?, ?, ?, 0, 0, ?)",
                    [
                        load_id,
                        source,
                        f"generated:{table}",
                        DATA_END,
                        DATA_END,
                        n,
                        n,
                        "bench_kpi.py generator",
                    ],
                )
        con.execute("CHECKPOINT")
        facts = {
            "rows": rows,
            "answers": answers,
            "interactions_s": t1 - t0,
            "feedback_s": t2 - t1,
            "generate_s": time.perf_counter() - t0,
            "generator_version": GENERATOR_VERSION,
            "data_end": DATA_END.isoformat(),
            **describe_data(con),
        }
    finally:
        ws.close()
    (path / "bench_data.json").write_text(json.dumps(facts, indent=2), encoding="utf-8")
    return facts


def describe_data(con: Any) -> dict[str, Any]:
    """A few facts about the generated data, to check it looks like what it claims."""

    def one(sql: str) -> Any:
        row = con.execute(sql).fetchone()
        return row[0] if row else None

    channels = dict(
        con.execute(
            "SELECT channel, round(count(*) / sum(count(*)) OVER (), 4) FROM interactions "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    )
    return {
        "channel_shares": channels,
        "customer_emails": one("SELECT count(DISTINCT customer_email) FROM interactions"),
        # customers as the metrics key them before identity resolution (e-mail, else phone)
        "customer_keys": one(
            "SELECT count(DISTINCT coalesce(customer_email, customer_phone)) FROM interactions"
        ),
        "max_contacts_per_customer": one(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM interactions "
            "WHERE customer_email IS NOT NULL GROUP BY customer_email)"
        ),
        "started": [
            str(v)
            for v in con.execute(
                "SELECT min(started_at), max(started_at) FROM interactions"
            ).fetchone()
            or ()
        ],
        "unanswered_share": one(
            "SELECT round(avg((first_response_at IS NULL)::INT), 4) FROM interactions"
        ),
        "teams": one("SELECT count(DISTINCT team) FROM interactions"),
        "agents": one("SELECT count(DISTINCT agent) FROM interactions"),
        "reasons": one("SELECT count(DISTINCT reason) FROM interactions"),
        "feedback_linked_share": one(
            "SELECT round(avg((interaction_id IS NOT NULL)::INT), 4) FROM feedback"
        ),
        "instruments": dict(
            con.execute("SELECT instrument, count(*) FROM feedback GROUP BY 1").fetchall()
        ),
    }


# -- results: one shape for every engine ------------------------------------------------------
# metric → {"<dim values>|<statistic>": {"value": …, "n": …[, "ci_low": …, "ci_high": …]}}
Rows = dict[str, dict[str, Any]]
Z95 = 1.959963984540054  # voxloop.metrics.stats.Z95 (NormalDist().inv_cdf(0.975))
QS = (0.5, 0.8, 0.9)  # frt's percentiles
DIGITAL = ("email", "chat", "social", "web_form", "self_care", "forum", "app", "sms")


def _key(*parts: object) -> str:
    return "|".join("∅" if p is None else str(p) for p in parts)


def _row(
    value: Any, n: Any, lo: Any = None, hi: Any = None, *, bounds: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": None if value is None else float(value),
        "n": int(n),
    }
    if bounds:
        out["ci_low"] = None if lo is None else float(lo)
        out["ci_high"] = None if hi is None else float(hi)
    return out


def from_voxloop(name: str, dims: tuple[str, ...], table: Any) -> Rows:
    """voxloop's table as :data:`Rows` (frt keeps its order-statistic bounds)."""
    out: Rows = {}
    for r in table.to_pylist():
        key = _key(*(r[d] for d in dims), r.get("statistic", "value"))
        out[key] = _row(r["value"], r["n"], r["ci_low"], r["ci_high"], bounds=name == "frt")
    return out


def compare(reference: Rows, other: Rows) -> list[str]:
    """Differences between two engines' results (empty when they agree within 1e-9)."""
    problems: list[str] = []
    for key in sorted(set(reference) | set(other)):
        a, b = reference.get(key), other.get(key)
        if a is None or b is None:
            problems.append(f"{key}: only in {'the other' if a is None else 'voxloop'}")
            continue
        for field, x in a.items():
            y = b.get(field)
            if x is None or y is None:
                same = x is None and y is None
            else:
                same = abs(x - y) <= TOLERANCE * max(1.0, abs(x), abs(y))
            if not same:
                problems.append(f"{key}: {field} voxloop {x!r} vs {y!r}")
    return problems


def nearest_rank_interval(n: int, q: float) -> tuple[int, int, int]:
    """Ranks (1-based) of the nearest-rank ``q`` quantile and of its 95 % interval:
    the rule of ``voxloop.metrics.stats.quantile_ranks``, written again here."""
    spread = Z95 * math.sqrt(n * q * (1 - q))
    return (
        max(1, math.ceil(q * n)),
        max(1, math.floor(n * q - spread)),
        min(n, math.ceil(n * q + spread) + 1),
    )


# -- hand-written DuckDB SQL ----------------------------------------------------------------
# The SLA template's paris calendar, written as SQL: Mon–Fri 08:30–12:30 and 13:30–19:00,
# Sat 09:00–12:00, French public holidays closed. Targets: phone 60 s, e-mail 24 business
# hours, social 1 h to answer and 24 h to solve (wall clock).
OPEN_SQL = """
    CASE
        WHEN lt::DATE IN ({holidays}) THEN 0
        WHEN isodow(lt) <= 5 AND ((lt::TIME >= TIME '08:30' AND lt::TIME < TIME '12:30')
            OR (lt::TIME >= TIME '13:30' AND lt::TIME < TIME '19:00')) THEN 1
        WHEN isodow(lt) = 6 AND lt::TIME >= TIME '09:00' AND lt::TIME < TIME '12:00' THEN 1
        ELSE 0
    END
"""


def _french_holidays() -> str:
    import holidays

    first = DATA_END.year - 3
    days = holidays.country_holidays("FR", years=range(first, NOW.year + 2))
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days))


def sql_queries() -> dict[str, str]:
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    now_ts = f"TIMESTAMPTZ '{now}+00'"
    customer_key = (
        "coalesce(customer_id, 'email:' || customer_email, 'phone:' || customer_phone, "
        "'handle:' || customer_handle, source || ':' || customer_ref)"
    )
    inbound = "(direction IS NULL OR direction = 'inbound')"
    qs = ", ".join(f"({q!r}::DOUBLE)" for q in QS)
    spread = f"{Z95!r} * sqrt(n::DOUBLE * q * (1.0::DOUBLE - q))"
    digital = ", ".join(f"'{c}'" for c in DIGITAL)
    return {
        "nps": f"""
            SELECT channel, strftime(month, '%Y-%m') AS month, 'value' AS statistic,
                100.0 * (pro - det) / n AS value, n
            FROM (
                SELECT channel, date_trunc('month', timezone('{ZONE}', answered_at)) AS month,
                    count(*) AS n,
                    count(*) FILTER (WHERE score >= 9) AS pro,
                    count(*) FILTER (WHERE score <= 6) AS det
                FROM feedback
                WHERE instrument = 'nps' AND score IS NOT NULL
                GROUP BY ALL
            )
        """,
        # nearest rank: the value at a rank does not depend on how ties are ordered
        "frt": f"""
            WITH x AS (
                SELECT channel, epoch(first_response_at) - epoch(started_at) AS x
                FROM interactions
                WHERE first_response_at IS NOT NULL
                    AND epoch(first_response_at) - epoch(started_at) >= 0
            ),
            counts AS (SELECT channel, count(*) AS n FROM x GROUP BY channel),
            wanted AS (
                SELECT channel, n, q,
                    greatest(ceil(n::DOUBLE * q), 1)::BIGINT AS v,
                    greatest(floor(n::DOUBLE * q - {spread}), 1)::BIGINT AS lo,
                    least(ceil(n::DOUBLE * q + {spread})::BIGINT + 1, n) AS hi
                FROM counts, (VALUES {qs}) AS qs(q)
            ),
            ranks AS (
                SELECT DISTINCT channel, rk
                FROM wanted UNPIVOT (rk FOR kind IN (v, lo, hi))
            ),
            picked AS (
                SELECT r.channel, r.rk, x.x
                FROM (
                    SELECT channel, x,
                        row_number() OVER (PARTITION BY channel ORDER BY x) AS rk
                    FROM x
                ) AS x
                JOIN ranks AS r ON r.channel = x.channel AND r.rk = x.rk
            )
            SELECT w.channel, 'p' || round(w.q * 100)::INT AS statistic,
                pv.x AS value, w.n, pl.x AS ci_low, ph.x AS ci_high
            FROM wanted AS w
            JOIN picked AS pv ON pv.channel = w.channel AND pv.rk = w.v
            JOIN picked AS pl ON pl.channel = w.channel AND pl.rk = w.lo
            JOIN picked AS ph ON ph.channel = w.channel AND ph.rk = w.hi
        """,
        "service-level": f"""
            WITH contacts AS (
                SELECT channel, started_at, first_response_at, ended_at
                FROM interactions
                WHERE channel IN ('phone', 'email', 'social') AND {inbound}
            ),
            span AS (
                SELECT (floor(epoch(min(started_at)) / 900) - 96)::BIGINT AS lo,
                    (floor(epoch({now_ts}) / 900) + 96)::BIGINT AS hi
                FROM contacts WHERE channel = 'email'
            ),
            quarters AS (
                SELECT b, timezone('{ZONE}', to_timestamp(b * 900)) AS lt
                FROM (SELECT unnest(range(lo, hi + 1)) AS b FROM span)
            ),
            opened AS (SELECT b, {OPEN_SQL.format(holidays=_french_holidays())} AS open
                FROM quarters),
            cal AS (
                SELECT b, open, sum(900 * open) OVER (ORDER BY b) - 900 * open AS cum
                FROM opened
            ),
            business AS (
                SELECT c.channel, c.started_at, c.first_response_at, c.ended_at,
                    c0.cum + c0.open * (epoch(c.started_at) - c0.b * 900) AS b0,
                    c1.cum + c1.open * (epoch(c.first_response_at) - c1.b * 900) AS b1
                FROM contacts AS c
                LEFT JOIN cal AS c0
                    ON c.channel = 'email' AND c0.b = floor(epoch(c.started_at) / 900)::BIGINT
                LEFT JOIN cal AS c1
                    ON c.channel = 'email'
                    AND c1.b = floor(epoch(c.first_response_at) / 900)::BIGINT
            ),
            b_now AS (
                SELECT cum + open * (epoch({now_ts}) - b * 900) AS b_now
                FROM cal WHERE b = floor(epoch({now_ts}) / 900)::BIGINT
            ),
            timed AS (
                SELECT channel, first_response_at, ended_at,
                    CASE channel WHEN 'phone' THEN 60.0 WHEN 'email' THEN 86400.0
                        ELSE 3600.0 END AS fr_target,
                    CASE WHEN channel = 'email' THEN b1 - b0
                        ELSE epoch(first_response_at) - epoch(started_at) END AS fr_s,
                    CASE WHEN channel = 'email' THEN (SELECT b_now FROM b_now) - b0
                        ELSE epoch({now_ts}) - epoch(started_at) END AS fr_age,
                    epoch(ended_at) - epoch(started_at) AS res_s,
                    epoch({now_ts}) - epoch(started_at) AS res_age
                FROM business
            ),
            counted AS (
                SELECT channel,
                    count(*) FILTER (WHERE first_response_at IS NOT NULL
                        OR fr_age >= fr_target) AS fr_n,
                    count(*) FILTER (WHERE (first_response_at IS NOT NULL OR fr_age >= fr_target)
                        AND fr_s <= fr_target) AS fr_k,
                    count(*) FILTER (WHERE channel = 'social'
                        AND (ended_at IS NOT NULL OR res_age >= 86400.0)) AS res_n,
                    count(*) FILTER (WHERE channel = 'social'
                        AND (ended_at IS NOT NULL OR res_age >= 86400.0)
                        AND res_s <= 86400.0) AS res_k
                FROM timed GROUP BY channel
            )
            SELECT channel, 'first_response' AS statistic, fr_k / fr_n AS value, fr_n AS n
            FROM counted WHERE fr_n > 0
            UNION ALL
            SELECT channel, 'resolution', res_k / res_n, res_n FROM counted WHERE res_n > 0
        """,
        "fcr": f"""
            WITH contacts AS (
                SELECT {customer_key} AS ck, reason, started_at, interaction_id
                FROM interactions
                WHERE {inbound} AND reason IS NOT NULL AND {customer_key} IS NOT NULL
            ),
            followed AS (
                SELECT started_at,
                    lead(started_at) OVER (
                        PARTITION BY ck, reason ORDER BY started_at, interaction_id
                    ) AS next_at
                FROM contacts
            )
            SELECT 'value' AS statistic,
                count(*) FILTER (WHERE next_at IS NULL
                    OR epoch(next_at) - epoch(started_at) > 604800) / count(*) AS value,
                count(*) AS n
            FROM followed
            WHERE started_at <= $cutoff
        """,
        "channel-switching": f"""
            WITH contacts AS (
                SELECT {customer_key} AS ck, channel, started_at, interaction_id
                FROM interactions
                WHERE {inbound} AND {customer_key} IS NOT NULL
            ),
            followed AS (
                SELECT channel, started_at,
                    min(CASE WHEN channel = 'phone' THEN started_at END) OVER (
                        PARTITION BY ck ORDER BY started_at, interaction_id
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
                    ) AS next_call
                FROM contacts
            )
            SELECT 'value' AS statistic,
                count(*) FILTER (WHERE epoch(next_call) - epoch(started_at) <= 259200)
                    / count(*) AS value,
                count(*) AS n
            FROM followed
            WHERE channel IN ({digital}) AND started_at <= $cutoff
        """,
        "csat": """
            SELECT i.team, s.statistic, s.value, s.n
            FROM (
                SELECT i.team, count(*) AS n,
                    count(*) FILTER (WHERE f.score >= f.scale_max - 1) / count(*) AS top2,
                    sum(f.score) / count(*) AS mean
                FROM feedback AS f
                LEFT JOIN interactions AS i ON i.interaction_id = f.interaction_id
                WHERE f.instrument = 'csat' AND f.score IS NOT NULL
                GROUP BY i.team
            ) AS i, LATERAL (VALUES ('top2', i.top2, i.n), ('mean', i.mean, i.n))
                AS s(statistic, value, n)
        """,
    }


def sql_data_end() -> dict[str, tuple[str, int]]:
    """fcr and channel-switching leave out contacts less than N days before the end of the
    data (their rows: inbound, with a customer key, and a reason for fcr). The end is a first
    statement, its cutoff a parameter of the second: faster than a window over every row or
    a subquery on the same CTE (that CTE is then computed twice)."""
    customer_key = (
        "coalesce(customer_id, 'email:' || customer_email, 'phone:' || customer_phone, "
        "'handle:' || customer_handle, source || ':' || customer_ref)"
    )
    rows = f"(direction IS NULL OR direction = 'inbound') AND {customer_key} IS NOT NULL"
    return {
        "fcr": (f"SELECT max(started_at) FROM interactions WHERE {rows} AND reason IS NOT NULL", 7),
        "channel-switching": (f"SELECT max(started_at) FROM interactions WHERE {rows}", 3),
    }


def run_sql(con: Any, name: str, sql: str) -> Any:
    """One metric's hand-written SQL (two statements for fcr and channel-switching)."""
    first = sql_data_end().get(name)
    if first is None:
        return con.sql(sql).to_arrow_table()
    end_sql, days = first
    [(end,)] = con.execute(end_sql).fetchall()
    cutoff = end - timedelta(days=days)
    return con.sql(sql, params={"cutoff": cutoff}).to_arrow_table()


def from_sql(name: str, dims: tuple[str, ...], table: Any) -> Rows:
    out: Rows = {}
    for r in table.to_pylist():
        key = _key(*(r[d] for d in dims), r["statistic"])
        out[key] = _row(r["value"], r["n"], r.get("ci_low"), r.get("ci_high"), bounds=name == "frt")
    return out


# -- pandas ---------------------------------------------------------------------------------
INTERACTION_COLUMNS = (
    "interaction_id",
    "source",
    "customer_id",
    "customer_email",
    "customer_phone",
    "customer_handle",
    "customer_ref",
    "channel",
    "direction",
    "started_at",
    "first_response_at",
    "ended_at",
    "team",
    "reason",
)
FEEDBACK_COLUMNS = (
    "interaction_id",
    "channel",
    "instrument",
    "score",
    "scale_max",
    "answered_at",
)


def _pandas() -> Any:
    import pandas  # type: ignore[import-untyped]  # (no stubs installed)

    return pandas


def load_frames(con: Any) -> tuple[Any, Any]:
    """The columns the dashboard reads, as pandas DataFrames (via Arrow)."""
    frames = []
    for table, columns in (
        ("interactions", INTERACTION_COLUMNS),
        ("feedback", FEEDBACK_COLUMNS),
    ):
        arrow = con.sql(f"SELECT {', '.join(columns)} FROM {table}").to_arrow_table()
        frames.append(arrow.to_pandas())
    return frames[0], frames[1]


def _epoch_s(ts: Any) -> Any:
    """Seconds since 1970 as float64, like ``epoch()`` (timestamps are µs, UTC)."""
    import numpy as np

    values = ts.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    out = values.astype("int64").astype("float64") / 1e6
    out[np.isnat(values)] = np.nan
    return out


def _customer_key(df: Any) -> Any:
    key = df["customer_id"]
    for prefix, column in (
        ("email:", "customer_email"),
        ("phone:", "customer_phone"),
        ("handle:", "customer_handle"),
    ):
        key = key.fillna(prefix + df[column])
    return key.fillna(df["source"] + ":" + df["customer_ref"])


def _inbound(df: Any) -> Any:
    return df["direction"].isna() | (df["direction"] == "inbound")


def _calendar_arrays(first_bucket: int, last_bucket: int) -> tuple[Any, Any]:
    """Quarter hours first…last: open (0/1) and business seconds before each."""
    import holidays
    import numpy as np

    pd = _pandas()

    buckets = np.arange(first_bucket, last_bucket + 1, dtype="int64")
    local = pd.to_datetime(buckets * 900, unit="s", utc=True).tz_convert(ZONE)
    closed = holidays.country_holidays("FR", years=range(local.min().year, local.max().year + 1))
    minutes = local.hour * 60 + local.minute
    weekday = local.day_of_week  # Monday = 0
    weekdays = (weekday <= 4) & (
        ((minutes >= 8 * 60 + 30) & (minutes < 12 * 60 + 30))
        | ((minutes >= 13 * 60 + 30) & (minutes < 19 * 60))
    )
    saturday = (weekday == 5) & (minutes >= 9 * 60) & (minutes < 12 * 60)
    days = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    holiday = np.isin(days, np.array(sorted(closed), dtype="datetime64[D]"))
    is_open = ((weekdays | saturday) & ~holiday).astype("int64")
    cum = np.cumsum(900.0 * is_open) - 900.0 * is_open
    return is_open, cum


def pandas_functions(inter: Any, fb: Any) -> dict[str, Callable[[], Rows]]:
    import numpy as np

    pd = _pandas()

    def nps() -> Rows:
        f = fb[(fb["instrument"] == "nps") & fb["score"].notna()]
        local = f["answered_at"].dt.tz_convert(ZONE)
        month = local.dt.year * 100 + local.dt.month
        g = (
            pd.DataFrame(
                {
                    "channel": f["channel"],
                    "month": month,
                    "pro": f["score"] >= 9,
                    "det": f["score"] <= 6,
                }
            )
            .groupby(["channel", "month"], dropna=False)
            .agg(n=("pro", "size"), pro=("pro", "sum"), det=("det", "sum"))
        )
        return {
            _key(None if pd.isna(ch) else ch, f"{m // 100}-{m % 100:02d}", "value"): _row(
                100.0 * (r.pro - r.det) / r.n, r.n
            )
            for (ch, m), r in zip(g.index, g.itertuples(), strict=True)
        }

    def frt() -> Rows:
        x = _epoch_s(inter["first_response_at"]) - _epoch_s(inter["started_at"])
        keep = ~np.isnan(x) & (x >= 0)
        frame = pd.DataFrame({"channel": inter["channel"][keep], "x": x[keep]})
        out: Rows = {}
        for channel, values in frame.groupby("channel")["x"]:
            ordered = np.sort(values.to_numpy())
            n = len(ordered)
            for q in QS:
                v, lo, hi = nearest_rank_interval(n, q)
                out[_key(channel, f"p{round(q * 100)}")] = _row(
                    ordered[v - 1], n, ordered[lo - 1], ordered[hi - 1], bounds=True
                )
        return out

    def service_level() -> Rows:
        c = inter[inter["channel"].isin(["phone", "email", "social"]) & _inbound(inter)]
        start, first, end = (
            _epoch_s(c[col]) for col in ("started_at", "first_response_at", "ended_at")
        )
        now = NOW.timestamp()
        email = (c["channel"] == "email").to_numpy()
        first_bucket = int(np.floor(np.nanmin(start[email]) / 900)) - 96
        last_bucket = int(np.floor(now / 900)) + 96
        is_open, cum = _calendar_arrays(first_bucket, last_bucket)

        def business(t: Any) -> Any:
            bucket = np.floor(np.nan_to_num(t, nan=first_bucket * 900.0) / 900).astype("int64")
            index = bucket - first_bucket
            value = cum[index] + is_open[index] * (t - bucket * 900.0)
            return np.where(np.isnan(t), np.nan, value)

        b_now = float(business(np.array([now]))[0])
        b0 = business(np.where(email, start, np.nan))
        b1 = business(np.where(email, first, np.nan))
        target = c["channel"].map({"phone": 60.0, "email": 86400.0, "social": 3600.0})
        target = target.to_numpy(dtype="float64")
        fr_s = np.where(email, b1 - b0, first - start)
        fr_age = np.where(email, b_now - b0, now - start)
        answered = ~np.isnan(first)
        with np.errstate(invalid="ignore"):
            fr_scope = answered | (fr_age >= target)
            fr_ok = fr_scope & (fr_s <= target)
            social = (c["channel"] == "social").to_numpy()
            res_scope = social & (~np.isnan(end) | (now - start >= 86400.0))
            res_ok = res_scope & (end - start <= 86400.0)
        frame = pd.DataFrame(
            {
                "channel": c["channel"].to_numpy(),
                "fr_n": fr_scope,
                "fr_k": fr_ok,
                "res_n": res_scope,
                "res_k": res_ok,
            }
        )
        sums = frame.groupby("channel").sum()
        out: Rows = {}
        for channel, r in sums.iterrows():
            for stat, n, k in (
                ("first_response", r.fr_n, r.fr_k),
                ("resolution", r.res_n, r.res_k),
            ):
                if n > 0:
                    out[_key(channel, stat)] = _row(k / n, n)
        return out

    def followed(days: int, by_reason: bool) -> Rows:
        c = inter[_inbound(inter)]
        if by_reason:
            c = c[c["reason"].notna()]
        key = _customer_key(c)
        c = c.assign(_ck=key)[key.notna()]
        last_seen = _epoch_s(c["started_at"]).max()
        group = ["_ck", "reason"] if by_reason else ["_ck"]
        c = c.sort_values([*group, "started_at", "interaction_id"], ignore_index=True)
        start = _epoch_s(c["started_at"])
        same = np.ones(len(c), dtype=bool)
        for col in group:
            values = c[col].to_numpy()
            same[:-1] &= values[:-1] == values[1:]
        same[-1] = False
        if by_reason:  # the next contact on the same reason
            nxt = np.append(start[1:], np.nan)
        else:  # the next phone call: first phone start strictly after, within the customer
            phone_start = np.where(c["channel"].to_numpy() == "phone", start, np.nan)
            # the next row's call if it is the same customer's, then the first such below
            after = pd.Series(np.where(same, np.append(phone_start[1:], np.nan), np.nan))
            block = np.cumsum(np.append(True, ~same[:-1]))  # one block per customer
            nxt = after.groupby(block).bfill().to_numpy()
        nxt = np.where(same, nxt, np.nan)
        horizon = days * 86400.0
        judged = last_seen - start >= horizon
        if not by_reason:
            judged &= c["channel"].isin(DIGITAL).to_numpy()
        with np.errstate(invalid="ignore"):
            hit = ~np.isnan(nxt) & (nxt - start <= horizon)
        n = int(judged.sum())
        k = int((hit & judged).sum())
        value = (n - k) / n if by_reason else k / n
        return {_key("value"): _row(value, n)}

    def csat() -> Rows:
        f = fb[(fb["instrument"] == "csat") & fb["score"].notna()]
        f = f.merge(inter[["interaction_id", "team"]], how="left", on="interaction_id", sort=False)
        g = (
            f.assign(top=f["score"] >= f["scale_max"] - 1)
            .groupby("team", dropna=False)
            .agg(n=("score", "size"), top=("top", "sum"), total=("score", "sum"))
        )
        out: Rows = {}
        for team, r in zip(g.index, g.itertuples(), strict=True):
            label = None if pd.isna(team) else team
            out[_key(label, "top2")] = _row(r.top / r.n, r.n)
            out[_key(label, "mean")] = _row(r.total / r.n, r.n)
        return out

    return {
        "nps": nps,
        "frt": frt,
        "service-level": service_level,
        "fcr": lambda: followed(7, by_reason=True),
        "channel-switching": lambda: followed(3, by_reason=False),
        "csat": csat,
    }


# -- workers (each in its own process) --------------------------------------------------------
Call = Callable[[], Any]
Convert = Callable[[str, Any], Rows]


def measure(
    sets: Mapping[str, tuple[Mapping[str, Call], Convert]], repeat: int
) -> dict[str, dict[str, Any]]:
    """Time one or more ways (``sets``: case → its calls and how to read their results) of
    computing the dashboard, interleaved so that a slow spell of the machine hits them alike.

    First a warm-up run of each case's whole set (its results are the ones checked); then
    ``repeat`` rounds, each running every metric once per case, one after the other, the case
    order alternating between rounds. Wall and CPU seconds of each call."""
    out: dict[str, dict[str, Any]] = {}
    for case, (calls, convert) in sets.items():
        results: dict[str, Rows] = {}
        warmup: dict[str, float] = {}
        for name, call in calls.items():
            t0 = time.perf_counter()
            value = call()
            warmup[name] = time.perf_counter() - t0
            results[name] = convert(name, value)
        out[case] = {
            "results": results,
            "warmup_s": warmup,
            "seconds": {name: [] for name in calls},
            "cpu_s": {name: [] for name in calls},
        }
    order = list(sets)
    for round_ in range(repeat):
        cases = order if round_ % 2 == 0 else order[::-1]
        for name, _ in DASHBOARD:
            for case in cases:
                call = sets[case][0][name]
                t0, c0 = time.perf_counter(), time.process_time()
                call()
                out[case]["seconds"][name].append(time.perf_counter() - t0)
                out[case]["cpu_s"][name].append(time.process_time() - c0)
    return out


def _dims(name: str) -> tuple[str, ...]:
    return dict(DASHBOARD)[name]


def _from_voxloop(name: str, table: Any) -> Rows:
    return from_voxloop(name, _dims(name), table)


def _from_sql(name: str, table: Any) -> Rows:
    return from_sql(name, _dims(name), table)


def _as_is(name: str, rows: Rows) -> Rows:
    return rows


def voxloop_calls(engine: Any) -> dict[str, Call]:
    def call(name: str, dims: tuple[str, ...]) -> Call:
        return lambda: engine.compute(name, by=list(dims))

    return {name: call(name, dims) for name, dims in DASHBOARD}


def sql_calls(con: Any) -> dict[str, Call]:
    queries = sql_queries()

    def call(name: str) -> Call:
        return lambda: run_sql(con, name, queries[name])

    return {name: call(name) for name, _ in DASHBOARD}


def pinned(engine: Any) -> Any:
    """The workspace's engine (same backend, time zone, SLA and min_sample) with its clock
    pinned at :data:`NOW`, so that every engine and the baselines agree on which unanswered
    contacts are still within their target."""
    from voxloop.metrics import MetricsEngine

    return MetricsEngine(
        engine.backend,
        time_zone=engine.time_zone,
        sla=engine.sla,
        min_sample=engine.min_sample,
        now=NOW,
    )


def _open(ws_path: Path) -> Any:
    from voxloop import Workspace

    ws = Workspace.open(ws_path)
    ws.store.con.execute("SET enable_progress_bar_print = false")
    return ws


def worker(case: str, ws_path: Path, repeat: int, extra: dict[str, Any]) -> dict[str, Any]:
    """``duckdb``: voxloop and the SQL, interleaved; ``memory-voxloop`` / ``memory-sql``: one
    of them alone (for its peak memory); ``pandas``; ``engines``; ``generate``."""
    if case == "generate":
        return generate(ws_path, int(extra["rows"]))
    if case == "engines":
        return engines_worker(ws_path, repeat, extra)
    ws = _open(ws_path)
    try:
        engine = pinned(ws.metrics)
        voxloop = (voxloop_calls(engine), _from_voxloop)
        sql = (sql_calls(ws.store.con), _from_sql)
        if case == "duckdb":
            return measure({"voxloop": voxloop, "sql": sql}, repeat)
        if case == "memory-voxloop":
            return measure({"voxloop": voxloop}, repeat)["voxloop"]
        if case == "memory-sql":
            return measure({"sql": sql}, repeat)["sql"]
        if case == "pandas":
            t0 = time.perf_counter()
            inter, fb = load_frames(ws.store.con)
            load_s = time.perf_counter() - t0
            frame_mb = (
                inter.memory_usage(deep=True).sum() + fb.memory_usage(deep=True).sum()
            ) / 2**20
            ws.close()  # pandas works on its own copy
            out = measure({"pandas": (pandas_functions(inter, fb), _as_is)}, repeat)["pandas"]
            return {**out, "load_s": load_s, "frames_mb": float(frame_mb)}
        raise ValueError(case)
    finally:
        ws.close()


def engines_worker(ws_path: Path, repeat: int, extra: dict[str, Any]) -> dict[str, Any]:
    """voxloop's dashboard on DuckDB, PostgreSQL and Spark over the same workspace."""
    ws = _open(ws_path)
    out: dict[str, Any] = {}
    try:
        engine = pinned(ws.metrics)
        out["duckdb"] = measure({"duckdb": (voxloop_calls(engine), _from_voxloop)}, repeat)[
            "duckdb"
        ]

        url = str(extra["pg_url"])
        t0 = time.perf_counter()
        ws.publish_postgres(url)
        out["publish_postgres_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pg = pinned(ws.metrics_on("postgresql", url=url))
        out["postgresql_connect_s"] = time.perf_counter() - t0
        try:
            timed = measure({"postgresql": (voxloop_calls(pg), _from_voxloop)}, repeat)
            out["postgresql"] = timed["postgresql"]
        finally:
            pg.backend.close()

        lake = Path(str(extra["lake"]))
        t0 = time.perf_counter()
        ws.export_parquet(lake)
        out["export_parquet_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        spark = pinned(ws.metrics_on("spark", lake=lake))
        out["spark_start_s"] = time.perf_counter() - t0
        try:
            out["spark"] = measure({"spark": (voxloop_calls(spark), _from_voxloop)}, repeat)[
                "spark"
            ]
        finally:
            spark.backend.close()
    finally:
        ws.close()
    return out


# -- PostgreSQL: a throwaway server, started as tests/conftest.py's postgres_url fixture does --
def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parts[-3].split(".") if p.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version)
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is neither on PATH nor in /usr/lib/postgresql")
    return str(candidates[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """``postgresql://voxloop@127.0.0.1:PORT/postgres`` on a cluster of its own, stopped and
    deleted afterwards (as root: owned by the ``postgres`` user, run through ``runuser``)."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    as_user: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root needs runuser to start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
        owner = (entry.pw_uid, entry.pw_gid)
    root = Path(tempfile.mkdtemp(prefix="voxloop-bench-pg-"))
    if owner is not None:
        os.chown(root, *owner)
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*as_user, *args], cwd=root, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{tail}")

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "voxloop", "-E", "UTF8",
            "--no-locale", "--no-sync")  # fmt: skip
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
        try:
            yield f"postgresql://voxloop@127.0.0.1:{port}/postgres"
        finally:
            run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- driver -----------------------------------------------------------------------------------
def run_case(
    case: str, ws_path: Path, repeat: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One case in a fresh subprocess, with its peak memory; raises if it fails."""
    work = Path(tempfile.mkdtemp(prefix=f"kpi-{case}-", dir=OUT))
    result_file = work / "result.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case]
    cmd += ["--ws", str(ws_path), "--result", str(result_file), "--repeat", str(repeat)]
    cmd += ["--extra", json.dumps(extra or {})]
    busy_before = _busy_cpu_s()
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd)
        tree_peak_mb = _poll_tree_rss(proc.pid)
        _pid, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"the {case} worker failed (exit code {code}); see its stderr")
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["process_s"] = time.perf_counter() - t0
    result["tree_peak_rss_mb"] = tree_peak_mb
    result["peak_rss_mb"] = max(result.get("main_peak_rss_mb", 0.0), tree_peak_mb)
    own_cpu = usage.ru_utime + usage.ru_stime
    result["other_cpu_s"] = max(_busy_cpu_s() - busy_before - own_cpu, 0.0)
    return result


def ensure_workspace(rows: int, regenerate: bool) -> tuple[Path, dict[str, Any]]:
    """The cached generated workspace for ``rows`` (generated in a subprocess if needed)."""
    path = OUT / f"kpi_ws_{rows}"
    facts_file = path / "bench_data.json"
    if facts_file.exists() and not regenerate:
        facts: dict[str, Any] = json.loads(facts_file.read_text(encoding="utf-8"))
        if facts.get("generator_version") == GENERATOR_VERSION and facts.get("rows") == rows:
            print(f"using the cached workspace {path}", flush=True)
            return path, {**facts, "cached": True}
    print(f"generating {rows:,} interactions and {rows // 5:,} answers in {path} …", flush=True)
    facts = run_case("generate", path, 0, {"rows": rows})
    print(f"  generated in {facts['generate_s']:.1f} s", flush=True)
    return path, {**facts, "cached": False}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def check(name: str, reference: Rows, other: Rows, what: str) -> list[str]:
    problems = compare(reference, other)
    for p in problems[:10]:
        print(f"  MISMATCH {name} ({what} vs voxloop): {p}")
    if len(problems) > 10:
        print(f"  … and {len(problems) - 10} more differences in {name} ({what})")
    return problems


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        width = spec.split(".")[0].lstrip("<>") or "0"
        return format("—", f">{width}")
    return format(value, spec)


def dashboard_table(cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Medians per metric and case, the ratios, and whether the SQL and pandas agree."""
    summary: dict[str, Any] = {"metrics": {}, "mismatches": {}}
    totals = dict.fromkeys(cases, 0.0)
    for name, _ in DASHBOARD:
        row: dict[str, Any] = {}
        for case, result in cases.items():
            row[f"{case}_s"] = _median(result["seconds"][name])
            row[f"{case}_cpu_s"] = _median(result["cpu_s"][name])
            totals[case] += row[f"{case}_s"]
        summary["metrics"][name] = row
    summary["totals_s"] = totals
    reference = cases["voxloop"]["results"]
    for case in cases:
        if case == "voxloop":
            continue
        found = {
            name: check(name, reference[name], cases[case]["results"][name], case)
            for name, _ in DASHBOARD
        }
        summary["mismatches"][case] = {k: v for k, v in found.items() if v}
    return summary


def print_dashboard(summary: dict[str, Any], cases: dict[str, dict[str, Any]], header: str) -> None:
    has_pandas = "pandas" in cases
    print()
    print(header)
    print(
        f"{'metric':<19}{'voxloop s':>10}{'SQL s':>9}{'pandas s':>10}{'vox/SQL':>9}"
        f"{'pandas/vox':>12}  checks"
    )
    rows = [(n, summary["metrics"][n]) for n, _ in DASHBOARD]
    rows.append(("TOTAL", {f"{c}_s": t for c, t in summary["totals_s"].items()}))
    for name, r in rows:
        vox, sql = r["voxloop_s"], r.get("sql_s")
        pdx = r.get("pandas_s") if has_pandas else None
        agree = []
        for case in ("sql", "pandas"):
            if case in summary["mismatches"] and name != "TOTAL":
                agree.append(
                    f"{case} {'MISMATCH' if name in summary['mismatches'][case] else 'equal'}"
                )
        print(
            f"{name:<19}{_fmt(vox, '>10.3f')}{_fmt(sql, '>9.3f')}{_fmt(pdx, '>10.3f')}"
            f"{_fmt(vox / sql if sql else None, '>9.2f')}"
            f"{_fmt(pdx / vox if pdx else None, '>12.2f')}  {', '.join(agree)}"
        )


def print_engines(engines: dict[str, Any]) -> None:
    print()
    print(
        f"engines on {ENGINES_ROWS:,} interactions (voxloop's dashboard; medians): "
        f"publish_postgres {engines['publish_postgres_s']:.1f} s, "
        f"export_parquet {engines['export_parquet_s']:.1f} s, "
        f"Spark session start {engines['spark_start_s']:.1f} s"
    )
    names = ("duckdb", "postgresql", "spark")
    print(f"{'metric':<19}" + "".join(f"{n + ' s':>13}" for n in names) + "  checks")
    totals = dict.fromkeys(names, 0.0)
    for metric, _ in DASHBOARD:
        cells = []
        for n in names:
            med = _median(engines[n]["seconds"][metric])
            totals[n] += med
            cells.append(_fmt(med, ">13.3f"))
        agree = [
            f"{n} {'MISMATCH' if metric in engines['mismatches'].get(n, {}) else 'equal'}"
            for n in names[1:]
        ]
        print(f"{metric:<19}{''.join(cells)}  {', '.join(agree)}")
    print(f"{'TOTAL':<19}" + "".join(_fmt(totals[n], ">13.3f") for n in names))
    engines["totals_s"] = totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pandas",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time the pandas version too (default: yes)",
    )
    parser.add_argument(
        "--engines",
        action="store_true",
        help=f"also run the dashboard on PostgreSQL and Spark ({ENGINES_ROWS:,} rows)",
    )
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached data")
    parser.add_argument("--out", type=Path, default=None, help="default bench/out/kpi_<rows>.json")
    # internal: one case in this process
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ws", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = worker(args.worker, args.ws, args.repeat, json.loads(args.extra))
        result["main_peak_rss_mb"] = _own_peak_mb()
        args.result.write_text(json.dumps(result), encoding="utf-8")
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    ws_path, facts = ensure_workspace(args.rows, args.regenerate)
    source_before = source_fingerprint()
    print(
        f"timing voxloop and the hand-written SQL, interleaved in one process (1 warm-up + "
        f"{args.repeat} rounds of the set) …",
        flush=True,
    )
    duck = run_case("duckdb", ws_path, args.repeat)
    cases: dict[str, dict[str, Any]] = {"voxloop": duck["voxloop"], "sql": duck["sql"]}
    print(
        f"  done in {duck['process_s']:.0f} s; other processes used {duck['other_cpu_s']:.0f} "
        "CPU-s meanwhile",
        flush=True,
    )
    alone: dict[str, dict[str, Any]] = {}
    for case in ("voxloop", "sql"):
        print(f"peak memory of {case} alone (1 warm-up + 1 run of the set) …", flush=True)
        alone[case] = run_case(f"memory-{case}", ws_path, 1)
        cases[case]["peak_rss_mb"] = alone[case]["peak_rss_mb"]
        total = sum(alone[case]["seconds"][n][0] for n, _ in DASHBOARD)
        print(
            f"  {case}: peak {alone[case]['peak_rss_mb']:,.0f} MB; the set took {total:.2f} s "
            f"(other CPU {alone[case]['other_cpu_s']:.0f} s)",
            flush=True,
        )
    if args.pandas:
        print(f"timing pandas (1 warm-up + {args.repeat} runs of the set) …", flush=True)
        cases["pandas"] = run_case("pandas", ws_path, args.repeat)
        r = cases["pandas"]
        print(
            f"  pandas: frames loaded in {r['load_s']:.1f} s, peak {r['peak_rss_mb']:,.0f} MB, "
            f"other CPU {r['other_cpu_s']:.0f} s",
            flush=True,
        )
    summary = dashboard_table(cases)
    header = (
        f"{args.rows:,} interactions, {args.rows // 5:,} answers; memory_limit 2GB; "
        f"1 warm-up + {args.repeat} runs, medians (s)"
    )
    print_dashboard(summary, cases, header)
    totals = summary["totals_s"]
    ratio = totals["voxloop"] / totals["sql"] if "sql" in totals else None
    peak = cases["voxloop"]["peak_rss_mb"]
    print()
    if ratio is not None:
        met = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"total voxloop / SQL = {ratio:.2f} (target ≤ {TARGET_RATIO}: {met})")
    print(
        f"voxloop peak memory = {peak:,.0f} MB "
        f"(target ≤ {TARGET_PEAK_MB:,.0f} MB: {'met' if peak <= TARGET_PEAK_MB else 'NOT met'})"
        + "".join(f"; {c} {cases[c]['peak_rss_mb']:,.0f} MB" for c in cases if c != "voxloop")
    )
    if "pandas" in cases:
        print(
            f"pandas: loading the frames took {cases['pandas']['load_s']:.1f} s "
            f"({cases['pandas']['frames_mb']:,.0f} MB in memory), not counted above"
        )
    all_equal = not any(summary["mismatches"].values())
    print(
        "results: every engine equals voxloop (value and n within 1e-9; frt also its bounds)"
        if all_equal
        else "results: MISMATCHES above — one side is wrong"
    )

    engines: dict[str, Any] | None = None
    if args.engines:
        regenerate = args.regenerate and args.rows != ENGINES_ROWS  # not twice
        small, small_facts = ensure_workspace(ENGINES_ROWS, regenerate)
        print("starting a throwaway PostgreSQL server …", flush=True)
        lake = Path(tempfile.mkdtemp(prefix="kpi-lake-", dir=OUT))
        try:
            with postgres_server() as url:
                engines = run_case(
                    "engines", small, args.repeat, {"pg_url": url, "lake": str(lake)}
                )
        finally:
            shutil.rmtree(lake, ignore_errors=True)
        reference = engines["duckdb"]["results"]
        engines["mismatches"] = {
            n: {
                m: p
                for m, _ in DASHBOARD
                if (p := check(m, reference[m], engines[n]["results"][m], n))
            }
            for n in ("postgresql", "spark")
        }
        engines["data"] = small_facts
        print_engines(engines)

    source_after = source_fingerprint()
    if source_after != source_before:
        print("WARNING: voxloop's source changed during the run; the runs may differ in code")
    import duckdb

    pandas = _pandas()

    report = {
        "rows": args.rows,
        "answers": args.rows // 5,
        "repeat": args.repeat,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": facts,
        "now": NOW.isoformat(),
        "voxloop_source": source_before,
        "voxloop_source_changed_during_run": source_after != source_before,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pandas": pandas.__version__,
            "platform": platform.platform(),
        },
        "summary": summary,
        "ratio_voxloop_vs_sql": ratio,
        "target_ratio": TARGET_RATIO,
        "voxloop_peak_rss_mb": peak,
        "target_peak_mb": TARGET_PEAK_MB,
        "cases": {c: {k: v for k, v in r.items() if k != "results"} for c, r in cases.items()},
        "duckdb_process": {k: v for k, v in duck.items() if k not in ("voxloop", "sql")},
        "alone": {c: {k: v for k, v in r.items() if k != "results"} for c, r in alone.items()},
        "results": {c: r["results"] for c, r in cases.items()},
        "engines": engines,
    }
    out = args.out or OUT / f"kpi_{args.rows}.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"\nvoxloop source fingerprint {source_before}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
