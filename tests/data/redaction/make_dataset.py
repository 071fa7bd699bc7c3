"""Write ``labelled.jsonl``: FR/EN customer sentences with planted personal data, labelled.

    .venv/bin/python tests/data/redaction/make_dataset.py        # rewrites labelled.jsonl

Deterministic (a fixed seed); ``tests/test_redact.py`` checks that the committed file is what
this script writes. Each line: ``{"id", "lang", "text", "spans": [{"kind", "start", "end"}]}``,
``kind`` a key of ``voxloop.text.types.PLACEHOLDERS``. Sentences with no span are the
negatives: ordinary numbers (orders, amounts, dates, postcodes, a 16-digit number failing
Luhn, an IBAN with a wrong checksum) and capitalised words that are not names.

The values are generated here, independently of the redactor: valid IBANs (mod 97) of nine
countries in print, compact and lower-case forms; Luhn-valid cards of six issuers in their
printed layouts; NIRs with their key (Corsica included); phone numbers of FR/BE/CH/UK/US/CA in
national and international forms (checked valid with ``phonenumbers``), and fictional ranges
(UK 07700 900xxx, US 555-01xx) written next to a phone word; names from lists that include
given names the redactor's lexicon does not know (the bench reports both halves apart).
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from pathlib import Path

import phonenumbers

SEED = 20261124


def _split(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


HERE = Path(__file__).resolve().parent
OUT = HERE / "labelled.jsonl"

FR_FIRST = _split("""Marie Jean Nathalie Pierre Isabelle Nicolas Sophie Julien Camille Thomas Émilie
Sébastien Aurélie Mathieu Céline Kévin Léa Hugo Chloé Lucas Inès Mehdi Fatima Karim Yasmine
Jean-Pierre Marie-Claude Anne-Sophie Jean-Baptiste Maëlys Gwendal Soizic Tiphaine Enora Ronan
Killian Timéo Nolan Maël Elouan Anouk Apolline Bérénice Ysaline Côme Aymeric Tristan Gaspard
Ludivine Solène Yannick Brice Lilou Naïm Rayan Ambroise Eulalie Ghislaine Thibault Blandine
Quitterie Enguerrand Sixtine Perrine Corentin Maïwenn Loane Mattéo Noam Sacha""")
_FR_LAST = """Martin, Bernard, Dubois, Durand, Leroy, Moreau, Lefebvre, Garcia, Roux, Fournier,
Morel, Girard, Lefèvre, Mercier, Dupont, Lambert, Bonnet, Legrand, Garnier, Faure, Rousseau,
Guérin, Muller, Roussel, Perrin, Morin, Gauthier, Fontaine, Chevalier, Masson, Nguyen, Boyer,
Lemaire, Duval, Joly, Meunier, Marchand, Dufour, Blanchard, Barbier, Brunet, Schmitt, Leroux,
Fernandez, Benali, Haddad, Diallo, Traoré, Le Gall, Le Goff, Kerbrat, Quéméner, Delacroix,
Vasseur, Pelletier, Carpentier, Deschamps, Lemoine, Lacroix, Rivière, Besnard, Tessier, Hamon,
Prévost, Giraud, Renaud, Charpentier, Guillot, de La Fontaine, Da Silva""".replace("\n", " ")
FR_LAST = [w.strip() for w in _FR_LAST.split(",")]
EN_FIRST = _split("""James John Michael Sarah Jessica Emily David Laura Daniel Olivia Matthew Emma
Christopher Hannah Andrew Rachel Ryan Megan Liam Chloe Sean Niamh Priya Aisha Imogen Saoirse
Rory Cormac Tamsin Jasper Ezra Silas Aurora Willow Phoebe Matilda Ottilie Barnaby Rupert
Crispin Dominika Oksana Priyanka Kwame Chidi Ngozi Thanh Mei Hiroshi Yusuf Tobias Finley
Harriet Beatrix Leopold Cressida Malachi Eamon Bronagh Kirsten Darragh Ffion Hamza Delroy
Shanice Tyrone Precious Ebony Jaylen Destiny Brayden Maddox""")
EN_LAST = _split("""Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Thomas Jackson
White
Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Hill Green Adams Baker Nelson
Mitchell Roberts Turner Phillips Campbell Evans Edwards Collins Stewart Morris Murphy Cook
Rogers Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks
Bennett Gray Hughes Price Sanders Patel Khan O'Brien O'Connor McDonald MacLeod Fitzgerald
Walsh Byrne Okafor Nakamura Kowalski Ivanova Chatterjee Oyelaran Abernathy Whitfield""")

DOMAINS = _split("""gmail.com orange.fr wanadoo.fr free.fr sfr.fr laposte.net hotmail.fr yahoo.fr
outlook.com icloud.com proton.me yahoo.co.uk btinternet.com example.org entreprise.fr
boulangerie-durand.fr mail.example.co.uk univ-lyon2.fr skynet.be bluewin.ch videotron.ca
sympatico.ca aol.com live.co.uk""")

R = random.Random(SEED)


def pick(seq: list[str]) -> str:
    return R.choice(seq)


def digits(n: int) -> str:
    return "".join(R.choice(string.digits) for _ in range(n))


# -- values ---------------------------------------------------------------------------------------


def email_value(first: str, last: str) -> str:
    def ascii_(s: str) -> str:
        table = str.maketrans("éèêëàâäîïôöûüçñ", "eeeeaaaiioouucn")
        return re.sub(r"[^a-z0-9]", "", s.lower().translate(table))

    f, la = ascii_(first), ascii_(last)
    local = R.choice(
        [
            f"{f}.{la}",
            f"{f[0]}{la}",
            f"{f}{la}{R.randint(1, 99)}",
            f"{f}_{la}",
            f"{f}.{la}+sav",
            f"{la}.{f}",
            f"{f}-{la}",
            f"{f[0]}.{la}{R.randint(60, 99)}",
        ]
    )
    address = f"{local}@{pick(DOMAINS)}"
    roll = R.random()
    if roll < 0.1:
        address = address.upper() if R.random() < 0.3 else address.title()
    elif roll < 0.18:
        domain = address.split("@")[1].replace(".", " [dot] ")
        address = f"{local} [at] {domain}"
    return address


def _valid(number: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, region))
    except phonenumbers.NumberParseException:
        return False


def phone_value() -> tuple[str, bool]:
    """A phone number in one of many written forms; True when it is a fictional number that
    should be written next to a phone word."""
    while True:
        kind = R.choice(["fr_mob", "fr_fix", "fr_mob", "be", "ch", "uk", "us", "ca", "fict"])
        if kind == "fr_mob":
            n = R.choice("67") + digits(8)
            form = R.choice(
                [
                    "0{0} {1} {2} {3} {4}",
                    "0{0}.{1}.{2}.{3}.{4}",
                    "0{0}-{1}-{2}-{3}-{4}",
                    "0{0}{1}{2}{3}{4}",
                    "+33 {0} {1} {2} {3} {4}",
                    "+33{0}{1}{2}{3}{4}",
                    "0033 {0} {1} {2} {3} {4}",
                    "0033{0}{1}{2}{3}{4}",
                    "+33 (0){0} {1} {2} {3} {4}",
                    "(+33) {0} {1} {2} {3} {4}",
                ]
            )
            text = form.format(n[0], n[1:3], n[3:5], n[5:7], n[7:9])
            region = "FR"
        elif kind == "fr_fix":
            n = R.choice("12345") + digits(8)
            form = R.choice(
                ["0{0} {1} {2} {3} {4}", "0{0}.{1}.{2}.{3}.{4}", "+33 {0} {1} {2} {3} {4}"]
            )
            text = form.format(n[0], n[1:3], n[3:5], n[5:7], n[7:9])
            region = "FR"
        elif kind == "be":
            if R.random() < 0.6:
                n = "4" + R.choice("6789") + digits(7)
                text = R.choice(
                    ["0{0} {1} {2} {3}", "+32 {0} {1} {2} {3}", "0{0}/{1}.{2}.{3}"]
                ).format(n[:3], n[3:5], n[5:7], n[7:9])
            else:
                n = "2" + R.choice("2345") + digits(6)
                text = R.choice(["0{0} {1} {2} {3}", "+32 {0} {1} {2} {3}"]).format(
                    n[0], n[1:4], n[4:6], n[6:8]
                )
            region = "BE"
        elif kind == "ch":
            n = (
                R.choice(["44", "22", "21", "31", "61", "76", "77", "78", "79"])
                + R.choice("2345678")
                + digits(6)
            )
            text = R.choice(
                ["0{0} {1} {2} {3}", "+41 {0} {1} {2} {3}", "0041 {0} {1} {2} {3}"]
            ).format(n[:2], n[2:5], n[5:7], n[7:9])
            region = "CH"
        elif kind == "uk":
            if R.random() < 0.5:
                n = "20" + R.choice("378") + digits(7)
                text = R.choice(
                    ["0{0} {1} {2}", "+44 {0} {1} {2}", "+44 (0){0} {1} {2}", "0{0}{1}{2}"]
                ).format(n[:2], n[2:6], n[6:10])
            else:
                n = "7" + R.choice("45789") + digits(8)
                text = R.choice(["0{0} {1}", "+44 {0} {1}", "0{0}{1}", "+44{0}{1}"]).format(
                    n[:4], n[4:10]
                )
            region = "GB"
        elif kind in ("us", "ca"):
            area = R.choice(
                ["212", "415", "312", "617", "202", "305", "713", "206"]
                if kind == "us"
                else ["514", "416", "604", "613", "403", "418"]
            )
            n = area + R.choice("23456789") + digits(2) + digits(4)
            text = R.choice(
                [
                    "({0}) {1}-{2}",
                    "{0}-{1}-{2}",
                    "{0}.{1}.{2}",
                    "+1 {0} {1} {2}",
                    "+1-{0}-{1}-{2}",
                    "+1 ({0}) {1}-{2}",
                    "1-{0}-{1}-{2}",
                ]
            ).format(n[:3], n[3:6], n[6:10])
            region = "US"
        else:
            text = R.choice(
                [
                    f"07700 900{digits(3)}",
                    f"+44 7700 900{digits(3)}",
                    f"({R.choice(['415', '212', '514'])}) 555-01{digits(2)}",
                    f"555-01{digits(2)}",
                ]
            )
            if text.startswith("555"):
                text = f"{R.choice(['415', '312'])}-{text}"
            return text, True
        if _valid(text, region):
            return text, False


IBAN_FORMATS = {  # country: (length of BBAN, alphabet of the BBAN by position)
    "FR": "nnnnnnnnnnnnnnnnnnnnnnn",  # 5 bank, 5 branch, 11 account, 2 key (n: a digit)
    "BE": "nnnnnnnnnnnn",
    "CH": "nnnnncccccccccccc",  # c: a digit or a capital letter
    "DE": "nnnnnnnnnnnnnnnnnn",
    "GB": "aaaannnnnnnnnnnnnn",
    "ES": "nnnnnnnnnnnnnnnnnnnn",
    "IT": "annnnnnnnnncccccccccccc",  # a: a capital letter
    "NL": "aaaannnnnnnnnn",
    "LU": "nnnccccccccccccc",
}


def _iban_check(country: str, bban: str) -> str:
    number = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(number) % 97:02d}"


def iban_value(valid: bool = True) -> str:
    country = R.choice(["FR", "FR", "FR", "BE", "CH", "DE", "GB", "ES", "IT", "NL", "LU"])
    bban = "".join(
        R.choice(string.digits)
        if c == "n"
        else R.choice(string.ascii_uppercase)
        if c == "a"
        else R.choice(string.digits + string.ascii_uppercase)
        for c in IBAN_FORMATS[country]
    )
    check = _iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + R.randint(1, 90)) % 97 + 2:02d}"
    iban = country + check + bban
    form = R.random()
    if form < 0.6:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    elif form < 0.7:
        iban = "-".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    elif form < 0.8:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)).lower()
    return iban


def _luhn_complete(body: str) -> str:
    for d in string.digits:
        candidate = body + d
        total = 0
        for i, c in enumerate(reversed(candidate)):
            v = int(c) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return candidate
    raise AssertionError(body)


def card_value(valid: bool = True) -> str:
    issuer = R.choice(
        ["visa", "visa", "mc", "mc2", "amex", "discover", "diners", "jcb", "visa13", "maestro19"]
    )
    prefix, length, layout = {
        "visa": ("4", 16, (4, 4, 4, 4)),
        "mc": (f"5{R.randint(1, 5)}", 16, (4, 4, 4, 4)),
        "mc2": (str(R.randint(2221, 2720)), 16, (4, 4, 4, 4)),
        "amex": (R.choice(["34", "37"]), 15, (4, 6, 5)),
        "discover": ("6011", 16, (4, 4, 4, 4)),
        "diners": (R.choice(["36", "38"]), 14, (4, 6, 4)),
        "jcb": ("35" + str(R.randint(28, 89)), 16, (4, 4, 4, 4)),
        "visa13": ("4", 13, (4, 4, 4, 1)),
        "maestro19": ("6759", 19, (4, 4, 4, 4, 3)),
    }[issuer]
    number = _luhn_complete(prefix + digits(length - len(prefix) - 1))
    if not valid:
        number = number[:-1] + str((int(number[-1]) + R.randint(1, 9)) % 10)
    form = R.random()
    if form < 0.55:
        sep = " "
    elif form < 0.75:
        sep = "-"
    else:
        return number
    out, i = [], 0
    for size in layout:
        out.append(number[i : i + size])
        i += size
    return sep.join(out)


def nir_value() -> str:
    sex = R.choice("12")
    year = f"{R.randint(0, 99):02d}"
    month = f"{R.randint(1, 12):02d}"
    dept = R.choice([f"{R.randint(1, 95):02d}", "2A", "2B", "75", "69", "13", "97"])
    if dept == "20":
        dept = "21"
    if dept == "97":
        dept, commune = "97" + R.choice("12345"), f"{R.randint(1, 99):02d}"
    else:
        commune = f"{R.randint(1, 999):03d}"
    order = f"{R.randint(1, 999):03d}"
    body = sex + year + month + dept + commune + order
    number = int(body.replace("2A", "19").replace("2B", "18"))
    key = f"{97 - number % 97:02d}"
    form = R.random()
    if form < 0.5:
        return f"{sex} {year} {month} {dept[:2]} {dept[2:] + commune} {order} {key}".replace(
            "  ", " "
        )
    if form < 0.75:
        return body + key
    if form < 0.9:
        return f"{body} {key}"
    return f"{sex}.{year}.{month}.{dept}.{commune}.{order}.{key}"


def name_value(lang: str) -> tuple[str, str, str]:
    """(how it is written, given name, surname)."""
    first = pick(FR_FIRST if lang == "fr" else EN_FIRST)
    last = pick(FR_LAST if lang == "fr" else EN_LAST)
    roll = R.random()
    if lang == "fr" and roll < 0.12:
        return f"{last.upper()} {first}", first, last
    if roll < 0.2:
        return first, first, last
    return f"{first} {last}", first, last


# -- sentences --------------------------------------------------------------------------------

# {NAME} a full name or given name; {LAST} a surname (after a title); {EMAIL} {PHONE} {IBAN}
# {CARD} {NIR}; {PHONEW} a phone number that must follow a phone word (fictional numbers ok).
FR_TEMPLATES = _split(
    """Bonjour, je m'appelle {NAME} et j'attends toujours ma commande.
Je suis cliente depuis 10 ans, vous pouvez me joindre au {PHONEW}.
Merci de me rappeler au {PHONE} entre 9h et 12h.
Mon adresse mail est {EMAIL}, personne ne m'a répondu.
Écrivez-moi à {EMAIL} ou appelez le {PHONEW}.
Le remboursement doit être fait sur mon compte {IBAN} svp.
Voici mon RIB : {IBAN}, merci de faire le virement rapidement.
J'ai été débité deux fois sur ma carte {CARD} !
Ma carte bancaire {CARD} a été refusée alors qu'elle est valide.
Mon numéro de sécurité sociale est le {NIR}.
Pour la mutuelle, mon numéro de sécu : {NIR}
La conseillère {NAME} a été très aimable et efficace.
J'ai eu affaire à {NAME} au téléphone, il ne connaissait pas le dossier.
Merci à {NAME} pour son aide précieuse en magasin.
{NAME} m'a promis un rappel sous 48h, je n'ai jamais eu de nouvelles.
Mme {LAST} du service client m'a raccroché au nez.
M. {LAST} m'a assuré que le colis arriverait lundi.
Bonjour {NAME}, merci pour votre retour rapide.
Cordialement,\\n{NAME}
Bien cordialement, {NAME} - tél : {PHONEW}
Je vous transmets mes coordonnées : {NAME}, {EMAIL}, {PHONE}.
Nom : {NAME}\\nTéléphone : {PHONEW}\\nEmail : {EMAIL}
Mon mari {NAME} a appelé trois fois le service client sans réponse.
Le technicien {NAME} est venu mais n'a rien réparé.
Contactez ma fille {NAME} au {PHONE} si je ne réponds pas.
Le livreur a laissé le colis chez ma voisine, Mme {LAST}.
Prélèvement refusé sur le compte {IBAN} alors que j'ai prévenu {NAME}.
J'ai payé avec la carte {CARD} et envoyé le justificatif à {EMAIL}.
Dossier au nom de {NAME}, numéro de sécurité sociale {NIR}.
Appelez-moi au {PHONE} ou au {PHONE}, je suis joignable toute la journée.
Suite à mon appel avec {NAME}, je confirme ma demande de résiliation.
Le vendeur, {NAME}, m'a conseillé un forfait qui ne correspondait pas.
Je suis {NAME}, titulaire du contrat, et je conteste cette facture.
Veuillez noter mon nouveau numéro de portable : {PHONEW}.
Signé : {NAME}
Réponse de {NAME} (service réclamations) : nous revenons vers vous.
Madame {LAST}, votre dossier a bien été transmis.
Je remercie {NAME} et {NAME} pour leur patience.
Mon fils {NAME} a utilisé ma carte {CARD} sans mon accord.
Remboursez-moi sur {IBAN} ou je saisis le médiateur.""",
    "\n",
)

EN_TEMPLATES = _split(
    """Hello, my name is {NAME} and I'm still waiting for my order.
You can reach me on {PHONEW} any time after 5pm.
Please call me back at {PHONE}, nobody ever answers.
My email is {EMAIL} and I have not received any reply.
Email me at {EMAIL} or call {PHONEW}.
Please refund the money to my account {IBAN}.
My bank details: {IBAN}, please process the transfer today.
I was charged twice on my card {CARD}!
My credit card {CARD} was declined even though it is valid.
The agent {NAME} was very helpful and polite.
I spoke to {NAME} on the phone and she did not know my case.
Thanks to {NAME} for the excellent help in store.
{NAME} promised a call back within 48 hours, nothing happened.
Mrs {LAST} from customer service hung up on me.
Mr {LAST} assured me the parcel would arrive on Monday.
Hi {NAME}, thanks for getting back to me so quickly.
Kind regards,\\n{NAME}
Best regards, {NAME} - phone: {PHONEW}
Here are my details: {NAME}, {EMAIL}, {PHONE}.
Name: {NAME}\\nPhone: {PHONEW}\\nEmail: {EMAIL}
My husband {NAME} called customer service three times with no answer.
The engineer, {NAME}, came round but fixed nothing.
Contact my daughter {NAME} on {PHONE} if I don't answer.
The courier left the parcel with my neighbour, Mr {LAST}.
The direct debit from {IBAN} failed although I told {NAME} in advance.
I paid with card {CARD} and sent the receipt to {EMAIL}.
Call me on {PHONE} or {PHONE}, I am available all day.
After my call with {NAME}, I confirm I want to cancel my contract.
The sales assistant, {NAME}, sold me a plan that did not fit my needs.
I am {NAME}, the account holder, and I dispute this bill.
Please note my new mobile number: {PHONEW}.
Dr {LAST} recommended this product and it broke after a week.
Dear {NAME}, your complaint has been forwarded.
I want to thank {NAME} and {NAME} for their patience.
My son {NAME} used my card {CARD} without my permission.
Refund me to {IBAN} or I will go to the ombudsman.
{NAME} at the Leeds branch was brilliant, please pass on my thanks.
Cheers,\\n{NAME}
Signed: {NAME}
Ask for {NAME}, she knows the whole story.""",
    "\n",
)

FR_NEGATIVES = _split(
    """Commande n° 123456789 passée le 12/03/2024, toujours pas livrée.
Le montant de 1 234,56 € a été prélevé deux fois.
Facture FAC-2024-000123 du 15 janvier, merci de la corriger.
Mon numéro client est le 0012345678 et ma commande la 4567891234.
Le colis 6A12345678901 est bloqué à Lyon depuis lundi.
J'habite au 12 rue de la Paix, 75002 Paris, au 3e étage.
Rendez-vous le 2024-03-12 à 14:35, personne n'est venu.
Le code 4111111111111112 ne fonctionne pas sur le site.
Mon IBAN FR76 3000 6000 0112 3456 7890 188 est faux d'après votre site ?
J'ai acheté un iPhone 15 Pro chez Fnac Darty à Marseille pour 1 229 €.
Le service client d'Orange est injoignable depuis le 1er mars.
La Livebox ne marche plus, SFR et Free font mieux.
Produit reçu cassé, colis de 2,5 kg, référence 3401579876543.
Temps d'attente : 45 minutes au 3900, c'est inadmissible.
Version de l'application 10.12.3, Android 14, Samsung Galaxy S23.
Abonnement à 29,99 € par mois pendant 12 mois, puis 39,99 €.
Mon contrat n° 2023-0458-7781 a été résilié sans raison.
Livraison prévue entre le 03/04 et le 07/04, finalement reçue le 15/04.
SIRET 123 456 789 00012, merci d'établir la facture au nom de la société.
Le numéro 16 chiffres 5425 2334 3010 9904 ne correspond à aucune carte.
Très déçu par Amazon et par La Poste, jamais plus.
Noël approche et toujours rien reçu de Cdiscount.
Paris, Lyon et Bordeaux sont mal desservis par Chronopost.
J'ai appelé 15 fois entre 8h00 et 18h30 sans succès.
Ticket #112233445 ouvert depuis 3 semaines.""",
    "\n",
)

EN_NEGATIVES = _split(
    """Order #112233445 placed on 03/12/2024 has still not arrived.
I was charged £1,234.56 twice this month.
Invoice INV-2024-000123 dated 15 January is wrong.
My customer number is 0012345678 and the order number 4567891234.
Tracking number 1Z999AA10123456784 shows no movement since Monday.
I live at 221B Baker Street, London NW1 6XE.
The appointment on 2024-03-12 at 14:35 was missed.
The code 4111111111111112 does not work on your website.
Is my IBAN GB82 WEST 1234 5698 7654 31 wrong according to your site?
I bought an iPhone 15 Pro from Currys in Manchester for $1,229.
Customer service at Vodafone has been unreachable since March 1st.
The router stopped working, BT and Sky are much better.
Product arrived broken, parcel weighing 2.5 kg, reference 5012345678900.
Waiting time: 45 minutes on hold, unacceptable.
App version 10.12.3 on Android 14, Samsung Galaxy S23.
Subscription at 29.99 per month for 12 months, then 39.99.
My contract no. 2023-0458-7781 was cancelled for no reason.
Delivery expected between 04/03 and 04/07, finally received 04/15.
The 16-digit number 5425 2334 3010 9904 is not a card at all.
Very disappointed with Amazon and Royal Mail, never again.
Christmas is coming and still nothing from Argos.
London, Leeds and Bristol are badly served by DPD.
I called 15 times between 8:00 and 18:30 without success.
Ticket 998877665 has been open for 3 weeks.
The Galaxy Tab I ordered on Black Friday never shipped.""",
    "\n",
)


def _fill(template: str, lang: str) -> tuple[str, list[dict[str, object]]]:
    spans: list[dict[str, object]] = []
    out = ""
    pos = 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out += template[pos : match.start()].replace("\\n", "\n")
        slot = match.group(1)
        kind: str
        if slot == "NAME":
            value, _, _ = name_value(lang)
            kind = "NAME"
        elif slot == "LAST":
            value = pick(FR_LAST if lang == "fr" else EN_LAST)
            kind = "NAME"
        elif slot == "EMAIL":
            first = pick(FR_FIRST if lang == "fr" else EN_FIRST)
            value = email_value(first, pick(FR_LAST if lang == "fr" else EN_LAST))
            kind = "EMAIL"
        elif slot in ("PHONE", "PHONEW"):
            value, fictional = phone_value()
            while fictional and slot == "PHONE":
                value, fictional = phone_value()
            kind = "PHONE"
        elif slot == "IBAN":
            value, kind = iban_value(), "IBAN"
        elif slot == "CARD":
            value, kind = card_value(), "CARD"
        elif slot == "NIR":
            value, kind = nir_value(), "NIR"
        else:  # pragma: no cover
            raise KeyError(slot)
        spans.append({"kind": kind, "start": len(out), "end": len(out) + len(value)})
        out += value
        pos = match.end()
    out += template[pos:].replace("\\n", "\n")
    return out, spans


def generate() -> list[dict[str, object]]:
    R.seed(SEED)
    rows: list[dict[str, object]] = []
    for lang, templates, negatives in (
        ("fr", FR_TEMPLATES, FR_NEGATIVES),
        ("en", EN_TEMPLATES, EN_NEGATIVES),
    ):
        for rep in range(6):
            for i, template in enumerate(templates):
                text, spans = _fill(template.strip(), lang)
                rows.append(
                    {"id": f"{lang}-{i:02d}-{rep}", "lang": lang, "text": text, "spans": spans}
                )
        for i, text in enumerate(negatives):
            rows.append(
                {"id": f"{lang}-neg-{i:02d}", "lang": lang, "text": text.strip(), "spans": []}
            )
    return rows


def dumps(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str]) -> int:
    text = dumps(generate())
    if "--check" in argv:
        return 0 if OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10))} sentences)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
