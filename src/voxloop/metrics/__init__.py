"""Indicators you can trust: one definition per metric, run on DuckDB, PostgreSQL or Spark,
always with sample sizes and confidence intervals.

    engine = MetricsEngine(backend, time_zone="Europe/Paris", sla=load_sla(path))
    engine.compute("nps", by=["channel", "month"])  # → pyarrow.Table
"""

from voxloop.metrics.calendar import (
    Calendar,
    CalendarSpec,
    SlaConfig,
    Target,
    build_calendar,
    load_sla,
    parse_duration,
)
from voxloop.metrics.definitions import REGISTRY
from voxloop.metrics.engine import MetricsEngine, Period, parse_filters, unknown_metric

__all__ = [
    "REGISTRY",
    "Calendar",
    "CalendarSpec",
    "MetricsEngine",
    "Period",
    "SlaConfig",
    "Target",
    "build_calendar",
    "load_sla",
    "parse_duration",
    "parse_filters",
    "unknown_metric",
]
