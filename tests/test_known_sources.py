"""Why the Overview counts more customers than the customers file has rows (issue 11, item 8: "5.020 customers"
on the Overview, "5.000" on the funnel and in the upload report): customers that appear only in transactions,
NPS answers or events are created implicitly (DESIGN §2); the Customers card's help says so, with the numbers."""

from __future__ import annotations

import datetime as dt

from clm_core import demo, ingest, store
from clm_core.filters import SegmentFilter
from clm_core.i18n import format_number
from clm_core.metrics import funnel, stages

from apptest import page_opener

CUSTOMERS = b"customer_id,created_at,segment\nA,2024-01-01,x\nB,2024-01-02,y\nC,2024-03-01,x\n"
TRANSACTIONS = (b"customer_id,ordered_at,amount\n"
                b"A,2024-02-01,5\n"
                b"Z,2024-02-02,7\n"  # Z and Y: no customers row
                b"Y,2024-04-03,1\n")
NPS = b"customer_id,answered_at,score\nX,2024-02-10,9\n"  # X: only an answer


def test_known_sources_counts_the_file_and_the_implicit_customers(con):
    dataset = store.create_dataset(con, "sources")
    ingest.load(dataset, {"customers": CUSTOMERS, "transactions": TRANSACTIONS, "nps": NPS})
    # on 2024-04-03: A, B, C from the file; Z, Y, X known only from transactions and the answer
    assert stages.known_sources(dataset) == {"known": 6, "listed": 3, "implicit": 3}
    assert stages.known_sources(dataset)["known"] == stages.known_count(dataset)
    # on 2024-02-05: C (created 03-01), Y (04-03) and X (answered 02-10) are not known yet
    assert stages.known_sources(dataset, dt.date(2024, 2, 5)) == {"known": 3, "listed": 2, "implicit": 1}
    # the stage distribution counts the same customers
    assert int(stages.stage_distribution(dataset)["customers"].sum()) == 6
    # a segment filter: only the file's customers have a segment
    assert stages.known_sources(dataset, segment=SegmentFilter({"segment": ("x",)})) == {
        "known": 2, "listed": 2, "implicit": 0}


def test_on_the_demo_the_difference_is_the_customers_without_a_row(con, tmp_path):
    """The demo leaves 0.4 % of the customers out of customers.csv: the Overview's count is the file's rows plus
    those, and the funnel's first step ("created") counts the file's rows."""
    paths = demo.write_demo(tmp_path / "demo", n_customers=1000, seed=5)
    dataset = store.create_dataset(con, "demo")
    report = ingest.load(dataset, paths)
    rows = int(report.summary().set_index("table").loc["customers", "rows_loaded"])
    assert rows == 1000
    sources = stages.known_sources(dataset)
    assert sources == {"known": 1004, "listed": 1000, "implicit": 4}
    assert int(stages.stage_distribution(dataset)["customers"].sum()) == 1004
    steps = funnel.funnel(dataset, ["created", "first_purchase"])
    assert int(steps["customers"].iloc[0]) == 1000


open_page = page_opener("overview")


def test_the_customers_card_explains_what_it_counts(demo_db, database):
    con = store.connect(database)
    try:
        dataset = store.list_datasets(con)[0]
        sources = stages.known_sources(dataset)
    finally:
        con.disconnect()
    assert sources["implicit"] > 0 and sources["listed"] == 300  # the small demo: one customer without a row
    at = open_page()
    assert not at.exception
    card = at.metric[0]
    assert card.label == "Customers"
    assert card.value == format_number(sources["known"], "en")
    assert card.help == (f"All customers known on the as-of date, prospects included: {sources['listed']} from the "
                         f"customers file and {sources['implicit']} that appear only in transactions, NPS answers or "
                         "events (created automatically). The upload report and the funnel’s “Created” step count "
                         "the customers file only.")
    german = open_page(lang="de")
    assert german.metric[0].help.startswith(f"Alle am Stichtag bekannten Kunden, Interessenten eingeschlossen: "
                                            f"{sources['listed']} aus der Kundendatei und {sources['implicit']}, die "
                                            "nur in Transaktionen")


def test_without_implicit_customers_the_help_says_so(database, tmp_path):
    con = store.connect(database)
    try:
        dataset = store.create_dataset(con, "Plain")
        # as-of date 2024-03-05: all three rows of the file are known (C was created on 2024-03-01)
        ingest.load(dataset, {"customers": CUSTOMERS, "transactions": b"customer_id,ordered_at,amount\nA,2024-03-05,5\n"})
    finally:
        con.disconnect()
    at = open_page()
    assert not at.exception
    assert at.metric[0].value == "3"
    assert at.metric[0].help == "All customers known on the as-of date, prospects included."
