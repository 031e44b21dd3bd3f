"""The predictive models over a dataset in result-sized pieces, for the Customer value page.

Each dataset function takes the dataset first and the keywords of ``clm_ui.data.metric``
(``as_of``, ``segment``, ``config``), so a page can register and cache it. Models that cannot
be fitted do not raise: the reason travels with the result as a :class:`Problem` (``problem``
field, or ``frame.attrs["problem"]``), so the page can explain it and show the rest.

- ``value_models``: BG/NBD and Gamma-Gamma fitted once on every purchaser at as_of (the whole
  customer base, whatever the segment) and kept as parameters, a hashable cache key for
  ``predicted_value`` — changing the horizon, discount or margin does not refit.
- ``holdout_check``: the models refitted on the data up to as_of − hold-out, their predicted
  purchases in the hold-out against the actual ones, by calibration frequency.
- ``churn_ranking`` / ``churn_evaluation``: the churn model with churn_days from the lifecycle
  configuration. The ranking's model trains at as_of − churn_days (labels known by as_of); the
  evaluation trains at as_of − 2·churn_days and is scored at as_of − churn_days against the
  BG/NBD P(alive) baseline, so no label looks past as_of.
- ``risk_ranking`` / ``value_at_risk``: the ranking joined to the segment's customers and their
  predictions; the valuable customers among the risky ones.

At scale (issue [5]) the page asks for result-sized pieces — :func:`prediction_overview`,
:func:`risk_overview`, :func:`category_overview` — which take their per-customer inputs from results
computed once per dataset version for the whole dataset (the RFM summary, the churn ranking, the
category suggestions) and select the segment's rows; :func:`value_models`, :func:`holdout_check`,
:func:`churn_evaluation` and :func:`category_pairs` are kept in memory and in the database
(``clm_core.models.cache``) per dataset version. Long per-customer lists come back as their first
``TABLE_ROWS`` rows and their length.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from clm_core.config import LifecycleConfig
from clm_core.metrics.common import day_of, resolve_as_of, segment_customers
from clm_core.models import cache
from clm_core.models.btyd import BetaGeo, ConvergenceWarning, GammaGamma
from clm_core.models.churn import (MAX_CUSTOMERS, RANKING_COLUMNS, ChurnEvaluation, ChurnModel, churn_risk,
                                   release_features)
from clm_core.models.cross_sell import category_lift, next_best_category, whole_suggestions
from clm_core.models.predictive import (MIN_REPEAT_CUSTOMERS, ModelError, fitted_models, holdout_comparison,
                                        p_alive_matrix, predictive_clv, segment_summary, whole_summary)
from clm_core.store import Dataset

#: "valuable" = in the top VALUE_SHARE of the segment's purchasers by historic value or by predicted CLV
VALUE_SHARE = 0.2
#: at most this many frequency rows in the P(alive) heatmap
MAX_HEATMAP_FREQUENCY = 30
#: per-customer lists for the page: their first TABLE_ROWS rows (and how many there are)
TABLE_ROWS = 1000
#: the churn model learns from at most this many customers (a stratified sample above it)
CHURN_SAMPLE = MAX_CUSTOMERS

_DOCUMENTS = cache.Memo(32)  # small results (models, checks) of (dataset version, kind, key)
_PREDICTIONS = cache.Memo(1)  # predicted_value of (dataset version, models, segment, parameters)


@dataclass(frozen=True)
class Problem:
    """Why a model could not be fitted: ``code`` one of no_purchases, no_repeat, short_history,
    no_category, no_rules, model (anything else; ``detail`` has the model's message); ``since`` is the
    day before which short_history wanted purchases."""

    code: str
    detail: str = ""
    since: dt.date | None = None

    def to_dict(self) -> dict:
        return {"code": self.code, "detail": self.detail, "since": self.since.isoformat() if self.since else None}

    @classmethod
    def from_dict(cls, values: dict | None) -> Problem | None:
        if values is None:
            return None
        since = values.get("since")
        return cls(values["code"], values.get("detail", ""), dt.date.fromisoformat(since) if since else None)


def _document(dataset: Dataset, kind: str, compute, encode, decode, **key):
    """``compute()``, kept per dataset version in memory and in the database as ``encode(result)`` (JSON);
    ``decode`` restores it exactly."""
    text = cache.key_text(**key)

    def load():
        document, _ = cache.stored(dataset, kind, text, lambda: (encode(compute()), None))
        return decode(document)

    return _DOCUMENTS.get((cache.dataset_key(dataset), kind, text), load)


def _problem_frame(columns, problem: Problem) -> pd.DataFrame:
    frame = pd.DataFrame(columns=list(columns))
    frame.attrs["problem"] = problem
    return frame


def first_purchase_day(dataset: Dataset) -> dt.date | None:
    """The earliest purchase day of the dataset (None without purchases)."""
    days = dataset.require("customer_days")
    first = days.filter(days.purchases > 0).day.min().execute()
    return None if first is None or pd.isna(first) else pd.Timestamp(first).date()


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day where it is shorter)."""
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


# --------------------------------------------------------------------------- BG/NBD and Gamma-Gamma

@dataclass(frozen=True)
class ValueModels:
    """BG/NBD and Gamma-Gamma parameters fitted on every purchaser at ``as_of`` (time_unit days or weeks),
    the purchasers and repeat customers they were fitted on, the fit's warnings, or the ``problem``.
    ``correlated`` when the correlation exceeds ``GammaGamma.CORRELATION_LIMIT``."""

    as_of: dt.date
    time_unit: str
    purchasers: int = 0
    repeat_customers: int = 0
    bg_params: tuple[tuple[str, float], ...] = ()
    gg_params: tuple[tuple[str, float], ...] = ()
    correlation: float = 0.0  # of frequency and monetary among the repeat customers (Gamma-Gamma assumes 0)
    notes: tuple[str, ...] = ()  # the optimiser's warnings
    problem: Problem | None = None

    @property
    def correlated(self) -> bool:
        return abs(self.correlation) > GammaGamma.CORRELATION_LIMIT

    def models(self) -> tuple[BetaGeo, GammaGamma]:
        """The fitted BetaGeo and GammaGamma models."""
        if self.problem is not None:
            raise ModelError(f"the models could not be fitted: {self.problem.detail}")
        bg, gg = BetaGeo(), GammaGamma()
        bg.params_, gg.params_ = dict(self.bg_params), dict(self.gg_params)
        return bg, gg


def _encode_models(models: ValueModels) -> dict:
    return {"as_of": models.as_of.isoformat(), "time_unit": models.time_unit, "purchasers": models.purchasers,
            "repeat_customers": models.repeat_customers, "bg_params": [list(p) for p in models.bg_params],
            "gg_params": [list(p) for p in models.gg_params], "correlation": models.correlation,
            "notes": list(models.notes), "problem": models.problem.to_dict() if models.problem else None}


def _decode_models(values: dict) -> ValueModels:
    return ValueModels(
        as_of=dt.date.fromisoformat(values["as_of"]), time_unit=values["time_unit"], purchasers=values["purchasers"],
        repeat_customers=values["repeat_customers"], bg_params=tuple((k, v) for k, v in values["bg_params"]),
        gg_params=tuple((k, v) for k, v in values["gg_params"]), correlation=values["correlation"],
        notes=tuple(values["notes"]), problem=Problem.from_dict(values["problem"]))


def value_models(dataset: Dataset, as_of=None, time_unit: str = "weeks", segment=None, config=None) -> ValueModels:
    """BG/NBD and Gamma-Gamma on every purchaser at ``as_of`` (``segment`` and ``config`` are ignored: the
    models describe the whole customer base; predictions are then made for a segment). Fitted once per
    dataset version (kept in memory and in the database)."""
    as_of = resolve_as_of(dataset, as_of)
    return _document(dataset, "value_models", lambda: _fit_value_models(dataset, as_of, time_unit), _encode_models,
                     _decode_models, as_of=as_of, time_unit=time_unit)


def _fit_value_models(dataset: Dataset, as_of: dt.date, time_unit: str) -> ValueModels:
    summary = whole_summary(dataset, as_of, time_unit)
    counts = dict(as_of=as_of, time_unit=time_unit, purchasers=len(summary),
                  repeat_customers=int(((summary["frequency"] > 0) & (summary["T"] > 0)).sum()))
    if counts["purchasers"] == 0:
        return ValueModels(**counts, problem=Problem("no_purchases"))
    if counts["repeat_customers"] < MIN_REPEAT_CUSTOMERS:
        return ValueModels(**counts, problem=Problem(
            "no_repeat", f"{counts['repeat_customers']} customers with repeat purchases, at least "
                         f"{MIN_REPEAT_CUSTOMERS} needed"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bg, gg = fitted_models(dataset, as_of, time_unit)
        except ModelError as exc:
            return ValueModels(**counts, problem=Problem("model", str(exc)))
    notes = dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning))
    return ValueModels(**counts, bg_params=tuple(bg.params_.items()), gg_params=tuple(gg.params_.items()),
                       correlation=float(gg.correlation_), notes=tuple(notes))


def predicted_value(dataset: Dataset, models: ValueModels, as_of=None, segment=None, config=None,
                    horizon_months: int = 12, annual_discount: float = 0.10, margin: float = 1.0) -> pd.DataFrame:
    """``predictive_clv`` for the segment's purchasers with the fitted ``models`` (no refit)."""
    as_of = resolve_as_of(dataset, as_of)
    if as_of != models.as_of:
        raise ValueError(f"the models were fitted at {models.as_of}, not at {as_of}")
    return predictive_clv(dataset, as_of, segment, config, horizon_months, annual_discount, margin,
                          models.time_unit, models=models.models())


def purchase_margin(dataset: Dataset, as_of=None, segment=None, config=None) -> float | None:
    """Σ amount × margin / Σ amount over the purchases (amount > 0) up to ``as_of`` of the whole dataset
    (a missing margin counts as 1, as in the historic value); None without a margin column."""
    t = dataset.require("transactions")
    if "margin" not in t.columns:
        return None
    t = t.filter(t.amount > 0, day_of(t.ordered_at) <= ibis.literal(resolve_as_of(dataset, as_of)))
    totals = t.aggregate(amount=t.amount.sum(), value=(t.amount * t.margin.fill_null(1.0)).sum()).execute()
    amount, value = totals["amount"].iloc[0], totals["value"].iloc[0]
    return None if pd.isna(amount) or amount <= 0 else float(value / amount)


def p_alive_grid(models: ValueModels, predictions: pd.DataFrame, points: int = 40) -> pd.DataFrame | None:
    """``p_alive_matrix`` for a customer observed as long as the longest-observed purchaser of
    ``predictions``, frequencies 0 … their 99th percentile (at least 1, at most MAX_HEATMAP_FREQUENCY);
    None when nobody was observed for any time."""
    T = float(predictions["T"].max()) if len(predictions) else 0.0
    if not T > 0:
        return None
    top = math.ceil(float(np.quantile(predictions["frequency"], 0.99)))
    return p_alive_matrix(models.models()[0], min(max(top, 1), MAX_HEATMAP_FREQUENCY), T, points=points)


def value_bins(values, bins: int = 30, quantile: float = 0.99) -> pd.DataFrame:
    """Histogram of ``values``: lower, upper, customers in ``bins`` equal bins from min(0, min) to the
    ``quantile``; the values above it are counted in the last bin, whose ``upper`` is the maximum."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return pd.DataFrame({"lower": [], "upper": [], "customers": []})
    low, high = min(0.0, float(values.min())), float(np.quantile(values, quantile))
    if high <= low:
        high = float(values.max()) if values.max() > low else low + 1.0
    edges = np.linspace(low, high, bins + 1)
    counts = np.histogram(np.clip(values, low, high), edges)[0]
    upper = edges[1:].copy()
    upper[-1] = max(high, float(values.max()))
    return pd.DataFrame({"lower": edges[:-1], "upper": upper, "customers": counts})


def holdout_check(dataset: Dataset, as_of=None, months: int = 12, time_unit: str = "weeks", segment=None,
                  config=None) -> pd.DataFrame:
    """``holdout_comparison`` with the hold-out (as_of − months, as_of], shortened to half of the purchase
    history so the models see at least as much data as they predict. attrs: calibration_end, holdout_end,
    predicted_total and actual_total (purchase days in the hold-out over all customers), problem (None,
    short_history — then only problem —, no_repeat or model). Once per dataset version (kept in memory and
    in the database); the frame is a new one on every call."""
    as_of = resolve_as_of(dataset, as_of)
    frame = _document(dataset, "holdout", lambda: _holdout(dataset, as_of, months, time_unit), _encode_frame,
                      _decode_frame, as_of=as_of, months=months, time_unit=time_unit)
    return frame.copy()


def _encode_frame(frame: pd.DataFrame) -> dict:
    attrs = {k: (v.isoformat() if isinstance(v, dt.date) else v.to_dict() if isinstance(v, Problem) else v)
             for k, v in frame.attrs.items()}
    return {"columns": list(frame.columns), "dtypes": [str(t) for t in frame.dtypes],
            "values": {c: frame[c].tolist() for c in frame.columns}, "attrs": attrs}


_DATES = ("calibration_end", "holdout_end")


def _decode_frame(values: dict) -> pd.DataFrame:
    columns = values["columns"]
    frame = pd.DataFrame({c: values["values"][c] for c in columns}, columns=columns).astype(
        dict(zip(columns, values["dtypes"])))
    attrs = dict(values["attrs"])
    for name in _DATES:
        if attrs.get(name):
            attrs[name] = dt.date.fromisoformat(attrs[name])
    if "problem" in attrs:
        attrs["problem"] = Problem.from_dict(attrs["problem"])
    frame.attrs.update(attrs)
    return frame


def _holdout(dataset: Dataset, as_of: dt.date, months: int, time_unit: str) -> pd.DataFrame:
    first = first_purchase_day(dataset)
    columns = ("frequency", "customers", "predicted_purchases", "actual_purchases")
    if first is None or (as_of - first).days < 2:
        return _problem_frame(columns, Problem("short_history", since=as_of))
    calibration_end = max(months_before(as_of, months), first + (as_of - first) / 2)
    try:
        frame, problem = holdout_comparison(dataset, calibration_end, as_of, time_unit), None
    except ModelError as exc:
        frame, problem = pd.DataFrame(columns=list(columns)), Problem("no_repeat", str(exc))
    except ValueError as exc:
        frame, problem = pd.DataFrame(columns=list(columns)), Problem("model", str(exc))
    frame.attrs.update(calibration_end=calibration_end, holdout_end=as_of, problem=problem,
                       predicted_total=float((frame["customers"] * frame["predicted_purchases"]).sum()),
                       actual_total=float((frame["customers"] * frame["actual_purchases"]).sum()))
    return frame


# --------------------------------------------------------------------------- churn

def _churn_days(config: LifecycleConfig | None) -> int:
    return (config or LifecycleConfig()).churn_days


def _history_problem(dataset: Dataset, training_cutoff: dt.date, need_days: int) -> Problem | None:
    first = first_purchase_day(dataset)
    if first is None:
        return Problem("no_purchases")
    if first >= training_cutoff:
        return Problem("short_history", f"the training cutoff {training_cutoff} needs purchases before it "
                                        f"({need_days} days before the as-of date); the first is on {first}",
                       since=training_cutoff)
    return None


def churn_ranking(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """``churn_risk`` with churn_days from ``config``: the segment's not-yet-churned purchasers, riskiest
    first (columns ``RANKING_COLUMNS``); attrs: trained_at (the training cutoff, as_of − churn_days) and
    problem (None or why the model could not be trained)."""
    as_of = resolve_as_of(dataset, as_of)
    churn_days = _churn_days(config)
    problem = _history_problem(dataset, as_of - dt.timedelta(days=churn_days), churn_days)
    if problem is None:
        try:
            ranking = churn_risk(dataset, as_of, churn_days, segment, config)
        except ValueError as exc:
            problem = Problem("model", str(exc))
        else:
            ranking.attrs.update(problem=None, trained_at=as_of - dt.timedelta(days=churn_days))
            return ranking
    return _problem_frame(RANKING_COLUMNS, problem)


@dataclass(frozen=True)
class ChurnCheck:
    """The churn model's ``evaluation`` on the later cutoff, or the ``problem`` that prevented it."""

    evaluation: ChurnEvaluation | None = None
    problem: Problem | None = None

    def verdict(self, tolerance: float = 0.01) -> str | None:
        """How the churn model ranks against the P(alive) baseline: better, similar (ROC AUCs within
        ``tolerance``) or worse; None without both."""
        if self.evaluation is None or self.evaluation.baseline_roc_auc is None:
            return None
        gain = self.evaluation.roc_auc - self.evaluation.baseline_roc_auc
        return "better" if gain > tolerance else "worse" if gain < -tolerance else "similar"


def churn_evaluation(dataset: Dataset, as_of=None, segment=None, config=None) -> ChurnCheck:
    """Train at as_of − 2·churn_days, evaluate at as_of − churn_days on the purchasers not churned yet
    (those the ranking covers) against the P(alive) baseline; the whole dataset, whatever the segment.
    Once per dataset version (kept in memory and in the database)."""
    as_of = resolve_as_of(dataset, as_of)
    config = config or LifecycleConfig()
    return _document(dataset, "churn_check", lambda: _churn_check(dataset, as_of, config), _encode_check,
                     _decode_check, as_of=as_of, config=config.to_dict())


def _encode_check(check: ChurnCheck) -> dict:
    return {"evaluation": check.evaluation.to_dict() if check.evaluation else None,
            "problem": check.problem.to_dict() if check.problem else None}


def _decode_check(values: dict) -> ChurnCheck:
    evaluation = values["evaluation"]
    return ChurnCheck(ChurnEvaluation.from_dict(evaluation) if evaluation else None,
                      Problem.from_dict(values["problem"]))


def _churn_check(dataset: Dataset, as_of: dt.date, config: LifecycleConfig) -> ChurnCheck:
    churn_days = _churn_days(config)
    training, evaluation = as_of - dt.timedelta(days=2 * churn_days), as_of - dt.timedelta(days=churn_days)
    problem = _history_problem(dataset, training, 2 * churn_days)
    if problem is not None:
        return ChurnCheck(problem=problem)
    try:
        model = ChurnModel(churn_days).fit(dataset, training, config)
        release_features(dataset, training, config)  # only the fit needed them
        return ChurnCheck(model.evaluate(dataset, evaluation, exclude_churned=True))
    except ValueError as exc:
        return ChurnCheck(problem=Problem("model", str(exc)))


def risk_ranking(ranking: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The churn ``ranking`` restricted to ``customers`` (customer_id, and predicted_clv, p_alive,
    expected_purchases where present), riskiest first: customer_id, churn_risk, stage, days_since_last,
    frequency, historic_value and the predicted columns."""
    predicted = [c for c in ("predicted_clv", "p_alive", "expected_purchases") if c in customers.columns]
    joined = ranking.rename(columns={"recency": "days_since_last"}).merge(
        customers[["customer_id", *predicted]], on="customer_id")
    return joined.sort_values(["churn_risk", "customer_id"], ascending=[False, True], ignore_index=True)


def value_at_risk(customers: pd.DataFrame, ranking: pd.DataFrame | None = None, min_risk: float = 0.5,
                  value_share: float = VALUE_SHARE) -> pd.DataFrame:
    """Valuable customers likely to leave. Valuable: in the top ``value_share`` of ``customers`` (the
    segment's purchasers) by historic value or by predicted CLV (where the frame has it). Likely to leave:
    risk ≥ ``min_risk``, the risk being the churn model's (``ranking``, a ``risk_ranking`` frame of the
    not-yet-churned customers) or, without a ranking, 1 − P(alive). Adds ``risk``; most valuable (historic
    value) first."""
    measures = [c for c in ("historic_value", "predicted_clv") if c in customers.columns]
    top = pd.Series(False, index=customers.index)
    for column in measures:
        top |= customers[column] >= customers[column].quantile(1 - value_share)
    valuable = customers[top]
    if ranking is not None:
        rows = ranking[cache.is_in(ranking["customer_id"], valuable["customer_id"])]
        rows = rows.assign(risk=rows["churn_risk"])
    else:
        rows = valuable.assign(risk=1 - valuable["p_alive"])
    rows = rows[rows["risk"] >= min_risk]
    return rows.sort_values(["historic_value", "customer_id"], ascending=[False, True], ignore_index=True)


# --------------------------------------------------------------------------- cross-sell

def _has_category(dataset: Dataset) -> bool:
    return "category" in dataset.require("transactions").columns


def category_suggestions(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """``next_best_category`` for the segment (customer_id, category, because_of, lift);
    attrs["problem"]: None or no_category."""
    columns = ("customer_id", "category", "because_of", "lift")
    if not _has_category(dataset):
        return _problem_frame(columns, Problem("no_category"))
    frame = next_best_category(dataset, as_of, segment, config)
    frame.attrs["problem"] = None
    return frame


def _segment_rows(frame: pd.DataFrame, dataset: Dataset, as_of: dt.date, segment, config) -> pd.DataFrame:
    """The rows of a whole-dataset per-customer ``frame`` whose customer is in the segment (same order)."""
    ids = segment_customers(dataset, segment, as_of, config)
    if ids is None:
        return frame
    return frame[cache.is_in(frame["customer_id"], ids.execute()["customer_id"])].reset_index(drop=True)


def category_pairs(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """``category_lift`` over the whole dataset (highest lift first); attrs["problem"]: None, no_category or
    no_rules (no category pair bought by enough customers)."""
    columns = ("antecedent", "consequent", "customers_both", "lift", "confidence")
    if not _has_category(dataset):
        return _problem_frame(columns, Problem("no_category"))
    as_of = resolve_as_of(dataset, as_of)

    def compute() -> pd.DataFrame:
        frame = category_lift(dataset, as_of)
        frame.attrs["problem"] = None if len(frame) else Problem("no_rules")
        return frame

    return _document(dataset, "category_pairs", compute, _encode_frame, _decode_frame, as_of=as_of).copy()


def suggestion_summary(suggestions: pd.DataFrame) -> pd.DataFrame:
    """category, customers (suggested it), mean_lift; most suggested first."""
    summary = suggestions.groupby("category", as_index=False).agg(
        customers=("customer_id", "size"), mean_lift=("lift", "mean"))
    return summary.sort_values(["customers", "category"], ascending=[False, True], ignore_index=True)


# --------------------------------------------------------------------------- result-sized views for the page

def _predictions(dataset: Dataset, models: ValueModels, as_of: dt.date, segment, config, horizon_months: int,
                 annual_discount: float, margin: float) -> pd.DataFrame:
    """``predicted_value``, kept in memory for the last parameters asked for (shared: do not modify)."""
    segment_key = cache.key_text(**(segment.to_query_params() if segment is not None else {}))
    key = (cache.dataset_key(dataset), models, as_of, segment_key, cache.key_text(config=config and config.to_dict()),
           horizon_months, annual_discount, margin)
    return _PREDICTIONS.get(key, lambda: predicted_value(dataset, models, as_of, segment, config, horizon_months,
                                                        annual_discount, margin))


@dataclass(frozen=True)
class PredictionOverview:
    """The predictions of a segment's purchasers, summed up: customers, total predicted CLV, expected
    purchases, mean P(alive), the CLV histogram (``value_bins``) and the P(alive) heatmap (``p_alive_grid``,
    None when nobody was observed for any time)."""

    customers: int
    total_clv: float
    expected_purchases: float
    mean_p_alive: float
    bins: pd.DataFrame
    grid: pd.DataFrame | None


def prediction_overview(dataset: Dataset, models: ValueModels, as_of=None, segment=None, config=None,
                        horizon_months: int = 12, annual_discount: float = 0.10, margin: float = 1.0,
                        bins: int = 30) -> PredictionOverview:
    """:class:`PredictionOverview` of ``predicted_value`` (the models fitted once on every purchaser)."""
    as_of = resolve_as_of(dataset, as_of)
    frame = _predictions(dataset, models, as_of, segment, config, horizon_months, annual_discount, margin)
    return PredictionOverview(
        customers=len(frame), total_clv=float(frame["predicted_clv"].sum()),
        expected_purchases=float(frame["expected_purchases"].sum()), mean_p_alive=float(frame["p_alive"].mean()),
        bins=value_bins(frame["predicted_clv"], bins=bins), grid=p_alive_grid(models, frame))


@dataclass(frozen=True)
class RiskOverview:
    """The churn ranking and the valuable customers at risk of a segment, result-sized: ``ranked`` customers
    in the ranking (``risk_ranking`` rows: the first ``TABLE_ROWS`` in ``ranking``, None with a ``problem``
    of the churn model, ``trained_at`` its training cutoff), ``at_risk`` valuable customers at risk
    (``value_at_risk`` rows: the first ``TABLE_ROWS`` in ``valuable``; None when no ``min_risk`` was given
    or there is no risk at all: ``has_risk`` False without the churn model and without predictions)."""

    ranked: int
    ranking: pd.DataFrame | None
    has_risk: bool
    at_risk: int = 0
    valuable: pd.DataFrame | None = None
    trained_at: dt.date | None = None
    problem: Problem | None = None


def risk_overview(dataset: Dataset, models: ValueModels | None = None, as_of=None, segment=None, config=None,
                  horizon_months: int = 12, annual_discount: float = 0.10, margin: float = 1.0,
                  min_risk: float | None = None, rows: int | None = None, full: bool = False) -> RiskOverview:
    """:class:`RiskOverview`: ``churn_ranking`` joined to the segment's predictions (``models`` without a
    problem) or purchasers (``risk_ranking``), and, given ``min_risk``, ``value_at_risk``. ``full``: every
    row instead of the first ``rows`` (for a download)."""
    as_of = resolve_as_of(dataset, as_of)
    ranking = churn_ranking(dataset, as_of, segment, config)
    if models is not None and models.problem is None:
        customers = _predictions(dataset, models, as_of, segment, config, horizon_months, annual_discount, margin)
    else:
        customers = segment_summary(dataset, as_of, segment, config)[["customer_id", "historic_value"]]
    problem = ranking.attrs.get("problem")
    ranked = None if problem else risk_ranking(ranking, customers)
    has_risk = ranked is not None or "p_alive" in customers.columns
    valuable = value_at_risk(customers, ranked, min_risk) if has_risk and min_risk is not None else None

    rows = TABLE_ROWS if rows is None else rows

    def head(frame):
        return None if frame is None else frame if full else frame.head(rows).reset_index(drop=True)

    return RiskOverview(ranked=0 if ranked is None else len(ranked), ranking=head(ranked), has_risk=has_risk,
                        at_risk=0 if valuable is None else len(valuable), valuable=head(valuable),
                        trained_at=ranking.attrs.get("trained_at"), problem=problem)


@dataclass(frozen=True)
class CategoryOverview:
    """Next best categories of a segment, result-sized: ``suggested`` customers with a suggestion, the first
    ``TABLE_ROWS`` of them (by customer_id) in ``suggestions``, ``summary`` (``suggestion_summary``), or the
    ``problem``."""

    suggested: int
    suggestions: pd.DataFrame
    summary: pd.DataFrame
    problem: Problem | None = None


def category_overview(dataset: Dataset, as_of=None, segment=None, config=None, rows: int | None = None,
                      full: bool = False) -> CategoryOverview:
    """:class:`CategoryOverview` of the segment's suggestions, selected from the whole dataset's (computed once
    per dataset version). ``full``: every suggestion instead of the first ``rows``."""
    as_of = resolve_as_of(dataset, as_of)
    if not _has_category(dataset):
        empty = pd.DataFrame(columns=["customer_id", "category", "because_of", "lift"])
        return CategoryOverview(0, empty, suggestion_summary(empty), Problem("no_category"))
    suggestions = _segment_rows(whole_suggestions(dataset, as_of), dataset, as_of, segment, config)
    rows = TABLE_ROWS if rows is None else rows
    return CategoryOverview(len(suggestions), suggestions if full else suggestions.head(rows).reset_index(drop=True),
                            suggestion_summary(suggestions))
