"""Does every user of a helper that receives its module get the member?

`eager_attention_forward(module, query, ...)` is fixed through its argument: the
members go on every class whose forward passes itself (`module.matmul`), as the
walk saw them. Any other place that can call the helper would hand it a module
without those members, and the prepared model would raise `AttributeError` there:
a method of another class that forward never runs, a module-level registry
(`ATTENTION = {"eager": eager_attention_forward}`), a function that passes some
other module. So every reference to the helper in its file must sit in a method
of a class that gets the members, or in another module-level function whose own
references pass the same test (a wrapper that passes its module on). References
from other files of the project are handled where they are (`crossfile.py`:
manual); files outside the checked project cannot be seen, which is why `fix`
should be run on the whole package.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.node_tables import nodes_in


def stray_reference(helper: nodes.FunctionDef, callers) -> nodes.Name | None:
    """A reference to `helper` through which it may receive a module that is not one of `callers`."""
    return _stray(helper, {c.node for c in callers}, set())


def _stray(func: nodes.FunctionDef, classes: set, seen: set) -> nodes.Name | None:
    if func in seen:
        return None
    seen.add(func)
    for name in nodes_in(func.root(), nodes.Name):
        if name.name != func.name or func not in name.lookup(name.name)[1]:
            continue
        method, outer = _enclosing(name)
        if method is not None and method.parent in classes:
            continue
        if outer is func:
            continue  # (a recursive call: it passes on what it received)
        if outer is not None and isinstance(outer.parent, nodes.Module) and _stray(outer, classes, seen) is None:
            continue
        return name
    return None


def _enclosing(node: nodes.NodeNG):
    """(the method the node is in, or None; the outermost function it is in, or None)."""
    method = outer = None
    scope = node.scope()
    while scope is not None and not isinstance(scope, nodes.Module):
        if isinstance(scope, nodes.FunctionDef):
            outer = scope
            if method is None and isinstance(scope.parent, nodes.ClassDef):
                method = scope
        scope = scope.parent.scope() if scope.parent is not None else None
    return method, outer
