"""Funnel conversion (DESIGN §3.2), at the resolution of whole days.

A step is an event name or a milestone: ``created`` (customers.created_at),
``first_purchase``, ``repeat_purchase`` (second purchase day), ``promoter``
(first NPS answer 9–10). A customer's day at step 1 is their first occurrence of
it; at step k the first occurrence on or after their day at step k − 1. They reach
step k when that day is ≤ T, within ``window_days`` of step 1, and within the
step's own ``limit_days`` of step k − 1 when given. An exclusion (event, i, j)
removes from the whole funnel every customer with that event between their days
at steps i and j (inclusive; up to the end of their window when j is not reached).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from clm_core.metrics.common import customer_totals, day_of, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

MILESTONES = ("created", "first_purchase", "repeat_purchase", "promoter")
DEFAULT_STEPS = MILESTONES
COLUMNS = ["step", "customers", "conversion_from_start", "conversion_from_previous", "median_days_from_previous",
           "drop_off"]


@dataclass(frozen=True)
class Step:
    name: str
    limit_days: int | None = None


@dataclass(frozen=True)
class Exclusion:
    event: str
    from_step: int  # 1-based step numbers
    to_step: int


def _as_steps(steps) -> list[Step]:
    out = [s if isinstance(s, Step) else Step(str(s)) for s in steps]
    if not out:
        raise ValueError("a funnel needs at least one step")
    return out


def occurrences(dataset: Dataset, name: str, as_of: dt.date):
    """Ibis table (customer_id, day) of every occurrence of a step on or before T."""
    t = ibis.literal(as_of)
    if name == "created":
        index = dataset.require("customer_index")
        if "created_at" not in index.columns:
            raise ValueError("the customers file has no created_at column, so the 'created' step is unavailable")
        rows = index.filter(index.created_at.notnull()).select("customer_id", day=day_of(index.created_at))
    elif name in ("first_purchase", "repeat_purchase"):
        totals = customer_totals(dataset, as_of)
        day = totals.first if name == "first_purchase" else totals.second
        rows = totals.filter(day.notnull()).select("customer_id", day=day)
    elif name == "promoter":
        nps = dataset.require("nps")
        rows = nps.filter(nps.score >= 9).group_by("customer_id").aggregate(day=day_of(nps.answered_at).min())
    else:
        events = dataset.require("events")
        rows = events.filter(events.event == name).select("customer_id", day=day_of(events.occurred_at))
    return rows.filter(rows.day <= t)


def funnel_paths(dataset: Dataset, steps, as_of=None, window_days: int = 365, exclusions=(), segment=None,
                 config=None, since: dt.date | None = None):
    """Ibis table: customer_id, d1 … dn (day at each step, null when not reached); with ``since`` only the
    customers whose day at step 1 is after it (their paths unchanged)."""
    steps = _as_steps(steps)
    as_of = resolve_as_of(dataset, as_of)
    customers = segment_customers(dataset, segment, as_of, config)
    first = restrict(occurrences(dataset, steps[0].name, as_of), customers)
    path = first.group_by("customer_id").aggregate(d1=first.day.min())
    if since is not None:
        path = path.filter(path.d1 > ibis.literal(since))
    reached = path
    for k, step in enumerate(steps[1:], start=2):
        occ = occurrences(dataset, step.name, as_of)
        prev = f"d{k - 1}"
        cand = reached.join(occ, "customer_id").filter(
            lambda t: t.day >= t[prev], lambda t: t.day.delta(t.d1, unit="day") <= window_days
        )
        if step.limit_days is not None:
            cand = cand.filter(cand.day.delta(cand[prev], unit="day") <= step.limit_days)
        reached = cand.group_by(["customer_id"] + [f"d{i}" for i in range(1, k)]).aggregate(**{f"d{k}": cand.day.min()})
        nxt = reached.select("customer_id", f"d{k}")
        path = path.left_join(nxt, path.customer_id == nxt.customer_id).select(path, nxt[f"d{k}"])
    for exclusion in exclusions:
        path = _apply_exclusion(dataset, path, exclusion, len(steps), window_days, as_of)
    return path


def _apply_exclusion(dataset, path, exclusion: Exclusion, n_steps: int, window_days: int, as_of: dt.date):
    i, j = exclusion.from_step, exclusion.to_step
    if not 1 <= i < j <= n_steps:
        raise ValueError(f"an exclusion needs steps 1 ≤ i < j ≤ {n_steps}, got {i} and {j}")
    events = occurrences(dataset, exclusion.event, as_of)
    end_of_window = ibis.least(path.d1 + ibis.interval(days=window_days), ibis.literal(as_of))
    end = path[f"d{j}"].fill_null(end_of_window)
    hits = path.mutate(__end=end).join(events, "customer_id").filter(
        lambda t: t[f"d{i}"].notnull(), lambda t: t.day >= t[f"d{i}"], lambda t: t.day <= t.__end
    )
    hit_ids = hits.select("customer_id").distinct()
    return path.anti_join(hit_ids, path.customer_id == hit_ids.customer_id)


def funnel(dataset: Dataset, steps=DEFAULT_STEPS, as_of=None, window_days: int = 365, exclusions=(),
           breakdown: str | None = None, segment=None, config=None) -> pd.DataFrame:
    """Per step: customers reached, conversions, drop-off and median days from the previous step.

    With ``breakdown`` (a customer attribute) there is one block of rows per value.
    """
    steps = _as_steps(steps)
    path = funnel_paths(dataset, steps, as_of, window_days, exclusions, segment, config)
    group = []
    if breakdown is not None:
        index = dataset.require("customer_index")
        if breakdown not in index.columns or breakdown == "customer_id":
            raise ValueError(f"unknown customer attribute {breakdown!r}")
        path = path.left_join(index, path.customer_id == index.customer_id).select(
            path, breakdown=index[breakdown].cast("string").fill_null("(none)")
        )
        group = ["breakdown"]
    metrics = {f"n{k}": path[f"d{k}"].count() for k in range(1, len(steps) + 1)}
    for k in range(2, len(steps) + 1):
        metrics[f"m{k}"] = path[f"d{k}"].delta(path[f"d{k - 1}"], unit="day").median()
    agg = (path.group_by(group).aggregate(**metrics) if group else path.aggregate(**metrics)).execute()
    rows = []
    for _, r in agg.iterrows():
        start = r["n1"]
        for k, step in enumerate(steps, start=1):
            n = int(r[f"n{k}"])
            prev = int(r[f"n{k - 1}"]) if k > 1 else n
            rows.append({
                **({"breakdown": r["breakdown"]} if group else {}),
                "step": step.name,
                "customers": n,
                "conversion_from_start": n / start if start else float("nan"),
                "conversion_from_previous": n / prev if prev else float("nan"),
                "drop_off": prev - n,
                "median_days_from_previous": float(r[f"m{k}"]) if k > 1 and pd.notna(r[f"m{k}"]) else float("nan"),
            })
    frame = pd.DataFrame(rows, columns=(["breakdown"] if group else []) + COLUMNS)
    if group:
        frame = frame.sort_values("breakdown", kind="stable", ignore_index=True)
    return frame


def dropped_customers(dataset: Dataset, steps, step: int, as_of=None, window_days: int = 365, exclusions=(),
                      segment=None, config=None) -> pd.DataFrame:
    """customer_id of those who reached step ``step − 1`` but not ``step`` (1-based, step ≥ 2)."""
    steps = _as_steps(steps)
    if not 2 <= step <= len(steps):
        raise ValueError(f"drop-off is defined for steps 2 … {len(steps)}")
    path = funnel_paths(dataset, steps, as_of, window_days, exclusions, segment, config)
    dropped = path.filter(path[f"d{step - 1}"].notnull(), path[f"d{step}"].isnull())
    return dropped.select("customer_id", reached_previous_on=dropped[f"d{step - 1}"]).order_by("customer_id").execute()
