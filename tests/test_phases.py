"""The framework's phases with at-risk customers on their own (clm_core.metrics.phases), by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from clm_core.config import LifecycleConfig
from clm_core.metrics.phases import phase_distribution, phase_history, phases, split_at_risk
from clm_core.metrics.stages import framework_distribution

from test_changes import CUSTOMERS, TRANSACTIONS

AS_OF = dt.date(2024, 6, 30)
ORDER = [("Awareness", False), ("Interest/Consideration", False), ("Purchase", False), ("Retention", False),
         ("Retention", True), ("Loyalty/Advocacy", False), ("Lapsed", False)]


@pytest.fixture(scope="module")
def fixture(load):
    return load(customers=CUSTOMERS, transactions=TRANSACTIONS)


def counts(frame):
    return {(p, bool(r)): int(n) for p, r, n in zip(frame["phase"], frame["at_risk"], frame["customers"])}


def test_at_risk_is_split_off_its_phase_by_hand(fixture):
    # on 2024-06-30: c5 a prospect without events, c6 new, c2 active, c4 and c8 at risk, c1 c3 c7 churned
    expected = dict(zip(ORDER, [1, 0, 1, 1, 2, 0, 3]))
    frame = phase_distribution(fixture, AS_OF)
    assert list(zip(frame["phase"], frame["at_risk"])) == ORDER
    assert counts(frame) == expected
    assert frame["share"].tolist() == pytest.approx([n / 8 for n in expected.values()])
    # the framework's own distribution folds the at-risk part into Retention
    folded = framework_distribution(fixture, AS_OF).set_index("stage")["customers"]
    assert folded["Retention"] == 3 and folded.sum() == 8
    # without the stage timeline (loyal_orders other than the stored default) the same counts
    assert counts(phase_distribution(fixture, AS_OF, LifecycleConfig(loyal_orders=5))) == expected


def test_history_at_month_ends_by_hand(fixture):
    history = phase_history(fixture, AS_OF, months=2)
    assert history["month"].unique().tolist() == ["2024-05", "2024-06"]
    may = counts(history[history["month"] == "2024-05"])
    # on May 31: c1 (Jan 1), c4, c7 (Dec 20) and c8 (Mar 1, 91 days) at risk, c3 churned, c2 active, c6 new
    assert may == dict(zip(ORDER, [1, 0, 1, 1, 4, 0, 1]))
    assert counts(history[history["month"] == "2024-06"]) == counts(phase_distribution(fixture, AS_OF))


def test_a_framework_with_a_phase_of_its_own_for_at_risk_keeps_it():
    config = LifecycleConfig(framework="RACE", mapping={"at_risk": "Win back"})
    assert not split_at_risk(config)
    assert phases(config) == [("Reach", False), ("Act", False), ("Convert", False), ("Engage", False),
                              ("Win back", False), ("Lapsed", False)]
    assert split_at_risk(LifecycleConfig(framework="CLM three levels"))
    assert phases(LifecycleConfig(framework="CLM three levels"))[-1] == ("Nurture & retain", True)
