"""Templates to download on the Data page: an empty canonical CSV file and an Excel workbook per table.

The CSV template is the header row of the canonical columns (DESIGN §2), comma-separated, UTF-8. The
workbook's first sheet is the same empty table (identifier and postal-code columns formatted as text,
so that Excel keeps leading zeros; dates as dates); its second sheet explains every column in the UI
language: display name (``i18n.field_label``), required or optional, format, meaning and an example.
"""

from __future__ import annotations

import io

from clm_core import i18n, schema

#: canonical column -> (English, German) meaning; the same column means the same in every table.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "customer_id": ("The customer's number or key, the same in every file.",
                    "Die Kundennummer oder der Schlüssel des Kunden, in jeder Datei gleich."),
    "created_at": ("When the customer was first known (lead, sign-up or first contact).",
                   "Seit wann der Kunde bekannt ist (Lead, Anmeldung oder Erstkontakt)."),
    "channel": ("How the customer was acquired (e.g. web shop, store, referral).",
                "Wie der Kunde gewonnen wurde (z. B. Webshop, Filiale, Empfehlung)."),
    "segment": ("A customer group of your own (e.g. B2B, VIP).", "Eine eigene Kundengruppe (z. B. B2B, VIP)."),
    "country": ("Country, as an ISO code (DE, AT, CH) or a name.", "Land, als ISO-Code (DE, AT, CH) oder Name."),
    "city": ("City of the customer's address.", "Ort der Kundenadresse."),
    "postal_code": ("Postal code of the customer's address.", "Postleitzahl der Kundenadresse."),
    "latitude": ("Latitude of the address, for the map (optional if the postal code is given).",
                 "Breitengrad der Adresse, für die Karte (entbehrlich, wenn die Postleitzahl da ist)."),
    "longitude": ("Longitude of the address, for the map.", "Längengrad der Adresse, für die Karte."),
    "ordered_at": ("Order or invoice date.", "Bestell- oder Rechnungsdatum."),
    "amount": ("Order value; a negative amount is a return or refund.",
               "Bestellwert; ein negativer Betrag ist eine Retoure oder Erstattung."),
    "transaction_id": ("Order or invoice number; loading the file again does not double orders with a number.",
                       "Bestell- oder Rechnungsnummer; erneutes Laden verdoppelt Bestellungen mit Nummer nicht."),
    "category": ("Product category of the order.", "Warengruppe der Bestellung."),
    "quantity": ("Number of items.", "Anzahl der Artikel."),
    "margin": ("Margin as a share of the amount (0.3 = 30 %).", "Marge als Anteil am Betrag (0,3 = 30 %)."),
    "occurred_at": ("When the event happened.", "Wann das Ereignis stattfand."),
    "event": ("Name of the event (e.g. newsletter_signup, visit, lead).",
              "Name des Ereignisses (z. B. newsletter_signup, besuch, lead)."),
    "answered_at": ("Date of the survey answer.", "Datum der Umfrageantwort."),
    "score": ("Recommendation score 0–10 (NPS question).", "Weiterempfehlungswert 0–10 (NPS-Frage)."),
    "comment": ("The customer's comment.", "Kommentar des Kunden."),
    "campaign": ("Name of the campaign.", "Name der Kampagne."),
    "sent_at": ("When the customer was contacted.", "Wann der Kunde angeschrieben wurde."),
    "group": ("treatment (contacted) or control (held out on purpose).",
              "treatment (angeschrieben) oder control (bewusst ausgelassen)."),
    "cost": ("Cost per contact.", "Kosten pro Kontakt."),
    "stage_targeted": ("The lifecycle stage the campaign aimed at.", "Die Lebenszyklusphase, auf die die Kampagne zielte."),
}

#: column kind -> (English, German) format
FORMATS: dict[str, tuple[str, str]] = {
    "id": ("Text, kept exactly as written (leading zeros stay)", "Text, bleibt genau so (führende Nullen bleiben)"),
    "text": ("Text", "Text"),
    "date": ("Date: YYYY-MM-DD or DD.MM.YYYY, a time may follow", "Datum: JJJJ-MM-TT oder TT.MM.JJJJ, Uhrzeit möglich"),
    "number": ("Number, decimal point or comma", "Zahl, Dezimalpunkt oder -komma"),
    "integer": ("Whole number", "Ganze Zahl"),
    "score": ("Whole number 0–10", "Ganze Zahl 0–10"),
    "group": ("treatment or control", "treatment oder control"),
}

EXAMPLES: dict[str, str] = {
    "customer_id": "000123", "created_at": "2024-03-15", "channel": "Webshop", "segment": "B2C", "country": "DE",
    "city": "München", "postal_code": "01067", "latitude": "48.137", "longitude": "11.575",
    "ordered_at": "2024-04-02", "amount": "49.90", "transaction_id": "R-2024-0815", "category": "Schuhe",
    "quantity": "2", "margin": "0.35", "occurred_at": "2024-03-20", "event": "newsletter_signup",
    "answered_at": "2024-05-01", "score": "9", "comment": "Schnelle Lieferung", "campaign": "Sommer-Reaktivierung",
    "sent_at": "2024-06-01", "group": "treatment", "cost": "0.80", "stage_targeted": "at_risk",
}

_TEXT = {
    "explanation": ("Explanation", "Erläuterung"),
    "column": ("Column", "Spalte"),
    "name": ("Name", "Bezeichnung"),
    "required": ("Required", "Pflicht"),
    "format": ("Format", "Format"),
    "meaning": ("Meaning", "Bedeutung"),
    "example": ("Example", "Beispiel"),
    "yes": ("yes", "ja"),
    "no": ("no, optional", "nein, optional"),
    "intro": ("Fill in one row per {rows} on the first sheet and upload the file on the Data page. Keep the "
              "header row; columns may be left out unless required, and further columns become attributes "
              "(segment filters).",
              "Tragen Sie auf dem ersten Blatt eine Zeile je {rows} ein und laden Sie die Datei auf der Seite "
              "Daten hoch. Die Kopfzeile bleibt stehen; Spalten außer den Pflichtspalten dürfen fehlen, weitere "
              "Spalten werden zu Merkmalen (Segmentfiltern)."),
}
_ROWS = {"customers": ("customer", "Kunde"), "transactions": ("order", "Bestellung"), "events": ("event", "Ereignis"),
         "nps": ("survey answer", "Umfrageantwort"), "campaigns": ("contact of a campaign", "Kampagnenkontakt")}
_TEXT_COLUMNS = {"id", "text", "group"}  # formatted as text in the workbook (leading zeros, no auto-dates)


def _t(key: str, lang: str) -> str:
    return _TEXT[key][1] if lang == "de" else _TEXT[key][0]


def columns(table: str) -> list[str]:
    """The canonical columns of ``table``, required ones first in their schema order."""
    cols = schema.columns(table)
    return [c.name for c in cols if c.required] + [c.name for c in cols if not c.required]


def csv_template(table: str) -> bytes:
    """The empty canonical CSV file of ``table``: its header row, comma-separated, UTF-8."""
    return (",".join(columns(table)) + "\r\n").encode("utf-8")


def explanation(table: str, lang: str = "en") -> list[dict[str, str]]:
    """Per column of ``table``: column, name, required, format, meaning, example (in ``lang``)."""
    de = lang == "de"
    kinds = {c.name: c for c in schema.columns(table)}
    return [{
        "column": name,
        "name": i18n.field_label(name, lang),
        "required": _t("yes" if kinds[name].required else "no", lang),
        "format": FORMATS[kinds[name].kind][de],
        "meaning": DESCRIPTIONS[name][de],
        "example": EXAMPLES[name],
    } for name in columns(table)]


def _sheet_name(text: str) -> str:
    return "".join(ch for ch in text if ch not in "[]:*?/\\")[:31]


def excel_template(table: str, lang: str = "en") -> bytes:
    """The Excel template of ``table``: an empty data sheet with the canonical header row, and a sheet
    explaining each column in ``lang``."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    header = workbook.add_format({"bold": True, "bg_color": "#DDE7F0", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    date = workbook.add_format({"num_format": "dd.mm.yyyy" if lang == "de" else "yyyy-mm-dd"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    title = workbook.add_format({"bold": True, "font_size": 13})

    data = workbook.add_worksheet(_sheet_name(i18n.table_label(table, lang)))
    kinds = {c.name: c.kind for c in schema.columns(table)}
    for i, name in enumerate(columns(table)):
        kind = kinds[name]
        fmt = text if kind in _TEXT_COLUMNS or name == "postal_code" else date if kind == "date" else None
        data.set_column(i, i, max(14, len(name) + 4), fmt)
        data.write_string(0, i, name, header)
    data.freeze_panes(1, 0)

    sheet = workbook.add_worksheet(_sheet_name(_t("explanation", lang)))
    de = lang == "de"
    rows = _ROWS[table][de]
    sheet.write_string(0, 0, f"{i18n.table_label(table, lang)}", title)
    sheet.merge_range(1, 0, 1, 5, _TEXT["intro"][de].format(rows=rows), wrap)
    sheet.set_row(1, 48)
    keys = ("column", "name", "required", "format", "meaning", "example")
    for j, key in enumerate(keys):
        sheet.write_string(3, j, _t(key, lang), header)
    for i, row in enumerate(explanation(table, lang), start=4):
        for j, key in enumerate(keys):
            sheet.write_string(i, j, row[key], wrap)
    for j, width in enumerate((16, 22, 14, 34, 56, 20)):
        sheet.set_column(j, j, width)
    sheet.freeze_panes(4, 0)
    workbook.close()
    return buffer.getvalue()


def file_name(table: str, kind: str, lang: str = "en") -> str:
    """The download's file name: ``customers_template.csv`` / ``Vorlage_customers.xlsx``."""
    if kind not in ("csv", "xlsx"):
        raise ValueError(f"kind must be csv or xlsx, got {kind!r}")
    schema.columns(table)
    return f"Vorlage_{table}.{kind}" if lang == "de" else f"{table}_template.{kind}"
