"""Closed-loop benchmark (issue 6): open cases for 1 million new feedback rows, and compute
due dates for 1 million cases.

Signals: the feedback is generated straight into a workspace store (1M answers, about a
third of them unhappy, customers answering several times), then ``LoopEngine.run`` opens the
cases — rule matching, de-duplication, cooling-off, priority, routing, deadlines, the log.
Baseline in the same run: hand-written DuckDB SQL that only *matches* the rules and keeps the
first signal per customer and reason (no cooling-off, priority, deadlines or log): the floor.

Due dates: ``due_many`` on the Paris split-shift calendar with French holidays, against
pandas' ``CustomBusinessHour`` (one span per day, holidays given; it cannot do split shifts
or time zones, so it gets the easier problem) on a sample, extrapolated.

    python bench/bench_loop.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # (no stubs installed)

from voxloop.loop.config import load_loop
from voxloop.loop.deadlines import BusinessClock, due_many
from voxloop.loop.engine import LoopEngine
from voxloop.metrics import load_sla
from voxloop.workspace import Workspace

AS_OF = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def generate(ws: Workspace, rows: int, customers: int) -> None:
    ws.store.con.execute(
        f"""
        INSERT INTO feedback (feedback_id, source, external_id, customer_id, channel, instrument,
            score, scale_min, scale_max, answered_at, survey_kind, followers, load_id,
            ingested_at)
        SELECT 'b:' || i, 'b', CAST(i AS VARCHAR), 'C' || (hash(i) % {customers}),
               ['email', 'phone', 'social', 'chat'][1 + i % 4],
               CASE WHEN i % 3 = 0 THEN 'csat' ELSE 'nps' END,
               CASE WHEN i % 3 = 0 THEN 1 + hash(i * 7) % 5 ELSE hash(i * 7) % 11 END,
               CASE WHEN i % 3 = 0 THEN 1 ELSE 0 END,
               CASE WHEN i % 3 = 0 THEN 5 ELSE 10 END,
               TIMESTAMPTZ '2026-02-01 00:00:00+00' + to_seconds(hash(i * 13) % (28 * 86400)),
               CASE WHEN i % 50 = 0 THEN 'complaint' ELSE 'hot' END,
               CASE WHEN i % 4 = 2 THEN hash(i) % 50000 ELSE NULL END,
               1, now()
        FROM range({rows}) t(i)
        """
    )
    ws.store.con.execute(
        f"INSERT INTO customers (customer_id, value) SELECT 'C' || i, hash(i) % 5000 "
        f"FROM range({customers}) t(i)"
    )


BASELINE_SQL = """
    SELECT count(*) FROM (
        SELECT customer_id, reason, min(answered_at)
        FROM (
            SELECT customer_id, answered_at,
                   CASE WHEN instrument = 'nps' AND score <= 6 THEN 'detractor'
                        WHEN instrument = 'csat' AND score <= 2 THEN 'unhappy_csat'
                        WHEN survey_kind = 'complaint' THEN 'complaint' END AS reason
            FROM feedback WHERE answered_at <= ?
        ) WHERE reason IS NOT NULL GROUP BY ALL
    )
"""


def bench_signals(rows: int, repeat: int) -> None:
    times, base = [], []
    opened = 0
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp(prefix="bench-loop-"))
        try:
            ws = Workspace.init(tmp / "ws")
            generate(ws, rows, rows // 3)
            engine = LoopEngine(ws.store, ws.loop.config)
            t = time.perf_counter()
            result = engine.run(AS_OF)
            times.append(time.perf_counter() - t)
            opened = result.opened
            t = time.perf_counter()
            ws.store.con.execute(BASELINE_SQL, [AS_OF]).fetchall()
            base.append(time.perf_counter() - t)
            print(
                f"  run: {result.signals:,} signals, {result.matched:,} matched, "
                f"{result.opened:,} opened, {result.attached:,} attached, "
                f"{result.cooling_off:,} cooling off — {times[-1]:.2f} s "
                f"(SQL floor {base[-1]:.2f} s)"
            )
            ws.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    med, med_base = statistics.median(times), statistics.median(base)
    print(
        f"signals: voxloop {med:.2f} s = {rows / med:,.0f} signals/s ({opened:,} cases opened); "
        f"hand-written SQL match+dedupe only {med_base:.2f} s; ratio {med / med_base:.1f}×"
    )


def bench_due_dates(count: int, repeat: int) -> None:
    templates = Path(__file__).parents[1] / "src" / "voxloop" / "templates"
    sla = load_sla(templates / "sla.yaml")
    config = load_loop(templates / "loop.yaml", sla)
    rng = np.random.default_rng(1)
    starts = AS_OF.timestamp() + rng.uniform(0, 365 * 86400, count)
    seconds = np.full(count, 24 * 3600.0)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        due_many(BusinessClock(config.calendars["paris"]), starts, seconds)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    # pandas: one span a day (08:30–19:00), French holidays; a sample, extrapolated
    import holidays

    fr = list(holidays.country_holidays("FR", years=[2026, 2027]))
    hour = pd.offsets.CustomBusinessHour(
        start="08:30", end="19:00", holidays=fr, weekmask="Mon Tue Wed Thu Fri"
    )
    sample = 2000
    stamps = pd.to_datetime(starts[:sample], unit="s")
    t = time.perf_counter()
    _ = [s + 24 * hour for s in stamps]
    pandas_rate = sample / (time.perf_counter() - t)
    print(
        f"due dates: voxloop {med:.3f} s for {count:,} = {count / med:,.0f}/s; "
        f"pandas CustomBusinessHour {pandas_rate:,.0f}/s (sample of {sample}); "
        f"ratio {count / med / pandas_rate:,.0f}×"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bench_due_dates(args.rows, args.repeat)
    bench_signals(args.rows, args.repeat)


if __name__ == "__main__":
    main()
