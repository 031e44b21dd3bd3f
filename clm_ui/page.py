"""What every page starts with: the dataset, as-of date, filter and configuration of the view."""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass

import streamlit as st

from clm_core import bounds, ingest, store
from clm_core.config import FRAMEWORKS, LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.i18n import format_date, table_label
from clm_core.metrics.common import resolve_as_of
from clm_core.viewstate import ViewState
from clm_ui import data
from clm_ui.state import TEXT as STATE_TEXT
from clm_ui.state import show_notes, shown_value, stop, t, update, view

THRESHOLDS = ("new_days", "at_risk_days", "churn_days", "loyal_orders")


@dataclass(frozen=True)
class Context:
    view: ViewState
    dataset: store.Dataset
    as_of: dt.date
    segment: SegmentFilter
    config: LifecycleConfig

    def metric(self, name: str, **kwargs):
        """A cached metric of this view (as-of date, filter and configuration applied)."""
        if "as_of" in inspect.signature(data.FUNCTIONS[name]).parameters and name != "stage_migration":
            kwargs.setdefault("as_of", self.as_of)
        return data.metric(name, self.dataset, self.segment, self.config, **kwargs)


def config_from_view(state: ViewState) -> LifecycleConfig:
    """Framework and thresholds from the view's parameters, defaults for what is missing or invalid
    (outside the bounds declared in :data:`clm_core.bounds.PARAMS`)."""
    values = {}
    for name in THRESHOLDS:
        raw = state.param(name)
        if raw is not None and bounds.PARAMS[name].accepts(raw):
            values[name] = bounds.PARAMS[name].parse(raw)
    framework = state.param("framework")
    if framework in FRAMEWORKS:
        values["framework"] = framework
    try:
        return LifecycleConfig(**values)
    except ValueError:
        return LifecycleConfig(framework=values.get("framework", LifecycleConfig().framework))


def current_dataset(state: ViewState) -> store.Dataset | None:
    """The view's dataset among those of the session's workspace (another workspace's is not there), else
    the workspace's first."""
    from clm_ui import auth

    datasets = store.list_datasets(data.connection(), auth.principal())
    if not datasets:
        return None
    chosen = next((d for d in datasets if d.id == state.dataset), None) or datasets[0]
    if (chosen.id, chosen.version) not in _CURRENT:
        # loaded by an older version: rebuild its derived tables once (upkeep, whatever the viewer's role)
        ingest.upgrade_derived(store.maintenance(chosen))
        _CURRENT.add((chosen.id, chosen.version))
    return chosen


_CURRENT: set[tuple[str, int]] = set()  # (dataset id, version) whose derived tables are up to date


def default_as_of(dataset: store.Dataset) -> dt.date:
    """The data's last day (``resolve_as_of``'s default), looked up once per dataset version."""
    return data.day_span(dataset)[1] or resolve_as_of(dataset, None)


def bounded_as_of(state: ViewState, dataset: store.Dataset) -> dt.date:
    """The view's as-of date within the data's first and last day (a warning when it had to be moved,
    e.g. a date picked outside them); the data's last day when there is none."""
    default = default_as_of(dataset)
    if not state.as_of:
        return default
    day = dt.date.fromisoformat(state.as_of)
    first, last = data.day_span(dataset)
    used = bounds.clamp_date(day, first, last or default)
    if used != day:
        lang = state.lang
        st.warning(t("clamped_date", STATE_TEXT, value=shown_value(state.as_of), first=format_date(first, lang)
                     if first else "–", last=format_date(last or default, lang), used=format_date(used, lang)))
        update(as_of=None if used == default else used.isoformat())
    return used


def context(require: tuple[str, ...] = ()) -> Context:
    """The page's context; stops the page with an explanation when there is nothing to show."""
    state = view()
    dataset = current_dataset(state)
    if dataset is None or not dataset.has("customer_index"):
        st.info(t("no_dataset"))
        stop()
    for table in require:
        if not dataset.has(table):
            st.info(t("missing_table", name=table_label(table, state.lang)))
            stop()
    show_notes()
    dataset = data.on_engine(dataset)
    as_of = bounded_as_of(state, dataset)
    ctx = Context(view(), dataset, as_of, state.segment, config_from_view(state))
    if not state.segment.is_empty():
        try:
            matched = ctx.metric("known_count")
        except ValueError as exc:
            st.warning(str(exc))
            stop()
        if matched == 0:
            st.warning(t("nobody"))
            stop()
    return ctx
