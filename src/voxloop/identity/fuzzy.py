"""Probabilistic matching: customers no identifier joins, but whose names say they are one.

Deterministic resolution (:mod:`voxloop.identity.resolve`) only joins records that share an
identifier. A person who wrote to the shop from a personal address and phoned the call
centre from a work line is two customers there. This module scores every plausible pair of
customers with a Fellegi–Sunter model (Splink on DuckDB, the ``linkage`` extra) and merges
the pairs above a threshold the user sets, each with its explanation.

**Profiles.** One per current customer that has a name (the most frequent spelling among its
records' ``customer_name``): the name folded (lower case, accents stripped, tokens sorted),
its first and last name (a token written in capitals is the surname: ``DUPONT Jean``;
otherwise the last token), the local parts of its e-mails and the last 6 digits of its
phones (linking identifiers only; a value held by more than two customers, ``contact@`` at
several companies, is dropped), and the address fields the workspace maps from record
attributes (``fuzzy_fields``, e.g. ``{cp = "postcode", ville = "city"}``).

**Model.** Blocking — only pairs that share the folded name, or a first name and the start
of a last name, or a first or last name and a place, or an e-mail local part, or a phone
tail, are ever compared. Comparisons, each with its levels: name (same, weighed by how rare
the name is; same first name and last name one letter apart — or a middle name more; same
last name and first name one letter apart; same last name only), e-mail local part and
phone tail (one in common), address (same; close by Jaro–Winkler) and place (same postcode;
same city; same département: one comparison, so that a postcode and its city do not count
twice). The u probabilities come from random pairs (seeded), the m probabilities of the
other fields from expectation maximisation on the pairs that share the folded name, floored
at 1 % (EM cannot see people who moved: to it they look like namesakes), the prior from
that EM session. The names' own m are set (:data:`NAME_M`): EM would learn them from
households. The match weight of a pair is the prior's plus the weight of the level each
field is at: that list is the explanation, kept with every merge.

**Decisions.** A pair at or above ``threshold`` is a match if its names are the same, or its
first names are and its last names one letter apart (:data:`NAME_GATE`): the other fields
confirm a name, they never stand in for one — a household shares a surname and an address,
which together outweigh a different first name. Two customers that each hold a customer
number (necessarily different ones: a shared number would have joined them) are never
merged — reported, not applied. E-mails and phones are not conflicts: people have several,
which is the whole point. ``apply`` merges each match through the manual-merge mechanism
(an ``identity_rules`` edge, so every later resolution keeps it) with reason
``probabilistic`` and the explanation as evidence; matches chain (A~B and B~C join all
three), and the conflict check is made again on the customers as merged so far.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from voxloop.errors import UserError
from voxloop.identity.resolve import RECORD_TABLES
from voxloop.identity.rules import current_id, merge_customers
from voxloop.store.duckdb_store import DuckDBStore

PROFILE_FIELDS = ("address", "postcode", "city")  # what ``fuzzy_fields`` may map onto
MIN_CUSTOMERS = 100  # fewer named customers than this: too little to learn weights from
MIN_TRAINING_PAIRS = 20  # pairs sharing a name, on which EM learns the other fields' m
MAX_HOLDERS = 2  # an e-mail local part or phone tail held by more customers is ignored
SEED = 20240  # random pairs for the u probabilities: the same model on the same data
MAX_U_PAIRS = 1e7  # random pairs for u (all pairs below that)
INSTALL_HINT = "pip install 'voxloop[linkage]'"
BLOCKED = "blocked: each holds a customer number"


@dataclass(frozen=True)
class FuzzyOptions:
    threshold: float  # match probability at or above which a pair is a match
    fields: Mapping[str, str] = field(default_factory=dict)  # attribute → profile field


@dataclass
class MatchResult:
    threshold: float
    applied: bool
    customers: int = 0  # named customers that took part
    pairs_scored: int = 0
    matches: list[dict[str, Any]] = field(default_factory=list)
    merged: int = 0
    blocked: int = 0  # matches no rule may merge (two customer numbers)
    model: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- profiles -----------------------------------------------------------------------------------


def _fold(expr: str) -> str:
    """SQL: lower case, accents stripped, anything but letters and digits a single space."""
    return f"trim(regexp_replace(strip_accents(lower({expr})), '[^a-z0-9]+', ' ', 'g'))"


def _profiles_sql(fields: Mapping[str, str]) -> str:
    """One row per current customer with a name: the columns the model compares."""
    records = " UNION ALL ".join(
        f"SELECT customer_id, customer_name, attributes FROM {t} WHERE customer_id IS NOT NULL"
        for t in RECORD_TABLES
    )
    place_cols, place_joins = [], []
    for target in sorted(set(fields.values())):
        values = []
        for attribute in sorted(a for a, t in fields.items() if t == target):
            path = "$." + '"' + attribute.replace('"', "").replace("'", "") + '"'
            raw = f"nullif(trim(json_extract_string(attributes, '{path}')), '')"
            values.append(
                f"nullif(upper(regexp_replace({raw}, '\\s+', '', 'g')), '')"
                if target == "postcode"
                else f"nullif({_fold(raw)}, '')"
            )
        value = f"coalesce({', '.join(values)})"
        place_cols.append(f"{target}.v AS {target}")
        place_joins.append(
            f"LEFT JOIN (SELECT customer_id, first(v ORDER BY n DESC, v) AS v FROM ("
            f"SELECT customer_id, {value} AS v, count(*) AS n FROM recs WHERE {value} IS NOT NULL "
            f"GROUP BY ALL) GROUP BY customer_id) {target} USING (customer_id)"
        )
    tokens = r"string_split_regex(trim(regexp_replace(strip_accents(n.raw), '[^\p{L}0-9]+', ' ', 'g')), ' +')"  # noqa: E501
    ids = """
        SELECT i.customer_id, i.kind, {part} AS part FROM identities i
        JOIN customers c ON c.customer_id = i.customer_id AND c.merged_into IS NULL
        WHERE i.status = 'linked' AND i.kind = '{kind}'
    """
    email = ids.format(part=r"regexp_replace(split_part(i.value, '@', 1), '\+.*$', '')",
                       kind="email")  # fmt: skip
    phone = ids.format(part="right(i.value, 6)", kind="phone")
    return f"""
    WITH recs AS (
        SELECT r.* FROM ({records}) r
        JOIN customers c ON c.customer_id = r.customer_id AND c.merged_into IS NULL),
    n AS (
        SELECT customer_id, first(raw ORDER BY n DESC, raw) AS raw FROM (
            SELECT customer_id, trim(customer_name) AS raw, count(*) AS n FROM recs
            WHERE nullif(trim(customer_name), '') IS NOT NULL GROUP BY ALL)
        GROUP BY customer_id),
    t AS (
        SELECT customer_id, raw, list_filter({tokens}, lambda x: x <> '') AS toks FROM n n),
    caps AS (
        SELECT *, list_filter(toks, lambda x: x = upper(x) AND length(x) > 1
                                          AND x <> lower(x)) AS upper_toks FROM t),
    names AS (
        SELECT customer_id, raw,
               array_to_string(list_sort(list_transform(toks, lambda x: lower(x))), ' ') AS name,
               CASE WHEN len(upper_toks) > 0 AND len(upper_toks) < len(toks)
                    THEN lower(array_to_string(upper_toks, ' '))
                    ELSE lower(toks[-1]) END AS last_name,
               CASE WHEN len(upper_toks) > 0 AND len(upper_toks) < len(toks)
                    THEN lower(list_filter(toks, lambda x: NOT list_contains(upper_toks, x))[1])
                    WHEN len(toks) > 1 THEN lower(toks[1]) END AS first_name
        FROM caps WHERE len(toks) > 0),
    parts AS (
        SELECT * FROM ({email} UNION ALL {phone}) WHERE length(part) >= 3),
    kept AS (
        SELECT * FROM parts WHERE (kind, part) IN (
            SELECT kind, part FROM parts GROUP BY ALL
            HAVING count(DISTINCT customer_id) <= {MAX_HOLDERS})),
    idl AS (
        SELECT customer_id,
               list_sort(list(DISTINCT part) FILTER (WHERE kind = 'email')) AS email_locals,
               list_sort(list(DISTINCT part) FILTER (WHERE kind = 'phone')) AS phone_tails
        FROM kept GROUP BY customer_id)
    SELECT names.customer_id, names.raw AS name_as_written, names.name, names.first_name,
           names.last_name,
           nullif(idl.email_locals, []) AS email_locals,
           nullif(idl.phone_tails, []) AS phone_tails
           {"".join(", " + c for c in place_cols)}
    FROM names LEFT JOIN idl USING (customer_id)
    {" ".join(place_joins)}
    ORDER BY names.customer_id
    """


# -- the model ----------------------------------------------------------------------------------

# How often the names of two records of one person fall at each level: set, not learned. EM
# cannot learn them: in pairs blocked on a place, households (one surname, one address) form
# the tightest cluster and EM takes them for the matches (m of "same last name only" came out
# at 0.66 on the planted population), and in pairs blocked on anything else names are all
# there is to tell matches apart.
NAME_M = {
    "same name": 0.85,
    "last name one letter apart": 0.07,
    "first name one letter apart": 0.03,
    "same last name, other first name": 0.02,
    "other": 0.03,
}
# gamma of "last name one letter apart": below it a pair is never a match. A first name one
# letter apart is below: Léo and Léa, Michel and Michèle, Maëlle and Gaëlle at one address
# are two people of one household far more often than a typo (measured: the only household
# pairs matched at 20,000 people were such names, until this gate)
NAME_GATE = 3
# Starting m of the other fields, learned by EM where it observes them (else kept as is).
START_M = {
    "address": {"same address": 0.7, "close address": 0.1, "other": 0.2},
    "place": {"same postcode": 0.8, "same city": 0.05, "same département": 0.05, "other": 0.1},
    "email_locals": {"an e-mail name in common": 0.1, "other": 0.9},
    "phone_tails": {"a phone ending in common": 0.1, "other": 0.9},
}
M_FLOOR = 0.01  # no level may claim that true matches never reach it (movers, new e-mails)
RARE_U = 1e-6  # u of a level random pairs never reach (a phone ending in common)
FIELD = {"email_locals": "e-mail", "phone_tails": "phone"}  # comparison → word in explanations


class _Splink(NamedTuple):
    cll: Any  # splink.comparison_level_library
    cl: Any  # splink.comparison_library
    settings: Any  # SettingsCreator
    block_on: Any
    linker: Any  # Linker
    duckdb_api: Any  # DuckDBAPI


def _splink() -> _Splink:
    """Splink's pieces, or the error that says how to install it (an optional extra)."""
    try:
        import splink.comparison_level_library as cll
        import splink.comparison_library as cl
        from splink import Linker, SettingsCreator, block_on
        from splink.backends.duckdb import DuckDBAPI
    except ImportError as exc:
        raise UserError(
            "probabilistic matching needs Splink, which is not installed",
            hint=INSTALL_HINT,
        ) from exc
    return _Splink(cll, cl, SettingsCreator, block_on, Linker, DuckDBAPI)


def _model(places: list[str]) -> tuple[Any, Any]:
    """Splink settings for the profile columns present, and the EM blocking rule."""
    sp = _splink()
    cll, cl, block_on = sp.cll, sp.cl, sp.block_on

    def comparison(
        column: str, levels: list[tuple[str, Any]], null: Any = None, fixed: bool = False
    ) -> Any:
        m = NAME_M if fixed else START_M[column]
        made = [null or cll.NullLevel(column)]
        for label, creator in [*levels, ("other", cll.ElseLevel())]:
            options: dict[str, Any] = {"m_probability": m[label], "fix_m_probability": fixed}
            if label != "other":
                options["label_for_charts"] = label
            if label.endswith("in common"):
                options["u_probability"] = RARE_U
            made.append(creator.configure(**options))
        return cl.CustomComparison(made, output_column_name=column)

    def one_letter(a: str, b: str) -> Any:
        return cll.And(cll.ExactMatchLevel(a), cll.DamerauLevenshteinLevel(b, 1))

    comparisons = [
        comparison(
            "name",
            [
                ("same name", cll.ExactMatchLevel("name").configure(tf_adjustment_column="name")),
                ("last name one letter apart", one_letter("first_name", "last_name")),
                ("first name one letter apart", one_letter("last_name", "first_name")),
                ("same last name, other first name", cll.ExactMatchLevel("last_name")),
            ],
            fixed=True,
        ),
        comparison(
            "email_locals",
            [("an e-mail name in common", cll.ArrayIntersectLevel("email_locals", 1))],
        ),
        comparison(
            "phone_tails",
            [("a phone ending in common", cll.ArrayIntersectLevel("phone_tails", 1))],
        ),
    ]
    if "address" in places:
        comparisons.append(
            comparison(
                "address",
                [
                    ("same address", cll.ExactMatchLevel("address")),
                    ("close address", cll.JaroWinklerLevel("address", 0.92)),
                ],
            )
        )
    # postcode and city say the same thing: one comparison, so that it is not counted twice
    where = [p for p in ("postcode", "city") if p in places]
    if where:
        levels = []
        if "postcode" in where:
            levels.append(("same postcode", cll.ExactMatchLevel("postcode")))
        if "city" in where:
            levels.append(("same city", cll.ExactMatchLevel("city")))
        if "postcode" in where:
            levels.append(("same département", cll.CustomLevel(
                "substr(postcode_l, 1, 2) = substr(postcode_r, 1, 2)")))  # fmt: skip
        comparable = " OR ".join(f"({p}_l IS NOT NULL AND {p}_r IS NOT NULL)" for p in where)
        null = cll.CustomLevel(f"NOT ({comparable})").configure(is_null_level=True)
        comparisons.append(comparison("place", levels, null=null))
    blocking = [
        block_on("name"),
        block_on("first_name", "substr(last_name, 1, 3)"),
        *(block_on("last_name", place) for place in places),
        *(block_on("first_name", place) for place in places),
        block_on("email_locals", arrays_to_explode=["email_locals"]),
        block_on("phone_tails", arrays_to_explode=["phone_tails"]),
    ]
    settings = sp.settings(
        link_type="dedupe_only",
        unique_id_column_name="customer_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["name_as_written"],
    )
    return settings, block_on("name")


# -- scoring -----------------------------------------------------------------------------------


class _Captured(logging.Handler):
    """Splink's log messages during one run: kept as notes instead of printed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


@contextmanager
def _quiet_splink() -> Iterator[_Captured]:
    logger = logging.getLogger("splink")
    handler = _Captured()
    saved = logger.level, logger.propagate, list(logger.handlers)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.setLevel(saved[0])
        logger.propagate, logger.handlers = saved[1], saved[2]


UNTRAINED = re.compile(r"Level (.+) on comparison (\S+) not observed in dataset")


def _notes(messages: list[str]) -> list[str]:
    """Splink's "level not observed" warnings, in the user's terms."""
    return [
        f"no pair sharing a name was at level '{found[1]}' of {found[2]}: its m probability "
        "is the starting value, not learned"
        for found in map(UNTRAINED.search, messages)
        if found
    ]


def _floored(model: dict[str, Any]) -> dict[str, Any]:
    """The trained model with every m at least ``M_FLOOR`` (renormalised per comparison)."""
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        ms = [max(float(lv.get("m_probability") or 0.0), M_FLOOR) for lv in levels]
        for lv, m in zip(levels, ms, strict=True):
            lv["m_probability"] = m / sum(ms)
    return model


def _levels(model: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """comparison → gamma → {label, m, u, weight}: the model as a user reads it."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        table: dict[int, dict[str, Any]] = {}
        for i, lv in enumerate(levels):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            label = lv.get("label_for_charts") or "other"
            table[len(levels) - 1 - i] = {
                "level": "other" if label == "All other comparisons" else label,
                "m": m,
                "u": u if isinstance(u, float) else None,
                "weight": math.log2(m / u) if isinstance(u, float) and m and u else None,
            }
        out[comparison["output_column_name"]] = table
    return out


def _score(
    profiles: pa.Table, places: list[str], threshold: float, result: MatchResult
) -> list[dict[str, Any]]:
    """Train the model on ``profiles`` and return the pairs at or above ``threshold`` whose
    names agree, each with its explanation."""
    sp = _splink()
    settings, training = _model(places)
    con = duckdb.connect()
    try:
        with _quiet_splink() as log:
            db = sp.duckdb_api(con)
            frame = db.register(profiles, table_name="profiles")
            [(shared,)] = con.execute(
                "SELECT count(*) FROM profiles a JOIN profiles b "
                "ON a.name = b.name AND a.customer_id < b.customer_id"
            ).fetchall()
            if shared < MIN_TRAINING_PAIRS:
                raise UserError(
                    f"only {shared} pair(s) of customers share a name: too few for "
                    f"probabilistic matching to learn what an agreeing address or e-mail "
                    f"is worth (it needs at least {MIN_TRAINING_PAIRS})",
                    hint="run it once more customers with names are loaded",
                )
            linker = sp.linker(frame, settings, log_level=None)
            n = profiles.num_rows
            linker.training.estimate_u_using_random_sampling(
                max_pairs=min(MAX_U_PAIRS, n * (n - 1) / 2), seed=SEED
            )
            linker.training.estimate_parameters_using_expectation_maximisation(
                training, populate_probability_two_random_records_match_from_trained_values=True
            )
            model = _floored(linker.misc.save_model_to_json())
            linker = sp.linker(frame, model, log_level=None)
            predictions = linker.inference.predict()
            table = predictions.physical_name
            [(scored,)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()
            rows: list[dict[str, Any]] = (
                con.sql(
                    f"SELECT * FROM {table} WHERE match_probability >= ? AND gamma_name >= ? "
                    "ORDER BY match_probability DESC, customer_id_l, customer_id_r",
                    params=[threshold, NAME_GATE],
                )
                .to_arrow_table()
                .to_pylist()
            )
        result.notes += _notes(log.messages)
    finally:
        con.close()
    result.pairs_scored = int(scored)
    levels = _levels(model)
    prior = float(model["probability_two_random_records_match"])
    result.model = {
        "probability_two_random_records_match": prior,
        "prior_weight": math.log2(prior / (1 - prior)),
        "name_pairs_trained_on": int(shared),
        "blocking_rules": [
            b["blocking_rule"] for b in model["blocking_rules_to_generate_predictions"]
        ],
        "comparisons": {FIELD.get(c, c): list(t.values()) for c, t in levels.items()},
    }
    return [_explain(row, levels) for row in rows]


def _shown(row: dict[str, Any], column: str) -> list[Any]:
    if column == "name":
        return [row["name_as_written_l"], row["name_as_written_r"]]
    if column == "place":
        return [
            " ".join(str(row[f"{p}_{side}"]) for p in ("postcode", "city")
                     if row.get(f"{p}_{side}") is not None) or None
            for side in "lr"
        ]  # fmt: skip
    return [row[f"{column}_l"], row[f"{column}_r"]]


def _explain(row: dict[str, Any], levels: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    why = []
    for column, table in levels.items():
        gamma = row[f"gamma_{column}"]
        if gamma is None or gamma < 0:
            continue  # a side without the field: weight 0, nothing to say
        weight = float(row[f"mw_{column}"]) + float(row.get(f"mw_tf_adj_{column}") or 0.0)
        why.append(
            {
                "field": FIELD.get(column, column),
                "level": table[gamma]["level"],
                "weight": round(weight, 2),
                "values": _shown(row, column),
            }
        )
    return {
        "customer_id": row["customer_id_l"],
        "other_id": row["customer_id_r"],
        "match_probability": float(row["match_probability"]),
        "match_weight": round(float(row["match_weight"]), 2),
        "explanation": why,
        "status": "match",
    }


def _evidence(match: dict[str, Any], prior_weight: float) -> str:
    """The explanation, compact, for the merge log."""
    return json.dumps(
        {
            "p": round(match["match_probability"], 6),
            "weight": match["match_weight"],
            "prior": round(prior_weight, 2),
            "fields": {w["field"]: [w["level"], w["weight"]] for w in match["explanation"]},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


# -- the entry point ---------------------------------------------------------------------------


def _account_holders(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Customers holding a linking customer number (two such are never merged)."""
    rows = con.execute(
        "SELECT DISTINCT customer_id FROM identities WHERE kind = 'account' "
        "AND status = 'linked' AND customer_id IS NOT NULL"
    ).fetchall()
    return {str(r[0]) for r in rows}


def _check_fields(fields: Mapping[str, str]) -> None:
    bad = sorted({f for f in fields.values() if f not in PROFILE_FIELDS})
    if bad:
        raise UserError(
            f"fuzzy_fields maps attributes onto unknown field(s) {', '.join(bad)}",
            hint=f"map attribute names onto {', '.join(PROFILE_FIELDS)}, "
            'e.g. fuzzy_fields = {cp = "postcode", ville = "city"}',
        )


def link_probabilistic(
    store: DuckDBStore,
    options: FuzzyOptions,
    *,
    apply: bool = False,
    actor: str = "cli",
) -> MatchResult:
    """Score likely duplicates among named customers; merge those at or above the threshold
    when ``apply``. See the module's documentation."""
    started = time.perf_counter()
    if not 0 < options.threshold < 1:
        raise UserError(
            f"the threshold is a match probability between 0 and 1, not {options.threshold}",
            hint="e.g. --threshold 0.99 (the default)",
        )
    _check_fields(options.fields)
    _splink()  # fail before any work when the extra is missing
    result = MatchResult(threshold=options.threshold, applied=apply)
    con = store.con
    profiles = con.sql(_profiles_sql(options.fields)).to_arrow_table()
    result.customers = profiles.num_rows
    if profiles.num_rows < MIN_CUSTOMERS:
        raise UserError(
            f"probabilistic matching needs at least {MIN_CUSTOMERS} customers with a name to "
            f"learn its weights from; there are {profiles.num_rows}",
            hint="load sources that carry the customer's name (customer_name in the mapping) "
            "and run `voxloop resolve` first",
        )
    places = sorted(set(options.fields.values()))
    if not places:
        result.notes.append(
            "no address field mapped (fuzzy_fields): names alone rarely reach the threshold; "
            'map the attributes that hold them, e.g. fuzzy_fields = {cp = "postcode"}'
        )
    matches = _score(profiles, places, options.threshold, result)
    prior = float(result.model["prior_weight"])
    holders = _account_holders(con)
    for match in matches:
        if match["customer_id"] in holders and match["other_id"] in holders:
            match["status"] = BLOCKED
    if apply:
        for match in matches:
            if match["status"] != "match":
                continue
            a, b = current_id(con, match["customer_id"]), current_id(con, match["other_id"])
            if a == b:
                match["status"] = "already one customer"  # joined through an earlier match
            elif a in holders and b in holders:
                match["status"] = BLOCKED  # each side got a number through earlier matches
            else:
                done = merge_customers(
                    store, a, b, actor=actor, note=_evidence(match, prior), reason="probabilistic"
                )
                if a in holders or b in holders:
                    holders.add(done["kept"])
                match["status"] = f"merged into {done['kept']}"
                result.merged += 1
    result.blocked = sum(m["status"].startswith("blocked") for m in matches)
    result.matches = matches
    result.duration_s = round(time.perf_counter() - started, 3)
    return result
