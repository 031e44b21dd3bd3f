"""Customer value: historic value distribution, the RFM grid and segments, top customers; predicted value later."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from clm_core import store
from clm_core.i18n import format_currency, format_number
from clm_core.metrics import clv
from clm_core.models import rfm
from clm_core.models.rfm import SEGMENT_NAMES
from clm_ui import data
from clm_ui.page import context
from clm_ui.state import stop, param_number, param_select, set_param, t, update, view
from clm_ui.widgets import chart, table

data.register("value_histogram", clv.value_histogram)

TEXT = {
    "title": ("Customer value", "Kundenwert"),
    "intro": ("Historic value = net revenue per customer up to the as-of date (returns deducted, × margin where "
              "the data has one), over customers with at least one purchase.",
              "Historischer Wert = Nettoumsatz je Kunde bis zum Stichtag (Retouren abgezogen, × Marge, wo die Daten "
              "eine enthalten), über Kunden mit mindestens einem Kauf."),
    "purchasers": ("Purchasers", "Käufer"),
    "total_value": ("Total historic value", "Historischer Wert gesamt"),
    "mean_value": ("Average historic value", "Durchschnittlicher historischer Wert"),
    "median_value": ("Median historic value", "Median des historischen Werts"),
    "no_purchasers": ("No customer of this view has a purchase up to the as-of date, so there is no value to show.",
                      "Kein Kunde dieser Ansicht hat bis zum Stichtag gekauft; es gibt keinen Wert zu zeigen."),
    "distribution": ("Distribution of historic value", "Verteilung des historischen Werts"),
    "log": ("Logarithmic value axis", "Logarithmische Werteachse"),
    "log_help": ("Bins of equal width in log10(value): shows the long tail of valuable customers.",
                 "Klassen gleicher Breite in log10(Wert): zeigt den langen Schwanz wertvoller Kunden."),
    "bins": ("Bins", "Klassen"),
    "value_axis": ("Historic value", "Historischer Wert"),
    "excluded": ("{n} customers with a historic value of zero or less (returns exceeding purchases) are not on the "
                 "logarithmic axis.",
                 "{n} Kunden mit einem historischen Wert von null oder weniger (Retouren höher als Käufe) fehlen auf "
                 "der logarithmischen Achse."),
    "rfm": ("RFM segments", "RFM-Segmente"),
    "rfm_help": ("R = recency, F = frequency (repeat purchase days), M = historic value, each scored 1–5 by "
                 "quintile; FM = ⌈(F + M) / 2⌉. The grid shows customers per cell and the segment name.",
                 "R = Aktualität, F = Häufigkeit (Wiederkauftage), M = historischer Wert, jeweils 1–5 nach Quintil; "
                 "FM = ⌈(F + M) / 2⌉. Das Raster zeigt Kunden je Zelle und den Segmentnamen."),
    "grid_title": ("Customers per R × FM cell", "Kunden je Zelle R × FM"),
    "r_axis": ("R (recency score, 5 = bought most recently)", "R (Aktualität, 5 = zuletzt gekauft)"),
    "fm_axis": ("FM (frequency and value score)", "FM (Häufigkeit und Wert)"),
    "segment": ("Segment", "Segment"),
    "mean": ("Mean value", "Mittlerer Wert"),
    "total": ("Total value", "Gesamtwert"),
    "value_share": ("Share of value", "Wertanteil"),
    "pick_row": ("Click a row to list the segment's customers.",
                 "Eine Zeile anklicken, um die Kunden des Segments aufzulisten."),
    "choose_segment": ("Customers of segment", "Kunden des Segments"),
    "none": ("—", "—"),
    "segment_customers": ("{segment}: {n} customers", "{segment}: {n} Kunden"),
    "apply": ("Use these customers as segment filter", "Diese Kunden als Segmentfilter verwenden"),
    "apply_help": ("Narrows every page to these customers; the filter is kept in the link.",
                   "Beschränkt alle Seiten auf diese Kunden; der Filter steht im Link."),
    "top": ("Top customers by historic value", "Top-Kunden nach historischem Wert"),
    "top_n": ("Number of customers", "Anzahl Kunden"),
    "rank": ("Rank", "Rang"),
    "customer": ("Customer", "Kunde"),
    "days_since_last": ("Days since last purchase", "Tage seit letztem Kauf"),
    "frequency": ("Repeat purchase days", "Wiederkauftage"),
    "predicted": ("Predicted value (coming with the predictive models)",
                  "Prognostizierter Wert (kommt mit den Prognosemodellen)"),
    "predicted_info": ("A later release adds the predictive part here: BG/NBD for expected purchases and the "
                       "probability that a customer is still active, Gamma-Gamma for the expected spend per purchase, "
                       "together the customer lifetime value over a horizon (12 months by default, discounted), and a "
                       "churn-risk model with its ROC AUC on held-out data.",
                       "Eine spätere Version ergänzt hier den prognostischen Teil: BG/NBD für erwartete Käufe und die "
                       "Wahrscheinlichkeit, dass ein Kunde noch aktiv ist, Gamma-Gamma für den erwarteten Betrag je "
                       "Kauf, zusammen der Customer Lifetime Value über einen Zeitraum (standardmäßig 12 Monate, "
                       "abgezinst), sowie ein Abwanderungsrisiko-Modell mit seiner ROC AUC auf zurückgehaltenen "
                       "Daten."),
    # RFM segment names (clm_core.models.rfm.SEGMENTS)
    "Champions": ("Champions", "Champions"),
    "Loyal": ("Loyal", "Treue Kunden"),
    "Potential loyalists": ("Potential loyalists", "Potenziell treue Kunden"),
    "New customers": ("New customers", "Neukunden"),
    "Promising": ("Promising", "Vielversprechend"),
    "Need attention": ("Need attention", "Brauchen Aufmerksamkeit"),
    "About to sleep": ("About to sleep", "Drohen einzuschlafen"),
    "Can't lose them": ("Can't lose them", "Nicht verlieren"),
    "At risk": ("At risk", "Gefährdet"),
    "Hibernating": ("Hibernating", "Im Winterschlaf"),
    "Lost": ("Lost", "Verloren"),
    "Unscored": ("Unscored", "Ohne Wertung"),
}
BINS = 30
SEGMENT_KEY = "w.value.value_segment"
TABLE_PICK = "value_table_pick"

ctx = context(require=("transactions",))
lang = view().lang


def seg(name: str) -> str:
    return t(name, TEXT)


def money(value, decimals: int = 0) -> str:
    return format_currency(value, lang, decimals)


def money_column(label: str):
    """A euro column: € prefix in English; in German the browser's number format and the unit in the header."""
    if lang == "de":
        return st.column_config.NumberColumn(f"{label} (€)", format="localized")
    return st.column_config.NumberColumn(label, format="euro")


st.title(t("title", TEXT))
st.caption(t("intro", TEXT))

scores = ctx.metric("rfm_scores")
if scores.empty:
    st.info(t("no_purchasers", TEXT))
    stop()

segments = rfm.segment_summary(scores)
total = float(segments["total_value"].sum())
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("purchasers", TEXT), format_number(len(scores), lang))
c2.metric(t("total_value", TEXT), money(total))
c3.metric(t("mean_value", TEXT), money(total / len(scores), 2))
c4.metric(t("median_value", TEXT), money(float(scores["historic_value"].median()), 2))

# ----------------------------------------------------------------------------------------- distribution
st.subheader(t("distribution", TEXT))
log_on = st.toggle(t("log", TEXT), value=view().param("value_log") != "0", help=t("log_help", TEXT),
                   key="w.value.value_log")
set_param("value_log", None if log_on else "0")
bins = ctx.metric("value_histogram", bins=BINS, log=log_on)
if len(bins):
    lower, upper = bins["lower"].to_numpy(), bins["upper"].to_numpy()
    hover = [f"{money(lo, 2)} – {money(hi, 2)}: {format_number(n, lang)} {t('customers')}"
             for lo, hi, n in zip(lower, upper, bins["customers"])]
    if log_on:
        x0, x1 = np.log10(lower), np.log10(upper)
        top = math.ceil(x1.max())
        ticks = [k for k in range(math.floor(x0.min()), top + 1)]
        xaxis = dict(tickvals=ticks, ticktext=[money(10 ** k) for k in ticks], title=t("value_axis", TEXT) + " (log)")
    else:
        x0, x1 = lower, upper
        xaxis = dict(title=t("value_axis", TEXT), tickprefix="" if lang == "de" else "€",
                     ticksuffix=" €" if lang == "de" else "")
    fig = go.Figure(go.Bar(x=((x0 + x1) / 2).tolist(), y=bins["customers"].tolist(), width=(x1 - x0).tolist(),
                           hovertext=hover, hoverinfo="text", marker_line_width=0.5, marker_line_color="white",
                           name=t("customers")))
    fig.update_layout(xaxis=xaxis, yaxis_title=t("customers"), bargap=0, height=340)
    chart(fig, key="value_histogram")
excluded = len(scores) - int(bins["customers"].sum())
if log_on and excluded:
    st.caption(t("excluded", TEXT, n=format_number(excluded, lang)))

# ----------------------------------------------------------------------------------------- RFM
st.subheader(t("rfm", TEXT), help=t("rfm_help", TEXT))
grid = rfm.rfm_grid(scores)
rows, cols = [5, 4, 3, 2, 1], [1, 2, 3, 4, 5]
cell = grid.set_index(["r", "fm"])
z = [[int(cell.loc[(r, fm), "customers"]) for fm in cols] for r in rows]
text = [[f"{seg(cell.loc[(r, fm), 'rfm_segment'])}<br>{format_number(cell.loc[(r, fm), 'customers'], lang)}"
         for fm in cols] for r in rows]
heat = go.Figure(go.Heatmap(
    z=z, x=[str(c) for c in cols], y=[str(r) for r in rows], text=text, texttemplate="%{text}",
    textfont_size=12, colorscale="Blues", hovertemplate="R %{y} · FM %{x}<br>%{text}<extra></extra>",
    colorbar_title=t("customers"),
))
heat.update_layout(title=t("grid_title", TEXT), xaxis_title=t("fm_axis", TEXT), yaxis_title=t("r_axis", TEXT),
                   height=430)
chart(heat, key="rfm_grid")
shown = segments[segments["customers"] > 0].round({"mean_value": 2, "total_value": 2}).reset_index(drop=True)
shown.insert(1, "segment", shown["rfm_segment"].map(seg))
picked = table(
    shown, "rfm_segments.csv", key="rfm_segments", on_select="rerun", selection_mode="single-row",
    column_order=["segment", "customers", "share", "mean_value", "total_value", "value_share"],
    column_config={
        "segment": t("segment", TEXT),
        "customers": st.column_config.NumberColumn(t("customers"), format="localized"),
        "share": st.column_config.NumberColumn(t("share"), format="percent"),
        "mean_value": money_column(t("mean", TEXT)),
        "total_value": money_column(t("total", TEXT)),
        "value_share": st.column_config.NumberColumn(t("value_share", TEXT), format="percent"),
    },
)
st.caption(t("pick_row", TEXT))

# A click on a row of the segment table chooses that segment (once per new click).
selected_rows = list(getattr(getattr(picked, "selection", None), "rows", []) or [])
if selected_rows != st.session_state.get(TABLE_PICK, []):
    st.session_state[TABLE_PICK] = selected_rows
    if selected_rows:
        set_param("value_segment", shown["rfm_segment"].iloc[selected_rows[0]])
        st.session_state.pop(SEGMENT_KEY, None)  # the selectbox below starts again from the parameter

counts = segments.set_index("rfm_segment")["customers"]
options = [""] + [s for s in SEGMENT_NAMES if counts.get(s, 0)]
if st.session_state.get(SEGMENT_KEY) not in (None, *options):
    del st.session_state[SEGMENT_KEY]
with st.columns([1, 2])[0]:
    chosen = param_select(
        t("choose_segment", TEXT), "value_segment", options, default="",
        format_func=lambda s: f"{seg(s)} ({format_number(counts[s], lang)})" if s else t("none", TEXT),
    )
if not chosen:
    set_param("value_segment", None)  # no empty p.value_segment= in the link
if chosen:
    members = scores[scores["rfm_segment"] == chosen].sort_values(
        ["historic_value", "customer_id"], ascending=[False, True])
    st.markdown("**" + t("segment_customers", TEXT, segment=seg(chosen), n=format_number(len(members), lang)) + "**")
    shown_members = members[["customer_id", "historic_value", "frequency", "days_since_last", "r", "f", "m"]]
    table(shown_members.round({"historic_value": 2}),
          f"rfm_segment_{chosen.lower().replace(' ', '_').replace(chr(39), '')}.csv", key="segment_members",
          column_config={"customer_id": t("customer", TEXT), "historic_value": money_column(t("value_axis", TEXT)),
                         "frequency": t("frequency", TEXT), "days_since_last": t("days_since_last", TEXT),
                         "r": "R", "f": "F", "m": "M"})
    if st.button(t("apply", TEXT), help=t("apply_help", TEXT), key="w.value.apply", type="primary"):
        list_id = store.save_customer_list(data.root(), members["customer_id"].tolist())
        update(segment=view().segment.with_customer_list(list_id))
        st.rerun()

# ----------------------------------------------------------------------------------------- top customers
st.subheader(t("top", TEXT))
with st.columns([1, 2])[0]:
    n = param_number(t("top_n", TEXT), "value_top", default=20, min_value=1, max_value=1000)
top = rfm.top_customers(scores, n)
top = top.assign(segment=top["rfm_segment"].map(seg), historic_value=top["historic_value"].round(2))
table(top[["rank", "customer_id", "historic_value", "frequency", "days_since_last", "segment"]],
      "top_customers.csv", key="top_customers",
      column_config={"rank": t("rank", TEXT), "customer_id": t("customer", TEXT),
                     "historic_value": money_column(t("value_axis", TEXT)),
                     "frequency": t("frequency", TEXT), "days_since_last": t("days_since_last", TEXT),
                     "segment": t("segment", TEXT)})

# ----------------------------------------------------------------------------------------- predicted value
st.divider()
st.subheader(t("predicted", TEXT))
st.info(t("predicted_info", TEXT), icon=":material/schedule:")
