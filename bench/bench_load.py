"""Load test: N concurrent browser sessions through every page of the app (issue [6] item 7).

Run with ``make bench-load`` (``.venv/bin/python bench/bench_load.py``); see bench/README.md.
Local only: one `streamlit run app.py` on 127.0.0.1 and one headless Chromium on this machine.

1. Data and database as ``bench_pages.py`` makes them (imported, not copied): the size's CSVs in
   <out>/pages/<size>/data, loaded by the app's own code into a cached DuckDB file; the server gets
   a fresh copy of it (``loadtest.duckdb``, so that a concurrent ``bench_pages.py`` keeps its ``run.duckdb``).
2. One server, one Chromium, N browser contexts (sessions) started evenly within ``--stagger`` seconds.
   Each session opens one tab and visits every page of the app once in its own shuffled order (seeded),
   then one page (also drawn at random) with an as-of date in the URL (``?asof=``, 91 days before the
   data's last day). Every visit is a navigation of that tab (a new Streamlit session on the server).
3. A visit's time runs from the navigation until the page is settled and stays so for 0.3 s: the script
   run has finished (``data-test-script-state`` = ``notRunning``, not ``initial``), the connection is
   ``CONNECTED``, no element is stale (``data-stale="true"``) and no skeleton, spinner or running
   indicator is shown (tests/e2e/test_browser.py ``_SETTLED`` and bench_pages.py ``drawn``, together).
4. Errors (must be 0): a Streamlit exception element (``stException``), an error alert
   (``stAlertContentError``), a visit that does not settle within ``--page-timeout`` seconds, a
   traceback in the server's log. ``--timeout`` bounds the whole run: then the sessions are cancelled,
   the server is stopped and what finished is reported (unfinished visits are listed).
5. Server CPU seconds (utime + stime from /proc/<pid>/stat, server and child processes, waited-for
   children included) and peak memory (VmHWM summed over them, as bench_pages.py), the browser's CPU
   seconds the same way (it shares the cores), the load average at the start and the end.
6. Prints the table and writes it into the section "Issue [6]: load test, N sessions" of bench/README.md,
   replacing that section on a re-run (``--no-write``: not). Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_core  # bench/ is sys.path[0] when run as a script; bench_core puts the project root on it
import bench_pages

ROOT = bench_core.ROOT
sys.path.insert(0, str(ROOT / "tests" / "e2e"))  # tests/e2e/processes.py, which tests/e2e/conftest.py imports
import processes  # noqa: E402  (free port, `streamlit run app.py`, waiting for it, stopping it)
README = ROOT / "bench" / "README.md"
HEADING_PREFIX = "## Issue [6]: load test"
STABLE = 0.3  # seconds the page must stay settled
POLL = 0.1  # seconds between two looks at a page (N sessions poll at once)
SAMPLE = 2.0  # seconds between two readings of the processes' CPU and memory
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: What a page shows, read every POLL seconds.
STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const busy = '""" + bench_pages.BUSY.replace("'", "\\'") + """';
  return {
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    busy: document.querySelectorAll(busy).length,
    stale: document.querySelectorAll('[data-stale="true"]').length,
  };
}"""

#: The page's error elements: exceptions and error alerts (an exception's box is not counted twice).
ERRORS_JS = """() => {
  const texts = [];
  document.querySelectorAll('[data-testid="stException"]').forEach(
    e => texts.push('exception: ' + e.innerText.slice(0, 600)));
  document.querySelectorAll('[data-testid="stAlertContentError"]').forEach(e => {
    if (!e.closest('[data-testid="stException"]')) texts.push('error alert: ' + e.innerText.slice(0, 600));
  });
  return texts;
}"""


def settled(state: dict | None) -> bool:
    return bool(state) and state["connection"] == "CONNECTED" and state["script"] == "notRunning" \
        and state["busy"] == 0 and state["stale"] == 0


@dataclass
class Visit:
    session: int
    slug: str
    kind: str  # "page" or "asof"
    url: str
    seconds: float | None = None  # until settled; None: did not settle
    script_seconds: float | None = None  # until the script run before it ended
    errors: list[str] = field(default_factory=list)
    stall: str | None = None  # not settled, but the server had finished: the page still drawing in the browser
    started_at: float | None = None  # seconds since the test's start
    max_gap: float = 0.0  # longest time between two looks at the page (the measurement's resolution)

    @property
    def label(self) -> str:
        return self.slug + (" (as-of)" if self.kind == "asof" else "")


# --------------------------------------------------------------------------- processes

def _cpu_ticks(pid: int) -> tuple[int, int] | None:
    """(utime + stime, cutime + cstime) of a process in clock ticks, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2:].split()  # rest[0] is field 3 (state)
    return int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


class CpuMeter:
    """CPU seconds of a process tree: each process's own time (the last value seen, so that a child that
    has exited still counts) and the root's waited-for children (cutime + cstime)."""

    def __init__(self, root: int, exclude: set[int] | None = None):
        self.root, self.exclude, self.seen, self.waited = root, exclude or set(), {}, 0
        self.kinds: dict[int, str] = {}

    def read(self) -> float:
        skip = set()
        for pid in self.exclude:
            skip.update(bench_pages._children(pid))
        for pid in bench_pages._children(self.root):
            if pid in skip:
                continue
            ticks = _cpu_ticks(pid)
            if ticks is not None:
                self.seen[pid] = max(self.seen.get(pid, 0), ticks[0])
                if pid not in self.kinds:
                    self.kinds[pid] = _kind(pid)
                if pid == self.root:
                    self.waited = max(self.waited, ticks[1])
        return (sum(self.seen.values()) + self.waited) / CLK_TCK

    def by_kind(self) -> dict[str, float]:
        """CPU seconds per kind of process (without the root's waited-for children)."""
        kinds: dict[str, float] = {}
        for pid, ticks in self.seen.items():
            kind = self.kinds.get(pid, "other")
            kinds[kind] = kinds.get(kind, 0) + ticks / CLK_TCK
        return kinds


def _kind(pid: int) -> str:
    """"this script", "chromium <type>" (renderer, gpu-process, utility, …; "browser" without one), or the
    program's name."""
    if pid == os.getpid():
        return "this script"
    try:  # Chromium's child processes rewrite their command line as one string (words apart by spaces)
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").strip()
    except OSError:
        return "other"
    program = Path(command.split(" ", 1)[0]).name if command else "other"
    if "chrom" in program or "--type=" in command:  # its helpers may run as /proc/self/exe
        kind = re.search(r"--type=(\S+)", command)
        return f"chromium {kind.group(1) if kind else 'browser'}"
    return program


class Server:
    """`streamlit run app.py` from the app's checkout (tests/e2e/processes.py), on ``database``; ``peak_mib()``
    as bench_pages.Server's: the sum over the server and its child processes of each one's VmHWM."""

    def __init__(self, app_dir: Path, database: Path, log: Path):
        port = processes.free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, CLM_DATABASE=str(database), PYTHONUNBUFFERED="1")
        self.process = processes.start(processes.streamlit_command(port), env, log, f"{self.url}/_stcore/health",
                                       "streamlit", cwd=app_dir)
        self.peaks: dict[int, int] = {}

    def peak_mib(self) -> float:
        for pid in bench_pages._children(self.process.pid):
            self.peaks[pid] = max(self.peaks.get(pid, 0), bench_pages._vm_hwm_kib(pid))
        return sum(self.peaks.values()) / 1024

    def stop(self) -> None:
        processes.stop(self.process)


def log_tracebacks(log: Path) -> list[str]:
    """Excerpts of the server log's tracebacks (each up to its exception line), the same one once."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" not in line:
            continue
        end = i + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
            end += 1
        block = lines[max(0, i - 2):min(len(lines), end + 1)]
        key = lines[end] if end < len(lines) else block[-1]
        found.setdefault(key, "\n".join(block[-40:]))
    return list(found.values())


# --------------------------------------------------------------------------- sessions

async def time_visit(page, visit: Visit, timeout: float, t0: float) -> None:
    """Navigate ``page`` to the visit's URL and fill in its time and errors."""
    from playwright.async_api import Error

    started = time.perf_counter()
    visit.started_at = started - t0
    try:
        await page.goto(visit.url, wait_until="commit", timeout=timeout * 1000)
    except Error as exc:
        visit.errors.append(f"navigation failed: {str(exc).splitlines()[0]}")
        return
    since = ran = None
    state = None
    looked = time.perf_counter()
    # A page seen settled within the timeout gets its STABLE hold checked even past it: under load one look
    # (page.evaluate waits for the tab's busy main thread) can take many seconds.
    while (now := time.perf_counter()) - started < timeout or since is not None:
        try:
            state = await page.evaluate(STATE_JS)
        except Error:  # between documents
            state = None
        answered = time.perf_counter()  # the state is of a moment between now (the look's start) and this
        visit.max_gap, looked = max(visit.max_gap, answered - looked), answered
        if state and state["script"] != "notRunning":
            ran = None
        elif state and ran is None:
            ran = now
        if not settled(state):
            since = None
        elif since is None:
            since = now
        elif now - since >= STABLE:
            visit.seconds, visit.script_seconds = since - started, ran - started
            try:
                visit.errors += await page.evaluate(ERRORS_JS)
            except Error as exc:
                visit.errors.append(f"could not read the page: {str(exc).splitlines()[0]}")
            return
        await asyncio.sleep(POLL)
    unsettled = (f"did not settle within {timeout:.0f} s (last state: {state}; longest time between two looks "
                 f"{visit.max_gap:.1f} s)")
    if state and state["script"] == "notRunning" and state["connection"] == "CONNECTED" and not state["stale"]:
        visit.stall = unsettled  # the server's run had ended, nothing stale: the browser was still drawing
    else:
        visit.errors.append(unsettled)
    try:
        visit.errors += await page.evaluate(ERRORS_JS)
    except Error:
        pass


async def run_session(browser, index: int, delay: float, visits: list[Visit], timeout: float, t0: float) -> None:
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    try:
        page = await context.new_page()
        for visit in visits:
            await time_visit(page, visit, timeout, t0)
            if any(e.startswith("navigation failed") for e in visit.errors):
                # The tab's navigation may still commit later and would interrupt the next one: a new tab.
                old, page = page, await context.new_page()
                try:
                    await asyncio.wait_for(old.close(run_before_unload=False), 30)
                except Exception:  # noqa: BLE001 - a frozen tab is left to the context's close
                    pass
            shown = f"{visit.seconds:.1f} s" if visit.seconds is not None else "not settled"
            print(f"  session {index:2d}: {visit.label:<20} {shown}" + (" — ERROR" if visit.errors else " — browser stall" if visit.stall else ""),
                  flush=True)
    finally:
        await context.close()


async def drive(server, plan: dict[int, list[Visit]], args, e2e) -> dict:
    """All sessions against the server, bounded by ``args.timeout``; CPU and memory sampled meanwhile."""
    from playwright.async_api import async_playwright

    server_cpu = CpuMeter(server.process.pid)
    browser_cpu = CpuMeter(os.getpid(), exclude={server.process.pid})
    result = {"server_cpu_start": server_cpu.read(), "timed_out": False}
    browser_cpu.read()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=e2e.CHROMIUM, headless=True,
                                                   args=e2e.CHROMIUM_ARGS)
        browser_cpu_start = browser_cpu.read()
        kinds_start = browser_cpu.by_kind()
        t0 = time.perf_counter()
        n = len(plan)
        tasks = [asyncio.create_task(run_session(browser, i, args.stagger * i / max(n, 1), visits,
                                                 args.page_timeout, t0))
                 for i, visits in plan.items()]
        deadline = t0 + args.timeout
        pending = set(tasks)
        while pending and time.perf_counter() < deadline:
            _, pending = await asyncio.wait(pending, timeout=min(SAMPLE, max(0.0, deadline - time.perf_counter())))
            server.peak_mib()
            server_cpu.read()
            browser_cpu.read()
        if pending:
            result["timed_out"] = True
            print(f"  total time limit of {args.timeout:.0f} s reached: stopping {len(pending)} session(s)",
                  flush=True)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=30)
        result["wall"] = time.perf_counter() - t0
        result["task_errors"] = [f"session {i}: {type(t.exception()).__name__}: {t.exception()}"
                                 for i, t in zip(plan, tasks)
                                 if t.done() and not t.cancelled() and t.exception() is not None]
        result["browser_cpu"] = browser_cpu.read() - browser_cpu_start
        result["browser_kinds"] = {k: v - kinds_start.get(k, 0) for k, v in browser_cpu.by_kind().items()}
        await browser.close()
    result["server_cpu_end"] = server_cpu.read()
    result["peak_mib"] = server.peak_mib()
    return result


def make_plan(pages: list[str], sessions: int, seed: int, base: str, as_of: str) -> dict[int, list[Visit]]:
    """Per session: every page once in a shuffled order, then one page with the as-of date in the URL."""
    rng = random.Random(seed)
    asof_pages = [p for p in pages if p != "data"] or pages  # the Data page has no as-of date
    plan = {}
    for i in range(1, sessions + 1):
        order = pages[:]
        rng.shuffle(order)
        visits = [Visit(i, slug, "page", bench_pages.page_url(base, slug)) for slug in order]
        slug = rng.choice(asof_pages)
        visits.append(Visit(i, slug, "asof", bench_pages.page_url(base, slug, {"asof": as_of})))
        plan[i] = visits
    return plan


# --------------------------------------------------------------------------- report

def _fmt(values: list[float]) -> tuple[str, str]:
    if not values:
        return "–", "–"
    return f"{statistics.median(values):.1f}", f"{max(values):.1f}"


def table(visits: list[Visit], pages: list[str]) -> str:
    """Markdown: per page (and its as-of visits), visits settled / planned, median and worst seconds until
    settled, median and worst until the script run ended, errors."""
    lines = ["| page | visits settled | median s | worst s | script median s | script worst s | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    groups = [(slug, [v for v in visits if v.slug == slug and v.kind == "page"]) for slug in pages]
    groups.append(("as-of date in the URL (any page)", [v for v in visits if v.kind == "asof"]))
    groups.append(("**all visits**", visits))
    for name, group in groups:
        done = [v for v in group if v.seconds is not None]
        med, worst = _fmt([v.seconds for v in done])
        smed, sworst = _fmt([v.script_seconds for v in done])
        errors = sum(1 for v in group if v.errors)
        lines.append(f"| {name} | {len(done)} / {len(group)} | {med} | {worst} | {smed} | {sworst} | {errors} |")
    return "\n".join(lines)


def error_lines(visits: list[Visit], result: dict, tracebacks: list[str]) -> list[str]:
    out = []
    for v in visits:
        for e in v.errors:
            out.append(f"- session {v.session}, {v.label} (`{v.url}`, started at {v.started_at or 0:.0f} s): "
                       + e.replace("\n", " ⏎ ")[:700])
    out += [f"- {e}" for e in result["task_errors"]]
    for tb in tracebacks:
        out.append("- traceback in the server log:\n\n```\n" + tb + "\n```")
    return out


ABOUT = """```
make bench-load                 # = .venv/bin/python bench/bench_load.py (20 sessions, 100k customers)
.venv/bin/python bench/bench_load.py --sessions 2 --size demo --no-write    # a quick trial
.venv/bin/python bench/bench_load.py --help   # --timeout, --page-timeout, --stagger, --seed, --app-dir
```

One `streamlit run app.py` (local, a fresh copy of the 100k-customer database that `bench_pages.py`
generates and loads with the app's own code; its functions are imported) and one headless Chromium
with one browser context per session. The sessions start evenly within `--stagger` seconds (default 2);
each visits every page once in its own shuffled order (seed `--seed`), navigating its tab by URL
(each visit a new Streamlit session on the server; a new tab after a failed navigation, so that its late
commit does not interrupt the next), then one page drawn at random with `?asof=` 91 days
before the data's last day. A visit's time runs from the navigation until the page is settled for
0.3 s: the script run finished (`data-test-script-state` = `notRunning`), connected, nothing stale
(`data-stale`), no skeleton or spinner ("script": until the run before it ended). Errors: an
`stException` element, an error alert (`stAlertContentError`), a visit not settled within
`--page-timeout` (default 300 s) while the server was still running its script (or disconnected, or
something stale), a traceback in the server log. A visit not settled in time although its script run had
ended and nothing was stale is a *browser stall* (the page's front-end still drawing in a starved tab),
listed apart. `--timeout` (default 900 s) bounds the
whole run: then it stops the sessions and the server and reports what finished. CPU seconds from
`/proc/<pid>/stat` (utime + stime, with child processes) during the sessions; peak memory is the
server's VmHWM (with child processes). The browser runs on the same 2 cores, so the figures are those
of server and browser sharing the machine (and with whatever else runs: see the load averages). Not
part of `make test`."""


def section(args, run: dict, visits: list[Visit], pages: list[str], errors: list[str]) -> str:
    machine, meta, result = run["machine"], run["meta"], run["result"]
    cpu = result["server_cpu_end"] - result["server_cpu_start"]
    wall = result["wall"]
    rows = ", ".join(f"{t}: {n:,}" for t, n in meta["rows"].items())
    done = sum(1 for v in visits if v.seconds is not None)
    summary = (
        f"{run['date']}; commit {run['commit']} (run from `{run['app_dir']}`); {machine['cores']} cores "
        f"(nproc), {machine['ram_gib']} GiB RAM, {machine['cpu']}; Python {machine['python']}, DuckDB "
        f"{machine['duckdb']}. Data: {run['size'].label} ({rows}); as-of change to {run['as_of']}. "
        f"{args.sessions} sessions started within {args.stagger:g} s, seed {args.seed}; "
        f"{done} of {len(visits)} visits settled in {wall:.0f} s"
        + (f" (**stopped by the total time limit of {args.timeout:.0f} s**)" if result["timed_out"] else "")
        + f". Load average (1/5/15 min) {run['load_start']} at the start, {run['load_end']} at the end.")
    figures = "\n".join([
        "| figure | value |", "|---|---:|",
        f"| errors | **{len(errors)}** |",
        f"| browser stalls (not settled in time, though the server's run had ended and nothing was stale) | "
        f"{sum(1 for v in visits if v.stall)} |",
        f"| page time, median (all visits) | {_fmt([v.seconds for v in visits if v.seconds is not None])[0]} s |",
        f"| page time, worst (all visits) | {_fmt([v.seconds for v in visits if v.seconds is not None])[1]} s |",
        f"| longest time between two looks at a page (median over visits) | "
        f"{max(v.max_gap for v in visits):.1f} s ({statistics.median(v.max_gap for v in visits):.1f} s) |",
        f"| server CPU seconds during the sessions | {cpu:,.0f} s ({cpu / wall:.2f} cores on average) |",
        f"| server CPU seconds including its start | {result['server_cpu_end']:,.0f} s |",
        f"| server peak memory (VmHWM) | {result['peak_mib']:,.0f} MiB |",
        f"| browser side CPU seconds (Chromium, Playwright, this script) | {result['browser_cpu']:,.0f} s |",
    ]).replace("| – s |", "| – |")
    kinds = sorted(result["browser_kinds"].items(), key=lambda kv: -kv[1])
    figures += "\n\nBrowser side by process: " + ", ".join(f"{k} {v:,.0f} s" for k, v in kinds if v >= 0.5) + "."
    parts = [f"{HEADING_PREFIX}, {args.sessions} sessions", "", ABOUT, "", summary, "", figures, "",
             "Per page, seconds from the navigation until settled (\"script\": until its script run ended):",
             "", table(visits, pages), ""]
    parts += (["Errors:", "", *errors, ""] if errors else ["No errors.", ""])
    stalls = [v for v in visits if v.stall]
    if stalls:
        parts += ["Browser stalls (the page's own front-end still loading or drawing in a tab starved of CPU; "
                  "counted apart from the app's errors):", ""]
        parts += [f"- session {v.session}, {v.label} (started at {v.started_at or 0:.0f} s): {v.stall}" for v in stalls]
        parts.append("")
    unfinished = [v for v in visits if v.seconds is None and not v.errors and not v.stall]
    if unfinished:
        parts += [f"Not done when the total time limit stopped the run ({len(unfinished)} visits): "
                  + ", ".join(f"session {v.session} {v.label}" for v in unfinished) + ".", ""]
    return "\n".join(parts)


def write_readme(text: str) -> None:
    """Replace the section starting with HEADING_PREFIX (up to the next ## heading), or append it."""
    old = README.read_text(encoding="utf-8")
    start = old.find("\n" + HEADING_PREFIX)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = old.find("\n## ", start + 1)
        rest = old[end + 1:] if end >= 0 else ""
        new = old[:start + 1] + text.rstrip("\n") + "\n" + ("\n" + rest if rest else "")
    README.write_text(new, encoding="utf-8")


# --------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--size", choices=("demo", "100k"), default="100k",
                        help="dataset: demo (5,000 customers) or 100k (100,000 / 1M orders; default)")
    parser.add_argument("--app-dir", default=str(ROOT), help="checkout to run the app from (default this one)")
    parser.add_argument("--out", default=str(bench_core.OUT), help="work directory (default bench/out)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run (default 900)")
    parser.add_argument("--page-timeout", type=float, default=300,
                        help="seconds for one visit to settle (default 300)")
    parser.add_argument("--stagger", type=float, default=2.0, help="sessions start within this many seconds")
    parser.add_argument("--seed", type=int, default=6, help="seed of the page orders (default 6)")
    parser.add_argument("--pages", help="comma-separated page slugs (default: every page of the app)")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/README.md")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    e2e = bench_pages._e2e()
    app_dir = Path(args.app_dir).resolve()
    out = Path(args.out)
    pages = args.pages.split(",") if args.pages else [
        slug for slug in e2e.ALL_PAGES if (app_dir / "views" / f"{slug}.py").exists()]
    size = bench_pages.SIZES[args.size]
    paths, stamp = bench_pages.data_files(size, out)
    database, meta = bench_pages.loaded_database(size, paths, stamp, app_dir, out, reload=False)
    copy = database.with_name("loadtest.duckdb")
    Path(f"{copy}.wal").unlink(missing_ok=True)
    shutil.copyfile(database, copy)
    log = database.with_name("loadtest-streamlit.log")
    as_of = bench_pages.as_of_change(meta["last_day"])
    run = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": bench_pages.commit_of(app_dir),
           "app_dir": str(app_dir), "machine": bench_core.machine(), "meta": meta, "size": size,
           "as_of": as_of, "load_start": bench_pages.loadavg()}
    print(f"[{size.key}] {args.sessions} sessions × {len(pages) + 1} visits against {copy} from {app_dir} "
          f"(load average {run['load_start']}); server log {log}", flush=True)
    server = Server(app_dir, copy, log)
    try:
        plan = make_plan(pages, args.sessions, args.seed, server.url, as_of)
        run["result"] = asyncio.run(drive(server, plan, args, e2e))
    finally:
        server.stop()
    run["load_end"] = bench_pages.loadavg()
    visits = [v for visits in plan.values() for v in visits]
    tracebacks = log_tracebacks(log)
    errors = error_lines(visits, run["result"], tracebacks)
    text = section(args, run, visits, pages, errors)
    print("\n" + text, flush=True)
    if not args.no_write:
        write_readme(text)
        print(f"written into {README}", flush=True)
    return 1 if errors or any(v.seconds is None for v in visits) else 0


if __name__ == "__main__":
    sys.exit(main())
