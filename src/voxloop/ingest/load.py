"""One load: a file through a mapping into the canonical tables, atomically, with a ledger entry.

Every data row ends in exactly one of three places, so ``rows_read = rows_loaded +
rows_quarantined + duplicates_skipped`` always holds (and is checked before committing):

* loaded — written to at least one canonical table;
* quarantined — with its row number, raw content and every reason (a row is the unit: if one
  of its outputs is invalid, none of them is written);
* a duplicate — its natural key is already stored, or appeared earlier in the same file with
  the same content (the same key with *different* content is quarantined instead).

The whole load runs in one transaction. If anything fails — or the process is killed — the
store holds exactly what it held before; a failed load only adds its ledger entry.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from voxloop.config import Settings
from voxloop.errors import IngestError, VoxloopError
from voxloop.ingest import ledger
from voxloop.ingest.compile import (
    ERROR_SEPARATOR,
    CompileContext,
    CompiledOutput,
    Lookup,
    compile_output,
)
from voxloop.ingest.dedupe import in_file_duplicates
from voxloop.ingest.identities import link_feedback_to_interactions, record_identities
from voxloop.ingest.ledger import LoadResult
from voxloop.ingest.mapping import SourceMapping
from voxloop.ingest.normalise import fast_phone_sql, literal, lookup_values
from voxloop.ingest.readers import Staged, stage
from voxloop.ingest.threads import resolve_threads
from voxloop.model.schema import QUARANTINE, TARGET_TABLES
from voxloop.store.ddl import quote
from voxloop.store.duckdb_store import DuckDBStore

ProgressFn = Callable[[str, float], None]  # (stage description, fraction done 0..1)

STAGES = ("hashing", "reading", "normalising", "checking duplicates", "writing", "identities")
FIELD_PATTERN = r"^([a-z_]+)( \(|:)"  # reasons start with the field they are about
INLINE_LOOKUP_MAX = 64  # distinct values up to which a lookup is a CASE rather than a join


class _Loader:
    """The steps of one load inside its transaction (temporary tables named per load)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        mapping: SourceMapping,
        path: Path,
        settings: Settings,
        result: LoadResult,
        report: ProgressFn,
    ) -> None:
        self.con = con
        self.mapping = mapping
        self.path = path
        self.settings = settings
        self.result = result
        self.report = report
        self.now = datetime.now(UTC)
        self.validated: list[tuple[CompiledOutput, str, str]] = []  # (compiled, table, target)
        self.changed: list[str] = []  # temp tables of rows replacing a stored version

    @contextlib.contextmanager
    def watch(self, stage_name: str) -> Iterator[None]:
        """Report the progress DuckDB makes on the statements of a long stage."""
        done = threading.Event()

        def poll() -> None:
            best = 0.0
            while not done.wait(0.5):
                try:
                    fraction = self.con.query_progress() / 100
                except duckdb.Error:  # no statement running
                    continue
                if 0 < fraction <= 1 and fraction > best:
                    best = fraction
                    self.report(stage_name, 0.95 * fraction)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def temp(self, name: str) -> str:
        return f"__voxloop_{name}_{self.result.load_id}"

    def one(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    # -- steps ------------------------------------------------------------------------------
    def stage(self) -> Staged:
        """Read the file into a temporary table. Runs before the transaction: temporary
        tables never reach the store, and a failed read can be retried differently."""
        self.report("reading", 0.0)
        with self.watch("reading"):
            staged = stage(
                self.con,
                self.path,
                self.mapping,
                self.temp("stage"),
                self.settings.root / ".voxloop" / "tmp",
            )
        self.report("reading", 1.0)
        self.result.encoding = staged.encoding
        self.result.notes.extend(staged.notes)
        self.result.rows_read = staged.rows + len(staged.rejects)
        return staged

    def run(self, staged: Staged) -> None:
        self.validate(staged)
        bad = self.quarantine(staged)
        # the raw rows are no longer needed: give their memory to the writes that follow
        self.con.execute(f"DROP TABLE {staged.table}")
        with self.watch("writing"):
            self.write(bad)
        self.report("identities", 0.0)
        keep = f"v.__errors IS NULL AND NOT v.__dup AND v.__row NOT IN (SELECT __row FROM {bad})"
        record_identities(
            self.con,
            [(c.fields, t) for c, t, _ in self.validated],
            keep,
            self.mapping.name,
            self.result.load_id,
            self.now,
        )
        link_feedback_to_interactions(self.con, self.result.load_id)
        if any(o.threads_from_replies for o in self.mapping.outputs):
            resolve_threads(self.con, self.mapping.name, self.result.load_id)
        self.report("identities", 1.0)

    def validate(self, staged: Staged) -> None:
        ctx = CompileContext(
            source=self.mapping.name,
            file_label=str(self.path),
            file_columns=staged.columns,
            time_zone=self.settings.time_zone,
            max_field_chars=self.settings.max_field_chars,
            row_number_sql=staged.row_number_sql("s"),
        )
        region = self.mapping.default_region or self.settings.default_region
        missing: list[str] = []
        with self.watch("normalising"):
            self._validate_outputs(staged, ctx, region, missing)
        if missing:
            self.result.notes.append(
                f"{len(missing)} mapped column(s) not in the file, left empty: "
                + ", ".join(repr(c) for c in missing)
            )
        self.report("normalising", 1.0)

    def _validate_outputs(
        self, staged: Staged, ctx: CompileContext, region: str, missing: list[str]
    ) -> None:
        for index, output in enumerate(self.mapping.outputs):
            self.report("normalising", index / len(self.mapping.outputs))
            probe = compile_output(output, self.mapping, staged.table, ctx)
            ctx.fast_lookups = {
                name: fast
                for name, (_raw, kind) in probe.lookups.items()
                if kind == "phone" and (fast := fast_phone_sql("__KEY__", region)) is not None
            }
            ctx.lookup_tables = {
                name: self.lookup_table(
                    staged.table,
                    raw,
                    self.temp(f"lk{index}_{name}"),
                    functools.partial(
                        lookup_values, kind, region=region, value_map=output.fields[name].value_map
                    ),
                    ctx.fast_lookups.get(name, "NULL").replace("__KEY__", "k"),
                )
                for name, (raw, kind) in probe.lookups.items()
            }
            compiled = compile_output(output, self.mapping, staged.table, ctx)
            missing += [c for c in compiled.missing_optional if c not in missing]
            table = self.temp(f"valid{index}")
            self.con.execute(f"CREATE TEMP TABLE {table} AS {compiled.sql}")
            self.validated.append((compiled, table, output.table))

    def lookup_table(
        self,
        staging: str,
        raw_sql: str,
        name: str,
        normalise: Callable[[list[str]], list[tuple[str, str | None]]],
        settled_sql: str = "NULL",
    ) -> Lookup:
        """Normalise each distinct raw value once (in Python); values ``settled_sql`` (an
        expression over ``k``) settles in SQL are left out. A few values are inlined; many
        go to a (raw, value) table that is joined."""
        distinct = self.con.execute(
            f"SELECT DISTINCT k FROM (SELECT {raw_sql} AS k FROM {staging} s) "
            f"WHERE k IS NOT NULL AND ({settled_sql}) IS NULL"
        ).fetchall()
        pairs = normalise([str(r[0]) for r in distinct])
        if len(pairs) <= INLINE_LOOKUP_MAX:
            return Lookup(pairs=tuple(pairs))
        arrow = pa.table(
            {"raw": [p[0] for p in pairs], "value": [p[1] for p in pairs]},
            schema=pa.schema([("raw", pa.string()), ("value", pa.string())]),
        )
        self.con.register("__voxloop_lookup", arrow)
        try:
            self.con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM __voxloop_lookup")
        finally:
            self.con.unregister("__voxloop_lookup")
        return Lookup(table=name)

    def quarantine(self, staged: Staged) -> str:
        """Collect every bad row (errors, no output, conflicting repeats); write them out."""
        self.report("checking duplicates", 0.0)
        bad = self.temp("bad")
        union = " UNION ALL ".join(
            f"SELECT __row, {literal(target)} AS target, "
            f"unnest(string_split(__errors, {literal(ERROR_SEPARATOR)})) AS reason FROM {table} "
            f"WHERE __errors IS NOT NULL"
            for _c, table, target in self.validated
        )
        self.con.execute(f"CREATE TEMP TABLE {bad} AS {union}")
        if any(o.when is not None for o in self.mapping.outputs):
            matched = " UNION ".join(f"SELECT __row FROM {t}" for _c, t, _tg in self.validated)
            self.con.execute(
                f"INSERT INTO {bad} SELECT {staged.row_number_sql('s')}, NULL, "
                f"'row: the row matches no output of mapping {self.mapping.name} (check the "
                f"columns its when: conditions read)' FROM {staged.table} s "
                f"WHERE {staged.row_number_sql('s')} NOT IN ({matched})"
            )
        for target in dict.fromkeys(t for _c, _t, t in self.validated):
            tables = [t for _c, t, tg in self.validated if tg == target]
            in_file_duplicates(self.con, tables, bad, target, self.temp("dups"))
        self.con.execute(
            f"INSERT INTO quarantine ({', '.join(quote(c) for c in QUARANTINE.names)}) "
            f"SELECT ?, ?, ?, string_agg(DISTINCT b.target, ', '), b.__row, NULL, "
            f"NULLIF(regexp_extract(first(b.reason ORDER BY b.reason), "
            f"{literal(FIELD_PATTERN)}, 1), 'row'), "
            f"string_agg(DISTINCT b.reason, '; '), any_value({staged.raw_json_sql('s')}), ? "
            f"FROM {bad} b JOIN (SELECT s.*, {staged.row_number_sql('s')} AS __n "
            f"FROM {staged.table} s WHERE {staged.row_filter_sql('s', bad)}) s "
            "ON s.__n = b.__row GROUP BY b.__row",
            [self.result.load_id, self.mapping.name, self.result.file, self.now],
        )
        for reject in staged.rejects:
            self.con.execute(
                f"INSERT INTO quarantine ({', '.join(quote(c) for c in QUARANTINE.names)}) "
                "VALUES (?, ?, ?, NULL, NULL, ?, NULL, ?, ?, ?)",
                [
                    self.result.load_id,
                    self.mapping.name,
                    self.result.file,
                    reject.line,
                    reject.reason,
                    reject.raw,
                    self.now,
                ],
            )
        bad_rows = int(self.one(f"SELECT count(DISTINCT __row) FROM {bad}"))
        self.result.rows_quarantined = bad_rows + len(staged.rejects)
        self.report("checking duplicates", 1.0)
        return bad

    def write(self, bad: str) -> None:
        """Insert the good rows not already stored; count what went where, independently."""
        written: list[str] = []
        skipped: list[str] = []
        n_skipped = 0
        for index, (compiled, table, target) in enumerate(self.validated):
            self.report("writing", index / len(self.validated))
            output = self.mapping.outputs[index]
            stored = self.one(
                f"SELECT count(*) FROM {target} WHERE source = ?", [self.mapping.name]
            )
            exists = (
                f"EXISTS (SELECT 1 FROM {target} t WHERE t.source = {literal(self.mapping.name)} "
                f"AND t.external_id = v.external_id)"
                if stored
                else "FALSE"
            )
            good = f"v.__errors IS NULL AND v.__row NOT IN (SELECT __row FROM {bad})"
            if stored:  # a row already stored with other values is a newer version: replace it
                self.replace_changed(compiled, table, target, good, output.threads_from_replies)
            skip = self.temp(f"skip{index}")
            self.con.execute(
                f"CREATE TEMP TABLE {skip} AS SELECT __row FROM {table} v "
                f"WHERE {good} AND (v.__dup OR {exists})"
            )
            n_skipped += int(self.one(f"SELECT count(*) FROM {skip}"))
            keep = f"{good} AND v.__row NOT IN (SELECT __row FROM {skip})"
            values = self.insert_values(compiled, output, target)
            cols = [c for c in TARGET_TABLES[target].names if c in values]
            inserted = int(
                self.one(
                    f"INSERT INTO {target} ({', '.join(quote(c) for c in cols)}) "
                    f"SELECT {', '.join(values[c] for c in cols)} FROM {table} v WHERE {keep}"
                )
            )
            self.result.tables[target] = self.result.tables.get(target, 0) + inserted
            written.append(f"SELECT __row FROM {table} v WHERE {keep}")
            skipped.append(f"SELECT __row FROM {skip}")
        self.report("writing", 1.0)
        if self.changed:  # a source row changed in two tables is one updated row
            updated = int(
                self.one(
                    "SELECT count(*) FROM ("
                    + " UNION ".join(f"SELECT __row FROM {t}" for t in self.changed)
                    + ")"
                )
            )
            self.result.rows_updated = updated
            self.result.notes.append(
                f"{updated:,} row(s) already stored with other values were replaced by this version"
            )
        if len(written) == 1:  # one output: each written or skipped row is one source row
            loaded, duplicates = sum(self.result.tables.values()), n_skipped
        else:
            loaded = int(self.one(f"SELECT count(*) FROM ({' UNION '.join(written)})"))
            duplicates = (
                int(
                    self.one(
                        f"SELECT count(*) FROM (({' UNION '.join(skipped)}) "
                        f"EXCEPT ({' UNION '.join(written)}))"
                    )
                )
                if n_skipped
                else 0
            )
        result = self.result
        result.rows_loaded, result.duplicates_skipped = loaded, duplicates
        if result.rows_read != loaded + result.rows_quarantined + duplicates:
            raise VoxloopError(  # a bug, not bad input: refuse to commit an unexplained load
                f"{self.path}: internal accounting error ({result.rows_read} rows read, "
                f"{loaded} loaded, {result.rows_quarantined} quarantined, {duplicates} duplicates)",
                hint="nothing was written; please report this with the file's shape",
            )

    def replace_changed(
        self, compiled: CompiledOutput, table: str, target: str, good: str, threaded: bool
    ) -> None:
        """Delete the stored versions of rows whose content changed (a re-export where a
        ticket went from open to resolved), so that the insert that follows writes the new
        one. Identical rows stay where they are and count as duplicates."""
        threaded = threaded and "thread_ref" in compiled.fields
        # thread_ref is rewritten after the load (conversation roots): compare the reply id
        content = [c for c in compiled.fields if not (threaded and c == "thread_ref")]

        def digest(alias: str) -> str:
            attributes = f"coalesce({alias}.attributes, '{{}}')"
            if threaded:
                reply_to = (
                    f"{alias}.attributes->>'$.reply_to'" if alias == "t" else f"{alias}.thread_ref"
                )
                attributes = f"json_merge_patch({attributes}, '{{\"reply_to\": null}}')"
                content_sql = [*(f"{alias}.{quote(c)}::VARCHAR" for c in content), reply_to]
            else:
                content_sql = [f"{alias}.{quote(c)}::VARCHAR" for c in content]
            # key order of the attributes does not matter
            sorted_attributes = (
                f"list_sort(map_entries(CAST({attributes} AS MAP(VARCHAR, VARCHAR))))::VARCHAR"
            )
            return f"hash({', '.join([*content_sql, sorted_attributes])})"

        changed_rows = self.temp(f"changed_{target}_{table.rsplit('_', 2)[-2]}")
        self.con.execute(
            f"CREATE TEMP TABLE {changed_rows} AS SELECT v.__row FROM {table} v "
            f"JOIN {target} t ON t.source = ? AND t.external_id = v.external_id "
            f"WHERE {good} AND NOT v.__dup AND {digest('v')} <> {digest('t')}",
            [self.mapping.name],
        )
        changed = self.one(f"SELECT count(*) FROM {changed_rows}")
        if not changed:
            return
        self.changed.append(changed_rows)
        self.con.execute(
            f"DELETE FROM {target} WHERE source = ? AND external_id IN ("
            f"SELECT external_id FROM {table} WHERE __row IN (SELECT __row FROM {changed_rows}))",
            [self.mapping.name],
        )

    def insert_values(self, compiled: CompiledOutput, output: Any, target: str) -> dict[str, str]:
        id_col = "interaction_id" if target == "interactions" else "feedback_id"
        values: dict[str, str] = {c: f"v.{quote(c)}" for c in compiled.fields}
        values[id_col] = f"{literal(self.mapping.name + ':')} || v.external_id"
        values["source"] = literal(self.mapping.name)
        values["attributes"] = "v.attributes"
        values["load_id"] = str(self.result.load_id)
        values["row_number"] = "v.__row"
        values["ingested_at"] = f"{literal(self.now.isoformat())}::TIMESTAMPTZ"
        if target == "feedback":
            has_score = "score" in output.fields
            values["scale_min"] = "v.scale_min" if has_score else "NULL"
            values["scale_max"] = "v.scale_max" if has_score else "NULL"
            if output.interaction_source:
                values["interaction_id"] = (
                    f"CASE WHEN v.interaction_ref IS NOT NULL THEN "
                    f"{literal(output.interaction_source + ':')} || v.interaction_ref END"
                )
        return values


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
    file_label = str(path.resolve()) if path.exists() else str(path)
    size = path.stat().st_size if path.is_file() else None
    sha = ledger.file_sha256(path, lambda f: report("hashing", f)) if path.is_file() else None
    fingerprint = ledger.mapping_fingerprint(mapping)
    result = LoadResult(
        load_id=ledger.next_load_id(con), source=mapping.name, file=file_label, status="running"
    )

    def finish(status: str, message: str | None) -> None:
        result.status = status
        result.duration_s = time.perf_counter() - t0
        ledger.record(
            con,
            result,
            sha=sha,
            fingerprint=fingerprint,
            size=size,
            started=started,
            message=message,
        )

    previous = ledger.previous_load(con, mapping.name, sha, fingerprint) if sha else None
    if previous is not None:
        result.rows_read = result.duplicates_skipped = previous[1]
        result.notes.append(
            f"this file was already loaded through this mapping (load {previous[0]}); "
            "nothing was added"
        )
        with store.transaction():
            finish("unchanged", result.notes[-1])
        return result

    loader = _Loader(con, mapping, path, settings, result, report)
    try:
        staged = loader.stage()
        with store.transaction():
            loader.run(staged)
            finish("committed", "; ".join(result.notes) or None)
    except (VoxloopError, duckdb.Error) as exc:
        message = exc.message if isinstance(exc, VoxloopError) else _first_line(exc)
        result.rows_read = result.rows_loaded = 0
        result.rows_quarantined = result.duplicates_skipped = 0
        result.tables = {}
        with store.transaction():
            finish("failed", message)
        if isinstance(exc, VoxloopError):
            raise
        raise IngestError(
            f"{file_label}: the load failed and was rolled back: {message}",
            hint="nothing was written; if the message names a value, fix it in the file "
            "or in the mapping",
        ) from exc
    finally:
        _drop_temp(con, result.load_id)
    return result


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:500]


def _drop_temp(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '__voxloop_%'"
    ).fetchall()
    for (name,) in names:
        if str(name).endswith(f"_{load_id}"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
