"""Churn risk (DESIGN §3.5): a calibrated gradient-boosting classifier on features known at a cutoff.

A customer *churns* after a cutoff when they have no purchase day (amount > 0) in
(cutoff, cutoff + churn_days]. The model covers every purchaser at the cutoff (a
churned customer's risk is the chance they do not come back); the ranking for the
app shows those not churned yet. Features use only data on or before the cutoff:

- recency: days since the last purchase day; frequency: repeat purchase days;
  tenure: days since the first purchase day; monetary and historic_value as in
  ``clm_core.metrics.clv``; purchase_days_90 / purchase_days_365: purchase days in
  the last 90 / 365 days up to the cutoff;
- stage: the lifecycle stage at the cutoff (§3.1);
- nps_score: the latest NPS answer on or before the cutoff (NaN without one), when
  the dataset has NPS answers;
- ``share <category>``: share of the purchase amount spent in each of the most
  common categories (by purchasing customers), when transactions have a category;
- channel, when customers have one.

The model is trained on labels of (cutoff, cutoff + churn_days] and evaluated on a
later cutoff, against the BG/NBD baseline 1 − P(alive) on the same customers.
Folds and boosting run on one OpenMP thread: on customer-sized data, with the cores
shared by the app's sessions, more threads wait on each other (measured on the demo
data: 0.6 s to fit on one thread, 5–10 s on two under load).

At scale (issue [5]): above ``MAX_CUSTOMERS`` purchasers the model is trained, and checked,
on a sample of that many stratified by the label (:func:`stratified_sample`, seeded by
``random_state``: the same data give the same model); below it every purchaser is used, as
before. The features of a (dataset version, cutoff) are computed once and reused by fit,
evaluation and scoring (a small process-wide cache); scoring runs in one batch over every
purchaser, in chunks of ``SCORE_CHUNK`` rows (a tree ensemble scores each row on its own, so
chunks give the same numbers). :func:`churn_risk` reads the ranking of the whole dataset,
computed once per dataset version and kept in memory and in the database
(``clm_core.models.cache``); a segment selects its customers from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from clm_core.config import LifecycleConfig
from clm_core.metrics.clv import rfm_table
from clm_core.metrics.common import day_of, purchase_days, resolve_as_of, segment_customers
from clm_core.metrics.stages import customer_stages, latest_nps
from clm_core.models import cache
from clm_core.store import Dataset

#: at most this many categories get a share column (the ones bought by the most customers)
TOP_CATEGORIES = 8
CATEGORY_PREFIX = "share "
CATEGORICAL = ("stage", "channel")
NO_CHANNEL = "(none)"
CALIBRATION_BINS = 10
RANKING_COLUMNS = ["customer_id", "churn_risk", "stage", "recency", "frequency", "historic_value"]
#: above this many customers the model is trained and checked on a stratified sample of this many (at 1M
#: customers / 10M orders a sample of 100,000 reaches the ROC AUC of the model trained on all 421,855
#: purchasers, 0.841, in a fifth of the fit time: bench/bench_churn_sample.py, bench/README.md)
MAX_CUSTOMERS = 100_000
#: rows scored at a time (bounds the memory of the one-hot encoded copies)
SCORE_CHUNK = 200_000

_FEATURES = cache.Memo(2)  # features of (dataset version, cutoff, configuration, categories)
_CATEGORIES = cache.Memo(8)  # top categories of (dataset version, cutoff)
_RANKINGS = cache.Memo(2)  # churn_risk's ranking of the whole dataset


def _one_thread():
    return threadpool_limits(limits=1, user_api="openmp")


def stratified_sample(labels, size: int, seed: int = 0) -> np.ndarray:
    """Positions (ascending) of a sample of ``size`` of the rows of ``labels``, stratified by label: each
    label gets its population share of ``size``, rounded by largest remainder (so it is within one row of
    the exact share), drawn without replacement with ``np.random.default_rng(seed)``. Every position when
    there are at most ``size`` rows."""
    labels = np.asarray(labels)
    n = labels.size
    if size < 1:
        raise ValueError(f"the sample size must be at least 1, got {size!r}")
    if n <= size:
        return np.arange(n)
    values, counts = np.unique(labels, return_counts=True)
    quota = counts * size / n
    take = np.floor(quota).astype(np.int64)
    # largest remainder, ties to the more common label, then the smaller one
    order = np.lexsort((values, -counts, -(quota - take)))
    take[order[:size - int(take.sum())]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == value), size=k, replace=False) for value, k in zip(values, take)]
    return np.sort(np.concatenate(chosen))


def _config_key(config: LifecycleConfig) -> str:
    return cache.key_text(**config.to_dict())


def cached_top_categories(dataset: Dataset, cutoff: dt.date) -> list[str]:
    """``top_categories`` at ``cutoff``, once per dataset version."""
    key = (cache.dataset_key(dataset), cutoff)
    return list(_CATEGORIES.get(key, lambda: tuple(top_categories(dataset, cutoff))))


def _features_key(dataset: Dataset, cutoff: dt.date, config: LifecycleConfig, categories: list[str]) -> tuple:
    # one frame per set of categories: a model trained at another cutoff may list them in another order
    return cache.dataset_key(dataset), cutoff, _config_key(config), frozenset(categories)


def release_features(dataset: Dataset, cutoff: dt.date, config: LifecycleConfig,
                     categories: list[str] | None = None) -> None:
    """Free the cached features of ``cutoff`` (their results are computed and stored)."""
    if categories is None:
        categories = cached_top_categories(dataset, cutoff)
    _FEATURES.discard(_features_key(dataset, cutoff, config, categories))


def cached_features(dataset: Dataset, cutoff: dt.date, config: LifecycleConfig,
                    categories: list[str] | None = None) -> pd.DataFrame:
    """``churn_features`` of every purchaser at ``cutoff`` (categories: the most common ones at the cutoff
    unless given), computed once per dataset version and shared: do not modify the frame."""
    if categories is None:
        categories = cached_top_categories(dataset, cutoff)
    key = _features_key(dataset, cutoff, config, categories)
    frame = _FEATURES.get(key, lambda: churn_features(dataset, cutoff, config, categories=list(categories)))
    shares = [c for c in frame.columns if c.startswith(CATEGORY_PREFIX)]
    wanted = [CATEGORY_PREFIX + c for c in categories]
    if shares == wanted:
        return frame
    first = frame.columns.get_loc(shares[0])
    columns = list(frame.columns)
    return frame[columns[:first] + wanted + columns[first + len(shares):]]


def top_categories(dataset: Dataset, cutoff: dt.date, limit: int = TOP_CATEGORIES) -> list[str]:
    """The ``limit`` categories bought by the most customers up to the cutoff (ties by name); [] without categories."""
    t = dataset.require("transactions")
    if "category" not in t.columns:
        return []
    t = t.filter(t.amount > 0, t.category.notnull(), day_of(t.ordered_at) <= ibis.literal(cutoff))
    counts = t.group_by("category").aggregate(customers=t.customer_id.nunique())
    top = counts.order_by([ibis.desc("customers"), "category"]).limit(limit).execute()
    return top["category"].tolist()


def _category_mix(dataset: Dataset, cutoff: dt.date, categories: list[str]):
    """Per purchaser: cat_i = share of the purchase amount up to the cutoff spent in categories[i]."""
    t = dataset.require("transactions")
    t = t.filter(t.amount > 0, day_of(t.ordered_at) <= ibis.literal(cutoff))
    sums = {f"cat_{i}": t.amount.sum(where=t.category == ibis.literal(c)) for i, c in enumerate(categories)}
    mix = t.group_by("customer_id").aggregate(total=t.amount.sum(), **sums)
    return mix.select("customer_id", **{name: (mix[name].fill_null(0.0) / mix.total) for name in sums})


def churn_features(dataset: Dataset, cutoff=None, config: LifecycleConfig | None = None, segment=None,
                   categories: list[str] | None = None) -> pd.DataFrame:
    """One row per customer with a purchase day on or before ``cutoff``, sorted by customer_id (module docstring).

    ``categories`` fixes the category-share columns (a fitted model passes its own);
    by default they are the most common categories up to the cutoff.
    """
    config = config or LifecycleConfig()
    cutoff = resolve_as_of(dataset, cutoff)
    rfm = rfm_table(dataset, cutoff, segment, config)
    days = purchase_days(dataset, cutoff)
    recent = days.group_by("customer_id").aggregate(
        purchase_days_90=days.count(where=days.day > ibis.literal(cutoff - dt.timedelta(days=90))),
        purchase_days_365=days.count(where=days.day > ibis.literal(cutoff - dt.timedelta(days=365))),
    )
    stages = customer_stages(dataset, cutoff, config).select("customer_id", "stage")
    features = rfm.join(recent, "customer_id").join(stages, "customer_id")
    features = features.select(
        "customer_id",
        recency=features.days_since_last,
        frequency=features.frequency,
        tenure=features.T,
        monetary=features.monetary,
        historic_value=features.historic_value,
        purchase_days_90=features.purchase_days_90,
        purchase_days_365=features.purchase_days_365,
        stage=features.stage,
    )
    scores = latest_nps(dataset, cutoff)
    if scores is not None:
        features = features.left_join(scores, "customer_id").select(
            features, nps_score=scores.latest_score.cast("float64"))
    if categories is None:
        categories = top_categories(dataset, cutoff)
    if categories:
        mix = _category_mix(dataset, cutoff, categories)
        shares = [f"cat_{i}" for i in range(len(categories))]
        features = features.left_join(mix, "customer_id").select(
            features, **{name: mix[name].fill_null(0.0) for name in shares})
    index = dataset.require("customer_index")
    if "channel" in index.columns:
        features = features.left_join(index, "customer_id").select(
            features, channel=index.channel.cast("string").fill_null(NO_CHANNEL))
    frame = features.order_by("customer_id").execute()
    # category names become column names only here: the database would fold names that differ in case
    return frame.rename(columns={f"cat_{i}": CATEGORY_PREFIX + c for i, c in enumerate(categories)})


def churn_labels(dataset: Dataset, cutoff, churn_days: int) -> pd.DataFrame:
    """customer_id, churned: 1 when a purchaser at ``cutoff`` has no purchase day in (cutoff, cutoff + churn_days].

    Raises ValueError when the data end before cutoff + churn_days (the label would not be known yet).
    """
    if not isinstance(churn_days, int) or churn_days < 1:
        raise ValueError(f"churn_days must be a positive whole number, got {churn_days!r}")
    cutoff = resolve_as_of(dataset, cutoff)
    end = cutoff + dt.timedelta(days=churn_days)
    last_day = resolve_as_of(dataset)
    if end > last_day:
        raise ValueError(
            f"churn labels at {cutoff} need data up to {end} (cutoff + {churn_days} days), "
            f"but the data end on {last_day}; choose a cutoff on or before {last_day - dt.timedelta(days=churn_days)}"
        )
    days = dataset.require("customer_days")
    bought = days.filter(days.purchases > 0)
    before = bought.filter(bought.day <= ibis.literal(cutoff)).select("customer_id").distinct()
    after = bought.filter(bought.day > ibis.literal(cutoff), bought.day <= ibis.literal(end))
    after = after.select("customer_id").distinct().mutate(stayed=ibis.literal(1))
    labels = before.left_join(after, "customer_id").select(
        before.customer_id, churned=(1 - after.stayed.fill_null(0)).cast("int8"))
    return labels.order_by("customer_id").execute()


@dataclass(frozen=True)
class ChurnEvaluation:
    """How a fitted churn model ranks and calibrates on a later cutoff than it was trained on.

    ``calibration``: mean_predicted, observed_rate, customers per non-empty bin of
    ``sklearn.calibration.calibration_curve`` (10 equal-width bins of the predicted risk).
    ``baseline_roc_auc``: ROC AUC of 1 − P(alive) of a BG/NBD model fitted on every purchaser at the
    evaluation cutoff (None when it cannot be fitted: no repeat purchases). ``n`` customers were scored:
    all ``population`` customers evaluated, or a sample stratified by the label when there are more than
    the model's ``max_customers``.
    """

    trained_at: dt.date
    cutoff: dt.date
    churn_days: int
    n: int
    base_rate: float
    mean_predicted: float
    roc_auc: float
    baseline_roc_auc: float | None
    calibration: pd.DataFrame
    population: int | None = None

    def to_dict(self) -> dict:
        """The evaluation as JSON-ready values (:meth:`from_dict` restores it exactly)."""
        values = {f: getattr(self, f) for f in ("churn_days", "n", "base_rate", "mean_predicted", "roc_auc",
                                                "baseline_roc_auc", "population")}
        return {**values, "trained_at": self.trained_at.isoformat(), "cutoff": self.cutoff.isoformat(),
                "calibration": {c: self.calibration[c].tolist() for c in self.calibration.columns}}

    @classmethod
    def from_dict(cls, values: dict) -> ChurnEvaluation:
        calibration = pd.DataFrame(values["calibration"]).astype(
            {"mean_predicted": "float64", "observed_rate": "float64", "customers": "int64"})
        return cls(**{**values, "trained_at": dt.date.fromisoformat(values["trained_at"]),
                      "cutoff": dt.date.fromisoformat(values["cutoff"]), "calibration": calibration})


class ChurnModel:
    """Gradient boosting (one-hot stage and channel) with probabilities calibrated by 3-fold isotonic regression.

    ``fit(dataset, cutoff)`` trains on the purchasers at ``cutoff`` with labels from (cutoff, cutoff +
    churn_days] — on a sample of ``max_customers`` of them stratified by the label when there are more;
    fitted: ``cutoff_``, ``config_``, ``categories_``, ``feature_names_``, ``estimator_``, ``base_rate_``
    (of the customers trained on), ``label_counts_`` (retained, churned) of the purchasers at the cutoff
    and ``trained_counts_`` of the customers trained on, ``n_customers_`` and ``n_trained_`` (their sums).
    """

    def __init__(self, churn_days: int = 180, random_state: int = 0, max_customers: int = MAX_CUSTOMERS):
        if not isinstance(max_customers, int) or max_customers < 6:
            raise ValueError(f"max_customers must be a whole number of at least 6, got {max_customers!r}")
        self.churn_days = churn_days
        self.random_state = random_state
        self.max_customers = max_customers

    def _estimator(self, categorical: list[str]):
        encode = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical), remainder="passthrough")
        boosting = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=100, max_leaf_nodes=8, min_samples_leaf=50, random_state=self.random_state)
        # shuffled folds: rows come sorted by customer_id, which often follows the sign-up date
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=self.random_state)
        return CalibratedClassifierCV(make_pipeline(encode, boosting), method="isotonic", cv=folds)

    def fit(self, dataset: Dataset, cutoff, config: LifecycleConfig | None = None) -> ChurnModel:
        cutoff = resolve_as_of(dataset, cutoff)
        labels = churn_labels(dataset, cutoff, self.churn_days)
        config = config or LifecycleConfig()
        features = cached_features(dataset, cutoff, config)
        y = labels.set_index("customer_id")["churned"].reindex(features["customer_id"]).to_numpy()
        counts = np.bincount(y, minlength=2)
        if counts.min() < 3:
            raise ValueError(
                f"training at {cutoff} needs at least 3 churned and 3 retained customers, "
                f"found {counts[1]} churned and {counts[0]} retained")
        self.cutoff_, self.config_ = cutoff, config
        self.categories_ = [c[len(CATEGORY_PREFIX):] for c in features.columns if c.startswith(CATEGORY_PREFIX)]
        self.feature_names_ = [c for c in features.columns if c != "customer_id"]
        categorical = [c for c in CATEGORICAL if c in self.feature_names_]
        rows = stratified_sample(y, self.max_customers, self.random_state)
        self.n_customers_, self.n_trained_ = len(y), len(rows)
        X = features[self.feature_names_]
        if len(rows) < len(y):
            X, y = X.iloc[rows], y[rows]
        self.label_counts_, self.trained_counts_ = counts, np.bincount(y, minlength=2)
        with _one_thread():
            self.estimator_ = self._estimator(categorical).fit(X, y)
        self.base_rate_ = float(y.mean())
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise ValueError("ChurnModel is not fitted yet: call fit() first")

    def features(self, dataset: Dataset, as_of=None, segment=None) -> pd.DataFrame:
        """The features of the purchasers at ``as_of``, with the columns this model was trained on (those of
        the whole dataset are computed once per dataset version and shared: do not modify them)."""
        self._check_fitted()
        if segment is None or segment.is_empty():
            return cached_features(dataset, resolve_as_of(dataset, as_of), self.config_, self.categories_)
        return churn_features(dataset, as_of, self.config_, segment, categories=self.categories_)

    def predict_proba(self, features: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
        """P(churn) for each row of a ``features`` frame, or for its rows at the positions ``rows`` (scored in
        chunks of ``SCORE_CHUNK`` rows: only a chunk is copied)."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in features.columns]
        if missing:
            raise ValueError(f"features lack the column(s) the model was trained on: {', '.join(missing)}")
        rows = np.arange(len(features)) if rows is None else np.asarray(rows)
        if not len(rows):
            return np.empty(0)
        with _one_thread():
            return np.concatenate([
                self.estimator_.predict_proba(features.iloc[rows[start:start + SCORE_CHUNK]][self.feature_names_])[:, 1]
                for start in range(0, len(rows), SCORE_CHUNK)])

    def predict_proba_frame(self, dataset: Dataset, as_of=None, segment=None) -> pd.DataFrame:
        """customer_id, churn_risk for every purchaser (of the segment) at ``as_of``."""
        features = self.features(dataset, as_of, segment)
        return pd.DataFrame({"customer_id": features["customer_id"], "churn_risk": self.predict_proba(features)})

    def evaluate(self, dataset: Dataset, cutoff, exclude_churned: bool = False) -> ChurnEvaluation:
        """Score the model on a later ``cutoff`` (labels from (cutoff, cutoff + churn_days]).

        Over every purchaser at the cutoff, or with ``exclude_churned`` only those not yet churned
        (the customers ``churn_risk`` ranks); above ``max_customers`` of them, over a sample of that many
        stratified by the label (the baseline's BG/NBD is still fitted on every purchaser).
        """
        self._check_fitted()
        cutoff = resolve_as_of(dataset, cutoff)
        if cutoff <= self.cutoff_:
            raise ValueError(f"evaluate on a cutoff later than the training cutoff {self.cutoff_}, got {cutoff}")
        labels = churn_labels(dataset, cutoff, self.churn_days)
        features = self.features(dataset, cutoff)
        p_alive = _bgnbd_p_alive(features)
        keep = (features["stage"] != "churned").to_numpy() if exclude_churned else np.ones(len(features), bool)
        positions = np.flatnonzero(keep)  # of the (shared) features: rows are copied once, below
        y = labels.set_index("customer_id")["churned"].reindex(features["customer_id"].iloc[positions]).to_numpy()
        if len(np.unique(y)) < 2:
            raise ValueError(f"evaluation at {cutoff} needs both churned and retained customers")
        population = len(y)
        rows = stratified_sample(y, self.max_customers, self.random_state)
        if len(rows) < population:
            positions, y = positions[rows], y[rows]
        p_alive = None if p_alive is None else p_alive[positions]
        risk = self.predict_proba(features, positions)
        return ChurnEvaluation(
            trained_at=self.cutoff_, cutoff=cutoff, churn_days=self.churn_days, n=len(y),
            base_rate=float(y.mean()), mean_predicted=float(risk.mean()),
            roc_auc=float(roc_auc_score(y, risk)),
            baseline_roc_auc=None if p_alive is None else float(roc_auc_score(y, 1 - p_alive)),
            calibration=calibration_table(y, risk), population=population,
        )


def _bgnbd_p_alive(features: pd.DataFrame) -> np.ndarray | None:
    """P(alive) of each row from a BG/NBD model fitted (in days) on the rows observed for T > 0;
    None when it cannot be fitted (no repeat purchases)."""
    from clm_core.models.btyd import BetaGeo, ModelError

    frequency, T = features["frequency"].to_numpy(float), features["tenure"].to_numpy(float)
    recency = T - features["recency"].to_numpy(float)  # last − first
    observed = T > 0
    try:
        model = BetaGeo().fit(frequency[observed], recency[observed], T[observed])
    except ModelError:
        return None
    return model.p_alive(frequency, recency, T)


def calibration_table(y, risk, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """mean_predicted, observed_rate, customers per non-empty equal-width bin of the predicted risk."""
    observed, predicted = calibration_curve(y, risk, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], risk), minlength=bins)  # the bins calibration_curve uses
    return pd.DataFrame({"mean_predicted": predicted, "observed_rate": observed, "customers": counts[counts > 0]})


def churn_risk(dataset: Dataset, as_of=None, churn_days: int = 180, segment=None,
               config: LifecycleConfig | None = None, random_state: int = 0,
               max_customers: int = MAX_CUSTOMERS) -> pd.DataFrame:
    """The churn-risk ranking at ``as_of``: customer_id, churn_risk, stage, recency, frequency, historic_value.

    The model is trained at as_of − churn_days, whose labels are known by ``as_of``, and scores the
    segment's purchasers at ``as_of`` who are not churned yet (stage under ``config``), riskiest first.
    The ranking of the whole dataset is computed once per dataset version (:func:`whole_ranking`); the
    segment selects its customers from it.
    """
    ranking = whole_ranking(dataset, as_of, churn_days, config, random_state, max_customers)
    as_of = resolve_as_of(dataset, as_of)
    ids = segment_customers(dataset, segment, as_of, config or LifecycleConfig())
    if ids is None:
        return ranking.copy()
    chosen = ids.execute()["customer_id"]
    return ranking[cache.is_in(ranking["customer_id"], chosen)].reset_index(drop=True)


def ranking_key(as_of: dt.date, churn_days: int, config: LifecycleConfig, random_state: int,
                max_customers: int) -> str:
    return cache.key_text(as_of=as_of, churn_days=churn_days, config=config.to_dict(), random_state=random_state,
                          max_customers=max_customers)


def whole_ranking(dataset: Dataset, as_of=None, churn_days: int = 180, config: LifecycleConfig | None = None,
                  random_state: int = 0, max_customers: int = MAX_CUSTOMERS) -> pd.DataFrame:
    """The ranking (``RANKING_COLUMNS``) of every purchaser not churned at ``as_of``, riskiest first (ties by
    customer_id): from memory, else from the database (``clm_model_churn_ranking``), else trained, scored in
    one batch and stored. Shared: do not modify the frame. ``attrs``: trained_at, n_customers (purchasers at
    the training cutoff), n_trained."""
    config = config or LifecycleConfig()
    as_of = resolve_as_of(dataset, as_of)
    key = ranking_key(as_of, churn_days, config, random_state, max_customers)

    def compute() -> tuple[dict, pd.DataFrame]:
        model = ChurnModel(churn_days, random_state, max_customers).fit(
            dataset, as_of - dt.timedelta(days=churn_days), config)
        features = model.features(dataset, as_of)
        scored = np.flatnonzero((features["stage"] != "churned").to_numpy())
        ranking = features[[c for c in RANKING_COLUMNS if c != "churn_risk"]].iloc[scored].assign(
            churn_risk=model.predict_proba(features, scored))[RANKING_COLUMNS]
        ranking = ranking.sort_values(["churn_risk", "customer_id"], ascending=[False, True], ignore_index=True)
        del features
        release_features(dataset, as_of, config, model.categories_)  # only the scoring needed them
        return {"trained_at": model.cutoff_.isoformat(), "n_customers": model.n_customers_,
                "n_trained": model.n_trained_}, ranking

    def load() -> pd.DataFrame:
        document, ranking = cache.stored(dataset, "churn_ranking", key, compute, frame=True)
        ranking.attrs.update(trained_at=dt.date.fromisoformat(document["trained_at"]),
                             n_customers=document["n_customers"], n_trained=document["n_trained"])
        return ranking

    return _RANKINGS.get((cache.dataset_key(dataset), key), load)
