"""A one-file HTML report of a view (issue [7], "Export for decks"): the page's title, the view's description
(the facts of the workbook's View sheet, :func:`clm_core.workbook.describe_view`), every chart the page drew
(interactive Plotly) and every table (its first rows, formatted in the interface language the way the app
shows them), with a print stylesheet, so that the browser's "Print → Save as PDF" gives a clean PDF.

Self-contained and inert for data:

- No network: Plotly.js is written into the file from the installed ``plotly`` package, the CSS is inline,
  nothing is loaded from a URL (no ``src``/``href`` to another site; Plotly's own links are switched off).
- Every text from data (dataset names, attribute values, segment names, column headers, cells) is
  HTML-escaped; table cells are text, never markup.
- A chart's figure is JSON inside ``<script type="application/json">`` (a data block the browser never
  runs), with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so no text of a figure can close the block;
  the one script that runs is this module's own, fixed code, which parses the JSON and draws it.

Pure logic, no Streamlit: ``clm_ui.widgets`` collects the run's charts and tables and offers the download.
:func:`pdf_from_html` turns the report into a real PDF with a headless Chromium when one is installed.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from clm_core.i18n import format_currency, format_date, format_number, format_percent, tr
#: Fractions named as shares, and the pages' printf-style NumberColumn formats: one definition with the
#: app's tables and the workbook.
from clm_core.workbook import FRACTION_NAME, PRINTF, formats_for, is_missing, is_number, whole_numbers

#: Rows of a table the report shows (the workbook and the CSV download have all of them).
MAX_REPORT_ROWS = 500
#: Width in CSS pixels a chart is drawn at for printing (A4 portrait less the page margins).
PRINT_WIDTH = 700
#: Height of a chart whose figure sets none (Plotly's default).
DEFAULT_HEIGHT = 450

TEXT = {
    "rows_cut": ("The first {shown} of {total} rows; the Excel workbook and the CSV download have all of them.",
                 "Die ersten {shown} von {total} Zeilen; die Excel-Arbeitsmappe und der CSV-Download enthalten alle."),
    "no_rows": ("No rows.", "Keine Zeilen."),
    "created": ("Created {when}", "Erstellt am {when}"),
    "yes": ("yes", "ja"),
    "no": ("no", "nein"),
    "print_hint": ("To save as PDF: print this page (Ctrl+P / ⌘P) and choose “Save as PDF”.",
                   "Als PDF speichern: diese Seite drucken (Strg+P / ⌘P) und „Als PDF speichern“ wählen."),
}

#: Streamlit's Plotly theme writes stand-in colours ("#000001" …) that its browser code replaces with the
#: theme's; the report replaces them with the light theme's colours (the others as Plotly's own theme has them).
THEME_COLOURS = dict(zip(
    [f"#{n:06d}" for n in range(1, 41)],
    ["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0", "#d5dae5",
     "#e4f5ff", "#c7ebff", "#a6dcff", "#83c9ff", "#60b4ff", "#3d9df3", "#1c83e1", "#0068c9", "#0054a3", "#004280",
     "#7d353b", "#bd4043", "#ff4b4b", "#ff8c8c", "#ffc7c7", "#a6dcff", "#60b4ff", "#1c83e1", "#0054a3", "#004280",
     "#d5dae5", "#3D9970", "#FF4136", "#4499FF", "#B2B5BE", "#2a3f5f", "#2a3f5f", "#EBF0F8", "white", "#C8D4E3"]))
STAND_IN = re.compile(r'"(#0000[0-4][0-9])"')

#: Plotly's settings in the report: no logo, no links to plot.ly, no cloud, redrawn with the window.
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False,
                 "showEditInChartStudio": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


@dataclass(frozen=True)
class Chart:
    """A chart of the page: its Plotly figure (a dict, or its JSON text) and an optional heading."""
    figure: Mapping | str
    title: str | None = None


@dataclass(frozen=True)
class Table:
    """A table of the page as it is shown: its columns under their labels, each column's NumberColumn
    format (``"percent"``, ``"euro"``, printf-style, …; a mapping by label or a sequence by position)."""
    title: str | None
    frame: pd.DataFrame
    formats: Mapping | Sequence | None = None


# ------------------------------------------------------------------------------------------- cell texts

def number_formatter(values: pd.Series, wanted: str | None, lang: str) -> Callable | None:
    """The function that writes one number of ``values`` as ``wanted`` (a NumberColumn format) says, in
    ``lang``: ``"percent"`` (a fraction: 12.5% / 12,5 %), ``"euro"`` (€1,234.56 / 1.234,56 €),
    ``"localized"`` or None (whole numbers without decimals, fractions named as shares as percentages,
    other decimals with two places), printf-style (``"%.1f"``, ``"± %.1f"``, ``"%.2f €"``); None for a
    format the app leaves to Streamlit (``"plain"``, ``"compact"``, …)."""
    if wanted == "percent" or (wanted is None and FRACTION_NAME.match(str(values.name))
                               and pd.api.types.is_float_dtype(values)):
        return lambda v: format_percent(float(v), lang, 1)
    if wanted == "euro":
        return lambda v: format_currency(float(v), lang, 2)
    if wanted in (None, "localized"):
        decimals = 0 if whole_numbers(values) else 2
        return lambda v: format_number(float(v), lang, decimals)
    printf = PRINTF.match(wanted)
    if printf is None:
        return None
    decimals = int(printf["decimals"] or 0)
    before, after = printf["before"], printf["after"]
    if "€" in before + after:
        return lambda v: format_currency(float(v), lang, decimals)
    return lambda v: f"{before}{format_number(float(v), lang, decimals)}{after}"


def _numbers(values: pd.Series) -> bool:
    """Numbers, also in an object column that holds None for a missing one (not booleans)."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    return values.dtype == object and bool(len(present)) and all(is_number(v) for v in present)


def _plain(value) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else str(value)


def cell_formatter(values: pd.Series, wanted: str | None, lang: str) -> Callable[[object], str]:
    """The text of each cell of a column as the app's table shows it in ``lang`` (missing: "–")."""
    lang = "de" if lang == "de" else "en"
    numeric = _numbers(values)
    write: Callable[[object], str]
    if numeric:
        write = number_formatter(values, wanted, lang) or _plain
    elif isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        present = values.dropna()
        timed = bool(len(present)) and bool((present != present.dt.normalize()).any())
        pattern = ("%d.%m.%Y" if lang == "de" else "%Y-%m-%d") + (" %H:%M" if timed else "")
        write = lambda v: v.strftime(pattern)  # noqa: E731
    else:
        write = None

    def text(value) -> str:
        if is_missing(value):
            return "–"
        if isinstance(value, (bool, np.bool_)):
            return tr("yes" if value else "no", lang, TEXT)
        if is_number(value):
            number = float(value)
            if math.isinf(number):
                return "∞" if number > 0 else "-∞"
            return (write if numeric else number_formatter(pd.Series([value]), None, lang))(value)
        if write is not None and not numeric:
            return write(value)
        if isinstance(value, dt.datetime):
            return value.strftime(("%d.%m.%Y" if lang == "de" else "%Y-%m-%d")
                                  + (" %H:%M" if (value.hour, value.minute) != (0, 0) else ""))
        if isinstance(value, dt.date):
            return format_date(value, lang)
        if isinstance(value, tuple):
            return " / ".join(str(part) for part in value)
        return str(value)

    return text


def _label(label) -> str:
    if isinstance(label, tuple):  # a MultiIndex column
        return " / ".join(str(part) for part in label)
    return str(label)


# ------------------------------------------------------------------------------------------- sections

def _figure_title(figure) -> str:
    """The title a figure draws itself ("" for none)."""
    title = ((figure.get("layout") or {}).get("title") if isinstance(figure, Mapping) else None) or {}
    return str(title.get("text") or "") if isinstance(title, Mapping) else str(title)


def sections(items: Sequence[Chart | Table]) -> list[tuple[str | None, list]]:
    """The report's sections in the page's order, each ``(heading, items)``.

    A table, or a chart given a heading, ends a section under its heading; the charts without a heading
    drawn just before it join that section (a page draws a section's chart, then its table), except those
    that draw a title of their own and are not right before it: they are sections without a heading (as
    are charts without a heading at the end). Sections of the same heading in a row are one."""
    out: list[tuple[str | None, list]] = []
    pending: list = []

    def add(heading, members):
        if out and heading is not None and out[-1][0] == heading:
            out[-1][1].extend(members)
        else:
            out.append((heading, list(members)))

    for item in items:
        if isinstance(item, Chart) and not item.title:
            pending.append(item)
            continue
        joining: list = []
        for position, chart in enumerate(pending):
            last = position == len(pending) - 1
            if last or not _figure_title(chart.figure):
                joining.append(chart)
            else:
                if joining:
                    out.append((None, joining))
                    joining = []
                out.append((None, [chart]))
        add(item.title or None, [*joining, item])
        pending = []
    if pending:
        out.append((None, pending))
    return out


# ------------------------------------------------------------------------------------------- HTML

def _escape(value) -> str:
    return html.escape(str(value), quote=True)


def _json_block(value: str) -> str:
    """JSON text safe inside a ``<script type="application/json">`` element: nothing in it can end the
    element or start markup (``<`` ``>`` ``&`` and the JavaScript line separators as \\u escapes)."""
    return (value.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _figure_json(figure, width: int | None) -> tuple[str, int]:
    """The figure as JSON text (with ``width`` when it sets none) and the height it is drawn at."""
    if isinstance(figure, str):
        figure = json.loads(figure)
    figure = dict(figure)
    layout = dict(figure.get("layout") or {})
    height = layout.get("height")
    height = int(height) if isinstance(height, (int, float)) and 50 <= height <= 5000 else DEFAULT_HEIGHT
    if width is not None and not layout.get("width"):
        layout["width"] = width
    figure["layout"] = layout
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(figure, cls=PlotlyJSONEncoder, ensure_ascii=False, allow_nan=True)
    return STAND_IN.sub(lambda m: f'"{THEME_COLOURS.get(m[1], m[1])}"', text), height


def _table_html(table: Table, lang: str, max_rows: int) -> str:
    frame = table.frame
    wanted = formats_for(frame, table.formats)
    rows = min(len(frame), max_rows)
    head = "".join(f"<th>{_escape(_label(label))}</th>" for label in frame.columns)
    columns = []
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        write = cell_formatter(values, wanted[i], lang)
        numeric = _numbers(values)
        cells = values.iloc[:rows].astype(object).tolist()
        css = ' class="num"' if numeric else ""
        columns.append([f"<td{css}>{_escape(write(v))}</td>" for v in cells])
    body = "\n".join("<tr>" + "".join(column[r] for column in columns) + "</tr>" for r in range(rows))
    parts = [f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
             f"<tbody>\n{body}\n</tbody></table></div>"]
    if not len(frame):
        parts.append(f'<p class="note">{_escape(tr("no_rows", lang, TEXT))}</p>')
    elif len(frame) > rows:
        note = tr("rows_cut", lang, TEXT, shown=format_number(rows, lang), total=format_number(len(frame), lang))
        parts.append(f'<p class="note">{_escape(note)}</p>')
    return "\n".join(parts)


def _view_value(label: str, value, lang: str) -> str:
    if is_missing(value) or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return _escape(value.strftime(("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")))
    if isinstance(value, dt.date):
        return _escape(format_date(value, lang))
    text = str(value)
    if safe_link(text):
        return f'<a href="{_escape(text)}">{_escape(text)}</a>'
    return _escape(text)


def safe_link(text: str) -> bool:
    """Whether ``text`` is an http(s) address with a host (the only links the report makes)."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c in text for c in ' "<>\'`\n\r\t')


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """Plotly.js of the installed ``plotly`` package (the same version the app's charts use)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: "Source Sans Pro", "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #262730;
       margin: 0 auto; max-width: 1200px; padding: 24px; line-height: 1.4; font-size: 15px; }
h1 { font-size: 1.9em; margin: 0 0 .3em; }
h2 { font-size: 1.35em; margin: 1.4em 0 .5em; border-bottom: 1px solid #d6d6d9; padding-bottom: .2em; }
dl.view { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1.2em; margin: 0 0 .6em; }
dl.view dt { font-weight: 600; }
dl.view dd { margin: 0; overflow-wrap: anywhere; }
p.meta, p.note, p.hint { color: #6b6f7b; font-size: .85em; margin: .3em 0; }
.chart { width: 100%; margin: .6em 0 1em; }
.table-wrap { overflow-x: auto; margin: .4em 0; }
table.data { border-collapse: collapse; font-size: .88em; }
table.data th, table.data td { border-bottom: 1px solid #e6e6ea; padding: .25em .6em; text-align: left;
                               vertical-align: top; white-space: nowrap; }
table.data th { background: #f4f4f6; font-weight: 600; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  p.hint { display: none; }
  section.headed { break-before: page; page-break-before: always; }  /* each headed section on a new page */
  header + section.headed { break-before: auto; page-break-before: auto; }
  h2 { break-after: avoid; page-break-after: avoid; margin-top: 0; }
  .chart { width: 100%; break-inside: avoid; page-break-inside: avoid; }
  .modebar-container { display: none !important; }
  .table-wrap { overflow: visible; }
  table.data { font-size: 7.5pt; width: 100%; }
  table.data th, table.data td { white-space: normal; overflow-wrap: anywhere; padding: .15em .35em; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

#: The report's one script of its own: draw each chart from its JSON block; for printing, at the width
#: of the printed page (and back to the window's afterwards).
BOOT = """
(function () {
  var config = %(config)s, printWidth = %(print_width)d;
  var charts = Array.prototype.slice.call(document.querySelectorAll("div.chart[data-figure]"));
  charts.forEach(function (div) {
    var figure = JSON.parse(document.getElementById(div.getAttribute("data-figure")).textContent);
    Plotly.newPlot(div, figure.data || [], figure.layout || {}, config);
  });
  function own(div) { return div.getAttribute("data-fixed-width") === "1"; }
  window.addEventListener("beforeprint", function () {
    charts.forEach(function (div) { if (!own(div)) { Plotly.relayout(div, {width: printWidth}); } });
  });
  window.addEventListener("afterprint", function () {
    charts.forEach(function (div) {
      if (!own(div)) { Plotly.relayout(div, {width: null, autosize: true}); Plotly.Plots.resize(div); }
    });
  });
})();
"""


def view_report(page_title: str, view_rows: Sequence[tuple[str, object]], items: Sequence[Chart | Table],
                lang: str = "en", *, generated: dt.datetime | None = None, max_rows: int = MAX_REPORT_ROWS,
                chart_width: int | None = None, include_plotlyjs: bool = True, notes: Sequence[str] = ()) -> str:
    """The report as one HTML document (text).

    ``view_rows`` are the view's ``(label, value)`` facts (:func:`clm_core.workbook.describe_view`; an
    http(s) link becomes a link), ``items`` the page's charts and tables in the order it drew them (see
    :func:`sections`), each table cut to ``max_rows`` rows with a note. ``chart_width`` draws every chart
    at that width (for a PDF printed without a browser window); without it charts follow the window and
    are redrawn at :data:`PRINT_WIDTH` for printing. ``include_plotlyjs`` False leaves Plotly.js out (tests)."""
    lang = "de" if lang == "de" else "en"
    generated = generated or dt.datetime.now()
    when = generated.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")
    facts = "\n".join(f"<dt>{_escape(label)}</dt><dd>{_view_value(label, value, lang)}</dd>"
                      for label, value in view_rows)
    body = [f"<header><h1>{_escape(page_title)}</h1>",
            f'<dl class="view">\n{facts}\n</dl>',
            *(f'<p class="note">{_escape(note)}</p>' for note in notes),
            f'<p class="meta">{_escape(tr("created", lang, TEXT, when=when))}</p>',
            f'<p class="hint">{_escape(tr("print_hint", lang, TEXT))}</p></header>']
    items = [Chart(json.loads(item.figure), item.title) if isinstance(item, Chart) and isinstance(item.figure, str)
             else item for item in items]
    figures = 0
    for heading, members in sections(items):
        parts = [f"<h2>{_escape(heading)}</h2>"] if heading else []
        for item in members:
            if isinstance(item, Chart):
                text, height = _figure_json(item.figure, chart_width)
                name = f"figure-{figures}"
                fixed = ' data-fixed-width="1"' if chart_width is not None else ""
                parts.append(f'<div class="chart" data-figure="{name}"{fixed} style="height:{height}px"></div>\n'
                             f'<script type="application/json" id="{name}">{_json_block(text)}</script>')
                figures += 1
            else:
                if item.title and item.title != heading:
                    parts.append(f"<h3>{_escape(item.title)}</h3>")
                parts.append(_table_html(item, lang, max_rows))
        css = ' class="headed"' if heading else ""
        body.append(f"<section{css}>\n" + "\n".join(parts) + "\n</section>")
    scripts = ""
    if figures:
        library = f"<script>{plotly_js()}</script>\n" if include_plotlyjs else ""
        scripts = library + "<script>" + BOOT % {"config": json.dumps(PLOTLY_CONFIG), "print_width": PRINT_WIDTH} \
            + "</script>"
    title = _escape(page_title)
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            f"script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
            f"font-src data:\">\n"
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + f"\n{scripts}\n</body>\n</html>\n")


# ------------------------------------------------------------------------------------------- PDF

#: The longest a PDF may take to print (seconds); the browser is stopped after that.
PDF_TIMEOUT = 60
#: PDFs printed at a time in this process (a browser takes a core; the others wait up to the timeout).
_PDF_SLOTS = threading.BoundedSemaphore(1)
#: Browsers that print a page to PDF without a window, in the order they are tried.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def pdf_browser() -> str | None:
    """The path of a headless-capable Chromium here (``CLM_PDF_BROWSER`` names one; "" turns PDF off)."""
    chosen = os.environ.get("CLM_PDF_BROWSER")
    if chosen is not None:
        return shutil.which(chosen) if chosen else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class PdfError(RuntimeError):
    """The PDF could not be printed (no browser, a failure, or it took too long)."""


def pdf_from_html(document: str, browser: str | None = None, timeout: float = PDF_TIMEOUT) -> bytes:
    """The report printed to PDF by a headless Chromium (its own throw-away profile, no network: the
    report needs none), stopped after ``timeout`` seconds. Raises :class:`PdfError`."""
    browser = browser or pdf_browser()
    if not browser:
        raise PdfError("no browser to print a PDF")
    if not _PDF_SLOTS.acquire(timeout=timeout):
        raise PdfError("another PDF is being printed; try again")
    try:
        return _print(document, browser, timeout)
    finally:
        _PDF_SLOTS.release()


def _print(document: str, browser: str, timeout: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="clm-pdf-") as folder:
        page, out = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(document, encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                   "--disable-background-networking", "--mute-audio", "--hide-scrollbars",
                   "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                   f"--user-data-dir={Path(folder) / 'profile'}", "--run-all-compositor-stages-before-draw",
                   "--virtual-time-budget=15000", "--no-pdf-header-footer",
                   f"--print-to-pdf={out}", page.as_uri()]
        try:  # a session of its own: on a timeout the whole browser (its helper processes too) is stopped
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, cwd=folder, env={**os.environ, "HOME": folder},
                                       start_new_session=True)
        except OSError as exc:
            raise PdfError(f"the browser could not start: {exc}") from exc
        try:
            _, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _stop(process)
            raise PdfError(f"the browser took longer than {timeout:.0f} s") from exc
        finally:
            _stop(process)  # helpers left behind by a browser that has exited
        data = out.read_bytes() if out.exists() else b""
        if not data.startswith(b"%PDF"):
            raise PdfError(f"the browser printed no PDF (exit {process.returncode}): "
                           + (errors or b"").decode("utf-8", "replace")[-300:])
        return data


def _stop(process: subprocess.Popen) -> None:
    """Kill the browser's process group (it was started as a session of its own) and reap the browser."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
