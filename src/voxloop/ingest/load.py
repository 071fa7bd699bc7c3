"""One load: a file through a mapping into the canonical tables, atomically, with a ledger entry.

Every data row ends in exactly one of three places, so ``rows_read = rows_loaded +
rows_quarantined + duplicates_skipped`` always holds:

* loaded — written to at least one canonical table;
* quarantined — with its row number, raw content and every reason (a row is the unit: if one
  of its outputs is invalid, none of them is written);
* a duplicate — its natural key is already stored, or appeared earlier in the same file with
  the same content (the same key with *different* content is quarantined instead).

The whole load runs in one transaction. If anything fails — or the process is killed — the
store holds exactly what it held before; a failed load only adds its ledger entry.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voxloop import __version__
from voxloop.config import Settings
from voxloop.errors import IngestError, VoxloopError
from voxloop.ingest.compile import (
    ERROR_SEPARATOR,
    CompileContext,
    CompiledOutput,
    compile_output,
)
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.normalise import literal, lookup_values
from voxloop.ingest.readers import stage
from voxloop.model.schema import LOADS, QUARANTINE, TARGET_TABLES
from voxloop.store.ddl import quote
from voxloop.store.duckdb_store import DuckDBStore

ProgressFn = Callable[[str, float], None]  # (stage description, fraction done 0..1)

STAGES = ("hashing", "reading", "normalising", "checking duplicates", "writing", "identities")

IDENTITY_KINDS = {
    "customer_email": "email",
    "customer_phone": "phone",
    "customer_handle": "handle",
    "customer_ref": "account",
}


@dataclass
class LoadResult:
    load_id: int
    source: str
    file: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_skipped: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(path: Path, progress: ProgressFn) -> str:
    digest = hashlib.sha256()
    size = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
            done += len(chunk)
            progress("hashing", done / size)
    return digest.hexdigest()


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _ledger(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    *,
    sha: str | None,
    size: int | None,
    started: datetime,
    message: str | None,
) -> None:
    values = {
        "load_id": result.load_id,
        "source": result.source,
        "file_path": result.file,
        "file_sha256": sha,
        "file_bytes": size,
        "status": result.status,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "duration_s": result.duration_s,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "duplicates_skipped": result.duplicates_skipped,
        "encoding": result.encoding,
        "message": message,
        "voxloop_version": __version__,
    }
    cols = [c for c in LOADS.names if c in values]
    con.execute(
        f"INSERT INTO loads ({', '.join(quote(c) for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})",
        [values[c] for c in cols],
    )


def run_load(
    store: DuckDBStore,
    mapping: SourceMapping,
    path: Path,
    settings: Settings,
    progress: ProgressFn | None = None,
) -> LoadResult:
    """Load ``path`` through ``mapping``. Raises :class:`IngestError` for unusable files."""
    report = progress or (lambda _stage, _fraction: None)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    con = store.con
    file_label = str(path)
    size = path.stat().st_size if path.is_file() else None
    sha = _sha256(path, report) if path.is_file() else None
    load_id = int(_one(con, "SELECT coalesce(max(load_id), 0) + 1 FROM loads"))
    result = LoadResult(load_id=load_id, source=mapping.name, file=file_label, status="running")

    previous = con.execute(
        "SELECT load_id, rows_read, finished_at FROM loads WHERE source = ? AND file_sha256 = ? "
        "AND status = 'committed' ORDER BY load_id LIMIT 1",
        [mapping.name, sha],
    ).fetchone()
    if previous is not None:
        result.status = "unchanged"
        result.rows_read = int(previous[1] or 0)
        result.duplicates_skipped = result.rows_read
        result.notes.append(f"this file was already loaded (load {previous[0]}); nothing was added")
        result.duration_s = time.perf_counter() - t0
        with store.transaction():
            _ledger(con, result, sha=sha, size=size, started=started, message=result.notes[-1])
        return result

    try:
        with store.transaction():
            _load_in_transaction(store, mapping, path, settings, result, report)
            result.status = "committed"
            result.duration_s = time.perf_counter() - t0
            _ledger(
                con,
                result,
                sha=sha,
                size=size,
                started=started,
                message="; ".join(result.notes) or None,
            )
    except VoxloopError as exc:
        _record_failure(store, result, sha, size, started, t0, exc.message)
        raise
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0][:500]
        _record_failure(store, result, sha, size, started, t0, message)
        raise IngestError(
            f"{file_label}: the load failed and was rolled back: {message}",
            hint="nothing was written; if the message names a value, fix it in the file",
        ) from exc
    finally:
        _drop_temp(con, load_id)
    return result


def _record_failure(
    store: DuckDBStore,
    result: LoadResult,
    sha: str | None,
    size: int | None,
    started: datetime,
    t0: float,
    message: str,
) -> None:
    result.status = "failed"
    result.rows_loaded = result.rows_quarantined = result.duplicates_skipped = 0
    result.duration_s = time.perf_counter() - t0
    with store.transaction():
        _ledger(store.con, result, sha=sha, size=size, started=started, message=message)


def _temp(load_id: int, name: str) -> str:
    return f"__voxloop_{name}_{load_id}"


def _drop_temp(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    suffix = f"_{load_id}"
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '__voxloop_%'"
    ).fetchall()
    for (name,) in names:
        if str(name).endswith(suffix):
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _load_in_transaction(
    store: DuckDBStore,
    mapping: SourceMapping,
    path: Path,
    settings: Settings,
    result: LoadResult,
    report: ProgressFn,
) -> None:
    con = store.con
    load_id = result.load_id
    staging = _temp(load_id, "stage")
    report("reading", 0.0)
    staged = stage(con, path, mapping, staging, settings.root / ".voxloop" / "tmp")
    report("reading", 1.0)
    result.encoding = staged.encoding
    result.notes.extend(staged.notes)
    result.rows_read = staged.rows + len(staged.rejects)
    ctx = CompileContext(
        source=mapping.name,
        file_label=str(path),
        file_columns=staged.columns,
        time_zone=settings.time_zone,
        max_field_chars=settings.max_field_chars,
        row_number_sql=staged.row_number_sql("s"),
    )
    region = mapping.default_region or settings.default_region

    # 1. normalise and validate every output --------------------------------------------
    validated: list[tuple[CompiledOutput, str, str]] = []  # (compiled, temp table, target)
    for index, output in enumerate(mapping.outputs):
        report("normalising", index / len(mapping.outputs))
        probe = compile_output(output, mapping, staging, ctx)
        ctx.lookup_tables = {
            name: _lookup_table(
                con,
                staging,
                raw,
                _temp(load_id, f"lk{index}_{name}"),
                functools.partial(
                    lookup_values, kind, region=region, value_map=output.fields[name].value_map
                ),
            )
            for name, (raw, kind) in probe.lookups.items()
        }
        compiled = compile_output(output, mapping, staging, ctx)
        for col in compiled.missing_optional:
            note = f"column {col!r} is not in the file ({output.table} field left empty)"
            if note not in result.notes:
                result.notes.append(note)
        table = _temp(load_id, f"valid{index}")
        con.execute(f"CREATE TEMP TABLE {table} AS {compiled.sql}")
        validated.append((compiled, table, output.table))
    report("normalising", 1.0)

    # 2. duplicates inside the file, per output --------------------------------------------
    report("checking duplicates", 0.0)
    for _compiled, table, target in validated:
        _mark_in_file_duplicates(con, table, target)

    # 3. rows that go to quarantine ---------------------------------------------------------
    bad = _temp(load_id, "bad")
    union = " UNION ALL ".join(
        f"SELECT __row, {literal(target)} AS target, "
        f"unnest(string_split(__errors, {literal(ERROR_SEPARATOR)})) AS reason FROM {table} "
        f"WHERE __errors IS NOT NULL"
        for _c, table, target in validated
    )
    con.execute(f"CREATE TEMP TABLE {bad} AS {union}")
    if any(o.when is not None for o in mapping.outputs):
        matched = " UNION ".join(f"SELECT __row FROM {t}" for _c, t, _tg in validated)
        con.execute(
            f"INSERT INTO {bad} SELECT {staged.row_number_sql('s')}, NULL, "
            f"'the row matches no output of mapping "
            f"{mapping.name} (check the columns used by its when: conditions)' "
            f"FROM {staging} s WHERE {staged.row_number_sql('s')} NOT IN ({matched})"
        )
    now = datetime.now(UTC)
    con.execute(
        f"INSERT INTO quarantine ({', '.join(quote(c) for c in QUARANTINE.names)}) "
        f"SELECT ?, ?, ?, string_agg(DISTINCT b.target, ', '), b.__row, NULL, "
        f"NULLIF(regexp_extract(first(b.reason ORDER BY b.reason), '^([a-z_]+)( \\(|:)', 1), ''), "
        f"string_agg(DISTINCT b.reason, '; '), to_json(any_value(s))::VARCHAR, ? "
        f"FROM {bad} b JOIN {staging} s ON {staged.row_number_sql('s')} = b.__row "
        "GROUP BY b.__row",
        [load_id, mapping.name, str(path), now],
    )
    for reject in staged.rejects:
        con.execute(
            f"INSERT INTO quarantine ({', '.join(quote(c) for c in QUARANTINE.names)}) "
            "VALUES (?, ?, ?, NULL, NULL, ?, NULL, ?, ?, ?)",
            [load_id, mapping.name, str(path), reject.line, reject.reason, reject.raw, now],
        )
    bad_rows = int(_one(con, f"SELECT count(DISTINCT __row) FROM {bad}"))
    result.rows_quarantined = bad_rows + len(staged.rejects)
    report("checking duplicates", 1.0)

    # 4. write the good rows ----------------------------------------------------------------
    skipped_tables: list[str] = []
    inserted_selects: list[str] = []
    for index, (compiled, table, target) in enumerate(validated):
        report("writing", index / len(validated))
        canonical = TARGET_TABLES[target]
        exclude_bad = f"AND v.__row NOT IN (SELECT __row FROM {bad})" if bad_rows else ""
        existing = int(_one(con, f"SELECT count(*) FROM {target} WHERE source = ?", [mapping.name]))
        skipped = _temp(load_id, f"skip{index}")
        exists_sql = (
            f"EXISTS (SELECT 1 FROM {target} t WHERE t.source = {literal(mapping.name)} "
            f"AND t.external_id = v.external_id)"
            if existing
            else "FALSE"
        )
        con.execute(
            f"CREATE TEMP TABLE {skipped} AS SELECT __row FROM {table} v "
            f"WHERE v.__errors IS NULL {exclude_bad} AND (v.__dup OR {exists_sql})"
        )
        n_skipped = int(_one(con, f"SELECT count(*) FROM {skipped}"))
        if n_skipped:
            skipped_tables.append(skipped)
        skip_filter = f"AND v.__row NOT IN (SELECT __row FROM {skipped})" if n_skipped else ""
        id_col = "interaction_id" if target == "interactions" else "feedback_id"
        values: dict[str, str] = {c: f"v.{quote(c)}" for c in compiled.fields}
        values[id_col] = f"{literal(mapping.name + ':')} || v.external_id"
        values["source"] = literal(mapping.name)
        values["attributes"] = "v.attributes"
        values["load_id"] = str(result.load_id)
        values["row_number"] = "v.__row"
        values["ingested_at"] = f"{literal(now.isoformat())}::TIMESTAMPTZ"
        output = mapping.outputs[index]
        if target == "feedback":
            values["scale_min"] = "v.scale_min" if "score" in output.fields else "NULL"
            values["scale_max"] = "v.scale_max" if "score" in output.fields else "NULL"
            if output.interaction_source:
                values["interaction_id"] = (
                    f"CASE WHEN v.interaction_ref IS NOT NULL THEN "
                    f"{literal(output.interaction_source + ':')} || v.interaction_ref END"
                )
            if "weight" not in output.fields:
                values["weight"] = "NULL"
        cols = [c for c in canonical.names if c in values]
        row = con.execute(
            f"INSERT INTO {target} ({', '.join(quote(c) for c in cols)}) "
            f"SELECT {', '.join(values[c] for c in cols)} FROM {table} v "
            f"WHERE v.__errors IS NULL {exclude_bad} {skip_filter}"
        ).fetchone()
        inserted = int(row[0]) if row else 0
        result.tables[target] = result.tables.get(target, 0) + inserted
        inserted_selects.append(
            f"SELECT __row FROM {table} v WHERE v.__errors IS NULL {exclude_bad} {skip_filter}"
        )
    report("writing", 1.0)

    if skipped_tables:
        skipped_union = " UNION ".join(f"SELECT __row FROM {t}" for t in skipped_tables)
        inserted_union = " UNION ".join(inserted_selects)
        result.duplicates_skipped = int(
            _one(
                con,
                f"SELECT count(*) FROM (({skipped_union}) EXCEPT ({inserted_union}))",
            )
        )
    result.rows_loaded = result.rows_read - result.rows_quarantined - result.duplicates_skipped

    # 5. identities, and survey answers linked to the contact they follow -------------------
    report("identities", 0.0)
    _record_identities(con, validated, bad_rows, bad, mapping.name, load_id, now)
    _link_feedback_to_interactions(con, load_id)
    report("identities", 1.0)


def _link_feedback_to_interactions(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Fill ``feedback.interaction_id`` from ``interaction_ref`` when exactly one contact has
    that id, whichever of the two was loaded first. Ambiguous ids stay unlinked."""
    pending = _one(
        con,
        "SELECT count(*) FROM feedback WHERE interaction_id IS NULL "
        "AND interaction_ref IS NOT NULL",
    )
    if not pending:
        return
    con.execute(
        """
        UPDATE feedback SET interaction_id = m.interaction_id
        FROM (SELECT external_id, any_value(interaction_id) AS interaction_id
              FROM interactions GROUP BY external_id HAVING count(*) = 1) m
        WHERE feedback.interaction_id IS NULL
          AND feedback.interaction_ref = m.external_id
          AND (feedback.load_id = ?
               OR m.external_id IN (SELECT external_id FROM interactions WHERE load_id = ?))
        """,
        [load_id, load_id],
    )


def _lookup_table(
    con: duckdb.DuckDBPyConnection,
    staging: str,
    raw_sql: str,
    name: str,
    normalise: Callable[[list[str]], list[tuple[str, str | None]]],
) -> str:
    """Normalise each distinct raw value once (in Python) and keep a (raw, value) table."""
    distinct = con.execute(
        f"SELECT DISTINCT {raw_sql} AS raw FROM {staging} s WHERE {raw_sql} IS NOT NULL"
    ).fetchall()
    pairs = normalise([str(r[0]) for r in distinct])
    con.execute(f"CREATE TEMP TABLE {name} (raw VARCHAR, value VARCHAR)")
    if pairs:
        arrow = pa.table(
            {"raw": [p[0] for p in pairs], "value": [p[1] for p in pairs]},
            schema=pa.schema([("raw", pa.string()), ("value", pa.string())]),
        )
        con.register("__voxloop_lookup", arrow)
        try:
            con.execute(f"INSERT INTO {name} SELECT * FROM __voxloop_lookup")
        finally:
            con.unregister("__voxloop_lookup")
    return name


def _mark_in_file_duplicates(con: duckdb.DuckDBPyConnection, table: str, target: str) -> None:
    """Same key twice in one file: identical rows are duplicates, different ones are errors."""
    total, distinct = con.execute(
        f"SELECT count(*), count(DISTINCT external_id) FROM {table} "
        f"WHERE __errors IS NULL AND external_id IS NOT NULL"
    ).fetchone() or (0, 0)
    if total == distinct:
        return
    payload = "hash(*COLUMNS(lambda c: c NOT IN ('__row', '__errors', '__dup')))"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}__d AS
        SELECT __row,
               first_value(__row) OVER w AS first_row,
               row_number() OVER w AS rank,
               first_value(h) OVER w = h AS same
        FROM (SELECT __row, external_id, {payload} AS h FROM {table} WHERE __errors IS NULL)
        WINDOW w AS (PARTITION BY external_id ORDER BY __row)
        QUALIFY rank > 1
        """
    )
    con.execute(
        f"UPDATE {table} SET __dup = TRUE FROM {table}__d d "
        f"WHERE {table}.__row = d.__row AND d.same"
    )
    con.execute(
        f"UPDATE {table} SET __errors = concat_ws({literal(ERROR_SEPARATOR)}, __errors, "
        f"'external_id: ' || {table}.external_id || ' appears again with different values "
        f"(first at row ' || d.first_row || ', which was kept)') FROM {table}__d d "
        f"WHERE {table}.__row = d.__row AND NOT d.same"
    )
    con.execute(f"DROP TABLE {table}__d")
    _ = target


def _record_identities(
    con: duckdb.DuckDBPyConnection,
    validated: list[tuple[CompiledOutput, str, str]],
    bad_rows: int,
    bad: str,
    source: str,
    load_id: int,
    now: datetime,
) -> None:
    selects: list[str] = []
    for compiled, table, _target in validated:
        keep = "__errors IS NULL AND NOT __dup"
        if bad_rows:
            keep += f" AND __row NOT IN (SELECT __row FROM {bad})"
        for column, kind in IDENTITY_KINDS.items():
            if column not in compiled.fields:
                continue
            selects.append(
                f"SELECT {literal(kind)} AS kind, {quote(column)} AS value FROM {table} "
                f"WHERE {keep} AND {quote(column)} IS NOT NULL"
            )
            if kind in ("email", "phone"):
                raw = f"(attributes->>{literal('$.' + chr(34) + 'raw.' + column + chr(34))})"
                selects.append(
                    f"SELECT {literal('invalid_' + kind)}, {raw} FROM {table} "
                    f"WHERE {keep} AND {quote(column)} IS NULL AND {raw} IS NOT NULL"
                )
    if not selects:
        return
    con.execute(
        f"INSERT INTO identities (kind, value, customer_id, first_seen_at, first_load_id, source) "
        f"SELECT DISTINCT i.kind, i.value, NULL, ?::TIMESTAMPTZ, ?, ? "
        f"FROM ({' UNION ALL '.join(selects)}) i "
        "WHERE NOT EXISTS (SELECT 1 FROM identities x "
        "WHERE x.kind = i.kind AND x.value = i.value)",
        [now, load_id, source],
    )
