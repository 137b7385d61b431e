"""`pylint-distiller`: check, fix, verify, lsp, rules.

`check` and `fix` only read (and `fix` rewrite) source text: they never import
or run the code. `verify` is the one command that executes user code.

Exit codes (`check`, `fix`): 0 nothing to report; 1 findings (`check`) or a file
would change (`fix --check`); 2 errors: a path that does not exist, no Python
file at all, a file that cannot be read, decoded, parsed or written (reported
with one line naming it, left untouched, the other files still processed), or
bad options. A folder without Python files next to others that have some is a
warning only. `fix --diff` prints a unified diff and exits 0 (add `--check` to
exit 1 when something would change); `fix` alone exits 0 even when findings
without a safe fix remain (they are listed). ``# pylint: disable=`` pragmas are
honoured as pylint honours them: `check` does not report, and `fix` does not
rewrite, what they silence. Progress goes to stderr, only on a terminal and only
for the text format.

Scope: directories are walked without what `distiller-exclude` (default: hidden
folders, caches, virtualenvs, build output), `distiller-extend-exclude` and
.gitignore exclude; a file named on the command line is always processed unless
`--force-exclude`. `--select`/`--ignore` (rule symbols, ids, id prefixes) choose
the rules both commands report and fix; `--select` replaces `distiller-select`,
`--ignore` adds to `distiller-ignore`.

Text output is `path:line:col: msgid message (symbol) [fix]` with 1-based columns
(like ruff and compilers, so terminals and editors jump to them); JSON `col` and
`end_col` are 0-based character offsets, like pylint's json2 `column`. `github`
(workflow commands) and `sarif` (SARIF 2.1.0) are for CI: see `formats`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import gc
import json
import os
import sys

from pylint_distiller import __version__
from pylint_distiller.catalogue import TARGETS
from pylint_distiller.findings import Applicability, Finding
from pylint_distiller.formats import fix_tag
from pylint_distiller.settings import Settings, from_pyproject

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("text", "json", "github", "sarif")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (searched recursively)")
    parser.add_argument("--target", choices=TARGETS, help="quantizer to prepare for (default: from pyproject, "
                        "else distiller)")
    parser.add_argument("--config", metavar="PYPROJECT", help="read distiller-* options from this pyproject.toml "
                        "(default: the nearest one above the first path)")
    parser.add_argument("--ignore-ops", metavar="OPS", help="comma-separated ops never to report (torch.mean,F.relu,+)")
    parser.add_argument("--flag-data-movement", action="store_true", default=None,
                        help="also report data-movement ops (view, reshape, chunk...)")
    parser.add_argument("--select", metavar="RULES", help="comma-separated rules to report and fix: symbols "
                        "(reused-module), ids (W5701) or id prefixes (W57); replaces distiller-select")
    parser.add_argument("--ignore", metavar="RULES", help="comma-separated rules never to report nor fix; "
                        "added to distiller-ignore")
    parser.add_argument("--exclude", metavar="PATTERNS", help="comma-separated gitignore-style patterns to skip "
                        "in directories (replaces distiller-exclude and its defaults)")
    parser.add_argument("--extend-exclude", metavar="PATTERNS", help="comma-separated patterns to skip in "
                        "addition to distiller-exclude")
    parser.add_argument("--respect-gitignore", action=argparse.BooleanOptionalAction, default=None,
                        help="skip files .gitignore ignores (default: distiller-respect-gitignore, true)")
    parser.add_argument("--force-exclude", action="store_true",
                        help="apply the excludes to paths named on the command line too (for pre-commit)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pylint-distiller", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pylint-distiller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="report findings (the plugin's messages, without the rest of pylint)")
    _common(check)
    check.add_argument("--format", choices=FORMATS, default="text",
                       help="text (default), json, github (workflow commands) or sarif (SARIF 2.1.0)")
    check.add_argument("--statistics", action="store_true",
                       help="print a count per rule instead of the findings (text or json)")

    fix = sub.add_parser("fix", help="rewrite files in place so every op is its own module")
    _common(fix)
    fix.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    fix.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    fix.add_argument("--unsafe-fixes", action="store_true",
                     help="also apply unsafe fixes (weight tying, loops, dropout mode, renamed parametric modules)")

    sub.add_parser("verify", help="run a model once and cross-check runtime and static findings "
                   "(IMPORTS AND EXECUTES the model code)", add_help=False)
    sub.add_parser("lsp", help="language server over stdio (diagnostics, quick fixes)", add_help=False)
    rules = sub.add_parser("rules", help="list the rules, or write their documentation pages")
    rules.add_argument("--write-docs", metavar="DIR", help="write docs/rules/<symbol>.md pages into DIR")
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    start = args.config or (args.paths[0] if args.paths else os.getcwd())
    try:
        settings = from_pyproject(start)
    except (OSError, RuntimeError):  # a symlink loop or an unreadable folder on the way up
        settings = from_pyproject(os.getcwd())
    changes = {}
    if args.target:
        changes["target"] = args.target
    if args.ignore_ops:
        changes["ignore_ops"] = _csv(args.ignore_ops)
    if args.flag_data_movement:
        changes["flag_data_movement"] = True
    if args.select is not None:
        changes["select"] = _csv(args.select)
    if args.ignore is not None:
        changes["ignore"] = settings.ignore + _csv(args.ignore)
    if args.exclude is not None:
        changes["exclude"] = _csv(args.exclude)
    if args.extend_exclude is not None:
        changes["extend_exclude"] = settings.extend_exclude + _csv(args.extend_exclude)
    if args.respect_gitignore is not None:
        changes["respect_gitignore"] = args.respect_gitignore
    return dataclasses.replace(settings, **changes)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _print_finding(finding: Finding, out) -> None:
    out.write(f"{finding.path}:{finding.line}:{finding.col + 1}: {finding.msgid} {finding.message} "
              f"({finding.symbol}) {fix_tag(finding)}\n")


_GC_THRESHOLD = (50_000, 20, 20)


def _tune_gc() -> None:
    """astroid builds millions of small objects: collect less often (3x faster on big files).

    Once per process: the start-up objects are frozen out of the collector's scans; a
    second `check`/`fix` in the same process (tests, the benchmark) would otherwise
    pay a full collection again and freeze whatever the previous run left alive.
    """
    if gc.get_threshold() == _GC_THRESHOLD:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)


def _collect(args, settings: Settings, err, verb: str, error_log: list[str] | None = None) -> tuple[list[str], int]:
    """The files to process and the number of path errors (reported on `err`, and kept in `error_log`)."""
    from pylint_distiller.fixer.files import collect, is_problem, problem
    from pylint_distiller.scope import Scope

    paths, warnings, errors = [], [], 0
    for path in collect(args.paths, Scope.of(settings, force=args.force_exclude)):
        if is_problem(path):
            message, warning = problem(path)
            if warning:
                warnings.append(message)
            else:
                err.write(f"error: {message}\n")
                if error_log is not None:
                    error_log.append(message)
                errors += 1
        else:
            paths.append(path)
    if not paths and not errors and not args.force_exclude:
        err.write(f"error: no Python files to {verb} in {', '.join(args.paths)}\n")
        if error_log is not None:
            error_log.append(f"no Python files to {verb} in {', '.join(args.paths)}")
        return paths, 1
    # with --force-exclude (pre-commit), a run whose files are all excluded has nothing to do: not an error
    for message in warnings:
        err.write(f"warning: {message}\n")
    return paths, errors


def run_check(args, out=None, err=None) -> int:
    from pylint_distiller import formats
    from pylint_distiller.fixer.engine import edits_for
    from pylint_distiller.fixer.files import Progress, check_file, project_for

    out, err = out or sys.stdout, err or sys.stderr
    settings = load_settings(args)
    if args.statistics and args.format not in ("text", "json"):
        err.write(f"error: --statistics prints text or json, not {args.format}\n")
        return EXIT_ERROR
    error_log: list[str] = []
    paths, errors = _collect(args, settings, err, "check", error_log)
    project = project_for(args.paths, paths, settings)
    _tune_gc()
    streaming = args.format in ("text", "github") and not args.statistics
    progress = Progress(len(paths), err, enabled=args.format == "text")
    total, checked = 0, 0
    records: list[formats.Record] = []
    for i, path in enumerate(paths, 1):
        progress.step(i, path)
        outcome = check_file(path, settings, project)
        if outcome.error:
            errors += 1
            error_log.append(outcome.error)
            progress.clear()
            err.write(f"error: {outcome.error}\n")
            continue
        checked += 1
        total += len(outcome.findings)
        if streaming:
            if outcome.findings:
                progress.clear()
                for finding in outcome.findings:
                    if args.format == "github":
                        out.write(formats.github_line(finding))
                    else:
                        _print_finding(finding, out)
                out.flush()
            continue
        for finding in outcome.findings:
            needs_edits = args.format in ("json", "sarif") and not args.statistics
            edits = edits_for(outcome.source.text, outcome.module, finding) if needs_edits else []
            records.append((finding, edits))
    progress.clear()
    if args.statistics:
        rows = formats.statistics(f for f, _ in records)
        if args.format == "json":
            json.dump(rows, out, indent=2)
            out.write("\n")
        else:
            out.writelines(formats.statistics_lines(rows))
    elif args.format == "json":
        json.dump([formats.json_record(f, edits) for f, edits in records], out, indent=2)
        out.write("\n")
    elif args.format == "sarif":
        json.dump(formats.sarif_log(records, error_log), out, indent=2)
        out.write("\n")
    elif args.format == "github":
        out.writelines(formats.github_error(message) for message in error_log)
    if args.format == "text":
        fixable = "" if not total else " ([*]: fixable with `pylint-distiller fix`)"
        err.write(f"{total} finding(s) in {checked} file(s){fixable}"
                  + (f"; {errors} error(s)" if errors else "") + "\n")
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if total else EXIT_OK


def _unified_diff(before: str, after: str, path: str) -> list[str]:
    lines = []
    for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                     fromfile=f"a/{path}", tofile=f"b/{path}"):
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        lines.append(line)
    return lines


def run_fix(args, out=None, err=None) -> int:
    from pylint_distiller.fixer.files import Progress, fix_file, project_for

    out, err = out or sys.stdout, err or sys.stderr
    settings = load_settings(args)
    write = not (args.diff or args.check)
    paths, errors = _collect(args, settings, err, "fix")
    project = project_for(args.paths, paths, settings)
    _tune_gc()
    lifted = None
    if project is not None:
        from pylint_distiller.fixer.together import lift_across, write_together
        from pylint_distiller.sources import SourceError

        lifted = lift_across(paths, project, settings)
        for message in lifted.errors:
            errors += 1
            err.write(f"error: {message}\n")
        if write and lifted.texts:
            try:
                write_together([(lifted.sources[real], text) for real, text in lifted.texts.items()])
            except SourceError as exc:
                errors += 1
                err.write(f"error: {exc}\n")
                lifted.texts.clear()
                lifted.applied.clear()
            for real in lifted.sources:
                project.set_text(real, None)  # on disk now (or left as it was)
    progress = Progress(len(paths), err)
    changed = applied = 0
    remaining: list[Finding] = []
    for i, path in enumerate(paths, 1):
        progress.step(i, path)
        outcome = fix_file(path, settings, args.unsafe_fixes, write, project, lifted)
        if outcome.error:
            errors += 1
            progress.clear()
            err.write(f"error: {outcome.error}\n")
            continue
        result = outcome.result
        remaining.extend(outcome.findings)
        if result.changed:
            changed += 1
            applied += len(result.applied)
            if args.diff:
                progress.clear()
                out.writelines(_unified_diff(outcome.source.text, result.text, path))
                out.flush()
            elif args.check:
                progress.clear()
                out.write(f"would fix {path} ({len(result.applied)} fix(es))\n")
                out.flush()
    progress.clear()
    verb = "Would fix" if not write else "Fixed"
    err.write(f"{verb} {applied} finding(s) in {changed} file(s) of {len(paths)}"
              + (f"; {errors} error(s), those files left untouched" if errors else "") + ".\n")
    if remaining:
        by_reason = {"unsafe": 0, "manual": 0, "no fix": 0, "not applied": 0}
        for finding in remaining:
            fix = finding.fix
            if fix is None:
                key = "no fix"
            elif fix.applicability is Applicability.MANUAL or not fix.applies:
                key = "manual"
            elif fix.applicability is Applicability.UNSAFE and not args.unsafe_fixes:
                key = "unsafe"
            else:
                key = "not applied"  # allowed, but the engine could not place it (e.g. __init__ returns early)
            by_reason[key] += 1
        parts = [f"{n} {text}" for n, text in (
            (by_reason["unsafe"], "with unsafe fixes (--unsafe-fixes)"),
            (by_reason["manual"], "manual"),
            (by_reason["no fix"], f"without a fix (unsupported by the {settings.target} target or not mappable)"),
            (by_reason["not applied"], "whose fix could not be applied here (e.g. an __init__ that returns early)"),
        ) if n]
        err.write(f"{len(remaining)} finding(s) left: {', '.join(parts)}:\n")
        for finding in remaining:
            _print_finding(finding, err)
    if errors:
        return EXIT_ERROR
    if args.check and changed:
        return EXIT_FINDINGS
    return EXIT_OK


def run_rules(args, out=None) -> int:
    from pylint_distiller.catalogue import RULES

    out = out or sys.stdout
    if args.write_docs:
        from pylint_distiller.docs import write_rule_pages

        for path in write_rule_pages(args.write_docs):
            out.write(f"wrote {path}\n")
        return EXIT_OK
    for rule in RULES.values():
        out.write(f"{rule.msgid} {rule.symbol:24} {rule.summary}\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "verify":
        from pylint_distiller.verify.command import run_verify

        return run_verify(argv[1:])
    if argv and argv[0] == "lsp":
        from pylint_distiller.lsp import main as lsp_main

        return lsp_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("check", "fix"):
            from pylint_distiller.gc_pause import paused_collection

            with paused_collection():  # the run keeps every tree it parses: nothing for the collector
                return run_check(args) if args.command == "check" else run_fix(args)
        return run_rules(args)
    except ValueError as exc:  # bad settings (e.g. an unknown target in pyproject)
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_ERROR
    except BrokenPipeError:  # `pylint-distiller check . | head`
        try:
            sys.stdout = open(os.devnull, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        except OSError:
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted: files already fixed stay fixed, none is half-written\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
