"""Drawing helpers: charts in the view's language, tables with a CSV download, and the exports of the view:
the Excel workbook of the tables a page shows and the one-file HTML report of its charts and tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import streamlit as st

from clm_core import export, html_report, workbook
from clm_core.i18n import format_date, format_number, plotly_separators, with_field_labels
from clm_ui.charts import localise_dates
from clm_ui.state import t, view

#: One colour per canonical stage, the same on every page.
STAGE_COLORS = {
    "prospect": "#9aa5b1",
    "new": "#4c9be8",
    "active": "#2e8b57",
    "reactivated": "#8e63b5",
    "at_risk": "#f0a030",
    "loyal": "#1f4e79",
    "churned": "#c0392b",
}
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}

#: Above this many cells a table is sent without display formats (pandas' Styler gets slow and has a limit);
#: its numbers then show in Streamlit's own format.
MAX_STYLED_CELLS = 60_000
#: Rows a table shows in the browser; its CSV download has all of them.
MAX_SHOWN_ROWS = 10_000
#: Columns without a configured format whose name says they hold a fraction, shown as a percentage, and
#: the printf-style formats the pages write for NumberColumn ("%.1f", "± %.1f", "%.2f €", "%d"): one
#: definition with the Excel export's (clm_core.workbook).
FRACTION_NAME, PRINTF = workbook.FRACTION_NAME, workbook.PRINTF
#: Session key of the tables and charts this run shows, for the workbook and the report of the view
#: (:func:`workbook_download`).
SHOWN = "clm_shown_tables"
#: Pages without the workbook and report downloads (the Data page's tables are about loading files).
NO_WORKBOOK = {"data"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT = {
    "download_report": ("Report of this view (HTML, prints to PDF)", "Bericht dieser Ansicht (HTML, als PDF druckbar)"),
    "report_help": ("One file with the page's charts and tables, readable offline. For a PDF, open it and print it "
                    "(“Save as PDF”).",
                    "Eine Datei mit den Diagrammen und Tabellen der Seite, auch offline lesbar. Für ein PDF die Datei "
                    "öffnen und drucken („Als PDF speichern“)."),
    "download_pdf": ("Report of this view (PDF)", "Bericht dieser Ansicht (PDF)"),
}


def chart(fig, key: str | None = None, **kwargs):
    """A Plotly chart with the language's number separators and dates (month names on date axes and in
    hovers, clm_ui.charts); Plotly's PNG export stays on."""
    fig.update_layout(separators=plotly_separators(view().lang))
    localise_dates(fig, view().lang)
    fig.update_xaxes(separatethousands=True)  # 5.000 like the tables, not 5000
    fig.update_yaxes(separatethousands=True)
    if fig.layout.margin.t is None:  # keep a margin the page chose
        fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    collect_chart(fig, kwargs.pop("title", None))  # for the report of the view (the figure, drawn on a click)
    return st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key, **kwargs)


def table(frame: pd.DataFrame, filename: str, key: str | None = None, column_config: dict | None = None,
          title: str | None = None, **kwargs):
    """A table in the view's language, and its CSV download with the raw, machine-readable values.
    ``title`` (the section's heading in the interface language) names its workbook sheet and heads it in the
    report of the view; without one, the CSV file's name does.

    Numbers and dates are shown the language's way (German 1.234,56 and 05.03.2024) through a
    display-only pandas Styler, so the table still sorts by the numbers. A NumberColumn's ``format``
    says what a number is: ``"percent"`` (a fraction: 12.5%), ``"euro"`` (€1,234.56 / 1.234,56 €),
    ``"localized"``, or printf-style (``"%.1f"``, ``"± %.1f"``, ``"%.2f €"``). Unconfigured columns:
    whole numbers without decimals, fractions named ``share``/``*_rate``/``retention``/``conversion*``
    as percentages, other decimals with two places; missing values as "–". A canonical field's column
    without a label is headed by its display name (Postleitzahl, not postal_code).
    """
    column_config = with_field_labels(frame.columns, column_config, view().lang)
    config = dict(column_config or {})
    shown = frame.head(MAX_SHOWN_ROWS)  # a browser table of a million rows helps nobody and costs seconds
    if len(frame) > MAX_SHOWN_ROWS:
        st.caption(t("rows_shown", shown=format_number(MAX_SHOWN_ROWS, view().lang),
                     total=format_number(len(frame), view().lang)))
    if shown.size <= MAX_STYLED_CELLS and shown.columns.is_unique and shown.index.is_unique:  # what a Styler takes
        formats = {}
        for column in shown.columns:
            date_column = _date_column(shown[column], config.get(column, column), view().lang)
            if date_column is not None:  # drawn by the browser: a Styler takes seconds for long tables
                config[column] = date_column
                continue
            formatter, spec = display_format(shown[column], config.get(column), view().lang)
            if formatter is not None:
                formats[column] = formatter
                if column in config:
                    config[column] = spec
        if formats:
            shown = shown.style.format(formats)
    kwargs.setdefault("placeholder", "–")  # a missing value (Streamlit would write "None")
    table_element = st.dataframe(shown, hide_index=True, width="stretch", key=key, column_config=config or None,
                                 **kwargs)
    download(frame, filename, key=f"dl.{key or filename}")
    collect(frame, filename, column_config, kwargs.get("column_order"), title=title)
    return table_element


def display_format(values: pd.Series, spec, lang: str) -> tuple[Callable | None, object]:
    """How to show one column: a formatter for its cells (None: Streamlit's own) and the column
    configuration without the format the formatter replaces (its label etc. stay)."""
    type_config = (spec.get("type_config") or {}) if isinstance(spec, dict) else {}
    kind, wanted = type_config.get("type"), type_config.get("format")
    if kind in ("date", "datetime") or (kind is None and _is_date(values)):
        formatter = _date_formatter(values, lang)
    elif kind in (None, "number") and _is_number(values):
        formatter = number_formatter(values, wanted, lang)
    else:
        formatter = None
    if formatter is None:
        return None, spec
    return _missing_as_dash(formatter), _without_format(spec)


#: The function that writes one number of a column as its NumberColumn format says, in a language: one
#: definition with the report's tables (clm_core.html_report).
number_formatter = html_report.number_formatter


def _is_number(values: pd.Series) -> bool:
    """Numbers, also in an object column that holds None for a missing one (not booleans)."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    return (values.dtype == object and bool(len(present))
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present))


def _whole_numbers(values: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(values):
        return True
    present = values.dropna().astype(float)
    return bool(len(present)) and bool((present == present.round()).all()) and bool((present.abs() < 1e15).all())


def _is_date(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if values.dtype != object:
        return False
    present = values.dropna()
    return bool(len(present)) and isinstance(present.iloc[0], dt.date)


def _date_formatter(values: pd.Series, lang: str) -> Callable | None:
    if pd.api.types.is_datetime64_any_dtype(values):
        present = values.dropna()
        if len(present) and (present != present.dt.normalize()).any():  # with a time of day
            pattern = "%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M"
            return lambda v: v.strftime(pattern)
        return lambda v: format_date(v, lang)
    return (lambda v: format_date(v, lang)) if _is_date(values) else None


def _date_column(values: pd.Series, spec, lang: str):
    """A Date(time)Column in the language's format for a column of dates labelled ``spec`` (a string), else
    None (not dates, hidden, or configured otherwise)."""
    if not isinstance(spec, str) or not _is_date(values):
        return None
    timed = pd.api.types.is_datetime64_any_dtype(values) and (values.dropna() != values.dropna().dt.normalize()).any()
    day = "DD.MM.YYYY" if lang == "de" else "YYYY-MM-DD"
    if timed:
        return st.column_config.DatetimeColumn(spec, format=f"{day} HH:mm")
    return st.column_config.DateColumn(spec, format=day)


def _missing_as_dash(formatter: Callable) -> Callable:
    return lambda v: "–" if v is None or pd.isna(v) else formatter(v)


def _without_format(spec):
    """The column configuration minus its display format (a Styler's format would lose against it)."""
    if not isinstance(spec, dict) or not (spec.get("type_config") or {}).get("format"):
        return spec
    return {**spec, "type_config": {**spec["type_config"], "format": None}}


def download(frame: pd.DataFrame, filename: str, key: str | None = None) -> None:
    """A CSV download of ``frame``, written only when the button is clicked (not on every run)."""
    st.download_button(t("download_csv"), lambda: export.to_csv_bytes(frame), file_name=filename,
                       mime="text/csv", key=key or f"dl.{filename}")


# ----------------------------------------------------------------------- the workbook and report of the view

def workbook_download() -> None:
    """Start collecting this run's tables and charts (:func:`table` and :func:`chart` add each one) and offer,
    at the end of the sidebar, the exports of the view: the Excel workbook (a sheet of the view's parameters
    and filter, one sheet per table) and the one-file HTML report (the view's description, every chart and
    table; a PDF as well where a headless Chromium is installed). Called by app.py before the page runs; a
    file is written only when its button is clicked, from what the run showed. Not on the pages of
    :data:`NO_WORKBOOK`."""
    state = view()
    if state.page in NO_WORKBOOK:
        st.session_state.pop(SHOWN, None)
        return
    shown = {"view": state, "tables": [], "items": [], "dataset": None, "as_of": None, "url": _app_url()}
    from clm_ui.page import current_dataset, default_as_of

    dataset = current_dataset(state)
    if dataset is not None:
        shown["dataset"] = dataset.name
        if dataset.has("customer_index"):
            shown["as_of"] = default_as_of(dataset)
    # a new list each run: a click gets the tables of the run that drew it; a click does not rerun the page
    # (on_click="ignore"), so a second download right after the first still finds every table of the view
    st.session_state[SHOWN] = shown
    day = state.as_of or (shown["as_of"].isoformat() if shown["as_of"] else "")
    name = f"{state.page}_{day}.xlsx" if day else f"{state.page}.xlsx"
    st.sidebar.download_button(t("download_xlsx"), lambda: view_workbook_bytes(shown), file_name=name, mime=XLSX,
                               key="dl.workbook", icon=":material/table_view:", on_click="ignore")
    stem = name[:-len(".xlsx")]
    st.sidebar.download_button(t("download_report", TEXT), lambda: view_report_bytes(shown),
                               file_name=f"{stem}.html", mime="text/html", key="dl.report",
                               icon=":material/article:", help=t("report_help", TEXT), on_click="ignore")
    if html_report.pdf_browser():
        st.sidebar.download_button(t("download_pdf", TEXT), lambda: view_pdf_bytes(shown), file_name=f"{stem}.pdf",
                                   mime="application/pdf", key="dl.report_pdf", icon=":material/picture_as_pdf:",
                                   on_click="ignore")


def _app_url() -> str | None:
    """The app's address as the browser shows it (without the query), for the exports' link; None when
    unknown (a test run)."""
    try:
        return st.context.url
    except Exception:  # noqa: BLE001 - no browser context: the link is the query string alone
        return None


def collect(frame: pd.DataFrame, filename: str, column_config: dict | None = None,
            column_order: list | None = None, title: str | None = None) -> None:
    """Add a table to this run's workbook and report, headed ``title`` (else the CSV file's name); nothing
    when no collection was started (e.g. a page run alone). For a table a page draws itself."""
    shown = st.session_state.get(SHOWN)
    if shown is None:
        return
    shown["view"] = view()  # the page parameters as the page has set them so far
    if not title:
        title = filename[:-4] if filename.lower().endswith(".csv") else filename
    shown["items"].append(("table", len(shown["tables"])))
    shown["tables"].append((str(title), frame, dict(column_config or {}), column_order))


def collect_chart(fig, title: str | None = None) -> None:
    """Add a Plotly figure to this run's report (kept as it is; written out only on a click)."""
    shown = st.session_state.get(SHOWN)
    if shown is None:
        return
    shown["view"] = view()
    shown.setdefault("items", []).append(("chart", fig, str(title) if title else None))


def _view_rows(shown: dict) -> list[tuple[str, object]]:
    state = shown["view"]
    as_of = dt.date.fromisoformat(state.as_of) if state.as_of else shown["as_of"]
    return workbook.describe_view(state, dataset_name=shown["dataset"], as_of=as_of, base_url=shown.get("url"))


def view_workbook_bytes(shown: dict) -> bytes:
    """The .xlsx of a run's collection (:func:`workbook_download`); no Streamlit call (it runs on the click)."""
    tables = [(title, *export_table(frame, config, order)) for title, frame, config, order in shown["tables"]]
    return workbook.view_workbook(_view_rows(shown), tables, shown["view"].lang)


def view_report(shown: dict, chart_width: int | None = None) -> str:
    """The HTML report of a run's collection (:func:`workbook_download`): the page's title, the view's
    description, its charts and tables in the order the page drew them; no Streamlit call."""
    state = shown["view"]
    items = []
    for entry in shown.get("items", []):
        if entry[0] == "chart":
            items.append(html_report.Chart(entry[1].to_json(), entry[2]))
        else:
            title, frame, config, order = shown["tables"][entry[1]]
            items.append(html_report.Table(title, *export_table(frame, config, order)))
    rows = _view_rows(shown)
    return html_report.view_report(str(rows[0][1]), rows, items, state.lang, chart_width=chart_width)


def view_report_bytes(shown: dict) -> bytes:
    """The report as the bytes of an .html file."""
    return view_report(shown).encode("utf-8")


def view_pdf_bytes(shown: dict) -> bytes:
    """The report printed to PDF by the headless Chromium here (charts at the printed page's width)."""
    return html_report.pdf_from_html(view_report(shown, chart_width=html_report.PRINT_WIDTH))


def export_table(frame: pd.DataFrame, column_config: dict | None = None,
                 column_order: list | None = None) -> tuple[pd.DataFrame, list]:
    """The table as the page shows it, for the workbook: its shown columns in their order, headed by their
    labels, and each column's NumberColumn format (a fraction named as a share: "percent")."""
    config = column_config or {}
    positions = list(range(frame.shape[1]))
    if column_order and frame.columns.is_unique:
        positions = [frame.columns.get_loc(c) for c in column_order if c in frame.columns]
    kept, labels, formats = [], [], []
    for position in positions:
        column = frame.columns[position]
        spec = config.get(column, column) if column in config else column
        if spec is None or (isinstance(spec, dict) and spec.get("hidden")):
            continue
        wanted = None
        if isinstance(spec, dict):
            type_config = spec.get("type_config") or {}
            if type_config.get("type") in (None, "number", "progress"):
                wanted = type_config.get("format")
            label = spec.get("label") or column
        else:
            label = spec
        values = frame.iloc[:, position]
        if wanted is None and FRACTION_NAME.match(str(column)) and pd.api.types.is_float_dtype(values):
            wanted = "percent"
        kept.append(position)
        labels.append(label)
        formats.append(wanted)
    out = frame.iloc[:, kept]
    out.columns = labels
    return out, formats
