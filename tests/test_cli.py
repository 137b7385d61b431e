"""The `pylint-distiller` command line: every documented behaviour of `check` and `fix`.

Most tests call `pylint_distiller.cli.main([...])` in-process with captured
stdout/stderr (fast: astroid's view of torch is loaded once); a few run the real
entry point (`python -m pylint_distiller`) and pylint itself in a subprocess.

Exit codes: 0 clean, 1 findings (`check`) or would change (`fix --check`),
2 errors (unreadable/unparsable files, missing paths, no Python files, bad options).
"""

from __future__ import annotations

import difflib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylint_distiller import cli
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.fixer.files import Progress

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BASIC = EXAMPLES / "basic_module.py"

CLEAN = '''import torch.nn as nn


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))
'''


# ------------------------------------------------------------------ helpers
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `pylint-distiller argv...` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy_example(tmp_path: Path, name: str = "basic_module.py", dest: str | None = None) -> Path:
    target = tmp_path / (dest or name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLES / name, target)
    return target


def apply_edits(text: str, edits: list[dict]) -> str:
    """Apply JSON edits (1-based lines, 0-based character columns) to `text`."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def offset(pos: dict) -> int:
        return starts[pos["line"] - 1] + pos["col"]

    spans = sorted(((offset(e["start"]), offset(e["end"]), e["text"]) for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------- check: text
def test_check_reports_findings_and_exits_1(capsys):
    code, out, err = run_cli(capsys, "check", BASIC)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 4, out  # the worked example: exactly four findings
    symbols = [line.rsplit("(", 1)[1].split(")")[0] for line in lines]
    assert symbols == ["tensor-operator", "reused-module", "torch-function", "functional-call"]
    # path:line:col: msgid message (symbol) [fix tag]; text columns are 1-based like ruff/gcc
    assert lines[0].startswith(f"{BASIC}:38:9: W5703 ")
    assert all(line.endswith("[*]") for line in lines)
    assert "4 finding(s) in 1 file(s)" in err
    assert "Traceback" not in err


def test_check_clean_file_exits_0(tmp_path, capsys):
    path = tmp_path / "clean.py"
    path.write_text(CLEAN)
    code, out, err = run_cli(capsys, "check", path)
    assert (code, out) == (0, "")
    assert "0 finding(s) in 1 file(s)" in err


def test_check_missing_path_exits_2(tmp_path, capsys):
    code, out, err = run_cli(capsys, "check", tmp_path / "nope.py")
    assert code == 2
    assert error_lines(err) == [f"error: {tmp_path / 'nope.py'}: no such file or directory"]


def test_check_errors_win_over_findings(tmp_path, capsys):
    good = copy_example(tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    code, out, err = run_cli(capsys, "check", good, bad)
    assert code == 2
    assert len(out.splitlines()) == 4  # the good file is still fully reported
    assert error_lines(err) == [f"error: {bad}:1: cannot parse: invalid syntax"]


def test_check_same_file_twice_is_reported_once(tmp_path, capsys):
    good = copy_example(tmp_path)
    code, out, _ = run_cli(capsys, "check", good, good, tmp_path)
    assert code == 1
    assert len(out.splitlines()) == 4


def test_bad_option_value_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--target", "tensorrt", str(BASIC)])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# --------------------------------------------------------------- check: json
def test_check_json_schema_and_edits(capsys):
    code, out, err = run_cli(capsys, "check", "--format", "json", EXAMPLES)
    assert code == 1
    records = json.loads(out)
    assert records, "the examples have findings"
    keys = {"path", "symbol", "code", "message", "line", "col", "end_line", "end_col", "confidence", "class",
            "op", "fix"}
    applicabilities = set()
    for record in records:
        assert keys <= set(record), record
        assert record["code"].startswith("W57")
        assert record["confidence"] in ("HIGH", "INFERENCE")
        assert (record["line"], record["col"]) <= (record["end_line"], record["end_col"])
        fix = record["fix"]
        if fix is None:
            continue
        assert {"title", "applicability", "edits", "member", "imports"} <= set(fix)
        applicabilities.add(fix["applicability"])
        assert fix["applicability"] in ("safe", "unsafe", "manual")
        text = Path(record["path"]).read_text(encoding="utf-8")
        if fix["applicability"] == "manual":
            assert fix["edits"] == []
            continue
        assert fix["edits"], record
        for edit in fix["edits"]:
            assert set(edit) == {"start", "end", "text"}
            assert set(edit["start"]) == set(edit["end"]) == {"line", "col"}
        fixed = apply_edits(text, fix["edits"])
        compile(fixed, record["path"], "exec")  # one finding's edits alone give valid Python
        assert fixed != text
    assert {"safe", "unsafe"} <= applicabilities
    # the JSON findings are the text findings
    _, text_out, _ = run_cli(capsys, "check", EXAMPLES)
    assert len(text_out.splitlines()) == len(records)


def test_check_json_edit_of_the_worked_example(capsys):
    _, out, _ = run_cli(capsys, "check", "--format", "json", BASIC)
    records = {r["symbol"]: r for r in json.loads(out)}
    cat = records["torch-function"]["fix"]
    assert cat["applicability"] == "safe"
    texts = [e["text"] for e in cat["edits"]]
    assert "self.cat(identity, out)" in texts
    assert any("self.cat = distiller.modules.Concat(dim=1)" in t for t in texts)
    assert any("import distiller.modules" in t for t in texts)


def test_check_json_stays_valid_json_with_errors(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("class (:\n")
    code, out, err = run_cli(capsys, "check", "--format", "json", bad, BASIC)
    assert code == 2
    assert len(json.loads(out)) == 4
    assert error_lines(err)[0].startswith(f"error: {bad}:1: cannot parse")


# ------------------------------------------------------------------------ fix
def test_fix_rewrites_in_place_and_is_idempotent(tmp_path, capsys):
    path = copy_example(tmp_path)
    code, out, err = run_cli(capsys, "fix", path)
    assert code == 0
    assert "Fixed 4 finding(s) in 1 file(s) of 1." in err
    text = path.read_text()
    for expected in ("import distiller.modules", "self.add = distiller.modules.EltwiseAdd(inplace=True)",
                     "self.relu_2 = nn.ReLU()", "self.cat = distiller.modules.Concat(dim=1)",
                     "self.sigmoid = nn.Sigmoid()", "out = self.add(out, identity)", "out = self.relu_2(out)",
                     "out = self.cat(identity, out)", "out = self.sigmoid(out)"):
        assert expected in text
    compile(text, str(path), "exec")
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0 and "Fixed 0 finding(s)" in err
    assert path.read_bytes() == before
    code, out, _ = run_cli(capsys, "check", path)
    assert (code, out) == (0, "")  # nothing fixable (or otherwise) left


def test_fix_diff_writes_nothing(tmp_path, capsys):
    path = copy_example(tmp_path)
    before, stat = path.read_bytes(), path.stat()
    code, out, err = run_cli(capsys, "fix", "--diff", path)
    assert code == 0
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(tmp_path)) == ["basic_module.py"]  # no temp file either
    assert "Would fix 4 finding(s) in 1 file(s) of 1." in err
    expected = "".join(difflib.unified_diff(before.decode().splitlines(True),
                                            fix_source(before.decode()).text.splitlines(True),
                                            fromfile=f"a/{path}", tofile=f"b/{path}"))
    assert out == expected
    assert "+        out = self.cat(identity, out)\n" in out
    assert "-        out = torch.cat([identity, out], dim=1)\n" in out


def test_fix_diff_marks_a_missing_final_newline(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(BASIC.read_text().rstrip("\n").replace("def build", "def _build") + "\n\nY = 1")
    path.write_text(path.read_text().replace("out = F.sigmoid(out)\n\n        return out",
                                             "return F.sigmoid(out)"))
    text = path.read_text()
    assert not text.endswith("\n")
    code, out, _ = run_cli(capsys, "fix", "--diff", path)
    assert code == 0
    for line in out.splitlines(True):
        assert line.endswith("\n")  # every diff line is terminated: the diff stays machine-readable


def test_fix_check_exits_1_when_a_file_would_change(tmp_path, capsys):
    path = copy_example(tmp_path)
    before = path.read_bytes()
    code, out, err = run_cli(capsys, "fix", "--check", path)
    assert code == 1
    assert out == f"would fix {path} (4 fix(es))\n"
    assert path.read_bytes() == before
    run_cli(capsys, "fix", path)
    code, out, _ = run_cli(capsys, "fix", "--check", path)
    assert (code, out) == (0, "")


def test_fix_diff_and_check_together(tmp_path, capsys):
    path = copy_example(tmp_path)
    before = path.read_bytes()
    code, out, _ = run_cli(capsys, "fix", "--diff", "--check", path)
    assert code == 1 and out.startswith("--- a/")
    assert path.read_bytes() == before


def test_fix_target_torch_eager(tmp_path, capsys):
    path = copy_example(tmp_path)
    code, _, _ = run_cli(capsys, "fix", "--target", "torch-eager", path)
    assert code == 0
    text = path.read_text()
    assert "from torch.ao.nn.quantized import FloatFunctional" in text
    assert "self.add_relu = FloatFunctional()" in text and "out = self.add_relu.add_relu(out, identity)" in text
    assert "    def fuse_model(self, is_qat=False):" in text
    assert "out = self.cat.cat([identity, out], dim=1)" in text
    assert "distiller" not in text.split('"""', 2)[2]  # nothing of the distiller target (outside the docstring)
    code, out, _ = run_cli(capsys, "check", "--target", "torch-eager", path)
    assert (code, out) == (0, "")


def test_check_target_changes_messages(capsys):
    _, out, _ = run_cli(capsys, "check", "--target", "torch-eager", BASIC)
    assert "FloatFunctional().cat" in out
    assert "distiller.modules" not in out


def test_fix_unsafe_fixes(tmp_path, capsys):
    path = copy_example(tmp_path, "lstm_model.py")
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0
    assert path.read_bytes() == before  # the only fix is unsafe
    assert "1 with unsafe fixes (--unsafe-fixes)" in err
    assert "unquantizable-module" in err
    code, _, err = run_cli(capsys, "fix", "--unsafe-fixes", path)
    assert code == 0
    text = path.read_text()
    assert "distiller.modules.DistillerLSTM(" in text
    compile(text, str(path), "exec")


def test_fix_directories_recursively(tmp_path, capsys):
    copy_example(tmp_path, "basic_module.py", "pkg/a.py")
    copy_example(tmp_path, "squeeze_excitation.py", "pkg/sub/deeper/b.py")
    copy_example(tmp_path, "basic_module.py", "pkg/sub/c.pyi")
    skipped = [copy_example(tmp_path, "basic_module.py", f"pkg/{d}/x.py")
               for d in (".venv", "__pycache__", "build", ".hidden", "node_modules")]
    other = tmp_path / "pkg" / "notes.txt"
    other.write_text("x = 1 + 1\n")
    code, out, err = run_cli(capsys, "fix", tmp_path / "pkg")
    assert code == 0, err
    assert "in 3 file(s) of 3." in err
    for fixed in ("pkg/a.py", "pkg/sub/deeper/b.py", "pkg/sub/c.pyi"):
        assert "distiller.modules" in (tmp_path / fixed).read_text(), fixed
    for path in skipped:
        assert path.read_bytes() == BASIC.read_bytes()
    assert other.read_text() == "x = 1 + 1\n"


def test_mixed_good_and_bad_files(tmp_path, capsys):
    good = copy_example(tmp_path, dest="a_good.py")
    good2 = copy_example(tmp_path, "squeeze_excitation.py", "z_good.py")
    bad = tmp_path / "m_bad.py"
    bad_bytes = BASIC.read_bytes().replace(b"def forward(self, x):", b"def forward(self, x)")
    bad.write_bytes(bad_bytes)
    undecodable = tmp_path / "n_latin.py"
    undecodable.write_bytes(BASIC.read_bytes().replace(b"identity = x", b"identit\xe9 = x\n        identity = x"))
    code, out, err = run_cli(capsys, "fix", tmp_path)
    assert code == 2
    errors = error_lines(err)
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {bad}:28: cannot parse: ")
    assert errors[1].startswith(f"error: {undecodable}: not valid UTF-8 (byte 0xe9 at line 29")
    assert "Fixed" in err and "2 error(s), those files left untouched" in err
    assert bad.read_bytes() == bad_bytes
    assert b"identit\xe9" in undecodable.read_bytes()
    assert "self.cat(identity, out)" in good.read_text()
    assert "distiller.modules" in good2.read_text()


# ------------------------------------------------------------------ pyproject
@pytest.mark.parametrize("table", ["distiller", "main"])
def test_options_from_pyproject(tmp_path, capsys, table):
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.pylint.{table}]\ndistiller-target = "torch-eager"\ndistiller-ignore-ops = ["F.sigmoid"]\n')
    path = copy_example(tmp_path, dest="src/model.py")
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 1
    assert "FloatFunctional().cat" in out
    assert "functional-call" not in out  # F.sigmoid ignored
    # the command line wins over pyproject
    code, out, _ = run_cli(capsys, "check", "--target", "distiller", path)
    assert code == 1 and "distiller.modules" in out
    code, _, _ = run_cli(capsys, "fix", tmp_path / "src")
    text = path.read_text()
    assert "self.cat = FloatFunctional()" in text and "F.sigmoid(out)" in text


def test_explicit_config_file(tmp_path, capsys):
    config = tmp_path / "conf" / "pyproject.toml"
    config.parent.mkdir()
    config.write_text('[tool.pylint.distiller]\ndistiller-target = "torch-eager"\n')
    _, out, _ = run_cli(capsys, "check", "--config", config, BASIC)
    assert "FloatFunctional" in out


def test_bad_target_in_pyproject_exits_2(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.pylint.distiller]\ndistiller-target = "tensorrt"\n')
    path = copy_example(tmp_path)
    before = path.read_bytes()
    code, out, err = run_cli(capsys, "fix", path)
    assert code == 2
    assert err.strip().startswith("error: unknown target 'tensorrt'")
    assert path.read_bytes() == before


# ------------------------------------------------------- parity with pylint
PRAGMA_FILE = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):  # pylint: disable=tensor-operator
        a = x + x
        b = x * x  # pylint: disable=W5703
        c = torch.cat([a,
                       b], dim=1)  # pylint: disable=torch-function
        # pylint: disable=functional-call
        d = F.relu(c)
        e = F.sigmoid(d)
        # pylint: enable=functional-call
        f = F.relu(e)
        if x.sum() > 0:
            # pylint: disable=tensor-operator
            g = f + f
        h = f + f
        i = torch.cat([h, h], dim=1)  # pylint: disable=distiller
        # pylint: disable-next=functional-call
        k = F.silu(i)
        m = F.silu(k)  # pylint: disable=W
        n = torch.tanh(m)  # pylint: disable=no-member
        y = n + \\
            x  # pylint: disable=tensor-operator
        return y


class B(nn.Module):
    # pylint: disable=tensor-operator
    def forward(self, x):
        return x + x

    def helper(self, x):
        return x * x


class C(nn.Module):
    def forward(self, x):
        y = x + x
        return y * torch.sigmoid(y)
'''


def test_check_matches_pylint_plugin(tmp_path, capsys):
    """`check` = `pylint --load-plugins=pylint_distiller --disable=all --enable=distiller` (symbol, line, col)."""
    pragmas = tmp_path / "pragmas.py"
    pragmas.write_text(PRAGMA_FILE)
    ignored = tmp_path / "ignored.py"
    ignored.write_text(PRAGMA_FILE.replace("        return y\n", "        return y  # pylint: disable=all\n"))
    paths = [str(p) for p in sorted(EXAMPLES.glob("*.py"))] + [str(pragmas), str(ignored)]
    proc = subprocess.run([sys.executable, "-m", "pylint", "--load-plugins=pylint_distiller", "--disable=all",
                           "--enable=distiller", "--output-format=json2", "--persistent=n", *paths],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 4), proc.stderr  # 4: warnings were emitted
    theirs = sorted((os.path.realpath(m["path"]), m["symbol"], m["line"], m["column"])
                    for m in json.loads(proc.stdout)["messages"])
    code, out, _ = run_cli(capsys, "check", "--format", "json", *paths)
    ours = sorted((os.path.realpath(r["path"]), r["symbol"], r["line"], r["col"]) for r in json.loads(out))
    assert code == 1
    assert ours == theirs
    assert any(p == str(pragmas) for p, *_ in ours)
    assert not any(p == str(ignored) for p, *_ in ours)  # `disable=all` anywhere: pylint skips the file


# ------------------------------------------------------------------ progress
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_tty_and_long_runs():
    tty = FakeTTY()
    progress = Progress(25, tty)
    progress.step(1, "a.py")
    progress.step(2, "b.py")
    progress.clear()
    assert tty.getvalue() == "\r\x1b[K[1/25] a.py\r\x1b[K[2/25] b.py\r\x1b[K"
    for stream, total in ((io.StringIO(), 25), (FakeTTY(), 3)):
        quiet = Progress(total, stream)
        quiet.step(1, "a.py")
        quiet.clear()
        assert stream.getvalue() == ""


def test_progress_in_a_long_check_run(tmp_path):
    for i in range(22):
        copy_example(tmp_path, "squeeze_excitation.py" if i % 2 else "shape_arithmetic.py", f"m{i:02}.py")
    args = cli.build_parser().parse_args(["check", str(tmp_path)])
    out, err = FakeTTY(), FakeTTY()
    assert cli.run_check(args, out, err) == 1
    assert "[22/22]" in err.getvalue() and "\r\x1b[K" in err.getvalue()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()  # findings are never garbled
    assert err.getvalue().endswith("finding(s) in 22 file(s) ([*]: fixable with `pylint-distiller fix`)\n")
    plain_out, plain_err = io.StringIO(), io.StringIO()
    cli.run_check(args, plain_out, plain_err)
    assert "\r" not in plain_err.getvalue() and "[1/22]" not in plain_err.getvalue()
    assert plain_out.getvalue() == out.getvalue()


# --------------------------------------------------------- the real entry point
def test_entry_point_subprocess(tmp_path):
    path = copy_example(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fix = subprocess.run([sys.executable, "-m", "pylint_distiller", "fix", str(path), str(tmp_path / "nope.py")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert fix.returncode == 2
    assert f"error: {tmp_path / 'nope.py'}: no such file or directory" in fix.stderr
    assert "Traceback" not in fix.stderr and "\r" not in fix.stderr  # not a terminal: no progress
    assert "self.cat(identity, out)" in path.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    check = subprocess.run([sys.executable, "-m", "pylint_distiller", "check", str(empty)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert check.returncode == 2
    assert check.stderr.splitlines()[0] == f"error: no Python files to check in {empty}"
    version = subprocess.run([sys.executable, "-m", "pylint_distiller", "--version"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert version.returncode == 0 and version.stdout.startswith("pylint-distiller ")


def test_version_and_rules(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert "pylint-distiller" in capsys.readouterr().out
    code, out, _ = run_cli(capsys, "rules")
    assert code == 0 and "tensor-operator" in out
