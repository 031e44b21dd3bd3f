"""Evaluation of past campaigns and the gap analysis (DESIGN §3.6, clm_core/metrics/campaigns.py)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from clm_core import ingest, store
from clm_core.__main__ import main
from clm_core.config import STAGES, LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics.campaigns import (
    COLUMNS,
    EXTRA_COLUMNS,
    NO_CHANNEL,
    campaign_effects,
    campaign_effects_by,
    campaign_gaps,
    framework_stage_names,
    observed_response,
    roi_interval,
    uplift_interval,
    wilson_interval,
)


CUSTOMERS = """
customer_id,segment
t1,Gold
t2,Gold
t3,Basic
t4,Basic
c1,Basic
c2,Gold
c3,Gold
x,Basic
"""
# Campaign A, sent 2024-03-01 (window 03-02 … 03-31, before-window 02-01 … 02-29):
#   t1 buys on the send day (no response) and on 03-05 (100): responder; listed twice (03-01 and 03-10).
#   t2 returns 10 on 03-20 and buys 40 on 03-31, the window's last day: responder, revenue 30.
#   t3 bought 60 on 02-15 (before-window) and buys 70 on 04-01, one day too late: no response.
#   t4 only returns 20 on 03-10: no response (a return is no purchase), revenue −20.
#   control: c1 buys 30 on 03-15; c2, c3 nothing in the window.
# Campaign B, sent 2024-05-01, all treatment (no control): t3 buys 60 on 05-10, c2 buys 15 on 05-02 and
#   25 on 05-20, z (only in the campaigns file) nothing. Before-window 04-01 … 04-30: t3's 04-01 purchase.
# Campaign C is sent after T = 2024-06-10 (x's purchase, the latest day).
TRANSACTIONS = """
customer_id,ordered_at,amount
t1,2024-03-01 18:00,50
t1,2024-03-05,100
t2,2024-03-20,-10
t2,2024-03-31,40
t3,2024-02-15,60
t3,2024-04-01,70
t4,2024-03-10,-20
c1,2024-03-15,30
t3,2024-05-10,60
c2,2024-05-02,15
c2,2024-05-20,25
x,2024-06-10,5
"""
CAMPAIGNS = """
customer_id,campaign,sent_at,group,channel,cost
t1,A,2024-03-01 09:00,treatment,email,2.0
t2,A,2024-03-01 09:00,treatment,email,2.0
t3,A,2024-03-01 09:00,treatment,email,2.0
t4,A,2024-03-01 09:00,treatment,email,2.0
t1,A,2024-03-10 09:00,treatment,email,2.0
c1,A,2024-03-01 09:00,control,email,2.0
c2,A,2024-03-01 09:00,control,email,2.0
c3,A,2024-03-01 09:00,control,email,2.0
t3,B,2024-05-01,treatment,sms,1.0
c2,B,2024-05-01,treatment,sms,1.0
z,B,2024-05-01,,sms,1.0
t1,C,2024-06-15,treatment,email,1.0
"""


@pytest.fixture(scope="module")
def ds(load):
    return load(customers=CUSTOMERS, transactions=TRANSACTIONS, campaigns=CAMPAIGNS)


def row(frame, **keys):
    mask = np.logical_and.reduce([frame[k] == v for k, v in keys.items()])
    assert mask.sum() == 1, keys
    return frame[mask].iloc[0]


# --------------------------------------------------------------------------- statistics

def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    d, low, high = uplift_interval(56, 70, 48, 80)
    assert (d, low, high) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)


def test_wilson_interval_by_hand_and_empty_groups():
    # 1 of 3, z = 1.959964: centre (1/3 + z²/6) / (1 + z²/3), half z/(1 + z²/3) · sqrt(2/27 + z²/36)
    z = 1.959963984540054
    centre = (1 / 3 + z * z / 6) / (1 + z * z / 3)
    half = z / (1 + z * z / 3) * math.sqrt(2 / 27 + z * z / 36)
    assert wilson_interval(1, 3) == pytest.approx((centre - half, centre + half))
    assert all(math.isnan(v) for v in uplift_interval(3, 10, 0, 0))


@pytest.mark.parametrize("treated, control, p_treated, p_control", [(3000, 3000, 0.14, 0.10), (300, 75, 0.20, 0.10)])
def test_interval_covers_the_true_uplift_in_simulations(treated, control, p_treated, p_control):
    rng = np.random.default_rng(20240501)
    xt = rng.binomial(treated, p_treated, 100)
    xc = rng.binomial(control, p_control, 100)
    d, low, high = uplift_interval(xt, treated, xc, control)
    truth = p_treated - p_control
    assert ((low <= truth) & (truth <= high)).sum() >= 90
    standard_error = math.sqrt(p_treated * (1 - p_treated) / treated + p_control * (1 - p_control) / control)
    assert abs(d.mean() - truth) < 3 * standard_error / math.sqrt(100)


# --------------------------------------------------------------------------- effects on the hand fixture

def test_effects_of_a_campaign_with_control_group(ds):
    effects = campaign_effects(ds)
    assert list(effects.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(effects.columns[len(COLUMNS):]) == list(EXTRA_COLUMNS)
    assert effects["campaign"].tolist() == ["A", "B"]  # C is sent after T
    a = row(effects, campaign="A")
    assert (a.treated, a.control) == (4, 3)  # t1 counts once
    assert a.response_treated == pytest.approx(2 / 4)  # t1, t2
    assert a.response_control == pytest.approx(1 / 3)  # c1
    assert a.uplift == pytest.approx(1 / 2 - 1 / 3)
    assert (a.ci_low, a.ci_high) == pytest.approx(tuple(uplift_interval(2, 4, 1, 3)[1:]))
    assert a.ci_low < a.uplift < a.ci_high
    assert a.revenue_treated == pytest.approx((100 + 30 + 0 - 20) / 4)
    assert a.revenue_control == pytest.approx(30 / 3)
    assert a.cost == pytest.approx(5 * 2.0)  # five treatment rows, control rows cost nothing
    assert a.incremental_revenue == pytest.approx((27.5 - 10) * 4)
    assert a.roi == pytest.approx((70 - 10) / 10)
    assert a.causal and a.window_complete
    assert (a.first_sent, a.last_sent) == (dt.date(2024, 3, 1), dt.date(2024, 3, 1))  # t1's first send
    assert (a.channel, a.contacts) == ("email", 5)
    # before-window: t3's 02-15 purchase (60); t1's send-day purchase counts in neither window
    assert (a.response_before, a.revenue_before) == pytest.approx((1 / 4, 60 / 4))
    assert a.change_before_after == pytest.approx(2 / 4 - 1 / 4)


def test_roi_interval_by_hand(ds):
    # campaign A: treated window revenue 100, 30, 0, −20 (mean 27.5), control 30, 0, 0 (mean 10), cost 10.
    # sample variances: (72.5² + 2.5² + 27.5² + 47.5²) / 3 = 8275 / 3 and (20² + 10² + 10²) / 2 = 300;
    # difference 17.5 ± 1.959964 · sqrt(8275 / 12 + 100); ROI = (difference · 4 · margin − 10) / 10
    z = 1.959963984540054
    half = z * math.sqrt(8275 / 12 + 100)
    for margin in (1.0, 0.5):
        a = row(campaign_effects(ds, margin=margin), campaign="A")
        low, high = ((17.5 - half) * 4 * margin - 10) / 10, ((17.5 + half) * 4 * margin - 10) / 10
        assert (a.roi_low, a.roi_high) == pytest.approx((low, high))
        assert a.roi_low < a.roi < a.roi_high
    # the statistical core alone; a group of one customer has no variance, a campaign without cost no ROI
    assert roi_interval(27.5, 8275 / 3, 4, 10.0, 300.0, 3, 10.0) == pytest.approx(
        (((17.5 - half) * 4 - 10) / 10, ((17.5 + half) * 4 - 10) / 10))
    assert all(math.isnan(v) for v in roi_interval(27.5, 8275 / 3, 4, 10.0, math.nan, 1, 10.0))
    assert all(math.isnan(v) for v in roi_interval(27.5, 8275 / 3, 4, 10.0, 300.0, 3, 0.0))
    b = row(campaign_effects(ds), campaign="B")  # no control group
    assert math.isnan(b.roi_low) and math.isnan(b.roi_high)


def test_observed_response_pools_the_treated_of_complete_windows(ds):
    # A: t1, t2 of 4 treated respond; B (window 05-02 … 05-31, ended before T): t3 and c2 of 3; C after T
    assert observed_response(ds) == (2 + 2, 4 + 3)
    # at 2024-05-15 B's window has not ended: A alone
    assert observed_response(ds, as_of="2024-05-15") == (2, 4)
    assert observed_response(ds, as_of="2024-02-01") == (0, 0)


def test_margin_scales_incremental_revenue_in_roi(ds):
    a = row(campaign_effects(ds, margin=0.5), campaign="A")
    assert a.roi == pytest.approx((70 * 0.5 - 10) / 10)


def test_campaign_without_control_group_is_before_after_only(ds):
    b = row(campaign_effects(ds), campaign="B")
    assert (b.treated, b.control) == (3, 0)  # z's empty group means treatment
    assert b.response_treated == pytest.approx(2 / 3)
    assert b.revenue_treated == pytest.approx((60 + 15 + 25) / 3)
    for column in ("response_control", "uplift", "ci_low", "ci_high", "revenue_control", "incremental_revenue", "roi"):
        assert math.isnan(b[column]), column
    assert not b.causal
    assert b.cost == pytest.approx(3.0)
    assert (b.response_before, b.revenue_before) == pytest.approx((1 / 3, 70 / 3))
    assert b.change_before_after == pytest.approx(2 / 3 - 1 / 3)


def test_window_boundaries(ds):
    # 31 days: t3's 04-01 purchase (day 31) now responds; the send day still does not count
    a = row(campaign_effects(ds, window_days=31), campaign="A")
    assert a.response_treated == pytest.approx(3 / 4)
    assert a.revenue_treated == pytest.approx((100 + 30 + 70 - 20) / 4)
    # 3 days: only t1's 03-05 purchase (day 4) is out, nothing in 03-02 … 03-04
    a = row(campaign_effects(ds, window_days=4), campaign="A")
    assert a.response_treated == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="window_days"):
        campaign_effects(ds, window_days=0)


def test_window_cut_at_as_of_is_flagged(ds):
    effects = campaign_effects(ds, as_of="2024-05-15")
    a, b = row(effects, campaign="A"), row(effects, campaign="B")
    assert a.window_complete and not b.window_complete
    # B's window ends at T: c2's 05-20 purchase is not seen
    assert b.revenue_treated == pytest.approx((60 + 15) / 3)
    assert campaign_effects(ds, as_of="2024-02-01").empty


def test_effects_by_customer_attribute_and_segment_filter(ds):
    by = campaign_effects_by(ds, "segment")
    gold, basic = row(by, campaign="A", segment="Gold"), row(by, campaign="A", segment="Basic")
    # Gold: t1, t2 respond (revenue 100 + 30) vs c2, c3 none; Basic: t3, t4 none (−20) vs c1 (30)
    assert (gold.treated, gold.control, gold.uplift, gold.revenue_treated) == pytest.approx((2, 2, 1.0, 65.0))
    assert (basic.treated, basic.control, basic.uplift, basic.revenue_treated) == pytest.approx((2, 1, -1.0, -10.0))
    filtered = row(campaign_effects(ds, segment=SegmentFilter({"segment": ("Gold",)})), campaign="A")
    assert filtered[list(COLUMNS)].tolist() == pytest.approx(gold[list(COLUMNS)].tolist(), nan_ok=True)
    # z is in no customer file: its attribute is missing
    assert by.loc[by["segment"].isna(), ["campaign", "treated"]].values.tolist() == [["B", 1]]
    with pytest.raises(ValueError, match="cannot break campaigns down by 'colour'"):
        campaign_effects_by(ds, "colour")


def test_effects_by_an_attribute_named_like_a_campaign_column(load):
    """A customer attribute ``channel`` (as the demo's) breaks campaign A down by the customers' channel; the
    campaign's own channel column gives way (it was a duplicate column, an error on the Campaigns page)."""
    channels = {"t1": "Web", "t2": "Web"}
    customers = "\n".join(line + ("," + channels.get(line.split(",")[0], "Shop") if line.split(",")[0] != "customer_id"
                                   else ",channel") if line else line for line in CUSTOMERS.split("\n"))
    by = campaign_effects_by(load(customers=customers, transactions=TRANSACTIONS, campaigns=CAMPAIGNS), "channel")
    assert list(by.columns[:2]) == ["campaign", "channel"] and by.columns.is_unique
    web, shop = row(by, campaign="A", channel="Web"), row(by, campaign="A", channel="Shop")
    assert (web.treated, web.control, web.revenue_treated) == pytest.approx((2, 0, 65.0))  # t1 100, t2 30
    assert (shop.treated, shop.control) == (2, 3)


def test_effects_by_stage_at_send_time(ds):
    by = campaign_effects_by(ds, "stage")
    # at 03-01: t1 (bought that day) and t3 (02-15) are new; t2, t4 and the control group have no purchase yet
    new, prospect = row(by, campaign="A", stage="new"), row(by, campaign="A", stage="prospect")
    assert (new.treated, new.control, new.response_treated) == (2, 0, 0.5)
    assert math.isnan(new.uplift)
    assert (prospect.treated, prospect.control) == (2, 3)
    assert prospect.uplift == pytest.approx(1 / 2 - 1 / 3)
    # at 05-01: t3 (first purchase 76 days before) is new; c2 and z (unknown to the customer files) prospects
    assert row(by, campaign="B", stage="new").treated == 1
    assert row(by, campaign="B", stage="prospect").treated == 2


# --------------------------------------------------------------------------- gap analysis

def test_gap_matrix_has_every_stage_and_channel(ds):
    gaps = campaign_gaps(ds)
    assert len(gaps) == len(STAGES) * 2
    assert set(gaps["channel"]) == {"email", "sms"}
    cell = row(gaps, stage="prospect", channel="email")
    assert (cell.customers_reached, cell.campaigns) == (2, 1)
    assert cell.uplift == pytest.approx(1 / 2 - 1 / 3)
    new_email = row(gaps, stage="new", channel="email")
    assert (new_email.customers_reached, new_email.campaigns) == (2, 1) and math.isnan(new_email.uplift)
    assert row(gaps, stage="new", channel="sms").customers_reached == 1
    assert row(gaps, stage="prospect", channel="sms").customers_reached == 2
    idle = gaps[~gaps["stage"].isin(["prospect", "new"])]
    assert (idle["customers_reached"] == 0).all() and (idle["campaigns"] == 0).all() and idle["uplift"].isna().all()
    assert row(gaps, stage="new", channel="sms").framework_stage == "Purchase"


def test_framework_stage_names():
    names = framework_stage_names(LifecycleConfig(framework="RACE"))
    assert names == {"prospect": "Reach, Act", "new": "Convert", "active": "Engage", "reactivated": "Engage",
                     "at_risk": "Engage", "loyal": "Engage", "churned": "Lapsed"}
    assert framework_stage_names(LifecycleConfig(framework="CLM three levels"))["prospect"] == "Attract & acquire"


def test_minimal_campaigns_file(make_dataset):
    # no group, channel or cost column: everybody treated, cost and ROI unknown, one "unspecified" channel
    minimal = make_dataset(
        customers="customer_id\na\nb\n",
        transactions="customer_id,ordered_at,amount\na,2024-01-05,10\nb,2024-03-01,10\n",
        campaigns="customer_id,campaign,sent_at\na,K,2024-01-01\nb,K,2024-01-01\n",
    )
    k = row(campaign_effects(minimal), campaign="K")
    assert (k.treated, k.control, k.response_treated, k.causal, k.channel) == (2, 0, 0.5, False, NO_CHANNEL)
    assert math.isnan(k.cost) and math.isnan(k.roi)
    gaps = campaign_gaps(minimal)
    assert gaps["channel"].unique().tolist() == [NO_CHANNEL]
    assert row(gaps, stage="prospect").customers_reached == 2


def test_customer_listed_in_both_groups_is_treated_from_the_first_send(make_dataset):
    # a: control row on 01-01, treatment row on 01-05, buys on 01-03 -> one treated responder (window from 01-01)
    mixed = make_dataset(
        transactions="customer_id,ordered_at,amount\na,2024-01-03,10\nb,2024-02-15,10\n",
        campaigns="customer_id,campaign,sent_at,group,cost\na,K,2024-01-01,control,1\na,K,2024-01-05,treatment,1\n"
                  "b,K,2024-01-01,control,1\n",
    )
    k = row(campaign_effects(mixed), campaign="K")
    assert (k.treated, k.control, k.response_treated, k.response_control, k.cost) == (1, 1, 1.0, 0.0, 1.0)


# --------------------------------------------------------------------------- simulated data through the database

def simulated_campaign(seed: int, n: int = 800, p_control: float = 0.10, p_treated: float = 0.14):
    """CSV texts of a campaign sent 2024-06-01 with known responders, plus the true counts."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("s", np.arange(2 * n).astype(str))
    treated = np.arange(2 * n) < n
    responds = rng.random(2 * n) < np.where(treated, p_treated, p_control)
    sent = np.datetime64("2024-06-01")
    amount = np.round(rng.lognormal(3.5, 0.5, 2 * n), 2)
    # responders buy on a day 1–30 after the send; everybody may buy 40–120 days before or 31–60 days after
    purchases = [(ids[responds], sent + rng.integers(1, 31, responds.sum()), amount[responds])]
    before = rng.random(2 * n) < 0.3
    purchases.append((ids[before], sent - rng.integers(40, 121, before.sum()), np.full(before.sum(), 20.0)))
    later = rng.random(2 * n) < 0.3
    purchases.append((ids[later], sent + rng.integers(31, 61, later.sum()), np.full(later.sum(), 20.0)))
    transactions = pd.DataFrame(
        {"customer_id": np.concatenate([p[0] for p in purchases]),
         "ordered_at": np.concatenate([p[1] for p in purchases]).astype(str),
         "amount": np.concatenate([p[2] for p in purchases])}
    )
    campaigns = pd.DataFrame({"customer_id": ids, "campaign": "Sim", "sent_at": "2024-06-01",
                              "group": np.where(treated, "treatment", "control"), "cost": 0.5})
    truth = {
        "counts": (responds[treated].sum(), n, responds[~treated].sum(), n),
        "revenue": (amount[responds & treated].sum() / n, amount[responds & ~treated].sum() / n),
    }
    texts = {"customers": pd.DataFrame({"customer_id": ids}).to_csv(index=False),
             "transactions": transactions.to_csv(index=False), "campaigns": campaigns.to_csv(index=False)}
    return texts, truth


@pytest.mark.parametrize("seed", [1, 2])
def test_database_path_equals_the_statistical_core(make_dataset, seed):
    texts, truth = simulated_campaign(seed)
    effects = campaign_effects(make_dataset(**texts), window_days=30)
    sim = row(effects, campaign="Sim")
    xt, nt, xc, nc = truth["counts"]
    assert (sim.treated, sim.control) == (nt, nc)
    assert (sim.response_treated, sim.response_control) == pytest.approx((xt / nt, xc / nc))
    assert (sim.uplift, sim.ci_low, sim.ci_high) == pytest.approx(tuple(uplift_interval(xt, nt, xc, nc)))
    assert (sim.revenue_treated, sim.revenue_control) == pytest.approx(truth["revenue"])
    assert sim.cost == pytest.approx(0.5 * nt)


# --------------------------------------------------------------------------- demo data

@pytest.fixture(scope="module")
def demo_ds(tmp_path_factory, demo_dir):
    con = store.connect(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    dataset = store.create_dataset(con, "Demo")
    ingest.load_directory(dataset, demo_dir)
    yield dataset
    con.disconnect()


def test_demo_campaigns_show_their_real_effects(demo_ds, demo_dir):
    effects = campaign_effects(demo_ds)
    targeted = pd.read_csv(demo_dir / "campaigns.csv").groupby("campaign")["stage_targeted"].first()
    assert set(effects["campaign"]) == set(targeted.index)
    # every demo campaign gives treated customers extra purchases (demo.CAMPAIGNS: +7 to +25 points)
    assert effects["causal"].all() and effects["window_complete"].all()
    assert (effects["uplift"] > 0).all()
    largest = effects.loc[effects["treated"].idxmax()]
    assert largest.ci_low > 0
    # the stage at send time reproduces the generator's targeting (the demo's loyal rule ignores NPS)
    by_stage = campaign_effects_by(demo_ds, "stage")
    main_stage = by_stage.loc[by_stage.groupby("campaign")["treated"].idxmax()].set_index("campaign")["stage"]
    assert main_stage.to_dict() == targeted.to_dict()
    gaps = campaign_gaps(demo_ds)
    reached = gaps.groupby("stage")["customers_reached"].sum()
    assert reached["prospect"] == 0 and reached["reactivated"] == 0
    assert (reached[list(set(targeted))] > 0).all()


# --------------------------------------------------------------------------- command line

@pytest.fixture
def files(tmp_path):
    for name, text in (("c", CUSTOMERS), ("t", TRANSACTIONS), ("k", CAMPAIGNS.replace("campaign,", "Aktion,", 1))):
        (tmp_path / f"{name}.csv").write_text(text.lstrip("\n"))
    return tmp_path


def cli(files, *extra):
    return main(["campaigns", "--customers", str(files / "c.csv"), "--transactions",
                 str(files / "t.csv"), "--campaigns", str(files / "k.csv"), *extra])


def test_cli_writes_campaign_effects(files, capsys):
    out = files / "out"
    assert cli(files, "--map", "campaigns:Aktion=campaign", "--out", str(out)) == 0
    frame = pd.read_csv(out / "campaign_effects.csv")
    assert frame.columns.tolist() == list(COLUMNS)
    a = row(frame, campaign="A")
    assert (a.treated, a.control, a.cost, a.roi) == pytest.approx((4, 3, 10.0, 6.0))
    printed = capsys.readouterr().out
    assert "B: 3 treated, 0 control; no control group" in printed and "not causal" in printed


def test_cli_unusable_input_exits_2_with_one_line(files, capsys):
    assert cli(files, "--out", str(files / "out")) == 2  # Aktion not mapped: no campaign column
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "campaign" in err and err.count("\n") == 1
    assert cli(files, "--map", "campaigns:Aktion=campaign", "--as-of", "soon", "--out", str(files / "o")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: not a date") and err.count("\n") == 1
