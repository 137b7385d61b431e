"""Resolve names to qualified names from a file's own imports, without inference.

astroid inference would follow imports into torch (slow, and torch need not be
installed to lint). Model files spell torch in a handful of ways
(`import torch.nn as nn`, `from torch import nn`, `from torch.nn import
functional as F`, `from torch.nn.modules.module import Module`), all visible in
the file itself, so a map from local alias to qualified name is exact enough and
costs one pass over the top-level statements.
"""

from __future__ import annotations

from astroid import nodes

#: Where torch re-exports names: `torch.nn.modules.conv.Conv2d` is `torch.nn.Conv2d`.
_PREFIX_ALIASES = (
    ("torch.nn.modules.", "torch.nn."),
    ("torch.functional.", "torch."),
    ("torch._tensor.Tensor", "torch.Tensor"),
)


#: Names spelled bare with a from-import when the file has no alias for them.
FROM_IMPORTED = frozenset(("torch.ao.nn.quantized.FloatFunctional", "torch.ao.quantization.QuantStub",
                           "torch.ao.quantization.DeQuantStub"))


def normalize(qname: str) -> str:
    for prefix, short in _PREFIX_ALIASES:
        if qname.startswith(prefix):
            rest = qname[len(prefix):]
            if short == "torch.nn." and "." in rest:
                rest = rest.rsplit(".", 1)[1]  # drop the submodule name
            return short + rest
    return qname


def _top_level_statements(module: nodes.Module):
    """Module-level statements, looking into `if`/`try` blocks (guarded imports)."""
    stack = list(reversed(module.body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, nodes.If):
            stack.extend(reversed(stmt.body + stmt.orelse))
        elif isinstance(stmt, nodes.Try):
            stack.extend(reversed(stmt.body + stmt.orelse + stmt.finalbody))
            for handler in stmt.handlers:
                stack.extend(reversed(handler.body))


class ImportMap:
    """Local alias -> qualified name, plus how to spell a qualified name here."""

    def __init__(self, module: nodes.Module) -> None:
        self.aliases: dict[str, str] = {}
        self.module_names: frozenset[str] = frozenset(module.locals)
        for stmt in _top_level_statements(module):
            if isinstance(stmt, nodes.Import):
                for name, alias in stmt.names:
                    if alias:
                        self.aliases[alias] = normalize(name)
                    else:
                        top = name.split(".", 1)[0]
                        self.aliases[top] = top
            elif isinstance(stmt, nodes.ImportFrom):
                base = "." * (stmt.level or 0) + (stmt.modname or "")
                for name, alias in stmt.names:
                    if name == "*":
                        continue
                    self.aliases[alias or name] = normalize(f"{base}.{name}" if base else name)
        self._reverse: dict[str, str] = {}
        self._qualified: dict[nodes.NodeNG, str | None] = {}
        for alias, qname in self.aliases.items():
            self._reverse.setdefault(qname, alias)  # the first spelling the file uses

    def qualify(self, node: nodes.NodeNG) -> str | None:
        """Qualified name of a Name/Attribute chain rooted at an import, else None.

        Cached per node: both walks of forward code and the plans ask about the same callees.
        """
        try:
            return self._qualified[node]
        except KeyError:
            found = self._qualified[node] = self._qualify(node)
            return found

    def _qualify(self, node: nodes.NodeNG) -> str | None:
        parts = []
        while isinstance(node, nodes.Attribute):
            parts.append(node.attrname)
            node = node.expr
        if not isinstance(node, nodes.Name):
            return None
        root = self.aliases.get(node.name)
        if root is None:
            return None
        parts.append(root)
        return normalize(".".join(reversed(parts)))

    def render(self, qname: str) -> tuple[str, tuple[str, ...]]:
        """How to spell `qname` in this file, and the imports that needs.

        Reuses an existing alias of the name or of its longest imported prefix
        (`nn.Sigmoid` where the file says `import torch.nn as nn`); otherwise
        spells it in full and asks for one import line.
        """
        if qname in self._reverse:
            return self._reverse[qname], ()
        module, _, name = qname.rpartition(".")
        if qname in FROM_IMPORTED and module not in self._reverse and name not in self.module_names:
            return name, (f"from {module} import {name}",)
        prefix = qname
        while "." in prefix:
            prefix, _ = prefix.rsplit(".", 1)
            alias = self._reverse.get(prefix)
            if alias is not None:
                return alias + qname[len(prefix):], ()
        if qname.startswith("distiller."):
            return qname, (f"import {module}",)
        top = qname.split(".", 1)[0]
        return qname, (f"import {top}",)
