"""Where a new member would become visible as one of a module's children.

`fix` adds modules as members (`self.add = FloatFunctional()`). nn.Module
registers every module attribute in `self._modules`, and that dict IS the
content of `nn.Sequential`, `nn.ModuleList` and `nn.ModuleDict`: iterating one,
indexing it, its `len()` and its `.items()`/`.values()`/`.keys()` all read it,
and so does `Sequential.forward` itself. No spelling of a member avoids this:
a module kept out of `_modules` (`object.__setattr__`) is also invisible to the
quantizer, which finds modules through `named_children()`. So a class that is
such a container (direct or indirect base, aliased, imported), or whose code
reads its own children (`self.children()`, `self.named_modules()`,
`self._modules`, in forward code or in a `__getitem__`/`__iter__`/`__len__`
override), cannot take a new member without changing what it computes: those
fixes are refused, and the reason says which view would change.

A class that merely holds a container (`self.blocks = nn.Sequential(...)`) is
not affected: the new member goes next to `self.blocks`, not into it.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.classes import MODULE, AttrFact, ClassInfo, ModuleIndex
from pylint_distiller.analysis.node_tables import nodes_in

_CONTAINERS = {"Sequential": "layers", "ModuleList": "elements", "ModuleDict": "items"}
#: methods of nn.Module that enumerate the module's own children
_CHILD_VIEWS = frozenset(("children", "named_children", "modules", "named_modules"))
#: the container protocol: an override that reads the children sees a new member
_PROTOCOL = ("__getitem__", "__iter__", "__len__", "__contains__", "__reversed__")
_DICT_VIEWS = frozenset(("items", "values", "keys"))


def _is_self(node: nodes.NodeNG) -> bool:
    return isinstance(node, nodes.Name) and node.name == "self"


class ChildViews:
    """Per module class: why a member added to it would change what it computes, or None."""

    def __init__(self, index: ModuleIndex, forward_of) -> None:
        self.index = index
        self.forward_of = forward_of  # ClassInfo -> the forward walked as its own (ForwardAnalysis.forward_of)
        self._kinds: dict[ClassInfo, str | None] = {}
        self._reasons: dict[ClassInfo, str | None] = {}
        self._outside: dict[str, str] | None = None
        self._hidden: dict[ClassInfo, str | None] = {}

    # ------------------------------------------------------------ containers
    def container_kind(self, info: ClassInfo) -> str | None:
        """`Sequential`, `ModuleList` or `ModuleDict` when the class derives from one."""
        if info not in self._kinds:
            self._kinds[info] = None  # recursion guard
            self._kinds[info] = self._find_kind(info)
        return self._kinds[info]

    def _find_kind(self, info: ClassInfo) -> str | None:
        for base in info.bases:
            kind = self.container_kind(base)
            if kind:
                return kind
        for base in info.node.bases:
            if not isinstance(base, (nodes.Name, nodes.Attribute)):
                continue
            qname = self.index.imports.qualify(base) or ""
            last = (qname or base.as_string()).rsplit(".", 1)[-1]
            if qname.startswith("torch.nn.") and last in _CONTAINERS:
                return last
            if not qname.startswith("torch.") and last.endswith(tuple(_CONTAINERS)) and \
                    not (isinstance(base, nodes.Name) and base.name in self.index.by_name):
                # an imported base we cannot read, named like a container (`MySequential`): assume it is one
                return next(k for k in _CONTAINERS if last.endswith(k))
        return None

    # ---------------------------------------------------------------- reasons
    def hidden_reason(self, info: ClassInfo) -> str | None:
        """Why no member may be added to `info` (it, or a same-file subclass, exposes its children)."""
        if info not in self._hidden:
            self._hidden[info] = self._hidden_reason(info)
        return self._hidden[info]

    def _hidden_reason(self, info: ClassInfo) -> str | None:
        for klass in [info, *self._subclasses(info)]:
            reason = self._own_reason(klass) or self._outside_reason(klass)
            if reason:
                if klass is not info:
                    return f"its subclass {klass.name}: {reason}"
                return reason
        return None

    def _outside_reason(self, info: ClassInfo) -> str | None:
        """Code elsewhere in the file that lists an instance's children (`list(backbone.children())[:-1]`).

        `nn.Sequential(*list(backbone.children())[:-1])` in a parent's `__init__` runs after
        the child's `__init__` has added its members: the new member would become a layer.
        """
        if self._outside is None:
            self._outside = self._outside_views()
        return self._outside.get(info.name)

    def _outside_views(self) -> dict[str, str]:
        """Class name -> where its instances' children are read from outside (`self.body.children()`)."""
        found: dict[str, str] = {}
        for owner in self.index.classes.values():
            for method in owner.node.mymethods():
                for node in nodes_in(method, nodes.Attribute):
                    view = _child_view_of(node)
                    # `.modules()` outside forward is weight init over isinstance filters: harmless
                    if view is None or view in ("modules", "named_modules") or _is_self(node.expr):
                        continue
                    for name in self._classes_held(owner, method, node.expr):
                        found.setdefault(name, f"{owner.name}.{method.name} reads "
                                               f"{node.as_string()}{'()' if view != '_modules' else ''}: "
                                               f"a new member would become one of those children")
        return found

    def _classes_held(self, owner: ClassInfo, method: nodes.FunctionDef, expr: nodes.NodeNG) -> list[str]:
        """Same-file module classes `self.<attr>` or a local name of `method` may hold."""
        if isinstance(expr, nodes.Attribute) and _is_self(expr.expr):
            fact = owner.attrs.get(expr.attrname)
            return self.index.module_classes_of(fact) if fact is not None else []
        if isinstance(expr, nodes.Name):
            values = [a.parent.value for a in nodes_in(method, nodes.AssignName)
                      if a.name == expr.name and isinstance(a.parent, nodes.Assign)]
            return self.index.module_classes_of(AttrFact(expr.name, MODULE, values=values))
        return []

    def _subclasses(self, info: ClassInfo) -> list[ClassInfo]:
        return [c for c in self.index.module_classes() if c is not info and info in c.mro()]

    def _own_reason(self, info: ClassInfo) -> str | None:
        if info not in self._reasons:
            self._reasons[info] = self._reason(info)
        return self._reasons[info]

    def _reason(self, info: ClassInfo) -> str | None:
        kind = self.container_kind(info)
        functions = self._forward_code(info)
        if kind:
            uses = self._container_uses(functions)
            article = "an"  # "an nn.Sequential", "an nn.ModuleDict"
            noun = _CONTAINERS[kind]
            if uses:
                return f"the class is {article} nn.{kind} whose {uses[0][0]} {uses[0][1]}: " \
                       f"a new member would become one of its {noun}"
            if self.forward_of(info) is None and kind == "Sequential":
                return "the class is an nn.Sequential whose inherited forward runs every layer: " \
                       "a new member would become one of its layers"
            return (f"the class is {article} nn.{kind}: a new member would become one of its {noun}, "
                    f"changing its iteration, indexing and len()")
        for where, func in functions:
            view = _child_view(func)
            if view:
                return f"its {where} reads {view}: a new member would become one of those children"
        return None

    def _forward_code(self, info: ClassInfo) -> list[tuple[str, nodes.FunctionDef]]:
        """(description, function) for forward, the methods it calls, and container protocol overrides."""
        out: list[tuple[str, nodes.FunctionDef]] = []
        seen: set[nodes.FunctionDef] = set()
        forward = self.forward_of(info)
        stack = [("forward", forward)] if forward is not None else []
        for name in _PROTOCOL:
            method = info.methods.get(name)
            if method is not None:
                stack.append((name, method))
        while stack:
            where, func = stack.pop(0)
            if func in seen:
                continue
            seen.add(func)
            out.append((where, func))
            for call in nodes_in(func, nodes.Call):
                callee = call.func
                if isinstance(callee, nodes.Attribute) and _is_self(callee.expr) and callee.attrname in info.methods \
                        and callee.attrname != "__init__":
                    stack.append((f"method {callee.attrname} (called from forward)", info.methods[callee.attrname]))
        return out

    @staticmethod
    def _container_uses(functions) -> list[tuple[str, str]]:
        """How forward code reads the container itself: iterates self, self.items(), self[i], len(self)."""
        uses = []
        for where, func in functions:
            for node in nodes_in(func, (nodes.Call, nodes.Subscript, nodes.For, nodes.Comprehension)):
                text = _self_use(node)
                if text and (where, text) not in uses:
                    uses.append((where, text))
        order = ("iterates", "indexes", "uses")
        uses.sort(key=lambda u: next(i for i, w in enumerate(order) if u[1].startswith(w)))
        return uses


def _self_use(node: nodes.NodeNG) -> str | None:
    if isinstance(node, (nodes.For, nodes.Comprehension)) and _is_self(node.iter):
        return "iterates self"
    if isinstance(node, nodes.Subscript) and _is_self(node.value):
        return f"indexes {node.as_string()}"
    if isinstance(node, nodes.Call):
        func = node.func
        if isinstance(func, nodes.Attribute) and _is_self(func.expr) and func.attrname in _DICT_VIEWS:
            return f"iterates self.{func.attrname}()"
        if isinstance(func, nodes.Name) and node.args and _is_self(node.args[0]):
            if func.name == "len":
                return "uses len(self)"
            if func.name in ("enumerate", "zip", "reversed", "list", "tuple", "iter", "map", "filter"):
                return f"iterates self ({func.name}(self))"
    return None


def _child_view_of(node: nodes.Attribute) -> str | None:
    """`children`... when `node` is `<x>.children()` (called) or `<x>._modules`."""
    if node.attrname == "_modules":
        return "_modules"
    if node.attrname in _CHILD_VIEWS and isinstance(node.parent, nodes.Call) and node.parent.func is node:
        return node.attrname
    return None


def _child_view(func: nodes.FunctionDef) -> str | None:
    """`self.children()`, `self.named_modules()`, `self._modules` in a function, as text."""
    for node in nodes_in(func, nodes.Attribute):
        view = _child_view_of(node)
        if view and _is_self(node.expr):
            return f"self.{view}" + ("()" if view != "_modules" else "")
    return None
