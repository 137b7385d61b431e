"""What each `self.<name>` of a module class holds, from the assignments of its methods.

Attribute facts come from every `self.<name> = ...` in the class and its bases: a
submodule (and whether it holds state), a tensor (parameter, buffer), a constant
(`self.scale = head_dim ** -0.5`), a function reference (`self.act = F.gelu`), or
unknown (`self.act = ACT2FN[name]`); `register_buffer`/`register_parameter` calls
add tensors and `self.blocks.append(Block())` what a container holds.
"""

from __future__ import annotations

from dataclasses import replace

from astroid import nodes

from pylint_distiller.analysis.class_facts import CONST, CONTAINER, FUNCTION, MODULE, TENSOR, UNKNOWN, AttrFact, \
    ClassInfo
from pylint_distiller.analysis.module_bases import is_torch_module_class
from pylint_distiller.catalogue import (CONTAINER_MODULES, STATELESS_MODULES, STATELESS_QUANT_MODULES, TENSOR_CLASSES,
                                        UNQUANTIZABLE)


class AttributeFacts:
    """`ModuleIndex`'s second step: the `AttrFact`s of every class, its bases' included.

    Reads the index's `classes`, `by_name`, `imports` and `statements_of`.
    """

    def _collect_members(self, info: ClassInfo) -> None:
        for base in reversed(info.mro()):
            for name, defs in base.node.locals.items():
                for d in defs:
                    if isinstance(d, nodes.FunctionDef) and d.parent is base.node:
                        info.methods[name] = d
        for base in reversed(info.mro()):
            own = base is info
            if base.node not in self.classes:
                # a base of another file: its facts, classified with that file's imports
                for name, fact in base.attrs.items():
                    if name not in info.attrs:
                        info.attrs[name] = replace(fact, values=list(fact.values), elements=list(fact.elements),
                                                   in_own_init=False)
                continue
            for stmt in base.node.body:
                if isinstance(stmt, nodes.Assign) and self._module_ctor(stmt.value) is not None:
                    if own:
                        info.class_modules.append(stmt)
            for method in base.node.body:
                if isinstance(method, nodes.FunctionDef):
                    self._collect_assignments(info, method, own and method.name == "__init__")

    def _module_ctor(self, value: nodes.NodeNG) -> str | None:
        """Qualified name of the module class `value` constructs, if it does."""
        if not isinstance(value, nodes.Call):
            return None
        func = value.func
        qname = self.imports.qualify(func)
        if is_torch_module_class(qname):
            return qname
        if isinstance(func, nodes.Name) and func.name in self.by_name and func.name not in self.imports.aliases:
            local = self.by_name[func.name]
            return f"local:{func.name}" if local.is_module else None
        return None

    def _collect_assignments(self, info: ClassInfo, method: nodes.FunctionDef, own_init: bool) -> None:
        local_modules: dict[str, nodes.Call] = {}
        bound_from_local: dict[str, list[str]] = {}
        for node in self.statements_of(method):
            if isinstance(node, nodes.AugAssign):
                continue
            if isinstance(node, nodes.Call):
                self._collect_registration(info, node)
                if method.parent is info.node and isinstance(node.func, (nodes.Name, nodes.Attribute)) and \
                        self.imports.qualify(node.func) in UNQUANTIZABLE:
                    info.unquantizable.append(node)
                continue
            value = node.value
            if value is None:
                continue
            targets = node.targets if isinstance(node, nodes.Assign) else [node.target]
            self_targets = [t.attrname for t in targets if isinstance(t, nodes.AssignAttr)
                            and isinstance(t.expr, nodes.Name) and t.expr.name == "self"]
            if len(self_targets) > 1 and isinstance(value, nodes.Call) and \
                    self._classify_value(value)[0] in (MODULE, CONTAINER):
                # `self.mlp2 = self.mlp3 = Mlp()`: one instance, several names
                for attr in self_targets[1:]:
                    bound_from_local.setdefault(f"<chained:{id(node)}>", [self_targets[0]])
                    bound_from_local[f"<chained:{id(node)}>"].append(attr)
            for target in targets:
                if isinstance(target, nodes.AssignName) and isinstance(value, nodes.Call):
                    if self._module_ctor(value):
                        local_modules[target.name] = value
                if not (isinstance(target, nodes.AssignAttr) and isinstance(target.expr, nodes.Name)
                        and target.expr.name == "self"):
                    continue
                resolved = local_modules.get(value.name) if isinstance(value, nodes.Name) else None
                fact = self._fact_for(info, target.attrname, value, resolved)
                fact.in_own_init = fact.in_own_init or own_init
                if isinstance(value, nodes.Name) and value.name in local_modules:
                    bound_from_local.setdefault(value.name, []).append(target.attrname)
        for _local, attrs in bound_from_local.items():
            if len(attrs) > 1:
                for attr in attrs[1:]:
                    if attr == attrs[0] or attr not in info.attrs:
                        continue
                    info.attrs[attr].alias_of = attrs[0]
                    info.shared.append((info.attrs[attr].values[-1], attr, attrs[0]))

    def _collect_registration(self, info: ClassInfo, call: nodes.Call) -> None:
        """`self.register_buffer("name", t)` / `register_parameter`: tensor attributes.

        Also `self.blocks.append(Block())` (and extend/insert/add_module): what a
        container attribute holds.
        """
        func = call.func
        if (isinstance(func, nodes.Attribute) and func.attrname in ("append", "extend", "insert", "add_module")
                and isinstance(func.expr, nodes.Attribute) and isinstance(func.expr.expr, nodes.Name)
                and func.expr.expr.name == "self" and call.args):
            fact = info.attrs.get(func.expr.attrname)
            if fact is not None:
                fact.elements.append(call.args[-1])
            return
        if (isinstance(func, nodes.Attribute) and func.attrname in ("register_buffer", "register_parameter")
                and isinstance(func.expr, nodes.Name) and func.expr.name == "self" and call.args
                and isinstance(call.args[0], nodes.Const) and isinstance(call.args[0].value, str)):
            fact = info.attrs.setdefault(call.args[0].value, AttrFact(call.args[0].value, TENSOR))
            fact.kind = TENSOR

    def _registered(self, info: ClassInfo, name: str) -> bool:
        """`self.register_buffer("<name>", ...)` or `register_parameter` in the class or a same-file base."""
        for base in info.mro():
            if base.node not in self.classes:
                continue
            for method in base.node.mymethods():
                for call in self.statements_of(method):
                    func = getattr(call, "func", None)
                    if isinstance(call, nodes.Call) and isinstance(func, nodes.Attribute) \
                            and func.attrname in ("register_buffer", "register_parameter") and call.args \
                            and isinstance(call.args[0], nodes.Const) and call.args[0].value == name:
                        return True
        return False

    def _fact_for(self, info: ClassInfo, name: str, value: nodes.NodeNG,
                  resolved: nodes.NodeNG | None = None) -> AttrFact:
        """Fact for `self.<name> = value`; `resolved` is what a local name `value` holds."""
        ctor_node = resolved if resolved is not None else value
        kind, qname, stateful, alias = self._classify_value(ctor_node)
        fact = info.attrs.get(name)
        if fact is None:
            fact = info.attrs[name] = AttrFact(name, kind, qname, ctor_node if qname else None, stateful, alias)
            fact.values.append(value)
            if alias:
                info.shared.append((value, name, alias))
            return fact
        fact.values.append(value)
        if kind == CONST and isinstance(value, nodes.Const) and value.value is None:
            return fact  # `self.x = None` placeholders do not change what x holds
        if fact.kind == CONST and isinstance(fact.values[0], nodes.Const) and fact.values[0].value is None:
            fact.kind, fact.qname, fact.stateful, fact.ctor = kind, qname, stateful, ctor_node if qname else None
            return fact
        if kind != fact.kind and not (fact.kind == TENSOR and kind == UNKNOWN and self._registered(info, name)):
            # (a registered buffer or parameter stays one: `nn.Module.__setattr__` takes only a
            # tensor or None for it, as convit's `self.rel_indices = self.get_rel_indices(n)`)
            rank = (MODULE, CONTAINER, UNKNOWN, TENSOR, FUNCTION, CONST)
            fact.kind = min(kind, fact.kind, key=rank.index)
        if qname != fact.qname or fact.ctor is not None and qname:
            fact.ctor = None  # several constructors: no single one to copy
        if stateful is not fact.stateful:
            fact.stateful = True if (stateful or fact.stateful) else None
        fact.qname = fact.qname or qname
        return fact

    def _classify_value(self, value: nodes.NodeNG):
        """(kind, ctor qname, stateful, alias_of) of an attribute's assigned value."""
        if isinstance(value, nodes.IfExp):  # `nn.Parameter(...) if class_token else None`: a tensor or nothing
            kinds = {self._classify_value(v)[0] for v in (value.body, value.orelse)
                     if not (isinstance(v, nodes.Const) and v.value is None)}
            if kinds == {TENSOR}:
                return TENSOR, None, None, None
        qname = self._module_ctor(value)
        if qname is not None:
            if qname in CONTAINER_MODULES:
                return CONTAINER, qname, None, None
            return MODULE, qname, None if qname.startswith("local:") else qname not in STATELESS_MODULES, None
        if isinstance(value, nodes.Attribute) and isinstance(value.expr, nodes.Name) and value.expr.name == "self":
            return UNKNOWN, None, None, value.attrname  # resolved when the alias target is known
        if isinstance(value, nodes.Call):
            callee = self.imports.qualify(value.func) or ""
            last = callee.rsplit(".", 1)[-1]
            if callee.rsplit(".", 1)[-1] in TENSOR_CLASSES and callee.startswith("torch.nn.") or (
                callee.startswith("torch.") and last[:1].islower() and not callee.startswith("torch.nn.")
            ):
                return TENSOR, None, None, None
            if callee in STATELESS_QUANT_MODULES:
                return MODULE, None, False, None  # a FloatFunctional or stub: no parameters to tie
            if isinstance(value.func, (nodes.Name, nodes.Attribute)):
                last = value.func.as_string().rsplit(".", 1)[-1]
                if last[:1].isupper() and last not in ("int", "float"):
                    return MODULE, None, None, None  # an imported class: most likely a module
            return UNKNOWN, None, None, None
        if isinstance(value, (nodes.Const, nodes.BinOp, nodes.UnaryOp, nodes.Tuple, nodes.List, nodes.BoolOp,
                              nodes.Compare, nodes.JoinedStr, nodes.Dict, nodes.Set)):
            return CONST, None, None, None
        if isinstance(value, nodes.Lambda):
            return FUNCTION, None, None, None
        if isinstance(value, nodes.Attribute) and _config_root(value):
            return CONST, None, None, None  # `self.patch = config.patch_size`
        if isinstance(value, (nodes.Name, nodes.Attribute)):
            callee = self.imports.qualify(value) or ""
            if callee.startswith(("torch.nn.functional.", "torch.")) and callee.rsplit(".", 1)[1][:1].islower():
                return FUNCTION, callee, None, None
        return UNKNOWN, None, None, None


_CONFIG_NAMES = ("config", "cfg", "conf", "args", "opt", "opts", "hparams", "params", "settings")


def _config_root(node: nodes.Attribute) -> bool:
    """`config.patch_size`, `self.config.hidden_size`: a configuration value, never a module or tensor."""
    while isinstance(node, nodes.Attribute):
        if node.attrname in _CONFIG_NAMES or node.attrname.endswith("_config"):
            return True
        node = node.expr
    return isinstance(node, nodes.Name) and (node.name in _CONFIG_NAMES or node.name.endswith("_config"))
