"""The end-to-end demo: a workspace, generated data plus a real public sample, loaded."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from voxloop.config import WORKSPACE_FILE
from voxloop.demo.generate import write_demo_files
from voxloop.ingest import ProgressFn
from voxloop.workspace import Workspace


def cfpb_sample() -> Path:
    """The bundled CFPB complaints sample (US federal data, public domain)."""
    resource = resources.files("voxloop.demo") / "data" / "cfpb_complaints_sample.csv.gz"
    return Path(str(resource))


def run_demo(
    directory: Path,
    *,
    progress: ProgressFn | None = None,
    echo: Callable[[str], Any] | None = None,
    contacts: int = 12_000,
) -> dict[str, Any]:
    """Create (or refresh) the demo workspace and load everything; returns its status."""
    say = echo or (lambda _msg: None)
    if (directory / WORKSPACE_FILE).exists():
        ws = Workspace.open(directory)
        say(f"Re-using the demo workspace in {directory}")
    else:
        ws = Workspace.init(directory, company="Maison Lumière")
        say(f"Created the demo workspace in {directory}")
    with ws:
        say("Generating a year of contacts, surveys and mentions for Maison Lumière…")
        files = write_demo_files(directory / "data", contacts=contacts)
        loads = []
        for source in ("contacts", "surveys", "mentions"):
            loads += ws.ingest([files[source]], source=source, progress=progress)
        say("Loading the public CFPB complaints sample…")
        loads += ws.ingest([cfpb_sample()], source="cfpb", progress=progress)
        for r in loads:
            say(
                f"  {r.source:<9} {r.rows_loaded:>7,} of {r.rows_read:>7,} rows loaded, "
                f"{r.rows_quarantined:,} quarantined, {r.duplicates_skipped:,} duplicates"
            )
        say("Resolving customers across channels…")
        resolution = ws.resolve()
        if resolution.mode != "nothing":
            say(
                f"  {resolution.records:,} records → {resolution.customers_created:,} new "
                f"customers, {resolution.customers_merged:,} merges, "
                f"{len(resolution.shared):,} identifiers too common to link on"
            )
        say("Reading the verbatims: language, personal data, themes, sentiment…")
        text = ws.text.annotate(progress=progress)
        say(
            f"  {text.texts:,} texts, {text.analysed:,} analysed in {text.duration_s:.0f} s "
            f"({', '.join(f'{k}: {v:,}' for k, v in sorted(text.by_language.items()))})"
        )
        say("Opening cases for the unhappy customers (closed loop)…")
        latest = ws.store.con.execute("SELECT max(answered_at) FROM feedback").fetchall()[0][0]
        run, _ = ws.loop.run(latest, actor="demo", notify=False)
        say(
            f"  {run.matched:,} unhappy signals → {run.opened:,} cases opened, "
            f"{run.attached:,} joined an open case, {run.cooling_off:,} in cooling-off"
        )
        say("Computing the headline indicators…")
        return {
            "workspace": str(ws.root),
            "loads": [r.as_json() for r in loads],
            "resolution": resolution.as_json(),
            "text": text.as_dict(),
            "loop": run.as_dict(),
            "status": ws.status(),
            "indicators": headline_indicators(ws),
        }


HEADLINE = (
    ("nps", ()),
    ("csat", ()),
    ("fcr", ()),
    ("abandonment", ()),
    ("service-level", ("channel",)),
    ("channel-switching", ("channel",)),
)


def headline_indicators(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    """What a customer-service director looks at first, as JSON-ready rows."""
    return {name: ws.metrics.compute(name, list(by)).to_pylist() for name, by in HEADLINE}
