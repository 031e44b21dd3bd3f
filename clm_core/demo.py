"""Seeded generator of a realistic demo dataset (DESIGN §2 tables).

``write_demo(out_dir)`` writes five UTF-8 CSV files (comma separated, header
row, dot decimals, ISO dates) that follow the data contract of DESIGN §2:
``customers.csv``, ``transactions.csv``, ``events.csv``, ``nps.csv`` and
``campaigns.csv``. The same seed gives byte-identical files.

How the data is made (all vectorised with numpy; loops run over purchase
*rounds* or campaigns, never over customers):

* Customers are created (first known date: lead/awareness) over the three
  years ending at ``end_date``, more of them later on and in Nov/Dec. Cities
  come from ``clm_core/data/cities.csv`` (weighted by population), with a small
  jitter of the coordinates around the city centre.
* About 10 % never buy (prospects); the others make a first purchase after a
  short lead time.
* Repeat purchases follow a BG/NBD-like process: each customer has a
  Gamma-distributed purchase rate and a Beta-distributed probability to drop
  out after each purchase. Purchase times run on a seasonal clock (more orders
  in November/December). A dropout comes back with a small probability after a
  long break (> 190 days: "reactivated").
* A purchase day has one or more orders; a few customers have two orders with
  exactly the same timestamp. About 4 % of the rows are returns: a negative
  amount some days after one of the customer's own purchases, whose
  ``transaction_id`` is that purchase's id with ``-R`` appended.
* Campaigns target the customers in one lifecycle stage (DESIGN §3.1 rules,
  without the NPS part of the loyal rule) at ``sent_at``; 80 % are treatment,
  20 % control, and only treated customers get extra purchases in the 30 days
  after ``sent_at``. Every row of a campaign carries the campaign's cost per
  contact (control rows too, although they were not contacted).
* NPS answers follow some purchases; the score depends on the customer's
  dropout probability and on whether the customer bought again afterwards, so
  retained customers answer higher.
* A planted change: NPS answers of the last 30 days score 2 points lower (a
  service problem, ``PLANTED_NPS_DROP``), so the Overview's "What changed" panel
  (``clm_core.metrics.changes``) reports the fall of the NPS in that period.
* About 0.4 % of the customers (20 of 5000), all buyers, are left out of
  ``customers.csv`` and of the other tables: they appear only in
  ``transactions.csv``.

Run ``python -m clm_core.demo OUT_DIR [--customers N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import pathlib
import sys
from importlib import resources

import numpy as np
import pandas as pd

DEFAULT_END_DATE = dt.date(2026, 10, 31)
YEARS = 3

CHANNELS = ("Organic Search", "Paid Search", "Social", "Email", "Referral", "Marketplace")
CHANNEL_P = (0.30, 0.22, 0.18, 0.10, 0.08, 0.12)
#: dropout multiplier by channel (referred customers stay longer)
CHANNEL_DROPOUT = (1.0, 1.1, 1.2, 0.9, 0.7, 1.3)
CHANNEL_SOURCE = ("google_organic", "google_ads", "instagram", "newsletter", "referral_partner", "marketplace")

#: The planted change: the answers of the last PLANTED_NPS_DAYS days score PLANTED_NPS_DROP points lower (a
#: service problem), so that the Overview's "What changed" panel has something real to report.
PLANTED_NPS_DAYS, PLANTED_NPS_DROP = 30, 1.0
SEGMENTS = ("Consumer", "Business", "Premium")
SEGMENT_P = (0.72, 0.16, 0.12)
SEGMENT_RATE = (1.0, 1.5, 1.25)  # purchase-rate multiplier
SEGMENT_PRICE = (1.0, 1.2, 1.8)  # price multiplier
SEGMENT_QTY = (0.35, 1.6, 0.5)  # Poisson mean of extra units

AGE_GROUPS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_P = (0.12, 0.26, 0.22, 0.18, 0.13, 0.09)

CATEGORIES = ("Electronics", "Accessories", "Home & Living", "Fashion", "Sports & Outdoor", "Books & Media")
CAT_PRICE = (180.0, 25.0, 60.0, 55.0, 70.0, 18.0)  # median unit price (EUR)
CAT_MARGIN = (0.18, 0.48, 0.36, 0.52, 0.38, 0.27)
#: taste profiles: category weights; categories co-occur within a profile
PROFILES = np.array(
    [
        [0.46, 0.38, 0.03, 0.03, 0.02, 0.08],  # tech
        [0.04, 0.06, 0.52, 0.14, 0.04, 0.20],  # home
        [0.03, 0.10, 0.04, 0.33, 0.48, 0.02],  # active
        [0.02, 0.26, 0.10, 0.56, 0.03, 0.03],  # style
    ]
)
PROFILE_P = (0.25, 0.28, 0.22, 0.25)

#: order volume by calendar month (Jan..Dec)
MONTH_FACTOR = np.array([0.85, 0.8, 0.95, 0.95, 1.0, 0.9, 0.85, 0.85, 1.0, 1.05, 1.65, 1.85])
#: order volume by hour of day
HOUR_WEIGHT = np.array(
    [1.0, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.0, 3.2, 3.5,
     3.8, 3.5, 3.3, 3.3, 3.5, 4.0, 4.5, 5.0, 5.0, 4.5, 3.0, 1.8]
)

# BG/NBD-like purchase process (rates per day)
GAMMA_SHAPE = 0.8
MEAN_RATE = 1 / 34
MAX_RATE = 1 / 3
BETA_A, BETA_B = 1.0, 6.5
REACTIVATE_P = 0.2
REACTIVATE_GAP = (190, 520)  # days
PROSPECT_P = 0.075
RETURN_P = 0.043

# stage thresholds of DESIGN §3.1 (defaults), used to pick campaign targets
NEW_DAYS, AT_RISK_DAYS, CHURN_DAYS, LOYAL_ORDERS = 90, 90, 180, 4

#: (name, months after the period start, day of month, stage, channel,
#:  cost per contact, uplift: P(extra purchase | treated), max contacts)
CAMPAIGNS = (
    ("Welcome Series", 4, 12, "new", "email", 0.05, 0.20, None),
    ("Black Week Loyalty", 12, 18, "loyal", "email", 0.06, 0.18, None),
    ("Win-back Mailing", 16, 10, "churned", "direct mail", 1.20, 0.08, None),
    ("At-Risk SMS", 19, 16, "at_risk", "sms", 0.09, 0.12, None),
    ("Key Account Calls", 22, 22, "active", "call", 3.00, 0.25, 400),
    ("Reactivation Voucher", 30, 4, "churned", "direct mail", 0.85, 0.07, None),
)
CAMPAIGN_WINDOW = 30
CONTROL_SHARE = 0.2

NPS_COMMENTS = {
    "promoter": (
        "Super Service, schnelle Lieferung!",
        "Sehr zufrieden, gerne wieder.",
        "Top Qualität und freundliche Beratung.",
        "Die Rückgabe war völlig unkompliziert.",
        "Great products, fast delivery.",
        "Alles bestens, danke!",
    ),
    "passive": (
        "Ganz okay, aber etwas teuer.",
        "Lieferung hat länger gedauert als angekündigt.",
        "Gute Auswahl, die Website könnte übersichtlicher sein.",
        "Preis-Leistung passt größtenteils.",
        "Fine overall.",
    ),
    "detractor": (
        "Zu teuer für die Qualität.",
        "Ware kam beschädigt an – sehr ärgerlich.",
        "Kundenservice schwer erreichbar.",
        "Rücksendung war umständlich.",
        "Größe fällt zu klein aus.",
        "Delivery was late and nobody answered my e-mail.",
    ),
}

TABLES = ("customers", "transactions", "events", "nps", "campaigns")
DAY = 86400


def load_cities() -> pd.DataFrame:
    """The bundled city table (city, country, postal_code, latitude, longitude, population)."""
    text = resources.files("clm_core.data").joinpath("cities.csv").read_text(encoding="utf-8")
    return pd.read_csv(
        io.StringIO(text),
        dtype={"city": str, "country": str, "postal_code": str},
        keep_default_na=False,
    )


def _start_date(end_date: dt.date) -> dt.date:
    try:
        before = end_date.replace(year=end_date.year - YEARS)
    except ValueError:  # 29 February
        before = end_date.replace(year=end_date.year - YEARS, day=28)
    return before + dt.timedelta(days=1)


def _add_months(d: dt.date, months: int, day: int) -> dt.date:
    m = d.month - 1 + months
    return dt.date(d.year + m // 12, m % 12 + 1, day)


def _pick(rng: np.random.Generator, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _tod(rng: np.random.Generator, size: int) -> np.ndarray:
    """Seconds of the day, following the hourly order profile."""
    hour = _pick(rng, HOUR_WEIGHT, size)
    return hour * 3600 + rng.integers(0, 3600, size)


def _stamp(start: dt.date, seconds: np.ndarray) -> np.ndarray:
    t = np.datetime64(start, "s") + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")
    return np.char.replace(np.datetime_as_string(t, unit="s"), "T", " ")


def _date(start: dt.date, days: np.ndarray) -> np.ndarray:
    t = np.datetime64(start, "D") + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
    return np.datetime_as_string(t, unit="D")


def _fmt(fmt: str, values: np.ndarray) -> np.ndarray:
    return np.char.mod(fmt, np.asarray(values))


def _unique_days(cust: np.ndarray, day: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (customer, day) pairs sorted by customer, then day."""
    key = np.unique(cust.astype(np.int64) * span + day)
    return key // span, key % span


def _stages_at(pc: np.ndarray, pd_: np.ndarray, n: int, t: int) -> np.ndarray:
    """Stage of each customer at day t (DESIGN §3.1; loyal by orders only).

    pc/pd_: distinct purchase days sorted by customer, then day.
    """
    m = pd_ <= t
    c, d = pc[m], pd_[m]
    first = np.full(n, -1)
    last = np.full(n, -1)
    prev = np.full(n, -1)
    if c.size:
        is_last = np.r_[c[1:] != c[:-1], True]
        is_first = np.r_[True, c[1:] != c[:-1]]
        last[c[is_last]] = d[is_last]
        first[c[is_first]] = d[is_first]
        li = np.flatnonzero(is_last)
        has_prev = (li > 0) & (c[np.maximum(li - 1, 0)] == c[li])
        prev[c[li[has_prev]]] = d[li[has_prev] - 1]
    recent = np.bincount(c[d > t - 365], minlength=n)
    stage = np.full(n, "active", dtype=object)
    rec = t - last
    stage[recent >= LOYAL_ORDERS] = "loyal"
    stage[(prev >= 0) & (last - prev >= CHURN_DAYS)] = "reactivated"
    stage[t - first < NEW_DAYS] = "new"
    stage[rec > AT_RISK_DAYS] = "at_risk"
    stage[rec > CHURN_DAYS] = "churned"
    stage[last < 0] = "prospect"
    return stage


def generate_demo(
    n_customers: int = 5000,
    seed: int = 42,
    end_date: dt.date = DEFAULT_END_DATE,
) -> dict[str, pd.DataFrame]:
    """The five demo tables as data frames of text columns, ready to write."""
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    rng = np.random.default_rng(seed)
    start = _start_date(end_date)
    D = (end_date - start).days + 1  # days in the period, day index 0..D-1
    G = D + 2 * 366  # clock grid beyond the end, for draws that overshoot
    n_orphans = max(1, round(n_customers * 0.004))
    n = n_customers + n_orphans

    # --- seasonal clock ------------------------------------------------------
    months = (np.datetime64(start, "D") + np.arange(G)).astype("datetime64[M]").astype(int) % 12
    season = MONTH_FACTOR[months]
    clock = np.r_[0.0, np.cumsum(season)]  # operational time at the start of each day
    grid = np.arange(G + 1, dtype=float)

    # --- customers -----------------------------------------------------------
    growth = 1.0 + 2.0 * np.arange(D) / D  # three times as many sign-ups at the end
    created = np.sort(_pick(rng, growth * season[:D] ** 0.5, n))
    cities = load_cities()
    city = _pick(rng, cities["population"].to_numpy() ** 0.85, n)
    channel = _pick(rng, CHANNEL_P, n)
    segment = _pick(rng, SEGMENT_P, n)
    age = _pick(rng, AGE_P, n)
    profile = _pick(rng, PROFILE_P, n)
    spend = rng.lognormal(0.0, 0.3, n)
    lat0 = cities["latitude"].to_numpy()[city]
    lon0 = cities["longitude"].to_numpy()[city]
    spread = 0.008 + 0.03 * np.sqrt(cities["population"].to_numpy()[city] / 1e6)
    lat = lat0 + rng.normal(0.0, 1.0, n) * spread
    lon = lon0 + rng.normal(0.0, 1.0, n) * spread / np.cos(np.radians(lat0))

    rate = rng.gamma(GAMMA_SHAPE, MEAN_RATE / GAMMA_SHAPE, n) * np.asarray(SEGMENT_RATE)[segment]
    rate = np.clip(rate, 1 / 3000, MAX_RATE)
    dropout = np.clip(rng.beta(BETA_A, BETA_B, n) * np.asarray(CHANNEL_DROPOUT)[channel], 0.01, 0.95)

    lead_time = np.where(rng.random(n) < 0.4, 0, np.ceil(rng.lognormal(2.3, 1.0, n))).astype(int)
    first_day = created + lead_time
    buyer = (rng.random(n) >= PROSPECT_P) & (first_day < D)

    # --- purchase days: BG/NBD-like rounds ------------------------------------
    idx = np.flatnonzero(buyer)
    t = first_day[idx] + rng.random(idx.size)
    comebacks = np.full(idx.size, 2)
    p_cust, p_day = [idx], [first_day[idx]]
    for _ in range(5000):
        if not idx.size:
            break
        drop = rng.random(idx.size) < dropout[idx]
        back = drop & (comebacks > 0) & (rng.random(idx.size) < REACTIVATE_P)
        op = np.interp(t, grid, clock) + rng.exponential(1.0, idx.size) / rate[idx]
        tn = np.interp(op, clock, grid)
        tn[back] = t[back] + rng.uniform(*REACTIVATE_GAP, int(back.sum()))
        comebacks = comebacks - back
        keep = (~drop | back) & (tn < D)
        idx, t, comebacks = idx[keep], tn[keep], comebacks[keep]
        p_cust.append(idx)
        p_day.append(np.floor(t).astype(int))
    pc, pdays = _unique_days(np.concatenate(p_cust), np.concatenate(p_day), G)

    # --- which buyers exist only in transactions --------------------------------
    orphan = np.zeros(n, dtype=bool)
    orphan[rng.choice(np.flatnonzero(buyer), size=min(n_orphans, int(buyer.sum())), replace=False)] = True

    # --- campaigns: stage targets, control group, extra purchases -----------------
    camp_rows = []
    for name, m_off, mday, stage_name, ch, cost, uplift, cap in CAMPAIGNS:
        sent = _add_months(start, m_off, mday)
        s = (sent - start).days
        if not 0 <= s <= D - 1 - CAMPAIGN_WINDOW:
            continue
        stage = _stages_at(pc, pdays, n, s)
        target = np.flatnonzero((stage == stage_name) & (created <= s) & ~orphan)
        if cap is not None and target.size > cap:
            target = np.sort(rng.choice(target, size=cap, replace=False))
        if not target.size:
            continue
        treat = rng.random(target.size) >= CONTROL_SHARE
        hit = target[treat & (rng.random(target.size) < uplift)]
        extra = s + rng.integers(1, CAMPAIGN_WINDOW + 1, hit.size)
        pc, pdays = _unique_days(np.r_[pc, hit], np.r_[pdays, extra], G)
        camp_rows.append(
            pd.DataFrame(
                {
                    "cust": target,
                    "campaign": f"{name} {sent.year}",
                    "sent_at": sent.isoformat(),
                    "group": np.where(treat, "treatment", "control"),
                    "channel": ch,
                    "cost": f"{cost:.2f}",
                    "stage_targeted": stage_name,
                }
            )
        )

    # --- orders on purchase days ------------------------------------------------
    n_orders = 1 + (rng.random(pc.size) < 0.06) + (rng.random(pc.size) < 0.015)
    oc = np.repeat(pc, n_orders)
    oday = np.repeat(pdays, n_orders)
    ots = oday.astype(np.int64) * DAY + _tod(rng, oc.size)
    # a few customers with two orders at exactly the same second
    n_twins = max(3, n_customers // 800)
    twin = rng.choice(oc.size, size=min(n_twins, oc.size), replace=False)
    oc, oday, ots = np.r_[oc, oc[twin]], np.r_[oday, oday[twin]], np.r_[ots, ots[twin]]
    order = np.lexsort((oc, ots))
    oc, oday, ots = oc[order], oday[order], ots[order]
    m = oc.size
    prof = PROFILES[profile[oc]].cumsum(axis=1)
    cat = (prof < rng.random(m)[:, None] * prof[:, -1:]).sum(axis=1)
    qty = 1 + rng.poisson(np.asarray(SEGMENT_QTY)[segment[oc]])
    unit = np.asarray(CAT_PRICE)[cat] * np.asarray(SEGMENT_PRICE)[segment[oc]] * spend[oc]
    unit = unit * rng.lognormal(0.0, 0.45, m)
    amount = np.maximum(np.round(unit * qty, 2), 1.0)
    margin = np.clip(np.asarray(CAT_MARGIN)[cat] + rng.normal(0.0, 0.03, m), 0.05, 0.7)
    tid = np.char.add("T", np.char.zfill(np.arange(1, m + 1).astype(str), 7))

    # --- returns ---------------------------------------------------------------
    r = np.flatnonzero((rng.random(m) < RETURN_P) & (oday <= D - 2))
    room = np.minimum(30, D - 1 - oday[r])
    rday = oday[r] + 1 + np.floor(rng.random(r.size) * room).astype(int)
    partial = (qty[r] > 1) & (rng.random(r.size) < 0.35)
    rqty = np.where(partial, 1 + np.floor(rng.random(r.size) * (qty[r] - 1)).astype(int), qty[r])
    ramount = -np.round(amount[r] * rqty / qty[r], 2)
    trans = pd.DataFrame(
        {
            "ts": np.r_[ots, rday.astype(np.int64) * DAY + _tod(rng, r.size)],
            "transaction_id": np.r_[tid, np.char.add(tid[r], "-R")],
            "cust": np.r_[oc, oc[r]],
            "amount": np.r_[amount, ramount],
            "category": np.asarray(CATEGORIES)[np.r_[cat, cat[r]]],
            "quantity": np.r_[qty, -rqty],
            "margin": np.round(np.r_[margin, margin[r]], 2),
        }
    ).sort_values(["ts", "transaction_id"], kind="stable")

    # --- events: funnel ------------------------------------------------------------
    ev_c, ev_ts, ev_kind, ev_src = [], [], [], []

    def add(c, ts, kind, src):
        ev_c.append(c)
        ev_ts.append(np.asarray(ts, dtype=np.int64))
        ev_kind.append(np.full(c.size, kind, dtype=object))
        ev_src.append(np.asarray(src, dtype=object) if np.ndim(src) else np.full(c.size, src, dtype=object))

    has_purchase = np.zeros(n, dtype=bool)
    has_purchase[pc] = True
    first_ts = np.full(n, -1, dtype=np.int64)
    pos = trans["amount"].to_numpy() > 0
    tc, tts = trans["cust"].to_numpy()[pos], trans["ts"].to_numpy()[pos]
    fi = np.unique(tc, return_index=True)[1]  # trans is sorted by time
    first_ts[tc[fi]] = tts[fi]
    acq = np.asarray(CHANNEL_SOURCE, dtype=object)[channel]

    b = np.flatnonzero(has_purchase)
    tp = first_ts[b]
    same_day = created[b] * DAY + DAY > tp
    tv0 = np.where(
        same_day,
        np.maximum(created[b] * DAY, tp - rng.integers(120, 5400, b.size)),
        created[b] * DAY + _tod(rng, b.size),
    )
    tv0 = np.maximum(np.minimum(tv0, tp - 1), created[b] * DAY)
    add(b, tv0, "visit", acq[b])
    k = rng.poisson(1.3, b.size)
    vb = np.repeat(np.arange(b.size), k)
    add(b[vb], tv0[vb] + np.floor(rng.random(vb.size) * (tp[vb] - tv0[vb])), "visit", acq[b[vb]])
    has_lead = rng.random(b.size) < 0.7
    lead_ts = tv0 + np.floor(rng.random(b.size) * (tp - tv0))
    add(b[has_lead], lead_ts[has_lead], "lead", acq[b[has_lead]])
    has_trial = has_lead & (rng.random(b.size) < 0.4)
    trial_ts = lead_ts + np.floor(rng.random(b.size) * (tp - lead_ts))
    add(b[has_trial], trial_ts[has_trial], "trial", acq[b[has_trial]])
    add(b, tp, "purchase", np.where(channel[b] == CHANNELS.index("Marketplace"), "marketplace", "webshop"))
    # visits before some later orders
    later = pos & (trans["ts"].to_numpy() > first_ts[trans["cust"].to_numpy()])
    lc, lts = trans["cust"].to_numpy()[later], trans["ts"].to_numpy()[later]
    sel = rng.random(lc.size) < 0.3
    lc, lts = lc[sel], lts[sel]
    vts = np.maximum(lts - rng.integers(60, 1800, lc.size), (lts // DAY) * DAY)
    later_src = np.asarray(("direct", "newsletter", "google_organic", "instagram"), dtype=object)
    add(lc, vts, "visit", later_src[_pick(rng, (0.4, 0.25, 0.25, 0.1), lc.size)])
    # prospects: some have visits, leads and trials, the rest are only known
    pr = np.flatnonzero(~has_purchase & (rng.random(n) < 0.65))
    p0 = created[pr] * DAY + _tod(rng, pr.size)
    horizon = np.minimum(p0 + 60 * DAY, D * DAY - 1) - p0
    add(pr, p0, "visit", acq[pr])
    k = rng.poisson(1.0, pr.size)
    vp = np.repeat(np.arange(pr.size), k)
    add(pr[vp], p0[vp] + np.floor(rng.random(vp.size) * horizon[vp]), "visit", acq[pr[vp]])
    pl = rng.random(pr.size) < 0.5
    pl_ts = p0 + np.floor(rng.random(pr.size) * horizon)
    add(pr[pl], pl_ts[pl], "lead", acq[pr[pl]])
    pt = pl & (rng.random(pr.size) < 0.25)
    pt_ts = pl_ts + np.floor(rng.random(pr.size) * (p0 + horizon - pl_ts))
    add(pr[pt], pt_ts[pt], "trial", acq[pr[pt]])
    rank = {"visit": 0, "lead": 1, "trial": 2, "purchase": 3}
    events = pd.DataFrame(
        {
            "cust": np.concatenate(ev_c),
            "ts": np.concatenate(ev_ts),
            "event": np.concatenate(ev_kind),
            "source": np.concatenate(ev_src),
        }
    )
    events["rank"] = events["event"].map(rank)
    events = events.sort_values(["ts", "cust", "rank"], kind="stable")

    # --- NPS ---------------------------------------------------------------------
    asked = rng.random(pc.size) < 0.08
    nc, nday = pc[asked], pdays[asked] + rng.integers(3, 22, int(asked.sum()))
    ok = nday <= D - 1
    nc, nday = _unique_days(nc[ok], nday[ok], G)
    last_day = np.full(n, -1)
    np.maximum.at(last_day, pc, pdays)
    bought_after = last_day[nc] > nday
    mu = 9.6 - 10.0 * dropout[nc] - 2.4 * ~bought_after + 0.6 * (segment[nc] == SEGMENTS.index("Premium"))
    mu -= PLANTED_NPS_DROP * (nday >= D - PLANTED_NPS_DAYS)  # the planted change (module docstring)
    score = np.clip(np.round(mu + rng.normal(0.0, 1.5, nc.size)), 0, 10).astype(int)
    band = np.where(score >= 9, "promoter", np.where(score >= 7, "passive", "detractor"))
    comment = np.full(nc.size, "", dtype=object)
    for name, texts in NPS_COMMENTS.items():
        mb = np.flatnonzero((band == name) & (rng.random(nc.size) < 0.55))
        comment[mb] = np.asarray(texts, dtype=object)[rng.integers(0, len(texts), mb.size)]

    # --- text tables ------------------------------------------------------------------
    cid = np.char.zfill(np.arange(1, n + 1).astype(str), 6)
    keep = ~orphan
    customers = pd.DataFrame(
        {
            "customer_id": cid,
            "created_at": _date(start, created),
            "channel": np.asarray(CHANNELS)[channel],
            "segment": np.asarray(SEGMENTS)[segment],
            "country": cities["country"].to_numpy()[city],
            "city": cities["city"].to_numpy()[city],
            "postal_code": cities["postal_code"].to_numpy()[city],
            "latitude": _fmt("%.4f", lat),
            "longitude": _fmt("%.4f", lon),
            "age_group": np.asarray(AGE_GROUPS)[age],
        }
    )[keep]
    transactions = pd.DataFrame(
        {
            "transaction_id": trans["transaction_id"].to_numpy(),
            "customer_id": cid[trans["cust"].to_numpy()],
            "ordered_at": _stamp(start, trans["ts"].to_numpy()),
            "amount": _fmt("%.2f", trans["amount"].to_numpy()),
            "category": trans["category"].to_numpy(),
            "quantity": trans["quantity"].to_numpy().astype(str),
            "margin": _fmt("%.2f", trans["margin"].to_numpy()),
        }
    )
    ev_keep = keep[events["cust"].to_numpy()]
    events_out = pd.DataFrame(
        {
            "customer_id": cid[events["cust"].to_numpy()],
            "occurred_at": _stamp(start, events["ts"].to_numpy()),
            "event": events["event"].to_numpy(),
            "source": events["source"].to_numpy(),
        }
    )[ev_keep]
    nps = pd.DataFrame(
        {
            "customer_id": cid[nc],
            "answered_at": _date(start, nday),
            "score": score.astype(str),
            "comment": comment,
        }
    )
    nps_order = np.lexsort((nc, nday))
    nps = nps.iloc[nps_order[keep[nc[nps_order]]]]
    camp_cols = ["campaign", "sent_at", "group", "channel", "cost", "stage_targeted"]
    if camp_rows:
        camp = pd.concat(camp_rows, ignore_index=True)
    else:
        camp = pd.DataFrame({"cust": np.array([], dtype=int), **{c: np.array([], dtype=object) for c in camp_cols}})
    campaigns = camp.assign(customer_id=cid[camp["cust"].to_numpy()])[["customer_id", *camp_cols]]
    out = {
        "customers": customers,
        "transactions": transactions,
        "events": events_out,
        "nps": nps,
        "campaigns": campaigns,
    }
    return {k: v.reset_index(drop=True) for k, v in out.items()}


def write_demo(
    out_dir,
    n_customers: int = 5000,
    seed: int = 42,
    end_date: dt.date = DEFAULT_END_DATE,
) -> dict[str, pathlib.Path]:
    """Write the five demo CSV files into out_dir; returns table name -> path."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in generate_demo(n_customers, seed, end_date).items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clm_core.demo", description="Write the seeded demo dataset as five CSV files."
    )
    parser.add_argument("out_dir", help="directory to write customers/transactions/events/nps/campaigns.csv into")
    parser.add_argument("--customers", type=int, default=5000, help="number of customers (default 5000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=DEFAULT_END_DATE,
        help=f"last day of the data, YYYY-MM-DD (default {DEFAULT_END_DATE.isoformat()})",
    )
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    paths = write_demo(args.out_dir, n_customers=args.customers, seed=args.seed, end_date=args.end_date)
    for name, path in paths.items():
        with open(path, encoding="utf-8") as fh:
            rows = sum(1 for _ in fh) - 1
        print(f"{name}: {rows} rows -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
