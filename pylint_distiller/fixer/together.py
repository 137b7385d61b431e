"""Fixes that edit two files: all of them are written, or none.

Lifting a helper of `rope.py` into a module class (`analysis/lifting.py`) edits the
caller's file (a member, the call, an import of the class) and the helper's file
(the class itself). Written one at a time, a failure between the two would leave
a caller that imports a class that does not exist. So `fix` on a project first
applies only these fixes, file by file, in memory (`lift_across`), and
`write_together` then writes every file they touched: each new text is encoded
and staged next to its file (the checks of `sources.write_atomic`: writable, not
changed on disk since it was read), a copy of each original is staged too, and
only then are the files replaced; if one replacement fails, the files already
replaced get their staged originals back. The per-file fixes run afterwards, on
the texts the lift left.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pylint_distiller.findings import Finding
from pylint_distiller.fixer.engine import MAX_PASSES, add_classes, apply_once
from pylint_distiller.settings import Settings
from pylint_distiller.sources import Source, SourceError, read_source, stage, unstage


@dataclass
class Lifted:
    """The texts the cross-file fixes produced, and what they applied, per real path."""

    texts: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    applied: dict[str, list[Finding]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def lift_across(paths: list[str], project, settings: Settings) -> Lifted:
    """Apply the fixes that add a class to another file, in memory; the project sees the new texts."""
    from pylint_distiller.analysis.crossfile import lift_fixes

    out = Lifted()

    def text_of(real: str) -> str:
        """The file's text as the lift left it (read, with its encoding, the first time it is needed)."""
        if real not in out.texts:
            out.sources[real] = read_source(real)
            entry = project.entry(real)
            if entry is None or entry.text != out.sources[real].text:
                raise SourceError(f"{real}: changed while being fixed")
            out.texts[real] = out.sources[real].text
        return out.texts[real]

    for _ in range(MAX_PASSES):
        changed = False
        for path in paths:
            real = os.path.realpath(path)
            try:
                fixes = lift_fixes(project, real, settings)
                if not fixes:
                    continue  # (files that cannot be read or parsed have none: the per-file pass reports them)
                text = text_of(real)
                findings = [_finding(path, fix, site) for fix, site in fixes]
                new_text, applied = apply_once(text, project.module(real), findings)
                new = {real: new_text}
                classes: dict[str, list] = {}  # one insertion per file: the line numbers are of its current text
                for finding in applied:
                    for new_class in finding.fix.classes:
                        if new_class.path:
                            classes.setdefault(new_class.path, []).append(new_class)
                for other, added in classes.items():
                    new[other] = add_classes(text_of(other), other, added)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # reported, the files untouched
                out.errors.append(f"{path}: a fix across files failed ({type(exc).__name__}: {exc}); "
                                  "those files were left as they are")
                continue
            for other, new_text in new.items():
                out.texts[other] = new_text
                project.set_text(other, new_text)
            out.applied.setdefault(real, []).extend(applied)
            changed = changed or bool(applied)
        if not changed:
            break
    for real in list(out.texts):
        if out.texts[real] == out.sources[real].text:
            del out.texts[real]
    return out


def _finding(path: str, fix, site) -> Finding:
    """The applied fix as a finding of the caller's file (at its call), for the counts `fix` prints."""
    line, col, end_line, end_col = fix.span
    message = f"{site.spec.shown} runs outside any module: {fix.title}"
    return Finding(symbol=site.spec.rule, path=path, line=line, col=col, end_line=end_line, end_col=end_col,
                   args=(message,), message=message, fix=fix, op=site.spec.key)


def write_together(pairs: list[tuple[Source, str]]) -> None:
    """Write every (source, new text), or none of them: raises SourceError naming the file that failed."""
    for source, text in pairs:
        try:
            compile(text, source.path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise SourceError(f"{source.path}: the fixed text does not parse ({exc}); no file written") from None
    staged: list[tuple[Source, str, str, str]] = []  # (source, real path, new text's temp, original's temp)
    try:
        for source, text in pairs:
            real, new_tmp = stage(source, text)
            staged.append((source, real, new_tmp, ""))
            _, old_tmp = stage(source, source.text, check=False)
            staged[-1] = (source, real, new_tmp, old_tmp)
    except SourceError as exc:
        for _, _, new_tmp, old_tmp in staged:
            unstage(new_tmp, old_tmp)
        raise SourceError(f"{exc}; no file of this fix written") from None
    done: list[tuple[str, str]] = []
    for source, real, new_tmp, old_tmp in staged:
        try:
            os.replace(new_tmp, real)
        except OSError as exc:
            restored = _restore(done)
            for _, _, tmp, backup in staged[len(done):]:
                unstage(tmp, backup)
            what = "the files already written were restored" if restored else \
                "restoring the files already written failed too"
            raise SourceError(f"{source.path}: cannot write: {exc.strerror or exc}; {what}") from None
        done.append((real, old_tmp))
    for _, old_tmp in done:
        unstage(old_tmp)


def _restore(done: list[tuple[str, str]]) -> bool:
    ok = True
    for real, old_tmp in reversed(done):
        try:
            os.replace(old_tmp, real)
        except OSError:
            ok = False
    return ok
