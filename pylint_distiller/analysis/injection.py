"""Modules shared by injection: the same instance handed to several constructors.

`Block(shared_crpe=self.crpe)` for every block of a list binds one module to an
attribute of many instances: calling it in each block's forward reuses it. The
index records, per class, the attributes bound that way and the classes they hold.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis.class_facts import CONTAINER, MODULE, ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.syntax import in_loop


class SharedInjection:
    """`ModuleIndex`'s last step: fills `injected` (class -> attribute -> module classes).

    Reads the index's `classes`, `imports`, `by_name`, the attribute facts and the member classes.
    """

    def _ctor_params(self, info: ClassInfo) -> list[str]:
        init = info.methods.get("__init__")
        if init is None or init.args.args is None:
            return []
        return [a.name for a in list(init.args.posonlyargs) + list(init.args.args)][1:]

    def _module_sources(self, node, info: ClassInfo, method: nodes.FunctionDef,
                        shared: dict[ClassInfo, dict[str, set[str]]]):
        """(source key, module classes, always shared) for the modules an argument expression hands on."""
        if isinstance(node, nodes.Starred):
            return self._module_sources(node.value, info, method, shared)
        if isinstance(node, (nodes.Tuple, nodes.List)):
            out = []
            for elt in node.elts:
                out += self._module_sources(elt, info, method, shared)
            return out
        if isinstance(node, nodes.Subscript):
            return self._module_sources(node.value, info, method, shared)
        if isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self":
            fact = info.attrs.get(node.attrname)
            if fact is not None and fact.kind in (MODULE, CONTAINER):
                return [(("attr", node.attrname), set(self.module_classes_of(fact)), False)]
            return []
        if isinstance(node, nodes.Name):
            params = {a.name for a in list(method.args.posonlyargs or []) + list(method.args.args or [])
                      + list(method.args.kwonlyargs or [])}
            if node.name in params:
                classes = shared.get(info, {}).get(node.name)
                return [(("param", node.name), set(classes), True)] if classes is not None else []
            for value in self._local_values(method, node.name):
                if self._module_ctor(value) is not None or (
                        isinstance(value, nodes.Call) and self._classify_value(value)[0] == MODULE):
                    return [(("local", node.name, id(value)), set(self._direct_local(value)), value)]
        return []

    def _module_ctor_calls(self, method: nodes.FunctionDef) -> list[tuple[nodes.Call, ClassInfo]]:
        """Calls constructing same-file module classes in a method (walked once, asked every round)."""
        found = self._ctor_calls.get(method)
        if found is None:
            found = self._ctor_calls[method] = []
            for call in self.statements_of(method):
                if isinstance(call, nodes.Call) and isinstance(call.func, nodes.Name) and \
                        call.func.name not in self.imports.aliases:
                    target = self.by_name.get(call.func.name)
                    if target is not None and target.is_module:
                        found.append((call, target))
        return found

    def _resolve_injection(self) -> None:
        shared: dict[ClassInfo, dict[str, set[str]]] = {}
        for _round in range(4):
            changed = False
            for info in self.classes.values():
                for method in info.node.mymethods():
                    uses: dict[tuple, list] = {}
                    for call, target in self._module_ctor_calls(method):
                        repeated = in_loop(call, method)
                        params = self._ctor_params(target)
                        bound = [(params[i] if i < len(params) else None, arg) for i, arg in enumerate(call.args)
                                 if not isinstance(arg, nodes.Starred)]
                        bound += [(kw.arg, kw.value) for kw in call.keywords or () if kw.arg]
                        for param, arg in bound:
                            if param is None:
                                continue
                            for key, classes, always in self._module_sources(arg, info, method, shared):
                                rec = uses.setdefault(key, [0, set(), []])
                                many = repeated
                                if isinstance(always, nodes.NodeNG):  # a local: fresh per loop turn?
                                    many = repeated and not _same_loop(always, call, method)
                                    always = False
                                rec[0] += 2 if (many or always) else 1
                                rec[1] |= classes
                                rec[2].append((target, param))
                    for key, (count, classes, dests) in uses.items():
                        if key[0] == "attr" and _calls_self_attr(info, key[1]):
                            count += 1  # the owner calls it as well
                        if count < 2:
                            continue
                        for target, param in dests:
                            known = shared.setdefault(target, {}).get(param)
                            if known is None or not classes <= known:
                                shared[target][param] = (known or set()) | classes
                                changed = True
            if not changed:
                break
        for info, params in shared.items():
            for method in info.node.mymethods():
                for assign in nodes_in(method, nodes.Assign):
                    names = {n.name for n in nodes_in(assign.value, nodes.Name)} if not isinstance(
                        assign.value, nodes.Call) else set()
                    hit = names & set(params)
                    if not hit:
                        continue
                    for target in assign.targets:
                        if isinstance(target, nodes.AssignAttr) and isinstance(target.expr, nodes.Name) \
                                and target.expr.name == "self":
                            classes = set().union(*(params[n] for n in hit))
                            self.injected.setdefault(info, {})[target.attrname] = classes

    def injected_attrs(self, info: ClassInfo) -> dict[str, set[str]]:
        """Attributes of `info` (or its same-file bases) bound to a module shared by several instances."""
        out: dict[str, set[str]] = {}
        for klass in reversed(info.mro()):
            out.update(self.injected.get(klass, {}))
        return out


def _calls_self_attr(info: ClassInfo, attr: str) -> bool:
    for method in info.node.mymethods():
        for call in nodes_in(method, nodes.Call):
            func = call.func
            if isinstance(func, nodes.Attribute) and func.attrname == attr and isinstance(func.expr, nodes.Name) \
                    and func.expr.name == "self":
                return True
    return False


def _loop_of(node: nodes.NodeNG, scope: nodes.NodeNG) -> nodes.NodeNG | None:
    parent = node.parent
    while parent is not None and parent is not scope:
        if isinstance(parent, (nodes.For, nodes.While, nodes.ListComp, nodes.SetComp, nodes.GeneratorExp,
                               nodes.DictComp)):
            return parent
        parent = parent.parent
    return None


def _same_loop(value: nodes.NodeNG, call: nodes.NodeNG, scope: nodes.NodeNG) -> bool:
    """`pool = Pooling()` and `Stage(pool=pool)` in one loop body: a fresh module per turn."""
    loop = _loop_of(call, scope)
    if loop is None:
        return False
    parent = value.parent
    while parent is not None and parent is not scope:
        if parent is loop:
            return True
        parent = parent.parent
    return False
