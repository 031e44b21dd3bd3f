"""Uploaded CSV files before they are loaded: which table, what was detected, the first rows.

The Data page shows, for each uploaded file, the table it most likely holds
(from its headers), the delimiter, encoding, decimal separator and date formats
found in its first rows, the header mapping the loader will apply, and a
preview. Everything here works on the head of the file (a few MB), so a large
upload is not copied on every rerun; :func:`clm_core.ingest.load` reads the
whole file and is the authority on what is loaded.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Union

import duckdb
import pandas as pd

from clm_core import ingest, schema

#: The largest upload in MB: Streamlit's ``server.maxUploadSize`` in .streamlit/config.toml says the same
#: (tests/test_ingest_hostile.py checks it), and the Data page states it. A gzip or zip upload may unpack to
#: more (up to ``ingest.MAX_DECOMPRESSED_BYTES``).
MAX_UPLOAD_MB = 1024
HEAD_BYTES = 4 << 20  # what is inspected before loading
PREVIEW_ROWS = 10
SAMPLE_ROWS = 2_000  # rows the formats are detected on before loading (the loader uses more)

#: The choice "no canonical column": the header is kept as a customer attribute.
ATTRIBUTE = ""

ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "cp1252": "Windows-1252",
             "utf-16-le": "UTF-16 LE", "utf-16-be": "UTF-16 BE", "utf-32-le": "UTF-32 LE", "utf-32-be": "UTF-32 BE"}
DELIMITERS = {";": ";", ",": ",", "\t": "Tab", "|": "|"}


def head(data: Union[bytes, BinaryIO], size: int = HEAD_BYTES, sheet: str | int | None = None,
         table: str | None = None) -> bytes:
    """The first ``size`` bytes of an upload, cut after the last complete line when cut at all.

    A gzip file, or a zip archive of one CSV file (of several, the one for ``table``), gives the first bytes
    of the CSV file in it (at most ``size`` of them are unpacked); an Excel workbook (its ``sheet``, else the
    default of :mod:`clm_core.readers`) or a Parquet file the first rows written as CSV (the whole upload is
    copied to a temporary file for it); anything else, including a damaged or refused file, its own first
    bytes (:func:`ingest.sniff` then says what is wrong with it)."""
    from clm_core import readers

    if isinstance(data, Part):  # a workbook's sheet or a zip archive's CSV file for one table
        return data.head(size)
    chunk = _raw_head(data, size)
    if chunk.startswith((b"PAR1", ingest._OLE)) or readers.office_zip(chunk):  # (a zip of CSV files is not copied)
        converted = _converted_head(data, size, sheet, table)
        if converted is not None:
            return converted
    if chunk.startswith(ingest._GZIP):
        chunk = _gunzip_head(data, size) or chunk
    elif chunk.startswith(ingest._ZIP):
        chunk = _unzip_head(data, size, table) or chunk
    if len(chunk) <= size:
        return chunk
    chunk = chunk[:size]
    end = chunk.rfind(b"\n")
    return chunk[: end + 1] if end >= 0 else chunk


def _raw_head(data: Union[bytes, BinaryIO], size: int) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[: size + 1])
    position = data.tell() if hasattr(data, "tell") else None
    chunk = data.read(size + 1)
    if position is not None and hasattr(data, "seek"):
        data.seek(position)
    return chunk


def _gunzip_head(data: Union[bytes, BinaryIO], size: int) -> bytes | None:
    """The first ``size`` + 1 unpacked bytes of a gzip upload (None when it cannot be unpacked)."""
    import zlib

    stream = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    position = stream.tell() if hasattr(stream, "tell") else None
    out, total = [], 0
    try:
        unpack = zlib.decompressobj(wbits=31)
        while total <= size:
            compressed = unpack.unconsumed_tail or stream.read(1 << 16)
            if not compressed:
                break
            piece = unpack.decompress(compressed, size + 1 - total)
            out.append(piece)
            total += len(piece)
            if unpack.eof:
                break
    except zlib.error:
        return None
    finally:
        if position is not None and hasattr(stream, "seek"):
            stream.seek(position)
    return b"".join(out) if total else None


def _unzip_head(data: Union[bytes, BinaryIO], size: int, table: str | None = None) -> bytes | None:
    """The first ``size`` + 1 bytes of the one CSV file in a zip upload (None when there is none)."""
    import zipfile

    stream = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    position = stream.tell() if hasattr(stream, "tell") else None
    try:
        ingest.check_zip_directory(stream, "upload")  # before zipfile reads a directory of 200,000 entries
        with zipfile.ZipFile(stream) as archive:
            with archive.open(ingest.zip_member(archive, "upload", table)) as member:
                return member.read(size + 1)
    except Exception:  # refused, damaged, encrypted: ingest.sniff names the problem
        return None
    finally:
        if position is not None and hasattr(stream, "seek"):
            stream.seek(position)


def _converted_head(data: Union[bytes, BinaryIO], size: int, sheet, table) -> bytes | None:
    """The first rows (about ``size`` bytes) of a workbook's sheet or a Parquet file as CSV; None for
    anything else, and for a file that cannot be converted (ingest.sniff names the problem)."""
    from clm_core import readers

    with _upload_file(data) as path:
        try:
            kind = "parquet" if _raw_head(data, 4).startswith(b"PAR1") else readers.workbook_kind(path)
            if kind in (None, "ole", "encrypted"):
                return None
            out = io.BytesIO()
            if kind == "parquet":
                readers.parquet_to_csv(path, out, "upload", head_bytes=size)
            else:
                readers.excel_to_csv(path, out, "upload", sheet, table, head_bytes=size)
        except ingest.IngestError:
            return None
    return out.getvalue()


def sheets(data: Union[bytes, BinaryIO]) -> list[str]:
    """The worksheets of an Excel upload in the workbook's order (for the sheet choice); empty for any
    other file, and for a workbook that cannot be read (the loader says why)."""
    from clm_core import readers

    if not _raw_head(data, 8).startswith((ingest._OLE, b"PK\x03\x04")):
        return []
    with _upload_file(data) as path:
        try:
            return readers.sheet_names(path) if readers.workbook_kind(path) not in (None, "ole", "encrypted") else []
        except ingest.IngestError:
            return []


def kind_of(data: Union[bytes, BinaryIO]) -> str:
    """What an upload is, by its first bytes (not its name): "workbook" (an Excel or OpenDocument file, also a
    damaged or password-protected one), "parquet", "zip" (an archive of CSV files), else "text" (a CSV file,
    also gzip-compressed, or anything the loader refuses)."""
    from clm_core import readers

    chunk = _raw_head(data, 1024)
    if chunk.startswith(b"PAR1"):
        return "parquet"
    if chunk.startswith(ingest._OLE) or readers.office_zip(chunk):
        return "workbook"
    return "zip" if chunk.startswith(ingest._ZIP) else "text"


def sheet_head(data: Union[bytes, BinaryIO], sheet: str | int | None = None, size: int = HEAD_BYTES,
               name: str = "upload") -> tuple[bytes, "readers.Converted"]:
    """The first rows (about ``size`` bytes) of a workbook's ``sheet`` (else the default of
    :mod:`clm_core.readers`) as CSV, and what the conversion found: the sheet's name and its header row
    (title rows above it skipped). IngestError (one line) for a workbook or sheet that cannot be read."""
    from clm_core import readers

    with _upload_file(data) as path:
        out = io.BytesIO()
        converted = readers.excel_to_csv(path, out, name, sheet, None, head_bytes=size)
    return out.getvalue(), converted


class Part:
    """One source of an upload as the Data page loads it: a workbook's ``sheet``, or the CSV file of a zip
    archive for ``table``; a file object for :func:`ingest.load` (which reads the sheet or member named in its
    ``sheets``/table), with its own position, so that several parts of one upload can be read one after the
    other. ``known_head``: its :func:`head`, when the caller has it already (the Data page caches it)."""

    def __init__(self, upload, file_id: str, name: str, sheet: str | None = None, table: str | None = None,
                 known_head: bytes | None = None):
        self.upload, self.file_id, self.name = upload, file_id, name
        self.sheet, self.table, self.known_head = sheet, table, known_head
        self.size = getattr(upload, "size", None)
        self._position = 0

    def head(self, size: int = HEAD_BYTES) -> bytes:
        """The first rows of the sheet or member as CSV (see :func:`head`)."""
        if self.known_head is not None and size == HEAD_BYTES:
            return self.known_head
        if self.sheet is not None:
            return sheet_head(self.upload, self.sheet, size, self.name)[0]
        return head(self.upload, size, table=self.table)

    def read(self, n: int = -1) -> bytes:
        self.upload.seek(self._position)
        chunk = self.upload.read() if n is None or n < 0 else self.upload.read(n)
        self._position += len(chunk)
        return chunk

    def seek(self, position: int, whence: int = 0) -> int:
        if whence == 0:
            self._position = position
        elif whence == 1:
            self._position += position
        else:
            self._position = self.upload.seek(0, 2) + position
        return self._position

    def tell(self) -> int:
        return self._position


class _upload_file:
    """An upload (bytes or a binary file, whose position is kept) as a temporary file, removed afterwards."""

    def __init__(self, data: Union[bytes, BinaryIO]):
        self.data = data

    def __enter__(self) -> str:
        fd, self.path = tempfile.mkstemp(suffix=".upload")
        with os.fdopen(fd, "wb") as f:
            if isinstance(self.data, (bytes, bytearray, memoryview)):
                f.write(self.data)
            else:
                position = self.data.tell()
                while chunk := self.data.read(1 << 22):
                    f.write(chunk)
                self.data.seek(position)
        return self.path

    def __exit__(self, *exc) -> None:
        os.unlink(self.path)


# --------------------------------------------------------------------------- which table

def table_scores(headers: list[str]) -> dict[str, tuple[bool, int]]:
    """Per table: (all required columns map, number of headers that map) by the synonyms."""
    scores = {}
    for table in schema.TABLES:
        mapped = set(schema.propose_mapping(table, headers).values())
        required = {c.name for c in schema.columns(table) if c.required}
        scores[table] = (required <= mapped, len(mapped))
    return scores


def guess_table(headers: list[str], name: str | None = None) -> str | None:
    """The table a file with these headers most likely holds, or None when none fits.

    A table fits when all its required columns map; among those, the one with
    the most mapped columns wins, then the one whose name is in the file name,
    then the one with more required columns (the more specific), then the
    order of DESIGN §2.
    """
    scores = table_scores(headers)
    stem = (name or "").lower()
    fitting = [t for t, (ok, _) in scores.items() if ok]
    if not fitting:
        return None

    def rank(table: str):
        n_required = sum(c.required for c in schema.columns(table))
        return (scores[table][1], table in stem or table.rstrip("s") in stem, n_required, -schema.TABLES.index(table))

    return max(fitting, key=rank)


# --------------------------------------------------------------------------- mapping

def explicit_mapping(choices: dict[str, str | None]) -> dict[str, str | None]:
    """The user's choices (header -> canonical column, or ATTRIBUTE/None) as the loader's mapping: a header
    chosen as attribute becomes ``{header: None}``, which keeps it as an attribute even when its name is a
    known synonym (:func:`schema.propose_mapping`)."""
    return {h: (c or None) for h, c in choices.items()}


def effective_mapping(table: str, headers: list[str], choices: dict[str, str | None]) -> dict[str, str]:
    """Header -> canonical column as :func:`ingest.load` will apply it: the choices, then synonyms for the
    headers without a choice."""
    return schema.propose_mapping(table, headers, explicit_mapping(choices))


def mapping_problems(table: str, headers: list[str], choices: dict[str, str | None]) -> dict[str, list[str]]:
    """What stops a file from loading: ``missing`` required columns and ``duplicate`` canonical choices."""
    counts: dict[str, int] = {}
    for canonical in choices.values():
        if canonical:
            counts[canonical] = counts.get(canonical, 0) + 1
    present = set(effective_mapping(table, headers, choices).values())
    return {
        "missing": [c.name for c in schema.columns(table) if c.required and c.name not in present],
        "duplicate": sorted(c for c, n in counts.items() if n > 1),
    }


# --------------------------------------------------------------------------- reading the first rows

def read_sample(data: bytes, delimiter: str, encoding: str, n_columns: int, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first ``rows`` data rows as text (columns c0..c{n-1}), read by DuckDB's CSV reader.

    ``data`` is the file or its head; a Windows-1252 file (or one that is not
    valid UTF-8 after all) is decoded as such first, since DuckDB reads UTF-8.
    Rows DuckDB cannot read are left out here; the ingest report lists them.
    """
    db = duckdb.connect()
    try:
        _sample_table(db, data, delimiter, encoding, n_columns, rows)
        return db.execute(f"SELECT * FROM {_SAMPLE}").df()
    finally:
        db.close()


_SAMPLE = "clm_sample"  # the sample's table in the inspection's own in-memory database


def _sample_table(db, data: bytes, delimiter: str, encoding: str, n_columns: int, rows: int) -> None:
    """Temporary table _SAMPLE in ``db``: the first ``rows`` data rows as text (see :func:`read_sample`)."""
    text = _decode(head(data), encoding)
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
        columns = {f"c{i}": "VARCHAR" for i in range(n_columns)}
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SAMPLE} AS SELECT * FROM read_csv(?, delim=?, header=true, "
            "all_varchar=true, auto_detect=false, quote='\"', escape='\"', columns=?, null_padding=true, "
            f"ignore_errors=true) LIMIT {int(rows)}",
            [path, delimiter, columns],
        )
    finally:
        os.unlink(path)


def _decode(data: bytes, encoding: str) -> str:
    if encoding.startswith(("utf-16", "utf-32")):
        unit = 2 if encoding.startswith("utf-16") else 4
        data = data[: len(data) // unit * unit]  # the head may be cut inside a character
        return data.decode(encoding, errors="replace").lstrip("\ufeff")
    if encoding != "cp1252":
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    return data.decode("cp1252", errors="replace")


def detect_formats(sample: pd.DataFrame, sniffed: ingest.Sniffed) -> tuple[str | None, dict[str, str], str | None]:
    """(decimal separator, date family per canonical date column, problem) on a sample.

    Uses the loader's own detection on the sample; ``problem`` is its one-line
    message where the sample cannot decide (e.g. dd/mm or mm/dd), else None.
    """
    db = duckdb.connect()
    try:
        db.register(_SAMPLE, sample)
        return _detect(db, sniffed)
    finally:
        db.close()


def _detect(db, sniffed: ingest.Sniffed) -> tuple[str | None, dict[str, str], str | None]:
    """:func:`detect_formats` on the sample table _SAMPLE of ``db``."""
    probe = ingest.Sniffed(sniffed.table, sniffed.name, sniffed.encoding, sniffed.delimiter,
                           list(sniffed.headers), dict(sniffed.mapping))
    try:
        ingest.detect_formats(db, _SAMPLE, probe, {})
    except ingest.IngestError as exc:
        return probe.decimal, dict(probe.date_formats), str(exc)
    return probe.decimal, dict(probe.date_formats), None


@dataclass
class Inspection:
    """What is known about one uploaded file before loading it."""

    name: str
    table: str | None  # the table it is read as (guessed, or chosen)
    guessed: str | None  # the table guessed from the headers
    sniffed: ingest.Sniffed | None  # for ``table`` (None when no table is chosen)
    headers: list[str]
    encoding: str
    delimiter: str
    sample: pd.DataFrame  # first rows as text, columns named by the headers
    decimal: str | None = None
    date_formats: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def preview(self, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
        return self.sample.head(rows)


def inspect(data: bytes, name: str, table: str | None = None, choices: dict[str, str | None] | None = None,
            rows: int = SAMPLE_ROWS) -> Inspection:
    """Sniff an upload (or its head): table guess, encoding, delimiter, mapping, formats, first rows.

    ``table`` overrides the guess; ``choices`` (header -> canonical or ATTRIBUTE)
    are the user's mapping corrections. Raises :class:`ingest.IngestError` for
    a file that cannot be read at all (e.g. empty).
    """
    data = head(data)
    probe = ingest.sniff(data, schema.TABLES[0], name=name)
    guessed = guess_table(probe.headers, name)
    chosen = table if table in schema.TABLES else (None if table else guessed)
    # one in-memory database for the sample and the format detection on it (the sample is not copied back
    # from pandas; a connection costs tens of milliseconds)
    db = duckdb.connect()
    try:
        try:
            _sample_table(db, data, probe.delimiter, probe.encoding, len(probe.headers), rows)
            raw = db.execute(f"SELECT * FROM {_SAMPLE}").df()
        except duckdb.Error as exc:
            raise ingest.IngestError(f"{name}: not readable as CSV ({ingest._first_line(exc)})") from exc
        sample = raw.set_axis(probe.headers, axis=1)
        inspection = Inspection(name, chosen, guessed, None, probe.headers, probe.encoding, probe.delimiter, sample)
        if chosen is None:
            return inspection
        # what ingest.sniff(data, chosen, mapping) gives, without reading the file again: the probe's encoding,
        # delimiter and headers, the mapping for the chosen table
        sniffed = ingest.Sniffed(chosen, probe.name, probe.encoding, probe.delimiter, list(probe.headers),
                                 schema.propose_mapping(chosen, probe.headers, explicit_mapping(choices or {})))
        inspection.sniffed = sniffed
        inspection.decimal, inspection.date_formats, inspection.problem = _detect(db, sniffed)
        return inspection
    finally:
        db.close()


def same_reading(base: Inspection, table: str, choices: dict[str, str | None]) -> bool:
    """Whether reading the upload as ``table`` with ``choices`` is what ``base`` (its inspection with the guessed
    table and the synonyms) already describes: the same table and the same effective mapping, so the same
    formats. Then the Data page shows ``base`` instead of inspecting the file a second time."""
    return (base.sniffed is not None and base.table == table
            and effective_mapping(table, base.headers, choices) == base.sniffed.mapping)


# --------------------------------------------------------------------------- after loading

def detected(report: ingest.IngestReport) -> pd.DataFrame:
    """Per loaded table what the loader detected: file, encoding, delimiter, decimal, date formats."""
    rows = []
    for table, r in report.tables.items():
        s = r.sniffed
        rows.append({
            "table": table,
            "file": r.source,
            "encoding": ENCODINGS.get(s.encoding, s.encoding),
            "delimiter": DELIMITERS.get(s.delimiter, s.delimiter),
            "decimal": s.decimal or "",
            "date_formats": ", ".join(f"{c}: {f}" for c, f in s.date_formats.items()),
            "attributes": ", ".join(s.attributes),
        })
    return pd.DataFrame(rows, columns=["table", "file", "encoding", "delimiter", "decimal", "date_formats",
                                       "attributes"])


def rejected_rows(report: ingest.IngestReport) -> pd.DataFrame:
    """Every listed rejected row of every table: table, line, reason, then the row's values as text."""
    frames = []
    for table, r in report.tables.items():
        if len(r.rejected):
            frames.append(r.rejected.astype("string").assign(table=table))
    if not frames:
        return pd.DataFrame(columns=["table", "line", "reason"])
    out = pd.concat(frames, ignore_index=True)
    first = ["table", "line", "reason"]
    out["line"] = pd.to_numeric(out["line"]).astype("Int64")
    return out[first + [c for c in out.columns if c not in first]]
