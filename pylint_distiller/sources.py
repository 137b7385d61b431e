"""Reading and writing Python source files without losing a byte.

Files are decoded the way Python itself does (BOM, PEP 263 coding cookie, UTF-8
default) and written back in the same encoding, with the BOM kept, through a
temporary file in the same folder that is renamed over the original, so a crash
or a full disk never leaves a half-written file. Line endings are untouched
because the text is never re-split: edits are spliced into the original string.

A write keeps the file's mode (and its owner when the process may set it) and
goes through symbolic links to the real file, so the link stays a link. It is
refused, with the file untouched, when the file is read-only (no write bit, even
for root: a read-only file is a user's "do not touch"), when it changed on disk
since it was read, or when it disappeared. Renaming over the original gives the
file a new inode: other hard links to it keep the old content.
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
    #: (st_mtime_ns, st_size) of the file when it was read, to refuse writing over a newer version
    stamp: tuple[int, int] | None = None

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def _where(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"byte 0x{data[offset]:02x} at line {line}, column {col}"


def decode(data: bytes, path: str = "<bytes>") -> Source:
    """Decode `data` as Python would; SourceError says why it cannot be."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        message = str(exc.msg if hasattr(exc, "msg") else exc)
        if message.startswith("invalid or missing encoding declaration"):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise SourceError(f"{path}: not valid UTF-8 ({_where(data, err.start)}) and no coding "
                                  "declaration; save it as UTF-8 or declare its encoding "
                                  "('# -*- coding: latin-1 -*-')") from None
        raise SourceError(f"{path}: bad coding declaration: {message}") from None
    bom = encoding == "utf-8-sig"
    if bom:
        data = data[len(codecs.BOM_UTF8):]
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8":
            raise SourceError(f"{path}: not valid UTF-8 ({_where(data, exc.start)}) and no other coding "
                              "declared; save it as UTF-8 or declare its encoding "
                              "('# -*- coding: latin-1 -*-')") from None
        raise SourceError(f"{path}: cannot decode as {encoding}, its declared encoding "
                          f"({_where(data, exc.start)})") from None
    except LookupError as exc:
        raise SourceError(f"{path}: bad coding declaration: {exc}") from None
    return Source(path, text, encoding, bom)


def _stamp(st: os.stat_result) -> tuple[int, int]:
    return st.st_mtime_ns, st.st_size


def read_source(path: str) -> Source:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # before open(): opening a FIFO would block
            raise SourceError(f"{path}: not a regular file")
        with open(path, "rb") as stream:
            st = os.fstat(stream.fileno())
            data = stream.read()
    except FileNotFoundError:
        kind = "broken symbolic link" if os.path.islink(path) else "no such file"
        raise SourceError(f"{path}: {kind}") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except PermissionError:
        raise SourceError(f"{path}: cannot read: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    source = decode(data, path)
    return Source(source.path, source.text, source.encoding, source.bom, _stamp(st))


def write_atomic(source: Source, text: str) -> None:
    """Replace the file's content with `text`, atomically, keeping its mode.

    Writes through symlinks to the real file (the link stays a link). Raises
    SourceError, leaving the file as it was, when it cannot.
    """
    real, tmp = stage(source, text)
    try:
        os.replace(tmp, real)
    except OSError as exc:
        unstage(tmp)
        raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}; not written") from None


def stage(source: Source, text: str, check: bool = True) -> tuple[str, str]:
    """Write `text` (encoded as the file was) to a temporary file next to the real file, with its mode.

    Returns (real path, temporary path); `os.replace` of the two commits it. With
    `check`, refuses (SourceError) a read-only file or one changed on disk since it was read.
    """
    real = os.path.realpath(source.path)
    folder = os.path.dirname(real) or "."
    try:
        data = source.encode(text)
    except UnicodeEncodeError as exc:
        raise SourceError(f"{source.path}: the fixed text cannot be encoded as {source.encoding} "
                          f"({exc.reason}); not written") from None
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise SourceError(f"{source.path}: deleted while being fixed; not written") from None
    except OSError as exc:
        raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}") from None
    mode = stat.S_IMODE(st.st_mode)
    if check and (not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(real, os.W_OK)):
        raise SourceError(f"{source.path}: read-only file; not written")
    if check and source.stamp is not None and _stamp(st) != source.stamp:
        raise SourceError(f"{source.path}: changed on disk while being fixed; not written")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pylint-distiller-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SourceError(f"{source.path}: cannot write to its folder: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass  # not allowed to give it away: the content and mode are what matter
    except OSError as exc:
        unstage(tmp)
        raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}; not written") from None
    return real, tmp


def unstage(*tmps: str) -> None:
    """Remove staged temporary files (those not committed)."""
    for tmp in tmps:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
