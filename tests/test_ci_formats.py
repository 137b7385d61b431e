"""`check --format github|sarif`, `--statistics`, and no progress line for machine-readable output.

The SARIF schema is vendored verbatim: ``tests/sarif-schema-2.1.0.json`` is the
OASIS SARIF 2.1.0 Committee Specification schema (draft-07), as published in
https://github.com/oasis-tcs/sarif-spec at
``Documents/CommitteeSpecifications/2.1.0/sarif-schema-2.1.0.json`` (commit
3682e9ee648f2f3e11ba1fcd47fc390a0b8f9dab), the file behind
https://docs.oasis-open.org/sarif/sarif/v2.1.0/cs01/schemas/sarif-schema-2.1.0.json.
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from pylint_distiller import cli
from pylint_distiller.catalogue import RULES
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.formats import github_line
from pylint_distiller.findings import Finding

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "examples" / "basic_module.py"
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

GITHUB = re.compile(r"^::(?P<level>warning|error|notice) file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+),"
                    r"endLine=(?P<end_line>\d+)(?:,endColumn=(?P<end_col>\d+))?,title=(?P<title>[^:]+)::(?P<msg>.*)$")

#: one op per kind of span: a multi-line call, a `%` (escaped in GitHub data), a non-ASCII line
MIXED = '''import torch
import torch.nn as nn


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        z = torch.cat(
            [x, y], dim=1)
        é = y % 2.0  # café
        return z, é
'''


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(BASIC, tmp_path / "basic_module.py")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mixed.py").write_text(MIXED, encoding="utf-8")
    return tmp_path


def json_records(capsys, *paths) -> list[dict]:
    _, out, _ = run_cli(capsys, "check", "--format", "json", *paths)
    return json.loads(out)


# ------------------------------------------------------------------ github
def test_github_lines_carry_file_line_column_and_rule(project, capsys):
    records = json_records(capsys, "basic_module.py", "pkg")
    code, out, err = run_cli(capsys, "check", "--format", "github", "basic_module.py", "pkg")
    assert code == 1 and err == ""  # no summary, no progress: CI reads both streams
    lines = out.splitlines()
    assert len(lines) == len(records) > 4
    for line, record in zip(lines, records):
        match = GITHUB.match(line)
        assert match, line
        assert match["level"] == "warning"
        assert match["file"] == record["path"].removeprefix("./")
        assert int(match["line"]) == record["line"] and int(match["col"]) == record["col"] + 1
        assert int(match["end_line"]) == record["end_line"]
        if record["end_line"] == record["line"]:
            assert int(match["end_col"]) == record["end_col"] + 1
        else:
            assert match["end_col"] is None  # GitHub annotates columns on one line only
        assert match["title"] == f"{record['code']} {record['symbol']}"
    assert any(m["end_col"] is None for m in map(GITHUB.match, lines))  # the multi-line torch.cat
    assert any("%25" in line for line in lines)  # the '%' operator's message


def test_github_escapes_data_and_properties():
    finding = Finding(symbol="tensor-operator", path="we,ird:dir/a.py", line=3, col=4, end_line=3, end_col=9,
                      args=(), message="100% wrong\r\nsecond line")
    line = github_line(finding, cwd="/nowhere")
    assert "file=/nowhere" not in line
    head, message = line.rstrip("\n").split("::", 2)[1:]
    assert "we%2Cird%3Adir/a.py" in head and "title=W5703 tensor-operator" in head
    assert message == "100%25 wrong%0D%0Asecond line [no fix]"
    assert line.count("\n") == 1


# ------------------------------------------------------------------- sarif
def test_sarif_validates_against_the_published_schema(project, capsys):
    code, out, err = run_cli(capsys, "check", "--format", "sarif", "basic_module.py", "pkg")
    assert code == 1 and err == ""
    log = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    # the validation is not vacuous: the schema rejects a broken region and a missing version
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)
    del broken["version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


def test_sarif_carries_the_catalogue_results_and_fixes(project, capsys):
    records = json_records(capsys, "basic_module.py", "pkg")
    _, out, _ = run_cli(capsys, "check", "--format", "sarif", "basic_module.py", "pkg")
    run = json.loads(out)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.msgid for r in RULES.values()]
    for descriptor, rule in zip(rules, RULES.values()):
        assert descriptor["name"] == rule.symbol and descriptor["helpUri"] == rule.url
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"] == rule.why
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    assert len(run["results"]) == len(records)
    for result, record in zip(run["results"], records):
        assert result["ruleId"] == record["code"] and rules[result["ruleIndex"]]["id"] == record["code"]
        assert result["message"]["text"] == record["message"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": record["path"].removeprefix("./"), "uriBaseId": "%SRCROOT%"}
        assert location["region"] == {"startLine": record["line"], "startColumn": record["col"] + 1,
                                      "endLine": record["end_line"], "endColumn": record["end_col"] + 1}
        edits = (record["fix"] or {}).get("edits") or []
        assert bool(edits) == ("fixes" in result)
        if edits:
            [change] = result["fixes"][0]["artifactChanges"]
            assert [(r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"], r["insertedContent"]["text"])
                    for r in change["replacements"]] == [(e["start"]["line"], e["start"]["col"] + 1, e["text"])
                                                         for e in edits]


def _apply(text: str, replacements: list[dict]) -> str:
    """Apply SARIF replacements (1-based, endColumn exclusive) to text, last first."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    for r in sorted(replacements, key=lambda r: (r["deletedRegion"]["startLine"], r["deletedRegion"]["startColumn"]),
                    reverse=True):
        region = r["deletedRegion"]
        start = offset(region["startLine"], region["startColumn"])
        end = offset(region["endLine"], region["endColumn"])
        text = text[:start] + r["insertedContent"]["text"] + text[end:]
    return text


def test_a_sarif_fix_applied_by_a_consumer_equals_fix(project, capsys):
    """A SARIF viewer applying the one fix of a one-finding file gets exactly what `fix` writes."""
    text = MIXED.replace("        é = y % 2.0  # café\n", "        é = y  # café\n")
    (project / "one.py").write_text(text, encoding="utf-8")
    _, out, _ = run_cli(capsys, "check", "--format", "sarif", "one.py")
    [result] = json.loads(out)["runs"][0]["results"]
    [change] = result["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "one.py"
    assert _apply(text, change["replacements"]) == fix_source(text, "one.py").text != text


def test_sarif_lists_file_errors_as_notifications(project, capsys):
    (project / "broken.py").write_text("def f(:\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "check", "--format", "sarif", "broken.py", "basic_module.py")
    log = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    [invocation] = log["runs"][0]["invocations"]
    assert code == 2 and invocation["executionSuccessful"] is False
    assert "broken.py" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert len(log["runs"][0]["results"]) == 4


# -------------------------------------------------------------- statistics
def test_statistics_count_per_rule(project, capsys):
    records = json_records(capsys, "basic_module.py", "pkg")
    code, out, _ = run_cli(capsys, "check", "--statistics", "basic_module.py", "pkg")
    assert code == 1
    rows = [line.split("\t") for line in out.splitlines()]
    counts = {}
    for record in records:
        counts[record["code"]] = counts.get(record["code"], 0) + 1
    assert {code: int(n) for n, code, _ in rows} == counts
    assert [int(n) for n, _, _ in rows] == sorted((int(n) for n, _, _ in rows), reverse=True)
    for n, code, tail in rows:
        marker, name = tail.split(" ", 1)
        symbol_records = [r for r in records if r["code"] == code]
        assert name == symbol_records[0]["symbol"]
        safe = any(r["fix"] and r["fix"]["applicability"] == "safe" for r in symbol_records)
        assert marker == ("[*]" if safe else "[ ]")
    code, out, _ = run_cli(capsys, "check", "--statistics", "--format", "json", "basic_module.py", "pkg")
    assert {row["code"]: row["count"] for row in json.loads(out)} == counts
    assert run_cli(capsys, "check", "--statistics", "--format", "sarif", "basic_module.py")[0] == 2


# ---------------------------------------------------------------- progress
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_progress_only_for_text_on_a_terminal(tmp_path, fmt):
    for i in range(21):
        (tmp_path / f"m{i:02}.py").write_text("x = 1\n")
    args = cli.build_parser().parse_args(["check", "--format", fmt, str(tmp_path)])
    out, err = FakeTTY(), FakeTTY()
    assert cli.run_check(args, out, err) == 0
    drawn = "\r\x1b[K" in err.getvalue() and "[21/21]" in err.getvalue()
    assert drawn is (fmt == "text")
    assert "\x1b" not in out.getvalue()


def test_sarif_uris_are_percent_encoded(project, capsys):
    shutil.copyfile(BASIC, project / "my model#1.py")
    _, out, _ = run_cli(capsys, "check", "--format", "sarif", "my model#1.py")
    log = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"my%20model%231.py"}


def test_github_reports_files_that_cannot_be_checked(project, capsys):
    (project / "broken.py").write_text("def f(:\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "check", "--format", "github", "broken.py", "basic_module.py")
    lines = out.splitlines()
    assert code == 2 and "broken.py" in err
    assert sum(bool(GITHUB.match(line)) for line in lines) == 4
    [error] = [line for line in lines if line.startswith("::error ")]
    assert error.startswith("::error title=pylint-distiller::broken.py:1: cannot parse")
