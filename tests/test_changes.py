"""What changed (clm_core.metrics.changes): hand-computed p-values on a tiny fixture, a planted change that must
be found (direction and driving segment), noise-only data that must report nothing, and the Overview's panel
(AppTest, English and German, with its links)."""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from clm_core import ingest, store
from clm_core.metrics.changes import (
    all_tests,
    benjamini_hochberg,
    changes,
    nps_difference_p,
    revenue_counts,
    sum_difference_p,
)
from clm_core.metrics.losses import losses, two_proportion_p

from apptest import page_opener
from test_losses import CUSTOMERS, TRANSACTIONS  # the customers of the losses tests, with NPS answers

AS_OF = dt.date(2024, 6, 30)

# The customers and transactions of tests/test_losses.py (see there for each customer's stages), with NPS answers.
# With days=30 the later period is June 1–30 (calendar June) and the earlier one May 2–31.
# May: 10, 10, 9, 0 (p = .75, d = .25, NPS 50); June: 0, 3, 10, 8 (p = .25, d = .5, NPS −25); May 1 is outside
NPS = """
customer_id,answered_at,score
c5,2024-05-01,0
c1,2024-05-02,10
c2,2024-05-10,10
c3,2024-05-20,9
c4,2024-05-31,0
c1,2024-06-01,0
c2,2024-06-10,3
c3,2024-06-20,10
c4,2024-06-30,8
"""


@pytest.fixture(scope="module")
def fixture(load):
    return load(customers=CUSTOMERS, transactions=TRANSACTIONS, nps=NPS)


def by_kind(tests):
    return {c.kind: c for c in tests}


def test_p_values_of_the_tiny_fixture_by_hand(fixture):
    tests = by_kind(all_tests(fixture, days=30, as_of=AS_OF, steps=(), min_size=1))
    assert list(tests) == ["nps", "active_share", "at_risk", "churned"]  # revenue: no purchase in June
    nps = tests["nps"]
    assert (nps.before, nps.after, nps.size_before, nps.size_after) == (50.0, -25.0, 4, 4)
    # variance (p + d − (p − d)²) / n: May (.75 + .25 − .25) / 4 = .1875, June (.25 + .5 − .0625) / 4 = .171875
    z = (-0.25 - 0.5) / math.sqrt(0.1875 + 0.171875)
    assert z == pytest.approx(-1.2511, abs=1e-4)
    assert nps.p_value == pytest.approx(math.erfc(-z / math.sqrt(2)))
    assert nps.p_value == pytest.approx(0.21090, abs=1e-5)
    assert nps.direction == "down" and nps.page == "nps"
    # churn base on May 1: c1 c2 c4 c6 c7 c8, nobody churns in May 2–31 (c2 bought on May 15); on May 31 the
    # same six, of whom c7 (Jun 18) and c1 (Jun 30) churn: 2/6 against 0/6, pooled share 1/6
    churned = tests["churned"]
    assert (churned.count_before, churned.size_before, churned.count_after, churned.size_after) == (0, 6, 2, 6)
    z = (2 / 6) / math.sqrt((1 / 6) * (5 / 6) * (1 / 6 + 1 / 6))
    assert churned.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert churned.p_value == pytest.approx(0.12134, abs=1e-5)
    june = losses(fixture, "month", 1, as_of=AS_OF)  # June is one calendar month of 30 days: the same numbers
    assert (june["churned"].iloc[0], june["churned_base"].iloc[0]) == (2, 6)
    assert (june["at_risk"].iloc[0], june["at_risk_base"].iloc[0]) == (0, 2)
    # at-risk base on May 1: c4 c6 c8, of whom c4 (May 11) and c8 (May 31) become at risk; on May 31: c2 c6
    at_risk = tests["at_risk"]
    assert (at_risk.count_before, at_risk.size_before, at_risk.count_after, at_risk.size_after) == (2, 3, 0, 2)
    assert at_risk.p_value == pytest.approx(0.13604, abs=1e-5)  # pooled .4: z = −(2/3) / √(.24 · (1/2 + 1/3))
    # active share: 2 of 7 buyers on May 31 (c2, c6) and on June 30 (c2, c6)
    active = tests["active_share"]
    assert (active.count_before, active.size_before, active.count_after, active.size_after) == (2, 7, 2, 7)
    assert active.p_value == 1.0
    # Benjamini–Hochberg, m = 4: churned .1213 · 4 = .485, at risk .1360 · 2 = .272, NPS .2109 · 4/3 = .281, 1.0
    assert churned.adjusted_p == pytest.approx(at_risk.p_value * 2)
    assert at_risk.adjusted_p == pytest.approx(at_risk.p_value * 2)
    assert nps.adjusted_p == pytest.approx(nps.p_value * 4 / 3) and active.adjusted_p == 1.0
    assert changes(fixture, days=30, as_of=AS_OF, steps=(), min_size=1) == []  # nothing significant
    assert all_tests(fixture, days=30, as_of=AS_OF, steps=()) == []  # fewer than 30 in every period: no test
    # a stage filter picks its customers on T (nobody at risk on T is active on T): no comparison
    from clm_core.filters import SegmentFilter

    assert all_tests(fixture, days=30, as_of=AS_OF, steps=(), min_size=1, segment=SegmentFilter(stages=("at_risk",))) == []
    assert len(all_tests(fixture, days=30, as_of=AS_OF, steps=(), min_size=1,
                         segment=SegmentFilter(attributes={"region": ("north", "south")}))) == 4


def test_revenue_counts_and_the_small_formulas_by_hand(fixture):
    counts = revenue_counts(fixture, AS_OF, 30, None, None)
    row = counts.iloc[0]
    # May 2–31: c2's 10 on May 15; June: nothing
    assert (row["size0"], row["count0"], row["squares0"], row["size1"], row["count1"]) == (1, 10, 100, 0, 0)
    assert sum_difference_p(10, 100, 0, 0) == pytest.approx(math.erfc(1 / math.sqrt(2)))  # z = −10 / √100
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    # NPS +40 from 100 answers (55/30/15) against 0 from 100 (35/30/35)
    z = 0.4 / math.sqrt((0.70 - 0.16) / 100 + 0.70 / 100)
    assert nps_difference_p(55, 15, 100, 35, 35, 100) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert two_proportion_p(10, 100, 10, 100) == 1.0 and nps_difference_p(1, 0, 1, 1, 0, 1) == 1.0


def test_a_large_segment_does_not_drive_a_change_everybody_shares():
    import pandas as pd

    from clm_core.metrics.changes import _test, driver

    def churn(big, small):  # (lost before, lost after) of 800 and 200 customers in the base
        return pd.DataFrame({"segment": ["big", "small"], "size0": [800, 200], "count0": [big[0], small[0]],
                             "size1": [800, 200], "count1": [big[1], small[1]]})

    everybody = churn((40, 120), (10, 30))  # 5 % → 15 % in both: big makes 80 % of the change
    change = _test("churned", everybody, 30)
    assert change.p_value < 0.001 and driver(change, everybody, "tier", 30).segment is None
    only_big = churn((40, 120), (10, 10))  # only big moves
    change = _test("churned", only_big, 30)
    found = driver(change, only_big, "tier", 30)
    assert (found.attribute, found.segment) == ("tier", "big")
    assert found.segment_share == pytest.approx((800 / 1000) * (0.10) / (0.08))  # its rate effect / the total's
    assert (found.segment_before, found.segment_after) == (0.05, 0.15)


# ----------------------------------------------------------------------------------- generated data

HISTORY = 1200  # days of data up to AS_OF


def generate(seed: int, plant: bool = False) -> dict[str, str]:
    """CSV texts of a steady business: about 3 sign-ups a day over HISTORY days in segments A, B, C; 60 % buy
    (first purchase about 10 days after signing up), then every 30 days on average for an exponential lifetime
    (mean 300 days); about 10 NPS answers a day over the last 400 days, NPS about +40 (55 % promoters, 15 %
    detractors). Nothing changes over time, so two periods differ by noise only.

    ``plant``: in the last 30 days NPS about 0 (35 % promoters, 35 % detractors), and 40 customers of segment B
    who would have kept buying stop 182–210 days before the end, so they churn in the last 30 days: B's churn
    about triples (about 18 a month otherwise)."""
    rng = np.random.default_rng(seed)
    n = int(rng.poisson(3 * HISTORY))
    created = np.sort(rng.integers(0, HISTORY, n))
    segment = rng.choice(np.array(["A", "B", "C"]), n)
    buys = rng.random(n) < 0.6
    first = created + np.ceil(rng.exponential(10, n)).astype(int)
    life = rng.exponential(300, n)
    repeats = rng.poisson(life / 30)
    who = np.repeat(np.arange(n), repeats)
    day = np.concatenate([first, first[who] + np.floor(rng.random(who.size) * life[who]).astype(int)])
    who = np.concatenate([np.arange(n), who])
    keep = buys[who] & (day <= HISTORY)
    who, day = who[keep], day[keep]
    if plant:
        alive = np.flatnonzero((segment == "B") & buys & (first <= HISTORY - 240) & (first + life > HISTORY - 150))
        chosen = rng.choice(alive, 40, replace=False)
        last = np.full(n, HISTORY)
        last[chosen] = rng.integers(HISTORY - 210, HISTORY - 181, chosen.size)  # churned 181 days later
        keep = day <= last[who]
        who, day = np.concatenate([who[keep], chosen]), np.concatenate([day[keep], last[chosen]])
    amount = np.round(rng.lognormal(3.7, 0.5, who.size), 2)
    m = int(rng.poisson(10 * 400))
    answered = rng.integers(HISTORY - 400, HISTORY + 1, m)
    late = plant & (answered > HISTORY - 30)
    u = rng.random(m)
    detractor, promoter = u < np.where(late, 0.35, 0.15), u >= np.where(late, 0.65, 0.45)
    score = np.where(detractor, rng.integers(0, 7, m), np.where(promoter, rng.integers(9, 11, m),
                                                                   rng.integers(7, 9, m)))
    start = AS_OF - dt.timedelta(days=HISTORY)

    def date(days):
        return [(start + dt.timedelta(days=int(d))).isoformat() for d in days]

    ids = [f"k{i:05d}" for i in range(n)]
    answered_by = rng.integers(0, n, m)
    return {
        "customers": "customer_id,created_at,segment\n" + "".join(
            f"{i},{c},{s}\n" for i, c, s in zip(ids, date(created), segment)),
        "transactions": "customer_id,ordered_at,amount\n" + "".join(
            f"{ids[w]},{d},{a:.2f}\n" for w, d, a in zip(who, date(day), amount)),
        "nps": "customer_id,answered_at,score\n" + "".join(
            f"{ids[w]},{d},{s}\n" for w, d, s in zip(answered_by, date(answered), score)),
    }


@pytest.fixture(scope="module")
def planted(load):
    return load(name="planted", **generate(7, plant=True))


def test_a_planted_nps_drop_and_a_segment_s_churn_are_found(planted):
    found = by_kind(changes(planted, days=30, as_of=AS_OF, by="segment"))
    nps = found["nps"]
    assert nps.direction == "down" and not nps.good
    assert 30 < nps.before < 50 and -10 < nps.after < 10 and nps.size_after > 250
    assert nps.adjusted_p < 0.001
    assert nps.segment is None  # the drop is everywhere: no single segment drives it
    churned = found["churned"]
    assert churned.direction == "up" and churned.after > churned.before and not churned.good
    assert (churned.attribute, churned.segment) == ("segment", "B")
    assert churned.segment_after > 2 * churned.segment_before and churned.segment_share >= 0.5
    assert churned.segment_p * 3 < 0.05
    assert churned.page == "lifecycle"
    assert churned.params == {"p.losses_kind": ["churned"], "p.losses_period": ["month"], "p.losses_by": ["segment"]}
    for change in found.values():
        assert change.adjusted_p < 0.05 and change.p_value <= change.adjusted_p
    # the planted churners were at risk on both dates, and bought in neither period
    assert "active_share" not in found and "revenue" not in found


def test_conversion_reads_only_the_paths_that_can_count(planted):
    """conversion_counts limits the funnel to customers at step 1 after T − 3·days − window_days: every path
    with step k − 1 in the compared cohorts is among them, and the limited paths are the same paths."""
    import pandas as pd

    from clm_core.metrics.changes import default_steps
    from clm_core.metrics.funnel import funnel_paths

    steps = default_steps(planted)
    assert steps == ["created", "first_purchase", "repeat_purchase", "promoter"]
    since = AS_OF - dt.timedelta(days=3 * 30 + 365)
    every = funnel_paths(planted, steps, AS_OF).execute().sort_values("customer_id", ignore_index=True)
    limited = funnel_paths(planted, steps, AS_OF, since=since).execute().sort_values("customer_id", ignore_index=True)
    assert 0 < len(limited) < len(every)
    pd.testing.assert_frame_equal(limited, every[every["d1"] > pd.Timestamp(since)].reset_index(drop=True),
                                  check_dtype=False)
    for k in range(2, len(steps) + 1):
        in_cohorts = every[every[f"d{k - 1}"] > pd.Timestamp(AS_OF - dt.timedelta(days=90))]
        assert len(in_cohorts) and (in_cohorts["d1"] > pd.Timestamp(since)).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_only_reports_nothing(load, seed):
    dataset = load(name=f"noise{seed}", **generate(seed))
    tests = all_tests(dataset, days=30, as_of=AS_OF, by="segment")
    kinds = [c.kind for c in tests]
    # every test had enough data to run, so "nothing" means nothing significant, not nothing tested
    assert kinds[:5] == ["nps", "active_share", "at_risk", "churned", "revenue"] and "conversion" in kinds
    assert [c for c in tests if c.adjusted_p < 0.05] == []
    assert changes(dataset, days=30, as_of=AS_OF, by="segment") == []


# ----------------------------------------------------------------------------------- the Overview's panel

open_overview = page_opener("overview")


@pytest.fixture(scope="module")
def planted_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted_app")
    paths = {}
    for table, text in generate(7, plant=True).items():
        paths[table] = folder / f"{table}.csv"
        paths[table].write_text(text)
    path = folder / "app.duckdb"
    con = store.connect(path)
    ingest.load(store.create_dataset(con, "Planted"), paths)
    con.disconnect()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield path


def alert_lines(at) -> list[str]:
    return [m.value for m in at.markdown if "](./" in m.value]


def link_of(line: str):
    url = line[line.rindex("](") + 2:-1]
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def test_overview_states_the_planted_changes_with_links(planted_app):
    at = open_overview()
    assert not at.exception and not at.error
    assert "What changed" in [h.value for h in at.subheader]
    lines = alert_lines(at)
    nps = next(line for line in lines if "NPS fell from" in line)
    assert nps.startswith(":red[▼] NPS fell from ") and "p < 0.001" in nps and nps.endswith(")")
    path, query = link_of(nps)
    assert path == "./nps" and query["page"] == ["nps"] and query["lang"] == ["en"]
    churn = next(line for line in lines if line.startswith(":red[▲] More customers churned: "))
    assert "Mostly Segment = **B**:" in churn  # the attribute by its display name
    path, query = link_of(churn)
    assert path == "./lifecycle" and query["p.losses_kind"] == ["churned"] and query["p.losses_by"] == ["segment"]
    de = open_overview(lang="de")
    assert not de.exception and not de.error
    assert "Was sich verändert hat" in [h.value for h in de.subheader]
    lines = alert_lines(de)
    nps = next(line for line in lines if "Der NPS ist von" in line)
    assert "gefallen" in nps and "p < 0,001" in nps and "[Anzeigen](./nps?" in nps
    assert link_of(nps)[1]["lang"] == ["de"]
    churn = next(line for line in lines if "Mehr Kunden sind abgewandert" in line)
    assert "Vor allem Segment = **B**:" in churn


def test_overview_on_noise_says_so_in_one_line(tmp_path, monkeypatch):
    paths = {}
    for table, text in generate(1).items():
        paths[table] = tmp_path / f"{table}.csv"
        paths[table].write_text(text)
    con = store.connect(tmp_path / "app.duckdb")
    ingest.load(store.create_dataset(con, "Noise"), paths)
    con.disconnect()
    monkeypatch.setenv("CLM_DATABASE", str(tmp_path / "app.duckdb"))
    at = open_overview()
    assert not at.exception and not at.error
    assert alert_lines(at) == []
    assert any(c.value.startswith("Nothing changed beyond noise in the last 30 days against the 30 days before "
                                  "(tests run: ") for c in at.caption)
    stage = open_overview(stage="at_risk")
    assert not stage.exception and not stage.error and alert_lines(stage) == []
    assert any(c.value.startswith("No comparison with a stage or cohort filter") for c in stage.caption)
