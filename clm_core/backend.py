"""Which engine a database setting names, and the Spark session for it (issue 13).

A setting (``CLM_DATABASE``, ``--database``) is one of:

- a path, or ``duckdb:///path`` (``duckdb://:memory:`` / ``:memory:``): the embedded DuckDB file, the default;
- ``spark://local[N]`` (``local[*]``, ``local``): a Spark session in this process on N cores;
- ``spark://HOST:PORT``: a Spark cluster's master (``spark://HOST:7077``);
- ``sc://HOST:PORT``: a Spark Connect server (``sc://HOST:15002``).

Spark's tables are Parquet files under a warehouse directory: ``CLM_SPARK_WAREHOUSE``, else
``spark-warehouse/`` beside the DuckDB file (``default_warehouse``), else a temporary directory. pyspark is
optional (``requirements-spark.txt``); nothing here imports it until a session is asked for.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

_LOCAL = re.compile(r"^local(\[(\d+|\*)\])?$")
_HOST_PORT = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:]+\]):(\d{1,5})$")

SPARK_MISSING = "Spark needs pyspark: pip install -r requirements-spark.txt"


@dataclass(frozen=True)
class Backend:
    """A parsed database setting.

    ``kind``: ``duckdb`` or ``spark``; ``path``: the DuckDB file (``:memory:`` for none);
    ``master``: Spark's master URL (``local[2]``, ``spark://HOST:7077``) or, with ``connect``, the Spark
    Connect URL (``sc://HOST:15002``).
    """

    kind: str
    path: str = ""
    master: str = ""
    connect: bool = False

    @property
    def is_spark(self) -> bool:
        return self.kind == "spark"

    @property
    def is_local(self) -> bool:
        """A Spark session inside this process (``local[N]``)."""
        return self.is_spark and not self.connect and self.master.startswith("local")


def parse(setting: str | os.PathLike | None) -> Backend:
    """The backend a database setting names (None or empty: the default DuckDB file); ValueError for a URL
    of an unknown scheme or a malformed Spark address."""
    from clm_core.store import DEFAULT_DATABASE  # the store imports nothing from here

    text = str(setting) if setting is not None else ""
    if not text.strip():
        return Backend("duckdb", path=str(DEFAULT_DATABASE))
    scheme, sep, rest = text.partition("://")
    if not sep or (len(scheme) == 1 and scheme.isalpha()):  # a path (C:// is a Windows drive, not a scheme)
        return Backend("duckdb", path=text)
    scheme = scheme.lower()
    if scheme == "duckdb":
        # duckdb:///abs/path -> /abs/path; duckdb://rel/path -> rel/path; duckdb://:memory: -> :memory:
        if not rest or rest == "/":
            raise ValueError(f"database URL {text!r} names no DuckDB file (duckdb:///path/to.duckdb)")
        return Backend("duckdb", path=rest)
    if scheme == "spark":
        if _LOCAL.match(rest):
            return Backend("spark", master=rest)
        if _HOST_PORT.match(rest) and 0 < int(rest.rsplit(":", 1)[1]) < 65536:
            return Backend("spark", master=f"spark://{rest}")
        raise ValueError(f"database URL {text!r}: expected spark://local[N] or spark://HOST:PORT")
    if scheme == "sc":
        host = rest.split("/", 1)[0]
        if _HOST_PORT.match(host) and 0 < int(host.rsplit(":", 1)[1]) < 65536:
            return Backend("spark", master=f"sc://{rest}", connect=True)
        raise ValueError(f"database URL {text!r}: expected sc://HOST:PORT (Spark Connect)")
    raise ValueError(f"database URL {text!r}: unknown scheme {scheme!r} "
                     "(a DuckDB path, duckdb:///path, spark://local[N], spark://HOST:PORT or sc://HOST:PORT)")


def warehouse(duckdb_path: str | os.PathLike | None = None) -> Path:
    """The Spark warehouse directory: ``CLM_SPARK_WAREHOUSE``, else ``spark-warehouse`` beside the DuckDB file
    ``duckdb_path``, else (no file: ``report``'s in-memory load) a new temporary directory."""
    configured = os.environ.get("CLM_SPARK_WAREHOUSE")
    if configured:
        return Path(configured).resolve()
    if duckdb_path is not None and str(duckdb_path) not in ("", ":memory:"):
        return (Path(duckdb_path).resolve().parent / "spark-warehouse")
    return Path(tempfile.mkdtemp(prefix="clm_spark_"))


def spark_conf(backend: Backend, warehouse_dir: Path) -> dict[str, str]:
    """Session settings for a small machine (2 cores): few shuffle partitions, no UI, UTC, scratch space and
    metastore files under the warehouse."""
    warehouse_dir = Path(warehouse_dir)
    conf = {
        "spark.app.name": "clm",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(warehouse_dir / "tables"),
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse_dir / 'derby'} -Duser.timezone=UTC",
    }
    if backend.is_local:
        conf["spark.local.dir"] = str(warehouse_dir / "tmp")
        conf["spark.driver.memory"] = os.environ.get("CLM_SPARK_DRIVER_MEMORY", "2g")
    return conf


_SESSIONS: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def spark(backend: Backend, warehouse_dir: str | os.PathLike):
    """(SparkSession, Ibis pyspark backend) for ``backend``, created once per process and warehouse.

    ValueError with one line when pyspark is not installed or ``backend`` is not a Spark one. Spark allows
    one active session per process: a second warehouse for the same master reuses the first session.
    """
    if not backend.is_spark:
        raise ValueError(f"not a Spark backend: {backend}")
    warehouse_dir = Path(warehouse_dir).resolve()
    key = (backend.master, str(warehouse_dir))
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        try:
            import ibis
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ValueError(SPARK_MISSING) from exc
        try:
            ibis.pyspark  # noqa: B018 - loads the backend, which needs pyspark's own dependencies
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"{SPARK_MISSING} ({exc})") from exc
        (warehouse_dir / "tmp").mkdir(parents=True, exist_ok=True)
        if backend.is_local:  # a session inside this process listens on the loopback interface only
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if backend.connect:
            builder = SparkSession.builder.remote(backend.master)
        else:
            builder = SparkSession.builder.master(backend.master)
            for name, value in spark_conf(backend, warehouse_dir).items():
                builder = builder.config(name, value)
        try:
            session = builder.getOrCreate()
        except ImportError as exc:  # Spark Connect's client packages (grpcio, …) are not in requirements-spark.txt
            raise ValueError(f"{backend.master}: Spark Connect needs pyspark's connect extra "
                             f"(pip install 'pyspark[connect]==4.0.5'): {' '.join(str(exc).split())}") from exc
        except Exception as exc:  # noqa: BLE001 - e.g. no Java: py4j's gateway exits
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"could not start Spark ({backend.master}; it needs Java 17): {first}") from exc
        if not backend.connect:
            session.sparkContext.setLogLevel("ERROR")
        found = (session, ibis.pyspark.connect(session))
        _SESSIONS[key] = found
        return found


def stop_all() -> None:
    """Stop every session this process started (tests, the end of ``report``)."""
    with _LOCK:
        for session, _ in _SESSIONS.values():
            try:
                session.stop()
            except Exception:  # noqa: BLE001 - stopping is best effort
                pass
        _SESSIONS.clear()
