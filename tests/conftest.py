"""Shared fixtures: real workspaces on real DuckDB files, the public data beside the repo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voxloop import Workspace

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VOXLOOP_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():  # pragma: no cover - CI always has it
        pytest.fail(f"the public test data is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path / "ws")
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
