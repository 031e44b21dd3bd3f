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


def test_german_tables_show_percentages_and_one_localised_stage(demo_db):
    at = open_page(lang="de")
    assert not at.exception
    framework, history = at.dataframe
    raw = framework.value
    assert shown(framework)["share"].tolist() == [f"{100 * s:.1f} %".replace(".", ",") for s in raw["share"]]
    assert columns(framework)["share"]["label"] == "Anteil"
    # the history shows the stage once, in German; the CSV keeps the canonical key beside it
    assert columns(history)["stage"]["hidden"] is True
    assert "Abgewandert" in history.value["stage_label"].tolist()
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
