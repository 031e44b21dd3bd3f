"""Sharing a view in a real browser: the sidebar's copy buttons put full links on the clipboard, and a
saved view's link opens that view (in a new tab, a session of its own)."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from test_browser import assert_no_exception, open_app, open_expander, overview_numbers, rerun, settle, sidebar

CLIPBOARD = "navigator.clipboard.readText()"


def copy(page, scope, label: str) -> str:
    """Click the copy button ``label`` in ``scope``, wait for its confirmation (its own text for a while),
    and return the clipboard's text."""
    page.evaluate("navigator.clipboard.writeText('')")
    scope.get_by_role("button", name=label, exact=True).click()
    expect(scope.get_by_role("button", name="✓ Link copied", exact=True)).to_be_visible()
    return page.evaluate(CLIPBOARD)


def test_copy_link_and_saved_view_links(new_page, server, artifacts):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    open_app(page, f"{server}/?f.country=AT")
    assert_no_exception(page, "overview with a filter")
    page.wait_for_url(re.compile(r"[?&]f\.country=AT(&|$)"))
    austria = overview_numbers(page)

    # 1. the current view's full URL, as the address bar has it
    copied = copy(page, sidebar(page), "Copy link to this view")
    assert copied == page.url
    assert copied.startswith(f"{server}/?") and "f.country=AT" in copied

    # 2. a saved view: a link to ?view=<id> and a button copying its full link
    views = open_expander(page, "Saved views")
    name = "Shared Austria"
    with rerun(page, "save view"):
        views.get_by_label("Name", exact=True).fill(name)
        views.get_by_role("button", name="Save this view").click()
    entry = open_expander(page, name, scope=views)
    link = entry.get_by_role("link", name=re.compile(r"^\?view="))
    expect(link).to_have_count(1)
    href = link.get_attribute("href")
    match = re.fullmatch(r"\./\?view=([A-Za-z0-9_-]{8})", href or "")
    assert match, f"the saved view's link is {href!r}"
    view_id = match.group(1)
    assert link.inner_text().strip() == f"?view={view_id}"
    assert copy(page, entry, "Copy link") == f"{server}/?view={view_id}"
    sidebar(page).screenshot(path=str(artifacts / "share_sidebar.png"))

    # 3. the link opens the saved view in a new tab
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.set_default_timeout(60_000)
    tab.wait_for_url(re.compile(rf"^{re.escape(server)}/\?"))
    settle(tab)
    tab.wait_for_url(re.compile(r"[?&]f\.country=AT(&|$)"))  # the saved view's state, written back to the URL
    settle(tab)
    assert_no_exception(tab, "saved view opened by its link")
    assert overview_numbers(tab) == austria
    tab.screenshot(path=str(artifacts / "shared_view.png"))
