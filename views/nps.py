"""NPS: score with its margin over time, the answer split, by segment, and against lifecycle stage and value."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from clm_core.i18n import field_label, format_currency, format_date, format_number, format_percent
from clm_core.metrics import nps_relations
from clm_core.metrics.nps import MIN_ANSWERS
from clm_ui import data
from clm_ui.page import context, current_dataset
from clm_ui.state import stop, param_select, t, update, view
from clm_ui.widgets import chart, table

data.register("nps_by_stage", nps_relations.nps_by_stage,
              ("Computing the NPS by lifecycle stage of {n} customers…", "Berechne den NPS nach Lebenszyklusphase von {n} Kunden…"))
data.register("value_by_nps_group", nps_relations.value_by_nps_group,
              ("Comparing the value of promoters, passives and detractors among {n} customers…",
               "Vergleiche den Wert von Promotoren, Passiven und Kritikern unter {n} Kunden…"))

TEXT = {
    "title": ("Net Promoter Score", "Net Promoter Score"),
    "no_value": ("(no value)", "(ohne Angabe)"),
    "period": ("Answers", "Antworten"),
    "period_all": ("All up to {date}", "Alle bis {date}"),
    "period_days": ("Last {days} days", "Letzte {days} Tage"),
    "nps": ("NPS", "NPS"),
    "nps_help": ("100 · (promoters − detractors) / answers, with its 95 % margin of error.",
                 "100 · (Promotoren − Kritiker) / Antworten, mit 95-%-Fehlermarge."),
    "answers": ("Answers", "Antworten"),
    "promoters": ("Promoters (9–10)", "Promotoren (9–10)"),
    "passives": ("Passives (7–8)", "Indifferente (7–8)"),
    "detractors": ("Detractors (0–6)", "Kritiker (0–6)"),
    "no_nps_table": ("This page needs survey answers: an NPS file with customer_id, answered_at and score (0–10) "
                     "per answer, optionally a comment. Upload one on the Data page.",
                     "Diese Seite braucht Umfrageantworten: eine NPS-Datei mit Kundennummer, Antwortdatum und "
                     "Bewertung (0–10) je Antwort, optional einem Kommentar. Bitte auf der Seite Daten hochladen."),
    "no_answers_at_all": ("No NPS answers of this segment up to {date}.",
                          "Keine NPS-Antworten dieses Segments bis {date}."),
    "no_answers": ("No NPS answers in this period and segment.",
                   "Keine NPS-Antworten in diesem Zeitraum und Segment."),
    "small_headline": ("Only {n} answers: fewer than {min}, so the score is very uncertain.",
                       "Nur {n} Antworten: weniger als {min}, der Wert ist daher sehr unsicher."),
    "over_time": ("NPS by month", "NPS nach Monat"),
    "over_time_caption": ("All answers up to {date}. The band is the 95 % margin of error; hollow markers are "
                          "months with fewer than {min} answers.",
                          "Alle Antworten bis {date}. Das Band ist die 95-%-Fehlermarge; hohle Punkte sind Monate "
                          "mit weniger als {min} Antworten."),
    "month": ("Month", "Monat"),
    "margin": ("Margin of error", "Fehlermarge"),
    "enough": ("≥ {min} answers", "≥ {min} Antworten"),
    "too_small": ("< {min} answers (too small)", "< {min} Antworten (zu klein)"),
    "split": ("Promoters, passives and detractors by month", "Promotoren, Indifferente und Kritiker nach Monat"),
    "share": ("Share of answers", "Anteil der Antworten"),
    "answer_class": ("Answer", "Antwort"),
    "by_segment": ("NPS by segment", "NPS nach Segment"),
    "attribute": ("Break down by", "Aufteilen nach"),
    "no_attributes": ("The customers file has no attributes to break the NPS down by (e.g. channel, segment, "
                      "country). Upload customers with such columns on the Data page.",
                      "Die Kundendatei hat keine Merkmale zum Aufteilen (z. B. Kanal, Segment, Land). Bitte Kunden "
                      "mit solchen Spalten auf der Seite Daten hochladen."),
    "flagged": ("Fewer than {min} answers, too small to compare: {groups}",
                "Weniger als {min} Antworten, zu klein für einen Vergleich: {groups}"),
    "top_groups": ("Showing the {n} values with the most answers; the table lists all.",
                   "Gezeigt sind die {n} Werte mit den meisten Antworten; die Tabelle enthält alle."),
    "value": ("Value", "Wert"),
    "relations": ("NPS against retention and value", "NPS im Vergleich zu Bindung und Wert"),
    "by_stage": ("NPS by lifecycle stage on {date}", "NPS nach Lebenszyklusphase am {date}"),
    "by_stage_caption": ("Answers grouped by the customer’s stage on the as-of date. Loyal includes customers whose "
                         "latest answer is 9–10, so it leans towards promoters by definition.",
                         "Antworten nach der Phase des Kunden am Stichtag. Loyal umfasst auch Kunden, deren letzte "
                         "Antwort 9–10 ist, und neigt daher per Definition zu Promotoren."),
    "by_group": ("Customers by their latest answer", "Kunden nach ihrer letzten Antwort"),
    "by_group_caption": ("Every customer known on {date}, grouped by the latest answer up to that day. Still active = "
                         "stage new, active, reactivated or loyal.",
                         "Alle am {date} bekannten Kunden, nach ihrer letzten Antwort bis zu diesem Tag. Noch aktiv = "
                         "Phase neu, aktiv, reaktiviert oder loyal."),
    "group": ("Group", "Gruppe"),
    "promoter": ("Promoters", "Promotoren"),
    "passive": ("Passives", "Indifferente"),
    "detractor": ("Detractors", "Kritiker"),
    "no_answer": ("No answer", "Keine Antwort"),
    "mean_historic_value": ("Mean historic value", "Mittlerer historischer Wert"),
    "active_share": ("Still active", "Noch aktiv"),
    "mean_purchase_days": ("Mean purchase days", "Mittlere Kauftage"),
    "use_group": ("Use as segment filter", "Als Segmentfilter verwenden"),
    "use_group_button": ("Apply", "Anwenden"),
}
PERIODS = (0, 365, 180, 90)
CLASS_COLORS = {"promoters": "#2e8b57", "passives": "#b0b7c0", "detractors": "#c0392b"}
GROUP_COLORS = {"promoter": "#2e8b57", "passive": "#b0b7c0", "detractor": "#c0392b", "no_answer": "#d7dde5"}
#: customer_index columns that make no sense as a breakdown
NOT_ATTRIBUTES = {"customer_id", "implicit", "latitude", "longitude", "created_at", "first_seen", "postal_code"}
MAX_BARS = 30
DRILL_WIDTH = 320  # pixels of the "Use as segment filter" select box (the button beside it takes what it needs)
LEGEND_ABOVE = dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left")  # clear of the axis labels

# The NPS file is optional: say what to upload (checked here before context(), whose own message
# for a missing table currently fails, see the report).
_dataset = current_dataset(view())
if _dataset is not None and _dataset.has("customer_index") and not _dataset.has("nps"):
    st.title(t("title", TEXT))
    st.info(t("no_nps_table", TEXT))
    stop()
ctx = context(require=("nps",))
lang = view().lang
st.title(t("title", TEXT))


def period_label(days: int) -> str:
    return t("period_all", TEXT, date=format_date(ctx.as_of, lang)) if days == 0 else t("period_days", TEXT, days=days)


with st.columns([1, 3])[0]:
    days = int(param_select(t("period", TEXT), "nps_period", PERIODS, default=0, format_func=period_label))
since = ctx.as_of - dt.timedelta(days=days) if days else None


def margin_text(margin) -> str:
    """"± 3.2"; a dash where the margin means nothing (one answer, or all answers in one class give 0)."""
    return f"± {format_number(margin, lang, 1)}" if margin > 0 else "–"


def score_text(row) -> str:
    margin = margin_text(row["margin_of_error"])
    return format_number(row["nps"], lang, 1) + (f" {margin}" if margin != "–" else "")


def with_margins(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame for a table: a margin of 0 (one answer, or all answers alike) is not a margin, so it is left empty."""
    return frame.assign(margin_of_error=frame["margin_of_error"].where(frame["margin_of_error"] > 0))


def small_flag(frame: pd.DataFrame) -> list[str]:
    return [t("too_small", TEXT, min=MIN_ANSWERS) if small else t("enough", TEXT, min=MIN_ANSWERS)
            for small in frame["too_small"]]


def nps_columns() -> dict:
    """Column labels of the NPS tables in the view's language (the CSV keeps the canonical names)."""
    return {
        "answers": t("answers", TEXT),
        "promoters": t("promoter", TEXT),
        "passives": t("passive", TEXT),
        "detractors": t("detractor", TEXT),
        "nps": st.column_config.NumberColumn(t("nps", TEXT), format="%.1f"),
        "margin_of_error": st.column_config.NumberColumn(t("margin", TEXT), format="± %.1f"),
        "too_small": st.column_config.CheckboxColumn(t("too_small", TEXT, min=MIN_ANSWERS)),
    }


# ------------------------------------------------------------------ headline
monthly = ctx.metric("nps", by="month")
if monthly.empty:
    st.info(t("no_answers_at_all", TEXT, date=format_date(ctx.as_of, lang)))
    stop()
overall = ctx.metric("nps", since=since)
if overall.empty:
    st.info(t("no_answers", TEXT))
else:
    head = overall.iloc[0]
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric(t("nps", TEXT), score_text(head), help=t("nps_help", TEXT))
    c2.metric(t("answers", TEXT), format_number(head["answers"], lang))
    c3.metric(t("promoters", TEXT), format_percent(head["promoters"] / head["answers"], lang, 1))
    c4.metric(t("passives", TEXT), format_percent(head["passives"] / head["answers"], lang, 1))
    c5.metric(t("detractors", TEXT), format_percent(head["detractors"] / head["answers"], lang, 1))
    if head["too_small"]:
        st.warning(t("small_headline", TEXT, n=int(head["answers"]), min=MIN_ANSWERS))

# ------------------------------------------------------------------ over time
st.subheader(t("over_time", TEXT))
monthly = monthly.assign(start=pd.to_datetime(monthly["scope"] + "-01"),
                         low=(monthly["nps"] - monthly["margin_of_error"]).clip(lower=-100),
                         high=(monthly["nps"] + monthly["margin_of_error"]).clip(upper=100))
line = go.Figure()
line.add_trace(go.Scatter(x=monthly["start"], y=monthly["high"], mode="lines", line=dict(width=0),
                          hoverinfo="skip", showlegend=False))
line.add_trace(go.Scatter(x=monthly["start"], y=monthly["low"], mode="lines", line=dict(width=0),
                          fill="tonexty", fillcolor="rgba(31,78,121,0.15)", name=t("margin", TEXT), hoverinfo="skip"))
line.add_trace(go.Scatter(x=monthly["start"], y=monthly["nps"], mode="lines", line=dict(color="#1f4e79"),
                          hoverinfo="skip", showlegend=False))
for small, group in monthly.groupby("too_small"):
    line.add_trace(go.Scatter(
        x=group["start"], y=group["nps"], mode="markers",
        name=t("too_small" if small else "enough", TEXT, min=MIN_ANSWERS),
        marker=dict(color="#ffffff" if small else "#1f4e79", size=9, line=dict(color="#1f4e79", width=2)),
        customdata=[[format_number(n, lang), margin_text(m)]
                    for n, m in zip(group["answers"], group["margin_of_error"])],
        hovertemplate="%{x|%Y-%m}: NPS %{y:.1f} %{customdata[1]}<br>%{customdata[0]} "
                      + t("answers", TEXT) + "<extra></extra>",
    ))
line.update_layout(height=380, xaxis_title=t("month", TEXT), yaxis_title=t("nps", TEXT),
                   legend=dict(orientation="h", y=-0.2))
line.update_yaxes(range=[-100, 100])
chart(line, key="nps_over_time", title=t("over_time", TEXT))
st.caption(t("over_time_caption", TEXT, date=format_date(ctx.as_of, lang), min=MIN_ANSWERS))

st.subheader(t("split", TEXT))
classes = ("promoters", "passives", "detractors")
shares = monthly.melt(id_vars=["start", "answers"], value_vars=list(classes), var_name="class", value_name="count")
shares["share"] = shares["count"] / shares["answers"]
shares["label"] = [t(c, TEXT) for c in shares["class"]]
stacked = px.bar(shares, x="start", y="share", color="class", color_discrete_map=CLASS_COLORS,
                 category_orders={"class": list(classes)}, custom_data=["count", "answers"],
                 labels={"start": t("month", TEXT), "share": t("share", TEXT), "class": t("answer_class", TEXT)})
stacked.for_each_trace(lambda trace: trace.update(name=t(trace.name, TEXT)))
stacked.update_traces(hovertemplate="%{x|%Y-%m}: %{y:.1%} (%{customdata[0]} / %{customdata[1]})<extra></extra>")
stacked.update_layout(barmode="stack", bargap=0.1, height=360, legend=dict(orientation="h", y=-0.2))
stacked.update_yaxes(tickformat=".0%", range=[0, 1])
chart(stacked, key="nps_split")
table(with_margins(monthly.drop(columns=["start", "low", "high"]).rename(columns={"scope": "month"})),
      "nps_by_month.csv", key="nps_monthly_table", title=t("split", TEXT),
      column_config={**nps_columns(), "month": t("month", TEXT)})

# ------------------------------------------------------------------ by segment
st.subheader(t("by_segment", TEXT))
attributes = [c for c in ctx.dataset.table("customer_index").columns if c not in NOT_ATTRIBUTES]
if not attributes:
    st.info(t("no_attributes", TEXT))
else:
    default = "segment" if "segment" in attributes else attributes[0]
    with st.columns([1, 3])[0]:
        attribute = param_select(t("attribute", TEXT), "nps_by", attributes, default=default,
                                 format_func=lambda a: field_label(a, lang))
    segments = ctx.metric("nps", by=attribute, since=since)
    if segments.empty:
        st.info(t("no_answers", TEXT))
    else:
        shown = segments.sort_values(["answers", "scope"], ascending=[False, True]).head(MAX_BARS)
        shown = shown.sort_values("nps", ascending=False).assign(
            flag=lambda f: small_flag(f),
            name=lambda f: [t("no_value", TEXT) if s == "(none)" else html.escape(str(s))  # Plotly reads tags in
                            for s in f["scope"]],  # labels: escape user text; "(none)": customers without a value
            label=lambda f: [f"{s} (n = {format_number(n, lang)})" for s, n in zip(f["name"], f["answers"])],
            answers_text=lambda f: [format_number(n, lang) for n in f["answers"]],
            margin_text=lambda f: [margin_text(m) for m in f["margin_of_error"]])
        bars = px.bar(shown, y="label", x="nps", color="flag", error_x="margin_of_error", orientation="h",
                      color_discrete_map={t("enough", TEXT, min=MIN_ANSWERS): "#1f4e79",
                                          t("too_small", TEXT, min=MIN_ANSWERS): "#c3ccd6"},
                      pattern_shape="flag",
                      pattern_shape_map={t("enough", TEXT, min=MIN_ANSWERS): "",
                                         t("too_small", TEXT, min=MIN_ANSWERS): "/"},
                      custom_data=["name", "answers_text", "margin_text"],
                      category_orders={"label": list(shown["label"])},  # Plotly Express puts the first on top
                      labels={"label": field_label(attribute, lang), "nps": t("nps", TEXT), "flag": ""})
        bars.update_traces(hovertemplate="%{customdata[0]}: NPS %{x:.1f} %{customdata[2]} "
                                         "(n = %{customdata[1]})<extra></extra>")
        bars.update_layout(height=max(260, 100 + 26 * len(shown)), yaxis_type="category",
                           margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_ABOVE)
        bars.update_xaxes(range=[-100, 100])
        chart(bars, key="nps_by_segment_chart")
        if len(segments) > MAX_BARS:
            st.caption(t("top_groups", TEXT, n=MAX_BARS))
        small = segments[segments["too_small"]]
        if len(small):
            st.warning(t("flagged", TEXT, min=MIN_ANSWERS,
                         groups=", ".join(f"{s} ({format_number(n, lang)})"
                                          for s, n in zip(small["scope"], small["answers"]))))
        table(with_margins(segments.rename(columns={"scope": attribute})), f"nps_by_{attribute}.csv",
              key="nps_segment_table", column_config=nps_columns(), title=t("by_segment", TEXT))

# ------------------------------------------------------------------ against retention and value
# The two charts side by side; their tables below them at full width (too many columns for half a page).
st.subheader(t("relations", TEXT))
left, right = st.columns(2)
by_stage = ctx.metric("nps_by_stage", since=since)
with left:
    st.markdown(f"**{t('by_stage', TEXT, date=format_date(ctx.as_of, lang))}**")
    if by_stage.empty:
        st.info(t("no_answers", TEXT))
    else:
        by_stage = by_stage.assign(label=[f"{t(s)}<br>n = {format_number(n, lang)}"
                                          for s, n in zip(by_stage["stage"], by_stage["answers"])],
                                   flag=lambda f: small_flag(f))
        bars = px.bar(by_stage, x="label", y="nps", color="flag", error_y="margin_of_error",
                      color_discrete_map={t("enough", TEXT, min=MIN_ANSWERS): "#1f4e79",
                                          t("too_small", TEXT, min=MIN_ANSWERS): "#c3ccd6"},
                      pattern_shape="flag",
                      pattern_shape_map={t("enough", TEXT, min=MIN_ANSWERS): "",
                                         t("too_small", TEXT, min=MIN_ANSWERS): "/"},
                      category_orders={"label": list(by_stage["label"])},
                      labels={"label": t("stage"), "nps": t("nps", TEXT), "flag": ""})
        bars.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND_ABOVE)
        bars.update_yaxes(range=[-100, 100])
        chart(bars, key="nps_by_stage_chart", title=t("relations", TEXT))
        st.caption(t("by_stage_caption", TEXT))

groups = ctx.metric("value_by_nps_group", since=since)
groups = groups.assign(label=[t(g, TEXT) for g in groups["group"]])
measures = ("mean_historic_value", "active_share", "mean_purchase_days")
with right:
    st.markdown(f"**{t('by_group', TEXT)}**")
    long = groups.melt(id_vars=["group", "label"], value_vars=list(measures), var_name="measure")
    long["measure_label"] = [t(m, TEXT) for m in long["measure"]]
    long["text"] = [format_currency(v, lang, 0) if m == "mean_historic_value"
                    else format_percent(v, lang, 0) if m == "active_share" else format_number(v, lang, 1)
                    for m, v in zip(long["measure"], long["value"])]
    facets = px.bar(long, x="label", y="value", color="label", facet_col="measure_label", text="text",
                    color_discrete_map={t(g, TEXT): colour for g, colour in GROUP_COLORS.items()},
                    category_orders={"measure_label": [t(m, TEXT) for m in measures],
                                     "label": [t(g, TEXT) for g in GROUP_COLORS]},
                    labels={"label": "", "value": "", "measure_label": ""})
    facets.update_traces(textangle=0, textposition="outside", cliponaxis=False)
    facets.update_yaxes(matches=None, showticklabels=False)
    facets.update_xaxes(showticklabels=False)  # the legend names the groups: no slanted labels under narrow bars
    facets.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    facets.update_layout(height=380, margin=dict(l=10, r=10, t=70, b=10),
                         legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0, xanchor="left", title_text=""))
    chart(facets, key="nps_value_chart", title=t("relations", TEXT))
    st.caption(t("by_group_caption", TEXT, date=format_date(ctx.as_of, lang)))

if not by_stage.empty:
    stage_table = with_margins(by_stage.drop(columns=["flag", "label"]))
    stage_table.insert(1, "stage_label", [t(s) for s in stage_table["stage"]])
    table(stage_table, "nps_by_stage.csv", key="nps_stage_table",
          title=t("by_stage", TEXT, date=format_date(ctx.as_of, lang)),
          column_config={**nps_columns(), "stage": None, "stage_label": t("stage")})
table(groups[["group", "label", "customers", *measures]], "nps_value_by_group.csv", key="nps_group_table",
      title=t("by_group", TEXT),
      column_config={"group": None, "label": t("group", TEXT), "customers": t("customers"),
                     "mean_historic_value": st.column_config.NumberColumn(t("mean_historic_value", TEXT),
                                                                          format="euro"),
                     "active_share": st.column_config.NumberColumn(t("active_share", TEXT), format="percent"),
                     "mean_purchase_days": st.column_config.NumberColumn(t("mean_purchase_days", TEXT),
                                                                         format="%.1f")})
with st.form("nps_drill", border=False):
    # side by side in a row: the button as wide as its label ("Anwenden" was cut off in a fixed narrow column);
    # where the row is too narrow it wraps under the select box instead
    with st.container(horizontal=True, vertical_alignment="bottom", key="nps_drill_row"):
        chosen = st.selectbox(t("use_group", TEXT), list(nps_relations.GROUPS), format_func=lambda g: t(g, TEXT),
                              key="w.nps.drill_group", width=DRILL_WIDTH)
        if st.form_submit_button(t("use_group_button", TEXT), width="content"):
            ids = nps_relations.nps_group_customers(ctx.dataset, ctx.as_of, ctx.segment, ctx.config, since, chosen)
            list_id = data.save_customer_list(ids)
            update(segment=view().segment.with_customer_list(list_id))
            st.rerun()
