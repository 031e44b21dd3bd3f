"""The sidebar: language, who is signed in (and their workspace), dataset, as-of date, the global segment
filter and saved views. Everything listed is the session's workspace's (``auth.principal()``)."""

from __future__ import annotations

import datetime as dt
import html
import re

import streamlit as st

from clm_core import bounds, store
from clm_core.config import STAGES
from clm_core.filters import SegmentFilter
from clm_core.i18n import LANGUAGES, field_label, month_label, tr
from clm_core.viewstate import ViewState
from clm_ui import auth, data
from clm_ui.page import current_dataset, default_as_of
from clm_ui.state import choose, relabel_widgets, replace_view, t, update, view

#: customer_index columns that make no sense as a value filter
NOT_FILTERABLE = {"customer_id", "implicit", "latitude", "longitude", "created_at", "first_seen"}
MAX_VALUES = 500

TEXT = {
    "copy_link": ("Copy link to this view", "Link zu dieser Ansicht kopieren"),
    "copy_view_link": ("Copy link", "Link kopieren"),
    "copied": ("Link copied", "Link kopiert"),
    "copy_failed": ("Could not copy: copy the address bar instead", "Kopieren nicht möglich: bitte die Adresszeile "
                    "kopieren"),
    "view_link_help": ("Opens the saved view in a new tab", "Öffnet die gespeicherte Ansicht in einem neuen Tab"),
}

#: a saved view's id (clm_core.store makes them so); nothing else reaches a link or the copy button's HTML
VIEW_ID = re.compile(r"[A-Za-z0-9_-]{8}")

#: The copy buttons' one script (constant: no user text): one click listener on the document (capturing:
#: React's handlers in the sidebar stop the bubbling) copies the address bar's URL (the view; app.py
#: mirrors it there every run) or a saved view's link (the app's root with ?view=<id>, resolved against the
#: address bar) to the clipboard. navigator.clipboard needs a secure context (https, localhost); elsewhere
#: a hidden textarea and execCommand("copy") do it. The button shows "✓ Link copied" for 2.5 s.
_COPY_SCRIPT = """<script>
(() => {
  if (window.__clmCopy) return;
  window.__clmCopy = true;
  const fallback = (text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  };
  const copy = (text) => (navigator.clipboard && window.isSecureContext)
    ? navigator.clipboard.writeText(text).catch(() => fallback(text)) : fallback(text);
  const show = (button, label) => {
    button.textContent = label;
    clearTimeout(button.__clmTimer);
    button.__clmTimer = setTimeout(() => { button.textContent = button.dataset.label; }, 2500);
  };
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button[data-clm-copy]");
    if (!button) return;
    let url = window.location.href;
    const id = button.dataset.clmView;
    if (id !== undefined) {
      if (!/^[A-Za-z0-9_-]{8}$/.test(id)) return;
      url = new URL("./?view=" + id, window.location.href).href;
    }
    copy(url).then(() => show(button, button.dataset.done), () => show(button, button.dataset.failed));
  }, true);
})();
</script>"""

_COPY_STYLE = """<style>
button[data-clm-copy] { font: inherit; font-size: 0.875rem; color: inherit; background: transparent;
  border: 1px solid rgba(128, 128, 128, 0.45); border-radius: 0.5rem; padding: 0.25rem 0.75rem;
  min-height: 2.25rem; cursor: pointer; }
button[data-clm-copy]:hover { border-color: currentColor; }
button[data-clm-copy]:active { opacity: 0.7; }
</style>"""


@st.cache_data(show_spinner=False, max_entries=256)
def _attribute_values_of(dataset_id: str, version: int, column: str) -> list[str]:
    index = data.dataset(dataset_id).table("customer_index")
    values = index.select(v=index[column].cast("string")).filter(lambda r: r.v.notnull()).distinct()
    return sorted(values.order_by("v").limit(MAX_VALUES).execute()["v"].tolist())


def _attribute_values(dataset: store.Dataset, column: str) -> list[str]:
    """The first MAX_VALUES values of a customer attribute, looked up once per dataset version."""
    return _attribute_values_of(dataset.id, dataset.version, column)


def _months(dataset: store.Dataset) -> list[str]:
    lo, hi = data.day_span(dataset)
    if lo is None or hi is None:
        return []
    months, year, month = [], lo.year, lo.month
    while (year, month) <= (hi.year, hi.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def attribute_label(name: str, lang: str) -> str:
    """A customer attribute for display: the canonical column's name in the language (Postleitzahl), an
    uploaded attribute under its header as the file had it."""
    return field_label(name, lang)


def month_option(value: str, lang: str) -> str:
    """A cohort month (YYYY-MM) of the filter for display: Okt 2025; the empty choice: any month."""
    if not value:
        return tr("any_month", lang)
    return month_label(dt.date(int(value[:4]), int(value[5:7]), 1), lang)


def segment_editor(dataset: store.Dataset) -> SegmentFilter:
    current = view().segment
    lang = view().lang  # bound now: a format function may be called after the run (by a test reading a box)
    index = dataset.table("customer_index")
    attributes = [c for c in index.columns if c not in NOT_FILTERABLE]
    stages_chosen = st.multiselect(t("stage"), STAGES, default=[s for s in current.stages if s in STAGES],
                                   format_func=lambda s: tr(s, lang), key="w.filter.stage",
                                   **choose(True, STAGES, t("all_values")))
    chosen_attrs = st.multiselect(t("attribute"), attributes, format_func=lambda a: attribute_label(a, lang),
                                  default=[a for a in current.attributes if a in attributes], key="w.filter.attrs",
                                  **choose(True, attributes))
    values = {}
    for attribute in chosen_attrs:
        options = _attribute_values(dataset, attribute)
        picked = st.multiselect(attribute_label(attribute, lang), options,
                                default=[v for v in current.attributes.get(attribute, ()) if v in options],
                                key=f"w.filter.values.{attribute}", **choose(True, options, t("all_values")))
        if picked:
            values[attribute] = tuple(picked)
    months = _months(dataset)
    cohort_from = cohort_to = None
    if months:
        options = [""] + months
        c1, c2 = st.columns(2)
        cohort_from = c1.selectbox(t("cohort_range"), options, index=options.index(current.cohort_from)
                                   if current.cohort_from in options else 0, key="w.filter.cohort_from",
                                   format_func=lambda v: month_option(v, lang)) or None
        cohort_to = c2.selectbox("…", options, index=options.index(current.cohort_to)
                                 if current.cohort_to in options else 0, key="w.filter.cohort_to",
                                 format_func=lambda v: month_option(v, lang)) or None
    customer_list = current.customer_list
    if customer_list:
        st.caption(t("list_filter"))
        if st.button(t("clear_list"), key="w.filter.clear_list"):
            customer_list = None
    return SegmentFilter(values, tuple(stages_chosen), cohort_from, cohort_to, customer_list)


def copy_button(label_key: str, view_id: str | None = None) -> None:
    """A button that copies the current view's full URL (``view_id`` None) or saved view ``view_id``'s full
    link to the clipboard, in the browser (no rerun). Its HTML holds the app's own texts and the checked id."""
    attributes = {"data-clm-copy": "view" if view_id else "page", "data-label": t(label_key, TEXT),
                  "data-done": "✓ " + t("copied", TEXT), "data-failed": t("copy_failed", TEXT)}
    if view_id is not None:
        if not VIEW_ID.fullmatch(view_id):
            return
        attributes["data-clm-view"] = view_id
    shown = " ".join(f'{name}="{html.escape(value, quote=True)}"' for name, value in attributes.items())
    button = f'<button type="button" {shown}>{html.escape(t(label_key, TEXT))}</button>'
    st.html(_COPY_STYLE + button + _COPY_SCRIPT, width="content", unsafe_allow_javascript=True)


def view_link(view_id: str) -> str:
    """A saved view's link as Markdown: ``?view=<id>`` at the app's root (relative to the address bar, so it
    holds behind a proxy's base path too); it opens in a new tab, a session of its own."""
    if not VIEW_ID.fullmatch(view_id):
        return ""
    return f"[`?view={view_id}`](./?view={view_id} \"{t('view_link_help', TEXT)}\")"


def saved_views() -> None:
    """Save the view; the workspace's saved views (open; rename and delete for their owner and admins)."""
    con = data.root()
    acting = auth.principal()
    with st.form("save_view", clear_on_submit=True, border=False):
        name = st.text_input(t("view_name"), key="w.save.name")
        if st.form_submit_button(t("save_view")) and name.strip():
            try:
                saved = store.save_view(con, name, view().to_query_params(), acting)
                st.session_state["clm_saved_id"] = saved.id
            except (store.AccessDenied, KeyError) as exc:
                st.error(auth.denied_text(exc))
    for saved in store.list_views(con, acting):
        with st.expander(auth.md(saved.name)):
            st.markdown(view_link(saved.id))
            copy_button("copy_view_link", saved.id)
            if saved.owner and saved.owner != acting.email:
                st.caption(auth.email_md(saved.owner))
            mine = store.may_change_view(con, saved, acting)
            c1, c2 = st.columns(2)
            if c1.button(t("open"), key=f"w.open.{saved.id}"):
                replace_view(ViewState.from_query_params(saved.params))
                st.rerun()
            if not mine:
                continue
            try:
                if c2.button(t("delete"), key=f"w.delete.{saved.id}"):
                    store.delete_view(con, saved.id, acting)
                    st.rerun()
                new_name = st.text_input(t("rename"), value=saved.name, key=f"w.rename.{saved.id}")
                if new_name.strip() and new_name != saved.name:
                    store.rename_view(con, saved.id, new_name, acting)
                    st.rerun()
            except (store.AccessDenied, KeyError) as exc:
                st.error(auth.denied_text(exc))


def select_dataset(dataset_id: str | None) -> None:
    """Make ``dataset_id`` the view's and the sidebar's dataset, as of its latest date. Call from a callback only.

    The sidebar's selectbox keeps its own widget value (in the browser too), so updating
    the view alone would be undone by the next interaction; a callback runs before that
    widget exists in the run and may set it.
    """
    update(dataset=dataset_id, as_of=None)
    st.session_state.pop("w.as_of", None)
    if dataset_id is None:
        st.session_state.pop("w.dataset", None)
        return
    st.session_state["w.dataset"] = dataset_id
    try:
        dataset = store.get_dataset(data.connection(), dataset_id, auth.principal())
    except KeyError:  # deleted meanwhile, or another workspace's
        return
    if dataset.has("customer_index"):  # the as-of date widget would keep the previous dataset's date
        st.session_state["w.as_of"] = default_as_of(dataset)


def unknown_dataset() -> None:
    """A link's dataset that is not in the session's workspace (another workspace's, or deleted): one line
    above the page, and the workspace's first dataset instead."""
    wanted = view().dataset
    if wanted and wanted not in {d.id for d in store.list_datasets(data.connection(), auth.principal())}:
        st.warning(t("link_dataset", auth.TEXT))
        update(dataset=None, as_of=None)
        st.session_state.pop("w.dataset", None)
        st.session_state.pop("w.as_of", None)


def sidebar() -> None:
    unknown_dataset()
    with st.sidebar:
        st.image("assets/logo.svg", width=48)
        langs = list(LANGUAGES)
        lang = st.selectbox(t("language"), langs, index=langs.index(view().lang), format_func=LANGUAGES.get,
                            key="w.lang")
        if lang != view().lang:  # switched: every widget of the page shows its value in the new language now
            update(lang=lang)
            relabel_widgets(keep=("w.lang",))
        update(lang=lang)
        auth.sidebar_panel()
        datasets = store.list_datasets(data.connection(), auth.principal())
        if not datasets:
            return
        dataset = current_dataset(view())
        ids = [d.id for d in datasets]
        names = {d.id: d.name for d in datasets}
        # A value set through session state (select_dataset) must not meet a default as well.
        if st.session_state.get("w.dataset") not in ids:  # deleted meanwhile (another session)
            st.session_state.pop("w.dataset", None)
        preset = {} if "w.dataset" in st.session_state else {"index": ids.index(dataset.id)}
        chosen = st.selectbox(t("dataset"), ids, format_func=names.get, key="w.dataset", **preset)
        if chosen != dataset.id:  # another dataset: its own latest date, not the previous one's
            update(as_of=None)
            st.session_state.pop("w.as_of", None)
        update(dataset=chosen)
        dataset = next(d for d in datasets if d.id == chosen)
        if not dataset.has("customer_index"):
            return
        default = default_as_of(dataset)
        first, last = data.day_span(dataset)
        first, last = first or default, max(last or default, default)
        current = dt.date.fromisoformat(view().as_of) if view().as_of else default
        current = bounds.clamp_date(current, first, last)
        if not first <= st.session_state.get("w.as_of", current) <= last:
            st.session_state["w.as_of"] = current  # a picker cannot hold a date outside its range
        preset = {} if "w.as_of" in st.session_state else {"value": current}
        as_of = st.date_input(t("as_of"), key="w.as_of", **preset, min_value=first, max_value=last,
                              format="DD.MM.YYYY" if view().lang == "de" else "YYYY-MM-DD")
        update(as_of=None if as_of == default else as_of.isoformat())
        with st.expander(t("filter"), expanded=not view().segment.is_empty()):
            update(segment=segment_editor(dataset))
        copy_button("copy_link")
        with st.expander(t("saved_views")):
            saved_views()
