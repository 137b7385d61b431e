"""The facts the project's analyses read about a class: `ClassInfo` and `AttrFact`.

`ModuleIndex` (classes.py) builds them, one `ClassInfo` per class statement of a
file; they live apart from the index so that the modules computing them (bases,
attribute facts, member classes, injection) and every analysis that reads them
share one definition without importing the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis.node_tables import nodes_in

# attribute kinds
MODULE = "module"
CONTAINER = "container"
TENSOR = "tensor"
CONST = "const"
FUNCTION = "function"
UNKNOWN = "unknown"


@dataclass
class AttrFact:
    name: str
    kind: str
    qname: str | None = None  # constructor's qualified name (or "local:Class")
    ctor: nodes.Call | None = None  # the constructor call, when there is exactly one
    stateful: bool | None = None  # holds parameters or buffers (None: cannot tell)
    alias_of: str | None = None  # `self.a = self.b`: the attribute it shares
    values: list[nodes.NodeNG] = field(default_factory=list)
    in_own_init: bool = False  # assigned in the owning class's own __init__
    elements: list[nodes.NodeNG] = field(default_factory=list)  # `self.blocks.append(Block())` arguments


@dataclass(eq=False)
class ClassInfo:
    node: nodes.ClassDef
    is_module: bool = False
    inferred: bool = False  # module-ness guessed from an unresolved base
    bases: list["ClassInfo"] = field(default_factory=list)
    external_bases: bool = False  # some base is not in this file
    attrs: dict[str, AttrFact] = field(default_factory=dict)
    methods: dict[str, nodes.FunctionDef] = field(default_factory=dict)
    class_modules: list[nodes.Assign] = field(default_factory=list)
    shared: list[tuple[nodes.NodeNG, str, str]] = field(default_factory=list)
    unquantizable: list[nodes.Call] = field(default_factory=list)  # nn.LSTM(...) built in its own methods

    @property
    def name(self) -> str:
        return self.node.name

    def mro(self):
        seen, order, stack = set(), [], [self]
        while stack:
            info = stack.pop(0)
            if id(info) in seen:
                continue
            seen.add(id(info))
            order.append(info)
            stack.extend(info.bases)
        return order

    def init(self) -> nodes.FunctionDef | None:
        return self.methods.get("__init__") if "__init__" in self.node.locals else None


def called_members(info: ClassInfo) -> set[str]:
    """Members the class's methods other than `__init__` call: `self.<name>(...)`, run as modules."""
    return {call.func.attrname for method in info.node.mymethods() if method.name != "__init__"
            for call in nodes_in(method, nodes.Call)
            if isinstance(call.func, nodes.Attribute) and isinstance(call.func.expr, nodes.Name)
            and call.func.expr.name == "self"}
