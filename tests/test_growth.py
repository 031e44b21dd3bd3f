"""Growth accounting and stickiness (DESIGN §3.1b) on a hand-made fixture."""

from __future__ import annotations

import math

import pytest

from clm_core.filters import SegmentFilter
from clm_core.metrics.growth import growth_accounting, stickiness


@pytest.fixture(scope="module")
def ds(load):
    # T = 2024-04-10 (April partial). Purchase months per customer (returns are not activity):
    #   a: Jan, Feb, Mar, Apr   (new Jan, returning Feb–Apr)
    #   b: Jan, Mar             (new Jan, dormant Feb, resurrecting Mar, dormant Apr)
    #   c: Feb (two days), Apr  (new Feb, dormant Mar, resurrecting Apr)
    #   d: Mar, and a return in Apr (new Mar, dormant Apr)
    #   e: Apr on T             (new Apr)
    #   f: only after T         (nothing)
    return load(
        customers="""
        customer_id,country
        a,DE
        b,DE
        c,AT
        d,AT
        e,DE
        f,DE
        """,
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-03,10
        a,2024-02-03,10
        a,2024-03-03,10
        a,2024-04-03,10
        b,2024-01-15,10
        b,2024-03-15,10
        c,2024-02-01,10
        c,2024-02-20,10
        c,2024-04-01,10
        d,2024-03-31,10
        d,2024-04-02,-10
        e,2024-04-10,10
        f,2024-04-11,10
        """,
    )


def by_period(frame):
    return {r.period: r for r in frame.itertuples(index=False)}


def test_growth_accounting_by_month(ds):
    rows = by_period(growth_accounting(ds, "2024-04-10", periods=4))
    assert list(rows) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    got = {p: (r.new, r.returning, r.resurrecting, r.dormant, r.active) for p, r in rows.items()}
    assert got == {
        "2024-01": (2, 0, 0, 0, 2),
        "2024-02": (1, 1, 0, -1, 2),   # b dormant
        "2024-03": (1, 1, 1, -1, 3),   # c dormant; b resurrects
        "2024-04": (1, 1, 1, -2, 3),   # b and d dormant; c resurrects; e new
    }
    assert math.isnan(rows["2024-01"].quick_ratio)
    assert rows["2024-03"].quick_ratio == pytest.approx(2.0)
    assert rows["2024-04"].quick_ratio == pytest.approx(1.0)
    assert [r.partial for r in rows.values()] == [False, False, False, True]


def test_growth_accounting_window_and_segment(ds):
    # Only the last two months; the month before the window still feeds dormant.
    rows = by_period(growth_accounting(ds, "2024-04-10", periods=2))
    assert list(rows) == ["2024-03", "2024-04"] and rows["2024-03"].dormant == -1
    at = by_period(growth_accounting(ds, "2024-04-10", periods=3, segment=SegmentFilter(attributes={"country": ("AT",)})))
    assert {p: (r.new, r.returning, r.resurrecting, r.dormant) for p, r in at.items()} == {
        "2024-02": (1, 0, 0, 0), "2024-03": (1, 0, 0, -1), "2024-04": (0, 0, 1, -1),
    }


def test_growth_accounting_by_quarter(ds):
    rows = by_period(growth_accounting(ds, "2024-04-10", period="quarter", periods=2))
    # Q1: a, b, c, d all new. Q2: a, c returning; b, d dormant; e new.
    assert (rows["2024-Q1"].new, rows["2024-Q1"].returning) == (4, 0)
    q2 = rows["2024-Q2"]
    assert (q2.new, q2.returning, q2.resurrecting, q2.dormant, q2.partial) == (1, 2, 0, -2, True)


def test_stickiness_counts_active_months_among_the_last_n(ds):
    frame = stickiness(ds, "2024-04-10", periods=3)  # Feb, Mar, Apr
    counts = dict(zip(frame.active_periods, frame.customers))
    # a: 3; b: 1 (Mar); c: 2 (Feb, Apr); d: 1 (Mar); e: 1 (Apr); f: not a purchaser at T.
    assert counts == {0: 0, 1: 3, 2: 1, 3: 1}
    assert frame.share.sum() == pytest.approx(1.0)
    early = dict(zip(*stickiness(ds, "2024-04-10", periods=1)[["active_periods", "customers"]].T.values))
    assert early == {0: 2, 1: 3}  # April: a, c, e; b and d not
