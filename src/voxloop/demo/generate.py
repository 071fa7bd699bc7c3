"""A year in the life of "Maison Lumière", a fictional French multichannel retailer.

Deterministic (seeded) so that the demo and the tests see the same data. The patterns planted
here are the ones the product must surface later:

* a broken digital process: customers who fill the online *change of address* form often call
  the phone line within three days;
* a product-availability irritant that grows month after month;
* the Asia hub answers social media slowly at night (Paris time).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

CHANNEL_WEIGHTS = {
    "Téléphone": 34,
    "E-mail": 18,
    "Chat": 14,
    "Réseaux sociaux": 8,
    "Rappel web": 6,
    "Boutique": 9,
    "Courrier": 3,
    "Espace client": 8,
}
HUBS = ("Europe", "Asia", "America")
TEAMS = ("Niveau 1", "Niveau 2", "Réclamations", "Social")
REASONS = (
    "Facturation",
    "Livraison",
    "Disponibilité produit",
    "Changement d'adresse",
    "Résiliation",
    "Panne produit",
    "Information",
)
OUTCOMES = ("résolu", "transféré", "rappel prévu", "sans suite")
SEGMENTS = ("particulier", "professionnel", "premium")

FR_COMMENTS = {
    "Facturation": [
        "J'ai été prélevé deux fois ce mois-ci, c'est inadmissible.",
        "La facture est incompréhensible et trop chère.",
    ],
    "Livraison": [
        "Colis livré avec une semaine de retard, aucune information.",
        "Le livreur n'est jamais passé alors que j'étais chez moi.",
    ],
    "Disponibilité produit": [
        "Produit en rupture de stock depuis des semaines.",
        "Toujours indisponible en magasin comme sur le site.",
    ],
    "Changement d'adresse": [
        "Le formulaire en ligne de changement d'adresse ne fonctionne pas, j'ai dû appeler.",
        "Impossible de modifier mon adresse sur l'espace client.",
    ],
    "Résiliation": [
        "On m'a fait attendre 40 minutes pour résilier.",
        "Résiliation très compliquée.",
    ],
    "Panne produit": ["L'appareil est tombé en panne au bout de deux mois.", "Produit défectueux."],
    "Information": ["Conseillère très aimable, réponse claire, merci !", "Rien à redire, parfait."],
}
EN_COMMENTS = {
    "Facturation": ["I was charged twice this month.", "The bill is far too expensive."],
    "Livraison": ["Parcel arrived a week late with no update.", "Delivery never showed up."],
    "Disponibilité produit": ["Out of stock again.", "Still unavailable online and in store."],
    "Changement d'adresse": ["The online address change form is broken, I had to call."],
    "Résiliation": ["Kept on hold for 40 minutes to cancel.", "Cancelling was a nightmare."],
    "Panne produit": ["The device broke after two months.", "Faulty product."],
    "Information": ["Friendly agent, quick answer, thanks!", "Great service."],
}


@dataclass(frozen=True)
class Customer:
    ref: str
    email: str | None
    phone: str | None
    handle: str | None
    segment: str
    english: bool


def _phone(rng: random.Random) -> str:
    # 0639 numbers belong to Mayotte (+262), so the metropolitan mobiles avoid 063
    digits = f"06{rng.choice('1245678')}{rng.randint(1_000_000, 9_999_999)}"
    style = rng.random()
    if style < 0.4:
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if style < 0.7:
        return "+33 " + digits[1:]
    if style < 0.85:
        return ".".join(digits[i : i + 2] for i in range(0, 10, 2))
    return digits


def customers(rng: random.Random, n: int) -> list[Customer]:
    out = []
    for i in range(n):
        english = rng.random() < 0.15
        name = f"client{i:05d}"
        email = f"{name}@{rng.choice(['exemple.fr', 'mail.fr', 'example.com'])}"
        out.append(
            Customer(
                ref=f"C{i:06d}",
                email=(email.upper() if rng.random() < 0.05 else email)
                if rng.random() < 0.85
                else None,
                phone=_phone(rng) if rng.random() < 0.8 else None,
                handle=f"@{name}_{rng.randint(1, 99)}" if rng.random() < 0.2 else None,
                segment=rng.choices(SEGMENTS, weights=(80, 15, 5))[0],
                english=english,
            )
        )
    return out


def _reason(rng: random.Random, month: int) -> str:
    weights = [16, 14, 4 + 2 * month, 8, 8, 10, 20]  # availability grows through the year
    return rng.choices(REASONS, weights=weights)[0]


def write_demo_files(folder: Path, *, seed: int = 7, contacts: int = 12_000) -> dict[str, Path]:
    """Write contacts.csv, surveys.csv and mentions.csv; return their paths."""
    rng = random.Random(seed)
    abandon_rng = random.Random(seed + 1)  # separate draws: the other figures stay the same
    folder.mkdir(parents=True, exist_ok=True)
    people = customers(rng, max(contacts // 6, 50))
    start = datetime(2025, 11, 1, tzinfo=UTC)
    channels = list(CHANNEL_WEIGHTS)
    weights = list(CHANNEL_WEIGHTS.values())
    contact_rows: list[dict[str, object]] = []
    for i in range(contacts):
        who = rng.choice(people[: len(people) // 5]) if rng.random() < 0.4 else rng.choice(people)
        at = start + timedelta(seconds=rng.randint(0, 365 * 86400))
        channel = rng.choices(channels, weights=weights)[0]
        reason = _reason(rng, (at.month - 11) % 12)
        hub = rng.choice(HUBS)
        wait = {"Téléphone": 45, "Chat": 30, "E-mail": 6 * 3600, "Réseaux sociaux": 1800}.get(
            channel, 600
        )
        if channel == "Réseaux sociaux" and hub == "Asia" and (at.hour >= 20 or at.hour < 6):
            wait *= 6  # the planted night-time breach
        first = at + timedelta(seconds=rng.expovariate(1 / wait))
        handle = (
            rng.lognormvariate(5.6, 0.6) if channel in ("Téléphone", "Chat", "Rappel web") else None
        )
        abandoned = channel == "Téléphone" and abandon_rng.random() < 0.07
        contact_rows.append(
            {
                "contact_id": f"K{i:07d}",
                "customer_id": who.ref,
                "customer_email": who.email or "",
                "customer_phone": who.phone or "",
                "customer_handle": who.handle
                if channel == "Réseaux sociaux" and who.handle
                else "",
                "channel": channel,
                "direction": "entrant",
                "started_at": at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S"),
                "first_response_at": first.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S"),
                "ended_at": (first + timedelta(seconds=handle or 300))
                .astimezone(PARIS)
                .strftime("%d/%m/%Y %H:%M:%S"),
                "handle_seconds": f"{handle:.0f}" if handle else "",
                "agent": f"agent{rng.randint(1, 60):02d}",
                "team": rng.choice(TEAMS),
                "hub": hub,
                "reason": reason,
                "outcome": "abandonné" if abandoned else rng.choice(OUTCOMES),
                "transfers": rng.choices((0, 1, 2), weights=(80, 15, 5))[0],
                "sla_met": rng.choice(("oui", "oui", "oui", "non")),
                "thread_id": "",
                "text": "",
            }
        )
        if abandoned:  # hung up while waiting: no answer, no handling time
            contact_rows[-1].update(first_response_at="", handle_seconds="")
        if reason == "Changement d'adresse" and channel == "Espace client" and rng.random() < 0.45:
            back = at + timedelta(hours=rng.uniform(1, 70))  # the broken digital process
            contact_rows.append(
                {
                    **contact_rows[-1],
                    "contact_id": f"K{i:07d}B",
                    "channel": "Téléphone",
                    "started_at": back.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S"),
                    "first_response_at": "",
                    "ended_at": "",
                    "handle_seconds": "420",
                }
            )
    paths = {"contacts": folder / "contacts.csv"}
    _write(paths["contacts"], contact_rows)

    survey_rows: list[dict[str, object]] = []
    for n, contact in enumerate(rng.sample(contact_rows, k=len(contact_rows) // 3)):
        reason = str(contact["reason"])
        unhappy = reason in (
            "Facturation",
            "Disponibilité produit",
            "Changement d'adresse",
            "Résiliation",
        )
        instrument = rng.choices(("nps", "csat", "ces"), weights=(5, 4, 1))[0]
        score = {
            "nps": rng.choice(range(7) if unhappy and rng.random() < 0.6 else range(6, 11)),
            "csat": rng.choice((1, 2) if unhappy and rng.random() < 0.6 else (3, 4, 5)),
            "ces": rng.randint(1, 7),
        }[instrument]
        who = next(p for p in people if p.ref == contact["customer_id"])
        pool = (EN_COMMENTS if who.english else FR_COMMENTS)[reason]
        survey_rows.append(
            {
                "response_id": f"R{n:07d}",
                "contact_id": contact["contact_id"],
                "customer_id": contact["customer_id"],
                "customer_email": contact["customer_email"],
                "customer_phone": "",
                "survey": instrument.upper(),
                "score": score,
                "comment": rng.choice(pool) if rng.random() < 0.45 else "",
                "answered_at": contact["started_at"],
                "channel": contact["channel"],
                "kind": "à chaud" if rng.random() < 0.85 else "à froid",
                "weight": "" if rng.random() < 0.85 else f"{rng.uniform(0.5, 2):.2f}",
            }
        )
    paths["surveys"] = folder / "surveys.csv"
    _write(paths["surveys"], survey_rows)

    mention_rows: list[dict[str, object]] = []
    for n in range(contacts // 12):
        reason = _reason(rng, n * 12 // max(contacts // 12, 1))
        english = rng.random() < 0.3
        at = start + timedelta(seconds=rng.randint(0, 365 * 86400))
        mention_rows.append(
            {
                "mention_id": f"M{n:06d}",
                "platform": rng.choice(("twitter", "facebook", "instagram")),
                "author": f"@fan{rng.randint(1, 5000)}",
                "followers": int(rng.paretovariate(1.2) * 50),
                "text": rng.choice((EN_COMMENTS if english else FR_COMMENTS)[reason])
                + " @MaisonLumiere",
                "created_at": at.strftime("%Y-%m-%d %H:%M:%S"),
                "in_reply_to": "",
                "brand": "Maison Lumière",
            }
        )
    paths["mentions"] = folder / "mentions.csv"
    _write(paths["mentions"], mention_rows)
    return paths


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
