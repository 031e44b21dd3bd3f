"""`python -m clm_core report`: files and columns of DESIGN §4, --map, one-line errors, the same bytes with any number
of threads; `report --database` and `load` replacing their dataset; the running app's lock and its import folder."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clm_core import demo, ingest, store
from clm_core.__main__ import main
from clm_core.models.btyd import CorrelationWarning
from clm_core.models.predictive import predictive_clv

ROOT = Path(__file__).resolve().parents[1]

COLUMNS = {
    "stages.csv": ["stage", "customers", "share"],
    "customer_stages.csv": ["customer_id", "stage"],
    "funnel.csv": ["step", "customers", "conversion_from_start", "conversion_from_previous", "median_days_from_previous"],
    "cohort_retention.csv": ["cohort", "period", "cohort_size", "active_customers", "retention"],
    "nps.csv": ["scope", "answers", "promoters", "passives", "detractors", "nps", "margin_of_error"],
    "clv.csv": ["customer_id", "frequency", "recency", "T", "monetary", "historic_value", "expected_purchases",
                "p_alive", "predicted_clv"],
    "ingest_report.csv": ["table", "rows_read", "rows_loaded", "rows_rejected"],
}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "c.csv").write_text("Kundennummer;Angelegt am;Land\n001;01.01.2024;DE\n002;15.01.2024;AT\n")
    (tmp_path / "t.csv").write_text(
        "Kundennummer;Datum;Betrag\n001;05.01.2024;10,00\n001;05.03.2024;20,00\n002;20.01.2024;5,00\n003;01.03.2024;x\n"
    )
    (tmp_path / "n.csv").write_text("customer_id,answered_at,score\n001,2024-02-01,10\n002,2024-02-03,6\n")
    return tmp_path


def run(*args):
    return subprocess.run([sys.executable, "-m", "clm_core", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def test_report_writes_every_file_with_its_columns(files):
    out = files / "out"
    result = run("report", "--customers", files / "c.csv", "--transactions", files / "t.csv", "--nps", files / "n.csv",
                 "--map", "Angelegt am=created_at", "--out", out)
    assert result.returncode == 0, result.stderr
    for name, columns in COLUMNS.items():
        frame = pd.read_csv(out / name, dtype={"customer_id": str})
        assert list(frame.columns[: len(columns)]) == columns, name
    stages = pd.read_csv(out / "stages.csv").set_index("stage")["customers"]
    # T = 2024-03-05: 001 bought 05.01 and 05.03 (first 60 days ago -> new); 002 bought 20.01 (45 days -> new).
    assert stages["new"] == 2 and stages.sum() == 2
    report = pd.read_csv(out / "ingest_report.csv").set_index("table")
    assert report.loc["transactions"].tolist() == [4, 3, 1]
    funnel = pd.read_csv(out / "funnel.csv")
    assert funnel["step"].tolist() == ["created", "first_purchase", "repeat_purchase", "promoter"]
    assert funnel["customers"].tolist() == [2, 2, 1, 0]
    nps = pd.read_csv(out / "nps.csv").set_index("scope")
    assert nps.loc["all", "nps"] == 0.0 and nps.loc["all", "answers"] == 2
    clv = pd.read_csv(out / "clv.csv", dtype={"customer_id": str}).set_index("customer_id")
    assert clv.loc["001", ["frequency", "recency", "T", "monetary", "historic_value"]].tolist() == [1, 60, 60, 20.0, 30.0]
    # one repeat customer cannot identify BG/NBD and Gamma-Gamma: the predictive columns stay empty, with a note
    assert clv[["expected_purchases", "p_alive", "predicted_clv"]].isna().all().all()
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: expected_purchases, p_alive, predicted_clv left empty: BG/NBD and Gamma-Gamma need at "
                     "least 10 customers with repeat purchases to be estimated; the data have 1"]
    assert "as of 2024-03-05" in result.stdout


def test_report_fills_the_predictive_columns(tmp_path, capsys):
    paths = demo.write_demo(tmp_path / "csv", n_customers=300, seed=5)
    out = tmp_path / "out"
    code = main(["report", "--customers", str(paths["customers"]), "--transactions", str(paths["transactions"]),
                 "--out", str(out)])
    assert code == 0
    assert "left empty" not in capsys.readouterr().err
    clv = pd.read_csv(out / "clv.csv", dtype={"customer_id": str})
    predictive_columns = clv[["expected_purchases", "p_alive", "predicted_clv"]]
    assert len(clv) > 200 and predictive_columns.notna().all().all() and (predictive_columns >= 0).all().all()
    assert (clv.loc[clv["frequency"] == 0, "p_alive"] == 1).all() and (clv["p_alive"] <= 1).all()
    # the same 12-month, 10 %/year, margin-1 predictions as predictive_clv, which fits in weeks (the CLI in days)
    con = store.connect(tmp_path / "check.duckdb")
    dataset = store.create_dataset(con, "check")
    ingest.load(dataset, {t: paths[t] for t in ("customers", "transactions")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorrelationWarning)
        weekly = predictive_clv(dataset)
    assert list(weekly["customer_id"]) == list(clv["customer_id"])
    for column in ("expected_purchases", "p_alive", "predicted_clv"):
        assert clv[column].to_numpy() == pytest.approx(weekly[column].to_numpy(), rel=1e-4, abs=1e-9), column


def test_map_scoped_to_a_table_and_unmatched_map_is_an_error(files):
    out = files / "out"
    ok = run("report", "--customers", files / "c.csv", "--transactions", files / "t.csv",
             "--map", "customers:Angelegt am=created_at", "--out", out)
    assert ok.returncode == 0, ok.stderr
    bad = run("report", "--customers", files / "c.csv", "--transactions", files / "t.csv",
              "--map", "Geburtstag=created_at", "--out", out)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --map 'Geburtstag=created_at' matches no column of the input files"


@pytest.mark.parametrize("setup, expected", [
    (lambda d: (d / "t.csv").write_text("Kundennummer;Betrag\n1;2\n"), "required column 'ordered_at'"),
    (lambda d: (d / "t.csv").write_text(""), "the file is empty"),
    (lambda d: (d / "t.csv").unlink(), "no such file"),
])
def test_unusable_input_gives_one_line_and_exit_2(files, setup, expected, capsys):
    setup(files)
    code = main(["report", "--customers", str(files / "c.csv"), "--transactions", str(files / "t.csv"),
                 "--out", str(files / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_as_of_is_reported_without_traceback(files):
    result = run("report", "--customers", files / "c.csv", "--transactions", files / "t.csv", "--as-of", "gestern",
                 "--out", files / "out")
    assert result.returncode == 2
    assert result.stderr.startswith("error: not a date") and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- several threads

def write_orders(directory: Path, n_customers: int = 30_000, n_transactions: int = 300_000,
                 n_answers: int = 20_000, seed: int = 11) -> dict[str, Path]:
    """Customers, transactions (2-decimal amounts, 6 % returns, 2-decimal margins, 4 % without) and NPS
    answers over three years, enough rows for DuckDB to split every scan across threads (its row groups
    hold 122,880 rows)."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("K", np.char.zfill(np.arange(n_customers).astype(str), 6))
    span = 3 * 365
    created = rng.integers(0, span, n_customers)
    start = np.datetime64("2023-01-01T00:00:00", "s")
    weight = rng.gamma(0.8, 1.0, n_customers)
    who = rng.choice(n_customers, n_transactions, p=weight / weight.sum())
    day = created[who] + (rng.random(n_transactions) * (span + 1 - created[who])).astype(np.int64)
    stamp = start + (day * 86400 + rng.integers(8 * 3600, 22 * 3600, n_transactions)).astype("timedelta64[s]")
    amount = np.round(rng.lognormal(3.6, 1.0, n_transactions), 2)
    amount[rng.random(n_transactions) < 0.06] *= -1
    margin = np.round(rng.uniform(0.05, 0.6, n_transactions), 2)
    margin[rng.random(n_transactions) < 0.04] = np.nan
    asked = rng.choice(n_customers, n_answers)
    answered = start + ((created[asked] + rng.integers(0, 60, n_answers)) * 86400).astype("timedelta64[s]")
    frames = {
        "customers": pd.DataFrame({"customer_id": ids, "created_at": (start + (created * 86400).astype(
            "timedelta64[s]")).astype("datetime64[D]").astype(str), "country": rng.choice(["DE", "AT"], n_customers)}),
        "transactions": pd.DataFrame({"transaction_id": np.arange(n_transactions), "customer_id": ids[who],
                                      "ordered_at": stamp.astype(str), "amount": amount, "margin": margin}),
        "nps": pd.DataFrame({"customer_id": ids[asked], "answered_at": answered.astype("datetime64[D]").astype(str),
                             "score": rng.integers(0, 11, n_answers)}),
    }
    paths = {}
    for table, frame in frames.items():
        paths[table] = directory / f"{table}.csv"
        frame.to_csv(paths[table], index=False)
    return paths


def test_report_is_byte_identical_with_several_threads(tmp_path, monkeypatch, capsys):
    """Money is summed exactly, so DuckDB's threads, which add rows in a varying order, change no digit:
    two runs with 4 threads and one with a single thread write the same bytes."""
    import clm_core.__main__ as cli

    monkeypatch.setattr(cli, "REPORT_THREADS", None)  # the report keeps the threads the test sets
    paths = write_orders(tmp_path)
    connect = store.connect
    opened = []

    def run_with(threads: int, out: Path) -> dict[str, bytes]:
        def connect_with_threads(path=None):
            con = connect(path)
            store.raw(con).execute(f"SET threads = {threads}")
            opened.append(con)
            return con

        monkeypatch.setattr(store, "connect", connect_with_threads)
        code = main(["report", "--customers", str(paths["customers"]), "--transactions", str(paths["transactions"]),
                     "--nps", str(paths["nps"]), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        # the report ran with these threads (the CLI does not set its own)
        assert store.raw(opened[-1]).execute("SELECT current_setting('threads')").fetchone()[0] == threads
        return {name: (out / name).read_bytes() for name in COLUMNS}

    first = run_with(4, tmp_path / "threads4_a")
    assert len(pd.read_csv(tmp_path / "threads4_a" / "clv.csv")) > 20_000
    second = run_with(4, tmp_path / "threads4_b")
    single = run_with(1, tmp_path / "threads1")
    for name in COLUMNS:
        assert first[name] == second[name], f"{name} differs between two runs with 4 threads"
        assert first[name] == single[name], f"{name} differs between 4 threads and 1 thread"


# --------------------------------------------------------------------------- --database, load, the app's lock

def report_datasets(database: Path) -> list[tuple[str, dict]]:
    con = store.connect(database)
    try:
        return [(d.id, store.table_rows(d)) for d in store.list_datasets(con) if d.name == "report"]
    finally:
        con.disconnect()


def test_report_database_keeps_one_report_dataset_and_a_refused_run_changes_nothing(files, tmp_path, capsys):
    database = tmp_path / "clm.duckdb"
    base = ["report", "--customers", str(files / "c.csv"), "--map", "Angelegt am=created_at",
            "--database", str(database), "--out", str(tmp_path / "out")]
    assert main([*base, "--transactions", str(files / "t.csv")]) == 0
    [(first, rows)] = report_datasets(database)
    assert rows == {"customers": 2, "transactions": 3}
    (files / "t2.csv").write_text("customer_id,ordered_at,amount\n001,2024-01-05,10\n")
    assert main([*base, "--transactions", str(files / "t2.csv")]) == 0
    [(second, rows)] = report_datasets(database)
    assert second != first and rows == {"customers": 2, "transactions": 1}
    capsys.readouterr()

    (files / "bad.csv").write_text("Kundennummer;Betrag\n1;2\n")  # no order date: refused
    assert main([*base, "--transactions", str(files / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "required column 'ordered_at'" in err and err.count("\n") == 1
    assert report_datasets(database) == [(second, {"customers": 2, "transactions": 1})]
    con = store.connect(database)
    assert len(store.list_datasets(con)) == 1
    con.disconnect()


def test_load_creates_then_replaces_the_named_dataset(files, tmp_path, capsys):
    database = tmp_path / "clm.duckdb"
    args = ["load", "--dataset", "Shop", "--customers", str(files / "c.csv"), "--transactions", str(files / "t.csv"),
            "--nps", str(files / "n.csv"), "--map", "Angelegt am=created_at", "--database", str(database)]
    assert main(args) == 0 and main(args) == 0
    out = capsys.readouterr().out
    assert "transactions: 3 of 4 rows loaded, 1 rejected" in out and "dataset 'Shop' loaded into" in out
    con = store.connect(database)
    try:
        [shop] = store.list_datasets(con)
        assert shop.name == "Shop" and store.table_rows(shop) == {"customers": 2, "transactions": 3, "nps": 2}
    finally:
        con.disconnect()
    assert not (tmp_path / "inbox").exists()
    assert main(["load", "--dataset", " ", "--customers", str(files / "c.csv"), "--transactions",
                 str(files / "t.csv"), "--database", str(database)]) == 2
    assert capsys.readouterr().err == "error: --dataset needs a name\n"


HOLDER = """
import json, sys
from clm_core import inbox, store
con = store.connect(sys.argv[1])  # holds the file's lock, as the running app does
print("ready", flush=True)
sys.stdin.readline()
results = inbox.run_pending(con, sys.argv[2])
print(json.dumps([[r.job, r.ok, r.message] for r in results]), flush=True)
"""


def test_the_cli_meets_the_apps_lock_and_hands_files_to_its_inbox(files, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CLM_INBOX", raising=False)
    database, box = tmp_path / "app.duckdb", tmp_path / "inbox"
    store.connect(database).disconnect()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(database), str(box)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        locked = (f"error: {database} is in use by the running app; use `python -m clm_core load --inbox "
                  f"--dataset NAME --customers C.csv --transactions T.csv …` to hand files to it "
                  f"(it imports them from {box})\n")
        assert main(["load-demo", "--data", str(tmp_path / "demo"), "--database", str(database)]) == 2
        assert capsys.readouterr().err == locked
        assert main(["report", "--customers", str(files / "c.csv"), "--transactions", str(files / "t.csv"),
                     "--database", str(database), "--out", str(tmp_path / "out")]) == 2
        assert capsys.readouterr().err == locked

        assert main(["load", "--dataset", "Shop", "--customers", str(files / "c.csv"), "--transactions",
                     str(files / "t.csv"), "--map", "customers:Angelegt am=created_at",
                     "--database", str(database)]) == 0
        out = capsys.readouterr().out
        [job] = [p for p in box.iterdir() if not p.name.startswith(".")]
        assert out.count("\n") == 1 and out.startswith(f"{database} is in use by the running app; put 2 files into "
                                                       f"{job}: the running app will import them as dataset 'Shop'")
        assert sorted(p.name for p in job.iterdir()) == ["customers-c.csv", "job.json", "transactions-t.csv"]

        holder.stdin.write("import\n")
        holder.stdin.flush()
        [[name, ok, message]] = json.loads(holder.stdout.readline())
        assert name == job.name and ok, message
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    done = box / "done" / job.name
    assert json.loads((done / "import_report.json").read_text())["status"] == "imported"
    con = store.connect(database)
    try:
        [shop] = store.list_datasets(con)  # the refused report left no dataset behind
        assert shop.name == "Shop" and store.table_rows(shop) == {"customers": 2, "transactions": 3}
        assert "created_at" in shop.table("customers").columns
    finally:
        con.disconnect()

    # with --inbox the files go to the folder even when the database is free; here the importer runs later
    assert main(["load", "--inbox", "--inbox-dir", str(tmp_path / "drop"), "--dataset", "Shop", "--customers",
                 str(files / "c.csv"), "--transactions", str(files / "n.csv"), "--database", str(database)]) == 2
    assert "required column" in capsys.readouterr().err  # checked before anything is handed over
    assert not (tmp_path / "drop").exists()
    assert main(["load", "--inbox", "--inbox-dir", str(tmp_path / "drop"), "--dataset", "Shop", "--customers",
                 str(files / "c.csv"), "--transactions", str(files / "t.csv"), "--database", str(database)]) == 0
    assert capsys.readouterr().out.startswith("put 2 files into ")
    from clm_core import inbox
    assert len(inbox.pending_jobs(tmp_path / "drop")) == 1


PRESETS = ROOT / "tests" / "data" / "presets"


def test_report_from_a_shop_export_alone(tmp_path, capsys):
    """--export of the Shopify sample (tests/test_presets.py computes its numbers by hand): 8 customers, 14
    transactions (12 orders + 2 refunds), stages at 2024-06-30 as there."""
    out = tmp_path / "out"
    assert main(["report", "--export", str(PRESETS / "shopify_orders_export.csv"), "--as-of", "2024-06-30",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shopify_orders_export.csv: recognised as: Shopify orders export (customers, transactions)" in printed
    loaded = pd.read_csv(out / "ingest_report.csv").set_index("table")["rows_loaded"].to_dict()
    assert loaded == {"customers": 8, "transactions": 14}
    counts = pd.read_csv(out / "stages.csv").set_index("stage")["customers"].to_dict()
    assert {s: n for s, n in counts.items() if n} == {
        "loyal": 1, "active": 1, "at_risk": 2, "new": 1, "churned": 1, "reactivated": 1, "prospect": 1}


def test_load_merges_two_exports_and_refuses_a_table_given_twice(files, tmp_path, capsys):
    database = tmp_path / "clm.duckdb"
    shop, crm = PRESETS / "shopify_orders_export.csv", PRESETS / "hubspot_contacts_export.csv"
    assert main(["load", "--dataset", "Shop", "--export", str(shop), "--export", str(crm),
                 "--database", str(database)]) == 0
    con = store.connect(database)
    try:
        [dataset] = store.list_datasets(con)
        rows = store.table_rows(dataset)
        assert rows["transactions"] == 14 and rows["events"] > 0
        customers = dataset.table("customers").customer_id.execute()
        assert customers.is_unique and "anna.mueller@example.de" in set(customers)
    finally:
        con.disconnect()
    capsys.readouterr()
    assert main(["load", "--dataset", "Shop", "--export", str(shop), "--customers", str(files / "c.csv"),
                 "--database", str(database)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "error: customers are given by --customers and by an --export; give them one way")
    assert main(["report", "--customers", str(files / "c.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "missing --transactions (or an --export of a shop or CRM that provides them)" in capsys.readouterr().err
