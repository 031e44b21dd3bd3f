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
from clm_core.i18n import format_date, format_number, format_percent, framework_label
from clm_core.filters import SegmentFilter
from clm_core.metrics import drilldown, losses
from clm_ui import data
from clm_ui.auth import md
from clm_ui.page import context, default_as_of
from clm_ui.state import TEXT as STATE_TEXT
from clm_ui.state import refuse, shown_value, stop, param_number, param_select, set_param, t, update, view
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
    "losses": ("Where are we losing customers?", "Wo verlieren wir Kunden?"),
    "losses_help": ("Per period: customers who newly became at risk, as a share of those new, active, reactivated "
                    "or loyal at the period's start, and customers who newly churned, as a share of those with a "
                    "purchase who had not churned at its start. In the latest period each segment is tested against "
                    "the rest (two-proportion z-test, p < 0.05, at least {min} customers in its base).",
                    "Je Zeitraum: Kunden, die neu gefährdet wurden, als Anteil derer, die zu Beginn des Zeitraums neu, "
                    "aktiv, reaktiviert oder loyal waren, und Kunden, die neu abgewandert sind, als Anteil derer mit "
                    "einem Kauf, die zu Beginn nicht abgewandert waren. Im letzten Zeitraum wird jedes Segment gegen "
                    "den Rest getestet (Zwei-Stichproben-z-Test für Anteile, p < 0,05, mindestens {min} Kunden in "
                    "seiner Basis)."),
    "loss_kind": ("Losses", "Verluste"),
    "lost_churned": ("Newly churned", "Neu abgewandert"),
    "lost_at_risk": ("Newly at risk", "Neu gefährdet"),
    "loss_by": ("By", "Nach"),
    "by_none": ("(no breakdown)", "(keine Aufteilung)"),
    "by_cohort": ("Cohort (first purchase)", "Kohorte (Erstkauf)"),
    "segment": ("Segment", "Segment"),
    "all_customers": ("All customers", "Alle Kunden"),
    "missing_value": ("(no value)", "(ohne Wert)"),
    "base": ("Base at the period's start", "Basis zu Beginn des Zeitraums"),
    "loss_share": ("Share lost", "Anteil verloren"),
    "p_value": ("p-value (latest period)", "p-Wert (letzter Zeitraum)"),
    "significant": ("Significant", "Signifikant"),
    "total_churned": ("{period}: {n} customers churned, {share} of the {base} with a purchase who had not churned "
                      "at its start.",
                      "{period}: {n} Kunden sind abgewandert, {share} der {base} Kunden mit Kauf, die zu Beginn nicht "
                      "abgewandert waren."),
    "total_at_risk": ("{period}: {n} customers became at risk, {share} of the {base} who were new, active, "
                      "reactivated or loyal at its start.",
                      "{period}: {n} Kunden wurden gefährdet, {share} der {base}, die zu Beginn neu, aktiv, "
                      "reaktiviert oder loyal waren."),
    "worst_churned": ("Worst segment in {period}: {attribute} = **{segment}**. {share} of its {base} customers "
                      "churned ({n}), against {rest} in the rest ({p}).",
                      "Schlechtestes Segment im Zeitraum {period}: {attribute} = **{segment}**. {share} seiner "
                      "{base} Kunden sind abgewandert ({n}), gegenüber {rest} im Rest ({p})."),
    "worst_at_risk": ("Worst segment in {period}: {attribute} = **{segment}**. {share} of its {base} customers "
                      "became at risk ({n}), against {rest} in the rest ({p}).",
                      "Schlechtestes Segment im Zeitraum {period}: {attribute} = **{segment}**. {share} seiner "
                      "{base} Kunden wurden gefährdet ({n}), gegenüber {rest} im Rest ({p})."),
    "no_worst": ("In {period} no segment of {attribute} differs significantly from the rest (two-proportion "
                 "z-test, p < 0.05, at least {min} customers in the base).",
                 "Im Zeitraum {period} unterscheidet sich kein Segment von {attribute} signifikant vom Rest "
                 "(Zwei-Stichproben-z-Test für Anteile, p < 0,05, mindestens {min} Kunden in der Basis)."),
    "pick_attribute": ("Pick an attribute under “By” to see which segment loses the most.",
                       "Unter „Nach“ ein Merkmal wählen, um zu sehen, welches Segment am meisten verliert."),
    "loss_partial": ("{period} is still running on the as-of date (partial).",
                     "Der Zeitraum {period} läuft am Stichtag noch (unvollständig)."),
    "loss_drill": ("Customers lost in {period} from", "Im Zeitraum {period} verlorene Kunden aus"),
    "loss_use_filter": ("Use these {n} customers as segment filter", "Diese {n} Kunden als Segmentfilter verwenden"),
    "losses_need_purchases": ("Losses need a transactions file with purchases.",
                              "Verluste brauchen eine Transaktionsdatei mit Käufen."),
}
data.register("breakdown_attributes", drilldown.breakdown_attributes)
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
area.for_each_trace(lambda trace: trace.update(name=t(trace.name)))
if measure == "share":
    area.update_yaxes(tickformat=".0%", range=[0, 1])
chart(area, key="lifecycle_history_chart")
table(history[["month", "stage", "label", "customers", "share"]], "lifecycle_stage_history.csv",
      title=t("history", TEXT),
      key="lifecycle_history", column_config={"share": st.column_config.NumberColumn(t("share"), format="percent"),
                                              "stage": None, "label": t("stage"), "month": t("month", TEXT),
                                              "customers": t("customers")})

# ------------------------------------------------------------------ where are we losing customers?
st.subheader(t("losses", TEXT), help=t("losses_help", TEXT, min=losses.MIN_BASE))


def loss_segment_label(value) -> str:
    if value is None:
        return t("missing_value", TEXT)
    return t("all_customers", TEXT) if value == losses.ALL and not loss_by else str(value)


if not ctx.dataset.has("customer_purchases"):
    st.info(t("losses_need_purchases", TEXT))
else:
    loss_attributes = [a for a in data.metric("breakdown_attributes", ctx.dataset, SegmentFilter(), ctx.config)
                       if a != losses.COHORT]
    loss_default = "segment" if "segment" in loss_attributes else ""
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
    with c1:
        loss_period = param_select(t("period", TEXT), "losses_period", losses.PERIODS, default="quarter",
                                   format_func=lambda p: t(f"period_{p}", TEXT))
    with c2:
        loss_periods = int(param_select(t("periods", TEXT), "losses_periods", (4, 6, 8, 12), default=4))
    with c3:
        loss_kind = param_select(t("loss_kind", TEXT), "losses_kind", ("churned", "at_risk"), default="churned",
                                 format_func=lambda k: t(f"lost_{k}", TEXT))
    with c4:
        loss_by = param_select(t("loss_by", TEXT), "losses_by", ["", losses.COHORT] + loss_attributes,
                               default=loss_default,
                               format_func=lambda b: t("by_none", TEXT) if not b
                               else t("by_cohort", TEXT) if b == losses.COHORT else b)
    loss_attribute = t("by_cohort", TEXT) if loss_by == losses.COHORT else loss_by
    lost = stages_ctx.metric("losses", period=loss_period, periods=loss_periods, by=loss_by or None)
    lost["segment_label"] = [loss_segment_label(s) for s in lost["segment"]]
    latest_period = lost["period"].iloc[-1] if not lost.empty else None
    latest_rows = lost[lost["period"] == latest_period]
    total_n = int(latest_rows[loss_kind].sum())
    total_base = int(latest_rows[f"{loss_kind}_base"].sum())
    if latest_period is not None:
        st.markdown(t(f"total_{loss_kind}", TEXT, period=latest_period, n=format_number(total_n, lang),
                      share=format_percent(total_n / total_base if total_base else 0.0, lang, 1),
                      base=format_number(total_base, lang)))
        if not loss_by:
            st.caption(t("pick_attribute", TEXT))
        else:
            worst = losses.worst_segment(lost, loss_kind)
            if worst is None:
                st.info(t("no_worst", TEXT, period=latest_period, attribute=md(loss_attribute), min=losses.MIN_BASE))
            else:
                row = latest_rows[latest_rows[f"{loss_kind}_worst"]].iloc[0]
                p = row[f"{loss_kind}_p"]
                st.info(t(f"worst_{loss_kind}", TEXT, period=latest_period, attribute=md(loss_attribute),
                          segment=md(loss_segment_label(worst)), share=format_percent(row[f"{loss_kind}_share"], lang, 1),
                          base=format_number(row[f"{loss_kind}_base"], lang), n=format_number(row[loss_kind], lang),
                          rest=format_percent(row[f"{loss_kind}_rest_share"], lang, 1),
                          p=f"p < {format_number(0.001, lang, 3)}" if p < 0.001
                          else f"p = {format_number(p, lang, 3)}"))
        if bool(latest_rows["partial"].any()):
            st.caption(t("loss_partial", TEXT, period=latest_period))
    bars = px.bar(lost, x="period", y=f"{loss_kind}_share", color="segment_label", barmode="group",
                  hover_data={loss_kind: True, f"{loss_kind}_base": True},
                  labels={"period": t("period", TEXT), f"{loss_kind}_share": t(f"lost_{loss_kind}", TEXT),
                          "segment_label": loss_attribute or t("segment", TEXT), loss_kind: t(f"lost_{loss_kind}", TEXT),
                          f"{loss_kind}_base": t("base", TEXT)})
    bars.update_yaxes(tickformat=".0%", rangemode="tozero")
    bars.update_layout(height=380, showlegend=bool(loss_by), legend=dict(orientation="h", y=-0.2))
    chart(bars, key="lifecycle_losses_chart")
    shown_losses = lost.iloc[::-1][["period", "segment_label", loss_kind, f"{loss_kind}_base", f"{loss_kind}_share",
                                    f"{loss_kind}_p", f"{loss_kind}_significant"]]
    table(shown_losses, f"lifecycle_losses_{loss_kind}_by_{loss_by or 'all'}.csv", key="lifecycle_losses",
          title=t("losses", TEXT),
          column_config={"period": t("period", TEXT), "segment_label": loss_attribute or t("segment", TEXT),
                         loss_kind: t(f"lost_{loss_kind}", TEXT), f"{loss_kind}_base": t("base", TEXT),
                         f"{loss_kind}_share": st.column_config.NumberColumn(t("loss_share", TEXT), format="percent"),
                         f"{loss_kind}_p": st.column_config.NumberColumn(t("p_value", TEXT), format="%.3f"),
                         f"{loss_kind}_significant": st.column_config.CheckboxColumn(t("significant", TEXT))})
    # drill-down: the customers lost in the latest period from one segment (the worst one first)
    drill_rows = latest_rows[latest_rows[loss_kind] > 0].sort_values(
        [f"{loss_kind}_worst", f"{loss_kind}_share"], ascending=False)
    if not drill_rows.empty:
        drill_values = ["" if s is None else str(s) for s in drill_rows["segment"]]
        drill_counts = dict(zip(drill_values, drill_rows[loss_kind]))
        d1, d2 = st.columns([2, 3])
        with d1:
            # a passing choice, not a link parameter: its options change with the period, kind and attribute
            drill = st.selectbox(t("loss_drill", TEXT, period=latest_period), drill_values,
                                 format_func=lambda v: f"{loss_segment_label(v or None)} ({drill_counts[v]})",
                                 key=f"w.lifecycle.losses_drill.{loss_period}.{loss_kind}.{loss_by}")
        with d2:
            st.write("")
            clicked = st.button(t("loss_use_filter", TEXT, n=format_number(drill_counts[drill], lang)),
                                key="w.lifecycle.losses_use_filter")
        if clicked:
            value = losses.ALL if not loss_by else (drill or None)
            ids = losses.lost_customers(ctx.dataset, loss_kind, loss_period, latest_period, as_of=ctx.as_of,
                                        by=loss_by or None, value=value, config=ctx.config, segment=ctx.segment)
            list_id = data.save_customer_list(ids)
            update(segment=view().segment.with_customer_list(list_id))
            st.rerun()

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
for kind in ("new", "returning", "resurrecting", "dormant"):
    bars.add_bar(x=growth["period"], y=growth[kind], name=t(f"g_{kind}", TEXT), marker_color=GROWTH_COLORS[kind])
bars.add_scatter(x=growth["period"], y=growth["quick_ratio"], name=t("quick_ratio", TEXT), yaxis="y2",
                 mode="lines+markers", line=dict(color="#1b1f24"))
bars.update_layout(barmode="relative", height=400, yaxis=dict(title=t("customers")),
                   yaxis2=dict(title=t("quick_ratio", TEXT), overlaying="y", side="right", rangemode="tozero",
                               showgrid=False),
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
