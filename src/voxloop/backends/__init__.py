"""Engines that run the metrics: embedded DuckDB, PostgreSQL and Spark.

Metrics are written once, as Ibis expressions over :meth:`Backend.table`, and run on any
backend::

    from voxloop.backends import duckdb_backend
    with duckdb_backend(ws.store) as backend:
        t = backend.table("interactions")
        backend.to_arrow(t.group_by("channel").agg(n=t.count()))

PostgreSQL reads what :func:`voxloop.store.export.publish_postgres` wrote, Spark reads the
Parquet lake :func:`voxloop.store.export.export_parquet` wrote. The PostgreSQL and Spark
drivers are optional extras (``voxloop[postgres]``, ``voxloop[spark]``), imported on use.
"""

from voxloop.backends.base import Backend, BackendName
from voxloop.backends.duckdb import DuckDBBackend, duckdb_backend
from voxloop.backends.postgres import PostgresBackend, postgres_backend
from voxloop.backends.spark import SparkBackend, spark_backend, spark_session

__all__ = [
    "Backend",
    "BackendName",
    "DuckDBBackend",
    "PostgresBackend",
    "SparkBackend",
    "duckdb_backend",
    "postgres_backend",
    "spark_backend",
    "spark_session",
]
