"""What every page starts with: the dataset, as-of date, filter and configuration of the view."""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass

import streamlit as st

from clm_core import ingest, store
from clm_core.config import FRAMEWORKS, LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics.common import resolve_as_of
from clm_core.viewstate import ViewState
from clm_ui import data
from clm_ui.state import stop, t, view

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
    """Framework and thresholds from the view's parameters, defaults for what is missing or invalid."""
    values = {}
    for name in THRESHOLDS:
        try:
            values[name] = int(state.param(name))
        except (TypeError, ValueError):
            pass
    framework = state.param("framework")
    if framework in FRAMEWORKS:
        values["framework"] = framework
    try:
        return LifecycleConfig(**values)
    except ValueError:
        return LifecycleConfig(framework=values.get("framework", LifecycleConfig().framework))


def current_dataset(state: ViewState) -> store.Dataset | None:
    datasets = store.list_datasets(data.connection())
    if not datasets:
        return None
    chosen = next((d for d in datasets if d.id == state.dataset), None) or datasets[0]
    if (chosen.id, chosen.version) not in _CURRENT:
        ingest.upgrade_derived(chosen)  # loaded by an older version: rebuild its derived tables once
        _CURRENT.add((chosen.id, chosen.version))
    return chosen


_CURRENT: set[tuple[str, int]] = set()  # (dataset id, version) whose derived tables are up to date


def default_as_of(dataset: store.Dataset) -> dt.date:
    """The data's last day (``resolve_as_of``'s default), looked up once per dataset version."""
    return data.day_span(dataset)[1] or resolve_as_of(dataset, None)


def context(require: tuple[str, ...] = ()) -> Context:
    """The page's context; stops the page with an explanation when there is nothing to show."""
    state = view()
    dataset = current_dataset(state)
    if dataset is None or not dataset.has("customer_index"):
        st.info(t("no_dataset"))
        stop()
    for table in require:
        if not dataset.has(table):
            st.info(t("missing_table", name=table))
            stop()
    as_of = dt.date.fromisoformat(state.as_of) if state.as_of else default_as_of(dataset)
    ctx = Context(state, dataset, as_of, state.segment, config_from_view(state))
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
