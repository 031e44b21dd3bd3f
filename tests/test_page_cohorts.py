"""The Cohorts page (AppTest, no browser): heatmap, averages, trend, breakdown and the cell drill-down
show clm_core's cohort numbers for the same choices."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest

from clm_core import ingest, store
from clm_core.i18n import format_currency
from clm_core.metrics import drilldown
from clm_core.metrics.cohorts import cohort_retention
from clm_core.metrics.common import resolve_as_of

from apptest import demo_database, page_opener, shown


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    return demo_database(tmp_path_factory.mktemp("cohorts_page"))


@pytest.fixture(scope="module")
def expected(demo_file):
    con = store.connect(demo_file)
    ds = store.list_datasets(con)[0]
    as_of = resolve_as_of(ds)
    month = cohort_retention(ds, as_of, "month")
    # a cell with a few active customers in period 1, for the drill-down
    cell = month[(month["period"] == 1) & (month["active_customers"] >= 2)].iloc[0]
    top = drilldown.top_values(ds, "channel", 5, as_of)
    first_channel = top["value"].iloc[0]
    out = {
        "month": month,
        "week": cohort_retention(ds, as_of, "week"),
        "cell": (cell["cohort"], int(cell["period"]), int(cell["active_customers"])),
        "cell_ids": sorted(drilldown.cohort_customers(ds, as_of, "month", cell["cohort"], 1).execute()["customer_id"]),
        "top": top,
        "channel_curve": drilldown.average_by_measure(
            cohort_retention(ds, as_of, "month", segment=drilldown.narrow(None, "channel", first_channel)), "customers"),
    }
    con.disconnect()
    return out


@pytest.fixture
def demo_db(demo_file, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(demo_file))
    return demo_file


open_page = page_opener("cohorts")


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def figure(at, index=0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def array(value):
    """A Plotly JSON array, plain or typed (``{"dtype", "bdata", "shape"}``)."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            data = data.reshape([int(s) for s in str(shape).split(",")])
        return data.astype(float)
    return np.array([[np.nan if v is None else v for v in row] for row in value], dtype=float)


def test_empty_database_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "empty.duckdb"))
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_heatmap_and_cards_show_clm_core_numbers(demo_db, expected):
    at = open_page()
    assert not at.exception
    month = expected["month"]
    heat = figure(at)["data"][0]
    z = array(heat["z"])
    cohorts = month["cohort"].unique().tolist()
    assert heat["y"] == cohorts
    assert np.allclose(z[:, 0], 1.0)  # k = 0 is 100 % for every cohort
    grid = month.pivot(index="cohort", columns="period", values="retention").reindex(cohorts).to_numpy()
    assert np.allclose(z, grid, equal_nan=True)
    # the partial period (the one containing T) is marked with '*': one cell per cohort, on its last period
    stars = {(cohorts[r], c) for r, row in enumerate(heat["text"]) for c, text in enumerate(row) if text.endswith("*")}
    partial = month[month["partial"]]
    assert stars == set(zip(partial["cohort"], partial["period"]))
    assert len(stars) == len(cohorts)
    assert metric(at, "Cohorts") == str(len(cohorts))
    sizes = month.groupby("cohort")["cohort_size"].first()
    assert metric(at, "Customers in cohorts") == f"{sizes.sum():,}"
    complete = month[(month["period"] == 1) & ~month["partial"]]
    avg1 = complete["active_customers"].sum() / complete["cohort_size"].sum()
    assert metric(at, "Average retention in period 1") == f"{100 * avg1:.1f}%"
    shown = at.dataframe[0].value
    assert shown["active_customers"].tolist() == month["active_customers"].tolist()
    assert any("partial" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 4  # heatmap, curves, lifetime value, trend


def test_period_measure_and_k_change_the_numbers(demo_db, expected):
    at = open_page(**{"p.cohort_period": "week", "p.cohort_measure": "revenue", "p.cohort_k": "2"})
    assert not at.exception
    week = expected["week"]
    assert metric(at, "Cohorts") == str(week["cohort"].nunique())
    heat = figure(at)["data"][0]
    shown = heat["y"]
    assert len(shown) == 52 and shown == week["cohort"].unique().tolist()[-52:]
    grid = (week[week["cohort"].isin(shown)].pivot(index="cohort", columns="period", values="revenue_retention")
            .reindex(shown).to_numpy())
    assert np.allclose(array(heat["z"]), grid, equal_nan=True)
    complete = week[(week["period"] == 2) & ~week["partial"]]
    avg2 = complete["active_customers"].sum() / complete["cohort_size"].sum()
    revenue = week[~week["partial"]]
    base = week[week["period"] == 0].set_index("cohort")["revenue"]
    at2 = revenue[revenue["period"] == 2]
    revenue2 = at2["revenue"].sum() / at2["cohort"].map(base).sum()  # size-weighted revenue retention
    assert metric(at, "Average revenue retention in period 2") == f"{100 * revenue2:.1f}%"
    assert round(revenue2, 3) != round(avg2, 3)
    trend = figure(at, 3)["data"][0]
    assert list(trend["x"]) == week.loc[week["period"] == 2, "cohort"].tolist()
    # switching the measure back to customers through the widget
    at.selectbox(key="w.cohorts.cohort_measure").set_value("customers").run()
    assert metric(at, "Average retention in period 2") == f"{100 * avg2:.1f}%"


def test_breakdown_draws_one_average_per_top_value(demo_db, expected):
    at = open_page(**{"p.cohort_breakdown": "channel", "p.cohort_top": "3"})
    assert not at.exception
    table = at.dataframe[1].value
    top3 = expected["top"]["value"].tolist()[:3]
    assert table["channel"].unique().tolist() == top3
    first = table[table["channel"] == top3[0]]
    want = expected["channel_curve"]
    assert first["period"].tolist() == want["period"].tolist()
    assert np.allclose(first["value"], want["value"])
    names = [trace.get("name") for trace in figure(at, 4)["data"]]
    assert names == ["All"] + top3


def test_cell_drill_down_lists_and_filters_its_customers(demo_db, expected):
    cohort, offset, active = expected["cell"]
    at = open_page(**{"p.cohort_cell": f"{cohort}:{offset}"})
    assert not at.exception
    assert at.selectbox(key="w.cohorts.cell_cohort").value == cohort
    members = at.dataframe[-1].value
    assert len(members) == active
    assert sorted(members["customer_id"]) == expected["cell_ids"]
    at.button(key="w.cohorts.use_filter").click().run()
    assert not at.exception
    assert at.session_state["clm_view"].segment.customer_list
    # the filtered view holds exactly those customers, all of one cohort, all active in period `offset`
    assert metric(at, "Cohorts") == "1"
    assert metric(at, "Customers in cohorts") == str(active)
    assert offset == 1 and metric(at, "Average retention in period 1") == "100.0%"


def test_german_labels(demo_db, expected):
    cohort, offset, _ = expected["cell"]
    at = open_page(lang="de", **{"p.cohort_cell": f"{cohort}:{offset}"})
    assert not at.exception
    assert at.title[0].value == "Kohorten"
    assert metric(at, "Kohorten") == str(expected["month"]["cohort"].nunique())
    assert at.selectbox(key="w.cohorts.cohort_period").value == "month"
    assert any("unvollständig" in c.value for c in at.caption)
    # the table in German: dates, percentages and euros the German way
    month, cells = expected["month"], shown(at.dataframe[0])
    first = month.iloc[1]
    # dates are drawn by the browser in the German format (a column format, not a Styler's text)
    start = json.loads(at.dataframe[0].proto.columns)["cohort_start"]["type_config"]
    assert (start["type"], start["format"]) == ("date", "DD.MM.YYYY")
    assert cells["cohort_start"].iloc[1] == str(first["cohort_start"])[:10]  # the value itself stays a date
    assert cells["retention"].iloc[1] == f"{100 * first['retention']:.1f} %".replace(".", ",")
    assert cells["revenue"].iloc[1] == format_currency(first["revenue"], "de")
    assert json.loads(at.dataframe[-1].proto.columns)["customer_id"]["label"] == "Kunde"
    # a grid of many periods shows bare numbers in its cells (the colour bar carries the %): they fit
    heat = figure(at)["data"][0]
    assert len(heat["x"]) > 16
    texts = [text for row in heat["text"] for text in row if text]
    assert texts and all("%" not in text for text in texts) and "100" in texts


def test_dataset_without_transactions(tmp_path, monkeypatch):
    path = tmp_path / "plain.duckdb"
    (tmp_path / "customers.csv").write_text("customer_id,channel\na,web\n", encoding="utf-8")
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Plain"), {"customers": tmp_path / "customers.csv"})
    con.disconnect()
    monkeypatch.setenv("CLM_DATABASE", str(path))
    at = open_page()
    assert not at.exception
    assert "transactions" in at.info[0].value
