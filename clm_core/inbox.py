"""The import folder (DESIGN §4): loads handed to the running app, which holds the database file.

DuckDB lets one process write a database file, and the running app keeps its file open. A load from
the command line while the app runs therefore goes through this folder: ``python -m clm_core load``
copies the files into a new *job folder* here, and the app imports the jobs in its own process, on its
own serialised write path (``store.WRITE_LOCK``), one at a time in name order.

Layout (the folder is ``CLM_INBOX``, else ``inbox/`` beside the database file, i.e. ``data/inbox/``)::

    inbox/
      .tmp-<job>/              a job being written (ignored; renamed to <job> once complete; removed when a
                               day old, as a copy that never finished)
      <job>/                   waiting: job.json and one file per table
        job.json               {"dataset": NAME, "tables": {table: file}, "mapping": {table: {header: column}},
                                "names": {table: original file name}, "bytes": {table: size}, ...}
      done/<job>/              imported: the files, job.json, import_report.json, import_report.csv
      failed/<job>/            refused: the same, the report giving the one-line reason

A job is named ``<UTC time>-<random>``, so name order is submission order. It appears under its name
only by an atomic rename of its finished temporary folder, so a job folder with a manifest is complete
(a hand-made one whose files do not yet have the sizes its manifest gives is left waiting for a while).
Before loading, the importer counts the attempt in the job folder (``.attempts``): a job whose import
killed the process is tried once more after a restart, then moved to ``failed/`` instead of being
retried forever. Any error of a load moves the job to ``failed/`` at once.

Nothing here imports Streamlit; ``clm_ui.inbox`` starts a :class:`Watcher` once per app process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from clm_core import access, export, ingest, schema, store

log = logging.getLogger(__name__)

MANIFEST = "job.json"
REPORT_JSON = "import_report.json"
REPORT_CSV = "import_report.csv"
ATTEMPTS = ".attempts"
DONE = "done"
FAILED = "failed"
TEMP_PREFIX = ".tmp-"
#: a job whose import stopped the process this many times is not tried again
MAX_ATTEMPTS = 2
#: a job folder whose files do not (yet) match its manifest waits this long before it is refused
INCOMPLETE_SECONDS = 600.0
#: a temporary job folder this old was left by a copy that never finished (removed)
ABANDONED_SECONDS = 24 * 3600.0
#: seconds between two looks at the folder (``CLM_INBOX_SECONDS``, 0.2–3,600)
POLL_SECONDS = 3.0
MANIFEST_VERSION = 1
#: who a job acts as: the command line has no sign-in, so a job creates (and replaces) the dataset of its
#: name in the default workspace only, never one of another workspace
PRINCIPAL = access.OPEN
_JOB = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,120}$")
_FILE = re.compile(r"[^0-9A-Za-z._-]+")


# --------------------------------------------------------------------------- where

def folder(database: str | os.PathLike | None = None) -> Path:
    """The import folder: ``CLM_INBOX``, else ``inbox/`` beside the database file (``data/inbox/`` for the
    default ``data/clm.duckdb``)."""
    configured = os.environ.get("CLM_INBOX")
    if configured:
        return Path(configured)
    database = str(database) if database is not None else store.database_path()
    if database == ":memory:" or "://" in database:
        return store.DEFAULT_DATABASE.parent / "inbox"
    return Path(database).parent / "inbox"


def poll_seconds() -> float:
    """The watcher's interval from ``CLM_INBOX_SECONDS`` (0.2–3,600 s; anything else: the default)."""
    text = os.environ.get("CLM_INBOX_SECONDS")
    if not text:
        return POLL_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0.2 <= seconds <= 3600:
        log.warning("CLM_INBOX_SECONDS=%r is not a number of seconds in 0.2–3600; using %s", text, POLL_SECONDS)
        return POLL_SECONDS
    return seconds


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB refusing a database file another process holds."""
    return isinstance(exc, duckdb.IOException) and "Could not set lock on file" in str(exc)


# --------------------------------------------------------------------------- handing files in

def _job_name() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(3)


def _copy_name(table: str, source: Path) -> str:
    """``<table>-<original name>`` with only safe characters (the extensions kept for the reader)."""
    clean = _FILE.sub("_", source.name).strip("._") or "file"
    return f"{table}-{clean[-100:]}"


def submit(inbox: str | os.PathLike, dataset: str, sources: dict[str, str | os.PathLike],
           mapping: dict[str, dict[str, str]] | None = None) -> Path:
    """Copy ``sources`` (table -> file) into a new job folder of ``inbox`` for dataset ``dataset``:
    written into a hidden temporary folder, then renamed, so the importer sees the job only complete.
    Returns the job folder."""
    name = (dataset or "").strip()
    if not name:
        raise ValueError("a dataset needs a name")
    for table, source in sources.items():
        schema.columns(table)
        if not Path(source).is_file():
            raise ingest.IngestError(f"{source}: no such file")
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    job = _job_name()
    temp = inbox / f"{TEMP_PREFIX}{job}"
    temp.mkdir()
    try:
        tables, names, sizes = {}, {}, {}
        for table, source in sources.items():
            source = Path(source)
            target = temp / _copy_name(table, source)
            shutil.copyfile(source, target)
            with open(target, "rb+") as f:
                os.fsync(f.fileno())
            tables[table], names[table], sizes[table] = target.name, source.name, target.stat().st_size
        manifest = {
            "version": MANIFEST_VERSION,
            "dataset": name,
            "tables": tables,
            "mapping": {t: dict(m) for t, m in (mapping or {}).items() if t in tables and m},
            "names": names,
            "bytes": sizes,
            "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(temp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temp, inbox / job)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return inbox / job


# --------------------------------------------------------------------------- importing

@dataclass
class ImportResult:
    """What became of one job: ``folder`` is where it ended (``done/<job>`` or ``failed/<job>``)."""

    job: str
    ok: bool
    dataset: str | None
    message: str
    folder: Path
    dataset_id: str | None = None
    tables: list[dict] = field(default_factory=list)


class _Incomplete(Exception):
    """The job's files do not match its manifest yet."""


def _refuse_links(job_folder: Path) -> None:
    """ValueError naming the first symbolic link among the job folder's entries (a job holds its files
    themselves: a link would load, or have the report written over, any file the app can read or write)."""
    with os.scandir(job_folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_symlink():
                raise ValueError(f"{entry.name} is a symbolic link; a job folder must hold its files themselves")


def _read_manifest(job_folder: Path) -> dict:
    """The validated manifest: dataset name, table -> file inside the job folder, mapping, names."""
    _refuse_links(job_folder)
    try:
        manifest = json.loads((job_folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{MANIFEST} cannot be read: {' '.join(str(exc).split())}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{MANIFEST} is not an object")
    name = manifest.get("dataset")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{MANIFEST} names no dataset")
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise ValueError(f"{MANIFEST} lists no files")
    for table, file in tables.items():
        if table not in schema.TABLES:
            raise ValueError(f"{MANIFEST}: {table!r} is not a table ({', '.join(schema.TABLES)})")
        if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
            raise ValueError(f"{MANIFEST}: {table} must name a file inside the job folder, not {file!r}")
    mapping = manifest.get("mapping") or {}
    if not isinstance(mapping, dict) or not all(
            t in tables and isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
            for t, m in mapping.items()):
        raise ValueError(f"{MANIFEST}: mapping must be {{table: {{header: column}}}} for its tables")
    names = manifest.get("names") or {}
    sizes = manifest.get("bytes") or {}
    for table, file in tables.items():
        path = job_folder / file
        expected = sizes.get(table) if isinstance(sizes, dict) else None
        try:
            status = os.lstat(path)  # never following a link (refused above, or put there since)
        except FileNotFoundError:
            raise _Incomplete(f"{file}: missing") from None
        if stat.S_ISLNK(status.st_mode):
            raise ValueError(f"{file} is a symbolic link; a job folder must hold its files themselves")
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"{file} is not a regular file")
        if isinstance(expected, int) and status.st_size != expected:
            raise _Incomplete(f"{file}: {status.st_size} bytes, the manifest says {expected}")
    return {"dataset": name.strip(), "tables": tables, "mapping": mapping,
            "names": {t: str(n) for t, n in names.items() if t in tables} if isinstance(names, dict) else {}}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _write(path: Path, text: str, sync: bool = False) -> None:
    """Write ``text`` to ``path`` in the job folder through a new file renamed over it: whatever ``path``
    is (a symbolic link someone put there), only the job folder's entry is replaced."""
    fd, temp = tempfile.mkstemp(prefix=".write-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _attempt(job_folder: Path) -> int:
    """Count this attempt in the job folder (on disk before loading); returns how many came before."""
    path = job_folder / ATTEMPTS
    try:
        before = int(path.read_text().strip() or 0) if not path.is_symlink() else 0
    except (OSError, ValueError):
        before = 0
    _write(path, str(before + 1), sync=True)
    return before


def _write_report(job_folder: Path, job: str, status: str, dataset: str | None, dataset_id: str | None,
                  error: str | None, loaded: ingest.IngestReport | None, started: dt.datetime) -> list[dict]:
    """import_report.json (everything) and import_report.csv (one row per table, one per listed rejected
    row, or the error) into the job folder; returns the per-table rows."""
    tables, rejected = [], []
    for table, r in (loaded.tables.items() if loaded is not None else []):
        tables.append({"table": table, "source": r.source, "rows_read": int(r.rows_read),
                       "rows_loaded": int(r.rows_loaded), "rows_rejected": int(r.rows_rejected)})
        for row in r.rejected.itertuples(index=False):
            record = dict(zip(r.rejected.columns, row))
            rejected.append({"table": table, "line": int(record.get("line")) if pd.notna(record.get("line")) else None,
                             "reason": str(record.get("reason", "")),
                             "values": {str(k): (None if pd.isna(v) else str(v)) for k, v in record.items()
                                        if k not in ("line", "reason")}})
    finished = dt.datetime.now(dt.timezone.utc)
    document = {"job": job, "status": status, "dataset": dataset, "dataset_id": dataset_id, "error": error,
                "started_at": started.isoformat(timespec="seconds"),
                "finished_at": finished.isoformat(timespec="seconds"),
                "tables": tables, "rejected": rejected}
    _write(job_folder / REPORT_JSON, json.dumps(document, indent=2, ensure_ascii=False))
    columns = ["record", "table", "rows_read", "rows_loaded", "rows_rejected", "line", "reason"]
    rows = [{"record": "table", **{k: v for k, v in t.items() if k != "source"}} for t in tables]
    rows += [{"record": "rejected", "table": r["table"], "line": r["line"], "reason": r["reason"]} for r in rejected]
    if error is not None:
        rows.append({"record": "error", "reason": error})
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("rows_read", "rows_loaded", "rows_rejected", "line"):
        frame[column] = frame[column].astype("Int64")
    _write(job_folder / REPORT_CSV, export.to_csv(frame, None, index=False))
    return tables


def _move(job_folder: Path, where: str) -> Path:
    target_dir = job_folder.parent / where
    target_dir.mkdir(exist_ok=True)
    target = target_dir / job_folder.name
    if target.exists():
        target = target_dir / f"{job_folder.name}-{secrets.token_hex(3)}"
    os.rename(job_folder, target)
    return target


def import_job(con, job_folder: str | os.PathLike) -> ImportResult:
    """Import one job folder into ``con`` (the process connection): its files become the dataset the
    manifest names, created in the load's transaction and replacing the dataset of that name (all or
    nothing). Writes import_report.json/.csv into the job folder and moves it to ``done/`` or ``failed/``.
    A job whose files do not match its manifest yet is left in place (refused after
    :data:`INCOMPLETE_SECONDS`); then ``ok`` is False and ``folder`` the job folder itself."""
    job_folder = Path(job_folder)
    job = job_folder.name
    if job_folder.is_symlink():  # nothing is read through it, nor any report written into its target
        final = _move(job_folder, FAILED)
        message = f"refused {job}: the job folder is a symbolic link; it must be a folder of the import folder"
        log.warning("%s", message)
        return ImportResult(job, False, None, message, final)
    started = dt.datetime.now(dt.timezone.utc)
    name = dataset_id = loaded = error = None
    try:
        manifest = _read_manifest(job_folder)
        name = manifest["dataset"]
    except _Incomplete as exc:
        age = time.time() - job_folder.stat().st_mtime
        if age < INCOMPLETE_SECONDS:
            return ImportResult(job, False, None, f"waiting for its files ({_one_line(exc)})", job_folder)
        error = f"the job's files do not match its manifest: {_one_line(exc)}"
    except ValueError as exc:
        error = _one_line(exc)
    if error is None:
        before = _attempt(job_folder)
        if before >= MAX_ATTEMPTS:
            error = (f"the import was started {before} times and never finished (the app stopped or crashed "
                     "while importing); not tried again")
    if error is None:
        sources = {t: job_folder / f for t, f in manifest["tables"].items()}
        try:
            # The dataset of that name is found and replaced inside the load's transaction: no other write
            # comes between, and the app's other writes wait only for that, not for unpacking the files.
            dataset = store.new_dataset(con, name, PRINCIPAL)
            loaded = ingest.load(dataset, sources, mapping=manifest["mapping"], names=manifest["names"],
                                 create=True, replaces_name=name)
            dataset_id = dataset.id
        except Exception as exc:  # noqa: BLE001 - whatever it is, the job fails with one line and is not retried
            if not isinstance(exc, (ingest.IngestError, store.MissingTableError, ValueError, OSError, duckdb.Error)):
                log.exception("import of %s failed", job)
            error = _one_line(exc)
            loaded = None
    ok = error is None
    tables = _write_report(job_folder, job, "imported" if ok else "failed", name, dataset_id, error, loaded, started)
    final = _move(job_folder, DONE if ok else FAILED)
    if ok:
        counts = ", ".join(f"{t['table']} {t['rows_loaded']}/{t['rows_read']}" for t in tables)
        message = f"imported {job} as dataset {name!r} ({counts} rows loaded)"
        log.info("%s", message)
    else:
        message = f"refused {job}: {error}"
        log.warning("%s", message)
    return ImportResult(job, ok, name, message, final, dataset_id, tables)


def pending_jobs(inbox: str | os.PathLike) -> list[Path]:
    """Job folders waiting in ``inbox``, in name order: complete ones only (a manifest present), never
    the hidden temporary folders nor ``done/`` and ``failed/``."""
    inbox = Path(inbox)
    try:
        entries = list(os.scandir(inbox))
    except (FileNotFoundError, NotADirectoryError):
        return []
    jobs = [Path(e.path) for e in entries
            if e.is_dir(follow_symlinks=False) and _JOB.match(e.name) and e.name not in (DONE, FAILED)
            and (Path(e.path) / MANIFEST).is_file()]
    return sorted(jobs, key=lambda p: p.name)


_RUN = threading.Lock()
#: jobs this process could not move out of the folder (not looked at again by this process)
_STUCK: set[str] = set()


class _FolderLock:
    """An advisory lock on ``inbox/.lock`` (POSIX), so that two processes never import from one folder at
    once; acquired without waiting (False: someone else is importing)."""

    def __init__(self, inbox: Path):
        self.path = inbox / ".lock"
        self.fd = None

    def __enter__(self) -> bool:
        try:
            import fcntl
        except ImportError:  # not POSIX: one importer per folder is the operator's business
            return True
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            os.close(self.fd)
            self.fd = None
            return False

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def remove_abandoned(inbox: str | os.PathLike, seconds: float = ABANDONED_SECONDS) -> list[Path]:
    """Remove the temporary job folders older than ``seconds``: copies that were never finished (the
    copying process was killed); returns them."""
    removed = []
    for temp in Path(inbox).glob(f"{TEMP_PREFIX}*"):
        try:
            if temp.is_dir() and not temp.is_symlink() and time.time() - temp.stat().st_mtime > seconds:
                shutil.rmtree(temp)
                removed.append(temp)
        except OSError:
            pass
    return removed


def run_pending(con, inbox: str | os.PathLike | None = None) -> list[ImportResult]:
    """Import every waiting job of ``inbox`` (default :func:`folder`), one at a time in name order (and
    remove abandoned temporary folders)."""
    inbox = Path(inbox) if inbox is not None else folder()
    remove_abandoned(inbox)
    jobs = [j for j in pending_jobs(inbox) if str(j) not in _STUCK]
    if not jobs:
        return []
    results = []
    with _RUN, _FolderLock(inbox) as mine:
        if not mine:
            return []
        for job in pending_jobs(inbox):  # again: another importer may have taken some meanwhile
            if str(job) in _STUCK:
                continue
            try:
                results.append(import_job(con, job))
            except OSError as exc:  # the report or the move failed: leave it, and do not loop on it
                _STUCK.add(str(job))
                log.error("cannot finish the import of %s: %s", job, _one_line(exc))
    return results


class Watcher:
    """A daemon thread importing the jobs of ``inbox`` into ``con``: at start, then every ``seconds``."""

    def __init__(self, con, inbox: str | os.PathLike | None = None, seconds: float | None = None):
        self.con = con
        self.inbox = Path(inbox) if inbox is not None else folder()
        self.seconds = seconds if seconds is not None else poll_seconds()
        self.results: list[ImportResult] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"clm-inbox {self.inbox}", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = run_pending(self.con, self.inbox)
                self.results = (self.results + done)[-100:]
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad poll
                log.exception("the import folder %s could not be read", self.inbox)
            self._stop.wait(self.seconds)
