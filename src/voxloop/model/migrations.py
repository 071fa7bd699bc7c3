"""Versioned migrations, derived from the ``since`` markers of the schema.

A fresh store is created at the latest version in one step. A store made by an older voxloop
is upgraded one version at a time: version N creates the tables introduced in N and adds the
columns introduced in N (new columns are nullable, so existing rows stay valid). A store made by
a *newer* voxloop is refused rather than damaged.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxloop.model.schema import TABLES, Column, Table, UniqueIndex

DESCRIPTIONS: dict[int, str] = {
    1: "canonical model: customers, identities, interactions, feedback, annotations, cases, "
    "case events, actions, loads, quarantine",
    2: "ledger records the encoding, the mapping's fingerprint and a message; quarantine "
    "records the physical line",
    3: "identity resolution: identifier status and counts, the merge log, manual rules",
    4: "closed loop: case deadlines and targets, sequence numbers in the case log (unique), "
    "loop runs and the decision on every matched signal",
    5: "text analytics: annotation status, note and the personal data found",
}

LATEST_VERSION = max(DESCRIPTIONS)


@dataclass(frozen=True)
class CreateTable:
    table: Table
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class AddColumn:
    table: Table
    column: Column


@dataclass(frozen=True)
class CreateUniqueIndex:
    table: Table
    index: UniqueIndex


Operation = CreateTable | AddColumn | CreateUniqueIndex


def operations(version: int) -> list[Operation]:
    """What migrating *to* ``version`` does."""
    ops: list[Operation] = []
    for table in TABLES:
        if table.since == version:
            cols = tuple(c for c in table.columns if c.since <= version)
            ops.append(CreateTable(table, cols))
        elif table.since < version:
            ops.extend(AddColumn(table, c) for c in table.columns if c.since == version)
        ops.extend(CreateUniqueIndex(table, i) for i in table.unique if i.since == version)
    return ops


def fresh_operations(version: int = LATEST_VERSION) -> list[Operation]:
    """Create every table as it is at ``version`` (for a new store)."""
    tables = [t for t in TABLES if t.since <= version]
    return [
        *(CreateTable(t, tuple(c for c in t.columns if c.since <= version)) for t in tables),
        *(CreateUniqueIndex(t, i) for t in tables for i in t.unique if i.since <= version),
    ]
