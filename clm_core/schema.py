"""The canonical tables of DESIGN §2: columns, types and header synonyms."""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "text", "date", "number", "integer", "score", "group"
    required: bool = False
    synonyms: tuple[str, ...] = ()


def _c(name, kind, required=False, synonyms=""):
    return Column(name, kind, required, tuple(synonyms.split()))


# Synonyms are written normalised (see normalise_header); the earlier a synonym
# stands in its list, the stronger the match when two headers compete.
TABLE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "customers": (
        _c("customer_id", "id", True, "customerid customer kundennummer kundenid kundennr kunde "
           "clientid userid custid kdnr debitornummer debitor accountid contactid kontaktid id"),
        _c("created_at", "date", False, "createdat created createddate datecreated creationdate signupdate "
           "signupat signedupat registrationdate registeredat customersince joindate "
           "joinedat datejoined anmeldedatum registrierungsdatum registriertam registriertseit kundeseit "
           "erstelltam erstellt erstellungsdatum angelegtam angelegt anlagedatum erstkontakt "
           "firstseen leaddate"),
        _c("channel", "text", False, "channel acquisitionchannel kanal akquisekanal akquisitionskanal "
           "vertriebskanal herkunftskanal leadsource leadquelle herkunft source quelle"),
        _c("segment", "text", False, "segment customersegment kundensegment kundengruppe customertype kundentyp "
           "kundenklasse"),
        _c("country", "text", False, "country countrycode land landcode laenderkennzeichen länderkennzeichen "
           "laenderkuerzel länderkürzel laendercode ländercode"),
        _c("city", "text", False, "city stadt ort stadtort wohnort town"),
        _c("postal_code", "text", False, "postalcode zipcode zip postcode plz postleitzahl"),
        _c("latitude", "number", False, "latitude lat breitengrad breite"),
        _c("longitude", "number", False, "longitude lon lng long längengrad laengengrad länge"),
    ),
    "transactions": (
        _c("customer_id", "id", True, "customerid customer kundennummer kundenid kundennr kunde "
           "clientid userid custid kdnr debitornummer debitor accountid"),
        _c("ordered_at", "date", True, "orderedat orderdate invoicedate bestelldatum rechnungsdatum "
           "belegdatum auftragsdatum kaufdatum purchasedate transactiondate orderedon orderdatetime "
           "bestellzeitpunkt kaufzeitpunkt date datum"),
        _c("amount", "number", True, "amount revenue betrag umsatz bestellwert auftragswert rechnungsbetrag "
           "nettobetrag bruttobetrag gesamtbetrag netamount grossamount total ordertotal sales ordervalue "
           "orderamount invoiceamount value wert"),
        _c("transaction_id", "id", False, "transactionid orderid invoiceno invoicenumber invoice "
           "ordernumber orderno ordernr bestellnummer bestellnr auftragsnummer auftragsnr rechnungsnummer "
           "rechnungsnr belegnummer belegnr"),
        _c("category", "text", False, "category productcategory kategorie produktkategorie warengruppe"),
        _c("quantity", "integer", False, "quantity qty menge anzahl stückzahl stueckzahl"),
        _c("margin", "number", False, "margin marginrate marge"),
    ),
    "events": (
        _c("customer_id", "id", True, "customerid customer kundennummer kundenid kundennr kunde "
           "clientid userid custid kdnr accountid"),
        _c("occurred_at", "date", True, "occurredat timestamp eventtime eventdate zeitpunkt "
           "zeitstempel date datum time"),
        _c("event", "text", True, "event eventname eventtype ereignis aktion action"),
    ),
    "nps": (
        _c("customer_id", "id", True, "customerid customer kundennummer kundenid kundennr kunde "
           "clientid userid custid kdnr accountid"),
        _c("answered_at", "date", True, "answeredat surveydate responsedate submittedat "
           "antwortdatum befragungsdatum date datum"),
        _c("score", "score", True, "score npsscore nps npswert recommendationscore likelihoodtorecommend "
           "weiterempfehlung empfehlungswert empfehlungsbereitschaft rating bewertung empfehlung "
           "punktzahl punkte"),
        _c("comment", "text", False, "comment kommentar feedback anmerkung bemerkung text"),
    ),
    "campaigns": (
        _c("customer_id", "id", True, "customerid customer kundennummer kundenid kundennr kunde "
           "clientid userid custid kdnr accountid"),
        _c("campaign", "text", True, "campaign campaignname campaignid kampagne kampagnenname kampagnenid"),
        _c("sent_at", "date", True, "sentat sentdate senddate sentday versanddatum versendetam versandam "
           "versandtag sendedatum date datum"),
        _c("group", "group", False, "group gruppe testgroup variant arm"),
        _c("channel", "text", False, "channel kanal"),
        _c("cost", "number", False, "cost costpercontact kosten kostenprokontakt"),
        _c("stage_targeted", "text", False, "stagetargeted targetstage zielphase stage phase"),
    ),
}

TABLES = tuple(TABLE_COLUMNS)

# Plausible values (DESIGN §5 "implausible dates and amounts in files are rejected rows"): a value outside
# is a rejected row with its reason in the ingest report.
#: |value| of a decimal column (amount, margin, cost, latitude, longitude) at most this.
MAX_NUMBER = 1e9
#: |value| of a whole-number column (quantity) at most this.
MAX_INTEGER = 1_000_000
#: Dates before this are rejected (``CLM_MIN_DATE``, an ISO date, overrides it).
MIN_DATE = dt.date(1900, 1, 1)
#: Dates after today plus this many years are rejected (``CLM_MAX_DATE``, an ISO date, overrides it).
MAX_YEARS_AHEAD = 1


def date_bounds(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last plausible date of a file's date columns (both included): ``CLM_MIN_DATE``
    (default 1900-01-01) and ``CLM_MAX_DATE`` (default today + 1 year). A malformed setting is an error."""
    today = today or dt.date.today()
    try:
        default_last = today.replace(year=today.year + MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        default_last = today.replace(year=today.year + MAX_YEARS_AHEAD, day=28)
    bounds = []
    for variable, default in (("CLM_MIN_DATE", MIN_DATE), ("CLM_MAX_DATE", default_last)):
        text = os.environ.get(variable, "").strip()
        try:
            bounds.append(dt.date.fromisoformat(text) if text else default)
        except ValueError:
            raise ValueError(f"{variable}={text!r} is not a date (YYYY-MM-DD)") from None
    if bounds[0] > bounds[1]:
        raise ValueError(f"CLM_MIN_DATE {bounds[0]} is after CLM_MAX_DATE {bounds[1]}")
    return bounds[0], bounds[1]

#: Values of campaigns.group (normalised) -> canonical group.
GROUP_VALUES = {
    "treatment": "treatment", "test": "treatment", "behandlung": "treatment", "testgruppe": "treatment",
    "control": "control", "kontrolle": "control", "kontrollgruppe": "control", "holdout": "control",
}


def normalise_header(header: str) -> str:
    """Lower-case, without BOM, spaces, punctuation: ``Kunden-ID`` -> ``kundenid``."""
    text = unicodedata.normalize("NFC", str(header)).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s_\-./()#:]+", "", text)


def columns(table: str) -> tuple[Column, ...]:
    if table not in TABLE_COLUMNS:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    return TABLE_COLUMNS[table]


def propose_mapping(table: str, headers: list[str], explicit: dict[str, str] | None = None) -> dict[str, str]:
    """Header -> canonical column for the headers that match, explicit mappings first.

    Each canonical column takes at most one header: the one whose synonym ranks
    highest. Headers left out stay as attributes; an explicit mapping to None or
    "" keeps a header as an attribute even when its name is a known synonym.
    """
    cols = columns(table)
    known = {c.name for c in cols}
    mapping: dict[str, str] = {}
    kept = {h for h, canonical in (explicit or {}).items() if not canonical}
    present = set(headers)
    for header, canonical in (explicit or {}).items():
        if header not in present or not canonical:
            continue
        if canonical not in known:
            raise ValueError(f"{canonical!r} is not a column of {table}; expected one of {', '.join(sorted(known))}")
        mapping[header] = canonical
    taken = set(mapping.values())
    position: dict[str, list[tuple[int, str]]] = {}  # normalised header -> (position, header), free ones
    for i, header in enumerate(headers):
        if header not in mapping and header not in kept:
            position.setdefault(normalise_header(header), []).append((i, header))
    for col in cols:
        if col.name in taken:
            continue
        targets = (normalise_header(col.name),) + col.synonyms
        candidates = [(rank, i, header) for rank, norm in enumerate(targets) for i, header in position.get(norm, ())
                      if header not in mapping]
        if candidates:
            mapping[min(candidates)[2]] = col.name
            taken.add(col.name)
    return mapping
