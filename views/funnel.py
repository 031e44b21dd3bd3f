"""Funnel: steps, window, per-step limits, exclusions and a breakdown; the customers who dropped off."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from clm_core import bounds
from clm_core.filters import SegmentFilter
from clm_core.i18n import field_label, format_number, format_percent
from clm_core.metrics import drilldown
from clm_core.metrics.funnel import Exclusion, Step
from clm_ui import data
from clm_ui.data import register
from clm_ui.page import context
from clm_ui.state import choose, refuse, stop, param_number, param_select, set_param, t, update, view
from clm_ui.widgets import chart, table

TEXT = {
    "title": ("Funnel", "Trichter"),
    "steps": ("Steps, in order", "Schritte, in Reihenfolge"),
    "steps_help": ("Milestones and event names; the funnel follows the order in which you pick them.",
                   "Meilensteine und Ereignisnamen; der Trichter folgt der Reihenfolge der Auswahl."),
    "window": ("Window (days from step 1)", "Zeitfenster (Tage ab Schritt 1)"),
    "breakdown": ("Breakdown", "Aufschlüsselung"),
    "none": ("(none)", "(keine)"),
    "no_value": ("(no value)", "(ohne Angabe)"),
    "no_limit": ("no time limit for this step", "keine Frist für diesen Schritt"),
    "advanced": ("Per-step limits and exclusions", "Schrittlimits und Ausschlüsse"),
    "limits": ("Maximum days after the previous step (0 = no limit of its own)",
               "Höchstens Tage nach dem vorigen Schritt (0 = kein eigenes Limit)"),
    "exclusions": ("Exclusions: customers with this event between two steps leave the whole funnel",
                   "Ausschlüsse: Kunden mit diesem Ereignis zwischen zwei Schritten fallen aus dem ganzen Trichter"),
    "exclusion_row": ("{event} between step {i} and step {j}", "{event} zwischen Schritt {i} und Schritt {j}"),
    "exclude_event": ("Event", "Ereignis"),
    "from_step": ("From step", "Von Schritt"),
    "to_step": ("To step", "Bis Schritt"),
    "add": ("Add exclusion", "Ausschluss hinzufügen"),
    "remove": ("Remove", "Entfernen"),
    "no_events_exclusion": ("Exclusions need an events file (customer_id, occurred_at, event).",
                            "Ausschlüsse brauchen eine Ereignisdatei (Kundennummer, Zeitpunkt, Ereignis)."),
    "need_two": ("Exclusions need at least two steps.", "Ausschlüsse brauchen mindestens zwei Schritte."),
    "missing": ("Not offered for this dataset: {items}. Upload the missing data on the Data page.",
                "Für diesen Datensatz nicht verfügbar: {items}. Die fehlenden Daten auf der Seite Daten hochladen."),
    "missing_created": ("“Created” needs a creation date (“Created on”) in the customers file",
                        "„Angelegt“ braucht ein Anlagedatum („Erstellt am“) in der Kundendatei"),
    "missing_first_purchase": ("“First purchase” needs a transactions file",
                               "„Erstkauf“ braucht eine Transaktionsdatei"),
    "missing_repeat_purchase": ("“Repeat purchase” needs a transactions file",
                                "„Wiederkauf“ braucht eine Transaktionsdatei"),
    "missing_promoter": ("“Promoter” needs an NPS file (customer_id, answered_at, score)",
                         "„Promotor“ braucht eine NPS-Datei (Kundennummer, Antwortdatum, Bewertung)"),
    "missing_events": ("event steps need an events file (customer_id, occurred_at, event)",
                       "Ereignisschritte brauchen eine Ereignisdatei (Kundennummer, Zeitpunkt, Ereignis)"),
    "no_steps": ("This dataset offers no funnel step yet.", "Dieser Datensatz bietet noch keinen Trichterschritt."),
    "pick_steps": ("Pick at least one step.", "Mindestens einen Schritt wählen."),
    "created": ("Created", "Angelegt"),
    "first_purchase": ("First purchase", "Erstkauf"),
    "repeat_purchase": ("Repeat purchase", "Wiederkauf"),
    "promoter": ("Promoter", "Promotor"),
    "event": ("{name} (event)", "{name} (Ereignis)"),
    "started": ("Entered the funnel", "In den Trichter eingetreten"),
    "completed": ("Reached the last step", "Letzten Schritt erreicht"),
    "overall": ("Overall conversion", "Gesamtkonversion"),
    "median_total": ("Median days, first to last step", "Median Tage bis letzter Schritt"),
    "median_total_help": ("Sum of the median days between consecutive steps.",
                          "Summe der Mediane der Tage zwischen aufeinanderfolgenden Schritten."),
    "reached": ("Reached", "Erreicht"),
    "dropped": ("Dropped off", "Abgesprungen"),
    "chart_title": ("Customers per step (click a bar to list the drop-offs)",
                    "Kunden je Schritt (Balken anklicken, um die Abspringer zu sehen)"),
    "of_start": ("of step 1", "von Schritt 1"),
    "of_previous": ("of previous", "vom vorigen"),
    "time_title": ("Median days from the previous step", "Median Tage seit dem vorigen Schritt"),
    "days": ("Days", "Tage"),
    "step": ("Step", "Schritt"),
    "conversion_from_start": ("Conversion from step 1", "Konversion ab Schritt 1"),
    "conversion_from_previous": ("Conversion from previous", "Konversion vom vorigen"),
    "drop_off": ("Drop-off", "Absprünge"),
    "median_days": ("Median days from previous", "Median Tage seit vorigem"),
    "breakdown_title": ("Conversion from step 1 by {attribute}", "Konversion ab Schritt 1 nach {attribute}"),
    "drop_title": ("Who dropped off", "Wer abgesprungen ist"),
    "drop_step": ("Dropped off at step", "Abgesprungen bei Schritt"),
    "drop_option": ("{k}. {step} ({n} dropped)", "{k}. {step} ({n} abgesprungen)"),
    "drop_caption": ("{n} customers reached “{previous}” but not “{step}”.",
                     "{n} Kunden haben „{previous}“ erreicht, aber nicht „{step}“."),
    "one_step": ("Add a second step to see drop-offs.", "Einen zweiten Schritt hinzufügen, um Absprünge zu sehen."),
    "use_filter": ("Use these customers as segment filter", "Diese Kunden als Segmentfilter verwenden"),
    "reached_previous_on": ("Reached previous step on", "Vorigen Schritt erreicht am"),
    "customer": ("Customer", "Kunde"),
}

register("step_availability", drilldown.step_availability)
register("breakdown_attributes", drilldown.breakdown_attributes)

ctx = context()
lang = view().lang
st.title(t("title", TEXT))

everyone = SegmentFilter()
available = data.metric("step_availability", ctx.dataset, everyone, ctx.config)
if available.missing:
    st.info(t("missing", TEXT, items="; ".join(t(f"missing_{name}", TEXT) for name, _ in available.missing)))
options = list(available.steps)
if not options:
    st.info(t("no_steps", TEXT))
    stop()


def step_label(name: str) -> str:
    if name in available.milestones:
        return t(name, TEXT)
    return t("event", TEXT, name=name)


def numbered(k: int, name: str) -> str:
    return f"{k}. {step_label(name)}"


# ------------------------------------------------------------------ choices (all page parameters)
default_steps = list(available.milestones) or options[:4]
chosen = [s for s in view().param_list("funnel_steps") if s in options] or default_steps
c1, c2, c3 = st.columns([4, 1, 1])
steps = c1.multiselect(t("steps", TEXT), options, default=chosen, format_func=step_label,
                       help=t("steps_help", TEXT), key="w.funnel.funnel_steps", **choose(True, options))
set_param("funnel_steps", steps or None)
with c2:
    window = param_number(t("window", TEXT), "funnel_window", 365, **bounds.DAYS.widget())
breakdowns = [""] + data.metric("breakdown_attributes", ctx.dataset, everyone, ctx.config)
with c3:
    breakdown = param_select(t("breakdown", TEXT), "funnel_breakdown", breakdowns, default="",
                             format_func=lambda b: field_label(b, lang) if b else t("none", TEXT))
set_param("funnel_breakdown", breakdown or None)
if not steps:
    st.info(t("pick_steps", TEXT))
    stop()
n_steps = len(steps)


STEP = bounds.Bound(2, 100)  # the position of a step with a limit of its own


def parse_limits() -> dict[int, int]:
    """Step k -> at most so many days after the previous step, from ``k:days`` items (k a step after the
    first, days within bounds.DAYS); others are refused with a warning, limits of steps not chosen ignored."""
    limits = {}
    for item in view().param_list("funnel_limits"):
        k, _, days = str(item).partition(":")
        if not (STEP.accepts(k) and bounds.DAYS.accepts(days)):
            refuse("funnel_limits", item, bounds.DAYS, t("no_limit", TEXT))
        elif STEP.parse(k) <= n_steps:
            limits[STEP.parse(k)] = bounds.DAYS.parse(days)
    return limits


def parse_exclusions() -> list[tuple[int, int, str]]:
    out = []
    for item in view().param_list("funnel_exclude"):
        parts = str(item).split(":", 2)
        if len(parts) != 3:
            continue
        try:
            i, j = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        if 1 <= i < j <= n_steps and parts[2] in available.events and (i, j, parts[2]) not in out:
            out.append((i, j, parts[2]))
    return out


def store_exclusions(items) -> None:
    set_param("funnel_exclude", [f"{i}:{j}:{event}" for i, j, event in items] or None)


limits = parse_limits()
exclusions = parse_exclusions()
with st.expander(t("advanced", TEXT), expanded=bool(limits or exclusions)):
    if n_steps > 1:
        st.caption(t("limits", TEXT))
        columns = st.columns(min(n_steps - 1, 4))
        for k in range(2, n_steps + 1):
            value = columns[(k - 2) % len(columns)].number_input(
                numbered(k, steps[k - 1]), min_value=0, max_value=bounds.DAYS.high, value=limits.get(k, 0), step=1,
                key=f"w.funnel.limit.{k}.{steps[k - 1]}")
            if value:
                limits[k] = int(value)
            else:
                limits.pop(k, None)
        set_param("funnel_limits", [f"{k}:{d}" for k, d in sorted(limits.items())] or None)
    st.caption(t("exclusions", TEXT))
    for index, (i, j, event) in enumerate(exclusions):
        e1, e2 = st.columns([5, 1])
        e1.write(t("exclusion_row", TEXT, event=event, i=i, j=j))
        if e2.button(t("remove", TEXT), key=f"w.funnel.exclude.remove.{index}"):
            store_exclusions([x for x in exclusions if x != (i, j, event)])
            st.rerun()
    if not available.events:
        st.caption(t("no_events_exclusion", TEXT))
    elif n_steps < 2:
        st.caption(t("need_two", TEXT))
    else:
        e1, e2, e3, e4 = st.columns([3, 1, 1, 2])
        event = e1.selectbox(t("exclude_event", TEXT), list(available.events), key="w.funnel.exclude.event")
        i = e2.selectbox(t("from_step", TEXT), list(range(1, n_steps)), key="w.funnel.exclude.from")
        j = e3.selectbox(t("to_step", TEXT), list(range(i + 1, n_steps + 1)), key=f"w.funnel.exclude.to.{i}")
        e4.write("")
        if e4.button(t("add", TEXT), key="w.funnel.exclude.add"):
            store_exclusions(exclusions + [(i, j, event)] if (i, j, event) not in exclusions else exclusions)
            st.rerun()
store_exclusions(exclusions)

step_objects = tuple(Step(name, limits.get(k)) for k, name in enumerate(steps, start=1))
exclusion_objects = tuple(Exclusion(event, i, j) for i, j, event in exclusions)
query = dict(steps=step_objects, window_days=window, exclusions=exclusion_objects)

# ------------------------------------------------------------------ the funnel
result = ctx.metric("funnel", **query)
counts = result["customers"].tolist()
start = counts[0]
m1, m2, m3, m4 = st.columns(4)
m1.metric(t("started", TEXT), format_number(start, lang))
m2.metric(t("completed", TEXT), format_number(counts[-1], lang))
m3.metric(t("overall", TEXT), format_percent(counts[-1] / start if start else float("nan"), lang))
medians = result["median_days_from_previous"].iloc[1:]
m4.metric(t("median_total", TEXT),
          format_number(medians.sum(), lang, 1) if n_steps > 1 and medians.notna().all() else "–",
          help=t("median_total_help", TEXT))

labels = [numbered(k, name) for k, name in enumerate(steps, start=1)]
ticks = [f"{label}<br>{format_number(row.customers, lang)} · {format_percent(row.conversion_from_start, lang)}"
         for label, row in zip(labels, result.itertuples())]
inside = [""] + [f"{format_percent(v, lang)} {t('of_previous', TEXT)}" for v in result["conversion_from_previous"].iloc[1:]]
fig = go.Figure()
fig.add_bar(y=labels, x=counts, orientation="h", name=t("reached", TEXT), text=inside, textposition="inside",
            insidetextanchor="end", marker_color="#2563eb", customdata=list(range(1, n_steps + 1)),
            hovertemplate="%{y}<br>" + t("reached", TEXT) + ": %{x}<extra></extra>")
fig.add_bar(y=labels, x=result["drop_off"].tolist(), orientation="h", name=t("dropped", TEXT),
            marker_color="#cbd5e1", customdata=list(range(1, n_steps + 1)),
            hovertemplate="%{y}<br>" + t("dropped", TEXT) + ": %{x}<extra></extra>")
fig.update_layout(barmode="stack", title=t("chart_title", TEXT), height=120 + 60 * n_steps,
                  uniformtext=dict(minsize=9, mode="hide"),
                  yaxis=dict(autorange="reversed", title=None, tickmode="array", tickvals=labels, ticktext=ticks),
                  xaxis_title=t("customers"), margin=dict(l=10, r=10, t=70, b=10),
                  # the legend under the title, clear of the axis title at the bottom
                  legend=dict(orientation="h", traceorder="normal", yanchor="bottom", y=1.0, x=1, xanchor="right"))
left, right = st.columns([3, 2])
with left:
    selection = chart(fig, key="funnel_chart", on_select="rerun", selection_mode="points")
with right:
    if n_steps > 1:
        time_fig = go.Figure(go.Bar(
            x=labels[1:], y=medians.tolist(), marker_color="#0f766e",
            text=[format_number(v, lang, 1) for v in medians], textposition="auto",
            hovertemplate="%{x}: %{y}<extra></extra>"))
        time_fig.update_layout(title=t("time_title", TEXT), yaxis_title=t("days", TEXT), height=120 + 60 * n_steps,
                               margin=dict(l=10, r=10, t=70, b=10))
        chart(time_fig, key="funnel_time")

shown = result.assign(step=labels)
column_config = {
    "step": t("step", TEXT),
    "customers": st.column_config.NumberColumn(t("customers"), format="localized"),
    "conversion_from_start": st.column_config.NumberColumn(t("conversion_from_start", TEXT), format="percent"),
    "conversion_from_previous": st.column_config.NumberColumn(t("conversion_from_previous", TEXT), format="percent"),
    "median_days_from_previous": st.column_config.NumberColumn(t("median_days", TEXT), format="%.1f"),
    "drop_off": st.column_config.NumberColumn(t("drop_off", TEXT), format="localized"),
}
table(shown, "funnel.csv", key="funnel_table", column_config=column_config, title=t("title", TEXT))

if breakdown:
    split = ctx.metric("funnel", breakdown=breakdown, **query)
    st.subheader(t("breakdown_title", TEXT, attribute=field_label(breakdown, lang)))
    split_fig = go.Figure()
    for value, rows in split.groupby("breakdown", sort=False):
        split_fig.add_bar(x=labels, y=rows["conversion_from_start"].tolist(),
                          name=t("no_value", TEXT) if value == "(none)" else str(value),  # customers without one
                          customdata=rows["customers"].tolist(),
                          hovertemplate=f"{value}<br>%{{x}}: %{{y:.1%}} (%{{customdata}})<extra></extra>")
    split_fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_title=t("conversion_from_start", TEXT))
    chart(split_fig, key="funnel_breakdown_chart")
    table(split.assign(step=[numbered(steps.index(s) + 1, s) for s in split["step"]]), "funnel_breakdown.csv",
          title=t("breakdown_title", TEXT, attribute=field_label(breakdown, lang)),
          key="funnel_breakdown_table", column_config={"breakdown": field_label(breakdown, lang), **column_config})

# ------------------------------------------------------------------ drill-down: who dropped off
st.subheader(t("drop_title", TEXT))
if n_steps < 2:
    st.caption(t("one_step", TEXT))
else:
    drop_options = list(range(2, n_steps + 1))
    points = selection.selection.points if selection is not None and hasattr(selection, "selection") else []
    clicked = sorted({int(p.get("point_index", -1)) + 1 for p in points})
    if clicked != st.session_state.get("funnel.clicked", []):
        st.session_state["funnel.clicked"] = clicked
        target = next((k for k in clicked if k in drop_options), None)
        if target is not None:
            set_param("funnel_drop", target)
            st.session_state["w.funnel.funnel_drop"] = target  # the selectbox below follows the click
    biggest = max(drop_options, key=lambda k: (result["drop_off"].iloc[k - 1], -k))
    try:
        drop_step = int(view().param("funnel_drop", biggest))
    except ValueError:
        drop_step = biggest
    drop_step = drop_step if drop_step in drop_options else biggest
    key = "w.funnel.funnel_drop"
    if key in st.session_state and st.session_state[key] not in drop_options:
        del st.session_state[key]
    # a selectbox already in the session keeps its value (chosen by the user or by a click on the chart)
    drop_step = int(st.selectbox(
        t("drop_step", TEXT), drop_options, index=0 if key in st.session_state else drop_options.index(drop_step),
        format_func=lambda k: t("drop_option", TEXT, k=k, step=step_label(steps[k - 1]),
                                n=format_number(result["drop_off"].iloc[k - 1], lang)), key=key))
    set_param("funnel_drop", drop_step)
    dropped = ctx.metric("dropped_customers", step=drop_step, **query)
    st.caption(t("drop_caption", TEXT, n=format_number(len(dropped), lang), previous=step_label(steps[drop_step - 2]),
                 step=step_label(steps[drop_step - 1])))
    table(dropped, f"funnel_dropped_step{drop_step}.csv", key="funnel_dropped", title=t("drop_title", TEXT),
          column_config={"customer_id": t("customer", TEXT), "reached_previous_on": t("reached_previous_on", TEXT)})
    if st.button(t("use_filter", TEXT), key="w.funnel.use_filter", disabled=dropped.empty):
        ids = drilldown.funnel_dropped(ctx.dataset, step_objects, drop_step, as_of=ctx.as_of, window_days=window,
                                       exclusions=exclusion_objects, segment=ctx.segment, config=ctx.config)
        list_id = data.save_customer_list(ids)
        update(segment=view().segment.with_customer_list(list_id))
        st.rerun()
