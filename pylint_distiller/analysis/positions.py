"""Node positions in characters.

astroid (like `ast`) gives column offsets in UTF-8 bytes. Editors, the rewrite
engine and the language server all want characters, so every span leaving the
analysis goes through here. Lines that are pure ASCII (nearly all) convert for
free.
"""

from __future__ import annotations

import re

from astroid import nodes

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Span = tuple[int, int, int, int]


class Positions:
    def __init__(self, text: str | None) -> None:
        self.text = text
        # only \r\n, \r and \n end a line for Python (str.splitlines also splits at \f, \x1c, U+2028...)
        self._lines = _LINE_BREAK.split(text) if text is not None and not text.isascii() else None
        self._all_lines: list[str] | None = self._lines  # every line, split once (`has_comment`)

    def col(self, line: int, byte_col: int) -> int:
        if self._lines is None or line < 1 or line > len(self._lines):
            return byte_col
        text = self._lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: nodes.NodeNG) -> Span:
        end_line = node.end_lineno if node.end_lineno is not None else node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return (node.lineno, self.col(node.lineno, node.col_offset), end_line, self.col(end_line, end_col))

    def has_comment(self, span: Span, holes: list[Span]) -> bool:
        """Does a multi-line span hold a comment outside its holes (text a rewrite would drop)?"""
        if self.text is None or span[0] == span[2] or "#" not in self.text:
            return False
        if self._all_lines is None:
            self._all_lines = _LINE_BREAK.split(self.text)
        lines = self._all_lines
        cuts = sorted(h for h in holes if h[0] >= span[0] and h[2] <= span[2])
        pos = (span[0], span[1])
        for hole in cuts + [(span[2], span[3], span[2], span[3])]:
            if _slice(lines, pos, (hole[0], hole[1])).find("#") >= 0:
                return True
            pos = max(pos, (hole[2], hole[3]))
        return False


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    if start >= end:
        return ""
    if start[0] == end[0]:
        return lines[start[0] - 1][start[1]:end[1]]
    parts = [lines[start[0] - 1][start[1]:]]
    parts += lines[start[0]:end[0] - 1]
    parts.append(lines[end[0] - 1][:end[1]])
    return "\n".join(parts)
