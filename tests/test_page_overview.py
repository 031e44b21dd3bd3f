"""The Overview page (AppTest): tables in the view's language, the stage bar's legend, the cards' deltas.
(Cards and the filter from the URL are covered in tests/test_app.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from clm_core import demo, ingest, store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """One demo database for the module (its metric cache is shared by the tests)."""
    paths = demo.write_demo(tmp_path_factory.mktemp("overview_demo"), n_customers=300, seed=3)
    path = tmp_path_factory.mktemp("overview") / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Demo"), paths)
    con.disconnect()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield path


def open_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = "overview"
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def shown(element) -> pd.DataFrame:
    """A table's cells as the browser shows them (the display values of its Styler)."""
    return dataframe_util.convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.styler.display_values)


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
