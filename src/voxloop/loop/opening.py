"""Turn new signals into cases: match the rules, de-duplicate, respect the cooling-off, weigh
the priority, route to a hub, set the deadlines — for a million signals in one pass.

The rules are compiled to one SQL query over the feedback loaded since the last run (with the
text analytics' sentiment and themes when they exist); the store does the scanning. What
remains sequential — one open case per customer and reason, no second case for a customer
contacted within the cooling-off — runs over the matched signals only, in order. Every
matched signal's fate is kept in ``loop_signals``, so "why was this detractor not called?"
always has an answer.

Rules are tried in the order of ``loop.yaml``: the first that matches names the reason (the
de-duplication key); the others are listed in the case's explanation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from voxloop.loop.config import LoopConfig, Rule
from voxloop.loop.deadlines import BusinessClock, due_many
from voxloop.loop.routing import Router
from voxloop.model.vocab import canonical_word

UNKNOWN_CHANNEL_WEIGHT = 0.3


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(column: str, values: str | list[str], vocabulary: str | None = None) -> str:
    words = [values] if isinstance(values, str) else values
    if vocabulary:
        words = [canonical_word(vocabulary, w) or w for w in words]
    return f"{column} IN ({', '.join(_quote(w) for w in words)})"


def rule_condition(rule: Rule) -> str:
    """The SQL condition of one rule over the signal row ``s``."""
    w = rule.when
    parts: list[str] = []
    if w.instrument is not None:
        parts.append(_in("s.instrument", w.instrument, "instrument"))
    if w.score_at_most is not None:
        parts.append(f"s.score <= {float(w.score_at_most)!r}")
    if w.score_at_least is not None:
        parts.append(f"s.score >= {float(w.score_at_least)!r}")
    if w.survey_kind is not None:
        parts.append(_in("s.survey_kind", w.survey_kind, "survey_kind"))
    if w.channel is not None:
        parts.append(_in("s.channel", w.channel, "channel"))
    if w.sentiment_at_most is not None:
        parts.append(f"s.sentiment <= {float(w.sentiment_at_most)!r}")
    if w.themes:
        parts.append(
            f"list_has_any(s.theme_ids, [{', '.join(_quote(t) for t in w.themes)}]::VARCHAR[])"
        )
    if w.followers_at_least is not None:
        parts.append(f"s.followers >= {int(w.followers_at_least)}")
    return " AND ".join(f"coalesce({p}, false)" for p in parts)


def matched_signals_sql(config: LoopConfig) -> str:
    """Feedback not evaluated yet that at least one rule matches, with what priority and
    routing need. Parameters: the run's instant, the last run's load and instant: a signal is
    new when its load is newer than the last run's, or when it was given after the last
    run's instant (a load may bring answers dated after the run that reads it)."""
    checks = ", ".join(
        f"CASE WHEN {rule_condition(r)} THEN {_quote(r.id)} END" for r in config.rules
    )
    critical = ", ".join(_quote(t) for t in sorted(config.critical_themes)) or "NULL"
    return f"""
        WITH ann AS (
            SELECT owner_id, arg_max(sentiment_score, created_at) AS sentiment,
                   arg_max(themes, created_at) AS themes
            FROM annotations WHERE owner_table = 'feedback' GROUP BY owner_id
        ), s AS (
            SELECT f.feedback_id, f.customer_id,
                   coalesce(f.customer_id, 'signal:' || f.feedback_id) AS who,
                   f.answered_at AS signal_at, f.channel, f.instrument, f.score,
                   f.scale_min, f.scale_max, f.survey_kind,
                   greatest(coalesce(f.followers, 0), coalesce(c.influence, 0)) AS followers,
                   coalesce(c.value, 0) AS value,
                   a.sentiment,
                   CASE WHEN a.themes IS NULL THEN []::VARCHAR[]
                        ELSE json_extract_string(a.themes, '$[*].id') END AS theme_ids
            FROM feedback f
            LEFT JOIN customers c ON c.customer_id = f.customer_id
            LEFT JOIN ann a ON a.owner_id = f.feedback_id
            WHERE f.answered_at <= ? AND (f.load_id > ? OR f.answered_at > ?)
              AND f.feedback_id NOT IN (
                  SELECT signal_id FROM loop_signals WHERE signal_table = 'feedback')
        ), m AS (
            SELECT s.*, list_filter([{checks}], lambda x: x IS NOT NULL) AS rules FROM s
        )
        SELECT feedback_id, customer_id, who, signal_at, channel, instrument, score,
               scale_min, scale_max, followers, value, sentiment,
               list_has_any(theme_ids, [{critical}]::VARCHAR[]) AS critical_theme,
               rules
        FROM m WHERE len(rules) > 0
        ORDER BY who, signal_at, feedback_id
    """


@dataclass(frozen=True)
class Decisions:
    """What happens to each matched signal (lists aligned with the matched table)."""

    decision: list[str]  # opened | attached | cooling_off | too_old
    case_id: list[str | None]
    new_case_rows: list[int]  # indexes of the signals that open a case


def decide(
    who: list[str],
    rule: list[str],
    signal_at: list[float],
    existing_open: dict[tuple[str, str], str],
    last_contact: dict[str, float],
    as_of: datetime,
    cooling_off_s: float,
    max_age_s: float,
    bypass: frozenset[str],
    next_case_id: int,
) -> Decisions:
    """One open case per (customer, reason): a later signal joins it. No new case for a
    customer contacted within the cooling-off (a case opened or worked on, this run's
    included) unless the rule bypasses it. Signals older than ``max_age_s`` open nothing.
    Signals come sorted by customer, then time."""
    now = as_of.timestamp()
    open_cases = dict(existing_open)
    contacted = dict(last_contact)
    decision: list[str] = []
    case_ids: list[str | None] = []
    new_rows: list[int] = []
    for i, (w, r) in enumerate(zip(who, rule, strict=True)):
        key = (w, r)
        if key in open_cases:
            decision.append("attached")
            case_ids.append(open_cases[key])
            continue
        if now - signal_at[i] > max_age_s:
            decision.append("too_old")
            case_ids.append(None)
            continue
        last = contacted.get(w)
        if last is not None and now - last < cooling_off_s and r not in bypass:
            decision.append("cooling_off")
            case_ids.append(None)
            continue
        case_id = f"C{next_case_id:07d}"
        next_case_id += 1
        open_cases[key] = case_id
        contacted[w] = now
        decision.append("opened")
        case_ids.append(case_id)
        new_rows.append(i)
    return Decisions(decision, case_ids, new_rows)


def priority_factors(
    config: LoopConfig, m: pa.Table, rows: list[int], value_reference: float, as_of: float
) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """Each factor in [0, 1] for the signals at ``rows`` (vectorised)."""
    take = pa.array(rows, pa.int64())
    t = m.take(take)

    def col(name: str, fill: float = math.nan) -> np.ndarray[Any, np.dtype[np.float64]]:
        arr = t[name].to_numpy(zero_copy_only=False)
        out = np.asarray(arr, dtype=np.float64)
        return np.where(np.isnan(out), fill, out)

    score, lo, hi = col("score"), col("scale_min"), col("scale_max")
    span = np.where(hi > lo, hi - lo, np.nan)
    from_score = np.nan_to_num((hi - score) / span, nan=0.0)
    from_sentiment = np.clip(-col("sentiment", 0.0), 0.0, 1.0)
    critical = np.asarray(t["critical_theme"].to_numpy(zero_copy_only=False), dtype=bool)
    first_rule = [r[0] for r in t["rules"].to_pylist()]
    crit_of = {r.id: r.criticality for r in config.rules}
    from_rule = np.array([crit_of.get(r) or 0.0 for r in first_rule], dtype=np.float64)
    criticality = np.clip(
        np.maximum.reduce([from_score, from_sentiment, critical.astype(np.float64), from_rule]),
        0.0,
        1.0,
    )
    value = np.clip(col("value", 0.0) / value_reference, 0.0, 1.0)
    influence = np.clip(
        np.log1p(np.maximum(col("followers", 0.0), 0.0)) / math.log1p(config.followers_reference),
        0.0,
        1.0,
    )
    channels = t["channel"].to_pylist()
    channel = np.array(
        [config.channel_weights.get(c or "", UNKNOWN_CHANNEL_WEIGHT) for c in channels],
        dtype=np.float64,
    )
    signal_at = (
        np.asarray(
            t["signal_at"].cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy(), np.float64
        )
        / 1e6
    )
    targets = np.array(
        [config.promise(c).first_response.seconds for c in channels], dtype=np.float64
    )
    waited = np.clip((as_of - signal_at) / targets, 0.0, 1.0)
    return {
        "criticality": criticality,
        "value": value,
        "influence": influence,
        "channel": channel,
        "waited": waited,
    }


def deadlines(
    config: LoopConfig,
    channels: list[str | None],
    starts: np.ndarray[Any, np.dtype[np.float64]],
    clocks: dict[str, BusinessClock],
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """First-response and resolution deadlines (epoch seconds) of clocks started at
    ``starts``, grouped by calendar and promise so that each group is vectorised."""
    n = len(channels)
    out = {"response": np.full(n, np.nan), "resolution": np.full(n, np.nan)}
    groups: dict[tuple[str, str | None, float], list[int]] = {}
    for i, c in enumerate(channels):
        p = config.promise(c)
        groups.setdefault(("response", p.response_calendar, p.first_response.seconds), []).append(i)
        groups.setdefault(("resolution", p.resolution_calendar, p.resolution.seconds), []).append(i)
    for (phase, calendar, seconds), idx in groups.items():
        clock = clocks.setdefault(
            calendar or "", BusinessClock(config.calendars[calendar] if calendar else None)
        )
        at = np.array(idx)
        out[phase][at] = due_many(clock, starts[at], np.full(len(idx), seconds))
    return out["response"], out["resolution"]


def value_reference(con: duckdb.DuckDBPyConnection, config: LoopConfig) -> float:
    """Customer value that counts as "top": the configured one, else the 95th percentile."""
    if config.value_reference is not None:
        return config.value_reference
    row = con.execute(
        "SELECT quantile_cont(value, 0.95) FROM customers WHERE value > 0 AND merged_into IS NULL"
    ).fetchall()
    ref = row[0][0] if row else None
    return float(ref) if ref else 1.0


def assign_hubs(router: Router, count: int, at: float) -> list[str | None]:
    """Hubs for ``count`` new cases opened at ``at``, spread over the open hubs by agents."""
    return router.assign_many(count, at)
