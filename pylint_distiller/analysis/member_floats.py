"""A member module called with no input whose forward returns its own parameters: a float tensor.

transformers' SwinAttention reads its relative position bias as `self.relative_position_bias()`,
a `SwinRelativePositionBias` whose forward is `self.table[self.index].view(...).permute(...)`.
A module result is a quantized activation after convert only where the module computes on
one; a module fed nothing computes on its parameters and buffers alone. No quantized module
sits in such a leaf (eager prepare observes only the leaf module types it knows), so its
result is float before and after convert, and an island must take it as such (`aten::qscheme`
where the bias met quantized scores).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import boundaries
from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import operands as O
from pylint_distiller.analysis.classes import ClassInfo

_MAX_DEPTH = 12


def member_returns_float(call: nodes.Call, owner: ClassInfo, depth: int) -> bool:
    """`self.<member>()` where the member is built as a same-file class whose forward returns only
    values computed from that class's parameters and buffers (`operands.float_parameter`)."""
    func = call.func
    if call.args or call.keywords or depth > _MAX_DEPTH or not (
            isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self"):
        return False
    fact = owner.attrs.get(func.attrname)
    if fact is None or fact.kind != attrs.MODULE or not (fact.qname or "").startswith("local:"):
        return False
    name = fact.qname[len("local:"):]
    if not fact.values or not all(isinstance(v, nodes.Call) and isinstance(v.func, nodes.Name) and v.func.name == name
                                  for v in fact.values):
        return False  # (built as one class on every path)
    index = call.root().__dict__.get(boundaries.INDEX_ATTR)
    info = index.by_name.get(name) if index is not None else None
    if info is None or not info.is_module:
        return False
    forward = next((home.methods["forward"] for home in info.mro() if "forward" in home.methods), None)
    if forward is None or len(forward.args.arguments) != 1:
        return False  # (forward takes more than `self`)
    values = boundaries._returns(forward)
    return values is not None and all(O.float_parameter(v, info, depth + 1) for v in values)
