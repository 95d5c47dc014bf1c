"""PDF and Word files as plain text (pypdf and python-docx live here only).

Paragraphs come out separated by blank lines, as cleaning expects; a file that cannot give
text (encrypted, damaged, a scan without a text layer) raises SkipFile with its fix.
"""

from __future__ import annotations

import io
import logging
import zipfile

import docx
import pypdf
from docx.opc.exceptions import PackageNotFoundError
from pypdf.errors import DependencyError, FileNotDecryptedError

# pypdf logs every oddity of a damaged file; the reason reaches the user in the skip instead.
logging.getLogger("pypdf").setLevel(logging.ERROR)
ENCRYPTED = "encrypted PDF (needs a password); save an unencrypted copy"


class Unreadable(Exception):
    """A PDF or Word file that gives no text; the message is the reason."""


def pdf_text(raw: bytes) -> str:
    """The text of every page of a PDF, pages separated by blank lines."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable(ENCRYPTED)
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (FileNotDecryptedError, DependencyError) as exc:
        raise Unreadable(ENCRYPTED) from exc
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise Unreadable(f"damaged PDF ({_short(exc)}); export it again") from exc
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise Unreadable("PDF has no text layer (a scan?); run OCR on it first")
    return text


def docx_text(raw: bytes) -> str:
    """The paragraphs and table cells of a Word (.docx) file, separated by blank lines."""
    try:
        document = docx.Document(io.BytesIO(raw))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Unreadable(f"damaged Word file ({_short(exc)}); save it again as .docx") from exc
    parts = [p.text.strip() for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text.strip() for row in table.rows for cell in row.cells]
    text = "\n\n".join(p for p in parts if p)
    if not text:
        raise Unreadable("Word file has no text")
    return text


def _short(exc: Exception) -> str:
    message = " ".join(str(exc).split())[:120]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
