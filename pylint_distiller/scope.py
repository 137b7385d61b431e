"""Which files a run may touch: `distiller-exclude`, `distiller-extend-exclude` and .gitignore.

`check`, `fix` and the language server ask one `Scope`. Patterns use gitignore
syntax (`pylint_distiller.gitignore`) and are relative to the project root, the
folder of the pyproject.toml the settings came from (the current directory when
there is none): ``vendored/`` is any folder named so, ``tests/fixtures`` that
folder of the root, ``*_pb2.py`` any such file. `exclude` replaces the defaults
(hidden folders, caches, virtualenvs, build output), `extend-exclude` adds to them.

.gitignore files are read as git reads them when `respect_gitignore` is on (the
default): every ``.gitignore`` from the top of the git work tree (the nearest
folder holding ``.git``, a folder or a worktree's file) down to the file, and
``.git/info/exclude``. Outside a git work tree, the .gitignore files from the
project root down still count. The user's global excludes file is not read.

A walk prunes an excluded folder without listing it, and excluded files are
never opened: deciding reads only .gitignore files. A file named on the command
line is always processed unless `--force-exclude` (what pre-commit hooks pass);
the language server treats every open document that way.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pylint_distiller.gitignore import IgnoreRule, decide, parse_patterns

#: what a walk skips by default (gitignore syntax): hidden folders, caches, virtualenvs, build output
DEFAULT_EXCLUDE = (".*/", "__pycache__/", "venv/", "node_modules/", "build/", "dist/")


def _posix(relpath: str) -> str:
    return relpath.replace(os.sep, "/")


def _under(path: str, top: str) -> str | None:
    """`path` relative to `top` ('/'-separated), or None when it is not inside it."""
    if path == top:
        return ""
    prefix = top if top.endswith(os.sep) else top + os.sep
    return _posix(path[len(prefix):]) if path.startswith(prefix) else None


@lru_cache(maxsize=4096)
def _git_top(folder: str) -> str | None:
    """The nearest folder at or above `folder` that holds `.git` (a folder, or a worktree's file)."""
    if os.path.exists(os.path.join(folder, ".git")):
        return folder
    parent = os.path.dirname(folder)
    return None if parent == folder else _git_top(parent)


def _read_rules(path: str) -> list[IgnoreRule]:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return parse_patterns(stream)
    except OSError:
        return []


class Scope:
    """Exclusion decisions for one run (caches .gitignore files per folder)."""

    def __init__(self, exclude, extend_exclude=(), respect_gitignore: bool = True, root: str | None = None,
                 force: bool = False) -> None:
        self.root = os.path.abspath(root or os.getcwd())
        self.patterns = parse_patterns([*exclude, *extend_exclude])
        self.respect_gitignore = respect_gitignore
        self.force = force
        self._chains: dict[str, list[tuple[str, IgnoreRule]]] = {}

    @classmethod
    def of(cls, settings, force: bool = False) -> Scope:
        return cls(settings.exclude, settings.extend_exclude, settings.respect_gitignore,
                   settings.project_root, force)

    # ------------------------------------------------------------ decisions
    def excluded_entry(self, path: str, is_dir: bool) -> bool:
        """Whether a walk skips `path`; its parent folder is known not to be excluded."""
        path = os.path.abspath(path)
        return self._by_patterns(path, is_dir) or self._by_gitignore(path, is_dir)

    def excluded_path(self, path: str, is_dir: bool = False) -> bool:
        """Whether `path` or a folder above it (up to the project / work-tree top) is excluded."""
        path = os.path.abspath(path)
        if self.excluded_entry(path, is_dir):
            return True
        folder = os.path.dirname(path)
        while True:
            in_root = _under(folder, self.root) not in (None, "")
            top = self._gitignore_top(folder) if self.respect_gitignore else None
            in_tree = top is not None and folder != top
            if not (in_root or in_tree):
                return False
            if (in_root and self._by_patterns(folder, True)) or (in_tree and self._by_gitignore(folder, True)):
                return True
            folder = os.path.dirname(folder)

    def explicit(self, path: str, is_dir: bool) -> bool:
        """Whether a path named on the command line is skipped (only with --force-exclude)."""
        return self.force and self.excluded_path(path, is_dir)

    # ------------------------------------------------------------- matchers
    def _by_patterns(self, path: str, is_dir: bool) -> bool:
        if not self.patterns:
            return False
        rel = _under(path, self.root)
        if rel == "":
            return False  # the project root itself
        # outside the root only unanchored patterns (a name at any depth) can match
        rule = decide(self.patterns, rel if rel is not None else _posix(path).lstrip("/"), is_dir)
        return rule is not None and not rule.negated

    def _gitignore_top(self, folder: str) -> str | None:
        top = _git_top(folder)
        if top is None and _under(folder, self.root) is not None:
            top = self.root
        return top

    def _by_gitignore(self, path: str, is_dir: bool) -> bool:
        if not self.respect_gitignore:
            return False
        parent = os.path.dirname(path)
        rule = None
        for base, candidate in self._chain(parent):
            rel = _under(path, base)
            if rel and candidate.matches(rel, is_dir):
                rule = candidate
        return rule is not None and not rule.negated

    def _chain(self, folder: str) -> list[tuple[str, IgnoreRule]]:
        """(base folder, rule) for every gitignore rule that applies inside `folder`, in git's order."""
        chain = self._chains.get(folder)
        if chain is not None:
            return chain
        top = self._gitignore_top(folder)
        if top is None:
            chain = []
        else:
            parent = os.path.dirname(folder)
            if folder == top:
                git = os.path.join(top, ".git")
                chain = [(top, r) for r in _read_rules(os.path.join(git, "info", "exclude"))] \
                    if os.path.isdir(git) else []
            else:
                chain = list(self._chain(parent))
            chain += [(folder, r) for r in _read_rules(os.path.join(folder, ".gitignore"))]
        self._chains[folder] = chain
        return chain
