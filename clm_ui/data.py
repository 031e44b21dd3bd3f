"""The database for one Streamlit run, and metric results cached per dataset version.

One DuckDB connection per process (``st.cache_resource``); each run works on a
cursor of it, since a connection is not safe to share across Streamlit's threads.
Results are cached by (function, dataset id, dataset version, as-of, filter,
parameters): a new upload bumps the version and so invalidates exactly that
dataset's results.
"""

from __future__ import annotations

import functools

import ibis
import pandas as pd
import streamlit as st

from clm_core import store
from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics import clv, cohorts, funnel, growth, nps, stages
from clm_core.models import rfm


@st.cache_resource
def _root(path: str):
    return store.connect(path)


def root():
    """The process-wide Ibis connection (for short writes; reads use :func:`connection`)."""
    return _root(store.database_path())


def connection():
    """An Ibis backend on a fresh cursor of the process connection, for this run's thread."""
    return ibis.duckdb.from_connection(store.raw(root()).cursor())


def dataset(dataset_id: str) -> store.Dataset:
    return store.get_dataset(connection(), dataset_id)


def _stage_table(ds, as_of=None, config=None, segment=None) -> pd.DataFrame:
    return stages.customer_stages(ds, as_of, config, segment).execute()


def _stage_timeline(ds, segment=None, config=None) -> pd.DataFrame:
    return stages.stage_timeline(ds, config, segment)


def _with_timeline(function):
    """``function`` given the dataset's cached stage timeline (one per thresholds and filter, whatever the
    as-of date or framework) where the settings allow one."""
    @functools.wraps(function)
    def run(ds, *args, segment=None, config=None, **kwargs):
        if stages.timeline_supported(ds, config, segment):
            thresholds = LifecycleConfig(**(config or LifecycleConfig()).thresholds())
            kwargs["timeline"] = metric("stage_timeline", ds, segment or SegmentFilter(), thresholds)
        return function(ds, *args, segment=segment, config=config, **kwargs)
    return run


FUNCTIONS = {
    "stage_timeline": _stage_timeline,
    "stage_distribution": _with_timeline(stages.stage_distribution),
    "framework_distribution": _with_timeline(stages.framework_distribution),
    "stage_history": _with_timeline(stages.stage_history),
    "stage_migration": stages.stage_migration,
    "customer_stages": _stage_table,
    "funnel": funnel.funnel,
    "dropped_customers": funnel.dropped_customers,
    "cohort_retention": cohorts.cohort_retention,
    "growth_accounting": growth.growth_accounting,
    "stickiness": growth.stickiness,
    "nps": nps.nps,
    "rfm_summary": clv.rfm_summary,
    "historic_value": clv.historic_value,
    "mean_historic_value": clv.mean_historic_value,
    "net_revenue": clv.net_revenue,
    "rfm_scores": rfm.rfm_scores,
}


def register(name: str, function) -> None:
    """Make ``function(dataset, *, segment, config, **kwargs)`` available to :func:`metric` as ``name``."""
    FUNCTIONS[name] = function


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, dataset_id: str, version: int, segment_key: tuple, config_key: tuple, kwargs_key: tuple):
    segment = SegmentFilter.from_query_params({k: list(v) for k, v in segment_key})
    config = LifecycleConfig(**{k: (dict(v) if k == "mapping" else v) for k, v in config_key})
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs_key}
    return FUNCTIONS[name](dataset(dataset_id), segment=segment, config=config, **kwargs)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def metric(name: str, ds: store.Dataset, segment: SegmentFilter, config: LifecycleConfig, **kwargs):
    """``FUNCTIONS[name](ds, segment=…, config=…, **kwargs)``, cached per dataset version."""
    segment_key = tuple(sorted((k, tuple(v)) for k, v in segment.to_query_params().items()))
    config_key = _freeze(config.to_dict())
    return _cached(name, ds.id, ds.version, segment_key, config_key, _freeze(kwargs))
