"""The Data page's uploads beyond one CSV file per table (issue 12): a workbook's sheet, a zip archive of several
CSV files, recognised shop and CRM exports, and the templates to download.

The page (views/data.py) calls :func:`plans` with its own per-file panel: each upload becomes the sources it
loads — a workbook's chosen sheet (:func:`sheet_box` draws the choice inside the file's panel), one
:class:`clm_core.upload.Part` per table of a zip archive of several CSV files, or a recognised export (its
mapping shown, no header mapping asked) — and each source one or more load plans in the page's form
(``file``, ``table``, ``mapping``, ``date_formats``, ``problems``; an export's plans carry ``preset``).
:func:`blockers` adds what stops such a load, :func:`load` runs it (``ingest.load`` with the sheets, or
``presets.load_many`` for exports, salted by the target dataset's id), :func:`intro` draws the formats line,
:func:`templates_section` the templates. File, sheet and member names and the files' headers are user
text: Markdown gets them through ``md``, tables and select boxes show them as plain text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clm_core import ingest, presets, schema, templates, upload
from clm_core.i18n import format_number
from clm_core.i18n import table_label as table_name
from clm_ui.auth import md
from clm_ui.state import t, view

TEXT = {
    "formats": ("Excel workbooks (.xlsx, .xlsm, .xls, .xlsb, .ods; you choose the sheet), Parquet files and "
                "gzip- or zip-compressed CSV files load as well; a zip archive of several CSV files loads each "
                "into its table. Exports of Shopify, WooCommerce, Shopware 6, HubSpot and Salesforce are "
                "recognised by their header row and converted without questions.",
                "Excel-Arbeitsmappen (.xlsx, .xlsm, .xls, .xlsb, .ods; Sie wählen das Tabellenblatt), "
                "Parquet-Dateien und mit gzip oder zip gepackte CSV-Dateien lassen sich ebenso laden; ein "
                "zip-Archiv mehrerer CSV-Dateien lädt jede in ihre Tabelle. Exporte aus Shopify, WooCommerce, "
                "Shopware 6, HubSpot und Salesforce werden an ihrer Kopfzeile erkannt und ohne Rückfragen "
                "umgewandelt."),
    "templates": ("Templates: an empty file per table", "Vorlagen: eine leere Datei je Tabelle"),
    "templates_help": ("The columns the app reads, as an empty CSV file or as an Excel workbook whose second "
                       "sheet explains each column. Fill in, save and upload above.",
                       "Die Spalten, die die App liest, als leere CSV-Datei oder als Excel-Arbeitsmappe, deren "
                       "zweites Blatt jede Spalte erklärt. Ausfüllen, speichern und oben hochladen."),
    "csv": ("CSV", "CSV"),
    "excel": ("Excel", "Excel"),
    "sheet": ("Sheet", "Tabellenblatt"),
    "sheet_help": ("The workbook has several sheets: choose the one to load. Preselected is the one the loader "
                   "takes by itself (the first that is not empty). To load several sheets (customers and orders), "
                   "upload the workbook once per sheet.",
                   "Die Arbeitsmappe hat mehrere Tabellenblätter: das zu ladende wählen. Vorausgewählt ist das, "
                   "das der Import von selbst nimmt (das erste nicht leere). Um mehrere Tabellenblätter zu laden "
                   "(Kunden und Bestellungen), die Arbeitsmappe einmal je Tabellenblatt hochladen."),
    "header_row": ("Header in row {row} of the sheet.", "Kopfzeile in Zeile {row} des Tabellenblatts."),
    "header_row_below": ("Header in row {row} of the sheet; the rows above it are skipped.",
                         "Kopfzeile in Zeile {row} des Tabellenblatts; die Zeilen darüber werden übersprungen."),
    "zip": ("A zip archive of {n} CSV files: each is loaded into the table its file name or header row says.",
            "Ein zip-Archiv mit {n} CSV-Dateien: jede wird in die Tabelle geladen, die ihr Dateiname oder ihre "
            "Kopfzeile nennt."),
    "member": ("File in the archive", "Datei im Archiv"),
    "table": ("Table", "Tabelle"),
    "first_rows_of": ("First rows of {member} ({kind})", "Erste Zeilen von {member} ({kind})"),
    "zip_missing": ("{member}: required column missing for {kind}: {columns}. Name the column as the template "
                    "does, or upload this file on its own to choose its columns.",
                    "{member}: Pflichtspalte für {kind} fehlt: {columns}. Die Spalte wie in der Vorlage "
                    "benennen oder diese Datei einzeln hochladen, um ihre Spalten zuzuordnen."),
    "unreadable": ("{name}: {error}", "{name}: {error}"),
    "mapping": ("Mapping applied", "Angewandte Zuordnung"),
    "mapping_help": ("The export is converted without questions: each column of the app, filled from these "
                     "columns of the export by this rule.",
                     "Der Export wird ohne Rückfragen umgewandelt: jede Spalte der App, gefüllt aus diesen "
                     "Spalten des Exports nach dieser Regel."),
    "column": ("Column", "Spalte"),
    "source": ("From the export's columns", "Aus den Spalten des Exports"),
    "rule": ("Rule", "Regel"),
    "statuses": ("Orders by status, in the {n} rows read for this preview (the load counts all rows)",
                 "Bestellungen nach Status, in den {n} für diese Vorschau gelesenen Zeilen (das Laden zählt "
                 "alle Zeilen)"),
    "status": ("Status", "Status"),
    "cancelled": ("Cancellation date set", "Stornodatum gesetzt"),
    "orders": ("Orders", "Bestellungen"),
    "included": ("Loaded", "Geladen"),
    "converted": ("First rows of the converted tables", "Erste Zeilen der umgewandelten Tabellen"),
    "hash": ("Store e-mail addresses hashed", "E-Mail-Adressen gehasht speichern"),
    "hash_help": ("The customer key is then a SHA-256 hash of the e-mail address, salted with the dataset's id, "
                  "instead of the address: loading again into the same dataset gives the same keys, and two "
                  "datasets cannot be joined on them. A hash is pseudonymous, not anonymous: whoever has an "
                  "address and the dataset's id can compute its key.",
                  "Der Kundenschlüssel ist dann ein SHA-256-Hash der E-Mail-Adresse, mit der Kennung des "
                  "Datensatzes gesalzen, statt der Adresse: erneutes Laden in denselben Datensatz ergibt "
                  "dieselben Schlüssel, und zwei Datensätze lassen sich darüber nicht verknüpfen. Ein Hash ist "
                  "pseudonym, nicht anonym: wer eine Adresse und die Kennung des Datensatzes hat, kann ihren "
                  "Schlüssel berechnen."),
    "merged": ("The {n} recognised exports are loaded together, merged by customer (the e-mail address).",
               "Die {n} erkannten Exporte werden zusammen geladen, nach Kunde (E-Mail-Adresse) zusammengeführt."),
    "export_alone": ("{files}: a recognised shop or CRM export loads on its own. Set the other files to “do "
                     "not load” or remove them, load the export, then upload the other files into its dataset.",
                     "{files}: Ein erkannter Shop- oder CRM-Export wird für sich geladen. Die anderen Dateien auf "
                     "„nicht laden“ setzen oder entfernen, den Export laden und danach die anderen Dateien in "
                     "seinen Datensatz hochladen."),
}

#: What the uploader accepts (the loader decides by content, not by name, and refuses the rest in one line).
TYPES = ["csv", "txt", "tsv", "gz", "zip", "xlsx", "xlsm", "xls", "xlsb", "ods", "parquet"]
#: The checkbox "store e-mail addresses hashed" (one for all exports of an upload: they are merged by that key).
HASH_KEY = "w.data.hash_emails"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet_key(upload_id: str) -> str:
    return f"w.data.sheet.{upload_id}"


class Source(upload.Part):
    """A Part as the page shows it: also the workbook's sheets and the sheet's header row."""

    sheets: list[str] = []
    header_row: int | None = None


# --------------------------------------------------------------------------- cached reads of an upload

@st.cache_data(show_spinner=False, max_entries=64)
def _kind(file_id: str, _f) -> str:
    return upload.kind_of(_f)


@st.cache_data(show_spinner=False, max_entries=32)
def _sheets(file_id: str, _f) -> list[str]:
    return upload.sheets(_f)


@st.cache_data(show_spinner=False, max_entries=16)
def _book_head(file_id: str, sheet: str | None, name: str, _f) -> tuple[bytes, str, int]:
    """(first rows as CSV, the sheet read, its header row) of a workbook's sheet (None: the loader's default)."""
    head, converted = upload.sheet_head(_f, sheet, name=name)
    return head, converted.sheet, converted.header_row


@st.cache_data(show_spinner=False, max_entries=16)
def _head(file_id: str, table: str | None, _f) -> bytes:
    """upload.head of a Parquet file (converted) or of a zip archive's CSV file for ``table``."""
    return upload.head(_f, table=table)


@st.cache_data(show_spinner=False, max_entries=32)
def _archive(file_id: str, name: str, _f) -> dict[str, str] | str:
    """Table -> member of a zip archive of CSV files, or the one-line reason it cannot be read."""
    try:
        return ingest.archive_tables(_f, name)
    except ingest.IngestError as exc:
        return str(exc)


@st.cache_data(show_spinner=False, max_entries=64)
def _recognised(source_id: str, name: str, _head_bytes: bytes) -> str | None:
    """The key of the export preset the upload's header row is recognised as, else None."""
    try:
        headers = ingest.sniff(_head_bytes, schema.TABLES[0], name=name).headers
    except ingest.IngestError:
        return None
    recognition = presets.recognise(headers)
    return recognition.preset.key if recognition else None


@st.cache_data(show_spinner=False, max_entries=16)
def _preview(source_id: str, name: str, _head_bytes: bytes):
    """presets.preview of an export's head: (conversion, first rows per table); the one-line reason on failure."""
    try:
        return presets.preview(_head_bytes, name)
    except ingest.IngestError as exc:
        return str(exc)


@st.cache_data(show_spinner=False, max_entries=32)
def _inspect(source_id: str, name: str, table: str, _head_bytes: bytes) -> upload.Inspection:
    return upload.inspect(_head_bytes, name, table)


# --------------------------------------------------------------------------- what an upload holds

def source_of(f):
    """The upload as the source it loads from: a workbook as its chosen sheet (the select box's value, else the
    loader's default), a Parquet file with its converted head cached; anything else as it is."""
    kind = _kind(f.file_id, f)
    if kind == "parquet":
        try:
            return Source(f, f.file_id, f.name, known_head=_head(f.file_id, None, f))
        except ingest.IngestError:
            return f
    if kind != "workbook":
        return f
    names = _sheets(f.file_id, f)
    chosen = st.session_state.get(sheet_key(f.file_id))
    if chosen not in names:
        chosen = None  # the loader's default
    try:
        head, sheet, header_row = _book_head(f.file_id, chosen, f.name, f)
    except ingest.IngestError:
        head, sheet, header_row = None, chosen, None  # the panel shows why (upload.head raises it again)
    # one set of widgets per sheet (its headers differ); a workbook of one sheet keeps the upload's id
    file_id = f"{f.file_id}.{names.index(sheet)}" if len(names) > 1 and sheet in names else f.file_id
    source = Source(f, file_id, f.name, sheet=sheet, known_head=head)
    source.sheets, source.header_row = names, header_row
    return source


def sheet_box(f) -> None:
    """Inside an upload's panel: the sheet choice of a workbook of several sheets (its key holds the sheet's
    name) and the header row found (title rows above it are skipped). Nothing for other files, nor for a
    workbook of one sheet whose header is its first row."""
    if not isinstance(f, Source) or not f.sheets or (len(f.sheets) == 1 and (f.header_row or 1) == 1):
        return  # no choice, and nothing skipped above the header
    box, found = st.columns(2, vertical_alignment="bottom")
    if len(f.sheets) > 1:
        index = f.sheets.index(f.sheet) if f.sheet in f.sheets else 0
        box.selectbox(t("sheet", TEXT), f.sheets, index=index, key=sheet_key(f.upload.file_id),
                      help=t("sheet_help", TEXT))
    if f.header_row:
        (found if len(f.sheets) > 1 else box).caption(t("header_row_below" if f.header_row > 1 else "header_row",
                                                        TEXT, row=format_number(f.header_row, view().lang)))


def plans(files: list, per_file, draw: bool = True) -> list[dict]:
    """The load plans of the uploads: a zip archive of several CSV files and a recognised export by this module
    (drawn when ``draw``), any other upload by the page's ``per_file`` (its panel, or its plan from the widgets'
    state in the Load callback) on its source (:func:`source_of`). Ends with the checkbox "store e-mail
    addresses hashed" when an export is among them."""
    out: list[dict] = []
    for f in files:
        if _kind(f.file_id, f) == "zip":
            members = _archive(f.file_id, f.name, f)
            if isinstance(members, str) or len(members) > 1:
                out += _zip_plans(f, members, draw)
                continue
        source = source_of(f)
        try:
            head = upload.head(source)
        except ingest.IngestError:
            head = None
        preset = _recognised(source.file_id, source.name, head) if head else None
        if preset:
            out += _export_plans(source, head, draw)
            continue
        plan = per_file(source)
        if plan is not None:
            out.append(plan)
    exports = _exports(out)
    if draw and exports:
        if len(exports) > 1:
            st.caption(t("merged", TEXT, n=len(exports)))
        st.checkbox(t("hash", TEXT), key=HASH_KEY, help=t("hash_help", TEXT))
    return out


def _panel_heading(f) -> None:
    st.markdown(f"**{md(f.name)}** · {_file_size(f.size)}")


def _zip_plans(f, members: dict[str, str] | str, draw: bool) -> list[dict]:
    """A zip archive of several CSV files: one plan per table (its member read by the synonyms' mapping)."""
    lang = view().lang
    if isinstance(members, str):
        if draw:
            with st.container(border=True):
                _panel_heading(f)
                st.error(md(members))
        return []
    out = []
    box = st.container(border=True) if draw else None
    if draw:
        with box:
            _panel_heading(f)
            st.caption(t("zip", TEXT, n=len(members)))
            st.dataframe(pd.DataFrame({"member": list(members.values()),
                                       "table": [table_name(n, lang) for n in members]}),
                         hide_index=True, column_config={"member": t("member", TEXT), "table": t("table", TEXT)})
    for name, member in members.items():
        part = Source(f, f"{f.file_id}.{name}", f"{f.name}/{member}", table=name)
        try:
            part.known_head = _head(f.file_id, name, f)
            inspection = _inspect(part.file_id, part.name, name, part.known_head)
        except (ingest.IngestError, ValueError) as exc:
            if draw:
                with box:
                    st.error(t("unreadable", TEXT, name=md(part.name), error=md(str(exc))))
            out.append({"file": part, "table": name, "mapping": {}, "date_formats": {},
                        "problems": {"unreadable": [str(exc)]}})
            continue
        problems = upload.mapping_problems(name, inspection.headers, {})
        problems = {k: v for k, v in problems.items() if v}
        if draw:
            with box:
                if problems.get("missing"):
                    st.error(t("zip_missing", TEXT, member=md(member), kind=table_name(name, lang),
                               columns=", ".join(problems["missing"])))
                st.caption(t("first_rows_of", TEXT, member=md(member), kind=table_name(name, lang)))
                st.dataframe(inspection.preview(), hide_index=True, width="stretch", placeholder="")
        out.append({"file": part, "table": name, "mapping": {}, "date_formats": {}, "problems": problems})
    return out


def _export_plans(source, head: bytes, draw: bool) -> list[dict]:
    """A recognised export: its recognition, the mapping it applies, the orders by status and the notes, the
    first rows of the tables it makes; one plan per table (marked ``preset``), loaded by :func:`load`."""
    lang = view().lang
    preview = _preview(source.file_id, source.name, head)
    box = st.container(border=True) if draw else None
    if draw:
        with box:
            _panel_heading(source)
            sheet_box(source)
    if isinstance(preview, str):
        if draw:
            with box:
                st.error(md(preview))
        return []
    conversion, frames = preview
    if draw:
        with box:
            st.success(conversion.recognition.message(lang))
            st.markdown(f"**{t('mapping', TEXT)}**")
            st.caption(t("mapping_help", TEXT))
            st.dataframe(conversion.mapping_frame(lang), hide_index=True, width="stretch", column_config={
                "table": st.column_config.TextColumn(t("table", TEXT), width="small"),
                "column": st.column_config.TextColumn(t("column", TEXT), width="small"),
                "source": st.column_config.TextColumn(t("source", TEXT), width="medium"),
                "rule": st.column_config.TextColumn(t("rule", TEXT), width="large")})
            if len(conversion.statuses):
                st.caption(t("statuses", TEXT, n=format_number(conversion.rows_read, lang)))
                st.dataframe(conversion.statuses, hide_index=True, column_config={
                    "status": t("status", TEXT),
                    "cancelled": st.column_config.CheckboxColumn(t("cancelled", TEXT)),
                    "orders": st.column_config.NumberColumn(t("orders", TEXT)),
                    "included": st.column_config.CheckboxColumn(t("included", TEXT))})
            for note in conversion.notes:
                st.info(md(note[1] if lang == "de" else note[0]))
            with st.expander(t("converted", TEXT)):
                for name, frame in frames.items():
                    st.caption(table_name(name, lang))
                    st.dataframe(frame, hide_index=True, width="stretch", placeholder="")
    key = conversion.recognition.preset.key
    return [{"file": source, "table": name, "mapping": {}, "date_formats": {}, "problems": {}, "preset": key}
            for name in conversion.files]


def _exports(plans: list[dict]) -> list:
    """The recognised exports among the plans, each once, in upload order."""
    found = []
    for plan in plans:
        if plan.get("preset") and all(plan["file"] is not e for e in found):
            found.append(plan["file"])
    return found


def canonical(plans: list[dict]) -> list[dict]:
    """The plans of files read as canonical tables (not of a recognised export, whose tables are merged)."""
    return [p for p in plans if not p.get("preset")]


def blockers(plans: list[dict]) -> list[str]:
    """What stops loading these plans beyond the page's own checks: a recognised export together with other
    files (an export loads on its own: its tables are made by the conversion, the others' by the mapping)."""
    exports = _exports(plans)
    others = [p for p in canonical(plans) if p["table"] in schema.TABLES]
    if exports and others:
        return [t("export_alone", TEXT, files=md(", ".join(e.name for e in exports)))]
    return []


def load(dataset, plans: list[dict], sources: dict, **options) -> ingest.IngestReport:
    """Load the plans' sources into ``dataset`` (``options``: mapping, date_formats, names, create as for
    ingest.load): recognised exports by ``presets.load_many`` (merged; e-mail addresses hashed as the checkbox
    says, salted by the dataset's id), other files by ``ingest.load`` with their sheets."""
    exports = _exports(plans)
    if exports:
        for export in exports:
            export.seek(0)
        sheets = {i: e.sheet for i, e in enumerate(exports) if getattr(e, "sheet", None) is not None}
        report, _ = presets.load_many(dataset, [(e, e.name) for e in exports],
                                      hash_ids=bool(st.session_state.get(HASH_KEY)), salt=dataset.id,
                                      sheets=sheets or None, create=options.get("create", False))
        return report
    sheets = {p["table"]: p["file"].sheet for p in plans if getattr(p["file"], "sheet", None) is not None}
    if sheets:
        options["sheets"] = sheets
    return ingest.load(dataset, sources, **options)


# --------------------------------------------------------------------------- formats line and templates

def intro() -> None:
    """Under the upload's help: the formats beyond CSV."""
    st.caption(t("formats", TEXT))


def templates_section() -> None:
    """At the end of the upload section: an empty CSV file and an Excel workbook (its second sheet explains each
    column in the UI language) per table, built when clicked."""
    lang = view().lang
    with st.expander(t("templates", TEXT), icon=":material/download:"):
        st.caption(t("templates_help", TEXT))
        for name in schema.TABLES:
            label, csv_cell, xlsx_cell, _ = st.columns([2, 1, 1, 3], vertical_alignment="center")
            label.markdown(table_name(name, lang))
            csv_cell.download_button(t("csv", TEXT), lambda name=name: templates.csv_template(name),
                                     file_name=templates.file_name(name, "csv", lang), mime="text/csv",
                                     key=f"w.data.template.{name}.csv", icon=":material/description:")
            xlsx_cell.download_button(t("excel", TEXT), lambda name=name: templates.excel_template(name, lang),
                                      file_name=templates.file_name(name, "xlsx", lang), mime=XLSX,
                                      key=f"w.data.template.{name}.xlsx", icon=":material/table_view:")


def _file_size(size) -> str:
    lang = view().lang
    if size is None:
        return ""
    if size < 1e3:
        return f"{size} B"
    if size < 1e6:
        return f"{format_number(size / 1e3, lang, 1)} KB"
    return f"{format_number(size / 1e6, lang, 1)} MB"
