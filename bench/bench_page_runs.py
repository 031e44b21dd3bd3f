"""Server side of the page timings: each page's script run in-process (Streamlit's AppTest), no browser.

``bench_pages.py`` times what a manager sees in Chromium, which includes the browser starting a tab,
loading Streamlit's frontend and drawing charts; on a busy 2-core machine that alone is 1-2 s. This
benchmark times only what the app's code does for a new session (a new ``AppTest`` per measurement, one
process per size so that the caches start empty): the first visit of every page, a second visit, and on
Overview, Lifecycle and Customer value an as-of date and a segment filter, as ``bench_pages`` does.
It uses the databases ``bench_pages`` loaded (``bench/out/pages/<size>/``; run that first).

    .venv/bin/python bench/bench_page_runs.py [--sizes demo,100k,10m]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import bench_pages
from bench_pages import CHANGE_PAGES, FILTER, KINDS, ROOT, SIZES


def child(database: str, last_day: str, pages: list[str]) -> dict:
    """(Child process.) Seconds of each page's script run: {page: {kind: seconds}}."""
    os.environ["CLM_DATABASE"] = database
    from streamlit.testing.v1 import AppTest

    def run(slug: str, params: dict) -> float:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        app.query_params["page"] = slug
        for key, value in params.items():
            app.query_params[key] = value
        started = time.perf_counter()
        app.run()
        return round(time.perf_counter() - started, 2)

    changes = {"asof": {"asof": bench_pages.as_of_change(last_day)}, "filter": FILTER}
    times = {}
    for slug in pages:
        row = times[slug] = {"first": run(slug, {}), "second": run(slug, {})}
        if slug in CHANGE_PAGES:
            row.update({kind: run(slug, params) for kind, params in changes.items()})
        print(f"    {slug}: {row}", file=sys.stderr, flush=True)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="demo,100k,10m")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(child(spec["database"], spec["last_day"], spec["pages"])))
        return 0
    pages = list(bench_pages._e2e().existing_pages())
    for key in args.sizes.split(","):
        folder = ROOT / "bench" / "out" / "pages" / key
        about = folder / f"clm-{bench_pages.code_key(ROOT)}.json"
        if not about.exists():  # loaded by other loading code: the newest one
            loaded = sorted(folder.glob("clm-*.json"), key=lambda p: p.stat().st_mtime)
            if not loaded:
                print(f"[{key}] no loaded database: run bench_pages.py --sizes {key} first")
                continue
            about = loaded[-1]
            print(f"[{key}] using {about.with_suffix('.duckdb').name}, loaded by other loading code")
        copy = bench_pages.fresh_copy(about.with_suffix(".duckdb"))
        load = bench_pages.loadavg()
        spec = {"database": str(copy), "last_day": json.loads(about.read_text())["last_day"], "pages": pages}
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, check=True)
        times = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n{SIZES[key].label}: script run in seconds (load average {load} → {bench_pages.loadavg()})")
        print("| page | " + " | ".join(KINDS) + " |\n|---|" + "---:|" * len(KINDS))
        for slug, row in times.items():
            print(f"| {slug} | " + " | ".join(f"{row[k]:.2f}" if k in row else "" for k in KINDS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
