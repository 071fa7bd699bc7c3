"""voxloop — self-hosted Customer-Experience and Voice-of-the-Customer platform.

The one object to hold is :class:`Workspace`::

    from voxloop import Workspace
    ws = Workspace.open("my-cx")
    ws.ingest(["contacts.csv"], source="contacts")
    ws.status()
"""

__version__ = "0.1.0"

from voxloop.errors import (
    ConfigError,
    IngestError,
    MappingError,
    StoreBusyError,
    TransientError,
    UnknownSourceError,
    UserError,
    VoxloopError,
    WorkspaceNotFoundError,
)
from voxloop.ingest import LoadResult
from voxloop.workspace import Workspace

__all__ = [
    "ConfigError",
    "IngestError",
    "LoadResult",
    "MappingError",
    "StoreBusyError",
    "TransientError",
    "UnknownSourceError",
    "UserError",
    "VoxloopError",
    "Workspace",
    "WorkspaceNotFoundError",
    "__version__",
]
