"""`pylint_distiller.calibration.share_observers`: FX's observer sharing for eager calibration.

The reference is FX graph mode itself: on a model whose only difference between the two
modes is that sharing (conv+relu -> max pool / avg pool / mean / interpolate -> ...), the
scales eager mode picks with `share_observers` must be exactly FX's, and without it they
must differ (so the test can fail). The other tests pin what must NOT be shared: the ops
after a DeQuantStub (float after convert) and modules with an observer of their own.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub, convert, get_default_qconfig, prepare
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from pylint_distiller.calibration import share_observers
from tests.support.ptq import random_batches, sqnr_db

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


class Pooled(nn.Module):
    """Every producer is followed by ops that keep its scale on quantized tensors."""

    def __init__(self, relu: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU() if relu else nn.Identity()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = F.interpolate(self.pool(self.relu1(self.conv1(x))), scale_factor=2.0)
        x = F.interpolate(self.conv2(x), scale_factor=2.0)
        x = F.avg_pool2d(x, 2).mean((2, 3))
        return self.head(x)


def _observed_eager(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).eval()
    if isinstance(model.relu1, nn.ReLU):  # a fused ConvReLU2d: an nn.Sequential holding its observer
        torch.ao.quantization.fuse_modules(model, [["conv1", "relu1"]], inplace=True)
    quantized = nn.Sequential(QuantStub(), model, DeQuantStub()).eval()
    quantized.qconfig = get_default_qconfig("x86")
    return prepare(quantized)


def _calibrate(observed: nn.Module, batches, share: bool) -> None:
    with torch.no_grad():
        if share:
            with share_observers(observed):
                for batch in batches:
                    observed(batch)
        else:
            for batch in batches:
                observed(batch)


def _eager_scales(observed: nn.Module) -> dict[str, float]:
    inner = observed[1]
    return {"conv1": float(inner.conv1.activation_post_process.calculate_qparams()[0]),
            "conv2": float(inner.conv2.activation_post_process.calculate_qparams()[0])}


def _fx_scales(model: nn.Module, batches) -> dict[str, float]:
    observed = prepare_fx(copy.deepcopy(model).eval(), torch.ao.quantization.get_default_qconfig_mapping("x86"),
                          example_inputs=(batches[0],))
    with torch.no_grad():
        for batch in batches:
            observed(batch)
    quantized = convert_fx(observed)
    return {"conv1": float(quantized.conv1.scale), "conv2": float(quantized.conv2.scale)}


def _spiky_batches(count: int, seed: int) -> list[torch.Tensor]:
    """Small values and 1% spikes: the pooled values then sit in the tail of the producer's
    histogram, where an observer that never saw them clips."""
    spikes = torch.Generator().manual_seed(seed + 1000)
    return [0.1 * x + 5.0 * (torch.rand(x.shape, generator=spikes) < 0.01)
            for x in random_batches((2, 3, 16, 16), count, seed)]


@pytest.mark.parametrize("relu", [False, True], ids=["conv", "fused-conv-relu"])
def test_scales_equal_fx_graph_mode(relu):
    """FX fuses conv+relu itself; eager fuses it with `fuse_modules`, and its fused module
    runs its observer twice per call (`_observe_fused_once`): the scales must still be FX's."""
    torch.manual_seed(0)
    model = Pooled(relu).eval()
    batches = _spiky_batches(4, seed=10)
    fx = _fx_scales(model, batches)
    plain, shared = _observed_eager(model), _observed_eager(model)
    _calibrate(plain, batches, share=False)
    _calibrate(shared, batches, share=True)
    assert _eager_scales(shared) == pytest.approx(fx, rel=1e-6)
    assert _eager_scales(plain) != pytest.approx(fx, rel=1e-3)


def test_outputs_during_calibration_unchanged_and_hooks_removed():
    torch.manual_seed(0)
    observed = _observed_eager(Pooled())
    x = random_batches((2, 3, 16, 16), 1, seed=3)[0]
    with torch.no_grad():
        before = observed(x)
        with share_observers(observed):
            during = observed(x)
    assert torch.equal(before, during)
    assert not nn.modules.module._global_forward_hooks
    assert not nn.modules.module._global_forward_pre_hooks
    assert not torch.overrides._is_torch_function_mode_enabled()


class Island(nn.Module):
    """conv -> DeQuantStub -> max pool in float -> QuantStub: the pool runs in float after
    convert, so its values must not reach the conv's observer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dequant = DeQuantStub()
        self.quant = QuantStub()
        self.relu6 = nn.ReLU6()  # has its own observer after prepare: its output keeps no shared scale
        self.conv2 = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        pooled = self.quant(F.max_pool2d(self.dequant(y) * 3.0 + 2.0, 2))
        return self.conv2(self.relu6(pooled))


def test_links_end_at_dequant_stub_and_observed_modules():
    torch.manual_seed(0)
    model = nn.Sequential(QuantStub(), Island(), DeQuantStub()).eval()
    model.qconfig = get_default_qconfig("x86")
    batches = random_batches((2, 3, 16, 16), 3, seed=5)
    plain, shared = prepare(copy.deepcopy(model)), prepare(copy.deepcopy(model))
    _calibrate(plain, batches, share=False)
    _calibrate(shared, batches, share=True)
    for name in ("conv", "quant", "relu6"):
        a = getattr(plain[1], name).activation_post_process
        b = getattr(shared[1], name).activation_post_process
        assert (a.min_val, a.max_val) == (b.min_val, b.max_val), name
        assert torch.equal(a.histogram, b.histogram), name


def test_quantized_model_runs_and_sharing_does_not_hurt():
    torch.manual_seed(0)
    model = Pooled().eval()
    batches = random_batches((2, 3, 16, 16), 4, seed=10)
    evaluation = random_batches((2, 3, 16, 16), 2, seed=90)
    with torch.no_grad():
        reference = torch.cat([model(x) for x in evaluation])
    scores = {}
    for share in (False, True):
        observed = _observed_eager(model)
        _calibrate(observed, batches, share)
        quantized = convert(observed)
        with torch.no_grad():
            scores[share] = sqnr_db(reference, torch.cat([quantized(x) for x in evaluation]))
    assert scores[True] > 15.0
    assert scores[True] >= scores[False] - 0.5
