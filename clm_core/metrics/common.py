"""Shared pieces of the metrics: the as-of date and the filtered customer set."""

from __future__ import annotations

import datetime as dt

import ibis

from clm_core.store import Dataset


def resolve_as_of(dataset: Dataset, as_of: dt.date | str | None = None) -> dt.date:
    """``as_of`` as a date; by default the latest day with a transaction (today when there is none)."""
    if as_of is not None:
        return as_of if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime) else _parse_date(as_of)
    days = dataset.table("customer_days")
    latest = days.day.max().execute() if days is not None else None
    if latest is None or (hasattr(latest, "__class__") and str(latest) in ("NaT", "None")):
        return dt.date.today()
    return latest if isinstance(latest, dt.date) and not isinstance(latest, dt.datetime) else latest.date()


def _parse_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def day_of(column):
    """A timestamp column as a calendar day."""
    return column.cast("date")


def purchase_days(dataset: Dataset, as_of: dt.date):
    """customer_days rows with a purchase (amount > 0) on or before ``as_of``."""
    days = dataset.require("customer_days")
    return days.filter(days.purchases > 0, days.day <= ibis.literal(as_of))


def restrict(table, customers):
    """Rows of ``table`` whose customer is in ``customers`` (no-op when ``customers`` is None)."""
    if customers is None:
        return table
    return table.semi_join(customers, table.customer_id == customers.customer_id)


def segment_customers(dataset: Dataset, segment, as_of: dt.date, config):
    """The customer ids a segment filter keeps, or None for no filter."""
    if segment is None or segment.is_empty():
        return None
    return segment.customers(dataset, as_of, config)
