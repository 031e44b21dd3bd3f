"""Derived tables: customer_days' place of each day among purchase days, the stored per-customer
summary (read instead of customer_days when T is on or after the data's last day) and upgrades."""

from __future__ import annotations

import datetime as dt

import pytest

from clm_core import ingest, store
from clm_core.derived import outdated, per_customer_totals
from clm_core.metrics.common import customer_totals

TRANSACTIONS = """
customer_id,ordered_at,amount
a,2024-01-01,10
a,2024-01-01,5
a,2024-01-03,-4
a,2024-01-05,7
a,2024-02-01,3
b,2024-01-02,-9
b,2024-01-04,20
c,2024-01-03,-2
"""


@pytest.fixture
def ds(make_dataset):
    return make_dataset(transactions=TRANSACTIONS)


def by_customer(table):
    return table.order_by("customer_id").execute().set_index("customer_id")


def test_customer_days_places_each_day_among_purchase_days(ds):
    days = ds.require("customer_days").order_by(["customer_id", "day"]).execute()
    a = days[days.customer_id == "a"]
    assert a.purchase_number.isna().tolist() == [False, True, False, False]  # 01-03 is a return only
    assert a.purchase_number.dropna().astype(int).tolist() == [1, 2, 3]
    assert [day(d) for d in a.previous_purchase_day.tolist()] == ["NaT", "2024-01-01", "2024-01-01", "2024-01-05"]
    assert {day(d) for d in a.first_purchase_day} == {"2024-01-01"}
    assert a.purchases.tolist() == [2, 0, 1, 1]
    c = days[days.customer_id == "c"]
    assert c.purchase_number.isna().all() and c.first_purchase_day.isna().all()


def day(value) -> str:
    return str(value)[:10]


def test_summary_holds_the_totals(ds):
    totals = by_customer(ds.require("customer_summary"))
    a = totals.loc["a"]
    assert (a.n, a.recent_days, a.total, a.first_amount, a.historic_value) == (3, 3, 25.0, 15.0, 21.0)
    assert (day(a["first"]), day(a["second"]), day(a["last"]), day(a["previous"])) == (
        "2024-01-01", "2024-01-05", "2024-02-01", "2024-01-05")
    assert totals.loc["c"].n == 0 and totals.loc["b"].historic_value == 11.0


def test_summary_equals_the_aggregate_from_customer_days_at_the_last_day(ds):
    end = dt.date(2024, 2, 1)
    stored = by_customer(customer_totals(ds, end))
    days = ds.require("customer_days")
    assert customer_totals(ds, end).get_name() == ds.require("customer_summary").get_name()
    computed = by_customer(per_customer_totals(days.filter(days.day <= end), end))
    assert stored.equals(computed)
    # A later as-of date aggregates customer_days: the same purchases, fewer of them recent.
    later = by_customer(customer_totals(ds, dt.date(2025, 1, 15)))
    assert later.drop(columns="recent_days").equals(stored.drop(columns="recent_days"))
    assert later.loc["a"].recent_days == 1 and stored.loc["a"].recent_days == 3


def test_earlier_as_of_aggregates_customer_days(ds):
    early = by_customer(customer_totals(ds, dt.date(2024, 1, 4)))
    a = early.loc["a"]
    assert (a.n, day(a["last"]), a.historic_value) == (1, "2024-01-01", 11.0)
    assert early.loc["b"].n == 1 and "c" in early.index


def test_a_dataset_from_an_older_version_is_upgraded(ds):
    db = store.raw(ds.con)
    db.execute(f"DROP TABLE {ds.schema}.customer_summary")
    db.execute(f"ALTER TABLE {ds.schema}.customer_days DROP COLUMN purchase_number")
    ds.refresh()
    version = ds.version
    assert outdated(ds)
    assert ingest.upgrade_derived(ds)
    assert not outdated(ds) and ds.version == version + 1
    assert by_customer(ds.require("customer_summary")).loc["a"].n == 3
    assert not ingest.upgrade_derived(ds)


def test_a_failed_change_leaves_the_dataset_as_it_was(ds):
    version = ds.version
    with pytest.raises(RuntimeError):
        with store.changing(ds) as bound:
            store.raw(bound.con).execute(f"DROP TABLE {ds.schema}.customer_summary")
            raise RuntimeError("boom")
    assert ds.has("customer_summary") and ds.version == version
    store.delete_dataset(ds)
    assert store.list_datasets(ds.con) == [] and not ds.has("customer_days")
