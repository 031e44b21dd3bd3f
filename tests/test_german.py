"""Every page in German (AppTest): no English text of the app's own, no database name, no English month.

Each page is drawn once with ``?lang=de`` on the demo data, with a segment filter on an attribute (so the
sidebar's filter boxes are drawn) and the breakdowns set to one (so their labels and tables are drawn); the Data
page with an ingest report that has rejected rows. Everything a user reads is collected from the element tree:
texts, labels, options, placeholders, help, table headers (as configured) and the cells that name tables or
reasons, and the Plotly figures' titles, axis titles, tick texts, legend names and hover templates. Checked:

- no English text of the app's own: every ``(English, German)`` pair of the code's text tables whose two texts
  differ (read from the source with ``ast``), as a whole label or, for sentences, as a phrase;
- Streamlit's own English ("Choose options", "Select all"): every multiselect has a German placeholder and no
  "Select all" entry;
- no database name (``postal_code``, ``age_group``, ``created_at``, a table name such as ``transactions``)
  as a label, header, option or axis title, and none inside a rejection reason;
- no English month on a date axis or in a hover label ("Oct 2025").

The language switch in the sidebar takes effect in the same run (the Overview's "30 days" stayed English in
the browser until a reload): tested by the value the select box sends to the browser.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest import APP, demo_database
from clm_core import demo, ingest, store
from clm_core.i18n import FIELD_LABELS, TABLE_LABELS
from clm_ui.charts import as_dates

ROOT = Path(__file__).resolve().parents[1]

#: The pages and the parameters that draw their optional parts (breakdowns by an attribute, the sections).
PAGES = {
    "overview": {},
    "funnel": {"p.funnel_breakdown": "age_group"},
    "cohorts": {"p.cohort_breakdown": "age_group"},
    "lifecycle": {"p.losses_by": "age_group"},
    "nps": {"p.nps_by": "age_group"},
    "value": {},
    "map": {},
    "campaigns": {},
    "campaigns_evaluate": {"p.campaigns_section": "evaluate", "p.campaigns_by": "age_group"},
    "campaigns_gaps": {"p.campaigns_section": "gaps"},
}
#: A filter on an attribute: the sidebar draws its value box under the attribute's name.
FILTER = {"f.age_group": ["25-34", "35-44", "45-54"]}

#: Streamlit's own English texts that the app must replace (it cannot translate them).
STREAMLIT_ENGLISH = ("Choose options", "Choose an option", "Select all", "No options to select", "Add options")
#: Database names no German user should read (canonical columns, derived attributes, the demo's attribute).
DATABASE_NAMES = set(FIELD_LABELS) - {"segment"}  # "segment" is the German word too (written "Segment")
TABLE_NAMES = set(TABLE_LABELS)
MONTH_EN = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|January|February|March|April|June|July|"
                      r"August|September|October|November|December)\b\.? \d{4}")
#: Month names that differ between the languages: one of them in a German label is English.
ENGLISH_ONLY_MONTH = re.compile(r"\b(Mar|May|Oct|Dec|March|June|July|October|December)\b")
#: A raw identifier (snake_case or a lower-case English word) as a header, title or legend name.
IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")


# ----------------------------------------------------------------------------------------- what is English

PAIRS: list[tuple[str, str]] = []


def english_texts() -> set[str]:
    """The English side of every (English, German) pair in the app's text tables whose two sides differ, unless
    it is the German text of another pair ("Loyal")."""
    found, german_texts = set(), set()
    PAIRS.clear()
    files = [*ROOT.glob("views/*.py"), *ROOT.glob("clm_ui/*.py"), ROOT / "clm_core" / "i18n.py"]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            for value in node.values:
                if (isinstance(value, ast.Tuple) and len(value.elts) == 2
                        and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts)):
                    english, german = (e.value for e in value.elts)
                    german_texts.add(german)
                    PAIRS.append((english, german))
                    if english != german:
                        found.add(english)
    return found - german_texts


def data_values() -> set[str]:
    """The demo data's own values (channel, segment, category, campaign names): data, not interface text."""
    values = set(demo.CHANNELS) | set(demo.SEGMENTS) | set(demo.CATEGORIES) | set(demo.AGE_GROUPS)
    values |= set(demo.CHANNEL_SOURCE) | {"visit", "lead", "trial", "purchase", "direct", "webshop"}
    for name, _, _, _, channel, *_ in demo.CAMPAIGNS:
        values |= {name, channel}
    return values


ENGLISH = english_texts()
DATA = data_values()
#: Whole labels: short English texts without placeholders (a German label must not be one of them).
ENGLISH_LABELS = {e for e in ENGLISH if "{" not in e and len(e.split()) <= 4} - DATA
#: Phrases of the English sentences (between their placeholders), long enough not to occur in German by chance.
#: (Parts the German text of the same pair has as well, "Gamma-Gamma: p =", are not English.)
ENGLISH_PHRASES = {part.strip(" .,:;()*`“”\"") for e, g in PAIRS if e in ENGLISH
                   for part in re.split(r"\{[^}]*\}|\*\*|`|\n", e) if part.strip(" .,:;()*`“”\"") not in g}
ENGLISH_PHRASES = {p for p in ENGLISH_PHRASES if len(p) >= 14 and " " in p}


# ----------------------------------------------------------------------------------------- what is shown

class Shown:
    """The texts of one run, by kind."""

    def __init__(self) -> None:
        self.labels: list[tuple[str, str]] = []  # (where, text): whole labels, options, headers, names
        self.texts: list[tuple[str, str]] = []  # (where, text): running text (markdown, alerts, captions)
        self.cells: list[tuple[str, str]] = []  # (where, text): table cells
        self.dates: list[tuple[str, str]] = []  # (where, text): tick texts and hover labels of date axes
        self.problems: list[str] = []

    def all_text(self):
        yield from self.labels
        yield from self.texts


def collect(at: AppTest) -> Shown:
    shown = Shown()
    for node in at._tree:
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if proto is None or kind in ("html", "exception"):
            continue
        where = f"{kind} {getattr(node, 'key', '') or ''}".strip()
        if kind == "plotly_chart":
            figure(json.loads(proto.spec), where, shown)
            continue
        if kind == "arrow_data_frame" or kind == "dataframe":
            frame(node, where, shown)
            continue
        for name in ("label", "placeholder", "help"):
            value = getattr(proto, name, None)
            if isinstance(value, str) and value:
                (shown.texts if name == "help" else shown.labels).append((f"{where} {name}", value))
        for value in getattr(proto, "options", []) or []:
            if isinstance(value, str):
                shown.labels.append((f"{where} option", value))
        for name in ("body", "delta"):
            value = getattr(proto, name, None)
            if isinstance(value, str) and value:
                shown.texts.append((f"{where} {name}", value))
        if kind == "multiselect":
            if not proto.placeholder:
                shown.problems.append(f"{where}: no placeholder (Streamlit shows “Choose options”)")
            if proto.select_all:
                shown.problems.append(f"{where}: Streamlit's “Select all” entry is shown")
        if kind == "selectbox" and (not proto.options or not proto.HasField("default")) and not proto.placeholder:
            shown.problems.append(f"{where}: no placeholder (Streamlit shows “Choose an option”)")
    return shown


def frame(node, where: str, shown: Shown) -> None:
    config = json.loads(node.proto.columns or "{}")
    value = node.value
    data = value.data if hasattr(value, "data") else value  # a Styler's frame
    for column in data.columns:
        spec = config.get(str(column), {})
        if spec.get("hidden"):
            continue
        shown.labels.append((f"{where} header", str(spec.get("label") or column)))
        if data[column].dtype == object or pd.api.types.is_string_dtype(data[column]):
            for cell in data[column].dropna().astype(str).unique()[:200]:
                shown.cells.append((f"{where} cell", cell))


def figure(spec: dict, where: str, shown: Shown) -> None:
    layout = spec.get("layout", {})

    def title_of(item) -> str | None:
        title = (item or {}).get("title")
        return title.get("text") if isinstance(title, dict) else title

    if title_of(layout):
        shown.labels.append((f"{where} title", title_of(layout)))
    legend = layout.get("showlegend") is not False
    if legend and title_of(layout.get("legend")):
        shown.labels.append((f"{where} legend title", title_of(layout.get("legend"))))
    axes = {name: axis for name, axis in layout.items() if re.fullmatch(r"[xy]axis\d*", name)}
    for name, axis in axes.items():
        if title_of(axis):
            shown.labels.append((f"{where} {name} title", title_of(axis)))
        for text in axis.get("ticktext") or []:
            shown.dates.append((f"{where} {name} tick", str(text)))
    for trace in spec.get("data", []):
        if legend and trace.get("name") and trace.get("showlegend", True) is not False:
            shown.labels.append((f"{where} trace name", str(trace["name"])))
        template = trace.get("hovertemplate")
        for item in template if isinstance(template, list) else [template]:
            if isinstance(item, str):
                shown.texts.append((f"{where} hover", re.sub(r"%\{[^}]*\}", "", item)))
                for part in item.split("<br>"):  # Plotly Express's default: column=value
                    if "=" in part and not part.startswith("%{"):
                        label, value = part.split("=", 1)
                        shown.labels.append((f"{where} hover label", label))
                        value = re.sub(r"%\{[^}]*\}", "", value).strip()
                        if value:
                            shown.labels.append((f"{where} hover value", value))
                if re.search(r"%\{[xy]\|[^}]*%[bB]", item):
                    shown.problems.append(f"{where}: hover shows Plotly's English month names ({item!r})")
        for text in trace.get("hovertext") or []:
            if isinstance(text, str):
                shown.dates.append((f"{where} hover text", text))
        for letter in "xy":
            values = trace.get(letter)
            axis_name = (trace.get(f"{letter}axis") or letter).replace(letter, f"{letter}axis", 1)
            axis = axes.get(axis_name, {})
            if isinstance(values, list) and as_dates(values) is not None and axis.get("type") not in (
                    "category", "multicategory", "linear", "log") and not axis.get("ticktext"):
                shown.problems.append(f"{where}: a date axis ({axis_name}) without ticks in the language "
                                      "(Plotly would write English months)")


# ----------------------------------------------------------------------------------------- the checks

def problems_of(shown: Shown) -> list[str]:
    problems = list(shown.problems)
    for where, text in shown.all_text():
        if text in STREAMLIT_ENGLISH or any(s in text for s in STREAMLIT_ENGLISH):
            problems.append(f"{where}: Streamlit's English {text!r}")
    for where, text in shown.labels:
        plain = text.strip().strip("*").strip()
        if plain in ENGLISH_LABELS:
            problems.append(f"{where}: English label {text!r}")
        if plain in DATABASE_NAMES or plain in TABLE_NAMES or (IDENTIFIER.fullmatch(plain) and plain not in DATA):
            problems.append(f"{where}: database name {text!r}")
    for where, text in shown.all_text():
        for phrase in ENGLISH_PHRASES:
            if phrase in text:
                problems.append(f"{where}: English phrase {phrase!r} in {text!r}")
        for name in ("postal_code", "age_group", "created_at", "ordered_at", "customer_id", "answered_at",
                     "missing columns"):
            if name in text:
                problems.append(f"{where}: {name!r} in {text!r}")
        if MONTH_EN.search(text) and ENGLISH_ONLY_MONTH.search(text):
            problems.append(f"{where}: English month in {text!r}")
    for where, text in shown.cells:
        if text in TABLE_NAMES:
            problems.append(f"{where}: table name {text!r}")
        if any(name in text for name in ("created_at", "postal_code", "ordered_at", "customer_id",
                                         "missing columns", "malformed row", "unparseable")):
            problems.append(f"{where}: database name or English reason in {text!r}")
    for where, text in shown.dates:
        if ENGLISH_ONLY_MONTH.search(text):
            problems.append(f"{where}: English month {text!r}")
    return problems


# ----------------------------------------------------------------------------------------- the runs

@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = demo_database(tmp_path_factory.mktemp("german"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLM_DATABASE", str(path))
        yield path


def run_page(page: str, params: dict, lang: str = "de") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = page
    at.query_params["lang"] = lang
    for key, value in {**FILTER, **params}.items():
        at.query_params[key] = value
    return at.run()


def test_the_lists_of_english_texts_are_the_apps_own():
    assert "Choose options" not in ENGLISH  # Streamlit's, checked apart
    assert {"Customers", "Download CSV", "Stage"} <= ENGLISH_LABELS
    assert "malformed row" not in ENGLISH_PHRASES  # codes in the database, not interface texts
    assert len(ENGLISH_PHRASES) > 100


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_in_german(demo_db, name):
    at = run_page(name.split("_")[0], PAGES[name])
    assert not at.exception, at.exception
    shown = collect(at)
    assert len(shown.labels) > 20  # the page was drawn
    problems = problems_of(shown)
    assert not problems, "\n".join(problems[:40])


def test_switching_the_language_relabels_the_page_in_the_same_run(demo_db):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = "overview"
    at.run()
    period = next(s for s in at.selectbox if s.key == "w.overview.period")
    assert period.proto.options[0] == "30 days"
    at.selectbox(key="w.lang").set_value("de").run()
    assert not at.exception
    period = next(s for s in at.selectbox if s.key == "w.overview.period")
    assert period.proto.options[0] == "30 Tage"
    # the browser keeps a select box's value as the label it showed ("30 days", no option any more) unless
    # the server sends the value again: it must, in the new language
    assert period.proto.set_value and period.proto.raw_value == "30 Tage"
    assert period.value == 30


BROKEN = (
    "Kundennummer;Anmeldedatum;Stadt;Postleitzahl\r\n"
    "000123;01.02.2024;Köln;50667\r\n"
    "000124;31.02.2024;Köln;50667\r\n"
    ";01.03.2024;Graz;8010\r\n"
    "000126;02.03.2024;Bonn\r\n"
).encode("cp1252")


def test_the_data_page_and_its_ingest_report_in_german(demo_db, tmp_path):
    con = store.connect(demo_db)
    dataset = store.create_dataset(con, "Upload")
    report = ingest.load(dataset, {"customers": BROKEN}, names={"customers": "kunden.csv"})
    con.disconnect()
    assert report.tables["customers"].rows_rejected == 3
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["page"] = "data"
    at.query_params["lang"] = "de"
    at.session_state["data.report"] = {"report": report, "dataset": "Upload", "dataset_id": dataset.id,
                                       "time": "10:15"}
    at.run()
    assert not at.exception, at.exception
    shown = collect(at)
    reasons = [text for where, text in shown.cells if "„" in text]
    assert "„Anmeldedatum“ ist kein lesbares Datum: 31.02.2024" in reasons  # the file's own column, in German
    assert "„Kundennummer“ fehlt" in reasons
    assert "fehlerhafte Zeile (zu wenige Spalten)" in [text for where, text in shown.cells]
    assert "Kunden" in [text for where, text in shown.cells]
    problems = problems_of(shown)
    assert not problems, "\n".join(problems[:40])
