"""Probabilistic matching (Splink on DuckDB, for real) on a population with planted truth:
people known under two unrelated identities, with their name written another way."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import write
from voxloop import Workspace
from voxloop.cli import app
from voxloop.demo.population import write_named_population
from voxloop.errors import ConfigError, UserError

PEOPLE_MAPPING = "extends: contacts\noutputs:\n  - fields:\n      customer_name: name\n"
SETTINGS = '[voxloop]\nfuzzy_fields = {address = "address", postcode = "postcode", city = "city"}\n'


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resolved workspace of 1,500 people (≈ 6 % of them also under a second identity),
    built once; each test works on a copy."""
    root = tmp_path_factory.mktemp("named") / "ws"
    with Workspace.init(root) as ws:
        (root / "voxloop.toml").write_text(SETTINGS, encoding="utf-8")
        (root / "sources" / "people.yaml").write_text(PEOPLE_MAPPING, encoding="utf-8")
    with Workspace.open(root) as ws:
        people = write_named_population(root.parent / "people.csv", people=1500)
        ws.ingest([people], source="people")
        ws.resolve()
    return root


@pytest.fixture
def named(resolved: Path, tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    shutil.copytree(resolved, root)
    with Workspace.open(root) as ws:
        yield ws


def truth_of(ws: Workspace) -> dict[str, str]:
    """Each customer's planted person (deterministic resolution never mixes two)."""
    rows = ws.query(
        "SELECT customer_id, min(attributes->>'$.truth') AS truth, "
        "count(DISTINCT attributes->>'$.truth') AS people FROM interactions GROUP BY 1"
    ).to_pylist()
    assert all(r["people"] == 1 for r in rows)
    return {r["customer_id"]: r["truth"] for r in rows}


def planted_pairs(ws: Workspace) -> tuple[set[frozenset[str]], set[frozenset[str]]]:
    """Pairs of named customers that are one person: those a merge may join, and those it
    may not (each side holds its own customer number)."""
    truth = truth_of(ws)
    named = {
        r["customer_id"]
        for r in ws.query(
            "SELECT DISTINCT customer_id FROM interactions WHERE customer_name IS NOT NULL"
        ).to_pylist()
    }
    accounts = {
        r["customer_id"]
        for r in ws.query(
            "SELECT DISTINCT customer_id FROM identities WHERE kind = 'account' "
            "AND status = 'linked'"
        ).to_pylist()
    }
    by_person: dict[str, list[str]] = {}
    for customer in sorted(named):
        by_person.setdefault(truth[customer], []).append(customer)
    mergeable: set[frozenset[str]] = set()
    conflicting: set[frozenset[str]] = set()
    for customers in by_person.values():
        for a, b in combinations(customers, 2):
            both = a in accounts and b in accounts
            (conflicting if both else mergeable).add(frozenset((a, b)))
    return mergeable, conflicting


def pairs(out: dict[str, Any], status: str) -> set[frozenset[str]]:
    return {
        frozenset((m["customer_id"], m["other_id"]))
        for m in out["matches"]
        if m["status"].startswith(status)
    }


def test_planted_duplicates_are_found_and_nothing_is_merged(named: Workspace) -> None:
    customers_before = named.query("SELECT count(*) AS n FROM customers").to_pylist()
    out = named.link_probabilistic()
    mergeable, conflicting = planted_pairs(named)
    found, blocked = pairs(out, "match"), pairs(out, "blocked")
    precision, recall = _scores(found, mergeable)
    # measured: 47 matches, all right (precision 1.0), recall 0.68 of the 69 pairs a merge may
    # join; the misses moved house (9) or left only their name and postcode (p ≈ 0.9)
    assert precision >= 0.98 and recall >= 0.6, (precision, recall, len(found))
    assert blocked and blocked <= conflicting  # two customer numbers: reported, never merged
    assert out["threshold"] == 0.99 and out["applied"] is False and out["merged"] == 0
    assert named.query("SELECT count(*) AS n FROM customers").to_pylist() == customers_before
    assert named.query("SELECT count(*) AS n FROM customer_merges").to_pylist() == [{"n": 0}]
    # every match says why: each field's level and weight, which add up to the match weight
    match = out["matches"][0]
    fields = {w["field"]: w for w in match["explanation"]}
    assert fields["name"]["level"] in ("same name", "last name one letter apart")
    assert fields["name"]["weight"] > 5
    total = out["model"]["prior_weight"] + sum(w["weight"] for w in match["explanation"])
    assert total == pytest.approx(match["match_weight"], abs=0.05)
    # households (one surname, one address, another first name) are never matched
    assert all(
        {w["field"]: w["level"] for w in m["explanation"]}["name"]
        in ("same name", "last name one letter apart")
        for m in out["matches"]
    )
    # a lower threshold finds more (measured at 0.5: precision 1.0, recall 0.84); the model
    # is retrained each run and may differ in the last digits (DuckDB sums in parallel)
    looser = named.link_probabilistic(threshold=0.5)
    assert pairs(looser, "match") > found
    precision, recall = _scores(pairs(looser, "match"), mergeable)
    assert precision >= 0.95 and recall >= 0.8, (precision, recall)


def _scores(found: set[frozenset[str]], true: set[frozenset[str]]) -> tuple[float, float]:
    return len(found & true) / len(found), len(found & true) / len(true)


def test_applied_merges_are_logged_with_their_reasons_and_kept(named: Workspace) -> None:
    out = named.link_probabilistic(apply=True)
    merged = [m for m in out["matches"] if m["status"].startswith("merged")]
    assert out["merged"] == len(merged) > 0
    log = named.query(
        "SELECT merged_id, into_id, reason, evidence FROM customer_merges"
    ).to_pylist()
    assert len(log) == len(merged) and {r["reason"] for r in log} == {"probabilistic"}
    evidence = json.loads(log[0]["evidence"])
    assert evidence["p"] >= 0.99 and {"name", "address", "place"} <= set(evidence["fields"])
    level, weight = evidence["fields"]["name"]
    assert level in ("same name", "last name one letter apart") and weight > 5
    # each matched pair is one customer now, and a full resolution keeps it that way
    before = named.query("SELECT external_id, customer_id FROM interactions").to_pylist()
    for m in merged:
        ids = named.query(
            "SELECT DISTINCT merged_into IS NULL AS current FROM customers "
            "WHERE customer_id IN (?, ?)",
            [m["customer_id"], m["other_id"]],
        ).to_pylist()
        assert sorted(r["current"] for r in ids) == [False, True]
    named.resolve(full=True)
    after = named.query("SELECT external_id, customer_id FROM interactions").to_pylist()
    assert sorted(after, key=str) == sorted(before, key=str)
    # the customer numbers were respected: no merged customer holds two
    [(worst,)] = named.store.con.execute(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM identities "
        "WHERE kind = 'account' AND status = 'linked' GROUP BY customer_id)"
    ).fetchall()
    assert worst == 1
    # a second run merges nothing more
    again = named.link_probabilistic(apply=True)
    assert again["merged"] == 0


def test_cli_lists_matches_with_their_explanation(named: Workspace, runner: CliRunner) -> None:
    root = str(named.root)
    named.close()
    shown = runner.invoke(app, ["customers", "match", "-w", root, "--threshold", "0.999"])
    assert shown.exit_code == 0, shown.output
    assert "Likely the same person (p ≥ 0.999)" in shown.stdout
    assert "nothing merged (add --apply)" in shown.stdout and "blocked" in shown.stdout
    as_json = runner.invoke(app, ["customers", "match", "-w", root, "-f", "json"])
    out = json.loads(as_json.stdout)
    assert out["model"]["comparisons"]["name"][0]["level"] == "same name"
    levels = {w["level"] for w in out["matches"][0]["explanation"]}
    assert {"same address", "same postcode"} <= levels


def test_too_few_named_customers_is_said_plainly(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w").close()
    write(tmp_path / "w" / "sources" / "people.yaml", PEOPLE_MAPPING)
    # two attributes may hold one field: the first present wins
    fields = {"fuzzy_fields": {"cp": "postcode", "zip": "postcode", "ville": "city"}}
    rows = "".join(
        f"{i},p{i}@x.example,Jean Dupont{i},750{i:02d},,Paris,email,2024-01-0{1 + i % 9} 10:00\n"
        for i in range(12)
    )
    header = "contact_id,customer_email,name,cp,zip,ville,channel,started_at\n"
    with Workspace.open(tmp_path / "w", overrides=fields) as ws:
        ws.ingest([write(tmp_path / "p.csv", header + rows)], source="people")
        ws.resolve()
        with pytest.raises(UserError, match=r"at least 100 customers with a name.*there are 12"):
            ws.link_probabilistic()
        # enough customers, but no two share a name: nothing to learn the weights from
        more = "".join(
            f"{i},q{i}@x.example,Ann Ho{i},,,,email,2024-02-01 10:00\n" for i in range(100)
        )
        ws.ingest([write(tmp_path / "q.csv", header + more)], source="people")
        ws.resolve()
        with pytest.raises(UserError, match=r"only 0 pair\(s\) of customers share a name"):
            ws.link_probabilistic()


def test_without_splink_the_error_gives_the_install_command(
    named: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "splink", None)  # as if the extra were not installed
    with pytest.raises(UserError) as info:
        named.link_probabilistic()
    assert "Splink" in info.value.message and info.value.hint == "pip install 'voxloop[linkage]'"


def test_settings_are_checked(tmp_path: Path) -> None:
    for body, word in (
        ("fuzzy_threshold = 1.5\n", "between 0 and 1"),
        ('fuzzy_fields = {cp = "zip"}\n', "address, postcode or city"),
    ):
        (tmp_path / "voxloop.toml").write_text("[voxloop]\n" + body, encoding="utf-8")
        with pytest.raises(ConfigError, match=word):
            Workspace.open(tmp_path)
