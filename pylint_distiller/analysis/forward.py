"""Walk forward code: tensor facts, op sites and module calls per path.

Forward code is `forward` of every module class plus the methods and same-file
functions it calls (walked at each call, with the argument kinds of that call)
or hands on as values (`attention_interface = eager_attention_forward`,
`apply_chunking_to_forward(self.ff_chunk, ...)`: walked once where referenced).
The walk is an abstract interpretation in statement order:

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
the default "positional inputs are tensors". After the walk, a class whose
instance runs more than once per pass (called twice, or an element of a
container indexed many-to-one, ALBERT-style) passes that multiplicity on to every
module call of its own forward: those submodules run more than once as well.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.catalogue import (
    TENSOR_CLASSES,
    NON_TENSOR_METHODS,
    OPS,
    TENSOR_FACTORIES,
    TENSOR_METADATA_ATTRS,
    OpSpec,
)

_BINOPS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "@": "matmul",
           "**": "pow", "%": "mod"}
_AUGOPS = {k + "=": v for k, v in _BINOPS.items()}
_SPLITTING = frozenset(("chunk", "split", "unbind", "tensor_split", "split_with_sizes"))
_NUMERIC_BUILTINS = frozenset(("len", "int", "float", "round", "math.sqrt", "math.ceil", "math.floor",
                               "math.log", "math.log2", "math.prod", "math.exp", "math.pow", "math.gcd",
                               "math.isqrt", "divmod"))
_SEQ_BUILTINS = frozenset(("range", "enumerate", "zip", "tuple", "list", "sorted", "reversed", "map", "filter"))
_OTHER_BUILTINS = frozenset(("isinstance", "hasattr", "getattr", "callable", "str", "bool", "print", "repr",
                             "type", "id", "dict", "set", "any", "all", "issubclass", "format", "setattr",
                             "vars", "next", "iter", "hash"))
_NO_GRAD = frozenset(("torch.no_grad", "torch.inference_mode"))
_SKIP_DECORATORS = frozenset(("torch.no_grad", "torch.inference_mode", "torch.jit.ignore", "torch.jit.unused"))
_TENSOR_ONLY_METHODS = frozenset(("view", "reshape", "permute", "transpose", "contiguous", "unsqueeze",
                                  "squeeze", "expand", "expand_as", "flatten", "type_as", "view_as",
                                  "masked_fill", "softmax", "float", "half", "to"))
#: tensor methods whose result holds no activations (integer, bool or index tensors)
_INDEX_METHODS = frozenset(("long", "int", "bool", "byte", "short", "char", "eq", "ne", "lt", "le", "gt", "ge",
                            "argmax", "argmin", "argsort", "nonzero", "isnan", "isinf", "isfinite", "logical_not",
                            "logical_and", "logical_or", "logical_xor", "any", "all", "bitwise_not",
                            "bitwise_and", "bitwise_or", "not_equal", "greater", "less", "equal"))
#: methods that turn an index tensor into a float one (or may: `.to(dtype)`)
_FLOAT_CASTS = frozenset(("float", "half", "double", "bfloat16", "type_as", "type"))
#: factories whose result is an index tensor unless a float dtype is asked for
_INDEX_FACTORIES = frozenset(("torch.arange", "torch.range", "torch.randint", "torch.randperm", "torch.tril_indices",
                              "torch.triu_indices", "torch.tensor", "torch.as_tensor", "torch.randint_like",
                              "torch.bucketize", "torch.searchsorted"))
#: torch functions that answer a question about tensors: never tensors themselves
_TORCH_QUERIES = frozenset(("torch.is_tensor", "torch.is_floating_point", "torch.is_complex", "torch.numel",
                            "torch.is_grad_enabled", "torch.is_autocast_enabled", "torch.jit.is_tracing",
                            "torch.jit.is_scripting", "torch.compiler.is_compiling", "torch.is_inference_mode_enabled",
                            "torch.get_default_dtype", "torch.device", "torch.Size", "torch.finfo", "torch.iinfo",
                            "torch.result_type", "torch.promote_types", "torch.can_cast"))
#: parameter names that hold integer tensors in model code (ids, positions)
_INDEX_PARAM_SUFFIXES = ("_ids", "_idx", "_indices")
_INDEX_PARAMS = frozenset(("input_ids", "position_ids", "token_type_ids", "cache_position", "indices", "labels",
                           "ids"))
#: calls that are true only while torch traces, scripts or compiles the model
_TRACING_PROBES = frozenset(("torch.jit.is_tracing", "torch.jit.is_scripting", "torch.onnx.is_in_onnx_export",
                             "torch.compiler.is_compiling", "torch._dynamo.is_compiling",
                             "torch.compiler.is_dynamo_compiling"))
#: parameter names that hold key/value caches (objects or tuples of tensors, never one tensor)
_CACHE_PARAMS = frozenset(("cache", "past_key_values", "past_key_value", "layer_past", "cache_params",
                           "inference_params", "past"))
#: unannotated parameter names that hold modules (`eager_attention_forward(module, ...)`)
_MODULE_PARAMS = frozenset(("module", "model", "layer", "block", "submodule", "mod"))
#: fields of model outputs (`outputs.hidden_states`) that hold tuples of tensors
_OUTPUT_TUPLES = frozenset(("hidden_states", "attentions", "cross_attentions", "all_hidden_states",
                            "all_attentions", "past_key_values", "encoder_hidden_states_all",
                            "reshaped_hidden_states", "decoder_hidden_states", "decoder_attentions",
                            "encoder_attentions", "intermediate_hidden_states"))
_FLOAT_DTYPE_WORDS = ("float", "half", "double", "bfloat16", "dtype")
_INT_DTYPE_WORDS = ("long", "int", "bool", "uint8")
_FLOAT_FUNCTIONAL_METHODS = frozenset(("add", "add_scalar", "mul", "mul_scalar", "cat", "add_relu", "matmul"))
_MAX_DEPTH = 12
_VISIT_BUDGET = 200_000
_MAX_MULTIPLICITY = 8



def _empty() -> Counter:
    """An empty Counter without Counter.__init__'s update() call (hundreds of thousands per file)."""
    return Counter.__new__(Counter)


@dataclass
class Paths:
    """Submodule call counts of the paths through a block."""

    fall: Counter | None = field(default_factory=_empty)  # paths that fall through (None: none do)
    done: Counter = field(default_factory=_empty)  # max over paths that returned/raised


def _cmax(a: Counter | None, b: Counter | None) -> Counter | None:
    if a is None:
        return b
    if b is None:
        return a
    out = Counter(a)
    for key, value in b.items():
        if value > out[key]:
            out[key] = value
    return out


def _plus(a: Counter, b: Counter) -> Counter:
    if not b:
        return a
    if not a:
        return Counter(b)
    out = Counter(a)
    out.update(b)
    return out


def _times(a: Counter, n: int) -> Counter:
    return Counter({k: v * n for k, v in a.items()})


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


@dataclass
class _Element:
    """A local name bound to one element of a module container by a loop."""

    attr: str  # the container attribute
    targets: tuple[ClassInfo, ...]
    depth: int  # len(frame.loops) when the binding loop started
    repeated: bool  # the binding loop itself runs more than once per pass


@dataclass
class _Frame:
    owner: ClassInfo | None
    function: nodes.FunctionDef
    env: dict[str, str]
    multi: bool
    silent: bool
    depth: int
    returns: str | None = None
    returns_elts: list[str] | None = None  # element kinds when every return is a tuple of one length
    returns_mixed: bool = False
    elements: dict[str, _Element] = field(default_factory=dict)
    loops: list[str] = field(default_factory=list)
    counters: set[str] = field(default_factory=set)  # loop counters (`for i in range(n)`)
    shared_index: set[str] = field(default_factory=set)  # many-to-one functions of counters (`i // k`)
    foreign: bool = False  # a method of a submodule (`self.attn.prepare(x)`): its module calls are its own
    # a module-level helper that receives the calling module (`eager_attention_forward(self, ...)`):
    module_param: str | None = None  # the parameter holding that module
    caller: ClassInfo | None = None  # the module class that passed itself


@dataclass
class _SiteKinds:
    """Argument kinds of one call of a module class."""

    positional: list[str]
    keywords: dict[str, str]
    open_ended: bool  # *args or **kwargs: any parameter may be passed


def _is_staticmethod(func: nodes.FunctionDef) -> bool:
    return bool(func.decorators) and any(
        isinstance(d, nodes.Name) and d.name == "staticmethod" for d in func.decorators.nodes)


def _is_property(func: nodes.FunctionDef) -> bool:
    return bool(func.decorators) and any(
        (isinstance(d, nodes.Name) and d.name in ("property", "cached_property"))
        or (isinstance(d, nodes.Attribute) and d.attrname == "cached_property")
        for d in func.decorators.nodes)


def _dtype_word(node: nodes.NodeNG | None) -> str | None:
    """'float' / 'int' for a dtype expression, None when it cannot tell."""
    if node is None:
        return None
    text = node.as_string().lower()
    if any(w in text for w in _INT_DTYPE_WORDS) and "float" not in text:
        return "int"
    if any(w in text for w in _FLOAT_DTYPE_WORDS):
        return "float"
    return None


def _keyword(call: nodes.Call, name: str) -> nodes.NodeNG | None:
    for kw in call.keywords or ():
        if kw.arg == name:
            return kw.value
    return None


def _is_self_attr(node: nodes.NodeNG) -> bool:
    return isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self"


class ForwardAnalysis:
    """Walks every forward of one file; results are keyed by node."""

    def __init__(self, index: ModuleIndex, module_node: nodes.Module) -> None:
        self.index = index
        self.imports = index.imports
        self.module_node = module_node
        self._functions = {
            f.name: f for f in module_node.body if isinstance(f, nodes.FunctionDef)
        }
        self._site_kinds: dict[ClassInfo, list[_SiteKinds]] = {}
        self._edges: dict[ClassInfo, set[ClassInfo]] = {}
        self._collect_sites = True
        self._current_owner: ClassInfo | None = None
        #: what each module class's forward returns: (kind, tuple element kinds)
        self._class_returns: dict[ClassInfo, tuple[str | None, list[str] | None]] = {}
        self._forward_cache: dict[ClassInfo, nodes.FunctionDef | None] = {}
        self._reset()

    def _reset(self) -> None:
        self.ops: dict[nodes.NodeNG, OpSite] = {}
        self.calls: dict[nodes.Call, ModuleCall] = {}
        self.inline: dict[nodes.Call, InlineModule] = {}
        self.forward_assigned: dict[ClassInfo, set[str]] = {}
        self.per_forward: list[tuple[ClassInfo, nodes.FunctionDef, Counter, list[nodes.Call]]] = []
        self.multiplicity: dict[ClassInfo, int] = {}
        self._budget = _VISIT_BUDGET
        self._stack: list[nodes.FunctionDef] = []
        self._current_calls: list[nodes.Call] = []
        self._current_ops: set[nodes.NodeNG] = set()
        self._forward_ops: dict[ClassInfo, set[nodes.NodeNG]] = {}
        self._referenced: set[nodes.FunctionDef] = set()
        self.walk_id = 0

    # ------------------------------------------------------------------ entry
    def run(self) -> None:
        classes = self.index.module_classes()
        self._walk_forwards(classes)
        if self._site_kinds:
            order = self._callers_first(classes)
            self._collect_sites = False
            self._site_kinds = {}
            self._reset()
            self._walk_forwards(order)
        self._propagate_multiplicity()

    def _callers_first(self, classes: list[ClassInfo]) -> list[ClassInfo]:
        """Classes ordered so that each comes after the classes whose forward calls it."""
        callees = self._edges
        indegree = {info: 0 for info in classes}
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
            for target in callees.get(info, ()):
                if target in indegree and target is not info and target not in seen:
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
            return inherited if overrides else None
        return None

    def _walk_forwards(self, classes: list[ClassInfo]) -> None:
        for info in classes:
            func = self.forward_of(info)
            if func is None or self._skipped(func):
                continue
            self.walk_id += 1
            self._current_owner = info
            self._current_calls = []
            self._current_ops = set()
            self._referenced = set()
            env = self._param_env(func, self._caller_kinds(info, func), is_forward=True)
            frame = _Frame(info, func, env, multi=False, silent=False, depth=0)
            self._stack = [func]
            paths = self.walk_block(func.body, frame)
            totals = _cmax(paths.fall, paths.done) or _empty()
            self.per_forward.append((info, func, totals, self._current_calls))
            self._class_returns[info] = (frame.returns, None if frame.returns_mixed else frame.returns_elts)
            self._forward_ops[info] = self._current_ops

    def _skipped(self, func: nodes.FunctionDef) -> bool:
        if not func.decorators:
            return False
        for dec in func.decorators.nodes:
            target = dec.func if isinstance(dec, nodes.Call) else dec
            if self.imports.qualify(target) in _SKIP_DECORATORS:
                return True
        return False

    # ------------------------------------------------------- module multiplicity
    def _forward_owner(self, info: ClassInfo) -> ClassInfo | None:
        """The class whose forward walk stands for instances of `info` (itself or a same-file base)."""
        for klass in info.mro():
            if self.forward_of(klass) is not None:
                return klass
        return None

    def _propagate_multiplicity(self) -> None:
        """Runs per pass of every module class, and reuse inside classes that run repeatedly."""
        entries = {info: (totals, calls) for info, _f, totals, calls in self.per_forward}
        for info, (totals, calls) in entries.items():
            injected = self.index.injected_attrs(info)
            if not injected:
                continue
            for call in calls:
                record = self.calls[call]
                if record.attr not in injected or record.element:
                    continue
                # several instances hold this one module: each call of it is one of many
                record.multi = True
                totals[record.attr] = max(totals.get(record.attr, 0), 1) * 2
                if not record.targets:
                    record.targets = tuple(self.index.by_name[n] for n in sorted(injected[record.attr])
                                           if n in self.index.by_name and self.index.by_name[n].is_module)
        mult: dict[ClassInfo, int] = {}
        for _round in range(len(entries) + 2):
            changed = False
            for info, (totals, calls) in entries.items():
                runs = mult.get(info, 1)
                for call in calls:
                    record = self.calls[call]
                    per_pass = totals.get(record.attr, 0)
                    if record.element and not record.multi:
                        per_pass = 1
                    per_pass = max(per_pass, 1)
                    for target in record.targets:
                        owner = self._forward_owner(target)
                        if owner is None:
                            continue
                        value = min(runs * per_pass, _MAX_MULTIPLICITY)
                        if value > mult.get(owner, 1):
                            mult[owner] = value
                            changed = True
            if not changed:
                break
        self.multiplicity = mult
        self._drop_lone_calls()
        for info, _f, totals, calls in self.per_forward:
            runs = mult.get(info, 1)
            if runs < 2:
                continue
            for call in calls:
                record = self.calls[call]
                record.multi = True
                totals[record.attr] = max(totals.get(record.attr, 0), 1) * runs
            for node in self._forward_ops.get(info, ()):
                site = self.ops.get(node)
                if site is not None:
                    site.multi = True

    def _drop_lone_calls(self) -> None:
        """Forget call sites that are the only call of their module on every path through them.

        `if dist: a = self.drop(a); b = self.drop(b) else: a = self.drop(a)`: the
        module is reused, but only by the two calls of the first branch; the call
        of the other branch is the single call of its path and is not a finding.
        """
        for index, (info, func, totals, calls) in enumerate(self.per_forward):
            by_attr: dict[str, list[nodes.Call]] = {}
            for call in calls:
                record = self.calls[call]
                if totals.get(record.attr, 0) >= 2 and not record.element:
                    group = by_attr.setdefault(record.attr, [])
                    if call not in group:
                        group.append(call)
            lone = set()
            for group in by_attr.values():
                for call in group:
                    if self.calls[call].multi:
                        continue
                    if not any(_may_share_path(call, other) for other in group if other is not call):
                        lone.add(call)
            if lone:
                self.per_forward[index] = (info, func, totals, [c for c in calls if c not in lone])

    # -------------------------------------------------------------- parameters
    def _caller_kinds(self, info: ClassInfo, func: nodes.FunctionDef) -> dict[str, str] | None:
        """Kinds the same-file callers of `info` pass to its forward (those walked so far).

        Only kinds the callers agree on count: a tensor on any path is a tensor, a
        parameter some caller passes blindly (`*args`, `**kwargs`) stays unknown.
        """
        if self._collect_sites:
            return None
        sites = self._site_kinds.get(info)
        if not sites:
            return None
        args = func.args
        if args.args is None:
            return None
        positional = (list(args.posonlyargs) + list(args.args))[1:]
        names = [(p.name, i) for i, p in enumerate(positional)] + [(p.name, None) for p in args.kwonlyargs]
        out: dict[str, str] = {}
        for name, index in names:
            kind: str | None = None
            for site in sites:
                if index is not None and index < len(site.positional):
                    value = site.positional[index]
                elif name in site.keywords:
                    value = site.keywords[name]
                elif site.open_ended:
                    value = K.UNKNOWN
                else:
                    continue  # not passed: the default
                kind = value if kind is None else K.join(kind, value)
            if kind is not None and (kind in K.PLAIN or kind == K.TENSOR):
                out[name] = kind
        if out:
            # a caller's "tensor" may be a guess (an unpacked module output): it
            # overrides no annotation but a tensor-sequence one (`tuple[torch.Tensor]`)
            annotated = dict(zip((p.name for p in args.posonlyargs + args.args),
                                 args.posonlyargs_annotations + args.annotations))
            annotated.update(zip((p.name for p in args.kwonlyargs), args.kwonlyargs_annotations))
            for name in [n for n, k in out.items() if k == K.TENSOR]:
                if K.annotation_kind(annotated.get(name)) not in (None, K.TENSOR, K.TENSORS):
                    del out[name]
        return out or None

    def module_result(self, targets: tuple[ClassInfo, ...]) -> tuple[str, list[str] | None]:
        """Kind (and tuple element kinds) a call of a same-file module class returns."""
        if len(targets) != 1:
            return K.TENSOR, None
        owner = self._forward_owner(targets[0])
        kind, elts = self._class_returns.get(owner, (None, None)) if owner is not None else (None, None)
        if kind == K.TENSORS and elts is not None:
            return K.TENSORS, elts
        if kind == K.INDEX:
            return K.INDEX, None
        return K.TENSOR, None

    def _record_site_kinds(self, targets, call: nodes.Call, ev: "_Events") -> None:
        if not targets:
            return
        if self._collect_sites and self._current_owner is not None:
            self._edges.setdefault(self._current_owner, set()).update(
                t for t in (self._forward_owner(x) for x in targets) if t is not None)
        positional: list[str] = []
        open_ended = False
        for arg in call.args:
            if isinstance(arg, nodes.Starred):
                open_ended = True
                break
            positional.append(ev.kind_cache.get(arg, K.UNKNOWN))
        keywords = {}
        for kw in call.keywords or ():
            if kw.arg is None:
                open_ended = True
            else:
                keywords[kw.arg] = ev.kind_cache.get(kw.value, K.UNKNOWN)
        site = _SiteKinds(positional, keywords, open_ended)
        for target in targets:
            owner = self._forward_owner(target)
            if owner is not None:
                self._site_kinds.setdefault(owner, []).append(site)

    def _param_env(self, func: nodes.FunctionDef, call_kinds: dict[str, str] | None, is_forward: bool) -> dict:
        env: dict[str, str] = {}
        args = func.args
        if args.args is None:  # built from a living object: no signature
            return env
        positional = list(args.posonlyargs) + list(args.args)
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        annotations = list(args.posonlyargs_annotations) + list(args.annotations)
        params = list(zip(positional, defaults, annotations))
        params += list(zip(args.kwonlyargs, args.kw_defaults, args.kwonlyargs_annotations))
        is_method = isinstance(func.parent, nodes.ClassDef) and not _is_staticmethod(func)
        for i, (param, default, annotation) in enumerate(params):
            if i == 0 and is_method and positional and param is positional[0]:
                env[param.name] = K.MODULE
                continue
            kind = K.annotation_kind(self._type_alias(annotation))
            if call_kinds is not None and param.name in call_kinds:
                given = call_kinds[param.name]
                if kind is None or given in (K.TENSOR, K.INDEX) or (given in K.PLAIN and kind == K.TENSOR):
                    kind = given
            if kind is None:
                if param.name in _MODULE_PARAMS and not is_method:
                    kind = K.MODULE
                elif param.name in _CACHE_PARAMS:
                    kind = K.SEQ
                elif default is None or (isinstance(default, nodes.Const) and default.value is None):
                    kind = K.TENSOR if is_forward else K.UNKNOWN
                else:
                    kind = K.literal_kind(default)
            if kind == K.TENSOR and (param.name in _INDEX_PARAMS or param.name.endswith(_INDEX_PARAM_SUFFIXES)):
                kind = K.INDEX
            env[param.name] = kind
        if args.vararg:
            env[args.vararg] = K.TENSORS if is_forward else K.SEQ
        if args.kwarg:
            env[args.kwarg] = K.OTHER
        return env

    def _type_alias(self, annotation: nodes.NodeNG | None) -> nodes.NodeNG | None:
        """`Size_` where the file says `Size_ = Tuple[int, int]`: the aliased annotation."""
        if isinstance(annotation, nodes.Name) and annotation.name not in self.imports.aliases:
            for node in self.module_node.locals.get(annotation.name, ()):
                assign = node.parent
                if isinstance(assign, (nodes.Assign, nodes.AnnAssign)) and assign.parent is self.module_node \
                        and isinstance(assign.value, (nodes.Subscript, nodes.Name, nodes.Attribute, nodes.BinOp)):
                    return assign.value
        return annotation

    # -------------------------------------------------------------- statements
    def walk_block(self, stmts, frame: _Frame) -> Paths:
        fall: Counter | None = _empty()
        done: Counter = _empty()
        for stmt in stmts:
            p = self.walk_stmt(stmt, frame)
            done = _cmax(done, _plus(fall, p.done))
            if p.fall is None:
                return Paths(None, done)
            fall = _plus(fall, p.fall)
        return Paths(fall, done)

    def walk_stmt(self, stmt, frame: _Frame) -> Paths:  # noqa: C901 - one dispatch over statements
        self._budget -= 1
        ev = _Events(self, frame)
        if isinstance(stmt, nodes.Assign):
            kind = ev.eval(stmt.value)
            for target in stmt.targets:
                self._bind_target(target, kind, stmt.value, frame, ev)
            self._track_shared_index(stmt.targets, stmt.value, frame)
            return ev.paths()
        if isinstance(stmt, nodes.AnnAssign):
            if stmt.value is not None:
                kind = ev.eval(stmt.value)
                self._bind_target(stmt.target, kind, stmt.value, frame, ev)
                self._track_shared_index([stmt.target], stmt.value, frame)
            return ev.paths()
        if isinstance(stmt, nodes.AugAssign):
            ev.aug_assign(stmt)
            return ev.paths()
        if isinstance(stmt, nodes.Expr):
            ev.eval(stmt.value)
            return ev.paths()
        if isinstance(stmt, nodes.Return):
            if stmt.value is not None:
                kind = ev.eval(stmt.value)
                frame.returns = K.join(frame.returns, kind)
                self._note_return_elements(stmt.value, ev, frame)
            return Paths(None, ev.counts)
        if isinstance(stmt, nodes.Raise):
            return Paths(None, _empty())
        if isinstance(stmt, nodes.If):
            ev.eval(stmt.test)
            quiet_body, quiet_else = self.tracing_only(stmt.test)
            old = frame.silent
            frame.silent = old or quiet_body
            body = self.walk_block(stmt.body, frame)
            frame.silent = old or quiet_else
            orelse = self.walk_block(stmt.orelse, frame)
            frame.silent = old
            return ev.then(Paths(_cmax(body.fall, orelse.fall), _cmax(body.done, orelse.done)))
        if isinstance(stmt, (nodes.For, nodes.While)):
            return self._walk_loop(stmt, frame, ev)
        if isinstance(stmt, nodes.With):
            silent = frame.silent
            for item, _ in stmt.items:
                ev.eval(item)
                target = item.func if isinstance(item, nodes.Call) else item
                if self.imports.qualify(target) in _NO_GRAD:
                    silent = True
            for _, var in stmt.items:
                if var is not None:
                    self._bind_target(var, K.UNKNOWN, None, frame, ev)
            old, frame.silent = frame.silent, silent
            body = self.walk_block(stmt.body, frame)
            frame.silent = old
            return ev.then(body)
        if isinstance(stmt, nodes.Try):
            body = self.walk_block(stmt.body, frame)
            orelse = self.walk_block(stmt.orelse, frame)
            handler_fall: Counter | None = None
            handler_done: Counter = _empty()
            for handler in stmt.handlers:
                if handler.name is not None:
                    frame.env[handler.name.name] = K.OTHER
                h = self.walk_block(handler.body, frame)
                handler_fall = _cmax(handler_fall, h.fall)
                handler_done = _cmax(handler_done, h.done)
            body_all = _cmax(body.fall, body.done) or _empty()
            main_fall = None if body.fall is None or orelse.fall is None else _plus(body.fall, orelse.fall)
            fall = _cmax(main_fall, None if handler_fall is None else _plus(body_all, handler_fall))
            done = _cmax(_cmax(body.done, orelse.done), _plus(body_all, handler_done))
            final = self.walk_block(stmt.finalbody, frame)
            if fall is not None and final.fall is not None:
                fall = _plus(fall, final.fall)
            elif final.fall is None:
                fall = None
            return Paths(fall, _cmax(done, final.done))
        if isinstance(stmt, nodes.Match):
            ev.eval(stmt.subject)
            fall: Counter | None = None
            done: Counter = _empty()
            exhaustive = False
            for case in stmt.cases:
                p = self.walk_block(case.body, frame)
                fall, done = _cmax(fall, p.fall), _cmax(done, p.done)
                exhaustive = exhaustive or (isinstance(case.pattern, nodes.MatchAs) and case.pattern.pattern is None)
            if not exhaustive:
                fall = _cmax(fall, _empty())
            return ev.then(Paths(fall, done))
        if isinstance(stmt, (nodes.FunctionDef, nodes.ClassDef)):
            frame.env[stmt.name] = K.FUNCTION
            return Paths()
        if isinstance(stmt, nodes.Assert):
            ev.eval(stmt.test)
            return ev.paths()
        if isinstance(stmt, (nodes.Delete, nodes.Pass, nodes.Break, nodes.Continue, nodes.Global,
                             nodes.Nonlocal, nodes.Import, nodes.ImportFrom)):
            return Paths()
        for child in stmt.get_children():  # anything else: evaluate what it holds
            if isinstance(child, nodes.NodeNG) and not child.is_statement:
                ev.eval(child)
        return ev.paths()

    def tracing_only(self, test: nodes.NodeNG) -> tuple[bool, bool]:
        """(body, orelse) that run only while tracing, scripting or compiling, never in eager mode."""
        negated = False
        if isinstance(test, nodes.UnaryOp) and test.op == "not":
            negated, test = True, test.operand
        probes = [test]
        if isinstance(test, nodes.BoolOp) and test.op == "and" and not negated:
            probes = list(test.values)
        for probe in probes:
            if isinstance(probe, nodes.Call):
                name = self.imports.qualify(probe.func) or (
                    probe.func.name if isinstance(probe.func, nodes.Name) else "")
                if name in _TRACING_PROBES or name.rsplit(".", 1)[-1] in ("is_torchdynamo_compiling",):
                    return (False, True) if negated else (True, False)
        return False, False

    def _note_return_elements(self, value, ev: "_Events", frame: _Frame) -> None:
        if frame.returns_mixed:
            return
        if isinstance(value, nodes.Tuple) and not any(isinstance(e, nodes.Starred) for e in value.elts):
            elts = [ev.kind_cache.get(e, K.UNKNOWN) for e in value.elts]
        else:
            elts = ev.elt_kinds.get(value)
        if elts is None:
            frame.returns_mixed, frame.returns_elts = True, None
        elif frame.returns_elts is None:
            frame.returns_elts = list(elts)
        elif len(frame.returns_elts) != len(elts):
            frame.returns_mixed, frame.returns_elts = True, None
        else:
            frame.returns_elts = [K.join(a, b) for a, b in zip(frame.returns_elts, elts)]

    def _walk_loop(self, stmt, frame: _Frame, ev: "_Events") -> Paths:
        if isinstance(stmt, nodes.For):
            kind = ev.eval(stmt.iter)
            self._bind_loop_target(stmt.target, stmt.iter, kind, frame, ev, repeated=frame.multi)
        else:
            ev.eval(stmt.test)
        old, frame.multi = frame.multi, True
        frame.loops.append("loop")
        body = self.walk_block(stmt.body, frame)
        frame.loops.pop()
        frame.multi = old
        orelse = self.walk_block(stmt.orelse, frame)
        once = _cmax(body.fall, body.done) or _empty()
        fall = _plus(_times(once, 2), orelse.fall) if orelse.fall is not None else None
        if fall is None and not stmt.orelse:
            fall = _times(once, 2)
        return ev.then(Paths(fall, _times(body.done, 2)))

    def _track_shared_index(self, targets, value, frame: _Frame) -> None:
        """`group = int(i / per_group)` in a loop: an index many loop turns share."""
        names = [t.name for t in targets if isinstance(t, nodes.AssignName)]
        if not names:
            return
        if frame.loops and self._many_to_one(value, frame):
            frame.shared_index.update(names)
        else:
            frame.shared_index.difference_update(names)

    @staticmethod
    def _many_to_one(expr: nodes.NodeNG, frame: _Frame) -> bool:
        if isinstance(expr, nodes.Name):
            return expr.name in frame.shared_index
        for binop in expr.nodes_of_class(nodes.BinOp):
            if binop.op in ("/", "//", "%") and any(
                    n.name in frame.counters or n.name in frame.shared_index
                    for n in binop.nodes_of_class(nodes.Name)):
                return True
        return False

    # ------------------------------------------------------------- bindings
    _ELEMENT_OF = {K.TENSOR: K.TENSOR, K.TENSORS: K.TENSOR, K.SHAPE: K.NUMBER, K.MODULES: K.MODULE,
                   K.INDEX: K.INDEX, K.INDEXES: K.INDEX}

    def _bind_target(self, target, kind: str, value, frame: _Frame, ev: "_Events") -> None:
        if isinstance(target, nodes.AssignName):
            frame.env[target.name] = kind
            frame.elements.pop(target.name, None)
            frame.counters.discard(target.name)
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            elts = value.elts if isinstance(value, (nodes.Tuple, nodes.List)) and len(value.elts) == len(target.elts) else None
            known = ev.elt_kinds.get(value) if value is not None else None
            if known is not None and len(known) != len(target.elts):
                known = None
            for i, elt in enumerate(target.elts):
                if elts is not None:
                    sub = ev.kind_cache.get(elts[i], K.UNKNOWN)
                elif known is not None:
                    sub = known[i]
                else:
                    sub = self._ELEMENT_OF.get(kind, K.UNKNOWN)
                if isinstance(elt, nodes.Starred):
                    self._bind_target(elt.value, K.TENSORS if sub == K.TENSOR else K.SEQ, None, frame, ev)
                else:
                    self._bind_target(elt, sub, None, frame, ev)
        elif isinstance(target, nodes.AssignAttr):
            if isinstance(target.expr, nodes.Name) and target.expr.name == "self" and frame.owner is not None:
                self.forward_assigned.setdefault(frame.owner, set()).add(target.attrname)
            else:
                ev.eval(target.expr)
        elif isinstance(target, nodes.Subscript):
            ev.eval(target.value)
            ev.eval(target.slice)
        elif isinstance(target, nodes.Starred):
            self._bind_target(target.value, K.SEQ, None, frame, ev)

    def container_attr(self, node: nodes.NodeNG, owner: ClassInfo | None) -> str | None:
        """The container attribute `node` iterates (`self.blocks`, `self.blocks[1:]`, `.values()`)."""
        if owner is None:
            return None
        if isinstance(node, nodes.Subscript) and isinstance(node.slice, nodes.Slice):
            node = node.value
        if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Attribute) and \
                node.func.attrname in ("values", "children", "modules") and not node.args:
            node = node.func.expr
        if isinstance(node, nodes.Call) and isinstance(node.func, nodes.Name) and node.func.name == "reversed" \
                and len(node.args) == 1:
            node = node.args[0]
        if _is_self_attr(node):
            fact = owner.attrs.get(node.attrname)
            if fact is not None and fact.kind == attrs.CONTAINER:
                return node.attrname
        return None

    def element_targets(self, owner: ClassInfo, attr: str) -> tuple[ClassInfo, ...]:
        fact = owner.attrs.get(attr)
        if fact is None:
            return ()
        out = []
        for name in self.index.element_classes(fact):
            info = self.index.by_name.get(name)
            if info is not None and info.is_module and info not in out:
                out.append(info)
        return tuple(out)

    def _bind_element(self, target, attr: str, frame: _Frame, repeated: bool) -> None:
        if isinstance(target, nodes.AssignName) and frame.owner is not None:
            frame.elements[target.name] = _Element(attr, self.element_targets(frame.owner, attr),
                                                   len(frame.loops), repeated)

    def _bind_loop_target(self, target, iter_node, kind: str, frame: _Frame, ev: "_Events",
                          repeated: bool = False) -> None:
        element = self._ELEMENT_OF.get(kind, K.UNKNOWN)
        if element == K.NUMBER and kind == K.SHAPE:
            element = K.NUMBER
        container = self.container_attr(iter_node, frame.owner)
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Name):
            name = iter_node.func.name
            if name == "range":
                self._bind_target(target, K.NUMBER, None, frame, ev)
                if isinstance(target, nodes.AssignName):
                    frame.counters.add(target.name)
                return
            if name == "enumerate" and iter_node.args and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                inner = ev.kind_cache.get(iter_node.args[0], K.UNKNOWN)
                inner_el = self._ELEMENT_OF.get(inner, K.UNKNOWN)
                if inner == K.SHAPE:
                    inner_el = K.NUMBER
                self._bind_target(target.elts[0], K.NUMBER, None, frame, ev)
                self._bind_target(target.elts[1], inner_el, None, frame, ev)
                if isinstance(target.elts[0], nodes.AssignName):
                    frame.counters.add(target.elts[0].name)
                attr = self.container_attr(iter_node.args[0], frame.owner)
                if attr is not None:
                    self._bind_element(target.elts[1], attr, frame, repeated)
                return
            if name == "zip" and isinstance(target, nodes.Tuple) and len(target.elts) == len(iter_node.args):
                for elt, arg in zip(target.elts, iter_node.args):
                    inner = ev.kind_cache.get(arg, K.UNKNOWN)
                    sub = {K.MODULES: K.MODULE, K.TENSORS: K.TENSOR, K.TENSOR: K.TENSOR, K.INDEX: K.INDEX,
                           K.INDEXES: K.INDEX}.get(inner, K.UNKNOWN)
                    self._bind_target(elt, sub, None, frame, ev)
                    attr = self.container_attr(arg, frame.owner)
                    if attr is not None:
                        self._bind_element(elt, attr, frame, repeated)
                return
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Attribute) and \
                iter_node.func.attrname in ("items", "values") and ev.kind_cache.get(iter_node.func.expr) == K.MODULES:
            element = K.MODULE if iter_node.func.attrname == "values" else K.UNKNOWN
            if iter_node.func.attrname == "items" and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                self._bind_target(target.elts[0], K.OTHER, None, frame, ev)
                self._bind_target(target.elts[1], K.MODULE, None, frame, ev)
                attr = self.container_attr(iter_node.func.expr, frame.owner)
                if attr is not None:
                    self._bind_element(target.elts[1], attr, frame, repeated)
                return
        self._bind_target(target, element, None, frame, ev)
        if container is not None:
            self._bind_element(target, container, frame, repeated)

    # ----------------------------------------------------------------- helpers
    def call_helper(self, func: nodes.FunctionDef, call: nodes.Call | None, arg_kinds: dict[str, str] | None,
                    frame: _Frame, owner: ClassInfo | None, referenced: bool = False, foreign: bool = False):
        """Walk a same-file helper at this call; returns its result kind, paths and tuple element kinds."""
        if func in self._stack or frame.depth >= _MAX_DEPTH or self._budget <= 0 or self._skipped(func):
            return K.UNKNOWN, Paths(), None
        env = self._param_env(func, arg_kinds, is_forward=referenced)
        sub = _Frame(owner, func, env, multi=frame.multi, silent=frame.silent, depth=frame.depth + 1,
                     foreign=foreign or frame.foreign)
        if isinstance(func.parent, nodes.Module):
            sub.module_param = self._module_param(func, call, frame)
            sub.caller = (frame.owner or frame.caller) if sub.module_param else None
        self._stack.append(func)
        try:
            paths = self.walk_block(func.body, sub)
        finally:
            self._stack.pop()
        if func.is_generator():
            return K.SEQ, paths, None
        return sub.returns or K.UNKNOWN, paths, (None if sub.returns_mixed else sub.returns_elts)

    def _module_param(self, func: nodes.FunctionDef, call: nodes.Call | None, frame: _Frame) -> str | None:
        """The helper's parameter that receives the calling module instance, if one does.

        At a call: the parameter bound to `self` (or to the caller's own module
        parameter). For a function handed on as a value: a first parameter
        annotated `nn.Module`, as transformers' attention functions declare it.
        """
        params = list(func.args.posonlyargs or []) + list(func.args.args or [])
        if not params or frame.owner is None and frame.module_param is None:
            return None
        holders = {frame.module_param} if frame.owner is None else {"self"}
        if call is None:
            # handed on as a value and called elsewhere: trust a first parameter declared
            # `nn.Module` or named `module`, as attention-interface functions spell it
            annotation = (list(func.args.posonlyargs_annotations or []) + list(func.args.annotations or []))[0]
            qname = self.imports.qualify(annotation) if annotation is not None else None
            declared = qname == "torch.nn.Module" or (annotation is None and params[0].name == "module")
            return params[0].name if declared else None
        for param, arg in zip(params, call.args):
            if isinstance(arg, nodes.Starred):
                break
            if isinstance(arg, nodes.Name) and arg.name in holders:
                return param.name
        names = {p.name for p in params}
        for kw in call.keywords or ():
            if kw.arg in names and isinstance(kw.value, nodes.Name) and kw.value.name in holders:
                return kw.arg
        return None

    def helper_function(self, name: str) -> nodes.FunctionDef | None:
        return self._functions.get(name)


class _Events:
    """Evaluates the expressions of one statement, collecting its module calls."""

    def __init__(self, analysis: ForwardAnalysis, frame: _Frame) -> None:
        self.a = analysis
        self.frame = frame
        self.counts: Counter = _empty()
        self.kind_cache: dict[nodes.NodeNG, str] = {}
        self.elt_kinds: dict[nodes.NodeNG, list[str]] = {}

    def paths(self) -> Paths:
        return Paths(self.counts, _empty())

    def then(self, rest: Paths) -> Paths:
        fall = None if rest.fall is None else _plus(self.counts, rest.fall)
        return Paths(fall, _plus(self.counts, rest.done) if rest.done else _empty())

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
        # a helper that receives its module runs once per calling instance, like a method
        repeated = site.walk_visits > 1 or (site.visits > 1 and frame.owner is None and not site.module_param)
        site.multi = site.multi or self.frame.multi or repeated
        site.loud = site.loud or not self.frame.silent
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

    # ------------------------------------------------------------ expressions
    def eval(self, node) -> str:
        kind = self._eval(node)
        self.kind_cache[node] = kind
        return kind

    def _eval(self, node) -> str:  # noqa: C901 - one dispatch over node types
        env = self.frame.env
        if isinstance(node, nodes.Name):
            if node.name in env:
                return env[node.name]
            helper = self.a.helper_function(node.name)
            if helper is not None:
                self._reference(helper, None)
                return K.FUNCTION
            return K.UNKNOWN
        if isinstance(node, nodes.Const):
            return K.literal_kind(node)
        if isinstance(node, nodes.Attribute):
            return self._attribute(node)
        if isinstance(node, nodes.Call):
            return self._call(node)
        if isinstance(node, nodes.BinOp):
            return self._binop(node)
        if isinstance(node, nodes.UnaryOp):
            kind = self.eval(node.operand)
            if node.op == "-" and kind == K.TENSOR:
                self._record_op(node, OPS["operator.neg"], (kind,), {"input": node.operand})
            if node.op == "not":
                return K.OTHER
            if node.op == "~" and kind in (K.TENSOR, K.INDEX):
                return K.INDEX
            return kind
        if isinstance(node, nodes.Subscript):
            return self._subscript(node)
        if isinstance(node, (nodes.Tuple, nodes.List, nodes.Set)):
            kinds = [self.eval(e) for e in node.elts]
            if not any(isinstance(e, nodes.Starred) for e in node.elts):
                self.elt_kinds[node] = kinds
            if kinds and all(k == K.NUMBER for k in kinds):
                return K.SHAPE
            if K.TENSOR in kinds:
                return K.TENSORS
            if K.INDEX in kinds and all(k in (K.INDEX, K.INDEXES, K.NUMBER) for k in kinds):
                return K.INDEXES
            if K.TENSORS in kinds and all(k in (K.TENSORS, K.INDEX, K.INDEXES) for k in kinds):
                return K.TENSORS  # [*xs] and friends
            return K.SEQ
        if isinstance(node, nodes.Dict):
            for key, value in node.items:
                self.eval(key)
                self.eval(value)
            return K.OTHER
        if isinstance(node, nodes.Compare):
            kinds = [self.eval(node.left)] + [self.eval(right) for _, right in node.ops]
            if any(op in ("is", "is not", "in", "not in") for op, _ in node.ops):
                return K.OTHER
            return K.INDEX if (K.TENSOR in kinds or K.INDEX in kinds) else K.OTHER
        if isinstance(node, nodes.BoolOp):
            kind = None
            for value in node.values:
                kind = K.join(kind, self.eval(value))
            return kind or K.UNKNOWN
        if isinstance(node, nodes.IfExp):
            self.eval(node.test)
            quiet_body, quiet_else = self.a.tracing_only(node.test)
            silent = self.frame.silent
            saved = self.counts
            self.counts = _empty()
            self.frame.silent = silent or quiet_body
            body = self.eval(node.body)
            body_counts, self.counts = self.counts, _empty()
            self.frame.silent = silent or quiet_else
            orelse = self.eval(node.orelse)
            self.frame.silent = silent
            self.counts = _plus(saved, _cmax(body_counts, self.counts))
            return K.join(body, orelse)
        if isinstance(node, (nodes.ListComp, nodes.SetComp, nodes.GeneratorExp, nodes.DictComp)):
            return self._comprehension(node)
        if isinstance(node, nodes.Starred):
            return self.eval(node.value)
        if isinstance(node, nodes.NamedExpr):
            kind = self.eval(node.value)
            env[node.target.name] = kind
            return kind
        if isinstance(node, nodes.Lambda):
            return K.FUNCTION
        if isinstance(node, nodes.JoinedStr):
            return K.OTHER
        if isinstance(node, nodes.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.eval(part)
            return K.OTHER
        for child in node.get_children():
            self.eval(child)
        return K.UNKNOWN

    def _reference(self, func: nodes.FunctionDef, owner: ClassInfo | None) -> str:
        """A same-file function or method handed on as a value: it runs once, later, on tensors."""
        if func in self.a._referenced or func in self.a._stack:
            return K.FUNCTION
        self.a._referenced.add(func)
        result, paths, _ = self.a.call_helper(func, None, None, self.frame, owner, referenced=True)
        self.counts = _plus(self.counts, _cmax(paths.fall, paths.done) or _empty())
        return result

    def _attribute(self, node: nodes.Attribute) -> str:
        expr = node.expr
        if isinstance(expr, nodes.Name) and expr.name == "self" and self.frame.owner is not None:
            if node.attrname == "training":
                return K.OTHER
            owner = self.frame.owner
            fact = owner.attrs.get(node.attrname)
            if fact is None:
                method = owner.methods.get(node.attrname)
                if method is not None and not isinstance(method.parent, nodes.ClassDef):
                    method = None
                if method is not None:
                    helper_owner = self.a.index.classes.get(method.parent, owner)
                    if _is_property(method):
                        result, paths, _ = self.a.call_helper(method, None, {}, self.frame, helper_owner)
                        self.counts = _plus(self.counts, _cmax(paths.fall, paths.done) or _empty())
                        return result
                    self._reference(method, helper_owner)
                    return K.FUNCTION
                return _class_constant_kind(owner, node.attrname)
            return {attrs.MODULE: K.MODULE, attrs.CONTAINER: K.MODULES, attrs.TENSOR: K.TENSOR,
                    attrs.CONST: self._const_kind(fact), attrs.FUNCTION: K.FUNCTION}.get(fact.kind, K.UNKNOWN)
        if isinstance(expr, nodes.Call) and self.a.imports.qualify(expr.func) in ("torch.finfo", "torch.iinfo"):
            self.eval(expr)
            return K.NUMBER if node.attrname in ("min", "max", "eps", "tiny", "smallest_normal", "resolution",
                                                 "bits") else K.OTHER
        qname = self.a.imports.qualify(node)
        if qname is not None:
            return K.OTHER if qname.startswith("torch.") and qname.rsplit(".", 1)[1] in (
                "float32", "float16", "bfloat16", "float64", "long", "int64", "int32", "bool", "float", "half",
                "uint8", "int8", "int16", "double") else K.UNKNOWN
        kind = self.eval(expr)
        if kind == K.TENSOR and node.attrname in _OUTPUT_TUPLES:
            return K.TENSORS  # outputs.hidden_states: a tuple of a model output
        if kind in (K.TENSOR, K.INDEX):
            if node.attrname == "shape":
                return K.SHAPE
            if node.attrname in TENSOR_METADATA_ATTRS:
                return K.NUMBER if node.attrname == "ndim" else K.OTHER
            return kind
        if kind == K.MODULE:
            if node.attrname == "training":
                return K.OTHER
            return K.TENSOR if node.attrname in ("weight", "bias") else K.UNKNOWN
        if node.attrname in ("shape",):
            return K.SHAPE
        if node.attrname == "ndim":
            return K.NUMBER
        if node.attrname in ("dtype", "device", "is_cuda", "requires_grad"):
            return K.OTHER
        return K.UNKNOWN

    @staticmethod
    def _const_kind(fact) -> str:
        kinds = {K.literal_kind(v) if isinstance(v, (nodes.Const, nodes.UnaryOp, nodes.Tuple, nodes.List))
                 else K.NUMBER for v in fact.values}
        if len(kinds) == 1:
            kind = kinds.pop()
            return K.NUMBER if kind == K.UNKNOWN else kind
        return K.NUMBER if kinds <= {K.NUMBER, K.OTHER} else K.UNKNOWN

    def _subscript(self, node: nodes.Subscript) -> str:
        kind = self.eval(node.value)
        index = node.slice
        self.eval(index)
        is_slice = isinstance(index, nodes.Slice)
        if isinstance(index, nodes.Const) and isinstance(index.value, str):
            return K.UNKNOWN  # a dict or a model output, not a tensor
        if kind in (K.TENSOR, K.INDEX):
            return kind
        if kind == K.SHAPE:
            return K.SHAPE if is_slice else K.NUMBER
        if kind == K.TENSORS:
            return K.TENSORS if is_slice else K.TENSOR
        if kind == K.INDEXES:
            return K.INDEXES if is_slice else K.INDEX
        if kind == K.MODULES:
            return K.MODULES if is_slice else K.MODULE
        known = self.elt_kinds.get(node.value)
        if known is not None and isinstance(index, nodes.Const) and isinstance(index.value, int) \
                and -len(known) <= index.value < len(known):
            return known[index.value]
        return K.UNKNOWN

    def _comprehension(self, node) -> str:
        frame = self.frame
        old_multi, frame.multi = frame.multi, True
        saved_env = dict(frame.env)
        saved_elements = dict(frame.elements)
        loops = len(frame.loops)
        try:
            for i, gen in enumerate(node.generators):
                kind = self.eval(gen.iter)
                self.a._bind_loop_target(gen.target, gen.iter, kind, frame, self,
                                         repeated=old_multi if i == 0 else True)
                frame.loops.append("comprehension")
                for cond in gen.ifs:
                    self.eval(cond)
            if isinstance(node, nodes.DictComp):
                self.eval(node.key)
                self.eval(node.value)
                return K.OTHER
            elt = self.eval(node.elt)
        finally:
            del frame.loops[loops:]
            frame.multi = old_multi
            frame.env.clear()
            frame.env.update(saved_env)
            frame.elements.clear()
            frame.elements.update(saved_elements)
        if elt == K.TENSOR:
            return K.TENSORS
        if elt == K.INDEX:
            return K.INDEXES
        if isinstance(node, nodes.GeneratorExp):
            return K.SEQ
        return K.SHAPE if elt == K.NUMBER else K.SEQ

    # ------------------------------------------------------------- operators
    def _binop(self, node: nodes.BinOp) -> str:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = _BINOPS.get(node.op)
        if op is None:  # & | ^ << >>: masks and bit tricks
            if K.TENSOR in (left, right) or K.INDEX in (left, right):
                return K.INDEX
            return K.NUMBER if (left, right) == (K.NUMBER, K.NUMBER) else K.UNKNOWN
        if self._is_tensor_op(op, left, right):
            self._record_op(node, OPS[f"operator.{op}"], (left, right),
                            {"input": node.left, "other": node.right})
            return K.TENSOR
        if left in K.CONTAINERS or right in K.CONTAINERS:
            if node.op == "%" and left == K.OTHER:
                return K.OTHER
            if left == K.SHAPE and right in (K.SHAPE, K.NUMBER) or right == K.SHAPE and left == K.NUMBER:
                return K.SHAPE
            if node.op == "+" and {left, right} <= {K.TENSORS, K.INDEXES}:
                return K.TENSORS if K.TENSORS in (left, right) else K.INDEXES
            return K.SEQ if node.op in ("+", "*") else K.UNKNOWN
        if K.INDEX in (left, right):
            return K.INDEX  # position / index arithmetic
        if left == K.NUMBER and right == K.NUMBER:
            return K.NUMBER
        return K.UNKNOWN

    @staticmethod
    def _is_tensor_op(op: str, left: str, right: str) -> bool:
        if K.TENSOR not in (left, right):
            return False
        if left in K.CONTAINERS or right in K.CONTAINERS:
            return False
        if op == "mod" and left != K.TENSOR:
            return False
        ok = (K.TENSOR, K.NUMBER, K.UNKNOWN, K.INDEX)
        return left in ok and right in ok

    def aug_assign(self, stmt: nodes.AugAssign) -> None:
        target = stmt.target
        if isinstance(target, nodes.AssignName):
            left = self.frame.env.get(target.name, K.UNKNOWN)
        elif isinstance(target, nodes.AssignAttr):
            left = self.eval(target.expr)
            if isinstance(target.expr, nodes.Name) and target.expr.name == "self":
                left = K.UNKNOWN
                fact = self.frame.owner.attrs.get(target.attrname) if self.frame.owner else None
                if fact is not None and fact.kind == attrs.TENSOR:
                    left = K.TENSOR
                elif fact is not None and fact.kind == attrs.CONST:
                    left = self._const_kind(fact)
            elif left in (K.TENSOR, K.INDEX):
                left = K.UNKNOWN
        else:
            left = self.eval(target.value) if isinstance(target, nodes.Subscript) else K.UNKNOWN
            if isinstance(target, nodes.Subscript):
                self.eval(target.slice)
                left = left if left in (K.TENSOR, K.INDEX) else K.UNKNOWN
        right = self.eval(stmt.value)
        op = _AUGOPS.get(stmt.op)
        if op is not None and self._is_tensor_op(op, left, right):
            self._record_op(stmt, OPS[f"operator.i{op}"], (left, right), {"input": target, "other": stmt.value})
            kind = K.TENSOR
        elif left in K.CONTAINERS:
            kind = left
        elif K.INDEX in (left, right) and K.TENSOR not in (left, right):
            kind = K.INDEX
        else:
            kind = K.NUMBER if (left, right) == (K.NUMBER, K.NUMBER) else K.join(left, right)
        if isinstance(target, nodes.AssignName):
            self.frame.env[target.name] = kind

    # ----------------------------------------------------------------- calls
    def _eval_args(self, call: nodes.Call) -> list[str]:
        kinds = [self.eval(arg) for arg in call.args]
        for kw in call.keywords or ():
            kinds.append(self.eval(kw.value))
        return kinds

    def _fact_targets(self, fact) -> tuple[ClassInfo, ...]:
        if fact is None:
            return ()
        if fact.kind == attrs.CONTAINER:
            names = self.a.index.element_classes(fact)
        else:
            names = self.a.index.module_classes_of(fact)
        out = []
        for name in names:
            info = self.a.index.by_name.get(name)
            if info is not None and info.is_module and info not in out:
                out.append(info)
        return tuple(out)

    def _call(self, call: nodes.Call) -> str:  # noqa: C901 - callee dispatch
        func = call.func
        frame = self.frame
        owner = frame.owner
        # self.<name>(...): a submodule, a helper method, or a stored function
        if _is_self_attr(func) and owner is not None:
            name = func.attrname
            fact = owner.attrs.get(name)
            if name in owner.methods and (fact is None or fact.kind not in (attrs.MODULE, attrs.CONTAINER)):
                arg_kinds = self._eval_args(call)
                return self._helper(owner.methods[name], call, arg_kinds, owner, skip_self=True)
            arg_kinds = self._eval_args(call)
            if fact is not None and fact.kind == attrs.FUNCTION:
                spec = OPS.get(fact.qname or "")
                if spec is not None and not self._index_only(arg_kinds) and not self._numbers_only(arg_kinds):
                    self._record_op(call, spec, arg_kinds, None, via_attribute=name)
                return K.TENSOR if K.TENSOR in arg_kinds else K.UNKNOWN
            if fact is not None and fact.kind != attrs.CONST and fact.kind != attrs.TENSOR:
                canonical = name
                seen = set()
                while canonical in owner.attrs and owner.attrs[canonical].alias_of and canonical not in seen:
                    seen.add(canonical)
                    canonical = owner.attrs[canonical].alias_of
                targets = self._fact_targets(owner.attrs.get(canonical, fact))
                self._record_module_call(call, canonical, targets)
                return self._module_result(call, targets)
            return K.TENSOR if K.TENSOR in arg_kinds else K.UNKNOWN
        # self.<container>[i](...): one element of a module container
        if isinstance(func, nodes.Subscript) and owner is not None and _is_self_attr(func.value):
            fact = owner.attrs.get(func.value.attrname)
            if fact is not None and fact.kind == attrs.CONTAINER and not isinstance(func.slice, nodes.Slice):
                self.eval(func)
                self._eval_args(call)
                index = func.slice
                if isinstance(index, nodes.Const):
                    return K.TENSOR
                shared = bool(frame.loops) and self.a._many_to_one(index, frame)
                self._record_module_call(call, func.value.attrname, self._fact_targets(fact), element=True,
                                         counted=shared)
                return K.TENSOR
        qname = self.a.imports.qualify(func)
        if qname is not None:
            return self._qualified_call(call, qname)
        if isinstance(func, nodes.Attribute):
            return self._method_call(call, func)
        if isinstance(func, nodes.Name):
            name = func.name
            if name in frame.env:
                kind = frame.env[name]
                self._eval_args(call)
                element = frame.elements.get(name)
                if element is not None and kind == K.MODULE:
                    repeated = element.repeated or len(frame.loops) > element.depth + 1
                    self._record_module_call(call, element.attr, element.targets, element=True, counted=repeated)
                    return self._module_result(call, element.targets)
                return K.TENSOR if kind in (K.MODULE, K.UNKNOWN, K.FUNCTION) else K.UNKNOWN
            arg_kinds = self._eval_args(call)
            if name in _NUMERIC_BUILTINS:
                return K.NUMBER
            if name in _SEQ_BUILTINS:
                if name in ("tuple", "list") and arg_kinds:
                    return {K.SHAPE: K.SHAPE, K.TENSORS: K.TENSORS, K.TENSOR: K.TENSORS, K.INDEX: K.INDEXES,
                            K.INDEXES: K.INDEXES}.get(arg_kinds[0], K.SEQ)
                if name == "reversed" and arg_kinds:
                    return arg_kinds[0] if arg_kinds[0] in K.CONTAINERS or arg_kinds[0] == K.MODULES else K.SEQ
                return K.SEQ
            if name in _OTHER_BUILTINS:
                return K.OTHER
            if name in ("max", "min", "abs", "sum", "pow"):
                return K.NUMBER if arg_kinds and all(k in (K.NUMBER, K.SHAPE) for k in arg_kinds) else K.UNKNOWN
            info = self.a.index.by_name.get(name)
            if info is not None and info.is_module:
                self.a.inline.setdefault(call, InlineModule(call, f"local:{name}", owner, frame.multi))
                return K.MODULE
            helper = self.a.helper_function(name)
            if helper is not None:
                return self._helper(helper, call, arg_kinds, None, skip_self=False)
            return K.TENSOR if K.TENSOR in arg_kinds else K.UNKNOWN
        # (expr)(...): a module built and applied at once, a subscripted module...
        callee = self.eval(func)
        arg_kinds = self._eval_args(call)
        if callee in (K.MODULE, K.MODULES, K.UNKNOWN, K.FUNCTION) or K.TENSOR in arg_kinds:
            return K.TENSOR
        return K.UNKNOWN

    def _module_result(self, call: nodes.Call, targets) -> str:
        kind, elts = self.a.module_result(targets)
        if elts is not None:
            self.elt_kinds[call] = elts
        return kind

    def _submodule_method(self, call: nodes.Call, func: nodes.Attribute) -> str | None:
        """`self.attention_structure.init_inputs(x)`: a same-file method of a submodule."""
        owner = self.frame.owner
        if owner is None or not _is_self_attr(func.expr) or func.attrname == "forward":
            return None
        fact = owner.attrs.get(func.expr.attrname)
        if fact is None or fact.kind != attrs.MODULE:
            return None
        for target in self._fact_targets(fact):
            method = target.methods.get(func.attrname)
            if method is None or not isinstance(method.parent, nodes.ClassDef) or _is_property(method):
                continue
            self._eval_args(call)
            params = list(method.args.posonlyargs or []) + list(method.args.args or [])
            if params and not _is_staticmethod(method):
                params = params[1:]
            kinds: dict[str, str] = {}
            for param, arg in zip(params, call.args):
                if isinstance(arg, nodes.Starred):
                    break
                kinds[param.name] = self.kind_cache.get(arg, K.UNKNOWN)
            for kw in call.keywords or ():
                if kw.arg:
                    kinds[kw.arg] = self.kind_cache.get(kw.value, K.UNKNOWN)
            helper_owner = self.a.index.classes.get(method.parent, target)
            result, _paths, elts = self.a.call_helper(method, call, kinds, self.frame, helper_owner, foreign=True)
            if elts is not None:
                self.elt_kinds[call] = elts
            return result
        if func.attrname in _FLOAT_FUNCTIONAL_METHODS:
            # `self.add.add(a, b)`: a FloatFunctional used through its method is one call of that module
            self._eval_args(call)
            self._record_module_call(call, func.expr.attrname)
            return K.TENSOR
        return None

    def _helper(self, func, call, arg_kinds, owner, skip_self: bool) -> str:
        params = list(func.args.posonlyargs or []) + list(func.args.args or [])
        if skip_self and params and not _is_staticmethod(func):
            params = params[1:]
        kinds: dict[str, str] = {}
        for param, arg in zip(params, call.args):
            if isinstance(arg, nodes.Starred):
                break
            kinds[param.name] = self.kind_cache.get(arg, K.UNKNOWN)
        for kw in call.keywords or ():
            if kw.arg:
                kinds[kw.arg] = self.kind_cache.get(kw.value, K.UNKNOWN)
        helper_owner = owner
        if owner is not None and isinstance(func.parent, nodes.ClassDef):
            helper_owner = self.a.index.classes.get(func.parent, owner)
        result, paths, elts = self.a.call_helper(func, call, kinds, self.frame, helper_owner)
        self.counts = _plus(self.counts, _cmax(paths.fall, paths.done) or _empty())
        if elts is not None:
            self.elt_kinds[call] = elts
        return result

    @staticmethod
    def _index_only(arg_kinds) -> bool:
        """The call reads index tensors and nothing that may be an activation."""
        return (K.INDEX in arg_kinds or K.INDEXES in arg_kinds) and not any(
            k in (K.TENSOR, K.TENSORS, K.UNKNOWN) for k in arg_kinds)

    @staticmethod
    def _numbers_only(arg_kinds) -> bool:
        """`torch.ceil(h / p)` under tracing: shape arithmetic spelled with torch."""
        return bool(arg_kinds) and all(k in (K.NUMBER, K.SHAPE, K.OTHER) for k in arg_kinds) and any(
            k in (K.NUMBER, K.SHAPE) for k in arg_kinds)

    def _factory(self, call: nodes.Call, qname: str, arg_kinds) -> str:
        word = _dtype_word(_keyword(call, "dtype"))
        if qname in ("torch.zeros_like", "torch.ones_like", "torch.full_like", "torch.empty_like",
                     "torch.rand_like", "torch.randn_like") and word is None and arg_kinds:
            return K.INDEX if arg_kinds[0] == K.INDEX else K.TENSOR
        if qname in ("torch.tensor", "torch.as_tensor", "torch.scalar_tensor") and arg_kinds \
                and arg_kinds[0] == K.NUMBER:
            return K.INDEX  # a 0-dim constant (`torch.tensor(d, dtype=torch.float)`): no activation
        if qname in _INDEX_FACTORIES:
            if word == "int":
                return K.INDEX
            if word == "float" or K.TENSOR in arg_kinds:
                return K.TENSOR
            if qname in ("torch.tensor", "torch.as_tensor", "torch.arange", "torch.range") and any(
                    isinstance(c, nodes.Const) and isinstance(c.value, float) for c in call.nodes_of_class(nodes.Const)):
                return K.TENSOR  # torch.tensor(0.5), torch.arange(0, 1, 0.1)
            return K.INDEX
        return K.INDEX if word == "int" else K.TENSOR

    def _qualified_call(self, call: nodes.Call, qname: str) -> str:
        arg_kinds = self._eval_args(call)
        if qname in TENSOR_FACTORIES or qname in _INDEX_FACTORIES:
            return self._factory(call, qname, arg_kinds)
        if qname in _TORCH_QUERIES:
            return K.OTHER
        spec = OPS.get(qname)
        short = qname.rsplit(".", 1)[1]
        if spec is not None:
            if self._index_only(arg_kinds):
                return K.INDEXES if short in _SPLITTING else K.INDEX
            if self._numbers_only(arg_kinds):
                return K.NUMBER
            bound = bind_arguments(call, spec.params)
            self._record_op(call, spec, arg_kinds, bound)
            if short in ("argmax", "argmin", "argsort"):
                return K.INDEX
            return K.TENSORS if short in _SPLITTING else K.TENSOR
        if qname.startswith("torch.nn.") and not qname.startswith(("torch.nn.functional.", "torch.nn.init.",
                                                                     "torch.nn.utils.")):
            last = qname.rsplit(".", 1)[1]
            if last[:1].isupper() and last not in TENSOR_CLASSES:
                self.a.inline.setdefault(call, InlineModule(call, qname, self.frame.owner, self.frame.multi))
                return K.MODULE
        if qname.startswith("torch.nn.functional."):
            return K.TENSOR
        if qname in _NUMERIC_BUILTINS:
            return K.NUMBER
        if qname.startswith("torch."):
            if short in _INDEX_METHODS:
                return K.INDEX  # torch.eq, torch.logical_not, torch.isnan...
            if K.TENSOR in arg_kinds or K.TENSORS in arg_kinds:
                return K.TENSOR
            if self._index_only(arg_kinds):
                return K.INDEX
        if qname.startswith("math."):
            return K.NUMBER
        return K.UNKNOWN

    def _method_call(self, call: nodes.Call, func: nodes.Attribute) -> str:  # noqa: C901
        result = self._submodule_method(call, func)
        if result is not None:
            return result
        receiver = self.eval(func.expr)
        arg_kinds = self._eval_args(call)
        name = func.attrname
        if receiver in (K.TENSOR, K.UNKNOWN, K.INDEX) and name in NON_TENSOR_METHODS:
            if receiver in (K.TENSOR, K.INDEX) or name in ("size", "dim", "numel", "item", "tolist"):
                if name == "size" and not call.args and not call.keywords:
                    return K.SHAPE
                return K.SEQ if name == "tolist" else K.NUMBER
        if name in ("append", "extend", "insert") and isinstance(func.expr, nodes.Name):
            if K.TENSOR in arg_kinds or K.TENSORS in arg_kinds:
                self.frame.env[func.expr.name] = K.TENSORS
            elif (K.INDEX in arg_kinds or K.INDEXES in arg_kinds) and receiver in (K.SEQ, K.INDEXES):
                self.frame.env[func.expr.name] = K.INDEXES
            return K.OTHER
        if receiver == K.INDEX:
            return self._index_method(call, name, arg_kinds)
        if receiver in (K.TENSOR, K.UNKNOWN) and name in ("long", "int", "bool", "byte", "short"):
            return K.INDEX
        if receiver in (K.TENSOR, K.UNKNOWN) and name in ("to", "type"):
            dtype = _keyword(call, "dtype")
            if dtype is None and call.args and self.kind_cache.get(call.args[0]) == K.OTHER:
                dtype = call.args[0]
            if _dtype_word(dtype) == "int":
                return K.INDEX  # .to(torch.long), .to(device=d, dtype=torch.bool)
        spec = OPS.get("Tensor." + name)
        if spec is not None and (receiver == K.TENSOR or (receiver == K.UNKNOWN and spec.receiver_hint)):
            bound = bind_arguments(call, spec.params, receiver=func.expr)
            self._record_op(call, spec, (receiver, *arg_kinds), bound)
            if name in _INDEX_METHODS:
                return K.INDEX
            return K.TENSORS if name in _SPLITTING else K.TENSOR
        if receiver == K.TENSOR:
            if name in _INDEX_METHODS:
                return K.INDEX
            return K.TENSORS if name in _SPLITTING else K.TENSOR
        if receiver == K.UNKNOWN and name in _TENSOR_ONLY_METHODS:
            return K.TENSOR
        if receiver == K.MODULES and name in ("values", "children", "modules"):
            return K.MODULES
        if receiver == K.MODULE and name == "forward":
            return K.TENSOR
        if receiver in (K.TENSORS, K.INDEXES) and name in ("pop", "__getitem__"):
            return K.TENSOR if receiver == K.TENSORS else K.INDEX
        return K.UNKNOWN

    def _index_method(self, call: nodes.Call, name: str, arg_kinds) -> str:
        """A method of an index tensor: index arithmetic, unless it turns floating-point."""
        if name in ("type_as", "to") and call.args and self.kind_cache.get(call.args[0]) == K.INDEX:
            return K.INDEX
        if name in _FLOAT_CASTS:
            return K.TENSOR
        if name == "to":
            args = list(call.args) + [kw.value for kw in call.keywords or () if kw.arg != "device"]
            if any(_dtype_word(a) == "float" or self.kind_cache.get(a) == K.TENSOR for a in args) or any(
                    kw.arg == "dtype" for kw in call.keywords or ()):
                return K.TENSOR
            return K.INDEX
        if _dtype_word(_keyword(call, "dtype")) == "float":
            return K.TENSOR  # mask.cumsum(1, dtype=torch.float32)
        if K.TENSOR in arg_kinds and name not in ("masked_fill", "masked_fill_", "index_select", "gather",
                                                   "view", "reshape", "expand", "expand_as", "view_as",
                                                   "reshape_as", "repeat"):
            spec = OPS.get("Tensor." + name)
            if spec is not None:
                bound = bind_arguments(call, spec.params, receiver=call.func.expr)
                self._record_op(call, spec, (K.INDEX, *arg_kinds), bound)
            return K.TENSOR
        return K.INDEXES if name in _SPLITTING else K.INDEX


def _conditions(node: nodes.NodeNG) -> dict[str, bool]:
    """Conditions (source text) that hold where `node` runs, with their truth value."""
    out: dict[str, bool] = {}
    child, parent = node, node.parent
    scope = node.frame()
    while parent is not None and parent is not scope:
        test, truth = None, True
        if isinstance(parent, nodes.If) and child is not parent.test:
            test, truth = parent.test, child in parent.body
        elif isinstance(parent, nodes.IfExp) and child is not parent.test:
            test, truth = parent.test, child is parent.body
        if test is not None:
            while isinstance(test, nodes.UnaryOp) and test.op == "not":
                test, truth = test.operand, not truth
            out.setdefault(test.as_string(), truth)
        child, parent = parent, parent.parent
    return out


def _may_share_path(a: nodes.NodeNG, b: nodes.NodeNG) -> bool:
    """False when `a` and `b` sit in mutually exclusive arms (if/else, `x if c else y`, match cases),
    or under one condition taken both ways (`x if c else f(x)` ... `f(x) if c else x`)."""
    if a.frame() is not b.frame():
        return True  # a helper: it may run on any path
    cond_a, cond_b = _conditions(a), _conditions(b)
    if any(text in cond_b and cond_b[text] != truth for text, truth in cond_a.items()):
        return False
    chain_a = []
    node = a
    while node is not None:
        chain_a.append(node)
        node = node.parent
    ids = {id(n): i for i, n in enumerate(chain_a)}
    child_b = b
    node = b
    while node is not None and id(node) not in ids:
        child_b = node
        node = node.parent
    if node is None:
        return True
    common = node
    index = ids[id(common)]
    if index == 0:
        return True  # one contains the other
    child_a = chain_a[index - 1]

    def arm(stmt_or_expr, child) -> str | None:
        if isinstance(stmt_or_expr, nodes.If):
            if child in stmt_or_expr.body:
                return "body"
            if child in stmt_or_expr.orelse:
                return "orelse"
            return None
        if isinstance(stmt_or_expr, nodes.IfExp):
            if child is stmt_or_expr.body:
                return "body"
            if child is stmt_or_expr.orelse:
                return "orelse"
            return None
        if isinstance(stmt_or_expr, nodes.Match):
            return str(id(child)) if child in stmt_or_expr.cases else None
        if isinstance(stmt_or_expr, nodes.Try):
            return str(id(child)) if child in stmt_or_expr.handlers else None
        return None

    arm_a, arm_b = arm(common, child_a), arm(common, child_b)
    return not (arm_a is not None and arm_b is not None and arm_a != arm_b)


def _class_constant_kind(owner: ClassInfo, name: str) -> str:
    """`self.gain` where the class body says `gain = 2`: a Python number, not a tensor."""
    for info in owner.mro():
        for node in info.node.locals.get(name, ()):
            if isinstance(node, nodes.AssignName) and isinstance(node.parent, nodes.Assign) \
                    and node.parent.parent is info.node:
                kind = K.literal_kind(node.parent.value)
                return kind if kind in (K.NUMBER, K.OTHER, K.SEQ) else K.UNKNOWN
    return K.UNKNOWN


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
