"""Drill-downs behind the Funnel and Cohorts pages, on a hand-made dataset with hand-computed answers."""

from __future__ import annotations

import pandas as pd
import pytest

from clm_core.filters import SegmentFilter
from clm_core.metrics import drilldown
from clm_core.metrics.cohorts import cohort_retention, period_label
from clm_core.metrics.funnel import dropped_customers

T = "2024-03-31"


@pytest.fixture(scope="module")
def ds(load):
    return load(
        customers="""
        customer_id,created_at,channel,region,tier
        a,2023-12-20,web,north,1
        b,2024-01-02,shop,north,2
        c,2024-01-10,web,north,3
        d,2024-01-15,shop,north,4
        e,2024-02-20,web,north,5
        """,
        # a: Jan cohort, buys Jan, Feb, Mar.  b: Jan cohort, only a return in Mar (not active).
        # c: Jan cohort, buys again in Mar.  d: Feb cohort, two purchases in Feb.
        # e: a return in Feb, first purchase in Mar -> Mar cohort.  f: implicit, buys only after T.
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-05,100
        a,2024-02-10,50
        a,2024-03-20,30
        b,2024-01-20,40
        b,2024-03-02,-10
        c,2024-01-31,10
        c,2024-03-05,20
        d,2024-02-01,25
        d,2024-02-15,25
        e,2024-02-29,-5
        e,2024-03-10,60
        f,2024-04-02,99
        """,
        events="""
        customer_id,occurred_at,event
        a,2024-01-01 09:00,visit
        a,2024-01-02 09:00,visit
        a,2024-01-03 09:00,lead
        b,2024-01-10 09:00,visit
        b,2024-01-11 09:00,lead
        c,2024-01-15 09:00,signup
        c,2024-01-25 09:00,visit
        c,2024-02-01 09:00,lead
        d,2024-01-20 09:00,visit
        e,2024-03-01 09:00,visit
        e,2024-03-02 09:00,lead
        """,
    )


def ids(frame_or_table):
    frame = frame_or_table if isinstance(frame_or_table, pd.DataFrame) else frame_or_table.execute()
    return sorted(frame["customer_id"].tolist())


# ---------------------------------------------------------------- funnel options

def test_event_names_most_frequent_first(ds):
    # visit 6, lead 4, signup 1
    assert drilldown.event_names(ds) == ["visit", "lead", "signup"]
    # shop customers b and d: visit twice (b, d), lead once (b)
    shop = SegmentFilter({"channel": ("shop",)})
    assert drilldown.event_names(ds, segment=shop, as_of=T) == ["visit", "lead"]


def test_event_names_without_events_table(load):
    plain = load(transactions="customer_id,ordered_at,amount\nx,2024-01-01,5\n")
    assert drilldown.event_names(plain) == []


def test_step_availability(ds, load):
    full = drilldown.step_availability(ds)
    assert full.milestones == ("created", "first_purchase", "repeat_purchase")
    assert full.events == ("visit", "lead", "signup")
    assert full.missing == (("promoter", "nps"),)
    assert full.steps == ("created", "first_purchase", "repeat_purchase", "visit", "lead", "signup")

    plain = load(customers="customer_id,channel\nx,web\n", transactions="customer_id,ordered_at,amount\nx,2024-01-01,5\n")
    poor = drilldown.step_availability(plain)
    assert poor.milestones == ("first_purchase", "repeat_purchase")
    assert poor.events == ()
    assert [m for m, _ in poor.missing] == ["created", "promoter", "events"]


def test_breakdown_attributes_and_top_values(ds):
    # region has one value, tier five, created_at and customer_id are never a breakdown
    assert drilldown.breakdown_attributes(ds, max_values=4) == ["channel"]
    assert drilldown.breakdown_attributes(ds, max_values=5) == ["channel", "tier"]
    # buyers on or before T: a, c, e (web) and b, d (shop); f buys after T and has no channel
    top = drilldown.top_values(ds, "channel", 5, as_of=T)
    assert top.to_dict("records") == [{"value": "web", "customers": 3}, {"value": "shop", "customers": 2}]
    assert drilldown.top_values(ds, "channel", 1, as_of=T)["value"].tolist() == ["web"]
    # before e's first purchase only a and c are web buyers
    early = drilldown.top_values(ds, "channel", 5, as_of="2024-02-29")
    assert early.to_dict("records") == [{"value": "shop", "customers": 2}, {"value": "web", "customers": 2}]
    with pytest.raises(ValueError):
        drilldown.top_values(ds, "nope")


def test_narrow_keeps_the_rest_of_the_filter():
    base = SegmentFilter({"country": ("DE", "AT")}, ("new",), "2024-01", None, "L1")
    narrowed = drilldown.narrow(base, "channel", "web")
    assert narrowed.attributes == {"country": ("DE", "AT"), "channel": ("web",)}
    assert (narrowed.stages, narrowed.cohort_from, narrowed.customer_list) == (("new",), "2024-01", "L1")
    assert drilldown.narrow(base, "country", "AT").attributes == {"country": ("AT",)}


# ---------------------------------------------------------------- funnel drill-down

def test_funnel_dropped(ds):
    steps = ["visit", "lead", "first_purchase"]
    # visit: a, b, c, d, e.  lead after visit: a, b, c (02-01), e.  d never has a lead -> drops at 2.
    # first purchase on or after lead: a (01-05 >= 01-03), b (01-20), e (03-10); c's first purchase
    # (01-31) precedes its lead (02-01) -> drops at 3.
    at2 = drilldown.funnel_dropped(ds, steps, 2, as_of=T).execute()
    assert at2["customer_id"].tolist() == ["d"]
    assert str(at2["reached_previous_on"].iloc[0])[:10] == "2024-01-20"
    at3 = drilldown.funnel_dropped(ds, steps, 3, as_of=T).execute()
    assert at3["customer_id"].tolist() == ["c"]
    assert str(at3["reached_previous_on"].iloc[0])[:10] == "2024-02-01"
    # the same as funnel.dropped_customers
    assert ids(at3) == ids(dropped_customers(ds, steps, 3, as_of=T))
    # a 7-day window: a reaches purchase 4 days after its visit, b 10 days, e 9 days
    week = drilldown.funnel_dropped(ds, steps, 3, as_of=T, window_days=7)
    assert ids(week) == ["b", "c", "e"]
    web = SegmentFilter({"channel": ("web",)})
    assert ids(drilldown.funnel_dropped(ds, steps, 2, as_of=T, segment=web)) == []
    with pytest.raises(ValueError):
        drilldown.funnel_dropped(ds, steps, 1, as_of=T)


# ---------------------------------------------------------------- cohorts

@pytest.mark.parametrize("period", ["month", "week", "quarter"])
def test_period_labels_round_trip(period):
    for index in ([24290, 24291, 24300, 24307] if period == "month" else
                  [8096, 8099, 8100] if period == "quarter" else [1250, 1251, 1300, 1302]):
        assert drilldown.parse_period_label(period_label(index, period), period) == index


def test_parse_period_label_rejects_garbage():
    for label, period in [("2024-13", "month"), ("2024-Q5", "quarter"), ("2024-W54", "week"), ("x", "month")]:
        with pytest.raises(ValueError):
            drilldown.parse_period_label(label, period)


def test_cohort_customers_by_hand(ds):
    def cell(label, offset, period="month", **kw):
        return drilldown.cohort_customers(ds, T, period, label, offset, **kw).execute()

    jan0 = cell("2024-01", 0)
    assert jan0["customer_id"].tolist() == ["a", "b", "c"]
    assert jan0["revenue"].tolist() == [100, 40, 10]
    assert ids(cell("2024-01", 1)) == ["a"]
    mar = cell("2024-01", 2)  # b only returned something in March: not active
    assert mar["customer_id"].tolist() == ["a", "c"]
    assert mar["revenue"].tolist() == [30, 20]
    assert cell("2024-02", 0).to_dict("records") == [{"customer_id": "d", "purchase_days": 2, "revenue": 50}]
    assert ids(cell("2024-03", 0)) == ["e"]  # e's February return does not make it a February customer
    assert ids(cell("2024-02", 2)) == []  # after T's period: nobody
    assert ids(cell("2024-Q1", 0, "quarter")) == ["a", "b", "c", "d", "e"]
    # a's first purchase (Fri 2024-01-05) is in ISO week 1; 2024-02-10 (Sat) is in week 6 = offset 5
    assert ids(cell("2024-W01", 0, "week")) == ["a"]
    assert ids(cell("2024-W01", 5, "week")) == ["a"]
    assert ids(cell("2024-W03", 0, "week")) == ["b"]
    web = SegmentFilter({"channel": ("web",)})
    shop = SegmentFilter({"channel": ("shop",)})
    assert ids(cell("2024-01", 2, segment=web)) == ["a", "c"]
    assert ids(cell("2024-01", 0, segment=shop)) == ["b"]
    # as of Feb 29, March has not begun
    assert ids(drilldown.cohort_customers(ds, "2024-02-29", "month", "2024-01", 2)) == []
    with pytest.raises(ValueError):
        cell("2024-01", -1)


@pytest.mark.parametrize("period", ["month", "week", "quarter"])
def test_cohort_customers_match_the_retention_cells(ds, period):
    table = cohort_retention(ds, as_of=T, period=period)
    for row in table.itertuples():
        listed = drilldown.cohort_customers(ds, T, period, row.cohort, row.period).execute()
        assert len(listed) == row.active_customers, (row.cohort, row.period)


def _retention_frame():
    # cohort A (10 customers): offsets 0, 1 complete, 2 partial; cohort B (30): offset 0 complete, 1 partial
    return pd.DataFrame({
        "cohort": ["A", "A", "A", "B", "B"],
        "period": [0, 1, 2, 0, 1],
        "cohort_size": [10, 10, 10, 30, 30],
        "active_customers": [10, 4, 2, 30, 15],
        "retention": [1.0, 0.4, 0.2, 1.0, 0.5],
        "revenue": [100.0, 50.0, 20.0, 300.0, 60.0],
        "revenue_retention": [1.0, 0.5, 0.2, 1.0, 0.2],
        "partial": [False, False, True, False, True],
    })


def test_average_by_measure_uses_complete_periods_weighted_by_size():
    frame = _retention_frame()
    customers = drilldown.average_by_measure(frame, "customers")
    assert customers["period"].tolist() == [0, 1]
    assert customers["value"].tolist() == pytest.approx([1.0, 0.4])  # offset 1: only A is complete
    assert customers["cohorts"].tolist() == [2, 1]
    complete = frame.assign(partial=False)
    assert drilldown.average_by_measure(complete, "customers")["value"].tolist() == pytest.approx(
        [1.0, (4 + 15) / 40, 2 / 10])
    revenue = drilldown.average_by_measure(complete, "revenue")
    assert revenue["value"].tolist() == pytest.approx([1.0, (50 + 60) / 400, 20 / 100])
    with pytest.raises(ValueError):
        drilldown.average_by_measure(frame, "margin")


def test_trend_by_measure():
    frame = _retention_frame()
    trend = drilldown.trend_by_measure(frame, 1, "customers")
    assert trend.to_dict("records") == [
        {"cohort": "A", "cohort_size": 10, "value": 0.4, "partial": False},
        {"cohort": "B", "cohort_size": 30, "value": 0.5, "partial": True},
    ]
    assert drilldown.trend_by_measure(frame, 1, "revenue")["value"].tolist() == [0.5, 0.2]
    assert drilldown.trend_by_measure(frame, 2, "customers")["cohort"].tolist() == ["A"]
