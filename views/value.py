"""Customer value: historic value distribution, the RFM grid and segments, top customers; predicted value
(BG/NBD, Gamma-Gamma), churn risk and next best category with the checks of each model."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from clm_core import export
from clm_core.config import LifecycleConfig
from clm_core.filters import SegmentFilter
from clm_core.i18n import format_currency, format_date, format_number, format_percent
from clm_core.metrics import clv
from clm_core.models import insights, prepare, rfm
from clm_core.models.rfm import SEGMENT_NAMES
from clm_ui import data
from clm_ui.page import context
from clm_ui.state import param_float, param_number, param_select, set_param, stop, t, update, view
from clm_ui.widgets import chart, table

# Every registered result is result-sized (counts, summaries, the first rows of long lists): the models
# and per-customer scores behind them are computed once per dataset version in clm_core and kept there.
# The spinner of each says what is computed ({n}: the dataset's customers); it shows only while computing.
CAP = {lang: format_number(insights.CHURN_SAMPLE, lang) for lang in ("en", "de")}
ONCE = (" (once per dataset version)", " (einmal je Datensatzversion)")
data.register("value_summary", rfm.value_summary,
              ("Summing up the historic value of {n} customers…",
               "Fasse den historischen Wert von {n} Kunden zusammen…"))
data.register("value_rfm", rfm.rfm_overview,
              ("Scoring recency, frequency and value of {n} customers…",
               "Bewerte Aktualität, Häufigkeit und Wert von {n} Kunden…"))
data.register("value_segment_members", rfm.segment_members,
              ("Listing the segment's customers among {n}…", "Liste die Kunden des Segments unter {n} auf…"))
data.register("value_histogram", clv.value_histogram,
              ("Binning the historic value of {n} customers…",
               "Teile den historischen Wert von {n} Kunden in Klassen…"))
data.register("value_models", insights.value_models,
              ("Fitting BG/NBD and Gamma-Gamma on the purchases of {n} customers" + ONCE[0] + "…",
               "Schätze BG/NBD und Gamma-Gamma auf den Käufen von {n} Kunden" + ONCE[1] + "…"))
data.register("value_prediction_overview", insights.prediction_overview,
              ("Predicting the value of {n} customers…", "Sage den Wert von {n} Kunden voraus…"))
data.register("value_margin_in_data", insights.purchase_margin,
              ("Reading the margin of the purchases…", "Lese die Marge der Käufe…"))
data.register("value_holdout", insights.holdout_check,
              ("Refitting the models on the purchases before the hold-out period, {n} customers" + ONCE[0] + "…",
               "Schätze die Modelle auf den Käufen vor dem Hold-out-Zeitraum neu, {n} Kunden" + ONCE[1] + "…"))
data.register("value_churn_check", insights.churn_evaluation,
              ("Fitting the churn model on the purchasers among {n} customers (a sample of at most " + CAP["en"]
               + ") and checking it on a later cutoff" + ONCE[0] + "…",
               "Schätze das Abwanderungsmodell auf den Käufern unter {n} Kunden (eine Stichprobe von höchstens "
               + CAP["de"] + ") und prüfe es an einem späteren Stichtag" + ONCE[1] + "…"))
data.register("value_risk", insights.risk_overview,
              ("Scoring the churn risk of the purchasers among {n} customers" + ONCE[0] + "…",
               "Berechne das Abwanderungsrisiko der Käufer unter {n} Kunden" + ONCE[1] + "…"))
data.register("value_categories", insights.category_overview,
              ("Finding the next best category for {n} customers" + ONCE[0] + "…",
               "Suche die nächste beste Kategorie für {n} Kunden" + ONCE[1] + "…"))
data.register("value_category_pairs", insights.category_pairs,
              ("Counting the category pairs bought by {n} customers…", "Zähle die von {n} Kunden gekauften "
                                                                        "Kategorienpaare…"))

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
    "first_rows": ("The first {shown} of {n} rows; the download below has all of them.",
                   "Die ersten {shown} von {n} Zeilen; der Download unten enthält alle."),
    "download_all": ("Download all {n} rows (CSV)", "Alle {n} Zeilen herunterladen (CSV)"),
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
    """A euro column (1.234,56 € in German, €1,234.56 in English: see clm_ui.widgets.table)."""
    return st.column_config.NumberColumn(label, format="euro")


st.title(t("title", TEXT))
st.caption(t("intro", TEXT))

totals = ctx.metric("value_summary")
if not totals["purchasers"]:
    st.info(t("no_purchasers", TEXT))
    stop()

# the heavy models of the whole dataset start computing in the background while the page draws the rest
# (ctx.config carries the churn_days of the link, which the churn widget below starts from)
prepare.start(data.dataset(ctx.dataset.id), ctx.as_of, ctx.config,
              tasks=("churn_check", "churn_ranking", "suggestions"))

purchasers = totals["purchasers"]
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("purchasers", TEXT), format_number(purchasers, lang))
c2.metric(t("total_value", TEXT), money(totals["total_value"]))
c3.metric(t("mean_value", TEXT), money(totals["total_value"] / purchasers, 2))
c4.metric(t("median_value", TEXT), money(totals["median_value"], 2))


def download_all(frame_of, count: int, shown: int, filename: str, key: str) -> None:
    """Under a table that shows the first ``shown`` of ``count`` rows: say so, and offer every row as CSV,
    computed only when the button is clicked (``frame_of()`` calls clm_core)."""
    if count <= shown:
        return
    st.caption(t("first_rows", TEXT, shown=format_number(shown, lang), n=format_number(count, lang)))
    st.download_button(t("download_all", TEXT, n=format_number(count, lang)),
                       lambda: export.to_csv_bytes(frame_of()), file_name=filename, mime="text/csv",
                       key=f"dl.all.{key}", on_click="ignore")


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
    chart(fig, key="value_histogram", title=t("distribution", TEXT))
excluded = purchasers - int(bins["customers"].sum())
if log_on and excluded:
    st.caption(t("excluded", TEXT, n=format_number(excluded, lang)))

# ----------------------------------------------------------------------------------------- RFM
st.subheader(t("rfm", TEXT), help=t("rfm_help", TEXT))
overview = ctx.metric("value_rfm")
segments = overview.segments
grid = overview.grid
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
    shown, "rfm_segments.csv", key="rfm_segments", on_select="rerun", selection_mode="single-row", title=t("rfm", TEXT),
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
    shown_members = ctx.metric("value_segment_members", rfm_segment=chosen, rows=insights.TABLE_ROWS)
    n_members = shown_members.attrs["customers"]

    def all_members():
        return rfm.segment_members(data.dataset(ctx.dataset.id), ctx.as_of, ctx.segment, ctx.config, chosen)

    st.markdown("**" + t("segment_customers", TEXT, segment=seg(chosen), n=format_number(n_members, lang)) + "**")
    filename = f"rfm_segment_{chosen.lower().replace(' ', '_').replace(chr(39), '')}.csv"
    table(shown_members.round({"historic_value": 2}), filename, key="segment_members",
          title=f"{t('choose_segment', TEXT)}: {seg(chosen)}",
          column_config={"customer_id": t("customer", TEXT), "historic_value": money_column(t("value_axis", TEXT)),
                         "frequency": t("frequency", TEXT), "days_since_last": t("days_since_last", TEXT),
                         "r": "R", "f": "F", "m": "M"})
    download_all(all_members, n_members, len(shown_members), filename, "segment_members")
    if st.button(t("apply", TEXT), help=t("apply_help", TEXT), key="w.value.apply", type="primary"):
        list_id = data.save_customer_list(all_members()["customer_id"].tolist())
        update(segment=view().segment.with_customer_list(list_id))
        st.rerun()

# ----------------------------------------------------------------------------------------- top customers
st.subheader(t("top", TEXT))
with st.columns([1, 2])[0]:
    n = param_number(t("top_n", TEXT), "value_top", default=20, min_value=1, max_value=1000)
top = overview.top.head(n)
top = top.assign(segment=top["rfm_segment"].map(seg), historic_value=top["historic_value"].round(2))
table(top[["rank", "customer_id", "historic_value", "frequency", "days_since_last", "segment"]],
      "top_customers.csv", key="top_customers", title=t("top", TEXT),
      column_config={"rank": t("rank", TEXT), "customer_id": t("customer", TEXT),
                     "historic_value": money_column(t("value_axis", TEXT)),
                     "frequency": t("frequency", TEXT), "days_since_last": t("days_since_last", TEXT),
                     "segment": t("segment", TEXT)})


# ----------------------------------------------------------------------------------------- predicted value
TEXT.update({
    "predicted": ("Predicted value", "Prognostizierter Wert"),
    "predicted_intro": (
        "BG/NBD estimates how often each customer buys and the probability that they are still active (P(alive)); "
        "Gamma-Gamma their expected spend per purchase. Together: the predicted customer lifetime value (CLV) over "
        "the horizon, discounted monthly, × margin. The models are fitted once on all purchasers of the dataset at "
        "the as-of date; the segment filter chooses whose predictions are shown.",
        "BG/NBD schätzt, wie oft jeder Kunde kauft und mit welcher Wahrscheinlichkeit er noch aktiv ist "
        "(P(aktiv)); Gamma-Gamma seinen erwarteten Betrag je Kauf. Zusammen: der prognostizierte Kundenwert (CLV) "
        "über den Zeitraum, monatlich abgezinst, × Marge. Die Modelle werden einmal auf allen Käufern des "
        "Datensatzes zum Stichtag geschätzt; der Segmentfilter wählt, wessen Prognosen gezeigt werden."),
    "horizon": ("Horizon (months)", "Zeitraum (Monate)"),
    "discount": ("Discount rate (% a year)", "Abzinsung (% pro Jahr)"),
    "margin": ("Margin (% of revenue)", "Marge (% vom Umsatz)"),
    "margin_help": ("Predicted CLV = expected revenue × margin. The default is the margin of the data's purchases "
                    "({margin}), 100 % without a margin column.",
                    "Prognostizierter CLV = erwarteter Umsatz × Marge. Voreingestellt ist die Marge der Käufe in den "
                    "Daten ({margin}), 100 % ohne Margenspalte."),
    "unit": ("Model time unit", "Zeiteinheit des Modells"),
    "unit_help": ("Unit of recency and T in the BG/NBD model and the P(alive) chart; predictions hardly change.",
                  "Einheit von Aktualität und T im BG/NBD-Modell und im P(aktiv)-Diagramm; die Prognosen ändern "
                  "sich kaum."),
    "weeks": ("weeks", "Wochen"),
    "days": ("days", "Tage"),
    "churn_days": ("Churned after (days)", "Abgewandert nach (Tagen)"),
    "churn_days_help": ("A customer churns when they do not buy within this many days; the same threshold as the "
                        "lifecycle stage 'churned'.",
                        "Ein Kunde wandert ab, wenn er in so vielen Tagen nicht kauft; dieselbe Schwelle wie die "
                        "Lebenszyklusphase „abgewandert“."),
    "total_clv": ("Predicted CLV, {months} months", "CLV-Prognose, {months} Monate"),
    "total_clv_help": ("Sum over the customers of this view of their discounted expected margin in the next "
                       "{months} months.",
                       "Summe über die Kunden dieser Ansicht: ihre abgezinste erwartete Marge in den nächsten "
                       "{months} Monaten."),
    "mean_clv": ("Average predicted CLV", "Ø CLV-Prognose je Kunde"),
    "expected_purchases": ("Expected purchases, {months} months", "Erwartete Käufe, {months} Monate"),
    "alive": ("Expected still active", "Voraussichtlich noch aktiv"),
    "alive_help": ("Mean P(alive): the expected share of these customers who have not dropped out.",
                   "Mittleres P(aktiv): der erwartete Anteil dieser Kunden, die nicht abgewandert sind."),
    "fit_caption": ("Fitted on {purchasers} purchasers at {date}, {repeat} of them with repeat purchases. "
                    "BG/NBD: r = {r}, α = {alpha} ({unit}), a = {a}, b = {b}; Gamma-Gamma: p = {p}, q = {q}, v = {v}.",
                    "Geschätzt auf {purchasers} Käufern zum {date}, davon {repeat} mit Wiederkäufen. "
                    "BG/NBD: r = {r}, α = {alpha} ({unit}), a = {a}, b = {b}; Gamma-Gamma: p = {p}, q = {q}, v = {v}."),
    "correlated": ("Frequency and spend per purchase are correlated (r = {r}); Gamma-Gamma assumes they are "
                   "independent, so the spend part of the predicted CLV may be biased.",
                   "Kaufhäufigkeit und Betrag je Kauf sind korreliert (r = {r}); Gamma-Gamma nimmt Unabhängigkeit "
                   "an, der Betragsteil des prognostizierten CLV kann daher verzerrt sein."),
    "clv_distribution": ("Distribution of predicted CLV", "Verteilung des prognostizierten CLV"),
    "clv_axis": ("Predicted CLV", "Prognostizierter CLV"),
    "clv_none": ("The model gives no finite value for any customer of this selection (its fit degenerated on "
                 "these data), so there is no distribution to show.",
                 "Das Modell liefert für keinen Kunden dieser Auswahl einen endlichen Wert (die Anpassung ist auf "
                 "diesen Daten entartet); es gibt keine Verteilung zu zeigen."),
    "clv_tail": ("The last bar also counts the top 1 %: up to {max}.",
                 "Der letzte Balken enthält auch das oberste 1 %: bis {max}."),
    "p_alive_title": ("P(alive) of a customer observed for {T} {unit}", "P(aktiv) eines Kunden, beobachtet über "
                                                                        "{T} {unit}"),
    "p_alive_help": ("The classic BG/NBD chart. Each cell: a customer with that many repeat purchase days whose last "
                     "purchase came that long after the first. Who bought often but stopped long ago (top left) has "
                     "probably left; a single purchase (bottom row) says little.",
                     "Das klassische BG/NBD-Diagramm. Jede Zelle: ein Kunde mit so vielen Wiederkauftagen, dessen "
                     "letzter Kauf so lange nach dem ersten lag. Wer oft kaufte, aber vor langer Zeit aufhörte (oben "
                     "links), ist wahrscheinlich abgewandert; ein einzelner Kauf (unterste Zeile) sagt wenig."),
    "recency_axis": ("Recency: time from first to last purchase ({unit})",
                     "Aktualität: Zeit vom ersten bis zum letzten Kauf ({unit})"),
    "frequency_axis": ("Frequency (repeat purchase days)", "Häufigkeit (Wiederkauftage)"),
    "check": ("How good are the predictions?", "Wie gut sind die Prognosen?"),
    "holdout_title": ("Hold-out: purchases per customer, {start} – {end}", "Hold-out: Käufe je Kunde, "
                                                                          "{start} – {end}"),
    "holdout_axis": ("Frequency up to {date}", "Häufigkeit bis {date}"),
    "per_customer": ("Purchase days per customer", "Kauftage je Kunde"),
    "predicted_series": ("Predicted (BG/NBD)", "Prognose (BG/NBD)"),
    "actual_series": ("Actual", "Tatsächlich"),
    "holdout_caption": ("Fitted on the purchases up to {start}, the models predicted {predicted} purchase days of "
                        "those purchasers from then to {end_of_holdout}; there were {actual} (a difference of "
                        "{error}). Bars: mean per customer by their frequency up to {start}. All purchasers of the "
                        "dataset.",
                        "Auf den Käufen bis {start} geschätzt, sagten die Modelle für diese Käufer {predicted} "
                        "Kauftage bis {end_of_holdout} voraus; tatsächlich waren es {actual} (eine Abweichung von "
                        "{error}). Balken: Mittel je Kunde nach seiner Häufigkeit bis {start}. Alle Käufer des "
                        "Datensatzes."),
    "auc": ("ROC AUC, churn model", "ROC AUC, Abwanderungsmodell"),
    "auc_help": ("Probability that a customer who churned is ranked riskier than one who stayed: 0.5 is chance, "
                 "1 is perfect.",
                 "Wahrscheinlichkeit, dass ein abgewanderter Kunde riskanter eingestuft wird als einer, der blieb: "
                 "0,5 ist Zufall, 1 perfekt."),
    "baseline_auc": ("ROC AUC, 1 − P(alive)", "ROC AUC, 1 − P(aktiv)"),
    "no_baseline": ("no BG/NBD fit", "kein BG/NBD-Modell"),
    "better": ("The churn model ranks customers better than the BG/NBD P(alive) baseline.",
               "Das Abwanderungsmodell ordnet die Kunden besser als die Vergleichsgröße P(aktiv) aus BG/NBD."),
    "similar": ("The churn model ranks customers about as well as the BG/NBD P(alive) baseline: it adds little.",
                "Das Abwanderungsmodell ordnet die Kunden etwa so gut wie P(aktiv) aus BG/NBD: es bringt wenig "
                "zusätzlich."),
    "worse": ("The BG/NBD P(alive) baseline ranks customers better than the churn model here: prefer P(alive).",
              "Die Vergleichsgröße P(aktiv) aus BG/NBD ordnet die Kunden hier besser als das Abwanderungsmodell: "
              "besser P(aktiv) verwenden."),
    "calibration_title": ("Churn model calibration at {date}", "Kalibrierung des Abwanderungsmodells am {date}"),
    "predicted_risk": ("Predicted churn risk", "Vorhergesagtes Abwanderungsrisiko"),
    "observed_rate": ("Share who churned", "Anteil abgewandert"),
    "perfect": ("Perfect calibration", "Perfekte Kalibrierung"),
    "churn_caption": ("Trained at {trained}, checked on the next cutoff {cutoff}: {n} purchasers not churned yet, "
                      "{rate} of whom bought nothing in the following {days} days (predicted on average: {mean}). "
                      "All purchasers of the dataset.",
                      "Trainiert zum {trained}, geprüft am nächsten Stichtag {cutoff}: {n} noch nicht abgewanderte "
                      "Käufer, von denen {rate} in den folgenden {days} Tagen nichts kauften (im Mittel "
                      "vorhergesagt: {mean}). Alle Käufer des Datensatzes."),
    "ranking": ("Churn risk ranking", "Rangliste des Abwanderungsrisikos"),
    "ranking_caption": ("Probability of no purchase in the next {days} days for the {n} customers of this view who "
                        "have not churned yet, riskiest first (gradient boosting on recency, frequency, value, "
                        "tenure, stage, NPS, category mix and channel, trained on what happened after {trained}).",
                        "Wahrscheinlichkeit, in den nächsten {days} Tagen nichts zu kaufen, für die {n} noch nicht "
                        "abgewanderten Kunden dieser Ansicht, riskanteste zuerst (Gradient Boosting auf Aktualität, "
                        "Häufigkeit, Wert, Kundendauer, Phase, NPS, Kategorienmix und Kanal, trainiert auf dem "
                        "Verhalten nach dem {trained})."),
    "churn_risk": ("Churn risk", "Abwanderungsrisiko"),
    "churn_model": ("Churn model", "Abwanderungsmodell"),
    "stage": ("Stage", "Phase"),
    "p_alive": ("P(alive)", "P(aktiv)"),
    "valuable_at_risk": ("Valuable customers at risk", "Wertvolle Kunden mit Abwanderungsrisiko"),
    "min_risk": ("Minimum risk (%)", "Mindestrisiko (%)"),
    "at_risk_caption": ("Customers in the top 20 % of this view by historic value or by predicted CLV whose churn "
                        "risk is at least {risk}: {n} customers, most valuable first.",
                        "Kunden unter den obersten 20 % dieser Ansicht nach historischem Wert oder prognostiziertem "
                        "CLV mit einem Abwanderungsrisiko von mindestens {risk}: {n} Kunden, wertvollste zuerst."),
    "at_risk_p_alive": ("Without the churn model the risk is 1 − P(alive) from BG/NBD, over every purchaser "
                        "(also those who have churned already).",
                        "Ohne das Abwanderungsmodell ist das Risiko 1 − P(aktiv) aus BG/NBD, über alle Käufer "
                        "(auch bereits abgewanderte)."),
    "risk": ("Risk", "Risiko"),
    "apply_risk": ("Use these customers as segment filter", "Diese Kunden als Segmentfilter verwenden"),
    "no_risk_model": ("Neither the churn model nor BG/NBD could be fitted, so no risk can be shown.",
                      "Weder das Abwanderungsmodell noch BG/NBD ließen sich schätzen; es gibt kein Risiko zu zeigen."),
    "cross_sell": ("Next best category", "Nächste beste Kategorie"),
    "cross_caption": ("Lift of A → B = share of A's buyers who also bought B ÷ share of all purchasers who bought B; "
                      "above 1, buyers of A buy B more often than others. Each customer's suggestion is the category "
                      "they have not bought with the highest lift from one they have (pairs of at least 10 "
                      "customers, lift above 1).",
                      "Lift von A → B = Anteil der A-Käufer, die auch B kauften ÷ Anteil aller Käufer, die B kauften; "
                      "über 1 kaufen A-Käufer B häufiger als andere. Vorgeschlagen wird jedem Kunden die noch nicht "
                      "gekaufte Kategorie mit dem höchsten Lift von einer gekauften (Paare mit mindestens 10 Kunden, "
                      "Lift über 1)."),
    "suggested_for": ("Customers it is suggested to", "Kunden, denen sie vorgeschlagen wird"),
    "mean_lift": ("Mean lift", "Mittlerer Lift"),
    "pairs": ("Category pairs by lift", "Kategorienpaare nach Lift"),
    "suggestions": ("Suggestion per customer", "Vorschlag je Kunde"),
    "category": ("Category", "Kategorie"),
    "suggested": ("Suggested category", "Vorgeschlagene Kategorie"),
    "because_of": ("Because they bought", "Weil gekauft"),
    "lift": ("Lift", "Lift"),
    "bought": ("Bought", "Gekauft"),
    "also_bought": ("Also bought", "Auch gekauft"),
    "customers_both": ("Customers with both", "Kunden mit beiden"),
    "confidence": ("Confidence", "Konfidenz"),
    # why a model is missing
    "clv_no_purchases": ("No purchases up to the as-of date: nothing to predict.",
                         "Keine Käufe bis zum Stichtag: nichts vorherzusagen."),
    "clv_no_repeat": (
        "No predicted value: BG/NBD and Gamma-Gamma learn how often customers buy, when they leave and what they "
        "spend from repeat purchases, and only {repeat} of {purchasers} purchasers bought on more than one day (at "
        "least {min} needed). Upload a longer transaction history, with every purchase of each customer.",
        "Kein prognostizierter Wert: BG/NBD und Gamma-Gamma lernen aus Wiederkäufen, wie oft Kunden kaufen, wann "
        "sie abwandern und was sie ausgeben, und nur {repeat} von {purchasers} Käufern kauften an mehr als einem "
        "Tag (mindestens {min} nötig). Bitte eine längere Transaktionshistorie mit allen Käufen je Kunde "
        "hochladen."),
    "clv_model": ("The predictive models could not be fitted: {detail}",
                  "Die Prognosemodelle ließen sich nicht schätzen: {detail}"),
    "holdout_short_history": ("The hold-out check needs a purchase history of more than a few days.",
                              "Die Hold-out-Prüfung braucht eine Kaufhistorie von mehr als ein paar Tagen."),
    "holdout_no_repeat": ("No hold-out check: up to {date}, where the hold-out period would start, fewer than {min} "
                          "customers had repeat purchases, too few to fit the models.",
                          "Keine Hold-out-Prüfung: bis zum {date}, wo der Hold-out-Zeitraum begänne, hatten weniger "
                          "als {min} Kunden Wiederkäufe, zu wenige, um die Modelle zu schätzen."),
    "holdout_model": ("No hold-out check: {detail}", "Keine Hold-out-Prüfung: {detail}"),
    "ranking_short_history": (
        "No churn risk: the model learns from what customers did in the {days} days after an earlier cutoff, so it "
        "needs purchases before {since}, and the data start later. Choose a shorter 'churned after' period or a "
        "later as-of date.",
        "Kein Abwanderungsrisiko: Das Modell lernt aus dem Verhalten der Kunden in den {days} Tagen nach einem "
        "früheren Stichtag und braucht daher Käufe vor dem {since}; die Daten beginnen später. Bitte einen kürzeren "
        "Zeitraum für „abgewandert nach“ oder einen späteren Stichtag wählen."),
    "ranking_model": ("No churn risk: {detail}", "Kein Abwanderungsrisiko: {detail}"),
    "ranking_no_purchases": ("No purchases up to the as-of date: no churn risk.",
                             "Keine Käufe bis zum Stichtag: kein Abwanderungsrisiko."),
    "check_short_history": (
        "No check of the churn model: it is trained at one cutoff and checked at a later one, each followed by "
        "{days} days, so it needs purchases before {since}. Choose a shorter 'churned after' period or a later "
        "as-of date.",
        "Keine Prüfung des Abwanderungsmodells: Es wird an einem Stichtag trainiert und an einem späteren geprüft, "
        "jeweils mit {days} Tagen danach, und braucht daher Käufe vor dem {since}. Bitte einen kürzeren Zeitraum "
        "für „abgewandert nach“ oder einen späteren Stichtag wählen."),
    "check_model": ("No check of the churn model: {detail}", "Keine Prüfung des Abwanderungsmodells: {detail}"),
    "check_no_purchases": ("No purchases up to the as-of date: no churn model to check.",
                           "Keine Käufe bis zum Stichtag: kein Abwanderungsmodell zu prüfen."),
    "cross_no_category": ("Next best category needs a category column in the transactions (product group, "
                          "department …). Upload transactions with one on the Data page.",
                          "Die nächste beste Kategorie braucht eine Kategorie-Spalte in den Transaktionen "
                          "(Warengruppe, Abteilung …). Bitte Transaktionen mit einer solchen Spalte auf der Seite "
                          "Daten hochladen."),
    "cross_none": ("No customer of this view has a category left to suggest: none has bought a category with a "
                   "lift above 1 towards one they have not bought yet.",
                   "Kein Kunde dieser Ansicht hat eine Kategorie, die sich vorschlagen ließe: keiner hat eine "
                   "Kategorie gekauft, die mit einem Lift über 1 zu einer noch nicht gekauften führt."),
    "cross_no_rules": ("No pair of categories was bought by at least 10 of the same customers with a lift above 1, "
                       "so there is nothing to suggest.",
                       "Kein Kategorienpaar wurde von mindestens 10 denselben Kunden mit einem Lift über 1 gekauft; "
                       "es gibt nichts vorzuschlagen."),
})
DEFAULTS = LifecycleConfig()


def whole_dataset(name: str, config: LifecycleConfig = DEFAULTS, **kwargs):
    """A cached result over every customer of the dataset at the view's as-of date: fitted once, whatever
    the segment filter (which only chooses whose results are shown)."""
    return data.metric(name, ctx.dataset, SegmentFilter(), config, as_of=ctx.as_of, **kwargs)


def explain(section: str, problem: insights.Problem, **values) -> None:
    """Why a model is missing, in the view's language."""
    key = f"{section}_{problem.code}" if f"{section}_{problem.code}" in TEXT else f"{section}_model"
    since = format_date(problem.since, lang) if problem.since else ""
    st.info(t(key, TEXT, detail=problem.detail, since=since, **values), icon=":material/info:")


def number(value, decimals: int = 2) -> str:
    return format_number(value, lang, decimals)


def percent(share, decimals: int = 1) -> str:
    return format_percent(share, lang, decimals)


def money_axis(title: str) -> dict:
    return dict(title=title, tickprefix="" if lang == "de" else "€", ticksuffix=" €" if lang == "de" else "")


st.divider()
st.subheader(t("predicted", TEXT))
st.caption(t("predicted_intro", TEXT))
margin_in_data = whole_dataset("value_margin_in_data")
default_margin = 100.0 if margin_in_data is None else round(100 * margin_in_data, 1)
p1, p2, p3, p4, p5 = st.columns(5)
with p1:
    horizon = param_number(t("horizon", TEXT), "value_horizon", default=12, min_value=1, max_value=120)
with p2:
    discount = param_float(t("discount", TEXT), "value_discount", 10.0, 0.0, 100.0, 0.5)
with p3:
    margin = param_float(t("margin", TEXT), "value_margin", default_margin, 0.0, 100.0, 1.0,
                         help=t("margin_help", TEXT, margin=percent(default_margin / 100)))
with p4:
    unit = param_select(t("unit", TEXT), "value_unit", ["weeks", "days"], default="weeks",
                        format_func=lambda u: t(u, TEXT), help=t("unit_help", TEXT))
with p5:
    churn_days = param_number(t("churn_days", TEXT), "churn_days", default=DEFAULTS.churn_days,
                              min_value=ctx.config.at_risk_days, help=t("churn_days_help", TEXT))
churn_config = ctx.config.with_(churn_days=churn_days)
unit_name = t(unit, TEXT)

models = whole_dataset("value_models", time_unit=unit)
predictions = None
if not models.problem:
    predictions = ctx.metric("value_prediction_overview", models=models, horizon_months=horizon,
                             annual_discount=discount / 100, margin=margin / 100)

# ----------------------------------------------------------------------------------------- predicted CLV
if models.problem:
    explain("clv", models.problem, repeat=format_number(models.repeat_customers, lang),
            purchasers=format_number(models.purchasers, lang), min=insights.MIN_REPEAT_CUSTOMERS)
else:
    total_clv = predictions.total_clv
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("total_clv", TEXT, months=horizon), money(total_clv), help=t("total_clv_help", TEXT, months=horizon))
    m2.metric(t("mean_clv", TEXT), money(total_clv / predictions.customers, 2))
    m3.metric(t("expected_purchases", TEXT, months=horizon), format_number(predictions.expected_purchases, lang))
    m4.metric(t("alive", TEXT), percent(predictions.mean_p_alive), help=t("alive_help", TEXT))
    bg, gg = dict(models.bg_params), dict(models.gg_params)
    st.caption(t("fit_caption", TEXT, purchasers=format_number(models.purchasers, lang),
                 repeat=format_number(models.repeat_customers, lang), date=format_date(models.as_of, lang),
                 unit=unit_name, **{k: number(v) for k, v in {**bg, **gg}.items()}))
    if models.correlated:
        st.warning(t("correlated", TEXT, r=number(models.correlation)), icon=":material/warning:")
    for note in models.notes:
        st.warning(note, icon=":material/warning:")

    left, right = st.columns(2)
    with left:
        bins = predictions.bins
        if bins.empty:  # no customer with a finite prediction (a degenerate fit): nothing to draw
            st.info(t("clv_none", TEXT))
        else:
            lower, upper = bins["lower"].to_numpy(), bins["upper"].to_numpy()
            width = lower[1] - lower[0] if len(lower) > 1 else 1.0
            hover = [f"{money(lo, 2)} – {money(hi, 2)}: {format_number(n, lang)} {t('customers')}"
                     for lo, hi, n in zip(lower, upper, bins["customers"])]
            fig = go.Figure(go.Bar(x=(lower + width / 2).tolist(), y=bins["customers"].tolist(), width=width,
                                   hovertext=hover, hoverinfo="text", marker_line_width=0.5,
                                   marker_line_color="white", marker_color="#2a9d8f", name=t("customers")))
            fig.update_layout(title=t("clv_distribution", TEXT), xaxis=money_axis(t("clv_axis", TEXT)),
                              yaxis_title=t("customers"), bargap=0, height=380)
            chart(fig, key="clv_histogram", title=t("predicted", TEXT))
            st.caption(t("clv_tail", TEXT, max=money(float(upper[-1]))))
    with right:
        grid = predictions.grid
        if grid is not None:
            heat = go.Figure(go.Heatmap(
                z=grid.to_numpy().tolist(), x=grid.columns.to_numpy().tolist(), y=grid.index.tolist(),
                zmin=0, zmax=1, colorscale="RdYlGn", colorbar=dict(title=t("p_alive", TEXT), tickformat=".0%"),
                hovertemplate=(t("frequency_axis", TEXT) + ": %{y}<br>" + t("recency_axis", TEXT, unit=unit_name)
                               + ": %{x:.0f}<br>" + t("p_alive", TEXT) + ": %{z:.0%}<extra></extra>"),
            ))
            heat.update_layout(title=t("p_alive_title", TEXT, T=format_number(grid.columns.max(), lang),
                                       unit=unit_name),
                               xaxis_title=t("recency_axis", TEXT, unit=unit_name),
                               yaxis_title=t("frequency_axis", TEXT), height=380)
            chart(heat, key="p_alive_matrix", title=t("predicted", TEXT))
            st.caption(t("p_alive_help", TEXT))

# ----------------------------------------------------------------------------------------- model checks
st.subheader(t("check", TEXT))
left, right = st.columns(2)
with left:
    holdout = whole_dataset("value_holdout", months=horizon, time_unit=unit)
    problem = holdout.attrs.get("problem")
    if problem:
        calibration_end = holdout.attrs.get("calibration_end")
        explain("holdout", problem, min=insights.MIN_REPEAT_CUSTOMERS,
                date=format_date(calibration_end, lang) if calibration_end else "")
    else:
        start, end = holdout.attrs["calibration_end"], holdout.attrs["holdout_end"]
        fig = go.Figure([
            go.Bar(x=holdout["frequency"].tolist(), y=holdout["predicted_purchases"].tolist(),
                   name=t("predicted_series", TEXT), marker_color="#2a9d8f"),
            go.Bar(x=holdout["frequency"].tolist(), y=holdout["actual_purchases"].tolist(),
                   name=t("actual_series", TEXT), marker_color="#264653"),
        ])
        fig.update_layout(title=t("holdout_title", TEXT, start=format_date(start, lang), end=format_date(end, lang)),
                          xaxis_title=t("holdout_axis", TEXT, date=format_date(start, lang)),
                          xaxis_type="category", yaxis_title=t("per_customer", TEXT), barmode="group", height=380,
                          legend=dict(orientation="h", y=-0.25))
        chart(fig, key="holdout", title=t("check", TEXT))
        predicted_total, actual_total = holdout.attrs["predicted_total"], holdout.attrs["actual_total"]
        st.caption(t("holdout_caption", TEXT, start=format_date(start, lang), end_of_holdout=format_date(end, lang),
                     predicted=format_number(predicted_total, lang), actual=format_number(actual_total, lang),
                     error=percent(abs(predicted_total - actual_total) / actual_total) if actual_total else "–"))
with right:
    churn_check = whole_dataset("value_churn_check", config=churn_config)
    evaluation = churn_check.evaluation
    if churn_check.problem:
        explain("check", churn_check.problem, days=churn_days)
    else:
        a1, a2 = st.columns(2)
        a1.metric(t("auc", TEXT), number(evaluation.roc_auc), help=t("auc_help", TEXT))
        baseline = evaluation.baseline_roc_auc
        a2.metric(t("baseline_auc", TEXT), t("no_baseline", TEXT) if baseline is None else number(baseline))
        verdict = churn_check.verdict()
        if verdict:
            (st.success if verdict == "better" else st.warning)(t(verdict, TEXT))
        calibration = evaluation.calibration
        fig = go.Figure([
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#999999"),
                       name=t("perfect", TEXT), hoverinfo="skip"),
            go.Scatter(x=calibration["mean_predicted"].tolist(), y=calibration["observed_rate"].tolist(),
                       mode="lines+markers", name=t("churn_model", TEXT), line_color="#e76f51",
                       marker=dict(size=(6 + 14 * np.sqrt(calibration["customers"] / calibration["customers"].max()))
                                   .tolist()),
                       customdata=calibration["customers"].tolist(),
                       hovertemplate=(t("predicted_risk", TEXT) + ": %{x:.0%}<br>" + t("observed_rate", TEXT)
                                      + ": %{y:.0%}<br>" + t("customers") + ": %{customdata}<extra></extra>")),
        ])
        fig.update_layout(title=t("calibration_title", TEXT, date=format_date(evaluation.cutoff, lang)),
                          xaxis=dict(title=t("predicted_risk", TEXT), tickformat=".0%", range=[0, 1]),
                          yaxis=dict(title=t("observed_rate", TEXT), tickformat=".0%", range=[0, 1]),
                          height=380, legend=dict(orientation="h", y=-0.25))
        chart(fig, key="calibration", title=t("check", TEXT))
        st.caption(t("churn_caption", TEXT, trained=format_date(evaluation.trained_at, lang),
                     cutoff=format_date(evaluation.cutoff, lang), n=format_number(evaluation.n, lang),
                     rate=percent(evaluation.base_rate), days=churn_days, mean=percent(evaluation.mean_predicted)))

# ----------------------------------------------------------------------------------------- churn risk
st.subheader(t("ranking", TEXT))
risk_columns = {
    "customer_id": t("customer", TEXT),
    "churn_risk": st.column_config.NumberColumn(t("churn_risk", TEXT), format="percent"),
    "risk": st.column_config.NumberColumn(t("risk", TEXT), format="percent"),
    "stage": t("stage", TEXT),
    "days_since_last": t("days_since_last", TEXT),
    "frequency": t("frequency", TEXT),
    "historic_value": money_column(t("value_axis", TEXT)),
    "predicted_clv": money_column(t("clv_axis", TEXT)),
    "p_alive": st.column_config.NumberColumn(t("p_alive", TEXT), format="percent"),
}
risk_kwargs = dict(models=None if models.problem else models, horizon_months=horizon, annual_discount=discount / 100,
                   margin=margin / 100)


def risk_metric(**kwargs) -> insights.RiskOverview:
    """The view's risk lists with the churn threshold of this page (cached)."""
    return data.metric("value_risk", ctx.dataset, ctx.segment, churn_config, as_of=ctx.as_of, **risk_kwargs, **kwargs)


def full_risk(min_risk: float | None = None) -> insights.RiskOverview:
    """Every row of the risk lists (clm_core, for a download or a customer list)."""
    return insights.risk_overview(data.dataset(ctx.dataset.id), as_of=ctx.as_of, segment=ctx.segment,
                                  config=churn_config, min_risk=min_risk, full=True, **risk_kwargs)


risk = risk_metric()


ranked = None
if risk.problem:
    explain("ranking", risk.problem, days=churn_days)
else:
    ranked = risk.ranking
    st.caption(t("ranking_caption", TEXT, days=churn_days, n=format_number(risk.ranked, lang),
                 trained=format_date(risk.trained_at, lang)))
    table(ranked.drop(columns=["expected_purchases"], errors="ignore").assign(
        stage=ranked["stage"].map(lambda s: t(s))).round({"historic_value": 2, "predicted_clv": 2}),
        "churn_risk.csv", key="churn_ranking", column_config=risk_columns, title=t("ranking", TEXT))
    download_all(lambda: full_risk().ranking.drop(columns=["expected_purchases"], errors="ignore"), risk.ranked,
                 len(ranked), "churn_risk.csv", "churn_ranking")

# ----------------------------------------------------------------------------------------- valuable at risk
st.subheader(t("valuable_at_risk", TEXT))
if not risk.has_risk:
    st.info(t("no_risk_model", TEXT), icon=":material/info:")
else:
    with st.columns([1, 2])[0]:
        min_risk = param_number(t("min_risk", TEXT), "value_min_risk", default=50, min_value=1, max_value=100)
    at_risk = risk_metric(min_risk=min_risk / 100)
    valuable = at_risk.valuable
    st.caption(t("at_risk_caption", TEXT, risk=percent(min_risk / 100, 0), n=format_number(at_risk.at_risk, lang))
               + ("" if ranked is not None else " " + t("at_risk_p_alive", TEXT)))
    columns = ["customer_id", "historic_value", "predicted_clv", "risk", "p_alive", "stage", "days_since_last"]
    shown_valuable = valuable[[c for c in columns if c in valuable.columns]]
    if "stage" in shown_valuable.columns:
        shown_valuable = shown_valuable.assign(stage=shown_valuable["stage"].map(lambda s: t(s)))
    table(shown_valuable.round({"historic_value": 2, "predicted_clv": 2}),
          "valuable_customers_at_risk.csv", key="value_at_risk", title=t("valuable_at_risk", TEXT),
          column_config=risk_columns)
    download_all(lambda: full_risk(min_risk / 100).valuable[[c for c in columns if c in valuable.columns]],
                 at_risk.at_risk, len(valuable), "valuable_customers_at_risk.csv", "value_at_risk")
    if at_risk.at_risk and st.button(t("apply_risk", TEXT), help=t("apply_help", TEXT), key="w.value.apply_risk"):
        list_id = data.save_customer_list(full_risk(min_risk / 100).valuable["customer_id"].tolist())
        update(segment=view().segment.with_customer_list(list_id))
        st.rerun()

# ----------------------------------------------------------------------------------------- cross-sell
st.subheader(t("cross_sell", TEXT))
categories = ctx.metric("value_categories")
pairs = whole_dataset("value_category_pairs")
suggestions = categories.suggestions
problem = categories.problem or pairs.attrs.get("problem")
if problem:
    explain("cross", problem)
else:
    st.caption(t("cross_caption", TEXT))
    if suggestions.empty:
        st.info(t("cross_none", TEXT), icon=":material/info:")
    else:
        summary = categories.summary
        fig = go.Figure(go.Bar(
            x=summary["customers"].tolist(), y=summary["category"].tolist(), orientation="h",
            marker_color="#2a9d8f", customdata=summary["mean_lift"].round(2).tolist(),
            hovertemplate="%{y}: %{x} " + t("customers") + "<br>" + t("mean_lift", TEXT)
                          + ": %{customdata:.2f}<extra></extra>"))
        fig.update_layout(title=t("suggested_for", TEXT), xaxis_title=t("customers"),
                          yaxis=dict(autorange="reversed"), height=320)
        chart(fig, key="next_category")
    st.markdown("**" + t("pairs", TEXT) + "**")
    table(pairs.round({"lift": 2, "confidence": 3}), "category_pairs.csv", key="category_pairs", height=300,
          title=t("pairs", TEXT),
          column_config={"antecedent": t("bought", TEXT), "consequent": t("also_bought", TEXT),
                         "customers_both": t("customers_both", TEXT),
                         "lift": st.column_config.NumberColumn(t("lift", TEXT), format="%.2f"),
                         "confidence": st.column_config.NumberColumn(t("confidence", TEXT), format="percent")})
    if len(suggestions):
        st.markdown("**" + t("suggestions", TEXT) + "**")
        table(suggestions.round({"lift": 2}), "next_best_category.csv", key="next_best_category",
              title=t("suggestions", TEXT),
              column_config={"customer_id": t("customer", TEXT), "category": t("suggested", TEXT),
                             "because_of": t("because_of", TEXT),
                             "lift": st.column_config.NumberColumn(t("lift", TEXT), format="%.2f")})
        download_all(lambda: insights.category_overview(data.dataset(ctx.dataset.id), ctx.as_of, ctx.segment,
                                                        ctx.config, full=True).suggestions,
                     categories.suggested, len(suggestions), "next_best_category.csv", "next_best_category")
