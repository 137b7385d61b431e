"""Reading and writing Python source files without losing a byte.

Files are decoded the way Python itself does (BOM, PEP 263 coding cookie, UTF-8
default) and written back in the same encoding, with the BOM kept, through a
temporary file in the same folder that is renamed over the original, so a crash
or a full disk never leaves a half-written file. Line endings are untouched
because the text is never re-split: edits are spliced into the original string.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass


class SourceError(Exception):
    """A file that cannot be read, decoded or written; the message says why."""


@dataclass(frozen=True)
class Source:
    path: str
    text: str
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def decode(data: bytes, path: str = "<bytes>") -> Source:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"{path}: {exc}") from None
    bom = encoding == "utf-8-sig"
    if bom:
        data = data[len(codecs.BOM_UTF8):]
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SourceError(f"{path}: cannot decode as {encoding}: {exc}") from None
    return Source(path, text, encoding, bom)


def read_source(path: str) -> Source:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decode(data, path)


def write_atomic(source: Source, text: str) -> None:
    """Replace the file's content with `text`, atomically, keeping its mode.

    Writes through symlinks to the real file (the link stays a link).
    """
    real = os.path.realpath(source.path)
    folder = os.path.dirname(real) or "."
    try:
        data = source.encode(text)
    except UnicodeEncodeError as exc:
        raise SourceError(f"{source.path}: the fixed text cannot be encoded as {source.encoding}: {exc}") from None
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
        if not os.access(real, os.W_OK):
            raise SourceError(f"{source.path}: not writable")
        fd, tmp = tempfile.mkstemp(prefix=".pylint-distiller-", suffix=".tmp", dir=folder)
    except SourceError:
        raise
    except OSError as exc:
        raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}") from None
