"""Cohort retention (DESIGN §3.3).

Cohort = period (month, week starting Monday, or quarter) of a customer's first
purchase. For offset k ≥ 0: active(c, k) = customers of cohort c with a purchase
day in period c + k; retention = active / cohort size. Revenue retention = net
revenue (returns included) of cohort c in period c + k / its net revenue in
period c. Cumulative revenue per customer up to c + k is the realised lifetime
value curve. Periods after T's period have no row (empty, not zero); T's period is
marked ``partial``.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from clm_core.derived import exact_sum
from clm_core.metrics.common import resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

PERIODS = ("month", "week", "quarter")
_MONDAY = dt.date(2000, 1, 3)


def period_index(day, period: str):
    """Ibis: a consecutive integer per period, so offsets are differences."""
    if period == "month":
        return day.year() * 12 + day.month() - 1
    if period == "quarter":
        return day.year() * 4 + day.quarter() - 1
    if period == "week":
        return day.delta(ibis.literal(_MONDAY), unit="day") // 7
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def period_number(day: dt.date, period: str) -> int:
    """The consecutive number of the period containing ``day`` (as ``period_index`` in the database)."""
    if period == "month":
        return day.year * 12 + day.month - 1
    if period == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    return (day - _MONDAY).days // 7


def period_start(index: int, period: str) -> dt.date:
    if period == "month":
        return dt.date(index // 12, index % 12 + 1, 1)
    if period == "quarter":
        return dt.date(index // 4, (index % 4) * 3 + 1, 1)
    return _MONDAY + dt.timedelta(weeks=index)


def period_label(index: int, period: str) -> str:
    start = period_start(index, period)
    if period == "month":
        return start.strftime("%Y-%m")
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def cohort_retention(dataset: Dataset, as_of=None, period: str = "month", segment=None, config=None) -> pd.DataFrame:
    """One row per (cohort, period offset) up to T's period.

    Columns: cohort, cohort_start, period, cohort_size, active_customers, retention,
    revenue, revenue_retention, cumulative_revenue_per_customer, partial.
    """
    as_of = resolve_as_of(dataset, as_of)
    index_of_t = period_number(as_of, period)
    customers = segment_customers(dataset, segment, as_of, config)
    days = dataset.require("customer_days")
    t = ibis.literal(as_of)
    days = restrict(days.filter(days.day <= t, days.first_purchase_day <= t), customers)
    period_of_day = period_index(days.day, period)
    # A purchase day opens the customer's activity in its period when the previous purchase day
    # lies in an earlier period, so active customers are counted without DISTINCT.
    opens_period = (days.purchases > 0) & (
        days.previous_purchase_day.isnull() | (period_index(days.previous_purchase_day, period) != period_of_day)
    )
    cohort = period_index(days.first_purchase_day, period)
    cells = (
        days.group_by(cohort=cohort, offset=period_of_day - cohort)
        .aggregate(
            cohort_size=days.count(where=days.purchase_number == 1),
            active_customers=days.count(where=opens_period),
            revenue=exact_sum(days.revenue),
        )
        .filter(lambda c: c.offset >= 0)
    ).execute()
    sizes = cells[cells["offset"] == 0][["cohort", "cohort_size"]]
    cells = cells.drop(columns="cohort_size")
    columns = ["cohort", "cohort_start", "period", "cohort_size", "active_customers", "retention", "revenue",
               "revenue_retention", "cumulative_revenue_per_customer", "partial"]
    if sizes.empty:
        return pd.DataFrame(columns=columns)
    grid = pd.DataFrame(
        [(int(c), k) for c in sizes["cohort"] for k in range(index_of_t - int(c) + 1)], columns=["cohort", "period"]
    )
    cells = cells.rename(columns={"offset": "period"}).astype({"cohort": "int64", "period": "int64"})
    frame = grid.merge(sizes.astype({"cohort": "int64"}), on="cohort").merge(cells, on=["cohort", "period"], how="left")
    frame["active_customers"] = frame["active_customers"].fillna(0).astype("int64")
    frame["revenue"] = frame["revenue"].fillna(0.0).astype("float64")
    frame["cohort_size"] = frame["cohort_size"].astype("int64")
    frame = frame.sort_values(["cohort", "period"], ignore_index=True)
    frame["retention"] = frame["active_customers"] / frame["cohort_size"]
    first_revenue = frame.groupby("cohort")["revenue"].transform("first")
    frame["revenue_retention"] = np.where(first_revenue != 0, frame["revenue"] / first_revenue.replace(0, np.nan), np.nan)
    frame["cumulative_revenue_per_customer"] = frame.groupby("cohort")["revenue"].cumsum() / frame["cohort_size"]
    frame["partial"] = frame["cohort"] + frame["period"] == index_of_t
    frame["cohort_start"] = [period_start(c, period) for c in frame["cohort"]]
    frame["cohort"] = [period_label(c, period) for c in frame["cohort"]]
    return frame[columns]


def retention_trend(retention: pd.DataFrame, period: int) -> pd.DataFrame:
    """Period-``period`` retention of successive cohorts (cohort, retention, partial)."""
    rows = retention[retention["period"] == period]
    return rows[["cohort", "cohort_size", "retention", "partial"]].reset_index(drop=True)


def average_curve(retention: pd.DataFrame) -> pd.DataFrame:
    """Retention by offset averaged over cohorts, weighted by cohort size, complete periods only."""
    rows = retention[~retention["partial"]]
    grouped = rows.groupby("period").agg(active_customers=("active_customers", "sum"), cohort_size=("cohort_size", "sum"))
    grouped["retention"] = grouped["active_customers"] / grouped["cohort_size"]
    return grouped.reset_index()
