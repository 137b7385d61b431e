"""Calibrate eager PTQ observers on the tensors the quantized ops actually consume.

Why: after `convert`, an op such as max pooling, average pooling, `mean`, `interpolate` or
an unfused ReLU runs on a quantized tensor and KEEPS its scale and zero point (measured on
torch 2.14, x86). So the one scale that the producer's observer picks (a fused conv+relu,
a `FloatFunctional.add_relu`, a QuantStub) also serves every such op after it. Eager mode's
observer sees only the producer's output; FX graph mode shares the producer's observer with
those ops (its backend config's "share qparams with input" ops, the list below), so its
scale also fits the pooled, averaged or clamped values the next layer reads.

`share_observers(model)` gives eager calibration FX's statistics: while it is active, every
output of such an op, computed from a tensor an observer of `model` has just seen, is also
fed to that observer (views and reshapes pass the link on without feeding it again: their
values are the same). Where the prepared model has FX's structure, the scales are then
FX's exactly (torchvision resnet18 in `benchmarks/ptq_sweep.py`: 17.94 dB without, 18.28
with, FX 18.28). Observers only gather statistics, so this never changes what runs or what
the model returns; it only changes the scales `convert` picks. Use it around the
calibration loop of a prepared model (README, "Eager post-training quantization"):

    prepare(quantized, inplace=True)
    with share_observers(quantized), torch.no_grad():
        for batch in calibration_batches:
            quantized(batch)
    convert(quantized, inplace=True)

A `DeQuantStub` ends the link (what follows it runs in float after `convert`), and so does
a module with an observer of its own (`nn.ReLU6` requantizes). This module imports torch;
the linter and `fix` never import it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import DeQuantStub
from torch.ao.quantization.observer import ObserverBase
from torch.overrides import TorchFunctionMode

#: functions whose output, on a quantized input, keeps the input's scale and zero point
#: but holds other values: the producer's observer should also see them (FX's x86 backend
#: config shares the observer for each of them; `torch.clip` is `clamp`, `upsample*` call
#: `interpolate`)
VALUE_KEEPING_FUNCTIONS = frozenset({
    F.max_pool1d, F.max_pool2d, F.max_pool3d, torch.max_pool1d, torch.max_pool2d, torch.max_pool3d,
    F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, torch.avg_pool1d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, torch.adaptive_avg_pool1d,
    torch.mean, torch.Tensor.mean, F.interpolate, F.upsample, F.upsample_nearest, F.upsample_bilinear,
    F.relu, torch.relu, torch.Tensor.relu, F.relu6, F.hardtanh, torch.clamp, torch.Tensor.clamp,
    torch.clip, torch.Tensor.clip,
})
#: functions whose outputs hold the same values (or a subset) at the same scale: they pass
#: the link on without feeding the observer the same values twice
SAME_VALUE_FUNCTIONS = frozenset({
    torch.Tensor.reshape, torch.Tensor.view, torch.Tensor.flatten, torch.Tensor.permute,
    torch.Tensor.transpose, torch.Tensor.contiguous, torch.Tensor.squeeze, torch.Tensor.unsqueeze,
    torch.Tensor.__getitem__, torch.Tensor.chunk, torch.Tensor.split, torch.Tensor.expand,
    torch.Tensor.repeat, torch.Tensor.repeat_interleave, torch.Tensor.narrow, torch.Tensor.detach,
    torch.reshape, torch.flatten, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.chunk, torch.split, torch.narrow, torch.repeat_interleave, F.pixel_shuffle, F.pixel_unshuffle,
})


class _Links:
    """Which live tensor was last seen by which observer (by identity, checked by weakref)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref, ObserverBase]] = {}

    def observer_of(self, value: Any) -> ObserverBase | None:
        if not isinstance(value, torch.Tensor):
            return None
        entry = self._by_id.get(id(value))
        if entry is None or entry[0]() is not value:
            return None
        return entry[1]

    def link(self, value: Any, observer: ObserverBase) -> None:
        for tensor in _tensors(value):
            key = id(tensor)
            self._by_id[key] = (weakref.ref(tensor, lambda _ref, key=key: self._by_id.pop(key, None)), observer)

    def follow(self, source: Any, result: Any, feed: bool) -> None:
        """`result` was computed from `source`: link it to `source`'s observer, feeding it once."""
        observer = self.observer_of(source)
        if observer is None:
            return
        for tensor in _tensors(result):
            if tensor is source or not tensor.is_floating_point():
                continue
            if feed:
                observer(tensor.detach())
            self.link(tensor, observer)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


def _first(args: tuple, kwargs: dict) -> Any:
    if args:
        return args[0]
    return kwargs.get("input", kwargs.get("self"))


class _FunctionLinks(TorchFunctionMode):
    """Follows the functions above, unless the module running them has an observer of its
    own (`nn.ReLU6`, `nn.LeakyReLU` after `prepare`): its output gets its own scale."""

    def __init__(self, links: _Links, running: list[nn.Module]) -> None:
        super().__init__()
        self.links = links
        self.running = running

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func in VALUE_KEEPING_FUNCTIONS or func in SAME_VALUE_FUNCTIONS:
            if not (self.running and hasattr(self.running[-1], "activation_post_process")):
                self.links.follow(_first(args, kwargs), result, feed=func in VALUE_KEEPING_FUNCTIONS)
        return result


@contextlib.contextmanager
def share_observers(model: nn.Module) -> Iterator[None]:
    """While active, feed `model`'s activation observers the values the ops after them keep
    at their scale (see the module docstring). `model` must be prepared (observers in it).

    Modules need no rule of their own: `nn.MaxPool2d`, `nn.ReLU`, `nn.Upsample`, `nn.Flatten`...
    run the functions above, which the function mode sees. Observers are modules, so a
    global forward hook sees each one's output, whoever calls it (a fused conv's hook, a
    `FloatFunctional` method, a QuantStub)."""
    links = _Links()
    members = {id(module) for module in model.modules()}
    running: list[nn.Module] = []  # the modules whose forward is on the stack, innermost last

    def before_forward(module: nn.Module, inputs: tuple) -> None:
        running.append(module)

    def after_forward(module: nn.Module, inputs: tuple, output: Any) -> Any:
        if running and running[-1] is module:
            running.pop()
        if id(module) not in members:
            return None
        if isinstance(module, ObserverBase):
            links.link(output, module)
        elif isinstance(module, DeQuantStub) and isinstance(output, torch.Tensor):
            return output.view_as(output)  # a new tensor object: what follows runs in float
        return None

    handles = (nn.modules.module.register_module_forward_pre_hook(before_forward),
               nn.modules.module.register_module_forward_hook(after_forward))
    try:
        with _FunctionLinks(links, running), _observe_fused_once(model):
            yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _observe_fused_once(model: nn.Module) -> Iterator[None]:
    """A fused module (`ConvReLU2d`...) is an `nn.Sequential`; `prepare` adds its observer as
    its last child, so `Sequential.forward` runs the observer on the output, then the observer
    hook runs it again: eager counts every fused output twice. Harmless alone (a histogram
    doubled everywhere picks the same scale), but against the values fed above it would
    weigh the producer twice, where FX weighs every use once. While calibrating, the
    observer is kept as a plain attribute (the hook still finds it), not as a child."""
    moved = [module for module in model.modules()
             if isinstance(module, nn.Sequential) and "activation_post_process" in module._modules]
    for module in moved:
        module.__dict__["activation_post_process"] = module._modules.pop("activation_post_process")
    try:
        yield
    finally:
        for module in moved:
            module._modules["activation_post_process"] = module.__dict__.pop("activation_post_process")
