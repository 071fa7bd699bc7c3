"""Dimensions an indicator can be broken down by, and how each is found on a row.

Most are columns of the canonical table; ``segment`` and ``persona`` come from the
customer, ``team``/``agent``/``hub`` of a survey answer from the contact it is about, and
the calendar ones from the row's time **in the workspace's time zone** (a Tuesday evening
contact in Paris belongs to Tuesday, not to Wednesday UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from voxloop.errors import UserError

TIME_DIMENSIONS = ("hour", "weekday", "day", "week", "month", "quarter")
CUSTOMER_DIMENSIONS = ("segment", "persona")
CONTACT_DIMENSIONS = ("team", "agent", "hub")


@dataclass(frozen=True)
class Dimension:
    name: str
    label_en: str
    label_fr: str
    tables: frozenset[str]  # canonical tables that have it (directly or by a join)


def _d(name: str, en: str, fr: str, *tables: str) -> Dimension:
    return Dimension(name, en, fr, frozenset(tables or ("interactions", "feedback")))


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        _d("channel", "Channel", "Canal"),
        _d("source", "Source", "Source"),
        _d("organisation", "Organisation", "Organisation"),
        _d("reason", "Contact reason", "Motif de contact"),
        _d("team", "Team", "Équipe"),
        _d("agent", "Agent", "Conseiller"),
        _d("hub", "Hub", "Site"),
        _d("segment", "Segment", "Segment"),
        _d("persona", "Persona", "Persona"),
        _d("direction", "Direction", "Sens", "interactions"),
        _d("touchpoint", "Touchpoint", "Point de contact", "interactions"),
        _d("outcome", "Outcome", "Issue", "interactions"),
        _d("survey_kind", "Survey kind", "Type d'enquête", "feedback"),
        _d("instrument", "Instrument", "Instrument", "feedback"),
        _d("platform", "Platform", "Plateforme", "feedback"),
        _d("hour", "Hour of day", "Heure", "interactions", "feedback"),
        _d("weekday", "Day of week (1 = Monday)", "Jour (1 = lundi)"),
        _d("day", "Day", "Jour"),
        _d("week", "Week", "Semaine"),
        _d("month", "Month", "Mois"),
        _d("quarter", "Quarter", "Trimestre"),
    )
}
ALIASES = {
    "survey-kind": "survey_kind",
    "survey kind": "survey_kind",
    "kind": "survey_kind",
    "site": "hub",
    "org": "organisation",
    "organization": "organisation",
    "canal": "channel",
    "equipe": "team",
    "équipe": "team",
    "motif": "reason",
    "mois": "month",
    "semaine": "week",
    "jour": "day",
    "trimestre": "quarter",
}


def canonical_dimension(word: str) -> str:
    """The dimension a user means by ``word``; an unknown word names the valid ones."""
    key = word.strip().lower()
    key = ALIASES.get(key, key)
    if key not in DIMENSIONS:
        raise UserError(
            f"unknown dimension {word!r}",
            hint=f"dimensions: {', '.join(DIMENSIONS)}",
        )
    return key


def period_label(dimension: str, value: object) -> object:
    """A readable, sortable label for a calendar dimension's raw value."""
    if value is None:
        return None
    if dimension in ("hour", "weekday"):
        return int(value)  # type: ignore[call-overload]
    day = value.date() if isinstance(value, datetime) else value
    if not isinstance(day, date):
        return value
    if dimension == "day":
        return day.isoformat()
    if dimension == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if dimension == "month":
        return f"{day.year}-{day.month:02d}"
    if dimension == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return value
