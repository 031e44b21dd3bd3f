"""Uploads as they come out of real systems, in a real browser (issue [8]): a Shopify orders export and an
Excel workbook with a title row go through the Data page into new datasets, and every page then draws their
numbers without an error."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import xlsxwriter
from playwright.sync_api import expect
from test_browser import assert_no_exception, go_to, load_into_new_dataset, metric_value, open_app, rerun, widget

SHOPIFY = Path(__file__).resolve().parents[1] / "data" / "presets" / "shopify_orders_export.csv"


def upload(page, server, files) -> None:
    """On the Data page: upload ``files`` (paths or Playwright file payloads)."""
    go_to(page, server, "data")
    main = page.locator('[data-testid="stMain"]')
    with rerun(page, "upload"):
        widget(main, "stFileUploader", "Upload files").locator('input[type="file"]').set_input_files(files)
    assert_no_exception(page, "data page after the upload")


def has_row(cells: list[str], *row: str) -> bool:
    """Whether the table's cells (row after row) hold ``row`` as consecutive cells."""
    return any(cells[i:i + len(row)] == list(row) for i in range(len(cells)))


def every_page_draws(page, server, app_pages: list[str]) -> None:
    for slug in app_pages:
        go_to(page, server, slug)
        assert_no_exception(page, slug)


def test_a_shopify_export_is_recognised_and_every_page_draws_it(new_page, server, app_pages, artifacts):
    page = new_page(1400, 1000)
    open_app(page, server)
    upload(page, server, str(SHOPIFY))
    expect(page.locator('[data-testid="stMain"]')).to_contain_text("recognised as: Shopify orders export")
    page.screenshot(path=str(artifacts / "upload_shopify.png"), full_page=True)
    summary = load_into_new_dataset(page, "Shopify")[0]
    assert has_row(summary, "Customers", "8", "8", "0") and has_row(summary, "Transactions", "14", "14", "0"), summary
    go_to(page, server, "overview")
    assert metric_value(page, "Customers") == "8"  # tests/test_presets.py computes the sample by hand
    every_page_draws(page, server, app_pages)


def _workbook(sheet: str, title: str, rows: list[list]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    dates = book.add_format({"num_format": "dd.mm.yyyy"})
    ws = book.add_worksheet(sheet)
    ws.write(0, 0, title)  # a title row above the table, as exports have
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row):
            if hasattr(value, "year"):
                ws.write_datetime(r, c, value, dates)
            else:
                ws.write(r, c, value)
    book.close()
    return buffer.getvalue()


def test_excel_workbooks_load_and_every_page_draws_them(new_page, server, app_pages):
    customers = [["Kundennummer", "Anmeldedatum", "Land"]] + [
        [f"K{i:03d}", dt.datetime(2024, 1, 1) + dt.timedelta(days=i), "DE" if i % 2 else "AT"] for i in range(40)]
    orders = [["Bestellnummer", "Kundennummer", "Bestelldatum", "Betrag"]] + [
        [f"B{i:04d}", f"K{i % 30:03d}", dt.datetime(2024, 2, 1) + dt.timedelta(days=3 * i), 10.5 + i] for i in range(90)]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    page = new_page(1400, 1000)
    open_app(page, server)
    upload(page, server, [
        {"name": "kunden.xlsx", "mimeType": xlsx, "buffer": _workbook("Kunden", "Kundenliste 2024", customers)},
        {"name": "bestellungen.xlsx", "mimeType": xlsx,
         "buffer": _workbook("Bestellungen", "Bestellungen 2024", orders)}])
    summary = load_into_new_dataset(page, "Excel")[0]
    assert has_row(summary, "Customers", "40", "40", "0") and has_row(summary, "Transactions", "90", "90", "0"), \
        summary
    go_to(page, server, "overview")
    assert metric_value(page, "Customers") == "40"
    every_page_draws(page, server, app_pages)
