"""Dates on Plotly charts in the interface language.

The Plotly.js that Streamlit bundles knows only its English locale (``en``, ``en-US``: no ``de`` dictionary is
registered, and the app works offline), so a date axis would show "Oct 2025" whatever the language. Instead
:func:`localise_dates` (called by :func:`clm_ui.widgets.chart` for every chart) gives each date axis ticks computed
here with labels from :mod:`clm_core.i18n` ("Okt 2025"), a hover format without month names, and rewrites
hover templates that show the date (``%{x}``, ``%{x|%Y-%m}``) to show the same labels instead.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from clm_core.i18n import date_ticks, format_date, month_label, plotly_hoverformat
from clm_core.workbook import is_missing

#: An ISO date (2025-10, 2025-10-05, 2025-10-05 13:45:00) as Plotly reads it on a date axis.
DATE_TEXT = re.compile(r"\d{4}-\d{2}(-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)?")
#: Axis types on which values stay as they are (a page's explicit choice).
NOT_DATES = {"category", "multicategory", "linear", "log"}
#: Trace types whose hover template may name a per-point hover text (heatmaps hold a grid of them, histograms
#: hover over their bins).
HOVERTEXT_TRACES = {"scatter", "scattergl", "bar"}
_HOVER_DATE = {letter: re.compile(r"%\{" + letter + r"(\|[^}]*)?\}") for letter in "xy"}


def as_dates(values) -> pd.DatetimeIndex | None:
    """``values`` as timestamps (NaT for a gap) when they are dates (datetime64, date objects or ISO texts, as
    Plotly takes them on a date axis), else None."""
    if values is None or isinstance(values, (str, bytes, dict)):
        return None
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        return None
    if array.ndim != 1 or not len(array):
        return None
    if np.issubdtype(array.dtype, np.datetime64):
        return pd.DatetimeIndex(array)
    if array.dtype.kind not in "OUS":
        return None
    present = [v for v in array if not is_missing(v)]
    if not present:
        return None
    if all(isinstance(v, (dt.date, np.datetime64)) for v in present):
        pass
    elif all(isinstance(v, str) and DATE_TEXT.fullmatch(v) for v in present):
        pass
    else:
        return None
    try:
        return pd.DatetimeIndex([pd.NaT if is_missing(v) else pd.Timestamp(v) for v in array])
    except (TypeError, ValueError):
        return None


def _is_monthly(dates: pd.DatetimeIndex) -> bool:
    """Every date the first of its month, without a time of day (a monthly series)."""
    present = dates.dropna()
    return bool(len(present)) and bool(((present.day == 1) & (present == present.normalize())).all())


def _timed(dates: pd.DatetimeIndex) -> bool:
    present = dates.dropna()
    return bool(len(present)) and bool((present != present.normalize()).any())


def point_labels(dates: pd.DatetimeIndex, lang: str, monthly: bool) -> list[str]:
    """One hover label per point: "Okt 2025" for a monthly series, else the day (and time) in the language."""
    timed = _timed(dates)
    labels = []
    for value in dates:
        if value is pd.NaT or pd.isna(value):
            labels.append("")
        elif monthly:
            labels.append(month_label(value.date(), lang))
        else:
            labels.append(format_date(value.date(), lang) + (value.strftime(" %H:%M") if timed else ""))
    return labels


def _axis_name(trace, letter: str) -> str:
    anchor = getattr(trace, f"{letter}axis", None) or letter  # "x", "x2", ...
    return f"{letter}axis{anchor[1:]}"


def _values(trace, letter: str):
    try:
        return trace[letter]
    except (KeyError, ValueError, AttributeError, TypeError):
        return None


def localise_dates(fig, lang: str) -> None:
    """Give every date axis of ``fig`` ticks and hover labels in ``lang`` (in place; other axes untouched).

    An axis is a date axis when its type is ``date``, or unset and every trace on it has date values. A page's
    own ticks (``tickvals``) are kept. Hover templates of scatter and bar traces that show the date read a
    per-point hover text instead (unless the trace has its own hover text); every other hover shows the date
    in a format without month names.
    """
    found: dict[str, list[tuple[object, pd.DatetimeIndex]]] = {}
    refused: set[str] = set()
    for trace in fig.data:
        for letter in "xy":
            values = _values(trace, letter)
            if values is None:
                continue
            name = _axis_name(trace, letter)
            dates = as_dates(values)
            if dates is None:
                refused.add(name)
            else:
                found.setdefault(name, []).append((trace, dates))
    for name, traces in found.items():
        if name in refused:
            continue
        try:
            axis = fig.layout[name]
        except (KeyError, ValueError):
            continue
        if axis.type in NOT_DATES or axis.tickvals is not None:
            continue
        every = pd.DatetimeIndex(np.concatenate([d.dropna().to_numpy() for _, d in traces]))
        if not len(every):
            continue
        monthly = all(_is_monthly(d) for _, d in traces)
        ticks, labels = date_ticks(every.min().date(), every.max().date(), lang, monthly=monthly)
        fig.update_layout({name: dict(type="date", tickmode="array", tickvals=[d.isoformat() for d in ticks],
                                      ticktext=labels, hoverformat=plotly_hoverformat(lang, monthly))})
        letter = name[0]
        for trace, dates in traces:
            template = getattr(trace, "hovertemplate", None)
            if (trace.type not in HOVERTEXT_TRACES or not isinstance(template, str)
                    or not _HOVER_DATE[letter].search(template) or "%{hovertext}" in template
                    or trace.hovertext is not None):
                continue
            trace.update(hovertext=point_labels(dates, lang, monthly),
                         hovertemplate=_HOVER_DATE[letter].sub("%{hovertext}", template))
