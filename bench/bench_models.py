"""Benchmark of clm_core's BG/NBD + Gamma-Gamma against lifetimes 0.11.3 (issue [3]); see bench/README.md.

1. Models: simulates customers from the BG/NBD and Gamma-Gamma processes (default 1,000,000; purchase
   days are whole days, the models run in weeks as ``predictive_clv`` does), then times in this one run
   clm_core's fit + prediction (expected purchases over 12 months, P(alive), 12-month CLV) and the same
   with lifetimes' BetaGeoFitter / GammaGammaFitter, and checks that both reach the same estimates.
2. RFM summary (optional; heavy): ``clm_core.metrics.clv.rfm_summary`` on the database loaded by
   bench/bench_core.py (``--database``) against lifetimes' ``summary_data_from_transaction_data`` on the
   same transactions CSV (``--transactions``); each part is skipped with a message when its file is absent.

Targets: fit + prediction for 1 M customers ≤ 2 s and ≥ 5× faster than lifetimes; RFM summary of 10 M
transactions ≤ 2 s and ≥ 20× faster than lifetimes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make clm_core importable
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from clm_core.models import btyd  # noqa: E402

BG_TRUE = {"r": 0.24, "alpha": 4.4 * 7, "a": 0.79, "b": 2.4}  # alpha in days (4.4 weeks)
GG_TRUE = {"p": 6.25, "q": 3.7, "v": 15.4}
HORIZON_MONTHS, ANNUAL_DISCOUNT = 12, 0.10
WEEKS_PER_MONTH = 365.25 / 12 / 7
TARGETS = {"model_seconds": 2.0, "model_speedup": 5.0, "rfm_seconds": 2.0, "rfm_speedup": 20.0}


def measure(fn):
    """(result, wall seconds, CPU seconds of this process over all threads)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return result, wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        ram = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:")) / 1024 / 1024
    import lifetimes
    import scipy

    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "ram_gib": round(ram, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__,
            "lifetimes": lifetimes.__version__}


# --------------------------------------------------------------------------- models

def simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    """n customers first buying on a uniform day of the last three years; purchase days are whole days
    (recency rounded down), then expressed in weeks like rfm_summary(time_unit="weeks")."""
    rng = np.random.default_rng(seed)
    data = btyd.simulate_bg(rng.integers(1, 3 * 365 + 1, n).astype(float), **BG_TRUE, rng=rng)
    data["recency"] = np.floor(data["recency"])
    data["monetary"] = btyd.simulate_gg(data["frequency"], **GG_TRUE, rng=rng)
    return {k: data[k] / 7 if k in ("recency", "T") else data[k] for k in ("frequency", "recency", "T", "monetary")}


def ours(d: dict) -> dict:
    x, tx, T, m = d["frequency"], d["recency"], d["T"], d["monetary"]
    laps = {}
    start = time.perf_counter()
    bg = btyd.BetaGeo().fit(x, tx, T)
    laps["fit BG/NBD"] = time.perf_counter() - start
    gg = btyd.GammaGamma().fit(x, m)
    laps["fit Gamma-Gamma"] = time.perf_counter() - start - sum(laps.values())
    expected = bg.expected_purchases(HORIZON_MONTHS * WEEKS_PER_MONTH, x, tx, T)
    alive = bg.p_alive(x, tx, T)
    clv = btyd.customer_lifetime_value(bg, gg, x, tx, T, m, HORIZON_MONTHS, ANNUAL_DISCOUNT, 1.0, days_per_unit=7)
    laps["predict (E[X], P(alive), CLV)"] = time.perf_counter() - start - sum(laps.values())
    return {"bg": bg.params_, "gg": gg.params_, "expected": expected, "alive": alive, "clv": clv, "laps": laps}


def theirs(d: dict) -> dict:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    x, tx, T, m = (pd.Series(d[k]) for k in ("frequency", "recency", "T", "monetary"))
    repeat = x > 0
    laps = {}
    start = time.perf_counter()
    bgf = BetaGeoFitter().fit(x, tx, T)
    laps["fit BG/NBD"] = time.perf_counter() - start
    # lifetimes' default start (log-parameters 0.1) fails to converge on these data; p = q = v = 1 converges
    ggf = GammaGammaFitter().fit(x[repeat], m[repeat], initial_params=np.zeros(3))
    laps["fit Gamma-Gamma"] = time.perf_counter() - start - sum(laps.values())
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON_MONTHS * WEEKS_PER_MONTH, x, tx, T)
    alive = bgf.conditional_probability_alive(x, tx, T)
    monthly = (1 + ANNUAL_DISCOUNT) ** (1 / 12) - 1
    clv = ggf.customer_lifetime_value(bgf, x, tx, T, m, time=HORIZON_MONTHS, discount_rate=monthly, freq="W")
    laps["predict (E[X], P(alive), CLV)"] = time.perf_counter() - start - sum(laps.values())
    return {"bg": {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")},
            "gg": {k: float(ggf.params_[k]) for k in ("p", "q", "v")},
            "expected": np.asarray(expected, dtype=float), "alive": np.asarray(alive, dtype=float),
            "clv": np.asarray(clv, dtype=float), "laps": laps}


def cdnow_check() -> str:
    """Our fit on lifetimes' bundled CDNOW summary against the estimates published by FHL 2005."""
    path = Path(__import__("lifetimes").__file__).parent / "datasets" / "cdnow_customers_summary.csv"
    cdnow = pd.read_csv(path)
    fitted = btyd.BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"]).params_
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    return ", ".join(f"{k} {fitted[k]:.3f} ({published[k]})" for k in published)


def run_models(n: int, seed: int, repeats: int) -> dict:
    print(f"simulating {n:,} customers (BG/NBD r={BG_TRUE['r']}, alpha={BG_TRUE['alpha'] / 7} weeks, "
          f"a={BG_TRUE['a']}, b={BG_TRUE['b']}; Gamma-Gamma p={GG_TRUE['p']}, q={GG_TRUE['q']}, v={GG_TRUE['v']})")
    data = simulate(n, seed)
    distinct = len(np.unique(np.column_stack([data["frequency"], data["recency"], data["T"]]), axis=0))
    print(f"  {int((data['frequency'] > 0).sum()):,} repeat customers, {distinct:,} distinct (x, t_x, T) rows")
    runs = [measure(lambda: ours(data)) for _ in range(repeats)]
    walls = [w for _, w, _ in runs]
    mine = runs[walls.index(statistics.median_low(walls))][0]  # the median run's laps are shown
    print("lifetimes … (slow)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference, ref_wall, ref_cpu = measure(lambda: theirs(data))
    result = {
        "customers": n, "repeat_customers": int((data["frequency"] > 0).sum()), "distinct_rows": distinct,
        "ours_seconds": walls, "ours_cpu_seconds": [c for _, _, c in runs], "ours_laps": mine["laps"],
        "lifetimes_seconds": ref_wall, "lifetimes_cpu_seconds": ref_cpu, "lifetimes_laps": reference["laps"],
        "params": {"ours": {**mine["bg"], **mine["gg"]}, "lifetimes": {**reference["bg"], **reference["gg"]}},
        "max_param_rel_diff": max(abs(mine[m][k] / reference[m][k] - 1) for m in ("bg", "gg") for k in mine[m]),
        "max_expected_abs_diff": float(np.nanmax(np.abs(mine["expected"] - reference["expected"]))),
        "max_p_alive_abs_diff": float(np.nanmax(np.abs(mine["alive"] - reference["alive"]))),
        "clv_total_rel_diff": float(mine["clv"].sum() / np.nansum(reference["clv"]) - 1),
        "cdnow": cdnow_check(),
    }
    return result


# --------------------------------------------------------------------------- RFM summary

def run_rfm(transactions: Path, database: Path) -> dict:
    result = {}
    if not database.exists():
        print(f"RFM summary (clm_core): skipped, no database at {database} (run bench/bench_core.py first)")
        return result
    from clm_core import store
    from clm_core.metrics import clv
    from clm_core.metrics.common import resolve_as_of

    try:
        con = store.connect(database)
    except Exception as exc:  # e.g. the file is locked by another process
        print(f"RFM summary (clm_core): skipped, cannot open {database}: {exc}")
        return result
    dataset = store.find_dataset(con, "bench")
    if dataset is None:
        print(f"RFM summary (clm_core): skipped, {database} has no dataset 'bench'")
        return result
    as_of = resolve_as_of(dataset)
    summary, first, first_cpu = measure(lambda: clv.rfm_summary(dataset, as_of))
    _, repeat, repeat_cpu = measure(lambda: clv.rfm_summary(dataset, as_of))
    con.disconnect()
    result.update({"as_of": str(as_of), "customers": len(summary), "ours_seconds": first, "ours_cpu_seconds": first_cpu,
                   "ours_repeat_seconds": repeat, "ours_repeat_cpu_seconds": repeat_cpu})
    print(f"RFM summary (clm_core): {len(summary):,} customers, {first:.2f} s (repeat {repeat:.2f} s)", flush=True)
    if not transactions.exists():
        print(f"RFM summary (lifetimes): skipped, no transactions at {transactions} (run bench/bench_core.py first)")
        return result
    from lifetimes.utils import summary_data_from_transaction_data

    frame, read_seconds, _ = measure(lambda: pd.read_csv(
        transactions, usecols=["customer_id", "ordered_at", "amount"], dtype={"customer_id": str},
        parse_dates=["ordered_at"], engine="pyarrow"))
    purchases = frame[frame["amount"] > 0]
    print(f"RFM summary (lifetimes): read {len(frame):,} rows in {read_seconds:.1f} s; summarising …", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference, ref_wall, ref_cpu = measure(lambda: summary_data_from_transaction_data(
            purchases, "customer_id", "ordered_at", monetary_value_col="amount",
            observation_period_end=pd.Timestamp(as_of), freq="D"))
    joined = summary.merge(reference.rename_axis("customer_id").reset_index(), on="customer_id",
                           suffixes=("", "_lifetimes"))
    result.update({"transactions": len(frame), "lifetimes_read_seconds": read_seconds, "lifetimes_seconds": ref_wall,
                   "lifetimes_cpu_seconds": ref_cpu, "lifetimes_customers": len(reference),
                   "same_frequency_recency_T": bool(all((joined[c] == joined[f"{c}_lifetimes"]).all()
                                                        for c in ("frequency", "recency", "T"))),
                   "max_monetary_abs_diff": float((joined["monetary"] - joined["monetary_value"]).abs().max())})
    return result


# --------------------------------------------------------------------------- report

def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(info: dict, models: dict | None, rfm: dict) -> None:
    print(f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; load average at start "
          f"{info['load_average']}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print(f"Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, pandas {info['pandas']}, "
          f"lifetimes {info['lifetimes']}")
    if models:
        walls = models["ours_seconds"]
        typical = statistics.median_low(walls)
        ratio = models["lifetimes_seconds"] / typical
        print(f"\nBG/NBD + Gamma-Gamma, fit + prediction, {models['customers']:,} customers "
              f"({models['distinct_rows']:,} distinct rows):")
        print(f"  {'step':32} {'clm_core s':>11} {'lifetimes s':>12}")
        for step in models["ours_laps"]:
            print(f"  {step:32} {models['ours_laps'][step]:11.2f} {models['lifetimes_laps'][step]:12.2f}")
        print(f"  {'total (wall)':32} {typical:11.2f} {models['lifetimes_seconds']:12.2f}   ratio {ratio:.1f}×"
              f"   (clm_core runs: {', '.join(f'{w:.2f}' for w in walls)}; median shown)")
        print(f"  {'total (CPU)':32} {models['ours_cpu_seconds'][walls.index(typical)]:11.2f} "
              f"{models['lifetimes_cpu_seconds']:12.2f}")
        print(f"  same estimates: parameters within {models['max_param_rel_diff']:.1e} (relative); expected purchases "
              f"within {models['max_expected_abs_diff']:.1e}, P(alive) within {models['max_p_alive_abs_diff']:.1e}; "
              f"total CLV {models['clv_total_rel_diff']:+.2%} (lifetimes' month is 4.345 weeks, ours 4.348)")
        print(f"  estimates: {', '.join(f'{k} {v:.3f}' for k, v in models['params']['ours'].items())}")
        print(f"  CDNOW check (ours vs published FHL 2005): {models['cdnow']}")
        print(f"  target ≤ {TARGETS['model_seconds']} s: {verdict(typical <= TARGETS['model_seconds'])}; "
              f"target ≥ {TARGETS['model_speedup']}× lifetimes: {verdict(ratio >= TARGETS['model_speedup'])}")
    if "lifetimes_seconds" in rfm:
        ratio = rfm["lifetimes_seconds"] / rfm["ours_seconds"]
        print(f"\nRFM summary, {rfm['transactions']:,} transactions, {rfm['customers']:,} purchasers:")
        print(f"  clm_core rfm_summary (database) {rfm['ours_seconds']:.2f} s (CPU {rfm['ours_cpu_seconds']:.2f}; "
              f"repeat {rfm['ours_repeat_seconds']:.2f} s); lifetimes summary_data_from_transaction_data "
              f"{rfm['lifetimes_seconds']:.2f} s (CPU {rfm['lifetimes_cpu_seconds']:.2f}; plus "
              f"{rfm['lifetimes_read_seconds']:.1f} s pd.read_csv); ratio {ratio:.1f}×")
        print(f"  same frequency/recency/T: {rfm['same_frequency_recency_T']}; monetary within "
              f"{rfm['max_monetary_abs_diff']:.1e}")
        print(f"  target ≤ {TARGETS['rfm_seconds']} s: {verdict(rfm['ours_seconds'] <= TARGETS['rfm_seconds'])}; "
              f"target ≥ {TARGETS['rfm_speedup']}× lifetimes: {verdict(ratio >= TARGETS['rfm_speedup'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="simulated customers (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--repeats", type=int, default=3, help="clm_core runs of fit + prediction (median reported)")
    parser.add_argument("--transactions", type=Path, default=OUT / "transactions.csv",
                        help="transactions CSV written by bench_core.py (default bench/out/transactions.csv)")
    parser.add_argument("--database", type=Path, default=OUT / "clm.duckdb",
                        help="DuckDB file loaded by bench_core.py (default bench/out/clm.duckdb)")
    parser.add_argument("--skip-models", action="store_true", help="skip the model part")
    parser.add_argument("--skip-rfm", action="store_true", help="skip the RFM-summary part (10 M rows, slow)")
    args = parser.parse_args()
    info = machine()
    models = None if args.skip_models else run_models(args.customers, args.seed, args.repeats)
    rfm = {} if args.skip_rfm else run_rfm(args.transactions, args.database)
    report(info, models, rfm)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "models_results.json").write_text(json.dumps({"machine": info, "models": models, "rfm": rfm}, indent=1,
                                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
