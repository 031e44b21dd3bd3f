"""Writes from many threads at once on one process connection, as Streamlit's sessions make them.

Before the write path was serialised, two threads calling ``ingest.load`` on the app's shared
connection mixed their transactions and fixed temporary names (``clm_stage_0``): "Catalog Error:
clm_stage_0_errors does not exist", then a segmentation fault, and both datasets left empty.
"""

from __future__ import annotations

import gzip
import threading

import ibis
import pandas as pd
import pytest

from clm_core import demo, ingest, store
from clm_core.metrics import stages

LOADS = 8
READERS = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Eight different sets of demo files (one refused: its transactions have no amount column)."""
    folder = tmp_path_factory.mktemp("concurrent")
    sets = {}
    for n in range(LOADS):
        paths = demo.write_demo(folder / f"set{n}", n_customers=60 + 10 * n, seed=n)
        sets[n] = {t: paths[t] for t in ("customers", "transactions", "nps")}
    broken = folder / "broken_transactions.csv"
    broken.write_text("customer_id,ordered_at\n1,2024-01-01\n", encoding="utf-8")
    sets[LOADS - 1] = {"customers": sets[LOADS - 1]["customers"], "transactions": broken}
    return sets


def _snapshot(dataset: store.Dataset) -> tuple:
    return (store.table_rows(dataset),
            stages.stage_distribution(dataset).to_dict("records"))


def _reference(tmp_path, files) -> dict[int, tuple]:
    """Each set loaded alone, one after the other, into its own database."""
    con = store.connect(tmp_path / "alone.duckdb")
    out = {}
    for n, sources in files.items():
        dataset = store.new_dataset(con, f"set {n}")
        try:
            ingest.load(dataset, sources, create=True)
        except ingest.IngestError:
            out[n] = None
            continue
        out[n] = _snapshot(store.get_dataset(con, dataset.id))
    con.disconnect()
    return out


def test_eight_loads_and_eight_readers_at_once_match_loading_one_by_one(tmp_path, files):
    expected = _reference(tmp_path, files)
    assert expected[LOADS - 1] is None and all(expected[n] for n in range(LOADS - 1))

    root = store.connect(tmp_path / "shared.duckdb")  # the app's one process connection
    steady = store.new_dataset(root, "steady")
    ingest.load(steady, files[0], create=True)
    steady_before = _snapshot(store.get_dataset(root, steady.id))

    outcome: dict[int, object] = {}
    problems: list[str] = []
    start = threading.Barrier(LOADS + READERS)
    loading = threading.Event()
    loading.set()

    def loader(n: int) -> None:
        dataset = store.new_dataset(root, f"set {n}")
        start.wait()
        try:
            ingest.load(dataset, files[n], create=True)  # on the shared connection, as the Data page does
            outcome[n] = dataset.id
        except ingest.IngestError as exc:
            outcome[n] = exc
        except Exception as exc:  # noqa: BLE001 - anything else is the defect this test is about
            problems.append(f"load {n}: {type(exc).__name__}: {exc}")

    def reader(n: int) -> None:
        con = ibis.duckdb.from_connection(store.raw(root).cursor())  # a run's own cursor
        start.wait()
        try:
            while loading.is_set():
                if _snapshot(store.get_dataset(con, steady.id)) != steady_before:
                    problems.append(f"reader {n}: the steady dataset changed while others loaded")
                for listed in store.list_datasets(con):
                    if not listed.has("customers"):  # a listed dataset is a complete one
                        problems.append(f"reader {n}: saw {listed.name!r} without its tables")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"reader {n}: {type(exc).__name__}: {exc}")

    loaders = [threading.Thread(target=loader, args=(n,)) for n in range(LOADS)]
    readers = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    for thread in loaders + readers:
        thread.start()
    for thread in loaders:
        thread.join(timeout=300)
    loading.clear()
    for thread in readers:
        thread.join(timeout=60)

    assert problems == []
    assert isinstance(outcome[LOADS - 1], ingest.IngestError)
    assert "amount" in str(outcome[LOADS - 1])
    names = sorted(d.name for d in store.list_datasets(root))
    assert names == sorted(["steady"] + [f"set {n}" for n in range(LOADS - 1)])  # the refused one left nothing
    for n in range(LOADS - 1):
        assert _snapshot(store.get_dataset(root, outcome[n])) == expected[n], f"set {n}"
    root.disconnect()


def test_saved_views_and_lists_from_many_threads_all_land(con):
    """Short writes (saved views, customer lists, renames) from 16 threads on one connection."""
    dataset = store.create_dataset(con, "names")
    errors: list[str] = []

    def write(n: int) -> None:
        try:
            store.save_view(con, f"view {n}", {"page": ["overview"], "asof": [f"2024-01-{n + 1:02d}"]})
            list_id = store.save_customer_list(con, [f"c{n}", f"c{n}", "shared"])
            mine = ibis.duckdb.from_connection(store.raw(con).cursor())  # reads on the thread's own cursor
            assert sorted(store.customer_list(mine, list_id).execute()["customer_id"]) == sorted([f"c{n}", "shared"])
            store.rename_dataset(dataset, f"names {n}")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{n}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(v.name for v in store.list_views(con)) == sorted(f"view {n}" for n in range(16))
    lists = store.raw(con).execute("SELECT count(DISTINCT id), count(*) FROM clm_lists").fetchone()
    assert lists == (16, 32)
    assert store.get_dataset(con, dataset.id).name in {f"names {n}" for n in range(16)}


def test_a_new_dataset_refused_mid_load_is_not_left_behind(con, tmp_path):
    good = tmp_path / "customers.csv"
    good.write_text("customer_id\n1\n2\n", encoding="utf-8")
    bad = tmp_path / "transactions.csv"
    bad.write_text("customer_id,ordered_at\n1,2024-01-01\n", encoding="utf-8")
    with pytest.raises(ingest.IngestError):
        ingest.load(store.new_dataset(con, "half"), {"customers": good, "transactions": bad}, create=True)
    assert store.list_datasets(con) == []
    assert store.raw(con).execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'ds_%'").fetchone()[0] == 0


def test_replacing_a_dataset_by_name_keeps_one(con, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text("customer_id\n1\n2\n", encoding="utf-8")
    second = tmp_path / "b.csv"
    second.write_text("customer_id\n7\n", encoding="utf-8")
    old = store.new_dataset(con, "report")
    ingest.load(old, {"customers": first}, create=True)
    new = store.new_dataset(con, "report")
    ingest.load(new, {"customers": second}, create=True, replaces=store.find_dataset(con, "report"))
    assert [(d.id, d.name) for d in store.list_datasets(con)] == [(new.id, "report")]
    assert store.table_rows(store.get_dataset(con, new.id)) == {"customers": 1}
    # a refused replacement keeps the previous dataset
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n", encoding="utf-8")
    with pytest.raises(ingest.IngestError):
        ingest.load(store.new_dataset(con, "report"), {"customers": bad}, create=True,
                    replaces=store.find_dataset(con, "report"))
    assert [(d.id, d.name) for d in store.list_datasets(con)] == [(new.id, "report")]
    assert pd.DataFrame(store.get_dataset(con, new.id).table("customers").execute())["customer_id"].tolist() == ["7"]


def test_a_view_is_saved_while_an_import_job_unpacks_its_files(con, tmp_path, monkeypatch):
    """The import folder's job takes the write lock only for its transaction: while its (large) gzip
    file is still being unpacked, another session's write does not wait for it."""
    from clm_core import inbox

    old = store.new_dataset(con, "Shop")
    plain = tmp_path / "customers.csv"
    plain.write_text("customer_id\n1\n", encoding="utf-8")
    ingest.load(old, {"customers": plain}, create=True)
    packed = tmp_path / "customers.csv.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("customer_id\n" + "".join(f"{n}\n" for n in range(2, 1000)))
    job = inbox.submit(tmp_path / "inbox", "Shop", {"customers": packed})

    unpacking, release = threading.Event(), threading.Event()
    original = ingest._LocalFile._decompress_gzip

    def slow_gzip(self):  # the reading step of ingest, held until the test has saved its view
        unpacking.set()
        assert release.wait(60)
        return original(self)

    monkeypatch.setattr(ingest._LocalFile, "_decompress_gzip", slow_gzip)
    results: list = []
    importer = threading.Thread(target=lambda: results.append(inbox.import_job(con, job)))
    saved: list = []
    saver = threading.Thread(target=lambda: saved.append(store.save_view(con, "while importing", {"page": ["x"]})))
    importer.start()
    try:
        assert unpacking.wait(30)
        saver.start()
        saver.join(timeout=10)
        assert not saver.is_alive(), "save_view waited for the import's unpacking"
        assert importer.is_alive()  # the import was still unpacking meanwhile
        assert [v.name for v in store.list_views(con)] == ["while importing"]
    finally:
        release.set()
        importer.join(timeout=60)
        saver.join(timeout=60)
    [result] = results
    assert result.ok, result.message
    [shop] = [d for d in store.list_datasets(con) if d.name == "Shop"]  # replaced, found inside the load
    assert shop.id == result.dataset_id != old.id
    assert store.table_rows(shop) == {"customers": 998}


def test_replaces_name_replaces_the_dataset_of_that_name_in_the_same_workspace_only(con, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id\n1\n2\n", encoding="utf-8")
    other_team = store.Principal(None, "other-team", "admin")
    theirs = store.new_dataset(con, "report", other_team)
    ingest.load(theirs, {"customers": path}, create=True)
    ours = store.new_dataset(con, "report")
    ingest.load(ours, {"customers": path}, create=True, replaces_name="report")  # nothing of ours to replace
    newer = store.new_dataset(con, "report")
    ingest.load(newer, {"customers": path}, create=True, replaces_name="report")
    assert sorted((d.workspace, d.id) for d in store.list_datasets(con)) == sorted(
        [("other-team", theirs.id), (store.access.DEFAULT_WORKSPACE, newer.id)])
    # loading into an existing dataset with its own name as replaces_name never drops itself
    ingest.load(store.get_dataset(con, newer.id), {"customers": path}, replaces_name="report")
    assert store.get_dataset(con, newer.id).name == "report"
