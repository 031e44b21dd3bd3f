"""Lifecycle: framework and thresholds, stage distribution, history and migration between two dates."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import replace

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from clm_core import bounds
from clm_core.config import FRAMEWORKS, MAPPING_KEYS, STAGES, LifecycleConfig
from clm_core.i18n import format_date, format_number, format_percent, framework_label, period_text
from clm_ui import data
from clm_ui.losses import section as losses_section
from clm_ui.page import context, default_as_of
from clm_ui.state import TEXT as STATE_TEXT
from clm_ui.state import refuse, shown_value, stop, param_number, param_select, set_param, t, view
from clm_ui.widgets import STAGE_COLORS, chart, table

TEXT = {
    "title": ("Lifecycle", "Lebenszyklus"),
    "settings": ("Framework and thresholds", "Modell und Schwellenwerte"),
    "settings_help": ("These settings apply to every page and are kept in the link.",
                      "Diese Einstellungen gelten für alle Seiten und stehen im Link."),
    "framework": ("Framework", "Modell"),
    "new_days": ("New for (days)", "Neu für (Tage)"),
    "new_days_help": ("Activation window: a customer is new while the first purchase is fewer days ago.",
                      "Aktivierungsfenster: Ein Kunde ist neu, solange der Erstkauf weniger Tage zurückliegt."),
    "at_risk_days": ("At risk after (days)", "Gefährdet nach (Tagen)"),
    "at_risk_help": ("Days since the last purchase after which a customer is at risk.",
                     "Tage seit dem letzten Kauf, nach denen ein Kunde als gefährdet gilt."),
    "churn_days": ("Churned after (days)", "Abgewandert nach (Tagen)"),
    "churn_help": ("Days since the last purchase after which a customer has churned.",
                   "Tage seit dem letzten Kauf, nach denen ein Kunde als abgewandert gilt."),
    "loyal_orders": ("Loyal from (purchase days a year)", "Loyal ab (Kauftagen im Jahr)"),
    "loyal_help": ("Purchase days in the last 365 days that make a customer loyal (as does a latest NPS of 9–10).",
                   "Kauftage in den letzten 365 Tagen, ab denen ein Kunde loyal ist (ebenso mit letztem NPS 9–10)."),
    "invalid_order": ("“At risk after” ({at_risk} days) must not exceed “Churned after” ({churn} days). "
                      "Lower the first or raise the second; other pages use the default thresholds meanwhile.",
                      "„Gefährdet nach“ ({at_risk} Tage) darf nicht größer sein als „Abgewandert nach“ ({churn} Tage). "
                      "Den ersten Wert senken oder den zweiten erhöhen; die anderen Seiten nutzen solange die "
                      "Standardwerte."),
    "invalid": ("These settings are not valid: {reason}", "Diese Einstellungen sind ungültig: {reason}"),
    "distribution": ("Stage distribution on {date}", "Phasenverteilung am {date}"),
    "canonical": ("Lifecycle stages", "Lebenszyklusphasen"),
    "in_framework": ("In “{framework}”", "Im Modell „{framework}“"),
    "mapping": ("Mapping: lifecycle stage → {framework}", "Zuordnung: Lebenszyklusphase → {framework}"),
    "mapping_caption": ("Prospects are “interested” when they have at least one event, otherwise “aware”. "
                        "“Lapsed” is shown outside the framework’s own stages where it has none for churned customers.",
                        "Interessenten gelten als „interessiert“, wenn sie mindestens ein Ereignis haben, sonst als "
                        "„aufmerksam“. „Lapsed“ steht außerhalb der eigenen Phasen des Modells, wenn es keine für "
                        "abgewanderte Kunden hat."),
    "canonical_stage": ("Lifecycle stage", "Lebenszyklusphase"),
    "framework_stage": ("Stage in {framework}", "Phase in {framework}"),
    "prospect_aware": ("Prospect (aware)", "Interessent (aufmerksam)"),
    "prospect_interested": ("Prospect (interested)", "Interessent (interessiert)"),
    "history": ("Stage history", "Phasenverlauf"),
    "months": ("Months", "Monate"),
    "measure": ("Show", "Anzeigen"),
    "measure_customers": ("Customers", "Kunden"),
    "measure_share": ("Share", "Anteil"),
    "month": ("Month", "Monat"),
    "migration": ("Migration between two dates", "Wechsel zwischen zwei Stichtagen"),
    "from": ("From", "Von"),
    "to": ("To", "Bis"),
    "order": ("The first date must lie before the second.", "Das erste Datum muss vor dem zweiten liegen."),
    "migration_caption": ("Customers known on both dates: {count}. The {later} customers first seen after {start} "
                          "are not part of the migration.",
                          "Kunden, die an beiden Stichtagen bekannt sind: {count}. Die {later} erst nach dem {start} "
                          "aufgetauchten Kunden sind nicht enthalten."),
    "stayed": ("Same stage on both dates", "An beiden Stichtagen gleiche Phase"),
    "moved_up": ("Won back or activated", "Zurückgewonnen oder aktiviert"),
    "moved_up_help": ("Customers that were prospects, at risk or churned on the first date and are new, active, "
                      "reactivated or loyal on the second.",
                      "Kunden, die am ersten Stichtag Interessenten, gefährdet oder abgewandert waren und am zweiten "
                      "neu, aktiv, reaktiviert oder loyal sind."),
    "slipped": ("Slipped to at risk or churned", "Abgerutscht zu gefährdet oder abgewandert"),
    "slipped_help": ("Customers that were new, active, reactivated or loyal on the first date and are at risk or "
                     "churned on the second.",
                     "Kunden, die am ersten Stichtag neu, aktiv, reaktiviert oder loyal waren und am zweiten "
                     "gefährdet oder abgewandert sind."),
    "matrix": ("Customers by stage on {start} (rows) and on {end} (columns)",
               "Kunden nach Phase am {start} (Zeilen) und am {end} (Spalten)"),
    "nobody_known": ("No customer is known on both dates.", "Kein Kunde ist an beiden Stichtagen bekannt."),
    "growth": ("Growth accounting", "Wachstumsbilanz"),
    "growth_help": ("Purchasers per period: new (first purchase), returning (also active the period before), "
                    "resurrecting (back after a gap) and dormant (active the period before, not now; shown below "
                    "zero). Quick ratio = (new + resurrecting) / dormant; above 1 the active base grows.",
                    "Käufer je Zeitraum: neu (Erstkauf), wiederkehrend (auch im Vorzeitraum aktiv), zurückgekehrt "
                    "(nach einer Pause) und ruhend (im Vorzeitraum aktiv, jetzt nicht; unter null gezeigt). "
                    "Quick Ratio = (neu + zurückgekehrt) / ruhend; über 1 wächst der aktive Kundenstamm."),
    "period": ("Period", "Zeitraum"),
    "period_month": ("Month", "Monat"),
    "period_week": ("Week", "Woche"),
    "period_quarter": ("Quarter", "Quartal"),
    "periods": ("Periods", "Zeiträume"),
    "g_new": ("New", "Neu"),
    "g_returning": ("Returning", "Wiederkehrend"),
    "g_resurrecting": ("Resurrecting", "Zurückgekehrt"),
    "g_dormant": ("Dormant", "Ruhend"),
    "quick_ratio": ("Quick ratio", "Quick Ratio"),
    "partial": ("The last period ends on the as-of date and is still partial.",
                "Der letzte Zeitraum endet am Stichtag und ist noch unvollständig."),
    "stickiness": ("Stickiness: purchasers by active periods among the last {n}",
                   "Bindung: Käufer nach aktiven Zeiträumen unter den letzten {n}"),
    "active_periods": ("Active periods", "Aktive Zeiträume"),
}
GROWTH_COLORS = {"new": "#4c9be8", "returning": "#2e8b57", "resurrecting": "#8e63b5", "dormant": "#c0392b"}

ACTIVE = ("new", "active", "reactivated", "loyal")
INACTIVE = ("prospect", "at_risk", "churned")
DEFAULTS = LifecycleConfig()


def rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def quarter_before(day: dt.date) -> dt.date:
    """The same day three calendar months earlier (the month's last day where it is shorter)."""
    year, month = (day.year, day.month - 3) if day.month > 3 else (day.year - 1, day.month + 9)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def param_date(label: str, name: str, default: dt.date, min_value: dt.date, max_value: dt.date) -> dt.date:
    """A date input whose value is the page parameter ``name`` (ISO date; absent while it is the default)."""
    default = bounds.clamp_date(default, min_value, max_value)
    raw = view().param(name)
    try:
        current = bounds.parse_date(raw) if raw is not None else default
    except bounds.OutOfBounds:
        refuse(name, raw, None, format_date(default, view().lang))
        current = default
    if bounds.clamp_date(current, min_value, max_value) != current:  # a link's date outside the data
        used = bounds.clamp_date(current, min_value, max_value)
        st.warning(t("clamped_date", STATE_TEXT, value=shown_value(raw), first=format_date(min_value, view().lang),
                     last=format_date(max_value, view().lang), used=format_date(used, view().lang)))
        current = used
    key = f"w.{view().page}.{name}"
    marker = f"{key}.default"
    if view().param(name) is None and st.session_state.get(marker, default) != default:
        st.session_state.pop(key, None)  # the default moved with the as-of date: follow it
    st.session_state[marker] = default
    value = st.date_input(label, value=current, min_value=min_value, max_value=max_value,
                          format="DD.MM.YYYY" if view().lang == "de" else "YYYY-MM-DD", key=key)
    if not isinstance(value, dt.date):
        value = default
    set_param(name, None if value == default else value.isoformat())
    return value


ctx = context()
lang = view().lang
st.title(t("title", TEXT))

# ------------------------------------------------------------------ framework and thresholds (shared parameters)
st.subheader(t("settings", TEXT), help=t("settings_help", TEXT))
columns = st.columns([2, 1, 1, 1, 1])
with columns[0]:
    framework = param_select(t("framework", TEXT), "framework", list(FRAMEWORKS), default=DEFAULTS.framework,
                             format_func=lambda name: framework_label(name, lang))
with columns[1]:
    new_days = param_number(t("new_days", TEXT), "new_days", DEFAULTS.new_days,
                            help=t("new_days_help", TEXT))
with columns[2]:
    at_risk_days = param_number(t("at_risk_days", TEXT), "at_risk_days", DEFAULTS.at_risk_days,
                                help=t("at_risk_help", TEXT))
with columns[3]:
    churn_days = param_number(t("churn_days", TEXT), "churn_days", DEFAULTS.churn_days,
                              help=t("churn_help", TEXT))
with columns[4]:
    loyal_orders = param_number(t("loyal_orders", TEXT), "loyal_orders", DEFAULTS.loyal_orders,
                                help=t("loyal_help", TEXT))

if at_risk_days > churn_days:
    st.error(t("invalid_order", TEXT, at_risk=at_risk_days, churn=churn_days))
    stop()
try:
    config = LifecycleConfig(new_days=new_days, at_risk_days=at_risk_days, churn_days=churn_days,
                             loyal_orders=loyal_orders, framework=framework)
except ValueError as exc:
    st.error(t("invalid", TEXT, reason=str(exc)))
    stop()
# The widgets above may have changed the parameters in this very run: use their values. Stages do not
# depend on the framework, so their results are cached under the default framework: switching
# frameworks recomputes only the framework distribution.
ctx = replace(ctx, config=config)
stages_ctx = replace(ctx, config=config.with_(framework=DEFAULTS.framework, mapping={}))

# ------------------------------------------------------------------ distribution, canonical and in the framework
st.subheader(t("distribution", TEXT, date=format_date(ctx.as_of, lang)))
left, right = st.columns(2)
distribution = stages_ctx.metric("stage_distribution")
distribution["label"] = [t(s) for s in distribution["stage"]]
with left:
    st.markdown(f"**{t('canonical', TEXT)}**")
    bars = px.bar(distribution, x="label", y="customers", color="stage", color_discrete_map=STAGE_COLORS,
                  text=[format_percent(s, lang, 1) for s in distribution["share"]],
                  labels={"label": t("stage"), "customers": t("customers")})
    bars.update_traces(hovertemplate="%{x}: %{y:,}<extra></extra>")  # not Plotly Express's "stage=at_risk"
    bars.update_layout(showlegend=False, height=340)
    chart(bars, key="lifecycle_canonical_chart")
    table(distribution[["stage", "label", "customers", "share"]], "lifecycle_stages.csv", key="lifecycle_canonical",
          title=t("canonical", TEXT),
          column_config={"share": st.column_config.NumberColumn(t("share"), format="percent"),
                         "stage": None, "label": t("stage"), "customers": t("customers")})

framework_name = framework_label(config.framework, lang)
framework_frame = ctx.metric("framework_distribution")
framework_frame["stage"] = [framework_label(s, lang) for s in framework_frame["stage"]]
with right:
    st.markdown(f"**{t('in_framework', TEXT, framework=framework_name)}**")
    bars = px.bar(framework_frame, x="stage", y="customers",
                  text=[format_percent(s, lang, 1) for s in framework_frame["share"]],
                  category_orders={"stage": [framework_label(s, lang) for s in config.framework_stages()]},
                  labels={"stage": t("stage"), "customers": t("customers")})
    bars.update_traces(marker_color="#1f4e79")
    bars.update_layout(height=340)
    chart(bars, key="lifecycle_framework_chart")
    table(framework_frame, "lifecycle_framework_stages.csv", key="lifecycle_framework",
          title=t("in_framework", TEXT, framework=framework_name),
          column_config={"share": st.column_config.NumberColumn(t("share"), format="percent"),
                         "stage": t("stage"), "customers": t("customers")})

st.markdown(f"**{t('mapping', TEXT, framework=framework_name)}**")
labels = config.stage_labels()
mapping = pd.DataFrame({
    "key": list(MAPPING_KEYS),
    "canonical_stage": [t(key, TEXT) if key.startswith("prospect_") else t(key) for key in MAPPING_KEYS],
    "framework_stage": [framework_label(labels[key], lang) for key in MAPPING_KEYS],
})
table(mapping, "lifecycle_mapping.csv", key="lifecycle_mapping", title=t("mapping", TEXT, framework=framework_name),
      column_config={"key": None, "canonical_stage": t("canonical_stage", TEXT),
                     "framework_stage": t("framework_stage", TEXT, framework=framework_name)})
st.caption(t("mapping_caption", TEXT))

# ------------------------------------------------------------------ history
st.subheader(t("history", TEXT))
c1, c2, _ = st.columns([1, 1, 3])
with c1:
    months = int(param_select(t("months", TEXT), "lifecycle_months", (12, 24, 36), default=24))
with c2:
    measure = param_select(t("measure", TEXT), "lifecycle_measure", ("customers", "share"), default="customers",
                           format_func=lambda m: t(f"measure_{m}", TEXT))
history = stages_ctx.metric("stage_history", months=months)
history["label"] = [t(s) for s in history["stage"]]
area = px.area(history, x="month", y=measure, color="stage", color_discrete_map=STAGE_COLORS,
               category_orders={"stage": list(STAGES)},
               labels={"month": t("month", TEXT), "customers": t("customers"), "share": t("share"),
                       "stage": t("stage")})
# the stage by its name, not Plotly Express's "stage=at_risk"
area.for_each_trace(lambda trace: trace.update(
    name=t(trace.name), hovertemplate=t(trace.name) + ("<br>%{x}: %{y:.1%}" if measure == "share" else
                                                        "<br>%{x}: %{y:,}") + "<extra></extra>"))
if measure == "share":
    area.update_yaxes(tickformat=".0%", range=[0, 1])
chart(area, key="lifecycle_history_chart")
table(history[["month", "stage", "label", "customers", "share"]], "lifecycle_stage_history.csv",
      title=t("history", TEXT),
      key="lifecycle_history", column_config={"share": st.column_config.NumberColumn(t("share"), format="percent"),
                                              "stage": None, "label": t("stage"), "month": t("month", TEXT),
                                              "customers": t("customers")})

# ------------------------------------------------------------------ where are we losing customers?
losses_section(stages_ctx)  # clm_ui.losses, shared with the Overview

# ------------------------------------------------------------------ growth accounting and stickiness
st.subheader(t("growth", TEXT), help=t("growth_help", TEXT))
c1, c2, _ = st.columns([1, 1, 3])
with c1:
    period = param_select(t("period", TEXT), "growth_period", ("month", "week", "quarter"), default="month",
                          format_func=lambda p: t(f"period_{p}", TEXT))
with c2:
    periods = int(param_select(t("periods", TEXT), "growth_periods", (6, 12, 24), default=12))
growth = stages_ctx.metric("growth_accounting", period=period, periods=periods)
bars = go.Figure()
period_labels = [period_text(p, lang) for p in growth["period"]]  # Okt 2025, Q4 2025, KW 41/2025
for kind in ("new", "returning", "resurrecting", "dormant"):
    bars.add_bar(x=period_labels, y=growth[kind], name=t(f"g_{kind}", TEXT), marker_color=GROWTH_COLORS[kind])
bars.add_scatter(x=period_labels, y=growth["quick_ratio"], name=t("quick_ratio", TEXT), yaxis="y2",
                 mode="lines+markers", line=dict(color="#1b1f24"))
# the quick ratio's own ticks, one decimal (1,5 not 1,582: an overlaying axis's ticks otherwise follow the
# customers axis's grid)
bars.update_layout(barmode="relative", height=400, yaxis=dict(title=t("customers")),
                   xaxis=dict(type="category"),
                   yaxis2=dict(title=t("quick_ratio", TEXT), overlaying="y", side="right", rangemode="tozero",
                               showgrid=False, tickmode="auto", nticks=6, tickformat=".1f"),
                   legend=dict(orientation="h", y=-0.15))
chart(bars, key="lifecycle_growth_chart")
st.caption(t("partial", TEXT))
table(growth, "lifecycle_growth_accounting.csv", key="lifecycle_growth", title=t("growth", TEXT),
      column_config={"period": t("period", TEXT), "new": t("g_new", TEXT), "returning": t("g_returning", TEXT),
                     "resurrecting": t("g_resurrecting", TEXT), "dormant": t("g_dormant", TEXT),
                     "active": t("customers"), "quick_ratio": t("quick_ratio", TEXT), "partial": None})
sticky = stages_ctx.metric("stickiness", period=period, periods=periods)
st.markdown(f"**{t('stickiness', TEXT, n=periods)}**")
bars = px.bar(sticky, x="active_periods", y="customers",
              text=[format_percent(s, lang, 1) for s in sticky["share"]],
              labels={"active_periods": t("active_periods", TEXT), "customers": t("customers")})
bars.update_traces(marker_color="#1f4e79")
bars.update_layout(height=320)
chart(bars, key="lifecycle_stickiness_chart", title=t("stickiness", TEXT, n=periods))

# ------------------------------------------------------------------ migration between two dates
st.subheader(t("migration", TEXT))
first_day, last_day = data.day_span(ctx.dataset)
latest = max(ctx.as_of, last_day or default_as_of(ctx.dataset))
earliest = min(first_day or ctx.as_of, ctx.as_of)  # the migration's dates lie within the data, as the as-of date
c1, c2, _ = st.columns([1, 1, 3])
with c1:
    start = param_date(t("from", TEXT), "lifecycle_from", quarter_before(ctx.as_of), earliest, latest)
with c2:
    end = param_date(t("to", TEXT), "lifecycle_to", ctx.as_of, earliest, latest)

if start >= end:
    st.warning(t("order", TEXT))
    stop()

migration = stages_ctx.metric("stage_migration", start=start, end=end)
known = int(migration["customers"].sum())
if known == 0:
    st.info(t("nobody_known", TEXT))
    stop()

flows = migration[migration["customers"] > 0]
sources = [s for s in STAGES if s in set(flows["from_stage"])]
targets = [s for s in STAGES if s in set(flows["to_stage"])]
outgoing = flows.groupby("from_stage")["customers"].sum()
incoming = flows.groupby("to_stage")["customers"].sum()
node_labels = ([f"{t(s)} ({format_number(outgoing[s], lang)})" for s in sources]
               + [f"{t(s)} ({format_number(incoming[s], lang)})" for s in targets])


def positions(stages: list[str], counts: pd.Series) -> list[float]:
    """Node centres top to bottom in lifecycle order (Plotly would otherwise reorder them)."""
    gap = 0.02
    scale = (1 - gap * (len(stages) - 1)) / counts[stages].sum()
    centres, top = [], 0.0
    for stage in stages:
        height = counts[stage] * scale
        centres.append(min(max(top + height / 2, 0.001), 0.999))
        top += height + gap
    return centres


sankey = go.Figure(go.Sankey(
    arrangement="snap",
    textfont=dict(color="#1b1f24", size=12),
    node=dict(label=node_labels, pad=14, thickness=16,
              color=[STAGE_COLORS[s] for s in sources] + [STAGE_COLORS[s] for s in targets],
              x=[0.001] * len(sources) + [0.999] * len(targets),
              y=positions(sources, outgoing) + positions(targets, incoming),
              hovertemplate="%{label}<extra></extra>"),
    link=dict(
        source=[sources.index(s) for s in flows["from_stage"]],
        target=[len(sources) + targets.index(s) for s in flows["to_stage"]],
        value=flows["customers"].tolist(),
        color=[rgba(STAGE_COLORS[s], 0.35) for s in flows["from_stage"]],
        customdata=[f"{t(a)} → {t(b)}" for a, b in zip(flows["from_stage"], flows["to_stage"])],
        hovertemplate="%{customdata}: %{value}<extra></extra>",
    ),
))
sankey.update_layout(height=480, annotations=[
    dict(x=0, y=1.06, xref="paper", yref="paper", showarrow=False, xanchor="left",
         text=format_date(start, lang)),
    dict(x=1, y=1.06, xref="paper", yref="paper", showarrow=False, xanchor="right",
         text=format_date(end, lang)),
])

same = int(migration.loc[migration["from_stage"] == migration["to_stage"], "customers"].sum())
up = int(migration.loc[migration["from_stage"].isin(INACTIVE) & migration["to_stage"].isin(ACTIVE),
                       "customers"].sum())
down = int(migration.loc[migration["from_stage"].isin(ACTIVE) & migration["to_stage"].isin(("at_risk", "churned")),
                         "customers"].sum())


def count_and_share(count: int) -> str:
    return f"{format_number(count, lang)} ({format_percent(count / known, lang, 1)})"


m1, m2, m3 = st.columns(3)
m1.metric(t("stayed", TEXT), count_and_share(same))
m2.metric(t("moved_up", TEXT), count_and_share(up), help=t("moved_up_help", TEXT))
m3.metric(t("slipped", TEXT), count_and_share(down), help=t("slipped_help", TEXT))
chart(sankey, key="lifecycle_sankey")
later = int(stages_ctx.metric("stage_distribution", as_of=end)["customers"].sum()) - known
st.caption(t("migration_caption", TEXT, count=format_number(known, lang), start=format_date(start, lang),
             later=format_number(later, lang)))

st.markdown(f"**{t('matrix', TEXT, start=format_date(start, lang), end=format_date(end, lang))}**")
matrix = migration.pivot(index="from_stage", columns="to_stage", values="customers").reindex(
    index=list(STAGES), columns=list(STAGES))
matrix.index = [t(s) for s in matrix.index]
matrix.columns = [t(s) for s in matrix.columns]
matrix = matrix.rename_axis(t("stage")).reset_index()
table(matrix, "lifecycle_migration.csv", key="lifecycle_migration", title=t("migration", TEXT))
