"""How commands print: Rich tables for people, JSON or CSV for scripts, errors on stderr."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from voxloop.ingest import STAGES, ProgressFn

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def print_csv(rows: Sequence[dict[str, Any]]) -> None:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sys.stdout.write(buf.getvalue())


def print_rows(rows: Sequence[dict[str, Any]], title: str, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(list(rows))
    elif fmt is Format.csv:
        print_csv(rows)
    else:
        console.print(rich_table(rows, title))


def rich_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("(none)")
        return table
    for key in rows[0]:
        numeric = all(isinstance(r.get(key), int | float) for r in rows if r.get(key) is not None)
        table.add_column(str(key), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if isinstance(value, float):
        return f"{value:,.3f}".replace(",", "\u202f")
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


@contextmanager
def load_progress(enabled: bool, stages: Sequence[str] = STAGES) -> Iterator[ProgressFn]:
    """A progress bar over the stages of a long job (hidden when not on a terminal)."""
    progress = Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not enabled or not err_console.is_terminal,
    )
    task = progress.add_task("starting", total=1.0)

    def report(stage: str, fraction: float) -> None:
        index = stages.index(stage) if stage in stages else 0
        progress.update(
            task, description=stage, completed=(index + min(fraction, 1.0)) / len(stages)
        )

    with progress:
        yield report
