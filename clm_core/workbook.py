"""An Excel workbook of a view (issue [7], "Export for decks"): a first sheet with the view's parameters and
filter, then one sheet per table the page showed.

Cells keep their types: numbers are numbers, dates are dates, booleans are booleans, everything else is text.
The display format goes into the cell style and follows the interface language the way the app's tables do
(``clm_ui.widgets.table``): a euro amount is ``€1,234.56`` in English and ``1.234,56 €`` in German, a share
``12.5%`` / ``12,5 %``, a date ``2024-03-05`` / ``05.03.2024``; the stored numbers are the same in both
(Excel shows thousands and decimal separators in its reader's own locale).

No cell runs a formula (DESIGN §5): text is written as a string cell, never parsed (XlsxWriter's
``strings_to_formulas``/``strings_to_urls``/``strings_to_numbers`` off, and every text cell written with
``write_string``), and it also follows the CSV rule of :mod:`clm_core.export` (a leading ``'`` before
``= + - @``, tab or carriage return), so a copy of the text into another tool cannot start a formula either.

Pure logic, no Streamlit (:func:`describe_view` gives the View sheet's rows of a view state):
``clm_ui.widgets`` collects the tables of a run and offers the download.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import xlsxwriter

from clm_core.export import neutralise_text
from clm_core.i18n import tr

#: Columns without a configured format whose name says they hold a fraction, shown as a percentage.
FRACTION_NAME = re.compile(r"^(share|rate|retention|conversion.*|.*_(share|rate|retention))$")
#: A printf-style format as the pages write them for NumberColumn: "%.1f", "± %.1f", "%.2f €", "%d".
PRINTF = re.compile(r"^(?P<before>[^%]*)%[,']?(?:\.(?P<decimals>\d+))?[dif](?P<after>[^%]*)$")

#: Excel's limits: rows per sheet (the header takes one), columns, characters of a sheet name and of a cell.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_SHEET_NAME = 31
MAX_CELL_TEXT = 32_767
#: Characters a sheet name cannot hold.
BAD_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")

TEXT = {
    "view_sheet": ("View", "Ansicht"),
    "table_sheet": ("Table", "Tabelle"),
    "page": ("Page", "Seite"),
    "link": ("Link", "Link"),
    "no_filter": ("none", "keiner"),
    "customer_list": ("Customer list", "Kundenliste"),
    "parameter": ("Page parameter {name}", "Seitenparameter {name}"),
    "rows_cut": ("Sheet {sheet}: the first {shown} of {total} rows (Excel's limit)",
                 "Blatt {sheet}: die ersten {shown} von {total} Zeilen (Grenze von Excel)"),
    "columns_cut": ("Sheet {sheet}: the first {shown} of {total} columns (Excel's limit)",
                    "Blatt {sheet}: die ersten {shown} von {total} Spalten (Grenze von Excel)"),
}

OPTIONS = {
    "strings_to_formulas": False,  # "=HYPERLINK(…)" is text
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "constant_memory": True,  # rows are written in order; a long table does not sit in memory cell by cell
    "remove_timezone": True,
    "default_date_format": "yyyy-mm-dd",
}


# ------------------------------------------------------------------------------------------- the view sheet

def describe_view(state, lang: str | None = None, dataset_name: str | None = None, as_of: dt.date | None = None,
                  page_title: str | None = None, base_url: str | None = None) -> list[tuple[str, object]]:
    """The rows of the "View" sheet for a :class:`clm_core.viewstate.ViewState`: page, dataset, as-of date
    (a date), segment filter, page parameters and the link, labelled in ``lang``. The link is the app's
    address ``base_url`` (an http(s) URL, as the browser showed it) with the view's query string, or the
    query string alone without one."""
    lang = lang or state.lang
    rows: list[tuple[str, object]] = [
        (tr("page", lang, TEXT), page_title or tr(f"page_{state.page}", lang)),
        (tr("dataset", lang), dataset_name or state.dataset or ""),
    ]
    day = as_of if as_of is not None else (dt.date.fromisoformat(state.as_of) if state.as_of else None)
    rows.append((tr("as_of", lang), day if day is not None else ""))
    segment = state.segment
    if segment.is_empty():
        rows.append((tr("filter", lang), tr("no_filter", lang, TEXT)))
    else:
        filter_label = tr("filter", lang)
        if segment.stages:
            rows.append((f"{filter_label}: {tr('stage', lang)}", ", ".join(tr(s, lang) for s in segment.stages)))
        for name, values in segment.attributes.items():
            rows.append((f"{filter_label}: {name}", ", ".join(values)))
        if segment.cohort_from or segment.cohort_to:
            rows.append((f"{filter_label}: {tr('cohort_range', lang)}",
                         f"{segment.cohort_from or '…'} – {segment.cohort_to or '…'}"))
        if segment.customer_list:
            rows.append((f"{filter_label}: {tr('customer_list', lang, TEXT)}", segment.customer_list))
    for name, values in sorted(state.params.items()):
        rows.append((tr("parameter", lang, TEXT, name=name), ", ".join(values)))
    query = "?" + urlencode(state.to_query_params(), doseq=True)
    base = _base_url(base_url)
    rows.append((tr("link", lang, TEXT), base + query if base else query))
    return rows


def _base_url(url: str | None) -> str:
    """``url`` without its query and fragment if it is an http(s) address with a host, else ""."""
    if not url:
        return ""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in str(url) for c in ' "<>\'`\n\r\t'):
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


# ------------------------------------------------------------------------------------------- number formats

def _quoted(text: str) -> str:
    text = text.replace('"', "")
    return f'"{text}"' if text else ""


def _decimals_code(decimals: int) -> str:
    return "#,##0" + ("." + "0" * decimals if decimals > 0 else "")


def _euro(decimals: int, lang: str) -> str:
    return f'{_decimals_code(decimals)} "€"' if lang == "de" else f'"€"{_decimals_code(decimals)}'


def percent_format(decimals: int, lang: str) -> str:
    code = "0" + ("." + "0" * decimals if decimals > 0 else "")
    return f"{code} %" if lang == "de" else f"{code}%"


def date_format(lang: str, with_time: bool = False) -> str:
    day = "dd.mm.yyyy" if lang == "de" else "yyyy-mm-dd"
    return f"{day} hh:mm" if with_time else day


def _numbers(values: pd.Series) -> pd.Series:
    """The numbers among ``values`` (not booleans), as floats."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series([], dtype=float)
    if pd.api.types.is_numeric_dtype(values):
        return values.dropna().astype(float)
    present = [v for v in values.dropna() if is_number(v)]
    return pd.Series([float(v) for v in present], dtype=float)


def is_number(value) -> bool:
    """A number (int, float, NumPy number, Decimal), not a boolean."""
    return isinstance(value, (int, float, np.integer, np.floating, decimal.Decimal)) and not isinstance(
        value, (bool, np.bool_))


def whole_numbers(values: pd.Series) -> bool:
    """Whether the column's finite numbers (at least one) are all whole and below 1e15."""
    if pd.api.types.is_integer_dtype(values):
        return True
    numbers = _numbers(values)
    numbers = numbers[np.isfinite(numbers)]
    return bool(len(numbers)) and bool((numbers == numbers.round()).all()) and bool((numbers.abs() < 1e15).all())


def number_format(values: pd.Series, wanted: str | None, lang: str) -> str | None:
    """The Excel number format for the numbers of ``values`` that the app's table shows as ``wanted`` says
    (a NumberColumn format: ``"percent"``, ``"euro"``, ``"localized"``, printf-style such as ``"%.1f"``,
    ``"± %.1f"``, ``"%.2f €"``, or None: whole numbers without decimals, fractions named as shares as
    percentages, other decimals with two places); None for Excel's General (e.g. ``"plain"``)."""
    if wanted == "percent" or (wanted is None and FRACTION_NAME.match(str(values.name))
                               and pd.api.types.is_float_dtype(values)):
        return percent_format(1, lang)
    if wanted == "euro":
        return _euro(2, lang)
    if wanted in (None, "localized"):
        return _decimals_code(0 if whole_numbers(values) else 2)
    printf = PRINTF.match(wanted)
    if printf is None:
        return None
    decimals = int(printf["decimals"] or 0)
    before, after = printf["before"], printf["after"]
    if "€" in before + after:
        return _euro(decimals, lang)
    return f"{_quoted(before)}{_decimals_code(decimals)}{_quoted(after)}"


# ------------------------------------------------------------------------------------------- sheet names

def sheet_name(title, used: set[str], fallback: str = "Table") -> str:
    """``title`` as an Excel sheet name: without ``[]:*?/\\``, at most 31 characters, not starting or ending
    with an apostrophe, not "History" (reserved), and unique (case-insensitively) among ``used``, which gets
    it added."""
    name = BAD_SHEET_CHARACTERS.sub("_", str(title)).strip().strip("'").strip()[:MAX_SHEET_NAME].rstrip().rstrip("'")
    if not name:
        name = fallback
    if name.lower() == "history":
        name += "_"
    candidate, number = name, 1
    while candidate.lower() in used:
        number += 1
        suffix = f" ({number})"
        candidate = name[:MAX_SHEET_NAME - len(suffix)].rstrip().rstrip("'") + suffix
    used.add(candidate.lower())
    return candidate


# ------------------------------------------------------------------------------------------- cells

class _Styles:
    """One cell format per number format (XlsxWriter wants them made once)."""

    def __init__(self, book: xlsxwriter.Workbook):
        self.book = book
        self.made: dict[str | None, object] = {}
        self.header = book.add_format({"bold": True, "bottom": 1})
        self.label = book.add_format({"bold": True})

    def __call__(self, code: str | None):
        if code is None:
            return None
        if code not in self.made:
            self.made[code] = self.book.add_format({"num_format": code})
        return self.made[code]


def is_missing(value) -> bool:
    """None, NaN, NaT or pd.NA (a value no cell shows)."""
    if value is None:
        return True
    try:
        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return result is True or (isinstance(result, np.bool_) and bool(result))


def _text(value) -> str:
    text = value if isinstance(value, str) else str(value)
    return neutralise_text(text)[:MAX_CELL_TEXT]


def _has_time(value) -> bool:
    return isinstance(value, dt.datetime) and (value.hour, value.minute, value.second, value.microsecond) != (
        0, 0, 0, 0)


def _write(sheet, row: int, col: int, value, number_style, styles: _Styles, lang: str,
           date_style=None) -> None:
    """One cell with its type: nothing for a missing value, a number, a boolean, a date (``date_style``, else
    the language's date, with the time of day when it has one), else text."""
    if is_missing(value):
        return
    if isinstance(value, (bool, np.bool_)):
        sheet.write_boolean(row, col, bool(value))
    elif is_number(value):
        number = float(value)
        if math.isfinite(number):
            sheet.write_number(row, col, number, number_style)
        else:
            sheet.write_string(row, col, _text("∞" if number > 0 else "-∞"))
    elif isinstance(value, dt.datetime):  # a pandas Timestamp too
        value = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        sheet.write_datetime(row, col, value, date_style or styles(date_format(lang, _has_time(value))))
    elif isinstance(value, dt.date):
        sheet.write_datetime(row, col, value, date_style or styles(date_format(lang)))
    elif isinstance(value, np.datetime64):
        _write(sheet, row, col, pd.Timestamp(value), number_style, styles, lang, date_style)
    else:
        sheet.write_string(row, col, _text(value))


def _column_values(values: pd.Series) -> list:
    """The cells of one column as Python objects (dates of a tz-aware column in their own local time)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    return values.astype(object).tolist()


def _header(label) -> str:
    if isinstance(label, tuple):  # a MultiIndex column
        label = " / ".join(str(part) for part in label)
    return _text(label)


def _shown_length(value) -> int:
    """About how many characters a cell takes in Excel (for the column's width)."""
    if is_number(value):
        return len(f"{float(value):,.2f}") + 2 if math.isfinite(float(value)) else 2
    if isinstance(value, dt.date):
        return 16 if _has_time(value) else 10
    return len(str(value))


def _width(header: str, values: list) -> float:
    """A column width for the header and the first 200 cells, 8 to 60 characters."""
    sample = [v for v in values[:200] if not is_missing(v)]
    longest = max([len(header)] + [_shown_length(v) for v in sample])
    return float(min(max(longest + 2, 8), 60))


def formats_for(frame: pd.DataFrame, formats) -> list:
    """The wanted format of each column (by position) from a mapping by column label or a sequence."""
    if formats is None:
        return [None] * frame.shape[1]
    if isinstance(formats, Mapping):
        return [formats.get(label) for label in frame.columns]
    formats = list(formats)
    return (formats + [None] * frame.shape[1])[:frame.shape[1]]


def _is_numeric_column(values: pd.Series) -> bool:
    return (pd.api.types.is_integer_dtype(values) or pd.api.types.is_float_dtype(values)) and not (
        pd.api.types.is_bool_dtype(values))


def _write_table(sheet, frame: pd.DataFrame, formats, styles: _Styles, lang: str) -> None:
    rows = min(len(frame), MAX_ROWS - 1)
    columns = min(frame.shape[1], MAX_COLUMNS)
    wanted = formats_for(frame, formats)
    cells, numeric, number_styles, date_styles = [], [], [], []
    for i in range(columns):
        values = frame.iloc[:rows, i]
        numeric.append(_is_numeric_column(values))
        number_styles.append(styles(number_format(values, wanted[i], lang)) if len(_numbers(values)) else None)
        if numeric[-1]:  # floats, NaN for a missing one: one conversion, no test of each cell's type
            cells.append(values.to_numpy(dtype=float, na_value=np.nan).tolist())
            date_styles.append(None)
            continue
        cells.append(_column_values(values))
        dates = [v for v in cells[-1] if isinstance(v, dt.date) and not is_missing(v)]
        # one date format for the column: with the time of day when any of its dates has one
        date_styles.append(styles(date_format(lang, any(_has_time(v) for v in dates))) if dates else None)
    headers = [_header(label) for label in frame.columns[:columns]]
    for i, header in enumerate(headers):
        sheet.set_column(i, i, _width(header, cells[i]))
        sheet.write_string(0, i, header, styles.header)
    if columns:
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(rows, 1), columns - 1)
    for r in range(rows):  # row by row (constant memory)
        for i in range(columns):
            value = cells[i][r]
            if not numeric[i]:
                _write(sheet, r + 1, i, value, number_styles[i], styles, lang, date_styles[i])
            elif math.isfinite(value):
                sheet.write_number(r + 1, i, value, number_styles[i])
            elif not math.isnan(value):  # infinite
                _write(sheet, r + 1, i, value, number_styles[i], styles, lang)


def view_workbook(view_rows: Sequence[tuple[str, object]], tables: Sequence[tuple], lang: str = "en") -> bytes:
    """The .xlsx bytes: a first sheet "View" ("Ansicht") of ``view_rows`` (label, value), then one sheet per
    table, named after its title. ``tables`` holds ``(title, frame)`` or ``(title, frame, formats)``, where
    ``formats`` gives each column's NumberColumn format (see :func:`number_format`), as a mapping by column
    label or a sequence by position. Tables beyond Excel's size are cut, and the View sheet says so."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, OPTIONS)
    styles = _Styles(book)
    used: set[str] = set()
    view_name = sheet_name(tr("view_sheet", lang, TEXT), used)
    names = [sheet_name(table[0], used, tr("table_sheet", lang, TEXT)) for table in tables]
    notes = []
    for name, table in zip(names, tables):
        frame = table[1]
        if len(frame) > MAX_ROWS - 1:
            notes.append(tr("rows_cut", lang, TEXT, sheet=name, shown=MAX_ROWS - 1, total=len(frame)))
        if frame.shape[1] > MAX_COLUMNS:
            notes.append(tr("columns_cut", lang, TEXT, sheet=name, shown=MAX_COLUMNS, total=frame.shape[1]))

    view = book.add_worksheet(view_name)
    all_rows = [*view_rows, *(("", note) for note in notes)]
    view.set_column(0, 0, min(max([len(str(label)) for label, _ in all_rows] + [10]) + 2, 60))
    view.set_column(1, 1, 60)
    for r, (label, value) in enumerate(all_rows):
        if not is_missing(label) and label != "":
            view.write_string(r, 0, _text(label), styles.label)
        _write(view, r, 1, value, None, styles, lang)

    for name, table in zip(names, tables):
        _write_table(book.add_worksheet(name), table[1], table[2] if len(table) > 2 else None, styles, lang)
    book.close()
    return buffer.getvalue()
