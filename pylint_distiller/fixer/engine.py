"""The rewrite engine: apply findings' fix plans to source text.

One pass: analyse, keep the fixes the caller allows, give every new member a
unique name in its class, compose call-site edits (nested ones inside their
parent's holes), add members at the end of `__init__` and imports after the last
top-level import, splice, and check the result parses. Passes repeat until no
applicable fix is left (bounded), so fixes that conflicted in one pass land in
the next. Nothing here writes files: see `fixer.files`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis import analyze_in_project, analyze_module
from pylint_distiller.analysis.plans import can_extend_init, init_of
from pylint_distiller.api import parse
from pylint_distiller.catalogue import MODULE_ATTRIBUTES
from pylint_distiller.findings import Applicability, Definition, Edit, Finding, Fix, Member, Method, NewClass
from pylint_distiller.fixer.text import LineIndex, Replacement, compose, splice
from pylint_distiller.pragmas import visible
from pylint_distiller.settings import Settings

MAX_PASSES = 8


class FixError(Exception):
    """The engine produced text that does not parse (a bug): nothing is written."""


@dataclass
class FixResult:
    text: str
    applied: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)  # what is still reported after fixing
    passes: int = 0

    #: the text fixing started from already differs from the file (fixes across files, `together.py`)
    started_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.applied) or self.started_changed


def allowed(finding: Finding, unsafe: bool) -> bool:
    """May the fix be applied here? Not one that adds a class to another file: `fixer/together.py`
    applies those, writing both files together."""
    fix = finding.fix
    if fix is None or not fix.applies or crosses_files(fix):
        return False
    return fix.applicability is Applicability.SAFE or (unsafe and fix.applicability is Applicability.UNSAFE)


def crosses_files(fix) -> bool:
    return any(c.path for c in fix.classes)


def fix_source(text: str, path: str = "<string>", settings: Settings | None = None, unsafe: bool = False,
               select=None, project=None) -> FixResult:
    """Fix `text`; `select(finding) -> bool` narrows which fixes apply (the LSP's quick fix).

    With a `ProjectIndex` (several files or a directory), each pass is analysed as
    part of the project (other files' forwards may run this file's code
    repeatedly: those fixes turn unsafe); the project sees the file as on disk again
    afterwards.
    """
    settings = settings or Settings()
    if project is not None:
        buffer = project.buffer(path)
        try:
            return _fix_passes(text, path, settings, unsafe, select, project)
        finally:
            project.set_text(path, buffer)
    return _fix_passes(text, path, settings, unsafe, select, None)


def _fix_passes(text: str, path: str, settings: Settings, unsafe: bool, select, project) -> FixResult:
    result = FixResult(text)
    for _ in range(MAX_PASSES):
        module, findings = _analyzed(result.text, path, settings, project)
        chosen = [f for f in findings if allowed(f, unsafe) and (select is None or select(f))]
        if not chosen:
            result.remaining = findings
            return result
        # methods come last: they list members that the other fixes may still add (an F.relu that
        # becomes a fusable nn.ReLU), so a method is written once, not extended pass by pass
        first = [f for f in chosen if f.fix.method is None]
        new_text, applied = apply_once(result.text, module, first) if first else (result.text, [])
        if not applied:
            new_text, applied = apply_once(result.text, module, [f for f in chosen if f.fix.method is not None])
        result.passes += 1
        if not applied or new_text == result.text:
            result.remaining = findings
            return result
        result.text = new_text
        result.applied.extend(applied)
        if select is not None:
            break  # a quick fix applies once; what it leaves is re-analysed below
    result.remaining = _analyzed(result.text, path, settings, project)[1]
    return result


def _analyzed(text: str, path: str, settings: Settings, project) -> tuple[nodes.Module, list[Finding]]:
    if project is not None:
        project.set_text(path, text)
        module = project.module(path)
        if module is not None:
            return module, visible(analyze_in_project(project, path, settings), text, module, path)
    module = parse(text, path)
    return module, _analyze(module, text, path, settings)


def _analyze(module: nodes.Module, text: str, path: str, settings: Settings) -> list[Finding]:
    """Findings as the user sees them: what a ``# pylint: disable`` silences is never rewritten."""
    return visible(analyze_module(module, settings, text=text, path=path), text, module, path)


def apply_once(text: str, module: nodes.Module, findings: list[Finding]) -> tuple[str, list[Finding]]:
    """Apply the fixes of `findings` that fit together; returns the text and what was applied."""
    edits, applied = plan_edits(text, module, findings)
    new_text = splice(text, edits)
    try:
        compile(new_text, "<fixed>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise FixError(f"the rewrite does not parse ({exc.msg}, line {exc.lineno}); nothing written") from None
    return new_text, applied


def edits_for(text: str, module: nodes.Module, finding: Finding) -> list[Edit]:
    """The text edits of one finding's fix, as line/column spans (JSON output, LSP)."""
    if finding.fix is None or not finding.fix.applies or crosses_files(finding.fix):
        return []  # (a fix that edits two files is applied by `fix` only)
    edits, applied = plan_edits(text, module, [finding])
    if not applied:
        return []
    lines = LineIndex(text)
    return [Edit(*lines.position(start), *lines.position(end), new) for start, end, new in sorted(edits)]


def plan_edits(text: str, module: nodes.Module, findings: list[Finding]):
    """(start, end, text) edits for the fixes that fit together, and their findings."""
    lines = LineIndex(text)
    classes = {c.lineno: c for c in module.nodes_of_class(nodes.ClassDef)}
    namer = _Namer(module)
    replacements: list[Replacement] = []
    members: dict[int, list[tuple[str, Member]]] = {}
    imports: list[str] = []
    by_key = {}
    methods: dict[tuple[int, str], object] = {}
    new_classes: dict[tuple[int, str], NewClass] = {}
    seen: dict[object, int] = {}
    definitions: dict[str, tuple[Definition, int]] = {}  # name -> (definition, first class needing it)
    for i, finding in enumerate(findings):
        fix = finding.fix
        if fix.classes:
            # every op of a lifted helper carries the lift of its first call: one edit for all of them
            if fix in seen:
                by_key[i] = finding
                continue
            seen[fix] = i
        names = {}
        if fix.method is not None:
            cls = classes.get(fix.class_lines[0]) if fix.class_lines else None
            key = (fix.class_lines[0], fix.method.name) if cls is not None else None
            if key is None or key in methods:
                continue  # one edit per method and pass; the others are retried on the next pass
            methods[key] = fix.method
            by_key[i] = finding
            imports.extend(fix.imports)
            _want_definitions(definitions, fix)
            if fix.span is None:
                continue
        if fix.member is not None:
            owners = [classes.get(line) for line in fix.class_lines]
            if not owners or any(cls is None or not can_extend_init(cls) for cls in owners):
                continue
            for key, member in [("m", fix.member)] + [(f"m{j}", m) for j, m in enumerate(fix.extra_members, 1)]:
                name = namer.allocate(owners, member.name)
                names[key] = name
                for cls in owners:
                    members.setdefault(cls.lineno, []).append((name, member))
        start, end = lines.span(fix.span)
        holes = [lines.span(h) for h in fix.holes]
        replacements.append(Replacement(start, end, fix.template, holes, names, key=i))
        by_key[i] = finding
        imports.extend(fix.imports)
        if fix.method is None and fix.class_lines and fix.class_lines[0] in classes:
            _want_definitions(definitions, fix)  # (a method fix's went in above)
        for new_class in fix.classes:
            if not new_class.path:  # (a class for another file: `together.py` adds it there)
                new_classes.setdefault((new_class.after_line, new_class.name), new_class)
                imports.extend(new_class.imports)
    edits, dropped = compose(text, replacements)
    if dropped:
        # members of dropped fixes must not be added: plan again with the kept ones
        drop = set(dropped)
        return plan_edits(text, module, [f for i, f in by_key.items()
                                         if i not in drop and seen.get(f.fix, i) not in drop])
    for new_class in new_classes.values():
        edits.append(_class_edit(lines, new_class))
    for class_line, new in members.items():
        edits.append(_member_edit(lines, classes[class_line], new))
    for (class_line, _name), method in methods.items():
        edits.append(method_edit(lines, classes[class_line], method))
    for definition, class_line in definitions.values():
        if definition.name not in module.locals:
            edits.append(definition_edit(lines, module, classes[class_line], definition))
    edits.extend(_import_edits(lines, module, imports, text))
    return edits, list(by_key.values())


def _want_definitions(definitions: dict[str, tuple[Definition, int]], fix: Fix) -> None:
    """Each top-level definition `fix` uses, placed before the first class (by line) that needs it."""
    for definition in fix.definitions:
        known = definitions.get(definition.name)
        if known is None or fix.class_lines[0] < known[1]:
            definitions[definition.name] = (definition, fix.class_lines[0])


# ------------------------------------------------------------------- members
#: Calls that configure a finished module (`self.eval()`, transformers' `self.post_init()`):
#: new members go before a trailing run of them, so they are set up like every other member.
_SETTLING_CALLS = frozenset(("eval", "train", "post_init", "init_weights", "requires_grad_", "to", "cuda", "cpu",
                             "float", "half", "double", "bfloat16", "apply", "reset_parameters", "tie_weights"))


def _settles(stmt: nodes.NodeNG) -> bool:
    call = stmt.value if isinstance(stmt, nodes.Expr) else None
    return (isinstance(call, nodes.Call) and isinstance(call.func, nodes.Attribute)
            and isinstance(call.func.expr, nodes.Name) and call.func.expr.name == "self"
            and call.func.attrname in _SETTLING_CALLS)


def _above_comments(lines: LineIndex, line: int) -> int:
    """The first line of the comment block directly above `line` (comments belong to what follows)."""
    while line > 1 and lines.line_text(line - 1).lstrip().startswith("#"):
        line -= 1
    return line


def _indent(lines: LineIndex, node: nodes.NodeNG, line: int | None = None) -> str:
    line = line or node.lineno
    return lines.text[lines.line_start(line):lines.line_start(line) + _char_col(lines, node)]


def _member_lines(new: list[tuple[str, Member]], indent: str) -> list[str]:
    """`self.<name> = <ctor>` per member; a guarded one under `if hasattr(self, ...):`."""
    unit = "\t" if "\t" in indent else "    "
    out = []
    for name, member in new:
        if member.guard:
            out += [f"{indent}if {member.condition()}:", f"{indent}{unit}{member.statement(name)}"]
        else:
            out.append(f"{indent}{member.statement(name)}")
    return out


def _member_edit(lines: LineIndex, cls: nodes.ClassDef, new: list[tuple[str, Member]]):
    """One insertion that adds `self.<name> = <ctor>` lines at the end of the class's __init__."""
    init = init_of(cls)
    if init is not None and init.body and init.body[0].lineno == init.lineno:
        # `def __init__(self): super().__init__()`: continue the one-line body (no room for an `if`)
        last = init.body[-1]
        at = lines.offset(last.end_lineno, _char_col(lines, last, end=True))
        return at, at, "".join(
            f"; self.{name} = ({m.constructor}) if {m.condition()} else None" if m.guard else f"; {m.statement(name)}"
            for name, m in new)
    if init is not None:
        body = init.body
        indent = _indent(lines, body[0])
        keep = len(body)
        while keep > 1 and _settles(body[keep - 1]):
            keep -= 1
        if keep == len(body):
            end_line = body[-1].end_lineno or body[-1].lineno
            at, nl = lines.line_end(end_line), lines.terminator(end_line)
            return at, at, "".join(nl + line for line in _member_lines(new, indent))
        line = _above_comments(lines, body[keep].lineno)
        at, nl = lines.line_start(line), lines.terminator(line)
        return at, at, "".join(line + nl for line in _member_lines(new, indent))
    # no __init__ of its own: add one that forwards to the base class
    doc = cls.doc_node
    if cls.body:
        first = cls.body[0]
        first_line = min([first.lineno] + [d.lineno for d in getattr(getattr(first, "decorators", None), "nodes", [])])
        indent = _indent(lines, first, first_line)
    else:
        indent = _indent(lines, doc)
    unit = "\t" if "\t" in indent else "    "
    body = [f"{indent}def __init__(self, *args, **kwargs):", f"{indent}{unit}super().__init__(*args, **kwargs)"]
    body += _member_lines(new, indent + unit)
    if doc is not None:
        nl = lines.terminator(doc.end_lineno)
        at = lines.line_end(doc.end_lineno)
        return at, at, nl + nl + nl.join(body)
    line = _above_comments(lines, first_line)
    nl = lines.terminator(line)
    at = lines.line_start(line)
    return at, at, nl.join(body) + nl + nl


def _char_col(lines: LineIndex, node: nodes.NodeNG, end: bool = False) -> int:
    line, col = (node.end_lineno, node.end_col_offset) if end else (node.lineno, node.col_offset)
    line_text = lines.text[lines.line_start(line):lines.line_end(line)]
    if line_text.isascii():
        return col
    return len(line_text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))


class _Namer:
    """Unique, readable member names: `add`, `add_2`... never shadowing anything.

    A name is taken in a class when the class, any same-file ancestor or
    descendant, or nn.Module itself already uses it (attributes, methods, class
    attributes), or when this run gave it to a related class: a subclass
    assigning `self.add` after `super().__init__()` would replace its base's.
    """

    def __init__(self, module: nodes.Module) -> None:
        self.classes = list(module.nodes_of_class(nodes.ClassDef))
        by_name = {c.name: c for c in self.classes}
        self.parents = {c: [by_name[b.name] for b in c.bases if isinstance(b, nodes.Name) and b.name in by_name
                            and by_name[b.name] is not c] for c in self.classes}
        self.used = {c: self._names_in(c) for c in self.classes}
        self.given: dict[nodes.ClassDef, set[str]] = {}
        self._related: dict[nodes.ClassDef, set] = {}
        self._ancestor_sets: dict[nodes.ClassDef, set] = {}

    @staticmethod
    def _names_in(cls: nodes.ClassDef) -> set[str]:
        names = set(cls.locals)
        for node in cls.nodes_of_class((nodes.AssignAttr, nodes.Attribute)):
            expr = node.expr
            if isinstance(expr, nodes.Name) and expr.name == "self":
                names.add(node.attrname)
        for call in cls.nodes_of_class(nodes.Call):
            func = call.func
            if isinstance(func, nodes.Attribute) and func.attrname in ("register_buffer", "register_parameter",
                                                                         "add_module", "register_module") \
                    and call.args and isinstance(call.args[0], nodes.Const):
                names.add(str(call.args[0].value))
        return names

    def related(self, cls: nodes.ClassDef) -> set:
        """The class, its same-file ancestors and its same-file descendants."""
        if cls not in self._related:
            self._related[cls] = self._ancestors(cls) | {c for c in self.classes if cls in self._ancestors(c)}
        return self._related[cls]

    def _ancestors(self, cls):
        if cls not in self._ancestor_sets:
            seen, stack = set(), [cls]
            while stack:
                c = stack.pop()
                if c not in seen:
                    seen.add(c)
                    stack.extend(self.parents.get(c, ()))
            self._ancestor_sets[cls] = seen
        return self._ancestor_sets[cls]

    def allocate(self, owners: list[nodes.ClassDef], preferred: str) -> str:
        """A name free in every owner class (they all get the member)."""
        taken = set(MODULE_ATTRIBUTES)
        for cls in owners:
            for other in self.related(cls):
                taken |= self.used.get(other, set()) | self.given.get(other, set())
        base = preferred
        name, n = base, 2
        if name in taken and base.endswith("_2"):
            base = base[:-2]
            n = 2
        while name in taken:
            name = f"{base}_{n}"
            n += 1
        for cls in owners:
            self.given.setdefault(cls, set()).add(name)
        return name


# ------------------------------------------------------------------- classes
def add_classes(text: str, path: str, classes: list[NewClass]) -> str:
    """`text` with lifted classes (and the imports they need) added where their fixes say."""
    module = parse(text, path)
    lines = LineIndex(text)
    edits = [_class_edit(lines, c) for c in {(c.after_line, c.name): c for c in classes}.values()]
    edits.extend(_import_edits(lines, module, [imp for c in classes for imp in c.imports], text))
    new_text = splice(text, edits)
    try:
        compile(new_text, "<fixed>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise FixError(f"the lifted classes do not parse ({exc.msg}, line {exc.lineno}); nothing written") from None
    return new_text


def _class_edit(lines: LineIndex, new_class: NewClass):
    """One insertion: a module-level class two blank lines after line `after_line`."""
    at, nl = lines.line_end(new_class.after_line), lines.terminator(new_class.after_line)
    return at, at, nl + nl + "".join(nl + line if line else nl for line in new_class.lines)


# ------------------------------------------------------------------- methods
def method_edit(lines: LineIndex, cls: nodes.ClassDef, method: Method):
    """One insertion: a new method after the class's last statement, or lines at the start of
    an existing method's body (after its docstring and leading `if ...: return` guards)."""
    if method.extend:
        func = next(s for s in cls.body if isinstance(s, nodes.FunctionDef) and s.name == method.name)
        body = list(func.body)
        start = 0
        while start < len(body) - 1 and (
                (isinstance(body[start], nodes.Expr) and isinstance(body[start].value, nodes.Const))
                or (isinstance(body[start], nodes.If) and len(body[start].body) == 1
                    and isinstance(body[start].body[0], nodes.Return) and not body[start].orelse)):
            start += 1
        first = body[start]
        indent = _indent(lines, first)
        line = _above_comments(lines, first.lineno)
        at, nl = lines.line_start(line), lines.terminator(line)
        return at, at, "".join(indent + _reindent(text, indent) + nl for text in method.lines)
    last = cls.body[-1] if cls.body else cls.doc_node  # astroid keeps a docstring out of the body
    end_line = last.end_lineno or last.lineno
    indent = _indent(lines, cls.body[0] if cls.body else cls.doc_node)
    at, nl = lines.line_end(end_line), lines.terminator(end_line)
    return at, at, nl + "".join(nl + indent + _reindent(text, indent) for text in method.lines)


def definition_edit(lines: LineIndex, module: nodes.Module, cls: nodes.ClassDef, definition: Definition):
    """A top-level definition, before the top-level statement holding `cls` (above its decorators and comments)."""
    stmt = cls
    while stmt.parent is not module:
        stmt = stmt.parent.statement()
    first = min([stmt.lineno] + [d.lineno for d in getattr(getattr(stmt, "decorators", None), "nodes", [])])
    line = _above_comments(lines, first)
    at, nl = lines.line_start(line), lines.terminator(line)
    indent = _indent(lines, cls.body[0]) if cls.body else ""
    return at, at, "".join(_reindent(text, indent) + nl if text else nl for text in definition.lines) + nl + nl


def _reindent(text: str, indent: str) -> str:
    """Four-space levels of a generated line in the file's unit (tabs where the class uses tabs)."""
    if "\t" not in indent:
        return text
    stripped = text.lstrip(" ")
    return "\t" * ((len(text) - len(stripped)) // 4) + stripped


# ------------------------------------------------------------------- imports
def _import_edits(lines: LineIndex, module: nodes.Module, wanted: list[str], text: str):
    """Imports go after the first run of top-level imports (else after the docstring, else first)."""
    present = {line.strip() for line in text.splitlines()}
    new = []
    for imp in wanted:
        if imp not in present and imp not in new:
            new.append(imp)
    if not new:
        return []
    last_import = None
    for stmt in module.body:
        if isinstance(stmt, (nodes.Import, nodes.ImportFrom)):
            last_import = stmt
        elif last_import is not None:
            break
    anchor = last_import or module.doc_node
    if anchor is not None:
        nl = lines.terminator(anchor.end_lineno)
        at = lines.line_end(anchor.end_lineno)
        return [(at, at, "".join(nl + imp for imp in new))]
    if module.body:
        line = _above_comments(lines, module.body[0].lineno)
        nl = lines.terminator(line)
        at = lines.line_start(line)
        return [(at, at, "".join(imp + nl for imp in new))]
    nl = lines.newline()
    at = len(text)
    prefix = nl if text and not text.endswith(("\n", "\r")) else ""
    return [(at, at, prefix + "".join(imp + nl for imp in new))]
