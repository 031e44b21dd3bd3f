"""The database for one Streamlit run, and metric results cached per dataset version.

One DuckDB connection per process (``st.cache_resource``); each run works on a
cursor of it, since a connection is not safe to share across Streamlit's threads.
Results are cached by (function, dataset id, dataset version, as-of, filter,
parameters): a new upload bumps the version and so invalidates exactly that
dataset's results.

Every metric computation runs under a time limit (``CLM_QUERY_SECONDS``, default 60 s) and is
interrupted when the browser session that asked for it is gone (:mod:`clm_core.watchdog`): each
cursor opened during the computation is watched, and the page then says in one line that the
computation was stopped. A stopped computation raises, so ``st.cache_data`` stores nothing for it.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import ibis
import pandas as pd
import streamlit as st

from clm_core import bounds, engine, store, watchdog
from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.i18n import format_number
from clm_core.metrics import clv, cohorts, funnel, growth, losses, nps, phases, stages
from clm_core.models import rfm
from clm_ui.state import stop, t, view


@st.cache_resource
def _root(path: str):
    return store.connect(path)


def root():
    """The process-wide Ibis connection (for short writes; reads use :func:`connection`)."""
    return _root(store.database_path())


def connection():
    """An Ibis backend on a fresh cursor of the process connection, for this run's thread (watched by
    the time limit of the metric being computed, if any)."""
    cursor = store.raw(root()).cursor()
    watch = getattr(_WATCH, "current", None)
    if watch is not None:
        watch.watch(cursor)
    return ibis.duckdb.from_connection(cursor)


# ----------------------------------------------------------------------------------------- time limit

_WATCH = threading.local()  # .current: the Watch of the metric this thread computes

TEXT = {
    "publishing": ("Publishing this version of the dataset to Spark ({master}): its tables are copied and the "
                   "derived tables built there, once per version…",
                   "Dieser Stand des Datensatzes wird für Spark ({master}) bereitgestellt: die Tabellen werden "
                   "kopiert und die abgeleiteten dort berechnet, einmal je Stand…"),
    "stopped": ("This computation took longer than {seconds} s and was stopped; narrow the date range or the "
                "filter.",
                "Diese Berechnung dauerte länger als {seconds} s und wurde abgebrochen; bitte den Zeitraum oder "
                "den Filter eingrenzen."),
}


def query_seconds() -> float:
    """The time limit of one metric computation (env ``CLM_QUERY_SECONDS``, 1–3,600 s; default 60)."""
    return bounds.query_seconds()


def session_still_there():
    """A callable telling whether the browser session of this run is still connected (callable from any
    thread); None outside a Streamlit server (AppTest, bare mode), where there is no session to lose."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    run = get_script_run_ctx(suppress_warning=True)
    if run is None or not runtime.exists():
        return None
    instance, session_id = runtime.get_instance(), run.session_id
    return lambda: instance.is_active_session(session_id)


@contextlib.contextmanager
def time_limited(seconds: float | None = None):
    """Watch every cursor this thread opens in the block; nested blocks share the outermost limit.
    Raises :class:`clm_core.watchdog.Stopped` when the limit passed or the session is gone."""
    current = getattr(_WATCH, "current", None)
    if current is not None:
        yield current
        return
    with watchdog.time_limited(None, query_seconds() if seconds is None else seconds,
                               still_wanted=session_still_there()) as watch:
        _WATCH.current = watch
        try:
            yield watch
        finally:
            _WATCH.current = None


def stopped_text(stopped: watchdog.Stopped) -> str:
    return t("stopped", TEXT, seconds=f"{stopped.seconds:g}")


def save_customer_list(customer_ids) -> str:
    """Store a drill-down's customer ids in the session's workspace; returns the list's id for the filter."""
    from clm_ui.auth import principal

    return store.save_customer_list(root(), customer_ids, principal())


def dataset(dataset_id: str) -> store.Dataset:
    """The dataset as the metrics read it: from the DuckDB file, or its publication on Spark
    (``clm_core.engine``)."""
    return engine.reading(store.get_dataset(connection(), dataset_id))


def on_engine(ds: store.Dataset) -> store.Dataset:
    """``ds`` as the metrics read it; on Spark, published first (once per version) under a spinner."""
    if not engine.on_spark():
        return ds
    with st.spinner(t("publishing", TEXT, master=engine.setting().master), show_time=True):
        return engine.reading(ds)


@st.cache_data(show_spinner=False, max_entries=64)
def _day_span(dataset_id: str, version: int) -> tuple:
    days = dataset(dataset_id).table("customer_days")
    if days is None:
        return None, None
    span = days.aggregate(first=days.day.min(), last=days.day.max()).execute()
    return tuple(None if pd.isna(v) else pd.Timestamp(v).date() for v in span.iloc[0])


def day_span(ds: store.Dataset) -> tuple:
    """(first, last) day with a transaction (None, None without any), looked up once per dataset version."""
    return _day_span(ds.id, ds.version)


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
            kwargs["timeline"] = _value("stage_timeline", ds, segment or SegmentFilter(), thresholds)
        return function(ds, *args, segment=segment, config=config, **kwargs)
    return run


FUNCTIONS = {
    "stage_timeline": _stage_timeline,
    "stage_distribution": _with_timeline(stages.stage_distribution),
    "framework_distribution": _with_timeline(stages.framework_distribution),
    "stage_history": _with_timeline(stages.stage_history),
    "phase_distribution": _with_timeline(phases.phase_distribution),
    "phase_history": _with_timeline(phases.phase_history),
    "stage_migration": stages.stage_migration,
    "customer_stages": _stage_table,
    "known_count": stages.known_count,
    "known_sources": stages.known_sources,
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
    "losses": losses.losses,
}


_FOLLOW = ("Following {n} customers through the funnel…", "Verfolge {n} Kunden durch den Trichter…")
_STAGES = ("Assigning {n} customers to their lifecycle stage…", "Ordne {n} Kunden ihrer Lebenszyklusphase zu…")
_TIMELINE = ("Tracing the stages of {n} customers day by day…", "Verfolge die Phasen von {n} Kunden Tag für Tag…")
_VALUE = ("Summarising the purchases of {n} customers…", "Fasse die Käufe von {n} Kunden zusammen…")
_GROWTH = ("Counting new, returning and dormant customers among {n}…",
           "Zähle neue, wiederkehrende und ruhende Kunden unter {n}…")
#: What a spinner says while a metric is computed (it shows after half a second, so not for cached results).
SPINNERS = {
    "stage_timeline": _TIMELINE, "stage_history": _TIMELINE, "phase_history": _TIMELINE,
    "phase_distribution": _STAGES,
    "stage_distribution": _STAGES, "framework_distribution": _STAGES, "customer_stages": _STAGES,
    "known_count": ("Counting the customers of the filter…", "Zähle die Kunden des Filters…"),
    "known_sources": ("Counting the customers of the filter…", "Zähle die Kunden des Filters…"),
    "stage_migration": ("Comparing the stages of {n} customers on two dates…",
                        "Vergleiche die Phasen von {n} Kunden an zwei Stichtagen…"),
    "funnel": _FOLLOW, "dropped_customers": _FOLLOW,
    "cohort_retention": ("Computing the retention of {n} customers by cohort…",
                         "Berechne die Bindung von {n} Kunden nach Kohorte…"),
    "growth_accounting": _GROWTH, "stickiness": _GROWTH,
    "nps": ("Computing the NPS from the answers…", "Berechne den NPS aus den Antworten…"),
    "rfm_summary": _VALUE, "historic_value": _VALUE, "mean_historic_value": _VALUE, "net_revenue": _VALUE,
    "rfm_scores": ("Scoring recency, frequency and value of {n} customers…",
                   "Bewerte Aktualität, Häufigkeit und Wert von {n} Kunden…"),
    "losses": ("Finding where {n} customers slipped to at risk or churned…",
               "Suche, wo {n} Kunden zu gefährdet oder abgewandert abgerutscht sind…"),
}
_COMPUTING = ("Computing for {n} customers…", "Berechne für {n} Kunden…")


def register(name: str, function, spinner: tuple[str, str] | None = None) -> None:
    """Make ``function(dataset, *, segment, config, **kwargs)`` available to :func:`metric` as ``name``;
    ``spinner`` (English, German; ``{n}`` = the dataset's customers) says what it computes."""
    FUNCTIONS[name] = function
    if spinner is not None:
        SPINNERS[name] = spinner


@st.cache_data(show_spinner=False, max_entries=64)
def _customer_count(dataset_id: str, version: int) -> int:
    index = dataset(dataset_id).table("customer_index")
    return 0 if index is None else int(index.count().execute())


def spinner_text(name: str, ds: store.Dataset, version: int | None = None) -> str:
    """What :func:`metric` shows while ``name`` is computed, in the view's language."""
    lang = view().lang
    template = SPINNERS.get(name, _COMPUTING)[1 if lang == "de" else 0]
    count = _customer_count(ds.id, ds.version if version is None else version)
    return template.format(n=format_number(count, lang))


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, dataset_id: str, version: int, segment_key: tuple, config_key: tuple, kwargs_key: tuple):
    segment = SegmentFilter.from_query_params({k: list(v) for k, v in segment_key})
    config = LifecycleConfig(**{k: (dict(v) if k == "mapping" else v) for k, v in config_key})
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs_key}
    with time_limited():  # only a computation is watched, not a cache hit; a stopped one raises: nothing cached
        return FUNCTIONS[name](dataset(dataset_id), segment=segment, config=config, **kwargs)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _value(name: str, ds: store.Dataset, segment: SegmentFilter, config: LifecycleConfig,
           version: int | None = None, /, **kwargs):
    segment_key = tuple(sorted((k, tuple(v)) for k, v in segment.to_query_params().items()))
    config_key = _freeze(config.to_dict())
    version = ds.version if version is None else version
    return _cached(name, ds.id, version, segment_key, config_key, _freeze(kwargs))


def metric(name: str, ds: store.Dataset, segment: SegmentFilter, config: LifecycleConfig, **kwargs):
    """``FUNCTIONS[name](ds, segment=…, config=…, **kwargs)``, cached per dataset version; a spinner says
    what is computed when it takes longer than half a second. A computation past the time limit stops
    the page with one line saying so (:func:`time_limited`)."""
    version = ds.version  # one look-up for the spinner's count and the cache key
    try:
        with st.spinner(spinner_text(name, ds, version), show_time=True):
            return _value(name, ds, segment, config, version, **kwargs)
    except watchdog.Stopped as stopped:
        if stopped.reason == "time":  # else nobody is there to read it
            st.error(stopped_text(stopped))
        stop()
