"""The Customer value page (AppTest) on the demo data and on an empty database."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clm_core import demo, ingest, store
from clm_core.metrics import clv
from clm_core.models import rfm
from clm_core.models.rfm import rfm_scores

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def database(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CLM_DATABASE", str(path))
    return path


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory):
    return demo.write_demo(tmp_path_factory.mktemp("demo"), n_customers=300, seed=3)


@pytest.fixture(scope="module")
def expected(tmp_path_factory, demo_paths):
    """clm_core's results on the demo data, computed on a separate database file."""
    con = store.connect(tmp_path_factory.mktemp("expected") / "expected.duckdb")
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    scores = rfm_scores(dataset)
    out = {
        "scores": scores,
        "log": clv.value_histogram(dataset, bins=30, log=True),
        "linear": clv.value_histogram(dataset, bins=30, log=False),
        "segments": rfm.segment_summary(scores),
    }
    con.disconnect()
    return out


@pytest.fixture
def demo_db(database, demo_paths):
    con = store.connect(database)
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    con.disconnect()
    return dataset.id


def open_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = "value"
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def histogram(at: AppTest) -> dict:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c for c in charts if c["data"][0]["type"] == "bar")["data"][0]


def test_empty_database(database):
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


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
    top = at.dataframe[-1].value
    assert len(top) == 20
    assert top["customer_id"].tolist() == rfm.top_customers(scores, 20)["customer_id"].tolist()
    assert top["historic_value"].is_monotonic_decreasing
    # the place for the predictive part
    assert any("Predicted value" in s.value for s in at.subheader)
    assert any("BG/NBD" in i.value and "Gamma-Gamma" in i.value for i in at.info)


def test_linear_axis_and_top_n(demo_db, expected):
    at = open_page(**{"p.value_log": "0", "p.value_top": "5"})
    assert not at.exception
    assert histogram(at)["y"] == expected["linear"]["customers"].tolist()
    assert sum(histogram(at)["y"]) == len(expected["scores"])
    assert len(at.dataframe[-1].value) == 5
    # the widget changes the number of rows and lands in the URL
    at.number_input(key="w.value.value_top").set_value(7).run()
    assert not at.exception
    assert len(at.dataframe[-1].value) == 7
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


def test_no_purchase_before_the_as_of_date(demo_db):
    at = open_page(asof="2000-01-01")
    assert not at.exception
    assert any("no value to show" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_german(demo_db, expected):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Kundenwert"
    assert at.metric[0].label == "Käufer"
    n = len(expected["scores"])
    assert at.metric[0].value == f"{n:,}".replace(",", ".")
    assert at.metric[2].value.endswith(" €") and "," in at.metric[2].value
    assert any("Prognostizierter Wert" in s.value for s in at.subheader)
    assert "Logarithmische" in at.toggle[0].label
    segments = at.dataframe[0].value
    german = {"Lost": "Verloren", "Loyal": "Treue Kunden", "At risk": "Gefährdet", "Hibernating": "Im Winterschlaf"}
    pairs = [(a, b) for a, b in zip(segments["rfm_segment"], segments["segment"]) if a in german]
    assert pairs and all(german[a] == b for a, b in pairs)
