"""BG/NBD and Gamma-Gamma (clm_core.models.btyd): recovery of known parameters from simulated customers,
published and hand-computed values, the analytic gradients, edge cases and the CLV sum."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import optimize

from clm_core.models.btyd import (
    BetaGeo, ConvergenceWarning, CorrelationWarning, GammaGamma, ModelError, bg_log_likelihood,
    customer_lifetime_value, gg_log_likelihood, simulate_bg, simulate_gg,
)

BG_TRUE = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
GG_TRUE = {"p": 6.25, "q": 3.7, "v": 15.4}
CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005's estimates on CDNOW (weeks)
HOLDOUT_WEEKS = 52


def fitted_bg(params):
    model = BetaGeo()
    model.params_ = dict(params)
    return model


def fitted_gg(params):
    model = GammaGamma()
    model.params_ = dict(params)
    return model


@pytest.fixture(scope="module")
def simulated():
    """100,000 customers from the BG/NBD process, T uniform on 20–80 weeks, with a 52-week hold-out, and their
    Gamma-Gamma spend (about 44,000 repeat customers)."""
    rng = np.random.default_rng(20240501)
    data = simulate_bg(rng.uniform(20, 80, 100_000), **BG_TRUE, rng=rng, holdout=HOLDOUT_WEEKS)
    data["monetary"] = simulate_gg(data["frequency"], **GG_TRUE, rng=rng)
    return data


@pytest.fixture(scope="module")
def bg(simulated):
    return BetaGeo().fit(simulated["frequency"], simulated["recency"], simulated["T"])


def test_bg_recovers_the_simulated_parameters(bg):
    # At n = 100,000 the asymptotic standard errors (inverse Hessian) are 0.7 % (r), 1.2 % (alpha), 2.7 % (a) and
    # 3.6 % (b): a 12 % tolerance is more than 3 standard errors for every parameter.
    assert set(bg.params_) == {"r", "alpha", "a", "b"}
    for name, true in BG_TRUE.items():
        assert bg.params_[name] == pytest.approx(true, rel=0.12), name
    assert np.isfinite(bg.log_likelihood_) and bg.log_likelihood_ < 0


def test_gg_recovers_the_simulated_parameters(simulated):
    # Standard errors at ~44,000 repeat customers: 2.6 % (p), 1.1 % (q), 3.6 % (v); tolerance 12 % as above.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorrelationWarning)  # simulated spend is independent of frequency
        gg = GammaGamma().fit(simulated["frequency"], simulated["monetary"])
    for name, true in GG_TRUE.items():
        assert gg.params_[name] == pytest.approx(true, rel=0.12), name
    assert abs(gg.correlation_) < 0.3


def test_expected_purchases_match_the_simulated_holdout(bg, simulated):
    # Across seeds the relative difference has a standard deviation of about 1 %: 4 % is four of them.
    predicted = bg.expected_purchases(HOLDOUT_WEEKS, simulated["frequency"], simulated["recency"], simulated["T"])
    actual = simulated["holdout_purchases"]
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.04)
    # and per calibration frequency, where customers are many (0, 1, 2 repeat purchases)
    for x in (0, 1, 2):
        rows = simulated["frequency"] == x
        assert predicted[rows].mean() == pytest.approx(actual[rows].mean(), rel=0.08), x


def test_published_cdnow_values():
    # FHL 2005 / Hardie's spreadsheet (also in lifetimes' tests): x = 2, t_x = 30.43, T = 38.86 weeks ->
    # 1.226 expected purchases in the next 39 weeks, P(alive) 0.727.
    model = fitted_bg(CDNOW)
    assert model.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=5e-4)
    assert model.p_alive(2, 30.43, 38.86)[0] == pytest.approx(0.727, abs=5e-4)


def test_p_alive_by_hand():
    model = fitted_bg(BG_TRUE)
    # x = 2, t_x = 30, T = 40: a/(b+x−1) = 0.79/3.4 = 0.23235294; ((4.4+40)/(4.4+30))^(0.24+2) = 1.29069767^2.24
    #   = exp(2.24 · 0.25518291) = 1.77111574; P = 1 / (1 + 0.23235294 · 1.77111574) = 1 / 1.41152395 = 0.70845415
    # x = 0: 1 by the model.  T = recency (bought at the end): 1 / (1 + 0.79/3.4) = 0.81145585
    p = model.p_alive([2, 0, 2], [30, 0, 40], [40, 25, 40])
    assert p == pytest.approx([0.70845415, 1.0, 0.81145585], rel=1e-7)


def test_log_likelihood_by_hand():
    # Σ log L over (x, t_x, T) = (0, 0, 10), (2, 6, 10), with L from FHL 2005 eq. 6 written out term by term.
    r, alpha, a, b = 0.5, 3.0, 1.2, 2.5

    def log_beta(p, q):
        return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)

    def log_l(x, tx, T):
        common = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
        alive = math.exp(log_beta(a, b + x) - log_beta(a, b) - (r + x) * math.log(alpha + T))
        dead = math.exp(log_beta(a + 1, b + x - 1) - log_beta(a, b) - (r + x) * math.log(alpha + tx)) if x else 0.0
        return common + math.log(alive + dead)

    value, _ = bg_log_likelihood(np.log([r, alpha, a, b]), [0, 2], [0, 6], [10, 10])
    assert value == pytest.approx(log_l(0, 0, 10) + log_l(2, 6, 10), rel=1e-12)


def test_analytic_gradients_match_finite_differences():
    rng = np.random.default_rng(7)
    data = simulate_bg(np.round(rng.uniform(5, 60, 400)), **BG_TRUE, rng=rng)
    data["frequency"][:3] = [250, 400, 1]  # heavy buyers, and duplicate rows from the rounded T
    data["recency"][:3] = data["T"][:3]
    monetary = simulate_gg(data["frequency"], **GG_TRUE, rng=rng)
    for point in (np.log([0.3, 5.0, 0.9, 2.0]), np.log([2.0, 0.5, 3.0, 0.4])):
        _, grad = bg_log_likelihood(point, data["frequency"], data["recency"], data["T"])
        numeric = optimize.approx_fprime(
            point, lambda p: bg_log_likelihood(p, data["frequency"], data["recency"], data["T"])[0], 1e-7)
        assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-3)
    for point in (np.log([5.0, 3.0, 12.0]), np.log([0.8, 1.5, 40.0])):
        _, grad = gg_log_likelihood(point, data["frequency"], monetary)
        numeric = optimize.approx_fprime(point, lambda p: gg_log_likelihood(p, data["frequency"], monetary)[0], 1e-7)
        assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_weights_and_compression_give_the_fit_of_the_expanded_data():
    rng = np.random.default_rng(11)
    data = simulate_bg(np.round(rng.uniform(20, 80, 3000)), **BG_TRUE, rng=rng)
    data["recency"] = np.round(data["recency"])
    rows = np.column_stack([data["frequency"], data["recency"], data["T"]])
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    assert len(distinct) < len(rows) / 2  # the test data really have repeated rows
    expanded = BetaGeo().fit(*rows.T)
    weighted = BetaGeo().fit(*distinct.T, weights=counts)
    for name in BG_TRUE:
        assert weighted.params_[name] == pytest.approx(expanded.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_, rel=1e-10)


def test_log_likelihood_does_not_depend_on_the_time_unit():
    rng = np.random.default_rng(3)
    data = simulate_bg(rng.uniform(20, 80, 5000), **BG_TRUE, rng=rng)
    weeks = BetaGeo().fit(data["frequency"], data["recency"], data["T"])
    days = BetaGeo().fit(data["frequency"], data["recency"] * 7, data["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(7 * weeks.params_["alpha"], rel=1e-5)
    assert days.params_["r"] == pytest.approx(weeks.params_["r"], rel=1e-5)
    # densities of times in days are 1/7 of those in weeks, once per repeat purchase
    shift = data["frequency"].sum() * math.log(7)
    assert days.log_likelihood_ == pytest.approx(weeks.log_likelihood_ - shift, rel=1e-8)
    assert days.expected_purchases(70, 3, 210, 280) == pytest.approx(weeks.expected_purchases(10, 3, 30, 40), rel=1e-5)


def test_expected_purchases_limits():
    """Independent of the hypergeometric function: for small t, E[Y(t)] / t → P(alive) · (r+x)/(alpha+T) (the
    posterior mean rate of a customer alive at T); for t → ∞ with a > 1, E[Y(t)] → P(alive) · (a+b+x−1)/(a−1)
    (the posterior mean of the 1/p purchases before drop-out). Checked up to frequencies in the hundreds."""
    params = {"r": 0.8, "alpha": 6.0, "a": 2.5, "b": 3.0}
    model = fitted_bg(params)
    x = np.array([0, 1, 5, 300, 300, 800])
    tx = np.array([0, 10, 35, 99, 20, 400])
    T = np.array([40, 40, 40, 100, 100, 400])
    alive = model.p_alive(x, tx, T)
    assert np.all((alive > 0) & (alive <= 1)) and alive[4] < 1e-100 and alive[5] > 0.99
    rate = alive * (params["r"] + x) / (params["alpha"] + T)
    assert model.expected_purchases(1e-4, x, tx, T) / 1e-4 == pytest.approx(rate, rel=1e-3)
    ceiling = alive * (params["a"] + params["b"] + x - 1) / (params["a"] - 1)
    assert model.expected_purchases(1e9, x, tx, T) == pytest.approx(ceiling, rel=1e-3)
    growing = [model.expected_purchases(t, x, tx, T) for t in (1, 10, 100)]
    assert np.all(np.isfinite(growing)) and np.all(np.diff(growing, axis=0) > 0)


def test_expected_purchases_new_customer():
    model = fitted_bg(CDNOW)
    # E[X(t)] / t → r / alpha for small t; a new customer is a customer with x = 0 observed for no time
    assert model.expected_purchases_new(1e-4) / 1e-4 == pytest.approx(CDNOW["r"] / CDNOW["alpha"], rel=1e-3)
    assert model.expected_purchases_new(39) == pytest.approx(model.expected_purchases(39, 0, 0, 0)[0], rel=1e-12)
    values = model.expected_purchases_new([10, 39, 78])
    assert np.all(np.diff(values) > 0) and model.expected_purchases_new(0) == 0


def test_single_purchase_customers_and_T_equal_to_recency(simulated):
    x, tx, T = simulated["frequency"][:5000], simulated["recency"][:5000].copy(), simulated["T"][:5000]
    tx[x > 0] = T[x > 0]  # every repeat customer bought at the end of observation
    model = BetaGeo().fit(x, tx, T)
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())
    one_time = x == 0
    assert np.all(model.p_alive(x, tx, T)[one_time] == 1.0)
    later = model.expected_purchases(10, x, tx, T)
    assert np.all(np.isfinite(later)) and np.all(later > 0)
    # among one-time buyers, the longer they have been quiet the fewer purchases they are expected to make
    order = np.argsort(T[one_time])
    assert np.all(np.diff(later[one_time][order]) <= 1e-12)


def test_extreme_frequencies_fit_and_predict():
    rng = np.random.default_rng(5)
    data = simulate_bg(rng.uniform(200, 1000, 3000), **BG_TRUE, rng=rng)
    x = np.concatenate([data["frequency"], [300, 500, 900]])
    tx = np.concatenate([data["recency"], [990, 995, 1000]])
    T = np.concatenate([data["T"], [1000, 1000, 1000]])
    model = BetaGeo().fit(x, tx, T)
    assert all(np.isfinite(v) for v in model.params_.values())
    r, alpha = model.params_["r"], model.params_["alpha"]
    heavy = model.expected_purchases(10, [300, 500, 900], [990, 995, 1000], [1000] * 3)
    # almost surely alive, buying at about their posterior rate (r+x)/(alpha+T) per unit of time
    assert heavy == pytest.approx(10 * (r + np.array([300, 500, 900])) / (alpha + 1000), rel=0.05)
    gone = model.p_alive([900], [100], [1000])
    assert 0 <= gone[0] < 1e-10


def test_all_one_time_buyers_is_a_clear_error():
    with pytest.raises(ModelError, match="all 3 customers have frequency 0"):
        BetaGeo().fit([0, 0, 0], [0, 0, 0], [5, 10, 20])
    with pytest.raises(ValueError, match="repeat purchases"):
        GammaGamma().fit([0, 0], [0, 0])


@pytest.mark.parametrize("frequency, recency, T, message", [
    ([1, 2], [1], [3, 4], "same length"),
    ([1, np.nan], [1, 1], [3, 4], "NaN"),
    ([-1, 2], [1, 1], [3, 4], "whole number"),
    ([1.5, 2], [1, 1], [3, 4], "whole number"),
    ([1, 2], [5, 1], [3, 4], "must not exceed T"),
    ([0, 2], [1, 1], [3, 4], "0 where frequency is 0"),
    ([1, 2], [0, 0], [0, 4], "T must be > 0"),
])
def test_invalid_inputs_are_refused(frequency, recency, T, message):
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(frequency, recency, T)


def test_unfitted_models_and_bad_spend_are_refused():
    with pytest.raises(ValueError, match="not fitted"):
        BetaGeo().p_alive([1], [1], [2])
    with pytest.raises(ValueError, match="monetary must be > 0"):
        GammaGamma().fit([1, 2], [10, 0])
    with pytest.raises(ValueError, match="horizon"):
        fitted_bg(CDNOW).expected_purchases(-1, [1], [1], [2])


def test_gamma_gamma_spend_by_hand_and_correlation_warning():
    model = fitted_gg(GG_TRUE)
    # x = 2, m = 30: p (v + x m) / (p x + q − 1) = 6.25 · 75.4 / 15.2 = 31.003289;
    # x = 0: p v / (q − 1) = 96.25 / 2.7 = 35.648148
    assert model.conditional_expected_average_spend([2, 0], [30, 0]) == pytest.approx([31.003289, 35.648148])
    rng = np.random.default_rng(2)
    x = rng.integers(1, 20, 2000).astype(float)
    with pytest.warns(CorrelationWarning, match="correlated"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # spend is nearly a function of x: q, v run off
        fitted = GammaGamma().fit(x, 10 * x + rng.uniform(1, 5, 2000))
    assert fitted.correlation_ > 0.9


def test_convergence_problems_are_reported():
    # nobody ever drops out: b runs off to infinity
    x = np.array([5, 6, 7, 8] * 50, dtype=float)
    with pytest.warns(ConvergenceWarning):
        BetaGeo().fit(x, np.full(x.size, 50.0), np.full(x.size, 50.0))


@pytest.fixture(scope="module")
def clv_inputs(simulated):
    rows = slice(0, 2000)
    return {k: simulated[k][rows] for k in ("frequency", "recency", "T", "monetary")}


def clv(inputs, **kwargs):
    return customer_lifetime_value(fitted_bg(BG_TRUE), fitted_gg(GG_TRUE), inputs["frequency"], inputs["recency"],
                                   inputs["T"], inputs["monetary"], days_per_unit=7, **kwargs)


def test_clv_is_the_discounted_sum_of_monthly_purchases(clv_inputs):
    bg, gg = fitted_bg(BG_TRUE), fitted_gg(GG_TRUE)
    x, tx, T, m = (clv_inputs[k] for k in ("frequency", "recency", "T", "monetary"))
    spend = gg.conditional_expected_average_spend(x, m)
    month = 365.25 / 12 / 7  # weeks
    # no discount: spend × expected purchases over the whole horizon
    assert clv(clv_inputs, annual_discount=0.0) == pytest.approx(spend * bg.expected_purchases(12 * month, x, tx, T))
    # one month at 10 % a year: discounted by 1.1^(1/12); margin multiplies
    expected = 0.4 * spend * bg.expected_purchases(month, x, tx, T) / 1.1 ** (1 / 12)
    assert clv(clv_inputs, horizon_months=1, margin=0.4) == pytest.approx(expected)


def test_clv_properties(clv_inputs):
    assert np.all(clv(clv_inputs, margin=0.0) == 0)
    base = clv(clv_inputs)
    assert np.all(base > 0)
    assert np.all(clv(clv_inputs, annual_discount=0.0) > base)
    assert np.all(clv(clv_inputs, annual_discount=0.3) < base)
    horizons = np.array([clv(clv_inputs, horizon_months=h) for h in (0, 1, 6, 12, 24)])
    assert np.all(horizons[0] == 0) and np.all(np.diff(horizons, axis=0) > 0)
    with pytest.raises(ValueError, match="horizon_months"):
        clv(clv_inputs, horizon_months=1.5)
