"""Campaign what-if simulation (DESIGN §3.6, "Plan"): what an action on a target would bring.

Baseline (:func:`customer_baseline`): every customer of the segment with their lifecycle stage, the
predictive models' outputs (``clm_core.models.predictive``: BG/NBD expected purchases over the horizon
and P(alive), Gamma-Gamma expected spend per purchase S, predicted CLV discounted at ``annual_discount``
with margin 1) and the churn risk (``clm_core.models.churn``), plus what one unit of each kind of effect
is worth over the horizon, as revenue and as discounted revenue (``*_discounted``):

- ``purchase_value`` — the customer makes one purchase now (on top of the baseline): S for that purchase,
  plus the change in their expected purchases over the horizon, which the BG/NBD model gives for a
  customer who has just bought (frequency + 1, recency = T), minus what it expects from them anyway:
  S · (1 + E[X | x + 1, T, T] − E[X | x, t_x, T]). A prospect's first purchase is worth the population's
  mean spend per purchase times (1 + the expected repeat purchases of a new customer, FHL 2005 eq. 9).
- ``alive_value`` — the customer stays alive: S · E[X | alive at T] (a churner is assumed to bring
  nothing over the horizon).
- ``spend_value`` — +100 % spend per purchase: S · E[X | x, t_x, T] (the baseline revenue).

Actions (:data:`ACTIONS`) and whom they address among the target:

==================  ===========================================  ====================================
action              contacted customers                          effect (a fraction), per responder
==================  ===========================================  ====================================
reactivation        stage at_risk or churned                     +pp probability of a purchase
activation          stage new (the activation window)            +pp probability of a repeat purchase
funnel_uplift       reached the step before, not the step        +pp conversion of the step
order_value         purchasers                                   +% spend per purchase
churn_reduction     purchasers not churned (with a churn risk)   −pp churn probability (≤ churn risk)
==================  ===========================================  ====================================

A converted customer is worth ``purchase_value``; a funnel conversion leads to the next purchase
milestone of the funnel (first or repeat purchase) with the observed conversion rates of the steps in
between (:func:`funnel_stage`), and is worth nothing in money when no purchase step follows. A retained
customer is worth ``alive_value``; an order-value responder ``effect × spend_value``.

Monte Carlo (:func:`simulate`), per simulation: the effect ~ uniform over its range; responders ~
Binomial(contacted, response rate); converted (or retained) customers ~ Binomial(responders, effect
[× share reaching a purchase] [capped at the churn risk]) — both per bucket of similar customers
(equal-count buckets by value, or by churn risk), so which customers respond varies too; the value of
the converted customers of a bucket = their number × the bucket's mean value, plus a normal term for the
spread of values within the bucket (finite-population corrected); and the models' parameter
uncertainty: each simulation uses one of ``parameter_draws`` parameter sets of BG/NBD and Gamma-Gamma
drawn from the normal approximation of their maximum-likelihood estimates (inverse Hessian of the
log-likelihood). Left out: the randomness of each customer's future purchase count and spend around the
models' expectation, and the uncertainty of the churn model and of the observed funnel rates.
Expected values are exact expectations at the models' point estimates (O(customers)); the interval is
the 5–95 % range of the simulations, which cost O(buckets) each.

Incremental CLV = margin × discounted incremental revenue; cost = contacted × cost per contact + fixed
cost; ROI = (incremental CLV − cost) / cost; the break-even effect is the effect at which the expected
ROI is 0.

Defaults (:func:`planning_defaults`): a scenario's response rate and margin start from the data where it
has them — the response rate of past campaigns (treated customers who bought within 30 days of the send
day, pooled over the campaigns whose window has ended, ``clm_core.metrics.campaigns.observed_response``)
and the transactions' own margin (revenue-weighted mean of the ``margin`` column over purchases) — and
otherwise from the conservative stated assumptions :data:`ASSUMED_RESPONSE` (10 %) and
:data:`ASSUMED_MARGIN` (30 %), which are also the defaults of :class:`Scenario`. A link stores a scenario
as its differences from a base scenario (:meth:`Scenario.to_params` with ``base``): the page uses the data's
defaults as the base, so a link's explicit values win over them and everything left out takes the data's
defaults of the moment the link is opened.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import ibis
import numpy as np
import pandas as pd

from clm_core import bounds
from clm_core.config import STAGES, LifecycleConfig
from clm_core.metrics.campaigns import observed_response
from clm_core.metrics.clv import TIME_UNITS
from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.funnel import DEFAULT_STEPS, dropped_customers, funnel
from clm_core.metrics.stages import customer_stages
from clm_core.models.btyd import (
    DAYS_PER_MONTH,
    BetaGeo,
    GammaGamma,
    ModelError,
    bg_log_likelihood_function,
    customer_lifetime_value,
    gg_log_likelihood_function,
)
from clm_core.metrics.common import segment_customers
from clm_core.models import cache
from clm_core.models.churn import churn_risk
from clm_core.models.insights import value_models
from clm_core.models.predictive import fitted_models, predictive_clv, whole_summary
from clm_core.store import Dataset

#: action -> (value column, kind): a conversion adds a purchase, a retention keeps a customer, spend scales it
ACTIONS: dict[str, tuple[str, str]] = {
    "reactivation": ("purchase_value", "conversion"),
    "activation": ("purchase_value", "conversion"),
    "funnel_uplift": ("purchase_value", "conversion"),
    "order_value": ("spend_value", "spend"),
    "churn_reduction": ("alive_value", "retention"),
}
ACTION_STAGES = {"reactivation": ("at_risk", "churned"), "activation": ("new",)}
PURCHASE_STEPS = ("first_purchase", "repeat_purchase")
VALUE_COLUMNS = ("purchase_value", "purchase_value_discounted", "alive_value", "alive_value_discounted",
                 "spend_value", "spend_value_discounted")
BASELINE_COLUMNS = ("customer_id", "stage", "frequency", "recency", "T", "monetary", "historic_value", "p_alive",
                    "expected_purchases", "expected_spend", "predicted_clv", "churn_risk")
MEASURES = ("contacted", "responders", "incremental_purchasers", "incremental_revenue", "incremental_clv", "cost",
            "roi", "loss_probability", "break_even_effect")
MAX_BUCKETS = 32
#: the stated assumptions where the data gives no response rate (no past campaigns) or no margin
ASSUMED_RESPONSE = 0.10
ASSUMED_MARGIN = 0.30
#: days after the send day in which a purchase counts as a past campaign's response (the data default)
RESPONSE_WINDOW_DAYS = 30
PARAMETER_DRAWS = 20
QUANTILES = (5, 95)
#: up to this many customers a baseline holds every value under every parameter draw; above it the values
#: under the draws are computed when a target is chosen, on at most DRAW_SAMPLE customers per bucket
EAGER_DRAW_CUSTOMERS = 50_000
DRAW_SAMPLE = 500

_BASELINES = cache.Memo(1)  # whole_baseline of (dataset version, as-of, configuration, parameters)


# --------------------------------------------------------------------------- scenario

def _range(value) -> tuple[float, float] | None:
    """(low, high) as floats, or None."""
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"a range needs low ≤ high, got {value!r}")
    return low, high


@dataclass(frozen=True)
class Scenario:
    """A planned campaign: target (narrowing the segment filter), action, assumed effect and economics.

    Effects, response rate and margin are fractions (0.02 = 2 pp or 2 %); ranges are (low, high),
    inclusive, None for no limit; ``funnel_step`` is the 1-based position in ``funnel_steps`` of the step
    whose conversion the campaign lifts (funnel_uplift only).
    """

    action: str = "reactivation"
    effect_low: float = 0.02
    effect_high: float = 0.06
    response_rate: float = ASSUMED_RESPONSE
    cost_per_contact: float = 1.0
    fixed_cost: float = 0.0
    margin: float = ASSUMED_MARGIN
    horizon_months: int = 12
    stages: tuple[str, ...] = ()
    churn_risk: tuple[float, float] | None = None
    p_alive: tuple[float, float] | None = None
    clv: tuple[float, float] | None = None
    funnel_steps: tuple[str, ...] = DEFAULT_STEPS
    funnel_step: int = 2

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; choose one of {', '.join(ACTIONS)}")
        for name in ("effect_low", "effect_high", "response_rate", "cost_per_contact", "fixed_cost", "margin"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if self.effect_low > self.effect_high:
            raise ValueError("effect_low must not exceed effect_high")
        if ACTIONS[self.action][1] != "spend" and self.effect_high > 1:
            raise ValueError("the effect on a probability is at most 1 (100 percentage points)")
        if self.effect_high > bounds.SPEND_EFFECT.high:
            raise ValueError(f"the effect on order value is at most {bounds.SPEND_EFFECT.high:g} (+1,000 %)")
        for name in ("cost_per_contact", "fixed_cost"):
            if getattr(self, name) > bounds.MONEY.high:
                raise ValueError(f"{name} must be at most {bounds.MONEY.high:,.0f}")
        if self.response_rate > 1 or self.margin > 1:
            raise ValueError("response_rate and margin are shares between 0 and 1")
        if int(self.horizon_months) != self.horizon_months or not 1 <= self.horizon_months <= 120:
            raise ValueError("horizon_months must be a whole number of months from 1 to 120")
        object.__setattr__(self, "horizon_months", int(self.horizon_months))
        object.__setattr__(self, "stages", tuple(self.stages))
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s): {', '.join(sorted(unknown))}")
        for name in ("churn_risk", "p_alive", "clv"):
            object.__setattr__(self, name, _range(getattr(self, name)))
        object.__setattr__(self, "funnel_steps", tuple(str(s) for s in self.funnel_steps))
        if self.action == "funnel_uplift" and not 2 <= self.funnel_step <= len(self.funnel_steps):
            raise ValueError(f"funnel_step must be a step from 2 to {len(self.funnel_steps)} of the funnel")

    @property
    def kind(self) -> str:
        return ACTIONS[self.action][1]

    def to_params(self, base: Scenario | None = None) -> dict[str, tuple[str, ...]]:
        """Query parameters: name -> values (text); fields equal to ``base``'s (default: the class
        defaults) are left out. Lossless: ``Scenario.from_params(s.to_params(base), base) == s``."""
        params = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == (f.default if base is None else getattr(base, f.name)):
                continue
            items = value if isinstance(value, tuple) else (value,)
            params[f.name] = tuple(repr(v) if isinstance(v, float) else str(v) for v in items)
        return params

    @classmethod
    def from_params(cls, params: Mapping, base: Scenario | None = None) -> Scenario:
        """From :meth:`to_params` (values as text or sequences of text): the given fields, the others
        ``base``'s (default: the class defaults); ValueError on malformed values."""
        values = {} if base is None else {f.name: getattr(base, f.name) for f in fields(base)}
        for f in fields(cls):
            raw = params.get(f.name)
            if raw is None:
                continue
            items = (raw,) if isinstance(raw, str) else tuple(raw)
            try:
                if f.name in ("stages", "funnel_steps"):
                    values[f.name] = items
                elif f.name in ("churn_risk", "p_alive", "clv"):
                    values[f.name] = tuple(float(v) for v in items)
                    if len(items) != 2:
                        raise ValueError
                elif f.name == "action":
                    values[f.name] = items[0]
                elif f.name in ("horizon_months", "funnel_step"):
                    values[f.name] = int(items[0])
                else:
                    values[f.name] = float(items[0])
            except (ValueError, IndexError) as exc:
                raise ValueError(f"cannot read scenario parameter {f.name}={list(items)!r}") from exc
        return cls(**values)


# --------------------------------------------------------------------------- defaults from the data

@dataclass(frozen=True)
class PlanDefaults:
    """Where a scenario's response rate and margin start (module doc, "Defaults").

    ``response_source``: ``"campaigns"`` (``responders`` of ``treated`` contacted customers bought within
    ``window_days``) or ``"assumed"``; ``margin_source``: ``"transactions"`` or ``"assumed"``. The rates
    are rounded to what the page's inputs show (response 0.1 %, margin 1 %), so that the inputs hold
    them exactly.
    """

    response_rate: float = ASSUMED_RESPONSE
    response_source: str = "assumed"
    responders: int = 0
    treated: int = 0
    window_days: int = RESPONSE_WINDOW_DAYS
    margin: float = ASSUMED_MARGIN
    margin_source: str = "assumed"

    def scenario(self, **changes) -> Scenario:
        """The default scenario with these rates (the base of a link)."""
        return Scenario(response_rate=self.response_rate, margin=self.margin, **changes)


def observed_margin(dataset: Dataset, as_of=None) -> float | None:
    """Σ amount × margin / Σ amount over the purchases (amount > 0) up to T that have a margin, clipped
    to [0, 1]; None without a margin column or such purchases."""
    if not dataset.has("transactions"):
        return None
    t = dataset.require("transactions")
    if "margin" not in t.columns:
        return None
    as_of = resolve_as_of(dataset, as_of)
    rows = t.filter((t.amount > 0) & t.margin.notnull() & (t.ordered_at.cast("date") <= ibis.literal(as_of)))
    sums = rows.aggregate(revenue=rows.amount.cast("float64").sum(),
                          margin=(rows.amount.cast("float64") * rows.margin.cast("float64")).sum()).execute()
    revenue, margin = sums["revenue"].iloc[0], sums["margin"].iloc[0]
    if pd.isna(revenue) or pd.isna(margin) or not revenue > 0:
        return None
    return min(max(float(margin / revenue), 0.0), 1.0)


def planning_defaults(dataset: Dataset, as_of=None, segment=None, config: LifecycleConfig | None = None,
                      window_days: int = RESPONSE_WINDOW_DAYS) -> PlanDefaults:
    """The response rate of past campaigns and the data's margin where there are, else the assumptions
    (module doc); ``segment`` narrows the campaigns' customers."""
    as_of = resolve_as_of(dataset, as_of)
    values = {"window_days": int(window_days)}
    if dataset.has("campaigns"):
        responders, treated = observed_response(dataset, int(window_days), as_of, segment, config)
        if treated > 0:
            values.update(response_rate=round(responders / treated, 3), response_source="campaigns",
                          responders=responders, treated=treated)
    margin = observed_margin(dataset, as_of)
    if margin is not None:
        values.update(margin=round(margin, 2), margin_source="transactions")
    return PlanDefaults(**values)


# --------------------------------------------------------------------------- baseline

@dataclass(frozen=True, eq=False)
class Baseline:
    """Every customer of a segment with the model outputs and unit values (module doc).

    ``draws``: value column -> array (draws, customers) of the value under parameter draws of the
    models (empty when the parameter uncertainty could not be estimated, or when the baseline is
    larger than ``EAGER_DRAW_CUSTOMERS``: then ``draw_models`` holds the drawn model pairs and
    :func:`select_target` evaluates them for the contacted customers only). ``model_error`` /
    ``churn_error``: why the predictive / churn models could not be fitted (their columns are NaN).
    """

    customers: pd.DataFrame
    draws: Mapping[str, np.ndarray]
    as_of: dt.date
    horizon_months: int
    annual_discount: float
    model_error: str | None = None
    churn_error: str | None = None
    draw_models: tuple = ()
    days_per_unit: float = 7.0


def _if_alive(bg: BetaGeo, gg: GammaGamma, x, T, months: int, discount: float, days_per_unit: float):
    """(expected purchases, discounted expected purchases) over ``months`` of customers alive at T.

    Both through the public predictions divided by P(alive) (and by the spend per purchase, which
    ``customer_lifetime_value`` multiplies in) of the same customer had they bought at T, which is
    (b+x−1)/(a+b+x−1), or 1 for x = 0: never small, so the division is exact.
    """
    last, unit = np.where(x > 0, T, 0.0), np.ones_like(x)
    p = bg.p_alive(x, last, T)
    purchases = bg.expected_purchases(months * DAYS_PER_MONTH / days_per_unit, x, last, T) / p
    spend = gg.conditional_expected_average_spend(x, unit)
    discounted = customer_lifetime_value(bg, gg, x, last, T, unit, months, discount, 1.0, days_per_unit) / (spend * p)
    return purchases, discounted


def unit_values(bg: BetaGeo, gg: GammaGamma, frequency, recency, T, monetary, months: int,
                annual_discount: float = 0.10, days_per_unit: float = 7.0) -> dict[str, np.ndarray]:
    """The :data:`VALUE_COLUMNS` of purchasers (x, t_x, T, m in the models' time unit) over ``months``."""
    x, tx, t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    m = np.asarray(monetary, dtype=float)
    spend = gg.conditional_expected_average_spend(x, m)
    p_alive = bg.p_alive(x, tx, t)
    alive, alive_discounted = _if_alive(bg, gg, x, t, months, annual_discount, days_per_unit)
    after, after_discounted = _if_alive(bg, gg, x + 1, t, months, annual_discount, days_per_unit)
    p_after = bg.p_alive(x + 1, t, t)
    return {
        "purchase_value": spend * (1 + p_after * after - p_alive * alive),
        "purchase_value_discounted": spend * (1 + p_after * after_discounted - p_alive * alive_discounted),
        "alive_value": spend * alive,
        "alive_value_discounted": spend * alive_discounted,
        "spend_value": spend * p_alive * alive,
        "spend_value_discounted": spend * p_alive * alive_discounted,
    }


def first_purchase_value(bg: BetaGeo, gg: GammaGamma, months: int, annual_discount: float = 0.10,
                         days_per_unit: float = 7.0) -> tuple[float, float]:
    """(revenue, discounted revenue) over ``months`` of a prospect's first purchase: the mean spend per
    purchase × (1 + the expected repeat purchases of a new customer)."""
    spend = float(gg.conditional_expected_average_spend([0.0], [0.0])[0])
    month = np.arange(months + 1)
    cumulative = bg.expected_purchases_new(month * DAYS_PER_MONTH / days_per_unit)
    discounted = float(np.diff(cumulative) @ (1 + annual_discount) ** (-month[1:] / 12))
    return spend * (1 + float(cumulative[-1])), spend * (1 + discounted)


def _values(bg, gg, frame: pd.DataFrame, months, annual_discount, days_per_unit) -> dict[str, np.ndarray]:
    """The value columns for every row of ``frame`` (purchasers from their RFM, prospects from the population)."""
    buyer = frame["frequency"].notna().to_numpy()
    rows = frame[buyer]
    values = {name: np.full(len(frame), np.nan) for name in VALUE_COLUMNS}
    if buyer.any():
        for name, array in unit_values(bg, gg, rows["frequency"], rows["recency"], rows["T"], rows["monetary"],
                                       months, annual_discount, days_per_unit).items():
            values[name][buyer] = array
    first, first_discounted = first_purchase_value(bg, gg, months, annual_discount, days_per_unit)
    values["purchase_value"][~buyer], values["purchase_value_discounted"][~buyer] = first, first_discounted
    values["spend_value"][~buyer] = values["spend_value_discounted"][~buyer] = 0.0
    return values


def _hessian(gradient, theta: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Hessian by central differences of an analytic gradient, symmetrised."""
    columns = [(gradient(theta + step * e) - gradient(theta - step * e)) / (2 * step) for e in np.eye(theta.size)]
    hessian = np.column_stack(columns)
    return (hessian + hessian.T) / 2


def _normal_draws(theta: np.ndarray, gradient, count: int, rng: np.random.Generator) -> np.ndarray | None:
    """``count`` draws of the log-parameters from N(theta, (−Hessian)⁻¹); None where that is not a covariance."""
    try:
        covariance = np.linalg.inv(-_hessian(gradient, theta))
        factor = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return None
    return theta + rng.standard_normal((count, theta.size)) @ factor.T


def parameter_draws(bg: BetaGeo, gg: GammaGamma, summary: pd.DataFrame, count: int = PARAMETER_DRAWS,
                    seed: int = 0) -> list[tuple[BetaGeo, GammaGamma]]:
    """``count`` model pairs with parameters drawn from the asymptotic normal distribution of the
    log-parameters' maximum-likelihood estimates, on the ``summary`` the models were fitted on
    (its rows with T > 0); [] when a Hessian is not negative definite."""
    observed = summary[summary["T"] > 0]
    x, tx, t, m = (observed[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary"))
    rng = np.random.default_rng(seed)
    bg_names, gg_names = ("r", "alpha", "a", "b"), ("p", "q", "v")
    bg_theta = np.log([bg.params_[k] for k in bg_names])
    gg_theta = np.log([gg.params_[k] for k in gg_names])
    bg_likelihood = bg_log_likelihood_function(x, tx, t)  # the data compressed once for the 8 gradients
    gg_likelihood = gg_log_likelihood_function(x, m)
    bg_draws = _normal_draws(bg_theta, lambda th: bg_likelihood(th)[1], count, rng)
    gg_draws = _normal_draws(gg_theta, lambda th: gg_likelihood(th)[1], count, rng)
    if bg_draws is None or gg_draws is None:
        return []
    pairs = []
    for bg_theta_k, gg_theta_k in zip(bg_draws, gg_draws):
        bg_k, gg_k = BetaGeo(), GammaGamma()
        bg_k.params_ = dict(zip(bg_names, np.exp(bg_theta_k).tolist()))
        gg_k.params_ = dict(zip(gg_names, np.exp(gg_theta_k).tolist()))
        pairs.append((bg_k, gg_k))
    return pairs


def customer_baseline(dataset: Dataset, as_of=None, segment=None, config: LifecycleConfig | None = None,
                      horizon_months: int = 12, annual_discount: float = 0.10, time_unit: str = "weeks",
                      draws: int = PARAMETER_DRAWS, seed: int = 0, churn: bool = True) -> Baseline:
    """The :class:`Baseline` of the segment's customers at ``as_of`` (module doc): :data:`BASELINE_COLUMNS`
    and :data:`VALUE_COLUMNS`, one row per customer (prospects included), sorted by customer_id.

    The models are fitted on every purchaser of the dataset (``fitted_models``); the churn model is
    trained at as_of − churn_days (``churn=False`` skips it: no churn risk). Either may fail on thin data:
    its columns are then NaN and the reason is in ``model_error`` / ``churn_error``. The rows are those of
    :func:`whole_baseline` (computed once per dataset version) of the segment's customers.
    """
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    whole = whole_baseline(dataset, as_of, config, horizon_months, annual_discount, time_unit, draws, seed, churn)
    return _select_rows(whole, _segment_rows(dataset, whole, segment, config), copy=True)


def _segment_rows(dataset: Dataset, whole: Baseline, segment, config) -> np.ndarray | None:
    ids = segment_customers(dataset, segment, whole.as_of, config)
    return None if ids is None else cache.is_in(whole.customers["customer_id"], ids.execute()["customer_id"])


def _select_rows(whole: Baseline, keep: np.ndarray | None, copy: bool = False) -> Baseline:
    """The baseline of the rows ``keep`` (all when None) of ``whole``; draws are kept where they are finite
    wherever the estimate is, on these rows (e.g. not with q ≤ 1: no mean spend)."""
    frame = whole.customers if keep is None else whole.customers[keep].reset_index(drop=True)
    draws = {}
    if whole.draws:
        values = {name: frame[name].to_numpy() for name in VALUE_COLUMNS}
        chosen = {name: array if keep is None else array[:, keep] for name, array in whole.draws.items()}
        valid = np.ones(len(chosen[VALUE_COLUMNS[0]]), bool)
        for name in VALUE_COLUMNS:
            finite = np.isfinite(values[name])
            valid &= np.isfinite(chosen[name][:, finite]).all(axis=1)
        if valid.any():
            draws = {name: chosen[name][valid] for name in VALUE_COLUMNS}
    # pandas' copy-on-write: a shallow copy is the caller's own, the shared frame stays as it is
    return Baseline(frame.copy(deep=False) if copy else frame, draws, whole.as_of, whole.horizon_months,
                    whole.annual_discount, whole.model_error, whole.churn_error, whole.draw_models,
                    whole.days_per_unit)


def whole_baseline(dataset: Dataset, as_of=None, config: LifecycleConfig | None = None, horizon_months: int = 12,
                   annual_discount: float = 0.10, time_unit: str = "weeks", draws: int = PARAMETER_DRAWS,
                   seed: int = 0, churn: bool = True) -> Baseline:
    """The baseline of every customer of the dataset, computed once per dataset version and kept in memory and
    in the database (``clm_model_campaign_baseline``; shared: do not modify it). Its ``draws`` are not yet
    filtered for finiteness (:func:`customer_baseline` does that on the rows it selects)."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    text = cache.key_text(as_of=as_of, config=config.to_dict(), horizon_months=int(horizon_months),
                          annual_discount=float(annual_discount), time_unit=time_unit, draws=draws, seed=seed,
                          churn=churn)

    def compute() -> tuple[dict, pd.DataFrame]:
        baseline, pairs = _whole_baseline(dataset, as_of, config, horizon_months, annual_discount, time_unit, draws,
                                          seed, churn)
        return _baseline_document(baseline, pairs), baseline.customers

    def load() -> Baseline:
        document, frame = cache.stored(dataset, "campaign_baseline", text, compute, frame=True)
        return _baseline_from(document, frame)

    return _BASELINES.get((cache.dataset_key(dataset), text), load)


_BG, _GG = ("r", "alpha", "a", "b"), ("p", "q", "v")


def _baseline_document(baseline: Baseline, drawn) -> dict:
    """What the database keeps of a whole baseline besides its rows: the parameters of the drawn models (the
    values under them are computed again from these on reading, when the baseline holds them)."""
    return {"as_of": baseline.as_of.isoformat(), "horizon_months": baseline.horizon_months,
            "annual_discount": baseline.annual_discount, "model_error": baseline.model_error,
            "churn_error": baseline.churn_error, "days_per_unit": baseline.days_per_unit,
            "draw_models": [[[b.params_[k] for k in _BG], [g.params_[k] for k in _GG]] for b, g in drawn]}


def _baseline_from(document: dict, frame: pd.DataFrame) -> Baseline:
    pairs = []
    for bg_values, gg_values in document["draw_models"]:
        bg, gg = BetaGeo(), GammaGamma()
        bg.params_, gg.params_ = dict(zip(_BG, bg_values)), dict(zip(_GG, gg_values))
        pairs.append((bg, gg))
    months, discount, unit = document["horizon_months"], document["annual_discount"], document["days_per_unit"]
    draw_values = {}
    if pairs and len(frame) <= EAGER_DRAW_CUSTOMERS:
        per_draw = [_values(b, g, frame, months, discount, unit) for b, g in pairs]
        draw_values = {name: np.stack([v[name] for v in per_draw]) for name in VALUE_COLUMNS}
    baseline = Baseline(frame, draw_values, dt.date.fromisoformat(document["as_of"]), months, discount,
                        document["model_error"], document["churn_error"], () if draw_values else tuple(pairs), unit)
    return baseline


def _whole_baseline(dataset: Dataset, as_of: dt.date, config: LifecycleConfig, horizon_months: int,
                    annual_discount: float, time_unit: str, draws: int, seed: int, churn: bool
                    ) -> tuple[Baseline, tuple]:
    days_per_unit = TIME_UNITS[time_unit]
    stages = customer_stages(dataset, as_of, config).select("customer_id", "stage").order_by("customer_id").execute()
    fitted = value_models(dataset, as_of, time_unit)  # the Value page's, fitted once per dataset version
    if fitted.problem is None:
        models, model_error = fitted.models(), None
    else:
        try:
            models, model_error = fitted_models(dataset, as_of, time_unit), None
        except ModelError as exc:
            models, model_error = None, str(exc)
    predicted = predictive_clv(dataset, as_of, None, config, horizon_months, annual_discount, 1.0, time_unit,
                               models=models)
    risk, churn_error = pd.DataFrame({"customer_id": pd.Series(dtype=str), "churn_risk": pd.Series(dtype=float)}), None
    if churn:
        try:
            risk = churn_risk(dataset, as_of, config.churn_days, None, config)
        except ValueError as exc:
            churn_error = str(exc)
    frame = cache.left_join(stages, predicted, "customer_id")
    frame = cache.left_join(frame, risk[["customer_id", "churn_risk"]], "customer_id")
    frame = frame.reindex(columns=list(BASELINE_COLUMNS + VALUE_COLUMNS))
    if not frame["customer_id"].is_monotonic_increasing:  # the database sorted it already, as a rule
        frame = frame.sort_values("customer_id", ignore_index=True)
    draw_values: dict[str, np.ndarray] = {}
    pairs = []
    if models is not None:
        bg, gg = models
        buyer = frame["frequency"].notna()
        frame.loc[buyer, "expected_spend"] = gg.conditional_expected_average_spend(
            frame.loc[buyer, "frequency"], frame.loc[buyer, "monetary"])
        values = _values(bg, gg, frame, horizon_months, annual_discount, days_per_unit)
        for name, array in values.items():
            frame[name] = array
        pairs = parameter_draws(bg, gg, whole_summary(dataset, as_of, time_unit), draws, seed) if draws else []
        if pairs and len(frame) <= EAGER_DRAW_CUSTOMERS:
            per_draw = [_values(b, g, frame, horizon_months, annual_discount, days_per_unit) for b, g in pairs]
            draw_values = {name: np.stack([v[name] for v in per_draw]) for name in VALUE_COLUMNS}
    baseline = Baseline(frame, draw_values, as_of, int(horizon_months), float(annual_discount), model_error,
                        churn_error, () if draw_values else tuple(pairs), days_per_unit)
    return baseline, tuple(pairs)


# --------------------------------------------------------------------------- funnel

@dataclass(frozen=True)
class FunnelStage:
    """The customers a funnel-step campaign addresses and what a conversion leads to.

    ``candidates``: customers at the previous step who have not reached ``step``; ``conversion``: the
    observed conversion from the previous step; ``purchase_share``: the observed share of customers at
    ``step`` who go on to ``purchase_step`` (the first purchase milestone at or after it; 1 when ``step``
    is one, 0 when none follows).
    """

    step: str
    previous: str
    conversion: float
    purchase_step: str | None
    purchase_share: float
    candidates: tuple[str, ...]


def funnel_stage(dataset: Dataset, steps=DEFAULT_STEPS, step: int = 2, as_of=None, window_days: int = 365,
                 segment=None, config=None) -> FunnelStage:
    """The :class:`FunnelStage` of step ``step`` (1-based, ≥ 2) of the funnel ``steps`` (DESIGN §3.2)."""
    steps = [str(s) for s in steps]
    if not 2 <= step <= len(steps):
        raise ValueError(f"step must be from 2 to {len(steps)}")
    rates = funnel(dataset, steps, as_of, window_days, segment=segment, config=config)
    conversion = rates["conversion_from_previous"].to_numpy(float)
    later = [k for k in range(step - 1, len(steps)) if steps[k] in PURCHASE_STEPS]
    purchase_step = steps[later[0]] if later else None
    share = float(np.prod(conversion[step:later[0] + 1])) if later else 0.0
    dropped = dropped_customers(dataset, steps, step, as_of, window_days, segment=segment, config=config)
    return FunnelStage(steps[step - 1], steps[step - 2], float(conversion[step - 1]), purchase_step,
                       share if math.isfinite(share) else 0.0, tuple(dropped["customer_id"].astype(str)))


# --------------------------------------------------------------------------- target

def _in_range(values: pd.Series, bounds) -> pd.Series:
    if bounds is None:
        return pd.Series(True, index=values.index)
    return values.between(*bounds) & values.notna()


def matches(customers: pd.DataFrame, stages=(), churn_risk=None, p_alive=None, clv=None) -> pd.Series:
    """Rows of a baseline frame in ``stages`` (all when empty) and within the (low, high) ranges given."""
    keep = customers["stage"].isin(list(stages)) if stages else pd.Series(True, index=customers.index)
    for column, bounds in (("churn_risk", churn_risk), ("p_alive", p_alive), ("predicted_clv", clv)):
        keep &= _in_range(customers[column], _range(bounds))
    return keep


def target_customers(dataset: Dataset, as_of=None, segment=None, config=None, stages=(), churn_risk=None,
                     p_alive=None, clv=None, horizon_months: int = 12) -> pd.DataFrame:
    """The baseline rows (:data:`BASELINE_COLUMNS`, :data:`VALUE_COLUMNS`) of the segment's customers in
    ``stages`` and the churn-risk, P(alive) and predicted-CLV ranges."""
    baseline = customer_baseline(dataset, as_of, segment, config, horizon_months, draws=0)
    customers = baseline.customers
    return customers[matches(customers, stages, churn_risk, p_alive, clv)].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Target:
    """What simulate needs of the contacted customers: per customer, the revenue and the discounted
    revenue (margin 1) of one unit of effect (a conversion, a retained customer, +100 % spend), the cap
    on the effect (churn risk, retention only), the share of conversions that reach a purchase, and the
    values under parameter draws (draws × customers) — or ``draw_values(positions)``, which gives them
    (revenue, discounted revenue; draws × positions) for the customers at ``positions``, evaluated on a
    sample of each bucket of customers (``DRAW_SAMPLE``) when the simulation runs. ``customers``/``matched``:
    for display."""

    revenue: np.ndarray
    clv: np.ndarray
    cap: np.ndarray | None = None
    purchase_share: float = 1.0
    revenue_draws: np.ndarray | None = None
    clv_draws: np.ndarray | None = None
    customers: pd.DataFrame | None = None
    matched: int | None = None
    draw_values: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        for name in ("revenue", "clv", "cap"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, np.asarray(value, dtype=float).ravel())
        if self.clv.shape != self.revenue.shape or (self.cap is not None and self.cap.shape != self.revenue.shape):
            raise ValueError("revenue, clv and cap need one value per customer")
        if not (np.isfinite(self.revenue).all() and np.isfinite(self.clv).all()):
            raise ValueError("the customers' values are not all finite (were the models fitted?)")
        if not 0 <= self.purchase_share <= 1:
            raise ValueError("purchase_share is a share between 0 and 1")

    @property
    def size(self) -> int:
        return int(self.revenue.size)


def select_target(baseline: Baseline, scenario: Scenario, funnel: FunnelStage | None = None) -> Target:
    """The customers of ``baseline`` the scenario contacts: its target, narrowed to those its action
    addresses (table in the module doc); ``funnel`` is required for funnel_uplift."""
    if baseline.horizon_months != scenario.horizon_months:
        raise ValueError(f"the baseline is for {baseline.horizon_months} months, the scenario for "
                         f"{scenario.horizon_months}")
    customers = baseline.customers
    matched = matches(customers, scenario.stages, scenario.churn_risk, scenario.p_alive, scenario.clv)
    action = scenario.action
    if action in ACTION_STAGES:
        eligible = customers["stage"].isin(ACTION_STAGES[action])
    elif action == "funnel_uplift":
        if funnel is None:
            raise ValueError("funnel_uplift needs the funnel stage (funnel_stage) of the scenario's step")
        eligible = customers["customer_id"].isin(funnel.candidates)
    elif action == "order_value":
        eligible = customers["frequency"].notna()
    else:
        eligible = customers["churn_risk"].notna()
    keep = (matched & eligible).to_numpy()
    if keep.any() and baseline.model_error:
        raise ValueError(f"the predictive models could not be fitted: {baseline.model_error}")
    column = ACTIONS[action][0]
    draws = {name: baseline.draws[name][:, keep] for name in (column, column + "_discounted")
             if name in baseline.draws}
    chosen = customers[keep].reset_index(drop=True)
    lazy = None
    if not draws and baseline.draw_models and len(chosen) and baseline.model_error is None:
        lazy = _draw_values(baseline, chosen, column)
    return Target(
        revenue=chosen[column].to_numpy(float),
        clv=chosen[column + "_discounted"].to_numpy(float),
        cap=chosen["churn_risk"].to_numpy(float) if scenario.kind == "retention" else None,
        purchase_share=funnel.purchase_share if action == "funnel_uplift" else 1.0,
        revenue_draws=draws.get(column),
        clv_draws=draws.get(column + "_discounted"),
        customers=chosen,
        matched=int(matched.sum()),
        draw_values=lazy,
    )


def _draw_values(baseline: Baseline, chosen: pd.DataFrame, column: str):
    """``Target.draw_values`` of the ``chosen`` rows of a baseline that keeps its parameter draws as models:
    the draws that are finite wherever the estimate is, on the rows asked for."""

    def values(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = chosen.iloc[positions].reset_index(drop=True)
        point = {name: rows[name].to_numpy() for name in VALUE_COLUMNS}
        kept = []
        for bg, gg in baseline.draw_models:
            v = _values(bg, gg, rows, baseline.horizon_months, baseline.annual_discount, baseline.days_per_unit)
            if all(np.isfinite(v[n])[np.isfinite(point[n])].all() for n in VALUE_COLUMNS):
                kept.append(v)
        if not kept:
            return np.empty((0, len(rows))), np.empty((0, len(rows)))
        return np.stack([v[column] for v in kept]), np.stack([v[column + "_discounted"] for v in kept])

    return values


# --------------------------------------------------------------------------- expectation

def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """u · v without BLAS, whose threads stall on a busy machine (as in clm_core.models.btyd)."""
    return float(np.einsum("i,i->", u, v))


def _mean_capped(low: float, high: float, cap: np.ndarray) -> np.ndarray:
    """E[min(e, cap)] for e ~ Uniform(low, high) (e = low when low = high)."""
    if high <= low:
        return np.minimum(low, cap)
    inside = np.clip(cap, low, high)
    # ∫_low^c e de + c (high − c), over (high − low); c below low gives cap itself
    mean = ((inside**2 - low**2) / 2 + inside * (high - inside)) / (high - low)
    return np.where(cap <= low, cap, mean)


def _expected_units(target: Target, scenario: Scenario, low: float, high: float) -> np.ndarray:
    """Per customer: the expected converted (retained) customers, or for spend the expected effect ×
    responders, when the effect is uniform on [low, high]."""
    r = scenario.response_rate
    if scenario.kind == "retention":
        return r * _mean_capped(low, high, target.cap)
    share = target.purchase_share if scenario.kind == "conversion" else 1.0
    return np.full(target.size, r * share * (low + high) / 2)


def expected(target: Target, scenario: Scenario, low: float | None = None, high: float | None = None) -> dict:
    """Exact expectations at the models' point estimates: incremental_purchasers, incremental_revenue,
    incremental_clv (margin applied), roi; for the scenario's effect range or [low, high]."""
    low = scenario.effect_low if low is None else low
    high = scenario.effect_high if high is None else high
    units = _expected_units(target, scenario, low, high)
    cost = campaign_cost(target, scenario)
    clv = scenario.margin * _dot(units, target.clv)
    return {
        "incremental_purchasers": 0.0 if scenario.kind == "spend" else float(units.sum()),
        "incremental_revenue": _dot(units, target.revenue),
        "incremental_clv": clv,
        "roi": (clv - cost) / cost if cost > 0 else math.nan,
    }


def campaign_cost(target: Target, scenario: Scenario) -> float:
    return target.size * scenario.cost_per_contact + scenario.fixed_cost


def break_even_effect(target: Target, scenario: Scenario) -> float | None:
    """The effect at which the expected incremental CLV equals the cost (expected ROI 0); None when no
    effect up to 100 pp (probabilities) breaks even."""
    cost = campaign_cost(target, scenario)
    if cost == 0:
        return 0.0

    def value(effect: float) -> float:
        return expected(target, scenario, effect, effect)["incremental_clv"]

    if scenario.kind != "retention":  # linear in the effect
        per_unit = value(1.0)
        if per_unit <= 0 or (scenario.kind == "conversion" and cost > per_unit):
            return None
        return cost / per_unit
    low, high = 0.0, 1.0
    if value(high) < cost:
        return None
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if value(middle) < cost else (low, middle)
    return (low + high) / 2


# --------------------------------------------------------------------------- Monte Carlo

@dataclass(frozen=True)
class _Buckets:
    size: np.ndarray          # customers per bucket (B,)
    revenue: np.ndarray       # mean value per bucket, one row per parameter draw (R, B)
    clv: np.ndarray
    revenue_var: np.ndarray   # variance of the values within the bucket (B,)
    clv_var: np.ndarray
    cap: np.ndarray           # mean cap (B,)


def _buckets(target: Target, by_cap: bool, count: int = MAX_BUCKETS) -> _Buckets:
    """Equal-count buckets of customers sorted by value (or by cap): the sufficient statistics."""
    key = target.cap if by_cap else target.revenue
    order = np.argsort(key, kind="stable")
    n = target.size
    count = min(count, n)
    starts = np.unique(np.arange(count) * n // count)
    size = np.diff(np.append(starts, n))

    def means(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[..., order], starts, axis=-1) / size

    def variance(values: np.ndarray, mean: np.ndarray) -> np.ndarray:
        return np.add.reduceat((values[order] - np.repeat(mean, size)) ** 2, starts) / size

    def per_draw(draws: np.ndarray | None, point: np.ndarray) -> np.ndarray:
        return means(draws) if draws is not None and len(draws) else point[None]

    revenue, clv = means(target.revenue), means(target.clv)
    cap = means(target.cap) if target.cap is not None else np.ones(size.size)
    if target.revenue_draws is None and target.draw_values is not None:
        revenue_draws, clv_draws = _sampled_draw_means(target, order, starts, size, revenue, clv)
    else:
        revenue_draws, clv_draws = per_draw(target.revenue_draws, revenue), per_draw(target.clv_draws, clv)
    return _Buckets(size, revenue_draws, clv_draws, variance(target.revenue, revenue), variance(target.clv, clv), cap)


def _sampled_draw_means(target: Target, order: np.ndarray, starts: np.ndarray, size: np.ndarray,
                        revenue: np.ndarray, clv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and bucket the mean value (draws × buckets), from ``Target.draw_values`` on at most
    ``DRAW_SAMPLE`` customers of each bucket, evenly spread over its order: the bucket's mean value times the
    ratio of the sample's mean under the draw to its mean at the estimate (the sample's mean itself where that
    is 0; exactly the bucket's mean under the draw when the sample is the whole bucket)."""
    picks = []
    for start, count in zip(starts, size):
        members = order[start:start + count]
        if count > DRAW_SAMPLE:
            members = members[np.unique(np.linspace(0, count - 1, DRAW_SAMPLE).round().astype(np.intp))]
        picks.append(members)
    lengths = np.array([len(p) for p in picks])
    bounds = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    positions = np.concatenate(picks)
    revenue_draws, clv_draws = target.draw_values(positions)
    if not len(revenue_draws):
        return revenue[None], clv[None]

    def scaled(draws: np.ndarray, values: np.ndarray, mean: np.ndarray) -> np.ndarray:
        sample_draws = np.add.reduceat(draws, bounds, axis=1) / lengths
        sample = np.add.reduceat(values[positions], bounds) / lengths
        whole = lengths == size
        ratio = np.divide(mean, sample, out=np.ones_like(mean), where=(sample != 0) & ~whole)
        return np.where((sample != 0) & ~whole, sample_draws * ratio, sample_draws)

    return scaled(revenue_draws, target.revenue, revenue), scaled(clv_draws, target.clv, clv)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """``summary``: one row per measure (:data:`MEASURES`) with expected, low, high (the 5 % and 95 %
    quantiles of the simulations; NaN for fixed figures); loss_probability = share of simulations whose
    incremental CLV stays below the cost. ``samples``: one row per simulation with
    effect, incremental_purchasers, incremental_revenue, incremental_clv, roi."""

    scenario: Scenario
    summary: pd.DataFrame
    samples: pd.DataFrame

    def expected(self, measure: str) -> float:
        return float(self.summary.loc[measure, "expected"])

    def interval(self, measure: str) -> tuple[float, float]:
        row = self.summary.loc[measure]
        return float(row["low"]), float(row["high"])


def simulate(target: Target, scenario: Scenario, n_sims: int = 10_000, seed: int = 0) -> SimulationResult:
    """Monte Carlo of the scenario on the target (module doc); reproducible for a given seed."""
    if n_sims < 1:
        raise ValueError("n_sims must be at least 1")
    rng = np.random.default_rng(seed)
    low, high = scenario.effect_low, scenario.effect_high
    effect = rng.uniform(low, high, n_sims) if high > low else np.full(n_sims, low)
    cost = campaign_cost(target, scenario)
    if target.size:
        b = _buckets(target, by_cap=scenario.kind == "retention")
        responders = rng.binomial(b.size, scenario.response_rate, (n_sims, b.size.size))
        if scenario.kind == "spend":  # every responder spends more: the effect scales their value
            units, scale = responders, effect
        else:
            chance = (np.minimum(effect[:, None], b.cap) if scenario.kind == "retention"
                      else effect[:, None] * target.purchase_share)
            units, scale = rng.binomial(responders, chance), np.ones(n_sims)
        draw = rng.integers(b.revenue.shape[0], size=n_sims)
        noise = rng.standard_normal(n_sims)
        fpc = np.clip((b.size - units) / np.maximum(b.size - 1, 1), 0, 1)
        revenue = scale * (np.einsum("sb,sb->s", units, b.revenue[draw])
                           + noise * np.sqrt(np.einsum("sb,b->s", units * fpc, b.revenue_var)))
        clv = scenario.margin * scale * (np.einsum("sb,sb->s", units, b.clv[draw])
                                         + noise * np.sqrt(np.einsum("sb,b->s", units * fpc, b.clv_var)))
        purchasers = units.sum(axis=1) if scenario.kind != "spend" else np.zeros(n_sims, dtype=int)
    else:
        revenue = clv = np.zeros(n_sims)
        purchasers = np.zeros(n_sims, dtype=int)
    roi = (clv - cost) / cost if cost > 0 else np.full(n_sims, np.nan)
    samples = pd.DataFrame({"effect": effect, "incremental_purchasers": purchasers, "incremental_revenue": revenue,
                            "incremental_clv": clv, "roi": roi})
    point = expected(target, scenario)
    even = break_even_effect(target, scenario)
    fixed = {"contacted": target.size, "responders": target.size * scenario.response_rate, "cost": cost,
             "loss_probability": float((clv < cost).mean()), "break_even_effect": math.nan if even is None else even}
    rows = [(fixed[m], math.nan, math.nan) if m in fixed else (point[m], *np.percentile(samples[m], QUANTILES))
            for m in MEASURES]
    summary = pd.DataFrame(rows, index=list(MEASURES), columns=["expected", "low", "high"])
    return SimulationResult(scenario, summary, samples)


# --------------------------------------------------------------------------- a scenario for the page

#: the contacted customers a plan lists (the first ones by customer_id)
TABLE_ROWS = 1000
PLAN_COLUMNS = ("customer_id", "stage", "p_alive", "expected_purchases", "expected_spend", "predicted_clv",
                "churn_risk")


@dataclass(frozen=True, eq=False)
class Plan:
    """What the Campaigns page shows of one scenario, result-sized: the simulation (``result``; None with
    ``error``, why the target could not be chosen), the numbers of contacted and matched customers, the
    first ``TABLE_ROWS`` contacted customers (``customers``: PLAN_COLUMNS and the action's value column),
    the funnel step (``funnel``, its candidates left out, ``funnel_candidates`` of them) and the models'
    errors."""

    scenario: Scenario
    result: SimulationResult | None
    contacted: int
    matched: int
    customers: pd.DataFrame
    funnel: FunnelStage | None = None
    funnel_candidates: int = 0
    model_error: str | None = None
    churn_error: str | None = None
    error: str | None = None


def plan(dataset: Dataset, as_of=None, segment=None, config: LifecycleConfig | None = None, scenario=None,
         n_sims: int = 10_000, seed: int = 0, rows: int = TABLE_ROWS) -> Plan:
    """Simulate ``scenario`` (a :class:`Scenario` or its ``to_params``, as a mapping or (name, values)
    pairs) on the segment's customers: :func:`select_target` on the rows of :func:`whole_baseline` (computed
    once per dataset version) and :func:`simulate`."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    if scenario is None:
        scenario = Scenario()
    elif not isinstance(scenario, Scenario):
        scenario = Scenario.from_params(dict(scenario))
    whole = whole_baseline(dataset, as_of, config, scenario.horizon_months)
    baseline = _select_rows(whole, _segment_rows(dataset, whole, segment, config))
    stage = (funnel_stage(dataset, scenario.funnel_steps, scenario.funnel_step, as_of, segment=segment,
                          config=config) if scenario.action == "funnel_uplift" else None)
    column = ACTIONS[scenario.action][0]
    empty = pd.DataFrame(columns=[*PLAN_COLUMNS, column])
    shown_stage = None if stage is None else FunnelStage(stage.step, stage.previous, stage.conversion,
                                                         stage.purchase_step, stage.purchase_share, ())
    common = dict(funnel=shown_stage, funnel_candidates=0 if stage is None else len(stage.candidates),
                  model_error=baseline.model_error, churn_error=baseline.churn_error)
    try:
        target = select_target(baseline, scenario, stage)
    except ValueError as exc:
        return Plan(scenario, None, 0, 0, empty, error=str(exc), **common)
    result = simulate(target, scenario, n_sims=n_sims, seed=seed)
    shown = target.customers[[*PLAN_COLUMNS, column]].head(rows).reset_index(drop=True)
    return Plan(scenario, result, target.size, int(target.matched), shown, **common)
