"""Float parameters that cross a method, helper or module boundary (for the torch-eager islands).

`operands.float_parameter` sees a parameter or buffer where an op reads it
(`x + self.pos_embed`, `bias = self.table[idx].view(n, n, -1)`). Real attention code
hands them on first, and after `convert` they are float tensors all the same:

* a method's or a same-file helper's result: `attn + self._get_rel_pos_bias()`, where
  the method indexes and reshapes `self.relative_position_bias_table`, or
  `_get_relative_position_bias(self.table, self.index, ws)` (`returns_float`: every
  return of the callee is such a value, its arguments are no activations);
* an argument: SwinTransformerBlock calls `self.attn(x, mask=attn_mask)` with its buffer
  `self.attn_mask`, and WindowAttention's forward adds `mask` to its activations; a helper
  receives `self.height_rel` (`maybe_float`).

An argument is float when SOME caller in the file passes a float value: other callers
(another file, the user, the previous stage of a `Sequential`) may pass an activation, so
it is "float on some path" only. That is all an island needs: it dequantizes such an
operand too, and a DeQuantStub leaves a float tensor as it is (`Tensor.dequantize()` of a
float tensor is itself), so the island is right whichever reaches it.

The callers are found in the file's `ModuleIndex`, which `ModuleIndex` hangs on the tree's
root (as `node_tables` does with its table): member calls `self.attn(...)` of module
attributes whose class's forward is the function, `self.<method>(...)` in the classes that
inherit the method, and calls of a module-level function by its name.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller.analysis import classes as attrs
from pylint_distiller.analysis import operands as O
from pylint_distiller.analysis.arguments import bind_call
from pylint_distiller.analysis.classes import ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.analysis.syntax import is_property, is_staticmethod

INDEX_ATTR = "_distiller_index"
_CALLERS = "_distiller_callers"
_ARGUMENTS = "_distiller_float_arguments"  # (function, parameter) -> some caller passes a float value
#: attributes of an activation that are no tensors: `x.device`, `x.shape`
_METADATA = frozenset(("device", "dtype", "shape", "ndim", "is_cuda", "requires_grad", "layout"))
_MAX_DEPTH = 10


def _index(node: nodes.NodeNG):
    return node.root().__dict__.get(INDEX_ATTR)


def _info_of(node: nodes.NodeNG, index) -> ClassInfo | None:
    """The class whose method holds `node` (through nested functions), as the index knows it."""
    scope = node.scope()
    while scope is not None and not isinstance(scope, nodes.Module):
        if isinstance(scope, nodes.FunctionDef) and isinstance(scope.parent, nodes.ClassDef):
            return index.classes.get(scope.parent)
        scope = scope.parent.scope() if scope.parent is not None else None
    return None


# ------------------------------------------------------------------ results
def no_activation(node: nodes.NodeNG, owner: ClassInfo | None) -> bool:
    """An argument that cannot carry an activation into a callee: a number, a plain attribute,
    a float parameter, `x.device`/`x.shape`, an item of one of them, or `None`."""
    if owner is not None and (O.constant(node, owner) or O.float_parameter(node, owner, 1)):
        return True
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.Attribute) and node.attrname in _METADATA:
        return True
    # `self.window_size[0]`, `x.shape[1]`
    return isinstance(node, nodes.Subscript) and isinstance(node.slice, nodes.Const) \
        and no_activation(node.value, owner)


def _returns(func: nodes.FunctionDef) -> list[nodes.NodeNG] | None:
    """The values `func` returns (`None` returns left out); None for a generator or a bare return."""
    if func.is_generator():
        return None
    values = []
    for ret in nodes_in(func, nodes.Return):
        if ret.scope() is not func:
            continue
        if ret.value is None:
            return None
        if not (isinstance(ret.value, nodes.Const) and ret.value.value is None):
            values.append(ret.value)
    return values or None


def callee(call: nodes.Call, owner: ClassInfo | None) -> tuple[nodes.FunctionDef, list[str]] | None:
    """(the method or same-file helper a call runs, its parameters after `self`), if known."""
    func = call.func
    if isinstance(func, nodes.Attribute) and isinstance(func.expr, nodes.Name) and func.expr.name == "self":
        if owner is None or func.attrname in owner.attrs:
            return None  # a member module, a stored function: not a method
        method = owner.methods.get(func.attrname)
        if method is None or is_property(method):
            return None
        params = [a.name for a in (method.args.posonlyargs or []) + (method.args.args or [])]
        return method, params if is_staticmethod(method) else params[1:]
    if isinstance(func, nodes.Name) and func.name in func.root().locals:  # (`len(...)`: no lookup)
        _, bindings = func.lookup(func.name)
        if len(bindings) == 1 and isinstance(bindings[0], nodes.FunctionDef) \
                and isinstance(bindings[0].parent, nodes.Module):
            helper = bindings[0]
            return helper, [a.name for a in (helper.args.posonlyargs or []) + (helper.args.args or [])]
    return None


def handed_helpers(func: nodes.Name) -> list[nodes.FunctionDef]:
    """The same-file functions a local name may hold: those named in a value bound to it
    (`attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(impl, eager_attention_forward)`).
    A call of the name runs one of them on some path (or a function from elsewhere)."""
    frame = func.frame()
    if not isinstance(frame, nodes.FunctionDef) or func.name in frame.argnames():
        return []
    out = []
    for binding in frame.locals.get(func.name, ()):
        assign = binding.parent
        if not (isinstance(binding, nodes.AssignName) and isinstance(assign, (nodes.Assign, nodes.AnnAssign))
                and assign.value is not None):
            continue
        for name in nodes_in(assign.value, nodes.Name):
            if name.name == func.name or name.name not in func.root().locals:
                continue
            _, found = name.lookup(name.name)
            if len(found) == 1 and isinstance(found[0], nodes.FunctionDef) \
                    and isinstance(found[0].parent, nodes.Module) and found[0] not in out:
                out.append(found[0])
    return out


def returns_float(call: nodes.Call, owner: ClassInfo | None, depth: int) -> bool:
    """A method or helper call whose every return is a float parameter or a value computed from
    parameters only, and whose arguments carry no activation: its result is float after convert.

    A method overridden by a same-file subclass counts only when every override does too.
    """
    if owner is None or depth > _MAX_DEPTH:
        return False
    found = callee(call, owner)
    if found is None:
        return False
    func, params = found
    bound = bind_call(call, params, keep_unknown=True)
    if bound is None or not all(no_activation(arg, owner) for arg in bound.values()):
        return False
    floats = frozenset(name for name, arg in bound.items() if O.float_parameter(arg, owner, depth + 1))
    bodies = [(func, owner)]
    index = _index(owner.node)
    if isinstance(func.parent, nodes.ClassDef) and index is not None:
        bodies += [(info.methods[func.name], info) for info in index.module_classes()
                   if owner in info.mro() and info.methods.get(func.name) not in (None, func)]
    for body, home in bodies:  # an override reads its own class's members
        values = _returns(body)
        if values is None or not all(O.float_parameter(v, home, depth + 1, floats) for v in values):
            return False
    return True


def property_float(node: nodes.Attribute, owner: ClassInfo, depth: int) -> bool:
    """`self.rel_bias` where `rel_bias` is a property returning a float parameter value."""
    method = owner.methods.get(node.attrname)
    if method is None or not is_property(method) or depth > _MAX_DEPTH:
        return False
    values = _returns(method)
    return values is not None and all(O.float_parameter(v, owner, depth + 1) for v in values)


# ----------------------------------------------------------------- arguments
def _callers(root: nodes.Module, index) -> dict[nodes.FunctionDef, list[tuple[nodes.Call, ClassInfo | None, list[str]]]]:
    """function -> (call, the calling class, the function's parameters as that call binds them).

    One pass over the file's calls, cached on the tree: member module calls (`self.attn(...)`,
    `self.blocks[i](...)`) reach the forward of the classes the member may hold or wrap (the
    first stage of `self.stages = nn.Sequential(*stages)` gets its argument); `self.m(...)`
    reaches `m` as every class inheriting the calling method resolves it; `helper(...)` the
    module-level function it names.
    """
    table = root.__dict__.get(_CALLERS)
    if table is not None:
        return table
    table = {}
    root.__dict__[_CALLERS] = table

    def add(func: nodes.FunctionDef, call: nodes.Call, info: ClassInfo | None, skip_self: bool) -> None:
        params = [a.name for a in (func.args.posonlyargs or []) + (func.args.args or [])]
        if skip_self and not is_staticmethod(func):
            params = params[1:]
        entry = (call, info, params)
        found = table.setdefault(func, [])
        if entry not in found:
            found.append(entry)

    heirs: dict[ClassInfo, list[ClassInfo]] = {}
    for klass in index.module_classes():
        for base in klass.mro():
            heirs.setdefault(base, []).append(klass)
    for call in nodes_in(root, nodes.Call):
        func = call.func
        info = _info_of(call, index)
        if isinstance(func, nodes.Name):
            found = callee(call, None)
            if found is not None:
                add(found[0], call, info, False)
            for helper in handed_helpers(func):  # `attention_interface(self, q, k, v, mask)`
                add(helper, call, info, False)
            continue
        target = func.value if isinstance(func, nodes.Subscript) else func
        if info is None or not (isinstance(target, nodes.Attribute) and isinstance(target.expr, nodes.Name)
                                and target.expr.name == "self"):
            continue
        fact = info.attrs.get(target.attrname)
        if fact is not None and fact.kind in (attrs.MODULE, attrs.CONTAINER):
            # the classes built in the member's value, those passed to a wrapper or a Sequential
            # (subclass) included: the call's arguments reach their forward on some path
            names = index.element_classes(fact)
            if fact.kind == attrs.MODULE:
                names = list(dict.fromkeys(index.module_classes_of(fact) + names))
            for name in names:
                held = index.by_name.get(name)
                forward = held.methods.get("forward") if held is not None else None
                if forward is not None:
                    add(forward, call, info, True)
        elif fact is None and func is target:
            for klass in heirs.get(info, ()):
                method = klass.methods.get(target.attrname)
                if method is not None and not is_property(method):
                    add(method, call, klass, True)
    return table


def _argument_float(name: nodes.Name, depth: int, seen: set) -> bool:
    """A parameter of its function that some caller in the file passes a float value."""
    func = name.frame()
    if not isinstance(func, nodes.FunctionDef) or name.name not in func.argnames():
        return False
    index = _index(func)
    if index is None:
        return False
    memo = func.root().__dict__.setdefault(_ARGUMENTS, {})
    key = (func, name.name)
    if key not in memo:
        memo[key] = False  # (a recursive call passes its own parameter on)
        memo[key] = any(maybe_float(bound[name.name], info, depth + 1, seen)
                        for call, info, params in _callers(func.root(), index).get(func, ())
                        if (bound := bind_call(call, params, keep_unknown=True, skip_double_star=True)) and name.name in bound)
    return memo[key]


def _binding_float(name: nodes.Name, owner: ClassInfo | None, depth: int, seen: set) -> bool:
    """A local name some binding of which is float: `mask = self.attn_mask` on one path, or
    `x, cls_tokens = x` where some caller passes the parameter `x` as `(x, cls_tokens)` with a
    float `cls_tokens` (timm PiT's stages in an nn.Sequential)."""
    func = name.frame()
    if not isinstance(func, nodes.FunctionDef) or name.name in func.argnames():
        return False
    index = _index(func)
    for binding in func.locals.get(name.name, ()):
        target = binding.parent
        if isinstance(binding, nodes.AssignName) and isinstance(target, nodes.Assign) \
                and target.targets == [binding]:
            if maybe_float(target.value, owner, depth + 1, seen):
                return True
            continue
        if not (isinstance(binding, nodes.AssignName) and isinstance(target, nodes.Tuple)
                and isinstance(target.parent, nodes.Assign) and target.parent.targets == [target]):
            continue
        value = target.parent.value
        if index is None or not isinstance(value, nodes.Name) or value.name not in func.argnames():
            continue
        position = target.elts.index(binding)
        for call, info, params in _callers(func.root(), index).get(func, ()):
            bound = bind_call(call, params, keep_unknown=True)
            arg = bound.get(value.name) if bound else None
            if isinstance(arg, (nodes.Tuple, nodes.List)) and len(arg.elts) == len(target.elts) \
                    and maybe_float(arg.elts[position], info, depth + 1, seen):
                return True
    return False


def maybe_float(node: nodes.NodeNG, owner: ClassInfo | None, depth: int = 0, seen: set | None = None) -> bool:
    """A value that is a float parameter (or computed from parameters only) on some path.

    Views and indexing keep it; a local name counts when one of its bindings does, a
    parameter when one of its callers passes one, a call when one of its callee's returns does.
    """
    if depth > _MAX_DEPTH:
        return False
    seen = set() if seen is None else seen
    if id(node) in seen:
        return False
    seen.add(id(node))
    if owner is not None and O.float_parameter(node, owner, 1):
        return True
    node = O.strip_views(node)
    if isinstance(node, nodes.Name):
        return _argument_float(node, depth, seen) or _binding_float(node, owner, depth, seen)
    if isinstance(node, nodes.BinOp):
        sides = [s for s in (node.left, node.right) if owner is None or not O.constant(s, owner)]
        return bool(sides) and all(maybe_float(s, owner, depth + 1, seen) for s in sides)
    if isinstance(node, nodes.IfExp):
        return maybe_float(node.body, owner, depth + 1, seen) or maybe_float(node.orelse, owner, depth + 1, seen)
    if isinstance(node, nodes.Call):
        found = callee(node, owner)
        if found is None:
            return False
        values = _returns(found[0]) or []
        return any(maybe_float(v, owner, depth + 1, seen) for v in values)
    return False


def float_cache(node: nodes.Attribute, owner: ClassInfo, depth: int) -> bool:
    """`self.attention_bias_cache`: a dict attribute that only ever holds float parameter values.

    LeViT-style attention keeps `self.attention_biases[:, self.attention_bias_idxs]` per device:
    every assignment of the attribute is an empty dict and every item stored into it
    (`self.cache[key] = value`) is such a value, so an item read from it is one too.
    """
    if depth > _MAX_DEPTH:
        return False
    name, stored = node.attrname, False
    for info in owner.mro():
        for assign in nodes_in(info.node, nodes.Assign):
            for target in assign.targets:
                if isinstance(target, nodes.AssignAttr) and target.attrname == name:
                    if not (isinstance(assign.value, nodes.Dict) and not assign.value.items):
                        return False
                elif isinstance(target, nodes.Subscript) and isinstance(target.value, nodes.Attribute) \
                        and target.value.attrname == name and isinstance(target.value.expr, nodes.Name) \
                        and target.value.expr.name == "self":
                    if not O.float_parameter(assign.value, owner, depth + 1):
                        return False
                    stored = True
    return stored
