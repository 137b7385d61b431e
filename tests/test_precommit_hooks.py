"""The pre-commit hooks, run by the real `pre-commit` tool on a temporary repository.

`.pre-commit-hooks.yaml` is what a `repo: <url>` entry installs: `pre-commit
try-repo` runs it from this checkout exactly as it would from a published one (it
builds the hook's own environment with pip, so it needs the package registry;
skipped with that reason when the build fails). The README's `repo: local` example
is run as written (with `language: system`, the `pylint-distiller` on PATH: this
checkout, through PYTHONPATH).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit", reason="pre-commit is not installed (pip install pre-commit)")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # the hook environment is built with pip on the first run

BAD = '''import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) + x
'''


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture(name="repo")
def _repo(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "test@example.com")
    _git(path, "config", "user.name", "test")
    (path / "model.py").write_text(BAD, encoding="utf-8")
    _git(path, "add", "model.py")
    _git(path, "commit", "-q", "-m", "a model")
    return path


def _pre_commit(repo: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PYTHONPATH=str(ROOT),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PRE_COMMIT", None)
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, env=env, text=True,
                          capture_output=True, timeout=TIMEOUT, check=False)


def test_published_hooks_check_fails_and_fix_rewrites(repo, tmp_path):
    """`try-repo` runs both hooks of .pre-commit-hooks.yaml in order: check, then fix."""
    result = _pre_commit(repo, "try-repo", str(ROOT), "--all-files", home=tmp_path / "cache")
    output = result.stdout + result.stderr
    if "An unexpected error has occurred" in output and "Installing environment" in output:
        pytest.skip(f"pre-commit could not build the hook environment (needs the package registry): "
                    f"{output[-300:]}")
    assert result.returncode == 1, output
    assert re.search(r"pylint-distiller check\.+Failed", output), output
    assert "model.py:10:16: W5703" in output, output
    assert re.search(r"pylint-distiller fix\.+Failed", output) and "files were modified by this hook" in output
    fixed = (repo / "model.py").read_text(encoding="utf-8")
    assert "self.add = distiller.modules.EltwiseAdd()" in fixed
    assert "return self.add(self.conv(x), x)" in fixed


def _readme_local_config() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    local = [b for b in blocks if "repo: local" in b]
    assert len(local) == 1, "README.md should hold one `repo: local` pre-commit example"
    return local[0]


def test_readme_local_hooks_check_fails_then_fix_rewrites(repo, tmp_path):
    (repo / ".pre-commit-config.yaml").write_text(_readme_local_config(), encoding="utf-8")
    home = tmp_path / "cache"
    check = _pre_commit(repo, "run", "pylint-distiller-check", "--all-files", home=home)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "model.py:10:16: W5703" in check.stdout
    fix = _pre_commit(repo, "run", "pylint-distiller-fix", "--all-files", home=home)
    assert fix.returncode == 1 and "files were modified by this hook" in fix.stdout, fix.stdout + fix.stderr
    assert "return self.add(self.conv(x), x)" in (repo / "model.py").read_text(encoding="utf-8")
    again = _pre_commit(repo, "run", "--all-files", home=home)
    assert again.returncode == 0, again.stdout + again.stderr
