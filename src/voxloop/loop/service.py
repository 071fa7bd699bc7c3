"""The closed loop as the workspace offers it (``ws.loop``): one object the CLI, the Python
API and the web pages share, so they all open, show and step cases the same way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from voxloop.errors import UserError
from voxloop.loop.cases import CaseDesk, list_cases
from voxloop.loop.config import LoopConfig
from voxloop.loop.engine import LoopEngine, RunResult
from voxloop.loop.events import CaseState, DuckDb
from voxloop.loop.explain import explain_due
from voxloop.loop.notify import Delivery, Notification, Notifier, parse_notify_settings
from voxloop.loop.outcomes import (
    due_invitations,
    outcomes,
    record_invitations,
    write_invitations,
)
from voxloop.loop.protocol import StepDetails
from voxloop.loop.state_sql import CASE_STATE_SQL
from voxloop.store.duckdb_store import DuckDBStore


class ClosedLoop:
    def __init__(
        self,
        store: DuckDBStore,
        config: LoopConfig,
        time_zone: str,
        resolve: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.time_zone = time_zone
        self._resolve = resolve

    def _desk(self) -> CaseDesk:
        return CaseDesk(DuckDb(self.store.cursor()), self.config)

    def notifier(self) -> Notifier | None:
        smtp, hooks = parse_notify_settings(self.config.notify, self.config.where)
        if smtp is None and not hooks:
            return None
        return Notifier(smtp, hooks)

    def run(
        self, as_of: datetime | None = None, *, actor: str = "cli", notify: bool = True
    ) -> tuple[RunResult, list[Delivery]]:
        """Open cases from the signals loaded since the last run, then warn, escalate and hand
        over the open ones; notifications go out after the run is committed. New loads are
        resolved into customers first, so that one customer's signals are de-duplicated."""
        if self._resolve is not None:
            self._resolve()
        result = LoopEngine(self.store, self.config).run(as_of, actor)
        deliveries: list[Delivery] = []
        notifier = self.notifier() if notify else None
        if notifier is not None and result.notifications:
            deliveries = notifier.send_all(result.notifications)
        return result, deliveries

    def cases(self, **filters: Any) -> pa.Table:
        return list_cases(self.store.cursor(), self.config, **filters)

    def show(self, case_id: str, at: datetime | None = None) -> dict[str, Any]:
        return self._desk().show(case_id, at)

    def step(
        self, case_id: str, step: str, *, actor: str, details: StepDetails,
        at: datetime | None = None,
    ) -> CaseState:  # fmt: skip
        return self._desk().step(case_id, step, actor, details, at)

    def assign(
        self, case_id: str, to: str, *, actor: str, note: str | None = None,
        at: datetime | None = None,
    ) -> CaseState:  # fmt: skip
        return self._desk().assign(case_id, to, actor, note, at)

    def pause(
        self, case_id: str, *, actor: str, note: str, resume: bool = False,
        at: datetime | None = None,
    ) -> CaseState:  # fmt: skip
        return self._desk().pause(case_id, actor, note, resume, at)

    def due(self, channel: str, at: datetime, hub: str | None = None) -> dict[str, Any]:
        load = dict(
            self.store.cursor()
            .execute(
                f"WITH st AS ({CASE_STATE_SQL}) SELECT hub, count(*) FROM st "
                "WHERE state <> 'closed' AND hub IS NOT NULL GROUP BY hub"
            )
            .fetchall()
        )
        return explain_due(self.config, channel, at, hub, self.time_zone, load)

    def outcomes(self) -> dict[str, Any]:
        return outcomes(self.store.cursor())

    def resurvey(
        self, *, out: Path | None = None, webhook: bool = False, as_of: datetime | None = None
    ) -> dict[str, Any]:
        """Invite the customers of closed cases to answer again — to a CSV file, or to the
        webhooks of ``loop.yaml`` (event ``resurvey``) — and record it on each case."""
        if out is None and not webhook:
            raise UserError(
                "say where the invitations go", hint="--out invitations.csv, or --webhook"
            )
        now = (as_of or datetime.now(UTC)).astimezone(UTC)
        with self.store.transaction() as con:
            rows, settled = due_invitations(con, now, self.config.resurvey_after_s)
            deliveries: list[Delivery] = []
            if rows and webhook:
                notifier = self.notifier()
                if notifier is None or not notifier.webhooks:
                    raise UserError(
                        "no webhook is configured",
                        hint=f"add notify: webhooks: [...] to {self.config.where}",
                    )
                deliveries = notifier.send_all(
                    Notification(
                        "resurvey",
                        r["case_id"],
                        f"Re-survey {r['case_id']}",
                        "Please ask this customer again.",
                        r,
                    )
                    for r in rows
                )
                failed = {d.case_id for d in deliveries if not d.ok}
                rows = [r for r in rows if r["case_id"] not in failed]  # retried next time
            if out is not None:
                write_invitations(rows, out)
            record_invitations(con, rows, settled, str(out) if out else "webhook", now)
        return {
            "invited": len(rows),
            "not_invited": len(settled),
            "file": str(out) if out else None,
            "failed": sum(1 for d in deliveries if not d.ok),
        }
