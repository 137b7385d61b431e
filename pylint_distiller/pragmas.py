"""``# pylint:`` pragmas, read by pylint's own machinery, for `check`, `fix` and the LSP.

pylint honours ``disable=<symbol|msgid|distiller|all>`` at the end of a line,
on a line of its own for the rest of the block (until ``enable=``),
``disable-next=`` and ``skip-file`` (and a ``disable=all`` anywhere skips the
file). Findings of the shared analysis go through the same decision, so
`pylint-distiller check` reports what pylint would, and `fix` never rewrites a
line the user silenced.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Callable

from pylint_distiller.findings import Finding

_PRAGMA = re.compile(r"#.*\bpylint\s*:")
_LINTER = None


def _pragma_linter():
    """A bare PyLinter that knows this plugin's messages (built once, only for files with pragmas)."""
    global _LINTER
    if _LINTER is None:
        from pylint.lint import PyLinter
        from pylint.reporters import CollectingReporter

        from pylint_distiller.checker import DistillerChecker

        linter = PyLinter(reporter=CollectingReporter())
        linter.register_checker(DistillerChecker(linter))
        _LINTER = linter
    return _LINTER


def pragma_filter(text: str, module, path: str = "<string>") -> Callable[[Finding], bool] | None:
    """`enabled(finding)` by the text's ``# pylint:`` pragmas, as pylint decides; None when it has none."""
    if "pylint" not in text or not _PRAGMA.search(text):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text, newline=None).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    from pylint.utils.file_state import FileState

    linter = _pragma_linter()
    name = getattr(module, "name", "") or "module"
    linter.set_current_module(name, path)
    state = FileState(name, linter.msgs_store, module)
    linter.file_state = state
    linter._ignore_file = False  # pylint: disable=protected-access
    linter.process_tokens(tokens)
    ignored = linter._ignore_file  # pylint: disable=protected-access
    linter.reporter.messages.clear()  # pragma problems (unknown names...) are pylint's to report
    if ignored:
        return lambda finding: False

    def enabled(finding: Finding) -> bool:
        linter.file_state = state
        return linter.is_message_enabled(finding.symbol, finding.line)

    return enabled


def visible(findings: list[Finding], text: str, module, path: str) -> list[Finding]:
    enabled = pragma_filter(text, module, path)
    return findings if enabled is None else [f for f in findings if enabled(f)]
