"""Whether two engines gave the same result: the comparison of tests/test_spark_parity.py and
bench/bench_spark.py (one definition for both)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def normal(value):
    """A cell as a comparable Python value: missing -> None, midnight timestamps -> dates, numpy scalars unwrapped."""
    if value is None or (not isinstance(value, (str, bytes, list, tuple, dict)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sort_key(values: list) -> pd.Series:
    """A sortable column for normalised ``values``: numbers as numbers, anything else as text; None first."""
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return pd.Series(pd.array([v if v is None else float(v) for v in values], dtype="Float64"))
    return pd.Series(["\0" if v is None else str(v) for v in values])


def compare(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """None when the frames hold the same rows in any order — same columns; floats within 1e-9 relative,
    every other cell equal after :func:`normal` — else what differs first."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    if list(a.columns) != list(b.columns):
        return f"columns differ: {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"row counts differ: {len(a)} vs {len(b)}"
    floats = [c for c in a.columns if pd.api.types.is_float_dtype(a[c].dtype) or pd.api.types.is_float_dtype(b[c].dtype)]
    others = [c for c in a.columns if c not in floats]

    def ordered(f: pd.DataFrame) -> pd.DataFrame:
        keys = pd.DataFrame({f"k{i}": _sort_key([normal(v) for v in f[c]]) for i, c in enumerate(others)})
        for i, c in enumerate(floats):
            keys[f"f{i}"] = pd.to_numeric(f[c], errors="coerce").astype(float).to_numpy()
        if keys.empty:
            return f
        order = keys.sort_values(list(keys.columns), kind="stable", na_position="first").index
        return f.iloc[order].reset_index(drop=True)

    x, y = ordered(a), ordered(b)
    for c in others:
        left, right = [normal(v) for v in x[c]], [normal(v) for v in y[c]]
        bad = [i for i, (p, q) in enumerate(zip(left, right)) if p != q]
        if bad:
            return f"column {c}: {len(bad)} rows differ (first: {left[bad[0]]!r} vs {right[bad[0]]!r})"
    for c in floats:
        p = pd.to_numeric(x[c], errors="coerce").to_numpy(dtype=float)
        q = pd.to_numeric(y[c], errors="coerce").to_numpy(dtype=float)
        close = np.isclose(q, p, rtol=1e-9, atol=0) | (np.isnan(p) & np.isnan(q))
        if not close.all():
            i = int(np.flatnonzero(~close)[0])
            return f"column {c}: {int((~close).sum())} values differ beyond 1e-9 relative (first: {p[i]!r} vs {q[i]!r})"
    return None
