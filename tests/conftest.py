"""Shared fixtures: a real DuckDB file in a temporary folder, datasets from inline CSV text."""

from __future__ import annotations

import os
import textwrap
import warnings

import pytest

from clm_core import demo, ingest, store

warnings.filterwarnings("ignore", message=".*future.infer_string.*")
# A page's error reaches the tests as an exception (app.py otherwise shows one line and logs it).
os.environ.setdefault("CLM_RAISE_ERRORS", "1")


@pytest.fixture
def con(tmp_path):
    """An Ibis connection on a fresh DuckDB file (never a mock)."""
    connection = store.connect(tmp_path / "test.duckdb")
    yield connection
    connection.disconnect()


def _dataset_maker(con, folder):
    """make(name="fixture", customers="csv text", ...) -> a loaded Dataset.

    CSV text is dedented and written as UTF-8 files; pass bytes to control the encoding.
    """
    counter = iter(range(1000))

    def make(name="fixture", **tables):
        dataset = store.create_dataset(con, name)
        sources = {}
        for table, content in tables.items():
            path = folder / f"{next(counter)}_{table}.csv"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
            sources[table] = path
        ingest.load(dataset, sources)
        return dataset

    return make


@pytest.fixture
def make_dataset(con, tmp_path):
    """make_dataset(customers="csv text", transactions=..., ...) -> a loaded Dataset on this test's database."""
    return _dataset_maker(con, tmp_path)


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    """Like make_dataset, but module-scoped, so read-only fixtures are loaded once per test file."""
    folder = tmp_path_factory.mktemp("module")
    connection = store.connect(folder / "test.duckdb")
    yield _dataset_maker(connection, folder)
    connection.disconnect()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """The default demo dataset (what `make run` writes to data/demo), written once per test session."""
    folder = tmp_path_factory.mktemp("demo_default")
    demo.write_demo(folder)
    return folder


@pytest.fixture
def database(tmp_path, monkeypatch):
    """The app's database (CLM_DATABASE) for an AppTest: a fresh, empty DuckDB file."""
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CLM_DATABASE", str(path))
    return path


@pytest.fixture(scope="session")
def demo_paths(tmp_path_factory):
    """A small seeded demo (300 customers) as CSV files: table -> path. Read only."""
    return demo.write_demo(tmp_path_factory.mktemp("demo_small"), n_customers=300, seed=3)


@pytest.fixture
def demo_db(database, demo_paths):
    """The app's database holding the small demo as dataset "Demo"; returns its id."""
    con = store.connect(database)
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    con.disconnect()
    return dataset.id
