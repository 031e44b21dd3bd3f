"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013) by maximum likelihood.

Per customer, in one time unit of the caller's choice (days or weeks; ``alpha`` is fitted in that
unit): frequency x = repeat purchases, recency t_x = time from the first to the last purchase,
T = time from the first purchase to the end of observation, monetary m = mean value of the repeat
purchases.

BG/NBD: while alive a customer buys at Poisson rate λ ~ Gamma(r, alpha); after each repeat purchase
they drop out with probability p ~ Beta(a, b). Gamma-Gamma: a customer's purchase values are
Gamma(p, ν) with ν ~ Gamma(q, v), independent of the purchase process.

The likelihoods are evaluated in log space with ``scipy.special`` and maximised over the
log-parameters with L-BFGS-B and their analytic gradient. Customers with equal (x, t_x, T) share one
weighted likelihood term, and every special function is evaluated once per distinct value of the
column it depends on: a million customers fit in a fraction of a second (bench/bench_models.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special
from threadpoolctl import threadpool_limits

LOG_BOUND = 20.0  # search box for the log-parameters (data rescaled to a mean of 1)
LOG_PLAUSIBLE = 15.0  # a rescaled parameter beyond e^±15 has run off towards 0 or infinity
A_NEAR_ONE = 1e-4  # expected purchases are 0/0 at a = 1: interpolated within a = 1 ± A_NEAR_ONE
DAYS_PER_MONTH = 365.25 / 12


class ModelError(ValueError):
    """The data cannot identify the model (for example, no customer has a repeat purchase)."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without converging, or a parameter ran off towards 0 or infinity."""


class CorrelationWarning(UserWarning):
    """Frequency and spend per purchase are correlated: Gamma-Gamma assumes they are independent."""


# --------------------------------------------------------------------------- inputs

def _column(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _columns(**named) -> list[np.ndarray]:
    """The named inputs as 1-d float arrays of one length (scalars are broadcast)."""
    arrays = {name: np.asarray(v, dtype=float) for name, v in named.items()}
    lengths = {a.size for a in arrays.values() if a.ndim > 0}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name} {a.size}" for name, a in arrays.items())
        raise ValueError(f"{', '.join(named)} must have the same length (got {sizes})")
    n = lengths.pop() if lengths else 1
    return [_column(name, np.broadcast_to(a, (n,)) if a.ndim == 0 else a) for name, a in arrays.items()]


def _rfm_inputs(frequency, recency, T, weights=None, fit: bool = False):
    """Validated (x, t_x, T[, weights]) arrays; T > 0 when fitting, T ≥ 0 for predictions."""
    named = {"frequency": frequency, "recency": recency, "T": T}
    if weights is not None:
        named["weights"] = weights
    arrays = _columns(**named)
    x, tx, t = arrays[:3]
    if (x < 0).any() or (x != np.floor(x)).any():
        raise ValueError("frequency must be a whole number ≥ 0 (repeat purchases)")
    if (tx < 0).any():
        raise ValueError("recency must be ≥ 0")
    if (tx > t).any():
        raise ValueError("recency must not exceed T (the last purchase cannot follow the end of observation)")
    if (tx[x == 0] != 0).any():
        raise ValueError("recency must be 0 where frequency is 0")
    if fit and (t <= 0).any():
        raise ValueError("T must be > 0 to fit (a customer observed for no time carries no information)")
    if weights is not None:
        w = arrays[3]
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be ≥ 0 with a positive sum")
        return x, tx, t, w
    return x, tx, t, np.ones_like(x)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """u · v without BLAS, whose threads make these short products many times slower on a busy machine."""
    return float(np.einsum("i,i->", u, v))


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, code of each element), O(n): by counting for whole numbers ≥ 0 of a small range
    (frequencies), else by hashing."""
    if values.size and values.min() >= 0 and values.max() < 4 * values.size + 1024:
        as_int = values.astype(np.intp)
        if (as_int == values).all():
            present = np.bincount(as_int) > 0
            return np.flatnonzero(present).astype(float), (np.cumsum(present) - 1)[as_int]
    codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(uniques, dtype=float), codes.astype(np.intp)


def _distinct(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the code columns (column i in range(sizes[i])): each row's distinct-row index
    and one row of each distinct row. Mixed-radix key; counted when its range is small, else hashed."""
    key, size = codes[0].astype(np.int64), sizes[0]
    for column, width in zip(codes[1:], sizes[1:]):
        if size * width >= 2**62:  # re-number the key before it could overflow
            key = pd.factorize(key, sort=False)[0].astype(np.int64)
            size = int(key.max()) + 1
        key, size = key * width + column, size * width
    if size <= 4 * key.size + 1024:
        present = np.bincount(key, minlength=size) > 0
        row = (np.cumsum(present) - 1)[key]
    else:
        row = pd.factorize(key, sort=False)[0].astype(np.intp)
    representative = np.zeros(row.max() + 1 if row.size else 0, dtype=np.intp)
    representative[row] = np.arange(row.size)
    return row, representative


def _compress(*columns: np.ndarray):
    """Distinct rows of ``columns``: the distinct values of each column, each distinct row's code into
    them, and each input row's distinct-row index."""
    uniques, codes = zip(*(_factorize(c) for c in columns))
    row, representative = _distinct(list(codes), [u.size for u in uniques])
    return list(uniques), [c[representative] for c in codes], row


def _fit(objective, start: np.ndarray, names: tuple[str, ...], model: str) -> optimize.OptimizeResult:
    """Minimise ``objective`` (value, gradient) over log-parameters in [−LOG_BOUND, LOG_BOUND]."""
    # L-BFGS-B's linear algebra is 4 × 4: BLAS threads only spin and, on a busy machine, steal the CPU
    with threadpool_limits(limits=1, user_api="blas"), \
            np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                   bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
                                   options={"maxiter": 1000, "gtol": 1e-8, "ftol": 1e-13})
    if not np.isfinite(result.fun) or not np.isfinite(result.x).all():
        raise ModelError(f"{model}: the likelihood is not finite at the estimate; the data do not fit the model")
    runaway = [n for n, v in zip(names, result.x) if abs(v) > LOG_PLAUSIBLE]
    if runaway:
        warnings.warn(f"{model}: {', '.join(runaway)} ran off towards 0 or infinity; the data hardly identify "
                      f"{'it' if len(runaway) == 1 else 'them'}", ConvergenceWarning, stacklevel=3)
    elif not result.success and np.abs(result.jac).max() > 1e-6:  # a stalled line search at the optimum is fine
        warnings.warn(f"{model} fit did not converge: {result.message}", ConvergenceWarning, stacklevel=3)
    return result


# --------------------------------------------------------------------------- BG/NBD

@dataclass
class _BGData:
    """Distinct (x, t_x, T) rows with their weights, reduced to what the likelihood needs: totals per distinct
    x and per distinct T, and the distinct rows with x > 0 (the only ones with a drop-out term)."""
    x: np.ndarray         # distinct frequencies
    T: np.ndarray         # distinct T
    tx: np.ndarray        # distinct recencies
    w_x: np.ndarray       # weight per distinct x
    w_T: np.ndarray       # weight per distinct T
    wx_T: np.ndarray      # Σ w · x per distinct T
    rows_x: np.ndarray    # x of each distinct row with x > 0
    rows_ix: np.ndarray   # ... its code into x, T, tx
    rows_iT: np.ndarray
    rows_itx: np.ndarray
    rows_w: np.ndarray
    total: float

    @classmethod
    def build(cls, x, tx, T, w) -> _BGData:
        (ux, ix), (utx, itx), (uT, iT) = (_factorize(c) for c in (x, tx, T))
        # rows without repeat purchases enter only through the totals; the others are compressed
        repeat = np.flatnonzero(x > 0)
        row, representative = _distinct([ix[repeat], itx[repeat], iT[repeat]], [ux.size, utx.size, uT.size])
        first = repeat[representative]
        return cls(ux, uT, utx, np.bincount(ix, weights=w, minlength=ux.size),
                   np.bincount(iT, weights=w, minlength=uT.size), np.bincount(iT, weights=w * x, minlength=uT.size),
                   x[first], ix[first], iT[first], itx[first], np.bincount(row, weights=w[repeat]), float(w.sum()))


def _bg_log_likelihood(log_params: np.ndarray, d: _BGData) -> tuple[float, np.ndarray]:
    """Σ w · log L(r, alpha, a, b | x, t_x, T) and its gradient with respect to the log-parameters.

    L = B(a, b+x)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+T)^(r+x))
        + [x > 0] · B(a+1, b+x−1)/B(a, b) · Γ(r+x) alpha^r / (Γ(r) (alpha+t_x)^(r+x))   (FHL 2005, eq. 6)

    computed as log L = log L_alive + [x > 0] · log(1 + e^k), L_alive the first term and
    k = log(a/(b+x−1)) + (r+x) · log((alpha+T)/(alpha+t_x)) the log-odds of having dropped out.
    """
    r, alpha, a, b = np.exp(log_params)
    x = d.x
    log_T, inv_T = np.log(alpha + d.T), 1 / (alpha + d.T)
    # Σ w · log L_alive, grouped by distinct x and distinct T
    alive_x = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + special.betaln(a, b + x) \
        - special.betaln(a, b)
    value = _dot(d.w_x, alive_x) - _dot(r * d.w_T + d.wx_T, log_T)
    psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x)
    grad = np.array([
        _dot(d.w_x, special.digamma(r + x) - special.digamma(r)) + d.total * np.log(alpha) - _dot(d.w_T, log_T),
        d.total * r / alpha - _dot(r * d.w_T + d.wx_T, inv_T),
        _dot(d.w_x, psi_ab - psi_abx),
        _dot(d.w_x, psi_ab - psi_abx + special.digamma(b + x) - special.digamma(b)),
    ])
    # Σ w · log(1 + e^k) over the distinct rows with x > 0
    if d.rows_w.size:
        inv_b1 = 1 / (b + x[x > 0] - 1)
        log_ratio_x = np.zeros_like(x)
        log_ratio_x[x > 0] = np.log(a * inv_b1)
        rx = r + d.rows_x
        log_gap = log_T[d.rows_iT] - np.log(alpha + d.tx)[d.rows_itx]
        k = log_ratio_x[d.rows_ix] + rx * log_gap
        value += _dot(d.rows_w, np.logaddexp(0.0, k))
        ws = d.rows_w * special.expit(k)  # weight × P(dropped out | this row)
        inv_b1_x = np.zeros_like(x)
        inv_b1_x[x > 0] = inv_b1
        grad += np.array([
            _dot(ws, log_gap),
            _dot(ws, rx * (inv_T[d.rows_iT] - (1 / (alpha + d.tx))[d.rows_itx])),
            ws.sum() / a,
            -_dot(ws, inv_b1_x[d.rows_ix]),
        ])
    return float(value), grad * np.array([r, alpha, a, b])


def bg_log_likelihood(log_params, frequency, recency, T, weights=None) -> tuple[float, np.ndarray]:
    """BG/NBD log-likelihood Σ w · log L at log(r, alpha, a, b) and its gradient in the log-parameters."""
    return bg_log_likelihood_function(frequency, recency, T, weights)(log_params)


def bg_log_likelihood_function(frequency, recency, T, weights=None):
    """``bg_log_likelihood`` of these customers as a function of the log-parameters alone (the data are
    validated and compressed once, for many evaluations)."""
    data = _BGData.build(*_rfm_inputs(frequency, recency, T, weights, fit=True))
    return lambda log_params: _bg_log_likelihood(np.asarray(log_params, dtype=float), data)


class BetaGeo:
    """BG/NBD model. ``fit(frequency, recency, T, weights=None)`` returns self; then ``params_`` (r, alpha,
    a, b; alpha in the time unit of the inputs) and ``log_likelihood_`` (Σ w · log L)."""

    params_: dict[str, float]
    log_likelihood_: float

    def fit(self, frequency, recency, T, weights=None) -> BetaGeo:
        x, tx, t, w = _rfm_inputs(frequency, recency, T, weights, fit=True)
        if not (w[x > 0] > 0).any():
            raise ModelError(f"BG/NBD needs customers with repeat purchases: all {int(w.sum())} customers have "
                             "frequency 0, so the drop-out process cannot be estimated")
        scale = _dot(w, t) / w.sum()  # fit in units of the mean T: the optimiser sees O(1) numbers
        data = _BGData.build(x, tx / scale, t / scale, w)

        def objective(theta):
            value, grad = _bg_log_likelihood(theta, data)
            return -value / data.total, -grad / data.total

        result = _fit(objective, np.zeros(4), ("r", "alpha", "a", "b"), "BG/NBD")
        r, alpha, a, b = np.exp(result.x)
        self.params_ = {"r": float(r), "alpha": float(alpha * scale), "a": float(a), "b": float(b)}
        # log L in the caller's unit: alpha^r / (alpha + T)^(r+x) contributes −x·log(scale)
        self.log_likelihood_ = float(-result.fun * data.total - _dot(w, x) * np.log(scale))
        return self

    def _params(self):
        if not hasattr(self, "params_"):
            raise ValueError("BetaGeo is not fitted yet: call fit() first")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def _p_alive(self, x, tx, T) -> np.ndarray:
        r, alpha, a, b = self._params()
        ux, ix = _factorize(x)
        with np.errstate(divide="ignore", invalid="ignore"):  # x = 0 gives nonsense here, replaced by 1 below
            log_ratio = np.log(a / (b + ux - 1))[ix]
            log_odds = log_ratio + (r + x) * np.log1p((T - tx) / (alpha + tx))  # log P(dropped out) / P(alive)
        return np.where(x > 0, special.expit(-log_odds), 1.0)

    def _purchases_if_alive(self, times: np.ndarray, x, T) -> tuple[np.ndarray, np.ndarray]:
        """Expected purchases in (T, T + t] of a customer alive at T, for each t in ``times``: a matrix
        (len(times), distinct (x, T)) and each customer's column (see ``_conditional_purchases``)."""
        r, alpha, a, b = self._params()
        (ux, uT), (ix, iT), column = _compress(x, T)
        x_, T_ = ux[ix], uT[iT]
        t = np.asarray(times, dtype=float)[:, None]
        z = t / (alpha + T_ + t)
        if abs(a - 1) >= A_NEAR_ONE:
            return _conditional_purchases(r, a, b, x_, z), column
        # the formula is 0/0 at a = 1: interpolate between a = 1 ± A_NEAR_ONE (error of order A_NEAR_ONE²)
        low, high = (_conditional_purchases(r, 1 + d, b, x_, z) for d in (-A_NEAR_ONE, A_NEAR_ONE))
        return low + (a - 1 + A_NEAR_ONE) / (2 * A_NEAR_ONE) * (high - low), column

    def p_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] · a/(b+x−1) · ((alpha+T)/(alpha+t_x))^(r+x))."""
        return self._p_alive(*_rfm_inputs(frequency, recency, T)[:3])

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10) for a horizon ``t`` in the model's unit."""
        x, tx, T_, _ = _rfm_inputs(frequency, recency, T)
        t = _horizon(t)
        per_alive, column = self._purchases_if_alive(np.array([t]), x, T_)
        return per_alive[0, column] * self._p_alive(x, tx, T_)

    def expected_purchases_new(self, t) -> float | np.ndarray:
        """E[X(t)]: expected repeat purchases in the first ``t`` after a new customer's first purchase
        (FHL 2005 eq. 9: (a+b−1)/(a−1) · [1 − (alpha/(alpha+t))^r · 2F1(r, b; a+b−1; t/(alpha+t))])."""
        times = np.atleast_1d(np.asarray(t, dtype=float))
        for value in times:
            _horizon(value)
        per_alive, _ = self._purchases_if_alive(times, np.zeros(1), np.zeros(1))
        result = per_alive[:, 0]
        return result if np.ndim(t) else float(result[0])


def _conditional_purchases(r, a, b, x, z):
    """(a+b+x−1)/(a−1) · [1 − ((alpha+T)/(alpha+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)], z = t/(alpha+T+t):
    FHL 2005 eq. 10 without its P(alive) factor, evaluated through Euler's transformation as
    1 − (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z), whose upper parameters are small and fixed, so the
    series stays accurate for frequencies in the hundreds."""
    c = a + b + x - 1
    series = special.hyp2f1(a + b - 1 - r, a - 1, c, z)
    failed = ~np.isfinite(series)
    if failed.any():  # scipy gives NaN where c − A − B is a large whole number and z → 1; F is smooth there
        c_, z_ = (np.broadcast_to(v, series.shape)[failed] for v in (c, z))
        series[failed] = special.hyp2f1(a + b - 1 - r + 1e-7, a - 1, c_, z_)
    return c / (a - 1) * (1 - (1 - z) ** (a - 1) * series)


def _horizon(t) -> float:
    if np.ndim(t) != 0 or not np.isfinite(t) or t < 0:
        raise ValueError(f"the horizon t must be one finite number ≥ 0, got {t!r}")
    return float(t)


# --------------------------------------------------------------------------- Gamma-Gamma

@dataclass
class _GGData:
    x: np.ndarray      # distinct frequencies
    ix: np.ndarray
    xm: np.ndarray     # x · m per customer
    w: np.ndarray
    wx: np.ndarray     # weight per distinct x
    wxx: np.ndarray    # w · x per customer
    sum_w_log_m: float
    sum_wx_log_m: float
    total: float

    @classmethod
    def build(cls, x, m, w) -> _GGData:
        ux, ix = _factorize(x)
        log_m = np.log(m)
        return cls(ux, ix, x * m, w, np.bincount(ix, weights=w, minlength=ux.size), w * x,
                   _dot(w, log_m), _dot(w * x, log_m), float(w.sum()))


def _gg_log_likelihood(log_params: np.ndarray, d: _GGData) -> tuple[float, np.ndarray]:
    """Σ w · log f(m | x; p, q, v) and its gradient in the log-parameters, where (Fader & Hardie 2013)
    log f = log Γ(px+q) − log Γ(px) − log Γ(q) + q log v + (px−1) log m + px log x − (px+q) log(v + x m)."""
    p, q, v = np.exp(log_params)
    x = d.x
    px = p * x
    log_x = np.log(x)
    per_x = special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(v) + px * log_x
    log_vxm = np.log(v + d.xm)
    inv_vxm = 1.0 / (v + d.xm)
    sum_wx_log, sum_w_log = _dot(d.wxx, log_vxm), _dot(d.w, log_vxm)
    value = _dot(d.wx, per_x) + p * d.sum_wx_log_m - d.sum_w_log_m - p * sum_wx_log - q * sum_w_log
    psi_pxq = special.digamma(px + q)
    grad = np.array([
        _dot(d.wx, x * (psi_pxq - special.digamma(px) + log_x)) + d.sum_wx_log_m - sum_wx_log,
        _dot(d.wx, psi_pxq - special.digamma(q)) + d.total * np.log(v) - sum_w_log,
        d.total * q / v - p * _dot(d.wxx, inv_vxm) - q * _dot(d.w, inv_vxm),
    ])
    return float(value), grad * np.array([p, q, v])


def _gg_inputs(frequency, monetary, weights=None):
    """(x, m, w) of the repeat customers (frequency > 0), validated."""
    named = {"frequency": frequency, "monetary": monetary}
    if weights is not None:
        named["weights"] = weights
    arrays = _columns(**named)
    x, m = arrays[:2]
    w = arrays[2] if weights is not None else np.ones_like(x)
    if (x < 0).any() or (x != np.floor(x)).any():
        raise ValueError("frequency must be a whole number ≥ 0 (repeat purchases)")
    if (w < 0).any():
        raise ValueError("weights must be ≥ 0")
    repeat = x > 0
    if (m[repeat] <= 0).any():
        raise ValueError("monetary must be > 0 for customers with frequency > 0")
    return x[repeat], m[repeat], w[repeat]


def gg_log_likelihood(log_params, frequency, monetary, weights=None) -> tuple[float, np.ndarray]:
    """Gamma-Gamma log-likelihood at log(p, q, v) over the repeat customers, and its gradient."""
    return gg_log_likelihood_function(frequency, monetary, weights)(log_params)


def gg_log_likelihood_function(frequency, monetary, weights=None):
    """``gg_log_likelihood`` of these customers as a function of the log-parameters alone."""
    data = _GGData.build(*_gg_inputs(frequency, monetary, weights))
    return lambda log_params: _gg_log_likelihood(np.asarray(log_params, dtype=float), data)


def _weighted_correlation(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    dx, dy = x - np.average(x, weights=w), y - np.average(y, weights=w)
    denominator = np.sqrt(_dot(w, dx**2) * _dot(w, dy**2))
    return _dot(w, dx * dy) / denominator if denominator > 0 else 0.0


class GammaGamma:
    """Gamma-Gamma spend model. ``fit(frequency, monetary, weights=None)`` uses the customers with
    frequency > 0 (others are ignored) and returns self; then ``params_`` (p, q, v), ``log_likelihood_``
    and ``correlation_`` (Pearson correlation of frequency and monetary among the repeat customers;
    a ``CorrelationWarning`` is issued when it exceeds ``CORRELATION_LIMIT`` in absolute value)."""

    CORRELATION_LIMIT = 0.3

    params_: dict[str, float]
    log_likelihood_: float
    correlation_: float

    def fit(self, frequency, monetary, weights=None) -> GammaGamma:
        x, m, w = _gg_inputs(frequency, monetary, weights)
        if not (w > 0).any():
            raise ModelError("Gamma-Gamma needs customers with repeat purchases (frequency > 0); there are none")
        self.correlation_ = _weighted_correlation(x, m, w)
        if abs(self.correlation_) > self.CORRELATION_LIMIT:
            warnings.warn(f"frequency and spend per purchase are correlated (Pearson r = {self.correlation_:.2f});"
                          " the Gamma-Gamma model assumes independence, so its spend estimates may be biased",
                          CorrelationWarning, stacklevel=2)
        scale = _dot(w, m) / w.sum()  # fit on m / mean(m); v scales back
        data = _GGData.build(x, m / scale, w)

        def objective(theta):
            value, grad = _gg_log_likelihood(theta, data)
            return -value / data.total, -grad / data.total

        result = _fit(objective, np.array([0.0, np.log(2.0), 0.0]), ("p", "q", "v"), "Gamma-Gamma")
        p, q, v = np.exp(result.x)
        self.params_ = {"p": float(p), "q": float(q), "v": float(v * scale)}
        self.log_likelihood_ = float(-result.fun * data.total - data.total * np.log(scale))
        return self

    def conditional_expected_average_spend(self, frequency, monetary) -> np.ndarray:
        """E[spend per purchase | x, m] = p (v + x m) / (p x + q − 1) for x > 0; the population mean
        p v / (q − 1) for x = 0 (NaN when q ≤ 1, where that mean does not exist)."""
        if not hasattr(self, "params_"):
            raise ValueError("GammaGamma is not fitted yet: call fit() first")
        x, m = _columns(frequency=frequency, monetary=monetary)
        if (x < 0).any() or (x != np.floor(x)).any():
            raise ValueError("frequency must be a whole number ≥ 0 (repeat purchases)")
        if (m[x > 0] <= 0).any():
            raise ValueError("monetary must be > 0 for customers with frequency > 0")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        mean = p * v / (q - 1) if q > 1 else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, p * (v + x * m) / (p * x + q - 1), mean)


# --------------------------------------------------------------------------- CLV

def customer_lifetime_value(bg: BetaGeo, gg: GammaGamma, frequency, recency, T, monetary,
                            horizon_months: int = 12, annual_discount: float = 0.10, margin: float = 1.0,
                            days_per_unit: float = 1.0) -> np.ndarray:
    """Discounted expected margin of each customer over the next ``horizon_months`` months:

    CLV = Σ_{m=1..H} (E[X(m)] − E[X(m−1)]) · S · margin / (1 + i)^m

    with E[X(m)] the BG/NBD expected purchases in the first m months after T (``expected_purchases``),
    S the Gamma-Gamma expected spend per purchase, i = (1 + annual_discount)^(1/12) − 1 the monthly
    rate; a month is 365.25 / 12 days = 365.25 / 12 / ``days_per_unit`` time units of the models.
    """
    if int(horizon_months) != horizon_months or horizon_months < 0:
        raise ValueError("horizon_months must be a whole number ≥ 0")
    if not np.isfinite(annual_discount) or annual_discount <= -1:
        raise ValueError("annual_discount must be > −1 (a fraction: 0.10 = 10 % a year)")
    if not np.isfinite(margin):
        raise ValueError("margin must be a finite number")
    if not days_per_unit > 0:
        raise ValueError("days_per_unit must be > 0")
    x, tx, T_, _ = _rfm_inputs(frequency, recency, T)
    spend = gg.conditional_expected_average_spend(x, monetary)
    months = np.arange(int(horizon_months) + 1)
    cumulative, column = bg._purchases_if_alive(months * DAYS_PER_MONTH / days_per_unit, x, T_)
    discount = (1 + annual_discount) ** (-months[1:] / 12)
    # per distinct (x, T), for a customer alive at T
    discounted = np.einsum("m,mk->k", discount, np.diff(cumulative, axis=0))
    return margin * spend * bg._p_alive(x, tx, T_) * discounted[column]


# --------------------------------------------------------------------------- simulation (tests, benchmarks)

def simulate_bg(T, r: float, alpha: float, a: float, b: float, rng: np.random.Generator,
                holdout: float = 0.0) -> dict[str, np.ndarray]:
    """Customers drawn from the BG/NBD process, observed for ``T`` (an array) after their first purchase:
    frequency, recency, T, and ``holdout_purchases`` in (T, T + holdout].

    λ ~ Gamma(r, alpha), p ~ Beta(a, b); the number of repeat purchases until drop-out is J ~ Geometric(p);
    K ~ Poisson(λT) purchase opportunities in (0, T], so x = min(K, J) and t_x, the x-th of K uniform
    times, is T · Beta(x, K − x + 1). Alive at T when J > K; then min(Poisson(λ·holdout), J − K) follow.
    """
    T = np.asarray(T, dtype=float)
    n = T.size
    rate = rng.gamma(r, 1 / alpha, n)
    drop = np.clip(rng.beta(a, b, n), 1e-12, 1)
    until_drop = rng.geometric(drop)
    opportunities = rng.poisson(rate * T)
    x = np.minimum(opportunities, until_drop)
    recency = np.zeros(n)
    repeat = x > 0
    recency[repeat] = T[repeat] * rng.beta(x[repeat], opportunities[repeat] - x[repeat] + 1)
    later = np.minimum(rng.poisson(rate * holdout), np.maximum(until_drop - opportunities, 0))
    return {"frequency": x.astype(float), "recency": recency, "T": T, "holdout_purchases": later.astype(float)}


def simulate_gg(frequency, p: float, q: float, v: float, rng: np.random.Generator) -> np.ndarray:
    """Mean spend per repeat purchase drawn from the Gamma-Gamma model (0 where frequency is 0): ν ~ Gamma(q, v),
    the mean of x purchases ~ Gamma(p·x, ν·x)."""
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1 / v, x.size)
    monetary = np.zeros(x.size)
    repeat = x > 0
    monetary[repeat] = rng.gamma(p * x[repeat], 1 / (nu[repeat] * x[repeat]))
    return monetary
