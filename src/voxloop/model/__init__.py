"""The canonical model: tables, columns and closed vocabularies (defined once)."""

from voxloop.model.schema import TABLES, TABLES_BY_NAME, TARGET_TABLES, Column, Table
from voxloop.model.vocab import CHANNELS, DIRECTIONS, INSTRUMENTS, SURVEY_KINDS

__all__ = [
    "CHANNELS",
    "DIRECTIONS",
    "INSTRUMENTS",
    "SURVEY_KINDS",
    "TABLES",
    "TABLES_BY_NAME",
    "TARGET_TABLES",
    "Column",
    "Table",
]
