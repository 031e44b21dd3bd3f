"""Tests of the seeded demo-data generator (clm_core/demo.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from clm_core import demo

END = dt.date(2026, 10, 31)
START = dt.date(2023, 11, 1)

COLUMNS = {
    "customers": [
        "customer_id", "created_at", "channel", "segment", "country", "city",
        "postal_code", "latitude", "longitude", "age_group",
    ],
    "transactions": ["transaction_id", "customer_id", "ordered_at", "amount", "category", "quantity", "margin"],
    "events": ["customer_id", "occurred_at", "event", "source"],
    "nps": ["customer_id", "answered_at", "score", "comment"],
    "campaigns": ["customer_id", "campaign", "sent_at", "group", "channel", "cost", "stage_targeted"],
}


def _read(paths: dict) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        for name, path in paths.items()
    }


@pytest.fixture(scope="module")
def small_paths(tmp_path_factory):
    return demo.write_demo(tmp_path_factory.mktemp("small"), n_customers=600, seed=7)


@pytest.fixture(scope="module")
def small(small_paths):
    return _read(small_paths)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The default run (5000 customers, seed 42)."""
    return demo.write_demo(tmp_path_factory.mktemp("full")), None


@pytest.fixture(scope="module")
def full(full_run):
    return _read(full_run[0])


def _purchases(tables) -> pd.DataFrame:
    t = tables["transactions"].copy()
    t["amount"] = t["amount"].astype(float)
    t = t[t["amount"] > 0].copy()
    t["day"] = pd.to_datetime(t["ordered_at"].str[:10])
    return t


# --- files, determinism, identifiers ------------------------------------------------


def test_writes_five_csv_files_with_contract_columns(small_paths, small):
    assert set(small_paths) == set(COLUMNS)
    for name, path in small_paths.items():
        assert path.name == f"{name}.csv" and path.is_file()
        assert list(small[name].columns) == COLUMNS[name], name
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # plain UTF-8, no BOM
        assert b"\r\n" not in raw
        assert raw.split(b"\n", 1)[0].decode() == ",".join(COLUMNS[name])
    assert len(small["customers"]) == 600


def test_same_seed_gives_byte_identical_files(tmp_path, small_paths):
    again = demo.write_demo(tmp_path / "again", n_customers=600, seed=7)
    for name in COLUMNS:
        assert again[name].read_bytes() == small_paths[name].read_bytes(), name


def test_different_seed_gives_different_files(tmp_path, small_paths):
    other = demo.write_demo(tmp_path / "other", n_customers=600, seed=8)
    for name in COLUMNS:
        assert other[name].read_bytes() != small_paths[name].read_bytes(), name


def test_identifiers_are_zero_padded_text(small, small_paths):
    cid = small["customers"]["customer_id"]
    assert cid.str.fullmatch(r"\d{6}").all()
    assert cid.is_unique
    assert cid.str.startswith("0").all()  # leading zeros kept as written
    assert "000001" in set(cid) or "000002" in set(cid)
    for name in ("transactions", "events", "nps", "campaigns"):
        assert small[name]["customer_id"].str.fullmatch(r"\d{6}").all(), name
    tid = small["transactions"]["transaction_id"]
    assert tid.is_unique
    # the ids are written as text, not as numbers that lose their zeros
    first_row = small_paths["customers"].read_text(encoding="utf-8").splitlines()[1]
    assert first_row.startswith("0000")
    # postal codes keep their zeros too (Leipzig 04109, Dresden 01067)
    cities = demo.load_cities()
    assert {"04109", "01067"} <= set(cities["postal_code"])
    assert set(small["customers"]["postal_code"]) <= set(cities["postal_code"])


def test_number_formats(small):
    t = small["transactions"]
    assert t["amount"].str.fullmatch(r"-?\d+\.\d{2}").all()
    assert t["margin"].str.fullmatch(r"0\.\d{2}").all()
    assert t["quantity"].str.fullmatch(r"-?\d+").all()
    assert (t["quantity"].astype(int) != 0).all()
    assert t["ordered_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    c = small["customers"]
    assert c["created_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert c["latitude"].str.fullmatch(r"\d{2}\.\d{4}").all()
    assert c["longitude"].str.fullmatch(r"\d{1,2}\.\d{4}").all()
    assert small["events"]["occurred_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    assert small["nps"]["answered_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    assert small["campaigns"]["sent_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


# --- dates ---------------------------------------------------------------------------


def _check_dates(tables, start: dt.date, end: dt.date):
    lo, hi = start.isoformat(), end.isoformat()
    c = tables["customers"]
    assert c["created_at"].between(lo, hi).all()
    t = tables["transactions"]
    assert t["ordered_at"].str[:10].between(lo, hi).all()
    created = c.set_index("customer_id")["created_at"]
    p = _purchases(tables)
    known = p[p["customer_id"].isin(created.index)]
    assert (known["ordered_at"].str[:10] >= known["customer_id"].map(created)).all()
    e = tables["events"]
    assert e["occurred_at"].str[:10].between(lo, hi).all()
    assert (e["occurred_at"].str[:10] >= e["customer_id"].map(created)).all()
    n = tables["nps"]
    assert n["answered_at"].between(lo, hi).all()
    assert (n["answered_at"] >= n["customer_id"].map(created)).all()
    k = tables["campaigns"]
    assert k["sent_at"].between(lo, hi).all()


def test_dates_within_period_and_purchases_not_before_created(small, full):
    _check_dates(small, START, END)
    _check_dates(full, START, END)


def test_created_at_is_first_known_date_and_grows_over_time(full):
    c = full["customers"]
    e = full["events"]
    first_event = e.groupby("customer_id")["occurred_at"].min().str[:10]
    assert (first_event == c.set_index("customer_id")["created_at"].reindex(first_event.index)).all()
    years = pd.to_datetime(c["created_at"]).sub(pd.Timestamp(START)).dt.days // 365
    per_year = years.value_counts().sort_index()
    assert per_year[0] < per_year[1] < per_year[2]  # acquisition grows


def test_custom_end_date_on_leap_day(tmp_path):
    end = dt.date(2028, 2, 29)
    paths = demo.write_demo(tmp_path, n_customers=150, seed=3, end_date=end)
    _check_dates(_read(paths), dt.date(2025, 3, 1), end)


# --- customer behaviour ------------------------------------------------------------


def test_default_run_size(full):
    assert len(full["customers"]) == 5000
    assert 25_000 <= len(full["transactions"]) <= 60_000


def test_prospect_share_about_ten_percent(full, small):
    for tables in (full, small):
        buyers = set(_purchases(tables)["customer_id"])
        share = 1 - tables["customers"]["customer_id"].isin(buyers).mean()
        assert 0.05 <= share <= 0.15
    buyers = set(_purchases(full)["customer_id"])
    prospects = set(full["customers"]["customer_id"]) - buyers
    with_events = prospects & set(full["events"]["customer_id"])
    leads = set(full["events"].query("event == 'lead'")["customer_id"])
    assert 0.3 * len(prospects) < len(with_events) < len(prospects)  # interested and merely aware
    assert prospects & leads


def test_returns_refer_to_an_earlier_purchase_of_the_customer(full, small):
    for tables in (full, small):
        t = tables["transactions"].copy()
        t["amount"] = t["amount"].astype(float)
        neg = t[t["amount"] < 0]
        assert 0.025 <= len(neg) / len(t) <= 0.06
        orig = t.set_index("transaction_id").loc[neg["transaction_id"].str.removesuffix("-R")]
        assert neg["transaction_id"].str.endswith("-R").all()
        assert (orig["customer_id"].to_numpy() == neg["customer_id"].to_numpy()).all()
        assert (orig["amount"].to_numpy() > 0).all()
        assert (orig["ordered_at"].to_numpy() < neg["ordered_at"].to_numpy()).all()
        assert (-neg["amount"].to_numpy() <= orig["amount"].to_numpy() + 1e-9).all()
        assert (neg["quantity"].astype(int) < 0).all()


def test_same_day_orders_and_identical_timestamps(full, small):
    for tables in (full, small):
        p = _purchases(tables)
        per_day = p.groupby(["customer_id", "day"]).size()
        multi = per_day[per_day > 1]
        assert multi.index.get_level_values(0).nunique() >= 5
        assert (per_day > 1).mean() < 0.2  # several orders a day is the exception
        same_stamp = p[p.duplicated(["customer_id", "ordered_at"], keep=False)]
        assert same_stamp["customer_id"].nunique() >= 2
        assert same_stamp["transaction_id"].is_unique


def test_customers_only_in_transactions(full, small):
    for tables, lo, hi in ((full, 15, 25), (small, 1, 5)):
        known = set(tables["customers"]["customer_id"])
        only = set(tables["transactions"]["customer_id"]) - known
        assert lo <= len(only) <= hi
        for name in ("events", "nps", "campaigns"):
            assert not only & set(tables[name]["customer_id"]), name


def test_bg_nbd_like_purchase_patterns(full):
    p = _purchases(full)
    days = p[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
    n_buyers = days["customer_id"].nunique()
    freq = days.groupby("customer_id").size()
    assert (freq == 1).mean() > 0.15  # many one-time buyers
    assert freq.max() >= 20  # and some heavy buyers
    last_year = days[days["day"] > pd.Timestamp(END) - pd.Timedelta(days=365)]
    loyal = (last_year.groupby("customer_id").size() >= 4).sum()
    assert loyal >= 0.05 * n_buyers
    gaps = days.groupby("customer_id")["day"].diff().dt.days
    assert days.loc[gaps > 180, "customer_id"].nunique() >= 0.02 * n_buyers  # came back after a long break
    last = days.groupby("customer_id")["day"].max()
    churned = (last < pd.Timestamp(END) - pd.Timedelta(days=180)).mean()
    assert 0.15 < churned < 0.7


def test_seasonality_more_orders_in_november_and_december(full):
    p = _purchases(full)
    p = p[p["day"] >= pd.Timestamp(END) - pd.Timedelta(days=364)]  # last full year
    per_day = p.groupby("day").size()
    season = per_day.index.month.isin([11, 12])
    assert per_day[season].mean() > 1.25 * per_day[~season].mean()


def test_categories_margin_and_quantities(full):
    t = full["transactions"]
    assert 5 <= t["category"].nunique() <= 7
    margin = t["margin"].astype(float)
    assert margin.between(0.05, 0.7).all()
    means = t.assign(m=margin).groupby("category")["m"].mean()
    assert means.max() - means.min() > 0.15
    # categories co-occur differently: lift of "bought both" among repeat buyers
    p = _purchases(full)
    bought = pd.crosstab(p["customer_id"], p["category"]) > 0
    bought = bought[bought.sum(axis=1) >= 2].astype(float)
    both = bought.T @ bought / len(bought)
    single = np.diag(both)
    lift = both.to_numpy() / np.outer(single, single)
    off = lift[~np.eye(len(lift), dtype=bool)]
    assert off.max() > 1.2 and off.min() < 0.8


# --- events, NPS, campaigns ------------------------------------------------------------


def test_events_form_a_funnel_and_purchase_events_match_first_purchases(full):
    e = full["events"]
    assert set(e["event"]) == {"visit", "lead", "trial", "purchase"}
    counts = e["event"].value_counts()
    assert counts["visit"] > counts["lead"] > counts["trial"]
    p = _purchases(full)
    known = p[p["customer_id"].isin(set(full["customers"]["customer_id"]))]
    first = known.groupby("customer_id")["ordered_at"].min()
    pe = e[e["event"] == "purchase"].set_index("customer_id")["occurred_at"]
    assert pe.index.is_unique
    assert set(pe.index) == set(first.index)
    assert (pe.reindex(first.index) == first).all()
    # visits, leads and trials precede the first purchase
    pre = e[e["event"] != "purchase"]
    pre = pre[pre["customer_id"].isin(first.index)]
    firsts = pre.groupby("customer_id")["occurred_at"].min()
    assert (firsts <= first.reindex(firsts.index)).all()
    assert e["source"].ne("").all()


def test_nps_scores_and_retention(full, small):
    for tables in (full, small):
        score = tables["nps"]["score"]
        assert score.str.fullmatch(r"\d{1,2}").all()
        assert score.astype(int).between(0, 10).all()
    n = full["nps"].assign(score=lambda d: d["score"].astype(int))
    assert len(n) >= 500
    p = _purchases(full)
    recent = set(p.loc[p["day"] > pd.Timestamp(END) - pd.Timedelta(days=180), "customer_id"])
    in_recent = n["customer_id"].isin(recent)
    assert in_recent.any() and (~in_recent).any()
    assert n.loc[in_recent, "score"].mean() > n.loc[~in_recent, "score"].mean() + 0.3
    assert set(range(0, 11)) <= set(n["score"])
    comments = n["comment"]
    assert 0.2 < (comments == "").mean() < 0.8
    assert comments.str.contains("[äöüÄÖÜß]").any()


def test_campaigns_show_positive_uplift(full):
    k = full["campaigns"]
    assert set(k["group"]) == {"treatment", "control"}
    assert 0.12 < (k["group"] == "control").mean() < 0.28
    assert set(k["channel"]) <= {"email", "sms", "call", "direct mail"}
    assert set(k["stage_targeted"]) <= {"new", "active", "at_risk", "churned", "loyal"}
    assert k["cost"].astype(float).between(0.05, 3.00).all()
    assert 5 <= k["campaign"].nunique() <= 6
    assert not k.duplicated(["campaign", "customer_id"]).any()
    p = _purchases(full)
    uplifts = []
    for campaign, rows in k.groupby("campaign"):
        sent = pd.Timestamp(rows["sent_at"].iloc[0])
        assert rows["sent_at"].nunique() == 1
        window = p[(p["day"] > sent) & (p["day"] <= sent + pd.Timedelta(days=30))]
        bought = rows["customer_id"].isin(set(window["customer_id"]))
        rate = bought.groupby(rows["group"]).mean()
        uplifts.append(rate["treatment"] - rate["control"])
    assert sum(u > 0 for u in uplifts) >= len(uplifts) - 1
    assert np.mean(uplifts) > 0.05
    # pooled over all campaigns as well
    windows = []
    for campaign, rows in k.groupby("campaign"):
        sent = pd.Timestamp(rows["sent_at"].iloc[0])
        window = p[(p["day"] > sent) & (p["day"] <= sent + pd.Timedelta(days=30))]
        windows.append(rows.assign(bought=rows["customer_id"].isin(set(window["customer_id"]))))
    pooled = pd.concat(windows).groupby("group")["bought"].mean()
    assert pooled["treatment"] > pooled["control"] + 0.03


def test_customers_live_in_real_de_at_cities(full):
    cities = demo.load_cities()
    assert 35 <= len(cities) <= 50
    assert set(cities["country"]) == {"DE", "AT"}
    assert {"München", "Köln", "Düsseldorf", "Nürnberg", "Wien", "Graz", "Linz", "Innsbruck"} <= set(cities["city"])
    de, at = cities[cities["country"] == "DE"], cities[cities["country"] == "AT"]
    assert de["latitude"].between(47.2, 55.1).all() and de["longitude"].between(5.8, 15.1).all()
    assert at["latitude"].between(46.3, 49.1).all() and at["longitude"].between(9.5, 17.2).all()
    assert de["postal_code"].str.fullmatch(r"\d{5}").all() and at["postal_code"].str.fullmatch(r"\d{4}").all()
    c = full["customers"].merge(cities, on="city", suffixes=("", "_city"))
    assert len(c) == len(full["customers"])
    assert (c["country"] == c["country_city"]).all()
    assert (c["postal_code"] == c["postal_code_city"]).all()
    dlat = (c["latitude"].astype(float) - c["latitude_city"]).abs()
    dlon = (c["longitude"].astype(float) - c["longitude_city"]).abs()
    assert dlat.max() < 0.5 and dlon.max() < 0.7
    assert dlat.mean() > 0.001  # jittered, not all on the city centre
    assert set(full["customers"]["country"]) == {"DE", "AT"}
    assert full["customers"]["city"].nunique() >= 30
    for col, allowed in (
        ("channel", set(demo.CHANNELS)),
        ("segment", set(demo.SEGMENTS)),
        ("age_group", set(demo.AGE_GROUPS)),
    ):
        assert set(full["customers"][col]) == allowed, col


# --- command line ----------------------------------------------------------------------


def test_main_writes_files(tmp_path, capsys):
    assert demo.main([str(tmp_path / "cli"), "--customers", "80", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    for name in COLUMNS:
        assert (tmp_path / "cli" / f"{name}.csv").is_file()
        assert name in out
    via_api = demo.write_demo(tmp_path / "api", n_customers=80, seed=5)
    for name in COLUMNS:
        assert via_api[name].read_bytes() == (tmp_path / "cli" / f"{name}.csv").read_bytes()
