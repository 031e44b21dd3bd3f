"""Helpers for the Streamlit AppTest page tests (tests/test_page_*.py, tests/test_app.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from clm_core import demo, ingest, store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page: str, timeout: int = 120, **params) -> AppTest:
    """Run the app once on ``page`` with the given query parameters (``p.<name>``, ``f.<attr>``, …)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params["page"] = page
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def page_opener(page: str, timeout: int = 120):
    """``open_page`` bound to one page: ``open_page = page_opener("nps")``."""
    return partial(open_page, page, timeout)


def demo_database(folder: Path, n_customers: int = 300, seed: int = 3) -> Path:
    """A DuckDB file in ``folder`` with a seeded demo loaded as the dataset "Demo"; returns its path."""
    path = folder / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Demo"), demo.write_demo(folder / "demo", n_customers=n_customers, seed=seed))
    con.disconnect()
    return path


def shown(element) -> pd.DataFrame:
    """A table's cells as the browser shows them (the display values of its Styler)."""
    return dataframe_util.convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.styler.display_values)


def clicked(monkeypatch):
    """Record the deferred downloads of the next AppTest run: ``click(button)`` then does what a click in
    the browser does (Streamlit runs the button's callable) and returns the file (its ``content`` and the
    download's ``filename``)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    managers = []
    original = MediaFileManager.add_deferred

    def recording(self, *args, **kwargs):
        managers.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)

    def click(button):
        manager = managers[-1]
        url = manager.execute_deferred(button.proto.deferred_file_id)
        return manager._storage.get_file(url.rsplit("/", 1)[-1])

    return click
