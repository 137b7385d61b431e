"""Methods that run while `__init__` runs.

A fix adds its member at the END of `__init__`. A method that forward calls but that
`__init__` also reaches (directly, through another method, or by handing the bound
method to something like `self.apply(self._init)`) runs before that member exists,
so the rewritten call would raise `AttributeError` while the model is built: timm's
SwinTransformerV2Block builds its attention mask in `__init__` (`_init_buffers` ->
`get_attn_mask`) with the very method forward calls for a dynamic mask.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.node_tables import nodes_in


def init_reached_methods(cls: nodes.ClassDef) -> frozenset[str]:
    """Names of the class's own methods that its `__init__` reaches through `self.<name>`."""
    methods = {s.name: s for s in cls.body if isinstance(s, nodes.FunctionDef)}
    init = methods.get("__init__")
    if init is None:
        return frozenset()
    seen: set[str] = set()
    todo = [init]
    while todo:
        for attr in nodes_in(todo.pop(), nodes.Attribute):
            name = attr.attrname
            if (isinstance(attr.expr, nodes.Name) and attr.expr.name == "self" and name in methods
                    and name not in seen and name != "__init__"):
                seen.add(name)
                todo.append(methods[name])
    return frozenset(seen)


def method_run_by_init(node: nodes.NodeNG, cache: dict) -> str | None:
    """The name of the method holding `node` when its class's `__init__` reaches it
    (`cache`: ClassDef -> reached names, one per analysis)."""
    scope = node.scope()
    while not (isinstance(scope, nodes.FunctionDef) and isinstance(scope.parent, nodes.ClassDef)):
        if scope.parent is None:
            return None
        scope = scope.parent.scope()
    cls = scope.parent
    if cls not in cache:
        cache[cls] = init_reached_methods(cls)
    return scope.name if scope.name in cache[cls] else None


def runs_in_init_note(node: nodes.NodeNG, cache: dict) -> str | None:
    """Why a member for `node` cannot be added at the end of `__init__`, or None."""
    method = method_run_by_init(node, cache)
    if method is None:
        return None
    return (f"{method}() also runs during __init__, before a member added at the end of __init__ "
            f"exists (manual)")
