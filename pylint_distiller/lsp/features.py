"""What the language server says and offers, as plain functions of the text.

Kept apart from the server loop so each piece can be tested without a client:
`analyze` runs the shared analysis (never raising), `diagnostics` turns findings
into LSP diagnostics, `quick_fix` / `disable_action` / `fix_all_action` build
code actions whose edits are exactly what ``pylint-distiller fix`` does.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from pylint_distiller.catalogue import RULES
from pylint_distiller.findings import Applicability, Finding
from pylint_distiller.lsp import disable_comment
from pylint_distiller.lsp.text import UTF16, Lines, diff_edits
from pylint_distiller.pragmas import visible
from pylint_distiller.scope import Scope
from pylint_distiller.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "pylint-distiller"
FIX_ALL_KIND = "source.fixAll.distiller"
FIX_ALL_TITLE = "pylint-distiller: apply all safe fixes"


@dataclass
class Analysis:
    """One analysed version of a document."""

    text: str
    path: str
    settings: Settings
    findings: list[Finding] = field(default_factory=list)  # the ones no pragma silences
    module: Any = None  # astroid module; None when the text does not parse
    error: str | None = None
    related: list[str] = field(default_factory=list)  # project files whose findings may depend on this one
    excluded: bool = False  # by distiller-exclude / .gitignore: not analysed, nothing published


def excluded(path: str, settings: Settings) -> bool:
    """An open document is skipped as `check` skips a file under --force-exclude."""
    return os.path.isabs(path) and Scope.of(settings).excluded_path(path)


def analyze(text: str, path: str, settings: Settings, project=None) -> Analysis:
    """Analyse `text`; a text that does not parse (or any analysis failure) gives no findings.

    With a `ProjectIndex` (the package around a file on disk) the buffer replaces
    the file in the project: only it and the files depending on it are analysed
    again, the others come from the project's caches.
    """
    from pylint_distiller.analysis import analyze_in_project, analyze_module
    from pylint_distiller.api import parse

    result = Analysis(text, path, settings)
    if excluded(path, settings):
        result.excluded = True
        return result
    try:
        module = parse(text, path) if project is None else None
        if project is not None:
            project.set_text(path, text)
            module = project.module(path)
            if module is None:
                parse(text, path)  # raises: says why it does not parse
    except Exception as exc:  # AstroidSyntaxError, AstroidBuildingError, ValueError (null bytes)...
        result.error = f"does not parse: {exc}"
        return result
    try:
        if project is not None:
            findings = analyze_in_project(project, path, settings)
            result.related = project.dependents(path) + sorted(project.targets(path))
        else:
            findings = analyze_module(module, settings, text=text, path=path)
    except RecursionError:
        result.error = "analysis recursion limit reached"
        return result
    except Exception as exc:  # a bug in the analysis must not take the server down
        log.exception("analysis failed for %s", path)
        result.error = f"analysis failed: {exc!r}"
        return result
    result.module = module
    try:
        result.findings = visible(findings, text, module, path)  # disable comments, read as pylint reads them
    except Exception:
        log.exception("reading the pragmas of %s failed", path)
        result.findings = findings
    return result


_WARM_UP = (
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
    "class Warm(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(4, 4, 3)\n"
    "        self.bn = nn.BatchNorm2d(4)\n"
    "        self.relu = nn.ReLU()\n\n"
    "    def forward(self, x):\n"
    "        y = self.relu(self.bn(self.conv(x)))\n"
    "        return F.sigmoid(torch.cat([x, y], dim=1)) + x\n"
)


def warm_up() -> None:
    """Analyse a tiny model once, so astroid has read what the first real document needs."""
    try:
        analyze(_WARM_UP, "<warm-up>", Settings())
    except Exception:  # never fatal
        log.debug("warm-up failed", exc_info=True)


# --------------------------------------------------------------- diagnostics
def diagnostic(finding: Finding, lines: Lines) -> types.Diagnostic:
    rule = RULES[finding.symbol]
    fix = finding.fix
    data: dict[str, Any] = {
        "symbol": finding.symbol,
        "msgid": rule.msgid,
        "fix": None if fix is None else {"title": fix.title, "applicability": fix.applicability.value},
    }
    return types.Diagnostic(
        range=lines.range(finding.line, finding.col, finding.end_line, finding.end_col),
        message=f"{finding.message} ({rule.msgid})",
        severity=types.DiagnosticSeverity.Warning,
        code=finding.symbol,
        code_description=types.CodeDescription(href=rule.url),
        source=SOURCE,
        data=data,
    )


def diagnostics(analysis: Analysis, encoding=UTF16) -> list[types.Diagnostic]:
    lines = Lines(analysis.text, encoding)
    return [diagnostic(f, lines) for f in analysis.findings]


# -------------------------------------------------------------- code actions
def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit],
                   document_changes: bool) -> types.WorkspaceEdit:
    """One WorkspaceEdit for all edits of one document (versioned when the client can check it)."""
    if document_changes:
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=list(edits))])
    return types.WorkspaceEdit(changes={uri: list(edits)})


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for start, end, new in spans:
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def fix_title(finding: Finding, inserted: str | None = None) -> str:
    """The fix's title with the member name the engine chose (`self.<add>` -> `self.add_2`).

    `inserted` is the text the fix's edits insert (the new member's line is in it).
    """
    fix = finding.fix
    title = fix.title
    member = fix.member
    if member is not None and inserted is not None:
        found = re.search(rf"self\.(\w+) = {re.escape(member.constructor)}", inserted)
        if found:
            title = title.replace(f"<{member.name}>", found.group(1))
    title = re.sub(r"<(\w+)>", r"\1", title)
    if fix.applicability is Applicability.UNSAFE:
        title += " (unsafe)"
    return title


def fix_edits(analysis: Analysis, finding: Finding, encoding=UTF16) -> tuple[list[types.TextEdit], str] | None:
    """The TextEdits of one finding's fix, and the text they produce; None if it has none.

    The edits are the rewrite engine's own spans for that finding (`edits_for`),
    so applying them gives what ``pylint-distiller fix`` gives when it fixes
    that finding alone; a result that does not parse is never offered.
    """
    from pylint_distiller.fixer.engine import allowed, edits_for

    if analysis.module is None or not allowed(finding, unsafe=True):
        return None
    try:
        edits = edits_for(analysis.text, analysis.module, finding)
    except Exception:
        log.exception("planning the fix of %s failed", finding)
        return None
    if not edits:
        return None
    lines = Lines(analysis.text, encoding)
    spans = [(lines.offset(e.line, e.col), lines.offset(e.end_line, e.end_col), e.text) for e in edits]
    new_text = _splice(analysis.text, spans)
    try:
        compile(new_text, "<fixed>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    text_edits = [types.TextEdit(range=lines.offset_range(s, e), new_text=t) for s, e, t in spans]
    return text_edits, new_text


def quick_fix(analysis: Analysis, finding: Finding, uri: str, version: int | None, encoding=UTF16,
              document_changes: bool = False) -> types.CodeAction | None:
    planned = fix_edits(analysis, finding, encoding)
    if planned is None:
        return None
    edits, _ = planned
    safe = finding.fix.applicability is Applicability.SAFE
    return types.CodeAction(
        title=fix_title(finding, "\n".join(e.new_text for e in edits)),
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic(finding, Lines(analysis.text, encoding))],
        is_preferred=safe or None,
        edit=workspace_edit(uri, version, edits, document_changes),
    )


def disable_action(analysis: Analysis, finding: Finding, uri: str, version: int | None, encoding=UTF16,
                   document_changes: bool = False) -> types.CodeAction | None:
    planned = disable_comment.disable_edit(analysis.text, finding.line, finding.symbol)
    if planned is None:
        return None
    start, end, new = planned
    lines = Lines(analysis.text, encoding)
    edit = types.TextEdit(range=lines.offset_range(start, end), new_text=new)
    return types.CodeAction(
        title=f"Disable {finding.symbol} for this line",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic(finding, lines)],
        edit=workspace_edit(uri, version, [edit], document_changes),
    )


def fix_all_text(text: str, path: str, settings: Settings) -> str:
    """What ``pylint-distiller fix`` writes (safe fixes; what a pragma silences is left alone)."""
    from pylint_distiller.fixer.engine import fix_source

    return fix_source(text, path, settings, unsafe=False).text


def fix_all_action(analysis: Analysis, uri: str, version: int | None, encoding=UTF16,
                   document_changes: bool = False, lazy: bool = False) -> types.CodeAction | None:
    """The `source.fixAll.distiller` action; with `lazy` its edit is left to codeAction/resolve."""
    from pylint_distiller.fixer.engine import allowed

    if analysis.module is None or not any(allowed(f, unsafe=False) for f in analysis.findings):
        return None
    action = types.CodeAction(title=FIX_ALL_TITLE, kind=FIX_ALL_KIND,
                              data={"uri": uri, "version": version, "kind": FIX_ALL_KIND})
    if not lazy:
        edit = fix_all_edit(analysis, uri, version, encoding, document_changes)
        if edit is None:
            return None
        action.edit = edit
    return action


def fix_all_edit(analysis: Analysis, uri: str, version: int | None, encoding=UTF16,
                 document_changes: bool = False) -> types.WorkspaceEdit | None:
    try:
        new_text = fix_all_text(analysis.text, analysis.path, analysis.settings)
    except Exception:
        log.exception("fix-all failed for %s", analysis.path)
        return None
    edits = diff_edits(analysis.text, new_text, encoding)
    if not edits:
        return None
    return workspace_edit(uri, version, edits, document_changes)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return p.line, p.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _wants(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == k or kind.startswith(k + ".") for k in only)


def code_actions(analysis: Analysis, uri: str, version: int | None, rng: types.Range,
                 only: list[str] | None = None, encoding=UTF16, document_changes: bool = False,
                 lazy_fix_all: bool = False) -> list[types.CodeAction]:
    """Quick fixes and disable comments for the findings under `rng`, and fix-all."""
    actions: list[types.CodeAction] = []
    lines = Lines(analysis.text, encoding)
    if _wants(only, types.CodeActionKind.QuickFix.value):
        fixes, disables, seen = [], [], set()
        for finding in analysis.findings:
            if not _overlaps(lines.range(finding.line, finding.col, finding.end_line, finding.end_col), rng):
                continue
            action = quick_fix(analysis, finding, uri, version, encoding, document_changes)
            if action is not None:
                fixes.append(action)
            if (finding.line, finding.symbol) not in seen:
                seen.add((finding.line, finding.symbol))
                action = disable_action(analysis, finding, uri, version, encoding, document_changes)
                if action is not None:
                    disables.append(action)
        actions += fixes + disables
    if _wants(only, FIX_ALL_KIND):
        action = fix_all_action(analysis, uri, version, encoding, document_changes, lazy=lazy_fix_all)
        if action is not None:
            actions.append(action)
    return actions
