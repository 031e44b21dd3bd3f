"""The import folder (clm_core.inbox): job folders imported into a real DuckDB file, their reports,
done/ and failed/, half-written jobs ignored, no endless retries, the watcher thread."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from clm_core import inbox, ingest, store

CUSTOMERS = "Kundennummer;Angelegt am;Land\n001;01.01.2024;DE\n002;15.01.2024;AT\n003;01.02.2024;DE\n"
TRANSACTIONS = ("Kundennummer;Datum;Betrag\n001;05.01.2024;10,00\n001;05.03.2024;20,00\n"
                "002;20.01.2024;5,00\n003;01.03.2024;x\n")
MAP = {"customers": {"Angelegt am": "created_at"}}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


@pytest.fixture
def files(tmp_path):
    return {"customers": write(tmp_path / "in", "Kunden.csv", CUSTOMERS),
            "transactions": write(tmp_path / "in", "Bestellungen.csv", TRANSACTIONS)}


@pytest.fixture
def box(tmp_path):
    return tmp_path / "inbox"


def datasets(con, name):
    return [d for d in store.list_datasets(con) if d.name == name]


def report(folder: Path) -> dict:
    return json.loads((folder / inbox.REPORT_JSON).read_text(encoding="utf-8"))


def test_a_job_creates_the_dataset_then_a_second_replaces_it(con, box, files, tmp_path):
    job = inbox.submit(box, "Shop", files, MAP)
    assert inbox.pending_jobs(box) == [job]
    assert sorted(p.name for p in job.iterdir()) == ["customers-Kunden.csv", inbox.MANIFEST,
                                                     "transactions-Bestellungen.csv"]
    manifest = json.loads((job / inbox.MANIFEST).read_text())
    assert manifest["dataset"] == "Shop" and manifest["mapping"] == MAP
    assert manifest["tables"] == {"customers": "customers-Kunden.csv", "transactions": "transactions-Bestellungen.csv"}

    result = inbox.import_job(con, job)
    assert result.ok, result.message
    assert result.folder == box / inbox.DONE / job.name and not job.exists()
    [first] = datasets(con, "Shop")
    assert first.id == result.dataset_id
    assert store.table_rows(first) == {"customers": 3, "transactions": 3}
    assert "created_at" in first.table("customers").columns  # the mapping was applied
    document = report(result.folder)
    assert document["status"] == "imported" and document["error"] is None and document["dataset"] == "Shop"
    assert [(t["table"], t["source"], t["rows_read"], t["rows_loaded"], t["rows_rejected"])
            for t in document["tables"]] == [("customers", "Kunden.csv", 3, 3, 0),
                                             ("transactions", "Bestellungen.csv", 4, 3, 1)]
    assert [(r["table"], r["line"]) for r in document["rejected"]] == [("transactions", 5)]
    assert document["rejected"][0]["values"]["Betrag"] == "x"
    frame = pd.read_csv(result.folder / inbox.REPORT_CSV)
    assert frame["record"].tolist() == ["table", "table", "rejected"]
    assert frame.loc[1, ["rows_read", "rows_loaded", "rows_rejected"]].tolist() == [4, 3, 1]
    assert frame.loc[2, "line"] == 5 and "amount" in frame.loc[2, "reason"]

    more = write(tmp_path / "in2", "t.csv", "customer_id,ordered_at,amount\n001,2024-01-05,10\n002,2024-01-06,7\n")
    second = inbox.import_job(con, inbox.submit(box, "Shop", {"customers": files["customers"], "transactions": more}))
    assert second.ok, second.message
    [replaced] = datasets(con, "Shop")
    assert replaced.id == second.dataset_id != first.id
    assert store.table_rows(replaced) == {"customers": 3, "transactions": 2}
    assert not raw_schema_exists(con, first.schema)
    assert sorted(p.name for p in (box / inbox.DONE).iterdir()) == sorted([job.name, second.job])


def raw_schema_exists(con, schema: str) -> bool:
    return bool(store.raw(con).execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", [schema]).fetchone()[0])


def test_a_refused_file_moves_the_job_to_failed_and_keeps_the_previous_dataset(con, box, files, tmp_path):
    assert inbox.import_job(con, inbox.submit(box, "Shop", files, MAP)).ok
    [before] = datasets(con, "Shop")
    bad = write(tmp_path / "bad", "t.csv", "Kundennummer;Betrag\n001;2\n")  # no order date
    result = inbox.import_job(con, inbox.submit(box, "Shop", {"customers": files["customers"], "transactions": bad}))
    assert not result.ok and result.folder.parent == box / inbox.FAILED
    document = report(result.folder)
    assert document["status"] == "failed" and "required column 'ordered_at'" in document["error"]
    assert "\n" not in document["error"] and document["tables"] == [] and document["dataset_id"] is None
    frame = pd.read_csv(result.folder / inbox.REPORT_CSV)
    assert frame["record"].tolist() == ["error"] and "ordered_at" in frame.loc[0, "reason"]
    assert [d.id for d in datasets(con, "Shop")] == [before.id] and len(store.list_datasets(con)) == 1
    assert store.table_rows(before) == {"customers": 3, "transactions": 3}


def test_half_written_jobs_are_ignored(con, box, files):
    temp = box / f"{inbox.TEMP_PREFIX}20240101T000000.000000Z-abcdef"  # a load --inbox still copying
    write(temp, "customers-c.csv", CUSTOMERS)
    no_manifest = box / "20240101T000000.000000Z-123456"  # a folder being copied by hand
    write(no_manifest, "customers-c.csv", CUSTOMERS)
    assert inbox.pending_jobs(box) == [] and inbox.run_pending(con, box) == []
    assert temp.is_dir() and no_manifest.is_dir() and store.list_datasets(con) == []
    old = time.time() - inbox.ABANDONED_SECONDS - 10
    os.utime(temp, (old, old))  # a copy killed a day ago: removed, nothing else touched
    assert inbox.run_pending(con, box) == [] and not temp.exists() and no_manifest.is_dir()

    # a manifest whose files are not all there yet: waits, then is refused once it is old
    job = inbox.submit(box, "Shop", files)
    manifest = json.loads((job / inbox.MANIFEST).read_text())
    (job / manifest["tables"]["transactions"]).write_text(TRANSACTIONS[:20])
    [waiting] = inbox.run_pending(con, box)
    assert not waiting.ok and "waiting for its files" in waiting.message and job.is_dir()
    assert store.list_datasets(con) == []
    old = time.time() - inbox.INCOMPLETE_SECONDS - 10
    os.utime(job, (old, old))
    [refused] = inbox.run_pending(con, box)
    assert refused.folder.parent == box / inbox.FAILED
    assert "do not match its manifest" in report(refused.folder)["error"]


def test_jobs_are_imported_one_at_a_time_in_name_order(con, box, files, tmp_path):
    second = write(tmp_path / "in2", "t.csv", "customer_id,ordered_at,amount\n001,2024-01-05,10\n")
    jobs = [inbox.submit(box, "Shop", files, MAP), inbox.submit(box, "Shop", {"customers": files["customers"],
                                                                             "transactions": second}),
            inbox.submit(box, "Other", files, MAP)]
    assert [j.name for j in jobs] == sorted(j.name for j in jobs) == [j.name for j in inbox.pending_jobs(box)]
    results = inbox.run_pending(con, box)
    assert [r.job for r in results] == [j.name for j in jobs] and all(r.ok for r in results)
    [shop] = datasets(con, "Shop")
    assert shop.id == results[1].dataset_id and store.table_rows(shop)["transactions"] == 1
    assert sorted(d.name for d in store.list_datasets(con)) == ["Other", "Shop"]
    assert inbox.pending_jobs(box) == []


def test_a_job_that_crashes_the_importer_is_not_retried_forever(con, box, files, monkeypatch):
    job = inbox.submit(box, "Shop", files, MAP)

    def die(*args, **kwargs):
        raise SystemExit("the process dies in the middle of the load")  # not an Exception: nothing catches it

    monkeypatch.setattr(ingest, "load", die)
    for _ in range(inbox.MAX_ATTEMPTS):
        with pytest.raises(SystemExit):
            inbox.run_pending(con, box)
        assert inbox.pending_jobs(box) == [job]  # retried after a "restart"
    monkeypatch.undo()
    [result] = inbox.run_pending(con, box)
    assert not result.ok and result.folder.parent == box / inbox.FAILED
    assert "not tried again" in report(result.folder)["error"] and store.list_datasets(con) == []

    # an ordinary error of the importer fails the job at once
    other = inbox.submit(box, "Shop", files, MAP)
    monkeypatch.setattr(ingest, "load", lambda *a, **k: 1 / 0)
    [failed] = inbox.run_pending(con, box)
    assert failed.job == other.name and not failed.ok and report(failed.folder)["error"] == "division by zero"
    assert inbox.run_pending(con, box) == []


@pytest.mark.parametrize("change, reason", [
    (lambda m: m["tables"].update(customers="../../etc/passwd"), "must name a file inside the job folder"),
    (lambda m: m.update(dataset=" "), "names no dataset"),
    (lambda m: m["tables"].update(orders="x.csv"), "'orders' is not a table"),
])
def test_a_bad_manifest_fails_the_job(con, box, files, change, reason):
    job = inbox.submit(box, "Shop", files)
    manifest = json.loads((job / inbox.MANIFEST).read_text())
    change(manifest)
    (job / inbox.MANIFEST).write_text(json.dumps(manifest))
    [result] = inbox.run_pending(con, box)
    assert not result.ok and reason in report(result.folder)["error"] and store.list_datasets(con) == []


def test_the_watcher_imports_jobs_dropped_while_it_runs(con, box, files):
    watcher = inbox.Watcher(con, box, seconds=0.2).start()
    try:
        job = inbox.submit(box, "Shop", files, MAP)
        done = box / inbox.DONE / job.name / inbox.REPORT_JSON
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert report(done.parent)["status"] == "imported"
    finally:
        watcher.stop(timeout=10)
    assert not watcher.is_alive() and [r.job for r in watcher.results] == [job.name]
    assert store.table_rows(datasets(con, "Shop")[0]) == {"customers": 3, "transactions": 3}


def test_the_folder_defaults_beside_the_database_and_follows_clm_inbox(monkeypatch, tmp_path):
    monkeypatch.delenv("CLM_INBOX", raising=False)
    monkeypatch.delenv("CLM_DATABASE", raising=False)
    assert inbox.folder() == Path("data/inbox")
    assert inbox.folder(tmp_path / "x.duckdb") == tmp_path / "inbox"
    monkeypatch.setenv("CLM_INBOX", str(tmp_path / "drop"))
    assert inbox.folder(tmp_path / "x.duckdb") == tmp_path / "drop"
    monkeypatch.setenv("CLM_INBOX_SECONDS", "0")
    assert inbox.poll_seconds() == inbox.POLL_SECONDS
    monkeypatch.setenv("CLM_INBOX_SECONDS", "1.5")
    assert inbox.poll_seconds() == 1.5


def test_a_job_replaces_only_the_dataset_of_its_name_in_the_default_workspace(con, box, files):
    elsewhere = store.Principal(None, "other-team", "admin")
    theirs = store.new_dataset(con, "Shop", elsewhere)
    ingest.load(theirs, files, mapping=MAP, create=True)
    result = inbox.import_job(con, inbox.submit(box, "Shop", files, MAP))
    assert result.ok, result.message
    by_workspace = {d.workspace: d.id for d in store.list_datasets(con) if d.name == "Shop"}
    assert by_workspace == {"other-team": theirs.id, store.access.DEFAULT_WORKSPACE: result.dataset_id}


def test_a_job_file_that_is_a_symbolic_link_is_refused_and_nothing_is_loaded(con, box, files, tmp_path):
    job = inbox.submit(box, "Linked", files, MAP)
    outside = write(tmp_path / "elsewhere", "secret.csv", CUSTOMERS)  # readable, outside the import folder
    linked = job / "customers-Kunden.csv"
    linked.unlink()
    linked.symlink_to(outside)
    assert linked.is_file()  # what the importer used to check: the link is followed
    result = inbox.import_job(con, job)
    assert not result.ok
    assert result.folder == box / inbox.FAILED / job.name
    assert result.message == (f"refused {job.name}: customers-Kunden.csv is a symbolic link; "
                              "a job folder must hold its files themselves")
    failed = report(result.folder)
    assert failed["status"] == "failed" and "symbolic link" in failed["error"] and "\n" not in failed["error"]
    assert failed["tables"] == [] and datasets(con, "Linked") == []
    assert store.list_datasets(con) == []
    assert outside.read_text(encoding="utf-8") == CUSTOMERS


def test_links_in_a_job_folder_are_never_written_through(con, box, files, tmp_path):
    victim = write(tmp_path / "elsewhere", "victim.txt", "keep me")
    # a report file linked elsewhere: the job is refused, and the report replaces the link, not the file
    job = inbox.submit(box, "Reports", files, MAP)
    (job / inbox.REPORT_JSON).symlink_to(victim)
    (job / inbox.ATTEMPTS).symlink_to(victim)
    result = inbox.import_job(con, job)
    assert not result.ok and "symbolic link" in result.message
    assert victim.read_text() == "keep me"
    assert not (result.folder / inbox.REPORT_JSON).is_symlink() and report(result.folder)["status"] == "failed"
    # a job folder that is itself a link to a folder elsewhere: moved to failed/, nothing written into it
    target = tmp_path / "elsewhere" / "job"
    target.mkdir()
    for table, source in files.items():
        (target / f"{table}-{source.name}").write_bytes(source.read_bytes())
    (target / inbox.MANIFEST).write_text(json.dumps(
        {"dataset": "Folder link", "tables": {t: f"{t}-{s.name}" for t, s in files.items()}, "mapping": MAP}))
    before = sorted(p.name for p in target.iterdir())
    link = box / "20990101T000000.000000Z-abcdef"
    link.symlink_to(target, target_is_directory=True)
    assert inbox.pending_jobs(box) == []  # the watcher does not pick it up
    result = inbox.import_job(con, link)
    assert not result.ok and "symbolic link" in result.message and "\n" not in result.message
    assert sorted(p.name for p in target.iterdir()) == before
    assert result.folder.is_symlink() and result.folder.parent == box / inbox.FAILED
    assert store.list_datasets(con) == []
