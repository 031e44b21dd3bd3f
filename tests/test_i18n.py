"""Display texts in German: framework names and ingest's rejection reasons (clm_core.i18n)."""

from __future__ import annotations

import pytest

from clm_core.config import FRAMEWORKS
from clm_core.i18n import FRAMEWORK_GERMAN, framework_label, reason_label


@pytest.mark.parametrize(("reason", "german"), [
    ("missing customer_id", "customer_id fehlt"),
    ("unparseable ordered_at: 31.02.2024", "ordered_at ist kein lesbares Datum: 31.02.2024"),
    ("non-numeric amount: 12,3,4", "amount ist keine Zahl: 12,3,4"),
    ("score is not a whole number: 7,5", "score ist keine ganze Zahl: 7,5"),
    ("score outside 0-10: 11", "score liegt nicht zwischen 0 und 10: 11"),
    ("group must be treatment or control: maybe", "group muss treatment oder control sein: maybe"),
    ("duplicate transaction_id (first on line 3)", "transaction_id doppelt (zuerst in Zeile 3)"),
    ("malformed row (too many columns)", "fehlerhafte Zeile (too many columns)"),
])
def test_rejection_reasons_in_german(reason, german):
    assert reason_label(reason, "de") == german
    assert reason_label(reason, "en") == reason


def test_unknown_reasons_stay_as_they_are():
    assert reason_label("something new", "de") == "something new"


def test_every_framework_and_stage_name_has_a_german_name_or_is_an_acronym_model():
    names = set(FRAMEWORKS) | {label for mapping in FRAMEWORKS.values() for label in mapping.values()}
    english_kept = {"RACE", "Reach", "Act", "Convert", "Engage", "Attract / Sell / Wow", "Attract", "Sell", "Wow"}
    assert names - set(FRAMEWORK_GERMAN) == english_kept
    assert framework_label("Lapsed", "de") == "Abgewandert" and framework_label("Lapsed", "en") == "Lapsed"
