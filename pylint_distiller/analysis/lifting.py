"""Lift a module-level helper that receives no module into a module class.

`q_embed = (q * cos) + (rotate_half(q) * sin)` runs in `apply_rotary_pos_emb`, a
function that no module owns, so there is nowhere to put an `EltwiseMult`. The
fix gives the helper a module twin next to it::

    class ApplyRotaryPosEmb(nn.Module):
        def __init__(self):
            super().__init__()
            self.rotate_half = RotateHalf()      # one instance per nested call site
            self.rotate_half_2 = RotateHalf()

        def forward(self, q, k, cos, sin, unsqueeze_dim=1):
            ...the helper's body, with rotate_half(q) -> self.rotate_half(q)...

and the calling class holds one instance per call site (`self.apply_rotary_pos_emb
= ApplyRotaryPosEmb()`, the call becomes `self.apply_rotary_pos_emb(...)`). The
original function stays (other callers, imports from elsewhere). The twin holds
no parameters, so the state_dict keys do not change, and its forward is the same
code in the same module namespace (globals read at run time are the same
globals), so the outputs do not change either. The ops in the twin are then
ordinary ops of a module class: the next pass of `fix` plans them like any other,
with every check that applies there (loops, arguments known only at run time,
leaf modules fixed all or nothing).

The lift is refused, with the reason, where the contract cannot be kept: the call
runs several times per forward pass (one instance would run twice), the helper
is decorated (the decorated object may not be this body), a generator or async,
recursive, declares `global`/`nonlocal`, uses `self`/`super`, is bound more than
once at module level, or the call reaches it through a name that is not that
function. Nested helper calls inside a loop stay plain calls.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from astroid import nodes

from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.analysis.init_calls import runs_in_init_note
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.syntax import in_loop, is_self_attr, is_staticmethod
from pylint_distiller.catalogue import MODULE_ATTRIBUTES, NATIVE, UNSUPPORTED
from pylint_distiller.findings import Applicability, Fix, Member, NewClass

if TYPE_CHECKING:
    from pylint_distiller.analysis.plans import Plan, Planner
    from pylint_distiller.analysis.sites import OpSite

#: decorators that keep the function as the reference body: transformers marks helpers for an
#: optional hub kernel (`kernels` package) and returns the function itself when kernels are off
KEPT_BODY_DECORATORS = frozenset(("use_kernel_forward_from_hub", "use_kernel_func_from_hub"))

_NO_MODULE = "it is outside any module class and receives no module to hold it"
_LOOPING = (nodes.For, nodes.While, nodes.Comprehension, nodes.ListComp, nodes.SetComp, nodes.GeneratorExp,
            nodes.DictComp, nodes.Lambda, nodes.FunctionDef)


def marker(func: nodes.FunctionDef) -> str:
    """The first docstring line of a lifted class: how a later pass finds it again."""
    return f"{qualified(func)}() as a module, so that a quantizer sees its ops (pylint-distiller fix)."


def qualified(func: nodes.FunctionDef) -> str:
    return f"{func.parent.name}.{func.name}" if isinstance(func.parent, nodes.ClassDef) else func.name


def is_static(func: nodes.FunctionDef) -> bool:
    """A static method of a module-level class (it has no `self` either)."""
    return isinstance(func.parent, nodes.ClassDef) and isinstance(func.parent.parent, nodes.Module) and \
        is_staticmethod(func)


def unliftable(func: nodes.FunctionDef) -> str | None:
    """Why `func` cannot get a module twin with the same behaviour, or None."""
    if not isinstance(func.parent, nodes.Module) and not is_static(func):
        return f"{func.name}() is not a module-level function"
    if isinstance(func, nodes.AsyncFunctionDef):
        return f"{func.name}() is async"
    if func.is_generator():
        return f"{func.name}() is a generator"
    for dec in func.decorators.nodes if func.decorators else ():
        target = dec.func if isinstance(dec, nodes.Call) else dec
        name = target.attrname if isinstance(target, nodes.Attribute) else getattr(target, "name", "")
        if name not in KEPT_BODY_DECORATORS and not (name == "staticmethod" and target is dec):
            return f"{func.name}() is decorated (@{target.as_string()}), so what its callers run may not be its body"
    if len(func.parent.locals.get(func.name, ())) > 1:
        return f"the module binds {func.name} more than once"
    params = {a.name for a in func.args.arguments} | {func.args.vararg, func.args.kwarg}
    if "self" in params:
        return f"{func.name}() has a parameter named self"
    for node in nodes_in(func, (nodes.Global, nodes.Nonlocal, nodes.Name, nodes.AssignName)):
        if isinstance(node, (nodes.Global, nodes.Nonlocal)):
            return f"{func.name}() declares {'global' if isinstance(node, nodes.Global) else 'nonlocal'} names"
        if node.name in ("self", "super", "__class__"):
            return f"{func.name}() uses the name {node.name}, which means something else in a method"
        if node.name == func.name and isinstance(node.parent, nodes.Call) and node.parent.func is node:
            return f"{func.name}() is recursive"
    return None


def _resolves_to(call: nodes.Call, func: nodes.FunctionDef) -> bool:
    """The call names `func` itself: a module-level name bound once, not rebound in the calling function
    (a static method: `self.<name>(...)`, where the walk saw no other method run)."""
    if is_static(func):
        return is_self_attr(call.func) and call.func.attrname == func.name
    if not isinstance(call.func, nodes.Name):
        return False
    scope, found = call.func.lookup(call.func.name)
    return isinstance(scope, nodes.Module) and found == [func]


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Helper"


@dataclass
class _Home:
    """The file a lifted class goes into: its tree, text, names, and path ("" for the analysed file)."""

    module: nodes.Module
    pos: Positions
    imports: ImportMap
    path: str = ""
    class_names: dict | None = None


@dataclass
class _Nested:
    call: nodes.Call
    member: str
    func: nodes.FunctionDef


class Lifter:
    """Plans the lift of the helper a root call runs, for the op sites it reaches."""

    def __init__(self, planner: Planner) -> None:
        self.p = planner
        self.walk = planner.walk
        self.module = planner.walk.module_node
        self._homes: dict[int, _Home] = {id(self.module): _Home(self.module, planner.pos, planner.imports)}
        self._useful_roots: dict[nodes.Call, bool] = {}
        self._refusals: dict[nodes.Call, str | None] = {}
        self._fixes: dict[nodes.Call, Fix] = {}  # every op site of a root call carries the same fix
        #: torch-eager: does an op run in a float island around its helper's call? (set by the Reporter)
        self.in_float: Callable[[OpSite], bool] | None = None

    def _home(self, func: nodes.FunctionDef) -> _Home | None:
        """Where the class of `func` goes: its own file (a project file), or None when that is unknown."""
        module = func.root()
        if id(module) not in self._homes:
            project = self.walk.project
            entry = project.entry_of(module) if project is not None else None
            index = project.index(entry.path) if entry is not None else None
            if index is None or entry.text is None:
                return None
            self._homes[id(module)] = _Home(module, Positions(entry.text), index.imports, entry.path)
        return self._homes[id(module)]

    # ------------------------------------------------------------------ plan
    def plan(self, site: OpSite, suggestion: str, note: str = _NO_MODULE) -> Plan:
        from pylint_distiller.analysis.plans import Plan

        reasons = []
        roots = sorted(site.lift_roots, key=lambda c: (c.lineno, c.col_offset))
        for root in roots:
            record = self.walk.lifts.roots.get(root)
            if record is None:
                continue
            why = self._refusal(record)
            if why is None:
                return Plan(suggestion, self._fix(record), "")
            reasons.append(why)
        if reasons:
            return Plan(suggestion, None, f"{note}, and it cannot be lifted into a module class: "
                                          f"{reasons[0]} (manual)")
        return Plan(suggestion, None, f"{note} (manual)")

    def across(self, settings) -> list[tuple[Fix, OpSite]]:
        """Lifts of helpers of other project files that this file's classes call (`fixer/together.py`).

        Their op sites are reported in the helper's file, so no finding here carries
        them: one fix per root call whose lift is allowed and gives a reported op a module.
        """
        out = []
        for call, record in sorted(self.walk.lifts.roots.items(), key=lambda kv: (kv[0].lineno, kv[0].col_offset)):
            if record.func.root() is self.module or self._refusal(record) is not None:
                continue
            reported = [site for site in (self.walk.ops[node] for node in self.walk.lifts.once.get(call, ()))
                        if site.loud and settings.reports(site.spec.rule)
                        and not settings.ignores(site.spec.key, site.spec.shown)]
            if reported:
                out.append((self._fix(record), min(reported, key=lambda s: (s.node.lineno, s.node.col_offset))))
        return out

    def lifts(self, site: OpSite) -> bool:
        """Does some call of the site's helper get lifted (its ops then get modules, or islands, one by one)?"""
        return any(root in self.walk.lifts.roots and self._refusal(self.walk.lifts.roots[root]) is None
                   for root in site.lift_roots)

    def _refusal(self, record) -> str | None:
        """Why the root call's helper cannot be lifted there (None: it can); asked once per root."""
        if record.call not in self._refusals:
            self._refusals[record.call] = self._why_not(record)
        return self._refusals[record.call]

    def _why_not(self, record) -> str | None:
        func, call = record.func, record.call
        if func.root() is not self.module:
            why = self._import_refusal(record)
            if why:
                return why
        elif not _resolves_to(call, func):
            return f"the call at line {call.lineno} does not name {func.name}() itself"
        why = unliftable(func)
        if why:
            return why
        if record.varies:
            return f"the call at line {call.lineno} runs different methods in different classes"
        runs = self.walk.multiplicity.get(self.walk.forward_owner(record.forward_class), 1) \
            if record.forward_class is not None else 1
        if record.multi or runs > 1:
            return (f"{func.name}() runs several times per forward pass from line {call.lineno} (loop, or a "
                    "method or module run twice), so one lifted instance would run twice")
        if self.in_float is not None and any(self.in_float(site) for site in self.walk.ops.values()
                                             if call in site.lift_roots and site.owner is None):
            return f"{func.name}() runs in a float island at its call (eager has no quantized kernel for it)"
        if not self._useful(call):
            return f"none of the ops {func.name}() runs once per call has a {self.p.target} module"
        from pylint_distiller.analysis.plans import _self_reachable

        home = self.p._class_of(call)  # pylint: disable=protected-access
        if home is None or not home.is_module or not _self_reachable(call):
            return f"the call at line {call.lineno} is not in a method of a module class that has self"
        blocked = self.p._blocked((home.node.lineno,))  # pylint: disable=protected-access
        if blocked:
            return blocked.removesuffix(" (manual)")
        in_init = runs_in_init_note(call, self.p._init_reached)  # pylint: disable=protected-access
        if in_init:
            return in_init.removesuffix(" (manual)")
        return None

    def _import_refusal(self, record) -> str | None:
        """A helper of another project file: the call names it through a module-level from-import."""
        func, call = record.func, record.call
        if self._home(func) is None:
            return f"{func.name}() is in a file outside the checked project"
        imported = _imported_from(call, func)
        if imported is None:
            return (f"the call at line {call.lineno} does not name {func.name}() through a module-level "
                    "`from ... import`")
        name = self.class_names(self._home(func))[func]
        if name in self.module.locals and not self._imports_class(self._import_of(imported, func), name):
            return f"{name}, the lifted class's name, is already bound in this file"
        return None

    def _imports_class(self, source: tuple[int, str], name: str) -> bool:
        return any((stmt.level or 0, stmt.modname) == source and (name, None) in stmt.names
                   for stmt in self.module.body if isinstance(stmt, nodes.ImportFrom))

    def _import_of(self, stmt: nodes.ImportFrom, func: nodes.FunctionDef) -> tuple[int, str]:
        """(level, module) the lifted class is imported from: the helper's own file (`project.import_of`)."""
        return self.walk.project.import_of(self.module, stmt, self._home(func).path)

    def _useful(self, root: nodes.Call) -> bool:
        """Some op the lifted code runs has a module in the target: lifting gives it a home."""
        if root not in self._useful_roots:
            target = self.p.target
            once = self.walk.lifts.once.get(root, ())
            self._useful_roots[root] = any(
                not self.walk.ops[node].spec.weighted
                and self.walk.ops[node].spec.replacement(target) not in (UNSUPPORTED, NATIVE) for node in once)
        return self._useful_roots[root]

    # ------------------------------------------------------------------- fix
    def _fix(self, record) -> Fix:
        if record.call not in self._fixes:
            self._fixes[record.call] = self._build_fix(record)
        return self._fixes[record.call]

    def _build_fix(self, record) -> Fix:
        func, call = record.func, record.call
        home = self.p._class_of(call)  # pylint: disable=protected-access
        classes: list[NewClass] = []
        name = self._class_for(func, classes, [])
        imports: tuple[str, ...] = ()
        if func.root() is not self.module:
            level, source = self._import_of(_imported_from(call, func), func)
            imports = (f"from {'.' * level}{source} import {name}",)
        return Fix(
            title=f"Lift {func.name}() into a module class: self.<{func.name}> = {name}() runs it",
            applicability=Applicability.SAFE,
            span=self.p.pos.span(call.func),
            template="self.{m}",
            member=Member(func.name.lstrip("_") or func.name, f"{name}()"),
            imports=imports,
            class_lines=(home.node.lineno,),
            classes=tuple(classes),
        )

    @staticmethod
    def class_names(home: _Home) -> dict[nodes.FunctionDef, str]:
        """A class name per module-level function, unique in the file (deterministic for every plan)."""
        if home.class_names is None:
            module = home.module
            taken = set(module.locals) | {n.name for n in nodes_in(module, nodes.Name)}
            out = {}
            funcs = [s for s in module.body if isinstance(s, nodes.FunctionDef)]
            funcs += [m for c in module.body if isinstance(c, nodes.ClassDef) for m in c.mymethods() if is_static(m)]
            for stmt in funcs:
                existing = _existing(stmt)
                if existing:
                    out[stmt] = existing
                    continue
                base = _camel(stmt.name)
                name, n = base, 2
                while name in taken:
                    name = f"{base}{n}"
                    n += 1
                taken.add(name)
                out[stmt] = name
            home.class_names = out
        return home.class_names

    def _class_for(self, func: nodes.FunctionDef, classes: list[NewClass], stack: list) -> str:
        home = self._home(func)
        name = self.class_names(home)[func]
        if _existing(func) or any(c.name == name for c in classes):
            return name
        stack = stack + [func]
        nested = []
        used = set(MODULE_ATTRIBUTES)
        for call in sorted(nodes_in(func, nodes.Call), key=lambda c: (c.lineno, c.col_offset)):
            callee = self.walk.lifts.callee.get(call)
            if callee is None or call not in self.walk.lifts.useful or callee in stack or \
                    callee.root() is not func.root() or unliftable(callee) or not _resolves_to(call, callee) or \
                    in_loop(call, func, _LOOPING):
                continue
            member, n = callee.name, 2
            while member in used:
                member = f"{callee.name}_{n}"
                n += 1
            used.add(member)
            nested.append(_Nested(call, member, callee))
        after = func.parent.end_lineno if is_static(func) else func.end_lineno  # (after its class)
        classes.append(NewClass(after, name, ()))  # placeholder: keeps nested names unique
        index = len(classes) - 1
        members = [(n.member, self._class_for(n.func, classes, stack)) for n in nested]
        base, imports = home.imports.render("torch.nn.Module")
        lines = self._class_lines(home, func, name, base, nested, members)
        classes[index] = NewClass(after, name, lines, imports, home.path)
        return name

    # ------------------------------------------------------------------ text
    @staticmethod
    def _class_lines(home: _Home, func: nodes.FunctionDef, name: str, base: str, nested: list[_Nested],
                     members: list[tuple[str, str]]) -> tuple[str, ...]:
        body, def_line = _forward_text(home.pos.text, func, {n.call: n.member for n in nested}, home.pos)
        # a static method is already indented as a method: its text moves as it is
        unit = body[:len(body) - len(body.lstrip(" \t"))] if is_static(func) else _unit(home.pos.text, func)
        lines = [f"class {name}({base}):", f'{unit}"""{marker(func)}"""', "",
                 f"{unit}def __init__(self):", f"{unit}{unit}super().__init__()"]
        lines += [f"{unit}{unit}self.{member} = {cls}()" for member, cls in members]
        lines.append("")
        lines += _indented(body, def_line, func, "" if is_static(func) else unit)
        return tuple(lines)


def _existing(func: nodes.FunctionDef) -> str | None:
    """The name of the class an earlier pass lifted `func` into."""
    for stmt in func.root().body:
        if isinstance(stmt, nodes.ClassDef) and stmt.doc_node is not None and \
                str(stmt.doc_node.value).startswith(marker(func)):
            return stmt.name
    return None


def _imported_from(call: nodes.Call, func: nodes.FunctionDef) -> nodes.ImportFrom | None:
    """The module-level `from ... import <func>` through which the call names `func` (no alias)."""
    if not isinstance(call.func, nodes.Name):
        return None
    scope, found = call.func.lookup(call.func.name)
    if not isinstance(scope, nodes.Module) or len(found) != 1 or not isinstance(found[0], nodes.ImportFrom):
        return None
    stmt = found[0]
    if not isinstance(stmt.parent, nodes.Module) or (func.name, None) not in stmt.names:
        return None
    return stmt


def _unit(text: str | None, func: nodes.FunctionDef) -> str:
    """The file's indentation unit, as the helper's body uses it."""
    if text is not None and func.body:
        line = _lines(text)[func.body[0].lineno - 1].rstrip("\r\n")
        indent = line[:len(line) - len(line.lstrip())]
        if indent and func.body[0].lineno != func.lineno:
            return indent
    return "    "


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> list[str]:
    """The file's lines, each with its own line ending (split once per file, not once per lifted helper)."""
    return re.split(r"(?<=\n)|(?<=\r)(?!\n)", text)


@functools.lru_cache(maxsize=8)
def _starts(text: str) -> list[int]:
    """The offset of each line's first character (and of the end of the text)."""
    starts = [0]
    for line in _lines(text):
        starts.append(starts[-1] + len(line))
    return starts


def _forward_text(text: str | None, func: nodes.FunctionDef, renames: dict, pos) -> tuple[str, int]:
    """The helper's source from `def` to its end, as `def forward(self, ...)`, nested calls renamed;
    and the line its `def` is on."""
    if text is None:  # (the pylint plugin on an ASCII file: messages only, no fix is applied)
        return func.as_string().replace(f"def {func.name}(", "def forward(self, ", 1), func.lineno
    lines, starts = _lines(text), _starts(text)

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + col

    start = offset(func.lineno, 0)
    end = offset(func.end_lineno, len(lines[func.end_lineno - 1].rstrip("\r\n")))  # (a trailing comment too)
    edits = []
    for call, member in renames.items():
        span = pos.span(call.func)
        edits.append((offset(span[0], span[1]) - start, offset(span[2], span[3]) - start, f"self.{member}"))
    source = text[start:end]
    # (astroid's lineno of a decorated function is its first decorator's line)
    match = re.search(r"^([ \t]*def\s+)" + re.escape(func.name) + r"(\s*\()", source, re.MULTILINE)
    cut = match.start(0)
    def_line = func.lineno + len(re.findall(r"\r\n|\r|\n", source[:cut]))
    source = source[cut:]
    edits = [(s - cut, e - cut, new) for s, e, new in edits]
    match = re.match(r"([ \t]*def\s+)" + re.escape(func.name) + r"(\s*\()", source)
    head_end = match.end()
    rest = source[head_end:]
    self_arg = "self" if rest.lstrip().startswith(")") else "self, "
    edits.append((match.start(0) + len(match.group(1)), head_end, "forward" + match.group(2) + self_arg))
    out, at = [], 0
    for s, e, new in sorted(edits):
        out.append(source[at:s])
        out.append(new)
        at = e
    out.append(source[at:])
    return "".join(out), def_line


def _indented(body: str, def_line: int, func: nodes.FunctionDef, unit: str) -> list[str]:
    """The function text one level deeper, except lines inside multi-line strings (their value would change)."""
    keep = set()
    for node in nodes_in(func, (nodes.Const, nodes.JoinedStr)):
        if node is func.doc_node or node.end_lineno is None or node.end_lineno == node.lineno:
            continue
        if isinstance(node, nodes.JoinedStr) or isinstance(node.value, (str, bytes)):
            keep.update(range(node.lineno + 1 - def_line, node.end_lineno + 1 - def_line))
    out = []
    for i, line in enumerate(re.split(r"\r\n|\r|\n", body)):
        out.append(line if i in keep or not line.strip() else unit + line)
    return out
