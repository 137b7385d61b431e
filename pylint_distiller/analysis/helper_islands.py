"""Call-site float islands: a helper that holds no module runs in float between stubs at each call.

A method or same-file function called from several places (transformers Swin's
`self.cyclic_shift(x)` and `self.cyclic_shift(y, reverse=True)` around `torch.roll`, timm
coat's `insert_cls(x, self.cls_token1)` four times, mvitv2's `cal_rel_pos_type(attn, q, ...,
self.rel_pos_h, self.rel_pos_w)` from two classes) runs its ops several times per pass: stubs
inside it would be shared by every call (one QuantStub observing every run), so its ops get
no fix. Where its ops cannot run on quantized tensors (an op eager has no kernel for, a float
parameter a caller passes meeting an activation), each CALL gets its own island instead:

    self.cyclic_shift(x)  ->  self.cyclic_shift_quant(self.cyclic_shift(self.cyclic_shift_dequant(x)))

Why this is safe: the stubs are identity modules without parameters or buffers until
`prepare`, so state_dict keys and float outputs stay; each call site runs once per pass and
has its own stubs, so each QuantStub observes one tensor. After convert the helper's whole
body runs on float tensors, which is what it computed before quantization. It needs:

* a helper that calls no module, no function it was passed and no helper that does (a
  module inside would receive float input after convert), sets no attribute, is not a
  generator, and returns one value that is not a literal tuple/list/dict (one tensor out);
* a parameter it writes into (`attn[...] = ...`) only where it returns that parameter and
  the call stores the result back into the name it passed (the caller sees the written
  tensor either way);
* calls that the forward walk runs (`helper_calls.py`), each once per pass, in a method of
  a module class reachable through `self`; arguments seen as tensors (and not float
  parameters) are dequantized, the others (`reverse=True`, sizes, `self.cls_token1`) pass.
  Every call must take its island: else none does, and the helper's ops keep their own
  findings (a call left out would still run them on quantized tensors).

The helper's own ops are then not reported. Where every op of a module-level helper could
run quantized in a module (`torch.sigmoid(a) * b`) and the helper can be lifted into a module
class (`lifting.py`), the lift wins; else the islands do (`lifting.py` asks `covers`). A call
already between stubs is prepared, so a second `fix` adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.arguments import bind_to
from pylint_distiller.analysis.helper_calls import HelperCall
from pylint_distiller.analysis.init_calls import runs_in_init_note
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.island_template import IslandTemplate
from pylint_distiller.analysis.operands import (
    QUANT_STUB,
    dequantized,
    float_on_some_path,
    float_parameter,
    is_stub_call,
)
from pylint_distiller.analysis.plans import _EARLY_RETURN, Plan, _self_reachable
from pylint_distiller.analysis.syntax import is_self_attr, parameter_annotation, parameter_default

_MAX_NESTING = 3


@dataclass
class FloatHelper:
    """A helper whose calls get call-site islands: its island ops and its walked calls."""

    func: nodes.FunctionDef
    sites: list  # op sites of its body that cannot run as written on quantized tensors
    calls: list[HelperCall]
    why: str  # what makes it float, for the message
    plans: list = field(default_factory=list)  # (call, owner, plan) of each call not prepared yet

    @property
    def rule(self) -> str:
        return self.sites[0].spec.rule if self.sites else "tensor-operator"


class HelperIslands:
    """Which helpers run in float at their call sites (torch-eager), and the island fix of each call."""

    def __init__(self, islands) -> None:
        self.i = islands
        self.p = islands.p
        self.walk = islands.p.walk
        self._helpers: dict[nodes.FunctionDef, FloatHelper] | None = None

    # ------------------------------------------------------------ which helpers
    def helpers(self, sites) -> dict[nodes.FunctionDef, FloatHelper]:
        if self._helpers is None:
            self._helpers = self._find(sites)
        return self._helpers

    def covers(self, site) -> bool:
        """The op runs in a helper that is run in float at each call: reported at the calls."""
        return self._helpers is not None and site.node.frame() in self._helpers

    def _find(self, sites) -> dict[nodes.FunctionDef, FloatHelper]:
        records = getattr(self.walk, "helper_calls", None)
        if records is None:
            return {}
        by_func: dict[nodes.FunctionDef, list] = {}
        for site in sites:
            func = site.node.frame()
            if isinstance(func, nodes.FunctionDef) and not site.elsewhere and func.name != "forward":
                by_func.setdefault(func, []).append(site)
        out = {}
        for func, own in by_func.items():
            calls = records.calls_of(func)
            if not calls:
                continue  # not reached by a call here (a function handed on as a value)
            failing = [s for s in own if self._needs_float(s)]
            if not any(self.i.reason(s) for s in own) and any(self.p.lifter.lifts(s) for s in own):
                continue  # ops a module can take, and a lift gives them one: lifted into a module class
            passes_float = self._passes_float(calls, func)
            repeated = any(s.multi for s in failing) or (passes_float and len(calls) > 1)
            if not (failing or passes_float) or not repeated or not self._pure(func, 0):
                continue  # (run once: its ops get their own islands or modules inside it)
            why = ("its ops cannot run on quantized tensors" if failing else
                   "a caller passes it a float parameter, which meets an activation in its ops")
            helper = FloatHelper(func, sorted(failing or own, key=lambda s: (s.node.lineno, s.node.col_offset)),
                                 calls, why)
            helper.plans = list(self._plans(helper))
            if all(plan.fix is not None for _, _, plan in helper.plans):
                out[func] = helper  # (else its ops keep their own findings: no call is left quantized)
        return out

    def _needs_float(self, site) -> bool:
        return bool(self.i.reason(site) or self.i.helper_reason(site))

    def _passes_float(self, calls: list[HelperCall], func: nodes.FunctionDef) -> bool:
        for record in calls:
            owner = record.owner
            bound = bind_to(record.node, func)
            if owner is None or bound is None:
                continue
            values = list(bound.values())
            if any(float_parameter(v, owner) for v in values) and any(
                    K.TENSOR in record.kinds.get(name, ()) and not float_parameter(v, owner)
                    for name, v in bound.items()):
                return True
        return False

    def _pure(self, func: nodes.FunctionDef, depth: int) -> bool:
        """Tensor code only: no module call, no call of a passed-in callable, no state written."""
        if depth > _MAX_NESTING or func.is_generator() or nodes_in(func, (nodes.Global, nodes.Nonlocal)):
            return False
        params = set(func.argnames())
        for call in nodes_in(func, nodes.Call):
            if call in self.walk.calls:
                return False  # a submodule call: it would get float input after convert
            callee = call.func
            if isinstance(callee, nodes.Name) and callee.name in params:
                return False
            record = self.walk.helper_calls.records.get(call)
            if record is not None:
                if not self._pure(record.func, depth + 1):
                    return False
            elif is_self_attr(callee):
                owner_attr = self._self_fact(func, callee.attrname)
                if owner_attr is not None and owner_attr.kind in (attrs.MODULE, attrs.CONTAINER, attrs.FUNCTION):
                    return False
        for node in nodes_in(func, nodes.AssignAttr):
            if isinstance(node.expr, nodes.Name) and node.expr.name == "self":
                return False
        returns = [r for r in nodes_in(func, nodes.Return) if r.frame() is func]
        if not returns or any(r.value is None or isinstance(r.value, (nodes.Tuple, nodes.List, nodes.Dict, nodes.Set))
                              or isinstance(r.value, nodes.Const) for r in returns):
            return False
        return True

    def _self_fact(self, func: nodes.FunctionDef, name: str):
        klass = func.parent if isinstance(func.parent, nodes.ClassDef) else None
        info = self.p.index.classes.get(klass) if klass is not None else None
        return info.attrs.get(name) if info is not None else None

    # ------------------------------------------------------------ each call
    def _plans(self, helper: FloatHelper):
        """(call node, owner, plan) per walked call; a call already between stubs is left out."""
        written = _written_params(helper.func)
        for record in helper.calls:
            call, owner = record.node, record.owner
            if owner is not None and self._prepared(call, owner):
                continue
            yield call, owner, self._plan(helper, record, written)

    def _prepared(self, call: nodes.Call, owner) -> bool:
        imports = self.p.imports
        return is_stub_call(call.parent, owner, QUANT_STUB, imports) and any(
            dequantized(a, owner, imports) for a in list(call.args) + [k.value for k in call.keywords or ()])

    def _plan(self, helper: FloatHelper, record: HelperCall, written: set[str]) -> Plan:
        call, owner, func = record.node, record.owner, helper.func
        name = func.name
        refuse = f"{helper.why}, and it is called at several places"
        if owner is None or record.foreign:
            return Plan("", None, f"{refuse}; this call is not in a method of a module class (manual)")
        if record.others:
            return Plan("", None, f"{refuse}; this call also runs an override of {name}() (manual)")
        if record.results != {K.TENSOR}:
            return Plan("", None, f"{refuse}; it is not seen to return one tensor at this call (manual)")
        if record.multi or self.walk.multiplicity.get(self.walk.forward_owner(owner), 1) > 1:
            return Plan("", None, f"{refuse}; this call runs several times per pass: one QuantStub would observe "
                                  "every run (manual)")
        bound = bind_to(call, func)
        if bound is None:
            return Plan("", None, f"{refuse}; this call's arguments cannot be mapped (starred or unknown) (manual)")
        if not _self_reachable(call):
            return Plan("", None, f"{refuse}; this call is in a static method or a method whose first parameter "
                                  "is not `self` (manual)")
        if not self.p._extendable(owner.node.lineno):  # pylint: disable=protected-access
            return Plan("", None, _EARLY_RETURN)
        in_init = runs_in_init_note(call, self.p._init_reached)  # pylint: disable=protected-access
        if in_init:
            return Plan("", None, in_init)
        if written and not _stored_back(call, bound, written, func):
            return Plan("", None, f"{refuse}; it writes into its argument {sorted(written)[0]!r}, which this call "
                                  "does not store back from its result (manual)")
        acts = set()
        for param, arg in bound.items():
            kinds = record.kinds.get(param, set())
            if K.TENSORS in kinds or K.MODULE in kinds:
                return Plan("", None, f"{refuse}; argument {param!r} may be a sequence of tensors or a module, "
                                      "which an island cannot dequantize (manual)")
            if K.TENSOR not in kinds or float_parameter(arg, owner):
                continue
            if _may_be_none(func, param, arg):
                # (`maybe_add_mask(attn, attn_bias)`: a DeQuantStub fails on None after convert)
                if float_on_some_path(arg, owner):
                    continue  # a float mask or None: it meets the dequantized activation as it is
                return Plan("", None, f"{refuse}; argument {param!r} may be None, which a DeQuantStub cannot take "
                                      "(manual)")
            acts.add(id(arg))
        if not acts:
            return Plan("", None, f"{refuse}; no argument of this call is seen to be an activation (manual)")
        builder = IslandTemplate(self.p.pos, "self", acts)
        body = builder.call(call, False)
        if body is None or self.p.pos.has_comment(self.p.pos.span(call), builder.holes):
            return Plan("", None, f"{refuse}; the call holds comments or sequences the rewrite would drop (manual)")
        fix = self.i._fix(call, name.strip("_") or name, builder, builder.quantized(body),  # pylint: disable=W0212
                          (owner.node.lineno,))
        return Plan("a float island around this call", fix,
                    f"{name}() holds no module, so each of its calls runs it in float between its own stubs")


def _written_params(func: nodes.FunctionDef) -> set[str]:
    """Parameters the helper writes into: `attn[...] = v`, `x += v` on a subscript, `x.add_(v)`."""
    params = set(func.argnames())
    out = set()
    for node in nodes_in(func, (nodes.Subscript, nodes.Call)):
        if isinstance(node, nodes.Subscript) and isinstance(node.parent, (nodes.Assign, nodes.AugAssign)) \
                and node in getattr(node.parent, "targets", [node.parent.target] if isinstance(
                    node.parent, nodes.AugAssign) else []):
            base = node.value
        elif isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) \
                and node.func.attrname.endswith("_") and not node.func.attrname.startswith("_"):
            base = node.func.expr
        else:
            continue
        while isinstance(base, nodes.Subscript):
            base = base.value
        if isinstance(base, nodes.Name) and base.name in params:
            out.add(base.name)
    return out


def _stored_back(call: nodes.Call, bound: dict, written: set[str], func: nodes.FunctionDef) -> bool:
    """`attn = helper(attn, ...)` where the helper returns `attn` on every path: the caller keeps the written tensor."""
    assign = call.parent
    if not isinstance(assign, nodes.Assign) or assign.value is not call or len(assign.targets) != 1 \
            or not isinstance(assign.targets[0], nodes.AssignName) or len(written) != 1:
        return False
    param = next(iter(written))
    arg = bound.get(param)
    returns = [r for r in nodes_in(func, nodes.Return) if r.frame() is func]
    return isinstance(arg, nodes.Name) and arg.name == assign.targets[0].name and all(
        isinstance(r.value, nodes.Name) and r.value.name == param for r in returns)


def _may_be_none(func: nodes.FunctionDef, param: str, arg: nodes.NodeNG) -> bool:
    """The helper takes None there (a None default, an Optional annotation, an `is None` test), or the
    argument is None on some path (a None literal, a name bound to None or to a call's result that
    the calling function also tests against None, a parameter of the caller defaulting to None)."""
    if isinstance(arg, nodes.Const) and arg.value is None:
        return True
    default = parameter_default(func, param)
    if isinstance(default, nodes.Const) and default.value is None:
        return True
    annotation = parameter_annotation(func, param)
    if annotation is not None and ("Optional" in annotation.as_string() or "None" in annotation.as_string()):
        return True
    if _tested_against_none(func, param):
        return True
    if isinstance(arg, nodes.Name):
        caller = arg.frame()
        if isinstance(caller, nodes.FunctionDef):
            default = parameter_default(caller, arg.name)
            if isinstance(default, nodes.Const) and default.value is None:
                return True
            for binding in caller.locals.get(arg.name, ()):
                assign = binding.parent
                if isinstance(assign, nodes.Assign) and isinstance(assign.value, nodes.Const) \
                        and assign.value.value is None:
                    return True
            return _tested_against_none(caller, arg.name)
    return False


def _tested_against_none(func: nodes.FunctionDef, name: str) -> bool:
    for compare in nodes_in(func, nodes.Compare):
        operands = [compare.left] + [right for _, right in compare.ops]
        if any(isinstance(n, nodes.Name) and n.name == name for n in operands) and any(
                isinstance(n, nodes.Const) and n.value is None for n in operands):
            return True
    return False
