"""Database settings (clm_core.backend.parse): DuckDB paths and URLs, Spark URLs, and one-line errors."""

import pytest

from clm_core import backend, store
from clm_core.backend import Backend


@pytest.mark.parametrize("setting, expected", [
    (None, Backend("duckdb", path="data/clm.duckdb")),
    ("data/x.duckdb", Backend("duckdb", path="data/x.duckdb")),
    (":memory:", Backend("duckdb", path=":memory:")),
    ("duckdb:///tmp/a.duckdb", Backend("duckdb", path="/tmp/a.duckdb")),
    ("duckdb://:memory:", Backend("duckdb", path=":memory:")),
    ("spark://local[2]", Backend("spark", master="local[2]")),
    ("spark://local[*]", Backend("spark", master="local[*]")),
    ("spark://local", Backend("spark", master="local")),
    ("spark://spark-master.example:7077", Backend("spark", master="spark://spark-master.example:7077")),
    ("sc://10.0.0.5:15002", Backend("spark", master="sc://10.0.0.5:15002", connect=True)),
])
def test_parse(setting, expected):
    assert backend.parse(setting) == expected


def test_kinds():
    assert backend.parse("spark://local[2]").is_local
    assert not backend.parse("spark://h:7077").is_local
    assert not backend.parse("sc://h:15002").is_local and backend.parse("sc://h:15002").is_spark
    assert not backend.parse("x.duckdb").is_spark


@pytest.mark.parametrize("setting, message", [
    ("postgres://h/db", "unknown scheme 'postgres'"),
    ("spark://local[two]", "expected spark://local[N] or spark://HOST:PORT"),
    ("spark://host", "expected spark://local[N] or spark://HOST:PORT"),
    ("spark://host:99999", "expected spark://local[N] or spark://HOST:PORT"),
    ("sc://host", "expected sc://HOST:PORT"),
    ("duckdb://", "names no DuckDB file"),
])
def test_bad_urls_are_one_line_errors(setting, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        backend.parse(setting)
    assert "\n" not in str(err.value)


def test_warehouse(monkeypatch, tmp_path):
    monkeypatch.delenv("CLM_SPARK_WAREHOUSE", raising=False)
    assert backend.warehouse(tmp_path / "clm.duckdb") == tmp_path.resolve() / "spark-warehouse"
    monkeypatch.setenv("CLM_SPARK_WAREHOUSE", str(tmp_path / "wh"))
    assert backend.warehouse(tmp_path / "clm.duckdb") == (tmp_path / "wh").resolve()
    monkeypatch.delenv("CLM_SPARK_WAREHOUSE")
    temp = backend.warehouse(None)
    assert temp.is_dir() and temp.name.startswith("clm_spark_")
    temp.rmdir()


def test_conf_is_sized_for_a_small_machine(tmp_path):
    conf = backend.spark_conf(backend.parse("spark://local[2]"), tmp_path)
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.local.dir"] == str(tmp_path / "tmp")
    assert conf["spark.sql.session.timeZone"] == "UTC"


def test_spark_refuses_duckdb(tmp_path):
    with pytest.raises(ValueError, match="not a Spark backend"):
        backend.spark(backend.parse("x.duckdb"), tmp_path)


def test_without_pyspark_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "pyspark.sql", None)  # import pyspark.sql raises ImportError
    monkeypatch.setattr(backend, "_SESSIONS", {})
    with pytest.raises(ValueError, match="pip install -r requirements-spark.txt") as err:
        backend.spark(backend.parse("spark://local[2]"), tmp_path)
    assert "\n" not in str(err.value)


def test_report_refuses_a_bad_database_url_in_one_line(tmp_path, capsys):
    from clm_core.__main__ import main

    code = main(["report", "--customers", "c.csv", "--transactions", "t.csv", "--database", "spark://nowhere",
                 "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "error: database URL 'spark://nowhere': expected spark://local[N] or spark://HOST:PORT\n"
    assert not (tmp_path / "out").exists()


@pytest.fixture
def csvs(tmp_path):
    (tmp_path / "c.csv").write_text("customer_id,created_at\n001,2024-01-01\n002,2024-01-15\n")
    (tmp_path / "t.csv").write_text("customer_id,ordered_at,amount\n001,2024-01-05,10\n002,2024-01-20,5\n")
    return tmp_path


@pytest.mark.parametrize("env, expected", [
    ({}, "data/clm.duckdb"),
    ({"CLM_DATABASE": "/srv/clm.duckdb"}, "/srv/clm.duckdb"),
    ({"CLM_DATABASE": "duckdb:///srv/clm.duckdb"}, "/srv/clm.duckdb"),
    ({"CLM_DATABASE": "spark://local[2]"}, "data/clm.duckdb"),
    ({"CLM_DATABASE": "spark://h:7077", "CLM_DUCKDB_FILE": "/srv/meta.duckdb"}, "/srv/meta.duckdb"),
])
def test_the_duckdb_file_beside_an_engine(monkeypatch, env, expected):
    """With a Spark URL the loads, saved views, lists and stored models stay in a DuckDB file: CLM_DUCKDB_FILE,
    else the default; the CLI's --database names it the same way."""
    for name in ("CLM_DATABASE", "CLM_DUCKDB_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert store.database_path() == expected
    if "CLM_DATABASE" in env:
        assert store.database_path(env["CLM_DATABASE"]) == expected


def test_a_bad_database_url_is_a_one_line_error(capsys):
    from clm_core.__main__ import main

    assert main(["load-demo", "--database", "spark://nohost"]) == 2
    assert capsys.readouterr().err.startswith("error: database URL 'spark://nohost': expected spark://local[N]")


def test_load_takes_a_duckdb_url(csvs, capsys):
    from clm_core.__main__ import main

    database = csvs / "shop.duckdb"
    assert main(["load", "--dataset", "Shop", "--customers", str(csvs / "c.csv"), "--transactions",
                 str(csvs / "t.csv"), "--database", f"duckdb://{database}"]) == 0
    assert f"loaded into {database}" in capsys.readouterr().out
    con = store.connect(database)
    try:
        assert store.table_rows(store.find_dataset(con, "Shop")) == {"customers": 2, "transactions": 2}
    finally:
        con.disconnect()


def test_spark_connect_without_its_packages_is_a_one_line_error(tmp_path, monkeypatch):
    pytest.importorskip("pyspark")
    if __import__("importlib").util.find_spec("grpc") is not None:
        pytest.skip("Spark Connect's client packages are installed: it would try to connect")
    monkeypatch.setattr(backend, "_SESSIONS", {})
    with pytest.raises(ValueError, match=r"Spark Connect needs pyspark's connect extra") as err:
        backend.spark(backend.parse("sc://127.0.0.1:15002"), tmp_path)
    assert "\n" not in str(err.value)
