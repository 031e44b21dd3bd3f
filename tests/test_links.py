"""Crafted links and runaway computations never reach a user as a traceback (DESIGN §5 "Every input is
bounded"): an out-of-range or unparseable link value is a warning and the default (or, for the as-of
date, the nearest day of the data) is used; a computation past the time limit is one line.

The demo (tests/conftest.py demo_db) runs from 2023-11-09 to 2026-10-31.
"""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from apptest import open_page

HUGE = "99999999999999999999999"
FIRST, LAST = dt.date(2023, 11, 9), dt.date(2026, 10, 31)


def warnings_of(at) -> list[str]:
    return [w.value for w in at.warning]


def sidebar_date(at) -> dt.date:
    return next(d for d in at.date_input if d.key == "w.as_of").value


def test_demo_span_is_what_these_tests_assume(demo_db):
    at = open_page("overview")
    assert not at.exception and not at.warning
    assert sidebar_date(at) == LAST


@pytest.mark.parametrize("page", ["overview", "lifecycle", "cohorts"])
@pytest.mark.parametrize("asof, used", [("9999-12-31", LAST), ("0001-01-01", FIRST)])
def test_as_of_outside_the_data_is_clamped(demo_db, page, asof, used):
    at = open_page(page, asof=asof)
    assert not at.exception
    assert any("lies outside the data" in w and f"{used.isoformat()} is used instead" in w
               for w in warnings_of(at)), warnings_of(at)
    assert sidebar_date(at) == used
    if page == "lifecycle":  # the stage distribution's heading names the date used
        assert any(used.isoformat() in h.value for h in at.subheader)


def test_the_sidebar_date_picker_offers_only_the_data_s_days(demo_db):
    picker = next(d for d in open_page("overview", asof="2024-05-01").date_input if d.key == "w.as_of")
    assert (picker.min, picker.value, picker.max) == (FIRST, dt.date(2024, 5, 1), LAST)


def test_clamped_overview_shows_the_same_numbers_as_the_last_day(demo_db):
    clamped, plain = open_page("overview", asof="9999-12-31"), open_page("overview")
    assert [m.value for m in clamped.metric] == [m.value for m in plain.metric]


def test_as_of_warning_in_german(demo_db):
    at = open_page("overview", asof="9999-12-31", lang="de")
    assert not at.exception
    assert any("liegt außerhalb der Daten" in w and "31.10.2026" in w for w in warnings_of(at)), warnings_of(at)


def test_unparseable_as_of_is_a_warning(demo_db):
    at = open_page("overview", asof="2024-13-45")
    assert not at.exception
    assert any("is not a date" in w for w in warnings_of(at))
    assert sidebar_date(at) == LAST


def test_huge_threshold_is_refused_on_every_page(demo_db):
    at = open_page("lifecycle", **{"p.new_days": HUGE})
    assert not at.exception
    assert any("p.new_days" in w and "1 to 3,650" in w and "`90`" in w for w in warnings_of(at)), warnings_of(at)
    widget = next(n for n in at.number_input if n.key == "w.lifecycle.new_days")
    assert widget.value == 90 and widget.max == 3650 and widget.min == 1
    overview = open_page("overview", **{"p.churn_days": "0"})
    assert not overview.exception
    assert any("p.churn_days" in w for w in warnings_of(overview))
    assert [m.value for m in overview.metric] == [m.value for m in open_page("overview").metric]


def test_threshold_edges_pass(demo_db):
    at = open_page("lifecycle", **{"p.churn_days": "3650", "p.at_risk_days": "1"})
    assert not at.exception and not at.warning
    assert next(n for n in at.number_input if n.key == "w.lifecycle.churn_days").value == 3650
    assert next(n for n in at.number_input if n.key == "w.lifecycle.at_risk_days").value == 1


def test_huge_funnel_window_is_refused(demo_db):
    at = open_page("funnel", **{"p.funnel_window": HUGE})
    assert not at.exception
    assert any("p.funnel_window" in w and "`365`" in w for w in warnings_of(at)), warnings_of(at)
    widget = next(n for n in at.number_input if n.key == "w.funnel.funnel_window")
    assert widget.value == 365 and widget.max == 3650


@pytest.mark.parametrize("limits", [HUGE, f"2:{HUGE}", f"{HUGE}:5", "2:0", "2:nan"])
def test_bad_funnel_limits_are_refused(demo_db, limits):
    at = open_page("funnel", **{"p.funnel_limits": limits})
    assert not at.exception
    assert any("p.funnel_limits" in w for w in warnings_of(at)), warnings_of(at)
    limit_inputs = [n for n in at.number_input if n.key.startswith("w.funnel.limit.")]
    assert limit_inputs and all(n.value == 0 and n.max == 3650 for n in limit_inputs)
    assert "p.funnel_limits" not in at.query_params


def test_a_good_funnel_limit_is_kept(demo_db):
    at = open_page("funnel", **{"p.funnel_limits": "2:30"})
    assert not at.exception and not at.warning
    assert next(n for n in at.number_input if n.key.startswith("w.funnel.limit.2.")).value == 30


@pytest.mark.parametrize("discount", ["nan", "inf", "-1", "101", HUGE])
def test_bad_discount_is_refused(demo_db, discount):
    at = open_page("value", **{"p.value_discount": discount})
    assert not at.exception
    assert any("p.value_discount" in w and "`10`" in w for w in warnings_of(at)), warnings_of(at)
    widget = next(n for n in at.number_input if n.key == "w.value.value_discount")
    assert widget.value == 10.0 and widget.max == 100.0


def test_link_text_is_not_markup(demo_db):
    at = open_page("funnel", **{"p.funnel_window": "[x](javascript:alert(1))<b>"})
    assert not at.exception
    shown = [w for w in warnings_of(at) if "p.funnel_window" in w]
    assert shown and "<b>" not in shown[0] and "](" not in shown[0]


# ----------------------------------------------------------------------------------------- time limit

def _slow_page():
    import streamlit as st

    from clm_core import store
    from clm_ui import data
    from clm_ui.page import context

    slow = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = 7"

    def runaway(ds, *, segment=None, config=None, fast=False):
        return store.raw(ds.con).execute("SELECT 42" if fast else slow).fetchone()[0]

    data.register("runaway", runaway)
    ctx = context()
    st.write(f"fast {ctx.metric('runaway', fast=True)}")
    st.write(f"slow {ctx.metric('runaway')}")
    st.write("not reached")


def test_a_runaway_computation_is_stopped_with_one_line(demo_db, monkeypatch):
    monkeypatch.setenv("CLM_QUERY_SECONDS", "1")
    at = AppTest.from_function(_slow_page, default_timeout=60).run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert "fast 42" in texts and "not reached" not in texts
    assert [e.value for e in at.error] == [
        "This computation took longer than 1 s and was stopped; narrow the date range or the filter."]
    again = at.run()  # the failure was not cached: it runs (and is stopped) again
    assert [e.value for e in again.error] == [e.value for e in at.error] and not again.exception


def test_a_runaway_computation_in_german(demo_db, monkeypatch):
    monkeypatch.setenv("CLM_QUERY_SECONDS", "1")
    at = AppTest.from_function(_slow_page, default_timeout=60)
    at.query_params["lang"] = "de"
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("Diese Berechnung dauerte länger als 1 s und wurde abgebrochen")


@pytest.mark.parametrize("link, used", [("0001-01-01", FIRST), ("9999-12-31", LAST), ("yesterday", None)])
def test_migration_dates_stay_within_the_data(demo_db, link, used):
    at = open_page("lifecycle", **{"p.lifecycle_from": link})
    assert not at.exception
    assert any("p.lifecycle_from" in w or "lies outside the data" in w for w in warnings_of(at)), warnings_of(at)
    start = next(d for d in at.date_input if d.key == "w.lifecycle.lifecycle_from")
    if used is not None:
        assert start.value == used
    assert FIRST <= start.value <= LAST


def test_a_link_to_a_saved_view_that_is_not_there_is_one_warning(demo_db):
    at = open_page("overview", view="Zz9_-Zz9")
    assert not at.exception
    assert [w for w in warnings_of(at) if "saved view" in w] == [
        "The saved view `Zz9?-Zz9` of the link does not exist (or belongs to another workspace); "
        "the default view is shown."]
