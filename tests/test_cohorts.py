"""Cohort retention (DESIGN §3.3): month, week and quarter cohorts with hand-computed cells."""

from __future__ import annotations

import datetime as dt

import pytest

from clm_core.metrics.cohorts import cohort_retention


def cells(frame, *columns):
    """(cohort, period) -> tuple of the given columns."""
    return {(c, p): tuple(row) for c, p, *row in frame[["cohort", "period", *columns]].itertuples(index=False)}


@pytest.fixture(scope="module")
def month_ds(load):
    return load(
        customers="""
        customer_id
        a
        b
        c
        d
        f
        p
        """,
        # T = 2024-03-15.
        # a: Jan cohort, buys in Jan, Feb, Mar.   b: Jan cohort, only a return in Feb.
        # c: Feb cohort, buys again in Mar (and after T).   d: first transaction a return in Jan, first
        # purchase in Feb -> Feb cohort.   f: first purchase on T -> Mar cohort.   g: only after T.   p: prospect.
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-05,100
        a,2024-02-10,50
        a,2024-03-01,20
        b,2024-01-20,60
        b,2024-02-15,-30
        c,2024-02-03,40
        c,2024-03-10,40
        c,2024-03-20,100
        d,2024-01-28,-10
        d,2024-02-25,30
        f,2024-03-15,25
        g,2024-04-02,70
        """,
    )


def test_month_cohorts_retention(month_ds):
    r = cohort_retention(month_ds, "2024-03-15")
    # only periods up to T's month: Jan 0-2, Feb 0-1, Mar 0 (no April, no Jan period 3)
    assert list(zip(r["cohort"], r["period"])) == [
        ("2024-01", 0), ("2024-01", 1), ("2024-01", 2), ("2024-02", 0), ("2024-02", 1), ("2024-03", 0)
    ]
    assert cells(r, "cohort_size", "active_customers") == {
        # Jan = {a, b}: Jan a, b; Feb a (b only returned); Mar a
        ("2024-01", 0): (2, 2), ("2024-01", 1): (2, 1), ("2024-01", 2): (2, 1),
        # Feb = {c, d} (d's January return does not make it a January customer): Feb c, d; Mar c
        ("2024-02", 0): (2, 2), ("2024-02", 1): (2, 1),
        # Mar = {f}: bought on T
        ("2024-03", 0): (1, 1),
    }
    assert r["retention"].tolist() == pytest.approx([1.0, 0.5, 0.5, 1.0, 0.5, 1.0])
    assert str(r["cohort_start"].iloc[0])[:10] == "2024-01-01"


def test_month_cohorts_partial_period(month_ds):
    r = cohort_retention(month_ds, "2024-03-15")
    # the cells in March (the month containing T) are partial, the others complete
    assert cells(r, "partial") == {
        ("2024-01", 0): (False,), ("2024-01", 1): (False,), ("2024-01", 2): (True,),
        ("2024-02", 0): (False,), ("2024-02", 1): (True,), ("2024-03", 0): (True,),
    }


def test_month_cohorts_revenue_with_returns(month_ds):
    r = cohort_retention(month_ds, "2024-03-15")
    got = cells(r, "revenue", "revenue_retention", "cumulative_revenue_per_customer")
    expected = {
        # Jan: 100 + 60 = 160; Feb: 50 − 30 (b's return) = 20 -> 20/160; Mar: 20 -> 20/160
        # cumulative per customer (size 2): 160/2 = 80, 180/2 = 90, 200/2 = 100
        ("2024-01", 0): (160.0, 1.0, 80.0),
        ("2024-01", 1): (20.0, 0.125, 90.0),
        ("2024-01", 2): (20.0, 0.125, 100.0),
        # Feb: c 40 + d 30 = 70 (d's January return is before its cohort); Mar: c 40 (03-20 is after T)
        # cumulative: 70/2 = 35, 110/2 = 55
        ("2024-02", 0): (70.0, 1.0, 35.0),
        ("2024-02", 1): (40.0, 40 / 70, 55.0),
        ("2024-03", 0): (25.0, 1.0, 25.0),
    }
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values), key


def test_later_as_of_adds_periods(month_ds):
    r = cohort_retention(month_ds, "2024-04-02")
    # T in April: Jan cohort gets period 3 (April: nobody bought -> 0, partial); g joins as April cohort
    jan3 = r[(r["cohort"] == "2024-01") & (r["period"] == 3)].iloc[0]
    assert (jan3["active_customers"], jan3["retention"], bool(jan3["partial"])) == (0, 0.0, True)
    # c's 03-20 purchase is now counted: Feb cohort March revenue 40 + 100 = 140
    feb1 = r[(r["cohort"] == "2024-02") & (r["period"] == 1)].iloc[0]
    assert feb1["revenue"] == pytest.approx(140.0)
    assert not feb1["partial"]
    assert r[r["cohort"] == "2024-04"]["cohort_size"].tolist() == [1]


def test_week_cohorts(load):
    ds = load(
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-01,10
        a,2024-01-07,10
        a,2024-01-08,10
        b,2024-01-07,10
        b,2024-01-15,10
        c,2024-01-08,10
        """
    )
    # weeks start on Monday: 2024-01-01 (Mon) .. 01-07 (Sun) is week 2024-W01; 01-08 starts W02.
    # W01 = {a, b}: period 0 a, b; period 1 (01-08..14) a; period 2 (01-15..21, contains T = 01-17) b
    # W02 = {c}: period 0 c; period 1 (contains T) nobody
    r = cohort_retention(ds, "2024-01-17", period="week")
    assert cells(r, "cohort_size", "active_customers", "partial") == {
        ("2024-W01", 0): (2, 2, False), ("2024-W01", 1): (2, 1, False), ("2024-W01", 2): (2, 1, True),
        ("2024-W02", 0): (1, 1, False), ("2024-W02", 1): (1, 0, True),
    }
    assert str(r["cohort_start"].iloc[0])[:10] == "2024-01-01"


def test_quarter_cohorts(load):
    ds = load(
        transactions="""
        customer_id,ordered_at,amount
        a,2023-11-15,10
        a,2024-03-31,10
        b,2024-01-01,10
        b,2024-04-01,10
        """
    )
    # T = 2024-04-01 is in 2024-Q2.
    # 2023-Q4 = {a}: period 0 a; period 1 (2024-Q1) a on 03-31; period 2 (2024-Q2) nobody, partial
    # 2024-Q1 = {b}: period 0 b; period 1 (2024-Q2) b on T, partial
    r = cohort_retention(ds, "2024-04-01", period="quarter")
    assert cells(r, "cohort_size", "active_customers", "retention", "partial") == {
        ("2023-Q4", 0): (1, 1, 1.0, False), ("2023-Q4", 1): (1, 1, 1.0, False), ("2023-Q4", 2): (1, 0, 0.0, True),
        ("2024-Q1", 0): (1, 1, 1.0, False), ("2024-Q1", 1): (1, 1, 1.0, True),
    }
    assert [str(d)[:10] for d in r["cohort_start"].unique()] == ["2023-10-01", "2024-01-01"]


def test_as_of_default_and_date(month_ds):
    # default T is the latest transaction day (2024-04-02)
    assert cohort_retention(month_ds).equals(cohort_retention(month_ds, dt.date(2024, 4, 2)))
    with pytest.raises(ValueError):
        cohort_retention(month_ds, "2024-03-15", period="year")
