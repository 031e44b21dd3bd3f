"""Sign-in and the acting principal of a session (UI side of :mod:`clm_core.access`).

Sign-in is Streamlit's own (``st.login`` / ``st.user`` / ``st.logout``) with the OpenID Connect provider
configured under ``[auth]`` in the app's ``secrets.toml``. Without that section the app is open as it
was: everybody acts as :data:`access.OPEN` (admin of the default workspace). With it, a visitor signs in
first; a signed-in person acts in one of their workspaces with their role there, and somebody who is a
member of no workspace sees one line and nothing else. Bootstrap admins come from the secrets'
``[clm] admins = [...]`` and ``CLM_ADMINS``.

Every store call of the UI passes :func:`principal`; the store checks it (the controls hidden here for
a lower role are a convenience, not the protection). Emails and workspace names are user text: shown
through :func:`md` (Markdown escaped) or as plain widget labels, never as HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from clm_core import access
from clm_ui import data
from clm_ui.state import t

WORKSPACE_KEY = "clm_workspace"
#: Not signed in, or a member of no workspace: passed to the store, it sees and may do nothing.
NOBODY = access.Principal(None, "", "none")

TEXT = {
    "sign_in_help": ("Sign in with your organisation's account to see your team's data.",
                     "Mit dem Konto Ihrer Organisation anmelden, um die Daten Ihres Teams zu sehen."),
    "sign_in": ("Sign in", "Anmelden"),
    "secrets_unreadable": ("The app's secrets file cannot be read, so sign-in cannot be checked and the app stays "
                           "closed: {reason}",
                           "Die Secrets-Datei der App ist nicht lesbar; die Anmeldung kann nicht geprüft werden, "
                           "daher bleibt die App geschlossen: {reason}"),
    "sign_out": ("Sign out", "Abmelden"),
    "no_workspace": ("{email} is not a member of any workspace yet: ask an admin of your team to add you.",
                     "{email} ist noch in keinem Arbeitsbereich Mitglied: bitte eine Administratorin oder einen "
                     "Administrator Ihres Teams, Sie hinzuzufügen."),
    "no_email": ("Your sign-in did not give a verified email address, so no workspace can be found for you.",
                 "Ihre Anmeldung hat keine bestätigte E-Mail-Adresse geliefert; daher ist kein Arbeitsbereich "
                 "zu finden."),
    "signed_in": ("Signed in as {email} ({role})", "Angemeldet als {email} ({role})"),
    "workspace": ("Workspace", "Arbeitsbereich"),
    "denied": ("Not allowed: this needs the {need} role in this workspace (yours: {role}).",
               "Nicht erlaubt: dafür ist die Rolle {need} in diesem Arbeitsbereich nötig (Ihre: {role})."),
    "denied_other": ("Not allowed with your role in this workspace.",
                     "Mit Ihrer Rolle in diesem Arbeitsbereich nicht erlaubt."),
    "not_found": ("Not found in this workspace (it may have been deleted, or belong to another workspace).",
                  "In diesem Arbeitsbereich nicht gefunden (gelöscht oder in einem anderen Arbeitsbereich)."),
    "link_dataset": ("The link's dataset was not found in this workspace.",
                     "Der Datensatz aus dem Link wurde in diesem Arbeitsbereich nicht gefunden."),
    "viewer": ("viewer", "Betrachter"),
    "editor": ("editor", "Bearbeiter"),
    "admin": ("admin", "Admin"),
    "none": ("none", "keine"),
}


def md(text) -> str:
    """User text (an email, a workspace or dataset name) as literal Markdown: no link, no HTML, no format."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:@&])", r"\\\1", str(text)).replace("\n", " ")


def email_md(address) -> str:
    """An email address as inline code (Markdown would turn it into a mail link); addresses cannot contain a
    backtick (:func:`access.normal_email`), any other text has it replaced."""
    return "`" + str(address).replace("`", "'").replace("\n", " ") + "`"


class SecretsUnreadable(RuntimeError):
    """A secrets file exists but cannot be read: the app stops rather than run without sign-in."""


def configured() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section in the secrets). A secrets file that exists but
    cannot be parsed raises :class:`SecretsUnreadable`: a typo must not open the app to everybody."""
    try:
        return "auth" in st.secrets
    except Exception as exc:  # noqa: BLE001 - no secrets file at all: no sign-in
        files = st.get_option("secrets.files") or []
        if any(Path(f).expanduser().is_file() for f in files):
            raise SecretsUnreadable(" ".join(str(exc).split())[:300]) from None
        return False


def _setting(name: str):
    """A value of the secrets' ``[clm]`` section (None when there is none)."""
    try:
        return (st.secrets.get("clm") or {}).get(name)
    except Exception:  # noqa: BLE001 - no secrets file
        return None


def admins() -> frozenset[str]:
    """Bootstrap admins: the secrets' ``[clm] admins`` and ``CLM_ADMINS``."""
    configured_admins = _setting("admins") or ()
    if isinstance(configured_admins, str):
        configured_admins = [configured_admins]
    return access.bootstrap_admins(configured_admins)


def signed_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def email() -> str | None:
    """The signed-in person's address; None when there is none or the provider does not say it is verified
    (``email_verified``; members are found by address, so an unverified one could be anybody's). Providers
    that never send the claim (some Microsoft Entra set-ups) need ``[clm] trust_unverified_email = true``."""
    verified = st.user.get("email_verified") is True or _setting("trust_unverified_email") is True
    if not signed_in() or not verified:
        return None
    try:
        return access.normal_email(st.user.get("email"))
    except ValueError:
        return None


def principal() -> access.Principal:
    """Who acts in this session: :data:`access.OPEN` without sign-in; the signed-in member in the chosen
    workspace; :data:`NOBODY` otherwise."""
    try:
        if not configured():
            return access.OPEN
    except SecretsUnreadable:  # the gate says so and stops
        return NOBODY
    address = email()
    if address is None:
        return NOBODY
    con = data.root()
    found = access.principal_for(con, address, st.session_state.get(WORKSPACE_KEY), admins())
    if found is None and st.session_state.get(WORKSPACE_KEY) is not None:  # no longer a member there
        st.session_state.pop(WORKSPACE_KEY, None)
        found = access.principal_for(con, address, None, admins())
    return found or NOBODY


def role_label(role: str | None) -> str:
    return t(role if role in TEXT else "none", TEXT)


def denied_text(exc: Exception) -> str:
    """One line in the user's language for a refused action (:class:`access.AccessDenied`) or a dataset
    or view that is not there (KeyError)."""
    if isinstance(exc, access.AccessDenied):
        if exc.need:
            return t("denied", TEXT, need=role_label(exc.need), role=role_label(exc.role))
        return t("denied_other", TEXT)
    return t("not_found", TEXT)


def gate() -> bool:
    """Whether the app may be shown. When sign-in is configured and nobody is signed in, draws the sign-in
    button; for somebody who is a member of no workspace, one line (and the sign-out button)."""
    try:
        if not configured():
            return True
    except SecretsUnreadable as exc:
        st.error(t("secrets_unreadable", TEXT, reason=md(str(exc))))
        return False
    if not signed_in():
        st.title(t("app_title"))
        st.write(t("sign_in_help", TEXT))
        if st.button(t("sign_in", TEXT), type="primary", key="w.auth.sign_in"):
            st.login()
        return False
    if principal() is NOBODY:
        address = email()
        st.info(t("no_workspace", TEXT, email=email_md(address)) if address else t("no_email", TEXT))
        if st.button(t("sign_out", TEXT), key="w.auth.sign_out"):
            st.logout()
        return False
    return True


def sidebar_panel() -> None:
    """Who is signed in, their workspace (a choice when they have several) and the sign-out button."""
    if not configured() or not signed_in():
        return
    acting = principal()
    if acting is NOBODY:
        return
    chosen = access.memberships(data.root(), acting.email, admins())
    if len(chosen) > 1:
        ids = [m.workspace for m in chosen]
        names = {m.workspace: m.name for m in chosen}  # a selectbox shows its options as plain text
        picked = st.selectbox(t("workspace", TEXT), ids, index=ids.index(acting.workspace), format_func=names.get,
                              key="w.auth.workspace")
        if picked != acting.workspace:
            st.session_state[WORKSPACE_KEY] = picked
            for key in ("w.dataset", "w.as_of"):  # the other workspace's datasets
                st.session_state.pop(key, None)
            from clm_ui.state import update

            update(dataset=None, as_of=None)
            st.rerun()
    st.caption(t("signed_in", TEXT, email=email_md(acting.email), role=role_label(acting.role)))
    if st.button(t("sign_out", TEXT), key="w.auth.sign_out"):
        st.logout()

