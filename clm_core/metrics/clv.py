"""Historic value and the RFM summary per customer (DESIGN §3.5).

Over purchase days (amount > 0) on or before T, per customer with a purchase:
frequency = purchase days − 1 (repeat purchase days); recency = last − first;
T = as-of − first (recency and T in days, or weeks = days / 7); monetary = mean
purchase amount of the repeat purchase days (0 without repeats); historic_value =
net revenue up to T, returns included, × margin where the data gives one;
days_since_last = as-of − last (what RFM's recency score ranks).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from clm_core.metrics.common import customer_totals, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

TIME_UNITS = {"days": 1.0, "weeks": 7.0}


def rfm_table(dataset: Dataset, as_of, segment=None, config=None, time_unit: str = "days"):
    """Ibis table: customer_id, frequency, recency, T, monetary, historic_value, days_since_last."""
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNITS)}")
    scale = TIME_UNITS[time_unit]
    totals = customer_totals(dataset, as_of)
    per = restrict(totals.filter(totals.n > 0), segment_customers(dataset, segment, as_of, config))
    t = ibis.literal(as_of)
    frequency = per.n - 1
    summary = per.select(
        per.customer_id,
        frequency=frequency,
        recency=per.last.delta(per.first, unit="day") / scale if scale != 1 else per.last.delta(per.first, unit="day"),
        T=t.delta(per.first, unit="day") / scale if scale != 1 else t.delta(per.first, unit="day"),
        monetary=ibis.ifelse(frequency > 0, (per.total - per.first_amount) / frequency.cast("float64"), 0.0),
        historic_value=per.historic_value,
        days_since_last=t.delta(per.last, unit="day"),
    )
    return summary


def rfm_summary(dataset: Dataset, as_of=None, segment=None, config=None, time_unit: str = "days") -> pd.DataFrame:
    """The RFM summary as a frame (one row per purchaser, sorted by customer_id)."""
    as_of = resolve_as_of(dataset, as_of)
    return rfm_table(dataset, as_of, segment, config, time_unit).order_by("customer_id").execute()


def historic_value(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """customer_id, historic_value for every customer of the segment (0 for prospects)."""
    as_of = resolve_as_of(dataset, as_of)
    customers = restrict(dataset.require("customer_index"), segment_customers(dataset, segment, as_of, config))
    value = customer_totals(dataset, as_of)
    joined = customers.left_join(value, customers.customer_id == value.customer_id)
    return joined.select(customers.customer_id, historic_value=value.historic_value.fill_null(0.0)).order_by(
        "customer_id"
    ).execute()


def mean_historic_value(dataset: Dataset, as_of=None, segment=None, config=None) -> float:
    """Mean historic value of the customers with a purchase on or before T (those of ``rfm_summary``;
    NaN without any)."""
    as_of = resolve_as_of(dataset, as_of)
    days = dataset.require("customer_days")
    t = ibis.literal(as_of)
    # every day up to T of the customers whose first purchase is on or before T: one pass, no per-customer groups
    days = restrict(days.filter(days.day <= t, days.first_purchase_day <= t),
                    segment_customers(dataset, segment, as_of, config))
    totals = days.aggregate(value=days.value.sum(), buyers=days.count(where=days.purchase_number == 1)).execute()
    buyers = int(totals["buyers"].iloc[0])
    return float(totals["value"].iloc[0]) / buyers if buyers else float("nan")


def net_revenue(dataset: Dataset, start, end, segment=None, config=None) -> float:
    """Net revenue (returns included) of the days in (start, end]."""
    start, end = resolve_as_of(dataset, start), resolve_as_of(dataset, end)
    days = dataset.require("customer_days")
    days = days.filter(days.day > ibis.literal(start), days.day <= ibis.literal(end))
    days = restrict(days, segment_customers(dataset, segment, end, config))
    total = days.revenue.sum().execute()
    return float(total) if total is not None and total == total else 0.0


def value_histogram(dataset: Dataset, as_of=None, segment=None, config=None, bins: int = 30,
                    log: bool = False) -> pd.DataFrame:
    """bin, lower, upper, customers: historic value of the purchasers (as in ``rfm_summary``) in ``bins``
    equal-width bins, counted in the database; with ``log`` the bins are equal in log10 and customers
    with a historic value ≤ 0 are left out. The last bin includes its upper edge."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    as_of = resolve_as_of(dataset, as_of)
    t = rfm_table(dataset, as_of, segment, config)
    if log:
        t = t.filter(t.historic_value > 0)
        x = t.historic_value.log10()
    else:
        x = t.historic_value
    t = t.select(x=x.cast("float64"))
    stats = t.aggregate(lo=t.x.min(), hi=t.x.max(), n=t.count()).execute().iloc[0]
    empty = pd.DataFrame({"bin": pd.Series(dtype="int64"), "lower": pd.Series(dtype="float64"),
                          "upper": pd.Series(dtype="float64"), "customers": pd.Series(dtype="int64")})
    if not stats["n"]:
        return empty
    lo, hi = float(stats["lo"]), float(stats["hi"])
    if hi == lo:
        edges = np.array([lo - 0.5, lo + 0.5]) if not log else np.array([lo - 0.05, lo + 0.05])
        frame = pd.DataFrame({"bin": [0], "customers": [int(stats["n"])]})
    else:
        width = (hi - lo) / bins
        index = ibis.least(((t.x - lo) / width).floor().cast("int64"), bins - 1)
        counted = t.group_by(bin=index).aggregate(customers=t.count()).execute()
        frame = counted.set_index("bin").reindex(range(bins), fill_value=0).rename_axis("bin").reset_index()
        edges = lo + width * np.arange(bins + 1)
        edges[-1] = hi
    frame["lower"] = edges[frame["bin"].to_numpy()]
    frame["upper"] = edges[frame["bin"].to_numpy() + 1]
    if log:
        frame["lower"], frame["upper"] = 10 ** frame["lower"], 10 ** frame["upper"]
    frame["customers"] = frame["customers"].astype("int64")
    return frame[["bin", "lower", "upper", "customers"]]
