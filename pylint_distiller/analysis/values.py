"""What kind of value each expression of forward code holds (`kinds.py`), and its op sites.

`Evaluator` evaluates the expressions of one statement in the frame's
environment, so `x.size(0) * 2` is shape arithmetic while `x * 2` is a tensor
op, and `torch.arange(n) + 1` is index arithmetic, not an activation op. Calls
are dispatched in `calls.py`, events recorded in `sites.py`.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.calls import CallKinds
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.paths import cmax, empty, plus
from pylint_distiller.analysis.syntax import is_property
from pylint_distiller.catalogue import OPS, TENSOR_METADATA_ATTRS

_BINOPS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "@": "matmul",
           "**": "pow", "%": "mod"}
_AUGOPS = {k + "=": v for k, v in _BINOPS.items()}
#: fields of model outputs (`outputs.hidden_states`) that hold tuples of tensors
_OUTPUT_TUPLES = frozenset(("hidden_states", "attentions", "cross_attentions", "all_hidden_states",
                            "all_attentions", "past_key_values", "encoder_hidden_states_all",
                            "reshaped_hidden_states", "decoder_hidden_states", "decoder_attentions",
                            "encoder_attentions", "intermediate_hidden_states"))


class Evaluator(CallKinds):
    """Evaluates the expressions of one statement, collecting its op sites and module calls."""

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
            helper = self.a.helper_function(node.name, self.frame)
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
            quiet_body, quiet_else = self.a.tracing_only(node.test, self.frame.scope.imports)
            silent = self.frame.silent
            saved = self.counts
            self.counts = empty()
            self.frame.silent = silent or quiet_body
            body = self.eval(node.body)
            body_counts, self.counts = self.counts, empty()
            self.frame.silent = silent or quiet_else
            orelse = self.eval(node.orelse)
            self.frame.silent = silent
            self.counts = plus(saved, cmax(body_counts, self.counts))
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
        self.counts = plus(self.counts, cmax(paths.fall, paths.done) or empty())
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
                    if is_property(method):
                        result, paths, _ = self.a.call_helper(method, None, {}, self.frame, helper_owner)
                        self.counts = plus(self.counts, cmax(paths.fall, paths.done) or empty())
                        return result
                    self._reference(method, helper_owner)
                    return K.FUNCTION
                return _class_constant_kind(owner, node.attrname)
            return {attrs.MODULE: K.MODULE, attrs.CONTAINER: K.MODULES, attrs.TENSOR: K.TENSOR,
                    attrs.CONST: self._const_kind(fact), attrs.FUNCTION: K.FUNCTION}.get(fact.kind, K.UNKNOWN)
        if isinstance(expr, nodes.Call) and self.frame.scope.imports.qualify(expr.func) in ("torch.finfo", "torch.iinfo"):
            self.eval(expr)
            return K.NUMBER if node.attrname in ("min", "max", "eps", "tiny", "smallest_normal", "resolution",
                                                 "bits") else K.OTHER
        qname = self.frame.scope.imports.qualify(node)
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


def _class_constant_kind(owner: ClassInfo, name: str) -> str:
    """`self.gain` where the class body says `gain = 2`: a Python number, not a tensor."""
    for info in owner.mro():
        for node in info.node.locals.get(name, ()):
            if isinstance(node, nodes.AssignName) and isinstance(node.parent, nodes.Assign) \
                    and node.parent.parent is info.node:
                kind = K.literal_kind(node.parent.value)
                return kind if kind in (K.NUMBER, K.OTHER, K.SEQ) else K.UNKNOWN
    return K.UNKNOWN
