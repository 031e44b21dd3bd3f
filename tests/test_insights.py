"""clm_core.models.insights: the models over a dataset for the Customer value page — problems instead of
exceptions, the chosen cutoffs, and the small frame helpers computed by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.models import insights
from clm_core.models.churn import ChurnEvaluation
from clm_core.models.cross_sell import category_lift, next_best_category
from clm_core.models.predictive import fitted_models, holdout_comparison, predictive_clv

AS_OF = dt.date(2024, 12, 31)

#: 14 customers with purchase days in 2024 (MM-DD) — 12 of them repeat customers — and one who only returns.
PURCHASES = {
    "c01": ["01-10", "03-01", "06-15", "10-20", "11-30"],
    "c02": ["01-15", "02-15"],
    "c03": ["02-01", "04-01", "05-01", "07-01", "08-01", "09-01", "09-20", "10-05"],
    "c04": ["02-10", "09-29"],
    "c05": ["03-01", "03-20", "12-01"],
    "c06": ["03-05", "05-05", "07-05", "09-05"],
    "c07": ["01-20", "02-20", "03-20", "04-20", "05-20", "06-20", "07-20", "08-20", "12-20"],
    "c08": ["04-01", "06-01"],
    "c09": ["05-01", "05-15", "06-01"],
    "c10": ["06-01", "08-01", "12-31"],
    "c11": ["07-01", "07-15", "08-01", "08-15"],
    "c12": ["01-05", "12-15"],
    "c13": ["04-04"],
    "c14": ["09-30"],
}
CATEGORIES = ["Books", "Garden", "Toys"]


def transactions_csv(with_category: bool, with_margin: bool = False) -> str:
    header = "customer_id,ordered_at,amount" + (",category" if with_category else "") + (",margin" if with_margin else "")
    lines = [header]
    for i, (customer, days) in enumerate(PURCHASES.items()):
        for j, day in enumerate(days):
            row = f"{customer},2024-{day},{20 + (7 * i + 13 * j) % 60}"
            row += f",{CATEGORIES[(i + j) % 3]}" if with_category else ""
            row += ",0.5" if with_margin else ""
            lines.append(row)
    return "\n".join(lines) + "\n"


NORTH = {"c01", "c02", "c03", "c04", "c05", "c06", "c07"}


@pytest.fixture(scope="module")
def ds(load):
    customers = "customer_id,region\n" + "".join(f"{c},{'N' if c in NORTH else 'S'}\n" for c in PURCHASES)
    return load(customers=customers, transactions=transactions_csv(with_category=True))


@pytest.fixture(scope="module")
def single_purchases(load):
    """Every customer buys once, in December 2024, without categories."""
    rows = "".join(f"s{i:02d},2024-12-{i + 1:02d},{10 + i}\n" for i in range(20))
    return load(transactions="customer_id,ordered_at,amount\n" + rows)


# --------------------------------------------------------------------------- BG/NBD and Gamma-Gamma

@pytest.mark.filterwarnings("ignore::clm_core.models.btyd.ConvergenceWarning")
def test_value_models_are_the_fitted_models_and_predict_without_refit(ds):
    models = insights.value_models(ds, AS_OF, time_unit="days")
    assert models.problem is None
    assert (models.purchasers, models.repeat_customers) == (14, 12)
    # 12 repeat customers hardly identify Gamma-Gamma: the optimiser's warning is kept for the page
    assert any("Gamma-Gamma" in note for note in models.notes)
    bg, gg = fitted_models(ds, AS_OF, "days")
    assert dict(models.bg_params) == pytest.approx(bg.params_)
    assert dict(models.gg_params) == pytest.approx(gg.params_)
    assert models.correlation == pytest.approx(gg.correlation_)
    # predictions for a segment with the stored parameters equal predictive_clv's own fit on all purchasers
    north = SegmentFilter({"region": ("N",)})
    got = insights.predicted_value(ds, models, AS_OF, north, None, horizon_months=6, annual_discount=0.05, margin=0.4)
    want = predictive_clv(ds, AS_OF, north, horizon_months=6, annual_discount=0.05, margin=0.4, time_unit="days")
    assert sorted(got["customer_id"]) == sorted(NORTH)
    pd.testing.assert_frame_equal(got, want)
    # a longer horizon is worth more
    longer = insights.predicted_value(ds, models, AS_OF, north, horizon_months=12, annual_discount=0.05, margin=0.4)
    assert longer["predicted_clv"].sum() > got["predicted_clv"].sum()
    with pytest.raises(ValueError, match="fitted at 2024-12-31"):
        insights.predicted_value(ds, models, "2024-11-30")


def test_value_models_without_repeat_customers_explain_why(single_purchases):
    models = insights.value_models(single_purchases, AS_OF)
    assert models.problem == insights.Problem("no_repeat", "0 customers with repeat purchases, at least 10 needed")
    assert (models.purchasers, models.repeat_customers) == (20, 0)
    with pytest.raises(ValueError, match="could not be fitted"):
        models.models()


def test_purchase_margin(make_dataset):
    # purchases 100 at 50 % and 50 without a margin (counts as 100 %); the return is no purchase
    with_margin = make_dataset(transactions="""
        customer_id,ordered_at,amount,margin
        a,2024-01-01,100,0.5
        a,2024-01-02,-20,0.5
        b,2024-01-03,50,
        b,2025-01-03,70,0.1
        """)
    assert insights.purchase_margin(with_margin, "2024-12-31") == pytest.approx((50 + 50) / 150)
    assert insights.purchase_margin(with_margin) == pytest.approx((50 + 50 + 7) / 220)
    without = make_dataset(transactions="customer_id,ordered_at,amount\na,2024-01-01,100\n")
    assert insights.purchase_margin(without) is None


def test_p_alive_grid_covers_the_longest_observed_customer(ds):
    models = insights.value_models(ds, AS_OF, time_unit="days")
    predictions = insights.predicted_value(ds, models, AS_OF)
    grid = insights.p_alive_grid(models, predictions, points=5)
    # the 99th percentile of the frequencies (0 … 8) is 7.87, rounded up to 8; the longest T is c12's (from 01-05)
    assert grid.index.tolist() == list(range(9))
    assert grid.columns.max() == predictions["T"].max() == (AS_OF - dt.date(2024, 1, 5)).days
    assert np.isnan(grid.iloc[0, 1:]).all() and grid.iloc[0, 0] == 1.0
    assert insights.p_alive_grid(models, predictions.iloc[:0]) is None


def test_value_bins_fold_the_top_into_the_last_bin():
    values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 100]
    bins = insights.value_bins(values, bins=4, quantile=0.9)
    # 90th percentile of the values = 8 + 0.1 · (100 − 8) = 17.2: edges 0, 4.3, 8.6, 12.9, 17.2; 100 → last bin
    assert bins["lower"].tolist() == pytest.approx([0, 4.3, 8.6, 12.9])
    assert bins["upper"].tolist() == pytest.approx([4.3, 8.6, 12.9, 100])
    assert bins["customers"].tolist() == [5, 4, 0, 1]
    assert insights.value_bins([]).empty


# --------------------------------------------------------------------------- hold-out

def test_holdout_check_uses_the_horizon_capped_at_half_the_history(ds):
    # 3 months: calibration up to 2024-09-30
    frame = insights.holdout_check(ds, AS_OF, months=3, time_unit="days")
    assert frame.attrs["calibration_end"] == dt.date(2024, 9, 30) and frame.attrs["holdout_end"] == AS_OF
    want = holdout_comparison(ds, "2024-09-30", AS_OF, "days")
    pd.testing.assert_frame_equal(frame, want)
    assert frame.attrs["actual_total"] == pytest.approx((want["customers"] * want["actual_purchases"]).sum())
    assert frame.attrs["predicted_total"] == pytest.approx((want["customers"] * want["predicted_purchases"]).sum())
    # 12 months reach before the first purchase (01-05): half of the 361 days of history, to 2024-07-03
    # (where only 8 customers have repeat purchases: too few to fit, said with the cutoff)
    frame = insights.holdout_check(ds, AS_OF, months=12, time_unit="days")
    assert frame.attrs["calibration_end"] == dt.date(2024, 1, 5) + dt.timedelta(days=180)
    assert frame.empty and frame.attrs["problem"].code == "no_repeat"


def test_holdout_check_problems(single_purchases, make_dataset):
    frame = insights.holdout_check(single_purchases, AS_OF, months=1)
    assert frame.empty and frame.attrs["problem"].code == "no_repeat"
    one_day = make_dataset(transactions="customer_id,ordered_at,amount\na,2024-01-01,10\nb,2024-01-01,5\n")
    assert insights.holdout_check(one_day, "2024-01-01").attrs["problem"] == insights.Problem(
        "short_history", since=dt.date(2024, 1, 1))


# --------------------------------------------------------------------------- churn

def test_churn_needs_history_before_its_cutoffs(ds):
    config = LifecycleConfig(churn_days=300)
    # ranking: trained at 12-31 − 300 days = 2024-03-06, after the first purchase (01-05); of the 8 purchasers
    # then, only c02 buys nothing in the 300 days after: the classifier's own reason, not an exception
    ranking = insights.churn_ranking(ds, AS_OF, config=config)
    assert ranking.empty and ranking.attrs["problem"] == insights.Problem(
        "model", "training at 2024-03-06 needs at least 3 churned and 3 retained customers, found 1 churned and "
                 "7 retained")
    # check: trained at 12-31 − 600 days, before any purchase
    check = insights.churn_evaluation(ds, AS_OF, config=config)
    assert check.evaluation is None
    assert check.problem.code == "short_history" and check.problem.since == AS_OF - dt.timedelta(days=600)
    longer = insights.churn_ranking(ds, AS_OF, config=LifecycleConfig(churn_days=400))
    assert longer.attrs["problem"].code == "short_history"
    assert longer.attrs["problem"].since == AS_OF - dt.timedelta(days=400)
    assert longer.columns.tolist() == ["customer_id", "churn_risk", "stage", "recency", "frequency", "historic_value"]


def test_risk_ranking_restricts_to_the_customers_and_sorts():
    ranking = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "churn_risk": [0.2, 0.9, 0.5, 0.9],
                            "stage": ["active"] * 4, "recency": [10, 100, 50, 120], "frequency": [3, 0, 1, 2],
                            "historic_value": [50.0, 10.0, 30.0, 80.0]})
    customers = pd.DataFrame({"customer_id": ["d", "b", "a"], "predicted_clv": [5.0, 1.0, 20.0],
                              "p_alive": [0.1, 1.0, 0.9], "monetary": [1.0, 2.0, 3.0]})
    ranked = insights.risk_ranking(ranking, customers)
    assert ranked["customer_id"].tolist() == ["b", "d", "a"]  # c is not among the customers; ties by id
    assert ranked.columns.tolist() == ["customer_id", "churn_risk", "stage", "days_since_last", "frequency",
                                       "historic_value", "predicted_clv", "p_alive"]
    assert ranked["predicted_clv"].tolist() == [1.0, 5.0, 20.0]


def test_value_at_risk_by_hand():
    customers = pd.DataFrame({
        "customer_id": list("abcdefghij"),
        "historic_value": [100.0, 90, 80, 70, 60, 50, 40, 30, 20, 10],
        "predicted_clv": [1.0, 1, 1, 1, 1, 1, 1, 1, 50, 40],
        "p_alive": [0.2, 0.9, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4, 0.8],
    })
    # top 20 %: historic value ≥ the 80th percentile 82 (a, b) or predicted CLV ≥ 41.8 (i)
    by_p_alive = insights.value_at_risk(customers, None, min_risk=0.5)
    assert by_p_alive["customer_id"].tolist() == ["a", "i"]  # b: risk 0.1
    assert by_p_alive["risk"].tolist() == pytest.approx([0.8, 0.6])
    ranking = pd.DataFrame({"customer_id": ["b", "i", "a"], "churn_risk": [0.7, 0.5, 0.3],
                            "historic_value": [90.0, 20.0, 100.0]})
    by_model = insights.value_at_risk(customers, ranking, min_risk=0.5)
    assert by_model["customer_id"].tolist() == ["b", "i"]
    assert by_model["risk"].tolist() == [0.7, 0.5]
    # without predicted CLV only the historic value counts
    assert insights.value_at_risk(customers.drop(columns="predicted_clv"), ranking, 0.5)["customer_id"].tolist() == ["b"]


# --------------------------------------------------------------------------- cross-sell

def test_category_suggestions(ds):
    north = SegmentFilter({"region": ("N",)})
    suggestions = insights.category_suggestions(ds, AS_OF, north)
    assert suggestions.attrs["problem"] is None
    pd.testing.assert_frame_equal(suggestions, next_best_category(ds, AS_OF, north))
    pairs = insights.category_pairs(ds, AS_OF)
    assert pairs.attrs["problem"] is None
    pd.testing.assert_frame_equal(pairs, category_lift(ds, AS_OF))


def test_category_problems(single_purchases, make_dataset):
    for frame in (insights.category_suggestions(single_purchases, AS_OF), insights.category_pairs(single_purchases)):
        assert frame.empty and frame.attrs["problem"] == insights.Problem("no_category")
    thin = make_dataset(transactions="customer_id,ordered_at,amount,category\na,2024-01-01,10,X\na,2024-01-02,5,Y\n")
    assert insights.category_pairs(thin).attrs["problem"].code == "no_rules"
    suggestions = insights.category_suggestions(thin)
    assert suggestions.empty and suggestions.attrs["problem"] is None


def test_suggestion_summary():
    suggestions = pd.DataFrame({"customer_id": list("abcd"), "category": ["Y", "X", "Y", "Z"],
                                "because_of": ["X"] * 4, "lift": [1.5, 1.2, 2.5, 1.1]})
    summary = insights.suggestion_summary(suggestions)
    assert summary.to_dict("list") == {"category": ["Y", "X", "Z"], "customers": [2, 1, 1],
                                       "mean_lift": [2.0, 1.2, 1.1]}


def test_months_before_is_calendar_months():
    assert insights.months_before(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    assert insights.months_before(dt.date(2024, 12, 31), 12) == dt.date(2023, 12, 31)


def test_churn_check_verdict():
    def check(auc, baseline):
        evaluation = ChurnEvaluation(trained_at=AS_OF, cutoff=AS_OF, churn_days=1, n=10, base_rate=0.5,
                                     mean_predicted=0.5, roc_auc=auc, baseline_roc_auc=baseline,
                                     calibration=pd.DataFrame())
        return insights.ChurnCheck(evaluation).verdict()

    assert (check(0.75, 0.6), check(0.605, 0.6), check(0.595, 0.6), check(0.5, 0.6)) == (
        "better", "similar", "similar", "worse")
    assert check(0.7, None) is None and insights.ChurnCheck(problem=insights.Problem("model")).verdict() is None


# --------------------------------------------------------------------------- stored results

@pytest.mark.filterwarnings("ignore::clm_core.models.btyd.ConvergenceWarning")
def test_stored_results_read_back_equal(ds, single_purchases):
    def results():
        return {
            "models": insights.value_models(ds, AS_OF, time_unit="days"),
            "no_models": insights.value_models(single_purchases, AS_OF),
            "holdout": insights.holdout_check(ds, AS_OF, months=3, time_unit="days"),
            "holdout_problem": insights.holdout_check(ds, AS_OF, months=12, time_unit="days"),
            "check": insights.churn_evaluation(ds, AS_OF, config=LifecycleConfig(churn_days=300)),
            "pairs": insights.category_pairs(ds, AS_OF),
            "no_pairs": insights.category_pairs(single_purchases, AS_OF),
        }

    fresh = results()
    insights._DOCUMENTS.clear()  # a new server process: read from the database
    stored = results()
    for name, value in fresh.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(stored[name], value)
            assert stored[name].attrs == value.attrs
        else:
            assert stored[name] == value
    assert fresh["holdout"] is not insights.holdout_check(ds, AS_OF, months=3, time_unit="days")  # copies


def test_background_preparation_computes_what_the_page_asks_for(ds, monkeypatch):
    from clm_core.models import prepare
    from clm_core.models.churn import ChurnModel

    config = LifecycleConfig(churn_days=120)
    with pytest.raises(ValueError, match="unknown task"):
        prepare.start(ds, AS_OF, config, tasks=("everything",))
    prepare.start(ds, AS_OF, config, tasks=("churn_check", "churn_ranking", "suggestions"))
    assert prepare.wait(300)

    def refit(*args, **kwargs):
        raise AssertionError("the churn model was fitted again")

    monkeypatch.setattr(ChurnModel, "fit", refit)
    check = insights.churn_evaluation(ds, AS_OF, config=config)
    ranking = insights.churn_ranking(ds, AS_OF, config=config)
    assert check.evaluation is not None or check.problem is not None
    assert ranking.attrs["problem"] is not None or len(ranking)
    prepare.start(ds, AS_OF, config, tasks=("churn_check",))  # done already: nothing runs again
    assert prepare.wait(30)
