"""Hostile input for `check` and `fix`: every case gets one clear line naming the
file, the right exit code, and a failing file's bytes stay exactly as they were.

Decisions these tests pin down (see `pylint_distiller.fixer.files` and `cli`):

* A file named explicitly is processed as Python whatever its suffix; if it is
  not Python the parse error says so.
* A folder without Python files is a warning when other paths have files, an
  error (exit 2) when nothing at all is left to process.
* Symbolic links: a linked file is fixed through the link (the link stays a
  link); linked folders are not followed (no loops); a file reached twice is
  processed once.
* A read-only file (no write bit) is never rewritten, even by root.
* ``# pylint:`` pragmas are honoured exactly as pylint honours them: `check`
  does not report what they silence and `fix` does not rewrite it.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import time
from pathlib import Path

import pytest

from pylint_distiller import sources
from pylint_distiller.fixer import files
from pylint_distiller.fixer.engine import fix_source
from tests.test_cli import BASIC, copy_example, error_lines, run_cli

BASIC_TEXT = BASIC.read_text(encoding="utf-8")
FIXED_BASIC = fix_source(BASIC_TEXT).text


def assert_one_error(err: str, path: Path | str, *needles: str) -> str:
    errors = error_lines(err)
    assert len(errors) == 1, err
    line = errors[0]
    assert str(path) in line, line
    for needle in needles:
        assert needle in line, line
    assert "Traceback" not in err and "internal error" not in err
    return line


def both_commands_fail_cleanly(capsys, path: Path, *needles: str, diff: bool = True) -> None:
    """check and fix (and fix --diff) report one error line, exit 2, bytes untouched."""
    before = path.read_bytes() if path.is_file() else None
    for argv in (("check",), ("fix",), ("fix", "--diff"))[:3 if diff else 2]:
        code, out, err = run_cli(capsys, *argv, path)
        assert code == 2, (argv, err)
        assert_one_error(err, path, *needles)
        if argv[0] == "fix":
            assert out == ""
        if before is not None:
            assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".pylint-distiller-")]


# ------------------------------------------------------------- syntax errors
@pytest.mark.parametrize("source, needle", [
    ("def f(:\n    pass\n", ":54: cannot parse: invalid syntax"),
    ("class A:\n  def f(self):\n\treturn 1\n        x = 2\n", ": cannot parse: "),
    ("x = (1,\n", ": cannot parse: "),
    ("print 'hello'\n", ":54: cannot parse: "),
    ("x = 1\x00\n", "cannot parse: source code string cannot contain null bytes"),
])
def test_syntax_errors(tmp_path, capsys, source, needle):
    path = tmp_path / "broken.py"
    path.write_text(BASIC_TEXT + source)
    both_commands_fail_cleanly(capsys, path, needle)


# ----------------------------------------------------------------- encodings
def test_non_utf8_bytes_without_coding_cookie(tmp_path, capsys):
    path = tmp_path / "latin.py"
    path.write_bytes(BASIC.read_bytes().replace(b"identity = x", b"identit\xe9 = x  # caf\xe9\n        identity = x"))
    both_commands_fail_cleanly(capsys, path, "not valid UTF-8 (byte 0xe9 at line 29, column 16)",
                               "coding")


@pytest.mark.parametrize("data, needle", [
    (codecs.BOM_UTF16_LE + "x = 1\n".encode("utf-16-le"), "not valid UTF-8 (byte 0xff at line 1, column 1)"),
    (b"# -*- coding: klingon -*-\nx = 1\n", "bad coding declaration: unknown encoding: klingon"),
    (codecs.BOM_UTF8 + b"# -*- coding: latin-1 -*-\nx = 1\n", "bad coding declaration: encoding problem"),
    (b"# -*- coding: ascii -*-\nx = '\xc3\xa9'\n", "cannot decode as ascii, its declared encoding (byte 0xc3 at line 2"),
    (bytes(range(256)) * 4, "not valid UTF-8"),
])
def test_undecodable_files(tmp_path, capsys, data, needle):
    path = tmp_path / "weird.py"
    path.write_bytes(data)
    both_commands_fail_cleanly(capsys, path, needle)


def test_latin1_with_coding_cookie_is_fixed_and_stays_latin1(tmp_path, capsys):
    original = ("# -*- coding: latin-1 -*-\n" + BASIC_TEXT.replace(
        "identity = x", "identity = x  # l'entrée, café")).encode("latin-1")
    path = tmp_path / "latin.py"
    path.write_bytes(original)
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0, err
    data = path.read_bytes()
    assert b"# l'entr\xe9e, caf\xe9" in data  # still latin-1 bytes
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("latin-1")
    assert text == fix_source(original.decode("latin-1")).text
    assert "self.cat(identity, out)" in text
    code, out, _ = run_cli(capsys, "check", path)
    assert (code, out) == (0, "")


def test_bom_is_kept(tmp_path, capsys):
    path = tmp_path / "bom.py"
    path.write_bytes(codecs.BOM_UTF8 + BASIC.read_bytes())
    code, out, err = run_cli(capsys, "check", path)
    assert code == 1 and len(out.splitlines()) == 4
    assert f"{path}:38:9:" in out  # the BOM does not shift columns
    code, _, _ = run_cli(capsys, "fix", path)
    assert code == 0
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF8) and not data[3:].startswith(codecs.BOM_UTF8)
    assert data[3:].decode("utf-8") == FIXED_BASIC


def test_crlf_is_kept_byte_exact(tmp_path, capsys):
    path = tmp_path / "crlf.py"
    path.write_bytes(BASIC.read_bytes().replace(b"\n", b"\r\n"))
    code, out, _ = run_cli(capsys, "check", "--format", "json", path)
    assert code == 1
    lf_findings = json.loads(run_cli(capsys, "check", "--format", "json", BASIC)[1])
    assert [(f["line"], f["col"], f["end_col"]) for f in json.loads(out)] == \
           [(f["line"], f["col"], f["end_col"]) for f in lf_findings]
    code, _, _ = run_cli(capsys, "fix", path)
    assert code == 0
    # byte-exact: fixing CRLF text == fixing LF text, then converting to CRLF
    assert path.read_bytes() == FIXED_BASIC.replace("\n", "\r\n").encode("utf-8")


def test_mixed_and_lone_cr_line_endings(tmp_path, capsys):
    lines = BASIC_TEXT.splitlines(True)
    mixed = "".join(line.replace("\n", "\r\n") if i % 3 == 0 else line for i, line in enumerate(lines))
    cr = BASIC_TEXT.replace("\n", "\r")
    for name, text in (("mixed.py", mixed), ("cr.py", cr)):
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8"))
        code, _, err = run_cli(capsys, "fix", path)
        assert code == 0, err
        fixed = path.read_bytes().decode("utf-8")
        compile(fixed, name, "exec")
        assert "self.cat(identity, out)" in fixed
        # every line outside the edits keeps its own terminator; new lines take the file's first
        # one, inserted between an anchor line's content and its terminator
        anchors = ("torch.cat", "F.sigmoid", "out += identity", "self.relu(out)", "self.bn2 = ",
                   "import torch.nn.functional as F")
        for line in text.splitlines(True):
            if not any(anchor in line for anchor in anchors):
                assert line in fixed, repr(line)
        if name == "cr.py":
            assert "\n" not in fixed


def test_tabs(tmp_path, capsys):
    path = tmp_path / "tabs.py"
    text = BASIC_TEXT.replace("    ", "\t")
    path.write_text(text)
    code, out, _ = run_cli(capsys, "check", "--format", "json", path)
    assert code == 1
    for record in json.loads(out):
        line = text.splitlines()[record["line"] - 1]
        assert line[record["col"]:].startswith(("out", "self.relu", "torch.cat", "F.sigmoid"))
    code, _, _ = run_cli(capsys, "fix", path)
    assert code == 0
    fixed = path.read_text()
    assert fixed == FIXED_BASIC.replace("    ", "\t")
    assert "\n\t\tself.cat = distiller.modules.Concat(dim=1)\n" in fixed


def test_unicode_identifiers(tmp_path, capsys):
    text = '''"""Ünïcödé: модель, 模型."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Блок(nn.Module):
    def __init__(self, каналы):
        super().__init__()
        self.свёртка = nn.Conv2d(каналы, каналы, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, входы):
        выход = self.свёртка(входы)
        é, 数据 = выход, входы  # 注释
        выход = é + 数据
        return torch.cat([выход, 数据], dim=1), F.relu(выход)
'''
    path = tmp_path / "модель.py"
    path.write_text(text, encoding="utf-8")
    code, out, _ = run_cli(capsys, "check", "--format", "json", path)
    assert code == 1
    records = json.loads(out)
    spans = {text.splitlines()[r["line"] - 1][r["col"]:r["end_col"]] for r in records}
    assert spans == {"é + 数据", "torch.cat([выход, 数据], dim=1)", "F.relu(выход)"}  # character columns
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0, err
    fixed = path.read_text(encoding="utf-8")
    compile(fixed, "модель.py", "exec")
    assert "выход = self.add(é, 数据)" in fixed and "# 注释" in fixed
    assert fix_source(fixed).text == fixed


def test_empty_and_trivial_files(tmp_path, capsys):
    for name, data in (("empty.py", b""), ("blank.py", b"\n\n   \n"), ("comment.py", b"# just a comment"),
                       ("formfeed.py", b"\x0cimport torch\n\x0c\n"), ("docstring.py", b'"""doc"""')):
        path = tmp_path / name
        path.write_bytes(data)
        for argv in (("check",), ("fix",)):
            code, out, err = run_cli(capsys, *argv, path)
            assert code == 0 and out == "" and not error_lines(err), (name, err)
        assert path.read_bytes() == data


# ---------------------------------------------------------------- big inputs
def big_model_source(lines: int = 50_000, layers: int = 45) -> str:
    """A model-like file of exactly `lines` lines: ~500 classes, each with two fixable ops."""
    head = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
    parts, count, i = [head], head.count("\n"), 0
    while True:
        init = "".join(f"        self.layer{j} = nn.Linear(16, 16)\n" for j in range(layers))
        calls = "".join(f"        x = self.layer{j}(x)\n" for j in range(layers))
        block = (f"class Block{i}(nn.Module):\n    def __init__(self):\n        super().__init__()\n{init}\n"
                 f"    def forward(self, x):\n        identity = x\n{calls}"
                 "        x = x + identity\n        return F.relu(x)\n\n\n")
        if count + block.count("\n") > lines:
            break
        parts.append(block)
        count += block.count("\n")
        i += 1
    parts.append("# end\n" * (lines - count))
    return "".join(parts)


def test_a_50000_line_file(tmp_path, capsys):
    path = tmp_path / "huge.py"
    text = big_model_source()
    assert text.count("\n") == 50_000
    path.write_text(text)
    start = time.perf_counter()
    code, _, err = run_cli(capsys, "fix", path)
    fix_seconds = time.perf_counter() - start
    assert code == 0, err
    classes = text.count("\nclass ")
    assert f"Fixed {2 * classes} finding(s) in 1 file(s) of 1." in err
    start = time.perf_counter()
    code, out, err = run_cli(capsys, "check", path)
    check_seconds = time.perf_counter() - start
    assert (code, out) == (0, ""), err
    # generous bounds for a loaded 2-core CI box; typical: check ~3 s, fix ~7 s
    assert check_seconds < 30, check_seconds
    assert fix_seconds < 60, fix_seconds


def nest(kind: str, depth: int) -> str:
    return {
        "parens": "(" * depth + "x" + ")" * depth,
        "sum": " + ".join(["x"] * depth),
        "unary": "-" * depth + "x",
        "attribute": "x" + ".a" * depth,
        "calls": "self.relu" + "(x)" * depth,
        "subscripts": "x" + "[0]" * depth,
        "methods": "x" + ".relu()" * depth,
        "ifexp": "x if x else " * depth + "x",
        "lambdas": "lambda: " * depth + "x",
        "lists": "[" * depth + "x" + "]" * depth,
    }[kind]


def deep_file(tmp_path: Path, kind: str, depth: int) -> Path:
    path = tmp_path / f"deep_{kind}.py"
    path.write_text(BASIC_TEXT.replace("        identity = x\n",
                                       f"        identity = x\n        deep = {nest(kind, depth)}\n"))
    return path


@pytest.mark.parametrize("kind", ["parens", "lists"])
def test_nested_1000_deep_beyond_pythons_parser(tmp_path, capsys, kind):
    path = deep_file(tmp_path, kind, 1000)
    both_commands_fail_cleanly(capsys, path, ":30: cannot parse: too many nested parentheses")


@pytest.mark.parametrize("kind", ["unary", "attribute", "calls", "subscripts", "ifexp", "lambdas"])
def test_nested_1000_deep_is_analysed_and_fixed(tmp_path, capsys, kind):
    """astroid overflows the default recursion limit: the file is retried on a big stack."""
    path = deep_file(tmp_path, kind, 1000)
    code, out, err = run_cli(capsys, "check", path)
    assert code == 1 and not error_lines(err), err
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0 and not error_lines(err), err
    fixed = path.read_text()
    compile(fixed, str(path), "exec")
    assert "out = self.cat(identity, out)" in fixed
    assert nest(kind, 1000) in fixed  # the deep expression itself has no safe fix: kept as it was


def test_sum_of_1000_terms(tmp_path, capsys):
    """1,000 fixable `+` in one expression: checked; the rewrite would nest 1,000 calls, deeper than
    Python's parser accepts, so fix refuses with a clear error and writes nothing."""
    path = deep_file(tmp_path, "sum", 1000)
    code, out, err = run_cli(capsys, "check", path)
    assert code == 1 and not error_lines(err)
    assert out.count("tensor-operator") >= 999
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 2
    assert_one_error(err, path, "the rewrite does not parse", "nothing written")
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind, depth", [("unary", 20_000), ("sum", 100_000)])
def test_nesting_beyond_any_limit(tmp_path, capsys, kind, depth):
    path = deep_file(tmp_path, kind, depth)
    both_commands_fail_cleanly(capsys, path, "too deeply nested", diff=False)


# ---------------------------------------------------------------- pragmas
PRAGMAS = BASIC_TEXT.replace(
    "out += identity", "out += identity  # pylint: disable=tensor-operator").replace(
    "out = torch.cat([identity, out], dim=1)",
    "# pylint: disable=W5704,functional-call\n        out = torch.cat([identity, out], dim=1)").replace(
    "out = F.sigmoid(out)", "out = F.sigmoid(out)\n        # pylint: enable=functional-call\n"
                            "        out = F.relu(out)")


def test_pragmas_silence_check_and_protect_lines_from_fix(tmp_path, capsys):
    path = tmp_path / "pragmas.py"
    path.write_text(PRAGMAS)
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 1
    symbols = sorted(line.rsplit("(", 1)[1].split(")")[0] for line in out.splitlines())
    assert symbols == ["functional-call", "reused-module"]  # F.relu after enable=, and the 2nd self.relu
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 0, err
    fixed = path.read_text()
    assert "out += identity  # pylint: disable=tensor-operator" in fixed
    assert "        out = torch.cat([identity, out], dim=1)\n" in fixed
    assert "        out = F.sigmoid(out)\n" in fixed
    assert "self.add" not in fixed and "self.cat" not in fixed and "self.sigmoid" not in fixed
    assert "out = self.relu_2(out)" in fixed
    unpragmatic = fixed.replace("# pylint:", "# note:")
    assert fix_source(unpragmatic).text != unpragmatic  # without pragmas there would be more to do...
    code, out, _ = run_cli(capsys, "fix", "--check", path)
    assert (code, out) == (0, "")  # ...but `fix` honours them: idempotent


@pytest.mark.parametrize("pragma", ["# pylint: skip-file", "# pylint: disable=all",
                                    "x = 1  # pylint: disable=all"])
def test_file_level_pragmas(tmp_path, capsys, pragma):
    path = tmp_path / "skipped.py"
    path.write_text(BASIC_TEXT + pragma + "\n")
    before = path.read_bytes()
    code, out, _ = run_cli(capsys, "check", path)
    assert (code, out) == (0, "")
    code, _, _ = run_cli(capsys, "fix", path)
    assert code == 0 and path.read_bytes() == before


def test_disable_next_and_checker_name(tmp_path, capsys):
    path = tmp_path / "next.py"
    path.write_text(BASIC_TEXT.replace("        out = torch.cat", "        # pylint: disable-next=torch-function\n"
                                       "        out = torch.cat").replace(
        "out = F.sigmoid(out)", "out = F.sigmoid(out)  # pylint: disable=distiller"))
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 1
    assert "torch-function" not in out and "functional-call" not in out and "tensor-operator" in out


# --------------------------------------------------------- files and folders
def test_read_only_file(tmp_path, capsys):
    path = copy_example(tmp_path)
    path.chmod(0o444)
    before = path.read_bytes()
    try:
        code, out, _ = run_cli(capsys, "check", path)
        assert code == 1 and len(out.splitlines()) == 4  # reading is fine
        code, _, err = run_cli(capsys, "fix", path)
        assert code == 2
        assert_one_error(err, path, "read-only file; not written")
        assert path.read_bytes() == before
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        code, out, _ = run_cli(capsys, "fix", "--diff", path)
        assert code == 0 and "+        out = self.cat(identity, out)" in out  # previewing is fine
    finally:
        path.chmod(0o644)
    assert sorted(os.listdir(tmp_path)) == ["basic_module.py"]


def test_file_mode_and_no_temp_files(tmp_path, capsys):
    path = copy_example(tmp_path)
    path.chmod(0o751)
    code, _, _ = run_cli(capsys, "fix", path)
    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert sorted(os.listdir(tmp_path)) == ["basic_module.py"]


def test_unreadable_file(tmp_path, capsys, monkeypatch):
    """Simulated (tests may run as root, who reads anything)."""
    path = copy_example(tmp_path)
    good = copy_example(tmp_path, "squeeze_excitation.py")
    real_open = open

    def guarded_open(name, *args, **kwargs):
        if os.fspath(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(sources, "open", guarded_open, raising=False)
    before = path.read_bytes()
    code, _, err = run_cli(capsys, "fix", path, good)
    assert code == 2
    assert_one_error(err, path, "cannot read: permission denied")
    assert path.read_bytes() == before
    assert "distiller.modules" in good.read_text()


@pytest.mark.parametrize("failure", ["mkstemp", "fsync", "replace"])
def test_write_failures_leave_the_file_untouched(tmp_path, capsys, monkeypatch, failure):
    path = copy_example(tmp_path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    target = {"mkstemp": (sources.tempfile, "mkstemp"), "fsync": (sources.os, "fsync"),
              "replace": (sources.os, "replace")}[failure]
    monkeypatch.setattr(*target, boom)
    code, _, err = run_cli(capsys, "fix", path)
    monkeypatch.undo()
    assert code == 2
    assert_one_error(err, path, "No space left on device")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["basic_module.py"]  # the temp file is cleaned up


def test_symlink_stays_a_link_and_its_target_is_fixed(tmp_path, capsys):
    target = copy_example(tmp_path, dest="real/model.py")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    code, _, err = run_cli(capsys, "fix", link, target)  # the same file twice: processed once
    assert code == 0
    assert "in 1 file(s) of 1." in err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == FIXED_BASIC


def test_broken_symlink(tmp_path, capsys):
    link = tmp_path / "dangling.py"
    link.symlink_to(tmp_path / "gone.py")
    both_commands_fail_cleanly(capsys, link, "broken symbolic link")
    assert link.is_symlink()


def test_directory_symlink_loop(tmp_path, capsys):
    root = tmp_path / "pkg"
    copy_example(tmp_path, dest="pkg/model.py")
    (root / "loop").symlink_to(root)
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to(tmp_path)
    code, out, _ = run_cli(capsys, "check", root)
    assert code == 1
    assert len(out.splitlines()) == 4  # model.py once; linked folders are not followed
    code, _, err = run_cli(capsys, "check", root / "loop" / "loop" / "loop")
    assert code == 1  # a path through the loop given explicitly works, and is walked once


def test_file_symlink_loop(tmp_path, capsys):
    loop = tmp_path / "loop.py"
    loop.symlink_to(loop)
    code, _, err = run_cli(capsys, "check", loop)
    assert code == 2
    assert_one_error(err, loop, "Too many levels of symbolic links")


def test_empty_directory(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "nested").mkdir(parents=True)
    (empty / "README.md").write_text("# nothing here\n")
    code, out, err = run_cli(capsys, "check", empty)
    assert code == 2
    assert err.splitlines()[0] == f"error: no Python files to check in {empty}"
    code, _, err = run_cli(capsys, "fix", empty)
    assert code == 2 and f"error: no Python files to fix in {empty}" in err
    # next to a folder with Python files it is only a warning
    good = copy_example(tmp_path, "shape_arithmetic.py")
    code, out, err = run_cli(capsys, "check", empty, good)
    assert code == 0
    assert f"warning: {empty}: no Python files found in this directory" in err and not error_lines(err)


def test_non_python_file_given_explicitly(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Model\n\nSome *markdown*: `pip install`.\n")
    both_commands_fail_cleanly(capsys, readme, "cannot parse", "not a .py file: is it Python?")
    script = tmp_path / "train"  # a Python script without a suffix is processed
    script.write_text(BASIC_TEXT)
    code, _, _ = run_cli(capsys, "fix", script)
    assert code == 0 and script.read_text() == FIXED_BASIC
    binary = tmp_path / "weights.pt"
    binary.write_bytes(b"PK\x03\x04\x00\x00\x08\x00\x08\x00\xff\xfe\x00")
    both_commands_fail_cleanly(capsys, binary, "not valid UTF-8")


def test_fifo_is_not_read(tmp_path, capsys):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    code, _, err = run_cli(capsys, "check", fifo)  # opening it would block forever
    assert code == 2
    assert_one_error(err, fifo, "not a regular file")


def test_a_directory_given_as_a_py_file(tmp_path, capsys):
    folder = tmp_path / "odd.py"
    folder.mkdir()
    code, _, err = run_cli(capsys, "check", folder)
    assert code == 2 and "no Python files to check" in err


# ------------------------------------------------------------- races mid-run
def test_file_deleted_between_collection_and_processing(tmp_path, capsys, monkeypatch):
    doomed = copy_example(tmp_path, dest="a_doomed.py")
    survivor = copy_example(tmp_path, "squeeze_excitation.py", "b_survivor.py")
    real_collect = files.collect

    def collect_then_delete(paths, scope=None):
        found = list(real_collect(paths, scope))
        doomed.unlink()
        return iter(found)

    monkeypatch.setattr(files, "collect", collect_then_delete)
    for argv in (("check",), ("fix",)):
        code, _, err = run_cli(capsys, *argv, tmp_path)
        assert code == 2
        assert_one_error(err, doomed, "no such file")
        doomed.write_bytes(BASIC.read_bytes())
    assert "distiller.modules" in survivor.read_text()


def test_file_deleted_while_being_fixed(tmp_path, capsys, monkeypatch):
    path = copy_example(tmp_path)
    real_fix = files.fix_source

    def fix_then_delete(text, *args, **kwargs):
        result = real_fix(text, *args, **kwargs)
        path.unlink()
        return result

    monkeypatch.setattr(files, "fix_source", fix_then_delete)
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 2
    assert_one_error(err, path, "deleted while being fixed; not written")
    assert not path.exists()  # not resurrected by the rename
    assert os.listdir(tmp_path) == []


def test_file_changed_while_being_fixed(tmp_path, capsys, monkeypatch):
    path = copy_example(tmp_path)
    real_fix = files.fix_source

    def fix_then_edit(text, *args, **kwargs):
        result = real_fix(text, *args, **kwargs)
        with open(path, "a", encoding="utf-8") as stream:
            stream.write("# the user's newer edit\n")
        return result

    monkeypatch.setattr(files, "fix_source", fix_then_edit)
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 2
    assert_one_error(err, path, "changed on disk while being fixed; not written")
    assert path.read_text() == BASIC_TEXT + "# the user's newer edit\n"


def test_internal_error_is_contained(tmp_path, capsys, monkeypatch):
    """A bug in the analysis of one file is reported as such; the other files are still processed."""
    from pylint_distiller.analysis.report import Reporter

    bad = copy_example(tmp_path, dest="a.py")
    good = copy_example(tmp_path, "squeeze_excitation.py", "b.py")
    real = Reporter.run

    def flaky(self):  # the reporting step both single-file and project mode go through
        if self.path.endswith("a.py"):
            raise KeyError("simulated bug")
        return real(self)

    monkeypatch.setattr(Reporter, "run", flaky)
    code, out, err = run_cli(capsys, "check", tmp_path)
    assert code == 2
    errors = error_lines(err)
    assert len(errors) == 1 and str(bad) in errors[0] and "internal error: KeyError" in errors[0]
    assert str(good) in out


def test_keyboard_interrupt(tmp_path, capsys, monkeypatch):
    path = copy_example(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "fix_source", interrupted)
    code, _, err = run_cli(capsys, "fix", path)
    assert code == 130 and "interrupted" in err
    assert path.read_bytes() == BASIC.read_bytes()
