"""What changed: the statistically meaningful movements of a period against the one before.

Periods (whole days): *after* = (T − days, T], *before* = (T − 2·days, T − days]. Each test compares the two
periods, two-sided, with a normal approximation (p = erfc(|z| / √2)):

- ``nps``: the NPS of the answers in each period (DESIGN §3.4); z = (NPS₁ − NPS₀) / √(v₀ + v₁) with
  v = (p + d − (p − d)²) / n, the variance behind the NPS margin of error: p < 0.05 is a difference outside
  the 95 % margin of error of the difference.
- ``active_share``: buyers (customers with a purchase) who are new, active, reactivated or loyal, on T − days
  and on T (the Overview's card); pooled two-proportion z-test.
- ``at_risk``, ``churned``: customers who newly became at risk (churned) in each period, as a share of that
  kind's base on the day before the period — the definitions of :mod:`clm_core.metrics.losses`, for periods
  of days; pooled two-proportion z-test.
- ``revenue``: net revenue of each period (the Overview's card). Compound-Poisson normal approximation: the
  total R is a sum over the customers with transactions in the period of their net revenue r, and
  Var(R) ≈ Σ r², so z = (R₁ − R₀) / √(Σ₀ r² + Σ₁ r²). It covers both more or fewer buyers and larger or
  smaller baskets, and needs no model of either.
- ``conversion``, one per funnel step k ≥ 2 (the paths of :func:`clm_core.metrics.funnel.funnel_paths`):
  customers who reached step k within ``days`` days of step k − 1, among those who reached step k − 1 in
  the period *shifted back by days days* — (T − 2·days, T − days] against (T − 3·days, T − 2·days] — so that
  every one of them had the full ``days`` days before T (a recent entrant has not had the time to convert,
  and would show a drop that is none); pooled two-proportion z-test.

The samples of the two periods overlap (the same customers are buyers on both dates, in both bases); the
tests treat them as independent, which overstates the variance of the difference where they correlate
positively: they err on the quiet side. A test is run only with at least ``min_size`` (30) answers,
customers in the base or purchasing customers in each period.

Multiple comparisons: Benjamini–Hochberg over all tests run, at ``alpha`` (0.05): a movement is reported when
its adjusted p-value is below ``alpha``. With no real change this bounds the chance of any report at
``alpha``; with real changes it controls the expected share of false reports among those made.

Segment driver (``by`` = a customer attribute): for a reported movement each segment's contribution to it —
its own difference for revenue (the segments' differences add up to the total), its rate effect
w·(m₁ − m₀) for shares and NPS (w = its weight in the later period: answers, base) — over the total change.
The driver is the segment with the largest contribution, when that is at least ``driver_share`` (half) of the
total, its own test (as above, on its customers only, at least ``min_size`` each) is significant after
Bonferroni over the segments tested (p · m < alpha), and the other customers taken together (at least
``min_size`` each) show no significant change (p ≥ alpha): the change is the segment's, not everybody's — a
large segment alone would otherwise "explain" most of any change. There is none when the change is spread
out.

Everything is aggregated in the database; pandas holds one row per segment and period.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace

import ibis
import pandas as pd

from clm_core.config import LifecycleConfig
from clm_core.derived import EPOCH
from clm_core.metrics.common import day_of, resolve_as_of, restrict, segment_customers
from clm_core.metrics.losses import NOT_ATTRIBUTES, two_proportion_p
from clm_core.store import Dataset

KINDS = ("nps", "active_share", "at_risk", "churned", "revenue", "conversion")
#: the kinds where a rise is bad news
BAD_WHEN_UP = ("at_risk", "churned")
PERIODS = (30, 90, 365)
ALPHA = 0.05
MIN_SIZE = 30
DRIVER_SHARE = 0.5
ALL = "all"
_NEVER = 10_000_000  # a day number after any date (an open interval's end)


@dataclass(frozen=True)
class Change:
    """One test of a period against the one before.

    ``before``/``after``: the measure (NPS points, a share, euros); ``count_*``: its numerator (promoters minus
    detractors for NPS, customers for shares, euros for revenue); ``size_*``: answers, the base, or purchasing
    customers. ``step``/``from_step``: the funnel step (conversion only). ``segment`` (a value of
    ``attribute``; None = customers without a value) with ``segment_*``: the driver, when there is one.
    ``page`` and ``params`` (``p.<name>`` → values): the view that shows it.
    """

    kind: str
    direction: str  # "up" or "down"
    before: float
    after: float
    count_before: float
    count_after: float
    size_before: int
    size_after: int
    p_value: float
    adjusted_p: float = float("nan")
    step: str | None = None
    from_step: str | None = None
    attribute: str | None = None
    segment: str | None = None
    segment_before: float = float("nan")
    segment_after: float = float("nan")
    segment_size_before: int = 0
    segment_size_after: int = 0
    segment_p: float = float("nan")
    segment_share: float = float("nan")
    page: str = "overview"
    params: dict = field(default_factory=dict)

    @property
    def difference(self) -> float:
        return self.after - self.before

    @property
    def good(self) -> bool:
        """Whether the movement is good news (a rise of NPS, a fall of churn …)."""
        return (self.direction == "up") != (self.kind in BAD_WHEN_UP)

    @property
    def has_driver(self) -> bool:
        return self.attribute is not None


# ----------------------------------------------------------------------------------------- the tests

def p_from_z(z: float) -> float:
    """Two-sided p-value of a standard normal z."""
    return math.erfc(abs(z) / math.sqrt(2))


def nps_difference_p(promoters0: int, detractors0: int, n0: int, promoters1: int, detractors1: int,
                     n1: int) -> float:
    """Two-sided p-value of NPS₁ − NPS₀ with the DESIGN §3.4 variance (p + d − (p − d)²) / n per period
    (NaN without answers; with no variance at all 1.0 for equal scores, else 0.0)."""
    if n0 <= 0 or n1 <= 0:
        return float("nan")
    p0, d0, p1, d1 = promoters0 / n0, detractors0 / n0, promoters1 / n1, detractors1 / n1
    variance = (p0 + d0 - (p0 - d0) ** 2) / n0 + (p1 + d1 - (p1 - d1) ** 2) / n1
    difference = (p1 - d1) - (p0 - d0)
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    return p_from_z(difference / math.sqrt(variance))


def sum_difference_p(total0: float, squares0: float, total1: float, squares1: float) -> float:
    """Two-sided p-value of R₁ − R₀ for two compound-Poisson totals R (Var(R) ≈ Σ r² of its terms)."""
    variance = squares0 + squares1
    if variance <= 0:
        return 1.0 if total0 == total1 else 0.0
    return p_from_z((total1 - total0) / math.sqrt(variance))


def benjamini_hochberg(p_values) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (in the given order): min over j ≥ rank of p₍ⱼ₎ · m / j, ≤ 1."""
    p_values = list(p_values)
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted


# Per kind, a frame with one row per segment: size0, size1 (the denominators) and count0, count1 (numerators);
# for NPS also detractors0/1 (count = promoters), for revenue squares0/1 (count = the total).

def _measure(kind: str, count, detractors, size):
    if size <= 0:
        return float("nan")
    if kind == "nps":
        return 100 * (count - detractors) / size
    if kind == "revenue":
        return float(count)
    return count / size


def _p_value(kind: str, row) -> float:
    if kind == "nps":
        return nps_difference_p(row["count0"], row["detractors0"], row["size0"], row["count1"], row["detractors1"],
                                row["size1"])
    if kind == "revenue":
        return sum_difference_p(row["count0"], row["squares0"], row["count1"], row["squares1"])
    return two_proportion_p(int(row["count1"]), int(row["size1"]), int(row["count0"]), int(row["size0"]))


def _values(kind: str, row) -> tuple[float, float]:
    return (_measure(kind, row["count0"], row.get("detractors0", 0), row["size0"]),
            _measure(kind, row["count1"], row.get("detractors1", 0), row["size1"]))


# ----------------------------------------------------------------------------------------- the counts

def _attribute(dataset: Dataset, by: str | None):
    """customer_id, segment (text) of attribute ``by``; None without ``by``."""
    if by is None:
        return None
    index = dataset.require("customer_index")
    if by not in index.columns or by in NOT_ATTRIBUTES:
        raise ValueError(f"unknown customer attribute {by!r}")
    return index.select("customer_id", segment=index[by].cast("string"))


def _with_segment(table, attribute):
    if attribute is None:
        return table.mutate(segment=ibis.literal(ALL))
    return table.left_join(attribute, table.customer_id == attribute.customer_id).select(table, attribute.segment)


def _frame(counts: pd.DataFrame) -> pd.DataFrame:
    """Missing segment values as None (not NaN), the rest as result-sized numbers."""
    counts = counts.copy()
    counts["segment"] = pd.Series([None if pd.isna(s) else str(s) for s in counts["segment"]], index=counts.index,
                                  dtype=object)
    return counts


def _day(day: dt.date) -> int:
    return (day - EPOCH).days


def purchase_counts(dataset: Dataset, as_of: dt.date, days: int, config: LifecycleConfig, customers, attribute):
    """Per segment, for ``active_share``, ``at_risk`` and ``churned``: a frame of the columns
    ``<kind>_count0/1`` and ``<kind>_size0/1`` (one pass over ``customer_purchases``, see
    :mod:`clm_core.metrics.losses` for what a row describes)."""
    t, b1 = _day(as_of), _day(as_of) - days
    b0 = b1 - days
    rows = restrict(dataset.require("customer_purchases"), customers)
    rows = rows.select("customer_id", day=rows.day_number.cast("int64"),
                       following=rows.next_day_number.fill_null(_NEVER).cast("int64"),
                       first_day=rows.first_day_number.cast("int64"))
    rows = rows.filter(rows["day"] <= t, rows["following"] > b0)  # every buyer keeps at least their last row
    day, following = rows["day"], rows["following"]
    churn_entry = day + (config.churn_days + 1)
    risk_entry = day + (config.at_risk_days + 1)

    def within(on: int, limit: int):  # the row describes the customer on day ``on``, with recency ≤ limit
        return (day <= on) & (following > on) & (day >= on - limit)

    churns = churn_entry < following
    risks = risk_entry < ibis.least(churn_entry, following)
    flags = {
        "buyer0": rows["first_day"] <= b1,
        "active0": within(b1, config.at_risk_days), "active1": within(t, config.at_risk_days),
        "risk_base0": within(b0, config.at_risk_days),
        "churn_base0": within(b0, config.churn_days), "churn_base1": within(b1, config.churn_days),
        "risk0": risks & (risk_entry > b0) & (risk_entry <= b1), "risk1": risks & (risk_entry > b1) & (risk_entry <= t),
        "churn0": churns & (churn_entry > b0) & (churn_entry <= b1),
        "churn1": churns & (churn_entry > b1) & (churn_entry <= t),
    }
    per = rows.group_by("customer_id").aggregate(**{k: v.cast("int64").max() for k, v in flags.items()})
    per = _with_segment(per, attribute)
    counts = per.group_by("segment").aggregate(
        active_share_count0=per.active0.sum(), active_share_size0=per.buyer0.sum(),
        active_share_count1=per.active1.sum(), active_share_size1=per.count(),
        at_risk_count0=(per.risk0 * per.risk_base0).sum(), at_risk_size0=per.risk_base0.sum(),
        at_risk_count1=(per.risk1 * per.active0).sum(), at_risk_size1=per.active0.sum(),
        churned_count0=(per.churn0 * per.churn_base0).sum(), churned_size0=per.churn_base0.sum(),
        churned_count1=(per.churn1 * per.churn_base1).sum(), churned_size1=per.churn_base1.sum(),
    ).execute()
    return _frame(counts)


def nps_counts(dataset: Dataset, as_of: dt.date, days: int, customers, attribute) -> pd.DataFrame:
    """Per segment: answers (size), promoters (count) and detractors of each period."""
    answers = dataset.require("nps")
    day = day_of(answers.answered_at)
    answers = restrict(answers.filter(day > ibis.literal(as_of - dt.timedelta(days=2 * days)),
                                      day <= ibis.literal(as_of)), customers)
    answers = _with_segment(answers.mutate(later=day_of(answers.answered_at) > ibis.literal(
        as_of - dt.timedelta(days=days))), attribute)
    counts = {}
    for period, when in ((0, ~answers.later), (1, answers.later)):
        counts[f"size{period}"] = answers.count(where=when)
        counts[f"count{period}"] = answers.count(where=when & (answers.score >= 9))
        counts[f"detractors{period}"] = answers.count(where=when & (answers.score <= 6))
    return _frame(answers.group_by("segment").aggregate(**counts).execute())


def revenue_counts(dataset: Dataset, as_of: dt.date, days: int, customers, attribute) -> pd.DataFrame:
    """Per segment: purchasing customers (size), net revenue (count) and Σ r² of each period."""
    rows = dataset.require("customer_days")
    rows = restrict(rows.filter(rows.day > ibis.literal(as_of - dt.timedelta(days=2 * days)),
                                rows.day <= ibis.literal(as_of)), customers)
    per = rows.group_by(["customer_id", (rows.day > ibis.literal(as_of - dt.timedelta(days=days))).name("later")]
                        ).aggregate(r=rows.revenue.sum())
    per = _with_segment(per, attribute)
    counts = {}
    for period, when in ((0, ~per.later), (1, per.later)):
        counts[f"size{period}"] = per.count(where=when)
        counts[f"count{period}"] = per.r.sum(where=when).fill_null(0.0)
        counts[f"squares{period}"] = (per.r * per.r).sum(where=when).fill_null(0.0)
    return _frame(per.group_by("segment").aggregate(**counts).execute())


def conversion_counts(dataset: Dataset, as_of: dt.date, days: int, steps, window_days: int, config, segment,
                      attribute) -> pd.DataFrame:
    """Per segment and step k ≥ 2: ``k<k>_size0/1`` customers at step k − 1 in the shifted periods and
    ``k<k>_count0/1`` of them at step k within ``days`` days."""
    from clm_core.metrics.funnel import funnel_paths

    edges = [as_of - dt.timedelta(days=n * days) for n in (3, 2, 1)]
    # a customer at step k − 1 after edges[0] reached step 1 at most window_days before: only those count
    since = edges[0] - dt.timedelta(days=window_days)
    path = _with_segment(funnel_paths(dataset, steps, as_of, window_days, (), segment, config, since), attribute)
    counts = {}
    for k in range(2, len(steps) + 1):
        before, reached = path[f"d{k - 1}"], path[f"d{k}"]
        converted = reached.notnull() & (reached.delta(before, unit="day") <= days)
        for period in (0, 1):
            cohort = (before > ibis.literal(edges[period])) & (before <= ibis.literal(edges[period + 1]))
            counts[f"k{k}_size{period}"] = path.count(where=cohort)
            counts[f"k{k}_count{period}"] = path.count(where=cohort & converted)
    return _frame(path.group_by("segment").aggregate(**counts).execute())


def _kind_frame(counts: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The columns ``<prefix>_*`` of a counts frame as the generic segment, size0/1, count0/1 columns."""
    columns = {c: c[len(prefix) + 1:] for c in counts.columns if c.startswith(prefix + "_")}
    return counts[["segment", *columns]].rename(columns=columns)


# ----------------------------------------------------------------------------------------- putting it together

def default_steps(dataset: Dataset) -> list[str]:
    """The built-in milestones the dataset offers, in funnel order (the Funnel page's default)."""
    from clm_core.metrics.drilldown import step_availability

    return list(step_availability(dataset).milestones)


def link(kind: str, days: int, attribute: str | None = None, steps=None) -> tuple[str, dict]:
    """The page (slug) and page parameters that show a movement of ``kind`` (by ``attribute``)."""
    if kind == "nps":
        params = {"p.nps_period": [str(days)]} if days in (90, 180, 365) else {}
        return "nps", {**params, **({"p.nps_by": [attribute]} if attribute else {})}
    if kind in ("at_risk", "churned"):
        return "lifecycle", {"p.losses_kind": [kind], "p.losses_period": ["month" if days < 90 else "quarter"],
                             **({"p.losses_by": [attribute]} if attribute else {})}
    if kind == "active_share":
        return "lifecycle", {}
    if kind == "revenue":
        return "cohorts", {"p.cohort_measure": ["revenue"], **({"p.cohort_breakdown": [attribute]} if attribute else {})}
    return "funnel", {"p.funnel_steps": [str(s) for s in steps or ()],
                      **({"p.funnel_breakdown": [attribute]} if attribute else {})}


def _test(kind: str, frame: pd.DataFrame, min_size: int, **extra) -> Change | None:
    """The test of the total of ``frame`` (the segments summed), or None when a period is too small."""
    total = frame.drop(columns="segment").sum()
    if total["size0"] < min_size or total["size1"] < min_size:
        return None
    before, after = _values(kind, total)
    p = _p_value(kind, total)
    direction = "up" if after > before else "down"
    count = (lambda n: total[f"count{n}"] - total[f"detractors{n}"]) if kind == "nps" else (lambda n: total[f"count{n}"])
    return Change(kind=kind, direction=direction, before=float(before), after=float(after),
                  count_before=float(count(0)), count_after=float(count(1)), size_before=int(total["size0"]),
                  size_after=int(total["size1"]), p_value=float(p), **extra)


def driver(change: Change, frame: pd.DataFrame, attribute: str, min_size: int, alpha: float = ALPHA,
           driver_share: float = DRIVER_SHARE) -> Change:
    """``change`` with the segment of ``frame`` that drives it (see the module's docstring), if any."""
    total_difference = change.difference
    tested = frame[(frame["size0"] >= min_size) & (frame["size1"] >= min_size)]
    if tested.empty or total_difference == 0:
        return change
    size_after = change.size_after
    total = frame.drop(columns="segment").sum()
    best = None
    for _, row in tested.iterrows():  # one row per segment value
        before, after = _values(change.kind, row)
        weight = 1.0 if change.kind == "revenue" else row["size1"] / size_after
        share = weight * (after - before) / total_difference
        p = _p_value(change.kind, row)
        rest = total - row.drop("segment")  # the other customers together (all counts add up)
        rest_moved = rest["size0"] < min_size or rest["size1"] < min_size or _p_value(change.kind, rest) < alpha
        if share >= driver_share and p * len(tested) < alpha and not rest_moved and (best is None or share > best[0]):
            best = (share, row["segment"], before, after, row, p)
    if best is None:
        return change
    share, segment, before, after, row, p = best
    return replace(change, attribute=attribute, segment=segment, segment_before=float(before),
                   segment_after=float(after), segment_size_before=int(row["size0"]),
                   segment_size_after=int(row["size1"]), segment_p=float(p), segment_share=float(share))


def all_tests(dataset: Dataset, days: int = 30, as_of=None, by: str | None = None, steps=None,
              config: LifecycleConfig | None = None, segment=None, min_size: int = MIN_SIZE,
              window_days: int = 365, alpha: float = ALPHA) -> list[Change]:
    """Every test run (periods large enough), in the order of :data:`KINDS` (conversion by step), each with
    its Benjamini–Hochberg adjusted p-value, its link, and for those significant its driver by ``by``.

    None with a segment filter that depends on the date (a stage or cohort): it picks its customers on T, so
    the two periods would differ by the choice itself (no customer at risk on T is active on T)."""
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise ValueError(f"days must be a whole number from 1 to 3650, got {days!r}")
    if segment is not None and segment.date_dependent:
        return []
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    customers = segment_customers(dataset, segment, as_of, config)
    attribute = _attribute(dataset, by)
    frames = []  # (kind, per-segment frame, extra fields)
    if dataset.has("nps"):
        frames.append(("nps", nps_counts(dataset, as_of, days, customers, attribute), {}))
    if dataset.has("customer_purchases"):
        counts = purchase_counts(dataset, as_of, days, config, customers, attribute)
        frames += [(kind, _kind_frame(counts, kind), {}) for kind in ("active_share", "at_risk", "churned")]
    if dataset.has("customer_days"):
        frames.append(("revenue", revenue_counts(dataset, as_of, days, customers, attribute), {}))
    steps = [str(s) for s in (default_steps(dataset) if steps is None else steps)]
    if len(steps) >= 2:
        counts = conversion_counts(dataset, as_of, days, steps, window_days, config, segment, attribute)
        frames += [("conversion", _kind_frame(counts, f"k{k}"), {"step": steps[k - 1], "from_step": steps[k - 2]})
                   for k in range(2, len(steps) + 1)]
    tests = []
    for kind, frame, extra in frames:
        change = _test(kind, frame, min_size, **extra)
        if change is not None and not math.isnan(change.p_value):
            tests.append((change, frame))
    adjusted = benjamini_hochberg([change.p_value for change, _ in tests])
    out = []
    for (change, frame), q in zip(tests, adjusted):
        change = replace(change, adjusted_p=q)
        if q < alpha and by is not None:
            change = driver(change, frame, by, min_size, alpha)
        page, params = link(change.kind, days, change.attribute, steps)
        out.append(replace(change, page=page, params=params))
    return out


def significant(tests: list[Change], alpha: float = ALPHA) -> list[Change]:
    """The tests whose Benjamini–Hochberg adjusted p-value is below ``alpha``, most significant first."""
    return sorted([c for c in tests if c.adjusted_p < alpha],
                  key=lambda c: (c.adjusted_p, c.p_value, KINDS.index(c.kind)))


def changes(dataset: Dataset, days: int = 30, as_of=None, by: str | None = None, steps=None,
            config: LifecycleConfig | None = None, segment=None, min_size: int = MIN_SIZE, window_days: int = 365,
            alpha: float = ALPHA) -> list[Change]:
    """The movements of (T − days, T] against the period before that are significant after the
    Benjamini–Hochberg guard over all tests run (:func:`all_tests`), most significant first."""
    return significant(all_tests(dataset, days, as_of, by, steps, config, segment, min_size, window_days, alpha),
                       alpha)
