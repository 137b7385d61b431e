"""Walk forward code once: tensor facts, op sites and module calls per path.

Forward code is `forward` of every module class plus the methods and same-file
functions it calls (walked at each call, with the argument kinds of that call).
The walk is an abstract interpretation in statement order:

* an environment maps local names to kinds (`kinds.py`), so `x.size(0) * 2` is
  shape arithmetic while `x * 2` is a tensor op;
* every op site found is recorded with the context it ran in (inside a loop, a
  comprehension, a helper called twice: executed more than once per pass);
* calls of submodules are counted per execution path: `walk_block` returns the
  counts of paths that fall through and of paths that ended (return/raise), and
  branches join by maximum, so calls in exclusive branches are one call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo, ModuleIndex
from pylint_distiller.catalogue import (
    NON_TENSOR_METHODS,
    OPS,
    TENSOR_FACTORIES,
    TENSOR_METADATA_ATTRS,
    OpSpec,
)

_BINOPS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "@": "matmul",
           "**": "pow", "%": "mod"}
_AUGOPS = {k + "=": v for k, v in _BINOPS.items()}
_SPLITTING = frozenset(("chunk", "split", "unbind", "tensor_split"))
_NUMERIC_BUILTINS = frozenset(("len", "int", "float", "round", "math.sqrt", "math.ceil", "math.floor",
                               "math.log", "math.log2", "math.prod", "math.exp", "math.pow"))
_SEQ_BUILTINS = frozenset(("range", "enumerate", "zip", "tuple", "list", "sorted", "reversed", "map", "filter"))
_OTHER_BUILTINS = frozenset(("isinstance", "hasattr", "getattr", "callable", "str", "bool", "print", "repr",
                             "type", "id", "dict", "set", "any", "all", "issubclass", "format"))
_NO_GRAD = frozenset(("torch.no_grad", "torch.inference_mode", "torch.enable_grad"))
_SKIP_DECORATORS = frozenset(("torch.no_grad", "torch.inference_mode", "torch.jit.ignore", "torch.jit.unused",
                              "torch.jit.unused"))
_TENSOR_ONLY_METHODS = frozenset(("view", "reshape", "permute", "transpose", "contiguous", "unsqueeze",
                                  "squeeze", "expand", "expand_as", "flatten", "type_as", "view_as",
                                  "masked_fill", "softmax", "float", "half", "detach", "clone", "to"))
_MAX_DEPTH = 12
_VISIT_BUDGET = 200_000


@dataclass
class Paths:
    """Submodule call counts of the paths through a block."""

    fall: Counter | None = field(default_factory=Counter)  # paths that fall through (None: none do)
    done: Counter = field(default_factory=Counter)  # max over paths that returned/raised


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


@dataclass
class ModuleCall:
    node: nodes.Call
    attr: str  # canonical attribute name
    owner: ClassInfo
    visits: int = 0
    multi: bool = False


@dataclass
class InlineModule:
    node: nodes.Call
    qname: str
    owner: ClassInfo | None
    multi: bool = False


@dataclass
class _Frame:
    owner: ClassInfo | None
    function: nodes.FunctionDef
    env: dict[str, str]
    multi: bool
    silent: bool
    depth: int
    returns: str | None = None


class ForwardAnalysis:
    """Walks every forward of one file; results are keyed by node."""

    def __init__(self, index: ModuleIndex, module_node: nodes.Module) -> None:
        self.index = index
        self.imports = index.imports
        self.module_node = module_node
        self.ops: dict[nodes.NodeNG, OpSite] = {}
        self.calls: dict[nodes.Call, ModuleCall] = {}
        self.inline: dict[nodes.Call, InlineModule] = {}
        self.forward_assigned: dict[ClassInfo, set[str]] = {}
        self.per_forward: list[tuple[ClassInfo, nodes.FunctionDef, Counter, list[nodes.Call]]] = []
        self._functions = {
            f.name: f for f in module_node.body if isinstance(f, nodes.FunctionDef)
        }
        self._budget = _VISIT_BUDGET
        self._stack: list[nodes.FunctionDef] = []
        self._current_calls: list[nodes.Call] = []

    # ------------------------------------------------------------------ entry
    def run(self) -> None:
        for info in self.index.module_classes():
            forward = info.node.locals.get("forward")
            if not forward or not isinstance(forward[0], nodes.FunctionDef) or forward[0].parent is not info.node:
                continue
            func = forward[0]
            if self._skipped(func):
                continue
            self._current_calls = []
            env = self._param_env(func, None, is_forward=True)
            frame = _Frame(info, func, env, multi=False, silent=False, depth=0)
            self._stack = [func]
            paths = self.walk_block(func.body, frame)
            totals = _cmax(paths.fall, paths.done) or Counter()
            self.per_forward.append((info, func, totals, self._current_calls))

    def _skipped(self, func: nodes.FunctionDef) -> bool:
        if not func.decorators:
            return False
        for dec in func.decorators.nodes:
            target = dec.func if isinstance(dec, nodes.Call) else dec
            if self.imports.qualify(target) in _SKIP_DECORATORS:
                return True
        return False

    # -------------------------------------------------------------- parameters
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
        is_method = isinstance(func.parent, nodes.ClassDef) and not (
            func.decorators and any(getattr(d, "name", "") == "staticmethod" for d in func.decorators.nodes)
        )
        for i, (param, default, annotation) in enumerate(params):
            if i == 0 and is_method and positional and param is positional[0]:
                env[param.name] = K.MODULE
                continue
            kind = K.annotation_kind(annotation)
            if call_kinds is not None and param.name in call_kinds:
                kind = call_kinds[param.name] if kind is None or call_kinds[param.name] == K.TENSOR else kind
            if kind is None:
                if default is None or (isinstance(default, nodes.Const) and default.value is None):
                    kind = K.TENSOR if is_forward else K.UNKNOWN
                else:
                    kind = K.literal_kind(default)
            env[param.name] = kind
        if args.vararg:
            env[args.vararg] = K.TENSORS if is_forward else K.SEQ
        if args.kwarg:
            env[args.kwarg] = K.OTHER
        return env

    # -------------------------------------------------------------- statements
    def walk_block(self, stmts, frame: _Frame) -> Paths:
        fall: Counter | None = Counter()
        done: Counter = Counter()
        for stmt in stmts:
            p = self.walk_stmt(stmt, frame)
            done = _cmax(done, _plus(fall, p.done))
            if p.fall is None:
                return Paths(None, done)
            fall = _plus(fall, p.fall)
        return Paths(fall, done)

    def walk_stmt(self, stmt, frame: _Frame) -> Paths:
        self._budget -= 1
        ev = _Events(self, frame)
        if isinstance(stmt, nodes.Assign):
            kind = ev.eval(stmt.value)
            for target in stmt.targets:
                self._bind_target(target, kind, stmt.value, frame, ev)
            return ev.paths()
        if isinstance(stmt, nodes.AnnAssign):
            if stmt.value is not None:
                kind = ev.eval(stmt.value)
                self._bind_target(stmt.target, kind, stmt.value, frame, ev)
            return ev.paths()
        if isinstance(stmt, nodes.AugAssign):
            ev.aug_assign(stmt)
            return ev.paths()
        if isinstance(stmt, nodes.Expr):
            ev.eval(stmt.value)
            return ev.paths()
        if isinstance(stmt, nodes.Return):
            if stmt.value is not None:
                frame.returns = K.join(frame.returns, ev.eval(stmt.value))
            return Paths(None, ev.counts)
        if isinstance(stmt, nodes.Raise):
            return Paths(None, Counter())
        if isinstance(stmt, nodes.If):
            ev.eval(stmt.test)
            body = self.walk_block(stmt.body, frame)
            orelse = self.walk_block(stmt.orelse, frame)
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
            handler_done: Counter = Counter()
            for handler in stmt.handlers:
                if handler.name is not None:
                    frame.env[handler.name.name] = K.OTHER
                h = self.walk_block(handler.body, frame)
                handler_fall = _cmax(handler_fall, h.fall)
                handler_done = _cmax(handler_done, h.done)
            body_all = _cmax(body.fall, body.done) or Counter()
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
            done: Counter = Counter()
            exhaustive = False
            for case in stmt.cases:
                p = self.walk_block(case.body, frame)
                fall, done = _cmax(fall, p.fall), _cmax(done, p.done)
                exhaustive = exhaustive or (isinstance(case.pattern, nodes.MatchAs) and case.pattern.pattern is None)
            if not exhaustive:
                fall = _cmax(fall, Counter())
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
            if isinstance(child, nodes.NodeNG) and not isinstance(child, nodes.Statement):
                ev.eval(child)
        return ev.paths()

    def _walk_loop(self, stmt, frame: _Frame, ev: "_Events") -> Paths:
        if isinstance(stmt, nodes.For):
            kind = ev.eval(stmt.iter)
            self._bind_loop_target(stmt.target, stmt.iter, kind, frame, ev)
        else:
            ev.eval(stmt.test)
        old, frame.multi = frame.multi, True
        body = self.walk_block(stmt.body, frame)
        frame.multi = old
        orelse = self.walk_block(stmt.orelse, frame)
        once = _cmax(body.fall, body.done) or Counter()
        fall = _plus(_times(once, 2), orelse.fall) if orelse.fall is not None else None
        if fall is None and not stmt.orelse:
            fall = _times(once, 2)
        return ev.then(Paths(fall, _times(body.done, 2)))

    # ------------------------------------------------------------- bindings
    def _bind_target(self, target, kind: str, value, frame: _Frame, ev: "_Events") -> None:
        if isinstance(target, nodes.AssignName):
            frame.env[target.name] = kind
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            elts = value.elts if isinstance(value, (nodes.Tuple, nodes.List)) and len(value.elts) == len(target.elts) else None
            for i, elt in enumerate(target.elts):
                if elts is not None:
                    sub = ev.kind_cache.get(elts[i], K.UNKNOWN)
                else:
                    sub = {K.TENSOR: K.TENSOR, K.TENSORS: K.TENSOR, K.SHAPE: K.NUMBER,
                           K.MODULES: K.MODULE}.get(kind, K.UNKNOWN)
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

    def _bind_loop_target(self, target, iter_node, kind: str, frame: _Frame, ev: "_Events") -> None:
        element = {K.MODULES: K.MODULE, K.TENSORS: K.TENSOR, K.TENSOR: K.TENSOR,
                   K.SHAPE: K.NUMBER}.get(kind, K.UNKNOWN)
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Name):
            name = iter_node.func.name
            if name == "range":
                element = K.NUMBER
            elif name == "enumerate" and iter_node.args and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                inner = ev.kind_cache.get(iter_node.args[0], K.UNKNOWN)
                inner_el = {K.MODULES: K.MODULE, K.TENSORS: K.TENSOR, K.TENSOR: K.TENSOR,
                            K.SHAPE: K.NUMBER}.get(inner, K.UNKNOWN)
                self._bind_target(target.elts[0], K.NUMBER, None, frame, ev)
                self._bind_target(target.elts[1], inner_el, None, frame, ev)
                return
            elif name == "zip" and isinstance(target, nodes.Tuple) and len(target.elts) == len(iter_node.args):
                for elt, arg in zip(target.elts, iter_node.args):
                    inner = ev.kind_cache.get(arg, K.UNKNOWN)
                    self._bind_target(elt, {K.MODULES: K.MODULE, K.TENSORS: K.TENSOR, K.TENSOR: K.TENSOR}.get(
                        inner, K.UNKNOWN), None, frame, ev)
                return
        if isinstance(iter_node, nodes.Call) and isinstance(iter_node.func, nodes.Attribute) and \
                iter_node.func.attrname in ("items", "values") and ev.kind_cache.get(iter_node.func.expr) == K.MODULES:
            element = K.MODULE if iter_node.func.attrname == "values" else K.UNKNOWN
            if iter_node.func.attrname == "items" and isinstance(target, nodes.Tuple) and len(target.elts) == 2:
                self._bind_target(target.elts[0], K.OTHER, None, frame, ev)
                self._bind_target(target.elts[1], K.MODULE, None, frame, ev)
                return
        self._bind_target(target, element, None, frame, ev)

    # ----------------------------------------------------------------- helpers
    def call_helper(self, func: nodes.FunctionDef, call: nodes.Call, arg_kinds: dict[str, str],
                    frame: _Frame, owner: ClassInfo | None) -> tuple[str, Paths]:
        """Walk a same-file helper at this call; returns its result kind and paths."""
        if func in self._stack or frame.depth >= _MAX_DEPTH or self._budget <= 0 or self._skipped(func):
            return K.UNKNOWN, Paths()
        env = self._param_env(func, arg_kinds, is_forward=False)
        sub = _Frame(owner, func, env, multi=frame.multi, silent=frame.silent, depth=frame.depth + 1)
        self._stack.append(func)
        try:
            paths = self.walk_block(func.body, sub)
        finally:
            self._stack.pop()
        return sub.returns or K.UNKNOWN, paths

    def helper_function(self, name: str) -> nodes.FunctionDef | None:
        return self._functions.get(name)


class _Events:
    """Evaluates the expressions of one statement, collecting its module calls."""

    def __init__(self, analysis: ForwardAnalysis, frame: _Frame) -> None:
        self.a = analysis
        self.frame = frame
        self.counts: Counter = Counter()
        self.kind_cache: dict[nodes.NodeNG, str] = {}

    def paths(self) -> Paths:
        return Paths(self.counts, Counter())

    def then(self, rest: Paths) -> Paths:
        fall = None if rest.fall is None else _plus(self.counts, rest.fall)
        return Paths(fall, _plus(self.counts, rest.done) if rest.done else Counter())

    # ------------------------------------------------------------- recording
    def _record_op(self, node, spec: OpSpec, kinds, bound, via_attribute=None) -> None:
        site = self.a.ops.get(node)
        if site is None:
            site = self.a.ops[node] = OpSite(node, spec, tuple(kinds), bound, self.frame.owner,
                                             via_attribute=via_attribute)
        site.visits += 1
        site.multi = site.multi or self.frame.multi or site.visits > 1
        site.loud = site.loud or not self.frame.silent

    def _record_module_call(self, node: nodes.Call, attr: str) -> None:
        owner = self.frame.owner
        record = self.a.calls.get(node)
        if record is None:
            record = self.a.calls[node] = ModuleCall(node, attr, owner)
        record.visits += 1
        record.multi = record.multi or self.frame.multi or record.visits > 1
        self.a._current_calls.append(node)
        self.counts[attr] += 2 if self.frame.multi else 1

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
            return kind if node.op in ("-", "+", "~") else K.OTHER
        if isinstance(node, nodes.Subscript):
            return self._subscript(node)
        if isinstance(node, (nodes.Tuple, nodes.List, nodes.Set)):
            kinds = [self.eval(e) for e in node.elts]
            if kinds and all(k in (K.NUMBER,) for k in kinds):
                return K.SHAPE
            return K.TENSORS if K.TENSOR in kinds else K.SEQ
        if isinstance(node, nodes.Dict):
            for key, value in node.items:
                self.eval(key)
                self.eval(value)
            return K.OTHER
        if isinstance(node, nodes.Compare):
            kinds = [self.eval(node.left)] + [self.eval(right) for _, right in node.ops]
            return K.TENSOR if K.TENSOR in kinds and not any(op in ("is", "is not", "in", "not in")
                                                            for op, _ in node.ops) else K.OTHER
        if isinstance(node, nodes.BoolOp):
            kind = None
            for value in node.values:
                kind = K.join(kind, self.eval(value))
            return kind or K.UNKNOWN
        if isinstance(node, nodes.IfExp):
            self.eval(node.test)
            saved = self.counts
            self.counts = Counter()
            body = self.eval(node.body)
            body_counts, self.counts = self.counts, Counter()
            orelse = self.eval(node.orelse)
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

    def _attribute(self, node: nodes.Attribute) -> str:
        expr = node.expr
        if isinstance(expr, nodes.Name) and expr.name == "self" and self.frame.owner is not None:
            if node.attrname == "training":
                return K.OTHER
            fact = self.frame.owner.attrs.get(node.attrname)
            if fact is None:
                return K.UNKNOWN
            return {attrs.MODULE: K.MODULE, attrs.CONTAINER: K.MODULES, attrs.TENSOR: K.TENSOR,
                    attrs.CONST: self._const_kind(fact), attrs.FUNCTION: K.FUNCTION}.get(fact.kind, K.UNKNOWN)
        qname = self.a.imports.qualify(node)
        if qname is not None:
            return K.UNKNOWN
        kind = self.eval(expr)
        if kind == K.TENSOR:
            if node.attrname == "shape":
                return K.SHAPE
            if node.attrname in TENSOR_METADATA_ATTRS:
                return K.NUMBER if node.attrname == "ndim" else K.OTHER
            return K.TENSOR
        if kind == K.MODULE:
            return K.TENSOR if node.attrname in ("weight", "bias") else K.UNKNOWN
        if node.attrname in ("shape",):
            return K.SHAPE
        if node.attrname == "ndim":
            return K.NUMBER
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
        if kind == K.TENSOR:
            return K.TENSOR
        if kind == K.SHAPE:
            return K.SHAPE if is_slice else K.NUMBER
        if kind == K.TENSORS:
            return K.TENSORS if is_slice else K.TENSOR
        if kind == K.MODULES:
            return K.MODULES if is_slice else K.MODULE
        return K.UNKNOWN

    def _comprehension(self, node) -> str:
        old_multi, self.frame.multi = self.frame.multi, True
        saved_env = dict(self.frame.env)
        try:
            for gen in node.generators:
                kind = self.eval(gen.iter)
                self.a._bind_loop_target(gen.target, gen.iter, kind, self.frame, self)
                for cond in gen.ifs:
                    self.eval(cond)
            if isinstance(node, nodes.DictComp):
                self.eval(node.key)
                elt = self.eval(node.value)
                return K.OTHER
            elt = self.eval(node.elt)
        finally:
            self.frame.multi = old_multi
            self.frame.env.clear()
            self.frame.env.update(saved_env)
        if isinstance(node, nodes.GeneratorExp):
            return K.TENSORS if elt == K.TENSOR else K.SEQ
        return K.TENSORS if elt == K.TENSOR else (K.SHAPE if elt == K.NUMBER else K.SEQ)

    # ------------------------------------------------------------- operators
    def _binop(self, node: nodes.BinOp) -> str:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = _BINOPS.get(node.op)
        if op is None:
            return K.TENSOR if K.TENSOR in (left, right) else K.UNKNOWN
        if self._is_tensor_op(op, left, right):
            self._record_op(node, OPS[f"operator.{op}"], (left, right),
                            {"input": node.left, "other": node.right})
            return K.TENSOR
        if left in K.CONTAINERS or right in K.CONTAINERS:
            if node.op == "%" and left == K.OTHER:
                return K.OTHER
            if left == K.SHAPE and right in (K.SHAPE, K.NUMBER) or right == K.SHAPE and left == K.NUMBER:
                return K.SHAPE
            return K.SEQ if node.op in ("+", "*") else K.UNKNOWN
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
        return left in (K.TENSOR, K.NUMBER, K.UNKNOWN) and right in (K.TENSOR, K.NUMBER, K.UNKNOWN)

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
            elif left == K.TENSOR:
                left = K.UNKNOWN
        else:
            left = self.eval(target.value) if isinstance(target, nodes.Subscript) else K.UNKNOWN
            if isinstance(target, nodes.Subscript):
                self.eval(target.slice)
                left = K.TENSOR if left == K.TENSOR else K.UNKNOWN
        right = self.eval(stmt.value)
        op = _AUGOPS.get(stmt.op)
        if op is not None and self._is_tensor_op(op, left, right):
            self._record_op(stmt, OPS[f"operator.i{op}"], (left, right), {"input": target, "other": stmt.value})
            kind = K.TENSOR
        elif left in K.CONTAINERS:
            kind = left
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

    def _call(self, call: nodes.Call) -> str:  # noqa: C901 - callee dispatch
        func = call.func
        frame = self.frame
        owner = frame.owner
        # self.<name>(...): a submodule, a helper method, or a stored function
        if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self" \
                and owner is not None:
            name = func.attrname
            fact = owner.attrs.get(name)
            if name in owner.methods and (fact is None or fact.kind not in (attrs.MODULE, attrs.CONTAINER)):
                arg_kinds = self._eval_args(call)
                return self._helper(owner.methods[name], call, arg_kinds, owner, skip_self=True)
            arg_kinds = self._eval_args(call)
            if fact is not None and fact.kind == attrs.FUNCTION:
                spec = OPS.get(fact.qname or "")
                if spec is not None:
                    self._record_op(call, spec, arg_kinds, None, via_attribute=name)
                return K.TENSOR if K.TENSOR in arg_kinds else K.UNKNOWN
            if fact is not None and fact.kind != attrs.CONST and fact.kind != attrs.TENSOR:
                canonical = name
                seen = set()
                while canonical in owner.attrs and owner.attrs[canonical].alias_of and canonical not in seen:
                    seen.add(canonical)
                    canonical = owner.attrs[canonical].alias_of
                self._record_module_call(call, canonical)
                return K.TENSOR
            return K.TENSOR if K.TENSOR in arg_kinds else K.UNKNOWN
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
                return K.TENSOR if kind in (K.MODULE, K.UNKNOWN, K.FUNCTION) else K.UNKNOWN
            arg_kinds = self._eval_args(call)
            if name in _NUMERIC_BUILTINS:
                return K.NUMBER
            if name in _SEQ_BUILTINS:
                if name in ("tuple", "list") and arg_kinds:
                    return {K.SHAPE: K.SHAPE, K.TENSORS: K.TENSORS, K.TENSOR: K.TENSORS}.get(arg_kinds[0], K.SEQ)
                return K.SEQ
            if name in _OTHER_BUILTINS:
                return K.OTHER
            if name in ("max", "min", "abs", "sum"):
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

    def _helper(self, func, call, arg_kinds, owner, skip_self: bool) -> str:
        params = list(func.args.posonlyargs or []) + list(func.args.args or [])
        if skip_self and params:
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
        result, paths = self.a.call_helper(func, call, kinds, self.frame, helper_owner)
        self.counts = _plus(self.counts, _cmax(paths.fall, paths.done) or Counter())
        return result

    def _qualified_call(self, call: nodes.Call, qname: str) -> str:
        arg_kinds = self._eval_args(call)
        if qname in TENSOR_FACTORIES:
            return K.TENSOR
        spec = OPS.get(qname)
        if spec is not None:
            bound = bind_arguments(call, spec.params)
            self._record_op(call, spec, arg_kinds, bound)
            return K.TENSORS if qname.rsplit(".", 1)[1] in _SPLITTING else K.TENSOR
        if qname.startswith("torch.nn.") and not qname.startswith(("torch.nn.functional.", "torch.nn.init.",
                                                                     "torch.nn.utils.")):
            last = qname.rsplit(".", 1)[1]
            if last[:1].isupper() and last != "Parameter":
                self.a.inline.setdefault(call, InlineModule(call, qname, self.frame.owner, self.frame.multi))
                return K.MODULE
        if qname.startswith("torch.nn.functional."):
            return K.TENSOR
        if qname in _NUMERIC_BUILTINS:
            return K.NUMBER
        if qname.startswith("torch.") and K.TENSOR in arg_kinds:
            return K.TENSOR
        if qname.startswith("math."):
            return K.NUMBER
        return K.UNKNOWN

    def _method_call(self, call: nodes.Call, func: nodes.Attribute) -> str:
        receiver = self.eval(func.expr)
        inner = func.expr
        if (receiver == K.MODULE and isinstance(inner, nodes.Attribute) and isinstance(inner.expr, nodes.Name)
                and inner.expr.name == "self" and self.frame.owner is not None):
            # `self.add.add(a, b)`: a FloatFunctional-style module used through a method
            self._eval_args(call)
            self._record_module_call(call, inner.attrname)
            return K.TENSOR
        arg_kinds = self._eval_args(call)
        name = func.attrname
        if receiver in (K.TENSOR, K.UNKNOWN) and name in NON_TENSOR_METHODS:
            if receiver == K.TENSOR or name in ("size", "dim", "numel", "item", "tolist"):
                if name == "size" and not call.args and not call.keywords:
                    return K.SHAPE
                return K.SEQ if name == "tolist" else K.NUMBER
        if name in ("append", "extend", "insert") and isinstance(func.expr, nodes.Name):
            if K.TENSOR in arg_kinds or K.TENSORS in arg_kinds:
                self.frame.env[func.expr.name] = K.TENSORS
            return K.OTHER
        spec = OPS.get("Tensor." + name)
        if spec is not None and (receiver == K.TENSOR or (receiver == K.UNKNOWN and spec.receiver_hint)):
            bound = bind_arguments(call, spec.params, receiver=func.expr)
            self._record_op(call, spec, (receiver, *arg_kinds), bound)
            return K.TENSORS if name in _SPLITTING else K.TENSOR
        if receiver == K.TENSOR:
            return K.TENSORS if name in _SPLITTING else K.TENSOR
        if receiver == K.UNKNOWN and name in _TENSOR_ONLY_METHODS:
            return K.TENSOR
        if receiver == K.MODULES and name in ("values", "children", "modules"):
            return K.MODULES
        if receiver == K.MODULE and name == "forward":
            return K.TENSOR
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
