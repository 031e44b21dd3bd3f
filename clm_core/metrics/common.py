"""Shared pieces of the metrics: the as-of date and the filtered customer set."""

from __future__ import annotations

import datetime as dt

import ibis

from clm_core.derived import per_customer_totals
from clm_core.store import Dataset


def resolve_as_of(dataset: Dataset, as_of: dt.date | str | None = None) -> dt.date:
    """``as_of`` as a date; by default the latest day with a transaction (today when there is none)."""
    if as_of is not None:
        return as_of if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime) else _parse_date(as_of)
    latest = data_end(dataset)
    return dt.date.today() if latest is None else latest


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


def latest_scores(answers, *keys):
    """Ibis table: ``keys``, score — per group of ``keys`` (default: per customer) the score of the latest
    answer; answers given at the same latest moment (in a file that records the day only: the same day)
    count with the lowest of their scores, so the result does not depend on the order the engine reads
    them in, and a customer counts as a promoter only when every latest answer is a promoter's."""
    keys = keys or ("customer_id",)
    latest = answers.answered_at.max().over(ibis.window(group_by=list(keys)))
    answers = answers.mutate(__latest=latest)
    last = answers.filter(answers.answered_at == answers.__latest)
    return last.group_by(list(keys)).aggregate(score=last.score.min())


def purchase_days(dataset: Dataset, as_of: dt.date):
    """customer_days rows with a purchase (amount > 0) on or before ``as_of``."""
    days = dataset.require("customer_days")
    return days.filter(days.purchases > 0, days.day <= ibis.literal(as_of))


def data_end(dataset: Dataset) -> dt.date | None:
    """The last day with a transaction (None without any); looked up once per Dataset object, like its tables."""
    if "_data_end" not in dataset.__dict__:
        days = dataset.table("customer_days")
        latest = days.day.max().execute() if days is not None else None
        missing = latest is None or str(latest) in ("NaT", "None", "nan")
        object.__setattr__(dataset, "_data_end", None if missing else _parse_date(latest))
    return dataset.__dict__["_data_end"]


def customer_totals(dataset: Dataset, as_of: dt.date):
    """``clm_core.derived.per_customer_totals`` over the customer_days rows on or before ``as_of``.

    Read from the stored ``customer_summary`` when ``as_of`` is the data's last day (the default),
    else aggregated from ``customer_days``.
    """
    summary = dataset.table("customer_summary")
    if summary is not None and as_of == data_end(dataset):
        return summary
    days = dataset.require("customer_days")
    return per_customer_totals(days.filter(days.day <= ibis.literal(as_of)), as_of)


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
