"""Span arithmetic on source text, and splicing edits into it.

Spans are (line, col, end_line, end_col) with character columns; the engine
turns them into string offsets once and never re-splits the text, so line
endings (LF, CRLF, a mix), tabs and everything outside an edit survive byte for
byte.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

Span = tuple[int, int, int, int]


class LineIndex:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)
            elif ch == "\r" and (i + 1 >= len(text) or text[i + 1] != "\n"):
                self.starts.append(i + 1)  # a lone CR ends a line too

    def offset(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def span(self, span: Span) -> tuple[int, int]:
        return self.offset(span[0], span[1]), self.offset(span[2], span[3])

    def position(self, offset: int) -> tuple[int, int]:
        """(line, col) of a string offset."""
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1]

    def line_end(self, line: int) -> int:
        """Offset just before the line's terminator."""
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        while end > self.starts[line - 1] and self.text[end - 1] in "\r\n":
            end -= 1
        return end

    def line_text(self, line: int) -> str:
        return self.text[self.starts[line - 1]:self.line_end(line)]

    def terminator(self, line: int) -> str:
        """The line's own terminator (files may mix them); the file's first one for the last line."""
        end = self.line_end(line)
        nxt = self.starts[line] if line < len(self.starts) else len(self.text)
        return self.text[end:nxt] or self.newline()

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def newline(self) -> str:
        """The file's own line terminator (the first one found)."""
        i = self.text.find("\n")
        if i > 0 and self.text[i - 1] == "\r":
            return "\r\n"
        if i < 0 and "\r" in self.text:
            return "\r"
        return "\n"


@dataclass
class Replacement:
    """A templated span replacement whose holes may hold nested replacements."""

    start: int
    end: int
    template: str
    holes: list[tuple[int, int]]
    names: dict[str, str]
    children: list["Replacement"] = field(default_factory=list)
    key: object = None


def compose(text: str, replacements: list[Replacement]) -> tuple[list[tuple[int, int, str]], list[object]]:
    """Nest replacements inside each other's holes; drop those that overlap badly.

    Returns flat (start, end, text) edits for the top-level replacements and the
    keys of those dropped (they will be re-analysed and retried on the next pass).
    """
    ordered = sorted(replacements, key=lambda r: (r.start, -r.end))
    roots: list[Replacement] = []
    dropped: list[object] = []
    for rep in ordered:
        if not _place(rep, roots):
            dropped.append(rep.key)
    edits = [(r.start, r.end, _render(text, r)) for r in roots]
    return edits, dropped


def _place(rep: Replacement, siblings: list[Replacement]) -> bool:
    for other in siblings:
        if rep.end <= other.start or rep.start >= other.end:
            continue
        for hs, he in other.holes:
            if hs <= rep.start and rep.end <= he:
                return _place(rep, other.children)
        return False  # overlaps the fixed part of another replacement
    siblings.append(rep)
    return True


def _render_region(text: str, start: int, end: int, children: list[Replacement]) -> str:
    out, pos = [], start
    for child in sorted(children, key=lambda r: r.start):
        if child.start < start or child.end > end:
            continue
        out.append(text[pos:child.start])
        out.append(_render(text, child))
        pos = child.end
    out.append(text[pos:end])
    return "".join(out)


def _render(text: str, rep: Replacement) -> str:
    values = [_render_region(text, hs, he, rep.children) for hs, he in rep.holes]
    return rep.template.format(*values, **rep.names)


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply non-overlapping (start, end, text) edits; insertions sort after replacements ending there."""
    out, pos = [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            raise ValueError("overlapping edits")
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)
