"""NPS against lifecycle stage, retention and value (DESIGN §3.1, §3.4, §3.5).

- :func:`nps_by_stage`: the NPS of the answers (on or before T, after ``since``
  when given) grouped by the answering customer's lifecycle stage at T.
- :func:`value_by_nps_group`: the known customers at T grouped by the class of
  their latest answer on or before T (promoter 9–10, passive 7–8, detractor 0–6,
  or ``no_answer``): customers, mean historic value (net revenue up to T × margin,
  0 without purchases), share still active (stage new, active, reactivated or
  loyal at T) and mean number of purchase days up to T.
- :func:`customer_groups` / :func:`nps_group_customers`: the per-customer grouping
  behind it, and one group's customer ids (a drill-down to a segment filter).

Both are Ibis expressions aggregated in the database; only the result-sized
frames reach pandas. Note that stage ``loyal`` partly follows from a latest
answer of 9–10 (DESIGN §3.1 rule 6), so promoters lean towards loyal by definition.
"""

from __future__ import annotations

import ibis
import pandas as pd

from clm_core.config import STAGES
from clm_core.metrics.common import customer_totals, day_of, latest_scores, resolve_as_of
from clm_core.metrics.nps import with_scores
from clm_core.metrics.stages import customer_stages
from clm_core.store import Dataset

#: Stages that count as "still active" (a customer who buys and is neither at risk nor churned).
ACTIVE_STAGES = ("new", "active", "reactivated", "loyal")
#: Answer classes of DESIGN §3.4, plus the customers without an answer.
GROUPS = ("promoter", "passive", "detractor", "no_answer")

STAGE_COLUMNS = ["stage", "answers", "promoters", "passives", "detractors", "nps", "margin_of_error", "too_small"]
VALUE_COLUMNS = ["group", "customers", "mean_historic_value", "active_share", "mean_purchase_days"]


def _answers(dataset: Dataset, as_of, since):
    answers = dataset.require("nps")
    answers = answers.filter(day_of(answers.answered_at) <= ibis.literal(as_of))
    if since is not None:
        answers = answers.filter(day_of(answers.answered_at) > ibis.literal(resolve_as_of(dataset, since)))
    return answers


def nps_by_stage(dataset: Dataset, as_of=None, segment=None, config=None, since=None) -> pd.DataFrame:
    """stage, answers, promoters, passives, detractors, nps, margin_of_error, too_small.

    One row per canonical stage that has answers, in lifecycle order.
    """
    as_of = resolve_as_of(dataset, as_of)
    answers = _answers(dataset, as_of, since)
    stages = customer_stages(dataset, as_of, config, segment)  # known customers of the segment at T
    joined = answers.join(stages, answers.customer_id == stages.customer_id).select(answers.score, stages.stage)
    counts = joined.group_by("stage").aggregate(
        answers=joined.count(),
        promoters=(joined.score >= 9).cast("int64").sum(),
        passives=joined.score.between(7, 8).cast("int64").sum(),
        detractors=(joined.score <= 6).cast("int64").sum(),
    ).execute()
    if counts.empty:
        return pd.DataFrame(columns=STAGE_COLUMNS)
    counts = counts.astype({c: "int64" for c in ("answers", "promoters", "passives", "detractors")})
    counts["stage"] = pd.Categorical(counts["stage"], categories=list(STAGES), ordered=True)
    counts = counts.sort_values("stage", ignore_index=True)
    counts["stage"] = counts["stage"].astype(str)
    return with_scores(counts)[STAGE_COLUMNS]


def customer_groups(dataset: Dataset, as_of=None, segment=None, config=None, since=None):
    """Ibis table: customer_id, stage (at T), score and group of the latest answer on or before T.

    One row per known customer of the segment at T; ``group`` is promoter, passive,
    detractor or ``no_answer`` (no answer on or before T, after ``since`` when given).
    """
    as_of = resolve_as_of(dataset, as_of)
    stages = customer_stages(dataset, as_of, config, segment)
    answers = _answers(dataset, as_of, since)
    latest = latest_scores(answers)
    base = stages.left_join(latest, stages.customer_id == latest.customer_id).select(
        stages.customer_id, stages.stage, latest.score
    )
    group = ibis.cases(
        (base.score >= 9, "promoter"),
        (base.score >= 7, "passive"),
        (base.score.notnull(), "detractor"),
        else_="no_answer",
    )
    return base.mutate(group=group)


def nps_group_customers(dataset: Dataset, as_of=None, segment=None, config=None, since=None, group="detractor"):
    """Ibis table (customer_id) of the customers in one group of :func:`customer_groups` (for drill-downs)."""
    if group not in GROUPS:
        raise ValueError(f"unknown NPS group {group!r}; choose one of {', '.join(GROUPS)}")
    groups = customer_groups(dataset, as_of, segment, config, since)
    return groups.filter(groups.group == group).select("customer_id")


def value_by_nps_group(dataset: Dataset, as_of=None, segment=None, config=None, since=None,
                       include_unanswered: bool = True) -> pd.DataFrame:
    """group, customers, mean_historic_value, active_share, mean_purchase_days.

    Groups in the order of :data:`GROUPS` (``no_answer`` only with ``include_unanswered``);
    a group without customers has 0 customers and empty means.
    """
    as_of = resolve_as_of(dataset, as_of)
    groups = customer_groups(dataset, as_of, segment, config, since)
    value = customer_totals(dataset, as_of)
    base = groups.left_join(value, groups.customer_id == value.customer_id).select(
        groups.stage,
        groups.group,
        historic_value=value.historic_value.fill_null(0.0),
        purchase_days=value.n.fill_null(0),
    )
    if not include_unanswered:
        base = base.filter(base.group != "no_answer")
    counts = base.group_by("group").aggregate(
        customers=base.count(),
        mean_historic_value=base.historic_value.mean(),
        active_share=base.stage.isin(list(ACTIVE_STAGES)).cast("float64").mean(),
        mean_purchase_days=base.purchase_days.cast("float64").mean(),
    ).execute()
    order = list(GROUPS) if include_unanswered else list(GROUPS[:3])
    frame = counts.set_index("group").reindex(order).rename_axis("group").reset_index()
    frame["customers"] = frame["customers"].fillna(0).astype("int64")
    for column in ("mean_historic_value", "active_share", "mean_purchase_days"):
        frame[column] = frame[column].astype("float64")
    return frame[VALUE_COLUMNS]
