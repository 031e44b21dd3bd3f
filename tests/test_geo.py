"""Customer locations per city / cell / country (the Map page) and the customer value helpers, hand-computed."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

from clm_core import ingest, store
from clm_core.filters import SegmentFilter
from clm_core.metrics import clv, geo
from clm_core.models import rfm

T = "2024-06-30"

# Stages at T = 2024-06-30 (defaults: at_risk after 90 days, churned after 180, new for 90 days):
#   a  Berlin  (52.0, 13.0)   bought 01-01 (100), returned 06-01 (-30)  -> recency 181: churned, revenue 70
#   b  Berlin  (53.0, 14.0)   bought 06-20 (50)                        -> new, revenue 50
#   c  Berlin  no coordinates bought 2023-10-01 (40)                   -> churned, revenue 40
#   p  Berlin  (52.5, 13.5)   no transactions                          -> prospect
#   d  Wien    (48.2, 16.4)   bought 06-25 (200) and 07-05 (999, after T) -> new, revenue 200
#   e  AT, no city (47.0, 15.0), no transactions                      -> prospect
#   g  Graz    no coordinates bought 02-01 (80)                         -> recency 150: at_risk, revenue 80
#   z  only in transactions (no location): bought 06-10 (10)           -> new, revenue 10
#   r  only in transactions: bought 05-01 (20), returned 05-02 (-50)   -> new, revenue -30
CUSTOMERS = """
customer_id,country,city,latitude,longitude
a,DE,Berlin,52.0,13.0
b,DE,Berlin,53.0,14.0
c,DE,Berlin,,
p,DE,Berlin,52.5,13.5
d,AT,Wien,48.2,16.4
e,AT,,47.0,15.0
g,AT,Graz,,
"""
TRANSACTIONS = """
customer_id,ordered_at,amount
a,2024-01-01,100
a,2024-06-01,-30
b,2024-06-20,50
c,2023-10-01,40
d,2024-06-25,200
d,2024-07-05,999
g,2024-02-01,80
z,2024-06-10,10
r,2024-05-01,20
r,2024-05-02,-50
"""


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The fixture above, loaded once for the module (the tests only read it)."""
    folder = tmp_path_factory.mktemp("geo")
    con = store.connect(folder / "geo.duckdb")
    dataset = store.create_dataset(con, "places")
    sources = {}
    for table, text in (("customers", CUSTOMERS), ("transactions", TRANSACTIONS)):
        sources[table] = folder / f"{table}.csv"
        sources[table].write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    ingest.load(dataset, sources)
    yield dataset
    con.disconnect()


def rows(frame, *keys):
    """Frame rows as dicts keyed by a tuple of ``keys`` (None for missing)."""
    out = {}
    for record in frame.to_dict("records"):
        key = tuple(None if pd.isna(record[k]) else record[k] for k in keys)
        out[key if len(key) > 1 else key[0]] = record
    return out


def test_locations_per_city(places):
    frame = geo.locations(places, T)
    assert list(frame.columns) == ["country", "city", "latitude", "longitude", "customers", "located", "buyers",
                                   "at_risk_customers", "revenue", "at_risk_share"]
    by = rows(frame, "country", "city")
    assert set(by) == {("DE", "Berlin"), ("AT", "Wien"), ("AT", "Graz"), ("AT", None), (None, None)}
    berlin = by[("DE", "Berlin")]
    # a, b, c, p; mean position of the three with coordinates (a, b, p); buyers a, b, c; a and c churned;
    # revenue 100 − 30 + 50 + 40 = 160 (the return counts, the prospect adds nothing)
    assert (berlin["customers"], berlin["located"], berlin["buyers"], berlin["at_risk_customers"]) == (4, 3, 3, 2)
    assert (berlin["latitude"], berlin["longitude"]) == pytest.approx((52.5, 13.5))
    assert berlin["revenue"] == pytest.approx(160.0)
    assert berlin["at_risk_share"] == pytest.approx(2 / 3)
    wien = by[("AT", "Wien")]
    # d's purchase after T (999) is not counted
    assert (wien["customers"], wien["buyers"], wien["at_risk_customers"], wien["revenue"]) == (1, 1, 0, 200.0)
    assert (wien["latitude"], wien["longitude"]) == pytest.approx((48.2, 16.4))
    assert wien["at_risk_share"] == 0.0
    graz = by[("AT", "Graz")]
    # a city without any customer with coordinates has no position
    assert (graz["customers"], graz["located"], graz["at_risk_customers"], graz["revenue"]) == (1, 0, 1, 80.0)
    assert math.isnan(graz["latitude"]) and graz["at_risk_share"] == 1.0
    no_city = by[("AT", None)]
    # e has coordinates but no city: counted, not placed; no buyer -> share undefined
    assert (no_city["customers"], no_city["located"], no_city["buyers"]) == (1, 1, 0)
    assert math.isnan(no_city["latitude"]) and math.isnan(no_city["at_risk_share"])
    nowhere = by[(None, None)]
    # z and r exist only in transactions: revenue 10 + 20 − 50 = −20
    assert (nowhere["customers"], nowhere["buyers"], nowhere["at_risk_customers"]) == (2, 2, 0)
    assert nowhere["revenue"] == pytest.approx(-20.0)
    # every customer known at T is in exactly one row
    assert frame["customers"].sum() == 9
    # largest places first, places without a city last
    assert [r for r in frame["city"].head(3)] == ["Berlin", "Graz", "Wien"]
    assert frame["city"].tail(2).isna().all()


def test_locations_as_of_earlier(places):
    # T = 03-31: b, d, z, r are not known yet (first seen later); a bought 90 days before (active),
    # the return of 06-01 has not happened: Berlin revenue 100 + 40, c churned -> 1 of 2 buyers at risk
    by = rows(geo.locations(places, "2024-03-31"), "country", "city")
    berlin = by[("DE", "Berlin")]
    assert (berlin["customers"], berlin["buyers"], berlin["at_risk_customers"]) == (3, 2, 1)
    assert berlin["revenue"] == pytest.approx(140.0)
    assert (berlin["latitude"], berlin["longitude"]) == pytest.approx((52.25, 13.25))  # a and p
    assert ("AT", "Wien") not in by and (None, None) not in by


def test_locations_grid(places):
    frame = geo.locations(places, T, level="grid")
    assert frame["city"].isna().all() and frame["country"].isna().all()
    placed = frame[frame["latitude"].notna()]
    # five customers with coordinates in five cells of 0.1°, ordered by latitude (one customer each)
    assert placed["latitude"].tolist() == pytest.approx([47.0, 48.2, 52.0, 52.5, 53.0])
    assert placed["customers"].tolist() == [1] * 5
    unplaced = frame[frame["latitude"].isna()].iloc[0]
    # c, g, z, r: 4 buyers, c churned and g at risk, revenue 40 + 80 + 10 − 30 = 100
    assert (unplaced["customers"], unplaced["buyers"], unplaced["at_risk_customers"]) == (4, 4, 2)
    assert unplaced["revenue"] == pytest.approx(100.0)
    assert frame.index[frame["latitude"].isna()].tolist() == [len(frame) - 1]


def test_grid_cells_merge_neighbours(make_dataset):
    ds = make_dataset(customers="""
        customer_id,latitude,longitude
        x,48.131,11.561
        y,48.139,11.579
        w,50.0,8.0
        """)
    frame = geo.locations(ds, T, level="grid")
    assert frame["customers"].tolist() == [2, 1]
    assert (frame.loc[0, "latitude"], frame.loc[0, "longitude"]) == pytest.approx((48.135, 11.57))


def test_invalid_coordinates_are_missing(make_dataset):
    ds = make_dataset(customers="""
        customer_id,city,latitude,longitude
        x,Ulm,48.4,9.99
        y,Ulm,91.0,9.0
        v,Ulm,48.6,
        """)
    ulm = geo.locations(ds, T).iloc[0]
    assert (ulm["customers"], ulm["located"]) == (3, 1)
    assert ulm["latitude"] == pytest.approx(48.4)


def test_countries(places):
    frame = geo.countries(places, T)
    assert frame["country"].tolist()[:2] == ["DE", "AT"] and pd.isna(frame["country"].iloc[2])
    by = rows(frame, "country")
    de, at = by["DE"], by["AT"]
    assert (de["customers"], de["buyers"], de["at_risk_customers"], de["revenue"]) == (4, 3, 2, 160.0)
    # d (200) + g (80); d new, g at risk -> 1 of 2
    assert (at["customers"], at["buyers"], at["at_risk_customers"], at["revenue"]) == (3, 2, 1, 280.0)
    assert at["at_risk_share"] == pytest.approx(0.5)
    assert (de["code"], de["latitude"], de["longitude"]) == ("DE", *geo.COUNTRY_CENTROIDS["DE"])
    assert (at["latitude"], at["longitude"]) == geo.COUNTRY_CENTROIDS["AT"]
    assert by[None]["customers"] == 2 and math.isnan(by[None]["latitude"])


def test_countries_by_name_without_coordinates(make_dataset):
    ds = make_dataset(
        customers="""
        customer_id,country,city
        1,Deutschland,Köln
        2,Österreich,Linz
        3,Österreich,Linz
        4,Narnia,Cair Paravel
        """,
        transactions="""
        customer_id,ordered_at,amount
        2,2024-06-01,30
        3,2023-01-01,20
        """,
    )
    frame = geo.countries(ds, T)
    by = rows(frame, "country")
    assert by["Österreich"]["code"] == "AT" and by["Deutschland"]["code"] == "DE" and by["Narnia"]["code"] is None
    assert (by["Österreich"]["latitude"], by["Österreich"]["longitude"]) == geo.COUNTRY_CENTROIDS["AT"]
    assert math.isnan(by["Narnia"]["latitude"])
    assert by["Österreich"]["customers"] == 2 and by["Österreich"]["at_risk_share"] == pytest.approx(0.5)
    cov = geo.coverage(ds, T)
    assert (cov["customers"], cov["with_coordinates"], cov["with_city"], cov["with_country"]) == (4, 0, 4, 4)
    assert cov["columns"] == ("country", "city")


def test_country_code():
    assert geo.country_code("de") == "DE"
    assert geo.country_code(" Schweiz ") == "CH"
    assert geo.country_code("OESTERREICH") == "AT"
    assert geo.country_code("XX") is None and geo.country_code(None) is None and geo.country_code(float("nan")) is None


def test_coverage_and_segment(places):
    cov = geo.coverage(places, T)
    assert (cov["customers"], cov["with_coordinates"], cov["with_city"], cov["with_country"]) == (9, 5, 6, 7)
    assert cov["columns"] == ("country", "city", "latitude", "longitude")
    austria = geo.countries(places, T, segment=SegmentFilter({"country": ("AT",)}))
    assert austria["country"].tolist() == ["AT"] and austria["customers"].tolist() == [3]


def test_no_location_columns(make_dataset):
    ds = make_dataset(customers="""
        customer_id,segment
        1,A
        2,B
        """)
    assert geo.location_columns(ds) == ()
    cov = geo.coverage(ds, T)
    assert (cov["customers"], cov["with_coordinates"], cov["with_city"], cov["with_country"]) == (2, 0, 0, 0)
    frame = geo.locations(ds, T)
    assert len(frame) == 1 and frame["customers"].iloc[0] == 2 and frame["revenue"].iloc[0] == 0.0


def test_invalid_level(places):
    with pytest.raises(ValueError):
        geo.locations(places, T, level="street")


def test_colours():
    low, mid, high = geo.RAMPS["blues"]
    got = geo.colours([0, 5, 10, float("nan")], "blues", alpha=100)
    assert got[0] == [*low, 100] and got[2] == [*high, 100] and got[1] == [*mid, 100]
    assert got[3] == [*geo.MISSING_COLOUR, 100]
    # one value: the darkest colour
    assert geo.colours([3.0], "reds")[0][:3] == list(geo.RAMPS["reds"][2])


# --------------------------------------------------------------------------- customer value helpers

def test_value_histogram_linear(places):
    # historic values of the purchasers at T: r −30, z 10, c 40, b 50, a 70, g 80, d 200 (not 1199)
    # 4 bins over [−30, 200], width 57.5: edges −30, 27.5, 85, 142.5, 200
    h = clv.value_histogram(places, T, bins=4)
    assert h["customers"].tolist() == [2, 4, 0, 1]
    assert h["lower"].tolist() == pytest.approx([-30, 27.5, 85, 142.5])
    assert h["upper"].tolist() == pytest.approx([27.5, 85, 142.5, 200])


def test_value_histogram_log(places):
    # r (−30) is left out; log10 of 10 … 200 spans [1, 2.301] in 2 bins, edge at 10^1.6505 ≈ 44.7:
    # z 10 and c 40 below, b, a, g, d above
    h = clv.value_histogram(places, T, bins=2, log=True)
    assert h["customers"].tolist() == [2, 4]
    edge = 10 ** ((1 + math.log10(200)) / 2)
    assert h["lower"].tolist() == pytest.approx([10, edge]) and h["upper"].tolist() == pytest.approx([edge, 200])


def test_value_histogram_edge_cases(make_dataset, places):
    assert clv.value_histogram(places, "2020-01-01").empty
    one = make_dataset(transactions="""
        customer_id,ordered_at,amount
        x,2024-01-01,25
        y,2024-02-01,25
        """)
    h = clv.value_histogram(one, T, bins=10)
    assert h["customers"].tolist() == [2] and h["lower"].iloc[0] < 25 < h["upper"].iloc[0]
    with pytest.raises(ValueError):
        clv.value_histogram(one, T, bins=0)


SCORES = pd.DataFrame({
    "customer_id": ["x1", "x2", "x3", "x4"],
    "days_since_last": [1, 2, 300, 60],
    "frequency": [5, 6, 0, 1],
    "historic_value": [100.0, 300.0, 10.0, 50.0],
    "r": [5, 5, 1, 3], "f": [5, 5, 1, 3], "m": [5, 5, 1, 3], "fm": [5, 5, 1, 3],
    "rfm_segment": ["Champions", "Champions", "Lost", "Need attention"],
})


def test_rfm_grid():
    grid = rfm.rfm_grid(SCORES)
    assert len(grid) == 25 and grid["customers"].sum() == 4
    cell = grid.set_index(["r", "fm"])
    assert cell.loc[(5, 5), "customers"] == 2 and cell.loc[(1, 1), "customers"] == 1
    assert cell.loc[(3, 3), "rfm_segment"] == "Need attention" and cell.loc[(5, 1), "rfm_segment"] == "New customers"
    assert cell.loc[(4, 1), "rfm_segment"] == "Promising" and cell.loc[(2, 5), "rfm_segment"] == "Can't lose them"
    assert rfm.rfm_grid(SCORES.iloc[:0])["customers"].sum() == 0


def test_segment_summary_and_top():
    summary = rfm.segment_summary(SCORES).set_index("rfm_segment")
    champions = summary.loc["Champions"]
    assert (champions["customers"], champions["share"]) == (2, 0.5)
    assert (champions["mean_value"], champions["total_value"]) == (200.0, 400.0)
    assert champions["value_share"] == pytest.approx(400 / 460)
    assert summary.loc["Loyal", "customers"] == 0 and np.isnan(summary.loc["Loyal", "mean_value"])
    top = rfm.top_customers(SCORES, 2)
    assert top["customer_id"].tolist() == ["x2", "x1"] and top["rank"].tolist() == [1, 2]
    assert len(rfm.top_customers(SCORES, 10)) == 4
