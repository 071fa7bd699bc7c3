"""Closed vocabularies of the canonical model and the words sources use for them.

A source's own word ("Téléphone", "Web", "Twitter", "courriel") is mapped onto one canonical
value. The synonym tables below are the built-in knowledge; a mapping can add its own
``value_map`` on top. A word nobody knows becomes ``other`` and the raw word is kept in the
row's attributes, so nothing is lost and the data-quality report can list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

CHANNELS: tuple[str, ...] = (
    "phone",
    "email",
    "chat",
    "social",
    "web_form",
    "callback",
    "store",
    "mail",
    "self_care",
    "forum",
    "app",
    "video",
    "sms",
    "fax",
    "referral",
    "other",
)

DIRECTIONS: tuple[str, ...] = ("inbound", "outbound", "internal")

INSTRUMENTS: tuple[str, ...] = ("nps", "csat", "ces", "fcr", "rating", "none")

SURVEY_KINDS: tuple[str, ...] = ("hot", "cold", "review", "social", "complaint")


def normalise_word(word: str) -> str:
    """The key synonyms are looked up by: lower case, ``_`` as space, single spaces."""
    return " ".join(word.strip().lower().replace("_", " ").split())


def _synonyms(table: Mapping[str, tuple[str, ...]]) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for canonical, words in table.items():
        out[normalise_word(canonical)] = canonical
        for word in words:
            out[normalise_word(word)] = canonical
    return MappingProxyType(out)


CHANNEL_SYNONYMS: Mapping[str, str] = _synonyms(
    {
        "phone": (
            "telephone",
            "téléphone",
            "tel",
            "tél",
            "call",
            "voice",
            "voix",
            "appel",
            "inbound call",
            "phone call",
            "hotline",
            "ivr",
            "svi",
        ),
        "email": ("e-mail", "mail electronique", "courriel", "mél", "mel", "e mail"),
        "chat": (
            "live chat",
            "webchat",
            "web chat",
            "tchat",
            "messaging",
            "messenger",
            "whatsapp",
            "chatbot",
            "bot",
        ),
        "social": (
            "twitter",
            "x",
            "facebook",
            "instagram",
            "linkedin",
            "tiktok",
            "youtube",
            "social media",
            "réseaux sociaux",
            "reseaux sociaux",
            "réseau social",
            "tweet",
            "mastodon",
            "bluesky",
            "threads",
        ),
        "web_form": (
            "web",
            "web form",
            "webform",
            "form",
            "formulaire",
            "formulaire web",
            "contact form",
            "online",
            "website",
            "site web",
            "internet",
        ),
        "callback": (
            "web callback",
            "call back",
            "call-back",
            "web call-back",
            "rappel",
            "web call back",
            "click to call",
            "click-to-call",
            "rappel web",
            "demande de rappel",
        ),
        "store": (
            "shop",
            "boutique",
            "magasin",
            "agence",
            "branch",
            "in person",
            "face to face",
            "face-à-face",
            "walk-in",
            "point de vente",
        ),
        "mail": ("postal mail", "letter", "courrier", "lettre", "post", "postal"),
        "self_care": (
            "selfcare",
            "self-care",
            "self service",
            "self-service",
            "espace client",
            "customer portal",
            "portal",
            "extranet",
            "faq",
        ),
        "forum": ("community", "communauté", "forum communautaire"),
        "app": ("mobile app", "application", "appli", "application mobile", "in-app"),
        "video": ("visio", "video call", "visioconférence", "video chat"),
        "sms": ("text", "texto", "text message", "rcs"),
        "fax": ("telecopie", "télécopie"),
        "referral": (
            "referred",
            "transfer from partner",
            "partner",
            "partenaire",
            "mediator",
            "médiateur",
            "ombudsman",
        ),
        "other": ("autre", "unknown", "inconnu", "n/a"),
    }
)

DIRECTION_SYNONYMS: Mapping[str, str] = _synonyms(
    {
        "inbound": (
            "in",
            "incoming",
            "entrant",
            "entrante",
            "inbound call",
            "received",
            "reçu",
            "customer",
        ),
        "outbound": (
            "out",
            "outgoing",
            "sortant",
            "sortante",
            "sent",
            "envoyé",
            "agent",
            "brand",
            "company",
        ),
        "internal": ("interne", "note", "internal note"),
    }
)

INSTRUMENT_SYNONYMS: Mapping[str, str] = _synonyms(
    {
        "nps": ("net promoter score", "recommandation", "likelihood to recommend", "ltr"),
        "csat": ("satisfaction", "customer satisfaction", "sat"),
        "ces": ("effort", "customer effort score", "customer effort"),
        "fcr": (
            "first contact resolution",
            "resolved at first contact",
            "résolution au premier contact",
            "resolution au premier contact",
            "résolu au premier contact",
            "resolu au premier contact",
        ),
        "rating": ("stars", "étoiles", "etoiles", "review", "avis", "note"),
        "none": ("", "complaint", "réclamation", "mention", "comment", "verbatim"),
    }
)

SURVEY_KIND_SYNONYMS: Mapping[str, str] = _synonyms(
    {
        "hot": (
            "à chaud",
            "a chaud",
            "transactional",
            "transactionnel",
            "post-contact",
            "after contact",
        ),
        "cold": (
            "à froid",
            "a froid",
            "relationship",
            "relationnel",
            "baromètre",
            "barometer",
            "annual",
        ),
        "review": ("avis", "rating", "online review"),
        "social": ("mention", "post", "tweet"),
        "complaint": ("réclamation", "reclamation", "grievance"),
    }
)

# Default scales per instrument; a mapping can override them.
DEFAULT_SCALES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "nps": (0.0, 10.0),
        "csat": (1.0, 5.0),
        "ces": (1.0, 7.0),
        "fcr": (0.0, 1.0),  # no / yes
        "rating": (1.0, 5.0),
    }
)

VOCABULARIES: Mapping[str, tuple[tuple[str, ...], Mapping[str, str]]] = MappingProxyType(
    {
        "channel": (CHANNELS, CHANNEL_SYNONYMS),
        "direction": (DIRECTIONS, DIRECTION_SYNONYMS),
        "instrument": (INSTRUMENTS, INSTRUMENT_SYNONYMS),
        "survey_kind": (SURVEY_KINDS, SURVEY_KIND_SYNONYMS),
    }
)


def canonical_word(vocabulary: str, word: str | None) -> str | None:
    """Map a source word onto the vocabulary through the built-in synonyms; ``None`` when
    unknown."""
    if word is None:
        return None
    _, synonyms = VOCABULARIES[vocabulary]
    return synonyms.get(normalise_word(word))
