"""Which attributes surely exist at the end of `__init__`, and guards for the others.

A new member goes at the end of `__init__`. When its constructor reads an
attribute (`copy.deepcopy(self.ln_1_kv)`, `Concat(dim=self.dim)`,
`range(self.depth)`) that `__init__` creates only under a condition
(`if is_cross_attention: self.ln_1_kv = ...`), in a loop, through
`setattr`/`add_module`, or in a helper, building the model would raise
`AttributeError` where it did not before. Such a member is created under
`hasattr(self, name)` for each of those attributes: exactly the condition under
which the original exists, so forward code that reached the original reaches
its replacement.

"Surely assigned" is a must-analysis over the `__init__` bodies of the class and
its same-file bases: a plain `self.x = ...` statement, both arms of an `if`, the
body of a `with`, a `try` whose body and every handler assign it; a block that
ends in `raise` assigns everything (it never falls through). A class-level
`x = ...` also counts. Anything else is guarded, which is never wrong, only
longer.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in

_REGISTRATION = frozenset(("add_module", "register_module", "register_buffer", "register_parameter"))


def surely_assigned(info: ClassInfo, attr: str) -> bool:
    """`self.<attr>` exists whenever `info`'s `__init__` reaches its end."""
    for klass in info.mro():
        if attr in klass.node.locals and not isinstance(klass.node.locals[attr][0], nodes.FunctionDef):
            return True  # a class attribute: always there
        init = next((s for s in klass.node.body if isinstance(s, nodes.FunctionDef) and s.name == "__init__"), None)
        if init is not None and _block_assigns(init.body, attr):
            return True
    return False


def guards(info: ClassInfo, attrs) -> tuple[str, ...]:
    """The attributes among `attrs` a member reading them must check with `hasattr` first."""
    out: list[str] = []
    for attr in attrs:
        if attr not in out and not surely_assigned(info, attr):
            out.append(attr)
    return tuple(out)


def self_attrs(*exprs: nodes.NodeNG | None) -> list[str]:
    """Names `x` of every `self.x` read in the expressions, in order."""
    out: list[str] = []
    for expr in exprs:
        if expr is None:
            continue
        for node in [expr, *nodes_in(expr, nodes.Attribute)]:
            if isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self" \
                    and node.attrname not in out:
                out.append(node.attrname)
    return out


def _block_assigns(stmts, attr: str) -> bool:
    for stmt in stmts:
        if isinstance(stmt, nodes.Raise) or _stmt_assigns(stmt, attr):
            return True
    return False


def _stmt_assigns(stmt: nodes.NodeNG, attr: str) -> bool:
    if isinstance(stmt, (nodes.Assign, nodes.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, nodes.Assign) else [stmt.target]
        if isinstance(stmt, nodes.AnnAssign) and stmt.value is None:
            return False
        return any(_target_assigns(t, attr) for t in targets)
    if isinstance(stmt, nodes.Expr) and isinstance(stmt.value, nodes.Call):
        return _call_assigns(stmt.value, attr)
    if isinstance(stmt, nodes.If):
        return _block_assigns(stmt.body, attr) and _block_assigns(stmt.orelse, attr)
    if isinstance(stmt, nodes.With):
        return _block_assigns(stmt.body, attr)
    if isinstance(stmt, nodes.Try):
        if _block_assigns(stmt.finalbody, attr):
            return True
        body = _block_assigns(stmt.body, attr) or _block_assigns(stmt.orelse, attr)
        return body and all(_block_assigns(h.body, attr) for h in stmt.handlers)
    return False


def _target_assigns(target: nodes.NodeNG, attr: str) -> bool:
    if isinstance(target, nodes.AssignAttr):
        return target.attrname == attr and isinstance(target.expr, nodes.Name) and target.expr.name == "self"
    if isinstance(target, (nodes.Tuple, nodes.List)):
        return any(_target_assigns(e, attr) for e in target.elts)
    if isinstance(target, nodes.Starred):
        return _target_assigns(target.value, attr)
    return False


def _call_assigns(call: nodes.Call, attr: str) -> bool:
    """`self.add_module("x", m)`, `self.register_buffer("x", t)`, `setattr(self, "x", v)` with a literal name."""
    func = call.func
    args = call.args
    if isinstance(func, nodes.Attribute) and func.attrname in _REGISTRATION and \
            isinstance(func.expr, nodes.Name) and func.expr.name == "self":
        return bool(args) and isinstance(args[0], nodes.Const) and args[0].value == attr
    if isinstance(func, nodes.Name) and func.name == "setattr" and len(args) == 3:
        return isinstance(args[0], nodes.Name) and args[0].name == "self" and \
            isinstance(args[1], nodes.Const) and args[1].value == attr
    return False
