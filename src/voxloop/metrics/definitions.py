"""The built-in indicators: every definition voxloop computes, in one place.

Each entry says what it counts, on which rows, in words (for ``voxloop kpi --list``, the
dashboard's tooltips and the documentation) and in Ibis (for every engine).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import ibis

from voxloop.errors import ConfigError
from voxloop.metrics.calendar import BUCKET_S, business_expr, business_until, calendar_table
from voxloop.metrics.dimensions import DIMENSIONS
from voxloop.metrics.epoch import epoch
from voxloop.metrics.spec import (
    Context,
    Count,
    Expr,
    FieldShares,
    Mean,
    Metric,
    NetScore,
    Proportion,
    Quantiles,
    Statistic,
)
from voxloop.model.schema import FEEDBACK, INTERACTIONS

DIGITAL_CHANNELS = ("email", "chat", "social", "web_form", "self_care", "forum", "app", "sms")
LIVE_CHANNELS = ("phone", "chat", "callback", "video")
ABANDON_WORDS = ("abandon", "raccroch", "hung up", "hang up", "no answer", "sans réponse")

_CONTACT_DIMS = frozenset(d for d, v in DIMENSIONS.items() if "interactions" in v.tables)
_FEEDBACK_DIMS = frozenset(d for d, v in DIMENSIONS.items() if "feedback" in v.tables)


def customer_key(r: Expr) -> Expr:
    """Who the contact is from: the resolved customer, else the strongest identifier."""
    return ibis.coalesce(
        r.customer_id,
        "email:" + r.customer_email,
        "phone:" + r.customer_phone,
        "handle:" + r.customer_handle,
        r.source + ":" + r.customer_ref,
    )


def _epoch(ts: Expr) -> Expr:
    return epoch(ts)


def _inbound(r: Expr) -> Expr:
    return r.direction.isnull() | (r.direction == "inbound")


def _instrument(name: str) -> Any:
    def prepare(r: Expr, ctx: Context) -> Expr:
        return r.filter(r.instrument == name, r.score.notnull())

    return prepare


def _all_rows(r: Expr, ctx: Context) -> Expr:
    return r


# -- satisfaction --------------------------------------------------------------------------


def _response_rate_rows(r: Expr, ctx: Context) -> Expr:
    answered = ctx.table("feedback")
    answered = (
        answered.filter(answered.interaction_id.notnull())
        .select(_answered_id=answered.interaction_id)
        .distinct()
    )
    r = r.left_join(answered, r.interaction_id == answered._answered_id)
    return r.mutate(_answered=r._answered_id.notnull()).drop("_answered_id")


# -- service -------------------------------------------------------------------------------


def _frt_rows(r: Expr, ctx: Context) -> Expr:
    r = r.filter(r.first_response_at.notnull())
    r = r.mutate(_frt=_epoch(r.first_response_at) - _epoch(r.started_at))
    return r.filter(r._frt >= 0)


def _aht_rows(r: Expr, ctx: Context) -> Expr:
    return r.filter(r.handle_s.notnull(), r.handle_s > 0)


def _sources_where(r: Expr, ctx: Context, condition: Expr) -> list[str]:
    """Sources with at least one row where ``condition`` holds: a complaint database that
    never records an end, or never reports an abandoned call, says nothing about backlog
    or abandonment."""
    found = ctx.execute(r.filter(condition).select("source").distinct())
    return sorted(str(s) for s in found.column("source").to_pylist()) or [""]


def _backlog_rows(r: Expr, ctx: Context) -> Expr:
    sources = _sources_where(r, ctx, r.ended_at.notnull())
    return r.filter(r.ended_at.isnull(), _inbound(r), r.source.isin(sources))


def _abandoned(r: Expr) -> Expr:
    outcome = r.outcome.lower()
    abandoned = ibis.literal(False)
    for word in ABANDON_WORDS:
        abandoned = abandoned | outcome.contains(word)
    return abandoned.fill_null(False)


def _abandon_rows(r: Expr, ctx: Context) -> Expr:
    # only sources that ever report an abandoned contact track abandonment at all (a
    # complaint database's "submitted by phone" is not a call that could be abandoned)
    sources = _sources_where(r, ctx, _abandoned(r))
    r = r.filter(r.channel.isin(LIVE_CHANNELS), _inbound(r), r.source.isin(sources))
    return r.mutate(_abandoned=_abandoned(r))


def _service_level_rows(r: Expr, ctx: Context) -> Expr:
    """Elapsed times to first response and to resolution, in each channel's clock (business
    hours of its calendar, or wall-clock), against its target; unanswered contacts whose
    target has not yet passed are pending and left out."""
    sla = ctx.sla
    if not sla.channels:
        raise ConfigError(
            "sla.yaml declares no targets, so service levels cannot be measured",
            hint="add e.g. targets: {phone: {first_response: 60s}} to sla.yaml",
        )
    r = r.filter(r.channel.isin(sla.channels), _inbound(r))
    now = ctx.now
    fr_target = (
        ibis.cases(
            *((r.channel == c, t.seconds) for c, t in sla.first_response.items()),
            else_=ibis.null("float64"),
        )
        if sla.first_response
        else ibis.null("float64")
    )
    res_target = (
        ibis.cases(
            *((r.channel == c, t.seconds) for c, t in sla.resolution.items()),
            else_=ibis.null("float64"),
        )
        if sla.resolution
        else ibis.null("float64")
    )
    r = r.mutate(_fr_target=fr_target.cast("float64"), _res_target=res_target.cast("float64"))
    now_s = now.timestamp()
    wall_fr = _epoch(r.first_response_at) - _epoch(r.started_at)
    wall_res = _epoch(r.ended_at) - _epoch(r.started_at)
    wall_age = now_s - _epoch(r.started_at)
    business = {c for c, t in (*sla.first_response.items(), *sla.resolution.items()) if t.business}
    if not business:
        return r.mutate(_fr_s=wall_fr, _res_s=wall_res, _fr_age=wall_age, _res_age=wall_age)

    # business time: join the calendar table on the start, response and end buckets
    names = sorted({sla.calendar_of[c] for c in business})
    scope = r.filter(r.channel.isin(sorted(business)))
    bounds = ctx.execute(
        scope.aggregate(
            lo=scope.started_at.min(),
            hi=ibis.greatest(
                scope.started_at.max(), scope.first_response_at.max(), scope.ended_at.max()
            ),
        )
    ).to_pylist()[0]
    lo = bounds["lo"] or now
    hi = bounds["hi"] or now
    cal_rows = calendar_table(sla, lo, hi, names)
    cal = ctx.memtable(cal_rows)
    cal_name = ibis.cases(*((r.channel == c, sla.calendar_of[c]) for c in sorted(business)))
    r = r.mutate(
        _cal=cal_name,
        _bk0=(_epoch(r.started_at) / BUCKET_S).floor().cast("int64"),
        _bk1=(_epoch(r.first_response_at) / BUCKET_S).floor().cast("int64"),
        _bk2=(_epoch(r.ended_at) / BUCKET_S).floor().cast("int64"),
    )
    c0 = cal.view()
    r = r.left_join(c0, [r._cal == c0.calendar, r._bk0 == c0.bucket]).select(
        r, _b0=business_expr(r.started_at, c0)
    )
    c1 = cal.view()
    r = r.left_join(c1, [r._cal == c1.calendar, r._bk1 == c1.bucket]).select(
        r, _b1=business_expr(r.first_response_at, c1)
    )
    c2 = cal.view()
    r = r.left_join(c2, [r._cal == c2.calendar, r._bk2 == c2.bucket]).select(
        r, _b2=business_expr(r.ended_at, c2)
    )
    # pending contacts need B(now): the table's total, then the spans up to now
    b_now = {n: business_until(sla, cal_rows, n, now) for n in names}
    b_now_expr = ibis.cases(*((r._cal == n, v) for n, v in b_now.items()))
    is_business_fr = r.channel.isin(sorted(c for c, t in sla.first_response.items() if t.business))
    is_business_res = r.channel.isin(sorted(c for c, t in sla.resolution.items() if t.business))
    return r.mutate(
        _fr_s=is_business_fr.ifelse(r._b1 - r._b0, wall_fr),
        _res_s=is_business_res.ifelse(r._b2 - r._b0, wall_res),
        _fr_age=is_business_fr.ifelse(b_now_expr - r._b0, wall_age),
        _res_age=is_business_res.ifelse(b_now_expr - r._b0, wall_age),
    )


def _first_response_scope(r: Expr) -> Expr:
    return r._fr_target.notnull() & (r.first_response_at.notnull() | (r._fr_age >= r._fr_target))


def _resolution_scope(r: Expr) -> Expr:
    return r._res_target.notnull() & (r.ended_at.notnull() | (r._res_age >= r._res_target))


# -- loyalty of the process: what happens after a contact -------------------------------------


def _next_contact(r: Expr, partition: list[Expr], when: Expr | None = None) -> Expr:
    """Start of the same customer's next contact (optionally: next one where ``when``),
    as a growing window on the reversed order (fast on every engine)."""
    window = ibis.window(
        group_by=partition,
        order_by=[r.started_at.desc(), r.interaction_id.desc()],
        rows=(None, -1),
    )
    value = r.started_at if when is None else ibis.cases((when, r.started_at))
    return value.min().over(window)


def _followed_rows(reason: bool, phone_only: bool) -> Any:
    def prepare(r: Expr, ctx: Context) -> Expr:
        days = ctx.days
        assert days is not None
        r = r.filter(_inbound(r)).mutate(_ck=customer_key(r))
        r = r.filter(r._ck.notnull())
        if reason:
            r = r.filter(r.reason.notnull())
        partition = [r._ck, r.reason] if reason else [r._ck]
        nxt = _next_contact(r, partition, (r.channel == "phone") if phone_only else None)
        r = r.mutate(_next=nxt)
        horizon = days * 86400.0
        # contacts whose window reaches past the end of the data cannot be judged yet; the
        # end is a separate scalar query (a window over everything would put all rows in one
        # Spark partition)
        [end] = ctx.execute(r.aggregate(end=r.started_at.max())).to_pylist()
        if end["end"] is None:
            return r.filter(ibis.literal(False)).mutate(_followed=ibis.literal(False))
        cutoff = end["end"] - timedelta(seconds=horizon)
        r = r.filter(r.started_at <= ibis.timestamp(cutoff))
        if phone_only:
            r = r.filter(r.channel.isin(DIGITAL_CHANNELS))
        gap = _epoch(r._next) - _epoch(r.started_at)
        return r.mutate(_followed=(r._next.notnull() & (gap <= horizon)).fill_null(False))

    return prepare


# -- data quality --------------------------------------------------------------------------


def _completeness_checks(r: Expr) -> dict[str, Expr]:
    table = INTERACTIONS if "interaction_ref" not in r.columns else FEEDBACK
    names = [c.name for c in table.mappable if c.name != "external_id"]
    return {n: r[n].notnull() for n in names if n in r.columns}


def _inconsistency_checks(r: Expr) -> dict[str, Expr]:
    # ingestion keeps an unreadable phone or e-mail as raw.<field> in the attributes and
    # leaves the field empty; searching the JSON text is the one JSON test every engine runs
    attributes = r.attributes.cast("string")
    phone_bad = attributes.contains('"raw.customer_phone"')
    email_bad = attributes.contains('"raw.customer_email"')
    if "interaction_ref" in r.columns:  # feedback
        outside = r.score.notnull() & ((r.score < r.scale_min) | (r.score > r.scale_max))
        return {
            "answer_before_contact": (
                r._contact_started.notnull() & (r.answered_at < r._contact_started)
            ).fill_null(False),
            "score_outside_scale": outside.fill_null(False),
            "phone_unparsable": phone_bad.fill_null(False),
            "email_malformed": email_bad.fill_null(False),
        }
    return {
        "response_before_start": (r.first_response_at < r.started_at).fill_null(False),
        "end_before_start": (r.ended_at < r.started_at).fill_null(False),
        "negative_handle_time": (r.handle_s < 0).fill_null(False),
        "phone_unparsable": phone_bad.fill_null(False),
        "email_malformed": email_bad.fill_null(False),
    }


def _inconsistency_rows(r: Expr, ctx: Context) -> Expr:
    if "interaction_ref" not in r.columns:
        return r
    contacts = ctx.table("interactions")
    contacts = contacts.select(_cid=contacts.interaction_id, _contact_started=contacts.started_at)
    return r.left_join(contacts, r.interaction_id == contacts._cid).drop("_cid")


def _m(
    name: str,
    en: str,
    fr: str,
    doc_en: str,
    doc_fr: str,
    **kwargs: Any,
) -> Metric:
    table = kwargs.pop("table", "interactions")
    dims = _FEEDBACK_DIMS if table == "feedback" else _CONTACT_DIMS
    kwargs.setdefault("dimensions", dims)
    kwargs.setdefault("time_column", "answered_at" if table == "feedback" else "started_at")
    return Metric(
        name=name,
        label={"en": en, "fr": fr},
        description={"en": doc_en, "fr": doc_fr},
        table=table,
        **kwargs,
    )


def _score(r: Expr) -> Expr:
    return r.score


BUILTIN: tuple[Metric, ...] = (
    _m(
        "nps",
        "Net Promoter Score",
        "Net Promoter Score",
        "Promoters (9–10) minus detractors (0–6) among NPS answers on 0–10, in points.",
        "Promoteurs (9–10) moins détracteurs (0–6) parmi les réponses NPS sur 0–10, en points.",
        table="feedback",
        unit="points",
        better="higher",
        statistics=(Statistic("value", NetScore(_score)),),
        prepare=_instrument("nps"),
        weighted=True,
    ),
    _m(
        "csat",
        "Customer satisfaction",
        "Satisfaction client",
        "Top-2-box share of CSAT answers (4–5 on 1–5), and their mean score.",
        "Part des deux meilleures notes CSAT (4–5 sur 1–5), et note moyenne.",
        table="feedback",
        unit="share",
        better="higher",
        statistics=(
            Statistic("top2", Proportion(lambda r: r.score >= r.scale_max - 1)),
            Statistic("mean", Mean(_score), unit="score"),
        ),
        prepare=_instrument("csat"),
        weighted=True,
    ),
    _m(
        "ces",
        "Customer effort",
        "Effort client",
        "Mean Customer Effort Score (higher = easier, e.g. 1–7 'it was easy'), and the share "
        "of low-effort answers (above the scale's midpoint).",
        "Score d'effort moyen (plus haut = plus facile, ex. 1–7 « c'était facile »), et part "
        "des réponses « faible effort » (au-dessus du milieu de l'échelle).",
        table="feedback",
        unit="score",
        better="higher",
        statistics=(
            Statistic("mean", Mean(_score)),
            Statistic(
                "low_effort",
                Proportion(lambda r: r.score > (r.scale_min + r.scale_max) / 2),
                unit="share",
            ),
        ),
        prepare=_instrument("ces"),
        weighted=True,
    ),
    _m(
        "fcr-declared",
        "First-contact resolution (declared)",
        "Résolution au premier contact (déclarée)",
        "Share of 'was it solved at the first contact?' answers that say yes (instrument fcr).",
        "Part des réponses « résolu dès le premier contact ? » positives (instrument fcr).",
        table="feedback",
        unit="share",
        better="higher",
        statistics=(Statistic("value", Proportion(lambda r: r.score >= r.scale_max)),),
        prepare=_instrument("fcr"),
        weighted=True,
    ),
    _m(
        "response-rate",
        "Survey response rate",
        "Taux de réponse aux enquêtes",
        "Share of contacts with at least one linked survey answer.",
        "Part des contacts ayant au moins une réponse d'enquête rattachée.",
        unit="share",
        better="higher",
        statistics=(Statistic("value", Proportion(lambda r: r._answered)),),
        prepare=_response_rate_rows,
    ),
    _m(
        "volume",
        "Contact volume",
        "Volume de contacts",
        "Number of contacts.",
        "Nombre de contacts.",
        unit="count",
        better="neutral",
        statistics=(Statistic("value", Count()),),
        prepare=_all_rows,
    ),
    _m(
        "channel-mix",
        "Channel mix",
        "Répartition par canal",
        "Share of each channel in the contacts (within the other dimensions).",
        "Part de chaque canal dans les contacts (au sein des autres dimensions).",
        unit="share",
        better="neutral",
        statistics=(Statistic("value", Count()),),
        prepare=_all_rows,
        share_of="channel",
    ),
    _m(
        "aht",
        "Handling time",
        "Durée de traitement",
        "Mean and median handling time of contacts that record one, in seconds.",
        "Durée de traitement moyenne et médiane des contacts qui l'enregistrent, en secondes.",
        unit="seconds",
        better="lower",
        statistics=(
            Statistic("mean", Mean(lambda r: r.handle_s)),
            Statistic("median", Quantiles(lambda r: r.handle_s, (0.5,))),
        ),
        prepare=_aht_rows,
    ),
    _m(
        "frt",
        "First-response time",
        "Délai de première réponse",
        "Percentiles (50th, 80th, 90th, nearest rank) of the wall-clock time from the start "
        "of a contact to the company's first answer, in seconds.",
        "Percentiles (50e, 80e, 90e, rang le plus proche) du délai entre le début d'un contact "
        "et la première réponse de l'entreprise, en secondes.",
        unit="seconds",
        better="lower",
        statistics=(Statistic("p", Quantiles(lambda r: r._frt, (0.5, 0.8, 0.9))),),
        prepare=_frt_rows,
    ),
    _m(
        "service-level",
        "Service level",
        "Niveau de service",
        "Share of inbound contacts answered (first_response) and solved (resolution) within "
        "their channel's target from sla.yaml, in business hours when the target says so; "
        "unanswered contacts count as missed once the target has passed.",
        "Part des contacts entrants traités (first_response) et résolus (resolution) dans "
        "l'objectif de leur canal (sla.yaml), en heures ouvrées si l'objectif le précise ; un "
        "contact sans réponse compte comme manqué une fois l'objectif dépassé.",
        unit="share",
        better="higher",
        statistics=(
            Statistic(
                "first_response",
                Proportion(lambda r: r._fr_s.notnull() & (r._fr_s <= r._fr_target)),
                scope=_first_response_scope,
            ),
            Statistic(
                "resolution",
                Proportion(lambda r: r._res_s.notnull() & (r._res_s <= r._res_target)),
                scope=_resolution_scope,
            ),
        ),
        prepare=_service_level_rows,
    ),
    _m(
        "abandonment",
        "Abandonment rate",
        "Taux d'abandon",
        "Share of inbound live contacts (phone, chat, call-back, video) whose outcome says "
        "abandoned or hung up, from sources that report abandoned contacts at all.",
        "Part des contacts entrants en direct (téléphone, chat, rappel, vidéo) dont l'issue "
        "indique un abandon ou un raccroché, pour les sources qui signalent des abandons.",
        unit="share",
        better="lower",
        statistics=(Statistic("value", Proportion(lambda r: r._abandoned)),),
        prepare=_abandon_rows,
    ),
    _m(
        "backlog",
        "Backlog",
        "Stock en attente",
        "Inbound contacts not yet closed (no end or resolution time), from sources that "
        "record an end at all.",
        "Contacts entrants non clos (sans date de fin ou de résolution), pour les sources qui "
        "enregistrent une fin.",
        unit="count",
        better="lower",
        statistics=(Statistic("value", Count()),),
        prepare=_backlog_rows,
    ),
    _m(
        "declared-sla",
        "Declared service level",
        "Niveau de service déclaré",
        "Share of contacts whose source says the service level was met (e.g. CFPB 'Timely "
        "response?'), among those where it says anything.",
        "Part des contacts dont la source indique le niveau de service respecté (ex. CFPB "
        "« Timely response? »), parmi ceux où elle l'indique.",
        unit="share",
        better="higher",
        statistics=(Statistic("value", Proportion(lambda r: r.sla_met)),),
        prepare=lambda r, ctx: r.filter(r.sla_met.notnull()),
    ),
    _m(
        "fcr",
        "First-contact resolution (computed)",
        "Résolution au premier contact (calculée)",
        "Share of inbound contacts after which the same customer does not come back on the "
        "same reason within N days (default 7). Contacts without a reason or without any "
        "customer identifier cannot be judged and are left out, as are contacts less than N "
        "days before the end of the data (their outcome is not known yet).",
        "Part des contacts entrants après lesquels le même client ne revient pas sur le même "
        "motif sous N jours (7 par défaut). Les contacts de moins de N jours avant la fin des "
        "données sont exclus : leur issue n'est pas encore connue.",
        unit="share",
        better="higher",
        statistics=(Statistic("value", Proportion(lambda r: ~r._followed)),),
        prepare=_followed_rows(reason=True, phone_only=False),
        default_days=7,
    ),
    _m(
        "repeat-contact",
        "Repeat contacts",
        "Recontacts",
        "Share of inbound contacts followed by another contact of the same customer, on any "
        "reason, within N days (default 7).",
        "Part des contacts entrants suivis d'un autre contact du même client, quel que soit "
        "le motif, sous N jours (7 par défaut).",
        unit="share",
        better="lower",
        statistics=(Statistic("value", Proportion(lambda r: r._followed)),),
        prepare=_followed_rows(reason=False, phone_only=False),
        default_days=7,
    ),
    _m(
        "channel-switching",
        "Channel switching to phone",
        "Bascule vers le téléphone",
        "Share of digital contacts (e-mail, chat, social, web form, self-care, forum, app, "
        "SMS) followed by a phone call of the same customer within N days (default 3).",
        "Part des contacts digitaux (e-mail, chat, réseaux sociaux, formulaire, selfcare, "
        "forum, appli, SMS) suivis d'un appel du même client sous N jours (3 par défaut).",
        unit="share",
        better="lower",
        statistics=(Statistic("value", Proportion(lambda r: r._followed)),),
        prepare=_followed_rows(reason=False, phone_only=True),
        default_days=3,
    ),
    _m(
        "transfers",
        "Transferred contacts",
        "Contacts transférés",
        "Share of contacts handed from one agent or team to another at least once "
        "('I had to repeat myself'), among contacts that record transfers.",
        "Part des contacts passés au moins une fois d'un conseiller ou d'une équipe à "
        "l'autre (« j'ai dû me répéter »), parmi ceux qui enregistrent les transferts.",
        unit="share",
        better="lower",
        statistics=(Statistic("value", Proportion(lambda r: r.transfers >= 1)),),
        prepare=lambda r, ctx: r.filter(r.transfers.notnull()),
    ),
    _m(
        "completeness",
        "Completeness",
        "Complétude",
        "Share of rows where each mappable field is filled, per table and source.",
        "Part des lignes où chaque champ est renseigné, par table et par source.",
        unit="share",
        better="higher",
        statistics=(Statistic("value", FieldShares("field", _completeness_checks)),),
        prepare=_all_rows,
        dimensions=frozenset({"source", "channel", "organisation", "month", "quarter"}),
        tables=("interactions", "feedback"),
    ),
    _m(
        "inconsistency",
        "Inconsistency",
        "Incohérences",
        "Share of rows breaking each rule (an answer before its contact, a score outside "
        "its scale, a phone that does not parse, an end before the start…), per table and "
        "source.",
        "Part des lignes qui enfreignent chaque règle (réponse avant le contact, note hors "
        "échelle, téléphone illisible, fin avant le début…), par table et par source.",
        unit="share",
        better="lower",
        statistics=(Statistic("value", FieldShares("rule", _inconsistency_checks)),),
        prepare=_inconsistency_rows,
        dimensions=frozenset({"source", "channel", "organisation", "month", "quarter"}),
        tables=("interactions", "feedback"),
    ),
)

REGISTRY: dict[str, Metric] = {m.name: m for m in BUILTIN}
