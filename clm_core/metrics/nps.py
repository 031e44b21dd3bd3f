"""Net Promoter Score (DESIGN §3.4).

Promoter 9–10, passive 7–8, detractor 0–6. NPS = 100 · (promoters − detractors) / answers.
Margin of error (95 %) = 100 · 1.96 · sqrt((p + d − (p − d)²) / n), p and d the
promoter and detractor shares. Fewer than 30 answers: flagged ``too_small``.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from clm_core.metrics.common import day_of, resolve_as_of, restrict, segment_customers
from clm_core.store import Dataset

MIN_ANSWERS = 30
COLUMNS = ["scope", "answers", "promoters", "passives", "detractors", "nps", "margin_of_error", "too_small"]


def with_scores(counts: pd.DataFrame) -> pd.DataFrame:
    """Add nps, margin_of_error and too_small to a frame of answer counts."""
    n = counts["answers"].astype("float64")
    p = counts["promoters"] / n
    d = counts["detractors"] / n
    counts = counts.copy()
    counts["nps"] = 100 * (p - d)
    counts["margin_of_error"] = 100 * 1.96 * np.sqrt((p + d - (p - d) ** 2) / n)
    counts["too_small"] = counts["answers"] < MIN_ANSWERS
    return counts


def nps(dataset: Dataset, as_of=None, segment=None, by: str | None = None, config=None, since=None) -> pd.DataFrame:
    """NPS overall (scope ``all``), by answer month (``by="month"``) or by a customer attribute.

    Answers on or before T (and after ``since`` when given) count; customers outside
    the segment are left out.
    """
    as_of = resolve_as_of(dataset, as_of)
    answers = dataset.require("nps")
    if since is not None:
        answers = answers.filter(day_of(answers.answered_at) > ibis.literal(resolve_as_of(dataset, since)))
    answers = restrict(answers.filter(day_of(answers.answered_at) <= ibis.literal(as_of)),
                       segment_customers(dataset, segment, as_of, config))
    if by is None:
        scope = ibis.literal("all")
    elif by == "month":
        scope = answers.answered_at.strftime("%Y-%m")
    else:
        index = dataset.require("customer_index")
        if by not in index.columns or by == "customer_id":
            raise ValueError(f"unknown customer attribute {by!r}")
        answers = answers.left_join(index, answers.customer_id == index.customer_id).select(
            answers, __by=index[by].cast("string")
        )
        scope = answers.__by.fill_null("(none)")
    counts = answers.group_by(scope=scope).aggregate(
        answers=answers.count(),
        promoters=(answers.score >= 9).cast("int64").sum(),
        passives=answers.score.between(7, 8).cast("int64").sum(),
        detractors=(answers.score <= 6).cast("int64").sum(),
    ).execute()
    if counts.empty:
        return pd.DataFrame(columns=COLUMNS)
    counts = counts.astype({c: "int64" for c in ("answers", "promoters", "passives", "detractors")})
    return with_scores(counts).sort_values("scope", ignore_index=True)[COLUMNS]
