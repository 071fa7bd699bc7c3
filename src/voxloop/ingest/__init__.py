"""Ingestion: any export, through a declarative mapping, into the canonical store."""

from voxloop.ingest.ledger import LoadResult
from voxloop.ingest.load import STAGES, ProgressFn, run_load
from voxloop.ingest.mapping import SourceMapping, builtin_names, load_mapping

__all__ = [
    "STAGES",
    "LoadResult",
    "ProgressFn",
    "SourceMapping",
    "builtin_names",
    "load_mapping",
    "run_load",
]
