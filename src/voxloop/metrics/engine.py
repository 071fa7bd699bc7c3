"""Compute an indicator on any engine: dimensions, period, filters, statistics, comparison.

The order of operations matters and is the same for every metric:

1. the canonical table, with the requested dimensions attached (joins for the customer's
   segment or the contact's team, local-time periods);
2. the metric's own preparation — scope and derived columns, with windows over **all** the
   data (a repeat contact next month still counts against this month's contact);
3. the period (``--from``/``--to``, days in the workspace's time zone) and ``--filter``s;
4. one aggregation per group, returning sufficient statistics;
5. estimates, intervals and comparisons in Python (:mod:`voxloop.metrics.stats`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa

from voxloop.errors import UserError
from voxloop.metrics import stats
from voxloop.metrics.calendar import SlaConfig
from voxloop.metrics.definitions import REGISTRY
from voxloop.metrics.dimensions import (
    CONTACT_DIMENSIONS,
    CUSTOMER_DIMENSIONS,
    DIMENSIONS,
    TIME_DIMENSIONS,
    canonical_dimension,
    period_label,
)
from voxloop.metrics.epoch import compiling_for
from voxloop.metrics.local_time import to_local
from voxloop.metrics.spec import Context, Estimator, Expr, FieldShares, Metric, Statistic

TRUNCATE = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}


class Backend(Protocol):
    """What the metric engine needs from an engine (see :mod:`voxloop.backends`)."""

    @property
    def name(self) -> str: ...

    def table(self, name: str) -> Expr: ...

    def to_arrow(self, expr: Expr) -> pa.Table: ...

    def memtable(self, data: pa.Table) -> Expr: ...

    def sql(self, expr: Expr) -> str: ...


@dataclass(frozen=True)
class Period:
    """Days ``start``…``end`` (both included) in the workspace's time zone; either end may
    be open."""

    start: date | None
    end: date | None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise UserError(
                f"the period ends ({self.end}) before it starts ({self.start})",
                hint="swap --from and --to",
            )

    def bounds_utc(self, zone: str) -> tuple[datetime | None, datetime | None]:
        tz = ZoneInfo(zone)
        lo = datetime.combine(self.start, time(0), tz).astimezone(UTC) if self.start else None
        hi = (
            datetime.combine(self.end + timedelta(days=1), time(0), tz).astimezone(UTC)
            if self.end
            else None
        )
        return lo, hi

    def previous(self) -> Period:
        if self.start is None or self.end is None:
            raise UserError(
                "--compare previous needs both --from and --to",
                hint="the previous period has the same length, just before --from",
            )
        length = (self.end - self.start).days + 1
        return Period(self.start - timedelta(days=length), self.start - timedelta(days=1))


def _day(value: date | str | None, option: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"{option} {value!r} is not a date", hint="write dates as YYYY-MM-DD, e.g. 2024-03-31"
        ) from None


def _period(start: date | str | None, end: date | str | None) -> Period | None:
    first, last = _day(start, "--from"), _day(end, "--to")
    return None if first is None and last is None else Period(first, last)


def unknown_metric(name: str) -> UserError:
    return UserError(
        f"unknown indicator {name!r}",
        hint=f"indicators: {', '.join(REGISTRY)} (definitions: voxloop kpi --list)",
    )


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``["channel=phone,email", "team=Paris"]`` → ``{"channel": ["phone", "email"], …}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(
                f"--filter {item!r} is not DIMENSION=VALUE",
                hint="e.g. --filter channel=phone or --filter channel=phone,email",
            )
        values = [v.strip() for v in value.split(",") if v.strip()]
        out.setdefault(canonical_dimension(key), []).extend(values)
    return out


class MetricsEngine:
    """Indicators over one engine's canonical tables."""

    def __init__(
        self,
        backend: Backend,
        *,
        time_zone: str,
        sla: SlaConfig,
        min_sample: int = 30,
        now: datetime | None = None,
    ) -> None:
        self.backend = backend
        self.time_zone = time_zone
        self.sla = sla
        self.min_sample = min_sample
        self._fixed_now = now  # tests pin the clock; otherwise each computation reads it

    # -- public ---------------------------------------------------------------------------
    @staticmethod
    def catalogue() -> list[dict[str, Any]]:
        """Every indicator with its definition, for ``kpi --list`` and the API."""
        return [
            {
                "name": m.name,
                "label_en": m.label["en"],
                "label_fr": m.label["fr"],
                "unit": m.unit,
                "better": m.better,
                "statistics": [o for s in m.statistics for o in s.estimator.outputs(s.name)],
                "dimensions": sorted(m.dimensions, key=list(DIMENSIONS).index),
                "weighted": m.weighted,
                "days": m.default_days,
                "definition_en": m.description["en"],
                "definition_fr": m.description["fr"],
            }
            for m in REGISTRY.values()
        ]

    def compute(
        self,
        name: str,
        by: Sequence[str] = (),
        *,
        start: date | str | None = None,
        end: date | str | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
        compare: str | None = None,
        weighted: bool = False,
        days: int | None = None,
    ) -> pa.Table:
        """The indicator as rows ``{<dims>…, [statistic], value, n, ci_low, ci_high,
        low_sample}`` (plus ``previous_value``, ``change``, ``p_value``, ``significant``
        with ``compare="previous"``)."""
        metric, dims, filters_ = self._check(name, by, filters or {}, weighted, days)
        _check_compare(compare, dims)  # before any work
        period = _period(start, end)
        with compiling_for(self.backend.name):
            return self._compute(metric, dims, period, filters_, compare, weighted, days)

    def _compute(
        self,
        metric: Metric,
        dims: list[str],
        period: Period | None,
        filters_: dict[str, list[str]],
        compare: str | None,
        weighted: bool,
        days: int | None,
    ) -> pa.Table:
        rows = self._rows(metric, dims, period, filters_, weighted, days)
        if compare is not None:
            if period is None:
                period = Period(None, None)
            before = self._rows(metric, dims, period.previous(), filters_, weighted, days)
            key_dims = list(dims)
            if metric.share_of is not None and metric.share_of not in key_dims:
                key_dims.append(metric.share_of)  # channel-mix rows are per channel too
            rows = _compare(rows, before, key_dims)
        return _to_arrow(rows, metric, dims, compare is not None)

    def sql(
        self,
        name: str,
        by: Sequence[str] = (),
        *,
        start: date | str | None = None,
        end: date | str | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
        weighted: bool = False,
        days: int | None = None,
    ) -> str:
        """The SQL each engine would run (one statement per query, ``;``-separated)."""
        metric, dims, filters_ = self._check(name, by, filters or {}, weighted, days)
        period = _period(start, end)
        with compiling_for(self.backend.name):
            return self._sql(metric, dims, period, filters_, weighted, days)

    def _sql(
        self,
        metric: Metric,
        dims: list[str],
        period: Period | None,
        filters_: dict[str, list[str]],
        weighted: bool,
        days: int | None,
    ) -> str:
        parts = []
        for table in metric.tables or (metric.table,):
            for expr, _, _ in self._queries(metric, table, dims, period, filters_, weighted, days):
                parts.append(self.backend.sql(expr))
        return ";\n\n".join(parts) + ";"

    # -- checks ---------------------------------------------------------------------------
    def _check(
        self,
        name: str,
        by: Sequence[str],
        filters: Mapping[str, Sequence[str]],
        weighted: bool,
        days: int | None,
    ) -> tuple[Metric, list[str], dict[str, list[str]]]:
        metric = REGISTRY.get(name.strip().lower())
        if metric is None:
            raise unknown_metric(name)
        dims = [canonical_dimension(d) for d in by]
        if len(set(dims)) != len(dims):
            raise UserError("a dimension is given twice in --by", hint="name each once")
        for d in [*dims, *filters]:
            if d not in metric.dimensions:
                raise UserError(
                    f"{metric.name} cannot be broken down by {d}",
                    hint=f"{metric.name} supports: "
                    + ", ".join(sorted(metric.dimensions, key=list(DIMENSIONS).index)),
                )
        for d in filters:
            if d in TRUNCATE:
                raise UserError(
                    f"--filter {d}=… is not supported", hint="choose the period with --from/--to"
                )
        if weighted and not metric.weighted:
            raise UserError(
                f"{metric.name} has no survey weights",
                hint="weights apply to survey indicators: nps, csat, ces, fcr-declared",
            )
        if days is not None and metric.default_days is None:
            raise UserError(
                f"--days does not apply to {metric.name}",
                hint="it applies to fcr, repeat-contact and channel-switching",
            )
        if days is not None and days < 1:
            raise UserError("--days must be at least 1", hint="e.g. --days 7")
        return metric, dims, {k: list(v) for k, v in filters.items()}

    # -- building -------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._fixed_now or datetime.now(UTC)

    def _context(self, days: int | None, metric: Metric) -> Context:
        return Context(
            table=self.backend.table,
            memtable=self.backend.memtable,
            sla=self.sla,
            days=days if days is not None else metric.default_days,
            now=self.now,
            execute=self.backend.to_arrow,
        )

    def _with_dimensions(
        self, rows: Expr, table: str, dims: Sequence[str], time_column: str, period: Period | None
    ) -> Expr:
        for d in dims:
            if d in CUSTOMER_DIMENSIONS:
                continue
            if d in CONTACT_DIMENSIONS and table == "feedback":
                continue
            if d in TIME_DIMENSIONS:
                continue
            rows = rows.mutate(**{f"_d_{d}": rows[d]})
        wanted_contact = [d for d in dims if d in CONTACT_DIMENSIONS and table == "feedback"]
        if wanted_contact:
            contacts = self.backend.table("interactions")
            contacts = contacts.select(
                _ci_id=contacts.interaction_id,
                **{f"_d_{d}": contacts[d] for d in wanted_contact},
            )
            rows = rows.left_join(contacts, rows.interaction_id == contacts._ci_id).drop("_ci_id")
        wanted_customer = [d for d in dims if d in CUSTOMER_DIMENSIONS]
        if wanted_customer:
            customers = self.backend.table("customers")
            customers = customers.filter(customers.merged_into.isnull()).select(
                _cu_id=customers.customer_id,
                **{f"_d_{d}": customers[d] for d in wanted_customer},
            )
            rows = rows.left_join(customers, rows.customer_id == customers._cu_id).drop("_cu_id")
        wanted_time = [d for d in dims if d in TIME_DIMENSIONS]
        if wanted_time:
            lo, hi = self._time_range(rows, time_column, period)
            local = to_local(rows[time_column], self.time_zone, lo, hi)
            for d in wanted_time:
                if d == "hour":
                    value = local.hour()
                elif d == "weekday":
                    value = local.day_of_week.index() + 1
                else:
                    value = local.truncate(TRUNCATE[d])
                rows = rows.mutate(**{f"_d_{d}": value})
        return rows

    def _time_range(
        self, rows: Expr, time_column: str, period: Period | None
    ) -> tuple[datetime, datetime]:
        if period is not None and period.start and period.end:
            lo, hi = period.bounds_utc(self.time_zone)
            assert lo is not None and hi is not None
            length = hi - lo
            return lo - length - timedelta(days=2), hi + timedelta(days=2)
        found = self.backend.to_arrow(
            rows.aggregate(lo=rows[time_column].min(), hi=rows[time_column].max())
        ).to_pylist()[0]
        lo_, hi_ = found["lo"], found["hi"]
        if lo_ is None or hi_ is None:
            return self.now - timedelta(days=1), self.now + timedelta(days=1)
        return lo_ - timedelta(days=1), hi_ + timedelta(days=1)

    def _prepared(
        self,
        metric: Metric,
        table: str,
        dims: Sequence[str],
        period: Period | None,
        filters: Mapping[str, Sequence[str]],
        weighted: bool,
        days: int | None,
    ) -> Expr:
        base = self.backend.table(table)
        wanted = list(dict.fromkeys([*dims, *filters]))
        rows = self._with_dimensions(base, table, wanted, metric.time_column, period)
        weight = rows.weight.fill_null(1.0) if weighted else ibis.literal(1.0)
        rows = rows.mutate(_w=weight.cast("float64"))
        rows = metric.prepare(rows, self._context(days, metric))
        if period is not None:
            lo, hi = period.bounds_utc(self.time_zone)
            column = rows[metric.time_column]
            if lo is not None:
                rows = rows.filter(column >= ibis.timestamp(lo))
            if hi is not None:
                rows = rows.filter(column < ibis.timestamp(hi))
        for d, values in filters.items():
            col = rows[f"_d_{d}"]
            if d in ("hour", "weekday"):
                try:
                    ints = [int(v) for v in values]
                except ValueError as exc:
                    raise UserError(
                        f"--filter {d}= expects whole numbers", hint=f"e.g. --filter {d}=9"
                    ) from exc
                rows = rows.filter(col.isin(ints))
            else:
                rows = rows.filter(col.isin(values))
        return rows

    def _queries(
        self,
        metric: Metric,
        table: str,
        dims: Sequence[str],
        period: Period | None,
        filters: Mapping[str, Sequence[str]],
        weighted: bool,
        days: int | None,
    ) -> list[tuple[Expr, list[Served], list[str]]]:
        """The aggregate expressions to run, with which statistic each serves."""
        rows = self._prepared(metric, table, dims, period, filters, weighted, days)
        group = [f"_d_{d}" for d in dims]
        if metric.share_of is not None and f"_d_{metric.share_of}" not in group:
            rows = rows.mutate(**{f"_d_{metric.share_of}": rows[metric.share_of]})
            group.append(f"_d_{metric.share_of}")
        queries: list[tuple[Expr, list[Served], list[str]]] = []
        flat: dict[str, Expr] = {}
        served: list[Served] = []
        for i, stat in enumerate(metric.statistics):
            if stat.estimator.windowed:
                windowed = stat.estimator.window_rows(  # type: ignore[attr-defined]
                    rows if stat.scope is None else rows.filter(stat.scope(rows)), group
                )
                aggs = stat.estimator.aggregates(windowed, None)
                queries.append(
                    (
                        _aggregate(windowed, group, aggs),
                        [Served(stat, "", _outputs(stat, rows))],
                        group,
                    )
                )
                continue
            mask = stat.scope(rows) if stat.scope is not None else None
            for key, expr in stat.estimator.aggregates(rows, mask).items():
                flat[f"s{i}_{key}"] = expr
            served.append(Served(stat, f"s{i}_", _outputs(stat, rows)))
        if flat:
            queries.insert(0, (_aggregate(rows, group, flat), served, group))
        return queries

    def _rows(
        self,
        metric: Metric,
        dims: Sequence[str],
        period: Period | None,
        filters: Mapping[str, Sequence[str]],
        weighted: bool,
        days: int | None,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for table in metric.tables or (metric.table,):
            queries = self._queries(metric, table, dims, period, filters, weighted, days)
            for expr, served, group in queries:
                result = self.backend.to_arrow(expr).to_pylist()
                if not result and not group:
                    result = [{}]
                for agg in result:
                    key = {g[3:]: period_label(g[3:], agg.get(g)) for g in group}
                    for serve in served:
                        sub = {
                            k[len(serve.prefix) :]: v
                            for k, v in agg.items()
                            if k.startswith(serve.prefix)
                        }
                        out.extend(_expand(metric, table, serve, key, sub))
        if metric.share_of is not None:
            out = _shares(out, metric.share_of, dims)
        for row in out:
            # an exact count has no sampling error; everything else is flagged under min_sample
            exact = row["ci_low"] is None and row["value"] is not None and metric.unit == "count"
            row["low_sample"] = False if exact else row["n_eff"] < self.min_sample
        return out


@dataclass(frozen=True)
class Served:
    """One statistic answered by a query: its aggregates' prefix and its output rows'
    labels (``("statistic", "p50")``, ``("field", "customer_email")`` …)."""

    stat: Statistic
    prefix: str
    outputs: list[tuple[str, str]]


def _outputs(stat: Statistic, rows: Expr) -> list[tuple[str, str]]:
    if isinstance(stat.estimator, FieldShares):
        return [(stat.estimator.dimension, n) for n in stat.estimator.checks(rows)]
    return [("statistic", n) for n in stat.estimator.outputs(stat.name)]


def _expand(
    metric: Metric,
    table: str,
    serve: Served,
    key: dict[str, Any],
    agg: Mapping[str, Any],
) -> list[dict[str, Any]]:
    estimator: Estimator = serve.stat.estimator
    labelled = metric.multi or len(serve.outputs) > 1 or isinstance(estimator, FieldShares)
    rows = []
    for (label, name), (est, n, n_eff) in zip(serve.outputs, estimator.estimates(agg), strict=True):
        row: dict[str, Any] = dict(key)
        if metric.tables:
            row["table"] = table
        if labelled:
            row[label] = name
        row.update(
            value=est.value, n=n, ci_low=est.ci_low, ci_high=est.ci_high, n_eff=n_eff, _est=est
        )
        rows.append(row)
    return rows


def _check_compare(compare: str | None, dims: Sequence[str]) -> None:
    if compare is None:
        return
    if compare != "previous":
        raise UserError(f"--compare {compare!r} is not known", hint="use --compare previous")
    if any(d in TIME_DIMENSIONS for d in dims if d not in ("hour", "weekday")):
        raise UserError(
            "--compare previous cannot be used with a day/week/month/quarter breakdown",
            hint="the periods themselves are the comparison: drop --compare, or the "
            "calendar dimension",
        )


def _aggregate(rows: Expr, group: list[str], aggs: dict[str, Expr]) -> Expr:
    if group:
        return rows.group_by(group).aggregate(**aggs)
    return rows.aggregate(**aggs)


def _shares(rows: list[dict[str, Any]], share_of: str, dims: Sequence[str]) -> list[dict[str, Any]]:
    """Counts per (others, channel) → share of each channel within the others."""
    others = [d for d in dims if d != share_of]
    totals: dict[tuple[Any, ...], int] = {}
    for r in rows:
        k = tuple(r.get(d) for d in others)
        totals[k] = totals.get(k, 0) + int(r["n"])
    out = []
    for r in rows:
        total = totals[tuple(r.get(d) for d in others)]
        est = stats.wilson(float(r["n"]), float(total))
        out.append(
            {
                **{d: r.get(d) for d in [*others, share_of]},
                "value": est.value,
                "n": total,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "n_eff": float(total),
                "_est": est,
                "count": r["n"],
            }
        )
    return out


def _row_key(row: Mapping[str, Any], dims: Sequence[str], extra: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row.get(d) for d in [*dims, *extra])


def _compare(
    current: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    dims: Sequence[str],
) -> list[dict[str, Any]]:
    extra = ["table", "statistic", "field", "rule"]
    before = {_row_key(r, dims, extra): r for r in previous}
    for row in current:
        old = before.get(_row_key(row, dims, extra))
        if old is None:
            row.update(
                previous_value=None, previous_n=0, change=None, p_value=None, significant=None
            )
            continue
        cmp = stats.compare(row["_est"], old["_est"])
        row.update(
            previous_value=old["value"],
            previous_n=old["n"],
            change=cmp.change,
            p_value=cmp.p_value,
            significant=cmp.significant,
        )
    return current


def _to_arrow(
    rows: list[dict[str, Any]], metric: Metric, dims: Sequence[str], compared: bool
) -> pa.Table:
    dim_cols = list(dims)
    if metric.share_of and metric.share_of not in dim_cols:
        dim_cols.append(metric.share_of)
    label_cols = [c for c in ("table", "statistic", "field", "rule") if any(c in r for r in rows)]
    if not rows:
        # an empty period: one row per statistic with n = 0, never an error
        rows = []
        for stat in metric.statistics:
            for name in stat.estimator.outputs(stat.name):
                row: dict[str, Any] = dict.fromkeys(dim_cols)
                if metric.multi or len(stat.estimator.outputs(stat.name)) > 1:
                    row["statistic"] = name
                row.update(value=None, n=0, ci_low=None, ci_high=None, low_sample=True)
                rows.append(row)
        label_cols = ["statistic"] if any("statistic" in r for r in rows) else []
    columns = [*dim_cols, *label_cols, "value", "n", "ci_low", "ci_high", "low_sample"]
    if metric.share_of:
        columns.insert(len(dim_cols) + len(label_cols), "count")
    if compared:
        columns += ["previous_value", "previous_n", "change", "p_value", "significant"]

    # dimensions sort by value; statistics, fields and rules keep their declared order
    declared = {
        c: {v: i for i, v in enumerate(dict.fromkeys(r.get(c) for r in rows))} for c in label_cols
    }

    def sort_key(r: Mapping[str, Any]) -> tuple[Any, ...]:
        dims_key = tuple((r.get(c) is None, str(r.get(c))) for c in dim_cols)
        table_first = (str(r.get("table")),) if "table" in label_cols else ()
        return (*table_first, *dims_key, *(declared[c][r.get(c)] for c in label_cols))

    if any(r.get("n") for r in rows):  # statistics that do not apply to a group
        rows = [r for r in rows if r.get("n")]
    rows.sort(key=sort_key)
    data = {c: [r.get(c) for r in rows] for c in columns}
    types = {
        "value": pa.float64(),
        "n": pa.int64(),
        "count": pa.int64(),
        "ci_low": pa.float64(),
        "ci_high": pa.float64(),
        "low_sample": pa.bool_(),
        "previous_value": pa.float64(),
        "previous_n": pa.int64(),
        "change": pa.float64(),
        "p_value": pa.float64(),
        "significant": pa.bool_(),
    }
    arrays = {
        c: pa.array(v, types.get(c, pa.int64() if c in ("hour", "weekday") else pa.string()))
        for c, v in data.items()
    }
    unit = metric.unit
    meta = {
        "metric": metric.name,
        "unit": unit,
        "better": metric.better,
        "label_en": metric.label["en"],
        "label_fr": metric.label["fr"],
    }
    return pa.table(arrays).replace_schema_metadata(meta)
