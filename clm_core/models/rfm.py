"""RFM quintile scores and named segments.

Scores 1–5 from each purchaser's position among all purchasers, ties sharing
the lower score: score = 1 + floor(5 · share of purchasers ranked strictly
below). R ranks days since the last purchase, longest lowest (the most recent
buyers score highest); F ranks frequency (repeat purchase days), so the many
one-time buyers all score 1; M ranks historic value (net revenue). Segments
follow the usual grid of R against FM = ceil((F + M) / 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from clm_core.metrics.clv import rfm_table
from clm_core.metrics.common import resolve_as_of
from clm_core.models import cache
from clm_core.store import Dataset

#: (segment, R range, FM range), first match wins; together they cover the 5 × 5 grid.
SEGMENTS = (
    ("Champions", (4, 5), (4, 5)),
    ("Loyal", (3, 3), (4, 5)),
    ("Potential loyalists", (4, 5), (2, 3)),
    ("New customers", (5, 5), (1, 1)),
    ("Promising", (4, 4), (1, 1)),
    ("Need attention", (3, 3), (3, 3)),
    ("About to sleep", (3, 3), (1, 2)),
    ("Can't lose them", (1, 2), (5, 5)),
    ("At risk", (1, 2), (3, 4)),
    ("Hibernating", (2, 2), (1, 2)),
    ("Lost", (1, 1), (1, 2)),
)
SEGMENT_NAMES = tuple(name for name, _, _ in SEGMENTS)


def _score(column, total, descending: bool = False):
    order = ibis.desc(column) if descending else column
    below = ibis.rank().over(order_by=order)  # 0-based, ties take the lowest rank
    return (1 + (below * 5 / total).floor()).cast("int8")


def rfm_scores(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """customer_id, days_since_last, frequency, historic_value, r, f, m, fm, rfm_segment."""
    as_of = resolve_as_of(dataset, as_of)
    t = rfm_table(dataset, as_of, segment, config)
    total = t.customer_id.count().over(ibis.window())  # a window, not a subquery that would run rfm_table again
    scored = t.select(
        "customer_id", "days_since_last", "frequency", "historic_value",
        r=_score(t.days_since_last, total, descending=True),
        f=_score(t.frequency, total),
        m=_score(t.historic_value, total),
    )
    scored = scored.mutate(fm=((scored.f + scored.m + 1) // 2).cast("int8"))
    name = ibis.cases(
        *[
            (scored.r.between(*r) & scored.fm.between(*fm), label)
            for label, r, fm in SEGMENTS
        ],
        else_="Unscored",
    )
    return scored.mutate(rfm_segment=name).order_by("customer_id").execute()


def segment_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """rfm_segment, customers, share, in the order of SEGMENTS."""
    counts = scores["rfm_segment"].value_counts().reindex(SEGMENT_NAMES, fill_value=0)
    frame = counts.rename_axis("rfm_segment").reset_index(name="customers")
    total = frame["customers"].sum()
    frame["share"] = frame["customers"] / total if total else 0.0
    return frame


def segment_of(r: int, fm: int) -> str:
    """The named RFM segment of a grid cell (first match of ``models.rfm.SEGMENTS``)."""
    for name, (r_lo, r_hi), (fm_lo, fm_hi) in SEGMENTS:
        if r_lo <= r <= r_hi and fm_lo <= fm <= fm_hi:
            return name
    return "Unscored"


def rfm_grid(scores: pd.DataFrame) -> pd.DataFrame:
    """r, fm, customers, rfm_segment for all 25 cells of the R × FM grid (zeros included), from ``rfm_scores``."""
    counts = scores.groupby(["r", "fm"]).size() if len(scores) else pd.Series(dtype="int64")
    cells = [(r, fm) for r in range(5, 0, -1) for fm in range(1, 6)]
    return pd.DataFrame({
        "r": [r for r, _ in cells],
        "fm": [fm for _, fm in cells],
        "customers": [int(counts.get((r, fm), 0)) for r, fm in cells],
        "rfm_segment": [segment_of(r, fm) for r, fm in cells],
    })


def segment_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """rfm_segment, customers, share, mean_value, total_value, value_share per named segment (``SEGMENTS`` order)."""
    frame = segment_counts(scores)
    value = scores.groupby("rfm_segment")["historic_value"].agg(["mean", "sum"])
    frame["mean_value"] = frame["rfm_segment"].map(value["mean"]).astype("float64")
    frame["total_value"] = frame["rfm_segment"].map(value["sum"]).fillna(0.0).astype("float64")
    total = frame["total_value"].sum()
    frame["value_share"] = frame["total_value"] / total if total else 0.0
    return frame


def top_customers(scores: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` customers with the highest historic value (ties by customer_id), ranked from 1."""
    top = scores.sort_values(["historic_value", "customer_id"], ascending=[False, True], kind="stable").head(max(n, 0))
    top = top.reset_index(drop=True)
    top.insert(0, "rank", range(1, len(top) + 1))
    return top


# --------------------------------------------------------------------------- result-sized views for the page

#: the most top customers a page lists
TOP_MAX = 1000

_SCORES = cache.Memo(1)


def cached_scores(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """``rfm_scores``, kept in memory for the last segments asked for (shared: do not modify)."""
    as_of = resolve_as_of(dataset, as_of)
    key = (cache.dataset_key(dataset), as_of,
           cache.key_text(segment=segment.to_query_params() if segment is not None else {},
                          config=config.to_dict() if config is not None else None))
    return _SCORES.get(key, lambda: rfm_scores(dataset, as_of, segment, config))


def value_summary(dataset: Dataset, as_of=None, segment=None, config=None) -> dict:
    """purchasers, total_value, median_value of the segment's purchasers (their historic value), read from
    the per-customer totals without ranking anyone: what the page shows first."""
    as_of = resolve_as_of(dataset, as_of)
    values = rfm_table(dataset, as_of, segment, config).select("historic_value").execute()["historic_value"]
    return {"purchasers": len(values), "total_value": float(values.sum()),
            "median_value": float(values.median()) if len(values) else float("nan")}


@dataclass(frozen=True)
class RfmOverview:
    """The RFM part of the page, result-sized: ``segments`` (``segment_summary``), ``grid`` (``rfm_grid``),
    ``top`` (``top_customers`` of the ``TOP_MAX`` highest historic values)."""

    purchasers: int
    segments: pd.DataFrame
    grid: pd.DataFrame
    top: pd.DataFrame


def rfm_overview(dataset: Dataset, as_of=None, segment=None, config=None, top: int = TOP_MAX) -> RfmOverview:
    scores = cached_scores(dataset, as_of, segment, config)
    return RfmOverview(len(scores), segment_summary(scores), rfm_grid(scores), top_customers(scores, top))


def segment_members(dataset: Dataset, as_of=None, segment=None, config=None, rfm_segment: str = "",
                    rows: int | None = None) -> pd.DataFrame:
    """The customers of the named RFM segment, most valuable first (ties by customer_id): customer_id,
    historic_value, frequency, days_since_last, r, f, m; the first ``rows`` of them (all: None), with
    ``attrs["customers"]``, how many there are."""
    scores = cached_scores(dataset, as_of, segment, config)
    members = scores[scores["rfm_segment"] == rfm_segment].sort_values(
        ["historic_value", "customer_id"], ascending=[False, True])
    members = members[["customer_id", "historic_value", "frequency", "days_since_last", "r", "f", "m"]]
    shown = members if rows is None else members.head(rows)
    shown = shown.reset_index(drop=True)
    shown.attrs["customers"] = len(members)
    return shown
