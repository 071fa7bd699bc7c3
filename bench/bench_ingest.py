"""Ingestion benchmark: ``voxloop ingest`` against DuckDB's raw CSV floor, same file, same run.

The issue's target: loading a 10-million-row ``contacts`` export with normalisation and
validation runs at ≥ 40 % of the raw floor's throughput, in ≤ 3 GB of peak memory.

Cases, each measured in its own subprocess:

* ``floor`` — the named baseline: a fresh DuckDB database *file* with the same
  ``memory_limit`` as the workspace (2GB by default),
  ``CREATE TABLE t AS SELECT * FROM read_csv('file')`` (types auto-detected);
* ``floor_varchar`` — the same with ``all_varchar = true``: the bare parse, closest to voxloop's
  own staging step (which reads every column as text); shown for context;
* ``voxloop`` — a fresh workspace (``Workspace.init`` in a temp folder, ``memory_limit`` set
  through ``VOXLOOP_MEMORY_LIMIT``), then ``ws.ingest([file], source="contacts")``, with
  per-stage timings from the progress callback.

The timed section is the statement (floor) or the ``ingest`` call (voxloop), commit included;
connecting, closing and deleting the folder are outside it. Process CPU time over the same
section is recorded too: on a shared 2-core machine it is steadier than wall time, and the CPU
used meanwhile by other processes is reported so a noisy run can be recognised. Peak memory is
the larger of the case process's own ``VmHWM`` and the summed RSS of it and its helper
processes (voxloop may start some), polled every 50 ms. The case order alternates between
repetitions. A case that fails is recorded with its error, and the run goes on.

Results: a table on stdout and ``bench/out/ingest.json``.

Usage: ``python bench/bench_ingest.py --rows 10000000 --repeat 3 [--memory-limit 2GB]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CASES = ("floor", "floor_varchar", "voxloop")
BASELINE = "floor"
TARGET_RATIO = 0.40
TARGET_PEAK_MB = 3072.0
DEFAULT_MEMORY_LIMIT = "2GB"  # a workspace's default memory_limit setting
STAGE_END = "commit"  # time after the last stage reports 1.0: commit, ledger, temp tables


# -- workers (run in a subprocess) ---------------------------------------------------------------
def _floor(csv: Path, work: Path, memory_limit: str, *, all_varchar: bool) -> dict[str, Any]:
    import duckdb

    db = work / "floor.duckdb"
    con = duckdb.connect(
        str(db), config={"memory_limit": memory_limit, "temp_directory": str(work / "tmp")}
    )
    options = ", all_varchar = true" if all_varchar else ""
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}'{options})")
    seconds, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    row = con.execute("SELECT count(*) FROM t").fetchone()
    types = [str(r[1]) for r in con.execute("DESCRIBE t").fetchall()]
    t1 = time.perf_counter()
    con.close()
    close_s = time.perf_counter() - t1
    return {
        "seconds": seconds,
        "cpu_s": cpu_s,
        "rows": int(row[0]) if row else 0,
        "close_s": close_s,
        "db_mb": db.stat().st_size / 1e6,
        "column_types": sorted(set(types)),
    }


def _voxloop(csv: Path, work: Path, memory_limit: str) -> dict[str, Any]:
    os.environ["VOXLOOP_MEMORY_LIMIT"] = memory_limit
    from voxloop import Workspace

    ws = Workspace.init(work / "ws")
    marks: list[tuple[str, float]] = []
    seen: set[str] = set()

    def progress(stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if stage not in seen:
            seen.add(stage)
            marks.append((stage, now))
        if stage == "identities" and fraction >= 1.0:
            marks.append((STAGE_END, now))

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        results = ws.ingest([csv], source="contacts", progress=progress)
    finally:
        t1, cpu_s = time.perf_counter(), time.process_time() - c0
        ends = [m[1] for m in marks[1:]] + [t1]
        stages = {name: end - start for (name, start), end in zip(marks, ends, strict=True)}
        stages["(before hashing)"] = (marks[0][1] if marks else t1) - t0
        print(f"voxloop stages: {json.dumps(stages)}", file=sys.stderr)
    result = results[0]
    t2 = time.perf_counter()
    ws.close()
    close_s = time.perf_counter() - t2
    return {
        "seconds": t1 - t0,
        "cpu_s": cpu_s,
        "rows": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "duplicates_skipped": result.duplicates_skipped,
        "duration_s": result.duration_s,
        "status": result.status,
        "stages": stages,
        "close_s": close_s,
        "db_mb": (work / "ws" / "voxloop.duckdb").stat().st_size / 1e6,
    }


def _own_peak_mb() -> float:
    """This process's peak RSS: ``VmHWM`` (reset by exec, unlike ``ru_maxrss``)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(case: str, csv: Path, work: Path, result_file: Path, memory_limit: str) -> None:
    if case == "voxloop":
        result = _voxloop(csv, work, memory_limit)
    else:
        result = _floor(csv, work, memory_limit, all_varchar=case == "floor_varchar")
    result["peak_rss_mb"] = _own_peak_mb()
    result_file.write_text(json.dumps(result), encoding="utf-8")


# -- driver ------------------------------------------------------------------------------------
def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``)."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text(encoding="ascii").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _poll_tree_rss(pid: int, interval: float = 0.05) -> float:
    """Largest summed RSS (MB) of ``pid`` and its descendants, sampled until ``pid`` exits.

    Does not reap ``pid`` (``wait4`` does, afterwards, for its own usage figures).
    """
    import psutil

    peak = 0.0
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return peak
    while True:
        try:
            if root.status() == psutil.STATUS_ZOMBIE:
                break
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        peak = max(peak, total / 2**20)
        time.sleep(interval)
    return peak


def run_case(case: str, csv: Path, scratch: Path, memory_limit: str) -> dict[str, Any]:
    """One measured case in a fresh subprocess; ``{"failed": True, ...}`` if it fails."""
    work = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=scratch))
    result_file = work / "result.json"
    stderr_file = work / "stderr.txt"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--csv", str(csv)]
    cmd += ["--work", str(work), "--result", str(result_file), "--memory-limit", memory_limit]
    busy_before = _busy_cpu_s()
    try:
        with stderr_file.open("w", encoding="utf-8") as err:
            proc = subprocess.Popen(cmd, stderr=err)
            tree_peak_mb = _poll_tree_rss(proc.pid)
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = stderr_file.read_text(encoding="utf-8", errors="replace")
        if proc.returncode == 0:
            result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        else:
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            errors = [ln for ln in lines if "Error" in ln and not ln.startswith(" ")]
            result = {
                "failed": True,
                "exit_code": proc.returncode,
                "error": (errors or lines or ["(no output)"])[-1][:1000],
                "stderr_tail": lines[-40:],
            }
        result["stages_reached"] = [
            ln.split(": ", 1)[1] for ln in stderr.splitlines() if ln.startswith("voxloop stages")
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # ru_maxrss from wait4 is a cross-check only: Linux carries the pre-exec (forked parent)
    # high-water mark over exec, so it is never below this driver's own RSS.
    result["wait4_maxrss_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    result["tree_peak_rss_mb"] = tree_peak_mb
    result["main_peak_rss_mb"] = result.get("peak_rss_mb", 0.0)
    result["peak_rss_mb"] = max(result["main_peak_rss_mb"], tree_peak_mb)
    # CPU used on the machine by anything but this case while it ran (contention, noise)
    own_cpu = usage.ru_utime + usage.ru_stime
    result["case_process_cpu_s"] = own_cpu
    result["other_cpu_s"] = max(_busy_cpu_s() - busy_before - own_cpu, 0.0)
    return result


def source_fingerprint() -> str:
    """A digest of voxloop's source, to tie the figures to the code that produced them."""
    import hashlib

    import voxloop

    root = Path(voxloop.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(runs: dict[str, list[dict[str, Any]]], rows: int) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for case, results in runs.items():
        ok = [r for r in results if not r.get("failed")]
        med = _median([r["seconds"] for r in ok])
        peaks = [r["peak_rss_mb"] for r in results]
        cases[case] = {
            "runs": len(results),
            "failures": len(results) - len(ok),
            "errors": sorted({r["error"] for r in results if r.get("failed")}),
            "seconds": [r["seconds"] for r in ok],
            "median_s": med,
            "median_cpu_s": _median([r["cpu_s"] for r in ok]),
            "rows_per_s": rows / med if med else None,
            "peak_rss_mb": peaks,
            "max_peak_mb": max(peaks) if peaks else None,
        }
        if case == "voxloop" and ok:
            names = list(ok[0]["stages"])
            cases[case]["stage_median_s"] = {
                n: _median([r["stages"].get(n, 0.0) for r in ok]) for n in names
            }
            cases[case]["counts"] = {
                k: ok[-1][k]
                for k in ("rows", "rows_loaded", "rows_quarantined", "duplicates_skipped")
            }

    def ratio(base: str, key: str = "median_s") -> float | None:
        b, v = cases[base][key], cases["voxloop"][key]
        return b / v if b and v else None  # throughput ratio = inverse time ratio, same rows

    main_ratio = ratio(BASELINE)
    peak = cases["voxloop"]["max_peak_mb"]
    return {
        "cases": cases,
        "ratio_voxloop_vs_floor": main_ratio,
        "ratio_voxloop_vs_floor_varchar": ratio("floor_varchar"),
        "cpu_ratio_voxloop_vs_floor": ratio(BASELINE, "median_cpu_s"),
        "target_ratio": TARGET_RATIO,
        "ratio_met": main_ratio is not None and main_ratio >= TARGET_RATIO,
        "target_peak_mb": TARGET_PEAK_MB,
        "peak_met": cases["voxloop"]["failures"] == 0
        and peak is not None
        and peak <= TARGET_PEAK_MB,
        "runs_by_case": runs,
    }


def _fmt(value: float | None, spec: str) -> str:
    if value is None:  # keep the column's alignment and width
        width = spec.split(",")[0].split(".")[0]
        return format("—", width)
    return format(value, spec)


def print_table(summary: dict[str, Any], header: str) -> None:
    cases = summary["cases"]
    print()
    print(header)
    print(
        f"{'case':<15}{'median s':>10}{'rows/s':>13}{'vs floor':>10}{'peak MB':>10}"
        f"{'CPU s':>8}  runs (s)"
    )
    floor_s = cases[BASELINE]["median_s"]
    for case in CASES:
        c = cases[case]
        med = c["median_s"]
        vs = floor_s / med if floor_s and med else None
        runs = ", ".join(f"{s:.1f}" for s in c["seconds"])
        if c["failures"]:
            runs += f" ({c['failures']} of {c['runs']} FAILED)"
        print(
            f"{case:<15}{_fmt(med, '>10.2f')}{_fmt(c['rows_per_s'], '>13,.0f')}"
            f"{_fmt(vs, '>10.2f')}{_fmt(c['max_peak_mb'], '>10,.0f')}"
            f"{_fmt(c['median_cpu_s'], '>8.1f')}  {runs}"
        )
    for case in CASES:
        for error in cases[case]["errors"]:
            print(f"  {case} failed: {error}")
    print()
    ratio = summary["ratio_voxloop_vs_floor"]
    peak = cases["voxloop"]["max_peak_mb"]
    print(
        f"throughput ratio voxloop / floor = {_fmt(ratio, '.3f')} "
        f"(target ≥ {TARGET_RATIO:.2f}: {'met' if summary['ratio_met'] else 'NOT met'})"
    )
    print(
        f"voxloop peak memory = {_fmt(peak, ',.0f')} MB "
        f"(target ≤ {TARGET_PEAK_MB:,.0f} MB: {'met' if summary['peak_met'] else 'NOT met'})"
    )
    print(
        f"(voxloop / floor_varchar = {_fmt(summary['ratio_voxloop_vs_floor_varchar'], '.3f')}; "
        f"CPU-time ratio voxloop / floor = {_fmt(summary['cpu_ratio_voxloop_vs_floor'], '.3f')}; "
        "peak MB is the largest of the runs)"
    )
    every = [r for rs in summary["runs_by_case"].values() for r in rs]
    other = sum(r["other_cpu_s"] for r in every)
    own = sum(r["case_process_cpu_s"] for r in every)
    print(
        f"other processes used {other:,.0f} CPU-s while the cases ran "
        f"(the case processes used {own:,.0f} CPU-s)"
    )
    vox = cases["voxloop"]
    if "stage_median_s" in vox:
        print()
        print("voxloop stages (median s, share of the median total):")
        for name, secs in vox["stage_median_s"].items():
            print(f"  {name:<22}{secs:>8.2f}  {100 * secs / vox['median_s']:5.1f} %")
        counts = vox["counts"]
        print(
            f"  rows read {counts['rows']:,}, loaded {counts['rows_loaded']:,}, "
            f"quarantined {counts['rows_quarantined']:,}, "
            f"duplicates {counts['duplicates_skipped']:,}"
        )
    for r in summary["runs_by_case"]["voxloop"]:
        if r.get("failed") and r["stages_reached"]:
            reached = json.loads(r["stages_reached"][-1])
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in reached.items())
            print(f"  a failed voxloop run reached: {stages}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=None, help="default rows / 10")
    parser.add_argument(
        "--memory-limit",
        default=DEFAULT_MEMORY_LIMIT,
        help="DuckDB memory_limit of every case (default 2GB, the workspace default)",
    )
    parser.add_argument("--out", type=Path, default=OUT / "ingest.json")
    # internal: one measured case in this process
    parser.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker, args.csv, args.work, args.result, args.memory_limit)
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.customers}c" if args.customers else ""
    csv = OUT / f"contacts_{args.rows}{suffix}.csv"
    gen_s = None
    if csv.exists():
        print(f"using cached {csv}")
    else:  # in a subprocess, so that this driver stays small
        t0 = time.perf_counter()
        cmd = [sys.executable, str(HERE / "gen_contacts.py"), str(csv), "--rows", str(args.rows)]
        if args.customers:
            cmd += ["--customers", str(args.customers)]
        subprocess.run(cmd, check=True)
        gen_s = time.perf_counter() - t0
    file_mb = csv.stat().st_size / 1e6
    scratch = OUT / "scratch"
    scratch.mkdir(exist_ok=True)

    source_before = source_fingerprint()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    for rep in range(args.repeat):
        order = CASES if rep % 2 == 0 else tuple(reversed(CASES))
        for case in order:
            result = run_case(case, csv, scratch, args.memory_limit)
            runs[case].append(result)
            outcome = (
                f"FAILED: {result['error'][:150]}"
                if result.get("failed")
                else f"{result['seconds']:7.2f} s  CPU {result['cpu_s']:6.1f} s"
            )
            print(
                f"  rep {rep + 1}/{args.repeat} {case:<14} {outcome}  "
                f"peak {result['peak_rss_mb']:7,.0f} MB  (other CPU {result['other_cpu_s']:.0f} s)",
                flush=True,
            )

    summary = summarise(runs, args.rows)
    source_after = source_fingerprint()
    header = (
        f"contacts CSV: {args.rows:,} rows, {file_mb:,.0f} MB; memory_limit {args.memory_limit}; "
        f"{args.repeat} repetition(s), medians"
    )
    print_table(summary, header)
    if source_after != source_before:
        print("WARNING: voxloop's source changed during the run; the runs may differ in code")
    import duckdb

    report = {
        "rows": args.rows,
        "file": str(csv),
        "file_mb": file_mb,
        "generate_s": gen_s,
        "repeat": args.repeat,
        "baseline": BASELINE,
        "memory_limit": args.memory_limit,
        "voxloop_source": source_before,
        "voxloop_source_changed_during_run": source_after != source_before,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "platform": platform.platform(),
        },
        **summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nvoxloop source fingerprint {source_before}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
