"""Fuzzing the loader with Hypothesis: whatever bytes arrive as a CSV file, ``ingest.load`` into a loaded
dataset returns a consistent report or raises one IngestError line naming the file, within a time bound,
and a refused file leaves the dataset exactly as it was.

Reproducible (``derandomize=True``, no example database) and bounded (60 examples, well under a minute).
"""

from __future__ import annotations

import datetime as dt
import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clm_core import ingest, store
from clm_core.ingest import IngestError

NAME = "fuzz.csv"
BASE = b"customer_id,ordered_at,amount\nA,2024-01-01,5\nB,2024-01-02,7\nA,2024-02-01,3\n"
REQUIRED = {"transactions": ["customer_id", "ordered_at", "amount"], "nps": ["customer_id", "answered_at", "score"],
            "customers": ["customer_id"]}
MAGIC = [b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"\x1f\x8b\x08\x00", b"%PDF-1.4\n", b"\xff\xd8\xff\xe0", b"\xff\xfe",
         b"\xfe\xff", b"\xef\xbb\xbf", b""]

cells = st.one_of(
    st.sampled_from(["A", "000123", " B ", "", "2024-01-01", "01.02.2024", "03/04/2024", "2024-13-01", "0001-01-01",
                     "9999-12-31", "5", "-4,50", "1.234,50", "1,234.50", "1e308", "-1e308", "nan", "inf", "-0",
                     "1e12", "7.5", "10", "11", "€ 12", "treatment", "x\x00y", "\x00", "2\x00", '"', '""', "a\nb",
                     "a\r\nb", ";", ",", "\t", "|", "=1+1", "\ufeff", "Bücher", "日本", "\U0001f600", "\u2028"]),
    st.text(max_size=12),
    st.integers(min_value=1, max_value=4).map(lambda k: "x" * 10 ** (k + 2)),  # huge fields up to 100 kB
)


#: Plausible values per column: most cells are one of these, so that many files load and their bad rows
#: are rejected (rather than every file being refused).
PLAUSIBLE = {
    "customer_id": ["A", "B", "000123", "C9"], "ordered_at": ["2024-01-05", "2023-12-31 10:00", "2024-02-29"],
    "answered_at": ["2024-01-05", "2024-03-01"], "created_at": ["2023-01-01", "2022-06-30"],
    "amount": ["12.5", "-3", "100", "0.99"], "score": ["0", "7", "10"], "quantity": ["1", "3"], "margin": ["0.3"],
}


def cell(header: str):
    plausible = st.sampled_from(PLAUSIBLE.get(header, ["x", "DE", "1"]))
    return st.one_of(plausible, plausible, plausible, cells)


@st.composite
def csv_files(draw) -> tuple[str, bytes]:
    """(table, file content): a CSV export with hostile details, or random bytes."""
    table = draw(st.sampled_from(["transactions", "transactions", "nps", "customers"]))
    if draw(st.integers(0, 9)) == 0:  # random binary, perhaps behind a known magic number
        return table, draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=3000))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    headers = list(REQUIRED[table])
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    headers += draw(st.lists(st.sampled_from(["quantity", "margin", "Kategorie", "", "amount", "__reason",
                                              "CUSTOMER_ID", "x\x00", "a;b", 'q"q', "created_at"]), max_size=4))
    wide = draw(st.sampled_from([0, 0, 0, 0, 0, 0, 497 - len(headers), 498 - len(headers), 5000]))
    headers += [f"w{i}" for i in range(max(wide, 0))]
    if draw(st.integers(0, 7)) == 0:
        headers.pop(draw(st.integers(0, len(headers) - 1)))  # a required column missing
    width = len(headers) if not wide else 4
    whole = st.tuples(*(cell(h) for h in headers[:width])).map(list)
    rows = draw(st.lists(st.one_of(whole, whole, whole, st.lists(cells, max_size=width + 2)),  # mostly whole rows
                         max_size=8 if not wide else 2))
    quote_all = draw(st.booleans())

    def field(value: str) -> str:
        if quote_all or any(c in value for c in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [delimiter.join(field(h) for h in headers)]
    for row in rows:
        if not wide:
            lines.append(delimiter.join(field(v) for v in row))
        else:  # wide rows: the drawn cells, then filler (drawing 5,000 cells would be slow)
            lines.append(delimiter.join([field(v) for v in row] + ["v"] * (len(headers) - len(row))))
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(1, len(lines))), '"unbalanced' + delimiter + "quote")
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-16-le", "utf-16-be"]))
    content = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 7)) == 0:
        content = gzip.compress(content)
    return table, content


def snapshot(dataset) -> tuple:
    """The dataset's version and the rows of its loaded tables (as sorted text)."""
    tables = {}
    for name in ("transactions", "customers", "nps", "customer_index"):
        if dataset.has(name):
            frame = dataset.table(name).execute().astype(str)
            tables[name] = sorted(map(tuple, frame.values.tolist()))
    return store.get_dataset(dataset.con, dataset.id).version, tables


def test_any_bytes_give_a_report_or_one_line_and_a_refusal_changes_nothing(tmp_path):
    con = store.connect(":memory:")
    try:
        dataset = store.create_dataset(con, "fuzz")
        ingest.load(dataset, {"transactions": BASE, "customers": b"customer_id,country\nA,DE\nZ,AT\n"})
        state = {"before": snapshot(dataset)}

        @settings(max_examples=60, derandomize=True, database=None, deadline=dt.timedelta(seconds=20),
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
        @given(csv_files())
        def check(case):
            table, content = case
            try:
                report = ingest.load(dataset, {table: content}, names={table: NAME})
            except IngestError as exc:
                message = str(exc)
                assert message.startswith(NAME) and "\n" not in message and "\r" not in message
                assert "Traceback" not in message and len(message) <= ingest.MAX_MESSAGE
                assert snapshot(dataset) == state["before"]
                return
            loaded = report.tables[table]
            assert loaded.rows_loaded + loaded.rows_rejected == loaded.rows_read
            assert 0 < loaded.rows_loaded
            assert dataset.table(table).count().execute() == loaded.rows_loaded
            assert len(loaded.rejected) == min(loaded.rows_rejected, ingest.MAX_LISTED_REJECTS)
            assert all(isinstance(r, str) and r for r in loaded.rejected["reason"])
            state["before"] = snapshot(dataset)

        check()
    finally:
        con.disconnect()
