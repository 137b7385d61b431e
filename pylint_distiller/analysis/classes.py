"""Which classes are `nn.Module`s, and what their attributes hold.

A class is a module when a base resolves to a torch.nn class, to another module
class of the same file, or to a configured base (`distiller-module-bases`); a
class that defines `forward` and derives from an imported class we cannot see
(`PreTrainedModel`, a project's `BaseBlock`) is taken as a module with INFERENCE
confidence: in model files that is what such classes are.

Attribute facts come from every `self.<name> = ...` in the class and its
same-file bases: a submodule (and whether it holds state), a tensor (parameter,
buffer), a constant (`self.scale = head_dim ** -0.5`), a function reference
(`self.act = F.gelu`), or unknown (`self.act = ACT2FN[name]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from astroid import nodes

from pylint_distiller.analysis.imports import ImportMap
from pylint_distiller.analysis.syntax import in_loop
from pylint_distiller.catalogue import CONTAINER_MODULES, STATELESS_MODULES, TENSOR_CLASSES, UNQUANTIZABLE

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


_MODULE_BASE_HINTS = ("Module", "Layer", "Block", "Model", "PreTrainedModel")


def _is_torch_module_class(qname: str | None) -> bool:
    if not qname or not qname.startswith("torch.nn."):
        return False
    last = qname.rsplit(".", 1)[1]
    return last[:1].isupper() and last not in TENSOR_CLASSES


def _class_defs(module: nodes.Module):
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


class ModuleIndex:
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
        for cls in _class_defs(module):
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

    # ------------------------------------------------------------ module-ness
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
                    if _is_torch_module_class(qname) or self._is_extra_base(base, qname):
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
            for call in [value, *value.nodes_of_class(nodes.Call)] if isinstance(value, nodes.NodeNG) else ():
                if isinstance(call, nodes.Call):
                    info = self._project_class(call.func)
                    if info is not None and info.is_module and info not in out:
                        out.append(info)
        return out

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

    # ------------------------------------------------------------- attributes
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
        if _is_torch_module_class(qname):
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
        if kind != fact.kind:
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

    # ------------------------------------------------------- module targets
    def _local_module_calls(self, value: nodes.NodeNG, depth: int = 0) -> list[str]:
        """Names of same-file module classes constructed in `value` (resolving local names once)."""
        out: list[str] = []
        scope = value.scope() if depth == 0 else None
        for node in [value, *value.nodes_of_class((nodes.Call, nodes.Name))]:
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

    # ------------------------------------------------------------- injection
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

    def statements_of(self, func: nodes.FunctionDef) -> list[nodes.NodeNG]:
        """The assignments and calls of a function, in walk order: one astroid walk per function.

        Attribute facts, local values and constructor calls all read these; a base
        class's methods are read again for every subclass, so the walk is cached.
        """
        found = self._statements.get(func)
        if found is None:
            found = self._statements[func] = list(
                func.nodes_of_class((nodes.Assign, nodes.AnnAssign, nodes.AugAssign, nodes.Call)))
        return found

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
                for assign in method.nodes_of_class(nodes.Assign):
                    names = {n.name for n in assign.value.nodes_of_class(nodes.Name)} if not isinstance(
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


def _calls_self_attr(info: ClassInfo, attr: str) -> bool:
    for method in info.node.mymethods():
        for call in method.nodes_of_class(nodes.Call):
            func = call.func
            if isinstance(func, nodes.Attribute) and func.attrname == attr and isinstance(func.expr, nodes.Name) \
                    and func.expr.name == "self":
                return True
    return False


_CONFIG_NAMES = ("config", "cfg", "conf", "args", "opt", "opts", "hparams", "params", "settings")


def _config_root(node: nodes.Attribute) -> bool:
    """`config.patch_size`, `self.config.hidden_size`: a configuration value, never a module or tensor."""
    while isinstance(node, nodes.Attribute):
        if node.attrname in _CONFIG_NAMES or node.attrname.endswith("_config"):
            return True
        node = node.expr
    return isinstance(node, nodes.Name) and (node.name in _CONFIG_NAMES or node.name.endswith("_config"))


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
