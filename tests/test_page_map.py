"""The Map page (AppTest): pydeck map on the demo data, country fallback, no locations, empty database."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clm_core import ingest, store
from clm_core.metrics import geo

from apptest import page_opener, shown


def load(database, sources) -> tuple[str, dict]:
    """Load ``sources`` into the app's database; return the dataset id and clm_core's location results."""
    con = store.connect(database)
    dataset = store.create_dataset(con, "Test")
    ingest.load(dataset, sources)
    results = {"cities": geo.locations(dataset), "countries": geo.countries(dataset)}
    con.disconnect()
    return dataset.id, results


def write(folder: Path, **tables) -> dict:
    sources = {}
    for table, text in tables.items():
        sources[table] = folder / f"{table}.csv"
        sources[table].write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return sources


TRANSACTIONS = """
customer_id,ordered_at,amount
1,2024-06-01,100
2,2024-01-01,50
3,2024-06-20,70
3,2024-06-21,-20
4,2024-06-25,30
"""


open_page = page_opener("map")


def deck(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def bubbles(spec: dict) -> list[dict]:
    return next(layer for layer in spec["layers"] if layer["@@type"] == "ScatterplotLayer")["data"]


def layer(spec: dict, kind: str) -> dict:
    return next(layer for layer in spec["layers"] if layer["@@type"] == kind)


def test_empty_database(database):
    at = open_page()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value


def test_demo_map_and_measures(database, demo_paths):
    _, expected = load(database, demo_paths)
    cities = expected["cities"]
    placed = cities[cities["latitude"].notna()]
    at = open_page()
    assert not at.exception
    spec = deck(at)
    # no basemap style that would need the internet: only our layers draw
    assert spec.get("mapStyle") in (None, "__MAP_STYLE__") and "mapProvider" not in spec
    points = bubbles(spec)
    assert [p["name"] for p in points] == placed["city"].tolist()
    assert [p["value"] for p in points] == placed["customers"].tolist()
    assert [p["latitude"] for p in points] == pytest.approx(placed["latitude"].tolist())
    biggest = points[0]
    assert biggest["fill"][:3] == list(geo.RAMPS["blues"][2])  # the most customers: darkest colour
    tooltip = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["text"]
    assert "{name}" in tooltip and "{revenue_text}" in tooltip and "{at_risk_text}" in tooltip
    table = at.dataframe[0].value
    assert table["customers"].sum() == cities["customers"].sum()

    # the sea first (opaque, the whole world), then the offline outlines under the bubbles: bundled Natural
    # Earth countries
    assert [layer["@@type"] for layer in spec["layers"]] == ["SolidPolygonLayer", "GeoJsonLayer", "ScatterplotLayer",
                                                             "TextLayer"]
    sea = spec["layers"][0]
    assert sea["data"] == [{"polygon": [[[-180, -85], [180, -85], [180, 85], [-180, 85]]]}]
    assert len(sea["getFillColor"]) == 3  # no alpha: opaque
    names = {f["properties"]["name"] for f in spec["layers"][1]["data"]["features"]}
    assert {"Germany", "Austria", "Switzerland"} <= names
    # labels: the largest places first, and no two label boxes overlap at the initial zoom
    labels = layer(spec, "TextLayer")["data"]
    assert 3 <= len(labels) <= 12 and labels[0]["name"] == placed.sort_values("customers")["city"].iloc[-1]
    scale = 512 * 2 ** spec["initialViewState"]["zoom"]
    boxes = [(scale * p["longitude"] / 360, -scale * math.log(math.tan(math.pi / 4 + math.radians(p["latitude"]) / 2))
              / (2 * math.pi), 0.3 * 12 * len(p["name"])) for p in labels]
    for i, (x1, y1, w1) in enumerate(boxes):
        for x2, y2, w2 in boxes[:i]:
            assert abs(x1 - x2) >= w1 + w2 or abs(y1 - y2) >= 12

    # the measure from the URL: colours follow revenue, the tooltips stay
    revenue = bubbles(deck(open_page(**{"p.map_measure": "revenue"})))
    assert [p["value"] for p in revenue] == pytest.approx(placed["revenue"].tolist())
    assert [p["fill"] for p in revenue] != [p["fill"] for p in points]
    assert [p["revenue_text"] for p in revenue] == [p["revenue_text"] for p in points]

    # the widget: share at risk, red ramp, the highest share darkest
    at.selectbox(key="w.map.map_measure").set_value("at_risk_share").run()
    assert not at.exception
    risk = bubbles(deck(at))
    want = placed["at_risk_share"]
    assert [p["value"] for p in risk] == pytest.approx([None if v != v else v for v in want.tolist()])
    top = max((p for p in risk if p["value"] is not None), key=lambda p: p["value"])
    assert top["fill"][:3] == list(geo.RAMPS["reds"][2])
    assert at.session_state["clm_view"].param("map_measure") == "at_risk_share"


def placeholder(at) -> str:
    """The map's placeholder CSS (st.html in the map's box)."""
    styles = [h.value for h in at.get("html") if "st-key-map_box" in h.value]
    assert len(styles) == 1
    return styles[0]


def test_the_map_box_says_what_it_draws_until_the_map_is_there(database, demo_paths):
    """No empty grey box: the box the map sits in (the loading skeleton, then the chart before its canvas draws)
    is a light panel naming what is drawn; the map's sea layer is opaque and covers it once drawn."""
    _, expected = load(database, demo_paths)
    cities = expected["cities"]
    n = int(cities["latitude"].notna().sum())
    at = open_page()
    assert not at.exception
    assert len(bubbles(deck(at))) == n
    css = placeholder(at)
    assert f'content: "Drawing the map of {n} places…"' in css
    assert '.st-key-map_box [data-testid="stSkeleton"] { height: 560px;' in css
    assert '.st-key-map_box [data-testid="stDeckGlJsonChart"]::before' in css
    assert "background: rgb(234, 240, 246)" in css and layer(deck(at), "SolidPolygonLayer")["getFillColor"] == [
        234, 240, 246]  # the panel has the sea's colour: no flash when the map covers it
    german = open_page(lang="de")
    assert f'content: "Zeichne die Karte mit {n} Orten…"' in placeholder(german)


def test_german_map(database, demo_paths):
    load(database, demo_paths)
    at = open_page(lang="de", **{"p.map_measure": "revenue"})
    assert not at.exception
    assert at.title[0].value == "Karte"
    assert at.selectbox(key="w.map.map_measure").label == "Einfärben nach"
    points = bubbles(deck(at))
    assert all(p["revenue_text"].endswith(" €") for p in points)
    assert "Kunden" in json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["text"]
    cells = shown(at.dataframe[0])
    assert all(re.fullmatch(r"\d{1,3}(\.\d{3})* €", v) for v in cells["revenue"]), cells["revenue"].tolist()
    assert any("." in v for v in cells["revenue"])  # thousands with a dot: 12.345 €
    assert all(re.fullmatch(r"\d{1,3},\d %|–", v) for v in cells["at_risk_share"])
    assert all(re.fullmatch(r"\d{1,2},\d{4}|–", v) for v in cells["latitude"]) and "," in cells["latitude"][0]


def test_country_fallback_without_coordinates(database, tmp_path):
    sources = write(tmp_path, customers="""
        customer_id,country,city
        1,DE,Köln
        2,DE,Bonn
        3,AT,Linz
        4,Narnia,Cair Paravel
        """, transactions=TRANSACTIONS)
    _, expected = load(database, sources)
    at = open_page(**{"p.map_measure": "at_risk_share"})
    assert not at.exception
    assert any("no coordinates" in i.value for i in at.info)
    points = bubbles(deck(at))
    # DE and AT at their approximate centres; Narnia has none and appears only in the chart and table
    assert [p["name"] for p in points] == ["DE", "AT"]
    assert 'content: "Drawing the map of 2 places…"' in placeholder(at)
    assert '[data-testid="stSkeleton"] { height: 440px;' in placeholder(at)
    assert [(p["latitude"], p["longitude"]) for p in points] == [geo.COUNTRY_CENTROIDS["DE"],
                                                                 geo.COUNTRY_CENTROIDS["AT"]]
    # DE: customers 1 (bought 06-01) and 2 (last purchase 01-01, at risk): share 0.5; AT: 0
    assert [p["value"] for p in points] == pytest.approx([0.5, 0.0])
    assert any("Narnia" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert sorted(table["place"]) == ["AT", "DE", "Narnia"]
    assert table["customers"].sum() == 4
    assert table["revenue"].sum() == pytest.approx(expected["countries"]["revenue"].sum())


def test_no_location_explains_what_to_upload(database, tmp_path):
    sources = write(tmp_path, customers="""
        customer_id,segment
        1,A
        2,B
        """, transactions=TRANSACTIONS)
    load(database, sources)
    at = open_page()
    assert not at.exception
    assert len(at.get("deck_gl_json_chart")) == 0
    assert not [h for h in at.get("html") if "st-key-map_box" in h.value]  # no map, no placeholder
    assert "latitude" in at.info[0].value and "country" in at.info[0].value
    german = open_page(lang="de")
    assert "Kundenorte" in german.info[0].value
