"""Streamlit entry point: navigation, the sidebar, and the view state in the URL (UI only)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from clm_ui.sidebar import sidebar
from clm_ui.state import t, update, view, write_url

st.set_page_config(page_title="Customer lifecycle", page_icon="assets/logo.svg", layout="wide")

#: slug -> (file, title key, icon)
PAGES = {
    "overview": ("pages/overview.py", "page_overview", ":material/dashboard:"),
    "data": ("pages/data.py", "page_data", ":material/upload_file:"),
    "funnel": ("pages/funnel.py", "page_funnel", ":material/filter_alt:"),
    "cohorts": ("pages/cohorts.py", "page_cohorts", ":material/grid_on:"),
    "lifecycle": ("pages/lifecycle.py", "page_lifecycle", ":material/autorenew:"),
    "nps": ("pages/nps.py", "page_nps", ":material/sentiment_satisfied:"),
    "value": ("pages/value.py", "page_value", ":material/euro:"),
    "map": ("pages/map.py", "page_map", ":material/map:"),
}

ROOT = Path(__file__).resolve().parent
pages = {
    slug: st.Page(str(ROOT / file), title=t(title), icon=icon, url_path=slug, default=slug == "overview")
    for slug, (file, title, icon) in PAGES.items()
    if (ROOT / file).exists()
}
requested = view().page
navigation = st.navigation(list(pages.values()))
current = next((slug for slug, page in pages.items() if page.url_path == navigation.url_path), "overview")
if "clm_started" not in st.session_state:
    st.session_state["clm_started"] = True
    if requested in pages and requested != current:
        st.switch_page(pages[requested])
update(page=current)
sidebar()
try:
    navigation.run()
finally:
    write_url()
