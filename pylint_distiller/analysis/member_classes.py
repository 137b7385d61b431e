"""Which module classes an attribute holds: `self.attn = Attention()`, `ModuleList([Block() ...])`.

The forward walk follows a call of `self.<name>` into the forward of the classes
found here: same-file classes constructed in the attribute's values (through
local names: `layers.append(Block())` then `self.layers = nn.ModuleList(layers)`),
and, in project mode, classes imported from other project files.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.class_facts import AttrFact, ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in


class MemberClasses:
    """The module classes behind an attribute fact; local-value tables cached per function.

    Reads the index's `by_name`, `imports`, `project`, `statements_of` and `_project_class`.
    """

    def foreign_module_classes(self, fact: AttrFact) -> list[ClassInfo]:
        """Module classes of other project files an attribute may hold (`self.mlp = Mlp(...)`, imported)."""
        if self.project is None:
            return []
        known = self._foreign_targets.get(id(fact))
        if known is not None:
            return known
        out: list[ClassInfo] = []
        self._foreign_targets[id(fact)] = out
        for value in [*fact.values, *fact.elements]:
            for call in [value, *nodes_in(value, nodes.Call)] if isinstance(value, nodes.NodeNG) else ():
                if isinstance(call, nodes.Call):
                    info = self._project_class(call.func)
                    if info is not None and info.is_module and info not in out:
                        out.append(info)
        return out

    def _local_module_calls(self, value: nodes.NodeNG, depth: int = 0) -> list[str]:
        """Names of same-file module classes constructed in `value` (resolving local names once)."""
        out: list[str] = []
        scope = value.scope() if depth == 0 else None
        for node in [value, *nodes_in(value, (nodes.Call, nodes.Name))]:
            if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name):
                info = self.by_name.get(node.func.name)
                if info is not None and info.is_module and node.func.name not in self.imports.aliases:
                    if node.func.name not in out:
                        out.append(node.func.name)
            elif isinstance(node, nodes.Name) and scope is not None and depth == 0 and \
                    isinstance(scope, nodes.FunctionDef) and node.name != "self":
                for other in self._local_values(scope, node.name):
                    for name in self._local_module_calls(other, depth + 1):
                        if name not in out:
                            out.append(name)
        return out

    def _local_values(self, scope: nodes.FunctionDef, name: str) -> list[nodes.NodeNG]:
        """Values a local name of `scope` is bound to or collects (`layers.append(Block())`)."""
        table = self._local_tables.get(scope)
        if table is None:  # one walk of the function serves every name asked about
            table = self._local_tables[scope] = {}
            for node in self.statements_of(scope):
                if isinstance(node, nodes.AnnAssign):
                    continue
                if isinstance(node, nodes.Assign):
                    for target in node.targets:
                        if isinstance(target, nodes.AssignName):
                            table.setdefault(target.name, []).append(node.value)
                elif isinstance(node, nodes.AugAssign):
                    if isinstance(node.target, nodes.AssignName):
                        table.setdefault(node.target.name, []).append(node.value)
                elif (isinstance(node.func, nodes.Attribute) and node.func.attrname in ("append", "extend", "insert")
                      and isinstance(node.func.expr, nodes.Name) and node.args):
                    table.setdefault(node.func.expr.name, []).append(node.args[-1])
        return table.get(name, [])

    def element_classes(self, fact: AttrFact) -> list[str]:
        """Same-file module classes a container attribute holds (`ModuleList([Block() ...])`)."""
        out: list[str] = []
        for value in [*fact.values, *fact.elements]:
            for name in self._local_module_calls(value):
                if name not in out:
                    out.append(name)
        return out

    def module_classes_of(self, fact: AttrFact) -> list[str]:
        """Same-file module classes a module attribute may hold (`self.attn = Attention()`)."""
        out: list[str] = []
        for value in fact.values:
            if isinstance(value, nodes.Call) and not isinstance(value.func, nodes.Name):
                continue  # nn.Linear(...), ACT2FN[...]: not a same-file class
            candidates = [value]
            if isinstance(value, nodes.IfExp):
                candidates = [value.body, value.orelse]
            for candidate in candidates:
                if isinstance(candidate, (nodes.Call, nodes.Name)):
                    for name in self._local_module_calls(candidate) if isinstance(candidate, nodes.Name) \
                            else self._direct_local(candidate):
                        if name not in out:
                            out.append(name)
        return out

    def _direct_local(self, call: nodes.NodeNG) -> list[str]:
        if isinstance(call, nodes.Call) and isinstance(call.func, nodes.Name):
            info = self.by_name.get(call.func.name)
            if info is not None and info.is_module and call.func.name not in self.imports.aliases:
                return [call.func.name]
        return []
