"""``kill -9`` during a load into a new dataset leaves no dataset behind and the others intact: the dataset
is created inside the load's transaction, which DuckDB's write-ahead log drops when it was not committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from clm_core import ingest, store

ROOT = Path(__file__).resolve().parents[1]


def _big_transactions(path: Path, rows: int = 1_500_000) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT 'c' || (i % 50000) AS customer_id, DATE '2020-01-01' + CAST(i % 1500 AS INTEGER) AS ordered_at, "
        f"round((i % 997) / 7.0, 2) AS amount, 't' || i AS transaction_id FROM range({rows}) r(i)) "
        f"TO '{path}' (HEADER, DELIMITER ',')")


def test_a_killed_load_leaves_no_new_dataset(tmp_path):
    database = tmp_path / "app.duckdb"
    kept_file = tmp_path / "customers.csv"
    kept_file.write_text("customer_id\n1\n2\n3\n", encoding="utf-8")
    con = store.connect(database)
    kept = store.new_dataset(con, "kept")
    ingest.load(kept, {"customers": kept_file}, create=True)
    con.disconnect()

    big = tmp_path / "transactions.csv"
    _big_transactions(big)
    script = textwrap.dedent(f"""
        import sys
        from clm_core import ingest, store
        con = store.connect({str(database)!r})
        dataset = store.new_dataset(con, "half")
        print("loading", flush=True)
        ingest.load(dataset, {{"transactions": {str(big)!r}}}, create=True)
        print("loaded", flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert process.stdout.readline().strip() == "loading"
    time.sleep(1.5)  # well inside the load (it takes several seconds)
    assert process.poll() is None, "the load finished before it could be killed: make the file bigger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    con = store.connect(database)
    try:
        assert [d.name for d in store.list_datasets(con)] == ["kept"]
        schemas = store.raw(con).execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'ds_%'").fetchall()
        assert schemas == [(f"ds_{kept.id}",)]
        assert store.table_rows(store.get_dataset(con, kept.id)) == {"customers": 3}
    finally:
        con.disconnect()
