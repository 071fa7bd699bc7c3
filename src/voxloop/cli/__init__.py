"""The ``voxloop`` command line (Typer + Rich): a thin client of :class:`voxloop.Workspace`."""

from voxloop.cli.app import app, main

__all__ = [
    "app",
    "main",
]
