"""The same rows arrive the same way from CSV, TSV, JSON Lines, Parquet, Excel and gzip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from voxloop import IngestError, Workspace

ROWS = [
    {
        "contact_id": "1",
        "channel": "Téléphone",
        "started_at": "2024-03-01 10:00:00",
        "customer_email": " Marie.Dupont@Exemple.FR ",
        "handle_seconds": "125",
        "team": "Lyon",
    },
    {
        "contact_id": "2",
        "channel": "E-mail",
        "started_at": "2024-03-02 11:30:00",
        "customer_email": "",
        "handle_seconds": "",
        "team": "Nantes",
    },
]
EXPECTED = [
    ("1", "phone", "marie.dupont@exemple.fr", 125.0, "Lyon"),
    ("2", "email", None, None, "Nantes"),
]


def _stored(ws: Workspace) -> list[tuple[object, ...]]:
    return ws.store.con.execute(
        "SELECT external_id, channel, customer_email, handle_s, team FROM interactions ORDER BY 1"
    ).fetchall()


def _delimited(path: Path, sep: str) -> Path:
    lines = [sep.join(ROWS[0])] + [sep.join(r.values()) for r in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["csv", "tsv", "pipe", "jsonl", "parquet", "xlsx", "csv.gz"])
def test_every_format_gives_the_same_rows(ws: Workspace, tmp_path: Path, kind: str) -> None:
    if kind == "csv":
        path = _delimited(tmp_path / "f.csv", ",")
    elif kind == "tsv":
        path = _delimited(tmp_path / "f.tsv", "\t")
    elif kind == "pipe":
        path = _delimited(tmp_path / "f.txt", "|")
    elif kind == "csv.gz":
        plain = _delimited(tmp_path / "plain.csv", ",")
        path = tmp_path / "f.csv.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    elif kind == "jsonl":
        path = tmp_path / "f.jsonl"
        path.write_text(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", encoding="utf-8"
        )
    elif kind == "parquet":
        path = tmp_path / "f.parquet"
        con = duckdb.connect()
        values = ", ".join("(" + ", ".join("'" + v + "'" for v in r.values()) + ")" for r in ROWS)
        con.execute(
            f"COPY (SELECT * FROM (VALUES {values}) t({', '.join(ROWS[0])})) "
            f"TO '{path}' (FORMAT parquet)"
        )
        con.close()
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(list(ROWS[0]))
        for r in ROWS:
            sheet.append(
                [
                    int(v) if k in ("contact_id", "handle_seconds") and v else (v or None)
                    for k, v in r.items()
                ]
            )
        path = tmp_path / "f.xlsx"
        book.save(path)
    [result] = ws.ingest([path], source="contacts")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)
    assert _stored(ws) == EXPECTED


def test_bad_json_lines_are_quarantined_with_their_line(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        json.dumps(ROWS[0]) + "\n{not json}\n[1, 2]\n" + json.dumps(ROWS[1]) + "\n",
        encoding="utf-8",
    )
    [result] = ws.ingest([path], source="contacts")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    lines = {r["line"]: r["reason"] for r in ws.quarantine(result.load_id)}
    assert "not valid JSON" in lines[2]
    assert "JSON object" in lines[3]


def test_a_corrupt_parquet_file_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(IngestError, match="Parquet"):
        ws.ingest([path], source="contacts")


def test_unknown_source_lists_the_valid_ones(ws: Workspace, tmp_path: Path) -> None:
    from voxloop import UnknownSourceError

    with pytest.raises(UnknownSourceError) as info:
        ws.ingest([_delimited(tmp_path / "f.csv", ",")], source="zendesk")
    assert info.value.hint is not None
    assert "contacts" in info.value.hint and "cfpb" in info.value.hint
