"""The "Where are we losing customers?" section (clm_core.metrics.losses), drawn on Lifecycle in full and on
the Overview compact: counts and shares of newly at-risk or churned customers by an attribute, the worst
segment (two-proportion z-test against the rest), and the drill-down that makes its customers the filter.

Each page keeps its choices in its own URL parameters (``p.<prefix>_period``, ``_periods``, ``_kind``,
``_by``). Full: the last few periods up to T's (partial) one. Compact: the latest *complete* period only (a
month or quarter that ended on or before T), by one attribute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import plotly.express as px
import streamlit as st

from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.i18n import field_label, format_date, format_number, format_percent
from clm_core.metrics import drilldown, losses
from clm_core.metrics.cohorts import period_number, period_start
from clm_ui import data
from clm_ui.auth import md
from clm_ui.state import param_select, t, update, view
from clm_ui.widgets import STAGE_COLORS, chart, table

TEXT = {
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
    "period": ("Period", "Zeitraum"),
    "period_month": ("Month", "Monat"),
    "period_quarter": ("Quarter", "Quartal"),
    "periods": ("Periods", "Zeiträume"),
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
    "worst": ("Worst", "Schlechtestes"),
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
    "loss_complete": ("The latest complete {unit}, {period}, up to {end}.",
                      "Der letzte vollständige Zeitraum ({unit}), {period}, bis {end}."),
    "unit_month": ("month", "Monat"),
    "unit_quarter": ("quarter", "Quartal"),
    "loss_drill": ("Customers lost in {period} from", "Im Zeitraum {period} verlorene Kunden aus"),
    "loss_use_filter": ("Use these {n} customers as segment filter", "Diese {n} Kunden als Segmentfilter verwenden"),
    "losses_need_purchases": ("Losses need a transactions file with purchases.",
                              "Verluste brauchen eine Transaktionsdatei mit Käufen."),
}
OTHER_COLOR = "#9aa5b1"  # the segments that are not the worst (the worst in its kind's stage colour)


def complete_period_end(as_of: dt.date, period: str) -> dt.date:
    """The last day of the latest month or quarter that is over on ``as_of`` (``as_of`` itself on its last day)."""
    following = period_start(period_number(as_of, period) + 1, period)
    if as_of == following - dt.timedelta(days=1):
        return as_of
    return period_start(period_number(as_of, period), period) - dt.timedelta(days=1)


def by_choices(ctx, compact: bool = False) -> tuple[list[str], str]:
    """The breakdowns offered ("" none, "cohort", the customer attributes) and the default one ("segment"
    where the data have it); compact: always a breakdown when there is an attribute."""
    attributes = [a for a in data.metric("breakdown_attributes", ctx.dataset, SegmentFilter(), ctx.config)
                  if a != losses.COHORT]
    default = "segment" if "segment" in attributes else (attributes[0] if compact and attributes else "")
    return ([""] if not compact or not attributes else []) + [losses.COHORT] + attributes, default


def _stages_only(ctx):
    """The context with the default framework: losses do not depend on it (one cached result for all)."""
    return replace(ctx, config=ctx.config.with_(framework=LifecycleConfig().framework, mapping={}))


def section(ctx, prefix: str = "losses", compact: bool = False) -> str | None:
    """Draw the section under its subheader; its parameters are ``p.<prefix>_*``. Returns the customer
    attribute it breaks down by (None: none, or the cohort)."""
    lang = view().lang
    page = view().page
    st.subheader(t("losses", TEXT), help=t("losses_help", TEXT, min=losses.MIN_BASE))
    if not ctx.dataset.has("customer_purchases"):
        st.info(t("losses_need_purchases", TEXT))
        return None
    ctx = _stages_only(ctx)
    by_options, default_by = by_choices(ctx, compact)
    columns = st.columns([1, 1, 2]) if compact else st.columns([1, 1, 1, 2])
    with columns[0]:
        period = param_select(t("period", TEXT), f"{prefix}_period", losses.PERIODS, default="quarter",
                              format_func=lambda p: t(f"period_{p}", TEXT))
    if compact:
        periods, as_of = 1, complete_period_end(ctx.as_of, period)
    else:
        with columns[1]:
            periods = int(param_select(t("periods", TEXT), f"{prefix}_periods", (4, 6, 8, 12), default=4))
        as_of = ctx.as_of
    with columns[-2]:
        kind = param_select(t("loss_kind", TEXT), f"{prefix}_kind", ("churned", "at_risk"), default="churned",
                            format_func=lambda k: t(f"lost_{k}", TEXT))
    with columns[-1]:
        by = param_select(t("loss_by", TEXT), f"{prefix}_by", by_options, default=default_by,
                          format_func=lambda b: t("by_none", TEXT) if not b
                          else t("by_cohort", TEXT) if b == losses.COHORT else field_label(b, lang))
    attribute = t("by_cohort", TEXT) if by == losses.COHORT else field_label(by, lang) if by else by

    def segment_label(value) -> str:
        if value is None:
            return t("missing_value", TEXT)
        return t("all_customers", TEXT) if value == losses.ALL and not by else str(value)

    lost = ctx.metric("losses", period=period, periods=periods, by=by or None, as_of=as_of)
    lost["segment_label"] = [segment_label(s) for s in lost["segment"]]
    latest_period = lost["period"].iloc[-1] if not lost.empty else None
    latest = lost[lost["period"] == latest_period]
    if latest_period is not None:
        total_n, total_base = int(latest[kind].sum()), int(latest[f"{kind}_base"].sum())
        st.markdown(t(f"total_{kind}", TEXT, period=latest_period, n=format_number(total_n, lang),
                      share=format_percent(total_n / total_base if total_base else 0.0, lang, 1),
                      base=format_number(total_base, lang)))
        if not by:
            st.caption(t("pick_attribute", TEXT))
        else:
            _worst_sentence(lost, latest, kind, latest_period, attribute, segment_label)
        if bool(latest["partial"].any()):
            st.caption(t("loss_partial", TEXT, period=latest_period))
        elif compact:
            st.caption(t("loss_complete", TEXT, unit=t(f"unit_{period}", TEXT), period=latest_period,
                         end=format_date(as_of, lang)))
    if compact:
        _segment_bars(latest, kind, attribute, page, prefix, lang)
    else:
        _period_bars(lost, kind, by, attribute, prefix, page)
    shown = lost.iloc[::-1][["period", "segment_label", kind, f"{kind}_base", f"{kind}_share", f"{kind}_p",
                             f"{kind}_significant"] + ([f"{kind}_worst"] if compact else [])]
    config = {"period": t("period", TEXT), "segment_label": attribute or t("segment", TEXT),
              kind: t(f"lost_{kind}", TEXT), f"{kind}_base": t("base", TEXT),
              f"{kind}_share": st.column_config.NumberColumn(t("loss_share", TEXT), format="percent"),
              f"{kind}_p": st.column_config.NumberColumn(t("p_value", TEXT), format="%.3f"),
              f"{kind}_significant": st.column_config.CheckboxColumn(t("significant", TEXT))}
    if compact:
        config[f"{kind}_worst"] = st.column_config.CheckboxColumn(t("worst", TEXT))
    table(shown, f"{page}_losses_{kind}_by_{by or 'all'}.csv", key=f"{page}_{prefix}" if compact else f"{page}_losses",
          column_config=config, title=t("losses", TEXT))
    _drill_down(ctx, latest, kind, period, latest_period, by, as_of, prefix, segment_label)
    return None if by in ("", losses.COHORT) else by


def _worst_sentence(lost, latest, kind, latest_period, attribute, segment_label) -> None:
    lang = view().lang
    worst = losses.worst_segment(lost, kind)
    if worst is None:
        st.info(t("no_worst", TEXT, period=latest_period, attribute=md(attribute), min=losses.MIN_BASE))
        return
    row = latest[latest[f"{kind}_worst"]].iloc[0]
    p = row[f"{kind}_p"]
    st.info(t(f"worst_{kind}", TEXT, period=latest_period, attribute=md(attribute), segment=md(segment_label(worst)),
              share=format_percent(row[f"{kind}_share"], lang, 1), base=format_number(row[f"{kind}_base"], lang),
              n=format_number(row[kind], lang), rest=format_percent(row[f"{kind}_rest_share"], lang, 1),
              p=f"p < {format_number(0.001, lang, 3)}" if p < 0.001 else f"p = {format_number(p, lang, 3)}"))


def _period_bars(lost, kind, by, attribute, prefix, page) -> None:
    """Full: the share lost per period, one bar per segment."""
    bars = px.bar(lost, x="period", y=f"{kind}_share", color="segment_label", barmode="group",
                  hover_data={kind: True, f"{kind}_base": True},
                  labels={"period": t("period", TEXT), f"{kind}_share": t(f"lost_{kind}", TEXT),
                          "segment_label": attribute or t("segment", TEXT), kind: t(f"lost_{kind}", TEXT),
                          f"{kind}_base": t("base", TEXT)})
    bars.update_yaxes(tickformat=".0%", rangemode="tozero")
    bars.update_layout(height=380, showlegend=bool(by), legend=dict(orientation="h", y=-0.2))
    chart(bars, key=f"{page}_losses_chart" if prefix == "losses" else f"{page}_{prefix}_chart")


def _segment_bars(latest, kind, attribute, page, prefix, lang) -> None:
    """Compact: the share lost by segment in the one period, the worst segment in its stage's colour, the others
    grey."""
    shown = latest.assign(
        text=[f"{format_percent(s, lang, 1)} ({format_number(n, lang)})" for s, n in zip(latest[f"{kind}_share"],
                                                                                         latest[kind])],
        colour=[STAGE_COLORS[kind] if w else OTHER_COLOR for w in latest[f"{kind}_worst"]])
    bars = px.bar(shown, x=f"{kind}_share", y="segment_label", orientation="h", text="text",
                  labels={f"{kind}_share": t("loss_share", TEXT), "segment_label": attribute or t("segment", TEXT)})
    bars.update_traces(marker_color=shown["colour"].tolist(), textposition="outside", cliponaxis=False)
    bars.update_xaxes(tickformat=".0%", rangemode="tozero")
    bars.update_layout(height=min(120 + 28 * len(shown), 520), yaxis=dict(autorange="reversed"))
    chart(bars, key=f"{page}_{prefix}_chart")


def _drill_down(ctx, latest, kind, period, latest_period, by, as_of, prefix, segment_label) -> None:
    """The customers lost in the shown period from one segment (the worst first) as the segment filter."""
    lang = view().lang
    rows = latest[latest[kind] > 0].sort_values([f"{kind}_worst", f"{kind}_share"], ascending=False)
    if rows.empty:
        return
    values = ["" if s is None else str(s) for s in rows["segment"]]
    counts = dict(zip(values, rows[kind]))
    page = view().page
    left, right = st.columns([2, 3])
    with left:
        # a passing choice, not a link parameter: its options change with the period, kind and attribute
        chosen = st.selectbox(t("loss_drill", TEXT, period=latest_period), values,
                              format_func=lambda v: f"{segment_label(v or None)} ({counts[v]})",
                              key=f"w.{page}.{prefix}_drill.{period}.{kind}.{by}")
    with right:
        st.write("")
        clicked = st.button(t("loss_use_filter", TEXT, n=format_number(counts[chosen], lang)),
                            key=f"w.{page}.{prefix}_use_filter")
    if clicked:
        value = losses.ALL if not by else (chosen or None)
        ids = losses.lost_customers(ctx.dataset, kind, period, latest_period, as_of=as_of, by=by or None,
                                    value=value, config=ctx.config, segment=ctx.segment)
        update(segment=view().segment.with_customer_list(data.save_customer_list(ids)))
        st.rerun()


data.register("breakdown_attributes", drilldown.breakdown_attributes)
