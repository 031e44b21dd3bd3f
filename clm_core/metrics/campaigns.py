"""Evaluation of past campaigns and the lifecycle gap analysis (DESIGN §3.6).

Definitions (campaigns table of DESIGN §2, one row per contact):

- A *contact* is a (campaign, customer) pair. A customer listed twice in one
  campaign counts once, from their first ``sent_at``; they are *treated* when
  any of their rows is in the treatment group (a missing or empty ``group``
  means treatment: the customer was contacted), otherwise *control*.
- ``cost`` is the cost of one contact: a campaign's cost is the sum of ``cost``
  over its treatment rows (every row, so a customer contacted twice costs
  twice); control rows cost nothing, whatever the file says.
- Response = at least one purchase (amount > 0) on a day in
  (send day, send day + window_days], on or before T. The send day itself does
  not count: the data has days, and a purchase on the send day may well have
  preceded the mail. Revenue = net revenue (returns included) of the same days.
- Response rates are responders / customers of the group; revenue per customer
  is the group's window revenue / its customers. Uplift = response_treated −
  response_control with Newcombe's hybrid score interval (method 10 of
  Newcombe 1998, built from two Wilson intervals), which keeps its coverage for
  the small control groups and low response rates campaigns have, where the
  Wald interval is too narrow.
- Incremental revenue = (revenue per treated − revenue per control) × treated;
  ROI = (incremental revenue × margin − cost) / cost. Its 95 % interval (``roi_low``, ``roi_high``)
  carries the interval of the difference in revenue per customer through that formula (which is
  increasing in the difference): d ± z · sqrt(s_t² / n_t + s_c² / n_c), with s² the sample variance of
  the customers' window revenue in each group (Welch's normal interval, computed in the database). ROI
  is built from revenue, not from response, so the uplift's interval does not give it: a campaign can
  lift the response and still bring less revenue. NaN without a control group, with a group of one
  customer (no variance) or without cost.
- Without a control group the causal columns are NaN and ``causal`` is False;
  ``response_before`` / ``revenue_before`` give the treated customers' figures in
  the window of the same length before the send day ([send − window, send)) and
  ``change_before_after`` = response_treated − response_before. This is not an
  effect: customers picked because they stopped buying (at risk, churned) have
  a low "before" by construction. The before/after columns are filled for every
  campaign; ``causal`` says whether ``uplift`` exists.
- Contacts sent after T are left out; a window that ends after T is cut at T
  and its campaign flagged ``window_complete = False``.
- Stage at send time = DESIGN §3.1 at the send day (purchases on the send day
  included, consistent with the response window starting the day after).
  A segment filter (including its stage part) is evaluated at T.
"""

from __future__ import annotations

import datetime as dt
from statistics import NormalDist

import ibis
import numpy as np
import pandas as pd

from clm_core.derived import exact_sum
from clm_core.config import MAPPING_KEYS, STAGES, LifecycleConfig
from clm_core.metrics.common import resolve_as_of, restrict, segment_customers
from clm_core.metrics.stages import customer_stages
from clm_core.store import Dataset

COLUMNS = (
    "campaign", "treated", "control", "response_treated", "response_control", "uplift", "ci_low", "ci_high",
    "revenue_treated", "revenue_control", "cost", "roi", "roi_low", "roi_high",
)
EXTRA_COLUMNS = (
    "causal", "window_complete", "first_sent", "last_sent", "channel", "contacts", "incremental_revenue",
    "response_before", "revenue_before", "change_before_after",
)
GAP_COLUMNS = ("stage", "framework_stage", "channel", "customers_reached", "campaigns", "uplift")
#: channel of contacts whose row names none (or a campaigns file without a channel column)
NO_CHANNEL = "unspecified"


# --------------------------------------------------------------------------- statistics

def wilson_interval(successes, n, level: float = 0.95):
    """Wilson score interval (low, high) of a proportion; NaN where n = 0. Arrays broadcast."""
    x, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def uplift_interval(responders_treated, treated, responders_control, control, level: float = 0.95):
    """(uplift, low, high): p_t − p_c and Newcombe's hybrid score interval; NaN where a group is empty.

    low = d − sqrt((p_t − l_t)² + (u_c − p_c)²), high = d + sqrt((u_t − p_t)² + (p_c − l_c)²),
    with (l, u) the Wilson interval of each proportion.
    """
    xt, nt = np.asarray(responders_treated, dtype=float), np.asarray(treated, dtype=float)
    xc, nc = np.asarray(responders_control, dtype=float), np.asarray(control, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pt, pc = xt / nt, xc / nc
    lt, ut = wilson_interval(xt, nt, level)
    lc, uc = wilson_interval(xc, nc, level)
    d = pt - pc
    return d, d - np.sqrt((pt - lt) ** 2 + (uc - pc) ** 2), d + np.sqrt((ut - pt) ** 2 + (pc - lc) ** 2)


def roi_interval(mean_treated, var_treated, treated, mean_control, var_control, control, cost, margin: float = 1.0,
                 level: float = 0.95):
    """(low, high) of ROI = ((m_t − m_c) · n_t · margin − cost) / cost: Welch's normal interval of the
    difference in mean revenue per customer m_t − m_c (sample variances ``var_*``), carried through the
    formula. NaN where a group has fewer than two customers, a variance is missing, or cost ≤ 0."""
    mt, mc = np.asarray(mean_treated, dtype=float), np.asarray(mean_control, dtype=float)
    vt, vc = np.asarray(var_treated, dtype=float), np.asarray(var_control, dtype=float)
    nt, nc = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    cost = np.asarray(cost, dtype=float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = (nt >= 2) & (nc >= 2) & (cost > 0)
        half = z * np.sqrt(np.maximum(vt, 0) / nt + np.maximum(vc, 0) / nc)
        d = mt - mc
        low = np.where(usable, ((d - half) * nt * margin - cost) / cost, np.nan)
        high = np.where(usable, ((d + half) * nt * margin - cost) / cost, np.nan)
    return low, high


def observed_response(dataset: Dataset, window_days: int = 30, as_of=None, segment=None, config=None) -> tuple[int, int]:
    """(responders, treated) over the treated contacts of all campaigns whose window of ``window_days``
    days ends on or before T: how many contacted customers bought within the window (the module's
    response), pooled over campaigns. (0, 0) without campaigns or complete windows."""
    outcomes, as_of = _outcomes(dataset, window_days, as_of, segment, config)
    o = outcomes
    done = o.treated & (o.sent <= ibis.literal(as_of - dt.timedelta(days=int(window_days))))
    counts = o.aggregate(treated=o.count(where=done), responders=o.count(where=done & o.responded)).execute()
    return int(counts["responders"].fillna(0).iloc[0]), int(counts["treated"].fillna(0).iloc[0])


# --------------------------------------------------------------------------- contacts and outcomes

def campaign_contacts(dataset: Dataset, as_of: dt.date, segment=None, config=None):
    """Ibis table, one row per (campaign, customer) sent on or before T.

    sent (first send day), treated, contacts (treatment rows), cost (their summed cost),
    channel (of the first row).
    """
    k = dataset.require("campaigns")
    rows = k.mutate(
        sent=k.sent_at.cast("date"),
        contacted=(k.group.fill_null("treatment") == "treatment") if "group" in k.columns else ibis.literal(True),
        row_cost=k.cost.cast("float64") if "cost" in k.columns else ibis.null("float64"),
        row_channel=k.channel.fill_null(NO_CHANNEL) if "channel" in k.columns else ibis.literal(NO_CHANNEL),
    )
    rows = rows.filter(rows.sent <= ibis.literal(as_of))
    rows = restrict(rows, segment_customers(dataset, segment, as_of, config))
    return rows.group_by(["campaign", "customer_id"]).aggregate(
        sent=rows.sent.min(),
        treated=rows.contacted.any(),
        contacts=rows.count(where=rows.contacted),
        cost=rows.row_cost.sum(where=rows.contacted),
        channel=rows.row_channel.argmin(rows.sent_at),
    )


def contact_outcomes(contacts, dataset: Dataset, as_of: dt.date, window_days: int):
    """``contacts`` with responded / revenue after the send day and responded_before / revenue_before."""
    days = dataset.require("customer_days")
    days = days.filter(days.day <= ibis.literal(as_of))
    window = ibis.interval(days=window_days)
    joined = contacts.left_join(
        days,
        [contacts.customer_id == days.customer_id,
         days.day >= contacts.sent - window, days.day <= contacts.sent + window],
    )
    after, before, bought = joined.day > joined.sent, joined.day < joined.sent, joined.purchases > 0
    return joined.group_by(list(contacts.columns)).aggregate(
        responded=joined.day.count(where=after & bought) > 0,
        revenue=exact_sum(joined.revenue, where=after).fill_null(0.0),
        responded_before=joined.day.count(where=before & bought) > 0,
        revenue_before=exact_sum(joined.revenue, where=before).fill_null(0.0),
    )


def _outcomes(dataset, window_days, as_of, segment, config, stage: bool = False):
    """(contact outcomes, resolved T); with each contact's stage at send time when ``stage``."""
    if not isinstance(window_days, (int, np.integer)) or isinstance(window_days, bool) or window_days < 1:
        raise ValueError(f"window_days must be a positive whole number of days, got {window_days!r}")
    as_of = resolve_as_of(dataset, as_of)
    contacts = campaign_contacts(dataset, as_of, segment, config)
    if stage:
        contacts = with_stage_at_send(dataset, contacts, config)
    return contact_outcomes(contacts, dataset, as_of, int(window_days)), as_of


def with_stage_at_send(dataset: Dataset, contacts, config=None):
    """``contacts`` with ``stage``: each customer's stage (DESIGN §3.1) on their send day.

    One stage query per distinct send day; a customer unknown on that day has no purchase
    before it and is a prospect (rule 1).
    """
    sent_days = [pd.Timestamp(day).date() for day in sorted(contacts.select("sent").distinct().execute()["sent"])]
    if not sent_days:
        return contacts.mutate(stage=ibis.literal("prospect"))
    parts = [
        customer_stages(dataset, day, config).select("customer_id", "stage").mutate(sent_day=ibis.literal(day))
        for day in sent_days
    ]
    stages = ibis.union(*parts) if len(parts) > 1 else parts[0]
    joined = contacts.left_join(
        stages, [contacts.customer_id == stages.customer_id, contacts.sent == stages.sent_day]
    )
    return joined.select(*contacts.columns, stage=joined.stage.fill_null("prospect"))


# --------------------------------------------------------------------------- effects

def summarise(outcomes, keys: list[str], window_days: int, as_of: dt.date, margin: float = 1.0) -> pd.DataFrame:
    """Per ``keys``: the columns of :data:`COLUMNS` (keys first) and :data:`EXTRA_COLUMNS`."""
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin >= 0:
        raise ValueError(f"margin must be a number ≥ 0, got {margin!r}")
    o = outcomes
    t, c = o.treated, ~o.treated
    counts = o.group_by(keys).aggregate(
        treated=o.count(where=t),
        control=o.count(where=c),
        responders_treated=o.count(where=t & o.responded),
        responders_control=o.count(where=c & o.responded),
        revenue_sum_treated=exact_sum(o.revenue, where=t),
        revenue_sum_control=exact_sum(o.revenue, where=c),
        revenue_var_treated=o.revenue.var(where=t, how="sample"),
        revenue_var_control=o.revenue.var(where=c, how="sample"),
        cost=o.cost.sum(where=t),
        contacts=o.contacts.sum(),
        first_sent=o.sent.min(),
        last_sent=o.sent.max(),
        channels=o.channel.collect(where=t, distinct=True),
        responders_before=o.count(where=t & o.responded_before),
        revenue_sum_before=o.revenue_before.sum(where=t),
    ).execute()
    return effects_frame(counts, keys, window_days, as_of, margin)


def _positive(values: pd.Series) -> pd.Series:
    return values.where(values > 0)


def _per(total: pd.Series, n: pd.Series) -> pd.Series:
    """total / n, NaN where n = 0."""
    return total.astype("float64") / _positive(n)


def effects_frame(
    counts: pd.DataFrame, keys: list[str], window_days: int, as_of: dt.date, margin: float
) -> pd.DataFrame:
    """The effect columns from the per-group counts and sums of :func:`summarise` (result-sized)."""
    f = counts
    treated, control = f["treated"].astype("int64"), f["control"].astype("int64")
    revenue_treated = _per(f["revenue_sum_treated"].fillna(0.0), treated)
    revenue_control = _per(f["revenue_sum_control"].fillna(0.0), control)
    uplift, low, high = uplift_interval(f["responders_treated"], treated, f["responders_control"], control)
    incremental = (revenue_treated - revenue_control) * treated
    cost = f["cost"].astype("float64").round(9)  # a sum of per-contact costs, without float dust
    roi_low, roi_high = roi_interval(revenue_treated, f["revenue_var_treated"], treated, revenue_control,
                                     f["revenue_var_control"], control, cost, margin)
    response_treated = _per(f["responders_treated"], treated)
    response_before = _per(f["responders_before"], treated)
    last_sent = pd.to_datetime(f["last_sent"]).dt.date
    frame = pd.DataFrame({
        **{key: f[key] for key in keys},
        "treated": treated,
        "control": control,
        "response_treated": response_treated,
        "response_control": _per(f["responders_control"], control),
        "uplift": uplift,
        "ci_low": low,
        "ci_high": high,
        "revenue_treated": revenue_treated,
        "revenue_control": revenue_control,
        "cost": cost,
        "roi": (incremental * margin - cost) / _positive(cost),
        "roi_low": roi_low,
        "roi_high": roi_high,
        "causal": (treated > 0) & (control > 0),
        "window_complete": last_sent + dt.timedelta(days=window_days) <= as_of,
        "first_sent": pd.to_datetime(f["first_sent"]).dt.date,
        "last_sent": last_sent,
        "channel": [", ".join(sorted(v)) if v is not None and len(v) else None for v in f["channels"]],
        "contacts": f["contacts"].fillna(0).astype("int64"),
        "incremental_revenue": incremental,
        "response_before": response_before,
        "revenue_before": _per(f["revenue_sum_before"].fillna(0.0), treated),
        "change_before_after": response_treated - response_before,
    })
    return frame.sort_values(["first_sent", *keys], kind="stable").reset_index(drop=True)


def campaign_effects(
    dataset: Dataset, window_days: int = 30, as_of=None, segment=None, config=None, margin: float = 1.0
) -> pd.DataFrame:
    """One row per campaign: :data:`COLUMNS`, then :data:`EXTRA_COLUMNS` (definitions in the module doc)."""
    outcomes, as_of = _outcomes(dataset, window_days, as_of, segment, config)
    return summarise(outcomes, ["campaign"], window_days, as_of, margin)


def campaign_effects_by(
    dataset: Dataset, by: str, window_days: int = 30, as_of=None, segment=None, config=None, margin: float = 1.0
) -> pd.DataFrame:
    """The effects per campaign and ``by``: ``"stage"`` (stage at send time) or a customer_index column.

    Columns: campaign, ``by``, then those of :func:`campaign_effects`, except a column of the same name as
    ``by`` (an attribute ``channel`` replaces the campaign's channel). Customers without the attribute (e.g.
    listed only in the campaigns file) form the group with a missing value.
    """
    outcomes, as_of = _outcomes(dataset, window_days, as_of, segment, config, stage=by == "stage")
    key = by
    if by != "stage":
        index = dataset.require("customer_index")
        if by not in index.columns or by == "customer_id":
            known = ", ".join(c for c in index.columns if c != "customer_id")
            raise ValueError(f"cannot break campaigns down by {by!r}; choose stage or one of: {known}")
        key = "__by"  # the attribute may share its name with a column of the outcomes (channel)
        attribute = index.select("customer_id", index[by].cast("string").name("__value"))
        joined = outcomes.left_join(attribute, outcomes.customer_id == attribute.customer_id)
        outcomes = joined.select(*outcomes.columns, **{key: joined["__value"]})
    frame = summarise(outcomes, ["campaign", key], window_days, as_of, margin)
    if key != by:
        frame = frame.drop(columns=[by], errors="ignore").rename(columns={key: by})
    if by == "stage":
        order = pd.Categorical(frame["stage"], categories=STAGES, ordered=True)
        frame = frame.assign(_o=order).sort_values(["first_sent", "campaign", "_o"], kind="stable").drop(columns="_o")
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- gap analysis

def framework_stage_names(config: LifecycleConfig | None = None) -> dict[str, str]:
    """Canonical stage -> its name in the chosen framework (prospects: both prospect names when they differ)."""
    labels = (config or LifecycleConfig()).stage_labels()
    prospect = dict.fromkeys(labels[key] for key in MAPPING_KEYS if key.startswith("prospect"))
    return {"prospect": ", ".join(prospect), **{stage: labels[stage] for stage in STAGES[1:]}}


def campaign_gaps(dataset: Dataset, as_of=None, config=None, segment=None, window_days: int = 30) -> pd.DataFrame:
    """Stage × channel matrix of campaign activity, every cell included (zeros where nothing ran).

    Columns: stage (canonical, at send time), framework_stage, channel, customers_reached
    (distinct treated customers), campaigns (campaigns with a treated customer in the cell),
    uplift = the mean of each campaign's uplift within the stage (all its channels), weighted by
    the campaign's treated customers in the cell, over campaigns with a control group in that
    stage (else NaN). Channels are those of the campaigns file (control rows included).
    """
    outcomes, as_of = _outcomes(dataset, window_days, as_of, segment, config, stage=True)
    o = outcomes
    t, c = o.treated, ~o.treated
    cells = o.group_by(["campaign", "stage", "channel"]).aggregate(
        treated=o.count(where=t),
        control=o.count(where=c),
        responders_treated=o.count(where=t & o.responded),
        responders_control=o.count(where=c & o.responded),
    ).execute()
    reached = o.filter(t)
    reach = reached.group_by(["stage", "channel"]).aggregate(customers_reached=reached.customer_id.nunique())
    reach = reach.execute().set_index(["stage", "channel"])["customers_reached"]

    in_stage = cells.groupby(["campaign", "stage"])[["responders_treated", "treated", "responders_control", "control"]]
    cells["uplift"] = uplift_interval(*in_stage.transform("sum").T.to_numpy())[0]
    cells = cells[cells["treated"] > 0]
    cells["weighted"] = cells["uplift"] * cells["treated"]
    cells["weight"] = cells["treated"].where(cells["uplift"].notna(), 0)
    per_cell = cells.groupby(["stage", "channel"]).agg(
        campaigns=("campaign", "nunique"), weighted=("weighted", "sum"), weight=("weight", "sum")
    )

    channels = sorted(set(cells["channel"]) | set(reach.index.get_level_values("channel"))) or [NO_CHANNEL]
    grid = pd.MultiIndex.from_product([STAGES, channels], names=["stage", "channel"])
    frame = per_cell.join(reach).reindex(grid)
    frame["uplift"] = frame["weighted"] / frame["weight"].where(frame["weight"] > 0)
    frame[["customers_reached", "campaigns"]] = frame[["customers_reached", "campaigns"]].fillna(0).astype("int64")
    frame = frame.reset_index()
    frame["framework_stage"] = frame["stage"].map(framework_stage_names(config))
    return frame[list(GAP_COLUMNS)]
