"""Operands that are a Python number on one path and a tensor on another: `identity_out = 0` then
`if self.identity is not None: identity_out = self.identity(x)`, then `scale_out + identity_out`.

The walk joins the two bindings to a tensor, but which one reaches depends on how each
instance was built (timm's MobileOneBlock has no identity branch where the channels change).
`FloatFunctional.add` needs two tensors (`torch.add(0, t)` fails already in float) and a
quantized `add` two quantized tensors; `add_scalar` needs a tensor first. So the fix calls a
generated helper that picks the method on the values that arrive: `add`/`mul` for two
tensors, `add_scalar`/`mul_scalar` (tensor first) for a tensor and a number, the operator for
two numbers. In float each form computes the same `torch.add`/`torch.mul` as the operator
(both are commutative), so outputs stay the same; after convert each form takes what it gets.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.generated_helpers import MARKER

HELPER = "functional_or_scalar"
#: FloatFunctional methods the helper chooses between (the commutative ones with a scalar form)
OPS = frozenset(("add", "mul"))

LINES = (
    f"def {HELPER}(functional, op, a, b):",
    '    """`functional.<op>(a, b)` (op "add" or "mul"), or its scalar form where one operand is a Python number.',
    "",
    "    An operand that is a number on some paths (`out = 0`, set to a tensor only if a branch",
    "    exists) cannot go to `add`/`mul`, which need two tensors, nor to `add_scalar`, which needs",
    "    a tensor first. Each form computes the same `torch.add`/`torch.mul` in float.",
    "",
    f"    {MARKER}",
    '    """',
    "    a_number, b_number = isinstance(a, (int, float)), isinstance(b, (int, float))",
    "    if a_number and b_number:",
    '        return a + b if op == "add" else a * b',
    "    if a_number or b_number:",
    "        tensor, number = (b, a) if a_number else (a, b)",
    '        return getattr(functional, op + "_scalar")(tensor, number)',
    "    return getattr(functional, op)(a, b)",
)


def number_on_some_path(node: nodes.NodeNG, _depth: int = 0) -> bool:
    """A local name that may hold a Python number where it is read: some `name = value` binding
    of it is a number literal (`identity_out = 0`) or a `+`/`*` of such names or numbers
    (`out = scale_out + identity_out`), and some binding is not a number literal.

    `name += value` bindings keep a number only where the value is one, so they are left out
    (`out = 0` then `out += self.conv_kxk[ix](x)` in a loop that may not run).
    """
    if not isinstance(node, (nodes.Name, nodes.AssignName)) or _depth > 8:  # (`out += y`: its target)
        return False
    func = node.frame()
    if not isinstance(func, nodes.FunctionDef) or node.name in func.argnames() \
            or node.name in getattr(func, "globals", {}):
        return False
    values, augmented = [], False
    for binding in func.locals.get(node.name, ()):
        assign = binding.parent
        if isinstance(binding, nodes.AssignName) and isinstance(assign, nodes.Assign) and assign.targets == [binding]:
            values.append(assign.value)
        elif isinstance(binding, nodes.AssignName) and isinstance(assign, nodes.AugAssign):
            augmented = True
        else:
            return False
    numbers = [v for v in values if _maybe_number(v, _depth)]
    return bool(numbers) and (augmented or len(numbers) < len(values) or any(not _literal(v) for v in numbers))


def _maybe_number(value: nodes.NodeNG, depth: int) -> bool:
    if _literal(value):
        return True
    return isinstance(value, nodes.BinOp) and value.op in ("+", "*") and all(
        _literal(side) or number_on_some_path(side, depth + 1) for side in (value.left, value.right))


def _literal(value: nodes.NodeNG) -> bool:
    """A number literal (`0`, `-1.0`)."""
    if isinstance(value, nodes.UnaryOp):
        value = value.operand
    return isinstance(value, nodes.Const) and isinstance(value.value, (int, float)) \
        and not isinstance(value.value, bool)
