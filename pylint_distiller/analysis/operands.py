"""What an op's operands are, for the torch-eager islands: activations, float parameters, constants.

After `convert`, forward's inputs and module results are quantized activations, while a
module's parameters and buffers (and arithmetic on them alone) stay float tensors, and
Python numbers or plain attributes (`self.eps`) are no tensors at all. An island
dequantizes the activations only; an op on parameters alone needs nothing.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import boundaries
from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.float_built import forward_built, plain_argument
from pylint_distiller.analysis.generated_helpers import generated_read
from pylint_distiller.analysis.member_floats import member_returns_float
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.sites import OpSite
from pylint_distiller.analysis.syntax import is_self_attr, parameter_annotation, parameter_default

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


def is_quant_stub(fact) -> bool:
    """A member built as a QuantStub (`QuantStub()`, `tq.QuantStub()`): fed float on purpose, and its
    result is a quantized activation after convert."""
    name = QUANT_STUB.rsplit(".", 1)[1]
    return bool(fact.values) and all(
        isinstance(v, nodes.Call) and (v.func.name if isinstance(v.func, nodes.Name) else
                                       getattr(v.func, "attrname", None)) == name for v in fact.values)


def is_stub_call(node: nodes.NodeNG, owner: ClassInfo | None, stub: str, imports) -> bool:
    """Is `node` a call of a member of `owner` built as `stub` (`self.sum_dequant(x)`)?"""
    if owner is None or not isinstance(node, nodes.Call) or len(node.args) != 1 or node.keywords:
        return False
    func = node.func
    listed = isinstance(func, nodes.Subscript)  # `self.add_quants[i]`: one stub per loop iteration
    if listed:
        func = func.value
    if not (isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self"):
        return False
    fact = owner.attrs.get(func.attrname)
    if fact is None or fact.kind != (attrs.CONTAINER if listed else attrs.MODULE) or not fact.values:
        return False
    values = [_listed_element(v) for v in fact.values] if listed else fact.values
    return all(isinstance(v, nodes.Call) and _stub_qname(imports.qualify(v.func), stub) for v in values)


def _listed_element(value: nodes.NodeNG) -> nodes.NodeNG | None:
    """`QuantStub()` of `nn.ModuleList([QuantStub() for _ in range(n)])`."""
    if isinstance(value, nodes.Call) and len(value.args) == 1 and isinstance(value.args[0], nodes.ListComp):
        return value.args[0].elt
    return None


def bindings(name: nodes.Name) -> list[nodes.NodeNG] | None:
    """The values of every binding of a local name in its function, or None when one is not `name = value`.

    Every binding that can reach a use is among them, on whichever path runs; a parameter, a
    tuple target, a loop target, `+=` or `global` gives None.
    """
    func = name.frame()
    if not isinstance(func, nodes.FunctionDef) or name.name in func.argnames() \
            or name.name in getattr(func, "globals", {}):
        return None
    values = []
    for binding in func.locals.get(name.name, ()):
        assign = binding.parent
        if not (isinstance(binding, nodes.AssignName) and isinstance(assign, nodes.Assign)
                and assign.targets == [binding]):
            return None
        values.append(assign.value)
    return values or None


_LIST_READS = (nodes.If, nodes.While, nodes.IfExp, nodes.Assert)


def _float_list(name: nodes.Name, owner: ClassInfo, depth: int) -> bool:
    """A local list that only ever holds float parameters: `to_cat = []` filled by
    `to_cat.append(self.cls_token.expand(b, -1, -1))`, read by `to_cat + [x]`, `if to_cat:`.

    Every binding is a list or tuple display of such values, and every other use of the name
    in the function is an `append` of such a value, an `if`/`while` test, `not`, `len()` or
    one side of a `+` (which builds a new list): no call and no alias can put an activation
    into it.
    """
    values = bindings(name)
    if not values or not all(isinstance(v, (nodes.List, nodes.Tuple)) and all(
            not isinstance(e, nodes.Starred) and float_parameter(e, owner, depth + 1) for e in v.elts)
            for v in values):
        return False
    for use in nodes_in(name.frame(), nodes.Name):
        if use.name != name.name:
            continue
        if use.scope() is not name.frame():
            return False  # a nested function or comprehension could fill it
        parent = use.parent
        if isinstance(parent, nodes.Attribute) and parent.attrname == "append" \
                and isinstance(parent.parent, nodes.Call) and parent.parent.func is parent \
                and len(parent.parent.args) == 1 and not parent.parent.keywords:
            if not float_parameter(parent.parent.args[0], owner, depth + 1):
                return False
        elif isinstance(parent, nodes.BinOp) and parent.op == "+":
            continue
        elif isinstance(parent, _LIST_READS) and use is getattr(parent, "test", None) \
                or isinstance(parent, nodes.UnaryOp) and parent.op == "not" \
                or isinstance(parent, nodes.Call) and isinstance(parent.func, nodes.Name) \
                and parent.func.name == "len" and parent.args == [use]:
            continue
        else:
            return False
    return True


def float_parameter(node: nodes.NodeNG, owner: ClassInfo | None, _depth: int = 0,
                    _names: frozenset = frozenset()) -> bool:
    """A parameter or buffer of the module (or a view of one): float at run time, never quantized.

    A local name counts when every binding of it in the function is such a value
    (`cls = self.cls_token.expand(n, -1, -1)`; `pos_embed = self.pos_embed` on both paths of
    an `if`), or when it is a list that only ever holds such values (`_float_list`).
    """
    if owner is None or _depth > 24:
        return False
    if isinstance(node, nodes.Name):
        if node.name in _names:
            return True  # `bias = bias.view(n, n, -1)`: the name's other bindings decide
        values = bindings(node)
        if values and all(float_parameter(v, owner, _depth + 1, _names | {node.name}) for v in values):
            return True
        return _float_list(node, owner, _depth)
    node = strip_views(node)
    if isinstance(node, nodes.Name):  # `alpha[0]`, `gamma.view(1, -1, 1, 1)`: the name's bindings decide
        return float_parameter(node, owner, _depth + 1, _names)
    if forward_built(node, _module_name, bindings, lambda n: float_parameter(n, owner, _depth + 1, _names), _depth):
        return True  # `torch.zeros(shape).to(device)`: built from numbers in forward (`float_built.py`)
    if isinstance(node, nodes.BinOp):  # `w * (rv + self.eps).rsqrt()`: arithmetic on parameters only
        sides = [side for side in (node.left, node.right)
                 if not constant(side, owner) and not plain_argument(side, _module_name, bindings)]
        return bool(sides) and all(float_parameter(side, owner, _depth + 1, _names) for side in sides)
    if isinstance(node, nodes.UnaryOp):
        return float_parameter(node.operand, owner, _depth + 1, _names)
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) and not _on_self(node.func) \
            and all(constant(a, owner) for a in node.args) \
            and all(constant(kw.value, owner) for kw in node.keywords or ()):
        return float_parameter(node.func.expr, owner, _depth + 1, _names)  # `self.scale.exp()`, `(rv + eps).rsqrt()`
    if generated_read(node):
        return True  # `float_parameter(self.qkv, "weight")`: a parameter, dequantized after convert
    if isinstance(node, nodes.Call) and parameters_in(node, owner, _depth, _names):
        return True  # `torch.clamp(self.logit_scale, max=4.6)`, `self.cpb_mlp(self.coords_table)`
    if isinstance(node, nodes.Call) and member_returns_float(node, owner, _depth):
        return True  # `self.relative_position_bias()`: a member fed nothing returns its parameters
    if isinstance(node, nodes.Call):
        return boundaries.returns_float(node, owner, _depth)  # `self._get_rel_pos_bias()`, `_bias(self.table)`
    if not isinstance(node, nodes.Attribute):
        return False
    expr = node.expr
    if isinstance(expr, nodes.Name) and expr.name == "self":
        fact = owner.attrs.get(node.attrname)
        if fact is None:
            return boundaries.property_float(node, owner, _depth)
        return fact.kind == attrs.TENSOR or fact.kind == attrs.CONST and boundaries.float_cache(node, owner, _depth)
    if node.attrname in ("weight", "bias") and isinstance(expr, nodes.Attribute) \
            and isinstance(expr.expr, nodes.Name) and expr.expr.name == "self":
        fact = owner.attrs.get(expr.attrname)
        return fact is not None and fact.kind == attrs.MODULE
    return False


def _on_self(func: nodes.Attribute) -> bool:
    """`self.<name>`: a method or member of the module, not a method of a tensor."""
    return isinstance(func.expr, nodes.Name) and func.expr.name == "self"


def strip_views(node: nodes.NodeNG) -> nodes.NodeNG:
    """The tensor a chain of views and indexing reads: `self.table[idx].view(n, n, -1)` -> `self.table`."""
    while True:
        if isinstance(node, nodes.Subscript):
            node = node.value
        elif isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) \
                and node.func.attrname in _PARAM_VIEWS:
            node = node.func.expr
        else:
            return node


def parameters_in(call: nodes.Call, owner: ClassInfo, _depth: int = 0, _names: frozenset = frozenset()) -> bool:
    """A call that computes on float parameters and constants only, so its result is float too.

    * a torch function (`torch.sigmoid(self.bias_table)`, `F.normalize(self.w)`): not a
      method of a local and not of `self`;
    * a member module fed only parameters (`self.cpb_mlp(self.relative_coords_table)`):
      `qconfig_findings` keeps such a member float (`qconfig = None`), as a quantized module
      cannot take a float tensor.
    """
    args = list(call.args) + [kw.value for kw in call.keywords or ()]
    if not args or any(isinstance(a, nodes.Starred) for a in call.args) \
            or any(kw.arg is None for kw in call.keywords or ()):
        return False
    func = call.func
    if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self":
        fact = owner.attrs.get(func.attrname)
        if fact is None or fact.kind not in (attrs.MODULE, attrs.CONTAINER) or is_quant_stub(fact):
            return False  # (a QuantStub's result is a quantized activation after convert)
    elif not (isinstance(func, nodes.Attribute) and _module_name(func.expr)):
        return False
    tensors = [a for a in args if not constant(a, owner) and not _constant_call(a, owner)
               and not plain_argument(a, _module_name, bindings)]  # (`size=(h, w)` from `x.shape`)
    return bool(tensors) and all(float_parameter(a, owner, _depth + 1, _names) for a in tensors)


def _constant_call(node: nodes.NodeNG, owner: ClassInfo, _depth: int = 0) -> bool:
    """`math.log(1. / 0.01)`, `2 ** -0.5`: numbers, and module functions of numbers."""
    if _depth > 8:
        return False
    if isinstance(node, nodes.BinOp):
        return all(constant(side, owner) or _constant_call(side, owner, _depth + 1) for side in (node.left, node.right))
    return isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) and _module_name(node.func.expr) \
        and not node.keywords and all(constant(a, owner) or _constant_call(a, owner, _depth + 1) for a in node.args)


def _module_name(node: nodes.NodeNG) -> bool:
    """`torch`, `F`, `torch.nn.functional`: a name bound by an import, not a local or a parameter."""
    while isinstance(node, nodes.Attribute):
        node = node.expr
    if not isinstance(node, nodes.Name) or node.name == "self":
        return False
    _, bindings = node.lookup(node.name)
    return bool(bindings) and all(isinstance(b, (nodes.Import, nodes.ImportFrom)) for b in bindings)


def float_on_some_path(node: nodes.NodeNG, owner: ClassInfo | None, helper_module: bool = False) -> bool:
    """A value that is a float parameter on some path and may not be on others: a local name that
    some binding makes one (`pos_embed = self.pos_embed` on one path, `resample(...)` on another),
    an argument some caller passes one (`self.attn(x, mask=self.attn_mask)`), or a view of either
    (`boundaries.maybe_float`).

    Which one reaches is not known, so an island dequantizes it too: a DeQuantStub on a
    float tensor returns it unchanged (`Tensor.dequantize()` of a float tensor is itself).
    A module-level helper that takes the module (`eager_attention_forward(module, q, k, v, mask)`,
    `helper_module`) has no owner: its callers decide what its arguments are.
    """
    return (owner is not None or helper_module) and boundaries.maybe_float(node, owner)


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


def init_number(node: nodes.NodeNG, owner: ClassInfo | None) -> bool:
    """`self.scale`, set only in `__init__` from a number or from a parameter declared a number
    (`self.scale = scale` with `scale=0.17` or `scale: float`): a Python number as an operand.

    Its kind is unknown to the walk (a caller could pass anything), but it is set before any
    activation exists. As the other operand of `*`/`+` it takes FloatFunctional's scalar method:
    in float `mul_scalar` computes the same `torch.mul` as `mul`, and after convert a quantized
    `mul`/`add` needs two quantized tensors (timm's `out * self.scale + x` stopped PTQ).
    """
    if owner is None or not is_self_attr(node):
        return False
    fact = owner.attrs.get(node.attrname)
    if fact is None or fact.kind not in (attrs.CONST, attrs.UNKNOWN) or not fact.values:
        return False
    return all(_number_value(value) for value in fact.values)


def _number(node: nodes.NodeNG | None) -> bool:
    """An int or float literal (`0.17`, `-1`), not a bool."""
    if isinstance(node, nodes.UnaryOp):
        node = node.operand
    return isinstance(node, nodes.Const) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _number_value(value: nodes.NodeNG) -> bool:
    """A number literal, or an `__init__` parameter whose default is one or whose annotation is `float`/`int`."""
    if _number(value):
        return True
    func = value.frame()
    if not isinstance(value, nodes.Name) or not isinstance(func, nodes.FunctionDef) or func.name != "__init__" \
            or value.name not in func.argnames():
        return False
    note = parameter_annotation(func, value.name)
    if note is not None:
        return isinstance(note, nodes.Name) and note.name in ("float", "int")
    return _number(parameter_default(func, value.name))


def sequence_parts(node: nodes.NodeNG, owner: ClassInfo | None) -> list[nodes.NodeNG] | None:
    """The tensors of a sequence operand: the elements of a list or tuple display, and of each side
    of `a + b` where a side is a display or a list that only holds float parameters (kept whole).
    None when the sequence cannot be split so (`to_cat` filled by an unknown call, a `*rest`)."""
    if isinstance(node, (nodes.List, nodes.Tuple)):
        return list(node.elts)
    if isinstance(node, nodes.BinOp) and node.op == "+":
        left, right = sequence_parts(node.left, owner), sequence_parts(node.right, owner)
        return None if left is None or right is None else left + right
    if isinstance(node, nodes.Name) and owner is not None and _float_list(node, owner, 0):
        return [node]
    return None


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
            parts = sequence_parts(operand, site.owner) if kind == K.TENSORS else None
            if parts is not None:
                # torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1), torch.cat(to_cat + [x], dim=1):
                # every element is a tensor, and a float list's are float parameters
                self.items += [(e, K.TENSOR) for e in parts]
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
