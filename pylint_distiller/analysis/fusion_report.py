"""Findings and `fuse_model()` fix plans for the chains `fusion.FusionAnalysis` finds.

Each class with chains gets one finding (on its first chain) whose safe fix adds a
`fuse_model(self, is_qat=False)`, or extends the class's own one with the chains it does not
name yet. The generated method fuses the class's chains, sets a flag (a second call, or a
parent that calls every `fuse_model` it finds, is a no-op), then walks its children: a child
with a `fuse_model` fuses itself, any other child (a Sequential or ModuleList of blocks) is
walked through. A class without chains that may hold fusable blocks gets the walk alone, so
the root model has the method the user calls.
"""

from __future__ import annotations

from dataclasses import replace

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.conditions import guards
from pylint_distiller.analysis.fusion import Chain, FusionAnalysis
from pylint_distiller.analysis.fusion_lists import ListChains, scan_lines
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis import runtime_fusion
from pylint_distiller.analysis.runtime_islands import (
    definition,
    is_island_class,
    island_kind,
    island_name,
    may_hold_islands,
    walk_lines,
)
from pylint_distiller.analysis.syntax import is_self_attr
from pylint_distiller.catalogue import FUSE_FUNCTIONS, FUSE_METHOD
from pylint_distiller.findings import Applicability, Confidence, Finding, Fix, Method

#: the attribute the generated method sets once the class's chains are fused
FUSED_FLAG = "_fused"


def _listed_names(method: nodes.FunctionDef) -> set[str]:
    """Member names an existing fuse_model already passes to a fuse call (string list items)."""
    out = set()
    for seq in method.nodes_of_class((nodes.List, nodes.Tuple)):
        for elt in seq.elts:
            if isinstance(elt, nodes.Const) and isinstance(elt.value, str):
                out.add(elt.value)
    return out


class FusionReporter:
    def __init__(self, analysis: FusionAnalysis, positions: Positions, path: str, container_kind) -> None:
        self.index = analysis.index
        self.imports = analysis.index.imports
        self.pos = positions
        self.path = path
        self.analysis = analysis
        self.lists = ListChains(self.analysis)
        #: the run-time island class the walks use (None: the file binds its name to something else)
        self.island = island_name(self.index.module)
        #: the generated run-time fuser (None: the file binds its name to something else)
        self.fuser = runtime_fusion.helper_name(self.index.module)
        self.container_kind = container_kind  # ClassInfo -> "Sequential"/... (the planner's ChildViews)
        self._holders: dict[ClassInfo, bool] = {}  # may a class hold a module that needs a run-time island?

    # ---------------------------------------------------------------- findings
    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        fusing: set[ClassInfo] = set()
        pending: list[tuple[ClassInfo, list[Chain]]] = []
        for info in self.index.module_classes():
            if is_island_class(info):
                continue  # the generated FloatIsland: prepared, and reached by no walk
            chains = [c for c in self.analysis.chains(info) + self.lists.chains(info) if self.fuser or not c.by_type]
            existing = info.methods.get(FUSE_METHOD)
            if existing is not None:
                fusing.add(info)
                if existing.parent is info.node:
                    listed = _listed_names(existing)
                    scanned = _scanned_targets(existing)
                    own = _fuses_own_children(existing)
                    chains = [c for c in chains if not (c.own_children and own or not c.own_children and (
                        listed & set(c.names) or c.scan and c.names[0] in scanned))]
            if chains:
                fusing.add(info)
                pending.append((info, chains))
        for info, chains in pending:
            out.append(self._chain_finding(info, chains))
        out += self._root_findings(fusing)
        return out

    def _fuse_call_lines(self, chains: list[Chain], qat_param: str | None) -> tuple[list[str], tuple[str, ...]]:
        fuse, imports = self.imports.render(FUSE_FUNCTIONS[0])
        fuse_qat, more = self.imports.render(FUSE_FUNCTIONS[1])
        imports = tuple(dict.fromkeys(imports + more))

        def listing(group):
            return "[" + ", ".join("[" + ", ".join(f'"{n}"' for n in c.names) + "]" for c in group) + "]"

        scans = [c for c in chains if c.scan and not c.by_type]
        lines_by_type = []
        for chain in chains:
            if chain.own_children and self.fuser is not None:
                lines_by_type += runtime_fusion.children_lines(self.fuser, chain.ends, qat_param)
            elif chain.by_type and self.fuser is not None:
                call = runtime_fusion.call_line(self.fuser, chain.names, qat_param, chain.optional)
                lines_by_type += [f"if {chain.guard}:", "    " + call] if chain.guard else [call]
        chains = [self._type_checked(c) for c in chains if not c.scan]
        chains = [c for c in chains if c is not None]
        shared = bool(qat_param) and any(c.spec.qat for c in chains + scans)
        lines = [f"fuse = {fuse_qat} if {qat_param} else {fuse}"] if shared else []
        for scan in scans:
            lines += scan_lines(scan, self.imports.render, "fuse" if shared else fuse, qat_param)
        for guard in sorted({c.guard for c in chains}, key=lambda g: (g is not None, g or "")):
            group = [c for c in chains if c.guard == guard]
            body = []
            both = [c for c in group if c.spec.qat]
            ptq_only = [c for c in group if not c.spec.qat]
            if both:
                body.append(f"{'fuse' if shared else fuse}(self, {listing(both)}, inplace=True)")
            if ptq_only:
                call = f"{fuse}(self, {listing(ptq_only)}, inplace=True)  # not supported by QAT fusion"
                body += [f"if not {qat_param}:", "    " + call] if qat_param else [call]
            if guard is None:
                lines += body
            else:
                lines += [f"if {guard}:"] + ["    " + line for line in body]
        # after the chains fused by name: a run-time-typed run may take in an nn.Sequential's children,
        # which these may have fused already (fuse_by_type skips what fusion left as nn.Identity)
        lines += lines_by_type
        return lines, imports

    def _type_checked(self, chain: Chain) -> Chain | None:
        """A chain whose member types were assumed from a default gets an exact-type guard.

        `norm_layer=None -> nn.BatchNorm2d` or `activation=nn.ReLU` defaults say what the class
        builds when the caller passes nothing; a caller passing `nn.SiLU` would make
        `fuse_modules` raise. fuse_modules itself matches exact types, so the guard does too.
        None when a type cannot be named without a new import (that chain is left unfused).
        """
        if not chain.inferred or chain.guard is not None:
            return chain
        tests = []
        for name, qname in zip(chain.names, chain.spec.types):
            text, imports = self.imports.render(qname)
            if imports:
                return None
            tests.append(f"type({_member_expr(name)}) is {text}")
        return replace(chain, guard=" and ".join(tests))

    def _chain_finding(self, info: ClassInfo, chains: list[Chain]) -> Finding:
        existing = info.methods.get(FUSE_METHOD)
        described = "; ".join(self._describe(c) for c in chains)
        message = f"{info.name} runs fusable chains of its own submodules: {described}"
        fix, note = self._chain_fix(info, chains, existing)
        if fix is None:
            message += f" ({note})"
        else:
            message += f"; {'extend' if existing is not None else 'add'} {FUSE_METHOD}() to fuse them for eager " \
                       f"quantization"
            if existing is None and self._island_for(info):
                message += f". {_ISLANDS_WHY}"
        first = chains[0].nodes
        span = (*self.pos.span(first[0])[:2], *self.pos.span(first[-1])[2:])
        if span[:2] > span[2:]:
            span = self.pos.span(first[0])
        confidence = Confidence.INFERENCE if info.inferred or any(c.inferred for c in chains) else Confidence.HIGH
        return Finding(symbol="unfused-modules", path=self.path, line=span[0], col=span[1], end_line=span[2],
                       end_col=span[3], args=(message,), message=message, confidence=confidence, fix=fix,
                       klass=info.name, op=FUSE_METHOD, node=first[0])

    def _describe(self, chain: Chain) -> str:
        if chain.own_children:
            ends = f", except across a child named in {chain.ends}, whose output it also reads" if chain.ends else ""
            return (f"the children its forward runs in a row (line {chain.nodes[0].lineno}), whose classes show "
                    f"only at run time: fused by {runtime_fusion.HELPER}() where their exact types match{ends}")
        if chain.by_type:
            kinds = " or ".join("+".join(t.rsplit(".", 1)[1] for t in s.types) for s in chain.scan)
            lines = sorted({n.lineno for n in chain.nodes})
            where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
            optional = (f"; {', '.join(f'self.{n}' for n in chain.optional)} may be None (`is not None` guards): "
                        "the members present when it runs" if chain.optional else "")
            return (f"{' -> '.join(f'self.{n}' for n in chain.names)} ({where}), whose classes "
                    f"show only at run time and may run {kinds}: fused by {runtime_fusion.HELPER}() where their "
                    f"exact types match{optional}")
        if chain.scan:
            where = "self" if chain.names == ("",) else f"self.{chain.names[0]}"
            kinds = " or ".join("+".join(t.rsplit(".", 1)[1] for t in s.types) for s in chain.scan)
            return (f"{where}, a Sequential built from a list (line {chain.nodes[0].lineno}), whose children "
                    f"may run {kinds}: fused where their exact types match")
        if isinstance(chain.nodes[0], nodes.Call) and is_self_attr(chain.nodes[0].func):
            shown = " -> ".join(f"self.{n}" for n in chain.names)
        else:
            shown = " -> ".join(chain.names)
        lines = sorted({n.lineno for n in chain.nodes})
        where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
        return f"{shown} ({chain.spec.fused}, {where})"

    def _chain_fix(self, info: ClassInfo, chains: list[Chain], existing) -> tuple[Fix | None, str]:
        class_lines = (info.node.lineno,)
        chains = [_if_members_exist(info, c) for c in chains]
        if existing is not None and existing.parent is not info.node:
            return None, f"it inherits {FUSE_METHOD}() from {existing.parent.name}: extend that by hand"
        if existing is not None:
            body = existing.body
            if not body or body[0].lineno == existing.lineno:
                return None, f"its {FUSE_METHOD}() is written on one line: extend it by hand"
            params = [a.name for a in existing.args.args or []]
            qat = "is_qat" if "is_qat" in params else None
            lines, imports = self._fuse_call_lines(chains, qat)
            method = Method(FUSE_METHOD, tuple(lines), extend=True)
            title = f"Fuse {len(chains)} more chain(s) in the existing {FUSE_METHOD}()"
            definitions, more = self._definitions(None, any(c.by_type for c in chains))
            return Fix(title, Applicability.SAFE, method=method, imports=tuple(dict.fromkeys(imports + more)),
                       class_lines=class_lines, definitions=definitions), ""
        if FUSED_FLAG in info.node.locals or any(FUSED_FLAG in i.attrs for i in info.mro()):
            return None, f"the class already uses self.{FUSED_FLAG}, the flag the generated method would set"
        fuse_lines, imports = self._fuse_call_lines(chains, "is_qat")
        lines = [f"def {FUSE_METHOD}(self, is_qat=False):",
                 '    """Fuse conv/bn/relu chains for eager quantization (eval mode for PTQ, train mode for QAT)."""',
                 f'    if getattr(self, "{FUSED_FLAG}", False):',
                 "        return  # fused already (by an earlier call or a parent's fuse_model)"]
        lines += ["    " + line for line in fuse_lines]
        lines.append(f"    self.{FUSED_FLAG} = True")
        island = self._island_for(info)
        walk, walk_imports = self._walk(island)
        lines += walk
        definitions, more = self._definitions(island, any(c.by_type for c in chains))
        more += walk_imports
        fix = Fix(f"Add {FUSE_METHOD}(self, is_qat=False) fusing {len(chains)} chain(s){_islands_title(island)}",
                  Applicability.SAFE, method=Method(FUSE_METHOD, tuple(lines)),
                  imports=tuple(dict.fromkeys(imports + more)), class_lines=class_lines, definitions=definitions)
        return fix, ""

    def _island_for(self, info: ClassInfo) -> str | None:
        """The island class `info`'s walk uses: only where it may reach a module that needs one.

        A class whose members all have types the source shows (BasicModule: Conv2d, BatchNorm2d,
        ReLU) gets the plain walk and no FloatIsland class: nothing it holds could need one, and
        its blocks' own fuse_model() handle theirs. A class that builds a same-file class which
        may hold one and has no fuse_model() of its own (an nn.Sequential subclass filled by
        `add_module`) walks into it, so it islands too.
        """
        if self.island is None:
            return None
        if self._may_hold(info):
            return self.island
        names = {n.name for n in nodes_in(info.node, nodes.Name)} - {info.name}
        held = any(other.name in names and self._may_hold(other) and not self._fuses_itself(other)
                   for other in self.index.module_classes())
        return self.island if held else None

    def _fuses_itself(self, info: ClassInfo) -> bool:
        """It has (or gets, for its chains) a fuse_model() of its own, whose walk islands what it holds."""
        return FUSE_METHOD in info.methods or bool(self.analysis.chains(info) or self.lists.chains(info))

    def _may_hold(self, info: ClassInfo) -> bool:
        if info not in self._holders:
            self._holders[info] = may_hold_islands(info, self.imports.qualify, self.container_kind) is not None
        return self._holders[info]

    def _walk(self, island: str | None) -> tuple[list[str], tuple[str, ...]]:
        """The walk's lines; an island walk also fuses the Sequentials it reaches by run-time type."""
        if island is None or self.fuser is None:
            return walk_lines(FUSE_METHOD, island), ()
        scan, imports = runtime_fusion.sequential_scan_lines(self.fuser, self.imports.render)
        return walk_lines(FUSE_METHOD, island, scan), imports

    def _definitions(self, island: str | None, by_type: bool = False):
        definitions, imports = definition(self.index.module, self.imports.render) if island else ((), ())
        if (island or by_type) and self.fuser is not None:
            more, more_imports = runtime_fusion.definition(self.index.module, self.imports.render)
            definitions, imports = definitions + more, imports + more_imports
        return definitions, imports

    # ------------------------------------------------------------------ roots
    def _root_findings(self, fusing: set[ClassInfo]) -> list[Finding]:
        """Classes with no chains of their own that may hold fusable blocks, or modules that need a run-time
        island, get the walk alone: one call on the root model then reaches every block."""
        fused = set(fusing)
        seeds = self._island_seeds(fused)
        pool = fused | set(seeds)  # classes a walk must reach
        names = {info.name for info in pool}
        in_classes = set()
        for info in self.index.classes.values():
            in_classes |= {n.name for n in info.node.nodes_of_class(nodes.Name) if n.name in names} - {info.name}
        loose = names - in_classes  # fusable classes built only outside classes (`ResNet(Block, ...)`)
        out = []
        changed = True
        roots: dict[ClassInfo, list[str]] = {}
        while changed:
            changed = False
            for info in self.index.module_classes():
                if info in fused or info in roots or FUSE_METHOD in info.methods or is_island_class(info) \
                        or any(base in fused for base in info.mro()[1:]) \
                        or self.island and island_kind(info, self.imports.qualify):  # islanded whole
                    continue
                held = sorted({n.name for n in info.node.nodes_of_class(nodes.Name)
                               if n.name in {i.name for i in pool} and n.name != info.name}
                              | self.analysis.known_built(info))
                if not held and loose and any(f.kind == attrs.CONTAINER or (f.kind in (attrs.MODULE, attrs.UNKNOWN)
                                                                           and not f.qname)
                                              for f in info.attrs.values()):
                    held = sorted(loose - {info.name})
                if held:
                    roots[info] = held
                    pool.add(info)
                    changed = True
        for info in seeds:
            if info not in roots and info.name not in in_classes and not any(b in roots for b in info.mro()[1:]):
                roots[info] = []  # built outside this file's classes (a builder, another file): it may be a root
        for info, held in roots.items():
            body = info.node.body
            if FUSED_FLAG in info.node.locals or body and body[0].lineno == info.node.lineno:
                continue  # the flag is taken, or `class X(Base): ...` on one line (no room for a method)
            lines = [f"def {FUSE_METHOD}(self, is_qat=False):",
                     '    """Fuse the conv/bn/relu chains of every submodule for eager quantization."""']
            island = self.island if info in seeds else self._island_for(info)
            walk, walk_imports = self._walk(island)
            lines += walk
            definitions, imports = self._definitions(island)
            imports += walk_imports
            fix = Fix(f"Add {FUSE_METHOD}(self, is_qat=False) reaching its submodules{_islands_title(island)}",
                      Applicability.SAFE, method=Method(FUSE_METHOD, tuple(lines)), class_lines=(info.node.lineno,),
                      imports=imports, definitions=definitions)
            if held and not island:
                message = (f"{info.name} has no {FUSE_METHOD}(), so one call on the model cannot fuse the chains of "
                           f"its submodules ({', '.join(held)}); add one that reaches them")
            elif held:
                message = (f"{info.name} has no {FUSE_METHOD}(), so one call on the model cannot reach its "
                           f"submodules ({', '.join(held)}) to fuse their chains and put what eager cannot run "
                           f"into float islands; add one that reaches them. {_ISLANDS_WHY}")
            else:
                message = (f"{info.name} has no {FUSE_METHOD}(), so one call on the model cannot put the modules it "
                           f"holds that eager cannot run into float islands ({seeds[info]}); add one that reaches "
                           f"them. {_ISLANDS_WHY}")
            line, col = info.node.lineno, self.pos.col(info.node.lineno, info.node.col_offset)
            out.append(Finding(symbol="unfused-modules", path=self.path, line=line, col=col, end_line=line,
                               end_col=col + len("class ") + len(info.name), args=(message,), message=message,
                               confidence=Confidence.INFERENCE, fix=fix, klass=info.name, op=FUSE_METHOD,
                               node=info.node))
        return out

    def _island_seeds(self, fused: set[ClassInfo]) -> dict[ClassInfo, str]:
        """Module classes without a fuse_model that may hold a module needing a run-time island, and why."""
        if self.island is None:
            return {}
        out = {}
        for info in self.index.module_classes():
            if info in fused or FUSE_METHOD in info.methods or is_island_class(info) \
                    or any(base in fused for base in info.mro()[1:]):
                continue
            why = may_hold_islands(info, self.imports.qualify, self.container_kind)
            if why is not None:
                out[info] = why
        return out


def _islands_title(island: str | None) -> str:
    return f" and putting what eager cannot run into {island}s" if island else ""


#: what every message offering a walk with run-time islands says about them
_ISLANDS_WHY = ("After fusing, its walk also runs each module whose run-time type eager cannot run on quantized "
                "tensors (nn.SiLU, an unfused nn.BatchNorm1d, a subclass of nn.Conv2d that convert leaves float) "
                "in a FloatIsland (DeQuantStub, module, QuantStub), so PTQ runs end to end, and each nn.GELU, "
                "whose quantized result would keep its input's scale")


def _scanned_targets(method: nodes.FunctionDef) -> set[str]:
    """Sequentials an existing fuse_model already scans (`range(len(self.conv))`; "" for `self`)."""
    out = set()
    for call in method.nodes_of_class(nodes.Call):
        if call.func.as_string() == "len" and len(call.args) == 1:
            arg = call.args[0]
            if isinstance(arg, nodes.Name) and arg.name == "self":
                out.add("")
            elif is_self_attr(arg):
                out.add(arg.attrname)
    return out


def _fuses_own_children(method: nodes.FunctionDef) -> bool:
    """An existing fuse_model already fuses the class's own children (`runtime_fusion.children_lines`)."""
    for call in method.nodes_of_class(nodes.Call):
        if len(call.args) >= 2 and isinstance(call.args[0], nodes.Name) and call.args[0].name == "self":
            second = call.args[1]
            if isinstance(second, nodes.Name) and second.name == "run" or isinstance(second, nodes.Attribute) \
                    and second.attrname == "_modules" and isinstance(second.expr, nodes.Name) \
                    and second.expr.name == "self":
                return True
    return False


def _member_expr(path: str) -> str:
    """`features.0.conv` -> `self.features[0].conv` (the member a fuse_modules name denotes)."""
    out = "self"
    for part in path.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def fusion_findings(analysis: FusionAnalysis, positions: Positions, path: str, container_kind) -> list[Finding]:
    return FusionReporter(analysis, positions, path, container_kind).findings()


def _if_members_exist(info: ClassInfo, chain: Chain) -> Chain:
    """A chain of members `__init__` may not create (`if use_act: self.act = ...`) is fused under `hasattr`."""
    missing = guards(info, dict.fromkeys(name.split(".")[0] for name in chain.names))
    if not missing:
        return chain
    test = " and ".join(f'hasattr(self, "{attr}")' for attr in missing)
    return replace(chain, guard=f"{test} and {chain.guard}" if chain.guard else test)
