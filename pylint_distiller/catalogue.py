"""The rule catalogue: every message and every op, as data.

One source of truth for the checker (what to report), the rewrite engine (what
replaces it, per target), the rule pages and the tests. Nothing here knows about
astroid; the analysis looks ops up by their qualified key:

* ``operator.add`` ... for Python operators on tensors (``a + b``), and
  ``operator.iadd`` ... for their augmented forms (``a += b``);
* ``torch.cat`` ... for functions of the torch namespace;
* ``torch.nn.functional.relu`` ... for functionals;
* ``Tensor.add`` ... for tensor methods (the receiver binds to ``input``).

A target column holds a `Replacement` (the module that makes the op visible to
that quantizer), `UNSUPPORTED` (report, no fix: the quantizer has no module for
it) or `NATIVE` (not reported for that target: its quantized tensors support the
op as is, as torchvision's hand-prepared models show for pooling, mean, flatten).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

DISTILLER = "distiller"
TORCH_EAGER = "torch-eager"
TARGETS = (DISTILLER, TORCH_EAGER)

#: The plugin's message id base (pylint reserves 51-99 for plugins; 51, 64 and
#: 81-84 are taken by pylint-django, pylint-pytest and perflint).
BASE_ID = 57

DOCS_URL = "https://github.com/pylint-distiller/pylint-distiller/blob/main/docs/rules/{symbol}.md"


# ---------------------------------------------------------------- fix safety
class Applicability(str, enum.Enum):
    """How far a fix may be trusted (ruff's model); every op row carries one.

    SAFE keeps weights, state_dict keys and outputs; `fix` applies it by default.
    UNSAFE may change behaviour (weight tying, dropout semantics);
    `fix --unsafe-fixes` applies it. MANUAL fixes are never applied: they only say
    what to do.
    """

    SAFE = "safe"
    UNSAFE = "unsafe"
    MANUAL = "manual"


# --------------------------------------------------------------------- messages
@dataclass(frozen=True)
class Rule:
    """One pylint message: symbol, id, text template and its documentation."""

    symbol: str
    number: int
    template: str
    summary: str
    why: str
    fix_safety: str
    bad: str
    good: str | None = None  # the prepared version for the distiller target
    category: str = "W"
    options: tuple[str, ...] = ()
    targets: tuple[str, ...] = TARGETS  # the targets it is reported for (the examples use the first)

    @property
    def msgid(self) -> str:
        return f"{self.category}{BASE_ID}{self.number:02d}"

    @property
    def url(self) -> str:
        return DOCS_URL.format(symbol=self.symbol)


_OP_OPTIONS = ("distiller-target", "distiller-ignore-ops", "distiller-module-bases")

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        r.symbol: r
        for r in (
            Rule(
                symbol="reused-module",
                number=1,
                template="%s",
                summary="A submodule is called more than once per forward pass.",
                why=(
                    "Module-level quantizers attach one set of statistics (and one "
                    "observer or quantized wrapper) to each module instance. An instance "
                    "called twice keeps only the statistics of its last call, so one of "
                    "the two activations is quantized with the wrong range. Calls in "
                    "mutually exclusive branches are one call per pass and are not "
                    "reported; a call inside a loop is."
                ),
                fix_safety=(
                    "Safe when the module holds no parameters or buffers (activations, "
                    "dropout, pooling): the new instance is a copy of the original's "
                    "constructor and adds no state_dict keys. Unsafe when it holds "
                    "parameters: that is weight tying, and a second instance would "
                    "untie the weights. Calls in loops or in helpers called several "
                    "times need a manual restructuring."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.relu = nn.ReLU()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        x = self.relu(x)\n"
                    "        return self.relu(self.conv(x))\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.relu = nn.ReLU()\n"
                    "        self.relu_2 = nn.ReLU()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        x = self.relu(x)\n"
                    "        return self.relu_2(self.conv(x))\n"
                ),
                options=("distiller-report-stateless-reuse",),
            ),
            Rule(
                symbol="shared-module-instance",
                number=2,
                template="%s",
                summary="One module instance is bound to several attributes or to the class.",
                why=(
                    "A module created at class level (`act = nn.SiLU()` in the class "
                    "body) is shared by every instance of the class, and one instance "
                    "bound to two attributes is one module for the quantizer: every "
                    "call site shares one observer."
                ),
                fix_safety="Manual: the sharing may be intended (weight tying).",
                bad=(
                    "class Block(nn.Module):\n"
                    "    act = nn.SiLU()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.act(x)\n"
                ),
            ),
            Rule(
                symbol="tensor-operator",
                number=3,
                template="%s",
                summary="A Python operator on tensors (`+ - * / // @ ** %`, unary minus, `+=`...).",
                why=(
                    "Operators are not modules: Distiller and PyTorch eager mode never "
                    "see them, so the op stays in float (or, after conversion, fails on "
                    "quantized tensors). Shape arithmetic (`x.size(0) * 2`), tuple and "
                    "list concatenation are not tensor ops and are not reported."
                ),
                fix_safety=(
                    "Safe when the op runs once per forward pass: the new module has no "
                    "state and computes the same value (`out += y` keeps its in-place "
                    "semantics with `EltwiseAdd(inplace=True)`). In a loop with a static "
                    "trip count (`enumerate(self.blocks)`, `range(self.depth)`) it gets one "
                    "module per iteration, an `nn.ModuleList` indexed by the loop position; "
                    "in any other loop no fix (one module would be reused). No fix in a "
                    "subclass of `nn.Sequential`/`nn.ModuleList`/`nn.ModuleDict` (the member "
                    "would become one of its items), nor where the target has no module "
                    "for the op (`**`, `//`, unary minus for distiller). torch-eager runs an "
                    "op it has no quantized kernel for (`-`, `/`, `**`, an operand that is a "
                    "float parameter such as `x + self.pos_embed`) in a float island: a "
                    "DeQuantStub on each activation operand and a QuantStub on the result, "
                    "stubs that are identity modules without state before `prepare` (safe)."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.conv(x) + x\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.add = distiller.modules.EltwiseAdd()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.add(self.conv(x), x)\n"
                ),
                options=_OP_OPTIONS,
            ),
            Rule(
                symbol="torch-function",
                number=4,
                template="%s",
                summary="A compute function of the torch namespace (`torch.cat`, `torch.matmul`...).",
                why=(
                    "`torch.*` compute functions run outside any module, so the "
                    "quantizer cannot observe or replace them. Tensor factories "
                    "(`torch.zeros`, `torch.arange`) are not compute ops."
                ),
                fix_safety=(
                    "Safe when the arguments map exactly onto the module's constructor "
                    "and forward (e.g. `torch.cat([a, b], dim=1)` -> `Concat(dim=1)` "
                    "called `(a, b)`) and constructor arguments can be evaluated in "
                    "`__init__`; otherwise no fix."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return torch.cat([x, self.conv(x)], dim=1)\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.cat = distiller.modules.Concat(dim=1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.cat(x, self.conv(x))\n"
                ),
                options=_OP_OPTIONS + ("distiller-flag-data-movement",),
            ),
            Rule(
                symbol="functional-call",
                number=5,
                template="%s",
                summary="A `torch.nn.functional` call that has a module equivalent.",
                why=(
                    "Functionals are invisible to module-level quantizers. Activations, "
                    "pooling, softmax, dropout and interpolation have `torch.nn` module "
                    "equivalents; calls that take explicit weights (`F.linear(x, w)`, "
                    "`F.conv2d`) need a module that owns those weights, a manual change."
                ),
                fix_safety=(
                    "Safe for stateless functionals whose arguments can be evaluated in "
                    "`__init__`. `F.dropout(x, p)` defaults to training=True, unlike "
                    "`nn.Dropout` in eval mode: unsafe unless `training=self.training` "
                    "is passed. Weighted functionals: manual."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return F.sigmoid(self.conv(x))\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.sigmoid = nn.Sigmoid()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.sigmoid(self.conv(x))\n"
                ),
                options=_OP_OPTIONS,
            ),
            Rule(
                symbol="tensor-method",
                number=6,
                template="%s",
                summary="A compute method called on a tensor (`x.add(y)`, `x.softmax(-1)`...).",
                why=(
                    "Tensor methods are the same ops as `torch.*` functions, spelled as "
                    "methods: invisible to module-level quantizers. Data-movement "
                    "methods (view, reshape, permute, chunk...) are silent by default."
                ),
                fix_safety=(
                    "As for torch-function; in-place methods (`add_`) keep in-place semantics. "
                    "torch-eager: `x.view(...)` of an activation becomes `x.reshape(...)` (x86 "
                    "quantized convs return channels_last tensors, which `view` rejects). Safe "
                    "where offered: `reshape` returns the same view wherever `view` works and "
                    "copies only where `view` raises; it is not offered where an in-place write "
                    "after the view could tell a copy from a view."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.proj = nn.Linear(4, 4)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.proj(x).softmax(dim=-1)\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.proj = nn.Linear(4, 4)\n"
                    "        self.softmax = nn.Softmax(dim=-1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.softmax(self.proj(x))\n"
                ),
                options=_OP_OPTIONS + ("distiller-flag-data-movement",),
            ),
            Rule(
                symbol="inline-module",
                number=7,
                template="%s",
                summary="An `nn.Module` constructed inside forward code.",
                why=(
                    "A module built during forward (`nn.Softmax(dim=-1)(x)`) is not a "
                    "submodule: the quantizer never sees it, and a parametric one gets "
                    "fresh random weights on every call."
                ),
                fix_safety=(
                    "Safe for a stateless module applied directly (`nn.X(...)(x)`) whose "
                    "constructor arguments can be evaluated in `__init__`: it is hoisted "
                    "into `__init__`. Manual otherwise."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def forward(self, x):\n"
                    "        return nn.Softmax(dim=-1)(x)\n"
                ),
                good=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self, *args, **kwargs):\n"
                    "        super().__init__(*args, **kwargs)\n"
                    "        self.softmax = nn.Softmax(dim=-1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.softmax(x)\n"
                ),
            ),
            Rule(
                symbol="unquantizable-module",
                number=8,
                template="%s",
                summary="A module the target quantizer cannot quantize as it is (`nn.LSTM`, `nn.SiLU` for torch-eager...).",
                why=(
                    "Recurrent and attention modules do their arithmetic inside one "
                    "fused kernel, so the quantizer sees no ops to quantize. Distiller "
                    "offers `DistillerLSTM`/`DistillerLSTMCell` (built from modules), "
                    "PyTorch eager mode `torch.ao.nn.quantizable.LSTM` and "
                    "`MultiheadAttention`."
                ),
                fix_safety=(
                    "Unsafe: the quantizable variants have different state_dict keys, so "
                    "the checkpoint needs converting (Distiller: "
                    "`convert_model_to_distiller_lstm`). torch-eager keeps `nn.LSTM` and "
                    "`nn.MultiheadAttention`: eager `prepare` swaps them itself (its default "
                    "custom module config). For torch-eager this rule also reports modules "
                    "eager cannot quantize as they are, with safe fixes that change neither "
                    "weights nor float outputs: a float island around calls of modules "
                    "without a quantized kernel (`nn.SiLU`, `nn.Softmax`, a leaf module with "
                    "float-only ops), a per-tensor weight qconfig on `nn.ConvTranspose2d`, "
                    "`qconfig = None` on `nn.PReLU` and on a module whose `.weight` forward reads."
                ),
                bad=(
                    "class LM(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.rnn = nn.LSTM(8, 16, 1)\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.rnn(x)[0]\n"
                ),
            ),
            Rule(
                symbol="unfused-modules",
                number=9,
                template="%s",
                summary="A chain of submodules that eager quantization can fuse into one op "
                        "(conv+bn+relu, linear+relu...), and no `fuse_model()` that fuses it.",
                why=(
                    "PyTorch eager mode quantizes each module on its own unless the model "
                    "fuses chains first (`torch.ao.quantization.fuse_modules`): an unfused "
                    "BatchNorm is quantized separately (or fails on quantized tensors), and "
                    "every intermediate activation of the chain is rounded to int8. "
                    "torchvision's quantizable models ship `fuse_model()` for that. A chain "
                    "counts when each intermediate value goes only into the next member, "
                    "every member runs once per pass and nothing else reads it. The "
                    "distiller target does not report it: Distiller folds BatchNorm itself "
                    "and has no fused modules."
                ),
                fix_safety=(
                    "Safe: the fix adds (or extends) a method `fuse_model(self, "
                    "is_qat=False)` and nothing changes until it is called (in eval mode "
                    "for post-training quantization, train mode for QAT). One call on the "
                    "root model fuses every chain of the model: each generated "
                    "`fuse_model` fuses its own chains, then calls `fuse_model` of the "
                    "submodules that have one and walks into those that do not; a guard "
                    "makes a second call a no-op. An existing `fuse_model` is extended, "
                    "not doubled; a chain one of whose members it already names counts as "
                    "fused. No fix where the class inherits its `fuse_model` or writes it "
                    "on one line."
                ),
                bad=(
                    "class Block(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n"
                    "        self.bn = nn.BatchNorm2d(4)\n"
                    "        self.relu = nn.ReLU()\n"
                    "\n"
                    "    def forward(self, x):\n"
                    "        return self.relu(self.bn(self.conv(x)))\n"
                ),
                targets=(TORCH_EAGER,),
                options=("distiller-target", "distiller-module-bases"),
            ),
        )
    }
)


# -------------------------------------------------------------------------- ops
@dataclass(frozen=True)
class Replacement:
    """The module that replaces an op for one target, and how arguments map.

    `ctor` names op parameters passed to the constructor as keywords (when the
    call binds them); `ctor_fixed` are constant constructor keywords;
    `ctor_defaults` are passed even when unbound (Concat's dim must always be
    explicit). `forward` names the op parameters passed to the module call, in
    order; `spread` is the one of them that is a sequence spread into varargs
    (`Concat` takes `*seq`). `method` is set for `FloatFunctional`-style modules
    called through a method (``self.add.add(a, b)``); `scalar_method` is the
    method to use when the second operand is a Python number. `droppable` names
    parameters that may be bound without preventing the fix. `cast` names a
    `dtype` parameter that casts the input first (`F.softmax(x, -1, dtype=d)` is
    `softmax(x.to(d))`), so the module receives ``(x).to(d)``.
    """

    module: str
    member: str
    ctor: tuple[str, ...] = ()
    ctor_fixed: tuple[tuple[str, str], ...] = ()
    ctor_defaults: tuple[tuple[str, str], ...] = ()
    forward: tuple[str, ...] = ("input",)
    spread: str | None = None
    method: str | None = None
    scalar_method: str | None = None
    droppable: tuple[str, ...] = ()
    cast: str | None = None
    tensor_first: bool = False  # the module calls a method on its first input (`x.div(y)`)
    applicability: Applicability = Applicability.SAFE
    note: str = ""


UNSUPPORTED = "unsupported"
NATIVE = "native"


@dataclass(frozen=True)
class OpSpec:
    """One op: its catalogue key, the rule that reports it, its call signature.

    `params` are the op's parameter names in positional order (for tensor methods
    the receiver is ``input``). `weighted` marks functionals that take explicit
    weights (a manual change). `data_movement` ops are reported only when the
    data-movement option is on. `receiver_hint` marks tensor methods whose name is
    specific to tensors, so they are reported even when the receiver's type is
    unknown (``.softmax`` is a tensor method; ``.add`` could be a set's).
    """

    key: str
    rule: str
    params: tuple[str, ...]
    targets: Mapping[str, Replacement | str] = field(default_factory=dict)
    data_movement: bool = False
    weighted: bool = False
    receiver_hint: bool = False
    display: str = ""

    def replacement(self, target: str) -> Replacement | str:
        return self.targets.get(target, UNSUPPORTED)

    @property
    def shown(self) -> str:
        return self.display or self.key


DM = "distiller.modules."
FF = "torch.ao.nn.quantized.FloatFunctional"
NN = "torch.nn."


def _both(rep: Replacement) -> dict[str, Replacement | str]:
    return {DISTILLER: rep, TORCH_EAGER: rep}


def _eltwise(name: str, member: str, inplace: bool, ff_method: str | None, ff_scalar: str | None):
    """Binary arithmetic: Distiller's Eltwise* module, FloatFunctional's method."""
    fixed = (("inplace", "True"),) if inplace else ()
    targets: dict[str, Replacement | str] = {
        DISTILLER: Replacement(DM + name, member, ctor_fixed=fixed, forward=("input", "other"),
                               tensor_first=name in ("EltwiseDiv", "Matmul"))
    }
    if ff_method:
        targets[TORCH_EAGER] = Replacement(
            FF, member, forward=("input", "other"), method=ff_method, scalar_method=ff_scalar
        )
    else:
        targets[TORCH_EAGER] = UNSUPPORTED
    return targets


_BINARY = {
    # op: (Distiller class, member name, FloatFunctional method, scalar method)
    "add": ("EltwiseAdd", "add", "add", "add_scalar"),
    "sub": ("EltwiseSub", "sub", None, None),
    "mul": ("EltwiseMult", "mul", "mul", "mul_scalar"),
    "truediv": ("EltwiseDiv", "div", None, None),
    "matmul": ("Matmul", "matmul", "matmul", None),
}

_OPERATOR_DISPLAY = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "matmul": "@",
    "floordiv": "//", "pow": "**", "mod": "%", "neg": "unary -",
}


def _operator_specs() -> list[OpSpec]:
    specs = []
    for op, sym in _OPERATOR_DISPLAY.items():
        if op in _BINARY:
            cls, member, ffm, ffs = _BINARY[op]
            plain = _eltwise(cls, member, False, ffm, ffs)
            aug = _eltwise(cls, member, True, ffm, ffs)
        else:
            plain = aug = {}
        params = ("input",) if op == "neg" else ("input", "other")
        specs.append(OpSpec(f"operator.{op}", "tensor-operator", params, plain, display=sym))
        if op != "neg":
            specs.append(OpSpec(f"operator.i{op}", "tensor-operator", params, aug, display=sym + "="))
    return specs


def _activation(nn_cls: str, member: str, params=("input",), ctor=(), **kw) -> dict:
    return _both(Replacement(NN + nn_cls, member, ctor=ctor, **kw))


def _functional_specs() -> list[OpSpec]:
    F = "torch.nn.functional."
    inplace = ("input", "inplace")
    specs = [
        ("relu", inplace, _activation("ReLU", "relu", ctor=("inplace",))),
        ("relu6", inplace, _activation("ReLU6", "relu6", ctor=("inplace",))),
        ("elu", ("input", "alpha", "inplace"), _activation("ELU", "elu", ctor=("alpha", "inplace"))),
        ("selu", inplace, _activation("SELU", "selu", ctor=("inplace",))),
        ("celu", ("input", "alpha", "inplace"), _activation("CELU", "celu", ctor=("alpha", "inplace"))),
        ("leaky_relu", ("input", "negative_slope", "inplace"),
         _activation("LeakyReLU", "leaky_relu", ctor=("negative_slope", "inplace"))),
        ("gelu", ("input", "approximate"), _activation("GELU", "gelu", ctor=("approximate",))),
        ("silu", inplace, _activation("SiLU", "silu", ctor=("inplace",))),
        ("mish", inplace, _activation("Mish", "mish", ctor=("inplace",))),
        ("hardswish", inplace, _activation("Hardswish", "hardswish", ctor=("inplace",))),
        ("hardsigmoid", inplace, _activation("Hardsigmoid", "hardsigmoid", ctor=("inplace",))),
        ("hardtanh", ("input", "min_val", "max_val", "inplace"),
         _activation("Hardtanh", "hardtanh", ctor=("min_val", "max_val", "inplace"))),
        ("sigmoid", ("input",), _activation("Sigmoid", "sigmoid")),
        ("tanh", ("input",), _activation("Tanh", "tanh")),
        ("softplus", ("input", "beta", "threshold"), _activation("Softplus", "softplus", ctor=("beta", "threshold"))),
        ("softsign", ("input",), _activation("Softsign", "softsign")),
        ("logsigmoid", ("input",), _activation("LogSigmoid", "logsigmoid")),
        ("glu", ("input", "dim"), _activation("GLU", "glu", ctor=("dim",))),
        ("softmax", ("input", "dim", "_stacklevel", "dtype"),
         _activation("Softmax", "softmax", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("log_softmax", ("input", "dim", "_stacklevel", "dtype"),
         _activation("LogSoftmax", "log_softmax", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("softmin", ("input", "dim", "_stacklevel", "dtype"),
         _activation("Softmin", "softmin", ctor=("dim",), droppable=("_stacklevel",), cast="dtype")),
        ("pixel_shuffle", ("input", "upscale_factor"),
         _activation("PixelShuffle", "pixel_shuffle", ctor=("upscale_factor",))),
        ("pixel_unshuffle", ("input", "downscale_factor"),
         _activation("PixelUnshuffle", "pixel_unshuffle", ctor=("downscale_factor",))),
    ]
    out = [OpSpec(F + name, "functional-call", params, targets, display="F." + name)
           for name, params, targets in specs]
    # Pooling and resampling: modules for Distiller (it fake-quantizes their
    # output); quantized tensors support them natively in eager mode.
    pools = [
        ("adaptive_avg_pool1d", ("input", "output_size"), "AdaptiveAvgPool1d", ("output_size",)),
        ("adaptive_avg_pool2d", ("input", "output_size"), "AdaptiveAvgPool2d", ("output_size",)),
        ("adaptive_avg_pool3d", ("input", "output_size"), "AdaptiveAvgPool3d", ("output_size",)),
        ("adaptive_max_pool1d", ("input", "output_size", "return_indices"), "AdaptiveMaxPool1d",
         ("output_size", "return_indices")),
        ("adaptive_max_pool2d", ("input", "output_size", "return_indices"), "AdaptiveMaxPool2d",
         ("output_size", "return_indices")),
        ("avg_pool1d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
         "AvgPool1d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
        ("avg_pool2d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                        "divisor_override"), "AvgPool2d",
         ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
        ("avg_pool3d", ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                        "divisor_override"), "AvgPool3d",
         ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
        ("max_pool1d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool1d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("max_pool2d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool2d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("max_pool3d", ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                        "return_indices"), "MaxPool3d",
         ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
        ("interpolate", ("input", "size", "scale_factor", "mode", "align_corners",
                         "recompute_scale_factor", "antialias"), "Upsample",
         ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")),
        ("upsample", ("input", "size", "scale_factor", "mode", "align_corners"), "Upsample",
         ("size", "scale_factor", "mode", "align_corners")),
    ]
    for name, params, cls, ctor in pools:
        member = "upsample" if cls == "Upsample" else name.replace("adaptive_", "")
        out.append(OpSpec(
            F + name, "functional-call", params,
            {DISTILLER: Replacement(NN + cls, member, ctor=ctor), TORCH_EAGER: NATIVE},
            display="F." + name,
        ))
    # Dropout: F.dropout(x, p) trains by default, nn.Dropout follows the module
    # mode; the fix builder checks the `training` argument.
    for name, cls in (("dropout", "Dropout"), ("dropout1d", "Dropout1d"), ("dropout2d", "Dropout2d"),
                      ("dropout3d", "Dropout3d"), ("alpha_dropout", "AlphaDropout")):
        out.append(OpSpec(
            F + name, "functional-call", ("input", "p", "training", "inplace"),
            _both(Replacement(NN + cls, "dropout", ctor=("p", "inplace"), droppable=("training",))),
            display="F." + name,
        ))
    # Functionals that take explicit weights: reported, manual fix.
    for name, params in (
        ("linear", ("input", "weight", "bias")),
        ("bilinear", ("input1", "input2", "weight", "bias")),
        ("conv1d", ("input", "weight", "bias")),
        ("conv2d", ("input", "weight", "bias")),
        ("conv3d", ("input", "weight", "bias")),
        ("conv_transpose1d", ("input", "weight", "bias")),
        ("conv_transpose2d", ("input", "weight", "bias")),
        ("conv_transpose3d", ("input", "weight", "bias")),
        ("layer_norm", ("input", "normalized_shape", "weight", "bias", "eps")),
        ("group_norm", ("input", "num_groups", "weight", "bias", "eps")),
        ("batch_norm", ("input", "running_mean", "running_var", "weight", "bias")),
        ("instance_norm", ("input",)),
        ("rms_norm", ("input", "normalized_shape", "weight", "eps")),
        ("embedding", ("input", "weight")),
        ("prelu", ("input", "weight")),
        ("multi_head_attention_forward", ("query",)),
    ):
        out.append(OpSpec(F + name, "functional-call", params, weighted=True, display="F." + name))
    # Stateless functionals with no module equivalent: reported, no fix.
    for name in ("normalize", "scaled_dot_product_attention", "cosine_similarity", "pairwise_distance",
                 "softsign", "tanhshrink", "hardshrink", "softshrink", "threshold", "rrelu",
                 "local_response_norm", "fold", "grid_sample", "affine_grid",
                 "adaptive_max_pool3d", "embedding_bag", "feature_alpha_dropout", "lp_pool1d", "lp_pool2d",
                 "lp_pool3d", "upsample_bilinear", "upsample_nearest", "relu_", "elu_", "leaky_relu_",
                 "hardtanh_", "threshold_", "celu_", "selu_", "rrelu_", "gumbel_softmax",
                 "cross_entropy", "mse_loss", "l1_loss", "nll_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "kl_div", "smooth_l1_loss"):
        key = F + name
        if not any(s.key == key for s in out):
            out.append(OpSpec(key, "functional-call", ("input",), display="F." + name))
    # Data movement among functionals: silent unless asked for.
    for name in ("pad", "one_hot", "unfold"):
        out.append(OpSpec(F + name, "functional-call", ("input",), data_movement=True, display="F." + name))
    return out


def _torch_function_specs() -> list[OpSpec]:
    T = "torch."
    bin_params = ("input", "other")
    specs = [
        OpSpec(T + "cat", "torch-function", ("tensors", "dim"), {
            DISTILLER: Replacement(DM + "Concat", "cat", ctor=("dim",), ctor_defaults=(("dim", "0"),),
                                   forward=("tensors",), spread="tensors"),
            TORCH_EAGER: Replacement(FF, "cat", forward=("tensors", "dim"), method="cat"),
        }),
        OpSpec(T + "stack", "torch-function", ("tensors", "dim"), {
            DISTILLER: Replacement(DM + "Stack", "stack", ctor=("dim",), ctor_defaults=(("dim", "0"),),
                                   forward=("tensors",)),
        }),
        OpSpec(T + "add", "torch-function", bin_params + ("alpha",), _eltwise("EltwiseAdd", "add", False, "add", "add_scalar")),
        OpSpec(T + "sub", "torch-function", bin_params + ("alpha",), _eltwise("EltwiseSub", "sub", False, None, None)),
        OpSpec(T + "mul", "torch-function", bin_params, _eltwise("EltwiseMult", "mul", False, "mul", "mul_scalar")),
        OpSpec(T + "div", "torch-function", bin_params + ("rounding_mode",), _eltwise("EltwiseDiv", "div", False, None, None)),
        OpSpec(T + "matmul", "torch-function", bin_params, _eltwise("Matmul", "matmul", False, "matmul", None)),
        OpSpec(T + "bmm", "torch-function", bin_params, {
            DISTILLER: Replacement(DM + "BatchMatmul", "bmm", forward=("input", "other"), tensor_first=True),
            TORCH_EAGER: Replacement(FF, "bmm", forward=("input", "other"), method="matmul"),
        }),
        OpSpec(T + "mean", "torch-function", ("input", "dim", "keepdim"), {
            DISTILLER: Replacement(DM + "Mean", "mean", ctor=("dim", "keepdim")),
            TORCH_EAGER: NATIVE,
        }),
        OpSpec(T + "norm", "torch-function", ("input", "p", "dim", "keepdim"), {
            DISTILLER: Replacement(DM + "Norm", "norm", ctor=("p", "dim", "keepdim")),
        }),
        OpSpec(T + "sigmoid", "torch-function", ("input",), _activation("Sigmoid", "sigmoid")),
        OpSpec(T + "tanh", "torch-function", ("input",), _activation("Tanh", "tanh")),
        OpSpec(T + "relu", "torch-function", ("input",), _activation("ReLU", "relu")),
        OpSpec(T + "relu_", "torch-function", ("input",),
               _activation("ReLU", "relu", ctor_fixed=(("inplace", "True"),))),
        OpSpec(T + "softmax", "torch-function", ("input", "dim", "dtype"),
               _activation("Softmax", "softmax", ctor=("dim",), cast="dtype")),
        OpSpec(T + "log_softmax", "torch-function", ("input", "dim", "dtype"),
               _activation("LogSoftmax", "log_softmax", ctor=("dim",), cast="dtype")),
        OpSpec(T + "flatten", "torch-function", ("input", "start_dim", "end_dim"), {
            DISTILLER: Replacement(NN + "Flatten", "flatten", ctor=("start_dim", "end_dim"),
                                   ctor_defaults=(("start_dim", "0"),)),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
        OpSpec(T + "chunk", "torch-function", ("input", "chunks", "dim"), {
            DISTILLER: Replacement(DM + "Chunk", "chunk", ctor=("chunks", "dim")),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
        OpSpec(T + "split", "torch-function", ("tensor", "split_size_or_sections", "dim"), {
            DISTILLER: Replacement(DM + "Split", "split", ctor=("split_size_or_sections", "dim"),
                                   forward=("tensor",)),
            TORCH_EAGER: NATIVE,
        }, data_movement=True),
    ]
    for name in ("concat", "concatenate"):
        specs.append(OpSpec(T + name, "torch-function", ("tensors", "dim"), specs[0].targets))
    # Compute functions with no module in either target: reported, no fix.
    for name in ("einsum", "mm", "baddbmm", "addmm", "addbmm", "addcmul", "addcdiv", "exp", "log",
                 "log1p", "sqrt", "rsqrt", "pow", "abs", "neg", "clamp", "clip", "sum", "prod",
                 "max", "min", "amax", "amin", "logsumexp", "cumsum", "cumprod", "erf", "sin", "cos",
                 "square", "reciprocal", "var", "std", "where", "lerp", "outer",
                 "tensordot", "cdist", "true_divide", "floor_divide", "remainder", "fmod", "multiply",
                 "subtract", "divide", "maximum", "minimum", "sign", "exp2", "dropout",
                 "layer_norm", "group_norm", "batch_norm", "conv1d", "conv2d", "conv3d",
                 "conv_transpose2d", "scaled_dot_product_attention", "gelu", "silu", "hardswish",
                 "rsub", "diff", "atan2", "sort", "topk", "cosine_similarity",
                 # further compute functions of the torch namespace (no module in either target)
                 "absolute", "acos", "asin", "atan", "tan", "sinh", "cosh", "addmv", "aminmax", "argmax",
                 "argmin", "argsort", "ceil", "floor", "round", "trunc", "frac", "clamp_max", "clamp_min", "hstack",
                 "vstack", "dstack", "column_stack", "cummax", "cummin", "dot", "vdot", "inner", "ger", "mv",
                 "erfc", "erfinv", "expm1", "float_power", "fmax", "fmin", "hypot", "log10", "log2",
                 "median", "nansum", "negative", "sgn", "std_mean", "var_mean", "xlogy", "selu", "celu",
                 "prelu", "rrelu", "threshold", "hardshrink", "embedding", "conv_transpose1d",
                 "conv_transpose3d", "bilinear", "instance_norm", "pixel_shuffle", "pixel_unshuffle",
                 "rms_norm", "alpha_dropout", "feature_alpha_dropout", "embedding_bag", "square_",
                 "addcmul_", "sigmoid_", "tanh_", "exp_", "clamp_", "dropout_"):
        specs.append(OpSpec(T + name, "torch-function", ("input",)))
    for name in ("reshape", "transpose", "permute", "squeeze", "unsqueeze", "narrow", "roll", "flip",
                 "gather", "index_select", "repeat_interleave", "tile", "movedim", "t", "unbind",
                 "tensor_split", "take_along_dim", "broadcast_to", "swapaxes",
                 # masks and triangles: they select values, they compute none
                 "masked_fill", "tril", "triu"):
        specs.append(OpSpec(T + name, "torch-function", ("input",), data_movement=True))
    return specs


def _method(name: str, targets=None, params=("input",), hint=False, dm=False) -> OpSpec:
    return OpSpec("Tensor." + name, "tensor-method", params, targets or {}, data_movement=dm,
                  receiver_hint=hint, display="." + name + "()")


def _tensor_method_specs() -> list[OpSpec]:
    bin_ = ("input", "other")
    specs = []
    for name, (cls, member, ffm, ffs) in (("add", _BINARY["add"]), ("sub", _BINARY["sub"]),
                                          ("mul", _BINARY["mul"]), ("div", _BINARY["truediv"]),
                                          ("matmul", _BINARY["matmul"])):
        specs.append(_method(name, _eltwise(cls, member, False, ffm, ffs), bin_, hint=name == "matmul"))
        if name != "matmul":
            specs.append(_method(name + "_", {DISTILLER: _eltwise(cls, member, True, None, None)[DISTILLER]},
                                 bin_, hint=True))
    specs += [
        _method("bmm", {DISTILLER: Replacement(DM + "BatchMatmul", "bmm", forward=bin_),
                        TORCH_EAGER: Replacement(FF, "bmm", forward=bin_, method="matmul")}, bin_, hint=True),
        _method("sigmoid", _activation("Sigmoid", "sigmoid"), hint=True),
        _method("sigmoid_", hint=True),  # nn.Sigmoid is not in-place: no exact module
        _method("tanh", _activation("Tanh", "tanh")),
        _method("relu", _activation("ReLU", "relu"), hint=True),
        _method("relu_", _activation("ReLU", "relu", ctor_fixed=(("inplace", "True"),)), hint=True),
        _method("softmax", _activation("Softmax", "softmax", ctor=("dim",), cast="dtype"), ("input", "dim", "dtype"),
                hint=True),
        _method("log_softmax", _activation("LogSoftmax", "log_softmax", ctor=("dim",), cast="dtype"),
                ("input", "dim", "dtype"), hint=True),
        _method("mean", {DISTILLER: Replacement(DM + "Mean", "mean", ctor=("dim", "keepdim")),
                         TORCH_EAGER: NATIVE}, ("input", "dim", "keepdim")),
        _method("norm", {DISTILLER: Replacement(DM + "Norm", "norm", ctor=("p", "dim", "keepdim"))},
                ("input", "p", "dim", "keepdim")),
        _method("chunk", {DISTILLER: Replacement(DM + "Chunk", "chunk", ctor=("chunks", "dim")),
                          TORCH_EAGER: NATIVE}, ("input", "chunks", "dim"), dm=True),
        _method("flatten", {DISTILLER: Replacement(NN + "Flatten", "flatten", ctor=("start_dim", "end_dim"),
                                                   ctor_defaults=(("start_dim", "0"),)),
                            TORCH_EAGER: NATIVE}, ("input", "start_dim", "end_dim"), dm=True),
    ]
    hinted = {"rsqrt", "baddbmm", "addmm", "exp_", "clamp_", "pow_",
              "sqrt_", "neg_", "abs_", "float_power", "logsumexp", "erf", "reciprocal", "tanh_"}
    for name in ("exp", "exp_", "log", "log1p", "sqrt", "sqrt_", "rsqrt", "pow", "pow_", "abs", "abs_",
                 "neg", "neg_", "clamp", "clamp_", "clip", "sum", "prod", "max", "min", "amax", "amin",
                 "logsumexp", "cumsum", "erf", "sin", "cos", "square", "reciprocal", "var", "std",
                 "mm", "baddbmm", "addmm", "lerp", "float_power",
                 "true_divide", "floor_divide", "remainder", "fmod", "sign", "tanh_", "addcmul",
                 "addcdiv", "exp2", "diff", "topk", "sort",
                 # further compute methods (no module in either target)
                 "absolute", "acos", "asin", "atan", "atan2", "tan", "sinh", "cosh", "addbmm", "addmv",
                 "aminmax", "argmax", "argmin", "argsort", "ceil", "floor", "round", "trunc", "frac", "clamp_max",
                 "clamp_min", "cummax", "cummin", "cumprod", "divide", "multiply", "subtract", "dot", "vdot",
                 "inner", "outer", "ger", "mv", "erfc", "erfinv", "expm1", "fmax", "fmin", "hypot", "log10",
                 "log2", "maximum", "minimum", "median", "nansum", "negative", "sgn", "xlogy", "prelu",
                 "hardshrink", "where", "log_", "log1p_", "sin_", "cos_", "floor_", "round_", "clamp_min_",
                 "clamp_max_", "addcmul_", "addcdiv_", "lerp_", "square_", "reciprocal_", "rsqrt_",
                 "erf_", "fmod_", "remainder_", "true_divide_", "floor_divide_", "sign_", "exp2_",
                 "cumsum_", "mul", "norm"):
        if not any(s.key == "Tensor." + name for s in specs):
            specs.append(_method(name, hint=name in hinted))
    for name in ("view", "reshape", "permute", "transpose", "flatten", "unsqueeze", "squeeze", "expand",
                 "expand_as", "repeat", "split", "narrow", "flip", "roll", "gather", "index_select",
                 "t", "view_as", "reshape_as", "unbind", "unfold", "contiguous", "repeat_interleave",
                 "movedim", "tile", "swapaxes",
                 # masks and triangles: they select values, they compute none
                 "masked_fill", "masked_fill_", "tril", "triu", "tril_", "triu_"):
        if not any(s.key == "Tensor." + name for s in specs):
            specs.append(_method(name, dm=True))
    return specs


def _index(specs: list[OpSpec]) -> Mapping[str, OpSpec]:
    out: dict[str, OpSpec] = {}
    for spec in specs:
        out.setdefault(spec.key, spec)
    return MappingProxyType(out)


OPS: Mapping[str, OpSpec] = _index(
    _operator_specs() + _functional_specs() + _torch_function_specs() + _tensor_method_specs()
)

# ----------------------------------------------------------- module knowledge
#: torch.nn modules that hold no parameters and no buffers: reusing one is not
#: weight tying, and a copy of its constructor is an exact duplicate.
STATELESS_MODULES = frozenset(
    NN + name
    for name in (
        "ReLU ReLU6 LeakyReLU ELU SELU CELU GELU SiLU Mish Hardswish Hardsigmoid Hardtanh Sigmoid Tanh "
        "Softplus Softsign Softmax Softmin LogSoftmax LogSigmoid GLU Threshold Tanhshrink Softshrink "
        "Hardshrink Identity Flatten Unflatten Dropout Dropout1d Dropout2d Dropout3d AlphaDropout "
        "FeatureAlphaDropout MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d "
        "AdaptiveMaxPool3d Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle "
        "ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
        "ReflectionPad2d ReplicationPad1d ReplicationPad2d ChannelShuffle CosineSimilarity "
        "PairwiseDistance"
    ).split()
)

#: Stateless modules whose reuse does not matter to a quantizer: they carry no
#: observer (identity, dropout). Reported only with distiller-report-stateless-reuse.
QUANT_NEUTRAL_MODULES = frozenset(
    NN + name
    for name in "Identity Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout".split()
)

#: torch.nn classes whose instances are tensors, not modules.
TENSOR_CLASSES = frozenset(("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"))

#: Name suffixes of modules that belong to training, not to the model a quantizer
#: converts (losses are built per step, often inside forward): never inline-module.
TRAINING_ONLY_SUFFIXES = ("Loss",)

@dataclass(frozen=True)
class FusableChain:
    """Module types, in call order, that `torch.ao.quantization.fuse_modules` fuses into one.

    The rows of torch's `_DEFAULT_OP_LIST_TO_FUSER_METHOD` (fuser_method_mappings.py,
    torch 2.14): exact types, so `nn.ReLU6`, `nn.LeakyReLU` or a BatchNorm subclass
    never fuse. `qat` is False where `fuse_modules_qat` raises (ConvTranspose+BN).
    """

    types: tuple[str, ...]
    fused: str  # the intrinsic module fuse_modules builds (eval mode), for messages
    qat: bool = True


FUSABLE_CHAINS: tuple[FusableChain, ...] = tuple(
    FusableChain(tuple(NN + t for t in types.split()), fused, qat)
    for types, fused, qat in (
        ("Conv1d BatchNorm1d ReLU", "ConvReLU1d", True),
        ("Conv2d BatchNorm2d ReLU", "ConvReLU2d", True),
        ("Conv3d BatchNorm3d ReLU", "ConvReLU3d", True),
        ("Conv1d BatchNorm1d", "Conv1d", True),
        ("Conv2d BatchNorm2d", "Conv2d", True),
        ("Conv3d BatchNorm3d", "Conv3d", True),
        ("Conv1d ReLU", "ConvReLU1d", True),
        ("Conv2d ReLU", "ConvReLU2d", True),
        ("Conv3d ReLU", "ConvReLU3d", True),
        ("Linear BatchNorm1d", "Linear", True),
        ("Linear ReLU", "LinearReLU", True),
        ("BatchNorm2d ReLU", "BNReLU2d", True),
        ("BatchNorm3d ReLU", "BNReLU3d", True),
        ("ConvTranspose1d BatchNorm1d", "ConvTranspose1d", False),
        ("ConvTranspose2d BatchNorm2d", "ConvTranspose2d", False),
        ("ConvTranspose3d BatchNorm3d", "ConvTranspose3d", False),
    )
)

@dataclass(frozen=True)
class LayerArg:
    """One child of a library `nn.Sequential` subclass: the constructor argument that gives its
    class (by keyword or position; an explicit None leaves the child out) and the default class."""

    keyword: str | None
    position: int | None
    default: str


#: Library Sequential subclasses whose children follow their constructor arguments, so a
#: chain inside them is known statically (children named "0", "1", "2" in this order).
KNOWN_SEQUENTIALS: Mapping[str, tuple[LayerArg, ...]] = MappingProxyType({
    f"torchvision.ops.misc.Conv{n}dNormActivation": (
        LayerArg(None, None, f"{NN}Conv{n}d"),
        LayerArg("norm_layer", 6, f"{NN}BatchNorm{n}d"),
        LayerArg("activation_layer", 7, NN + "ReLU"),
    )
    for n in (1, 2, 3)
})

#: The method the fusion fix adds, torchvision's name and signature for it.
FUSE_METHOD = "fuse_model"
FUSE_FUNCTIONS = ("torch.ao.quantization.fuse_modules", "torch.ao.quantization.fuse_modules_qat")

#: torch.nn containers: calling one runs its children, iterating one yields modules.
CONTAINER_MODULES = frozenset(NN + n for n in ("Sequential", "ModuleList", "ModuleDict"))


@dataclass(frozen=True)
class QuantizableVariant:
    """What replaces an unquantizable module, per target (None: no variant)."""

    distiller: str | None
    eager: str | None
    distiller_ctor: tuple[tuple[str, str], ...] = ()  # explicit keywords the variant needs
    #: eager `prepare` swaps it for its quantizable variant itself (default custom module config:
    #: `get_default_custom_config_dict()`), so torch-eager code keeps the torch module (measured)
    eager_prepare: bool = False

    def for_target(self, target: str) -> str | None:
        return self.distiller if target == DISTILLER else self.eager


UNQUANTIZABLE: Mapping[str, QuantizableVariant] = MappingProxyType(
    {
        NN + "LSTM": QuantizableVariant(DM + "DistillerLSTM", "torch.ao.nn.quantizable.LSTM", eager_prepare=True),
        NN + "LSTMCell": QuantizableVariant(DM + "DistillerLSTMCell", None),
        NN + "GRU": QuantizableVariant(None, None),
        NN + "GRUCell": QuantizableVariant(None, None),
        NN + "RNN": QuantizableVariant(None, None),
        NN + "RNNCell": QuantizableVariant(None, None),
        NN + "MultiheadAttention": QuantizableVariant(None, "torch.ao.nn.quantizable.MultiheadAttention",
                                                     eager_prepare=True),
        NN + "TransformerEncoderLayer": QuantizableVariant(None, None),
        NN + "TransformerDecoderLayer": QuantizableVariant(None, None),
        NN + "Transformer": QuantizableVariant(None, None),
    }
)

#: torch functions that make new tensors: not ops, but their results are tensors.
TENSOR_FACTORIES = frozenset(
    "torch." + n
    for n in (
        "zeros ones empty full arange linspace logspace randn rand randint randn_like rand_like "
        "randint_like randperm tensor as_tensor from_numpy zeros_like ones_like full_like empty_like "
        "eye bernoulli multinomial normal stack_like complex polar"
    ).split()
)

#: Attributes of a tensor that are not tensors (shape facts, dtype, device).
TENSOR_METADATA_ATTRS = frozenset(
    "shape ndim dtype device is_cuda requires_grad layout is_sparse is_quantized names grad_fn".split()
)

#: Tensor methods whose result is not a tensor (shape arithmetic lives here).
NON_TENSOR_METHODS = frozenset(
    "size dim numel item tolist stride element_size nelement is_contiguous data_ptr get_device "
    "is_floating_point dim_order".split()
)

#: Methods of nn.Module that a new member name must never shadow.
MODULE_ATTRIBUTES = frozenset(
    "T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda "
    "double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter "
    "get_submodule half ipu load_state_dict modules mtia named_buffers named_children "
    "named_modules named_parameters parameters register_backward_hook register_buffer "
    "register_forward_hook register_forward_pre_hook register_full_backward_hook "
    "register_full_backward_pre_hook register_load_state_dict_post_hook register_module "
    "register_parameter register_state_dict_pre_hook requires_grad_ set_extra_state "
    "set_submodule share_memory state_dict to to_empty train training type xpu zero_grad "
    "config device dtype training".split()
)
