"""Run-time float islands: what eager mode cannot run, found by type when `fuse_model()` runs.

Static islands (`islands.py`) wrap the call sites of modules whose type the source shows
(`self.act = nn.SiLU()`). Real models choose most types at run time: torchvision's
`Conv2dNormActivation(activation_layer=nn.SiLU)` builds `activation_layer(inplace=...)`
inside an nn.Sequential subclass whose forward we may not edit, `SqueezeExcitation` gets
its activation through `functools.partial`, timm builds every norm and activation through
factories (`create_act_layer`, `get_norm_act_layer`). And eager's `convert` swaps modules by
EXACT type, so a subclass of `nn.Conv2d`/`nn.BatchNorm2d`/`nn.LayerNorm` (timm's
`Conv2dSame`, `BatchNormAct2d`, `LayerNorm2d`) stays float and runs float code on quantized
tensors.

So the generated `fuse_model()` also decides at run time, after fusing: its walk over the
children (the one that reaches every block of the model) puts each module whose actual type
is one of the measured kinds (`eager_support.RUNTIME_ISLAND_MODULES`, subclasses of
`SUBCLASS_ISLAND_BASES`, ConvTranspose without its own qconfig) into a `FloatIsland`: a
DeQuantStub, the module (``qconfig = None``: prepare and convert leave it float), a
QuantStub. The class is generated into the user's file (plain torch: the prepared model never
imports pylint_distiller), once per file, before its first class that needs it.

Why this is safe: nothing changes until `fuse_model()` is called, which (like fusion) happens
after the checkpoint is loaded; the stubs hold no parameters or buffers and are identity
until `prepare`, so the float outputs stay the same. The island re-quantizes only a quantized
input's result: inside a float region (a static island around the same call, or an island
inside an island) its input is float after convert, and it returns float, so no Quantize ever
meets a quantized tensor.
"""

from __future__ import annotations

from astroid import nodes

from pylint_distiller import eager_support as E
from pylint_distiller.analysis import class_facts as attrs
from pylint_distiller.analysis.class_facts import ClassInfo
from pylint_distiller.analysis.node_tables import nodes_in
from pylint_distiller.findings import Definition

#: the generated class, and the class attribute that marks it (also in another file's copy)
ISLAND_CLASS = "FloatIsland"
ISLAND_MARKER = "is_float_island"
_DEQUANT = "torch.ao.quantization.DeQuantStub"
_QUANT = "torch.ao.quantization.QuantStub"


def island_name(module: nodes.Module) -> str | None:
    """The island class `fuse_model()` may use in this file: None where the name means something else."""
    bound = module.locals.get(ISLAND_CLASS)
    if not bound:
        return ISLAND_CLASS
    ours = len(bound) == 1 and isinstance(bound[0], nodes.ClassDef) and ISLAND_MARKER in bound[0].locals \
        and bound[0].parent is module
    return ISLAND_CLASS if ours else None


def definition(module: nodes.Module, render) -> tuple[tuple[Definition, ...], tuple[str, ...]]:
    """The FloatIsland class (and the imports it needs) for a file that does not define it yet."""
    if ISLAND_CLASS in module.locals:
        return (), ()
    imports: list[str] = []

    def spell(qname: str) -> str:
        text, more = render(qname)
        imports.extend(more)
        return text

    def types(names) -> list[str]:
        return [spell(n) for n in sorted(names)]

    quant, dequant = spell(_QUANT), spell(_DEQUANT)
    lines = (
        f"class {ISLAND_CLASS}({spell('torch.nn.Module')}):",
        '    """A module eager quantization cannot run on quantized tensors, run in float (added by `fix --target torch-eager`).',
        "",
        "    fuse_model() puts every module whose run-time type needs it here: a type with no quantized",
        "    kernel or one eager runs at its input's scale (float_only: nn.GELU's result needs its own),",
        "    a ConvTranspose without a qconfig of its own, or a subclass of a type",
        "    convert swaps by exact type only (subclass_of: convert would leave the subclass's float code",
        "    running on quantized tensors). The input is dequantized, the module runs in float",
        "    (qconfig = None) and its result is quantized again, unless the input was float already",
        "    (inside another float island). The stubs hold no state: weights and float outputs stay.",
        '    """',
        "",
        f"    {ISLAND_MARKER} = True",
        *_tuple_lines("float_only", types(E.RUNTIME_ISLAND_MODULES)),
        *_tuple_lines("float_unless_configured", types(E.RUNTIME_ISLAND_UNLESS_CONFIGURED)),
        *_tuple_lines("subclass_of", types(E.SUBCLASS_ISLAND_BASES)),
        "",
        "    def __init__(self, module):",
        "        super().__init__()",
        f"        self.dequant = {dequant}()",
        "        self.module = module",
        f"        self.quant = {quant}()",
        "        module.qconfig = None  # prepare and convert leave it float",
        "",
        "    @classmethod",
        "    def needed(cls, module):",
        '        """Whether eager quantization cannot run `module` (by its actual type) on quantized tensors."""',
        "        kind = type(module)",
        "        if kind in cls.float_only or kind in cls.float_unless_configured and not hasattr(module, \"qconfig\"):",
        "            return True",
        "        return isinstance(module, cls.subclass_of) and kind not in cls.subclass_of \\",
        '            and not kind.__module__.startswith("torch.")',
        "",
        "    def forward(self, x, *args, **kwargs):",
        "        y = self.module(self.dequant(x), *args, **kwargs)",
        f"        if isinstance(self.quant, {quant}) or x.is_quantized:  # a QuantStub: not converted (yet)",
        "            return self.quant(y)",
        "        return y  # a float input after convert: this runs inside a float region already",
    )
    return (Definition(ISLAND_CLASS, lines),), tuple(dict.fromkeys(imports))


def _tuple_lines(name: str, items: list[str], width: int = 96) -> list[str]:
    """`    name = (a, b, ...)` wrapped at `width` columns, continuation lines aligned (`(a,)` for one)."""
    lead = f"    {name} = ("
    lines, current = [], lead
    for i, item in enumerate(items):
        text = item + (")" if i == len(items) - 1 and len(items) > 1 else ",)" if len(items) == 1 else ",")
        if current.strip("( ") and len(current) + 1 + len(text) > width:
            lines.append(current.rstrip())
            current = " " * len(lead)
        current += text if current.endswith("(") or not current.strip() else " " + text
    lines.append(current)
    return lines


def is_island_class(info: ClassInfo) -> bool:
    """The generated FloatIsland (or a copy): its forward is prepared, it gets no fix."""
    return ISLAND_MARKER in info.node.locals


def walk_lines(fuse_method: str, island: str | None, scan: list[str] = ()) -> list[str]:
    """The walk every generated `fuse_model()` ends with: fuse blocks, walk containers, island what must stay float.

    `scan`: lines that fuse a reached container's children by run-time type (`runtime_fusion`).
    """
    if island is None:
        return ["    todo = list(self.children())",
                "    while todo:  # blocks fuse their own chains; containers are walked through",
                "        module = todo.pop()",
                f'        if callable(getattr(module, "{fuse_method}", None)):',
                f"            module.{fuse_method}(is_qat)",
                "        else:",
                "            todo.extend(module.children())"]
    return ["    todo = [(self, name) for name in self._modules]",
            "    while todo:  # blocks fuse their own chains; containers are walked through",
            "        parent, name = todo.pop()",
            "        module = parent._modules[name]",
            f'        if module is None or getattr(module, "{ISLAND_MARKER}", False):',
            "            continue",
            f'        if callable(getattr(module, "{fuse_method}", None)):',
            f"            module.{fuse_method}(is_qat)",
            f"        elif not {island}.needed(module):",
            *scan,
            "            todo.extend((module, child) for child in module._modules)",
            f"        if {island}.needed(module):  # after fusion: what eager cannot run on quantized tensors",
            f"            setattr(parent, name, {island}(module))"]


def island_kind(info: ClassInfo, qualify) -> str | None:
    """The torch.nn type a module class subclasses whose subclasses need an island (`Conv2dSame`: nn.Conv2d)."""
    for klass in info.mro():
        for base in klass.node.bases:
            qname = qualify(base) if isinstance(base, (nodes.Name, nodes.Attribute)) else None
            if qname in E.SUBCLASS_ISLAND_BASES:
                return qname
    return None


_ISLAND_TYPES = E.RUNTIME_ISLAND_MODULES | E.RUNTIME_ISLAND_UNLESS_CONFIGURED
_CONTAINERS = frozenset(("Sequential", "ModuleList", "ModuleDict"))


def _local_class(func: nodes.NodeNG, info: ClassInfo) -> bool:
    """`Block(...)`: a class of this file (its own walk, or its holder's, reaches what it holds)."""
    return isinstance(func, nodes.Name) and any(isinstance(d, nodes.ClassDef) for d in info.node.root().locals.get(func.name, ()))


def _local_island_base(func: nodes.NodeNG, info: ClassInfo, qualify, depth: int = 0) -> str | None:
    """`ConvNextLayerNorm(...)`: a class of this file subclassing (directly or through classes of this
    file) a type convert swaps by exact type only, so the holder's walk must island it."""
    if not isinstance(func, nodes.Name) or depth > 8:
        return None
    for klass in info.node.root().locals.get(func.name, ()):
        if not isinstance(klass, nodes.ClassDef):
            continue
        for base in klass.bases:
            qname = qualify(base) if isinstance(base, (nodes.Name, nodes.Attribute)) else None
            found = qname if qname in E.SUBCLASS_ISLAND_BASES else _local_island_base(base, info, qualify, depth + 1)
            if found is not None:
                return found
    return None


def may_hold_islands(info: ClassInfo, qualify, container_kind) -> str | None:
    """Why a module class may hold a module that needs a run-time island (None: nothing says so).

    A container subclass (its children are whatever its constructor passes on), a member run
    as a module and built by a call whose type the source does not show (a factory, a layer
    passed in), a container built from a list or holding a float-only type or
    a factory's product. A direct member of a float-only type (`self.act = nn.SiLU()`) is no
    reason: its call sites get static islands (`islands.py`). A class that is itself an island
    kind gets no walk of its own: it is put into an island whole.
    """
    if island_kind(info, qualify) is not None:
        return None
    kind = container_kind(info)
    if kind:
        return f"it is an nn.{kind} whose children its constructor chooses"
    called = attrs.called_members(info)
    passed_in = _parameters(info)
    for name, fact in info.attrs.items():
        built = [v for v in fact.values if not (isinstance(v, nodes.Const) and v.value is None)]
        value = built[0] if len(built) == 1 else None  # `else: self.norm = None` is no other type
        if fact.kind == attrs.CONTAINER and isinstance(value, nodes.Call):
            why = _container_reason(value, info, qualify)
            if why is not None:
                return f"self.{name} is a container {why}"
        base = _local_island_base(value.func, info, qualify) if isinstance(value, nodes.Call) else None
        if base is not None and name in called:
            return (f"self.{name} is a {value.func.as_string()}, a subclass of {base.replace('torch.nn.', 'nn.')} "
                    "that convert leaves float")
        if fact.qname in E.INPUT_QPARAMS_MODULES and name in called:
            return _input_qparams_reason(f"self.{name} is an {fact.qname.replace('torch.nn.', 'nn.')}")
        if name not in called or fact.kind not in (attrs.MODULE, attrs.UNKNOWN) or fact.qname:
            continue  # a known type, or not run as a module (`self.head_dim = getattr(config, ...)`)
        if isinstance(value, nodes.Call) and not (qualify(value.func) or "").startswith("torch.") \
                and not _local_class(value.func, info):
            return f"self.{name} is built by {value.func.as_string()}(...), whose type shows only at run time"
        if name in passed_in:
            return f"self.{name} is passed in ({passed_in[name]}), so its type shows only at run time"
    return _input_qparams_functional(info, qualify)


def _input_qparams_reason(what: str) -> str:
    return (f"{what}, which eager runs at its input's scale and zero point: in an island its result is "
            "quantized at its own range, as FX graph mode does")


def _input_qparams_functional(info: ClassInfo, qualify) -> str | None:
    """`F.gelu(x)` in a method: the functional fix makes it an nn.GELU member, so the class holds one
    (decided here too, so that a second `fix` of the prepared file adds no walk)."""
    for call in nodes_in(info.node, nodes.Call):
        module = E.INPUT_QPARAMS_FUNCTIONALS.get(qualify(call.func) or "") \
            if isinstance(call.func, (nodes.Name, nodes.Attribute)) else None
        if module is not None:
            return _input_qparams_reason(f"its {call.func.as_string()} becomes an {module.replace('torch.nn.', 'nn.')}")
    return None


def _parameters(info: ClassInfo) -> dict[str, str]:
    """Members `__init__` takes from one of its parameters (`self.backbone = backbone`): attribute -> parameter."""
    init = info.init()
    if init is None:
        return {}
    params = {a.name for a in [*(init.args.posonlyargs or []), *(init.args.args or []), *(init.args.kwonlyargs or [])]}
    taken = {}
    for assign in nodes_in(init, nodes.Assign):
        if isinstance(assign.value, nodes.Name) and assign.value.name in params:
            for target in assign.targets:
                if isinstance(target, nodes.AssignAttr) and isinstance(target.expr, nodes.Name) \
                        and target.expr.name == "self":
                    taken[target.attrname] = assign.value.name
    return taken


def _container_reason(container: nodes.Call, info: ClassInfo, qualify) -> str | None:
    """Why a container literal may hold an island kind: built from a list, a float-only element, a factory call."""
    if any(isinstance(a, nodes.Starred) for a in container.args):
        return "built from a list"
    elements = []
    for arg in container.args:
        if isinstance(arg, (nodes.List, nodes.Tuple)):
            elements += arg.elts
        elif isinstance(arg, nodes.ListComp):
            elements.append(arg.elt)
        else:
            elements.append(arg)
    for call in elements:
        if not isinstance(call, nodes.Call):
            continue
        base = _local_island_base(call.func, info, qualify)
        if base is not None:
            return f"holding a {call.func.as_string()}, a subclass of {base.replace('torch.nn.', 'nn.')}"
        if _local_class(call.func, info):
            continue
        qname = qualify(call.func) or ""
        if qname in _ISLAND_TYPES:
            return f"holding a {qname.replace('torch.nn.', 'nn.')}"
        if qname.startswith("torch.nn.") and call.args and qname.rsplit(".", 1)[1] in _CONTAINERS:
            why = _container_reason(call, info, qualify)
            if why is not None:
                return why
        elif not qname.startswith("torch."):
            return f"holding what {call.func.as_string()}(...) builds, whose type shows only at run time"
    return None
