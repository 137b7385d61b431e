"""Small questions about astroid nodes the forward walk asks everywhere."""

from __future__ import annotations

from astroid import nodes

_FLOAT_DTYPE_WORDS = ("float", "half", "double", "bfloat16", "dtype")
_INT_DTYPE_WORDS = ("long", "int", "bool", "uint8")


def is_staticmethod(func: nodes.FunctionDef) -> bool:
    return bool(func.decorators) and any(
        isinstance(d, nodes.Name) and d.name == "staticmethod" for d in func.decorators.nodes)


def is_property(func: nodes.FunctionDef) -> bool:
    return bool(func.decorators) and any(
        (isinstance(d, nodes.Name) and d.name in ("property", "cached_property"))
        or (isinstance(d, nodes.Attribute) and d.attrname == "cached_property")
        for d in func.decorators.nodes)


def dtype_word(node: nodes.NodeNG | None) -> str | None:
    """'float' / 'int' for a dtype expression, None when it cannot tell."""
    if node is None:
        return None
    text = node.as_string().lower()
    if any(w in text for w in _INT_DTYPE_WORDS) and "float" not in text:
        return "int"
    if any(w in text for w in _FLOAT_DTYPE_WORDS):
        return "float"
    return None


def keyword(call: nodes.Call, name: str) -> nodes.NodeNG | None:
    for kw in call.keywords or ():
        if kw.arg == name:
            return kw.value
    return None


def parameter_default(func: nodes.FunctionDef, name: str) -> nodes.NodeNG | None:
    """The default value of parameter `name` of `func`, or None (no default, or no such parameter)."""
    args = func.args
    positional = list(args.posonlyargs or []) + list(args.args or [])
    defaults = list(args.defaults or [])
    offset = len(positional) - len(defaults)
    for i, arg in enumerate(positional):
        if arg.name == name:
            return defaults[i - offset] if i >= offset else None
    for arg, default in zip(args.kwonlyargs or [], args.kw_defaults or []):
        if arg.name == name:
            return default
    return None


def parameter_annotation(func: nodes.FunctionDef, name: str) -> nodes.NodeNG | None:
    """The annotation of parameter `name` of `func`, or None."""
    args = func.args
    positional = list(args.posonlyargs or []) + list(args.args or [])
    pairs = list(zip(positional, [*(args.posonlyargs_annotations or []), *(args.annotations or [])]))
    pairs += list(zip(args.kwonlyargs or [], args.kwonlyargs_annotations or []))
    return next((note for arg, note in pairs if arg.name == name), None)


def is_self_attr(node: nodes.NodeNG) -> bool:
    return isinstance(node, nodes.Attribute) and isinstance(node.expr, nodes.Name) and node.expr.name == "self"


def member_read(func: nodes.NodeNG, attr: str) -> nodes.NodeNG:
    """The `self.<attr>` inside a call's func: `self.ff` of `self.ff.add(a, b)`, so `.add` survives."""
    node = func
    while isinstance(node, nodes.Attribute):
        if node.attrname == attr and is_self_attr(node):
            return node
        node = node.expr
    return func


#: nodes whose body runs several times per execution of the code around them
REPEATING = (nodes.For, nodes.While, nodes.Comprehension, nodes.ListComp, nodes.SetComp, nodes.GeneratorExp,
             nodes.DictComp)


def in_loop(node: nodes.NodeNG, scope: nodes.NodeNG, kinds: tuple = REPEATING) -> bool:
    """Whether `node` sits in a loop or comprehension (or another of `kinds`) of `scope`."""
    parent = node.parent
    while parent is not None and parent is not scope:
        if isinstance(parent, kinds):
            return True
        parent = parent.parent
    return False


def own_method(klass: nodes.ClassDef, name: str) -> nodes.FunctionDef | None:
    """The method `name` defined in `klass`'s own body (not inherited, not nested)."""
    for node in klass.locals.get(name, ()):
        if isinstance(node, nodes.FunctionDef) and node.parent is klass:
            return node
    return None
