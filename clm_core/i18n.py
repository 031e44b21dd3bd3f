"""Interface language (English, German): shared words and number/date formats.

Page-specific texts live beside their page as ``{key: (english, german)}``;
:func:`tr` looks them up the same way as the shared :data:`TEXT`.
"""

from __future__ import annotations

import datetime as dt
import math
import re

LANGUAGES = {"en": "English", "de": "Deutsch"}

#: key -> (English, German)
TEXT: dict[str, tuple[str, str]] = {
    "app_title": ("Customer lifecycle", "Kundenlebenszyklus"),
    "page_failed": ("This part of the page could not be drawn ({kind}); the error was logged. Reload the page, or "
                    "change the view.",
                    "Dieser Teil der Seite konnte nicht gezeichnet werden ({kind}); der Fehler wurde protokolliert. "
                    "Bitte die Seite neu laden oder die Ansicht ändern."),
    "dataset": ("Dataset", "Datensatz"),
    "as_of": ("As of", "Stichtag"),
    "language": ("Language", "Sprache"),
    "filter": ("Segment filter", "Segmentfilter"),
    "stage": ("Stage", "Phase"),
    "stages": ("Stages", "Phasen"),
    "cohorts": ("Cohorts", "Kohorten"),
    "cohort_range": ("First purchase between", "Erstkauf zwischen"),
    "attribute": ("Attribute", "Merkmal"),
    "values": ("Values", "Werte"),
    "clear_filter": ("Clear filter", "Filter zurücksetzen"),
    "customers": ("Customers", "Kunden"),
    "revenue": ("Revenue", "Umsatz"),
    "share": ("Share", "Anteil"),
    "download_csv": ("Download CSV", "CSV herunterladen"),
    "download_xlsx": ("Excel workbook of this view", "Excel-Arbeitsmappe dieser Ansicht"),
    "rows_shown": ("The first {shown} of {total} rows; the CSV download has all of them.",
                   "Die ersten {shown} von {total} Zeilen; der CSV-Download enthält alle."),
    "no_dataset": ("No dataset yet: upload your exports on the Data page, or run `make run` for the demo data.",
                   "Noch kein Datensatz: Exporte auf der Seite Daten hochladen oder `make run` für die Demodaten."),
    "nobody": ("The segment filter matches no customer.", "Der Segmentfilter trifft auf keinen Kunden zu."),
    "missing_table": ("This page needs the table “{name}”. Upload its file on the Data page.",
                      "Diese Seite braucht die Tabelle „{name}“. Bitte die Datei dazu auf der Seite Daten "
                      "hochladen."),
    "list_filter": ("Filtered to a list of customers from a drill-down.",
                    "Auf eine Kundenliste aus einer Detailansicht gefiltert."),
    "clear_list": ("Remove customer list", "Kundenliste entfernen"),
    "saved_views": ("Saved views", "Gespeicherte Ansichten"),
    "save_view": ("Save this view", "Ansicht speichern"),
    "view_name": ("Name", "Name"),
    "open": ("Open", "Öffnen"),
    "rename": ("Rename", "Umbenennen"),
    "delete": ("Delete", "Löschen"),
    "link": ("Link", "Link"),
    # placeholders of the select boxes (Streamlit's own are English only)
    "choose_options": ("Choose…", "Auswählen …"),
    "choose_option": ("Choose one…", "Bitte wählen …"),
    "no_options": ("Nothing to choose", "Keine Auswahl möglich"),
    "all_values": ("All (no filter)", "Alle (kein Filter)"),
    "any_month": ("any month", "beliebiger Monat"),
    # canonical stages
    "prospect": ("Prospect", "Interessent"),
    "new": ("New", "Neu"),
    "active": ("Active", "Aktiv"),
    "reactivated": ("Reactivated", "Reaktiviert"),
    "at_risk": ("At risk", "Gefährdet"),
    "loyal": ("Loyal", "Loyal"),
    "churned": ("Churned", "Abgewandert"),
    # pages
    "page_overview": ("Overview", "Überblick"),
    "page_data": ("Data", "Daten"),
    "page_funnel": ("Funnel", "Trichter"),
    "page_cohorts": ("Cohorts", "Kohorten"),
    "page_lifecycle": ("Lifecycle", "Lebenszyklus"),
    "page_nps": ("NPS", "NPS"),
    "page_value": ("Customer value", "Kundenwert"),
    "page_map": ("Map", "Karte"),
    "page_campaigns": ("Campaigns", "Kampagnen"),
}


#: Display names of the canonical tables (DESIGN §2): (English, German).
TABLE_LABELS: dict[str, tuple[str, str]] = {
    "customers": ("Customers", "Kunden"),
    "transactions": ("Transactions", "Transaktionen"),
    "events": ("Events", "Ereignisse"),
    "nps": ("NPS answers", "NPS-Antworten"),
    "campaigns": ("Campaigns", "Kampagnen"),
}

#: Display names of the canonical columns (DESIGN §2), of the derived customer attributes and of the demo
#: data's own attribute: (English, German). Any other attribute (a column kept from an upload) is shown
#: under its header as the file had it.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "customer_id": ("Customer ID", "Kundennummer"),
    "created_at": ("Created on", "Erstellt am"),
    "channel": ("Channel", "Kanal"),
    "segment": ("Segment", "Segment"),
    "country": ("Country", "Land"),
    "city": ("City", "Stadt"),
    "postal_code": ("Postal code", "Postleitzahl"),
    "latitude": ("Latitude", "Breitengrad"),
    "longitude": ("Longitude", "Längengrad"),
    "ordered_at": ("Order date", "Bestelldatum"),
    "amount": ("Amount", "Betrag"),
    "transaction_id": ("Order number", "Belegnummer"),
    "category": ("Category", "Kategorie"),
    "quantity": ("Quantity", "Menge"),
    "margin": ("Margin", "Marge"),
    "occurred_at": ("Time", "Zeitpunkt"),
    "event": ("Event", "Ereignis"),
    "answered_at": ("Answer date", "Antwortdatum"),
    "score": ("Score 0–10", "Bewertung 0–10"),
    "comment": ("Comment", "Kommentar"),
    "campaign": ("Campaign", "Kampagne"),
    "sent_at": ("Sent on", "Versanddatum"),
    "group": ("Group (treatment/control)", "Gruppe (Test/Kontrolle)"),
    "cost": ("Cost per contact", "Kosten pro Kontakt"),
    "stage_targeted": ("Targeted stage", "Zielphase"),
    # derived per customer
    "first_seen": ("First seen", "Erstmals gesehen"),
    "stage": ("Stage", "Phase"),
    "cohort": ("Cohort", "Kohorte"),
    "rfm_segment": ("RFM segment", "RFM-Segment"),
    # the demo data's attribute
    "age_group": ("Age group", "Altersgruppe"),
}


def table_label(name: str, lang: str = "en") -> str:
    """A canonical table's display name (Kunden, Transaktionen, …); any other name as it is."""
    pair = TABLE_LABELS.get(name)
    return (pair[1] if lang == "de" else pair[0]) if pair else name


def field_label(name: str, lang: str = "en") -> str:
    """A canonical column's or derived attribute's display name (Postleitzahl, Altersgruppe, …); an
    attribute kept from an upload under its own header, as the file had it."""
    pair = FIELD_LABELS.get(name)
    return (pair[1] if lang == "de" else pair[0]) if pair else str(name)


#: German names of the lifecycle frameworks and their stages (clm_core.config.FRAMEWORKS); acronym
#: models (RACE, Attract / Sell / Wow) keep their English names, as German marketing uses them.
FRAMEWORK_GERMAN: dict[str, str] = {
    "5-phase journey": "5-Phasen-Customer-Journey",
    "CLM three levels": "CLM in drei Stufen",
    "relationship phases": "Beziehungsphasen",
    "Awareness": "Aufmerksamkeit",
    "Interest/Consideration": "Interesse/Abwägung",
    "Purchase": "Kauf",
    "Retention": "Bindung",
    "Loyalty/Advocacy": "Loyalität/Empfehlung",
    "Lapsed": "Abgewandert",
    "Attract & acquire": "Gewinnen",
    "Activate & incentivise": "Aktivieren & fördern",
    "Nurture & retain": "Pflegen & binden",
    "Initiation": "Anbahnung",
    "Active customer": "Aktiver Kunde",
    "Passive customer": "Passiver Kunde",
}


def framework_label(name: str, lang: str = "en") -> str:
    """A framework's or framework stage's name for display (German where it has one)."""
    return FRAMEWORK_GERMAN.get(name, name) if lang == "de" else name


#: Ingest's rejection reasons (clm_core.ingest writes them as English codes naming the canonical column: the
#: report CSV and the CLI keep those) -> (English, German) display texts. ``{c}`` is the column, ``{v}`` the value.
_REASONS = (
    (re.compile(r"^missing (\w+)$"), "{c} is missing", "{c} fehlt"),
    (re.compile(r"^unparseable (\w+): (.*)$", re.S), "{c} is not a readable date: {v}", "{c} ist kein lesbares Datum: {v}"),
    (re.compile(r"^non-numeric (\w+): (.*)$", re.S), "{c} is not a number: {v}", "{c} ist keine Zahl: {v}"),
    (re.compile(r"^(\w+) is not a whole number: (.*)$", re.S), "{c} is not a whole number: {v}",
     "{c} ist keine ganze Zahl: {v}"),
    (re.compile(r"^(\w+) outside 0-10: (.*)$", re.S), "{c} is not between 0 and 10: {v}",
     "{c} liegt nicht zwischen 0 und 10: {v}"),
    (re.compile(r"^(\w+) outside (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2}): (.*)$", re.S),
     "{c} is not a plausible date (allowed {low} to {high}): {v}",
     "{c} ist kein plausibles Datum (erlaubt {low} bis {high}): {v}"),
    (re.compile(r"^(\w+) outside ±([\d,]+): (.*)$", re.S), "{c} is larger than ±{limit}: {v}",
     "{c} ist größer als ±{limit}: {v}"),
    (re.compile(r"^(\w+) must be treatment or control: (.*)$", re.S), "{c} must be treatment or control: {v}",
     "{c} muss Test oder Kontrolle sein: {v}"),
    (re.compile(r"^duplicate (\w+) \(first on line (\d+)\)$"), "{c} repeated (first on line {line})",
     "{c} doppelt (zuerst in Zeile {line})"),
    (re.compile(r"^NUL byte in (.+)$", re.S), "{c} contains a NUL byte", "{c} enthält ein NUL-Zeichen"),
    (re.compile(r"^malformed row \((.*)\)$"), "malformed row ({kind})", "fehlerhafte Zeile ({kind})"),
)
#: DuckDB's kinds of malformed CSV rows (lower case) -> (English, German).
_MALFORMED = {
    "missing columns": ("too few columns", "zu wenige Spalten"),
    "too many columns": ("too many columns", "zu viele Spalten"),
    "unquoted value": ("quotation marks not closed", "Anführungszeichen nicht geschlossen"),
    "line size over maximum": ("line too long", "Zeile zu lang"),
    "maximum line size": ("line too long", "Zeile zu lang"),
    "invalid unicode": ("characters not readable in the file's encoding",
                        "Zeichen in der Kodierung der Datei nicht lesbar"),
    "invalid encoding": ("characters not readable in the file's encoding",
                         "Zeichen in der Kodierung der Datei nicht lesbar"),
    "cast": ("value not readable", "Wert nicht lesbar"),
    "invalid state": ("not readable as CSV", "nicht als CSV lesbar"),
}


def reason_label(reason: str, lang: str = "en", headers: dict[str, str] | None = None) -> str:
    """A rejected row's reason for display, in the language: the column named by the file's own header
    (``headers``: canonical column -> header, as the upload mapped it), else by its display name; a reason of
    an unknown pattern as it is."""
    if not isinstance(reason, str):
        return reason
    de = lang == "de"
    for pattern, english, german in _REASONS:
        match = pattern.match(reason)
        if not match:
            continue
        groups = match.groups()
        if pattern.pattern.startswith("^malformed"):
            kind = _MALFORMED.get(groups[0].strip().lower())
            return (german if de else english).format(kind=(kind[1] if de else kind[0]) if kind else groups[0])
        column = groups[0]
        shown = (headers or {}).get(column) or field_label(column, lang)
        quoted = f"„{shown}“" if de else f"“{shown}”"
        values = {"c": quoted, "v": groups[-1] if len(groups) > 1 else ""}
        if "{low}" in english:
            low, high = (dt.date.fromisoformat(g) for g in groups[1:3])
            values.update(low=format_date(low, lang), high=format_date(high, lang))
        if "{limit}" in english:
            values["limit"] = format_number(int(groups[1].replace(",", "")), lang)
        if "{line}" in english:
            values["line"] = groups[1]
        return (german if de else english).format(**values)
    return reason


def tr(key: str, lang: str = "en", table: dict[str, tuple[str, str]] | None = None, **values) -> str:
    """The text for ``key`` in ``lang`` from ``table`` (else the shared TEXT); the key itself if unknown."""
    pair = (table or {}).get(key) or TEXT.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "de" else pair[0]
    return text.format(**values) if values else text


def format_number(value, lang: str = "en", decimals: int = 0) -> str:
    """1,234.5 (en) or 1.234,5 (de); an en dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{decimals}f}"
    if lang == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def format_currency(value, lang: str = "en", decimals: int = 2, symbol: str = "€") -> str:
    """€1,234.56 (en) or 1.234,56 € (de)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = format_number(abs(value), lang, decimals)
    sign = "-" if value < 0 else ""
    return f"{sign}{number} {symbol}" if lang == "de" else f"{sign}{symbol}{number}"


def format_percent(share, lang: str = "en", decimals: int = 1) -> str:
    """A fraction as a percentage: 12.5% (en) or 12,5 % (de)."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    number = format_number(100 * share, lang, decimals)
    return f"{number} %" if lang == "de" else f"{number}%"


def format_points(difference, lang: str = "en", decimals: int = 1) -> str:
    """A difference of two fractions in percentage points: +1.5 pp (en) or +1,5 Pp. (de)."""
    if difference is None or (isinstance(difference, float) and math.isnan(difference)):
        return "–"
    points = round(100 * difference, decimals)
    sign = "+" if points > 0 else "-" if points < 0 else ""
    number = format_number(abs(points), lang, decimals)
    return f"{sign}{number} " + ("Pp." if lang == "de" else "pp")


def format_date(value: dt.date, lang: str = "en") -> str:
    """2024-03-05 (en) or 05.03.2024 (de)."""
    return value.strftime("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")  # a datetime too: the day only


def plotly_separators(lang: str) -> str:
    """Plotly's ``layout.separators`` (decimal, thousands) for the language."""
    return ",." if lang == "de" else ".,"


# ----------------------------------------------------------------------------------- months and date ticks

#: Month names (January first): short as in charts and tables (German as Excel writes them, without a dot), long.
MONTHS_SHORT = {"en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
                "de": ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")}
MONTHS_LONG = {"en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"),
               "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
                      "Oktober", "November", "Dezember")}


def _lang(lang: str) -> str:
    return "de" if lang == "de" else "en"


def month_label(value: dt.date, lang: str = "en", short: bool = True) -> str:
    """A month: Oct 2025 / Okt 2025 (``short``), October 2025 / Oktober 2025."""
    names = (MONTHS_SHORT if short else MONTHS_LONG)[_lang(lang)]
    return f"{names[value.month - 1]} {value.year}"


def day_label(value: dt.date, lang: str = "en") -> str:
    """A day without its year, for an axis: Oct 5 / 5. Okt."""
    name = MONTHS_SHORT[_lang(lang)][value.month - 1]
    return f"{value.day}. {name}" if lang == "de" else f"{name} {value.day}"


_PERIOD_TEXT = re.compile(r"^(\d{4})-(?:(\d{2})|Q([1-4])|W(\d{2}))$")


def period_text(label: str, lang: str = "en") -> str:
    """A period's canonical label (clm_core.metrics: 2025-10, 2025-Q4, 2025-W41) for display: Okt 2025,
    Q4 2025, KW 41/2025 (German) or Oct 2025, Q4 2025, W41 2025; anything else as it is."""
    match = _PERIOD_TEXT.match(str(label))
    if not match:
        return label
    year, month, quarter, week = match.groups()
    if month:
        return month_label(dt.date(int(year), int(month), 1), lang) if 1 <= int(month) <= 12 else label
    if quarter:
        return f"Q{quarter} {year}"
    return f"KW {int(week)}/{year}" if lang == "de" else f"W{week} {year}"


#: Steps between the month ticks of a date axis, in months, the smallest that keeps the ticks few enough.
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)
_DAY_STEPS = (1, 2, 7, 14)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def date_ticks(first: dt.date, last: dt.date, lang: str = "en", max_ticks: int = 8,
               monthly: bool = False) -> tuple[list[dt.date], list[str]]:
    """The ticks of a date axis from ``first`` to ``last`` and their labels in the language: at most
    ``max_ticks`` (more than one where the range allows): month starts labelled "Okt 2025" (every 1, 2, 3, 6
    months), January 1sts labelled "2025" for long ranges; for ranges under two months days ("5. Okt"), unless
    the data are ``monthly``."""
    if last < first:
        first, last = last, first
    if (last - first).days < 62 and not monthly:
        for step in _DAY_STEPS:
            start = first
            if step >= 7:  # weeks from Monday
                start = first + dt.timedelta(days=(7 - first.weekday()) % 7)
            ticks = []
            day = start
            while day <= last:
                ticks.append(day)
                day += dt.timedelta(days=step)
            if len(ticks) <= max_ticks:
                break
        if not ticks:
            ticks = [first]
        return ticks, [day_label(d, lang) for d in ticks]
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next((s for s in _MONTH_STEPS if months / s <= max_ticks), _MONTH_STEPS[-1])
    start = first.replace(day=1) if first.day == 1 else _add_months(first.replace(day=1), 1)
    while (start.month - 1) % min(step, 12) or (step > 12 and start.year % (step // 12)):
        start = _add_months(start, 1)
    ticks = []
    day = start
    while day <= last:
        ticks.append(day)
        day = _add_months(day, step)
    if not ticks:
        ticks = [start if start <= last else first.replace(day=1)]
    labels = [str(d.year) if step >= 12 else month_label(d, lang) for d in ticks]
    return ticks, labels


def plotly_hoverformat(lang: str, monthly: bool = False) -> str:
    """A date axis's hover format without month names (Plotly's own are English only): 05.10.2025 or
    10.2025 (German), 2025-10-05 or Oct 2025 (English)."""
    if lang == "de":
        return "%m.%Y" if monthly else "%d.%m.%Y"
    return "%b %Y" if monthly else "%Y-%m-%d"


def with_field_labels(columns, column_config: dict | None, lang: str = "en") -> dict:
    """A table's column configuration with a label for each column that has none and is a canonical field
    (postal_code -> Postleitzahl): database names do not reach a table header; other columns as they are."""
    config = dict(column_config or {})
    for column in columns:
        if column not in config and column in FIELD_LABELS:
            config[column] = field_label(column, lang)
    return config
