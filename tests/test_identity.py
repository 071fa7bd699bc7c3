"""Identity resolution on a population with planted truth, and its guard-rails."""

from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import write
from voxloop import Workspace
from voxloop.cli import app
from voxloop.demo.population import NOREPLY, pairwise_scores, write_population
from voxloop.errors import ConfigError, UserError

HEADER = "contact_id,customer_email,customer_phone,customer_id,channel,started_at\n"


def contacts(path: Path, *rows: str) -> Path:
    return write(path, HEADER + "".join(r + "\n" for r in rows))


def customers_of(ws: Workspace) -> dict[str, str | None]:
    return {
        r["external_id"]: r["customer_id"]
        for r in ws.query("SELECT external_id, customer_id FROM interactions").to_pylist()
    }


def test_planted_population_meets_the_targets(ws: Workspace, tmp_path: Path) -> None:
    population = write_population(tmp_path / "people.csv", people=3000)
    ws.ingest([population], source="contacts")
    result = ws.resolve()
    scores = pairwise_scores(ws.store.con)
    assert scores["precision"] >= 0.99
    assert scores["recall_linkable"] >= 0.98
    # the guard-rails: the switchboard and the noreply address are reported, never linked on
    shared = {(s["kind"], s["value"]) for s in result.shared}
    assert ("phone", "+33140000000") in shared and ("email", NOREPLY) in shared
    linked_on_switchboard = ws.query(
        "SELECT count(DISTINCT customer_id) FROM interactions WHERE customer_phone = "
        "'+33140000000' AND customer_email IS NULL AND customer_ref IS NULL "
        "AND customer_handle IS NULL"
    ).to_pylist()[0]
    assert next(iter(linked_on_switchboard.values())) == 0  # such records stay unresolved
    statuses = ws.query(
        "SELECT value, status FROM identities WHERE value IN (?, ?) ORDER BY value",
        ["+33140000000", NOREPLY],
    ).to_pylist()
    assert [s["status"] for s in statuses] == ["shared", "shared"]


def test_incremental_runs_equal_a_full_run_and_keep_ids(ws: Workspace, tmp_path: Path) -> None:
    population = write_population(tmp_path / "people.csv", people=1500)
    with population.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    body = rows[1:]
    random.Random(3).shuffle(body)  # a person's records arrive in both loads
    rows = [rows[0], *body]
    half = len(rows) // 2
    for name, part in (("a.csv", rows[1:half]), ("b.csv", rows[half:])):
        with (tmp_path / name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([rows[0], *part])
    ws.ingest([tmp_path / "a.csv"], source="contacts")
    first = ws.resolve()
    assert first.mode == "full"
    before = customers_of(ws)
    ws.ingest([tmp_path / "b.csv"], source="contacts")
    second = ws.resolve()
    assert second.mode == "incremental" and second.records < len(rows) - 1
    after = customers_of(ws)
    merged = {
        r["merged_id"]: r["into_id"]
        for r in ws.query("SELECT merged_id, into_id FROM customer_merges").to_pylist()
    }
    # ids are stable: a record keeps its customer, or follows the customer it merged into
    for record, customer in before.items():
        if customer is not None:
            assert after[record] in (customer, merged.get(customer))
    assert second.customers_merged == len(merged) > 0  # some new records bridged two customers
    # the same partition as resolving everything at once
    incremental = _partition(after)
    ws.resolve(full=True)
    assert _partition(customers_of(ws)) == incremental
    assert ws.resolve().mode == "nothing"  # nothing new: a no-op


def _partition(assignment: dict[str, str | None]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record, customer in assignment.items():
        groups.setdefault(customer or f"alone:{record}", set()).add(record)
    return {frozenset(g) for g in groups.values()}


def test_a_merge_keeps_the_older_id_and_says_why(ws: Workspace, tmp_path: Path) -> None:
    first = contacts(
        tmp_path / "1.csv",
        "1,ann@x.example,,,email,2024-01-01 10:00:00",
        "2,,06 12 34 56 78,,phone,2024-01-02 10:00:00",
    )
    ws.ingest([first], source="contacts")
    ws.resolve()
    older = customers_of(ws)
    assert older["1"] != older["2"]
    # a new contact carries both: the two customers are one person
    ws.ingest([contacts(tmp_path / "2.csv", "3,ANN@x.example ,+33 6 12 34 56 78,,chat,"
                        "2024-01-03 10:00:00")], source="contacts")  # fmt: skip
    result = ws.resolve()
    now = customers_of(ws)
    assert now["1"] == now["2"] == now["3"] == min(older["1"] or "", older["2"] or "")
    assert result.customers_merged == 1
    [merge] = ws.query("SELECT * FROM customer_merges").to_pylist()
    assert merge["into_id"] == now["1"] and merge["reason"] == "shared identifier"
    assert "+33612345678" in merge["evidence"] or "ann@x.example" in merge["evidence"]
    gone = ws.query(
        "SELECT merged_into FROM customers WHERE customer_id = ?", [merge["merged_id"]]
    ).to_pylist()
    assert gone == [{"merged_into": now["1"]}]


def test_invalid_identifiers_are_kept_and_never_linked(ws: Workspace, tmp_path: Path) -> None:
    bad = contacts(
        tmp_path / "1.csv",
        "1,not-an-email,12,,email,2024-01-01 10:00:00",
        "2,not-an-email,12,,email,2024-01-02 10:00:00",
    )
    ws.ingest([bad], source="contacts")
    result = ws.resolve()
    assert result.mode == "nothing"  # no usable identifier at all
    assert set(customers_of(ws).values()) == {None}
    kinds = {r["kind"] for r in ws.query("SELECT kind FROM identities").to_pylist()}
    assert kinds == {"invalid_email", "invalid_phone"}


def test_resolving_an_empty_store_is_a_no_op(ws: Workspace) -> None:
    result = ws.resolve()
    assert result.mode == "nothing" and "nothing to resolve" in result.notes[0]


def test_extra_identifier_columns_and_weak_kinds(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    (ws.root / "voxloop.toml").write_text(
        '[voxloop]\nidentifier_columns = {loyalty = "loyalty", cookie = "device"}\n',
        encoding="utf-8",
    )
    ws.close()
    with Workspace.open(tmp_path / "w") as ws:
        ws.ingest([write(tmp_path / "c.csv",
            "contact_id,customer_email,loyalty,cookie,channel,started_at\n"
            "1,a@x.example,L1,K9,store,2024-01-01 10:00:00\n"
            "2,b@x.example,L1,,store,2024-01-02 10:00:00\n"
            "3,c@x.example,,K9,web_form,2024-01-03 10:00:00\n")], source="contacts")  # fmt: skip
        ws.resolve()
        c = customers_of(ws)
        assert c["1"] == c["2"]  # the loyalty card links
        assert c["3"] != c["1"]  # the device cookie is weak: it links nothing
        statuses = {
            (r["kind"], r["status"]) for r in ws.query("SELECT kind, status FROM identities")
            .to_pylist()
        }  # fmt: skip
        assert ("loyalty", "linked") in statuses and ("device", "weak") in statuses


@pytest.mark.parametrize("limit", [1, 3])
def test_the_shared_limit_is_a_setting(tmp_path: Path, limit: int) -> None:
    ws = Workspace.init(tmp_path / "w")
    ws.close()
    with Workspace.open(tmp_path / "w", overrides={"identity_limits": {"phone": limit}}) as ws:
        rows = [f"{i},p{i}@x.example,06 12 34 56 78,,phone,2024-01-0{i} 10:00:00" for i in (1, 2)]
        ws.ingest([contacts(tmp_path / "c.csv", *rows)], source="contacts")
        result = ws.resolve()
        c = customers_of(ws)
        # one mobile seen with two e-mails: shared under a limit of 1, linking under 3
        assert (c["1"] == c["2"]) is (limit == 3)
        assert bool(result.shared) is (limit == 1)


# -- manual decisions, the customer file, the quality report ----------------------------------


@pytest.fixture
def pair(ws: Workspace, tmp_path: Path) -> Workspace:
    rows = contacts(
        tmp_path / "c.csv",
        "1,ann@x.example,06 12 34 56 78,,email,2024-01-01 10:00:00",
        "2,,06 12 34 56 78,,phone,2024-01-02 10:00:00",
        "3,bob@x.example,,,chat,2024-01-03 10:00:00",
    )
    ws.ingest([rows], source="contacts")
    ws.resolve()
    return ws


def test_split_detaches_an_identifier_for_good(pair: Workspace) -> None:
    c = customers_of(pair)
    assert c["1"] == c["2"]
    out = pair.split_identifier(str(c["1"]), "phone:+33612345678", note="the family phone")
    after = customers_of(pair)
    assert after["1"] == c["1"]  # the e-mail's record keeps the id
    assert after["2"] == out["new_customer"] != c["1"]  # the phone-only record is apart
    pair.resolve(full=True)  # later runs respect the rule
    assert customers_of(pair) == after


def test_merge_by_hand_survives_a_full_run(pair: Workspace) -> None:
    c = customers_of(pair)
    out = pair.merge_customers(str(c["3"]), str(c["1"]), note="same person, says the agent")
    assert out == {"kept": min(str(c["1"]), str(c["3"])), "merged": max(str(c["1"]), str(c["3"]))}
    assert len(set(customers_of(pair).values())) == 1
    pair.resolve(full=True)
    assert len(set(customers_of(pair).values())) == 1
    [log] = pair.query("SELECT reason, evidence FROM customer_merges").to_pylist()
    assert log == {"reason": "manual", "evidence": "same person, says the agent"}


def test_manual_commands_name_what_is_unknown(pair: Workspace) -> None:
    with pytest.raises(UserError, match="there is no customer 'C404'"):
        pair.merge_customers("C404", "C000000001")
    with pytest.raises(UserError, match=r"no identifier email:nobody@x\.example"):
        pair.split_identifier("C000000001", "email:nobody@x.example")
    with pytest.raises(UserError, match="is not KIND:VALUE"):
        pair.split_identifier("C000000001", "ann@x.example")


def test_customer_file_finds_by_any_identifier(pair: Workspace, tmp_path: Path) -> None:
    write(
        tmp_path / "s.csv",
        "response_id,contact_id,customer_email,survey,score,comment,answered_at\n"
        "s1,1,ann@x.example,nps,4,Trop d'attente,2024-01-05 10:00:00\n",
    )
    pair.ingest([tmp_path / "s.csv"], source="surveys")
    pair.resolve()
    by_phone = pair.customer("06.12.34.56.78")
    by_email = pair.customer(" Ann@X.example")
    assert by_phone["customer"]["customer_id"] == by_email["customer"]["customer_id"]
    assert [e["type"] for e in by_email["timeline"]] == ["contact", "contact", "answer"]
    assert by_email["summary"]["last_nps"]["score"] == 4.0
    assert by_email["summary"]["channels"] == ["email", "phone"]
    with pytest.raises(UserError, match="no customer matches"):
        pair.customer("nobody@x.example")


def test_quality_report_has_the_collection_plan(pair: Workspace) -> None:
    report = pair.quality()
    plan = {p["field"]: p for p in report["collection_plan"]}
    assert plan["customer_email"]["coverage"] == 1.0  # both customers have one
    assert plan["customer_phone"]["coverage"] == 0.5
    assert plan["segment"]["coverage"] == 0.0 and "no source" in plan["segment"]["advice"]
    fields = {(r["table"], r["field"]): r["value"] for r in report["completeness"]}
    assert fields[("interactions", "customer_email")] == 2 / 3
    assert report["resolution"]["customers"] == 2


def test_cli_resolve_show_merge_and_quality(pair: Workspace, runner: CliRunner) -> None:
    root = str(pair.root)
    done = runner.invoke(app, ["resolve", "-w", root])
    assert done.exit_code == 0 and "nothing to resolve" in done.stdout
    shown = runner.invoke(app, ["customer", "show", "ann@x.example", "-f", "json", "-w", root])
    assert shown.exit_code == 0
    file = json.loads(shown.stdout)
    assert {i["kind"] for i in file["identities"]} == {"email", "phone"}
    human = runner.invoke(app, ["customer", "show", "+33612345678", "-w", root])
    assert "Timeline (local time, Europe/Paris)" in human.stdout
    unknown = runner.invoke(app, ["customers", "merge", "C1", "C2", "-w", root])
    assert unknown.exit_code == 1 and "there is no customer 'C1'" in unknown.stderr
    report = runner.invoke(app, ["quality", "-w", root])
    assert report.exit_code == 0 and "Collection plan" in report.stdout


def test_foreign_customer_ids_do_not_break_numbering(ws: Workspace, tmp_path: Path) -> None:
    ws.query("INSERT INTO customers (customer_id) VALUES ('CRM0000042'), ('C000000007')")
    rows = contacts(tmp_path / "c.csv", "1,a@x.example,,,email,2024-01-01 10:00:00",
                    "2,b@x.example,,,email,2024-01-01 11:00:00")  # fmt: skip
    ws.ingest([rows], source="contacts")
    ws.resolve()
    assert sorted(str(c) for c in customers_of(ws).values()) == ["C000000008", "C000000009"]


def test_a_record_whose_phone_became_shared_leaves_its_customer(
    ws: Workspace, tmp_path: Path
) -> None:
    first = contacts(tmp_path / "1.csv", "1,a@x.example,06 12 34 56 78,,email,2024-01-01 10:00:00",
                     "2,,06 12 34 56 78,,phone,2024-01-02 10:00:00")  # fmt: skip
    ws.ingest([first], source="contacts")
    ws.resolve()
    assert customers_of(ws)["2"] is not None
    more = contacts(tmp_path / "2.csv", "3,b@x.example,06 12 34 56 78,,email,2024-01-03 10:00:00",
                    "4,c@x.example,06 12 34 56 78,,email,2024-01-04 10:00:00")  # fmt: skip
    ws.ingest([more], source="contacts")
    result = ws.resolve(full=True)
    after = customers_of(ws)
    assert after["2"] is None  # its only identifier is now a shared line
    assert len({after["1"], after["3"], after["4"]}) == 3
    assert result.records_unresolved == 1


def test_identifier_columns_accept_any_attribute_name(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "w")
    ws.close()
    overrides = {"identifier_columns": {"n° d'adhérent": "loyalty"}}
    with Workspace.open(tmp_path / "w", overrides=overrides) as ws:
        ws.ingest([write(tmp_path / "c.csv",
            "contact_id,customer_email,n° d'adhérent,channel,started_at\n"
            "1,a@x.example,L1,store,2024-01-01 10:00:00\n"
            "2,b@x.example,L1,store,2024-01-02 10:00:00\n")], source="contacts")  # fmt: skip
        ws.resolve()
        c = customers_of(ws)
        assert c["1"] == c["2"]
    with pytest.raises(ConfigError, match="is not an identifier kind"):
        Workspace.open(tmp_path / "w", overrides={"weak_identifiers": ["dev'ice"]})


def test_incremental_runs_over_several_loads_equal_resolving_from_scratch(
    tmp_path: Path,
) -> None:
    """After each of four loads, an incremental resolution gives the partition, the
    statuses and the counts of a resolution from scratch of everything loaded so far —
    including a new record that merges two old customers and a phone that becomes too
    common only with a later load (its customer comes apart)."""
    population = write_population(tmp_path / "people.csv", people=1200, seed=5)
    with population.open(encoding="utf-8") as fh:
        header, *body = list(csv.reader(fh))
    random.Random(8).shuffle(body)
    loads: list[list[list[str]]] = [body[i::4] for i in range(4)]

    def planted(contact: str, email: str, phone: str) -> list[str]:
        return [contact, "", email, phone, "", "email", "2025-06-01 10:00:00", "", ""]

    loads[0] += [
        planted("M1", "merge.a@x.example", ""),
        planted("M2", "", "06 11 22 33 44"),
        planted("S1", "share.1@x.example", "06 99 88 77 66"),
        planted("S2", "share.2@x.example", "06 99 88 77 66"),
    ]
    loads[1] += [planted("M3", "merge.a@x.example", "06 11 22 33 44")]  # bridges M1 and M2
    loads[2] += [planted("S3", "share.3@x.example", "06 99 88 77 66")]  # a third e-mail
    loads[3] += [planted("S4", "", "06 99 88 77 66"), planted("S5", "share.1@x.example", "")]
    files = []
    for i, rows in enumerate(loads):
        files.append(tmp_path / f"load{i}.csv")
        with files[-1].open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, *rows])

    incremental = Workspace.init(tmp_path / "incremental")
    history: list[dict[str, str | None]] = []
    try:
        for i, file in enumerate(files):
            incremental.ingest([file], source="contacts")
            result = incremental.resolve()
            assert result.mode == ("full" if i == 0 else "incremental")
            if i:  # the new records, and few of the customers they touch, are read
                assert result.records < 1.2 * len(loads[i])
            now = customers_of(incremental)
            with Workspace.init(tmp_path / f"scratch{i}") as scratch:
                scratch.ingest(files[: i + 1], source="contacts")
                scratch.resolve(full=True)
                assert _partition(now) == _partition(customers_of(scratch)), f"load {i}"
                ours, theirs = _identities(incremental), _identities(scratch)
                assert {k: v[:2] for k, v in ours.items()} == {
                    k: v[:2] for k, v in theirs.items()
                }, f"load {i}"
                # for an identifier that links, shared_with may be an upper bound (_scope)
                assert all(v[2] >= theirs[k][2] for k, v in ours.items() if v[0] == "linked")
            if i == 1:
                assert now["M1"] == now["M2"] == now["M3"]
                assert result.customers_merged >= 1
            if i == 2:
                assert ("phone", "+33699887766") in {(s["kind"], s["value"]) for s in result.shared}
                assert len({now["S1"], now["S2"], now["S3"]}) == 3
            if i == 3:
                assert now["S4"] is None and now["S5"] == now["S1"]
            history.append(now)
        # ids are stable: a record keeps its customer or follows the one it merged into,
        # unless its customer came apart (an identifier became too common), the id staying
        # with another part
        merged = {
            r["merged_id"]: r["into_id"]
            for r in incremental.query("SELECT merged_id, into_id FROM customer_merges").to_pylist()
        }
        moved = 0
        for before, after in itertools.pairwise(history):
            for record, customer in before.items():
                while customer in merged:
                    customer = merged[customer]
                if after[record] not in (customer, None):
                    assert customer in after.values()
                    moved += 1
        assert 0 < moved < sum(len(h) for h in history[:-1]) // 50
        assert incremental.resolve().mode == "nothing"
    finally:
        incremental.close()


def _identities(ws: Workspace) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(status, records, shared_with) of every identifier resolved; records only for those
    that link (an incremental run carries the counts of shared ones over, not recounting
    the records that never reach it)."""
    return {
        (r["kind"], r["value"]): (
            r["status"],
            r["records"] if r["status"] == "linked" else None,
            r["shared_with"],
        )
        for r in ws.query(
            "SELECT kind, value, status, records, shared_with FROM identities "
            "WHERE status IS NOT NULL"
        ).to_pylist()
    }
