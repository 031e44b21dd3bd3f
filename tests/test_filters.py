"""Segment filter: attributes, stage, cohort range; applied to metrics; URL query-param round trip."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest

from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics.cohorts import cohort_retention
from clm_core.metrics.nps import nps
from clm_core.metrics.stages import stage_distribution


T = "2024-06-30"
# Stages at T (defaults) and cohorts (month of first purchase):
#   a  web   "Köln, Süd"  first 06-20: T−first 10 < 90 -> new            cohort 2024-06   NPS 10
#   b  web   Berlin       only 01-10: recency 172 > 90 -> at_risk        cohort 2024-01   NPS 0
#   c  shop  Berlin       02-05, 06-01: recency 29, T−first 146, gap 117 -> active   cohort 2024-02   NPS 8
#   d  shop  "Köln, Süd"  no purchase -> prospect                        -                NPS 9
#   e  web   Berlin       05-15: T−first 46 < 90 -> new                  cohort 2024-05   NPS 6
#   f  (only in transactions) 03-01: recency 121 -> at_risk              cohort 2024-03


@pytest.fixture(scope="module")
def ds(load):
    return load(
        customers="""
        customer_id,channel,city
        a,web,"Köln, Süd"
        b,web,Berlin
        c,shop,Berlin
        d,shop,"Köln, Süd"
        e,web,Berlin
        """,
        transactions="""
        customer_id,ordered_at,amount
        a,2024-06-20,10
        b,2024-01-10,10
        c,2024-02-05,10
        c,2024-06-01,10
        e,2024-05-15,10
        f,2024-03-01,10
        """,
        nps="""
        customer_id,answered_at,score
        a,2024-06-25,10
        b,2024-02-01,0
        c,2024-03-01,8
        d,2024-04-01,9
        e,2024-06-01,6
        """,
    )


def counts(dist):
    return {s: n for s, n in zip(dist["stage"], dist["customers"]) if n}


def test_no_filter_baseline(ds):
    assert counts(stage_distribution(ds, T)) == {"prospect": 1, "new": 2, "active": 1, "at_risk": 2}
    assert counts(stage_distribution(ds, T, segment=SegmentFilter())) == counts(stage_distribution(ds, T))


def test_attribute_filter_on_stage_distribution(ds):
    dist = stage_distribution(ds, T, segment=SegmentFilter({"channel": ("web",)}))
    # web: a new, b at_risk, e new
    assert counts(dist) == {"new": 2, "at_risk": 1}
    assert dist.set_index("stage").loc["new", "share"] == pytest.approx(2 / 3)
    # a value with a comma and an umlaut: a new, d prospect
    assert counts(stage_distribution(ds, T, segment=SegmentFilter({"city": ("Köln, Süd",)}))) == {
        "new": 1, "prospect": 1
    }
    # several values of one attribute are alternatives: web or shop = every customer of the file (not f)
    both = stage_distribution(ds, T, segment=SegmentFilter({"channel": ("web", "shop")}))
    assert both["customers"].sum() == 5


def test_stage_filter(ds):
    dist = stage_distribution(ds, T, segment=SegmentFilter(stages=("at_risk", "prospect")))
    assert counts(dist) == {"at_risk": 2, "prospect": 1}  # b, f, d
    # the stage filter uses the same thresholds: with new_days=30 e (46 days) is no longer new -> only a
    config = LifecycleConfig(new_days=30)
    assert counts(stage_distribution(ds, T, config, SegmentFilter(stages=("new",)))) == {"new": 1}


def test_cohort_range_filter(ds):
    # cohorts 2024-02 (c) .. 2024-05 (e): c, f, e; d (no purchase) has no cohort
    dist = stage_distribution(ds, T, segment=SegmentFilter(cohort_from="2024-02", cohort_to="2024-05"))
    assert counts(dist) == {"active": 1, "at_risk": 1, "new": 1}
    only_from = stage_distribution(ds, T, segment=SegmentFilter(cohort_from="2024-05"))
    assert counts(only_from) == {"new": 2}  # e (05), a (06)


def test_combined_filter(ds):
    segment = SegmentFilter({"channel": ("web",), "city": ("Berlin",)})
    assert counts(stage_distribution(ds, T, segment=segment)) == {"at_risk": 1, "new": 1}  # b, e
    segment = SegmentFilter({"channel": ("web",)}, stages=("new",), cohort_from="2024-06")
    assert counts(stage_distribution(ds, T, segment=segment)) == {"new": 1}  # a


def test_filter_on_nps(ds):
    def overall(segment):
        r = nps(ds, T, segment=segment).set_index("scope").loc["all"]
        return r["answers"], r["promoters"], r["passives"], r["detractors"], r["nps"]

    # all: 10, 0, 8, 9, 6 -> 2 P, 1 passive, 2 D -> NPS 0
    assert overall(None) == (5, 2, 1, 2, 0.0)
    # shop: c 8, d 9 -> 1 passive, 1 promoter -> 100 * 1/2 = 50
    assert overall(SegmentFilter({"channel": ("shop",)})) == (2, 1, 1, 0, 50.0)
    # stage new: a 10, e 6 -> 100 * (1 − 1) / 2 = 0
    assert overall(SegmentFilter(stages=("new",))) == (2, 1, 0, 1, 0.0)
    # stage at_risk: b 0 (f never answered) -> −100
    assert overall(SegmentFilter(stages=("at_risk",))) == (1, 0, 0, 1, -100.0)


def test_filter_on_cohort_retention(ds):
    r = cohort_retention(ds, T, segment=SegmentFilter(cohort_from="2024-02", cohort_to="2024-03"))
    # cohorts 2024-02 (c) and 2024-03 (f) only, each with periods up to June
    assert sorted(set(r["cohort"])) == ["2024-02", "2024-03"]
    feb = r[r["cohort"] == "2024-02"].set_index("period")
    # c bought in Feb (period 0) and June (period 4)
    assert feb["active_customers"].tolist() == [1, 0, 0, 0, 1]
    web = cohort_retention(ds, T, segment=SegmentFilter({"channel": ("web",)}))
    # web: b (Jan), e (May), a (June); c and f are left out
    assert sorted(set(web["cohort"])) == ["2024-01", "2024-05", "2024-06"]
    assert set(web["cohort_size"]) == {1}


def test_unknown_attribute_is_an_error(ds):
    with pytest.raises(ValueError, match="no_such"):
        stage_distribution(ds, T, segment=SegmentFilter({"no_such": ("x",)}))
    with pytest.raises(ValueError):
        nps(ds, T, segment=SegmentFilter({"no_such": ("x",)}))


def test_invalid_stage_and_cohort_bounds():
    with pytest.raises(ValueError):
        SegmentFilter(stages=("sleeping",))
    with pytest.raises(ValueError):
        SegmentFilter(cohort_from="2024-13")
    with pytest.raises(ValueError):
        SegmentFilter(cohort_to="03/2024")


# ------------------------------------------------------------------ query params
FULL = SegmentFilter(
    attributes={"city": ("Köln, Süd", "Bad Tölz", "a,b,,c"), "channel": ("web",), "Größe": ("L ",)},
    stages=("new", "at_risk"),
    cohort_from="2024-01",
    cohort_to="2024-06",
)


def test_query_params_round_trip():
    params = FULL.to_query_params()
    assert params["f.city"] == ["Köln, Süd", "Bad Tölz", "a,b,,c"]
    assert params["stage"] == ["new", "at_risk"]
    assert params["cohort_from"] == ["2024-01"] and params["cohort_to"] == ["2024-06"]
    back = SegmentFilter.from_query_params(params)
    assert back == FULL
    assert back.attributes["city"] == ("Köln, Süd", "Bad Tölz", "a,b,,c")
    assert back.attributes["Größe"] == ("L ",)


def test_query_params_round_trip_through_a_url():
    query = urlencode(FULL.to_query_params(), doseq=True)
    assert "," not in query and " " not in query  # everything is percent-encoded
    back = SegmentFilter.from_query_params(parse_qs(query))
    assert back == FULL


def test_empty_filter_round_trip():
    assert SegmentFilter().to_query_params() == {}
    back = SegmentFilter.from_query_params({})
    assert back == SegmentFilter() and back.is_empty()
    # unrelated keys of the view (page, dataset) are ignored
    assert SegmentFilter.from_query_params({"page": "funnel", "dataset": "abc"}).is_empty()


def test_single_string_values_equal_one_element_lists():
    as_strings = SegmentFilter.from_query_params(
        {"f.city": "Köln, Süd", "stage": "new", "cohort_from": "2024-01", "cohort_to": "2024-02"}
    )
    as_lists = SegmentFilter.from_query_params(
        {"f.city": ["Köln, Süd"], "stage": ["new"], "cohort_from": ["2024-01"], "cohort_to": ["2024-02"]}
    )
    assert as_strings == as_lists
    # a string is one value: its comma does not split it
    assert as_strings.attributes == {"city": ("Köln, Süd",)}
    assert as_strings.stages == ("new",)
    assert (as_strings.cohort_from, as_strings.cohort_to) == ("2024-01", "2024-02")
