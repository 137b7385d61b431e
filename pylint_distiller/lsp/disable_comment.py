"""The "Disable <symbol> for this line" edit: a ``# pylint: disable=`` comment.

Which findings a pragma silences is decided by pylint's own machinery
(`pylint_distiller.pragmas.pragma_filter`, shared with `check` and `fix`);
this module only writes the comment: it extends the line's existing
``# pylint: disable=...`` list, or appends ``  # pylint: disable=<symbol>``, and
declines where no comment can end the line.
"""

from __future__ import annotations

import io
import re
import tokenize

from pylint.utils.pragma_parser import OPTION_PO

from pylint_distiller.lsp.text import Lines

_DISABLE_LIST = re.compile(r"\s*disable\s*=\s*[\w\-]+(?:\s*,\s*[\w\-]+)*\s*")


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    # newline=None: lone CR and CRLF end lines, as for the parser and LSP
    try:
        return list(tokenize.generate_tokens(io.StringIO(text, newline=None).readline))
    except (tokenize.TokenError, SyntaxError, ValueError):
        return []


def disable_edit(text: str, line: int, symbol: str) -> tuple[int, int, str] | None:
    """(start, end, new text) offsets that disable `symbol` on a 1-based `line`.

    Extends the line's ``# pylint: disable=...`` comment if it has one, otherwise
    appends ``  # pylint: disable=<symbol>`` to the line (dropping trailing
    blanks). None when no comment can end that line: it ends inside a
    multi-line string or with a backslash continuation, or the text does not
    tokenize.
    """
    lines = Lines(text)
    index = line - 1
    if index < 0 or index >= len(lines):
        return None
    content = lines.line_text(index)
    start = lines.starts[index]
    tokens = _tokens(text)
    if not tokens:
        return None
    comment = None
    for tok in tokens:
        if tok.type not in (tokenize.NL, tokenize.NEWLINE) and tok.start[0] <= line < tok.end[0]:
            return None  # the line ends inside a (multi-line) string
        if tok.type == tokenize.COMMENT and tok.start[0] == line:
            comment = tok
    if comment is not None:
        match = OPTION_PO.search(comment.string)
        if match is not None and _DISABLE_LIST.fullmatch(match.group(2)):
            items = match.group(2)
            at = start + comment.start[1] + match.start(2) + len(items.rstrip())
            sep = ", " if ", " in items else ","
            return at, at, f"{sep}{symbol}"
    elif content.rstrip().endswith("\\"):
        return None
    end = start + len(content)
    at = start + len(content.rstrip())
    return at, end, f"  # pylint: disable={symbol}"
