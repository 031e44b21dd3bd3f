"""Fixtures for the browser tests: a real `streamlit run` server on the demo data, and Chromium.

The server is started once per test session on a free local port, against a
temporary DuckDB file preloaded with a small demo dataset, and stopped at the
end (also when a test fails). Chromium is Debian's /usr/bin/chromium driven by
Playwright; ``make test`` installs it via scripts/system-deps.sh.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from clm_core import demo, ingest, store
from processes import free_port, start, stop, streamlit_command

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Pages in navigation order; only those whose file exists are in the app (app.py PAGES).
ALL_PAGES = ("overview", "data", "funnel", "cohorts", "lifecycle", "nps", "value", "map", "campaigns")
START_TIMEOUT = 90  # seconds for `streamlit run` to answer its health check (2 slow CI cores)
#: Playwright timeouts in milliseconds: the first run of a page computes its metrics.
TIMEOUT_MS = 60_000


def page_files() -> dict[str, Path]:
    """slug -> page file, as app.py's PAGES lists them (read without running app.py)."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [t.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)]
        if "PAGES" in targets and node.value is not None:
            return {slug: ROOT / entry[0] for slug, entry in ast.literal_eval(node.value).items()}
    return {slug: ROOT / "views" / f"{slug}.py" for slug in ALL_PAGES}


def existing_pages() -> list[str]:
    """The pages in the app's navigation: those whose file exists (app.py skips the others)."""
    return [slug for slug, path in page_files().items() if path.exists()]


@pytest.fixture(scope="session")
def app_pages() -> list[str]:
    return existing_pages()


def pytest_generate_tests(metafunc):
    """``slug``: every page of the navigation whose file exists."""
    if "slug" in metafunc.fixturenames:
        metafunc.parametrize("slug", existing_pages())


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory) -> Path:
    """A DuckDB file with the demo data as dataset "Demo" (400 customers, seed 5)."""
    folder = tmp_path_factory.mktemp("e2e")
    paths = demo.write_demo(folder / "demo", n_customers=400, seed=5)
    database = folder / "e2e.duckdb"
    con = store.connect(database)
    try:
        ingest.load(store.create_dataset(con, "Demo"), paths)
    finally:
        con.disconnect()  # the server opens the file itself
    return database


@pytest.fixture(scope="session")
def server_log() -> Path:
    """The server's output (tests/artifacts/streamlit.log, git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "streamlit.log"


@pytest.fixture(scope="session")
def server(demo_database, server_log) -> str:
    """Base URL (http://127.0.0.1:<port>) of `streamlit run app.py` on the demo database."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CLM_DATABASE=str(demo_database), PYTHONUNBUFFERED="1")
    process = start(streamlit_command(port), env, server_log, f"{url}/_stcore/health", "streamlit",
                    timeout=START_TIMEOUT)
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
                    "(run `bash scripts/system-deps.sh`, which `make test` does).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser, request):
    """new_page(width, height) -> a page in a fresh browser context (no shared session or cookies)."""
    contexts = []

    def make(width: int = 1400, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    failure_screenshots(request, [page for context in contexts for page in context.pages])
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier run
        old.unlink()
    return ARTIFACTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def failure_screenshots(request, pages) -> None:
    """After a failed test, a screenshot of its browser pages: tests/artifacts/FAILED-<test>-<n>.png."""
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(pages):
        try:
            page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}-{number}.png"))
        except Exception:  # noqa: BLE001 - best effort, never hide the real failure
            pass


@pytest.fixture(scope="session")
def on_failure_screenshot():
    """The function failure_screenshots(request, pages), for fixtures of the test modules."""
    return failure_screenshots
