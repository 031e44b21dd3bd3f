"""End-to-end tests in a real browser: Chromium (Playwright) against `streamlit run app.py`.

0. a plain link <base>/data opens the app's Data page with its sidebar (first, on the fresh server);
1. every page renders without an error element; a full-page screenshot of each
   lands in tests/artifacts/<slug>.png (with CLM_TOUR_SCREENSHOTS=1 also the
   1400x900 viewport into docs/img/<slug>.png for docs/tour.md);
2. a filter set in the sidebar lands in the URL, and the copied URL opened in
   a fresh browser context shows the same numbers;
3. a saved view reopened by its short link `?view=<id>` shows the same numbers;
4. a German export (`;`, decimal comma, dd.mm.yyyy, Windows-1252) uploaded
   through the real file input gives an ingest report with its rejected row
   (into a new dataset, last, so the demo dataset stays as the others saw it);
5. the server's log has no traceback.

Waiting: Streamlit sets `data-test-script-state` on `[data-testid="stApp"]`
("running" / "notRunning") and marks elements of an unfinished run with
`data-stale="true"`; `settle()` waits for a finished run with no stale element,
`rerun()` for a run started by an action and finished. No fixed sleeps, except
short pauses for charts to re-layout before a resized screenshot and for the
map's WebGL canvas to draw.
"""

from __future__ import annotations

import io
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image  # a Streamlit dependency
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 60_000  # as in conftest.py: a page's first run computes its metrics on slow CI cores
expect.set_options(timeout=TIMEOUT_MS)
TOUR = os.environ.get("CLM_TOUR_SCREENSHOTS") == "1"
TOUR_DIR = ROOT / "docs" / "img"

# ----------------------------------------------------------------------------------- waiting helpers

_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning'
    && document.querySelector('[data-stale="true"]') === null
    && (window.__clmRuns === undefined || window.__clmRuns > 0);
}"""

_ARM = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__clmRuns = 0;
  if (!window.__clmObserver) {
    window.__clmObserver = new MutationObserver(records => { window.__clmRuns += records.length; });
    window.__clmObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  }
}"""


_STATE = """() => ({
  state: document.querySelector('[data-testid="stApp"]')?.dataset.testScriptState,
  runs: window.__clmRuns,
  stale: Array.from(document.querySelectorAll('[data-stale="true"]')).map(e => e.innerText.slice(0, 80)),
})"""


def _wait_settled(page: Page, what: str) -> None:
    try:
        page.wait_for_function(_SETTLED, timeout=TIMEOUT_MS)
    except PlaywrightTimeoutError:
        pytest.fail(f"{what}: the app did not settle within {TIMEOUT_MS / 1000:.0f} s: {page.evaluate(_STATE)}")


def settle(page: Page) -> None:
    """Wait until the current script run has finished and nothing on screen is stale."""
    page.wait_for_selector('[data-testid="stApp"]')
    _wait_settled(page, "settle")


@contextmanager
def rerun(page: Page, what: str = "rerun"):
    """Around an action that reruns the script: wait until a run has started *and* finished."""
    page.evaluate(_ARM)
    yield
    _wait_settled(page, what)


def open_app(page: Page, url: str) -> None:
    """Open a URL in the app and wait for its first run, including the view state written to the URL."""
    page.goto(url, wait_until="domcontentloaded")
    settle(page)
    page.wait_for_url(re.compile(r"[?&]page=[a-z]+(&|$)"))  # app.py mirrors the view into the URL every run
    main = page.locator('[data-testid="stMainBlockContainer"]')
    expect(main.locator('[data-testid="stElementContainer"]').first).to_be_attached()


def assert_no_exception(page: Page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        pytest.fail(f"{where}: Streamlit exception on the page:\n" + "\n---\n".join(errors.all_inner_texts()))


# ----------------------------------------------------------------------------------- reading numbers

def metric_value(page: Page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    expect(card).to_have_count(1)
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def table_cells(page: Page, index: int = 0) -> list[str]:
    """The cells of the index-th st.dataframe of the main area (from the grid's accessible table)."""
    frame = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').nth(index)
    frame.scroll_into_view_if_needed()
    cells = frame.locator('[role="gridcell"]')
    expect(cells.first).to_be_attached()
    return [c.strip() for c in cells.all_inner_texts()]


def data_frames(page: Page) -> list[list[str]]:
    """The cells of every st.dataframe / st.data_editor of the main area."""
    count = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').count()
    return [table_cells(page, i) for i in range(count)]


def overview_numbers(page: Page) -> tuple[str, list[str]]:
    """The Overview's "Customers" card and its framework (lifecycle stage) table."""
    return metric_value(page, "Customers"), table_cells(page, 0)


# ----------------------------------------------------------------------------------- sidebar widgets

def sidebar(page: Page):
    return page.locator('[data-testid="stSidebar"]')


def open_expander(page: Page, title: str, scope=None):
    scope = scope or sidebar(page)
    # the summary also holds the icon's ligature text ("keyboard_arrow_down"): match the label itself
    expander = scope.locator('[data-testid="stExpander"]').filter(
        has=page.locator("summary").get_by_text(title, exact=True)).first
    details = expander.locator("details").first  # its own, not those of expanders inside it
    if details.get_attribute("open") is None:
        expander.locator("summary").first.click()
    expect(details).to_have_attribute("open", "")
    return expander


def widget(scope, kind: str, label: str):
    """The widget of testid ``kind`` (stMultiSelect, stSelectbox, ...) whose label is exactly ``label``."""
    return scope.locator(f'[data-testid="{kind}"]').filter(
        has=scope.page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))


def choose(page: Page, box, option: str) -> None:
    """Pick ``option`` in a selectbox/multiselect (one rerun).

    The list sometimes shuts right after opening (a click while the layout moves, or a late
    re-render after the previous run): then open it again, typing the option (which opens and
    filters the list) or pressing ArrowDown, and click again.
    """
    field = box.locator("input").first
    combobox = box.get_by_role("combobox")
    if box.first.get_attribute("data-testid") == "stSelectbox" and combobox.first.input_value() == option:
        return  # already chosen: picking it again starts no run
    item = page.get_by_role("option", name=option, exact=True)
    for attempt in range(6):
        field.click()
        if attempt % 2 and field.is_editable():  # a selectbox with few options has a read-only input
            field.fill(option)
        elif attempt:
            field.press("ArrowDown")
        try:
            item.wait_for(state="visible", timeout=3_000)
            page.evaluate(_ARM)
            item.click(timeout=3_000)
        except PlaywrightTimeoutError:
            if field.count():
                field.evaluate("input => input.blur()")
            continue
        if _pick_took(page, box, option):
            break
    else:
        pytest.fail(f"could not pick {option!r}: its list did not stay open or the pick did not register")
    _wait_settled(page, f"choose {option!r}")
    if field.count():  # close a multiselect's list, which stays open for more choices
        field.evaluate("input => input.blur()")


def _pick_took(page: Page, box, option: str) -> bool:
    """After a click on an option: a rerun started, or the box already shows the option.

    Seen on slow CI cores: the click lands while the list re-renders and selects nothing,
    so no run ever starts; then the caller opens the list and picks again.
    """
    try:
        page.wait_for_function(
            "() => window.__clmRuns > 0 || document.querySelector('[data-testid=\"stApp\"]')"
            "?.dataset.testScriptState === 'running'", timeout=5_000)
        return True
    except PlaywrightTimeoutError:
        return box.count() > 0 and option in box.first.inner_text()


def set_country_filter(page: Page, country: str) -> None:
    filt = open_expander(page, "Segment filter")
    choose(page, widget(filt, "stMultiSelect", "Attribute"), "Country")  # attributes by their display names
    choose(page, widget(filt, "stMultiSelect", "Country"), country)


# ----------------------------------------------------------------------------------- navigation

def page_path(slug: str) -> str:
    return "/" if slug == "overview" else f"/{slug}"


def go_to(page: Page, server: str, slug: str) -> None:
    """Open a page through the sidebar navigation (as a user does) and wait until it has rendered."""
    path = page_path(slug)
    if page.url.split("?")[0].removeprefix(server) in (path, path.rstrip("/")):
        settle(page)
    else:
        link = sidebar(page).locator(f'[data-testid="stSidebarNav"] a[href="{server}{path}"]')
        if not link.count():  # a single page has no navigation
            open_app(page, f"{server}/?page={slug}")
        else:
            for _ in range(3):  # a click can get lost while the previous run's URL update lands: retry
                page.evaluate(_ARM)
                link.click()
                try:
                    page.wait_for_function("() => window.__clmRuns > 0", timeout=10_000)
                    break
                except PlaywrightTimeoutError:
                    continue
            _wait_settled(page, f"open {slug}")
    page.wait_for_url(re.compile(rf"^{re.escape(server + path)}\?(.*&)?page={slug}(&|$)"))
    expect(page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').first).to_be_attached()
    assert_no_exception(page, slug)


# ----------------------------------------------------------------------------------- screenshots

def load_into_new_dataset(page: Page, dataset: str) -> list[list[str]]:
    """On the Data page with files uploaded: load them into a new dataset ``dataset``; the cells of the
    ingest report's tables (the first: per table, table, rows read, loaded, rejected, …)."""
    main = page.locator('[data-testid="stMain"]')
    choose(page, widget(main, "stSelectbox", "Load into dataset"), "New dataset…")
    name_field = widget(main, "stTextInput", "Name of the new dataset").locator("input")
    with rerun(page, "dataset name"):
        name_field.fill(dataset)
        name_field.press("Enter")
    with rerun(page, "load"):
        main.get_by_role("button", name="Load", exact=True).click()
    expect(main.get_by_role("heading", name="Ingest report")).to_be_visible()
    settle(page)
    assert_no_exception(page, "ingest report")
    return data_frames(page)


def wait_for_maps(page: Page, timeout_s: float = 30) -> None:
    """deck.gl draws into WebGL after the script run: wait until every map canvas shows more than a blank."""
    for chart in page.locator('[data-testid="stDeckGlJsonChart"]').all():
        canvas = chart.locator("canvas").first  # absent while a loading placeholder is shown
        canvas.scroll_into_view_if_needed()
        deadline = time.monotonic() + timeout_s
        while True:
            with Image.open(io.BytesIO(canvas.screenshot())) as image:
                colours = image.convert("RGB").getcolors(maxcolors=64)
            if colours is None or len(colours) > 8:  # None: more than 64 colours
                break
            if time.monotonic() > deadline:
                pytest.fail("the map stayed blank (no WebGL in this Chromium?)")
            page.wait_for_timeout(250)
    page.locator('[data-testid="stMain"]').evaluate("main => main.scrollTo(0, 0)")


def full_page_screenshot(page: Page, path: Path) -> None:
    """Streamlit scrolls inside stMain, so grow the viewport to the content for a full-page picture."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 16000))})
    try:
        page.wait_for_timeout(500)  # Plotly/pydeck re-layout after the resize (no script run involved)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


def tour_screenshot(page: Page, slug: str) -> None:
    TOUR_DIR.mkdir(parents=True, exist_ok=True)
    path = TOUR_DIR / f"{slug}.png"
    page.screenshot(path=str(path))
    with Image.open(path) as image:  # a palette PNG is a third of the size and looks the same for a dashboard
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture
def tour(tour_session, request, on_failure_screenshot):
    yield tour_session
    on_failure_screenshot(request, [tour_session])


@pytest.fixture(scope="module")
def tour_session(browser, server):
    """One browser session that walks through the pages via the sidebar navigation."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    open_app(page, server)
    yield page
    context.close()


# ----------------------------------------------------------------------------------- 1. every page

def test_direct_link_opens_that_page_with_the_sidebar(new_page, server):
    """Runs first on a fresh server: a link <base>/data opens the app's Data page, with its sidebar.

    (Streamlit once served the page file on its own there, as a legacy page of a pages/ folder,
    and app.py switched a link without ?page= to the Overview.)
    """
    page = new_page()
    page.goto(f"{server}/data", wait_until="domcontentloaded")
    settle(page)
    assert_no_exception(page, "direct link")
    expect(sidebar(page).get_by_role("link", name=re.compile("Overview"))).to_be_attached()
    expect(widget(sidebar(page), "stSelectbox", "Language")).to_be_attached()
    expect(page.locator('[data-testid="stMain"] h1')).to_have_text("Data")
    page.wait_for_url(re.compile(rf"^{re.escape(server)}/data\?(.*&)?page=data(&|$)"))


def test_page_renders_without_error(tour: Page, server, artifacts, slug):
    page = tour
    go_to(page, server, slug)
    assert_no_exception(page, slug)
    wait_for_maps(page)
    if TOUR:
        tour_screenshot(page, slug)
    full_page_screenshot(page, artifacts / f"{slug}.png")
    assert_no_exception(page, slug)


# ----------------------------------------------------------------------------------- 3. filter -> URL -> fresh context

def test_filter_in_the_url_reproduces_the_view(new_page, server, artifacts):
    page = new_page()
    open_app(page, server)
    everyone_customers, everyone_table = overview_numbers(page)
    set_country_filter(page, "AT")
    expect(page.locator('[data-testid="stMetric"]').first.locator('[data-testid="stMetricValue"]')).not_to_have_text(
        everyone_customers)
    page.wait_for_url(re.compile(r"[?&]f\.country=AT(&|$)"))
    settle(page)
    assert_no_exception(page, "overview with a filter")
    austria = overview_numbers(page)
    url = page.url

    fresh = new_page()  # a new browser context: no session, no cookies, only the link
    open_app(fresh, url)
    assert_no_exception(fresh, "copied link")
    assert overview_numbers(fresh) == austria
    assert 0 < int(austria[0].replace(",", "")) < int(everyone_customers.replace(",", ""))
    assert austria[1] != everyone_table
    # the filter is visible in the fresh session's sidebar as well
    filt = open_expander(fresh, "Segment filter")
    expect(widget(filt, "stMultiSelect", "Country")).to_contain_text("AT")
    fresh.screenshot(path=str(artifacts / "filter_link.png"))


# ----------------------------------------------------------------------------------- 4. saved view by its short link

def test_saved_view_opens_by_its_short_link(new_page, server, artifacts):
    page = new_page()
    open_app(page, f"{server}/?f.country=AT&p.period=90")
    assert_no_exception(page, "overview for the saved view")
    expect(page.locator('[data-testid="stMetricLabel"]', has_text="Revenue, last 90 days")).to_have_count(1)
    saved = overview_numbers(page)

    views = open_expander(page, "Saved views")
    name = "Austria, 90 days"
    with rerun(page):
        views.get_by_label("Name", exact=True).fill(name)
        views.get_by_role("button", name="Save this view").click()
    entry = open_expander(page, name, scope=views)
    href = entry.get_by_role("link", name=re.compile(r"^\?view=")).get_attribute("href")
    match = re.fullmatch(r"\./\?view=([A-Za-z0-9_-]+)", href or "")
    assert match, f"short link looks like {href!r}"

    fresh = new_page()
    open_app(fresh, f"{server}/?view={match.group(1)}")
    assert_no_exception(fresh, "saved view")
    fresh.wait_for_url(re.compile(r"[?&]f\.country=AT(&|$)"))
    expect(fresh.locator('[data-testid="stMetricLabel"]', has_text="Revenue, last 90 days")).to_have_count(1)
    assert overview_numbers(fresh) == saved
    fresh.screenshot(path=str(artifacts / "saved_view.png"))


# ----------------------------------------------------------------------------------- 2. German upload

GERMAN_ROWS = [
    "Kundennummer;Bestelldatum;Betrag;Kategorie",
    "000101;03.01.2026;1.234,56;Bücher",
    "000102;15.02.2026;89,90;Küche",
    "000101;28.02.2026;-12,50;Bücher",
    "000103;07.03.2026;keine Angabe;Möbel",  # line 5: not a number
    "000104;31.03.2026;45,00;Spielwaren",
]
GERMAN_CSV = ("\r\n".join(GERMAN_ROWS) + "\r\n").encode("cp1252")


def test_german_export_upload_shows_the_ingest_report(new_page, server, artifacts, app_pages):
    assert "data" in app_pages, "the Data page is missing"
    page = new_page(1400, 1000)
    open_app(page, server)
    go_to(page, server, "data")
    main = page.locator('[data-testid="stMain"]')
    uploader = widget(main, "stFileUploader", "Upload files")
    with rerun(page, "upload"):
        uploader.locator('input[type="file"]').set_input_files(
            {"name": "umsätze_2026.csv", "mimeType": "text/csv", "buffer": GERMAN_CSV})
    assert_no_exception(page, "data page after the upload")
    # recognised as transactions; Windows-1252 detected, so the umlauts arrive decoded in the preview
    expect(widget(main, "stSelectbox", "Table").get_by_role("combobox")).to_have_value("Transactions (transactions)")
    expect(main).to_contain_text("Windows-1252")
    assert any("Bücher" in frame for frame in data_frames(page)), data_frames(page)

    # load into a new dataset, so the demo data the other tests look at stays as it is
    frames = load_into_new_dataset(page, "Deutscher Export")
    expect(main).to_contain_text("Deutscher Export")
    expect(main.get_by_text(re.compile(r"^1 row\(s\) were rejected"))).to_be_visible()
    # summary: table, rows read, loaded, rejected
    assert ["Transactions", "5", "4", "1"] in [f[:4] for f in frames], frames  # the table by its display name
    # what was detected: the German formats
    detected = next((f for f in frames if "Windows-1252" in f), None)
    assert detected is not None and ";" in detected and "," in detected, frames
    assert any("dd.mm.yyyy" in cell for cell in detected), detected
    # the rejected row with its line number (header = line 1) and reason
    rejected = next((f for f in frames if any("keine Angabe" in cell for cell in f)), None)
    assert rejected is not None and rejected[:2] == ["Transactions", "5"], frames
    assert "Betrag" in rejected[2], rejected  # the reason names the file's own column
    full_page_screenshot(page, artifacts / "upload_report.png")


# ----------------------------------------------------------------------------------- the server's own log

def test_server_log_has_no_traceback(server, server_log):
    """Exceptions outside the page (callbacks, threads) do not show as stException: look at the log, last."""
    log = server_log.read_text(errors="replace")
    assert "Traceback" not in log, log[-5000:]
