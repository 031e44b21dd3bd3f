"""The view state of a browser session.

Streamlit drops query parameters when the user changes page, so the state lives
in ``st.session_state``: initialised from ``st.query_params`` (or a saved view's
``?view=<id>``) on a session's first run, and written back to the URL on every run.

Every value a link carries is bounded (DESIGN §5): the shared parameters and the as-of date are checked
when the state is read from the URL (:func:`view`), each page parameter by the widget helper that
declares it (``param_number(..., min_value=, max_value=)``; the lifecycle thresholds have their one
declaration in :data:`clm_core.bounds.PARAMS`). A refused value is a warning in the user's language and
the parameter's default is used; the as-of date is clamped to the data's first and last day instead.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import streamlit as st

from clm_core import bounds, store
from clm_core.config import FRAMEWORKS
from clm_core.i18n import format_date, format_number, tr
from clm_core.viewstate import PAGE_PREFIX, ViewState

_KEY = "clm_view"
_NOTES = "clm_notes"

TEXT = {
    "refused": ("The link's value {value} for {name} is not allowed (allowed: {low} to {high}); the default "
                "{default} is used instead.",
                "Der Wert {value} für {name} aus dem Link ist nicht zulässig (erlaubt: {low} bis {high}); "
                "stattdessen gilt der Standardwert {default}."),
    "refused_choice": ("The link's value {value} for {name} is not one of the choices; {default} is used "
                       "instead.",
                       "Der Wert {value} für {name} aus dem Link ist keine der Auswahlmöglichkeiten; "
                       "stattdessen gilt {default}."),
    "bad_date": ("The link's as-of date {value} is not a date (YYYY-MM-DD); the data's last day {used} is "
                 "used instead.",
                 "Der Stichtag {value} aus dem Link ist kein Datum (JJJJ-MM-TT); stattdessen gilt der letzte "
                 "Tag der Daten, {used}."),
    "no_view": ("The saved view {value} of the link does not exist (or belongs to another workspace); the "
                "default view is shown.",
                "Die gespeicherte Ansicht {value} aus dem Link gibt es nicht (oder sie gehört zu einem anderen "
                "Arbeitsbereich); die Standardansicht wird gezeigt."),
    "clamped_date": ("The as-of date {value} lies outside the data (first day {first}, last day {last}); "
                     "{used} is used instead.",
                     "Der Stichtag {value} liegt außerhalb der Daten (erster Tag {first}, letzter Tag {last}); "
                     "stattdessen gilt {used}."),
}


def shown_value(value) -> str:
    """A value from a link as inline code: shortened, and only characters that cannot form markup."""
    text = str(value)
    text = re.sub(r"[^0-9A-Za-z.:+\- ]", "?", text[:24]) + ("…" if len(text) > 24 else "")
    return f"`{text}`"


def note(key: str, **values) -> None:
    """Queue a warning (a key of :data:`TEXT`) for the page to show (:func:`show_notes`)."""
    notes = st.session_state.setdefault(_NOTES, [])
    if (key, values) not in notes:
        notes.append((key, values))


def show_notes() -> None:
    """Show the queued warnings once (from the page, so they survive the first run's page switch)."""
    for key, values in st.session_state.pop(_NOTES, []):
        st.warning(t(key, TEXT, **values))


def _number_text(value, lang: str) -> str:
    if isinstance(value, float) and not value.is_integer():
        return format_number(value, lang, 2 if abs(value) < 10 else 1)
    return format_number(value, lang)


def refuse(name: str, raw, bound: bounds.Bound | None = None, default=None, *, show: bool = True) -> None:
    """Warn that the link's value ``raw`` of parameter ``name`` is not allowed and ``default`` (a number, or
    the app's own text for it) is used; ``show=False`` queues the warning for :func:`show_notes`."""
    lang = view().lang
    shown_default = _number_text(default, lang) if isinstance(default, (int, float)) else str(default)
    values = dict(value=shown_value(raw), name=f"`{PAGE_PREFIX}{name}`",
                  default="`" + shown_default.replace("`", "'") + "`")
    if bound is None:
        key = "refused_choice"
    else:
        key = "refused"
        values.update(low=_number_text(bound.low, lang), high=_number_text(bound.high, lang))
    if show:
        st.warning(t(key, TEXT, **values))
    else:
        note(key, **values)


def _checked(state: ViewState, raw_as_of) -> ViewState:
    """``state`` with the shared parameters bounded (refused ones removed) and the as-of date within the
    data's days; each change queued as a note."""
    for name, bound in bounds.PARAMS.items():
        raw = state.param(name)
        if raw is not None and not bound.accepts(raw):
            from clm_core.config import LifecycleConfig

            refuse(name, raw, bound, getattr(LifecycleConfig(), name), show=False)
            state = state.with_param(name, None)
    framework = state.param("framework")
    if framework is not None and framework not in FRAMEWORKS:
        refuse("framework", framework, None, "5-phase journey", show=False)
        state = state.with_param("framework", None)
    if raw_as_of is None:
        return state
    from clm_ui import data
    from clm_ui.page import current_dataset

    dataset = current_dataset(state)
    if dataset is None or not dataset.has("customer_index"):
        return state
    first, last = data.day_span(dataset)
    if state.as_of is None:  # unparseable (ViewState dropped it)
        if last is not None:
            note("bad_date", value=shown_value(raw_as_of), used=format_date(last, state.lang))
        return state
    day = dt.date.fromisoformat(state.as_of)
    used = bounds.clamp_date(day, first, last)
    if used != day:
        note("clamped_date", value=shown_value(state.as_of), first=format_date(first, state.lang),
             last=format_date(last, state.lang), used=format_date(used, state.lang))
        state = state.with_(as_of=None if used == last else used.isoformat())
    return state


def _url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}


def view() -> ViewState:
    """This session's view state (initialised from the URL on the first run)."""
    if _KEY not in st.session_state:
        from clm_ui.auth import NOBODY, principal

        params = _url_params()
        acting = principal()
        if acting is NOBODY:  # not signed in (yet): the link's language only, nothing looked up or kept
            return ViewState.from_query_params(params)
        saved = params.get("view")
        if saved:
            from clm_ui.data import root

            found = store.get_view(root(), saved[0], acting)  # the session's workspace only
            if found is not None:
                params = found.params
            else:
                note("no_view", value=shown_value(saved[0]))
        state = ViewState.from_query_params(params)
        st.session_state[_KEY] = state  # what the checks below may read
        raw_as_of = params.get("asof")
        st.session_state[_KEY] = _checked(state, (raw_as_of or [None])[0] if isinstance(raw_as_of, list)
                                          else raw_as_of)
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
    st.session_state[_KEY] = _checked(state, state.as_of)


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


# ----------------------------------------------------------------- select boxes in the view's language

def choose(multi: bool = False, options=(), placeholder: str | None = None) -> dict:
    """Keyword arguments for ``st.selectbox`` / ``st.multiselect`` that keep Streamlit's English texts out:
    a placeholder in the view's language ("Auswählen …"; Streamlit writes "Choose options"), and for a
    multiselect no "Select all" entry (Streamlit cannot translate it; an empty filter means all anyway)."""
    text = placeholder or t("choose_options" if multi else "choose_option")
    if not list(options):
        text = t("no_options")
    return {"placeholder": text, "select_all": False} if multi else {"placeholder": text}


def relabel_widgets(keep: tuple[str, ...] = ()) -> None:
    """After a language switch: make the browser show every option widget's value in the new language in this
    same run.

    Streamlit's browser side keeps a select box's (radio's, multiselect's) value as the label it showed ("30
    days"); with the labels now German no option matches it, and it went on showing the English one until a
    reload. A value set through the session state is sent to the browser with the widget, formatted anew, so
    each kept widget value is set to itself. Buttons, uploads and editors (values that cannot be set) are
    left alone, as are the widgets of ``keep`` (already drawn in this run)."""
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    for key in list(st.session_state.keys()):
        if not str(key).startswith("w.") or key in keep:
            continue
        value = st.session_state[key]
        if value is None or isinstance(value, (bool, dict, UploadedFile)):
            continue  # buttons, checkboxes, editors, uploads (setting a button's value is an error)
        if isinstance(value, list) and any(isinstance(v, UploadedFile) for v in value):
            continue
        try:
            st.session_state[key] = value
        except Exception:  # noqa: BLE001 - a widget that refuses a value keeps its own
            continue


# ----------------------------------------------------------------- widgets bound to page parameters

def param_select(label: str, name: str, options: list, default=None, format_func=str, **kwargs):
    """A selectbox whose value is the page parameter ``name`` (a link's value that is not an option is
    refused with a warning)."""
    current = view().param(name)
    options = list(options)
    keys = [str(o) for o in options]
    fallback = options.index(default) if default in options else 0
    if current is not None and current not in keys:
        refuse(name, current, None, format_func(options[fallback]) if options else "")
    index = keys.index(current) if current in keys else fallback
    kwargs = {**choose(False, options), **kwargs}
    value = st.selectbox(label, options, index=index, format_func=format_func, key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, value)
    return value


def param_multiselect(label: str, name: str, options: list, default=(), format_func=str, **kwargs):
    current = [v for v in view().param_list(name, default) if v in [str(o) for o in options]]
    chosen = [o for o in options if str(o) in current]
    kwargs = {**choose(True, options), **kwargs}
    value = st.multiselect(label, options, default=chosen, format_func=format_func, key=f"w.{view().page}.{name}",
                           **kwargs)
    set_param(name, [str(v) for v in value] if value else None)
    return value


def param_bound(name: str, min_value=None, max_value=None, integer: bool = True) -> bounds.Bound:
    """The range of page parameter ``name``: its shared declaration (:data:`clm_core.bounds.PARAMS`)
    narrowed by the page's ``min_value``/``max_value``; every parameter needs both ends somewhere."""
    shared = bounds.PARAMS.get(name)
    low = min_value if shared is None else (shared.low if min_value is None else max(min_value, shared.low))
    high = max_value if shared is None else (shared.high if max_value is None else min(max_value, shared.high))
    if low is None or high is None:
        raise TypeError(f"page parameter {name!r} needs min_value and max_value (DESIGN §5: every input is "
                        "bounded)")
    return bounds.Bound(low, max(low, high), integer)


def bounded_param(name: str, bound: bounds.Bound, default, *, show: bool = True):
    """The view's value of page parameter ``name`` within ``bound``; ``default`` (after a warning) when the
    value is refused, ``default`` when absent."""
    raw = view().param(name)
    if raw is None:
        return default
    try:
        return bound.parse(raw)
    except bounds.OutOfBounds:
        refuse(name, raw, bound, default, show=show)
        return default


def param_number(label: str, name: str, default: int, min_value: int | None = None, max_value: int | None = None,
                 **kwargs) -> int:
    """A whole-number input bound to the page parameter ``name`` (absent while it is the default). Its range
    (``min_value``…``max_value``, or the shared declaration in :data:`clm_core.bounds.PARAMS`) bounds the
    widget and the link alike: a link's value outside it is refused with a warning."""
    bound = param_bound(name, min_value, max_value)
    default = int(min(max(default, bound.low), bound.high))
    current = bounded_param(name, bound, default)
    value = st.number_input(label, value=current, step=1, key=f"w.{view().page}.{name}", **bound.widget(),
                            **kwargs)
    value = bound.parse(value) if bound.accepts(value) else default
    set_param(name, None if value == default else int(value))
    return int(value)


def param_float(label: str, name: str, default: float, min_value: float, max_value: float, step: float,
                decimals: int = 1, **kwargs) -> float:
    """A number input with decimals bound to the page parameter ``name`` (absent while it is the default);
    a link's value outside ``min_value``…``max_value`` (or not finite) is refused with a warning."""
    bound = param_bound(name, min_value, max_value, integer=False)
    default = float(min(max(default, bound.low), bound.high))
    current = bounded_param(name, bound, default)
    value = st.number_input(label, step=step, format=f"%.{decimals}f", value=current,
                            key=f"w.{view().page}.{name}", **bound.widget(), **kwargs)
    value = bound.parse(value) if bound.accepts(value) else default
    set_param(name, None if value == default else f"{value:g}")
    return float(value)


def param_text(label: str, name: str, default: str = "", **kwargs) -> str:
    value = st.text_input(label, value=view().param(name, default), key=f"w.{view().page}.{name}", **kwargs)
    set_param(name, value or None)
    return value
