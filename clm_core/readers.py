"""Excel workbooks and Parquet files as CSV text for the loader (clm_core.ingest reads only CSV).

A workbook sheet or a Parquet file is written to a temporary UTF-8 CSV file, one row at a time, which
:func:`clm_core.ingest.load` then reads like any upload: the same validation, mapping, rejected-rows report and
atomic load. Values are written as the file stores them, without locale guessing: Excel dates and Parquet
dates/timestamps as ISO text (``2024-02-01``, ``2024-02-01 10:30:00``), numbers with ``.`` decimals and no
thousands separators (whole numbers without ``.0``, so a customer number 123 stays ``123``), booleans as
``true``/``false``, empty cells empty.

Excel (.xlsx, .xlsm, .xlsb, .xls and OpenDocument .ods, read by python-calamine): the sheet is the caller's
choice, else the first non-empty visible one whose header is the table's (upload.guess_table), else the
first whose header has the table's required columns, else the first non-empty one. The header row is detected among the first HEADER_SCAN_ROWS rows (title rows above a table are
skipped), a header merged over several rows makes the rows below it part of the header (a column is named by
its lowest header cell), and a merged cell's value fills its whole range. The rows are numbered as in the
sheet: :class:`Converted` lists the line numbers the loader counts as skipped so that a rejected row's line is
its row in the sheet. Calamine holds the chosen sheet's cells in memory (about 90 bytes a cell), so a sheet
whose XML is larger than MAX_SHEET_BYTES is refused before it is read; everything after it streams.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field

from clm_core import schema
from clm_core.ingest import HEADER_BYTES, MAX_COLUMNS, IngestError, _listing, _size

#: The header row is looked for among this many first rows of a sheet.
HEADER_SCAN_ROWS = 30
#: A header merged over more rows than this is not taken for a multi-row header.
MAX_HEADER_ROWS = 3
#: The largest sheet read (its uncompressed XML; calamine holds a sheet's cells in memory, ~90 bytes a cell,
#: 1.7 to 3 bytes per byte of XML: a 1,000,000-row sheet of 5 columns is ~260 MB of XML and ~450 MB of cells,
#: bench/bench_excel.py).
MAX_SHEET_BYTES = 2**30
#: Parquet rows are converted in batches of this many.
BATCH_ROWS = 65_536

_ENGINE_PREFIX = re.compile(r"^[A-Za-z ]*(Error|Exception|error):\s*")
_QUOTED_PATH = re.compile(r"(?:\b[Ff]ile )?'/[^']*'|\"/[^\"]*\"|(?<![\w.])/(?:[\w.-]+/)+[\w.-]*")


def _first_line(exc: BaseException) -> str:
    """An engine's message for a user: its first line without the error class and file paths."""
    line = (str(exc).splitlines() or [type(exc).__name__])[0]
    while (cut := _ENGINE_PREFIX.sub("", line, count=1)) != line:
        line = cut
    return _QUOTED_PATH.sub("the file", line).strip() or type(exc).__name__


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PARQUET = b"PAR1"
_SUFFIX = {"xlsx": ".xlsx", "xlsb": ".xlsb", "ods": ".ods", "xls": ".xls"}
_LINE_BREAKS = re.compile(r"(?:\r\n|\r|\n)+")


@dataclass
class Converted:
    """What a conversion wrote: the CSV file's source format, sheet, header row, rows and skipped lines."""

    format: str  # "excel" or "parquet"
    sheet: str | None = None
    header_row: int = 1  # the header's (first) row in the sheet, 1-based
    rows: int = 0  # data rows written
    #: Line numbers as :meth:`ingest._LocalFile.blank_lines` gives them (header = line 1): the header's and
    #: title rows moved behind it, then the empty rows of the sheet, so that data lines are sheet rows.
    skipped: list[int] = field(default_factory=list)
    complete: bool = True  # False when only the head was converted


def workbook_kind(path: str) -> str | None:
    """'xlsx', 'xlsb', 'ods' or 'xls' for a workbook, 'encrypted' for a password-protected Office file,
    'ole' for another Office 97-2003 document; None for anything else (by content, not by name)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(OLE):
        return _ole_kind(path)
    if not head.startswith(b"PK\x03\x04"):
        return None
    from clm_core.ingest import check_zip_directory

    try:
        with open(path, "rb") as f:
            check_zip_directory(f, os.path.basename(path))
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (IngestError, zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
        # a damaged (say cut) workbook: its first member is still named in the first local header
        with open(path, "rb") as f:
            return "xlsx" if office_zip(f.read(30 + 256)) else None
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "xl/workbook.xml" in names or ("[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)):
        return "xlsx"
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    return None


def office_zip(head: bytes) -> bool:
    """Whether a zip file starting with ``head`` is an Office/OpenDocument file, by the name of its first
    member in the first local header ([Content_Types].xml, xl/…, docProps/…, _rels/…, mimetype)."""
    if not head.startswith(b"PK\x03\x04"):
        return False
    first = head[30:30 + int.from_bytes(head[26:28], "little")]
    return first in (b"[Content_Types].xml", b"mimetype") or first.startswith((b"xl/", b"docProps/", b"_rels/"))


def _ole_kind(path: str) -> str:
    """An OLE2 compound file: 'encrypted' (an encrypted OOXML package, a password-protected .xlsx), 'xls'
    (a workbook stream) or 'ole' (a Word or PowerPoint 97-2003 document)."""
    import mmap

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if mm.find("EncryptedPackage".encode("utf-16-le")) >= 0:
            return "encrypted"
        if mm.find("Workbook".encode("utf-16-le")) >= 0 or mm.find("Book".encode("utf-16-le")) >= 0:
            return "xls"
    return "ole"


# --------------------------------------------------------------------------- values as text

def text(value) -> str:
    """A cell's value as the loader reads it (see the module's docstring)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return _LINE_BREAKS.sub("\n", value) if ("\n" in value or "\r" in value) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        shown = repr(value)
        if "e" in shown:
            import numpy as np

            shown = np.format_float_positional(value, trim="-")
        return shown
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


def _header_text(value) -> str:
    """A header cell: its text with line breaks and runs of spaces as one space (Alt+Enter in headers)."""
    return " ".join(text(value).split())


class _Sink:
    """The CSV file being written: the header quoted, then the rows; refuses more than ``limit`` bytes,
    or stops (``full``) at ``head_bytes`` when only the head is converted."""

    def __init__(self, out, name: str, what: str, limit: int, head_bytes: int | None):
        self.out, self.name, self.what, self.limit, self.head_bytes = out, name, what, limit, head_bytes
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.written = 0
        self.full = False

    def header(self, names: list[str]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(names)
        self._write(buffer.getvalue())

    def row(self, values: list[str]) -> None:
        self.writer.writerow(values)
        if self.buffer.tell() > 1 << 20:
            self.flush()

    def raw(self, data: bytes) -> None:
        self.flush()
        self._write_bytes(data)

    def flush(self) -> None:
        if self.buffer.tell():
            self._write(self.buffer.getvalue())
            self.buffer.seek(0)
            self.buffer.truncate()

    def _write(self, data: str) -> None:
        self._write_bytes(data.encode("utf-8"))

    def _write_bytes(self, encoded: bytes) -> None:
        self.written += len(encoded)
        if self.written > self.limit:
            raise IngestError(f"{self.name} is {self.what} that makes more than {_size(self.limit)} of text; "
                              "refused (split it)")
        self.out.write(encoded)
        if self.head_bytes is not None and self.written >= self.head_bytes:
            self.full = True


# --------------------------------------------------------------------------- Excel

def _open_workbook(path: str, kind: str, name: str):
    """The calamine workbook of ``path`` (read through a link named with the format's suffix, so that
    calamine streams the file from disk instead of copying it into memory)."""
    import python_calamine as calamine

    if kind == "encrypted":
        raise IngestError(f"{name} is a password-protected workbook; remove the password in Excel "
                          "(File > Info > Protect Workbook) and upload it again")
    if kind == "ole":
        raise IngestError(f"{name} is an Office 97-2003 document but no Excel workbook, not a CSV file")
    folder = tempfile.mkdtemp(prefix="clm_book_")
    link = os.path.join(folder, "book" + _SUFFIX[kind])
    try:
        os.symlink(os.path.abspath(path), link)
        return calamine.CalamineWorkbook.from_path(link)
    except calamine.PasswordError as exc:
        raise IngestError(f"{name} is a password-protected workbook; remove the password in Excel "
                          "(File > Info > Protect Workbook) and upload it again") from exc
    except BaseException as exc:  # calamine's errors and panics (pyo3's PanicException is a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise IngestError(f"{name} is a damaged or unsupported Excel workbook ({_first_line(exc)})") from exc
    finally:
        try:
            os.unlink(link)
        except OSError:
            pass
        os.rmdir(folder)


def sheet_names(path: str, name: str = "upload") -> list[str]:
    """The worksheets of a workbook, in its order (chart sheets left out)."""
    kind = workbook_kind(path)
    if kind is None:
        raise IngestError(f"{name} is no Excel workbook")
    book = _open_workbook(path, kind, name)
    try:
        return _worksheets(book)
    finally:
        book.close()


def _worksheets(book) -> list[str]:
    import python_calamine as calamine

    return [m.name for m in book.sheets_metadata if m.typ == calamine.SheetTypeEnum.WorkSheet]


def _sheet_sizes(path: str, kind: str) -> dict[str, int]:
    """The uncompressed size of each sheet's XML of an .xlsx/.xlsb workbook by sheet name (from the zip
    directory, before anything is unpacked); empty for other formats."""
    if kind not in ("xlsx", "xlsb"):
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {i.filename: i.file_size for i in archive.infolist()}
            book = archive.read("xl/workbook.xml")[: 4 << 20].decode("utf-8", "replace") if kind == "xlsx" else ""
            rels = archive.read("xl/_rels/workbook.xml.rels")[: 4 << 20].decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError):
        return {}
    targets = {m.group(1): m.group(2) for m in re.finditer(r'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
    targets.update({m.group(2): m.group(1) for m in re.finditer(r'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
    result = {}
    for m in re.finditer(r'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', book):
        target = targets.get(m.group(2), "").lstrip("/")
        member = target if target.startswith("xl/") else f"xl/{target}"
        if member in sizes:
            import html

            result[html.unescape(m.group(1))] = sizes[member]
    return result


def _pick_sheet(book, names: list[str], sheet, table: str | None, name: str):
    """(sheet name, calamine sheet) of the caller's ``sheet`` (a name, or a 1-based number), else the default
    (see the module's docstring); IngestError when there is none."""
    import python_calamine as calamine

    if sheet not in (None, ""):
        chosen = None
        if str(sheet) in names:
            chosen = str(sheet)
        else:
            folded = {n.casefold(): n for n in names}
            chosen = folded.get(str(sheet).strip().casefold())
            if chosen is None and str(sheet).strip().isdigit() and 1 <= int(str(sheet).strip()) <= len(names):
                chosen = names[int(str(sheet).strip()) - 1]
        if chosen is None:
            raise IngestError(f"{name} has no sheet {str(sheet)!r} (its sheets: {_listing(names, 10)})")
        return chosen, book.get_sheet_by_name(chosen)
    if not names:
        raise IngestError(f"{name} is an Excel workbook without worksheets")
    visible = {m.name for m in book.sheets_metadata if m.visible == calamine.SheetVisibleEnum.Visible}
    order = [n for n in names if n in visible] + [n for n in names if n not in visible]
    first = fitting = None
    for candidate in order:
        loaded = book.get_sheet_by_name(candidate)
        if loaded.height == 0:
            continue
        rows = _head_rows(loaded)
        if not any(any(text(v) for v in row) for row in rows):
            continue
        if table is None or _holds(rows, table, candidate):
            return candidate, loaded
        if fitting is None and _fits(rows, table):
            fitting = candidate
        first = first or candidate
    if first is None and fitting is None:
        raise IngestError(f"{name} is an empty Excel workbook (no sheet holds any value)")
    chosen = fitting or first
    return chosen, book.get_sheet_by_name(chosen)


def _head_rows(sheet) -> list[list]:
    rows = []
    for row in sheet.iter_rows():
        rows.append(row)
        if len(rows) >= HEADER_SCAN_ROWS:
            break
    return rows


def _holds(rows: list[list], table: str, sheet_name: str) -> bool:
    """Whether one of the first rows is a header of ``table`` more than of any other table (by the headers
    that map, then the sheet's name: upload.guess_table), so that a customers sheet is not taken for
    transactions because it has customer numbers too."""
    from clm_core.upload import guess_table

    return any(_has_required(headers, table) and guess_table([h for h in headers if h], sheet_name) == table
               for headers in ([_header_text(v) for v in row] for row in rows))


def _fits(rows: list[list], table: str) -> bool:
    """Whether one of the first rows is a header with all required columns of ``table``."""
    return any(_has_required([_header_text(v) for v in row], table) for row in rows)


def _has_required(headers: list[str], table: str) -> bool:
    required = {c.name for c in schema.columns(table) if c.required}
    return required <= set(schema.propose_mapping(table, [h for h in headers if h]).values())


def _header_index(rows: list[list], table: str | None) -> int:
    """The index among ``rows`` of the header row: the first with the table's required columns, else the
    first whose filled cells are all text and at least half as many as the widest row's, else the first
    non-empty row."""
    if table:
        for i, row in enumerate(rows):
            if _has_required([_header_text(v) for v in row], table):
                return i
    widths = [sum(1 for v in row if text(v)) for row in rows]
    widest = max(widths, default=0)
    for i, row in enumerate(rows):
        filled = [v for v in row if text(v)]
        if filled and all(isinstance(v, str) for v in filled) and len(filled) >= max(min(2, widest), math.ceil(widest / 2)):
            return i
    return next((i for i, w in enumerate(widths) if w), 0)


def excel_to_csv(path: str, out, name: str, sheet=None, table: str | None = None,
                 limit: int = 4 * 2**30, head_bytes: int | None = None) -> Converted:
    """Write a workbook's sheet (see the module's docstring) as CSV to ``out`` (a binary file)."""
    kind = workbook_kind(path)
    if kind is None:
        raise IngestError(f"{name} is no Excel workbook")
    book = _open_workbook(path, kind, name)
    try:
        names = _worksheets(book)
        sizes = _sheet_sizes(path, kind)
        small = [n for n in names if sizes.get(n, 0) <= MAX_SHEET_BYTES]
        wanted = sheet not in (None, "") and str(sheet) in names and str(sheet) not in small
        if wanted or (names and not small):
            big = str(sheet) if wanted else names[0]
            raise IngestError(f"{name}: sheet {big!r} is larger than {_size(MAX_SHEET_BYTES)} unpacked; "
                              "save it as CSV and upload that")
        try:
            chosen, loaded = _pick_sheet(book, names if sheet not in (None, "") else small, sheet, table, name)
            return _write_sheet(loaded, chosen, out, name, table, limit, head_bytes)
        except IngestError:
            raise
        except BaseException as exc:  # calamine's errors and panics while reading a sheet
            if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise IngestError(f"{name} is a damaged or unsupported Excel workbook ({_first_line(exc)})") from exc
    finally:
        book.close()


def _write_sheet(sheet, sheet_name: str, out, name: str, table, limit: int, head_bytes) -> Converted:
    start_row, start_col = sheet.start or (0, 0)
    head = _head_rows(sheet)
    h = _header_index(head, table)
    merged = [((r1 - start_row, c1 - start_col), (r2 - start_row, c2 - start_col))
              for (r1, c1), (r2, c2) in (sheet.merged_cell_ranges or [])]
    # rows of the header: more when a header cell is merged downwards
    depth = 1
    for (r1, _), (r2, _) in merged:
        if r1 == h and r2 > h:
            depth = max(depth, min(r2 - h + 1, MAX_HEADER_ROWS))
    width = max((len(r) for r in head), default=0)
    levels = [[_header_text(v) for v in head[i]] + [""] * (width - len(head[i])) for i in range(h, min(h + depth, len(head)))]
    for (r1, c1), (r2, c2) in merged:  # a header merged across columns names each of them
        for level, i in enumerate(range(h, h + len(levels))):
            if r1 <= i <= r2 and c2 > c1 and 0 <= c1 < width:
                value = levels[level][c1] or (levels[r1 - h][c1] if 0 <= r1 - h < len(levels) else "")
                for c in range(c1 + 1, min(c2 + 1, width)):
                    levels[level][c] = levels[level][c] or value
    headers = []
    for c in range(width):
        cells = [lv[c] for lv in levels if lv[c]]
        headers.append(cells[-1] if cells else "")
    filled = [c for c, v in enumerate(headers) if v]
    if not filled:
        raise IngestError(f"{name}: sheet {sheet_name!r} has no header row")
    first_col, last_col = filled[0], filled[-1]
    headers = headers[first_col:last_col + 1]
    if len(headers) > MAX_COLUMNS:
        raise IngestError(f"{name}: {len(headers):,} columns; at most {MAX_COLUMNS} columns can be loaded")
    if sum(len(x) for x in headers) > HEADER_BYTES:
        raise IngestError(f"{name}: the header row is longer than {HEADER_BYTES // 2**20} MB")
    header_row = start_row + h + 1
    first_data = h + len(levels)
    # merged data cells: the anchor's value fills the range
    fills: dict[int, list[tuple[int, int, int]]] = {}
    for (r1, c1), (r2, c2) in merged:
        if r1 >= first_data or r2 >= first_data:
            for r in range(max(r1, first_data), r2 + 1):
                fills.setdefault(r, []).append((r1, c1, c2))
    anchors: dict[tuple[int, int], object] = {}
    sink = _Sink(out, name, "an Excel sheet", limit, head_bytes)
    sink.header(headers)
    # the header's rows and the title rows above it count as skipped lines right after the header
    converted = Converted("excel", sheet_name, header_row, skipped=list(range(2, start_row + first_data + 1)))
    line = start_row + first_data  # the sheet row of the row before the next one
    for i, row in enumerate(sheet.iter_rows()):
        if i < first_data:
            continue
        line = start_row + i + 1
        if i in fills:
            row = list(row) + [""] * max(0, width - len(row))
            for r1, c1, c2 in fills[i]:
                if i == r1:
                    anchors[(r1, c1)] = row[c1] if c1 < len(row) else ""
                value = anchors.get((r1, c1), "")
                for c in range(c1, min(c2 + 1, len(row))):
                    if c != c1 or i != r1:
                        row[c] = row[c] if text(row[c]) else value
        values = [text(v) for v in row[first_col:last_col + 1]]
        if len(values) < len(headers):
            values += [""] * (len(headers) - len(values))
        if not any(values):
            converted.skipped.append(line)
            continue
        sink.row(values)
        converted.rows += 1
        if sink.full:
            converted.complete = False
            break
    sink.flush()
    return converted


# --------------------------------------------------------------------------- Parquet

def parquet_to_csv(path: str, out, name: str, limit: int = 4 * 2**30, head_bytes: int | None = None) -> Converted:
    """Write a Parquet file as CSV to ``out`` (a binary file), read by DuckDB in batches: dates and
    timestamps ISO (a time zone's as UTC), numbers as DuckDB writes them, lists and structs as their text."""
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pacsv

    db = duckdb.connect()
    try:
        db.execute("SET memory_limit = '512MiB'")
        db.execute("SET threads = 2")
        try:
            columns = db.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        except duckdb.Error as exc:
            raise IngestError(f"{name} is a damaged Parquet file ({_first_line(exc)})") from exc
        if len(columns) > MAX_COLUMNS:
            raise IngestError(f"{name}: {len(columns):,} columns; at most {MAX_COLUMNS} columns can be loaded")
        if not columns:
            raise IngestError(f"{name}: the Parquet file has no columns")
        selects = []
        for i, (column, kind, *_) in enumerate(columns):
            quoted = f"#{i + 1}"  # by position: no text of the file reaches the SQL
            kind = str(kind).upper()
            if kind == "DATE":
                expr = f"strftime({quoted}, '%Y-%m-%d')"
            elif kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
                expr = f"CAST(timezone('UTC', {quoted}) AS VARCHAR)"
            else:
                expr = f"CAST({quoted} AS VARCHAR)"
            selects.append(f"{expr} AS c{i}")
        sink = _Sink(out, name, "a Parquet file", limit, head_bytes)
        sink.header([" ".join(str(c[0]).split()) for c in columns])
        converted = Converted("parquet")
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        try:
            reader = db.execute(f"SELECT {', '.join(selects)} FROM read_parquet(?)", [path]).fetch_record_batch(BATCH_ROWS)
            for batch in reader:
                buffer = pa.BufferOutputStream()
                pacsv.write_csv(batch, buffer, options)
                sink.raw(buffer.getvalue().to_pybytes())
                converted.rows += batch.num_rows
                if sink.full:
                    converted.complete = False
                    break
        except (duckdb.Error, pa.ArrowException) as exc:
            raise IngestError(f"{name} is a damaged Parquet file ({_first_line(exc)})") from exc
        return converted
    finally:
        db.close()
