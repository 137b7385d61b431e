"""What a call in forward code is and returns: submodule, helper, torch op, tensor method.

`CallKinds` is the call half of `values.Evaluator` (`self.eval` lives there): it
dispatches on the callee (`self.<submodule>(...)`, `self.<method>(...)`, a
same-file helper, a qualified torch name, a method of a tensor), records op
sites and module calls, and walks helpers at the call with the argument kinds.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import kinds as K
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.paths import cmax, empty, plus
from pylint_distiller.analysis.sites import Events, InlineModule, bind_arguments
from pylint_distiller.analysis.syntax import dtype_word, is_property, is_self_attr, is_staticmethod, keyword
from pylint_distiller.catalogue import NON_TENSOR_METHODS, OPS, TENSOR_CLASSES, TENSOR_FACTORIES

_SPLITTING = frozenset(("chunk", "split", "unbind", "tensor_split", "split_with_sizes"))
_NUMERIC_BUILTINS = frozenset(("len", "int", "float", "round", "math.sqrt", "math.ceil", "math.floor",
                               "math.log", "math.log2", "math.prod", "math.exp", "math.pow", "math.gcd",
                               "math.isqrt", "divmod"))
_SEQ_BUILTINS = frozenset(("range", "enumerate", "zip", "tuple", "list", "sorted", "reversed", "map", "filter"))
_OTHER_BUILTINS = frozenset(("isinstance", "hasattr", "getattr", "callable", "str", "bool", "print", "repr",
                             "type", "id", "dict", "set", "any", "all", "issubclass", "format", "setattr",
                             "vars", "next", "iter", "hash"))
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
_FLOAT_FUNCTIONAL_METHODS = frozenset(("add", "add_scalar", "mul", "mul_scalar", "cat", "add_relu", "matmul"))


class CallKinds(Events):
    """Calls: the callee dispatch of the expression evaluator."""

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
        out += [info for info in self.a.index.foreign_module_classes(fact) if info not in out]
        return tuple(out)

    def _call(self, call: nodes.Call) -> str:  # noqa: C901 - callee dispatch
        func = call.func
        frame = self.frame
        owner = frame.owner
        # self.<name>(...): a submodule, a helper method, or a stored function
        if is_self_attr(func) and owner is not None:
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
        if isinstance(func, nodes.Subscript) and owner is not None and is_self_attr(func.value):
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
        qname = self.frame.scope.imports.qualify(func)
        if qname is not None:
            helper = self.a.project_function(func, frame) if not qname.startswith(("torch.", "math.")) else None
            if helper is not None:  # a helper imported from another file of the project
                return self._helper(helper, call, self._eval_args(call), None, skip_self=False)
            return self._qualified_call(call, qname)
        if isinstance(func, nodes.Attribute):
            method = self._super_method(func)
            if method is not None:
                arg_kinds = self._eval_args(call)
                return self._helper(method, call, arg_kinds, owner, skip_self=True)
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
            helper = self.a.helper_function(name, frame)
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
        if owner is None or not is_self_attr(func.expr) or func.attrname == "forward":
            return None
        fact = owner.attrs.get(func.expr.attrname)
        if fact is None or fact.kind != attrs.MODULE:
            return None
        for target in self._fact_targets(fact):
            method = target.methods.get(func.attrname)
            if method is None or not isinstance(method.parent, nodes.ClassDef) or is_property(method):
                continue
            self._eval_args(call)
            kinds = self._argument_kinds(method, call, skip_self=True)
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

    def _argument_kinds(self, func: nodes.FunctionDef, call: nodes.Call, skip_self: bool) -> dict[str, str]:
        """Parameter name -> kind of the argument this call passes (up to a starred argument)."""
        params = list(func.args.posonlyargs or []) + list(func.args.args or [])
        if skip_self and params and not is_staticmethod(func):
            params = params[1:]
        kinds: dict[str, str] = {}
        for param, arg in zip(params, call.args):
            if isinstance(arg, nodes.Starred):
                break
            kinds[param.name] = self.kind_cache.get(arg, K.UNKNOWN)
        for kw in call.keywords or ():
            if kw.arg:
                kinds[kw.arg] = self.kind_cache.get(kw.value, K.UNKNOWN)
        return kinds

    def _helper(self, func, call, arg_kinds, owner, skip_self: bool) -> str:
        kinds = self._argument_kinds(func, call, skip_self)
        helper_owner = owner
        if owner is not None and isinstance(func.parent, nodes.ClassDef) and \
                not any(base.node is func.parent for base in owner.mro()):
            # a method of another class: its own members; a method of a base of the walked
            # class (inherited, or reached through super()) sees the walked class's members
            helper_owner = self.a.index.classes.get(func.parent, owner)
        result, paths, elts = self.a.call_helper(func, call, kinds, self.frame, helper_owner)
        self.counts = plus(self.counts, cmax(paths.fall, paths.done) or empty())
        self.counts[call] += 2 if self.frame.multi else 1  # runs of this call per path (`helper_calls.py`)
        if elts is not None:
            self.elt_kinds[call] = elts
        return result

    def _super_method(self, func: nodes.Attribute) -> nodes.FunctionDef | None:
        """`super().forward_head(x)`: the method of the next class in the walked class's bases that defines it."""
        expr, owner = func.expr, self.frame.owner
        if owner is None or not (isinstance(expr, nodes.Call) and isinstance(expr.func, nodes.Name)
                                 and expr.func.name == "super" and len(expr.args) in (0, 2)):
            return None
        here = self.frame.function.parent
        order = owner.mro()
        start = next((i for i, info in enumerate(order) if info.node is here), None)
        if start is None:
            return None
        for info in order[start + 1:]:
            for node in info.node.locals.get(func.attrname, ()):
                if isinstance(node, nodes.FunctionDef) and node.parent is info.node and not is_property(node):
                    return node
        return None

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
        word = dtype_word(keyword(call, "dtype"))
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
                    isinstance(c, nodes.Const) and isinstance(c.value, float) for c in nodes_in(call, nodes.Const)):
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
            dtype = keyword(call, "dtype")
            if dtype is None and call.args and self.kind_cache.get(call.args[0]) == K.OTHER:
                dtype = call.args[0]
            if dtype_word(dtype) == "int":
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
            if any(dtype_word(a) == "float" or self.kind_cache.get(a) == K.TENSOR for a in args) or any(
                    kw.arg == "dtype" for kw in call.keywords or ()):
                return K.TENSOR
            return K.INDEX
        if dtype_word(keyword(call, "dtype")) == "float":
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
