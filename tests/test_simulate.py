"""The campaign what-if simulator (clm_core/simulate.py): hand-sized mathematics, the scenario's URL round
trip, target selection, the funnel stage, and the baseline from the models fitted on demo data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clm_core import demo
from clm_core import simulate as simulate_module
from clm_core.filters import SegmentFilter
from clm_core.metrics.clv import rfm_summary
from clm_core.models.predictive import fitted_models
from clm_core.simulate import (
    BASELINE_COLUMNS,
    PLAN_COLUMNS,
    TABLE_ROWS,
    VALUE_COLUMNS,
    Baseline,
    FunnelStage,
    Scenario,
    Target,
    break_even_effect,
    customer_baseline,
    expected,
    first_purchase_value,
    funnel_stage,
    observed_margin,
    parameter_draws,
    plan,
    planning_defaults,
    select_target,
    simulate,
    target_customers,
)
from clm_core.viewstate import ViewState

KINDS = {"reactivation": "conversion", "order_value": "spend", "churn_reduction": "retention"}


def hand_target(**extra) -> Target:
    return Target(revenue=[100.0, 300.0], clv=[80.0, 240.0], **extra)


# --------------------------------------------------------------------------- mathematics by hand

@pytest.mark.parametrize("action", list(KINDS))
def test_zero_effect_gives_no_value_and_roi_minus_one(action):
    target = hand_target(cap=[0.3, 0.6])
    scenario = Scenario(action=action, effect_low=0.0, effect_high=0.0, response_rate=0.5, cost_per_contact=2.0,
                        fixed_cost=10.0)
    result = simulate(target, scenario, n_sims=500)
    for measure in ("incremental_purchasers", "incremental_revenue", "incremental_clv"):
        assert result.expected(measure) == 0
        assert result.interval(measure) == (0, 0)
        assert (result.samples[measure] == 0).all()
    assert result.expected("cost") == 2 * 2.0 + 10.0
    assert result.expected("roi") == -1.0  # (0 − cost) / cost
    assert result.interval("roi") == (-1.0, -1.0)
    assert result.expected("loss_probability") == 1.0


def test_expectation_by_hand():
    # values 100 and 300 (discounted 80 and 240), response 50 %, effect uniform on [10, 30] pp (mean 20 pp)
    base = dict(effect_low=0.1, effect_high=0.3, response_rate=0.5, cost_per_contact=1.0, margin=0.5)
    conversion = expected(hand_target(), Scenario(action="reactivation", **base))
    assert conversion["incremental_purchasers"] == pytest.approx(2 * 0.5 * 0.2)
    assert conversion["incremental_revenue"] == pytest.approx(0.5 * 0.2 * 400)
    assert conversion["incremental_clv"] == pytest.approx(0.5 * 0.5 * 0.2 * 320)  # 16
    assert conversion["roi"] == pytest.approx((16 - 2) / 2)
    # a funnel conversion reaches a purchase with the observed share
    funnel = expected(hand_target(purchase_share=0.5), Scenario(action="funnel_uplift", **base))
    assert funnel["incremental_purchasers"] == pytest.approx(0.1)
    assert funnel["incremental_revenue"] == pytest.approx(20)
    # order value: +20 % on the responders' revenue, no new purchasers
    spend = expected(hand_target(), Scenario(action="order_value", **base))
    assert spend["incremental_purchasers"] == 0
    assert spend["incremental_revenue"] == pytest.approx(0.5 * 0.2 * 400)
    # churn reduction is capped by the churn risk: E[min(e, 0.03)] for e ~ U(0.02, 0.06) is
    # (∫_0.02^0.03 e de + 0.03 · 0.03) / 0.04 = 0.02875; the second customer's risk 0.5 caps nothing
    capped = dict(base, effect_low=0.02, effect_high=0.06)
    retention = expected(hand_target(cap=[0.03, 0.5]), Scenario(action="churn_reduction", **capped))
    assert retention["incremental_purchasers"] == pytest.approx(0.5 * (0.02875 + 0.04))
    assert retention["incremental_revenue"] == pytest.approx(0.5 * (0.02875 * 100 + 0.04 * 300))


def test_break_even_by_hand_and_unreachable():
    scenario = Scenario(action="reactivation", effect_low=0.1, effect_high=0.3, response_rate=0.5,
                        cost_per_contact=1.0, margin=0.5)
    # expected CLV at effect e: 0.5 · 0.5 · e · 320 = 80 e = cost 2  ->  e = 0.025
    assert break_even_effect(hand_target(), scenario) == pytest.approx(0.025)
    dear = Scenario(action="reactivation", cost_per_contact=100.0, margin=0.5)
    assert break_even_effect(hand_target(), dear) is None  # 200 > 80 even at +100 pp
    assert math.isnan(simulate(hand_target(), dear, n_sims=10).expected("break_even_effect"))


@pytest.mark.parametrize("action", list(KINDS))
def test_break_even_effect_gives_roi_zero(action):
    rng = np.random.default_rng(1)
    values = rng.gamma(2.0, 100.0, 3000)
    target = Target(revenue=values * 1.1, clv=values, cap=rng.uniform(0.0, 0.2, 3000))
    scenario = Scenario(action=action, response_rate=0.4, cost_per_contact=1.5, fixed_cost=500.0, margin=0.3)
    even = break_even_effect(target, scenario)
    assert 0 < even < 1
    at_even = Scenario(action=action, effect_low=even, effect_high=even, response_rate=0.4, cost_per_contact=1.5,
                       fixed_cost=500.0, margin=0.3)
    result = simulate(target, at_even, n_sims=4000, seed=3)
    assert result.expected("roi") == pytest.approx(0.0, abs=1e-9)
    assert abs(result.samples["roi"].mean()) < 0.03  # the simulations agree with the expectation
    low, high = result.interval("roi")
    assert low < 0 < high


def test_doubling_the_target_doubles_the_expectation():
    rng = np.random.default_rng(2)
    values = rng.gamma(1.5, 80.0, 500)
    cap = rng.uniform(0, 0.3, 500)
    single = Target(revenue=values, clv=0.9 * values, cap=cap)
    double = Target(revenue=np.tile(values, 2), clv=np.tile(0.9 * values, 2), cap=np.tile(cap, 2))
    for action in KINDS:
        scenario = Scenario(action=action, response_rate=0.3, cost_per_contact=0.5)
        one, two = expected(single, scenario), expected(double, scenario)
        for measure in ("incremental_purchasers", "incremental_revenue", "incremental_clv"):
            assert two[measure] == pytest.approx(2 * one[measure])
        assert two["roi"] == pytest.approx(one["roi"])  # no fixed cost: cost doubles too
        assert simulate(double, scenario, n_sims=10).expected("contacted") == 1000


def test_interval_narrows_with_the_effect_range():
    rng = np.random.default_rng(4)
    values = rng.gamma(2.0, 50.0, 5000)
    target = Target(revenue=values, clv=values)
    widths = []
    for low, high in ((0.0, 0.08), (0.02, 0.06), (0.035, 0.045), (0.04, 0.04)):
        scenario = Scenario(action="activation", effect_low=low, effect_high=high, response_rate=0.6, margin=1.0)
        result = simulate(target, scenario, n_sims=5000, seed=7)
        assert result.expected("incremental_clv") == pytest.approx(0.6 * 0.04 * values.sum())  # same mid effect
        lo, hi = result.interval("incremental_clv")
        assert lo < result.expected("incremental_clv") < hi
        widths.append(hi - lo)
    assert widths == sorted(widths, reverse=True) and widths[0] > 2 * widths[-1]


def test_sampling_noise_is_binomial():
    # equal values, a fixed effect and every customer responding: purchasers ~ Binomial(n, e)
    n, effect = 4000, 0.1
    target = Target(revenue=np.full(n, 50.0), clv=np.full(n, 40.0))
    scenario = Scenario(action="reactivation", effect_low=effect, effect_high=effect, response_rate=1.0)
    samples = simulate(target, scenario, n_sims=20_000, seed=5).samples
    assert samples["incremental_purchasers"].mean() == pytest.approx(n * effect, rel=0.01)
    assert samples["incremental_purchasers"].var() == pytest.approx(n * effect * (1 - effect), rel=0.05)
    assert np.allclose(samples["incremental_revenue"], 50.0 * samples["incremental_purchasers"])


def test_monte_carlo_mean_matches_the_expectation():
    rng = np.random.default_rng(6)
    values = rng.lognormal(4.0, 1.0, 3000)
    target = Target(revenue=values, clv=0.8 * values, cap=rng.uniform(0, 0.1, 3000))
    for action in KINDS:
        scenario = Scenario(action=action, effect_low=0.01, effect_high=0.09, response_rate=0.7, margin=0.4)
        result = simulate(target, scenario, n_sims=10_000, seed=11)
        for measure in ("incremental_revenue", "incremental_clv"):
            assert result.samples[measure].mean() == pytest.approx(result.expected(measure), rel=0.02)


def test_parameter_draws_widen_the_interval():
    values = np.full(2000, 100.0)
    scenario = Scenario(action="reactivation", effect_low=0.05, effect_high=0.05, response_rate=1.0)
    plain = simulate(Target(revenue=values, clv=values), scenario, seed=1)
    factors = np.array([[0.8], [1.2]])  # two parameter sets: every value 20 % lower or higher
    drawn = simulate(Target(revenue=values, clv=values, revenue_draws=factors * values, clv_draws=factors * values),
                     scenario, seed=1)
    width = lambda r: np.subtract(*r.interval("incremental_clv")[::-1])  # noqa: E731
    assert width(drawn) > 2 * width(plain)
    assert drawn.samples["incremental_clv"].mean() == pytest.approx(plain.samples["incremental_clv"].mean(), rel=0.02)


def test_empty_target_and_invalid_inputs():
    result = simulate(Target(revenue=[], clv=[]), Scenario(fixed_cost=100.0), n_sims=50)
    assert result.expected("contacted") == 0 and result.expected("incremental_clv") == 0
    assert result.expected("roi") == -1.0
    with pytest.raises(ValueError, match="finite"):
        Target(revenue=[1.0, np.nan], clv=[1.0, 1.0])
    with pytest.raises(ValueError, match="one value per customer"):
        Target(revenue=[1.0], clv=[1.0, 2.0])


# --------------------------------------------------------------------------- scenario

def test_scenario_params_round_trip_losslessly():
    scenario = Scenario(action="funnel_uplift", effect_low=0.1 + 0.2, effect_high=1 / 3, response_rate=0.07,
                        cost_per_contact=0.35, fixed_cost=1234.5, margin=0.275, horizon_months=18,
                        stages=("new", "at_risk"), churn_risk=(0.2, 0.9), p_alive=(0.0, 0.5),
                        clv=(100.0, math.inf), funnel_steps=("visit, then signup", "first_purchase", "a=b"),
                        funnel_step=3)
    params = scenario.to_params()
    assert Scenario.from_params(params) == scenario
    # through the URL: page parameters p.<prefix><field>, once per value
    state = ViewState(params={f"campaigns_a_{k}": v for k, v in params.items()})
    back = ViewState.from_query_params(state.to_query_params())
    prefix = "campaigns_a_"
    assert Scenario.from_params({k[len(prefix):]: v for k, v in back.params.items()}) == scenario
    assert Scenario().to_params() == {}  # defaults stay out of the link
    assert Scenario.from_params({}) == Scenario()


def test_a_link_stores_the_differences_from_a_base_scenario():
    # the page's base: the data's defaults; the link holds only what differs from it, both ways lossless
    base = Scenario(response_rate=0.073, margin=0.34)
    assert Scenario.from_params({}, base) == base and base.to_params(base) == {}
    assert Scenario().response_rate == simulate_module.ASSUMED_RESPONSE == 0.10  # the stated assumptions
    assert Scenario().margin == simulate_module.ASSUMED_MARGIN == 0.30
    changed = Scenario(response_rate=0.05, margin=0.34, cost_per_contact=2.0)
    params = changed.to_params(base)
    assert params == {"response_rate": ("0.05",), "cost_per_contact": ("2.0",)}
    assert Scenario.from_params(params, base) == changed
    # a link's explicit value wins, even when it equals the class default the base replaces
    explicit = Scenario(response_rate=0.10, margin=0.34)
    assert explicit.to_params(base) == {"response_rate": ("0.1",)}
    assert Scenario.from_params(explicit.to_params(base), base) == explicit
    assert Scenario.from_params({"margin": ("1.0",)}, base) == Scenario(response_rate=0.073, margin=1.0)


MARGIN_TRANSACTIONS = """customer_id,ordered_at,amount,margin
a,2024-01-05,100,0.4
b,2024-01-06,50,0.1
a,2024-01-07,-20,0.5
c,2024-01-08,30,
b,2024-03-01,200,0.9
"""


def test_observed_margin_by_hand(make_dataset):
    # purchases with a margin up to T: (100 · 0.4 + 50 · 0.1) / (100 + 50) = 0.3; the return and the
    # purchase without a margin are left out; at T = 2024-03-01 the last purchase counts too
    ds = make_dataset(transactions=MARGIN_TRANSACTIONS)
    assert observed_margin(ds, as_of="2024-02-01") == pytest.approx(45 / 150)
    assert observed_margin(ds) == pytest.approx((45 + 180) / 350)
    plain = make_dataset(transactions="customer_id,ordered_at,amount\na,2024-01-05,100\n")
    assert observed_margin(plain) is None


def test_planning_defaults_from_the_data_or_stated(make_dataset):
    # campaign K (sent 01-05, window 01-06 … 02-04 ended): b bought on 01-06, a only returned (01-07),
    # c was control
    ds = make_dataset(
        transactions=MARGIN_TRANSACTIONS,
        campaigns="customer_id,campaign,sent_at,group\na,K,2024-01-05,treatment\nb,K,2024-01-05,treatment\n"
                  "c,K,2024-01-05,control\n",
    )
    defaults = planning_defaults(ds, as_of="2024-02-15")
    assert (defaults.response_rate, defaults.response_source, defaults.responders, defaults.treated) == (
        0.5, "campaigns", 1, 2)
    assert (defaults.margin, defaults.margin_source) == (0.3, "transactions")
    assert defaults.scenario() == Scenario(response_rate=0.5, margin=0.3)
    # rounded to what the page's inputs hold: b and c of 3 → 66.7 %, margin (45 + 180) / 350 → 64 %
    three = make_dataset(
        transactions=MARGIN_TRANSACTIONS,
        campaigns="customer_id,campaign,sent_at\na,K,2024-01-05\nb,K,2024-01-05\nc,K,2024-01-05\n",
    )
    defaults = planning_defaults(three)
    assert (defaults.response_rate, defaults.margin) == (0.667, 0.64)
    # no campaigns file and no margin column: the stated assumptions
    bare = make_dataset(transactions="customer_id,ordered_at,amount\na,2024-01-05,100\n")
    defaults = planning_defaults(bare)
    assert (defaults.response_rate, defaults.response_source) == (0.10, "assumed")
    assert (defaults.margin, defaults.margin_source) == (0.30, "assumed")
    assert defaults.scenario() == Scenario()


@pytest.mark.parametrize("params, message", [
    ({"effect_low": ("x",)}, "effect_low"),
    ({"clv": ("1.0",)}, "clv"),
    ({"action": ("mailing",)}, "unknown action"),
    ({"effect_low": ("0.5",), "effect_high": ("0.1",)}, "must not exceed"),
    ({"effect_high": ("1.5",)}, "at most 1"),
    ({"response_rate": ("1.2",)}, "share"),
    ({"margin": ("1.5",)}, "share"),
    ({"stages": ("vip",)}, "unknown stage"),
    ({"horizon_months": ("0",)}, "horizon"),
    ({"action": ("funnel_uplift",), "funnel_step": ("9",)}, "funnel_step"),
    ({"cost_per_contact": ("1e308",)}, "cost_per_contact must be at most 1,000,000,000"),
    ({"fixed_cost": ("2e9",)}, "fixed_cost must be at most"),
    ({"action": ("order_value",), "effect_high": ("10.5",)}, "order value is at most 10"),
])
def test_malformed_scenarios_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        Scenario.from_params(params)


def test_order_value_effects_may_exceed_one_hundred_percent():
    assert Scenario(action="order_value", effect_low=0.5, effect_high=2.0).effect_high == 2.0


# --------------------------------------------------------------------------- target selection

def hand_baseline(horizon: int = 12) -> Baseline:
    frame = pd.DataFrame({
        "customer_id": ["p", "n", "a", "r", "c", "l"],
        "stage": ["prospect", "new", "active", "at_risk", "churned", "loyal"],
        "frequency": [np.nan, 0, 2, 3, 4, 9],
        "p_alive": [np.nan, 1.0, 0.9, 0.6, 0.1, 0.95],
        "predicted_clv": [np.nan, 50.0, 300.0, 120.0, 10.0, 900.0],
        "churn_risk": [np.nan, 0.4, 0.2, 0.7, np.nan, 0.1],
    }).reindex(columns=list(BASELINE_COLUMNS))
    for k, name in enumerate(VALUE_COLUMNS):
        frame[name] = np.arange(6.0) + 10 * k
    frame.loc[0, ["alive_value", "alive_value_discounted"]] = np.nan
    draws = {name: np.stack([frame[name].to_numpy() * f for f in (0.9, 1.1)]) for name in VALUE_COLUMNS}
    return Baseline(frame, draws, pd.Timestamp("2024-06-30").date(), horizon, 0.1)


def contacted(scenario: Scenario, **kwargs) -> list[str]:
    return select_target(hand_baseline(), scenario, **kwargs).customers["customer_id"].tolist()


def test_each_action_addresses_its_customers():
    assert contacted(Scenario(action="reactivation")) == ["r", "c"]
    assert contacted(Scenario(action="activation")) == ["n"]
    assert contacted(Scenario(action="order_value")) == ["n", "a", "r", "c", "l"]
    assert contacted(Scenario(action="churn_reduction")) == ["n", "a", "r", "l"]
    stage = FunnelStage("first_purchase", "created", 0.5, "first_purchase", 1.0, ("p", "x"))
    assert contacted(Scenario(action="funnel_uplift"), funnel=stage) == ["p"]
    with pytest.raises(ValueError, match="funnel stage"):
        contacted(Scenario(action="funnel_uplift"))


def test_target_narrowing_and_the_values_it_carries():
    scenario = Scenario(action="churn_reduction", stages=("active", "at_risk", "churned"), churn_risk=(0.5, 1.0))
    target = select_target(hand_baseline(), scenario)
    assert target.customers["customer_id"].tolist() == ["r"] and target.matched == 1  # churned: no risk, out
    assert target.revenue.tolist() == [3.0 + 20] and target.clv.tolist() == [3.0 + 30]  # alive_value columns
    assert target.cap.tolist() == [0.7]
    assert target.revenue_draws[:, 0].tolist() == pytest.approx([23 * 0.9, 23 * 1.1])
    wide = select_target(hand_baseline(), Scenario(action="order_value", p_alive=(0.5, 1.0), clv=(100.0, math.inf)))
    assert wide.customers["customer_id"].tolist() == ["a", "r", "l"] and wide.matched == 3
    with pytest.raises(ValueError, match="12 months"):
        select_target(hand_baseline(12), Scenario(horizon_months=24))


# --------------------------------------------------------------------------- funnel

FUNNEL = dict(
    customers="""
    customer_id,created_at
    a,2024-01-01
    b,2024-01-01
    c,2024-01-01
    d,2024-01-01
    e,2024-01-01
    """,
    events="""
    customer_id,occurred_at,event
    a,2024-01-02,visit
    b,2024-01-02,visit
    c,2024-01-02,visit
    d,2024-01-02,visit
    e,2024-01-02,visit
    a,2024-01-03,signup
    b,2024-01-03,signup
    d,2024-01-03,signup
    """,
    transactions="""
    customer_id,ordered_at,amount
    a,2024-02-01,50
    a,2024-03-01,60
    b,2024-02-01,40
    c,2024-02-01,30
    a,2024-06-30,10
    """,
    nps="""
    customer_id,answered_at,score
    a,2024-03-05,10
    """,
)


def test_funnel_stage_by_hand(make_dataset):
    dataset = make_dataset(**FUNNEL)
    first = funnel_stage(dataset, step=2)  # created (5) -> first purchase (a, b, c)
    assert (first.previous, first.step, first.purchase_step) == ("created", "first_purchase", "first_purchase")
    assert first.conversion == pytest.approx(0.6) and first.purchase_share == 1.0
    assert sorted(first.candidates) == ["d", "e"]
    repeat = funnel_stage(dataset, step=3)  # first purchase (3) -> repeat purchase (a)
    assert repeat.conversion == pytest.approx(1 / 3) and sorted(repeat.candidates) == ["b", "c"]
    promoter = funnel_stage(dataset, step=4)  # no purchase step follows "promoter"
    assert promoter.purchase_step is None and promoter.purchase_share == 0.0 and promoter.candidates == ()
    # an event step leads to the first purchase with the observed rate: signups a, b, d; a and b buy after
    signup = funnel_stage(dataset, ("visit", "signup", "first_purchase"), step=2)
    assert signup.conversion == pytest.approx(0.6) and sorted(signup.candidates) == ["c", "e"]
    assert signup.purchase_step == "first_purchase" and signup.purchase_share == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="step"):
        funnel_stage(dataset, step=1)


# --------------------------------------------------------------------------- baseline on demo data

@pytest.fixture(scope="module")
def dataset(load, tmp_path_factory):
    paths = demo.write_demo(tmp_path_factory.mktemp("demo"), n_customers=300, seed=3)
    return load(**{table: path.read_bytes() for table, path in paths.items()})


@pytest.fixture(scope="module")
def baseline(dataset):
    return customer_baseline(dataset, draws=10)


def test_baseline_comes_from_the_fitted_models(dataset, baseline):
    c = baseline.customers
    assert baseline.model_error is None and baseline.churn_error is None
    assert set(c["stage"]) >= {"prospect", "new", "at_risk", "churned"}
    buyers = c[c["frequency"].notna()]
    # baseline revenue and CLV are those of clm_core.models.predictive (margin 1)
    assert np.allclose(buyers["spend_value"], buyers["expected_purchases"] * buyers["expected_spend"])
    assert np.allclose(buyers["spend_value_discounted"], buyers["predicted_clv"])
    assert (buyers["alive_value"] >= buyers["spend_value"] - 1e-9).all()  # P(alive) ≤ 1
    # a purchase now: S · (1 + E[X | x + 1, T, T] − E[X | x, t_x, T]) with the same fitted models
    bg, gg = fitted_models(dataset, baseline.as_of, "weeks")
    row = buyers[buyers["frequency"] > 0].iloc[0]
    horizon = 12 * 365.25 / 12 / 7
    spend = gg.conditional_expected_average_spend([row.frequency], [row.monetary])[0]
    after = bg.expected_purchases(horizon, [row["frequency"] + 1], [row["T"]], [row["T"]])[0]
    before = bg.expected_purchases(horizon, [row["frequency"]], [row["recency"]], [row["T"]])[0]
    assert row.purchase_value == pytest.approx(spend * (1 + after - before))
    assert row.expected_spend == pytest.approx(spend)
    prospects = c[c["stage"] == "prospect"]
    assert np.allclose(prospects["purchase_value"], first_purchase_value(bg, gg, 12)[0])
    # the parameter draws scatter around the point estimate
    totals = baseline.draws["purchase_value"].sum(axis=1) / c["purchase_value"].sum()
    assert baseline.draws["purchase_value"].shape == (10, len(c))
    assert 0.9 < totals.mean() < 1.1 and totals.std() > 0


def test_longer_horizons_bring_more_incremental_clv(dataset):
    scenario_values = []
    for months in (3, 12, 36):
        base = customer_baseline(dataset, horizon_months=months, draws=0, churn=False)
        scenario = Scenario(action="reactivation", horizon_months=months)
        target = select_target(base, scenario)
        scenario_values.append((target.size, expected(target, scenario)["incremental_clv"]))
    sizes, values = zip(*scenario_values)
    assert len(set(sizes)) == 1 and sizes[0] > 0
    assert values[0] < values[1] < values[2]


def test_target_customers(dataset, baseline):
    chosen = target_customers(dataset, stages=("at_risk", "churned"), p_alive=(0.0, 0.5))
    assert len(chosen) and set(chosen["stage"]) <= {"at_risk", "churned"} and chosen["p_alive"].le(0.5).all()
    c = baseline.customers
    expected_ids = c[c["stage"].isin(["at_risk", "churned"]) & c["p_alive"].le(0.5)]["customer_id"]
    assert chosen["customer_id"].tolist() == expected_ids.tolist()


def test_parameter_uncertainty_shrinks_with_more_data(dataset):
    bg, gg = fitted_models(dataset, None, "weeks")
    summary = rfm_summary(dataset, time_unit="weeks")
    once = parameter_draws(bg, gg, summary, count=2000, seed=1)
    twice = parameter_draws(bg, gg, pd.concat([summary, summary]), count=2000, seed=1)
    for key in ("r", "alpha", "a", "b"):
        single = np.log([b.params_[key] for b, _ in once])
        double = np.log([b.params_[key] for b, _ in twice])
        assert single.mean() == pytest.approx(math.log(bg.params_[key]), abs=3 * single.std() / math.sqrt(2000))
        assert double.std() == pytest.approx(single.std() / math.sqrt(2), rel=0.1)
    spend = np.log([g.params_["v"] for _, g in once])
    assert spend.std() > 0


# --------------------------------------------------------------------------- at scale: one baseline, plans

SCENARIOS = [Scenario(), Scenario(action="order_value", effect_low=0.05, effect_high=0.15, stages=("loyal", "active")),
             Scenario(action="churn_reduction", churn_risk=(0.3, 1.0), cost_per_contact=0.2)]


def old_plan(dataset, scenario, segment=None):
    baseline = customer_baseline(dataset, segment=segment, horizon_months=scenario.horizon_months)
    target = select_target(baseline, scenario)
    return target, simulate(target, scenario, n_sims=2_000, seed=0)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_plan_is_the_simulation_of_the_baseline(dataset, scenario):
    region = SegmentFilter({"channel": ("Email", "Referral")})
    for segment in (None, region):
        target, result = old_plan(dataset, scenario, segment)
        got = plan(dataset, segment=segment, scenario=scenario.to_params(), n_sims=2_000)
        assert (got.contacted, got.matched) == (target.size, target.matched) and got.error is None
        pd.testing.assert_frame_equal(got.result.summary, result.summary)
        pd.testing.assert_frame_equal(got.result.samples, result.samples)
        column = simulate_module.ACTIONS[scenario.action][0]
        pd.testing.assert_frame_equal(got.customers, target.customers[[*PLAN_COLUMNS, column]].head(TABLE_ROWS))
    assert plan(dataset, scenario=scenario, n_sims=10, rows=3).customers.shape[0] == min(3, target.size)


def test_a_segments_baseline_is_the_whole_baseline_of_its_customers(dataset, baseline):
    email = SegmentFilter({"channel": ("Email",)})
    part = customer_baseline(dataset, segment=email, draws=10)
    ids = email.customers(dataset, baseline.as_of).execute()["customer_id"]
    pd.testing.assert_frame_equal(part.customers, baseline.customers[baseline.customers["customer_id"].isin(ids)]
                                  .reset_index(drop=True))
    assert part.draws["purchase_value"].shape == (10, len(part.customers))
    part.customers.loc[0, "p_alive"] = -1.0  # the caller's copy: the shared baseline is untouched
    assert not (customer_baseline(dataset, draws=10).customers["p_alive"] == -1.0).any()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_draws_evaluated_for_the_target_only(dataset, scenario, monkeypatch):
    """Above EAGER_DRAW_CUSTOMERS the baseline keeps the drawn models; the values under them are computed for
    a sample of each bucket of the contacted customers: all of them give the eager result, a few come close."""
    eager = select_target(customer_baseline(dataset, draws=10), scenario)
    monkeypatch.setattr(simulate_module, "EAGER_DRAW_CUSTOMERS", 0)
    simulate_module._BASELINES.clear()
    lazy_baseline = customer_baseline(dataset, draws=10)
    assert not lazy_baseline.draws and len(lazy_baseline.draw_models) == 10
    lazy = select_target(lazy_baseline, scenario)
    assert lazy.revenue_draws is None and lazy.draw_values is not None
    want = simulate(eager, scenario, n_sims=2_000, seed=1)
    got = simulate(lazy, scenario, n_sims=2_000, seed=1)
    pd.testing.assert_frame_equal(got.summary, want.summary, rtol=1e-9)
    monkeypatch.setattr(simulate_module, "DRAW_SAMPLE", 3)
    sampled = simulate(lazy, scenario, n_sims=2_000, seed=1)
    assert sampled.expected("incremental_clv") == want.expected("incremental_clv")  # the point estimate
    for measure in ("incremental_revenue", "incremental_clv"):
        assert np.allclose(sampled.interval(measure), want.interval(measure), rtol=0.1)
    simulate_module._BASELINES.clear()


def test_left_join_is_pandas_left_merge():
    from clm_core.models.cache import left_join

    rng = np.random.default_rng(1)
    ids = np.array([f"c{i:05d}" for i in range(1200)])
    left = pd.DataFrame({"customer_id": pd.array(ids[rng.permutation(1000)], dtype="str"), "stage": "x"})
    right = pd.DataFrame({"customer_id": pd.array(ids[rng.choice(1200, 700, replace=False)], dtype="str"),
                          "frequency": rng.integers(0, 5, 700), "T": rng.random(700), "s": "a"})
    inside = left[left["customer_id"].isin(right["customer_id"])]
    for a, b in ((left, right), (inside, right.sample(frac=1, random_state=2)), (left, right.iloc[:0]),
                 (left, pd.DataFrame({"customer_id": pd.Series(dtype=str), "churn_risk": pd.Series(dtype=float)}))):
        pd.testing.assert_frame_equal(left_join(a, b, "customer_id"), a.merge(b, on="customer_id", how="left"))


def test_the_whole_baseline_is_stored_and_read_back_equal(dataset):
    fresh = simulate_module.whole_baseline(dataset, draws=10)
    simulate_module._BASELINES.clear()  # a new server process: read from the database
    stored = simulate_module.whole_baseline(dataset, draws=10)
    assert stored is not fresh
    pd.testing.assert_frame_equal(stored.customers, fresh.customers)
    assert stored.draws.keys() == fresh.draws.keys() and len(stored.draws["purchase_value"]) == 10
    for name in fresh.draws:
        assert np.array_equal(stored.draws[name], fresh.draws[name], equal_nan=True)
    assert (stored.as_of, stored.horizon_months, stored.annual_discount, stored.model_error, stored.churn_error) == \
        (fresh.as_of, fresh.horizon_months, fresh.annual_discount, fresh.model_error, fresh.churn_error)
    scenario = Scenario(action="churn_reduction")
    pd.testing.assert_frame_equal(simulate(select_target(_select(stored), scenario), scenario, 500).samples,
                                  simulate(select_target(_select(fresh), scenario), scenario, 500).samples)


def _select(whole):
    return simulate_module._select_rows(whole, None)
