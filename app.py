"""Streamlit entry point: navigation and the shared connection (UI only; logic lives in clm_core)."""

from __future__ import annotations

import streamlit as st

from clm_core import store

st.set_page_config(page_title="Customer lifecycle", page_icon="assets/logo.svg", layout="wide")


@st.cache_resource
def connection(path: str):
    """One database connection per process and database file."""
    return store.connect(path)


st.session_state["con"] = connection(store.database_path())
pages = [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True)]
st.navigation(pages).run()
