"""How tables show their cells in each language (clm_ui.widgets: display formats, no Streamlit run)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

from clm_ui.widgets import display_format


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

    from clm_ui.widgets import SHOWN, view_workbook_bytes

    at = open_page("overview", lang="de")
    assert not at.exception
    buttons = [b for b in at.sidebar.get("download_button") if b.proto.label == "Excel-Arbeitsmappe dieser Ansicht"]
    assert len(buttons) == 1
    shown = at.session_state[SHOWN]
    assert [title for title, *_ in shown["tables"]] == ["lifecycle_stages", "stage_history"]
    assert len(at.dataframe) == 2
    for (_, frame, _, _), element in zip(shown["tables"], at.dataframe):  # the tables the page drew
        assert list(frame.columns) == list(element.value.columns)
        assert frame.iloc[:, 0].tolist() == element.value.iloc[:, 0].tolist()

    book = openpyxl.load_workbook(io.BytesIO(view_workbook_bytes(shown)))
    assert book.sheetnames == ["Ansicht", "lifecycle_stages", "stage_history"]
    view = {row[0]: row[1] for row in book["Ansicht"].iter_rows(values_only=True)}
    assert view["Seite"] == "Überblick" and view["Datensatz"] == "Demo" and view["Segmentfilter"] == "keiner"
    assert view["Stichtag"].date() == shown["as_of"]
    history = book["stage_history"]
    assert [c.value for c in history[1]] == ["Monat", "Phase", "Kunden", "Anteil"]  # the key "stage" is hidden
    assert history["A2"].value == shown["tables"][1][1]["month"].iloc[0]  # YYYY-MM, text as on the page
    assert history["C2"].data_type == "n" and history["D2"].number_format == "0.0 %"

    # the Data page offers no workbook, and keeps no tables
    data = open_page("data")
    assert not [b for b in data.get("download_button") if b.proto.label == "Excel workbook of this view"]
    assert SHOWN not in data.session_state
