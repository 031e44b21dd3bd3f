"""Where customers live, per city or country.

Locations (the Map page): every customer of the segment known at T (as in
:func:`clm_core.metrics.stages.customer_stages`) with the location columns of
the customers file, aggregated in the database per city (or per country):

- ``customers``: customers of the place; ``located``: those with valid coordinates
  (latitude in [−90, 90], longitude in [−180, 180], both given);
- ``latitude``, ``longitude``: the mean position of the located customers (null
  when none of them has coordinates, and for the row of customers without a city);
- ``buyers``: customers with a purchase up to T (stage other than prospect);
  ``at_risk_customers``: stage ``at_risk`` or ``churned`` at T;
  ``at_risk_share`` = at_risk_customers / buyers (null without buyers);
- ``revenue``: net revenue up to T, returns included (not × margin).

Customers without a city (or country) form one row with a null place, so the
rows always add up to the segment's customers.

``level="grid"`` groups customers with coordinates into cells of
``10^-precision`` degrees (0.1° ≈ 11 km by default) for files that have
coordinates but no city column.

Country positions for the country-level fallback come from
:data:`COUNTRY_CENTROIDS`: approximate geographic centres of a few central
European countries, rounded to 0.1°, written down from general knowledge by the
developer (an AI coding assistant) and not checked one by one against a
gazetteer. They only say where to draw a country's bubble on an overview map.
"""

from __future__ import annotations

import math
import unicodedata

import ibis
import numpy as np
import pandas as pd

from clm_core.metrics.common import resolve_as_of
from clm_core.metrics.stages import customer_stages, known_customers
from clm_core.store import Dataset

LOCATION_COLUMNS = ("country", "city", "latitude", "longitude")
LEVELS = ("city", "grid")
MEASURES = ("customers", "revenue", "at_risk_share")
AT_RISK_STAGES = ("at_risk", "churned")

#: ISO 3166-1 alpha-2 code -> (latitude, longitude) of the country's approximate centre (see module doc).
COUNTRY_CENTROIDS: dict[str, tuple[float, float]] = {
    "DE": (51.2, 10.4),
    "AT": (47.6, 14.1),
    "CH": (46.8, 8.2),
    "LI": (47.2, 9.6),
    "NL": (52.2, 5.3),
    "BE": (50.6, 4.6),
    "LU": (49.8, 6.1),
    "FR": (46.6, 2.4),
    "IT": (42.8, 12.6),
    "PL": (52.1, 19.4),
    "CZ": (49.8, 15.5),
    "DK": (56.0, 9.5),
    "SI": (46.1, 14.8),
    "SK": (48.7, 19.7),
    "HU": (47.2, 19.5),
}

#: Country names as they appear in exports (normalised: lower case, no accents) -> ISO code.
COUNTRY_NAMES: dict[str, str] = {
    "deutschland": "DE", "germany": "DE", "bundesrepublik deutschland": "DE", "deu": "DE", "ger": "DE",
    "osterreich": "AT", "oesterreich": "AT", "austria": "AT", "aut": "AT",
    "schweiz": "CH", "switzerland": "CH", "suisse": "CH", "svizzera": "CH", "che": "CH",
    "liechtenstein": "LI", "lie": "LI",
    "niederlande": "NL", "netherlands": "NL", "nederland": "NL", "holland": "NL", "nld": "NL",
    "belgien": "BE", "belgium": "BE", "belgique": "BE", "belgie": "BE", "bel": "BE",
    "luxemburg": "LU", "luxembourg": "LU", "lux": "LU",
    "frankreich": "FR", "france": "FR", "fra": "FR",
    "italien": "IT", "italy": "IT", "italia": "IT", "ita": "IT",
    "polen": "PL", "poland": "PL", "polska": "PL", "pol": "PL",
    "tschechien": "CZ", "czechia": "CZ", "czech republic": "CZ", "cesko": "CZ", "cze": "CZ",
    "danemark": "DK", "daenemark": "DK", "denmark": "DK", "danmark": "DK", "dnk": "DK",
    "slowenien": "SI", "slovenia": "SI", "slovenija": "SI", "svn": "SI",
    "slowakei": "SK", "slovakia": "SK", "slovensko": "SK", "svk": "SK",
    "ungarn": "HU", "hungary": "HU", "magyarorszag": "HU", "hun": "HU",
}

#: Sequential colour ramps (RGB stops, low -> high) for the map's fill colour.
RAMPS = {
    "blues": ((198, 219, 239), (66, 146, 198), (8, 48, 107)),
    "reds": ((255, 237, 160), (253, 141, 60), (189, 0, 38)),
}
MISSING_COLOUR = (170, 170, 170)


# --------------------------------------------------------------------------- per customer

def location_columns(dataset: Dataset) -> tuple[str, ...]:
    """The location columns (country, city, latitude, longitude) the customers file provided."""
    index = dataset.require("customer_index")
    return tuple(c for c in LOCATION_COLUMNS if c in index.columns)


def _text(column):
    cleaned = column.cast("string").strip()
    return ibis.ifelse(cleaned == "", ibis.null("string"), cleaned)


def customer_locations(dataset: Dataset, as_of=None, segment=None, config=None):
    """Ibis table per customer of the segment known at T: customer_id, stage, country, city,
    latitude, longitude (null unless both are valid), revenue (net up to T), buyer, at_risk."""
    as_of = resolve_as_of(dataset, as_of)
    if dataset.has("customer_days"):
        stages = customer_stages(dataset, as_of, config, segment)
    else:  # customers without any transactions file: everyone is a prospect
        known = known_customers(dataset, as_of, segment, config)
        stages = known.select("customer_id", stage=ibis.literal("prospect"))
    index = dataset.require("customer_index")
    present = set(index.columns)
    lat = index.latitude.cast("float64") if "latitude" in present else ibis.null("float64")
    lon = index.longitude.cast("float64") if "longitude" in present else ibis.null("float64")
    valid = lat.notnull() & lon.notnull() & lat.between(-90, 90) & lon.between(-180, 180)
    places = index.select(
        place_id=index.customer_id,
        country=_text(index.country) if "country" in present else ibis.null("string"),
        city=_text(index.city) if "city" in present else ibis.null("string"),
        latitude=ibis.ifelse(valid, lat, ibis.null("float64")),
        longitude=ibis.ifelse(valid, lon, ibis.null("float64")),
    )
    base = stages.join(places, stages.customer_id == places.place_id).select(
        stages.customer_id, stages.stage, places.country, places.city, places.latitude, places.longitude
    )
    days = dataset.table("customer_days")
    if days is not None:
        days = days.filter(days.day <= ibis.literal(as_of))
        revenue = days.group_by(rev_id=days.customer_id).aggregate(revenue=days.revenue.sum())
        base = base.left_join(revenue, base.customer_id == revenue.rev_id).select(
            base, revenue=revenue.revenue.fill_null(0.0).cast("float64")
        )
    else:
        base = base.mutate(revenue=ibis.literal(0.0, "float64"))
    return base.mutate(
        buyer=(base.stage != "prospect").cast("int64"),
        at_risk=base.stage.isin(list(AT_RISK_STAGES)).cast("int64"),
    )


def _aggregate(table, keys: list) -> ibis.Table:
    grouped = table.group_by(keys).aggregate(
        customers=table.count(),
        located=table.latitude.count(),
        latitude=table.latitude.mean(),
        longitude=table.longitude.mean(),
        buyers=table.buyer.sum(),
        at_risk_customers=table.at_risk.sum(),
        revenue=table.revenue.sum(),
    )
    return grouped.mutate(
        at_risk_share=ibis.ifelse(
            grouped.buyers > 0, grouped.at_risk_customers.cast("float64") / grouped.buyers, ibis.null("float64")
        )
    )


def _finish(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts as integers, the rest as floats; largest places first, then by name, the unknown place last."""
    for name in ("customers", "located", "buyers", "at_risk_customers"):
        frame[name] = frame[name].fillna(0).astype("int64")
    for name in ("latitude", "longitude", "revenue", "at_risk_share"):
        frame[name] = frame[name].astype("float64")
    unknown = frame[keys[0]].isna()
    frame = frame.assign(_unknown=unknown).sort_values(
        ["_unknown", "customers", *keys], ascending=[True, False, *([True] * len(keys))], kind="stable",
        na_position="last")
    return frame.drop(columns="_unknown").reset_index(drop=True)


def locations(dataset: Dataset, as_of=None, segment=None, config=None, level: str = "city",
              precision: int = 1) -> pd.DataFrame:
    """country, city, latitude, longitude, customers, located, buyers, at_risk_customers, revenue,
    at_risk_share: one row per city (``level="city"``; per country and city when the data has a
    country) or per cell of ``10^-precision`` degrees (``level="grid"``, city and country null).

    Sorted by customers, largest first; the row of customers without a place comes with the others.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    t = customer_locations(dataset, as_of, segment, config)
    if level == "city":
        grouped = _aggregate(t, ["country", "city"])
        grouped = grouped.mutate(
            latitude=ibis.ifelse(grouped.city.isnull(), ibis.null("float64"), grouped.latitude),
            longitude=ibis.ifelse(grouped.city.isnull(), ibis.null("float64"), grouped.longitude),
        )
    else:
        t = t.mutate(
            cell_lat=t.latitude.round(precision),
            cell_lon=t.longitude.round(precision),
            country=ibis.null("string"),
            city=ibis.null("string"),
        )
        grouped = _aggregate(t, ["cell_lat", "cell_lon", "country", "city"]).drop("cell_lat", "cell_lon")
    columns = ["country", "city", "latitude", "longitude", "customers", "located", "buyers",
               "at_risk_customers", "revenue", "at_risk_share"]
    frame = grouped.select(*columns).execute()
    return _finish(frame, ["city", "country"] if level == "city" else ["latitude", "longitude"])


def country_code(value) -> str | None:
    """The ISO code of a country written as a code or a (German/English/native) name, else None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if len(text) == 2 and text.upper() in COUNTRY_CENTROIDS:
        return text.upper()
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return COUNTRY_NAMES.get(folded)


def countries(dataset: Dataset, as_of=None, segment=None, config=None) -> pd.DataFrame:
    """country, code, latitude, longitude (approximate centre from :data:`COUNTRY_CENTROIDS`, null for
    other countries), customers, located, buyers, at_risk_customers, revenue, at_risk_share per country."""
    t = customer_locations(dataset, as_of, segment, config)
    grouped = _aggregate(t, ["country"])
    frame = grouped.select("country", "customers", "located", "buyers", "at_risk_customers", "revenue",
                           "at_risk_share", "latitude", "longitude").execute()
    frame = _finish(frame, ["country"])
    codes = [country_code(c) for c in frame["country"]]
    frame.insert(1, "code", pd.Series(codes, index=frame.index, dtype="object"))
    frame["latitude"] = [COUNTRY_CENTROIDS[c][0] if c else np.nan for c in codes]
    frame["longitude"] = [COUNTRY_CENTROIDS[c][1] if c else np.nan for c in codes]
    return frame


def coverage(dataset: Dataset, as_of=None, segment=None, config=None) -> dict:
    """How much location data the segment has: columns (present in the file), customers,
    with_coordinates, with_city, with_country."""
    t = customer_locations(dataset, as_of, segment, config)
    row = t.aggregate(
        customers=t.count(),
        with_coordinates=t.latitude.count(),
        with_city=t.city.count(),
        with_country=t.country.count(),
    ).execute().iloc[0]
    out = {k: int(row[k]) if row[k] == row[k] else 0 for k in ("customers", "with_coordinates", "with_city",
                                                                 "with_country")}
    out["columns"] = location_columns(dataset)
    return out


def colours(values, ramp: str = "blues", alpha: int = 200) -> list[list[int]]:
    """RGBA colours for ``values`` on a min–max scale through the ramp's stops; grey for missing values."""
    stops = np.array(RAMPS[ramp], dtype=float)
    x = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    finite = x[np.isfinite(x)]
    lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 0.0)
    out = []
    for v in x:
        if not np.isfinite(v):
            out.append([*MISSING_COLOUR, alpha])
            continue
        pos = (v - lo) / (hi - lo) if hi > lo else 1.0
        scaled = pos * (len(stops) - 1)
        i = min(int(scaled), len(stops) - 2)
        rgb = stops[i] + (stops[i + 1] - stops[i]) * (scaled - i)
        out.append([int(round(c)) for c in rgb] + [alpha])
    return out
