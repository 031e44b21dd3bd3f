"""Model results computed once per dataset version and reused (DESIGN §5: "models are fitted once per dataset
version and stored").

Two levels, both keyed by the dataset and its version, so a new load (which raises the version) makes every
earlier result unreachable:

- process memory (:class:`Memo`): a small LRU of results — fitted parameters, per-customer scores of the
  whole dataset — shared by every session of the server and handed out without copying (treat them as
  read-only). Concurrent callers of one key wait for the first one's computation instead of repeating it.
- the database (:func:`load_result`, :func:`save_result`): tables ``clm_model_results`` (one JSON document per
  kind and key) and ``clm_model_<kind>`` (per-customer rows) in the dataset's schema ``ds_<id>``, with the
  dataset version in every row, so a new server process finds the models fitted by an earlier one. A save
  is one short transaction under a process-wide lock that deletes the rows of other versions of its kind;
  it never raises the dataset version. When the database cannot be written (another transaction changing
  the dataset's tables), the result is simply not stored. A dataset published to Spark keeps its results
  in the DuckDB file it was published from (``Dataset.home``).

Results are identical whether computed, taken from memory or read back from the database (tests/test_churn.py,
tests/test_insights.py).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clm_core.store import Dataset, quote_ident, raw, writer

log = logging.getLogger(__name__)

RESULTS_TABLE = "clm_model_results"
FRAME_PREFIX = "clm_model_"


def dataset_key(dataset: Dataset) -> tuple:
    """(database, dataset id, dataset version): what a cached result of ``dataset`` is valid for."""
    return _database_name(dataset), dataset.id, dataset.version


def _database_name(dataset: Dataset) -> str:
    try:
        row = raw(dataset.home.con).execute("SELECT coalesce(path, database_name) FROM duckdb_databases() "
                                       "WHERE database_name = current_database()").fetchone()
        return str(row[0]) if row else ""
    except Exception:  # noqa: BLE001 - another backend: the dataset id alone (random) is the key
        return ""


class Memo:
    """A process-wide LRU of at most ``size`` results; one computation per key at a time."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], object]):
        """The value of ``key``, computed by ``compute()`` when it is not held (exceptions are not kept)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:  # a second caller of the same key waits here, then finds the value
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
            try:
                value = compute()
                with self._lock:
                    self._values[key] = value
                    while len(self._values) > self.size:
                        self._values.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._pending.pop(key, None)

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (a value nobody will ask for again, to free its memory)."""
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def is_in(values, candidates) -> np.ndarray:
    """``pd.Series(values).isin(candidates)`` as a boolean array, for the text columns of customer ids through
    Arrow (pandas' own converts each candidate to a Python object: seconds for a million ids)."""
    values, candidates = pd.Series(values), pd.Series(candidates)
    try:
        left = pa.array(values, from_pandas=True)
        right = pa.array(candidates, from_pandas=True)
        if pa.types.is_string(left.type) or pa.types.is_large_string(left.type):
            right = right.cast(left.type)
            return pc.fill_null(pc.is_in(left, value_set=right), False).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    return values.isin(candidates).to_numpy()


def left_join(left: pd.DataFrame, right: pd.DataFrame, on: str) -> pd.DataFrame:
    """``left.merge(right, on=on, how="left")`` for a ``right`` whose ``on`` values are unique, matched through
    Arrow: the same rows, order, columns and dtypes (a column of ``right`` with a missing match becomes NaN,
    integers float), without pandas' hashing of a million text keys."""
    try:
        keys = pa.array(right[on], from_pandas=True)
        if len(pc.unique(keys)) < len(keys):
            return left.merge(right, on=on, how="left")
        positions = pc.index_in(pa.array(left[on], from_pandas=True), value_set=keys)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return left.merge(right, on=on, how="left")
    positions = pc.fill_null(positions, -1).to_numpy(zero_copy_only=False)
    rest = right.drop(columns=on).reset_index(drop=True)
    taken = rest.reindex(positions) if (positions < 0).any() else rest.take(positions)
    return pd.concat([left.reset_index(drop=True), taken.reset_index(drop=True)], axis=1)


def key_text(**parts) -> str:
    """A result's key as stable text (JSON with sorted keys; dates as ISO strings)."""
    return json.dumps(parts, sort_keys=True, default=str)


# --------------------------------------------------------------------------- database

def _table_exists(db, schema: str, table: str) -> bool:
    row = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                     [schema, table]).fetchone()
    return bool(row and row[0])


def load_result(dataset: Dataset, kind: str, key: str, frame: bool = False):
    """(document, frame or None) stored for ``kind`` and ``key`` at the dataset's current version; None when
    nothing is stored (or the database cannot be read). ``frame``: also read the per-customer rows."""
    try:
        home = dataset.home  # on Spark: the DuckDB file it was published from
        db = raw(home.con)
        if not _table_exists(db, dataset.schema, RESULTS_TABLE):
            return None
        version = dataset.version
        row = db.execute(
            f"SELECT payload FROM {quote_ident(dataset.schema)}.{RESULTS_TABLE} WHERE version = ? AND kind = ? "
            "AND key = ?", [version, kind, key]).fetchone()
        if row is None:
            return None
        document = json.loads(row[0])
        rows = None
        if frame:
            table = home.con.table(FRAME_PREFIX + kind, database=dataset.schema)
            rows = table.filter(table.version == version, table.key == key).drop("version", "key")
            rows = rows.order_by("row_number").execute().drop(columns="row_number")
        return document, rows
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read is a cache miss
        log.warning("stored %s results could not be read: %s", kind, exc)
        return None


def save_result(dataset: Dataset, kind: str, key: str, document: dict, frame: pd.DataFrame | None = None,
                version: int | None = None) -> bool:
    """Store ``document`` (JSON) and the rows of ``frame`` (in their order) for ``kind`` and ``key`` at
    ``version`` (default: the current one), replacing what other versions stored for ``kind``. One short
    transaction on the process's write path (``store.writer``); False when the database could not be written."""
    if not hasattr(getattr(dataset.home.con, "con", None), "cursor"):
        return False  # not DuckDB
    with writer(dataset.home.con) as backend:
        return _write_result(raw(backend), dataset, kind, key, document, frame, version)


def _write_result(db, dataset: Dataset, kind: str, key: str, document: dict, frame: pd.DataFrame | None,
                  version: int | None) -> bool:
    schema = quote_ident(dataset.schema)
    name = None
    try:
        version = dataset.version if version is None else version
        db.execute("BEGIN TRANSACTION")
        db.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{RESULTS_TABLE} (version INTEGER NOT NULL, "
                   "kind VARCHAR NOT NULL, key VARCHAR NOT NULL, payload VARCHAR NOT NULL)")
        db.execute(f"DELETE FROM {schema}.{RESULTS_TABLE} WHERE kind = ? AND (version <> ? OR key = ?)",
                   [kind, version, key])
        db.execute(f"INSERT INTO {schema}.{RESULTS_TABLE} VALUES (?, ?, ?, ?)",
                   [version, kind, key, json.dumps(document, sort_keys=True)])
        if frame is not None:
            table = f"{schema}.{quote_ident(FRAME_PREFIX + kind)}"
            name = f"clm_model_rows_{uuid.uuid4().hex}"
            numbered = frame.reset_index(drop=True)
            numbered.insert(0, "row_number", np.arange(len(numbered), dtype=np.int64))
            db.register(name, numbered)
            rows = f"SELECT ?::INTEGER AS version, ?::VARCHAR AS key, * FROM {name}"
            if _table_exists(db, dataset.schema, FRAME_PREFIX + kind):
                db.execute(f"DELETE FROM {table} WHERE version <> ? OR key = ?", [version, key])
                db.execute(f"INSERT INTO {table} BY NAME {rows}", [version, key])
            else:
                db.execute(f"CREATE TABLE {table} AS {rows}", [version, key])
        db.execute("COMMIT")
        return True
    except Exception as exc:  # noqa: BLE001 - a result that cannot be stored is recomputed next time
        try:
            db.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - no transaction left to roll back
            pass
        log.warning("%s results could not be stored: %s", kind, exc)
        return False
    finally:
        if name is not None:
            try:
                db.unregister(name)
            except Exception:  # noqa: BLE001
                pass


def stored(dataset: Dataset, kind: str, key: str, compute: Callable[[], tuple[dict, pd.DataFrame | None]],
           frame: bool = False) -> tuple[dict, pd.DataFrame | None]:
    """(document, frame) of ``kind`` and ``key``: read from the database, else computed by ``compute()`` and
    stored (with the version read before computing, so a load in between leaves it unreachable)."""
    found = load_result(dataset, kind, key, frame)
    if found is not None:
        return found
    version = dataset.version
    document, rows = compute()
    save_result(dataset, kind, key, document, rows if frame else None, version=version)
    return document, rows
