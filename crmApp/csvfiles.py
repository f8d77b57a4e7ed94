"""Reading an uploaded CSV file: its encoding, its delimiter, and its records with byte offsets.

Files come from spreadsheets: UTF-8 (with or without the byte order mark Excel writes) or
Latin-1, separated by commas or (in locales with a decimal comma) semicolons. The encoding is
told by a BOM, else by whether the whole file decodes as UTF-8 (Latin-1 decodes anything);
the delimiter by which of the two occurs more often outside quotes on the header line.

Records are read from the raw bytes line by line (a line break byte never occurs inside a UTF-8
or Latin-1 character), so the byte offset after each record is known exactly: the import splits
a file into chunks at those offsets and each worker seeks straight to its own.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import IO

from crmApp.csv_export import CSV_FORMULA_PREFIXES

DELIMITERS = (",", ";")
#: What a spreadsheet may read as the start of a formula. The export puts a `'` before a cell
#: starting with one of these (so it opens as text); the import stores such cells as the literal
#: text and removes that one `'` again, so an exported file imports back unchanged.
FORMULA_PREFIXES = CSV_FORMULA_PREFIXES
READ_CHUNK = 64 * 1024
#: Largest cell (csv's own limit is 128 KiB; no field of the CRM takes more than 10,000).
MAX_CELL = 100_000


class CsvFormatError(ValueError):
    """The file cannot be read as a CSV table (the message says why)."""


def detect_encoding(file: IO[bytes]) -> str:
    """`utf-8-sig` (BOM), `utf-8` (decodes cleanly) or `latin-1`; reads the whole file once."""
    file.seek(0)
    if file.read(3) == codecs.BOM_UTF8:
        file.seek(0)
        return "utf-8-sig"
    file.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(READ_CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    finally:
        file.seek(0)
    return "utf-8"


def _codec(encoding: str) -> str:
    return "latin-1" if encoding == "latin-1" else "utf-8"


def detect_delimiter(header_line: str) -> str:
    """`;` when it occurs more often than `,` outside double quotes, else `,`."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for character in header_line:
        if character == '"':
            quoted = not quoted
        elif not quoted and character in counts:
            counts[character] += 1
    return ";" if counts[";"] > counts[","] else ","


def first_line(file: IO[bytes], encoding: str) -> str:
    file.seek(3 if encoding == "utf-8-sig" else 0)
    line = file.readline(READ_CHUNK)
    file.seek(0)
    return line.decode(_codec(encoding), errors="replace")


class _Lines:
    """The file's decoded lines, counting the bytes consumed (`offset`) for the csv reader."""

    def __init__(self, file: IO[bytes], *, encoding: str, start: int):
        if start == 0 and encoding == "utf-8-sig":
            start = 3
        file.seek(start)
        self.file = file
        self.codec = _codec(encoding)
        self.offset = start

    def __iter__(self) -> Iterator[str]:
        # readline, not iteration: Django's File iterates over chunks() from the start.
        while raw := self.file.readline():
            self.offset += len(raw)
            yield raw.decode(self.codec)


def records(
    file: IO[bytes], *, encoding: str, delimiter: str, start: int = 0
) -> Iterator[tuple[list[str], int]]:
    """Each non-empty record from byte `start` on, with the byte offset just after it."""
    lines = _Lines(file, encoding=encoding, start=start)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                if any(len(cell) > MAX_CELL for cell in record):
                    raise CsvFormatError(
                        f"Line {reader.line_num}: a cell is longer than {MAX_CELL} characters."
                    )
                yield record, lines.offset
    except csv.Error as exc:
        raise CsvFormatError(f"Line {reader.line_num}: {exc}.") from None


def read_header(file: IO[bytes], *, encoding: str, delimiter: str) -> tuple[list[str], int]:
    """The header's column names (trimmed) and the offset of the first data record."""
    for record, offset in records(file, encoding=encoding, delimiter=delimiter):
        columns = [cell.strip() for cell in record]
        if any(not column for column in columns):
            raise CsvFormatError("Every column of the header row needs a name.")
        if len(set(columns)) != len(columns):
            raise CsvFormatError("The header row names a column twice.")
        return columns, offset
    raise CsvFormatError("The file is empty.")
