"""The Streamlit app runs on an empty database and on the demo data."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pathlib import Path

from clm_core import demo, ingest, store

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def database(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CLM_DATABASE", str(path))
    return path


def test_empty_database_explains_what_to_do(database):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_demo_data_shows_the_stage_distribution(database, tmp_path):
    paths = demo.write_demo(tmp_path / "demo", n_customers=300, seed=3)
    con = store.connect(database)
    ingest.load(store.create_dataset(con, "Demo"), paths)
    con.disconnect()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["customers"].sum() == 300 + 1  # one customer appears only in transactions
