"""RFM summary, historic value (DESIGN §3.5) and RFM scores / named segments."""

from __future__ import annotations

import pytest

from clm_core.metrics.clv import historic_value, rfm_summary
from clm_core.models.rfm import SEGMENT_NAMES, SEGMENTS, rfm_scores, segment_counts


T = "2024-03-31"


@pytest.fixture(scope="module")
def summary_ds(load):
    return load(
        customers="""
        customer_id
        a
        b
        c
        d
        e
        p
        r
        """,
        # a: purchase days 01-01 (50), 01-11 (20 + 10 = 30, one day), 02-10 (70); a return on 02-20 (-40)
        # b: one purchase.  c: two purchases with margins 0.5 and 0.25.  d: only a purchase after T.
        # e: only a return.  p: no transactions.  r: a return on its repeat purchase day.
        transactions="""
        customer_id,ordered_at,amount,margin
        a,2024-01-01,50,
        a,2024-01-11,20,
        a,2024-01-11,10,
        a,2024-02-10,70,
        a,2024-02-20,-40,
        b,2024-03-01,25,
        c,2024-02-01,100,0.5
        c,2024-03-01,200,0.25
        d,2024-04-05,80,
        e,2024-01-15,-15,
        r,2024-01-01,40,
        r,2024-02-01,60,
        r,2024-02-01,-20,
        """,
    )


def by_id(frame):
    return frame.set_index("customer_id")


def test_rfm_summary_days(summary_ds):
    s = rfm_summary(summary_ds, T)
    # only customers with a purchase day <= T: a, b, c (d buys after T, e only returned, p never bought)
    assert s["customer_id"].tolist() == ["a", "b", "c", "r"]
    s = by_id(s)
    # a: 3 purchase days -> frequency 2; recency 02-10 − 01-01 = 40; T 03-31 − 01-01 = 90;
    #    monetary = mean(30, 70) = 50 (the first day and the return are left out);
    #    historic value = 50 + 30 + 70 − 40 = 110
    assert tuple(s.loc["a", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (2, 40, 90, 50.0, 110.0)
    )
    # b: frequency 0, recency 0, T 03-01 -> 03-31 = 30, monetary 0, value 25
    assert tuple(s.loc["b", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (0, 0, 30, 0.0, 25.0)
    )
    # c: frequency 1, recency 02-01 -> 03-01 = 29, T 02-01 -> 03-31 = 59, monetary 200 (amount, not margin),
    #    historic value 100 * 0.5 + 200 * 0.25 = 100
    assert tuple(s.loc["c", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (1, 29, 59, 200.0, 100.0)
    )
    # r: the 02-01 return is no purchase (DESIGN §2): monetary = the repeat purchase 60, frequency 1;
    #    it reduces revenue: historic value 40 + 60 − 20 = 80
    assert tuple(s.loc["r", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (1, 31, 90, 60.0, 80.0)
    )


def test_rfm_summary_weeks(summary_ds):
    s = by_id(rfm_summary(summary_ds, T, time_unit="weeks"))
    # a: recency 40 / 7, T 90 / 7; frequency and monetary unchanged
    assert tuple(s.loc["a", ["frequency", "recency", "T", "monetary"]]) == pytest.approx((2, 40 / 7, 90 / 7, 50.0))
    assert tuple(s.loc["c", ["recency", "T"]]) == pytest.approx((29 / 7, 59 / 7))


def test_rfm_summary_as_of_cuts_later_purchases(summary_ds):
    s = by_id(rfm_summary(summary_ds, "2024-02-15"))
    # at 02-15: a's return (02-20) is not yet there: value 50 + 30 + 70 = 150; T 01-01 -> 02-15 = 45
    assert tuple(s.loc["a", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (2, 40, 45, 50.0, 150.0)
    )
    # c's 03-01 purchase is after T: one purchase day (02-01) -> frequency 0, recency 0, T 14, monetary 0,
    # value 100 * 0.5 = 50
    assert tuple(s.loc["c", ["frequency", "recency", "T", "monetary", "historic_value"]]) == pytest.approx(
        (0, 0, 14, 0.0, 50.0)
    )
    assert sorted(s.index) == ["a", "c", "r"]


def test_historic_value_every_customer(summary_ds):
    h = historic_value(summary_ds, T)
    # a 110, b 25, c 100 (× margin), d 0 (bought after T), e −15 (net of its return), p 0, r 80
    assert dict(zip(h["customer_id"], h["historic_value"])) == pytest.approx(
        {"a": 110.0, "b": 25.0, "c": 100.0, "d": 0.0, "e": -15.0, "p": 0.0, "r": 80.0}
    )
    later = dict(zip(*[historic_value(summary_ds, "2024-04-05")[k] for k in ("customer_id", "historic_value")]))
    assert later["d"] == pytest.approx(80.0)


def test_invalid_time_unit(summary_ds):
    with pytest.raises(ValueError):
        rfm_summary(summary_ds, T, time_unit="months")


# ------------------------------------------------------------------ RFM scores
@pytest.fixture(scope="module")
def scores_ds(load):
    # T = 2024-06-30.
    #        days since last      frequency (repeat days)    historic value
    # c1     0   (06-30)          3                          400
    # c2     10  (06-20)          0                          50
    # c3     10  (06-20)          1                          150
    # c4     100 (03-22)          1                          150
    # c5     200 (2023-12-13)     0                          20
    return load(
        transactions="""
        customer_id,ordered_at,amount
        c1,2024-03-01,100
        c1,2024-04-01,100
        c1,2024-05-01,100
        c1,2024-06-30,100
        c2,2024-06-20,50
        c3,2024-05-01,75
        c3,2024-06-20,75
        c4,2024-01-10,100
        c4,2024-03-22,50
        c5,2023-12-13,20
        """
    )


def test_rfm_scores_with_ties(scores_ds):
    s = by_id(rfm_scores(scores_ds, "2024-06-30"))
    # score = 1 + floor(5 · share of the 5 purchasers ranked strictly below); ties share the lower score.
    # R (longest since last ranks lowest): c5 200 -> 0 below -> 1; c4 100 -> 1 -> 2; c2, c3 10 -> 2 -> 3; c1 0 -> 4 -> 5
    assert s["r"].to_dict() == {"c1": 5, "c2": 3, "c3": 3, "c4": 2, "c5": 1}
    # F: c2, c5 (0) -> 0 below -> 1; c3, c4 (1) -> 2 below -> 3; c1 (3) -> 4 below -> 5
    assert s["f"].to_dict() == {"c1": 5, "c2": 1, "c3": 3, "c4": 3, "c5": 1}
    # M over historic value: c5 (20) -> 1; c2 (50) -> 2; c3, c4 (150) -> 2 below -> 3; c1 (400) -> 5
    assert s["m"].to_dict() == {"c1": 5, "c2": 2, "c3": 3, "c4": 3, "c5": 1}
    # FM = ceil((F + M) / 2): c1 5, c2 ceil(1.5) = 2, c3 3, c4 3, c5 1
    assert s["fm"].to_dict() == {"c1": 5, "c2": 2, "c3": 3, "c4": 3, "c5": 1}
    # segments: c1 R5 FM5 Champions; c2 R3 FM2 About to sleep; c3 R3 FM3 Need attention;
    #           c4 R2 FM3 At risk; c5 R1 FM1 Lost
    assert s["rfm_segment"].to_dict() == {
        "c1": "Champions", "c2": "About to sleep", "c3": "Need attention", "c4": "At risk", "c5": "Lost"
    }


def test_segment_counts(scores_ds):
    counts = segment_counts(rfm_scores(scores_ds, "2024-06-30"))
    assert counts["rfm_segment"].tolist() == list(SEGMENT_NAMES)
    got = {k: v for k, v in zip(counts["rfm_segment"], counts["customers"]) if v}
    assert got == {"Champions": 1, "About to sleep": 1, "Need attention": 1, "At risk": 1, "Lost": 1}
    assert counts.set_index("rfm_segment").loc["Champions", "share"] == pytest.approx(1 / 5)


def test_rfm_scores_at_earlier_t(scores_ds):
    s = by_id(rfm_scores(scores_ds, "2024-03-31"))
    # T = 03-31: purchasers c1 (03-01, 30 days, freq 0, 100), c4 (01-10, 03-22: 9 days, freq 1, 150),
    # c5 (2023-12-13, 109 days, freq 0, 20); n = 3, score = 1 + floor(5 · below / 3).
    # R: c5 0 below -> 1; c1 1 -> 1 + floor(1.67) = 2; c4 2 -> 1 + floor(3.33) = 4
    # F: c1, c5 0 below -> 1; c4 2 -> 4.   M: c5 -> 1; c1 -> 2; c4 -> 4
    assert s["r"].to_dict() == {"c1": 2, "c4": 4, "c5": 1}
    assert s["f"].to_dict() == {"c1": 1, "c4": 4, "c5": 1}
    assert s["m"].to_dict() == {"c1": 2, "c4": 4, "c5": 1}
    # FM: c1 ceil(1.5) = 2, c4 4, c5 1 -> c1 R2 FM2 Hibernating, c4 R4 FM4 Champions, c5 R1 FM1 Lost
    assert s["rfm_segment"].to_dict() == {"c1": "Hibernating", "c4": "Champions", "c5": "Lost"}


def test_segment_grid_is_covered():
    # every (R, FM) cell of the 5 × 5 grid falls in exactly one named segment by first match
    for r in range(1, 6):
        for fm in range(1, 6):
            matches = [name for name, (r0, r1), (f0, f1) in SEGMENTS if r0 <= r <= r1 and f0 <= fm <= f1]
            assert matches, (r, fm)
    first = {(r, fm): next(n for n, (r0, r1), (f0, f1) in SEGMENTS if r0 <= r <= r1 and f0 <= fm <= f1)
             for r in range(1, 6) for fm in range(1, 6)}
    assert first[5, 1] == "New customers" and first[1, 5] == "Can't lose them" and first[2, 1] == "Hibernating"
