"""Tensors forward code builds from nothing quantized: float at run time, like parameters (torch-eager).

timm's `PositionalEncodingFourier` (edgenext, xcit) computes a position grid from shape numbers:

    inv_mask = ~torch.zeros(shape).to(device=device, dtype=torch.bool)
    y_embed = inv_mask.cumsum(1, dtype=torch.float32)
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
    ...
    pos = self.token_projection(pos.to(dtype))
    return pos

No activation flows into any of it, so after `convert` every one of these tensors is a plain
float tensor. A `FloatFunctional` there fails (`quantized::add_scalar` on a float tensor), and
so does a quantized conv fed one. `forward_built` tells `operands.float_parameter` that such a
value is float like a parameter: the ops on it need nothing, and a member fed only such values
is configured like one fed parameters (`qconfigs.py`). One difference: when forward RETURNS the
member's result, the caller takes it for an activation (every module's result is one), so the
member gets a QuantStub on its input instead of `qconfig = None` (`returned_by_forward`): the
member quantizes, and its result is a quantized activation, as the caller expects.
"""

from __future__ import annotations

from astroid import nodes

#: torch functions that make a new tensor from numbers and shapes (never from an activation's values)
FACTORIES = frozenset(("zeros", "ones", "full", "empty", "arange", "linspace", "logspace", "eye", "rand",
                       "randn", "randint", "tensor"))
#: what a tensor's metadata read gives: a dtype, a device, a shape (an argument, not a tensor)
_METADATA = frozenset(("dtype", "device", "shape", "ndim"))
#: builtins that always return a number
_NUMBER_BUILTINS = frozenset(("int", "float", "len", "round"))
#: methods that move or view a result without computing (a quantized tensor takes them as it is)
VIEWS = frozenset(("reshape", "view", "permute", "transpose", "flatten", "repeat", "expand", "contiguous",
                   "unsqueeze", "squeeze"))


def forward_built(node: nodes.NodeNG, module_name, bindings, recurse, depth: int = 0) -> bool:
    """A float tensor forward code builds without an activation (`torch.zeros(shape).to(device)`,
    `torch.stack((a.sin(), a.cos()), dim=4)` of such values).

    `recurse(node)` is `float_parameter` for the parts; `module_name(expr)` tells an imported
    module (`torch`) from a local; `bindings` is as for `plain_argument`.
    """
    if depth > 12:
        return False
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute):
        func = node.func
        if module_name(func.expr):
            return func.attrname in FACTORIES
        plain = [*node.args, *(k.value for k in node.keywords or ())]
        return recurse(func.expr) and all(plain_argument(a, module_name, bindings, depth + 1) or recurse(a)
                                          for a in plain)
    if isinstance(node, (nodes.Tuple, nodes.List)):
        return bool(node.elts) and all(not isinstance(e, nodes.Starred) and recurse(e) for e in node.elts)
    return False


def plain_argument(node: nodes.NodeNG, module_name, bindings, depth: int = 0) -> bool:
    """An argument that is no tensor: a number, a string, `torch.float32`, a metadata read
    (`self.proj.weight.device`, `x.shape[1]`), `int(...)`, or a local bound only to those
    (`bindings(name)`: the values of its bindings, None when one is not a plain assignment)."""
    if depth > 12:
        return False
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.Subscript):
        return plain_argument(node.value, module_name, bindings, depth + 1)
    if isinstance(node, nodes.Attribute):
        return node.attrname in _METADATA or module_name(node)
    if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name) and node.func.name in _NUMBER_BUILTINS:
        return True  # `int(num_patches ** .5)`: a number, whatever its argument
    if isinstance(node, (nodes.Tuple, nodes.List)):  # `size=(h, w)`
        return bool(node.elts) and all(plain_argument(e, module_name, bindings, depth + 1) for e in node.elts)
    if isinstance(node, nodes.BinOp):  # `h // 2`, `w * self.scale`
        return all(plain_argument(side, module_name, bindings, depth + 1) for side in (node.left, node.right))
    if isinstance(node, nodes.Name):
        values = bindings(node) or _unpacked(node)
        return bool(values) and all(plain_argument(v, module_name, bindings, depth + 1) for v in values)
    return False


def _unpacked(name: nodes.Name) -> list[nodes.NodeNG]:
    """The values a local is unpacked from, where every binding of it is a plain `a, b = value`
    (`h, w = x.shape[1:3]`): plain values unpack to plain names."""
    func = name.frame()
    if not isinstance(func, nodes.FunctionDef) or name.name in func.argnames():
        return []
    values = []
    for binding in func.locals.get(name.name, ()):
        target = binding.parent
        if not (isinstance(binding, nodes.AssignName) and isinstance(target, nodes.Tuple)
                and isinstance(target.parent, nodes.Assign) and target.parent.targets == [target]):
            return []
        values.append(target.parent.value)
    return values


def _returned(node: nodes.NodeNG, func: nodes.FunctionDef) -> bool:
    """`node` is what a top-level `return` of `func` gives, or a view of it (`return pos.repeat(b, 1, 1, 1)`)."""
    while isinstance(node.parent, nodes.Attribute) and node.parent.attrname in VIEWS \
            and isinstance(node.parent.parent, nodes.Call) and node.parent.parent.func is node.parent:
        node = node.parent.parent
    return isinstance(node.parent, nodes.Return) and node.parent.parent is func


def returned_by_forward(call: nodes.Call) -> bool:
    """`return self.m(...)`, or `y = self.m(...)` in `forward` with `return y` (or a view of it) its only use."""
    func = call.frame()
    if not isinstance(func, nodes.FunctionDef) or func.name != "forward":
        return False
    if _returned(call, func):
        return True
    parent = call.parent
    if not (isinstance(parent, nodes.Assign) and len(parent.targets) == 1
            and isinstance(parent.targets[0], nodes.AssignName)) or parent.parent is not func:
        return False
    name = parent.targets[0].name
    uses = [n for n in func.nodes_of_class(nodes.Name) if n.name == name and n.lineno > parent.lineno]
    return len(uses) == 1 and _returned(uses[0], func)
