"""Members read from outside their own class (`self.block.conv1`, `m.bn`): fusion leaves them alone.

Fusion replaces a chain's first member with the fused module and the others with nn.Identity, so
a member some other code reads (a re-parameterization helper, a parent's `merge_pre_bn(self.e_mhsa.k,
self.norm1, self.e_mhsa.norm)`) must not be fused. The receiver of such a read is usually unknown
(`m.bn` in a loop over modules), so its attribute name blocks that name in every class of the file.
Where the receiver is a member whose every value constructs a class of this file (`self.e_mhsa =
EfficientAttention(...)`), only that class (and the bases that create the member) is blocked:
nextvit's `self.e_mhsa.norm` then no longer keeps every other class's `self.norm` unfused.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.syntax import is_self_attr


class ForeignReads:
    """Attribute names read as `<not self>.name` outside `__init__`, by the classes they may belong to."""

    def __init__(self, module: nodes.Module, index, imports, skipped=lambda frame: False) -> None:
        """`skipped(frame)`: a method whose reads do not count (a deploy-time fold method: `fold_methods`)."""
        self.index = index
        self.anywhere: set[str] = set()  # names read through a receiver of unknown class
        self.of_class: dict[str, list] = {}  # name -> ClassInfos whose instances the reads reach
        for node in module.nodes_of_class(nodes.Attribute):
            if is_self_attr(node) or imports.qualify(node) is not None:
                continue  # a member of its own class, or an imported name (`F.relu`)
            frame = node.frame()
            if isinstance(frame, nodes.FunctionDef) and (frame.name == "__init__" or skipped(frame)):
                continue
            owners = self._receiver_classes(node.expr, frame)
            if owners is None:
                self.anywhere.add(node.attrname)
            else:
                self.of_class.setdefault(node.attrname, []).extend(owners)

    def _receiver_classes(self, expr: nodes.NodeNG, frame) -> list | None:
        """The same-file classes `self.<member>` holds, or None when that is not known."""
        if not (is_self_attr(expr) and isinstance(frame, nodes.FunctionDef) and isinstance(frame.parent, nodes.ClassDef)):
            return None
        info = self.index.classes.get(frame.parent)
        fact = info.attrs.get(expr.attrname) if info is not None else None
        if fact is None or not fact.values or fact.elements:
            return None
        out = []
        for value in fact.values:
            for candidate in (value.body, value.orelse) if isinstance(value, nodes.IfExp) else (value,):
                held = self.index.by_name.get(candidate.func.name) if isinstance(candidate, nodes.Call) \
                    and isinstance(candidate.func, nodes.Name) else None
                if held is None or not held.is_module or candidate.func.name in self.index.imports.aliases:
                    return None
                out.append(held)
        return out

    def blocks(self, info, name: str) -> bool:
        """Whether a read from outside may reach member `name` of an instance of class `info`."""
        return name in self.anywhere or any(info in owner.mro() for owner in self.of_class.get(name, ()))

