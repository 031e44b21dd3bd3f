"""The Customer value and Campaigns pages' model work at scale (issue [5]): cold, stored and warm.

Run with ``.venv/bin/python bench/bench_value_models.py --database PATH [--phases cold stored pages]`` on a
DuckDB file holding one dataset (e.g. 1M customers / 10M orders written by ``bench_core.generate`` and loaded
with ``ingest.load``; see bench/README.md, "Models at scale"). Each phase runs in its own process:

- ``cold``: the stored model results are dropped first; then every clm_core function the Value page calls, in
  the page's order and with its defaults (whole dataset, no filter), then ``simulate.customer_baseline`` and
  ``simulate.plan`` (the Campaigns page) — one after the other, no background thread. Then the same calls
  again in the same process ("warm": what a new session of the same server finds, without Streamlit's own
  cache).
- ``stored``: a new process with the results of ``cold`` in the database (a restarted server).
- ``pages``: the pages themselves (Streamlit's AppTest, in this process): a first visit of the Value page after
  the stored results are dropped (its background thread included), a repeat visit (a new session), a visit
  with a segment filter (``f.channel=Email``), then the same three for the Campaigns page. ``--keep-stored``
  keeps the stored results for this phase.

Prints wall and CPU seconds per call, the process's peak resident memory after each phase and the load
average (the 2 cores are shared; CPU seconds are the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, function, rows: list) -> object:
    start, start_cpu = time.perf_counter(), cpu()
    value = function()
    rows.append({"call": label, "seconds": time.perf_counter() - start, "cpu_seconds": cpu() - start_cpu,
                 "load": os.getloadavg()[0]})
    print(f"  {label:34s} {rows[-1]['seconds']:7.2f} s  CPU {rows[-1]['cpu_seconds']:7.2f} s  "
          f"load {rows[-1]['load']:.1f}", flush=True)
    return value


def drop_stored(path: str) -> None:
    from clm_core import store

    con = store.connect(path)
    db = store.raw(con)
    for schema, table in db.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                    "WHERE table_name LIKE 'clm_model_%'").fetchall():
        db.execute(f'DROP TABLE "{schema}"."{table}"')
    con.disconnect()


def calls(dataset):
    """(label, function) of the Value page's calls in its order, then the Campaigns page's."""
    from clm_core import simulate
    from clm_core.config import LifecycleConfig
    from clm_core.metrics import clv
    from clm_core.metrics.common import resolve_as_of
    from clm_core.models import insights, rfm

    as_of = resolve_as_of(dataset)
    config = LifecycleConfig()
    state = {}

    def models():
        state["models"] = insights.value_models(dataset, as_of, "weeks")
        return state["models"]

    def margin():
        found = insights.purchase_margin(dataset, as_of)
        state["margin"] = 1.0 if found is None else round(100 * found, 1) / 100
        return found

    return [
        ("value: value_summary (top)", lambda: rfm.value_summary(dataset, as_of)),
        ("value: value_histogram", lambda: clv.value_histogram(dataset, as_of, bins=30, log=True)),
        ("value: rfm_overview", lambda: rfm.rfm_overview(dataset, as_of)),
        ("value: purchase_margin", margin),
        ("value: value_models", models),
        ("value: prediction_overview", lambda: insights.prediction_overview(
            dataset, state["models"], as_of, horizon_months=12, annual_discount=0.1, margin=state["margin"])),
        ("value: holdout_check", lambda: insights.holdout_check(dataset, as_of, months=12, time_unit="weeks")),
        ("value: churn_evaluation", lambda: insights.churn_evaluation(dataset, as_of, config=config)),
        ("value: risk_overview (ranking)", lambda: insights.risk_overview(
            dataset, state["models"], as_of, config=config, margin=state["margin"])),
        ("value: risk_overview (at risk)", lambda: insights.risk_overview(
            dataset, state["models"], as_of, config=config, margin=state["margin"], min_risk=0.5)),
        ("value: category_overview", lambda: insights.category_overview(dataset, as_of)),
        ("value: category_pairs", lambda: insights.category_pairs(dataset, as_of)),
        ("campaigns: customer_baseline", lambda: simulate.customer_baseline(dataset, as_of)),
        ("campaigns: plan (default scenario)", lambda: simulate.plan(dataset, as_of)),
    ]


def phase_functions(path: str, cold: bool) -> dict:
    from clm_core import store

    if cold:
        drop_stored(path)
    con = store.connect(path)
    dataset = store.list_datasets(con)[0]
    out = {"load_start": os.getloadavg()}
    runs = ["first", "warm"] if cold else ["first"]
    for run in runs:
        print(f"{'cold' if cold else 'stored'} — {run}:", flush=True)
        rows = []
        for label, function in calls(dataset):
            timed(label, function, rows)
        out[run] = rows
    out["peak_mib"] = peak_mib()
    out["load_end"] = os.getloadavg()
    return out


def limit_duckdb(memory_limit: str | None) -> None:
    """Run ``SET memory_limit`` on every connection ``store.connect`` opens in this process (an experiment
    for clm_core/store.py, which sets no limit: DuckDB's default is 80 % of the RAM)."""
    if not memory_limit:
        return
    from clm_core import store

    connect = store.connect

    def limited(path=None):
        con = connect(path)
        store.raw(con).execute(f"SET memory_limit = '{memory_limit}'")
        return con

    store.connect = limited


def phase_pages(path: str, keep_stored: bool, background: bool = True) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    if not background:
        from clm_core.models import prepare

        prepare.start = lambda *args, **kwargs: None
    if not keep_stored:
        drop_stored(path)
    os.environ["CLM_DATABASE"] = path
    out = {"load_start": os.getloadavg()}
    rows = []
    for page in ("value", "campaigns"):
        for visit in ("first visit", "repeat visit (new session)", "segment filter f.channel=Email"):
            def run():
                at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
                at.query_params["page"] = page
                if visit.startswith("segment"):
                    at.query_params["f.channel"] = "Email"
                at.run()
                if at.exception:
                    raise RuntimeError(at.exception)
                return at

            print(f"{page}, {visit}:", flush=True)
            timed(f"{page}: {visit}", run, rows)
        st.cache_data.clear()
    out["visits"] = rows
    out["peak_mib"] = peak_mib()
    out["load_end"] = os.getloadavg()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--phases", nargs="+", default=["cold", "stored", "pages"],
                        choices=["cold", "stored", "pages"])
    parser.add_argument("--keep-stored", action="store_true", help="pages: keep the stored model results")
    parser.add_argument("--no-background", action="store_true", help="pages: without the background thread")
    parser.add_argument("--duckdb-memory-limit", help="SET memory_limit on every connection (e.g. 1GB)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.child:
        limit_duckdb(args.duckdb_memory_limit)
        result = (phase_pages(args.database, args.keep_stored, not args.no_background) if args.child == "pages"
                  else phase_functions(args.database, cold=args.child == "cold"))
        print("RESULT " + json.dumps(result))
        return 0
    results = {}
    for phase in args.phases:
        command = [sys.executable, __file__, "--database", args.database, "--child", phase]
        if args.keep_stored:
            command.append("--keep-stored")
        if args.no_background:
            command.append("--no-background")
        if args.duckdb_memory_limit:
            command += ["--duckdb-memory-limit", args.duckdb_memory_limit]
        done = subprocess.run(command, capture_output=True, text=True)
        sys.stdout.write("".join(line + "\n" for line in done.stdout.splitlines() if not line.startswith("RESULT ")))
        if done.returncode:
            sys.stderr.write(done.stderr[-3000:])
            return done.returncode
        results[phase] = json.loads(next(line for line in done.stdout.splitlines()
                                         if line.startswith("RESULT "))[len("RESULT "):])
        print(f"{phase}: peak resident memory {results[phase]['peak_mib']:.0f} MiB, load average "
              f"{results[phase]['load_start'][0]:.1f} → {results[phase]['load_end'][0]:.1f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
