"""Identity-resolution benchmark: ``voxloop resolve`` against networkx, same graph, same run.

The issue's targets, on ~10 million identifier rows (~3 million customers): a resolution from
scratch in ≤ 60 s and ≤ 4 GB, and an incremental run adding 1 % of records in ≤ 5 % of that.

The data is generated straight into a workspace's store with SQL (ingestion has its own
benchmark): records on several channels carrying an e-mail (one or two per person), a mobile,
an account number, with a skew (some people have many contacts), a switchboard number and a
``noreply@`` address shared by thousands. The identities table is filled as ingestion fills it.

Cases, each in its own subprocess, peak memory polled from outside (psutil, 50 ms):

* ``voxloop_full`` — ``ws.resolve(full=True)`` on a copy of the generated store, then a
  ``CHECKPOINT`` (timed too: writing what changed is part of the work, and DuckDB would
  otherwise do it when the store is closed);
* ``voxloop_incremental`` — on that resolved copy, 1 % new records are added as a new load
  (a third of them from new people, the rest from known ones, some bridging two known
  customers), then ``ws.resolve()`` and a ``CHECKPOINT``;
* ``networkx`` — the named baseline: ``nx.connected_components`` on the same record–identifier
  graph (edges read from the store as Arrow, not timed), without guard-rails.

Usage: ``python bench/bench_resolve.py --records 6000000 --people 3000000 --repeat 3``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
TARGET_FULL_S = 60.0
TARGET_PEAK_MB = 4096.0
TARGET_INCREMENTAL = 0.05


def generate(root: Path, records: int, people: int, offset: int = 0) -> None:
    """Records ``offset``…``offset + records`` of a population of ``people``, as one load
    (numbered, with its row in the ledger, as ingestion does)."""
    from voxloop import Workspace

    ws = Workspace.open(root) if (root / "voxloop.toml").exists() else Workspace.init(root)
    with ws:
        con = ws.store.con
        [(load_id,)] = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchall()
        con.execute(
            "INSERT INTO loads (load_id, source, file_path, status, started_at, finished_at, "
            "rows_read, rows_loaded) VALUES (?, 'bench', 'generated', 'committed', now(), now(), "
            "?, ?)",
            [load_id, records, records],
        )
        con.execute(
            f"""
            INSERT INTO interactions (interaction_id, source, external_id, channel, started_at,
                customer_email, customer_phone, customer_ref, load_id, ingested_at)
            WITH r AS (
                SELECT i,
                       -- skewed: a few people contact a lot
                       CAST(floor({people} * pow((hash(i, 'p') % 1000000) / 1e6, 1.6)) AS BIGINT)
                         AS p,
                       hash(i, 'u') % 1000 AS u
                FROM range({offset}, {offset + records}) t(i))
            SELECT 'bench:' || i, 'bench', CAST(i AS VARCHAR),
                   ['phone', 'email', 'chat', 'web_form', 'store'][1 + i % 5],
                   TIMESTAMPTZ '2025-01-01' + to_seconds(i % 31536000),
                   CASE WHEN u < 2 THEN 'noreply@bench.example'
                        WHEN u < 800 THEN 'p' || p ||
                             CASE WHEN p % 4 = 0 AND u % 2 = 0 THEN '.pro' ELSE '' END
                             || '@bench.example' END,
                   CASE WHEN u BETWEEN 800 AND 805 THEN '+33140000000'
                        WHEN u % 2 = 1 THEN '+336' || lpad(CAST(p % 100000000 AS VARCHAR), 8, '0')
                   END,
                   CASE WHEN u % 10 < 3 THEN 'A' || p END,
                   {load_id}, now()
            FROM r
            """
        )
        con.execute(
            f"""
            INSERT INTO identities (kind, value, first_seen_at, first_load_id, source)
            SELECT DISTINCT kind, value, now(), {load_id}, 'bench' FROM (
                SELECT 'email' AS kind, customer_email AS value FROM interactions
                WHERE load_id = {load_id}
                UNION ALL SELECT 'phone', customer_phone FROM interactions
                WHERE load_id = {load_id}
                UNION ALL SELECT 'account', customer_ref FROM interactions
                WHERE load_id = {load_id}) x
            WHERE value IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM identities i WHERE i.kind = x.kind AND i.value = x.value)
            """
        )


def _voxloop(root: Path, full: bool) -> dict[str, Any]:
    from voxloop import Workspace

    with Workspace.open(root) as ws:
        started = time.perf_counter()
        result = ws.resolve(full=full)
        resolved = time.perf_counter()
        # the rewrite of what changed, which DuckDB may otherwise leave to the close
        ws.store.con.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
        [(customers,)] = ws.store.con.execute(
            "SELECT count(DISTINCT customer_id) FROM interactions"
        ).fetchall()
    return {
        "seconds": seconds,
        "checkpoint_s": seconds - (resolved - started),
        "mode": result.mode,
        "records": result.records,
        "identifiers": result.identifiers,
        "customers": customers,
        "merges": result.customers_merged,
        "shared": len(result.shared),
    }


def _networkx(root: Path) -> dict[str, Any]:
    import duckdb
    import networkx as nx

    con = duckdb.connect(str(root / "voxloop.duckdb"), read_only=True)
    edges = con.sql(
        """
        WITH p AS (
            SELECT rowid AS rec, 'e' || customer_email AS ident FROM interactions
            WHERE customer_email IS NOT NULL
            UNION ALL SELECT rowid, 'p' || customer_phone FROM interactions
            WHERE customer_phone IS NOT NULL
            UNION ALL SELECT rowid, 'a' || customer_ref FROM interactions
            WHERE customer_ref IS NOT NULL)
        SELECT rec, dense_rank() OVER (ORDER BY ident) + (SELECT max(rowid) FROM interactions)
               AS ident FROM p
        """
    ).to_arrow_table()
    con.close()
    a = edges["rec"].to_numpy()
    b = edges["ident"].to_numpy()
    started = time.perf_counter()
    graph = nx.Graph()
    graph.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
    components = sum(1 for _ in nx.connected_components(graph))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "edges": len(a), "components": components}


def worker(case: str, root: Path, result_file: Path) -> None:
    out = _networkx(root) if case == "networkx" else _voxloop(root, full=case == "voxloop_full")
    result_file.write_text(json.dumps(out), encoding="utf-8")


def run_case(case: str, root: Path) -> dict[str, Any]:
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", case, str(root), str(result_file)]
        )
        peak = 0.0
        watched = psutil.Process(proc.pid)

        def poll() -> None:
            nonlocal peak
            while proc.poll() is None:
                try:
                    rss = watched.memory_info().rss + sum(
                        c.memory_info().rss for c in watched.children(recursive=True)
                    )
                except psutil.NoSuchProcess:
                    break
                peak = max(peak, rss / 2**20)
                time.sleep(0.05)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        code = proc.wait()
        thread.join()
        if code != 0:
            return {"error": f"exit {code}", "peak_mb": peak}
        out: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        out["peak_mb"] = peak
        return out


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--records", type=int, default=6_000_000)
    args.add_argument("--people", type=int, default=3_000_000)
    args.add_argument("--repeat", type=int, default=3)
    args.add_argument("--skip-networkx", action="store_true")
    args.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    opts = args.parse_args(argv)
    if opts.worker:
        worker(opts.worker[0], Path(opts.worker[1]), Path(opts.worker[2]))
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    try:
        base = scratch / "base"
        started = time.perf_counter()
        generate(base, opts.records, opts.people)
        print(f"generated {opts.records:,} records in {time.perf_counter() - started:.1f} s")
        runs: dict[str, list[dict[str, Any]]] = {"voxloop_full": [], "voxloop_incremental": []}
        if not opts.skip_networkx:
            runs["networkx"] = []
        for i in range(opts.repeat):
            work = scratch / f"run{i}"
            shutil.copytree(base, work)
            runs["voxloop_full"].append(run_case("voxloop_full", work))
            generate(work, opts.records // 100, opts.people * 34 // 33, offset=opts.records)
            runs["voxloop_incremental"].append(run_case("voxloop_incremental", work))
            if "networkx" in runs:
                runs["networkx"].append(run_case("networkx", base))
            shutil.rmtree(work)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1].get('seconds', 0):.1f} s"
                                               for k, v in runs.items()))  # fmt: skip
        summary = {
            case: {
                "median_s": statistics.median(r["seconds"] for r in rs if "seconds" in r),
                "peak_mb": max(r["peak_mb"] for r in rs),
                "last": rs[-1],
            }
            for case, rs in runs.items()
            if any("seconds" in r for r in rs)
        }
        full = summary["voxloop_full"]["median_s"]
        incremental = summary["voxloop_incremental"]["median_s"]
        print()
        print(f"{'case':<22}{'median s':>10}{'peak MB':>10}")
        for case, s in summary.items():
            print(f"{case:<22}{s['median_s']:>10.1f}{s['peak_mb']:>10.0f}")
        print()
        peak = summary["voxloop_full"]["peak_mb"]
        print(f"from scratch: {full:.1f} s (target ≤ {TARGET_FULL_S:.0f} s), peak "
              f"{peak:.0f} MB (target ≤ {TARGET_PEAK_MB:.0f})")  # fmt: skip
        checkpoint = statistics.median(
            r["checkpoint_s"] for r in runs["voxloop_incremental"] if "checkpoint_s" in r
        )
        print(f"incremental 1 %: {incremental:.2f} s (checkpoint {checkpoint:.2f} s) = "
              f"{incremental / full:.1%} of from scratch "
              f"(target ≤ {TARGET_INCREMENTAL:.0%})")  # fmt: skip
        if "networkx" in summary:
            nx_s = summary["networkx"]["median_s"]
            print(f"networkx connected_components: {nx_s:.1f} s → voxloop/networkx "
                  f"{full / nx_s:.2f}")  # fmt: skip
        OUT.mkdir(exist_ok=True)
        (OUT / "resolve.json").write_text(
            json.dumps({"args": vars(opts), "summary": summary, "runs": runs}, indent=2),
            encoding="utf-8",
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
