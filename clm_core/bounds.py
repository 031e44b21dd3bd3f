"""Explicit ranges for every input a link or a widget can carry (DESIGN §5 "Every input is bounded").

A :class:`Bound` parses a URL value (text) or a widget value and refuses anything outside its range:
text that is not a number, numbers that do not fit, NaN and infinity. The UI shows a refused value as
a warning and uses the parameter's default; the as-of date is clamped to the data's days instead
(:func:`clamp_date`). Widgets take the same bounds as ``min_value``/``max_value``, so they cannot
produce a value a link could not carry.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

#: Longer text is refused before it is parsed (no number a parameter allows is this long).
MAX_TEXT = 32


class OutOfBounds(ValueError):
    """A value that is not allowed: unparseable, not finite, or outside the range."""


@dataclass(frozen=True)
class Bound:
    """A closed range [low, high] of whole numbers (``integer``) or of finite decimal numbers."""

    low: float
    high: float
    integer: bool = True

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"empty range {self.low}–{self.high}")

    def parse(self, value) -> int | float:
        """``value`` (text from a link, or a number) as an int/float within the range; else OutOfBounds."""
        if isinstance(value, bool):
            raise OutOfBounds(f"{value!r} is not a number")
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > MAX_TEXT:
                raise OutOfBounds(f"{value[:MAX_TEXT]!r} is not a number")
            try:
                number = int(text) if self.integer else float(text)
            except ValueError:
                raise OutOfBounds(f"{text!r} is not a {'whole ' if self.integer else ''}number") from None
        elif isinstance(value, (int, float)):
            number = value
        else:
            try:  # numpy scalars and the like
                number = float(value)
            except (TypeError, ValueError):
                raise OutOfBounds(f"{value!r} is not a number") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise OutOfBounds(f"{number!r} is not a finite number")
        if self.integer:
            if int(number) != number:
                raise OutOfBounds(f"{number!r} is not a whole number")
            number = int(number)
        else:
            number = float(number)
        if not self.low <= number <= self.high:
            raise OutOfBounds(f"{number!r} is outside {self.low}–{self.high}")
        return number

    def accepts(self, value) -> bool:
        try:
            self.parse(value)
        except OutOfBounds:
            return False
        return True

    def widget(self) -> dict:
        """``min_value``/``max_value`` for a Streamlit number input or slider."""
        if self.integer:
            return {"min_value": int(self.low), "max_value": int(self.high)}
        return {"min_value": float(self.low), "max_value": float(self.high)}


#: Windows and thresholds in days (up to ten years).
DAYS = Bound(1, 3650)
#: Horizons in months (up to ten years).
MONTHS = Bound(1, 120)
#: Rates, shares and probabilities as fractions.
FRACTION = Bound(0.0, 1.0, integer=False)
#: The same as percentages.
PERCENT = Bound(0.0, 100.0, integer=False)
#: Purchase days that make a customer loyal.
ORDERS = Bound(1, 1000)
#: Money a user types (campaign costs, CLV limits): as far as ingest accepts amounts (schema.MAX_NUMBER).
MONEY = Bound(0.0, 1e9, integer=False)
#: A campaign's effect on order value as a fraction (up to +1,000 %).
SPEND_EFFECT = Bound(0.0, 10.0, integer=False)

#: Page parameters shared by several pages (the lifecycle thresholds read by every page's configuration):
#: their one declaration, used for the link, the configuration and the widgets alike.
PARAMS: dict[str, Bound] = {
    "new_days": DAYS,
    "at_risk_days": DAYS,
    "churn_days": DAYS,
    "loyal_orders": ORDERS,
}


def clamp_date(value: dt.date, first: dt.date | None, last: dt.date | None) -> dt.date:
    """``value`` moved into [first, last] (either may be None: no limit on that side)."""
    if first is not None and value < first:
        return first
    if last is not None and value > last:
        return last
    return value


def parse_date(text) -> dt.date:
    """An ISO date (YYYY-MM-DD) from a link; OutOfBounds when it is not one."""
    if isinstance(text, dt.date) and not isinstance(text, dt.datetime):
        return text
    if not isinstance(text, str) or len(text.strip()) != 10:
        raise OutOfBounds(f"{str(text)[:MAX_TEXT]!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise OutOfBounds(f"{text!r} is not a date (YYYY-MM-DD)") from None


#: The time limit of one metric computation, in seconds (env CLM_QUERY_SECONDS).
QUERY_SECONDS = Bound(1.0, 3600.0, integer=False)
DEFAULT_QUERY_SECONDS = 60.0


def query_seconds(environ=None) -> float:
    """The time limit from ``CLM_QUERY_SECONDS`` (1–3,600 s); the default 60 s when unset or not allowed."""
    import os

    text = (os.environ if environ is None else environ).get("CLM_QUERY_SECONDS")
    if text is None or not text.strip():
        return DEFAULT_QUERY_SECONDS
    try:
        return QUERY_SECONDS.parse(text)
    except OutOfBounds:
        import logging

        logging.getLogger(__name__).warning("CLM_QUERY_SECONDS=%r is not 1–3600; using %s s",
                                            text[:MAX_TEXT], DEFAULT_QUERY_SECONDS)
        return DEFAULT_QUERY_SECONDS
