"""Growth accounting and stickiness (DESIGN §3.1b).

Per period P (month, week or quarter), with "active in P" = at least one purchase day
in P: ``new`` = first purchase day in P; ``returning`` = active in P and in P − 1;
``resurrecting`` = active in P, not in P − 1, active in some earlier period;
``dormant`` = active in P − 1, not in P (reported as a negative count). Quick ratio =
(new + resurrecting) / dormant (NaN without dormant customers). Stickiness = purchasers
(first purchase ≤ T) by the number of active periods among the last N ending with T's
period. T's period is marked ``partial``.
"""

from __future__ import annotations

import pandas as pd

from clm_core.metrics.cohorts import period_number, period_index, period_label
from clm_core.metrics.common import purchase_days, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

GROWTH_COLUMNS = ["period", "new", "returning", "resurrecting", "dormant", "active", "quick_ratio", "partial"]


def active_periods(dataset: Dataset, as_of, period: str = "month", segment=None, config=None):
    """Ibis table: customer_id, period, previous_period — one row per customer and active period.

    ``previous_period`` is the customer's latest earlier active period (null before their first).
    A purchase day opens its period when the previous purchase day lies in an earlier period.
    """
    days = restrict(purchase_days(dataset, as_of), segment_customers(dataset, segment, as_of, config))
    current = period_index(days.day, period)
    previous = period_index(days.previous_purchase_day, period)
    opens = days.previous_purchase_day.isnull() | (previous != current)
    return days.filter(opens).select("customer_id", period=current, previous_period=previous)


def growth_accounting(dataset: Dataset, as_of=None, period: str = "month", periods: int = 12, segment=None,
                      config=None) -> pd.DataFrame:
    """One row per period, the last ``periods`` ones up to T's period, oldest first."""
    as_of = resolve_as_of(dataset, as_of)
    last = period_number(as_of, period)
    first = last - periods + 1
    rows = active_periods(dataset, as_of, period, segment, config)
    rows = rows.filter(rows.period >= first - 1)
    counts = rows.group_by("period").aggregate(
        active=rows.count(),
        new=rows.count(where=rows.previous_period.isnull()),
        returning=rows.count(where=rows.previous_period == rows.period - 1),
        resurrecting=rows.count(where=rows.previous_period < rows.period - 1),
    ).execute()
    frame = (counts.astype({"period": "int64"}).set_index("period")
             .reindex(range(first - 1, last + 1), fill_value=0).astype("int64"))
    frame["dormant"] = -(frame["active"].shift(1) - frame["returning"])
    frame = frame.loc[first:].copy()
    frame["dormant"] = frame["dormant"].astype("int64")
    gained = frame["new"] + frame["resurrecting"]
    frame["quick_ratio"] = (gained / -frame["dormant"]).where(frame["dormant"] != 0)
    frame["partial"] = frame.index == last
    frame.index = [period_label(int(p), period) for p in frame.index]
    return frame.rename_axis("period").reset_index()[GROWTH_COLUMNS]


def stickiness(dataset: Dataset, as_of=None, period: str = "month", periods: int = 12, segment=None,
               config=None) -> pd.DataFrame:
    """active_periods (0 … N), customers, share: purchasers by active periods among the last N."""
    as_of = resolve_as_of(dataset, as_of)
    last = period_number(as_of, period)
    rows = active_periods(dataset, as_of, period, segment, config)
    per_customer = rows.group_by("customer_id").aggregate(
        active_periods=rows.count(where=rows.period > last - periods)
    )
    counts = per_customer.group_by("active_periods").aggregate(customers=per_customer.count()).execute()
    frame = (counts.astype("int64").set_index("active_periods").reindex(range(periods + 1), fill_value=0)
             .rename_axis("active_periods").reset_index())
    total = frame["customers"].sum()
    frame["share"] = frame["customers"] / total if total else 0.0
    return frame

