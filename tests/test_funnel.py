"""Funnel (DESIGN §3.2): milestones, step order, window, per-step limit, T, exclusions, breakdown."""

from __future__ import annotations

import math

import pytest

from clm_core.metrics.funnel import Exclusion, Step, dropped_customers, funnel


def column(frame, name):
    return frame[name].tolist()


# ---------------------------------------------------------------- milestones
@pytest.fixture(scope="module")
def milestones_ds(load):
    return load(
        customers="""
        customer_id,created_at,channel
        a,2024-01-01,web
        b,2024-01-05,shop
        c,2024-02-01,web
        d,2024-01-01,web
        """,
        # a: purchases 01-10 and 02-01 (repeat); b: one purchase, then a return (no repeat);
        # d: two orders on 01-02 (one purchase day), repeat 03-01; e: no created_at (never at step 1)
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-10,20
        a,2024-02-01,20
        b,2024-01-20,30
        b,2024-02-01,-30
        d,2024-01-02,10
        d,2024-01-02,15
        d,2024-03-01,10
        e,2024-01-03,10
        e,2024-01-04,10
        """,
        nps="""
        customer_id,answered_at,score
        a,2024-02-10,8
        a,2024-02-15,9
        b,2024-03-01,10
        e,2024-02-01,10
        """,
    )


def test_default_milestones(milestones_ds):
    f = funnel(milestones_ds, as_of="2024-06-30")
    assert column(f, "step") == ["created", "first_purchase", "repeat_purchase", "promoter"]
    # created: a, b, c, d = 4; first_purchase: a (01-10), b (01-20), d (01-02) = 3;
    # repeat_purchase: a (02-01), d (03-01; 01-02 twice is one day) = 2; b's return is no purchase;
    # promoter (first answer 9-10): a 02-15 >= 02-01 = 1; b's 10 comes without a repeat purchase
    assert column(f, "customers") == [4, 3, 2, 1]
    assert column(f, "conversion_from_start") == pytest.approx([1.0, 3 / 4, 2 / 4, 1 / 4])
    assert column(f, "conversion_from_previous") == pytest.approx([1.0, 3 / 4, 2 / 3, 1 / 2])
    assert column(f, "drop_off") == [0, 1, 1, 1]
    # days from previous: step 2: a 9, b 15, d 1 -> median 9; step 3: a 01-10 -> 02-01 = 22,
    # d 01-02 -> 03-01 = 59 -> median (22 + 59) / 2 = 40.5; step 4: a 02-01 -> 02-15 = 14
    med = column(f, "median_days_from_previous")
    assert math.isnan(med[0])
    assert med[1:] == [9.0, 40.5, 14.0]


def test_breakdown_by_attribute(milestones_ds):
    f = funnel(milestones_ds, as_of="2024-06-30", breakdown="channel")
    assert sorted(set(f["breakdown"])) == ["shop", "web"]
    shop = f[f["breakdown"] == "shop"]
    web = f[f["breakdown"] == "web"]
    # shop: b only: created, first purchase, no repeat
    assert column(shop, "customers") == [1, 1, 0, 0]
    # web: a, c, d created; a, d bought; a, d repeated; a promoter
    assert column(web, "customers") == [3, 2, 2, 1]
    assert column(web, "conversion_from_start") == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3])
    assert column(web, "drop_off") == [0, 1, 0, 1]
    # web step 2: a 9, d 1 -> median 5
    assert column(web, "median_days_from_previous")[1] == 5.0


def test_dropped_customers(milestones_ds):
    # reached first_purchase but not repeat_purchase: b (step 2 on 01-20)
    dropped = dropped_customers(milestones_ds, ["created", "first_purchase", "repeat_purchase"], 3,
                                as_of="2024-06-30")
    assert dropped["customer_id"].tolist() == ["b"]
    assert str(dropped["reached_previous_on"].iloc[0])[:10] == "2024-01-20"
    # created but never bought: c
    assert dropped_customers(milestones_ds, ["created", "first_purchase"], 2,
                             as_of="2024-06-30")["customer_id"].tolist() == ["c"]


# ---------------------------------------------------------------- events
@pytest.fixture(scope="module")
def events_ds(load):
    return load(
        customers="""
        customer_id,tier
        x,gold
        y,gold
        z,silver
        w,silver
        """,
        events="""
        customer_id,occurred_at,event
        x,2024-01-05,signup
        x,2024-01-10,visit
        x,2024-01-12,purchase
        y,2024-01-10,visit
        y,2024-01-10,signup
        y,2024-01-11,purchase
        z,2024-01-01,visit
        z,2024-01-20,visit
        z,2024-01-15,signup
        z,2024-01-18,purchase
        w,2024-01-01,signup
        w,2024-01-05,visit
        w,2024-01-08,signup
        w,2024-01-20,signup
        w,2024-02-01,purchase
        """,
    )


def test_step_order_same_day_counts_earlier_does_not(events_ds):
    f = funnel(events_ds, ["visit", "signup", "purchase"], as_of="2024-12-31")
    # step 1 = first visit: x 01-10, y 01-10, z 01-01, w 01-05 -> 4
    # signup at or after the visit: x's only signup (01-05) is before -> not reached; y same day 01-10 -> 0 days;
    # z 01-15 -> 14 days; w first signup at/after 01-05 is 01-08 (not 01-01, not 01-20) -> 3 days
    # purchase: y 01-11 (1 day), z 01-18 (3 days), w 02-01 (24 days); x's 01-12 does not count
    assert column(f, "customers") == [4, 3, 3]
    assert column(f, "median_days_from_previous")[1:] == [3.0, 3.0]  # median(0, 14, 3); median(1, 3, 24)


def test_dropped_customers_after_step_one(events_ds):
    dropped = dropped_customers(events_ds, ["visit", "signup", "purchase"], 2, as_of="2024-12-31")
    assert dropped["customer_id"].tolist() == ["x"]


def test_window_days(events_ds):
    steps = ["visit", "signup", "purchase"]
    # w: visit 01-05, signup 01-08 (3 days from step 1), purchase 02-01 (27 days from step 1)
    # z: visit 01-01, signup 01-15 (14), purchase 01-18 (17); y: 0 and 1
    assert column(funnel(events_ds, steps, "2024-12-31", window_days=27), "customers") == [4, 3, 3]
    assert column(funnel(events_ds, steps, "2024-12-31", window_days=26), "customers") == [4, 3, 2]
    # window 13: z's signup (14 days) is out, so is its purchase; y and w signed up within 13 days
    assert column(funnel(events_ds, steps, "2024-12-31", window_days=13), "customers") == [4, 2, 1]


def test_default_window_is_365_days(load):
    ds = load(
        events="""
        customer_id,occurred_at,event
        v,2023-01-01,visit
        v,2024-01-01,signup
        v,2024-01-02,purchase
        """
    )
    # 2023-01-01 -> 2024-01-01 = 365 days (within), -> 2024-01-02 = 366 days (outside)
    assert column(funnel(ds, ["visit", "signup", "purchase"], "2024-12-31"), "customers") == [1, 1, 0]
    assert column(funnel(ds, ["visit", "signup", "purchase"], "2024-12-31", window_days=366), "customers") == [1, 1, 1]


def test_step_limit_days_from_previous_step(events_ds):
    # purchase within 3 days of signup: y 1, z 3 (01-15 -> 01-18), w 24 -> y and z
    steps = ["visit", "signup", Step("purchase", limit_days=3)]
    assert column(funnel(events_ds, steps, "2024-12-31"), "customers") == [4, 3, 2]
    steps = ["visit", "signup", Step("purchase", limit_days=2)]
    assert column(funnel(events_ds, steps, "2024-12-31"), "customers") == [4, 3, 1]
    # the limit counts from the previous step, not from step 1: z's signup is 14 days after its visit
    steps = ["visit", Step("signup", limit_days=14), Step("purchase", limit_days=3)]
    assert column(funnel(events_ds, steps, "2024-12-31"), "customers") == [4, 3, 2]
    steps = ["visit", Step("signup", limit_days=13), "purchase"]
    assert column(funnel(events_ds, steps, "2024-12-31"), "customers") == [4, 2, 2]


def test_only_occurrences_up_to_t(events_ds):
    steps = ["visit", "signup", "purchase"]
    # T = 01-18: z's purchase on T counts, w's 02-01 does not
    assert column(funnel(events_ds, steps, "2024-01-18"), "customers") == [4, 3, 2]
    assert column(funnel(events_ds, steps, "2024-01-17"), "customers") == [4, 3, 1]
    # T = 01-04: only z's visit (01-01) is on or before T
    assert column(funnel(events_ds, steps, "2024-01-04"), "customers") == [1, 0, 0]


def test_breakdown_events(events_ds):
    f = funnel(events_ds, ["visit", "signup", "purchase"], "2024-12-31", breakdown="tier")
    assert column(f[f["breakdown"] == "gold"], "customers") == [2, 1, 1]  # x, y; y; y
    assert column(f[f["breakdown"] == "silver"], "customers") == [2, 2, 2]  # z, w


# ---------------------------------------------------------------- exclusions
@pytest.fixture(scope="module")
def exclusion_ds(load):
    return load(
        events="""
        customer_id,occurred_at,event
        k1,2024-01-01,visit
        k1,2024-01-03,complaint
        k1,2024-01-05,signup
        k1,2024-01-06,purchase
        k2,2024-01-01,visit
        k2,2024-01-05,signup
        k2,2024-01-06,complaint
        k2,2024-01-07,purchase
        k3,2023-12-30,complaint
        k3,2024-01-01,visit
        k3,2024-01-05,signup
        k4,2024-01-01,visit
        k4,2024-01-02,signup
        k4,2024-01-03,purchase
        k4,2024-01-09,complaint
        """,
    )


def test_exclusion_between_two_steps(exclusion_ds):
    steps = ["visit", "signup", "purchase"]
    base = funnel(exclusion_ds, steps, "2024-12-31")
    assert column(base, "customers") == [4, 4, 3]  # k3 has no purchase
    # a complaint between visit and signup: k1 (01-03 between 01-01 and 01-05) is removed from every step;
    # k2 complained after signup, k3 before its visit, k4 after its purchase -> kept
    f = funnel(exclusion_ds, steps, "2024-12-31", exclusions=[Exclusion("complaint", 1, 2)])
    assert column(f, "customers") == [3, 3, 2]
    assert column(f, "conversion_from_start") == pytest.approx([1.0, 1.0, 2 / 3])
    # between signup and purchase: k2 (01-06 between 01-05 and 01-07) is removed instead
    f = funnel(exclusion_ds, steps, "2024-12-31", exclusions=[Exclusion("complaint", 2, 3)])
    assert column(f, "customers") == [3, 3, 2]
    dropped = dropped_customers(exclusion_ds, steps, 3, "2024-12-31", exclusions=[Exclusion("complaint", 2, 3)])
    assert dropped["customer_id"].tolist() == ["k3"]
    # both: k1 and k2 removed
    f = funnel(exclusion_ds, steps, "2024-12-31",
               exclusions=[Exclusion("complaint", 1, 2), Exclusion("complaint", 2, 3)])
    assert column(f, "customers") == [2, 2, 1]


def test_bad_exclusion_steps_are_refused(exclusion_ds):
    with pytest.raises(ValueError):
        funnel(exclusion_ds, ["visit", "signup"], "2024-12-31", exclusions=[Exclusion("complaint", 2, 3)])
