"""Command line (DESIGN §4): ``python -m clm_core report …``, ``load …`` and ``load-demo``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from clm_core import backend, cli_campaigns, export, inbox, ingest, presets, schema, store
from clm_core.metrics import clv, cohorts, funnel, nps, stages
from clm_core.metrics.common import resolve_as_of
from clm_core.models import btyd, predictive

INPUTS = ("customers", "transactions", "nps", "events", "campaigns")
REQUIRED = ("customers", "transactions")
PREDICTIVE = predictive.PREDICTIVE_COLUMNS


class UsageError(Exception):
    """Unusable input: reported as one line, exit status 2."""


def parse_mappings(specs: list[str], headers: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """``--map HEADER=canonical`` (every file with HEADER) and ``--map table:HEADER=canonical``."""
    mapping: dict[str, dict[str, str]] = {}
    for spec in specs:
        if "=" not in spec:
            raise UsageError(f"--map {spec!r}: expected HEADER=canonical or table:HEADER=canonical")
        left, canonical = spec.rsplit("=", 1)
        table, sep, header = left.partition(":")
        tables = [table] if sep and table in INPUTS else list(headers)
        if not sep or table not in INPUTS:
            header = left
        matched = [t for t in tables if t in headers and header in headers[t]]
        if not matched:
            raise UsageError(f"--map {spec!r} matches no column of the input files")
        for t in matched:
            known = {c.name for c in schema.columns(t)}
            if canonical not in known:
                raise UsageError(f"--map {spec!r}: {canonical!r} is not a column of {t} ({', '.join(sorted(known))})")
            mapping.setdefault(t, {})[header] = canonical
    return mapping


def parse_sheets(specs: list[str], tables: list[str]) -> dict[str, str]:
    """``--sheet NAME`` (the sheet of every Excel file given) and ``--sheet table:NAME`` (of one table's file);
    a sheet may be given by its 1-based number."""
    sheets: dict[str, str] = {}
    for spec in specs:
        table, sep, name = spec.partition(":")
        if sep and table in INPUTS:
            if table not in tables:
                raise UsageError(f"--sheet {spec!r}: no file is given for {table}")
            sheets[table] = name
        else:
            for t in tables:
                sheets.setdefault(t, spec)
    return sheets


def available_funnel_steps(dataset) -> list[str]:
    """The default funnel's milestones that this dataset's tables can answer."""
    index = dataset.require("customer_index")
    steps = ["created"] if "created_at" in index.columns else []
    steps += ["first_purchase", "repeat_purchase"]
    if dataset.has("nps"):
        steps.append("promoter")
    return steps


def clv_frame(dataset, as_of) -> pd.DataFrame:
    """clv.csv: the RFM summary in days and the 12-month predictions (10 %/year discount, margin 1). When
    the models cannot be fitted the predictive columns stay empty; that and the fit's warnings are
    printed as one-line notes on stderr."""
    notes = (btyd.ConvergenceWarning, btyd.CorrelationWarning)
    with warnings.catch_warnings(record=True) as caught:
        for category in notes:
            warnings.simplefilter("always", category)
        frame = predictive.predictive_clv(dataset, as_of, time_unit="days")
    for w in caught:
        if issubclass(w.category, notes):
            print(f"note: {' '.join(str(w.message).split())}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if frame.attrs.get("model_error"):
        print(f"note: {', '.join(PREDICTIVE)} left empty: {frame.attrs['model_error']}", file=sys.stderr)
    return frame[["customer_id", "frequency", "recency", "T", "monetary", "historic_value", *PREDICTIVE]]


def write_csv(dataset, rows, path: Path) -> None:
    """``rows`` (an Ibis table or a DataFrame) as CSV through DuckDB's writer, for the per-customer files:
    the bytes of ``DataFrame.to_csv(index=False)`` (numbers in Python's shortest repr, NaN empty, text
    quoted when it holds a comma, a quote or a line break) in a fraction of pandas' time. Frames with
    other column types (pandas writes booleans as True/False, DuckDB as true/false) or on another backend
    go through pandas. Both write text cells and column names through ``clm_core.export``'s rule."""
    if dataset.con.name != "duckdb":
        rows = rows if isinstance(rows, pd.DataFrame) else rows.execute()
    if isinstance(rows, pd.DataFrame) and (dataset.con.name != "duckdb" or not all(
            pd.api.types.is_string_dtype(t) or pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in rows.dtypes)):
        export.to_csv(rows, path, index=False)
        return
    db = store.raw(dataset.con)
    relation = db.from_df(rows) if isinstance(rows, pd.DataFrame) else db.sql(ibis.to_sql(rows, dialect="duckdb"))
    export.neutralise_relation(relation).write_csv(str(path), header=True)


def input_files(args, folder: str) -> dict[str, str]:
    """table -> file: the files given per table, and the canonical files of the shop/CRM exports given with
    ``--export`` (recognised by their header row, converted into ``folder``; several exports are merged by
    customer). A table given both ways, or customers/transactions given neither way, is a usage error."""
    given = {t: getattr(args, t) for t in INPUTS if getattr(args, t, None)}
    exports = getattr(args, "export", None) or []
    converted: dict[str, str] = {}
    if exports:
        conversions = []
        for i, path in enumerate(exports):
            conversion = presets.convert(path, Path(folder) / str(i))
            print(f"{Path(path).name}: {conversion.recognition.message('en')} "
                  f"({', '.join(sorted(conversion.files))})")
            conversions.append(conversion)
        files = dict(conversions[0].files) if len(conversions) == 1 else presets.merge(
            conversions, Path(folder) / "merged")
        converted = {t: str(path) for t, path in files.items()}
    for table in sorted(set(given) & set(converted), key=INPUTS.index):
        raise UsageError(f"{table} are given by --{table} and by an --export; give them one way")
    missing = [t for t in REQUIRED if t not in given and t not in converted]
    if missing:
        raise UsageError("missing " + " and ".join(f"--{t}" for t in missing)
                         + " (or an --export of a shop or CRM that provides them)")
    return {**converted, **given}


#: DuckDB threads of ``report`` (None: DuckDB's default, every core). One: with DuckDB 1.4.5 the report is
#: slower with more threads, as writing its large tables from several threads costs more than the threads
#: save (bench/README.md, "bench_report.py"). The files do not depend on it: money is summed exactly
#: (``clm_core.derived.exact_sum``), so the order in which threads add rows changes no digit
#: (tests/test_cli.py::test_report_is_byte_identical_with_several_threads).
REPORT_THREADS = 1


def publish(setting: str, dataset, database: str) -> None:
    """With a Spark ``--database`` setting: publish the dataset just loaded into ``database`` to Spark."""
    target = backend.parse(setting)
    if target.is_spark:
        from clm_core import engine, spark_store

        warehouse = engine.warehouse(database)
        if spark_store.published_version(dataset, warehouse) == dataset.version:
            print(f"dataset {dataset.name!r} already published to Spark under {warehouse}")
            return
        published = engine.reading(dataset, target, database)
        print(f"dataset {dataset.name!r} published to Spark ({target.master}) under {warehouse}: "
              f"{len(published.tables())} tables")


def load_inputs(args, tables, name: str, folder: str):
    """Load the files given for ``tables`` (with ``--map``; ``--export`` files converted into ``folder``)
    into a new dataset of the DuckDB file ``--database`` names (default, and for a Spark URL, whose caller
    publishes it: a fresh in-memory database); returns (dataset, IngestReport)."""
    database = ":memory:"
    if args.database and not backend.parse(args.database).is_spark:
        database = store.database_path(args.database)
    sources = {t: path for t, path in input_files(args, folder).items() if t in tables}
    sheets = parse_sheets(getattr(args, "sheet", None) or [], list(sources))
    headers = {t: ingest.sniff(path, t, sheet=sheets.get(t)).headers for t, path in sources.items()}
    mapping = parse_mappings(args.map or [], headers)
    con = store.connect(database)
    if REPORT_THREADS:
        store.raw(con).execute(f"SET threads = {int(REPORT_THREADS)}")
    # created in the load's transaction, replacing the dataset of the same name from an earlier run
    dataset = store.new_dataset(con, name)
    return dataset, ingest.load(dataset, sources, mapping=mapping, create=True,
                                replaces=store.find_dataset(con, name), sheets=sheets)


@contextlib.contextmanager
def computed_on(args, tables, name: str):
    """(dataset, IngestReport) of the files given for ``tables``, on the engine ``--database`` names. On Spark
    they are read and checked in an in-memory DuckDB as always, then published to a throw-away copy in the
    warehouse (``CLM_SPARK_WAREHOUSE``, else a temporary directory), removed afterwards."""
    target = backend.parse(args.database) if args.database else None
    with tempfile.TemporaryDirectory(prefix="clm_exports_") as folder:
        dataset, loaded = load_inputs(args, tables, name, folder)
    if target is None or not target.is_spark:
        yield dataset, loaded
        return
    from clm_core import spark_store

    warehouse = backend.warehouse(None)
    _, spark_backend = backend.spark(target, warehouse)
    published = spark_store.publish(dataset, spark_backend, warehouse)
    try:
        yield published, loaded
    finally:
        spark_store.drop(published, warehouse)


def report(args) -> int:
    with computed_on(args, INPUTS, "report") as (dataset, loaded):
        return _report(args, dataset, loaded)


def _report(args, dataset, loaded) -> int:
    """The report's files, computed on ``dataset`` (DuckDB, or the same data published to Spark)."""
    as_of = resolve_as_of(dataset, args.as_of)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    export.to_csv(loaded.summary(), out / "ingest_report.csv", index=False)
    distribution = stages.stage_distribution(dataset, as_of)
    export.to_csv(distribution, out / "stages.csv", index=False)
    per_customer = stages.customer_stages(dataset, as_of).select("customer_id", "stage").order_by("customer_id")
    write_csv(dataset, per_customer, out / "customer_stages.csv")
    steps = available_funnel_steps(dataset)
    export.to_csv(funnel.funnel(dataset, steps, as_of), out / "funnel.csv", index=False)
    retention = cohorts.cohort_retention(dataset, as_of)
    export.to_csv(retention.drop(columns=["cohort_start"]), out / "cohort_retention.csv", index=False)
    if dataset.has("nps"):
        scores = pd.concat([nps.nps(dataset, as_of), nps.nps(dataset, as_of, by="month")], ignore_index=True)
    else:
        scores = pd.DataFrame(columns=nps.COLUMNS)
    export.to_csv(scores, out / "nps.csv", index=False)
    write_csv(dataset, clv_frame(dataset, as_of), out / "clv.csv")

    total = int(distribution["customers"].sum())
    print(f"as of {as_of}: {total} customers; " + ", ".join(
        f"{r.stage} {r.share:.0%}" for r in distribution.itertuples() if r.customers))
    for r in loaded.summary().itertuples():
        print(f"  {r.table}: {r.rows_loaded} of {r.rows_read} rows loaded, {r.rows_rejected} rejected")
    if len(scores):
        overall = scores.iloc[0]
        print(f"  NPS {overall.nps:+.0f} ± {overall.margin_of_error:.0f} from {overall.answers} answers")
    print(f"wrote 7 files to {out}")
    return 0


def load_demo(args) -> int:
    """Load the demo CSV files into the app's database as the dataset ``--name`` (replacing it)."""
    setting = args.database or os.environ.get("CLM_DATABASE") or ""
    database = store.database_path(setting)
    con = store.connect(database)
    existing = store.find_dataset(con, args.name)
    if existing is not None and existing.has("customer_days") and not args.force:
        upgraded = ingest.upgrade_derived(existing)
        print(f"dataset {args.name!r} already loaded ({existing.id})" + ("; derived tables rebuilt" if upgraded else ""))
        publish(setting, store.get_dataset(con, existing.id), database)
        return 0
    dataset = existing or store.new_dataset(con, args.name)
    loaded = ingest.load_directory(dataset, args.data, create=existing is None)
    print(loaded.summary().to_string(index=False))
    print(f"dataset {args.name!r} loaded: {dataset.id}")
    publish(setting, store.get_dataset(con, dataset.id), database)
    return 0


def load(args) -> int:
    """Load files into the app's database as the dataset ``--dataset`` (replacing it, all or nothing); with
    ``--inbox``, or when the running app holds the database, copy them into its import folder instead."""
    name = (args.dataset or "").strip()
    if not name:
        raise UsageError("--dataset needs a name")
    with tempfile.TemporaryDirectory(prefix="clm_exports_") as folder:
        return _load(args, name, input_files(args, folder))


def _load(args, name: str, sources: dict[str, str]) -> int:
    sheets = parse_sheets(args.sheet or [], list(sources))
    sniffed = {t: ingest.sniff(path, t, sheet=sheets.get(t)) for t, path in sources.items()}
    mapping = parse_mappings(args.map or [], {t: s.headers for t, s in sniffed.items()})
    for t, s in sniffed.items():  # a file the app would refuse for its columns is refused before handing it over
        s.mapping = schema.propose_mapping(t, s.headers, mapping.get(t))
        ingest._check_required(s)
    setting = args.database or os.environ.get("CLM_DATABASE") or ""
    database = store.database_path(setting)
    folder = Path(args.inbox_dir) if args.inbox_dir else inbox.folder(database)
    if not args.inbox:
        try:
            con = store.connect(database)
        except duckdb.IOException as exc:
            if not inbox.is_lock_error(exc):
                raise
        else:
            dataset = store.new_dataset(con, name, inbox.PRINCIPAL)  # as the app will: the default workspace
            loaded = ingest.load(dataset, sources, mapping=mapping, create=True,
                                 replaces=store.find_dataset(con, name, inbox.PRINCIPAL), sheets=sheets)
            for r in loaded.summary().itertuples():
                print(f"  {r.table}: {r.rows_loaded} of {r.rows_read} rows loaded, {r.rows_rejected} rejected")
            print(f"dataset {name!r} loaded into {database}: {dataset.id}")
            publish(setting, store.get_dataset(con, dataset.id, inbox.PRINCIPAL), database)
            return 0
    if sheets:
        raise UsageError("--sheet cannot be passed through the app's import folder: save that sheet as its own "
                         "workbook or CSV file")
    job = inbox.submit(folder, name, sources, mapping)
    held = "" if args.inbox else f"{database} is in use by the running app; "
    print(f"{held}put {len(sources)} files into {job}: the running app will import them as dataset {name!r} "
          f"and write {inbox.REPORT_JSON} beside them in {folder / inbox.DONE} (or {folder / inbox.FAILED})")
    return 0


def locked_message(args) -> str:
    """The one line for a database file the running app holds."""
    database = store.database_path(getattr(args, "database", None))
    return (f"{database} is in use by the running app; use `python -m clm_core load --inbox --dataset NAME "
            f"--customers C.csv --transactions T.csv …` to hand files to it (it imports them from "
            f"{inbox.folder(database)})")


def add_inputs(command: argparse.ArgumentParser) -> None:
    """The input files of ``report`` and ``load``: one per table, shop/CRM exports, header mappings, sheets."""
    for table in INPUTS:
        command.add_argument(f"--{table}")
    command.add_argument("--export", action="append", metavar="FILE",
                         help="a shop or CRM export recognised by its header row (Shopify, WooCommerce or Shopware 6 "
                              "orders, HubSpot contacts, Salesforce opportunities), converted to the tables it holds; "
                              "may be repeated (merged by customer)")
    command.add_argument("--map", action="append", metavar="[table:]HEADER=canonical")
    command.add_argument("--sheet", action="append", metavar="[table:]SHEET",
                         help="the sheet of an Excel file, by name or number (default: the first non-empty one that "
                              "has the table's columns)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clm_core", description="Customer-lifecycle analytics")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="load CSV, Excel or Parquet exports and write one CSV per metric")
    add_inputs(rep)
    rep.add_argument("--as-of", dest="as_of")
    rep.add_argument("--database", help="DuckDB file to load into (default: a fresh in-memory database), or a "
                                        "Spark URL (spark://local[2], spark://HOST:7077, sc://HOST:15002) to compute on")
    rep.add_argument("--out", required=True)
    rep.set_defaults(run=report)
    into = sub.add_parser("load", help="load CSV, Excel or Parquet exports into the app's database as a dataset (replacing it), "
                                       "or hand them to the running app's import folder")
    into.add_argument("--dataset", required=True, help="the dataset's name; a dataset of that name is replaced")
    add_inputs(into)
    into.add_argument("--database", help="DuckDB file (default: CLM_DATABASE, else data/clm.duckdb), or a Spark URL: "
                                         "loaded into the DuckDB file beside Spark (CLM_DUCKDB_FILE, else "
                                         "data/clm.duckdb), then published to Spark")
    into.add_argument("--inbox", action="store_true",
                      help="copy the files into the import folder for the running app instead of loading them "
                           "(done anyway when the app holds the database)")
    into.add_argument("--inbox-dir", dest="inbox_dir",
                      help="the import folder (default: CLM_INBOX, else inbox/ beside the database: data/inbox)")
    into.set_defaults(run=load)
    demo = sub.add_parser("load-demo", help="load data/demo into the app's database")
    demo.add_argument("--data", default="data/demo")
    demo.add_argument("--name", default="Demo")
    demo.add_argument("--database", help="as for load")
    demo.add_argument("--force", action="store_true")
    demo.set_defaults(run=load_demo)
    cli_campaigns.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ingest.IngestError, store.MissingTableError, ValueError, OSError, duckdb.Error) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if inbox.is_lock_error(exc):
            message = locked_message(args)
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
