"""The Customer value page (AppTest) on the demo data and on an empty database.

The demo database is loaded once per module, so the models are fitted once (results are cached per dataset
version); 600 demo customers are the fewest on which the churn model has enough history and customers to learn.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from clm_core import demo, ingest, store
from clm_core.config import LifecycleConfig
from clm_core.metrics import clv
from clm_core.metrics.common import resolve_as_of
from clm_core.models import insights, rfm
from clm_core.models.rfm import rfm_scores

from apptest import page_opener


@pytest.fixture
def database(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CLM_DATABASE", str(path))
    return path


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    """The demo on one database file for the whole module, and clm_core's results on it (computed before the
    app opens the file)."""
    path = tmp_path_factory.mktemp("app") / "app.duckdb"
    con = store.connect(path)
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo.write_demo(tmp_path_factory.mktemp("demo"), n_customers=600, seed=3))
    scores = rfm_scores(dataset)
    as_of = resolve_as_of(dataset)
    models = insights.value_models(dataset, as_of)  # the page's defaults: weeks, margin of the data, 10 % a year
    margin = round(100 * insights.purchase_margin(dataset), 1) / 100

    def predicted(horizon=12, discount=0.10, margin=margin):
        return insights.predicted_value(dataset, models, as_of, horizon_months=horizon, annual_discount=discount,
                                        margin=margin)

    ranking = insights.churn_ranking(dataset, as_of, config=LifecycleConfig())
    ranked = insights.risk_ranking(ranking, predicted())
    expected = {
        "scores": scores,
        "log": clv.value_histogram(dataset, bins=30, log=True),
        "linear": clv.value_histogram(dataset, bins=30, log=False),
        "segments": rfm.segment_summary(scores),
        "clv_12": predicted()["predicted_clv"].sum(),
        "clv_24": predicted(24)["predicted_clv"].sum(),
        "clv_undiscounted_revenue": predicted(12, 0.0, 1.0)["predicted_clv"].sum(),
        "holdout": insights.holdout_check(dataset, as_of, months=12),
        "churn_check": insights.churn_evaluation(dataset, as_of, config=LifecycleConfig()),
        "ranked": ranked,
        "at_risk": insights.value_at_risk(predicted(), ranked, 0.5),
        "suggestions": insights.category_suggestions(dataset, as_of),
    }
    con.disconnect()
    return path, expected


@pytest.fixture(scope="module")
def expected(demo_database):
    return demo_database[1]


@pytest.fixture(scope="module")
def demo_db(demo_database):
    """CLM_DATABASE points at the demo database while the module's tests that use it run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(demo_database[0]))
        yield


open_page = page_opener("value")


def histogram(at: AppTest) -> dict:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c for c in charts if c["data"][0]["type"] == "bar")["data"][0]


def charts_by_title(at: AppTest) -> dict[str, dict]:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {c["layout"].get("title", {}).get("text", ""): c for c in charts}


def chart_titled(at: AppTest, start: str) -> dict:
    return next(c for title, c in charts_by_title(at).items() if title.startswith(start))


def frame_with(at: AppTest, column: str):
    """The (first) table with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def test_empty_database(database):
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_a_degenerate_fit_is_one_line_not_an_error(database, tmp_path):
    """30 customers each buying every 90 days like clockwork: BG/NBD and Gamma-Gamma fit, but predict no
    finite value for anybody; the page says so instead of failing on an empty histogram."""
    customers = ["customer_id,created_at"] + [f"K{i:03d},2024-01-{1 + i % 28:02d}" for i in range(40)]
    orders = ["transaction_id,customer_id,ordered_at,amount"] + [
        f"B{i:04d},K{i % 30:03d},{dt.date(2024, 2, 1) + dt.timedelta(days=3 * i)},{10.5 + i}" for i in range(90)]
    (tmp_path / "c.csv").write_text("\n".join(customers) + "\n")
    (tmp_path / "t.csv").write_text("\n".join(orders) + "\n")
    con = store.connect(database)
    dataset = store.create_dataset(con, "Clockwork")
    ingest.load(dataset, {"customers": tmp_path / "c.csv", "transactions": tmp_path / "t.csv"})
    models = insights.value_models(dataset)
    assert models.problem is None and insights.prediction_overview(dataset, models).bins.empty
    con.disconnect()
    at = open_page()
    assert not at.exception
    assert any("no finite value for any customer" in i.value for i in at.info)


def test_value_page_matches_clm_core(demo_db, expected):
    at = open_page()
    assert not at.exception
    scores = expected["scores"]
    assert at.metric[0].label == "Purchasers" and at.metric[0].value == f"{len(scores):,}"
    assert at.metric[1].value == f"€{scores['historic_value'].sum():,.0f}"
    # the histogram (log axis by default) shows clm_core's bins: counts, and x at the log10 bin centres
    bars = histogram(at)
    log = expected["log"]
    assert bars["y"] == log["customers"].tolist()
    assert sum(bars["y"]) + int((scores["historic_value"] <= 0).sum()) == len(scores)
    centres = [(math.log10(a) + math.log10(b)) / 2 for a, b in zip(log["lower"], log["upper"])]
    assert bars["x"] == pytest.approx(centres)
    # the segment table: the non-empty segments with clm_core's counts, shares and mean values
    segments = at.dataframe[0].value
    want = expected["segments"][expected["segments"]["customers"] > 0]
    assert segments["rfm_segment"].tolist() == want["rfm_segment"].tolist()
    assert segments["customers"].tolist() == want["customers"].tolist()
    assert segments["share"].tolist() == pytest.approx(want["share"].tolist())
    assert segments["mean_value"].tolist() == pytest.approx(want["mean_value"].tolist(), abs=0.005)
    assert segments["customers"].sum() == len(scores)
    # top customers: 20 by default, in clm_core's order of historic value
    top = frame_with(at, "rank")
    assert len(top) == 20
    assert top["customer_id"].tolist() == rfm.top_customers(scores, 20)["customer_id"].tolist()
    assert top["historic_value"].is_monotonic_decreasing


def test_linear_axis_and_top_n(demo_db, expected):
    at = open_page(**{"p.value_log": "0", "p.value_top": "5"})
    assert not at.exception
    assert histogram(at)["y"] == expected["linear"]["customers"].tolist()
    assert sum(histogram(at)["y"]) == len(expected["scores"])
    assert len(frame_with(at, "rank")) == 5
    # the widget changes the number of rows and lands in the URL
    at.number_input(key="w.value.value_top").set_value(7).run()
    assert not at.exception
    assert len(frame_with(at, "rank")) == 7
    assert at.session_state["clm_view"].param("value_top") == "7"
    # switching the log axis on again changes the bins
    at.toggle(key="w.value.value_log").set_value(True).run()
    assert histogram(at)["y"] == expected["log"]["customers"].tolist()


def test_segment_customers_and_filter(demo_db, expected):
    scores = expected["scores"]
    champions = scores[scores["rfm_segment"] == "Champions"]
    at = open_page(**{"p.value_segment": "Champions"})
    assert not at.exception
    members = at.dataframe[1].value
    assert sorted(members["customer_id"]) == sorted(champions["customer_id"])
    assert members["historic_value"].tolist() == pytest.approx(
        champions.sort_values("historic_value", ascending=False)["historic_value"].tolist(), abs=0.005)
    # apply them as segment filter: every figure now counts only these customers
    at.button(key="w.value.apply").click().run()
    assert not at.exception
    assert at.metric[0].value == f"{len(champions):,}"
    assert at.metric[1].value == f"€{champions['historic_value'].sum():,.0f}"
    assert at.session_state["clm_view"].segment.customer_list
    # the predictions, the churn ranking and the suggestions are the whole dataset's, shown for these customers
    ranked = expected["ranked"]
    assert frame_with(at, "churn_risk")["customer_id"].tolist() == \
        ranked[ranked["customer_id"].isin(champions["customer_id"])]["customer_id"].tolist()
    suggestions = expected["suggestions"]
    assert frame_with(at, "because_of")["customer_id"].tolist() == \
        suggestions[suggestions["customer_id"].isin(champions["customer_id"])]["customer_id"].tolist()


def test_as_of_before_the_data_is_its_first_day(demo_db):
    # a link's as-of date before the data is moved to the data's first day, with a warning (DESIGN §5)
    at = open_page(asof="2000-01-01")
    assert not at.exception
    warning = next(w.value for w in at.warning if "lies outside the data" in w.value)
    first = re.search(r"first day (\d{4}-\d{2}-\d{2})", warning).group(1)
    assert f"{first} is used instead" in warning
    assert [m.value for m in at.metric] == [m.value for m in open_page(asof=first).metric]


def test_german(demo_db, expected):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Kundenwert"
    assert at.metric[0].label == "Käufer"
    n = len(expected["scores"])
    assert at.metric[0].value == f"{n:,}".replace(",", ".")
    assert at.metric[2].value.endswith(" €") and "," in at.metric[2].value
    assert {"Prognostizierter Wert", "Wie gut sind die Prognosen?", "Rangliste des Abwanderungsrisikos",
            "Nächste beste Kategorie"} <= {s.value for s in at.subheader}
    total = metric(at, "CLV-Prognose, 12 Monate")
    assert total == f"{expected['clv_12']:,.0f} €".replace(",", ".")
    assert metric(at, "ROC AUC, Abwanderungsmodell") == f"{expected['churn_check'].evaluation.roc_auc:.2f}".replace(".", ",")
    assert chart_titled(at, "Verteilung des prognostizierten CLV") and chart_titled(at, "P(aktiv) eines Kunden")
    assert "Logarithmische" in at.toggle[0].label
    segments = at.dataframe[0].value
    german = {"Lost": "Verloren", "Loyal": "Treue Kunden", "At risk": "Gefährdet", "Hibernating": "Im Winterschlaf"}
    pairs = [(a, b) for a, b in zip(segments["rfm_segment"], segments["segment"]) if a in german]
    assert pairs and all(german[a] == b for a, b in pairs)


# --------------------------------------------------------------------------------------- predictive part

def test_predictive_section(demo_db, expected):
    at = open_page()
    assert not at.exception
    assert {"Predicted value", "How good are the predictions?", "Churn risk ranking", "Valuable customers at risk",
            "Next best category"} <= {s.value for s in at.subheader}
    # predicted CLV over the default 12 months with the data's margin, from the models fitted on every purchaser
    assert metric(at, "Predicted CLV, 12 months") == f"€{expected['clv_12']:,.0f}"
    assert chart_titled(at, "Distribution of predicted CLV")["data"][0]["type"] == "bar"
    heat = chart_titled(at, "P(alive) of a customer observed for")["data"][0]
    assert heat["type"] == "heatmap" and heat["zmin"] == 0 and heat["zmax"] == 1
    # hold-out: clm_core's predicted and actual purchases per customer by calibration frequency
    holdout = expected["holdout"]
    bars = chart_titled(at, "Hold-out: purchases per customer")["data"]
    assert bars[0]["x"] == holdout["frequency"].tolist()
    assert bars[0]["y"] == pytest.approx(holdout["predicted_purchases"].tolist())
    assert bars[1]["y"] == pytest.approx(holdout["actual_purchases"].tolist())
    # the churn model beside the P(alive) baseline, on the later cutoff, with its calibration curve
    evaluation = expected["churn_check"].evaluation
    assert evaluation.roc_auc > 0.6  # the model learns something on the demo
    assert metric(at, "ROC AUC, churn model") == f"{evaluation.roc_auc:.2f}"
    assert metric(at, "ROC AUC, 1 − P(alive)") == f"{evaluation.baseline_roc_auc:.2f}"
    verdict = texts([*at.success, *at.warning])
    assert expected["churn_check"].verdict() == "better"  # 0.75 against 0.56
    assert "The churn model ranks customers better than the BG/NBD P(alive) baseline" in verdict
    curve = chart_titled(at, "Churn model calibration")["data"][1]
    assert curve["x"] == pytest.approx(evaluation.calibration["mean_predicted"].tolist())
    # the churn-risk ranking (downloadable), the valuable customers at risk, the category suggestions
    ranking = frame_with(at, "churn_risk")
    assert ranking["customer_id"].tolist() == expected["ranked"]["customer_id"].tolist()
    assert ranking["churn_risk"].is_monotonic_decreasing and "Churned" not in set(ranking["stage"])
    at_risk = frame_with(at, "risk")
    assert at_risk["customer_id"].tolist() == expected["at_risk"]["customer_id"].tolist() and len(at_risk)
    suggestions = frame_with(at, "because_of")
    assert suggestions["customer_id"].tolist() == expected["suggestions"]["customer_id"].tolist()
    assert (suggestions["lift"] > 1).all()
    assert frame_with(at, "antecedent")["lift"].is_monotonic_decreasing
    assert len(at.get("download_button")) >= 6  # every table, the churn ranking among them
    assert not at.info  # every model could be fitted


def test_parameters_change_the_prediction(demo_db, expected):
    at = open_page()
    assert metric(at, "Predicted CLV, 12 months") == f"€{expected['clv_12']:,.0f}"
    at.number_input(key="w.value.value_horizon").set_value(24).run()
    assert not at.exception
    assert metric(at, "Predicted CLV, 24 months") == f"€{expected['clv_24']:,.0f}"
    assert expected["clv_24"] > expected["clv_12"]
    assert at.session_state["clm_view"].param("value_horizon") == "24"
    # a link with no discount and the full revenue (margin 100 %) reproduces that prediction
    at = open_page(**{"p.value_discount": "0", "p.value_margin": "100"})
    assert not at.exception
    assert at.number_input(key="w.value.value_margin").value == 100.0
    assert metric(at, "Predicted CLV, 12 months") == f"€{expected['clv_undiscounted_revenue']:,.0f}"
    assert expected["clv_undiscounted_revenue"] > expected["clv_12"]


SINGLE_PURCHASES = "customer_id,ordered_at,amount\n" + "".join(
    f"k{i:03d},2024-{11 + i % 2}-{1 + i % 28:02d},{10 + i}\n" for i in range(40))


@pytest.fixture
def single_purchase_db(database, tmp_path):
    """Customers who bought once each, in two months, without categories."""
    path = tmp_path / "transactions.csv"
    path.write_text(SINGLE_PURCHASES, encoding="utf-8")
    con = store.connect(database)
    ingest.load(store.create_dataset(con, "Once"), {"transactions": path})
    con.disconnect()


def test_models_that_cannot_be_fitted_are_explained(single_purchase_db):
    at = open_page()
    assert not at.exception
    assert at.metric[0].value == "40"  # the historic part still works
    info = texts(at.info)
    assert "only 0 of 40 purchasers bought on more than one day" in info
    assert "No hold-out check" in info
    assert "No churn risk" in info and "needs purchases before 2024-07-01" in info
    assert "No check of the churn model" in info
    assert "Neither the churn model nor BG/NBD" in info
    assert "needs a category column" in info
    assert not at.get("plotly_chart")[2:]  # only the historic value histogram and the RFM grid
    at = open_page(lang="de")
    assert not at.exception
    info = texts(at.info)
    assert "Kein prognostizierter Wert" in info and "nur 0 von 40 Käufern" in info
    assert "Kategorie-Spalte" in info and "Kein Abwanderungsrisiko" in info


def test_long_lists_show_their_first_rows_and_offer_all(demo_db, expected, monkeypatch):
    """At scale the page gets the first TABLE_ROWS rows of each per-customer list and their number; every row
    is one click away (a download computed when clicked)."""
    monkeypatch.setattr(insights, "TABLE_ROWS", 5)
    st.cache_data.clear()
    try:
        at = open_page(**{"p.value_segment": "Champions"})
        assert not at.exception
        ranked, suggestions = expected["ranked"], expected["suggestions"]
        assert frame_with(at, "churn_risk")["customer_id"].tolist() == ranked["customer_id"].head(5).tolist()
        assert frame_with(at, "because_of")["customer_id"].tolist() == suggestions["customer_id"].head(5).tolist()
        assert len(frame_with(at, "days_since_last")) == 5
        captions = texts(at.caption)
        assert f"The first 5 of {len(ranked):,} rows" in captions
        assert f"The first 5 of {len(suggestions):,} rows" in captions
        labels = [b.proto.label for b in at.get("download_button")]
        assert f"Download all {len(ranked):,} rows (CSV)" in labels
    finally:
        st.cache_data.clear()


def test_model_results_do_not_depend_on_a_new_session(demo_db, expected):
    """A new browser tab (a new session in the same process) is served the same models: the second run finds
    them computed (st.cache_data, and clm_core's results per dataset version behind it)."""
    first = open_page()
    st.cache_data.clear()  # clm_core's own results remain: the page gets the same numbers from them
    second = open_page()
    assert not second.exception
    for label in ("Predicted CLV, 12 months", "ROC AUC, churn model", "Purchasers"):
        assert metric(second, label) == metric(first, label)
    assert frame_with(second, "churn_risk")["customer_id"].tolist() == expected["ranked"]["customer_id"].tolist()


def test_every_computation_says_what_it_computes_in_both_languages(demo_db):
    """The page's results register a spinner text (English, German) naming the work and {n} customers."""
    at = open_page()
    assert not at.exception
    from clm_ui import data

    names = [n for n in data.FUNCTIONS if n.startswith("value_")]
    assert len(names) >= 12
    for name in names:
        english, german = data.SPINNERS[name]
        assert english.endswith("…") and german.endswith("…") and english != german
    assert "{n}" in data.SPINNERS["value_churn_check"][0] and "100,000" in data.SPINNERS["value_churn_check"][0]
    assert "100.000" in data.SPINNERS["value_churn_check"][1]
