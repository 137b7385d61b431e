"""The project index: which file of the project an import name means, parsed once per content.

One stage in front of the per-file analysis, not a second analysis (design.md).
`check`, `fix`, `verify` and the language server build one when they get a
directory or several files, the pylint plugin from the modules astroid loads. It
hands each file's analysis what that file imports from the project:

* module-level helper functions, walked where forward calls them, with their own
  file's imports (`flow.py`, `frames.Scope`);
* base classes, whose members and forward the subclass inherits (`classes.py`);
* module classes constructed from another file (`self.mlp = Mlp(...)`), so that a
  class that runs several times per pass makes the calls of its forward reused.

Names resolve without inference: a `from .x import y` or `from pkg.x import y`
of the package being checked is looked up in `x`'s module-level names, following
re-exports (`pkg/layers/__init__.py`) a few steps; anything else (torch, other
installed packages) is not the project's and stays unresolved.

Everything is lazy and cached by file content (a SHA-1 of the bytes): a file is
parsed, indexed and walked at most once per content, and what was derived from a
file is dropped when that file changes (`set_text`), with everything derived
through it, so the language server re-analyses only the changed file and the files
that depend on it. Findings are computed per file by `crossfile.py`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.analysis.frames import Scope
from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.settings import Settings

#: packages never resolved into files, even when they sit next to the project
_FOREIGN_TOPS = frozenset(("torch", "torchvision", "distiller", "numpy", "typing", "os", "sys", "math"))
_MAX_REEXPORTS = 4
#: shared by every index in the process: real path -> (content digest, parsed module), the last content only
_PARSED: dict[str, tuple[str, nodes.Module]] = {}


def clear_parse_cache() -> None:
    """Forget the trees shared between indexes (benchmarks time a cold run with it)."""
    _PARSED.clear()


@dataclass(eq=False)
class Entry:
    """One project file at one content: its tree and what is derived from it (lazily)."""

    path: str
    digest: str
    module: nodes.Module | None  # None: it does not parse or cannot be read
    text: str | None = None
    scope: Scope | None = None
    index: ModuleIndex | None = None
    walk: object = None  # ForwardAnalysis, built by `ProjectIndex.walk`
    #: walks seeded with the runs per pass other files give this file's classes (`ProjectIndex.seeded_walk`)
    seeded: dict = field(default_factory=dict)
    #: files whose content the index / walk read (they are rebuilt when one changes)
    deps: set[str] = field(default_factory=set)
    targets: set[str] | None = None  # project files this file's imports resolve to


def _read(path: str) -> tuple[str | None, bytes]:
    from pylint_distiller.sources import SourceError, read_source

    try:
        source = read_source(path)
    except (SourceError, OSError):
        return None, b""
    return source.text, source.text.encode("utf-8", errors="surrogatepass")


class ProjectIndex:
    """Import names of the checked packages -> their files, trees, indexes and walks."""

    def __init__(self, paths=(), settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.files: list[str] = []  # the files being checked (real paths), in order
        self._tops: dict[str, set[str]] = {}  # top-level package name -> folders holding it
        self._loose: set[str] = set()  # folders of checked files outside any package
        self._texts: dict[str, str] = {}  # unsaved editor buffers
        self._entries: dict[str, Entry] = {}
        self._by_module: dict[int, Entry] = {}
        self._fresh: set[str] = set()  # paths whose content was checked since the last change
        self._building: list[set[str]] = []
        self._active: set[str] = set()  # indexes under construction (base cycles)
        self._modnames: dict[str, str] = {}
        self._folders: set[str] = set()  # folders holding checked files, and their parents
        self._reverse: dict[str, set[str]] | None = None  # file -> checked files importing it
        self._paths: dict[str, str | None] = {}  # dotted module name -> project file
        for path in paths:
            self.add(path)

    # ------------------------------------------------------------------ files
    def add(self, path: str) -> str:
        real = os.path.realpath(path)
        if real not in self._modnames:
            self.files.append(real)
            self._reverse = None
            self._paths.clear()
            folder = os.path.dirname(real)
            while folder not in self._folders and os.path.dirname(folder) != folder:
                self._folders.add(folder)
                folder = os.path.dirname(folder)
            root, modname = _package_root(real)
            self._modnames[real] = modname
            top = modname.split(".", 1)[0]
            if root is not None and os.path.exists(os.path.join(os.path.dirname(real), "__init__.py")):
                self._tops.setdefault(top, set()).add(root)
            else:
                self._loose.add(os.path.dirname(real))
        return real

    def set_text(self, path: str, text: str | None) -> None:
        """An editor buffer for `path` (None: the file on disk again); drops what depended on it."""
        real = os.path.realpath(path)
        if text is None:
            self._texts.pop(real, None)
        else:
            self._texts[real] = text
            known = self._entries.get(real)
            if known is not None and known.text == text:
                return  # the content it was built from (an editor re-linting an unchanged buffer)
        self.invalidate(real)

    def buffer(self, path: str) -> str | None:
        """The text `set_text` gave `path` (None: the file on disk)."""
        return self._texts.get(os.path.realpath(path))

    def invalidate(self, path: str) -> None:
        """`path` may have changed: re-read it, and rebuild what was derived through it."""
        real = os.path.realpath(path)
        self._fresh.discard(real)
        self._reverse = None
        for entry in self._entries.values():
            if real in entry.deps or entry.path == real:
                entry.index = entry.walk = None
                entry.seeded = {}
                entry.deps = set()
                entry.targets = None

    def _real(self, path: str) -> str:
        """`os.path.realpath(path)`, without asking the file system again about a path already resolved.

        `entry` is asked for thousands of paths per `check`, nearly all of them the real
        paths this index holds (one `realpath` is ~10 `lstat` calls: 8% of a parse).
        """
        return path if path in self._modnames else os.path.realpath(path)

    def entry(self, path: str) -> Entry | None:
        real = self._real(path)
        if self._building:
            self._building[-1].add(real)
        known = self._entries.get(real)
        if known is not None and real in self._fresh:
            return known
        text = self._texts.get(real)
        if text is None:
            text, data = _read(real)
        else:
            data = text.encode("utf-8", errors="surrogatepass")
        digest = hashlib.sha1(data).hexdigest()
        self._fresh.add(real)
        if known is not None and known.digest == digest:
            return known
        cached = _PARSED.get(real)
        module = cached[1] if cached is not None and cached[0] == digest else None
        if module is None and text is not None:
            from pylint_distiller.api import parse

            try:
                module = parse(text, real)
            except Exception:  # pylint: disable=broad-exception-caught  # reported where the file is checked
                module = None
            if module is not None:
                _PARSED[real] = (digest, module)
        if known is not None:
            self._by_module.pop(id(known.module), None)
            self.invalidate(real)
        entry = self._entries[real] = Entry(real, digest, module, text)
        if module is not None:
            self._by_module[id(module)] = entry
            if real not in self._modnames:
                self._modnames[real] = _package_root(real)[1]
        return entry

    def module(self, path: str) -> nodes.Module | None:
        entry = self.entry(path)
        return entry.module if entry else None

    def entry_of(self, module: nodes.Module) -> Entry | None:
        return self._by_module.get(id(module))

    def adopt(self, module: nodes.Module, path: str) -> None:
        """Use a tree someone else parsed (pylint's) for `path` at its current content."""
        real = self.add(path)
        text, data = _read(real)
        if text is None:
            return
        digest = hashlib.sha1(data).hexdigest()
        known = self._entries.get(real)
        if known is not None and known.module is module:
            return
        if known is not None:
            self._by_module.pop(id(known.module), None)
            self.invalidate(real)
        entry = self._entries[real] = Entry(real, digest, module, text)
        self._by_module[id(module)] = entry
        self._fresh.add(real)

    # ------------------------------------------------------------------ names
    def _path_of(self, modname: str) -> str | None:
        """The project file of a dotted module name, or None when it is not the project's.

        The project is the files being checked, plus the `__init__.py` of their
        packages (re-exports): a `check` of `transformers/models/` does not parse
        `transformers/utils/`, whose code it was not asked about.
        """
        if modname in self._paths:
            return self._paths[modname]
        found = self._paths[modname] = self._find(modname)
        return found

    def _find(self, modname: str) -> str | None:
        top = modname.split(".", 1)[0]
        if not top or top in _FOREIGN_TOPS:
            return None
        parts = modname.split(".")
        for root in sorted(self._tops.get(top, ())) + sorted(self._loose if len(parts) == 1 else ()):
            base = os.path.join(root, *parts)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                real = self._real(candidate)
                if real in self._modnames or (candidate.endswith("__init__.py")
                                              and os.path.dirname(real) in self._folders and os.path.isfile(real)):
                    return real
        return None

    def _package_of(self, entry: Entry) -> str:
        modname = self._modnames.get(entry.path) or _package_root(entry.path)[1]
        return modname if entry.path.endswith("__init__.py") else modname.rpartition(".")[0]

    def _import_target(self, entry: Entry, stmt: nodes.ImportFrom) -> str | None:
        """The dotted module a from-import reads, made absolute."""
        if not stmt.level:
            return stmt.modname
        package = self._package_of(entry).split(".") if self._package_of(entry) else []
        up = stmt.level - 1
        if up > len(package):
            return None
        base = package[:len(package) - up] if up else package
        return ".".join(base + ([stmt.modname] if stmt.modname else []))

    def import_of(self, module: nodes.Module, stmt: nodes.ImportFrom, path: str) -> tuple[int, str]:
        """(level, dotted name) of a from-import in `module` that reads the project file `path` itself.

        `stmt` is how `module` already imports a name of `path`; it may read a package
        `__init__` that re-exports that name (`from timm.layers import apply_rot_embed_cat`,
        defined in `timm/layers/pos_embed_sincos.py`). A name added to `path` (a lifted class)
        is not re-exported there, so the import must read `path` itself: `stmt`'s own module
        when that is `path`, else `path` relative with `stmt`'s dots when it lies under the
        package they name, else absolute.
        """
        entry = self.entry_of(module)
        real = os.path.realpath(path)
        held = self._modnames.get(real) or _package_root(real)[1]
        target = self._import_target(entry, stmt) if entry is not None else None
        if target is None or target == held:
            return stmt.level or 0, stmt.modname
        if stmt.level:
            base = target[:len(target) - len(stmt.modname) - 1] if stmt.modname else target
            if base and held.startswith(base + "."):
                return stmt.level, held[len(base) + 1:]
        return 0, held

    def resolve(self, module: nodes.Module, name: str, _depth: int = 0):
        """(entry, definition node) that the module-level `name` of `module` means, if the project's."""
        entry = self.entry_of(module)
        if entry is None or _depth > _MAX_REEXPORTS:
            return None
        for node in module.locals.get(name, ()):
            if isinstance(node, (nodes.ClassDef, nodes.FunctionDef)) and node.parent is module:
                return entry, node
            if isinstance(node, nodes.AssignName) and isinstance(node.parent, nodes.Assign) \
                    and node.parent.parent is module:
                return entry, node.parent
            if isinstance(node, nodes.ImportFrom):
                target = self._import_target(entry, node)
                if target is None:
                    continue
                for imported, alias in node.names:
                    if (alias or imported) != name:
                        continue
                    as_module = self._path_of(f"{target}.{imported}")
                    if as_module is not None:
                        return None  # a module object, not a definition
                    path = self._path_of(target)
                    found = self.module(path) if path else None
                    if found is not None:
                        return self.resolve(found, imported, _depth + 1)
        return None

    def resolve_attribute(self, module: nodes.Module, node: nodes.NodeNG):
        """`layers.Mlp` where `from pkg import layers` (or `import pkg.layers as layers`): its definition."""
        if isinstance(node, nodes.Name):
            return self.resolve(module, node.name)
        if not (isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name)):
            return None
        entry = self.entry_of(module)
        if entry is None:
            return None
        imports = self.scope(module).imports
        qname = imports.aliases.get(node.expr.name)
        if qname is None:
            return None
        if qname.startswith("."):
            for stmt in module.locals.get(node.expr.name, ()):
                if isinstance(stmt, nodes.ImportFrom):
                    target = self._import_target(entry, stmt)
                    qname = f"{target}.{dict((a or n, n) for n, a in stmt.names)[node.expr.name]}" if target else None
                    break
        path = self._path_of(qname) if qname else None
        found = self.module(path) if path else None
        return self.resolve(found, node.attrname) if found is not None else None

    def scope(self, module: nodes.Module) -> Scope | None:
        entry = self.entry_of(module)
        if entry is None:
            return None
        if entry.scope is None:
            from pylint_distiller.analysis.forward import module_functions

            entry.scope = Scope(module, ImportMap(module), module_functions(module))
        return entry.scope

    def function(self, scope: Scope, name: str) -> nodes.FunctionDef | None:
        """The project function an imported name of `scope` means."""
        found = self.resolve(scope.module, name)
        if found is not None and isinstance(found[1], nodes.FunctionDef):
            self._note(found[0].path)
            return found[1]
        return None

    def class_info(self, module: nodes.Module, node: nodes.NodeNG) -> ClassInfo | None:
        """The `ClassInfo` (from its own file's index) of the project class `node` names in `module`."""
        found = self.resolve_attribute(module, node)
        if found is None or not isinstance(found[1], nodes.ClassDef):
            return None
        entry, klass = found
        index = self.index(entry.path)
        self._note(entry.path)
        return index.classes.get(klass) if index is not None else None

    def _note(self, path: str) -> None:
        entry = self._entries.get(path)
        if self._building and entry is not None:
            self._building[-1].update(entry.deps)

    # ------------------------------------------------------------- derived
    def index(self, path: str) -> ModuleIndex | None:
        entry = self.entry(path)
        if entry is None or entry.module is None:
            return None
        if entry.index is None:
            if entry.path in self._active:
                return None  # a base cycle across files: that side stays unresolved
            self._active.add(entry.path)
            self._building.append(set())
            try:
                entry.index = ModuleIndex(entry.module, self.scope(entry.module).imports,
                                          self.settings.module_bases, project=self)
            finally:
                entry.deps |= self._building.pop()
                self._active.discard(entry.path)
        return entry.index

    def walk(self, path: str):
        """The forward walk of a file (cached), with the project resolving its imports."""
        from pylint_distiller.analysis.forward import ForwardAnalysis

        entry = self.entry(path)
        index = self.index(path)
        if index is None:
            return None
        if entry.walk is None:
            self._building.append(set())
            try:
                walk = ForwardAnalysis(index, entry.module, project=self)
                if index.module_classes():
                    walk.run()
                entry.walk = walk
            finally:
                entry.deps |= self._building.pop()
        return entry.walk

    def seeded_walk(self, path: str, runs: dict[nodes.ClassDef, int]):
        """The walk of a file whose classes other files run several times per pass (cached per runs).

        The runs come from the dependents' cached walks, so an unchanged file linted again
        (the language server after an edit elsewhere) reuses its walk instead of walking again.
        """
        from pylint_distiller.analysis.forward import ForwardAnalysis

        entry = self.entry(path)
        index = self.index(path)
        if index is None:
            return None
        key = tuple(sorted(((node.lineno or 0, node.col_offset or 0, count) for node, count in runs.items())))
        walk = entry.seeded.get(key)
        if walk is None:
            self._building.append(set())
            try:
                walk = ForwardAnalysis(index, entry.module, project=self, seed_runs=runs)
                walk.run()
                entry.seeded[key] = walk
            finally:
                entry.deps |= self._building.pop()
        return walk

    def targets(self, path: str) -> set[str]:
        """Project files the imports of `path` resolve to (through re-exports)."""
        entry = self.entry(path)
        if entry is None or entry.module is None:
            return set()
        if entry.targets is None:
            out: set[str] = set()
            self._building.append(set())
            try:
                for name, defs in entry.module.locals.items():
                    if any(isinstance(d, nodes.ImportFrom) for d in defs):
                        found = self.resolve(entry.module, name)
                        if found is not None:
                            out.add(found[0].path)
            finally:
                out |= {p for p in self._building.pop() if p != entry.path}
            entry.targets = out
        return entry.targets

    def dependents(self, path: str) -> list[str]:
        """Checked files whose forward code may reach `path` (importing it, directly or through others)."""
        real = os.path.realpath(path)
        if self._reverse is None:
            reverse: dict[str, set[str]] = {}
            for other in self.files:
                for target in self.targets(other):
                    reverse.setdefault(target, set()).add(other)
            self._reverse = reverse
        reverse = self._reverse
        out, stack = [], [real]
        seen = {real}
        while stack:
            for dependent in sorted(reverse.get(stack.pop(), ())):
                if dependent not in seen:
                    seen.add(dependent)
                    out.append(dependent)
                    stack.append(dependent)
        return out


def _package_root(path: str) -> tuple[str | None, str]:
    """(folder above the top package, dotted module name) of a file."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    parts = [] if stem == "__init__" else [stem]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
        if not package:
            break
    return (folder if parts else None), ".".join(parts) or stem


#: a package (or a folder of loose modules) larger than this is not scanned for the files that
#: import a given file: imports are still followed, but a helper's findings are reported only
#: where a `check` of the directory (which reads every file anyway) finds them
MAX_SCANNED_FILES = 400
_SKIPPED = frozenset(("__pycache__", ".git", ".venv", "venv", "build", "dist", "node_modules", ".tox"))
_SHARED: dict[tuple, ProjectIndex] = {}
_LISTED: dict[str, list[str] | None] = {}  # package folder -> its files (listed once per process)


def package_files(path: str) -> list[str] | None:
    """Python files of the package holding `path` (or of its folder, outside packages); None: too many."""
    real = os.path.realpath(path)
    root, modname = _package_root(real)
    folder = os.path.dirname(real)
    if root is not None and os.path.isfile(os.path.join(folder, "__init__.py")):
        top = os.path.join(root, modname.split(".", 1)[0])
        if top in _LISTED:
            return _LISTED[top]
        _LISTED[top] = None
        found = []
        for current, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED and not d.startswith("."))
            found += [os.path.join(current, f) for f in sorted(files) if f.endswith(".py")]
            if len(found) > MAX_SCANNED_FILES:
                return None
        _LISTED[top] = found
        return found
    try:
        found = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]
    except OSError:
        return None
    return found if len(found) <= MAX_SCANNED_FILES else None


def shared_project(path: str, settings: Settings) -> ProjectIndex | None:
    """One index per package and settings for the whole process (the pylint plugin, the language server)."""
    files = package_files(path)
    if files is None:
        files = [path]
    key = (os.path.dirname(os.path.realpath(files[0])) if files else "", settings.module_bases, tuple(files))
    project = _SHARED.get(key)
    if project is None:
        project = _SHARED[key] = ProjectIndex(files, settings)
    if os.path.realpath(path) not in project.files:
        project.add(path)
    return project
