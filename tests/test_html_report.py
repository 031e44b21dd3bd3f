"""The one-file HTML report of a view (clm_core.html_report): values in the UI language, every chart's JSON,
escaped text from data, nothing loaded from the network, the view's link, bounded tables, sections."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from clm_core.filters import SegmentFilter
from clm_core.html_report import (Chart, PdfError, Table, cell_formatter, pdf_browser, pdf_from_html, sections,
                                  view_report)
from clm_core.viewstate import ViewState
from clm_core.workbook import describe_view

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
BASE = "http://localhost:8501/overview"


class Elements(HTMLParser):
    """The document's elements: (tag, attributes) in order, and the text of each script element."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parsed(document: str) -> Elements:
    elements = Elements()
    elements.feed(document)
    return elements


def cells(document: str) -> list[list[str]]:
    """The body rows of every table, as the texts of their cells."""
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(<td.*?)</tr>", document)]


@pytest.fixture
def funnel():
    return pd.DataFrame({
        "Schritt": ["Besuch", "Kauf"],
        "Kunden": [12345, 678],
        "Konversion": [1.0, 0.0549],
        "Umsatz": [1234.5, -5.0],
        "Tag": pd.to_datetime(["2024-03-05", None]),
        "Median": [None, 4.25],
    })


def report(items, lang="de", rows=None, **kwargs) -> str:
    return view_report("Trichter", rows or [("Seite", "Trichter")], items, lang, include_plotlyjs=False,
                       generated=dt.datetime(2024, 3, 6, 9, 30), **kwargs)


def test_tables_show_their_values_in_the_interface_language(funnel):
    formats = [None, None, "percent", "euro", None, "%.1f"]
    german = cells(report([Table("Schritte", funnel, formats)], "de"))
    assert german == [["Besuch", "12.345", "100,0 %", "1.234,50 €", "05.03.2024", "–"],
                      ["Kauf", "678", "5,5 %", "-5,00 €", "–", "4,2"]]
    english = cells(report([Table("Steps", funnel, formats)], "en"))
    assert english == [["Besuch", "12,345", "100.0%", "€1,234.50", "2024-03-05", "–"],
                       ["Kauf", "678", "5.5%", "-€5.00", "–", "4.2"]]
    document = report([Table("Schritte", funnel, formats)], "de")
    assert '<th>Schritt</th><th>Kunden</th><th>Konversion</th>' in document
    assert '<td class="num">12.345</td>' in document  # numbers right-aligned


def test_cells_of_other_kinds():
    assert [cell_formatter(pd.Series([True, False]), None, "de")(v) for v in (True, False)] == ["ja", "nein"]
    write = cell_formatter(pd.Series([np.inf, -np.inf, 1.5]), None, "de")
    assert [write(v) for v in (np.inf, -np.inf, 1.5)] == ["∞", "-∞", "1,50"]
    share = pd.Series([0.25, None], name="at_risk_share")  # a fraction named as a share: a percentage
    assert [cell_formatter(share, None, "en")(v) for v in share] == ["25.0%", "–"]
    assert cell_formatter(pd.Series([2024]), "plain", "de")(2024) == "2024"
    timed = pd.Series(pd.to_datetime(["2024-03-05 14:30"]))
    assert cell_formatter(timed, None, "de")(timed.iloc[0]) == "05.03.2024 14:30"
    assert cell_formatter(pd.Series([dt.date(2024, 1, 31)]), None, "de")(dt.date(2024, 1, 31)) == "31.01.2024"


def test_each_figure_is_inert_json_of_the_chart():
    first = go.Figure(go.Bar(x=["Neu", "Aktiv"], y=[12, 30], name="Kunden"))
    second = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.5, 0.25, 0.125], name="Bindung"))
    second.update_layout(height=320)
    document = report([Chart(first.to_json()), Chart(second.to_plotly_json(), "Bindung")])
    elements = parsed(document)
    blocks = [(attrs, text) for attrs, text in elements.scripts if attrs.get("type") == "application/json"]
    assert [attrs["id"] for attrs, _ in blocks] == ["figure-0", "figure-1"]
    figures = [json.loads(text) for _, text in blocks]
    assert figures[0]["data"][0]["x"] == ["Neu", "Aktiv"] and figures[0]["data"][0]["name"] == "Kunden"
    assert figures[1]["data"][0]["name"] == "Bindung" and figures[1]["layout"]["height"] == 320
    charts = [attrs for tag, attrs in elements.tags if tag == "div" and "data-figure" in attrs]
    assert [c["data-figure"] for c in charts] == ["figure-0", "figure-1"]
    assert charts[1]["style"] == "height:320px" and charts[0]["style"] == "height:450px"
    assert "<h2>Bindung</h2>" in document
    # the one script that runs is the report's own; no script has a source
    running = [text for attrs, text in elements.scripts if attrs.get("type") != "application/json"]
    assert len(running) == 1 and "Plotly.newPlot" in running[0] and "beforeprint" in running[0]
    assert not any("src" in attrs for attrs, _ in elements.scripts)


def test_streamlit_stand_in_colours_are_replaced():
    figure = go.Figure(go.Bar(x=["a"], y=[1], marker_color="#000001"))
    document = report([Chart(figure.to_json())])
    assert "#000001" not in document and '"#0068c9"' in document


def test_text_from_data_is_escaped_never_markup():
    state = ViewState(page="funnel", dataset="ds1", lang="de", segment=SegmentFilter({"segment": (HOSTILE,)}))
    rows = describe_view(state, dataset_name=HOSTILE, as_of=dt.date(2024, 3, 5), base_url=BASE)
    frame = pd.DataFrame({HOSTILE: [HOSTILE, "<b>fett</b>"], "n": [1, 2]})
    figure = go.Figure(go.Bar(x=[HOSTILE], y=[1], name=HOSTILE))
    document = view_report(HOSTILE, rows, [Chart(figure.to_json(), HOSTILE), Table(HOSTILE, frame)], "de",
                           include_plotlyjs=False)
    assert HOSTILE not in document and "<b>fett</b>" not in document
    assert f"<title>{ESCAPED}</title>" in document and f"<h1>{ESCAPED}</h1>" in document
    assert f"<dd>{ESCAPED}</dd>" in document  # the dataset name and the filter value
    assert f"<dt>Segmentfilter: segment</dt><dd>{ESCAPED}</dd>" in document
    assert f"<th>{ESCAPED}</th>" in document and f"<td>{ESCAPED}</td>" in document
    assert "<td>&lt;b&gt;fett&lt;/b&gt;</td>" in document
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in document  # inside the chart's JSON
    elements = parsed(document)
    assert [attrs.get("type") for attrs, _ in elements.scripts] == ["application/json", None]  # no script from data
    assert {tag for tag, _ in elements.tags} <= {"html", "head", "meta", "title", "style", "body", "header", "h1",
                                                  "dl", "dt", "dd", "a", "p", "section", "h2", "div", "script",
                                                  "table", "thead", "tbody", "tr", "th", "td"}


def test_the_report_is_self_contained():
    figure = go.Figure(go.Bar(x=["a"], y=[1]))
    rows = describe_view(ViewState(page="overview", lang="en"), dataset_name="Demo", base_url=BASE)
    document = view_report("Overview", rows, [Chart(figure.to_json()), Table("t", pd.DataFrame({"a": [1]}))], "en")
    elements = parsed(document)
    library = [text for attrs, text in elements.scripts if "type" not in attrs and len(text) > 1_000_000]
    assert len(library) == 1 and "plotly.js" in library[0][:5000].lower()  # Plotly.js itself, inline
    for tag, attrs in elements.tags:
        assert "src" not in attrs, tag  # nothing loaded: no script, image or frame source
        if tag != "a":  # a link to the view is the one address, and only a link
            assert not re.match(r"\s*(https?:)?//", attrs.get("href", "")), (tag, attrs)
    assert not [tag for tag, _ in elements.tags if tag in ("link", "iframe", "img", "object", "embed")]
    style = document[document.index("<style>"):document.index("</style>")]
    assert "@import" not in style and "url(" not in style
    policy = next(attrs["content"] for _, attrs in elements.tags
                  if attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy
    assert "@media print" in document and "break-inside: avoid" in document  # prints without cut charts


def test_the_view_link_is_in_the_report():
    state = ViewState(page="funnel", dataset="ds1", as_of="2024-03-05", lang="en", params={"steps": ("a", "b")})
    rows = describe_view(state, dataset_name="Demo", base_url=BASE + "?ignored=1#x")
    link = dict(rows)["Link"]
    assert link.startswith(BASE + "?page=funnel&lang=en&ds=ds1&asof=2024-03-05") and "ignored" not in link
    document = report([], "en", rows=rows)
    escaped = link.replace("&", "&amp;")
    assert f'<a href="{escaped}">{escaped}</a>' in document
    assert "<dd>2024-03-05</dd>" in document  # the as-of date in the language's format
    # an address that is not http(s) is no link: the query string alone
    for base in ("javascript:alert(1)//", "data:text/html,x", 'http://x" onclick="y'):
        plain = dict(describe_view(state, dataset_name="Demo", base_url=base))["Link"]
        assert plain.startswith("?page=funnel")
        assert "<a " not in report([], "en", rows=[("Link", plain)])


def test_long_tables_show_their_first_rows_with_a_note():
    frame = pd.DataFrame({"customer_id": [f"{i:05d}" for i in range(1200)], "value": np.arange(1200) * 1.5})
    document = report([Table("Kunden", frame)], "de")
    rows = cells(document)
    assert len(rows) == 500 and rows[0] == ["00000", "0,00"] and rows[-1] == ["00499", "748,50"]
    assert "Die ersten 500 von 1.200 Zeilen" in document
    english = report([Table("Customers", frame)], "en", max_rows=10)
    assert len(cells(english)) == 10 and "The first 10 of 1,200 rows" in english
    assert "Keine Zeilen." in report([Table("leer", frame.head(0))], "de")


def test_sections_follow_the_page():
    bar, titled = Chart({"data": []}), Chart({"data": [], "layout": {"title": {"text": "Eigener Titel"}}})
    history, growth, again = Table("Verlauf", pd.DataFrame()), Table("Wachstum", pd.DataFrame()), Table(
        "Verlauf", pd.DataFrame())
    sticky = Chart({"data": []}, "Treue")

    def shape(items):
        return [(heading, [id(member) for member in members]) for heading, members in sections(items)]

    assert shape([bar, history, titled, bar, growth, sticky, bar]) == [
        ("Verlauf", [id(bar), id(history)]), (None, [id(titled)]), ("Wachstum", [id(bar), id(growth)]),
        ("Treue", [id(sticky)]), (None, [id(bar)])]
    # a chart drawing its own title right before a table belongs to it; same headings in a row are one section
    assert shape([titled, history, again]) == [("Verlauf", [id(titled), id(history), id(again)])]
    document = report([bar, history, sticky])
    assert document.count('<section class="headed">') == 2
    assert "header + section.headed" in document  # the first section shares the first page with the header


@pytest.mark.skipif(pdf_browser() is None, reason="no Chromium here to print a PDF")
def test_a_real_pdf_is_printed_by_a_headless_chromium_within_its_time_limit():
    document = report([Table("Kunden", pd.DataFrame({"Kunde": ["00001", "00002"], "Umsatz": [12.5, 7.0]}))])
    pdf = pdf_from_html(document)
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    with pytest.raises(PdfError, match="longer than"):  # stopped, with its helper processes
        pdf_from_html(document, timeout=0.01)
    with pytest.raises(PdfError, match="could not start"):
        pdf_from_html(document, browser="/nonexistent/chromium")
