"""The database: one DuckDB file (or memory) holding named datasets.

Each dataset lives in its own schema ``ds_<id>`` with the canonical tables of
DESIGN §2 and the tables derived from them at ingest (``customer_index``,
``customer_days``). Its id is 16 random hex digits, so a link cannot be guessed.

Every dataset, saved view and customer list belongs to a workspace (:mod:`clm_core.access`). The
functions that read or change them take the acting ``principal`` (None: :data:`access.SYSTEM`, for the
command line and tests); a :class:`Dataset` remembers the principal that opened it, so the load, rename
and delete of that object are checked against it. Another workspace's dataset or view is not found; an
action beyond the principal's role raises :class:`access.AccessDenied`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from clm_core import access
from clm_core.access import AccessDenied, Principal  # noqa: F401 - the store's callers catch/pass these

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

#: Older databases: the workspace of every dataset, view and list (their rows belong to the default
#: workspace) and the owner of a saved view (None: saved without sign-in; its workspace's admins manage it).
_MIGRATE = f"""
ALTER TABLE clm_datasets ADD COLUMN IF NOT EXISTS workspace_id VARCHAR DEFAULT '{access.DEFAULT_WORKSPACE}';
ALTER TABLE clm_views ADD COLUMN IF NOT EXISTS workspace_id VARCHAR DEFAULT '{access.DEFAULT_WORKSPACE}';
ALTER TABLE clm_views ADD COLUMN IF NOT EXISTS owner VARCHAR;
ALTER TABLE clm_lists ADD COLUMN IF NOT EXISTS workspace_id VARCHAR DEFAULT '{access.DEFAULT_WORKSPACE}';
UPDATE clm_datasets SET workspace_id = '{access.DEFAULT_WORKSPACE}' WHERE workspace_id IS NULL;
UPDATE clm_views SET workspace_id = '{access.DEFAULT_WORKSPACE}' WHERE workspace_id IS NULL;
UPDATE clm_lists SET workspace_id = '{access.DEFAULT_WORKSPACE}' WHERE workspace_id IS NULL;
"""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (doubling embedded quotes)."""
    return '"' + str(name).replace('"', '""') + '"'


def database_path(setting: str | None = None) -> str:
    """The DuckDB file a database setting names (default ``CLM_DATABASE``): a path or ``duckdb:///path``,
    else ``data/clm.duckdb``. For a Spark URL (``clm_core.engine``), the file that holds the loads and
    metadata beside Spark: ``CLM_DUCKDB_FILE``, else ``data/clm.duckdb``."""
    from clm_core import backend  # it imports this module

    target = backend.parse(os.environ.get("CLM_DATABASE") if setting is None else setting)
    if target.is_spark:
        return os.environ.get("CLM_DUCKDB_FILE") or str(DEFAULT_DATABASE)
    return target.path


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
    with _transaction(con) as db:  # workspaces (and the columns older databases lack)
        db.execute(access.SCHEMA)
        db.execute(_MIGRATE)
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
    workspace: str = access.DEFAULT_WORKSPACE
    #: who opened it (None: :data:`access.SYSTEM`); changes through this object are checked against it
    principal: Principal | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"not a dataset id: {self.id!r}")

    @property
    def schema(self) -> str:
        return f"ds_{self.id}"

    @property
    def home(self) -> "Dataset":
        """The DuckDB dataset that holds this one's metadata and stored model results: itself here; the
        dataset a copy on another engine was published from (``clm_core.spark_store``)."""
        return self

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


def new_dataset(con, name: str, principal: Principal | None = None) -> Dataset:
    """A dataset not yet in the database, in the principal's workspace: :func:`changing` with ``create=True``
    adds it in its transaction (editors and admins)."""
    if not name.strip():
        raise ValueError("a dataset needs a name")
    workspace = (principal or access.SYSTEM).workspace or access.DEFAULT_WORKSPACE
    access.require(con, principal, workspace, "editor", "creating a dataset")
    return Dataset(con, secrets.token_hex(8), name.strip(), workspace, principal)


def maintenance(dataset: Dataset) -> Dataset:
    """``dataset`` acting as :data:`access.SYSTEM`: for upkeep that changes nothing a user chose (the
    derived tables of a dataset loaded by an older version, ``ingest.upgrade_derived``)."""
    return replace(dataset, principal=None)


def _workspace_of(con, dataset_id: str) -> str | None:
    """The workspace a dataset belongs to now (None: no such dataset)."""
    rows = access._rows(con, "SELECT workspace_id FROM clm_datasets WHERE id = ?", [dataset_id])
    return (rows[0][0] or access.DEFAULT_WORKSPACE) if rows else None


def _check(dataset: Dataset, need: str, action: str, principal: Principal | None = None) -> None:
    """Raise unless the acting principal (``principal``, else the one that opened ``dataset``) may do
    ``action`` on it: KeyError when the dataset is gone or in another workspace, AccessDenied when its
    role is below ``need``."""
    acting = (principal if principal is not None else dataset.principal) or access.SYSTEM
    workspace = _workspace_of(dataset.con, dataset.id)
    if workspace is None or not (acting.system or acting.workspace == workspace):
        raise KeyError(f"no dataset {dataset.id!r}")
    access.require(dataset.con, acting, workspace, need, action)


def _insert(db, dataset: Dataset) -> None:
    db.execute("INSERT INTO clm_datasets (id, name, workspace_id) VALUES (?, ?, ?)",
               [dataset.id, dataset.name, dataset.workspace])
    db.execute(f"CREATE SCHEMA {quote_ident(dataset.schema)}")


def _drop(db, dataset: Dataset) -> None:
    db.execute(f"DROP SCHEMA IF EXISTS {quote_ident(dataset.schema)} CASCADE")
    db.execute("DELETE FROM clm_datasets WHERE id = ?", [dataset.id])


def create_dataset(con, name: str, principal: Principal | None = None) -> Dataset:
    """An empty dataset named ``name`` (a load creates its dataset in its own transaction instead)."""
    dataset = new_dataset(con, name, principal)
    with _transaction(con) as db:
        _insert(db, dataset)
    return dataset


def _visible(con, principal: Principal | None) -> tuple[str, list]:
    """SQL condition and parameters for the datasets (views, lists) of the principal's workspace."""
    principal = principal or access.SYSTEM
    if principal.system:
        return "TRUE", []
    if not access.sees(con, principal, principal.workspace):  # no longer a member: nothing
        return "FALSE", []
    return "coalesce(workspace_id, ?) = ?", [access.DEFAULT_WORKSPACE, principal.workspace]


def get_dataset(con, dataset_id: str, principal: Principal | None = None) -> Dataset:
    """The dataset ``dataset_id`` of the principal's workspace; KeyError when there is none (another
    workspace's dataset is not found either)."""
    if not isinstance(dataset_id, str) or not _ID.match(dataset_id):
        raise KeyError(f"no dataset {dataset_id!r}")
    where, params = _visible(con, principal)
    rows = access._rows(con, f"SELECT name, workspace_id FROM clm_datasets WHERE id = ? AND {where}",
                        [dataset_id, *params])
    if not rows:
        raise KeyError(f"no dataset {dataset_id!r}")
    return Dataset(con, dataset_id, rows[0][0], rows[0][1] or access.DEFAULT_WORKSPACE, principal)


def list_datasets(con, principal: Principal | None = None) -> list[Dataset]:
    """The datasets of the principal's workspace (:data:`access.SYSTEM`: all), oldest first."""
    where, params = _visible(con, principal)
    rows = access._rows(con, f"SELECT id, name, workspace_id FROM clm_datasets WHERE {where} ORDER BY created_at, name",
                        params)
    return [Dataset(con, i, n, w or access.DEFAULT_WORKSPACE, principal) for i, n, w in rows]


def find_dataset(con, name: str, principal: Principal | None = None) -> Dataset | None:
    """The oldest dataset named ``name`` of the principal's workspace (:data:`access.SYSTEM`, e.g. the
    command line: the default workspace's first, then any other's)."""
    where, params = _visible(con, principal)
    rows = access._rows(con, f"SELECT id, workspace_id FROM clm_datasets WHERE name = ? AND {where} "
                        "ORDER BY coalesce(workspace_id, ?) <> ?, created_at LIMIT 1",
                        [name, *params, access.DEFAULT_WORKSPACE, access.DEFAULT_WORKSPACE])
    return Dataset(con, rows[0][0], name, rows[0][1] or access.DEFAULT_WORKSPACE, principal) if rows else None


def rename_dataset(dataset: Dataset, name: str, principal: Principal | None = None) -> Dataset:
    """Rename ``dataset`` (editors and admins of its workspace)."""
    if not name.strip():
        raise ValueError("a dataset needs a name")
    with WRITE_LOCK:
        _check(dataset, "editor", "renaming a dataset", principal)
        with _transaction(dataset.con) as db:
            db.execute("UPDATE clm_datasets SET name = ? WHERE id = ?", [name.strip(), dataset.id])
    return replace(dataset, name=name.strip())


def check_change(dataset: Dataset, create: bool = False, replaces: Dataset | None = None,
                 replaces_name: str | None = None, con=None) -> tuple[Dataset | None, str]:
    """The role checks of a change to ``dataset`` (see :func:`changing`): an editor of its workspace loads,
    an admin of the replaced dataset's workspace replaces. Returns (the dataset to replace, found by
    ``replaces_name`` in ``dataset``'s workspace when not given; the workspace the changed dataset is in).
    Raises AccessDenied / KeyError. ``con``: where to look the name up (default the dataset's own)."""
    workspace = dataset.workspace
    if replaces is None and replaces_name is not None and replaces_name.strip():
        rows = access._rows(con or dataset.con, "SELECT id FROM clm_datasets WHERE name = ? AND id <> ? "
                            "AND coalesce(workspace_id, ?) = ? ORDER BY created_at LIMIT 1",
                            [replaces_name.strip(), dataset.id, access.DEFAULT_WORKSPACE, dataset.workspace])
        if rows:
            replaces = Dataset(dataset.con, rows[0][0], replaces_name.strip(), dataset.workspace, dataset.principal)
    if replaces is not None:
        _check(replaces, "admin", "replacing a dataset", dataset.principal)
        if create:  # the new dataset takes the place of the replaced one, in its workspace
            workspace = _workspace_of(dataset.con, replaces.id)
    if create:
        access.require(dataset.con, dataset.principal, workspace, "editor", "loading data")
    else:
        _check(dataset, "editor", "loading data")
    return replaces, workspace


@contextmanager
def changing(dataset: Dataset, create: bool = False, replaces: Dataset | None = None,
             replaces_name: str | None = None):
    """A serialised transaction that changes ``dataset``, on its own cursor: yields the dataset bound to
    that cursor. Committed with the version raised (which invalidates cached results), rolled back on any
    error. ``create`` adds a :func:`new_dataset` first and ``replaces`` drops another dataset, both inside
    the transaction, so a refused or killed load leaves neither an empty dataset nor a missing one.
    ``replaces_name`` (instead of ``replaces``) drops the oldest other dataset of that name in ``dataset``'s
    workspace, if there is one, found once the write lock is held: no other write can come between
    finding it and replacing it, and nobody has to hold the lock while the files are prepared.
    Checked against the principal that opened ``dataset``: a change (a load) needs an editor of its
    workspace, ``replaces`` an admin of the replaced dataset's workspace."""
    with writer(dataset.con) as backend:
        replaces, workspace = check_change(dataset, create, replaces, replaces_name, backend)
        db = raw(backend)
        bound = replace(dataset, con=backend, workspace=workspace)
        db.execute("BEGIN TRANSACTION")
        try:
            if create:
                _insert(db, bound)
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


def delete_dataset(dataset: Dataset, principal: Principal | None = None) -> None:
    """Delete ``dataset`` with its tables (admins of its workspace)."""
    with WRITE_LOCK:
        _check(dataset, "admin", "deleting a dataset", principal)
        with _transaction(dataset.con) as db:
            _drop(db, dataset)
    dataset.refresh()


# --------------------------------------------------------------------------- saved views

@dataclass(frozen=True)
class SavedView:
    """A named view: its query parameters (key -> list of values), opened by ``?view=<id>``. Saved views
    are shared within their workspace; ``owner`` (the email that saved it, None without sign-in) and the
    workspace's admins may rename or delete it."""

    id: str
    name: str
    params: dict
    owner: str | None = None
    workspace: str = access.DEFAULT_WORKSPACE


_VIEW_ID = re.compile(r"^[A-Za-z0-9_-]{8}$")


def save_view(con, name: str, params: dict, principal: Principal | None = None) -> SavedView:
    """Save a view in the principal's workspace, owned by the principal (any role may save views)."""
    if not name.strip():
        raise ValueError("a saved view needs a name")
    acting = principal or access.SYSTEM
    workspace = acting.workspace or access.DEFAULT_WORKSPACE
    view_id = secrets.token_urlsafe(6)
    clean = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in params.items() if k != "view"}
    with WRITE_LOCK:
        access.require(con, principal, workspace, "viewer", "saving a view")
        with _transaction(con) as db:
            db.execute("INSERT INTO clm_views (id, name, state, workspace_id, owner) VALUES (?, ?, ?, ?, ?)",
                       [view_id, name.strip(), json.dumps(clean), workspace, acting.email])
    return SavedView(view_id, name.strip(), clean, acting.email, workspace)


def _views(con, principal: Principal | None, view_id: str | None = None) -> list[SavedView]:
    where, params = _visible(con, principal)
    if view_id is not None:
        where, params = f"{where} AND id = ?", [*params, view_id]
    rows = access._rows(con, f"SELECT id, name, state, owner, workspace_id FROM clm_views WHERE {where} "
                        "ORDER BY created_at, name", params)
    return [SavedView(i, n, json.loads(s), o, w or access.DEFAULT_WORKSPACE) for i, n, s, o, w in rows]


def get_view(con, view_id: str, principal: Principal | None = None) -> SavedView | None:
    """The saved view ``view_id`` of the principal's workspace; None when there is none there."""
    if not isinstance(view_id, str) or not _VIEW_ID.match(view_id):
        return None
    found = _views(con, principal, view_id)
    return found[0] if found else None


def list_views(con, principal: Principal | None = None) -> list[SavedView]:
    """The saved views of the principal's workspace (:data:`access.SYSTEM`: all), oldest first."""
    return _views(con, principal)


def may_change_view(con, saved: SavedView, principal: Principal | None = None) -> bool:
    """Whether ``principal`` may rename or delete ``saved``: its owner, or an admin of its workspace
    (without sign-in everybody is that admin)."""
    role = access.role_in(con, principal, saved.workspace)
    if role is None:
        return False
    acting = principal or access.SYSTEM
    return role == "admin" or (acting.email is not None and acting.email == saved.owner)


def _own_view(con, view_id: str, principal: Principal | None, action: str) -> SavedView:
    saved = get_view(con, view_id, principal)
    if saved is None:
        raise KeyError(f"no saved view {view_id!r}")
    if not may_change_view(con, saved, principal):
        raise AccessDenied(f"{action} is for its owner and the workspace's admins")
    return saved


def rename_view(con, view_id: str, name: str, principal: Principal | None = None) -> None:
    """Rename a saved view (its owner or an admin of its workspace); KeyError when there is none."""
    if not name.strip():
        raise ValueError("a saved view needs a name")
    with WRITE_LOCK:
        _own_view(con, view_id, principal, "renaming a saved view")
        with _transaction(con) as db:
            db.execute("UPDATE clm_views SET name = ? WHERE id = ?", [name.strip(), view_id])


def delete_view(con, view_id: str, principal: Principal | None = None) -> None:
    """Delete a saved view (its owner or an admin of its workspace); KeyError when there is none."""
    with WRITE_LOCK:
        _own_view(con, view_id, principal, "deleting a saved view")
        with _transaction(con) as db:
            db.execute("DELETE FROM clm_views WHERE id = ?", [view_id])


# --------------------------------------------------------------------------- customer lists

def save_customer_list(con, customer_ids, principal: Principal | None = None) -> str:
    """Store a list of customer ids (a drill-down result) in the principal's workspace and return its short
    id for filters and links.

    ``customer_ids`` is an Ibis table with a ``customer_id`` column, or an iterable of ids.
    """
    if hasattr(customer_ids, "select") and customer_ids._find_backend().name != "duckdb":
        # ids computed on another engine (Spark): fetched before the write path is taken
        customer_ids = customer_ids.select("customer_id").distinct().execute()["customer_id"]
    list_id = secrets.token_urlsafe(6)
    workspace = (principal or access.SYSTEM).workspace or access.DEFAULT_WORKSPACE
    with WRITE_LOCK:
        access.require(con, principal, workspace, "viewer", "saving a customer list")
        with _transaction(con) as db:
            if hasattr(customer_ids, "select"):
                sql = ibis.to_sql(customer_ids.select("customer_id").distinct(), dialect="duckdb")
                db.execute(f"INSERT INTO clm_lists (id, customer_id, workspace_id) SELECT ?, customer_id, ? "
                           f"FROM ({sql})", [list_id, workspace])
            else:
                ids = pd.DataFrame({"id": list_id, "customer_id": [str(c) for c in dict.fromkeys(customer_ids)]})
                db.register("clm_new_list", ids)
                try:
                    db.execute("INSERT INTO clm_lists (id, customer_id, workspace_id) "
                               "SELECT id, customer_id, ? FROM clm_new_list", [workspace])
                finally:
                    db.unregister("clm_new_list")
    return list_id


def customer_list(con, list_id: str, principal: Principal | None = None, workspace: str | None = None):
    """Ibis table (customer_id) of a stored list of ``workspace`` (default: the principal's); empty for an
    unknown id and for another workspace's list. A filter passes its dataset's workspace, so whoever
    opened the dataset, a list only ever narrows data of its own workspace."""
    lists = con.table("clm_lists")
    kept = lists.id == list_id
    principal = principal or access.SYSTEM
    if workspace is None and not principal.system:
        workspace = principal.workspace
    if workspace is not None:
        kept = kept & (lists.workspace_id.fill_null(access.DEFAULT_WORKSPACE) == workspace)
    return lists.filter(kept).select("customer_id")
