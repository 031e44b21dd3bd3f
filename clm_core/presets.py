"""Export presets: shop and CRM exports recognised from their header row and mapped without questions.

:func:`recognise` looks at the header row alone and names the export (``Recognition``: preset, score, the
headers it matched); :func:`convert` turns the whole file into canonical CSV files (customers,
transactions, events) in a folder, in DuckDB SQL (GROUP BY order, never a loop over rows in Python);
:func:`load` converts and then loads those files through :func:`ingest.load`, with its validation,
rejected-rows report and all-or-nothing load; :func:`load_many` loads several exports (a shop's orders and
a CRM's contacts) into one dataset, merged by customer key; :func:`preview` converts an upload's head for
the Data page. ``Conversion.mapping`` is what the UI shows: per canonical column the source column(s) or
rule, in English and German (``Conversion.mapping_frame(lang)``).

Recognition: headers are compared normalised (``schema.normalise_header``: case, spaces and punctuation
ignored). A preset is a candidate when every one of its required headers is present; its score is the
share of its documented headers found. No candidate, or two candidates whose scores are within
``AMBIGUOUS_MARGIN``, is ``None``: the normal header mapping applies.

Decisions (the same for every preset unless its section says otherwise):

- Customer key: the e-mail address, trimmed and lower-cased. ``hash_ids=True`` stores instead
  ``sha256(salt || key)`` as 64 hex digits (:func:`pseudonym` computes one for a look-up). The salt is the
  caller's (the Data page should pass one per dataset, e.g. the dataset id, so that reloads of the
  dataset give the same ids and two datasets cannot be joined on them). An unsalted hash of an e-mail
  address is pseudonymous, not anonymous: anyone with a list of addresses can recompute it.
- Statuses: cancelled, voided, failed and expired orders are excluded (no transaction), their customer is
  still created (a known contact, a prospect). Orders whose payment is pending (Shopify ``pending``,
  ``authorized``, ``partially_paid``; WooCommerce ``on-hold``, i.e. awaiting a bank transfer) are included
  (``include_pending=False`` excludes them): in German shops prepayment by bank transfer ("Vorkasse") is
  common, and an order never paid is cancelled by the shop and then excluded. WooCommerce ``pending``
  (checkout started, no payment) is excluded. Statuses not listed are included; ``Conversion.statuses``
  lists every status with its order count and whether it was included.
- Refunds: a separate transaction of minus the refunded amount, ``transaction_id`` = order number +
  ``-refund``, dated at the order date: these exports carry no refund date (Shopify's ``Cancelled at`` is
  set only on cancelled orders, which are excluded). Revenue by order date is therefore net of refunds;
  the exact refund dates are in Shopify's separate "transaction histories" export. A fully refunded
  order is still a purchase (DESIGN §2: a purchase is a transaction with amount > 0; the refund is a
  return), so it counts for the lifecycle stage.
- Amounts: the order total as the shop reports it (Shopify ``Total``: incl. shipping and taxes, after
  discounts), in the shop's currency.
- Shopware 6: the "Default orders" profile exports the order state only as an internal id, so cancelled
  orders are excluded only when the profile also exports ``stateMachineState.technicalName`` (a note
  says so otherwise); the customer number, when exported, is the key before the e-mail address.
- HubSpot contacts: customers (key: e-mail, else ``hubspot-<Record ID>``) and one event per lifecycle
  milestone date ("Became a Lead Date" -> ``became_lead``, …); the lifecycle stage is kept as an attribute.
- Salesforce opportunities: won opportunities (``Won``, else a "Closed Won" stage) are transactions dated
  at the close date; the account (Account ID, else Account Name, kept in its case) is the customer;
  events ``opportunity_created`` (created date) and ``opportunity_lost`` (close date).
- Values that cannot be read (a date or amount in an unknown format) are passed on as they are, so that
  the loader rejects the row with its reason in the report; nothing is dropped silently (rows without an
  order number are counted in ``Conversion.skipped``).
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd

from clm_core import i18n, ingest, schema
from clm_core.store import quote_ident

#: Two candidates whose scores differ by less than this are ambiguous (None).
AMBIGUOUS_MARGIN = 0.1

_CURRENCY = r"(?i)^(EUR|CHF|USD|GBP|€|\$|£)\s*|\s*(EUR|CHF|USD|GBP|€|\$|£)$"
_NUMBER = {
    ".": r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?|[+-]?\.\d+",
    ",": r"[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?|[+-]?,\d+",
}
#: Formats are detected on the first rows, as ingest does (ingest.SAMPLE_ROWS).
_SAMPLE = f"(SELECT * FROM raw ORDER BY __row LIMIT {ingest.SAMPLE_ROWS})"
#: A time's zone suffix (``+0100``, ``+01:00``, ``Z``, ``UTC``) is dropped: the local time is the shop's day.
_ZONE = r"(\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)\s*(Z|UTC|[+-]\d{2}:?\d{2})$"


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


# --------------------------------------------------------------------------- presets

@dataclass(frozen=True)
class Preset:
    key: str
    system: str
    kind: tuple[str, str]  # (English, German)
    #: role -> documented header spellings (compared normalised); the first present one is used
    roles: dict[str, tuple[str, ...]]
    #: roles that must be present; an entry "a|b" is satisfied by either role
    required: tuple[str, ...]
    #: the system's documented header lists (one per dialect or language; the score is the share of the
    #: best-matching list found)
    documented: tuple[tuple[str, ...], ...]
    build: Callable[["_Context"], None] = field(repr=False, compare=False, default=None)

    def label(self, lang: str = "en") -> str:
        """'Shopify orders export' / 'Shopify-Bestellexport'."""
        return self.kind[1] if lang == "de" else self.kind[0]


@dataclass(frozen=True)
class Recognition:
    preset: Preset
    score: float  # share of the documented headers found
    columns: dict[str, str]  # role -> the file's header

    def message(self, lang: str = "en") -> str:
        """What the Data page shows: 'recognised as: Shopify orders export'."""
        return (f"erkannt als: {self.preset.label('de')}" if lang == "de"
                else f"recognised as: {self.preset.label('en')}")


@dataclass(frozen=True)
class MappingRule:
    """How one canonical column was filled: from ``sources`` (the file's headers), by ``rule``."""

    table: str
    column: str
    sources: tuple[str, ...]
    rule: tuple[str, str]  # (English, German)


@dataclass
class Conversion:
    recognition: Recognition
    files: dict[str, Path]  # table -> canonical CSV file
    mapping: list[MappingRule]
    rows_read: int
    #: order exports: status, cancelled (a cancellation date is set), orders, included; empty otherwise
    statuses: pd.DataFrame
    skipped: list[tuple[int, str]]  # (line, reason): malformed rows and rows without an order number
    notes: list[tuple[str, str]]  # (English, German) remarks, e.g. what the export cannot tell

    def mapping_frame(self, lang: str = "en") -> pd.DataFrame:
        """One row per canonical column: table, column (display name), source columns, rule."""
        rows = [{
            "table": i18n.table_label(r.table, lang),
            "column": (_LABELS[r.column][lang == "de"] if r.column in _LABELS else i18n.field_label(r.column, lang)),
            "source": ", ".join(r.sources),
            "rule": r.rule[1] if lang == "de" else r.rule[0],
        } for r in self.mapping]
        return pd.DataFrame(rows, columns=["table", "column", "source", "rule"])


#: Display names of what the mapping shows beside the canonical columns.
_LABELS = {"status": ("Orders loaded", "Geladene Bestellungen"),
           "hubspot_lifecycle_stage": ("HubSpot lifecycle stage (attribute)", "HubSpot-Lifecycle-Phase (Merkmal)")}


def _norm(header: str) -> str:
    return schema.normalise_header(header)


def match_roles(preset: Preset, headers: list[str]) -> dict[str, str]:
    """role -> the file's header, for the roles whose documented header is present."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(_norm(h), h)
    found = {}
    for role, spellings in preset.roles.items():
        for spelling in spellings:
            if _norm(spelling) in by_norm:
                found[role] = by_norm[_norm(spelling)]
                break
    return found


def recognise(headers: list[str]) -> Recognition | None:
    """The export these headers come from, or None (no preset's required headers all present, or two
    presets about equally likely)."""
    present = {_norm(h) for h in headers}
    candidates = []
    for preset in PRESETS.values():
        columns = match_roles(preset, headers)
        if not all(any(r in columns for r in role.split("|")) for role in preset.required):
            continue
        score = max(len({_norm(h) for h in listed} & present) / len(listed) for listed in preset.documented)
        candidates.append(Recognition(preset, round(score, 3), columns))
    if not candidates:
        return None
    candidates.sort(key=lambda r: r.score, reverse=True)
    if len(candidates) > 1 and candidates[0].score - candidates[1].score < AMBIGUOUS_MARGIN:
        return None
    return candidates[0]


def recognise_file(source, name: str | None = None, sheet: str | int | None = None) -> Recognition | None:
    """:func:`recognise` on a file's header row, read as ``ingest.sniff`` reads it (a CSV file, gzip or zip;
    a workbook's ``sheet``, by default its first non-empty one; a Parquet file)."""
    return recognise(ingest.sniff(source, schema.TABLES[0], name=name, sheet=sheet).headers)


def pseudonym(key: str, salt: str = "", lower: bool = True) -> str:
    """The customer id ``hash_ids=True`` gives the key ``key``: an e-mail address trimmed and lower-cased
    (``lower=False``: a Salesforce account, trimmed only)."""
    key = key.strip()
    return hashlib.sha256((salt + (key.lower() if lower else key)).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- conversion context

class _Context:
    """The raw export as text in DuckDB (table ``raw``: __row, c0..cn) and SQL helpers for its roles."""

    def __init__(self, db, recognition: Recognition, headers: list[str], delimiter: str, hash_ids: bool,
                 include_pending: bool, date_formats: dict[str, str]):
        self.db = db
        self.recognition = recognition
        self.position = {h: i for i, h in enumerate(headers)}
        self.delimiter = delimiter
        self.hash_ids = hash_ids
        self.include_pending = include_pending
        self.date_formats = date_formats
        self.mapping: list[MappingRule] = []
        self.tables: dict[str, str] = {}  # canonical table -> temp table holding it (text columns)
        self.statuses = pd.DataFrame(columns=["status", "cancelled", "orders", "included"])
        self.skipped: list[tuple[int, str]] = []
        self.notes: list[tuple[str, str]] = []
        self._decimal: str | None = None

    # ---- columns
    def has(self, role: str) -> bool:
        return role in self.recognition.columns

    def header(self, role: str) -> str:
        return self.recognition.columns[role]

    def col(self, role: str) -> str:
        """SQL: the role's trimmed text (NULL when empty or when the file has no such column)."""
        if not self.has(role):
            return "CAST(NULL AS VARCHAR)"
        return f"nullif(trim(c{self.position[self.header(role)]}), '')"

    def first(self, *roles: str) -> str:
        present = [self.col(r) for r in roles if self.has(r)]
        return f"coalesce({', '.join(present)})" if present else "CAST(NULL AS VARCHAR)"

    def sources(self, *roles: str) -> tuple[str, ...]:
        return tuple(self.header(r) for r in roles if self.has(r))

    def rule(self, table: str, column: str, roles: tuple[str, ...], en: str, de: str) -> None:
        self.mapping.append(MappingRule(table, column, self.sources(*roles), (en, de)))

    # ---- values
    def key(self, expr: str, lower: bool = True) -> str:
        """SQL: the customer id of a key text (trimmed, lower-cased unless ``lower`` is False; hashed with
        the salt when asked)."""
        plain = f"nullif(lower(trim({expr})), '')" if lower else f"nullif(trim({expr}), '')"
        if not self.hash_ids:
            return plain
        return f"CASE WHEN {plain} IS NOT NULL THEN sha256((SELECT salt FROM __settings) || {plain}) END"

    def decimal(self, roles: tuple[str, ...]) -> str:
        """The file's decimal separator, from the values of ``roles`` only one reading accepts (as ingest
        decides it: ties go to ',' in a ';'-separated file)."""
        if self._decimal is None:
            present = [r for r in roles if self.has(r)]
            dot = comma = 0
            if present:
                union = " UNION ALL ".join(f"SELECT {self._clean(self.col(r))} AS v FROM {_SAMPLE}" for r in present)
                dot, comma = self.db.execute(
                    "SELECT count(*) FILTER (regexp_full_match(v, ?) AND NOT regexp_full_match(v, ?)), "
                    "count(*) FILTER (regexp_full_match(v, ?) AND NOT regexp_full_match(v, ?)) "
                    f"FROM ({union}) WHERE v IS NOT NULL",
                    [_NUMBER["."], _NUMBER[","], _NUMBER[","], _NUMBER["."]]).fetchone()
            if dot != comma:
                self._decimal = "," if comma > dot else "."
            else:
                self._decimal = "," if self.delimiter == ";" else "."
        return self._decimal

    @staticmethod
    def _clean(text: str) -> str:
        return (f"nullif(replace(replace(regexp_replace({text}, {_lit(_CURRENCY)}, ''), chr(160), ''), ' ', ''), "
                "'')")

    def number(self, text: str) -> str:
        """SQL: a text column's number (DOUBLE; NULL when empty or unreadable)."""
        c = self._clean(text)
        if self._decimal == ",":
            return (f"CASE WHEN regexp_full_match({c}, {_lit(_NUMBER[','])}) "
                    f"THEN TRY_CAST(replace(replace({c}, '.', ''), ',', '.') AS DOUBLE) END")
        return f"CASE WHEN regexp_full_match({c}, {_lit(_NUMBER['.'])}) THEN TRY_CAST(replace({c}, ',', '') AS DOUBLE) END"

    def _date_text(self, text: str) -> str:
        return f"regexp_replace({text}, {_lit(_ZONE)}, '\\1')"

    def date(self, role: str, text: str | None = None) -> str:
        """SQL: a date column's timestamp (NULL when empty or unreadable); the family of formats is the one
        that reads most of the column's values, as ingest chooses it."""
        text = self._date_text(text or self.col(role))
        formats = ingest.DATE_FAMILIES.get(self._family(role))
        if formats is None:  # an explicit strptime format
            return f"try_strptime({text}, {_lit(self._family(role))})"
        return f"try_strptime({text}, [{', '.join(_lit(f) for f in formats)}])"

    def _family(self, role: str) -> str:
        if role in self.date_formats:
            return self.date_formats[role]
        if not self.has(role):
            return "yyyy-mm-dd"
        text = self._date_text(self.col(role))
        counts = self.db.execute(
            "SELECT " + ", ".join(f"count(try_strptime({text}, ?))" for _ in ingest.DATE_FAMILIES) + f" FROM {_SAMPLE}",
            [list(f) for f in ingest.DATE_FAMILIES.values()]).fetchone()
        by_family = dict(zip(ingest.DATE_FAMILIES, counts))
        best = max(by_family.values())
        winners = [f for f, n in by_family.items() if n == best]
        if best > 0 and winners == ["mm/dd/yyyy", "dd/mm/yyyy"]:
            raise ingest.IngestError(
                f"dates in column '{self.header(role)}' could be mm/dd/yyyy or dd/mm/yyyy; "
                "choose the date format explicitly")
        self.date_formats[role] = winners[0] if best > 0 else "yyyy-mm-dd"
        return self.date_formats[role]

    # ---- output
    def table(self, table: str, sql: str) -> None:
        """Create the canonical ``table`` (text columns) from ``sql``."""
        name = f"__out_{table}"
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self.tables[table] = name


def _text(value: str, text: str) -> str:
    """SQL: a parsed value as text for the canonical file, else the original text (the loader rejects it)."""
    return f"coalesce(CAST({value} AS VARCHAR), {text})"


def _day(value: str, text: str) -> str:
    return f"coalesce(strftime({value}, '%Y-%m-%d %H:%M:%S'), {text})"


# --------------------------------------------------------------------------- order exports (shared)

def _orders(ctx: _Context, *, order: str, email_roles: tuple[str, ...], date: str, total: str, status: str | None,
            refund: str | None, excluded: tuple[str, ...], pending: tuple[str, ...], refunded: tuple[str, ...],
            city: tuple[str, ...], zip_: tuple[str, ...], country: tuple[str, ...], channel: str | None = None,
            quantity: str | None = None, customer_number: str | None = None) -> None:
    """One transaction per order (rows grouped by the order number), a refund transaction per refunded
    order, one customer per key; writes the mapping rules shared by the order exports."""
    decimal_roles = tuple(r for r in (total, refund) if r)
    ctx.decimal(decimal_roles)
    key_text = ctx.first(*email_roles)
    if customer_number and ctx.has(customer_number):
        key = f"coalesce({ctx.key(ctx.col(customer_number), lower=False)}, {ctx.key(key_text)})"
    else:
        key = ctx.key(key_text)
    status_sql = (f"lower(regexp_replace({ctx.col(status)}, '^wc-', ''))" if status and ctx.has(status)
                  else "CAST(NULL AS VARCHAR)")
    quantity_sql = None
    if quantity and ctx.has(quantity):
        quantity_sql = ctx.col(quantity)
    # order-level fields may be repeated on every line item or given on the first one only: max() of the
    # non-empty values reads both
    ctx.db.execute(f"""
        CREATE OR REPLACE TEMP TABLE __orders AS
        SELECT {ctx.col(order)} AS order_no, min(__row) AS first_row,
               max({key}) AS customer_id,
               max({status_sql}) AS status,
               max({ctx.col('cancelled_at')}) AS cancelled,
               max({ctx.col(date)}) AS date_text,
               max({ctx.col(total)}) AS total_text,
               max({ctx.col(refund) if refund else 'CAST(NULL AS VARCHAR)'}) AS refund_text,
               max({ctx.first(*city)}) AS city, max(regexp_replace({ctx.first(*zip_)}, '^''+', '')) AS postal_code,
               max({ctx.first(*country)}) AS country,
               max({ctx.col(channel) if channel else 'CAST(NULL AS VARCHAR)'}) AS channel,
               {f'sum(TRY_CAST({quantity_sql} AS DOUBLE))' if quantity_sql else 'CAST(NULL AS DOUBLE)'} AS quantity
        FROM raw WHERE {ctx.col(order)} IS NOT NULL GROUP BY 1""")
    missing = ctx.db.execute(f"SELECT __row FROM raw WHERE {ctx.col(order)} IS NULL ORDER BY 1").fetchall()
    ctx.skipped += [(int(r[0]), f"no order number ({ctx.header(order)})") for r in missing]
    included = "true"
    if status and ctx.has(status):
        out = excluded + (() if ctx.include_pending else pending)
        included = f"(status IS NULL OR status NOT IN {_in(out)})"
    if ctx.has("cancelled_at"):
        included = f"({included} AND cancelled IS NULL)"
    ordered = ctx.date(date, "date_text")
    ctx.db.execute(f"""
        CREATE OR REPLACE TEMP TABLE __parsed AS
        SELECT *, {ordered} AS ordered, {ctx.number('total_text')} AS total,
               abs({ctx.number('refund_text')}) AS refund, {included} AS included
        FROM __orders""")
    full_refund = f"status IN {_in(refunded)}" if refunded and status and ctx.has(status) else "false"
    refund_value = f"CASE WHEN refund IS NOT NULL OR refund_text IS NOT NULL THEN refund WHEN {full_refund} THEN total END"
    ctx.table("transactions", f"""
        SELECT order_no AS transaction_id, customer_id, {_day('ordered', 'date_text')} AS ordered_at,
               {_text('total', 'total_text')} AS amount, CAST(quantity AS BIGINT) AS quantity, first_row
        FROM __parsed WHERE included
        UNION ALL
        SELECT order_no || '-refund', customer_id, {_day('ordered', 'date_text')},
               coalesce(CAST(-({refund_value}) AS VARCHAR), '-' || refund_text), NULL, first_row
        FROM __parsed
        WHERE included AND (coalesce({refund_value}, 0) > 0 OR (refund IS NULL AND refund_text IS NOT NULL))
        ORDER BY first_row, transaction_id""")
    ctx.db.execute(f"ALTER TABLE {ctx.tables['transactions']} DROP COLUMN first_row")
    if not (quantity and ctx.has(quantity)):
        ctx.db.execute(f"ALTER TABLE {ctx.tables['transactions']} DROP COLUMN quantity")
    address = "coalesce(city, postal_code, country) IS NOT NULL"
    ctx.table("customers", f"""
        SELECT customer_id, strftime(min(ordered), '%Y-%m-%d %H:%M:%S') AS created_at,
               arg_min(channel, ordered) FILTER (WHERE channel IS NOT NULL) AS channel,
               arg_max(country, ordered) FILTER (WHERE {address}) AS country,
               arg_max(city, ordered) FILTER (WHERE {address}) AS city,
               arg_max(postal_code, ordered) FILTER (WHERE {address}) AS postal_code
        FROM __parsed WHERE customer_id IS NOT NULL GROUP BY customer_id ORDER BY min(first_row)""")
    if not (channel and ctx.has(channel)):
        ctx.db.execute(f"ALTER TABLE {ctx.tables['customers']} DROP COLUMN channel")
    if status and ctx.has(status):
        ctx.statuses = ctx.db.execute(
            "SELECT coalesce(status, '') AS status, cancelled IS NOT NULL AS cancelled, count(*) AS orders, "
            "included FROM __parsed GROUP BY ALL ORDER BY orders DESC, status, cancelled").df()
    # the mapping as the UI shows it
    hashed = (" (SHA-256 of the salt and the address)", " (SHA-256 aus Salt und Adresse)") if ctx.hash_ids else ("", "")
    if customer_number and ctx.has(customer_number):
        ctx.rule("transactions", "customer_id", (customer_number,) + email_roles,
                 "customer number, else the e-mail address in lower case" + hashed[0],
                 "Kundennummer, sonst die E-Mail-Adresse in Kleinbuchstaben" + hashed[1])
    else:
        ctx.rule("transactions", "customer_id", email_roles, "e-mail address in lower case" + hashed[0],
                 "E-Mail-Adresse in Kleinbuchstaben" + hashed[1])
    ctx.rule("transactions", "transaction_id", (order,), "order number; a refund: order number + '-refund'",
             "Bestellnummer; eine Erstattung: Bestellnummer + '-refund'")
    ctx.rule("transactions", "ordered_at", (date,), "order date (a refund too: the export has no refund date)",
             "Bestelldatum (auch für Erstattungen: der Export enthält kein Erstattungsdatum)")
    refund_rule = ("; refunds as a negative transaction", "; Erstattungen als negative Transaktion") \
        if (refund and ctx.has(refund)) or (refunded and status and ctx.has(status)) else ("", "")
    ctx.rule("transactions", "amount", (total,) + ((refund,) if refund and ctx.has(refund) else ()),
             "order total, one transaction per order" + refund_rule[0],
             "Bestellsumme, eine Transaktion je Bestellung" + refund_rule[1])
    if quantity and ctx.has(quantity):
        ctx.rule("transactions", "quantity", (quantity,), "sum over the order's line items",
                 "Summe über die Positionen der Bestellung")
    if status and ctx.has(status):
        shown = ", ".join(excluded + (() if ctx.include_pending else pending))
        cancelled = ctx.has("cancelled_at")
        ctx.rule("transactions", "status", (status, "cancelled_at"),
                 f"orders excluded: {shown}" + ("; and every cancelled order" if cancelled else ""),
                 f"ausgeschlossene Bestellungen: {shown}" + ("; und jede stornierte Bestellung" if cancelled else ""))
    ctx.rule("customers", "customer_id", email_roles, "as in the transactions, one customer per key",
             "wie in den Transaktionen, ein Kunde je Schlüssel")
    ctx.rule("customers", "created_at", (date,), "first order date (cancelled orders included)",
             "Datum der ersten Bestellung (stornierte eingeschlossen)")
    for column, roles in (("city", city), ("postal_code", zip_), ("country", country)):
        if any(ctx.has(r) for r in roles):
            ctx.rule("customers", column, roles, "billing address (else shipping) of the latest order",
                     "Rechnungsadresse (sonst Lieferadresse) der letzten Bestellung")
    if channel and ctx.has(channel):
        ctx.rule("customers", "channel", (channel,), "source of the first order", "Quelle der ersten Bestellung")


def _shopify(ctx: _Context) -> None:
    _orders(ctx, order="name", email_roles=("email",), date="created_at", total="total", status="financial_status",
            refund="refunded_amount", excluded=("voided", "expired"),
            pending=("pending", "authorized", "partially_paid"), refunded=("refunded",),
            city=("billing_city", "shipping_city"), zip_=("billing_zip", "shipping_zip"),
            country=("billing_country", "shipping_country"), channel="source", quantity="lineitem_quantity")


_WOO_EXCLUDED = ("cancelled", "failed", "pending", "checkout-draft", "draft", "trash",
                 "storniert", "fehlgeschlagen", "zahlung ausstehend", "entwurf")


def _woocommerce(ctx: _Context) -> None:
    _orders(ctx, order="order_number" if ctx.has("order_number") else "order_id", email_roles=("email",),
            date="order_date", total="order_total", status="status", refund="refund",
            excluded=_WOO_EXCLUDED, pending=("on-hold", "in wartestellung"),
            refunded=("refunded", "rückerstattet", "erstattet"),
            city=("billing_city", "shipping_city"), zip_=("billing_postcode", "shipping_postcode"),
            country=("billing_country", "shipping_country"), quantity="quantity")


def _shopware(ctx: _Context) -> None:
    status = "state" if ctx.has("state") else None
    _orders(ctx, order="order_number", email_roles=("email",), date="order_date_time", total="amount_total",
            status=status, refund=None, excluded=("cancelled", "abgebrochen", "storniert"), pending=(),
            refunded=(), city=("billing_city", "shipping_city"), zip_=("billing_zipcode", "shipping_zipcode"),
            country=("billing_country_iso",), customer_number="customer_number")
    if ctx.has("line_items"):  # "2x SW10001|1x SW10002": the quantities of the order's line items
        quantity = f"list_sum(list_transform(regexp_extract_all({ctx.col('line_items')}, '(\\d+)x', 1), x -> x::BIGINT))"
        ctx.db.execute(f"""
            CREATE OR REPLACE TEMP TABLE __quantity AS
            SELECT {ctx.col('order_number')} AS order_no, max({quantity}) AS quantity FROM raw GROUP BY 1""")
        out = ctx.tables["transactions"]
        ctx.db.execute(f"ALTER TABLE {out} ADD COLUMN quantity BIGINT")
        ctx.db.execute(f"UPDATE {out} SET quantity = q.quantity FROM __quantity q "
                       f"WHERE {out}.transaction_id = q.order_no")
        ctx.rule("transactions", "quantity", ("line_items",), "sum of the line items' quantities ('2x SW10001|…')",
                 "Summe der Positionsmengen ('2x SW10001|…')")
    if not status:
        ctx.notes.append((
            f"The export has no readable order status ({ctx.header('state_id') if ctx.has('state_id') else 'order_state_id'}"
            " is an internal id): cancelled orders cannot be told apart and are loaded. Add "
            "stateMachineState.technicalName to the export profile to exclude them.",
            "Der Export enthält keinen lesbaren Bestellstatus (order_state_id ist eine interne ID): stornierte "
            "Bestellungen sind nicht erkennbar und werden geladen. Mit stateMachineState.technicalName im "
            "Exportprofil werden sie ausgeschlossen."))
    if not ctx.has("billing_country_iso"):
        ctx.notes.append(("The country is exported as an internal id only; no country is loaded.",
                          "Das Land wird nur als interne ID exportiert; es wird kein Land geladen."))


# --------------------------------------------------------------------------- CRM exports

#: HubSpot's lifecycle milestone dates -> event name.
_HUBSPOT_EVENTS = (
    ("became_subscriber", "became_subscriber"), ("became_lead", "became_lead"),
    ("became_mql", "became_marketing_qualified_lead"), ("became_sql", "became_sales_qualified_lead"),
    ("became_opportunity", "became_opportunity"), ("became_customer", "became_customer"),
    ("became_evangelist", "became_evangelist"), ("became_other", "became_other_lifecycle"),
)


def _hubspot(ctx: _Context) -> None:
    key = f"coalesce({ctx.key(ctx.col('email'))}, 'hubspot-' || {ctx.col('record_id')})"
    created = ctx.date("create_date")
    optional = [(f"{ctx.col(role)} AS {quote_ident(column)}", column, role) for role, column in
                (("city", "city"), ("zip", "postal_code"), ("country", "country"), ("source", "channel"))
                if ctx.has(role)]
    stage = f", {ctx.col('lifecycle_stage')} AS hubspot_lifecycle_stage"
    ctx.table("customers", f"""
        SELECT {key} AS customer_id, {_day(created, ctx.col('create_date'))} AS created_at
               {''.join(', ' + o[0] for o in optional)}{stage}
        FROM raw ORDER BY __row""")
    events = [(role, name) for role, name in _HUBSPOT_EVENTS if ctx.has(role)]
    if events:
        union = " UNION ALL ".join(
            f"SELECT {key} AS customer_id, {_day(ctx.date(role), ctx.col(role))} AS occurred_at, "
            f"{_lit(name)} AS event, __row, {i} AS k FROM raw WHERE {ctx.col(role)} IS NOT NULL"
            for i, (role, name) in enumerate(events))
        ctx.table("events", f"SELECT customer_id, occurred_at, event FROM ({union}) ORDER BY __row, k")
    hashed = " (hashed)" if ctx.hash_ids else ""
    ctx.rule("customers", "customer_id", ("email", "record_id"),
             f"e-mail address in lower case{hashed}, else 'hubspot-' + Record ID",
             f"E-Mail-Adresse in Kleinbuchstaben{' (gehasht)' if ctx.hash_ids else ''}, sonst 'hubspot-' + Record ID")
    ctx.rule("customers", "created_at", ("create_date",), "create date", "Erstellungsdatum")
    for _, column, role in optional:
        ctx.rule("customers", column, (role,), "as exported", "wie exportiert")
    ctx.rule("customers", "hubspot_lifecycle_stage", ("lifecycle_stage",), "kept as an attribute",
             "als Merkmal übernommen")
    for role, name in events:
        ctx.rule("events", "event", (role,), f"'{name}' on that date", f"'{name}' an diesem Datum")


_TRUE = ("1", "true", "wahr", "yes", "ja", "x", "won", "gewonnen")
_WON_STAGES = ("closedwon", "abgeschlossenundgewonnen", "geschlossenundgewonnen", "gewonnen", "won")


def _salesforce(ctx: _Context) -> None:
    ctx.decimal(("amount",))
    account = ctx.first("account_id", "account_name")
    key = ctx.key(account, lower=False)
    stage = f"regexp_replace(lower({ctx.col('stage')}), '[^a-zäöüß]', '', 'g')"
    if ctx.has("won"):
        won = f"coalesce(lower({ctx.col('won')}) IN {_in(_TRUE)}, false)"
    else:
        won = f"coalesce({stage} IN {_in(_WON_STAGES)}, false)"
    if ctx.has("closed"):
        lost = f"(coalesce(lower({ctx.col('closed')}) IN {_in(_TRUE)}, false) AND NOT {won})"
    else:
        lost = f"(NOT {won} AND ({stage} LIKE '%lost%' OR {stage} LIKE '%verloren%'))"
    close = ctx.date("close_date")
    amount = ctx.number(ctx.col("amount"))
    tx_id = f"{ctx.col('opportunity_id')} AS transaction_id, " if ctx.has("opportunity_id") else ""
    ctx.table("transactions", f"""
        SELECT {tx_id}{key} AS customer_id, {_day(close, ctx.col('close_date'))} AS ordered_at,
               {_text(amount, ctx.col('amount'))} AS amount
        FROM raw WHERE {won} ORDER BY __row""")
    created = ctx.date("created_date") if ctx.has("created_date") else "CAST(NULL AS TIMESTAMP)"
    first = f"coalesce({created}, {close})"
    channel = (f", arg_min({ctx.col('lead_source')}, {first}) FILTER (WHERE {ctx.col('lead_source')} IS NOT NULL) "
               "AS channel") if ctx.has("lead_source") else ""
    ctx.table("customers", f"""
        SELECT {key} AS customer_id, strftime(min({first}), '%Y-%m-%d %H:%M:%S') AS created_at{channel}
        FROM raw WHERE {key} IS NOT NULL GROUP BY 1 ORDER BY min(__row)""")
    parts = [f"SELECT {key} AS customer_id, {_day(close, ctx.col('close_date'))} AS occurred_at, "
             f"'opportunity_lost' AS event, __row, 1 AS k FROM raw WHERE {lost}"]
    if ctx.has("created_date"):
        parts.insert(0, f"SELECT {key} AS customer_id, {_day(created, ctx.col('created_date'))} AS occurred_at, "
                        f"'opportunity_created' AS event, __row, 0 AS k FROM raw WHERE {ctx.col('created_date')} IS NOT NULL")
    ctx.table("events", f"SELECT customer_id, occurred_at, event FROM ({' UNION ALL '.join(parts)}) "
                        "ORDER BY __row, k")
    won_src = ("won",) if ctx.has("won") else ("stage",)
    ctx.rule("transactions", "customer_id", ("account_id", "account_name"),
             "the account (Account ID, else Account Name)" + (" (hashed)" if ctx.hash_ids else ""),
             "der Account (Account-ID, sonst Accountname)" + (" (gehasht)" if ctx.hash_ids else ""))
    if ctx.has("opportunity_id"):
        ctx.rule("transactions", "transaction_id", ("opportunity_id",), "opportunity id", "Opportunity-ID")
    ctx.rule("transactions", "ordered_at", ("close_date",), "close date", "Schlusstermin")
    ctx.rule("transactions", "amount", ("amount",) + won_src, "amount of won opportunities only",
             "Betrag, nur gewonnene Opportunities")
    ctx.rule("customers", "customer_id", ("account_id", "account_name"), "one customer per account",
             "ein Kunde je Account")
    ctx.rule("customers", "created_at", ("created_date", "close_date"),
             "first opportunity's created date (else close date)",
             "Erstelldatum der ersten Opportunity (sonst Schlusstermin)")
    if ctx.has("lead_source"):
        ctx.rule("customers", "channel", ("lead_source",), "lead source of the first opportunity",
                 "Leadquelle der ersten Opportunity")
    if ctx.has("created_date"):
        ctx.rule("events", "event", ("created_date",), "'opportunity_created' on the created date",
                 "'opportunity_created' am Erstelldatum")
    ctx.rule("events", "event", ("close_date",) + (("closed",) if ctx.has("closed") else ("stage",)),
             "'opportunity_lost' on the close date of lost opportunities",
             "'opportunity_lost' am Schlusstermin verlorener Opportunities")


# --------------------------------------------------------------------------- the presets' headers

#: Shopify admin → Orders → Export (help.shopify.com/manual/fulfillment/managing-orders/exporting-orders;
#: the headers are English in every admin language, the localised help pages list the same English headers).
SHOPIFY_HEADERS = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value",
    "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
)

#: WooCommerce has no order CSV export of its own; the common order-export plugins name their columns
#: either by label ("Order Number", "Billing Email", as WP All Export does) or by key ("order_number",
#: "billing_email", as WooCommerce Customer/Order/Coupon Export and WebToffee's export do). The German
#: column names of these plugins are not documented, so none are listed (German status labels are).
WOOCOMMERCE_HEADERS = (
    "Order ID", "Order Number", "Order Date", "Order Status", "Order Currency", "Order Total", "Order Subtotal",
    "Order Shipping", "Order Tax", "Cart Discount", "Order Refund", "Payment Method", "Payment Method Title",
    "Customer User ID", "Customer Note", "Billing First Name", "Billing Last Name", "Billing Company",
    "Billing Address 1", "Billing Address 2", "Billing City", "Billing State", "Billing Postcode",
    "Billing Country", "Billing Email", "Billing Phone", "Shipping First Name", "Shipping Last Name",
    "Shipping Company", "Shipping Address 1", "Shipping Address 2", "Shipping City", "Shipping State",
    "Shipping Postcode", "Shipping Country", "Shipping Method", "Completed Date", "Paid Date",
)
WOOCOMMERCE_KEYS = (
    "order_id", "order_number", "order_date", "paid_date", "status", "shipping_total", "shipping_tax_total",
    "fee_total", "fee_tax_total", "tax_total", "discount_total", "order_total", "refunded_total",
    "order_currency", "payment_method", "shipping_method", "customer_id", "billing_first_name",
    "billing_last_name", "billing_company", "billing_email", "billing_phone", "billing_address_1",
    "billing_address_2", "billing_postcode", "billing_city", "billing_state", "billing_country",
    "shipping_first_name", "shipping_last_name", "shipping_company", "shipping_address_1",
    "shipping_address_2", "shipping_postcode", "shipping_city", "shipping_state", "shipping_country",
    "customer_note", "line_items", "shipping_items", "fee_items", "tax_items", "coupon_items", "order_notes",
)

#: Shopware 6 Settings → Import/Export, profile "Default orders" (Standardprofil Bestellungen): the
#: headers are the profile's mapped keys, the same in every admin language; ';'-separated
#: (shopware/shopware, Migration1627983652AddOrderExportProfile).
SHOPWARE_HEADERS = (
    "id", "order_number", "sales_channel_id", "customer_firstname", "customer_lastname", "customer_email",
    "billing_address_street", "billing_address_zipcode", "billing_address_city", "billing_address_company",
    "billing_address_department", "billing_address_country_id", "billing_address_country_state_id",
    "shipping_address_street", "shipping_address_zipcode", "shipping_address_city", "shipping_address_company",
    "shipping_address_department", "shipping_address_country_id", "shipping_address_country_state_id",
    "amount_total", "order_state_id", "line_items", "order_date_time",
)

#: HubSpot Contacts → Export (labels of the default contact properties, knowledge.hubspot.com
#: "HubSpot's default contact properties").
HUBSPOT_HEADERS = (
    "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Contact owner", "Lead Status",
    "Lifecycle Stage", "Create Date", "Last Activity Date", "Became a Subscriber Date", "Became a Lead Date",
    "Became a Marketing Qualified Lead Date", "Became a Sales Qualified Lead Date", "Became an Opportunity Date",
    "Became a Customer Date", "Became an Evangelist Date", "Became an Other Lifecycle Date", "City",
    "State/Region", "Postal Code", "Country/Region", "Original Source", "Associated Company",
)

#: Salesforce report "Opportunities" exported as CSV ("Details only"), with the English and the German
#: field labels (the export uses the user's language).
SALESFORCE_HEADERS = (
    "Opportunity Owner", "Account Name", "Opportunity Name", "Stage", "Fiscal Period", "Amount",
    "Probability (%)", "Age", "Close Date", "Created Date", "Next Step", "Lead Source", "Type", "Won", "Closed",
    "Opportunity ID", "Account ID",
)
SALESFORCE_HEADERS_DE = (
    "Opportunity-Inhaber", "Accountname", "Opportunity-Name", "Phase", "Geschäftsperiode", "Betrag",
    "Wahrscheinlichkeit (%)", "Alter", "Schlusstermin", "Erstelldatum", "Nächster Schritt", "Leadquelle", "Typ",
    "Gewonnen", "Geschlossen", "Opportunity-ID", "Account-ID",
)

PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("shopify_orders", "Shopify", ("Shopify orders export", "Shopify-Bestellexport"), {
        "name": ("Name",), "email": ("Email",), "financial_status": ("Financial Status",),
        "created_at": ("Created at",), "total": ("Total",), "lineitem_quantity": ("Lineitem quantity",),
        "refunded_amount": ("Refunded Amount",), "cancelled_at": ("Cancelled at",),
        "billing_city": ("Billing City",), "billing_zip": ("Billing Zip",), "billing_country": ("Billing Country",),
        "shipping_city": ("Shipping City",), "shipping_zip": ("Shipping Zip",),
        "shipping_country": ("Shipping Country",), "source": ("Source",),
    }, ("name", "email", "financial_status", "created_at", "total", "lineitem_quantity"), (SHOPIFY_HEADERS,),
        _shopify),
    Preset("woocommerce_orders", "WooCommerce", ("WooCommerce orders export", "WooCommerce-Bestellexport"), {
        "order_number": ("Order Number", "order_number"), "order_id": ("Order ID", "order_id"),
        "order_date": ("Order Date", "order_date"), "status": ("Order Status", "status", "order_status"),
        "order_total": ("Order Total", "order_total", "Order Total Amount"),
        "email": ("Billing Email", "billing_email", "Customer Email", "customer_email"),
        "refund": ("Order Refund", "refunded_total", "Refund Amount", "Order Refund Amount", "Total Refunded"),
        "billing_city": ("Billing City", "billing_city"), "billing_postcode": ("Billing Postcode", "billing_postcode"),
        "billing_country": ("Billing Country", "billing_country"),
        "shipping_city": ("Shipping City", "shipping_city"),
        "shipping_postcode": ("Shipping Postcode", "shipping_postcode"),
        "shipping_country": ("Shipping Country", "shipping_country"),
        "customer_user": ("Customer User ID", "customer_id", "customer_user"),
        "quantity": ("Quantity", "item_quantity", "Item Quantity"),
    }, ("order_number|order_id", "order_date", "status", "order_total", "email"),
        (WOOCOMMERCE_HEADERS, WOOCOMMERCE_KEYS), _woocommerce),
    Preset("shopware6_orders", "Shopware 6", ("Shopware 6 orders export", "Shopware-6-Bestellexport"), {
        "order_number": ("order_number", "orderNumber"), "email": ("customer_email", "orderCustomer.email"),
        "customer_number": ("customer_number", "orderCustomer.customerNumber"),
        "order_date_time": ("order_date_time", "orderDateTime"), "amount_total": ("amount_total", "amountTotal"),
        "state_id": ("order_state_id", "stateId"),
        "state": ("stateMachineState.technicalName", "order_state", "state"),
        "billing_city": ("billing_address_city", "billingAddress.city"),
        "billing_zipcode": ("billing_address_zipcode", "billingAddress.zipcode"),
        "billing_country_iso": ("billing_address_country_iso", "billingAddress.country.iso"),
        "shipping_city": ("shipping_address_city", "deliveries.shippingOrderAddress.city"),
        "shipping_zipcode": ("shipping_address_zipcode", "deliveries.shippingOrderAddress.zipcode"),
        "line_items": ("line_items", "lineItems"),
    }, ("order_number", "email", "order_date_time", "amount_total"), (SHOPWARE_HEADERS,), _shopware),
    Preset("hubspot_contacts", "HubSpot", ("HubSpot contacts export", "HubSpot-Kontaktexport"), {
        "record_id": ("Record ID", "Contact ID", "hs_object_id"), "email": ("Email", "email"),
        "create_date": ("Create Date", "createdate"), "lifecycle_stage": ("Lifecycle Stage", "lifecyclestage"),
        "became_subscriber": ("Became a Subscriber Date", "hs_lifecyclestage_subscriber_date"),
        "became_lead": ("Became a Lead Date", "hs_lifecyclestage_lead_date"),
        "became_mql": ("Became a Marketing Qualified Lead Date", "hs_lifecyclestage_marketingqualifiedlead_date"),
        "became_sql": ("Became a Sales Qualified Lead Date", "hs_lifecyclestage_salesqualifiedlead_date"),
        "became_opportunity": ("Became an Opportunity Date", "hs_lifecyclestage_opportunity_date"),
        "became_customer": ("Became a Customer Date", "hs_lifecyclestage_customer_date"),
        "became_evangelist": ("Became an Evangelist Date", "hs_lifecyclestage_evangelist_date"),
        "became_other": ("Became an Other Lifecycle Date", "hs_lifecyclestage_other_date"),
        "city": ("City", "city"), "zip": ("Postal Code", "zip"), "country": ("Country/Region", "country"),
        "source": ("Original Source", "Original Traffic Source", "hs_analytics_source"),
    }, ("record_id", "create_date", "lifecycle_stage"), (HUBSPOT_HEADERS,), _hubspot),
    Preset("salesforce_opportunities", "Salesforce",
           ("Salesforce opportunities report", "Salesforce-Opportunity-Bericht"), {
        "opportunity_name": ("Opportunity Name", "Opportunity-Name", "Opportunityname"),
        "opportunity_id": ("Opportunity ID", "Opportunity-ID"),
        "account_name": ("Account Name", "Accountname", "Account-Name"), "account_id": ("Account ID", "Account-ID"),
        "amount": ("Amount", "Betrag"), "close_date": ("Close Date", "Schlusstermin"), "stage": ("Stage", "Phase"),
        "won": ("Won", "Gewonnen"), "closed": ("Closed", "Geschlossen"),
        "created_date": ("Created Date", "Erstelldatum"), "lead_source": ("Lead Source", "Leadquelle"),
    }, ("opportunity_name", "account_name", "close_date", "amount", "stage"),
        (SALESFORCE_HEADERS, SALESFORCE_HEADERS_DE), _salesforce),
)}


# --------------------------------------------------------------------------- convert and load

def _open(source, name: str | None, sheet: str | int | None = None):
    """The export as a UTF-8 CSV file on disk, as ingest reads it (unpacked, transcoded; a workbook's sheet or
    a Parquet file converted), and its sniffed header."""
    f = ingest._LocalFile(source, name, sheet=sheet)
    try:
        sniffed = ingest._sniff_open(f, schema.TABLES[0], None)
        if f.encoding == "cp1252" and not f.transcoded:
            f.to_utf8()
    except BaseException:
        f.close()
        raise
    return f, sniffed


def _read_raw(db, f, sniffed) -> list[tuple[int, str]]:
    """Read the export as text into table ``raw`` (__row: the row's line, c0..cn); returns the malformed rows
    DuckDB's reader refused (line, reason)."""
    columns = {f"c{i}": "VARCHAR" for i in range(len(sniffed.headers))}
    sql = ("CREATE OR REPLACE TEMP TABLE raw AS SELECT row_number() OVER () + 1 AS __row, * FROM read_csv(?, "
           "delim=?, header=true, all_varchar=true, quote='\"', escape='\"', auto_detect=false, columns=?, "
           "store_rejects=true, rejects_table='__errors', rejects_scan='__scans')")
    for attempt in range(2):
        db.execute("DROP TABLE IF EXISTS __errors")
        db.execute("DROP TABLE IF EXISTS __scans")
        try:
            db.execute(sql, [f.path, sniffed.delimiter, columns])
        except duckdb.Error as exc:
            raise ingest.IngestError(f"{f.name}: not readable as CSV ({ingest._first_line(exc)})") from exc
        bad = db.execute("SELECT count(*) FROM __errors WHERE error_type = 'INVALID ENCODING'").fetchone()[0]
        if not bad or f.transcoded:
            break
        f.to_utf8()  # not UTF-8 after all: Windows-1252
    return [(int(line), f"malformed row ({kind.lower()})")
            for line, kind in db.execute(
                "SELECT line, min(error_type) FROM __errors GROUP BY line ORDER BY line").fetchall()]


def convert(source, folder, name: str | None = None, *, hash_ids: bool = False, salt: str = "",
            include_pending: bool = True, date_formats: dict[str, str] | None = None,
            recognition: Recognition | None = None, sheet: str | int | None = None) -> Conversion:
    """Convert a recognised export into canonical CSV files ``<folder>/<table>.csv``.

    ``date_formats``: role -> a family of ``ingest.DATE_FAMILIES`` or a strptime format, for a column
    whose dates could be read two ways; ``sheet``: a workbook's sheet (name or number). Raises
    :class:`ingest.IngestError` (one line) for a file that is not a recognised export or cannot be read."""
    f, sniffed = _open(source, name, sheet)
    try:
        recognition = recognition or recognise(sniffed.headers)
        if recognition is None:
            raise ingest.IngestError(f"{f.name}: not a recognised shop or CRM export")
        db = duckdb.connect()
        spill = tempfile.mkdtemp(prefix="clm_preset_spill_")
        try:
            # bounded memory: beyond the limit DuckDB spills to a temporary folder (a large export)
            db.execute(f"SET memory_limit = '{ingest.LOAD_MEMORY_LIMIT // 2**20}MiB'")
            db.execute(f"SET temp_directory = {_lit(spill)}")
            db.execute("CREATE TEMP TABLE __settings (salt VARCHAR)")
            db.execute("INSERT INTO __settings VALUES (?)", [salt])
            malformed = _read_raw(db, f, sniffed)
            rows = db.execute("SELECT count(*) FROM raw").fetchone()[0]
            if rows == 0:
                raise ingest.IngestError(f"{f.name}: the file has a header but no data rows")
            ctx = _Context(db, recognition, sniffed.headers, sniffed.delimiter, hash_ids, include_pending,
                           dict(date_formats or {}))
            recognition.preset.build(ctx)
            folder = Path(folder)
            folder.mkdir(parents=True, exist_ok=True)
            files = {}
            for table, temp in ctx.tables.items():
                path = folder / f"{table}.csv"
                db.execute(f"COPY {temp} TO {_lit(str(path))} (HEADER, DELIMITER ',')")
                files[table] = path
        finally:
            db.close()
            shutil.rmtree(spill, ignore_errors=True)
    finally:
        f.close()
    return Conversion(recognition, files, ctx.mapping, rows + len(malformed), ctx.statuses,
                      sorted(malformed + ctx.skipped), ctx.notes)


def _display_name(source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, Path)):
        return Path(str(source)).name
    return Path(str(getattr(source, "name", "") or "upload")).name


def merge(conversions: list[Conversion], folder) -> dict[str, Path]:
    """One canonical file per table from several conversions, in DuckDB: transactions and events
    appended; customers one row per customer_id, created_at the earliest, every other column from the
    first conversion (in the order given) that has a value for it. Exports of several systems keyed by
    the same e-mail address (and the same salt) thus describe the same customers."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = sorted({t for c in conversions for t in c.files}, key=schema.TABLES.index)
    out: dict[str, Path] = {}
    db = duckdb.connect()
    try:
        for table in tables:
            parts = [(rank, c.files[table]) for rank, c in enumerate(conversions) if table in c.files]
            union = " UNION ALL BY NAME ".join(
                f"SELECT *, {rank} AS __rank, row_number() OVER () AS __pos FROM read_csv(?, header=true, "
                "all_varchar=true, auto_detect=true)" for rank, _ in parts)
            db.execute(f"CREATE OR REPLACE TEMP TABLE __all AS {union}", [str(path) for _, path in parts])
            names = [r[0] for r in db.execute("DESCRIBE __all").fetchall() if r[0] not in ("__rank", "__pos")]
            if table == "customers":
                picks = []
                for column in names:
                    q = quote_ident(column)
                    if column == "customer_id":
                        continue
                    if column == "created_at":
                        picks.append(f"min({q}) AS {q}")
                    else:
                        picks.append(f"arg_min({q}, __rank) FILTER (WHERE {q} IS NOT NULL) AS {q}")
                select = (f"SELECT customer_id{''.join(', ' + p for p in picks)} FROM __all GROUP BY customer_id "
                          "ORDER BY min(__rank), min(__pos)")
            else:
                select = f"SELECT {', '.join(quote_ident(n) for n in names)} FROM __all ORDER BY __rank, __pos"
            path = folder / f"{table}.csv"
            db.execute(f"COPY ({select}) TO {_lit(str(path))} (HEADER, DELIMITER ',')")
            out[table] = path
    finally:
        db.close()
    return out


def load(dataset, source, name: str | None = None, *, hash_ids: bool = False, salt: str = "",
         include_pending: bool = True, date_formats: dict[str, str] | None = None,
         sheet: str | int | None = None, **load_options) -> tuple[ingest.IngestReport, Conversion]:
    """Convert a recognised export and load its tables into ``dataset`` with :func:`ingest.load`
    (``load_options``: create, replaces, … as there); replaces the tables the export fills."""
    report, conversions = load_many(dataset, [(source, name)], hash_ids=hash_ids, salt=salt,
                                    include_pending=include_pending, date_formats=date_formats,
                                    sheets={0: sheet} if sheet is not None else None, **load_options)
    return report, conversions[0]


def load_many(dataset, sources: list, *, hash_ids: bool = False, salt: str = "", include_pending: bool = True,
              date_formats: dict[str, str] | None = None, sheets: dict[int, str | int] | None = None,
              **load_options) -> tuple[ingest.IngestReport, list[Conversion]]:
    """Several exports (``sources``: (source, name or None) pairs) into one dataset in one load, merged
    by :func:`merge` (e.g. a Shopify orders export and a HubSpot contacts export); ``sheets``: position in
    ``sources`` -> the workbook sheet to read."""
    with tempfile.TemporaryDirectory(prefix=f"clm_preset_{secrets.token_hex(4)}_") as folder:
        conversions, shown = [], []
        for i, (source, name) in enumerate(sources):
            display = _display_name(source, name)
            conversions.append(convert(source, Path(folder) / str(i), display, hash_ids=hash_ids, salt=salt,
                                       include_pending=include_pending, date_formats=date_formats,
                                       sheet=(sheets or {}).get(i)))
            shown.append(display)
        if len(conversions) == 1:
            files = dict(conversions[0].files)
        else:
            files = merge(conversions, Path(folder) / "merged")
        names = {table: " + ".join(n for n, c in zip(shown, conversions) if table in c.files) + f" ({table})"
                 for table in files}
        report = ingest.load(dataset, files, names=names, **load_options)
    return report, conversions


def preview(data: bytes, name: str, rows: int = 10, **options) -> tuple[Conversion, dict[str, pd.DataFrame]]:
    """What the Data page shows before loading: the conversion of an upload's head (``upload.head``) and
    the first ``rows`` rows of each canonical table (an order cut at the end of the head may be short)."""
    with tempfile.TemporaryDirectory(prefix="clm_preset_preview_") as folder:
        conversion = convert(data, folder, name, **options)
        frames = {table: pd.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)
                  for table, path in conversion.files.items()}
    return conversion, frames
