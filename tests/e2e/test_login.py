"""Sign-in end to end: a real OpenID Connect provider, `streamlit run app.py` with sign-in configured,
and Chromium going through the whole login flow (no mock of it).

The provider is panva's ``oidc-provider`` (Node, pinned in tests/e2e/oidc/package.json, installed by
``make test`` with ``npm ci``), started by this module on 127.0.0.1 (tests/e2e/oidc/server.mjs): its
development login form takes any name and password, and the name is the account's verified email.
The app gets a secrets file of its own (``--secrets.files``) with ``[auth]`` pointing at it and
``[clm] admins = ["admin@example.com"]``.

The database: workspace A (the default) with dataset "Shop A" and the member viewer@example.com
(viewer); workspace B with dataset "Shop B", of which nobody here is a member. Proven:

1. a viewer signs in, sees A's data but no upload, rename or delete control on the Data page;
2. B's dataset id in a link (``?ds=<id>``) opens nothing of B from an A session: one line, no traceback;
3. the admin (from the configuration) signs in, sees the upload and delete controls (the delete, and a
   load that replaces tables, ask for a confirmation naming the dataset), manages members (adds one, who
   then signs in as an editor);
4. somebody who is a member of no workspace sees one line and nothing else;
5. the server's log has no traceback.

Screenshots of the viewer's and the admin's Data page and of the one line land in tests/artifacts/login-*.png.

That a forged action cannot delete is proven in clm_core (tests/test_access.py): the store refuses it
whatever the UI shows. Skipped, with the reason, only when Node or the provider is not installed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from clm_core import access, demo, ingest, store
from processes import free_port, start, stop, streamlit_command
from test_browser import choose, widget

ROOT = Path(__file__).resolve().parents[2]
OIDC = ROOT / "tests" / "e2e" / "oidc"
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)
VIEWER = "viewer@example.com"
ADMIN = "admin@example.com"
STRANGER = "stranger@example.com"
NEWCOMER = "newcomer@example.com"


@pytest.fixture(scope="module")
def team_database(tmp_path_factory) -> dict:
    """Workspace A (default): "Shop A", a viewer; workspace B: "Shop B"."""
    folder = tmp_path_factory.mktemp("login")
    paths = demo.write_demo(folder / "demo", n_customers=40, seed=7)
    sources = {t: paths[t] for t in ("customers", "transactions")}
    database = folder / "team.duckdb"
    con = store.connect(database)
    try:
        shop_a = store.create_dataset(con, "Shop A")
        ingest.load(shop_a, sources)
        b = access.create_workspace(con, access.SYSTEM, "Team B")
        shop_b = store.new_dataset(con, "Shop B", access.Principal(None, b, "admin"))
        ingest.load(shop_b, sources, create=True)
        access.set_member(con, access.SYSTEM, VIEWER, "viewer")
    finally:
        con.disconnect()  # the server opens the file itself
    return {"path": database, "a": shop_a.id, "b": shop_b.id, "customers": paths["customers"]}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """(issuer URL, app port, client id, client secret) of a running oidc-provider on 127.0.0.1."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the sign-in test runs the oidc-provider package (make test)")
    if not (OIDC / "node_modules" / "oidc-provider" / "package.json").is_file():
        pytest.skip("the OIDC provider is not installed: run `npm ci --prefix tests/e2e/oidc` (make test does)")
    port, app_port = free_port(), free_port()
    client_id, client_secret = "clm-e2e", secrets.token_hex(16)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OIDC_PORT=str(port), OIDC_CLIENT_ID=client_id, OIDC_CLIENT_SECRET=client_secret,
               OIDC_REDIRECT_URI=f"http://127.0.0.1:{app_port}/oauth2callback")
    issuer = f"http://127.0.0.1:{port}"
    process = start([node, "server.mjs"], env, ARTIFACTS / "oidc-provider.log",
                    f"{issuer}/.well-known/openid-configuration", "the OIDC provider", cwd=OIDC, timeout=30)
    try:
        yield issuer, app_port, client_id, client_secret
    finally:
        stop(process)


@pytest.fixture(scope="module")
def login_server_log() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "streamlit-login.log"


@pytest.fixture(scope="module")
def app(provider, team_database, tmp_path_factory, login_server_log) -> str:
    """Base URL of `streamlit run app.py` with sign-in configured (its own secrets file)."""
    issuer, port, client_id, client_secret = provider
    url = f"http://127.0.0.1:{port}"
    secrets_file = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "{client_id}"
client_secret = "{client_secret}"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
client_kwargs = {{ prompt = "login" }}

[clm]
admins = ["{ADMIN}"]
""", encoding="utf-8")
    env = dict(os.environ, CLM_DATABASE=str(team_database["path"]), PYTHONUNBUFFERED="1")
    env.pop("CLM_ADMINS", None)
    process = start(streamlit_command(port, "--secrets.files", str(secrets_file)), env, login_server_log,
                    f"{url}/_stcore/health", "streamlit")
    try:
        yield url
    finally:
        stop(process)


# ----------------------------------------------------------------------------------- helpers

_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning'
    && document.querySelector('[data-stale="true"]') === null;
}"""


def settle(page: Page) -> None:
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(_SETTLED, timeout=TIMEOUT_MS)


def sign_in(page: Page, url: str, email: str) -> None:
    """The whole flow: the app's Sign in button, the provider's login and consent forms, back to the app."""
    page.goto(url)
    settle(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/interaction/"))
    page.locator('input[name="login"]').fill(email)
    page.locator('input[name="password"]').fill("any password")
    page.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/interaction/"))  # the consent prompt
    page.locator('button[type="submit"]').click()
    page.wait_for_url(re.compile(re.escape(url) + r"/?(\?.*)?$"))
    settle(page)


def goto(page: Page, url: str) -> None:
    page.goto(url)
    settle(page)


def assert_no_exception(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "Traceback" not in page.locator("body").inner_text()


# ----------------------------------------------------------------------------------- tests

def test_a_viewer_reads_but_sees_no_upload_or_delete_and_no_other_workspace(app, team_database, new_page):
    page = new_page()
    sign_in(page, app, VIEWER)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text(f"Signed in as {VIEWER} (viewer)")
    expect(sidebar.get_by_role("combobox", name="Dataset")).to_have_value("Shop A")
    assert_no_exception(page)

    goto(page, f"{app}/data")
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("Your role in this workspace is viewer")
    expect(main).to_contain_text("Shop A")
    expect(page.locator('[data-testid="stFileUploader"]')).to_have_count(0)
    expect(page.get_by_role("button", name="Delete dataset")).to_have_count(0)
    expect(page.get_by_role("button", name="Rename")).to_have_count(0)
    expect(main).not_to_contain_text("Members of")

    # B's dataset id in a link, from A's session: one line, A's data, nothing of B
    goto(page, f"{app}/data?ds={team_database['b']}")
    expect(page.get_by_text("The link's dataset was not found in this workspace.")).to_have_count(1)
    body = page.locator("body")
    expect(body).not_to_contain_text("Shop B")
    expect(main).to_contain_text("Shop A")
    assert_no_exception(page)
    assert team_database["b"] not in page.url  # the address bar no longer names it
    page.screenshot(path=str(ARTIFACTS / "login-viewer-data.png"), full_page=True)


def test_the_admin_manages_data_and_members(app, team_database, new_page):
    page = new_page()
    sign_in(page, app, ADMIN)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(f"Signed in as {ADMIN} (admin)")
    goto(page, f"{app}/data")
    main = page.locator('[data-testid="stMain"]')
    expect(page.locator('[data-testid="stFileUploader"]')).to_have_count(1)
    page.get_by_role("button", name="Delete dataset").click()
    settle(page)
    expect(main).to_contain_text("Delete “Shop A” with all its tables")  # the confirmation names it
    page.get_by_role("button", name="Cancel").click()
    settle(page)
    # a file loaded into "Shop A" replaces its customers table: confirmed by name before Load is possible
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(team_database["customers"]))
    settle(page)
    choose(page, widget(main, "stSelectbox", "Load into dataset"), "Shop A")  # the default is a new dataset
    confirm = main.get_by_text("Yes, replace Customers (40) in “Shop A”")
    expect(confirm).to_be_visible()
    load = main.get_by_role("button", name="Load", exact=True)
    expect(load).to_be_disabled()
    confirm.click()
    expect(load).to_be_enabled()
    expect(main).to_contain_text("Members of “Default”")
    expect(main).to_contain_text(VIEWER)

    form = page.locator('[data-testid="stForm"]').filter(has_text="Add or change member")
    form.get_by_label("Email").fill(NEWCOMER)
    form.get_by_label("Email").press("Tab")
    form.get_by_role("combobox", name="Role").click()
    page.get_by_role("option", name="editor").click()
    form.get_by_role("button", name="Save member").click()
    settle(page)
    expect(main).to_contain_text(f"{NEWCOMER} is now editor.")
    page.screenshot(path=str(ARTIFACTS / "login-admin-data.png"), full_page=True)

    # the admin's session cannot open B's dataset either
    goto(page, f"{app}/?ds={team_database['b']}")
    expect(page.get_by_text("The link's dataset was not found in this workspace.")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("Shop B")
    assert_no_exception(page)

    # the new member signs in as an editor: upload and rename, no delete
    other = new_page()
    sign_in(other, app, NEWCOMER)
    expect(other.locator('[data-testid="stSidebar"]')).to_contain_text(f"Signed in as {NEWCOMER} (editor)")
    goto(other, f"{app}/data")
    expect(other.locator('[data-testid="stFileUploader"]')).to_have_count(1)
    expect(other.get_by_role("button", name="Rename")).to_have_count(1)
    expect(other.get_by_role("button", name="Delete dataset")).to_have_count(0)


def test_a_member_of_no_workspace_sees_one_line(app, new_page):
    page = new_page()
    sign_in(page, app, STRANGER)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text(f"{STRANGER} is not a member of any workspace yet")
    expect(page.locator('[data-testid="stSidebar"]')).to_have_count(0)
    expect(main).not_to_contain_text("Shop A")
    assert_no_exception(page)
    page.screenshot(path=str(ARTIFACTS / "login-no-workspace.png"))


def test_the_login_server_log_has_no_traceback(app, login_server_log):
    assert "Traceback" not in login_server_log.read_text(errors="replace")
