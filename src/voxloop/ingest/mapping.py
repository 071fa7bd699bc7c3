"""Source mappings: how one export's columns become canonical rows (``sources/NAME.yaml``).

A mapping is data, validated by pydantic so that a typo is reported with the file and the key
rather than producing empty columns. Built-in mappings live in ``ingest/builtin/*.yaml`` and a
workspace mapping may ``extends:`` one of them, overriding only what differs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping as MappingABC
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voxloop.errors import MappingError, UnknownSourceError
from voxloop.model.schema import TARGET_TABLES
from voxloop.model.vocab import VOCABULARIES


def check_time_zone(value: str | None) -> str | None:
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. Europe/Paris, America/New_York)"
            ) from None
    return value


def check_region(value: str | None) -> str | None:
    if value is not None and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a two-letter country code such as FR, BE, CH or CA")
    return value.upper() if value is not None else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """Where a canonical field's value comes from."""

    column: str | None = None
    columns: list[str] | None = None
    separator: str = " / "
    value: str | None = None
    value_map: dict[str, str] = Field(default_factory=dict)
    formats: list[str] | None = None  # timestamps: overrides the mapping's formats
    time_zone: str | None = None  # timestamps: overrides the mapping's zone
    scale: tuple[float, float] | None = None  # scores: fixed scale for this field
    unit: Literal["s", "ms", "min", "h"] = "s"  # durations

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_time_zone(value)

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [x for x in (self.column, self.columns, self.value) if x is not None]
        if len(origins) != 1:
            raise ValueError("give exactly one of 'column', 'columns' or 'value'")
        return self

    @property
    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        return list(self.columns or [])


class Condition(_Strict):
    """Keep only rows where ``column`` equals one of ``in`` (case-insensitive) or is filled."""

    column: str
    in_: list[str] | None = Field(default=None, alias="in")
    not_empty: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Output(_Strict):
    """One canonical table fed by the source."""

    table: Literal["interactions", "feedback"]
    fields: dict[str, FieldSpec]
    when: Condition | None = None
    required: list[str] = Field(default_factory=list)
    scales: dict[str, tuple[float, float]] = Field(default_factory=dict)
    interaction_source: str | None = None  # feedback: interaction_ref is an id of this source
    # interactions: thread_ref holds the id of the message this one replies to; after the load
    # it is replaced by the id of the conversation's first message (see ingest/threads.py)
    threads_from_replies: bool = False
    keep_unmapped: bool = True

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"column": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> Output:
        table = TARGET_TABLES[self.table]
        mappable = {c.name for c in table.mappable}
        unknown = sorted(set(self.fields) - mappable)
        if unknown:
            raise ValueError(
                f"{self.table} has no mappable field(s) {', '.join(unknown)}; "
                f"valid fields: {', '.join(sorted(mappable))}"
            )
        if "external_id" not in self.fields:
            raise ValueError(f"{self.table}: 'external_id' must be mapped (it de-duplicates loads)")
        for name, spec in self.fields.items():
            kind = table.column(name).kind or ""
            if spec.value_map and not kind.startswith("vocab:"):
                raise ValueError(f"{name}: value_map only applies to vocabulary fields")
            if kind.startswith("vocab:"):
                words, _synonyms = VOCABULARIES[kind.split(":", 1)[1]]
                wrong = sorted({t for t in spec.value_map.values() if t not in words})
                if wrong:
                    raise ValueError(
                        f"{name}: value_map target(s) {', '.join(wrong)} are not in the "
                        f"vocabulary; use one of {', '.join(words)}"
                    )
        for instrument in self.scales:
            if instrument not in VOCABULARIES["instrument"][0]:
                raise ValueError(f"scales: unknown instrument {instrument!r}")
        return self

    def required_fields(self) -> set[str]:
        table = TARGET_TABLES[self.table]
        declared = {c.name for c in table.mappable if not c.nullable}
        return declared | set(self.required)


class CsvOptions(_Strict):
    delimiter: str = "auto"
    encoding: str = "auto"  # auto: UTF-8 when valid, else Windows-1252 (a superset of Latin-1)
    quote: str = '"'
    header: bool = True


class SourceMapping(_Strict):
    """A whole mapping file."""

    name: str
    description: str = ""
    extends: str | None = None
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "excel"] = "auto"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    sheet: str | int = 0
    time_zone: str | None = None
    timestamp_formats: list[str] = Field(default_factory=list)
    default_region: str | None = None
    outputs: list[Output] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_time_zone(value)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return check_region(value)


def _load_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{origin} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{origin} must be a YAML mapping with 'name' and 'outputs'")
    return data


def builtin_names() -> list[str]:
    folder = resources.files("voxloop.ingest") / "builtin"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def _builtin_raw(name: str) -> dict[str, Any]:
    resource = resources.files("voxloop.ingest") / "builtin" / f"{name}.yaml"
    return _load_yaml(resource.read_text(encoding="utf-8"), f"built-in mapping '{name}'")


def _merge(base: MappingABC[str, Any], override: MappingABC[str, Any]) -> dict[str, Any]:
    """Deep merge for ``extends:``: dictionaries key by key, ``outputs`` position by position
    (so overriding one field keeps the others); ``null`` removes an inherited key."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif key == "outputs" and isinstance(value, list) and isinstance(out.get(key), list):
            inherited = list(out[key])
            merged = [
                _merge(inherited[i], item)
                if i < len(inherited) and isinstance(item, dict) and isinstance(inherited[i], dict)
                else item
                for i, item in enumerate(value)
            ]
            out[key] = merged + inherited[len(value) :]
        else:
            out[key] = value
    return out


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    got = err.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
    return f"{where}: {err['msg']}{shown}"


def parse_mapping(data: dict[str, Any], origin: str) -> SourceMapping:
    if data.get("extends"):
        parent = data["extends"]
        if parent not in builtin_names():
            raise MappingError(
                f"{origin}: extends unknown built-in mapping '{parent}'",
                hint=f"built-in mappings: {', '.join(builtin_names())}",
            )
        data = _merge(_builtin_raw(parent), data)
    try:
        return SourceMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise MappingError(
            f"{origin} is not a valid mapping: {problems}",
            hint="see the commented example in sources/example.yaml",
        ) from exc


def load_mapping(name: str, workspace_sources: Path | None) -> SourceMapping:
    """The workspace's ``sources/NAME.yaml`` if present, else the built-in of that name."""
    if workspace_sources is not None:
        path = workspace_sources / f"{name}.yaml"
        if path.is_file():
            data = _load_yaml(path.read_text(encoding="utf-8"), str(path))
            data.setdefault("name", name)
            return parse_mapping(data, str(path))
    if name in builtin_names():
        return parse_mapping(_builtin_raw(name), f"built-in mapping '{name}'")
    if name != name.lower():
        return load_mapping(name.lower(), workspace_sources)
    local = (
        sorted(p.stem for p in workspace_sources.glob("*.yaml") if p.stem != "example")
        if workspace_sources is not None and workspace_sources.is_dir()
        else []
    )
    close = difflib.get_close_matches(name, [*builtin_names(), *local], n=1)
    raise UnknownSourceError(
        f"no mapping named '{name}'" + (f" — did you mean '{close[0]}'?" if close else ""),
        hint=f"built-in: {', '.join(builtin_names())}"
        + (f"; in this workspace: {', '.join(local)}" if local else "")
        + f"; or write sources/{name}.yaml",
    )
