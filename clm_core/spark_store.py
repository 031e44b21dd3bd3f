"""A loaded DuckDB dataset published to Spark, and the dataset the metrics read there (issue 13).

What runs where: files are read, checked and loaded into the DuckDB file as always (``clm_core.ingest``:
validation, rejected-rows report, one transaction); :func:`publish` then copies the dataset's *loaded*
tables (``schema.TABLES``) to Parquet and builds the *derived* tables (``clm_core.derived.BUILDERS``: the
same Ibis expressions DuckDB's load runs) on Spark itself, written by Spark as Parquet. The DuckDB file
keeps what is small and transactional: the dataset list, saved views, customer lists, workspaces and
stored model results (:attr:`SparkDataset.home`).

Layout under the warehouse directory::

    <warehouse>/ds_<id>/<token>/<table>/   Parquet files of one publication
    <warehouse>/ds_<id>/published.json     {"token", "version", "tables"}: the current publication

A publication is all or nothing: the files are written and registered in a staging database
``ds_<id>__staging_<token>`` first (every table read back by Spark); the manifest ``published.json`` is
then replaced in one rename — the commit — and only after it the database ``ds_<id>`` is pointed at the
new files (external tables: metadata only) and the old files removed. A publication that fails before the
rename leaves the previous one as it was. The manifest is the catalog that outlives a process: a new
process (or another machine sharing the warehouse) registers its tables again from it (:func:`open_published`)
without copying anything.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from clm_core import schema, store
from clm_core.store import Dataset

_TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
_STAGING = "__staging_"
MANIFEST = "published.json"


def _ident(name: str) -> str:
    """A Spark identifier, backquoted; only the names this module makes (ds_<hex>, lower-case table names)."""
    if not _TABLE.match(name):
        raise ValueError(f"not a table or database name: {name!r}")
    return f"`{name}`"


@dataclass(frozen=True)
class SparkDataset(Dataset):
    """A dataset published to Spark: ``con`` is the Ibis pyspark backend, tables are in ``database``
    (default ``ds_<id>``); ``home`` is the DuckDB dataset it was published from (metadata, stored models)."""

    published_version: int = 0
    database: str = ""
    meta: Dataset | None = field(default=None, compare=False, repr=False)

    @property
    def schema(self) -> str:
        return self.database or f"ds_{self.id}"

    @property
    def home(self) -> Dataset:
        return self.meta if self.meta is not None else self

    def tables(self) -> frozenset[str]:
        """Names of the dataset's Spark tables, looked up once per object (see ``refresh``)."""
        cached = self.__dict__.get("_tables")
        if cached is None:  # not the session's temporary views (Ibis' literal tables), which every database lists
            listed = _session(self.con).catalog.listTables(self.schema)
            cached = frozenset(t.name for t in listed if not t.isTemporary)
            object.__setattr__(self, "_tables", cached)
        return cached

    @property
    def version(self) -> int:
        return self.published_version


def _session(spark_backend):
    return spark_backend._session


def loaded_tables(dataset: Dataset) -> list[str]:
    """The dataset's tables that a load writes (customers, transactions, …), which are copied to Spark."""
    return sorted(t for t in dataset.tables() if t in schema.TABLES)


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
    """A column for the Parquet copy: DuckDB's 128-bit and unsigned 64-bit integers as BIGINT, which Spark
    reads as a long (Parquet has no 128-bit integer; DuckDB would write a double). The cast fails loudly on
    overflow instead of losing digits."""
    quoted = store.quote_ident(name)
    if kind.upper() in ("HUGEINT", "UHUGEINT", "UBIGINT"):
        return f"CAST({quoted} AS BIGINT) AS {quoted}"
    return quoted


def _build_on_spark(staged: SparkDataset, build, folder: Path) -> bool:
    """Write the derived table ``build(staged)`` as Parquet into ``folder``, computed by Spark from the
    staged tables; False when the loaded tables do not allow it (the builder returns None)."""
    expr = build(staged)
    if expr is None:
        return False
    spark_backend = staged.con
    spark_backend._run_pre_execute_hooks(expr)  # registers literal tables (memtables), if any
    spark_backend._session.sql(spark_backend.compile(expr)).write.parquet(str(folder))
    return True


def _register(session, database: str, table: str, folder: Path) -> None:
    session.catalog.createTable(f"{_ident(database)}.{_ident(table)}", path=str(folder), source="parquet")


def _read_manifest(root: Path) -> dict | None:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("token"), str)
            and re.fullmatch(r"[0-9a-f]{8}", manifest["token"]) and isinstance(manifest.get("version"), int)
            and isinstance(manifest.get("tables"), list) and all(_TABLE.match(str(t)) for t in manifest["tables"])):
        return None
    return manifest


def _write_manifest(root: Path, manifest: dict) -> None:
    """Replace the manifest in one rename (the commit of a publication)."""
    partial = root / f".{MANIFEST}.{manifest['token']}"
    partial.write_text(json.dumps(manifest, sort_keys=True))
    os.replace(partial, root / MANIFEST)


#: (id of the Spark session, database) -> token of the publication its catalog has registered
_REGISTERED: dict[tuple[int, str], str] = {}
_REGISTERING = threading.Lock()


def _point_database(session, database: str, token: str, tables: list[str], files: Path) -> None:
    """(Re)create ``database`` with external tables on the files of publication ``token`` (metadata only)."""
    session.sql(f"DROP DATABASE IF EXISTS {_ident(database)} CASCADE")
    session.sql(f"CREATE DATABASE {_ident(database)}")
    for table in tables:
        _register(session, database, table, files / table)
    _REGISTERED[(id(session), database)] = token


def publish(dataset: Dataset, spark_backend, warehouse: str | Path) -> SparkDataset:
    """Publish ``dataset`` (a loaded DuckDB dataset) to Spark as ``ds_<id>``: its loaded tables copied, its
    derived tables built by Spark; returns the :class:`SparkDataset` over it. All or nothing (module docstring)."""
    from clm_core.derived import BUILDERS

    session = _session(spark_backend)
    copied = loaded_tables(dataset)
    for table in copied:
        _ident(table)
    root = Path(warehouse).resolve() / dataset.schema
    token = secrets.token_hex(4)
    files = root / token
    staging = f"{dataset.schema}{_STAGING}{token}"
    version = dataset.version
    home = dataset.home
    session.sql(f"CREATE DATABASE {_ident(staging)}")
    try:
        for table in copied:
            _copy_to_parquet(dataset, table, files / table)
            _register(session, staging, table, files / table)
            session.table(f"{_ident(staging)}.{_ident(table)}").schema  # noqa: B018 - Spark reads it back
        staged = SparkDataset(spark_backend, dataset.id, dataset.name, dataset.workspace, dataset.principal,
                              published_version=version, database=staging, meta=home)
        built = []
        for name, (build, _) in BUILDERS.items():
            if _build_on_spark(staged, build, files / name):
                _register(session, staging, name, files / name)
                built.append(name)
            staged.refresh()
        _write_manifest(root, {"token": token, "version": version, "tables": copied + built})
    except BaseException:
        session.sql(f"DROP DATABASE IF EXISTS {_ident(staging)} CASCADE")
        shutil.rmtree(files, ignore_errors=True)
        raise
    with _REGISTERING:
        _point_database(session, dataset.schema, token, copied + built, files)
    session.sql(f"DROP DATABASE IF EXISTS {_ident(staging)} CASCADE")
    for old in root.iterdir():
        if old.is_dir() and old.name != token:
            shutil.rmtree(old, ignore_errors=True)
    return SparkDataset(spark_backend, dataset.id, dataset.name, dataset.workspace, dataset.principal,
                        published_version=version, meta=home)


def published_version(dataset: Dataset, warehouse: str | Path) -> int | None:
    """The version of ``dataset`` published under ``warehouse`` (None: never), read from the manifest alone
    (no Spark session needed)."""
    manifest = _read_manifest(Path(warehouse).resolve() / dataset.schema)
    return None if manifest is None else manifest["version"]


def open_published(spark_backend, dataset: Dataset, warehouse: str | Path) -> SparkDataset | None:
    """The Spark side of ``dataset`` as its latest publication under ``warehouse`` left it; its tables are
    registered in this session's catalog from the manifest when they are not yet. None when it was never
    published. Its ``version`` is the version published, which may be older than ``dataset``'s."""
    session = _session(spark_backend)
    root = Path(warehouse).resolve() / dataset.schema
    manifest = _read_manifest(root)
    if manifest is None:
        return None
    with _REGISTERING:
        if _REGISTERED.get((id(session), dataset.schema)) != manifest["token"] \
                or not session.catalog.databaseExists(dataset.schema):
            _point_database(session, dataset.schema, manifest["token"], manifest["tables"], root / manifest["token"])
    return SparkDataset(spark_backend, dataset.id, dataset.name, dataset.workspace, dataset.principal,
                        published_version=manifest["version"], meta=dataset.home)


def drop(spark_dataset: SparkDataset, warehouse: str | Path) -> None:
    """Remove a published dataset: its Spark database, its manifest and its files under ``warehouse``."""
    session = _session(spark_dataset.con)
    session.sql(f"DROP DATABASE IF EXISTS {_ident(spark_dataset.schema)} CASCADE")
    _REGISTERED.pop((id(session), spark_dataset.schema), None)
    shutil.rmtree(Path(warehouse).resolve() / spark_dataset.schema, ignore_errors=True)
