"""Shared fixtures: real workspaces on real DuckDB files, the public data beside the repo,
and real PostgreSQL and Spark engines for the backends."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from voxloop import Workspace
from voxloop.backends import Backend, BackendName

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VOXLOOP_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():  # pragma: no cover - CI always has it
        pytest.fail(f"the public test data is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path / "ws")
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# -- other engines: a throwaway PostgreSQL cluster and one Spark session per test run ----------
# Both are real engines started here (CI installs PostgreSQL and Java); a missing binary fails
# the tests that need it, it does not skip them.


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parts[-3].split(".") if p.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version)
    if not candidates:
        pytest.fail(
            f"PostgreSQL's {name} is neither on PATH nor in /usr/lib/postgresql/*/bin; "
            "install the server (Debian: apt-get install postgresql; .ci/run does it)"
        )
    return str(candidates[-1])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own for the test run: ``postgresql://voxloop@127.0.0.1:PORT``.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user
    (created by Debian's package) and its folder is outside pytest's root-only temp folder.
    """
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    as_user: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs a 'postgres' user to own the test cluster")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("running as root needs runuser (util-linux) to start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
        owner = (entry.pw_uid, entry.pw_gid)
    # As root, a folder the postgres user can reach (TMPDIR may be private to root).
    root = Path(tempfile.mkdtemp(prefix="voxloop-pg-", dir="/tmp" if as_user else None))
    if owner is not None:
        os.chown(root, *owner)
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*as_user, *args], cwd=root, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{tail}")

    run(initdb, "-D", str(data), "-A", "trust", "-U", "voxloop", "-E", "UTF8", "--no-locale",
        "--no-sync")  # fmt: skip
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    try:
        yield f"postgresql://voxloop@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty database of its own for one test (dropped afterwards)."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session for the whole run (starting one costs seconds)."""
    from voxloop.backends import spark_session

    session = spark_session({"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2"})
    try:
        yield session
    finally:
        session.stop()


BackendFactory = Callable[[Workspace, BackendName], Backend]


@pytest.fixture
def backend_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """``backend_for(ws, "duckdb" | "postgresql" | "spark")``: the workspace's data on that
    engine — the store itself, a fresh PostgreSQL database it was published to, or a Parquet
    lake it was exported to. Each is closed after the test."""
    from voxloop.backends import duckdb_backend, postgres_backend, spark_backend
    from voxloop.store import export_parquet, publish_postgres

    opened: list[Backend] = []

    def make(ws: Workspace, name: BackendName) -> Backend:
        backend: Backend
        if name == "duckdb":
            backend = duckdb_backend(ws.store)
        elif name == "postgresql":
            url = request.getfixturevalue("postgres_db")
            publish_postgres(ws.store, url)
            backend = postgres_backend(url)
        else:
            lake = tmp_path / f"lake{len(opened)}"
            export_parquet(ws.store, lake)
            backend = spark_backend(lake, session=request.getfixturevalue("spark"))
        opened.append(backend)
        return backend

    try:
        yield make
    finally:
        for backend in opened:
            backend.close()
