"""Tables derived at ingest, so metrics read small pre-aggregates instead of raw rows.

- ``customer_index``: every customer of the dataset, including those that appear
  only in transactions, events or NPS answers (``implicit`` = true), with the
  attributes of the customers file and ``first_seen``, the earliest of their
  created_at, transaction, event and answer days (null when none is dated).
- ``customer_days``: one row per customer and calendar day with transactions:
  ``revenue`` (net, returns included), ``purchase_amount`` (sum of amounts > 0),
  ``purchases`` (transactions with amount > 0), ``value`` (net revenue × margin
  where a margin is given). A purchase day is a row with ``purchases > 0``. Three
  columns place each row among the customer's purchase days, so metrics need no
  self-joins: ``purchase_number`` (1 for the first purchase day, 2 for the second …;
  null on days without a purchase), ``previous_purchase_day`` (the latest purchase day
  before this day) and ``first_purchase_day`` (the customer's first purchase day, on
  every row).
- ``customer_summary``: one row per customer of ``customer_days`` with the totals over all
  their days as of the data's last day (see :func:`per_customer_totals`). For that as-of date
  (the default everywhere) it is exactly what the metrics would aggregate from ``customer_days``,
  so they read it instead (``clm_core.metrics.common.customer_totals``).
- ``customer_purchases``: one row per customer and purchase day of ``customer_days``, its days as
  day numbers (days since 1970-01-01, so that range arithmetic is integer arithmetic): ``day_number``,
  ``next_day_number`` (the next purchase day; null after the last), ``first_day_number``,
  ``previous_day_number`` (the purchase day before) and ``day_number_3_back`` (three purchase days
  before; null for the first three). A row describes its customer on every day T in
  [day, next purchase day): last purchase = day, and at least 4 purchase days in (T − 365 days, T]
  (the default ``loyal_orders``) iff day_number_3_back > T − 365.
- ``stage_changes``: per day and stage, how many customers enter (+) or leave (−) it under the default
  thresholds (``clm_core.metrics.stages.stage_changes``): the stage distribution at any date is a sum
  over this small table.
"""

from __future__ import annotations

import datetime as dt

import ibis

from clm_core.store import Dataset


DATED = {"customers": "created_at", "transactions": "ordered_at", "events": "occurred_at", "nps": "answered_at"}


def customer_index(dataset: Dataset):
    sources = {name: dataset.table(name) for name in DATED}
    seen = []
    for name, t in sources.items():
        if t is None:
            continue
        when = t[DATED[name]] if DATED[name] in t.columns else ibis.null("timestamp")
        seen.append(t.select(customer_id=t.customer_id, seen=when.cast("timestamp")))
    if not seen:
        return None
    rows = seen[0].union(*seen[1:]) if len(seen) > 1 else seen[0]
    all_ids = rows.group_by("customer_id").aggregate(first_seen=rows.seen.min().cast("date"))
    customers = sources["customers"]
    if customers is None:
        return all_ids.mutate(implicit=ibis.literal(True))
    known = customers.mutate(__known=ibis.literal(True))
    joined = all_ids.left_join(known, all_ids.customer_id == known.customer_id)
    attributes = [known[c] for c in customers.columns if c != "customer_id"]
    return joined.select(all_ids.customer_id, *attributes, first_seen=all_ids.first_seen,
                         implicit=known.__known.isnull())


_EXACT, _HUGE = ibis.expr.datatypes.Decimal(38, 10), 1e15


def exact_sum(x, where=None):
    """Ibis: the sum of the money column ``x`` computed exactly, as DECIMAL(38, 10), and converted to a double
    after the sum. An exact sum does not depend on the order in which the rows are added — by DuckDB's
    threads or Spark's partitions — so the same data give the same doubles on any engine and with any
    number of threads (a double sum differs in the last digits). |values| of 1e15 or more (no real amount)
    are added as doubles beside it, so that they cannot overflow the decimal; they add 0.0 to every sum of
    real amounts."""
    huge = x.abs() >= _HUGE
    within = ibis.ifelse(huge, 0.0, x).cast(_EXACT).sum(where=where).cast("float64")
    return within + ibis.ifelse(huge, x, 0.0).sum(where=where)


def customer_days(dataset: Dataset):
    t = dataset.table("transactions")
    if t is None:
        return None
    purchase = t.amount > 0
    margin = t.margin.fill_null(1.0) if "margin" in t.columns else ibis.literal(1.0)
    days = t.group_by(customer_id=t.customer_id, day=t.ordered_at.cast("date")).aggregate(
        revenue=exact_sum(t.amount),
        purchase_amount=exact_sum(t.amount, where=purchase).fill_null(0.0),
        purchases=t.count(where=purchase),
        value=exact_sum(t.amount * margin),
    )
    bought = days.purchases > 0
    purchase_day = ibis.ifelse(bought, days.day, ibis.null("date"))
    before = ibis.window(group_by="customer_id", order_by="day", rows=(None, -1))
    so_far = ibis.window(group_by="customer_id", order_by="day", rows=(None, 0))
    return days.mutate(
        purchase_number=ibis.ifelse(bought, purchase_day.count().over(so_far), ibis.null("int64")),
        previous_purchase_day=purchase_day.max().over(before),
        first_purchase_day=purchase_day.min().over(ibis.window(group_by="customer_id")),
    )


def per_customer_totals(days, as_of: dt.date):
    """Per customer of the ``customer_days`` rows given (those on or before ``as_of``): first, last,
    previous (the purchase day before last), second purchase day, n (purchase days), recent_days
    (purchase days in (as_of − 365 days, as_of]), total (purchase amounts), first_amount (purchase
    amount of the first purchase day), historic_value (sum of ``value``). The purchase fields are
    null (n = 0) for customers whose rows have no purchase."""
    bought = days.purchases > 0
    year_ago = ibis.literal(as_of - dt.timedelta(days=365))
    return days.group_by("customer_id").aggregate(
        first=days.first_purchase_day.min(where=bought),
        last=days.day.max(where=bought),
        previous=days.previous_purchase_day.max(where=bought),
        second=days.day.min(where=days.purchase_number == 2),
        n=days.count(where=bought),
        recent_days=days.count(where=bought & (days.day > year_ago)),
        total=exact_sum(days.purchase_amount),
        first_amount=exact_sum(days.purchase_amount, where=days.purchase_number == 1).fill_null(0.0),
        historic_value=exact_sum(days.value),
    )


def customer_summary(dataset: Dataset):
    """``per_customer_totals`` of all days, as of the data's last day."""
    days = dataset.table("customer_days")
    end = days.day.max().execute() if days is not None else None
    if end is None or str(end) in ("NaT", "None"):
        return None
    return per_customer_totals(days, end.date() if isinstance(end, dt.datetime) else end)


#: ``customer_purchases.day_number_3_back`` serves ``loyal_orders`` = LOYAL_LAG + 1 (the default).
LOYAL_LAG = 3
EPOCH = dt.date(1970, 1, 1)


def day_number(day):
    """Ibis: days since 1970-01-01 as an integer."""
    return day.delta(ibis.literal(EPOCH), unit="day").cast("int32")


def customer_purchases(dataset: Dataset):
    days = dataset.table("customer_days")
    if days is None:
        return None
    bought = days.filter(days.purchases > 0)
    order = ibis.window(group_by="customer_id", order_by="day")
    return bought.select(
        "customer_id",
        day_number=day_number(bought.day),
        next_day_number=day_number(bought.day.lead().over(order)),
        first_day_number=day_number(bought.first_purchase_day),
        previous_day_number=day_number(bought.previous_purchase_day),
        day_number_3_back=day_number(bought.day.lag(LOYAL_LAG).over(order)),
    )


def stage_changes(dataset: Dataset):
    from clm_core.metrics.stages import stage_changes as changes  # metrics build on this module

    return changes(dataset) if dataset.has("customer_purchases") else None


#: Derived tables in build order (each may read the ones before it) with the columns the code needs:
#: a table missing one of them predates the current code and is rebuilt (:func:`outdated`).
BUILDERS = {
    "customer_index": (customer_index, ("customer_id", "first_seen", "implicit")),
    "customer_days": (customer_days, ("purchase_number", "previous_purchase_day", "first_purchase_day")),
    "customer_summary": (customer_summary, ("customer_id", "second", "first_amount", "recent_days")),
    "customer_purchases": (customer_purchases, ("next_day_number", "day_number_3_back")),
    "stage_changes": (stage_changes, ("day", "stage", "change")),
}


def outdated(dataset: Dataset) -> bool:
    """Whether a derived table the loaded tables allow is missing or lacks a column of this version."""
    if not dataset.has("customer_index"):
        return False
    for name, (_, columns) in BUILDERS.items():
        if name == "customer_index" or dataset.has("transactions"):
            table = dataset.table(name)
            if table is None or not set(columns) <= set(table.columns):
                return True
    return False
