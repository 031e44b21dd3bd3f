"""The Data page (AppTest): empty database, dataset overview, rename and delete, the kept ingest report.

Uploading through AppTest is not possible; the upload logic is tested in test_upload.py and
the real file input in the browser tests.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from clm_core import ingest, store

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
    assert at.get("file_uploader")[0].label == "Upload CSV files"
    assert [s.value for s in at.subheader] == ["Upload exports", "Datasets"]
    assert "No dataset yet" in at.info[0].value
    assert not at.button  # nothing to load, rename or delete


def test_empty_database_in_german(database):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Daten"
    assert at.get("file_uploader")[0].label == "CSV-Dateien hochladen"
    assert "Noch kein Datensatz" in at.info[0].value


def test_demo_data_lists_the_dataset_with_its_tables(demo_db):
    at = open_page()
    assert not at.exception
    overview = at.dataframe[0].value
    assert overview["name"].tolist() == ["Demo"]
    assert overview["current"].tolist() == [True]
    assert overview["tables"].iloc[0].startswith("customers (300), transactions (")
    assert "campaigns (" in overview["tables"].iloc[0]
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
    assert "„Demo“ mit allen Tabellen (customers (300)" in at.warning[0].value
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
    assert summary.to_dict("records") == [
        {"table": "transactions", "rows_read": 3, "rows_loaded": 1, "rows_rejected": 2}]
    detected = at.dataframe[1].value.iloc[0]
    assert (detected["file"], detected["encoding"], detected["delimiter"], detected["decimal"]) == (
        "umsaetze.csv", "Windows-1252", ";", ",")
    assert detected["date_formats"] == "ordered_at: dd.mm.yyyy"
    assert "2 row(s) were rejected" in at.warning[0].value
    rejected = at.dataframe[2].value
    assert rejected["line"].tolist() == [3, 4]
    assert rejected["reason"].tolist() == ["unparseable ordered_at: 31.02.2024", "missing customer_id"]
    assert rejected["Filiale"].tolist() == ["Köln", "Graz"]
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download CSV", "Download CSV"]
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


def test_a_load_error_is_shown_as_one_line(database):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["page"] = "data"
    at.session_state["data.error"] = "x.csv: required column 'amount' of the transactions table not found"
    at.run()
    assert not at.exception
    assert at.error[0].value == "x.csv: required column 'amount' of the transactions table not found"
