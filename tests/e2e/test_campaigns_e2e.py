"""Browser test of the Campaigns page: plan two scenarios, copy the link, and see the same scenarios with the
same numbers in a fresh browser context (Chromium against `streamlit run app.py`, fixtures in conftest.py,
waiting helpers shared with test_browser.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from test_browser import assert_no_exception, choose, open_app, rerun, widget


def main(page: Page):
    return page.locator('[data-testid="stMain"]')


def results(page: Page) -> list[str]:
    """The cells of the side-by-side results table (measure, then one column per scenario)."""
    frame = page.locator('.st-key-campaigns_results [data-testid="stDataFrame"]')
    frame.scroll_into_view_if_needed()
    cells = frame.locator('[role="gridcell"]')
    expect(cells.first).to_be_attached()
    return [c.strip() for c in cells.all_inner_texts()]


def column(page: Page, name: str):
    """The block of scenario ``name`` (its editor and target), found by its heading."""
    # A CSS match, not get_by_role: while a selectbox's list is open the rest of the page is
    # aria-hidden, and a role locator would no longer find the heading.
    return main(page).locator('[data-testid="stColumn"]').filter(
        has=page.locator('[data-testid="stHeading"]', has_text=re.compile(rf"^\s*Scenario {name}\s*$")))


def fill_number(page: Page, scope, label: str, value: str) -> None:
    field = widget(scope, "stNumberInput", label).locator("input")
    with rerun(page, f"set {label}"):
        field.fill(value)
        field.press("Enter")


def test_a_planned_scenario_survives_the_copied_link(new_page, server, artifacts):
    page = new_page(1500, 1000)
    open_app(page, f"{server}/campaigns?page=campaigns")
    assert_no_exception(page, "campaigns")
    default = results(page)

    # scenario A: churn reduction at €2.50 per contact; scenario B: order value
    choose(page, widget(column(page, "A"), "stSelectbox", "Action"), "Churn reduction (customers not churned)")
    fill_number(page, column(page, "A"), "Cost per contact (€)", "2.50")
    choose(page, widget(main(page), "stSelectbox", "Scenarios"), "2")
    choose(page, widget(column(page, "B"), "stSelectbox", "Action"), "Order value")
    assert_no_exception(page, "campaigns with two scenarios")
    page.wait_for_url(re.compile(r"[?&]p\.campaigns_a_action=churn_reduction(&|$)"))
    page.wait_for_url(re.compile(r"[?&]p\.campaigns_a_cost_per_contact=2\.5(&|$)"))
    page.wait_for_url(re.compile(r"[?&]p\.campaigns_b_action=order_value(&|$)"))
    planned = results(page)
    rows = len(default) // 2  # one row per measure: its name, then one cell per scenario
    assert len(planned) == 3 * rows and planned[0] == "Contacted customers" and planned != default
    contacted = planned[planned.index("Contacted customers") + 1]
    cost = planned[planned.index("Cost") + 1]
    assert cost == f"€{2.5 * int(contacted.replace(',', '')):,.0f}"
    url = page.url

    fresh = new_page(1500, 1000)  # a new browser context: no session, only the link
    open_app(fresh, url)
    assert_no_exception(fresh, "copied campaigns link")
    assert results(fresh) == planned
    expect(widget(column(fresh, "A"), "stSelectbox", "Action").get_by_role("combobox")).to_have_value(
        "Churn reduction (customers not churned)")
    expect(widget(column(fresh, "B"), "stSelectbox", "Action").get_by_role("combobox")).to_have_value("Order value")
    expect(widget(column(fresh, "A"), "stNumberInput", "Cost per contact (€)").locator("input")).to_have_value("2.50")
    fresh.screenshot(path=str(artifacts / "campaigns_link.png"))
