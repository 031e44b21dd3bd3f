"""The Data page (AppTest): empty database, dataset overview, rename and delete, the kept ingest report.

Uploading through AppTest is not possible: the upload tests below replace ``st.file_uploader`` by a function
that returns in-memory files (what the real one returns: BytesIO with name, size, file_id), so the page's own
panels, select boxes and Load callback run; the upload logic is tested in test_upload.py and the real file input
in the browser tests.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from clm_core import ingest, store, upload
from clm_core.models import prepare

from apptest import APP, page_opener


BROKEN = (
    "Belegnummer;Kundennummer;Bestelldatum;Betrag;Filiale\r\n"
    "T1;000123;01.02.2024;12,50;Köln\r\n"
    "T2;000124;31.02.2024;5,00;Köln\r\n"
    "T3;;01.03.2024;1.234,50;Graz\r\n"
).encode("cp1252")


open_page = page_opener("data")


def names_in(database) -> list[str]:
    con = store.connect(database)
    try:
        return [d.name for d in store.list_datasets(con)]
    finally:
        con.disconnect()


def test_empty_database_shows_the_uploader_and_how_to_start(database):
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "Data"
    assert at.get("file_uploader")[0].label == "Upload files"
    assert [s.value for s in at.subheader] == ["Upload exports", "Datasets"]
    assert "No dataset yet" in at.info[0].value
    assert not at.button  # nothing to load, rename or delete


def test_empty_database_in_german(database):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Daten"
    assert at.get("file_uploader")[0].label == "Dateien hochladen"
    assert "Noch kein Datensatz" in at.info[0].value


def test_demo_data_lists_the_dataset_with_its_tables(demo_db):
    at = open_page()
    assert not at.exception
    overview = at.dataframe[0].value
    assert overview["name"].tolist() == ["Demo"]
    assert overview["current"].tolist() == [True]
    assert overview["tables"].iloc[0].startswith("Customers (300), Transactions (")  # display names
    assert "Campaigns (" in overview["tables"].iloc[0]
    assert any("Manage “Demo”" in m.value for m in at.markdown)
    assert at.text_input(key=f"w.data.rename.{demo_db}").value == "Demo"
    assert at.button(key="w.data.rename_button").disabled  # same name: nothing to rename


def test_rename_dataset(database, demo_db):
    at = open_page()
    at.text_input(key=f"w.data.rename.{demo_db}").input("Shop 2024").run()
    at.button(key="w.data.rename_button").click().run()
    assert not at.exception
    assert names_in(database) == ["Shop 2024"]
    assert at.success[0].value == "Renamed to “Shop 2024”."
    assert at.dataframe[0].value["name"].tolist() == ["Shop 2024"]
    assert at.session_state["clm_view"].dataset == demo_db


def test_delete_asks_for_confirmation_and_cancel_keeps_the_dataset(database, demo_db):
    at = open_page(lang="de")
    at.button(key="w.data.delete").click().run()
    assert not at.exception
    assert "„Demo“ mit allen Tabellen (Kunden (300)" in at.warning[0].value
    at.button(key="w.data.delete_no").click().run()
    assert not at.warning
    assert names_in(database) == ["Demo"]


def test_delete_the_current_dataset_selects_the_next(database, demo_db):
    con = store.connect(database)
    other = store.create_dataset(con, "Other")
    con.disconnect()
    at = open_page(ds=demo_db)
    assert "Manage “Demo”" in " ".join(m.value for m in at.markdown)
    at.button(key="w.data.delete").click().run()
    at.button(key="w.data.delete_yes").click().run()
    assert not at.exception
    assert names_in(database) == ["Other"]
    assert at.success[0].value == "Deleted “Demo”."
    assert at.session_state["clm_view"].dataset == other.id
    assert at.session_state["w.dataset"] == other.id  # the sidebar follows
    assert at.dataframe[0].value["name"].tolist() == ["Other"]


def test_delete_the_last_dataset_returns_to_the_empty_page(database, demo_db):
    at = open_page()
    at.button(key="w.data.delete").click().run()
    at.button(key="w.data.delete_yes").click().run()
    assert not at.exception
    assert names_in(database) == []
    assert at.session_state["clm_view"].dataset is None
    assert "No dataset yet" in at.info[0].value


def kept_report(database):
    con = store.connect(database)
    dataset = store.create_dataset(con, "Upload")
    report = ingest.load(dataset, {"transactions": BROKEN}, names={"transactions": "umsaetze.csv"})
    con.disconnect()
    return {"report": report, "dataset": "Upload", "dataset_id": dataset.id, "time": "10:15"}


def test_the_report_kept_in_the_session_is_shown(database):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["page"] = "data"
    at.session_state["data.report"] = kept_report(database)
    at.run()
    assert not at.exception
    assert "Ingest report" in [s.value for s in at.subheader]
    summary = at.dataframe[0].value
    assert summary.to_dict("records") == [  # the canonical name beside its display name (hidden, in the CSV)
        {"table_name": "Transactions", "table": "transactions", "rows_read": 3, "rows_loaded": 1,
         "rows_rejected": 2}]
    detected = at.dataframe[1].value.iloc[0]
    assert (detected["file"], detected["encoding"], detected["delimiter"], detected["decimal"]) == (
        "umsaetze.csv", "Windows-1252", ";", ",")
    assert detected["date_formats"] == "Bestelldatum: dd.mm.yyyy"  # the file's own header
    assert "2 row(s) were rejected" in at.warning[0].value
    rejected = at.dataframe[2].value
    assert rejected["line"].tolist() == [3, 4]
    assert rejected["reason"].tolist() == ["unparseable ordered_at: 31.02.2024", "missing customer_id"]  # hidden
    assert rejected["reason_text"].tolist() == ["“Bestelldatum” is not a readable date: 31.02.2024",
                                                "“Kundennummer” is missing"]
    assert rejected["Filiale"].tolist() == ["Köln", "Graz"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads.count("Download CSV") == 2  # the report's two tables (the templates have their own)
    # still there after another run, gone after "Hide report"
    at.run()
    assert "Ingest report" in [s.value for s in at.subheader]
    at.button(key="w.data.hide_report").click().run()
    assert "Ingest report" not in [s.value for s in at.subheader]
    assert "data.report" not in at.session_state


def test_the_report_in_german(database):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["page"] = "data"
    at.query_params["lang"] = "de"
    at.session_state["data.report"] = kept_report(database)
    at.run()
    assert not at.exception
    assert "Importbericht" in [s.value for s in at.subheader]
    assert "2 Zeile(n) wurden abgelehnt" in at.warning[0].value
    rejected = at.dataframe[2]
    # the reasons in German, naming the file's own columns; the table by its German name
    assert rejected.value["reason_text"].tolist() == ["„Bestelldatum“ ist kein lesbares Datum: 31.02.2024",
                                                      "„Kundennummer“ fehlt"]
    assert rejected.value["table_name"].tolist() == ["Transaktionen", "Transaktionen"]
    config = json.loads(rejected.proto.columns)
    assert config["reason"]["hidden"] is True and config["table"]["hidden"] is True


def test_a_load_error_is_shown_as_one_line(database):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["page"] = "data"
    at.session_state["data.error"] = "x.csv: required column 'amount' of the transactions table not found"
    at.run()
    assert not at.exception
    assert at.error[0].value == "x.csv: required column 'amount' of the transactions table not found"


# --------------------------------------------------------------------------- uploads (issue 7, item 4)

class Upload(io.BytesIO):
    """What st.file_uploader returns for one file: a BytesIO with name, size and file_id."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        # unique like Streamlit's (the page caches inspections by file_id)
        self.name, self.size, self.file_id = name, len(data), f"{name}-{uuid.uuid4().hex}"


@pytest.fixture
def uploads(monkeypatch):
    """Files "uploaded" on the Data page: append Upload objects; ingest.load's calls are recorded (and run)."""
    files: list[Upload] = []
    calls: list[dict] = []

    def file_uploader(label, *args, key=None, **kwargs):
        # the first uploader holds the files; after a load the page shows a fresh (empty) one
        shown = list(files) if key == "w.data.files.0" else []
        streamlit.session_state[key] = shown
        return shown

    real_load = ingest.load

    def load(dataset, sources, **kwargs):
        calls.append({"dataset": dataset.name, "tables": sorted(sources), **kwargs})
        return real_load(dataset, sources, **kwargs)

    monkeypatch.setattr(streamlit, "file_uploader", file_uploader)
    monkeypatch.setattr(ingest, "load", load)
    monkeypatch.setattr(prepare, "start", lambda *args, **kwargs: None)  # no model fitting in the background
    return files, calls


CRM_EXPORT = (
    "Kunden-Nr.;Anmeldedatum;Kanal;Start;Lieblingsfarbe\r\n"
    "000123;01.02.2024;Web;Januar;grün\r\n"
    "000124;15.03.2024;Filiale;März;blau\r\n"
).encode("cp1252")


def box(at, f: Upload, position: int, table: str = "customers"):
    """The mapping select box of the header at ``position`` of upload ``f``."""
    return at.selectbox(key=f"w.data.map.{f.file_id}.{table}.{position}")


def table_rows(database, name: str, table: str) -> int:
    con = store.connect(database)
    try:
        dataset = next(d for d in store.list_datasets(con) if d.name == name)
        return store.table_rows(dataset).get(table, 0)
    finally:
        con.disconnect()


def test_german_export_is_mapped_by_visible_select_boxes_and_loads_into_a_new_dataset(database, demo_db, uploads):
    files, calls = uploads
    files.append(f := Upload(CRM_EXPORT, "crm.csv"))
    demo_customers = table_rows(database, "Demo", "customers")
    at = open_page(lang="de")
    assert not at.exception
    assert at.selectbox(key=f"w.data.table.{f.file_id}").value == "customers"
    # one select box per column of the file, labelled by the header, the recognised ones pre-selected
    assert [box(at, f, i).label for i in range(5)] == ["Kunden\\-Nr\\.", "Anmeldedatum", "Kanal", "Start",
                                                     "Lieblingsfarbe"]
    assert [box(at, f, i).value for i in range(5)] == ["customer_id", "created_at", "channel", "", ""]
    # the choices in German, with the canonical name; the required one marked
    assert box(at, f, 1).options[:3] == ["Als Merkmal behalten", "Kundennummer (customer_id) · Pflicht",
                                      "Erstellt am (created_at)"]
    assert "Für jede Spalte Ihrer Datei wählen, was sie enthält" in " ".join(c.value for c in at.caption)
    assert "z. B. 01\\.02\\.2024" in [c.value for c in at.caption]  # the first value (as Markdown text)
    # the default target is a new dataset (not the Demo dataset shown in the sidebar)
    target = at.selectbox(key="w.data.target")
    assert target.value == "__new__" and target.options[0] == "Neuer Datensatz…"
    name = f"Upload {dt.date.today():%d.%m.%Y}"
    assert at.text_input(key="w.data.new_name").value == name
    assert not at.warning  # nothing replaced, nothing to confirm
    assert not [c for c in at.checkbox if c.key.startswith("w.data.confirm_replace")]

    # Lieblingsfarbe is the segment; Start stays an attribute
    box(at, f, 4).select("segment").run()
    assert not at.exception
    assert box(at, f, 4).value == "segment"
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1
    call = calls[0]
    assert (call["dataset"], call["tables"], call["create"]) == (name, ["customers"], True)
    assert call["mapping"] == {"customers": {"Kunden-Nr.": "customer_id", "Anmeldedatum": "created_at",
                                             "Kanal": "channel", "Start": None, "Lieblingsfarbe": "segment"}}
    assert names_in(database) == ["Demo", name]
    assert table_rows(database, "Demo", "customers") == demo_customers  # the Demo dataset is untouched
    con = store.connect(database)
    try:
        loaded = next(d for d in store.list_datasets(con) if d.name == name)
        customers = loaded.table("customers").order_by("customer_id").execute()
    finally:
        con.disconnect()
    assert customers["customer_id"].tolist() == ["000123", "000124"]
    assert [d.date() for d in customers["created_at"]] == [dt.date(2024, 2, 1), dt.date(2024, 3, 15)]
    assert customers["segment"].tolist() == ["grün", "blau"]
    assert customers["Start"].tolist() == ["Januar", "März"]
    assert "Importbericht" in [s.value for s in at.subheader]


def test_a_recognised_column_can_be_kept_as_attribute(database, uploads):
    """Anmeldedatum is a synonym of created_at: its select box offers "keep as attribute" all the same, the choice
    reaches ingest.load as {header: None} and the column is loaded as a text attribute under its own name."""
    files, calls = uploads
    files.append(f := Upload(CRM_EXPORT, "crm.csv"))
    at = open_page(lang="de")
    assert box(at, f, 1).value == "created_at"
    assert at.selectbox(key=f"w.data.datefmt.{f.file_id}.customers.created_at")  # a date column: its format
    assert box(at, f, 1).options[0] == "Als Merkmal behalten"
    box(at, f, 1).select("").run()
    assert not at.exception
    assert box(at, f, 1).value == ""
    assert not at.warning and not at.error  # nothing overrides the choice, nothing is missing
    assert not [s for s in at.selectbox if s.key.startswith("w.data.datefmt.")]  # no date column left
    assert "Für jede Spalte Ihrer Datei wählen" in " ".join(c.value for c in at.caption)
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1
    assert calls[0]["mapping"] == {"customers": {"Kunden-Nr.": "customer_id", "Anmeldedatum": None,
                                                 "Kanal": "channel", "Start": None, "Lieblingsfarbe": None}}
    con = store.connect(database)
    try:
        loaded = next(d for d in store.list_datasets(con) if d.name.startswith("Upload "))
        customers = loaded.table("customers").order_by("customer_id").execute()
    finally:
        con.disconnect()
    assert customers.columns.tolist() == ["customer_id", "channel", "Anmeldedatum", "Start", "Lieblingsfarbe"]
    assert customers["Anmeldedatum"].tolist() == ["01.02.2024", "15.03.2024"]
    assert customers["channel"].tolist() == ["Web", "Filiale"]
    report = at.session_state["data.report"]["report"]
    assert report.tables["customers"].sniffed.attributes == ["Anmeldedatum", "Start", "Lieblingsfarbe"]


def test_an_upload_is_inspected_once_until_a_choice_changes_how_it_is_read(database, uploads, monkeypatch):
    """The preview's cost (issue 11: 13 s for 2,000 customers): the page inspects each upload once for its guessed
    table and the synonyms, not a second time for the same reading; a changed choice inspects it again."""
    files, _ = uploads
    files.append(f := Upload(CRM_EXPORT, "crm.csv"))
    calls = []
    real = upload.inspect

    def inspect(data, name, table=None, choices=None, **kwargs):
        calls.append((name, table, dict(choices or {})))
        return real(data, name, table, choices, **kwargs)

    monkeypatch.setattr(upload, "inspect", inspect)
    at = open_page()
    assert not at.exception
    assert calls == [("crm.csv", None, {})]
    assert at.selectbox(key=f"w.data.datefmt.{f.file_id}.customers.created_at")  # the formats are shown all the same
    box(at, f, 1).select("").run()  # Anmeldedatum kept as attribute: another reading
    assert not at.exception
    assert [(n, t) for n, t, _ in calls] == [("crm.csv", None), ("crm.csv", "customers")]
    assert calls[1][2]["Anmeldedatum"] == ""


def test_an_unrecognised_required_column_is_chosen_in_its_select_box(database, uploads):
    files, calls = uploads
    files.append(f := Upload(b"Nr,Registered on,Region\n7,2024-05-01,Nord\n8,2024-05-02,Sued\n", "crm.csv"))
    at = open_page()
    assert not at.exception
    # no table fits (no customer id): the table is chosen, then the columns
    assert at.selectbox(key=f"w.data.table.{f.file_id}").value == "__skip__"
    at.selectbox(key=f"w.data.table.{f.file_id}").select("customers").run()
    assert [box(at, f, i).value for i in range(3)] == ["", "", ""]
    assert at.error[0].value == ("Required column missing: Customer ID (customer_id) · required. "
                                 "Choose it for one of the file's columns above.")
    assert at.button(key="w.data.load").disabled
    box(at, f, 0).select("customer_id").run()
    box(at, f, 1).select("created_at").run()
    assert not at.error
    assert box(at, f, 1).options[2] == "Created on (created_at)"
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert calls and calls[0]["mapping"] == {"customers": {"Nr": "customer_id", "Registered on": "created_at",
                                                           "Region": None}}
    assert calls[0]["create"] is True


def test_two_columns_set_to_one_column_block_the_load(database, uploads):
    files, _ = uploads
    files.append(f := Upload(b"customer_id,created_at,first_order\nA,2024-01-01,2024-02-01\n", "crm.csv"))
    at = open_page()
    box(at, f, 2).select("created_at").run()
    assert at.error[0].value == ("Several columns of the file are set to Created on (created_at); "
                                 "choose it for one only.")
    assert at.button(key="w.data.load").disabled


def test_loading_into_an_existing_dataset_asks_to_confirm_the_replacement(database, demo_db, uploads):
    files, calls = uploads
    files.append(f := Upload(CRM_EXPORT, "crm.csv"))
    at = open_page()
    at.selectbox(key="w.data.target").select(demo_db).run()
    assert not at.exception
    assert at.warning[0].value.startswith("Replaces in “Demo”: Customers (300)")
    assert at.button(key="w.data.load").disabled
    assert "Confirm that the load replaces the tables of “Demo”." in [e.value for e in at.error]
    at.checkbox(key=f"w.data.confirm_replace.{demo_db}").check().run()
    assert not at.button(key="w.data.load").disabled
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert [(c["dataset"], c["create"]) for c in calls] == [("Demo", False)]
    assert names_in(database) == ["Demo"]
    assert table_rows(database, "Demo", "customers") == 2


def test_a_file_with_many_columns_has_its_select_boxes_in_an_expander(database, uploads):
    files, _ = uploads
    headers = ["customer_id", "created_at"] + [f"Merkmal {i}" for i in range(33)]
    content = ",".join(headers) + "\n" + ",".join(["A", "2024-01-01"] + ["x"] * 33) + "\n"
    files.append(f := Upload(content.encode(), "wide.csv"))
    at = open_page()
    assert not at.exception
    assert at.expander[0].label == "All 35 columns of the file (2 recognised)"
    assert box(at, f, 34).value == ""
    assert box(at, f, 1).value == "created_at"
