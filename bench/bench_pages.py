"""Page speed in a browser: every page of the app in headless Chromium, at three data sizes.

Run with ``make bench-pages`` (``.venv/bin/python bench/bench_pages.py``); see bench/README.md.

1. Writes the datasets once into <out>/pages/<size>/data (git-ignored): the demo
   (``clm_core.demo``), and bench_core's generator at 100k customers / 1M orders
   and 1M customers / 10M orders.
2. Loads each into its own DuckDB file with the app's own code (``store.connect``,
   ``store.create_dataset``, ``ingest.load``, run from the checkout measured),
   cached per data and per version of the loading code; ``--reload`` loads again.
3. Per size: ``streamlit run app.py`` on a copy of that file (a fresh server),
   then Chromium times the app's opening (a fresh browser profile), each page's first and
   second visit (each in a new tab of that profile: a new Streamlit session with the app's
   files in the browser cache) and, on three pages, an as-of date and a segment
   filter set in the URL; then, in one tab, every page reached by a click on its sidebar
   link, twice round. "Drawn" is defined at :data:`STATE_JS` / :func:`drawn`.
4. Prints the table and writes it into bench/README.md (``--no-write``: not).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bench_core  # bench/ is sys.path[0] when run as a script; bench_core puts the project root on it

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import processes  # noqa: E402  tests/e2e/processes.py: free port, health check, stop (conftest imports it too)

ROOT = bench_core.ROOT
README = ROOT / "bench" / "README.md"
HEADING = "## `bench_pages.py`: pages in a browser"
SEED = 20240101  # bench_core.generate's default seed
DEMO_SEED = 42  # clm_core.demo's default seed
STABLE = 0.3  # seconds the page must stay drawn
POLL = 0.05  # seconds between two looks at the page
CHANGE_PAGES = ("overview", "lifecycle", "value")  # pages timed with an as-of date and a filter as well
FILTER = {"f.channel": "Email"}  # segment filter (clm_core.filters: f.<attribute>); Email exists at every size
LOAD_CODE = ("ingest.py", "derived.py", "schema.py", "store.py")  # what decides the tables a load stores
KINDS = ("first", "second", "asof", "filter", "click", "click_again")
HEADERS = ("first visit", "second visit", "as-of date", "segment filter", "in-app, first", "in-app, again")


def _e2e():
    """tests/e2e/conftest.py as a module: Chromium's path and flags, the server's start timeout."""
    spec = importlib.util.spec_from_file_location("e2e_conftest", ROOT / "tests" / "e2e" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Size:
    key: str
    label: str
    customers: int
    transactions: int | None  # None: the demo generator decides


SIZES = {
    "demo": Size("demo", "demo (5,000 customers)", 5_000, None),
    "100k": Size("100k", "100k customers / 1M orders", 100_000, 1_000_000),
    "10m": Size("10m", "1M customers / 10M orders", 1_000_000, 10_000_000),
}


# --------------------------------------------------------------------------- data and database

def data_files(size: Size, out: Path) -> tuple[dict[str, str], str]:
    """(table -> CSV path, stamp) of the size's files, written once; the stamp file marks them complete."""
    folder = out / "pages" / size.key / "data"
    stamp = (f"demo_{size.customers}_{DEMO_SEED}" if size.transactions is None
             else f"data_{size.customers}_{size.transactions}_{SEED}")
    if not (folder / stamp).exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"[{size.key}] writing the data into {folder} …", flush=True)
        started = time.perf_counter()
        if size.transactions is None:
            from clm_core import demo

            demo.write_demo(folder, n_customers=size.customers, seed=DEMO_SEED)
        else:
            bench_core.generate(folder, size.customers, size.transactions, size.customers // 2, SEED)
        (folder / stamp).touch()
        print(f"[{size.key}]   written in {time.perf_counter() - started:.0f} s", flush=True)
    return {p.stem: str(p) for p in sorted(folder.glob("*.csv"))}, stamp


def code_key(app_dir: Path) -> str:
    """Hash of the app's loading code (LOAD_CODE): a database loaded by other code is loaded again."""
    digest = hashlib.sha256()
    for name in LOAD_CODE:
        path = app_dir / "clm_core" / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:10]


def load_child(spec: dict) -> dict:
    """(Child process, run from the app's checkout.) Load the CSVs into a new DuckDB file the app's way."""
    sys.path.insert(0, spec["app_dir"])
    from clm_core import ingest, schema, store
    from clm_core.metrics.common import resolve_as_of

    con = store.connect(spec["database"])
    dataset = store.create_dataset(con, spec["name"])
    paths = spec["paths"]
    started = time.perf_counter()
    report = ingest.load(dataset, {t: paths[t] for t in schema.TABLES if t in paths})
    seconds = time.perf_counter() - started
    last_day = resolve_as_of(dataset)
    con.disconnect()
    rows = {r.table: int(r.rows_loaded) for r in report.summary().itertuples()}
    return {"load_seconds": seconds, "rows": rows, "last_day": last_day.isoformat()}


def loaded_database(size: Size, paths: dict, stamp: str, app_dir: Path, out: Path, reload: bool) -> tuple[Path, dict]:
    """(DuckDB file, its description) of the size loaded by the app's code; reused when data and code match."""
    database = out / "pages" / size.key / f"clm-{code_key(app_dir)}.duckdb"
    about = database.with_suffix(".json")
    if not reload and database.exists() and about.exists():
        meta = json.loads(about.read_text())
        if meta.get("data") == stamp:
            return database, {**meta, "load_seconds": None}
    for path in (database, Path(f"{database}.wal"), about):
        path.unlink(missing_ok=True)
    print(f"[{size.key}] loading into {database} with the code in {app_dir} …", flush=True)
    spec = {"app_dir": str(app_dir), "database": str(database), "name": f"Bench {size.key}", "paths": paths}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-child", json.dumps(spec)],
                          cwd=app_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"loading {size.key} failed:\n{done.stderr[-4000:]}")
    meta = {**json.loads(done.stdout.strip().splitlines()[-1]), "data": stamp}
    about.write_text(json.dumps(meta, indent=2))
    print(f"[{size.key}]   loaded in {meta['load_seconds']:.0f} s: {meta['rows']}", flush=True)
    return database, meta


def fresh_copy(database: Path) -> Path:
    """A copy of the loaded file for one server run (the app may write to it: saved views, stored models)."""
    copy = database.with_name("run.duckdb")
    Path(f"{copy}.wal").unlink(missing_ok=True)
    shutil.copyfile(database, copy)
    return copy


# --------------------------------------------------------------------------- server

def _children(pid: int) -> list[int]:
    """The process and all its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """`streamlit run app.py` from the app's checkout; ``peak_mib()`` is its peak resident memory:
    the sum over the server and its child processes of each one's VmHWM (the largest value seen)."""

    def __init__(self, e2e, app_dir: Path, database: Path, log: Path):
        self.url = f"http://127.0.0.1:{processes.free_port()}"
        env = dict(os.environ, CLM_DATABASE=str(database), PYTHONUNBUFFERED="1")
        command = [str(Path(sys.executable).with_name("streamlit")), "run", "app.py",
                   "--server.headless", "true", "--server.port", self.url.rsplit(":", 1)[1],
                   "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                   "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, cwd=app_dir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.peaks: dict[int, int] = {}
        deadline = time.monotonic() + e2e.START_TIMEOUT
        while not processes.answers(f"{self.url}/_stcore/health"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                processes.stop(self.process)
                raise RuntimeError(f"streamlit did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.25)

    def peak_mib(self) -> float:
        for pid in _children(self.process.pid):
            self.peaks[pid] = max(self.peaks.get(pid, 0), _vm_hwm_kib(pid))
        return sum(self.peaks.values()) / 1024


@contextmanager
def serving(e2e, app_dir: Path, database: Path, log: Path):
    server = Server(e2e, app_dir, database, log)
    try:
        yield server
    finally:
        processes.stop(server.process)


# --------------------------------------------------------------------------- browser

#: What the page shows, read every POLL seconds. ``script`` is Streamlit's own run state on the app's root
#: element (1.67: ``initial`` before the first run, then ``running`` / ``rerunRequested`` / ``notRunning``).
#: Elements that say the page is still being drawn: skeletons, spinners, the running icon (CSS selector).
BUSY = ('[data-testid="stAppSkeleton"], [data-testid="stSkeleton"], [data-testid="stSkeletonElement"], '
        '[data-testid="stSpinner"], [data-testid="stStatusWidgetRunningIcon"]')
STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const busy = '""" + BUSY.replace("'", "\\'") + """';
  return {
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    busy: document.querySelectorAll(busy).length,
    error: document.querySelectorAll('[data-testid="stException"]').length,
  };
}"""


def drawn(state: dict | None) -> bool:
    """Drawn: connected, a script run has finished (not ``initial``: that is the blank page before the first
    run), and no skeleton, spinner or running indicator is on the page."""
    return bool(state) and state["connection"] == "CONNECTED" and state["script"] == "notRunning" \
        and state["busy"] == 0


@dataclass
class Timing:
    seconds: float | None  # until drawn; None: timed out
    script_seconds: float | None = None  # until the script run that preceded the drawing ended
    error: bool = False  # the page showed an exception

    def cell(self, timeout: float) -> str:
        if self.seconds is None:
            return f"> {timeout:.0f} s"
        return f"{self.seconds:.1f} ({self.script_seconds:.1f})" + (" †" if self.error else "")


def time_view(context, url: str, timeout: float) -> Timing:
    """Seconds from navigation in a new tab of ``context`` (a new Streamlit session; the browser's HTTP cache
    is the context's) until the page is drawn and stays so for STABLE seconds (the time is that of the first
    look of the stable stretch)."""
    page = context.new_page()
    try:
        return time_view_on(page, url, timeout)
    finally:
        page.close()


def time_view_on(page, url: str, timeout: float) -> Timing:
    """``time_view`` in a given tab (left open)."""
    from playwright.sync_api import Error

    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
    except Error:  # the navigation itself timed out
        return Timing(None)
    return wait_drawn(page, started, timeout)


def wait_drawn(page, started: float, timeout: float, moved=lambda: True) -> Timing:
    """Poll ``page`` until it is drawn and stays so for STABLE seconds, counting only looks at which
    ``moved()`` (the new page has replaced the old one); the time from ``started`` to the first look of the
    stable stretch, and to the end of the script run before it."""
    from playwright.sync_api import Error

    since = ran = None
    while (now := time.perf_counter()) - started < timeout:
        try:
            state, here = page.evaluate(STATE_JS), moved()
        except Error:  # between documents
            state, here = None, False
        if not here or (state and state["script"] != "notRunning"):
            ran = None
        elif state and ran is None:
            ran = now
        if not here or not drawn(state):
            since = None
        elif since is None:
            since = now
        elif now - since >= STABLE:
            return Timing(since - started, ran - started, state["error"] > 0)
        time.sleep(POLL)
    return Timing(None)


TITLE_JS = "() => { const h = document.querySelector('[data-testid=\"stMain\"] h1'); return h ? h.innerText : null; }"


def time_click(page, slug: str, timeout: float) -> Timing:
    """Seconds from a click on the page's link in the sidebar of an open tab (the same Streamlit session, the
    app's front end already loaded: how a manager moves between pages) until the new page is drawn and stays so
    for STABLE seconds. The new page counts as started once its title (h1) differs from the one before."""
    from playwright.sync_api import Error

    before = page.evaluate(TITLE_JS)
    path = "" if slug == "overview" else slug
    started = time.perf_counter()
    try:
        page.locator(f'[data-testid="stSidebarNavLink"][href$="/{path}"]').first.click(timeout=timeout * 1000)
    except Error:
        return Timing(None)
    return wait_drawn(page, started, timeout, lambda: page.evaluate(TITLE_JS) not in (None, before))


def time_clicks(context, base: str, pages: list[str], rows: dict, timeout: float) -> None:
    """In one tab opened at Overview: every page reached by its sidebar link, twice round (``click``, then
    ``click_again``); Overview last in each round, as the tab starts there."""
    tab = context.new_page()
    try:
        start = time_view_on(tab, base + "/", timeout)
        if start.seconds is None:
            return
        order = [slug for slug in pages if slug != "overview"] + [slug for slug in pages if slug == "overview"]
        for kind in ("click", "click_again"):
            for slug in order:
                rows.setdefault(slug, {})[kind] = time_click(tab, slug, timeout)
    finally:
        tab.close()


def page_url(base: str, slug: str, params: dict | None = None) -> str:
    """The page's address; Overview, the default page, is served at ``/`` (``/overview`` is "page not found")."""
    path = "" if slug == "overview" else slug
    return f"{base}/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")


def as_of_change(last_day: str) -> str:
    """The as-of date of the as-of measurement: 91 days (about three months) before the data's last day."""
    return (dt.date.fromisoformat(last_day) - dt.timedelta(days=91)).isoformat()


def measure_size(e2e, app_dir: Path, database: Path, meta: dict, pages: list[str], timeout: float,
                 log: Path) -> dict:
    """Timings of one size on a fresh server: {"open": Timing, page: {kind: Timing}} and its peak memory."""
    from playwright.sync_api import sync_playwright

    changes = {"asof": {"asof": as_of_change(meta["last_day"])}, "filter": FILTER}
    results: dict = {"pages": {}}
    with serving(e2e, app_dir, database, log) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=e2e.CHROMIUM, headless=True, args=e2e.CHROMIUM_ARGS)
        # One browser profile: opening the app is its first, cold visit; every later measurement is a new tab
        # (a new Streamlit session, as a manager opening a shared link) with the app's files in the HTTP cache.
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        try:
            results["open"] = time_view(context, server.url + "/", timeout)
            print(f"    opening the app: {results['open'].cell(timeout)}", flush=True)
            for slug in pages:
                row = results["pages"][slug] = {}
                row["first"] = time_view(context, page_url(server.url, slug), timeout)
                row["second"] = time_view(context, page_url(server.url, slug), timeout)
                if slug in CHANGE_PAGES:
                    for kind, params in changes.items():
                        row[kind] = time_view(context, page_url(server.url, slug, params), timeout)
                server.peak_mib()
                print(f"    {slug}: " + ", ".join(f"{k} {v.cell(timeout)}" for k, v in row.items()), flush=True)
            time_clicks(context, server.url, pages, results["pages"], timeout)
            for slug in pages:
                row = results["pages"][slug]
                print(f"    {slug}: in-app " + ", ".join(row[k].cell(timeout) for k in ("click", "click_again")
                                                        if k in row), flush=True)
        finally:
            context.close()
            browser.close()
            results["peak_mib"] = server.peak_mib()
    results["as_of"] = changes["asof"]["asof"]
    return results


# --------------------------------------------------------------------------- report

def loadavg() -> str:
    """/proc/loadavg's 1-, 5- and 15-minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit_of(app_dir: Path) -> str:
    """The checkout's commit, with "+ uncommitted changes" when files outside bench/ differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(app_dir), *args], capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def table(run: dict, timeout: float) -> str:
    """Markdown table: page × first visit / second visit / as-of date / segment filter, in seconds until
drawn (in parentheses: until the script run ended)."""
    lines = ["| page | " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * len(HEADERS),
             f"| opening the app (`/`, first request) | {run['open'].cell(timeout)} |" + " |" * (len(KINDS) - 1)]
    for slug, row in run["pages"].items():
        lines.append(f"| {slug} | " + " | ".join(row[k].cell(timeout) if k in row else "" for k in KINDS) + " |")
    return "\n".join(lines)


def block(label: str, size: Size, run: dict, timeout: float) -> tuple[str, str]:
    """(title, text) of one size's results in the README."""
    rows = ", ".join(f"{table_}: {n:,}" for table_, n in run["meta"]["rows"].items())
    loaded = run["meta"]["load_seconds"]
    machine = run["machine"]
    title = f"### {label}: {size.label}"
    text = "\n".join([
        title, "",
        f"{run['date']}; commit {run['commit']} (run from `{run['app_dir']}`); {machine['cores']} cores "
        f"(nproc), {machine['ram_gib']} GiB RAM, {machine['cpu']}; Python {machine['python']}, "
        f"DuckDB {machine['duckdb']}. Rows loaded: {rows}"
        + (f" (load {loaded:.0f} s)" if loaded is not None else "") + f"; data's last day {run['meta']['last_day']}, "
        f"as-of change to {run['as_of']}, filter `{urllib.parse.urlencode(FILTER)}`. "
        f"Load average (1/5/15 min) {run['load_start']} at the start, {run['load_end']} at the end. "
        f"Server peak memory {run['peak_mib']:,.0f} MiB. Seconds until drawn (in parentheses: until "
        f"Streamlit's script run ended; the rest is the browser). Timeout {timeout:.0f} s per measurement"
        + ("; † = the page showed an exception" if any(
            t.error for t in [run["open"], *(v for r in run["pages"].values() for v in r.values())]) else "") + ".",
        "", table(run, timeout), "", ""])
    return title, text


ABOUT = """```
make bench-pages                # = .venv/bin/python bench/bench_pages.py (all three sizes)
.venv/bin/python bench/bench_pages.py --sizes demo,100k --pages overview,value --timeout 300
.venv/bin/python bench/bench_pages.py --app-dir /tmp/baseline --label "Baseline at 364d5a7"
.venv/bin/python bench/bench_pages.py --help
```

What it does:

1. Writes three datasets once into `bench/out/pages/<size>/data/` (git-ignored, reused; `--out`
   moves it): `demo` = `clm_core.demo` (5,000 customers, ~32 k orders, with events and campaigns);
   `100k` = 100,000 customers / 1,000,000 orders / 50,000 NPS answers and `10m` = 1,000,000 / 10,000,000 /
   500,000, both from `bench_core.generate` (customers, transactions and NPS only: the Campaigns page has
   nothing to evaluate there).
2. Loads each into its own DuckDB file the app's way (`store.connect`, `store.create_dataset`,
   `ingest.load`) in a child process run from the checkout measured; the file is reused while the data
   and that checkout's loading code (`clm_core/ingest.py`, `derived.py`, `schema.py`, `store.py`) are
   unchanged (`--reload` loads again). Each size's run serves a fresh copy of it.
3. Per size, starts a fresh `streamlit run app.py` (`CLM_DATABASE=` that copy, free port, from
   `--app-dir`, default this checkout) and drives Debian's Chromium headless through Playwright. Every
   measurement after the opening is a new tab of the browser profile that opened the app (a new Streamlit
   session, as a manager opening a shared link in a new tab; the server keeps its caches, the browser its
   HTTP cache) and counts from the navigation until the page is **drawn**: Streamlit's run state on
   the app's root element (`data-test-script-state`) is `notRunning` — not `initial`, the blank page
   before the first run — the connection is `CONNECTED`, and no `stAppSkeleton`, `stSkeleton`,
   `stSkeletonElement`, `stSpinner` or running indicator (`stStatusWidgetRunningIcon`) is on the page;
   polled every 50 ms and held for 300 ms (the time is the start of that stretch). In parentheses: when
   the script run before it ended (`notRunning` first seen); the rest is the browser loading chart code
   and drawing. Only the opening starts with an empty browser cache; the baseline runs at 364d5a7 used a
   new browser profile for every measurement, so each of their figures includes ~1 s of loading
   Streamlit's frontend before the session connects. Measured: opening the
   app (`/`, the server's first request; Overview is its default page, so Overview's "first visit" is
   its second), each page's first and second visit (`/<slug>`), and on Overview, Lifecycle and Customer
   value an as-of date 91 days before the data's last day (`?asof=`) and a segment filter
   (`?f.channel=Email`), each a new session. Then **in-app navigation**, the way a manager moves
   between pages: one tab opened at `/`, every page reached by a click on its sidebar link (the same
   session, the front end already loaded), twice round ("in-app, first" / "in-app, again"), timed
   from the click until the new page (its title changed) is drawn as above. A measurement over `--timeout` seconds (default 300) is
   reported as "> N s" and the run goes on; the server may still finish that script run meanwhile,
   which warms its caches for the next measurement (and takes CPU from it).
4. Reads the server's peak resident memory (VmHWM from `/proc/<pid>/status`, summed over the server and
   its child processes), prints the tables and writes them below, one subsection per label (`--label`,
   default the commit) and size, replacing that subsection on a re-run (`--no-write`: README untouched).

Runtime (baseline, shared machine): demo ~3 minutes; 100k ~4 minutes, plus ~5 s of data and ~15 s of
load the first time; 10m ~18 minutes with `--timeout 180`, plus ~40–75 s to write ~650 MiB of CSV and
~2–4 minutes of load the first time. Disk: ~0.5 GiB per 10m DuckDB file (one per version of the
loading code, plus the copy served). The machine is shared with other developers' jobs: the load
averages say how much, and wall times vary by ±50 % between runs at load 5–8."""


def write_readme(blocks: list[tuple[str, str]]) -> None:
    """Rewrite the section HEADING of bench/README.md: ABOUT, then its ### subsections with ``blocks``
    replacing those of the same title (others kept, new ones appended); the rest of the file unchanged."""
    text = README.read_text(encoding="utf-8")
    start = text.find(HEADING)
    start = len(text) if start < 0 else start
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end + 1
    subsections: dict[str, str] = {}
    for part in text[start:end].split("\n### ")[1:]:
        subsections["### " + part.split("\n", 1)[0]] = "### " + part.rstrip("\n") + "\n\n"
    subsections.update(dict(blocks))
    section = f"{HEADING}\n\n{ABOUT}\n\n" + "".join(subsections.values())
    before = text[:start].rstrip("\n") + "\n\n"
    README.write_text(before + section.rstrip("\n") + "\n" + ("\n" + text[end:] if text[end:] else ""),
                      encoding="utf-8")


# --------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--pages", help="comma-separated page slugs (default: every page of the app)")
    parser.add_argument("--app-dir", default=str(ROOT), help="checkout to run the app from (default this one)")
    parser.add_argument("--label", help="README subsection label (default: the commit measured)")
    parser.add_argument("--out", default=str(bench_core.OUT), help="work directory (default bench/out)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per measurement (default 300)")
    parser.add_argument("--reload", action="store_true", help="load the DuckDB files again even if they match")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/README.md")
    parser.add_argument("--load-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.sizes.split(",")) - set(SIZES)
    if unknown:
        parser.error(f"unknown size(s) {', '.join(sorted(unknown))}; known: {', '.join(SIZES)}")
    return args


def run_size(e2e, size: Size, args, app_dir: Path, pages: list[str], machine: dict) -> dict:
    out = Path(args.out)
    paths, stamp = data_files(size, out)
    database, meta = loaded_database(size, paths, stamp, app_dir, out, args.reload)
    run = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit_of(app_dir),
           "app_dir": str(app_dir), "machine": machine, "meta": meta, "load_start": loadavg()}
    print(f"[{size.key}] serving {database.name} from {app_dir} (load average {run['load_start']}) …", flush=True)
    log = database.with_name("streamlit.log")
    run.update(measure_size(e2e, app_dir, fresh_copy(database), meta, pages, args.timeout, log))
    run["load_end"] = loadavg()
    return run


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.load_child:  # child process
        print(json.dumps(load_child(json.loads(args.load_child))))
        return 0
    e2e = _e2e()
    app_dir = Path(args.app_dir).resolve()
    pages = args.pages.split(",") if args.pages else [
        slug for slug in e2e.ALL_PAGES if (app_dir / "views" / f"{slug}.py").exists()]
    machine = bench_core.machine()
    label = args.label or f"Commit {commit_of(app_dir)}"
    blocks = []
    for key in args.sizes.split(","):
        size = SIZES[key]
        run = run_size(e2e, size, args, app_dir, pages, machine)
        title, text = block(label, size, run, args.timeout)
        print("\n" + text, flush=True)
        blocks.append((title, text))
        if not args.no_write:  # after each size, so that a long run keeps what it measured
            write_readme(blocks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
