"""`# pylint: disable=` comments: which findings they silence, and adding one.

pylint applies these pragmas to its messages; the language server runs the
analysis without pylint, so it reads them itself with pylint's own pragma
parser, and the editor shows what `pylint --load-plugins=pylint_distiller`
would. Scopes follow pylint closely enough for editing: a trailing comment
covers its line, ``disable-next`` the next line, a comment on a line of its own
the rest of its block (until the code dedents below it), ``skip-file`` (or
``disable-all``) the whole file. Names match by symbol, message id, ``all``,
the checker name ``distiller`` or the category letter.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from pylint.utils.pragma_parser import OPTION_PO, PragmaParserError, parse_pragma

from pylint_distiller.catalogue import RULES
from pylint_distiller.findings import Finding

CHECKER_NAME = "distiller"


@dataclass
class _Block:
    line: int  # the pragma's line
    indent: int
    end: int  # last line the pragma covers
    disable: bool
    names: frozenset[str]


@dataclass
class Pragmas:
    """The pragmas of one text (1-based lines)."""

    skip_file: bool = False
    trailing: dict[int, list[tuple[bool, frozenset[str]]]] = field(default_factory=dict)
    next_line: dict[int, set[str]] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)

    def disabled(self, finding: Finding) -> bool:
        if self.skip_file:
            return True
        rule = RULES.get(finding.symbol)
        names = {finding.symbol.lower(), "all", CHECKER_NAME}
        if rule is not None:
            names |= {rule.msgid.lower(), rule.category.lower()}
        line = finding.line
        state = False
        for block in self.blocks:
            if block.line < line <= block.end and names & block.names:
                state = block.disable
        for disable, pragma_names in self.trailing.get(line, ()):
            if names & pragma_names:
                state = disable
        if names & self.next_line.get(line, set()):
            state = True
        return state


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text, newline=None).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError, ValueError):
        return []


def read_pragmas(text: str) -> Pragmas:
    """Collect the pylint pragmas of `text` (never raises)."""
    pragmas = Pragmas()
    if "pylint:" not in text:
        return pragmas
    tokens = _tokens(text)
    # starts of logical lines: (line, indent column), to find where a block ends
    logical: list[tuple[int, int]] = []
    at_start = True
    for tok in tokens:
        if tok.type in (tokenize.NEWLINE, tokenize.NL):
            at_start = tok.type == tokenize.NEWLINE or at_start
            continue
        if tok.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.ENCODING,
                        tokenize.ENDMARKER):
            continue
        if at_start:
            logical.append((tok.start[0], tok.start[1]))
            at_start = False
    last_line = tokens[-1].end[0] if tokens else 1
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        match = OPTION_PO.search(tok.string)
        if match is None:
            continue
        line, col = tok.start
        own_line = not tok.line[:col].strip()
        try:
            parsed = list(parse_pragma(match.group(2)))
        except PragmaParserError:
            continue
        for pragma in parsed:
            names = frozenset(m.strip().lower() for m in pragma.messages)
            action = pragma.action
            if action in ("skip-file", "disable-all"):
                pragmas.skip_file = True
            elif action == "disable-next":
                pragmas.next_line.setdefault(line + 1, set()).update(names)
            elif action in ("disable", "disable-msg", "enable", "enable-msg"):
                disable = action.startswith("disable")
                if own_line:
                    end = last_line
                    for start, indent in logical:
                        if start > line and indent < col:
                            end = start - 1
                            break
                    pragmas.blocks.append(_Block(line, col, end, disable, names))
                else:
                    pragmas.trailing.setdefault(line, []).append((disable, names))
    return pragmas


def visible(findings: list[Finding], text: str) -> list[Finding]:
    """The findings no pragma silences."""
    if "pylint:" not in text:
        return findings
    pragmas = read_pragmas(text)
    return [f for f in findings if not pragmas.disabled(f)]


_DISABLE_LIST = re.compile(r"\s*disable\s*=\s*[\w\-]+(?:\s*,\s*[\w\-]+)*\s*")


def disable_edit(text: str, line: int, symbol: str) -> tuple[int, int, str] | None:
    """(start, end, new text) offsets that disable `symbol` on a 1-based `line`.

    Extends the line's ``# pylint: disable=...`` comment if it has one, otherwise
    appends ``  # pylint: disable=<symbol>`` to the line. None when no comment
    can end that line: it ends inside a multi-line string or with a backslash
    continuation.
    """
    from pylint_distiller.lsp.text import Lines

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
