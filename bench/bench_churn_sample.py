"""The churn model trained on a stratified sample against the model trained on every customer (issue [5]).

Run with ``.venv/bin/python bench/bench_churn_sample.py --database PATH [--caps 200000 100000]``: on the first
dataset of the DuckDB file (e.g. 1M customers / 10M orders loaded from bench_core.generate), as the Customer
value page's check does it — train at as_of − 2·180 days, score the purchasers not churned yet at
as_of − 180 days against their labels of the following 180 days — for the model trained on all purchasers and
on stratified samples of ``--caps`` customers. Every model is scored on all evaluation customers (not a sample),
so the ROC AUCs compare the training data only. Prints fit time (wall and CPU), AUC, base rate and mean
predicted risk, and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.metrics import roc_auc_score  # noqa: E402

from clm_core import store  # noqa: E402
from clm_core.config import LifecycleConfig  # noqa: E402
from clm_core.metrics.common import resolve_as_of  # noqa: E402
from clm_core.models.churn import ChurnModel, churn_labels  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_value_models import cpu  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--caps", type=int, nargs="+", default=[200_000, 100_000])
    parser.add_argument("--churn-days", type=int, default=180)
    args = parser.parse_args()
    con = store.connect(args.database)
    dataset = store.list_datasets(con)[0]
    as_of = resolve_as_of(dataset)
    days = dt.timedelta(days=args.churn_days)
    training, evaluation = as_of - 2 * days, as_of - days
    print(f"load average at start: {os.getloadavg()}")
    print(f"dataset {dataset.name}: as-of {as_of}, trained at {training}, evaluated at {evaluation}")
    config = LifecycleConfig(churn_days=args.churn_days)
    rows = []
    for cap in [10**12, *args.caps]:
        start, start_cpu = time.perf_counter(), cpu()
        model = ChurnModel(args.churn_days, max_customers=cap).fit(dataset, training, config)
        fit_wall, fit_cpu = time.perf_counter() - start, cpu() - start_cpu
        features = model.features(dataset, evaluation)
        features = features[features["stage"] != "churned"]
        labels = churn_labels(dataset, evaluation, args.churn_days).set_index("customer_id")["churned"]
        y = labels.reindex(features["customer_id"]).to_numpy()
        start, start_cpu = time.perf_counter(), cpu()
        risk = model.predict_proba(features)
        score_wall, score_cpu = time.perf_counter() - start, cpu() - start_cpu
        row = dict(trained_on="all" if cap >= model.n_customers_ else f"sample of {cap:,}",
                   customers=model.n_trained_, of=model.n_customers_, fit_s=fit_wall, fit_cpu_s=fit_cpu,
                   scored=len(y), score_s=score_wall, score_cpu_s=score_cpu, auc=roc_auc_score(y, risk),
                   base_rate=float(y.mean()), mean_risk=float(risk.mean()), load=os.getloadavg()[0])
        rows.append(row)
        print(" | ".join(f"{k} {v:,.4f}" if isinstance(v, float) else f"{k} {v:,}" if isinstance(v, int)
                         else f"{k} {v}" for k, v in row.items()), flush=True)
    print("\n| trained on | customers | fit s (CPU s) | scoring all evaluation customers s (CPU s) | ROC AUC | "
          "base rate | mean predicted risk |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['trained_on']} | {r['customers']:,} of {r['of']:,} | {r['fit_s']:.1f} ({r['fit_cpu_s']:.1f}) | "
              f"{r['score_s']:.1f} ({r['score_cpu_s']:.1f}) on {r['scored']:,} | {r['auc']:.4f} | "
              f"{r['base_rate']:.4f} | {r['mean_risk']:.4f} |")
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
