"""Text analytics end to end on a real store: every verbatim annotated once per pipeline
version, redacted before analysis, bad input skipped or truncated with a reason; the file
commands; emerging themes proposed and accepted into the taxonomy."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voxloop.cli import app
from voxloop.errors import UserError
from voxloop.text.taxonomy import load_taxonomy
from voxloop.workspace import Workspace

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

COMMENTS = [
    ("c1", "Mon colis n'est toujours pas livré, j'attends depuis deux semaines ! "
     "Écrivez-moi à anne.martin@example.org"),
    ("c2", "The delivery never arrived and nobody answers the phone. Call me on +44 20 7946 0958"),
    ("c3", "Merci beaucoup, conseiller très aimable et efficace, problème réglé !"),
    ("c4", "   "),
    ("c5", "<p>Votre <b>facture</b> est fausse : on m'a prélevé deux fois 49,90 €</p>"),
    ("c6", "Hi,\nstill no refund.\n\nOn Mon, Feb 3, 2026 at 10:12 AM Support <s@x.org> wrote:\n"
     "> We have issued your refund.\n> Kind regards"),
    ("c7", "Mon colis n'est toujours pas livré, j'attends depuis deux semaines ! "
     "Écrivez-moi à anne.martin@example.org"),  # the same text as c1
    ("c8", "Le service client est injoignable. " * 400),  # a very long text
]  # fmt: skip


def _comments(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["response_id", "survey", "score", "comment", "answered_at", "channel"])
        for k, (rid, text) in enumerate(rows):
            at = (T0 + timedelta(minutes=k)).strftime("%Y-%m-%d %H:%M:%S")
            w.writerow([rid, "nps", 3, text, at, "email"])
    return path


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("text")
    ws = Workspace.init(root / "ws")
    ws.ingest([_comments(root / "c.csv", COMMENTS)], source="surveys")
    first = ws.text.annotate()
    assert first.texts == 7  # the blank comment is not a text at all
    assert first.analysed == 6  # c1 and c7 are one text, analysed once
    yield ws
    ws.close()


def _annotation(ws: Workspace, rid: str) -> dict[str, object]:
    table = ws.store.con.sql(
        "SELECT * FROM annotations WHERE owner_id = ?", params=[f"surveys:{rid}"]
    ).to_arrow_table()
    [row] = table.to_pylist()
    return dict(row)


def test_personal_data_is_redacted_before_analysis(annotated: Workspace) -> None:
    c1 = _annotation(annotated, "c1")
    assert "anne.martin@example.org" not in str(c1["redacted_text"])
    assert "<EMAIL>" in str(c1["redacted_text"])
    assert json.loads(str(c1["pii_found"])) == {"EMAIL": 1}
    c2 = _annotation(annotated, "c2")
    assert "<PHONE>" in str(c2["redacted_text"]) and "7946" not in str(c2["redacted_text"])


def test_language_themes_and_sentiment(annotated: Workspace) -> None:
    c1, c2, c3 = (_annotation(annotated, r) for r in ("c1", "c2", "c3"))
    assert (c1["language"], c2["language"], c3["language"]) == ("fr", "en", "fr")
    assert "delivery" in [t["id"] for t in json.loads(str(c1["themes"]))]
    assert "delivery" in [t["id"] for t in json.loads(str(c2["themes"]))]
    assert "praise" in [t["id"] for t in json.loads(str(c3["themes"]))]
    assert c1["sentiment_label"] == "negative" and c3["sentiment_label"] == "positive"
    c5 = _annotation(annotated, "c5")
    assert "<b>" not in str(c5["redacted_text"])  # markup removed
    assert "billing" in [t["id"] for t in json.loads(str(c5["themes"]))]


def test_bad_input_is_handled_with_a_reason(annotated: Workspace) -> None:
    c6 = _annotation(annotated, "c6")
    assert "issued your refund" not in str(c6["redacted_text"])  # quoted history cut
    c8 = _annotation(annotated, "c8")
    assert c8["status"] == "truncated" and "analysed the first" in str(c8["note"])


def test_each_text_is_analysed_once(annotated: Workspace) -> None:
    c1, c7 = _annotation(annotated, "c1"), _annotation(annotated, "c7")
    assert c1["text_hash"] == c7["text_hash"] and c1["themes"] == c7["themes"]
    again = annotated.text.annotate()
    assert (again.analysed, again.reused, again.texts) == (0, 0, 0)


def test_a_text_seen_before_is_reused_not_analysed(annotated: Workspace, tmp_path: Path) -> None:
    more = _comments(tmp_path / "more.csv", [("d1", COMMENTS[2][1]), ("d2", "Livraison rapide.")])
    annotated.ingest([more], source="surveys")
    result = annotated.text.annotate()
    assert (result.reused, result.analysed) == (1, 1)


def test_classify_and_eval_a_file(annotated: Workspace, tmp_path: Path, runner: CliRunner) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "id,verbatim,theme\n"
        "1,Le livreur n'est jamais passé et mon colis est perdu,delivery\n"
        '2,"On m\'a facturé deux fois ce mois-ci, remboursez-moi",billing\n'
        "3,Conseiller très aimable et efficace merci beaucoup,praise\n"
        "4,,\n",
        encoding="utf-8",
    )
    w = ["-w", str(annotated.root)]
    res = runner.invoke(app, ["text", "classify", "-i", str(data), "--text-column", "verbatim", *w])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 4  # one per input row, in order, the empty one included
    assert "delivery" in [t["id"] for t in rows[0]["themes"]]
    assert rows[3]["status"] == "skipped" and rows[3]["note"] == "empty text"
    res = runner.invoke(
        app, ["text", "eval", "-i", str(data), "--text-column", "verbatim",
              "--label-column", "theme", "-f", "json", *w],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["macro_f1"] > 0.5 and {r["theme"] for r in report["per_theme"]} >= {"delivery"}
    res = runner.invoke(app, ["text", "classify", "-i", str(data), "--text-column", "nope", *w])
    assert res.exit_code == 1 and "no column 'nope'" in res.output


def test_emerging_themes_are_proposed_and_accepted(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    unexplained = [
        "ma carte de fidélité ne cumule plus les points",
        "les points de fidélité n'apparaissent pas sur ma carte",
        "my loyalty card no longer earns points",
        "loyalty points missing from my card after purchase",
        "impossible de cumuler des points avec la carte fidélité",
        "carte fidélité : points non crédités depuis un mois",
        "where are my loyalty points? the card shows zero",
        "la carte de fidélité n'enregistre pas mes achats",
    ]
    ws.ingest([_comments(tmp_path / "u.csv", [(f"u{i}", t) for i, t in enumerate(unexplained)])],
              source="surveys")  # fmt: skip
    ws.text.annotate()
    found = ws.text.themes(min_size=3)
    assert found, "the loyalty-card complaints form a candidate theme"
    top = found[0]
    assert top["size"] >= 3 and any(
        "fid" in w or "loyal" in w or "point" in w for w in top["words"]
    )
    ws.text.accept(top["id"], "loyalty_points", domain="product_service",
                   label_fr="Points de fidélité", label_en="Loyalty points")  # fmt: skip
    taxonomy = load_taxonomy(ws.root / "taxonomy.yaml")
    assert taxonomy.theme("loyalty_points").domain == "product_service"
    with pytest.raises(UserError, match="no candidate 'candidate-99'"):
        ws.text.accept("candidate-99", "x", domain="other")


def test_training_makes_every_text_due_again(tmp_path: Path, runner: CliRunner) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest([_comments(tmp_path / "c.csv", COMMENTS[:3])], source="surveys")
    before = ws.text.annotate().version
    ws.close()
    labels = Path(__file__).parent / "data" / "themes" / "verbatims.csv"
    w = ["-w", str(tmp_path / "ws")]
    res = runner.invoke(
        app, ["text", "train", str(labels), "--text-column", "text", "--label-column", "labels",
              "-f", "json", *w],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    [summary] = json.loads(res.stdout)
    assert summary["texts"] == 142
    with Workspace.open(tmp_path / "ws") as again:
        result = again.text.annotate()
        assert result.version != before and result.analysed == 3
