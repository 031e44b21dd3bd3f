"""Net Promoter Score (DESIGN §3.4): classes, score, margin of error, month and segment, small samples."""

from __future__ import annotations

import pytest

from clm_core.metrics.nps import nps


T = "2024-02-29"


@pytest.fixture(scope="module")
def small_ds(load):
    return load(
        customers="""
        customer_id,channel
        a,web
        b,web
        c,shop
        d,shop
        e,shop
        """,
        # January: 10, 9, 6, 0 -> 2 promoters, 0 passives, 2 detractors (6 is a detractor, 9 a promoter)
        # February (up to T = 02-29, inclusive): 9, 10, 8, 7 -> 2 promoters, 2 passives, 0 detractors
        # March 1st is after T and does not count; f is not in the customers file
        nps="""
        customer_id,answered_at,score
        a,2024-01-05,10
        b,2024-01-06,9
        c,2024-01-07,6
        d,2024-01-08,0
        a,2024-02-01,9
        e,2024-02-10,10
        c,2024-02-11,8
        f,2024-02-29,7
        d,2024-03-01,0
        """,
    )


def row(frame, scope):
    return frame.set_index("scope").loc[scope]


def test_overall(small_ds):
    r = nps(small_ds, T)
    assert r["scope"].tolist() == ["all"]
    r = row(r, "all")
    # 8 answers: promoters 10, 9, 9, 10 = 4; passives 8, 7 = 2; detractors 6, 0 = 2 (the 03-01 answer is after T)
    assert (r["answers"], r["promoters"], r["passives"], r["detractors"]) == (8, 4, 2, 2)
    # NPS = 100 * (4 - 2) / 8 = 25
    assert r["nps"] == pytest.approx(25.0)
    # p = 0.5, d = 0.25: (0.75 - 0.25^2) / 8 = 0.6875 / 8 = 0.0859375; sqrt = 0.293151;
    # 100 * 1.96 * 0.293151 = 57.4576
    assert r["margin_of_error"] == pytest.approx(57.4576, abs=1e-3)
    assert bool(r["too_small"])


def test_answers_after_t_are_excluded(small_ds):
    later = row(nps(small_ds, "2024-03-01"), "all")
    # the 03-01 answer (0) now counts: 9 answers, 4 promoters, 3 detractors -> 100 * 1/9 = 11.11
    assert (later["answers"], later["detractors"]) == (9, 3)
    assert later["nps"] == pytest.approx(100 / 9)
    # T = 02-28 drops f's answer on 02-29 (a passive)
    earlier = row(nps(small_ds, "2024-02-28"), "all")
    assert (earlier["answers"], earlier["passives"]) == (7, 1)


def test_by_month(small_ds):
    r = nps(small_ds, T, by="month")
    assert r["scope"].tolist() == ["2024-01", "2024-02"]
    jan, feb = row(r, "2024-01"), row(r, "2024-02")
    assert (jan["answers"], jan["promoters"], jan["passives"], jan["detractors"]) == (4, 2, 0, 2)
    # Jan: NPS = 100 * (2 - 2) / 4 = 0; p = d = 0.5: (1 - 0) / 4 = 0.25, sqrt = 0.5 -> 196 * 0.5 = 98
    assert jan["nps"] == pytest.approx(0.0)
    assert jan["margin_of_error"] == pytest.approx(98.0)
    assert (feb["answers"], feb["promoters"], feb["passives"], feb["detractors"]) == (4, 2, 2, 0)
    # Feb: NPS = 100 * 2 / 4 = 50; p = 0.5, d = 0: (0.5 - 0.25) / 4 = 0.0625, sqrt = 0.25 -> 196 * 0.25 = 49
    assert feb["nps"] == pytest.approx(50.0)
    assert feb["margin_of_error"] == pytest.approx(49.0)


def test_by_segment_attribute(small_ds):
    r = nps(small_ds, T, by="channel")
    # web: a 10, b 9, a 9 -> 3 promoters of 3; shop: c 6, d 0, e 10, c 8 -> 1 P, 1 passive, 2 D;
    # f is only in the NPS file -> "(none)": 7 -> passive
    assert r["scope"].tolist() == ["(none)", "shop", "web"]
    web, shop, none = row(r, "web"), row(r, "shop"), row(r, "(none)")
    assert (web["answers"], web["nps"]) == (3, pytest.approx(100.0))
    # web: p = 1, d = 0: (1 - 1) / 3 = 0 -> margin 0
    assert web["margin_of_error"] == pytest.approx(0.0)
    assert (shop["answers"], shop["promoters"], shop["passives"], shop["detractors"]) == (4, 1, 1, 2)
    # shop: NPS = 100 * (1 - 2) / 4 = -25; p = 0.25, d = 0.5: (0.75 - 0.0625) / 4 = 0.171875,
    # sqrt = 0.414578 -> 196 * 0.414578 = 81.2573
    assert shop["nps"] == pytest.approx(-25.0)
    assert shop["margin_of_error"] == pytest.approx(81.2573, abs=1e-3)
    assert (none["answers"], none["passives"], none["nps"]) == (1, 1, pytest.approx(0.0))


def test_unknown_breakdown_attribute(small_ds):
    with pytest.raises(ValueError):
        nps(small_ds, T, by="no_such_column")


def test_small_sample_flag_29_vs_30(load):
    # group "small": 29 answers; group "big": 30 answers (one per customer, scores cycling 0..10)
    customers = ["customer_id,group_name"] + [f"s{i:02d},small" for i in range(29)] + [
        f"b{i:02d},big" for i in range(30)
    ]
    answers = ["customer_id,answered_at,score"] + [f"s{i:02d},2024-01-10,{i % 11}" for i in range(29)] + [
        f"b{i:02d},2024-01-10,{i % 11}" for i in range(30)
    ]
    ds = load(customers="\n".join(customers) + "\n", nps="\n".join(answers) + "\n")
    r = nps(ds, "2024-01-31", by="group_name")
    small, big = row(r, "small"), row(r, "big")
    assert (small["answers"], bool(small["too_small"])) == (29, True)
    assert (big["answers"], bool(big["too_small"])) == (30, False)
    # big: scores 0..10, 0..10, 0..7 -> promoters 2 + 2 + 0 = 4; detractors 7 + 7 + 7 = 21;
    # passives 2 + 2 + 1 (the 7 of the last round) = 5; NPS = 100 * (4 - 21) / 30 = -56.67
    assert (big["promoters"], big["passives"], big["detractors"]) == (4, 5, 21)
    assert big["nps"] == pytest.approx(-1700 / 30)
    overall = row(nps(ds, "2024-01-31"), "all")
    assert (overall["answers"], bool(overall["too_small"])) == (59, False)
