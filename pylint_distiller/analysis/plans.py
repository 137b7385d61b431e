"""Turn an op site and its catalogue row into a `Fix` plan for one target.

The plan is exact or absent: every argument of the call must land somewhere in
the replacement (constructor or forward), constructor arguments must be
evaluable at the end of `__init__` (literals, module-level names, attributes set
in `__init__`), and anything that could change behaviour (a loop, dropout's
training flag, weight tying) lowers the applicability to unsafe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from astroid import nodes

from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis import common_qparams_cat, dynamic_qparams, number_paths
from pylint_distiller.analysis.add_relu import add_relu_fix
from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.analysis.conditions import guards, self_attrs
from pylint_distiller.analysis.containers import ChildViews
from pylint_distiller.analysis.forward import ForwardAnalysis, OpSite
from pylint_distiller.analysis.generated_helpers import helper_bound
from pylint_distiller.analysis.init_calls import runs_in_init_note
from pylint_distiller.analysis.lifting import Lifter
from pylint_distiller.analysis.loop_sharing import SHARED_NOTE, UNOBSERVED_MODULES, UNOBSERVED_NOTE, built_as, shares_across_runs
from pylint_distiller.analysis.loops import Slot, per_iteration
from pylint_distiller.analysis.module_callers import stray_reference
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.operands import init_number
from pylint_distiller.analysis.positions import Positions
from pylint_distiller.analysis.training_args import training_value
from pylint_distiller.analysis.syntax import member_read
from pylint_distiller.catalogue import NATIVE, TORCH_EAGER, UNSUPPORTED, OpSpec, Replacement
from pylint_distiller.findings import Applicability, Definition, Fix, Member

_BUILTIN_NAMES = frozenset(("int", "float", "round", "len", "max", "min", "abs", "tuple", "list", "bool", "str"))
_COMMUTATIVE = frozenset(("add", "mul"))
_EARLY_RETURN = "__init__ returns early, so a member added at its end might never be set (manual)"
_REUSED_PER_RUN = "one module would be reused by every run, so no fix"


@dataclass
class Plan:
    """What the message says and what the fix does."""

    suggestion: str  # the replacement to name in the message
    fix: Fix | None
    note: str = ""  # why there is no (safe) fix


class Planner:
    def __init__(self, index: ModuleIndex, walk: ForwardAnalysis, positions: Positions, target: str) -> None:
        self.index = index
        self.imports = index.imports
        self.walk = walk
        self.pos = positions
        self.target = target
        self._extendable_cache: dict[int, bool] = {}
        self.views = ChildViews(index, walk.forward_of)
        self._init_reached: dict = {}  # ClassDef -> methods its __init__ runs
        #: relu call -> the add_relu plan of the add that feeds it (the relu's own finding shares it)
        self.relu_merges: dict[nodes.Call, Plan] = {}
        self.absorbs_functional_relu = True
        self.lifter = Lifter(self)

    # ----------------------------------------------------------- evaluability
    def init_evaluable(self, expr: nodes.NodeNG, owner: ClassInfo | None) -> bool:
        """Can `expr` be evaluated at the end of the owner's `__init__`?"""
        assigned = self.walk.forward_assigned.get(owner, set()) if owner else set()
        for node in nodes_in(expr, (nodes.Name, nodes.Lambda, nodes.Yield, nodes.Await)):
            if not isinstance(node, nodes.Name):
                return False
            if node.name == "self":
                parent = node.parent
                if not isinstance(parent, nodes.Attribute) or owner is None:
                    return False
                attr = parent.attrname
                if attr == "training" or attr not in owner.attrs or attr in assigned:
                    return False
                continue
            if node.name not in self.imports.module_names and node.name not in _BUILTIN_NAMES:
                return False
        return True

    # -------------------------------------------------------------- rendering
    def render(self, qname: str) -> tuple[str, tuple[str, ...]]:
        return self.imports.render(qname)

    def constructor(self, rep: Replacement, bound: dict[str, nodes.NodeNG] | None) -> tuple[str, tuple[str, ...]]:
        name, imports = self.render(rep.module)
        parts = []
        bound = bound or {}
        for param in rep.ctor:
            if param in bound:
                parts.append(f"{param}={bound[param].as_string()}")
            else:
                default = dict(rep.ctor_defaults).get(param)
                if default is not None:
                    parts.append(f"{param}={default}")
        parts += [f"{k}={v}" for k, v in rep.ctor_fixed]
        return f"{name}({', '.join(parts)})", imports

    def suggestion(self, rep: Replacement, bound) -> str:
        text, _ = self.constructor(rep, bound)
        if rep.method:
            return f"{text}.{rep.method}"
        return text

    # ------------------------------------------------------------------- ops
    def plan_op(self, site: OpSite) -> Plan:
        spec = site.spec
        if spec.weighted:
            return Plan("", None, "it takes explicit weights: move them into a module that owns them (manual)")
        rep = spec.replacement(self.target)
        if rep == UNSUPPORTED or rep == NATIVE:
            return Plan("", None, f"the {self.target} target has no module for it")
        assert isinstance(rep, Replacement)
        suggestion = self.suggestion(rep, site.bound if site.bound else None)
        if site.via_attribute:
            return Plan(suggestion, None, f"it is stored in self.{site.via_attribute}: assign the module there (manual)")
        if site.bound is None:
            return Plan(suggestion, None, "its arguments cannot be mapped exactly (starred or unknown arguments)")
        home = self._class_of(site.node)
        if site.owner is not None and home is not None and home is not site.owner and home.is_module:
            # an op of a base class's method, first reached walking a subclass: the member
            # goes where the code is, so that every class running it has one
            site = replace(site, owner=home)
        if site.owner is not None:
            if not _self_reachable(site.node):
                note = "it is in a static method or a method whose first parameter is not `self`: no member is " \
                       "reachable"
                return self.lifter.plan(site, suggestion, note) if site.lift_roots else Plan(
                    suggestion, None, note + " (manual)")
            plan = self._op_fix(site, spec, rep, suggestion, "self", (site.owner.node.lineno,))
            if plan.fix is not None and self.target == TORCH_EAGER and not site.multi:  # a per-iteration list stays
                merged = add_relu_fix(site, plan.fix, self.index, self.pos, self.absorbs_functional_relu)
                if merged is not None:
                    plan = Plan(suggestion + " (.add_relu)", merged[0], plan.note)
                    self.relu_merges[merged[1]] = plan
            return plan
        callers, param = site.callers, site.module_param
        if param and callers:
            # a module-level helper that receives the calling module (`eager_attention_forward(self, ...)`):
            # every calling class gets the member, the helper reaches it through that argument
            stray = self.stray_note(site)
            if stray:
                return Plan(suggestion, None, stray)
            lines = tuple(sorted({c.node.lineno for c in callers}))
            return self._op_fix(site, spec, rep, suggestion, param, lines)
        return self.lifter.plan(site, suggestion)

    def stray_note(self, site: OpSite) -> str | None:
        """Why members reached through the helper's module argument could be missing at some call, or None."""
        helper = site.node.scope()
        while not isinstance(helper.parent, nodes.Module):
            helper = helper.parent.scope()
        stray = stray_reference(helper, site.callers) if isinstance(helper, nodes.FunctionDef) else None
        if stray is None:
            return None
        return (f"{helper.name}() is also used at line {stray.lineno}, where the module it receives may lack "
                f"the member (manual)")

    def _op_fix(self, site: OpSite, spec: OpSpec, rep: Replacement, suggestion: str, receiver: str,
                class_lines: tuple[int, ...]) -> Plan:
        blocked = self._blocked(class_lines)
        if blocked:
            return self._memberless(site, suggestion, blocked.removesuffix(" (manual)"), " (manual)", class_lines)
        in_init = runs_in_init_note(site.node, self._init_reached)
        if in_init:
            return Plan(suggestion, None, in_init)
        bound = site.bound
        if receiver != "self" and "training" in rep.droppable:
            bound = self._training_bound(site, rep, bound, receiver)
        allowed = set(rep.ctor) | set(rep.forward) | set(rep.droppable) | {rep.cast}
        extra = [p for p in bound if p not in allowed]
        if extra:
            return Plan(suggestion, None, f"argument '{extra[0]}' has no equivalent in the module")
        for param in rep.ctor:
            if param in bound and bound[param] is not site.bound.get(param):
                continue  # every caller's training-time rate, checked against each caller (`_training_bound`)
            if param in bound and not self.init_evaluable(bound[param], site.owner):
                return Plan(suggestion, None, f"argument '{param}' depends on forward-time values")
        missing = [p for p in rep.forward if p not in bound and p != "dim"]
        if missing:
            return Plan(suggestion, None, f"argument '{missing[0]}' is missing")
        applicability = rep.applicability
        reasons = []
        if "training" in rep.droppable:
            training = bound.get("training")
            if not (isinstance(training, nodes.Attribute) and training.attrname == "training"
                    and isinstance(training.expr, nodes.Name) and training.expr.name == receiver):
                applicability = Applicability.UNSAFE
                reasons.append("F.dropout trains unless training=self.training is passed; nn.Dropout follows "
                               "the module's mode")
        ctor, imports = self.constructor(rep, bound)
        slot = None
        if site.multi:
            slot = per_iteration(site.node, site.owner, self.walk) if receiver == "self" else \
                "it is in a helper that runs several times per forward pass"
            if isinstance(slot, str) and shares_across_runs(self.target, rep.module, receiver, slot):
                reasons.append(f"{slot}: {SHARED_NOTE}")
                slot = None
            elif isinstance(slot, str):
                return self._memberless(site, suggestion, f"{slot}: {_REUSED_PER_RUN}".removesuffix(", so no fix"),
                                        ", so no fix", class_lines)
        node = site.node
        holes: list = []

        def hole(n: nodes.NodeNG) -> str:
            holes.append(self.pos.span(n))
            return "{%d}" % (len(holes) - 1)

        args = []
        method = rep.method
        forward = [p for p in rep.forward if p in bound]
        definitions: tuple = ()
        chooser = None  # the generated functional_or_scalar(), where an operand is a number on some path
        if rep.tensor_first and site.kinds and site.kinds[0] == K.NUMBER:
            return Plan(suggestion, None, "its first operand is a Python number, which the module cannot take")
        if method and rep.scalar_method and len(forward) == 2:
            first, second = site.kinds[0], site.kinds[1]
            first, second = (K.NUMBER if kind == K.UNKNOWN and init_number(bound[name], site.owner) else kind
                             for kind, name in zip((first, second), forward))
            op = spec.key.rsplit(".", 1)[1].lstrip("i") if spec.key.startswith("operator.") else spec.key.rsplit(".", 1)[1]
            # a number where the walk reads it, a tensor on later loop turns (`ctx_all = 0`, then
            # `ctx_all = ctx_all + ctx * g` in the loop): neither add nor add_scalar fits every turn
            carried = op in number_paths.OPS and method == op and any(
                kind == K.NUMBER and number_paths.number_on_some_path(bound[name])
                for kind, name in zip((first, second), forward))
            if carried:
                first = second = K.TENSOR
            if second == K.NUMBER:
                method = rep.scalar_method
            elif first == K.NUMBER and op in _COMMUTATIVE:
                method = rep.scalar_method
                forward = list(reversed(forward))
            elif first == K.NUMBER:
                return Plan(suggestion, None, "a Python number as first operand has no module form")
            elif op in number_paths.OPS and method == op and any(
                    number_paths.number_on_some_path(bound[name]) for name in forward):
                chooser = helper_bound(node.root(), number_paths.HELPER)
                if chooser == "taken":
                    return Plan(suggestion, None, f"an operand is a Python number on some path, and this file binds "
                                                  f"{number_paths.HELPER} to something else (manual)")
                definitions = () if chooser == "ours" else (Definition(number_paths.HELPER, number_paths.LINES),)
        for param in forward:
            value = bound[param]
            if param == rep.spread and isinstance(value, (nodes.List, nodes.Tuple)) and not any(
                    isinstance(e, nodes.Starred) for e in value.elts):
                args += [hole(e) for e in value.elts]
            elif param == rep.spread:
                args.append("*" + hole(value))
            elif method and param == "dim" and param in bound and param != forward[0]:
                args.append("dim=" + hole(value))
            elif param == forward[0] and rep.cast and rep.cast in bound:
                args.append("(" + hole(value) + ").to(" + hole(bound[rep.cast]) + ")")
            else:
                args.append(hole(value))
        pick = f"[{slot.position}]" if slot else ""
        call = receiver + ".{m}" + pick + (f".{method}" if method else "") + "(" + ", ".join(args) + ")"
        if chooser is not None:  # an operand may be a number: the generated helper picks add or add_scalar
            call = f'{number_paths.HELPER}({receiver}.{{m}}{pick}, "{method}", {", ".join(args)})'
        if isinstance(node, nodes.AugAssign):
            target = node.target
            if not isinstance(target, nodes.AssignName):
                applicability = Applicability.UNSAFE
                reasons.append("the augmented target is not a plain name")
            elif method and not _fresh_target(node):
                applicability = Applicability.UNSAFE
                reasons.append("the in-place update becomes out-of-place while another name may share the tensor")
            template = hole(target) + " = " + call
        else:
            template = call
        if self.pos.has_comment(self.pos.span(node), holes):
            return Plan(suggestion, None, "the expression holds comments the rewrite would drop (manual)")
        reads = [bound[p] for p in rep.ctor if p in bound]
        member, title = Member(rep.member, ctor), f"Replace with self.<{rep.member}> = {ctor}"
        if slot:
            member, imports, title = self._per_iteration(member, slot, imports)
            reads += list(slot.reads)
            reasons.append(f"one module per loop iteration, in an nn.ModuleList indexed by {slot.position}")
        if receiver == "self" and site.owner is not None:
            member = self._guarded(member, site.owner, reads)
        fix = Fix(
            title=title,
            applicability=applicability,
            span=self.pos.span(node),
            template=template,
            holes=tuple(holes),
            member=member,
            imports=imports,
            class_lines=class_lines,
            definitions=definitions,
        )
        return Plan(suggestion, fix, "; ".join(reasons))

    def _memberless(self, site: OpSite, suggestion: str, reason: str, refusal: str,
                    class_lines: tuple[int, ...]) -> Plan:
        """No member can hold the op (`reason`): a cat, a tensor add or mul still gets a generated helper
        (`common_qparams_cat`, `dynamic_qparams`), any other op no fix (`reason` + `refusal`)."""
        fix = common_qparams_cat.helper_fix(self.target, site, self.pos, class_lines)
        if fix is not None:
            return Plan(f"{common_qparams_cat.HELPER}()", fix, f"{reason}, {common_qparams_cat.NOTE}")
        found = dynamic_qparams.helper_fix(self.target, site, self.pos, class_lines)
        if found is not None:
            name, note, fix = found
            return Plan(f"{name}()", fix, f"{reason}, {note}")
        return Plan(suggestion, None, reason + refusal)

    def _training_bound(self, site: OpSite, rep: Replacement, bound: dict, receiver: str) -> dict:
        """`F.dropout(x, p=dropout, training=module.training)` in a helper: the rate every caller
        passes while training (`training_args.py`) stands for the helper's parameter."""
        training = bound.get("training")
        helper = site.node.frame()
        if not (isinstance(training, nodes.Attribute) and training.attrname == "training"
                and isinstance(training.expr, nodes.Name) and training.expr.name == receiver
                and isinstance(helper, nodes.FunctionDef) and isinstance(helper.parent, nodes.Module)):
            return bound
        params = {a.name for a in helper.args.arguments}
        out = dict(bound)
        for param in rep.ctor:
            value = bound.get(param)
            if isinstance(value, nodes.Name) and value.name in params:
                found = training_value(helper, value.name, site.callers, lambda expr, caller: self.init_evaluable(
                    expr, caller) and not guards(caller, self_attrs(expr)))
                if found is not None:
                    out[param] = found
        return out

    # ----------------------------------------------------------- reused module
    def plan_reuse(self, owner: ClassInfo, attr: str, node: nodes.Call, stateful: bool | None,
                   multi: bool) -> Plan:
        fact = owner.attrs.get(attr)
        if multi and shares_across_runs(self.target, built_as(fact, self.imports), "self"):
            return Plan("", None, f"{SHARED_NOTE}: eager PTQ runs it")
        if multi and self.target == TORCH_EAGER and fact is not None and fact.qname in UNOBSERVED_MODULES:
            return Plan("", None, UNOBSERVED_NOTE)
        if multi:
            return Plan("", None, "the call itself runs several times per pass (loop or helper): restructure by hand")
        home = self._class_of(node)
        if home is not None and home is not owner:
            home_fact = home.attrs.get(attr)
            if home_fact is None or (fact is not None and fact.in_own_init):
                return Plan("", None, f"the call is in {home.name}, inherited by {owner.name}, whose own __init__ "
                                      f"builds self.{attr}: a member added to {home.name} would not match every "
                                      "subclass (manual)")
            owner, fact = home, home_fact
        home = home or owner
        blocked = self._blocked((home.node.lineno,))
        if blocked:
            return Plan("", None, blocked)
        in_init = runs_in_init_note(node, self._init_reached)
        if in_init:
            return Plan("", None, in_init)
        copy_text = None
        imports: tuple[str, ...] = ()
        ctor = fact.ctor if fact else None
        reads: list[nodes.NodeNG] = []  # what the copy's constructor reads of self
        if ctor is not None and fact.in_own_init and _unconditional(ctor, owner) and \
                self._copyable_ctor(ctor, owner):
            copy_text = ctor.as_string()
            reads.append(ctor)
        if copy_text is None:
            init = owner.init()
            if "copy" in (init.locals if init else {}) or self.imports.aliases.get("copy", "copy") != "copy":
                return Plan("", None, "`copy` names something else here, so the module cannot be deep-copied")
            copy_text = f"copy.deepcopy(self.{attr})"
            imports = ("import copy",)
        applicability = Applicability.SAFE if stateful is False else Applicability.UNSAFE
        base = attr.rstrip("0123456789_") if attr.rstrip("0123456789_") else attr
        # the copy exists exactly when the original does (`if is_cross_attention: self.ln_1_kv = ...`)
        member = self._guarded(Member(f"{attr}_2", copy_text), home, reads, (attr,))
        fix = Fix(
            title=f"Give this call its own instance: self.<{base}_2> = {copy_text}",
            applicability=applicability,
            span=self.pos.span(member_read(node.func, attr)),
            template="self.{m}",
            member=member,
            imports=imports,
            class_lines=(home.node.lineno,),
        )
        note = "" if stateful is False else "it holds parameters: duplicating it unties the weights"
        return Plan(copy_text, fix, note)

    def _copyable_ctor(self, ctor: nodes.Call, owner: ClassInfo) -> bool:
        """The constructor can be repeated at the end of the owner's __init__."""
        init = owner.init()
        if init is None or ctor.frame() is not init:
            return self.init_evaluable(ctor, owner)
        rebound = {n.name for n in nodes_in(init, nodes.AssignName)}
        params = _param_names(init)
        for name in nodes_in(ctor, nodes.Name):
            if name.name in params and name.name not in rebound:
                continue
            if name.name == "self" or name.name in self.imports.module_names or name.name in _BUILTIN_NAMES:
                continue
            return False
        return self.init_evaluable_attrs(ctor, owner)

    def init_evaluable_attrs(self, expr: nodes.NodeNG, owner: ClassInfo) -> bool:
        assigned = self.walk.forward_assigned.get(owner, set())
        for attr in nodes_in(expr, nodes.Attribute):
            if isinstance(attr.expr, nodes.Name) and attr.expr.name == "self":
                if attr.attrname not in owner.attrs or attr.attrname in assigned:
                    return False
        return True

    # ---------------------------------------------------------- inline module
    def plan_inline(self, call: nodes.Call, qname: str, owner: ClassInfo | None, multi: bool) -> Plan:
        name, imports = self.render(qname) if not qname.startswith("local:") else (qname[6:], ())
        text = call.as_string()
        parent = call.parent
        applied = isinstance(parent, nodes.Call) and parent.func is call
        stateful = self.index.module_stateful(qname)
        if owner is None or not applied:
            return Plan(text, None, "only a module applied where it is built (nn.X(...)(x)) can be hoisted")
        if stateful is not False:
            return Plan(text, None, "it holds parameters: hoisting changes its weights (manual)")
        if not self.init_evaluable(call, owner):
            return Plan(text, None, "its arguments depend on forward-time values")
        home = self._class_of(call) or owner
        blocked = self._blocked((home.node.lineno,))
        if blocked:
            return Plan(text, None, blocked)
        in_init = runs_in_init_note(call, self._init_reached)
        if in_init:
            return Plan(text, None, in_init)
        name = qname.rsplit(".", 1)[-1].split(":")[-1].lower()
        member, title, pick = Member(name, text), f"Build it once in __init__: self.<{name}> = {text}", ""
        reads = [call]
        if multi:
            slot = per_iteration(call, owner, self.walk)
            if isinstance(slot, str):
                return Plan(text, None, f"{slot}: {_REUSED_PER_RUN}")
            member, imports, title = self._per_iteration(member, slot, imports)
            pick = f"[{slot.position}]"
            reads += list(slot.reads)
        fix = Fix(
            title=title,
            applicability=Applicability.SAFE,
            span=self.pos.span(call),
            template="self.{m}" + pick,
            member=self._guarded(member, home, reads),
            imports=imports,
            class_lines=(home.node.lineno,),
        )
        return Plan(text, fix, "")

    # ------------------------------------------------------- unquantizable
    def plan_variant(self, call: nodes.Call, qname: str, variant: str | None) -> Plan:
        if variant is None:
            return Plan("", None, f"the {self.target} target has no quantizable variant")
        name, imports = self.render(variant)
        bound_kw = {kw.arg for kw in call.keywords or ()}
        if None in bound_kw or any(isinstance(a, nodes.Starred) for a in call.args) or \
                bound_kw & {"proj_size", "device", "dtype"}:
            return Plan(name, None, "its arguments cannot be mapped exactly")
        holes = []
        parts = []
        for arg in call.args:
            holes.append(self.pos.span(arg))
            parts.append("{%d}" % (len(holes) - 1))
        for kw in call.keywords or ():
            holes.append(self.pos.span(kw.value))
            parts.append(f"{kw.arg}=" + "{%d}" % (len(holes) - 1))
        if variant.endswith("DistillerLSTM"):
            # DistillerLSTM requires num_layers and defaults dropout to 0.5 (nn.LSTM: 1 and 0.0)
            if len(call.args) < 3 and "num_layers" not in bound_kw:
                parts.append("num_layers=1")
            if len(call.args) < 6 and "dropout" not in bound_kw:
                parts.append("dropout=0.0")
        fix = Fix(
            title=f"Use {name}",
            applicability=Applicability.UNSAFE,
            span=self.pos.span(call),
            template=f"{name}(" + ", ".join(parts) + ")",
            holes=tuple(holes),
            imports=imports,
        )
        return Plan(name, fix, "its state_dict keys differ: convert the checkpoint")

    # ------------------------------------------------------------- members
    def _blocked(self, class_lines: tuple[int, ...]) -> str | None:
        """Why no member may be added to the classes at `class_lines`, or None."""
        if not all(self._extendable(line) for line in class_lines):
            return _EARLY_RETURN
        for info in self.index.classes.values():
            if info.node.lineno in class_lines and info.is_module:
                reason = self.views.hidden_reason(info)
                if reason:
                    return f"{reason} (manual)"
        return None

    def _per_iteration(self, member: Member, slot: Slot, imports: tuple[str, ...]):
        """One module per loop iteration: `nn.ModuleList([<ctor> for _ in range(<trip>)])`."""
        holder, more = self.render("torch.nn.ModuleList")
        name = member.name + "s"
        ctor = f"{holder}([{member.constructor} for _ in range({slot.trip})])"
        title = f"One module per iteration: self.<{name}> = {ctor}, called as self.<{name}>[{slot.position}]"
        return Member(name, ctor), tuple(dict.fromkeys(imports + more)), title

    @staticmethod
    def _guarded(member: Member, home: ClassInfo, reads, attrs: tuple[str, ...] = ()) -> Member:
        """The member, created only when the attributes it reads exist at the end of `__init__`."""
        needed = guards(home, [*attrs, *self_attrs(*reads)])
        return Member(member.name, member.constructor, needed) if needed else member

    def _extendable(self, class_line: int) -> bool:
        if class_line not in self._extendable_cache:
            self._extendable_cache[class_line] = all(
                can_extend_init(c) for c in self.index.classes if c.lineno == class_line)
        return self._extendable_cache[class_line]

    def _class_of(self, node: nodes.NodeNG) -> ClassInfo | None:
        frame = node.frame()
        parent = frame.parent if isinstance(frame, nodes.FunctionDef) else None
        return self.index.classes.get(parent) if isinstance(parent, nodes.ClassDef) else None


def init_of(cls: nodes.ClassDef) -> nodes.FunctionDef | None:
    """The class's own `__init__`, if it defines one."""
    for stmt in cls.body:
        if isinstance(stmt, nodes.FunctionDef) and stmt.name == "__init__":
            return stmt
    return None


def can_extend_init(cls: nodes.ClassDef) -> bool:
    """Members appended at the end of `__init__` must run: no early `return` in it.

    A class without `__init__` gets one (it needs a body line to put it before).
    """
    init = init_of(cls)
    if init is None:
        return bool(cls.body) and cls.body[0].lineno > cls.lineno or cls.doc_node is not None
    return not any(ret.frame() is init for ret in nodes_in(init, nodes.Return))


def _unconditional(ctor: nodes.Call, owner: ClassInfo) -> bool:
    """The constructor is a plain statement of `__init__`'s body: repeating it there builds a copy.

    Under an `if`, in a loop or a `try`, its repetition would build a module the
    original may not have: `copy.deepcopy` of the original follows it instead.
    """
    init = owner.init()
    stmt = ctor.statement()
    return init is not None and stmt.parent is init


def _self_reachable(node: nodes.NodeNG) -> bool:
    """Is the node in an instance method (or code nested in one) whose first parameter is `self`?"""
    scope = node.scope()
    while not (isinstance(scope, nodes.FunctionDef) and isinstance(scope.parent, nodes.ClassDef)):
        if scope.parent is None:
            return False
        scope = scope.parent.scope()
    decorators = {d.as_string() for d in scope.decorators.nodes} if scope.decorators else set()
    if decorators & {"staticmethod", "classmethod"}:
        return False
    params = list(scope.args.posonlyargs or []) + list(scope.args.args or [])
    return bool(params) and params[0].name == "self"


def _fresh_target(aug: nodes.AugAssign) -> bool:
    """`out += y` may become `out = f(out, y)` only if no other name can see `out`'s tensor.

    True when `out` was last (re)bound, before the update, to the result of a
    call or an operation (a tensor nobody else holds: not a parameter, not
    another name), and was not handed on as a plain value since then (assigned
    to another name, put in a container, returned or yielded).
    """
    return fresh_name(aug.frame(), aug.target.name, aug)


def fresh_name(func, name: str, at: nodes.NodeNG) -> bool:
    """Is the tensor `name` holds at statement `at` held by no other name (see `_fresh_target`)?"""
    if not isinstance(func, nodes.FunctionDef):
        return False
    aug = at
    before = [a for a in nodes_in(func, nodes.AssignName)
              if a.name == name and (a.lineno, a.col_offset) < (aug.lineno, aug.col_offset)]
    if not before:
        return False  # still the parameter (or something bound elsewhere)
    last = max(before, key=lambda a: (a.lineno, a.col_offset))
    if not (isinstance(last.parent, nodes.Assign) and isinstance(last.parent.value, (nodes.Call, nodes.BinOp))):
        return False
    for use in nodes_in(func, nodes.Name):
        if use.name != name or not last.lineno <= use.lineno <= aug.lineno or use.parent is last.parent:
            continue
        parent = use.parent
        if isinstance(parent, (nodes.Assign, nodes.AnnAssign, nodes.Return, nodes.Yield, nodes.List, nodes.Tuple,
                               nodes.Set, nodes.Dict, nodes.Starred, nodes.NamedExpr, nodes.Keyword)):
            return False
        if isinstance(parent, nodes.Call) and isinstance(parent.func, nodes.Attribute) and \
                parent.func.attrname in ("append", "extend", "insert", "add", "update", "setdefault"):
            return False
    return True


def _param_names(func) -> set[str]:
    if not isinstance(func, nodes.FunctionDef) or func.args.args is None:
        return set()
    args = func.args
    names = {a.name for a in list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs)}
    if args.vararg:
        names.add(args.vararg)
    if args.kwarg:
        names.add(args.kwarg)
    return names
