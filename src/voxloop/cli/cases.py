"""Closed-loop commands: ``loop run|outcomes|resurvey``, ``cases list|show|step|assign|pause|
resume`` and ``sla due``. Registered on the main app by :mod:`voxloop.cli.app`."""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from voxloop.cli.options import FormatOpt, WorkspaceOpt, friendly_errors
from voxloop.cli.output import Format, console, print_json, print_rows
from voxloop.errors import UserError
from voxloop.loop import StepDetails
from voxloop.workspace import Workspace

AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Who is acting (default: $VOXLOOP_USER, else your login). Recorded in the log.",
        show_default=False,
    ),
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Act as of this instant (ISO 8601, e.g. 2026-03-02T09:00; without an offset it "
        "is read in the workspace's time zone; default: now).",
        show_default=False,
    ),
]


def _user(value: str | None) -> str:
    return value or os.environ.get("VOXLOOP_USER") or getpass.getuser()


def parse_instant(text: str | None, zone: str = "UTC") -> datetime | None:
    """An ISO 8601 instant; without an offset it is read in ``zone`` (the workspace's)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise UserError(
            f"{text!r} is not a date and time",
            hint="write it as ISO 8601: 2026-03-02T09:00 or 2026-03-02T09:00+01:00",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


def register(app: typer.Typer, sla_app: typer.Typer) -> None:
    loop = typer.Typer(help="The closed loop: open cases from unhappy signals, follow them up.")
    cases = typer.Typer(help="Cases: list, show, step through the recovery protocol, assign.")
    app.add_typer(loop, name="loop")
    app.add_typer(cases, name="cases")

    @loop.command("run")
    @friendly_errors
    def loop_run(
        at: AtOpt = None,
        notify: Annotated[
            bool, typer.Option("--notify/--no-notify", help="Send the configured notifications.")
        ] = True,
        actor: AsOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Open cases from the signals loaded since the last run (loop.yaml's rules), then
        warn before deadlines, escalate breaches and hand cases over to open hubs."""
        with Workspace.open(workspace) as ws:
            result, deliveries = ws.loop.run(
                parse_instant(at, ws.settings.time_zone), actor=_user(actor), notify=notify
            )
        data = result.as_dict() | {
            "notifications_sent": sum(d.ok for d in deliveries),
            "notifications_failed": sum(not d.ok for d in deliveries),
        }
        if fmt is Format.table:
            rows = [{"what": k.replace("_", " "), "value": v} for k, v in data.items()]
            print_rows(rows, "Closed loop run", fmt)
            for d in deliveries:
                if not d.ok:
                    console.print(f"[yellow]notification to {d.target} failed:[/yellow] {d.error}")
        else:
            print_rows([data], "Closed loop run", fmt)

    @loop.command("outcomes")
    @friendly_errors
    def loop_outcomes(workspace: WorkspaceOpt = None, fmt: FormatOpt = Format.table) -> None:
        """Did we win customers back? Recovery rate, time to recover, value recovered, and the
        root causes found (what the improvement roadmap needs)."""
        with Workspace.open(workspace) as ws:
            data = ws.loop.outcomes()
        if fmt is not Format.table:
            print_json(data) if fmt is Format.json else print_rows(data["root_causes"], "", fmt)
            return
        causes = data.pop("root_causes")
        print_rows([{"what": k, "value": v} for k, v in data.items()], "Recovery", fmt)
        print_rows(causes, "Root causes of closed cases", fmt)

    @loop.command("resurvey")
    @friendly_errors
    def loop_resurvey(
        out: Annotated[
            Path | None, typer.Option("--out", help="Write the invitations to this CSV file.")
        ] = None,
        webhook: Annotated[
            bool, typer.Option("--webhook", help="Send them to loop.yaml's webhooks.")
        ] = False,
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Invite the customers of closed cases to answer again (once each)."""
        with Workspace.open(workspace) as ws:
            data = ws.loop.resurvey(
                out=out, webhook=webhook, as_of=parse_instant(at, ws.settings.time_zone)
            )
        print_rows([data], "Re-survey invitations", fmt)

    @cases.command("list")
    @friendly_errors
    def cases_list(
        mine: Annotated[bool, typer.Option("--mine", help="Only the cases you own.")] = False,
        hub: Annotated[str | None, typer.Option("--hub", help="Only this hub's cases.")] = None,
        overdue: Annotated[bool, typer.Option("--overdue", help="Only missed deadlines.")] = False,
        include_closed: Annotated[bool, typer.Option("--all", help="Closed ones too.")] = False,
        limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
        actor: AsOpt = None,
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Cases, most urgent first: overdue, then priority, then deadline."""
        with Workspace.open(workspace) as ws:
            table = ws.loop.cases(
                as_of=parse_instant(at, ws.settings.time_zone),
                owner=_user(actor) if mine else None,
                hub=hub,
                overdue=overdue,
                include_closed=include_closed,
                limit=limit,
            )
        rows = table.to_pylist()
        if fmt is Format.table:
            rows = [_list_row(r) for r in rows]
        print_rows(rows, f"Cases ({len(rows)})", fmt)

    @cases.command("show")
    @friendly_errors
    def cases_show(
        case_id: Annotated[str, typer.Argument(help="Case id, e.g. C0000042.")],
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """One case: why it was opened, its priority explained, deadline, and its whole log."""
        with Workspace.open(workspace) as ws:
            data = ws.loop.show(case_id, parse_instant(at, ws.settings.time_zone))
        if fmt is not Format.table:
            print_json(data)
            return
        _print_case(data)

    @cases.command("step")
    @friendly_errors
    def cases_step(
        case_id: Annotated[str, typer.Argument(help="Case id.")],
        step: Annotated[
            str,
            typer.Argument(
                help="called_back, listened, soothed, learned, repaired, closed or escalated."
            ),
        ],
        note: Annotated[str | None, typer.Option("--note", help="What happened.")] = None,
        root_cause: Annotated[
            str | None,
            typer.Option(
                "--root-cause",
                help="For learned: interaction, product_service, price_billing, digital, other.",
            ),
        ] = None,
        theme: Annotated[
            str | None, typer.Option("--theme", help="For learned: the irritant theme.")
        ] = None,
        action: Annotated[
            str | None, typer.Option("--action", help="For repaired: what was done.")
        ] = None,
        compensation: Annotated[
            float | None, typer.Option("--compensation", help="For repaired: amount given.")
        ] = None,
        actor: AsOpt = None,
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Move a case one step through the recovery protocol (illegal moves are refused)."""
        details = StepDetails(note, root_cause, theme, action, compensation)
        with Workspace.open(workspace) as ws:
            state = ws.loop.step(
                case_id,
                step,
                actor=_user(actor),
                details=details,
                at=parse_instant(at, ws.settings.time_zone),
            )
        _print_state(case_id, state.state, fmt)

    @cases.command("assign")
    @friendly_errors
    def cases_assign(
        case_id: Annotated[str, typer.Argument(help="Case id.")],
        to: Annotated[str, typer.Option("--to", help="A user, a team, or a hub of loop.yaml.")],
        note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
        actor: AsOpt = None,
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Give a case to someone (or to a hub: recorded as a hand-over)."""
        with Workspace.open(workspace) as ws:
            state = ws.loop.assign(
                case_id,
                to,
                actor=_user(actor),
                note=note,
                at=parse_instant(at, ws.settings.time_zone),
            )
        _print_state(case_id, state.state, fmt, owner=state.owner)

    for resume in (False, True):
        _pause_command(cases, resume)

    @sla_app.command("due")
    @friendly_errors
    def sla_due(
        channel: Annotated[str, typer.Option("--channel", help="phone, email, social, …")],
        at: Annotated[
            str, typer.Option("--at", help="When the contact arrived (ISO 8601; UTC if no offset).")
        ],
        hub: Annotated[
            str | None, typer.Option("--hub", help="Count business time on this hub's hours.")
        ] = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """When a contact on CHANNEL received at AT is due, and the calendar reasoning."""
        with Workspace.open(workspace) as ws:
            instant = parse_instant(at, ws.settings.time_zone)
            assert instant is not None
            data = ws.loop.due(channel, instant, hub)
        if fmt is not Format.table:
            print_json(data)
            return
        console.print(
            f"[bold]{data['channel']}[/bold] contact at {data['at']} "
            f"(promise from {data['promise_from']})"
        )
        for key in ("first_response", "resolution"):
            if key in data:
                for line in data[key]["reasoning"]:
                    console.print(line, soft_wrap=True, highlight=False)
        for line in data.get("hubs", []):
            console.print(f"  hub {line}", soft_wrap=True, highlight=False)


def _pause_command(cases: typer.Typer, resume: bool) -> None:
    name = "resume" if resume else "pause"

    @cases.command(name)
    @friendly_errors
    def command(
        case_id: Annotated[str, typer.Argument(help="Case id.")],
        note: Annotated[
            str | None, typer.Option("--note", help="What the case waits for (pause).")
        ] = None,
        actor: AsOpt = None,
        at: AtOpt = None,
        workspace: WorkspaceOpt = None,
        fmt: FormatOpt = Format.table,
    ) -> None:
        with Workspace.open(workspace) as ws:
            state = ws.loop.pause(
                case_id,
                actor=_user(actor),
                note=note or "",
                resume=resume,
                at=parse_instant(at, ws.settings.time_zone),
            )
        _print_state(case_id, state.state, fmt, paused=state.paused)

    command.__doc__ = (
        "Restart the case's clock."
        if resume
        else "Stop the case's clock while it waits on "
        "the customer (pending): the deadline moves by the time paused."
    )


def _list_row(r: dict[str, Any]) -> dict[str, Any]:
    """What fits on a terminal line: the deadline as a time and a status word."""
    if r["paused"]:
        status = "paused"
    elif r["due_at"] is None:
        status = "—"
    elif r["overdue"]:
        status = f"LATE {_span(-r['seconds_left'])}"
    else:
        status = f"in {_span(r['seconds_left'])}"
    return {
        "case": r["case_id"],
        "customer": r["customer_id"],
        "rule": r["rule"],
        "channel": r["channel"],
        "priority": r["priority"],
        "state": r["state"],
        "hub / owner": r["hub"] if r["owner"] in (None, r["hub"]) else f"{r['hub']} / {r['owner']}",
        "due (UTC)": r["due_at"].strftime("%d %b %H:%M") if r["due_at"] else "—",
        "deadline": status,
    }


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _print_state(case_id: str, state: str, fmt: Format, **extra: Any) -> None:
    data = {"case_id": case_id, "state": state, **extra}
    if fmt is Format.table:
        console.print(f"Case {case_id}: {state}" + "".join(f", {k} {v}" for k, v in extra.items()))
    else:
        print_rows([data], "", fmt)


def _print_case(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Case {data['case_id']}[/bold] — {data['state_label']['en']} "
        f"({data['state_label']['fr']}) — priority {data['priority']}"
    )
    console.print(
        f"customer {data['customer_id']} · rule {data['rule']} · channel {data['channel']} · "
        f"hub {data['hub']} · owner {data['owner']}",
        highlight=False,
    )
    d = data["deadline"]
    if d.get("due_at"):
        status = "OVERDUE" if d.get("overdue") else ("paused" if d.get("paused") else "running")
        console.print(
            f"{d['phase']} due {d['due_at']} on {d['calendar']} — {status}, "
            f"{100 * d['used_share']:.0f} % of the promise used",
            highlight=False,
        )
    console.print("next steps: " + (", ".join(data["allowed_steps"]) or "none (closed)"))
    explained = data.get("priority_explained") or {}
    print_rows(
        [{"factor": k, **v} for k, v in explained.items() if isinstance(v, dict)],
        "How the priority was made",
        Format.table,
    )
    print_rows(
        [
            {k: e[k] for k in ("seq", "at", "actor", "kind", "to_state", "note")}
            for e in data["events"]
        ],
        "Log",
        Format.table,
    )
