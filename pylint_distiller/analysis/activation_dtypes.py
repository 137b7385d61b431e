"""An activation's dtype used to build a tensor that is no activation (a mask), torch-eager.

transformers' Swin builds its shifted-window attention mask in the activation's dtype:

    attn_mask = self.get_attn_mask(height_pad, width_pad, dtype=hidden_states.dtype, device=...)
    ...
    def get_attn_mask(self, height, width, dtype, device):
        h_idx = torch.arange(height, device=device)
        ...
        img_mask = (h_region[None, :, None, None] * 3 + w_region[None, None, :, None]).to(dtype)

After eager `convert` the activation is a quantized tensor and `hidden_states.dtype` is
`torch.quint8`; a tensor built from numbers cannot take a quantized dtype (`.to(torch.quint8)`
on a float tensor raises "empty_strided not supported on quantized tensors", `torch.zeros(...,
dtype=torch.quint8)` and `torch.finfo(torch.quint8)` raise too). The fix reads the dtype through
a generated helper, `float_dtype(hidden_states)`: `hidden_states.dtype` unless the tensor is
quantized, and then `torch.float32`, the dtype its `dequantize()` gives.

Why it is safe whatever the tensor is: the two reads differ only on a quantized tensor, and the
fix is given only where every use of the read is one that a quantized dtype always makes fail:
the `dtype=` of a torch factory (`torch.zeros`, `torch.full`, `torch.arange`...; not
`torch.empty`, which takes one), `torch.finfo`/`torch.iinfo`, or `.to(<dtype>)` of a tensor that
is never quantized (built from factories and numbers, a comparison's bool tensor, an
integer cast), directly, through a local (`dtype = x.dtype`), or through a parameter of a
method of the class or a function of the file whose every use is one of those. Where the
original runs, the rewritten code runs the same; where it fails, the rewritten code builds the
tensor in float.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.arguments import bind_to
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.generated_helpers import MARKER, helper_bound
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.operands import bindings
from pylint_distiller.analysis.plans import Plan, Planner
from pylint_distiller.findings import Applicability, Definition, Fix

HELPER = "float_dtype"
#: torch factories that reject a quantized dtype (measured, torch 2.14; `torch.empty` takes one)
FACTORIES = frozenset(("zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn", "tensor"))
#: torch factories whose result is a new tensor from numbers and shapes (never from an activation's values)
#: (not `torch.empty`, which takes a quantized dtype, nor `torch.tensor`, which copies a tensor argument)
BUILDERS = frozenset(("zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn"))
#: torch functions of a dtype that reject a quantized one
DTYPE_INFO = frozenset(("finfo", "iinfo"))
#: tensor methods whose result is never a quantized tensor (an integer or bool cast)
NON_QUANTIZED_CASTS = frozenset(("long", "int", "bool", "short", "byte", "char"))
_DEPTH = 8

LINES = (
    f"def {HELPER}(tensor):",
    '    """`tensor.dtype`, or torch.float32 for a quantized tensor: the dtype to build a float tensor (a mask) in.',
    "",
    "    After eager quantization an activation is a quantized tensor whose dtype (torch.quint8) no",
    "    tensor built from numbers can take. Before convert nothing is quantized, so this is",
    "    `tensor.dtype`.",
    "",
    f"    {MARKER}",
    '    """',
    "    import torch",
    "",
    '    return torch.float32 if getattr(tensor, "is_quantized", False) else tensor.dtype',
)


class DtypeReadPlanner:
    """Findings for `x.dtype` reads whose every use builds or casts a tensor that is never quantized."""

    def __init__(self, planner: Planner) -> None:
        self.p = planner
        self.pos = planner.pos
        self.module = planner.index.module
        self.imports = planner.index.imports

    def findings(self, info: ClassInfo) -> list[tuple[nodes.NodeNG, str, Plan]]:
        out = []
        for method in info.node.mymethods():
            if method.name == "__init__":
                continue
            for node in nodes_in(method, nodes.Attribute):
                if node.attrname == "dtype" and not _member_chain(node.expr) and not _parameter_of(node.expr) \
                        and self._uses_build(node, info, 0):
                    out.append((node, self._message(node), self._plan(info, node)))
        return out

    # ------------------------------------------------------------ uses
    def _uses_build(self, value: nodes.NodeNG, info: ClassInfo, depth: int) -> bool:
        """Does every use of the dtype `value` (an expression where it is used) build a never-quantized tensor?"""
        if depth > _DEPTH:
            return False
        parent = value.parent
        if isinstance(parent, nodes.Keyword):
            call, keyword = parent.parent, parent.arg
            if not isinstance(call, nodes.Call) or keyword is None:
                return False
            return keyword == "dtype" and (self._factory(call) or self._cast(call, value)) \
                or self._passed(call, value, info, depth)
        if isinstance(parent, nodes.Call) and value in parent.args:
            return self._dtype_info(parent) or self._cast(parent, value) or self._passed(parent, value, info, depth)
        if isinstance(parent, nodes.Assign) and parent.value is value and len(parent.targets) == 1 \
                and isinstance(parent.targets[0], nodes.AssignName):
            return self._name_uses(parent.targets[0].name, parent.frame(), info, depth)
        return False

    def _name_uses(self, name: str, func: nodes.NodeNG, info: ClassInfo, depth: int) -> bool:
        """Every read of local or parameter `name` in `func` builds a never-quantized tensor (and there is one)."""
        if not isinstance(func, nodes.FunctionDef):
            return False
        reads = [n for n in nodes_in(func, nodes.Name) if n.name == name]
        if any(n.frame() is not func for n in reads):
            return False  # a nested function or lambda reads it too (a closure): its uses are not followed
        return bool(reads) and all(self._uses_build(n, info, depth + 1) for n in reads)

    def _factory(self, call: nodes.Call) -> bool:
        name = self.imports.qualify(call.func) or ""
        return name.startswith("torch.") and name.count(".") == 1 and name[6:] in FACTORIES

    def _dtype_info(self, call: nodes.Call) -> bool:
        name = self.imports.qualify(call.func) or ""
        return name.startswith("torch.") and name[6:] in DTYPE_INFO and len(call.args) == 1

    def _cast(self, call: nodes.Call, value: nodes.NodeNG) -> bool:
        """`<never-quantized tensor>.to(value)` or `.to(..., dtype=value)`."""
        func = call.func
        if not (isinstance(func, nodes.Attribute) and func.attrname == "to"):
            return False
        if value in call.args and call.args.index(value) != 0:
            return False
        return _never_quantized(func.expr, self.imports, 0)

    def _passed(self, call: nodes.Call, value: nodes.NodeNG, info: ClassInfo, depth: int) -> bool:
        """`self.method(..., dtype=value)` / `helper(value)`: the callee's parameter has only building uses."""
        callee = self._callee(call, info)
        bound = bind_to(call, callee) if callee is not None else None
        params = [name for name, arg in (bound or {}).items() if arg is value]
        if len(params) != 1:
            return False
        binding = callee.locals.get(params[0], ())
        if len(binding) != 1 or not isinstance(binding[0].parent, nodes.Arguments):
            return False  # reassigned in the callee
        return self._name_uses(params[0], callee, info, depth)

    def _callee(self, call: nodes.Call, info: ClassInfo) -> nodes.FunctionDef | None:
        func = call.func
        if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self":
            methods = [m for m in info.node.mymethods() if m.name == func.attrname]
            found = methods[0] if len(methods) == 1 else None
            return found if found is not None and not found.decorators else None
        if isinstance(func, nodes.Name):
            bound = self.module.locals.get(func.name, ())
            if len(bound) == 1 and isinstance(bound[0], nodes.FunctionDef) and bound[0].parent is self.module \
                    and not bound[0].decorators and func.lookup(func.name)[0] is self.module:
                return bound[0]
        return None

    # ------------------------------------------------------------ the finding
    @staticmethod
    def _message(node: nodes.Attribute) -> str:
        tensor = node.expr.as_string()
        return (f"{node.as_string()} is used to build a tensor that is never quantized (a mask, a cast of numbers): "
                f"after convert an activation's dtype is torch.quint8, which such a tensor cannot take, so this "
                f"fails; {HELPER}({tensor}) is the same dtype before convert and torch.float32 after")

    def _plan(self, info: ClassInfo, node: nodes.Attribute) -> Plan:
        suggestion = f"{HELPER}()"
        bound = helper_bound(self.module, HELPER)
        if bound == "taken":
            return Plan(suggestion, None, f"this file binds {HELPER} to something else (manual)")
        span, hole = self.pos.span(node), self.pos.span(node.expr)
        if self.pos.has_comment(span, [hole]):
            return Plan(suggestion, None, "the expression holds comments the rewrite would drop (manual)")
        fix = Fix(title=f"Read {node.as_string()} through {HELPER}()", applicability=Applicability.SAFE, span=span,
                  template=f"{HELPER}({{0}})", holes=(hole,), class_lines=(info.node.lineno,),
                  definitions=() if bound == "ours" else (Definition(HELPER, LINES),))
        return Plan(suggestion, fix)


def _parameter_of(node: nodes.NodeNG) -> bool:
    """`<module>.weight` / `.bias`: a float parameter (a method after convert, which no helper answers)."""
    return isinstance(node, nodes.Attribute) and node.attrname in ("weight", "bias")


def _member_chain(node: nodes.NodeNG) -> bool:
    """`self.a` or `self.a.b...`: a member's parameter or buffer (float; `weight_reads.py` handles weights)."""
    if not isinstance(node, nodes.Attribute):
        return isinstance(node, nodes.Name) and node.name == "self"
    while isinstance(node, nodes.Attribute):
        node = node.expr
    return isinstance(node, nodes.Name) and node.name == "self"


def _never_quantized(node: nodes.NodeNG, imports, depth: int) -> bool:
    """A value that is never a quantized tensor, also after convert (a float or bool tensor, or a number)."""
    return _kind(node, imports, depth) is not None


def _kind(node: nodes.NodeNG, imports, depth: int) -> str | None:
    """"tensor" for a tensor that is never quantized, "number" for a value never quantized that may be
    no tensor, None when it may be a quantized tensor.

    Never quantized: numbers; a torch factory's result; a comparison (a bool tensor or a bool); an
    integer or bool cast; any other method of such a tensor (but `.to()`/`.type()`, which may take a
    quantized dtype) or a subscript of it; arithmetic with one such TENSOR operand (arithmetic mixing
    a float and a quantized tensor raises, so where it runs no operand is quantized); a local bound
    only to such values.
    """
    if depth > _DEPTH:
        return None
    if isinstance(node, nodes.Const):
        return "number"
    if isinstance(node, nodes.Compare):
        operands = [node.left, *(right for _, right in node.ops)]
        return "tensor" if any(_kind(o, imports, depth + 1) == "tensor" for o in operands) else "number"
    if isinstance(node, nodes.Subscript):
        return _kind(node.value, imports, depth + 1)
    if isinstance(node, nodes.UnaryOp):
        return _kind(node.operand, imports, depth + 1)
    if isinstance(node, nodes.BinOp):
        kinds = {_kind(node.left, imports, depth + 1), _kind(node.right, imports, depth + 1)}
        return "tensor" if "tensor" in kinds else "number" if kinds == {"number"} else None
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute):
        name = imports.qualify(node.func) or ""
        if name.startswith("torch."):
            return "tensor" if name.count(".") == 1 and name[6:] in BUILDERS else None
        if node.func.attrname in NON_QUANTIZED_CASTS:
            return "tensor"
        if node.func.attrname in ("to", "type"):
            return None
        return "tensor" if _kind(node.func.expr, imports, depth + 1) == "tensor" else None
    if isinstance(node, nodes.Name):
        values = bindings(node)
        kinds = {_kind(v, imports, depth + 1) for v in values or ()}
        if not kinds or None in kinds:
            return None
        return "tensor" if kinds == {"tensor"} else "number"
    return None
