"""Forward code that reads a member's weight or bias metadata, and the dtype casts it feeds (torch-eager).

Real models ask a member for its parameters' dtype or device, and call it too:

    target_dtype = self.patch_embedding.weight.dtype          # transformers CLIP, ViT
    x = self.patch_embedding(pixel_values.to(dtype=target_dtype))
    device = self.token_projection.weight.device               # timm edgenext, xcit

After eager `convert`, a quantized Conv/Linear's `weight` and `bias` are METHODS (`weight()`
returns a quantized tensor), so `.weight.dtype` raises; and `x.to(dtype=float32)` on a
quantized activation raises too ("Creation of quantized tensor requires quantized dtype").
Keeping the member float (`qconfig = None`) would answer the read but not the cast, and it
would give up the member's quantization. So the read and the cast move instead, to two
small functions the fix generates into the user's file (plain torch, no import of ours):

    float_parameter(self.patch_embedding, "weight").dtype
    cast_unless_quantized(pixel_values, dtype=target_dtype)

Why both are safe (state_dict and float outputs unchanged): `float_parameter` returns
`module.<name>` itself unless that is callable, which a float module's parameter never is;
after convert it returns the dequantized weight: the same shape and device, and float32, the
dtype the quantized module stands for. `cast_unless_quantized` is `tensor.to(...)` unless the
tensor is quantized, which nothing is before `prepare`/`convert`; after convert a quantized
activation already is what the quantized member takes. Only casts to a dtype read from a
weight or bias are rewritten: their purpose is to match the member's parameters, which a
quantized activation of a quantized member does. A read of the weight's VALUES
(`F.linear(x, self.qkv.weight)`) is no metadata read: `qconfigs.py` handles it.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.class_facts import called_members
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.generated_helpers import CAST_HELPER, MARKER, READ_HELPER, helper_bound
from pylint_distiller.analysis.operands import bindings
from pylint_distiller.analysis.operands import float_parameter as is_float_parameter
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.plans import Plan, Planner
from pylint_distiller.analysis.syntax import is_self_attr
from pylint_distiller.findings import Applicability, Definition, Fix

#: tensor attributes and methods a dequantized weight answers as the float one did
METADATA_ATTRS = frozenset(("dtype", "device", "shape", "ndim", "is_cuda"))
METADATA_METHODS = frozenset(("size", "dim", "numel", "get_device"))
PARAMETERS = ("weight", "bias")

_READ_LINES = (
    f"def {READ_HELPER}(module, name):",
    '    """`module.<name>` (a weight or bias) as a float tensor, also after eager quantization.',
    "",
    "    After convert a quantized Conv/Linear's weight and bias are methods and the weight is a",
    "    quantized tensor, so `.weight.dtype` or `.weight.device` fails. Before convert this is",
    "    `module.<name>` itself; after, the dequantized tensor (same shape and device, float32).",
    "",
    f"    {MARKER}",
    '    """',
    "    value = getattr(module, name)",
    "    if not callable(value):",
    "        return value",
    "    value = value()",
    '    return value.dequantize() if getattr(value, "is_quantized", False) else value',
)
_CAST_LINES = (
    f"def {CAST_HELPER}(tensor, *args, **kwargs):",
    '    """`tensor.to(*args, **kwargs)` (a cast to a parameter\'s dtype), but a quantized tensor as it is.',
    "",
    "    After eager quantization an activation is a quantized tensor, which `.to(<float dtype>)`",
    "    rejects and the quantized module that takes it needs as it is. Before convert nothing is",
    "    quantized, so this is `tensor.to(...)`.",
    "",
    f"    {MARKER}",
    '    """',
    '    if getattr(tensor, "is_quantized", False):',
    "        return tensor",
    "    return tensor.to(*args, **kwargs)",
)


def metadata_read(node: nodes.Attribute) -> bool:
    """`<x>.weight` whose `.dtype`/`.device`/`.shape` (or `.size()`, `.dim()`) is read, not its values."""
    parent = node.parent
    if not isinstance(parent, nodes.Attribute) or parent.expr is not node:
        return False
    if parent.attrname in METADATA_ATTRS:
        return True
    return parent.attrname in METADATA_METHODS and isinstance(parent.parent, nodes.Call) \
        and parent.parent.func is parent


def _self_chain(node: nodes.NodeNG) -> bool:
    """`self.a` or `self.a.b...`: a member (or a member's member)."""
    if not isinstance(node, nodes.Attribute):
        return False
    while isinstance(node, nodes.Attribute):
        node = node.expr
    return isinstance(node, nodes.Name) and node.name == "self"


def _weight_of(node: nodes.NodeNG) -> nodes.Attribute | None:
    """The `self.<chain>.weight` of a metadata read, else None."""
    if isinstance(node, nodes.Attribute) and node.attrname in PARAMETERS and _self_chain(node.expr) \
            and metadata_read(node):
        return node
    return None


def value_read_of_called(node: nodes.NodeNG, called: set[str]) -> bool:
    """`self.qkv.weight` as a value (`F.linear(x, self.qkv.weight, bias)`) of a member forward also calls.

    The member cannot stay float (its own calls would then get quantized input), so the read
    goes through `float_parameter()`: the parameter itself before convert, the dequantized
    weight after (timm eva, beit, swinv2 choose between `self.qkv(x)` and `F.linear` on a flag).
    """
    return isinstance(node, nodes.Attribute) and node.attrname in PARAMETERS and not metadata_read(node) \
        and is_self_attr(node.expr) and node.expr.attrname in called


def _reaching(node: nodes.NodeNG) -> nodes.NodeNG:
    """The value a local name holds at `node` in straight-line code: its last binding before, when that
    and `node`'s statement are both in the function's own body (`pos = ...; pos.to(d)`); else `node`."""
    func = node.frame()
    if not isinstance(node, nodes.Name) or not isinstance(func, nodes.FunctionDef) \
            or node.statement().parent is not func:
        return node
    before = [b for b in func.locals.get(node.name, ()) if b.lineno < node.lineno]
    last = max(before, key=lambda b: (b.lineno, b.col_offset), default=None)
    assign = last.parent if last is not None else None
    if isinstance(assign, nodes.Assign) and assign.targets == [last] and assign.parent is func \
            and all(b.statement().parent is func for b in before):
        return assign.value
    return node


class WeightReadPlanner:
    """Findings for metadata reads of members' parameters and the casts to their dtype."""

    def __init__(self, planner: Planner) -> None:
        self.p = planner
        self.pos = planner.pos
        self.module = planner.index.module

    def findings(self, info: ClassInfo) -> list[tuple[nodes.NodeNG, str, Plan]]:
        out = []
        called = called_members(info)
        for method in info.node.mymethods():
            if method.name == "__init__":
                continue
            for node in nodes_in(method, (nodes.Attribute, nodes.Call)):
                if isinstance(node, nodes.Attribute):
                    weight = _weight_of(node)
                    if weight is not None:
                        out.append(self._read(info, weight))
                    elif value_read_of_called(node, called):
                        out.append(self._value_read(info, node))
                elif self._weight_cast(node, info):
                    out.append(self._cast(info, node))
        return out

    # ------------------------------------------------------------ reads
    def _read(self, info: ClassInfo, weight: nodes.Attribute) -> tuple[nodes.NodeNG, str, Plan]:
        shown = weight.parent.as_string()
        message = (f"forward reads {shown}: after convert a quantized module's {weight.attrname} is a method, so "
                   f"this fails; {READ_HELPER}({weight.expr.as_string()}, \"{weight.attrname}\") reads the same "
                   f"tensor before convert and the dequantized one after")
        template = f'{READ_HELPER}({{0}}, "{weight.attrname}")'
        return weight, message, self._plan(info, weight, template, (weight.expr,), READ_HELPER, _READ_LINES,
                                           f"Read {shown} through {READ_HELPER}()")

    def _value_read(self, info: ClassInfo, weight: nodes.Attribute) -> tuple[nodes.NodeNG, str, Plan]:
        shown = weight.as_string()
        message = (f"forward reads {shown}, and also calls {weight.expr.as_string()} as a module: after convert a "
                   f"quantized module's {weight.attrname} is a method; {READ_HELPER}({weight.expr.as_string()}, "
                   f"\"{weight.attrname}\") is the same tensor before convert and the dequantized one after")
        template = f'{READ_HELPER}({{0}}, "{weight.attrname}")'
        return weight, message, self._plan(info, weight, template, (weight.expr,), READ_HELPER, _READ_LINES,
                                           f"Read {shown} through {READ_HELPER}()")

    # ------------------------------------------------------------ casts
    def _weight_cast(self, call: nodes.Call, info: ClassInfo) -> bool:
        """`x.to(<a weight's dtype>)` on a value that is not a float parameter."""
        func = call.func
        if not (isinstance(func, nodes.Attribute) and func.attrname == "to") or not (call.args or call.keywords):
            return False
        if any(isinstance(a, nodes.Starred) for a in call.args) or any(k.arg is None for k in call.keywords or ()):
            return False
        if is_float_parameter(_reaching(func.expr), info):
            return False  # a parameter (or a tensor built from numbers) is never quantized: the cast runs as it did
        values = list(call.args) + [k.value for k in call.keywords or () if k.arg == "dtype"]
        return any(self._weight_dtype(v) for v in values)

    def _weight_dtype(self, node: nodes.NodeNG, depth: int = 0) -> bool:
        """`self.<chain>.weight.dtype` (or its helper form), or a local bound only to one."""
        if isinstance(node, nodes.Attribute) and node.attrname == "dtype":
            expr = node.expr
            if _weight_of(expr) is not None:
                return True
            return isinstance(expr, nodes.Call) and isinstance(expr.func, nodes.Name) \
                and expr.func.name == READ_HELPER and bool(expr.args) and _self_chain(expr.args[0])
        if isinstance(node, nodes.Name) and depth < 4:
            values = bindings(node) or ()
            return bool(values) and all(self._weight_dtype(v, depth + 1) for v in values)
        return False

    def _cast(self, info: ClassInfo, call: nodes.Call) -> tuple[nodes.NodeNG, str, Plan]:
        receiver = call.func.expr
        message = (f"{call.as_string()[:80]} casts an activation to a weight's dtype: after convert the activation is "
                   f"a quantized tensor, which .to(<float dtype>) rejects and the quantized module needs as it is")
        parts = list(call.args) + list(call.keywords or ())
        first, last = self.pos.span(parts[0]), self.pos.span(parts[-1])
        arguments = (first[0], first[1], last[2], last[3])
        template = f"{CAST_HELPER}({{0}}, {{1}})"
        return call, message, self._plan(info, call, template, (receiver, arguments), CAST_HELPER, _CAST_LINES,
                                         f"Cast through {CAST_HELPER}()")

    # ------------------------------------------------------------ the fix
    def _plan(self, info, node, template, holes, helper, lines, title) -> Plan:
        suggestion = f"{helper}()"
        bound = helper_bound(self.module, helper)
        if bound == "taken":
            return Plan(suggestion, None, f"this file binds {helper} to something else (manual)")
        spans = tuple(h if isinstance(h, tuple) else self.pos.span(h) for h in holes)
        span = self.pos.span(node)
        if self.pos.has_comment(span, list(spans)):
            return Plan(suggestion, None, "the expression holds comments the rewrite would drop (manual)")
        definitions = () if bound == "ours" else (Definition(helper, lines),)
        fix = Fix(title=title, applicability=Applicability.SAFE, span=span, template=template, holes=spans,
                  class_lines=(info.node.lineno,), definitions=definitions)
        return Plan(suggestion, fix)
