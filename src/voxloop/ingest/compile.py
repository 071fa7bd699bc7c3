"""Compile one mapping output into the SQL that normalises and validates a staged file.

The query has three levels so that each expression is written once:

1. ``r``: the raw text of every mapped field, plus the unmapped columns;
2. ``n``: the canonical value of every field (phones joined from their lookup table);
3. the outer level: the problems of each row (``__errors``, NULL when none, reasons joined by
   :data:`ERROR_SEPARATOR`), which decides between
   the canonical table and the quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxloop.errors import IngestError, MappingError
from voxloop.ingest import normalise as nz
from voxloop.ingest.mapping import FieldSpec, Output, SourceMapping, builtin_names
from voxloop.model.schema import TARGET_TABLES, Column
from voxloop.model.vocab import DEFAULT_SCALES
from voxloop.store.ddl import quote

SOFT_VOCABULARIES = {"channel": "other", "direction": None, "survey_kind": None}
# Reasons of one row are joined with this (a string per row is far cheaper than a list).
ERROR_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Lookup:
    """Where a looked-up field finds its values: a (raw, value) table, or — when the file
    holds only a few distinct values — the pairs themselves, inlined as a CASE (no join)."""

    table: str | None = None
    pairs: tuple[tuple[str, str | None], ...] = ()

    def value_sql(self, key: str, alias: str, joins: list[str]) -> str:
        if self.table is None:
            whens = " ".join(
                f"WHEN {nz.literal(raw)} THEN {nz.literal(value)}" for raw, value in self.pairs
            )
            return f"(CASE {key} {whens} END)" if whens else "CAST(NULL AS VARCHAR)"
        joins.append(f"LEFT JOIN {self.table} {alias} ON {alias}.raw = {key}")
        return f"{alias}.value"


@dataclass
class CompileContext:
    source: str
    file_label: str
    file_columns: list[str]  # header names, in file order
    time_zone: str
    max_field_chars: int
    lookup_tables: dict[str, Lookup] = field(default_factory=dict)
    fast_lookups: dict[str, str] = field(default_factory=dict)  # field -> SQL over __KEY__
    row_number_sql: str = "(s.rowid + 1)"  # data row number of staged row ``s``

    def column_sql(self, header: str) -> str:
        """The staged column holding ``header`` (staged columns are named c1, c2, …)."""
        return f"s.c{self.file_columns.index(header) + 1}"


@dataclass
class CompiledOutput:
    sql: str
    fields: list[str]  # canonical columns the output maps (in table order); others stay NULL
    lookups: dict[str, tuple[str, str]]  # field -> (raw SQL over staging ``s``, kind)
    missing_optional: list[str]  # mapped columns absent from the file


def resolve_column(name: str, columns: list[str]) -> str | None:
    if name in columns:
        return name
    folded = {c.casefold().strip(): c for c in columns}
    return folded.get(name.casefold().strip())


def _msg(field_name: str, spec: FieldSpec | None, text: str) -> str:
    where = ""
    if spec is not None and spec.column is not None:
        where = f" (column {spec.column!r})"
    elif spec is not None and spec.columns:
        where = f" (columns {', '.join(spec.columns)})"
    return nz.literal(f"{field_name}{where}: {text}")


def _shown(e: str) -> str:
    """A raw value as shown in a message: quoted, cut at 60 characters."""
    return f"'\"' || left({e}, 60) || CASE WHEN length({e}) > 60 THEN '…' ELSE '' END || '\"'"


def compile_output(
    output: Output, mapping: SourceMapping, staging: str, ctx: CompileContext
) -> CompiledOutput:
    table = TARGET_TABLES[output.table]
    required = output.required_fields()
    unmapped_required = sorted(f for f in required if f not in output.fields)
    if unmapped_required:
        raise MappingError(
            f"mapping '{mapping.name}' ({output.table}): required field(s) not mapped: "
            f"{', '.join(unmapped_required)}"
        )

    used: set[str] = set()
    missing_optional: list[str] = []
    raw_exprs: dict[str, str] = {}
    missing_required: list[str] = []
    for name, spec in output.fields.items():
        if spec.value is not None:
            raw_exprs[name] = nz.literal(spec.value)
            continue
        parts: list[str] = []
        for source_col in spec.source_columns:
            actual = resolve_column(source_col, ctx.file_columns)
            if actual is None:
                (missing_required if name in required else missing_optional).append(source_col)
                continue
            used.add(actual)
            parts.append(nz.raw_text(ctx.column_sql(actual)))
        if not parts:
            raw_exprs[name] = "CAST(NULL AS VARCHAR)"
        elif len(parts) == 1:
            raw_exprs[name] = parts[0]
        else:
            raw_exprs[name] = (
                f"NULLIF(concat_ws({nz.literal(spec.separator)}, {', '.join(parts)}), '')"
            )
    if missing_required:
        raise IngestError(
            f"{ctx.file_label}: missing required column(s) "
            f"{_names(sorted(set(missing_required)))} "
            f"for mapping '{mapping.name}'; columns found: {_names(ctx.file_columns)}",
            hint="rename the column(s) in the file, or "
            + (
                f"map them in sources/{mapping.name}.yaml (extends: {mapping.name})"
                if mapping.name in builtin_names() and mapping.extends is None
                else f"change the mapping in sources/{mapping.name}.yaml"
            ),
        )

    where = "TRUE"
    if output.when is not None:
        actual = resolve_column(output.when.column, ctx.file_columns)
        if actual is None:
            raise IngestError(
                f"{ctx.file_label}: missing column {output.when.column!r} used to select rows "
                f"for {output.table}; columns found: {_names(ctx.file_columns)}",
                hint=f"check the 'when' condition of sources/{mapping.name}.yaml",
            )
        used.add(actual)
        w = nz.raw_text(ctx.column_sql(actual))
        if output.when.in_ is not None:
            where = f"lower({w}) IN {nz.tuple_sql([v.lower() for v in output.when.in_])}"
        if output.when.not_empty:
            where = f"({where}) AND {w} IS NOT NULL"

    # Columns no output of the mapping uses have no canonical home: keep them as attributes.
    everywhere = used | mapped_columns(mapping, ctx.file_columns)
    unmapped = [c for c in ctx.file_columns if c not in everywhere] if output.keep_unmapped else []

    # level r ------------------------------------------------------------------------------
    r_cols = [f"{ctx.row_number_sql} AS __row"]
    r_cols += [f"{raw} AS {quote('r__' + name)}" for name, raw in raw_exprs.items()]
    for name, raw in raw_exprs.items():  # lookup keys, computed once per row
        kind = table.column(name).kind
        if nz.is_lookup_kind(kind) and output.fields[name].value is None:
            assert kind is not None
            r_cols.append(f"{nz.lookup_key_sql(kind, raw)} AS {quote('kk__' + name)}")
    r_cols += [f"{nz.raw_text(ctx.column_sql(c))} AS {quote('u__' + c)}" for c in unmapped]
    # Row-level checks look at the first column first (CASE only evaluates the rest where
    # needed): a blank row has no first value, a repeated header repeats the first name.
    every_raw = [nz.raw_text(ctx.column_sql(c)) for c in ctx.file_columns]
    first, first_name = every_raw[0], ctx.file_columns[0].lower()
    r_cols.append(
        f"CASE WHEN {first} IS NOT NULL THEN FALSE "
        f"ELSE coalesce({', '.join(every_raw)}) IS NULL END AS __blank"
    )
    header_again = " AND ".join(
        f"lower({raw}) = {nz.literal(c.lower())}"
        for raw, c in zip(every_raw, ctx.file_columns, strict=True)
    )
    r_cols.append(
        f"CASE WHEN lower({first}) = {nz.literal(first_name)} "
        f"THEN coalesce({header_again}, FALSE) ELSE FALSE END AS __header_again"
    )
    level_r = f"SELECT {', '.join(r_cols)} FROM {staging} s WHERE {where}"

    # level n ------------------------------------------------------------------------------
    joins: list[str] = []
    n_cols = ["r.*"]
    lookups: dict[str, tuple[str, str]] = {}
    mappable = list(table.mappable)
    for col in mappable:
        if col.name not in output.fields:
            n_cols.append(f"CAST(NULL AS {_duck_type(col)}) AS {quote(col.name)}")
            continue
        e = f"r.{quote('r__' + col.name)}"
        spec = output.fields[col.name]
        if nz.is_lookup_kind(col.kind) and spec.value is None:
            assert col.kind is not None
            key = nz.lookup_key_sql(col.kind, raw_exprs[col.name])
            lookups[col.name] = (key, col.kind)
            lookup = ctx.lookup_tables.get(col.name)
            if lookup is None:  # first pass: the caller only wants ``lookups``
                n_cols.append(f"CAST(NULL AS VARCHAR) AS {quote(col.name)}")
                n_cols.append(f"CAST(NULL AS VARCHAR) AS {quote('k__' + col.name)}")
                continue
            key_column = f"r.{quote('kk__' + col.name)}"
            known = lookup.value_sql(key_column, f"lk_{col.name}", joins)
            fast = ctx.fast_lookups.get(col.name)
            if fast is not None:  # phones the SQL fast path settles never reach the lookup
                known = f"coalesce({fast.replace('__KEY__', key_column)}, {known})"
            fallback = SOFT_VOCABULARIES.get(col.kind.split(":", 1)[-1])
            value = (
                f"CASE WHEN {e} IS NOT NULL THEN coalesce({known}, {nz.literal(fallback)}) END"
                if col.kind.startswith("vocab:") and fallback is not None
                else known
            )
            n_cols.append(f"{value} AS {quote(col.name)}")
            n_cols.append(f"{known} AS {quote('k__' + col.name)}")
            continue
        if col.kind is not None and col.kind.startswith("vocab:"):
            # a constant: checked here, once, rather than on every row
            vocabulary = col.kind.split(":", 1)[1]
            word = nz.vocabulary_word(vocabulary, spec.value_map, spec.value or "")
            if word is None:
                raise MappingError(
                    f"mapping '{mapping.name}' ({output.table}): {col.name} value "
                    f"{spec.value!r} is not one of {_vocab_list(vocabulary)}"
                )
            n_cols.append(f"{nz.literal(word)} AS {quote(col.name)}")
            n_cols.append(f"{nz.literal(word)} AS {quote('k__' + col.name)}")
            continue
        n_cols.append(f"{_normalised(col, spec, e, mapping, ctx)} AS {quote(col.name)}")
    level_n = f"SELECT {', '.join(n_cols)} FROM r {' '.join(joins)}"

    # outer level: problems and attributes ---------------------------------------------------
    errors: list[str] = []
    soft: list[tuple[str, str]] = []  # (attribute key, raw expr when the value was not usable)
    for col in mappable:
        if col.name not in output.fields:
            continue
        spec = output.fields[col.name]
        e = quote("r__" + col.name)
        v = quote(col.name)
        kind = col.kind or "text"
        if col.name in required:
            errors.append(
                f"CASE WHEN {v} IS NULL AND {e} IS NULL THEN "
                f"{_msg(col.name, spec, 'is required but empty')} END"
            )
        if kind in ("email", "phone"):
            soft.append((f"raw.{col.name}", f"CASE WHEN {v} IS NULL THEN {e} END"))
        elif kind.startswith("vocab:"):
            vocab = kind.split(":", 1)[1]
            known = quote("k__" + col.name)
            if vocab in SOFT_VOCABULARIES:
                unknown_word = f"CASE WHEN {e} IS NOT NULL AND {known} IS NULL THEN {e} END"
                soft.append((f"raw.{col.name}", unknown_word))
            else:
                errors.append(
                    f"CASE WHEN {e} IS NOT NULL AND {v} IS NULL THEN {_msg(col.name, spec, '')} || "
                    f"{_shown(e)} || {nz.literal(' is not one of ' + _vocab_list(vocab))} END"
                )
        elif kind == "timestamp":
            errors.append(
                f"CASE WHEN {e} IS NOT NULL AND {v} IS NULL THEN {_msg(col.name, spec, '')} || "
                f"{_shown(e)} || {nz.literal(' is not a date/time in the expected formats (' + ', '.join([*_formats(spec, mapping), 'ISO 8601']) + '); add its format to timestamp_formats in sources/' + mapping.name + '.yaml')} END"  # noqa: E501
            )
        elif kind in ("int", "double", "duration", "score"):
            expected = " is not a whole number in range" if kind == "int" else " is not a number"
            errors.append(
                f"CASE WHEN {e} IS NOT NULL AND {v} IS NULL AND NOT {nz.is_null_word_sql(e)} "
                f"THEN {_msg(col.name, spec, '')} || {_shown(e)} || {nz.literal(expected)} END"
            )
            if col.name == "weight":
                positive = _msg(col.name, spec, "a survey weight must be above 0")
                errors.append(f"CASE WHEN {v} <= 0 THEN {positive} END")
            if kind == "duration":
                negative = _msg(col.name, spec, "a duration cannot be negative")
                errors.append(f"CASE WHEN {v} < 0 THEN {negative} END")
        elif kind == "bool":
            errors.append(
                f"CASE WHEN {e} IS NOT NULL AND {v} IS NULL AND NOT {nz.is_null_word_sql(e)} THEN "
                f"{_msg(col.name, spec, '')} || {_shown(e)} || "
                f"{nz.literal(' is not yes/no (accepted: ' + ', '.join(nz.TRUE_WORDS[:4] + nz.FALSE_WORDS[:4]) + ')')} END"  # noqa: E501
            )
        elif kind == "long_text":
            errors.append(
                f"CASE WHEN length({v}) > {ctx.max_field_chars} THEN {_msg(col.name, spec, '')} || "
                f"length({v}) || {nz.literal(f' characters, above the limit of {ctx.max_field_chars} (setting max_field_chars)')} END"  # noqa: E501
            )
    scale = _scale_sql(output)
    if scale is not None:
        spec = output.fields["score"]
        lo, hi = scale
        errors.append(
            f"CASE WHEN score IS NOT NULL AND ({lo} IS NULL) THEN "
            f"{_msg('score', spec, '')} || 'a score was given but instrument ' || "
            f"coalesce(instrument, '(empty)') || ' has no scale' END"
        )
        errors.append(
            f"CASE WHEN score IS NOT NULL AND (score < {lo} OR score > {hi}) THEN "
            f"{_msg('score', spec, '')} || score || ' is outside the ' || instrument || "
            f"' scale ' || {lo} || '–' || {hi} END"
        )
    attr_entries = [f"{{'k': {nz.literal(c)}, 'v': {quote('u__' + c)}}}" for c in unmapped]
    attr_entries += [f"{{'k': {nz.literal(k)}, 'v': {expr}}}" for k, expr in soft]
    if attr_entries:
        # Most rows have nothing to keep: skip building the map for them.
        values = [quote("u__" + c) for c in unmapped] + [expr for _k, expr in soft]
        attributes = (
            f"CASE WHEN coalesce({', '.join(values)}) IS NOT NULL THEN "
            f"to_json(map_from_entries(list_filter([{', '.join(attr_entries)}], "
            "lambda x: x.v IS NOT NULL)))::JSON END"
        )
    else:
        attributes = "CAST(NULL AS JSON)"
    field_errors = (
        f"NULLIF(concat_ws({nz.literal(ERROR_SEPARATOR)}, {', '.join(errors)}), '')"
        if errors
        else "CAST(NULL AS VARCHAR)"
    )
    error_list = (
        "CASE WHEN __blank THEN 'row: the row is empty' "
        "WHEN __header_again THEN 'row: the header line appears again "
        f"(were several exports concatenated?)' ELSE {field_errors} END"
    )
    # Only mapped fields are materialised: a column of NULLs still costs memory per row.
    produced = [c.name for c in mappable if c.name in output.fields]
    outer_cols = ["__row"] + [quote(name) for name in produced]
    if scale is not None:
        outer_cols += [f"{scale[0]} AS scale_min", f"{scale[1]} AS scale_max"]
    outer_cols += [f"{attributes} AS attributes", f"{error_list} AS __errors"]
    sql = (
        f"WITH r AS ({level_r}), n AS ({level_n}) "
        f"SELECT {', '.join(outer_cols)}, FALSE AS __dup FROM n"
    )
    return CompiledOutput(
        sql=sql,
        fields=produced,
        lookups=lookups,
        missing_optional=sorted(set(missing_optional)),
    )


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def mapped_columns(mapping: SourceMapping, file_columns: list[str]) -> set[str]:
    """File columns that some output of the mapping reads."""
    names: list[str] = []
    for output in mapping.outputs:
        for spec in output.fields.values():
            names.extend(spec.source_columns)
        if output.when is not None:
            names.append(output.when.column)
    resolved = (resolve_column(n, file_columns) for n in names)
    return {c for c in resolved if c is not None}


def _duck_type(col: Column) -> str:
    from voxloop.store.ddl import TYPES

    return TYPES["duckdb"][col.type]


def _formats(spec: FieldSpec, mapping: SourceMapping) -> list[str]:
    return spec.formats if spec.formats is not None else mapping.timestamp_formats


def _vocab_list(vocab: str) -> str:
    from voxloop.model.vocab import VOCABULARIES

    return ", ".join(VOCABULARIES[vocab][0])


def _scale_sql(output: Output) -> tuple[str, str] | None:
    """SQL for the (lowest, highest) score of each row: the field's fixed scale, else the
    scale of the row's instrument; ``None`` when the output maps no score."""
    spec = output.fields.get("score")
    if spec is None:
        return None
    if spec.scale:
        return nz.literal(spec.scale[0]), nz.literal(spec.scale[1])
    scales = dict(DEFAULT_SCALES)
    scales.update(output.scales)
    lo = " ".join(f"WHEN {nz.literal(k)} THEN {nz.literal(v[0])}" for k, v in scales.items())
    hi = " ".join(f"WHEN {nz.literal(k)} THEN {nz.literal(v[1])}" for k, v in scales.items())
    return f"(CASE instrument {lo} END)", f"(CASE instrument {hi} END)"


def _normalised(
    col: Column, spec: FieldSpec, e: str, mapping: SourceMapping, ctx: CompileContext
) -> str:
    kind = col.kind or "text"
    if kind == "id":
        return nz.id_sql(e)
    if kind in ("text", "long_text"):
        return e
    if kind == "email":
        return nz.email_sql(e)
    if kind == "handle":
        return nz.handle_sql(e)
    if kind == "timestamp":
        tz = spec.time_zone or mapping.time_zone or ctx.time_zone
        return nz.timestamp_sql(e, _formats(spec, mapping), tz)
    if kind in ("double", "score"):
        return nz.number_sql(e)
    if kind == "int":
        return nz.integer_sql(e, _duck_type(col))
    if kind == "duration":
        return nz.duration_sql(e, spec.unit)
    if kind == "bool":
        return nz.bool_sql(e)
    raise MappingError(f"no normaliser for kind {kind!r}")  # pragma: no cover
