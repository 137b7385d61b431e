"""Measure, on the installed torch, which ops and modules eager mode runs on quantized tensors.

`pylint_distiller/eager_support.py` holds the result as data (the linter never
imports torch); `tests/test_eager_support.py` re-measures it so the data cannot go
stale when torch moves. Run ``python -m tests.support.eager_kernels`` to print the
measured tables.

* An op is called as model code calls it, on quantized activations (quint8,
  per-tensor, the x86 engine): ``x.sum()``, ``a - b`` with both operands
  quantized, ``F.silu(x)``. Ops with a scalar operand are measured as ``x * 2``.
* A module is measured by eager post-training quantization itself:
  ``Sequential(QuantStub, module, DeQuantStub)`` with ``get_default_qconfig("x86")``,
  prepare, calibrate, convert, run. It "runs quantized" when the converted model
  runs (whether convert swapped it for a quantized module or its float forward
  copes with quantized tensors).
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.ao.quantization as tq
import torch.nn as nn
import torch.nn.functional as F

T, FN, TS, OP = "torch.", "torch.nn.functional.", "Tensor.", "operator."

# x, y: quantized activations (2, 4, 6, 6); s: a quantized (2, 4, 6) sequence
_OPS: dict[str, Callable] = {
    OP + "add": lambda x, y, s: x + y,
    OP + "sub": lambda x, y, s: x - y,
    OP + "mul": lambda x, y, s: x * y,
    OP + "truediv": lambda x, y, s: x / y,
    OP + "matmul": lambda x, y, s: x @ y,
    OP + "pow": lambda x, y, s: x ** 2,
    OP + "neg": lambda x, y, s: -x,
    OP + "add:scalar": lambda x, y, s: x + 1.0,
    OP + "mul:scalar": lambda x, y, s: x * 2.0,
    OP + "truediv:scalar": lambda x, y, s: x / 2.0,
    OP + "sub:scalar": lambda x, y, s: x - 1.0,
    OP + "add:float-operand": lambda x, y, s: x + torch.ones(6),
    T + "cat": lambda x, y, s: torch.cat([x, y], 1),
    T + "stack": lambda x, y, s: torch.stack([x, y]),
    T + "sum": lambda x, y, s: torch.sum(x, 1),
    T + "mean": lambda x, y, s: torch.mean(x, 1),
    T + "exp": lambda x, y, s: torch.exp(x),
    T + "sqrt": lambda x, y, s: torch.sqrt(x),
    T + "rsqrt": lambda x, y, s: torch.rsqrt(x),
    T + "log": lambda x, y, s: torch.log(x),
    T + "pow": lambda x, y, s: torch.pow(x, 2),
    T + "abs": lambda x, y, s: torch.abs(x),
    T + "clamp": lambda x, y, s: torch.clamp(x, 0, 1),
    T + "sigmoid": lambda x, y, s: torch.sigmoid(x),
    T + "tanh": lambda x, y, s: torch.tanh(x),
    T + "relu": lambda x, y, s: torch.relu(x),
    T + "softmax": lambda x, y, s: torch.softmax(x, -1),
    T + "matmul": lambda x, y, s: torch.matmul(x, y),
    T + "bmm": lambda x, y, s: torch.bmm(s, s.transpose(1, 2)),
    T + "add": lambda x, y, s: torch.add(x, y),
    T + "sub": lambda x, y, s: torch.sub(x, y),
    T + "mul": lambda x, y, s: torch.mul(x, y),
    T + "div": lambda x, y, s: torch.div(x, y),
    T + "flatten": lambda x, y, s: torch.flatten(x, 1),
    T + "chunk": lambda x, y, s: torch.chunk(x, 2, 1),
    T + "split": lambda x, y, s: torch.split(x, 2, 1),
    T + "transpose": lambda x, y, s: torch.transpose(x, 1, 2),
    T + "permute": lambda x, y, s: torch.permute(x, (0, 2, 3, 1)),
    T + "reshape": lambda x, y, s: torch.reshape(x, (2, -1)),
    T + "roll": lambda x, y, s: torch.roll(x, 1, 2),
    T + "max": lambda x, y, s: torch.max(x),
    T + "einsum": lambda x, y, s: torch.einsum("bchw,bchw->bc", x, y),
    T + "erf": lambda x, y, s: torch.erf(x),
    T + "layer_norm": lambda x, y, s: torch.layer_norm(x, (6,)),
    T + "where": lambda x, y, s: torch.where(x.dequantize() > 0, x, y),
    FN + "relu": lambda x, y, s: F.relu(x),
    FN + "relu6": lambda x, y, s: F.relu6(x),
    FN + "silu": lambda x, y, s: F.silu(x),
    FN + "mish": lambda x, y, s: F.mish(x),
    FN + "gelu": lambda x, y, s: F.gelu(x),
    FN + "elu": lambda x, y, s: F.elu(x),
    FN + "leaky_relu": lambda x, y, s: F.leaky_relu(x),
    FN + "hardswish": lambda x, y, s: F.hardswish(x),
    FN + "hardsigmoid": lambda x, y, s: F.hardsigmoid(x),
    FN + "hardtanh": lambda x, y, s: F.hardtanh(x),
    FN + "sigmoid": lambda x, y, s: F.sigmoid(x),
    FN + "tanh": lambda x, y, s: F.tanh(x),
    FN + "softplus": lambda x, y, s: F.softplus(x),
    FN + "softmax": lambda x, y, s: F.softmax(x, -1),
    FN + "log_softmax": lambda x, y, s: F.log_softmax(x, -1),
    FN + "layer_norm": lambda x, y, s: F.layer_norm(x, (6,)),
    FN + "group_norm": lambda x, y, s: F.group_norm(x, 2),
    FN + "normalize": lambda x, y, s: F.normalize(x, dim=1),
    FN + "unfold": lambda x, y, s: F.unfold(x, 2),
    FN + "pad": lambda x, y, s: F.pad(x, (1, 1, 1, 1)),
    FN + "interpolate": lambda x, y, s: F.interpolate(x, scale_factor=2.0, mode="nearest"),
    FN + "adaptive_avg_pool2d": lambda x, y, s: F.adaptive_avg_pool2d(x, 1),
    FN + "avg_pool2d": lambda x, y, s: F.avg_pool2d(x, 2),
    FN + "max_pool2d": lambda x, y, s: F.max_pool2d(x, 2),
    FN + "dropout": lambda x, y, s: F.dropout(x, 0.1, training=False),
    FN + "pixel_shuffle": lambda x, y, s: F.pixel_shuffle(x, 2),
    FN + "conv2d": lambda x, y, s: F.conv2d(x, torch.randn(4, 4, 3, 3)),
    FN + "linear": lambda x, y, s: F.linear(x, torch.randn(6, 6)),
    FN + "batch_norm": lambda x, y, s: F.batch_norm(x, torch.zeros(4), torch.ones(4)),
    TS + "sum": lambda x, y, s: x.sum(1),
    TS + "mean": lambda x, y, s: x.mean((2, 3), keepdim=True),
    TS + "exp": lambda x, y, s: x.exp(),
    TS + "pow": lambda x, y, s: x.pow(2),
    TS + "sqrt": lambda x, y, s: x.sqrt(),
    TS + "abs": lambda x, y, s: x.abs(),
    TS + "neg": lambda x, y, s: x.neg(),
    TS + "clamp": lambda x, y, s: x.clamp(0, 1),
    TS + "sigmoid": lambda x, y, s: x.sigmoid(),
    TS + "tanh": lambda x, y, s: x.tanh(),
    TS + "relu": lambda x, y, s: x.relu(),
    TS + "softmax": lambda x, y, s: x.softmax(-1),
    TS + "log_softmax": lambda x, y, s: x.log_softmax(-1),
    TS + "add": lambda x, y, s: x.add(y),
    TS + "sub": lambda x, y, s: x.sub(y),
    TS + "mul": lambda x, y, s: x.mul(y),
    TS + "div": lambda x, y, s: x.div(y),
    TS + "matmul": lambda x, y, s: x.matmul(y),
    TS + "max": lambda x, y, s: x.max(),
    TS + "norm": lambda x, y, s: x.norm(dim=1),
    TS + "var": lambda x, y, s: x.var(1),
    TS + "std": lambda x, y, s: x.std(1),
    TS + "view": lambda x, y, s: x.view(2, -1),
    TS + "reshape": lambda x, y, s: x.reshape(2, -1),
    TS + "flatten": lambda x, y, s: x.flatten(1),
    TS + "permute": lambda x, y, s: x.permute(0, 2, 3, 1),
    TS + "transpose": lambda x, y, s: x.transpose(1, 2),
    TS + "contiguous": lambda x, y, s: x.contiguous(),
    TS + "chunk": lambda x, y, s: x.chunk(2, 1),
    TS + "expand": lambda x, y, s: x[:, :1].expand(-1, 4, -1, -1),
    TS + "unfold": lambda x, y, s: x.unfold(2, 2, 2),
    TS + "roll": lambda x, y, s: x.roll(1, 2),
    TS + "rsqrt": lambda x, y, s: x.rsqrt(),
    TS + "log": lambda x, y, s: x.log(),
    TS + "erf": lambda x, y, s: x.erf(),
    TS + "cumsum": lambda x, y, s: x.cumsum(1),
    TS + "square": lambda x, y, s: x.square(),
    TS + "reciprocal": lambda x, y, s: x.reciprocal(),
    TS + "amax": lambda x, y, s: x.amax(1),
    TS + "prod": lambda x, y, s: x.prod(1),
    TS + "clamp_min": lambda x, y, s: x.clamp_min(0.0),
    TS + "float": lambda x, y, s: x.float(),
    T + "cumsum": lambda x, y, s: torch.cumsum(x, 1),
    T + "logsumexp": lambda x, y, s: torch.logsumexp(x, 1),
    T + "square": lambda x, y, s: torch.square(x),
    T + "amax": lambda x, y, s: torch.amax(x, 1),
    T + "norm": lambda x, y, s: torch.norm(x, p=2, dim=(2, 3), keepdim=True),
    T + "addcmul": lambda x, y, s: torch.addcmul(x, x, y),
    TS + "addcmul": lambda x, y, s: x.addcmul(x, y),
    FN + "fold": lambda x, y, s: F.fold(s, (3, 4), 2),
}

#: constructors of the measured modules, for a (2, 4, 6, 6) input (3-d ones get (2, 4, 6))
_MODULES: dict[str, Callable[[], nn.Module]] = {
    "ReLU": nn.ReLU, "ReLU6": nn.ReLU6, "LeakyReLU": nn.LeakyReLU, "ELU": nn.ELU, "GELU": nn.GELU,
    "SiLU": nn.SiLU, "Mish": nn.Mish, "Hardswish": nn.Hardswish, "Hardsigmoid": nn.Hardsigmoid,
    "Hardtanh": nn.Hardtanh, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Softplus": nn.Softplus,
    "Softmax": lambda: nn.Softmax(dim=-1), "LogSoftmax": lambda: nn.LogSoftmax(dim=-1),
    "PReLU": nn.PReLU, "SELU": nn.SELU, "CELU": nn.CELU, "GLU": nn.GLU,
    "Identity": nn.Identity, "Flatten": nn.Flatten, "Dropout": nn.Dropout,
    "MaxPool2d": lambda: nn.MaxPool2d(2), "AvgPool2d": lambda: nn.AvgPool2d(2),
    "AdaptiveAvgPool2d": lambda: nn.AdaptiveAvgPool2d(1), "Upsample": lambda: nn.Upsample(scale_factor=2.0),
    "PixelShuffle": lambda: nn.PixelShuffle(2), "ZeroPad2d": lambda: nn.ZeroPad2d(1),
    "Conv2d": lambda: nn.Conv2d(4, 4, 3, padding=1), "Linear": lambda: nn.Linear(6, 6),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(4, 4, 2, stride=2),
    "ConvTranspose1d": lambda: nn.ConvTranspose1d(4, 4, 2, stride=2), "Conv1d": lambda: nn.Conv1d(4, 4, 3),
    "BatchNorm1d": lambda: nn.BatchNorm1d(4),
    "BatchNorm2d": lambda: nn.BatchNorm2d(4), "LayerNorm": lambda: nn.LayerNorm(6),
    "GroupNorm": lambda: nn.GroupNorm(2, 4), "InstanceNorm2d": lambda: nn.InstanceNorm2d(4),
    "Unfold": lambda: nn.Unfold(kernel_size=2),
    "Embedding": None,  # takes indices, not activations: not measured here
}
_THREE_D = frozenset(("BatchNorm1d", "Conv1d", "ConvTranspose1d"))

#: Module forms measured with the weight observer a fix sets on them (`qconfig` on the module).
PER_TENSOR_WEIGHT = frozenset(("ConvTranspose1d", "ConvTranspose2d"))


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x, y, s = torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6)
    return tuple(torch.quantize_per_tensor(t, 0.05, 128, torch.quint8) for t in (x, y, s))


def _runs(func: Callable, *args) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            func(*args)
    except Exception:  # noqa: BLE001 - any failure means "does not run quantized"
        return False
    return True


def measure_ops() -> dict[str, bool]:
    """Catalogue op key -> whether the op, called as written, runs on quantized activations."""
    torch.backends.quantized.engine = "x86"
    x, y, s = _inputs()
    return {key: _runs(func, x, y, s) for key, func in _OPS.items()}


def view_after_quantized_conv() -> bool:
    """``x.view(n, -1)`` on the output of a quantized conv (x86 returns it channels_last)."""
    torch.backends.quantized.engine = "x86"
    model = nn.Sequential(tq.QuantStub(), nn.Conv2d(4, 4, 3, padding=1)).eval()
    model.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(model, inplace=True)
    model(torch.randn(2, 4, 6, 6))
    tq.convert(model, inplace=True)
    out = model(torch.randn(2, 4, 6, 6))
    return _runs(lambda: out.view(out.size(0), -1))


def eager_ptq_runs(module: nn.Module, shape=(2, 4, 6, 6), qconfig=None) -> bool:
    """Does ``Sequential(QuantStub, module, DeQuantStub)`` go through eager PTQ and run?"""
    torch.backends.quantized.engine = "x86"
    model = nn.Sequential(tq.QuantStub(), module, tq.DeQuantStub()).eval()
    model.qconfig = tq.get_default_qconfig("x86")
    if qconfig is not None:
        module.qconfig = qconfig

    def run() -> None:
        tq.prepare(model, inplace=True)
        with torch.no_grad():
            model(torch.randn(*shape))
        tq.convert(model, inplace=True)
        with torch.no_grad():
            model(torch.randn(*shape))

    return _runs(run)


def per_tensor_weight_qconfig() -> tq.QConfig:
    """The qconfig the ConvTranspose fix sets: x86 activations, per-tensor weights."""
    return tq.QConfig(activation=tq.get_default_qconfig("x86").activation, weight=tq.default_weight_observer)


def measure_modules() -> dict[str, bool]:
    """``torch.nn.<Name>`` -> whether it goes through eager PTQ (x86 default qconfig) and runs."""
    out = {}
    for name, ctor in _MODULES.items():
        if ctor is None:
            continue
        shape = (2, 4, 6) if name in _THREE_D else (2, 4, 6, 6)
        out["torch.nn." + name] = eager_ptq_runs(ctor(), shape)
    return out


def measure_modules_per_tensor_weight() -> dict[str, bool]:
    return {"torch.nn." + name: eager_ptq_runs(_MODULES[name](), (2, 4, 6) if name in _THREE_D else (2, 4, 6, 6),
                                               qconfig=per_tensor_weight_qconfig())
            for name in sorted(PER_TENSOR_WEIGHT)}


def island_runs(name: str, without_qconfig: bool = False) -> bool:
    """Does the module run in a float island (DeQuantStub before, QuantStub after) through eager PTQ?

    `without_qconfig` also sets ``qconfig = None`` on it, so prepare and convert leave it float.
    """
    module = _MODULES[name.rsplit(".", 1)[1]]()
    if without_qconfig:
        module.qconfig = None
    shape = (2, 4, 6) if name.rsplit(".", 1)[1] in _THREE_D else (2, 4, 6, 6)
    island = nn.Sequential(tq.DeQuantStub(), module, tq.QuantStub())
    return eager_ptq_runs(island, shape)


def subclass_of(name: str, own_forward: bool = False) -> nn.Module:
    """An instance of a strict subclass of ``torch.nn.<Name>`` (timm's `Conv2dSame`, `BatchNormAct2d`)."""
    short = name.rsplit(".", 1)[1]
    base = getattr(nn, short)
    body = {"forward": lambda self, x: base.forward(self, x)} if own_forward else {}
    module = _MODULES[short]()
    module.__class__ = type(f"Sub{short}", (base,), body)
    return module


def subclass_runs(name: str, own_forward: bool = False) -> bool:
    """Does a subclass of ``torch.nn.<Name>`` go through eager PTQ (x86 default qconfig) and run?"""
    shape = (2, 4, 6) if name.rsplit(".", 1)[1] in _THREE_D else (2, 4, 6, 6)
    return eager_ptq_runs(subclass_of(name, own_forward), shape)


def subclass_island_runs(name: str) -> bool:
    """... and in a float island, with ``qconfig = None`` on it (what `fuse_model()` builds at run time)?"""
    module = subclass_of(name, own_forward=True)
    module.qconfig = None
    shape = (2, 4, 6) if name.rsplit(".", 1)[1] in _THREE_D else (2, 4, 6, 6)
    return eager_ptq_runs(nn.Sequential(tq.DeQuantStub(), module, tq.QuantStub()), shape)


def main() -> None:  # pragma: no cover - a report for humans
    ops, modules = measure_ops(), measure_modules()
    print("ops that fail on quantized tensors:")
    for key in sorted(k for k, ok in ops.items() if not ok):
        print(f"    {key!r},")
    print("ops that run on quantized tensors:")
    for key in sorted(k for k, ok in ops.items() if ok):
        print(f"    {key!r},")
    print("modules that fail after eager PTQ:", sorted(k for k, ok in modules.items() if not ok))
    print("modules that run after eager PTQ:", sorted(k for k, ok in modules.items() if ok))
    print("with a per-tensor weight qconfig:", measure_modules_per_tensor_weight())
    for name in sorted(k for k, ok in modules.items() if not ok):
        print(f"{name} in an island: {island_runs(name)}, with qconfig None too: {island_runs(name, True)}")
    print("x.view(n, -1) after a quantized conv runs:", view_after_quantized_conv())


if __name__ == "__main__":  # pragma: no cover
    main()
