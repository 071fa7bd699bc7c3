"""Bad input gets a clear error and loses nothing (one test per case named in the issue)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from voxloop import IngestError, Workspace
from voxloop.model.schema import TABLES

from .conftest import write

HEADER = "contact_id,customer_email,customer_phone,channel,started_at,handle_seconds,text\n"


def snapshot(ws: Workspace) -> dict[str, Any]:
    """Everything the store holds except the ledger (which records failed loads on purpose)."""
    out: dict[str, Any] = {}
    for table in TABLES:
        if table.name == "loads":
            continue
        rows = ws.store.con.execute(f'SELECT * FROM "{table.name}" ORDER BY ALL').fetchall()
        out[table.name] = rows
    return out


def accounted(result: Any) -> bool:
    return bool(
        result.rows_read == result.rows_loaded + result.rows_quarantined + result.duplicates_skipped
    )


def test_latin1_and_windows_1252_french_text(ws: Workspace, tmp_path: Path) -> None:
    text = HEADER + "1,,,Téléphone,2024-03-01 10:00:00,60,Reçu une facture erronée – cœur brisé\n"
    path = write(tmp_path / "latin.csv", text, encoding="cp1252")
    [result] = ws.ingest([path], source="contacts")
    assert result.rows_loaded == 1 and result.encoding == "cp1252"
    assert ws.store.con.execute("SELECT text, channel FROM interactions").fetchall() == [
        ("Reçu une facture erronée – cœur brisé", "phone")
    ]
    pure = write(
        tmp_path / "latin1.csv",
        HEADER + "2,,,Télécopie,2024-03-01 10:00:00,,é\n",
        encoding="latin-1",
    )
    [r2] = ws.ingest([pure], source="contacts")
    assert r2.rows_loaded == 1
    assert ws.store.con.execute(
        "SELECT channel FROM interactions WHERE external_id = '2'"
    ).fetchone() == ("fax",)


def test_byte_order_mark(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", HEADER + "1,,,chat,2024-03-01 10:00:00,,\n", "utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    [result] = ws.ingest([path], source="contacts")
    assert result.rows_loaded == 1
    assert ws.store.con.execute("SELECT external_id FROM interactions").fetchall() == [("1",)]


def test_semicolons_and_quoted_newlines(ws: Workspace, tmp_path: Path) -> None:
    text = (
        "contact_id;channel;started_at;text\n"
        '1;E-mail;01/03/2024 10:00;"Bonjour,\nma commande ; toujours pas livrée"\n'
        "2;Chat;01/03/2024 11:00;court\n"
    )
    [result] = ws.ingest([write(tmp_path / "semi.csv", text)], source="contacts")
    assert (result.rows_read, result.rows_loaded) == (2, 2)
    assert ws.store.con.execute(
        "SELECT text FROM interactions WHERE external_id = '1'"
    ).fetchone() == ("Bonjour,\nma commande ; toujours pas livrée",)


def test_empty_file_is_refused_and_recorded(ws: Workspace, tmp_path: Path) -> None:
    before = snapshot(ws)
    with pytest.raises(IngestError, match="empty"):
        ws.ingest([write(tmp_path / "empty.csv", "")], source="contacts")
    assert snapshot(ws) == before
    assert ws.loads()[0]["status"] == "failed"


def test_header_only_file_loads_nothing(ws: Workspace, tmp_path: Path) -> None:
    [result] = ws.ingest([write(tmp_path / "h.csv", HEADER)], source="contacts")
    assert result.status == "committed"
    assert (result.rows_read, result.rows_loaded) == (0, 0)
    assert any("no data rows" in n for n in result.notes)


def test_missing_required_column_names_it_and_leaves_store_untouched(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.ingest(
        [write(tmp_path / "ok.csv", HEADER + "1,,,chat,2024-03-01 10:00:00,,\n")], source="contacts"
    )
    before = snapshot(ws)
    path = write(tmp_path / "nochan.csv", "contact_id,started_at\n9,2024-03-01 10:00:00\n")
    with pytest.raises(IngestError) as info:
        ws.ingest([path], source="contacts")
    message = info.value.message
    assert (
        "nochan.csv" in message and "channel" in message and "'contact_id', 'started_at'" in message
    )
    assert info.value.hint is not None and "sources/contacts.yaml" in info.value.hint
    assert snapshot(ws) == before
    leftovers = ws.store.con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary"
    ).fetchone()
    assert leftovers == (0,)


def test_unparseable_dates_are_quarantined_with_row_and_reason(
    ws: Workspace, tmp_path: Path
) -> None:
    text = HEADER + "1,,,chat,2024-03-01 10:00:00,,ok\n2,,,chat,le 3 mars,,bad\n3,,,chat,,,\n"
    [result] = ws.ingest([write(tmp_path / "dates.csv", text)], source="contacts")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    assert accounted(result)
    rows = {r["row_number"]: r for r in ws.quarantine(result.load_id)}
    assert set(rows) == {2, 3}
    assert rows[2]["field"] == "started_at"
    assert '"le 3 mars" is not a date/time' in rows[2]["reason"]
    assert "%Y-%m-%d %H:%M:%S" in rows[2]["reason"]
    assert json.loads(rows[2]["raw"])["text"] == "bad"
    assert "required but empty" in rows[3]["reason"]


def test_dates_in_another_time_zone(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "sources" / "nyc.yaml").write_text(
        "extends: contacts\nname: nyc\ntime_zone: America/New_York\n", encoding="utf-8"
    )
    text = (
        "contact_id,channel,started_at,first_response_at\n"
        "1,phone,2024-07-01 09:00:00,2024-07-01T15:00:30+02:00\n"
        "2,phone,2024-01-15 09:00:00,2024-01-15T14:00:00Z\n"
    )
    [result] = ws.ingest([write(tmp_path / "ny.csv", text)], source="nyc")
    assert result.rows_loaded == 2
    got = ws.store.con.execute(
        "SELECT external_id, started_at, first_response_at FROM interactions ORDER BY 1"
    ).fetchall()
    assert got == [
        ("1", datetime(2024, 7, 1, 13, 0, tzinfo=UTC), datetime(2024, 7, 1, 13, 0, 30, tzinfo=UTC)),
        ("2", datetime(2024, 1, 15, 14, 0, tzinfo=UTC), datetime(2024, 1, 15, 14, 0, tzinfo=UTC)),
    ]


def test_scores_out_of_scale(ws: Workspace, tmp_path: Path) -> None:
    text = (
        "response_id,survey,score,answered_at\n"
        "a,NPS,10,2024-01-01 10:00:00\nb,NPS,11,2024-01-01 10:00:00\n"
        'c,CSAT,0,2024-01-01 10:00:00\nd,CSAT,"4,5",2024-01-01 10:00:00\n'
        "e,effort,8,2024-01-01 10:00:00\nf,fun,3,2024-01-01 10:00:00\n"
        "g,NPS,dix,2024-01-01 10:00:00\n"
    )
    [result] = ws.ingest([write(tmp_path / "s.csv", text)], source="surveys")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 5)
    reasons = {r["row_number"]: r["reason"] for r in ws.quarantine(result.load_id)}
    assert "11.0 is outside the nps scale 0.0–10.0" in reasons[2]
    assert "outside the csat scale" in reasons[3]
    assert "outside the ces scale 1.0–7.0" in reasons[5]
    assert '"fun" is not one of nps, csat, ces, fcr, rating, none' in reasons[6]
    assert '"dix" is not a number' in reasons[7]
    assert ws.store.con.execute(
        "SELECT score FROM feedback WHERE external_id = 'd'"
    ).fetchone() == (4.5,)


def test_duplicate_ids_inside_one_file(ws: Workspace, tmp_path: Path) -> None:
    text = (
        HEADER + "1,,,chat,2024-03-01 10:00:00,,same\n"
        "1,,,chat,2024-03-01 10:00:00,,same\n"
        "1,,,chat,2024-03-01 10:00:00,,different\n"
        "2,,,chat,2024-03-01 10:00:00,,\n"
    )
    [result] = ws.ingest([write(tmp_path / "dups.csv", text)], source="contacts")
    assert (
        result.rows_read,
        result.rows_loaded,
        result.duplicates_skipped,
        result.rows_quarantined,
    ) == (4, 2, 1, 1)
    [bad] = ws.quarantine(result.load_id)
    assert bad["row_number"] == 3
    assert "appears again with different values (first at row 1" in bad["reason"]
    assert ws.store.con.execute(
        "SELECT text FROM interactions WHERE external_id = '1'"
    ).fetchall() == [("same",)]


def test_the_same_file_twice_adds_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.csv", HEADER + "1,,,chat,2024-03-01 10:00:00,,\n2,,,chat,bad date,,\n"
    )
    [first] = ws.ingest([path], source="contacts")
    before = snapshot(ws)
    [again] = ws.ingest([path], source="contacts")
    assert again.status == "unchanged"
    assert (again.rows_loaded, again.duplicates_skipped) == (0, 2)
    assert snapshot(ws) == before
    assert first.load_id != again.load_id


def test_overlapping_rows_across_files_are_skipped(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        [
            write(
                tmp_path / "a.csv",
                HEADER + "1,,,chat,2024-03-01 10:00:00,,\n2,,,chat,2024-03-01 10:00:00,,\n",
            )
        ],
        source="contacts",
    )
    [result] = ws.ingest(
        [
            write(
                tmp_path / "b.csv",
                HEADER + "2,,,chat,2024-03-01 10:00:00,,\n3,,,chat,2024-03-01 10:00:00,,\n",
            )
        ],
        source="contacts",
    )
    assert (result.rows_loaded, result.duplicates_skipped) == (1, 1)
    assert ws.store.con.execute("SELECT count(*) FROM interactions").fetchone() == (3,)


@pytest.mark.slow
def test_a_100_mb_field_goes_to_quarantine_and_the_rest_loads(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        fh.write("1,,,chat,2024-03-01 10:00:00,,short\n")
        fh.write('2,,,email,2024-03-01 10:00:00,,"')
        chunk = "x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write('"\n3,,,chat,2024-03-01 10:00:00,,short\n')
    [result] = ws.ingest([path], source="contacts")
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    [bad] = ws.quarantine(result.load_id)
    assert bad["row_number"] == 2 and bad["field"] == "text"
    assert "104857600 characters, above the limit of 1000000" in bad["reason"]
    assert len(bad["raw"]) > 100 * (1 << 20)  # the raw row is kept whole: nothing lost


def test_a_file_that_is_not_csv(ws: Workspace, tmp_path: Path) -> None:
    before = snapshot(ws)
    png = tmp_path / "photo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(IngestError, match="not a text"):
        ws.ingest([png], source="contacts")
    doc = write(tmp_path / "doc.csv", '{"contacts": [{"id": 1}]}\n')
    with pytest.raises(IngestError, match="missing required column"):
        ws.ingest([doc], source="contacts")
    assert snapshot(ws) == before


def test_lines_the_csv_reader_cannot_split_are_kept_with_their_line(
    ws: Workspace, tmp_path: Path
) -> None:
    text = HEADER + "1,,,chat,2024-03-01 10:00:00,,ok\n2,,,chat,2024-03-01,1,extra,field,s\n"
    [result] = ws.ingest([write(tmp_path / "cols.csv", text)], source="contacts")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    [bad] = ws.quarantine(result.load_id)
    assert bad["line"] == 3 and "more fields than the header" in bad["reason"]
    assert bad["raw"].startswith("2,,,chat")


def test_invalid_identifiers_are_kept_raw_not_lost(ws: Workspace, tmp_path: Path) -> None:
    text = HEADER + "1,not-an-email,12,Pigeon voyageur,2024-03-01 10:00:00,,\n"
    [result] = ws.ingest([write(tmp_path / "ids.csv", text)], source="contacts")
    assert result.rows_loaded == 1
    row = ws.store.con.execute(
        "SELECT customer_email, customer_phone, channel, attributes FROM interactions"
    ).fetchone()
    assert row is not None
    assert row[:3] == (None, None, "other")
    assert json.loads(row[3]) == {
        "raw.customer_email": "not-an-email",
        "raw.customer_phone": "12",
        "raw.channel": "Pigeon voyageur",
    }
    kinds = set(ws.store.con.execute("SELECT kind, value FROM identities").fetchall())
    assert kinds == {("invalid_email", "not-an-email"), ("invalid_phone", "12")}


def test_a_newer_version_of_a_row_replaces_the_stored_one(ws: Workspace, tmp_path: Path) -> None:
    head = "contact_id,channel,started_at,outcome\n"
    ws.ingest(
        [
            write(
                tmp_path / "monday.csv",
                head + "B1,email,2024-03-01 10:00:00,open\nB2,email,2024-03-01 11:00:00,open\n",
            )
        ],
        source="contacts",
    )
    [result] = ws.ingest(
        [
            write(
                tmp_path / "tuesday.csv",
                head + "B1,email,2024-03-01 10:00:00,resolved\n"
                "B2,email,2024-03-01 11:00:00,open\nB3,chat,2024-03-02 09:00:00,open\n",
            )
        ],
        source="contacts",
    )
    assert (result.rows_loaded, result.rows_updated, result.duplicates_skipped) == (2, 1, 1)
    assert accounted(result)
    assert ws.store.con.execute(
        "SELECT external_id, outcome, load_id FROM interactions ORDER BY 1"
    ).fetchall() == [("B1", "resolved", 2), ("B2", "open", 1), ("B3", "open", 2)]
