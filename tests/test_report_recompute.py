"""The report CLI (DESIGN §4) recomputed independently with plain pandas.

A mid-sized seeded demo dataset is written as CSV, ``python -m clm_core report``
runs on it in a subprocess, and every metric file is compared with
``bench/pandas_reference.py`` (written from DESIGN §3 alone) on the same CSV
files: counts exactly, floats to 1e-9 relative; once with the default as-of date
and once with ``--as-of`` in the middle of the data. The same data exported the
German way (``;``, decimal comma, dd.mm.yyyy dates, Windows-1252 and UTF-8 with
BOM, German headers) must give byte-identical report files.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clm_core.demo import write_demo

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    spec = importlib.util.spec_from_file_location("pandas_reference", ROOT / "bench" / "pandas_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

#: DESIGN §4: file -> the columns it must have (more may follow).
REPORT_COLUMNS = {
    "stages.csv": ["stage", "customers", "share"],
    "customer_stages.csv": ["customer_id", "stage"],
    "funnel.csv": ["step", "customers", "conversion_from_start", "conversion_from_previous",
                   "median_days_from_previous"],
    "cohort_retention.csv": ["cohort", "period", "cohort_size", "active_customers", "retention"],
    "nps.csv": ["scope", "answers", "promoters", "passives", "detractors", "nps", "margin_of_error"],
    "clv.csv": ["customer_id", "frequency", "recency", "T", "monetary", "historic_value",
                "expected_purchases", "p_alive", "predicted_clv"],
    "ingest_report.csv": ["table", "rows_read", "rows_loaded", "rows_rejected"],
}
TABLES = ("customers", "transactions", "nps", "events", "campaigns")
DATES = {"customers": ["created_at"], "transactions": ["ordered_at"], "nps": ["answered_at"],
         "events": ["occurred_at"], "campaigns": ["sent_at"]}
RTOL = 1e-9


def run_report(paths: dict, out: Path, as_of: str | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "clm_core", "report"]
    for table in TABLES:
        args += [f"--{table}", str(paths[table])]
    if as_of:
        args += ["--as-of", as_of]
    args += ["--out", str(out)]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"report failed ({result.returncode}): {result.stderr}"
    return result


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo_iso"), n_customers=1500, seed=7)


#: The default as-of date (latest ordered_at) and one in the middle of the data, where later
#: transactions, answers and customers must be ignored.
AS_OF = [None, "2025-06-15"]


@pytest.fixture(scope="module", params=AS_OF, ids=lambda a: f"as_of={a or 'default'}")
def as_of(request):
    return request.param


@pytest.fixture(scope="module")
def report_dir(demo, as_of, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_iso")
    run_report(demo, out, as_of)
    return out


@pytest.fixture(scope="module")
def frames(demo):
    """The raw CSV files read with pandas (ids as text, dates parsed)."""
    return {
        table: pd.read_csv(demo[table], dtype={"customer_id": str, "transaction_id": str},
                           parse_dates=DATES[table])
        for table in ("customers", "transactions", "nps", "events")
    }


@pytest.fixture(scope="module")
def expected(frames, as_of):
    """bench/pandas_reference on the same CSV files."""
    return ref.report(frames["customers"], frames["transactions"], frames["nps"], frames["events"], as_of=as_of)


def read_output(report_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(report_dir / name, dtype={"customer_id": str, "cohort": str, "scope": str},
                       keep_default_na=True)


# --------------------------------------------------------------------------- comparison

def assert_agrees(got: pd.DataFrame, want: pd.DataFrame, keys: list[str], label: str) -> None:
    """Same key rows; integer columns equal, float columns within RTOL, text equal."""
    want_rows = want.reset_index(drop=True)
    got_rows = got[list(want.columns)].reset_index(drop=True)
    merged = want_rows.merge(got_rows, on=keys, how="outer", suffixes=("_want", "_got"), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, f"{label}: rows only in one side:\n{missing[keys + ['_merge']].head(20)}"
    problems = []
    for column in want.columns:
        if column in keys:
            continue
        w, g = merged[f"{column}_want"], merged[f"{column}_got"]
        if pd.api.types.is_float_dtype(w) or pd.api.types.is_float_dtype(g):
            wv, gv = w.to_numpy(dtype=float), g.to_numpy(dtype=float)
            same = (np.isnan(wv) & np.isnan(gv)) | np.isclose(gv, wv, rtol=RTOL, atol=0.0) | (wv == gv)
        elif pd.api.types.is_integer_dtype(w) or pd.api.types.is_bool_dtype(w):
            same = (w.to_numpy() == g.to_numpy())
        else:
            same = (w.astype(str).to_numpy() == g.astype(str).to_numpy())
        if not same.all():
            bad = merged.loc[~same, keys + [f"{column}_want", f"{column}_got"]]
            problems.append(f"{column}: {int((~same).sum())} rows differ, e.g.\n{bad.head(10).to_string()}")
    assert not problems, f"{label}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- ISO export

def test_report_writes_every_file_with_its_columns(report_dir):
    for name, columns in REPORT_COLUMNS.items():
        path = report_dir / name
        assert path.is_file(), f"{name} missing"
        header = list(pd.read_csv(path, nrows=0).columns)
        missing = [c for c in columns if c not in header]
        assert not missing, f"{name}: columns {missing} missing (found {header})"


def test_ingest_report_loads_every_row(report_dir, demo):
    got = read_output(report_dir, "ingest_report.csv").set_index("table")
    for table in TABLES:
        rows = len(pd.read_csv(demo[table], dtype=str))
        assert got.loc[table, "rows_read"] == rows
        assert got.loc[table, "rows_loaded"] == rows
        assert got.loc[table, "rows_rejected"] == 0


def test_customer_stages_agree(report_dir, expected):
    got = read_output(report_dir, "customer_stages.csv")
    assert got["customer_id"].is_unique
    assert_agrees(got, expected["customer_stages"], ["customer_id"], "customer_stages.csv")


def test_stage_distribution_agrees(report_dir, expected):
    got = read_output(report_dir, "stages.csv")
    assert_agrees(got, expected["stages"], ["stage"], "stages.csv")


def test_cohort_retention_agrees(report_dir, expected):
    got = read_output(report_dir, "cohort_retention.csv")
    assert_agrees(got, expected["cohort_retention"], ["cohort", "period"], "cohort_retention.csv")


def test_nps_agrees(report_dir, expected):
    got = read_output(report_dir, "nps.csv")
    assert list(got["scope"].iloc[:1]) == ["all"]
    assert_agrees(got, expected["nps"], ["scope"], "nps.csv")


def test_funnel_agrees(report_dir, expected):
    got = read_output(report_dir, "funnel.csv")
    assert list(got["step"]) == list(ref.DEFAULT_FUNNEL)
    assert_agrees(got, expected["funnel"], ["step"], "funnel.csv")


def test_clv_rfm_columns_agree(report_dir, expected):
    got = read_output(report_dir, "clv.csv")
    assert got["customer_id"].is_unique
    assert_agrees(got, expected["clv"], ["customer_id"], "clv.csv (RFM and historic value)")


# --------------------------------------------------------------------------- German export

def _german_number(values: pd.Series, thousands: bool = True) -> pd.Series:
    """ISO number text -> German text (decimal comma, '.' thousands), exactly the same value."""
    def convert(text: str) -> str:
        if text == "":
            return text
        sign = "-" if text.startswith("-") else ""
        whole, _, frac = text.lstrip("+-").partition(".")
        if thousands and len(whole) > 3:
            head = len(whole) % 3 or 3
            whole = ".".join([whole[:head]] + [whole[i:i + 3] for i in range(head, len(whole), 3)])
        return sign + whole + ("," + frac if frac else "")

    return values.map(convert)


def _german_date(values: pd.Series) -> pd.Series:
    """ISO date / timestamp text -> dd.mm.yyyy, or dd.mm.yyyy HH:MM (seconds dropped, like Excel exports)."""
    stamps = pd.to_datetime(values.replace("", None), format="ISO8601")
    has_time = values.str.len() > 10
    out = np.where(has_time, stamps.dt.strftime("%d.%m.%Y %H:%M"), stamps.dt.strftime("%d.%m.%Y"))
    return pd.Series(np.where(values == "", "", out), index=values.index)


GERMAN = {
    # table: (encoding, line terminator, {ISO column: German header}, number columns, date columns)
    "customers": ("cp1252", "\r\n", {
        "customer_id": "Kundennummer", "created_at": "Angelegt am", "channel": "Kanal",
        "segment": "Kundensegment", "country": "Land", "city": "Ort", "postal_code": "PLZ",
        "latitude": "Breitengrad", "longitude": "Längengrad", "age_group": "Altersgruppe",
    }, ["latitude", "longitude"], ["created_at"]),
    "transactions": ("utf-8-sig", "\n", {
        "transaction_id": "Belegnummer", "customer_id": "Kundennummer", "ordered_at": "Bestelldatum",
        "amount": "Betrag", "category": "Warengruppe", "quantity": "Menge", "margin": "Marge",
    }, ["amount", "margin"], ["ordered_at"]),
    "nps": ("cp1252", "\r\n", {
        "customer_id": "Kunden-ID", "answered_at": "Befragungsdatum", "score": "Bewertung",
        "comment": "Kommentar",
    }, [], ["answered_at"]),
    "events": ("utf-8", "\n", {
        "customer_id": "Kundennummer", "occurred_at": "Zeitpunkt", "event": "Ereignis", "source": "Quelle",
    }, [], ["occurred_at"]),
    "campaigns": ("utf-8-sig", "\n", {
        "customer_id": "Kundennummer", "campaign": "Kampagne", "sent_at": "Versanddatum", "group": "Gruppe",
        "channel": "Kanal", "cost": "Kosten", "stage_targeted": "Zielphase",
    }, ["cost"], ["sent_at"]),
}


def write_german(demo: dict, out_dir: Path) -> dict:
    paths = {}
    for table, (encoding, newline, headers, numbers, dates) in GERMAN.items():
        frame = pd.read_csv(demo[table], dtype=str, keep_default_na=False)
        assert set(frame.columns) <= set(headers), f"{table}: new demo columns {set(frame.columns) - set(headers)}"
        for column in numbers:
            frame[column] = _german_number(frame[column])
        for column in dates:
            frame[column] = _german_date(frame[column])
        if table == "campaigns":
            frame["group"] = frame["group"].map({"treatment": "Testgruppe", "control": "Kontrollgruppe"}).fillna("")
        frame = frame.rename(columns=headers)
        path = out_dir / f"export_{table}.csv"
        frame.to_csv(path, sep=";", index=False, encoding=encoding, lineterminator=newline)
        paths[table] = path
    return paths


@pytest.fixture(scope="module")
def german_files(demo, tmp_path_factory):
    files = write_german(demo, tmp_path_factory.mktemp("demo_de"))
    raw = {t: p.read_bytes() for t, p in files.items()}
    # The files really are German exports: the test would prove nothing otherwise.
    assert raw["transactions"].startswith(b"\xef\xbb\xbfBelegnummer;Kundennummer;Bestelldatum;Betrag;")
    assert b"L\xe4ngengrad" in raw["customers"] and b"\r\n" in raw["customers"]
    assert re.search(rb";\d{1,3}\.\d{3},\d\d;", raw["transactions"]), "no amount with thousands separator"
    assert re.search(rb";\d\d\.\d\d\.\d{4} \d\d:\d\d;", raw["transactions"]), "no dd.mm.yyyy HH:MM date"
    return files


@pytest.fixture(scope="module")
def german_report_dir(german_files, as_of, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_de")
    run_report(german_files, out, as_of)
    return out


@pytest.mark.parametrize("name", sorted(REPORT_COLUMNS))
def test_german_export_gives_identical_report(name, report_dir, german_report_dir):
    assert (report_dir / name).read_bytes() == (german_report_dir / name).read_bytes(), (
        f"{name} differs between the ISO and the German export")
