"""Names of the module-level helpers `fix --target torch-eager` writes into a file, and how to know them.

`weight_reads.py` generates `float_parameter(module, name)` (a member's weight or bias, also
after convert) and `cast_unless_quantized(tensor, ...)`. The operand analysis must know a
read through the first for what it is, a float tensor, so that a second `fix` finds the
island around it prepared; a function of that name counts only where it is the generated
one (its docstring carries MARKER).
"""

from __future__ import annotations

from astroid import nodes

READ_HELPER = "float_parameter"
CAST_HELPER = "cast_unless_quantized"
#: the docstring text that marks a generated helper (a second `fix` reuses it)
MARKER = "Added by `fix --target torch-eager`."


def helper_bound(module: nodes.Module, name: str) -> str:
    """"free", "ours" (a generated copy), or "taken" (the name means something else here)."""
    bound = module.locals.get(name)
    if not bound:
        return "free"
    ours = len(bound) == 1 and isinstance(bound[0], nodes.FunctionDef) and bound[0].parent is module \
        and MARKER in (bound[0].doc_node.value if bound[0].doc_node else "")
    return "ours" if ours else "taken"


def generated_read(node: nodes.NodeNG) -> bool:
    """`float_parameter(self.qkv, "weight")`, the generated helper: a float tensor before and after convert."""
    return isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name) and node.func.name == READ_HELPER \
        and len(node.args) == 2 and isinstance(node.args[1], nodes.Const) \
        and helper_bound(node.root(), READ_HELPER) == "ours"


def in_generated_helper(node: nodes.NodeNG) -> bool:
    """Is `node` in the body of a module-level helper a fix generated (its ops are prepared by design:
    `functional_or_scalar()` computes `a + b` only where both are Python numbers)?"""
    frame = node.frame()
    return isinstance(frame, nodes.FunctionDef) and isinstance(frame.parent, nodes.Module) \
        and helper_bound(frame.parent, frame.name) == "ours"
