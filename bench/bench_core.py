"""Benchmark of clm_core's ingest and metrics against bare DuckDB and plain pandas.

Run with ``make bench`` (``.venv/bin/python bench/bench_core.py``); see bench/README.md.

1. Generates (once; cached in bench/out/, which is git-ignored) a synthetic
   dataset as CSV with numpy + DuckDB ``COPY``: 10 million transactions of
   1 million customers, plus the customers and NPS files.
2. Times, each part in its own subprocess so that its peak resident memory
   can be read (VmHWM, reset per step through /proc/self/clear_refs; the
   child's ru_maxrss as a fallback):
   a. DuckDB's bare ``CREATE TABLE t AS SELECT * FROM read_csv(…)``;
   b. ``clm_core.ingest.load`` of the same files into a fresh DuckDB file;
   c. each clm_core metric on the loaded dataset (first call, then a repeat);
   d. the same metrics with bench/pandas_reference.py (``pd.read_csv`` is its ingest).
3. Prints a table, checks the targets, writes bench/out/results.json and results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make clm_core importable
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
MIB = 1024 * 1024
OUT_TMP = OUT

TARGETS = {"ingest_ratio": 1.5, "metric_seconds": 1.0, "speedup": 10.0, "peak_mib": 4096}
METRICS = ("stage_distribution", "cohort_retention", "nps", "nps_by_month", "rfm_summary", "funnel", "rfm_scores")
FUNNEL_STEPS = ["first_purchase", "repeat_purchase", "promoter"]
REPEAT_BELOW_SECONDS = 10.0


# --------------------------------------------------------------------------- memory

def reset_peak() -> None:
    """Reset this process's peak resident set (VmHWM) to its current size (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CPU_SECONDS: list[float] = []  # CPU time (user + system, all threads) of each measure() call, in order


def measure(fn):
    """(result, wall seconds, peak MiB during the call); its CPU seconds are appended to CPU_SECONDS."""
    import resource

    reset_peak()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    CPU_SECONDS.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return result, seconds, peak_mib()


# --------------------------------------------------------------------------- data

def generate(out: Path, n_customers: int, n_transactions: int, n_nps: int, seed: int = 20240101) -> dict:
    """Write customers.csv, transactions.csv and nps.csv (ISO dates, '.' decimals) into out."""
    import duckdb
    import numpy as np
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01", "s").astype(np.int64)
    span = 3 * 365 + 1  # 2023-01-01 .. 2025-12-31

    # Customers: first-known day, and a heavy-tailed purchase propensity (15 % never buy).
    created = rng.integers(0, span, n_customers)
    weight = rng.gamma(0.7, 1.0, n_customers)
    weight[rng.random(n_customers) < 0.15] = 0.0
    customers = pd.DataFrame({
        "cid": np.arange(1, n_customers + 1),
        "created": start // 86400 + created,
        "channel": rng.integers(0, 5, n_customers).astype(np.int8),
        "segment": rng.integers(0, 3, n_customers).astype(np.int8),
        "country": (rng.random(n_customers) < 0.2).astype(np.int8),
    })

    # Transactions: customer by propensity, day uniform between first-known day and the end.
    cust = rng.choice(n_customers, n_transactions, p=weight / weight.sum())
    offset = (rng.random(n_transactions) * (span - created[cust])).astype(np.int64)
    ts = start + (created[cust] + offset) * 86400 + rng.integers(6 * 3600, 23 * 3600, n_transactions)
    order = np.argsort(ts, kind="stable")
    amount = np.round(rng.lognormal(3.9, 0.9, n_transactions), 2)
    amount[rng.random(n_transactions) < 0.05] *= -1  # returns
    margin = np.round(rng.uniform(0.1, 0.6, n_transactions), 2)
    margin[rng.random(n_transactions) < 0.03] = np.nan
    transactions = pd.DataFrame({
        "cid": cust[order] + 1,
        "ts": ts[order] * 1_000_000,
        "amount": amount,
        "category": rng.integers(0, 8, n_transactions).astype(np.int8),
        "quantity": rng.integers(1, 5, n_transactions).astype(np.int8),
        "margin": margin,
    })

    # NPS answers of buyers, after their first-known day.
    buyers = np.flatnonzero(weight > 0)
    who = rng.choice(buyers, n_nps)
    nday = start // 86400 + created[who] + (rng.random(n_nps) * (span - created[who])).astype(np.int64)
    score_p = np.array([2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30], dtype=float)
    nps = pd.DataFrame({"cid": who + 1, "day": nday, "score": rng.choice(11, n_nps, p=score_p / score_p.sum())})
    nps = nps.sort_values("day", kind="stable")

    paths = {t: out / f"{t}.csv" for t in ("customers", "transactions", "nps")}
    con = duckdb.connect()
    con.register("c", customers)
    con.register("t", transactions)
    con.register("n", nps)
    con.execute(f"""COPY (SELECT lpad(cid::VARCHAR, 7, '0') AS customer_id,
                                 (DATE '1970-01-01' + created::INTEGER) AS created_at,
                                 ['Organic Search','Paid Search','Social','Email','Referral'][channel + 1] AS channel,
                                 ['Consumer','Premium','Business'][segment + 1] AS segment,
                                 CASE WHEN country = 1 THEN 'AT' ELSE 'DE' END AS country
                          FROM c) TO '{paths["customers"]}' (FORMAT csv, HEADER)""")
    con.execute(f"""COPY (SELECT 'T' || lpad((row_number() OVER ())::VARCHAR, 9, '0') AS transaction_id,
                                 lpad(cid::VARCHAR, 7, '0') AS customer_id,
                                 strftime(make_timestamp(ts), '%Y-%m-%d %H:%M:%S') AS ordered_at,
                                 amount,
                                 ['Fashion','Electronics','Home & Living','Beauty','Sports & Outdoor',
                                  'Books & Media','Toys','Accessories'][category + 1] AS category,
                                 quantity,
                                 CASE WHEN isnan(margin) THEN NULL ELSE margin END AS margin
                          FROM t) TO '{paths["transactions"]}' (FORMAT csv, HEADER)""")
    con.execute(f"""COPY (SELECT lpad(cid::VARCHAR, 7, '0') AS customer_id,
                                 (DATE '1970-01-01' + day::INTEGER) AS answered_at, score
                          FROM n) TO '{paths["nps"]}' (FORMAT csv, HEADER)""")
    con.close()
    return {t: str(p) for t, p in paths.items()}


# --------------------------------------------------------------------------- parts (run in a child process)

def part_ctas(paths: dict, work: Path) -> dict:
    import duckdb

    results = {}
    for table in ("transactions", "customers", "nps"):
        db = work / f"ctas_{table}.duckdb"
        db.unlink(missing_ok=True)
        con = duckdb.connect(str(db))
        _, seconds, peak = measure(
            lambda: con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{paths[table]}')"))
        rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
        con.close()
        db.unlink(missing_ok=True)
        results[f"ctas_{table}"] = {"seconds": seconds, "cpu_seconds": CPU_SECONDS[-1], "peak_mib": peak, "rows": rows}
    return results


def part_ingest(paths: dict, work: Path, tables: list[str], db_name: str) -> dict:
    from clm_core import ingest, store

    db = work / db_name
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    con = store.connect(db)
    dataset = store.create_dataset(con, "bench")
    report, seconds, peak = measure(lambda: ingest.load(dataset, {t: paths[t] for t in tables}))
    summary = report.summary().to_dict(orient="records")
    con.disconnect()
    return {"seconds": seconds, "cpu_seconds": CPU_SECONDS[-1], "peak_mib": peak, "summary": summary}


def _clm_calls(ds):
    from clm_core.metrics import clv, cohorts, funnel, nps, stages
    from clm_core.models import rfm

    return {
        "stage_distribution": lambda: stages.stage_distribution(ds),
        "cohort_retention": lambda: cohorts.cohort_retention(ds),
        "nps": lambda: nps.nps(ds),
        "nps_by_month": lambda: nps.nps(ds, by="month"),
        "rfm_summary": lambda: clv.rfm_summary(ds),
        "funnel": lambda: funnel.funnel(ds, FUNNEL_STEPS),
        "rfm_scores": lambda: rfm.rfm_scores(ds),
    }


def part_metrics(work: Path) -> dict:
    from clm_core import store

    con = store.connect(work / "clm.duckdb")
    ds = store.find_dataset(con, "bench")
    results = {}
    for name, call in _clm_calls(ds).items():
        frame, first, peak = measure(call)
        cpu = CPU_SECONDS[-1]
        repeat, peak2 = None, peak
        if first < REPEAT_BELOW_SECONDS:  # a slow first call is not repeated, to bound the run time
            _, repeat, peak2 = measure(call)
        results[name] = {"seconds": first, "cpu_seconds": cpu, "repeat_seconds": repeat,
                         "peak_mib": max(peak, peak2), "rows": int(len(frame))}
    con.disconnect()
    return results


def _load_reference():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pandas_reference", ROOT / "bench" / "pandas_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def part_pandas(paths: dict, sample: float) -> dict:
    import pandas as pd

    ref = _load_reference()
    results = {}

    def read():
        return {
            "customers": pd.read_csv(paths["customers"], dtype={"customer_id": str}, parse_dates=["created_at"],
                                     engine="pyarrow"),
            "transactions": pd.read_csv(paths["transactions"], dtype={"customer_id": str, "transaction_id": str},
                                        parse_dates=["ordered_at"], engine="pyarrow"),
            "nps": pd.read_csv(paths["nps"], dtype={"customer_id": str}, parse_dates=["answered_at"],
                               engine="pyarrow"),
        }

    frames, seconds, peak = measure(read)
    results["ingest"] = {"seconds": seconds, "cpu_seconds": CPU_SECONDS[-1], "peak_mib": peak, "scale": 1.0}
    scale = 1.0
    if sample < 1.0:
        # A sample of customers (all their rows), so that per-customer metrics stay meaningful.
        ids = frames["customers"]["customer_id"]
        keep = set(ids.sample(frac=sample, random_state=1))
        frames = {t: f[f["customer_id"].isin(keep)].reset_index(drop=True) for t, f in frames.items()}
        scale = 1.0 / sample
    c, t, n = frames["customers"], frames["transactions"], frames["nps"]
    calls = {
        "stage_distribution": lambda: ref.stage_distribution(c, t, n),
        "cohort_retention": lambda: ref.cohort_retention(t),
        "nps": lambda: ref.nps(n, transactions=t),
        "nps_by_month": lambda: ref.nps(n, transactions=t, by="month"),
        "rfm_summary": lambda: ref.rfm_summary(t),
        "funnel": lambda: ref.funnel(c, t, n, FUNNEL_STEPS),
        "rfm_scores": lambda: ref.rfm_scores(ref.rfm_summary(t)),
    }
    for name, call in calls.items():
        frame, seconds, peak = measure(call)
        results[name] = {"seconds": seconds * scale, "cpu_seconds": CPU_SECONDS[-1] * scale, "peak_mib": peak,
                         "scale": scale, "rows": int(len(frame))}
    return results


# --------------------------------------------------------------------------- orchestration

def run_child(part: str, args: list[str], timeout: int = 3600) -> dict:
    """Run one part in a fresh interpreter; its JSON result plus the child's ru_maxrss."""
    result_path = OUT_TMP / f"result_{part}_{os.getpid()}.json"
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--result", str(result_path), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.perf_counter()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise RuntimeError(f"part {part} timed out after {timeout} s")
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"part {part} failed ({proc.returncode}):\n{stderr[-4000:]}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    result["_wall_seconds"] = wall
    return result


def machine() -> dict:
    import duckdb
    import ibis
    import pandas as pd

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "ram_gib": round(ram, 1), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "ibis": ibis.__version__, "pandas": pd.__version__,
            "os": platform.platform()}


def file_stats(paths: dict) -> dict:
    stats = {}
    for table, path in paths.items():
        with open(path, "rb") as f:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1
        stats[table] = {"rows": rows, "mib": os.path.getsize(path) / MIB}
    return stats


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def build_table(res: dict) -> tuple[str, list[str]]:
    """The Markdown results table and the list of target verdicts."""
    ctas = res["ctas"]
    ctas_all = sum(ctas[f"ctas_{t}"]["seconds"] for t in ("transactions", "customers", "nps"))
    ingest_all, ingest_tx = res["ingest_all"], res.get("ingest_transactions")
    pandas = res["pandas"]
    sampled = pandas["stage_distribution"]["scale"] != 1.0
    rows = [
        "| step | clm_core s (first call) | clm_core CPU s | clm_core s (repeat) | pandas s | pandas CPU s | "
        "ratio pandas / clm_core (wall) | ratio (CPU) | clm_core peak MiB | pandas peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| bare DuckDB CTAS, transactions.csv | {fmt(ctas['ctas_transactions']['seconds'])} | "
        f"{fmt(ctas['ctas_transactions']['cpu_seconds'])} | | | | | | {fmt(ctas['ctas_transactions']['peak_mib'], 0)} | |",
        f"| bare DuckDB CTAS, all three files | {fmt(ctas_all)} | "
        f"{fmt(sum(v['cpu_seconds'] for v in ctas.values()))} | | | | | | "
        f"{fmt(max(v['peak_mib'] for v in ctas.values()), 0)} | |",
        f"| ingest.load, all three files (pandas: read_csv) | {fmt(ingest_all['seconds'])} | "
        f"{fmt(ingest_all['cpu_seconds'])} | | {fmt(pandas['ingest']['seconds'])} | {fmt(pandas['ingest']['cpu_seconds'])} | "
        f"{fmt(pandas['ingest']['seconds'] / ingest_all['seconds'], 1)} | "
        f"{fmt(pandas['ingest']['cpu_seconds'] / ingest_all['cpu_seconds'], 1)} | "
        f"{fmt(ingest_all['peak_mib'], 0)} | {fmt(pandas['ingest']['peak_mib'], 0)} |",
    ]
    verdicts = []
    ratios = [("all three files", ingest_all["seconds"] / ctas_all)]
    if ingest_tx:
        rows.insert(4, f"| ingest.load, transactions.csv only | {fmt(ingest_tx['seconds'])} | "
                       f"{fmt(ingest_tx['cpu_seconds'])} | | | | | | {fmt(ingest_tx['peak_mib'], 0)} | |")
        ratios.insert(0, ("transactions.csv", ingest_tx["seconds"] / ctas["ctas_transactions"]["seconds"]))
    for label, ratio in ratios:
        ok = ratio <= TARGETS["ingest_ratio"]
        verdicts.append(f"{'MET ' if ok else 'MISSED'} ingest ≤ 1.5× bare CTAS ({label}): {ratio:.2f}×"
                        + ("" if ok else f" ({ratio / TARGETS['ingest_ratio']:.1f}× over the target)"))
    for name in METRICS:
        m, p = res["metrics"][name], pandas[name]
        ratio = p["seconds"] / m["seconds"]
        star = "*" if p["scale"] != 1.0 else ""
        rows.append(f"| {name} | {fmt(m['seconds'])} | {fmt(m['cpu_seconds'])} | {fmt(m['repeat_seconds'])} | "
                    f"{fmt(p['seconds'])}{star} | {fmt(p['cpu_seconds'])}{star} | {fmt(ratio, 1)} | "
                    f"{fmt(p['cpu_seconds'] / m['cpu_seconds'], 1)} | {fmt(m['peak_mib'], 0)} | {fmt(p['peak_mib'], 0)}{star} |")
        ok = m["seconds"] <= TARGETS["metric_seconds"]
        verdicts.append(f"{'MET ' if ok else 'MISSED'} {name} ≤ 1 s: {m['seconds']:.2f} s"
                        + ("" if ok else f" ({m['seconds'] / TARGETS['metric_seconds']:.1f}× the target)"))
        ok = ratio >= TARGETS["speedup"]
        verdicts.append(f"{'MET ' if ok else 'MISSED'} {name} ≥ 10× faster than pandas: {ratio:.1f}×")
    peaks = {"ingest": ingest_all["peak_mib"],
             **({"ingest (transactions only)": ingest_tx["peak_mib"]} if ingest_tx else {}),
             **{f"metric {k}": v["peak_mib"] for k, v in res["metrics"].items()}}
    for part, peak in peaks.items():
        verdict = "MET " if peak < TARGETS["peak_mib"] else "MISSED"
        verdicts.append(f"{verdict} peak memory < 4 GiB, clm_core {part}: {peak:.0f} MiB")
    verdicts.append("(info) max RSS of each whole child process, MiB: " + ", ".join(
        f"{k} {v['maxrss_mib']:.0f}" for k, v in res["processes"].items()))
    note = ("\n\n\\* pandas timed on a 1/{:.0f} sample of customers and extrapolated linearly; "
            "its peak memory is the sample's.".format(pandas["stage_distribution"]["scale"])) if sampled else ""
    return "\n".join(rows) + note, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--nps-answers", type=int, default=500_000)
    parser.add_argument("--out", default=str(OUT), help="work directory (default bench/out)")
    parser.add_argument("--regenerate", action="store_true", help="write the CSV files even if present")
    parser.add_argument("--pandas-sample", type=float, default=1.0,
                        help="time pandas on this fraction of customers and extrapolate (default 1 = all)")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-transactions-only", action="store_true",
                        help="also time ingest.load of transactions.csv alone (against CTAS of that file)")
    args = parser.parse_args()
    work = Path(args.out)

    if args.part:  # child process
        spec = json.loads(args.arg)
        if args.part == "ctas":
            result = part_ctas(spec["paths"], work)
        elif args.part == "ingest":
            result = part_ingest(spec["paths"], work, spec["tables"], spec["db"])
        elif args.part == "metrics":
            result = part_metrics(work)
        elif args.part == "pandas":
            result = part_pandas(spec["paths"], spec["sample"])
        else:
            raise SystemExit(f"unknown part {args.part}")
        import resource

        result["_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        Path(args.result).write_text(json.dumps(result))
        return 0

    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    global OUT_TMP
    OUT_TMP = work
    stamp = work / f"data_{args.customers}_{args.transactions}_{args.nps_answers}"
    paths = {t: str(work / f"{t}.csv") for t in ("customers", "transactions", "nps")}
    if args.regenerate or not stamp.exists() or not all(Path(p).exists() for p in paths.values()):
        for old in work.glob("data_*"):
            old.unlink()
        print(f"generating {args.transactions:,} transactions of {args.customers:,} customers …", flush=True)
        t0 = time.perf_counter()
        paths = generate(work, args.customers, args.transactions, args.nps_answers)
        stamp.touch()
        print(f"  written in {time.perf_counter() - t0:.1f} s", flush=True)
    files = file_stats(paths)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, Python {info['python']}, "
          f"DuckDB {info['duckdb']}, Ibis {info['ibis']}, pandas {info['pandas']}", flush=True)
    for table, st in files.items():
        print(f"  {table}.csv: {st['rows']:,} rows, {st['mib']:.0f} MiB")

    res = {"machine": info, "files": files, "processes": {}}
    steps = [
        ("ctas", "ctas", {"paths": paths}),
        ("ingest_all", "ingest", {"paths": paths, "tables": ["customers", "transactions", "nps"], "db": "clm.duckdb"}),
        ("metrics", "metrics", {}),
        ("pandas", "pandas", {"paths": paths, "sample": args.pandas_sample}),
    ]
    if args.ingest_transactions_only:
        steps.insert(1, ("ingest_transactions", "ingest",
                         {"paths": paths, "tables": ["transactions"], "db": "clm_tx.duckdb"}))
    for key, part, spec in steps:
        print(f"running {key} …", flush=True)
        load_before = os.getloadavg()[0]
        result = run_child(part, ["--out", str(work), "--arg", json.dumps(spec)])
        process = {"wall_seconds": result.pop("_wall_seconds"), "maxrss_mib": result.pop("_maxrss_mib"),
                   "loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0]}
        res[key], res["processes"][key] = result, process
        print(f"  done in {process['wall_seconds']:.1f} s (child max RSS {process['maxrss_mib']:.0f} MiB; "
              f"load average {process['loadavg_1min_before']:.1f} -> {process['loadavg_1min_after']:.1f})", flush=True)
    for suffix in ("", ".wal"):
        Path(str(work / "clm_tx.duckdb") + suffix).unlink(missing_ok=True)

    table, verdicts = build_table(res)
    res["total_seconds"] = time.perf_counter() - started
    print()
    print(table)
    print()
    print("\n".join(verdicts))
    print(f"\nbenchmark total {res['total_seconds']:.0f} s")
    (work / "results.json").write_text(json.dumps(res, indent=2, default=str))
    (work / "results.md").write_text(
        f"machine: {info}\n\nfiles: {files}\n\n{table}\n\n" + "\n".join(f"- {v}" for v in verdicts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
