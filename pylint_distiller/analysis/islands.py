"""Float islands: what eager mode cannot run on quantized tensors runs in float.

After `prepare`/`convert`, every activation between the model's QuantStub and
DeQuantStub is a quantized tensor. An op eager mode has no quantized kernel for
(`x.sum()`, `a - b`, `F.layer_norm`, measured in `eager_support`) or a module it
does not convert and whose float forward fails on quantized input (`nn.SiLU`,
`nn.Softmax`) stops PTQ. The torch-eager preparation gives each such call site
its own `DeQuantStub` on every activation operand and a `QuantStub` on the result:

    x.sum(1)           ->  self.sum_quant(self.sum_dequant(x).sum(1))
    self.act(x)        ->  self.act_quant(self.act(self.act_dequant(x)))

Why this is a safe fix: before `prepare` both stubs are identity modules with
no parameters and no buffers, so the state_dict keys and the float outputs do
not change; one pair per call site gives each island's QuantStub its own
observer (a call site that runs several times per pass gets no fix). The island
makes the op run in float on dequantized input, which is what it computed
before quantization. An operand that is a float parameter or buffer
(`x + self.pos_embed`, `self.gamma * x`) cannot meet a quantized activation in
any quantized op either (`FloatFunctional.add` fails on it): that op becomes an
island too, with only the activation dequantized.

An op or module call already in an island (its activations come from a
DeQuantStub member and its result goes into a QuantStub member) is prepared: it
is not reported again, so a second `fix` adds nothing.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller import eager_support as E
from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.fusion import FusionAnalysis
from pylint_distiller.analysis.boundaries import no_activation
from pylint_distiller.analysis.init_calls import runs_in_init_note
from pylint_distiller.analysis.island_template import IslandTemplate
from pylint_distiller.analysis.loop_sharing import SHARED_STUBS_NOTE
from pylint_distiller.analysis.loops import InLoop, Slot, per_iteration
from pylint_distiller.analysis.sites import ModuleCall, OpSite
from pylint_distiller.analysis.plans import (
    _EARLY_RETURN,
    Plan,
    Planner,
    _fresh_target,
    _self_reachable,
)
from pylint_distiller.analysis.operands import (
    DEQUANT_STUB,
    QUANT_STUB,
    Operands,
    constant,
    dequantized,
    float_on_some_path,
    float_parameter,
    is_stub_call,
)
from pylint_distiller.catalogue import TORCH_EAGER, UNSUPPORTED
from pylint_distiller.findings import Applicability, Fix, Member

ISLAND = "a float island (a DeQuantStub before it, a QuantStub after it)"
_OPERATOR_NAMES = {"truediv": "div", "floordiv": "floordiv", "neg": "neg"}
_BINARY = frozenset(("add", "sub", "mul", "truediv", "div"))


def _short_name(key: str) -> str:
    """The readable stem of an island's members: `sum`, `sub`, `div`, `layer_norm`."""
    short = key.rsplit(".", 1)[1].rstrip("_")
    if key.startswith("operator."):
        short = short[1:] if short.startswith("i") and short not in ("inner",) else short
        short = _OPERATOR_NAMES.get(short, short)
    return short


class IslandPlanner:
    """Which op sites and module calls need a float island for torch-eager, and the island fix."""

    def __init__(self, planner: Planner, fusion: FusionAnalysis) -> None:
        self.p = planner
        self.fusion = fusion
        self.pos = planner.pos
        self.sites = list(planner.walk.ops.values())
        self.by_node = planner.walk.ops
        self._merge_map: dict[nodes.NodeNG, OpSite] | None = None
        self._helper_calls: dict[str, list] | None = None  # callee name -> calls in module classes
        self._reasons: dict[nodes.NodeNG, str | None] = {}
        self._fused: set | None = None

    # ------------------------------------------------------------- op sites
    def reason(self, site: OpSite) -> str | None:
        """Why the op cannot run on quantized tensors as written (None: it can, or is not measured)."""
        if site.node not in self._reasons:
            self._reasons[site.node] = self._reason(site)
        return self._reasons[site.node]

    def _reason(self, site: OpSite) -> str | None:
        if site.via_attribute:
            return None
        operands = Operands(site)
        if not operands.ok:
            return None
        tensors = [n for n, k in operands.items if k == K.TENSOR]
        params = [n for n in tensors if float_parameter(n, site.owner)]
        if len(params) == len(tensors):
            return None  # no activation: parameter arithmetic
        if params:
            return (f"{params[0].as_string()} is a float parameter or buffer, and no quantized op takes it "
                    f"with a quantized activation")
        maybe = [n for n in tensors if float_on_some_path(n, site.owner, bool(site.module_param))]
        if maybe and (len(maybe) < len(tensors) or not site.spec.data_movement):
            # (a view of such a value alone runs on either)
            return (f"{maybe[0].as_string()} is a float parameter or buffer on some path, and no quantized op "
                    f"takes it with a quantized activation; the island dequantizes it too, which leaves a float tensor as it is")
        spec = site.spec
        key = spec.key
        if key.startswith("operator.i") and key[len("operator.i"):] in _BINARY | {"matmul", "pow"}:
            key = "operator." + key[len("operator.i"):]
        short = key.rsplit(".", 1)[1]
        variant = "scalar" if short in _BINARY and K.NUMBER in operands.kinds() else ""
        measured = E.op_runs_quantized(key, variant)
        if measured is None and variant:
            measured = E.op_runs_quantized(key)
        rep = spec.replacement(TORCH_EAGER)
        if measured is False and (rep == UNSUPPORTED or spec.weighted):
            return "eager mode has no quantized kernel for it"
        return None

    def parameters_only(self, site: OpSite) -> bool:
        """Arithmetic on parameters and numbers only (`w * (rv + self.eps).rsqrt()`): float in a
        converted model too, so nothing to prepare (a FloatFunctional there would fail on float input)."""
        operands = Operands(site)
        tensors = [n for n, k in operands.items if k == K.TENSOR]
        return operands.ok and bool(tensors) and all(float_parameter(n, site.owner) for n in tensors) \
            and all(k in (K.TENSOR, K.NUMBER, K.OTHER) or constant(n, site.owner) for n, k in operands.items)

    def in_island(self, site: OpSite) -> bool:
        """Already prepared: its activations are float (DeQuantStubs, or ops of the same island) and its
        result goes into a QuantStub (directly, or through the enclosing ops of the same island)."""
        return self._float_inside(site, 0) and self._flows_to_quant(site, 0)

    def _float_inside(self, site: OpSite, depth: int) -> bool:
        operands = Operands(site)
        if not operands.ok or isinstance(site.node, nodes.AugAssign) or depth > 8:
            return False
        acts = [n for n, k in operands.items if k == K.TENSOR and not float_parameter(n, site.owner)]
        return bool(acts) and all(
            dequantized(n, site.owner, self.p.imports)
            or (n in self.by_node and self._float_inside(self.by_node[n], depth + 1)) for n in acts)

    def _flows_to_quant(self, site: OpSite, depth: int) -> bool:
        if is_stub_call(site.node.parent, site.owner, QUANT_STUB, self.p.imports):
            return True
        parent = self._enclosing(site)
        return parent is not None and depth < 8 and self._flows_to_quant(parent, depth + 1)

    def _enclosing(self, site: OpSite) -> OpSite | None:
        """The op site that takes this op's result directly as one of its activation operands."""
        node = site.node
        for ancestor in (node.parent, getattr(node.parent, "parent", None), getattr(
                getattr(node.parent, "parent", None), "parent", None)):
            parent = self.by_node.get(ancestor)
            if parent is not None and parent.owner is site.owner and any(
                    n is node and k == K.TENSOR for n, k in Operands(parent).items):
                return parent
        return None

    def _merges(self) -> dict[nodes.NodeNG, OpSite]:
        """child op node -> parent site: an island op whose float result feeds another island op's operand directly.

        `(s / 8.0).exp()` is one float region: one DeQuantStub on `s`, one QuantStub on the
        result, no quantize/dequantize pair between the two ops (each would cost accuracy).
        Merged only where the parent's own island fix exists, so the chain ends in a QuantStub.
        """
        if self._merge_map is None:
            self._merge_map = {}
            for site in self.sites:
                reason = self.reason(site)
                if reason is None or site.multi or isinstance(site.node, nodes.AugAssign):
                    continue
                parent = self._enclosing(site)
                if parent is None or parent.multi or isinstance(parent.node, nodes.AugAssign):
                    continue
                parent_reason = self.reason(parent)
                if parent_reason is None or self._plan(parent, parent_reason, frozenset(), False).fix is None:
                    continue
                self._merge_map[site.node] = parent
        return self._merge_map

    def plan_op(self, site: OpSite, reason: str) -> Plan:
        merges = self._merges()
        children = frozenset(id(child) for child, parent in merges.items() if parent is site)
        return self._plan(site, reason, children, site.node in merges)

    def _plan(self, site: OpSite, reason: str, children: frozenset, merged: bool) -> Plan:
        where = self._receiver(site)
        if isinstance(where, str):
            return Plan(ISLAND, None, f"{reason}, and {where}")
        receiver, class_lines = where
        slot = None
        if site.multi:
            # one pair of stubs per iteration of a loop with a static trip count (`self.add_quants[i]`)
            slot = per_iteration(site.node, site.owner, self.p.walk) if receiver == "self" and not (
                children or merged) else "it runs in a helper that receives its module"
            if isinstance(slot, InLoop):
                # as `loop_sharing.py` shares a FloatFunctional: eager runs one pair of stubs on every run
                # (a DeQuantStub holds no state; the QuantStub's observer sees every run)
                reason += f" ({slot}: {SHARED_STUBS_NOTE})"
                slot = None
            elif isinstance(slot, str):
                return Plan(ISLAND, None, f"{reason}, and it runs several times per forward pass ({slot}): one "
                                          "QuantStub would observe every run (manual)")
        node = site.node
        operands = Operands(site)
        owner = site.owner
        acts = {id(n) for n, k in operands.items if k == K.TENSOR and not float_parameter(n, owner)} - children
        builder = IslandTemplate(self.pos, receiver, acts, f"[{slot.position}]" if slot else "")
        if isinstance(node, nodes.BinOp):
            body = builder.operand(node.left, node) + f" {node.op} " + builder.operand(node.right, node)
        elif isinstance(node, nodes.UnaryOp):
            body = node.op + builder.operand(node.operand, node)
        elif isinstance(node, nodes.AugAssign):
            if not isinstance(node.target, nodes.AssignName) or not _fresh_target(node):
                return Plan(ISLAND, None, f"{reason}, and the in-place update would become out-of-place while "
                                          "another name may share the tensor (manual)")
            body = builder.operand(node.target, None) + f" {node.op[:-1]} " + builder.operand(node.value, node)
        else:
            body = builder.call(node, site.spec.key.startswith("Tensor."))
        if body is None:
            return Plan(ISLAND, None, f"{reason}, and its tensors come in a sequence the island cannot unpack "
                                      "(manual)")
        template = body if merged else builder.quantized(body)
        if isinstance(node, nodes.AugAssign):
            template = builder.hole(node.target) + " = " + template
        if self.pos.has_comment(self.pos.span(node), builder.holes) and isinstance(node, nodes.Call):
            # comments between the arguments: keep the call's text verbatim around its dequantized activations
            builder = IslandTemplate(self.pos, receiver, acts, builder.pick)
            body = builder.verbatim(node, [n for n, _ in operands.items if id(n) in acts])
            template = body if merged or body is None else builder.quantized(body)
        if body is None or self.pos.has_comment(self.pos.span(node), builder.holes):
            return Plan(ISLAND, None, f"{reason}, and the expression holds comments the rewrite would drop "
                                      "(manual)")
        fix = self._fix(node, _short_name(site.spec.key), builder, template, class_lines, quant=not merged,
                        slot=slot, owner=owner)
        if slot:
            reason += f"; one pair of stubs per loop iteration, in nn.ModuleLists indexed by {slot.position}"
        return Plan(ISLAND, fix, reason + ("; it joins the island of the op that takes its result" if merged else ""))

    # ----------------------------------------- module fixes whose module is float-only
    def around_module_fix(self, site: OpSite, plan: Plan) -> Plan:
        """`F.silu(x)` -> `nn.SiLU` is not enough for eager: put the new module in its island in the same
        pass (`self.silu_quant(self.silu(self.silu_dequant(x)))`), so one fix leaves nothing behind."""
        fix = plan.fix
        rep = site.spec.replacement(TORCH_EAGER)
        if fix is None or fix.member is None or isinstance(site.node, nodes.AugAssign) \
                or getattr(rep, "module", None) not in E.FLOAT_ONLY_MODULES - E.PER_TENSOR_WEIGHT_MODULES \
                or getattr(rep, "module", None) in E.MAPPED_FLOAT_ONLY_MODULES or getattr(rep, "method", None):
            return plan
        receiver = fix.template.split(".{m}", 1)[0]
        if not fix.template.startswith(receiver + ".{m}(") or "{0}" not in fix.template or site.multi:
            return plan
        inner = fix.template.replace("{0}", receiver + ".{m1}({0})", 1)
        return Plan(plan.suggestion + " in " + ISLAND, self._wrapped(fix, receiver, inner, rep.member), plan.note)

    def around_inline_fix(self, call: nodes.Call, qname: str, plan: Plan) -> Plan:
        """`nn.Softmax(dim=-1)(x)` hoisted into `__init__` and put in its island in the same pass."""
        fix = plan.fix
        applied = call.parent
        if fix is None or fix.member is None or qname not in E.FLOAT_ONLY_MODULES - E.PER_TENSOR_WEIGHT_MODULES \
                or qname in E.MAPPED_FLOAT_ONLY_MODULES or not isinstance(applied, nodes.Call) \
                or applied.func is not call or len(applied.args) != 1 or applied.keywords \
                or isinstance(applied.args[0], nodes.Starred) or fix.template != "self.{m}":
            return plan
        arg = self.pos.span(applied.args[0])
        if self.pos.has_comment(self.pos.span(applied), [arg]):
            return plan
        moved = Fix(title=fix.title, applicability=fix.applicability, span=self.pos.span(applied),
                    template="self.{m}(self.{m1}({0}))", holes=(arg,), member=fix.member, imports=fix.imports,
                    class_lines=fix.class_lines)
        return Plan(plan.suggestion + " in " + ISLAND, self._wrapped(moved, "self", moved.template,
                                                                    fix.member.name), plan.note)

    def _wrapped(self, fix: Fix, receiver: str, inner: str, stem: str) -> Fix:
        dequant, imports = self.p.render(DEQUANT_STUB)
        stub, more = self.p.render(QUANT_STUB)
        if imports and more and imports[0].startswith("from ") and more[0].startswith("from "):
            imports, more = (f"{imports[0]}, {stub}",), ()
        return Fix(
            title=fix.title + f", in a float island (self.<{stem}_dequant>, self.<{stem}_quant>)",
            applicability=fix.applicability,
            span=fix.span,
            template=f"{receiver}.{{m2}}({inner})",
            holes=fix.holes,
            member=fix.member,
            extra_members=(Member(f"{stem}_dequant", f"{dequant}()"), Member(f"{stem}_quant", f"{stub}()")),
            imports=tuple(dict.fromkeys(fix.imports + imports + more)),
            class_lines=fix.class_lines,
        )

    def _receiver(self, site: OpSite):
        """(receiver, class lines) of the members, or why there is none."""
        if site.owner is not None:
            if not _self_reachable(site.node):
                return "it is in a static method or a method whose first parameter is not `self` (manual)"
            lines: tuple[int, ...] = (site.owner.node.lineno,)
            receiver = "self"
        elif site.module_param and site.callers:
            stray = self.p.stray_note(site)
            if stray:
                return stray
            lines = tuple(sorted({c.node.lineno for c in site.callers}))
            receiver = site.module_param
        else:
            return ("it is outside any module class and receives no module to hold the stubs: call it from "
                    "forward inside an island, or give it the module (manual)")
        if not all(self.p._extendable(line) for line in lines):
            return _EARLY_RETURN
        in_init = runs_in_init_note(site.node, self.p._init_reached)
        if in_init:
            return in_init
        return receiver, lines

    def _fix(self, node: nodes.NodeNG, stem: str, builder: IslandTemplate, template: str,
             class_lines: tuple[int, ...], quant: bool = True, slot: Slot | None = None,
             owner: ClassInfo | None = None) -> Fix:
        dequant, imports = self.p.render(DEQUANT_STUB)
        stub, more = self.p.render(QUANT_STUB)
        imports = imports if builder.dequants else ()
        if not quant:
            more = ()
        elif imports and more and imports[0].startswith("from ") and more[0].startswith("from "):
            imports, more = (f"{imports[0]}, {stub}",), ()  # one line: from torch.ao.quantization import ...
        members = [Member(f"{stem}_dequant", f"{dequant}()") for _ in range(builder.dequants)]
        if quant:
            members.append(Member(f"{stem}_quant", f"{stub}()"))
        title = f"Run it in a float island: self.<{stem}_dequant> = {dequant}() on its activations, " + (
            f"self.<{stem}_quant> = {stub}() on its result" if quant else "its result goes on in float")
        if slot is not None:  # nn.ModuleList([QuantStub() for _ in range(<trip>)]), created where the trip count is
            listed = [self.p._per_iteration(m, slot, imports) for m in members]
            imports = tuple(dict.fromkeys(imports + tuple(i for _, more_, _ in listed for i in more_)))
            members = [self.p._guarded(m, owner, slot.reads) for m, _, _ in listed]
            title += f", one per iteration (indexed by {slot.position})"
        return Fix(
            title=title,
            applicability=Applicability.SAFE,
            span=self.pos.span(node),
            template=template,
            holes=tuple(builder.holes),
            member=members[0] if members else None,
            extra_members=tuple(members[1:]),
            imports=imports + more,
            class_lines=class_lines,
        )

    # ------------------------------------------------------- module-level helpers
    def helper_reason(self, site: OpSite) -> str | None:
        """An op eager cannot run quantized, in a same-file function that holds no module (`swish(x)`)."""
        if site.owner is not None or site.module_param or not isinstance(site.node.frame(), nodes.FunctionDef):
            return None
        if not isinstance(site.node.frame().parent, nodes.Module):
            return None
        operands = Operands(site)
        if not operands.ok or K.TENSOR not in operands.kinds():
            return None
        key = site.spec.key
        variant = "scalar" if key.rsplit(".", 1)[1] in _BINARY and K.NUMBER in operands.kinds() else ""
        if E.op_runs_quantized(key, variant) is False or E.op_runs_quantized(key) is False:
            return "eager mode has no quantized kernel for it"
        return None

    def helper_calls(self, helper: nodes.FunctionDef) -> list[tuple[nodes.Call, ClassInfo]]:
        """Calls of a module-level helper from the methods of this file's module classes."""
        if self._helper_calls is None:
            self._helper_calls = {}
            for info in self.p.index.module_classes():
                for method in info.node.mymethods():
                    for call in method.nodes_of_class(nodes.Call):
                        if isinstance(call.func, nodes.Name):
                            self._helper_calls.setdefault(call.func.name, []).append((call, info))
        return [(call, info) for call, info in self._helper_calls.get(helper.name, ())
                if call.frame().lookup(helper.name)[1][:1] == [helper]]

    def helper_in_island(self, site: OpSite) -> bool:
        """An op of a module-level helper whose every call runs in an island: it runs in float."""
        helper = site.node.frame()
        if site.owner is not None or not isinstance(helper, nodes.FunctionDef) \
                or not isinstance(helper.parent, nodes.Module):
            return False
        calls = self.helper_calls(helper)
        return bool(calls) and all(
            is_stub_call(call.parent, info, QUANT_STUB, self.p.imports)
            and any(is_stub_call(a, info, DEQUANT_STUB, self.p.imports) for a in call.args) for call, info in calls)

    def plan_helper(self, site: OpSite, reason: str) -> Plan:
        """One island around the helper's only call: the whole helper runs in float."""
        helper = site.node.frame()
        calls = self.helper_calls(helper)
        if len(calls) != 1 or site.multi:
            return Plan(ISLAND, None, f"{reason}, and {helper.name}() holds no module: it is called "
                                      f"{'several times' if calls else 'from no module here'}, so put its calls in "
                                      "float islands by hand (manual)")
        call, info = calls[0]
        if not _self_reachable(call) or not self.p._extendable(info.node.lineno):
            return Plan(ISLAND, None, f"{reason}, and {helper.name}()'s caller cannot hold the stubs (manual)")
        if any(isinstance(r.value, (nodes.Tuple, nodes.List, nodes.Dict)) for r in helper.nodes_of_class(nodes.Return)
               if r.frame() is helper) or call.keywords or any(isinstance(a, nodes.Starred) for a in call.args):
            return Plan(ISLAND, None, f"{reason}, and {helper.name}() is not one tensor in, one tensor out (manual)")
        params = [a.name for a in helper.args.args or []]
        tensors = {n.name for s in self._helper_sites(helper) for n, k in Operands(s).items
                   if k == K.TENSOR and isinstance(n, nodes.Name)}
        acts = {id(arg) for arg, name in zip(call.args, params) if name in tensors}
        if not acts:
            return Plan(ISLAND, None, f"{reason}, and no argument of {helper.name}() is seen to be a tensor (manual)")
        builder = IslandTemplate(self.pos, "self", acts)
        body = builder.hole(call.func) + "(" + ", ".join(builder.operand(a, None) for a in call.args) + ")"
        template = builder.quantized(body)
        if self.pos.has_comment(self.pos.span(call), builder.holes):
            return Plan(ISLAND, None, f"{reason}, and the call holds comments the rewrite would drop (manual)")
        fix = self._fix(call, helper.name, builder, template, (info.node.lineno,))
        return Plan(ISLAND, fix, f"{reason}; {helper.name}() holds no module, so its call at line {call.lineno} "
                                 "runs in the island")

    def _helper_sites(self, helper: nodes.FunctionDef):
        return [s for s in self.sites if s.node.frame() is helper]

    def _fused_calls(self) -> set:
        """Member calls in a fusable chain (Linear -> BatchNorm1d): `fuse_model()` removes them."""
        if self._fused is None:
            self._fused = {node for info in self.p.index.module_classes() for chain in self.fusion.chains(info)
                           for node in chain.nodes}
        return self._fused

    # ----------------------------------------------------------- leaf modules
    def float_leaves(self, sites, walk) -> dict[ClassInfo, list[OpSite]]:
        """Same-file leaf modules (no submodules) whose forward runs ops eager cannot run quantized.

        A leaf such as an RMSNorm or a LayerNorm2d is one unit: eager does not convert it, so
        its whole forward runs on what it receives. One island around each of its calls keeps
        it float and keeps it a leaf (islands inside would expose its other ops). A leaf this
        file never calls keeps its per-op findings.
        """
        calling = {record.owner for record in walk.calls.values()}
        called = {f.qname for record in walk.calls.values() if (f := record.owner.attrs.get(record.attr))}
        out: dict[ClassInfo, list[OpSite]] = {}
        for site in sites:
            owner = site.owner
            if owner is None or owner in calling or f"local:{owner.name}" not in called or any(
                    f.kind in (attrs.MODULE, attrs.CONTAINER) for f in owner.attrs.values()):
                continue
            if self.reason(site) is not None:
                out.setdefault(owner, []).append(site)
        return out

    # --------------------------------------------------------- module calls
    def module_call(self, record: ModuleCall, leaves: dict) -> tuple[str, Plan] | None:
        """(message, plan) for a call of a module eager cannot run on quantized tensors, else None."""
        if record.element:
            return None
        owner = record.owner
        fact = owner.attrs.get(record.attr)
        if fact is None or fact.kind != attrs.MODULE:
            return None
        leaf = next((info for info in leaves if f"local:{info.name}" == fact.qname), None)
        if leaf is None and E.module_runs_quantized(fact.qname or "") is not False:
            return None
        if fact.qname in E.PER_TENSOR_WEIGHT_MODULES:
            return None  # it quantizes with its own qconfig: see `qconfig_findings`
        call = record.node
        if call in self._fused_calls():
            return None  # fuse_model() folds it into the conv/linear before it (unfused-modules)
        if (call.args and dequantized(call.args[0], owner, self.p.imports)
                and is_stub_call(call.parent, owner, QUANT_STUB, self.p.imports)):
            return None
        if leaf is not None:
            ops = ", ".join(sorted({site.spec.shown for site in leaves[leaf]}))
            message = (f"self.{record.attr} ({leaf.name}) is a leaf module whose forward runs ops eager mode cannot "
                       f"run on quantized tensors ({ops}); eager does not convert it, so after convert it fails")
        else:
            short = (fact.qname or "").replace("torch.nn.", "nn.")
            message = (f"self.{record.attr} ({short}) has no quantized kernel in eager mode: after convert it runs "
                       f"on quantized tensors and fails")
        if fact.qname in E.MAPPED_FLOAT_ONLY_MODULES:
            message += f"; it must also stay float (self.{record.attr}.qconfig = None)"
        if record.multi:
            return message, Plan(ISLAND, None, "it runs several times per forward pass: one QuantStub would "
                                               "observe every run (manual)")
        acts = _island_arguments(call, owner)
        if acts is None:
            return message, Plan(ISLAND, None, "only a call with one tensor argument (and float parameters or "
                                               "constants after it) can be put in an island (manual)")
        if not _self_reachable(call):
            return message, Plan(ISLAND, None, "it is in a static method or a method whose first parameter is "
                                               "not `self` (manual)")
        if not self.p._extendable(owner.node.lineno):
            return message, Plan(ISLAND, None, _EARLY_RETURN)
        in_init = runs_in_init_note(call, self.p._init_reached)
        if in_init:
            return message, Plan(ISLAND, None, in_init)
        builder = IslandTemplate(self.pos, "self", acts)
        args = [builder.operand(a, None) for a in call.args] + [
            f"{kw.arg}=" + builder.operand(kw.value, None) for kw in call.keywords or ()]
        template = builder.quantized(builder.hole(call.func) + "(" + ", ".join(args) + ")")
        if self.pos.has_comment(self.pos.span(call), builder.holes):
            return message, Plan(ISLAND, None, "the call holds comments the rewrite would drop (manual)")
        return message, Plan(ISLAND, self._fix(call, record.attr, builder, template, (owner.node.lineno,)))


def _island_arguments(call: nodes.Call, owner: ClassInfo) -> set[int] | None:
    """The arguments an island around a module call dequantizes: the first (the activation), and
    any other that is float on some path only; None when another argument may be an activation
    (it would reach the float module quantized) or cannot be told apart (`*args`, `**kw`).

    A lifted helper's call passes weights, biases, sizes and flags after its input
    (`self.attention(x, self.qkv.weight, rel_bias, self.window_size, training=self.training)`):
    float parameters and constants go in as they are.
    """
    if not call.args or isinstance(call.args[0], nodes.Starred):
        return None
    acts = {id(call.args[0])}
    for arg in call.args[1:] + [kw.value for kw in call.keywords or ()]:
        if isinstance(arg, nodes.Starred) or any(kw.arg is None for kw in call.keywords or ()):
            return None
        if no_activation(arg, owner) or isinstance(arg, (nodes.List, nodes.Tuple)) and all(
                isinstance(e, nodes.Const) for e in arg.elts):
            continue
        if not float_on_some_path(arg, owner):
            return None
        acts.add(id(arg))
    return acts
