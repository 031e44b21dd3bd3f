"""Benchmark of the core metrics on DuckDB against a local Spark session (issue 13, item 5).

Run with ``make bench-spark`` (``.venv/bin/python bench/bench_spark.py``); see bench/README.md.

For each size (``1m``: 1 million orders of 100,000 customers; ``10m``: 10 million orders of 1 million
customers, the data of bench_core.py):

1. Generates the CSV files once with bench_core.py's generator into ``bench/out/spark/<size>/`` (git-ignored,
   reused by later runs; ``--regenerate`` writes them again) and loads them with
   ``clm_core.ingest.load(dataset, {table: path}, create=True)`` into ``bench/out/spark/<size>/clm.duckdb``.
2. Runs the metrics on DuckDB in one child process, then in another child process starts a ``local[2]``
   Spark session (``clm_core.backend.spark``), publishes the dataset to it (``clm_core.spark_store.publish``)
   and runs the same metrics there. Each metric: first call, then a repeat call (skipped when the first call
   took longer than ``--repeat-below`` seconds); each call has a timeout (``--timeout``, default 600 s: Spark's
   jobs are cancelled, the call is recorded as "> 600 s").
3. Compares each metric's DuckDB and Spark results (rows sorted; floats within 1e-9 relative, everything else
   equal) and prints a loud MISMATCH for any difference.
4. Prints the table, the machine, the commit and the load averages; writes ``bench/out/spark_results.md`` and
   ``bench/out/spark_results.json``.

Peak memory: the Python process's VmHWM (reset per call through /proc/self/clear_refs, as bench_core.py does)
and, on Spark, the JVM's (the JVM is a child process of the Python process: its /proc/<pid>/status VmHWM,
reset the same way). CPU seconds: the Python process's getrusage plus, on Spark, the JVM's utime + stime from
/proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make clm_core importable
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
WORK = OUT / "spark"
MIB = 1024 * 1024
CLK = os.sysconf("SC_CLK_TCK")

#: size -> (customers, transactions, NPS answers); 10m is bench_core.py's default data
SIZES = {
    "1m": (100_000, 1_000_000, 50_000),
    "10m": (1_000_000, 10_000_000, 500_000),
}
FUNNEL_STEPS = ["first_purchase", "repeat_purchase", "promoter"]
#: a date inside the data (2023-01-01 … 2025-12-31) that is not its last day: stages aggregate customer_days
MID_DATE = dt.date(2025, 6, 15)
METRICS = ("stage_distribution", "stage_distribution_mid", "stage_history", "cohort_retention",
           "growth_accounting", "funnel", "nps", "rfm_summary", "historic_value")
LABELS = {
    "stage_distribution": "stages.stage_distribution(ds, last day)",
    "stage_distribution_mid": f"stages.stage_distribution(ds, {MID_DATE})",
    "stage_history": "stages.stage_history(ds) (24 months)",
    "cohort_retention": "cohorts.cohort_retention(ds)",
    "growth_accounting": "growth.growth_accounting(ds)",
    "funnel": "funnel.funnel(ds, first/repeat purchase, promoter)",
    "nps": "nps.nps(ds)",
    "rfm_summary": "clv.rfm_summary(ds)",
    "historic_value": "clv.historic_value(ds)",
}


def _bench_core():
    """bench/bench_core.py as a module (its generator and memory helpers; it is not edited here)."""
    spec = importlib.util.spec_from_file_location("bench_core", ROOT / "bench" / "bench_core.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- memory and CPU

def reset_peak(pid: int | str = "self") -> None:
    """Reset a process's peak resident set (VmHWM) to its current size (Linux)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mib(pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def self_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def java_children() -> list[int]:
    """Pids of the java processes descending from this one (the local Spark session's JVM)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        parents[int(entry)] = int(text.rsplit(")", 1)[1].split()[1])
        names[int(entry)] = name
    mine, found = {os.getpid()}, []
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    for pid in mine:
        if names.get(pid) == "java":
            found.append(pid)
    return sorted(found)


# --------------------------------------------------------------------------- data

def ensure_data(size: str, regenerate: bool) -> dict:
    customers, transactions, answers = SIZES[size]
    work = WORK / size
    stamp = work / f"data_{customers}_{transactions}_{answers}"
    paths = {t: str(work / f"{t}.csv") for t in ("customers", "transactions", "nps")}
    if regenerate or not stamp.exists() or not all(Path(p).exists() for p in paths.values()):
        for old in work.glob("data_*"):
            old.unlink()
        print(f"[{size}] generating {transactions:,} transactions of {customers:,} customers …", flush=True)
        t0 = time.perf_counter()
        paths = _bench_core().generate(work, customers, transactions, answers)
        stamp.touch()
        print(f"[{size}]   written in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths


# --------------------------------------------------------------------------- parts (run in a child process)

def _calls(ds) -> dict:
    from clm_core.metrics import clv, cohorts, funnel, growth, nps, stages

    return {
        "stage_distribution": lambda: stages.stage_distribution(ds),
        "stage_distribution_mid": lambda: stages.stage_distribution(ds, MID_DATE),
        "stage_history": lambda: stages.stage_history(ds),
        "cohort_retention": lambda: cohorts.cohort_retention(ds),
        "growth_accounting": lambda: growth.growth_accounting(ds),
        "funnel": lambda: funnel.funnel(ds, FUNNEL_STEPS),
        "nps": lambda: nps.nps(ds),
        "rfm_summary": lambda: clv.rfm_summary(ds),
        "historic_value": lambda: clv.historic_value(ds),
    }


class Progress:
    """JSON lines the child appends (a call started, a call ended), which the parent watches."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, **record) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record, default=str) + "\n")


def part_ingest(work: Path, paths: dict, progress: Progress) -> None:
    from clm_core import ingest, store

    db = work / "clm.duckdb"
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    con = store.connect(db)
    dataset = store.new_dataset(con, "bench")
    reset_peak()
    cpu0, t0 = self_cpu_seconds(), time.perf_counter()
    report = ingest.load(dataset, dict(paths), create=True)
    seconds = time.perf_counter() - t0
    rows = store.table_rows(dataset)
    progress.write(event="ingest", seconds=seconds, cpu_seconds=self_cpu_seconds() - cpu0, peak_mib=peak_mib(),
                   rows=rows, summary=report.summary().to_dict(orient="records"))
    con.disconnect()


def part_metrics(engine: str, work: Path, metrics: list[str], progress: Progress, timeout: float,
                 repeat_below: float) -> None:
    from clm_core import store
    from clm_core.metrics import clv, cohorts, funnel, growth, nps, stages  # noqa: F401 - fail before Spark starts

    con = store.connect(work / "clm.duckdb")
    duck = store.find_dataset(con, "bench")
    if duck is None:
        raise SystemExit(f"no dataset 'bench' in {work / 'clm.duckdb'}")
    ds, session, jvm = duck, None, None
    if engine == "spark":
        from clm_core import backend, spark_store

        warehouse = work / "warehouse"
        reset_peak()
        cpu0, t0 = self_cpu_seconds(), time.perf_counter()
        session, spark_backend = backend.spark(backend.parse("spark://local[2]"), warehouse)
        start_seconds = time.perf_counter() - t0
        jvms = java_children()
        jvm = jvms[0] if jvms else None
        progress.write(event="session", seconds=start_seconds, cpu_seconds=self_cpu_seconds() - cpu0,
                       jvm_pid=jvm, jvm_cpu_seconds=proc_cpu_seconds(jvm) if jvm else None,
                       jvm_peak_mib=peak_mib(jvm) if jvm else None, peak_mib=peak_mib(),
                       driver_memory=os.environ.get("CLM_SPARK_DRIVER_MEMORY", "2g"),
                       spark_version=session.version)
        reset_peak()
        if jvm:
            reset_peak(jvm)
        jcpu0 = proc_cpu_seconds(jvm) if jvm else None
        session.sparkContext.setJobGroup("publish", "publish")
        cpu0, t0 = self_cpu_seconds(), time.perf_counter()
        ds = spark_store.publish(duck, spark_backend, warehouse)
        seconds = time.perf_counter() - t0
        progress.write(event="publish", seconds=seconds, cpu_seconds=self_cpu_seconds() - cpu0,
                       spark_jobs=spark_jobs(session, "publish"),
                       jvm_cpu_seconds=(proc_cpu_seconds(jvm) - jcpu0) if jvm else None,
                       jvm_peak_mib=peak_mib(jvm) if jvm else None, peak_mib=peak_mib(),
                       tables=sorted(ds.tables()))
    calls = _calls(ds)
    results_dir = work / "results"
    results_dir.mkdir(exist_ok=True)
    for name in metrics:
        first = None
        for attempt in ("first", "repeat"):
            if attempt == "repeat" and (first is None or first > repeat_below):
                progress.write(event="skip", metric=name, attempt=attempt,
                               reason="first call failed" if first is None else f"first call > {repeat_below:g} s")
                break
            progress.write(event="start", metric=name, attempt=attempt, time=time.time())
            timer = None
            timed_out = threading.Event()
            if session is not None:
                def cancel(session=session, timed_out=timed_out):
                    timed_out.set()
                    session.sparkContext.cancelAllJobs()
                session.sparkContext.setJobGroup(f"{name}_{attempt}", name)
                timer = threading.Timer(timeout, cancel)
                timer.daemon = True
                timer.start()
            reset_peak()
            if jvm:
                reset_peak(jvm)
            jcpu0 = proc_cpu_seconds(jvm) if jvm else None
            cpu0, t0 = self_cpu_seconds(), time.perf_counter()
            error = None
            try:
                frame = calls[name]()
            except Exception as exc:  # noqa: BLE001 - recorded, the next metric runs
                frame, error = None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
            seconds = time.perf_counter() - t0
            if timer is not None:
                timer.cancel()
            record = {"event": "end", "metric": name, "attempt": attempt, "seconds": seconds,
                      "cpu_seconds": self_cpu_seconds() - cpu0, "peak_mib": peak_mib(),
                      "jvm_cpu_seconds": (proc_cpu_seconds(jvm) - jcpu0) if jvm else None,
                      "jvm_peak_mib": peak_mib(jvm) if jvm else None,
                      "timed_out": timed_out.is_set() or seconds > timeout, "error": error,
                      "spark_jobs": spark_jobs(session, f"{name}_{attempt}") if session is not None else None}
            if frame is not None:
                record["rows"] = int(len(frame))
                if attempt == "first":
                    with open(results_dir / f"{engine}_{name}.pkl", "wb") as f:
                        pickle.dump(frame, f)
            progress.write(**record)
            if error is not None or record["timed_out"]:
                break
            if attempt == "first":
                first = seconds
    if session is not None:
        from clm_core import backend

        progress.write(event="jvm_final", jvm_peak_mib_since_last_reset=peak_mib(jvm) if jvm else None)
        backend.stop_all()
    con.disconnect()


def spark_jobs(session, group: str) -> dict | None:
    """Spark jobs, stages and completed tasks of a job group (the calls of one metric), from the status
    tracker; None when it cannot tell."""
    try:
        tracker = session.sparkContext.statusTracker()
        jobs = list(tracker.getJobIdsForGroup(group))
        stages = set()
        for job in jobs:
            info = tracker.getJobInfo(job)
            if info is not None:
                stages.update(info.stageIds)
        tasks, ran = 0, 0
        for stage in stages:
            info = tracker.getStageInfo(stage)
            if info is not None and info.numCompletedTasks:
                tasks += info.numCompletedTasks
                ran += 1
        return {"jobs": len(jobs), "stages": ran, "tasks": tasks}
    except Exception:  # noqa: BLE001 - the counts are informative only
        return None


# --------------------------------------------------------------------------- orchestration

def run_child(part: str, size: str, args: list[str], call_timeout: float, env: dict | None = None,
              overall_timeout: float = 7200) -> tuple[list[dict], dict]:
    """Run one part in a fresh interpreter; (its progress records, process info). A call that runs
    ``call_timeout`` + 120 s without ending (Spark's own cancel did not help) kills the child."""
    work = WORK / size
    progress_path = work / f"progress_{part}_{os.getpid()}.jsonl"
    progress_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--size", size,
           "--progress", str(progress_path), *args]
    load_before = os.getloadavg()
    stderr_path = work / f"stderr_{part}.log"
    start = time.perf_counter()
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                env={**os.environ, **(env or {})})
        killed = None
        seen = 0
        while proc.poll() is None:
            time.sleep(1.0)
            records = _read_progress(progress_path)
            for record in records[seen:]:
                _echo(size, part, record)
            seen = len(records)
            open_call = _open_call(records)
            if open_call and time.time() - open_call["time"] > call_timeout + 120:
                killed = f"{open_call['metric']} ({open_call['attempt']}) ran > {call_timeout + 120:.0f} s"
            elif time.perf_counter() - start > overall_timeout:
                killed = f"part ran > {overall_timeout:.0f} s"
            if killed:
                proc.kill()
                proc.wait()
                break
    wall = time.perf_counter() - start
    records = _read_progress(progress_path)
    for record in records[seen:]:
        _echo(size, part, record)
    progress_path.unlink(missing_ok=True)
    info = {"wall_seconds": wall, "returncode": proc.returncode, "killed": killed,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "maxrss_mib": None}
    if proc.returncode != 0 and not killed:
        tail = stderr_path.read_text()[-3000:]
        info["stderr_tail"] = tail
        print(f"[{size}] part {part} FAILED (exit {proc.returncode}):\n{tail}", flush=True)
    for record in records:
        if record.get("event") == "exit":
            info["maxrss_mib"] = record["maxrss_mib"]
    return records, info


def _read_progress(path: Path) -> list[dict]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:  # a line being written
            break
    return out


def _open_call(records: list[dict]) -> dict | None:
    last = None
    for record in records:
        if record["event"] == "start":
            last = record
        elif record["event"] == "end":
            last = None
    return last


def _echo(size: str, part: str, record: dict) -> None:
    event = record["event"]
    if event == "end":
        extra = f", JVM CPU {record['jvm_cpu_seconds']:.1f} s" if record.get("jvm_cpu_seconds") is not None else ""
        status = " TIMED OUT" if record["timed_out"] else (f" ERROR {record['error']}" if record["error"] else "")
        print(f"[{size}] {part} {record['metric']} {record['attempt']}: {record['seconds']:.2f} s "
              f"(CPU {record['cpu_seconds']:.1f} s{extra}){status}", flush=True)
    elif event in ("ingest", "session", "publish"):
        print(f"[{size}] {part} {event}: {record['seconds']:.1f} s", flush=True)
    elif event == "skip":
        print(f"[{size}] {part} {record['metric']} repeat skipped ({record['reason']})", flush=True)


def machine() -> dict:
    import duckdb
    import ibis
    import pandas as pd

    info = _bench_core().machine()
    try:
        import pyspark

        info["pyspark"] = pyspark.__version__
    except ImportError:
        info["pyspark"] = None
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        info["java"] = (java.stderr or java.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        info["java"] = None
    info["nproc"] = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    info.update(duckdb=duckdb.__version__, ibis=ibis.__version__, pandas=pd.__version__)
    return info


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "clm_core"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + (" (clm_core has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_size(size: str, args) -> dict:
    work = WORK / size
    work.mkdir(parents=True, exist_ok=True)
    paths = ensure_data(size, args.regenerate)
    result: dict = {"size": size, "customers": SIZES[size][0], "transactions": SIZES[size][1],
                    "nps_answers": SIZES[size][2], "processes": {}}
    stamp = work / "loaded"
    if args.reuse_database and stamp.exists() and (work / "clm.duckdb").exists():
        result["ingest"] = json.loads(stamp.read_text())
        print(f"[{size}] reusing {work / 'clm.duckdb'} (loaded {result['ingest'].get('at')})", flush=True)
    else:
        stamp.unlink(missing_ok=True)
        print(f"[{size}] loading into {work / 'clm.duckdb'} …", flush=True)
        records, info = run_child("ingest", size, ["--paths", json.dumps(paths)], call_timeout=3600)
        result["processes"]["ingest"] = info
        found = [r for r in records if r["event"] == "ingest"]
        if not found:
            raise SystemExit(f"[{size}] ingest failed: {info.get('stderr_tail') or info.get('killed')}")
        result["ingest"] = {**found[0], "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        stamp.write_text(json.dumps(result["ingest"]))
    metrics = [m for m in METRICS if not args.metrics or m in args.metrics]
    results_dir = work / "results"
    for old in results_dir.glob("*.pkl") if results_dir.exists() else []:
        old.unlink()
    # the warehouse of an earlier run holds that run's publication (of a dataset id that may no longer exist)
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    common = ["--timeout", str(args.timeout), "--repeat-below", str(args.repeat_below)]
    for engine in ("duckdb", "spark"):
        env = {}
        if engine == "spark":
            env["CLM_SPARK_DRIVER_MEMORY"] = args.driver_memory or os.environ.get("CLM_SPARK_DRIVER_MEMORY", "2g")
        remaining = list(metrics)
        records: list[dict] = []
        runs = []
        while remaining:  # a killed child (a call that would not cancel) is restarted on the metrics after it
            print(f"[{size}] {engine}: {', '.join(remaining)}", flush=True)
            got, info = run_child(engine, size, [*common, "--metrics", ",".join(remaining)], args.timeout, env)
            records += got
            runs.append(info)
            done = {r["metric"] for r in got if r["event"] in ("end", "skip") and r["attempt"] == "first"} | {
                r["metric"] for r in got if r["event"] == "end" and r["attempt"] == "repeat"}
            if info["killed"]:
                hung = _open_call(got)
                if hung:
                    records.append({"event": "end", "metric": hung["metric"], "attempt": hung["attempt"],
                                    "seconds": time.time() - hung["time"], "cpu_seconds": None, "peak_mib": None,
                                    "timed_out": True, "error": "killed", "jvm_cpu_seconds": None,
                                    "jvm_peak_mib": None})
                    done.add(hung["metric"])
                remaining = [m for m in remaining if m not in done and not any(
                    r["event"] == "start" and r["metric"] == m for r in got)]
            else:
                if info["returncode"] != 0:
                    failed = [m for m in remaining if m not in done]
                    for m in failed:
                        records.append({"event": "end", "metric": m, "attempt": "first", "seconds": None,
                                        "cpu_seconds": None, "peak_mib": None, "timed_out": False,
                                        "error": "the child process failed (see stderr_tail)",
                                        "jvm_cpu_seconds": None, "jvm_peak_mib": None})
                remaining = []
        result[engine] = records
        result["processes"][engine] = runs
    # comparison
    result["compare"] = {}
    for name in metrics:
        a, b = results_dir / f"duckdb_{name}.pkl", results_dir / f"spark_{name}.pkl"
        if not (a.exists() and b.exists()):
            result["compare"][name] = "not compared (a result is missing)"
            continue
        with open(a, "rb") as f:
            left = pickle.load(f)
        with open(b, "rb") as f:
            right = pickle.load(f)
        try:
            from tests.frames import compare  # the parity test's comparison

            diff = compare(left, right)
        except Exception as exc:  # noqa: BLE001
            diff = f"comparison failed: {type(exc).__name__}: {exc}"
        result["compare"][name] = diff
        if diff is not None:
            print(f"\n!!!!! [{size}] MISMATCH {name}: {diff}\n", flush=True)
    return result


def _calls_of(records: list[dict], metric: str) -> dict:
    return {r["attempt"]: r for r in records if r.get("event") == "end" and r.get("metric") == metric}


def _cell(record: dict | None, timeout: float) -> str:
    if record is None:
        return "–"
    if record.get("timed_out"):
        return f"> {timeout:.0f} s"
    if record.get("error"):
        return "error"
    return f"{record['seconds']:.2f}"


def _num(x, digits=2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def build_tables(results: list[dict], timeout: float) -> str:
    lines = [
        "| size | metric | rows | DuckDB first s | DuckDB repeat s | Spark first s | Spark repeat s | "
        "ratio Spark / DuckDB (first) | ratio (repeat) | DuckDB CPU s | Spark CPU s (Python + JVM) | "
        "Spark jobs / stages / tasks | identical |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        size = f"{res['transactions'] // 1_000_000}M orders / {res['customers'] // 1000}k customers"
        for name in METRICS:
            d, s = _calls_of(res.get("duckdb", []), name), _calls_of(res.get("spark", []), name)
            if not d and not s:
                continue

            def ratio(attempt):
                a, b = d.get(attempt), s.get(attempt)
                if not a or not b or a.get("error") or a.get("timed_out") or b.get("error"):
                    return "–"
                if b.get("timed_out"):
                    return f"> {timeout / a['seconds']:.0f}"
                return f"{b['seconds'] / a['seconds']:.1f}"

            df = d.get("first") or {}
            sf = s.get("first") or {}
            spark_cpu = None
            if sf.get("cpu_seconds") is not None:
                spark_cpu = sf["cpu_seconds"] + (sf.get("jvm_cpu_seconds") or 0.0)
            diff = res["compare"].get(name, "not compared")
            same = "yes" if diff is None else ("**NO**" if not str(diff).startswith("not compared") else "–")
            rows = df.get("rows", sf.get("rows"))
            lines.append(
                f"| {size} | {LABELS[name]} | {rows if rows is not None else '–'} | {_cell(d.get('first'), timeout)} | "
                f"{_cell(d.get('repeat'), timeout)} | {_cell(s.get('first'), timeout)} | "
                f"{_cell(s.get('repeat'), timeout)} | {ratio('first')} | {ratio('repeat')} | "
                f"{_num(df.get('cpu_seconds'))} | {_num(spark_cpu)} | {_jobs(sf.get('spark_jobs'))} | {same} |")
    return "\n".join(lines)


def _jobs(counts: dict | None) -> str:
    return "–" if not counts else f"{counts['jobs']} / {counts['stages']} / {counts['tasks']}"


def build_overheads(results: list[dict]) -> str:
    lines = [
        "| size | DuckDB ingest s | Spark session start s | publish s | publish JVM CPU s | publish jobs / stages / tasks | "
        "Python peak MiB DuckDB (max over metrics) | Python peak MiB Spark (max) | JVM peak RSS MiB (max) | "
        "driver memory | load avg 1/5/15 min DuckDB start → end | load avg Spark start → end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for res in results:
        size = f"{res['transactions'] // 1_000_000}M"
        spark = res.get("spark", [])
        session = next((r for r in spark if r["event"] == "session"), {})
        publish = next((r for r in spark if r["event"] == "publish"), {})
        d_peaks = [r["peak_mib"] for r in res.get("duckdb", []) if r["event"] == "end" and r.get("peak_mib")]
        s_peaks = [r["peak_mib"] for r in spark if r["event"] in ("end", "publish") and r.get("peak_mib")]
        j_peaks = [r["jvm_peak_mib"] for r in spark if r["event"] in ("end", "publish", "session")
                   and r.get("jvm_peak_mib")]

        def loads(part):
            runs = res["processes"].get(part) or []
            if not runs:
                return "–"
            a, b = runs[0]["loadavg_before"], runs[-1]["loadavg_after"]
            return f"{a[0]:.1f}/{a[1]:.1f}/{a[2]:.1f} → {b[0]:.1f}/{b[1]:.1f}/{b[2]:.1f}"

        lines.append(
            f"| {size} | {_num(res['ingest'].get('seconds'), 1)} | {_num(session.get('seconds'), 1)} | "
            f"{_num(publish.get('seconds'), 1)} | {_num(publish.get('jvm_cpu_seconds'), 1)} | "
            f"{_jobs(publish.get('spark_jobs'))} | "
            f"{_num(max(d_peaks) if d_peaks else None, 0)} | {_num(max(s_peaks) if s_peaks else None, 0)} | "
            f"{_num(max(j_peaks) if j_peaks else None, 0)} | {session.get('driver_memory', '–')} | "
            f"{loads('duckdb')} | {loads('spark')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help="comma-separated: 1m (1 M orders), 10m (10 M orders)")
    parser.add_argument("--metrics", type=lambda s: [m for m in s.split(",") if m],
                        help=f"comma-separated subset of {','.join(METRICS)}")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per metric call (default 600)")
    parser.add_argument("--repeat-below", type=float, default=300.0,
                        help="repeat a call only when its first call took less (default 300 s)")
    parser.add_argument("--driver-memory", help="the Spark driver's memory (CLM_SPARK_DRIVER_MEMORY; default 2g, as clm_core.backend)")
    parser.add_argument("--regenerate", action="store_true", help="write the CSV files even if present")
    parser.add_argument("--reuse-database", action="store_true",
                        help="reuse bench/out/spark/<size>/clm.duckdb from an earlier run instead of loading again")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--progress", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part:  # child process
        progress = Progress(Path(args.progress))
        work = WORK / args.size
        if args.part == "ingest":
            part_ingest(work, json.loads(args.paths), progress)
        else:
            part_metrics(args.part, work, args.metrics or list(METRICS), progress, args.timeout, args.repeat_below)
        progress.write(event="exit", maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return 0

    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
    started = time.perf_counter()
    info = machine()
    head = commit()
    load_start = os.getloadavg()
    began = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {info['cpu']}, nproc {info['nproc']}, {info['ram_gib']} GiB RAM, Python {info['python']}, "
          f"DuckDB {info['duckdb']}, Ibis {info['ibis']}, pyspark {info['pyspark']}, {info['java']}", flush=True)
    print(f"commit {head}; load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}",
          flush=True)
    results = []
    for size in sizes:
        results.append(run_size(size, args))
        # partial results are written after each size
        _write(results, info, head, began, load_start, os.getloadavg(), time.perf_counter() - started, args)
    load_end = os.getloadavg()
    text = _write(results, info, head, began, load_start, load_end, time.perf_counter() - started, args)
    print()
    print(text)
    mismatches = [(r["size"], m, d) for r in results for m, d in r["compare"].items()
                  if d is not None and not str(d).startswith("not compared")]
    if mismatches:
        print("\n!!!!! MISMATCHES: " + "; ".join(f"{s} {m}: {d}" for s, m, d in mismatches), flush=True)
    return 1 if mismatches else 0


def _write(results, info, head, began, load_start, load_end, total, args) -> str:
    mismatches = [f"- **MISMATCH** {r['size']} {m}: {d}" for r in results for m, d in r["compare"].items()
                  if d is not None and not str(d).startswith("not compared")]
    missing = [f"- {r['size']} {m}: {d}" for r in results for m, d in r["compare"].items()
               if d is not None and str(d).startswith("not compared")]
    errors = [f"- {r['size']} {engine} {rec['metric']} ({rec['attempt']}): {rec['error']}"
              for r in results for engine in ("duckdb", "spark") for rec in r.get(engine, [])
              if rec.get("event") == "end" and rec.get("error")]
    text = "\n".join([
        f"# DuckDB against local Spark (bench/bench_spark.py), {began}",
        "",
        f"machine: {info['cpu']}, nproc {info['nproc']}, {info['ram_gib']} GiB RAM, {info['os']}; Python "
        f"{info['python']}, DuckDB {info['duckdb']}, Ibis {info['ibis']}, pandas {info['pandas']}, "
        f"pyspark {info['pyspark']}, {info['java']}",
        f"commit {head}; Spark master local[2]; timeout {args.timeout:.0f} s per call; repeat when the first "
        f"call took < {args.repeat_below:.0f} s",
        f"load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}; total {total:.0f} s",
        "",
        build_tables(results, args.timeout),
        "",
        build_overheads(results),
        "",
        "Mismatches:" if mismatches else "All compared results identical (floats within 1e-9 relative).",
        *mismatches,
        *(["", "Not compared:", *missing] if missing else []),
        *(["", "Errors:", *errors] if errors else []),
        "",
    ])
    (OUT / "spark_results.md").write_text(text)
    (OUT / "spark_results.json").write_text(json.dumps(
        {"machine": info, "commit": head, "began": began, "loadavg_start": load_start, "loadavg_end": load_end,
         "total_seconds": total, "results": results}, indent=2, default=str))
    return text


if __name__ == "__main__":
    sys.exit(main())
