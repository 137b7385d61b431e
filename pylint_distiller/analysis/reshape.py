"""`.view` of an activation becomes `.reshape` for the torch-eager target.

x86 quantized convolutions return channels_last tensors, so `x.view(n, -1)` on
their output fails after `convert` (measured: `eager_support.VIEW_AFTER_QUANTIZED_CONV`),
while `.reshape` and `torch.flatten` work.

Why the fix is safe where it is offered: `reshape` returns a view, sharing storage
exactly as `view` does, whenever `view` would succeed; it copies only where `view`
raises. So wherever the original runs (the float model, every working path), the
rewritten code computes and aliases the same tensors. The one place the two differ
is the place the original crashed: a quantized channels_last tensor, where
`reshape` copies. There an in-place write through the result or the source would
no longer reach the other, so the quantized model would silently compute
something else than the float one. The fix is therefore offered only where that
cannot happen: the source tensor has no other live name (a temporary such as
`self.pool(x).view(n, -1)`, or `x = x.view(...)` over a tensor only `x` holds), or
the function writes nothing in place after the view. Elsewhere: no fix, and the
message says why. `view(dtype)` reinterprets bits and has no reshape form: not
reported.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.operands import float_parameter
from pylint_distiller.analysis.sites import OpSite
from pylint_distiller.analysis.plans import Plan, fresh_name
from pylint_distiller.findings import Applicability, Fix

VIEWS = {"Tensor.view": "reshape", "Tensor.view_as": "reshape_as"}
_ALIASING = ("it is not provably free of in-place writes after the view: where reshape copies (a quantized "
             "channels_last tensor), such a write would no longer reach both tensors (manual)")


def _inplace_member(call: nodes.Call, owner) -> bool:
    """`self.relu(z)` where `self.relu = nn.ReLU(inplace=True)` (or a member we cannot see into)."""
    func = call.func
    if owner is None or not (isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name)
                             and func.expr.name == "self"):
        return False
    fact = owner.attrs.get(func.attrname)
    if fact is None or fact.kind not in (attrs.MODULE, attrs.CONTAINER):
        return False
    for value in fact.values:
        if not isinstance(value, nodes.Call):
            return True
        for kw in value.keywords or ():
            if kw.arg == "inplace" and not (isinstance(kw.value, nodes.Const) and kw.value.value is False):
                return True
        if fact.kind == attrs.CONTAINER and any(kw.arg == "inplace" for kw in value.nodes_of_class(nodes.Keyword)):
            return True
    return False


def _inplace_after(func: nodes.NodeNG, line: int, owner, cache: dict) -> bool:
    """Does `func` write a tensor in place after `line` (`+=`, `y[i] = v`, `x.add_(...)`, `inplace=True`)?"""
    if func not in cache:
        cache[func] = max((n.lineno for n in func.nodes_of_class((nodes.AugAssign, nodes.Assign, nodes.Call,
                                                                    nodes.Keyword))
                           if n.lineno is not None and _writes_in_place(n, owner)), default=0)
    return cache[func] >= line


def _writes_in_place(node: nodes.NodeNG, owner) -> bool:
    if isinstance(node, nodes.AugAssign):
        return True
    if isinstance(node, nodes.Assign) and any(isinstance(t, nodes.Subscript) for t in node.targets):
        return True
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute):
        name = node.func.attrname
        if name.endswith("_") and not name.endswith("__") or _inplace_member(node, owner):
            return True
    return isinstance(node, nodes.Keyword) and node.arg == "inplace" and not (
        isinstance(node.value, nodes.Const) and node.value.value is False)


def _first_line_run(node: nodes.NodeNG) -> int:
    """The line from which code runs after `node`: in a loop, the whole loop runs again."""
    line, parent = node.lineno, node.parent
    while parent is not None and not isinstance(parent, (nodes.FunctionDef, nodes.Module)):
        if isinstance(parent, (nodes.For, nodes.While)):
            line = parent.lineno
        parent = parent.parent
    return line


def _sole_holder(node: nodes.Call) -> bool:
    """Does nothing but this view see the source tensor afterwards?"""
    source = node.func.expr
    if isinstance(source, (nodes.Call, nodes.BinOp)):
        return True  # a temporary: `self.pool(x).view(n, -1)`
    statement = node.parent
    if not (isinstance(source, nodes.Name) and isinstance(statement, nodes.Assign) and statement.value is node
            and len(statement.targets) == 1 and isinstance(statement.targets[0], nodes.AssignName)
            and statement.targets[0].name == source.name):
        return False
    # `x = x.view(...)`: the old x must be a tensor nobody else holds (as `out += y` requires)
    return fresh_name(node.frame(), source.name, statement)


def plan_view(site: OpSite, pos, cache: dict) -> Plan | None:
    """The `.reshape` plan for one `.view` site (None: not an activation view, nothing to report)."""
    node = site.node
    if not isinstance(node, nodes.Call) or not isinstance(node.func, nodes.Attribute) or not site.kinds:
        return None
    if site.kinds[0] != K.TENSOR or K.OTHER in site.kinds[1:]:
        return None  # not an activation, or `view(dtype)`
    if float_parameter(node.func.expr, site.owner):
        return None  # `self.gamma.view(1, -1, 1, 1)`: a parameter is never a quantized conv's output
    method = VIEWS[site.spec.key]
    if not _sole_holder(node) and _inplace_after(node.frame(), _first_line_run(node), site.owner, cache):
        return Plan(f".{method}()", None, _ALIASING)
    func = node.func
    start = pos.span(func)
    # replace the method name only: `x.view(` -> `x.reshape(`
    span = (start[2], start[3] - len(func.attrname), start[2], start[3])
    fix = Fix(title=f"Use .{method}(), the same view wherever .{func.attrname}() works",
              applicability=Applicability.SAFE, span=span, template=method)
    return Plan(f".{method}()", fix)
