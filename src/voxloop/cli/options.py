"""What every command shares: the workspace and format options, and friendly errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from voxloop.cli.output import Format, err_console
from voxloop.errors import VoxloopError

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """User errors become a message, a hint and an exit code — never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except VoxloopError as exc:
            err_console.print(f"[red]Error:[/red] {exc.message}", soft_wrap=True)
            if exc.hint:
                err_console.print(f"[yellow]→[/yellow] {exc.hint}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from exc

    return wrapper


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $VOXLOOP_WORKSPACE, else the current folder).",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Format,
    typer.Option("--format", "-f", help="Output: table for people, json or csv for scripts."),
]
