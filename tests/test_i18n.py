"""Display texts in the UI language (clm_core.i18n): framework names, rejection reasons naming the file's own
column, display names of tables and fields, months and date ticks; dates on charts (clm_ui.charts)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import pytest

from clm_core import schema
from clm_core.config import FRAMEWORKS
from clm_core.i18n import (FIELD_LABELS, FRAMEWORK_GERMAN, TABLE_LABELS, date_ticks, field_label, framework_label,
                           month_label, period_text, reason_label, table_label, with_field_labels)
from clm_ui.charts import localise_dates

ENGLISH_MONTHS = ("Mar", "May", "Oct", "Dec", "March", "June", "July", "October", "December")


@pytest.mark.parametrize(("reason", "german", "english"), [
    ("missing customer_id", "„Kundennummer“ fehlt", "“Customer ID” is missing"),
    ("unparseable ordered_at: 31.02.2024", "„Bestelldatum“ ist kein lesbares Datum: 31.02.2024",
     "“Order date” is not a readable date: 31.02.2024"),
    ("non-numeric amount: 12,3,4", "„Betrag“ ist keine Zahl: 12,3,4", "“Amount” is not a number: 12,3,4"),
    ("score is not a whole number: 7,5", "„Bewertung 0–10“ ist keine ganze Zahl: 7,5",
     "“Score 0–10” is not a whole number: 7,5"),
    ("score outside 0-10: 11", "„Bewertung 0–10“ liegt nicht zwischen 0 und 10: 11",
     "“Score 0–10” is not between 0 and 10: 11"),
    ("group must be treatment or control: maybe", "„Gruppe (Test/Kontrolle)“ muss Test oder Kontrolle sein: maybe",
     "“Group (treatment/control)” must be treatment or control: maybe"),
    ("duplicate transaction_id (first on line 3)", "„Belegnummer“ doppelt (zuerst in Zeile 3)",
     "“Order number” repeated (first on line 3)"),
    ("malformed row (missing columns)", "fehlerhafte Zeile (zu wenige Spalten)", "malformed row (too few columns)"),
    ("malformed row (too many columns)", "fehlerhafte Zeile (zu viele Spalten)",
     "malformed row (too many columns)"),
    ("ordered_at outside 1900-01-01 to 2027-12-01: 01.01.1800",
     "„Bestelldatum“ ist kein plausibles Datum (erlaubt 01.01.1900 bis 01.12.2027): 01.01.1800",
     "“Order date” is not a plausible date (allowed 1900-01-01 to 2027-12-01): 01.01.1800"),
    ("amount outside ±1,000,000,000: 1e12", "„Betrag“ ist größer als ±1.000.000.000: 1e12",
     "“Amount” is larger than ±1,000,000,000: 1e12"),
    ("NUL byte in Filiale", "„Filiale“ enthält ein NUL-Zeichen", "“Filiale” contains a NUL byte"),
])
def test_rejection_reasons_in_the_ui_language(reason, german, english):
    assert reason_label(reason, "de") == german
    assert reason_label(reason, "en") == english


def test_a_rejection_reason_names_the_files_own_column():
    headers = {"created_at": "Anmeldedatum", "customer_id": "Kundennr."}
    assert reason_label("unparseable created_at: 32.13.2024", "de", headers) == (
        "„Anmeldedatum“ ist kein lesbares Datum: 32.13.2024")
    assert reason_label("missing customer_id", "en", headers) == "“Kundennr.” is missing"
    # no English, no database name, no mixed language in any German reason
    for reason in ("unparseable created_at: x", "malformed row (missing columns)", "malformed row (unquoted value)",
                   "malformed row (invalid unicode)", "postal_code outside ±1,000: 5"):
        german = reason_label(reason, "de", headers)
        assert "created_at" not in german and "missing" not in german and "columns" not in german, german


def test_unknown_reasons_stay_as_they_are():
    assert reason_label("something new", "de") == "something new"


def test_every_framework_and_stage_name_has_a_german_name_or_is_an_acronym_model():
    names = set(FRAMEWORKS) | {label for mapping in FRAMEWORKS.values() for label in mapping.values()}
    english_kept = {"RACE", "Reach", "Act", "Convert", "Engage", "Attract / Sell / Wow", "Attract", "Sell", "Wow"}
    assert names - set(FRAMEWORK_GERMAN) == english_kept
    assert framework_label("Lapsed", "de") == "Abgewandert" and framework_label("Lapsed", "en") == "Lapsed"


def test_every_canonical_table_and_column_has_a_display_name_in_both_languages():
    assert set(TABLE_LABELS) == set(schema.TABLES)
    for table, columns in schema.TABLE_COLUMNS.items():
        for column in columns:
            assert column.name in FIELD_LABELS, (table, column.name)
            assert "_" not in field_label(column.name, "de") and "_" not in field_label(column.name, "en")
    assert field_label("postal_code", "de") == "Postleitzahl" and field_label("city", "de") == "Stadt"
    assert field_label("age_group", "de") == "Altersgruppe"
    assert table_label("transactions", "de") == "Transaktionen" and table_label("nps", "en") == "NPS answers"
    # an uploaded attribute keeps the header the file had
    assert field_label("Kundenkarte", "de") == "Kundenkarte" and field_label("loyalty_tier", "de") == "loyalty_tier"


def test_unlabelled_canonical_columns_get_their_display_name():
    config = with_field_labels(["customer_id", "postal_code", "Filiale", "stage"],
                               {"customer_id": "Kunde", "stage": None}, "de")
    assert config == {"customer_id": "Kunde", "postal_code": "Postleitzahl", "stage": None}


def test_months_and_periods():
    october = dt.date(2025, 10, 5)
    assert month_label(october, "de") == "Okt 2025" and month_label(october, "en") == "Oct 2025"
    assert month_label(dt.date(2025, 3, 1), "de", short=False) == "März 2025"
    assert period_text("2025-10", "de") == "Okt 2025"
    assert period_text("2025-Q4", "de") == "Q4 2025"
    assert period_text("2025-W07", "de") == "KW 7/2025" and period_text("2025-W07", "en") == "W07 2025"
    assert period_text("(none)", "de") == "(none)"


@pytest.mark.parametrize(("first", "last", "monthly", "expected"), [
    (dt.date(2023, 11, 1), dt.date(2025, 10, 1), True,
     ["Jan 2024", "Apr 2024", "Jul 2024", "Okt 2024", "Jan 2025", "Apr 2025", "Jul 2025", "Okt 2025"]),
    (dt.date(2025, 5, 1), dt.date(2025, 10, 1), True,
     ["Mai 2025", "Jun 2025", "Jul 2025", "Aug 2025", "Sep 2025", "Okt 2025"]),
    (dt.date(2025, 10, 1), dt.date(2025, 10, 1), True, ["Okt 2025"]),
    (dt.date(2014, 3, 1), dt.date(2025, 12, 31), False, ["2016", "2018", "2020", "2022", "2024"]),
    (dt.date(2025, 12, 3), dt.date(2025, 12, 31), False, ["8. Dez", "15. Dez", "22. Dez", "29. Dez"]),
])
def test_date_ticks_are_few_and_german(first, last, monthly, expected):
    ticks, labels = date_ticks(first, last, "de", monthly=monthly)
    assert labels == expected and len(ticks) == len(labels) <= 8
    assert all(first <= d <= max(last, first) for d in ticks)


def test_a_monthly_chart_gets_german_ticks_and_hover_labels():
    frame = pd.DataFrame({"month": ["2024-11", "2024-12", "2025-01", "2025-10"], "customers": [1, 2, 3, 4]})
    fig = px.area(frame, x="month", y="customers")
    fig.update_traces(hovertemplate="%{x|%Y-%m}: %{y}<extra></extra>")
    localise_dates(fig, "de")
    axis = fig.layout.xaxis
    assert axis.type == "date" and axis.tickmode == "array"
    assert list(axis.ticktext) == ["Nov 2024", "Jan 2025", "Mär 2025", "Mai 2025", "Jul 2025", "Sep 2025"]
    assert list(axis.tickvals)[0] == "2024-11-01"
    assert "%b" not in axis.hoverformat and "%B" not in axis.hoverformat  # Plotly's month names are English
    trace = fig.data[0]
    assert trace.hovertemplate == "%{hovertext}: %{y}<extra></extra>"
    assert list(trace.hovertext) == ["Nov 2024", "Dez 2024", "Jan 2025", "Okt 2025"]


def test_daily_dates_hover_as_german_days_and_other_axes_are_left_alone():
    fig = go.Figure(go.Scatter(x=pd.to_datetime(["2025-01-05", "2025-03-09", "2025-10-20"]), y=[1, 2, 3],
                               hovertemplate="%{x}: %{y}"))
    fig.add_bar(x=pd.to_datetime(["2025-01-05"]), y=[2], xaxis="x2", yaxis="y2")
    fig.update_layout(xaxis2=dict(type="category"))
    localise_dates(fig, "de")
    assert list(fig.data[0].hovertext) == ["05.01.2025", "09.03.2025", "20.10.2025"]
    assert not any(m in " ".join(fig.layout.xaxis.ticktext) for m in ENGLISH_MONTHS)
    assert fig.layout.xaxis.hoverformat == "%d.%m.%Y"
    assert fig.layout.xaxis2.tickvals is None and fig.data[1].hovertext is None  # the page chose a category axis
    assert fig.layout.yaxis.tickvals is None  # numbers stay numbers
    categories = go.Figure(go.Bar(x=["2025-Q3", "2025-Q4"], y=[1, 2]))
    localise_dates(categories, "de")
    assert categories.layout.xaxis.tickvals is None
    pie = go.Figure(go.Pie(values=[1, 2]))
    localise_dates(pie, "de")  # no axes: nothing to do, no error


def test_english_charts_get_the_same_ticks_in_english():
    fig = go.Figure(go.Scatter(x=["2025-08", "2025-09", "2025-10"], y=[1, 2, 3]))
    localise_dates(fig, "en")
    assert list(fig.layout.xaxis.ticktext) == ["Aug 2025", "Sep 2025", "Oct 2025"]
