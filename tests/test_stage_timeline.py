"""The stage timeline (stored ``customer_purchases`` and ``stage_changes``) gives exactly the stage
distribution of the per-customer rules (``customer_stages``) at any date, filter and thresholds.

The reference is the rule-by-rule evaluation of DESIGN §3.1 per customer, which tests/test_stages.py
checks by hand; here every day around the rules fixture's boundaries and a seeded demo at month-ends,
mid-month, before the first order and after the last are compared with it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clm_core import store
from clm_core.config import STAGES, LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics import stages
from clm_core.metrics.stages import (
    counts_from_timeline,
    customer_stages,
    stage_distribution,
    stage_history,
    stage_timeline,
    timeline_supported,
)
from tests.test_stages import ANSWERS, EXPECTED, PURCHASES, T, _csv, ago


def aggregated(ds):
    """The dataset as if it had none of the stored per-customer facts: stages then aggregate ``customer_days``
    per customer at each date, the path the timeline and ``customer_purchases`` must agree with."""
    plain = store.Dataset(ds.con, ds.id, ds.name)
    object.__setattr__(plain, "_tables", ds.tables() - {"customer_summary", "customer_purchases", "stage_changes"})
    return plain


def reference(ds, as_of, config=None, segment=None) -> dict[str, int]:
    """Customers per stage at ``as_of`` from the per-customer rules (zero stages left out)."""
    frame = customer_stages(aggregated(ds), as_of, config, segment)
    counts = frame.group_by("stage").aggregate(n=frame.count()).execute()
    return {s: int(n) for s, n in zip(counts["stage"], counts["n"]) if n}


def from_timeline(timeline, as_of) -> dict[str, int]:
    counts = counts_from_timeline(timeline, [as_of])
    return dict(zip(counts["stage"], counts["customers"].astype(int)))


@pytest.fixture(scope="module")
def rules_ds(load):
    customers = [c for c in [*PURCHASES, *ANSWERS, "prospect_plain"] if c not in ("only_in_tx", "only_in_nps")]
    return load(
        # created at different days, so the known customers grow over the compared range
        customers=_csv("customer_id,created_at", [(c, ago(400 - 7 * i)) for i, c in enumerate(dict.fromkeys(customers))]),
        transactions=_csv(
            "customer_id,ordered_at,amount", [(c, ago(n), a) for c, rows in PURCHASES.items() for n, a in rows]
        ),
        nps=_csv("customer_id,answered_at,score", [(c, ago(n), s) for c, rows in ANSWERS.items() for n, s in rows]),
    )


def test_hand_computed_distribution_at_t(rules_ds):
    timeline = stage_timeline(rules_ds)
    # the rules fixture's customers are all known at T (created up to 400 - 7*30 days before)
    assert from_timeline(timeline, T) == {stage: len(names.split()) for stage, names in EXPECTED.items()}


def test_days_around_every_boundary_equal_the_rules(rules_ds):
    """Every third day from before the first transaction to after the last, and every day around T, so
    the boundaries (90, 180, 365 days, the NPS answers, the next purchase) are crossed on both sides."""
    timeline = stage_timeline(rules_ds)
    days = sorted({T - dt.timedelta(days=n) for n in [*range(-10, 420, 3), *range(-3, 4)]})
    counts = counts_from_timeline(timeline, days)
    for day in days:
        got = counts[counts["as_of"] == day]
        assert dict(zip(got["stage"], got["customers"].astype(int))) == reference(rules_ds, day), day


def test_other_thresholds_are_computed_not_read(rules_ds):
    config = LifecycleConfig(new_days=30, at_risk_days=60, churn_days=120)
    timeline = stage_timeline(rules_ds, config)
    for n in (-5, 0, 29, 30, 31, 59, 60, 61, 119, 120, 121, 200, 364, 365, 366):
        day = T - dt.timedelta(days=n)
        assert from_timeline(timeline, day) == reference(rules_ds, day, config), day


def test_stored_changes_equal_the_query(rules_ds):
    def rows(table):
        frame = table.execute().astype({"change": "int64"})
        return frame.sort_values(["day", "stage"], na_position="first", ignore_index=True)

    stored, computed = rows(rules_ds.table("stage_changes")), rows(stages.stage_changes(rules_ds))
    pd.testing.assert_frame_equal(stored, computed)
    assert len(stored) > 0


def test_settings_the_timeline_cannot_serve(rules_ds):
    assert timeline_supported(rules_ds, LifecycleConfig(), SegmentFilter({"segment": ("x",)}))
    assert not timeline_supported(rules_ds, LifecycleConfig(loyal_orders=3))
    assert not timeline_supported(rules_ds, None, SegmentFilter(stages=("new",)))
    assert not timeline_supported(rules_ds, None, SegmentFilter(cohort_from="2024-01"))
    with pytest.raises(ValueError):
        stage_timeline(rules_ds, LifecycleConfig(loyal_orders=3))
    # those settings still get their distribution, date by date from the rules
    config = LifecycleConfig(loyal_orders=3)
    expected = reference(rules_ds, T, config)
    got = stage_distribution(rules_ds, T, config)
    assert {s: int(n) for s, n in zip(got["stage"], got["customers"]) if n} == expected


# ------------------------------------------------------------------ a seeded demo: dates, filters, history

@pytest.fixture(scope="module")
def demo_ds(tmp_path_factory, demo_paths):
    from clm_core import ingest

    con = store.connect(tmp_path_factory.mktemp("timeline") / "demo.duckdb")
    dataset = store.create_dataset(con, "Demo")
    ingest.load(dataset, demo_paths)
    yield dataset
    con.disconnect()


def _dates(ds) -> list[dt.date]:
    end = stages.resolve_as_of(ds)
    days = ds.table("customer_days")
    first = days.day.min().execute()
    first = first.date() if hasattr(first, "date") else first
    return [
        end,  # the data's last day (the default as-of date)
        end + dt.timedelta(days=45),  # after the last order
        first - dt.timedelta(days=1),  # before the first order
        first,
        dt.date(end.year, end.month, 1) - dt.timedelta(days=1),  # a month-end
        dt.date(end.year - 1, end.month, 15),  # mid-month a year earlier
        end - dt.timedelta(days=365),
    ]


@pytest.mark.parametrize("segment", [
    None,
    SegmentFilter({"channel": ("Email", "Social")}),
    SegmentFilter({"segment": ("Premium",)}),
], ids=["all", "channel", "segment"])
def test_demo_distribution_equals_the_rules(demo_ds, segment):
    for day in _dates(demo_ds):
        got = stage_distribution(demo_ds, day, segment=segment)
        assert list(got["stage"]) == list(STAGES)
        assert {s: int(n) for s, n in zip(got["stage"], got["customers"]) if n} == reference(
            demo_ds, day, segment=segment), day


def test_demo_customer_list_filter(demo_ds):
    ids = customer_stages(demo_ds).execute()["customer_id"].tolist()[::7]
    segment = SegmentFilter(customer_list=store.save_customer_list(demo_ds.con, ids))
    for day in _dates(demo_ds)[:3]:
        got = stage_distribution(demo_ds, day, segment=segment)
        assert {s: int(n) for s, n in zip(got["stage"], got["customers"]) if n} == reference(
            demo_ds, day, segment=segment)


def test_demo_history_equals_month_by_month(demo_ds):
    end = stages.resolve_as_of(demo_ds)
    history = stage_history(demo_ds, end, months=30)  # reaches before the first order
    for month, rows in history.groupby("month"):
        year, number = map(int, month.split("-"))
        last = dt.date(year + number // 12, number % 12 + 1, 1) - dt.timedelta(days=1)
        day = min(last, end)
        got = {s: int(n) for s, n in zip(rows["stage"], rows["customers"]) if n}
        assert got == reference(demo_ds, day), month
    assert history.groupby("month")["share"].sum().round(12).eq(1).all()


def framework_reference(ds, as_of, segment=None) -> dict[str, int]:
    """Customers per stage key (prospects split by whether they have an event ≤ as_of) from the rules."""
    frame = customer_stages(aggregated(ds), as_of, None, segment).execute()
    keys = [("prospect_interested" if i else "prospect_aware") if s == "prospect" else s
            for s, i in zip(frame["stage"], frame["interested"])]
    return {k: n for k, n in pd.Series(keys).value_counts().items()}


@pytest.mark.parametrize("segment", [None, SegmentFilter({"channel": ("Email", "Social")})], ids=["all", "channel"])
def test_demo_prospects_split_by_events(demo_ds, segment):
    assert demo_ds.has("events")
    timeline = stage_timeline(demo_ds, None, segment)
    for day in _dates(demo_ds):
        counts = counts_from_timeline(timeline, [day], split_prospects=True)
        got = dict(zip(counts["stage"], counts["customers"].astype(int)))
        assert got == framework_reference(demo_ds, day, segment), day
    assert got.get("prospect_interested", 0) > 0  # the demo has prospects with events


def test_customer_stages_from_purchases_equal_the_aggregation(demo_ds):
    """Per customer, at dates other than the data's last day (where customer_purchases is read)."""
    for day in _dates(demo_ds)[1:]:
        fast = customer_stages(demo_ds, day).execute().sort_values("customer_id", ignore_index=True)
        slow = customer_stages(aggregated(demo_ds), day).execute().sort_values("customer_id", ignore_index=True)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=False)


@pytest.mark.parametrize("segment", [None, SegmentFilter({"channel": ("Email",)}), SegmentFilter(stages=("new",))],
                         ids=["all", "channel", "stage"])
def test_demo_migration_equals_pairs_of_stages(demo_ds, segment):
    """Customers by (stage at start, stage at end) equal the pairs of the two dates' per-customer stages."""
    end = stages.resolve_as_of(demo_ds)
    for start, stop in [(end - dt.timedelta(days=91), end), (dt.date(end.year - 1, 3, 15), dt.date(end.year, 1, 31))]:
        a = customer_stages(demo_ds, start, None, segment).execute()
        b = customer_stages(demo_ds, stop, None, segment).execute()
        pairs = a.merge(b, on="customer_id").groupby(["stage_x", "stage_y"]).size()
        got = stages.stage_migration(demo_ds, start, stop, segment=segment)
        got = got[got["customers"] > 0].set_index(["from_stage", "to_stage"])["customers"]
        assert got.to_dict() == pairs.to_dict(), (start, stop)


@pytest.mark.parametrize("segment", [None, SegmentFilter({"channel": ("Email",)})], ids=["all", "channel"])
def test_mean_historic_value_of_purchasers(demo_ds, segment):
    """The Overview card: the mean of historic_value over the customers of rfm_summary, at several dates."""
    from clm_core.metrics import clv

    for day in _dates(demo_ds):
        summary = clv.rfm_summary(demo_ds, day, segment)
        got = clv.mean_historic_value(demo_ds, day, segment)
        if summary.empty:
            assert got != got  # NaN
        else:
            assert got == pytest.approx(summary["historic_value"].mean(), rel=1e-12)


def test_known_count_is_the_distribution_total(demo_ds):
    """The page's 'does the filter keep anybody' check counts what the distribution counts."""
    for segment in (None, SegmentFilter({"channel": ("Email",)}), SegmentFilter(stages=("loyal",))):
        for day in _dates(demo_ds)[:4]:
            total = int(stage_distribution(demo_ds, day, segment=segment)["customers"].sum())
            assert stages.known_count(demo_ds, day, segment) == total
