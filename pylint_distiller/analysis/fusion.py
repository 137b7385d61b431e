"""Fusable chains of submodules (conv+bn+relu...) and the `fuse_model()` fix (torch-eager).

Eager quantization fuses a chain only when asked (`torch.ao.quantization.fuse_modules`),
and fusing is only correct when the chain really is one: each member's output goes
only into the next member, every member runs once per forward pass, and nothing else
reads a member (fusion turns the first member into the fused module and the others
into `nn.Identity`). A chain is found

* through call nesting, `self.relu(self.bn(self.conv(x)))`;
* through assignments, `out = self.conv(x)` then `out = self.bn(out)` (the name is
  read once, by the next call, and is dead afterwards);
* inside `nn.Sequential(...)` literals assigned in `__init__` (members named by index,
  `features.0`), nested literals included (an attribute assigned several literals,
  `self.shortcut = nn.Sequential()` or a conv+bn one, is fused behind a length test), in
  a Sequential subclass whose `__init__` calls `super().__init__(<literal modules>)`
  (torchvision's ConvBNReLU), and inside library Sequentials whose children follow their
  arguments (`KNOWN_SEQUENTIALS`: torchvision's Conv2dNormActivation). Sequentials built from a
  list (`nn.Sequential(*layers)`) are `fusion_lists`' job.

Member types come from torch.nn constructors, from same-file helpers or static methods
that return one (`conv3x3(...)`), or from a local that defaults to a torch.nn class
(`norm_layer = nn.BatchNorm2d` when None: INFERENCE, torchvision's convention).

The findings and the `fuse_model()` fix built from these chains live in `fusion_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from astroid import nodes

from pylint_distiller.analysis import chain_readers, fusion_safe_reads, optional_chains
from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.analysis.fold_methods import fold_method
from pylint_distiller.analysis.foreign_reads import ForeignReads
from pylint_distiller.analysis.forward import ForwardAnalysis
from pylint_distiller.analysis.fusion_chain import Chain
from pylint_distiller.analysis.own_children_loop import own_children_chains
from pylint_distiller.analysis.runtime_chains import CHAIN_TYPES, plausible_chains, runtime_kinds
from pylint_distiller.analysis.runtime_fusion import LONGEST_FIRST
from pylint_distiller.analysis.syntax import REPEATING, in_loop, is_self_attr, own_method, parameter_default
from pylint_distiller.catalogue import KNOWN_SEQUENTIALS, FusableChain

_SEQUENTIAL = "torch.nn.Sequential"
_LOOPS = REPEATING + (nodes.Lambda,)  # a member called in a lambda may run any number of times


@dataclass
class _Member:
    name: str
    qname: str | None
    inferred: bool
    node: nodes.NodeNG


def _mentions(stmt: nodes.NodeNG, name: str) -> int:
    return sum(1 for n in stmt.nodes_of_class((nodes.Name, nodes.AssignName)) if n.name == name)


def _segment(members: list[_Member | None]) -> list[tuple[int, FusableChain]]:
    """Split a run of linked members into table chains, longest match first, left to right."""
    out, i = [], 0
    while i < len(members):
        for spec in LONGEST_FIRST:
            run = members[i:i + len(spec.types)]
            if len(run) == len(spec.types) and all(m is not None and m.qname == t for m, t in zip(run, spec.types)):
                out.append((i, spec))
                i += len(spec.types)
                break
        else:
            i += 1
    return out


class FusionAnalysis:
    """Fusable chains of the module classes of one file."""

    def __init__(self, index: ModuleIndex, walk: ForwardAnalysis) -> None:
        self.index = index
        self.imports = index.imports
        self.walk = walk
        module = next(iter(index.classes)).root() if index.classes else None
        self._functions = {f.name: f for f in module.body if isinstance(f, nodes.FunctionDef)} if module else {}
        self._foreign = ForeignReads(module, index, self.imports, self._fold_method) if module else None
        self._sequential_calls = [c for c in module.nodes_of_class(nodes.Call)
                                  if self.imports.qualify(c.func) == _SEQUENTIAL] if module else []
        self._subclasses: dict[ClassInfo, list[ClassInfo]] = {}
        self._reads_cache: dict[ClassInfo, dict[str, list[nodes.Attribute]]] = {}
        self._chains: dict[ClassInfo, list[Chain]] = {}
        self._forward_code_cache: dict[ClassInfo, set[nodes.FunctionDef]] = {}
        for info in index.classes.values():
            for base in info.mro()[1:]:
                self._subclasses.setdefault(base, []).append(info)

    # ------------------------------------------------------------ member types
    def _ctor_type(self, value: nodes.NodeNG, depth: int = 0) -> tuple[str | None, bool]:
        """(torch.nn class, inferred) that constructing `value` yields, or (None, False)."""
        if not isinstance(value, nodes.Call) or depth > 3:
            return None, False
        func = value.func
        qname = self.imports.qualify(func)
        if qname and qname.startswith("torch.nn.") and qname.rsplit(".", 1)[1][:1].isupper():
            return qname, False
        scope = value.frame()
        helper = None
        if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self" \
                and isinstance(scope, nodes.FunctionDef) and isinstance(scope.parent, nodes.ClassDef):
            # `self.depthwise_conv(...)`: a static method of the class that returns a constructor
            found = [d for d in scope.parent.locals.get(func.attrname, ()) if isinstance(d, nodes.FunctionDef)]
            if len(found) == 1 and found[0].decorators and "staticmethod" in found[0].decorators.as_string():
                helper = found[0]
        elif isinstance(func, nodes.Name):
            if isinstance(scope, nodes.FunctionDef) and func.name in scope.locals:
                return self._local_class(scope, func.name)
            if func.name not in self.imports.aliases:
                helper = self._functions.get(func.name)
        if helper is not None:
            results = {self._ctor_type(r.value, depth + 1) for r in helper.nodes_of_class(nodes.Return)
                       if r.frame() is helper}
            if len(results) == 1:
                return results.pop()
        return None, False

    def _local_class(self, func: nodes.FunctionDef, name: str) -> tuple[str | None, bool]:
        """`norm_layer` that is a parameter defaulting to None and set to one torch.nn class."""
        values: list[nodes.NodeNG] = []
        for node in func.nodes_of_class(nodes.AssignName):
            if node.name != name or node.frame() is not func:
                continue
            if isinstance(node.parent, nodes.Arguments):
                default = parameter_default(func, name)
                if default is None or (isinstance(default, nodes.Const) and default.value is None):
                    continue
                values.append(default)
            elif isinstance(node.parent, nodes.Assign) and len(node.parent.targets) == 1:
                values.append(node.parent.value)
            else:
                return None, False
        qnames = {self._class_ref(func, v) for v in values}
        if len(qnames) == 1:
            qname = qnames.pop()
            if qname and qname.startswith("torch.nn.") and qname.rsplit(".", 1)[1][:1].isupper():
                return qname, True
        return None, False

    def _class_ref(self, func: nodes.FunctionDef, value: nodes.NodeNG) -> str | None:
        """The class a name refers to: `nn.BatchNorm2d`, or `self._norm_layer` set from such a parameter."""
        if not isinstance(value, (nodes.Name, nodes.Attribute)):
            return None
        if is_self_attr(value) and isinstance(func.parent, nodes.ClassDef):
            info = self.index.classes.get(func.parent)
            fact = info.attrs.get(value.attrname) if info else None
            init = info.init() if info else None
            if fact and len(fact.values) == 1 and isinstance(fact.values[0], nodes.Name) and init is not None \
                    and fact.values[0].frame() is init:
                return self._local_class(init, fact.values[0].name)[0]
            return None
        return self.imports.qualify(value)

    # ------------------------------------------------------------ references
    def _fold_method(self, method: nodes.FunctionDef) -> bool:
        """A deploy-time fold method of a class (`fold_methods`): its member reads leave chains fusable."""
        return isinstance(method.parent, nodes.ClassDef) and \
            fold_method(method, method.parent, self.imports.qualify, self.walk.helper_calls.runs)

    def _foreign_read(self, info: ClassInfo, name: str) -> bool:
        """Code outside the class may read member `name` of its instances (`self.block.conv1`, `m.bn`)."""
        return self._foreign is not None and self._foreign.blocks(info, name)

    def _self_uses(self, info: ClassInfo, name: str) -> list[nodes.Attribute]:
        """Reads of `self.<name>` outside `__init__`, in the class and its same-file subclasses."""
        return [n for klass in [info] + self._subclasses.get(info, []) for n in self._reads(klass).get(name, ())]

    def _reads(self, info: ClassInfo) -> dict[str, list[nodes.Attribute]]:
        """`self.<attr>` nodes of the class's own methods other than `__init__` and `_load_from_state_dict`
        (torch's load hook: on a fused model only a fused checkpoint loads, so what it patches for older
        checkpoints, torchvision MNASNet's `self.layers[idx] = layer`, never meets a fused member)
        and deploy-time fold methods (`fold_methods`: timm's `ConvNorm.fuse()`), by name (one walk per class)."""
        if info not in self._reads_cache:
            reads: dict[str, list[nodes.Attribute]] = {}
            for method in info.node.body:  # every def: `mymethods()` yields one per name (torchvision's
                # DenseLayer has two `@torch.jit._overload_method` stubs before its real forward)
                if isinstance(method, nodes.FunctionDef) and method.name not in ("__init__", "_load_from_state_dict") \
                        and not self._fold_method(method):
                    for node in method.nodes_of_class(nodes.Attribute):
                        if is_self_attr(node):
                            reads.setdefault(node.attrname, []).append(node)
            self._reads_cache[info] = reads
        return self._reads_cache[info]

    # ---------------------------------------------------------- forward chains
    def _forward_chains(self, info: ClassInfo) -> list[Chain]:
        entry = next(((totals, calls) for owner, _f, totals, calls in self.walk.per_forward if owner is info), None)
        if entry is None:
            return []
        overriding = [sub for sub in self._subclasses.get(info, []) if "forward" in sub.node.locals]
        if overriding:  # a subclass runs another forward over the same members: only the chains it runs too,
            # or a run-time-typed one behind a test that this class's forward is the one that runs
            # (timm's CondConvResidual overrides InvertedResidual.forward: `_own_forward_chains`)
            theirs = [{c.names for c in self._forward_chains(sub)} for sub in overriding]
            return [c for c in self._own_forward_chains(info, *entry, overriding)
                    if c.guard is not None or all(c.names in t for t in theirs)]
        return self._own_forward_chains(info, *entry)

    def _own_forward_chains(self, info: ClassInfo, totals, calls, overriding=()) -> list[Chain]:
        runs = self.walk.multiplicity.get(info, 1)
        own = [c for c in dict.fromkeys(calls) if self.walk.calls[c].owner is info]
        by_attr: dict[str, list[nodes.Call]] = {}
        for call in own:
            by_attr.setdefault(self.walk.calls[call].attr, []).append(call)
        members: dict[nodes.Call, _Member] = {}
        loose: dict[nodes.Call, _Member] = {}  # run-time types: qname None
        kinds: dict[nodes.Call, frozenset[str] | None] = {}
        for call in own:
            record = self.walk.calls[call]
            attr = record.attr
            fact = info.attrs.get(attr)
            runs_once = (len(by_attr[attr]) == 1 and totals.get(attr, 0) // runs == 1
                         and not in_loop(call, call.frame(), _LOOPS)
                         and not (record.multi and runs < 2) and not record.element)
            if fact is None or not runs_once or not is_self_attr(call.func):
                continue
            if self._private_member(info, attr, fact):
                qname, inferred = self._ctor_type(fact.values[0])
                if qname is not None and qname != _SEQUENTIAL:  # a Sequential's children join by run-time type
                    members[call] = _Member(attr, qname, inferred, call)
                    continue
            possible = runtime_kinds(self, info, attr, fact)
            if possible is not False:
                loose[call] = _Member(attr, None, True, call)
                kinds[call] = possible
        linked = {**members, **loose}
        succ: dict[nodes.Call, nodes.Call] = {}
        for call in linked:
            producer = self._producer(call, linked) or optional_chains.producer(call, linked)
            if producer is not None:
                succ[producer] = call
        chains = []
        heads = [c for c in linked if c in succ and c not in set(succ.values())]
        for head in sorted(heads, key=lambda c: (c.lineno, c.col_offset)):
            run = [head]
            while run[-1] in succ:
                run.append(succ[run[-1]])
            optional = optional_chains.optional_names(run)
            if optional or any(c in loose for c in run):
                # members of a class no chain has (the stem's maxpool) end a run-time-typed run
                parts, part = [], []
                for call in run + [None]:
                    if call is None or call in members and members[call].qname not in CHAIN_TYPES:
                        parts, part = parts + [part] * bool(part), []
                    else:
                        part.append(call)
                for part in parts:
                    optional = optional_chains.optional_names(part)
                    if not optional and not any(c in loose for c in part):
                        chains += self._static_chains([members[c] for c in part])
                        continue
                    specs = plausible_chains([kinds[c] if c in loose else frozenset((members[c].qname,))
                                              for c in part])
                    if specs:
                        chains.append(Chain(tuple(linked[c].name for c in part), specs[0], tuple(part), True,
                                            scan=specs, by_type=True, optional=optional))
                continue
            chains += self._static_chains([members[c] for c in run])
        out = [c for c in (self._repeated_part(info, c) for c in chains if not (overriding and c.by_type))
               if c is not None]
        if overriding and isinstance(info.node.parent, nodes.Module):
            # run-time-typed chains of a class whose subclasses run other forwards: fused only where this
            # forward runs, so the subclasses' reads do not count
            theirs = {sub.node for sub in overriding}
            for chain in chains:
                if chain.by_type and self._same_elsewhere(info, chain, theirs):
                    chain.guard = f"type(self).forward is {info.node.name}.forward"
                    out.append(chain)
        return out

    @staticmethod
    def _static_chains(found: list[_Member]) -> list[Chain]:
        """The table chains of a run of members whose classes the source shows."""
        chains = []
        for start, spec in _segment(found):
            part = found[start:start + len(spec.types)]
            chains.append(Chain(tuple(m.name for m in part), spec, tuple(m.node for m in part),
                                any(m.inferred for m in part)))
        return chains

    def _repeated_part(self, info: ClassInfo, chain: Chain) -> Chain | None:
        """`chain`, or the longest start of a run-time-typed one that other methods repeat (timm ResNet's
        `forward_intermediates` runs conv1 -> bn1 -> act1 and taps the result before `maxpool`)."""
        if self._same_elsewhere(info, chain):
            return chain
        for end in range(len(chain.names) - 1, 1, -1) if chain.by_type else ():
            part = replace(chain, names=chain.names[:end], nodes=chain.nodes[:end])
            if self._same_elsewhere(info, part):
                return part
        return None

    def _private_member(self, info: ClassInfo, attr: str, fact) -> bool:
        """One instance, bound once, read by nothing but its calls, one per method (fusion replaces it;
        `_same_elsewhere` then checks that the other methods chain it the same way)."""
        return len(fact.values) == 1 and self.sole_caller_member(info, attr, fact)

    def sole_caller_member(self, info: ClassInfo, attr: str, fact, containers: bool = False) -> bool:
        """A module member no alias, other class or shared instance reaches, called at most once per method
        (also the test of `runtime_chains` for members bound on several paths; `containers`: an empty
        `nn.Sequential()` on one path, timm's ConvNormAct `bn` without a norm, is a member too)."""
        kinds = (attrs.MODULE, attrs.UNKNOWN, attrs.CONTAINER) if containers else (attrs.MODULE, attrs.UNKNOWN)
        return (fact.kind in kinds and not fact.alias_of
                and not self._foreign_read(info, attr) and self._called_once_per_method(info, attr)
                and not any(attr in (a, o) for _v, a, o in info.shared))

    def _called_once_per_method(self, info: ClassInfo, attr: str) -> bool:
        uses = self._chain_reads(info, attr)
        frames = [u.frame() for u in uses]
        return bool(uses) and len(set(frames)) == len(frames) \
            and all(isinstance(u.parent, nodes.Call) and u.parent.func is u for u in uses)

    def _forward_code(self, info: ClassInfo) -> set[nodes.FunctionDef]:
        """The methods the forward of the class or of a same-file subclass reaches (`fusion_safe_reads`)."""
        if info not in self._forward_code_cache:
            self._forward_code_cache[info] = set().union(*(
                fusion_safe_reads.forward_methods(k.node, [b.node for b in k.mro()])
                for k in [info] + self._subclasses.get(info, [])))
        return self._forward_code_cache[info]

    def _same_elsewhere(self, info: ClassInfo, chain: Chain, skipped: frozenset | set = frozenset()) -> bool:
        """Every other method calling a member of `chain` runs the whole chain, linked the same way
        (timm's `forward_intermediates` repeats the stem of `forward_features`): `chain_readers`."""
        return chain_readers.same_chain_elsewhere(chain.names, set(chain.nodes),
                                                  lambda name: [u for u in self._chain_reads(info, name)
                                                                if u.frame().parent not in skipped],
                                                  self._producer, _LOOPS)

    def _chain_reads(self, info: ClassInfo, name: str) -> list[nodes.Attribute]:
        """The member reads fusion must account for: all but construction settings outside forward code."""
        forward_code = self._forward_code(info)
        return [u for u in self._member_reads(info, name)
                if not fusion_safe_reads.safe_read(u, forward_code, self.imports.qualify)]

    def _member_reads(self, info: ClassInfo, name: str) -> list[nodes.Attribute]:
        """Reads of `self.<name>` outside `__init__` in the class, its same-file subclasses and its bases
        (an inherited forward's calls are its base's reads: senet's SEBottleneck runs Bottleneck.forward),
        but for the test of an optional link (`if self.norm is not None: x = self.norm(x)`: `optional_chains`)."""
        reads = self._self_uses(info, name) + [n for base in info.mro()[1:] for n in self._reads(base).get(name, ())]
        return [n for n in reads if not optional_chains.guard_test(n)]

    @staticmethod
    def _producer(call: nodes.Call, members) -> nodes.Call | None:
        """The member call whose value `call` takes, when `call` is the only reader of it."""
        if len(call.args) != 1 or call.keywords:
            return None
        arg = call.args[0]
        if isinstance(arg, nodes.Call):
            return arg if arg in members else None
        if not isinstance(arg, nodes.Name):
            return None
        stmt = call.statement()
        if not isinstance(stmt, (nodes.Assign, nodes.Return, nodes.Expr)) or isinstance(stmt, nodes.Assign) and \
                _mentions(stmt.value, arg.name) != 1:
            return None
        if not isinstance(stmt, nodes.Assign) and _mentions(stmt, arg.name) != 1:
            return None
        prev = stmt.previous_sibling()
        while prev is not None and not _mentions(prev, arg.name):
            prev = prev.previous_sibling()
        if not (isinstance(prev, nodes.Assign) and len(prev.targets) == 1
                and isinstance(prev.targets[0], nodes.AssignName) and prev.targets[0].name == arg.name
                and prev.value in members):
            return None
        rebinds = isinstance(stmt, nodes.Assign) and any(
            isinstance(t, nodes.AssignName) and t.name == arg.name for t in stmt.targets)
        if not rebinds:
            func = stmt.frame()
            end = stmt.end_lineno or stmt.lineno
            if any(n.name == arg.name and n.lineno > end for n in func.nodes_of_class(nodes.Name)):
                return None  # read again later
        return prev.value

    # ------------------------------------------------------- Sequential chains
    def _sequential_chains(self, info: ClassInfo) -> list[Chain]:
        chains = []
        for name, fact in info.attrs.items():
            if fact.kind != attrs.CONTAINER or fact.qname != _SEQUENTIAL or fact.elements \
                    or self._foreign_read(info, name) or not fact.in_own_init:
                continue
            if not self._called_whole(info, name):
                continue  # indexed, iterated or handed on: an intermediate may be read
            chains += self._assigned_sequentials(name, fact.values)
        for name, fact in info.attrs.items():
            if fact.kind == attrs.MODULE and len(fact.values) > 1 and not self._foreign_read(info, name) \
                    and fact.in_own_init and self._called_whole(info, name):
                chains += self._optional_sequentials(name, fact.values)
        for name, fact in info.attrs.items():
            if fact.kind == attrs.MODULE and len(fact.values) == 1 and self._known_layers(fact.values[0]) \
                    and not self._foreign_read(info, name) and fact.in_own_init and self._called_whole(info, name):
                chains += self._known_chains(fact.values[0], name + ".")
        chains += self._injected_chains(info)
        bases = info.node.bases
        if len(bases) == 1 and self.imports.qualify(bases[0]) == _SEQUENTIAL and "forward" not in info.node.locals \
                and not self._subclasses.get(info):
            init = own_method(info.node, "__init__")
            if init is not None:
                for stmt in init.body:
                    call = stmt.value if isinstance(stmt, nodes.Expr) else None
                    if isinstance(call, nodes.Call) and isinstance(call.func, nodes.Attribute) \
                            and call.func.attrname == "__init__" and isinstance(call.func.expr, nodes.Call) \
                            and isinstance(call.func.expr.func, nodes.Name) and call.func.expr.func.name == "super":
                        chains += self._literal_chains(call.args, call.keywords, "")
        return chains

    def _injected_chains(self, info: ClassInfo) -> list[Chain]:
        """`self.downsample = downsample`, an `__init__` parameter that callers in this file build as
        `downsample = nn.Sequential(conv1x1(...), norm_layer(...))` (torchvision's ResNet).

        What a caller passes is only known at run time, so each chain is fused behind a test of the
        Sequential's exact child types: a different value is left alone, never fused wrongly.
        """
        init = own_method(info.node, "__init__")
        if init is None:
            return []
        params = {a.name for a in list(init.args.posonlyargs or []) + list(init.args.args or [])
                  + list(init.args.kwonlyargs or [])}
        seq, needs = self.imports.render(_SEQUENTIAL)
        chains: list[Chain] = []
        for name, fact in info.attrs.items():
            value = fact.values[0] if len(fact.values) == 1 else None
            if not (isinstance(value, nodes.Name) and value.name in params and value.frame() is init) \
                    or needs or self._foreign_read(info, name) or not self._called_or_tested(info, name):
                continue
            seen = set()
            for literal in self._literals_named(value.name):
                types = [self._ctor_type(arg)[0] for arg in literal.args]
                rendered = [self.imports.render(t) if t else ("", ("?",)) for t in types]
                if not types or any(imports for _text, imports in rendered) or tuple(types) in seen:
                    continue
                seen.add(tuple(types))
                guard = (f"isinstance(self.{name}, {seq}) and [type(m) for m in self.{name}] == "
                         f"[{', '.join(text for text, _imports in rendered)}]")
                for chain in self._literal_chains(literal.args, literal.keywords, name + "."):
                    chains.append(Chain(chain.names, chain.spec, (value,), True, guard))
        return chains

    def _literals_named(self, name: str) -> list[nodes.Call]:
        """`nn.Sequential(...)` literals of positional modules this file binds to `name` (or passes as `name=`)."""
        out = []
        for call in self._sequential_calls:
            parent = call.parent
            named = (isinstance(parent, nodes.Assign) and len(parent.targets) == 1
                     and isinstance(parent.targets[0], nodes.AssignName) and parent.targets[0].name == name) or \
                    (isinstance(parent, nodes.Keyword) and parent.arg == name)
            if named and not call.keywords and not any(isinstance(a, nodes.Starred) for a in call.args):
                out.append(call)
        return out

    def _called_or_tested(self, info: ClassInfo, name: str) -> bool:
        """Every read of `self.<name>` calls it or tests it (`if self.downsample is not None:`)."""
        for use in self._self_uses(info, name):
            parent = use.parent
            if isinstance(parent, nodes.Call) and parent.func is use:
                continue
            if isinstance(parent, nodes.Compare) and parent.left is use and len(parent.ops) == 1 \
                    and parent.ops[0][0] in ("is", "is not") and isinstance(parent.ops[0][1], nodes.Const):
                continue
            if isinstance(parent, (nodes.If, nodes.IfExp)) and parent.test is use:
                continue
            return False
        return True

    def _called_whole(self, info: ClassInfo, name: str) -> bool:
        """Every read of `self.<name>` outside `__init__` calls it: no child output is seen alone."""
        return all(isinstance(u.parent, nodes.Call) and u.parent.func is u for u in self._self_uses(info, name))

    def _assigned_sequentials(self, name: str, values: list[nodes.NodeNG]) -> list[Chain]:
        """Chains of `self.<name> = nn.Sequential(...)`; with several such assignments in `__init__`
        (`self.shortcut = nn.Sequential()`, then a conv+bn one under a condition), each value's chains
        are fused only when the instance has that value's length, which tells the values apart."""
        if any(not (isinstance(v, nodes.Call) and self.imports.qualify(v.func) == _SEQUENTIAL
                    and isinstance(v.frame(), nodes.FunctionDef) and v.frame().name == "__init__")
               for v in values):
            return []
        if len(values) == 1:
            return self._literal_chains(values[0].args, values[0].keywords, name + ".")
        by_length: dict[int, list[Chain]] = {}
        for value in values:
            if any(isinstance(a, nodes.Starred) for a in value.args):
                return []
            found = self._literal_chains(value.args, value.keywords, name + ".")
            names = [c.names for c in found]
            if len(value.args) in by_length and [c.names for c in by_length[len(value.args)]] != names:
                return []  # two values of one length with different chains: no test tells them apart
            by_length[len(value.args)] = found
        out = []
        for length, found in by_length.items():
            for chain in found:
                chain.guard = f"len(self.{name}) == {length}"
                out.append(chain)
        return out

    def _optional_sequentials(self, name: str, values: list[nodes.NodeNG]) -> list[Chain]:
        """`self.project = nn.Identity()`, and under a condition an `nn.Sequential(conv, bn)` literal (timm's
        dla): the literals' chains, fused behind a test that the member is an nn.Sequential."""
        literals = [v for v in values if isinstance(v, nodes.Call) and self.imports.qualify(v.func) == _SEQUENTIAL]
        if not literals or any(not (isinstance(v, nodes.Call) and self.imports.qualify(v.func) == "torch.nn.Identity")
                               for v in values if v not in literals):
            return []
        seq, needs = self.imports.render(_SEQUENTIAL)
        if needs:
            return []
        chains = [c for c in self._assigned_sequentials(name, literals) if not c.inferred]  # a guard skips type tests
        for chain in chains:
            chain.guard = f"isinstance(self.{name}, {seq})" + (f" and {chain.guard}" if chain.guard else "")
        return chains

    def _literal_chains(self, args, keywords, prefix: str) -> list[Chain]:
        """Chains among the positional modules of one `nn.Sequential(...)` call (and nested ones)."""
        if keywords:
            return []
        found: list[_Member | None] = []
        chains: list[Chain] = []
        for i, arg in enumerate(args):
            if isinstance(arg, nodes.Starred):
                break  # later indices are unknown
            if isinstance(arg, nodes.Call) and self.imports.qualify(arg.func) == _SEQUENTIAL:
                chains += self._literal_chains(arg.args, arg.keywords, f"{prefix}{i}.")
                found.append(None)
                continue
            if self._known_layers(arg):
                chains += self._known_chains(arg, f"{prefix}{i}.")
                found.append(None)
                continue
            qname, inferred = self._ctor_type(arg)
            found.append(_Member(f"{prefix}{i}", qname, inferred, arg) if qname else None)
        for start, spec in _segment(found):
            part = [m for m in found[start:start + len(spec.types)] if m is not None]
            chains.append(Chain(tuple(m.name for m in part), spec, tuple(m.node for m in part),
                                any(m.inferred for m in part)))
        return chains

    def _known_layers(self, value: nodes.NodeNG) -> tuple | None:
        """The child layout of a library Sequential subclass `value` constructs (Conv2dNormActivation)."""
        if not isinstance(value, nodes.Call):
            return None
        qname = self.imports.qualify(value.func) or ""
        for known, layers in KNOWN_SEQUENTIALS.items():
            short = known.replace("torchvision.ops.misc.", "")
            if qname == known or qname.endswith(("ops.misc." + short, "ops." + short)):
                return layers
        return None

    def _known_chains(self, call: nodes.Call, prefix: str) -> list[Chain]:
        """Chains among the children of `Conv2dNormActivation(..., norm_layer=..., activation_layer=...)`."""
        if any(isinstance(a, nodes.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords or ()):
            return []
        keywords = {kw.arg: kw.value for kw in call.keywords or ()}
        found: list[_Member | None] = []
        for layer in self._known_layers(call):
            arg = keywords.get(layer.keyword) if layer.keyword else None
            if arg is None and layer.position is not None and layer.position < len(call.args):
                arg = call.args[layer.position]
            if isinstance(arg, nodes.Const) and arg.value is None:
                continue  # left out: the next children move up
            if arg is None:
                qname, inferred = layer.default, False
            elif isinstance(arg, (nodes.Name, nodes.Attribute)) and self.imports.qualify(arg):
                qname, inferred = self.imports.qualify(arg), False
            elif isinstance(arg, nodes.Name) and isinstance(call.frame(), nodes.FunctionDef):
                qname, inferred = self._local_class(call.frame(), arg.name)
            else:
                qname, inferred = None, False
            found.append(_Member(f"{prefix}{len(found)}", qname, inferred, call) if qname else None)
            if qname is None:
                break  # a child of unknown class: later ones cannot be matched to a chain
        chains = []
        for start, spec in _segment(found):
            part = found[start:start + len(spec.types)]
            chains.append(Chain(tuple(m.name for m in part), spec, (call,), any(m.inferred for m in part)))
        return chains

    def known_built(self, info: ClassInfo) -> set[str]:
        """Library Sequentials (Conv2dNormActivation) the class constructs: blocks that fuse themselves
        once their own file is prepared, so the class's fuse_model must reach them."""
        return {c.func.as_string() for c in info.node.nodes_of_class(nodes.Call) if self._known_layers(c)}

    def chains(self, info: ClassInfo) -> list[Chain]:
        """The fusable chains of one module class, in source order (computed once per class)."""
        if info not in self._chains:
            self._chains[info] = sorted(self._forward_chains(info) + self._sequential_chains(info)
                                        + own_children_chains(info),
                                        key=lambda c: (c.nodes[0].lineno, c.nodes[0].col_offset))
        return self._chains[info]
