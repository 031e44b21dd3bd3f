"""Download templates (clm_core.templates): the empty canonical CSV and the Excel template per table."""

from __future__ import annotations

import io

import openpyxl
import pytest

from clm_core import ingest, schema, store, templates


@pytest.mark.parametrize("table", schema.TABLES)
def test_csv_template_is_the_canonical_header_and_maps_to_itself(table):
    data = templates.csv_template(table)
    header = data.decode("utf-8").strip().split(",")
    assert set(header) == {c.name for c in schema.columns(table)}
    required = [c.name for c in schema.columns(table) if c.required]
    assert header[: len(required)] == required
    sniffed = ingest.sniff(data, table, name=f"{table}.csv")
    assert sniffed.mapping == {h: h for h in header}  # every column recognised as itself


def test_a_filled_csv_template_loads(con):
    text = templates.csv_template("transactions").decode("utf-8")
    header = text.strip().split(",")
    values = {"customer_id": "000123", "ordered_at": "2024-04-02", "amount": "49.90", "transaction_id": "R-1",
              "category": "Schuhe", "quantity": "2", "margin": "0.35"}
    text += ",".join(values[h] for h in header) + "\r\n"
    dataset = store.create_dataset(con, "from template")
    report = ingest.load(dataset, {"transactions": text.encode("utf-8")})
    assert report.tables["transactions"].rows_loaded == 1
    assert dataset.table("transactions").customer_id.execute().iloc[0] == "000123"


@pytest.mark.parametrize("table", schema.TABLES)
@pytest.mark.parametrize("lang", ["en", "de"])
def test_excel_template_has_the_table_and_an_explanation_sheet(table, lang):
    book = openpyxl.load_workbook(io.BytesIO(templates.excel_template(table, lang)))
    assert len(book.sheetnames) == 2
    data, explained = book.worksheets
    header = [c.value for c in data[1]]
    assert header == templates.columns(table)
    assert data.max_row == 1  # empty apart from the header
    rows = list(explained.iter_rows(min_row=5, values_only=True))
    assert [r[0] for r in rows] == header
    assert len(rows) == len(schema.columns(table))


def test_excel_explanation_is_in_the_ui_language():
    en = openpyxl.load_workbook(io.BytesIO(templates.excel_template("customers", "en")))
    de = openpyxl.load_workbook(io.BytesIO(templates.excel_template("customers", "de")))
    assert en.sheetnames == ["Customers", "Explanation"]
    assert de.sheetnames == ["Kunden", "Erläuterung"]
    de_rows = {r[0]: r for r in de["Erläuterung"].iter_rows(min_row=5, values_only=True)}
    assert de_rows["postal_code"][1] == "Postleitzahl"  # i18n.field_label
    assert de_rows["customer_id"][2] == "ja" and de_rows["city"][2] == "nein, optional"
    assert de_rows["customer_id"][3].startswith("Text, bleibt genau so")
    en_rows = {r[0]: r for r in en["Explanation"].iter_rows(min_row=5, values_only=True)}
    assert en_rows["postal_code"][1] == "Postal code" and en_rows["customer_id"][2] == "yes"
    assert [c.value for c in de["Erläuterung"][4]] == ["Spalte", "Bezeichnung", "Pflicht", "Format", "Bedeutung",
                                                        "Beispiel"]


def test_excel_id_and_postal_code_columns_are_text_so_leading_zeros_stay():
    book = openpyxl.load_workbook(io.BytesIO(templates.excel_template("customers", "de")))
    sheet = book["Kunden"]
    position = {c.value: c.column_letter for c in sheet[1]}
    assert sheet.column_dimensions[position["customer_id"]].number_format == "@"
    assert sheet.column_dimensions[position["postal_code"]].number_format == "@"
    assert sheet.column_dimensions[position["created_at"]].number_format == "dd.mm.yyyy"


def test_every_canonical_column_has_a_description_format_and_example():
    for table in schema.TABLES:
        for row in templates.explanation(table, "de") + templates.explanation(table, "en"):
            assert all(row.values())


def test_file_names():
    assert templates.file_name("nps", "csv") == "nps_template.csv"
    assert templates.file_name("nps", "xlsx", "de") == "Vorlage_nps.xlsx"
    with pytest.raises(ValueError):
        templates.file_name("nps", "pdf")
