"""`voxloop kpi` and `voxloop sla` as a user runs them, on real data."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voxloop import Workspace
from voxloop.cli import app

DATA = Path(__file__).parent / "data" / "conformance"

# CFPB "Submitted via" words, and the channel a CX team would file them under
CFPB_CHANNELS = {
    "Web": "web_form",
    "Phone": "phone",
    "Referral": "referral",
    "Postal mail": "mail",
    "Fax": "fax",
    "Email": "email",
}


@pytest.fixture
def small(ws: Workspace) -> Workspace:
    shutil.copy(DATA / "sla.yaml", ws.root / "sla.yaml")
    ws.ingest([DATA / "contacts.csv"], source="contacts")
    ws.ingest([DATA / "surveys.csv"], source="surveys")
    return ws


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_declared_sla_on_the_real_cfpb_sample_is_exact(
    runner: CliRunner, ws: Workspace, shared_data: Path
) -> None:
    sample = shared_data / "cfpb-complaints" / "complaints_sample.csv"
    ws.ingest([sample], source="cfpb")
    code, out, err = run(
        runner, "kpi", "declared-sla", "--by", "channel", "--format", "json", "-w", str(ws.root)
    )
    assert code == 0, err
    got = {r["channel"]: (r["value"], r["n"]) for r in json.loads(out)}
    yes: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    with sample.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Timely response?"] in ("Yes", "No"):
                channel = CFPB_CHANNELS[row["Submitted via"]]
                answered[channel] += 1
                yes[channel] += row["Timely response?"] == "Yes"
    assert got == {c: (yes[c] / answered[c], answered[c]) for c in answered}


def test_kpi_json_rows_have_the_documented_shape(runner: CliRunner, small: Workspace) -> None:
    code, out, _ = run(
        runner, "kpi", "nps", "--by", "survey-kind", "--format", "json", "-w", str(small.root)
    )
    assert code == 0
    rows = json.loads(out)
    assert [set(r) for r in rows] == [
        {"survey_kind", "value", "n", "ci_low", "ci_high", "low_sample"}
    ] * 2
    assert {r["survey_kind"]: r["n"] for r in rows} == {"cold": 2, "hot": 4}


def test_kpi_table_output_is_readable(runner: CliRunner, small: Workspace) -> None:
    code, out, _ = run(runner, "kpi", "service-level", "--by", "channel", "-w", str(small.root))
    assert code == 0
    assert "80.0 %" in out and "first_response" in out and "low" in out


def test_kpi_list_names_every_indicator(runner: CliRunner) -> None:
    code, out, _ = run(runner, "kpi", "--list", "--format", "json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)}
    assert {"nps", "csat", "ces", "fcr", "fcr-declared", "frt", "service-level"} <= names
    assert all(r["definition_fr"] and r["definition_en"] for r in json.loads(out))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kpi", "nsp"], "unknown indicator 'nsp'"),
        (["kpi", "nps", "--by", "colour"], "unknown dimension 'colour'"),
        (["kpi", "volume", "--by", "survey_kind"], "volume cannot be broken down by survey_kind"),
        (["kpi", "nps", "--from", "31/01/2024"], "is not a date"),
        (["kpi", "nps", "--from", "2024-02-01", "--to", "2024-01-01"], "ends"),
        (["kpi", "nps", "--filter", "channel"], "is not DIMENSION=VALUE"),
        (["kpi", "volume", "--weighted"], "has no survey weights"),
        (["kpi", "nps", "--days", "3"], "--days does not apply"),
        (["kpi", "nps", "--by", "month", "--compare", "previous"], "cannot be used"),
        (["kpi", "nps", "--engine", "spark"], "needs a Parquet lake"),
    ],
)
def test_bad_requests_say_what_to_do(
    runner: CliRunner, small: Workspace, args: list[str], message: str
) -> None:
    code, _, err = run(runner, *args, "-w", str(small.root))
    assert code == 1
    assert message in " ".join(err.split())
    assert "→" in err  # a hint follows


def test_unknown_indicator_lists_the_valid_ones(runner: CliRunner, small: Workspace) -> None:
    _, _, err = run(runner, "kpi", "nsp", "-w", str(small.root))
    assert "nps" in err and "channel-switching" in err


def test_empty_period_is_n_zero_not_an_error(runner: CliRunner, small: Workspace) -> None:
    code, out, _ = run(
        runner, "kpi", "csat", "--from", "2031-01-01", "--to", "2031-01-31",
        "--format", "json", "-w", str(small.root),
    )  # fmt: skip
    assert code == 0
    assert [(r["statistic"], r["n"], r["value"]) for r in json.loads(out)] == [
        ("top2", 0, None),
        ("mean", 0, None),
    ]


def test_show_sql_prints_the_query(runner: CliRunner, small: Workspace) -> None:
    code, out, _ = run(runner, "kpi", "nps", "--by", "channel", "--show-sql", "-w", str(small.root))
    assert code == 0
    assert "SELECT" in out and "GROUP BY" in out and "feedback" in out


def test_sla_command_shows_targets(runner: CliRunner, small: Workspace) -> None:
    code, out, _ = run(runner, "sla", "--format", "json", "-w", str(small.root))
    assert code == 0
    rows = {(r["channel"], r["statistic"]): r for r in json.loads(out)}
    assert rows[("email", "first_response")]["target"] == "8 h (business hours)"
    assert rows[("phone", "first_response")]["target"] == "60 s"


def test_sla_without_opening_hours_is_refused(runner: CliRunner, small: Workspace) -> None:
    (small.root / "sla.yaml").write_text(
        "calendars:\n  c: {time_zone: Europe/Paris}\n"
        "targets:\n  email: {first_response: 8h business, calendar: c}\n",
        encoding="utf-8",
    )
    code, _, err = run(runner, "sla", "-w", str(small.root))
    assert code == 1 and "no opening hours" in err


def test_python_api_returns_arrow(small: Workspace) -> None:
    table = small.metrics.compute("nps", by=["channel", "month"])
    assert table.column_names == [
        "channel", "month", "value", "n", "ci_low", "ci_high", "low_sample",
    ]  # fmt: skip
    assert table.schema.metadata[b"unit"] == b"points"


def test_channel_mix_compares_each_channel_with_its_own_past(small: Workspace) -> None:
    rows = small.metrics.compute(
        "channel-mix", start="2024-01-15", end="2024-01-31", compare="previous"
    ).to_pylist()
    mix = {r["channel"]: r for r in rows}
    # now: c3 phone, c6 c7 c8 e-mail; the 17 days before: c1 c5 c10 c11 phone, c2 c9 e-mail,
    # c4 chat
    assert mix["phone"]["value"] == 1 / 4 and mix["phone"]["previous_value"] == 4 / 7
    assert mix["email"]["value"] == 3 / 4 and mix["email"]["previous_value"] == 2 / 7


def test_backlog_and_abandonment_ignore_sources_that_never_record_them(
    small: Workspace, shared_data: Path
) -> None:
    small.ingest([shared_data / "cfpb-complaints" / "complaints_sample.csv"], source="cfpb")
    backlog = {r["source"]: r["value"] for r in small.metrics.compute("backlog", ["source"])
               .to_pylist()}  # fmt: skip
    assert backlog == {"contacts": 6.0}  # CFPB complaints record no end: not a backlog
    sources = {r["source"] for r in small.metrics.compute("abandonment", ["source"]).to_pylist()}
    assert sources == {"contacts"}


def test_quality_on_an_empty_workspace(ws: Workspace) -> None:
    report = ws.quality()
    assert report["completeness"] == [] and report["resolution"]["customers"] == 0
