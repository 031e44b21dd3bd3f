"""Overview: headline cards with their change, the lifecycle bar, and stage history."""

from __future__ import annotations

import datetime as dt

import plotly.express as px
import streamlit as st

from clm_core.config import STAGES
from clm_core.i18n import format_currency, format_number, format_percent
from clm_ui.page import context
from clm_ui.state import param_select, t, view
from clm_ui.widgets import chart, table

TEXT = {
    "title": ("Overview", "Überblick"),
    "period": ("Compare with", "Vergleich mit"),
    "active_share": ("Active share", "Aktiver Anteil"),
    "active_help": ("Share of buying customers who are new, active, reactivated or loyal.",
                    "Anteil der Käufer, die neu, aktiv, reaktiviert oder loyal sind."),
    "revenue_period": ("Revenue, last {days} days", "Umsatz, letzte {days} Tage"),
    "nps_period": ("NPS, last {days} days", "NPS, letzte {days} Tage"),
    "avg_value": ("Average historic value", "Durchschnittlicher historischer Wert"),
    "lifecycle": ("Lifecycle stages ({framework})", "Lebenszyklusphasen ({framework})"),
    "history": ("Stage history", "Phasenverlauf"),
    "month": ("Month", "Monat"),
    "no_nps": ("no answers", "keine Antworten"),
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
    values = ctx.metric("historic_value", as_of=as_of)
    bought = values[values["customer_id"].isin(ctx.metric("rfm_summary", as_of=as_of)["customer_id"])]
    cards = {
        "customers": int(dist.sum()),
        "active_share": dist[list(ACTIVE)].sum() / buyers if buyers else float("nan"),
        "revenue": ctx.metric("net_revenue", start=as_of - dt.timedelta(days=days), end=as_of),
        "avg_value": bought["historic_value"].mean() if len(bought) else float("nan"),
        "nps": None,
    }
    if ctx.dataset.has("nps"):
        scores = ctx.metric("nps", as_of=as_of, since=as_of - dt.timedelta(days=days))
        if len(scores):
            cards["nps"] = scores.iloc[0]
    return cards


now, before = headline(ctx.as_of), headline(previous)
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("customers"), format_number(now["customers"], lang),
          delta=format_number(now["customers"] - before["customers"], lang))
c2.metric(t("active_share", TEXT), format_percent(now["active_share"], lang),
          delta=format_percent(now["active_share"] - before["active_share"], lang), help=t("active_help", TEXT))
c3.metric(t("revenue_period", TEXT, days=days), format_currency(now["revenue"], lang, 0),
          delta=format_currency(now["revenue"] - before["revenue"], lang, 0))
if now["nps"] is not None:
    delta = (format_number(now["nps"]["nps"] - before["nps"]["nps"], lang, 1) if before["nps"] is not None else None)
    c4.metric(t("nps_period", TEXT, days=days),
              f"{format_number(now['nps']['nps'], lang, 0)} ± {format_number(now['nps']['margin_of_error'], lang, 0)}",
              delta=delta)
else:
    c4.metric(t("nps_period", TEXT, days=days), "–", help=t("no_nps", TEXT))
c5.metric(t("avg_value", TEXT), format_currency(now["avg_value"], lang, 0),
          delta=format_currency(now["avg_value"] - before["avg_value"], lang, 0))

framework = ctx.metric("framework_distribution")
st.subheader(t("lifecycle", TEXT, framework=ctx.config.framework))
bar = px.bar(framework, x="customers", y=["Lifecycle"] * len(framework), color="stage", orientation="h",
             text=[format_percent(s, lang, 0) for s in framework["share"]],
             labels={"customers": t("customers"), "y": "", "stage": t("stage")})
bar.update_layout(height=180, barmode="stack", yaxis_visible=False)
chart(bar, key="lifecycle_bar")
table(framework, "lifecycle_stages.csv", key="framework_table")

st.subheader(t("history", TEXT))
history = ctx.metric("stage_history", months=24)
history["stage_label"] = history["stage"].map(lambda s: t(s))
area = px.area(history, x="month", y="customers", color="stage_label",
               category_orders={"stage_label": [t(s) for s in STAGES]},
               labels={"month": t("month", TEXT), "customers": t("customers"), "stage_label": t("stage")})
chart(area, key="history_chart")
table(history, "stage_history.csv", key="history_table")
