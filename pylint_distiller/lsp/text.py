"""Positions between our findings and LSP, and minimal text edits.

Findings and fix edits count columns in Unicode code points (a Python `str`
index into the line); LSP counts them in the negotiated position encoding, by
default UTF-16 code units (an emoji is 2 units, `é` is 1), or UTF-8 bytes / UTF-32
code points when the client offers them. Lines end at ``\\n``, ``\\r\\n`` or a
lone ``\\r``, exactly as in LSP and in the rewrite engine's `LineIndex` (and
unlike `str.splitlines`, which also breaks at form feeds and U+2028).
"""

from __future__ import annotations

import bisect
import difflib

from lsprotocol import types

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(text: str, encoding: str) -> int:
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _char_width(ch: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    if encoding == UTF8:
        return len(ch.encode("utf-8", "surrogatepass"))
    return 2 if ord(ch) > 0xFFFF else 1


class Lines:
    """Line starts of a text, and conversions between offsets, (line, char col) and LSP positions."""

    def __init__(self, text: str, encoding=UTF16) -> None:
        self.text = text
        encoding = getattr(encoding, "value", encoding)
        self.encoding = encoding if encoding in (UTF8, UTF16, UTF32) else UTF16
        starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                starts.append(i + 1)
            elif ch == "\r" and (i + 1 >= len(text) or text[i + 1] != "\n"):
                starts.append(i + 1)
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts)

    def line_text(self, index: int) -> str:
        """The 0-based line `index` without its terminator."""
        if index < 0 or index >= len(self.starts):
            return ""
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        return self.text[start:end]

    def line_end(self, index: int) -> int:
        """Offset of the end of line `index`'s content (before its terminator)."""
        return self.starts[index] + len(self.line_text(index))

    # ---------------------------------------------------------------- offsets
    def offset(self, line: int, col: int) -> int:
        """Offset of a 1-based line and a code-point column (clamped to the line)."""
        index = min(max(line - 1, 0), len(self.starts) - 1)
        return self.starts[index] + min(max(col, 0), len(self.line_text(index)))

    def position(self, offset: int) -> tuple[int, int]:
        """(1-based line, code-point column) of an offset."""
        offset = min(max(offset, 0), len(self.text))
        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index]

    # ------------------------------------------------------------------- LSP
    def to_lsp(self, line: int, col: int) -> types.Position:
        """LSP position of a 1-based line and a code-point column."""
        index = min(max(line - 1, 0), len(self.starts) - 1)
        text = self.line_text(index)
        col = min(max(col, 0), len(text))
        return types.Position(line=index, character=_units(text[:col], self.encoding))

    def from_lsp(self, position: types.Position) -> tuple[int, int]:
        """(1-based line, code-point column) of an LSP position, clamped to the document.

        A position inside a character (the middle of a surrogate pair or of a
        UTF-8 sequence) moves to the end of that character.
        """
        if position.line >= len(self.starts):
            last = len(self.starts) - 1
            return last + 1, len(self.line_text(last))
        text = self.line_text(max(position.line, 0))
        units = 0
        for i, ch in enumerate(text):
            if units >= position.character:
                return position.line + 1, i
            units += _char_width(ch, self.encoding)
        return position.line + 1, len(text)

    def offset_to_lsp(self, offset: int) -> types.Position:
        return self.to_lsp(*self.position(offset))

    def lsp_to_offset(self, position: types.Position) -> int:
        return self.offset(*self.from_lsp(position))

    def range(self, line: int, col: int, end_line: int, end_col: int) -> types.Range:
        return types.Range(start=self.to_lsp(line, col), end=self.to_lsp(end_line, end_col))

    def offset_range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.offset_to_lsp(start), end=self.offset_to_lsp(end))


def split_lines(text: str) -> list[str]:
    """Lines with their terminators (LSP's line breaks only)."""
    lines = Lines(text)
    starts = lines.starts + [len(text)]
    out = [text[starts[i]:starts[i + 1]] for i in range(len(lines.starts))]
    if out and out[-1] == "":
        out.pop()
    return out


def diff_edits(old: str, new: str, encoding=UTF16) -> list[types.TextEdit]:
    """Minimal line-level TextEdits turning `old` into `new` (non-overlapping, in order)."""
    if old == new:
        return []
    lines = Lines(old, encoding)
    old_lines, new_lines = split_lines(old), split_lines(new)
    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(types.TextEdit(range=lines.offset_range(starts[i1], starts[i2]),
                                    new_text="".join(new_lines[j1:j2])))
    return edits


def apply_text_edits(text: str, edits: list[types.TextEdit], encoding=UTF16) -> str:
    """Apply LSP TextEdits the way a client does (used for self-checks and tests)."""
    lines = Lines(text, encoding)
    spans = sorted(
        ((lines.lsp_to_offset(e.range.start), lines.lsp_to_offset(e.range.end), i, e.new_text)
         for i, e in enumerate(edits)),
        key=lambda s: (s[0], s[1] != s[0], s[2]),
    )
    out, pos = [], 0
    for start, end, _, new in spans:
        if start < pos:
            raise ValueError("overlapping text edits")
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)
