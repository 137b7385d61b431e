"""Fusable chains in Sequentials built from a list: `nn.Sequential(*layers)` and `super().__init__(*layers)`.

torchvision builds most blocks so: `layers = [conv]`, `if norm_layer is not None:
layers.append(norm_layer(c))`, `layers.extend([...])`, then `self.conv = nn.Sequential(*layers)`
(MobileNetV2's InvertedResidual) or `super().__init__(*layers)` in an nn.Sequential subclass
(ConvNormActivation). Which element lands at which index depends on constructor arguments and
conditions, so no fixed member names can be listed. Instead the generated `fuse_model()` scans the
Sequential at run time and fuses each run of children whose EXACT types are a chain of the table
(`fuse_modules` matches exact types too): a ReLU6 after conv+bn leaves conv+bn fused, any other shape
is left alone. Only the chains whose every type some element can have are scanned for.

Fusing a child run is correct because the Sequential is only ever called whole (each child's output
goes only into the next), and every element is a fresh constructor call (no module shared with an
attribute or another container).
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.fusion import _SEQUENTIAL, Chain
from pylint_distiller.analysis.runtime_fusion import LONGEST_FIRST
from pylint_distiller.analysis.syntax import own_method
from pylint_distiller.catalogue import FusableChain


def list_elements(func: nodes.FunctionDef, name: str) -> list[nodes.NodeNG] | None:
    """Every expression `func` puts into its local list `name`, or None when the list is used otherwise.

    Accepted: `name = [...]` / `name: list[...] = [...]`, `name.append(x)`, `name.extend([...])`,
    `name += [...]`, and the one `*name` that builds the Sequential (`used`).
    """
    out: list[nodes.NodeNG] = []
    for node in func.nodes_of_class((nodes.Name, nodes.AssignName)):
        if node.name != name or node.frame() is not func:
            continue
        parent = node.parent
        if isinstance(node, nodes.AssignName):
            stmt = parent
            if isinstance(stmt, (nodes.Assign, nodes.AnnAssign)) and isinstance(stmt.value, nodes.List) \
                    and (isinstance(stmt, nodes.AnnAssign) or len(stmt.targets) == 1):
                out += stmt.value.elts
            elif isinstance(stmt, nodes.AugAssign) and stmt.op == "+=" and isinstance(stmt.value, nodes.List):
                out += stmt.value.elts
            else:
                return None
        elif isinstance(parent, nodes.Starred):
            continue  # the Sequential call itself (checked by the caller)
        elif isinstance(parent, nodes.Attribute) and isinstance(parent.parent, nodes.Call) \
                and parent.parent.func is parent and len(parent.parent.args) == 1 and not parent.parent.keywords:
            arg = parent.parent.args[0]
            if parent.attrname == "append":
                out.append(arg)
            elif parent.attrname == "extend" and isinstance(arg, nodes.List):
                out += arg.elts
            else:
                return None
        else:
            return None  # read, passed on or indexed: its elements may be used elsewhere
    return out


def _starred_name(args) -> str | None:
    if len(args) == 1 and isinstance(args[0], nodes.Starred) and isinstance(args[0].value, nodes.Name):
        return args[0].value.name
    return None


class ListChains:
    """The list-built Sequentials of one class whose children may form a fusable chain."""

    def __init__(self, analysis) -> None:
        self.analysis = analysis  # the FusionAnalysis: member types, reads, subclasses

    def _specs(self, func: nodes.FunctionDef, list_name: str) -> tuple[tuple[FusableChain, ...], bool]:
        """The table chains all of whose types some element of the list may have (and `inferred`)."""
        elements = list_elements(func, list_name)
        if not elements or any(not isinstance(e, nodes.Call) for e in elements):
            return (), False  # a Name could be a module shared with something else
        types, inferred = set(), False
        for element in elements:
            qname, guessed = self.analysis._ctor_type(element)
            if qname:
                types.add(qname)
                inferred = inferred or guessed
        specs = tuple(s for s in LONGEST_FIRST if set(s.types) <= types)
        return specs, inferred

    def chains(self, info) -> list[Chain]:
        analysis = self.analysis
        init = own_method(info.node, "__init__")
        if init is None:
            return []
        out = []
        for name, fact in info.attrs.items():
            value = fact.values[0] if len(fact.values) == 1 else None
            list_name = _starred_name(value.args) if isinstance(value, nodes.Call) and not value.keywords else None
            if list_name is None or analysis.imports.qualify(value.func) != _SEQUENTIAL or value.frame() is not init \
                    or fact.elements or analysis._foreign_read(info, name) or not analysis._called_whole(info, name):
                continue
            specs, inferred = self._specs(init, list_name)
            if specs:
                out.append(Chain((name,), specs[0], (value,), inferred, scan=specs))
        if self._sequential_subclass(info):
            for stmt in init.body:
                call = stmt.value if isinstance(stmt, nodes.Expr) else None
                if isinstance(call, nodes.Call) and isinstance(call.func, nodes.Attribute) \
                        and call.func.attrname == "__init__" and isinstance(call.func.expr, nodes.Call) \
                        and isinstance(call.func.expr.func, nodes.Name) and call.func.expr.func.name == "super" \
                        and not call.keywords and _starred_name(call.args):
                    specs, inferred = self._specs(init, _starred_name(call.args))
                    if specs:
                        out.append(Chain(("",), specs[0], (call,), inferred, scan=specs))
        return out

    def _sequential_subclass(self, info) -> bool:
        """An nn.Sequential subclass whose forward is Sequential's own, in it and every same-file subclass."""
        bases = info.node.bases
        if len(bases) != 1 or self.analysis.imports.qualify(bases[0]) != _SEQUENTIAL:
            return False
        return not any("forward" in klass.node.locals
                       for klass in [info] + self.analysis._subclasses.get(info, []))


def scan_lines(chain: Chain, render, fuse: str, qat_param: str | None) -> list[str]:
    """Run-time scan of one list-built Sequential: fuse each run of children of exactly a chain's types.

    After a run is fused its later members are nn.Identity, so the scan never fuses a child twice.
    Empty when a chain type cannot be named without a new import.
    """
    target = "self" if chain.names == ("",) else f"self.{chain.names[0]}"
    branches = []
    for spec in chain.scan:
        texts = []
        for qname in spec.types:
            text, imports = render(qname)
            if imports:
                break
            texts.append(text)
        else:
            n = len(spec.types)
            test = f"kinds[:{n}] == [{', '.join(texts)}]"
            if not spec.qat and qat_param:
                test = f"not {qat_param} and {test}"
            names = ", ".join(f"str(i + {k})" if k else "str(i)" for k in range(n))
            branches.append((test, f"{fuse}({target}, [{names}], inplace=True)"))
    if not branches:
        return []
    lines = [f"for i in range(len({target})):  # its children depend on arguments: fuse by exact type",
             f"    kinds = [type(m) for m in list({target})[i:i + {max(len(s.types) for s in chain.scan)}]]"]
    for k, (test, call) in enumerate(branches):
        lines += [f"    {'if' if k == 0 else 'elif'} {test}:", f"        {call}"]
    return lines
