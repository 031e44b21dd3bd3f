"""NPS against lifecycle stage, retention and value: hand-computed on a tiny dataset."""

from __future__ import annotations

import math
import textwrap

import pytest

from clm_core import ingest, store
from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.metrics.nps_relations import nps_by_stage, nps_group_customers, value_by_nps_group


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nps_relations")
    con = store.connect(folder / "test.duckdb")
    dataset = store.create_dataset(con, "fixture")
    tables = {
        "customers": """
            customer_id,channel
            a,web
            b,web
            c,web
            d,shop
            e,shop
            f,shop
            g,shop
            h,shop
            """,
        # T = 2024-06-30, default thresholds (new 90, at_risk 90, churn 180, loyal 4):
        # a: buys 01-10, 06-01 -> recency 29, age 172, gap 143, 2 days in the year; latest answer 10 -> loyal
        # b: buys 06-20 (100), refund 06-25 (-20) -> age 10 -> new; value 80, 1 purchase day
        # c: buys 2023-10-01 (200) -> recency 273 > 180 -> churned
        # d: buys 02-01, 03-01 (40 each) -> recency 121 > 90 -> at_risk; value 80, 2 purchase days
        # e: no purchase -> prospect;  f: buys 05-01 (60) -> new;  g: nothing -> prospect
        # h: buys 06-10 (30) -> new
        "transactions": """
            customer_id,ordered_at,amount
            a,2024-01-10,50
            a,2024-06-01,30
            b,2024-06-20,100
            b,2024-06-25,-20
            c,2023-10-01,200
            d,2024-02-01,40
            d,2024-03-01,40
            f,2024-05-01,60
            h,2024-06-10,30
            """,
        # c's 07-05 answer is after T and never counts
        "nps": """
            customer_id,answered_at,score
            a,2024-03-01,3
            a,2024-06-15,10
            b,2024-06-21,8
            c,2024-02-01,2
            c,2024-05-01,8
            c,2024-07-05,10
            d,2024-04-01,7
            e,2024-05-01,9
            h,2024-06-12,0
            """,
    }
    sources = {}
    for name, text in tables.items():
        path = folder / f"{name}.csv"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        sources[name] = path
    ingest.load(dataset, sources)
    yield dataset
    con.disconnect()


T = "2024-06-30"


def rows(frame, key):
    return frame.set_index(key)


def test_nps_by_stage(ds):
    r = nps_by_stage(ds, T)
    # lifecycle order, only stages with answers
    assert r["stage"].tolist() == ["prospect", "new", "at_risk", "loyal", "churned"]
    r = rows(r, "stage")
    # prospect: e 9 -> 1 promoter, NPS 100, margin 0 (p = 1)
    assert tuple(r.loc["prospect", ["answers", "promoters", "passives", "detractors"]]) == (1, 1, 0, 0)
    assert r.loc["prospect", "nps"] == pytest.approx(100.0)
    assert r.loc["prospect", "margin_of_error"] == pytest.approx(0.0)
    # new: b 8, h 0 -> 1 passive, 1 detractor; NPS = -50; p = 0, d = 0.5: (0.5 - 0.25) / 2 = 0.125,
    # sqrt = 0.353553 -> 196 * 0.353553 = 69.2965
    assert tuple(r.loc["new", ["answers", "promoters", "passives", "detractors"]]) == (2, 0, 1, 1)
    assert r.loc["new", "nps"] == pytest.approx(-50.0)
    assert r.loc["new", "margin_of_error"] == pytest.approx(69.2965, abs=1e-3)
    # at_risk: d 7 -> NPS 0
    assert (r.loc["at_risk", "answers"], r.loc["at_risk", "nps"]) == (1, pytest.approx(0.0))
    # loyal: a 3 and 10 -> 1 promoter, 1 detractor -> NPS 0
    assert tuple(r.loc["loyal", ["answers", "promoters", "detractors"]]) == (2, 1, 1)
    assert r.loc["loyal", "nps"] == pytest.approx(0.0)
    # churned: c 2 and 8 (the 07-05 answer is after T) -> NPS = 100 * (0 - 1) / 2 = -50
    assert tuple(r.loc["churned", ["answers", "passives", "detractors"]]) == (2, 1, 1)
    assert r.loc["churned", "nps"] == pytest.approx(-50.0)
    assert r["too_small"].all()


def test_nps_by_stage_since(ds):
    # answers after 03-31: a 10, b 8, c 8, d 7, e 9, h 0 (a's 3 of 03-01 and c's 2 of 02-01 drop out)
    r = rows(nps_by_stage(ds, T, since="2024-03-31"), "stage")
    assert list(r.index) == ["prospect", "new", "at_risk", "loyal", "churned"]
    assert (r.loc["loyal", "answers"], r.loc["loyal", "nps"]) == (1, pytest.approx(100.0))
    # churned: only c's 8 of 05-01 -> one passive, NPS 0
    assert (r.loc["churned", "answers"], r.loc["churned", "passives"], r.loc["churned", "nps"]) == (
        1, 1, pytest.approx(0.0))


def test_nps_by_stage_follows_the_thresholds(ds):
    # churn_days 100: d (recency 121) is now churned -> churned answers c 2, c 8, d 7:
    # 2 passives, 1 detractor -> NPS = -100 / 3
    config = LifecycleConfig(at_risk_days=30, churn_days=100)
    r = rows(nps_by_stage(ds, T, config=config), "stage")
    assert "at_risk" not in r.index
    assert tuple(r.loc["churned", ["answers", "passives", "detractors"]]) == (3, 2, 1)
    assert r.loc["churned", "nps"] == pytest.approx(-100 / 3)


def test_nps_by_stage_segment(ds):
    r = rows(nps_by_stage(ds, T, segment=SegmentFilter({"channel": ("web",)})), "stage")
    # web: a (loyal: 3, 10), b (new: 8), c (churned: 2, 8)
    assert list(r.index) == ["new", "loyal", "churned"]
    assert r["answers"].tolist() == [1, 2, 2]


def test_nps_by_stage_without_answers(ds):
    r = nps_by_stage(ds, "2023-12-31")
    assert r.empty and list(r.columns)[0] == "stage"


def test_value_by_nps_group(ds):
    r = value_by_nps_group(ds, T)
    assert r["group"].tolist() == ["promoter", "passive", "detractor", "no_answer"]
    r = rows(r, "group")
    # latest answer <= T: a 10, e 9 -> promoters; b 8, c 8, d 7 -> passives; h 0 -> detractor; f, g none
    assert r["customers"].tolist() == [2, 3, 1, 2]
    # promoters: a value 80 (loyal, 2 days), e 0 (prospect, 0 days)
    assert r.loc["promoter", "mean_historic_value"] == pytest.approx(40.0)
    assert r.loc["promoter", "active_share"] == pytest.approx(0.5)
    assert r.loc["promoter", "mean_purchase_days"] == pytest.approx(1.0)
    # passives: b 80 (new, 1 day; the refund day is no purchase day), c 200 (churned, 1), d 80 (at_risk, 2)
    assert r.loc["passive", "mean_historic_value"] == pytest.approx(120.0)
    assert r.loc["passive", "active_share"] == pytest.approx(1 / 3)
    assert r.loc["passive", "mean_purchase_days"] == pytest.approx(4 / 3)
    # detractor: h 30 (new, 1 day)
    assert tuple(r.loc["detractor", ["mean_historic_value", "active_share", "mean_purchase_days"]]) == (
        pytest.approx(30.0), pytest.approx(1.0), pytest.approx(1.0))
    # no answer: f 60 (new, 1 day), g 0 (prospect, 0 days)
    assert tuple(r.loc["no_answer", ["mean_historic_value", "active_share", "mean_purchase_days"]]) == (
        pytest.approx(30.0), pytest.approx(0.5), pytest.approx(0.5))


def test_value_by_nps_group_segment_and_empty_group(ds):
    r = rows(value_by_nps_group(ds, T, segment=SegmentFilter({"channel": ("web",)}), include_unanswered=False),
             "group")
    # web: a promoter (80), b and c passives (80, 200); no detractor
    assert list(r.index) == ["promoter", "passive", "detractor"]
    assert r["customers"].tolist() == [1, 2, 0]
    assert r.loc["passive", "mean_historic_value"] == pytest.approx(140.0)
    assert r.loc["passive", "active_share"] == pytest.approx(0.5)
    assert math.isnan(r.loc["detractor", "mean_historic_value"])


def test_value_by_nps_group_earlier_t(ds):
    # T = 04-15: c's latest answer is 2 (02-01) -> detractor; a's latest is 3 -> detractor; d 7 (04-01) passive
    # a: buys 01-10 only -> age 96, recency 96 -> at_risk; c: recency 197 -> churned; d: recency 45, age 74 -> new
    r = rows(value_by_nps_group(ds, "2024-04-15"), "group")
    assert r.loc["detractor", "customers"] == 2
    assert r.loc["detractor", "mean_historic_value"] == pytest.approx(125.0)  # (50 + 200) / 2
    assert r.loc["detractor", "active_share"] == pytest.approx(0.0)
    assert (r.loc["passive", "customers"], r.loc["passive", "active_share"]) == (1, pytest.approx(1.0))
    # b, e, f, h are first seen after T and not counted; g (never dated) is known and has no answer
    assert r.loc["promoter", "customers"] == 0
    assert r.loc["no_answer", "customers"] == 1


def test_nps_group_customers(ds):
    ids = lambda group, **kw: sorted(nps_group_customers(ds, T, group=group, **kw).execute()["customer_id"])
    assert ids("passive") == ["b", "c", "d"]
    assert ids("promoter") == ["a", "e"]
    assert ids("no_answer") == ["f", "g"]
    # only answers after 06-13 count: a 10 (06-15), b 8 (06-21); h's 0 of 06-12 drops out
    assert ids("detractor", since="2024-06-13") == []
    assert ids("no_answer", since="2024-06-13") == ["c", "d", "e", "f", "g", "h"]
    with pytest.raises(ValueError):
        nps_group_customers(ds, T, group="fans")
