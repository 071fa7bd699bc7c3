"""``taxonomy.yaml``: the company's irritant themes, checked when the file is read.

A theme has an ``id``, an optional ``parent`` (themes form a tree), ``label: {fr, en}``, a
``domain`` (interaction | product_service | price_billing | digital | other) and the evidence
that assigns it: ``keywords`` and ``lemmas`` (a list shared by every language, or one list per
language: ``{fr: [...], en: [...]}``), ``regexes``, ``examples`` (sentences in any language;
their embeddings make the theme's centroid), ``exclude`` (words that veto the theme) and an
optional ``threshold``. A typo is reported with the file, the theme, the field, what was
expected and what to do — never discovered in the middle of a run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voxloop.errors import ConfigError

Domain = Literal["interaction", "product_service", "price_billing", "digital", "other"]
DOMAINS: tuple[str, ...] = get_args(Domain)
ANY = "any"  # the key of words shared by every language
UNCLASSIFIED = "unclassified"  # reserved: what a text with no theme is called in reports
DEFAULT_THRESHOLD = 0.4
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LANG = re.compile(r"^[a-z]{2}$")
_HINT = "the default taxonomy (voxloop/templates/taxonomy.yaml) documents every field"


def _lemma_languages() -> frozenset[str]:
    try:
        from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES
    except ImportError:  # pragma: no cover - the text extra is missing
        return frozenset({"fr", "en"})
    return frozenset(SUPPORTED_LANGUAGES)


def _words_by_language(value: Any, field: str) -> Any:
    """``[a, b]`` (shared), ``"a"`` or ``{fr: [...], en: [...], any: [...]}`` → a dict."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {ANY: [value]}
    if isinstance(value, list):
        return {ANY: value}
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for lang, words in value.items():
            if not isinstance(lang, str) or not (lang == ANY or _LANG.match(lang)):
                raise ValueError(
                    f"{lang!r} is not a language code: use two letters (fr, en) or "
                    f"'{ANY}' for words of every language"
                )
            out[lang] = [words] if isinstance(words, str) else words
        return out
    raise ValueError(
        f"expected a list of words or one list per language ({{fr: [...], en: [...]}}) for "
        f"{field}, got {type(value).__name__}"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Labels(_Strict):
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Theme(_Strict):
    """One theme of the taxonomy."""

    id: str
    parent: str | None = None
    label: Labels
    domain: Domain
    description: str = ""
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    lemmas: dict[str, list[str]] = Field(default_factory=dict)
    regexes: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    threshold: float | None = Field(default=None, gt=0, lt=1)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(
                f"{value!r} is not a theme id: use lower-case letters, digits and _, starting "
                "with a letter (e.g. wait_time)"
            )
        if value == UNCLASSIFIED:
            raise ValueError(f"'{UNCLASSIFIED}' is reserved for texts with no theme")
        return value

    @field_validator("keywords", "exclude", mode="before")
    @classmethod
    def _by_language(cls, value: Any) -> Any:
        return _words_by_language(value, "keywords")

    @field_validator("lemmas", mode="before")
    @classmethod
    def _lemmas(cls, value: Any) -> Any:
        data = _words_by_language(value, "lemmas")
        supported = _lemma_languages()
        for lang, words in data.items():
            if lang != ANY and lang not in supported:
                raise ValueError(f"no lemmatiser for language {lang!r} (simplemma)")
            for word in words if isinstance(words, list) else []:
                if isinstance(word, str) and len(word.split()) != 1:
                    raise ValueError(f"lemma {word!r} is not one word; put phrases under keywords")
        return data

    @field_validator("examples", mode="before")
    @classmethod
    def _examples(cls, value: Any) -> Any:
        if isinstance(value, dict):  # {fr: [...], en: [...]} → one list
            return [s for lang in value for s in (value[lang] or [])]
        return [] if value is None else value

    @field_validator("keywords", "exclude", "lemmas")
    @classmethod
    def _no_blank(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for lang, words in value.items():
            for word in words:
                if not word.strip() or word.strip() == "*":
                    raise ValueError(f"{lang}: empty word")
                if "*" in word.rstrip("*") or (word.endswith("*") and " " in word.strip()):
                    raise ValueError(
                        f"{word!r}: '*' may only end a single word (e.g. rembours*); "
                        "use a regex for anything else"
                    )
        return value

    @field_validator("regexes")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for i, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"regexes[{i}] {pattern!r} is not a valid regular expression: {exc} "
                    "(in YAML, quote it with single quotes so backslashes stay as written)"
                ) from None
        return value

    @field_validator("examples")
    @classmethod
    def _sentences(cls, value: list[str]) -> list[str]:
        for i, sentence in enumerate(value):
            if not sentence.strip():
                raise ValueError(f"examples[{i}] is empty")
        return value

    @property
    def has_rules(self) -> bool:
        return bool(self.keywords or self.lemmas or self.regexes)

    def label_in(self, language: str | None) -> str:
        return self.label.en if language == "en" else self.label.fr


class Taxonomy(_Strict):
    """The whole file. ``threshold``: the confidence a theme needs to be assigned."""

    version: int = 1
    threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, lt=1)
    themes: list[Theme] = Field(min_length=1)

    @model_validator(mode="after")
    def _tree(self) -> Taxonomy:
        seen: set[str] = set()
        for theme in self.themes:
            if theme.id in seen:
                raise ValueError(f"theme '{theme.id}' is declared twice; ids must be unique")
            seen.add(theme.id)
        ids = sorted(seen)
        parents = {t.id: t.parent for t in self.themes}
        for theme in self.themes:
            if theme.parent is None:
                continue
            if theme.parent not in seen:
                close = difflib.get_close_matches(theme.parent, ids, n=1)
                raise ValueError(
                    f"theme '{theme.id}', field 'parent': no theme '{theme.parent}'"
                    + (f" — did you mean '{close[0]}'?" if close else "")
                    + f" (themes: {', '.join(ids)})"
                )
            chain: list[str] = [theme.id]
            node: str | None = theme.parent
            while node is not None:
                if node in chain:
                    raise ValueError(
                        f"theme '{theme.id}', field 'parent': the parents make a loop "
                        f"({' → '.join([*chain, node])})"
                    )
                chain.append(node)
                node = parents[node]
        with_children = {p for p in parents.values() if p is not None}
        for theme in self.themes:
            if not (theme.has_rules or theme.examples) and theme.id not in with_children:
                raise ValueError(
                    f"theme '{theme.id}' has no keywords, lemmas, regexes or examples and no "
                    "child theme: nothing can assign it; add a few example sentences"
                )
        return self

    # -- navigation -------------------------------------------------------------------------
    @cached_property
    def by_id(self) -> dict[str, Theme]:
        return {t.id: t for t in self.themes}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.themes)

    def theme(self, theme_id: str) -> Theme:
        try:
            return self.by_id[theme_id]
        except KeyError:
            close = difflib.get_close_matches(theme_id, self.ids, n=1)
            raise ConfigError(
                f"no theme '{theme_id}' in the taxonomy"
                + (f" — did you mean '{close[0]}'?" if close else ""),
                hint=f"themes: {', '.join(self.ids)}",
            ) from None

    def children(self, theme_id: str) -> tuple[str, ...]:
        return tuple(t.id for t in self.themes if t.parent == theme_id)

    def ancestors(self, theme_id: str) -> tuple[str, ...]:
        """Parent, grand-parent, … of a theme (nearest first)."""
        out: list[str] = []
        node = self.by_id[theme_id].parent
        while node is not None:
            out.append(node)
            node = self.by_id[node].parent
        return tuple(out)

    def root(self, theme_id: str) -> str:
        chain = self.ancestors(theme_id)
        return chain[-1] if chain else theme_id

    def threshold_for(self, theme_id: str) -> float:
        own = self.by_id[theme_id].threshold
        return self.threshold if own is None else own

    @property
    def languages(self) -> frozenset[str]:
        """Languages the rules name (besides words shared by all)."""
        return frozenset(
            lang
            for t in self.themes
            for field in (t.keywords, t.lemmas, t.exclude)
            for lang in field
            if lang != ANY
        )

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever anything that affects classification changes."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def label_fingerprint(self) -> str:
        """Changes only when the set of theme ids changes (what a trained head depends on)."""
        return hashlib.sha256("\n".join(sorted(self.ids)).encode("utf-8")).hexdigest()[:16]


# -- reading ------------------------------------------------------------------------------------


def default_taxonomy_text() -> str:
    """The packaged customer-relationship taxonomy (FR/EN), as written (with comments)."""
    return (resources.files("voxloop") / "templates" / "taxonomy.yaml").read_text(encoding="utf-8")


def _theme_name(data: Any, index: Any) -> str:
    try:
        theme_id = data["themes"][index]["id"]
    except (KeyError, IndexError, TypeError):
        theme_id = None
    return f"theme '{theme_id}'" if isinstance(theme_id, str) else f"theme #{int(index) + 1}"


def _problem(err: Mapping[str, Any], data: Any) -> str:
    loc = list(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    scalar = isinstance(got, str | int | float) and not isinstance(got, bool)
    shown = f" (got {got!r})" if scalar and repr(got) not in msg else ""
    if err["type"] == "extra_forbidden":
        valid = list(Theme.model_fields) if len(loc) > 2 else list(Taxonomy.model_fields)
        if len(loc) > 3 and loc[2] == "label":
            valid = ["fr", "en"]
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        msg = (
            f"unknown field '{loc[-1]}'"
            + (f" — did you mean '{close[0]}'?" if close else "")
            + f"; valid fields: {', '.join(valid)}"
        )
        shown = ""
        loc = loc[:-1] if len(loc) > 2 else loc
    if len(loc) >= 2 and loc[0] == "themes" and isinstance(loc[1], int):
        where = _theme_name(data, loc[1])
        field = ".".join(str(p) for p in loc[2:])
        if field:
            where += f", field '{field}'"
        elif err["type"] == "extra_forbidden":
            where += f", field '{err['loc'][-1]}'"
    else:
        where = ".".join(str(p) for p in loc) or "top level"
    return f"{where}: {msg}{shown}"


def parse_taxonomy(data: Any, origin: str) -> Taxonomy:
    """Validate already-parsed YAML; ``origin`` names the file in error messages."""
    if not isinstance(data, dict) or "themes" not in data:
        raise ConfigError(
            f"{origin}: expected a YAML mapping with a 'themes:' list",
            hint=_HINT,
        )
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(e, data) for e in exc.errors()]
        text = problems[0] if len(problems) == 1 else "\n  - " + "\n  - ".join(problems)
        raise ConfigError(
            f"{origin} is not a valid taxonomy: {text}",
            hint=f"fix {origin} and run again; {_HINT}",
        ) from None


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and check a ``taxonomy.yaml``; ``None`` reads the packaged default taxonomy."""
    if path is None:
        origin, text = "default taxonomy (voxloop/templates/taxonomy.yaml)", default_taxonomy_text()
    else:
        file = Path(path)
        origin = str(file)
        if not file.is_file():
            raise ConfigError(
                f"{origin}: no such taxonomy file",
                hint="check the path, or copy the default one: voxloop init writes taxonomy.yaml",
            )
        text = file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin} is not valid YAML: {exc}", hint=_HINT) from None
    return parse_taxonomy(data, origin)


# -- writing: accept a candidate theme ---------------------------------------------------------


def _theme_yaml(theme: Mapping[str, Any], indent: str) -> str:
    body = yaml.safe_dump(
        [dict(theme)], allow_unicode=True, sort_keys=False, default_flow_style=None, width=96
    )
    return "".join(indent + line if line.strip() else line for line in body.splitlines(True))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_theme(
    path: Path,
    *,
    theme_id: str,
    domain: str,
    labels: Mapping[str, str],
    keywords: Sequence[str] = (),
    examples: Sequence[str] = (),
    parent: str | None = None,
) -> dict[str, Any]:
    """Add a theme at the end of ``taxonomy.yaml``, keeping the file's comments. The result is
    checked before anything is written: the file stays valid or is left untouched."""
    origin = str(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    data = yaml.safe_load(text) if text.strip() else {"themes": []}
    if not isinstance(data, dict) or not isinstance(data.get("themes"), list):
        raise ConfigError(f"{origin}: expected a YAML mapping with a 'themes:' list", hint=_HINT)
    theme: dict[str, Any] = {"id": theme_id}
    if parent is not None:
        theme["parent"] = parent
    theme |= {"label": {"fr": labels.get("fr", theme_id), "en": labels.get("en", theme_id)}}
    theme |= {"domain": domain, "keywords": list(keywords), "examples": list(examples)}
    wanted = {**data, "themes": [*data["themes"], theme]}
    parse_taxonomy(wanted, f"{origin} (with the new theme '{theme_id}')")
    indent = re.search(r"^( *)- +id:", text, flags=re.MULTILINE)
    new_text = text.rstrip("\n") + "\n" + _theme_yaml(theme, indent.group(1) if indent else "  ")
    kept_comments = True
    if not text.strip() or yaml.safe_load(new_text) != wanted:  # themes: is not the last key
        new_text = yaml.safe_dump(wanted, allow_unicode=True, sort_keys=False, width=96)
        kept_comments = not text.strip()
    _write_atomically(path, new_text)
    return {
        "theme": theme_id,
        "file": origin,
        "keywords": len(keywords),
        "examples": len(examples),
        "comments_kept": kept_comments,
    }


__all__ = [
    "ANY",
    "DOMAINS",
    "UNCLASSIFIED",
    "Domain",
    "Labels",
    "Taxonomy",
    "Theme",
    "append_theme",
    "default_taxonomy_text",
    "load_taxonomy",
    "parse_taxonomy",
]
