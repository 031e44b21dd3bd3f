"""Safe CSV exports (DESIGN §5, clm_core/export.py): text cells and headers that a spreadsheet would read as a
formula get a leading ', numbers stay numbers; in the helper, in the CLI's files and in the app's downloads."""

from __future__ import annotations

import csv
import io

import duckdb
import numpy as np
import pandas as pd
import pytest

from clm_core import export
from clm_core.__main__ import main

TRIGGERED = ["=1+1", "+1", "-2+3", "@SUM(1+1)", "\tx", "\rx", '=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-"]
EXPECTED = ["'=1+1", "'+1", "'-2+3", "'@SUM(1+1)", "'\tx", "'\rx", '\'=HYPERLINK("http://x","y")',
            "'+1+cmd|' /C calc'!A0", "'-"]
# Only the first character counts (OWASP): a trigger later in the cell, or after a leading space, is left alone.
UNTOUCHED = ["a=b", " =x", "x-1", "'=already", "", "ab@c", "1e5", "-"[:0]]


def test_each_trigger_character_is_prefixed_and_other_text_is_not():
    frame = pd.DataFrame({"text": TRIGGERED + UNTOUCHED})
    assert export.neutralise(frame)["text"].tolist() == EXPECTED + UNTOUCHED
    assert [export.neutralise_text(v) for v in TRIGGERED + UNTOUCHED] == EXPECTED + UNTOUCHED
    assert frame["text"].tolist() == TRIGGERED + UNTOUCHED  # the caller's frame is not changed


@pytest.mark.parametrize("dtype", [object, "string", "str", "category"])
def test_every_text_dtype(dtype):
    frame = pd.DataFrame({"text": pd.Series(["=a", "b", None, "=a"], dtype=dtype)})
    out = export.neutralise(frame)["text"]
    assert out.tolist()[:2] == ["'=a", "b"] and pd.isna(out.iloc[2]) and out.iloc[3] == "'=a"


def test_category_with_both_spellings_keeps_them_apart():
    frame = pd.DataFrame({"c": pd.Categorical(["=a", "'=a", "b"])})
    assert export.neutralise(frame)["c"].tolist() == ["'=a", "'=a", "b"]


def test_numbers_booleans_dates_and_missing_values_stay_as_they_are():
    frame = pd.DataFrame({
        "amount": [-12.5, 3.0, np.nan],
        "count": pd.Series([-1, 2, None], dtype="Int64"),
        "whole": [-7, 0, 1],
        "flag": [True, False, True],
        "day": pd.to_datetime(["2024-01-01", None, "2024-03-05"]),
        "mixed": pd.Series([-5, "-5", None], dtype=object),  # only the string is text
    })
    out = export.neutralise(frame)
    for name in ["amount", "count", "whole", "flag", "day"]:
        assert out[name].dtype == frame[name].dtype
        pd.testing.assert_series_equal(out[name], frame[name])
    assert out["mixed"].tolist()[:2] == [-5, "'-5"] and out["mixed"].iloc[2] is None
    assert export.to_csv(frame) == (
        "amount,count,whole,flag,day,mixed\n"
        "-12.5,-1,-7,True,2024-01-01,-5\n"
        "3.0,2,0,False,,'-5\n"
        ",,1,True,2024-03-05,\n"
    )


def test_headers_and_index_labels_are_text_too():
    frame = pd.DataFrame({"=evil": ["x"], "ok": [1], 5: [2]}, index=pd.Index(["-1"], name="@id"))
    assert export.to_csv(frame) == "'=evil,ok,5\nx,1,2\n"
    assert export.to_csv(frame, index=True) == "'@id,'=evil,ok,5\n'-1,x,1,2\n"


def test_to_csv_writes_files_and_buffers_and_returns_text_without_a_target(tmp_path):
    frame = pd.DataFrame({"name": ["@x", "y"], "n": [-1.5, 2.0]})
    expected = "name,n\n'@x,-1.5\ny,2.0\n"
    assert export.to_csv(frame) == expected
    export.to_csv(frame, tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text() == expected
    buffer = io.StringIO()
    export.to_csv(frame, buffer, sep=";")
    assert buffer.getvalue() == expected.replace(",", ";")
    assert export.to_csv_bytes(frame) == expected.encode("utf-8")


def test_a_carriage_return_inside_a_cell_is_quoted():
    """Python's csv writer (with pandas' "\\n" line ends) would write a carriage return bare, and a spreadsheet
    would start a new row there, whose first cell (here "=cmd") is not neutralised."""
    text = export.to_csv(pd.DataFrame({"a": ["x\r=cmd", "\rb"], "n": [1, -2]}))
    assert text == "a,n\r\n\"x\r=cmd\",1\r\n\"'\rb\",-2\r\n"
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["a", "n"], ["x\r=cmd", "1"], ["'\rb", "-2"]]


def test_duckdb_relation_follows_the_same_rule():
    db = duckdb.connect()
    values = TRIGGERED + UNTOUCHED
    frame = pd.DataFrame({"=h": values, "n": np.linspace(-3, 3, len(values))})
    relation = export.neutralise_relation(db.from_df(frame))
    assert relation.columns == ["'=h", "n"]
    got = relation.df()
    assert got["'=h"].tolist() == EXPECTED + UNTOUCHED
    assert got["n"].tolist() == frame["n"].tolist()
    assert export.neutralise_relation(db.sql("SELECT NULL::VARCHAR AS s, -1 AS i")).fetchall() == [(None, -1)]


def test_duckdb_writer_and_pandas_write_the_same_bytes(tmp_path):
    frame = pd.DataFrame({"id": ["=1", "a,b", "-2", 'q"x', None], "amount": [-12.5, 0.1, 3.0, np.nan, 1e-7]})
    db = duckdb.connect()
    export.neutralise_relation(db.from_df(frame)).write_csv(str(tmp_path / "duck.csv"), header=True)
    export.to_csv(frame, tmp_path / "pandas.csv")
    assert (tmp_path / "duck.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_a_large_frame_is_neutralised_row_for_row():
    frame = pd.DataFrame({"customer_id": pd.Series([f"C{i}" for i in range(300_000)]), "x": np.arange(3e5)})
    frame.loc[::3, "customer_id"] = "-1"
    out = export.neutralise(frame)
    assert out["customer_id"].iloc[:4].tolist() == ["'-1", "C1", "C2", "'-1"]
    assert (out["customer_id"] == "'-1").sum() == 100_000
    assert out["x"].equals(frame["x"])


# --------------------------------------------------------------------------- command line, end to end

def _cells(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _unsafe(rows):
    """Cells that start with a trigger character and are not numbers (a negative amount is fine)."""
    return [cell for row in rows for cell in row if cell[:1] in export.TRIGGERS and not _number(cell)]


@pytest.fixture
def hostile(tmp_path):
    ids = ['"=HYPERLINK(""http://x"",""y"")"', "+1+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "a=b"]
    (tmp_path / "c.csv").write_text(
        "customer_id,created_at,=segment\n" + "".join(f"{i},2024-01-0{n + 1},@gold\n" for n, i in enumerate(ids)))
    (tmp_path / "t.csv").write_text("customer_id,ordered_at,amount\n" + "".join(
        f"{i},2024-0{m}-1{n},{a}\n" for n, i in enumerate(ids) for m, a in ((2, 10 + n), (3, -5), (4, 20.5))))
    (tmp_path / "k.csv").write_text("customer_id,campaign,sent_at,group,channel,cost\n" + "".join(
        f"{i},{name},2024-03-01,{group},-sms,1.5\n" for n, i in enumerate(ids)
        for name, group in (("=Spring", "treatment" if n % 2 else "control"), ("-Summer", "treatment"))))
    return tmp_path


def test_cli_files_have_no_formula_cells_and_numbers_stay_numbers(hostile):
    out = hostile / "out"
    assert main(["report", "--customers", str(hostile / "c.csv"), "--transactions", str(hostile / "t.csv"),
                 "--campaigns", str(hostile / "k.csv"), "--out", str(out)]) == 0
    assert main(["campaigns", "--customers", str(hostile / "c.csv"), "--transactions", str(hostile / "t.csv"),
                 "--campaigns", str(hostile / "k.csv"), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*.csv"))
    assert written == ["campaign_effects.csv", "clv.csv", "cohort_retention.csv", "customer_stages.csv", "funnel.csv",
                       "ingest_report.csv", "nps.csv", "stages.csv"]
    for name in written:
        assert _unsafe(_cells(out / name)) == [], name

    expected_ids = sorted(['\'=HYPERLINK("http://x","y")', "'+1+cmd|' /C calc'!A0", "'@SUM(1+1)", "'-2+3", "a=b"])
    stages = _cells(out / "customer_stages.csv")
    assert stages[0] == ["customer_id", "stage"] and sorted(r[0] for r in stages[1:]) == expected_ids
    clv = pd.read_csv(out / "clv.csv", dtype={"customer_id": str})
    assert sorted(clv["customer_id"]) == expected_ids
    assert pd.api.types.is_numeric_dtype(clv["monetary"]) and pd.api.types.is_numeric_dtype(clv["historic_value"])
    assert clv.set_index("customer_id").loc["a=b", "historic_value"] == pytest.approx(10 + 4 - 5 + 20.5)

    effects = pd.read_csv(out / "campaign_effects.csv")
    assert sorted(effects["campaign"]) == ["'-Summer", "'=Spring"]
    assert effects["treated"].tolist() == [5, 2] and effects["cost"].tolist() == [7.5, 3.0]  # 1.5 per treated send
    assert effects.set_index("campaign").loc["'=Spring", "roi"] == -1.0  # a negative number, written as one
    stage_shares = pd.read_csv(out / "stages.csv")
    assert pd.api.types.is_numeric_dtype(stage_shares["share"]) and stage_shares["share"].sum() == pytest.approx(1)


# --------------------------------------------------------------------------- the app's download button

def test_widget_download_writes_safe_csv_bytes_when_clicked(monkeypatch):
    import clm_ui.widgets as widgets

    buttons = []
    monkeypatch.setattr(widgets.st, "download_button", lambda label, data, **kw: buttons.append((data, kw)))
    monkeypatch.setattr(widgets, "t", lambda key, *a, **kw: key)
    frame = pd.DataFrame({"=attribute": ["@x", "-y", "z"], "share": [-0.5, 0.25, np.nan]})
    widgets.download(frame, "f.csv")
    (data, kw), = buttons
    assert callable(data) and kw["mime"] == "text/csv"  # built lazily, on the click
    assert data() == b"'=attribute,share\n'@x,-0.5\n'-y,0.25\nz,\n"


def test_tables_offer_no_csv_export_that_bypasses_the_neutralisation():
    """st.dataframe's toolbar would write "=HYPERLINK(…)" as it is: the served app switches it off; its own
    download buttons (clm_ui.widgets.download) go through clm_core.export."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
