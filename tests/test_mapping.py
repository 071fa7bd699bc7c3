"""Mappings: validated when read, so a typo is reported with the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxloop import MappingError, UnknownSourceError, Workspace
from voxloop.ingest.mapping import load_mapping

from .conftest import write


def _mapping(ws: Workspace, name: str, body: str) -> None:
    (ws.root / "sources" / f"{name}.yaml").write_text(body, encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "extends: contacts\noutputs:\n  - fields:\n      channel: {column: c, value_map: "
            "{Guichet: counter}}\n",
            "counter are not in the vocabulary; use one of phone",
        ),
        ("extends: contacts\ntime_zone: Europe/Pariss\n", "'Europe/Pariss' is not an IANA"),
        ("extends: contacts\ndefault_region: Belgium\n", "'Belgium' is not a two-letter"),
        (
            "extends: contacts\noutputs:\n  - fields:\n      chanel: c\n",
            "no mappable field(s) chanel",
        ),
        ("name: x\noutputs:\n  - table: tickets\n    fields: {external_id: a}\n", "tickets"),
        ("name: x\noutputs: [\n", "not valid YAML"),
        ("extends: zendesk\n", "extends unknown built-in mapping 'zendesk'"),
    ],
)
def test_mistakes_are_named_with_the_file(ws: Workspace, body: str, expected: str) -> None:
    _mapping(ws, "mine", body)
    with pytest.raises(MappingError) as info:
        load_mapping("mine", ws.root / "sources")
    assert "mine.yaml" in info.value.message
    assert expected in info.value.message


def test_extends_overrides_one_field_and_keeps_the_rest(ws: Workspace, tmp_path: Path) -> None:
    _mapping(
        ws,
        "lyon",
        "extends: contacts\nname: lyon\noutputs:\n  - fields:\n"
        "      external_id: id\n      channel: {column: channel, value_map: {Guichet: store}}\n",
    )
    mapping = load_mapping("lyon", ws.root / "sources")
    fields = mapping.outputs[0].fields
    assert fields["external_id"].column == "id"
    assert fields["customer_email"].column == "customer_email"  # inherited
    assert fields["channel"].value_map == {"Guichet": "store"}
    path = write(
        tmp_path / "l.csv",
        "id,channel,started_at,customer_email\n1,Guichet,2024-03-01 10:00:00,A@B.FR\n",
    )
    [result] = ws.ingest([path], source="lyon")
    assert result.rows_loaded == 1
    assert ws.store.con.execute("SELECT channel, customer_email FROM interactions").fetchall() == [
        ("store", "a@b.fr")
    ]


def test_source_names_forgive_case_and_suggest(ws: Workspace, tmp_path: Path) -> None:
    assert load_mapping("Contacts", ws.root / "sources").name == "contacts"
    with pytest.raises(UnknownSourceError, match="did you mean 'surveys'"):
        load_mapping("survey", ws.root / "sources")


def test_one_broken_mapping_does_not_hide_the_others(ws: Workspace) -> None:
    _mapping(ws, "broken", "outputs: [\n")
    sources = {s["name"]: s["description"] for s in ws.sources()}
    assert sources["broken"].startswith("INVALID:")
    assert "contacts" in sources
