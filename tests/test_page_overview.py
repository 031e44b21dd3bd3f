"""The Overview page (AppTest): tables in the view's language, the stage bar's legend, the cards' deltas.
(Cards and the filter from the URL are covered in tests/test_app.py.)"""

from __future__ import annotations

import json
import re

import pytest


from apptest import demo_database, page_opener, shown


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """One demo database for the module (its metric cache is shared by the tests)."""
    path = demo_database(tmp_path_factory.mktemp("overview"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield path


open_page = page_opener("overview")


def columns(element) -> dict:
    return json.loads(element.proto.columns)


def table_with(at, column: str):
    """The first table with ``column``."""
    return next(d for d in at.dataframe if column in d.value.columns)


def url(at) -> dict:
    return at.session_state["clm_view"].to_query_params()


def test_german_tables_show_percentages_and_one_localised_stage(demo_db):
    at = open_page(lang="de")
    assert not at.exception
    framework, history = at.dataframe[0], table_with(at, "stage_label")
    raw = framework.value
    assert shown(framework)["share"].tolist() == [f"{100 * s:.1f} %".replace(".", ",") for s in raw["share"]]
    assert columns(framework)["share"]["label"] == "Anteil"
    # the history shows the phase once, in German; the CSV keeps the framework's own name beside it
    assert columns(history)["phase"]["hidden"] is True and columns(history)["at_risk"]["hidden"] is True
    assert "Abgewandert" in history.value["stage_label"].tolist()
    assert "Bindung: gefährdet" in raw["stage"].tolist() and "Bindung: gefährdet" in history.value["stage_label"].tolist()
    assert all(re.fullmatch(r"\d{1,3},\d %", s) for s in shown(history)["share"])
    assert at.metric[1].delta.endswith(" Pp.")  # active share: change in percentage points


def test_english_stage_bar_has_its_legend_above_and_the_share_delta_in_points(demo_db):
    at = open_page()
    assert not at.exception
    bar = json.loads(at.get("plotly_chart")[0].proto.spec)
    legend = bar["layout"]["legend"]
    assert legend["orientation"] == "h" and legend["y"] > 1  # one row above the bar: nothing cut off
    assert len(bar["data"]) == len(at.dataframe[0].value)  # one legend entry per framework stage
    assert re.fullmatch(r"[+-]?\d+\.\d pp", at.metric[1].delta)
    assert all(re.fullmatch(r"\d{1,3}\.\d%", s) for s in shown(at.dataframe[0])["share"])


# ------------------------------------------------------------------ at risk on its own, one vocabulary

def test_the_bar_shows_at_risk_customers_on_their_own_and_the_history_in_the_same_names(demo_db):
    from clm_core import store
    from clm_core.metrics.common import resolve_as_of
    from clm_core.metrics.stages import framework_distribution, stage_distribution

    at = open_page()
    assert not at.exception and not at.error
    bar = at.dataframe[0].value.set_index("stage")["customers"]
    con = store.connect(demo_db)
    try:
        ds = store.list_datasets(con)[0]
        canonical = stage_distribution(ds, resolve_as_of(ds)).set_index("stage")["customers"]
        folded = framework_distribution(ds, resolve_as_of(ds)).set_index("stage")["customers"]
    finally:
        con.disconnect()
    assert canonical["at_risk"] > 0
    assert bar["Retention: at risk"] == canonical["at_risk"]
    assert bar["Retention"] + bar["Retention: at risk"] == folded["Retention"]  # the phase split in two
    assert bar.drop(["Retention", "Retention: at risk"]).to_dict() == folded.drop("Retention").to_dict()
    assert list(bar.index) == ["Awareness", "Interest/Consideration", "Purchase", "Retention", "Retention: at risk",
                               "Loyalty/Advocacy", "Lapsed"]
    # every chart of the page speaks the framework's names: the bar's and the history's traces are the same
    bar_chart, *_, history_chart = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [trace["name"] for trace in history_chart["data"]] == list(bar.index)
    assert [trace["name"] for trace in bar_chart["data"]] == list(bar.index)
    assert set(table_with(at, "stage_label").value["stage_label"]) == set(bar.index)
    assert "Phases over time (5-phase journey)" in [h.value for h in at.subheader]


def test_another_framework_splits_its_own_phase(demo_db):
    at = open_page(**{"p.framework": "RACE"})
    assert not at.exception and not at.error
    stages = at.dataframe[0].value["stage"].tolist()
    assert stages == ["Reach", "Act", "Convert", "Engage", "Engage: at risk", "Lapsed"]
    history = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert [trace["name"] for trace in history["data"]] == stages


# ------------------------------------------------------------------ where are we losing customers? (compact)

def _tier_database(folder):
    """Data up to 2024-06-30 (a quarter's and a month's last day): tier 'big' loses 100 of its 200 customers in
    June (they bought on 2023-12-20 only: churned on 2024-06-18), 'other' 40 of 400, 'tiny' its 3; the others
    bought on 2024-01-15 and 2024-06-30."""
    customers, transactions = ["customer_id,tier"], ["customer_id,ordered_at,amount"]
    for name, churners, stayers in (("big", 100, 100), ("other", 40, 360), ("tiny", 3, 0)):
        for i in range(churners + stayers):
            cid = f"{name}{i:04d}"
            customers.append(f"{cid},{name}")
            if i < churners:
                transactions.append(f"{cid},2023-12-20,10")
            else:
                transactions += [f"{cid},2024-01-15,10", f"{cid},2024-06-30,10"]
    (folder / "customers.csv").write_text("\n".join(customers) + "\n")
    (folder / "transactions.csv").write_text("\n".join(transactions) + "\n")
    from clm_core import ingest, store

    path = folder / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Tiers"),
                {"customers": folder / "customers.csv", "transactions": folder / "transactions.csv"})
    con.disconnect()
    return path


def test_losses_panel_names_the_worst_segment_of_the_last_complete_quarter_and_drills_down(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(_tier_database(tmp_path)))
    at = open_page(**{"p.overview_losses_by": "tier"})
    assert not at.exception and not at.error
    assert "Where are we losing customers?" in [h.value for h in at.subheader]
    assert any(m.value == "2024-Q2: 143 customers churned, 23.7% of the 603 with a purchase who had not churned at "
                          "its start." for m in at.markdown)
    worst = next(i.value for i in at.info if i.value.startswith("Worst segment"))
    assert worst.startswith("Worst segment in 2024-Q2: tier = **big**. 50.0% of its 200 customers churned (100), "
                            "against 10.7% in the rest (p < 0.001).")
    assert any(c.value == "The latest complete quarter, 2024-Q2, up to 2024-06-30." for c in at.caption)
    shown = table_with(at, "churned_worst").value.set_index("segment_label")
    assert shown["churned"].to_dict() == {"big": 100, "other": 40, "tiny": 3}
    assert shown["churned_worst"].to_dict() == {"big": True, "other": False, "tiny": False}
    assert shown["churned_significant"].to_dict() == {"big": True, "other": True, "tiny": False}
    # its own parameters, apart from the Lifecycle page's
    params = url(at)
    assert params["p.overview_losses_by"] == ["tier"] and params["p.overview_losses_period"] == ["quarter"]
    assert not any(key.startswith("p.losses_") for key in params)
    # the chart: one bar per segment, the worst in the churned colour
    chart = next(spec for spec in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                 if spec["layout"]["xaxis"].get("title", {}).get("text") == "Share lost")
    assert chart["data"][0]["marker"]["color"] == ["#c0392b", "#9aa5b1", "#9aa5b1"]
    # the drill-down: the worst segment's lost customers become the segment filter
    assert at.selectbox(key="w.overview.overview_losses_drill.quarter.churned.tier").value == "big"
    at.button(key="w.overview.overview_losses_use_filter").click().run()
    assert not at.exception and not at.error
    assert at.session_state["clm_view"].segment.customer_list
    assert at.metric[0].value == "100"
    # German, by month: June is complete on June 30
    de = open_page(lang="de", **{"p.overview_losses_by": "tier", "p.overview_losses_period": "month"})
    assert not de.exception and not de.error
    assert "Wo verlieren wir Kunden?" in [h.value for h in de.subheader]
    assert any(i.value.startswith("Schlechtestes Segment im Zeitraum 2024-06: tier = **big**. 50,0 %") for i in de.info)
