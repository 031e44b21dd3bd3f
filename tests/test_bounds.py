"""Bounds of link and widget values (clm_core.bounds) and the query time limit (clm_core.watchdog)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import duckdb
import ibis
import pytest

from clm_core import bounds, watchdog
from clm_core.bounds import DAYS, FRACTION, MONTHS, PERCENT, OutOfBounds


# ----------------------------------------------------------------------------------------- bounds

@pytest.mark.parametrize("text, expected", [("1", 1), ("3650", 3650), (" 365 ", 365), (7, 7), (30.0, 30)])
def test_days_accept_their_edges(text, expected):
    value = DAYS.parse(text)
    assert value == expected and type(value) is int


@pytest.mark.parametrize("text", ["0", "3651", "-1", "99999999999999999999999", "1" * 5000, "nan", "inf", "",
                                  "1.5", "1e3", "ten", 0, 3651, 1.5, float("nan"), True, None])
def test_days_refuse_anything_else(text):
    with pytest.raises(OutOfBounds):
        DAYS.parse(text)
    assert not DAYS.accepts(text)


def test_fractions_and_percentages_refuse_nan_and_infinity():
    assert FRACTION.parse("0") == 0.0 and FRACTION.parse("1") == 1.0 and FRACTION.parse("0.25") == 0.25
    assert PERCENT.parse("100") == 100.0 and PERCENT.parse("12.5") == 12.5
    for text in ("nan", "NaN", "inf", "-inf", "1e400", "1.0000001", "-0.1"):
        assert not FRACTION.accepts(text), text
    for value in (float("nan"), float("inf"), 100.5, -1e-9):
        assert not PERCENT.accepts(value), value


def test_months_are_one_to_120():
    assert MONTHS.parse("1") == 1 and MONTHS.parse("120") == 120
    assert not MONTHS.accepts("0") and not MONTHS.accepts("121")


def test_widget_gets_the_same_bounds():
    assert DAYS.widget() == {"min_value": 1, "max_value": 3650}
    assert PERCENT.widget() == {"min_value": 0.0, "max_value": 100.0}


def test_shared_thresholds_are_declared_once():
    assert bounds.PARAMS["new_days"] is DAYS and bounds.PARAMS["churn_days"] is DAYS
    assert bounds.PARAMS["loyal_orders"].accepts("4") and not bounds.PARAMS["loyal_orders"].accepts("0")


def test_dates_are_clamped_to_the_data():
    first, last = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
    assert bounds.clamp_date(dt.date(9999, 12, 31), first, last) == last
    assert bounds.clamp_date(dt.date(1, 1, 1), first, last) == first
    assert bounds.clamp_date(dt.date(2024, 1, 1), first, last) == dt.date(2024, 1, 1)
    assert bounds.parse_date("2024-02-29") == dt.date(2024, 2, 29)
    for text in ("2023-02-29", "9999-99-99", "tomorrow", "", "20240101", None):
        with pytest.raises(OutOfBounds):
            bounds.parse_date(text)


def test_query_seconds_from_the_environment():
    assert bounds.query_seconds({}) == 60.0
    assert bounds.query_seconds({"CLM_QUERY_SECONDS": "5"}) == 5.0
    for bad in ("0", "-3", "nan", "inf", "1e9", "soon"):
        assert bounds.query_seconds({"CLM_QUERY_SECONDS": bad}) == 60.0, bad


# ----------------------------------------------------------------------------------------- time limit

SLOW = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = 7"


@pytest.fixture
def cursor():
    con = duckdb.connect(":memory:")
    cur = con.cursor()
    backstop = threading.Timer(30, cur.interrupt)  # a broken watchdog fails the test instead of hanging it
    backstop.start()
    yield cur
    backstop.cancel()
    cur.close()
    con.close()


def test_a_slow_query_is_interrupted_at_the_time_limit(cursor):
    started = time.monotonic()
    with pytest.raises(watchdog.Stopped) as stopped:
        with watchdog.time_limited(cursor, 0.5, poll=0.05):
            cursor.execute(SLOW).fetchall()
    elapsed = time.monotonic() - started
    assert stopped.value.reason == "time" and stopped.value.seconds == 0.5
    assert 0.45 <= elapsed < 5, elapsed
    assert isinstance(stopped.value.__cause__, duckdb.InterruptException)
    assert cursor.execute("SELECT 42").fetchone() == (42,)  # the cursor still works afterwards


def test_a_slow_query_is_interrupted_when_its_session_is_gone(cursor):
    gone = threading.Event()
    threading.Timer(0.3, gone.set).start()
    started = time.monotonic()
    with pytest.raises(watchdog.Stopped) as stopped:
        with watchdog.time_limited(cursor, 600, still_wanted=lambda: not gone.is_set(), poll=0.05):
            cursor.execute(SLOW).fetchall()
    assert stopped.value.reason == "gone"
    assert time.monotonic() - started < 5


def test_an_ibis_backend_and_cursors_opened_inside_are_watched(cursor):
    backend = ibis.duckdb.from_connection(cursor)
    other = cursor.cursor()
    with pytest.raises(watchdog.Stopped):
        with watchdog.time_limited(backend, 0.3, poll=0.05) as watch:
            watch.watch(other)
            other.execute(SLOW).fetchall()
    other.close()


def test_a_stop_between_two_queries_still_fails_the_block(cursor):
    # the limit passes while Python works; the next query is interrupted, and the block raises either way
    with pytest.raises(watchdog.Stopped):
        with watchdog.time_limited(cursor, 0.2, poll=0.05):
            time.sleep(0.4)
    with pytest.raises(watchdog.Stopped):
        with watchdog.time_limited(cursor, 0.2, poll=0.05):
            time.sleep(0.4)
            cursor.execute(SLOW).fetchall()


def test_a_normal_query_is_unaffected(cursor):
    with watchdog.time_limited(cursor, 5, still_wanted=lambda: True, poll=0.05) as watch:
        assert cursor.execute("SELECT sum(range) FROM range(1000)").fetchone() == (499500,)
    assert watch.reason is None
    assert cursor.execute("SELECT 1").fetchone() == (1,)  # no interrupt left behind


def test_other_errors_pass_through(cursor):
    with pytest.raises(duckdb.CatalogException):
        with watchdog.time_limited(cursor, 5):
            cursor.execute("SELECT * FROM no_such_table")
