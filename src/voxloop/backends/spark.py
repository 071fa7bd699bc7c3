"""Spark as a backend: the canonical tables as Parquet in a lake folder, run on PySpark.

The lake is what ``voxloop export parquet DIR`` writes: ``DIR/<table>.parquet``, a file or a
folder of files (as Spark writes them). Each table is registered when first asked for.

Results come back through ``DataFrame.toArrow()`` rather than Ibis's own ``to_pyarrow``,
which goes through pandas: with pandas 3 that path warns inside PySpark, drops the time zone
of timestamps and parses JSON text into dicts that then fail to convert. Memtables go in
through ``createDataFrame(pyarrow.Table)`` for the same reason. Both need PySpark 4.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from voxloop.backends.base import Backend
from voxloop.errors import UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings of the local session voxloop starts; a session passed in is used as it is.
LOCAL_CONF: Mapping[str, str] = MappingProxyType(
    {
        "spark.master": "local[2]",
        "spark.app.name": "voxloop",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.driver.memory": "2g",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
)


def _pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise UserError(
            "Spark support is not installed",
            hint="pip install 'voxloop[spark]' (it needs Java 17 or later)",
        ) from exc


def spark_session(conf: dict[str, str] | None = None) -> SparkSession:
    """Start (or reuse) a local Spark session in UTC, bound to 127.0.0.1, without web UI.

    Starting one takes a few seconds: create it once and pass it to each
    :func:`spark_backend`.
    """
    _pyspark()
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    # Read by the JVM and by PySpark when the session starts (a setting cannot replace them):
    # Spark binds to the loopback, and Python workers (UDFs) run this interpreter rather than
    # whichever python3 comes first on PATH.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in {**LOCAL_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except PySparkRuntimeError as exc:  # pragma: no cover - CI has Java
        raise UserError(
            f"Spark could not start: {exc}",
            hint="install Java 17 or later (Debian: apt-get install openjdk-17-jre-headless) "
            "and check JAVA_HOME",
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkBackend(Backend):
    name = "spark"
    dialect = "pyspark"
    gaps = MappingProxyType(
        {
            "json_unwrap": "Ibis's unwrap_as() on Spark JSON-decodes the text get_json_object "
            "already unwrapped, and fails on strings; it is also a pandas UDF (slow)",
        }
    )

    def __init__(self, lake: Path, session: SparkSession, *, owns_session: bool) -> None:
        import ibis

        # A session of its own (sharing the SparkContext) keeps this backend's views apart.
        self.session = session.newSession()
        super().__init__(ibis.pyspark.connect(self.session))
        self.lake = lake
        self._owns_session = owns_session
        self._base_session = session
        self._views: set[str] = set()

    def _source(self, name: str) -> Any:
        if name not in self._views:
            path = self.lake / f"{name}.parquet"
            if not path.exists():
                raise UserError(
                    f"the lake {self.lake} has no table {name} (looked for {path})",
                    hint=f"write the lake with `voxloop export parquet {self.lake}`",
                )
            self.session.read.parquet(str(path)).createOrReplaceTempView(name)
            self._views.add(name)
        return self.con.table(name)

    def _execute(self, expr: Any) -> pa.Table:
        import ibis.expr.operations as ops

        # Memtables go in as Arrow; Ibis would then only register the UDFs the expression uses.
        for op in expr.op().find(ops.InMemoryTable):
            if op not in self.con._memtables:
                data = op.data.to_pyarrow(op.schema)
                self.session.createDataFrame(data).createOrReplaceTempView(op.name)
                self.con._memtables.add(op)
                self._views.add(op.name)
        self.con._run_pre_execute_hooks(expr)
        return self.session.sql(self.con.compile(expr)).toArrow()

    def _close(self) -> None:
        for name in self._views:
            with contextlib.suppress(Exception):
                self.session.catalog.dropTempView(name)
        self._views.clear()
        if self._owns_session:
            self._base_session.stop()


def spark_backend(lake: Path, *, session: SparkSession | None = None) -> SparkBackend:
    """The Parquet lake in folder ``lake`` on Spark.

    Without ``session`` a local one is started (see :func:`spark_session`) and stopped by
    ``close()``; with one, ``close()`` leaves it running for the next backend.
    """
    lake = Path(lake)
    if not lake.is_dir():
        raise UserError(
            f"the lake folder {lake} does not exist",
            hint=f"write it with `voxloop export parquet {lake}`",
        )
    _pyspark()
    from pyspark.sql import SparkSession

    owns = session is None and SparkSession.getActiveSession() is None
    if session is None:
        session = spark_session()
    try:
        return SparkBackend(lake, session, owns_session=owns)
    except BaseException:
        if owns:
            session.stop()
        raise


__all__ = ["SparkBackend", "spark_backend", "spark_session"]
