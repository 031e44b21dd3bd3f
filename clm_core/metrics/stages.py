"""Lifecycle stage per customer at T, its distribution, history and migration (DESIGN §3.1).

First rule that matches wins, with purchase days = days with an amount > 0, ≤ T:
no purchase -> prospect; T − last > churn_days -> churned; T − last > at_risk_days
-> at_risk; T − first < new_days -> new; purchase day before last ≥ churn_days
before last -> reactivated; ≥ loyal_orders purchase days in (T − 365, T] or latest
NPS answer ≤ T of 9–10 -> loyal; otherwise active.

Per customer (``customer_stages``) the rules read the stored per-customer facts valid at T. Counts at
any dates (distribution, history, framework) come from a stage timeline: per day, how many customers
enter and leave each stage (``stage_changes``, stored for the default thresholds), summed up to T.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from clm_core.config import STAGES, LifecycleConfig
from clm_core.derived import EPOCH, LOYAL_LAG, day_number
from clm_core.metrics.common import (
    customer_totals,
    data_end,
    day_of,
    latest_scores,
    resolve_as_of,
    restrict,
    segment_customers,
)
from clm_core.store import Dataset


def purchase_facts(dataset: Dataset, as_of: dt.date, config: LifecycleConfig | None = None):
    """Per purchaser at T: recency (T − last purchase day), age (T − first), gap (last − the purchase day
    before; null with one) in days, and loyal_by_purchases (≥ loyal_orders purchase days in (T − 365, T]).

    Read from ``customer_summary`` at the data's last day, from the ``customer_purchases`` rows valid at T
    (no per-customer aggregation) at other dates with the default ``loyal_orders``, else aggregated."""
    config = config or LifecycleConfig()
    if (config.loyal_orders == LOYAL_LAG + 1 and dataset.has("customer_purchases")
            and not (dataset.has("customer_summary") and as_of == data_end(dataset))):
        rows = dataset.table("customer_purchases")
        t = (as_of - EPOCH).days
        rows = rows.filter(rows.day_number <= t, rows.next_day_number.fill_null(_NEVER) > t)
        return rows.select("customer_id", recency=(t - rows.day_number).cast("int64"),
                           age=(t - rows.first_day_number).cast("int64"),
                           gap=(rows.day_number - rows.previous_day_number).cast("int64"),
                           loyal_by_purchases=rows.day_number_3_back.notnull() & (rows.day_number_3_back > t - 365))
    totals = customer_totals(dataset, as_of)
    totals = totals.filter(totals.n > 0)
    t = ibis.literal(as_of)
    return totals.select("customer_id", recency=t.delta(totals.last, unit="day"),
                         age=t.delta(totals.first, unit="day"), gap=totals.last.delta(totals.previous, unit="day"),
                         loyal_by_purchases=totals.recent_days >= config.loyal_orders)


def latest_nps(dataset: Dataset, as_of: dt.date):
    """Per customer: the score of their latest NPS answer on or before T."""
    nps = dataset.table("nps")
    if nps is None:
        return None
    answers = nps.filter(day_of(nps.answered_at) <= ibis.literal(as_of))
    return latest_scores(answers).rename(latest_score="score")


def known_customers(dataset: Dataset, as_of: dt.date, segment=None, config=None):
    """Customers of the segment known at T: first seen on or before T, or never dated."""
    index = dataset.require("customer_index")
    index = index.filter(index.first_seen.isnull() | (index.first_seen <= ibis.literal(as_of)))
    return restrict(index, segment_customers(dataset, segment, as_of, config))


def known_count(dataset: Dataset, as_of=None, segment=None, config=None) -> int:
    """How many customers of the segment are known at T (those a stage distribution counts)."""
    return int(known_customers(dataset, resolve_as_of(dataset, as_of), segment, config).count().execute())


def known_sources(dataset: Dataset, as_of=None, segment=None, config=None) -> dict[str, int]:
    """Where the customers known at T (those a stage distribution counts) come from: ``known`` in all,
    ``listed`` rows of the customers file, ``implicit`` customers that appear only in transactions, NPS answers
    or events (created implicitly, DESIGN §2). Why the Overview counts more customers than the customers file
    has rows (and than the funnel's "created" step, which needs a customers row with created_at)."""
    known = known_customers(dataset, resolve_as_of(dataset, as_of), segment, config)
    row = known.aggregate(known=known.count(), implicit=known.implicit.cast("int64").sum()).execute().iloc[0]
    total = int(row["known"])
    implicit = 0 if pd.isna(row["implicit"]) else int(row["implicit"])
    return {"known": total, "listed": total - implicit, "implicit": implicit}


def customer_stages(dataset: Dataset, as_of=None, config: LifecycleConfig | None = None, segment=None):
    """Ibis table: customer_id, stage, interested (prospects with an event ≤ T), recency."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    base = _with_stage(dataset, known_customers(dataset, as_of, segment, config).select("customer_id"), as_of,
                       config, "stage", "recency")
    events = dataset.table("events")
    if events is not None:
        active = events.filter(day_of(events.occurred_at) <= ibis.literal(as_of)).select("customer_id").distinct()
        active = active.mutate(has_event=ibis.literal(True))
        base = base.left_join(active, base.customer_id == active.customer_id).select(base, active.has_event)
    else:
        base = base.mutate(has_event=ibis.literal(False))
    return base.select("customer_id", "stage", interested=base.recency.isnull() & base.has_event.fill_null(False),
                       recency=base.recency)


def _with_stage(dataset: Dataset, customers, as_of: dt.date, config: LifecycleConfig, name: str,
                recency: str | None = None):
    """``customers`` (a table with customer_id) with their stage at ``as_of`` as column ``name`` (and their
    recency as ``recency`` when given)."""
    facts = purchase_facts(dataset, as_of, config)
    joined = customers.left_join(facts, customers.customer_id == facts.customer_id).select(
        customers, facts.recency, facts.age, facts.gap, facts.loyal_by_purchases)
    scores = latest_nps(dataset, as_of)
    score = ibis.null("int32")
    if scores is not None:
        joined = joined.left_join(scores, joined.customer_id == scores.customer_id).select(joined, scores.latest_score)
        score = joined.latest_score
    stage = stage_rule(joined.recency, joined.age, joined.gap, joined.loyal_by_purchases, score, config)
    return joined.select(*customers.columns, **{name: stage}, **({recency: joined.recency} if recency else {}))


def stage_rule(recency, age, gap, loyal_by_purchases, latest_score, config: LifecycleConfig):
    """Ibis: the stage of a customer (DESIGN §3.1) from recency = T − last purchase day (null: prospect),
    age = T − first, gap = last − the purchase day before (null: none) in days, and loyal_by_purchases
    (at least ``loyal_orders`` purchase days in (T − 365 days, T])."""
    return ibis.cases(
        (recency.isnull(), "prospect"),
        (recency > config.churn_days, "churned"),
        (recency > config.at_risk_days, "at_risk"),
        (age < config.new_days, "new"),
        (gap.notnull() & (gap >= config.churn_days), "reactivated"),
        (loyal_by_purchases | (latest_score >= 9), "loyal"),
        else_="active",
    )


def timeline_supported(dataset: Dataset, config: LifecycleConfig | None = None, segment=None) -> bool:
    """Whether :func:`stage_timeline` serves these settings: a segment that keeps the same customers at every
    date (attributes, stored lists), the default ``loyal_orders`` and the stored ``customer_purchases``."""
    config = config or LifecycleConfig()
    fixed = segment is None or not segment.date_dependent
    return fixed and config.loyal_orders == LOYAL_LAG + 1 and dataset.has("customer_purchases")


_NEVER = 10_000_000  # day number of the end of an open interval (after any date)


def _promoter_spans(dataset: Dataset):
    """Per customer: [start, end) day numbers in which their latest NPS answer is 9–10 (None without NPS)."""
    nps = dataset.table("nps")
    if nps is None:
        return None
    answers = nps.filter(nps.answered_at.notnull())
    per_day = latest_scores(answers.mutate(day=day_of(answers.answered_at)), "customer_id", "day")
    spans = per_day.mutate(next_day=per_day.day.lead().over(ibis.window(group_by="customer_id", order_by="day")))
    spans = spans.filter(spans.score >= 9)
    return spans.select("customer_id", start=day_number(spans.day), end=day_number(spans.next_day).fill_null(_NEVER))


def _stage_intervals(rows, config: LifecycleConfig):
    """Per ``customer_purchases`` row, [start_<stage>, end_<stage>) in day numbers for each stage the customer
    passes through while the row is their latest purchase (empty when start ≥ end); NPS promoters are still
    'active' here.

    Within [day, next purchase day) the stage at T follows DESIGN §3.1 with last = day: at_risk from
    day + at_risk_days + 1, churned from day + churn_days + 1; before that new while T < first + new_days,
    then reactivated for the whole row if the purchase before was ≥ churn_days earlier, else loyal while
    T < day_number_3_back + 365, then active."""
    day, end = rows.day_number, rows.next_day_number.fill_null(_NEVER)
    at_risk = ibis.least(day + (config.at_risk_days + 1), end)
    churned = ibis.least(day + (config.churn_days + 1), end)
    new_until = ibis.least(rows.first_day_number + config.new_days, at_risk)
    settled = ibis.greatest(day, new_until)  # where the 'new' interval ends
    won_back = (day - rows.previous_day_number).fill_null(-1) >= config.churn_days
    loyal_until = ibis.least(ibis.greatest((rows.day_number_3_back + 365).fill_null(0), settled), at_risk)
    return rows.select(
        "customer_id",
        start_new=day, end_new=new_until,
        start_reactivated=settled, end_reactivated=ibis.ifelse(won_back, at_risk, settled),
        start_loyal=settled, end_loyal=ibis.ifelse(won_back, settled, loyal_until),
        start_active=ibis.ifelse(won_back, at_risk, loyal_until), end_active=at_risk,
        start_at_risk=at_risk, end_at_risk=churned,
        start_churned=churned, end_churned=end,
    )


def _changes(intervals, start, end, stage: str, sign: int = 1):
    """Ibis: day (number), stage, change — +1 per interval at its start and −1 at its end; an empty interval
    (end ≤ start) gets both at its start, so it adds nothing on any day (and no filter is needed)."""
    opened = intervals.group_by(day=start.cast("int64")).aggregate(change=intervals.count() * sign)
    closed = intervals.group_by(day=ibis.greatest(start, end).cast("int64")).aggregate(
        change=intervals.count() * -sign)
    return opened.union(closed).mutate(stage=ibis.literal(stage))


def stage_changes(dataset: Dataset, config: LifecycleConfig | None = None, customers=None):
    """Ibis table: day (day number; null: from the start), stage, change — how many customers of ``customers``
    (default all) enter (+) or leave (−) each stage on each day, with two pseudo-stages: ``known`` for
    customers becoming known (first seen; never dated ones from the start) and ``interested`` for customers
    with an event and no purchase yet (from their first event to their first purchase). The customers in a
    stage on day T are the sum of its changes on days ≤ T, so one pass over ``customer_purchases`` gives the
    distribution at every date. Needs the default ``loyal_orders`` (``day_number_3_back``)."""
    config = config or LifecycleConfig()
    intervals = _stage_intervals(restrict(dataset.require("customer_purchases"), customers), config)
    parts = [_changes(intervals, intervals[f"start_{stage}"], intervals[f"end_{stage}"], stage)
             for stage in STAGES if stage != "prospect"]
    spans = _promoter_spans(dataset)
    if spans is not None:  # an 'active' customer whose latest answer is 9-10 is loyal (DESIGN §3.1 rule 6)
        active = intervals.filter(intervals.start_active < intervals.end_active)
        both = active.join(spans, [active.customer_id == spans.customer_id, spans.start < active.end_active,
                                   spans.end > active.start_active])
        both = both.select(start=ibis.greatest(both.start_active, both.start),
                           end=ibis.least(both.end_active, both.end))
        parts += [_changes(both, both.start, both.end, "loyal"), _changes(both, both.start, both.end, "active", -1)]
    index = restrict(dataset.require("customer_index"), customers)
    parts.append(index.group_by(day=day_number(index.first_seen).cast("int64")).aggregate(change=index.count()).mutate(
        stage=ibis.literal("known")))
    events = dataset.table("events")
    summary = dataset.table("customer_summary")
    if events is not None and summary is not None:  # prospects with an event are 'interested' (DESIGN §1)
        dated = restrict(events.filter(events.occurred_at.notnull()), customers)
        first_event = dated.group_by("customer_id").aggregate(start=day_number(day_of(dated.occurred_at).min()))
        joined = first_event.left_join(summary, first_event.customer_id == summary.customer_id)
        evented = joined.select(start=joined.start, end=day_number(joined.first).fill_null(_NEVER))
        parts.append(_changes(evented, evented.start, evented.end, "interested"))
    changes = ibis.union(*parts).group_by("day", "stage").aggregate(change=lambda t: t.change.sum().cast("int64"))
    return changes.filter(changes.change != 0, changes.day.isnull() | (changes.day < _NEVER))


def stage_timeline(dataset: Dataset, config: LifecycleConfig | None = None, segment=None) -> pd.DataFrame:
    """day (date; None: from the start), stage, change: :func:`stage_changes` of the segment's customers,
    read from the stored table for the default thresholds and no filter. Only for the settings
    :func:`timeline_supported` accepts."""
    config = config or LifecycleConfig()
    if not timeline_supported(dataset, config, segment):
        raise ValueError("stage_timeline needs the default loyal_orders and a filter on attributes or lists only")
    customers = segment_customers(dataset, segment, dt.date.max, config)
    stored = dataset.table("stage_changes")
    if customers is None and stored is not None and config.thresholds() == LifecycleConfig().thresholds():
        changes = stored.execute()
    else:
        changes = stage_changes(dataset, config, customers).execute()
    changes["day"] = [None if pd.isna(d) else EPOCH + dt.timedelta(days=int(d)) for d in changes["day"]]
    return changes.astype({"change": "int64"}).sort_values(["day", "stage"], na_position="first",
                                                           ignore_index=True)


def counts_from_timeline(timeline: pd.DataFrame, dates, split_prospects: bool = False) -> pd.DataFrame:
    """as_of, stage, customers: the stage distribution at each of ``dates`` from a :func:`stage_timeline`
    (prospects = known customers without a purchase; a date without a known customer has no rows). With
    ``split_prospects`` the prospects are ``prospect_aware`` and ``prospect_interested`` (with an event)."""
    rows = []
    for as_of in sorted(set(dates)):
        upto = timeline[timeline["day"].map(lambda d: d is None or d <= as_of)]
        totals = upto.groupby("stage")["change"].sum()
        known = int(totals.get("known", 0))
        if known <= 0:
            continue
        bought = {stage: int(totals.get(stage, 0)) for stage in STAGES if stage != "prospect"}
        prospects = known - sum(bought.values())
        if split_prospects:
            interested = int(totals.get("interested", 0))
            rows += [(as_of, "prospect_aware", prospects - interested), (as_of, "prospect_interested", interested)]
        else:
            rows.append((as_of, "prospect", prospects))
        rows += [(as_of, stage, n) for stage, n in bought.items()]
    counts = pd.DataFrame(rows, columns=["as_of", "stage", "customers"]).astype({"customers": "int64"})
    return counts[counts["customers"] > 0].reset_index(drop=True)


def _counts_frame(counts: pd.DataFrame, order, key: str) -> pd.DataFrame:
    frame = counts.set_index(key).reindex(order, fill_value=0).rename_axis(key).reset_index()
    total = frame["customers"].sum()
    frame["customers"] = frame["customers"].astype("int64")
    frame["share"] = frame["customers"] / total if total else 0.0
    return frame


def _timeline(dataset: Dataset, config, segment, timeline):
    """The given timeline, else :func:`stage_timeline` where the settings allow one, else None."""
    if timeline is not None or not timeline_supported(dataset, config, segment):
        return timeline
    return stage_timeline(dataset, config, segment)


def stage_distribution(dataset: Dataset, as_of=None, config=None, segment=None, timeline=None) -> pd.DataFrame:
    """stage, customers, share over the seven canonical stages (zeros included). ``timeline``: this dataset's
    :func:`stage_timeline` for the same thresholds and filter, when the caller has it already."""
    as_of = resolve_as_of(dataset, as_of)
    timeline = _timeline(dataset, config, segment, timeline)
    if timeline is not None:
        counts = counts_from_timeline(timeline, [as_of])[["stage", "customers"]]
    else:
        stages = customer_stages(dataset, as_of, config, segment)
        counts = stages.group_by("stage").aggregate(customers=stages.count()).execute()
    return _counts_frame(counts, STAGES, "stage")


def framework_distribution(dataset: Dataset, as_of=None, config=None, segment=None, timeline=None) -> pd.DataFrame:
    """The distribution in the chosen framework's stage names (prospects split aware/interested)."""
    config = config or LifecycleConfig()
    timeline = _timeline(dataset, config, segment, timeline)
    if timeline is not None:
        counts = counts_from_timeline(timeline, [resolve_as_of(dataset, as_of)], split_prospects=True)
        counts = counts.rename(columns={"stage": "key"})
    else:
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


def stage_history(dataset: Dataset, as_of=None, config=None, segment=None, months: int = 24,
                  timeline=None) -> pd.DataFrame:
    """month (YYYY-MM), stage, customers, share: the distribution at the end of each month.

    Covers the last ``months`` months up to T; the last month is evaluated at T itself.
    """
    as_of = resolve_as_of(dataset, as_of)
    first = dt.date(as_of.year, as_of.month, 1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    ends = month_ends(first, as_of)
    timeline = _timeline(dataset, config, segment, timeline)
    if timeline is not None:
        counts = counts_from_timeline(timeline, ends)
        counts["month"] = [end.strftime("%Y-%m") for end in counts["as_of"]]
    else:
        parts = []
        for end in ends:
            stages = customer_stages(dataset, end, config, segment)
            parts.append(stages.group_by("stage").aggregate(customers=stages.count())
                         .mutate(month=ibis.literal(end.strftime("%Y-%m"))))
        counts = ibis.union(*parts).execute() if len(parts) > 1 else parts[0].execute()
    grid = pd.MultiIndex.from_product([sorted(counts["month"].unique()), STAGES], names=["month", "stage"])
    frame = counts.set_index(["month", "stage"])["customers"].reindex(grid, fill_value=0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    frame["share"] = frame["customers"] / frame.groupby("month")["customers"].transform("sum")
    return frame


def stage_migration(dataset: Dataset, start, end, config=None, segment=None) -> pd.DataFrame:
    """from_stage, to_stage, customers: customers by (stage at ``start``, stage at ``end``)."""
    config = config or LifecycleConfig()
    start, end = resolve_as_of(dataset, start), resolve_as_of(dataset, end)
    # customers known (and in the segment) on both dates, each stage joined onto them: no join of two stage tables
    both = known_customers(dataset, min(start, end), segment, config).select("customer_id")
    if segment is not None and segment.date_dependent:
        both = restrict(both.view(), segment_customers(dataset, segment, max(start, end), config))
    pairs = _with_stage(dataset, _with_stage(dataset, both, start, config, "from_stage"), end, config, "to_stage")
    counts = pairs.group_by(["from_stage", "to_stage"]).aggregate(customers=pairs.count()).execute()
    grid = pd.MultiIndex.from_product([STAGES, STAGES], names=["from_stage", "to_stage"])
    frame = counts.set_index(["from_stage", "to_stage"])["customers"].reindex(grid, fill_value=0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    return frame
