"""The Campaigns page (AppTest): plan (what-if scenarios), evaluate past campaigns, gap analysis; demo data,
a dataset without campaigns, an empty database, German."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clm_core import ingest, simulate, store
from clm_core.config import STAGES
from clm_core.i18n import format_currency, format_number, format_percent
from clm_core.metrics import campaigns
from clm_core.simulate import Scenario

from apptest import page_opener


@pytest.fixture(scope="module")
def expected(tmp_path_factory, demo_paths):
    """clm_core on the demo data, on a database of its own: plan(scenario) -> (target, result), and the rest."""
    con = store.connect(tmp_path_factory.mktemp("expected") / "expected.duckdb")
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    baseline = simulate.customer_baseline(dataset)
    defaults = simulate.planning_defaults(dataset)

    def plan(scenario: Scenario):
        stage = (simulate.funnel_stage(dataset, scenario.funnel_steps, scenario.funnel_step)
                 if scenario.action == "funnel_uplift" else None)
        target = simulate.select_target(baseline, scenario, stage)
        return target, simulate.simulate(target, scenario, n_sims=10_000, seed=0)

    out = {
        "plan": plan,
        "defaults": defaults,
        "base": defaults.scenario(),  # the page's default scenario: the data's response rate and margin
        "effects_margin": campaigns.campaign_effects(dataset, window_days=30, margin=round(100 * defaults.margin) / 100),
        "customers": len(baseline.customers),
        "effects": campaigns.campaign_effects(dataset, window_days=30),
        "effects_7": campaigns.campaign_effects(dataset, window_days=7),
        "gaps": campaigns.campaign_gaps(dataset),
    }
    yield out
    con.disconnect()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory, demo_paths):
    """The app's database with the demo dataset, shared by the tests of this module (results stay cached)."""
    path = tmp_path_factory.mktemp("app") / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Demo"), demo_paths)
    con.disconnect()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield path


open_page = page_opener("campaigns", 180)


def results(at: AppTest) -> pd.DataFrame:
    frame = next(d.value for d in at.dataframe if "measure" in d.value.columns)
    return frame.set_index("measure")


def widget_key(name: str) -> str:
    return f"w.campaigns.campaigns_{name}"


def column_labels(at: AppTest, column: str) -> dict[str, str]:
    """Column -> its label in the first table that has ``column``."""
    element = next(d for d in at.dataframe if column in d.value.columns)
    config = json.loads(element.proto.columns or "{}")
    return {name.removeprefix("col:name:").removeprefix("name:"): c.get("label") for name, c in config.items()}


def test_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "empty.duckdb"))
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_plan_shows_clm_cores_simulation(demo_db, expected):
    at = open_page()
    assert not at.exception
    assert at.title[0].value == "Campaigns"
    assert at.radio(key="w.campaigns.campaigns_section").options == ["Plan", "Evaluate", "Gap analysis"]
    target, result = expected["plan"](expected["base"])
    assert 0 < target.size < expected["customers"]
    table = results(at)
    assert table.loc["Contacted customers", "Scenario A"] == format_number(target.size)
    assert table.loc["Cost", "Scenario A"] == format_currency(target.size * 1.0, "en", 0)
    revenue = result.expected("incremental_revenue")
    low, high = result.interval("incremental_revenue")
    assert table.loc["Incremental revenue", "Scenario A"] == (
        f"{format_currency(revenue, 'en', 0)} ({format_currency(low, 'en', 0)} – {format_currency(high, 'en', 0)})")
    assert any(f"{format_number(target.size)} contacted of {format_number(target.matched)} in the target" in m.value
               for m in at.markdown)
    who = next(d.value for d in at.dataframe if "customer_id" in d.value.columns)
    assert who["customer_id"].tolist() == target.customers["customer_id"].tolist()
    histograms = [c for c in at.get("plotly_chart") if '"histogram"' in c.proto.spec]
    assert len(histograms) == 1


def test_defaults_come_from_the_data_and_say_so(demo_db, expected):
    at = open_page()
    assert not at.exception
    defaults = expected["defaults"]
    assert defaults.response_source == "campaigns" and defaults.margin_source == "transactions"
    assert 0 < defaults.response_rate < 1 and 0 < defaults.margin < 1
    response, margin = format_percent(defaults.response_rate, "en", 1), format_percent(defaults.margin, "en", 0)
    note = next(c.value for c in at.caption if c.value.startswith("Starting values"))
    assert f"response rate: from your past campaigns: {response}" in note
    assert format_number(defaults.treated) in note and f"margin: from your data: {margin}" in note
    assert at.slider(key=widget_key("a_response_rate")).value == pytest.approx(100 * defaults.response_rate)
    assert at.slider(key=widget_key("a_margin")).value == round(100 * defaults.margin)
    assert not any(k.startswith("campaigns_a_") for k in at.session_state["clm_view"].params)  # nothing changed
    # a link's explicit values win over the data's defaults, and stay in the link
    at = open_page(**{"p.campaigns_a_response_rate": "0.25"})
    assert at.slider(key=widget_key("a_response_rate")).value == 25.0
    assert at.slider(key=widget_key("a_margin")).value == round(100 * defaults.margin)
    assert at.session_state["clm_view"].param("campaigns_a_response_rate") == "0.25"
    # the warning: shown exactly for a scenario too good to be true
    _, result = expected["plan"](expected["base"])
    flagged = result.expected("roi") > 10 or result.expected("loss_probability") == 0
    assert any("too good to be true" in w.value for w in open_page().warning) == flagged
    at = open_page(**{"p.campaigns_a_response_rate": "1.0", "p.campaigns_a_margin": "1.0",
                      "p.campaigns_a_effect_low": "0.2", "p.campaigns_a_effect_high": "0.3",
                      "p.campaigns_a_cost_per_contact": "0.01"})
    assert not at.exception
    warning = next(w.value for w in at.warning if "too good to be true" in w.value)
    assert warning.startswith("Scenario A looks too good to be true: ROI ") and "chance of a loss 0%" in warning


def test_widgets_change_the_numbers(demo_db, expected):
    at = open_page()
    target, base = expected["plan"](expected["base"])
    at.number_input(key=widget_key("a_cost_per_contact")).set_value(5.0).run()
    assert not at.exception
    table = results(at)
    assert table.loc["Cost", "Scenario A"] == format_currency(5.0 * target.size, "en", 0)
    dearer = expected["plan"](replace(expected["base"], cost_per_contact=5.0))[1]
    assert dearer.expected("roi") < base.expected("roi")
    assert table.loc["ROI", "Scenario A"].startswith(f"{format_number(100 * dearer.expected('roi'))}%")
    assert at.session_state["clm_view"].param("campaigns_a_cost_per_contact") == "5.0"

    at.selectbox(key=widget_key("a_action")).set_value("churn_reduction").run()
    at.selectbox(key="w.campaigns.campaigns_count").set_value(2).run()
    assert not at.exception
    retained, _ = expected["plan"](replace(expected["base"], action="churn_reduction", cost_per_contact=5.0))
    table = results(at)
    assert table.loc["Contacted customers", "Scenario A"] == format_number(retained.size) != format_number(target.size)
    assert table.loc["Contacted customers", "Scenario B"] == format_number(target.size)  # a fresh default scenario


def test_scenarios_from_the_link(demo_db, expected):
    at = open_page(**{
        "p.campaigns_count": "3",
        "p.campaigns_b_action": "order_value", "p.campaigns_b_effect_low": "0.05", "p.campaigns_b_effect_high": "0.15",
        "p.campaigns_b_stages": ["loyal", "active"], "p.campaigns_b_margin": "0.4",
        "p.campaigns_c_action": "funnel_uplift", "p.campaigns_c_funnel_step": "3",
    })
    assert not at.exception
    assert at.slider(key=widget_key("b_effect")).value == (5.0, 15.0)
    assert at.multiselect(key=widget_key("b_stages")).value == ["loyal", "active"]
    table = results(at)
    spend = replace(expected["base"], action="order_value", effect_low=0.05, effect_high=0.15,
                    stages=("loyal", "active"), margin=0.4)
    target, result = expected["plan"](spend)
    assert table.loc["Contacted customers", "Scenario B"] == format_number(target.size)
    assert table.loc["Incremental CLV (discounted margin)", "Scenario B"].startswith(
        format_currency(result.expected("incremental_clv"), "en", 0))
    assert table.loc["Incremental purchasers", "Scenario B"].startswith("0.0")
    funnel_target, _ = expected["plan"](replace(expected["base"], action="funnel_uplift", funnel_step=3))
    assert table.loc["Contacted customers", "Scenario C"] == format_number(funnel_target.size)
    assert any("Repeat purchase" in c.value and "convert today" in c.value for c in at.caption)


def test_odd_links_do_not_break_the_page(demo_db):
    at = open_page(**{"p.campaigns_count": "2", "p.campaigns_a_effect_low": "zero",
                      "p.campaigns_b_effect_low": "0.023", "p.campaigns_b_effect_high": "0.9",
                      "p.campaigns_b_clv": ["-5.0", "inf"], "p.campaigns_b_churn_risk": ["-1.0", "2.0"]})
    assert not at.exception
    assert any("Scenario A in the link could not be read" in w.value for w in at.warning)
    assert at.slider(key=widget_key("b_effect")).value == (2.3, 90.0)
    assert at.slider(key=widget_key("b_churn_risk")).value == (0, 100)
    assert "Scenario B" in results(at).columns


def test_a_link_with_an_absurd_cost_is_a_warning_and_the_default(demo_db):
    at = open_page(**{"p.campaigns_a_cost_per_contact": "1e308"})
    assert not at.exception
    assert any("Scenario A in the link could not be read" in w.value for w in at.warning)
    cost = at.number_input(key=widget_key("a_cost_per_contact"))
    assert (cost.value, cost.max) == (1.0, 1e9)


def test_evaluate_and_gap_analysis(demo_db, expected):
    at = open_page(**{"p.campaigns_section": "evaluate"})
    assert not at.exception
    effects = expected["effects"]
    table = next(d.value for d in at.dataframe if "treated" in d.value.columns)
    assert table["campaign"].tolist() == effects["campaign"].tolist()
    assert table["treated"].tolist() == effects["treated"].tolist()
    # differences of rates in percentage points, as in the chart; ROI with its 95 % interval
    assert table["uplift_pp"].tolist() == pytest.approx((100 * effects["uplift"]).tolist(), nan_ok=True)
    assert table["ci_low_pp"].tolist() == pytest.approx((100 * effects["ci_low"]).tolist(), nan_ok=True)
    with_margin = expected["effects_margin"]  # the evaluation's margin defaults to the data's
    assert table["roi"].tolist() == pytest.approx(with_margin["roi"].tolist(), nan_ok=True)
    assert table["roi_low"].tolist() == pytest.approx(with_margin["roi_low"].tolist(), nan_ok=True)
    assert table["roi_high"].tolist() == pytest.approx(with_margin["roi_high"].tolist(), nan_ok=True)
    assert with_margin["roi_low"].notna().any()
    assert "uplift" not in table.columns and "revenue_treated" not in table.columns  # details below
    details = next(d.value for d in at.dataframe if "revenue_treated" in d.value.columns)
    assert details["campaign"].tolist() == effects["campaign"].tolist()
    labels = column_labels(at, "roi_low")
    assert (labels["uplift_pp"], labels["ci_low_pp"], labels["roi_low"]) == ("Uplift (pp)", "CI from (pp)", "ROI from")
    assert any("percentage points" in c.proto.spec for c in at.get("plotly_chart"))
    at.number_input(key="w.campaigns.campaigns_window").set_value(7).run()
    table = next(d.value for d in at.dataframe if "treated" in d.value.columns)
    assert table["response_treated"].tolist() == pytest.approx(expected["effects_7"]["response_treated"].tolist())
    assert table["response_treated"].tolist() != pytest.approx(effects["response_treated"].tolist())
    by_stage = [d.value for d in at.dataframe if "stage" in d.value.columns]
    assert by_stage and by_stage[0]["treated"].sum() == effects["treated"].sum()

    gaps = expected["gaps"]
    reached = gaps.groupby("stage")["customers_reached"].sum()
    idle = [stage for stage in STAGES if reached[stage] == 0]
    at = open_page(**{"p.campaigns_section": "gaps"})
    assert not at.exception
    assert any('"heatmap"' in c.proto.spec for c in at.get("plotly_chart"))
    warning = at.warning[0].value
    assert warning.startswith("No campaign reached customers in:") and idle
    english = {"prospect": "Prospect", "new": "New", "active": "Active", "reactivated": "Reactivated",
               "at_risk": "At risk", "loyal": "Loyal", "churned": "Churned"}  # rows: "<framework stage> · <stage>"
    assert [s for s in english if f"· {english[s]}" in warning] == idle
    gap_table = next(d.value for d in at.dataframe if "customers_reached" in d.value.columns)
    assert gap_table["customers_reached"].sum() == gaps["customers_reached"].sum()


def test_without_campaigns_the_plan_still_works(tmp_path, monkeypatch, demo_paths):
    path = tmp_path / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "No campaigns"), {k: v for k, v in demo_paths.items() if k != "campaigns"})
    con.disconnect()
    monkeypatch.setenv("CLM_DATABASE", str(path))
    plan = open_page()
    assert not plan.exception
    assert int(results(plan).loc["Contacted customers", "Scenario A"].replace(",", "")) > 0
    assert any("response rate: assumed: " + format_percent(0.10, "en", 1) in c.value for c in plan.caption)
    assert plan.slider(key=widget_key("a_response_rate")).value == 10.0
    for section in ("evaluate", "gaps"):
        at = open_page(**{"p.campaigns_section": section})
        assert not at.exception
        assert "no campaigns file" in at.info[0].value and "sent_at" in at.info[0].value


def test_german(demo_db, expected):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Kampagnen"
    assert at.selectbox(key=widget_key("a_action")).label == "Maßnahme"
    table = results(at)
    target, _ = expected["plan"](expected["base"])
    assert table.loc["Kosten", "Szenario A"] == format_currency(target.size * 1.0, "de", 0)
    defaults = expected["defaults"]
    assert any("aus Ihren bisherigen Kampagnen: " + format_percent(defaults.response_rate, "de", 1) in c.value
               for c in at.caption)
    assert table.loc["Kontaktierte Kunden", "Szenario A"] == format_number(target.size, "de")
    assert "Lückenanalyse" in at.radio(key="w.campaigns.campaigns_section").options


def test_the_plan_is_result_sized_and_says_what_it_computes(demo_db, expected):
    from clm_ui import data

    at = open_page()
    assert not at.exception
    english, german = data.SPINNERS["campaign_plan"]
    assert "{n} customers" in english and "{n} Kunden" in german
    target, _ = expected["plan"](expected["base"])
    who = next(d.value for d in at.dataframe if "customer_id" in d.value.columns)
    assert len(who) == min(target.size, simulate.TABLE_ROWS)
