"""What a helper's dropout rate is whenever it matters: when the module trains.

transformers' attention helpers apply dropout with a rate their callers pass::

    def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        ...
        attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)

    attn_output, attn_weights = attention_interface(
        self, query, key, value, attention_mask, dropout=0.0 if not self.training else self.dropout.p, ...)

`p` is a forward-time value, so it cannot go into a constructor as such. But with
`training=module.training` the rate only matters while the module trains, and
then every caller passes one `__init__`-time expression (`self.dropout.p`): the
op is exactly `nn.Dropout(p=self.dropout.p)` held by each calling class (in eval
mode both are the identity; in training both call `F.dropout` with that rate).
This module finds that expression, or says there is none.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.syntax import is_self_attr


def training_value(helper: nodes.FunctionDef, param: str, callers, evaluable) -> nodes.NodeNG | None:
    """The expression every calling class passes for `helper`'s `param` while it trains, if it is one.

    `callers` are the classes that pass themselves to the helper; `evaluable(expr, caller)`
    says whether an expression can be evaluated at the end of the caller's `__init__`.
    None when the helper rebinds the parameter, a caller's call passes it in any
    other form (or not at all), or the callers pass different expressions.
    """
    if any(n.name == param for n in nodes_in(helper, nodes.AssignName) if n.parent is not helper.args):
        return None
    found: list[nodes.NodeNG] = []
    for caller in callers:
        calls = _calls(helper, caller.node)
        if not calls:
            return None
        for call in calls:
            value = _when_training(_argument(call, helper, param))
            if value is None or not evaluable(value, caller):
                return None
            found.append(value)
    texts = {v.as_string() for v in found}
    return found[0] if len(texts) == 1 else None


def _calls(helper: nodes.FunctionDef, cls: nodes.ClassDef) -> list[nodes.Call]:
    """Calls in the class's methods that run `helper` with `self` first: by its name, or through a
    local name bound to an expression that names it (`ALL_ATTENTION_FUNCTIONS.get_interface(..., helper)`)."""
    out = []
    for method in cls.mymethods():
        handles = {helper.name} if not method.locals.get(helper.name) else set()
        for assign in nodes_in(method, (nodes.Assign, nodes.AnnAssign)):
            value = assign.value
            targets = assign.targets if isinstance(assign, nodes.Assign) else [assign.target]
            if value is not None and any(isinstance(n, nodes.Name) and n.name == helper.name
                                         for n in nodes_in(value, nodes.Name)):
                handles |= {t.name for t in targets if isinstance(t, nodes.AssignName)}
        for call in nodes_in(method, nodes.Call):
            if isinstance(call.func, nodes.Name) and call.func.name in handles and call.args and \
                    isinstance(call.args[0], nodes.Name) and call.args[0].name == "self":
                out.append(call)
    return out


def _argument(call: nodes.Call, helper: nodes.FunctionDef, param: str) -> nodes.NodeNG | None:
    for kw in call.keywords or ():
        if kw.arg == param:
            return kw.value
    names = [a.name for a in list(helper.args.posonlyargs or []) + list(helper.args.args or [])]
    if param in names and names.index(param) < len(call.args):
        arg = call.args[names.index(param)]
        return None if any(isinstance(a, nodes.Starred) for a in call.args[:names.index(param) + 1]) else arg
    return None


def _when_training(expr: nodes.NodeNG | None) -> nodes.NodeNG | None:
    """`0.0 if not self.training else E` / `E if self.training else 0.0` -> E."""
    if not isinstance(expr, nodes.IfExp):
        return None
    test = expr.test
    if is_self_attr(test) and test.attrname == "training":
        return expr.body
    if isinstance(test, nodes.UnaryOp) and test.op == "not" and is_self_attr(test.operand) and \
            test.operand.attrname == "training":
        return expr.orelse
    return None
