"""The database: one DuckDB file (or memory) holding named datasets.

Each dataset lives in its own schema ``ds_<id>`` with the canonical tables of
DESIGN §2 and the tables derived from them at ingest (``customer_index``,
``customer_days``). Its id is 16 random hex digits, so a link cannot be guessed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import pandas as pd

DEFAULT_DATABASE = Path("data/clm.duckdb")
TABLES = ("customers", "transactions", "events", "nps", "campaigns")
DERIVED = ("customer_index", "customer_days", "customer_summary", "customer_purchases",
           "stage_changes")
_ID = re.compile(r"^[0-9a-f]{16}$")

_META = """
CREATE TABLE IF NOT EXISTS clm_datasets (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS clm_lists (
    id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS clm_views (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    state JSON NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (doubling embedded quotes)."""
    return '"' + str(name).replace('"', '""') + '"'


def database_path() -> str:
    """The database file from ``CLM_DATABASE``, else ``data/clm.duckdb``."""
    return os.environ.get("CLM_DATABASE") or str(DEFAULT_DATABASE)


#: DuckDB's memory for a database file (``CLM_DUCKDB_MEMORY`` overrides it); beyond it, joins, sorts and
#: aggregations spill to ``<file>.tmp`` instead of growing the process (DuckDB's own default is 80 % of RAM).
MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$", re.IGNORECASE)


def connect(path: str | os.PathLike | None = None):
    """An Ibis DuckDB backend on ``path`` (``":memory:"`` for a throw-away one)."""
    path = str(path) if path is not None else database_path()
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = ibis.duckdb.connect(path)
    if path != ":memory:":
        limit = os.environ.get("CLM_DUCKDB_MEMORY") or MEMORY_LIMIT
        if not _MEMORY.match(limit):
            raise ValueError(f"CLM_DUCKDB_MEMORY must be a size such as 1GB or 512MiB, got {limit!r}")
        raw(con).execute(f"SET memory_limit = '{limit}'")
        raw(con).execute(f"SET temp_directory = '{(path + '.tmp').replace(chr(39), chr(39) * 2)}'")
    con.raw_sql(_META)
    return con


def raw(con) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection under an Ibis backend (for ingest's CSV reader and DDL)."""
    return con.con


#: The one write path of a process: every write (loads, renames, deletes, saved views, lists, stored
#: model results) holds this lock and works on its own cursor, so writes from Streamlit's session threads
#: (or the import folder's thread) never share a connection's transaction and never interleave.
WRITE_LOCK = threading.RLock()


@contextmanager
def writer(con):
    """An Ibis backend on a fresh cursor of ``con``, for one serialised write (holds :data:`WRITE_LOCK`)."""
    with WRITE_LOCK:
        cursor = raw(con).cursor()
        try:
            yield ibis.duckdb.from_connection(cursor)
        finally:
            cursor.close()


@contextmanager
def _transaction(con):
    """A short serialised write transaction on its own cursor: committed, or rolled back on any error."""
    with writer(con) as backend:
        db = raw(backend)
        db.execute("BEGIN TRANSACTION")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


@dataclass(frozen=True)
class Dataset:
    """A named dataset in the database: the entry point every metric takes."""

    con: object
    id: str
    name: str = ""

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"not a dataset id: {self.id!r}")

    @property
    def schema(self) -> str:
        return f"ds_{self.id}"

    def tables(self) -> frozenset[str]:
        """Names of this dataset's tables, looked up once per Dataset object (see :meth:`refresh`)."""
        cached = self.__dict__.get("_tables")
        if cached is None:
            rows = raw(self.con).execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [self.schema]
            ).fetchall()
            cached = frozenset(r[0] for r in rows)
            object.__setattr__(self, "_tables", cached)
        return cached

    def refresh(self) -> None:
        """Forget what was looked up once per object: table names, the data's last day (after a change)."""
        self.__dict__.pop("_tables", None)
        self.__dict__.pop("_data_end", None)

    def has(self, table: str) -> bool:
        return table in self.tables()

    def table(self, table: str):
        """The Ibis table ``table`` of this dataset, or ``None`` when it was not loaded."""
        if not self.has(table):
            return None
        return self.con.table(table, database=self.schema)

    def require(self, table: str):
        t = self.table(table)
        if t is None:
            raise MissingTableError(table)
        return t

    @property
    def version(self) -> int:
        row = raw(self.con).execute(
            "SELECT version FROM clm_datasets WHERE id = ?", [self.id]
        ).fetchone()
        return row[0] if row else 0


def table_rows(dataset: "Dataset") -> dict[str, int]:
    """Rows per loaded canonical table of a dataset."""
    return {name: dataset.table(name).count().execute() for name in TABLES if dataset.has(name)}


class MissingTableError(LookupError):
    """A metric needs a table that this dataset does not have."""

    def __init__(self, table: str):
        super().__init__(f"this dataset has no {table} table; upload a {table} file first")
        self.table = table


def new_dataset(con, name: str) -> Dataset:
    """A dataset not yet in the database: :func:`changing` with ``create=True`` adds it in its transaction."""
    if not name.strip():
        raise ValueError("a dataset needs a name")
    return Dataset(con, secrets.token_hex(8), name.strip())


def _insert(db, dataset: Dataset) -> None:
    db.execute("INSERT INTO clm_datasets (id, name) VALUES (?, ?)", [dataset.id, dataset.name])
    db.execute(f"CREATE SCHEMA {quote_ident(dataset.schema)}")


def _drop(db, dataset: Dataset) -> None:
    db.execute(f"DROP SCHEMA IF EXISTS {quote_ident(dataset.schema)} CASCADE")
    db.execute("DELETE FROM clm_datasets WHERE id = ?", [dataset.id])


def create_dataset(con, name: str) -> Dataset:
    """An empty dataset named ``name`` (a load creates its dataset in its own transaction instead)."""
    dataset = new_dataset(con, name)
    with _transaction(con) as db:
        _insert(db, dataset)
    return dataset


def get_dataset(con, dataset_id: str) -> Dataset:
    if not isinstance(dataset_id, str) or not _ID.match(dataset_id):
        raise KeyError(f"no dataset {dataset_id!r}")
    row = raw(con).execute("SELECT name FROM clm_datasets WHERE id = ?", [dataset_id]).fetchone()
    if row is None:
        raise KeyError(f"no dataset {dataset_id!r}")
    return Dataset(con, dataset_id, row[0])


def list_datasets(con) -> list[Dataset]:
    rows = raw(con).execute("SELECT id, name FROM clm_datasets ORDER BY created_at, name").fetchall()
    return [Dataset(con, i, n) for i, n in rows]


def find_dataset(con, name: str) -> Dataset | None:
    row = raw(con).execute(
        "SELECT id FROM clm_datasets WHERE name = ? ORDER BY created_at LIMIT 1", [name]
    ).fetchone()
    return Dataset(con, row[0], name) if row else None


def rename_dataset(dataset: Dataset, name: str) -> Dataset:
    if not name.strip():
        raise ValueError("a dataset needs a name")
    with _transaction(dataset.con) as db:
        db.execute("UPDATE clm_datasets SET name = ? WHERE id = ?", [name.strip(), dataset.id])
    return Dataset(dataset.con, dataset.id, name.strip())


@contextmanager
def changing(dataset: Dataset, create: bool = False, replaces: Dataset | None = None):
    """A serialised transaction that changes ``dataset``, on its own cursor: yields the dataset bound to
    that cursor. Committed with the version raised (which invalidates cached results), rolled back on any
    error. ``create`` adds a :func:`new_dataset` first and ``replaces`` drops another dataset, both inside
    the transaction, so a refused or killed load leaves neither an empty dataset nor a missing one."""
    with writer(dataset.con) as backend:
        db = raw(backend)
        bound = Dataset(backend, dataset.id, dataset.name)
        db.execute("BEGIN TRANSACTION")
        try:
            if create:
                _insert(db, dataset)
            if replaces is not None:
                _drop(db, replaces)
            yield bound
            db.execute("UPDATE clm_datasets SET version = version + 1 WHERE id = ?", [dataset.id])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            dataset.refresh()


def delete_dataset(dataset: Dataset) -> None:
    with _transaction(dataset.con) as db:
        _drop(db, dataset)
    dataset.refresh()


# --------------------------------------------------------------------------- saved views

@dataclass(frozen=True)
class SavedView:
    """A named view: its query parameters (key -> list of values), opened by ``?view=<id>``."""

    id: str
    name: str
    params: dict


_VIEW_ID = re.compile(r"^[A-Za-z0-9_-]{8}$")


def save_view(con, name: str, params: dict) -> SavedView:
    if not name.strip():
        raise ValueError("a saved view needs a name")
    view_id = secrets.token_urlsafe(6)
    clean = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in params.items() if k != "view"}
    with _transaction(con) as db:
        db.execute("INSERT INTO clm_views (id, name, state) VALUES (?, ?, ?)", [view_id, name.strip(), json.dumps(clean)])
    return SavedView(view_id, name.strip(), clean)


def get_view(con, view_id: str) -> SavedView | None:
    if not isinstance(view_id, str) or not _VIEW_ID.match(view_id):
        return None
    row = raw(con).execute("SELECT id, name, state FROM clm_views WHERE id = ?", [view_id]).fetchone()
    return SavedView(row[0], row[1], json.loads(row[2])) if row else None


def list_views(con) -> list[SavedView]:
    rows = raw(con).execute("SELECT id, name, state FROM clm_views ORDER BY created_at, name").fetchall()
    return [SavedView(i, n, json.loads(s)) for i, n, s in rows]


def rename_view(con, view_id: str, name: str) -> None:
    if not name.strip():
        raise ValueError("a saved view needs a name")
    with _transaction(con) as db:
        db.execute("UPDATE clm_views SET name = ? WHERE id = ?", [name.strip(), view_id])


def delete_view(con, view_id: str) -> None:
    with _transaction(con) as db:
        db.execute("DELETE FROM clm_views WHERE id = ?", [view_id])


# --------------------------------------------------------------------------- customer lists

def save_customer_list(con, customer_ids) -> str:
    """Store a list of customer ids (a drill-down result) and return its short id for filters and links.

    ``customer_ids`` is an Ibis table with a ``customer_id`` column, or an iterable of ids.
    """
    list_id = secrets.token_urlsafe(6)
    with _transaction(con) as db:
        if hasattr(customer_ids, "select"):
            sql = ibis.to_sql(customer_ids.select("customer_id").distinct(), dialect="duckdb")
            db.execute(f"INSERT INTO clm_lists SELECT ?, customer_id FROM ({sql})", [list_id])
        else:
            ids = pd.DataFrame({"id": list_id, "customer_id": [str(c) for c in dict.fromkeys(customer_ids)]})
            db.register("clm_new_list", ids)
            try:
                db.execute("INSERT INTO clm_lists SELECT id, customer_id FROM clm_new_list")
            finally:
                db.unregister("clm_new_list")
    return list_id


def customer_list(con, list_id: str):
    """Ibis table (customer_id) of a stored list; empty for an unknown id."""
    lists = con.table("clm_lists")
    return lists.filter(lists.id == list_id).select("customer_id")
