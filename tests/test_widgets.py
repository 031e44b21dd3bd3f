"""How tables show their cells in each language (clm_ui.widgets: display formats, no Streamlit run)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from clm_ui.widgets import display_format

from apptest import clicked


def cells(values, spec=None, lang="de", name="x") -> list[str] | None:
    formatter, _ = display_format(pd.Series(values, name=name), spec, lang)
    return None if formatter is None else [formatter(v) for v in values]


def test_numbers_follow_the_language():
    assert cells([1234.5, 0.25]) == ["1.234,50", "0,25"]
    assert cells([1234.5, 0.25], lang="en") == ["1,234.50", "0.25"]
    assert cells([1234, 5]) == ["1.234", "5"]  # whole numbers without decimals
    assert cells([1234.0, np.nan]) == ["1.234", "–"]  # also whole floats; missing as a dash
    assert cells([None, 4.0, 57.5], spec=st.column_config.NumberColumn("d", format="%.1f")) == ["–", "4,0", "57,5"]


def test_formats_the_pages_ask_for():
    percent = st.column_config.NumberColumn("p", format="percent")
    euro = st.column_config.NumberColumn("e", format="euro")
    assert cells([0.2346, 1.0], percent) == ["23,5 %", "100,0 %"]
    assert cells([0.2346], percent, lang="en") == ["23.5%"]
    assert cells([1234.56, -5.0], euro) == ["1.234,56 €", "-5,00 €"]
    assert cells([1234.56], euro, lang="en") == ["€1,234.56"]
    assert cells([598.789], st.column_config.NumberColumn("m", format="%.2f €"), lang="en") == ["€598.79"]
    assert cells([3.21], st.column_config.NumberColumn("m", format="± %.1f")) == ["± 3,2"]
    assert cells([52.51963], st.column_config.NumberColumn("lat", format="%.4f")) == ["52,5196"]
    # a format the table does not translate keeps Streamlit's own
    assert cells([2024], st.column_config.NumberColumn("year", format="plain")) is None


def test_fractions_named_as_shares_are_percentages():
    assert cells([0.2217, 0.0339], name="share") == ["22,2 %", "3,4 %"]
    assert cells([0.5], name="at_risk_share", lang="en") == ["50.0%"]
    assert cells([0.41], name="retention") == ["41,0 %"]
    assert cells([12, 30], name="share") == ["12", "30"]  # whole-number counts are not fractions


def test_dates_booleans_and_text():
    assert cells([dt.date(2024, 3, 5), None]) == ["05.03.2024", "–"]
    assert cells(pd.to_datetime(["2024-03-05"]).to_series().tolist(), lang="en") == ["2024-03-05"]
    assert cells(pd.to_datetime(["2024-03-05 14:30", None]).tolist()) == ["05.03.2024 14:30", "–"]
    assert cells([True, False]) is None
    assert cells(["a", "b"]) is None


def test_configuration_keeps_the_label_and_drops_the_replaced_format():
    spec = st.column_config.NumberColumn("Anteil", format="percent")
    _, kept = display_format(pd.Series([0.5], name="share"), spec, "de")
    assert kept["label"] == "Anteil" and kept["type_config"]["format"] is None
    assert spec["type_config"]["format"] == "percent"  # the page's own configuration is not changed
    assert display_format(pd.Series([1], name="n"), "Kunden", "de")[1] == "Kunden"


# ----------------------------------------------------------------------- the Excel workbook of the view

def test_the_workbook_table_is_the_shown_table():
    """Hidden columns left out, columns in the shown order under their labels, each with its format."""
    from clm_ui.widgets import export_table

    frame = pd.DataFrame({"stage": ["new"], "label": ["Neu"], "customers": [5], "share": [0.25],
                          "revenue": [12.5], "median": [4.0]})
    config = {"stage": None, "label": "Phase", "customers": st.column_config.NumberColumn("Kunden"),
              "revenue": st.column_config.NumberColumn("Umsatz", format="euro"),
              "median": st.column_config.NumberColumn("Median", format="%.1f")}
    shown, formats = export_table(frame, config)
    assert list(shown.columns) == ["Phase", "Kunden", "share", "Umsatz", "Median"]
    assert formats == [None, None, "percent", "euro", "%.1f"]  # "share" of fractions: a percentage
    assert shown["Kunden"].tolist() == [5] and list(frame.columns)[0] == "stage"  # the page's frame unchanged
    ordered, _ = export_table(frame, {}, column_order=["share", "stage"])
    assert list(ordered.columns) == ["share", "stage"]


def test_a_page_offers_the_workbook_of_its_tables(demo_db):
    import io

    import openpyxl
    from apptest import open_page

    from clm_core.workbook import sheet_name
    from clm_ui.widgets import SHOWN, view_workbook_bytes

    at = open_page("overview", lang="de")
    assert not at.exception
    buttons = [b for b in at.sidebar.get("download_button") if b.proto.label == "Excel-Arbeitsmappe dieser Ansicht"]
    assert len(buttons) == 1
    shown = at.session_state[SHOWN]
    titles = [title for title, *_ in shown["tables"]]
    assert len(titles) == len(at.dataframe)  # every table the page drew, titled by its section
    framework = next(i for i, title in enumerate(titles) if title.startswith("Lebenszyklusphasen ("))
    history = next(i for i, title in enumerate(titles) if title.startswith("Phasenverlauf"))
    for (_, frame, _, _), element in zip(shown["tables"], at.dataframe):  # the tables the page drew
        assert list(frame.columns) == list(element.value.columns)
        assert frame.iloc[:, 0].tolist() == element.value.iloc[:, 0].tolist()

    book = openpyxl.load_workbook(io.BytesIO(view_workbook_bytes(shown)))
    assert book.sheetnames[0] == "Ansicht" and len(book.sheetnames) == 1 + len(titles)
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert book.sheetnames[1 + framework] == sheet_name(titles[framework], {"ansicht"})
    view = {row[0]: row[1] for row in book["Ansicht"].iter_rows(values_only=True)}
    assert view["Seite"] == "Überblick" and view["Datensatz"] == "Demo" and view["Segmentfilter"] == "keiner"
    assert view["Stichtag"].date() == shown["as_of"]
    assert "?page=overview&lang=de" in view["Link"]
    sheet = book[book.sheetnames[1 + history]]
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["Monat", "Phase"] and header[-2:] == ["Kunden", "Anteil"]  # hidden keys left out
    history_frame = shown["tables"][history][1]
    assert sheet["A2"].value == history_frame["month"].iloc[0]  # YYYY-MM, text as on the page
    customers = header.index("Kunden")
    assert sheet.cell(2, customers + 1).data_type == "n"
    assert sheet.cell(2, customers + 2).number_format == "0.0 %"

    # the Data page offers no workbook, and keeps no tables
    data = open_page("data")
    assert not [b for b in data.get("download_button") if b.proto.label == "Excel workbook of this view"]
    assert SHOWN not in data.session_state


def test_a_page_offers_the_report_and_a_click_writes_it(demo_db, monkeypatch):
    import html

    from apptest import APP
    from streamlit.testing.v1 import AppTest

    from clm_core.html_report import pdf_browser
    from clm_core.i18n import format_number
    from clm_ui.widgets import SHOWN

    click = clicked(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"], at.query_params["lang"] = "overview", "de"
    at.context["url"] = "http://localhost:8501/overview"  # the address the browser shows
    at.run()
    assert not at.exception
    buttons = {b.proto.label: b for b in at.sidebar.get("download_button")}
    report = buttons["Bericht dieser Ansicht (HTML, als PDF druckbar)"]
    assert ("Bericht dieser Ansicht (PDF)" in buttons) == (pdf_browser() is not None)  # where a Chromium is
    file = click(report)
    assert file.filename.startswith("overview_") and file.filename.endswith(".html") and file.mimetype == "text/html"
    document = file.content.decode("utf-8")

    shown = at.session_state[SHOWN]
    charts = [entry for entry in shown["items"] if entry[0] == "chart"]
    assert charts and document.count('<script type="application/json" id="figure-') == len(charts)
    assert "<h1>Überblick</h1>" in document and "<dd>Demo</dd>" in document and "<dd>keiner</dd>" in document
    assert f"<dd>{shown['as_of'].strftime('%d.%m.%Y')}</dd>" in document
    assert '<a href="http://localhost:8501/overview?page=overview&amp;lang=de' in document  # the view's link
    for title, frame, _, _ in shown["tables"]:
        assert f"<h2>{html.escape(title)}</h2>" in document
    _, framework, _, _ = next(table for table in shown["tables"] if table[0].startswith("Lebenszyklusphasen ("))
    for customers in framework["customers"].head(500):
        assert f'<td class="num">{format_number(customers, "de")}</td>' in document  # German thousands
    assert '<html lang="de">' in document and "<script src" not in document


def test_the_report_of_a_hostile_dataset_name_escapes_it(database, demo_paths, monkeypatch):
    from apptest import open_page

    from clm_core import ingest, store

    con = store.connect(database)
    ingest.load(store.create_dataset(con, "<script>alert(1)</script>"), demo_paths)
    con.disconnect()
    click = clicked(monkeypatch)
    at = open_page("overview")
    assert not at.exception
    button = next(b for b in at.sidebar.get("download_button") if b.proto.label.startswith("Report of this view"))
    document = click(button).content.decode("utf-8")
    assert "<script>alert(1)</script>" not in document
    assert "<dd>&lt;script&gt;alert(1)&lt;/script&gt;</dd>" in document
