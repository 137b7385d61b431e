"""`check` and `fix` on a whole repository: excludes, .gitignore, rule selection.

The scenario of issue 11: `fix .` on a repository with tests, a vendored folder, a
git-ignored folder and a model file changes only the model file, only for the
selected rules; every other file keeps its bytes and is never even opened. The
prepared model is executed against the original (strict state_dict, same outputs).
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylint_distiller import cli
from pylint_distiller.api import analyze_source
from pylint_distiller.catalogue import RULES
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.selection import selected
from pylint_distiller.settings import Settings, from_pyproject
from tests.support.runtime_equivalence import assert_same_model, load_module_from_source, stub_distiller_on_path

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "examples" / "basic_module.py"
BASIC_TEXT = BASIC.read_text(encoding="utf-8")
ALL_FOUR = ["functional-call", "reused-module", "tensor-operator", "torch-function"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and ".git" not in p.relative_to(root).parts}


def make_repo(root: Path, pyproject: str = "") -> None:
    """A repository: a model, tests, a vendored copy, a git-ignored build folder, a nested .gitignore."""
    files = {
        "src/models/basic.py": BASIC_TEXT,
        "src/models/generated/basic_gen.py": BASIC_TEXT,  # ignored by the nested .gitignore
        "tests/test_basic.py": BASIC_TEXT,
        "vendored/thirdparty/basic_copy.py": BASIC_TEXT,
        "out/cache/basic_cached.py": BASIC_TEXT,  # git-ignored folder
        ".tox/py311/basic_tox.py": BASIC_TEXT,  # excluded by default (hidden folder)
        ".gitignore": "out/\n",
        "src/models/.gitignore": "generated/\n",
        "pyproject.toml": '[tool.pylint.distiller]\ndistiller-extend-exclude = ["tests/", "vendored/"]\n'
                          + pyproject,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / ".git").mkdir()  # a git work tree (no git needed: the matcher is ours)


@pytest.fixture
def opened(monkeypatch):
    """Every path opened through `open()` during the test."""
    paths: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            paths.append(os.path.abspath(os.fspath(file)))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    return paths


def test_fix_dot_changes_only_the_selected_rules_of_files_not_excluded(tmp_path, capsys, monkeypatch, opened):
    make_repo(tmp_path, 'distiller-select = ["reused-module", "W5703"]\n')
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "fix", ".")
    assert code == 0, err
    after = snapshot(tmp_path)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [os.path.join("src", "models", "basic.py")]
    assert sorted(after) == sorted(before)  # nothing created, nothing deleted
    assert "Fixed 2 finding(s) in 1 file(s) of 1" in err
    # excluded files were never opened (only .gitignore files and pyproject are read besides the model)
    touched = {os.path.relpath(p, tmp_path) for p in opened if p.startswith(str(tmp_path))}
    model = os.path.join("src", "models", "basic.py")
    assert model in touched  # the spy sees what the run reads
    assert touched <= {"pyproject.toml", ".gitignore", os.path.join(".git", "info", "exclude"),
                       os.path.join("src", ".gitignore"), os.path.join("src", "models", ".gitignore"), model}, touched
    # only the two selected rules were fixed: the cat and the sigmoid are still there
    text = (tmp_path / "src" / "models" / "basic.py").read_text()
    assert "self.add = distiller.modules.EltwiseAdd(inplace=True)" in text and "self.relu_2 = nn.ReLU()" in text
    assert "torch.cat([identity, out], dim=1)" in text and "F.sigmoid(out)" in text
    remaining = sorted(f.symbol for f in analyze_source(text, "basic.py"))
    assert remaining == ["functional-call", "torch-function"]
    with stub_distiller_on_path():
        original = load_module_from_source(BASIC_TEXT, "scope_basic")
        prepared = load_module_from_source(text, "scope_basic_fixed")
    assert_same_model(original, prepared, modes=("eval", "train"))


def test_check_dot_reports_only_files_not_excluded(tmp_path, capsys, monkeypatch):
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "check", "--format", "json", ".")
    assert code == 1
    assert {r["path"] for r in json.loads(out)} == {os.path.join(".", "src", "models", "basic.py")}
    # turning .gitignore off brings the ignored folders back; the exclude patterns still hold
    code, out, _ = run_cli(capsys, "check", "--format", "json", "--no-respect-gitignore", ".")
    paths = {os.path.relpath(r["path"]) for r in json.loads(out)}
    assert paths == {os.path.join("src", "models", "basic.py"), os.path.join("out", "cache", "basic_cached.py"),
                     os.path.join("src", "models", "generated", "basic_gen.py")}
    # --exclude replaces the defaults (hidden folders...); extend-exclude still applies
    code, out, _ = run_cli(capsys, "check", "--format", "json", "--exclude", "", "--no-respect-gitignore", ".")
    assert {os.path.relpath(r["path"]) for r in json.loads(out)} == paths | {os.path.join(".tox", "py311",
                                                                                        "basic_tox.py")}


def test_explicit_files_are_checked_unless_force_exclude(tmp_path, capsys, monkeypatch):
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    vendored = os.path.join("vendored", "thirdparty", "basic_copy.py")
    ignored = os.path.join("out", "cache", "basic_cached.py")
    code, out, _ = run_cli(capsys, "check", vendored, ignored)
    assert code == 1 and vendored in out and ignored in out
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, "fix", "--force-exclude", vendored, ignored)
    assert code == 0 and out == "", err  # pre-commit passed only excluded files: nothing to do
    assert snapshot(tmp_path) == before
    code, out, _ = run_cli(capsys, "check", "--force-exclude", vendored, os.path.join("src", "models", "basic.py"))
    assert code == 1 and vendored not in out and "basic.py" in out


# ----------------------------------------------------------- selection
@pytest.mark.parametrize("selector", ["reused-module", "W5701", "w5701"])
def test_select_one_rule_checks_and_fixes_only_it(tmp_path, capsys, selector):
    path = tmp_path / "basic.py"
    shutil.copyfile(BASIC, path)
    code, out, _ = run_cli(capsys, "check", "--format", "json", "--select", selector, path)
    assert code == 1 and [r["symbol"] for r in json.loads(out)] == ["reused-module"]
    code, _, err = run_cli(capsys, "fix", "--select", selector, path)
    assert code == 0 and "Fixed 1 finding(s)" in err and "left" not in err  # the others are not even reported
    text = path.read_text()
    assert "self.relu_2 = nn.ReLU()" in text and "out = self.relu_2(out)" in text
    assert "out += identity" in text and "torch.cat" in text and "F.sigmoid" in text
    assert sorted(f.symbol for f in analyze_source(text, str(path))) == ["functional-call", "tensor-operator",
                                                                          "torch-function"]
    with stub_distiller_on_path():
        prepared = load_module_from_source(text, f"select_{selector}_fixed")
        original = load_module_from_source(BASIC_TEXT, f"select_{selector}")
    assert_same_model(original, prepared)


@pytest.mark.parametrize("select, ignore, expected", [
    ((), (), ALL_FOUR),
    (("W57",), ("W5701",), ["functional-call", "tensor-operator", "torch-function"]),
    (("W5701",), ("W57",), ["reused-module"]),  # the more specific selector wins
    (("W570",), ("reused-module", "W5705"), ["tensor-operator", "torch-function"]),
    (("reused-module",), ("reused-module",), []),  # a tie: ignore wins
    ((), ("W5703", "torch-function"), ["functional-call", "reused-module"]),
])
def test_select_and_ignore_compose(select, ignore, expected):
    findings = analyze_source(BASIC_TEXT, "basic.py", Settings(select=select, ignore=ignore))
    assert sorted(f.symbol for f in findings) == expected


def test_selectors_come_from_the_catalogue():
    assert selected(("W57",), ()) == frozenset(RULES)
    for rule in RULES.values():
        assert selected((rule.symbol,), ()) == selected((rule.msgid,), ()) == {rule.symbol}


@pytest.mark.parametrize("argv", [["--select", "W58"], ["--ignore", "reused-modul"], ["--select", "W5799"]])
def test_unknown_selectors_exit_2(tmp_path, capsys, argv):
    path = tmp_path / "basic.py"
    shutil.copyfile(BASIC, path)
    for command in ("check", "fix"):
        code, out, err = run_cli(capsys, command, *argv, path)
        assert code == 2 and out == ""
        assert err.startswith(f"error: unknown rule selector {argv[1]!r}") and "W5701" in err
    assert path.read_text() == BASIC_TEXT


def test_selection_and_excludes_from_pyproject(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pylint.distiller]\ndistiller-select = ["W570"]\ndistiller-ignore = ["tensor-operator"]\n'
        'distiller-extend-exclude = ["legacy/"]\ndistiller-respect-gitignore = false\n')
    settings = from_pyproject(tmp_path)
    assert settings.select == ("W570",) and settings.ignore == ("tensor-operator",)
    assert settings.extend_exclude == ("legacy/",) and settings.respect_gitignore is False
    assert settings.project_root == str(tmp_path)
    shutil.copyfile(BASIC, tmp_path / "basic.py")
    _, out, _ = run_cli(capsys, "check", "--format", "json", tmp_path / "basic.py")
    assert sorted(r["symbol"] for r in json.loads(out)) == ["functional-call", "reused-module", "torch-function"]
    # --ignore adds to the configured ignore list; --select replaces the configured select
    _, out, _ = run_cli(capsys, "check", "--format", "json", "--ignore", "W5705", tmp_path / "basic.py")
    assert sorted(r["symbol"] for r in json.loads(out)) == ["reused-module", "torch-function"]
    _, out, _ = run_cli(capsys, "check", "--format", "json", "--select", "W5705", tmp_path / "basic.py")
    assert [r["symbol"] for r in json.loads(out)] == ["functional-call"]


def test_bad_selector_in_pyproject_exits_2(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.pylint.distiller]\ndistiller-select = ["W99"]\n')
    shutil.copyfile(BASIC, tmp_path / "basic.py")
    code, _, err = run_cli(capsys, "fix", tmp_path / "basic.py")
    assert code == 2 and "unknown rule selector 'W99'" in err
    assert (tmp_path / "basic.py").read_text() == BASIC_TEXT


LEAF = '''import torch
import torch.nn as nn


class Mix(nn.Module):
    def forward(self, x, y):
        return torch.cat([x + y, y], dim=1)


def build():
    return Mix()


def example_inputs():
    return (torch.randn(2, 3), torch.randn(2, 3))
'''


def test_a_leaf_module_is_not_half_prepared_by_a_selection():
    """A leaf module is one quantization unit: fixing only its `+` would expose its `cat`."""
    assert fix_source(LEAF, "leaf.py", Settings()).changed  # both ops selected: both fixed
    result = fix_source(LEAF, "leaf.py", Settings(select=("tensor-operator",)))
    assert not result.changed and result.text == LEAF
    [finding] = result.remaining
    assert finding.symbol == "tensor-operator" and finding.fix is None
    assert "not selected" in finding.message


# ------------------------------------------------------------------ pylint
def test_pylint_accepts_the_keys_and_honours_the_selection(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pylint.main]\nload-plugins = ["pylint_distiller"]\n'
        '[tool.pylint.distiller]\ndistiller-select = ["W5701", "W5704"]\ndistiller-ignore = ["W5704"]\n'
        'distiller-exclude = [".*/"]\ndistiller-extend-exclude = ["vendored/"]\n'
        'distiller-respect-gitignore = false\n')
    shutil.copyfile(BASIC, tmp_path / "basic.py")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pylint", "--disable=all", "--enable=distiller",
                           "--output-format=json2", "--persistent=n", "basic.py"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert "unrecognized" not in proc.stderr.lower(), proc.stderr
    messages = json.loads(proc.stdout)["messages"]
    assert [m["symbol"] for m in messages] == ["reused-module"]
    # pylint's own --disable composes: it can only narrow further
    proc = subprocess.run([sys.executable, "-m", "pylint", "--disable=all", "--enable=distiller",
                           "--disable=reused-module", "--output-format=json2", "--persistent=n", "basic.py"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert json.loads(proc.stdout)["messages"] == []
    proc = subprocess.run([sys.executable, "-m", "pylint", "--disable=all", "--enable=distiller",
                           "--distiller-select=W58", "basic.py"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 2 and "unknown rule selector 'W58'" in proc.stderr
