"""Map: customers by city (pydeck), coloured by customers, revenue or share at risk; countries as a fallback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import pydeck as pdk
import streamlit as st

from clm_core.i18n import format_currency, format_number, format_percent
from clm_core.metrics import geo
from clm_ui import data
from clm_ui.page import context
from clm_ui.state import param_select, t, view
from clm_ui.widgets import chart, table

data.register("geo_locations", geo.locations, ("Placing {n} customers on the map…", "Verorte {n} Kunden auf der Karte…"))
data.register("geo_countries", geo.countries, ("Counting {n} customers by country…", "Zähle {n} Kunden nach Land…"))
data.register("geo_coverage", geo.coverage)

TEXT = {
    "title": ("Map", "Karte"),
    "measure": ("Colour by", "Einfärben nach"),
    "m_customers": ("Customers", "Kunden"),
    "m_revenue": ("Net revenue up to the as-of date", "Nettoumsatz bis zum Stichtag"),
    "m_at_risk_share": ("Share at risk", "Anteil gefährdet"),
    "measure_help": ("Share at risk = customers at risk or churned among those with a purchase, at the as-of date. "
                     "Revenue is net of returns.",
                     "Anteil gefährdet = gefährdete oder abgewanderte Kunden unter denen mit einem Kauf, am Stichtag. "
                     "Der Umsatz ist abzüglich Retouren."),
    "city": ("City", "Stadt"),
    "country": ("Country", "Land"),
    "place": ("Place", "Ort"),
    "latitude": ("Latitude", "Breitengrad"),
    "longitude": ("Longitude", "Längengrad"),
    "located": ("With coordinates", "Mit Koordinaten"),
    "buyers": ("Buyers", "Käufer"),
    "at_risk_customers": ("At risk or churned", "Gefährdet oder abgewandert"),
    "at_risk_share": ("Share at risk", "Anteil gefährdet"),
    "unknown": ("(unknown)", "(unbekannt)"),
    "legend": ("Bubble size: customers. Colour: {measure}, from light ({low}) to dark ({high}).",
               "Blasengröße: Kunden. Farbe: {measure}, von hell ({low}) bis dunkel ({high})."),
    "grey": ("Grey: no buyers, so no share.", "Grau: keine Käufer, daher kein Anteil."),
    "no_basemap": ("The map loads no background tiles (it works without internet): country outlines from Natural "
                   "Earth (public domain); the labels name the largest places that have room for a label.",
                   "Die Karte lädt keine Hintergrundkacheln (sie funktioniert ohne Internet): Ländergrenzen von "
                   "Natural Earth (gemeinfrei); die Beschriftungen nennen die größten Orte, für die Platz ist."),
    "off_map": ("{n} of {total} customers are not on the map: they have no valid coordinates and no located "
                "neighbour in their city (or no city).",
                "{n} von {total} Kunden sind nicht auf der Karte: Sie haben keine gültigen Koordinaten und keinen "
                "Nachbarn mit Koordinaten in ihrer Stadt (oder keine Stadt)."),
    "partly_located": ("{n} customers have no coordinates: they count in their city's figures, which sit at the mean "
                       "position of the city's customers with coordinates.",
                       "{n} Kunden haben keine Koordinaten: Sie zählen in den Zahlen ihrer Stadt mit, die an der "
                       "mittleren Position der Kunden mit Koordinaten steht."),
    "grid_note": ("The customers file has coordinates but no city column: customers are grouped into cells of about "
                  "11 km (0.1°).",
                  "Die Kundendatei hat Koordinaten, aber keine Stadtspalte: Kunden sind in Zellen von etwa 11 km "
                  "(0,1°) zusammengefasst."),
    "places": ("Places", "Orte"),
    "countries_title": ("Customers by country", "Kunden nach Land"),
    "country_fallback": ("The customers have no coordinates (latitude/longitude), so the map shows countries. Add "
                         "latitude and longitude columns to the customers file for a map of cities.",
                         "Die Kunden haben keine Koordinaten (Breiten-/Längengrad), daher zeigt die Karte Länder. Für "
                         "eine Karte der Städte die Spalten latitude und longitude in der Kundendatei ergänzen."),
    "centroid_note": ("Countries are drawn at an approximate centre (rounded to 0.1°, from general knowledge, not "
                      "from a gazetteer) for {known}; {missing} appear only in the chart and the table.",
                      "Länder stehen an einem ungefähren Mittelpunkt (auf 0,1° gerundet, aus allgemeinem Wissen, nicht "
                      "aus einem Ortsverzeichnis) für {known}; {missing} erscheinen nur im Diagramm und in der "
                      "Tabelle."),
    "centroid_all": ("Countries are drawn at an approximate centre (rounded to 0.1°, from general knowledge, not from "
                     "a gazetteer).",
                     "Länder stehen an einem ungefähren Mittelpunkt (auf 0,1° gerundet, aus allgemeinem Wissen, nicht "
                     "aus einem Ortsverzeichnis)."),
    "no_location": ("This dataset has no customer locations. Upload a customers file with **latitude** and "
                    "**longitude** columns (decimal degrees) for a map of customers, or with **city** and "
                    "**country** columns (e.g. DE, AT, CH) for an overview by country.",
                    "Dieser Datensatz enthält keine Kundenorte. Für eine Kundenkarte eine Kundendatei mit den Spalten "
                    "**latitude** und **longitude** (Dezimalgrad) hochladen, für einen Überblick nach Land die "
                    "Spalten **city** und **country** (z. B. DE, AT, CH)."),
    "cities_only": ("Customers by city (no coordinates or countries to place them on a map)",
                    "Kunden nach Stadt (ohne Koordinaten oder Länder für eine Karte)"),
    "drawing": ("Drawing the map of {n} places…", "Zeichne die Karte mit {n} Orten…"),
}
LABEL_COUNT = 12
MAP_WIDTH = 900  # pixels the initial view is fitted to (the chart is at least about this wide on a laptop)
MAP_HEIGHT, COUNTRY_MAP_HEIGHT = 560, 440
LABEL_SIZE, LABEL_OFFSET = 12, 14  # text height and its distance above the bubble, pixels
OUTLINES = Path(__file__).resolve().parents[1] / "clm_core" / "data" / "countries_europe.geojson"
RAMP = {"customers": "blues", "revenue": "blues", "at_risk_share": "reds"}
SEA = [234, 240, 246]  # the map's background, opaque: it covers the placeholder text once the map has drawn
WORLD = [[[-180, -85], [180, -85], [180, 85], [-180, 85]]]
MAP_BOX = "map_box"  # key of the container the map sits in (its CSS class is st-key-map_box)

ctx = context()
lang = view().lang
st.title(t("title", TEXT))
with st.columns([1, 2])[0]:
    measure = param_select(t("measure", TEXT), "map_measure", list(geo.MEASURES), default="customers",
                           format_func=lambda m: t(f"m_{m}", TEXT), help=t("measure_help", TEXT))


def money_column(label: str):
    """Whole euros the language's way (€1,234 / 1.234 €): the table widget formats the column."""
    return st.column_config.NumberColumn(label, format="%.0f €")


def show(measure_name: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if measure_name == "revenue":
        return format_currency(value, lang, 0)
    if measure_name == "at_risk_share":
        return format_percent(value, lang)
    return format_number(value, lang)


@st.cache_resource
def outlines() -> dict | None:
    """Country outlines bundled with the app (Natural Earth, see clm_core/data/README.md); None if missing."""
    try:
        return json.loads(OUTLINES.read_text(encoding="utf-8"))
    except OSError:
        return None


def mercator_y(degrees: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(degrees) / 2))


def view_state(frame: pd.DataFrame, height: int, max_zoom: float = 10.0) -> pdk.ViewState:
    """Centre and zoom (Web Mercator, 512-pixel world at zoom 0) that fit the places into a map about
    900 pixels wide and ``height`` high, with room for the bubbles at the edges."""
    lat, lon = frame["latitude"].clip(-85, 85), frame["longitude"]
    span_x = max(float(lon.max() - lon.min()), 0.02) / 360
    span_y = max(mercator_y(float(lat.max())) - mercator_y(float(lat.min())), 0.0005) / (2 * math.pi)
    zoom = min(math.log2((MAP_WIDTH - 200) / (512 * span_x)), math.log2((height - 160) / (512 * span_y)))
    middle = (mercator_y(float(lat.max())) + mercator_y(float(lat.min()))) / 2
    return pdk.ViewState(latitude=math.degrees(2 * math.atan(math.exp(middle)) - math.pi / 2),
                         longitude=float(lon.min() + lon.max()) / 2, zoom=max(1.0, min(max_zoom, zoom)),
                         pitch=0, bearing=0)


def label_mask(points: pd.DataFrame, state: pdk.ViewState) -> np.ndarray:
    """Which places get a label: the largest first, at most LABEL_COUNT, each only where its text (about
    0.6 · size pixels a character, above the bubble) overlaps no label already placed, at the initial zoom."""
    scale = 512 * 2 ** state.zoom
    x = scale * points["longitude"].to_numpy() / 360
    y = -scale * np.array([mercator_y(min(max(v, -85.0), 85.0)) for v in points["latitude"]]) / (2 * math.pi)
    half_width = 0.3 * LABEL_SIZE * points["name"].str.len().to_numpy() + 3
    half_height = LABEL_SIZE / 2 + 2
    placed: list[int] = []
    keep = np.zeros(len(points), dtype=bool)
    for i in np.argsort(-points["radius"].to_numpy(), kind="stable"):
        if len(placed) == LABEL_COUNT:
            break
        if all(abs(x[i] - x[j]) >= half_width[i] + half_width[j] or abs(y[i] - y[j]) >= 2 * half_height
               for j in placed):
            placed.append(i)
            keep[i] = True
    return keep


def deck(frame: pd.DataFrame, names: pd.Series, radius_m: float, height: int, max_zoom: float = 10.0) -> pdk.Deck:
    """Bubbles at the places, sized by customers and coloured by the measure; labels for the largest places."""
    values = frame[measure]
    points = pd.DataFrame({
        "name": names.to_numpy(),
        "longitude": frame["longitude"].to_numpy(),
        "latitude": frame["latitude"].to_numpy(),
        "radius": (radius_m * np.sqrt(frame["customers"] / max(frame["customers"].max(), 1))).round(0).to_numpy(),
        "fill": geo.colours(values, RAMP[measure]),
        "value": values.astype(object).where(values.notna(), None).to_numpy(),
        "customers_text": [show("customers", v) for v in frame["customers"]],
        "revenue_text": [show("revenue", v) for v in frame["revenue"]],
        "at_risk_text": [show("at_risk_share", v) for v in frame["at_risk_share"]],
    })
    bubbles = pdk.Layer(
        "ScatterplotLayer", data=points, id="places", get_position=["longitude", "latitude"],
        get_radius="radius", get_fill_color="fill", get_line_color=[255, 255, 255], stroked=True,
        line_width_min_pixels=1, radius_min_pixels=4, radius_max_pixels=60, pickable=True, opacity=0.85,
    )
    state = view_state(frame, height, max_zoom)
    labels = pdk.Layer(
        "TextLayer", data=points.loc[label_mask(points, state), ["name", "longitude", "latitude"]], id="labels",
        get_position=["longitude", "latitude"], get_text="name", get_size=LABEL_SIZE, get_color=[40, 40, 40],
        get_pixel_offset=[0, -LABEL_OFFSET], character_set="'auto'", font_family="'Helvetica, Arial, sans-serif'",
        background=True, get_background_color=[255, 255, 255, 190], background_padding=[2, 1], pickable=False,
    )
    layers = [bubbles, labels]
    shapes = outlines()
    if shapes is not None:  # land and borders under the bubbles, in place of the background tiles
        layers.insert(0, pdk.Layer("GeoJsonLayer", data=shapes, id="countries", stroked=True, filled=True,
                                   get_fill_color=[241, 243, 246], get_line_color=[160, 168, 178],
                                   line_width_min_pixels=1, pickable=False))
    # the sea first: an opaque canvas, so that the "drawing the map" text behind it shows only until the map draws
    layers.insert(0, pdk.Layer("SolidPolygonLayer", data=[{"polygon": WORLD}], id="sea", get_polygon="polygon",
                               get_fill_color=SEA, pickable=False))
    tooltip = {"text": "{name}\n" + f"{t('customers')}: " + "{customers_text}\n" + f"{t('revenue')}: "
               + "{revenue_text}\n" + f"{t('at_risk_share', TEXT)}: " + "{at_risk_text}"}
    # map_provider=None: no basemap tiles are requested (they would need the internet); only the layers draw.
    return pdk.Deck(layers=layers, initial_view_state=state, map_provider=None, tooltip=tooltip)


def placeholder_style(places: int, height: int) -> str:
    """CSS that fills the map's box with a light panel naming what is drawn, until the map is there: the browser
    loads deck.gl (a large script) on the first map of a session and shows an empty grey box meanwhile, then a
    blank canvas until WebGL has drawn. The text is the app's own (no user text), quoted for CSS."""
    text = t("drawing", TEXT, n=format_number(places, lang)).replace("\\", "\\\\").replace('"', '\\"')
    box = f".st-key-{MAP_BOX}"
    panel = (f"background: rgb({SEA[0]}, {SEA[1]}, {SEA[2]}); border-radius: 0.5rem; display: flex; "
             "align-items: center; justify-content: center;")
    label = f'content: "{text}"; color: #4a5563; font-size: 0.95rem;'
    return (f"<style>{box} [data-testid=\"stSkeleton\"] {{ height: {height}px; {panel} }}"
            f"{box} [data-testid=\"stSkeleton\"]::after {{ {label} }}"
            f"{box} [data-testid=\"stDeckGlJsonChart\"] {{ {panel} }}"
            f"{box} [data-testid=\"stDeckGlJsonChart\"]::before {{ {label} position: absolute; }}</style>")


def draw_map(chart: pdk.Deck, places: int, height: int) -> None:
    """The map in its box, with the placeholder text shown until it has drawn (see placeholder_style); the data
    is computed before (with a spinner saying what), so the box appears only when there is a map to draw."""
    with st.container(key=MAP_BOX):
        st.html(placeholder_style(places, height))
        st.pydeck_chart(chart, height=height, key="map_deck")


def legend(frame: pd.DataFrame) -> None:
    values = frame[measure].dropna()
    if len(values):
        grey = " " + t("grey", TEXT) if frame[measure].isna().any() else ""
        st.caption(t("legend", TEXT, measure=t(f"m_{measure}", TEXT), low=show(measure, values.min()),
                     high=show(measure, values.max())) + grey)


def place_table(frame: pd.DataFrame, names: pd.Series, filename: str, key: str, name_label: str,
                title: str | None = None) -> None:
    shown = frame.assign(place=names.to_numpy())
    shown = shown.sort_values(measure, ascending=False, na_position="last", kind="stable")
    columns = ["place"] + (["country"] if "country" in shown and shown["country"].notna().any()
                           and name_label != t("country", TEXT) else [])
    columns += ["customers", "located", "buyers", "at_risk_customers", "at_risk_share", "revenue",
                "latitude", "longitude"]
    table(shown[columns], filename, key=key, title=title, column_config={
        "place": name_label,
        "country": t("country", TEXT),
        "customers": st.column_config.NumberColumn(t("customers"), format="localized"),
        "located": st.column_config.NumberColumn(t("located", TEXT), format="localized"),
        "buyers": st.column_config.NumberColumn(t("buyers", TEXT), format="localized"),
        "at_risk_customers": st.column_config.NumberColumn(t("at_risk_customers", TEXT), format="localized"),
        "at_risk_share": st.column_config.NumberColumn(t("at_risk_share", TEXT), format="percent"),
        "revenue": money_column(t("revenue")),
        "latitude": st.column_config.NumberColumn(t("latitude", TEXT), format="%.4f"),
        "longitude": st.column_config.NumberColumn(t("longitude", TEXT), format="%.4f"),
    })


coverage = ctx.metric("geo_coverage")
unknown = t("unknown", TEXT)

if coverage["with_coordinates"]:
    level = "city" if coverage["with_city"] else "grid"
    places = ctx.metric("geo_locations", level=level)
    if level == "city":
        names = places["city"].fillna(unknown)
    else:
        names = pd.Series([unknown if pd.isna(a) else f"{format_number(a, lang, 2)}, {format_number(o, lang, 2)}"
                           for a, o in zip(places["latitude"], places["longitude"])])
    on_map = places["latitude"].notna() & places["longitude"].notna()
    draw_map(deck(places[on_map], names[on_map], 25_000 if level == "city" else 8_000, MAP_HEIGHT),
             int(on_map.sum()), MAP_HEIGHT)
    legend(places[on_map])
    st.caption(t("no_basemap", TEXT))
    if level == "grid":
        st.caption(t("grid_note", TEXT))
    off = int(places.loc[~on_map, "customers"].sum())
    if off:
        st.caption(t("off_map", TEXT, n=format_number(off, lang), total=format_number(coverage["customers"], lang)))
    missing = int((places.loc[on_map, "customers"] - places.loc[on_map, "located"]).sum())
    if missing > 0:
        st.caption(t("partly_located", TEXT, n=format_number(missing, lang)))
    st.subheader(t("places", TEXT))
    place_table(places, names, "map_places.csv", "map_places", t("city", TEXT) if level == "city" else t("place", TEXT),
                t("places", TEXT))

elif coverage["with_country"]:
    st.info(t("country_fallback", TEXT))
    nations = ctx.metric("geo_countries")
    names = nations["country"].fillna(unknown)
    known = nations["latitude"].notna()
    if known.any():
        draw_map(deck(nations[known], names[known], 80_000, COUNTRY_MAP_HEIGHT, max_zoom=5.5), int(known.sum()),
                 COUNTRY_MAP_HEIGHT)
        legend(nations[known])
        others = nations.loc[~known & nations["country"].notna(), "country"].tolist()
        if others:
            st.caption(t("centroid_note", TEXT, known=", ".join(names[known]), missing=", ".join(others)))
        else:
            st.caption(t("centroid_all", TEXT))
    st.subheader(t("countries_title", TEXT))
    bars = pd.DataFrame({"country": names, "value": nations[measure]})
    fig = px.bar(bars, x="country", y="value", labels={"country": t("country", TEXT), "value": t(f"m_{measure}", TEXT)},
                 color_discrete_sequence=["#c0392b" if measure == "at_risk_share" else "#2171b5"])
    if measure == "at_risk_share":
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(height=320)
    chart(fig, key="map_countries_chart")
    place_table(nations, names, "map_countries.csv", "map_countries", t("country", TEXT), t("countries_title", TEXT))

else:
    st.info(t("no_location", TEXT))
    if coverage["with_city"]:
        st.subheader(t("cities_only", TEXT))
        places = ctx.metric("geo_locations", level="city")
        place_table(places, places["city"].fillna(unknown), "map_cities.csv", "map_cities", t("city", TEXT),
                    t("cities_only", TEXT))
