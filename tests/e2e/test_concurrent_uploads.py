"""Two managers upload at once, from two browsers, into new datasets of the same running app.

Before the write path was serialised, two loads on the app's one process connection mixed their
transactions ("Catalog Error: clm_stage_0_errors does not exist", a segmentation fault) and left both
datasets empty. Each upload here is large enough (tens of thousands of rows) that the two loads overlap.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from test_browser import assert_no_exception, choose, data_frames, go_to, open_app, rerun, settle, widget

ROWS = 40_000


def _transactions(tag: str) -> bytes:
    lines = ["customer_id,ordered_at,amount"]
    lines += [f"{tag}{i % 3000},2025-{1 + i % 12:02d}-{1 + i % 28:02d},{(i % 97) + 0.5}" for i in range(ROWS)]
    lines.append(f"{tag}x,not a date,1")  # one rejected row each
    return ("\n".join(lines) + "\n").encode()


def _prepare_upload(page: Page, server: str, name: str, tag: str):
    """Open the Data page, upload the file and name the new dataset; returns the main area."""
    open_app(page, server)
    go_to(page, server, "data")
    main = page.locator('[data-testid="stMain"]')
    with rerun(page, "upload"):
        widget(main, "stFileUploader", "Upload files").locator('input[type="file"]').set_input_files(
            {"name": f"orders_{tag}.csv", "mimeType": "text/csv", "buffer": _transactions(tag)})
    choose(page, widget(main, "stSelectbox", "Load into dataset"), "New dataset…")
    field = widget(main, "stTextInput", "Name of the new dataset").locator("input")
    with rerun(page, "dataset name"):
        field.fill(name)
        field.press("Enter")
    return main


def test_two_uploads_at_once_from_two_browsers_both_load(new_page, server, server_log):
    first, second = new_page(), new_page()
    main_a = _prepare_upload(first, server, "Upload A", "a")
    main_b = _prepare_upload(second, server, "Upload B", "b")
    # both Load buttons pressed together: the server runs both callbacks in their sessions' threads
    main_a.get_by_role("button", name="Load", exact=True).click()
    main_b.get_by_role("button", name="Load", exact=True).click()
    for page, main, name in ((first, main_a, "Upload A"), (second, main_b, "Upload B")):
        expect(main.get_by_role("heading", name="Ingest report")).to_be_visible()
        settle(page)
        assert_no_exception(page, f"{name}: ingest report")
        expect(main).to_contain_text(name)
        expect(main.get_by_text(re.compile(r"^1 row\(s\) were rejected"))).to_be_visible()
        summary = [f[:4] for f in data_frames(page)]
        assert ["Transactions", f"{ROWS + 1:,}", f"{ROWS:,}", "1"] in summary or \
            ["Transactions", str(ROWS + 1), str(ROWS), "1"] in summary, summary  # the table by its display name
    log = server_log.read_text(errors="replace")
    assert "Traceback" not in log and "Segmentation" not in log, log[-3000:]
