"""Indicator commands: ``kpi``, ``sla`` and ``export`` (the lake Spark reads, a PostgreSQL
copy). Registered on the main app by :mod:`voxloop.cli.app`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from voxloop.cli.options import FormatOpt, WorkspaceOpt, friendly_errors
from voxloop.cli.output import Format, console, err_console, print_csv, print_json, print_rows
from voxloop.metrics import REGISTRY, MetricsEngine, parse_filters
from voxloop.workspace import Workspace


class Engine(StrEnum):
    duckdb = "duckdb"
    postgresql = "postgresql"
    spark = "spark"


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{100 * value:.1f} %"
    if unit == "points":
        return f"{value:+.1f}"
    if unit == "seconds":
        return _duration(value)
    if unit == "count":
        return f"{value:,.0f}".replace(",", "\u202f")
    return f"{value:.2f}"


def _duration(seconds: float) -> str:
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _unit_of(table: pa.Table, row: dict[str, Any]) -> str:
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    unit = str(meta.get("unit", ""))
    # statistics in another unit than the metric's (csat mean, ces low-effort share)
    stat = row.get("statistic")
    if stat == "mean" and unit == "share":
        return "score"
    if stat == "low_effort":
        return "share"
    return unit


def human_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows formatted for people: units, intervals, a warning on small samples."""
    out = []
    for row in table.to_pylist():
        unit = _unit_of(table, row)
        shown: dict[str, Any] = {
            k: v
            for k, v in row.items()
            if k
            not in (
                "value",
                "ci_low",
                "ci_high",
                "low_sample",
                "n",
                "previous_value",
                "previous_n",
                "change",
                "p_value",
                "significant",
            )
        }
        shown["value"] = _number(row["value"], unit)
        shown["95% interval"] = (
            f"{_number(row['ci_low'], unit)} – {_number(row['ci_high'], unit)}"
            if row["ci_low"] is not None
            else "—"
        )
        shown["n"] = row["n"]
        shown["sample"] = "low" if row["low_sample"] else "ok"
        if "change" in row:
            shown["previous"] = _number(row["previous_value"], unit)
            change = row["change"]
            shown["change"] = (
                "—"
                if change is None
                else (_number(change, unit) if unit != "share" else f"{100 * change:+.1f} pts")
            )
            sig = row["significant"]
            shown["significant"] = "—" if sig is None else ("yes" if sig else "no")
        out.append(shown)
    return out


def human_rows_from(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`human_rows` for rows already out of Arrow (the demo's JSON-ready results)."""
    unit = REGISTRY[name].unit
    table = pa.Table.from_pylist(rows).replace_schema_metadata({"unit": unit})
    return human_rows(table)


def _print(table: pa.Table, fmt: Format, title: str) -> None:
    if fmt is Format.json:
        print_json(table.to_pylist())
    elif fmt is Format.csv:
        print_csv(table.to_pylist())
    else:
        print_rows(human_rows(table), title, fmt)
        if any(table.column("low_sample").to_pylist()):
            console.print(
                "[dim]sample 'low': fewer answers than min_sample — read with care.[/dim]"
            )


def register(app: typer.Typer) -> typer.Typer:
    """Add the indicator commands to ``app``; returns the ``sla`` group (the closed loop adds
    ``sla due`` to it)."""

    @app.command()
    @friendly_errors
    def kpi(
        name: Annotated[
            str | None, typer.Argument(help="Indicator, e.g. nps, csat, frt (see --list).")
        ] = None,
        by: Annotated[
            str | None,
            typer.Option("--by", help="Break down by dimensions, comma-separated: channel,month."),
        ] = None,
        start: Annotated[
            str | None, typer.Option("--from", help="First day (YYYY-MM-DD), local time.")
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="Last day included (YYYY-MM-DD).")
        ] = None,
        filters: Annotated[
            list[str] | None,
            typer.Option("--filter", help="Keep only DIMENSION=VALUE[,VALUE]; repeatable."),
        ] = None,
        compare: Annotated[
            str | None,
            typer.Option(
                "--compare", help="'previous': the same length of time just before, with a test."
            ),
        ] = None,
        weighted: Annotated[
            bool, typer.Option("--weighted", help="Use survey weights (cold surveys).")
        ] = False,
        days: Annotated[
            int | None,
            typer.Option("--days", help="Window for fcr, repeat-contact, channel-switching."),
        ] = None,
        list_: Annotated[
            bool, typer.Option("--list", help="List the indicators and their definitions.")
        ] = False,
        show_sql: Annotated[
            bool, typer.Option("--show-sql", help="Print the SQL instead of running it.")
        ] = False,
        engine: Annotated[
            Engine, typer.Option("--engine", help="Where to compute.")
        ] = Engine.duckdb,
        url: Annotated[
            str | None, typer.Option("--url", help="PostgreSQL URL for --engine postgresql.")
        ] = None,
        lake: Annotated[
            Path | None, typer.Option("--lake", help="Parquet folder for --engine spark.")
        ] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Compute an indicator with its sample size and 95 % confidence interval.

        Examples: `voxloop kpi nps --by channel,month`, `voxloop kpi frt --by channel`,
        `voxloop kpi csat --by team --from 2024-01-01 --to 2024-03-31 --compare previous`.
        """
        if list_ or name is None:
            rows = MetricsEngine.catalogue()
            if fmt is Format.table:
                rows = [
                    {
                        "indicator": r["name"],
                        "label": f"{r['label_en']} / {r['label_fr']}",
                        "unit": r["unit"],
                        "better": r["better"],
                        "definition": r["definition_en"],
                    }
                    for r in rows
                ]
            print_rows(rows, "Indicators", fmt)
            return
        dims = [d.strip() for d in (by or "").split(",") if d.strip()]
        with Workspace.open(workspace) as ws:
            metrics = ws.metrics_on(engine.value, url=url, lake=lake)
            try:
                if show_sql:
                    sql = metrics.sql(
                        name,
                        dims,
                        start=start,
                        end=end,
                        filters=parse_filters(filters or []),
                        weighted=weighted,
                        days=days,
                    )
                    console.print(sql, soft_wrap=True, markup=False)
                    return
                table = metrics.compute(
                    name,
                    dims,
                    start=start,
                    end=end,
                    filters=parse_filters(filters or []),
                    compare=compare,
                    weighted=weighted,
                    days=days,
                )
            finally:
                if engine is not Engine.duckdb:
                    metrics.backend.close()  # type: ignore[attr-defined]
        meta = table.schema.metadata or {}
        label = meta.get(b"label_en", name.encode()).decode()
        _print(table, fmt, f"{label} ({engine.value})")

    sla_app = typer.Typer(
        help="Service levels per channel (this command alone), and deadlines (`sla due`).",
        invoke_without_command=True,
    )
    app.add_typer(sla_app, name="sla")

    @sla_app.callback()
    @friendly_errors
    def sla(
        ctx: typer.Context,
        start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day included.")] = None,
        by: Annotated[
            str | None, typer.Option("--by", help="More dimensions besides channel: hub,month.")
        ] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Service levels per channel against sla.yaml's targets, in business hours."""
        if ctx.invoked_subcommand is not None:
            return
        dims = ["channel", *[d.strip() for d in (by or "").split(",") if d.strip()]]
        with Workspace.open(workspace) as ws:
            config = ws.sla()
            table = ws.metrics.compute("service-level", dims, start=start, end=end)
        targets = {
            ("first_response", c): t.describe() for c, t in config.first_response.items()
        } | {("resolution", c): t.describe() for c, t in config.resolution.items()}
        rows = table.to_pylist()
        for row in rows:
            row["target"] = targets.get((row["statistic"], row["channel"]))
        if fmt is not Format.table:
            print_rows(rows, "Service levels", fmt)
            return
        shown = human_rows(table)
        for row, raw in zip(shown, rows, strict=True):
            row["target"] = raw["target"]
        print_rows(shown, "Service levels (share within target)", fmt)

    export = typer.Typer(help="Copy the canonical tables out: a Parquet lake, or PostgreSQL.")
    app.add_typer(export, name="export")

    @export.command("parquet")
    @friendly_errors
    def export_parquet(
        directory: Annotated[Path, typer.Argument(help="Folder to write <table>.parquet into.")],
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Write every canonical table as Parquet (what `kpi --engine spark --lake` reads)."""
        with Workspace.open(workspace) as ws:
            counts = ws.export_parquet(directory)
        _print_counts(counts, f"Exported to {directory}", fmt)

    @export.command("postgresql")
    @friendly_errors
    def export_postgresql(
        url: Annotated[str, typer.Argument(help="postgresql://user:password@host:port/db")],
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Copy every canonical table into PostgreSQL, replacing what was there, in one
        transaction (a failure leaves the server as it was)."""
        with Workspace.open(workspace) as ws:
            counts = ws.publish_postgres(url)
        _print_counts(counts, "Published to PostgreSQL", fmt)

    return sla_app


def _print_counts(counts: dict[str, int], title: str, fmt: Format) -> None:
    rows = [{"table": t, "rows": n} for t, n in counts.items()]
    if fmt is Format.table:
        print_rows(rows, title, fmt)
        err_console.print("[green]done[/green]")
    else:
        print_rows(rows, title, fmt)
