"""The chosen framework's phases with at-risk customers on their own (the Overview's bar and history).

The frameworks of DESIGN §1 have no phase for customers at risk: they map them into a retention-like phase
("Retention", "Nurture & retain", "Engage" …), where they cannot be seen. Here that phase is split in two:
``phase`` = the framework's name, ``at_risk`` = False for its other customers and True for those at risk
(DESIGN §3.1), the at-risk part right after its phase. A framework (or mapping) that gives at-risk customers
a phase of their own keeps it unsplit. Prospects are aware/interested as in
:func:`clm_core.metrics.stages.framework_distribution`; the counts are those of the stage timeline (or of
:func:`clm_core.metrics.stages.customer_stages` where the settings allow no timeline).
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from clm_core.config import MAPPING_KEYS, LifecycleConfig
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.stages import _timeline, counts_from_timeline, customer_stages, month_ends

COLUMNS = ["phase", "at_risk", "customers", "share"]


def split_at_risk(config: LifecycleConfig) -> bool:
    """Whether at-risk customers share their framework phase with other stages (so it is split)."""
    labels = config.stage_labels()
    return sum(labels[key] == labels["at_risk"] for key in MAPPING_KEYS) > 1


def phases(config: LifecycleConfig) -> list[tuple[str, bool]]:
    """(phase, at_risk) in the order shown: the framework's phases, the at-risk part after its phase."""
    at_risk_phase = config.stage_labels()["at_risk"] if split_at_risk(config) else None
    order = []
    for phase in config.framework_stages():
        order.append((phase, False))
        if phase == at_risk_phase:
            order.append((phase, True))
    return order


def _key_counts(dataset, dates, config, segment, timeline) -> pd.DataFrame:
    """as_of, key (a mapping key of clm_core.config.MAPPING_KEYS), customers at each of ``dates``."""
    timeline = _timeline(dataset, config, segment, timeline)
    if timeline is not None:
        return counts_from_timeline(timeline, dates, split_prospects=True).rename(columns={"stage": "key"})
    parts = []
    for day in sorted(set(dates)):
        stages = customer_stages(dataset, day, config, segment)
        key = ibis.cases(
            (stages.stage == "prospect", ibis.ifelse(stages.interested, "prospect_interested", "prospect_aware")),
            else_=stages.stage,
        )
        parts.append(stages.group_by(key=key).aggregate(customers=stages.count()).mutate(as_of=ibis.literal(day)))
    counts = (ibis.union(*parts) if len(parts) > 1 else parts[0]).execute()
    counts["as_of"] = [pd.Timestamp(d).date() for d in counts["as_of"]]
    return counts[["as_of", "key", "customers"]]


def _as_phases(counts: pd.DataFrame, config: LifecycleConfig) -> pd.DataFrame:
    """as_of, phase, at_risk, customers (every phase of :func:`phases` at every date, zeros included)."""
    labels = config.stage_labels()
    split = split_at_risk(config)
    counts = counts.assign(phase=counts["key"].map(labels), at_risk=split & (counts["key"] == "at_risk"))
    summed = counts.groupby(["as_of", "phase", "at_risk"])["customers"].sum()
    grid = pd.MultiIndex.from_tuples([(day, phase, risk) for day in sorted(counts["as_of"].unique())
                                      for phase, risk in phases(config)], names=["as_of", "phase", "at_risk"])
    frame = summed.reindex(grid, fill_value=0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    total = frame.groupby("as_of")["customers"].transform("sum")
    frame["share"] = (frame["customers"] / total.where(total > 0)).fillna(0.0)
    return frame


def phase_distribution(dataset, as_of=None, config: LifecycleConfig | None = None, segment=None,
                       timeline=None) -> pd.DataFrame:
    """phase, at_risk, customers, share at T, in the order of :func:`phases` (zeros included)."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    frame = _as_phases(_key_counts(dataset, [as_of], config, segment, timeline), config)
    if frame.empty:
        frame = pd.DataFrame([(p, r, 0, 0.0) for p, r in phases(config)], columns=COLUMNS)
    return frame[COLUMNS].reset_index(drop=True)


def phase_history(dataset, as_of=None, config: LifecycleConfig | None = None, segment=None, months: int = 24,
                  timeline=None) -> pd.DataFrame:
    """month (YYYY-MM), phase, at_risk, customers, share: :func:`phase_distribution` at the end of each of
    the last ``months`` months (the last one at T itself), as :func:`clm_core.metrics.stages.stage_history`."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    first = dt.date(as_of.year, as_of.month, 1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    frame = _as_phases(_key_counts(dataset, month_ends(first, as_of), config, segment, timeline), config)
    frame.insert(0, "month", [day.strftime("%Y-%m") for day in frame["as_of"]])
    return frame[["month", *COLUMNS]].reset_index(drop=True)
