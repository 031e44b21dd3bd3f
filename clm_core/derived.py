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
"""

from __future__ import annotations

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


def customer_days(dataset: Dataset):
    t = dataset.table("transactions")
    if t is None:
        return None
    purchase = t.amount > 0
    margin = t.margin.fill_null(1.0) if "margin" in t.columns else ibis.literal(1.0)
    days = t.group_by(customer_id=t.customer_id, day=t.ordered_at.cast("date")).aggregate(
        revenue=t.amount.sum(),
        purchase_amount=t.amount.sum(where=purchase).fill_null(0.0),
        purchases=t.count(where=purchase),
        value=(t.amount * margin).sum(),
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


def derived_tables(dataset: Dataset) -> dict:
    """Name -> Ibis expression of each derived table that the loaded tables allow."""
    exprs = {"customer_index": customer_index(dataset), "customer_days": customer_days(dataset)}
    return {name: expr for name, expr in exprs.items() if expr is not None}
