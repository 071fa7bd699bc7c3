"""Settings: declared once, resolved in one documented order."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxloop.config import SETTINGS, find_workspace, resolve_settings
from voxloop.errors import ConfigError, WorkspaceNotFoundError


def _toml(root: Path, body: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "voxloop.toml").write_text("[voxloop]\n" + body, encoding="utf-8")


def test_order_is_override_then_environment_then_file_then_default(tmp_path: Path) -> None:
    _toml(tmp_path, 'time_zone = "America/New_York"\ncompany = "Acme"\n')
    env = {"VOXLOOP_TIME_ZONE": "Asia/Singapore", "VOXLOOP_DEFAULT_REGION": "BE"}
    s = resolve_settings(tmp_path, overrides={"default_region": "CH"}, environ=env)
    assert s.values["default_region"].value == "CH"
    assert s.values["default_region"].origin == "override"
    assert s.time_zone == "Asia/Singapore"
    assert s.values["time_zone"].origin == "environment VOXLOOP_TIME_ZONE"
    assert s.company == "Acme"
    assert s.values["company"].origin.endswith("voxloop.toml")
    assert s.values["memory_limit"].origin == "default"


def test_every_setting_has_help_and_is_described(tmp_path: Path) -> None:
    _toml(tmp_path, "")
    rows = resolve_settings(tmp_path, environ={}).describe()
    assert [r["name"] for r in rows] == [s.name for s in SETTINGS]
    assert all(r["help"] for r in rows)


def test_bad_time_zone_names_the_setting_and_origin(tmp_path: Path) -> None:
    _toml(tmp_path, 'time_zone = "Paris"\n')
    with pytest.raises(ConfigError, match=r"time_zone.*voxloop.toml.*'Paris'.*IANA"):
        resolve_settings(tmp_path, environ={})


def test_unknown_setting_lists_the_valid_ones(tmp_path: Path) -> None:
    _toml(tmp_path, 'timezone = "Europe/Paris"\n')
    with pytest.raises(ConfigError) as info:
        resolve_settings(tmp_path, environ={})
    assert "timezone" in info.value.message
    assert info.value.hint is not None and "time_zone" in info.value.hint


def test_lists_accept_comma_separated_environment_values(tmp_path: Path) -> None:
    _toml(tmp_path, "")
    s = resolve_settings(tmp_path, environ={"VOXLOOP_LANGUAGES": "fr, en ,de"})
    assert s["languages"] == ["fr", "en", "de"]


def test_workspace_lookup_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError) as info:
        find_workspace(tmp_path / "nowhere", environ={})
    assert "nowhere" in info.value.message
    assert info.value.hint is not None and "voxloop init" in info.value.hint


def test_workspace_from_environment(tmp_path: Path) -> None:
    _toml(tmp_path / "w", "")
    assert (
        find_workspace(None, environ={"VOXLOOP_WORKSPACE": str(tmp_path / "w")})
        == (tmp_path / "w").resolve()
    )


def test_memory_accepts_french_units_and_rejects_nonsense(tmp_path: Path) -> None:
    _toml(tmp_path, 'memory_limit = "2Go"\n')
    assert resolve_settings(tmp_path, environ={}).memory_limit == "2GB"
    s = resolve_settings(tmp_path, environ={"VOXLOOP_MEMORY_LIMIT": "512 mo"})
    assert s.memory_limit == "512MB"
    with pytest.raises(ConfigError, match="memory_limit"):
        resolve_settings(tmp_path, environ={"VOXLOOP_MEMORY_LIMIT": "lots"})


def test_region_must_be_a_country_code(tmp_path: Path) -> None:
    _toml(tmp_path, 'default_region = "be"\n')
    assert resolve_settings(tmp_path, environ={}).default_region == "BE"
    with pytest.raises(ConfigError, match="two-letter country code"):
        resolve_settings(tmp_path, environ={"VOXLOOP_DEFAULT_REGION": "fra"})


def test_workspace_is_found_from_a_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _toml(tmp_path / "w", "")
    (tmp_path / "w" / "data" / "2024").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "w" / "data" / "2024")
    assert find_workspace(None, environ={}) == (tmp_path / "w").resolve()
