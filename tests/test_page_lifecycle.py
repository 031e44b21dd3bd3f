"""The Lifecycle page (AppTest): distribution, framework names, thresholds, history and migration."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from clm_core import store
from clm_core.config import LifecycleConfig
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.stages import stage_distribution, stage_migration

from apptest import demo_database, page_opener


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """One demo database for the module (its metric cache is shared by the tests)."""
    path = demo_database(tmp_path_factory.mktemp("lifecycle"))
    con = store.connect(path)
    dataset = store.list_datasets(con)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield con, dataset
    con.disconnect()


open_page = page_opener("lifecycle")


def frame(at: AppTest, column: str):
    """The first table with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def canonical(at: AppTest):
    return frame(at, "label").set_index("stage")["customers"]


def framework_table(at: AppTest):
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["stage", "customers", "share"])


def url(at: AppTest) -> dict:
    """The query parameters the app writes to the address bar (the session's view state)."""
    return at.session_state["clm_view"].to_query_params()


def test_empty_database_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "empty.duckdb"))
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_distribution_mapping_and_migration_match_clm_core(demo_db):
    _, ds = demo_db
    at = open_page(**{"p.lifecycle_months": "12"})
    assert not at.exception and not at.error
    as_of = resolve_as_of(ds)
    expected = stage_distribution(ds, as_of).set_index("stage")["customers"]
    assert canonical(at).to_dict() == expected.to_dict()
    assert canonical(at).sum() == 301
    # the framework table in the default framework's names, the same customers
    names = framework_table(at)
    assert names["stage"].tolist() == LifecycleConfig().framework_stages()
    assert names["customers"].sum() == 301
    assert names.set_index("stage").loc["Lapsed", "customers"] == expected["churned"]
    mapping = frame(at, "framework_stage")
    assert mapping.set_index("key")["framework_stage"].to_dict()["prospect_interested"] == "Interest/Consideration"
    # history: one row per stage for each of the 12 months, the last month summing to everyone known at T
    history = frame(at, "month")
    assert history["month"].nunique() == 12 and len(history) == 12 * 7
    assert history[history["month"] == as_of.strftime("%Y-%m")]["customers"].sum() == 301
    # migration: default dates are a quarter before the as-of date -> the as-of date
    start, end = (d.value for d in at.date_input if d.label in ("From", "To"))
    year, month = (as_of.year, as_of.month - 3) if as_of.month > 3 else (as_of.year - 1, as_of.month + 9)
    assert end == as_of
    assert start == dt.date(year, month, min(as_of.day, calendar.monthrange(year, month)[1]))
    matrix = frame(at, "Churned")
    migration = stage_migration(ds, start, end)
    assert int(matrix.drop(columns="Stage").to_numpy().sum()) == migration["customers"].sum()
    stayed = migration[migration["from_stage"] == migration["to_stage"]]["customers"].sum()
    assert at.metric[0].label == "Same stage on both dates"
    assert at.metric[0].value.startswith(f"{stayed:,} (")
    assert len(at.get("plotly_chart")) == 7  # canonical, framework, history, losses, growth, stickiness, Sankey


def test_framework_param_and_selector_change_the_stage_names(demo_db):
    at = open_page(**{"p.framework": "RACE", "p.lifecycle_months": "12"})
    assert not at.exception
    assert framework_table(at)["stage"].tolist() == ["Reach", "Act", "Convert", "Engage", "Lapsed"]
    assert frame(at, "framework_stage")["framework_stage"].tolist()[:3] == ["Reach", "Act", "Convert"]
    at.selectbox(key="w.lifecycle.framework").set_value("relationship phases").run()
    assert not at.exception
    assert framework_table(at)["stage"].tolist() == ["Initiation", "Active customer", "Passive customer"]
    assert url(at)["p.framework"] == ["relationship phases"]


def test_thresholds_change_the_distribution_and_land_in_the_url(demo_db):
    _, ds = demo_db
    as_of = resolve_as_of(ds)
    at = open_page(**{"p.churn_days": "365", "p.lifecycle_months": "12"})
    assert not at.exception
    longer = canonical(at)
    expected = stage_distribution(ds, as_of, LifecycleConfig(churn_days=365)).set_index("stage")["customers"]
    assert longer.to_dict() == expected.to_dict()
    default = stage_distribution(ds, as_of).set_index("stage")["customers"]
    assert longer["churned"] < default["churned"] and longer["at_risk"] > default["at_risk"]
    # the widget: loyal from 2 purchase days a year makes more customers loyal
    at.number_input(key="w.lifecycle.loyal_orders").set_value(2).run()
    assert not at.exception
    loyal = canonical(at)["loyal"]
    assert loyal == stage_distribution(ds, as_of, LifecycleConfig(churn_days=365, loyal_orders=2)).set_index(
        "stage").loc["loyal", "customers"]
    assert loyal > longer["loyal"]
    assert url(at)["p.loyal_orders"] == ["2"] and url(at)["p.churn_days"] == ["365"]


def test_invalid_thresholds_show_an_error_instead_of_crashing(demo_db):
    at = open_page(**{"p.at_risk_days": "200"})
    assert not at.exception
    assert "must not exceed" in at.error[0].value and "200" in at.error[0].value
    assert not at.dataframe  # nothing drawn with a broken configuration


def test_migration_dates_from_the_url(demo_db):
    _, ds = demo_db
    at = open_page(**{"p.lifecycle_from": "2025-06-30", "p.lifecycle_to": "2025-12-31", "p.lifecycle_months": "12"})
    assert not at.exception
    migration = stage_migration(ds, dt.date(2025, 6, 30), dt.date(2025, 12, 31)).set_index(["from_stage", "to_stage"])
    matrix = frame(at, "Churned").set_index("Stage")
    assert matrix.loc["Churned", "Reactivated"] == migration.loc[("churned", "reactivated"), "customers"]
    assert matrix.loc["New", "Active"] == migration.loc[("new", "active"), "customers"]
    wrong = open_page(**{"p.lifecycle_from": "2025-12-31", "p.lifecycle_to": "2025-06-30", "p.lifecycle_months": "12"})
    assert not wrong.exception
    assert "before" in wrong.warning[0].value


def test_german_labels(demo_db):
    at = open_page(lang="de", **{"p.lifecycle_months": "12"})
    assert not at.exception
    assert at.title[0].value == "Lebenszyklus"
    assert "Abgewandert" in frame(at, "label")["label"].tolist()
    assert at.number_input(key="w.lifecycle.churn_days").label == "Abgewandert nach (Tagen)"
    assert at.metric[0].label == "An beiden Stichtagen gleiche Phase"


def test_growth_accounting_follows_its_period_parameter(demo_db):
    from clm_core.metrics.growth import growth_accounting

    _, ds = demo_db
    at = open_page(**{"p.growth_period": "quarter", "p.growth_periods": "6"})
    assert not at.exception and not at.error
    shown = frame(at, "quick_ratio")
    expected = growth_accounting(ds, resolve_as_of(ds), period="quarter", periods=6)
    assert shown["period"].tolist() == expected["period"].tolist() and shown["period"].str.contains("-Q").all()
    assert shown["new"].tolist() == expected["new"].tolist()
    assert shown["dormant"].tolist() == expected["dormant"].tolist() and (shown["dormant"] <= 0).all()
    monthly = frame(open_page(), "quick_ratio")
    assert len(monthly) == 12 and monthly["period"].str.match(r"\d{4}-\d{2}$").all()


def test_german_page_names_the_framework_and_its_stages_in_german(demo_db):
    at = open_page(lang="de", **{"p.framework": "5-phase journey"})
    assert not at.exception and not at.error
    names = framework_table(at)
    assert names["stage"].tolist() == ["Aufmerksamkeit", "Interesse/Abwägung", "Kauf", "Bindung",
                                       "Loyalität/Empfehlung", "Abgewandert"]
    assert names["customers"].sum() == 301
    assert any("5-Phasen-Customer-Journey" in m.value for m in at.markdown)


# ------------------------------------------------------------------ where are we losing customers?

def losses_table(at: AppTest, kind: str = "churned"):
    return frame(at, f"{kind}_share")


def test_losses_section_matches_clm_core_on_the_demo(demo_db):
    from clm_core.metrics.losses import losses, worst_segment

    _, ds = demo_db
    at = open_page(**{"p.losses_period": "quarter", "p.losses_by": "segment", "p.lifecycle_months": "12"})
    assert not at.exception and not at.error
    assert "Where are we losing customers?" in [h.value for h in at.subheader]
    expected = losses(ds, "quarter", 4, as_of=resolve_as_of(ds), by="segment")
    shown = losses_table(at)
    assert shown["period"].tolist() == expected["period"].tolist()[::-1]  # the latest period first
    assert shown["churned"].tolist() == expected["churned"].tolist()[::-1]
    assert shown["churned_base"].tolist() == expected["churned_base"].tolist()[::-1]
    latest = expected[expected["period"] == expected["period"].iloc[-1]]
    total = f"{expected['period'].iloc[-1]}: {int(latest['churned'].sum()):,} customers churned"
    assert any(m.value.startswith(total) for m in at.markdown)
    sentences = [i.value for i in at.info]
    if worst_segment(expected) is None:
        assert any("no segment of Segment differs significantly" in s for s in sentences)  # its display name
    else:
        assert any(s.startswith("Worst segment in") for s in sentences)
    assert url(at)["p.losses_by"] == ["segment"] and url(at)["p.losses_period"] == ["quarter"]
    # at risk, by month, without a breakdown: one row per period, and a hint to pick an attribute
    at = open_page(**{"p.losses_kind": "at_risk", "p.losses_by": "", "p.losses_period": "month",
                      "p.losses_periods": "6"})
    assert not at.exception and not at.error
    shown = losses_table(at, "at_risk")
    expected = losses(ds, "month", 6, as_of=resolve_as_of(ds))
    assert shown["at_risk"].tolist() == expected["at_risk"].tolist()[::-1]
    assert any("Pick an attribute" in c.value for c in at.caption)


def _tier_database(folder):
    """A database where tier 'big' clearly churns more in June 2024 (100 of 200) than 'other' (40 of 400),
    and 'tiny' loses all of its 3 customers; the data end on 2024-06-25."""
    customers, transactions = ["customer_id,tier"], ["customer_id,ordered_at,amount"]
    for name, churners, stayers in (("big", 100, 100), ("other", 40, 360), ("tiny", 3, 0)):
        for i in range(churners + stayers):
            cid = f"{name}{i:04d}"
            customers.append(f"{cid},{name}")
            if i < churners:
                transactions.append(f"{cid},2023-12-20,10")  # churned on 2024-06-18
            else:
                transactions += [f"{cid},2024-05-01,10", f"{cid},2024-06-25,10"]
    (folder / "customers.csv").write_text("\n".join(customers) + "\n")
    (folder / "transactions.csv").write_text("\n".join(transactions) + "\n")
    path = folder / "app.duckdb"
    con = store.connect(path)
    from clm_core import ingest

    ingest.load(store.create_dataset(con, "Tiers"),
                {"customers": folder / "customers.csv", "transactions": folder / "transactions.csv"})
    con.disconnect()
    return path


def test_losses_section_names_the_worst_segment_and_drills_down(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(_tier_database(tmp_path)))
    at = open_page(**{"p.losses_period": "month", "p.losses_by": "tier"})
    assert not at.exception and not at.error
    sentence = next(i.value for i in at.info if i.value.startswith("Worst segment"))
    assert sentence.startswith("Worst segment in 2024-06: tier = **big**. 50.0% of its 200 customers churned (100)")
    assert "10.7% in the rest (p < 0.001)" in sentence
    shown = losses_table(at).set_index("segment_label")
    june = shown[shown["period"] == "2024-06"]
    assert june["churned"].to_dict() == {"big": 100, "other": 40, "tiny": 3}
    assert june["churned_significant"].to_dict() == {"big": True, "other": True, "tiny": False}
    assert any("still running" in c.value for c in at.caption)  # June ends on the 25th here
    # the drill-down: the worst segment's lost customers become the segment filter
    assert at.selectbox(key="w.lifecycle.losses_drill.month.churned.tier").value == "big"
    at.button(key="w.lifecycle.losses_use_filter").click().run()
    assert not at.exception and not at.error
    assert at.session_state["clm_view"].segment.customer_list
    assert any(m.value.startswith("2024-06: 100 customers churned, 100.0% of the 100") for m in at.markdown)
    # German
    de = open_page(lang="de", **{"p.losses_period": "month", "p.losses_by": "tier"})
    assert not de.exception and not de.error
    assert "Wo verlieren wir Kunden?" in [h.value for h in de.subheader]
    assert any(i.value.startswith("Schlechtestes Segment im Zeitraum 2024-06: tier = **big**") for i in de.info)
