"""Ingest: real CSV quirks, rejected rows with line numbers, refusals, atomic and idempotent loads."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from clm_core import ingest, store
from clm_core.ingest import IngestError

ISO_TRANSACTIONS = """\
transaction_id,customer_id,ordered_at,amount,category
T1,000123,2024-02-01,12.50,Bücher
T2,000123,2024-02-02 10:30:00,1234.50,Spiele
T3,000124,2024-03-05,-4.50,Bücher
"""

GERMAN_TRANSACTIONS = (
    "Belegnummer;Kundennummer;Bestelldatum;Betrag;Warengruppe\r\n"
    "T1;000123;01.02.2024;12,50;Bücher\r\n"
    "T2;000123;02.02.2024 10:30;1.234,50;Spiele\r\n"
    "T3;000124;05.03.2024;-4,50 €;Bücher\r\n"
)


def rows(dataset, table):
    return dataset.table(table).order_by("customer_id").execute()


def load(con, tmp_path, name="d", **files):
    dataset = store.create_dataset(con, name)
    sources = {}
    for table, content in files.items():
        path = tmp_path / f"{name}_{table}.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        sources[table] = path
    return dataset, ingest.load(dataset, sources)


def test_iso_file_loads_typed_values_and_keeps_leading_zeros(con, tmp_path):
    dataset, report = load(con, tmp_path, transactions=ISO_TRANSACTIONS)
    t = dataset.table("transactions").order_by("transaction_id").execute()
    assert list(t["customer_id"]) == ["000123", "000123", "000124"]
    assert list(t["amount"]) == [12.5, 1234.5, -4.5]
    assert t["ordered_at"].iloc[1].to_pydatetime() == dt.datetime(2024, 2, 2, 10, 30)
    sniffed = report.tables["transactions"].sniffed
    assert (sniffed.delimiter, sniffed.decimal, sniffed.date_formats["ordered_at"]) == (",", ".", "yyyy-mm-dd")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig"])
def test_german_export_gives_the_same_rows_as_iso(con, tmp_path, encoding):
    iso, _ = load(con, tmp_path, "iso", transactions=ISO_TRANSACTIONS)
    german, report = load(con, tmp_path, "de", transactions=GERMAN_TRANSACTIONS.encode(encoding))
    cols = ["transaction_id", "customer_id", "ordered_at", "amount", "category"]
    a = iso.table("transactions").order_by("transaction_id").execute()[cols]
    b = german.table("transactions").order_by("transaction_id").execute()[cols]
    assert a.equals(b)
    sniffed = report.tables["transactions"].sniffed
    assert sniffed.encoding == encoding
    assert (sniffed.delimiter, sniffed.decimal, sniffed.date_formats["ordered_at"]) == (";", ",", "dd.mm.yyyy")
    assert sniffed.mapping == {"Belegnummer": "transaction_id", "Kundennummer": "customer_id",
                               "Bestelldatum": "ordered_at", "Betrag": "amount", "Warengruppe": "category"}


def test_cp1252_file_with_late_non_ascii_is_reencoded(con, tmp_path):
    # The first megabyte is plain ASCII; the Windows-1252 'ü' comes later.
    content = b"customer_id,ordered_at,amount,category\n" + b"".join(
        f"C{i:07d},2024-01-01,1,x\n".encode() for i in range(60_000)) + "Z1,2024-01-02,2,Bücher\n".encode("cp1252")
    dataset, report = load(con, tmp_path, transactions=content)
    assert report.tables["transactions"].rows_loaded == 60_001
    assert report.tables["transactions"].sniffed.encoding == "cp1252"
    t = dataset.table("transactions")
    assert t.filter(t.customer_id == "Z1").category.execute().tolist() == ["Bücher"]


def test_five_broken_rows_are_reported_exactly_and_the_rest_loads(con, tmp_path):
    content = (
        "customer_id,ordered_at,amount\n"   # line 1
        "A,2024-01-01,10\n"                  # 2
        "B,2024-13-01,10\n"                  # 3 unparseable date
        "C,2024-01-02,zehn\n"                # 4 non-numeric amount
        "D,2024-01-03,5\n"                   # 5
        ",2024-01-04,5\n"                    # 6 missing id
        "\n"                                 # 7 blank, skipped
        "E,,5\n"                             # 8 missing date
        "F,2024-01-05,7,extra\n"             # 9 malformed
        "G,2024-01-06,1.5\n"                 # 10
    )
    dataset, report = load(con, tmp_path, transactions=content)
    table = report.tables["transactions"]
    assert (table.rows_read, table.rows_loaded, table.rows_rejected) == (8, 3, 5)
    got = list(zip(table.rejected["line"], table.rejected["reason"]))
    assert got == [
        (3, "unparseable ordered_at: 2024-13-01"),
        (4, "non-numeric amount: zehn"),
        (6, "missing customer_id"),
        (8, "missing ordered_at"),
        (9, "malformed row (too many columns)"),
    ]
    assert sorted(rows(dataset, "transactions")["customer_id"]) == ["A", "D", "G"]
    assert report.summary().to_dict("records") == [
        {"table": "transactions", "rows_read": 8, "rows_loaded": 3, "rows_rejected": 5}]


def test_missing_required_column_is_one_clear_line(con, tmp_path):
    with pytest.raises(IngestError) as err:
        load(con, tmp_path, transactions="Kundennummer;Datum\nA;01.01.2024\n")
    message = str(err.value)
    assert "\n" not in message
    assert "'amount'" in message and "columns found: Kundennummer, Datum" in message


@pytest.mark.parametrize("content, expected", [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf\r\n", "the file is empty"),
    (b"customer_id,ordered_at,amount\n", "header but no data rows"),
    (b"customer_id,ordered_at,amount\nA,gestern,1\n", "no valid rows"),
])
def test_unusable_files_are_refused(con, tmp_path, content, expected):
    with pytest.raises(IngestError, match=expected):
        load(con, tmp_path, transactions=content)


def test_nps_scores_outside_0_to_10_are_rejected(con, tmp_path):
    content = "customer_id,answered_at,score\nA,2024-01-01,10\nB,2024-01-01,11\nC,2024-01-01,-1\nD,2024-01-01,0\nE,2024-01-01,7.5\n"
    dataset, report = load(con, tmp_path, nps=content)
    rejected = report.tables["nps"].rejected
    assert list(zip(rejected["line"], rejected["reason"])) == [
        (3, "score outside 0-10: 11"), (4, "score outside 0-10: -1"), (6, "score is not a whole number: 7.5")]
    assert rows(dataset, "nps")["score"].tolist() == [10, 0]


def test_duplicate_transaction_ids_keep_the_first(con, tmp_path):
    content = "transaction_id,customer_id,ordered_at,amount\nT1,A,2024-01-01,5\nT2,A,2024-01-02,6\nT1,B,2024-01-03,7\n"
    dataset, report = load(con, tmp_path, transactions=content)
    rejected = report.tables["transactions"].rejected
    assert list(zip(rejected["line"], rejected["reason"])) == [(4, "duplicate transaction_id (first on line 2)")]
    assert dataset.table("transactions").order_by("transaction_id").amount.execute().tolist() == [5.0, 6.0]


def test_failed_load_leaves_previous_data_untouched(con, tmp_path):
    dataset = store.create_dataset(con, "atomic")
    good = tmp_path / "good.csv"
    good.write_text("customer_id,ordered_at,amount\nA,2024-01-01,5\n")
    ingest.load(dataset, {"transactions": good})
    version = dataset.version
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,country\nZ,DE\n")
    broken = tmp_path / "broken.csv"
    broken.write_text("customer_id,amount\nB,1\n")
    with pytest.raises(IngestError):
        ingest.load(dataset, {"customers": customers, "transactions": broken})
    assert not dataset.has("customers")
    assert rows(dataset, "transactions")["customer_id"].tolist() == ["A"]
    assert dataset.version == version


def test_loading_the_same_file_twice_does_not_double_it(con, tmp_path):
    dataset = store.create_dataset(con, "twice")
    path = tmp_path / "t.csv"
    path.write_text(ISO_TRANSACTIONS)
    ingest.load(dataset, {"transactions": path})
    ingest.load(dataset, {"transactions": path})
    assert dataset.table("transactions").count().execute() == 3
    assert dataset.table("customer_days").count().execute() == 3
    assert dataset.version == 2


def test_customers_only_in_other_tables_are_created_implicitly(con, tmp_path):
    dataset, _ = load(
        con, tmp_path,
        customers="customer_id,country\nA,DE\n",
        transactions="customer_id,ordered_at,amount\nA,2024-01-01,5\nB,2024-01-02,6\n",
        nps="customer_id,answered_at,score\nC,2024-01-03,9\n",
    )
    index = rows(dataset, "customer_index")
    assert index["customer_id"].tolist() == ["A", "B", "C"]
    assert index["implicit"].tolist() == [False, True, True]
    assert index["country"].iloc[0] == "DE"


def test_us_dates_are_read_when_unambiguous_and_refused_when_not(con, tmp_path):
    dataset, report = load(con, tmp_path, "us", transactions="customer_id,ordered_at,amount\nA,03/25/2024,1\nB,04/01/2024,2\n")
    assert report.tables["transactions"].sniffed.date_formats["ordered_at"] == "mm/dd/yyyy"
    assert rows(dataset, "transactions")["ordered_at"].dt.date.tolist() == [dt.date(2024, 3, 25), dt.date(2024, 4, 1)]
    with pytest.raises(IngestError, match="could be mm/dd/yyyy or dd/mm/yyyy"):
        load(con, tmp_path, "amb", transactions="customer_id,ordered_at,amount\nA,03/04/2024,1\n")


def test_explicit_mapping_and_date_format_override(con, tmp_path):
    dataset = store.create_dataset(con, "explicit")
    content = b"Kunde;Tag;Wert X\nA;03/04/2024;1,5\n"
    report = ingest.load(
        dataset, {"transactions": io.BytesIO(content)},
        mapping={"transactions": {"Tag": "ordered_at", "Wert X": "amount"}},
        date_formats={"transactions": {"ordered_at": "dd/mm/yyyy"}},
    )
    assert report.tables["transactions"].sniffed.mapping == {"Kunde": "customer_id", "Tag": "ordered_at", "Wert X": "amount"}
    t = rows(dataset, "transactions")
    assert t["ordered_at"].dt.date.tolist() == [dt.date(2024, 4, 3)]
    assert t["amount"].tolist() == [1.5]


def test_extra_columns_are_kept_as_attributes(con, tmp_path):
    dataset, report = load(con, tmp_path, customers="Kunden-ID;Land;Lieblingsfarbe\n007;AT;grün\n")
    assert report.tables["customers"].sniffed.attributes == ["Lieblingsfarbe"]
    index = rows(dataset, "customer_index")
    assert index[["customer_id", "country", "Lieblingsfarbe"]].values.tolist() == [["007", "AT", "grün"]]


def test_campaign_groups_are_normalised_and_checked(con, tmp_path):
    content = "customer_id,campaign,sent_at,group\nA,K1,2024-01-01,Treatment\nB,K1,2024-01-01,Kontrollgruppe\nC,K1,2024-01-01,maybe\n"
    dataset, report = load(con, tmp_path, campaigns=content)
    assert rows(dataset, "campaigns")["group"].tolist() == ["treatment", "control"]
    assert report.tables["campaigns"].rejected["reason"].tolist() == ["group must be treatment or control: maybe"]


def test_explicit_none_keeps_a_synonym_header_as_attribute(con, tmp_path):
    dataset = store.create_dataset(con, "keep")
    content = b"customer_id,ordered_at,amount,Datum\nA,2024-01-01,5,gestern\n"
    report = ingest.load(dataset, {"transactions": content}, mapping={"transactions": {"Datum": None}})
    assert report.tables["transactions"].sniffed.attributes == ["Datum"]
    assert rows(dataset, "transactions")["Datum"].tolist() == ["gestern"]


@pytest.mark.parametrize("content, decimal, ok, bad", [
    ("amount\n1.234,50\n12,5\n1.2.3\nnan\n1,2,3\n", ",", [1234.5, 12.5], ["1.2.3", "nan", "1,2,3"]),
    ("amount\n1,234.50\n12.5\n1,23\ninf\n", ".", [1234.5, 12.5], ["1,23", "inf"]),
])
def test_thousands_separators_are_checked_and_non_finite_numbers_refused(con, tmp_path, content, decimal, ok, bad):
    lines = content.splitlines()
    csv = "customer_id;ordered_at;amount\n" if decimal == "," else "customer_id,ordered_at,amount\n"
    sep = ";" if decimal == "," else ","
    csv += "".join(f'C{i}{sep}2024-01-01{sep}"{v}"\n' for i, v in enumerate(lines[1:]))
    dataset, report = load(con, tmp_path, transactions=csv)
    assert report.tables["transactions"].sniffed.decimal == decimal
    assert rows(dataset, "transactions")["amount"].tolist() == ok
    assert report.tables["transactions"].rejected["reason"].tolist() == [f"non-numeric amount: {v}" for v in bad]


def test_line_numbers_and_texts_of_rejected_rows_in_a_file_of_several_row_groups(con, tmp_path):
    # 300k rows: DuckDB reads and writes them in parallel, over several row groups; the rows are parsed
    # straight into the dataset's table inside the load's transaction (rowids not starting at 0).
    n = 300_000
    lines = ["transaction_id,customer_id,ordered_at,amount"] + [f"T{i},C{i % 1000},2024-01-01,{i % 50}" for i in range(n)]
    lines[5] = "T4,C4,2024-13-01,1"             # line 6: unparseable date
    lines[150_000] = "T149999,C1,2024-01-01,1,x"  # line 150001: malformed
    lines[200_000] = ""                           # line 200001: blank, skipped
    lines[250_000] = "T2,C9,2024-01-02,3"         # line 250001: duplicate of line 4
    lines[299_999] = "T299998, C8 ,2024-01-03,zehn"  # line 300000: non-numeric amount
    dataset, report = load(con, tmp_path, transactions="\n".join(lines) + "\n")
    table = report.tables["transactions"]
    assert list(zip(table.rejected["line"], table.rejected["reason"])) == [
        (6, "unparseable ordered_at: 2024-13-01"),
        (150_001, "malformed row (too many columns)"),
        (250_001, "duplicate transaction_id (first on line 4)"),
        (300_000, "non-numeric amount: zehn"),
    ]
    listed = table.rejected.set_index("line")
    assert listed.loc[250_001, ["transaction_id", "customer_id"]].tolist() == ["T2", "C9"]
    assert listed.loc[300_000, ["customer_id", "amount"]].tolist() == [" C8 ", "zehn"]
    assert (table.rows_read, table.rows_rejected) == (n - 1, 4)
    assert dataset.table("transactions").count().execute() == n - 5
    assert sorted(dataset.tables() & {"transactions", "customer_days"}) == ["customer_days", "transactions"]


def test_german_crm_customer_export_loads_its_signup_date_as_created_at(con, tmp_path):
    content = ("Kunden-Nr.;Anmeldedatum;Kanal;Stadt/Ort;PLZ;Lieblingsfarbe\r\n"
               "000123;01.02.2024;Web;Köln;50667;grün\r\n"
               "000124;15.03.2024;Filiale;Düsseldorf;40213;blau\r\n").encode("cp1252")
    dataset, report = load(con, tmp_path, customers=content)
    assert report.tables["customers"].sniffed.mapping == {
        "Kunden-Nr.": "customer_id", "Anmeldedatum": "created_at", "Kanal": "channel", "Stadt/Ort": "city",
        "PLZ": "postal_code"}
    assert report.tables["customers"].sniffed.attributes == ["Lieblingsfarbe"]
    index = rows(dataset, "customers")
    assert index["customer_id"].tolist() == ["000123", "000124"]
    assert [d.date() for d in index["created_at"]] == [dt.date(2024, 2, 1), dt.date(2024, 3, 15)]
    assert index["city"].tolist() == ["Köln", "Düsseldorf"]
