"""An independent plain-pandas implementation of the metrics of DESIGN §3.

Written from DESIGN.md alone (not from clm_core's metric code), to cross-check
clm_core's results (tests/test_report_recompute.py) and as the pandas baseline
of the benchmark (bench/bench_core.py).

Inputs are pandas DataFrames of the raw tables with the canonical columns of
DESIGN §2, already typed: timestamps datetime64 (any unit), ``amount`` and
``margin`` float, ``score`` integer, ``customer_id`` str. ``as_of`` is a date
(``datetime.date``, ``str`` ``YYYY-MM-DD`` or ``pd.Timestamp``) or ``None`` for
the default: the day of the latest ``ordered_at``.

Times are whole days: every timestamp is reduced to its calendar day, held
internally as an integer day number (days since 1970-01-01).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

STAGES = ("prospect", "new", "active", "reactivated", "at_risk", "loyal", "churned")
DEFAULT_THRESHOLDS = {"new_days": 90, "at_risk_days": 90, "churn_days": 180, "loyal_orders": 4}
DEFAULT_FUNNEL = ("created", "first_purchase", "repeat_purchase", "promoter")
MILESTONES = ("created", "first_purchase", "repeat_purchase", "promoter")

_EPOCH = dt.date(1970, 1, 1)


# --------------------------------------------------------------------------- days and dates

def day_number(values) -> np.ndarray:
    """Calendar day of each timestamp as int64 days since 1970-01-01 (NaT -> INT64 min)."""
    arr = np.asarray(pd.Series(values).to_numpy(dtype="datetime64[ns]")).astype("datetime64[D]")
    return arr.astype(np.int64)


def _day_of(date) -> int:
    return (pd.Timestamp(date).date() - _EPOCH).days


def _date_of(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


def _month_index(days: np.ndarray) -> np.ndarray:
    """year * 12 + month - 1 of each day number."""
    months = np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months + 1970 * 12


def _month_label(index: np.ndarray) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64)
    years, months = np.divmod(index, 12)
    return np.char.add(np.char.add(years.astype(str), "-"), np.char.zfill((months + 1).astype(str), 2))


def resolve_as_of(transactions: pd.DataFrame, as_of=None) -> int:
    """T as a day number: the given date, else the day of the latest ordered_at."""
    if as_of is None:
        return int(day_number(transactions["ordered_at"]).max())
    return _day_of(as_of)


# --------------------------------------------------------------------------- shared building blocks

DATED = {"customers": "created_at", "transactions": "ordered_at", "nps": "answered_at", "events": "occurred_at"}


def all_customers(customers: pd.DataFrame, transactions: pd.DataFrame, nps: pd.DataFrame | None = None,
                  events: pd.DataFrame | None = None, known_at: int | None = None) -> pd.Index:
    """customers ∪ ids seen in transactions, nps and events (DESIGN §2), sorted.

    With ``known_at`` (a day number), only customers already known then: their first
    dated appearance in any table (created_at, ordered_at, answered_at, occurred_at) is
    on or before that day, or none of their rows carries a date.
    """
    tables = {"customers": customers, "transactions": transactions, "nps": nps, "events": events}
    parts = []
    for name, table in tables.items():
        if table is None:
            continue
        column = DATED[name]
        day = day_number(table[column]).astype(float) if column in table else np.full(len(table), np.nan)
        if column in table:
            day[table[column].isna().to_numpy()] = np.nan
        parts.append(pd.DataFrame({"customer_id": table["customer_id"], "day": day}))
    seen = pd.concat(parts, ignore_index=True).dropna(subset=["customer_id"])
    first_seen = seen.groupby("customer_id", sort=True)["day"].min()  # NaN when never dated
    if known_at is not None:
        first_seen = first_seen[~(first_seen > known_at)]
    return pd.Index(first_seen.index.astype(str), name="customer_id")


def purchase_day_amounts(transactions: pd.DataFrame, T: int) -> pd.DataFrame:
    """One row per (customer, purchase day ≤ T): the day's sum of purchase amounts (> 0).

    Sorted by customer and day.
    """
    day = day_number(transactions["ordered_at"])
    keep = (transactions["amount"].to_numpy() > 0) & (day <= T)
    frame = pd.DataFrame({"customer_id": transactions["customer_id"][keep], "day": day[keep],
                          "amount": transactions["amount"][keep]})
    return frame.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()


def purchase_facts(days: pd.DataFrame, T: int) -> pd.DataFrame:
    """Per purchasing customer: first, last, n_days, the purchase day before last, days in (T−365, T]."""
    g = days.assign(recent=days["day"] > T - 365).groupby("customer_id", sort=True)
    facts = pd.DataFrame({
        "first": g["day"].min(),
        "last": g["day"].max(),
        "n_days": g["day"].size(),
        "recent_days": g["recent"].sum(),
    })
    # days is sorted by customer and day: the second-to-last row of a customer is the purchase before last.
    facts["prev_day"] = g.nth(-2).set_index("customer_id")["day"]
    return facts


# --------------------------------------------------------------------------- §3.1 stages

def customer_stages(customers: pd.DataFrame, transactions: pd.DataFrame, nps: pd.DataFrame | None = None,
                    as_of=None, events: pd.DataFrame | None = None, thresholds: dict | None = None) -> pd.DataFrame:
    """Stage at T of every customer known at T (DESIGN §3.1, first matching rule wins): customer_id, stage.

    A customer whose first dated appearance is after T does not exist yet at T and is left out.
    """
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    T = resolve_as_of(transactions, as_of)
    ids = all_customers(customers, transactions, nps, events, known_at=T)
    facts = purchase_facts(purchase_day_amounts(transactions, T), T).reindex(ids)

    promoter_now = pd.Series(False, index=ids)
    if nps is not None and len(nps):
        nday = day_number(nps["answered_at"])
        answered = pd.DataFrame({"customer_id": nps["customer_id"], "day": nday,
                                 "score": nps["score"].to_numpy(), "row": np.arange(len(nps))})[nday <= T]
        # Latest answer ≤ T; several answers on the latest day: the one further down the file.
        latest = answered.sort_values(["customer_id", "day", "row"]).drop_duplicates("customer_id", keep="last")
        promoter_now = (latest.set_index("customer_id")["score"] >= 9).reindex(ids, fill_value=False)

    recency = T - facts["last"]
    conditions = [
        facts["first"].isna(),
        recency > th["churn_days"],
        recency > th["at_risk_days"],
        (T - facts["first"]) < th["new_days"],
        (facts["last"] - facts["prev_day"]) >= th["churn_days"],
        (facts["recent_days"] >= th["loyal_orders"]) | promoter_now.to_numpy(),
    ]
    choices = ["prospect", "churned", "at_risk", "new", "reactivated", "loyal"]
    # Comparisons with NaN (no purchase, or no purchase before last) are False.
    stage = np.select([np.asarray(c, dtype=bool) for c in conditions], choices, default="active")
    return pd.DataFrame({"customer_id": ids.to_numpy(), "stage": stage})


def stage_distribution(customers: pd.DataFrame, transactions: pd.DataFrame, nps: pd.DataFrame | None = None,
                       as_of=None, events: pd.DataFrame | None = None, thresholds: dict | None = None,
                       stages: pd.DataFrame | None = None) -> pd.DataFrame:
    """stage, customers, share for all seven canonical stages, in lifecycle order."""
    if stages is None:
        stages = customer_stages(customers, transactions, nps, as_of, events, thresholds)
    counts = stages["stage"].value_counts().reindex(list(STAGES), fill_value=0)
    total = counts.sum()
    return pd.DataFrame({"stage": list(STAGES), "customers": counts.to_numpy().astype(np.int64),
                         "share": counts.to_numpy() / total if total else np.zeros(len(STAGES))})


# --------------------------------------------------------------------------- §3.3 cohorts

def cohort_retention(transactions: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Monthly cohorts of first purchase: cohort, period, cohort_size, active_customers, retention.

    Every period from 0 up to the one containing T, zeros included.
    """
    T = resolve_as_of(transactions, as_of)
    days = purchase_day_amounts(transactions, T)
    months = days.assign(month=_month_index(days["day"].to_numpy()))[["customer_id", "month"]].drop_duplicates()
    cohort = months.groupby("customer_id")["month"].min().rename("cohort")
    months = months.join(cohort, on="customer_id")
    months["period"] = months["month"] - months["cohort"]
    active = months.groupby(["cohort", "period"]).size()
    size = cohort.value_counts().sort_index()
    last_month = int(_month_index(np.array([T]))[0])
    span = last_month - size.index.to_numpy() + 1
    grid = pd.DataFrame({"cohort": np.repeat(size.index.to_numpy(), span),
                         "cohort_size": np.repeat(size.to_numpy(), span)})
    grid["period"] = grid.groupby("cohort").cumcount()
    grid["active_customers"] = active.reindex(pd.MultiIndex.from_frame(grid[["cohort", "period"]]),
                                              fill_value=0).to_numpy()
    grid["retention"] = grid["active_customers"] / grid["cohort_size"]
    grid["cohort"] = _month_label(grid["cohort"].to_numpy())
    return grid[["cohort", "period", "cohort_size", "active_customers", "retention"]].astype(
        {"period": np.int64, "cohort_size": np.int64, "active_customers": np.int64})


# --------------------------------------------------------------------------- §3.4 NPS

def _nps_scores(counts: pd.DataFrame) -> pd.DataFrame:
    n = counts["answers"]
    p = counts["promoters"] / n
    d = counts["detractors"] / n
    counts["nps"] = 100 * (counts["promoters"] - counts["detractors"]) / n
    counts["margin_of_error"] = 100 * 1.96 * np.sqrt((p + d - (p - d) ** 2) / n)
    return counts


def nps(nps: pd.DataFrame, as_of=None, transactions: pd.DataFrame | None = None, by: str | None = None) -> pd.DataFrame:
    """scope, answers, promoters, passives, detractors, nps, margin_of_error over answers ≤ T.

    ``by=None``: one row, scope ``all``; ``by="month"``: one row per month with answers.
    T defaults to the latest ordered_at of ``transactions``.
    """
    if as_of is None and transactions is None:
        raise ValueError("as_of or transactions is needed for T")
    T = resolve_as_of(transactions, as_of) if as_of is None else _day_of(as_of)
    day = day_number(nps["answered_at"])
    keep = day <= T
    score = nps["score"].to_numpy()[keep]
    frame = pd.DataFrame({"promoters": score >= 9, "passives": (score >= 7) & (score <= 8), "detractors": score <= 6})
    if by is None:
        frame["scope"] = "all"
    elif by == "month":
        frame["scope"] = _month_label(_month_index(day[keep]))
    else:
        raise ValueError(f"by must be None or 'month', not {by!r}")
    counts = frame.groupby("scope", sort=True).agg(answers=("promoters", "size"), promoters=("promoters", "sum"),
                                                   passives=("passives", "sum"), detractors=("detractors", "sum"))
    counts = counts.reset_index().astype({c: np.int64 for c in ("answers", "promoters", "passives", "detractors")})
    return _nps_scores(counts)


def nps_report(nps_table: pd.DataFrame, as_of=None, transactions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Overall row (scope ``all``) followed by the months, as in the report's nps.csv."""
    return pd.concat([nps(nps_table, as_of, transactions), nps(nps_table, as_of, transactions, by="month")],
                     ignore_index=True)


# --------------------------------------------------------------------------- §3.5 RFM summary, historic value

def rfm_summary(transactions: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Per customer with a purchase day ≤ T: frequency, recency, T (days), monetary, historic_value.

    frequency = purchase days − 1; recency = last − first; T = as_of − first;
    monetary = mean over repeat purchase days (all but the first) of the day's
    purchase amount, 0 without repeats; historic_value = Σ amount × margin
    (margin 1 when absent or null) over transactions ≤ T, returns included.
    """
    T = resolve_as_of(transactions, as_of)
    days = purchase_day_amounts(transactions, T)
    first_row = ~days["customer_id"].duplicated()
    g = days.groupby("customer_id", sort=True)
    summary = pd.DataFrame({"first": g["day"].min(), "last": g["day"].max(), "n_days": g["day"].size()})
    repeat = days[~first_row.to_numpy()].groupby("customer_id")["amount"].mean()
    summary["frequency"] = (summary["n_days"] - 1).astype(np.int64)
    summary["recency"] = (summary["last"] - summary["first"]).astype(np.int64)
    summary["T"] = (T - summary["first"]).astype(np.int64)
    summary["monetary"] = repeat.reindex(summary.index, fill_value=0.0).astype(float)

    keep = day_number(transactions["ordered_at"]) <= T
    value = transactions["amount"].astype(float)
    if "margin" in transactions:
        value = value * transactions["margin"].astype(float).fillna(1.0)
    historic = value[keep].groupby(transactions["customer_id"][keep]).sum()
    summary["historic_value"] = historic.reindex(summary.index, fill_value=0.0).astype(float)
    summary.index.name = "customer_id"
    return summary.reset_index()[["customer_id", "frequency", "recency", "T", "monetary", "historic_value"]]


def rfm_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """Quintile scores 1–5 of recency (days since last purchase, lower is better), frequency and monetary.

    Used by the benchmark as the pandas counterpart of ``models.rfm.rfm_scores``
    (not compared value by value: DESIGN §3.5 leaves tie handling and segment names open).
    """
    days_since = summary["T"] - summary["recency"]
    out = summary[["customer_id"]].copy()
    out["r"] = 6 - _quintile(days_since)
    out["f"] = _quintile(summary["frequency"])
    out["m"] = _quintile(summary["historic_value"])
    out["rfm"] = out["r"] * 100 + out["f"] * 10 + out["m"]
    return out


def _quintile(values: pd.Series) -> np.ndarray:
    ranks = values.rank(method="first").to_numpy()
    return (np.ceil(ranks * 5 / len(values))).astype(np.int64).clip(1, 5)


# --------------------------------------------------------------------------- §3.2 funnel

def step_occurrences(step: str, customers: pd.DataFrame, transactions: pd.DataFrame, nps: pd.DataFrame | None,
                     events: pd.DataFrame | None, T: int, days: pd.DataFrame | None = None) -> pd.DataFrame:
    """(customer_id, day) rows where ``step`` happens on or before T.

    Built-in milestones have one occurrence per customer: ``created`` (created_at),
    ``first_purchase`` (first purchase day), ``repeat_purchase`` (second purchase
    day), ``promoter`` (day of the first NPS answer 9–10). Any other name is an
    event name of the events table, with every occurrence.
    """
    if step == "created":
        if "created_at" not in customers:
            raise ValueError("customers have no created_at")
        day = day_number(customers["created_at"])
        frame = pd.DataFrame({"customer_id": customers["customer_id"], "day": day})
        frame = frame[~customers["created_at"].isna().to_numpy() & (day <= T)]
        return frame.groupby("customer_id", as_index=False)["day"].min()
    if step in ("first_purchase", "repeat_purchase"):
        if days is None:
            days = purchase_day_amounts(transactions, T)
        rank = days.groupby("customer_id").cumcount()
        return days.loc[(rank == (0 if step == "first_purchase" else 1)).to_numpy(), ["customer_id", "day"]]
    if step == "promoter":
        if nps is None:
            raise ValueError("the promoter step needs the nps table")
        day = day_number(nps["answered_at"])
        frame = pd.DataFrame({"customer_id": nps["customer_id"], "day": day})
        frame = frame[(nps["score"].to_numpy() >= 9) & (day <= T)]
        return frame.groupby("customer_id", as_index=False)["day"].min()
    if events is None:
        raise ValueError(f"step {step!r} needs the events table")
    day = day_number(events["occurred_at"])
    frame = pd.DataFrame({"customer_id": events["customer_id"], "day": day})
    return frame[(events["event"].to_numpy() == step) & (day <= T)].drop_duplicates()


def funnel(customers: pd.DataFrame, transactions: pd.DataFrame, nps: pd.DataFrame | None = None,
           steps=DEFAULT_FUNNEL, as_of=None, events: pd.DataFrame | None = None,
           window_days: int = 365) -> pd.DataFrame:
    """step, customers, conversion_from_start, conversion_from_previous, median_days_from_previous, drop_off.

    A customer's day at step 1 is their first occurrence of it; at step k the first
    occurrence of step k on or after their day at step k−1; reached if it exists,
    is ≤ T and at most ``window_days`` after their step-1 day.
    """
    T = resolve_as_of(transactions, as_of)
    days = purchase_day_amounts(transactions, T) if {"first_purchase", "repeat_purchase"} & set(steps) else None
    rows = []
    current = None
    for k, step in enumerate(steps):
        occ = step_occurrences(step, customers, transactions, nps, events, T, days)
        if current is None:
            current = occ.groupby("customer_id", as_index=False)["day"].min()
            current["start"] = current["day"]
            gaps = pd.Series(dtype=float)
        else:
            pairs = occ.merge(current.rename(columns={"day": "prev"}), on="customer_id")
            pairs = pairs[(pairs["day"] >= pairs["prev"]) & (pairs["day"] - pairs["start"] <= window_days)]
            reached = pairs.groupby("customer_id", as_index=False).agg(day=("day", "min"), prev=("prev", "first"),
                                                                       start=("start", "first"))
            gaps = (reached["day"] - reached["prev"]).astype(float)
            current = reached[["customer_id", "day", "start"]]
        rows.append((step, len(current), gaps.median() if k else np.nan))
    out = pd.DataFrame(rows, columns=["step", "customers", "median_days_from_previous"])
    out["customers"] = out["customers"].astype(np.int64)
    start = out["customers"].iloc[0] if len(out) else 0
    previous = out["customers"].shift(1).fillna(out["customers"]).astype(np.int64)
    out["conversion_from_start"] = out["customers"] / start if start else np.nan
    out["conversion_from_previous"] = np.where(previous > 0, out["customers"] / previous.where(previous > 0, 1), np.nan)
    out["drop_off"] = (previous - out["customers"]).astype(np.int64)
    return out[["step", "customers", "conversion_from_start", "conversion_from_previous",
                "median_days_from_previous", "drop_off"]]


# --------------------------------------------------------------------------- all at once

def report(customers: pd.DataFrame, transactions: pd.DataFrame, nps_table: pd.DataFrame | None = None,
           events: pd.DataFrame | None = None, as_of=None) -> dict[str, pd.DataFrame]:
    """The frames of the report's CSV files (DESIGN §4) that this module computes."""
    stages = customer_stages(customers, transactions, nps_table, as_of, events)
    steps = [s for s in DEFAULT_FUNNEL if (s != "created" or "created_at" in customers)
             and (s != "promoter" or nps_table is not None)]
    out = {
        "customer_stages": stages,
        "stages": stage_distribution(None, None, stages=stages),
        "cohort_retention": cohort_retention(transactions, as_of),
        "funnel": funnel(customers, transactions, nps_table, steps, as_of, events),
        "clv": rfm_summary(transactions, as_of),
    }
    if nps_table is not None:
        out["nps"] = nps_report(nps_table, as_of if as_of is not None else _date_of(resolve_as_of(transactions)))
    return out
