"""One workspace, three engines: the store, its PostgreSQL publication and its Parquet lake on
Spark answer the same Ibis expressions with the same Arrow tables."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from voxloop import Workspace
from voxloop.backends import Backend, BackendName, duckdb_backend, postgres_backend, spark_backend
from voxloop.backends.base import ibis_schema
from voxloop.errors import ConfigError, UserError
from voxloop.model.migrations import LATEST_VERSION, fresh_operations
from voxloop.model.schema import INTERACTIONS, LOADS, TABLES
from voxloop.store import export_parquet, publish_postgres
from voxloop.store.ddl import operation_sql

from .conftest import BackendFactory, write

ENGINES: tuple[BackendName, ...] = ("duckdb", "postgresql", "spark")

# Workspace time zone is Europe/Paris (the template's): local times become UTC instants.
CONTACTS = (
    "contact_id,customer_id,channel,started_at,handle_seconds,transfers,sla_met,text,State,Product\n"
    'c1,k1,phone,2024-03-31 01:30:00,120,1,yes,"Bonjour, j\'ai un ""souci""",FL,Card\n'
    "c2,k2,email,2024-03-31 03:30:00,,0,no,,NY,\n"
    'c3,k1,phone,2024-07-14 12:00:00,60.5,,yes,"deux\nlignes",,Prêt\n'
    "c4,,chat,2024-01-01 00:00:00,30,2,,,CA,\n"
)
STARTED_UTC = {
    "contacts:c1": datetime(2024, 3, 31, 0, 30, tzinfo=UTC),  # CET, UTC+1
    "contacts:c2": datetime(2024, 3, 31, 1, 30, tzinfo=UTC),  # CEST since 02:00, UTC+2
    "contacts:c3": datetime(2024, 7, 14, 10, 0, tzinfo=UTC),
    "contacts:c4": datetime(2023, 12, 31, 23, 0, tzinfo=UTC),
}


@pytest.fixture
def contacts_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    [result] = ws.ingest([write(tmp_path / "contacts.csv", CONTACTS)], source="contacts")
    assert (result.status, result.rows_loaded) == ("committed", 4)
    return ws


def _counts(ws: Workspace) -> dict[str, int]:
    return {
        t.name: int(ws.query(f'SELECT count(*) AS n FROM "{t.name}"').column("n")[0].as_py())
        for t in TABLES
    }


def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as con:
        return con.execute(sql).fetchall()


def _pg_run(url: str, sql: str) -> None:
    with psycopg.connect(url) as con:
        con.execute(sql)


# -- the same answers everywhere -------------------------------------------------------------
def _answers(backend: Backend) -> dict[str, pa.Table]:
    t = backend.table("interactions")
    per_channel = (
        t.group_by("channel")
        .agg(
            n=t.count(),
            first=t.started_at.min(),
            handled=t.handle_s.sum(),
            no_handle=t.handle_s.isnull().ifelse(1, 0).sum(),
            met=(t.sla_met == True).ifelse(1, 0).sum(),  # noqa: E712 - an Ibis expression
            transfers=t.transfers.sum(),
            # PostgreSQL types a float literal and the sum of a bigint as numeric.
            known=t.transfers.isnull().ifelse(0.0, 1.0).sum(),
            loads=t.load_id.sum(),
        )
        .order_by("channel")
    )
    rows = t.select(
        "interaction_id",
        "started_at",
        "handle_s",
        "transfers",
        "sla_met",
        "text",
        "attributes",
        epoch=t.started_at.epoch_seconds(),
    ).order_by("interaction_id")
    loads = backend.table("loads")
    return {
        "per_channel": backend.to_arrow(per_channel),
        "rows": backend.to_arrow(rows),
        "loads": backend.to_arrow(loads.select("load_id", "status", "rows_loaded", "started_at")),
    }


def test_every_engine_gives_the_same_answers(
    contacts_ws: Workspace, backend_for: BackendFactory
) -> None:
    answers = {name: _answers(backend_for(contacts_ws, name)) for name in ENGINES}
    reference = answers["duckdb"]

    assert reference["per_channel"].to_pylist() == [
        {
            "channel": "chat",
            "n": 1,
            "first": STARTED_UTC["contacts:c4"],
            "handled": 30.0,
            "no_handle": 0,
            "met": 0,
            "transfers": 2,
            "known": 1.0,
            "loads": 1,
        },
        {
            "channel": "email",
            "n": 1,
            "first": STARTED_UTC["contacts:c2"],
            "handled": None,
            "no_handle": 1,
            "met": 0,
            "transfers": 0,
            "known": 1.0,
            "loads": 1,
        },
        {
            "channel": "phone",
            "n": 2,
            "first": STARTED_UTC["contacts:c1"],
            "handled": 180.5,
            "no_handle": 0,
            "met": 2,
            "transfers": 1,
            "known": 1.0,
            "loads": 2,
        },
    ]
    assert reference["per_channel"].schema.field("known").type == pa.float64()
    assert reference["per_channel"].schema.field("loads").type == pa.int64()
    rows = reference["rows"]
    assert (
        dict(zip(rows["interaction_id"].to_pylist(), rows["started_at"].to_pylist(), strict=True))
        == STARTED_UTC
    )
    assert rows.schema.field("started_at").type == pa.timestamp("us", tz="UTC")
    assert rows["epoch"].to_pylist() == [int(v.timestamp()) for v in STARTED_UTC.values()]
    assert rows["text"].to_pylist() == ['Bonjour, j\'ai un "souci"', None, "deux\nlignes", None]
    assert json.loads(rows["attributes"][2].as_py()) == {"Product": "Prêt"}

    for name in ENGINES:
        got = answers[name]
        for key in ("per_channel", "loads"):
            assert got[key].equals(reference[key]), (name, key)
        # JSON is equal as JSON; PostgreSQL's jsonb writes it in its own normal form.
        assert got["rows"].drop_columns("attributes").equals(rows.drop_columns("attributes")), name
        assert got["rows"].schema == rows.schema, name
        assert [json.loads(v) for v in got["rows"]["attributes"].to_pylist()] == [
            json.loads(v) for v in rows["attributes"].to_pylist()
        ], name


@pytest.mark.parametrize("engine", ENGINES)
def test_canonical_tables_have_the_model_types(
    contacts_ws: Workspace, backend_for: BackendFactory, engine: BackendName
) -> None:
    backend = backend_for(contacts_ws, engine)
    assert backend.name == engine
    for table in TABLES:
        schema = backend.table(table.name).schema()
        want = ibis_schema(table)
        assert list(schema.names) == list(want.names), table.name
        for name, dtype in want.items():
            have = schema[name]
            assert have.is_json() if dtype.is_json() else have.copy(nullable=True) == dtype, (
                table.name,
                name,
                have,
            )


@pytest.mark.parametrize("engine", ENGINES)
def test_a_memtable_joins_the_canonical_tables(
    contacts_ws: Workspace, backend_for: BackendFactory, engine: BackendName
) -> None:
    backend = backend_for(contacts_ws, engine)
    calendar = pa.table(
        {
            "channel": ["phone", "email", "chat"],
            "weight": [1.5, 2.0, 4.0],
            "from_": pa.array(
                [datetime(2024, 3, 1, tzinfo=UTC)] * 3, type=pa.timestamp("us", tz="UTC")
            ),
        }
    )
    t = backend.table("interactions")
    cal = backend.memtable(calendar)
    joined = (
        t.join(cal, "channel")
        .filter(lambda r: r.started_at >= r.from_)
        .group_by("channel")
        .agg(n=lambda r: r.count(), w=lambda r: r.weight.sum(), since=lambda r: r.from_.min())
        .order_by("channel")
    )
    since = datetime(2024, 3, 1, tzinfo=UTC)
    assert backend.to_arrow(joined).to_pylist() == [
        {"channel": "email", "n": 1, "w": 2.0, "since": since},
        {"channel": "phone", "n": 2, "w": 3.0, "since": since},
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_json_attributes_unwrap_as_text(
    contacts_ws: Workspace,
    backend_for: BackendFactory,
    engine: BackendName,
    request: pytest.FixtureRequest,
) -> None:
    backend = backend_for(contacts_ws, engine)
    if "json_unwrap" in backend.gaps:
        request.applymarker(pytest.mark.xfail(reason=backend.gaps["json_unwrap"], strict=True))
    t = backend.table("interactions")
    expr = t.select("interaction_id", state=t.attributes["State"].unwrap_as("str")).order_by(
        "interaction_id"
    )
    assert backend.to_arrow(expr)["state"].to_pylist() == ["FL", "NY", None, "CA"]


# -- Parquet lake ----------------------------------------------------------------------------
def test_export_parquet_writes_every_table_in_utc(contacts_ws: Workspace, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "interactions.parquet").mkdir(parents=True)  # as Spark writes a table: a folder
    (lake / "interactions.parquet" / "part-0.parquet").write_bytes(b"old")
    counts = export_parquet(contacts_ws.store, lake)
    assert counts == _counts(contacts_ws)
    assert counts["interactions"] == 4 and counts["loads"] == 1
    assert sorted(p.name for p in lake.iterdir()) == sorted(f"{t.name}.parquet" for t in TABLES)
    schema = pq.read_schema(lake / "interactions.parquet")
    assert schema.names == list(INTERACTIONS.names)
    assert schema.field("started_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("attributes").type == pa.string()
    assert pq.read_table(lake / "customers.parquet").num_rows == 0


def test_spark_names_the_missing_lake_table(tmp_path: Path, spark: Any) -> None:
    with pytest.raises(UserError, match="does not exist") as missing:
        spark_backend(tmp_path / "nowhere", session=spark)
    assert "voxloop export parquet" in str(missing.value)

    (tmp_path / "lake").mkdir()
    with spark_backend(tmp_path / "lake", session=spark) as backend:
        with pytest.raises(UserError, match="has no table interactions") as exc:
            backend.table("interactions")
        assert str(tmp_path / "lake" / "interactions.parquet") in str(exc.value)
        assert f"voxloop export parquet {tmp_path / 'lake'}" in str(exc.value)
        pq.write_table(
            pa.table({"interaction_id": ["x"]}), tmp_path / "lake" / "interactions.parquet"
        )
        with pytest.raises(UserError, match="lacks the column") as old:
            backend.table("interactions")
        assert "export or publish the workspace again" in str(old.value)
    assert not spark.sparkContext._jsc.sc().isStopped()  # a shared session outlives the backend


def test_without_pyspark_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # what `import pyspark` does uninstalled
    with pytest.raises(UserError, match="Spark support is not installed") as exc:
        spark_backend(tmp_path)
    assert "pip install 'voxloop[spark]'" in str(exc.value)


def test_unknown_table_lists_the_valid_ones(contacts_ws: Workspace) -> None:
    with duckdb_backend(contacts_ws.store) as backend, pytest.raises(UserError) as exc:
        backend.table("interaction")
    assert "interactions" in str(exc.value) and "feedback" in str(exc.value)
    contacts_ws.status()  # the store stays open after the backend is closed


# -- PostgreSQL publication ------------------------------------------------------------------
def test_publish_creates_the_schema_and_replaces_the_contents(
    contacts_ws: Workspace, postgres_db: str, tmp_path: Path
) -> None:
    counts = publish_postgres(contacts_ws.store, postgres_db)
    assert counts == _counts(contacts_ws)
    assert _pg_rows(postgres_db, "SELECT max(version) FROM schema_migrations") == [
        (LATEST_VERSION,)
    ]
    more = "contact_id,channel,started_at\nc5,web,2024-05-01 10:00:00\n"
    contacts_ws.ingest([write(tmp_path / "more.csv", more)], source="contacts")
    assert publish_postgres(contacts_ws.store, postgres_db)["interactions"] == 5
    assert _pg_rows(postgres_db, "SELECT count(*), count(DISTINCT load_id) FROM interactions") == [
        (5, 2)
    ]
    assert _pg_rows(postgres_db, "SELECT count(*) FROM schema_migrations") == [(LATEST_VERSION,)]
    with postgres_backend(postgres_db) as backend:
        assert backend.con.raw_sql("SHOW TimeZone").fetchone() == ("UTC",)


def test_a_failed_publish_leaves_postgres_as_it_was(
    contacts_ws: Workspace, postgres_db: str, tmp_path: Path
) -> None:
    publish_postgres(contacts_ws.store, postgres_db)
    before = {t.name: _pg_rows(postgres_db, f'SELECT * FROM "{t.name}"') for t in TABLES}
    # A rule on the PostgreSQL side that the next publication breaks half-way through: the
    # tables before interactions are already emptied and refilled when it fails.
    _pg_run(postgres_db, "ALTER TABLE interactions ADD CHECK (external_id <> 'c9')")
    web = "contact_id,customer_id,channel,started_at\nc9,k9,web,2024-05-01 10:00:00\n"
    contacts_ws.ingest([write(tmp_path / "web.csv", web)], source="contacts")
    assert _counts(contacts_ws)["identities"] == len(before["identities"]) + 1  # k9
    with pytest.raises(UserError, match=r"failed \(table interactions\)") as exc:
        publish_postgres(contacts_ws.store, postgres_db)
    assert "left as it was" in str(exc.value)
    after = {t.name: _pg_rows(postgres_db, f'SELECT * FROM "{t.name}"') for t in TABLES}
    assert after == before
    assert len(after["interactions"]) == 4 and len(after["loads"]) == 1


def test_publish_upgrades_an_older_postgres_schema(
    contacts_ws: Workspace, postgres_db: str
) -> None:
    with psycopg.connect(postgres_db) as con:
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER NOT NULL, description TEXT, "
            "applied_at TIMESTAMPTZ NOT NULL)"
        )
        for op in fresh_operations(1):
            con.execute(operation_sql(op, "postgres"))
        con.execute("INSERT INTO schema_migrations VALUES (1, 'v1', now())")
    publish_postgres(contacts_ws.store, postgres_db)
    columns = _pg_rows(
        postgres_db,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'loads' "
        "ORDER BY ordinal_position",
    )
    assert sorted(c for (c,) in columns[-3:]) == ["encoding", "mapping_sha256", "message"]
    assert _pg_rows(postgres_db, "SELECT version FROM schema_migrations ORDER BY 1") == [
        (v,) for v in range(1, LATEST_VERSION + 1)
    ]
    with postgres_backend(postgres_db) as backend:  # columns in the model's order again
        assert list(backend.table("loads").schema().names) == list(LOADS.names)
        assert backend.to_arrow(
            backend.table("loads").count().name("n").as_table()
        ).to_pylist() == [{"n": 1}]


def test_unreachable_postgres_is_a_config_error(contacts_ws: Workspace, postgres_url: str) -> None:
    closed = postgres_url.replace("voxloop@", "voxloop:s3cret@").rsplit(":", 1)[0] + ":1/x"
    for attempt in (
        lambda: postgres_backend(closed),
        lambda: publish_postgres(contacts_ws.store, closed),
    ):
        with pytest.raises(ConfigError) as exc:
            attempt()
        assert "cannot connect to PostgreSQL at 127.0.0.1:1/x as voxloop" in str(exc.value)
        assert "s3cret" not in str(exc.value)
        assert "check that the server is running" in str(exc.value)
    with pytest.raises(ConfigError, match="cannot be read") as bad:
        postgres_backend("postgresql://voxloop:s3cret@[oops")
    assert "s3cret" not in str(bad.value)


def test_ibis_memtable_made_directly_also_runs(
    contacts_ws: Workspace, backend_for: BackendFactory
) -> None:
    """``ibis.memtable`` (not ``backend.memtable``) is registered by the engine when run.

    From Arrow: from a dict, Ibis 12 goes through pandas, whose version 3 warns."""
    for engine in ENGINES:
        backend = backend_for(contacts_ws, engine)
        t = backend.table("interactions")
        m = ibis.memtable(pa.table({"channel": ["chat"], "k": [7]}))
        assert backend.to_arrow(t.join(m, "channel").select("k")).to_pylist() == [{"k": 7}]


def test_the_engines_import_without_their_drivers() -> None:
    """PySpark and psycopg are extras: importing voxloop must not need them."""
    code = (
        "import sys\n"
        "sys.modules['pyspark'] = sys.modules['psycopg'] = None\n"
        "import voxloop, voxloop.backends, voxloop.store\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
