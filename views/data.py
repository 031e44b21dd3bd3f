"""Data: upload CSV exports (table, detected formats, header mapping, preview), load them, the ingest
report with the rejected rows, renaming/deleting datasets, and (with sign-in) the workspace's members.

Works on an empty database (this is where users start): it never calls
``context()``; writes go through the process connection ``data.root()`` and name the session's principal
(``auth.principal()``), which the store checks: uploads and renames for editors, deletes and members for
admins (the controls of a higher role are not drawn; a forged action is refused by the store all the same).
Deleting a dataset and replacing tables of one by a load ask for a confirmation naming the dataset; a load
goes into a new dataset unless the user picks an existing one. Each column of an upload has a select box for
what it holds (a canonical column, by its display name, or "keep as attribute"), the synonyms pre-selected.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from clm_core import access, i18n, ingest, schema, store, upload
from clm_core.config import LifecycleConfig
from clm_core.i18n import format_number, reason_label, tr
from clm_core.i18n import table_label as table_name
from clm_core.metrics.common import resolve_as_of
from clm_core.models import prepare
from clm_ui import auth, data, upload_formats
from clm_ui.auth import md
from clm_ui.page import current_dataset
from clm_ui.sidebar import select_dataset
from clm_ui.state import t, update, view
from clm_ui.widgets import table

TEXT = {
    "title": ("Data", "Daten"),
    "upload_heading": ("Upload exports", "Exporte hochladen"),
    "upload_help": ("Customers, transactions, events, NPS answers and campaigns as CSV files, several at once, "
                    "up to {size} MB each. Delimiter, decimal separator, encoding (UTF-8, Windows-1252) and date "
                    "format are detected; German exports (`;`, `1.234,56`, `31.12.2024`) work as they are.",
                    "Kunden, Transaktionen, Ereignisse, NPS-Antworten und Kampagnen als CSV-Dateien, mehrere auf "
                    "einmal, bis {size} MB je Datei. Trennzeichen, Dezimaltrennzeichen, Kodierung (UTF-8, "
                    "Windows-1252) und Datumsformat werden erkannt; deutsche Exporte (`;`, `1.234,56`, "
                    "`31.12.2024`) funktionieren unverändert."),
    "uploader": ("Upload files", "Dateien hochladen"),
    "table": ("Table", "Tabelle"),
    "skip": ("— do not load —", "— nicht laden —"),
    "not_recognised": ("The headers match no table: choose the table and map the columns below.",
                       "Die Spalten passen zu keiner Tabelle: Tabelle wählen und Spalten unten zuordnen."),
    "delimiter": ("Delimiter", "Trennzeichen"),
    "decimal": ("Decimal separator", "Dezimaltrennzeichen"),
    "encoding": ("Encoding", "Kodierung"),
    "dates": ("Date format", "Datumsformat"),
    "date_of": ("Date format of {column}", "Datumsformat von {column}"),
    "auto": ("detected: {family}", "erkannt: {family}"),
    "auto_none": ("detect on load", "beim Laden erkennen"),
    "none": ("none", "keins"),
    "mapping": ("Header mapping", "Spaltenzuordnung"),
    "mapping_help": ("For each column of your file, choose what it holds; recognised names are pre-selected. "
                     "“Keep as attribute” loads a column unchanged as an extra field (for customers, a segment "
                     "filter), also one whose name was recognised.",
                     "Für jede Spalte Ihrer Datei wählen, was sie enthält; erkannte Namen sind vorausgewählt. "
                     "„Als Merkmal behalten“ lädt eine Spalte unverändert als zusätzliches Feld (bei Kunden ein "
                     "Segmentfilter), auch eine mit erkanntem Namen."),
    "mapping_all": ("All {n} columns of the file ({k} recognised)", "Alle {n} Spalten der Datei ({k} erkannt)"),
    "example": ("e.g. {value}", "z. B. {value}"),
    "no_example": ("empty in the first rows", "in den ersten Zeilen leer"),
    "attribute": ("Keep as attribute", "Als Merkmal behalten"),
    "required": ("required", "Pflicht"),
    "preview": ("First rows", "Erste Zeilen"),
    "missing": ("Required column missing: {columns}. Choose it for one of the file's columns above.",
                "Pflichtspalte fehlt: {columns}. Bitte oben bei einer Spalte der Datei auswählen."),
    "duplicate": ("Several columns of the file are set to {columns}; choose it for one only.",
                  "Mehrere Spalten der Datei sind auf {columns} gesetzt; bitte nur bei einer auswählen."),
    "two_files": ("Several files are set to {kind}: {files}. Choose one (set the others to “do not load”).",
                  "Mehrere Dateien sind {kind} zugeordnet: {files}. Bitte eine wählen (die anderen auf "
                  "„nicht laden“)."),
    "unreadable": ("{name}: {error}", "{name}: {error}"),
    "target": ("Load into dataset", "Laden in Datensatz"),
    "new_dataset": ("New dataset…", "Neuer Datensatz…"),
    "target_help": ("A new dataset unless you choose an existing one: loading into an existing dataset replaces "
                    "its tables of the same kind.",
                    "Ein neuer Datensatz, außer Sie wählen einen bestehenden: Laden in einen bestehenden "
                    "Datensatz ersetzt dessen Tabellen derselben Art."),
    "new_name": ("Name of the new dataset", "Name des neuen Datensatzes"),
    "default_name": ("Upload {date}", "Upload {date}"),
    "replaces": ("Loading a table replaces that table of the dataset, so loading a file again never doubles "
                 "the data; within a file, repeated transaction_id lines are rejected as duplicates. "
                 "All files load together or not at all.",
                 "Das Laden einer Tabelle ersetzt diese Tabelle des Datensatzes; erneutes Laden verdoppelt die "
                 "Daten also nie. Innerhalb einer Datei werden wiederholte transaction_id-Zeilen als Duplikate "
                 "abgelehnt. Alle Dateien werden gemeinsam geladen oder gar nicht."),
    "will_replace": ("Replaces in “{dataset}”: {tables}.", "Ersetzt in „{dataset}“: {tables}."),
    "load": ("Load", "Laden"),
    "nothing_to_load": ("Choose a table for at least one file.", "Mindestens einer Datei eine Tabelle zuordnen."),
    "name_needed": ("The new dataset needs a name.", "Der neue Datensatz braucht einen Namen."),
    "loading": ("Loading {n} file(s) into “{dataset}”…", "Lade {n} Datei(en) in „{dataset}“…"),
    "reading": ("Reading {name} as {kind}", "Lese {name} als {kind}"),
    "validating": ("Checking and writing all tables", "Prüfe und schreibe alle Tabellen"),
    "loaded": ("Loaded into “{dataset}”.", "In „{dataset}“ geladen."),
    "failed": ("Nothing was loaded.", "Es wurde nichts geladen."),
    "report": ("Ingest report", "Importbericht"),
    "report_for": ("Last load into “{dataset}” at {time}.", "Letzter Import in „{dataset}“ um {time}."),
    "rows_read": ("Rows read", "Zeilen gelesen"),
    "rows_loaded": ("Rows loaded", "Zeilen geladen"),
    "rows_rejected": ("Rows rejected", "Zeilen abgelehnt"),
    "detected": ("Detected", "Erkannt"),
    "file": ("File", "Datei"),
    "attributes": ("Kept as attributes", "Als Merkmale behalten"),
    "no_rejects": ("Every row was loaded.", "Alle Zeilen wurden geladen."),
    "rejects": ("{n} row(s) were rejected; they are listed with their line and reason.",
                "{n} Zeile(n) wurden abgelehnt; sie stehen unten mit Zeilennummer und Grund."),
    "rejected_rows": ("Rejected rows", "Abgelehnte Zeilen"),
    "line": ("Line", "Zeile"),
    "reason": ("Reason", "Grund"),
    "capped": ("Only the first {shown} rejected rows of {kind} are listed (of {total}).",
               "Von {kind} sind nur die ersten {shown} abgelehnten Zeilen aufgeführt (von {total})."),
    "hide_report": ("Hide report", "Bericht ausblenden"),
    "datasets": ("Datasets", "Datensätze"),
    "no_datasets": ("No dataset yet: upload your CSV exports above to create the first one.",
                    "Noch kein Datensatz: oben die CSV-Exporte hochladen, um den ersten anzulegen."),
    "name": ("Name", "Name"),
    "tables": ("Tables (rows)", "Tabellen (Zeilen)"),
    "current": ("Current", "Aktuell"),
    "manage": ("Manage “{dataset}” (the dataset chosen in the sidebar)",
               "„{dataset}“ verwalten (der in der Seitenleiste gewählte Datensatz)"),
    "new_dataset_name": ("New name", "Neuer Name"),
    "rename": ("Rename", "Umbenennen"),
    "renamed": ("Renamed to “{dataset}”.", "Umbenannt in „{dataset}“."),
    "delete": ("Delete dataset", "Datensatz löschen"),
    "confirm_delete": ("Delete “{dataset}” with all its tables ({tables})? This cannot be undone.",
                       "„{dataset}“ mit allen Tabellen ({tables}) löschen? Das lässt sich nicht rückgängig machen."),
    "yes_delete": ("Yes, delete", "Ja, löschen"),
    "cancel": ("Cancel", "Abbrechen"),
    "deleted": ("Deleted “{dataset}”.", "„{dataset}“ gelöscht."),
    "empty": ("no tables", "keine Tabellen"),
    "no_datasets_viewer": ("No dataset in this workspace yet.", "Noch kein Datensatz in diesem Arbeitsbereich."),
    "confirm_replace": ("Yes, replace {tables} in “{dataset}”", "Ja, {tables} in „{dataset}“ ersetzen"),
    "confirm_replace_needed": ("Confirm that the load replaces the tables of “{dataset}”.",
                               "Bitte bestätigen, dass das Laden die Tabellen von „{dataset}“ ersetzt."),
    "read_only": ("Your role in this workspace is {role}: you can look at the data and save views; uploads are "
                  "for editors.",
                  "Ihre Rolle in diesem Arbeitsbereich ist {role}: Sie können die Daten ansehen und Ansichten "
                  "speichern; Hochladen ist Bearbeitern vorbehalten."),
    "members": ("Members of “{workspace}”", "Mitglieder von „{workspace}“"),
    "email": ("Email", "E-Mail"),
    "role": ("Role", "Rolle"),
    "add_member": ("Add or change member", "Mitglied hinzufügen oder ändern"),
    "save_member": ("Save member", "Mitglied speichern"),
    "member_saved": ("{email} is now {role}.", "{email} ist jetzt {role}."),
    "remove_member": ("Remove member", "Mitglied entfernen"),
    "member_removed": ("{email} was removed.", "{email} wurde entfernt."),
    "bad_email": ("That is not an email address.", "Das ist keine E-Mail-Adresse."),
    "no_members": ("No members yet besides the configured admins.",
                   "Außer den konfigurierten Admins noch keine Mitglieder."),
    "new_workspace": ("New workspace", "Neuer Arbeitsbereich"),
    "create_workspace": ("Create workspace", "Arbeitsbereich anlegen"),
    "workspace_created": ("Workspace “{workspace}” created; choose it in the sidebar.",
                          "Arbeitsbereich „{workspace}“ angelegt; in der Seitenleiste auswählen."),
}
#: Display names of the tables and canonical columns (DESIGN §2): the app's one list, clm_core.i18n (the
#: same names in the sidebar, the breakdowns and the table headers).
TABLE_LABELS, COLUMN_LABELS = i18n.TABLE_LABELS, i18n.FIELD_LABELS
#: More columns than this: the mapping's select boxes sit in an expander.
MANY_COLUMNS = 30
PER_ROW = 3  # select boxes side by side
SKIP = "__skip__"
NEW = "__new__"
REPORT_KEY = "data.report"
ERROR_KEY = "data.error"
ROUND_KEY = "data.upload_round"
CONFIRM_KEY = "data.confirm_delete"
NOTICE_KEY = "data.notice"
REPLACE_KEY = "w.data.confirm_replace"
DENIED_KEY = "data.denied"

lang = view().lang
acting = auth.principal()


def column_label(table_name: str, canonical: str) -> str:
    """A mapping choice for display: "Erstellt am (created_at)", "· Pflicht" on required columns (in the page's
    language also when called outside the script run, e.g. by a test reading the select box)."""
    if canonical == upload.ATTRIBUTE:
        return tr("attribute", lang, TEXT)
    pair = COLUMN_LABELS.get(canonical)
    text = f"{pair[1] if lang == 'de' else pair[0]} ({canonical})" if pair else canonical
    if any(c.name == canonical and c.required for c in schema.columns(table_name)):
        text += f" · {tr('required', lang, TEXT)}"
    return text


def table_label(name: str) -> str:
    if name == SKIP:
        return t("skip", TEXT)
    pair = TABLE_LABELS.get(name)
    return f"{pair[1] if lang == 'de' else pair[0]} ({name})" if pair else name


@st.cache_data(show_spinner=False, max_entries=64)
def _inspect(file_id: str, name: str, table: str | None, choices: tuple, _head: bytes) -> upload.Inspection:
    """The inspection of an upload's head, cached per (upload, table, mapping choices)."""
    return upload.inspect(_head, name, table, dict(choices))


def table_key(fid: str) -> str:
    return f"w.data.table.{fid}"


def map_key(fid: str, name: str, position: int) -> str:
    """The select box of the header at ``position`` (0-based) when the file is read as table ``name``."""
    return f"w.data.map.{fid}.{name}.{position}"


def date_key(fid: str, name: str, column: str) -> str:
    return f"w.data.datefmt.{fid}.{name}.{column}"


def base_inspection(f) -> upload.Inspection:
    """The upload as guessed from its headers (raises IngestError for an unreadable file)."""
    return _inspect(f.file_id, f.name, None, (), upload.head(f))


def proposed_choice(base: upload.Inspection, name: str) -> list[str]:
    """Per header (in file order) its pre-selected choice: the synonyms' canonical column, else ATTRIBUTE."""
    proposed = schema.propose_mapping(name, base.headers)
    return [proposed.get(h, upload.ATTRIBUTE) for h in base.headers]


def choices_from_state(fid: str, base: upload.Inspection, name: str) -> dict[str, str]:
    """Header -> canonical column or upload.ATTRIBUTE: the select boxes' values, the proposal where unset."""
    canonical = {c.name for c in schema.columns(name)}
    choices = {}
    for i, (header, default) in enumerate(zip(base.headers, proposed_choice(base, name))):
        picked = st.session_state.get(map_key(fid, name, i), default)
        choices[header] = picked if picked in canonical else upload.ATTRIBUTE
    return choices


def plan_of(f, name: str, choices: dict[str, str], base: upload.Inspection) -> dict:
    """What loading this file means: its table, the mapping and date formats to pass, what blocks it."""
    if name == SKIP:
        return {"file": f, "table": SKIP, "problems": {}}
    overrides = {}
    for column in schema.columns(name):
        picked = st.session_state.get(date_key(f.file_id, name, column.name))
        if column.kind == "date" and picked:
            overrides[column.name] = picked
    problems = upload.mapping_problems(name, base.headers, choices)
    return {"file": f, "table": name, "mapping": upload.explicit_mapping(choices), "date_formats": overrides,
            "problems": {k: v for k, v in problems.items() if v}, "choices": choices}


def plan_from_state(f) -> dict | None:
    """The plan of an upload from the widgets' session state (for the Load callback: always current)."""
    try:
        base = base_inspection(f)
    except ingest.IngestError:
        return None
    name = st.session_state.get(table_key(f.file_id), base.guessed or SKIP)
    if name == SKIP:
        return plan_of(f, SKIP, {}, base)
    return plan_of(f, name, choices_from_state(f.file_id, base, name), base)


def file_panel(f) -> dict | None:
    """Detected formats, table choice, mapping editor and preview of one upload; its load plan."""
    fid = f.file_id
    with st.container(border=True):
        st.markdown(f"**{md(f.name)}** · {file_size(f.size)}")
        upload_formats.sheet_box(f)  # a workbook of several sheets: which one
        try:
            base = base_inspection(f)
        except ingest.IngestError as exc:
            st.error(t("unreadable", TEXT, name=md(f.name), error=md(str(exc))))
            return None
        options = [SKIP, *schema.TABLES]
        left, c1, c2, c3 = st.columns([2, 1, 1, 1.4])  # room for "Dezimaltrennzeichen"
        chosen = left.selectbox(t("table", TEXT), options, index=options.index(base.guessed or SKIP),
                                format_func=table_label, key=table_key(fid))
        fact(c1, t("delimiter", TEXT), upload.DELIMITERS.get(base.delimiter, base.delimiter))
        fact(c2, t("encoding", TEXT), upload.ENCODINGS.get(base.encoding, base.encoding))
        if base.guessed is None:
            st.warning(t("not_recognised", TEXT))
        if chosen == SKIP:
            st.caption(t("preview", TEXT))
            st.dataframe(base.preview(), hide_index=True, width="stretch", placeholder="")  # empty stays empty
            return plan_of(f, SKIP, {}, base)

        choices = mapping_boxes(fid, base, chosen)
        try:
            # the guessed table with the synonyms' mapping is what the first inspection already read: not again
            inspection = (base if upload.same_reading(base, chosen, choices)
                          else _inspect(fid, f.name, chosen, tuple(sorted(choices.items())), upload.head(f)))
        except (ingest.IngestError, ValueError) as exc:
            st.error(t("unreadable", TEXT, name=md(f.name), error=md(str(exc))))
            return None
        problems = upload.mapping_problems(chosen, base.headers, choices)
        if problems["missing"]:
            st.error(t("missing", TEXT, columns=", ".join(column_label(chosen, c) for c in problems["missing"])))
        if problems["duplicate"]:
            st.error(t("duplicate", TEXT, columns=", ".join(column_label(chosen, c) for c in problems["duplicate"])))

        # Formats detected on the first rows; a date format can be set explicitly.
        fact(c3, t("decimal", TEXT), inspection.decimal or t("none", TEXT))
        date_columns = [c.name for c in schema.columns(chosen)
                        if c.kind == "date" and c.name in inspection.sniffed.mapping.values()]
        families = list(ingest.DATE_FAMILIES)
        for col, column in zip(st.columns(max(len(date_columns), 3)), date_columns):
            found = inspection.date_formats.get(column)
            auto = t("auto", TEXT, family=found) if found else t("auto_none", TEXT)
            col.selectbox(t("date_of", TEXT, column=column), ["", *families],
                          format_func=lambda v, auto=auto: v or auto, key=date_key(fid, chosen, column))
        plan = plan_of(f, chosen, choices, base)
        if inspection.problem and not plan["date_formats"]:
            st.warning(inspection.problem)
        st.caption(t("preview", TEXT))
        st.dataframe(inspection.preview(), hide_index=True, width="stretch", placeholder="")
        return plan


def mapping_boxes(fid: str, base: upload.Inspection, name: str) -> dict[str, str]:
    """One select box per header of the file: what it holds (a canonical column of table ``name``, display name
    in the UI language) or "keep as attribute"; the synonyms' proposal pre-selected. Beyond MANY_COLUMNS headers
    they sit in an expander (open while a required column is missing). Returns header -> choice."""
    options = [upload.ATTRIBUTE, *(c.name for c in schema.columns(name))]
    defaults = proposed_choice(base, name)
    st.markdown(f"**{t('mapping', TEXT)}**")
    st.caption(t("mapping_help", TEXT))
    area = st.container()
    if len(base.headers) > MANY_COLUMNS:
        current = choices_from_state(fid, base, name)
        problems = upload.mapping_problems(name, base.headers, current)
        recognised = sum(1 for c in current.values() if c)
        area = st.expander(t("mapping_all", TEXT, n=len(base.headers), k=recognised),
                           expanded=bool(problems["missing"] or problems["duplicate"]))
    choices: dict[str, str] = {}
    with area:
        for start in range(0, len(base.headers), PER_ROW):
            row = st.columns(PER_ROW)
            for cell, i in zip(row, range(start, min(start + PER_ROW, len(base.headers)))):
                header = base.headers[i]
                label = md(header) if str(header).strip() else f"({i + 1})"
                picked = cell.selectbox(label, options, index=options.index(defaults[i]),
                                        format_func=lambda c: column_label(name, c), key=map_key(fid, name, i))
                example = _first_value(base.sample.iloc[:, i]) if i < base.sample.shape[1] else ""
                cell.caption(t("example", TEXT, value=md(example)) if example else t("no_example", TEXT))
                choices[header] = picked or upload.ATTRIBUTE
    return choices


def blockers(plans: list[dict], target: str, new_name: str) -> list[str]:
    """Messages for what stops the Load button (problems inside a file are shown in its panel)."""
    messages = []
    if any(p["problems"] for p in plans):
        messages.append("")  # shown in the file's panel
    by_table: dict[str, list[str]] = {}
    for plan in upload_formats.canonical(plans):  # a recognised export's tables are merged, not counted
        if plan["table"] != SKIP:
            by_table.setdefault(plan["table"], []).append(plan["file"].name)
    for name, names in by_table.items():
        if len(names) > 1:
            messages.append(t("two_files", TEXT, kind=table_label(name), files=md(", ".join(names))))
    if not by_table and len(upload_formats.canonical(plans)) == len(plans):
        messages.append(t("nothing_to_load", TEXT))
    messages += upload_formats.blockers(plans)
    if target == NEW and not (new_name or "").strip():
        messages.append(t("name_needed", TEXT))
    return messages


def fact(where, label: str, value: str) -> None:
    """A small label/value pair (what was detected)."""
    where.markdown(f"{md(label)}  \n**`{value}`**" if len(value) == 1 else f"{md(label)}  \n**{md(value)}**")


def file_size(size: int) -> str:
    if size < 1e3:
        return f"{size} B"
    if size < 1e6:
        return f"{format_number(size / 1e3, lang, 1)} KB"
    return f"{format_number(size / 1e6, lang, 1)} MB"


def _first_value(values: pd.Series) -> str:
    present = values.dropna()
    present = present[present.str.strip() != ""]
    return str(present.iloc[0])[:40] if len(present) else ""


def describe_tables(rows: dict[str, int]) -> str:
    if not rows:
        return t("empty", TEXT)
    return ", ".join(f"{table_name(name, lang)} ({format_number(n, lang)})" for name, n in rows.items())


def replaced_tables(dataset_id: str, plans: list[dict]) -> dict[str, int]:
    """Tables (rows) of the dataset that loading ``plans`` into it replaces."""
    existing = store.table_rows(store.get_dataset(data.connection(), dataset_id, auth.principal()))
    loading = {p["table"] for p in plans if p["table"] != SKIP}
    return {name: n for name, n in existing.items() if name in loading}


def load_files(uploader: str) -> None:
    """The Load button's callback: load all planned files in one call (all or nothing).

    Reads the plan from the widgets' state (always current, unlike callback arguments),
    keeps the report or the error in the session and selects the dataset (see
    :func:`select_dataset`). Its progress shows at the top of the page.
    """
    root = data.root()
    acting = auth.principal()
    plans = upload_formats.plans(st.session_state.get(uploader) or [], plan_from_state, draw=False)
    target = st.session_state.get("w.data.target", NEW)
    new_name = (st.session_state.get("w.data.new_name") or "").strip()
    if blockers(plans, target, new_name):
        return  # the page shows why
    wanted = [p for p in plans if p["table"] != SKIP]
    st.session_state.pop(ERROR_KEY, None)
    try:
        # a new dataset is created in the load's transaction: a refused load leaves none behind
        dataset = store.new_dataset(root, new_name, acting) if target == NEW else store.get_dataset(root, target, acting)
    except (access.AccessDenied, KeyError) as exc:
        st.session_state[ERROR_KEY] = auth.denied_text(exc)
        return
    if target != NEW and replaced_tables(dataset.id, plans) and not st.session_state.get(f"{REPLACE_KEY}.{target}"):
        return  # the page asks for the confirmation
    label = dataset.name
    with st.status(t("loading", TEXT, n=len({id(p["file"]) for p in wanted}), dataset=md(label)), expanded=True) as status:
        bar = st.progress(0.0)
        sources, mapping, names, date_formats = {}, {}, {}, {}
        for i, plan in enumerate(wanted):
            f, name = plan["file"], plan["table"]
            bar.progress(i / (len(wanted) + 1), text=t("reading", TEXT, name=md(f.name), kind=table_label(name)))
            f.seek(0)
            sources[name] = f
            names[name] = f.name
            mapping[name] = plan["mapping"]
            if plan["date_formats"]:
                date_formats[name] = plan["date_formats"]
        bar.progress(len(wanted) / (len(wanted) + 1), text=t("validating", TEXT))
        try:
            report = upload_formats.load(dataset, wanted, sources, mapping=mapping, date_formats=date_formats,
                                         names=names, create=target == NEW)
        except Exception as exc:
            if not isinstance(exc, (ingest.IngestError, ValueError, access.AccessDenied, KeyError)):
                raise
            status.update(label=t("failed", TEXT), state="error")
            st.session_state[ERROR_KEY] = (auth.denied_text(exc) if isinstance(exc, (access.AccessDenied, KeyError))
                                           else md(str(exc)))
            return
        bar.progress(1.0)
        status.update(label=t("loaded", TEXT, dataset=md(dataset.name)), state="complete", expanded=False)
    st.session_state[REPORT_KEY] = {"report": report, "dataset": dataset.name, "dataset_id": dataset.id,
                                    "time": dt.datetime.now().strftime("%H:%M")}
    st.session_state[ROUND_KEY] = st.session_state.get(ROUND_KEY, 0) + 1  # empties the uploader
    st.session_state.pop(f"{REPLACE_KEY}.{dataset.id}", None)
    # on Spark the new version is published now, under its spinner, rather than by the next page
    loaded = data.on_engine(store.get_dataset(data.connection(), dataset.id))
    select_dataset(dataset.id)
    # the models of the new version are fitted and stored in the background, before a page asks for them
    if loaded.has("transactions"):
        prepare.start(loaded, resolve_as_of(loaded), LifecycleConfig())


def file_header(r: ingest.TableReport, canonical: str) -> str:
    """The header of the loaded file that became column ``canonical`` (the user's own name for it)."""
    return next((h for h, c in r.sniffed.mapping.items() if c == canonical), canonical)


def show_report(last: dict) -> None:
    report: ingest.IngestReport = last["report"]
    st.subheader(t("report", TEXT))
    st.caption(t("report_for", TEXT, dataset=last["dataset"], time=last["time"]))
    summary = report.summary()
    # tables and reasons in the UI language beside the canonical codes (which the CSV downloads keep)
    summary.insert(0, "table_name", [table_name(n, lang) for n in summary["table"]])
    table(summary, "ingest_report.csv", key="data_report_summary", column_config={
        "table": None, "table_name": st.column_config.TextColumn(t("table", TEXT)),
        "rows_read": st.column_config.NumberColumn(t("rows_read", TEXT)),
        "rows_loaded": st.column_config.NumberColumn(t("rows_loaded", TEXT)),
        "rows_rejected": st.column_config.NumberColumn(t("rows_rejected", TEXT)),
    })
    st.markdown(f"**{t('detected', TEXT)}**")
    detected = upload.detected(report)
    detected["table"] = [table_name(n, lang) for n in detected["table"]]
    detected["date_formats"] = [", ".join(f"{file_header(r, c)}: {f}" for c, f in r.sniffed.date_formats.items())
                                for r in report.tables.values()]
    st.dataframe(detected, hide_index=True, width="stretch", column_config={
        "table": t("table", TEXT), "file": t("file", TEXT), "encoding": t("encoding", TEXT),
        "delimiter": t("delimiter", TEXT), "decimal": t("decimal", TEXT), "date_formats": t("dates", TEXT),
        "attributes": t("attributes", TEXT),
    })
    total = int(summary["rows_rejected"].sum()) if len(summary) else 0
    if total == 0:
        st.success(t("no_rejects", TEXT))
    else:
        st.warning(t("rejects", TEXT, n=format_number(total, lang)))
        st.markdown(f"**{t('rejected_rows', TEXT)}**")
        rejected = upload.rejected_rows(report)
        headers = {name: {c: h for h, c in r.sniffed.mapping.items()} for name, r in report.tables.items()}
        rejected.insert(0, "table_name", [table_name(n, lang) for n in rejected["table"]])
        rejected.insert(3, "reason_text", [reason_label(r, lang, headers.get(n)) for n, r
                                           in zip(rejected["table"], rejected["reason"])])
        table(rejected, "rejected_rows.csv", key="data_report_rejected", column_config={
            "table": None, "reason": None, "table_name": t("table", TEXT), "line": t("line", TEXT),
            "reason_text": t("reason", TEXT)})
        for name, r in report.tables.items():
            if r.rows_rejected > len(r.rejected):
                st.caption(t("capped", TEXT, kind=table_name(name, lang), shown=format_number(len(r.rejected), lang),
                             total=format_number(r.rows_rejected, lang)))
    if st.button(t("hide_report", TEXT), key="w.data.hide_report"):
        st.session_state.pop(REPORT_KEY, None)
        st.rerun()


def manage_datasets() -> None:
    st.subheader(t("datasets", TEXT))
    datasets = store.list_datasets(data.connection(), acting)
    if not datasets:
        st.info(t("no_datasets", TEXT) if acting.can("editor") else t("no_datasets_viewer", TEXT))
        return
    current = current_dataset(view())
    rows = {d.id: store.table_rows(d) for d in datasets}
    overview = pd.DataFrame({
        "name": [d.name for d in datasets],
        "tables": [describe_tables(rows[d.id]) for d in datasets],
        "current": [d.id == current.id for d in datasets],
    })
    st.dataframe(overview, hide_index=True, width="stretch", key="data_datasets", column_config={
        "name": t("name", TEXT), "tables": t("tables", TEXT),
        "current": st.column_config.CheckboxColumn(t("current", TEXT))})

    if not acting.can("editor"):  # viewers: no rename, no delete
        return
    st.markdown(f"**{md(t('manage', TEXT, dataset=current.name))}**")
    new_name = st.columns(2)[0].text_input(t("new_dataset_name", TEXT), value=current.name,
                                           key=f"w.data.rename.{current.id}")
    with st.container(horizontal=True):  # the two actions side by side, under the name
        st.button(t("rename", TEXT), key="w.data.rename_button", on_click=rename, args=(current.id,),
                  disabled=not new_name.strip() or new_name.strip() == current.name)
        if acting.can("admin") and st.button(t("delete", TEXT), key="w.data.delete", icon=":material/delete:"):
            st.session_state[CONFIRM_KEY] = current.id
    if acting.can("admin") and st.session_state.get(CONFIRM_KEY) == current.id:
        with st.columns(2)[0]:
            st.warning(t("confirm_delete", TEXT, dataset=md(current.name), tables=describe_tables(rows[current.id])))
            yes, no = st.columns(2)
            yes.button(t("yes_delete", TEXT), type="primary", key="w.data.delete_yes", on_click=delete,
                       args=(current.id, [d.id for d in datasets if d.id != current.id]))
            no.button(t("cancel", TEXT), key="w.data.delete_no", on_click=st.session_state.pop, args=(CONFIRM_KEY, None))


def rename(dataset_id: str) -> None:
    name = st.session_state.get(f"w.data.rename.{dataset_id}") or ""
    if not name.strip():
        return
    try:
        renamed = store.rename_dataset(store.get_dataset(data.root(), dataset_id, auth.principal()), name)
    except (access.AccessDenied, KeyError) as exc:
        st.session_state[DENIED_KEY] = auth.denied_text(exc)
        return
    st.session_state[NOTICE_KEY] = t("renamed", TEXT, dataset=md(renamed.name))
    update(dataset=renamed.id)  # the sidebar reads the names afresh


def delete(dataset_id: str, remaining: list[str]) -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        dataset = store.get_dataset(data.root(), dataset_id, auth.principal())
        store.delete_dataset(dataset)
    except (access.AccessDenied, KeyError) as exc:
        st.session_state[DENIED_KEY] = auth.denied_text(exc)
        return
    if (st.session_state.get(REPORT_KEY) or {}).get("dataset_id") == dataset_id:
        st.session_state.pop(REPORT_KEY, None)
    st.session_state[NOTICE_KEY] = t("deleted", TEXT, dataset=md(dataset.name))
    select_dataset(remaining[0] if remaining else None)


def upload_section() -> None:
    """Upload, map, preview and load files (editors and admins)."""
    st.subheader(t("upload_heading", TEXT))
    st.markdown(t("upload_help", TEXT, size=st.get_option("server.maxUploadSize")))
    uploader = f"w.data.files.{st.session_state.get(ROUND_KEY, 0)}"
    upload_formats.intro()  # the formats beyond CSV
    files = st.file_uploader(t("uploader", TEXT), type=upload_formats.TYPES, accept_multiple_files=True,
                             key=uploader) or []
    plans = upload_formats.plans(files, file_panel)  # sheets, zip archives, recognised exports

    if files:
        datasets = store.list_datasets(data.connection(), acting)
        options = [NEW] + [d.id for d in datasets]  # a new dataset unless the user picks one
        names_by_id = {d.id: d.name for d in datasets}
        if st.session_state.get("w.data.target") not in options:  # deleted meanwhile, or another workspace's
            st.session_state.pop("w.data.target", None)
        c1, c2 = st.columns(2)
        target = c1.selectbox(t("target", TEXT), options, index=0, help=t("target_help", TEXT),
                              format_func=lambda i: tr("new_dataset", lang, TEXT) if i == NEW else names_by_id[i],
                              key="w.data.target")
        new_name = ""
        blocked = []
        if target == NEW:
            new_name = c2.text_input(t("new_name", TEXT), key="w.data.new_name",
                                     value=t("default_name", TEXT, date=dt.date.today().strftime(
                                         "%d.%m.%Y" if lang == "de" else "%Y-%m-%d")))
        else:
            replaced = replaced_tables(target, plans)
            if replaced:  # replacing a dataset's tables: confirmed by name first
                shown = dict(dataset=md(names_by_id[target]), tables=describe_tables(replaced))
                c2.warning(t("will_replace", TEXT, **shown))
                if not c2.checkbox(t("confirm_replace", TEXT, **shown), key=f"{REPLACE_KEY}.{target}"):
                    blocked.append(t("confirm_replace_needed", TEXT, dataset=md(names_by_id[target])))
        blocked = blockers(plans, target, new_name) + blocked
        for message in blocked:
            if message:
                st.error(message)
        st.info(t("replaces", TEXT))
        st.button(t("load", TEXT), type="primary", disabled=bool(blocked), key="w.data.load", on_click=load_files,
                  args=(uploader,))
    upload_formats.templates_section()  # an empty CSV and Excel file per table


def members_section() -> None:
    """The workspace's members (email, role): add, change, remove (admins, with sign-in only). Emails and
    names are user text: a data frame shows them as plain text, Markdown gets them escaped."""
    root = data.root()
    names = dict(access.list_workspaces(root))
    st.subheader(t("members", TEXT, workspace=md(names.get(acting.workspace, acting.workspace))))
    try:
        members = access.list_members(root, acting)
    except (access.AccessDenied, KeyError) as exc:
        st.error(auth.denied_text(exc))
        return
    if members:
        st.dataframe(pd.DataFrame({"email": [e for e, _ in members],
                                   "role": [auth.role_label(r) for _, r in members]}),
                     hide_index=True, key="data_members",
                     column_config={"email": t("email", TEXT), "role": t("role", TEXT)})
    else:
        st.caption(t("no_members", TEXT))
    with st.form("w.data.member_form", clear_on_submit=True, border=True):
        st.markdown(f"**{t('add_member', TEXT)}**")
        c1, c2 = st.columns([2, 1])
        address = c1.text_input(t("email", TEXT), key="w.data.member_email", max_chars=254)
        role = c2.selectbox(t("role", TEXT), access.ROLES, format_func=auth.role_label, key="w.data.member_role")
        if st.form_submit_button(t("save_member", TEXT)):
            try:
                access.set_member(root, auth.principal(), address, role)
                st.session_state[NOTICE_KEY] = t("member_saved", TEXT, email=auth.email_md(access.normal_email(address)),
                                                 role=auth.role_label(role))
                st.rerun()
            except ValueError:
                st.error(t("bad_email", TEXT))
            except (access.AccessDenied, KeyError) as exc:
                st.error(auth.denied_text(exc))
    others = [e for e, _ in members if e != acting.email]
    if others:
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        gone = c1.selectbox(t("remove_member", TEXT), others, key="w.data.member_remove")
        if c2.button(t("remove_member", TEXT), key="w.data.member_remove_button"):
            try:
                access.remove_member(root, auth.principal(), gone)
                st.session_state[NOTICE_KEY] = t("member_removed", TEXT, email=auth.email_md(gone))
                st.rerun()
            except (access.AccessDenied, KeyError, ValueError) as exc:
                st.error(auth.denied_text(exc))
    if acting.bootstrap:  # the configured admins open workspaces for other teams
        with st.form("w.data.workspace_form", clear_on_submit=True, border=False):
            c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
            name = c1.text_input(t("new_workspace", TEXT), key="w.data.workspace_name", max_chars=100)
            if c2.form_submit_button(t("create_workspace", TEXT)) and name.strip():
                try:
                    access.create_workspace(root, auth.principal(), name)
                    st.session_state[NOTICE_KEY] = t("workspace_created", TEXT, workspace=md(name.strip()))
                    st.rerun()
                except (access.AccessDenied, ValueError) as exc:
                    st.error(auth.denied_text(exc) if isinstance(exc, access.AccessDenied) else str(exc))


# --------------------------------------------------------------------------- the page

st.title(t("title", TEXT))
notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    st.success(notice)
denied = st.session_state.pop(DENIED_KEY, None)
if denied:
    st.error(denied)

if acting.can("editor"):
    upload_section()
else:
    st.caption(t("read_only", TEXT, role=auth.role_label(acting.role)))

if st.session_state.get(ERROR_KEY):
    st.error(st.session_state[ERROR_KEY])
if st.session_state.get(REPORT_KEY):
    show_report(st.session_state[REPORT_KEY])

manage_datasets()
if auth.configured() and acting.can("admin"):
    members_section()
