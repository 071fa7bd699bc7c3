"""Commands. Each opens the workspace, calls one method, and prints the result.

Exit codes: 0 success, 1 a problem the user can fix (the message says how), 2 bad usage,
75 try again later (the store is busy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voxloop import __version__
from voxloop.cli.cases import register as register_loop
from voxloop.cli.customers import register as register_customers
from voxloop.cli.indicators import human_rows_from
from voxloop.cli.indicators import register as register_indicators
from voxloop.cli.options import FormatOpt, WorkspaceOpt, friendly_errors
from voxloop.cli.output import (
    Format,
    console,
    err_console,
    load_progress,
    print_csv,
    print_json,
    print_rows,
)
from voxloop.cli.text import register as register_text
from voxloop.errors import UserError
from voxloop.ingest import LoadResult
from voxloop.workspace import Workspace

app = typer.Typer(
    name="voxloop",
    help="voxloop — the voice of your customers, from every channel, in one place.\n\n"
    "Start with `voxloop demo`, or `voxloop init DIR` then `voxloop ingest FILE --source NAME`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"voxloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """voxloop command line."""


@app.command()
@friendly_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    company: Annotated[str | None, typer.Option(help="Company name for reports.")] = None,
) -> None:
    """Create a workspace: settings, mapping and rule templates (FR/EN), and an empty store."""
    with Workspace.init(directory, company=company) as ws:
        console.print(f"[green]Workspace created in[/green] {ws.root}")
        console.print("Next: voxloop ingest FILE --source contacts -w " + str(directory))


@app.command()
@friendly_errors
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="Files to load (CSV, TSV, JSONL, Parquet, Excel).")
    ],
    source: Annotated[
        str, typer.Option("--source", "-s", help="Mapping name: built-in or sources/NAME.yaml.")
    ],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Load exports into the store.

    Bad rows go to quarantine with their reason. A file that cannot be read at all is refused
    and leaves the store untouched; the other files are still loaded.
    """
    rows: list[dict[str, object]] = []
    failed = False
    with Workspace.open(workspace) as ws:
        for file in files:
            try:
                with load_progress(fmt is Format.table) as progress:
                    [result] = ws.ingest([file], source=source, progress=progress)
            except UserError as exc:
                failed = True
                rows.append(
                    {"file": str(file), "status": "failed", "error": exc.message, "hint": exc.hint}
                )
                if fmt is Format.table:
                    err_console.print(f"[red]Error:[/red] {exc.message}", soft_wrap=True)
                    if exc.hint:
                        err_console.print(f"[yellow]→[/yellow] {exc.hint}", soft_wrap=True)
                continue
            rows.append(
                {
                    "load_id": result.load_id,
                    "file": result.file,
                    "status": result.status,
                    "rows_read": result.rows_read,
                    "rows_loaded": result.rows_loaded,
                    "rows_quarantined": result.rows_quarantined,
                    "duplicates_skipped": result.duplicates_skipped,
                    "rows_updated": result.rows_updated,
                    "duration_s": round(result.duration_s, 3),
                    "tables": result.tables,
                    "notes": result.notes,
                }
            )
            if fmt is Format.table:
                _print_load(result)
    if fmt is Format.json:
        print_json(rows[0] if len(rows) == 1 else rows)
    elif fmt is Format.csv:
        print_csv([{k: v for k, v in r.items() if k not in ("tables", "notes")} for r in rows])
    if failed:
        raise typer.Exit(1)


def _print_load(r: LoadResult) -> None:
    colour = "green" if r.rows_quarantined == 0 else "yellow"
    console.print(
        f"[{colour}]load {r.load_id}[/{colour}] {r.file}: {r.status} — "
        f"{r.rows_read:,} read, {r.rows_loaded:,} loaded, "
        f"{r.rows_quarantined:,} quarantined, {r.duplicates_skipped:,} duplicates skipped "
        f"({r.duration_s:.1f} s)",
        soft_wrap=True,
    )
    for table, n in r.tables.items():
        console.print(f"   {table}: +{n:,}")
    for note in r.notes:
        console.print(f"   [dim]note: {note}[/dim]", soft_wrap=True)
    if r.rows_quarantined:
        console.print(f"   see why: voxloop quarantine --load {r.load_id}")


@app.command()
@friendly_errors
def status(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Row counts per table, interactions per channel, and the last loads."""
    with Workspace.open(workspace) as ws:
        info = ws.status()
    if fmt is Format.json:
        print_json(info)
        return
    if fmt is Format.csv:
        print_csv([{"table": k, "rows": v} for k, v in info["tables"].items()])
        return
    console.print(f"[bold]{info['company']}[/bold] — {info['workspace']}")
    print_rows(
        [{"table": k, "rows": v} for k, v in info["tables"].items()], "Canonical tables", fmt
    )
    print_rows(
        [{"channel": k, "interactions": v} for k, v in info["interactions_by_channel"].items()],
        "Interactions per channel",
        fmt,
    )
    print_rows(info["last_loads"], "Last loads", fmt)


@app.command()
@friendly_errors
def quarantine(
    load: Annotated[int | None, typer.Option("--load", help="Only this load.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows to show.")] = 200,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Rows that could not be loaded, with the reason and the raw content."""
    with Workspace.open(workspace) as ws:
        rows = ws.quarantine(load, limit)
    print_rows(rows, "Quarantine", fmt)


@app.command()
@friendly_errors
def loads(
    limit: Annotated[int, typer.Option(min=1, help="Most loads to show.")] = 50,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """The load ledger: every ingestion run, failed ones included."""
    with Workspace.open(workspace) as ws:
        rows = ws.loads(limit)
    print_rows(rows, "Loads", fmt)


@app.command()
@friendly_errors
def sources(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Mappings you can pass to `ingest --source`."""
    with Workspace.open(workspace) as ws:
        rows = ws.sources()
    print_rows(rows, "Source mappings", fmt)


@app.command()
@friendly_errors
def config(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Every setting, its value and where the value came from."""
    with Workspace.open(workspace) as ws:
        rows = ws.settings.describe()
    print_rows(rows, "Settings", fmt)


@app.command()
@friendly_errors
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the demo workspace.")
    ] = Path("voxloop-demo"),
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")
    ] = True,
    fmt: FormatOpt = Format.table,
) -> None:
    """Build a demo workspace for a fictional French multichannel company, end to end."""
    from voxloop.demo import run_demo

    with load_progress(fmt is Format.table) as progress:
        info = run_demo(
            directory, progress=progress, echo=(console.print if fmt is Format.table else None)
        )
    if fmt is not Format.table:
        print_json(info)
    else:
        print_rows(
            [{"table": k, "rows": v} for k, v in info["status"]["tables"].items()],
            "Canonical tables",
            fmt,
        )
        print_rows(
            [
                {"channel": k, "interactions": v}
                for k, v in info["status"]["interactions_by_channel"].items()
            ],
            "Interactions per channel",
            fmt,
        )
        for name, rows in info["indicators"].items():
            print_rows(human_rows_from(name, rows), f"Indicator: {name}", fmt)
        console.print(f"Demo workspace ready in [bold]{info['workspace']}[/bold]")
        console.print(
            "Explore: voxloop kpi --list · voxloop kpi nps --by channel,month · voxloop sla "
            f"(add -w {directory})"
        )
    if serve:
        err_console.print(
            "[dim]The web dashboard is not part of this version yet; "
            "explore with `voxloop status -w " + str(directory) + "`.[/dim]"
        )


register_loop(app, register_indicators(app))
register_customers(app)
register_text(app)


def main() -> None:
    """Entry point of the ``voxloop`` script."""
    app()
