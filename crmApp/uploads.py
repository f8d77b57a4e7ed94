"""What an uploaded file is, told from its bytes, and a file name safe to store and send back.

The client's Content-Type and file extension are never trusted for the type: a file is what its
first bytes say (`filetype`'s signatures), zip-based Office documents are told apart by their
inner structure, and text is text only when it decodes cleanly and holds no control bytes. A
CSV is plain text whose name ends in `.csv` (the name can only choose between two harmless text
types).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
from typing import IO

import filetype

#: Bytes read to recognise a signature.
HEAD_BYTES = 8192
TEXT_CHUNK = 64 * 1024

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
#: The part every OOXML package has in its main folder: folder -> content type.
OOXML_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}
#: Signatures kept from `filetype` (others, like executables, are reported as unknown).
SIGNATURE_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "application/zip"}
)
#: Control characters that never appear in text files (NUL, and the C0 set but tab, LF, CR, FF).
_BINARY_BYTES = bytes(set(range(32)) - {9, 10, 12, 13})

MAX_NAME_LENGTH = 150


def _ooxml_type(file: IO[bytes]) -> str | None:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for part, content_type in OOXML_PARTS.items():
        if part in names:
            return content_type
    return None


def _is_text(file: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    while chunk := file.read(TEXT_CHUNK):
        if chunk.translate(None, _BINARY_BYTES) != chunk:
            return False
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_content_type(file: IO[bytes], *, name: str) -> str | None:
    """The content type of `file` told from its bytes, or None when it is not recognised.

    Reads from the start and leaves the position at the start again.
    """
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if not head:
        return None
    kind = filetype.guess(head)
    detected = kind.mime if kind is not None and kind.mime in SIGNATURE_TYPES else None
    if detected == "application/zip" or head.startswith(b"PK\x03\x04"):
        detected = _ooxml_type(file)
    elif detected is None and kind is None and _is_text(file):
        detected = "text/csv" if name.lower().endswith(".csv") else "text/plain"
    file.seek(0)
    return detected


_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_file_name(raw: str) -> str:
    """A file name with no path, no control or shell-special characters and a bounded length.

    Only the last path component is kept (`../../etc/passwd` -> `passwd`, `C:\\x\\y.pdf` ->
    `y.pdf`); leading dots go (no hidden files, no `..`); an empty result becomes `file`.
    """
    name = unicodedata.normalize("NFKC", str(raw)).replace("\\", "/").split("/")[-1]
    name = _UNSAFE.sub("_", name).strip(" ._") or "file"
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_NAME_LENGTH]
    return name
