"""A loaded DuckDB dataset published to Spark, and the dataset the metrics read there (issue 13).

:func:`publish` copies every table of a dataset (canonical and derived: whatever ``Dataset.tables()``
lists) to Parquet under ``<warehouse>/ds_<id>/<publish token>/<table>/`` and registers them as external
Spark tables in the database ``ds_<id>``. It is all or nothing: the files are written and registered in a
staging database ``ds_<id>__staging_<token>`` first (each read back by Spark); only then is ``ds_<id>``
dropped and its tables registered anew on the new files (metadata only), and the old files removed. A
publish that fails before the swap leaves the previous one as it was.

:class:`SparkDataset` is a :class:`clm_core.store.Dataset` whose ``con`` is the Ibis pyspark backend: the
metric functions take it unchanged (they use ``table``/``require``/``has``/``tables``, ``id`` and the data's
last day). Its ``version`` is the DuckDB dataset's version at publish time. What it does not have: the
DuckDB metadata tables (saved views, customer lists, workspaces) and the stored model results of
:mod:`clm_core.models.cache`, which stay in DuckDB.

Spark's catalog here is the session's own (in-memory, no Hive metastore): a new process publishes again.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from clm_core import store
from clm_core.store import Dataset

_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
_STAGING = "__staging_"


def _ident(name: str) -> str:
    """A Spark identifier, backquoted; only the names this module makes (ds_<hex>, lower-case table names)."""
    if not _TABLE.match(name):
        raise ValueError(f"not a table or database name: {name!r}")
    return f"`{name}`"


@dataclass(frozen=True)
class SparkDataset(Dataset):
    """A dataset published to Spark: ``con`` is the Ibis pyspark backend, tables are in ``ds_<id>``."""

    published_version: int = 0

    def tables(self) -> frozenset[str]:
        """Names of the dataset's Spark tables, looked up once per object (see ``refresh``)."""
        cached = self.__dict__.get("_tables")
        if cached is None:
            cached = frozenset(self.con.list_tables(database=self.schema))
            object.__setattr__(self, "_tables", cached)
        return cached

    @property
    def version(self) -> int:
        return self.published_version


def _session(spark_backend):
    return spark_backend._session


def _copy_to_parquet(dataset: Dataset, table: str, folder: Path) -> None:
    """``COPY`` one DuckDB table to ``folder/data.parquet`` (streamed by DuckDB, never through pandas)."""
    folder.mkdir(parents=True)
    target = str(folder / "data.parquet").replace("'", "''")
    source = f"{store.quote_ident(dataset.schema)}.{store.quote_ident(table)}"
    cursor = store.raw(dataset.con).cursor()
    try:
        columns = cursor.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                                 [dataset.schema, table]).fetchall()
        select = ", ".join(_column(name, kind) for name, kind in columns)
        cursor.execute(f"COPY (SELECT {select} FROM {source}) TO '{target}' (FORMAT parquet)")
    finally:
        cursor.close()


def _column(name: str, kind: str) -> str:
    """A column for the Parquet copy: DuckDB's 128-bit integers (sums of integers, e.g. stage_changes.change)
    as BIGINT, which Spark reads as a long (Parquet has no 128-bit integer; DuckDB would write a double).
    The cast fails loudly on overflow instead of losing digits."""
    quoted = store.quote_ident(name)
    if kind.upper() in ("HUGEINT", "UHUGEINT", "UBIGINT"):
        return f"CAST({quoted} AS BIGINT) AS {quoted}"
    return quoted


def _register(session, database: str, table: str, folder: Path) -> None:
    session.catalog.createTable(f"{_ident(database)}.{_ident(table)}", path=str(folder), source="parquet")


def publish(dataset: Dataset, spark_backend, warehouse: str | Path) -> SparkDataset:
    """Copy every table of ``dataset`` (a loaded DuckDB dataset) to Spark as ``ds_<id>``; returns the
    :class:`SparkDataset` over it. All or nothing (see the module docstring)."""
    session = _session(spark_backend)
    tables = sorted(dataset.tables())
    for table in tables:
        _ident(table)
    root = Path(warehouse).resolve() / dataset.schema
    token = secrets.token_hex(4)
    files = root / token
    staging = f"{dataset.schema}{_STAGING}{token}"
    version = dataset.version
    session.sql(f"CREATE DATABASE {_ident(staging)}")
    try:
        for table in tables:
            _copy_to_parquet(dataset, table, files / table)
            _register(session, staging, table, files / table)
            session.table(f"{_ident(staging)}.{_ident(table)}").schema  # noqa: B018 - Spark reads it back
    except BaseException:
        session.sql(f"DROP DATABASE IF EXISTS {_ident(staging)} CASCADE")
        shutil.rmtree(files, ignore_errors=True)
        raise
    # the swap: metadata only (external tables; dropping them keeps their files)
    session.sql(f"DROP DATABASE IF EXISTS {_ident(dataset.schema)} CASCADE")
    session.sql(f"CREATE DATABASE {_ident(dataset.schema)}")
    for table in tables:
        _register(session, dataset.schema, table, files / table)
    session.sql(f"DROP DATABASE IF EXISTS {_ident(staging)} CASCADE")
    for old in root.iterdir():
        if old.is_dir() and old.name != token:
            shutil.rmtree(old, ignore_errors=True)
    return SparkDataset(spark_backend, dataset.id, dataset.name, dataset.workspace, dataset.principal,
                        published_version=version)


def open_published(spark_backend, dataset: Dataset) -> SparkDataset | None:
    """The Spark side of ``dataset`` when this session has published it (None otherwise)."""
    session = _session(spark_backend)
    if not session.catalog.databaseExists(dataset.schema):
        return None
    return SparkDataset(spark_backend, dataset.id, dataset.name, dataset.workspace, dataset.principal,
                        published_version=dataset.version)


def drop(spark_dataset: SparkDataset, warehouse: str | Path) -> None:
    """Remove a published dataset: its Spark database and its files under ``warehouse``."""
    _session(spark_dataset.con).sql(f"DROP DATABASE IF EXISTS {_ident(spark_dataset.schema)} CASCADE")
    shutil.rmtree(Path(warehouse).resolve() / spark_dataset.schema, ignore_errors=True)
