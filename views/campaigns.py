"""Campaigns: plan a campaign (what-if simulation), evaluate past campaigns, and the lifecycle gap analysis."""

from __future__ import annotations

import math
from dataclasses import fields

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from clm_core import bounds, simulate
from clm_core.config import STAGES
from clm_core.filters import SegmentFilter
from clm_core.i18n import field_label, format_currency, format_number, format_percent, framework_label
from clm_core.metrics import campaigns, drilldown
from clm_core.models import prepare
from clm_core.simulate import Scenario
from clm_ui import data
from clm_ui.page import context
from clm_ui.state import choose, param_number, param_select, set_param, t, view
from clm_ui.widgets import chart, collect, download, table

# simulate.plan returns a result-sized plan; the baseline behind it is computed once per dataset version
data.register("campaign_plan", simulate.plan,
              ("Valuing {n} customers with the fitted models and the churn model (once per dataset version), then "
               "simulating the scenario…",
               "Bewerte {n} Kunden mit den geschätzten Modellen und dem Abwanderungsmodell (einmal je "
               "Datensatzversion), dann wird das Szenario simuliert…"))
data.register("campaign_effects", campaigns.campaign_effects)
data.register("campaign_effects_by", campaigns.campaign_effects_by)
data.register("campaign_gaps", campaigns.campaign_gaps)
data.register("plan_defaults", simulate.planning_defaults)
data.register("step_availability", drilldown.step_availability)
data.register("breakdown_attributes", drilldown.breakdown_attributes)

TEXT = {
    "title": ("Campaigns", "Kampagnen"),
    "section": ("Section", "Bereich"),
    "plan": ("Plan", "Planen"),
    "evaluate": ("Evaluate", "Auswerten"),
    "gaps": ("Gap analysis", "Lückenanalyse"),
    # ----------------------------------------------------------------- plan
    "plan_intro": ("What would a campaign bring? Pick a target and an action, give the effect you expect as a range, "
                   "and compare up to three scenarios. The baseline comes from the models fitted on your data "
                   "(BG/NBD expected purchases and P(alive), Gamma-Gamma spend per purchase, the churn model, the "
                   "observed funnel rates); the range shows 5–95 % of 10,000 simulations that vary the effect, "
                   "which customers respond and convert, and the models' parameters.",
                   "Was würde eine Kampagne bringen? Zielgruppe und Maßnahme wählen, die erwartete Wirkung als "
                   "Spanne angeben und bis zu drei Szenarien vergleichen. Die Ausgangswerte stammen aus den auf Ihren "
                   "Daten geschätzten Modellen (BG/NBD erwartete Käufe und P(aktiv), Gamma-Gamma Betrag je Kauf, das "
                   "Abwanderungsmodell, die beobachteten Trichterquoten); die Spanne zeigt 5–95 % von 10.000 "
                   "Simulationen, die die Wirkung, die reagierenden und kaufenden Kunden und die Modellparameter "
                   "variieren."),
    "scenarios": ("Scenarios", "Szenarien"),
    "scenario": ("Scenario {name}", "Szenario {name}"),
    "action": ("Action", "Maßnahme"),
    "a_reactivation": ("Reactivation (at risk and churned)", "Reaktivierung (gefährdet und abgewandert)"),
    "a_activation": ("Activation of new customers (first {days} days)",
                     "Aktivierung von Neukunden (erste {days} Tage)"),
    "a_funnel_uplift": ("Funnel step conversion", "Konversion eines Trichterschritts"),
    "a_order_value": ("Order value", "Bestellwert"),
    "a_churn_reduction": ("Churn reduction (customers not churned)", "Abwanderung senken (nicht abgewanderte Kunden)"),
    "e_conversion": ("Effect: more customers buying (percentage points)",
                     "Wirkung: mehr kaufende Kunden (Prozentpunkte)"),
    "e_funnel": ("Effect: higher conversion of the step (percentage points)",
                 "Wirkung: höhere Konversion des Schritts (Prozentpunkte)"),
    "e_spend": ("Effect: more spend per purchase (%)", "Wirkung: mehr Umsatz je Kauf (%)"),
    "e_retention": ("Effect: lower churn probability (percentage points)",
                    "Wirkung: geringere Abwanderungswahrscheinlichkeit (Prozentpunkte)"),
    "effect_help": ("Among the customers who respond. The simulation draws the effect uniformly from this range.",
                    "Unter den reagierenden Kunden. Die Simulation zieht die Wirkung gleichverteilt aus dieser "
                    "Spanne."),
    "response": ("Response rate (%)", "Reaktionsquote (%)"),
    "defaults": ("Starting values of every scenario — response rate: {response}; margin: {margin}. A link's own "
                 "values win over them.",
                 "Startwerte jedes Szenarios — Reaktionsquote: {response}; Marge: {margin}. Die eigenen Werte eines "
                 "Links gehen ihnen vor."),
    "src_campaigns": ("from your past campaigns: {rate} ({responders} of {treated} contacted customers bought within "
                      "{days} days of the send day)",
                      "aus Ihren bisherigen Kampagnen: {rate} ({responders} von {treated} kontaktierten Kunden kauften "
                      "innerhalb von {days} Tagen nach dem Versandtag)"),
    "src_response_assumed": ("assumed: {rate} (no past campaign whose {days}-day window has ended)",
                             "angenommen: {rate} (keine bisherige Kampagne, deren {days}-Tage-Fenster abgelaufen ist)"),
    "src_transactions": ("from your data: {rate} (the transactions' margin, weighted by revenue)",
                         "aus Ihren Daten: {rate} (die Marge der Transaktionen, nach Umsatz gewichtet)"),
    "src_margin_assumed": ("assumed: {rate} (the transactions have no margin)",
                           "angenommen: {rate} (die Transaktionen haben keine Marge)"),
    "too_good": ("Scenario {name} looks too good to be true: ROI {roi}, chance of a loss {loss}. Check the "
                 "assumptions — response rate, effect, margin and cost per contact: real campaigns rarely return "
                 "more than 1,000 % and can always lose money.",
                 "Szenario {name} wirkt zu gut, um wahr zu sein: ROI {roi}, Verlustwahrscheinlichkeit {loss}. Bitte "
                 "die Annahmen prüfen — Reaktionsquote, Wirkung, Marge und Kosten je Kontakt: Echte Kampagnen "
                 "bringen selten mehr als 1.000 % und können immer Geld verlieren."),
    "response_help": ("Share of the contacted customers the action reaches (opens the mail, takes the call).",
                      "Anteil der kontaktierten Kunden, den die Maßnahme erreicht (öffnet die Mail, nimmt den Anruf "
                      "an)."),
    "cost_per_contact": ("Cost per contact (€)", "Kosten je Kontakt (€)"),
    "cost_per_contact_cent": ("Cost per contact (cents)", "Kosten je Kontakt (Cent)"),
    "cost_cent_help": ("In whole cents: 85 for €0.85.", "In ganzen Cent: 85 für 0,85 €."),
    "fixed_cost": ("Fixed cost (€)", "Fixkosten (€)"),
    "margin": ("Margin (%)", "Marge (%)"),
    "margin_help": ("Share of revenue that is profit: incremental CLV = margin × discounted incremental revenue.",
                    "Anteil des Umsatzes, der Gewinn ist: zusätzlicher CLV = Marge × abgezinster Zusatzumsatz."),
    "horizon": ("Horizon (months)", "Zeitraum (Monate)"),
    "narrow": ("Narrow the target", "Zielgruppe eingrenzen"),
    "narrow_help": ("The sidebar's segment filter applies first; the action then addresses only the customers it "
                    "can reach (for reactivation: at risk and churned).",
                    "Zuerst gilt der Segmentfilter der Seitenleiste; die Maßnahme erreicht dann nur die Kunden, für "
                    "die sie gedacht ist (Reaktivierung: gefährdet und abgewandert)."),
    "target_stages": ("Stages (empty: all)", "Phasen (leer: alle)"),
    "churn_range": ("Churn risk (%)", "Abwanderungsrisiko (%)"),
    "p_alive_range": ("P(alive) (%)", "P(aktiv) (%)"),
    "clv_from": ("Predicted CLV from (€)", "Prognostizierter CLV ab (€)"),
    "clv_to": ("to (€)", "bis (€)"),
    "funnel_steps": ("Funnel steps", "Trichterschritte"),
    "funnel_step": ("Step to improve", "Zu verbessernder Schritt"),
    "funnel_info": ("{previous} → {step}: {rate} convert today; {n} customers reached “{previous}” but not “{step}”.",
                    "{previous} → {step}: heute konvertieren {rate}; {n} Kunden haben „{previous}“ erreicht, aber "
                    "nicht „{step}“."),
    "funnel_share": ("Of those who reach “{step}”, {share} go on to “{purchase}” (observed), which is what the "
                     "value counts.",
                     "Von denen, die „{step}“ erreichen, gehen {share} weiter bis „{purchase}“ (beobachtet); das "
                     "zählt für den Wert."),
    "funnel_no_purchase": ("No purchase step follows “{step}” in this funnel: the simulation counts conversions but "
                           "no money.",
                           "Auf „{step}“ folgt in diesem Trichter kein Kaufschritt: Die Simulation zählt "
                           "Konversionen, aber keinen Umsatz."),
    "funnel_need_two": ("Pick at least two funnel steps.", "Mindestens zwei Trichterschritte wählen."),
    "created": ("Created", "Angelegt"),
    "first_purchase": ("First purchase", "Erstkauf"),
    "repeat_purchase": ("Repeat purchase", "Wiederkauf"),
    "promoter": ("Promoter", "Promotor"),
    "model_error": ("The predictive models cannot be fitted on this data: {reason}",
                    "Die Prognosemodelle lassen sich auf diesen Daten nicht schätzen: {reason}"),
    "churn_error": ("No churn risk (the churn model needs more history): {reason}",
                    "Kein Abwanderungsrisiko (das Modell braucht mehr Historie): {reason}"),
    "bad_link": ("Scenario {name} in the link could not be read ({reason}); it starts from the defaults.",
                 "Szenario {name} im Link war nicht lesbar ({reason}); es beginnt mit den Startwerten."),
    "invalid": ("Scenario {name} is not valid: {reason}", "Szenario {name} ist ungültig: {reason}"),
    "first_rows": ("The first {shown} of the {n} contacted customers.", "Die ersten {shown} der {n} kontaktierten "
                                                                         "Kunden."),
    "contacted_of": ("{contacted} contacted of {matched} in the target",
                     "{contacted} kontaktiert von {matched} in der Zielgruppe"),
    "who": ("Who is contacted ({n})", "Wer kontaktiert wird ({n})"),
    "results": ("Results side by side", "Ergebnisse im Vergleich"),
    "results_help": ("Expected value (models' estimates, mid effect), and in brackets the 5–95 % range of the "
                     "simulations. ROI = (incremental CLV − cost) / cost. Break-even effect: the effect at which the "
                     "expected ROI is zero.",
                     "Erwartungswert (Modellschätzung, mittlere Wirkung), in Klammern die Spanne 5–95 % der "
                     "Simulationen. ROI = (zusätzlicher CLV − Kosten) / Kosten. Break-even-Wirkung: die Wirkung, bei "
                     "der der erwartete ROI null ist."),
    "measure": ("Measure", "Kennzahl"),
    "m_contacted": ("Contacted customers", "Kontaktierte Kunden"),
    "m_responders": ("Responding customers", "Reagierende Kunden"),
    "m_incremental_purchasers": ("Incremental purchasers", "Zusätzliche Käufer"),
    "m_incremental_revenue": ("Incremental revenue", "Zusätzlicher Umsatz"),
    "m_incremental_clv": ("Incremental CLV (discounted margin)", "Zusätzlicher CLV (abgezinste Marge)"),
    "m_cost": ("Cost", "Kosten"),
    "m_roi": ("ROI", "ROI"),
    "m_loss_probability": ("Chance of a loss", "Verlustwahrscheinlichkeit"),
    "m_break_even_effect": ("Break-even effect", "Break-even-Wirkung"),
    "not_reachable": ("not reachable", "nicht erreichbar"),
    "pp": ("{value} pp", "{value} Pp."),
    "distribution": ("Distribution of the net value (incremental CLV − cost)",
                     "Verteilung des Nettowerts (zusätzlicher CLV − Kosten)"),
    "net_value": ("Net value (€)", "Nettowert (€)"),
    "simulations": ("Simulations", "Simulationen"),
    "break_even_line": ("break-even", "Break-even"),
    "customer": ("Customer", "Kunde"),
    "p_alive": ("P(alive)", "P(aktiv)"),
    "expected_purchases": ("Expected purchases", "Erwartete Käufe"),
    "expected_spend": ("Expected spend per purchase", "Erwarteter Betrag je Kauf"),
    "predicted_clv": ("Predicted CLV", "Prognostizierter CLV"),
    "churn_risk": ("Churn risk", "Abwanderungsrisiko"),
    "unit_value": ("Value per conversion", "Wert je Konversion"),
    "unit_value_spend": ("Revenue over the horizon", "Umsatz im Zeitraum"),
    "unit_value_retention": ("Value if retained", "Wert, wenn gehalten"),
    # ----------------------------------------------------------------- evaluate
    "no_campaigns": ("This dataset has no campaigns file. To evaluate past campaigns and see the gap analysis, upload "
                     "one on the Data page with the columns **customer_id**, **campaign** and **sent_at** (one row "
                     "per contacted customer), ideally with **group** (`treatment` or `control`: a control group "
                     "makes the effect measurable), **channel**, **cost** (per contact) and **stage_targeted**. "
                     "The Plan section works without it.",
                     "Dieser Datensatz hat keine Kampagnendatei. Um vergangene Kampagnen auszuwerten und die "
                     "Lückenanalyse zu sehen, auf der Seite Daten eine Datei mit den Spalten **Kundennummer**, "
                     "**Kampagne** und **Versanddatum** hochladen (eine Zeile je kontaktiertem Kunden), am besten "
                     "mit **Gruppe** (Test oder Kontrolle: eine Kontrollgruppe macht die Wirkung messbar), "
                     "**Kanal**, **Kosten** (je Kontakt) und **Zielphase**. Der Bereich Planen funktioniert "
                     "ohne sie."),
    "window": ("Response window (days after sending)", "Reaktionsfenster (Tage nach Versand)"),
    "eval_margin": ("Margin for the ROI (%)", "Marge für den ROI (%)"),
    "eval_intro": ("Response = a purchase within the window after the send day. Uplift = response rate of the "
                   "treatment group − that of the control group, in percentage points (pp), with its 95 % confidence "
                   "interval (CI, Newcombe). ROI = (incremental revenue × margin − cost) / cost, with a 95 % interval "
                   "from the difference in revenue per customer between the groups.",
                   "Reaktion = ein Kauf im Fenster nach dem Versandtag. Uplift = Reaktionsquote der Testgruppe − die "
                   "der Kontrollgruppe, in Prozentpunkten (Pp.), mit 95-%-Konfidenzintervall (KI, Newcombe). ROI = "
                   "(Zusatzumsatz × Marge − Kosten) / Kosten, mit 95-%-Intervall aus dem Unterschied im Umsatz je "
                   "Kunde zwischen den Gruppen."),
    "eval_margin_help": ("Default {source}.", "Standard {source}."),
    "details": ("Details: revenue, cost, before → after", "Details: Umsatz, Kosten, vorher → nachher"),
    "not_causal": ("Without a control group: {names}. Their figures compare the treated customers before and after "
                   "sending; that is not the campaign's effect (customers chosen because they stopped buying look "
                   "worse before by construction).",
                   "Ohne Kontrollgruppe: {names}. Ihre Zahlen vergleichen die kontaktierten Kunden vor und nach dem "
                   "Versand; das ist nicht die Wirkung der Kampagne (Kunden, die ausgewählt wurden, weil sie nicht "
                   "mehr kauften, sehen vorher zwangsläufig schlechter aus)."),
    "incomplete": ("The window of {names} reaches past the as-of date: their figures are not final.",
                   "Das Fenster von {names} reicht über den Stichtag hinaus: Ihre Zahlen sind noch nicht endgültig."),
    "uplift_chart": ("Uplift in response rate with 95 % confidence interval", "Uplift der Reaktionsquote mit 95-%-KI"),
    "effects_title": ("Campaign effects", "Kampagnenwirkung"),
    "uplift_axis": ("Uplift (percentage points)", "Uplift (Prozentpunkte)"),
    "campaign": ("Campaign", "Kampagne"),
    "channel": ("Channel", "Kanal"),
    "first_sent": ("Sent", "Versandt"),
    "treated": ("Treated", "Test"),
    "control": ("Control", "Kontrolle"),
    "response_treated": ("Resp. treated", "Reakt. Test"),
    "response_control": ("Resp. control", "Reakt. Kontr."),
    "uplift": ("Uplift (pp)", "Uplift (Pp.)"),
    "ci_low": ("CI from (pp)", "KI von (Pp.)"),
    "ci_high": ("CI to (pp)", "KI bis (Pp.)"),
    "revenue_treated": ("Revenue per treated", "Umsatz je Test"),
    "revenue_control": ("Revenue per control", "Umsatz je Kontrolle"),
    "incremental_revenue": ("Incremental revenue", "Zusatzumsatz"),
    "roi": ("ROI", "ROI"),
    "roi_low": ("ROI from", "ROI von"),
    "roi_high": ("ROI to", "ROI bis"),
    "causal": ("Control group", "Kontrollgruppe"),
    "change_before_after": ("Change before → after (pp, not causal)", "Änderung vorher → nachher (Pp., nicht kausal)"),
    "by": ("Effects by", "Wirkung nach"),
    "by_stage": ("Stage at sending", "Phase beim Versand"),
    "by_title": ("Uplift by {by}", "Uplift nach {by}"),
    "no_causal": ("No campaign has a control group, so no uplift can be estimated.",
                  "Keine Kampagne hat eine Kontrollgruppe, daher lässt sich kein Uplift schätzen."),
    # ----------------------------------------------------------------- gaps
    "gaps_intro": ("Customers reached by campaigns, by lifecycle stage at sending ({framework}) and channel. "
                   "Stages without any activity are marked: the always-on activities that may be missing.",
                   "Von Kampagnen erreichte Kunden nach Lebenszyklusphase beim Versand ({framework}) und Kanal. "
                   "Phasen ohne jede Aktivität sind markiert: die fehlenden Daueraktivitäten."),
    "no_activity": ("No campaign reached customers in: {stages}.", "Keine Kampagne erreichte Kunden in: {stages}."),
    "gap_title": ("Customers reached per stage and channel", "Erreichte Kunden je Phase und Kanal"),
    "gap_cell": ("{reached} reached, {campaigns} campaign(s)", "{reached} erreicht, {campaigns} Kampagne(n)"),
    "gap_uplift": ("uplift {uplift}", "Uplift {uplift}"),
    "framework_stage": ("Stage ({framework})", "Phase ({framework})"),
    "customers_reached": ("Customers reached", "Erreichte Kunden"),
    "campaigns": ("Campaigns", "Kampagnen"),
}
SECTIONS = ("plan", "evaluate", "gaps")
NAMES = "ABC"
N_SIMS = 10_000
COLOURS = ("#2171b5", "#e6550d", "#31a354")
EFFECT_MAX = 30  # percentage points (or %) on the effect slider
TOO_GOOD_ROI = 10.0  # an expected ROI above 1,000 % is flagged, as is a chance of a loss of 0 %

ctx = context(require=("transactions",))
lang = view().lang
EVERYONE = SegmentFilter()  # funnel steps and breakdown attributes are the dataset's, not the segment's
st.title(t("title", TEXT))
# the models and the baseline of the whole dataset start computing in the background while the page draws
prepare.start(data.dataset(ctx.dataset.id), ctx.as_of, ctx.config, tasks=("campaign_baseline",))


def money(value, decimals: int = 0) -> str:
    return format_currency(value, lang, decimals)


def percent(value, decimals: int = 1) -> str:
    return format_percent(value, lang, decimals)


def money_column(label: str):
    """Euros with cents the language's way (€1,234.56 / 1.234,56 €): the table widget formats the column."""
    return st.column_config.NumberColumn(label, format="euro")


sections = list(SECTIONS)
current_section = view().param("campaigns_section")
section = st.radio(t("section", TEXT), sections, horizontal=True, format_func=lambda s: t(s, TEXT),
                   index=sections.index(current_section) if current_section in sections else 0,
                   key="w.campaigns.campaigns_section", label_visibility="collapsed")
set_param("campaigns_section", None if section == "plan" else section)


# ============================================================================ Plan

def plan_defaults() -> simulate.PlanDefaults:
    """The response rate of past campaigns and the data's margin (else the stated assumptions), of the whole
    dataset at the as-of date: the base every scenario starts from."""
    return data.metric("plan_defaults", ctx.dataset, EVERYONE, ctx.config, as_of=ctx.as_of)


def stored_scenario(name: str, base: Scenario) -> Scenario:
    """The scenario kept in the page parameters campaigns_<name>_<field>: the link holds only what differs
    from ``base`` (the data's defaults), so its explicit values win and the rest are the data's defaults;
    ``base`` when unreadable."""
    prefix = f"campaigns_{name.lower()}_"
    params = {key[len(prefix):]: values for key, values in view().params.items() if key.startswith(prefix)}
    try:
        return Scenario.from_params(params, base)
    except ValueError as exc:
        st.warning(t("bad_link", TEXT, name=name, reason=exc))
        return base


def store_scenario(name: str, scenario: Scenario, base: Scenario) -> None:
    params = scenario.to_params(base)
    for f in fields(Scenario):
        set_param(f"campaigns_{name.lower()}_{f.name}", params.get(f.name))


EFFECT_LABELS = {"reactivation": "e_conversion", "activation": "e_conversion", "funnel_uplift": "e_funnel",
                 "order_value": "e_spend", "churn_reduction": "e_retention"}


def whole_percent(share: float) -> int:
    """A share as a whole percentage within 0–100 (a link may carry anything)."""
    return min(max(round(share * 100), 0), 100)


def percent_range(label: str, key: str, bounds) -> tuple[float, float] | None:
    """A 0–100 % range slider; the full range means no limit (None)."""
    low, high = bounds if bounds is not None else (0.0, 1.0)
    chosen = st.slider(label, 0, 100, (whole_percent(low), whole_percent(high)), key=key)
    return None if chosen == (0, 100) else (chosen[0] / 100, chosen[1] / 100)


def scenario_editor(name: str, stored: Scenario, steps_available: list[str], step_label) -> Scenario | None:
    """The inputs of one scenario; the scenario they describe (None when invalid)."""
    key = f"w.campaigns.campaigns_{name.lower()}_"
    actions = list(simulate.ACTIONS)
    action = st.selectbox(t("action", TEXT), actions, index=actions.index(stored.action), key=key + "action",
                          format_func=lambda a: t(f"a_{a}", TEXT, days=ctx.config.new_days))
    funnel_steps, funnel_step = stored.funnel_steps, stored.funnel_step
    if action == "funnel_uplift":
        chosen = [s for s in stored.funnel_steps if s in steps_available] or steps_available
        funnel_steps = tuple(st.multiselect(t("funnel_steps", TEXT), steps_available, default=chosen,
                                            format_func=step_label, key=key + "funnel_steps",
                                            **choose(True, steps_available)))
        if len(funnel_steps) < 2:
            st.info(t("funnel_need_two", TEXT))
            return None
        positions = list(range(2, len(funnel_steps) + 1))
        funnel_step = st.selectbox(t("funnel_step", TEXT), positions,
                                   index=positions.index(stored.funnel_step) if stored.funnel_step in positions else 0,
                                   format_func=lambda k: f"{k}. {step_label(funnel_steps[k - 1])}",
                                   key=key + "funnel_step")
    scale = 100.0
    top = max(EFFECT_MAX, math.ceil(stored.effect_high * scale))  # a link may carry a larger effect
    effect = st.slider(t(EFFECT_LABELS[action], TEXT), 0.0, float(top),
                       (round(stored.effect_low * scale, 4), round(stored.effect_high * scale, 4)), step=0.5,
                       help=t("effect_help", TEXT), key=key + "effect")
    response = st.slider(t("response", TEXT), 0.0, 100.0, min(max(round(stored.response_rate * 100, 1), 0.0), 100.0),
                         step=0.1, format="%.1f", help=t("response_help", TEXT), key=key + "response_rate")
    c1, c2 = st.columns(2)
    # Streamlit writes a number input's decimals with a point, whatever the language: "1.00" reads as a thousand
    # in German. So German takes the cost per contact in whole cents (85, not 0.85) and the amounts in euros
    # below are whole euros in both languages: no separator that could be misread.
    if lang == "de":
        cents = c1.number_input(t("cost_per_contact_cent", TEXT), min_value=0.0, max_value=bounds.MONEY.high * 100,
                                value=round(stored.cost_per_contact * 100, 6), step=5.0, format="%.0f",
                                help=t("cost_cent_help", TEXT), key=key + "cost_per_contact.cent")
        cost = round(cents / 100, 8)
    else:
        cost = c1.number_input(t("cost_per_contact", TEXT), **bounds.MONEY.widget(), value=stored.cost_per_contact,
                               step=0.1, format="%.2f", key=key + "cost_per_contact")
    fixed = c2.number_input(t("fixed_cost", TEXT), **bounds.MONEY.widget(), value=stored.fixed_cost, step=100.0,
                            format="%.0f", key=key + "fixed_cost")
    margin = c1.slider(t("margin", TEXT), 0, 100, whole_percent(stored.margin), help=t("margin_help", TEXT),
                       key=key + "margin")
    horizon = c2.number_input(t("horizon", TEXT), **bounds.MONTHS.widget(), value=stored.horizon_months, step=1,
                              key=key + "horizon_months")
    with st.expander(t("narrow", TEXT), expanded=bool(stored.stages or stored.churn_risk or stored.p_alive
                                                       or stored.clv)):
        st.caption(t("narrow_help", TEXT))
        stages = st.multiselect(t("target_stages", TEXT), STAGES, default=list(stored.stages), format_func=t,
                                key=key + "stages", **choose(True, STAGES, t("all_values")))
        churn = percent_range(t("churn_range", TEXT), key + "churn_risk", stored.churn_risk)
        alive = percent_range(t("p_alive_range", TEXT), key + "p_alive", stored.p_alive)
        low, high = stored.clv if stored.clv is not None else (-math.inf, math.inf)
        c1, c2 = st.columns(2)
        clv_low = c1.number_input(t("clv_from", TEXT), **bounds.MONEY.widget(),
                                  value=min(max(low, 0.0), bounds.MONEY.high) if math.isfinite(low) else None, step=10.0,
                                  format="%.0f", key=key + "clv_low")
        clv_high = c2.number_input(t("clv_to", TEXT), **bounds.MONEY.widget(),
                                   value=min(max(high, 0.0), bounds.MONEY.high) if math.isfinite(high) else None, step=10.0,
                                   format="%.0f", key=key + "clv_high")
    clv = None if clv_low is None and clv_high is None else (
        -math.inf if clv_low is None else clv_low, math.inf if clv_high is None else clv_high)
    try:
        return Scenario(action=action, effect_low=effect[0] / scale, effect_high=effect[1] / scale,
                        response_rate=round(response / 100, 3), cost_per_contact=cost, fixed_cost=fixed,
                        margin=round(margin / 100, 2),
                        horizon_months=int(horizon), stages=tuple(stages), churn_risk=churn, p_alive=alive, clv=clv,
                        funnel_steps=funnel_steps, funnel_step=int(funnel_step))
    except ValueError as exc:
        st.warning(t("invalid", TEXT, name=name, reason=exc))
        return None


def customer_table(name: str, plan: simulate.Plan, scenario: Scenario) -> None:
    shown = plan.customers.assign(stage=plan.customers["stage"].map(lambda s: t(s)))
    value_column = simulate.ACTIONS[scenario.action][0]
    unit_label = {"conversion": "unit_value", "spend": "unit_value_spend", "retention": "unit_value_retention"}
    columns = ["customer_id", "stage", "p_alive", "expected_purchases", "expected_spend", "predicted_clv",
               "churn_risk", value_column]
    table(shown[columns].round(4), f"campaign_target_{name}.csv", key=f"campaigns_who_{name}",
          title=t("scenario", TEXT, name=name), column_config={
        "customer_id": t("customer", TEXT), "stage": t("stage"),
        "p_alive": st.column_config.NumberColumn(t("p_alive", TEXT), format="percent"),
        "expected_purchases": st.column_config.NumberColumn(t("expected_purchases", TEXT), format="%.2f"),
        "expected_spend": money_column(t("expected_spend", TEXT)),
        "predicted_clv": money_column(t("predicted_clv", TEXT)),
        "churn_risk": st.column_config.NumberColumn(t("churn_risk", TEXT), format="percent"),
        value_column: money_column(t(unit_label[scenario.kind], TEXT)),
    })


def shown_measure(measure: str, value: float, scenario: Scenario) -> str:
    if measure in ("contacted", "responders", "incremental_purchasers"):
        return format_number(value, lang, 1 if measure == "incremental_purchasers" else 0)
    if measure in ("roi", "loss_probability"):
        return percent(value, 0)
    if measure == "break_even_effect":
        if math.isnan(value):
            return t("not_reachable", TEXT)
        if scenario.kind == "spend":
            return percent(value, 1)
        return t("pp", TEXT, value=format_number(100 * value, lang, 1))
    return money(value)


def results_table(results: dict[str, simulate.SimulationResult]) -> pd.DataFrame:
    rows = []
    for measure in simulate.MEASURES:
        row = {"measure": t(f"m_{measure}", TEXT)}
        for name, result in results.items():
            expected, (low, high) = result.expected(measure), result.interval(measure)
            text = shown_measure(measure, expected, result.scenario)
            if not (math.isnan(low) or math.isnan(high) or low == high == expected):
                text += (f" ({shown_measure(measure, low, result.scenario)} – "
                         f"{shown_measure(measure, high, result.scenario)})")
            row[t("scenario", TEXT, name=name)] = text
        rows.append(row)
    return pd.DataFrame(rows)


def distribution_chart(results: dict[str, simulate.SimulationResult]) -> None:
    fig = go.Figure()
    for (name, result), colour in zip(results.items(), COLOURS):
        net = result.samples["incremental_clv"] - result.expected("cost")
        fig.add_trace(go.Histogram(x=net, name=t("scenario", TEXT, name=name), opacity=0.55, nbinsx=60,
                                   marker_color=colour))
    fig.add_vline(x=0, line_dash="dash", line_color="#444", annotation_text=t("break_even_line", TEXT))
    fig.update_layout(barmode="overlay", height=340, xaxis_title=t("net_value", TEXT),
                      yaxis_title=t("simulations", TEXT), legend_orientation="h")
    chart(fig, key="campaigns_distribution", title=t("distribution", TEXT))


def defaults_sources(defaults: simulate.PlanDefaults) -> tuple[str, str]:
    """(response rate, margin): each default with where it comes from."""
    rate = percent(defaults.response_rate, 1)
    if defaults.response_source == "campaigns":
        response = t("src_campaigns", TEXT, rate=rate, responders=format_number(defaults.responders, lang),
                     treated=format_number(defaults.treated, lang), days=defaults.window_days)
    else:
        response = t("src_response_assumed", TEXT, rate=rate, days=defaults.window_days)
    margin = percent(defaults.margin, 0)
    source = "src_transactions" if defaults.margin_source == "transactions" else "src_margin_assumed"
    return response, t(source, TEXT, rate=margin)


def too_good(name: str, result: simulate.SimulationResult) -> str | None:
    """The warning for a scenario whose expected ROI exceeds 1,000 % or that never loses in the simulations."""
    roi, loss = result.expected("roi"), result.expected("loss_probability")
    if (math.isfinite(roi) and roi > TOO_GOOD_ROI) or loss == 0:
        return t("too_good", TEXT, name=name, roi=percent(roi, 0) if math.isfinite(roi) else "–",
                 loss=percent(loss, 0))
    return None


def plan() -> None:
    st.caption(t("plan_intro", TEXT))
    defaults = plan_defaults()
    base = defaults.scenario()
    response_source, margin_source = defaults_sources(defaults)
    st.caption(t("defaults", TEXT, response=response_source, margin=margin_source))
    with st.columns([1, 3])[0]:
        count = int(param_select(t("scenarios", TEXT), "campaigns_count", [1, 2, 3], default=1))
    available = data.metric("step_availability", ctx.dataset, EVERYONE, ctx.config)
    steps_available = list(available.steps)

    def step_label(step: str) -> str:
        return t(step, TEXT) if step in available.milestones else step

    results, notes = {}, set()
    for name, column in zip(NAMES[:count], st.columns(count)):
        with column:
            st.subheader(t("scenario", TEXT, name=name))
            scenario = scenario_editor(name, stored_scenario(name, base), steps_available, step_label)
            if scenario is None:
                continue
            store_scenario(name, scenario, base)
            planned = ctx.metric("campaign_plan", scenario=tuple(sorted(scenario.to_params().items())),
                                 n_sims=N_SIMS)
            notes.update(note for note in (
                planned.model_error and t("model_error", TEXT, reason=planned.model_error),
                planned.churn_error and t("churn_error", TEXT, reason=planned.churn_error)) if note)
            stage = planned.funnel
            if stage is not None:
                st.caption(t("funnel_info", TEXT, previous=step_label(stage.previous), step=step_label(stage.step),
                             rate=percent(stage.conversion), n=format_number(planned.funnel_candidates, lang)))
                if stage.purchase_step is None:
                    st.caption(t("funnel_no_purchase", TEXT, step=step_label(stage.step)))
                elif stage.purchase_step != stage.step:
                    st.caption(t("funnel_share", TEXT, step=step_label(stage.step), purchase=step_label(
                        stage.purchase_step), share=percent(stage.purchase_share)))
            if planned.error:
                st.warning(planned.error)
                continue
            st.markdown("**" + t("contacted_of", TEXT, contacted=format_number(planned.contacted, lang),
                                 matched=format_number(planned.matched, lang)) + "**")
            with st.expander(t("who", TEXT, n=format_number(planned.contacted, lang))):
                customer_table(name, planned, scenario)
                if planned.contacted > len(planned.customers):
                    st.caption(t("first_rows", TEXT, shown=format_number(len(planned.customers), lang),
                                 n=format_number(planned.contacted, lang)))
            results[name] = planned.result
    for note in sorted(notes):
        st.warning(note)
    if not results:
        return
    st.subheader(t("results", TEXT), help=t("results_help", TEXT))
    with st.container(key="campaigns_results"):
        shown_results = results_table(results)
        st.dataframe(shown_results, hide_index=True, width="stretch", key="campaigns_results_table",
                     column_config={"measure": t("measure", TEXT)})
        collect(shown_results, "campaign_results.csv", {"measure": t("measure", TEXT)}, title=t("results", TEXT))
    for name, result in results.items():
        warning = too_good(name, result)
        if warning:
            st.warning(warning)
    raw = pd.concat([r.summary.rename_axis("measure").reset_index().assign(scenario=name)
                     for name, r in results.items()], ignore_index=True)
    download(raw[["scenario", "measure", "expected", "low", "high"]], "campaign_scenarios.csv",
             key="dl.campaigns_results")
    st.subheader(t("distribution", TEXT))
    distribution_chart(results)


# ============================================================================ Evaluate

def names_of(frame: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in frame["campaign"])


def uplift_chart(frame: pd.DataFrame, label: pd.Series, key: str, title: str) -> None:
    fig = go.Figure(go.Scatter(
        x=100 * frame["uplift"], y=label, mode="markers", marker_size=10, marker_color=COLOURS[0],
        error_x=dict(type="data", symmetric=False, array=100 * (frame["ci_high"] - frame["uplift"]),
                     arrayminus=100 * (frame["uplift"] - frame["ci_low"])),
    ))
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(title=title, xaxis_title=t("uplift_axis", TEXT), height=max(220, 60 + 32 * len(frame)),
                      yaxis_autorange="reversed")
    chart(fig, key=key)


#: differences of rates, shown (and downloaded) in percentage points: column -> its name in the table
PP_COLUMNS = {"uplift": "uplift_pp", "ci_low": "ci_low_pp", "ci_high": "ci_high_pp",
              "change_before_after": "change_before_after_pp"}
EFFECT_COLUMNS = ("channel", "treated", "control", "response_treated", "response_control", "uplift_pp", "ci_low_pp",
                  "ci_high_pp", "roi", "roi_low", "roi_high")
DETAIL_COLUMNS = ("first_sent", "revenue_treated", "revenue_control", "incremental_revenue", "cost", "causal",
                  "change_before_after_pp")


def effects_table(frame: pd.DataFrame, filename: str, key: str, extra: tuple[str, ...] = (),
                  title: str | None = None) -> None:
    """The effects that fit the page (rates in %, their differences in percentage points, ROI with its
    interval), and the rest (revenue, cost, before → after) in an expander below."""
    shown = frame.assign(**{pp: 100 * frame[c] for c, pp in PP_COLUMNS.items()})
    small = {"width": "small"}
    config = {
        "campaign": st.column_config.TextColumn(t("campaign", TEXT)), "channel": t("channel", TEXT),
        "first_sent": t("first_sent", TEXT),
        "treated": st.column_config.NumberColumn(t("treated", TEXT), format="localized", **small),
        "control": st.column_config.NumberColumn(t("control", TEXT), format="localized", **small),
        **{c: st.column_config.NumberColumn(t(c, TEXT), format="percent", **small)
           for c in ("response_treated", "response_control", "roi", "roi_low", "roi_high")},
        **{pp: st.column_config.NumberColumn(t(c, TEXT), format="%.1f", **small) for c, pp in PP_COLUMNS.items()},
        "revenue_treated": money_column(t("revenue_treated", TEXT)),
        "revenue_control": money_column(t("revenue_control", TEXT)),
        "incremental_revenue": money_column(t("incremental_revenue", TEXT)),
        "cost": money_column(t("m_cost", TEXT)), "causal": t("causal", TEXT),
        **{c: t("by_stage", TEXT) if c == "stage" else field_label(c, lang) for c in extra},
    }
    keys = ["campaign", *extra]

    def part(columns: tuple[str, ...], name: str, part_key: str, part_title: str | None) -> None:
        chosen = shown[[*keys, *(c for c in columns if c not in keys and c in shown.columns)]]
        table(chosen, name, key=part_key, column_config={c: v for c, v in config.items() if c in chosen.columns},
              title=part_title)

    part(EFFECT_COLUMNS, filename, key, title)
    with st.expander(t("details", TEXT)):
        part(DETAIL_COLUMNS, filename.replace(".csv", "_details.csv"), key + "_details",
             f"{title} · {t('details', TEXT)}" if title else None)


def window_input() -> int:
    return param_number(t("window", TEXT), "campaigns_window", 30, min_value=1, max_value=365)


def evaluate() -> None:
    c1, c2, _ = st.columns([1, 1, 2])
    with c1:
        window = window_input()
    defaults = plan_defaults()
    with c2:
        margin = param_number(t("eval_margin", TEXT), "campaigns_eval_margin", round(100 * defaults.margin),
                              min_value=0, max_value=100,
                              help=t("eval_margin_help", TEXT, source=defaults_sources(defaults)[1]))
    st.caption(t("eval_intro", TEXT))
    effects = ctx.metric("campaign_effects", window_days=window, margin=margin / 100)
    if effects.empty:
        return
    causal = effects[effects["causal"]]
    if len(causal) < len(effects):
        st.warning(t("not_causal", TEXT, names=names_of(effects[~effects["causal"]])))
    if not effects["window_complete"].all():
        st.caption(t("incomplete", TEXT, names=names_of(effects[~effects["window_complete"]])))
    if len(causal):
        uplift_chart(causal, causal["campaign"], "campaigns_uplift", t("uplift_chart", TEXT))
    else:
        st.info(t("no_causal", TEXT))
    effects_table(effects, "campaign_effects.csv", "campaigns_effects", title=t("effects_title", TEXT))

    attributes = ["stage"] + data.metric("breakdown_attributes", ctx.dataset, EVERYONE, ctx.config)
    with st.columns([1, 3])[0]:
        by = param_select(t("by", TEXT), "campaigns_by", attributes, default="stage",
                          format_func=lambda a: t("by_stage", TEXT) if a == "stage" else field_label(a, lang))
    split = ctx.metric("campaign_effects_by", by=by, window_days=window, margin=margin / 100)
    if by == "stage":
        split = split.assign(stage=split["stage"].map(lambda s: t(s)))
    split_causal = split[split["causal"]]
    if len(split_causal):
        uplift_chart(split_causal, split_causal["campaign"] + " · " + split_causal[by].fillna("–").astype(str),
                     "campaigns_uplift_by", t("by_title", TEXT, by=t("by_stage", TEXT) if by == "stage"
                                              else field_label(by, lang)))
    effects_table(split, f"campaign_effects_by_{by}.csv", "campaigns_effects_by", extra=(by,),
                  title=t("by_title", TEXT, by=t("by_stage", TEXT) if by == "stage" else field_label(by, lang)))


# ============================================================================ Gap analysis

def gaps() -> None:
    with st.columns([1, 3])[0]:
        window = window_input()  # for the uplift in the cells
    gap = ctx.metric("campaign_gaps", window_days=window)
    st.caption(t("gaps_intro", TEXT, framework=framework_label(ctx.config.framework, lang)))
    reached = gap.groupby("stage", sort=False)["customers_reached"].sum()
    idle = [stage for stage in STAGES if reached.get(stage, 0) == 0]
    names = {stage: ", ".join(framework_label(part, lang) for part in name.split(", "))
             for stage, name in campaigns.framework_stage_names(ctx.config).items()}

    def row_label(stage: str) -> str:
        label = f"{names[stage]} · {t(stage)}" if names[stage] != t(stage) else names[stage]
        return f"⚠ {label}" if stage in idle else label

    if idle:
        st.warning(t("no_activity", TEXT, stages=", ".join(row_label(s).removeprefix("⚠ ") for s in idle)))
    channels = list(dict.fromkeys(gap["channel"]))
    cells = gap.set_index(["stage", "channel"])
    z = [[int(cells.loc[(s, c), "customers_reached"]) for c in channels] for s in STAGES]
    text = []
    for s in STAGES:
        row = []
        for c in channels:
            cell = cells.loc[(s, c)]
            if not cell["campaigns"]:
                row.append("–")
                continue
            words = t("gap_cell", TEXT, reached=format_number(cell["customers_reached"], lang),
                      campaigns=format_number(cell["campaigns"], lang))
            if pd.notna(cell["uplift"]):
                words += "<br>" + t("gap_uplift", TEXT, uplift=t("pp", TEXT, value=format_number(
                    100 * cell["uplift"], lang, 1)))
            row.append(words)
        text.append(row)
    fig = go.Figure(go.Heatmap(z=z, x=channels, y=[row_label(s) for s in STAGES], text=text,
                               texttemplate="%{text}", textfont_size=11, colorscale="Blues", xgap=2, ygap=2,
                               hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>",
                               colorbar_title=t("customers_reached", TEXT)))
    fig.update_layout(title=t("gap_title", TEXT), height=120 + 55 * len(STAGES), yaxis_autorange="reversed")
    chart(fig, key="campaigns_gaps")
    shown = gap.assign(stage=gap["stage"].map(lambda s: t(s)), framework_stage=gap["stage"].map(names),
                       uplift=100 * gap["uplift"]).rename(columns={"uplift": "uplift_pp"})
    table(shown, "campaign_gaps.csv", key="campaigns_gap_table", title=t("gaps", TEXT), column_config={
        "stage": t("stage"),
        "framework_stage": t("framework_stage", TEXT, framework=framework_label(ctx.config.framework, lang)),
        "channel": t("channel", TEXT),
        "customers_reached": st.column_config.NumberColumn(t("customers_reached", TEXT), format="localized"),
        "campaigns": st.column_config.NumberColumn(t("campaigns", TEXT), format="localized"),
        "uplift_pp": st.column_config.NumberColumn(t("uplift", TEXT), format="%.1f"),
    })


if section == "plan":
    plan()
elif not ctx.dataset.has("campaigns"):
    st.info(t("no_campaigns", TEXT))
elif section == "evaluate":
    evaluate()
else:
    gaps()
