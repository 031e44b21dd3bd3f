"""The engine a dataset's metrics run on: the DuckDB file, or Spark when ``CLM_DATABASE`` is a Spark URL
(issue 13).

With a Spark URL, datasets are still loaded into a DuckDB file — ``CLM_DUCKDB_FILE``, else
``data/clm.duckdb`` (``store.database_path``) — which also holds the dataset list, saved views, customer
lists, workspaces and stored model results; :func:`reading` hands out the dataset's publication on Spark
(``clm_core.spark_store``), publishing it first when there is none for the dataset's current version.
The warehouse is ``CLM_SPARK_WAREHOUSE``, else ``spark-warehouse/`` beside the DuckDB file.
"""

from __future__ import annotations

import os
import threading

from clm_core import backend, store
from clm_core.store import Dataset


def setting() -> backend.Backend:
    """The backend ``CLM_DATABASE`` names (the default DuckDB file when unset)."""
    return backend.parse(os.environ.get("CLM_DATABASE"))


def on_spark() -> bool:
    return setting().is_spark


def warehouse(duckdb_path: str | None = None):
    """The Spark warehouse of the DuckDB file ``duckdb_path`` (default: the app's)."""
    return backend.warehouse(duckdb_path or store.database_path())


_PUBLISHING: dict[str, threading.Lock] = {}
_LOCK = threading.Lock()


def reading(dataset: Dataset, target: backend.Backend | None = None, duckdb_path: str | None = None) -> Dataset:
    """The dataset the metrics read: ``dataset`` itself on DuckDB; on Spark (``target``, default
    ``CLM_DATABASE``) its publication of the dataset's current version (published now, once per version, when
    there is none: one publication at a time per dataset, so concurrent sessions wait for it instead of
    repeating it). ``duckdb_path``: the file ``dataset`` is in (default: the app's), whose warehouse is used."""
    target = target or setting()
    if not target.is_spark:
        return dataset
    from clm_core import spark_store

    place = warehouse(duckdb_path)
    _, spark_backend = backend.spark(target, place)
    with _LOCK:
        lock = _PUBLISHING.setdefault(dataset.id, threading.Lock())
    with lock:
        published = spark_store.open_published(spark_backend, dataset, place)
        if published is not None and published.version == dataset.version:
            return published
        return spark_store.publish(dataset, spark_backend, place)
