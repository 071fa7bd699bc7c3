"""The conformance suite: every indicator on small fixed data, answers computed by hand,
on DuckDB, PostgreSQL and Spark.

The data (tests/data/conformance) is 13 contacts and 15 survey answers loaded through the real
ingestion. Each expected figure below says how it was counted; the comments name the rows.
Calendar: Paris, Mon–Fri 09:00–12:00 and 14:00–18:00, French public holidays.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from voxloop import Workspace
from voxloop.backends import Backend, duckdb_backend, postgres_backend, spark_backend
from voxloop.metrics import MetricsEngine

DATA = Path(__file__).parent / "data" / "conformance"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
ENGINES = ("duckdb", "postgresql", "spark")


@pytest.fixture(scope="module")
def conformance_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("conformance") / "ws"
    ws = Workspace.init(root)
    shutil.copy(DATA / "sla.yaml", root / "sla.yaml")
    [contacts] = ws.ingest([DATA / "contacts.csv"], source="contacts")
    [surveys] = ws.ingest([DATA / "surveys.csv"], source="surveys")
    assert (contacts.rows_loaded, surveys.rows_loaded) == (13, 15)
    # two resolved customers (identity resolution writes these; here by hand), and one id
    # merged into another, which must not duplicate rows
    con = ws.store.con
    con.execute(
        "INSERT INTO customers (customer_id, segment, persona) VALUES "
        "('cust-a', 'premium', 'busy parent'), ('cust-b', 'standard', 'student'), "
        "('cust-z', 'ghost', 'ghost')"
    )
    con.execute("UPDATE customers SET merged_into = 'cust-a' WHERE customer_id = 'cust-z'")
    for table in ("interactions", "feedback"):
        for email, customer in (("a@x.example", "cust-a"), ("b@x.example", "cust-b")):
            con.execute(
                f"UPDATE {table} SET customer_id = ? WHERE customer_email = ?", [customer, email]
            )
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture(scope="module", params=ENGINES)
def engine(
    request: pytest.FixtureRequest,
    conformance_ws: Workspace,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MetricsEngine]:
    backend: Backend
    if request.param == "duckdb":
        backend = duckdb_backend(conformance_ws.store)
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        conformance_ws.publish_postgres(url)
        backend = postgres_backend(url)
    else:
        lake = tmp_path_factory.mktemp("lake")
        conformance_ws.export_parquet(lake)
        backend = spark_backend(lake, session=request.getfixturevalue("spark"))
    metrics = MetricsEngine(
        backend, time_zone="Europe/Paris", sla=conformance_ws.sla(), min_sample=3, now=NOW
    )
    try:
        yield metrics
    finally:
        if request.param != "duckdb":
            backend.close()


def rows(table: pa.Table) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = table.to_pylist()
    return out


def by_key(table: pa.Table, *keys: str) -> dict[Any, dict[str, Any]]:
    out = {}
    for r in rows(table):
        k = tuple(r[key] for key in keys)
        out[k[0] if len(k) == 1 else k] = r
    return out


def close(actual: float | None, expected: float) -> bool:
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


# -- satisfaction -------------------------------------------------------------------------------


def test_nps_overall_with_multinomial_interval(engine: MetricsEngine) -> None:
    # s1..s6: promoters s1, s2, s3, s6 (4); detractors s4 (3), s5 (0): (4 − 2) / 6
    [r] = rows(engine.compute("nps"))
    assert r["n"] == 6 and close(r["value"], 100 * 2 / 6)
    p, d = 4 / 6, 2 / 6
    half = 1.959963984540054 * math.sqrt((p + d - (p - d) ** 2) / 6)
    assert close(r["ci_low"], 100 * (p - d - half))
    assert close(r["ci_high"], 100 * min(1.0, p - d + half))
    assert r["low_sample"] is False


def test_nps_by_survey_kind_and_weighted(engine: MetricsEngine) -> None:
    kinds = by_key(engine.compute("nps", ["survey_kind"]), "survey_kind")
    assert close(kinds["hot"]["value"], 100 * (3 - 1) / 4)  # s1..s4
    assert close(kinds["cold"]["value"], 0.0)  # s5 detractor, s6 promoter
    # weights: s5 = 2, s6 = 0.5, others 1 → (3.5 − 3) / 6.5
    [w] = rows(engine.compute("nps", weighted=True))
    assert close(w["value"], 100 * 0.5 / 6.5) and w["n"] == 6


def test_nps_by_team_of_the_linked_contact(engine: MetricsEngine) -> None:
    teams = by_key(engine.compute("nps", ["team"]), "team")
    assert close(teams["T1"]["value"], 100 * (2 - 1) / 3)  # s1 10, s3 9, s5 0
    assert close(teams["T2"]["value"], 0.0)  # s2 9, s4 3
    assert teams[None]["n"] == 1  # s6 has no contact


def test_csat_top2_and_mean(engine: MetricsEngine) -> None:
    stats = by_key(engine.compute("csat"), "statistic")
    assert close(stats["top2"]["value"], 0.5) and stats["top2"]["n"] == 4  # 5, 4 of 5, 4, 2, 1
    assert close(stats["mean"]["value"], 3.0)
    # Student t on (5, 4, 2, 1): sd = sqrt(10/3), t(3) = 3.182446305284263
    half = 3.182446305284263 * math.sqrt(10 / 3) / 2
    assert close(stats["mean"]["ci_low"], 3.0 - half)


def test_ces_mean_and_low_effort(engine: MetricsEngine) -> None:
    stats = by_key(engine.compute("ces"), "statistic")
    assert close(stats["mean"]["value"], 16 / 3)  # 7, 4, 5
    assert close(stats["low_effort"]["value"], 2 / 3)  # above 4 on 1–7: 7 and 5


def test_declared_fcr(engine: MetricsEngine) -> None:
    [r] = rows(engine.compute("fcr-declared"))
    assert close(r["value"], 0.5) and r["n"] == 2 and r["low_sample"] is True


def test_response_rate(engine: MetricsEngine) -> None:
    # contacts with an answer: c1..c5 (nps), c6, c7, c8 (csat) — 8 of 13
    [r] = rows(engine.compute("response-rate"))
    assert close(r["value"], 8 / 13) and r["n"] == 13


# -- service ----------------------------------------------------------------------------------


def test_volume_by_local_month(engine: MetricsEngine) -> None:
    months = by_key(engine.compute("volume", ["month"]), "month")
    # c13 is 2024-04-01 00:30 in Paris but still March in UTC
    assert {m: r["value"] for m, r in months.items()} == {
        "2023-12": 1.0,
        "2024-01": 10.0,
        "2024-03": 1.0,
        "2024-04": 1.0,
    }


def test_channel_mix(engine: MetricsEngine) -> None:
    mix = by_key(engine.compute("channel-mix"), "channel")
    assert {c: r["count"] for c, r in mix.items()} == {
        "chat": 1,
        "email": 5,
        "phone": 5,
        "web_form": 2,
    }
    assert close(mix["phone"]["value"], 5 / 13) and mix["phone"]["n"] == 13


def test_aht_mean_and_median(engine: MetricsEngine) -> None:
    aht = by_key(engine.compute("aht", ["channel"]), "channel", "statistic")
    assert close(aht[("phone", "mean")]["value"], 355.0)  # 300, 600, 400, 120
    assert close(aht[("phone", "median")]["value"], 300.0)  # nearest rank 2 of 4
    assert close(aht[("chat", "mean")]["value"], 200.0)
    assert ("email", "mean") not in aht  # e-mails record no handling time


def test_frt_percentiles(engine: MetricsEngine) -> None:
    frt = by_key(engine.compute("frt", ["channel"]), "channel", "statistic")
    assert [frt[("phone", p)]["value"] for p in ("p50", "p80", "p90")] == [45.0, 90.0, 90.0]
    # e-mail waits: 2 h, 25 h, 30 h, 66 h, 89 h → ranks 3, 4, 5 of 5
    hours = [frt[("email", p)]["value"] / 3600 for p in ("p50", "p80", "p90")]
    assert hours == [30.0, 66.0, 89.0]
    assert frt[("email", "p50")]["n"] == 5


def test_service_level_in_business_hours(engine: MetricsEngine) -> None:
    sl = by_key(engine.compute("service-level", ["channel"]), "channel", "statistic")
    # phone, 60 s wall clock: c1 30 s, c5 45 s met; c3 90 s missed; c10 never answered
    assert close(sl[("phone", "first_response")]["value"], 0.5)
    assert sl[("phone", "first_response")]["n"] == 4
    # e-mail, 8 business hours: c2 2 h, c6 7 h (Mon 08:00 → Tue 09:00), c7 3 h (Fri 17:00 →
    # Mon 11:00), c9 2 h (29 Dec 17:00 → 2 Jan 10:00 over New Year's Day) met; c8 11 h missed
    assert close(sl[("email", "first_response")]["value"], 0.8)
    # resolution, 16 business hours: c2 solved in 7 h; c6–c9 still open long after
    assert close(sl[("email", "resolution")]["value"], 0.2)
    assert ("phone", "resolution") not in sl  # no target


def test_abandonment_backlog_declared_sla_transfers(engine: MetricsEngine) -> None:
    ab = by_key(engine.compute("abandonment", ["channel"]), "channel")
    assert close(ab["phone"]["value"], 0.25) and close(ab["chat"]["value"], 0.0)
    backlog = by_key(engine.compute("backlog", ["channel"]), "channel")
    assert {c: r["value"] for c, r in backlog.items()} == {"email": 4.0, "web_form": 2.0}
    sla = by_key(engine.compute("declared-sla", ["channel"]), "channel")
    assert {c: r["value"] for c, r in sla.items()} == {"chat": 1.0, "email": 0.0, "phone": 1.0}
    [tr] = rows(engine.compute("transfers"))
    assert close(tr["value"], 2 / 5)  # c2, c5 of c1..c5


# -- what happens after a contact ---------------------------------------------------------------


def test_fcr_computed(engine: MetricsEngine) -> None:
    # inbound c1..c10 (c12, c13 are less than 7 days before the end of the data);
    # c1 → c2 (billing, 1 day), c4 → c5 (delivery), c6 → c7 (account, 4 days) came back
    [r] = rows(engine.compute("fcr"))
    assert r["n"] == 10 and close(r["value"], 0.7)
    ch = by_key(engine.compute("fcr", ["channel"]), "channel")
    assert close(ch["phone"]["value"], 3 / 4) and close(ch["email"]["value"], 4 / 5)
    assert close(ch["chat"]["value"], 0.0)


def test_fcr_window_is_configurable(engine: MetricsEngine) -> None:
    # within 20 days c9 (29 Dec) → c8 (16 Jan, billing) also counts as a return;
    # censoring now drops contacts after 11 March: still c1..c10
    [r] = rows(engine.compute("fcr", days=20))
    assert r["n"] == 10 and close(r["value"], 0.6)


def test_repeat_contact_and_channel_switching(engine: MetricsEngine) -> None:
    [rep] = rows(engine.compute("repeat-contact"))
    assert close(rep["value"], 0.3) and rep["n"] == 10  # c1 → c2, c4 → c5, c6 → c7
    # digital contacts c2, c4, c6, c7, c8, c9: only the chat c4 is followed by a call (c5)
    [sw] = rows(engine.compute("channel-switching"))
    assert sw["n"] == 6 and close(sw["value"], 1 / 6)


# -- data quality -----------------------------------------------------------------------------


def test_completeness_and_inconsistency(engine: MetricsEngine) -> None:
    comp = by_key(engine.compute("completeness"), "table", "field")
    assert close(comp[("interactions", "first_response_at")]["value"], 9 / 13)
    assert close(comp[("feedback", "interaction_ref")]["value"], 8 / 15)
    inc = by_key(engine.compute("inconsistency"), "table", "rule")
    assert close(inc[("feedback", "answer_before_contact")]["value"], 1 / 15)  # s3
    assert close(inc[("interactions", "end_before_start")]["value"], 0.0)
    assert close(inc[("interactions", "phone_unparsable")]["value"], 1 / 13)  # c11's "12"
    assert close(inc[("feedback", "phone_unparsable")]["value"], 0.0)


# -- periods and comparisons ------------------------------------------------------------------


def test_compare_previous_period(engine: MetricsEngine) -> None:
    [r] = rows(engine.compute("nps", start="2024-02-01", end="2024-02-29", compare="previous"))
    assert r["n"] == 1 and close(r["value"], 100.0)  # s6 only
    # previous 29 days (3–31 Jan): s1, s2, s3 promoters, s4, s5 detractors
    assert r["previous_n"] == 5 and close(r["previous_value"], 20.0)
    # the test adds one promoter, one detractor and one passive to each period (so that a
    # lone promoter is not "certain"): now (2/4, 1/4) of 4, before (4/8, 3/8) of 8
    var_now = (0.5 + 0.25 - 0.25**2) / 4
    var_prev = (0.5 + 0.375 - 0.125**2) / 8
    z = ((0.5 - 0.25) - (0.5 - 0.375)) / math.sqrt(var_now + var_prev)
    assert close(r["p_value"], math.erfc(z / math.sqrt(2)))
    assert r["significant"] is False


def test_empty_period_gives_n_zero(engine: MetricsEngine) -> None:
    [r] = rows(engine.compute("nps", ["channel"], start="2030-01-01", end="2030-01-31"))
    assert r["n"] == 0 and r["value"] is None and r["low_sample"] is True
    frt = rows(engine.compute("frt", start="2030-01-01", end="2030-01-31"))
    assert [x["n"] for x in frt] == [0, 0, 0]


def test_filters(engine: MetricsEngine) -> None:
    [r] = rows(engine.compute("volume", filters={"channel": ["phone", "chat"], "team": ["T1"]}))
    assert r["value"] == 5.0  # c1, c3, c5, c10, c11


# -- dimensions from other tables and from local time ------------------------------------------


def test_segment_and_persona_come_from_the_customer(engine: MetricsEngine) -> None:
    seg = by_key(engine.compute("nps", ["segment"]), "segment")
    assert close(seg["premium"]["value"], 100.0) and seg["premium"]["n"] == 3  # 10, 9, 9
    assert close(seg["standard"]["value"], -100.0)  # 3, 0
    assert seg[None]["n"] == 1  # s6
    vol = by_key(engine.compute("volume", ["persona"]), "persona")
    assert {p: r["value"] for p, r in vol.items()} == {
        "busy parent": 3.0,
        "student": 2.0,
        None: 8.0,
    }


def test_weekday_and_hour_are_local(engine: MetricsEngine) -> None:
    days = by_key(engine.compute("volume", ["weekday"]), "weekday")
    # c13 is Monday 00:30 in Paris (Sunday in UTC)
    assert {d: r["value"] for d, r in days.items()} == {
        1: 4.0,
        2: 3.0,
        3: 1.0,
        4: 1.0,
        5: 2.0,
        6: 1.0,
        7: 1.0,
    }
    [nine] = rows(engine.compute("volume", filters={"hour": ["9"]}))
    assert nine["value"] == 3.0  # c1, c3, c5
