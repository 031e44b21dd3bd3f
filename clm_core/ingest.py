"""CSV exports -> a dataset's tables: sniff, map headers, validate, load atomically.

A file is read by DuckDB's CSV reader as text, every value is parsed in SQL,
rows that fail a check are kept aside with their line number and reason, and
all valid rows are written. One call to :func:`load` replaces the given tables
of a dataset in one transaction: if any file is refused, nothing changes.
Loading a file again replaces that table, so data is never doubled.

Each file is read once, parsed and checked straight into its table inside the load's
transaction; the rejected rows are then deleted from it.

Hostile files are refused before the write lock is taken, in one line naming the file: images,
documents, other archives and binary files; more than MAX_COLUMNS columns. A gzip file and a zip archive
of CSV files are unpacked (to at most MAX_DECOMPRESSED_BYTES; of several, the one for the table, by its name
or header), UTF-16/UTF-32 files decoded. Excel workbooks and Parquet files are written as CSV text first
(:mod:`clm_core.readers`, found by their content whatever their name) and then read like any CSV file; a
rejected row's line is then its row in the sheet. Values
with a NUL byte, dates outside ``schema.date_bounds()`` and numbers beyond ``schema.MAX_NUMBER`` /
``schema.MAX_INTEGER`` are rejected rows.

This module is the DuckDB-specific escape hatch of the query layer (the CSV
reader, DDL and the transaction); the tables it derives are Ibis expressions.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import mmap
import os
import re
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

import duckdb
import ibis
import pandas as pd

from clm_core import schema
from clm_core.store import Dataset, changing, check_change, quote_ident, raw, writer

Source = Union[str, os.PathLike, BinaryIO, bytes]

DELIMITERS = (";", ",", "\t", "|")
SAMPLE_ROWS = 10_000
MAX_LISTED_REJECTS = 10_000
#: More columns than this are refused before anything is read (a file's columns are all parsed and kept).
MAX_COLUMNS = 500
#: Files wider than this are loaded with DuckDB's common-subexpression optimizer off (see _load_settings).
WIDE_COLUMNS = 100
#: The header row is read up to this many bytes; a longer one is refused.
HEADER_BYTES = 1 << 20
#: A gzip or zip upload may unpack to at most this many bytes (a larger one, e.g. a decompression bomb, is
#: refused while it is unpacked, streamed to a temporary file, never held in memory).
MAX_DECOMPRESSED_BYTES = 4 * 2**30
#: What :func:`sniff` unpacks of a gzip or zip file (the header row and the encoding are found in it).
SNIFF_BYTES = 4 * HEADER_BYTES
#: An IngestError's message is cut here (it names headers and file names from the file).
MAX_MESSAGE = 600
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")
#: DuckDB's memory limit while loading (unless it is lower already): the staged files, hash tables and
#: sorts beyond it spill to its temporary directory (by default ``<database file>.tmp``) instead of
#: growing the process (10M orders: ~4.7 GB without a limit).
LOAD_MEMORY_LIMIT = 1536 * 2**20

#: Date formats by family; a column's family is the one that parses most of its values.
DATE_FAMILIES: dict[str, tuple[str, ...]] = {
    "yyyy-mm-dd": ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                   "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
                   "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d"),
    "dd.mm.yyyy": ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"),
    "mm/dd/yyyy": ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"),
    "dd/mm/yyyy": ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"),
}
_NUMBER_PATTERNS = {
    ".": r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?|[+-]?\.\d+",
    ",": r"[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?|[+-]?,\d+",
}


class IngestError(ValueError):
    """A file that cannot be loaded at all; the message is one line for the user (line breaks and control
    characters of file names or headers are replaced, and it is cut at MAX_MESSAGE characters)."""

    def __init__(self, message: object = ""):
        text = " ".join(_CONTROL_CHARS.sub(" ", str(message)).split())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        super().__init__(text)


@dataclass
class Sniffed:
    """What was detected in one file before loading it."""

    table: str
    name: str
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]  # header -> canonical column
    decimal: str | None = None
    date_formats: dict[str, str] = field(default_factory=dict)  # canonical column -> family
    #: canonical column -> the family's format most sample values have (tried first, as it is ~10× faster)
    date_patterns: dict[str, str] = field(default_factory=dict)
    #: "csv", "excel" or "parquet"; for a workbook, the sheet read and its header's row
    format: str = "csv"
    sheet: str | None = None
    header_row: int = 1

    @property
    def attributes(self) -> list[str]:
        return [h for h in self.headers if h not in self.mapping]


@dataclass
class TableReport:
    table: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejected: pd.DataFrame  # line, reason, then the row's values (at most MAX_LISTED_REJECTS)
    sniffed: Sniffed


@dataclass
class IngestReport:
    tables: dict[str, TableReport] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """One row per table: table, rows_read, rows_loaded, rows_rejected."""
        rows = [(r.table, r.rows_read, r.rows_loaded, r.rows_rejected) for r in self.tables.values()]
        return pd.DataFrame(rows, columns=["table", "rows_read", "rows_loaded", "rows_rejected"])

    def rejected(self) -> pd.DataFrame:
        """All listed rejected rows: table, line, reason."""
        frames = [r.rejected[["line", "reason"]].assign(table=t) for t, r in self.tables.items()]
        if not frames:
            return pd.DataFrame(columns=["table", "line", "reason"])
        return pd.concat(frames, ignore_index=True)[["table", "line", "reason"]]


# --------------------------------------------------------------------------- files

#: What a file may start with that is not a CSV file (checked on the first bytes; gzip and zip are unpacked).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office 97-2003 document but no Excel workbook"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
    (b"\x7fELF", "a program (ELF executable)"),
)
_GZIP = b"\x1f\x8b"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
#: Byte order marks, longest first (UTF-32 LE starts like UTF-16 LE); the codec drops the mark.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le", "utf-16"),
    (b"\xfe\xff", "utf-16-be", "utf-16"),
)
#: Bytes that do not occur in text: control characters other than tab, line feed and carriage return.
_CONTROL = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20))
#: The members of a zip archive that are taken for CSV files.
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_CHUNK = 1 << 22


def _what(head: bytes) -> str | None:
    """What a file starting with ``head`` is when it is certainly not a CSV file (see _MAGIC), else None."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return "a bzip2 archive"
    if head[257:262] == b"ustar":
        return "a tar archive"
    if head[8:12] == b"DUCK":
        return "a DuckDB database"
    return None


def _looks_binary(head: bytes) -> bool:
    """A file whose first line holds control characters (NUL, ...), or whose first 64 kB hold many, is
    no CSV file (a NUL in a value further down is a rejected row instead)."""
    first = head.split(b"\n", 1)[0]
    if len(first.translate(None, _CONTROL)) != len(first):
        return True
    sample = head[: 1 << 16]
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > 8 and controls > 0.03 * len(sample)


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for text whose every other byte is NUL (ASCII in UTF-16 without a mark)."""
    sample = head[:4096]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.6 and zeros_even < 0.1:
        return "utf-16-le"
    if zeros_even > 0.6 and zeros_odd < 0.1:
        return "utf-16-be"
    return None


#: A zip archive listing more entries than this is refused before its directory is read (an upload is
#: one CSV file; 200,000 empty entries cost zipfile over a second and 200 MB on every look).
MAX_ZIP_ENTRIES = 100
#: ... and so is one whose central directory is larger than this (its entry count could understate it).
MAX_ZIP_DIRECTORY_BYTES = 1 << 18
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"


def check_zip_directory(stream: BinaryIO, name: str) -> None:
    """Refuse (IngestError, one line) a zip archive with more than MAX_ZIP_ENTRIES entries or a central
    directory of more than MAX_ZIP_DIRECTORY_BYTES, from its end-of-central-directory record alone (found
    as ``zipfile`` finds it, ZIP64 included), before ``zipfile.ZipFile`` reads the whole directory. An
    archive without that record is left to zipfile (which refuses it as damaged). ``stream`` is a seekable
    binary file; its position is kept."""
    position = stream.tell()
    try:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        start = max(0, size - (0xFFFF + 22))
        stream.seek(start)
        tail = stream.read(size - start)
        at = len(tail) - 22 if tail[-22:-18] == _EOCD else tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            return
        entries = int.from_bytes(tail[at + 10:at + 12], "little")
        directory = int.from_bytes(tail[at + 12:at + 16], "little")
        locator = start + at - 20
        if locator >= 0:
            stream.seek(locator)
            if stream.read(4) == _EOCD64_LOCATOR and locator - 56 >= 0:
                stream.seek(locator - 56)
                record = stream.read(56)
                if record[:4] == _EOCD64:  # zipfile takes the ZIP64 record's counts then
                    entries = int.from_bytes(record[32:40], "little")
                    directory = int.from_bytes(record[40:48], "little")
                elif entries == 0xFFFF:
                    raise IngestError(f"{name} is a zip archive whose number of entries cannot be read; refused")
    finally:
        stream.seek(position)
    if entries > MAX_ZIP_ENTRIES or directory > MAX_ZIP_DIRECTORY_BYTES:
        count = "65,535 or more" if entries == 0xFFFF else f"{entries:,}"
        raise IngestError(f"{name} is a zip archive of {count} entries"
                          + (f" ({directory:,} bytes of directory)" if directory > MAX_ZIP_DIRECTORY_BYTES else "")
                          + f"; at most {MAX_ZIP_ENTRIES} are read: upload a zip archive of one CSV file")


def zip_member(archive, name: str, table: str | None = None):
    """The CSV/TXT member of a zip archive (a ``zipfile.ZipFile``): its one CSV file, or of several the one
    for ``table`` (see :func:`zip_tables`); IngestError for an Office document, an archive without a CSV
    file, and one of several CSV files none (or two) of which is for ``table``."""
    files = [i for i in archive.infolist()
             if not i.is_dir() and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith(".")]
    names = [i.filename for i in files]
    if any(n.startswith("xl/") for n in names) and "[Content_Types].xml" in names:
        raise IngestError(f"{name} is an Excel workbook, not a CSV file; save it as CSV")
    if "[Content_Types].xml" in names or "mimetype" in names:
        raise IngestError(f"{name} is an Office document, not a CSV file")
    texts = [i for i in files if i.filename.lower().endswith(_TEXT_SUFFIXES)]
    if not texts:
        raise IngestError(f"{name} is a zip archive without a CSV file"
                          + (f" (it holds {_listing(names, 5)})" if names else " (it is empty)"))
    if len(texts) > 1:
        if table is None:
            raise IngestError(f"{name} is a zip archive with {len(texts)} CSV files "
                              f"({_listing([i.filename for i in texts], 5)}); upload one CSV file per zip archive")
        found = zip_tables(archive, name, texts)
        if table not in found:
            raise IngestError(f"{name} is a zip archive of {len(texts)} CSV files, none of them for the {table} table "
                              f"({_listing([i.filename for i in texts], 5)})")
        return found[table]
    return texts[0]


def zip_tables(archive, name: str, texts=None) -> dict:
    """Table -> member (a ``zipfile.ZipInfo``) of a zip archive's CSV files: a member is the table its file
    name says (customers.csv, shop_transactions.csv), else the one its header row fits
    (:func:`upload.guess_table`); members for no table are left out. IngestError when two are for one table."""
    from clm_core.upload import guess_table

    if texts is None:
        texts = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                 and not Path(i.filename).name.startswith(".") and i.filename.lower().endswith(_TEXT_SUFFIXES)]
    found: dict[str, list] = {}
    for info in texts:
        stem = Path(info.filename).stem.lower()
        named = [t for t in schema.TABLES if t in stem]
        table = named[0] if len(named) == 1 else None
        if table is None:
            with archive.open(info) as member:
                first = member.read(HEADER_BYTES).split(b"\n", 1)[0]
            encoding = next((label for bom, label, _ in _BOMS if first.startswith(bom)), None)
            if encoding and encoding.startswith(("utf-16", "utf-32")):
                with archive.open(info) as member:
                    first = member.read(HEADER_BYTES).decode(encoding, "replace").lstrip("\ufeff").split("\n", 1)[0]
            elif encoding is None and (wide := _utf16_without_bom(first)):
                with archive.open(info) as member:
                    first = member.read(HEADER_BYTES).decode(wide, "replace").split("\n", 1)[0]
            else:
                try:
                    first = first.decode("utf-8-sig")
                except UnicodeDecodeError:
                    first = first.decode("cp1252", "replace")
            try:
                table = guess_table(_split_header(first.rstrip("\r"))[1], info.filename)
            except IngestError:
                table = None
        if table is not None:
            found.setdefault(table, []).append(info)
    for table, infos in found.items():
        if len(infos) > 1:
            raise IngestError(f"{name} holds {len(infos)} CSV files for the {table} table "
                              f"({_listing([i.filename for i in infos], 5)}); keep one of them")
    return {t: infos[0] for t, infos in found.items()}


def archive_tables(source: Source, name: str | None = None) -> dict[str, str]:
    """Table -> file name of the CSV files in a zip archive (``source`` a path, bytes or a binary file);
    empty for anything else. For the Data page and the command line, which load such an archive as
    ``{table: archive}`` for each of its tables."""
    import zipfile

    if name:
        label = name
    elif isinstance(source, (str, os.PathLike)):
        label = Path(source).name
    else:
        label = Path(str(getattr(source, "name", "") or "upload")).name
    if isinstance(source, (str, os.PathLike)):
        stream = open(source, "rb")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    else:
        stream = source
    position = stream.tell()
    try:
        if not stream.read(4).startswith(_ZIP):
            return {}
        stream.seek(position)
        check_zip_directory(stream, label)
        try:
            with zipfile.ZipFile(stream) as archive:
                names = archive.namelist()
                if "[Content_Types].xml" in names or "mimetype" in names:
                    return {}
                return {t: i.filename for t, i in zip_tables(archive, label).items()}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise IngestError(f"{label} is a damaged or unsupported zip archive ({_first_line(exc)})") from exc
    finally:
        if stream is not source:
            stream.close()
        else:
            stream.seek(position)


class _LocalFile:
    """A source as a file on disk DuckDB can read (unpacked from gzip/zip, UTF-16/32 transcoded to UTF-8);
    temporary copies are removed on close. Refuses (IngestError) what is not a CSV file at all."""

    def __init__(self, source: Source, name: str | None = None, head_only: bool = False,
                 table: str | None = None, sheet: str | int | None = None):
        self._temps: list[str] = []
        self._head_only = head_only  # unpack only the first SNIFF_BYTES of a gzip/zip file (for sniff)
        self._table, self._sheet = table, sheet  # which CSV file of a zip archive, which sheet of a workbook
        #: a workbook's sheet or a Parquet file written as CSV (readers.Converted), else None
        self.converted = None
        try:
            if isinstance(source, (str, os.PathLike)):
                self.path = str(source)
                self.name = name or Path(source).name
                if not Path(self.path).is_file():
                    raise IngestError(f"{self.path}: no such file")
            else:
                self.name = name or Path(str(getattr(source, "name", "") or "upload")).name
                self.path = self._copy(source)
            self.transcoded = False
            self._unpack()
            self.encoding = self._detect_encoding()
        except BaseException:
            self.close()
            raise

    def _new_temp(self) -> tuple[int, str]:
        fd, path = tempfile.mkstemp(suffix=".csv")
        self._temps.append(path)
        return fd, path

    def _copy(self, source) -> str:
        fd, path = self._new_temp()
        with os.fdopen(fd, "wb") as f:
            if isinstance(source, (bytes, bytearray, memoryview)):
                f.write(source)
            else:
                while chunk := source.read(_CHUNK):
                    f.write(chunk)
        return path

    def _head(self, size: int = 1 << 20) -> bytes:
        with open(self.path, "rb") as f:
            return f.read(size)

    def _unpack(self) -> None:
        """Refuse images, documents and other archives; decompress gzip and a zip of CSV files; write a
        workbook's sheet or a Parquet file as CSV."""
        head = self._head(1024)
        if head.startswith(b"PAR1"):
            self._convert("parquet")
            return
        if head.startswith(_OLE) or head.startswith(_ZIP[0]):
            from clm_core import readers

            if readers.workbook_kind(self.path) not in (None, "ole"):
                self._convert("excel")
                return
        what = _what(head)
        if what:
            raise IngestError(f"{self.name} is {what}, not a CSV file")
        if head.startswith(_GZIP):
            self._decompress_gzip()
        elif head.startswith(_ZIP):
            self._decompress_zip()
        else:
            return
        inner = self._head(1024)
        if inner.startswith(_GZIP) or inner.startswith(_ZIP) or _what(inner):
            kind = "an archive" if inner.startswith(_GZIP) or inner.startswith(_ZIP) else _what(inner)
            raise IngestError(f"{self.name} holds {kind}, not a CSV file")

    def _convert(self, kind: str) -> None:
        """Write the workbook's sheet or the Parquet file as a temporary CSV file (readers)."""
        from clm_core import readers

        source = self.path
        fd, path = self._new_temp()
        head = SNIFF_BYTES if self._head_only else None
        with os.fdopen(fd, "wb") as out:
            if kind == "parquet":
                self.converted = readers.parquet_to_csv(source, out, self.name, MAX_DECOMPRESSED_BYTES, head)
            else:
                self.converted = readers.excel_to_csv(source, out, self.name, self._sheet, self._table,
                                                      MAX_DECOMPRESSED_BYTES, head)
        self.path = path

    def _write_bounded(self, stream: BinaryIO, what: str) -> None:
        """Stream ``stream`` (a decompressing reader) to a new temporary file, at most MAX_DECOMPRESSED_BYTES."""
        fd, path = self._new_temp()
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                if self._head_only and written >= SNIFF_BYTES:
                    break
                written += len(chunk)
                if written > MAX_DECOMPRESSED_BYTES and not self._head_only:
                    raise IngestError(
                        f"{self.name} is {what} that unpacks to more than {_size(MAX_DECOMPRESSED_BYTES)}; "
                        "refused (unpack it and upload the CSV file, or split it)")
                out.write(chunk)
        self.path = path

    def _decompress_gzip(self) -> None:
        import gzip
        import zlib

        try:
            with gzip.open(self.path, "rb") as stream:
                self._write_bounded(stream, "a gzip file")
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestError(f"{self.name} is a damaged gzip file ({_first_line(exc)})") from exc

    def _decompress_zip(self) -> None:
        import zipfile
        import zlib

        try:
            with open(self.path, "rb") as packed:
                check_zip_directory(packed, self.name)
            with zipfile.ZipFile(self.path) as archive:
                with archive.open(zip_member(archive, self.name, self._table)) as stream:
                    self._write_bounded(stream, "a zip archive")
        except IngestError:
            raise
        except RuntimeError as exc:  # encrypted members
            raise IngestError(f"{self.name} is an encrypted zip archive; unpack it first") from exc
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
                zlib.error, ValueError) as exc:
            raise IngestError(f"{self.name} is a damaged or unsupported zip archive ({_first_line(exc)})") from exc

    def _detect_encoding(self) -> str:
        head = self._head()
        encoding = codec = None
        for bom, label, name in _BOMS:
            if head.startswith(bom):
                encoding, codec = label, name
                break
        if encoding is None and (encoding := _utf16_without_bom(head)):
            codec = encoding
        if encoding and encoding != "utf-8-sig":
            self._transcode(codec)
            head = self._head()
        if not head.strip(b"\xef\xbb\xbf \r\n\t"):
            raise IngestError(f"{self.name}: the file is empty")
        if _looks_binary(head):
            raise IngestError(f"{self.name} is a binary file, not a CSV file")
        if encoding:
            return encoding
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return "utf-8"
        except UnicodeDecodeError:
            return "cp1252"

    def _transcode(self, codec: str) -> None:
        """Rewrite the file as UTF-8 from ``codec`` (undecodable bytes become U+FFFD)."""
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        fd, out = self._new_temp()
        with open(self.path, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(decoder.decode(chunk).encode("utf-8", errors="replace"))
            dst.write(decoder.decode(b"", final=True).encode("utf-8", errors="replace"))
        self.path = out
        self.transcoded = True

    def to_utf8(self) -> None:
        """Rewrite a Windows-1252 file as UTF-8 (DuckDB reads UTF-8 only)."""
        self._transcode("cp1252")
        self.encoding = "cp1252"

    def header_line(self) -> tuple[str, bool]:
        """The first line (at most HEADER_BYTES of it) and whether it was cut there."""
        with open(self.path, "rb") as f:
            first = f.readline(HEADER_BYTES)
            cut = not first.endswith(b"\n") and bool(f.read(1))
        enc = "utf-8-sig" if self.transcoded or self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        return first.decode(enc, errors="replace").rstrip("\r\n"), cut

    def blank_lines(self) -> list[int]:
        """Physical line numbers (1-based) of empty lines, which DuckDB's reader skips (of a converted
        workbook sheet, the lines that make the data lines its rows: see readers.Converted.skipped)."""
        if self.converted is not None:
            return list(self.converted.skipped)
        with open(self.path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return []
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                if mm.find(b"\n\n") < 0 and mm.find(b"\n\r\n") < 0:
                    return []
                data = mm[:]
        lines = data.split(b"\n")
        last = len(lines) - 1 if lines and lines[-1] == b"" else len(lines)
        return [i + 1 for i, line in enumerate(lines[:last]) if not line.strip(b"\r")]

    def close(self) -> None:
        for path in self._temps:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._temps = []


def _size(n: int) -> str:
    """A size in bytes for a message: '4 GB', '20 MB'."""
    return f"{n / 2**30:g} GB" if n >= 2**30 else f"{n / 2**20:g} MB"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def _split_header(line: str) -> tuple[str, list[str]]:
    """The delimiter and the headers of a header row: stripped, empty ones named ``column_<n>``, made unique
    regardless of case (the database's names are case-insensitive), none starting with ``__`` (the loader's
    own columns). Linear in the number of columns."""
    import csv

    outside = _QUOTED.sub("", line)  # a delimiter inside a quoted header is none
    counts = {d: outside.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    if counts[delimiter] == 0:
        delimiter = ","
    try:
        headers = next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise IngestError(f"the header row cannot be read ({_first_line(exc)})") from exc
    taken: set[str] = set()
    suffix: dict[str, int] = {}  # lower-case header -> the last suffix tried for it
    unique = []
    for i, h in enumerate(headers):
        h = h.replace("\ufeff", "").strip()
        if h.startswith("__"):
            h = h.lstrip("_")
        h = h or f"column_{i + 1}"
        key = h.lower()
        if key in taken:
            n = suffix.get(key, 1)
            while f"{key}_{n + 1}" in taken:
                n += 1
            suffix[key] = n + 1
            h = f"{h}_{n + 1}"
        taken.add(h.lower())
        unique.append(h)
    return delimiter, unique


def _listing(names: list[str], limit: int = 20) -> str:
    """Names for a message: the first ``limit`` of them, then how many there are."""
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def sniff(source: Source, table: str, mapping: dict[str, str] | None = None, name: str | None = None,
          sheet: str | int | None = None) -> Sniffed:
    """Encoding, delimiter, headers and the proposed header mapping of a file (no loading; of a gzip or zip
    file only the first SNIFF_BYTES are unpacked, of a workbook's ``sheet`` or a Parquet file as much is
    converted)."""
    f = _LocalFile(source, name, head_only=True, table=table, sheet=sheet)
    try:
        return _sniff_open(f, table, mapping)
    finally:
        f.close()


def _sniff_open(f: _LocalFile, table: str, mapping: dict[str, str] | None) -> Sniffed:
    line, cut = f.header_line()
    try:
        delimiter, headers = _split_header(line)
    except IngestError as exc:
        raise IngestError(f"{f.name}: {exc}") from None
    if len(headers) > MAX_COLUMNS:
        raise IngestError(f"{f.name}: {'at least ' if cut else ''}{len(headers):,} columns; "
                          f"at most {MAX_COLUMNS} columns can be loaded")
    if cut:
        raise IngestError(f"{f.name}: the header row is longer than {HEADER_BYTES // 2**20} MB; is it a CSV file?")
    proposed = schema.propose_mapping(table, headers, mapping)
    sniffed = Sniffed(table, f.name, f.encoding, delimiter, headers, proposed)
    if f.converted is not None:
        sniffed.format, sniffed.sheet, sniffed.header_row = f.converted.format, f.converted.sheet, f.converted.header_row
    return sniffed


def _check_required(sniffed: Sniffed) -> None:
    present = set(sniffed.mapping.values())
    for col in schema.columns(sniffed.table):
        if col.required and col.name not in present:
            raise IngestError(
                f"{sniffed.name}: required column '{col.name}' of the {sniffed.table} table not found; "
                f"columns found: {_listing(sniffed.headers)}"
            )


# --------------------------------------------------------------------------- parsing in SQL

def _line_sql(db, stage: str, row: str) -> str:
    """SQL for the line number of the parsed row ``row`` (an SQL expression of its rowid): rowid + 2
    (header, 0-based) plus the lines DuckDB skipped before it (``<stage>_skips``)."""
    if not db.execute(f"SELECT count(*) FROM {stage}_skips").fetchone()[0]:
        return f"({row}) + 2"
    return f"({row}) + 2 + (SELECT count(*) FROM {stage}_skips k WHERE k.pos <= ({row}))"


def _reader(sniffed: Sniffed, stage: str) -> tuple[str, list]:
    """DuckDB's CSV reader of the file as text (columns c0..cn), malformed rows kept aside in
    ``<stage>_errors``; returns (SQL, parameters after the path)."""
    columns = {f"c{i}": "VARCHAR" for i in range(len(sniffed.headers))}
    reader = (
        "read_csv(?, delim=?, header=true, all_varchar=true, quote='\"', escape='\"', "
        f"store_rejects=true, rejects_table='{stage}_errors', rejects_scan='{stage}_scans', "
        "auto_detect=false, columns=?)"
    )
    return reader, [sniffed.delimiter, columns]


def _read(db, f: _LocalFile, sniffed: Sniffed, stage: str, sql: str) -> bool:
    """Run ``sql`` (a statement with one ``{reader}`` placeholder) over the file; refuses an
    unreadable file. Returns False when the file turned out not to be UTF-8 (it is then
    transcoded, and the statement must be run again)."""
    reader, params = _reader(sniffed, stage)
    for suffix in ("errors", "scans"):
        db.execute(f"DROP TABLE IF EXISTS {stage}_{suffix}")
    try:
        head, _, tail = sql.rpartition("{reader}")
        db.execute(head + reader + tail, [f.path] + params)
        if not f.transcoded and db.execute(
            f"SELECT count(*) FROM {stage}_errors WHERE error_type = 'INVALID ENCODING'"
        ).fetchone()[0]:
            # Not UTF-8 after all (the sample was plain ASCII): read it as Windows-1252.
            f.to_utf8()
            return False
    except duckdb.Error as exc:
        raise IngestError(f"{sniffed.name}: not readable as CSV ({str(exc).splitlines()[0]})") from exc
    return True


def _skipped(db, f: _LocalFile, stage: str) -> list[tuple[int, str, str]]:
    """The malformed rows DuckDB refused (line, reason, text); writes ``<stage>_skips`` (the
    positions of the lines DuckDB skipped, see :func:`_line_sql`)."""
    structural = db.execute(
        f"SELECT line, error_type, csv_line FROM {stage}_errors ORDER BY line"
    ).fetchall()
    skipped = sorted({line for line, _, _ in structural} | set(f.blank_lines()))
    skipped = [s for s in skipped if s >= 2]
    # A staged row's line: its position among the lines DuckDB did not skip (see _line_sql).
    db.execute(f"CREATE OR REPLACE TEMP TABLE {stage}_skips (pos BIGINT)")
    if skipped:
        db.executemany(f"INSERT INTO {stage}_skips VALUES (?)", [[s - 2 - i] for i, s in enumerate(skipped)])
    return [(line, f"malformed row ({error_type.lower()})", text) for line, error_type, text in structural]


def detect_formats(db, stage: str, sniffed: Sniffed, date_formats: dict[str, str]) -> None:
    """Set ``sniffed.date_formats`` and ``sniffed.decimal`` from the first rows of the staged text table."""
    position = {h: i for i, h in enumerate(sniffed.headers)}
    col_of = {canonical: f"c{position[h]}" for h, canonical in sniffed.mapping.items()}
    kinds = {c.name: c.kind for c in schema.columns(sniffed.table)}
    sample = f"(SELECT * FROM {stage} LIMIT {SAMPLE_ROWS})"
    # Dates: the family that parses the most values.
    for canonical, col in col_of.items():
        if kinds[canonical] != "date":
            continue
        if canonical in date_formats:
            sniffed.date_formats[canonical] = date_formats[canonical]
            continue
        counts = db.execute(
            "SELECT " + ", ".join(f"count(try_strptime(trim({col}), ?))" for _ in DATE_FAMILIES) + f" FROM {sample}",
            [list(fmts) for fmts in DATE_FAMILIES.values()],
        ).fetchone()
        by_family = dict(zip(DATE_FAMILIES, counts))
        best = max(by_family.values())
        winners = [fam for fam, n in by_family.items() if n == best]
        if best > 0 and winners == ["mm/dd/yyyy", "dd/mm/yyyy"]:
            example = db.execute(f"SELECT {col} FROM {sample} WHERE {col} IS NOT NULL LIMIT 1").fetchone()[0]
            raise IngestError(
                f"{sniffed.name}: dates in column '{_header(sniffed, canonical)}' such as {example!r} could be "
                "mm/dd/yyyy or dd/mm/yyyy; choose the date format explicitly"
            )
        sniffed.date_formats[canonical] = family = winners[0] if best > 0 else "yyyy-mm-dd"
        formats = DATE_FAMILIES[family]
        counts = db.execute(
            "SELECT " + ", ".join(f"count(try_strptime(trim({col}), ?))" for _ in formats) + f" FROM {sample}",
            list(formats),
        ).fetchone()
        sniffed.date_patterns[canonical] = formats[counts.index(max(counts))]
    # Decimal separator: one per file, from the values only one reading accepts.
    numeric = [col for canonical, col in col_of.items() if kinds[canonical] in ("number", "integer", "score")]
    if numeric:
        union = " UNION ALL ".join(f"SELECT {_clean(col)} AS v FROM {sample}" for col in numeric)
        dot_only, comma_only = db.execute(
            "SELECT count(*) FILTER (regexp_full_match(v, ?) AND NOT regexp_full_match(v, ?)), "
            "count(*) FILTER (regexp_full_match(v, ?) AND NOT regexp_full_match(v, ?)) "
            f"FROM ({union}) WHERE v IS NOT NULL",
            [_NUMBER_PATTERNS["."], _NUMBER_PATTERNS[","], _NUMBER_PATTERNS[","], _NUMBER_PATTERNS["."]],
        ).fetchone()
        if comma_only != dot_only:
            sniffed.decimal = "," if comma_only > dot_only else "."
        else:
            sniffed.decimal = "," if sniffed.delimiter == ";" else "."


def _header(sniffed: Sniffed, canonical: str) -> str:
    return next(h for h, c in sniffed.mapping.items() if c == canonical)


def _clean(col: str) -> str:
    """SQL: a number's text without spaces and currency marks, NULL when empty."""
    inner = f"replace(replace(replace(replace({col}, chr(160), ''), ' ', ''), '€', ''), 'EUR', '')"
    return f"nullif({inner}, '')"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parse_number(col: str, decimal: str, plain_ref: str) -> tuple[str, str, str]:
    """SQL (plain, value, is_valid) for a numeric text column.

    ``plain`` is the fast cast of a plain number (computed once, in the step below, as column
    ``plain_ref``); ``value`` and ``is_valid`` read it and clean only the values it does not
    read of spaces and currency marks, and check their thousands separators (the pattern check
    runs only on values that contain one). Every value must be a finite number.
    """
    clean = _clean(col)
    thousands = "." if decimal == "," else ","
    if decimal == ",":
        plain = f"CASE WHEN NOT contains({col}, '.') THEN TRY_CAST(replace({col}, ',', '.') AS DOUBLE) END"
        cleaned = f"TRY_CAST(replace(replace({clean}, '.', ''), ',', '.') AS DOUBLE)"
    else:
        plain = f"TRY_CAST({col} AS DOUBLE)"
        cleaned = f"TRY_CAST(replace({clean}, ',', '') AS DOUBLE)"
    pattern = _sql_literal(_NUMBER_PATTERNS[decimal])
    value = f"CASE WHEN {plain_ref} IS NOT NULL THEN {plain_ref} ELSE {cleaned} END"
    valid = (f"CASE WHEN {plain_ref} IS NOT NULL THEN isfinite({plain_ref}) ELSE "
             f"coalesce(isfinite({cleaned}) AND (NOT contains({clean}, '{thousands}') "
             f"OR regexp_full_match({clean}, {pattern})) AND {cleaned} IS NOT NULL, false) END")
    return plain, value, valid


def _date_formats(sniffed: Sniffed, column: str) -> list[str]:
    """The formats to try for a date column: the detected single format first, then its family."""
    chosen = sniffed.date_formats[column]
    family = list(DATE_FAMILIES.get(chosen, (chosen,)))
    first = sniffed.date_patterns.get(column)
    return [first] + [f for f in family if f != first] if first in family else family


def _parsed_select(sniffed: Sniffed) -> tuple[list[str], list[str], list[str], list[str], list[tuple[str, str]]]:
    """SQL for parsing a file's text columns (c0..cn) in three steps, so that every value is parsed once.

    Returns (first select expressions over the text columns: trimmed texts and fast number casts,
    inner select expressions over those and the text columns, output expressions over the inner
    columns, output column names, reason CASE branches over the inner columns).
    """
    position = {h: i for i, h in enumerate(sniffed.headers)}  # (not list.index: linear in the columns)
    col_of = {canonical: f"c{position[h]}" for h, canonical in sniffed.mapping.items()}
    first, inner, outputs, names, checks = [], [], [], [], []
    # A NUL byte in any value rejects the row (a text with one is not the same id as the text without);
    # __c<i> is the raw text of column i, passed through by _prepare.
    label_of = {h: sniffed.mapping.get(h, h) for h in sniffed.headers}
    checks += [(f"contains(__c{i}, chr(0))", _sql_literal(f"NUL byte in {label_of[h]}"))
               for i, h in enumerate(sniffed.headers)]
    low, high = schema.date_bounds()
    for column in schema.columns(sniffed.table):
        if column.name not in col_of:
            continue
        c, label = col_of[column.name], column.name
        text, value = quote_ident(f"__text_{label}"), quote_ident(label)
        trimmed = quote_ident(f"__trimmed_{label}")
        first.append(f"nullif(trim({c}), '') AS {trimmed}")
        inner.append(f"{trimmed} AS {text}")
        shown = f"left({text}, 40)"
        if column.required:
            checks.append((f"{text} IS NULL", _sql_literal(f"missing {label}")))
        if column.kind == "date":
            formats = _date_formats(sniffed, label)
            tries = [f"try_strptime({trimmed}, {_sql_literal(formats[0])})"]
            if len(formats) > 1:
                tries.append(f"try_strptime({trimmed}, [{', '.join(_sql_literal(x) for x in formats[1:])}])")
            inner.append(f"coalesce({', '.join(tries)}) AS {value}")
            outputs.append(value)
            checks.append((f"{text} IS NOT NULL AND {value} IS NULL",
                           f"{_sql_literal(f'unparseable {label}: ')} || {shown}"))
            after = high + dt.timedelta(days=1)
            checks.append((f"{value} < TIMESTAMP '{low.isoformat()}' OR {value} >= TIMESTAMP '{after.isoformat()}'",
                           f"{_sql_literal(f'{label} outside {low.isoformat()} to {high.isoformat()}: ')} || {shown}"))
        elif column.kind in ("number", "integer", "score"):
            plain_ref = quote_ident(f"__plain_{label}")
            plain, number, valid = _parse_number(c, sniffed.decimal or ".", plain_ref)
            first.append(f"{plain} AS {plain_ref}")
            ok = quote_ident(f"__valid_{label}")
            inner += [f"{number} AS {value}", f"{valid} AS {ok}"]
            # TRY_CAST: a rejected row's value (say 1e12 in quantity) must not abort the statement
            outputs.append(value if column.kind == "number" else f"TRY_CAST({value} AS INTEGER)")
            checks.append((f"{text} IS NOT NULL AND NOT {ok}", f"{_sql_literal(f'non-numeric {label}: ')} || {shown}"))
            if column.kind == "number":
                checks.append((f"abs({value}) > {schema.MAX_NUMBER!r}",
                               f"{_sql_literal(f'{label} outside ±{schema.MAX_NUMBER:,.0f}: ')} || {shown}"))
            if column.kind in ("integer", "score"):
                checks.append((f"{value} <> round({value})", f"{_sql_literal(f'{label} is not a whole number: ')} || {shown}"))
            if column.kind == "integer":
                checks.append((f"abs({value}) > {schema.MAX_INTEGER}",
                               f"{_sql_literal(f'{label} outside ±{schema.MAX_INTEGER:,}: ')} || {shown}"))
            if column.kind == "score":
                checks.append((f"{value} NOT BETWEEN 0 AND 10", f"{_sql_literal(f'{label} outside 0-10: ')} || {shown}"))
        elif column.kind == "group":
            groups = "MAP {" + ", ".join(f"{_sql_literal(k)}: {_sql_literal(v)}" for k, v in schema.GROUP_VALUES.items()) + "}"
            inner.append(f"{groups}[lower(replace(replace({trimmed}, ' ', ''), '-', ''))] AS {value}")
            outputs.append(value)
            checks.append((f"{text} IS NOT NULL AND {value} IS NULL",
                           f"{_sql_literal(f'{label} must be treatment or control: ')} || {shown}"))
        else:
            outputs.append(text)
        names.append(label)
    # An attribute named like a canonical column gets a suffix: another header may map to that column, and a
    # header kept as an attribute although it is a column's name (created_at as text) must not pass for it
    # (names are unique regardless of case in the database).
    canonical = {n.lower() for n in names} | {c.name.lower() for c in schema.columns(sniffed.table)}
    taken = {h.lower() for h in sniffed.headers} | canonical
    for header in sniffed.attributes:
        column_name = header
        if header.lower() in canonical:
            n = 2
            while f"{header}_{n}".lower() in taken:
                n += 1
            column_name = f"{header}_{n}"
            taken.add(column_name.lower())
        name = quote_ident(column_name)
        inner.append(f"nullif(trim(c{position[header]}), '') AS {name}")
        outputs.append(name)
        names.append(column_name)
    return first, inner, outputs, names, checks


def _prepare(db, f: _LocalFile, sniffed: Sniffed, date_formats: dict[str, str], stage: str, parsed: str):
    """Read, parse and check one file in one pass into table ``parsed`` (in the file's row order, so
    that its rowid gives the line): the typed columns, __reason, and __raw, the list of the texts of a
    rejected row. Returns (rows read, rows rejected, listed rejected rows).

    The formats are detected first on the first SAMPLE_ROWS rows (temp table ``stage``, a name unique
    to this load, like the reader's ``<stage>_errors``, ``_scans`` and ``_skips``)."""
    if f.encoding == "cp1252" and not f.transcoded:
        f.to_utf8()
    width = len(sniffed.headers)
    while True:
        if not _read(db, f, sniffed, stage,
                     f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM {{reader}} LIMIT {SAMPLE_ROWS}"):
            continue
        detect_formats(db, stage, sniffed, date_formats)
        first, inner, outputs, names, checks = _parsed_select(sniffed)
        reason = "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END" if checks else "NULL"
        select = ", ".join(f"{e} AS {quote_ident(name)}" for e, name in zip(outputs, names))
        raw_text = f"CASE WHEN __reason IS NOT NULL THEN [{', '.join(f'__c{i}' for i in range(width))}] END AS __raw"
        passed = ", ".join(f"c{i} AS __c{i}" for i in range(width))
        sql = (
            f"CREATE OR REPLACE TABLE {parsed} AS SELECT {select}, __reason, {raw_text} "
            f"FROM (SELECT *, {reason} AS __reason FROM (SELECT {passed}, {', '.join(inner)} "
            f"FROM (SELECT *, {', '.join(first)} FROM {{reader}})))"
        )
        if _read(db, f, sniffed, stage, sql):
            break
    malformed = _skipped(db, f, stage)
    rows_read = db.execute(f"SELECT count(*) FROM {parsed}").fetchone()[0] + len(malformed)
    if rows_read == 0:
        raise IngestError(f"{sniffed.name}: the file has a header but no data rows")
    # The parsed rows' rowids follow the file's order from a base (not 0 in a transaction's own tables).
    base = db.execute(f"SELECT min(rowid) FROM {parsed}").fetchone()[0] or 0
    duplicates = _mark_duplicates(db, sniffed, parsed, stage, base)
    line = _line_sql(db, stage, f"p.rowid - {base}")
    if duplicates:
        # Rows refused as duplicates passed every check, so their text was not kept: read it again.
        reader, params = _reader(sniffed, stage)
        db.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT * FROM {reader}", [f.path] + params)
        raw_cols = ", ".join(f"s.c{i} AS {quote_ident(h)}" for i, h in enumerate(sniffed.headers))
        stage_base = db.execute(f"SELECT min(rowid) FROM {stage}").fetchone()[0] or 0
        source = f"{parsed} p JOIN {stage} s ON s.rowid - {stage_base} = p.rowid - {base}"
    else:
        raw_cols = ", ".join(f"p.__raw[{i + 1}] AS {quote_ident(h)}" for i, h in enumerate(sniffed.headers))
        source = f"{parsed} p"
    rejected = db.execute(
        f"SELECT {line} AS line, p.__reason AS reason, {raw_cols} FROM {source} "
        f"WHERE p.__reason IS NOT NULL ORDER BY p.rowid LIMIT {MAX_LISTED_REJECTS}"
    ).df()
    if malformed:
        extra = pd.DataFrame(malformed, columns=["line", "reason", "row"])
        rejected = pd.concat([rejected, extra], ignore_index=True).sort_values("line", ignore_index=True)
    rows_rejected = db.execute(f"SELECT count(*) FROM {parsed} WHERE __reason IS NOT NULL").fetchone()[0]
    return rows_read, int(rows_rejected) + len(malformed), rejected


def _finish(db, parsed: str, sniffed: Sniffed, rows_rejected: int) -> None:
    """Keep only the valid rows and the table's own columns of the parsed table."""
    if rows_rejected:
        db.execute(f"DELETE FROM {parsed} WHERE __reason IS NOT NULL")
    for column in ("__reason", "__raw"):
        db.execute(f"ALTER TABLE {parsed} DROP COLUMN {column}")


def _mark_duplicates(db, sniffed: Sniffed, parsed: str, stage: str, base: int) -> int:
    """Reject repeated transaction ids (and repeated customers), keeping the first line; returns
    how many rows were refused as duplicates."""
    key = {"transactions": "transaction_id", "customers": "customer_id"}.get(sniffed.table)
    if key is None or key not in sniffed.mapping.values():
        return 0
    k = quote_ident(key)
    dupes = db.execute(f"SELECT count({k}) - count(DISTINCT {k}) FROM {parsed} WHERE __reason IS NULL").fetchone()[0]
    if not dupes:
        return 0
    first_line = _line_sql(db, stage, f"d.__first - {base}")
    db.execute(
        f"UPDATE {parsed} SET __reason = 'duplicate {key} (first on line ' || ({first_line}) || ')' "
        f"FROM (SELECT rowid AS r, min(rowid) OVER (PARTITION BY {k}) AS __first "
        f"FROM {parsed} WHERE __reason IS NULL AND {k} IS NOT NULL) d "
        f"WHERE {parsed}.rowid = d.r AND d.__first <> d.r"
    )
    return dupes


# --------------------------------------------------------------------------- loading

_UNITS = {"bytes": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(setting: str) -> float | None:
    """A DuckDB size setting ('18.8 GiB', '1.5 GB', '512 bytes') in bytes; None when not a size."""
    parts = setting.strip().lower().split()
    try:
        return float(parts[0]) * _UNITS[parts[1]] if len(parts) == 2 else None
    except (ValueError, KeyError):
        return None


@contextmanager
def _load_settings(db, width: int = 0):
    """Rows kept in the file's order (the line numbers rely on it) while loading, whatever the
    connection's setting, and DuckDB's memory limit at most LOAD_MEMORY_LIMIT. For a file of more than
    WIDE_COLUMNS columns DuckDB's common-subexpression optimizer is off meanwhile: its time grows with
    the square of a projection's expressions (DuckDB 1.4: 0.55 s for 1,000 columns, 7 s for 4,000), and
    the loader's SQL computes every value once on its own."""
    ordered = db.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    if not ordered:
        db.execute("SET preserve_insertion_order = true")
    try:
        with _memory_limited(db), _without_cse(db, width > WIDE_COLUMNS):
            yield
    finally:
        if not ordered:
            db.execute("SET preserve_insertion_order = false")


@contextmanager
def _without_cse(db, active: bool):
    """DuckDB's common_subexpressions optimizer disabled (a database-wide setting) while active."""
    if not active:
        yield
        return
    previous = db.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] or ""
    disabled = [o for o in previous.split(",") if o.strip()]
    if "common_subexpressions" in disabled:
        yield
        return
    db.execute(f"SET disabled_optimizers = {_sql_literal(','.join(disabled + ['common_subexpressions']))}")
    try:
        yield
    finally:
        if previous:
            db.execute(f"SET disabled_optimizers = {_sql_literal(previous)}")
        else:
            db.execute("RESET disabled_optimizers")


@contextmanager
def _memory_limited(db):
    """DuckDB's memory limit at most LOAD_MEMORY_LIMIT while loading; the previous one afterwards."""
    previous = db.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    current = _bytes(previous)
    if current is not None and current <= LOAD_MEMORY_LIMIT:
        yield
        return
    db.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT // 2**20}MiB'")
    try:
        yield
    finally:
        db.execute("RESET memory_limit")  # exactly the default again, when it was the default
        if db.execute("SELECT current_setting('memory_limit')").fetchone()[0] != previous:
            # The setting reads truncated to one decimal: half a step more reads the same again.
            number, unit = (previous.split() + [""])[:2]
            again = f"{float(number) + 0.05} {unit}" if current is not None else previous
            db.execute(f"SET memory_limit = {_sql_literal(again)}")


def load(
    dataset: Dataset,
    sources: dict[str, Source],
    mapping: dict[str, dict[str, str]] | None = None,
    date_formats: dict[str, dict[str, str]] | None = None,
    names: dict[str, str] | None = None,
    create: bool = False,
    replaces: Dataset | None = None,
    replaces_name: str | None = None,
    sheets: dict[str, str | int] | None = None,
) -> IngestReport:
    """Load CSV files into ``dataset``, replacing the tables given; all or nothing.

    ``sources`` maps table name -> path, bytes or file object; ``mapping`` maps
    table -> {header: canonical column} on top of the synonyms; ``date_formats``
    table -> {canonical column: a family of DATE_FAMILIES or a strptime format}.
    ``create`` adds ``dataset`` (from :func:`store.new_dataset`) and ``replaces`` drops another
    dataset, both in the load's transaction; ``replaces_name`` instead drops the dataset of that name in
    ``dataset``'s workspace, found inside the transaction (see :func:`store.changing`). Loads are
    serialised (``store.WRITE_LOCK``), each on its own cursor, whose temporary tables go with it; the
    files are unpacked and their headers checked before the lock is taken, the principal's role before
    any file is touched (:class:`access.AccessDenied`). A source may also be an Excel workbook (``sheets``:
    table -> sheet name or 1-based number, else the default of :mod:`clm_core.readers`), a Parquet file, or
    a zip archive of several CSV files (the one for the table is read; see :func:`archive_tables`).
    Raises :class:`IngestError` (previous data untouched) for a file that cannot be loaded.
    """
    # the checks store.changing makes again under the write lock, here before any file is copied or unpacked
    # (a viewer's 4 GB gzip file is refused at once)
    check_change(dataset, create, replaces, replaces_name)
    mapping = mapping or {}
    date_formats = date_formats or {}
    report = IngestReport()
    files: list[_LocalFile] = []
    try:
        # Every file is unpacked, decoded and its header checked before the write lock is taken: a file
        # that is no CSV file at all, or too wide, is refused at once and without waiting for other writes.
        opened = []
        for table, source in sources.items():
            schema.columns(table)
            f = _LocalFile(source, (names or {}).get(table), table=table, sheet=(sheets or {}).get(table))
            files.append(f)
            sniffed = _sniff_open(f, table, mapping.get(table))
            _check_required(sniffed)
            opened.append((table, f, sniffed))
        width = max((len(s.headers) for _, _, s in opened), default=0)
        # the settings are the database's, changed outside the transaction so that a rollback cannot
        # keep them from being restored
        with writer(dataset.con) as settings, _load_settings(raw(settings), width):
            with changing(dataset, create=create, replaces=replaces, replaces_name=replaces_name) as bound:
                _load(bound, raw(bound.con), opened, date_formats, report)
    finally:
        for f in files:
            f.close()
    return report


def _load(dataset, db, opened, date_formats, report) -> None:
    """Parse every file straight into the dataset's table and derive the tables (inside the caller's
    transaction: a refused file rolls everything back)."""
    run = secrets.token_hex(4)
    for n, (table, f, sniffed) in enumerate(opened):
        target = f"{quote_ident(dataset.schema)}.{quote_ident(table)}"
        try:
            rows_read, rows_rejected, rejected = _prepare(
                db, f, sniffed, date_formats.get(table, {}), f"clm_stage_{run}_{n}", target)
        except duckdb.InterruptException:
            raise
        except duckdb.Error as exc:
            # what the checks did not foresee is still one line naming the file, never an engine traceback
            raise IngestError(f"{sniffed.name}: not readable as CSV ({_first_line(exc)})") from exc
        sniffed.encoding = f.encoding
        if rows_rejected == rows_read:
            where = f"line {rejected['line'].iloc[0]}: {rejected['reason'].iloc[0]}" if len(rejected) else "none valid"
            raise IngestError(f"{sniffed.name}: no valid rows ({where})")
        report.tables[table] = TableReport(
            table, f.name, rows_read, rows_read - rows_rejected, rows_rejected, rejected, sniffed
        )
        _finish(db, target, sniffed, rows_rejected)
    dataset.refresh()
    rebuild_derived(dataset)


def rebuild_derived(dataset: Dataset) -> None:
    """(Re)write the tables derived from the loaded ones (inside the caller's transaction)."""
    from clm_core.derived import BUILDERS

    db = raw(dataset.con)
    for name, (build, _) in BUILDERS.items():
        expr = build(dataset)
        if expr is None:
            db.execute(f"DROP TABLE IF EXISTS {quote_ident(dataset.schema)}.{quote_ident(name)}")
        else:
            sql = ibis.to_sql(expr, dialect="duckdb")
            db.execute(f"CREATE OR REPLACE TABLE {quote_ident(dataset.schema)}.{quote_ident(name)} AS {sql}")
        dataset.refresh()


def upgrade_derived(dataset: Dataset) -> bool:
    """Rebuild the derived tables of a dataset loaded by an older version of this code (new
    columns or tables), in one transaction that also invalidates its cached results."""
    from clm_core.derived import outdated

    if not outdated(dataset):
        return False
    with changing(dataset) as bound:
        rebuild_derived(bound)
    return True


def load_directory(dataset: Dataset, directory: str | os.PathLike, **options) -> IngestReport:
    """Load every ``<table>.csv`` found in ``directory`` (``options`` as for :func:`load`)."""
    sources = {t: Path(directory) / f"{t}.csv" for t in schema.TABLES if (Path(directory) / f"{t}.csv").is_file()}
    if not sources:
        raise IngestError(f"{directory}: no customers.csv, transactions.csv, … found")
    return load(dataset, sources, **options)
