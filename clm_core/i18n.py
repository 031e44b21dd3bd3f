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
    "missing_table": ("This page needs a {name} file. Upload one on the Data page.",
                      "Diese Seite braucht eine {name}-Datei. Bitte auf der Seite Daten hochladen."),
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


#: Ingest's rejection reasons (clm_core.ingest; English in the report and the CLI) in German.
_REASONS_GERMAN = (
    (re.compile(r"^missing (\w+)$"), "{0} fehlt"),
    (re.compile(r"^unparseable (\w+): (.*)$", re.S), "{0} ist kein lesbares Datum: {1}"),
    (re.compile(r"^non-numeric (\w+): (.*)$", re.S), "{0} ist keine Zahl: {1}"),
    (re.compile(r"^(\w+) is not a whole number: (.*)$", re.S), "{0} ist keine ganze Zahl: {1}"),
    (re.compile(r"^(\w+) outside 0-10: (.*)$", re.S), "{0} liegt nicht zwischen 0 und 10: {1}"),
    (re.compile(r"^(\w+) must be treatment or control: (.*)$", re.S), "{0} muss treatment oder control sein: {1}"),
    (re.compile(r"^duplicate (\w+) \(first on line (\d+)\)$"), "{0} doppelt (zuerst in Zeile {1})"),
    (re.compile(r"^malformed row \((.*)\)$"), "fehlerhafte Zeile ({0})"),
)


def reason_label(reason: str, lang: str = "en") -> str:
    """A rejected row's reason for display: German where the pattern is known, else as given."""
    if lang != "de" or not isinstance(reason, str):
        return reason
    for pattern, german in _REASONS_GERMAN:
        match = pattern.match(reason)
        if match:
            return german.format(*match.groups())
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
