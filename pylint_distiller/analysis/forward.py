"""Walk forward code: tensor facts, op sites and module calls per path.

Forward code is `forward` of every module class plus the methods and same-file
functions it calls (walked at each call, with the argument kinds of that call)
or hands on as values (`attention_interface = eager_attention_forward`,
`apply_chunking_to_forward(self.ff_chunk, ...)`: walked once where referenced).
The walk is an abstract interpretation in statement order, in four parts:
`flow.py` walks statements and paths, `values.py` and `calls.py` give each
expression its kind, `sites.py` records op sites and module calls, and
`multiplicity.py` and `params.py` carry facts between forwards:

* an environment maps local names to kinds (`kinds.py`), so `x.size(0) * 2` is
  shape arithmetic while `x * 2` is a tensor op, and `torch.arange(n) + 1` is
  index arithmetic, not an activation op;
* every op site found is recorded with the context it ran in (inside a loop, a
  comprehension, a helper called twice: executed more than once per pass);
* calls of submodules are counted per execution path: `walk_block` returns the
  counts of paths that fall through and of paths that ended (return/raise), and
  branches join by maximum, so calls in exclusive branches are one call.

The file is walked twice. The first walk records, for each same-file module
class, the kinds of the arguments its callers pass (`self.rel_bias(window_size)`
passes a tuple); the second walk starts each forward with those kinds instead of
the default "positional inputs are tensors". A class whose second walk would
repeat its first (same start, same callee returns, records nobody else wrote)
keeps its first walk's records instead (`walk_reuse.py`). After the walk, a class whose
instance runs more than once per pass (called twice, or an element of a
container indexed many-to-one, ALBERT-style) passes that multiplicity on to every
module call of its own forward: those submodules run more than once as well.
"""

from __future__ import annotations

from collections import Counter

from astroid import nodes

from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.analysis.flow import FlowWalk
from pylint_distiller.analysis.frames import Frame, Scope
from pylint_distiller.analysis.helper_calls import HelperCalls
from pylint_distiller.analysis.lift_records import LiftRecords
from pylint_distiller.analysis.multiplicity import Multiplicity
from pylint_distiller.analysis.params import ParamKinds, SiteKinds
from pylint_distiller.analysis.paths import cmax, empty
from pylint_distiller.analysis.sites import InlineModule, ModuleCall, OpSite
from pylint_distiller.analysis.walk_reuse import TouchedKeys, WalkJournal

__all__ = ["ForwardAnalysis", "InlineModule", "ModuleCall", "OpSite"]

_SKIP_DECORATORS = frozenset(("torch.no_grad", "torch.inference_mode", "torch.jit.ignore", "torch.jit.unused"))
_VISIT_BUDGET = 200_000


class ForwardAnalysis(FlowWalk, ParamKinds, Multiplicity):
    """Walks every forward of one file; results are keyed by node."""

    def __init__(self, index: ModuleIndex, module_node: nodes.Module, project=None,
                 seed_runs: dict[nodes.ClassDef, int] | None = None) -> None:
        self.index = index
        self.imports = index.imports
        self.module_node = module_node
        #: the `ProjectIndex` that resolves imported helpers (None: this file alone)
        self.project = project
        self.scope = Scope(module_node, index.imports, module_functions(module_node))
        #: runs per pass of this file's classes as other files of the project call them
        self.seed_runs = seed_runs or {}
        self._site_kinds: dict[ClassInfo, list[SiteKinds]] = {}
        self._edges: dict[ClassInfo, set[ClassInfo]] = {}
        self._collect_sites = True
        self._current_owner: ClassInfo | None = None
        #: what each module class's forward returns: (kind, tuple element kinds)
        self._class_returns: dict[ClassInfo, tuple[str | None, list[str] | None]] = {}
        self._forward_cache: dict[ClassInfo, nodes.FunctionDef | None] = {}
        self._owner_cache: dict[ClassInfo, ClassInfo | None] = {}
        self._declared_kinds: dict[nodes.NodeNG, str | None] = {}  # annotation -> kind (`params.py`)
        #: nodes of `inline` and lift records the current class walk wrote (`walk_reuse.py`)
        self.touched: set = set()
        #: same-file class returns the current first walk looked up (None: not noted)
        self.looked_up: list | None = None
        self.walk_id = 0
        #: helper calls the walks ran (`helper_calls.py`): kept across the two walks, as a class whose
        #: second walk is reused (`walk_reuse.py`) runs its helpers only in the first
        self.helper_calls = HelperCalls()
        self._reset()

    def _reset(self) -> None:
        self.ops: dict[nodes.NodeNG, OpSite] = {}
        self.calls: dict[nodes.Call, ModuleCall] = {}
        self.inline: dict[nodes.Call, InlineModule] = TouchedKeys(self.touched)
        self.forward_assigned: dict[ClassInfo, set[str]] = {}
        self.per_forward: list[tuple[ClassInfo, nodes.FunctionDef, Counter, list[nodes.Call]]] = []
        self.multiplicity: dict[ClassInfo, int] = {}
        self._budget = _VISIT_BUDGET
        self._stack: list[nodes.FunctionDef] = []
        self._current_calls: list[nodes.Call] = []
        self._current_ops: set[nodes.NodeNG] = set()
        self._forward_ops: dict[ClassInfo, set[nodes.NodeNG]] = {}
        self._referenced: set[nodes.FunctionDef] = set()
        # walk ids keep counting across walks: a reused record's id never matches a later walk's
        self.lifts = LiftRecords(callee=TouchedKeys(self.touched))

    # ------------------------------------------------------------------ entry
    def run(self) -> None:
        classes = self.index.module_classes()
        journal = WalkJournal()
        self._walk_forwards(classes, first=journal)
        if self._site_kinds:
            order = self._callers_first(classes)
            journal.finish_first(self)
            first_returns = dict(self._class_returns)
            self._collect_sites = False
            self._site_kinds = {}
            self._reset()
            self._walk_forwards(order, second=journal)
            if not journal.held():  # a class walked again wrote where a reused one did: walk in full
                self._class_returns = first_returns
                self._site_kinds = {}
                self._reset()
                self._walk_forwards(order)
        self._propagate_multiplicity()
        self.helper_calls.count_runs(self.per_forward)

    def _callers_first(self, classes: list[ClassInfo]) -> list[ClassInfo]:
        """Classes ordered so that each comes after the classes whose forward calls it."""
        callees = self._edges
        indegree = {info: 0 for info in classes}
        rank = {info: i for i, info in enumerate(classes)}
        for caller, targets in callees.items():
            for target in targets:
                if target in indegree and target is not caller:
                    indegree[target] += 1
        ready = [info for info in classes if indegree[info] == 0]
        order: list[ClassInfo] = []
        seen: set[ClassInfo] = set()
        while ready:
            info = ready.pop(0)
            if info in seen:
                continue
            seen.add(info)
            order.append(info)
            # file order, not the set's (ids): the order decides which class first reaches a shared op
            for target in sorted((t for t in callees.get(info, ()) if t in indegree), key=rank.get):
                if target is not info and target not in seen:
                    indegree[target] -= 1
                    if indegree[target] == 0:
                        ready.append(target)
        order += [info for info in classes if info not in seen]  # cycles: file order
        return order

    def _own_forward(self, info: ClassInfo) -> nodes.FunctionDef | None:
        forward = info.node.locals.get("forward")
        if forward and isinstance(forward[-1], nodes.FunctionDef) and forward[-1].parent is info.node:
            return forward[-1]  # the last definition wins (`@overload` stubs come first)
        return None

    def forward_of(self, info: ClassInfo) -> nodes.FunctionDef | None:
        """The forward walked as `info`'s own: its own, or an inherited one it overrides helpers of.

        `class Distilled(Base)` that only redefines `forward_head` changes what
        `Base.forward` runs, so that forward is walked again with `Distilled` as
        `self`.
        """
        if info in self._forward_cache:
            return self._forward_cache[info]
        result = self._find_forward(info)
        self._forward_cache[info] = result
        return result

    def _find_forward(self, info: ClassInfo) -> nodes.FunctionDef | None:
        own = self._own_forward(info)
        if own is not None:
            return own
        for base in info.mro()[1:]:
            inherited = self._own_forward(base)
            if inherited is None:
                continue
            overrides = [name for name, defs in info.node.locals.items()
                         if name not in ("__init__", "forward") and any(
                             isinstance(d, nodes.FunctionDef) and d.parent is info.node for d in defs)
                         and name in base.methods]
            # walked again as this class's own when it changes what that forward runs: it
            # overrides a method the forward may call, or builds members in its own __init__
            # (a base block whose forward calls self.relu three times, created by subclasses)
            return inherited if overrides or self._builds_members(info) else None
        return None

    @staticmethod
    def _builds_members(info: ClassInfo) -> bool:
        init = info.init()
        return init is not None and any(fact.in_own_init for fact in info.attrs.values())

    def _walk_forwards(self, classes: list[ClassInfo], first: WalkJournal | None = None,
                       second: WalkJournal | None = None) -> None:
        """Walk each class's forward; `first` notes each walk, `second` reuses the noted ones it can."""
        for info in classes:
            func = self.forward_of(info)
            if func is None or self._skipped(func):
                continue
            self.walk_id += 1
            env = self._param_env(func, self._caller_kinds(info, func), is_forward=True)
            reused = second.reusable(self, info, env) if second is not None else None
            if reused is not None:
                second.replay(self, reused)
                continue
            if first is not None:
                first.begin(self, env)
            else:
                self.touched.clear()
            self._walk_forward(info, func, env)
            if first is not None:
                first.end(self, info)
            elif second is not None:
                second.walked(self)

    def _walk_forward(self, info: ClassInfo, func: nodes.FunctionDef, env: dict[str, str]) -> None:
        self._current_owner = info
        self._current_calls = []
        self._current_ops = set()
        self._referenced = set()
        frame = Frame(info, func, env, multi=False, silent=False, depth=0, scope=self.scope_of(func))
        self._stack = [func]
        self.helper_calls.walked.add(func)
        paths = self.walk_block(func.body, frame)
        totals = cmax(paths.fall, paths.done) or empty()
        self.per_forward.append((info, func, totals, self._current_calls))
        self._class_returns[info] = (frame.returns, None if frame.returns_mixed else frame.returns_elts)
        self._forward_ops[info] = self._current_ops

    def _skipped(self, func: nodes.FunctionDef) -> bool:
        if not func.decorators:
            return False
        for dec in func.decorators.nodes:
            target = dec.func if isinstance(dec, nodes.Call) else dec
            if self.scope_of(func).imports.qualify(target) in _SKIP_DECORATORS:
                return True
        return False

    # ------------------------------------------------------- module multiplicity
    def forward_owner(self, info: ClassInfo) -> ClassInfo | None:
        return self._forward_owner(info)

    def _forward_owner(self, info: ClassInfo) -> ClassInfo | None:
        """The class whose forward walk stands for instances of `info` (itself or a same-file base)."""
        if info not in self._owner_cache:  # asked at every module call of both walks
            self._owner_cache[info] = next((k for k in info.mro() if self.forward_of(k) is not None), None)
        return self._owner_cache[info]

    def module_result(self, targets: tuple[ClassInfo, ...]) -> tuple[str, list[str] | None]:
        """Kind (and tuple element kinds) a call of a same-file module class returns."""
        if len(targets) != 1:
            return K.TENSOR, None
        owner = self._forward_owner(targets[0])
        if owner is None:
            return K.TENSOR, None
        result = self.class_result(owner)
        if self.looked_up is not None:
            self.looked_up.append((owner, result))
        return result

    def class_result(self, owner: ClassInfo) -> tuple[str, list[str] | None]:
        """What a call of `owner`'s forward returns, as far as the walks so far know."""
        kind, elts = self._class_returns.get(owner, (None, None))
        if kind == K.TENSORS and elts is not None:
            return K.TENSORS, elts
        if kind == K.INDEX:
            return K.INDEX, None
        return K.TENSOR, None

    def scope_of(self, node: nodes.NodeNG) -> Scope:
        """The scope of the file that holds `node` (this file, or one the project resolved)."""
        root = node.root()
        if root is self.module_node or self.project is None:
            return self.scope
        return self.project.scope(root) or self.scope

    def helper_function(self, name: str, frame: Frame) -> nodes.FunctionDef | None:
        """The module-level function `name` means where `frame` runs: same file, else imported from the project."""
        scope = frame.scope or self.scope
        found = scope.functions.get(name)
        if found is None and self.project is not None and name in scope.imports.aliases:
            found = self.project.function(scope, name)
        return found


    def project_function(self, func: nodes.NodeNG, frame: Frame) -> nodes.FunctionDef | None:
        """The project function an imported callee means (`decode(...)`, `box_utils.decode(...)`)."""
        if self.project is None:
            return None
        scope = frame.scope or self.scope
        if isinstance(func, nodes.Name):
            return self.project.function(scope, func.name)
        found = self.project.resolve_attribute(scope.module, func)
        return found[1] if found is not None and isinstance(found[1], nodes.FunctionDef) else None


def module_functions(module: nodes.Module) -> dict[str, nodes.FunctionDef]:
    return {f.name: f for f in module.body if isinstance(f, nodes.FunctionDef)}
