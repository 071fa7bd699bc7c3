"""The command line, through Typer's runner, on real workspaces."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from voxloop.cli import app

from .test_bad_input import HEADER


def _init(runner: CliRunner, root: Path) -> Path:
    result = runner.invoke(app, ["init", str(root), "--company", 'Acme "SAS"'])
    assert result.exit_code == 0, result.output
    return root


def test_init_writes_bilingual_templates(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    for name in (
        "voxloop.toml",
        "sources/example.yaml",
        "taxonomy.yaml",
        "sla.yaml",
        "journeys.yaml",
        "loop.yaml",
        "voxloop.duckdb",
    ):
        assert (root / name).exists(), name
    toml = (root / "voxloop.toml").read_text(encoding="utf-8")
    assert 'company = "Acme \\"SAS\\""' in toml
    assert "Fuseau horaire" in toml and "Time zone" in toml
    again = runner.invoke(app, ["init", str(root)])
    assert again.exit_code == 1 and "already a voxloop workspace" in again.output


def test_ingest_json_status_and_quarantine(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    data = tmp_path / "c.csv"
    data.write_text(
        HEADER + "1,,,chat,2024-03-01 10:00:00,,\n2,,,chat,demain,,\n", encoding="utf-8"
    )
    result = runner.invoke(
        app, ["ingest", str(data), "--source", "contacts", "-w", str(root), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"load_id", "rows_read", "rows_loaded", "rows_quarantined", "duplicates_skipped"} <= set(
        payload
    )
    assert (payload["rows_read"], payload["rows_loaded"], payload["rows_quarantined"]) == (2, 1, 1)

    status = json.loads(runner.invoke(app, ["status", "-w", str(root), "-f", "json"]).stdout)
    assert status["tables"]["interactions"] == 1
    assert status["interactions_by_channel"] == {"chat": 1}
    assert status["last_loads"][0]["load_id"] == payload["load_id"]

    quarantined = runner.invoke(
        app, ["quarantine", "--load", str(payload["load_id"]), "-w", str(root), "-f", "json"]
    )
    [row] = json.loads(quarantined.stdout)
    assert row["row_number"] == 2 and "demain" in row["reason"]

    human = runner.invoke(app, ["ingest", str(data), "-s", "contacts", "-w", str(root)])
    assert human.exit_code == 0 and "unchanged" in human.output


def test_workspace_from_environment_variable(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    result = runner.invoke(app, ["sources", "-f", "json"], env={"VOXLOOP_WORKSPACE": str(root)})
    assert result.exit_code == 0, result.output
    names = {s["name"] for s in json.loads(result.stdout)}
    assert {"contacts", "surveys", "mentions", "cfpb", "twcs"} <= names


def test_user_errors_exit_1_with_a_hint_and_no_traceback(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    missing = runner.invoke(
        app, ["ingest", str(tmp_path / "nope.csv"), "-s", "contacts", "-w", str(root)]
    )
    assert missing.exit_code == 1
    assert "no such file" in missing.output and "Traceback" not in missing.output
    nowhere = runner.invoke(app, ["status", "-w", str(tmp_path / "empty")])
    assert nowhere.exit_code == 1 and "voxloop init" in nowhere.output
    usage = runner.invoke(app, ["ingest", str(tmp_path / "x.csv"), "-w", str(root)])
    assert usage.exit_code == 2  # --source is required


def test_config_shows_origins(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    result = runner.invoke(
        app, ["config", "-w", str(root), "-f", "json"], env={"VOXLOOP_DEFAULT_REGION": "BE"}
    )
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["default_region"]["value"] == "BE"
    assert rows["default_region"]["origin"] == "environment VOXLOOP_DEFAULT_REGION"
    assert rows["company"]["value"] == 'Acme "SAS"'


def test_demo_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "--dir", str(tmp_path / "demo"), "--no-serve", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    by_source = {load["source"]: load for load in info["loads"]}
    assert by_source["cfpb"]["tables"] == {"interactions": 6623, "feedback": 1532}
    assert all(load["rows_quarantined"] == 0 for load in info["loads"])
    assert info["resolution"]["customers_created"] > 1000  # one customer across channels
    assert info["status"]["tables"]["customers"] == info["resolution"]["customers_created"]
    indicators = info["indicators"]
    [nps] = indicators["nps"]
    assert nps["n"] > 1000 and nps["ci_low"] < nps["value"] < nps["ci_high"]
    # the planted broken digital process: self-care users end up calling far more often
    switching = {r["channel"]: r for r in indicators["channel-switching"]}
    assert switching["self_care"]["value"] > 2 * switching["email"]["value"]
    assert switching["self_care"]["ci_low"] > switching["email"]["ci_high"]
    [abandoned] = indicators["abandonment"]
    assert 0.03 < abandoned["value"] < 0.12  # 7 % of calls hang up
    channels = info["status"]["interactions_by_channel"]
    assert {"phone", "email", "chat", "social", "callback", "store", "mail", "self_care"} <= set(
        channels
    )
    # running it again re-uses the workspace and adds nothing twice
    again = json.loads(
        runner.invoke(
            app, ["demo", "--dir", str(tmp_path / "demo"), "--no-serve", "-f", "json"]
        ).stdout
    )
    ledgers = ("loads", "loop_runs")  # they record every run, even one that changes nothing
    unchanged = {k: v for k, v in info["status"]["tables"].items() if k not in ledgers}
    assert {k: v for k, v in again["status"]["tables"].items() if k not in ledgers} == unchanged
    assert {load["status"] for load in again["loads"]} == {"unchanged"}
    assert again["resolution"]["mode"] == "nothing"
    assert info["loop"]["opened"] > 100 and again["loop"]["opened"] == 0
    assert info["text"]["analysed"] > 1000 and set(info["text"]["by_language"]) == {"en", "fr"}
    assert again["text"]["analysed"] == 0  # every verbatim is analysed once
    assert again["status"]["tables"]["loop_runs"] == 2


def test_csv_output_and_partial_failures(runner: CliRunner, tmp_path: Path) -> None:
    root = _init(runner, tmp_path / "w")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "1,,,chat,2024-03-01 10:00:00,,\n", encoding="utf-8")
    later = tmp_path / "later.csv"
    later.write_text(HEADER + "2,,,chat,2024-03-01 10:00:00,,\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "ingest",
            str(good),
            str(tmp_path / "missing.csv"),
            str(later),
            "-s",
            "contacts",
            "-w",
            str(root),
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 1  # one file failed…
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["committed", "failed", "committed"]  # …the others not
    assert "no such file" in rows[1]["error"]
    status = runner.invoke(app, ["status", "-w", str(root), "-f", "csv"])
    lines = status.stdout.splitlines()
    assert lines[0] == "table,rows" and "interactions,2" in lines
    bad_limit = runner.invoke(app, ["quarantine", "--limit", "-1", "-w", str(root)])
    assert bad_limit.exit_code == 2
    unknown = runner.invoke(app, ["quarantine", "--load", "999", "-w", str(root)])
    assert unknown.exit_code == 1 and "no load 999" in unknown.output


def test_init_on_a_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    target.write_text("x\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 1 and "is a file, not a folder" in result.output


def test_progress_goes_through_every_stage_in_order(tmp_path: Path) -> None:
    from voxloop import Workspace
    from voxloop.ingest import STAGES

    seen: list[tuple[str, float]] = []
    data = tmp_path / "c.csv"
    data.write_text(
        HEADER + "".join(f"{i},,,chat,2024-03-01 10:00:00,,\n" for i in range(500)),
        encoding="utf-8",
    )
    with Workspace.init(tmp_path / "w") as ws:
        ws.ingest([data], source="contacts", progress=lambda s, f: seen.append((s, f)))
    order = list(dict.fromkeys(stage for stage, _ in seen))
    assert order == list(STAGES)
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    assert ("identities", 1.0) in seen
