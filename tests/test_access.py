"""Access control in clm_core (issue [6] item 4): workspaces, roles, enforced by the store itself.

Two workspaces on one real DuckDB file: the default one (A) and B. A viewer, an editor and an admin
of A, an admin of B. Each test acts through ``clm_core`` only (no UI), as a crafted link or a
forged button press would reach it.
"""

from __future__ import annotations

import textwrap

import duckdb
import pytest

from clm_core import access, ingest, store
from clm_core.access import AccessDenied

CUSTOMERS = """
customer_id,signup_date
1,2024-01-05
2,2024-02-10
"""
TRANSACTIONS = """
transaction_id,customer_id,ordered_at,amount
t1,1,2024-01-06,10
t2,2,2024-02-11,20
t3,1,2024-03-01,5
"""
ADMINS = frozenset({"boss@example.com"})


def _files(folder, **tables):
    paths = {}
    for name, text in tables.items():
        path = folder / f"{name}.csv"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        paths[name] = path
    return paths


@pytest.fixture
def team(con, tmp_path):
    """Workspace A (default) with a loaded dataset and B with one; members and their principals."""
    b = access.create_workspace(con, access.SYSTEM, "Team B")
    access.set_member(con, access.SYSTEM, "viewer@example.com", "viewer")
    access.set_member(con, access.SYSTEM, "editor@example.com", "editor")
    access.set_member(con, access.SYSTEM, "admin@example.com", "admin")
    access.set_member(con, access.SYSTEM, "b-admin@example.com", "admin", workspace=b)
    files = _files(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS)
    data_a = store.create_dataset(con, "A data")
    ingest.load(data_a, files)
    data_b = store.new_dataset(con, "B data", access.principal_for(con, "b-admin@example.com"))
    ingest.load(data_b, files, create=True)

    def who(email):
        return access.principal_for(con, email, admins=ADMINS)

    return {"b": b, "a_id": data_a.id, "b_id": data_b.id, "files": files, "who": who,
            "viewer": who("viewer@example.com"), "editor": who("editor@example.com"),
            "admin": who("admin@example.com"), "b_admin": who("b-admin@example.com")}


def test_principals_carry_their_workspace_and_role(con, team):
    assert team["viewer"] == access.Principal("viewer@example.com", "default", "viewer")
    assert team["b_admin"].workspace == team["b"] and team["b_admin"].role == "admin"
    assert access.principal_for(con, "Stranger@Example.com") is None  # a member of no workspace
    boss = access.principal_for(con, " BOSS@example.com ", admins=ADMINS)  # configured: admin of the default
    assert boss == access.Principal("boss@example.com", "default", "admin", bootstrap=True)
    assert access.principal_for(con, "boss@example.com") is None  # without the configuration: nobody


def test_a_viewer_cannot_load_rename_or_delete(con, team):
    viewer = team["viewer"]
    dataset = store.get_dataset(con, team["a_id"], viewer)  # reads are fine
    assert store.table_rows(dataset)["transactions"] == 3
    with pytest.raises(AccessDenied, match="loading data needs the editor role"):
        ingest.load(dataset, team["files"])
    with pytest.raises(AccessDenied):
        store.new_dataset(con, "mine", viewer)
    with pytest.raises(AccessDenied, match="renaming a dataset"):
        store.rename_dataset(dataset, "renamed")
    with pytest.raises(AccessDenied, match="deleting a dataset needs the admin role"):
        store.delete_dataset(dataset)
    # a Dataset object opened by somebody else does not help: the acting principal is checked
    with pytest.raises(AccessDenied):
        store.delete_dataset(store.get_dataset(con, team["a_id"]), viewer)
    assert store.get_dataset(con, team["a_id"]).name == "A data"
    assert store.table_rows(store.get_dataset(con, team["a_id"]))["transactions"] == 3


def test_access_denied_is_one_line(team):
    error = AccessDenied("deleting a dataset", "admin", "viewer")
    assert "\n" not in str(error)
    assert str(error) == ("not allowed: deleting a dataset needs the admin role in this workspace "
                          "(yours: viewer)")


def test_an_editor_can_load_and_rename_but_not_delete(con, team):
    editor = team["editor"]
    dataset = store.get_dataset(con, team["a_id"], editor)
    version = dataset.version
    ingest.load(dataset, {"customers": team["files"]["customers"]})
    assert dataset.version == version + 1
    renamed = store.rename_dataset(dataset, "A renamed")
    assert store.get_dataset(con, team["a_id"], editor).name == "A renamed"
    new = store.new_dataset(con, "editor's", editor)
    ingest.load(new, team["files"], create=True)
    assert store.get_dataset(con, new.id, editor).workspace == "default"
    with pytest.raises(AccessDenied, match="admin"):
        store.delete_dataset(renamed)
    # replacing a dataset by a load drops it: an admin's action
    with pytest.raises(AccessDenied, match="replacing a dataset"):
        ingest.load(store.new_dataset(con, "A renamed", editor), team["files"], create=True, replaces=renamed)
    assert {d.id for d in store.list_datasets(con, editor)} == {team["a_id"], new.id}


def test_an_admin_can_delete(con, team):
    admin = team["admin"]
    store.delete_dataset(store.get_dataset(con, team["a_id"], admin))
    with pytest.raises(KeyError):
        store.get_dataset(con, team["a_id"])


def test_another_workspace_s_dataset_is_not_found(con, team):
    a_admin, b_admin = team["admin"], team["b_admin"]
    assert [d.id for d in store.list_datasets(con, a_admin)] == [team["a_id"]]
    assert [d.id for d in store.list_datasets(con, b_admin)] == [team["b_id"]]
    assert store.find_dataset(con, "B data", a_admin) is None
    with pytest.raises(KeyError, match="no dataset"):
        store.get_dataset(con, team["b_id"], a_admin)  # its id in a link opens nothing
    # an object for B's dataset (as a forged action might build one) acted on by A's admin: not found
    b_dataset = store.get_dataset(con, team["b_id"])
    for action in (lambda: store.delete_dataset(b_dataset, a_admin),
                   lambda: store.rename_dataset(b_dataset, "taken", a_admin),
                   lambda: ingest.load(store.Dataset(con, team["b_id"], "B data", "default", a_admin),
                                       {"customers": team["files"]["customers"]})):
        with pytest.raises(KeyError, match="no dataset"):
            action()
    assert store.get_dataset(con, team["b_id"]).name == "B data"
    # the system (command line) sees both
    assert {d.id for d in store.list_datasets(con)} == {team["a_id"], team["b_id"]}


def test_a_member_of_both_workspaces_acts_in_one_at_a_time(con, team):
    access.set_member(con, access.SYSTEM, "viewer@example.com", "editor", workspace=team["b"])
    assert [m.workspace for m in access.memberships(con, "viewer@example.com")] == ["default", team["b"]]
    in_b = access.principal_for(con, "viewer@example.com", team["b"])
    assert in_b.role == "editor"
    assert [d.id for d in store.list_datasets(con, in_b)] == [team["b_id"]]
    with pytest.raises(AccessDenied):  # still a viewer in A
        store.rename_dataset(store.get_dataset(con, team["a_id"], team["viewer"]), "x")


def test_saved_views_are_per_workspace_and_changed_by_their_owner_or_an_admin(con, team):
    viewer, editor, admin, b_admin = team["viewer"], team["editor"], team["admin"], team["b_admin"]
    mine = store.save_view(con, "viewer's", {"page": "funnel"}, viewer)
    theirs = store.save_view(con, "editor's", {"page": "nps"}, editor)
    in_b = store.save_view(con, "B's", {"page": "overview"}, b_admin)
    assert mine.owner == "viewer@example.com" and mine.workspace == "default"
    assert [v.name for v in store.list_views(con, viewer)] == ["viewer's", "editor's"]  # shared in A
    assert [v.name for v in store.list_views(con, b_admin)] == ["B's"]
    assert store.get_view(con, in_b.id, viewer) is None  # B's link opens nothing in A
    assert store.get_view(con, mine.id, b_admin) is None

    store.rename_view(con, mine.id, "renamed", viewer)  # own views: rename and delete
    with pytest.raises(AccessDenied, match="owner"):
        store.delete_view(con, theirs.id, viewer)
    with pytest.raises(AccessDenied):
        store.rename_view(con, theirs.id, "taken", viewer)
    with pytest.raises(KeyError):
        store.delete_view(con, in_b.id, admin)  # another workspace's view: not found
    assert store.may_change_view(con, mine, viewer) and not store.may_change_view(con, theirs, viewer)
    store.delete_view(con, theirs.id, admin)  # an admin deletes anybody's view in the workspace
    store.delete_view(con, mine.id, viewer)
    assert store.list_views(con, viewer) == []
    assert [v.name for v in store.list_views(con)] == ["B's"]


def test_customer_lists_belong_to_a_workspace(con, team):
    list_id = store.save_customer_list(con, ["1", "2"], team["b_admin"])
    assert sorted(store.customer_list(con, list_id, team["b_admin"]).execute()["customer_id"]) == ["1", "2"]
    assert store.customer_list(con, list_id, team["admin"]).execute().empty


def test_a_segment_filter_reads_only_its_workspace_s_lists(con, team):
    import datetime as dt

    from clm_core.filters import SegmentFilter

    mine = store.save_customer_list(con, ["1"], team["viewer"])
    listed = SegmentFilter().with_customer_list(mine)
    as_of = dt.date(2024, 3, 1)
    own = store.get_dataset(con, team["a_id"], team["viewer"])
    assert sorted(listed.customers(own, as_of).execute()["customer_id"]) == ["1"]
    other = store.get_dataset(con, team["b_id"], team["b_admin"])  # the same ids, another workspace
    assert listed.customers(other, as_of).execute().empty
    # the app's metric cache opens datasets without a principal: the dataset's workspace still decides
    assert listed.customers(store.get_dataset(con, team["b_id"]), as_of).execute().empty
    assert sorted(listed.customers(store.get_dataset(con, team["a_id"]), as_of).execute()["customer_id"]) == ["1"]


def test_members_are_managed_by_the_workspace_s_admins(con, team):
    admin, editor, b_admin = team["admin"], team["editor"], team["b_admin"]
    access.set_member(con, admin, "New@Example.com", "viewer")
    assert ("new@example.com", "viewer") in access.list_members(con, admin)
    access.set_member(con, admin, "new@example.com", "editor")  # a role changes in place
    assert dict(access.list_members(con, admin))["new@example.com"] == "editor"
    with pytest.raises(AccessDenied, match="managing members"):
        access.set_member(con, editor, "x@example.com", "admin")
    with pytest.raises(AccessDenied):
        access.list_members(con, editor)
    with pytest.raises(AccessDenied):  # B's admin manages B only
        access.set_member(con, b_admin, "x@example.com", "viewer", workspace="default")
    with pytest.raises(AccessDenied):
        access.set_member(con, admin, "admin@example.com", "viewer")  # not one's own role
    with pytest.raises(ValueError):
        access.set_member(con, admin, "not an address", "viewer")
    with pytest.raises(ValueError):
        access.set_member(con, admin, "x@example.com", "owner")
    opened = store.get_dataset(con, team["a_id"], editor)
    access.remove_member(con, admin, "editor@example.com")
    # removing a member takes effect at once, also for a principal made (and a dataset opened) before
    with pytest.raises(AccessDenied):
        store.rename_dataset(opened, "late")
    with pytest.raises(KeyError):
        store.get_dataset(con, team["a_id"], editor)
    assert store.list_datasets(con, editor) == [] and store.list_views(con, editor) == []
    assert access.principal_for(con, "editor@example.com") is None


def test_workspaces_are_created_by_configured_admins(con, team):
    boss = access.principal_for(con, "boss@example.com", admins=ADMINS)
    with pytest.raises(AccessDenied):
        access.create_workspace(con, team["admin"], "Mine")  # a member admin is not a configured admin
    created = access.create_workspace(con, boss, "Team C")
    assert access.principal_for(con, "boss@example.com", created, ADMINS).role == "admin"
    assert [name for _, name in access.list_workspaces(con)] == ["Default", "Team B", "Team C"]


def test_without_sign_in_everybody_is_admin_of_the_default_workspace(con, team):
    assert [d.id for d in store.list_datasets(con, access.OPEN)] == [team["a_id"]]
    saved = store.save_view(con, "open", {"page": "data"}, access.OPEN)
    assert saved.owner is None
    store.delete_view(con, saved.id, access.OPEN)
    store.delete_dataset(store.get_dataset(con, team["a_id"], access.OPEN))
    with pytest.raises(KeyError):
        store.get_dataset(con, team["b_id"], access.OPEN)


def test_bootstrap_admins_from_the_configuration_and_the_environment(monkeypatch):
    monkeypatch.setenv("CLM_ADMINS", "One@example.com, ,not-an-address")
    assert access.bootstrap_admins(["two@example.com"]) == {"one@example.com", "two@example.com"}


def test_an_existing_database_migrates_into_the_default_workspace(tmp_path):
    """A database written before workspaces (the old metadata tables) opens with every dataset, view
    and list in the default workspace."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("""
        CREATE TABLE clm_datasets (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
                                   created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
                                   version INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE clm_lists (id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL);
        CREATE TABLE clm_views (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, state JSON NOT NULL,
                                created_at TIMESTAMP NOT NULL DEFAULT current_timestamp);
        INSERT INTO clm_datasets (id, name) VALUES ('0123456789abcdef', 'old data');
        CREATE SCHEMA ds_0123456789abcdef;
        INSERT INTO clm_views (id, name, state) VALUES ('abcdEFGH', 'old view', '{"page": ["nps"]}');
        INSERT INTO clm_lists VALUES ('listLIST', '7');
    """)
    old.close()
    for opening in range(2):  # and opening it again changes nothing
        con = store.connect(path)
        try:
            dataset = store.get_dataset(con, "0123456789abcdef", access.OPEN)
            assert (dataset.name, dataset.workspace) == ("old data", "default")
            assert store.get_view(con, "abcdEFGH", access.OPEN).params == {"page": ["nps"]}
            assert store.customer_list(con, "listLIST", access.OPEN).execute()["customer_id"].tolist() == ["7"]
            assert access.list_workspaces(con)[0] == ("default", "Default")
            if opening == 0:
                other = access.create_workspace(con, access.SYSTEM, "B")
            assert store.list_datasets(con, access.Principal(None, other, "admin")) == []
            assert len(access.list_workspaces(con)) == 2
        finally:
            con.disconnect()


def test_the_command_line_replacing_a_dataset_keeps_it_in_its_workspace(con, team):
    """``report --database`` / the import folder replace a dataset by name as the system: the new one
    takes the replaced one's workspace (and a name in the default workspace is found first)."""
    in_b = store.find_dataset(con, "B data")
    assert in_b.id == team["b_id"]
    new = store.new_dataset(con, "B data")
    ingest.load(new, team["files"], create=True, replaces=in_b)
    assert [d.id for d in store.list_datasets(con, team["b_admin"])] == [new.id]
    assert store.get_dataset(con, new.id).workspace == team["b"]
    store.create_dataset(con, "B data")  # the same name in the default workspace
    assert store.find_dataset(con, "B data").workspace == "default"
    assert store.find_dataset(con, "B data", team["b_admin"]).id == new.id


def test_two_admins_demoting_each_other_at_once_leave_one_admin(con, team):
    import threading

    b = team["b"]
    access.set_member(con, access.SYSTEM, "b-second@example.com", "admin", workspace=b)
    first, second = team["b_admin"], team["who"]("b-second@example.com")
    start, outcomes = threading.Barrier(2), []

    def demote(me, other):
        start.wait()
        try:
            access.set_member(con, me, other.email, "viewer")
            outcomes.append("demoted")
        except AccessDenied:
            outcomes.append("denied")

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "denied"]
    roles = dict(access.list_members(con, access.SYSTEM, b))
    assert sorted(roles.values()) == ["admin", "viewer"]
