"""One module per loop iteration, where the trip count is static: or the reason why not.

A new member for an op that runs several times per forward pass would be called
on every run: a reused module, what `reused-module` reports. The one exact
rewrite is a `nn.ModuleList` with one module per iteration, indexed by the loop
position (`self.adds[i]`). It needs:

* a trip count known when `__init__` ends: `range(<int literal>)`,
  `range(self.<int attribute>)`, `range(len(self.<container>))`,
  `enumerate(self.<container>)` (also `.values()`/`.items()`/`.keys()` of it) or
  `enumerate(zip(self.<a>, self.<b>))` (Res2Net's `zip(self.convs, self.bns)`), the
  containers holding modules and assigned only in `__init__`;
* a position variable (`i`) that the loop binds and its body never rebinds;
* nothing else repeating the op: exactly one loop or comprehension between the
  op and the function it is written in, that function the forward or a method it
  calls at one place outside loops (`forward_features`), and that forward run once
  per pass (not a class whose instance runs repeatedly).

Everything else gets no fix, with the reason, never a module reused by every
iteration; for torch-eager, `loop_sharing.py` shares one FloatFunctional by the runs of
a loop refused here (an `InLoop` reason), where eager runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.loop_containers import may_be_none, never_longer
from pylint_distiller.analysis.node_tables import nodes_in

_CONTAINER_VIEWS = frozenset(("values", "items", "keys"))


@dataclass(frozen=True)
class Slot:
    """Where a per-iteration module list comes from and how a call site picks its module."""

    position: str  # the loop variable that indexes the list
    trip: str  # the `range(...)` argument that sizes it, evaluable at the end of __init__
    reads: tuple[nodes.NodeNG, ...] = ()  # expressions the trip count reads (for guards)


def per_iteration(node: nodes.NodeNG, owner: ClassInfo | None, walk) -> Slot | str:
    """The slot for an op (or inline module) at `node` that runs several times per pass, or why there is none."""
    func = node.frame()
    if isinstance(func, nodes.Lambda):
        return "it runs in a lambda, which may be called any number of times"
    if owner is None or not isinstance(func, nodes.FunctionDef):
        return "it runs several times per forward pass outside any module class"
    # every class that runs this code (the owner and same-file subclasses inheriting it) runs it once per pass
    for klass in [c for c in walk.index.module_classes() if owner in c.mro()]:
        if klass is not owner and klass.methods.get(func.name) is not func:
            continue  # overridden: this code does not run for it
        entry = _once_per_pass(func, klass, walk, 0)
        if entry is None:
            return "it is in a helper that runs several times per forward pass (called in a loop or more than once)"
        walkers = [c for c in walk.index.module_classes() if walk.forward_of(c) is entry]
        if any(walk.multiplicity.get(c, 1) > 1 for c in walkers):
            return "its module class runs several times per forward pass"
        if _called_explicitly(entry, walkers, walk.index):
            return "its forward is also called explicitly (`super().forward(...)`, `self.forward(...)`)"
    loops = _enclosing_repeaters(node, func)
    if not loops:
        return "it runs several times per forward pass"
    found = _loop_slot(loops, owner, walk)
    return found if isinstance(found, Slot) else InLoop(found)


class InLoop(str):
    """Why a loop of forward code (run once per pass) cannot give each of its runs a module."""


def _loop_slot(loops: list[nodes.NodeNG], owner: ClassInfo, walk) -> Slot | str:
    if len(loops) > 1:
        return "it runs in nested loops"
    loop = loops[0]
    if isinstance(loop, nodes.While):
        return "it runs in a while loop, whose trip count is not known before forward"
    if isinstance(loop, nodes.For):
        target, iterable, body = loop.target, loop.iter, loop.body
    else:
        if len(loop.generators) != 1:
            return "it runs in a comprehension with several `for` clauses"
        gen = loop.generators[0]
        target, iterable, body = gen.target, gen.iter, [loop]
    return _slot(target, iterable, body, owner, walk)


def _once_per_pass(func: nodes.FunctionDef, owner: ClassInfo, walk, depth: int) -> nodes.FunctionDef | None:
    """The forward that runs `func` once per pass: itself, or the forward of a method called once from it.

    A method (`forward_features`) qualifies when the class's code calls it at exactly
    one place, outside any loop or comprehension, in a function that itself runs once.
    """
    if any(walk.forward_of(c) is func for c in walk.index.module_classes()):
        return func
    if depth > 4 or not isinstance(func.parent, nodes.ClassDef) or owner.methods.get(func.name) is not func:
        return None
    calls = []
    # (a walk cut short by its budget may not have entered every method that runs)
    ran = getattr(walk, "helper_calls", None) if getattr(walk, "_budget", 0) > 0 else None
    for method in {m for m in owner.methods.values() if m is not func}:
        if ran is not None and not ran.runs(method):
            continue  # not forward code (`forward_train`, `forward_intermediates`): its calls never run in a pass
        for call in nodes_in(method, nodes.Call):
            callee = call.func
            if isinstance(callee, nodes.Attribute) and callee.attrname == func.name and \
                    isinstance(callee.expr, nodes.Name) and callee.expr.name == "self":
                calls.append(call)
    if len(calls) != 1 or _enclosing_repeaters(calls[0], calls[0].frame()):
        return None
    caller = calls[0].frame()
    return _once_per_pass(caller, owner, walk, depth + 1) if isinstance(caller, nodes.FunctionDef) else None


def _called_explicitly(func: nodes.FunctionDef, walkers: list[ClassInfo], index) -> bool:
    """A class running this forward calls `self.forward(...)` or `super().forward(...)`: maybe several times."""
    for node in nodes_in(func.root(), nodes.Attribute):
        if node.attrname != func.name or not isinstance(node.parent, nodes.Call) or node.parent.func is not node:
            continue
        expr = node.expr
        if isinstance(expr, nodes.Name) and expr.name == "self" or \
                isinstance(expr, nodes.Call) and isinstance(expr.func, nodes.Name) and expr.func.name == "super":
            frame = node.frame()
            info = index.classes.get(frame.parent) if isinstance(frame, nodes.FunctionDef) else None
            if info is None or any(w in info.mro() for w in walkers):
                return True
    return False


def _enclosing_repeaters(node: nodes.NodeNG, func: nodes.FunctionDef) -> list[nodes.NodeNG]:
    """Loops and comprehensions of `func` that repeat `node` (not a loop's iterable or else clause)."""
    out = []
    child, parent = node, node.parent
    while parent is not None and parent is not func:
        if isinstance(parent, nodes.For) and child in parent.body:
            out.append(parent)
        elif isinstance(parent, nodes.While) and (child in parent.body or child is parent.test):
            out.append(parent)
        elif isinstance(parent, nodes.Comprehension) and child is not parent.iter:
            out.append(parent.parent)  # its `if` clauses run per element
        elif isinstance(parent, (nodes.ListComp, nodes.SetComp, nodes.GeneratorExp, nodes.DictComp)) \
                and not isinstance(child, nodes.Comprehension):
            out.append(parent)
        elif isinstance(parent, nodes.Comprehension) and child is parent.iter and parent is not \
                parent.parent.generators[0]:
            out.append(parent.parent)  # a later clause's iterable runs per element of the earlier ones
        child, parent = parent, parent.parent
    unique = []
    for loop in out:
        if loop not in unique:
            unique.append(loop)
    return unique


def _slot(target, iterable, body, owner: ClassInfo, walk) -> Slot | str:
    shown = iterable.as_string()
    if len(shown) > 40:
        shown = shown[:37] + "..."
    dynamic = f"it runs once per element of {shown}, a number not known before forward"
    if not isinstance(iterable, nodes.Call) or not isinstance(iterable.func, nodes.Name) or iterable.keywords:
        container = _container(iterable, owner, walk)
        if container is not None:
            return (f"it runs once per element of {shown}, but the loop has no position to index a module "
                    f"list with (write `for i, x in enumerate({shown})`)")
        return dynamic
    name, args = iterable.func.name, iterable.args
    if name == "range" and len(args) == 1 and isinstance(target, nodes.AssignName):
        count = _static_count(args[0], owner, walk)
        if count is None:
            return dynamic
        trip, reads = (count, ()) if isinstance(count, str) else (count.as_string(), (count,))
        position = target.name
    elif name == "enumerate" and len(args) == 1 and isinstance(target, nodes.Tuple) and target.elts \
            and isinstance(target.elts[0], nodes.AssignName):
        inner = args[0]
        zipped = inner.args if isinstance(inner, nodes.Call) and isinstance(inner.func, nodes.Name) and \
            inner.func.name == "zip" and inner.args and not inner.keywords else [inner]
        containers = [_container(arg, owner, walk) for arg in zipped]
        if None in containers:
            return dynamic
        lengths = [_length(c, owner) for c in dict.fromkeys(containers)]
        trip = lengths[0] if len(lengths) == 1 else f"min({', '.join(lengths)})"  # zip stops at the shortest
        reads = tuple(zipped)  # a container created under a condition guards the list too
        position = target.elts[0].name
    else:
        return dynamic
    own = {id(n) for n in [target, *nodes_in(target, nodes.AssignName)]}
    for stmt in body:
        for assigned in nodes_in(stmt, nodes.AssignName):
            if assigned.name == position and id(assigned) not in own:
                return f"the loop rebinds its position {position}"
    return Slot(position, trip, reads)


def _static_count(node: nodes.NodeNG, owner: ClassInfo, walk):
    """An int literal, `self.<constant>` or `len(self.<container>)`: known at the end of `__init__`."""
    if isinstance(node, nodes.Const) and type(node.value) is int and node.value >= 0:
        return str(node.value)
    if isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self":
        fact = owner.attrs.get(node.attrname)
        # `range()` takes only ints: whatever __init__ stored there (a literal, a parameter) is the count
        if fact is not None and fact.kind in (attrs.CONST, attrs.UNKNOWN) and _unchanged(owner, node.attrname, walk) \
                and all(not isinstance(v, nodes.Const) or type(v.value) is int for v in fact.values):
            return node
        return None
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name) and node.func.name == "len" and \
            len(node.args) == 1 and not node.keywords:
        container = _container(node.args[0], owner, walk)
        if container is None:
            return None
        return node if _length(container, owner) == f"len(self.{container})" else None
    return None


def _length(container: str, owner: ClassInfo) -> str:
    """The container's length at the end of `__init__`, 0 where it may be None (`loop_containers.py`)."""
    fact = owner.attrs[container]
    return f"len(self.{container} or ())" if may_be_none(fact.values) else f"len(self.{container})"


def _container(node: nodes.NodeNG, owner: ClassInfo, walk) -> str | None:
    """`self.blocks` (or `self.blocks.values()`...) holding modules, never reassigned in forward code."""
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) and not node.args and \
            node.func.attrname in _CONTAINER_VIEWS:
        node = node.func.expr
    if not (isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self"):
        return None
    fact = owner.attrs.get(node.attrname)
    if fact is None or fact.kind != attrs.CONTAINER or not _unchanged(owner, node.attrname, walk, shrinks=True):
        return None
    return node.attrname


def _unchanged(owner: ClassInfo, attr: str, walk, shrinks: bool = False) -> bool:
    """Assigned only in `__init__` (of the class or a same-file base), never in forward code.

    With `shrinks`, other methods may also make the container shorter (`loop_containers.py`).
    """
    if attr in walk.forward_assigned.get(owner, set()):
        return False
    fact = owner.attrs.get(attr)

    def in_init(node: nodes.NodeNG) -> bool:
        return isinstance(node.frame(), nodes.FunctionDef) and node.frame().name == "__init__"
    return fact is not None and all(in_init(v) or shrinks and never_longer(v, attr) for v in fact.values) and \
        all(in_init(v) for v in fact.elements)  # what `.append()`/`.extend()` adds to a container
