"""Which classes of a file are `nn.Module`s: class discovery, bases, module-ness.

A class is a module when a base resolves to a torch.nn class, to another module
class of the same file (or, in project mode, of another project file), or to a
configured base (`distiller-module-bases`); a class that defines `forward` and
derives from an imported class we cannot see (`PreTrainedModel`, a project's
`BaseBlock`) is taken as a module with INFERENCE confidence: in model files that
is what such classes are.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.class_facts import ClassInfo
from pylint_distiller.catalogue import TENSOR_CLASSES

_MODULE_BASE_HINTS = ("Module", "Layer", "Block", "Model", "PreTrainedModel")


def is_torch_module_class(qname: str | None) -> bool:
    if not qname or not qname.startswith("torch.nn."):
        return False
    last = qname.rsplit(".", 1)[1]
    return last[:1].isupper() and last not in TENSOR_CLASSES


def class_defs(module: nodes.Module):
    """Every class statement, found through statement bodies only (classes never hide in expressions)."""
    stack = list(reversed(module.body))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, nodes.ClassDef):
            yield stmt
        for field_name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(stmt, field_name, None)
            if isinstance(block, list):
                stack.extend(reversed(block))


class ModuleDiscovery:
    """`ModuleIndex`'s first step: link each class to its bases and decide which are modules.

    Reads the index's `classes`, `by_name`, `imports`, `extra_bases`, `module` and `project`.
    """

    def _resolve_bases(self) -> None:
        for info in self.classes.values():
            for base in info.node.bases:
                if isinstance(base, nodes.Name) and base.name in self.by_name and base.name not in self.imports.aliases:
                    local = self.by_name[base.name]
                    if local is not info:
                        info.bases.append(local)
                        continue
                foreign = self._project_class(base)
                if foreign is not None and foreign is not info:
                    info.bases.append(foreign)  # a base in another file of the project
                    continue
                if isinstance(base, (nodes.Name, nodes.Attribute)):
                    qname = self.imports.qualify(base)
                    if is_torch_module_class(qname) or self._is_extra_base(base, qname):
                        info.is_module = True
                    elif not (isinstance(base, nodes.Name) and base.name == "object"):
                        info.external_bases = True

    def _project_class(self, node: nodes.NodeNG) -> ClassInfo | None:
        """The class (indexed in its own file) an imported name of the project means, if any."""
        if self.project is None or not isinstance(node, (nodes.Name, nodes.Attribute)):
            return None
        root = node
        while isinstance(root, nodes.Attribute):
            root = root.expr
        if not isinstance(root, nodes.Name) or root.name not in self.imports.aliases:
            return None
        return self.project.class_info(self.module, node)

    def _is_extra_base(self, base: nodes.NodeNG, qname: str | None) -> bool:
        if not self.extra_bases:
            return False
        text = base.as_string()
        short = text.rsplit(".", 1)[-1]
        return any(b in (text, short, qname) or (qname and qname.endswith("." + b)) for b in self.extra_bases)

    def _resolve_module_ness(self) -> None:
        changed = True
        while changed:
            changed = False
            for info in self.classes.values():
                if info.is_module:
                    continue
                if any(b.is_module for b in info.bases):
                    info.is_module = True
                    info.inferred = any(b.inferred for b in info.bases if b.is_module)
                    changed = True
        for info in self.classes.values():
            if info.is_module or not info.external_bases:
                continue
            own = info.node.locals
            names = [b.as_string().rsplit(".", 1)[-1] for b in info.node.bases]
            if "forward" in own or any(n.endswith(_MODULE_BASE_HINTS) for n in names):
                info.is_module = True
                info.inferred = True
        changed = True
        while changed:  # subclasses of inferred modules
            changed = False
            for info in self.classes.values():
                if not info.is_module and any(b.is_module for b in info.bases):
                    info.is_module = info.inferred = True
                    changed = True
