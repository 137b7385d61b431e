"""Files in, files out: collect Python files, check or fix each, never lose data.

Each file is handled on its own: a file that cannot be read, decoded, parsed or
written is reported with one clear line and left untouched, and the others are
still processed. Writes go through `sources.write_atomic`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Iterator

from astroid.exceptions import AstroidSyntaxError

from pylint_distiller.findings import Finding
from pylint_distiller.fixer.engine import FixError, FixResult, fix_source
from pylint_distiller.settings import Settings
from pylint_distiller.sources import Source, SourceError, read_source, write_atomic

_SKIPPED_DIRS = frozenset((".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", "node_modules",
                           ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist"))


class PathError(Exception):
    pass


def collect(paths: list[str]) -> Iterator[str]:
    """Python files under `paths` (explicit files always, directories recursively, sorted)."""
    for path in paths:
        if os.path.isdir(path):
            found = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
                for name in sorted(files):
                    if name.endswith((".py", ".pyi")):
                        found = True
                        yield os.path.join(root, name)
            if not found:
                yield _error(path, "no Python files found")
        elif os.path.exists(path) or os.path.islink(path):
            yield path
        else:
            yield _error(path, "no such file or directory")


class _Missing(str):
    """A path with the reason it cannot be processed (keeps `collect` a plain iterator)."""

    reason: str = ""


def _error(path: str, reason: str) -> str:
    missing = _Missing(path)
    missing.reason = reason
    return missing


@dataclass
class FileOutcome:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    source: Source | None = None
    result: FixResult | None = None
    written: bool = False


def _load(path: str) -> Source:
    if isinstance(path, _Missing):
        raise SourceError(f"{path}: {path.reason}")
    return read_source(path)


def _syntax_message(path: str, exc: AstroidSyntaxError) -> str:
    error = exc.error if hasattr(exc, "error") else exc
    line = getattr(error, "lineno", None)
    msg = getattr(error, "msg", None) or str(error)
    return f"{path}:{line}: cannot parse: {msg}" if line else f"{path}: cannot parse: {msg}"


def check_file(path: str, settings: Settings) -> FileOutcome:
    from pylint_distiller.api import analyze_source

    outcome = FileOutcome(path)
    try:
        outcome.source = _load(path)
        outcome.findings = analyze_source(outcome.source.text, path, settings)
    except SourceError as exc:
        outcome.error = str(exc)
    except AstroidSyntaxError as exc:
        outcome.error = _syntax_message(path, exc)
    except (RecursionError, MemoryError) as exc:
        outcome.error = f"{path}: too deeply nested or too large to analyse ({type(exc).__name__})"
    return outcome


def fix_file(path: str, settings: Settings, unsafe: bool, write: bool) -> FileOutcome:
    outcome = FileOutcome(path)
    try:
        outcome.source = _load(path)
        result = fix_source(outcome.source.text, path, settings, unsafe=unsafe)
        outcome.result = result
        outcome.findings = result.remaining
        if write and result.changed:
            write_atomic(outcome.source, result.text)
            outcome.written = True
    except SourceError as exc:
        outcome.error = str(exc)
    except AstroidSyntaxError as exc:
        outcome.error = _syntax_message(path, exc)
    except FixError as exc:
        outcome.error = f"{path}: {exc}"
    except (RecursionError, MemoryError) as exc:
        outcome.error = f"{path}: too deeply nested or too large to analyse ({type(exc).__name__})"
    return outcome


class Progress:
    """A one-line counter on stderr for long runs on a terminal; silent otherwise."""

    def __init__(self, total: int, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = total >= 20 and getattr(self.stream, "isatty", lambda: False)()

    def step(self, i: int, path: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K[{i}/{self.total}] {path[-60:]}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
