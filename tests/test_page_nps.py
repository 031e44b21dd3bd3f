"""The NPS page (AppTest): headline, months, segments with small samples, stage and value relations."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from clm_core import ingest, store
from clm_core.i18n import format_number
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.nps import nps
from clm_core.metrics.nps_relations import nps_by_stage, value_by_nps_group

from apptest import demo_database, page_opener
from apptest import shown as shown_cells


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """One demo database for the module (its metric cache is shared by the tests)."""
    path = demo_database(tmp_path_factory.mktemp("nps"))
    con = store.connect(path)
    dataset = store.list_datasets(con)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield dataset
    con.disconnect()


open_page = page_opener("nps")


def table(at: AppTest, column: str):
    return next(d for d in at.dataframe if column in d.value.columns)


def frame(at: AppTest, column: str):
    return table(at, column).value


def shown(at: AppTest, column: str) -> pd.DataFrame:
    """The cells of the table with ``column`` as the browser shows them."""
    return shown_cells(table(at, column))


def url(at: AppTest) -> dict:
    return at.session_state["clm_view"].to_query_params()


def headline(row, lang="en") -> str:
    return f"{format_number(row['nps'], lang, 1)} ± {format_number(row['margin_of_error'], lang, 1)}"


def test_empty_database_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "empty.duckdb"))
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_without_nps_file_the_page_says_what_to_upload(tmp_path, monkeypatch, demo_paths):
    path = tmp_path / "no_nps.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "No NPS"), {k: v for k, v in demo_paths.items() if k != "nps"})
    con.disconnect()
    monkeypatch.setenv("CLM_DATABASE", str(path))
    at = open_page()
    assert not at.exception
    assert "needs survey answers" in at.info[0].value and "Data page" in at.info[0].value


def test_page_shows_what_clm_core_computes(demo_db):
    at = open_page()
    assert not at.exception
    as_of = resolve_as_of(demo_db)
    overall = nps(demo_db, as_of).iloc[0]
    assert at.metric[0].label == "NPS"
    assert at.metric[0].value == headline(overall)
    assert at.metric[1].value == format_number(overall["answers"])
    assert at.metric[2].value == f"{100 * overall['promoters'] / overall['answers']:.1f}%"
    # by month: the table is clm_core's monthly NPS
    monthly = frame(at, "month")
    expected = nps(demo_db, as_of, by="month")
    assert monthly["month"].tolist() == expected["scope"].tolist()
    assert monthly["nps"].tolist() == pytest.approx(expected["nps"].tolist())
    assert monthly["answers"].sum() == overall["answers"]
    # a month with one answer (or only identical answers) has no margin of error: a dash, never "± 0"
    degenerate = (expected["margin_of_error"] == 0).to_numpy()
    assert degenerate.any() and (~degenerate).any()
    margins = shown(at, "month")["margin_of_error"]
    assert (margins[degenerate] == "–").all()
    assert all(m.startswith("± ") and m != "± 0.0" for m in margins[~degenerate])
    # by segment (default attribute "segment"); groups under 30 answers are flagged in a warning
    segments = frame(at, "segment")
    by_segment = nps(demo_db, as_of, by="segment")
    assert segments["answers"].tolist() == by_segment["answers"].tolist()
    small = by_segment[by_segment["too_small"]]
    assert len(small) >= 1
    for name, n in zip(small["scope"], small["answers"]):
        assert f"{name} ({n})" in at.warning[0].value
    big = by_segment[~by_segment["too_small"]]["scope"].tolist()
    assert all(f"{name} (" not in at.warning[0].value for name in big)
    # NPS by stage and value by answer group: the new clm_core functions on the same data
    stages = frame(at, "stage_label")
    assert stages["nps"].tolist() == pytest.approx(nps_by_stage(demo_db, as_of)["nps"].tolist())
    assert stages["answers"].sum() == overall["answers"]  # every answering customer has a stage
    groups = frame(at, "mean_purchase_days")
    expected_groups = value_by_nps_group(demo_db, as_of)
    assert groups["customers"].tolist() == expected_groups["customers"].tolist()
    assert groups["mean_historic_value"].tolist() == pytest.approx(expected_groups["mean_historic_value"].tolist())
    assert shown(at, "mean_purchase_days")["mean_historic_value"].tolist() == [
        f"€{v:,.2f}" for v in expected_groups["mean_historic_value"]]  # English money: €1,234.56
    assert len(at.get("plotly_chart")) == 5


def test_period_and_breakdown_params_change_the_numbers(demo_db):
    as_of = resolve_as_of(demo_db)
    at = open_page(**{"p.nps_period": "90", "p.nps_by": "country"})
    assert not at.exception
    recent = nps(demo_db, as_of, since=as_of - dt.timedelta(days=90)).iloc[0]
    everything = nps(demo_db, as_of).iloc[0]
    assert recent["answers"] < everything["answers"]
    assert at.metric[0].value == headline(recent)
    assert at.metric[1].value == format_number(recent["answers"])
    countries = frame(at, "country")
    assert countries["answers"].sum() == recent["answers"]
    # the widgets: all answers again, broken down by channel
    at.selectbox(key="w.nps.nps_period").set_value(0).run()
    at.selectbox(key="w.nps.nps_by").set_value("channel").run()
    assert not at.exception
    assert at.metric[0].value == headline(everything)
    assert frame(at, "channel")["answers"].tolist() == nps(demo_db, as_of, by="channel")["answers"].tolist()
    assert url(at)["p.nps_by"] == ["channel"] and url(at)["p.nps_period"] == ["0"]


def test_german_labels_and_numbers(demo_db):
    at = open_page(lang="de")
    assert not at.exception
    overall = nps(demo_db, resolve_as_of(demo_db)).iloc[0]
    assert at.metric[1].label == "Antworten"
    assert at.metric[2].label == "Promotoren (9–10)"
    assert at.metric[0].value == headline(overall, "de") and "," in at.metric[0].value
    assert at.subheader[0].value == "NPS nach Monat"
    money = shown(at, "mean_purchase_days")["mean_historic_value"]
    assert all(re.fullmatch(r"\d{1,3}(\.\d{3})*,\d\d €", m) for m in money), money.tolist()
    assert all(re.fullmatch(r"\d{1,3},\d %", m) for m in shown(at, "mean_purchase_days")["active_share"])


def test_answer_group_becomes_the_segment_filter(demo_db):
    at = open_page()
    at.selectbox(key="w.nps.drill_group").set_value("detractor")
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception
    assert "list" in url(at)
    # only customers whose latest answer is a detractor's remain
    groups = frame(at, "mean_purchase_days").set_index("group")["customers"]
    before = value_by_nps_group(demo_db, resolve_as_of(demo_db)).set_index("group")["customers"]
    assert groups["detractor"] == before["detractor"]
    assert groups.drop("detractor").sum() == 0


def test_as_of_before_the_first_answer_explains_instead_of_failing(demo_db):
    at = open_page(asof="2020-01-01")
    assert not at.exception
    assert "No NPS answers" in at.info[0].value


def test_the_filter_button_is_as_wide_as_its_label_in_both_languages(demo_db, monkeypatch):
    """"Anwenden" was cut off ("Anw…") in a fixed quarter of a third of the page: the button now sits beside the
    select box in a horizontal row that wraps, as wide as its label, in no column."""
    widths = {}
    real = streamlit.form_submit_button

    def submit(label, *args, **kwargs):
        widths[label] = kwargs.get("width")
        return real(label, *args, **kwargs)

    monkeypatch.setattr(streamlit, "form_submit_button", submit)
    for lang, label, box in (("de", "Anwenden", "Als Segmentfilter verwenden"), ("en", "Apply", "Use as segment filter")):
        at = open_page(lang=lang)
        assert not at.exception
        assert widths[label] == "content"
        row = at.container(key="nps_drill_row")
        assert [b.label for b in row.button] == [label]
        assert [s.label for s in row.selectbox] == [box]
        assert row.proto.flex_container.wrap  # too narrow a page: the button goes under the select box
        assert not any(label in [b.label for b in column.button] for column in at.columns)
