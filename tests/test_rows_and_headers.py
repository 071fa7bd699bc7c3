"""Row numbers stay true and no header name can break a load (review findings, each a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxloop import Workspace

from .conftest import write
from .test_bad_input import HEADER


def test_row_numbers_stay_true_after_a_rejected_line(ws: Workspace, tmp_path: Path) -> None:
    text = (
        HEADER + "1,,,chat,2024-03-01 10:00:00,,a\n"
        "2,,,chat,2024-03-01 10:00:00,,b,extra\n"
        '3,,,chat,2024-03-01 10:00:00,,"multi\nline"\n'
        "4,,,chat,pas une date,,d\n"
    )
    [result] = ws.ingest([write(tmp_path / "r.csv", text)], source="contacts")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    bad = {(r["row_number"], r["line"]) for r in ws.quarantine(result.load_id)}
    assert bad == {(None, 3), (4, None)}
    stored = dict(
        ws.store.con.execute("SELECT external_id, row_number FROM interactions").fetchall()
    )
    assert stored == {"1": 1, "3": 3}


def test_excel_and_jsonl_rows_are_numbered_as_in_the_file(ws: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["contact_id", "channel", "started_at"])
    sheet.append(["1", "chat", "2024-03-01 10:00:00"])
    sheet.append([None, None, None])  # a blank line in the sheet still counts as a row
    sheet.append(["3", "chat", "hier"])
    book.save(tmp_path / "f.xlsx")
    [result] = ws.ingest([tmp_path / "f.xlsx"], source="contacts")
    [bad] = ws.quarantine(result.load_id)
    assert bad["row_number"] == 3
    lines = '{"contact_id": "9", "channel": "chat", "started_at": "x"}\n'
    path = write(tmp_path / "f.jsonl", "\n" + lines)
    [result] = ws.ingest([path], source="contacts")
    [bad] = ws.quarantine(result.load_id)
    assert bad["row_number"] == 2  # its line in the file


@pytest.mark.parametrize("kind", ["csv", "jsonl", "xlsx"])
def test_awkward_header_names(ws: Workspace, tmp_path: Path, kind: str) -> None:
    header = ["contact_id", "rowid", "Note", "note", 'say "hi"', "channel", "started_at"]
    row = ["1", "r1", "upper", "lower", "quoted", "chat", "2024-03-01 10:00:00"]
    if kind == "csv":
        path = write(
            tmp_path / "h.csv",
            ",".join(h.replace('"', '""').join('""') for h in header) + "\n" + ",".join(row) + "\n",
        )
    elif kind == "jsonl":
        path = write(tmp_path / "h.jsonl", json.dumps(dict(zip(header, row, strict=True))) + "\n")
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(header)
        sheet.append(row)
        path = tmp_path / "h.xlsx"
        book.save(path)
    [result] = ws.ingest([path], source="contacts")
    assert result.rows_loaded == 1
    attributes = ws.store.con.execute("SELECT attributes FROM interactions").fetchall()[0][0]
    kept = json.loads(attributes)
    assert kept["rowid"] == "r1"
    assert kept['say "hi"'] == "quoted"
    if kind != "jsonl":  # JSON objects cannot hold "Note" and "note" apart from their case…
        assert {kept["Note"], kept["note_2"]} == {"upper", "lower"}
    else:  # …but both keys are kept, nothing is overwritten
        assert {kept["Note"], kept["note_2"]} == {"upper", "lower"}


def test_accented_headers_in_a_windows_1252_file(ws: Workspace, tmp_path: Path) -> None:
    (ws.root / "sources" / "fr.yaml").write_text(
        "name: fr\noutputs:\n  - table: interactions\n    fields:\n"
        "      external_id: N° contact\n      channel: Canal\n      started_at: Date de début\n"
        "timestamp_formats: ['%d/%m/%Y %H:%M']\n",
        encoding="utf-8",
    )
    text = "N° contact;Canal;Date de début\n1;Téléphone;01/03/2024 10:00\n"
    [result] = ws.ingest([write(tmp_path / "fr.csv", text, "cp1252")], source="fr")
    assert result.rows_loaded == 1
    assert not list((ws.root / ".voxloop" / "tmp").glob("*.csv"))  # converted copy removed


def test_a_late_non_utf8_line_switches_the_whole_file(ws: Workspace, tmp_path: Path) -> None:
    filler = "".join(f"{i},,,chat,2024-03-01 10:00:00,,résolu {'x' * 60}\n" for i in range(20_000))
    data = (HEADER + filler).encode("utf-8") + "late,,,Téléphone,2024-03-01 10:00:00,,é\n".encode(
        "cp1252"
    )
    assert len(data) > 1 << 20
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    [result] = ws.ingest([path], source="contacts")
    assert (result.rows_loaded, result.rows_quarantined) == (20_001, 0)
    assert ws.store.con.execute(
        "SELECT channel, text FROM interactions WHERE external_id = 'late'"
    ).fetchall() == [("phone", "é")]
    assert any("1 line(s) were not UTF-8" in n for n in result.notes)
    # the UTF-8 lines are still read as UTF-8
    assert ws.store.con.execute(
        "SELECT count(*) FROM interactions WHERE text LIKE 'résolu %'"
    ).fetchall() == [(20_000,)]


def test_same_key_in_two_outputs_with_different_content_is_quarantined(
    ws: Workspace, shared_data: Path, tmp_path: Path
) -> None:
    text = (
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,42,True,Wed Oct 04 13:59:33 +0000 2017,hello,,\n"
        "1,Brand,False,Wed Oct 04 14:00:00 +0000 2017,reply,,\n"
        "2,43,True,Wed Oct 04 13:59:33 +0000 2017,hi,,\n"
    )
    [result] = ws.ingest([write(tmp_path / "t.csv", text)], source="twcs")
    assert (result.rows_loaded, result.rows_quarantined, result.duplicates_skipped) == (2, 1, 0)
    [bad] = ws.quarantine(result.load_id)
    assert bad["row_number"] == 2 and "appears again with different values" in bad["reason"]


def test_a_quarantined_row_never_wins_over_its_valid_duplicate(
    ws: Workspace, tmp_path: Path
) -> None:
    text = HEADER + "1,,,chat,pas une date,,bad\n1,,,chat,2024-03-01 10:00:00,,good\n"
    [result] = ws.ingest([write(tmp_path / "d.csv", text)], source="contacts")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert ws.store.con.execute("SELECT text FROM interactions").fetchall() == [("good",)]


def test_fixing_the_mapping_rescues_quarantined_rows(ws: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "f.csv", HEADER + "1,,,chat,2024-03-01 10:00:00,,\n2,,,chat,01.03.2024 10h00,,\n"
    )
    [first] = ws.ingest([path], source="contacts")
    assert first.rows_quarantined == 1
    (ws.root / "sources" / "contacts.yaml").write_text(
        "extends: contacts\nname: contacts\n"
        "timestamp_formats: ['%Y-%m-%d %H:%M:%S', '%d.%m.%Y %Hh%M']\n",
        encoding="utf-8",
    )
    [again] = ws.ingest([path], source="contacts")
    assert again.status == "committed"
    assert (again.rows_loaded, again.duplicates_skipped, again.rows_quarantined) == (1, 1, 0)


def test_out_of_range_and_odd_numbers_are_quarantined_not_fatal(
    ws: Workspace, tmp_path: Path
) -> None:
    text = (
        "contact_id,channel,started_at,transfers,handle_seconds\n"
        "1,chat,2024-03-01 10:00:00,3000000000,1\n2,chat,2024-03-01 10:00:00,1,inf\n"
        '3,chat,2024-03-01 10:00:00,n/a,"1 234,5"\n'
    )
    [result] = ws.ingest([write(tmp_path / "n.csv", text)], source="contacts")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    reasons = {r["row_number"]: r["reason"] for r in ws.quarantine(result.load_id)}
    assert "not a whole number in range" in reasons[1]
    assert '"inf" is not a number' in reasons[2]
    assert ws.store.con.execute("SELECT transfers, handle_s FROM interactions").fetchall() == [
        (None, 1234.5)
    ]


def test_blank_rows_and_repeated_headers_say_so(ws: Workspace, tmp_path: Path) -> None:
    text = HEADER + "1,,,chat,2024-03-01 10:00:00,,\n,,,,,,\n" + HEADER + "2,,,chat,2024-03-01,,\n"
    [result] = ws.ingest([write(tmp_path / "b.csv", text)], source="contacts")
    reasons = {r["row_number"]: (r["field"], r["reason"]) for r in ws.quarantine(result.load_id)}
    assert reasons == {
        2: (None, "row: the row is empty"),
        3: (None, "row: the header line appears again (were several exports concatenated?)"),
    }


def test_row_numbers_follow_the_lines_duckdb_rejected(ws: Workspace, tmp_path: Path) -> None:
    # DuckDB accepts a line Python's csv module splits differently and vice versa; numbering
    # by the rejected lines keeps every row at its place.
    text = (
        HEADER + "1,,,chat,2024-03-01 10:00:00,,a\n"
        '2,,,chat,2024-03-01 10:00:00,,"ok"x\n'
        "3,,,chat,2024-03-01 10:00:00,,c,extra\n"
        "4,,,chat,2024-03-01 10:00:00,,d\n"
    )
    [result] = ws.ingest([write(tmp_path / "r.csv", text)], source="contacts")
    rejected = {r["line"] for r in ws.quarantine(result.load_id) if r["line"] is not None}
    stored = dict(
        ws.store.con.execute("SELECT external_id, row_number FROM interactions").fetchall()
    )
    assert stored.get("4") == 4 and stored.get("1") == 1
    assert rejected and all(line - 1 not in stored.values() for line in rejected)
