"""Lifecycle stages (DESIGN §3.1): every rule, its boundary and the first-match-wins order.

The rule fixture dates every transaction ``n`` days before T = 2024-12-31, so the
hand arithmetic is on ``n``: recency = n(last), T − first = n(first), the gap
between the last two purchase days = n(previous) − n(last).
Defaults: new_days=90, at_risk_days=90, churn_days=180, loyal_orders=4.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clm_core.config import STAGES, LifecycleConfig
from clm_core.metrics.stages import (
    customer_stages,
    framework_distribution,
    stage_distribution,
    stage_history,
    stage_migration,
)

T = dt.date(2024, 12, 31)


def ago(n: int) -> str:
    return (T - dt.timedelta(days=n)).isoformat()


#: customer -> [(days before T, amount)]; negative days = after T.
PURCHASES = {
    "p_return_only": [(30, -20.0)],  # a return is not a purchase -> prospect
    "p_after_t": [(-1, 50.0)],  # purchase after T -> prospect at T
    "churned": [(181, 10.0)],  # recency 181 > 180 -> churned
    "churn_edge": [(180, 10.0)],  # recency 180 is not > 180; 180 > 90 -> at_risk
    "at_risk": [(91, 10.0)],  # recency 91 > 90 -> at_risk
    "at_risk_edge": [(90, 10.0)],  # recency 90 not > 90; T−first 90 not < 90; one day; 1 < 4 -> active
    "new": [(89, 10.0), (10, 10.0)],  # T−first 89 < 90 -> new
    "new_beats_loyal": [(80, 5.0), (60, 5.0), (40, 5.0), (20, 5.0)],  # 80 < 90 -> new, although 4 days and NPS 10
    "reactivated": [(300, 10.0), (50, 10.0)],  # gap 300−50 = 250 >= 180 -> reactivated
    "react_edge": [(230, 10.0), (50, 10.0)],  # gap 230−50 = 180 >= 180 -> reactivated
    "react_short": [(229, 10.0), (50, 10.0)],  # gap 179 < 180; 2 days < 4 -> active
    # gap 190−10 = 180 -> reactivated, although 4 purchase days in (T−365, T] (364, 300, 190, 10)
    "react_beats_loyal": [(364, 1.0), (300, 1.0), (190, 1.0), (10, 1.0)],
    "loyal": [(300, 1.0), (200, 1.0), (100, 1.0), (50, 1.0)],  # 4 days in (T−365, T]; gap 50 -> loyal
    "loyal_window_edge": [(365, 1.0), (200, 1.0), (100, 1.0), (50, 1.0)],  # T−365 is outside -> 3 -> active
    "same_day": [(300, 1.0), (200, 1.0), (50, 1.0), (50, 2.0)],  # 4 orders on 3 days -> 3 < 4 -> active
    "return_day": [(300, 1.0), (200, 1.0), (100, -1.0), (50, 1.0)],  # the return day is no purchase day -> active
    "return_recency": [(200, 10.0), (5, -10.0)],  # last purchase 200 days ago (return ignored) -> churned
    "churned_promoter": [(200, 10.0)],  # NPS 10 but recency 200 > 180 -> churned
    "nps_loyal": [(200, 10.0), (50, 10.0)],  # gap 150 < 180, 2 days, latest NPS 9 -> loyal
    "nps_latest_low": [(200, 10.0), (50, 10.0)],  # NPS 10 then a later 6: latest is 6 -> active
    "nps_after_t": [(200, 10.0), (50, 10.0)],  # NPS 10 answered after T does not count -> active
    "nps_passive": [(200, 10.0), (50, 10.0)],  # latest NPS 8 is not 9-10 -> active
    "nps_same_day_mixed": [(200, 10.0), (50, 10.0)],  # 10 and 8 on the latest answer day: the lower counts -> active
    "nps_same_day_promoters": [(200, 10.0), (50, 10.0)],  # 10 and 9 on the latest answer day -> loyal
    "active": [(200, 10.0), (50, 10.0)],  # gap 150 < 180, 2 days < 4, no NPS -> active
    "only_in_tx": [(10, 10.0)],  # not in the customers file; T−first 10 < 90 -> new
}

#: customer -> [(days before T, score)]
ANSWERS = {
    "new_beats_loyal": [(5, 10)],
    "churned_promoter": [(5, 10)],
    "nps_loyal": [(20, 9)],
    "nps_latest_low": [(30, 10), (10, 6)],
    "nps_after_t": [(-3, 10)],
    "nps_passive": [(40, 8)],
    "nps_same_day_mixed": [(30, 6), (20, 10), (20, 8)],
    "nps_same_day_promoters": [(30, 6), (20, 9), (20, 10)],
    "only_in_nps": [(10, 10)],  # created implicitly, no purchase -> prospect
}

EXPECTED = {
    "prospect": "p_return_only p_after_t prospect_plain only_in_nps",
    "churned": "churned return_recency churned_promoter",
    "at_risk": "churn_edge at_risk",
    "new": "new new_beats_loyal only_in_tx",
    "reactivated": "reactivated react_edge react_beats_loyal",
    "loyal": "loyal nps_loyal nps_same_day_promoters",
    "active": "at_risk_edge react_short loyal_window_edge same_day return_day nps_latest_low nps_after_t nps_passive "
              "nps_same_day_mixed active",
}
EXPECTED_STAGE = {c: stage for stage, names in EXPECTED.items() for c in names.split()}


def _csv(header: str, rows) -> str:
    return header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)


@pytest.fixture(scope="module")
def rules_ds(load):
    customers = [c for c in [*PURCHASES, *ANSWERS, "prospect_plain"] if c not in ("only_in_tx", "only_in_nps")]
    return load(
        # created long before T, so every customer is known at T
        customers=_csv("customer_id,created_at", [(c, "2023-01-01") for c in dict.fromkeys(customers)]),
        transactions=_csv(
            "customer_id,ordered_at,amount", [(c, ago(n), a) for c, rows in PURCHASES.items() for n, a in rows]
        ),
        nps=_csv("customer_id,answered_at,score", [(c, ago(n), s) for c, rows in ANSWERS.items() for n, s in rows]),
    )


def _stages(ds, as_of=T, config=None) -> dict[str, str]:
    frame = customer_stages(ds, as_of, config).execute()
    return dict(zip(frame["customer_id"], frame["stage"]))


@pytest.fixture(scope="module")
def stages_at_t(rules_ds):
    return _stages(rules_ds)


@pytest.mark.parametrize("customer, stage", sorted(EXPECTED_STAGE.items()))
def test_rule(stages_at_t, customer, stage):
    """One case per rule, boundary and order example of the table above."""
    assert stages_at_t[customer] == stage


def test_no_other_customers(stages_at_t):
    assert sorted(stages_at_t) == sorted(EXPECTED_STAGE)


def test_recency_column_ignores_returns(rules_ds):
    frame = customer_stages(rules_ds, T).execute().set_index("customer_id")
    assert frame.loc["return_recency", "recency"] == 200  # the return 5 days ago is not a purchase
    assert frame.loc["churned", "recency"] == 181
    assert pd.isna(frame.loc["prospect_plain", "recency"])


def test_stage_distribution_counts_and_shares(rules_ds):
    dist = stage_distribution(rules_ds, T)
    assert list(dist["stage"]) == list(STAGES)
    # 4 prospects + 3 churned + 2 at_risk + 3 new + 3 reactivated + 3 loyal + 10 active = 28 customers,
    # the implicit ones (only_in_tx, only_in_nps) included
    expected = {s: len(names.split()) for s, names in EXPECTED.items()}
    assert dict(zip(dist["stage"], dist["customers"])) == expected
    assert dist["customers"].sum() == 28
    assert dist.set_index("stage").loc["active", "share"] == pytest.approx(10 / 28)
    assert dist["share"].sum() == pytest.approx(1.0)


def test_as_of_string_equals_date_and_default_is_latest_transaction_day(make_dataset):
    ds = make_dataset(
        customers="""
        customer_id,created_at
        a,2024-01-01
        b,2024-01-01
        """,
        transactions="""
        customer_id,ordered_at,amount
        a,2024-01-01,10
        a,2024-03-01,10
        b,2024-06-29,10
        """
    )
    # default T = 2024-06-29 (latest ordered_at): a recency 2024-03-01 -> 06-29 = 120 > 90 -> at_risk,
    # b T−first 0 < 90 -> new
    assert _stages(ds, None) == {"a": "at_risk", "b": "new"}
    assert _stages(ds, "2024-03-31") == _stages(ds, dt.date(2024, 3, 31))
    # at 2024-03-31: a recency 30, T−first 90 (not < 90), gap 60 -> active; b has no purchase yet
    assert _stages(ds, "2024-03-31") == {"a": "active", "b": "prospect"}


def test_non_default_thresholds_change_the_result(rules_ds):
    config = LifecycleConfig(new_days=30, at_risk_days=60, churn_days=120, loyal_orders=2)
    got = _stages(rules_ds, T, config)
    # at_risk_edge: recency 90 > 60 -> at_risk (active by default)
    assert got["at_risk_edge"] == "at_risk"
    # churn_edge: recency 180 > 120 -> churned (at_risk by default)
    assert got["churn_edge"] == "churned"
    # new: T−first 89 >= 30; gap 89−10 = 79 < 120; 2 days >= 2 -> loyal (new by default)
    assert got["new"] == "loyal"
    # react_short: gap 179 >= 120 -> reactivated (active by default)
    assert got["react_short"] == "reactivated"
    # at_risk (91 days): 91 > 60 but not > 120 -> at_risk still
    assert got["at_risk"] == "at_risk"
    # only_in_tx: T−first 10 < 30 -> new still
    assert got["only_in_tx"] == "new"


def test_loyal_orders_threshold(rules_ds):
    # same_day has 3 purchase days in the year: loyal with loyal_orders=3, active with the default 4
    assert _stages(rules_ds, T, LifecycleConfig(loyal_orders=3))["same_day"] == "loyal"
    assert _stages(rules_ds, T, LifecycleConfig(loyal_orders=4))["same_day"] == "active"


def test_new_days_threshold(rules_ds):
    # at_risk_edge: T−first 90; new with new_days=91 (90 < 91)
    assert _stages(rules_ds, T, LifecycleConfig(new_days=91))["at_risk_edge"] == "new"


FRAMEWORK_DS = dict(
    customers="""
    customer_id,created_at
    aware1,2023-01-01
    aware2,2023-01-01
    curious,2023-01-01
    late_event,2023-01-01
    buyer_new,2023-01-01
    buyer_loyal,2023-01-01
    buyer_lapsed,2023-01-01
    buyer_risk,2023-01-01
    """,
    transactions="""
    customer_id,ordered_at,amount
    buyer_new,2024-06-20,10
    buyer_loyal,2024-01-10,10
    buyer_loyal,2024-02-10,10
    buyer_loyal,2024-03-10,10
    buyer_loyal,2024-06-10,10
    buyer_lapsed,2023-10-01,10
    buyer_risk,2024-03-01,10
    """,
    events="""
    customer_id,occurred_at,event
    curious,2024-05-01,visit
    curious,2024-05-02,visit
    late_event,2024-07-15,visit
    buyer_new,2024-06-01,visit
    """,
)


@pytest.fixture(scope="module")
def framework_ds(load):
    return load(**FRAMEWORK_DS)


def test_framework_distribution_splits_prospects(framework_ds):
    ds = framework_ds
    as_of = "2024-06-30"
    # prospects: aware1, aware2, late_event (its only event is after T) -> aware; curious -> interested.
    # buyer_new: T−first 10 < 90 -> new (its event does not make it a prospect);
    # buyer_loyal: recency 20, T−first 172, gaps < 180, 4 days -> loyal;
    # buyer_lapsed: 2023-10-01 -> 2024-06-30 = 273 > 180 -> churned; buyer_risk: 121 > 90 -> at_risk
    five = framework_distribution(ds, as_of, LifecycleConfig(framework="5-phase journey"))
    assert list(five["stage"]) == [
        "Awareness", "Interest/Consideration", "Purchase", "Retention", "Loyalty/Advocacy", "Lapsed"
    ]
    assert list(five["customers"]) == [3, 1, 1, 1, 1, 1]
    assert five["share"].tolist() == pytest.approx([3 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8])

    race = framework_distribution(ds, as_of, LifecycleConfig(framework="RACE"))
    # Engage = active + reactivated + at_risk + loyal = buyer_risk + buyer_loyal = 2
    assert dict(zip(race["stage"], race["customers"])) == {
        "Reach": 3, "Act": 1, "Convert": 1, "Engage": 2, "Lapsed": 1
    }

    phases = framework_distribution(ds, as_of, LifecycleConfig(framework="relationship phases"))
    # Initiation = 3 aware + 1 interested; Active customer = new + at_risk + loyal = 3; Passive = churned = 1
    assert dict(zip(phases["stage"], phases["customers"])) == {
        "Initiation": 4, "Active customer": 3, "Passive customer": 1
    }


def test_interested_flag_only_for_prospects_with_events(framework_ds):
    frame = customer_stages(framework_ds, "2024-06-30").execute()
    # curious: prospect with events; buyer_new has an event but is a customer; late_event's event is after T
    assert frame.loc[frame["interested"], "customer_id"].tolist() == ["curious"]


def test_framework_mapping_override(framework_ds):
    ds = framework_ds
    config = LifecycleConfig(framework="Attract / Sell / Wow", mapping={"at_risk": "Lapsed"})
    dist = framework_distribution(ds, "2024-06-30", config)
    got = dict(zip(dist["stage"], dist["customers"]))
    # Attract = 4 prospects; Sell = new 1; Wow = loyal 1; Lapsed = churned 1 + at_risk 1 (override)
    assert got == {"Attract": 4, "Sell": 1, "Wow": 1, "Lapsed": 2}


HISTORY_DS = dict(
    customers="""
    customer_id,created_at
    a,2023-01-01
    b,2023-01-01
    c,2023-01-01
    d,2023-01-01
    """,
    transactions="""
    customer_id,ordered_at,amount
    a,2024-02-01,10
    b,2024-05-31,10
    d,2023-10-01,10
    d,2024-06-01,10
    """,
)


@pytest.fixture(scope="module")
def history_ds(load):
    return load(**HISTORY_DS)


def test_stage_history_month_end_values(history_ds):
    ds = history_ds
    hist = stage_history(ds, "2024-06-15", months=3)
    # evaluated at 2024-04-30, 2024-05-31 and T = 2024-06-15 (T's month is evaluated at T)
    assert sorted(hist["month"].unique()) == ["2024-04", "2024-05", "2024-06"]
    assert len(hist) == 3 * 7
    got = {(m, s): n for m, s, n in zip(hist["month"], hist["stage"], hist["customers"]) if n}
    assert got == {
        # 04-30: a recency 89 (02-01 -> 04-30), T−first 89 < 90 -> new; b, c prospects;
        # d 2023-10-01 -> 04-30 = 212 > 180 -> churned
        ("2024-04", "new"): 1, ("2024-04", "prospect"): 2, ("2024-04", "churned"): 1,
        # 05-31: a recency 120 > 90 -> at_risk; b bought on the month's last day -> new;
        # d: its 06-01 purchase is after the month end -> 243 days -> churned
        ("2024-05", "at_risk"): 1, ("2024-05", "new"): 1, ("2024-05", "prospect"): 1,
        ("2024-05", "churned"): 1,
        # 06-15: a 135 -> at_risk; b new; d: last 06-01, previous 2023-10-01, gap 244 >= 180,
        # T−first 258 -> reactivated
        ("2024-06", "at_risk"): 1, ("2024-06", "new"): 1, ("2024-06", "prospect"): 1,
        ("2024-06", "reactivated"): 1,
    }
    shares = hist.set_index(["month", "stage"])["share"]
    assert shares["2024-04", "prospect"] == pytest.approx(2 / 4)
    assert shares["2024-05", "churned"] == pytest.approx(1 / 4)


def test_stage_migration_matrix(history_ds):
    ds = history_ds
    mig = stage_migration(ds, "2024-04-30", "2024-06-15")
    assert len(mig) == 7 * 7
    got = {(f, t): n for f, t, n in zip(mig["from_stage"], mig["to_stage"], mig["customers"]) if n}
    # a new -> at_risk, b prospect -> new, c prospect -> prospect, d churned -> reactivated
    assert got == {
        ("new", "at_risk"): 1,
        ("prospect", "new"): 1,
        ("prospect", "prospect"): 1,
        ("churned", "reactivated"): 1,
    }
