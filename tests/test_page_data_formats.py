"""The Data page with uploads as they come out of real systems (issue 12, AppTest): a workbook's sheet chosen in
its select box, a zip archive of several CSV files, a recognised Shopify export (recognition line, the mapping it
applies, the load through presets.load_many, e-mail addresses hashed on request), an export uploaded with other
files refused in one line, and the templates to download per table.

Uploads are in-memory files in place of ``st.file_uploader`` (as in tests/test_page_data.py); downloads are
clicked as the browser does it (Streamlit runs the button's callable: apptest.clicked).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from streamlit.testing.v1 import AppTest

from clm_core import presets, store, templates

from apptest import APP, clicked, page_opener
from test_page_data import Upload, uploads  # noqa: F401 - the upload fixture, shared

open_page = page_opener("data")
SHOPIFY = Path(__file__).parent / "data" / "presets" / "shopify_orders_export.csv"


def loaded(database, table: str):
    """The rows of ``table`` of the one dataset whose name starts with "Upload" (the new dataset), and its id."""
    con = store.connect(database)
    try:
        dataset = next(d for d in store.list_datasets(con) if d.name.startswith("Upload"))
        return dataset.table(table).order_by("customer_id").execute(), dataset.id
    finally:
        con.disconnect()


def workbook(sheets: dict[str, list[list]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


# --------------------------------------------------------------------------- a workbook of several sheets

BOOK = workbook({
    "Kunden alt": [["Kundenliste 2023"], [],
                   ["Kundennummer", "Anmeldedatum", "Kanal"],
                   ["000101", "01.02.2023", "Filiale"], ["000102", "03.02.2023", "Web"], ["000103", "04.02.2023", "Web"]],
    "Kunden neu": [["Kundennummer", "Anmeldedatum", "Kanal"],
                   ["000201", "05.01.2025", "Web"], ["000202", "06.01.2025", "Messe"]],
})


def test_a_workbook_of_two_sheets_loads_the_sheet_chosen_in_its_select_box(database, uploads):
    files, calls = uploads
    files.append(f := Upload(BOOK, "kunden.xlsx"))
    at = open_page()
    assert not at.exception
    sheet = at.selectbox(key=f"w.data.sheet.{f.file_id}")
    assert sheet.label == "Sheet"
    assert sheet.options == ["Kunden alt", "Kunden neu"]
    assert sheet.value == "Kunden alt"  # the loader's own choice: the first sheet that is not empty
    assert "Header in row 3 of the sheet; the rows above it are skipped." in [c.value for c in at.caption]
    assert at.selectbox(key=f"w.data.table.{f.file_id}.0").value == "customers"
    preview = at.dataframe[-1].value
    assert preview["Kundennummer"].tolist() == ["000101", "000102", "000103"]

    sheet.select("Kunden neu").run()
    assert not at.exception
    assert at.selectbox(key=f"w.data.sheet.{f.file_id}").value == "Kunden neu"
    assert "Header in row 1 of the sheet." in [c.value for c in at.caption]
    table = at.selectbox(key=f"w.data.table.{f.file_id}.1")  # the second sheet's own widgets
    assert table.value == "customers"
    assert at.dataframe[-1].value["Kundennummer"].tolist() == ["000201", "000202"]
    assert at.selectbox(key=f"w.data.map.{f.file_id}.1.customers.2").value == "channel"

    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1 and calls[0]["sheets"] == {"customers": "Kunden neu"}
    customers, _ = loaded(database, "customers")
    assert customers["customer_id"].tolist() == ["000201", "000202"]
    assert customers["channel"].tolist() == ["Web", "Messe"]
    assert [d.date() for d in customers["created_at"]] == [dt.date(2025, 1, 5), dt.date(2025, 1, 6)]
    summary = at.dataframe[0].value
    assert summary[["table", "rows_read", "rows_loaded", "rows_rejected"]].values.tolist() == [
        ["customers", 2, 2, 0]]


def test_the_sheet_box_in_german(database, uploads):
    files, _ = uploads
    files.append(f := Upload(BOOK, "kunden.xlsx"))
    at = open_page(lang="de")
    assert not at.exception
    assert at.selectbox(key=f"w.data.sheet.{f.file_id}").label == "Tabellenblatt"
    assert "Kopfzeile in Zeile 3 des Tabellenblatts; die Zeilen darüber werden übersprungen." in [
        c.value for c in at.caption]


# --------------------------------------------------------------------------- a zip archive of several CSV files

def test_a_zip_archive_of_two_csv_files_shows_which_goes_where_and_loads_both(database, uploads):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("kunden.csv", "Kundennummer;Anmeldedatum\r\n000123;01.02.2024\r\n000124;02.02.2024\r\n")
        z.writestr("umsaetze.csv", "Belegnummer;Kundennummer;Bestelldatum;Betrag\r\n"
                                   "R1;000123;03.02.2024;12,50\r\nR2;000124;04.02.2024;1.234,50\r\n"
                                   "R3;000123;05.02.2024;-2,50\r\n")
    files, calls = uploads
    files.append(Upload(buffer.getvalue(), "export.zip"))
    at = open_page()
    assert not at.exception
    assert "A zip archive of 2 CSV files: each is loaded into the table its file name or header row says." in [
        c.value for c in at.caption]
    members = at.dataframe[0].value
    assert members.values.tolist() == [["kunden.csv", "Customers"], ["umsaetze.csv", "Transactions"]]
    assert at.dataframe[2].value["Betrag"].tolist() == ["12,50", "1.234,50", "-2,50"]
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert calls[0]["tables"] == ["customers", "transactions"]
    assert calls[0]["names"] == {"customers": "export.zip/kunden.csv", "transactions": "export.zip/umsaetze.csv"}
    transactions, _ = loaded(database, "transactions")
    assert sorted(transactions["amount"].tolist()) == [-2.5, 12.5, 1234.5]
    customers, _ = loaded(database, "customers")
    assert customers["customer_id"].tolist() == ["000123", "000124"]


# --------------------------------------------------------------------------- a recognised export

def test_a_shopify_export_is_recognised_shows_its_mapping_and_loads(database, uploads):
    files, calls = uploads
    files.append(f := Upload(SHOPIFY.read_bytes(), "orders_export_1.csv"))
    at = open_page()
    assert not at.exception
    assert [s.value for s in at.success] == ["recognised as: Shopify orders export"]
    assert "**Mapping applied**" in [m.value for m in at.markdown]
    mapping = at.dataframe[0].value
    assert len(mapping) == 12
    assert mapping.iloc[0].to_dict() == {"table": "Transactions", "column": "Customer ID", "source": "Email",
                                         "rule": "e-mail address in lower case"}
    assert mapping.iloc[3]["source"] == "Total, Refunded Amount"
    statuses = at.dataframe[1].value
    assert statuses.values.tolist() == [  # status, cancellation date set, orders, loaded
        ["paid", False, 9, True], ["partially_refunded", False, 1, True], ["pending", False, 1, True],
        ["refunded", False, 1, True], ["refunded", True, 1, False], ["voided", True, 1, False]]
    # no header mapping asked, no table to choose
    assert not [s for s in at.selectbox if s.key.startswith(("w.data.map.", "w.data.table."))]
    hashed = at.checkbox(key="w.data.hash_emails")
    assert hashed.label == "Store e-mail addresses hashed" and hashed.value is False
    assert not at.button(key="w.data.load").disabled

    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1 and calls[0]["tables"] == ["customers", "transactions"] and calls[0]["create"] is True
    customers, _ = loaded(database, "customers")
    transactions, _ = loaded(database, "transactions")
    assert len(customers) == 8 and len(transactions) == 14
    assert "anna.mueller@example.de" in customers["customer_id"].tolist()
    assert float(transactions["amount"].sum()) == pytest.approx(890.39)  # hand-computed in test_presets.py
    refunds = transactions[transactions["amount"] < 0]
    assert all(i.endswith("-refund") for i in refunds["transaction_id"])
    summary = at.dataframe[0].value  # the same ingest report as for any upload
    assert sorted(summary[["table", "rows_loaded", "rows_rejected"]].values.tolist()) == [
        ["customers", 8, 0], ["transactions", 14, 0]]
    assert "Every row was loaded." in [s.value for s in at.success]


def test_the_shopify_export_in_german(database, uploads):
    files, _ = uploads
    files.append(Upload(SHOPIFY.read_bytes(), "orders_export_1.csv"))
    at = open_page(lang="de")
    assert not at.exception
    assert [s.value for s in at.success] == ["erkannt als: Shopify-Bestellexport"]
    assert "**Angewandte Zuordnung**" in [m.value for m in at.markdown]
    mapping = at.dataframe[0].value
    assert mapping.iloc[0].to_dict() == {"table": "Transaktionen", "column": "Kundennummer", "source": "Email",
                                         "rule": "E-Mail-Adresse in Kleinbuchstaben"}
    assert mapping["table"].tolist()[-1] == "Kunden"
    assert at.checkbox(key="w.data.hash_emails").label == "E-Mail-Adressen gehasht speichern"


def test_hashed_e_mail_addresses_are_salted_by_the_datasets_id(database, uploads):
    files, _ = uploads
    files.append(Upload(SHOPIFY.read_bytes(), "orders_export_1.csv"))
    at = open_page()
    at.checkbox(key="w.data.hash_emails").check().run()
    at.button(key="w.data.load").click().run()
    assert not at.exception
    customers, dataset_id = loaded(database, "customers")
    assert len(customers) == 8
    assert presets.pseudonym("anna.mueller@example.de", salt=dataset_id) in customers["customer_id"].tolist()
    assert not any("@" in c for c in customers["customer_id"])
    transactions, _ = loaded(database, "transactions")
    assert len(transactions) == 14 and not any("@" in c for c in transactions["customer_id"])


def test_an_export_with_another_file_is_refused_in_one_line(database, uploads):
    files, calls = uploads
    files.append(Upload(SHOPIFY.read_bytes(), "orders_export_1.csv"))
    files.append(Upload(b"customer_id,created_at\nC1,2024-01-01\n", "kunden.csv"))
    at = open_page()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "orders\\_export\\_1\\.csv: a recognised shop or CRM export loads on its own. Set the other files to "
        "“do not load” or remove them, load the export, then upload the other files into its dataset."]
    assert at.button(key="w.data.load").disabled
    # the other file set to "do not load": the export loads
    other = files[1]
    at.selectbox(key=f"w.data.table.{other.file_id}").select("__skip__").run()
    assert not at.error and not at.button(key="w.data.load").disabled
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert calls[0]["tables"] == ["customers", "transactions"]
    assert len(loaded(database, "customers")[0]) == 8


# --------------------------------------------------------------------------- templates

@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_csv_and_an_excel_template_per_table(database, monkeypatch, lang):
    click = clicked(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"], at.query_params["lang"] = "data", lang
    at.run()
    assert not at.exception
    assert at.expander[0].label == ("Templates: an empty file per table" if lang == "en"
                                    else "Vorlagen: eine leere Datei je Tabelle")
    buttons = {b.key: b for b in at.get("download_button")}
    for table in ("customers", "transactions", "events", "nps", "campaigns"):
        csv_file = click(buttons[f"w.data.template.{table}.csv"])
        assert csv_file.filename == templates.file_name(table, "csv", lang)
        header = csv_file.content.decode("utf-8").strip().split(",")
        assert header[0] == "customer_id" and header == templates.columns(table)
        book_file = click(buttons[f"w.data.template.{table}.xlsx"])
        assert book_file.filename == templates.file_name(table, "xlsx", lang)
        book = openpyxl.load_workbook(io.BytesIO(book_file.content))
        first, second = book.worksheets
        assert [c.value for c in first[1]] == templates.columns(table)
        assert second.title == ("Explanation" if lang == "en" else "Erläuterung")
        explained = [row[0] for row in second.iter_rows(min_row=5, values_only=True)]
        assert explained == templates.columns(table)
    # the columns explained in the UI language
    customer_book = openpyxl.load_workbook(io.BytesIO(click(buttons["w.data.template.customers.xlsx"]).content))
    meaning = [row[4] for row in customer_book.worksheets[1].iter_rows(min_row=5, values_only=True)][0]
    assert meaning == templates.DESCRIPTIONS["customer_id"][lang == "de"]
    assert {b.proto.label for b in buttons.values()} == {"CSV", "Excel"}


def test_a_shop_export_and_a_crm_export_in_one_upload_are_merged(database, uploads):
    """The Shopify sample and a HubSpot contacts export (anna again, and one new contact): 9 customers,
    14 transactions, 2 events, in one load (see test_presets for the merge's rules)."""
    hubspot = (b"Record ID,Email,Create Date,Lifecycle Stage,Became a Lead Date,Became a Customer Date,City\n"
               b"7,Anna.Mueller@example.de,2023-12-01 10:00,customer,2023-12-01 10:00,,Starnberg\n"
               b"8,neu@example.de,2024-06-01 10:00,lead,2024-06-01 10:00,,Ulm\n")
    files, calls = uploads
    files.append(Upload(SHOPIFY.read_bytes(), "orders_export_1.csv"))
    files.append(Upload(hubspot, "hubspot-crm-exports-all-contacts.csv"))
    at = open_page()
    assert not at.exception
    assert [s.value for s in at.success] == ["recognised as: Shopify orders export",
                                             "recognised as: HubSpot contacts export"]
    assert "The 2 recognised exports are loaded together, merged by customer (the e-mail address)." in [
        c.value for c in at.caption]
    assert not at.error and not at.button(key="w.data.load").disabled
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1 and calls[0]["tables"] == ["customers", "events", "transactions"]
    customers, _ = loaded(database, "customers")
    assert len(customers) == 9 and len(loaded(database, "transactions")[0]) == 14
    assert len(loaded(database, "events")[0]) == 2
    anna = customers.set_index("customer_id").loc["anna.mueller@example.de"]
    assert str(anna["created_at"])[:10] == "2023-12-01" and anna["city"] == "München"


def test_a_parquet_file_and_a_gzip_csv_file_preview_and_load(database, uploads, tmp_path):
    import gzip

    import duckdb

    path = tmp_path / "t.parquet"
    db = duckdb.connect()
    db.execute(f"COPY (SELECT * FROM (VALUES ('T1', '000123', DATE '2024-02-01', 12.5), "
               f"('T2', '000124', DATE '2024-02-03', 1234.5)) t(transaction_id, customer_id, ordered_at, amount)) "
               f"TO '{path}' (FORMAT parquet)")
    db.close()
    files, calls = uploads
    files.append(p := Upload(path.read_bytes(), "umsaetze.parquet"))
    files.append(g := Upload(gzip.compress("Kundennummer;Ort\r\n000123;Köln\r\n000124;Graz\r\n".encode("cp1252")),
                             "kunden.csv.gz"))
    at = open_page()
    assert not at.exception
    assert at.selectbox(key=f"w.data.table.{p.file_id}").value == "transactions"
    assert at.selectbox(key=f"w.data.table.{g.file_id}").value == "customers"
    assert not [s for s in at.selectbox if s.key.startswith("w.data.sheet.")]
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert calls[0]["tables"] == ["customers", "transactions"] and "sheets" not in calls[0]
    transactions, _ = loaded(database, "transactions")
    assert transactions.sort_values("transaction_id")["amount"].tolist() == [12.5, 1234.5]
    assert loaded(database, "customers")[0]["city"].tolist() == ["Köln", "Graz"]


def test_a_damaged_or_protected_workbook_is_one_line_in_its_panel(database, uploads):
    files, _ = uploads
    files.append(Upload(BOOK[: len(BOOK) // 2], "cut.xlsx"))
    files.append(Upload((Path(__file__).parent / "data" / "password_protected.xlsx").read_bytes(), "geheim.csv"))
    at = open_page()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) >= 2
    assert errors[0].startswith("cut\\.xlsx: ") and "\n" not in errors[0]
    assert errors[1].startswith("geheim\\.csv: ") and "password" in errors[1]
    assert at.button(key="w.data.load").disabled


def test_a_shopify_export_on_the_second_sheet_of_a_workbook_is_recognised_when_chosen(database, uploads):
    import csv

    rows = list(csv.reader(io.StringIO(SHOPIFY.read_text(encoding="utf-8"))))
    book = workbook({"Hinweise": [["Export aus Shopify, Stand 30.06.2024"]],
                     "Bestellungen": [["Bestellungen Juni 2024"], [], *rows]})
    files, calls = uploads
    files.append(f := Upload(book, "shopify.xlsx"))
    at = open_page()
    assert not at.exception
    assert at.selectbox(key=f"w.data.sheet.{f.file_id}").value == "Hinweise"
    assert not at.success  # a one-cell sheet: no export
    at.selectbox(key=f"w.data.sheet.{f.file_id}").select("Bestellungen").run()
    assert not at.exception
    assert [s.value for s in at.success] == ["recognised as: Shopify orders export"]
    assert "Header in row 3 of the sheet; the rows above it are skipped." in [c.value for c in at.caption]
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert len(calls) == 1 and calls[0]["tables"] == ["customers", "transactions"]
    transactions, _ = loaded(database, "transactions")
    assert len(loaded(database, "customers")[0]) == 8 and len(transactions) == 14
    assert float(transactions["amount"].sum()) == pytest.approx(890.39)


def test_one_workbook_uploaded_twice_loads_two_of_its_sheets_into_two_tables(database, uploads):
    """Customers and orders on two sheets of one workbook: uploaded once per sheet (the sheet box's help says
    so), each upload its own sheet choice; one load with a sheet per table."""
    book = workbook({"Kunden": [["Kundennummer", "Anmeldedatum"], ["000101", "01.02.2023"], ["000102", "02.02.2023"]],
                     "Bestellungen": [["Belegnummer", "Kundennummer", "Bestelldatum", "Betrag"],
                                      ["R1", "000101", "03.02.2023", 12.5], ["R2", "000102", "04.02.2023", 7.25],
                                      ["R3", "000101", "05.02.2023", -2.5]]})
    files, calls = uploads
    files.append(first := Upload(book, "shop.xlsx"))
    files.append(second := Upload(book, "shop.xlsx"))
    at = open_page()
    assert "upload the workbook once per sheet" in at.selectbox(key=f"w.data.sheet.{first.file_id}").help
    assert at.selectbox(key=f"w.data.sheet.{second.file_id}").value == "Kunden"
    assert at.error[0].value.startswith("Several files are set to Customers")  # both read the same sheet yet
    at.selectbox(key=f"w.data.sheet.{second.file_id}").select("Bestellungen").run()
    assert not at.exception and not at.error
    assert at.selectbox(key=f"w.data.table.{second.file_id}.1").value == "transactions"
    at.button(key="w.data.load").click().run()
    assert not at.exception
    assert calls[0]["sheets"] == {"customers": "Kunden", "transactions": "Bestellungen"}
    assert loaded(database, "customers")[0]["customer_id"].tolist() == ["000101", "000102"]
    transactions, _ = loaded(database, "transactions")
    assert sorted(transactions["amount"].tolist()) == [-2.5, 7.25, 12.5]
