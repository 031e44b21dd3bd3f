"""Sign-in configuration read from the secrets file fails closed (clm_ui/auth.py).

A secrets file with an ``[auth]`` section switches sign-in on; one that exists but cannot be parsed
(a typo while editing it) must not switch it off and open the app to everybody as admin.
"""

from __future__ import annotations

import pytest
from streamlit import config
from streamlit.runtime.secrets import secrets_singleton

from apptest import open_page


@pytest.fixture
def secrets_file(tmp_path):
    """Point Streamlit at a secrets file of the test's own; restored afterwards."""
    path = tmp_path / "secrets.toml"
    before = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(path)])
    secrets_singleton._reset()
    yield path
    config.set_option("secrets.files", before)
    secrets_singleton._reset()


def test_an_unreadable_secrets_file_keeps_the_app_closed(demo_db, secrets_file):
    secrets_file.write_text('[auth]\nclient_id = "unterminated\n', encoding="utf-8")
    at = open_page("overview")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith(
        "The app's secrets file cannot be read, so sign-in cannot be checked and the app stays closed: ")
    assert not at.metric and not at.dataframe  # no data shown
    assert not at.sidebar.selectbox  # no dataset choice either


def test_secrets_without_auth_leave_sign_in_off(demo_db, secrets_file):
    secrets_file.write_text('[clm]\nadmins = ["boss@example.com"]\n', encoding="utf-8")
    at = open_page("overview")
    assert not at.exception and not at.error
    assert at.metric  # the app as a single user sees it


def test_auth_in_the_secrets_asks_to_sign_in(demo_db, secrets_file):
    secrets_file.write_text(
        '[auth]\nredirect_uri = "http://127.0.0.1:9/oauth2callback"\ncookie_secret = "x"\nclient_id = "c"\n'
        'client_secret = "s"\nserver_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n',
        encoding="utf-8")
    at = open_page("overview")
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric
