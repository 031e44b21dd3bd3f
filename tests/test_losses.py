"""Where are we losing customers (clm_core.metrics.losses): a hand-computed fixture, the z-test flag and a
per-customer recomputation on the demo data."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict

import pytest
from scipy.stats import norm

from clm_core import ingest, store
from clm_core.config import LifecycleConfig
from clm_core.metrics.cohorts import period_label, period_number, period_start
from clm_core.metrics.losses import losses, lost_customers, two_proportion_p, worst_segment
from clm_core.metrics.stages import stage_distribution

AS_OF = dt.date(2024, 6, 30)

# Default thresholds: at risk from last purchase + 91 days, churned from + 181 days.
#   c1 north  2024-01-01                      at risk 2024-04-01, churned 2024-06-30
#   c2 north  2023-12-01, 2024-05-15          at risk 2024-03-01, would churn 2024-05-30 but buys 05-15
#   c3 south  2023-10-01                      at risk 2023-12-31, churned 2024-03-30
#   c4 south  2024-02-10                      at risk 2024-05-11
#   c5 south  (no purchase: a prospect)
#   c6 north  2024-04-10                      (first purchase in April)
#   c7 south  2023-12-20, return 2024-03-15   at risk 2024-03-20, churned 2024-06-18 (a return is no purchase)
#   c8 (none) 2024-03-01                      at risk 2024-05-31
CUSTOMERS = """
customer_id,region
c1,north
c2,north
c3,south
c4,south
c5,south
c6,north
c7,south
c8,
"""
TRANSACTIONS = """
customer_id,ordered_at,amount
c1,2024-01-01,10
c2,2023-12-01,10
c2,2024-05-15,10
c3,2023-10-01,10
c4,2024-02-10,10
c6,2024-04-10,10
c7,2023-12-20,50
c7,2024-03-15,-20
c8,2024-03-01,10
"""


@pytest.fixture(scope="module")
def fixture(load):
    return load(customers=CUSTOMERS, transactions=TRANSACTIONS)


def cells(frame, kind):
    """{(period, segment): (lost, base)}"""
    return {(p, s): (n, b) for p, s, n, b in zip(frame["period"], frame["segment"], frame[kind], frame[f"{kind}_base"])}


def test_monthly_counts_bases_and_shares_by_hand(fixture):
    frame = losses(fixture, "month", 3, as_of=AS_OF)
    assert frame["period"].tolist() == ["2024-04", "2024-05", "2024-06"]
    assert frame["segment"].tolist() == ["all"] * 3
    # at-risk base on Mar 31 / Apr 30 / May 31: {c1, c4, c8}, {c4, c6, c8}, {c2, c6}
    assert frame["at_risk_base"].tolist() == [3, 3, 2]
    assert frame["at_risk"].tolist() == [1, 2, 0]  # c1 (Apr 1); c4 (May 11), c8 (May 31)
    assert frame["at_risk_share"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    # churn base: {c1, c2, c4, c7, c8}, + c6 from May; c2 does not churn (bought on May 15)
    assert frame["churned_base"].tolist() == [5, 6, 6]
    assert frame["churned"].tolist() == [0, 0, 2]  # c7 (Jun 18), c1 (Jun 30)
    assert frame["churned_share"].tolist() == pytest.approx([0.0, 0.0, 2 / 6])
    assert frame["start"].tolist() == [dt.date(2024, 4, 1), dt.date(2024, 5, 1), dt.date(2024, 6, 1)]
    assert frame["end"].tolist() == [dt.date(2024, 4, 30), dt.date(2024, 5, 31), dt.date(2024, 6, 30)]
    assert not frame["partial"].any()
    assert not frame["churned_significant"].any() and worst_segment(frame) is None
    assert frame.attrs["worst"] == {"at_risk": None, "churned": None}


def test_breakdown_by_attribute_by_hand(fixture):
    frame = losses(fixture, "month", 3, as_of=AS_OF, by="region")
    assert frame["segment"].tolist()[:3] == ["north", "south", None]  # a missing value last
    assert cells(frame, "at_risk") == {
        ("2024-04", "north"): (1, 1), ("2024-04", "south"): (0, 1), ("2024-04", None): (0, 1),
        ("2024-05", "north"): (0, 1), ("2024-05", "south"): (1, 1), ("2024-05", None): (1, 1),
        ("2024-06", "north"): (0, 2), ("2024-06", "south"): (0, 0), ("2024-06", None): (0, 0),
    }
    assert cells(frame, "churned") == {
        ("2024-04", "north"): (0, 2), ("2024-04", "south"): (0, 2), ("2024-04", None): (0, 1),
        ("2024-05", "north"): (0, 3), ("2024-05", "south"): (0, 2), ("2024-05", None): (0, 1),
        ("2024-06", "north"): (1, 3), ("2024-06", "south"): (1, 2), ("2024-06", None): (0, 1),
    }
    june = frame[frame["period"] == "2024-06"]
    june = june.set_index(june["segment"].fillna("-"))
    assert june.loc["north", "churned_share"] == pytest.approx(1 / 3)
    assert june.loc["north", "churned_rest_share"] == pytest.approx(1 / 3)  # 1 of south's and c8's 3
    assert june.loc["south", "at_risk_share"] != june.loc["south", "at_risk_share"]  # NaN: empty base
    assert june.loc["north", "churned_p"] == pytest.approx(1.0)
    assert frame.loc[frame["period"] != "2024-06", "churned_p"].isna().all()
    assert not frame["churned_significant"].any()  # bases far below 30


def test_quarters_cohorts_and_a_partial_period_by_hand(fixture):
    frame = losses(fixture, "quarter", 2, as_of=AS_OF)
    assert frame["period"].tolist() == ["2024-Q1", "2024-Q2"]
    # Q1 (base Dec 31): at-risk base {c2, c7}, both at risk in March; churn base {c2, c3, c7}, c3 churns Mar 30
    # Q2 (base Mar 31): at-risk base {c1, c4, c8}, all at risk by May 31; churn base {c1, c2, c4, c7, c8}
    assert frame[["at_risk", "at_risk_base", "churned", "churned_base"]].values.tolist() == [[2, 2, 1, 3],
                                                                                             [3, 3, 2, 5]]
    cohorts = losses(fixture, "month", 1, as_of=AS_OF, by="cohort")
    assert cells(cohorts, "churned") == {("2024-06", "2023-12"): (1, 2), ("2024-06", "2024-01"): (1, 1),
                                         ("2024-06", "2024-02"): (0, 1), ("2024-06", "2024-03"): (0, 1),
                                         ("2024-06", "2024-04"): (0, 1)}
    partial = losses(fixture, "month", 1, as_of=dt.date(2024, 6, 20))
    assert partial["partial"].tolist() == [True] and partial["end"].tolist() == [dt.date(2024, 6, 20)]
    assert partial["churned"].tolist() == [1]  # c7 on Jun 18; c1 only on Jun 30


def test_lost_customers_are_the_counted_ones(fixture):
    lost = lost_customers(fixture, "churned", "month", as_of=AS_OF, by="region", value="north").execute()
    assert lost["customer_id"].tolist() == ["c1"]
    assert [d.date() if hasattr(d, "date") else d for d in lost["lost_on"]] == [dt.date(2024, 6, 30)]
    everyone = lost_customers(fixture, "churned", "month", as_of=AS_OF).execute()
    assert everyone["customer_id"].tolist() == ["c1", "c7"]
    may = lost_customers(fixture, "at_risk", "month", "2024-05", as_of=AS_OF, by="region", value=None).execute()
    assert may["customer_id"].tolist() == ["c8"]
    cohort = lost_customers(fixture, "churned", "month", as_of=AS_OF, by="cohort", value="2023-12").execute()
    assert cohort["customer_id"].tolist() == ["c7"]


def test_bad_arguments_are_refused(fixture):
    with pytest.raises(ValueError, match="period"):
        losses(fixture, "week", 3, as_of=AS_OF)
    with pytest.raises(ValueError, match="periods"):
        losses(fixture, "month", 0, as_of=AS_OF)
    with pytest.raises(ValueError, match="attribute"):
        losses(fixture, "month", 3, as_of=AS_OF, by="customer_id")
    with pytest.raises(ValueError, match="attribute"):
        losses(fixture, "month", 3, as_of=AS_OF, by="nope")


# --------------------------------------------------------------------------- the z-test flag

def _segments(**groups):
    """CSV texts: per segment (churners, stayers); churners bought on 2023-12-20 (churned on 2024-06-18),
    stayers on 2024-05-01 — all in the churn base on May 31."""
    customers, transactions = ["customer_id,tier"], ["customer_id,ordered_at,amount"]
    for name, (churners, stayers) in groups.items():
        for i in range(churners + stayers):
            cid = f"{name}{i:04d}"
            customers.append(f"{cid},{name}")
            transactions.append(f"{cid},{'2023-12-20' if i < churners else '2024-05-01'},10")
    return "\n".join(customers) + "\n", "\n".join(transactions) + "\n"


def test_a_tiny_segment_with_all_churned_is_not_worst_a_large_clearly_higher_one_is(load):
    customers, transactions = _segments(big=(100, 100), other=(40, 360), tiny=(3, 0))
    frame = losses(load(customers=customers, transactions=transactions), "month", 1, as_of=AS_OF, by="tier")
    rows = frame.set_index("segment")
    assert rows["churned"].to_dict() == {"big": 100, "other": 40, "tiny": 3}
    assert rows["churned_base"].to_dict() == {"big": 200, "other": 400, "tiny": 3}
    assert rows.loc["tiny", "churned_share"] == 1.0 and not rows.loc["tiny", "churned_significant"]
    assert rows.loc["tiny", "churned_p"] < 0.05  # significant by p alone, but its base is below 30
    assert rows.loc["big", "churned_significant"] and rows.loc["other", "churned_significant"]  # other: lower
    assert worst_segment(frame) == "big" and frame.attrs["worst"]["churned"] == "big"
    assert rows["churned_worst"].to_dict() == {"big": True, "other": False, "tiny": False}
    # the p-value of the pooled two-proportion z-test, independently
    p1, p2, pooled = 100 / 200, 43 / 403, 143 / 603
    z = (p1 - p2) / (pooled * (1 - pooled) * (1 / 200 + 1 / 403)) ** 0.5
    assert rows.loc["big", "churned_p"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert rows.loc["big", "churned_rest_share"] == pytest.approx(p2)


def test_no_worst_segment_when_only_a_tiny_one_differs(load):
    customers, transactions = _segments(a=(20, 180), b=(20, 180), tiny=(3, 0))
    frame = losses(load(customers=customers, transactions=transactions), "month", 1, as_of=AS_OF, by="tier")
    assert not frame["churned_significant"].any()
    assert worst_segment(frame) is None and frame.attrs["worst"]["churned"] is None


def test_two_proportion_p_edges():
    assert two_proportion_p(0, 10, 0, 20) == 1.0
    assert two_proportion_p(3, 0, 1, 10) != two_proportion_p(3, 0, 1, 10)  # NaN
    assert two_proportion_p(10, 100, 10, 100) == pytest.approx(1.0)


# --------------------------------------------------------------------------- per-customer recomputation

@pytest.fixture(scope="module")
def demo_dataset(demo_paths, tmp_path_factory):
    con = store.connect(tmp_path_factory.mktemp("losses") / "demo.duckdb")
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    yield dataset
    con.disconnect()


def reference(dataset, period, periods, as_of, config, by):
    """The losses frame's counts, customer by customer and day by day from the raw transactions."""
    tx = dataset.table("transactions").execute()
    tx = tx[tx["amount"] > 0]
    days = defaultdict(set)
    for cid, when in zip(tx["customer_id"], tx["ordered_at"]):
        day = when.date() if hasattr(when, "date") else when
        if day <= as_of:
            days[cid].add(day)
    index = dataset.table("customer_index").execute()
    attribute = dict(zip(index["customer_id"], index[by])) if by not in (None, "cohort") else {}
    last = period_number(as_of, period)
    result = defaultdict(lambda: [0, 0, 0, 0])  # (period, segment) -> at_risk, at_risk_base, churned, churned_base
    for cid, bought in days.items():
        bought = sorted(bought)
        if by == "cohort":
            segment = period_label(period_number(bought[0], period), period)
        elif by is None:
            segment = "all"
        else:
            value = attribute.get(cid)
            segment = None if value is None or value != value else str(value)

        def status(day):
            i = bisect.bisect_right(bought, day)
            if i == 0:
                return None
            recency = (day - bought[i - 1]).days
            return "churned" if recency > config.churn_days else "at_risk" if recency > config.at_risk_days else "ok"

        for number in range(last - periods + 1, last + 1):
            start = period_start(number, period)
            end = min(period_start(number + 1, period) - dt.timedelta(days=1), as_of)
            seen = {status(start + dt.timedelta(days=k)) for k in range((end - start).days + 1)}
            before = status(start - dt.timedelta(days=1))
            cell = result[(period_label(number, period), segment)]
            if before == "ok":
                cell[1] += 1
                cell[0] += "at_risk" in seen
            if before in ("ok", "at_risk"):
                cell[3] += 1
                cell[2] += "churned" in seen
    return {key: tuple(value) for key, value in result.items() if value[1] or value[3]}


@pytest.mark.parametrize("period, periods, as_of, config, by", [
    ("month", 12, None, LifecycleConfig(), "segment"),
    ("quarter", 6, dt.date(2025, 11, 17), LifecycleConfig(), "cohort"),
    ("month", 6, dt.date(2025, 8, 14), LifecycleConfig(at_risk_days=20, churn_days=45), "channel"),
    ("quarter", 4, None, LifecycleConfig(at_risk_days=30, churn_days=60), None),
])
def test_equals_a_per_customer_recomputation_on_the_demo(demo_dataset, period, periods, as_of, config, by):
    from clm_core.metrics.common import resolve_as_of

    as_of = resolve_as_of(demo_dataset, as_of)
    frame = losses(demo_dataset, period, periods, as_of=as_of, by=by, config=config)
    got = {(p, s): (a, ab, c, cb) for p, s, a, ab, c, cb in zip(
        frame["period"], frame["segment"], frame["at_risk"], frame["at_risk_base"], frame["churned"],
        frame["churned_base"]) if ab or cb}
    assert got == reference(demo_dataset, period, periods, as_of, config, by)
    assert frame["churned"].sum() > 0 and frame["at_risk"].sum() > 0


def test_bases_equal_the_stage_distribution_on_the_base_dates(demo_dataset):
    frame = losses(demo_dataset, "month", 6, by="segment")
    totals = frame.groupby("period", sort=False)[["at_risk_base", "churned_base"]].sum()
    for period, start in zip(frame["period"].unique(), frame["start"].unique()):
        stages = stage_distribution(demo_dataset, start - dt.timedelta(days=1)).set_index("stage")["customers"]
        fine = int(stages[["new", "active", "reactivated", "loyal"]].sum())
        assert totals.loc[period, "at_risk_base"] == fine
        assert totals.loc[period, "churned_base"] == fine + int(stages["at_risk"])


def test_a_segment_filter_keeps_only_its_customers(fixture):
    from clm_core.filters import SegmentFilter

    north = losses(fixture, "month", 3, as_of=AS_OF, segment=SegmentFilter({"region": ("north",)}))
    by_region = losses(fixture, "month", 3, as_of=AS_OF, by="region")
    by_region = by_region[by_region["segment"] == "north"]
    for column in ("at_risk", "at_risk_base", "churned", "churned_base"):
        assert north[column].tolist() == by_region[column].tolist()
    lost = lost_customers(fixture, "churned", "month", as_of=AS_OF,
                          segment=SegmentFilter({"region": ("south",)})).execute()
    assert lost["customer_id"].tolist() == ["c7"]
