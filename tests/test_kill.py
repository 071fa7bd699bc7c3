"""A load killed with SIGKILL at any stage leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from voxloop import Workspace

from .test_bad_input import HEADER, snapshot

CHILD = """
import sys
from voxloop import Workspace
ws = Workspace.open(sys.argv[1])
def progress(stage, fraction):
    if stage == sys.argv[3]:
        print("STAGE", flush=True)
ws.ingest([sys.argv[2]], source="contacts", progress=progress)
print("DONE", flush=True)
"""


def _big_contacts(path: Path, rows: int) -> Path:
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'K' || i AS contact_id, 'c' || (i % 50000) || '@exemple.fr'
                  AS customer_email, '06 12 ' || lpad(CAST(i % 100000 AS VARCHAR), 6, '0')
                  AS customer_phone, ['Téléphone', 'E-mail', 'Chat'][1 + i % 3] AS channel,
                  strftime(TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND, '%Y-%m-%d %H:%M:%S')
                  AS started_at, i % 600 AS handle_seconds, 'texte ' || i AS text
                  FROM range({rows}) t(i)) TO '{path}' (HEADER)"""
    )
    con.close()
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "delay"), [("normalising", 0.3), ("writing", 0.2)])
def test_sigkill_mid_load_leaves_the_store_as_it_was(
    tmp_path: Path, stage: str, delay: float
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    small = tmp_path / "small.csv"
    small.write_text(HEADER + "1,a@b.fr,,chat,2024-03-01 10:00:00,,déjà là\n", encoding="utf-8")
    ws.ingest([small], source="contacts")
    before = snapshot(ws)
    loads_before = ws.store.con.execute("SELECT * FROM loads ORDER BY ALL").fetchall()
    ws.close()

    big = _big_contacts(tmp_path / "big.csv", 1_500_000)
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "ws"), str(big), stage],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "STAGE"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "the load finished before it could be killed"

    reopened = Workspace.open(tmp_path / "ws")
    try:
        assert snapshot(reopened) == before
        assert reopened.store.con.execute("SELECT * FROM loads ORDER BY ALL").fetchall() == (
            loads_before
        )
        # and the store is fully usable: the same file now loads normally
        [result] = reopened.ingest([big], source="contacts")
        assert result.status == "committed" and result.rows_loaded == 1_500_000
    finally:
        reopened.close()
