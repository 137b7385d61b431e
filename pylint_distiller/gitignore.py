"""gitignore patterns, matched as git matches them (no git, no dependency).

Used for ``.gitignore`` files and for the `distiller-exclude` patterns, which take
the same syntax. What git documents (gitignore(5)) and this implements:

* blank lines and ``#`` comments are skipped; trailing spaces are dropped unless
  escaped (``\\ ``); ``\\#`` and ``\\!`` are literal;
* ``!`` negates (re-includes); the last matching pattern wins;
* a trailing ``/`` matches directories only;
* a pattern with a ``/`` at its start or middle is anchored to the folder of
  the file that holds it, otherwise it matches a name at any depth;
* ``*`` and ``?`` never match ``/``, ``[...]`` is a character class;
  ``**/`` at the start matches any folders, ``/**`` at the end everything
  inside, ``/**/`` zero or more folders.

A path under an excluded folder is excluded whatever later patterns say (git
cannot re-include a file whose parent directory is excluded): callers check
ancestors first (see `pylint_distiller.scope`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ANY_FOLDERS = "(?:[^/]*/)*"


@dataclass(frozen=True)
class IgnoreRule:
    pattern: str  # as written, for messages
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    def matches(self, relpath: str, is_dir: bool) -> bool:
        return (is_dir or not self.dir_only) and self.regex.match(relpath) is not None


def _char_class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
            continue
        out.append("\\" + ch if ch in "\\^[]" else ch)
        i += 1
    return "[" + ("^/" if negate else "") + "".join(out) + "]"


def glob_regex(pattern: str) -> str:
    """Regex source matching a whole '/'-separated relative path against a glob (git's wildmatch)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_segment = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i == 2 and whole_segment:
                if j == n:
                    out.append(".*")  # `dir/**`: everything inside
                    i = j
                else:
                    out.append(_ANY_FOLDERS)  # `**/`: zero or more folders
                    i = j + 1
                continue
            out.append("[^/]*")
            i = j
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append(re.escape(ch))
                i += 1
            else:
                out.append(_char_class(pattern[i + 1:j]))
                i = j + 1
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def parse_pattern(line: str) -> IgnoreRule | None:
    """One gitignore line as a rule; None for blank lines and comments."""
    line = line.rstrip("\r\n")
    if not line or line.startswith("#"):
        return None
    stripped = line.rstrip(" ")
    if stripped != line and stripped.endswith("\\"):
        stripped += " "  # `foo\ ` keeps its escaped space
    text = stripped
    negated = text.startswith("!")
    if negated:
        text = text[1:]
    dir_only = text.endswith("/") and not text.endswith("\\/")
    if dir_only:
        text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text
    text = text.lstrip("/") if anchored else text
    source = glob_regex(text) if anchored else _ANY_FOLDERS + glob_regex(text)
    return IgnoreRule(stripped, re.compile(source + r"\Z", re.DOTALL), negated, dir_only)


def parse_patterns(lines) -> list[IgnoreRule]:
    return [rule for rule in map(parse_pattern, lines) if rule is not None]


def decide(rules, relpath: str, is_dir: bool) -> IgnoreRule | None:
    """The last rule matching `relpath`, or None: it ignores the path unless it is negated."""
    last = None
    for rule in rules:
        if rule.matches(relpath, is_dir):
            last = rule
    return last
