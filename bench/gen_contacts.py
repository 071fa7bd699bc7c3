"""Generate a realistic contact-centre export for the built-in ``contacts`` mapping.

Everything happens in one DuckDB ``COPY (SELECT ...) TO`` statement, so ten million rows take
seconds, not the minutes a Python loop would. The data is deterministic: every "random" draw is
``hash(row or customer, salt)``, so the same ``--rows`` / ``--customers`` give the same file.

What the file looks like (a French contact centre, two years of history):

* customers: ``--customers`` of them (default rows / 10). Contacts per customer follow a
  Lomax (Pareto II) law (shape 1.5), capped at 2,000: the median customer has three
  contacts, a few hundred have more than a thousand. Rows are spread over customers in
  proportion to that count, so the file has about ``--customers`` distinct customers;
* each customer has a stable identity: e-mail (90 % of customers; a row sometimes writes it in
  capitals or padded with spaces, 1 % of customers have a malformed one), French mobile phone
  (80 %; prefixes 061-068, written in the customer's own format: "06 12 34 56 78",
  "+33 6 12 34 56 78", "0612345678", "06.12.34.56.78", "+33612345678"; 1 % unusable), and a
  social handle (30 %, shown on social-media rows);
* seven channels as French exports write them, with direction, time to first response and
  handling time depending on the channel;
* ``started_at`` runs forward over 2023-2024 (the file is in time order, like a real export),
  weekdays busier than weekends, mid-day busier than evenings, Paris local time;
* about 20 % of rows carry a short verbatim (some with commas and quotes, so CSV quoting is
  exercised);
* about 0.1 % of rows are deliberately bad (impossible dates, ``#VALEUR!`` durations, "deux"
  transfers) so that quarantine is exercised.

Usage: ``python bench/gen_contacts.py OUT.csv --rows 10000000 [--customers N]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CHANNELS: tuple[tuple[str, float], ...] = (  # (label as exported, share of contacts)
    ("Téléphone", 0.44),
    ("E-mail", 0.20),
    ("Chat", 0.12),
    ("Espace client", 0.09),
    ("Réseaux sociaux", 0.05),
    ("Rappel web", 0.06),
    ("Boutique", 0.04),
)
FIRST_NAMES = _words(
    "marie jean pierre sophie nicolas camille thomas julie lucas emma louis chloe hugo lea "
    "antoine manon julien sarah mathieu laura romain ines maxime clara alexandre pauline "
    "kevin oceane quentin marine florian lucie adrien anais benoit celine damien elodie "
    "fabrice gaelle yannick nathalie"
)
LAST_NAMES = _words(
    "martin bernard thomas petit robert richard durand dubois moreau laurent simon michel "
    "lefebvre leroy roux david bertrand morel fournier girard bonnet dupont lambert fontaine "
    "rousseau vincent muller lefevre faure andre mercier blanc guerin boyer garnier chevalier "
    "francois legrand gauthier garcia perrin robin clement morin nicolas henry roussel"
)
DOMAINS = _words(
    "gmail.com orange.fr free.fr hotmail.fr sfr.fr laposte.net yahoo.fr wanadoo.fr outlook.fr "
    "icloud.com bbox.fr neuf.fr"
)
TEAMS = (
    "Niveau 1",
    "Niveau 2",
    "Facturation",
    "Technique",
    "Fidélisation",
    "Recouvrement",
    "Réclamations",
    "Ventes",
    "Back-office",
    "Digital",
    "VIP",
    "Résiliations",
)
HUBS = ("Lyon", "Lille", "Casablanca", "Porto", "Nantes")
REASONS = (
    "Facture",
    "Contestation facture",
    "Panne",
    "Débit lent",
    "Déménagement",
    "Changement d'offre",
    "Résiliation",
    "Livraison",
    "Retour produit",
    "Remboursement",
    "Identifiants",
    "Mise en service",
    "Portabilité",
    "Réclamation",
    "Information",
    "Prélèvement",
)
OUTCOMES = ("Résolu", "Résolu", "Résolu", "Escaladé", "Rappel prévu", "Non résolu", "Abandon")
TEXTS = (
    "Client mécontent du délai de traitement",
    "Demande de geste commercial, accordé",
    'Le client indique que "rien ne fonctionne" depuis lundi',
    "Box redémarrée, débit revenu à la normale",
    "Facture de mars contestée, dossier transmis au service facturation",
    "Souhaite résilier, proposition de remise refusée",
    "Rappel demandé entre 12h et 14h",
    "Colis non reçu, enquête ouverte auprès du transporteur",
    "Merci pour votre aide, très bon accueil",
    "Troisième appel pour le même problème, client excédé",
    "Changement d'adresse effectué, frais offerts",
    "Attente trop longue au téléphone; a raccroché une première fois",
    "Mot de passe réinitialisé",
    "Prélèvement rejeté, nouvel échéancier proposé",
    "Technicien à programmer, créneau du jeudi matin",
    "Question sur l'offre fibre, devis envoyé par e-mail",
)
BAD_DATES = ("00/00/0000 00:00", "2024-02-30 10:12:00", "31/13/2023 09:00", "hier 14h")
BAD_NUMBERS = ("#VALEUR!", "12 min", "env. 300", "N.C.")


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def contacts_sql(rows: int, customers: int) -> str:
    """The SELECT producing ``rows`` contacts (deterministic)."""
    cum = 0.0
    channel_cases: list[str] = []
    for label, share in CHANNELS:
        cum += share
        bound = 1.0 if label == CHANNELS[-1][0] else round(cum, 6)
        channel_cases.append(f"WHEN u_chan < {bound} THEN '{label.replace(chr(39), chr(39) * 2)}'")
    channel_case = "CASE " + " ".join(channel_cases) + " END"
    # Lomax shape and scale: mean contacts per customer ≈ rows / customers before the cap.
    alpha = 1.5
    mean_target = rows / customers
    scale = max((mean_target - 1.0) * (alpha - 1.0), 0.05)
    return f"""
WITH
cust AS (
    SELECT c,
           least(2000, 1 + floor({scale} * (pow(greatest(u(c, 'n'), 1e-9), -1.0 / {alpha}) - 1)))
               ::BIGINT AS n
    FROM range({customers}) t(c)
),
cust_cum AS (
    SELECT c, sum(n) OVER (ORDER BY c ROWS UNBOUNDED PRECEDING) - n AS start FROM cust
),
total AS (SELECT sum(n)::DOUBLE AS t FROM cust),
-- calendar: one row per day with its share of the volume (weekends and August are quieter)
days AS (
    SELECT d, DATE '2023-01-01' + d::INTEGER AS day,
           (CASE dayofweek(DATE '2023-01-01' + d::INTEGER) WHEN 0 THEN 0.15 WHEN 6 THEN 0.55
                 ELSE 1.0 END)
           * (CASE month(DATE '2023-01-01' + d::INTEGER) WHEN 8 THEN 0.7 WHEN 1 THEN 1.2
                   WHEN 9 THEN 1.15 ELSE 1.0 END)
           * (1.0 + 0.25 * d / 730.0) AS w
    FROM range(731) t(d)
),
days_cum AS (
    SELECT day, (sum(w) OVER (ORDER BY d ROWS UNBOUNDED PRECEDING) - w) / sum(w) OVER () AS lo,
           w / sum(w) OVER () AS width
    FROM days
),
base AS (
    SELECT i,
           -- rows are in time order; customers are scattered over time by an affine bijection
           floor(((i * 2654435761 + 40503) % {rows}) * (SELECT t FROM total) / {rows})::BIGINT
               AS p,
           (i + 0.5) / {rows} AS q
    FROM range({rows}) t(i)
),
r0 AS (
    SELECT b.i, c.c AS cust, d.day,
           (b.q - d.lo) / d.width AS f
    FROM base b
    ASOF JOIN cust_cum c ON b.p >= c.start
    ASOF JOIN days_cum d ON b.q >= d.lo
),
r1 AS (
    SELECT *,
           u(i, 'chan') AS u_chan,
           u(i, 'bad') AS u_bad,
           u(i, 'bad2') AS u_bad2,
           -- time of day 08:00-20:00, busier mid-day (monotone in f: the file stays sorted)
           day + to_seconds((8 * 3600 + 12 * 3600 * (f + 0.12 * sin(2 * pi() * f)))::BIGINT)
               AS started,
           (cust * 48271 + 7) % {customers} AS cust_no
    FROM r0
),
r2 AS (
    SELECT *,
           {channel_case} AS channel,
           u(cust, 'mail') AS u_mail, u(cust, 'tel') AS u_tel, u(cust, 'handle') AS u_handle,
           h(cust, 'digits') AS h_digits
    FROM r1
),
r3 AS (
    SELECT *,
           CASE
               WHEN channel = 'Téléphone' THEN 5 + (u(i, 'wait') * u(i, 'wait') * 900)::INTEGER
               WHEN channel = 'E-mail' THEN 600 + (u(i, 'wait') * u(i, 'wait') * 172800)::INTEGER
               WHEN channel IN ('Chat', 'Réseaux sociaux') THEN 10 + (u(i, 'wait') * 1800)::INTEGER
               WHEN channel = 'Rappel web' THEN 300 + (u(i, 'wait') * 14400)::INTEGER
               WHEN channel = 'Espace client' THEN 3600 + (u(i, 'wait') * 259200)::INTEGER
               ELSE 30 + (u(i, 'wait') * 600)::INTEGER
           END AS wait_s,
           CASE
               WHEN channel IN ('Téléphone', 'Rappel web')
                   THEN 30 + (-ln(greatest(u(i, 'aht'), 1e-9)) * 320)::INTEGER
               WHEN channel = 'Boutique'
                   THEN 120 + (-ln(greatest(u(i, 'aht'), 1e-9)) * 600)::INTEGER
               ELSE 20 + (-ln(greatest(u(i, 'aht'), 1e-9)) * 240)::INTEGER
           END AS aht_s,
           -- French mobile: 06, then 1-8, then 0-8, then six digits (all valid numbers)
           '6' || (1 + h_digits % 8)::VARCHAR || ((h_digits // 8) % 9)::VARCHAR
               || lpad(((h_digits // 72) % 1000000)::VARCHAR, 6, '0') AS nsn
    FROM r2
)
SELECT
    'CT' || lpad((i + 1)::VARCHAR, 9, '0') AS contact_id,
    'CLI' || lpad(cust_no::VARCHAR, 7, '0') AS customer_id,
    CASE
        WHEN u_mail >= 0.90 OR u(i, 'mail_row') < 0.04 THEN NULL
        WHEN u_mail < 0.01 THEN {_sql_list(FIRST_NAMES)}[1 + h(cust, 'fn') % {len(FIRST_NAMES)}]
            || '.' || cust_no || '@' || CASE WHEN u_mail < 0.005 THEN '' ELSE 'gmail' END
        ELSE (
            CASE WHEN u(i, 'pad') < 0.03 THEN '  ' ELSE '' END
            || CASE WHEN u(i, 'upper') < 0.05 OR u_mail > 0.88 THEN upper(em) ELSE em END
            || CASE WHEN u(i, 'pad') > 0.98 THEN ' ' ELSE '' END
        )
    END AS customer_email,
    CASE
        WHEN u_tel >= 0.80 OR (channel <> 'Téléphone' AND u(i, 'tel_row') < 0.15) THEN NULL
        WHEN u_tel < 0.01 THEN CASE WHEN u_tel < 0.005 THEN '06 12 34' ELSE '0000000000' END
        WHEN u_tel < 0.28 THEN '0' || substr(nsn, 1, 1) || ' ' || substr(nsn, 2, 2) || ' '
            || substr(nsn, 4, 2) || ' ' || substr(nsn, 6, 2) || ' ' || substr(nsn, 8, 2)
        WHEN u_tel < 0.44 THEN '+33 ' || substr(nsn, 1, 1) || ' ' || substr(nsn, 2, 2) || ' '
            || substr(nsn, 4, 2) || ' ' || substr(nsn, 6, 2) || ' ' || substr(nsn, 8, 2)
        WHEN u_tel < 0.64 THEN '0' || nsn
        WHEN u_tel < 0.76 THEN '0' || substr(nsn, 1, 1) || '.' || substr(nsn, 2, 2) || '.'
            || substr(nsn, 4, 2) || '.' || substr(nsn, 6, 2) || '.' || substr(nsn, 8, 2)
        ELSE '+33' || nsn
    END AS customer_phone,
    CASE WHEN channel = 'Réseaux sociaux' AND u_handle < 0.30
        THEN CASE WHEN u(cust, 'at') < 0.7 THEN '@' ELSE '' END
             || {_sql_list(FIRST_NAMES)}[1 + h(cust, 'fn') % {len(FIRST_NAMES)}]
             || '_' || (cust_no % 10000)::VARCHAR
    END AS customer_handle,
    channel,
    CASE WHEN channel = 'Rappel web' OR u(i, 'dir') < 0.12 THEN 'sortant' ELSE 'entrant' END
        AS direction,
    CASE
        WHEN u_bad < 0.0004 THEN {_sql_list(BAD_DATES)}[1 + h(i, 'bd') % {len(BAD_DATES)}]
        ELSE strftime(started, '%Y-%m-%d %H:%M:%S')
    END AS started_at,
    strftime(started + to_seconds(wait_s), '%Y-%m-%d %H:%M:%S') AS first_response_at,
    strftime(started + to_seconds(wait_s + aht_s), '%Y-%m-%d %H:%M:%S') AS ended_at,
    CASE
        WHEN u_bad >= 0.0004 AND u_bad < 0.0007
            THEN {_sql_list(BAD_NUMBERS)}[1 + h(i, 'bn') % {len(BAD_NUMBERS)}]
        ELSE aht_s::VARCHAR
    END AS handle_seconds,
    'AG' || lpad((h(i, 'agent') % 450)::VARCHAR, 4, '0') AS agent,
    {_sql_list(TEAMS)}[1 + h(i, 'team') % {len(TEAMS)}] AS team,
    {_sql_list(HUBS)}[1 + h(i, 'hub') % {len(HUBS)}] AS hub,
    {_sql_list(REASONS)}[1 + (pow(u(i, 'reason'), 1.6) * {len(REASONS)})::BIGINT % {len(REASONS)}]
        AS reason,
    {_sql_list(OUTCOMES)}[1 + h(i, 'outcome') % {len(OUTCOMES)}] AS outcome,
    CASE
        WHEN u_bad >= 0.0007 AND u_bad < 0.001
            THEN CASE WHEN u_bad2 < 0.5 THEN 'deux' ELSE '1,5' END
        WHEN u(i, 'tr') < 0.78 THEN '0'
        WHEN u(i, 'tr') < 0.95 THEN '1'
        ELSE '2'
    END AS transfers,
    CASE WHEN wait_s <= CASE WHEN channel IN ('E-mail', 'Espace client') THEN 86400 ELSE 120 END
        THEN 'oui' ELSE 'non' END AS sla_met,
    CASE WHEN channel IN ('E-mail', 'Chat', 'Réseaux sociaux', 'Espace client')
        THEN 'TH' || lpad(cust_no::VARCHAR, 7, '0') || '-'
             || ((day - DATE '2023-01-01') // 7)::VARCHAR
    END AS thread_id,
    CASE WHEN u(i, 'text') < 0.20
        THEN {_sql_list(TEXTS)}[1 + h(i, 'tx') % {len(TEXTS)}]
    END AS text
FROM (
    SELECT *,
           {_sql_list(FIRST_NAMES)}[1 + h(cust, 'fn') % {len(FIRST_NAMES)}] || '.'
           || {_sql_list(LAST_NAMES)}[1 + h(cust, 'ln') % {len(LAST_NAMES)}]
           || cust_no::VARCHAR
           || '@' || {_sql_list(DOMAINS)}[1 + h(cust, 'dom') % {len(DOMAINS)}] AS em
    FROM r3
)
ORDER BY i
"""


def generate(out: Path, rows: int, customers: int | None = None, threads: int = 0) -> float:
    """Write the CSV to ``out``; returns the seconds it took."""
    if rows < 1:
        raise ValueError("rows must be positive")
    n_customers = customers if customers is not None else max(rows // 10, 1)
    if n_customers % 48271 == 0:  # keep the customer-number scramble a bijection
        n_customers += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    config: dict[str, str | bool | int | float | list[str]] = {"preserve_insertion_order": True}
    if threads > 0:
        config["threads"] = threads
    t0 = time.perf_counter()
    con = duckdb.connect(":memory:", config=config)
    try:
        # h: a deterministic pseudo-random BIGINT; u: the same as a uniform draw in [0, 1)
        con.execute("CREATE MACRO h(x, salt) AS (hash(x, salt) >> 2)::BIGINT")
        con.execute("CREATE MACRO u(x, salt) AS (hash(x, salt) % 1000000007)::DOUBLE / 1000000007")
        con.execute(f"COPY ({contacts_sql(rows, n_customers)}) TO '{tmp}' (HEADER, DELIMITER ',')")
    finally:
        con.close()
    tmp.replace(out)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="CSV file to write")
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows (default 1e6)")
    parser.add_argument(
        "--customers", type=int, default=None, help="distinct customers (default rows / 10)"
    )
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    args = parser.parse_args(argv)
    seconds = generate(args.out, args.rows, args.customers, args.threads)
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.rows:,} rows ({size_mb:,.0f} MB) to {args.out} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
