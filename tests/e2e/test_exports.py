"""The view's exports in a real browser: the sidebar's Excel workbook and one-file report are downloaded,
opened and checked against what the page shows (sheet names, values, the view sheet with the filter; the
report's numbers, its charts drawn offline)."""

from __future__ import annotations

import re

import openpyxl
from playwright.sync_api import expect
from test_browser import assert_no_exception, metric_value, open_app, sidebar


def download(page, label: str, folder):
    """Click the sidebar's download button ``label``; the downloaded file's path."""
    with page.expect_download(timeout=120_000) as started:
        sidebar(page).get_by_role("button", name=label, exact=True).click()
    path = folder / started.value.suggested_filename
    started.value.save_as(path)
    return path


def test_workbook_and_report_of_a_filtered_overview(new_page, server, tmp_path, artifacts):
    page = new_page()
    open_app(page, f"{server}/?f.country=AT")
    assert_no_exception(page, "overview with a filter")
    page.wait_for_url(re.compile(r"[?&]f\.country=AT(&|$)"))
    customers = int(metric_value(page, "Customers").replace(",", ""))

    # the workbook: a View sheet with the filter and the link, then one sheet per table, named by its section
    path = download(page, "Excel workbook of this view", tmp_path)
    assert path.suffix == ".xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == "View" and len(book.sheetnames) > 2
    view = {row[0]: row[1] for row in book["View"].iter_rows(values_only=True) if row[0]}
    assert view.get("Page") == "Overview"
    assert any("AT" in str(value) for key, value in view.items() if "filter" in str(key).lower()), view
    assert any(str(value).startswith(f"{server}/?") and "f.country=AT" in str(value) for value in view.values()), view
    phases = book[book.sheetnames[1]]
    header = [cell.value for cell in phases[1]]
    counts = [row[header.index("Customers")] for row in phases.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(n, int) for n in counts) and sum(counts) == customers  # numbers stored as numbers

    # the report: one HTML file, the same numbers, drawn offline from the file
    report = download(page, "Report of this view (HTML, prints to PDF)", tmp_path)
    text = report.read_text(encoding="utf-8")
    assert f"{customers:,}" in text and "f.country=AT" in text
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?https?:""", text)
    opened = new_page()
    opened.goto(report.as_uri())
    expect(opened.locator(".main-svg").first).to_be_attached(timeout=60_000)  # Plotly drew a chart from the file
    assert opened.locator("table").count() >= 1
    opened.screenshot(path=str(artifacts / "report_overview.png"), full_page=False)
