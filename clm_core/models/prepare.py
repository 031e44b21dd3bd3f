"""Compute the heavy model results of a dataset version in the background, before a page asks for them.

The Customer value and Campaigns pages start :func:`start` as soon as they know the dataset and the as-of
date: a daemon thread computes, one after the other, the results the page will ask for further down —
the churn check, the churn ranking, the next best categories, the campaign baseline — while the page
draws what is quick. A page asking for a result the thread is computing waits for it instead of
computing it again (``clm_core.models.cache.Memo``); once computed, every result is kept per dataset
version in memory and in the database, so later sessions and server processes find it.

At most one thread runs per process; a request for tasks already done or under way is ignored. The
thread works on its own database cursor (``dataset``, made by the caller for it). Its errors are logged
and dropped: the page's own call recomputes the result and explains the problem.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence

from clm_core.config import LifecycleConfig
from clm_core.models import cache
from clm_core.store import Dataset

log = logging.getLogger(__name__)

TASKS = ("churn_check", "churn_ranking", "suggestions", "campaign_baseline")

_lock = threading.Lock()
_requested: set[tuple] = set()
_queue: list[tuple] = []
_worker: threading.Thread | None = None


def start(dataset: Dataset, as_of: dt.date, config: LifecycleConfig | None = None,
          tasks: Sequence[str] = TASKS, horizon_months: int = 12) -> None:
    """Queue ``tasks`` (of :data:`TASKS`) for ``dataset`` at ``as_of`` and make sure the thread runs. Returns
    at once. ``dataset`` must be on a cursor the caller does not use any more."""
    global _worker
    config = config or LifecycleConfig()
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown task(s): {', '.join(sorted(unknown))}")
    version = cache.dataset_key(dataset)
    with _lock:
        for task in tasks:
            key = (version, as_of, cache.key_text(**config.to_dict()), horizon_months, task)
            if key not in _requested:
                _requested.add(key)
                _queue.append((key, dataset, as_of, config, horizon_months, task))
        if _queue and (_worker is None or not _worker.is_alive()):
            _worker = threading.Thread(target=_work, name="clm-models", daemon=True)
            _worker.start()


def _work() -> None:
    while True:
        with _lock:
            if not _queue:
                return
            key, dataset, as_of, config, horizon_months, task = _queue.pop(0)
        try:
            run(task, dataset, as_of, config, horizon_months)
        except Exception as exc:  # noqa: BLE001 - the page's own call explains the problem
            log.warning("background %s failed: %s", task, exc)
            with _lock:
                _requested.discard(key)


def run(task: str, dataset: Dataset, as_of: dt.date, config: LifecycleConfig, horizon_months: int = 12) -> None:
    """Compute one task's results (what the page's call then finds in memory)."""
    from clm_core import simulate
    from clm_core.models import churn, cross_sell, insights

    if task == "churn_check":
        insights.churn_evaluation(dataset, as_of, config=config)
    elif task == "churn_ranking":
        insights.churn_ranking(dataset, as_of, config=config)
    elif task == "suggestions":
        if "category" in dataset.require("transactions").columns:
            cross_sell.whole_suggestions(dataset, as_of)
    elif task == "campaign_baseline":
        try:
            churn.whole_ranking(dataset, as_of, config.churn_days, config)
        except ValueError:
            pass  # the baseline goes without churn risk
        simulate.whole_baseline(dataset, as_of, config, horizon_months)


def wait(timeout: float | None = None) -> bool:
    """Wait for the thread to finish its queue (tests, benchmarks); False on timeout."""
    worker = _worker
    if worker is not None:
        worker.join(timeout)
        return not worker.is_alive()
    return True
