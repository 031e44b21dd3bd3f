"""Streamlit entry point: navigation, the sidebar, and the view state in the URL (UI only)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st

from clm_ui.inbox import watch as watch_inbox
from clm_ui import auth
from clm_ui.sidebar import sidebar
from clm_ui.state import t, update, view, write_url

st.set_page_config(page_title="Customer lifecycle", page_icon="assets/logo.svg", layout="wide")
watch_inbox()  # imports the files `python -m clm_core load` hands over (one thread per process)

#: slug -> (file, title key, icon)
PAGES = {
    "overview": ("views/overview.py", "page_overview", ":material/dashboard:"),
    "data": ("views/data.py", "page_data", ":material/upload_file:"),
    "funnel": ("views/funnel.py", "page_funnel", ":material/filter_alt:"),
    "cohorts": ("views/cohorts.py", "page_cohorts", ":material/grid_on:"),
    "lifecycle": ("views/lifecycle.py", "page_lifecycle", ":material/autorenew:"),
    "nps": ("views/nps.py", "page_nps", ":material/sentiment_satisfied:"),
    "value": ("views/value.py", "page_value", ":material/euro:"),
    "map": ("views/map.py", "page_map", ":material/map:"),
    "campaigns": ("views/campaigns.py", "page_campaigns", ":material/campaign:"),
}

ROOT = Path(__file__).resolve().parent
pages = {
    slug: st.Page(str(ROOT / file), title=t(title), icon=icon, url_path=slug, default=slug == "overview")
    for slug, (file, title, icon) in PAGES.items()
    if (ROOT / file).exists()
}
# A link names its page by ?page= (or inside a saved ?view=); otherwise the URL path decides.
requested = view().page if ("page" in st.query_params or "view" in st.query_params) else None
allowed = auth.gate()  # with sign-in configured: the sign-in button, or one line for a member of no workspace
navigation = st.navigation(list(pages.values()), position="sidebar" if allowed else "hidden")
if not allowed:
    st.stop()
current = next((slug for slug, page in pages.items() if page.url_path == navigation.url_path), "overview")
if "clm_started" not in st.session_state:
    st.session_state["clm_started"] = True
    if requested in pages and requested != current:
        st.switch_page(pages[requested])
update(page=current)
sidebar()
# The Excel workbook of this view, at the end of the sidebar: clm_ui.widgets.table collects the tables the page
# shows in this run, and the workbook is written from them when the button is clicked.
from clm_ui.widgets import workbook_download  # noqa: E402 - beside its one use

workbook_download()
try:
    navigation.run()
except Exception as exc:  # noqa: BLE001 - no traceback reaches a user: one line, the traceback in the log
    if os.environ.get("CLM_RAISE_ERRORS") == "1":  # the tests' setting: a page's error fails its test
        raise
    logging.getLogger("clm").exception("page %s failed", current)
    st.error(t("page_failed", kind=type(exc).__name__))
finally:
    write_url()
