"""The "What changed" panel: the movements of :mod:`clm_core.metrics.changes` as plain sentences in the UI
language, each with a link to the view that shows it (the current view's link with that page and its
parameters; it opens in a new tab). User text (attribute names, segment values, event names) is escaped
Markdown, never HTML; the link's address is percent-encoded.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from clm_core.i18n import field_label, format_currency, format_number, format_percent, format_points
from clm_core.metrics import changes as changes_module
from clm_core.metrics.changes import Change
from clm_core.metrics.funnel import MILESTONES
from clm_ui import data
from clm_ui.auth import md
from clm_ui.state import t, view

TEXT = {
    "title": ("What changed", "Was sich verändert hat"),
    "help": ("The last {days} days against the {days} days before, tested for NPS (outside the margin of error of "
             "the difference), active share, newly at-risk and churned customers (two-proportion z-tests), revenue "
             "(compound-Poisson normal approximation) and the conversion of each funnel step within {days} days "
             "(two-proportion z-test, for customers who reached the step before {days} days earlier). Listed only "
             "when significant after the Benjamini–Hochberg correction over all tests run (5 % false discovery "
             "rate), each period with at least {min} answers or customers. A segment of {attribute} is named when "
             "its own change is significant (Bonferroni over its segments), makes at least half of the total, and "
             "the other customers together show no significant change.",
             "Die letzten {days} Tage gegenüber den {days} Tagen davor, getestet für NPS (außerhalb der Fehlermarge "
             "der Differenz), aktiven Anteil, neu gefährdete und abgewanderte Kunden (z-Tests für zwei Anteile), "
             "Umsatz (Normalnäherung des zusammengesetzten Poisson-Prozesses) und die Konversion jedes "
             "Trichterschritts binnen {days} Tagen (z-Test für zwei Anteile, für Kunden, die den Schritt davor "
             "{days} Tage früher erreichten). Aufgeführt nur, was nach der Benjamini-Hochberg-Korrektur über alle "
             "Tests signifikant ist (5 % Falscherkennungsrate), mit mindestens {min} Antworten oder Kunden je "
             "Zeitraum. Ein Segment von {attribute} wird genannt, wenn seine eigene Änderung signifikant ist "
             "(Bonferroni über seine Segmente), mindestens die Hälfte der gesamten ausmacht und sich die übrigen "
             "Kunden zusammen nicht signifikant verändert haben."),
    "period": ("Last {days} days against the {days} days before:", "Letzte {days} Tage gegenüber den {days} Tagen davor:"),
    "nothing": ("Nothing changed beyond noise in the last {days} days against the {days} days before (tests run: "
                "{n}).",
                "In den letzten {days} Tagen hat sich gegenüber den {days} Tagen davor nichts über das Rauschen "
                "hinaus verändert (durchgeführte Tests: {n})."),
    "date_filter": ("No comparison with a stage or cohort filter: it picks its customers on the as-of date, so the "
                    "two periods would differ by that choice alone. Filter by attributes to compare.",
                    "Kein Vergleich mit einem Phasen- oder Kohortenfilter: Er wählt seine Kunden am Stichtag aus, "
                    "sodass sich die beiden Zeiträume schon dadurch unterscheiden. Zum Vergleichen nach Merkmalen "
                    "filtern."),
    "untested": ("Too few answers and customers in the last {days} days to tell a change from noise.",
                 "Zu wenige Antworten und Kunden in den letzten {days} Tagen, um eine Änderung vom Rauschen zu "
                 "unterscheiden."),
    "nps_up": ("NPS rose from {before} to {after} ({size} answers, {size_before} before; {p}).",
               "Der NPS ist von {before} auf {after} gestiegen ({size} Antworten, zuvor {size_before}; {p})."),
    "nps_down": ("NPS fell from {before} to {after} ({size} answers, {size_before} before; {p}).",
                 "Der NPS ist von {before} auf {after} gefallen ({size} Antworten, zuvor {size_before}; {p})."),
    "active_share_up": ("The active share of buyers rose from {before} to {after} ({change}; {p}).",
                        "Der aktive Anteil der Käufer ist von {before} auf {after} gestiegen ({change}; {p})."),
    "active_share_down": ("The active share of buyers fell from {before} to {after} ({change}; {p}).",
                          "Der aktive Anteil der Käufer ist von {before} auf {after} gefallen ({change}; {p})."),
    "churned_up": ("More customers churned: {count} of {size} ({after}), against {count_before} ({before}) "
                   "before ({p}).",
                   "Mehr Kunden sind abgewandert: {count} von {size} ({after}), zuvor {count_before} ({before}); "
                   "{p}."),
    "churned_down": ("Fewer customers churned: {count} of {size} ({after}), against {count_before} ({before}) "
                     "before ({p}).",
                     "Weniger Kunden sind abgewandert: {count} von {size} ({after}), zuvor {count_before} "
                     "({before}); {p}."),
    "at_risk_up": ("More customers became at risk: {count} of {size} ({after}), against {count_before} ({before}) "
                   "before ({p}).",
                   "Mehr Kunden wurden gefährdet: {count} von {size} ({after}), zuvor {count_before} ({before}); "
                   "{p}."),
    "at_risk_down": ("Fewer customers became at risk: {count} of {size} ({after}), against {count_before} "
                     "({before}) before ({p}).",
                     "Weniger Kunden wurden gefährdet: {count} von {size} ({after}), zuvor {count_before} "
                     "({before}); {p}."),
    "revenue_up": ("Revenue rose from {before} to {after} ({size} buying customers, {size_before} before; {p}).",
                   "Der Umsatz ist von {before} auf {after} gestiegen ({size} kaufende Kunden, zuvor "
                   "{size_before}; {p})."),
    "revenue_down": ("Revenue fell from {before} to {after} ({size} buying customers, {size_before} before; {p}).",
                     "Der Umsatz ist von {before} auf {after} gefallen ({size} kaufende Kunden, zuvor "
                     "{size_before}; {p})."),
    "conversion_up": ("Conversion from “{from_step}” to “{step}” within {days} days rose from {before} to {after} "
                      "(of {size} customers, {size_before} before; {p}).",
                      "Die Konversion von „{from_step}“ zu „{step}“ binnen {days} Tagen ist von {before} auf {after} "
                      "gestiegen (von {size} Kunden, zuvor {size_before}; {p})."),
    "conversion_down": ("Conversion from “{from_step}” to “{step}” within {days} days fell from {before} to {after} "
                        "(of {size} customers, {size_before} before; {p}).",
                        "Die Konversion von „{from_step}“ zu „{step}“ binnen {days} Tagen ist von {before} auf "
                        "{after} gefallen (von {size} Kunden, zuvor {size_before}; {p})."),
    "driver": ("Mostly {attribute} = **{segment}**: {before} → {after} ({p}).",
               "Vor allem {attribute} = **{segment}**: {before} → {after} ({p})."),
    "missing_value": ("(no value)", "(ohne Wert)"),
    "show": ("Show", "Anzeigen"),
    "created": ("Created", "Angelegt"),
    "first_purchase": ("First purchase", "Erstkauf"),
    "repeat_purchase": ("Repeat purchase", "Wiederkauf"),
    "promoter": ("Promoter", "Promotor"),
    "event": ("{name} (event)", "{name} (Ereignis)"),
}
data.register("changes", changes_module.all_tests,
              spinner=("Comparing the last period with the one before…", "Vergleiche den letzten Zeitraum mit dem davor…"))


def p_text(p: float, lang: str) -> str:
    """p = 0.012 / p < 0.001 in the language's decimals."""
    return f"p < {format_number(0.001, lang, 3)}" if p < 0.001 else f"p = {format_number(p, lang, 3)}"


def value_text(kind: str, value: float, lang: str) -> str:
    """A measure of ``kind`` as shown: NPS points, a percentage, or euros."""
    if kind == "nps":
        return format_number(value, lang, 1)
    if kind == "revenue":
        return format_currency(value, lang, 0)
    return format_percent(value, lang, 1)


def step_text(step: str) -> str:
    if step in MILESTONES:
        return t(step, TEXT)
    return t("event", TEXT, name=md(step))


def sentence(change: Change, days: int) -> str:
    """The movement as one sentence (Markdown, user text escaped), with its p-value and its driver."""
    lang = view().lang
    values = dict(before=value_text(change.kind, change.before, lang), after=value_text(change.kind, change.after, lang),
                  size=format_number(change.size_after, lang), size_before=format_number(change.size_before, lang),
                  count=format_number(change.count_after, lang), count_before=format_number(change.count_before, lang),
                  change=format_points(change.difference, lang), days=days, p=p_text(change.p_value, lang))
    if change.kind == "conversion":
        values.update(step=step_text(change.step), from_step=step_text(change.from_step))
    text = t(f"{change.kind}_{change.direction}", TEXT, **values)
    if change.has_driver:
        segment = t("missing_value", TEXT) if change.segment is None else md(change.segment)
        text += " " + t("driver", TEXT, attribute=md(field_label(change.attribute, lang)), segment=segment,
                        before=value_text(change.kind, change.segment_before, lang),
                        after=value_text(change.kind, change.segment_after, lang), p=p_text(change.segment_p, lang))
    return text


def href(change: Change) -> str:
    """The link to the view that shows ``change``: this view's parameters with its page and parameters."""
    params = {**view().to_query_params(), "page": [change.page], **change.params}
    return f"./{change.page}?" + urlencode(params, doseq=True)


def panel(ctx, days: int, by: str | None, steps=None) -> list[Change]:
    """Draw the panel for the last ``days`` days (segment drivers by ``by``); returns what it reported."""
    lang = view().lang
    st.subheader(t("title", TEXT), help=t("help", TEXT, days=days, min=changes_module.MIN_SIZE,
                                          attribute=md(field_label(by, lang)) if by else "–"))
    if ctx.segment.date_dependent:
        st.caption(t("date_filter", TEXT))
        return []
    tests = ctx.metric("changes", days=days, by=by, steps=None if steps is None else list(steps))
    found = changes_module.significant(tests)
    if not tests:
        st.caption(t("untested", TEXT, days=days))
        return []
    if not found:
        st.caption(t("nothing", TEXT, days=days, n=format_number(len(tests), lang)))
        return []
    st.markdown(t("period", TEXT, days=days))
    for change in found:
        arrow = ":green[▲]" if change.good and change.direction == "up" else ":green[▼]" if change.good \
            else ":red[▲]" if change.direction == "up" else ":red[▼]"
        st.markdown(f"{arrow} {sentence(change, days)} [{t('show', TEXT)}]({href(change)})")
    return found
