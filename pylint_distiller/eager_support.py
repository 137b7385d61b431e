"""What PyTorch eager mode runs on quantized tensors: measured facts, kept as data.

Measured on the pinned torch (2.14.1, x86 engine, ``get_default_qconfig("x86")``)
by `tests/support/eager_kernels.py`; `tests/test_eager_support.py` measures again
and fails when torch no longer agrees, so these sets cannot go stale silently.
The linter never imports torch: it reads these sets.

The torch-eager target uses them to decide where a float island (a `DeQuantStub`
before the op, a `QuantStub` after it) is needed: an op or module that fails on
quantized tensors after `prepare`/`convert`, and that the target has no quantized
module for. Ops and modules that are not listed were not measured, and get no
island.
"""

from __future__ import annotations

#: Ops that fail on quantized activations (`a - b`, `x.sum()`, `F.silu(x)`). Keys are catalogue op keys;
#: `operator.<op>:scalar` is the op with a Python number operand, `:float-operand` with a float tensor.
FLOAT_ONLY_OPS = frozenset((
    "Tensor.abs", "Tensor.add", "Tensor.amax", "Tensor.clamp_min", "Tensor.cumsum", "Tensor.div",
    "Tensor.erf", "Tensor.exp", "Tensor.float", "Tensor.log", "Tensor.log_softmax", "Tensor.matmul",
    "Tensor.mul", "Tensor.neg", "Tensor.norm", "Tensor.pow", "Tensor.prod", "Tensor.reciprocal",
    "Tensor.roll", "Tensor.rsqrt", "Tensor.softmax", "Tensor.sqrt", "Tensor.square", "Tensor.sub",
    "Tensor.sum", "Tensor.var", "operator.add", "operator.add:float-operand", "operator.add:scalar",
    "operator.matmul", "operator.mul", "operator.mul:scalar", "operator.neg", "operator.pow", "operator.sub",
    "operator.sub:scalar", "operator.truediv", "operator.truediv:scalar", "torch.abs", "torch.add",
    "torch.amax", "torch.bmm", "torch.cumsum", "torch.div", "torch.einsum", "torch.erf", "torch.exp",
    "torch.layer_norm", "torch.log", "torch.logsumexp", "torch.matmul", "torch.mul",
    "torch.nn.functional.batch_norm", "torch.nn.functional.conv2d", "torch.nn.functional.elu",
    "torch.nn.functional.group_norm", "torch.nn.functional.hardswish", "torch.nn.functional.layer_norm",
    "torch.nn.functional.linear", "torch.nn.functional.log_softmax", "torch.nn.functional.mish",
    "torch.nn.functional.normalize", "torch.nn.functional.silu", "torch.nn.functional.softmax",
    "torch.nn.functional.softplus", "torch.nn.functional.unfold", "torch.pow", "torch.roll", "torch.rsqrt",
    "torch.softmax", "torch.sqrt", "torch.square", "torch.sub", "torch.sum", "torch.where",
    "torch.norm", "torch.addcmul", "Tensor.addcmul", "torch.nn.functional.fold",
))

#: Ops that run on quantized activations as they are (cat, chunk, transpose, mean, interpolate...).
QUANTIZED_OPS = frozenset((
    "Tensor.chunk", "Tensor.clamp", "Tensor.contiguous", "Tensor.expand", "Tensor.flatten", "Tensor.max",
    "Tensor.mean", "Tensor.permute", "Tensor.relu", "Tensor.reshape", "Tensor.sigmoid", "Tensor.std",
    "Tensor.tanh", "Tensor.transpose", "Tensor.unfold", "Tensor.view", "torch.cat", "torch.chunk",
    "torch.clamp", "torch.flatten", "torch.max", "torch.mean", "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.avg_pool2d", "torch.nn.functional.dropout", "torch.nn.functional.gelu",
    "torch.nn.functional.hardsigmoid", "torch.nn.functional.hardtanh", "torch.nn.functional.interpolate",
    "torch.nn.functional.leaky_relu", "torch.nn.functional.max_pool2d", "torch.nn.functional.pad",
    "torch.nn.functional.pixel_shuffle", "torch.nn.functional.relu", "torch.nn.functional.relu6",
    "torch.nn.functional.sigmoid", "torch.nn.functional.tanh", "torch.permute", "torch.relu", "torch.reshape",
    "torch.sigmoid", "torch.split", "torch.stack", "torch.tanh", "torch.transpose",
))

#: torch.nn modules that fail after eager PTQ with the x86 default qconfig (no quantized kernel,
#: or a convert that fails).
FLOAT_ONLY_MODULES = frozenset((
    "torch.nn.BatchNorm1d", "torch.nn.CELU", "torch.nn.ConvTranspose1d", "torch.nn.ConvTranspose2d",
    "torch.nn.GLU", "torch.nn.LogSoftmax", "torch.nn.Mish", "torch.nn.PReLU", "torch.nn.SELU",
    "torch.nn.SiLU", "torch.nn.Softmax", "torch.nn.Softplus", "torch.nn.Unfold",
))

#: torch.nn modules that go through eager PTQ and run (swapped for a quantized module by convert,
#: or a float forward that copes with quantized tensors).
QUANTIZED_MODULES = frozenset((
    "torch.nn.AdaptiveAvgPool2d", "torch.nn.AvgPool2d", "torch.nn.BatchNorm2d", "torch.nn.Conv1d",
    "torch.nn.Conv2d", "torch.nn.Dropout", "torch.nn.ELU", "torch.nn.Flatten", "torch.nn.GELU",
    "torch.nn.GroupNorm", "torch.nn.Hardsigmoid", "torch.nn.Hardswish", "torch.nn.Hardtanh",
    "torch.nn.Identity", "torch.nn.InstanceNorm2d", "torch.nn.LayerNorm", "torch.nn.LeakyReLU",
    "torch.nn.Linear", "torch.nn.MaxPool2d", "torch.nn.PixelShuffle", "torch.nn.ReLU", "torch.nn.ReLU6",
    "torch.nn.Sigmoid", "torch.nn.Tanh", "torch.nn.Upsample", "torch.nn.ZeroPad2d",
))

#: Float-only modules that prepare/convert still try to quantize (they are in eager's default
#: module mapping, or need another weight observer): in an island they also need
#: ``qconfig = None``, so that they stay float (measured: PReLU's convert fails otherwise).
MAPPED_FLOAT_ONLY_MODULES = frozenset(("torch.nn.PReLU",))

#: Modules that quantize once they carry a per-tensor weight qconfig (the default x86 one
#: observes weights per channel, which their convert rejects).
PER_TENSOR_WEIGHT_MODULES = frozenset(("torch.nn.ConvTranspose1d", "torch.nn.ConvTranspose2d"))

#: torch.nn types whose float forward fails on quantized input and that eager `convert` swaps by
#: EXACT type only (`type(m) in mapping`), or not at all (BatchNorm1d): a strict subclass (timm's
#: `Conv2dSame`, `BatchNormAct2d`, `LayerNorm2d`), with or without its own forward, is left float
#: by convert and then runs float code on quantized tensors (measured: `tests/test_eager_support.py`).
SUBCLASS_ISLAND_BASES = frozenset((
    "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.Conv1d", "torch.nn.Conv2d",
    "torch.nn.ConvTranspose1d", "torch.nn.ConvTranspose2d", "torch.nn.ELU", "torch.nn.GroupNorm",
    "torch.nn.Hardswish", "torch.nn.InstanceNorm2d", "torch.nn.LayerNorm", "torch.nn.Linear", "torch.nn.PReLU",
))

#: torch.nn modules that RUN on quantized tensors but give their result the INPUT's scale and zero
#: point (no quantized module, a float forward whose kernel keeps the qparams: measured), where the
#: result's range is another one: GELU maps [-a, b] to [-0.17, b], so its result keeps a grid sized
#: for the negative half it no longer has. FX graph mode has no pattern for them (they are not in its
#: x86 backend config): it runs them in float and quantizes the result at its own observed range.
#: An island does the same, so these go into run-time islands too (measured: timm iformer_s
#: 7.8 -> 10.0 dB, torchvision swin_v2_t 15.1 -> 17.5).
INPUT_QPARAMS_MODULES = frozenset(("torch.nn.GELU",))
#: functionals whose fix (torch-eager) is one of `INPUT_QPARAMS_MODULES`: functional -> module
INPUT_QPARAMS_FUNCTIONALS = {"torch.nn.functional.gelu": "torch.nn.GELU"}

#: What `fuse_model()` puts into a float island at run time, by the module's actual type (a type a
#: factory or a caller chose, which the source does not show). Exact types: the float-only modules,
#: except those a qconfig of their own makes quantizable, which get an island only when they carry
#: none (`RUNTIME_ISLAND_UNLESS_CONFIGURED`), and those eager runs at their input's qparams
#: (`INPUT_QPARAMS_MODULES`); subclasses: of `SUBCLASS_ISLAND_BASES`.
RUNTIME_ISLAND_MODULES = FLOAT_ONLY_MODULES - PER_TENSOR_WEIGHT_MODULES | INPUT_QPARAMS_MODULES
RUNTIME_ISLAND_UNLESS_CONFIGURED = PER_TENSOR_WEIGHT_MODULES

#: ``x.view(n, -1)`` on the output of a quantized conv runs (x86 returns it channels_last: it fails).
VIEW_AFTER_QUANTIZED_CONV = False


def op_runs_quantized(key: str, operand: str = "") -> bool | None:
    """True/False as measured for op `key` (with an operand variant: "scalar", "float-operand"); None: unmeasured."""
    full = f"{key}:{operand}" if operand else key
    if full in FLOAT_ONLY_OPS:
        return False
    if full in QUANTIZED_OPS:
        return True
    return None


def module_runs_quantized(qname: str) -> bool | None:
    """True/False as measured for ``torch.nn.<Name>``; None: unmeasured."""
    if qname in FLOAT_ONLY_MODULES:
        return False
    if qname in QUANTIZED_MODULES:
        return True
    return None
