"""The canonical model: every table and column, defined once.

DDL for each engine (:mod:`voxloop.store.ddl`), the ingestion compiler (which normaliser applies
to which field) and the documentation all read these declarations; nothing else spells a
column name list by hand.

``kind`` says how ingestion normalises a value arriving from a source:

=============  =================================================================
kind           normalisation
=============  =================================================================
id             trimmed text; empty → missing
text           trimmed text
long_text      text, checked against ``max_field_chars`` (longer → quarantine)
email          trimmed, lower case; malformed → kept raw as ``invalid_email``
phone          E.164 via ``phonenumbers`` and the default region; bad → ``invalid_phone``
handle         trimmed, lower case, leading ``@`` removed
channel …      a word mapped onto the closed vocabulary (``vocab:<name>``)
timestamp      parsed with the source's formats and time zone, stored in UTC
score          number checked against the instrument's scale (outside → quarantine)
int, double    numbers (``1 234,5`` and ``1,234.5`` both read); bad → quarantine
duration       seconds, from a number or ``[HH:]MM:SS``
bool           yes/no words in French and English
=============  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SqlType = Literal["text", "bigint", "integer", "double", "boolean", "timestamp", "json"]


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    doc: str
    kind: str | None = None  # ingestion normaliser; None = not mappable from a source
    nullable: bool = True
    since: int = 1  # schema version that introduced the column (drives the migrations)


@dataclass(frozen=True)
class UniqueIndex:
    """A uniqueness the database itself enforces — only where concurrent writers race (the
    case log's sequence numbers); natural keys elsewhere are enforced by ingestion, because
    an index slows DuckDB's bulk loads."""

    name: str
    columns: tuple[str, ...]
    since: int = 1


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # natural key, enforced by ingestion (no index: see store)
    since: int = 1  # schema version that introduced the table
    unique: tuple[UniqueIndex, ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def mappable(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind is not None)


def _lineage() -> tuple[Column, ...]:
    return (
        Column("attributes", "json", "Source columns with no canonical home, kept as JSON."),
        Column("load_id", "bigint", "The load that brought this row.", nullable=False),
        Column("row_number", "bigint", "Data row in the source file (1 = first after header)."),
        Column("ingested_at", "timestamp", "When the row was stored (UTC).", nullable=False),
    )


def _customer_refs() -> tuple[Column, ...]:
    return (
        Column("customer_ref", "text", "The source's own customer/account number.", "id"),
        Column("customer_email", "text", "E-mail, trimmed and lower-cased.", "email"),
        Column("customer_phone", "text", "Phone number in E.164 (+33612345678).", "phone"),
        Column("customer_handle", "text", "Social handle, lower case, without @.", "handle"),
        Column("customer_name", "text", "Name as the source wrote it (personal data).", "text"),
        Column("customer_id", "text", "Resolved customer (filled by identity resolution)."),
    )


INTERACTIONS = Table(
    "interactions",
    "One contact on one channel: a call, an e-mail, a chat, a post, a visit, a complaint.",
    (
        Column("interaction_id", "text", "source:external_id — unique.", nullable=False),
        Column("source", "text", "Mapping that loaded the row.", nullable=False),
        Column("external_id", "text", "The contact's id in the source.", "id", nullable=False),
        *_customer_refs(),
        Column(
            "channel",
            "text",
            "Closed vocabulary (phone, email, …).",
            "vocab:channel",
            nullable=False,
        ),
        Column("direction", "text", "inbound, outbound or internal.", "vocab:direction"),
        Column("started_at", "timestamp", "Contact start (UTC).", "timestamp", nullable=False),
        Column(
            "first_response_at", "timestamp", "First answer from the company (UTC).", "timestamp"
        ),
        Column("ended_at", "timestamp", "End or resolution of the contact (UTC).", "timestamp"),
        Column("handle_s", "double", "Handling time in seconds.", "duration"),
        Column("agent", "text", "Agent who handled it.", "text"),
        Column("team", "text", "Team or queue.", "text"),
        Column("hub", "text", "Site or follow-the-sun hub.", "text"),
        Column("reason", "text", "Contact reason / topic as the source names it.", "text"),
        Column("touchpoint", "text", "Journey touchpoint, when known.", "text"),
        Column("outcome", "text", "Outcome or resolution code.", "text"),
        Column("transfers", "integer", "Times the contact was transferred.", "int"),
        Column("sla_met", "boolean", "Whether the source says its service level was met.", "bool"),
        Column("thread_ref", "text", "Conversation/thread the contact belongs to.", "id"),
        Column("case_ref", "text", "Ticket or case number in the source.", "id"),
        Column("organisation", "text", "Company/brand concerned (multi-brand sources).", "text"),
        Column("text", "text", "Message body or transcript (personal data).", "long_text"),
        *_lineage(),
    ),
    key=("source", "external_id"),
)

FEEDBACK = Table(
    "feedback",
    "One voice of the customer: a survey answer, a review, a complaint text, a social mention.",
    (
        Column("feedback_id", "text", "source:external_id — unique.", nullable=False),
        Column("source", "text", "Mapping that loaded the row.", nullable=False),
        Column("external_id", "text", "The answer's id in the source.", "id", nullable=False),
        Column(
            "interaction_ref",
            "text",
            "Id of the contact it is about, as the source wrote it.",
            "id",
        ),
        Column("interaction_id", "text", "Linked interaction, when known."),
        *_customer_refs(),
        Column("channel", "text", "Channel of the contact or of the post.", "vocab:channel"),
        Column(
            "instrument",
            "text",
            "nps, csat, ces, rating or none.",
            "vocab:instrument",
            nullable=False,
        ),
        Column("score", "double", "The answer on its scale.", "score"),
        Column("scale_min", "double", "Lowest value of the scale."),
        Column("scale_max", "double", "Highest value of the scale."),
        Column(
            "comment", "text", "Verbatim (personal data; analysed only once redacted).", "long_text"
        ),
        Column("language", "text", "Language declared by the source (ISO 639-1).", "text"),
        Column("answered_at", "timestamp", "When it was given (UTC).", "timestamp", nullable=False),
        Column(
            "survey_kind", "text", "hot, cold, review, social or complaint.", "vocab:survey_kind"
        ),
        Column("weight", "double", "Survey weight (cold surveys); 1 when absent.", "double"),
        Column("platform", "text", "Social platform or review site.", "text"),
        Column("followers", "bigint", "Audience of the author (social influence).", "int"),
        Column("in_reply_to", "text", "Post this one answers.", "id"),
        Column("brand", "text", "Brand mentioned.", "text"),
        Column("organisation", "text", "Company concerned.", "text"),
        Column("reason", "text", "Topic given by the source.", "text"),
        *_lineage(),
    ),
    key=("source", "external_id"),
)

CUSTOMERS = Table(
    "customers",
    "A resolved person or company.",
    (
        Column("customer_id", "text", "Stable id; a merge keeps the older one.", nullable=False),
        Column("created_at", "timestamp", "When the customer was first resolved."),
        Column("segment", "text", "Business segment."),
        Column("persona", "text", "Journey persona."),
        Column("value", "double", "Customer value (e.g. yearly revenue)."),
        Column("influence", "bigint", "Social reach (followers)."),
        Column("region", "text", "Region or country."),
        Column("time_zone", "text", "IANA time zone."),
        Column("consent_email", "boolean", "May be contacted by e-mail."),
        Column("consent_phone", "boolean", "May be called."),
        Column("merged_into", "text", "Set when this id was merged into another."),
        Column("attributes", "json", "Other customer attributes."),
    ),
    key=("customer_id",),
)

IDENTITIES = Table(
    "identities",
    "One normalised identifier seen in any source.",
    (
        Column("kind", "text", "email, phone, handle, account, invalid_email, …", nullable=False),
        Column("value", "text", "Normalised value (E.164, lower-case e-mail).", nullable=False),
        Column("customer_id", "text", "Customer it belongs to, once resolved."),
        Column("first_seen_at", "timestamp", "First load that saw it (UTC).", nullable=False),
        Column("first_load_id", "bigint", "That load.", nullable=False),
        Column("source", "text", "Source of the first sighting.", nullable=False),
        Column(
            "status",
            "text",
            "linked, shared (too common to link on), weak, split, invalid or unresolved.",
            since=3,
        ),
        Column("records", "bigint", "Records carrying it, at the last resolution.", since=3),
        Column(
            "shared_with",
            "bigint",
            "Most distinct identifiers of one other kind seen with it (exact after a full "
            "resolution; an upper bound, capped at the limit, after incremental ones).",
            since=3,
        ),
    ),
    key=("kind", "value"),
)

CUSTOMER_MERGES = Table(
    "customer_merges",
    "Every merge of two customers: which id was kept, why, and on what evidence.",
    (
        Column("merged_id", "text", "The id that stopped being used.", nullable=False),
        Column("into_id", "text", "The id kept (the older one).", nullable=False),
        Column("merged_at", "timestamp", "When (UTC).", nullable=False),
        Column("reason", "text", "shared identifier, manual or probabilistic.", nullable=False),
        Column("evidence", "text", "The identifier(s) that joined them, or the user's note."),
        Column("actor", "text", "Who: resolve, or the user who merged."),
    ),
    since=3,
)

IDENTITY_RULES = Table(
    "identity_rules",
    "Manual decisions later resolutions respect: merge two customers, split an identifier off.",
    (
        Column("rule_id", "bigint", "Rule id.", nullable=False),
        Column("action", "text", "merge or split.", nullable=False),
        Column(
            "customer_id", "text", "Customer kept (merge) or split from (split).", nullable=False
        ),
        Column("other_id", "text", "Customer merged in (merge)."),
        Column("kind", "text", "Identifier kind: a representative one (merge) or the one split."),
        Column("value", "text", "Identifier value."),
        Column("other_kind", "text", "Representative identifier of the other customer (merge)."),
        Column("other_value", "text", "Its value."),
        Column("created_at", "timestamp", "When (UTC).", nullable=False),
        Column("actor", "text", "Who decided."),
        Column("note", "text", "Why."),
    ),
    key=("rule_id",),
    since=3,
)

ANNOTATIONS = Table(
    "annotations",
    "What text analytics found in one text.",
    (
        Column("text_hash", "text", "sha256 of the analysed text.", nullable=False),
        Column("owner_table", "text", "feedback or interactions.", nullable=False),
        Column("owner_id", "text", "Row it annotates.", nullable=False),
        Column("pipeline_version", "text", "Version of the text pipeline.", nullable=False),
        Column("language", "text", "Detected language."),
        Column("redacted_text", "text", "Text with personal data replaced by placeholders."),
        Column("themes", "json", "[{id, confidence}] from the taxonomy."),
        Column("sentiment_score", "double", "In [-1, 1]."),
        Column("sentiment_label", "text", "negative, neutral or positive."),
        Column("created_at", "timestamp", "When it was computed (UTC).", nullable=False),
        Column("status", "text", "ok, truncated or skipped.", since=5),
        Column("note", "text", "Why a text was skipped or truncated.", since=5),
        Column("pii_found", "json", "Personal data replaced, by kind: {EMAIL: 1, …}.", since=5),
    ),
    key=("owner_table", "owner_id", "pipeline_version"),
)

CASES = Table(
    "cases",
    "A closed-loop case as it was opened; everything after is in case_events.",
    (
        Column("case_id", "text", "Case id.", nullable=False),
        Column("customer_id", "text", "Customer concerned."),
        Column("opened_at", "timestamp", "When the rule opened it (UTC).", nullable=False),
        Column("rule", "text", "Rule that opened it."),
        Column("reason", "text", "Reason (de-duplication key with the customer)."),
        Column("signal_table", "text", "feedback or interactions."),
        Column("signal_id", "text", "Row that triggered it."),
        Column("channel", "text", "Channel whose promise sets the deadline."),
        Column("priority", "double", "Priority score at opening (0–100)."),
        Column("priority_explained", "json", "How the score was made."),
        Column("due_at", "timestamp", "First-response deadline, as opened (UTC)."),
        Column("signal_at", "timestamp", "When the customer spoke (UTC).", since=4),
        Column("resolution_due_at", "timestamp", "Resolution deadline at opening (UTC).", since=4),
        Column("response_target_s", "double", "First-response promise, seconds.", since=4),
        Column("resolution_target_s", "double", "Resolution promise, seconds.", since=4),
        Column(
            "response_calendar",
            "text",
            "Calendar the first-response clock runs on (none: around the clock).",
            since=4,
        ),
        Column(
            "resolution_calendar",
            "text",
            "Calendar the resolution clock runs on (none: around the clock).",
            since=4,
        ),
        Column("value", "double", "Customer value when opened.", since=4),
        Column("score", "double", "The score that triggered it, if any.", since=4),
        Column("instrument", "text", "nps, csat, ces… of that score.", since=4),
        Column("run_id", "bigint", "The loop run that opened it.", since=4),
    ),
    key=("case_id",),
)

CASE_EVENTS = Table(
    "case_events",
    "Append-only log of everything that happened to a case; never updated.",
    (
        Column("event_id", "text", "Event id.", nullable=False),
        Column("case_id", "text", "Case.", nullable=False),
        Column("at", "timestamp", "When (UTC).", nullable=False),
        Column("actor", "text", "Who.", nullable=False),
        Column("kind", "text", "step, assign, route, escalate, note…", nullable=False),
        Column("from_state", "text", "State before."),
        Column("to_state", "text", "State after."),
        Column("note", "text", "Why / what."),
        Column("data", "json", "Structured details (root cause, compensation, hub…)."),
        Column(
            "seq",
            "bigint",
            "Position in the case's log (1, 2, …); unique, so two writers cannot both "
            "append after the same event.",
            since=4,
        ),
    ),
    key=("event_id",),
    unique=(UniqueIndex("case_events_case_seq", ("case_id", "seq"), since=4),),
)

LOOP_RUNS = Table(
    "loop_runs",
    "One evaluation of the closed-loop rules: what it read and what it opened.",
    (
        Column("run_id", "bigint", "Run id.", nullable=False),
        Column("started_at", "timestamp", "Wall-clock start (UTC).", nullable=False),
        Column("as_of", "timestamp", "The instant the run acted for (UTC).", nullable=False),
        Column("last_load_id", "bigint", "Signals of loads up to this one were evaluated."),
        Column("signals", "bigint", "New signals read."),
        Column("matched", "bigint", "Signals a rule matched."),
        Column("opened", "bigint", "Cases opened."),
        Column("attached", "bigint", "Signals added to an open case of the same reason."),
        Column("cooling_off", "bigint", "Signals not acted on: customer contacted recently."),
        Column("duration_s", "double", "Wall-clock seconds."),
        Column("actor", "text", "Who ran it."),
    ),
    key=("run_id",),
    since=4,
)

LOOP_SIGNALS = Table(
    "loop_signals",
    "Every signal a rule matched and what was decided (so a skipped detractor can be explained).",
    (
        Column("run_id", "bigint", "Run.", nullable=False),
        Column("signal_table", "text", "feedback.", nullable=False),
        Column("signal_id", "text", "Row id.", nullable=False),
        Column("signal_at", "timestamp", "When the customer spoke (UTC)."),
        Column("customer_id", "text", "Customer (or the signal's own key when unresolved)."),
        Column("rule", "text", "Rule matched.", nullable=False),
        Column("decision", "text", "opened, attached, cooling_off or too_old.", nullable=False),
        Column("case_id", "text", "Case opened or attached to (none when cooling off)."),
    ),
    since=4,
)

ACTIONS = Table(
    "actions",
    "An improvement action on the roadmap.",
    (
        Column("action_id", "text", "Action id.", nullable=False),
        Column("title", "text", "What will be done.", nullable=False),
        Column("theme", "text", "Irritant theme it addresses."),
        Column("owner", "text", "Who owns it."),
        Column("kind", "text", "quick_win or project."),
        Column("cost", "double", "Estimated cost."),
        Column("feasibility", "double", "0–1."),
        Column("benefit", "double", "Expected benefit."),
        Column("status", "text", "planned, doing, done, dropped."),
        Column("start_date", "timestamp", "Start (UTC)."),
        Column("due_date", "timestamp", "Due (UTC)."),
        Column("done_date", "timestamp", "Done (UTC)."),
        Column("created_at", "timestamp", "Created (UTC).", nullable=False),
    ),
    key=("action_id",),
)

LOADS = Table(
    "loads",
    "The ledger: one row per ingestion run, failed ones included.",
    (
        Column("load_id", "bigint", "Load id.", nullable=False),
        Column("source", "text", "Mapping name.", nullable=False),
        Column("file_path", "text", "File as given.", nullable=False),
        Column("file_sha256", "text", "Content hash (detects the same file twice)."),
        Column("mapping_sha256", "text", "Fingerprint of the mapping used.", since=2),
        Column("file_bytes", "bigint", "File size."),
        Column("status", "text", "committed, failed or unchanged.", nullable=False),
        Column("started_at", "timestamp", "Start (UTC).", nullable=False),
        Column("finished_at", "timestamp", "End (UTC)."),
        Column("duration_s", "double", "Wall-clock seconds."),
        Column("rows_read", "bigint", "Data rows read."),
        Column("rows_loaded", "bigint", "Rows written to canonical tables."),
        Column("rows_quarantined", "bigint", "Rows sent to quarantine."),
        Column("duplicates_skipped", "bigint", "Rows already present (same natural key)."),
        Column("encoding", "text", "Encoding the file was read with.", since=2),
        Column("message", "text", "Error or note.", since=2),
        Column("voxloop_version", "text", "Version that ran the load."),
    ),
    key=("load_id",),
)

QUARANTINE = Table(
    "quarantine",
    "Rows that could not be used, with their reason; nothing is dropped silently.",
    (
        Column("load_id", "bigint", "Load.", nullable=False),
        Column("source", "text", "Mapping name.", nullable=False),
        Column("file_path", "text", "File.", nullable=False),
        Column("target", "text", "Canonical table the row was meant for."),
        Column("row_number", "bigint", "Data row (1 = first after header), when known."),
        Column(
            "line", "bigint", "Physical line, for rows the CSV reader could not split.", since=2
        ),
        Column("field", "text", "Field at fault, when one."),
        Column("reason", "text", "What was wrong and what was expected.", nullable=False),
        Column("raw", "text", "The raw row (JSON of the source columns, or the raw line)."),
        Column("quarantined_at", "timestamp", "When (UTC).", nullable=False),
    ),
)

TABLES: tuple[Table, ...] = (
    CUSTOMERS,
    IDENTITIES,
    CUSTOMER_MERGES,
    IDENTITY_RULES,
    INTERACTIONS,
    FEEDBACK,
    ANNOTATIONS,
    CASES,
    CASE_EVENTS,
    LOOP_RUNS,
    LOOP_SIGNALS,
    ACTIONS,
    LOADS,
    QUARANTINE,
)

TABLES_BY_NAME = {t.name: t for t in TABLES}

# Tables a source mapping may write to.
TARGET_TABLES = {t.name: t for t in (INTERACTIONS, FEEDBACK)}
