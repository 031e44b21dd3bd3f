"""Ingest at scale against a bare DuckDB CTAS of the same files (issue [5]).

    .venv/bin/python bench/bench_ingest.py ingest|ctas [--data DIR] [--db PATH] [--profile]

Run under ``/usr/bin/time -f "maxrss %M KiB"`` for the peak memory. ``--profile`` prints the
wall time of every SQL statement ingest runs that takes over 0.2 s.

Measured on 2 cores with other work running (1M customers, 10M orders, 500k answers; load average ~3):
bare CTAS 21 s wall / 21 s CPU, max RSS 0.45 GB; ingest before issue [5] 92 s / 95 s CPU, 4.6 GB;
after it 88 s / 90 s CPU, 1.8 GB (50 s / 86 s CPU at load average 1.5). Of that, the derived tables
take ~26 s wall at load 1.5 (customer_days ~13 s), parsing the orders ~13 s, the commit ~4 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from clm_core import ingest, store  # noqa: E402

TABLES = ("customers", "transactions", "nps")


class _Timed:
    """A DuckDB connection that prints the statements taking over 0.2 s."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def execute(self, sql, *args):
        t0 = time.time()
        out = self._db.execute(sql, *args)
        dt = time.time() - t0
        if dt > 0.2:
            print(f"{dt:7.2f} s  {' '.join(sql.split())[:150]}", flush=True)
        return self

    def fetchone(self):
        return self._db.fetchone()

    def fetchall(self):
        return self._db.fetchall()

    def df(self):
        return self._db.df()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("ingest", "ctas"))
    p.add_argument("--data", default="/tmp/my/m10")
    p.add_argument("--db", default="/tmp/clm_bench_ingest.duckdb")
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    for suffix in ("", ".wal"):
        if os.path.exists(a.db + suffix):
            os.remove(a.db + suffix)
    load = os.getloadavg()[0]
    if a.mode == "ctas":
        import duckdb

        con = duckdb.connect(a.db)
        t0, c0 = time.time(), time.process_time()
        for t in TABLES:
            con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_csv('{a.data}/{t}.csv')")
    else:
        con = store.connect(a.db)
        ds = store.create_dataset(con, "x")
        if a.profile:
            plain = store.raw
            wrapped = {}

            def timed_raw(c):
                db = plain(c)
                return wrapped.setdefault(id(db), _Timed(db))

            store.raw = ingest.raw = timed_raw
        t0, c0 = time.time(), time.process_time()
        report = ingest.load(ds, {t: f"{a.data}/{t}.csv" for t in TABLES})
        print(report.summary().to_string(index=False))
    print(f"{a.mode} wall {time.time() - t0:.1f} s cpu {time.process_time() - c0:.1f} s "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
