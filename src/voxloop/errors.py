"""voxloop's exceptions: one tree, so callers can tell "fix your input" from "try again".

::

    VoxloopError                      base; every message says what failed and what to do
    ├── UserError                     the user can fix it (exit code 1, HTTP 4xx)
    │   ├── ConfigError               a setting or a workspace file is wrong or missing
    │   ├── WorkspaceNotFoundError         no voxloop.toml where we looked
    │   ├── MappingError              a source mapping (sources/NAME.yaml) is invalid
    │   ├── UnknownSourceError             no built-in or workspace mapping has that name
    │   └── IngestError               a file cannot be loaded at all (structural problem)
    └── TransientError                retrying later may work (exit code 75, HTTP 503)
        └── StoreBusyError                 another process holds the embedded store

A *row* that cannot be used is never an exception: it goes to the quarantine with its reason.
Only problems that make a whole file unusable raise :class:`IngestError`, and a load that raises
leaves the store exactly as it was.
"""

from __future__ import annotations


class VoxloopError(Exception):
    """Base class. ``hint`` tells a non-developer what to do next."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  → {self.hint}"
        return self.message


class UserError(VoxloopError):
    """Something the user can correct: a file, a setting, an argument."""

    exit_code = 1
    http_status = 400


class ConfigError(UserError):
    """A setting or a workspace file is wrong or missing."""


class WorkspaceNotFoundError(ConfigError):
    """No workspace where we looked."""

    http_status = 404


class MappingError(UserError):
    """A source mapping is invalid; the message names the file and the key."""


class UnknownSourceError(UserError):
    """No mapping has this name; the message lists the valid ones."""

    http_status = 404


class IngestError(UserError):
    """The file cannot be loaded at all; nothing was written."""

    http_status = 422


class TransientError(VoxloopError):
    """Retrying later may succeed."""

    exit_code = 75
    http_status = 503


class StoreBusyError(TransientError):
    """Another process holds the embedded DuckDB store."""


__all__ = [
    "ConfigError",
    "IngestError",
    "MappingError",
    "StoreBusyError",
    "TransientError",
    "UnknownSourceError",
    "UserError",
    "VoxloopError",
    "WorkspaceNotFoundError",
]
