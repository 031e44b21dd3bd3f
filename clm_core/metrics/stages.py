"""Lifecycle stage per customer at T, its distribution, history and migration (DESIGN §3.1).

First rule that matches wins, with purchase days = days with an amount > 0, ≤ T:
no purchase -> prospect; T − last > churn_days -> churned; T − last > at_risk_days
-> at_risk; T − first < new_days -> new; purchase day before last ≥ churn_days
before last -> reactivated; ≥ loyal_orders purchase days in (T − 365, T] or latest
NPS answer ≤ T of 9–10 -> loyal; otherwise active.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from clm_core.config import STAGES, LifecycleConfig
from clm_core.metrics.common import customer_totals, day_of, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset


def purchase_facts(dataset: Dataset, as_of: dt.date):
    """Per purchaser: first, last, previous (purchase day before last) and purchase days in the last year."""
    totals = customer_totals(dataset, as_of)
    totals = totals.filter(totals.n > 0)
    return totals.select("customer_id", "first", "last", "previous", "recent_days", purchase_days=totals.n)


def latest_nps(dataset: Dataset, as_of: dt.date):
    """Per customer: the score of their latest NPS answer on or before T."""
    nps = dataset.table("nps")
    if nps is None:
        return None
    answers = nps.filter(day_of(nps.answered_at) <= ibis.literal(as_of))
    return answers.group_by("customer_id").aggregate(latest_score=answers.score.argmax(answers.answered_at))


def known_customers(dataset: Dataset, as_of: dt.date, segment=None, config=None):
    """Customers of the segment known at T: first seen on or before T, or never dated."""
    index = dataset.require("customer_index")
    index = index.filter(index.first_seen.isnull() | (index.first_seen <= ibis.literal(as_of)))
    return restrict(index, segment_customers(dataset, segment, as_of, config))


def customer_stages(dataset: Dataset, as_of=None, config: LifecycleConfig | None = None, segment=None):
    """Ibis table: customer_id, stage, interested (prospects with an event ≤ T), recency."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    customers = known_customers(dataset, as_of, segment, config)
    facts = purchase_facts(dataset, as_of)
    base = customers.left_join(facts, customers.customer_id == facts.customer_id).select(
        customers.customer_id, facts.first, facts.last, facts.previous, facts.recent_days
    )
    scores = latest_nps(dataset, as_of)
    if scores is not None:
        base = base.left_join(scores, base.customer_id == scores.customer_id).select(base, scores.latest_score)
    else:
        base = base.mutate(latest_score=ibis.null("int32"))
    events = dataset.table("events")
    if events is not None:
        active = events.filter(day_of(events.occurred_at) <= ibis.literal(as_of)).select("customer_id").distinct()
        active = active.mutate(has_event=ibis.literal(True))
        base = base.left_join(active, base.customer_id == active.customer_id).select(base, active.has_event)
    else:
        base = base.mutate(has_event=ibis.literal(False))

    t = ibis.literal(as_of)
    recency = t.delta(base.last, unit="day")
    age = t.delta(base.first, unit="day")
    stage = ibis.cases(
        (base.last.isnull(), "prospect"),
        (recency > config.churn_days, "churned"),
        (recency > config.at_risk_days, "at_risk"),
        (age < config.new_days, "new"),
        (base.previous.notnull() & (base.last.delta(base.previous, unit="day") >= config.churn_days), "reactivated"),
        ((base.recent_days >= config.loyal_orders) | (base.latest_score >= 9), "loyal"),
        else_="active",
    )
    return base.select(
        "customer_id",
        stage=stage,
        interested=base.last.isnull() & base.has_event.fill_null(False),
        recency=recency,
    )


def _counts_frame(counts: pd.DataFrame, order, key: str) -> pd.DataFrame:
    frame = counts.set_index(key).reindex(order, fill_value=0).rename_axis(key).reset_index()
    total = frame["customers"].sum()
    frame["customers"] = frame["customers"].astype("int64")
    frame["share"] = frame["customers"] / total if total else 0.0
    return frame


def stage_distribution(dataset: Dataset, as_of=None, config=None, segment=None) -> pd.DataFrame:
    """stage, customers, share over the seven canonical stages (zeros included)."""
    stages = customer_stages(dataset, as_of, config, segment)
    counts = stages.group_by("stage").aggregate(customers=stages.count()).execute()
    return _counts_frame(counts, STAGES, "stage")


def framework_distribution(dataset: Dataset, as_of=None, config=None, segment=None) -> pd.DataFrame:
    """The distribution in the chosen framework's stage names (prospects split aware/interested)."""
    config = config or LifecycleConfig()
    stages = customer_stages(dataset, as_of, config, segment)
    key = ibis.cases(
        (stages.stage == "prospect", ibis.ifelse(stages.interested, "prospect_interested", "prospect_aware")),
        else_=stages.stage,
    )
    counts = stages.group_by(key=key).aggregate(customers=stages.count()).execute()
    labels = config.stage_labels()
    counts["stage"] = counts["key"].map(labels)
    counts = counts.groupby("stage", as_index=False)["customers"].sum()
    return _counts_frame(counts, config.framework_stages(), "stage")


def month_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    """Last day of each calendar month from ``start``'s month through ``end`` (``end`` itself last)."""
    ends, year, month = [], start.year, start.month
    while True:
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
        if last >= end:
            ends.append(end)
            return ends
        ends.append(last)
        year, month = nxt.year, nxt.month


def stage_history(dataset: Dataset, as_of=None, config=None, segment=None, months: int = 24) -> pd.DataFrame:
    """month (YYYY-MM), stage, customers, share: the distribution at the end of each month.

    Covers the last ``months`` months up to T; the last month is evaluated at T itself.
    """
    as_of = resolve_as_of(dataset, as_of)
    first = dt.date(as_of.year, as_of.month, 1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    parts = []
    for end in month_ends(first, as_of):
        stages = customer_stages(dataset, end, config, segment)
        parts.append(stages.group_by("stage").aggregate(customers=stages.count()).mutate(month=ibis.literal(end.strftime("%Y-%m"))))
    counts = ibis.union(*parts).execute() if len(parts) > 1 else parts[0].execute()
    grid = pd.MultiIndex.from_product([sorted(counts["month"].unique()), STAGES], names=["month", "stage"])
    frame = counts.set_index(["month", "stage"])["customers"].reindex(grid, fill_value=0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    frame["share"] = frame["customers"] / frame.groupby("month")["customers"].transform("sum")
    return frame


def stage_migration(dataset: Dataset, start, end, config=None, segment=None) -> pd.DataFrame:
    """from_stage, to_stage, customers: customers by (stage at ``start``, stage at ``end``)."""
    a = customer_stages(dataset, start, config, segment)
    b = customer_stages(dataset, end, config, segment)
    pairs = a.join(b, a.customer_id == b.customer_id).select(from_stage=a.stage, to_stage=b.stage)
    counts = pairs.group_by(["from_stage", "to_stage"]).aggregate(customers=pairs.count()).execute()
    grid = pd.MultiIndex.from_product([STAGES, STAGES], names=["from_stage", "to_stage"])
    frame = counts.set_index(["from_stage", "to_stage"])["customers"].reindex(grid, fill_value=0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    return frame
