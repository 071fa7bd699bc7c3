"""The public surface is written down and stays that way."""

from __future__ import annotations

import voxloop
import voxloop.errors


def test_all_is_sorted_and_complete() -> None:
    assert list(voxloop.__all__) == sorted(voxloop.__all__)
    for name in voxloop.__all__:
        assert hasattr(voxloop, name), name


def test_every_public_exception_is_exported() -> None:
    exceptions = {
        name
        for name, obj in vars(voxloop.errors).items()
        if isinstance(obj, type) and issubclass(obj, Exception) and not name.startswith("_")
    }
    assert exceptions <= set(voxloop.__all__)


def test_user_errors_and_transient_errors_are_distinguishable() -> None:
    assert issubclass(voxloop.IngestError, voxloop.UserError)
    assert issubclass(voxloop.StoreBusyError, voxloop.TransientError)
    assert not issubclass(voxloop.StoreBusyError, voxloop.UserError)
    assert voxloop.UserError("x").exit_code == 1
    assert voxloop.StoreBusyError("x").exit_code == 75


def test_subpackages_declare_their_public_surface() -> None:
    import importlib

    for name in (
        "voxloop.ingest",
        "voxloop.model",
        "voxloop.store",
        "voxloop.backends",
        "voxloop.cli",
    ):
        module = importlib.import_module(name)
        exported = list(module.__all__)  # its order is kept by ruff (RUF022)
        assert len(set(exported)) == len(exported), name
        assert all(hasattr(module, attr) for attr in exported), name
