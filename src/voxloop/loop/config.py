"""``loop.yaml``: which signals open a case, how priority is weighed, the hubs that work the
cases around the clock, the fallback promise, warnings and escalation, notifications.

Everything is checked when the file is read, so that a typo is reported with the file, the
field and what to write — never discovered in the middle of a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voxloop.errors import ConfigError
from voxloop.metrics import Calendar, CalendarSpec, SlaConfig, Target, build_calendar
from voxloop.metrics import parse_duration as _parse_duration
from voxloop.model.vocab import CHANNELS, INSTRUMENTS, SURVEY_KINDS, canonical_word

PRIORITY_FACTORS = ("criticality", "value", "influence", "channel", "waited")
DEFAULT_WEIGHTS = {
    "criticality": 0.4,
    "value": 0.25,
    "influence": 0.2,
    "channel": 0.1,
    "waited": 0.05,
}
DEFAULT_CHANNEL_WEIGHTS = {
    "social": 1.0,
    "forum": 0.9,
    "phone": 0.7,
    "callback": 0.7,
    "mail": 0.6,
    "email": 0.5,
    "chat": 0.5,
    "store": 0.5,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class When(_Strict):
    """Conditions of a rule; all given conditions must hold."""

    instrument: str | list[str] | None = None
    score_at_most: float | None = None
    score_at_least: float | None = None
    survey_kind: str | list[str] | None = None
    channel: str | list[str] | None = None
    sentiment_at_most: float | None = Field(default=None, ge=-1, le=1)
    themes: list[str] | None = None
    followers_at_least: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> When:
        if not self.model_dump(exclude_none=True):
            raise ValueError("a rule needs at least one condition (e.g. score_at_most: 6)")
        return self


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    label: str | dict[str, str] | None = None
    when: When
    criticality: float | None = Field(default=None, ge=0, le=1)
    bypass_cooling_off: bool = False


class PrioritySpec(_Strict):
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    channel_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_WEIGHTS))
    critical_themes: list[str] = Field(default_factory=lambda: ["safety", "legal"])
    value_reference: float | None = Field(default=None, gt=0)
    followers_reference: float = Field(default=100_000, gt=0)


class HubSpec(_Strict):
    calendar: str | None = None
    time_zone: str | None = None
    hours: str | dict[str, list[str] | str] | None = None
    holidays: str | None = None
    agents: int = Field(default=1, ge=1)
    lead: str | None = None
    escalation: list[str] = Field(default_factory=list)


class TargetFallback(_Strict):
    first_response: str | float = "24h"
    resolution: str | float = "7d"
    calendar: str | None = None


class CaseTarget(_Strict):
    """A channel's promise for *cases* when it differs from sla.yaml's (a phone line answers
    in 60 s, but an unhappy caller is called back within hours)."""

    first_response: str | float | None = None
    resolution: str | float | None = None
    calendar: str | None = None


class LoopFile(_Strict):
    rules: list[RuleSpec] = Field(default_factory=list)
    cooling_off_days: float = Field(default=7, ge=0)
    priority: PrioritySpec = Field(default_factory=PrioritySpec)
    priority_weights: dict[str, float] | None = None  # short form of priority.weights
    hubs: dict[str, HubSpec] = Field(default_factory=dict)
    default_target: TargetFallback = Field(default_factory=TargetFallback)
    case_targets: dict[str, CaseTarget] = Field(default_factory=dict)
    max_signal_age_days: float = Field(default=30, gt=0)
    people: dict[str, str] = Field(default_factory=dict)  # name → e-mail address
    warn_at: float = Field(default=0.75, gt=0, lt=1)
    escalate_every: float = Field(default=0.5, gt=0)
    resurvey_after_days: float = Field(default=14, ge=0)
    notify: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    label: dict[str, str]
    when: When
    criticality: float | None
    bypass_cooling_off: bool


@dataclass(frozen=True)
class Hub:
    """A team that works cases during its own opening hours."""

    name: str
    calendar: Calendar
    agents: int
    lead: str | None
    escalation: tuple[str, ...]


@dataclass(frozen=True)
class Promise:
    """What a case on a channel is promised: first response and resolution, each on the
    calendar of its business hours or around the clock (calendar ``None``)."""

    channel: str
    first_response: Target
    resolution: Target
    response_calendar: str | None
    resolution_calendar: str | None
    source: str  # where it comes from, said in explanations


@dataclass(frozen=True)
class LoopConfig:
    rules: tuple[Rule, ...]
    cooling_off_s: float
    weights: dict[str, float]
    channel_weights: dict[str, float]
    critical_themes: frozenset[str]
    value_reference: float | None
    followers_reference: float
    hubs: dict[str, Hub]
    calendars: dict[str, Calendar]  # sla.yaml's and the hubs'
    promises: dict[str, Promise]
    fallback: Promise
    warn_at: float
    escalate_every: float
    resurvey_after_s: float
    max_signal_age_s: float = 30 * 86400
    people: dict[str, str] = field(default_factory=dict)
    notify: dict[str, Any] | None = None
    where: str = "loop.yaml"
    hub_order: tuple[str, ...] = field(default=())

    def promise(self, channel: str | None) -> Promise:
        return self.promises.get(channel or "", self.fallback)


def _where_error(where: str, exc: ValidationError) -> ConfigError:
    problem = exc.errors()[0]
    loc = ".".join(str(p) for p in problem["loc"]) or "(top level)"
    return ConfigError(
        f"{where}: {loc}: {problem['msg']}",
        hint="see the comments in the template loop.yaml (voxloop init writes one)",
    )


def _hub_calendar(name: str, spec: HubSpec, sla: SlaConfig, where: str) -> Calendar:
    if spec.calendar is not None:
        if spec.time_zone or spec.hours or spec.holidays:
            raise ConfigError(
                f"{where}: hubs.{name}: give either calendar or time_zone/hours, not both",
                hint="calendar: names one of sla.yaml's calendars",
            )
        if spec.calendar not in sla.calendars:
            raise ConfigError(
                f"{where}: hubs.{name}: unknown calendar {spec.calendar!r}",
                hint=f"sla.yaml declares: {', '.join(sla.calendars) or 'no calendar'}",
            )
        return sla.calendars[spec.calendar]
    if spec.time_zone is None or spec.hours is None:
        raise ConfigError(
            f"{where}: hubs.{name} needs its opening hours",
            hint='write time_zone: Europe/Paris and hours: "08:00-20:00" (every day) or '
            'hours: {mon: ["08:00-12:00", "13:00-18:00"], …}, or calendar: <sla.yaml name>',
        )
    hours: dict[str, list[str]]
    if isinstance(spec.hours, str):
        hours = {d: [spec.hours] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    else:
        hours = {d: [v] if isinstance(v, str) else v for d, v in spec.hours.items()}
    try:
        cal_spec = CalendarSpec(time_zone=spec.time_zone, hours=hours, holidays=spec.holidays)
    except ValidationError as exc:
        raise ConfigError(
            f"{where}: hubs.{name}: {exc.errors()[0]['msg']}", hint="use e.g. Europe/Paris"
        ) from exc
    return build_calendar(f"hub:{name}", cal_spec, f"{where}: hubs.{name}")


def _duration(value: str | float, where: str) -> float:
    try:
        seconds, _business = _parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return seconds


def _target(value: str | float, where: str) -> Target:
    try:
        seconds, business = _parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if seconds <= 0:
        raise ConfigError(f"{where}: a promise must be longer than zero", hint="e.g. 24h")
    return Target(seconds, business)


def _timed(
    value: str | float, calendar: str | None, calendars: dict[str, Calendar], where: str
) -> tuple[Target, str | None]:
    """A promise and the calendar it runs on (``None`` unless it counts business time)."""
    target = _target(value, where)
    if not target.business:
        return target, None
    if calendar is None:
        raise ConfigError(
            f"{where} counts business time but names no calendar",
            hint="add calendar: <a calendar of sla.yaml>",
        )
    if calendar not in calendars:
        raise ConfigError(
            f"{where}: unknown calendar {calendar!r}",
            hint=f"calendars: {', '.join(calendars) or 'none declared in sla.yaml'}",
        )
    return target, calendar


def _promises(sla: SlaConfig, spec: LoopFile, fallback: Promise, where: str) -> dict[str, Promise]:
    """Per channel: loop.yaml's case_targets, else sla.yaml's targets, field by field, else
    the default — so every case has both deadlines."""
    out: dict[str, Promise] = {}
    case_targets = {canonical_word("channel", c) or c: t for c, t in spec.case_targets.items()}
    for channel in sorted(set(sla.channels) | set(case_targets)):
        first, first_cal = fallback.first_response, fallback.response_calendar
        res, res_cal = fallback.resolution, fallback.resolution_calendar
        sources = []
        if channel in sla.first_response:
            first = sla.first_response[channel]
            first_cal = sla.calendar_of.get(channel) if first.business else None
            sources.append("sla.yaml")
        if channel in sla.resolution:
            res = sla.resolution[channel]
            res_cal = sla.calendar_of.get(channel) if res.business else None
            sources.append("sla.yaml")
        override = case_targets.get(channel)
        if override is not None:
            here = f"{where}: case_targets.{channel}"
            if override.first_response is not None:
                first, first_cal = _timed(
                    override.first_response, override.calendar, sla.calendars,
                    f"{here}.first_response",
                )  # fmt: skip
                sources.append("loop.yaml case_targets")
            if override.resolution is not None:
                res, res_cal = _timed(
                    override.resolution, override.calendar, sla.calendars, f"{here}.resolution"
                )
                sources.append("loop.yaml case_targets")
        out[channel] = Promise(
            channel, first, res, first_cal, res_cal,
            " + ".join(dict.fromkeys(sources)) or "loop.yaml default_target",
        )  # fmt: skip
    return out


def _fallback(spec: TargetFallback, calendars: dict[str, Calendar], where: str) -> Promise:
    here = f"{where}: default_target"
    first, first_cal = _timed(
        spec.first_response, spec.calendar, calendars, f"{here}.first_response"
    )
    res, res_cal = _timed(spec.resolution, spec.calendar, calendars, f"{here}.resolution")
    return Promise("*", first, res, first_cal, res_cal, "loop.yaml default_target")


def _channels(value: str | list[str] | None, where: str) -> None:
    for word in [value] if isinstance(value, str) else value or []:
        if (canonical_word("channel", word) or word) not in CHANNELS:
            raise ConfigError(
                f"{where}: unknown channel {word!r}", hint=f"channels: {', '.join(CHANNELS)}"
            )


def _words(
    vocabulary: str, allowed: tuple[str, ...], value: str | list[str] | None, where: str
) -> None:
    for word in [value] if isinstance(value, str) else value or []:
        if (canonical_word(vocabulary, word) or word) not in allowed:
            raise ConfigError(
                f"{where}: unknown {vocabulary.replace('_', ' ')} {word!r} (this rule would "
                "never match)",
                hint=f"use one of: {', '.join(allowed)}",
            )


def load_loop(path: Path, sla: SlaConfig) -> LoopConfig:
    """Read and check ``loop.yaml`` against the workspace's ``sla.yaml``."""
    where = str(path)
    raw: Any = {}
    if path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{where} is not valid YAML: {exc}", hint="fix the indentation"
            ) from exc
    try:
        spec = LoopFile.model_validate(raw)
    except ValidationError as exc:
        raise _where_error(where, exc) from exc
    weights = dict(spec.priority.weights)
    if spec.priority_weights is not None:
        weights = dict(spec.priority_weights)
    unknown = sorted(set(weights) - set(PRIORITY_FACTORS))
    if unknown:
        raise ConfigError(
            f"{where}: priority weights: unknown factor {unknown[0]!r}",
            hint=f"factors: {', '.join(PRIORITY_FACTORS)}",
        )
    if any(w < 0 or not math.isfinite(w) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError(
            f"{where}: priority weights must be positive numbers, not all zero",
            hint="e.g. {criticality: 0.4, value: 0.25, influence: 0.2, channel: 0.1, waited: 0.05}",
        )
    total = sum(weights.values())
    weights = {f: weights.get(f, 0.0) / total for f in PRIORITY_FACTORS}
    ids = [r.id for r in spec.rules]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ConfigError(
            f"{where}: rule id {duplicated[0]!r} is used twice",
            hint="each rule needs its own id: it is the reason cases are de-duplicated on",
        )
    for i, rule in enumerate(spec.rules):
        here = f"{where}: rules[{i}] ({rule.id}).when"
        _channels(rule.when.channel, f"{here}.channel")
        _words("instrument", INSTRUMENTS, rule.when.instrument, f"{here}.instrument")
        _words("survey_kind", SURVEY_KINDS, rule.when.survey_kind, f"{here}.survey_kind")
    _channels(list(spec.case_targets), f"{where}: case_targets")
    _channels(list(spec.priority.channel_weights), f"{where}: priority.channel_weights")
    hubs = {
        name: Hub(
            name,
            _hub_calendar(name, hub, sla, where),
            hub.agents,
            hub.lead,
            tuple(hub.escalation),
        )
        for name, hub in spec.hubs.items()
    }
    calendars = dict(sla.calendars) | {h.calendar.name: h.calendar for h in hubs.values()}
    fallback = _fallback(spec.default_target, sla.calendars, where)
    rules = tuple(
        Rule(
            r.id,
            {"en": r.label, "fr": r.label}
            if isinstance(r.label, str)
            else dict(r.label or {"en": r.id, "fr": r.id}),
            r.when,
            r.criticality,
            r.bypass_cooling_off,
        )
        for r in spec.rules
    )
    return LoopConfig(
        rules=rules,
        cooling_off_s=spec.cooling_off_days * 86400,
        weights=weights,
        channel_weights={
            canonical_word("channel", c) or c: w for c, w in spec.priority.channel_weights.items()
        },
        critical_themes=frozenset(spec.priority.critical_themes),
        value_reference=spec.priority.value_reference,
        followers_reference=spec.priority.followers_reference,
        hubs=hubs,
        calendars=calendars,
        promises=_promises(sla, spec, fallback, where),
        fallback=fallback,
        warn_at=spec.warn_at,
        escalate_every=spec.escalate_every,
        resurvey_after_s=_duration(spec.resurvey_after_days * 86400, where),
        max_signal_age_s=spec.max_signal_age_days * 86400,
        people=dict(spec.people),
        notify=spec.notify,
        where=where,
        hub_order=tuple(hubs),
    )
