"""Excel workbooks, Parquet files and zip archives of several CSV files load through the CSV path (issue 12,
items 1 and 2): the same rows, report, rejected lines and atomicity as the CSV file of the same data."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
import xlsxwriter

from clm_core import ingest, readers, store, upload
from clm_core.ingest import IngestError
from clm_core.metrics import stages

DATA = Path(__file__).resolve().parent / "data"

CUSTOMERS = """\
customer_id,created_at,country
000123,2023-11-05,DE
000124,2023-12-01,AT
000125,2024-01-10,DE
"""
TRANSACTIONS = """\
transaction_id,customer_id,ordered_at,amount,category
T1,000123,2024-02-01,12.50,Bücher
T2,000123,2024-02-02 10:30:00,1234.50,Spiele
T3,000124,2024-03-05,-4.50,Bücher
T4,,2024-03-06,7.00,Musik
T5,000125,2024-03-07,30.00,Musik
"""
TYPES = {"created_at": "date", "ordered_at": "date", "amount": "number"}


def table_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def typed(header: str, value: str):
    """A CSV value as Excel stores it: dates as dates, amounts as numbers, the rest as text."""
    if value == "":
        return None
    kind = TYPES.get(header)
    if kind == "date":
        return dt.datetime.fromisoformat(value)
    if kind == "number":
        return float(value)
    return value


def write_workbook(path: Path, sheets: dict[str, list[list]], merges: dict[str, list[tuple]] | None = None) -> Path:
    """A workbook of ``sheets`` (name -> rows of values; datetimes get a German date format, None is empty)."""
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, date_format)
                elif value is not None:
                    sheet.write(r, c, value)
        for first_row, first_col, last_row, last_col, value in (merges or {}).get(name, []):
            sheet.merge_range(first_row, first_col, last_row, last_col, value)
    book.close()
    return path


def workbook_of(path: Path, text: str, title_rows: list[list] | None = None) -> Path:
    rows = table_rows(text)
    header = rows[0]
    values = [header] + [[typed(h, v) for h, v in zip(header, row)] for row in rows[1:]]
    return write_workbook(path, {"Daten": (title_rows or []) + values})


def parquet_of(path: Path, text: str, tmp_path: Path) -> Path:
    """A typed Parquet file of the CSV text: dates as DATE/TIMESTAMP, amounts as DOUBLE, empty as NULL."""
    source = tmp_path / f"{path.stem}_source.csv"
    source.write_text(text, encoding="utf-8")
    header = table_rows(text)[0]
    casts = {"created_at": "DATE", "ordered_at": "TIMESTAMP", "amount": "DOUBLE"}
    select = ", ".join(f"CAST(nullif({h}, '') AS {casts.get(h, 'VARCHAR')}) AS {h}" for h in header)
    db = duckdb.connect()
    db.execute(f"COPY (SELECT {select} FROM read_csv(?, all_varchar=true, header=true)) TO '{path}' (FORMAT parquet)",
               [str(source)])
    db.close()
    return path


def load(con, sources: dict, name: str, **options):
    dataset = store.create_dataset(con, f"{name}-{len(store.list_datasets(con))}")
    return dataset, ingest.load(dataset, sources, **options)


def contents(dataset, table: str):
    frame = dataset.table(table).execute()
    return frame.sort_values(list(frame.columns)[:2], ignore_index=True)


def refusal(con, path: Path, table: str = "transactions") -> str:
    with pytest.raises(IngestError) as err:
        load(con, {table: path}, path.name)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message and "Error:" not in message and "/tmp" not in message
    return message


@pytest.fixture
def csv_files(tmp_path):
    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "transactions.csv").write_text(TRANSACTIONS, encoding="utf-8")
    return {"customers": tmp_path / "customers.csv", "transactions": tmp_path / "transactions.csv"}


# --------------------------------------------------------------------------- every format, the same result

def test_every_format_loads_the_same_rows_report_and_metrics_as_the_csv(con, tmp_path, csv_files):
    plain, plain_report = load(con, csv_files, "csv")
    assert list(plain_report.summary().itertuples(index=False)) == [("customers", 3, 3, 0), ("transactions", 5, 4, 1)]
    assert plain_report.rejected().values.tolist() == [["transactions", 5, "missing customer_id"]]
    expected_stages = stages.stage_distribution(plain, "2024-03-31")

    archive = tmp_path / "shop.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(csv_files["customers"], "export/customers.csv")
        z.write(csv_files["transactions"], "export/transactions.csv")
        z.writestr("export/readme.txt", "Exported from the shop on 2024-04-01\n")
    renamed = tmp_path / "workbook_saved_as.csv"
    shutil.copy(workbook_of(tmp_path / "renamed.xlsx", TRANSACTIONS), renamed)
    gz = tmp_path / "transactions.csv.gz"
    gz.write_bytes(gzip.compress(TRANSACTIONS.encode("utf-8")))
    xlsx = {"customers": workbook_of(tmp_path / "c.xlsx", CUSTOMERS),
            "transactions": workbook_of(tmp_path / "t.xlsx", TRANSACTIONS)}
    variants = {
        "xlsx": xlsx,
        "xlsm": {"customers": workbook_of(tmp_path / "c.xlsm", CUSTOMERS),
                 "transactions": workbook_of(tmp_path / "t.xlsm", TRANSACTIONS)},
        "parquet": {"customers": parquet_of(tmp_path / "c.parquet", CUSTOMERS, tmp_path),
                    "transactions": parquet_of(tmp_path / "t.parquet", TRANSACTIONS, tmp_path)},
        "zip of several CSV files": {"customers": archive, "transactions": archive},
        "xlsx renamed .csv": {"customers": xlsx["customers"], "transactions": renamed},
        "gzip": {"customers": csv_files["customers"], "transactions": gz},
    }
    for kind, sources in variants.items():
        dataset, report = load(con, sources, kind)
        assert report.summary().equals(plain_report.summary()), kind
        assert report.rejected().values.tolist() == [["transactions", 5, "missing customer_id"]], kind
        for table in ("customers", "transactions"):
            assert contents(dataset, table).equals(contents(plain, table)), (kind, table)
        assert stages.stage_distribution(dataset, "2024-03-31").equals(expected_stages), kind
    # what the loader detected: a workbook's sheet and header row, typed values as text without locale guessing
    _, report = load(con, xlsx, "xlsx-again")
    sniffed = report.tables["transactions"].sniffed
    assert (sniffed.format, sniffed.sheet, sniffed.header_row, sniffed.decimal) == ("excel", "Daten", 1, ".")
    assert sniffed.date_formats == {"ordered_at": "yyyy-mm-dd"}
    assert report.tables["transactions"].rejected.iloc[0].tolist() == [5, "missing customer_id", "T4", None,
                                                                       "2024-03-06", "7", "Musik"]
    assert ingest.archive_tables(archive) == {"customers": "export/customers.csv",
                                              "transactions": "export/transactions.csv"}


def test_values_are_written_as_excel_and_parquet_store_them():
    assert [readers.text(v) for v in (12.5, 123.0, -4.5, 1e-7, 1e20, True, None, "", "a\r\n\r\nb")] == [
        "12.5", "123", "-4.5", "0.0000001", "100000000000000000000", "true", "", "", "a\nb"]
    assert readers.text(dt.datetime(2024, 2, 1)) == "2024-02-01"
    assert readers.text(dt.datetime(2024, 2, 1, 10, 30, 15)) == "2024-02-01 10:30:15"
    assert readers.text(dt.date(2024, 2, 1)) == "2024-02-01"
    assert readers.text(dt.timedelta(hours=26, minutes=5)) == "26:05:00"


# --------------------------------------------------------------------------- workbooks as they come

def test_title_rows_a_merged_header_and_three_sheets_load_the_right_sheet_with_the_right_header(con, tmp_path):
    when = dt.datetime
    orders = [
        ["Bestellungen Q1 2024", None, None, None, None],  # row 1: a title merged across the table
        ["Stand: 01.04.2024", None, None, None, None],      # row 2
        ["Belegnummer", "Kundennummer", "Umsatz", None, "Bestelldatum"],  # row 3: 'Umsatz' over two columns
        [None, None, "Betrag", "Währung", None],            # row 4: under the merged header cell
        ["T1", "000123", 12.5, "EUR", when(2024, 2, 1)],    # row 5
        ["T2", "000123", 1234.5, "EUR", when(2024, 2, 2, 10, 30)],
        [None, None, None, None, None],                     # row 7: empty
        ["T3", "000124", "zwölf", "EUR", when(2024, 3, 5)],  # row 8: rejected
        ["T4", "000125", 30, "EUR", "unbekannt"],           # row 9: rejected
        ["T1", "000126", 5, "EUR", when(2024, 3, 9)],       # row 10: a duplicate of row 5
    ]
    merges = {"Bestellungen": [(0, 0, 0, 4, "Bestellungen Q1 2024"), (2, 0, 3, 0, "Belegnummer"),
                               (2, 1, 3, 1, "Kundennummer"), (2, 2, 2, 3, "Umsatz"), (2, 4, 3, 4, "Bestelldatum")]}
    path = write_workbook(tmp_path / "export.xlsx", {
        "Deckblatt": [["Auswertung für das Management"]],
        "Leer": [],
        "Bestellungen": orders,
    }, merges)
    dataset, report = load(con, {"transactions": path}, "workbook")
    r = report.tables["transactions"]
    assert (r.sniffed.sheet, r.sniffed.header_row) == ("Bestellungen", 3)
    assert r.sniffed.headers == ["Belegnummer", "Kundennummer", "Betrag", "Währung", "Bestelldatum"]
    assert r.sniffed.mapping == {"Belegnummer": "transaction_id", "Kundennummer": "customer_id",
                                 "Betrag": "amount", "Bestelldatum": "ordered_at"}
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (5, 2, 3)  # the empty row 7 is no row
    assert r.rejected[["line", "reason"]].values.tolist() == [
        [8, "non-numeric amount: zwölf"],
        [9, "unparseable ordered_at: unbekannt"],
        [10, "duplicate transaction_id (first on line 5)"],
    ]
    t = dataset.table("transactions").order_by("transaction_id").execute()
    assert t["customer_id"].tolist() == ["000123", "000123"]
    assert t["amount"].tolist() == [12.5, 1234.5]
    assert t["ordered_at"].dt.to_pydatetime().tolist() == [when(2024, 2, 1), when(2024, 2, 2, 10, 30)]
    assert t["Währung"].tolist() == ["EUR", "EUR"]
    # the caller's sheet, by name or number; one that does not exist is one line naming the sheets
    for sheet in ("Bestellungen", "bestellungen", 3, "3"):
        _, again = load(con, {"transactions": path}, "by-name", sheets={"transactions": sheet})
        assert again.tables["transactions"].rows_loaded == 2
    with pytest.raises(IngestError, match=r"^export.xlsx has no sheet 'Umsatz' \(its sheets: Deckblatt, Leer, "
                                          r"Bestellungen\)$"):
        load(con, {"transactions": path}, "missing", sheets={"transactions": "Umsatz"})
    assert readers.sheet_names(str(path)) == ["Deckblatt", "Leer", "Bestellungen"]


def test_two_tables_in_two_sheets_of_one_workbook(con, tmp_path):
    customers, transactions = table_rows(CUSTOMERS), table_rows(TRANSACTIONS)
    path = write_workbook(tmp_path / "shop.xlsx", {
        "Kunden": [customers[0]] + [[typed(h, v) for h, v in zip(customers[0], row)] for row in customers[1:]],
        "Bestellungen": [transactions[0]] + [[typed(h, v) for h, v in zip(transactions[0], row)]
                                             for row in transactions[1:]],
    })
    _, report = load(con, {"customers": path, "transactions": path}, "two-sheets")
    assert {t: r.sniffed.sheet for t, r in report.tables.items()} == {"customers": "Kunden",
                                                                      "transactions": "Bestellungen"}
    assert list(report.summary().itertuples(index=False)) == [("customers", 3, 3, 0), ("transactions", 5, 4, 1)]
    # the orders first: their customer numbers fit the customers table too, but the customers sheet is theirs
    reordered = write_workbook(tmp_path / "reordered.xlsx", {
        "Bestellungen": [transactions[0]] + [[typed(h, v) for h, v in zip(transactions[0], row)]
                                             for row in transactions[1:]],
        "Kunden": [customers[0]] + [[typed(h, v) for h, v in zip(customers[0], row)] for row in customers[1:]],
    })
    _, report = load(con, {"customers": reordered, "transactions": reordered}, "reordered")
    assert {t: r.sniffed.sheet for t, r in report.tables.items()} == {"customers": "Kunden",
                                                                      "transactions": "Bestellungen"}


def test_dates_stored_as_excel_dates_and_as_text_load_the_same(con, tmp_path):
    header = ["Kundennummer", "Bestelldatum", "Betrag"]
    as_dates = [header, ["1", dt.datetime(2024, 2, 1), 5.5], ["2", dt.datetime(2024, 12, 31, 23, 59), 7]]
    as_german_text = [header, ["1", "01.02.2024", "5,50"], ["2", "31.12.2024 23:59", "7,00"]]
    as_iso_text = [header, ["1", "2024-02-01", "5.5"], ["2", "2024-12-31 23:59", "7"]]
    results = []
    for name, rows in [("dates", as_dates), ("german", as_german_text), ("iso", as_iso_text)]:
        path = write_workbook(tmp_path / f"{name}.xlsx", {"Tabelle1": rows})
        dataset, report = load(con, {"transactions": path}, name)
        assert report.tables["transactions"].rows_rejected == 0, name
        results.append(dataset.table("transactions").order_by("customer_id").execute()[
            ["customer_id", "ordered_at", "amount"]])
    assert results[0].equals(results[1]) and results[0].equals(results[2])
    assert results[0]["ordered_at"].dt.to_pydatetime().tolist() == [dt.datetime(2024, 2, 1),
                                                                     dt.datetime(2024, 12, 31, 23, 59)]
    assert results[0]["amount"].tolist() == [5.5, 7.0]


def test_a_parquet_file_with_a_time_zone_and_a_bad_row_reports_its_line(con, tmp_path):
    path = tmp_path / "orders.parquet"
    db = duckdb.connect()
    db.execute("SET TimeZone = 'Europe/Berlin'")
    db.execute(f"""COPY (SELECT * FROM (VALUES
        ('000123', TIMESTAMPTZ '2024-02-01 10:00:00+01', 12.5::DECIMAL(10, 2)),
        ('000124', TIMESTAMPTZ '2024-02-02 00:30:00+01', NULL),
        ('000125', TIMESTAMPTZ '2024-02-03 12:00:00+00', 3.25)) t(customer_id, ordered_at, amount))
        TO '{path}' (FORMAT parquet)""")
    db.close()
    dataset, report = load(con, {"transactions": path}, "parquet")
    r = report.tables["transactions"]
    assert r.sniffed.format == "parquet"
    assert r.rejected[["line", "reason"]].values.tolist() == [[3, "missing amount"]]
    t = dataset.table("transactions").order_by("customer_id").execute()
    assert t["ordered_at"].dt.to_pydatetime().tolist() == [dt.datetime(2024, 2, 1, 9), dt.datetime(2024, 2, 3, 12)]
    assert t["amount"].tolist() == [12.5, 3.25]


# --------------------------------------------------------------------------- refused in one line

def test_corrupt_encrypted_empty_and_odd_files_are_one_line(con, tmp_path):
    good = workbook_of(tmp_path / "good.xlsx", TRANSACTIONS).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good[: len(good) // 2])
    assert refusal(con, cut).startswith("cut.xlsx is a damaged or unsupported Excel workbook (")
    assert refusal(con, DATA / "password_protected.xlsx") == (
        "password_protected.xlsx is a password-protected workbook; remove the password in Excel "
        "(File > Info > Protect Workbook) and upload it again")
    empty = write_workbook(tmp_path / "empty.xlsx", {"Tabelle1": [], "Tabelle2": []})
    assert refusal(con, empty) == "empty.xlsx is an empty Excel workbook (no sheet holds any value)"
    no_rows = write_workbook(tmp_path / "header_only.xlsx", {"Tabelle1": [["customer_id", "ordered_at", "amount"]]})
    assert refusal(con, no_rows) == "header_only.xlsx: the file has a header but no data rows"
    wrong = write_workbook(tmp_path / "wrong.xlsx", {"Tabelle1": [["Name", "Stadt"], ["Anna", "Wien"]]})
    assert refusal(con, wrong) == ("wrong.xlsx: required column 'customer_id' of the transactions table not found; "
                                   "columns found: Name, Stadt")
    broken_parquet = tmp_path / "broken.parquet"
    broken_parquet.write_bytes(b"PAR1" + b"\x00" * 64)
    assert refusal(con, broken_parquet).startswith("broken.parquet is a damaged Parquet file (")
    not_a_workbook = tmp_path / "fake.xlsx"
    not_a_workbook.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert refusal(con, not_a_workbook) == "fake.xlsx is an Office 97-2003 document but no Excel workbook, not a CSV file"


def test_a_csv_file_named_xlsx_loads_as_csv(con, tmp_path):
    path = tmp_path / "export.xlsx"
    path.write_text(TRANSACTIONS, encoding="utf-8")
    _, report = load(con, {"transactions": path}, "named")
    assert (report.tables["transactions"].sniffed.format, report.tables["transactions"].rows_loaded) == ("csv", 4)


def test_a_zip_of_several_csv_files_by_header_and_its_refusals(con, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.csv", CUSTOMERS)
        z.writestr("b.csv", "Kundennummer;Bestelldatum;Betrag\n000123;01.02.2024;5,50\n")
        z.writestr("notes.csv", "Hinweis\nnur intern\n")
    assert ingest.archive_tables(archive) == {"customers": "a.csv", "transactions": "b.csv"}
    dataset, report = load(con, {"customers": archive, "transactions": archive}, "by-header")
    assert list(report.summary().itertuples(index=False)) == [("customers", 3, 3, 0), ("transactions", 1, 1, 0)]
    assert dataset.table("transactions").amount.execute().tolist() == [5.5]
    assert refusal(con, archive, "nps") == ("export.zip is a zip archive of 3 CSV files, none of them for the nps "
                                            "table (a.csv, b.csv, notes.csv)")
    assert ingest.archive_tables(b"customer_id\n1\n") == {}


def test_a_refused_workbook_leaves_the_previous_data_untouched(con, tmp_path, csv_files):
    dataset = store.create_dataset(con, "kept")
    ingest.load(dataset, csv_files)
    before = {t: contents(dataset, t) for t in ("customers", "transactions")}
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(workbook_of(tmp_path / "t.xlsx", TRANSACTIONS).read_bytes()[:-200])
    bad_rows = write_workbook(tmp_path / "bad.xlsx", {"Tabelle1": [["customer_id", "ordered_at", "amount"],
                                                                  ["C9", "nie", 1]]})
    customers = workbook_of(tmp_path / "c.xlsx", CUSTOMERS.replace("000125", "000999"))
    for transactions in (cut, bad_rows, DATA / "password_protected.xlsx"):
        with pytest.raises(IngestError):
            ingest.load(dataset, {"customers": customers, "transactions": transactions})
        dataset.refresh()
        for table, frame in before.items():
            assert contents(dataset, table).equals(frame), (transactions.name, table)


# --------------------------------------------------------------------------- the Data page's preview

def test_the_data_page_previews_a_workbook_and_a_parquet_file(tmp_path):
    path = write_workbook(tmp_path / "export.xlsx", {
        "Leer": [],
        "Umsätze": [["Bericht"], [], ["Kundennummer", "Bestelldatum", "Betrag"],
                    ["000123", dt.datetime(2024, 2, 1), 5.5]],
    })
    data = path.read_bytes()
    assert upload.sheets(data) == ["Leer", "Umsätze"]
    inspection = upload.inspect(upload.head(data), "export.xlsx")
    assert (inspection.table, inspection.decimal, inspection.date_formats) == (
        "transactions", ".", {"ordered_at": "yyyy-mm-dd"})
    assert inspection.sample.values.tolist() == [["000123", "2024-02-01", "5.5"]]
    parquet = parquet_of(tmp_path / "t.parquet", TRANSACTIONS, tmp_path).read_bytes()
    inspection = upload.inspect(upload.head(io.BytesIO(parquet)), "t.parquet")
    assert inspection.table == "transactions" and inspection.sample.iloc[1].tolist() == [
        "T2", "000123", "2024-02-02 10:30:00", "1234.5", "Spiele"]


# --------------------------------------------------------------------------- the command line

def test_the_cli_reports_from_a_workbook_sheet_and_a_parquet_file_as_from_the_csv(tmp_path, csv_files, capsys):
    from clm_core.__main__ import main

    customers, transactions = table_rows(CUSTOMERS), table_rows(TRANSACTIONS)
    book = write_workbook(tmp_path / "shop.xlsx", {
        "Info": [["Export vom 01.04.2024"]],
        "Kunden": [customers[0]] + [[typed(h, v) for h, v in zip(customers[0], row)] for row in customers[1:]],
        "Bestellungen": [transactions[0]] + [[typed(h, v) for h, v in zip(transactions[0], row)]
                                             for row in transactions[1:]],
    })
    parquet = parquet_of(tmp_path / "t.parquet", TRANSACTIONS, tmp_path)
    runs = {
        "csv": ["--customers", csv_files["customers"], "--transactions", csv_files["transactions"]],
        "sheets": ["--customers", book, "--transactions", book, "--sheet", "customers:Kunden",
                   "--sheet", "transactions:3"],
        "parquet": ["--customers", book, "--transactions", parquet],
    }
    outputs = {}
    for name, args in runs.items():
        out = tmp_path / name
        assert main(["report", *map(str, args), "--as-of", "2024-03-31", "--out", str(out)]) == 0, name
        outputs[name] = {f: (out / f).read_text() for f in ("stages.csv", "ingest_report.csv", "clv.csv")}
    capsys.readouterr()
    assert outputs["sheets"] == outputs["csv"] and outputs["parquet"] == outputs["csv"]
    assert "transactions,5,4,1" in outputs["csv"]["ingest_report.csv"]
    assert main(["report", "--customers", str(book), "--transactions", str(book), "--sheet", "transactions:Umsatz",
                 "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == ("error: shop.xlsx has no sheet 'Umsatz' (its sheets: Info, Kunden, "
                                       "Bestellungen)\n")


def test_a_too_large_sheet_and_a_parquet_bomb_are_refused_in_one_line(con, tmp_path, monkeypatch):
    book = workbook_of(tmp_path / "big.xlsx", TRANSACTIONS)
    monkeypatch.setattr(readers, "MAX_SHEET_BYTES", 100)
    message = refusal(con, book)
    assert message.startswith("big.xlsx: sheet 'Daten' is larger than ")
    assert message.endswith(" MB unpacked; save it as CSV and upload that")
    monkeypatch.setattr(readers, "MAX_SHEET_BYTES", 2**30)
    path = tmp_path / "bomb.parquet"
    db = duckdb.connect()
    db.execute(f"COPY (SELECT 'C1' AS customer_id, DATE '2024-01-01' AS ordered_at, 1.5 AS amount, "
               f"repeat('x', 1000) AS note FROM range(5000)) TO '{path}' (FORMAT parquet)")
    db.close()
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(ingest, "MAX_DECOMPRESSED_BYTES", 2**20)
    assert refusal(con, path) == "bomb.parquet is a Parquet file that makes more than 1 MB of text; refused (split it)"


def test_parquet_lists_structs_and_booleans_are_kept_as_text_attributes(con, tmp_path):
    path = tmp_path / "customers.parquet"
    db = duckdb.connect()
    db.execute(f"""COPY (SELECT * FROM (VALUES ('000123', true, [1, 2], {{'a': 'x'}}), ('000124', NULL, [], NULL))
        t(customer_id, newsletter, tags, extra)) TO '{path}' (FORMAT parquet)""")
    db.close()
    dataset, report = load(con, {"customers": path}, "nested")
    assert report.tables["customers"].rows_loaded == 2
    c = dataset.table("customers").order_by("customer_id").execute()
    assert c["newsletter"].tolist()[0] == "true" and c["tags"].tolist() == ["[1, 2]", "[]"]


def test_the_data_page_previews_each_table_of_a_zip_of_several_csv_files():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("kunden.csv", CUSTOMERS)
        z.writestr("orders.csv", TRANSACTIONS)
    data = buffer.getvalue()
    assert ingest.archive_tables(data) == {"customers": "kunden.csv", "transactions": "orders.csv"}
    for table, first in [("customers", "000123"), ("transactions", "T1")]:
        inspection = upload.inspect(upload.head(data, table=table), "export.zip", table)
        assert (inspection.table, inspection.sample.iloc[0, 0]) == (table, first)
