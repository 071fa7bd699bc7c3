"""Customer commands: ``resolve``, ``customer show``, ``customers merge|split``, ``quality``.
Registered on the main app by :mod:`voxloop.cli.app`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from voxloop.cli.options import FormatOpt, WorkspaceOpt, friendly_errors
from voxloop.cli.output import Format, console, load_progress, print_json, print_rows
from voxloop.workspace import Workspace


def _local(value: Any, zone: str) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    return value


def _event_line(e: dict[str, Any]) -> str:
    kind = e["type"]
    if kind == "contact":
        wait = f", answered after {e['wait_s']:.0f} s" if e.get("wait_s") is not None else ""
        return (
            f"{e['channel']} {e.get('direction') or ''} — {e.get('reason') or ''}"
            + (f" → {e['outcome']}" if e.get("outcome") else "")
            + wait
        )
    if kind == "answer":
        text = f" “{e['text']}”" if e.get("text") else ""
        return f"{e['instrument']} {e['score']:g}/{e['scale_max']:g}{text}"
    if kind in ("mention", "complaint"):
        return f"{kind} on {e.get('platform') or e.get('channel') or '?'}: {e.get('text') or ''}"
    if kind == "case":
        return f"case {e['id']} opened ({e.get('reason') or e.get('rule') or ''})"
    return f"case {e.get('case_id')}: {e.get('from_state') or ''} → {e.get('to_state') or ''}"


def register(app: typer.Typer) -> None:
    """Add the customer commands to ``app``."""

    @app.command()
    @friendly_errors
    def resolve(
        full: Annotated[
            bool,
            typer.Option("--full", help="Re-resolve everything (after changing identity_limits)."),
        ] = False,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Link records that share an e-mail, a phone, a handle or a customer number into
        customers. Incremental: only what is new since the last run."""
        with (
            Workspace.open(workspace) as ws,
            load_progress(fmt is Format.table, stages=RESOLVE_STAGES) as progress,
        ):
            result = ws.resolve(full=full, progress=progress)
        if fmt is not Format.table:
            print_json(result.as_json())
            return
        if result.mode == "nothing":
            console.print(result.notes[0])
            return
        console.print(
            f"[green]{result.mode} resolution[/green]: {result.records:,} records, "
            f"{result.identifiers:,} identifiers — {result.customers_created:,} new customers, "
            f"{result.customers_merged:,} merges, {result.records_unresolved:,} records left "
            f"without a customer (only shared or weak identifiers) ({result.duration_s:.1f} s)"
        )
        if result.shared:
            print_rows(result.shared[:20], "Identifiers too common to link on", fmt)
        for note in result.notes:
            console.print(f"[yellow]note:[/yellow] {note}")

    customer = typer.Typer(help="One customer's file.", no_args_is_help=True)
    app.add_typer(customer, name="customer")

    @customer.command("show")
    @friendly_errors
    def customer_show(
        who: Annotated[str, typer.Argument(help="Customer id, e-mail, phone or handle.")],
        limit: Annotated[int, typer.Option(min=1, help="Most timeline events to show.")] = 50,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Identities, attributes, summary and timeline of every contact, answer and case."""
        with Workspace.open(workspace) as ws:
            file = ws.customer(who, limit=limit)
            zone = ws.settings.time_zone
        if fmt is not Format.table:
            print_json(file)
            return
        c, s = file["customer"], file["summary"]
        attrs = ", ".join(
            f"{k} {c[k]}" for k in ("segment", "persona", "value", "influence") if c[k] is not None
        )
        console.print(
            f"[bold]Customer {c['customer_id']}[/bold]" + (f" — {attrs}" if attrs else "")
        )
        if file["merged_ids"]:
            console.print(f"also known as: {', '.join(file['merged_ids'])}")
        nps = s["last_nps"]
        last_nps = "—" if nps is None else f"{nps['score']:g}"
        channels = ", ".join(s["channels"]) or "no channel"
        cases = ", ".join(s["open_cases"]) or "none"
        console.print(
            f"{s['contacts']} contacts ({s['contacts_last_90_days']} in the last 90 days) on "
            f"{channels}; last NPS: {last_nps}; open cases: {cases}"
        )
        print_rows(
            [{k: _local(v, zone) for k, v in i.items()} for i in file["identities"]],
            "Identifiers",
            fmt,
        )
        print_rows(
            [
                {"when": _local(e["at"], zone), "what": e["type"], "details": _event_line(e)}
                for e in file["timeline"]
            ],
            f"Timeline (local time, {zone})",
            fmt,
        )

    customers = typer.Typer(
        help="Merge or split customers by hand; find probable duplicates (match).",
        no_args_is_help=True,
    )
    app.add_typer(customers, name="customers")

    @customers.command("merge")
    @friendly_errors
    def customers_merge(
        first: Annotated[str, typer.Argument(help="A customer id.")],
        second: Annotated[str, typer.Argument(help="The customer id to merge with it.")],
        note: Annotated[str | None, typer.Option(help="Why (kept in the merge log).")] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Merge two customers; later resolutions keep them together. The older id stays."""
        with Workspace.open(workspace) as ws:
            out = ws.merge_customers(first, second, note=note)
        if fmt is Format.table:
            console.print(f"[green]{out['merged']} merged into {out['kept']}[/green]")
        else:
            print_json(out)

    @customers.command("split")
    @friendly_errors
    def customers_split(
        customer_id: Annotated[str, typer.Argument(help="The customer to split.")],
        identifier: Annotated[
            str,
            typer.Option("--identifier", help="KIND:VALUE to detach, e.g. phone:+33612345678."),
        ],
        note: Annotated[str | None, typer.Option(help="Why.")] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Detach an identifier from a customer; later resolutions never link on it again."""
        with Workspace.open(workspace) as ws:
            out = ws.split_identifier(customer_id, identifier, note=note)
        if fmt is Format.table:
            console.print(
                f"[green]{identifier} detached from {customer_id}[/green]; records carrying "
                f"only it now belong to {out['new_customer'] or 'no customer'}"
            )
        else:
            print_json(out)

    @customers.command("match")
    @friendly_errors
    def customers_match(
        apply: Annotated[
            bool, typer.Option("--apply", help="Merge the matches (default: only list them).")
        ] = False,
        threshold: Annotated[
            float | None,
            typer.Option(
                min=0.0,
                max=1.0,
                help="Match probability from which a pair is a match (default: the "
                "fuzzy_threshold setting, 0.99).",
                show_default=False,
            ),
        ] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Find customers no identifier joins but whose names and addresses say they are one
        person (probabilistic matching; needs `pip install 'voxloop\\[linkage]'`). Each pair
        comes with why: the level each field is at and the weight it adds."""
        with Workspace.open(workspace) as ws:
            out = ws.link_probabilistic(apply=apply, threshold=threshold)
        if fmt is Format.json:
            print_json(out)
            return
        rows = [
            {
                "p": round(m["match_probability"], 4),
                "weight": m["match_weight"],
                "customer": f"{m['customer_id']} {m['explanation'][0]['values'][0]}",
                "other": f"{m['other_id']} {m['explanation'][0]['values'][1]}",
                "why": ", ".join(
                    f"{w['level'] if w['level'] != 'other' else w['field'] + ' differs'} "
                    f"{w['weight']:+.1f}"
                    for w in m["explanation"]
                ),
                "status": m["status"],
            }
            for m in out["matches"]
        ]
        if fmt is Format.csv:
            print_rows(rows, "", fmt)
            return
        print_rows(rows, f"Likely the same person (p ≥ {out['threshold']})", fmt)
        done = f"{out['merged']:,} merged" if out["applied"] else "nothing merged (add --apply)"
        console.print(
            f"{out['customers']:,} named customers, {out['pairs_scored']:,} pairs scored, "
            f"{len(out['matches']):,} above the threshold, of which {out['blocked']:,} blocked "
            f"(each holds a customer number) — {done} ({out['duration_s']:.1f} s)"
        )
        for note in out["notes"]:
            console.print(f"[yellow]note:[/yellow] {note}")

    @app.command()
    @friendly_errors
    def quality(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
        """Data quality: completeness and inconsistencies per source and field, what identity
        resolution found, and the collection plan for the target fields."""
        with Workspace.open(workspace) as ws:
            report = ws.quality()
        if fmt is not Format.table:
            print_json(report)
            return
        gaps = [r for r in report["completeness"] if r["value"] is not None and r["value"] < 1]
        print_rows(
            [{**r, "value": f"{100 * r['value']:.1f} %"} for r in gaps],
            "Completeness (fields not always filled)",
            fmt,
        )
        broken = [r for r in report["inconsistency"] if r["value"]]
        if broken:
            print_rows(
                [{**r, "value": f"{100 * r['value']:.2f} %"} for r in broken],
                "Inconsistencies (rules broken)",
                fmt,
            )
        else:
            console.print(
                "[green]No inconsistency found[/green] (answers before their "
                "contact, scores off scale, unreadable phones and e-mails…)."
            )
        res = report["resolution"]
        console.print(
            f"Resolution: {res['customers']:,} customers, {res['merges']:,} merges, "
            f"{res['records_resolved']:,} of {res['records']:,} records attached to a customer, "
            f"{res['customers_in_several_sources']:,} customers seen in several sources"
        )
        if report["shared_identifiers"]:
            print_rows(report["shared_identifiers"][:20], "Identifiers too common to link", fmt)
        if report["invalid_identifiers"]:
            print_rows(report["invalid_identifiers"], "Unreadable identifiers", fmt)
        print_rows(
            [
                {
                    "field": p["field"],
                    "coverage": "—" if p["coverage"] is None else f"{100 * p['coverage']:.1f} %",
                    "missing": p["customers_missing_it"],
                    "best sources": ", ".join(
                        f"{s['source']} ({100 * s['share']:.0f} %)"
                        for s in p["sources"]
                        if s["share"]
                    )
                    or "—",
                    "advice": p["advice"],
                }
                for p in report["collection_plan"]
            ],
            "Collection plan (target_fields)",
            fmt,
        )


RESOLVE_STAGES = (
    "collecting identifiers",
    "finding shared identifiers",
    "linking",
    "naming customers",
    "writing",
)
