"""Benchmark of the campaign simulator: 10,000 Monte Carlo simulations over 100,000 targeted customers.

Run with ``.venv/bin/python bench/bench_simulate.py [--customers N] [--sims S] [--repeat R]``.

Customers are drawn from known BG/NBD and Gamma-Gamma parameters (``clm_core.models.btyd.simulate_bg`` /
``simulate_gg``), the models are fitted on them, and each customer's value under every action kind comes
from ``clm_core.simulate.unit_values``, with parameter draws as the app computes them. Then
``clm_core.simulate.simulate`` runs for each action kind; the figure is the best of ``--repeat`` runs
(target: within 2 s on this machine). The baseline (fit, values, draws) is timed too, but is not part of
the target: the app computes it once per dataset version and horizon.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make clm_core importable
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from clm_core.models.btyd import BetaGeo, GammaGamma, simulate_bg, simulate_gg  # noqa: E402
from clm_core.simulate import Scenario, Target, parameter_draws, simulate, unit_values  # noqa: E402

TARGET_SECONDS = 2.0
SCENARIOS = {
    "reactivation (conversion)": Scenario(action="reactivation", effect_low=0.02, effect_high=0.06,
                                          response_rate=0.3, cost_per_contact=0.5, margin=0.4),
    "order_value (spend)": Scenario(action="order_value", effect_low=0.05, effect_high=0.15, response_rate=0.3,
                                    cost_per_contact=0.5, margin=0.4),
    "churn_reduction (retention)": Scenario(action="churn_reduction", effect_low=0.02, effect_high=0.06,
                                            response_rate=0.3, cost_per_contact=0.5, margin=0.4),
}
COLUMN = {"conversion": "purchase_value", "spend": "spend_value", "retention": "alive_value"}


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{platform.system()} {platform.release()}, {model}, {os.cpu_count()} logical cores, "
            f"load average {load}; Python {platform.python_version()}, numpy {np.__version__}")


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sims", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--draws", type=int, default=20, help="parameter draws of the models")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"{args.customers:,} targeted customers, {args.sims:,} simulations, {args.draws} parameter draws\n")

    rng = np.random.default_rng(0)
    # in weeks of whole days, as rfm_summary gives them: T of 1 day to 2 years, recency cut to its day
    customers = simulate_bg(rng.integers(1, 731, args.customers) / 7, 0.24, 4.4, 0.79, 2.4, rng)
    x, T = customers["frequency"], customers["T"]
    tx = np.floor(customers["recency"] * 7) / 7
    m = simulate_gg(x, 6.25, 3.7, 15.4, rng)

    def fit():
        return BetaGeo().fit(x, tx, T), GammaGamma().fit(x, m)

    (bg, gg), fit_s = timed(fit)
    values, values_s = timed(lambda: unit_values(bg, gg, x, tx, T, m, 12))
    summary = pd.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary": m})
    pairs, pairs_s = timed(lambda: parameter_draws(bg, gg, summary, args.draws))
    drawn, drawn_s = timed(lambda: [unit_values(b, g, x, tx, T, m, 12) for b, g in pairs])
    print(f"baseline (not part of the target): fit {fit_s:.2f} s, values {values_s:.2f} s, parameter draws "
          f"{pairs_s:.2f} s + their values {drawn_s:.2f} s\n")

    cap = np.clip(1 - bg.p_alive(x, tx, T), 0, 1)  # stands in for the churn model's risk
    worst = 0.0
    print(f"{'action':<30}{'best s':>8}{'runs s':>26}  expected CLV (5–95 %)")
    for label, scenario in SCENARIOS.items():
        column = COLUMN[scenario.kind]
        target = Target(
            revenue=values[column], clv=values[column + "_discounted"],
            cap=cap if scenario.kind == "retention" else None,
            revenue_draws=np.stack([d[column] for d in drawn]) if drawn else None,
            clv_draws=np.stack([d[column + "_discounted"] for d in drawn]) if drawn else None,
        )
        runs = []
        for _ in range(args.repeat):
            result, seconds = timed(lambda: simulate(target, scenario, n_sims=args.sims, seed=1))
            runs.append(seconds)
        best = min(runs)
        worst = max(worst, best)
        low, high = result.interval("incremental_clv")
        print(f"{label:<30}{best:>8.3f}{', '.join(f'{r:.3f}' for r in runs):>26}  "
              f"{result.expected('incremental_clv'):,.0f} ({low:,.0f} – {high:,.0f})")
    ok = worst <= TARGET_SECONDS
    print(f"\nslowest action {worst:.3f} s; target ≤ {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
