"""Which files `check`/`fix` walk: gitignore matching (against git itself), exclude patterns, explicit paths.

The gitignore matcher is this project's own code (no dependency), so its oracle is
git: on a tree full of the cases gitignore(5) documents (nested files, negation,
directory-only and anchored patterns, ``**``, classes, escapes, re-including under
an excluded folder), the files a walk keeps must be exactly the untracked files
``git ls-files --others --exclude-standard`` lists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pylint_distiller.fixer.files import collect, is_problem
from pylint_distiller.gitignore import parse_pattern
from pylint_distiller.scope import DEFAULT_EXCLUDE, Scope


def matches(pattern: str, path: str, is_dir: bool = False) -> bool:
    rule = parse_pattern(pattern)
    return rule is not None and rule.matches(path, is_dir)


@pytest.mark.parametrize("pattern, path, is_dir, expected", [
    ("*.log", "a.log", False, True),
    ("*.log", "deep/er/a.log", False, True),  # no slash: any depth
    ("*.log", "a.log.py", False, False),
    ("/top.py", "top.py", False, True),
    ("/top.py", "sub/top.py", False, False),  # leading slash anchors
    ("docs/*.py", "docs/a.py", False, True),
    ("docs/*.py", "docs/sub/a.py", False, False),  # `*` never crosses `/`
    ("docs/*.py", "x/docs/a.py", False, False),  # a middle slash anchors too
    ("build/", "build", True, True),
    ("build/", "build", False, False),  # directory only
    ("build/", "src/build", True, True),
    ("**/gen", "a/b/gen", True, True),
    ("**/gen", "gen", False, True),
    ("a/**/z.py", "a/z.py", False, True),
    ("a/**/z.py", "a/b/c/z.py", False, True),
    ("out/**", "out/x/y.py", False, True),
    ("out/**", "out", True, False),  # everything inside, not the folder itself
    ("[ab]x.py", "bx.py", False, True),
    ("[!ab]x.py", "cx.py", False, True),
    ("[!ab]x.py", "ax.py", False, False),
    ("?.py", "a.py", False, True),
    ("?.py", "ab.py", False, False),
    ("\\#hash.py", "#hash.py", False, True),
    ("\\!bang.py", "!bang.py", False, True),
    ("space.py   ", "space.py", False, True),  # trailing spaces dropped
    ("a.py", "A.py", False, False),  # case-sensitive, as git on Linux
])
def test_gitignore_patterns(pattern, path, is_dir, expected):
    assert matches(pattern, path, is_dir) is expected


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "!", "/"])
def test_lines_that_are_no_pattern(line):
    assert parse_pattern(line) is None


def test_negation_is_kept():
    rule = parse_pattern("!keep.log")
    assert rule.negated and rule.matches("keep.log", False)


# ------------------------------------------------------ against git itself
TREE = {
    ".gitignore": "*.log\n!keep.log\n/build/\ndocs/*.py\ntmp/\n!tmp/rescued.py\ndata\na/**/z.py\n"
                  "[ab]x.py\n\\#hash.py\nspace.py   \nout/**\n",
    "src/.gitignore": "/local.py\n!important.log\ncache/\n",
    "src/pkg/.gitignore": "*.py\n!keep_*.py\n",
    ".git/info/exclude": "secret.py\n",
}
FILES = [
    "model.py", "a.log", "keep.log", "build/b.py", "src/build/nested_build_kept.py", "docs/a.py",
    "docs/sub/deep.py", "x/docs/a.py", "tmp/t.py", "tmp/rescued.py", "src/tmp", "data/d.py", "src/data",
    "a/z.py", "a/b/c/z.py", "b/a/z.py", "ax.py", "cx.py", "#hash.py", "space.py", "out/o.py", "out.py",
    "src/local.py", "src/sub/local.py", "src/important.log", "src/x.log", "src/cache/c.py", "cache/top.py",
    "src/pkg/drop.py", "src/pkg/keep_me.py", "src/pkg/inner/keep_too.py", "src/pkg/inner/gone.py", "secret.py",
    "src/secret.py",
]


def _git(*args, cwd) -> str:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd))
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def make_tree(root: Path, files, extra) -> None:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    for rel, text in extra.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is the oracle")
def test_gitignore_decisions_equal_gits(tmp_path):
    _git("init", "-q", ".", cwd=tmp_path)
    make_tree(tmp_path, FILES, TREE)
    theirs = set(_git("ls-files", "--others", "--exclude-standard", cwd=tmp_path).split())
    theirs = {p for p in theirs if not p.endswith(".gitignore")}
    scope = Scope(exclude=(".git/",), root=str(tmp_path))
    ours = set()
    for root, dirs, files in os.walk(tmp_path):
        dirs[:] = [d for d in dirs if not scope.excluded_entry(os.path.join(root, d), True)]
        for name in files:
            full = os.path.join(root, name)
            if name != ".gitignore" and not scope.excluded_entry(full, False):
                ours.add(os.path.relpath(full, tmp_path).replace(os.sep, "/"))
    assert ours == theirs
    # the same decision for a single path (what --force-exclude and the language server ask)
    for rel in FILES:
        assert scope.excluded_path(str(tmp_path / rel)) is (rel not in theirs), rel
    # the matcher is not vacuous: the tree exercises both answers
    assert 10 < len(theirs) < len(FILES) - 10


def test_gitignore_without_git_counts_from_the_project_root(tmp_path):
    make_tree(tmp_path, ["keep.py", "gen/g.py"], {".gitignore": "gen/\n"})
    assert Scope((), root=str(tmp_path)).excluded_path(str(tmp_path / "gen" / "g.py"))
    assert not Scope((), root=str(tmp_path), respect_gitignore=False).excluded_path(str(tmp_path / "gen" / "g.py"))
    assert not Scope((), root=str(tmp_path)).excluded_path(str(tmp_path / "keep.py"))


# ------------------------------------------------------------- exclude
def walked(paths, scope) -> list[str]:
    return sorted(os.path.relpath(p, scope.root).replace(os.sep, "/") for p in collect(paths, scope)
                  if not is_problem(p))


def test_default_excludes_and_extend_exclude(tmp_path):
    make_tree(tmp_path, ["m.py", ".hidden/h.py", ".hidden.py", "venv/v.py", "build/b.py", "src/__pycache__/c.py",
                         "src/node_modules/n.py", "vendored/lib/v.py", "tests/fixtures/f.py", "tests/test_m.py",
                         "src/tests/fixtures/kept.py", "src/gen_pb2.py"], {})
    root = str(tmp_path)
    assert walked([root], Scope(DEFAULT_EXCLUDE, root=root)) == [
        ".hidden.py", "m.py", "src/gen_pb2.py", "src/tests/fixtures/kept.py", "tests/fixtures/f.py",
        "tests/test_m.py", "vendored/lib/v.py"]
    scope = Scope(DEFAULT_EXCLUDE, ("vendored/", "/tests/fixtures", "*_pb2.py"), root=root)
    assert walked([root], scope) == [".hidden.py", "m.py", "src/tests/fixtures/kept.py", "tests/test_m.py"]
    # `exclude` replaces the defaults
    assert "venv/v.py" in walked([root], Scope(("vendored/",), root=root))
    # a negation re-includes, as in .gitignore, but not under an excluded folder
    assert walked([root], Scope(DEFAULT_EXCLUDE, ("tests/*", "!tests/test_m.py"), root=root)) == [
        ".hidden.py", "m.py", "src/gen_pb2.py", "src/tests/fixtures/kept.py", "tests/test_m.py", "vendored/lib/v.py"]
    assert "tests/test_m.py" not in walked([root], Scope(DEFAULT_EXCLUDE, ("tests/", "!tests/test_m.py"), root=root))


def test_explicit_paths_are_processed_unless_force_exclude(tmp_path):
    make_tree(tmp_path, ["vendored/lib/v.py", "vendored/w.py", "gen/g.py"], {".gitignore": "gen/\n"})
    root = str(tmp_path)
    explicit = [str(tmp_path / "vendored" / "w.py"), str(tmp_path / "gen" / "g.py"), str(tmp_path / "vendored")]
    scope = Scope(DEFAULT_EXCLUDE, ("vendored/",), root=root)
    assert walked(explicit, scope) == ["gen/g.py", "vendored/lib/v.py", "vendored/w.py"]
    forced = Scope(DEFAULT_EXCLUDE, ("vendored/",), root=root, force=True)
    assert walked(explicit, forced) == []


def test_patterns_outside_the_project_root_match_names_only(tmp_path):
    project, other = tmp_path / "project", tmp_path / "other"
    make_tree(other, ["vendored/v.py", "tests/fixtures/f.py", "m.py"], {})
    project.mkdir()
    scope = Scope(DEFAULT_EXCLUDE, ("vendored/", "tests/fixtures"), root=str(project), respect_gitignore=False)
    kept = sorted(os.path.relpath(p, other) for p in collect([str(other)], scope))
    assert kept == ["m.py", os.path.join("tests", "fixtures", "f.py")]  # the anchored pattern is the project's


@pytest.mark.skipif(shutil.which("git") is None, reason="git is the oracle")
def test_random_gitignores_agree_with_git(tmp_path):
    """Random pattern sets over random trees: the kept files are exactly git's untracked, non-ignored ones.

    (Run with GITIGNORE_SEEDS=300 for a longer hunt; 300 seeds agreed when this was written.)
    """
    import random

    names = ["a", "b", "src", "gen", "x.py", "y.py", "a.py", "test_a.py", "_b.py"]
    pieces = ["a", "b", "src", "gen", "*", "?", "**", "*.py", "test_*", "[ab]", "[!a]*", "x.py", "a*"]
    kept = ignored = 0
    for seed in range(int(os.environ.get("GITIGNORE_SEEDS", "40"))):
        rng = random.Random(seed)
        files = set()
        for _ in range(40):
            depth = rng.randint(1, 4)
            files.add("/".join(rng.choice(names[:4]) for _ in range(depth - 1)) + ("/" if depth > 1 else "")
                      + rng.choice(names[4:]))
        # a path may not be both a file and a folder
        files = sorted(f for f in files if not any(g.startswith(f + "/") for g in files))
        folders = sorted({f.rsplit("/", 1)[0] for f in files if "/" in f})

        def pattern(rng=rng) -> str:
            text = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))
            text = ("/" if rng.random() < 0.25 else "") + text + ("/" if rng.random() < 0.25 else "")
            return ("!" if rng.random() < 0.25 else "") + text

        extra = {".gitignore": "\n".join(pattern() for _ in range(rng.randint(1, 5))) + "\n"}
        for folder in rng.sample(folders, min(2, len(folders))):
            extra[f"{folder}/.gitignore"] = "\n".join(pattern() for _ in range(rng.randint(1, 3))) + "\n"
        root = tmp_path / str(seed)
        root.mkdir()
        _git("init", "-q", ".", cwd=root)
        make_tree(root, files, extra)
        theirs = {p for p in _git("ls-files", "--others", "--exclude-standard", cwd=root).split()
                  if not p.endswith(".gitignore")}
        scope = Scope(exclude=(".git/",), root=str(root))
        ours = {f for f in files if not scope.excluded_path(str(root / f))}
        assert ours == theirs, (seed, extra)
        kept += len(ours)
        ignored += len(files) - len(ours)
    assert kept > 200 and ignored > 200  # both answers are exercised
