"""Upload preview and load, through what the Data page calls (issue 11, item 4: "Preview of 2,000 customers
took 13 s and the load 9 s"; target: preview <= 2 s).

    .venv/bin/python bench/bench_upload.py [--sizes 2000,100000] [--repeat 3] [--no-page]

Per size (customers), a German shop export is written once into ``bench/out/upload/<n>/`` (git-ignored, reused):
customers, transactions and NPS answers as a German system writes them (``;``, Windows-1252, dd.mm.yyyy dates,
decimal commas, headers such as Kundennr., Anmeldedatum, Umsatz, Bewertung) and the events and campaigns of
``clm_core.demo`` as they are (English headers, ISO dates), all from ``clm_core.demo`` with seed 7. Then, in a
fresh child process per size (empty caches):

- **preview**: per file, what the Data page computes when an upload appears (``views/data.py``: ``upload.head``,
  ``upload.inspect`` without a table = the guess, the proposed choices, ``upload.inspect`` with the table and the
  choices, ``upload.mapping_problems``); the first call, then the best of ``--repeat`` more;
- **page**: the Data page's whole script run in Streamlit's AppTest with the files "uploaded" (``st.file_uploader``
  replaced by in-memory files, as tests/test_page_data.py does): the first run, then a rerun after one column's
  select box changes (what a user waits for after each choice);
- **load**: ``ingest.load`` of all files into a new dataset of a fresh DuckDB file, as the Load button does (the
  mapping of the proposed choices, ``create=True``; the background model fitting the page starts afterwards is
  not included).

Wall seconds (``time.perf_counter``) and CPU seconds of the process (``time.process_time``, all threads); the
machine and its load average before and after each size. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "upload"
SEED = 7

#: German headers of the export (canonical column -> header), recognised by the synonyms
GERMAN = {
    "customers": {"customer_id": "Kundennr.", "created_at": "Anmeldedatum", "channel": "Kanal", "segment": "Segment",
                  "country": "Land", "city": "Ort", "postal_code": "PLZ", "latitude": "latitude",
                  "longitude": "longitude", "age_group": "Altersgruppe"},
    "transactions": {"transaction_id": "Belegnummer", "customer_id": "Kundennr.", "ordered_at": "Bestelldatum",
                     "amount": "Umsatz", "category": "Warengruppe", "quantity": "Menge", "margin": "Marge"},
    "nps": {"customer_id": "Kundennr.", "answered_at": "Antwortdatum", "score": "Bewertung", "comment": "Kommentar"},
}
DATES = {"created_at", "ordered_at", "answered_at"}
NUMBERS = {"amount", "margin", "latitude", "longitude"}


def write_files(n: int) -> dict[str, Path]:
    """The export of ``n`` customers (written once): table -> CSV path."""
    from clm_core import demo

    folder = OUT / str(n)
    paths = {t: folder / f"{t}.csv" for t in ("customers", "transactions", "nps", "events", "campaigns")}
    if all(p.exists() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in demo.generate_demo(n, SEED).items():
        if table in GERMAN:
            frame = frame.copy()
            for column in frame.columns:
                if column in DATES:  # 2024-03-05[ 10:30:00] -> 05.03.2024[ 10:30:00]
                    text = frame[column].astype(str)
                    frame[column] = text.str[8:10] + "." + text.str[5:7] + "." + text.str[:4] + text.str[10:]
                elif column in NUMBERS:
                    frame[column] = frame[column].astype(str).str.replace(".", ",", regex=False)
            frame = frame.rename(columns=GERMAN[table])
            frame.to_csv(paths[table], index=False, sep=";", encoding="cp1252", errors="replace", lineterminator="\r\n")
        else:
            frame.to_csv(paths[table], index=False, encoding="utf-8", lineterminator="\n")
    return paths


class Upload(io.BytesIO):
    """What st.file_uploader returns for one file: a BytesIO with name, size and a unique file_id."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name, self.size, self.file_id = name, len(data), f"{name}-{uuid.uuid4().hex}"


#: as the Data page: the second inspection is skipped when the first already read the file that way
#: (``--inspect-twice``: as before upload.same_reading, for comparison)
SAME_READING = True


def timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def preview(data: bytes, name: str):
    """What views/data.py computes for one upload before the user does anything: (table, choices)."""
    from clm_core import schema, upload

    head = upload.head(io.BytesIO(data))
    base = upload.inspect(head, name)
    table = base.guessed
    if table is None:
        return None, {}
    proposed = schema.propose_mapping(table, base.headers)
    choices = {h: proposed.get(h, upload.ATTRIBUTE) for h in base.headers}
    if not (SAME_READING and upload.same_reading(base, table, choices)):
        upload.inspect(head, name, table, choices)
    upload.mapping_problems(table, base.headers, choices)
    return table, choices


def child(n: int, repeat: int, page: bool) -> dict:
    """(Child process.) The figures of one size."""
    paths = write_files(n)
    files = {p.name: p.read_bytes() for p in paths.values()}
    out: dict = {"files": {name: len(data) for name, data in files.items()}, "preview": {}}

    # (a) preview, per file and in all
    plans = {}
    first_total = best_total = 0.0
    for name, data in files.items():
        (table, choices), wall, cpu = timed(preview, data, name)
        again = min(timed(preview, data, name)[1] for _ in range(repeat)) if repeat else float("nan")
        plans[name] = (table, choices)
        out["preview"][name] = {"table": table, "first": wall, "first_cpu": cpu, "repeat": again}
        first_total += wall
        best_total += again
    out["preview_total"] = {"first": first_total, "repeat": best_total}

    # (b) the Data page's script run with the files uploaded
    if page:
        out["page"] = page_runs(files)

    # (c) load into a new dataset of a fresh database
    from clm_core import ingest, store, upload

    with tempfile.TemporaryDirectory() as folder:
        con = store.connect(Path(folder) / "bench.duckdb")
        dataset = store.new_dataset(con, "Upload")
        sources = {table: io.BytesIO(files[name]) for name, (table, _) in plans.items() if table}
        mapping = {table: upload.explicit_mapping(choices) for table, choices in plans.values() if table}
        names = {table: name for name, (table, _) in plans.items() if table}
        report, wall, cpu = timed(ingest.load, dataset, sources, mapping=mapping, names=names, create=True)
        out["load"] = {"wall": wall, "cpu": cpu, "rows": report.summary()[["table", "rows_loaded"]].values.tolist()}
        con.disconnect()
    return out


def page_runs(files: dict[str, bytes]) -> dict:
    """Seconds of the Data page's first script run with ``files`` uploaded, and of a rerun after one select box
    of the customers file changed."""
    import streamlit
    from streamlit.testing.v1 import AppTest

    from clm_core.models import prepare

    uploads = [Upload(data, name) for name, data in files.items()]

    def file_uploader(label, *args, key=None, **kwargs):
        shown = list(uploads) if key == "w.data.files.0" else []
        streamlit.session_state[key] = shown
        return shown

    streamlit.file_uploader = file_uploader
    prepare.start = lambda *args, **kwargs: None
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CLM_DATABASE"] = str(Path(folder) / "app.duckdb")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params["page"] = "data"
        _, first, first_cpu = timed(at.run)
        errors = [str(e.value) for e in at.exception]
        customers = next(u for u in uploads if u.name == "customers.csv")
        box = at.selectbox(key=f"w.data.map.{customers.file_id}.customers.3")  # Segment
        box.select("")  # keep as attribute
        _, rerun, rerun_cpu = timed(at.run)
        boxes = len([s for s in at.selectbox if s.key and s.key.startswith("w.data.map.")])
    return {"first": first, "first_cpu": first_cpu, "rerun": rerun, "rerun_cpu": rerun_cpu, "select_boxes": boxes,
            "exceptions": errors}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    import duckdb
    import streamlit

    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
            f"Streamlit {streamlit.__version__}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,100000", help="customers per export, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="repeated preview calls (the best is shown)")
    parser.add_argument("--no-page", action="store_true", help="skip the Data page's AppTest runs")
    parser.add_argument("--inspect-twice", action="store_true",
                        help="inspect every file twice, as the Data page did before upload.same_reading (comparison)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        if spec.get("twice"):
            from clm_core import upload

            global SAME_READING
            SAME_READING = False
            upload.same_reading = lambda *args: False  # the Data page's check too
        print(json.dumps(child(spec["n"], spec["repeat"], spec["page"])))
        return 0
    print(f"Machine: {machine()}")
    for n in (int(s) for s in args.sizes.split(",")):
        write_files(n)  # outside the timed child
        before = loadavg()
        spec = json.dumps({"n": n, "repeat": args.repeat, "page": not args.no_page, "twice": args.inspect_twice})
        done = subprocess.run([sys.executable, __file__, "--child", spec], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        twice = " (--inspect-twice: every file inspected twice, as before upload.same_reading)" * args.inspect_twice
        print(f"\n{n:,} customers{twice} (load average {before} -> {loadavg()})")
        print("| file | size MB | table | preview first s (CPU s) | preview repeat s |\n|---|---:|---|---:|---:|")
        for name, p in r["preview"].items():
            print(f"| {name} | {r['files'][name] / 1e6:.1f} | {p['table']} | {p['first']:.2f} ({p['first_cpu']:.2f}) "
                  f"| {p['repeat']:.2f} |")
        total = r["preview_total"]
        print(f"| all {len(r['files'])} files | {sum(r['files'].values()) / 1e6:.1f} | | {total['first']:.2f} | "
              f"{total['repeat']:.2f} |")
        if "page" in r:
            p = r["page"]
            print(f"Data page script run with the files: first {p['first']:.2f} s (CPU {p['first_cpu']:.2f}), "
                  f"rerun after a select box {p['rerun']:.2f} s (CPU {p['rerun_cpu']:.2f}); "
                  f"{p['select_boxes']} mapping select boxes" + (f"; EXCEPTIONS {p['exceptions']}" if p["exceptions"]
                                                                  else ""))
        load = r["load"]
        rows = ", ".join(f"{t} {n:,}" for t, n in load["rows"])
        print(f"Load (ingest.load, all files, new dataset): {load['wall']:.2f} s (CPU {load['cpu']:.2f}); rows {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
