"""What an op's operands are, for the torch-eager islands: activations, float parameters, constants.

After `convert`, forward's inputs and module results are quantized activations, while a
module's parameters and buffers (and arithmetic on them alone) stay float tensors, and
Python numbers or plain attributes (`self.eps`) are no tensors at all. An island
dequantizes the activations only; an op on parameters alone needs nothing.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.sites import OpSite

QUANT_STUB = "torch.ao.quantization.QuantStub"
DEQUANT_STUB = "torch.ao.quantization.DeQuantStub"

#: methods that move or view a parameter without computing: `self.cls_token.expand(b, -1, -1)` is still it
_PARAM_VIEWS = frozenset(("expand", "expand_as", "view", "reshape", "unsqueeze", "squeeze", "permute", "transpose",
                          "flatten", "to", "type_as", "repeat", "contiguous", "view_as", "reshape_as", "t",
                          "clone", "detach", "float", "half"))


def _stub_qname(qname: str | None, stub: str) -> bool:
    """`torch.ao.quantization.QuantStub`, also spelled through `torch.quantization` or `.stubs`."""
    name = stub.rsplit(".", 1)[1]
    return bool(qname) and qname.startswith("torch.") and qname.rsplit(".", 1)[-1] == name


def is_stub_call(node: nodes.NodeNG, owner: ClassInfo | None, stub: str, imports) -> bool:
    """Is `node` a call of a member of `owner` built as `stub` (`self.sum_dequant(x)`)?"""
    if owner is None or not isinstance(node, nodes.Call) or len(node.args) != 1 or node.keywords:
        return False
    func = node.func
    if not (isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self"):
        return False
    fact = owner.attrs.get(func.attrname)
    return fact is not None and fact.kind == attrs.MODULE and bool(fact.values) and all(
        isinstance(v, nodes.Call) and _stub_qname(imports.qualify(v.func), stub) for v in fact.values)


def float_parameter(node: nodes.NodeNG, owner: ClassInfo | None, _depth: int = 0) -> bool:
    """A parameter or buffer of the module (or a view of one): float at run time, never quantized.

    A local name counts when its one binding in the function is such a value
    (`cls = self.cls_token.expand(n, -1, -1)`).
    """
    if owner is None or _depth > 12:
        return False
    if isinstance(node, nodes.Name):
        func = node.frame()
        bindings = list(func.locals.get(node.name, ())) if isinstance(func, nodes.FunctionDef) else []
        return len(bindings) == 1 and isinstance(bindings[0].parent, nodes.Assign) \
            and bindings[0].parent.targets == [bindings[0]] and bindings[0].lineno <= node.lineno \
            and float_parameter(bindings[0].parent.value, owner, _depth + 1)
    while True:
        if isinstance(node, nodes.Subscript):
            node = node.value
        elif isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) \
                and node.func.attrname in _PARAM_VIEWS:
            node = node.func.expr
        else:
            break
    if isinstance(node, nodes.BinOp):  # `w * (rv + self.eps).rsqrt()`: arithmetic on parameters only
        sides = [side for side in (node.left, node.right) if not constant(side, owner)]
        return bool(sides) and all(float_parameter(side, owner, _depth + 1) for side in sides)
    if isinstance(node, nodes.UnaryOp):
        return float_parameter(node.operand, owner, _depth + 1)
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) \
            and all(constant(a, owner) for a in node.args) \
            and all(constant(kw.value, owner) for kw in node.keywords or ()):
        return float_parameter(node.func.expr, owner, _depth + 1)  # `self.scale.exp()`, `(rv + eps).rsqrt()`
    if not isinstance(node, nodes.Attribute):
        return False
    expr = node.expr
    if isinstance(expr, nodes.Name) and expr.name == "self":
        fact = owner.attrs.get(node.attrname)
        return fact is not None and fact.kind == attrs.TENSOR
    if node.attrname in ("weight", "bias") and isinstance(expr, nodes.Attribute) \
            and isinstance(expr.expr, nodes.Name) and expr.expr.name == "self":
        fact = owner.attrs.get(expr.attrname)
        return fact is not None and fact.kind == attrs.MODULE
    return False


def constant(node: nodes.NodeNG, owner: ClassInfo) -> bool:
    """A Python number or a plain attribute (`1e-5`, `self.eps`): no activation and no parameter."""
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.UnaryOp):
        return constant(node.operand, owner)
    if isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self":
        fact = owner.attrs.get(node.attrname)  # set in __init__ from a number or an argument, never a tensor fact
        return fact is None or fact.kind not in (attrs.TENSOR, attrs.MODULE, attrs.CONTAINER)
    return False


class Operands:
    """The operands of an op site, with their kinds: what an island dequantizes."""

    def __init__(self, site: OpSite) -> None:
        self.items: list[tuple[nodes.NodeNG, str]] = []
        self.ok = True
        node, kinds = site.node, site.kinds
        if isinstance(node, nodes.BinOp):
            nodes_ = [node.left, node.right]
        elif isinstance(node, nodes.UnaryOp):
            nodes_ = [node.operand]
        elif isinstance(node, nodes.AugAssign):
            nodes_ = [node.target, node.value]
        elif isinstance(node, nodes.Call):
            nodes_ = list(node.args) + [kw.value for kw in node.keywords or ()]
            if site.spec.key.startswith("Tensor.") and isinstance(node.func, nodes.Attribute):
                nodes_ = [node.func.expr] + nodes_
        else:
            nodes_ = []
        if len(nodes_) != len(kinds) or not nodes_:
            self.ok = False
            return
        for operand, kind in zip(nodes_, kinds):
            if kind == K.TENSORS and isinstance(operand, (nodes.List, nodes.Tuple)):
                # torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1): every element is a tensor
                self.items += [(e, K.TENSOR) for e in operand.elts]
            else:
                self.items.append((operand, kind))

    def kinds(self) -> list[str]:
        return [k for _, k in self.items]


def dequantized(node: nodes.NodeNG, owner: ClassInfo | None, imports) -> bool:
    """A DeQuantStub member's result, or a view or cast of it (`(self.softmax_dequant(x)).to(d)`)."""
    while isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) \
            and node.func.attrname in _PARAM_VIEWS:
        node = node.func.expr
    return is_stub_call(node, owner, DEQUANT_STUB, imports)
