"""Messages (W57xx) and fix safety: what each rule reports, why, and how safe its fix is."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from pylint_distiller.catalogue.targets import TORCH_EAGER, TARGETS, BASE_ID, DOCS_URL


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
                    "module per iteration, an `nn.ModuleList` indexed by the loop position "
                    "(sized `len(self.c or ())` where the container may be None); in any other "
                    "loop (a count from the input, `zip` without a position, nested loops) no "
                    "fix for distiller (one module would be reused), and for torch-eager one "
                    "`FloatFunctional` shared by every run: eager runs it, and its observer's "
                    "statistics are shared across the iterations (safe: no state in float). No fix in a "
                    "subclass of `nn.Sequential`/`nn.ModuleList`/`nn.ModuleDict` (the member "
                    "would become one of its items), nor where the target has no module "
                    "for the op (`**`, `//`, unary minus for distiller). torch-eager runs an "
                    "op it has no quantized kernel for (`-`, `/`, `**`, an operand that is a "
                    "float parameter such as `x + self.pos_embed`) in a float island: a "
                    "DeQuantStub on each activation operand and a QuantStub on the result, "
                    "stubs that are identity modules without state before `prepare` (safe). "
                    "An op in a module-level helper that receives no module, or in a static "
                    "method (`rotate_half(x)`, "
                    "`apply_rotary_pos_emb(q, k, cos, sin)`) is fixed by lifting the helper into "
                    "a module class next to it, whose forward is the helper's body; the calling "
                    "class holds one instance per call site and the original function stays "
                    "(safe: the class holds no parameters). A helper in another file of the "
                    "checked package gets its class in that file, and both files are written "
                    "together or not at all. No lift where the call runs several times per "
                    "pass, or the helper is decorated, recursive, a generator, or declares "
                    "`global`/`nonlocal` names: the message says which. torch-eager: a tensor `a + b` "
                    "or `a * b` no member can hold (its module class or helper runs several times per "
                    "pass, as timm CoaT's shared `ConvPosEnc`, or the class can take no member) calls a "
                    "generated `add_dynamic_qparams(a, b)` / `mul_dynamic_qparams(a, b)`: the operator "
                    "in float; on two quantized tensors it computes on the dequantized inputs and "
                    "quantizes the result at its own range, measured on each call (safe: no state, "
                    "no module run twice)."
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
                    "`__init__`; otherwise no fix. torch-eager: a `torch.cat` no member can hold "
                    "(a subclass of `nn.Sequential`/`nn.ModuleDict` whose forward iterates itself, "
                    "a module class run several times per pass) calls a generated "
                    "`cat_common_qparams(tensors, dim)`, which is `torch.cat` in float and "
                    "requantizes quantized inputs to one scale covering all of them (a quantized "
                    "`torch.cat` keeps the first input's scale and clips the others): safe, no state."
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
                    "is passed. Weighted functionals: manual. In a helper that receives its "
                    "module (`F.dropout(w, p=dropout, training=module.training)`), a rate that "
                    "every calling class passes as one `__init__`-time expression while training "
                    "(`dropout=0.0 if not self.training else self.dropout.p`) becomes "
                    "`nn.Dropout(p=self.dropout.p)` on each caller (safe: the rate only matters "
                    "in training mode)."
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
                    "`qconfig = None` on `nn.PReLU` and on a module whose `.weight` values forward reads. "
                    "A read of a member's weight metadata (`.weight.dtype`, `.weight.device`, "
                    "`.weight.shape`) goes through a generated `float_parameter()`, and a cast of an "
                    "activation to that dtype through `cast_unless_quantized()`: in float both return "
                    "exactly what the original expression did; after convert they answer from the "
                    "dequantized weight and leave a quantized activation as it is. An activation's "
                    "`.dtype` whose every use builds a tensor that is never quantized (a mask: a torch "
                    "factory's `dtype=`, `torch.finfo`, `.to()` of numbers, also through a local or a "
                    "method's parameter) goes through a generated `float_dtype()`: the same dtype in float, "
                    "`torch.float32` for a quantized tensor, whose `torch.quint8` such a tensor cannot take. "
                    "A conv built with "
                    "`padding=\"same\"` (no quantized form) gets the explicit symmetric padding where it "
                    "is the same convolution (every `dilation * (kernel_size - 1)` even), else no fix."
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
                        "(conv+bn+relu, linear+relu...), or modules it can run only in float, and "
                        "no `fuse_model()` that fuses them or puts them into float islands.",
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
                    "on one line. After fusing, the generated walk also puts every module "
                    "whose run-time type eager cannot run on quantized tensors into a "
                    "`FloatIsland` (DeQuantStub, the module in float, QuantStub): types "
                    "with no quantized kernel (`nn.SiLU`, `nn.Softmax`, an unfused "
                    "`nn.BatchNorm1d`...), a ConvTranspose without its own qconfig, and "
                    "subclasses of `nn.Conv2d`/`nn.BatchNorm2d`/`nn.LayerNorm`... that "
                    "`convert` leaves float because it swaps modules by exact type. Their "
                    "types often show only at run time (factory-built activations, layers "
                    "passed in), so a class that may hold such a module gets the walk too. "
                    "`FloatIsland` is plain torch code added once per file; its stubs hold "
                    "no state, and an island that gets a float input after convert returns "
                    "float (so it nests inside static islands). The wrapped modules' "
                    "state_dict keys gain `.module` once `fuse_model()` has run, as fusion "
                    "renames keys: call it after loading the checkpoint."
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
