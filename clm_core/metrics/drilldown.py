"""Drill-downs and options behind the Funnel and Cohorts pages.

- which funnel steps a dataset offers (:func:`step_availability`, :func:`event_names`),
- which customer attributes make a sensible breakdown (:func:`breakdown_attributes`, :func:`top_values`),
- the customers behind a number: those who dropped off at a funnel step
  (:func:`funnel_dropped`) and those of a cohort active in a period (:func:`cohort_customers`),
- averages and trends of a cohort table by measure (customers or revenue).

Everything that touches customers is an Ibis expression evaluated in the
database; pandas only holds result-sized frames.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import ibis
import pandas as pd

from clm_core.filters import SegmentFilter
from clm_core.metrics.cohorts import PERIODS, period_number, period_index
from clm_core.metrics.common import purchase_days, resolve_as_of, restrict, segment_customers
from clm_core.metrics.funnel import MILESTONES, _as_steps, funnel_paths
from clm_core.store import Dataset

#: customer_index columns that are no breakdown (identifiers, coordinates, dates)
NOT_BREAKDOWN = {"customer_id", "implicit", "latitude", "longitude", "created_at", "first_seen", "postal_code"}
MEASURES = ("customers", "revenue")


# --------------------------------------------------------------------------- funnel options

@dataclass(frozen=True)
class StepAvailability:
    """Funnel steps a dataset can offer, and the milestones it cannot with the table/column they need."""

    milestones: tuple[str, ...]
    events: tuple[str, ...]
    missing: tuple[tuple[str, str], ...]  # (milestone or "events", what to upload)

    @property
    def steps(self) -> tuple[str, ...]:
        return self.milestones + tuple(e for e in self.events if e not in self.milestones)


def event_names(dataset: Dataset, segment=None, config=None, as_of=None) -> list[str]:
    """Distinct event names of the events table, most frequent first (ties by name); [] without events.

    With a segment filter only the events of its customers count.
    """
    events = dataset.table("events")
    if events is None:
        return []
    if segment is not None and not segment.is_empty():
        events = restrict(events, segment_customers(dataset, segment, resolve_as_of(dataset, as_of), config))
    events = events.filter(events.event.notnull())
    counts = (
        events.group_by(event=events.event.cast("string"))
        .aggregate(n=events.count())
        .order_by([ibis.desc("n"), "event"])
        .execute()
    )
    return [str(e) for e in counts["event"]]


def has_created_at(dataset: Dataset) -> bool:
    index = dataset.table("customer_index")
    if index is None or "created_at" not in index.columns:
        return False
    return bool(index.created_at.notnull().any().execute())


def step_availability(dataset: Dataset, segment=None, config=None) -> StepAvailability:
    """Milestones and event names usable as funnel steps in this dataset."""
    milestones, missing = [], []
    for name in MILESTONES:
        if name == "created":
            ok, need = has_created_at(dataset), "customers.created_at"
        elif name in ("first_purchase", "repeat_purchase"):
            ok, need = dataset.has("customer_days"), "transactions"
        else:
            ok, need = dataset.has("nps"), "nps"
        if ok:
            milestones.append(name)
        else:
            missing.append((name, need))
    events = tuple(event_names(dataset))
    if not dataset.has("events"):
        missing.append(("events", "events"))
    return StepAvailability(tuple(milestones), events, tuple(missing))


def breakdown_attributes(dataset: Dataset, max_values: int = 30, segment=None, config=None) -> list[str]:
    """Customer attributes with 2 … ``max_values`` distinct values (one query for all columns)."""
    index = dataset.table("customer_index")
    if index is None:
        return []
    columns = [c for c in index.columns if c not in NOT_BREAKDOWN]
    if not columns:
        return []
    counts = index.aggregate(**{f"c{i}": index[c].nunique() for i, c in enumerate(columns)}).execute().iloc[0]
    return [c for i, c in enumerate(columns) if 2 <= int(counts[f"c{i}"]) <= max_values]


def top_values(dataset: Dataset, attribute: str, n: int = 5, as_of=None, segment=None, config=None,
               buyers_only: bool = True) -> pd.DataFrame:
    """The ``n`` most common non-null values of a customer attribute (value, customers), largest first.

    With ``buyers_only`` only customers with a purchase on or before T count (the cohort population).
    """
    index = dataset.require("customer_index")
    if attribute not in index.columns or attribute == "customer_id":
        raise ValueError(f"unknown customer attribute {attribute!r}")
    as_of = resolve_as_of(dataset, as_of)
    rows = restrict(index, segment_customers(dataset, segment, as_of, config))
    if buyers_only:
        rows = restrict(rows, purchase_days(dataset, as_of).select("customer_id"))
    rows = rows.filter(rows[attribute].notnull())
    counts = (
        rows.group_by(value=rows[attribute].cast("string"))
        .aggregate(customers=rows.customer_id.nunique())
        .order_by([ibis.desc("customers"), "value"])
        .limit(n)
        .execute()
    )
    return counts.astype({"customers": "int64"}).reset_index(drop=True)


def narrow(segment: SegmentFilter | None, attribute: str, value: str) -> SegmentFilter:
    """``segment`` further restricted to customers whose ``attribute`` is ``value``."""
    segment = segment or SegmentFilter()
    attributes = dict(segment.attributes)
    attributes[attribute] = (str(value),)
    return SegmentFilter(attributes, segment.stages, segment.cohort_from, segment.cohort_to, segment.customer_list)


# --------------------------------------------------------------------------- funnel drill-down

def funnel_dropped(dataset: Dataset, steps, step: int, as_of=None, window_days: int = 365, exclusions=(),
                   segment=None, config=None):
    """Ibis table (customer_id, reached_previous_on) of those who reached step ``step − 1`` but not ``step``.

    The same customers as :func:`clm_core.metrics.funnel.dropped_customers`, left in the database
    (for a stored customer list).
    """
    steps = _as_steps(steps)
    if not 2 <= step <= len(steps):
        raise ValueError(f"drop-off is defined for steps 2 … {len(steps)}")
    path = funnel_paths(dataset, steps, as_of, window_days, exclusions, segment, config)
    dropped = path.filter(path[f"d{step - 1}"].notnull(), path[f"d{step}"].isnull())
    return dropped.select("customer_id", reached_previous_on=dropped[f"d{step - 1}"])


# --------------------------------------------------------------------------- cohorts

_LABEL = {
    "month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
}


def parse_period_label(label: str, period: str) -> int:
    """The period index (as in :func:`clm_core.metrics.cohorts.period_index`) of a cohort label.

    Labels: ``2024-03`` (month), ``2024-Q1`` (quarter), ``2024-W05`` (ISO week).
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    match = _LABEL[period].match(str(label))
    if not match:
        raise ValueError(f"not a {period} label: {label!r}")
    year, number = int(match.group(1)), int(match.group(2))
    if period == "month":
        return year * 12 + number - 1
    if period == "quarter":
        return year * 4 + number - 1
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        raise ValueError(f"not a week label: {label!r}") from exc
    return period_number(monday, "week")


def cohort_customers(dataset: Dataset, as_of=None, period_unit: str = "month", cohort_label: str | None = None,
                     offset: int = 0, segment=None, config=None):
    """Ibis table (customer_id, purchase_days, revenue) of cohort ``cohort_label``'s customers active in
    period cohort + ``offset`` (a purchase day in it, on or before T), with their purchase days and net
    revenue in that period. The rows behind ``active_customers`` of :func:`cohort_retention`.
    """
    if cohort_label is None:
        raise ValueError("cohort_customers needs a cohort label")
    offset = int(offset)
    if offset < 0:
        raise ValueError("the period offset must be ≥ 0")
    cohort = parse_period_label(cohort_label, period_unit)
    as_of = resolve_as_of(dataset, as_of)
    days = dataset.require("customer_days")
    t = ibis.literal(as_of)
    days = restrict(days.filter(days.day <= t, days.first_purchase_day <= t),
                    segment_customers(dataset, segment, as_of, config))
    days = days.filter(period_index(days.first_purchase_day, period_unit) == cohort,
                       period_index(days.day, period_unit) == cohort + offset)
    active = days.group_by("customer_id").aggregate(
        purchase_days=days.count(where=days.purchases > 0), revenue=days.revenue.sum()
    )
    return active.filter(active.purchase_days > 0).order_by("customer_id")


def measure_column(measure: str) -> str:
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    return "retention" if measure == "customers" else "revenue_retention"


def average_by_measure(retention: pd.DataFrame, measure: str = "customers") -> pd.DataFrame:
    """Size-weighted average curve (period, value, cohorts) over cohorts, complete periods only.

    customers: Σ active / Σ cohort size; revenue: Σ revenue in c + k / Σ revenue in c, both over
    the cohorts whose period k is complete.
    """
    measure_column(measure)
    rows = retention[~retention["partial"].astype(bool)]
    if rows.empty:
        return pd.DataFrame(columns=["period", "value", "cohorts"])
    if measure == "customers":
        grouped = rows.groupby("period").agg(num=("active_customers", "sum"), den=("cohort_size", "sum"),
                                             cohorts=("cohort", "nunique"))
    else:
        base = retention[retention["period"] == 0].set_index("cohort")["revenue"]
        rows = rows.assign(base=rows["cohort"].map(base))
        grouped = rows.groupby("period").agg(num=("revenue", "sum"), den=("base", "sum"), cohorts=("cohort", "nunique"))
    grouped["value"] = grouped["num"] / grouped["den"].where(grouped["den"] != 0)
    return grouped.reset_index()[["period", "value", "cohorts"]]


def trend_by_measure(retention: pd.DataFrame, k: int, measure: str = "customers") -> pd.DataFrame:
    """Period-``k`` value of successive cohorts: cohort, cohort_size, value, partial."""
    column = measure_column(measure)
    rows = retention[retention["period"] == int(k)]
    return rows[["cohort", "cohort_size", column, "partial"]].rename(columns={column: "value"}).reset_index(drop=True)
