"""Safe CSV exports (DESIGN §5): no cell of a written CSV is read as a formula by a spreadsheet.

The rule (OWASP, "CSV Injection"): a *text* cell whose first character is one of
``= + - @``, tab or carriage return gets a leading ``'``. Only the first character
counts: ``a=b`` and `` =x`` (leading space) are left as they are. Numbers stay
numbers: columns of numeric, boolean and datetime dtype are never touched, so a
negative amount is still written as ``-12.5`` and a missing value stays empty.
Text is everything of object, string or category dtype (non-string values in an
object column are left alone) and the column names, which may come from user data.

One definition of the trigger characters, :data:`TRIGGERS`, serves both paths:

- :func:`neutralise` / :func:`to_csv` for pandas frames (vectorised, no loop over rows);
- :func:`neutralise_relation` for DuckDB relations written by DuckDB's own CSV
  writer (a ``CASE`` on the VARCHAR columns, so large results never pass through pandas).
"""

from __future__ import annotations

import pandas as pd

TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def neutralise_text(value):
    """One value: ``PREFIX + value`` for a string starting with a trigger, else ``value`` unchanged."""
    return PREFIX + value if isinstance(value, str) and value.startswith(TRIGGERS) else value


def _neutralise_strings(values: pd.Series) -> pd.Series:
    """A Series of text (object or string dtype): its trigger-led strings prefixed, everything else kept."""
    try:
        mask = values.str.startswith(TRIGGERS, na=False)
    except AttributeError:  # an object column without any strings (all missing, or numbers stored as objects)
        return values
    mask = mask.astype(bool)
    if not mask.any():
        return values
    out = values.copy()
    out[mask] = PREFIX + values[mask]
    return out


def _neutralise_column(values: pd.Series) -> pd.Series:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if not (pd.api.types.is_object_dtype(categories) or pd.api.types.is_string_dtype(categories)):
            return values
        renamed = pd.Index([neutralise_text(c) for c in categories], dtype=categories.dtype)  # one per category
        if renamed.is_unique:
            return values.cat.rename_categories(renamed)
        return _neutralise_strings(values.astype(object))  # "=a" and "'=a" both present: plain text instead
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return _neutralise_strings(values)
    return values  # numbers, booleans, dates


def neutralise(frame: pd.DataFrame, index: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names follow the rule; numeric, boolean and datetime
    columns are the same objects as in ``frame``. With ``index=True`` the index labels are neutralised too."""
    out = frame.copy(deep=False)
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        neutralised = _neutralise_column(values)
        if neutralised is not values:
            out.isetitem(i, neutralised)
    out.columns = _neutralise_index(frame.columns)
    if index:
        out.index = _neutralise_index(frame.index)
    return out


def _neutralise_index(labels: pd.Index) -> pd.Index:
    """Labels (column names or index values) and the index's name(s), which head the index column."""
    if isinstance(labels, pd.MultiIndex):
        labels = labels.set_levels([_neutralise_index(level) for level in labels.levels])
    elif pd.api.types.is_object_dtype(labels) or pd.api.types.is_string_dtype(labels):
        labels = pd.Index(_neutralise_strings(pd.Series(labels, dtype=labels.dtype, copy=False)))
    return labels.set_names([neutralise_text(n) for n in labels.names])


def to_csv(frame: pd.DataFrame, path_or_buffer=None, **kwargs):
    """``frame.to_csv(path_or_buffer, **kwargs)`` after :func:`neutralise`; ``index`` defaults to False.
    Returns the CSV text when ``path_or_buffer`` is None, like pandas."""
    kwargs.setdefault("index", False)
    safe = neutralise(frame, index=bool(kwargs["index"]))
    if "lineterminator" not in kwargs and "quoting" not in kwargs and _has_carriage_return(safe, kwargs["index"]):
        # Python's csv writer quotes a field only for the characters of its line terminator; with pandas'
        # "\n" a carriage return inside a cell would be written bare, and a spreadsheet would start a new row
        # there (whose first cell is not neutralised). With "\r\n" such cells are quoted.
        kwargs["lineterminator"] = "\r\n"
    return safe.to_csv(path_or_buffer, **kwargs)


def _has_carriage_return(frame: pd.DataFrame, index: bool) -> bool:
    labels = [frame.columns] + ([frame.index] if index else [])
    for values in [*labels, *(frame.iloc[:, i] for i in range(frame.shape[1]))]:
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.dtype.categories
        if isinstance(values, pd.MultiIndex):
            values = values.to_flat_index().map(str)
        if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
            try:
                if values.str.contains("\r", regex=False, na=False).astype(bool).any():
                    return True
            except AttributeError:  # no strings in this column
                pass
    return False


def to_csv_bytes(frame: pd.DataFrame, **kwargs) -> bytes:
    """The UTF-8 bytes of :func:`to_csv` (for download buttons)."""
    return to_csv(frame, **kwargs).encode("utf-8")


# ------------------------------------------------------------------------------------------- DuckDB path

def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_case(column_sql: str) -> str:
    """A DuckDB SQL expression: the VARCHAR expression ``column_sql`` with the rule applied."""
    triggers = ", ".join(f"chr({ord(c)})" for c in TRIGGERS)
    return f"CASE WHEN left({column_sql}, 1) IN ({triggers}) THEN {_sql_literal(PREFIX)} || {column_sql} ELSE {column_sql} END"


def neutralise_relation(relation):
    """A DuckDB relation with ``relation``'s rows, its VARCHAR columns and all column names neutralised."""
    items = []
    for name, dtype in zip(relation.columns, relation.types):
        column = _quote_identifier(name)
        expression = sql_case(column) if str(dtype) == "VARCHAR" else column
        items.append(f"{expression} AS {_quote_identifier(neutralise_text(name))}")
    return relation.project(", ".join(items)) if items else relation
