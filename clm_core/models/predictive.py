"""Predictive customer value over a Dataset (DESIGN §3.5), for the app and the CLI.

The models are fitted on the RFM summary (``clm_core.metrics.clv.rfm_summary``) of every purchaser at the
as-of date: BG/NBD on the customers observed for some time (T > 0), Gamma-Gamma on the repeat customers.
Predictions are made for the customers of a segment. When the models cannot be fitted (fewer than
``MIN_REPEAT_CUSTOMERS`` repeat customers), ``predictive_clv`` still returns the summary, with NaN
predictions and the reason in ``frame.attrs["model_error"]``; ``fitted_models`` and
``holdout_comparison`` raise ``ModelError``. Warnings of the fit (``ConvergenceWarning``,
``CorrelationWarning``) reach the caller as Python warnings.

The RFM summary of every purchaser at an as-of date is read once per dataset version and time unit and
kept in process memory (:func:`whole_summary`, ``clm_core.models.cache``): the fit, the predictions of
any segment (its rows of that summary) and the campaign baseline share it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clm_core.metrics.clv import TIME_UNITS, rfm_summary
from clm_core.metrics.common import purchase_days, resolve_as_of, segment_customers
from clm_core.models import cache
from clm_core.models.btyd import DAYS_PER_MONTH, BetaGeo, GammaGamma, ModelError, customer_lifetime_value
from clm_core.store import Dataset

__all__ = ["ModelError", "PREDICTIVE_COLUMNS", "fitted_models", "holdout_comparison", "p_alive_matrix",
           "predictive_clv"]

SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary", "historic_value")
PREDICTIVE_COLUMNS = ("expected_purchases", "p_alive", "predicted_clv")
MIN_REPEAT_CUSTOMERS = 10  # below this the four + three parameters are not identified in practice
HOLDOUT_BUCKETS = 7  # calibration frequencies 0 … 6, then "7+"

_SUMMARIES = cache.Memo(2)


def whole_summary(dataset: Dataset, as_of, time_unit: str = "weeks") -> pd.DataFrame:
    """``rfm_summary`` of every purchaser at ``as_of`` in ``time_unit``, read once per dataset version and kept
    in memory. Shared: do not modify the frame."""
    as_of = resolve_as_of(dataset, as_of)
    key = (cache.dataset_key(dataset), as_of, time_unit)
    return _SUMMARIES.get(key, lambda: rfm_summary(dataset, as_of, time_unit=time_unit))


def segment_summary(dataset: Dataset, as_of, segment=None, config=None, time_unit: str = "weeks") -> pd.DataFrame:
    """The rows of :func:`whole_summary` of the segment's purchasers (a new frame, same order as
    ``rfm_summary(dataset, as_of, segment, config, time_unit)``)."""
    as_of = resolve_as_of(dataset, as_of)
    summary = whole_summary(dataset, as_of, time_unit)
    ids = segment_customers(dataset, segment, as_of, config)
    if ids is None:
        return summary.copy()
    return summary[cache.is_in(summary["customer_id"], ids.execute()["customer_id"])].reset_index(drop=True)


def _observed(summary: pd.DataFrame) -> pd.DataFrame:
    """The purchasers the models are fitted on (T > 0), checked to be enough."""
    observed = summary[summary["T"] > 0]
    repeat = int((observed["frequency"] > 0).sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise ModelError(f"BG/NBD and Gamma-Gamma need at least {MIN_REPEAT_CUSTOMERS} customers with repeat "
                         f"purchases to be estimated; the data have {repeat}")
    return observed


def _fit(summary: pd.DataFrame) -> tuple[BetaGeo, GammaGamma]:
    observed = _observed(summary)
    bg = BetaGeo().fit(observed["frequency"], observed["recency"], observed["T"])
    return bg, GammaGamma().fit(observed["frequency"], observed["monetary"])


def _unit(time_unit: str) -> float:
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNITS)}")
    return TIME_UNITS[time_unit]


def fitted_models(dataset: Dataset, as_of=None, time_unit: str = "weeks") -> tuple[BetaGeo, GammaGamma]:
    """BG/NBD and Gamma-Gamma fitted on all purchasers at ``as_of`` (alpha in ``time_unit``); ``ModelError``
    when the data cannot identify them."""
    _unit(time_unit)
    return _fit(whole_summary(dataset, resolve_as_of(dataset, as_of), time_unit))


def predictive_clv(dataset: Dataset, as_of=None, segment=None, config=None, horizon_months: int = 12,
                   annual_discount: float = 0.10, margin: float = 1.0, time_unit: str = "weeks",
                   models: tuple[BetaGeo, GammaGamma] | None = None) -> pd.DataFrame:
    """Per purchaser of the segment: customer_id, frequency, recency, T (in ``time_unit``), monetary,
    historic_value, expected_purchases (over the next ``horizon_months`` months), p_alive and predicted_clv
    (``btyd.customer_lifetime_value``: discounted expected margin over the horizon).

    The models are fitted on all purchasers of the dataset at ``as_of``, whatever the segment, unless fitted
    ``models`` (from ``fitted_models`` with the same as_of and time_unit) are given. ``frame.attrs["model_error"]``
    is None, or the reason the models could not be fitted (the predictive columns are then NaN).
    """
    days_per_unit = _unit(time_unit)
    as_of = resolve_as_of(dataset, as_of)
    frame = segment_summary(dataset, as_of, segment, config, time_unit)
    frame = frame[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    try:
        bg, gg = models or _fit(whole_summary(dataset, as_of, time_unit))
    except ModelError as exc:
        for column in PREDICTIVE_COLUMNS:
            frame[column] = np.nan
        frame.attrs["model_error"] = str(exc)
        return frame
    x, tx, T = frame["frequency"], frame["recency"], frame["T"]
    horizon = horizon_months * DAYS_PER_MONTH / days_per_unit
    frame["expected_purchases"] = bg.expected_purchases(horizon, x, tx, T)
    frame["p_alive"] = bg.p_alive(x, tx, T)
    frame["predicted_clv"] = customer_lifetime_value(bg, gg, x, tx, T, frame["monetary"], horizon_months,
                                                     annual_discount, margin, days_per_unit)
    frame.attrs["model_error"] = None
    return frame


def p_alive_matrix(bg: BetaGeo, max_frequency: int, T: float, max_recency: float | None = None,
                   points: int = 50) -> pd.DataFrame:
    """P(alive) of a customer observed for ``T`` by frequency (rows 0 … max_frequency, index "frequency")
    and recency (``points`` columns from 0 to max_recency, default T; columns "recency") — the heatmap of
    lifetimes' plot_probability_alive_matrix. Frequency 0 with recency > 0 cannot occur and is NaN."""
    if int(max_frequency) != max_frequency or max_frequency < 0:
        raise ValueError("max_frequency must be a whole number ≥ 0")
    if not T > 0:
        raise ValueError("T must be > 0")
    max_recency = T if max_recency is None else max_recency
    if not 0 <= max_recency <= T:
        raise ValueError("max_recency must lie between 0 and T")
    if points < 2:
        raise ValueError("points must be at least 2")
    frequency = np.arange(int(max_frequency) + 1, dtype=float)
    recency = np.linspace(0, max_recency, points)
    x, tx = (grid.ravel() for grid in np.meshgrid(frequency, recency, indexing="ij"))
    possible = (x > 0) | (tx == 0)
    values = np.full(x.size, np.nan)
    values[possible] = bg.p_alive(x[possible], tx[possible], np.full(possible.sum(), float(T)))
    return pd.DataFrame(values.reshape(frequency.size, recency.size),
                        index=pd.Index(frequency.astype(int), name="frequency"),
                        columns=pd.Index(recency, name="recency"))


def holdout_comparison(dataset: Dataset, calibration_end, holdout_end, time_unit: str = "weeks") -> pd.DataFrame:
    """Calibration / hold-out check: the models are fitted on the purchasers up to ``calibration_end``; for
    those customers, by frequency in the calibration period (0, 1, …, 6, "7+"): customers, the mean
    predicted and the mean actual repeat purchase days in (calibration_end, holdout_end] (actuals counted
    in the database from customer_days). Columns: frequency (label), customers, predicted_purchases,
    actual_purchases; buckets without customers are left out. ``ModelError`` when the calibration data
    cannot identify the BG/NBD model."""
    days_per_unit = _unit(time_unit)
    start, end = resolve_as_of(dataset, calibration_end), resolve_as_of(dataset, holdout_end)
    if end <= start:
        raise ValueError("the hold-out must end after the calibration period")
    summary = rfm_summary(dataset, start, time_unit=time_unit)
    observed = _observed(summary)
    bg = BetaGeo().fit(observed["frequency"], observed["recency"], observed["T"])
    days = purchase_days(dataset, end)
    days = days.filter(days.day > start)
    actual = days.group_by("customer_id").aggregate(actual_purchases=days.count()).execute()
    frame = summary[["customer_id", "frequency", "recency", "T"]].merge(actual, on="customer_id", how="left")
    frame["actual_purchases"] = frame["actual_purchases"].fillna(0).astype(float)
    frame["predicted_purchases"] = bg.expected_purchases((end - start).days / days_per_unit, frame["frequency"],
                                                         frame["recency"], frame["T"])
    frame["bucket"] = np.minimum(frame["frequency"].to_numpy(), HOLDOUT_BUCKETS).astype(int)
    table = frame.groupby("bucket").agg(customers=("customer_id", "size"),
                                        predicted_purchases=("predicted_purchases", "mean"),
                                        actual_purchases=("actual_purchases", "mean")).reset_index()
    labels = [str(b) if b < HOLDOUT_BUCKETS else f"{HOLDOUT_BUCKETS}+" for b in table["bucket"]]
    table.insert(0, "frequency", labels)
    return table.drop(columns="bucket")
