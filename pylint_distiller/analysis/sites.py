"""Event records of a forward walk (op sites, module calls, inline modules) and their counting.

`Events` is the base of the expression evaluator (`values.Evaluator`): each
visit of an op expression or a submodule call updates one record, keyed by
node, with how often it ran in this forward walk and whether it ran more than
once per pass. The pylint report and the fix planner read these records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from astroid import nodes

from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.frames import Frame
from pylint_distiller.analysis.paths import Paths, empty, plus
from pylint_distiller.catalogue import OpSpec

if TYPE_CHECKING:
    from pylint_distiller.analysis.forward import ForwardAnalysis


@dataclass
class OpSite:
    """One op expression and everything the fix builder needs about it."""

    node: nodes.NodeNG
    spec: OpSpec
    kinds: tuple[str, ...]  # kinds of the operands / bound arguments in spec order
    bound: dict[str, nodes.NodeNG] | None  # argument binding (None: could not bind)
    owner: ClassInfo | None  # module class whose method holds the node
    visits: int = 0
    multi: bool = False  # executed more than once per forward pass
    loud: bool = False  # visited outside torch.no_grad()
    via_attribute: str | None = None  # functional reached through `self.act = F.gelu`
    walk: int = -1  # the forward walk that saw it last (visits in other forwards are other instances)
    walk_visits: int = 0
    # in a module-level helper: the parameter that holds the calling module on every path that
    # reaches the op ("" when some path passes none), and the classes that pass themselves
    module_param: str | None = None
    callers: set = field(default_factory=set)
    #: module classes whose forward walk reached the op (the owner, or the callers of a helper)
    reached_by: set = field(default_factory=set)
    #: names of module classes of other files whose forward runs it (set when reported there)
    elsewhere: tuple[str, ...] = ()
    #: calls, in module classes' methods, of the module-level helpers that run it (`lifting.py`)
    lift_roots: set = field(default_factory=set)


@dataclass
class ModuleCall:
    node: nodes.Call
    attr: str  # canonical attribute name (the container's, for a call of one of its elements)
    owner: ClassInfo
    visits: int = 0
    multi: bool = False
    element: bool = False  # calls one element of a module container (`for blk in self.blocks: blk(x)`)
    targets: tuple[ClassInfo, ...] = ()  # same-file module classes whose forward the call runs
    walk: int = -1
    walk_visits: int = 0


@dataclass
class InlineModule:
    node: nodes.Call
    qname: str
    owner: ClassInfo | None
    multi: bool = False


class Events:
    """Counts the op sites and module calls one statement's expressions run."""

    def __init__(self, analysis: ForwardAnalysis, frame: Frame) -> None:
        self.a = analysis
        self.frame = frame
        self.counts: Counter = empty()
        self.kind_cache: dict[nodes.NodeNG, str] = {}
        self.elt_kinds: dict[nodes.NodeNG, list[str]] = {}

    def paths(self) -> Paths:
        return Paths(self.counts, empty())

    def then(self, rest: Paths) -> Paths:
        fall = None if rest.fall is None else plus(self.counts, rest.fall)
        return Paths(fall, plus(self.counts, rest.done) if rest.done else empty())

    # ------------------------------------------------------------- recording
    def _record_op(self, node, spec: OpSpec, kinds, bound, via_attribute=None) -> None:
        site = self.a.ops.get(node)
        if site is None:
            site = self.a.ops[node] = OpSite(node, spec, tuple(kinds), bound, self.frame.owner,
                                             via_attribute=via_attribute)
        site.visits += 1
        if site.walk != self.a.walk_id:
            site.walk, site.walk_visits = self.a.walk_id, 0
        site.walk_visits += 1
        # a helper shared by several module classes runs once per instance: only
        # repeats within one forward walk make the op run repeatedly per pass,
        # except in a same-file function outside classes (one code, every caller)
        frame = self.frame
        if frame.owner is None:
            if frame.module_param and site.module_param in (None, frame.module_param):
                site.module_param = frame.module_param
                site.callers.add(frame.caller)
            else:
                site.module_param = ""
        self.a.lifts.record_op(frame, site)
        # a helper that receives its module runs once per calling instance, like a method
        repeated = site.walk_visits > 1 or (site.visits > 1 and frame.owner is None and not site.module_param)
        site.multi = site.multi or self.frame.multi or repeated
        site.loud = site.loud or not self.frame.silent
        if self.a._current_owner is not None:
            site.reached_by.add(self.a._current_owner)
        self.a._current_ops.add(node)

    def _record_module_call(self, node: nodes.Call, attr: str, targets: tuple = (), element: bool = False,
                            counted: bool = True) -> None:
        if self.frame.foreign:
            return  # counted where that submodule's own forward is walked
        owner = self.frame.owner
        record = self.a.calls.get(node)
        if record is None:
            record = self.a.calls[node] = ModuleCall(node, attr, owner, element=element, targets=targets)
        record.visits += 1
        if record.walk != self.a.walk_id:
            record.walk, record.walk_visits = self.a.walk_id, 0
        record.walk_visits += 1
        if counted:
            record.multi = record.multi or self.frame.multi or record.walk_visits > 1
            self.counts[attr] += 2 if self.frame.multi else 1
        self.a._current_calls.append(node)
        self.a._record_site_kinds(targets, node, self)


def bind_arguments(call: nodes.Call, params: tuple[str, ...], receiver=None) -> dict[str, nodes.NodeNG] | None:
    """Map a call's arguments to an op's parameter names; None when it cannot.

    Starred arguments, `**kwargs` and keywords the catalogue does not know make
    the binding impossible: a fix must never guess where an argument goes.
    """
    bound: dict[str, nodes.NodeNG] = {}
    names = list(params)
    if receiver is not None:
        bound[names[0]] = receiver
        names = names[1:]
    for i, arg in enumerate(call.args):
        if isinstance(arg, nodes.Starred) or i >= len(names):
            return None
        bound[names[i]] = arg
    for kw in call.keywords or ():
        if kw.arg is None or kw.arg in bound:
            return None
        if kw.arg not in params and not (kw.arg == "input" and params and params[0] in ("input", "tensors", "tensor")):
            bound[kw.arg] = kw.value  # unknown keyword: kept so the fix builder can refuse it
            continue
        bound[kw.arg if kw.arg in params else params[0]] = kw.value
    return bound
