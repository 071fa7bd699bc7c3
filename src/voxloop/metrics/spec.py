"""How an indicator is declared: a neutral specification, compiled to Ibis in one place.

A :class:`Metric` names the canonical table it reads, how rows are prepared (scope filter,
derived columns such as "a phone call followed within 3 days"), and one or more
*statistics*, each an :class:`Estimator`. Estimators turn rows into **sufficient
statistics** (counts and sums, plus order statistics for quantiles) with Ibis aggregations
that every engine runs the same way; :mod:`voxloop.metrics.stats` turns those into estimates
and intervals.

Portability rules (ARCHITECTURE.md §3): count with ``cond.ifelse(w, 0).sum()``, never divide
in the engine, durations as differences of ``epoch_seconds()``, windows with a total order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis

from voxloop.metrics import stats

if TYPE_CHECKING:
    from voxloop.metrics.calendar import SlaConfig

Unit = Literal["points", "share", "seconds", "count", "score"]
Better = Literal["higher", "lower", "neutral"]
Expr = Any  # an Ibis expression (Ibis ships no precise static types)
RowFn = Callable[[Expr], Expr]


@dataclass(frozen=True)
class Context:
    """What a metric's row preparation may use besides the table itself."""

    table: Callable[[str], Expr]  # canonical table on the current engine
    memtable: Callable[[Any], Expr]  # a small Arrow table on the current engine
    sla: SlaConfig
    days: int | None  # the user's --days, or the metric's default
    now: datetime
    execute: Callable[[Expr], Any]  # run a small expression → pyarrow.Table


class Estimator:
    """Turns prepared rows into aggregates, then aggregates into estimates.

    Most estimators are *maskable*: they aggregate under a boolean mask rather than a
    filter, so that every statistic of a metric (e.g. the first-response and resolution
    service levels) comes from **one** scan. Quantiles need a window and run on their own.
    """

    windowed = False

    def outputs(self, name: str) -> list[str]:
        """Names of the statistics this estimator yields (one, except quantile sets)."""
        return [name]

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        raise NotImplementedError

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        """One (estimate, n observed, effective n) per output, from one aggregated row."""
        raise NotImplementedError


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _under(mask: Expr | None, value: Any, other: Any = 0.0) -> Expr:
    if mask is None:
        return value if not isinstance(value, int | float) else ibis.literal(value)
    return mask.ifelse(value, other)


def _cond(mask: Expr | None, cond: Expr) -> Expr:
    return cond.fill_null(False) if mask is None else (mask & cond).fill_null(False)


def _weights(rows: Expr, mask: Expr | None) -> dict[str, Expr]:
    w = rows["_w"]
    return {
        "n": _under(mask, 1, 0).sum() if mask is not None else rows.count(),
        "sw": _under(mask, w).sum(),
        "sw2": _under(mask, w * w).sum(),
    }


def _weighted_n(agg: Mapping[str, Any]) -> tuple[int, float, float]:
    sw = _f(agg["sw"])
    return int(agg["n"] or 0), sw, stats.effective_n(sw, _f(agg["sw2"]))


@dataclass(frozen=True)
class Count(Estimator):
    """How many rows: an exact count, not an estimate (no interval)."""

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        return {"n": _under(mask, 1, 0).sum() if mask is not None else rows.count()}

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n = int(agg["n"] or 0)
        return [(stats.Estimate(float(n), None, None, None), n, float(n))]


@dataclass(frozen=True)
class Proportion(Estimator):
    """Share of the rows where ``success`` holds (Wilson interval)."""

    success: RowFn

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        return {
            **_weights(rows, mask),
            "k": _cond(mask, self.success(rows)).ifelse(rows["_w"], 0.0).sum(),
        }

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n, sw, n_eff = _weighted_n(agg)
        if sw <= 0:
            return [(stats.EMPTY, n, 0.0)]
        return [(stats.wilson(_f(agg["k"]) / sw * n_eff, n_eff), n, n_eff)]


@dataclass(frozen=True)
class NetScore(Estimator):
    """Net Promoter Score: promoters (≥ 9) minus detractors (≤ 6), in points."""

    score: RowFn

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        w, s = rows["_w"], self.score(rows)
        return {
            **_weights(rows, mask),
            "pro": _cond(mask, s >= 9).ifelse(w, 0.0).sum(),
            "det": _cond(mask, s <= 6).ifelse(w, 0.0).sum(),
        }

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n, sw, n_eff = _weighted_n(agg)
        if sw <= 0:
            return [(stats.EMPTY, n, 0.0)]
        pro, det = _f(agg["pro"]) / sw * n_eff, _f(agg["det"]) / sw * n_eff
        return [(stats.nps(pro, det, n_eff), n, n_eff)]


@dataclass(frozen=True)
class Mean(Estimator):
    """Mean of ``value`` over the rows where it is known (Student's t interval)."""

    value: RowFn

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        x = self.value(rows).cast("float64")
        known = x.notnull() if mask is None else (mask & x.notnull())
        w = rows["_w"]
        return {
            "n": known.ifelse(1, 0).sum(),
            "sw": known.ifelse(w, 0.0).sum(),
            "sw2": known.ifelse(w * w, 0.0).sum(),
            "swx": known.ifelse(w * x, 0.0).sum(),
            "swx2": known.ifelse(w * x * x, 0.0).sum(),
        }

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n, sw, n_eff = _weighted_n(agg)
        return [(stats.mean(_f(agg["swx"]), _f(agg["swx2"]), n_eff, sw), n, n_eff)]


@dataclass(frozen=True)
class Quantiles(Estimator):
    """Nearest-rank quantiles of ``value`` with their order-statistic intervals.

    Ranks come from one ``row_number`` window over the group, ordered by the value (the
    value at a rank is the same however ties are ordered); each interval's ranks
    from :func:`stats.quantile_ranks`, computed in the engine from the group's size so that
    one pass suffices. Survey weights do not apply."""

    value: RowFn
    qs: tuple[float, ...]
    windowed = True

    def outputs(self, name: str) -> list[str]:
        if len(self.qs) == 1:
            return [name]
        return [f"p{round(q * 100)}" for q in self.qs]

    def window_rows(self, rows: Expr, group: Sequence[str]) -> Expr:
        """Rows ranked within their group, keeping only those at a wanted rank.

        The value at a rank does not depend on how ties are ordered, so the window sorts on
        the value alone; the group's size comes from a grouped count joined back (cheaper
        than a second window), and only the rows at the ranks wanted reach the aggregate."""
        rows = rows.mutate(_x=self.value(rows).cast("float64"))
        # only the group keys and the value go through the sort (not the whole wide row)
        rows = rows.filter(rows._x.notnull()).select(*group, "_x")
        keys = [rows[g] for g in group]
        ranked = rows.mutate(
            _rk=(ibis.row_number().over(ibis.window(group_by=keys, order_by=rows._x)) + 1).cast(
                "float64"
            )
        )
        # the wanted ranks are computed once per group, on the small table of counts
        if group:
            counts = rows.group_by(list(group)).aggregate(_cnt=rows.count().cast("float64"))
        else:
            counts = rows.aggregate(_cnt=rows.count().cast("float64"))
        counts = counts.mutate(
            **{f"_r{i}": rank.cast("float64") for i, rank in enumerate(self._ranks(counts._cnt))}
        )
        if group:
            counts = counts.rename({f"_k_{g}": g for g in group})
            joined = ranked.join(
                counts, [ranked[g].identical_to(counts[f"_k_{g}"]) for g in group]
            ).drop(*[f"_k_{g}" for g in group])
        else:
            joined = ranked.cross_join(counts)
        wanted = ibis.literal(False)
        for i in range(3 * len(self.qs)):
            wanted = wanted | (joined._rk == joined[f"_r{i}"])
        return joined.filter(wanted)

    def _ranks(self, n: Expr) -> list[Expr]:
        out = []
        for q in self.qs:
            spread = stats.Z95 * (n * q * (1 - q)).sqrt()
            out += [
                ibis.greatest((n * q).ceil(), 1),
                ibis.greatest((n * q - spread).floor(), 1),
                ibis.least((n * q + spread).ceil() + 1, n),
            ]
        return out

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        rk, x = rows._rk, rows._x
        aggs: dict[str, Expr] = {"n": rows._cnt.max().cast("int64")}
        for i in range(len(self.qs)):
            for j, key in enumerate(("v", "lo", "hi")):
                rank = rows[f"_r{3 * i + j}"]
                aggs[f"{key}{i}"] = (rk == rank).ifelse(x, ibis.null("float64")).max()
        return aggs

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n = int(agg["n"] or 0)
        out: list[tuple[stats.Estimate, int, float]] = []
        for i in range(len(self.qs)):
            if n == 0:
                out.append((stats.EMPTY, 0, 0.0))
                continue
            v, lo, hi = (agg[f"{k}{i}"] for k in ("v", "lo", "hi"))
            out.append(
                (
                    stats.Estimate(
                        None if v is None else float(v),
                        None if lo is None else float(lo),
                        None if hi is None else float(hi),
                    ),
                    n,
                    float(n),
                )
            )
        return out


@dataclass(frozen=True)
class FieldShares(Estimator):
    """One share per named check (a field filled, a rule broken): the result grows a
    dimension (``field`` or ``rule``) whose values are the checks' names."""

    dimension: str
    checks: Callable[[Expr], dict[str, Expr]]

    def aggregates(self, rows: Expr, mask: Expr | None) -> dict[str, Expr]:
        aggs: dict[str, Expr] = {"n": rows.count()}
        for i, cond in enumerate(self.checks(rows).values()):
            aggs[f"c{i}"] = cond.fill_null(False).ifelse(1, 0).sum()
        return aggs

    def estimates(self, agg: Mapping[str, Any]) -> list[tuple[stats.Estimate, int, float]]:
        n = int(agg["n"] or 0)
        checks = sorted(
            (k for k in agg if k[:1] == "c" and k[1:].isdigit()), key=lambda k: int(k[1:])
        )
        return [(stats.wilson(_f(agg[c]), n), n, float(n)) for c in checks]


@dataclass(frozen=True)
class Statistic:
    name: str  # "value" when the metric has one statistic
    estimator: Estimator
    unit: Unit | None = None  # when it differs from the metric's
    scope: RowFn | None = None  # rows this statistic is about, when narrower than the metric's


@dataclass(frozen=True)
class Metric:
    """One indicator, declared once."""

    name: str
    label: Mapping[str, str]  # {"en": …, "fr": …}
    description: Mapping[str, str]
    unit: Unit
    better: Better
    table: Literal["interactions", "feedback"]
    time_column: str
    statistics: tuple[Statistic, ...]
    prepare: Callable[[Expr, Context], Expr]  # scope filter and derived columns
    dimensions: frozenset[str]
    weighted: bool = False  # accepts survey weights
    default_days: int | None = None  # for "within N days" definitions
    share_of: str | None = None  # channel-mix: shares of this dimension within the others
    tables: tuple[str, ...] = field(default=())  # quality metrics run on several tables

    @property
    def multi(self) -> bool:
        return len(self.statistics) > 1
