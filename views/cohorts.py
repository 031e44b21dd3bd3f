"""Cohorts: retention heatmap, curves and their average, realised lifetime value, period-k trend, breakdown."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from clm_core.filters import SegmentFilter
from clm_core.i18n import field_label, format_number, format_percent
from clm_core.metrics import drilldown
from clm_core.metrics.cohorts import PERIODS
from clm_ui import data
from clm_ui.data import register
from clm_ui.page import context
from clm_ui.state import stop, param_number, param_select, set_param, t, update, view
from clm_ui.widgets import chart, table

TEXT = {
    "title": ("Cohorts", "Kohorten"),
    "period": ("Cohort period", "Kohortenperiode"),
    "month": ("Month", "Monat"),
    "week": ("Week", "Woche"),
    "quarter": ("Quarter", "Quartal"),
    "measure": ("Retention of", "Bindung von"),
    "m_customers": ("Customers", "Kunden"),
    "m_revenue": ("Revenue", "Umsatz"),
    "k": ("Period k for the trend", "Periode k für den Trend"),
    "breakdown": ("Breakdown by", "Aufschlüsselung nach"),
    "top": ("Top values", "Häufigste Werte"),
    "none": ("(none)", "(keine)"),
    "no_transactions": ("Cohorts need a transactions file (customer_id, ordered_at, amount). Upload one on the Data page.",
                        "Kohorten brauchen eine Transaktionsdatei (Kundennummer, Bestelldatum, Betrag). Bitte auf der Seite "
                        "Daten hochladen."),
    "no_purchases": ("No purchases on or before the as-of date, so there are no cohorts.",
                     "Keine Käufe bis zum Stichtag, daher keine Kohorten."),
    "cohorts": ("Cohorts", "Kohorten"),
    "cohort_customers": ("Customers in cohorts", "Kunden in Kohorten"),
    "avg_k": ("Average retention in period {k}", "Durchschnittliche Bindung in Periode {k}"),
    "avg_k_revenue": ("Average revenue retention in period {k}", "Durchschnittliche Umsatzbindung in Periode {k}"),
    "avg_k_help": ("Size-weighted over the cohorts whose period {k} is complete.",
                   "Nach Kohortengröße gewichtet über die Kohorten, deren Periode {k} abgeschlossen ist."),
    "heatmap": ("Retention by cohort (click a cell to list its customers)",
                "Bindung je Kohorte (Zelle anklicken, um ihre Kunden zu sehen)"),
    "heatmap_revenue": ("Revenue retention by cohort (click a cell to list its customers)",
                        "Umsatzbindung je Kohorte (Zelle anklicken, um ihre Kunden zu sehen)"),
    "partial_note": ("\\* Period still running on the as-of date {date} (partial; an orange mark where cells are too small "
                     "for numbers); later periods are empty, not zero.",
                     "\\* Periode läuft am Stichtag {date} noch (unvollständig; orange markiert, wo die Zellen für Zahlen zu "
                     "klein sind); spätere Perioden sind leer, nicht null."),
    "rows_note": ("Showing the latest {n} of {total} cohorts.", "Die letzten {n} von {total} Kohorten."),
    "periods_since": ("Periods since first purchase", "Perioden seit dem Erstkauf"),
    "cohort": ("Cohort", "Kohorte"),
    "size": ("Size", "Größe"),
    "active": ("Active", "Aktiv"),
    "curves": ("Retention curves per cohort and their average", "Bindungskurven je Kohorte und ihr Durchschnitt"),
    "average": ("Average (size-weighted)", "Durchschnitt (gewichtet)"),
    "ltv": ("Cumulative revenue per customer (realised lifetime value)",
            "Kumulierter Umsatz je Kunde (realisierter Kundenwert)"),
    "ltv_axis": ("Revenue per customer", "Umsatz je Kunde"),
    "trend": ("Period-{k} retention across cohorts", "Bindung in Periode {k} über die Kohorten"),
    "trend_note": ("Paler bars: period {k} still running (partial).",
                   "Blassere Balken: Periode {k} läuft noch (unvollständig)."),
    "retention": ("Retention", "Bindung"),
    "revenue_retention": ("Revenue retention", "Umsatzbindung"),
    "cohort_start": ("Cohort start", "Kohortenbeginn"),
    "partial": ("Partial", "Unvollständig"),
    "breakdown_title": ("Average retention by {attribute} (top {n})", "Durchschnittliche Bindung nach {attribute} (Top {n})"),
    "all": ("All", "Alle"),
    "cell_title": ("Customers of a cell", "Kunden einer Zelle"),
    "cell_cohort": ("Cohort", "Kohorte"),
    "cell_period": ("Period", "Periode"),
    "pick_cell": ("Click a heatmap cell or pick a cohort and a period.",
                  "Eine Zelle der Heatmap anklicken oder Kohorte und Periode wählen."),
    "cell_caption": ("{n} of {size} customers of cohort {cohort} bought in period {k}.",
                     "{n} von {size} Kunden der Kohorte {cohort} haben in Periode {k} gekauft."),
    "use_filter": ("Use these customers as segment filter", "Diese Kunden als Segmentfilter verwenden"),
    "purchase_days": ("Purchase days in the period", "Kauftage in der Periode"),
    "customer": ("Customer", "Kunde"),
    "revenue_in_period": ("Revenue in the period", "Umsatz in der Periode"),
}
MAX_ROWS = {"month": 36, "week": 52, "quarter": 40}
MAX_TEXT_COLUMNS = 40
EURO_HOVER = {"en": "€%{y:,.2f}", "de": "%{y:,.2f} €"}  # Plotly puts the language's separators in
COLUMNS_WITH_SIGN = 16  # wider grids show the bare number in a cell (the % sign would not fit)


def _cohort_customer_frame(dataset, *, segment=None, config=None, as_of=None, period_unit="month",
                           cohort_label=None, offset=0):
    return drilldown.cohort_customers(dataset, as_of, period_unit, cohort_label, offset, segment, config).execute()


register("cohort_customers", _cohort_customer_frame,
         ("Listing the customers of the cohort cell…", "Liste die Kunden der Kohortenzelle auf…"))
register("breakdown_attributes", drilldown.breakdown_attributes)
register("top_values", drilldown.top_values)

ctx = context()
lang = view().lang
st.title(t("title", TEXT))
if not ctx.dataset.has("transactions"):
    st.info(t("no_transactions", TEXT))
    stop()

c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 2, 1])
with c1:
    period = param_select(t("period", TEXT), "cohort_period", list(PERIODS), default="month",
                          format_func=lambda p: t(p, TEXT))
with c2:
    measure = param_select(t("measure", TEXT), "cohort_measure", list(drilldown.MEASURES), default="customers",
                           format_func=lambda m: t(f"m_{m}", TEXT))
retention = ctx.metric("cohort_retention", period=period)
if retention.empty:
    st.info(t("no_purchases", TEXT))
    stop()
max_k = max(int(retention["period"].max()), 1)
with c3:
    k = param_number(t("k", TEXT), "cohort_k", 1, min_value=1, max_value=max_k)
everyone = SegmentFilter()
with c4:
    breakdown = param_select(t("breakdown", TEXT), "cohort_breakdown",
                             [""] + data.metric("breakdown_attributes", ctx.dataset, everyone, ctx.config), default="",
                             format_func=lambda b: field_label(b, lang) if b else t("none", TEXT))
    set_param("cohort_breakdown", breakdown or None)
with c5:
    top_n = param_number(t("top", TEXT), "cohort_top", 5, min_value=1, max_value=10)

value_column = drilldown.measure_column(measure)
measure_title = t("retention" if measure == "customers" else "revenue_retention", TEXT)
average = drilldown.average_by_measure(retention, measure)
sizes = retention.groupby("cohort", sort=False)["cohort_size"].first()
avg_k = average.set_index("period")["value"].get(k, float("nan"))
m1, m2, m3 = st.columns(3)
m1.metric(t("cohorts", TEXT), format_number(len(sizes), lang))
m2.metric(t("cohort_customers", TEXT), format_number(int(sizes.sum()), lang))
m3.metric(t("avg_k" if measure == "customers" else "avg_k_revenue", TEXT, k=k), format_percent(avg_k, lang), help=t("avg_k_help", TEXT, k=k))

# ------------------------------------------------------------------ heatmap

def parse_cell(raw):
    cohort, _, offset = str(raw or "").rpartition(":")
    try:
        offset = int(offset)
    except ValueError:
        return None
    rows = retention[(retention["cohort"] == cohort) & (retention["period"] == offset)]
    return (cohort, offset) if len(rows) else None


# a click on the heatmap (its state is known before the chart is drawn again) chooses the cell
clicked_state = st.session_state.get("cohort_heatmap") or {}
points = (clicked_state.get("selection") or {}).get("points") or []
clicked = [f"{p.get('y')}:{p.get('x')}" for p in points]
if clicked != st.session_state.get("cohorts.clicked", []):
    st.session_state["cohorts.clicked"] = clicked
    picked = next((parse_cell(c) for c in clicked if parse_cell(c)), None)
    if picked is not None:
        set_param("cohort_cell", f"{picked[0]}:{picked[1]}")
        # the pickers below follow the click
        st.session_state["w.cohorts.cell_cohort"], st.session_state["w.cohorts.cell_period"] = picked
chosen_cell = parse_cell(view().param("cohort_cell"))

cohort_order = list(sizes.index)
shown_cohorts = cohort_order[-MAX_ROWS[period]:]
cells = retention[retention["cohort"].isin(shown_cohorts)]
grid = cells.pivot(index="cohort", columns="period", values=value_column).reindex(shown_cohorts)
partial = cells.pivot(index="cohort", columns="period", values="partial").reindex(shown_cohorts)


def cell_text(value, is_partial, sign: bool = True) -> str:
    """41% (or 41 in a crowded grid, whose colour bar carries the %), with * for a partial period."""
    if pd.isna(value):
        return ""
    number = format_percent(value, lang, 0) if sign else format_number(100 * value, lang, 0)
    return number + ("*" if not pd.isna(is_partial) and bool(is_partial) else "")


signs = grid.shape[1] <= COLUMNS_WITH_SIGN
text = [[cell_text(v, partial.iat[r, c], signs) for c, v in enumerate(row)] for r, row in enumerate(grid.to_numpy())]
later = grid.loc[:, [c for c in grid.columns if c >= 1]]
zmax = max(float(later.max().max()) if later.size and later.notna().any().any() else 1.0, 0.05)
hover = (t("cohort", TEXT) + " %{y} (" + t("size", TEXT) + " %{customdata[0]})<br>" + t("cell_period", TEXT)
         + " %{x}: %{text}<br>" + t("active", TEXT) + " %{customdata[1]}<extra></extra>")
with_text = grid.shape[1] <= MAX_TEXT_COLUMNS  # wider grids are too narrow for numbers: hover shows them
heat = go.Figure(go.Heatmap(
    z=grid.to_numpy(), x=list(grid.columns), y=shown_cohorts, text=text, texttemplate="%{text}" if with_text else "",
    textfont=dict(size=10), colorscale="Blues", zmin=0, zmax=zmax, xgap=1, ygap=1, hoverinfo="skip",
    colorbar=dict(tickformat=".0%")))
# Plotly cannot select heatmap cells: an invisible marker on every filled cell takes the hover and the click
filled = cells.dropna(subset=[value_column])
heat.add_scatter(
    x=filled["period"], y=filled["cohort"], mode="markers", showlegend=False,
    marker=dict(symbol="square", size=16, opacity=0), selected=dict(marker=dict(opacity=0)),
    unselected=dict(marker=dict(opacity=0)),
    text=[cell_text(v, p) for v, p in zip(filled[value_column], filled["partial"])],
    customdata=list(zip(filled["cohort_size"], filled["active_customers"])), hovertemplate=hover)
if not with_text:  # without numbers in the cells, a mark shows the partial ones
    running = filled[filled["partial"].astype(bool)]
    heat.add_scatter(x=running["period"], y=running["cohort"], mode="markers", showlegend=False, hoverinfo="skip",
                     marker=dict(symbol="asterisk-open", size=7, color="#f97316", line=dict(color="#f97316", width=1.5)))
if chosen_cell and chosen_cell[0] in shown_cohorts:
    row_index = shown_cohorts.index(chosen_cell[0])
    heat.add_shape(type="rect", x0=chosen_cell[1] - 0.5, x1=chosen_cell[1] + 0.5, y0=row_index - 0.5,
                   y1=row_index + 0.5, line=dict(color="#f97316", width=3))
heat.update_layout(
    title=t("heatmap" if measure == "customers" else "heatmap_revenue", TEXT),
    height=min(160 + 22 * len(shown_cohorts), 1400),
    yaxis=dict(autorange="reversed", type="category", categoryorder="array", categoryarray=shown_cohorts,
               title=t("cohort", TEXT)),
    xaxis=dict(title=t("periods_since", TEXT), dtick=1 if with_text else None,
               range=[-0.5, max(grid.columns) + 0.5]))
chart(heat, key="cohort_heatmap", on_select="rerun", selection_mode="points")
st.caption(t("partial_note", TEXT, date=ctx.as_of.strftime("%d.%m.%Y") if lang == "de" else ctx.as_of.isoformat())
           + (" " + t("rows_note", TEXT, n=len(shown_cohorts), total=len(cohort_order))
              if len(shown_cohorts) < len(cohort_order) else ""))
table(retention, f"cohort_retention_{period}.csv", key="cohort_table", height=240,
      title=measure_title, column_config={
    "cohort": t("cohort", TEXT), "cohort_start": t("cohort_start", TEXT), "period": t("cell_period", TEXT),
    "cohort_size": t("size", TEXT), "active_customers": t("active", TEXT),
    "retention": st.column_config.NumberColumn(t("retention", TEXT), format="percent"),
    "revenue": st.column_config.NumberColumn(t("revenue"), format="euro"),
    "revenue_retention": st.column_config.NumberColumn(t("revenue_retention", TEXT), format="percent"),
    "cumulative_revenue_per_customer": st.column_config.NumberColumn(t("ltv_axis", TEXT), format="euro"),
    "partial": t("partial", TEXT)})

# ------------------------------------------------------------------ curves, lifetime value, trend
left, right = st.columns(2)
with left:
    # every cohort's curve in one trace, the cohorts apart by a gap (one trace draws much faster than dozens)
    spaghetti = retention[retention["cohort"].isin(shown_cohorts)][["cohort", "period", value_column]]
    gaps = spaghetti.drop_duplicates("cohort").assign(period=None, **{value_column: None})
    spaghetti = pd.concat([spaghetti, gaps]).sort_values("cohort", kind="stable")
    curves = go.Figure(go.Scatter(x=spaghetti["period"], y=spaghetti[value_column], text=spaghetti["cohort"],
                                  mode="lines", showlegend=False, connectgaps=False,
                                  line=dict(width=1, color="rgba(37, 99, 235, 0.25)"),
                                  hovertemplate="%{text} · %{x}: %{y:.1%}<extra></extra>"))
    curves.add_scatter(x=average["period"], y=average["value"], mode="lines+markers", name=t("average", TEXT),
                       line=dict(width=3, color="#111827"),
                       hovertemplate=t("average", TEXT) + " · %{x}: %{y:.1%}<extra></extra>")
    curves.update_layout(title=t("curves", TEXT), yaxis_tickformat=".0%", xaxis_title=t("periods_since", TEXT),
                         yaxis_title=measure_title, legend=dict(orientation="h", y=-0.2))
    chart(curves, key="cohort_curves")
with right:
    ltv = go.Figure()
    for index, cohort in enumerate(shown_cohorts):
        rows = retention[retention["cohort"] == cohort]
        shade = 0.25 + 0.75 * index / max(len(shown_cohorts) - 1, 1)
        ltv.add_scatter(x=rows["period"], y=rows["cumulative_revenue_per_customer"], mode="lines", name=cohort,
                        line=dict(width=1.5, color=f"rgba(15, 118, 110, {shade:.2f})"),
                        hovertemplate=cohort + " · %{x}: " + EURO_HOVER[lang] + "<extra></extra>")
    ltv.update_yaxes(tickprefix="" if lang == "de" else "€", ticksuffix=" €" if lang == "de" else "")
    ltv.update_layout(title=t("ltv", TEXT), xaxis_title=t("periods_since", TEXT), yaxis_title=t("ltv_axis", TEXT),
                      showlegend=len(shown_cohorts) <= 12)
    chart(ltv, key="cohort_ltv")

trend = drilldown.trend_by_measure(retention, k, measure)
trend_fig = go.Figure(go.Bar(
    x=trend["cohort"], y=trend["value"],
    marker=dict(color="#2563eb", opacity=[0.35 if p else 1.0 for p in trend["partial"]]),
    text=[cell_text(v, p, len(trend) <= COLUMNS_WITH_SIGN) for v, p in zip(trend["value"], trend["partial"])],
    textangle=0, textposition="outside", cliponaxis=False, textfont_size=10,
    customdata=[[format_number(n, lang), cell_text(v, p)] for n, v, p in zip(trend["cohort_size"], trend["value"],
                                                                            trend["partial"])],
    hovertemplate="%{x} (" + t("size", TEXT) + " %{customdata[0]}): %{customdata[1]}<extra></extra>"))
trend_fig.update_layout(title=t("trend", TEXT, k=k), yaxis_tickformat=".0%", xaxis=dict(type="category"),
                        yaxis_title=measure_title)
chart(trend_fig, key="cohort_trend")
st.caption(t("trend_note", TEXT, k=k))

# ------------------------------------------------------------------ breakdown by a customer attribute
if breakdown:
    top = data.metric("top_values", ctx.dataset, ctx.segment, ctx.config, attribute=breakdown, n=top_n,
                      as_of=ctx.as_of)
    st.subheader(t("breakdown_title", TEXT, attribute=field_label(breakdown, lang), n=len(top)))
    split_fig = go.Figure()
    split_fig.add_scatter(x=average["period"], y=average["value"], mode="lines", name=t("all", TEXT),
                          line=dict(width=3, color="#111827", dash="dot"))
    split_rows = []
    for value in top["value"]:
        part = data.metric("cohort_retention", ctx.dataset, drilldown.narrow(ctx.segment, breakdown, value),
                           ctx.config, as_of=ctx.as_of, period=period)
        curve = drilldown.average_by_measure(part, measure)
        split_fig.add_scatter(x=curve["period"], y=curve["value"], mode="lines+markers", name=str(value))
        split_rows.append(curve.assign(**{breakdown: value}))
    split_fig.update_layout(yaxis_tickformat=".0%", xaxis_title=t("periods_since", TEXT),
                            yaxis_title=measure_title)
    chart(split_fig, key="cohort_breakdown_chart")
    if split_rows:
        split = pd.concat(split_rows, ignore_index=True)[[breakdown, "period", "value", "cohorts"]]
        table(split, f"cohort_retention_by_{breakdown}.csv", key="cohort_breakdown_table", height=240,
              title=t("breakdown_title", TEXT, attribute=field_label(breakdown, lang), n=len(top)),
              column_config={"value": st.column_config.NumberColumn(t("retention", TEXT), format="percent"),
                             breakdown: field_label(breakdown, lang), "period": t("cell_period", TEXT),
                             "cohorts": t("cohorts")})

# ------------------------------------------------------------------ drill-down: the customers of a cell
st.subheader(t("cell_title", TEXT))


cell = chosen_cell
cohort_options = [""] + cohort_order[::-1]
p1, p2 = st.columns(2)
# a picker already in the session keeps its value (set by the user or by a click); else it starts from the URL
cell_cohort = p1.selectbox(t("cell_cohort", TEXT), cohort_options,
                           index=cohort_options.index(cell[0]) if cell and "w.cohorts.cell_cohort" not in st.session_state
                           else 0,
                           format_func=lambda c: c or "–", key="w.cohorts.cell_cohort")
offsets = sorted(retention.loc[retention["cohort"] == cell_cohort, "period"].tolist()) if cell_cohort else [0]
if "w.cohorts.cell_period" in st.session_state and st.session_state["w.cohorts.cell_period"] not in offsets:
    del st.session_state["w.cohorts.cell_period"]
cell_period = p2.selectbox(t("cell_period", TEXT), offsets,
                           index=offsets.index(cell[1]) if cell and cell[1] in offsets
                           and "w.cohorts.cell_period" not in st.session_state else 0,
                           disabled=not cell_cohort, key="w.cohorts.cell_period")
set_param("cohort_cell", f"{cell_cohort}:{cell_period}" if cell_cohort else None)
if not cell_cohort:
    st.caption(t("pick_cell", TEXT))
else:
    row = retention[(retention["cohort"] == cell_cohort) & (retention["period"] == cell_period)].iloc[0]
    members = ctx.metric("cohort_customers", period_unit=period, cohort_label=cell_cohort, offset=int(cell_period))
    st.caption(t("cell_caption", TEXT, n=format_number(len(members), lang), size=format_number(row["cohort_size"], lang),
                 cohort=cell_cohort, k=cell_period) + (" *" if row["partial"] else ""))
    table(members, f"cohort_{cell_cohort}_period{cell_period}.csv", key="cohort_members",
          title=t("cell_title", TEXT),
          column_config={"customer_id": t("customer", TEXT), "purchase_days": t("purchase_days", TEXT),
                         "revenue": st.column_config.NumberColumn(t("revenue_in_period", TEXT), format="euro")})
    if st.button(t("use_filter", TEXT), key="w.cohorts.use_filter", disabled=members.empty):
        ids = drilldown.cohort_customers(ctx.dataset, ctx.as_of, period, cell_cohort, int(cell_period), ctx.segment,
                                         ctx.config)
        list_id = data.save_customer_list(ids)
        update(segment=view().segment.with_customer_list(list_id))
        st.rerun()
