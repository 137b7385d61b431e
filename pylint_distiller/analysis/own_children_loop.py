"""Children a class's own forward runs in a row: `for name, module in self.items(): x = module(x)`.

torchvision's `IntermediateLayerGetter` holds every detection and segmentation backbone this way:
a ResNet's stem `conv1 -> bn1 -> relu` become its direct children, and its forward loops over
them, keeping the outputs `return_layers` names. No member call shows the chain, so the static
chains miss it; FX traces through the loop and fuses it. Left unfused, the stem's BatchNorm is
its own quantized op with its own requantization (fcn_resnet50: the stem conv's scale is 0.58x
FX's).

The generated `fuse_model()` then fuses the runs of the class's children by exact run-time type
(`runtime_fusion.fuse_by_type`). A child whose output the loop also reads (`if name in
self.return_layers: out[...] = x`) ends a run: fusion keeps the value at the END of a run (the
fused module's output), not the values inside it, which become `nn.Identity` outputs.

Recognised only where nothing else can see those inner values: the loop is a statement of
forward, its first statement is `x = module(x)`, every other statement that reads `x` is an
`if <name> in <self...>:` whose names end runs, no `break`/`continue`/`return` leaves it, and no
other method iterates the children.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.fusion_chain import Chain
from pylint_distiller.analysis.runtime_fusion import LONGEST_FIRST
from pylint_distiller.analysis.syntax import own_method

#: `self.<method>()` calls that iterate the children in order, and whether they yield (name, module)
_ITERATORS = {"items": True, "named_children": True, "children": False, "values": False}
_NOT_CHILDREN_READERS = ("__init__", "forward", "fuse_model")


def own_children_chains(info: ClassInfo) -> list[Chain]:
    """The class's own children as one run-time-typed chain, when its forward runs them in a row."""
    found = own_children_loop(info)
    if found is None:
        return []
    loop, ends = found
    return [Chain(("",), LONGEST_FIRST[0], (loop,), True, scan=tuple(LONGEST_FIRST), by_type=True,
                  own_children=True, ends=ends)]


def own_children_loop(info: ClassInfo) -> tuple[nodes.For, str | None] | None:
    """(the loop, the expression naming the children whose outputs it also reads, or None)."""
    forward = own_method(info.node, "forward")
    if forward is None or _children_read_elsewhere(info):
        return None
    for stmt in forward.body:
        if isinstance(stmt, nodes.For):
            found = _chain_loop(stmt)
            if found is not None:
                return stmt, found[0]
    return None


def _iterated(loop: nodes.For) -> tuple[str | None, str] | None:
    """(the name variable or None, the module variable) of a loop over the class's own children."""
    it, target = loop.iter, loop.target
    pairs: bool | None = None
    if isinstance(it, nodes.Name) and it.name == "self":
        pairs = False
    elif isinstance(it, nodes.Call) and not it.args and not it.keywords and isinstance(it.func, nodes.Attribute):
        owner = it.func.expr
        on_self = isinstance(owner, nodes.Name) and owner.name == "self"
        on_modules = (isinstance(owner, nodes.Attribute) and owner.attrname == "_modules"
                      and isinstance(owner.expr, nodes.Name) and owner.expr.name == "self")
        if on_self and it.func.attrname in _ITERATORS:
            pairs = _ITERATORS[it.func.attrname]
        elif on_modules and it.func.attrname in ("items", "values"):
            pairs = it.func.attrname == "items"
    if pairs is None:
        return None
    if pairs and isinstance(target, nodes.Tuple) and len(target.elts) == 2 \
            and all(isinstance(e, nodes.AssignName) for e in target.elts):
        return target.elts[0].name, target.elts[1].name
    if not pairs and isinstance(target, nodes.AssignName):
        return None, target.name
    return None


def _chain_loop(loop: nodes.For) -> tuple[str | None] | None:
    iterated = _iterated(loop)
    if iterated is None or loop.orelse or not loop.body:
        return None
    name, module = iterated
    first = loop.body[0]
    if not (isinstance(first, nodes.Assign) and len(first.targets) == 1
            and isinstance(first.targets[0], nodes.AssignName) and isinstance(first.value, nodes.Call)):
        return None
    value, call = first.targets[0].name, first.value
    if not (isinstance(call.func, nodes.Name) and call.func.name == module and not call.keywords
            and len(call.args) == 1 and isinstance(call.args[0], nodes.Name) and call.args[0].name == value):
        return None
    if any(True for _ in loop.nodes_of_class((nodes.Break, nodes.Continue, nodes.Return, nodes.Yield))):
        return None
    ends: str | None = None
    for stmt in loop.body[1:]:
        names = {n.name for n in stmt.nodes_of_class((nodes.Name, nodes.AssignName))}
        if module in names:
            return None
        if value not in names:
            continue
        guard = _end_guard(stmt, name, value)
        if guard is None or ends not in (None, guard):
            return None
        ends = guard
    return (ends,)


def _end_guard(stmt: nodes.NodeNG, name: str | None, value: str) -> str | None:
    """`self.return_layers` for `if name in self.return_layers: <reads value>` (nothing else)."""
    if name is None or not isinstance(stmt, nodes.If) or stmt.orelse:
        return None
    test = stmt.test
    if not (isinstance(test, nodes.Compare) and isinstance(test.left, nodes.Name) and test.left.name == name
            and len(test.ops) == 1 and test.ops[0][0] == "in"):
        return None
    container = test.ops[0][1]
    if any(n.name != "self" for n in container.nodes_of_class(nodes.Name)) or value in {
            n.name for n in container.nodes_of_class(nodes.Name)}:
        return None  # a local: fuse_model() cannot evaluate it
    if any(n.name == value for n in stmt.nodes_of_class(nodes.AssignName)):
        return None  # the loop's value rebound: the next child would read something else
    return container.as_string()


def _children_read_elsewhere(info: ClassInfo) -> bool:
    """Another method iterates or indexes the children (it could see the values fusion changes)."""
    for node in info.node.body:
        if not isinstance(node, nodes.FunctionDef) or node.name in _NOT_CHILDREN_READERS:
            continue
        for attr in node.nodes_of_class(nodes.Attribute):
            if isinstance(attr.expr, nodes.Name) and attr.expr.name == "self" \
                    and (attr.attrname in _ITERATORS or attr.attrname == "_modules"):
                return True
        for loop in node.nodes_of_class((nodes.For, nodes.Comprehension)):
            if isinstance(loop.iter, nodes.Name) and loop.iter.name == "self":
                return True
        if any(isinstance(sub.value, nodes.Name) and sub.value.name == "self"
               for sub in node.nodes_of_class(nodes.Subscript)):
            return True
    return False
