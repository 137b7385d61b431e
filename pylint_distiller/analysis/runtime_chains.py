"""Forward chains whose member classes show only at run time (fused by `runtime_fusion.fuse_by_type`).

`FusionAnalysis` links member calls by data flow (`x = self.conv(x)`, `x = self.bn(x)`, each value
read once, by the next call). Where every member's class shows in `__init__`, the chain is fused by
name. Where one does not (`self.conv = create_conv2d(...)`, `self.norm = norm_layer(c)` with no
default, `self.act = nn.ReLU() if use_act else nn.Identity()` on two paths), the chain is still a
chain: only its types are open. This module says which classes a member may have and which table
chains a run of such members may form; the fix then fuses by exact type when `fuse_model()` runs.

A member qualifies when it is one instance, bound only to constructor or factory calls in
`__init__` (a Name could be a module shared with something else), read by nothing but its one call;
a value that is a class other than a torch.nn one (`DropPath(...)`, a same-file block) can never be a
chain type, so it adds nothing, and a member with only such values is no candidate.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.runtime_fusion import LONGEST_FIRST
from pylint_distiller.analysis.syntax import is_self_attr
from pylint_distiller.catalogue import FUSABLE_CHAINS, FusableChain

CHAIN_TYPES = frozenset(t for c in FUSABLE_CHAINS for t in c.types)
_SEQUENTIAL = "torch.nn.Sequential"


def runtime_kinds(analysis, info, attr: str, fact) -> frozenset[str] | None | bool:
    """The chain types `self.<attr>` may have: a set, None (any: a factory's product), or False (no candidate)."""
    if not fact.values or not analysis.sole_caller_member(info, attr, fact, containers=True):
        return False
    found: set[str] = set()
    for value in fact.values:
        for candidate in (value.body, value.orelse) if isinstance(value, nodes.IfExp) else (value,):
            if isinstance(candidate, nodes.Const) and candidate.value is None:
                continue  # `self.act = None` on a path: no type of the table
            if not isinstance(candidate, nodes.Call):
                return False  # a module built elsewhere may be shared
            qname, _inferred = analysis._ctor_type(_copied(candidate, info, analysis))
            if qname == _SEQUENTIAL:
                return None  # its children join the run when fuse_by_type() runs: any type may end it
            if qname is not None:
                found.add(qname)
            elif not _names_a_class(candidate.func, analysis):
                return None  # a factory or a layer class passed in: any type
    kinds = frozenset(found & CHAIN_TYPES)
    return kinds or False


def _copied(call: nodes.Call, info, analysis) -> nodes.NodeNG:
    """`copy.deepcopy(self.layer)` (an unsafe fix's untied copy): the constructor of `self.layer`."""
    if analysis.imports.qualify(call.func) == "copy.deepcopy" and len(call.args) == 1 and is_self_attr(call.args[0]):
        fact = info.attrs.get(call.args[0].attrname)
        if fact is not None and len(fact.values) == 1:
            return fact.values[0]
    return call


def _names_a_class(func: nodes.NodeNG, analysis) -> bool:
    """`DropPath(...)`, `Block(...)`, `DeQuantStub()`: a class that is not a chain type (`_ctor_type` knows those)."""
    if isinstance(func, nodes.Name) and any(isinstance(d, nodes.ClassDef) for d in func.root().locals.get(func.name, ())):
        return True
    qname = analysis.imports.qualify(func) or ""
    last = qname.rsplit(".", 1)[-1]
    return last[:1].isupper()


def plausible_chains(kinds: list[frozenset[str] | None]) -> tuple[FusableChain, ...]:
    """The table chains some window of a run may form (None: any type), longest first."""
    out = []
    for spec in LONGEST_FIRST:
        n = len(spec.types)
        for i in range(len(kinds) - n + 1):
            window = kinds[i:i + n]
            if all(k is None or t in k for k, t in zip(window, spec.types)):
                out.append(spec)
                break
    return tuple(out)
