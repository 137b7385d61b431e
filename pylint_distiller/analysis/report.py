"""Turn the walk's raw facts into `Finding`s with messages and fix plans."""

from __future__ import annotations

import os
from dataclasses import replace

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis.classes import ModuleIndex
from pylint_distiller.analysis.forward import ForwardAnalysis
from pylint_distiller.analysis.fusion import FusionAnalysis
from pylint_distiller.analysis.fusion_report import fusion_findings
from pylint_distiller.analysis.generated_helpers import in_generated_helper
from pylint_distiller.analysis.helper_islands import HelperIslands
from pylint_distiller.analysis.islands import ISLAND, IslandPlanner
from pylint_distiller.analysis.qconfigs import QConfigPlanner
from pylint_distiller.analysis.weight_reads import WeightReadPlanner
from pylint_distiller.analysis.activation_dtypes import DtypeReadPlanner
from pylint_distiller.analysis.plans import Plan, Planner
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.reshape import VIEWS, plan_view
from pylint_distiller.analysis.same_padding import same_padding_findings
from pylint_distiller.catalogue import (
    NATIVE,
    QUANT_NEUTRAL_MODULES,
    RULES,
    TORCH_EAGER,
    TRAINING_ONLY_SUFFIXES,
    UNQUANTIZABLE,
)
from pylint_distiller.findings import Applicability, Confidence, Finding
from pylint_distiller.settings import Settings


_PARTIAL_LEAF = ("this leaf module is one quantization unit and some of its ops have no safe fix: "
                 "prepare it by hand or keep it whole")
_UNSELECTED_LEAF = ("this leaf module is one quantization unit and some of its ops belong to rules not selected "
                    "(--select/--ignore): select them all, or none")


class Reporter:
    def __init__(self, index: ModuleIndex, walk: ForwardAnalysis, positions: Positions,
                 settings: Settings, path: str, reached=(), reached_forwards=()) -> None:
        self.index = index
        self.walk = walk
        self.module = walk.module_node
        #: op sites of this file that forwards in other files of the project reach (`crossfile.py`)
        self.reached = list(reached)
        #: ((class, forward, call counts, calls), walk) of other files' forwards that call here
        self.reached_forwards = list(reached_forwards)
        self.pos = positions
        self.settings = settings
        self.path = path
        self.planner = Planner(index, walk, positions, settings.target)
        # add_relu may absorb an F.relu only where that call is itself reported and fixable
        self.planner.absorbs_functional_relu = settings.reports("functional-call") and not any(
            settings.ignores(key, "F.relu") for key in ("torch.nn.functional.relu", "torch.relu"))
        # one fusion analysis per file: islands skip fused calls, the fusion rule reports the chains
        self.fusion = FusionAnalysis(index, walk) if settings.target == TORCH_EAGER else None
        self.islands = IslandPlanner(self.planner, self.fusion) if self.fusion is not None else None
        self.qconfigs = QConfigPlanner(self.planner) if settings.target == TORCH_EAGER else None
        self.weight_reads = WeightReadPlanner(self.planner) if settings.target == TORCH_EAGER else None
        self.dtype_reads = DtypeReadPlanner(self.planner) if settings.target == TORCH_EAGER else None
        #: helpers run in float at each of their calls (`helper_islands.py`)
        self.helper_islands = HelperIslands(self.islands) if self.islands is not None else None
        if self.islands is not None:
            self.planner.lifter.in_float = self._helper_island
        self.findings: list[Finding] = []
        self.float_leaves: dict = {}
        self._view_cache: dict = {}  # function -> last line that writes a tensor in place

    def run(self) -> list[Finding]:
        self._ops()
        self._reuse()
        self._inline()
        self._module_facts()
        if self.islands is not None:
            self._float_modules()
            self._helper_calls()
        if self.fusion is not None and self.settings.target in RULES["unfused-modules"].targets \
                and self.settings.reports("unfused-modules"):
            self.findings += fusion_findings(self.fusion, self.pos, self.path, self.planner.views.container_kind)
        self.findings.sort(key=lambda f: (f.line, f.col, f.symbol))
        return self.findings

    def _add(self, symbol: str, node: nodes.NodeNG, message: str, plan: Plan | None,
             confidence: Confidence = Confidence.HIGH, klass=None, op=None) -> None:
        if not self.settings.reports(symbol):
            return  # left out by select/ignore
        line, col, end_line, end_col = self.pos.span(node)
        self.findings.append(Finding(
            symbol=symbol, path=self.path, line=line, col=col, end_line=end_line, end_col=end_col,
            args=(message,), message=message, confidence=confidence,
            fix=plan.fix if plan else None, klass=klass, op=op, node=node,
        ))

    @staticmethod
    def _tail(plan: Plan) -> str:
        return f" ({plan.note})" if plan.note else ""

    # ------------------------------------------------------------------- ops
    def _ops(self) -> None:
        settings = self.settings
        planned = []
        loud = [site for site in self._sites()
                if site.loud and not settings.ignores(site.spec.key, site.spec.shown)]
        self.float_leaves = self.islands.float_leaves(loud, self.walk) if self.islands else {}
        if self.helper_islands is not None:
            self.helper_islands.helpers([s for s in loud if s.owner not in self.float_leaves])
        for site in loud:
            spec = site.spec
            if in_generated_helper(site.node):
                continue  # a helper a fix wrote (`number_paths.py`): it picks the module method at run time
            if site.owner in self.float_leaves:
                continue  # the whole leaf runs in the island around its calls (_float_modules)
            if self.islands and self.islands.parameters_only(site):
                continue  # float in the converted model as well (a view of it never meets a quantized conv)
            if self.islands is not None and spec.key in VIEWS:
                plan = plan_view(site, self.pos, self._view_cache)
                if plan is not None:
                    planned.append((site, plan))
                continue
            if self.helper_islands is not None and self.helper_islands.covers(site):
                continue  # its helper runs in float between stubs at each call (_helper_calls)
            island = self.islands.reason(site) if self.islands else None
            if self.islands and self.islands.in_island(site):
                continue  # prepared: it runs in float between its stubs (a FloatFunctional there would fail)
            helper = self.islands.helper_reason(site) if self.islands and not island and not site.elsewhere \
                else None
            if helper and self.islands.helper_in_island(site):
                continue  # its helper runs in float between stubs at its calls
            if helper and not self.planner.lifter.lifts(site):
                planned.append((site, self.islands.plan_helper(site, helper)))
                continue
            # (lifted into a module class instead, where each op gets its own fix or island)
            if spec.data_movement and not settings.flag_data_movement and not island:
                continue
            if spec.replacement(settings.target) == NATIVE and not island:
                continue
            if site.elsewhere:
                planned.append((site, self._plan_elsewhere(site)))
            elif island:
                planned.append((site, self.islands.plan_op(site, island)))
            else:
                plan = self.planner.plan_op(site)
                planned.append((site, self.islands.around_module_fix(site, plan) if self.islands else plan))
        merged = self.planner.relu_merges
        planned = [(site, merged[site.node] if site.node in merged and merged[site.node].fix.applicability
                    is Applicability.SAFE else plan) for site, plan in planned]  # F.relu(a + b): one add_relu
        partial = self._partial_leaves(planned)
        for site, plan in planned:
            if self._home(site) in partial:
                plan = Plan(plan.suggestion, None, partial[self._home(site)])
            what = self._describe(site)
            if site.spec.key in VIEWS:
                message = (f"{what} fails after convert on the channels_last output of a quantized conv (x86); "
                           f"use {plan.suggestion}{self._tail(plan)}")
            elif plan.suggestion:
                message = f"{what} runs outside any module; use {plan.suggestion}{self._tail(plan)}"
            else:
                message = f"{what} runs outside any module, invisible to the quantizer{self._tail(plan)}"
            owner = site.owner
            confidence = Confidence.INFERENCE if (owner and owner.inferred) else Confidence.HIGH
            klass = owner.name if owner and owner.node.root() is self.module else (
                site.elsewhere[0] if site.elsewhere else (owner.name if owner else None))
            self._add(site.spec.rule, site.node, message, plan, confidence, klass=klass, op=site.spec.key)

    def _helper_island(self, site) -> bool:
        """A helper op that runs in float between stubs at the helper's call (a whole-helper island)."""
        if self.helper_islands.covers(site):
            return True  # run in float at each of its calls (`helper_islands.py`)
        reason = self.islands.helper_reason(site)
        return bool(reason) and (self.islands.helper_in_island(site)
                                 or self.islands.plan_helper(site, reason).fix is not None)

    def _sites(self):
        """This file's op sites: those of its own walk and those other files' forwards reach."""
        own = {node: site for node, site in self.walk.ops.items() if node.root() is self.module}
        for site in self.reached:
            known = own.get(site.node)
            if known is None:
                own[site.node] = site
            else:
                own[site.node] = replace(known, multi=known.multi or site.multi, loud=known.loud or site.loud,
                                         elsewhere=tuple(sorted(set(known.elsewhere) | set(site.elsewhere))))
        return list(own.values())

    def _plan_elsewhere(self, site) -> Plan:
        """An op that forward code of another file runs: named, fixed by hand."""
        plan = self.planner.plan_op(replace(site, owner=None, callers=set(), module_param="", lift_roots=set()))
        if site.lift_roots:  # a helper that receives no module: `fixer/together.py` lifts it into a class here
            return Plan(plan.suggestion, None, f"it runs in the forward of {', '.join(site.elsewhere)} in another "
                                               "file: `fix` on the package lifts its helper into a module class "
                                               "in this file where that call allows it, else manual")
        return Plan(plan.suggestion, None, f"it runs in the forward of {', '.join(site.elsewhere)} in another "
                                           "file, so a member would go into that file's classes (manual)")

    def _partial_leaves(self, planned) -> dict:
        """Leaf modules (no submodules) that only some of their ops could be prepared in, with the reason.

        A leaf module with arithmetic (an RMSNorm, a rotary embedding) is one unit
        for the quantizer. Giving some of its ops modules turns it into a container
        whose remaining ops (`pow`, `rsqrt`) are then exposed outside any module,
        so its ops are fixed all together or not at all: an op of a rule left out
        by `select`/`ignore` counts as one that cannot be fixed.
        """
        calling = {record.owner for record in self.walk.calls.values()}
        leaves = {info for info in self.index.module_classes() if info not in calling
                  and not self.planner.views.container_kind(info)  # holds its modules as items
                  and not any(f.kind in (attrs.MODULE, attrs.CONTAINER) for f in info.attrs.values())}
        partial = {}
        for site, plan in planned:
            home = self._home(site)
            if home not in leaves:
                continue
            if plan.fix is None or plan.fix.applicability is not Applicability.SAFE:
                partial[home] = _PARTIAL_LEAF
            elif not self.settings.reports(site.spec.rule):
                partial.setdefault(home, _UNSELECTED_LEAF)
        return partial

    def _home(self, site):
        """The module class whose code holds the op (a base's method walked for a subclass: the base)."""
        home = self.planner._class_of(site.node)  # pylint: disable=protected-access
        return home if home is not None and home.is_module else site.owner

    @staticmethod
    def _describe(site) -> str:
        spec = site.spec
        if spec.rule == "tensor-operator":
            return f"Tensor operator '{spec.shown}'"
        if site.via_attribute:
            return f"{spec.shown} (via self.{site.via_attribute})"
        return spec.shown if spec.rule != "tensor-method" else f"Tensor method {spec.shown}"

    # ----------------------------------------------------------------- reuse
    def _reuse(self) -> None:
        reported: set[nodes.Call] = set()
        entries = [(entry, self.walk) for entry in self.walk.per_forward] + list(self.reached_forwards)
        for (owner, _forward, totals, call_nodes), walk in entries:
            by_attr: dict[str, list[nodes.Call]] = {}
            for call in call_nodes:
                if call.root() is not self.module:
                    continue  # a call in another file's code (an inherited forward): reported there
                record = walk.calls[call]
                sites = by_attr.setdefault(record.attr, [])
                if call not in sites:
                    sites.append(call)
            for attr, sites in by_attr.items():
                count = totals.get(attr, 0)
                if count < 2:
                    continue
                fact = owner.attrs.get(attr)
                if fact is None:
                    continue
                if fact.qname in QUANT_NEUTRAL_MODULES and not self.settings.report_stateless_reuse:
                    continue
                here = owner.node.root() is self.module
                stateful = self.index.attr_stateful(fact) if here or not (fact.qname or "").startswith("local:") \
                    else None
                sites.sort(key=lambda c: (c.lineno, c.col_offset))
                lines = ", ".join(str(c.lineno) for c in sites)
                multi_sites = [c for c in sites if walk.calls[c].multi]
                flagged = [c for c in sites[1:] if c not in multi_sites] + multi_sites
                for call in flagged:
                    if call in reported:
                        continue
                    reported.add(call)
                    multi = walk.calls[call].multi
                    plan = self.planner.plan_reuse(owner, attr, call, stateful, multi)
                    times = "at least 2" if multi_sites else str(count)
                    where = f"line {lines}" if len(sites) == 1 else f"lines {lines}"
                    runs = walk.multiplicity.get(walk.forward_owner(owner), 1)
                    if multi and runs > 1 and walk.seed_runs:  # runs set by another file
                        where += f", and {owner.name} itself runs {runs} times per pass"
                    elif multi and len(sites) == 1:
                        where += ", executed repeatedly (loop, comprehension or helper)"
                    tying = " It holds parameters: this is weight tying, so no safe fix exists." \
                        if stateful else (" It may hold parameters (weight tying?)." if stateful is None else "")
                    message = (f"self.{attr} is called {times} times per forward pass ({where}); "
                               f"a quantizer keeps only one call's statistics.{tying}")
                    if plan.fix is not None and not multi:
                        message += f" Give this call its own instance: {plan.suggestion}"
                    elif plan.note:  # every refusal says why
                        message += f" ({plan.note})"
                    confidence = Confidence.HIGH if fact.kind == attrs.MODULE and fact.qname else Confidence.INFERENCE
                    if not here:
                        message += f" (reached from {owner.name} in {os.path.basename(owner.node.root().file or 'another file')})"
                    self._add("reused-module", call, message, plan, confidence, klass=owner.name,
                              op=f"self.{attr}")

    # ---------------------------------------------------------------- inline
    def _inline(self) -> None:
        for record in self.walk.inline.values():
            if record.qname.endswith(TRAINING_ONLY_SUFFIXES) or record.node.root() is not self.module:
                continue
            plan = self.planner.plan_inline(record.node, record.qname, record.owner, record.multi)
            if self.islands is not None:
                plan = self.islands.around_inline_fix(record.node, record.qname, plan)
            name = record.qname.split(":")[-1].replace("torch.nn.", "nn.")
            message = (f"{name}(...) is constructed inside forward code, so the quantizer never sees it; "
                       f"build it once in __init__{self._tail(plan)}")
            self._add("inline-module", record.node, message, plan,
                      klass=record.owner.name if record.owner else None, op=record.qname)

    # --------------------------------------------------------- float islands
    def _float_modules(self) -> None:
        """torch-eager: calls of modules eager cannot run on quantized tensors (`self.act = nn.SiLU()`)."""
        for record in self.walk.calls.values():
            found = self.islands.module_call(record, self.float_leaves)
            if found is None:
                continue
            message, plan = found
            text = f"{message}; use {plan.suggestion}{self._tail(plan)}"
            self._add("unquantizable-module", record.node, text, plan, klass=record.owner.name,
                      op=f"self.{record.attr}")
        for info in self.index.module_classes():
            for node, message, plan in self.qconfigs.qconfig_findings(info):
                self._add("unquantizable-module", node, f"{message}{self._tail(plan)}", plan, klass=info.name,
                          op=self.index.imports.qualify(node.func))
            for node, message, plan in same_padding_findings(info, self.planner):
                self._add("unquantizable-module", node, f"{message}; use {plan.suggestion}{self._tail(plan)}", plan,
                          klass=info.name, op=self.index.imports.qualify(node.func))
            for node, message, plan in self.weight_reads.findings(info) + self.dtype_reads.findings(info):
                self._add("unquantizable-module", node, f"{message}{self._tail(plan)}", plan,
                          klass=info.name, op=plan.suggestion)

    def _helper_calls(self) -> None:
        """torch-eager: each call of a helper that runs in float at its calls (`helper_islands.py`)."""
        for helper in self.helper_islands.helpers(()).values():
            ops = ", ".join(dict.fromkeys(site.spec.shown for site in helper.sites))
            lines = ", ".join(str(r.node.lineno) for r in helper.calls)
            for call, owner, plan in helper.plans:
                message = (f"{helper.func.name}() runs {ops} and {helper.why}, and it runs at several calls "
                           f"(lines {lines}); use {plan.suggestion or ISLAND}{self._tail(plan)}")
                self._add(helper.rule, call, message, plan, klass=owner.name if owner else None,
                          op=helper.sites[0].spec.key if helper.sites else None)

    # ------------------------------------------------- module-level facts
    def _module_facts(self) -> None:
        target = self.settings.target
        for info in self.index.module_classes():
            for stmt in info.class_modules:
                names = ", ".join(t.as_string() for t in stmt.targets)
                message = (f"Module {names} is created at class level and shared by every instance of "
                           f"{info.name}; create it in __init__")
                self._add("shared-module-instance", stmt, message, None, klass=info.name)
            reported_shared = set()
            for value, attr, other in info.shared:
                other_fact = info.attrs.get(other)
                if other_fact is None or other_fact.kind not in (attrs.MODULE, attrs.CONTAINER):
                    continue
                if id(value) in reported_shared or value.frame().parent is not info.node:
                    continue
                reported_shared.add(id(value))
                message = (f"self.{attr} and self.{other} are one module instance: every call shares one "
                           f"set of quantization statistics (weight tying if it holds parameters)")
                self._add("shared-module-instance", value.parent if isinstance(value.parent, nodes.Assign)
                          else value, message, None, klass=info.name)
            for call in info.unquantizable:
                qname = self.index.imports.qualify(call.func)
                if target == TORCH_EAGER and UNQUANTIZABLE[qname].eager_prepare:
                    continue  # eager prepare swaps it for torch.ao.nn.quantizable.* itself
                variant = UNQUANTIZABLE[qname].for_target(target)
                plan = self.planner.plan_variant(call, qname, variant)
                short = qname.replace("torch.nn.", "nn.")
                if variant:
                    message = (f"{short} cannot be quantized by the {target} target; use "
                               f"{plan.suggestion or variant}{self._tail(plan)}")
                else:
                    message = f"{short} cannot be quantized by the {target} target, which has no quantizable variant"
                    if target == TORCH_EAGER:
                        message += (": eager prepare swaps only nn.LSTM and nn.MultiheadAttention, so it stays "
                                    "float and fails on quantized input; keep it float by hand (a DeQuantStub "
                                    "before it, qconfig = None on it, a QuantStub on the tensor you use)")
                self._add("unquantizable-module", call, message, plan, klass=info.name, op=qname)
