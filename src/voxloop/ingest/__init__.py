"""Ingestion: any export, through a declarative mapping, into the canonical store."""

from voxloop.ingest.load import LoadResult, run_load
from voxloop.ingest.mapping import SourceMapping, builtin_names, load_mapping

__all__ = ["LoadResult", "SourceMapping", "builtin_names", "load_mapping", "run_load"]
