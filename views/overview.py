"""Overview: headline cards with their change, what changed, the framework's phases (at risk on their own),
where we lose customers, and the phases over time."""

from __future__ import annotations

import datetime as dt

import plotly.express as px
import streamlit as st

from clm_core.i18n import format_currency, format_number, format_percent, format_points, framework_label
from clm_ui import alerts
from clm_ui.losses import section as losses_section
from clm_ui.page import context
from clm_ui.state import param_select, t, view
from clm_ui.widgets import STAGE_COLORS, chart, table

TEXT = {
    "title": ("Overview", "Überblick"),
    "customers_help": ("All customers known on the as-of date, prospects included: {listed} from the customers "
                       "file and {implicit} that appear only in transactions, NPS answers or events (created "
                       "automatically). The upload report and the funnel’s “Created” step count the customers "
                       "file only.",
                       "Alle am Stichtag bekannten Kunden, Interessenten eingeschlossen: {listed} aus der "
                       "Kundendatei und {implicit}, die nur in Transaktionen, NPS-Antworten oder Ereignissen "
                       "vorkommen (automatisch angelegt). Der Importbericht und der Trichterschritt „Angelegt“ "
                       "zählen nur die Kundendatei."),
    "customers_help_listed": ("All customers known on the as-of date, prospects included.",
                              "Alle am Stichtag bekannten Kunden, Interessenten eingeschlossen."),
    "period": ("Compare with", "Vergleich mit"),
    "active_share": ("Active share", "Aktiver Anteil"),
    "active_help": ("Share of buying customers who are new, active, reactivated or loyal.",
                    "Anteil der Käufer, die neu, aktiv, reaktiviert oder loyal sind."),
    "revenue_period": ("Revenue, last {days} days", "Umsatz, letzte {days} Tage"),
    "nps_period": ("NPS, last {days} days", "NPS, letzte {days} Tage"),
    "avg_value": ("Average historic value", "Ø historischer Wert"),
    "avg_value_help": ("Mean net revenue up to the as-of date of the customers with a purchase.",
                       "Mittlerer Nettoumsatz bis zum Stichtag der Kunden mit einem Kauf."),
    "lifecycle": ("Lifecycle stages ({framework})", "Lebenszyklusphasen ({framework})"),
    "history": ("Phases over time ({framework})", "Phasenverlauf ({framework})"),
    "at_risk_part": ("{phase}: at risk", "{phase}: gefährdet"),
    "month": ("Month", "Monat"),
    "no_nps": ("no answers", "keine Antworten"),
    "nps_help": ("{n} answers; ± is the 95 % margin of error.", "{n} Antworten; ± ist die 95-%-Fehlermarge."),
}
PERIODS = (30, 90, 365)
ACTIVE = ("new", "active", "reactivated", "loyal")

ctx = context()
lang = view().lang
st.title(t("title", TEXT))
days = int(param_select(t("period", TEXT), "period", PERIODS, default=30,
                        format_func=lambda d: f"{d} " + ("Tage" if lang == "de" else "days")))
previous = ctx.as_of - dt.timedelta(days=days)


def headline(as_of: dt.date) -> dict:
    dist = ctx.metric("stage_distribution", as_of=as_of).set_index("stage")["customers"]
    buyers = dist.drop("prospect").sum()
    cards = {
        "customers": int(dist.sum()),
        "active_share": dist[list(ACTIVE)].sum() / buyers if buyers else float("nan"),
        "revenue": ctx.metric("net_revenue", start=as_of - dt.timedelta(days=days), end=as_of),
        "avg_value": ctx.metric("mean_historic_value", as_of=as_of),
        "nps": None,
    }
    if ctx.dataset.has("nps"):
        scores = ctx.metric("nps", as_of=as_of, since=as_of - dt.timedelta(days=days))
        if len(scores):
            cards["nps"] = scores.iloc[0]
    return cards


now, before = headline(ctx.as_of), headline(previous)
c1, c2, c3, c4, c5 = st.columns(5)
sources = ctx.metric("known_sources")  # why this may exceed the customers file's rows (say 5,020 vs 5,000)
c1.metric(t("customers"), format_number(now["customers"], lang),
          delta=format_number(now["customers"] - before["customers"], lang),
          help=t("customers_help", TEXT, listed=format_number(sources["listed"], lang),
                 implicit=format_number(sources["implicit"], lang)) if sources["implicit"]
          else t("customers_help_listed", TEXT))
c2.metric(t("active_share", TEXT), format_percent(now["active_share"], lang),
          delta=format_points(now["active_share"] - before["active_share"], lang), help=t("active_help", TEXT))
c3.metric(t("revenue_period", TEXT, days=days), format_currency(now["revenue"], lang, 0),
          delta=format_currency(now["revenue"] - before["revenue"], lang, 0))
if now["nps"] is not None:
    delta = (format_number(now["nps"]["nps"] - before["nps"]["nps"], lang, 1) if before["nps"] is not None else None)
    margin = now["nps"]["margin_of_error"]  # 0 with one answer or identical answers: no margin to show
    margin_text = f" ± {format_number(margin, lang, 0)}" if margin > 0 else ""
    c4.metric(t("nps_period", TEXT, days=days), format_number(now["nps"]["nps"], lang, 0) + margin_text,
              delta=delta, help=t("nps_help", TEXT, n=format_number(now["nps"]["answers"], lang)))
else:
    c4.metric(t("nps_period", TEXT, days=days), "–", help=t("no_nps", TEXT))
c5.metric(t("avg_value", TEXT), format_currency(now["avg_value"], lang, 0),
          delta=format_currency(now["avg_value"] - before["avg_value"], lang, 0), help=t("avg_value_help", TEXT))
# what changed: right under the cards, drawn last (its segments are those of the losses section's attribute)
changes_box = st.container()


def phase_label(phase: str, at_risk: bool) -> str:
    """A framework phase's name in the UI language; its at-risk part as "Retention: at risk"."""
    name = framework_label(phase, lang)
    return t("at_risk_part", TEXT, phase=name) if at_risk else name


def phase_colours(phases) -> dict[str, str]:
    """The framework's phases from light to dark blue in lifecycle order; the phase of churned customers in
    the churned colour when it holds only them (a lapsed phase should not look like a good one), the at-risk
    part in the at-risk colour."""
    labels = ctx.config.stage_labels()
    lapsed = labels["churned"] if list(labels.values()).count(labels["churned"]) == 1 else None
    others = [p for p, at_risk in phases if p != lapsed and not at_risk]
    ramp = px.colors.sample_colorscale("Blues", [0.3 + 0.65 * i / max(len(others) - 1, 1) for i in range(len(others))])
    colours = {phase_label(p, False): c for p, c in zip(others, ramp)}
    if lapsed:
        colours[phase_label(lapsed, False)] = STAGE_COLORS["churned"]
    colours.update({phase_label(p, True): STAGE_COLORS["at_risk"] for p, at_risk in phases if at_risk})
    return colours


framework_name = framework_label(ctx.config.framework, lang)
framework = ctx.metric("phase_distribution")
framework["stage"] = [phase_label(p, r) for p, r in zip(framework["phase"], framework["at_risk"])]
colours = phase_colours(list(zip(framework["phase"], framework["at_risk"])))
st.subheader(t("lifecycle", TEXT, framework=framework_name))
labelled = framework.assign(row="", customers_text=[format_number(n, lang) for n in framework["customers"]],
                            share_text=[format_percent(s, lang, 1) for s in framework["share"]])
bar = px.bar(labelled, x="customers", y="row", color="stage", orientation="h", color_discrete_map=colours,
             text=[format_percent(s, lang, 0) for s in framework["share"]],
             custom_data=["customers_text", "share_text"],
             labels={"customers": t("customers"), "row": "", "stage": t("stage")})
bar.update_traces(hovertemplate="%{fullData.name}: %{customdata[0]} (%{customdata[1]})<extra></extra>",
                  textposition="inside", insidetextanchor="middle")
# the legend above the bar, in one row (it wraps when the framework has many stages)
bar.update_layout(height=230, barmode="stack", yaxis_visible=False, margin=dict(l=10, r=10, t=10, b=10),
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left", title_text=""))
chart(bar, key="lifecycle_bar")
table(framework[["stage", "customers", "share"]], "lifecycle_stages.csv", key="framework_table",
      title=t("lifecycle", TEXT, framework=framework_name),
      column_config={"stage": t("stage"), "customers": t("customers"), "share": t("share")})

# ------------------------------------------------------------------ where are we losing customers? (clm_ui.losses)
losses_by = losses_section(ctx, prefix="overview_losses", compact=True)

# ------------------------------------------------------------------ the phases over time, in the same names
st.subheader(t("history", TEXT, framework=framework_name))
history = ctx.metric("phase_history", months=24)
history["stage_label"] = [phase_label(p, r) for p, r in zip(history["phase"], history["at_risk"])]
area = px.area(history, x="month", y="customers", color="stage_label", color_discrete_map=colours,
               category_orders={"stage_label": list(framework["stage"])},
               labels={"month": t("month", TEXT), "customers": t("customers"), "stage_label": t("stage")})
area.for_each_trace(lambda trace: trace.update(hovertemplate=trace.name + "<br>%{x|%Y-%m}: %{y:,}<extra></extra>"))
chart(area, key="history_chart")
table(history[["month", "phase", "at_risk", "stage_label", "customers", "share"]], "phase_history.csv",
      key="history_table", title=t("history", TEXT, framework=framework_name),
      column_config={"month": t("month", TEXT), "phase": None, "at_risk": None, "stage_label": t("stage"),
                     "customers": t("customers"), "share": t("share")})

# ------------------------------------------------------------------ what changed (clm_ui.alerts), under the cards
with changes_box:
    alerts.panel(ctx, days, by=losses_by)
