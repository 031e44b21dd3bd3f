"""``python -m clm_core report`` end to end against bare DuckDB doing the same load and aggregations.

Run with ``.venv/bin/python bench/bench_report.py`` (see bench/README.md, "bench_report.py").

1. Generates (once; cached in ``--work``, default /tmp/bench_report) the synthetic data of
   ``bench_core.generate``: 200,000 customers, 2,000,000 transactions, 100,000 NPS answers.
2. In the same run, alternating, ``--repeat`` times each (default 3; every run a fresh process):
   a. ``python -m clm_core report --customers … --transactions … --nps … --out DIR``;
   b. bare DuckDB in a fresh ``python`` process: ``CREATE TABLE … AS SELECT * FROM read_csv(…)`` of the
      three files into an in-memory database, then hand-written SQL of the report's aggregations (customer
      days, per-customer purchase facts, the stage of every customer and the stage counts, monthly cohort
      retention with revenue, NPS overall and by month, the RFM/CLV per-customer summary), each result
      fetched into memory (Arrow) — no model fit and no CSV files, which the report adds.
   Wall time (``time.perf_counter`` around the child process) and CPU time (user + system of the child,
   all threads, from ``getrusage(RUSAGE_CHILDREN)``) are printed per run, with the 1-minute load average
   before and after, then the medians and the ratios report ÷ bare DuckDB.
3. ``--stages`` also runs the report once under cProfile and prints where its time goes.
4. ``--check`` compares the bare SQL's stage counts, cohort sizes and NPS with the report's files (the SQL
   computes the same thing).

``--root [LABEL=]DIR`` runs the report of another checkout (e.g. ``git worktree add /tmp/before <commit>``);
given several times, the checkouts' reports alternate with bare DuckDB in the same run, so a before/after pair
is measured with the same script, on the same data, under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import machine  # noqa: E402  (bench_core imports only the standard library at module level)

TARGET_RATIO = 2.5

BARE_SQL = """
SET enable_progress_bar = false;
CREATE TABLE customers AS SELECT * FROM read_csv('{customers}');
CREATE TABLE transactions AS SELECT * FROM read_csv('{transactions}');
CREATE TABLE nps AS SELECT * FROM read_csv('{nps}');
""".strip()

#: The report's aggregations, by hand (T = the day of the latest order). Each is fetched as Arrow.
BARE_QUERIES = {
    "days": """
        CREATE TEMP TABLE days AS
        SELECT customer_id, CAST(ordered_at AS DATE) AS day, sum(amount) AS revenue,
               coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS purchase_amount,
               count(*) FILTER (WHERE amount > 0) AS purchases,
               sum(amount * coalesce(margin, 1.0)) AS value
        FROM transactions GROUP BY ALL""",
    "facts": """
        CREATE TEMP TABLE facts AS
        WITH p AS (
            SELECT customer_id, day, purchase_amount,
                   row_number() OVER w AS k, lag(day) OVER w AS before
            FROM days WHERE purchases > 0
            WINDOW w AS (PARTITION BY customer_id ORDER BY day)),
        per AS (
            SELECT customer_id, min(day) AS first, max(day) AS last, arg_max(before, day) AS previous,
                   count(*) AS n, count(*) FILTER (WHERE day > $T - INTERVAL 365 DAY) AS recent_days,
                   sum(purchase_amount) AS total, sum(purchase_amount) FILTER (WHERE k = 1) AS first_amount
            FROM p GROUP BY customer_id),
        value AS (SELECT customer_id, sum(value) AS historic_value FROM days GROUP BY customer_id)
        SELECT per.*, value.historic_value FROM per JOIN value USING (customer_id)""",
    "customer_stages": """
        CREATE TEMP TABLE customer_stages AS
        WITH ids AS (
            SELECT customer_id FROM customers UNION SELECT customer_id FROM transactions
            UNION SELECT customer_id FROM nps),
        latest AS (SELECT customer_id, arg_max(score, answered_at) AS score FROM nps
                   WHERE answered_at <= $T GROUP BY customer_id)
        SELECT ids.customer_id, CASE
                WHEN f.first IS NULL THEN 'prospect'
                WHEN $T - f.last > 180 THEN 'churned'
                WHEN $T - f.last > 90 THEN 'at_risk'
                WHEN $T - f.first < 90 THEN 'new'
                WHEN f.last - f.previous >= 180 THEN 'reactivated'
                WHEN f.recent_days >= 4 OR latest.score >= 9 THEN 'loyal'
                ELSE 'active' END AS stage
        FROM ids LEFT JOIN facts f USING (customer_id) LEFT JOIN latest USING (customer_id)
        ORDER BY ids.customer_id""",
    "stages": "SELECT stage, count(*) AS customers, count(*) / sum(count(*)) OVER () AS share "
              "FROM customer_stages GROUP BY stage ORDER BY stage",
    "customer_stages_fetch": "SELECT * FROM customer_stages",
    "cohort_retention": """
        WITH d AS (
            SELECT d.*, year(d.day) * 12 + month(d.day) - 1 AS m,
                   year(f.first) * 12 + month(f.first) - 1 AS cohort
            FROM days d JOIN facts f USING (customer_id) WHERE d.day >= f.first),
        cells AS (
            SELECT cohort, m - cohort AS period, count(DISTINCT customer_id) FILTER (WHERE purchases > 0) AS active,
                   sum(revenue) AS revenue
            FROM d GROUP BY ALL),
        sizes AS (SELECT cohort, active AS cohort_size FROM cells WHERE period = 0)
        SELECT cohort, period, cohort_size, active AS active_customers, active / cohort_size AS retention, revenue,
               revenue / first_value(revenue) OVER w AS revenue_retention,
               sum(revenue) OVER w / cohort_size AS cumulative_revenue_per_customer
        FROM cells JOIN sizes USING (cohort)
        WINDOW w AS (PARTITION BY cohort ORDER BY period)
        ORDER BY cohort, period""",
    "nps": """
        WITH a AS (SELECT strftime(answered_at, '%Y-%m') AS month, score FROM nps WHERE answered_at <= $T),
        counts AS (
            SELECT coalesce(month, 'all') AS scope, count(*) AS answers,
                   count(*) FILTER (WHERE score >= 9) AS promoters,
                   count(*) FILTER (WHERE score BETWEEN 7 AND 8) AS passives,
                   count(*) FILTER (WHERE score <= 6) AS detractors
            FROM a GROUP BY GROUPING SETS ((), (month)))
        SELECT *, 100.0 * (promoters - detractors) / answers AS nps,
               100 * 1.96 * sqrt((promoters / answers + detractors / answers
                                  - pow(promoters / answers - detractors / answers, 2)) / answers) AS margin_of_error
        FROM counts ORDER BY scope = 'all' DESC, scope""",
    "clv": """
        SELECT customer_id, n - 1 AS frequency, last - first AS recency, $T - first AS T,
               CASE WHEN n > 1 THEN (total - first_amount) / (n - 1) ELSE 0 END AS monetary, historic_value
        FROM facts ORDER BY customer_id""",
}


def bare_duckdb(paths: dict, result_path: str | None = None, threads: int | None = None) -> dict:
    """The bare DuckDB run (in this process): seconds per step and the fetched results' sizes."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    steps = {}
    t0 = time.perf_counter()
    for statement in BARE_SQL.format(**paths).split(";\n"):
        con.execute(statement)
    steps["load"] = time.perf_counter() - t0
    as_of = con.execute("SELECT CAST(max(ordered_at) AS DATE) FROM transactions").fetchone()[0]
    results = {}
    for name, sql in BARE_QUERIES.items():
        t0 = time.perf_counter()
        query = sql.replace("$T", f"DATE '{as_of}'")
        table = con.execute(query).fetch_arrow_table() if not sql.lstrip().startswith("CREATE") else None
        if table is None:
            con.execute(query)
        steps[name] = time.perf_counter() - t0
        if table is not None:
            results[name] = table
    out = {"seconds": time.perf_counter() - start, "steps": steps, "as_of": str(as_of),
           "rows": {k: v.num_rows for k, v in results.items()}}
    if result_path:
        keep = {k: results[k].to_pylist() for k in ("stages", "nps")}
        keep["cohort_sizes"] = sorted({(r["cohort"], r["cohort_size"]) for r in results["cohort_retention"].to_pylist()})
        keep["clv_rows"] = results["clv"].num_rows
        out["check"] = keep
        Path(result_path).write_text(json.dumps(out, default=str))
    return out


# --------------------------------------------------------------------------- timing of child processes

def timed(cmd: list[str], cwd: Path) -> dict:
    """Wall and CPU seconds (user + system, all threads) of a child process, and the load average around it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall": wall, "cpu": cpu, "load": (load_before, os.getloadavg()[0]), "stdout": proc.stdout,
            "stderr": proc.stderr}


def report_cmd(paths: dict, out: Path) -> list[str]:
    return [sys.executable, "-m", "clm_core", "report", "--customers", paths["customers"],
            "--transactions", paths["transactions"], "--nps", paths["nps"], "--out", str(out)]


def bare_cmd(paths: dict, result: Path | None = None, threads: int | None = None) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-child", json.dumps(paths)]
    return cmd + (["--bare-result", str(result)] if result else []) + (["--bare-threads", str(threads)] if threads else [])


# --------------------------------------------------------------------------- where the report's time goes

STAGE_FUNCTIONS = {  # key: (file suffix, function name) looked up in the cProfile statistics
    "module": ("__main__.py", "<module>"),
    "main": ("__main__.py", "main"),
    "load_inputs": ("__main__.py", "load_inputs"),
    "load": ("ingest.py", "load"),
    "rebuild_derived": ("ingest.py", "rebuild_derived"),
    "report": ("__main__.py", "report"),
    "stage_distribution": ("stages.py", "stage_distribution"),
    "customer_stages": ("stages.py", "customer_stages"),
    "funnel": ("funnel.py", "funnel"),
    "cohort_retention": ("cohorts.py", "cohort_retention"),
    "nps": ("nps.py", "nps"),
    "clv_frame": ("__main__.py", "clv_frame"),
    "fit": ("predictive.py", "_fit"),
    "to_csv": ("generic.py", "to_csv"),
    "write_csv": ("__main__.py", "write_csv"),
    "duckdb": ("~", "<built-in method _duckdb.execute>"),
}


def profile_stages(paths: dict, work: Path, root: Path) -> None:
    prof = work / f"report_{root.name}.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "clm_core", "report", "--customers",
           paths["customers"], "--transactions", paths["transactions"], "--nps", paths["nps"],
           "--out", str(work / "out_profiled")]
    run = timed(cmd, root)
    import pstats

    stats = pstats.Stats(str(prof)).stats
    s = {key: sum(v[3] for (file, _, func), v in stats.items() if func == name and file.endswith(suffix))
         for key, (suffix, name) in STAGE_FUNCTIONS.items()}
    # Ibis execute() called by report() itself: the customer_stages.csv query
    fetched_by_report = sum(ct for (file, _, func), v in stats.items()
                            if func == "execute" and file.endswith("ibis/expr/types/core.py")
                            for (cfile, _, cfunc), (_, _, _, ct) in v[4].items()
                            if cfunc == "report" and cfile.endswith("__main__.py"))
    rows = [
        ("interpreter start and imports (clm_core, Ibis, pandas, DuckDB …)", s["module"] - s["main"]),
        ("load_inputs: sniff, --map, ingest.load", s["load_inputs"]),
        ("  ingest.load: read, parse and validate the files", s["load"] - s["rebuild_derived"]),
        ("  ingest.load: derived tables (customer_index … stage_changes)", s["rebuild_derived"]),
        ("metrics and files (report() after the load)", s["report"] - s["load_inputs"]),
        ("  stage_distribution", s["stage_distribution"]),
        ("  customer_stages (query and fetch)", s["customer_stages"] + fetched_by_report),
        ("  funnel", s["funnel"]),
        ("  cohort_retention", s["cohort_retention"]),
        ("  nps", s["nps"]),
        ("  clv_frame (RFM summary + BG/NBD/Gamma-Gamma fit)", s["clv_frame"]),
        ("    of which the model fit", s["fit"]),
        ("  writing the CSV files: DataFrame.to_csv", s["to_csv"]),
        ("  writing the CSV files: customer_stages.csv, clv.csv through DuckDB (write_csv)", s["write_csv"]),
        ("DuckDB execute, all statements (inside the above)", s["duckdb"]),
    ]
    print(f"\nreport under cProfile: {run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU "
          f"(load {run['load'][0]:.1f} → {run['load'][1]:.1f}); cumulative seconds per stage:")
    for label, seconds in rows:
        print(f"  {label:<82} {seconds:7.2f}")


# --------------------------------------------------------------------------- main

def ensure_data(work: Path, n_customers: int, n_transactions: int, n_nps: int, regenerate: bool) -> dict:
    data = work / "data"
    paths = {t: str(data / f"{t}.csv") for t in ("customers", "transactions", "nps")}
    stamp = data / f"data_{n_customers}_{n_transactions}_{n_nps}"
    if regenerate or not stamp.exists() or not all(Path(p).exists() for p in paths.values()):
        for old in data.glob("data_*"):
            old.unlink()
        print(f"generating {n_transactions:,} transactions of {n_customers:,} customers into {data} …", flush=True)
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); from pathlib import Path; "
                f"from bench_core import generate; "
                f"generate(Path({str(data)!r}), {n_customers}, {n_transactions}, {n_nps})")
        # in a child, so that DuckDB's progress bar (stderr) can be discarded
        subprocess.run([sys.executable, "-c", code], check=True, stderr=subprocess.DEVNULL)
        stamp.touch()
    return paths


def check(bare: dict, out: Path) -> list[str]:
    """Differences between the bare SQL's results and the report's files (empty when they agree)."""
    import pandas as pd

    problems = []
    stages = pd.read_csv(out / "stages.csv").set_index("stage")["customers"]
    for row in bare["stages"]:
        if stages.get(row["stage"]) != row["customers"]:
            problems.append(f"stage {row['stage']}: report {stages.get(row['stage'])}, bare {row['customers']}")
    cohorts = pd.read_csv(out / "cohort_retention.csv", dtype={"cohort": str})
    sizes = cohorts[cohorts["period"] == 0][["cohort", "cohort_size"]]
    labels = {f"{c // 12}-{c % 12 + 1:02d}": s for c, s in bare["cohort_sizes"]}
    if dict(zip(sizes["cohort"], sizes["cohort_size"])) != labels:
        problems.append("cohort sizes differ")
    scores = pd.read_csv(out / "nps.csv", dtype={"scope": str}).set_index("scope")
    for row in bare["nps"]:
        if scores.loc[row["scope"], "answers"] != row["answers"] or abs(scores.loc[row["scope"], "nps"] - row["nps"]) > 1e-9:
            problems.append(f"nps {row['scope']} differs")
    if len(pd.read_csv(out / "clv.csv", usecols=["customer_id"])) != bare["clv_rows"]:
        problems.append("clv.csv rows differ")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--nps-answers", type=int, default=100_000)
    parser.add_argument("--work", default="/tmp/bench_report", help="data and output directory (default /tmp/bench_report)")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating (default 3)")
    parser.add_argument("--root", action="append", metavar="[LABEL=]DIR",
                        help="checkout whose clm_core runs the report (default this one); repeat to compare checkouts "
                             "in the same run, e.g. --root before=/tmp/before --root after=.")
    parser.add_argument("--stages", action="store_true", help="also profile one report run per checkout")
    parser.add_argument("--check", action="store_true", help="compare the bare SQL's results with the report's files")
    parser.add_argument("--bare-threads", type=int, help="DuckDB threads of the bare side (default: DuckDB's, all cores)")
    parser.add_argument("--bare-child", help=argparse.SUPPRESS)
    parser.add_argument("--bare-result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.bare_child:  # child process: the bare DuckDB side
        result = bare_duckdb(json.loads(args.bare_child), args.bare_result, args.bare_threads)
        print(json.dumps({"seconds": result["seconds"], "steps": result["steps"]}))
        return 0

    work = Path(args.work)
    roots = {}
    for spec in args.root or [str(ROOT)]:
        label, _, folder = spec.rpartition("=")
        roots[label or f"report{len(roots) + 1}"] = Path(folder).resolve()
    work.mkdir(parents=True, exist_ok=True)
    paths = ensure_data(work, args.customers, args.transactions, args.nps_answers, args.regenerate)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, {info['os']}")
    print(f"Python {info['python']}, DuckDB {info['duckdb']}, Ibis {info['ibis']}, pandas {info['pandas']}")
    print(f"data: {args.customers:,} customers, {args.transactions:,} transactions, {args.nps_answers:,} NPS answers")
    for label, root in roots.items():
        commit = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"], capture_output=True, text=True)
        print(f"{label}: python -m clm_core report from {root} (commit {commit.stdout.strip() or 'not a git checkout'})")
    print(f"bare DuckDB: {args.bare_threads or 'all'} thread(s)")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    sides = [*roots, "bare"]
    runs = {side: [] for side in sides}
    for i in range(args.repeat):
        for side in sides:
            if side == "bare":
                run = timed(bare_cmd(paths, work / "bare.json" if args.check and i == 0 else None, args.bare_threads), ROOT)
                run["inner"] = json.loads(run["stdout"].strip().splitlines()[-1])
            else:
                run = timed(report_cmd(paths, work / f"out_{side}"), roots[side])
            runs[side].append(run)
            extra = f"  (in process {run['inner']['seconds']:.2f} s)" if side == "bare" else ""
            print(f"run {i + 1} {side:<8} wall {run['wall']:6.2f} s  CPU {run['cpu']:6.2f} s  "
                  f"load {run['load'][0]:.2f} → {run['load'][1]:.2f}{extra}", flush=True)

    med = {side: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu")} for side, rs in runs.items()}
    low = {side: {k: min(r[k] for r in rs) for k in ("wall", "cpu")} for side, rs in runs.items()}
    print("\n| side | wall s (median) | CPU s (median) | wall s (min) | CPU s (min) | ratio to bare, wall (median) "
          "| ratio to bare, CPU (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for side in sides:
        label = "bare DuckDB (CTAS + SQL)" if side == "bare" else f"`python -m clm_core report` ({side})"
        print(f"| {label} | {med[side]['wall']:.2f} | {med[side]['cpu']:.2f} | {low[side]['wall']:.2f} | "
              f"{low[side]['cpu']:.2f} | {med[side]['wall'] / med['bare']['wall']:.2f} | "
              f"{med[side]['cpu'] / med['bare']['cpu']:.2f} |")
    for side in roots:
        ratio = med[side]["wall"] / med["bare"]["wall"]
        print(f"target: report ≤ {TARGET_RATIO}× bare DuckDB (median wall), {side}: {ratio:.2f}× — "
              f"{'met' if ratio <= TARGET_RATIO else 'missed'}")
    steps = runs["bare"][0]["inner"]["steps"]
    print("bare DuckDB steps (first run, s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.check:
        bare = json.loads((work / "bare.json").read_text())["check"]
        for side in roots:
            problems = check(bare, work / f"out_{side}")
            print(f"check of {side}'s files against the bare SQL: " + ("agree" if not problems else "; ".join(problems)))
    if args.stages:
        for side, root in roots.items():
            print(f"\n{side}:", end="")
            profile_stages(paths, work, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
