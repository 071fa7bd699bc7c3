"""``taxonomy.yaml``: the default taxonomy, validation errors that say what to do, and accepting
a new theme into the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from voxloop.errors import ConfigError
from voxloop.text.taxonomy import (
    DOMAINS,
    append_theme,
    default_taxonomy_text,
    load_taxonomy,
    parse_taxonomy,
)

REQUIRED = [
    "wait_time",
    "unreachable",
    "repeat_yourself",
    "wrong_answer",
    "staff_attitude",
    "no_follow_up",
    "product_availability",
    "product_quality",
    "delivery",
    "price",
    "billing",
    "contract",
    "digital_selfcare",
    "store_experience",
    "praise",
]


def theme(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "delivery",
        "label": {"fr": "Livraison", "en": "Delivery"},
        "domain": "product_service",
        "keywords": ["colis"],
    }
    return base | fields


def write_taxonomy(tmp_path: Path, *themes: dict[str, Any], **top: Any) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(
        yaml.safe_dump({**top, "themes": list(themes)}, allow_unicode=True, sort_keys=False)
    )
    return path


def error_of(tmp_path: Path, *themes: dict[str, Any], **top: Any) -> str:
    path = write_taxonomy(tmp_path, *themes, **top)
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


# -- the default taxonomy -----------------------------------------------------------------------


def test_default_taxonomy_covers_the_issue_themes_in_both_languages() -> None:
    taxonomy = load_taxonomy()
    for theme_id in REQUIRED:
        theme = taxonomy.theme(theme_id)
        assert theme.label.fr and theme.label.en
        assert theme.domain in DOMAINS
        assert 8 <= len(theme.examples) <= 15, theme_id
        assert {"fr", "en"} <= set(theme.keywords), theme_id
        assert {"fr", "en"} <= set(theme.lemmas), theme_id
    # interaction irritants apart from the product's own
    assert taxonomy.theme("wait_time").domain == "interaction"
    assert taxonomy.theme("delivery").domain == "product_service"
    assert taxonomy.theme("billing").domain == "price_billing"
    assert taxonomy.theme("digital_selfcare").domain == "digital"
    # loop.yaml's critical themes exist
    assert {"safety", "legal"} <= set(taxonomy.ids)


def test_default_taxonomy_is_a_tree_with_groups() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.ancestors("wait_time") == ("access",)
    assert set(taxonomy.children("money")) == {"price", "billing", "contract"}
    assert taxonomy.root("contract") == "money"
    assert taxonomy.root("praise") == "praise"
    assert not taxonomy.theme("access").has_rules and not taxonomy.theme("access").examples


def test_default_taxonomy_is_commented_in_both_languages() -> None:
    text = default_taxonomy_text()
    assert text.startswith("# Irritant taxonomy — taxonomie des irritants")
    assert "Mots-clés" in text and "keywords" in text


def test_words_are_shared_or_per_language(tmp_path: Path) -> None:
    path = write_taxonomy(
        tmp_path,
        theme(keywords=["colis", "parcel"], lemmas={"fr": ["livrer"], "en": "deliver"}),
        theme(
            id="praise",
            domain="other",
            keywords=None,
            examples={"fr": ["Super service"], "en": ["Great service"]},
        ),
    )
    taxonomy = load_taxonomy(path)
    assert taxonomy.theme("delivery").keywords == {"any": ["colis", "parcel"]}
    assert taxonomy.theme("delivery").lemmas == {"fr": ["livrer"], "en": ["deliver"]}
    assert taxonomy.theme("praise").examples == ["Super service", "Great service"]
    assert taxonomy.threshold == 0.4
    assert taxonomy.threshold_for("delivery") == 0.4


def test_fingerprints() -> None:
    data = yaml.safe_load(default_taxonomy_text())
    base = parse_taxonomy(data, "a")
    data["themes"][1]["keywords"]["fr"].append("attente record")
    edited = parse_taxonomy(data, "b")
    assert edited.fingerprint != base.fingerprint  # annotations must be redone
    assert edited.label_fingerprint == base.label_fingerprint  # a trained head still fits


# -- errors that say what failed, where, and what to do ----------------------------------------


def test_wrong_domain_names_theme_field_and_valid_values(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(domain="products"))
    assert "theme 'delivery'" in message and "field 'domain'" in message
    assert "'product_service'" in message and "'products'" in message
    assert "→" in message and "default taxonomy" in message  # what to do


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(keyword=["colis"]))
    assert "theme 'delivery', field 'keyword'" in message
    assert "did you mean 'keywords'" in message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(), treshold=0.5)
    assert "unknown field 'treshold'" in message and "did you mean 'threshold'" in message


def test_label_needs_both_languages(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(label={"fr": "Livraison"}))
    assert "field 'label.en'" in message


def test_unknown_parent_suggests(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(parent="ofer"), theme(id="offer", keywords=["x"]))
    assert "theme 'delivery', field 'parent': no theme 'ofer'" in message
    assert "did you mean 'offer'" in message


def test_parent_loop(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(parent="b"), theme(id="b", parent="delivery"))
    assert "loop" in message and "delivery → b → delivery" in message


def test_duplicate_id(tmp_path: Path) -> None:
    assert "declared twice" in error_of(tmp_path, theme(), theme())


def test_bad_regex_is_quoted_with_the_reason(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(regexes=[r"\bok", r"(colis"]))
    assert "regexes[1] '(colis' is not a valid regular expression" in message
    assert "missing )" in message


def test_bad_language_key_and_lemma_phrase(tmp_path: Path) -> None:
    assert "'french' is not a language code" in error_of(
        tmp_path, theme(keywords={"french": ["colis"]})
    )
    message = error_of(tmp_path, theme(lemmas={"fr": ["service client"]}))
    assert "not one word; put phrases under keywords" in message


def test_wildcard_only_ends_a_word(tmp_path: Path) -> None:
    assert "'*' may only end a single word" in error_of(tmp_path, theme(keywords=["re*bours"]))


def test_theme_that_nothing_can_assign(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(keywords=None))
    assert "theme 'delivery' has no keywords, lemmas, regexes or examples" in message
    assert "add a few example sentences" in message


def test_reserved_id_and_bad_id(tmp_path: Path) -> None:
    assert "reserved" in error_of(tmp_path, theme(id="unclassified"))
    assert "is not a theme id" in error_of(tmp_path, theme(id="Wait Time"))


def test_threshold_range(tmp_path: Path) -> None:
    assert "threshold" in error_of(tmp_path, theme(), threshold=1.5)
    assert "field 'threshold'" in error_of(tmp_path, theme(threshold=0))


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    message = error_of(tmp_path, theme(domain="x"), theme(id="b", regexes=["("]))
    assert "theme 'delivery', field 'domain'" in message
    assert "theme 'b', field 'regexes'" in message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such taxonomy file"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("themes: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_taxonomy(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping with a 'themes:' list"):
        load_taxonomy(bad)


def test_unknown_theme_lookup_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'delivery'"):
        load_taxonomy().theme("delivry")


# -- accepting a candidate theme ----------------------------------------------------------------


def test_append_theme_keeps_comments_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(default_taxonomy_text(), encoding="utf-8")
    result = append_theme(
        path,
        theme_id="eco_packaging",
        domain="product_service",
        labels={"fr": "Emballages", "en": "Packaging"},
        keywords=["emballage", "carton"],
        examples=["Trop de plastique dans le colis", "Far too much packaging"],
    )
    assert result["comments_kept"] is True
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Irritant taxonomy")
    taxonomy = load_taxonomy(path)
    assert taxonomy.ids[-1] == "eco_packaging"
    assert taxonomy.theme("eco_packaging").examples[1] == "Far too much packaging"


def test_append_theme_leaves_the_file_untouched_when_invalid(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(default_taxonomy_text(), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="declared twice"):
        append_theme(path, theme_id="price", domain="other", labels={}, keywords=["x"])
    with pytest.raises(ConfigError, match="field 'domain'"):
        append_theme(path, theme_id="new_one", domain="nope", labels={}, keywords=["x"])
    assert path.read_bytes() == before
