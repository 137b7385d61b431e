"""`check` output for machines: JSON, GitHub workflow commands, SARIF 2.1.0, statistics.

Every format is built from the same `Finding`s and, where a fix applies, the
same text edits (`fixer.engine.edits_for`), so they agree with each other and
with `fix`. Columns: findings and edits carry 0-based character offsets with
exclusive ends (pylint's json2 convention, kept as is in JSON); GitHub and SARIF
count from 1, and SARIF's `endColumn` is the column just past the region, so both
add 1 to start and end. SARIF says its columns count Unicode code points
(`columnKind`), which is what a character offset is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from pylint_distiller import __version__
from pylint_distiller.catalogue import RULES
from pylint_distiller.findings import Applicability, Edit, Finding

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/cs01/schemas/sarif-schema-2.1.0.json"
PROJECT_URL = "https://github.com/pylint-distiller/pylint-distiller"

#: pylint message category -> GitHub annotation level and SARIF result level
_LEVELS = {"F": ("error", "error"), "E": ("error", "error"), "W": ("warning", "warning")}
_OTHER_LEVEL = ("notice", "note")

Record = tuple[Finding, list[Edit]]  # a finding and the edits of its fix ([] when none applies)


def _level(finding_or_symbol) -> tuple[str, str]:
    symbol = getattr(finding_or_symbol, "symbol", finding_or_symbol)
    return _LEVELS.get(RULES[symbol].category, _OTHER_LEVEL)


def display_path(path: str, cwd: str | None = None) -> str:
    """`path` relative to the working directory when inside it, '/'-separated (what CI tools resolve)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, cwd)
    chosen = absolute if rel.startswith(os.pardir) else rel
    return chosen.replace(os.sep, "/")


def fix_tag(finding: Finding) -> str:
    fix = finding.fix
    if fix is None:
        return "[no fix]"
    if fix.applicability is Applicability.SAFE:
        return "[*]"
    return f"[{fix.applicability.value} fix]"


# ------------------------------------------------------------------- JSON
def json_record(finding: Finding, edits: list[Edit]) -> dict:
    record = finding.as_dict()
    if record["fix"] is not None:
        record["fix"]["edits"] = [e.as_dict() for e in edits]
    return record


# ----------------------------------------------------------------- GitHub
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(finding: Finding, cwd: str | None = None) -> str:
    """One `::warning file=...,line=...::message` workflow command (GitHub escapes applied).

    `col` is always given; `endColumn` only on one-line spans, the only ones GitHub
    annotates by column.
    """
    level, _ = _level(finding)
    props = [("file", display_path(finding.path, cwd)), ("line", finding.line), ("col", finding.col + 1),
             ("endLine", finding.end_line)]
    if finding.end_line == finding.line:
        props.append(("endColumn", finding.end_col + 1))
    props.append(("title", f"{finding.msgid} {finding.symbol}"))
    head = ",".join(f"{key}={_escape_property(str(value))}" for key, value in props)
    return f"::{level} {head}::{_escape_data(f'{finding.message} {fix_tag(finding)}')}\n"


def github_error(message: str) -> str:
    """A file that could not be checked, as an `::error` the workflow run shows."""
    return f"::error title=pylint-distiller::{_escape_data(message)}\n"


# ------------------------------------------------------------------ SARIF
def _region(line: int, col: int, end_line: int, end_col: int) -> dict:
    return {"startLine": line, "startColumn": col + 1, "endLine": end_line, "endColumn": end_col + 1}


def _sarif_rule(rule) -> dict:
    _, level = _level(rule.symbol)
    return {
        "id": rule.msgid,
        "name": rule.symbol,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": f"{rule.summary} {rule.why} Fix safety: {rule.fix_safety} See {rule.url}"},
        "helpUri": rule.url,
        "defaultConfiguration": {"level": level},
    }


def _sarif_fix(finding: Finding, edits: list[Edit], uri: dict) -> dict:
    fix = finding.fix
    return {
        "description": {"text": f"{fix.title} ({fix.applicability.value} fix)"},
        "artifactChanges": [{
            "artifactLocation": dict(uri),
            "replacements": [{"deletedRegion": _region(e.line, e.col, e.end_line, e.end_col),
                              "insertedContent": {"text": e.text}} for e in edits],
        }],
    }


def _artifact(path: str, cwd: str) -> dict:
    """A percent-encoded URI relative to the working directory (`%SRCROOT%`), or absolute outside it."""
    shown = display_path(path, cwd)
    if os.path.isabs(shown):
        return {"uri": Path(shown).as_uri()}
    return {"uri": quote(shown), "uriBaseId": "%SRCROOT%"}


def sarif_log(records: Iterable[Record], errors: Iterable[str] = (), cwd: str | None = None) -> dict:
    """A SARIF 2.1.0 log of one run: the catalogue's rules, the results, and file errors as notifications."""
    cwd = os.path.abspath(cwd or os.getcwd())
    rules = list(RULES.values())
    index = {rule.symbol: i for i, rule in enumerate(rules)}
    results = []
    for finding, edits in records:
        _, level = _level(finding)
        uri = _artifact(finding.path, cwd)
        result = {
            "ruleId": finding.msgid,
            "ruleIndex": index[finding.symbol],
            "level": level,
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": uri,
                "region": _region(finding.line, finding.col, finding.end_line, finding.end_col),
            }}],
        }
        if edits:
            result["fixes"] = [_sarif_fix(finding, edits, uri)]
        results.append(result)
    errors = list(errors)
    root = Path(cwd).as_uri().rstrip("/") + "/"
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pylint-distiller", "version": __version__, "informationUri": PROJECT_URL,
                                "rules": [_sarif_rule(rule) for rule in rules]}},
            "invocations": [{
                "executionSuccessful": not errors,
                "toolExecutionNotifications": [{"level": "error", "message": {"text": e}} for e in errors],
            }],
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


# ------------------------------------------------------------- statistics
def statistics(findings: Iterable[Finding]) -> list[dict]:
    """A count per rule, most frequent first (ruff's `--statistics`), with how many have a safe fix."""
    counts: dict[str, list[int]] = {}
    for finding in findings:
        entry = counts.setdefault(finding.symbol, [0, 0])
        entry[0] += 1
        if finding.fix is not None and finding.fix.applies and finding.fix.applicability is Applicability.SAFE:
            entry[1] += 1
    rows = [{"code": RULES[symbol].msgid, "name": symbol, "count": count, "fixable": fixable}
            for symbol, (count, fixable) in counts.items()]
    rows.sort(key=lambda row: (-row["count"], row["code"]))
    return rows


def statistics_lines(rows: list[dict]) -> list[str]:
    """`count<TAB>code<TAB>[*] name` lines; `[*]` when some of them have a safe fix (`fix` applies it)."""
    width = max((len(str(row["count"])) for row in rows), default=1)
    return [f"{row['count']:>{width}}\t{row['code']}\t{'[*]' if row['fixable'] else '[ ]'} {row['name']}\n"
            for row in rows]
