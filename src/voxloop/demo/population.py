"""A population of customers with planted truth, to measure identity resolution.

People write their identifiers in many ways (``06 12 34 56 78``, ``+33 6 12 34 56 78``,
``0033612345678``; `` Jean.Dupont@Example.FR ``), some have two e-mails or two phones,
households share a landline, a few records carry the company's own switchboard number or a
``noreply@`` address, and some e-mails have typos. Each record keeps its true person in a
``truth`` column (stored in the row's attributes), so that precision and recall of the
resolution can be computed exactly (:func:`pairwise_scores`).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import phonenumbers

FIRST = ("jean", "marie", "luc", "anne", "paul", "sophie", "louis", "emma", "hugo", "lea",
         "tom", "chloe", "noah", "ines", "adam", "jade", "leo", "lina", "sam", "zoe")  # fmt: skip
LAST = ("martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand",
        "leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david")  # fmt: skip
DOMAINS = ("example.fr", "exemple.com", "mail.example", "courriel.example")
SWITCHBOARD = "0140000000"
NOREPLY = "noreply@maison-lumiere.example"
CHANNELS = ("phone", "email", "chat", "web_form", "store", "social")


@dataclass
class Person:
    pid: int
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)  # national digits, 10 of them
    account: str | None = None
    handle: str | None = None
    landline: str | None = None  # shared with the household


def _phone(rng: random.Random, mobile: bool) -> str:
    """A valid French number (phonenumbers' own check): 06/07 mobile, 01–05 fixed."""
    while True:
        first = rng.choice("67") if mobile else rng.choice("12345")
        digits = "0" + first + "".join(rng.choice("0123456789") for _ in range(8))
        if phonenumbers.is_valid_number(phonenumbers.parse(digits, "FR")):
            return digits


def _written(rng: random.Random, digits: str) -> str:
    """The same number as people type it."""
    pairs = [digits[i : i + 2] for i in range(0, 10, 2)]
    style = rng.randrange(5)
    if style == 0:
        return " ".join(pairs)
    if style == 1:
        return "+33 " + digits[1] + " " + " ".join(pairs[1:])
    if style == 2:
        return "0033" + digits[1:]
    if style == 3:
        return ".".join(pairs)
    return digits


def _email_written(rng: random.Random, email: str) -> str:
    if rng.random() < 0.3:
        email = email.title() if rng.random() < 0.5 else email.upper()
    return (" " if rng.random() < 0.1 else "") + email


def _typo(rng: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    if len(local) < 3:
        return "x" + email
    i = rng.randrange(len(local) - 1)
    swapped = local[:i] + local[i + 1] + local[i] + local[i + 2 :]
    return (swapped if swapped != local else local + "x") + "@" + domain


def make_people(n: int, rng: random.Random) -> list[Person]:
    people: list[Person] = []
    for pid in range(n):
        p = Person(pid)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        n_emails = rng.choices((0, 1, 2), weights=(5, 70, 25))[0]
        for k in range(n_emails):
            p.emails.append(f"{first}.{last}{pid}{'.pro' if k else ''}@{rng.choice(DOMAINS)}")
        n_phones = rng.choices((0, 1, 2), weights=(30, 60, 10))[0]
        p.phones = [_phone(rng, mobile=True) for _ in range(n_phones)]
        if rng.random() < 0.4:
            p.account = f"A{pid:08d}"
        if rng.random() < 0.15:
            p.handle = f"{first}_{last}{pid}"
        if not (p.emails or p.phones or p.account or p.handle):
            p.emails.append(f"{first}{pid}@{rng.choice(DOMAINS)}")
        people.append(p)
    # households of 3 to 5 share a landline
    i = 0
    while i < n:
        if rng.random() < 0.03:
            size = rng.randint(3, 5)
            line = _phone(rng, mobile=False)
            for member in people[i : i + size]:
                member.landline = line
                if not member.emails:  # each member can be told apart by an own e-mail
                    member.emails.append(f"m{member.pid}@{DOMAINS[0]}")
            i += size
        else:
            i += 1
    return people


def write_population(
    path: Path, people: int = 2000, *, seed: int = 11, records_per_person: float = 3.0
) -> Path:
    """A ``contacts`` CSV of records with planted truth; returns its path."""
    rng = random.Random(seed)
    population = make_people(people, rng)
    start = datetime(2025, 1, 1)
    rows: list[dict[str, object]] = []
    n = 0
    for p in population:
        count = 1 + int(rng.expovariate(1 / max(records_per_person - 1, 0.1)))
        first_row = len(rows)
        personal: list[set[str]] = []  # identifiers only this person has, per record
        for _ in range(count):
            email = rng.choice(p.emails) if p.emails and rng.random() < 0.8 else None
            phones = p.phones + ([p.landline] if p.landline else [])
            phone = rng.choice(phones) if phones and rng.random() < 0.6 else None
            account = p.account if p.account and rng.random() < 0.5 else None
            handle = p.handle if p.handle and rng.random() < 0.5 else None
            if not (email or phone or account or handle):
                email = p.emails[0] if p.emails else None
                phone = None if email else (phones[0] if phones else None)
                account = None if email or phone else p.account
                handle = None if email or phone or account else p.handle
            if rng.random() < 0.02:
                phone = SWITCHBOARD  # the call came through the switchboard
            elif rng.random() < 0.01 and email:
                email = NOREPLY  # a form that fills in the company's own address
            if (
                email
                and email != NOREPLY
                and len(p.emails) == 1
                and phone
                and phone != SWITCHBOARD
                and rng.random() < 0.05
            ):
                email = _typo(rng, email)  # a typo, with a phone that still links the record
            personal.append(
                {
                    f"{kind}:{value}"
                    for kind, value in (("e", email), ("p", phone), ("a", account), ("h", handle))
                    if value and value not in (SWITCHBOARD, NOREPLY, p.landline)
                }
            )
            rows.append(
                {
                    "contact_id": f"R{n:08d}",
                    "customer_id": account or "",
                    "customer_email": _email_written(rng, email) if email else "",
                    "customer_phone": _written(rng, phone) if phone else "",
                    "customer_handle": handle or "",
                    "channel": rng.choice(CHANNELS),
                    "started_at": (start + timedelta(minutes=rng.randrange(500_000))).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                    "truth": p.pid,
                }
            )
            n += 1
        for i, group in enumerate(_linkable_groups(personal)):
            rows[first_row + i]["linkable"] = f"{p.pid}.{group}"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _linkable_groups(records: list[set[str]]) -> list[int]:
    """Which of one person's records a perfect deterministic resolution could join: those
    connected through identifiers only this person has."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, ids in enumerate(records):
        for ident in ids:
            if ident in seen:
                parent[find(i)] = find(seen[ident])
            else:
                seen[ident] = i
    return [find(i) for i in range(len(records))]


def pairwise_scores(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Pairwise precision and recall of ``interactions.customer_id`` against the planted
    truth (a record with no customer counts as alone).

    ``recall`` counts every pair of records of one person; ``recall_linkable`` only the
    pairs deterministic identifiers can join at all (the target of resolution: two e-mails
    of one person that never appear together with anything else cannot be linked)."""
    [(tp, predicted, true, tp_link, linkable)] = con.execute(
        """
        WITH r AS (
            SELECT coalesce(customer_id, 'alone:' || interaction_id) AS cust,
                   attributes->>'$.truth' AS truth, attributes->>'$.linkable' AS linkable
            FROM interactions WHERE attributes->>'$.truth' IS NOT NULL),
        cell AS (SELECT count(*) AS n FROM r GROUP BY cust, truth),
        cell_link AS (SELECT count(*) AS n FROM r GROUP BY cust, linkable),
        pred AS (SELECT count(*) AS n FROM r GROUP BY cust),
        tru AS (SELECT count(*) AS n FROM r GROUP BY truth),
        link AS (SELECT count(*) AS n FROM r GROUP BY linkable)
        SELECT (SELECT sum(n * (n - 1) / 2) FROM cell), (SELECT sum(n * (n - 1) / 2) FROM pred),
               (SELECT sum(n * (n - 1) / 2) FROM tru),
               (SELECT sum(n * (n - 1) / 2) FROM cell_link),
               (SELECT sum(n * (n - 1) / 2) FROM link)
        """
    ).fetchall()
    tp, predicted, true = float(tp or 0), float(predicted or 0), float(true or 0)
    tp_link, linkable = float(tp_link or 0), float(linkable or 0)
    return {
        "precision": tp / predicted if predicted else 1.0,
        "recall": tp / true if true else 1.0,
        "recall_linkable": tp_link / linkable if linkable else 1.0,
        "true_pairs": true,
        "predicted_pairs": predicted,
    }


# -- people known by several unrelated identities (for probabilistic matching) ---------------

NAMED_FIRST = (
    "Jean", "Marie", "Luc", "Anne", "Paul", "Sophie", "Louis", "Emma", "Hugo", "Léa", "Tom",
    "Chloé", "Noah", "Inès", "Adam", "Jade", "Léo", "Lina", "Zoé", "Hélène", "Jérôme",
    "Françoise", "Cécile", "Loïc", "Noël", "Agnès", "Benoît", "Gaëlle", "Héloïse", "Raphaël",
    "Amélie", "Clément", "Élodie", "Étienne", "Joël", "Maëlle", "Océane", "Rémi", "Thérèse",
    "Yannick", "Bastien", "Camille", "Damien", "Estelle", "Fabrice", "Gérald", "Isabelle",
    "Justine", "Karim", "Laure", "Mathis", "Nadia", "Olivier", "Pascale", "Quentin", "Romane",
    "Sylvain", "Tristan", "Valérie", "Yasmine",
)  # fmt: skip
NAMED_LAST = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert",
    "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc",
    "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier",
    "Roger", "Roche", "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand",
    "Dufour", "Blanchard", "Marie", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux",
    "Colin", "Fernandez", "Pierre", "Renard", "Arnaud", "Rolland", "Caron", "Aubert",
    "Giraud", "Leclerc", "Vidal", "Bourgeois",
)  # fmt: skip
CITIES = ("Lyon", "Nantes", "Lille", "Rennes", "Dijon", "Angers", "Brest", "Metz", "Nancy",
          "Tours", "Caen", "Amiens", "Limoges", "Poitiers", "Pau", "Bayonne", "Annecy", "Niort",
          "Quimper", "Valence", "Colmar", "Troyes", "Chartres", "Vannes", "Lorient")  # fmt: skip
STREETS = ("rue de la Paix", "avenue Victor Hugo", "rue des Lilas", "boulevard Gambetta",
           "rue du Moulin", "place de l'Église", "rue Pasteur", "allée des Chênes",
           "rue Jean Jaurès", "chemin des Vignes", "rue de la Gare", "impasse des Roses",
           "avenue de la République", "rue Voltaire", "rue des Écoles")  # fmt: skip
WORDS = ("soleil", "lune", "tigre", "azur", "plume", "cactus", "mistral", "galet", "orage",
         "cerise", "renard", "lutin", "comete", "zephyr", "olive")  # fmt: skip


def _zipf(rng: random.Random, items: tuple[str, ...]) -> str:
    """Common names are common: the k-th name is drawn with weight 1 / (k + 3)."""
    return rng.choices(items, weights=[1 / (k + 3) for k in range(len(items))])[0]


def _plain(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower().replace(" ", "")


def _name_variant(rng: random.Random, first: str, last: str) -> str:
    """The same person's name as another system wrote it."""
    style = rng.random()
    if style < 0.35:
        return f"{first} {last}"
    if style < 0.55:
        return f"{last.upper()} {first}"  # the French way: surname first, in capitals
    if style < 0.75:
        return f"{first} {last}".upper().replace("É", "E").replace("È", "E").replace("Ë", "E")
    # one typo in the last name (a letter swapped with its neighbour, or replaced)
    i = rng.randrange(1, len(last) - 1)
    if rng.random() < 0.5:
        typo = last[:i] + last[i + 1] + last[i] + last[i + 2 :]
    else:
        typo = last[:i] + rng.choice("aeioutnrs") + last[i + 1 :]
    return f"{first} {typo if typo != last else last + 'e'}"


def write_named_population(
    path: Path,
    people: int = 2000,
    *,
    seed: int = 7,
    duplicates: float = 0.06,
    conflicts: float = 0.15,
) -> Path:
    """A ``contacts`` CSV where records carry a name and an address (``name``, ``address``,
    ``postcode``, ``city`` columns), and a share ``duplicates`` of the people also appear
    under a second, unrelated identity: another e-mail, no identifier in common, the same
    name (written another way: capitals, surname first, accents lost, one typo) and, nine
    times in ten, the same address. Among those, a share ``conflicts`` carries a different
    customer number on each side (two accounts of one person: a match, but one no rule may
    merge). Hard negatives are planted too: namesakes elsewhere (common names are drawn
    often) and households (same surname and address, a shared landline, another first name).

    Each record keeps its person in ``truth`` and its identity in ``identity``
    (``<person>.<1|2>``); deterministic resolution yields one customer per identity."""
    rng = random.Random(seed)
    postcodes = rng.sample(range(1000, 95999), 300)
    places = [(f"{code:05d}", rng.choice(CITIES)) for code in postcodes]
    start = datetime(2025, 1, 1)
    rows: list[dict[str, object]] = []
    pid = 0
    while pid < people:
        household = rng.random() < 0.05
        size = rng.randint(2, 3) if household else 1
        last = _zipf(rng, NAMED_LAST)
        place = rng.choice(places)
        address = f"{rng.randint(1, 140)} {rng.choice(STREETS)}"
        landline = _phone(rng, mobile=False) if household else None
        firsts = rng.sample(NAMED_FIRST, size)
        for first in firsts:
            if pid >= people:
                break
            identities = [1, 2] if (not household and rng.random() < duplicates) else [1]
            conflict = len(identities) == 2 and rng.random() < conflicts
            for identity in identities:
                if identity == 1:
                    name = f"{first} {last}"
                    local = _plain(f"{first}.{last}") + str(pid)
                    home, street = place, address
                    account = f"A{pid:07d}" if conflict or rng.random() < 0.3 else None
                    mobile = _phone(rng, mobile=True) if rng.random() < 0.6 else None
                else:  # the same person, unknown to the first system
                    name = _name_variant(rng, first, last)
                    local = f"{rng.choice(WORDS)}{rng.randint(10, 999)}"
                    home, street = place, address
                    if rng.random() < 0.1:  # moved house in between
                        home = rng.choice(places)
                        street = f"{rng.randint(1, 140)} {rng.choice(STREETS)}"
                    account = f"B{pid:07d}" if conflict else None
                    mobile = _phone(rng, mobile=True) if rng.random() < 0.3 else None
                email = f"{local}@{rng.choice(DOMAINS)}"
                for k in range(rng.randint(1, 4)):
                    phone = rng.choice([p for p in (mobile, landline) if p] or [None])
                    rows.append(
                        {
                            "contact_id": f"N{len(rows):08d}",
                            "customer_id": account
                            if account and (k == 0 or rng.random() < 0.7)
                            else "",
                            "customer_email": email,
                            "customer_phone": _written(rng, phone)
                            if phone and rng.random() < 0.5
                            else "",
                            "name": name if k == 0 or rng.random() < 0.9 else "",
                            "address": street if rng.random() < 0.7 else "",
                            "postcode": home[0] if rng.random() < 0.8 else "",
                            "city": home[1] if rng.random() < 0.8 else "",
                            "channel": rng.choice(CHANNELS),
                            "started_at": (
                                start + timedelta(minutes=rng.randrange(500_000))
                            ).strftime("%Y-%m-%d %H:%M:%S"),
                            "truth": pid,
                            "identity": f"{pid}.{identity}",
                        }
                    )
            pid += 1
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
