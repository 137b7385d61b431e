"""`ModuleIndex`: every class of one file, its module-ness and what its attributes hold.

Built once per file (and per project file in project mode), in steps that each
live in their own module: bases and module-ness (module_bases.py), attribute
facts (attr_facts.py), the module classes an attribute holds (member_classes.py)
and modules shared by injection (injection.py). What it holds is defined in
class_facts.py; the attribute kinds are imported here so that analyses name
them as `classes.MODULE`.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.attr_facts import AttributeFacts
from pylint_distiller.analysis.class_facts import CONST, CONTAINER, FUNCTION, MODULE, TENSOR, UNKNOWN, AttrFact, \
    ClassInfo
from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.analysis.injection import SharedInjection
from pylint_distiller.analysis.member_classes import MemberClasses
from pylint_distiller.analysis.module_bases import ModuleDiscovery, class_defs
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.catalogue import STATELESS_MODULES

__all__ = ["CONST", "CONTAINER", "FUNCTION", "MODULE", "TENSOR", "UNKNOWN", "AttrFact", "ClassInfo", "ModuleIndex"]


class ModuleIndex(ModuleDiscovery, AttributeFacts, MemberClasses, SharedInjection):
    """Every class of one file, with module-ness and attribute facts resolved."""

    def __init__(self, module: nodes.Module, imports: ImportMap, extra_bases: tuple[str, ...] = (),
                 project=None):
        self.imports = imports
        self.extra_bases = extra_bases
        self.module = module
        #: the `ProjectIndex` that resolves bases and module classes imported from the project
        self.project = project
        self._foreign_targets: dict[int, list[ClassInfo]] = {}
        self.classes: dict[nodes.ClassDef, ClassInfo] = {}
        self.by_name: dict[str, ClassInfo] = {}
        self._local_tables: dict[nodes.FunctionDef, dict[str, list[nodes.NodeNG]]] = {}
        self._ctor_calls: dict[nodes.FunctionDef, list[tuple[nodes.Call, ClassInfo]]] = {}
        self._statements: dict[nodes.FunctionDef, list[nodes.NodeNG]] = {}
        for cls in class_defs(module):
            info = ClassInfo(cls)
            self.classes[cls] = info
            self.by_name.setdefault(cls.name, info)
        self._resolve_bases()
        self._resolve_module_ness()
        for info in self.classes.values():
            self._collect_members(info)
        self._stateful_cache: dict[str, bool | None] = {}
        #: class -> attribute -> classes of the module it holds, for attributes bound to a
        #: module that the constructor's caller hands to several instances (weight sharing
        #: by injection: `Block(shared_crpe=self.crpe)` for every block of a list)
        self.injected: dict[ClassInfo, dict[str, set[str]]] = {}
        self._resolve_injection()
        # `boundaries.py` finds the callers of a forward or helper from any node of the tree
        module.__dict__["_distiller_index"] = self
        module.__dict__.pop("_distiller_callers", None)
        module.__dict__.pop("_distiller_float_arguments", None)

    def statements_of(self, func: nodes.FunctionDef) -> list[nodes.NodeNG]:
        """The assignments and calls of a function, in walk order: one astroid walk per function.

        Attribute facts, local values and constructor calls all read these; a base
        class's methods are read again for every subclass, so the walk is cached.
        """
        found = self._statements.get(func)
        if found is None:
            found = self._statements[func] = list(
                nodes_in(func, (nodes.Assign, nodes.AnnAssign, nodes.AugAssign, nodes.Call)))
        return found

    # ----------------------------------------------------------------- state
    def module_stateful(self, qname: str | None, _depth: int = 0) -> bool | None:
        """Whether instances of a module class hold parameters or buffers."""
        if qname is None:
            return None
        if not qname.startswith("local:"):
            return qname not in STATELESS_MODULES if qname.startswith("torch.nn.") else None
        if qname in self._stateful_cache:
            return self._stateful_cache[qname]
        self._stateful_cache[qname] = None  # recursion guard
        info = self.by_name.get(qname[6:])
        result: bool | None = None
        if info is not None and _depth < 8:
            if any(b.external_bases for b in info.mro()):
                result = None
            else:
                result = False
                for fact in info.attrs.values():
                    if fact.kind == TENSOR:
                        result = True
                    elif fact.kind in (MODULE, CONTAINER):
                        sub = fact.stateful if fact.stateful is not None else self.module_stateful(fact.qname, _depth + 1)
                        if sub is None and result is False:
                            result = None
                        elif sub:
                            result = True
                    elif fact.kind == UNKNOWN:
                        result = None if result is False else result
                    if result:
                        break
        self._stateful_cache[qname] = result
        return result

    def attr_stateful(self, fact: AttrFact) -> bool | None:
        if fact.stateful is not None:
            return fact.stateful
        if fact.kind in (MODULE, CONTAINER) and fact.qname:
            return self.module_stateful(fact.qname)
        return None

    def module_classes(self):
        return [info for info in self.classes.values() if info.is_module]
