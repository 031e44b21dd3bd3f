"""The Funnel page (AppTest, no browser): numbers equal clm_core's funnel for the same choices."""

from __future__ import annotations

import json

import pytest

from clm_core import ingest, store
from clm_core.i18n import format_number, format_percent
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.funnel import DEFAULT_STEPS, Exclusion, Step, dropped_customers, funnel

from apptest import demo_database, page_opener, shown


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    """One demo database for the module (the pages only read it; a drill-down list adds rows to clm_lists)."""
    return demo_database(tmp_path_factory.mktemp("funnel_page"))


@pytest.fixture(scope="module")
def expected(demo_file):
    """clm_core's answers on the same data, computed before the app opens the file."""
    con = store.connect(demo_file)
    ds = store.list_datasets(con)[0]
    as_of = resolve_as_of(ds)
    events = ["visit", "lead", "purchase"]
    out = {
        "default": funnel(ds, DEFAULT_STEPS, as_of),
        "window1": funnel(ds, DEFAULT_STEPS, as_of, window_days=1),
        "events": funnel(ds, events, as_of),
        "excluded": funnel(ds, events, as_of, exclusions=[Exclusion("trial", 1, 3)]),
        "limited": funnel(ds, [Step("visit"), Step("lead", 1), Step("purchase")], as_of),
        "by_channel": funnel(ds, DEFAULT_STEPS, as_of, breakdown="channel"),
        "dropped2": dropped_customers(ds, DEFAULT_STEPS, 2, as_of),
    }
    con.disconnect()
    return out


@pytest.fixture
def demo_db(demo_file, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(demo_file))
    return demo_file


open_page = page_opener("funnel")


def funnel_table(at):
    return at.dataframe[0].value


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_empty_database_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "empty.duckdb"))
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_default_funnel_equals_clm_core(demo_db, expected):
    at = open_page()
    assert not at.exception
    want = expected["default"]
    shown = funnel_table(at)
    assert shown["step"].tolist() == ["1. Created", "2. First purchase", "3. Repeat purchase", "4. Promoter"]
    assert shown["customers"].tolist() == want["customers"].tolist()
    assert shown["drop_off"].tolist() == want["drop_off"].tolist()
    assert metric(at, "Entered the funnel") == f"{want['customers'].iloc[0]:,}"
    assert metric(at, "Reached the last step") == f"{want['customers'].iloc[-1]:,}"
    assert len(at.get("plotly_chart")) == 2  # the funnel and the time between steps
    assert not at.info  # the demo has every kind of step
    # the drop-off list defaults to the step that loses most customers, and is as long as that drop-off
    worst = int(want["drop_off"].idxmax()) + 1
    assert at.selectbox(key="w.funnel.funnel_drop").value == worst
    assert len(at.dataframe[1].value) == want["drop_off"].iloc[worst - 1]


def test_a_shorter_window_lowers_later_steps(demo_db, expected):
    at = open_page(**{"p.funnel_window": "1"})
    assert not at.exception
    shown = funnel_table(at)["customers"].tolist()
    assert shown == expected["window1"]["customers"].tolist()
    full = expected["default"]["customers"].tolist()
    assert shown[0] == full[0] and all(a <= b for a, b in zip(shown, full)) and shown[2] < full[2]
    # and the number input drives the same parameter
    at.number_input(key="w.funnel.funnel_window").set_value(365).run()
    assert funnel_table(at)["customers"].tolist() == full


def test_event_steps_exclusion_and_limit_from_the_url(demo_db, expected):
    steps = ["visit", "lead", "purchase"]
    at = open_page(**{"p.funnel_steps": steps})
    assert not at.exception
    assert funnel_table(at)["step"].tolist() == ["1. visit (event)", "2. lead (event)", "3. purchase (event)"]
    plain = funnel_table(at)["customers"].tolist()
    assert plain == expected["events"]["customers"].tolist()

    at = open_page(**{"p.funnel_steps": steps, "p.funnel_exclude": "1:3:trial"})
    assert not at.exception
    excluded = funnel_table(at)["customers"].tolist()
    assert excluded == expected["excluded"]["customers"].tolist()
    assert excluded[0] < plain[0]
    assert any("trial between step 1 and step 3" in m.value for m in at.markdown)

    at = open_page(**{"p.funnel_steps": steps, "p.funnel_limits": "2:1"})
    assert not at.exception
    limited = funnel_table(at)["customers"].tolist()
    assert limited == expected["limited"]["customers"].tolist()
    assert limited[1] < plain[1]
    assert at.number_input(key="w.funnel.limit.2.lead").value == 1


def test_exclusions_are_added_and_removed_with_the_widgets(demo_db, expected):
    at = open_page(**{"p.funnel_steps": ["visit", "lead", "purchase"]})
    assert funnel_table(at)["customers"].tolist() == expected["events"]["customers"].tolist()
    at.selectbox(key="w.funnel.exclude.event").set_value("trial").run()
    at.selectbox(key="w.funnel.exclude.from").set_value(1).run()
    at.selectbox(key="w.funnel.exclude.to.1").set_value(3).run()
    at.button(key="w.funnel.exclude.add").click().run()
    assert not at.exception
    assert at.session_state["clm_view"].param_list("funnel_exclude") == ("1:3:trial",)
    assert funnel_table(at)["customers"].tolist() == expected["excluded"]["customers"].tolist()
    at.button(key="w.funnel.exclude.remove.0").click().run()
    assert not at.exception
    assert funnel_table(at)["customers"].tolist() == expected["events"]["customers"].tolist()


def test_breakdown_splits_the_first_step(demo_db, expected):
    at = open_page(**{"p.funnel_breakdown": "channel"})
    assert not at.exception
    split = at.dataframe[1].value
    want = expected["by_channel"]
    assert sorted(split["breakdown"].unique()) == sorted(want["breakdown"].unique())
    first = split[split["step"] == "1. Created"]
    assert first["customers"].sum() == expected["default"]["customers"].iloc[0]
    assert split["customers"].tolist() == want["customers"].tolist()


def test_dropped_customers_become_a_segment_filter(demo_db, expected):
    at = open_page(**{"p.funnel_drop": "2"})
    assert not at.exception
    dropped = at.dataframe[1].value
    want = expected["dropped2"]
    assert sorted(dropped["customer_id"]) == sorted(want["customer_id"])
    assert len(dropped) == expected["default"]["drop_off"].iloc[1]
    at.button(key="w.funnel.use_filter").click().run()
    assert not at.exception
    assert at.session_state["clm_view"].segment.customer_list
    # everyone left entered the funnel (created) and none of them made a first purchase
    assert metric(at, "Entered the funnel") == f"{len(want):,}"
    assert funnel_table(at)["customers"].tolist()[1:] == [0, 0, 0]


def test_german_labels(demo_db, expected):
    at = open_page(lang="de")
    assert not at.exception
    assert at.title[0].value == "Trichter"
    assert metric(at, "In den Trichter eingetreten") == f"{expected['default']['customers'].iloc[0]:,}".replace(",", ".")
    assert funnel_table(at)["step"].tolist()[1] == "2. Erstkauf"
    # the table in German: percentages with a comma, no median before step 1, day medians with one decimal
    cells, want = shown(at.dataframe[0]), expected["default"]
    assert cells["conversion_from_start"].iloc[0] == "100,0 %"
    assert cells["conversion_from_previous"].iloc[1] == format_percent(want["conversion_from_previous"].iloc[1], "de")
    assert cells["median_days_from_previous"].iloc[0] == "–"
    assert cells["median_days_from_previous"].iloc[1] == format_number(want["median_days_from_previous"].iloc[1], "de", 1)
    assert json.loads(at.dataframe[1].proto.columns)["customer_id"]["label"] == "Kunde"
    # the chart's legend sits above the bars, clear of the axis title below them
    legend = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["legend"]
    assert legend["y"] >= 1 and legend["yanchor"] == "bottom"


def test_steps_without_their_data_are_not_offered(tmp_path, monkeypatch):
    path = tmp_path / "plain.duckdb"
    (tmp_path / "customers.csv").write_text("customer_id,channel\na,web\nb,shop\n", encoding="utf-8")
    (tmp_path / "transactions.csv").write_text(
        "customer_id,ordered_at,amount\na,2024-01-01,10\na,2024-02-01,10\nb,2024-01-05,10\n", encoding="utf-8")
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Plain"),
                {"customers": tmp_path / "customers.csv", "transactions": tmp_path / "transactions.csv"})
    con.disconnect()
    monkeypatch.setenv("CLM_DATABASE", str(path))
    at = open_page()
    assert not at.exception
    info = at.info[0].value
    assert "Created on" in info and "NPS" in info and "events" in info  # the field by its display name
    assert at.multiselect(key="w.funnel.funnel_steps").options == ["First purchase", "Repeat purchase"]
    assert funnel_table(at)["customers"].tolist() == [2, 1]
    assert "events file" in at.caption[-1].value or any("events file" in c.value for c in at.caption)
