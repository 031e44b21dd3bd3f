"""Export presets (clm_core.presets): recognised from the header row alone, converted and loaded through
ingest.load, with metrics checked against hand-computed values.

The sample exports in tests/data/presets are written from each system's documented column list; the
comments at each test give the hand computation (T is the as-of date, days are T − date).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from clm_core import ingest, presets, store
from clm_core.metrics.clv import net_revenue
from clm_core.metrics.stages import stage_distribution

DATA = Path(__file__).parent / "data" / "presets"
SHOPIFY = DATA / "shopify_orders_export.csv"
WOO = DATA / "woocommerce_orders_export.csv"
SHOPWARE = DATA / "shopware6_orders_export.csv"
HUBSPOT = DATA / "hubspot_contacts_export.csv"
SALESFORCE = DATA / "salesforce_opportunities_report.csv"


def headers(path: Path) -> list[str]:
    return ingest.sniff(path, "customers").headers


def load(con, path, name="preset", **options):
    dataset = store.create_dataset(con, name)
    report, conversion = presets.load(dataset, path, **options)
    dataset.refresh()
    return dataset, report, conversion


def stages(dataset, as_of) -> dict[str, int]:
    frame = stage_distribution(dataset, as_of)
    return {s: int(n) for s, n in zip(frame["stage"], frame["customers"]) if n}


def rows(dataset, table: str) -> int:
    return int(dataset.table(table).count().execute())


def purchase_span(dataset, customer_id: str) -> tuple[dt.date, dt.date]:
    """First and last purchase day of a customer (days with a transaction of amount > 0)."""
    days = dataset.table("customer_days")
    mine = days.filter((days.customer_id == customer_id) & (days.purchases > 0))
    first, last = mine.day.min().execute(), mine.day.max().execute()
    return first.date() if hasattr(first, "date") else first, last.date() if hasattr(last, "date") else last


# --------------------------------------------------------------------------- recognition from the header

@pytest.mark.parametrize("path, key", [
    (SHOPIFY, "shopify_orders"), (WOO, "woocommerce_orders"), (SHOPWARE, "shopware6_orders"),
    (HUBSPOT, "hubspot_contacts"), (SALESFORCE, "salesforce_opportunities"),
])
def test_each_sample_is_recognised_from_its_header_alone(path, key):
    recognition = presets.recognise(headers(path))
    assert recognition is not None and recognition.preset.key == key
    assert presets.recognise_file(path).preset.key == key


def test_recognition_ignores_case_and_spacing_and_shows_what_it_recognised():
    shouted = [h.upper().replace(" ", "  ") for h in presets.SHOPIFY_HEADERS]
    recognition = presets.recognise(shouted)
    assert recognition.preset.key == "shopify_orders" and recognition.score == 1.0
    assert recognition.message("en") == "recognised as: Shopify orders export"
    assert recognition.message("de") == "erkannt als: Shopify-Bestellexport"


def test_woocommerce_key_dialect_is_the_same_preset():
    keys = ["order_id", "order_number", "order_date", "status", "order_total", "refunded_total", "billing_email",
            "billing_city", "billing_postcode", "billing_country", "customer_id"]
    recognition = presets.recognise(keys)
    assert recognition.preset.key == "woocommerce_orders"
    assert recognition.columns["refund"] == "refunded_total"


@pytest.mark.parametrize("path, drop", [
    (SHOPIFY, "Financial Status"), (SHOPIFY, "Lineitem quantity"), (WOO, "Order Status"),
    (SHOPWARE, "amount_total"), (HUBSPOT, "Lifecycle Stage"), (SALESFORCE, "Phase"),
])
def test_a_near_miss_header_is_not_recognised(path, drop):
    near = [h for h in headers(path) if h != drop]
    assert presets.recognise(near) is None


def test_canonical_and_unrelated_headers_are_not_recognised():
    assert presets.recognise(["customer_id", "ordered_at", "amount", "transaction_id"]) is None
    assert presets.recognise(["Kundennummer", "Bestelldatum", "Betrag", "Name", "Email", "Total"]) is None


def test_two_equally_likely_presets_are_ambiguous():
    both = ["Name", "Email", "Financial Status", "Created at", "Total", "Lineitem quantity",
            "Record ID", "Create Date", "Lifecycle Stage"]
    assert presets.recognise(both) is None


# --------------------------------------------------------------------------- Shopify

def test_shopify_orders_load_with_hand_computed_metrics(con):
    """14 orders (19 line-item rows), T = 2024-06-30.

    Excluded: #1005 voided and cancelled, #1012 refunded but cancelled -> 12 orders; refunds: #1004 50.00
    (partially_refunded), #1008 80.00 (refunded) -> 14 transactions. Net revenue = 89.90 + 45 + 120 + 150
    + 60 + 35.50 + 80 + 200 + 70 + 49.99 + 55 + 65 − 50 − 80 = 890.39.
    Customers (8, by lower-cased e-mail, #1007 is 'Anna.Mueller@Example.de'): anna 4 purchase days
    (01-10, 03-05, 05-15, 06-10; T − first 172) -> loyal; ben 01-20 and 06-25 (refunded, still a purchase
    day; gap 157) -> active; clara 02-14 (recency 137) and greta 01-05 (recency 177) -> at_risk; emil
    06-20 pending (Vorkasse), included -> new; franz 2023-10-01 (recency 273) -> churned; helga 2023-07-01
    and 2024-06-01 (gap 336 ≥ 180) -> reactivated; david only a cancelled order -> prospect.
    """
    dataset, report, conversion = load(con, SHOPIFY)
    assert report.tables["transactions"].rows_rejected == 0 and report.tables["customers"].rows_rejected == 0
    assert conversion.rows_read == 19 and conversion.skipped == []
    assert rows(dataset, "customers") == 8
    assert rows(dataset, "transactions") == 14
    t = dataset.table("transactions")
    assert float(t.amount.sum().execute()) == pytest.approx(890.39)
    assert net_revenue(dataset, dt.date(2023, 1, 1), dt.date(2024, 6, 30)) == pytest.approx(890.39)
    assert stages(dataset, dt.date(2024, 6, 30)) == {
        "loyal": 1, "active": 1, "at_risk": 2, "new": 1, "churned": 1, "reactivated": 1, "prospect": 1}
    assert purchase_span(dataset, "anna.mueller@example.de") == (dt.date(2024, 1, 10), dt.date(2024, 6, 10))
    assert purchase_span(dataset, "helga.brandt@example.de") == (dt.date(2023, 7, 1), dt.date(2024, 6, 1))
    refunds = t.filter(t.amount < 0).order_by("transaction_id").execute()
    assert list(refunds["transaction_id"]) == ["#1004-refund", "#1008-refund"]
    assert list(refunds["amount"]) == [-50.0, -80.0]
    assert str(refunds["ordered_at"].iloc[0])[:10] == "2024-02-14"  # dated at the order date
    first = t.filter(t.transaction_id == "#1001").execute()
    assert int(first["quantity"].iloc[0]) == 3  # two line items: 1 + 2


def test_shopify_customers_take_billing_address_of_the_latest_order_and_first_order_date(con):
    dataset, _, _ = load(con, SHOPIFY)
    c = dataset.table("customers").execute().set_index("customer_id")
    assert (c.loc["helga.brandt@example.de", "city"], c.loc["helga.brandt@example.de", "postal_code"]) == \
        ("Saarbrücken", "66111")  # moved from Lübeck
    assert c.loc["greta.voss@example.de", "postal_code"] == "01067"  # Excel's protecting apostrophe removed
    assert c.loc["clara.hofer@example.at", "country"] == "AT"
    assert str(c.loc["david.lang@example.de", "created_at"])[:10] == "2024-04-01"  # cancelled order counts
    assert c.loc["anna.mueller@example.de", "channel"] == "web"


def test_shopify_pending_orders_can_be_excluded(con):
    dataset, _, conversion = load(con, SHOPIFY, include_pending=False)
    # emil's pending order is gone: 11 orders + 2 refunds; emil is a prospect now
    assert rows(dataset, "transactions") == 13
    assert stages(dataset, dt.date(2024, 6, 30))["prospect"] == 2
    pending = conversion.statuses.set_index("status").loc["pending"]
    assert not pending["included"] and pending["orders"] == 1


def test_shopify_hashed_ids_are_salted_sha256_of_the_lower_case_email(con):
    dataset, _, conversion = load(con, SHOPIFY, hash_ids=True, salt="ds-42")
    ids = set(dataset.table("customers").customer_id.execute())
    anna = presets.pseudonym("Anna.Mueller@Example.de ", "ds-42")
    assert anna in ids and len(ids) == 8
    assert not any("@" in i for i in ids)
    assert anna == presets.pseudonym("anna.mueller@example.de", "ds-42") != presets.pseudonym("anna.mueller@example.de")
    assert len(anna) == 64
    assert purchase_span(dataset, anna) == (dt.date(2024, 1, 10), dt.date(2024, 6, 10))
    assert "SHA-256" in conversion.mapping[0].rule[0]


def test_shopify_mapping_is_data_in_english_and_german(tmp_path):
    conversion = presets.convert(SHOPIFY, tmp_path)
    en = conversion.mapping_frame("en")
    de = conversion.mapping_frame("de")
    amount = en[(en["table"] == "Transactions") & (en["column"] == "Amount")].iloc[0]
    assert amount["source"] == "Total, Refunded Amount"
    assert "one transaction per order" in amount["rule"]
    assert ("Kunden", "Postleitzahl", "Billing Zip, Shipping Zip") in set(zip(de["table"], de["column"], de["source"]))
    assert set(conversion.files) == {"customers", "transactions"}


# --------------------------------------------------------------------------- WooCommerce

def test_woocommerce_german_export_loads_with_hand_computed_metrics(con):
    """Windows-1252, ';', decimal comma, dd.mm.yyyy; one row per line item (order fields repeated).
    T = 2024-05-31. Excluded: 504 cancelled, 507 failed, 509 pending (no payment) -> 6 orders; refunds:
    505 (refunded, 60,00) and 508 (10,00) -> 8 transactions. Net = 1.249,90 + 89,50 + 45 + 60 + 30 + 75,25
    − 60 − 10 = 1479.65. Customers 5: jürgen 01-02, 02-20, 05-25 (T − first 150, 3 days) -> active;
    lena 01-10, 03-15 (recency 77, T − first 142) -> active; sophie on-hold 05-05 -> new; max, paul -> prospect.
    """
    dataset, report, conversion = load(con, WOO)
    assert report.tables["transactions"].rows_rejected == 0
    assert rows(dataset, "customers") == 5 and rows(dataset, "transactions") == 8
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(1479.65)
    assert stages(dataset, dt.date(2024, 5, 31)) == {"active": 2, "new": 1, "prospect": 2}
    assert purchase_span(dataset, "juergen@example.at") == (dt.date(2024, 1, 2), dt.date(2024, 5, 25))
    c = dataset.table("customers").execute().set_index("customer_id")
    assert c.loc["lena@example.de", "city"] == "Würzburg" and c.loc["max@example.de", "city"] == "Lüneburg"
    t = dataset.table("transactions")
    assert int(t.filter(t.transaction_id == "501").quantity.execute().iloc[0]) == 3
    statuses = dict(zip(conversion.statuses["status"], conversion.statuses["included"]))
    assert statuses == {"completed": True, "processing": True, "on-hold": True, "refunded": True,
                        "cancelled": False, "failed": False, "pending": False}


def test_woocommerce_on_hold_is_pending_payment(con):
    dataset, _, _ = load(con, WOO, include_pending=False)
    assert stages(dataset, dt.date(2024, 5, 31)) == {"active": 2, "prospect": 3}


# --------------------------------------------------------------------------- Shopware 6

def test_shopware_default_orders_profile_loads_with_hand_computed_metrics(con):
    """The 'Default orders' profile plus stateMachineState.technicalName. T = 2024-04-30. Cancelled 10004
    and 10006 excluded -> 4 transactions, net 119.99 + 49.9 + 250 + 75.5 = 495.39. Customers 3: kerstin
    01-15, 03-10 (T − first 106) -> active; tobias 02-01 (T − first 89 < 90) -> new; ute 04-25 -> new."""
    dataset, report, conversion = load(con, SHOPWARE)
    assert rows(dataset, "customers") == 3 and rows(dataset, "transactions") == 4
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(495.39)
    assert stages(dataset, dt.date(2024, 4, 30)) == {"active": 1, "new": 2}
    assert purchase_span(dataset, "kerstin@example.de") == (dt.date(2024, 1, 15), dt.date(2024, 3, 10))
    t = dataset.table("transactions")
    assert int(t.filter(t.transaction_id == "10001").quantity.execute().iloc[0]) == 3  # "2x SW10001|1x SW10002"
    c = dataset.table("customers").execute().set_index("customer_id")
    assert c.loc["kerstin@example.de", "postal_code"] == "04639"
    assert c.loc["tobias@example.at", "city"] == "Klagenfurt am Wörthersee"


def test_shopware_without_a_readable_state_loads_every_order_and_says_so(con, tmp_path):
    text = SHOPWARE.read_text(encoding="utf-8")
    reader = list(csv.reader(io.StringIO(text), delimiter=";"))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows([r[:-1] for r in reader])  # the default profile
    path = tmp_path / "orders.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    dataset, _, conversion = load(con, path)
    assert rows(dataset, "transactions") == 6
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(545.39)
    assert any("order_state_id" in en for en, _ in conversion.notes)


# --------------------------------------------------------------------------- HubSpot

def test_hubspot_contacts_become_customers_and_lifecycle_events(con):
    """6 contacts; 103 has no e-mail (-> 'hubspot-103'); 106 'Tom@Example.DE' -> lower case. Events: 101
    lead, MQL, SQL, opportunity, customer (5); 102 lead (1); 103 subscriber (1); 104 lead, SQL,
    opportunity (3); 105 lead, customer (2); 106 lead, MQL (2) = 14."""
    dataset, report, _ = load(con, HUBSPOT)
    assert rows(dataset, "customers") == 6 and rows(dataset, "events") == 14
    c = dataset.table("customers").execute().set_index("customer_id")
    assert "hubspot-103" in c.index and "tom@example.de" in c.index
    assert str(c.loc["sabine@example.de", "created_at"])[:10] == "2023-11-30"
    assert c.loc["joerg@example.de", "city"] == "Göttingen" and c.loc["joerg@example.de", "postal_code"] == "37073"
    assert c.loc["joerg@example.de", "hubspot_lifecycle_stage"] == "customer"
    e = dataset.table("events")
    became = e.filter(e.event == "became_customer").execute().sort_values("customer_id")
    assert list(became["customer_id"]) == ["joerg@example.de", "sabine@example.de"]
    assert [str(x)[:10] for x in became["occurred_at"]] == ["2024-03-01", "2024-01-10"]
    assert not dataset.has("transactions")  # stages need transactions: the pages say which file is missing


# --------------------------------------------------------------------------- Salesforce

def test_salesforce_german_report_loads_won_opportunities_as_transactions(con):
    """German labels, 'EUR 12.500,00', dd.mm.yyyy. T = 2024-06-30. Won: Müller 15.01.2024 12.500,00 and
    10.06.2024 2.400,00; Schröder 28.06.2024 5.750,50; Blümel 01.09.2023 3.100,00 -> 4 transactions, net
    23750.50. Accounts 4: Müller (T − first 167, gap 147, 2 days) -> active; Schröder -> new; Blümel
    (recency 303) -> churned; Alpenblick (lost and open only) -> prospect. Events: 6 created + 1 lost."""
    dataset, report, _ = load(con, SALESFORCE)
    assert rows(dataset, "customers") == 4 and rows(dataset, "transactions") == 4 and rows(dataset, "events") == 7
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(23750.50)
    assert stages(dataset, dt.date(2024, 6, 30)) == {"active": 1, "new": 1, "churned": 1, "prospect": 1}
    assert purchase_span(dataset, "Müller Bäckerei GmbH") == (dt.date(2024, 1, 15), dt.date(2024, 6, 10))
    c = dataset.table("customers").execute().set_index("customer_id")
    assert str(c.loc["Alpenblick Hotel KG", "created_at"])[:10] == "2024-02-05"
    assert c.loc["Gärtnerei Blümel", "channel"] == "Telefon"


# --------------------------------------------------------------------------- errors

def test_an_unrecognised_file_is_one_clear_line(con, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("customer_id,ordered_at,amount\n1,2024-01-01,5\n", encoding="utf-8")
    with pytest.raises(ingest.IngestError, match="not a recognised shop or CRM export"):
        load(con, path)


def test_an_unreadable_amount_is_a_rejected_row_not_a_silent_drop(con, tmp_path):
    text = SHOPWARE.read_text(encoding="utf-8").replace(";119.99;", ";n/a;")
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    dataset, report, _ = load(con, path)
    tx = report.tables["transactions"]
    assert tx.rows_rejected == 1 and "non-numeric amount" in tx.rejected["reason"].iloc[0]
    assert rows(dataset, "transactions") == 3


def test_a_gzip_export_and_a_malformed_row_are_handled_as_ingest_handles_them(con, tmp_path):
    import gzip

    lines = SHOPWARE.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, 'broken;row\n')  # too few columns: a row DuckDB's reader refuses, on line 4
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress("".join(lines).encode("utf-8")))
    assert presets.recognise_file(path).preset.key == "shopware6_orders"
    dataset, _, conversion = load(con, path)
    assert rows(dataset, "transactions") == 4
    assert [line for line, _ in conversion.skipped] == [4]
    assert "malformed" in conversion.skipped[0][1]


def test_loading_the_export_again_replaces_its_tables(con):
    dataset, _, _ = load(con, WOO)
    presets.load(dataset, WOO)
    dataset.refresh()
    assert rows(dataset, "transactions") == 8 and rows(dataset, "customers") == 5


def test_a_shop_export_and_a_crm_export_load_together_keyed_by_email(con, tmp_path):
    """A HubSpot contact for anna (created 2023-12-01, 'Anna.Mueller@example.de') and one new contact:
    customers 8 + 1 = 9; anna's created_at the earlier HubSpot date, her city from the Shopify export (first
    given); 2 events; the Shopify transactions unchanged (14)."""
    hubspot = tmp_path / "hubspot.csv"
    hubspot.write_text(
        "Record ID,Email,Create Date,Lifecycle Stage,Became a Lead Date,Became a Customer Date,City\n"
        "7,Anna.Mueller@example.de,2023-12-01 10:00,customer,2023-12-01 10:00,,Starnberg\n"
        "8,neu@example.de,2024-06-01 10:00,lead,2024-06-01 10:00,,Ulm\n", encoding="utf-8")
    dataset = store.create_dataset(con, "both")
    report, conversions = presets.load_many(dataset, [(SHOPIFY, None), (hubspot, "hubspot.csv")],
                                            hash_ids=True, salt="s")
    dataset.refresh()
    assert [c.recognition.preset.key for c in conversions] == ["shopify_orders", "hubspot_contacts"]
    assert rows(dataset, "customers") == 9 and rows(dataset, "transactions") == 14 and rows(dataset, "events") == 2
    c = dataset.table("customers").execute().set_index("customer_id")
    anna = presets.pseudonym("anna.mueller@example.de", "s")
    assert str(c.loc[anna, "created_at"])[:10] == "2023-12-01"
    assert c.loc[anna, "city"] == "München" and c.loc[anna, "hubspot_lifecycle_stage"] == "customer"
    assert report.tables["customers"].source == "shopify_orders_export.csv + hubspot.csv (customers)"


def test_preview_of_an_uploads_head(tmp_path):
    conversion, frames = presets.preview(WOO.read_bytes(), "woo.csv", rows=3)
    assert conversion.recognition.preset.key == "woocommerce_orders"
    assert list(frames["transactions"]["transaction_id"]) == ["501", "502", "503"]
    assert frames["customers"].loc[1, "city"] == "Würzburg"


def test_a_shopify_export_resaved_by_german_excel_gives_the_same_numbers(con, tmp_path):
    """Opened and saved again in a German Excel: ';', decimal comma, dd.mm.yyyy hh:mm, Windows-1252."""
    table = list(csv.DictReader(io.StringIO(SHOPIFY.read_text(encoding="utf-8"))))
    for row in table:
        for column in ("Total", "Subtotal", "Refunded Amount", "Lineitem price"):
            row[column] = row[column].replace(".", ",")
        when = row["Created at"]  # 2024-01-10 09:12:40 +0100
        row["Created at"] = f"{when[8:10]}.{when[5:7]}.{when[:4]} {when[11:16]}"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(table[0]), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(table)
    path = tmp_path / "orders_export.csv"
    path.write_bytes(out.getvalue().encode("cp1252"))
    dataset, report, _ = load(con, path)
    assert report.tables["transactions"].rows_rejected == 0
    assert rows(dataset, "transactions") == 14
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(890.39)
    assert stages(dataset, dt.date(2024, 6, 30))["loyal"] == 1
    c = dataset.table("customers").execute().set_index("customer_id")
    assert c.loc["helga.brandt@example.de", "city"] == "Saarbrücken"


def test_a_shopify_export_as_an_excel_workbook_with_a_title_row(con, tmp_path):
    """The sample as a workbook: a title row above the table, totals as numbers, on the second sheet."""
    import xlsxwriter

    table = list(csv.reader(io.StringIO(SHOPIFY.read_text(encoding="utf-8"))))
    path = tmp_path / "orders_export.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Info").write_string(0, 0, "Export vom 01.07.2024")
    sheet = book.add_worksheet("Orders")
    sheet.write_string(0, 0, "Shopify orders export")
    numeric = {table[0].index(h) for h in ("Total", "Refunded Amount", "Lineitem quantity")}
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            if r and c in numeric and value:
                sheet.write_number(r + 2, c, float(value))
            else:
                sheet.write_string(r + 2, c, value)
    book.close()
    assert presets.recognise_file(path, sheet="Orders").preset.key == "shopify_orders"
    dataset, report, _ = load(con, path, sheet="Orders")
    assert rows(dataset, "transactions") == 14 and rows(dataset, "customers") == 8
    assert float(dataset.table("transactions").amount.sum().execute()) == pytest.approx(890.39)
