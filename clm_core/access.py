"""Who may do what: workspaces, members and their roles (issue [6] item 4).

A dataset, its saved views and customer lists belong to one workspace. A signed-in person acts in
one workspace at a time as a :class:`Principal` with a role there:

``viewer``  reads the workspace's datasets, saves views and renames/deletes their own views;
``editor``  also uploads and loads files, creates and renames datasets;
``admin``   also deletes datasets, deletes anybody's saved views and manages the members.

The checks live here and in :mod:`clm_core.store`, whose functions take the acting principal: a
refused action raises :class:`AccessDenied` (one line), and another workspace's dataset or view is
"not found". A principal's role is looked up afresh in ``clm_members`` for every check, so removing
a member takes effect at once.

Two principals need no membership: :data:`SYSTEM` (command line, tests, background upkeep: every
workspace) and :data:`OPEN` (the app without sign-in configured: admin of the default workspace, as
the app was before workspaces). Bootstrap admins (configuration: ``[clm] admins`` in the app's
secrets or ``CLM_ADMINS``) are admins of the default workspace without a member row and may create
workspaces.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass

ROLES = ("viewer", "editor", "admin")
_RANK = {role: n for n, role in enumerate(ROLES, start=1)}
DEFAULT_WORKSPACE = "default"
DEFAULT_WORKSPACE_NAME = "Default"
#: an address as sign-in providers give them (no quoting, no characters that could form markup)
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z0-9-]{2,63}$")
_WORKSPACE_ID = re.compile(r"^(default|[0-9a-f]{16})$")

#: Workspace and member tables; ``store.connect`` creates them (and migrates older databases).
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS clm_workspaces (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS clm_members (
    workspace_id VARCHAR NOT NULL,
    email VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, email)
);
INSERT INTO clm_workspaces (id, name)
    SELECT '{DEFAULT_WORKSPACE}', '{DEFAULT_WORKSPACE_NAME}'
    WHERE NOT EXISTS (SELECT 1 FROM clm_workspaces WHERE id = '{DEFAULT_WORKSPACE}');
"""


class AccessDenied(PermissionError):
    """The acting principal may not do this; ``str()`` is one line naming the action and the role."""

    def __init__(self, action: str, need: str | None = None, role: str | None = None):
        self.action, self.need, self.role = action, need, role
        if need is None:
            message = f"not allowed: {action}"
        else:
            message = f"not allowed: {action} needs the {need} role in this workspace (yours: {role or 'none'})"
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """Who acts, in which workspace. ``email`` None: nobody signed in (:data:`SYSTEM`, :data:`OPEN`).
    ``workspace`` None: every workspace (:data:`SYSTEM` only). ``role`` is what the principal had when
    it was made; checks of a signed-in principal look the role up afresh (:func:`role_in`)."""

    email: str | None
    workspace: str | None
    role: str
    bootstrap: bool = False  # a configured admin: admin of the default workspace, may create workspaces

    @property
    def system(self) -> bool:
        return self.workspace is None

    def can(self, need: str) -> bool:
        """Whether the role this principal was made with reaches ``need`` (for showing controls; the
        store checks again)."""
        return _RANK.get(self.role, 0) >= _RANK[need]


#: The command line, tests and background upkeep: admin of every workspace.
SYSTEM = Principal(None, None, "admin")
#: The app without sign-in configured: everyone is admin of the default workspace (one user, as before).
OPEN = Principal(None, DEFAULT_WORKSPACE, "admin")


@dataclass(frozen=True)
class Membership:
    workspace: str
    name: str
    role: str


def normal_email(email) -> str:
    """``email`` trimmed and lower-cased; ValueError when it does not look like an address."""
    text = str(email or "").strip().lower()
    if not _EMAIL.match(text):
        raise ValueError("not an email address")
    return text


def bootstrap_admins(configured=()) -> frozenset[str]:
    """The bootstrap admins: ``configured`` (e.g. the secrets' ``[clm] admins``) and ``CLM_ADMINS``
    (comma-separated); entries that are not addresses are ignored."""
    entries = [*(configured or ()), *os.environ.get("CLM_ADMINS", "").split(",")]
    found = set()
    for entry in entries:
        try:
            found.add(normal_email(entry))
        except ValueError:
            continue
    return frozenset(found)


def _raw(con):
    from clm_core.store import raw

    return raw(con)


def _rows(con, sql: str, params=()) -> list[tuple]:
    """A read on its own cursor (the process connection is shared by the sessions' threads)."""
    cursor = _raw(con).cursor()
    try:
        return cursor.execute(sql, list(params)).fetchall()
    finally:
        cursor.close()


def memberships(con, email: str, admins=frozenset()) -> list[Membership]:
    """The workspaces ``email`` belongs to with the role there (a bootstrap admin: admin of the default
    workspace), the default workspace first, then by name."""
    email = normal_email(email)
    rows = _rows(con, """SELECT w.id, w.name, m.role FROM clm_members m JOIN clm_workspaces w ON w.id = m.workspace_id
                         WHERE m.email = ?""", [email])
    found = {ws: Membership(ws, name, role) for ws, name, role in rows if role in _RANK}
    if email in admins:
        name = _rows(con, "SELECT name FROM clm_workspaces WHERE id = ?", [DEFAULT_WORKSPACE])[0][0]
        found[DEFAULT_WORKSPACE] = Membership(DEFAULT_WORKSPACE, name, "admin")
    return sorted(found.values(), key=lambda m: (m.workspace != DEFAULT_WORKSPACE, m.name.lower(), m.workspace))


def principal_for(con, email: str, workspace: str | None = None, admins=frozenset()) -> Principal | None:
    """The principal of signed-in ``email`` in ``workspace`` (default: their first); None when they are a
    member of no workspace (or not of ``workspace``)."""
    email = normal_email(email)
    found = memberships(con, email, admins)
    if not found:
        return None
    chosen = found[0] if workspace is None else next((m for m in found if m.workspace == workspace), None)
    if chosen is None:
        return None
    return Principal(email, chosen.workspace, chosen.role, bootstrap=email in admins)


def role_in(con, principal: Principal | None, workspace: str | None) -> str | None:
    """The role ``principal`` has in ``workspace`` now (None: no access). Another workspace than the
    principal's is no access even for a member there: a session acts in one workspace."""
    principal = principal or SYSTEM
    if principal.system:
        return "admin"
    workspace = workspace or DEFAULT_WORKSPACE
    if workspace != principal.workspace:
        return None
    if principal.email is None:  # OPEN (no sign-in configured)
        return principal.role
    if principal.bootstrap and workspace == DEFAULT_WORKSPACE:
        return "admin"
    rows = _rows(con, "SELECT role FROM clm_members WHERE workspace_id = ? AND email = ?", [workspace, principal.email])
    return rows[0][0] if rows and rows[0][0] in _RANK else None


def require(con, principal: Principal | None, workspace: str | None, need: str, action: str) -> str:
    """Raise :class:`AccessDenied` unless ``principal`` has at least role ``need`` in ``workspace``; the role."""
    role = role_in(con, principal, workspace)
    if role is None or _RANK[role] < _RANK[need]:
        raise AccessDenied(action, need, role)
    return role


def sees(con, principal: Principal | None, workspace: str | None) -> bool:
    """Whether ``principal`` may read things of ``workspace`` (another workspace's are "not found")."""
    return role_in(con, principal, workspace) is not None


# --------------------------------------------------------------------------- workspaces and members

def list_workspaces(con) -> list[tuple[str, str]]:
    """(id, name) of every workspace, the default first."""
    rows = _rows(con, "SELECT id, name FROM clm_workspaces ORDER BY id <> ?, created_at, name", [DEFAULT_WORKSPACE])
    return [(i, n) for i, n in rows]


def create_workspace(con, principal: Principal | None, name: str) -> str:
    """A new workspace named ``name`` (bootstrap admins and :data:`SYSTEM` only); a signed-in creator
    becomes its admin. Returns its id."""
    principal = principal or SYSTEM
    if not (principal.system or principal.bootstrap):
        raise AccessDenied("creating a workspace is for the configured admins")
    name = str(name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("a workspace needs a name of 1 to 100 characters")
    from clm_core.store import _transaction

    workspace = secrets.token_hex(8)
    with _transaction(con) as db:
        db.execute("INSERT INTO clm_workspaces (id, name) VALUES (?, ?)", [workspace, name])
        if principal.email:
            db.execute("INSERT INTO clm_members VALUES (?, ?, 'admin')", [workspace, principal.email])
    return workspace


def _managed(con, principal: Principal | None, workspace: str | None) -> str:
    """The workspace whose members ``principal`` manages (its own; :data:`SYSTEM` names one)."""
    principal = principal or SYSTEM
    workspace = workspace or principal.workspace or DEFAULT_WORKSPACE
    if not _WORKSPACE_ID.match(workspace) or not _rows(con, "SELECT 1 FROM clm_workspaces WHERE id = ?", [workspace]):
        raise KeyError(f"no workspace {workspace!r}")
    require(con, principal, workspace, "admin", "managing members")
    return workspace


def list_members(con, principal: Principal | None, workspace: str | None = None) -> list[tuple[str, str]]:
    """(email, role) of the members of the principal's workspace, by email (admins only)."""
    workspace = _managed(con, principal, workspace)
    return [(e, r) for e, r in _rows(con, "SELECT email, role FROM clm_members WHERE workspace_id = ? ORDER BY email",
                                     [workspace])]


def set_member(con, principal: Principal | None, email: str, role: str, workspace: str | None = None) -> None:
    """Add ``email`` to the principal's workspace with ``role``, or change their role (admins only; not
    their own entry, so that a workspace cannot lose its last admin by accident)."""
    if role not in _RANK:
        raise ValueError(f"a role is one of {', '.join(ROLES)}")
    email = normal_email(email)
    _change_member(con, principal, workspace, email, role, "changing your own role")


def remove_member(con, principal: Principal | None, email: str, workspace: str | None = None) -> None:
    """Remove ``email`` from the principal's workspace (admins only; not themselves)."""
    _change_member(con, principal, workspace, normal_email(email), None, "removing yourself")


def _change_member(con, principal: Principal | None, workspace: str | None, email: str, role: str | None,
                   own: str) -> None:
    """Set (``role``) or remove (None) a member: the admin check and the change in one serialised write, so
    that two admins demoting each other at once cannot both pass the check."""
    from clm_core.store import WRITE_LOCK, _transaction

    with WRITE_LOCK:
        workspace = _managed(con, principal, workspace)
        if principal is not None and principal.email == email:
            raise AccessDenied(own)
        with _transaction(con) as db:
            db.execute("DELETE FROM clm_members WHERE workspace_id = ? AND email = ?", [workspace, email])
            if role is not None:
                db.execute("INSERT INTO clm_members VALUES (?, ?, ?)", [workspace, email, role])
