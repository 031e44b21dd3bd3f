"""Predictive CLV over a Dataset (clm_core.models.predictive): plumbing on a tiny hand-made dataset (units,
segments, the hold-out counts by hand, the P(alive) matrix, too few repeat customers) and a run on the demo."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from clm_core import demo, ingest, store
from clm_core.filters import SegmentFilter
from clm_core.metrics.clv import rfm_summary
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.stages import customer_stages
from clm_core.models.btyd import ConvergenceWarning, CorrelationWarning
from clm_core.models.predictive import (
    PREDICTIVE_COLUMNS, ModelError, fitted_models, holdout_comparison, p_alive_matrix, predictive_clv,
)

AS_OF = "2024-12-31"
CALIBRATION_END, HOLDOUT_END = "2024-09-30", "2024-12-31"
COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary", "historic_value", *PREDICTIVE_COLUMNS]

#: purchase days in 2024 (MM-DD); a "-" prefix marks a return (not a purchase).
#: Calibration (≤ 09-30) frequency and hold-out purchase days (10-01 … 12-31) noted per customer.
PURCHASES = {
    "r01": ["01-10", "03-01", "06-15", "10-20", "11-30"],  # cal 2, hold-out 2
    "r02": ["01-15", "02-15", "-11-01"],  # cal 1, hold-out 0 (a return is no purchase)
    "r03": ["02-01", "04-01", "05-01", "07-01", "08-01", "09-01", "09-20", "10-05"],  # cal 6, hold-out 1
    "r04": ["02-10", "09-29"],  # cal 1, hold-out 0
    "r05": ["03-01", "03-20", "12-01"],  # cal 1, hold-out 1
    "r06": ["03-05", "05-05", "07-05", "09-05"],  # cal 3, hold-out 0
    "r07": ["01-02"] + [f"{m:02d}-20" for m in range(1, 13)],  # cal 9 (10 days to 09-20), hold-out 3
    "r08": ["04-01", "06-01"],  # cal 1, hold-out 0
    "r09": ["05-01", "05-15", "06-01"],  # cal 2, hold-out 0
    "r10": ["06-01", "08-01", "12-31"],  # cal 1, hold-out 1 (the hold-out's last day counts)
    "r11": ["07-01", "07-15", "08-01", "08-15"],  # cal 3, hold-out 0
    "r12": ["01-05", "12-15"],  # cal 0, hold-out 1
    "r13": ["08-01", "09-01"],  # cal 1, hold-out 0
    "o01": ["04-04"],  # cal 0, hold-out 0
    "o02": ["09-30"],  # cal 0 with T = 0 at the calibration end, hold-out 0
    "n01": ["10-10", "11-11"],  # first purchase in the hold-out: not in the comparison
}
NORTH = {"r01", "r02", "r03", "r04", "r05", "r06", "r07"}


def transactions_csv(purchases: dict[str, list[str]]) -> str:
    lines = ["customer_id,ordered_at,amount"]
    for i, (customer, days) in enumerate(purchases.items()):
        for j, day in enumerate(days):
            amount = -10.0 if day.startswith("-") else 20.0 + (7 * i + 13 * j) % 60
            lines.append(f"{customer},2024-{day.lstrip('-')},{amount}")
    return "\n".join(lines) + "\n"


def customers_csv(purchases) -> str:
    return "customer_id,region\n" + "".join(f"{c},{'N' if c in NORTH else 'S'}\n" for c in purchases)


@pytest.fixture(scope="module")
def tiny(load):
    return load(customers=customers_csv(PURCHASES), transactions=transactions_csv(PURCHASES))


@pytest.fixture(scope="module")
def predicted(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 13 repeat customers: a rough but valid fit
        return predictive_clv(tiny, AS_OF)


def test_predictive_clv_frame(tiny, predicted):
    assert list(predicted.columns) == COLUMNS
    assert predicted.attrs["model_error"] is None
    summary = rfm_summary(tiny, AS_OF).set_index("customer_id")
    frame = predicted.set_index("customer_id")
    assert list(frame.index) == list(summary.index) == sorted(PURCHASES)
    # recency and T in weeks (the default), the rest as in the RFM summary
    assert frame["T"].to_numpy() == pytest.approx(summary["T"].to_numpy() / 7)
    assert frame["recency"].to_numpy() == pytest.approx(summary["recency"].to_numpy() / 7)
    assert (frame["historic_value"] == summary["historic_value"]).all()
    assert frame.loc["r07", ["frequency", "T"]].tolist() == pytest.approx([12, (366 - 2) / 7])
    values = frame[list(PREDICTIVE_COLUMNS)].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    one_time = frame["frequency"] == 0
    assert (frame.loc[one_time, "p_alive"] == 1).all() and (frame.loc[~one_time, "p_alive"] < 1).all()


def test_predictions_do_not_depend_on_the_time_unit(tiny, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_days = predictive_clv(tiny, AS_OF, time_unit="days")
    for column in PREDICTIVE_COLUMNS:
        assert in_days[column].to_numpy() == pytest.approx(predicted[column].to_numpy(), rel=1e-4), column


def test_a_segment_is_predicted_with_the_model_of_all_purchasers(tiny, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        north = predictive_clv(tiny, AS_OF, segment=SegmentFilter(attributes={"region": ["N"]}))
    assert set(north["customer_id"]) == NORTH
    everyone = predicted.set_index("customer_id").loc[north["customer_id"]]
    for column in PREDICTIVE_COLUMNS:
        assert north[column].to_numpy() == pytest.approx(everyone[column].to_numpy(), rel=1e-9)


def test_horizon_discount_and_margin_reach_the_prediction(tiny, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = fitted_models(tiny, AS_OF)

    def run(**kwargs):
        return predictive_clv(tiny, AS_OF, models=models, **kwargs)

    same = run()
    assert same["predicted_clv"].to_numpy() == pytest.approx(predicted["predicted_clv"].to_numpy(), rel=1e-9)
    assert (run(horizon_months=24)["expected_purchases"] > same["expected_purchases"]).all()
    assert run(margin=0.5)["predicted_clv"].to_numpy() == pytest.approx(0.5 * same["predicted_clv"].to_numpy())
    assert (run(annual_discount=0.0)["predicted_clv"] > same["predicted_clv"]).all()


def test_holdout_comparison_by_hand(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = holdout_comparison(tiny, CALIBRATION_END, HOLDOUT_END)
    # buckets from the comments of PURCHASES (n01 started in the hold-out; no customer had 4 or 5)
    assert table["frequency"].tolist() == ["0", "1", "2", "3", "6", "7+"]
    assert table["customers"].tolist() == [3, 6, 2, 2, 1, 1]
    # 0: r12 1, o01 0, o02 0; 1: r05 1, r10 1 of 6; 2: r01 2, r09 0; 3: 0; 6: r03 1; 7+: r07 3
    assert table["actual_purchases"].tolist() == pytest.approx([1 / 3, 2 / 6, 1.0, 0.0, 1.0, 3.0])
    assert np.isfinite(table["predicted_purchases"]).all() and (table["predicted_purchases"] > 0).all()
    with pytest.raises(ValueError, match="after the calibration"):
        holdout_comparison(tiny, HOLDOUT_END, CALIBRATION_END)


def test_p_alive_matrix(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bg, _ = fitted_models(tiny, AS_OF)
    matrix = p_alive_matrix(bg, max_frequency=6, T=40, points=5)
    assert matrix.shape == (7, 5) and matrix.index.name == "frequency" and matrix.columns.name == "recency"
    assert list(matrix.columns) == [0, 10, 20, 30, 40]
    assert matrix.loc[0, 0] == 1 and matrix.loc[0].iloc[1:].isna().all()  # no repeat purchase, yet a recency
    assert matrix.loc[3, 20] == pytest.approx(bg.p_alive([3], [20], [40])[0])
    assert (np.diff(matrix.loc[1:].to_numpy(), axis=1) > 0).all()  # a later last purchase: more likely alive
    assert matrix.loc[6, 40] == pytest.approx(bg.p_alive([6], [40], [40])[0])
    with pytest.raises(ValueError, match="max_recency"):
        p_alive_matrix(bg, 3, T=10, max_recency=11)


def test_too_few_repeat_customers(make_dataset):
    few = {c: PURCHASES[c] for c in ("r01", "r02", "r03", "o01", "o02")}
    dataset = make_dataset(customers=customers_csv(few), transactions=transactions_csv(few))
    frame = predictive_clv(dataset, AS_OF)
    assert frame["customer_id"].tolist() == sorted(few)
    assert frame[list(PREDICTIVE_COLUMNS)].isna().all().all()
    assert frame["frequency"].tolist() == [0, 0, 4, 1, 7]  # the summary is still there (o01, o02, r01, r02, r03)
    assert "at least 10 customers with repeat purchases" in frame.attrs["model_error"]
    assert "the data have 3" in frame.attrs["model_error"]
    with pytest.raises(ModelError):
        fitted_models(dataset, AS_OF)
    with pytest.raises(ModelError):
        holdout_comparison(dataset, CALIBRATION_END, HOLDOUT_END)


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    paths = demo.write_demo(folder / "csv", n_customers=1000, seed=11)
    con = store.connect(folder / "demo.duckdb")
    dataset = store.create_dataset(con, "demo")
    ingest.load(dataset, {t: paths[t] for t in ("customers", "transactions")})
    yield dataset
    con.disconnect()


def test_demo_predictions(demo_dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # ~900 purchasers: the fit must converge cleanly
        warnings.simplefilter("ignore", CorrelationWarning)
        frame = predictive_clv(demo_dataset)
        bg, gg = fitted_models(demo_dataset)
    assert frame.attrs["model_error"] is None and len(frame) > 800
    assert np.isfinite(frame[list(PREDICTIVE_COLUMNS)].to_numpy()).all()
    assert ((frame["p_alive"] > 0) & (frame["p_alive"] <= 1)).all()
    assert all(0 < v < 1e4 for v in bg.params_.values()) and gg.params_["q"] > 1
    # the models agree with the lifecycle stages of DESIGN §3.1: loyal customers are worth most, churned least
    stages = customer_stages(demo_dataset, resolve_as_of(demo_dataset)).select("customer_id", "stage").execute()
    by_stage = frame.merge(stages, on="customer_id").groupby("stage")[["predicted_clv", "p_alive"]].mean()
    clv = by_stage["predicted_clv"]
    assert clv["loyal"] > clv["active"] > clv["at_risk"] > clv["churned"]
    assert by_stage["p_alive"]["churned"] < 0.6 < by_stage["p_alive"]["loyal"]
    # among customers with the same frequency, a longer silence means a lower P(alive)
    buyers = frame[frame["frequency"] == 3]
    quiet = buyers["T"] - buyers["recency"]
    assert buyers["p_alive"].corr(quiet, method="spearman") < -0.5


def test_demo_holdout(demo_dataset):
    end = resolve_as_of(demo_dataset)
    table = holdout_comparison(demo_dataset, end - dt.timedelta(days=183), end)
    assert table["frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    total = (table["customers"] * table[["predicted_purchases", "actual_purchases"]].T).T.sum()
    # the demo is not generated by the BG/NBD process: the aggregate is still within 25 %
    assert total["predicted_purchases"] == pytest.approx(total["actual_purchases"], rel=0.25)
    # more calibration purchases, more hold-out purchases (predicted and actual) from bucket 0 to 7+
    assert table["predicted_purchases"].iloc[-1] > 2 * table["predicted_purchases"].iloc[0]
    assert table["actual_purchases"].iloc[-1] > 2 * table["actual_purchases"].iloc[0]
