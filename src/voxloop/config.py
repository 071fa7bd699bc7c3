"""Workspace settings: each declared once (name, default, help), resolved in one order.

Resolution order, first match wins:

1. explicit overrides passed by the caller (CLI options, ``Workspace.open(..., overrides=)``);
2. the environment, ``VOXLOOP_<NAME>`` in upper case (``VOXLOOP_TIME_ZONE=Europe/Paris``);
3. ``voxloop.toml`` in the workspace folder;
4. the declared default.

Nothing else reads the environment or the TOML file: modules receive a :class:`Settings`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voxloop.errors import ConfigError

WORKSPACE_FILE = "voxloop.toml"
WORKSPACE_ENV = "VOXLOOP_WORKSPACE"


def _as_str(value: Any) -> str:
    return str(value)


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true/false")
    return int(value)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ValueError('expected a list such as ["fr", "en"] or a comma-separated string')


def _as_mapping(value: Any) -> dict[str, str]:
    """A TOML inline table ``{a = "x", b = 2}``, or ``a=x,b=2`` from the environment."""
    if isinstance(value, dict):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    if isinstance(value, str):
        out = {}
        for part in value.split(","):
            key, sep, item = part.partition("=")
            if part.strip() and (not sep or not key.strip()):
                raise ValueError(f"{part.strip()!r} is not name=value")
            if part.strip():
                out[key.strip()] = item.strip()
        return out
    raise ValueError('expected a table such as {email = 2, phone = 2} or "email=2,phone=2"')


_KIND = re.compile(r"[a-z][a-z0-9_]*")


def _kind(word: str) -> str:
    if not _KIND.fullmatch(word):
        raise ValueError(
            f"{word!r} is not an identifier kind: use lower-case letters, digits and _ "
            "(e.g. loyalty_card)"
        )
    return word


def _as_kinds(value: Any) -> list[str]:
    return [_kind(k) for k in _as_list(value)]


def _as_identifier_columns(value: Any) -> dict[str, str]:
    return {column: _kind(kind) for column, kind in _as_mapping(value).items()}


def _as_limits(value: Any) -> dict[str, int]:
    out = {}
    for key, item in _as_mapping(value).items():
        _kind(key)
        try:
            out[key] = int(item)
        except ValueError:
            raise ValueError(f"{key} = {item!r}: expected a whole number") from None
        if out[key] < 1:
            raise ValueError(f"{key} = {item}: must be at least 1")
    return out


def _as_probability(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a probability such as 0.99, not true/false")
    number = float(value)
    if not 0 < number < 1:
        raise ValueError("expected a probability strictly between 0 and 1, such as 0.99")
    return number


def _as_fuzzy_fields(value: Any) -> dict[str, str]:
    out = _as_mapping(value)
    for attribute, target in out.items():
        if target not in ("address", "postcode", "city"):
            raise ValueError(f"{attribute} = {target!r}: map onto address, postcode or city")
    return out


def _as_memory(value: Any) -> str:
    """DuckDB's syntax (2GB, 500MB); French units (2Go, 500Mo) are understood too."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*([kKmMgGtT])[oObB]?\s*", str(value))
    if not match:
        raise ValueError("expected an amount of memory such as 2GB or 500MB")
    number, unit = match.groups()
    return f"{number.replace(',', '.')}{unit.upper()}B"


def _as_region(value: Any) -> str:
    import phonenumbers

    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("expected a two-letter country code such as FR, BE, CH or CA")
    return region


def _as_time_zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris") from exc
    return str(value)


@dataclass(frozen=True)
class Setting:
    """One declared setting."""

    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = _as_str

    @property
    def env_var(self) -> str:
        return f"VOXLOOP_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("company", "My company", "Company name shown in reports and on the dashboard."),
    Setting(
        "store",
        "voxloop.duckdb",
        "Where the canonical store lives: a DuckDB file relative to the workspace, "
        "or a postgresql:// URL for a shared server.",
    ),
    Setting("languages", ["fr", "en"], "Languages of the verbatims and the UI.", _as_list),
    Setting("default_language", "fr", "Language of reports and pages when none is chosen."),
    Setting(
        "time_zone",
        "Europe/Paris",
        "Time zone used when a source does not declare its own, and for calendar periods.",
        _as_time_zone,
    ),
    Setting(
        "default_region",
        "FR",
        "Country (ISO 3166 alpha-2) used to read phone numbers written without "
        "an international prefix, e.g. 06 12 34 56 78.",
        _as_region,
    ),
    Setting(
        "memory_limit",
        "2GB",
        "Most memory the store may use before spilling to disk (2GB, 500MB; 2Go works too).",
        _as_memory,
    ),
    Setting("threads", 0, "Worker threads for the store; 0 means one per core.", _as_int),
    Setting(
        "max_field_chars",
        1_000_000,
        "Longest accepted text field; a longer value sends its row to quarantine.",
        _as_int,
    ),
    Setting(
        "identity_limits",
        {"account": 10, "email": 2, "phone": 2, "landline": 1, "handle": 2},
        "Identity resolution: an identifier seen with more distinct identifiers of one other "
        "kind than this (a switchboard, a family landline, contact@) is shared and not linked "
        "on. Per kind; other kinds use 2.",
        _as_limits,
    ),
    Setting(
        "weak_identifiers",
        ["device"],
        "Identifier kinds that attach to a customer but never link two records on their own.",
        _as_kinds,
    ),
    Setting(
        "identifier_columns",
        {},
        'Extra identifier columns kept in attributes, and their kind: {loyalty_card = "loyalty"}.',
        _as_identifier_columns,
    ),
    Setting(
        "fuzzy_threshold",
        0.99,
        "Probabilistic matching (`voxloop customers match`): the match probability at or "
        "above which two customers are taken for one person.",
        _as_probability,
    ),
    Setting(
        "fuzzy_fields",
        {},
        "Probabilistic matching: record attributes that hold the address, and the field each "
        'one is (address, postcode or city): {cp = "postcode", ville = "city"}.',
        _as_fuzzy_fields,
    ),
    Setting(
        "min_sample",
        30,
        "Results from fewer answers or contacts than this are flagged low_sample.",
        _as_int,
    ),
    Setting(
        "target_fields",
        ["customer_email", "customer_phone", "segment"],
        "Fields the company wants on every customer (the data-collection plan).",
        _as_list,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Resolved:
    value: Any
    origin: str  # "override", "env VOXLOOP_X", "voxloop.toml", "default"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace, with where each value came from."""

    root: Path
    values: Mapping[str, Resolved] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name].value

    @property
    def company(self) -> str:
        return str(self["company"])

    @property
    def store(self) -> str:
        return str(self["store"])

    @property
    def time_zone(self) -> str:
        return str(self["time_zone"])

    @property
    def default_region(self) -> str:
        return str(self["default_region"])

    @property
    def languages(self) -> list[str]:
        return [str(x) for x in self["languages"]]

    @property
    def default_language(self) -> str:
        return str(self["default_language"])

    @property
    def identity_limits(self) -> dict[str, int]:
        return dict(self["identity_limits"])

    @property
    def weak_identifiers(self) -> list[str]:
        return list(self["weak_identifiers"])

    @property
    def identifier_columns(self) -> dict[str, str]:
        return dict(self["identifier_columns"])

    @property
    def fuzzy_threshold(self) -> float:
        return float(self["fuzzy_threshold"])

    @property
    def fuzzy_fields(self) -> dict[str, str]:
        return dict(self["fuzzy_fields"])

    @property
    def target_fields(self) -> list[str]:
        return list(self["target_fields"])

    @property
    def min_sample(self) -> int:
        return int(self["min_sample"])

    @property
    def max_field_chars(self) -> int:
        return int(self["max_field_chars"])

    @property
    def memory_limit(self) -> str:
        return str(self["memory_limit"])

    @property
    def threads(self) -> int:
        return int(self["threads"])

    def describe(self) -> list[dict[str, Any]]:
        """Rows for ``voxloop config``: name, value, origin, help."""
        return [
            {
                "name": s.name,
                "value": self.values[s.name].value,
                "origin": self.values[s.name].origin,
                "help": s.help,
            }
            for s in SETTINGS
        ]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint="fix the line it names; `voxloop init` writes a commented example",
        ) from exc


def resolve_settings(
    root: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every declared setting for the workspace at ``root``."""
    env = os.environ if environ is None else environ
    toml_path = root / WORKSPACE_FILE
    from_file = read_toml(toml_path) if toml_path.exists() else {}
    file_settings = from_file.get("voxloop", from_file)
    unknown = sorted(set(file_settings) - set(_BY_NAME) - {"voxloop"})
    unknown = [k for k in unknown if not isinstance(file_settings[k], dict)]
    if unknown:
        raise ConfigError(
            f"{toml_path}: unknown setting(s) {', '.join(unknown)}",
            hint=f"valid settings are: {', '.join(sorted(_BY_NAME))}",
        )
    resolved: dict[str, Resolved] = {}
    for setting in SETTINGS:
        candidates: list[tuple[Any, str]] = []
        if overrides and overrides.get(setting.name) is not None:
            candidates.append((overrides[setting.name], "override"))
        if setting.env_var in env:
            candidates.append((env[setting.env_var], f"environment {setting.env_var}"))
        if setting.name in file_settings:
            candidates.append((file_settings[setting.name], str(toml_path)))
        raw, origin = candidates[0] if candidates else (setting.default, "default")
        try:
            value = setting.parse(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"setting '{setting.name}' from {origin} has a bad value {raw!r}: {exc}",
                hint=f"{setting.name}: {setting.help}",
            ) from exc
        resolved[setting.name] = Resolved(value, origin)
    return Settings(root=root, values=resolved)


def find_workspace(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """Locate the workspace: the explicit folder, else ``VOXLOOP_WORKSPACE``, else the current
    folder or the nearest parent holding a ``voxloop.toml`` (as git finds its repository)."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        candidates, origin = [explicit], "--workspace"
    elif env.get(WORKSPACE_ENV):
        candidates, origin = [Path(env[WORKSPACE_ENV])], WORKSPACE_ENV
    else:
        here = Path.cwd()
        candidates, origin = [here, *here.parents], "current folder and its parents"
    for folder in candidates:
        if (folder / WORKSPACE_FILE).is_file():
            return folder.resolve()
    from voxloop.errors import WorkspaceNotFoundError

    raise WorkspaceNotFoundError(
        f"no voxloop workspace found: no {WORKSPACE_FILE} in {candidates[0]} ({origin})",
        hint="create one with `voxloop init DIR`, or pass --workspace DIR "
        f"(or set {WORKSPACE_ENV})",
    )
