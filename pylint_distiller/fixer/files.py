"""Files in, files out: collect Python files, check or fix each, never lose data.

Each file is handled on its own: a file that cannot be read, decoded, parsed or
written is reported with one clear line (naming the file) and left untouched,
and the others are still processed. Writes go through `sources.write_atomic`.

Which files: a directory is searched recursively for ``*.py`` and ``*.pyi``,
skipping what the `Scope` excludes (`distiller-exclude`, by default hidden
folders, virtualenvs, caches and build output; `distiller-extend-exclude`;
.gitignore) without listing, let alone reading, it; symbolic links to folders are
not followed, so link loops cannot trap the walk. A file named explicitly is
always processed as Python whatever its suffix (scripts without one), unless
`--force-exclude` applies the excludes to it too. A file reached twice (two
arguments, or a link and its target) is processed once.

``# pylint:`` pragmas are honoured exactly as pylint honours them, by pylint's
own pragma machinery: ``disable=<symbol|msgid|distiller|all>`` at the end of a
line silences that line, on a line of its own the rest of the block (until
``enable=``), ``disable-next=`` the next line, and ``skip-file`` (or a
``disable=all`` anywhere, as in pylint) the whole file. `check` does not report
what pylint would not, and `fix` does not rewrite it.

Deeply nested code (a 1,000-term ``a + b + ...`` chain) overflows Python's
default recursion limit in astroid; such a file is retried once on a thread with
a large stack and a higher limit, and reported as too deeply nested if that also
fails.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from astroid.exceptions import AstroidSyntaxError

from pylint_distiller.findings import Finding
from pylint_distiller.fixer.engine import FixError, FixResult, fix_source
from pylint_distiller.pragmas import visible
from pylint_distiller.scope import Scope
from pylint_distiller.settings import Settings
from pylint_distiller.sources import Source, SourceError, read_source, write_atomic

PYTHON_SUFFIXES = (".py", ".pyi")


class _Missing(str):
    """A path with the reason it cannot be processed (keeps `collect` a plain iterator of str).

    `warning` marks a folder without Python files: worth saying, not an error by itself.
    """

    reason: str = ""
    warning: bool = False


def _error(path: str, reason: str, warning: bool = False) -> str:
    missing = _Missing(path)
    missing.reason = reason
    missing.warning = warning
    return missing


def is_problem(path: str) -> bool:
    return isinstance(path, _Missing)


def problem(path: str) -> tuple[str, bool]:
    """(message, is_warning) for a path `collect` could not use."""
    return f"{path}: {path.reason}", path.warning  # type: ignore[attr-defined]


def collect(paths: list[str], scope: Scope | None = None) -> Iterator[str]:
    """Python files under `paths` (explicit files always, directories recursively, sorted).

    Paths that cannot be used come out as `_Missing` strings (see `is_problem`).
    Without a `scope`, the default excludes apply (and .gitignore files).
    """
    scope = scope or Scope(Settings().exclude)
    seen: set[str] = set()

    def first_time(path: str) -> bool:
        real = os.path.realpath(path)
        if real in seen:
            return False
        seen.add(real)
        return True

    for path in paths:
        if os.path.isdir(path):
            if scope.explicit(path, is_dir=True):
                continue
            found = skipped = False
            for root, dirs, files in os.walk(path):
                kept = sorted(d for d in dirs if not scope.excluded_entry(os.path.join(root, d), is_dir=True))
                skipped = skipped or len(kept) < len(dirs)
                dirs[:] = kept
                for name in sorted(files):
                    if name.endswith(PYTHON_SUFFIXES):
                        full = os.path.join(root, name)
                        if scope.excluded_entry(full, is_dir=False):
                            skipped = True
                            continue
                        found = True
                        if first_time(full):
                            yield full
            if not found:
                why = " that is not excluded (distiller-exclude, .gitignore)" if skipped else ""
                yield _error(path, f"no Python files found in this directory{why}", warning=True)
        elif os.path.exists(path) or os.path.islink(path):
            if not scope.explicit(path, is_dir=False) and first_time(path):
                yield path
        else:
            yield _error(path, "no such file or directory")


@dataclass
class FileOutcome:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    source: Source | None = None
    result: FixResult | None = None
    written: bool = False
    module: object = None  # the parsed module (check), for JSON edits


def _load(path: str) -> Source:
    if isinstance(path, _Missing):
        raise SourceError(f"{path}: {path.reason}")
    return read_source(path)


def _syntax_message(path: str, exc: AstroidSyntaxError) -> str:
    error = exc.error if getattr(exc, "error", None) is not None else exc
    line = getattr(error, "lineno", None)
    if isinstance(error, (MemoryError, RecursionError)):  # CPython's parser gives up on deep nesting
        msg = "too deeply nested (Python's parser gives up)"
    else:
        msg = getattr(error, "msg", None) or str(error) or type(error).__name__
    where = f"{path}:{line}" if line else path
    hint = "" if path.endswith(PYTHON_SUFFIXES) else " (not a .py file: is it Python?)"
    return f"{where}: cannot parse: {msg}{hint}"


# ---------------------------------------------------------- deep recursion
DEEP_STACK_BYTES = 512 * 1024 * 1024
DEEP_RECURSION_LIMIT = 60_000


def _with_deep_stack(work: Callable[[], None]) -> None:
    """Run `work`; on RecursionError run it again on a big-stack thread with a high recursion limit."""
    try:
        work()
        return
    except RecursionError:
        pass
    box: dict[str, BaseException] = {}

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in the caller's thread
            box["exc"] = exc

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(DEEP_STACK_BYTES)
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
        thread = threading.Thread(target=run, name="pylint-distiller-deep")
        thread.start()
        thread.join()
    except (ValueError, RuntimeError, MemoryError):
        raise RecursionError("no room for a larger stack") from None
    finally:
        sys.setrecursionlimit(old_limit)
        threading.stack_size(old_stack)
    if "exc" in box:
        raise box["exc"]


def _internal(path: str, exc: BaseException) -> str:
    if os.environ.get("PYLINT_DISTILLER_DEBUG"):
        raise exc
    return (f"{path}: internal error: {type(exc).__name__}: {exc} (a bug in pylint-distiller: please report it "
            "with this file; PYLINT_DISTILLER_DEBUG=1 shows the traceback)")


def _guarded(path: str, outcome: FileOutcome, work: Callable[[], None]) -> FileOutcome:
    try:
        _with_deep_stack(work)
    except SourceError as exc:
        outcome.error = str(exc)
    except AstroidSyntaxError as exc:
        outcome.error = _syntax_message(path, exc)
    except (SyntaxError, ValueError) as exc:  # compile()'s own refusals (null bytes...)
        if isinstance(exc, SyntaxError) or "null bytes" in str(exc):
            outcome.error = f"{path}: cannot parse: {getattr(exc, 'msg', None) or exc}"
        else:
            outcome.error = _internal(path, exc)
    except FixError as exc:
        outcome.error = f"{path}: {exc}"
    except RecursionError:
        outcome.error = f"{path}: too deeply nested to analyse (recursion limit); left untouched"
    except MemoryError:
        outcome.error = f"{path}: too large to analyse (out of memory); left untouched"
    except Exception as exc:  # pylint: disable=broad-exception-caught
        outcome.error = _internal(path, exc)
    return outcome


def project_for(args_paths: list[str], files: list[str], settings: Settings):
    """A `ProjectIndex` over `files` when the user named a directory or several files, else None."""
    if len(args_paths) < 2 and not any(os.path.isdir(p) for p in args_paths):
        return None
    from pylint_distiller.analysis.project import ProjectIndex

    return ProjectIndex(files, settings)


def check_file(path: str, settings: Settings, project=None) -> FileOutcome:
    from pylint_distiller.analysis import analyze_in_project, analyze_module
    from pylint_distiller.api import parse

    outcome = FileOutcome(path)

    def work() -> None:
        outcome.source = _load(path)
        text = outcome.source.text
        module = project.module(path) if project is not None else None
        if module is None or project.entry(path).text != text:
            module = parse(text, path)
            findings = analyze_module(module, settings, text=text, path=path)
        else:
            findings = analyze_in_project(project, path, settings)
        outcome.findings = visible(findings, text, module, path)
        outcome.module = module

    return _guarded(path, outcome, work)


def fix_file(path: str, settings: Settings, unsafe: bool, write: bool, project=None, lifted=None) -> FileOutcome:
    """Fix one file; `lifted` (`together.Lifted`) holds the text fixes across files left for it, if any."""
    outcome = FileOutcome(path)
    real = os.path.realpath(path)

    def work() -> None:
        outcome.source = _load(path)
        start = lifted.texts.get(real, outcome.source.text) if lifted is not None else outcome.source.text
        result = fix_source(start, path, settings, unsafe=unsafe, project=project)
        if lifted is not None:
            result.applied[:0] = lifted.applied.get(real, [])
            result.started_changed = start != outcome.source.text
        outcome.result = result
        outcome.findings = result.remaining

    _guarded(path, outcome, work)
    if outcome.error is None and write and outcome.result.changed:
        try:
            write_atomic(outcome.source, outcome.result.text)
            outcome.written = True
        except SourceError as exc:
            outcome.error = str(exc)
    return outcome


class Progress:
    """A one-line counter on stderr for long runs on a terminal; silent otherwise.

    Silent too when `enabled` is false: the caller's output is for a machine
    (JSON, SARIF, GitHub workflow commands, which CI reads from both streams).
    Call `clear()` before printing anything else to the terminal: the next `step`
    draws the line again.
    """

    def __init__(self, total: int, stream=None, minimum: int = 20, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        isatty = getattr(self.stream, "isatty", None)
        try:
            tty = bool(isatty()) if callable(isatty) else False
        except (ValueError, OSError):
            tty = False
        self.enabled = enabled and total >= minimum and tty
        self.shown = False

    def step(self, i: int, path: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K[{i}/{self.total}] {path[-60:]}")
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    close = clear
