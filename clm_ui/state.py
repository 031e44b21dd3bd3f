"""The view state of a browser session.

Streamlit drops query parameters when the user changes page, so the state lives
in ``st.session_state``: initialised from ``st.query_params`` (or a saved view's
``?view=<id>``) on a session's first run, and written back to the URL on every run.
"""

from __future__ import annotations

import streamlit as st

from clm_core import store
from clm_core.i18n import tr
from clm_core.viewstate import ViewState

_KEY = "clm_view"


def _url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}


def view() -> ViewState:
    """This session's view state (initialised from the URL on the first run)."""
    if _KEY not in st.session_state:
        params = _url_params()
        saved = params.get("view")
        if saved:
            from clm_ui.data import root

            found = store.get_view(root(), saved[0])
            if found is not None:
                params = found.params
        st.session_state[_KEY] = ViewState.from_query_params(params)
    return st.session_state[_KEY]


def update(**changes) -> ViewState:
    st.session_state[_KEY] = view().with_(**changes)
    return st.session_state[_KEY]


def set_param(name: str, value) -> ViewState:
    st.session_state[_KEY] = view().with_param(name, value)
    return st.session_state[_KEY]


def replace_view(state: ViewState) -> None:
    """Open another view (a saved one): widgets are re-initialised from it."""
    for key in [k for k in st.session_state.keys() if str(k).startswith("w.")]:
        del st.session_state[key]
    st.session_state[_KEY] = state


def write_url() -> None:
    """Mirror the state into the address bar, so a copied link reproduces the view."""
    wanted = view().to_query_params()
    if _url_params() != wanted:
        st.query_params.from_dict(wanted)


def stop() -> None:
    """``st.stop()`` after writing the URL (a stopped run would not reach app.py's own write)."""
    write_url()
    st.stop()


def t(key: str, table=None, **values) -> str:
    """Translate ``key`` into the session's language."""
    return tr(key, view().lang, table, **values)


# ----------------------------------------------------------------- widgets bound to page parameters

def param_select(label: str, name: str, options: list, default=None, format_func=str, **kwargs):
    """A selectbox whose value is the page parameter ``name``."""
    current = view().param(name)
    options = list(options)
    keys = [str(o) for o in options]
    index = keys.index(current) if current in keys else (options.index(default) if default in options else 0)
    value = st.selectbox(label, options, index=index, format_func=format_func, key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, value)
    return value


def param_multiselect(label: str, name: str, options: list, default=(), format_func=str, **kwargs):
    current = [v for v in view().param_list(name, default) if v in [str(o) for o in options]]
    chosen = [o for o in options if str(o) in current]
    value = st.multiselect(label, options, default=chosen, format_func=format_func, key=f"w.{view().page}.{name}",
                           **kwargs)
    set_param(name, [str(v) for v in value] if value else None)
    return value


def param_number(label: str, name: str, default: int, min_value: int = 0, max_value: int | None = None, **kwargs):
    try:
        current = int(view().param(name, default))
    except (TypeError, ValueError):
        current = default
    if max_value is not None:
        current = min(current, max_value)
    value = st.number_input(label, min_value=min_value, max_value=max_value, value=max(current, min_value), step=1,
                            key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, None if value == default else int(value))
    return int(value)


def param_float(label: str, name: str, default: float, min_value: float, max_value: float, step: float,
                decimals: int = 1, **kwargs) -> float:
    """A number input with decimals bound to the page parameter ``name`` (absent while it is the default)."""
    try:
        current = float(view().param(name, default))
    except (TypeError, ValueError):
        current = default
    value = st.number_input(label, min_value=min_value, max_value=max_value, step=step, format=f"%.{decimals}f",
                            value=min(max(current, min_value), max_value), key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, None if value == default else f"{value:g}")
    return float(value)


def param_text(label: str, name: str, default: str = "", **kwargs) -> str:
    value = st.text_input(label, value=view().param(name, default), key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, value or None)
    return value
