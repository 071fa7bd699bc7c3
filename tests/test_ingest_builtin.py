"""Every built-in mapping loads its real public sample with counts checkable by hand."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from voxloop import Workspace
from voxloop.demo import cfpb_sample
from voxloop.demo.generate import write_demo_files

from .conftest import write

CFPB_CHANNELS = {
    "Web": "web_form",
    "Referral": "referral",
    "Phone": "phone",
    "Postal mail": "mail",
    "Fax": "fax",
    "Email": "email",
}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cfpb_sample_matches_the_file(ws: Workspace, shared_data: Path) -> None:
    path = shared_data / "cfpb-complaints" / "complaints_sample.csv"
    rows = _read_csv(path)
    [result] = ws.ingest([path], source="cfpb")
    assert result.status == "committed"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6623, 6623, 0)
    assert result.tables == {"interactions": 6623, "feedback": 1532}

    expected_channels = Counter(CFPB_CHANNELS[r["Submitted via"]] for r in rows)
    got = dict(
        ws.store.con.execute("SELECT channel, count(*) FROM interactions GROUP BY 1").fetchall()
    )
    assert got == dict(expected_channels)

    narratives = sum(1 for r in rows if r["Consumer complaint narrative"].strip())
    assert narratives == 1532
    assert ws.store.con.execute(
        "SELECT count(*) FROM feedback WHERE instrument = 'none' AND survey_kind = 'complaint' "
        "AND comment IS NOT NULL AND interaction_id LIKE 'cfpb:%'"
    ).fetchone() == (1532,)

    timely = Counter((CFPB_CHANNELS[r["Submitted via"]], r["Timely response?"]) for r in rows)
    stored = ws.store.con.execute(
        "SELECT channel, sla_met, count(*) FROM interactions GROUP BY 1, 2"
    ).fetchall()
    assert {(c, "Yes" if m else "No"): n for c, m, n in stored} == dict(timely)


def test_cfpb_dates_are_new_york_midnight_in_utc(ws: Workspace, shared_data: Path) -> None:
    ws.ingest([shared_data / "cfpb-complaints" / "complaints_sample.csv"], source="cfpb")
    row = ws.store.con.execute(
        "SELECT strftime(started_at, '%Y-%m-%d %H:%M'), organisation, reason, outcome, case_ref, "
        "attributes->>'$.State' FROM interactions WHERE external_id = '3571115'"
    ).fetchone()
    assert row == (
        "2020-03-18 04:00",  # 2020-03-18 00:00 in New York (EDT, UTC-4)
        "TRANSUNION INTERMEDIATE HOLDINGS, INC.",
        "Credit reporting, credit repair services, or other personal consumer reports / "
        "Incorrect information on your report",
        "Closed with explanation",
        "3571115",
        "FL",
    )


def test_bundled_cfpb_copy_is_the_same_data(ws: Workspace) -> None:
    [result] = ws.ingest([cfpb_sample()], source="cfpb")
    assert (result.rows_loaded, result.tables["feedback"]) == (6623, 1532)


def test_twcs_inbound_outbound_and_mentions(ws: Workspace, shared_data: Path) -> None:
    path = shared_data / "twcs-sample" / "twcs_small.csv"
    rows = _read_csv(path)
    inbound = sum(1 for r in rows if r["inbound"] == "True")
    [result] = ws.ingest([path], source="twcs")
    assert result.rows_quarantined == 0
    assert result.rows_loaded == len(rows) == 5000
    assert result.tables == {"interactions": 5000, "feedback": inbound}
    counts = dict(
        ws.store.con.execute("SELECT direction, count(*) FROM interactions GROUP BY 1").fetchall()
    )
    assert counts == {"inbound": inbound, "outbound": len(rows) - inbound}
    brands = {r["author_id"] for r in rows if r["inbound"] == "False"}
    stored_brands = {
        b
        for (b,) in ws.store.con.execute(
            "SELECT DISTINCT organisation FROM interactions WHERE direction = 'outbound'"
        ).fetchall()
    }
    assert stored_brands == brands
    # threads: every tweet carries the id of its conversation's first tweet, found by
    # following reply ids (written as floats, "192625.0", by the export)
    parent = {r["tweet_id"]: r["in_response_to_tweet_id"].removesuffix(".0") or None for r in rows}

    def root(tweet: str) -> str:
        seen = tweet
        while parent.get(seen) is not None:
            if parent[seen] not in parent:
                return str(parent[seen])
            seen = str(parent[seen])
        return seen

    stored = dict(
        ws.store.con.execute("SELECT external_id, thread_ref FROM interactions").fetchall()
    )
    assert stored == {t: root(t) for t in parent}
    assert sum(1 for t in parent if parent[t] in parent) > 0  # some chains are followed


def test_reply_chains_become_one_thread(ws: Workspace, tmp_path: Path) -> None:
    text = (
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,42,True,Wed Oct 04 13:59:33 +0000 2017,help,,\n"
        "2,Brand,False,Wed Oct 04 14:00:00 +0000 2017,dm us,,1.0\n"
        "3,42,True,Wed Oct 04 14:01:00 +0000 2017,done,,2\n"
        "9,43,True,Wed Oct 04 14:01:00 +0000 2017,orphan,,7\n"
    )
    later = (
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "4,Brand,False,Wed Oct 04 14:02:00 +0000 2017,thanks,,3\n"
    )
    ws.ingest([write(tmp_path / "a.csv", text)], source="twcs")
    ws.ingest([write(tmp_path / "b.csv", later)], source="twcs")
    threads = dict(
        ws.store.con.execute("SELECT external_id, thread_ref FROM interactions").fetchall()
    )
    assert threads == {"1": "1", "2": "1", "3": "1", "4": "1", "9": "7"}


def test_french_tweets_through_a_workspace_mapping(ws: Workspace, shared_data: Path) -> None:
    (ws.root / "sources" / "freemobile.yaml").write_text(
        "name: freemobile\n"
        "description: Tweets mentioning Free Mobile\n"
        "outputs:\n"
        "  - table: feedback\n"
        "    fields:\n"
        "      external_id: tweet_id\n"
        "      customer_handle: author\n"
        "      comment: text\n"
        "      answered_at: date\n"
        "      instrument: {value: none}\n"
        "      survey_kind: {value: social}\n"
        "      channel: {value: twitter}\n"
        "      platform: {value: twitter}\n"
        "      language: {value: fr}\n",
        encoding="utf-8",
    )
    path = shared_data / "fr-freemobile-tweets" / "free_tweet_export.csv"
    rows = _read_csv(path)
    [result] = ws.ingest([path], source="freemobile")
    assert result.rows_read == len(rows)
    assert result.rows_loaded + result.rows_quarantined + result.duplicates_skipped == len(rows)
    assert result.rows_loaded == len({r["tweet_id"] for r in rows})
    sample = ws.store.con.execute(
        "SELECT comment, channel, attributes->>'$.url' FROM feedback WHERE external_id = '000001'"
    ).fetchone()
    assert sample is not None
    assert sample[0].startswith("à parce-que débit très instable")
    assert sample[1] == "social"
    assert sample[2].startswith("https://twitter.com/")


def test_generated_contacts_surveys_mentions(ws: Workspace, tmp_path: Path) -> None:
    files = write_demo_files(tmp_path / "gen", contacts=2000)
    contacts = _read_csv(files["contacts"])
    [c] = ws.ingest([files["contacts"]], source="contacts")
    [s] = ws.ingest([files["surveys"]], source="surveys")
    [m] = ws.ingest([files["mentions"]], source="mentions")
    assert (c.rows_loaded, c.rows_quarantined) == (len(contacts), 0)
    assert s.rows_quarantined == m.rows_quarantined == 0
    # every phone of the generated population is valid, in whatever format it was written
    assert ws.store.con.execute(
        "SELECT count(*) FROM interactions "
        "WHERE attributes->>'$.\"raw.customer_phone\"' IS NOT NULL"
    ).fetchone() == (0,)
    assert ws.store.con.execute(
        "SELECT count(*) FROM interactions WHERE customer_phone NOT SIMILAR TO '\\+336[0-9]{8}'"
    ).fetchone() == (0,)
    # French channel words all land on the vocabulary
    assert ws.store.con.execute(
        "SELECT count(*) FROM interactions WHERE channel = 'other'"
    ).fetchone() == (0,)
    scales = ws.store.con.execute(
        "SELECT instrument, min(scale_min), max(scale_max), min(score), max(score) "
        "FROM feedback WHERE source = 'surveys' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(i, lo, hi) for i, lo, hi, _, _ in scales] == [
        ("ces", 1.0, 7.0),
        ("csat", 1.0, 5.0),
        ("nps", 0.0, 10.0),
    ]
    assert all(lo <= smin and smax <= hi for _, lo, hi, smin, smax in scales)
    kinds = dict(
        ws.store.con.execute(
            "SELECT survey_kind, count(*) FROM feedback WHERE source = 'surveys' GROUP BY 1"
        ).fetchall()
    )
    assert set(kinds) == {"hot", "cold"}


def test_survey_answers_link_to_their_contact_in_either_order(
    ws: Workspace, tmp_path: Path
) -> None:
    surveys = tmp_path / "s.csv"
    surveys.write_text(
        "response_id,contact_id,survey,score,answered_at\n"
        "r1,K1,nps,9,2024-03-01 10:00:00\nr2,K2,nps,3,2024-03-01 10:00:00\n"
        "r3,ZZ,csat,4,2024-03-01 10:00:00\n",
        encoding="utf-8",
    )
    contacts = tmp_path / "c.csv"
    contacts.write_text(
        "contact_id,channel,started_at\nK1,phone,2024-03-01 09:00:00\n", encoding="utf-8"
    )
    later = tmp_path / "c2.csv"
    later.write_text(
        "contact_id,channel,started_at\nK2,chat,2024-03-01 09:30:00\n", encoding="utf-8"
    )
    ws.ingest([contacts], source="contacts")
    ws.ingest([surveys], source="surveys")  # K1 exists already
    ws.ingest([later], source="contacts")  # K2 arrives after its answer
    links = dict(
        ws.store.con.execute(
            "SELECT external_id, interaction_id FROM feedback ORDER BY 1"
        ).fetchall()
    )
    assert links == {"r1": "contacts:K1", "r2": "contacts:K2", "r3": None}


def test_tables_are_readable_as_arrow_and_ibis(ws: Workspace, shared_data: Path) -> None:
    ws.ingest([shared_data / "cfpb-complaints" / "complaints_sample.csv"], source="cfpb")
    arrow = ws.table("interactions")
    assert arrow.num_rows == 6623
    assert str(arrow.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    con = ws.ibis()
    t = con.table("interactions")
    by_channel = t.group_by("channel").aggregate(n=t.count()).to_pyarrow().to_pylist()
    assert {r["channel"]: r["n"] for r in by_channel}["phone"] == 482


def test_reloading_a_threaded_export_rewrites_nothing(ws: Workspace, tmp_path: Path) -> None:
    head = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    rows = (
        "1,42,True,Wed Oct 04 13:59:33 +0000 2017,help,,\n"
        "2,Brand,False,Wed Oct 04 14:00:00 +0000 2017,dm us,,1\n"
        "3,42,True,Wed Oct 04 14:01:00 +0000 2017,done,,2\n"
    )
    ws.ingest([write(tmp_path / "a.csv", head + rows)], source="twcs")
    more = "4,Brand,False,Wed Oct 04 14:02:00 +0000 2017,thanks,,3\n"
    [again] = ws.ingest([write(tmp_path / "b.csv", head + rows + more)], source="twcs")
    assert (again.rows_loaded, again.rows_updated, again.duplicates_skipped) == (1, 0, 3)
    changed = "3,42,True,Wed Oct 04 14:01:00 +0000 2017,done!,,2\n"
    [edit] = ws.ingest([write(tmp_path / "c.csv", head + changed)], source="twcs")
    assert (edit.rows_loaded, edit.rows_updated) == (1, 1)  # one row, in two tables
    assert ws.store.con.execute(
        "SELECT thread_ref, text FROM interactions WHERE external_id = '3'"
    ).fetchall() == [("1", "done!")]


def test_attribute_order_is_not_a_change(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        [
            write(
                tmp_path / "a.csv",
                "contact_id,channel,started_at,x,y\n1,chat,2024-03-01 10:00:00,a,b\n",
            )
        ],
        source="contacts",
    )
    [again] = ws.ingest(
        [
            write(
                tmp_path / "b.csv",
                "contact_id,channel,started_at,y,x\n1,chat,2024-03-01 10:00:00,b,a\n",
            )
        ],
        source="contacts",
    )
    assert (again.rows_updated, again.duplicates_skipped) == (0, 1)


def test_a_parent_arriving_later_relinks_its_replies(ws: Workspace, tmp_path: Path) -> None:
    head = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    ws.ingest(
        [
            write(
                tmp_path / "a.csv",
                head + "2,Brand,False,Wed Oct 04 14:00:00 +0000 2017,"
                "dm us,,1\n3,42,True,Wed Oct 04 14:01:00 +0000 2017,ok,,2\n",
            )
        ],
        source="twcs",
    )
    ws.ingest(
        [write(tmp_path / "b.csv", head + "1,42,True,Wed Oct 04 13:59:00 +0000 2017,help,,0\n")],
        source="twcs",
    )
    threads = dict(
        ws.store.con.execute("SELECT external_id, thread_ref FROM interactions").fetchall()
    )
    assert threads == {"1": "0", "2": "0", "3": "0"}
