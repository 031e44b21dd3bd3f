"""Loading a 1,000,000-row Excel workbook (and the same rows as Parquet) through ingest.load (issue 12, item 1).

    .venv/bin/python bench/bench_excel.py [--rows 1000000] [--regenerate]

Writes, once, ``bench/out/excel/orders_<rows>.xlsx`` (git-ignored, reused) with XlsxWriter in constant-memory
mode: one sheet "Bestellungen", a title row, an empty row, then the header (Belegnummer, Kundennummer,
Bestelldatum, Betrag, Warengruppe) and ``--rows`` orders (text ids, Excel dates with a German date format,
numbers, a category); and ``orders_<rows>.parquet`` of the same rows (DuckDB, typed). Then, each in a fresh
child process:

- **convert**: ``readers.excel_to_csv`` of the sheet into a temporary CSV file (what the loader does first);
- **load xlsx**: ``ingest.load(dataset, {"transactions": xlsx})`` into a fresh DuckDB file (conversion, parse,
  checks, derived tables, commit);
- **load parquet**: the same for the Parquet file.

Per step: wall seconds, and the child's peak resident set (VmHWM of /proc/self/status) before and after, so the
step's own peak is visible; the machine and its load average before and after. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "excel"


def write_workbook(path: Path, rows: int) -> float:
    import xlsxwriter

    start = time.perf_counter()
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Bestellungen")
    date_format = book.add_format({"num_format": "dd.mm.yyyy"})
    sheet.write_string(0, 0, "Bestellungen 2023-2025 (Export)")
    sheet.write_row(2, 0, ["Belegnummer", "Kundennummer", "Bestelldatum", "Betrag", "Warengruppe"])
    base = dt.datetime(2023, 1, 1)
    categories = ["Bücher", "Spiele", "Musik", "Filme", "Garten"]
    for i in range(1, rows + 1):
        r = i + 2
        sheet.write_string(r, 0, f"T{i:08d}")
        sheet.write_string(r, 1, f"{(i * 7919) % 200_000:06d}")
        sheet.write_datetime(r, 2, base + dt.timedelta(days=i % 1000), date_format)
        sheet.write_number(r, 3, ((i * 37) % 20_000) / 100 - 10)
        sheet.write_string(r, 4, categories[i % 5])
    book.close()
    return time.perf_counter() - start


def write_parquet(xlsx_rows: int, path: Path) -> None:
    import duckdb

    db = duckdb.connect()
    db.execute(f"""COPY (SELECT printf('T%08d', i) AS Belegnummer, printf('%06d', (i * 7919) % 200000) AS Kundennummer,
        DATE '2023-01-01' + CAST(i % 1000 AS INTEGER) AS Bestelldatum, ((i * 37) % 20000) / 100 - 10 AS Betrag,
        ['Bücher', 'Spiele', 'Musik', 'Filme', 'Garten'][i % 5 + 1] AS Warengruppe
        FROM range(1, {xlsx_rows + 1}) t(i)) TO '{path}' (FORMAT parquet)""")
    db.close()


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(step: str, path: str) -> None:
    """Run one step in this (fresh) process; print a JSON line."""
    sys.path.insert(0, str(ROOT))
    from clm_core import ingest, readers, store

    before = peak_mb()
    start = time.perf_counter()
    result: dict = {}
    if step == "convert":
        with tempfile.NamedTemporaryFile(suffix=".csv") as out:
            converted = readers.excel_to_csv(path, out, Path(path).name)
            out.flush()
            result = {"rows": converted.rows, "header_row": converted.header_row,
                      "csv_mb": round(os.path.getsize(out.name) / 2**20, 1)}
    else:
        with tempfile.TemporaryDirectory() as folder:
            con = store.connect(Path(folder) / "bench.duckdb")
            dataset = store.create_dataset(con, "bench")
            report = ingest.load(dataset, {"transactions": path})
            r = report.tables["transactions"]
            result = {"rows_read": r.rows_read, "rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected}
            con.disconnect()
    result.update(step=step, seconds=round(time.perf_counter() - start, 2),
                  peak_before_mb=round(before), peak_mb=round(peak_mb()))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    xlsx = OUT / f"orders_{args.rows}.xlsx"
    parquet = OUT / f"orders_{args.rows}.parquet"
    if args.regenerate or not xlsx.exists():
        print(f"writing {xlsx.name} ...", flush=True)
        print(f"  written in {write_workbook(xlsx, args.rows):.0f} s, {xlsx.stat().st_size / 2**20:.1f} MB")
    if args.regenerate or not parquet.exists():
        write_parquet(args.rows, parquet)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for step, path in [("convert", xlsx), ("load xlsx", xlsx), ("load parquet", parquet)]:
        done = subprocess.run([sys.executable, __file__, "--child", step.split()[0] if step == "convert" else "load",
                               str(path)], capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            print(f"{step}: failed\n{done.stderr}")
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures.pop("step")
        print(f"{step:13s} {path.name}: {figures['seconds']:6.1f} s, peak RSS {figures['peak_mb']} MB "
              f"(process start {figures['peak_before_mb']} MB) "
              + ", ".join(f"{k} {v}" for k, v in figures.items() if k not in ("seconds", "peak_mb", "peak_before_mb")))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
