"""Where are we losing customers? Per period, the customers who newly became at risk and who newly churned,
as counts and as a share of those who could, broken down by a customer attribute or by cohort.

Definitions (stages as in DESIGN §3.1; only ``at_risk_days`` and ``churn_days`` matter here). For each
period P = [start, end] (calendar month or quarter; the last one is T's period and ends at T) the *base
date* is the day before P's first day (the end of the period before):

- **at-risk base** = customers whose stage on the base date is new, active, reactivated or loyal (they have
  a purchase on or before it and their recency is ≤ ``at_risk_days``);
  **newly at risk** = those of the at-risk base who are at risk on at least one day of P (they cross
  ``at_risk_days`` without buying in time);
- **churn base** = customers in a non-churned purchasing stage on the base date (new, active, reactivated,
  loyal or at risk: a purchase on or before it and recency ≤ ``churn_days``);
  **newly churned** = those of the churn base who are churned on at least one day of P;
- share = newly at risk (churned) / at-risk (churn) base; NaN with an empty base.

Customers who come into a source stage during P (a first purchase, a comeback) and slip within the same
period are not counted in P: they were not in its base. With the default thresholds this can only happen
in a 92-day quarter to a customer buying on its first day. A customer counts at most once per period and
kind, whatever happens later in the period (a comeback after churning does not undo the loss).

Breakdown ``by``: any customer attribute column (its values as text; a missing value is the segment
``None``), or ``"cohort"`` = the period of the customer's first purchase (``2024-03`` / ``2024-Q1``).
Without ``by`` there is one segment, ``"all"``.

Significance, for the latest period only: each segment's share against the rest of the customers (the
other segments together) in a two-sided two-proportion z-test (pooled variance). A segment is
``significant`` when p < ``alpha`` (0.05) and its base has at least ``min_base`` (30) customers (and the rest
is not empty). The *worst* segment is the significant one with a share above the rest's and the highest
share (ties: the larger base, then the name); None when there is none.

Everything is aggregated in the database from ``customer_purchases`` (one row per customer and purchase
day, stored at ingest): each row is a customer's latest purchase on the days [day, next purchase day), so
its base membership is a range of periods and its next at-risk and churn start (a window over the
customer's later rows) say when the customer is lost; no per-customer loop and no join per period. The
totals of the bases equal the stage distribution on the base dates (the stored stage timeline), which the
tests check; the stored ``stage_changes`` hold per-day net changes without the customer, so they cannot
give the entries by segment themselves.
"""

from __future__ import annotations

import datetime as dt
import math

import ibis
import pandas as pd

from clm_core.config import LifecycleConfig
from clm_core.derived import EPOCH
from clm_core.metrics.cohorts import period_index, period_label, period_number, period_start
from clm_core.metrics.common import resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

KINDS = ("at_risk", "churned")
PERIODS = ("month", "quarter")
COHORT = "cohort"
ALL = "all"
MIN_BASE = 30
ALPHA = 0.05
MAX_PERIODS = 120
_NEVER = 10_000_000  # day number after any date (an open interval's end)
#: customer_index columns that are no segment attribute
NOT_ATTRIBUTES = {"customer_id", "implicit", "first_seen"}


def _period_of(day_number, period: str):
    """Ibis: the period index (as :func:`clm_core.metrics.cohorts.period_index`) of a day number."""
    return period_index(ibis.literal(EPOCH) + day_number.cast("int64").as_interval("D"), period)


def _day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def _check(dataset: Dataset, period: str, periods: int, by):
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    if not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        raise ValueError(f"periods must be a whole number from 1 to {MAX_PERIODS}, got {periods!r}")
    if by is not None and by != COHORT:
        index = dataset.require("customer_index")
        if by not in index.columns or by in NOT_ATTRIBUTES:
            raise ValueError(f"unknown customer attribute {by!r}")


def _rows(dataset: Dataset, period: str, first: int, as_of: dt.date, by, config: LifecycleConfig, segment):
    """Ibis: the ``customer_purchases`` rows that matter for periods ``first`` … T's, each with its customer's
    ``segment`` (text) and per kind: ``lo`` … ``<kind>_hi`` = the periods on whose base date the row makes its
    customer part of the kind's base, ``<kind>_next`` = the day number of the customer's next entry into the
    kind's stage from this row on (null: none)."""
    t = _day_number(as_of)
    first_base = _day_number(period_start(first, period)) - 1
    rows = restrict(dataset.require("customer_purchases"), segment_customers(dataset, segment, as_of, config))
    # rows after T do not matter, nor those that ended before the first base date (a prefix of each
    # customer's rows: the window below over the later rows is unchanged)
    rows = rows.filter(rows.day_number <= t, rows.next_day_number.fill_null(_NEVER) > first_base)
    if by is None:
        rows = rows.mutate(segment=ibis.literal(ALL))
    elif by == COHORT:
        rows = rows.mutate(segment=_period_of(rows.first_day_number, period).cast("string"))
    else:
        index = dataset.require("customer_index")
        attribute = index.select("customer_id", segment=index[by].cast("string"))
        rows = rows.left_join(attribute, rows.customer_id == attribute.customer_id).select(rows, attribute.segment)
    day = rows.day_number.cast("int64")
    following = rows.next_day_number.fill_null(_NEVER).cast("int64")
    at_risk = day + (config.at_risk_days + 1)  # the first day at risk, unless the customer buys before
    churned = day + (config.churn_days + 1)
    later = ibis.window(group_by="customer_id", order_by="day_number", rows=(0, None))
    return rows.select(
        "customer_id", "segment",
        lo=_period_of(day, period) + 1,
        at_risk_hi=_period_of(ibis.least(at_risk, following), period),
        churned_hi=_period_of(ibis.least(churned, following), period),
        at_risk_next=ibis.ifelse(at_risk < ibis.least(churned, following), at_risk,
                                 ibis.null("int64")).min().over(later),
        churned_next=ibis.ifelse(churned < following, churned, ibis.null("int64")).min().over(later),
    )


def _lost_rows(rows, kind: str, t: int, period: str):
    """The rows whose customer is lost to ``kind`` in a period they are in the base for, with that period."""
    lost = rows.mutate(period=_period_of(rows[f"{kind}_next"], period).cast("int64"))
    entry = lost[f"{kind}_next"]
    return lost.filter(entry.notnull(), entry <= t, lost.period >= lost.lo, lost.period <= lost[f"{kind}_hi"])


def _periods(dataset: Dataset, period: str, periods: int, as_of):
    as_of = resolve_as_of(dataset, as_of)
    last = period_number(as_of, period)
    return as_of, last - periods + 1, last


def losses(dataset: Dataset, period: str = "month", periods: int = 6, as_of=None, by: str | None = None,
           config: LifecycleConfig | None = None, segment=None, min_base: int = MIN_BASE,
           alpha: float = ALPHA) -> pd.DataFrame:
    """One row per period (the last ``periods`` ones up to T's, oldest first) and segment:

    period (label), start, end (dates; the last ends at T), partial (T's period not yet over), segment,
    and for kind in at_risk, churned: ``<kind>`` (newly lost customers), ``<kind>_base``, ``<kind>_share``,
    and for the latest period ``<kind>_rest_share`` (the other segments together), ``<kind>_p`` (z-test
    p-value; NaN elsewhere), ``<kind>_significant`` and ``<kind>_worst`` (booleans). ``attrs["worst"]``:
    {kind: worst segment or None}. Definitions in the module docstring."""
    config = config or LifecycleConfig()
    _check(dataset, period, periods, by)
    as_of, first, last = _periods(dataset, period, periods, as_of)
    t = _day_number(as_of)
    rows = _rows(dataset, period, first, as_of, by, config, segment)
    # one pass: per row and kind the periods first … last it is in the base for ([start, end]) and the one it
    # is lost in, counted by these values; the per-period sums are then over this small table
    columns = {}
    for kind in KINDS:
        hi = rows[f"{kind}_hi"]
        start, end = ibis.greatest(rows.lo, first), ibis.least(hi, last)
        in_base = (rows.lo <= hi) & (start <= end)
        entry = rows[f"{kind}_next"]
        lost = _period_of(entry, period)
        columns[f"{kind}_start"] = ibis.ifelse(in_base, start, ibis.null("int64")).cast("int64")
        columns[f"{kind}_end"] = ibis.ifelse(in_base, end, ibis.null("int64")).cast("int64")
        columns[f"{kind}_lost"] = ibis.ifelse(in_base & entry.notnull() & (entry <= t) & (lost >= start)
                                              & (lost <= end), lost, ibis.null("int64")).cast("int64")
    spans = rows.select("segment", **columns)
    spans = spans.filter(spans.at_risk_start.notnull() | spans.churned_start.notnull())
    grouped = spans.group_by(["segment", *columns]).aggregate(n=spans.count()).execute()
    counts = []
    for kind in KINDS:
        based = grouped[grouped[f"{kind}_start"].notnull()]
        counts.append(pd.DataFrame({"kind": kind, "segment": based["segment"], "what": "base",
                                    "period": based[f"{kind}_start"], "n": based["n"]}))
        ends = based[based[f"{kind}_end"] + 1 <= last]
        counts.append(pd.DataFrame({"kind": kind, "segment": ends["segment"], "what": "base",
                                    "period": ends[f"{kind}_end"] + 1, "n": -ends["n"]}))
        lost = grouped[grouped[f"{kind}_lost"].notnull()]
        counts.append(pd.DataFrame({"kind": kind, "segment": lost["segment"], "what": "lost",
                                    "period": lost[f"{kind}_lost"], "n": lost["n"]}))
    counts = pd.concat(counts, ignore_index=True)
    return _frame(counts, period, first, last, as_of, by, min_base, alpha)


def _segment_order(values, by):
    def key(value):
        if value is None:
            return (2, 0, "")
        if by == COHORT:
            return (0, int(value), "")
        return (1, 0, str(value))
    return sorted(values, key=key)


def _frame(counts: pd.DataFrame, period: str, first: int, last: int, as_of: dt.date, by, min_base: int,
           alpha: float) -> pd.DataFrame:
    counts = counts.astype({"period": "int64", "n": "int64"})
    names = [None if pd.isna(s) else str(s) for s in counts["segment"]]  # a missing value is None, not NaN
    segments = _segment_order(set(names), by)
    if not segments:
        segments = [ALL] if by is None else []
    indices = list(range(first, last + 1))
    grid = pd.MultiIndex.from_product([indices, range(len(segments))], names=["index", "position"])
    frame = pd.DataFrame(index=grid).reset_index()
    frame["segment"] = pd.Series([segments[p] for p in frame["position"]], index=frame.index, dtype=object)
    position = {s: i for i, s in enumerate(segments)}
    counts["position"] = [position[s] for s in names]
    for kind in KINDS:
        mine = counts[counts["kind"] == kind]
        base = (mine[mine["what"] == "base"].groupby(["position", "period"])["n"].sum()
                .unstack("position").reindex(index=indices, columns=range(len(segments)), fill_value=0)
                .fillna(0).cumsum())
        lost = (mine[mine["what"] == "lost"].groupby(["position", "period"])["n"].sum()
                .unstack("position").reindex(index=indices, columns=range(len(segments)), fill_value=0).fillna(0))
        frame[f"{kind}_base"] = [int(base.at[i, p]) for i, p in zip(frame["index"], frame["position"])]
        frame[kind] = [int(lost.at[i, p]) for i, p in zip(frame["index"], frame["position"])]
        frame[f"{kind}_share"] = [n / b if b else float("nan") for n, b in zip(frame[kind], frame[f"{kind}_base"])]
    frame["period"] = [period_label(int(i), period) for i in frame["index"]]
    frame["start"] = [period_start(int(i), period) for i in frame["index"]]
    frame["end"] = [min(period_start(int(i) + 1, period) - dt.timedelta(days=1), as_of) for i in frame["index"]]
    frame["partial"] = [int(i) == last and as_of < period_start(last + 1, period) - dt.timedelta(days=1)
                        for i in frame["index"]]
    if by == COHORT:
        frame["segment"] = pd.Series([period_label(int(s), period) for s in frame["segment"]], index=frame.index,
                                     dtype=object)
    worst = {}
    latest = frame["index"] == last
    for kind in KINDS:
        rest_share, p_values, significant = [], [], []
        total_lost = int(frame.loc[latest, kind].sum())
        total_base = int(frame.loc[latest, f"{kind}_base"].sum())
        for is_latest, lost, base in zip(latest, frame[kind], frame[f"{kind}_base"]):
            if not is_latest:
                rest_share.append(float("nan"))
                p_values.append(float("nan"))
                significant.append(False)
                continue
            rest_lost, rest_base = total_lost - lost, total_base - base
            rest_share.append(rest_lost / rest_base if rest_base else float("nan"))
            p = two_proportion_p(lost, base, rest_lost, rest_base) if by is not None else float("nan")
            p_values.append(p)
            significant.append(bool(base >= min_base and rest_base > 0 and p < alpha))
        frame[f"{kind}_rest_share"] = rest_share
        frame[f"{kind}_p"] = p_values
        frame[f"{kind}_significant"] = significant
        candidates = frame[frame[f"{kind}_significant"] & (frame[f"{kind}_share"] > frame[f"{kind}_rest_share"])]
        name = None
        if not candidates.empty:
            best = sorted(zip(candidates[f"{kind}_share"], candidates[f"{kind}_base"], candidates.index),
                          key=lambda c: (-c[0], -c[1], str(frame.at[c[2], "segment"])))[0]
            name = frame.at[best[2], "segment"]
        frame[f"{kind}_worst"] = latest & (frame["segment"] == name) if name is not None else False
        worst[kind] = name
    columns = ["period", "start", "end", "partial", "segment"]
    for kind in KINDS:
        columns += [kind, f"{kind}_base", f"{kind}_share"]
    for kind in KINDS:
        columns += [f"{kind}_rest_share", f"{kind}_p", f"{kind}_significant", f"{kind}_worst"]
    frame = frame[columns].astype({f"{kind}{suffix}": "int64" for kind in KINDS for suffix in ("", "_base")})
    frame = frame.astype({f"{kind}_{flag}": "bool" for kind in KINDS for flag in ("significant", "worst")})
    frame.attrs["worst"] = worst
    return frame


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2 (NaN with an empty
    group; 1.0 when both shares are 0 or both 1)."""
    if n1 <= 0 or n2 <= 0:
        return float("nan")
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def worst_segment(frame: pd.DataFrame, kind: str = "churned"):
    """The worst segment of a :func:`losses` frame for ``kind`` (None when no segment differs significantly)."""
    chosen = frame.loc[frame[f"{kind}_worst"], "segment"]
    return None if chosen.empty else chosen.iloc[0]


def lost_customers(dataset: Dataset, kind: str = "churned", period: str = "month", period_label_: str | None = None,
                   as_of=None, by: str | None = None, value=ALL, config: LifecycleConfig | None = None,
                   segment=None):
    """Ibis table (customer_id, lost_on): the customers counted in ``<kind>`` of :func:`losses` for the
    period labelled ``period_label_`` (default: T's period) and the segment ``value`` of ``by`` (None: the
    customers without a value; ignored without ``by``), with the day they became at risk / churned."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    config = config or LifecycleConfig()
    _check(dataset, period, 1, by)
    as_of, _, last = _periods(dataset, period, 1, as_of)
    if period_label_ is None:
        index = last
    else:
        from clm_core.metrics.drilldown import parse_period_label

        index = parse_period_label(period_label_, period)
        if index > last:
            raise ValueError(f"the period {period_label_} lies after the as-of date")
    rows = _rows(dataset, period, index, as_of, by, config, segment)
    lost = _lost_rows(rows, kind, _day_number(as_of), period)
    lost = lost.filter(lost.period == index)
    if by == COHORT:
        from clm_core.metrics.drilldown import parse_period_label

        lost = lost.filter(lost.segment == str(parse_period_label(str(value), period)))
    elif by is not None:
        lost = lost.filter(lost.segment.isnull() if value is None else lost.segment == str(value))
    entry = lost[f"{kind}_next"]
    return lost.select("customer_id", lost_on=ibis.literal(EPOCH) + entry.as_interval("D")).order_by("customer_id")
