"""Uploads before loading: table guessing, detected formats, the preview read by DuckDB, the report frames."""

from __future__ import annotations

import io

import pytest

from clm_core import ingest, schema, store, upload

GERMAN = (
    "Belegnummer;Kundennummer;Bestelldatum;Betrag;Warengruppe;Filiale\r\n"
    "T1;000123;01.02.2024;12,50;Bücher;Köln\r\n"
    "T2;000123;02.02.2024 10:30;1.234,50;Spiele;Düsseldorf\r\n"
    "T3;000124;05.03.2024;-4,50 €;Bücher;Straße 1\r\n"
)


@pytest.mark.parametrize("headers, expected", [
    (["customer_id", "created_at", "channel", "country"], "customers"),
    (["CustomerID", "InvoiceNo", "InvoiceDate", "Revenue", "Country"], "transactions"),
    (["customer_id", "occurred_at", "event", "source"], "events"),
    (["customer_id", "answered_at", "score", "comment"], "nps"),
    (["customer_id", "campaign", "sent_at", "group", "channel", "cost"], "campaigns"),
    (["Kundennummer", "Anlagedatum", "Kanal", "Land", "PLZ", "Ort"], "customers"),
    (["Belegnummer", "Kundennummer", "Bestelldatum", "Betrag", "Warengruppe"], "transactions"),
    (["Kunden-ID", "Zeitpunkt", "Ereignis"], "events"),
    (["Kundennummer", "Antwortdatum", "Bewertung", "Kommentar"], "nps"),
    (["Kundennummer", "Kampagne", "Versanddatum", "Gruppe", "Kosten"], "campaigns"),
])
def test_table_is_guessed_from_english_and_german_headers(headers, expected):
    assert upload.guess_table(headers) == expected


def test_guess_prefers_the_table_whose_required_columns_all_map():
    # "Datum" and "Kundennummer" fit nps, events, transactions and campaigns partly; only the
    # score makes nps complete, and customers (only the id) maps fewer columns.
    assert upload.table_scores(["Kundennummer", "Datum", "Punkte"])["nps"] == (True, 3)
    assert upload.guess_table(["Kundennummer", "Datum", "Punkte"]) == "nps"
    assert upload.guess_table(["Kundennummer", "Datum"]) == "customers"  # only customers is complete
    assert upload.guess_table(["Datum", "Betrag"]) is None  # no customer id: nothing fits


def test_file_name_breaks_a_tie():
    headers = ["customer_id", "date", "event", "score"]  # events and nps both fit with 3 columns
    assert upload.table_scores(headers)["events"] == upload.table_scores(headers)["nps"] == (True, 3)
    assert upload.guess_table(headers) == "events"  # DESIGN order
    assert upload.guess_table(headers, "NPS_export.csv") == "nps"
    assert upload.guess_table(headers, "events_2024.csv") == "events"


def test_preview_of_a_windows_1252_semicolon_file_with_umlauts():
    data = GERMAN.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    found = upload.inspect(data, "export.csv")
    assert (found.guessed, found.table) == ("transactions", "transactions")
    assert (found.encoding, found.delimiter, found.decimal) == ("cp1252", ";", ",")
    assert found.date_formats == {"ordered_at": "dd.mm.yyyy"}
    preview = found.preview()
    assert list(preview.columns) == ["Belegnummer", "Kundennummer", "Bestelldatum", "Betrag", "Warengruppe", "Filiale"]
    assert preview["Warengruppe"].tolist() == ["Bücher", "Spiele", "Bücher"]
    assert preview["Filiale"].tolist() == ["Köln", "Düsseldorf", "Straße 1"]
    assert preview["Kundennummer"].tolist() == ["000123", "000123", "000124"]  # text, zeros kept
    assert preview["Betrag"].tolist() == ["12,50", "1.234,50", "-4,50 €"]
    assert found.sniffed.mapping == {"Belegnummer": "transaction_id", "Kundennummer": "customer_id",
                                     "Bestelldatum": "ordered_at", "Betrag": "amount", "Warengruppe": "category"}
    assert found.sniffed.attributes == ["Filiale"]


def test_preview_of_utf8_with_bom_and_comma_decimal_in_quotes():
    text = 'customer_id,ordered_at,amount\n"7","2024-01-02","1,5"\n"8","2024-01-03","2,25"\n'
    found = upload.inspect(("\ufeff" + text).encode("utf-8"), "t.csv")
    assert (found.encoding, found.delimiter, found.decimal) == ("utf-8-sig", ",", ",")
    assert found.preview().columns[0] == "customer_id"
    assert found.preview()["amount"].tolist() == ["1,5", "2,25"]


def test_decimal_point_and_iso_dates_in_a_comma_file():
    text = "customer_id,ordered_at,amount\n1,2024-01-02,1234.5\n2,2024-01-03,-3.25\n"
    found = upload.inspect(text.encode(), "t.csv")
    assert (found.delimiter, found.decimal, found.date_formats) == (",", ".", {"ordered_at": "yyyy-mm-dd"})


def test_preview_is_limited_and_reads_only_the_head():
    lines = "".join(f"{i};2024-01-01;{i},5\n" for i in range(50_000))
    data = ("Kundennummer;Datum;Betrag\n" + lines).encode()
    part = upload.head(data, 1000)
    assert len(part) <= 1000 and part.endswith(b"\n")
    assert upload.head(io.BytesIO(data), 1000) == part
    found = upload.inspect(data, "big.csv")
    assert len(found.preview()) == upload.PREVIEW_ROWS
    assert len(found.sample) == upload.SAMPLE_ROWS


def test_ambiguous_dates_are_reported_not_raised():
    text = "customer_id;answered_at;score\n1;01/02/2024;9\n2;03/04/2024;7\n"
    found = upload.inspect(text.encode(), "nps.csv")
    assert found.table == "nps"
    assert "mm/dd/yyyy or dd/mm/yyyy" in found.problem


def test_chosen_table_and_mapping_choices_change_the_sniffed_mapping():
    text = "Kunde;Wann;Was;Kanal\n1;01.02.2024;login;web\n"
    found = upload.inspect(text.encode(), "x.csv")
    assert found.guessed == "customers"  # Kunde -> customer_id, Kanal -> channel
    chosen = upload.inspect(text.encode(), "x.csv", "events", {"Wann": "occurred_at", "Was": "event"})
    assert chosen.table == "events" and chosen.guessed == "customers"
    assert chosen.sniffed.mapping == {"Wann": "occurred_at", "Was": "event", "Kunde": "customer_id"}
    assert chosen.date_formats == {"occurred_at": "dd.mm.yyyy"}
    skipped = upload.inspect(text.encode(), "x.csv", "__skip__")
    assert skipped.table is None and skipped.sniffed is None


def test_mapping_problems():
    headers = ["Kunde", "Datum", "Betrag", "Kanal"]
    ok = {"Kunde": "customer_id", "Datum": "ordered_at", "Betrag": "amount", "Kanal": upload.ATTRIBUTE}
    assert upload.mapping_problems("transactions", headers, ok) == {"missing": [], "duplicate": []}
    missing = {"Kunde": "customer_id", "Datum": upload.ATTRIBUTE, "Betrag": "amount", "Kanal": upload.ATTRIBUTE}
    # Datum is a synonym of ordered_at: kept as attribute, it is not the order date, which is then missing
    assert upload.mapping_problems("transactions", headers, missing) == {"missing": ["ordered_at"], "duplicate": []}
    no_date = ["Kunde", "Tag", "Betrag"]
    choices = {"Kunde": "customer_id", "Tag": upload.ATTRIBUTE, "Betrag": "amount"}
    assert upload.mapping_problems("transactions", no_date, choices)["missing"] == ["ordered_at"]
    twice = {"Kunde": "customer_id", "Tag": "ordered_at", "Betrag": "ordered_at"}
    problems = upload.mapping_problems("transactions", no_date, twice)
    assert problems["duplicate"] == ["ordered_at"] and problems["missing"] == ["amount"]


def test_explicit_mapping_passes_keep_as_attribute_as_none():
    choices = {"Kunde": "customer_id", "Anmeldedatum": upload.ATTRIBUTE, "Kanal": None, "Farbe": "segment"}
    assert upload.explicit_mapping(choices) == {"Kunde": "customer_id", "Anmeldedatum": None, "Kanal": None,
                                                "Farbe": "segment"}
    headers = list(choices)
    # without the choices the synonyms map Anmeldedatum and Kanal; with them the two stay attributes
    assert schema.propose_mapping("customers", headers) == {"Kunde": "customer_id", "Anmeldedatum": "created_at",
                                                             "Kanal": "channel"}
    assert upload.effective_mapping("customers", headers, choices) == {"Kunde": "customer_id", "Farbe": "segment"}
    found = upload.inspect("Kunde;Anmeldedatum;Kanal;Farbe\n1;01.02.2024;Web;rot\n".encode(), "crm.csv",
                           "customers", choices)
    assert found.sniffed.mapping == {"Kunde": "customer_id", "Farbe": "segment"}
    assert found.sniffed.attributes == ["Anmeldedatum", "Kanal"]
    assert found.date_formats == {}  # no date column any more


def test_same_reading_says_when_the_first_inspection_already_describes_the_choices():
    """The Data page inspects an upload once for the guess; a second inspection with the table and the choices
    is needed only when they read the file differently (and gives the same result where it is not)."""
    data = GERMAN.encode("cp1252")
    base = upload.inspect(data, "umsatz.csv")
    proposal = {h: base.sniffed.mapping.get(h, upload.ATTRIBUTE) for h in base.headers}
    assert base.table == "transactions" and upload.same_reading(base, "transactions", proposal)
    again = upload.inspect(data, "umsatz.csv", "transactions", proposal)
    assert (again.sniffed, again.decimal, again.date_formats, again.problem) == (
        base.sniffed, base.decimal, base.date_formats, base.problem)
    assert again.sample.equals(base.sample)
    kept = {**proposal, "Bestelldatum": upload.ATTRIBUTE, "Filiale": "ordered_at"}
    assert not upload.same_reading(base, "transactions", kept)
    other = upload.inspect(data, "umsatz.csv", "transactions", kept)
    assert other.sniffed.mapping["Filiale"] == "ordered_at" and "Bestelldatum" in other.sniffed.attributes
    assert not upload.same_reading(base, "customers", {})
    assert not upload.same_reading(upload.inspect(data, "umsatz.csv", "__skip__"), "transactions", proposal)


def test_a_synonym_kept_as_attribute_loads_as_an_attribute(con):
    """{header: None} reaches ingest.load and keeps a recognised header as a text attribute under its own
    name; a header that is a canonical column's own name gets a suffix, so that it cannot pass for that column."""
    text = ("Kundennr.;Anmeldedatum;Kanal;created_at\r\n"
            "000123;01.02.2024;Web;gestern\r\n"
            "000124;15.03.2024;Filiale;\r\n").encode("cp1252")
    choices = {"Kundennr.": "customer_id", "Anmeldedatum": upload.ATTRIBUTE, "Kanal": "channel",
               "created_at": upload.ATTRIBUTE}
    dataset = store.create_dataset(con, "kept")
    report = ingest.load(dataset, {"customers": text}, mapping={"customers": upload.explicit_mapping(choices)})
    assert report.summary()["rows_loaded"].tolist() == [2]
    assert report.tables["customers"].sniffed.attributes == ["Anmeldedatum", "created_at"]
    customers = dataset.table("customers").order_by("customer_id").execute()
    assert customers.columns.tolist() == ["customer_id", "channel", "Anmeldedatum", "created_at_2"]
    assert customers["Anmeldedatum"].tolist() == ["01.02.2024", "15.03.2024"]  # text, as in the file
    assert customers["created_at_2"].tolist()[0] == "gestern"
    assert customers["channel"].tolist() == ["Web", "Filiale"]
    # without the choice the synonym maps it: Anmeldedatum is the created date
    again = store.create_dataset(con, "mapped")
    ingest.load(again, {"customers": "Kundennr.;Anmeldedatum\r\n000123;01.02.2024\r\n".encode()})
    assert again.table("customers").columns == ("customer_id", "created_at")


def test_report_frames_after_a_real_load(con):
    dataset = store.create_dataset(con, "up")
    broken = GERMAN + "T4;000125;31.02.2024;5,00;Bücher;Bonn\r\nT5;;01.03.2024;x;Bücher;Bonn\r\n"
    report = ingest.load(dataset, {"transactions": broken.encode("cp1252")}, names={"transactions": "export.csv"})
    found = upload.detected(report)
    row = found.iloc[0].to_dict()
    assert row == {"table": "transactions", "file": "export.csv", "encoding": "Windows-1252", "delimiter": ";",
                   "decimal": ",", "date_formats": "ordered_at: dd.mm.yyyy", "attributes": "Filiale"}
    rejected = upload.rejected_rows(report)
    assert rejected[["table", "line"]].values.tolist() == [["transactions", 5], ["transactions", 6]]
    assert rejected["reason"].iloc[0].startswith("unparseable ordered_at")
    assert rejected["reason"].iloc[1] == "missing customer_id"
    assert "Filiale" in rejected.columns and rejected["Filiale"].tolist() == ["Bonn", "Bonn"]
    assert upload.rejected_rows(ingest.IngestReport()).columns.tolist() == ["table", "line", "reason"]


# --------------------------------------------------------------------------- header synonyms (issue 7, item 4)

@pytest.mark.parametrize("table, header, canonical", [
    # customers: the created date of German and English CRM exports
    ("customers", "Anmeldedatum", "created_at"),
    ("customers", "Registrierungsdatum", "created_at"),
    ("customers", "Kunde seit", "created_at"),
    ("customers", "Erstellt am", "created_at"),
    ("customers", "Angelegt am", "created_at"),
    ("customers", "Signup Date", "created_at"),
    ("customers", "Sign-up date", "created_at"),
    ("customers", "Registration Date", "created_at"),
    ("customers", "Customer Since", "created_at"),
    ("customers", "Created", "created_at"),
    ("customers", "Kundennr.", "customer_id"),
    ("customers", "Kundennr", "customer_id"),
    ("customers", "Kunden-Nr.", "customer_id"),
    ("customers", "Kanal", "channel"),
    ("customers", "Stadt", "city"),
    ("customers", "Ort", "city"),
    ("customers", "Stadt/Ort", "city"),
    ("customers", "PLZ", "postal_code"),
    ("customers", "Postleitzahl", "postal_code"),
    ("customers", "Land", "country"),
    ("customers", "Segment", "segment"),
    # transactions
    ("transactions", "Kunden-Nr.", "customer_id"),
    ("transactions", "Bestellwert", "amount"),
    ("transactions", "Umsatz", "amount"),
    ("transactions", "Bruttobetrag", "amount"),
    ("transactions", "Nettobetrag", "amount"),
    ("transactions", "Rechnungsbetrag", "amount"),
    ("transactions", "Order Total", "amount"),
    ("transactions", "Order Value", "amount"),
    ("transactions", "Bestellnummer", "transaction_id"),
    ("transactions", "Auftragsnummer", "transaction_id"),
    ("transactions", "Rechnungsdatum", "ordered_at"),
    ("transactions", "Auftragsdatum", "ordered_at"),
    # nps
    ("nps", "Bewertung", "score"),
    ("nps", "Weiterempfehlung", "score"),
    ("nps", "Empfehlungswert", "score"),
    ("nps", "NPS-Wert", "score"),
    ("nps", "Rating", "score"),
    ("nps", "Recommendation Score", "score"),
    # campaigns
    ("campaigns", "Kampagne", "campaign"),
    ("campaigns", "Versanddatum", "sent_at"),
    ("campaigns", "Gruppe", "group"),
    ("campaigns", "Kanal", "channel"),
])
def test_each_synonym_maps_to_its_column_of_its_table(table, header, canonical):
    assert schema.propose_mapping(table, [header]) == {header: canonical}
    # case, spaces and punctuation do not matter
    shouted = header.upper().replace(" ", "_")
    assert schema.propose_mapping(table, [f" {shouted} "]) == {f" {shouted} ": canonical}


@pytest.mark.parametrize("table, header", [
    ("customers", "Datum"),  # which date? not the created date of a customer
    ("customers", "Versanddatum"),
    ("transactions", "Versanddatum"),  # the shipping date is not the order date
    ("transactions", "Anmeldedatum"),
    ("transactions", "Kunde seit"),
    ("events", "Anmeldedatum"),
    ("nps", "Anmeldedatum"),
    ("nps", "Bestellwert"),
    ("campaigns", "Rechnungsdatum"),
])
def test_a_synonym_of_one_table_maps_nothing_in_another(table, header):
    assert schema.propose_mapping(table, [header]) == {}


def test_no_synonym_names_two_columns_of_one_table():
    for table, cols in schema.TABLE_COLUMNS.items():
        owner: dict[str, str] = {}
        for col in cols:
            for synonym in (schema.normalise_header(col.name), *col.synonyms):
                assert synonym == schema.normalise_header(synonym), (table, synonym)  # written normalised
                assert owner.setdefault(synonym, col.name) == col.name, (table, synonym, owner[synonym], col.name)


def test_a_german_crm_customer_export_is_recognised_completely():
    headers = ["Kunden-Nr.", "Anmeldedatum", "Kanal", "Segment", "Stadt/Ort", "PLZ", "Land", "Lieblingsfarbe"]
    assert upload.guess_table(headers) == "customers"
    assert schema.propose_mapping("customers", headers) == {
        "Kunden-Nr.": "customer_id", "Anmeldedatum": "created_at", "Kanal": "channel", "Segment": "segment",
        "Stadt/Ort": "city", "PLZ": "postal_code", "Land": "country"}


def test_german_order_and_survey_exports_are_recognised():
    orders = ["Auftragsnummer", "Kundennr.", "Rechnungsdatum", "Versanddatum", "Bestellwert"]
    assert upload.guess_table(orders) == "transactions"
    assert schema.propose_mapping("transactions", orders) == {
        "Auftragsnummer": "transaction_id", "Kundennr.": "customer_id", "Rechnungsdatum": "ordered_at",
        "Bestellwert": "amount"}  # Versanddatum stays an attribute
    survey = ["Kundennr", "Befragungsdatum", "Weiterempfehlung", "Bewertung", "Kommentar"]
    assert upload.guess_table(survey) == "nps"
    # the recommendation (0-10) wins over a general rating; the rating stays an attribute
    assert schema.propose_mapping("nps", survey)["Weiterempfehlung"] == "score"
    assert "Bewertung" not in schema.propose_mapping("nps", survey)
    # one net and one gross amount: the net amount is the revenue
    assert schema.propose_mapping("transactions", ["Kunde", "Datum", "Bruttobetrag", "Nettobetrag"])[
        "Nettobetrag"] == "amount"
