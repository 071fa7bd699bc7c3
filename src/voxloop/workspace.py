"""The workspace: the one object the outside world holds (CLI, web, Python users).

A workspace is a folder (``voxloop.toml``, ``sources/``, the YAML files of the later stages)
plus its store. :meth:`Workspace.open` resolves the settings once and opens the store,
upgrading an older schema; every component reads from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from voxloop.backends import Backend, duckdb_backend, postgres_backend, spark_backend
from voxloop.config import WORKSPACE_FILE, Settings, find_workspace, resolve_settings
from voxloop.errors import ConfigError, UserError
from voxloop.identity import ResolveOptions, ResolveResult, resolve
from voxloop.identity.customer_file import customer_file
from voxloop.identity.rules import merge_customers, split_identifier
from voxloop.ingest import LoadResult, ProgressFn, builtin_names, load_mapping, run_load
from voxloop.loop import ClosedLoop, load_loop
from voxloop.metrics import MetricsEngine, SlaConfig, load_sla
from voxloop.model.schema import TABLES_BY_NAME
from voxloop.quality import quality_report
from voxloop.store.duckdb_store import DuckDBStore
from voxloop.text.service import TextAnalytics

TEMPLATE_FILES = (
    "voxloop.toml",
    "sources/example.yaml",
    "taxonomy.yaml",
    "sla.yaml",
    "journeys.yaml",
    "loop.yaml",
)


class Workspace:
    """A voxloop workspace and its open store."""

    def __init__(self, settings: Settings, store: DuckDBStore) -> None:
        self.settings = settings
        self.root = settings.root
        self.store = store
        self._metrics: MetricsEngine | None = None

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def init(
        cls, path: str | Path, *, company: str | None = None, force: bool = False
    ) -> Workspace:
        """Create a workspace folder with commented templates and an empty store."""
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise ConfigError(
                f"{root} is a file, not a folder", hint="give the name of a new folder"
            )
        if (root / WORKSPACE_FILE).exists() and not force:
            raise ConfigError(
                f"{root} is already a voxloop workspace",
                hint="open it with --workspace, or choose another folder",
            )
        root.mkdir(parents=True, exist_ok=True)
        (root / "sources").mkdir(exist_ok=True)
        templates = resources.files("voxloop") / "templates"
        for name in TEMPLATE_FILES:
            target = root / name
            if target.exists() and not force:
                continue
            text = (templates / name).read_text(encoding="utf-8")
            if name == "voxloop.toml" and company:
                text = text.replace('company = "My company"', f"company = {_toml_str(company)}")
            target.write_text(text, encoding="utf-8")
        (root / ".gitignore").write_text(
            "# the store and scratch files are data, not configuration\n"
            "*.duckdb\n*.duckdb.wal\n.voxloop/\n",
            encoding="utf-8",
        )
        return cls.open(root)

    @classmethod
    def open(
        cls, path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
    ) -> Workspace:
        """Open the workspace at ``path`` (or ``VOXLOOP_WORKSPACE``, or the current folder)."""
        root = find_workspace(Path(path) if path is not None else None)
        settings = resolve_settings(root, overrides)
        if settings.store.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "PostgreSQL stores are not available in this version",
                hint='use the embedded store: store = "voxloop.duckdb" in voxloop.toml',
            )
        store_path = Path(settings.store)
        if not store_path.is_absolute():
            store_path = root / store_path
        store = DuckDBStore(
            store_path,
            memory_limit=settings.memory_limit,
            threads=settings.threads,
            temp_dir=root / ".voxloop" / "tmp",
        )
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return cls(settings, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- ingestion ----------------------------------------------------------------------------
    def sources(self) -> list[dict[str, str]]:
        """Mappings usable with ``ingest``: the built-ins and the workspace's own."""
        out = [
            {"name": n, "origin": "built-in", "description": load_mapping(n, None).description}
            for n in builtin_names()
        ]
        for path in sorted((self.root / "sources").glob("*.yaml")):
            if path.stem == "example":
                continue
            try:
                description = load_mapping(path.stem, self.root / "sources").description
            except UserError as exc:  # one broken file must not hide the others
                description = f"INVALID: {exc.message}"
            out = [o for o in out if o["name"] != path.stem]
            out.append({"name": path.stem, "origin": str(path), "description": description})
        return out

    def ingest(
        self,
        paths: Iterable[str | Path],
        source: str,
        progress: ProgressFn | None = None,
    ) -> list[LoadResult]:
        """Load each file through mapping ``source``; each file is its own atomic load."""
        mapping = load_mapping(source, self.root / "sources")
        return [run_load(self.store, mapping, Path(p), self.settings, progress) for p in paths]

    # -- customers ----------------------------------------------------------------------------
    def _identity_options(self) -> ResolveOptions:
        return ResolveOptions(
            limits=self.settings.identity_limits,
            weak=frozenset(self.settings.weak_identifiers),
            extra=self.settings.identifier_columns,
        )

    def resolve(self, *, full: bool = False, progress: ProgressFn | None = None) -> ResolveResult:
        """Link records that share an identifier into customers (incremental unless ``full``)."""
        return resolve(self.store, self._identity_options(), full=full, progress=progress)

    def merge_customers(
        self, first: str, second: str, *, actor: str = "cli", note: str | None = None
    ) -> dict[str, str]:
        """Merge two customers, now and in every later resolution (the older id is kept)."""
        return merge_customers(self.store, first, second, actor=actor, note=note)

    def split_identifier(
        self, customer_id: str, identifier: str, *, actor: str = "cli", note: str | None = None
    ) -> dict[str, Any]:
        """Detach ``kind:value`` from a customer, now and in every later resolution."""
        kind, sep, value = identifier.partition(":")
        if not sep or not kind or not value:
            raise UserError(
                f"{identifier!r} is not KIND:VALUE", hint="e.g. --identifier phone:+33612345678"
            )
        new_id, result = split_identifier(
            self.store, self._identity_options(), customer_id, kind.strip(), value.strip(),
            actor=actor, note=note,
        )  # fmt: skip
        return {"customer": customer_id, "identifier": identifier, "new_customer": new_id,
                "resolution": result.as_json()}  # fmt: skip

    def link_probabilistic(
        self, *, apply: bool = False, threshold: float | None = None, actor: str = "cli"
    ) -> dict[str, Any]:
        """Customers no identifier joins but whose names and addresses say they are one
        person (Splink; the ``linkage`` extra): the pairs at or above ``threshold`` (default:
        the ``fuzzy_threshold`` setting), each with its explanation; ``apply`` merges them,
        recorded with reason ``probabilistic`` and kept by every later resolution."""
        from voxloop.identity.fuzzy import FuzzyOptions, link_probabilistic

        options = FuzzyOptions(
            threshold=self.settings.fuzzy_threshold if threshold is None else threshold,
            fields=self.settings.fuzzy_fields,
        )
        return link_probabilistic(self.store, options, apply=apply, actor=actor).as_json()

    def customer(self, query: str, *, limit: int = 500) -> dict[str, Any]:
        """The customer file of an id, an e-mail, a phone number or a handle."""
        return customer_file(
            self.store.con, query, default_region=self.settings.default_region, limit=limit
        )

    def quality(self) -> dict[str, Any]:
        """Completeness, inconsistencies, what resolution found, and the collection plan."""
        return quality_report(self.store.con, self.metrics, self.settings.target_fields)

    # -- indicators ---------------------------------------------------------------------------
    def sla(self) -> SlaConfig:
        """Calendars and channel targets from ``sla.yaml`` (checked)."""
        return load_sla(self.root / "sla.yaml")

    @property
    def text(self) -> TextAnalytics:
        """Text analytics: ``ws.text.annotate()``, ``ws.text.classify_file(...)``,
        ``ws.text.themes()``."""
        return TextAnalytics(self.store, self.settings)

    @property
    def loop(self) -> ClosedLoop:
        """The closed loop (``loop.yaml``): ``ws.loop.run()``, ``ws.loop.cases()``,
        ``ws.loop.step(...)`` — the configuration is read and checked on each access, so an
        edited ``loop.yaml`` applies at once."""
        config = load_loop(self.root / "loop.yaml", self.sla())
        return ClosedLoop(self.store, config, self.settings.time_zone, resolve=self.resolve)

    @property
    def metrics(self) -> MetricsEngine:
        """Indicators on the workspace's store: ``ws.metrics.compute("nps", by=["month"])``."""
        if self._metrics is None:
            self._metrics = self._engine(duckdb_backend(self.store))
        return self._metrics

    def metrics_on(
        self, engine: str, *, url: str | None = None, lake: str | Path | None = None
    ) -> MetricsEngine:
        """The same indicators on PostgreSQL (``url``) or Spark (a Parquet ``lake``); close
        ``.backend`` when done."""
        backend: Backend
        if engine == "duckdb":
            return self.metrics
        if engine == "postgresql":
            target = url or (self.settings.store if "://" in self.settings.store else None)
            if not target:
                raise ConfigError(
                    "the PostgreSQL engine needs a server",
                    hint="give --url postgresql://user@host/db (publish to it with "
                    "`voxloop export postgresql URL`)",
                )
            backend = postgres_backend(target)
        elif engine == "spark":
            if lake is None:
                raise ConfigError(
                    "the Spark engine needs a Parquet lake",
                    hint="write one with `voxloop export parquet DIR`, then give --lake DIR",
                )
            backend = spark_backend(Path(lake))
        else:
            raise UserError(f"unknown engine {engine!r}", hint="engines: duckdb, postgresql, spark")
        return self._engine(backend)

    def _engine(self, backend: Backend) -> MetricsEngine:
        return MetricsEngine(
            backend,
            time_zone=self.settings.time_zone,
            sla=self.sla(),
            min_sample=self.settings.min_sample,
        )

    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        """Every canonical table as ``DIR/<table>.parquet`` (the lake Spark reads)."""
        from voxloop.store.export import export_parquet

        return export_parquet(self.store, Path(directory))

    def publish_postgres(self, url: str) -> dict[str, int]:
        """Copy the canonical tables to a PostgreSQL database, in one transaction."""
        from voxloop.store.export import publish_postgres

        return publish_postgres(self.store, url)

    # -- reading ------------------------------------------------------------------------------
    def table(self, name: str) -> pa.Table:
        """A canonical table as Arrow (``.to_pandas()`` / ``polars.from_arrow`` from there)."""
        if name not in TABLES_BY_NAME:
            raise UserError(
                f"no table named {name!r}", hint=f"tables: {', '.join(sorted(TABLES_BY_NAME))}"
            )
        return self.store.arrow(f'SELECT * FROM "{name}"')

    def ibis(self) -> Any:
        """An Ibis connection over the store: ``ws.ibis().table("interactions")``."""
        return self.store.ibis()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run SQL against the store and return Arrow (for analysts and tests; it is not
        sandboxed: use SELECT)."""
        return self.store.arrow(sql, list(params or []))

    def status(self) -> dict[str, Any]:
        """Row counts per canonical table, interactions per channel, and the last loads."""
        con = self.store.con
        counts = {}
        for name in TABLES_BY_NAME:
            row = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()
            counts[name] = int(row[0][0]) if row else 0
        channels = dict(
            con.execute(
                "SELECT channel, count(*) FROM interactions GROUP BY channel ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        feedback = dict(
            con.execute(
                "SELECT instrument, count(*) FROM feedback GROUP BY instrument ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        return {
            "workspace": str(self.root),
            "company": self.settings.company,
            "store": str(self.store.path),
            "schema_version": self.store.schema_version(),
            "tables": counts,
            "interactions_by_channel": channels,
            "feedback_by_instrument": feedback,
            "last_loads": self.loads(limit=10),
        }

    def loads(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.store.con.execute(
            "SELECT load_id, source, file_path, status, rows_read, rows_loaded, rows_quarantined, "
            "duplicates_skipped, round(duration_s, 3), strftime(started_at, '%Y-%m-%dT%H:%M:%SZ'), "
            "message FROM loads ORDER BY load_id DESC LIMIT ?",
            [limit],
        ).fetchall()
        keys = (
            "load_id",
            "source",
            "file",
            "status",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "duplicates_skipped",
            "duration_s",
            "started_at",
            "message",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def quarantine(self, load_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Rejected rows with their reasons (newest load first)."""
        if (
            load_id is not None
            and not self.store.con.execute(
                "SELECT 1 FROM loads WHERE load_id = ?", [load_id]
            ).fetchall()
        ):
            raise UserError(f"there is no load {load_id}", hint="list them with `voxloop loads`")
        where = "WHERE load_id = ?" if load_id is not None else ""
        params: list[Any] = [load_id] if load_id is not None else []
        rows = self.store.con.execute(
            f"SELECT load_id, source, file_path, row_number, line, field, reason, raw "
            f"FROM quarantine {where} ORDER BY load_id DESC, coalesce(row_number, line) LIMIT ?",
            [*params, limit],
        ).fetchall()
        keys = ("load_id", "source", "file", "row_number", "line", "field", "reason", "raw")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
