"""Ops in loops, torch-eager: one module per iteration where the trip count is a member
container's length, one FloatFunctional shared by every iteration where it is not.

The loop shapes are the ones that stopped eager PTQ on real models (`aten::add` on quantized
tensors): torchvision's FeaturePyramidNetwork (trip count from the input), timm lcnetv2
(enumerate over a member ModuleList that is None on some paths and set to None by
`reparameterize()`), hrnet (a container a method shortens, nested loops, a parameterless
activation reused in the loop, and `y = None` before the loop, then `y + f(x[j])` on later
turns, not even seen as a tensor op before) and repghost (`zip` of two Sequentials, no position).
For every case the unprepared model fails the README's eager PTQ recipe; after
``fix --target torch-eager`` it builds, loads the original state_dict strictly, gives the
same float outputs before and after `fuse_model()` (eval), quantizes with a sane SQNR, and a
second fix changes nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from pylint_distiller.api import analyze_source
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 20.0
HEADER = "import torch\nimport torch.nn as nn\n\n\n"

CASES = {
    # torchvision FPN: the trip count comes from the input's number of levels; a ReLU without
    # parameters is reused by every iteration (it runs quantized: no fix needed for eager)
    "input_dependent_count": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.levels = nn.ModuleList([nn.Conv2d(dim, dim, 3, padding=1) for _ in range(3)])
                self.inner = nn.Conv2d(dim, dim, 1)
                self.act = nn.ReLU()

            def forward(self, x):
                feats = [level(x) for level in self.levels]
                last = feats[-1]
                for idx in range(len(feats) - 2, -1, -1):
                    last = self.act(self.inner(feats[idx]) + last)
                return last
        """, {}),
    # timm lcnetv2: enumerate over a member ModuleList, with the loop's position
    "enumerate_member_list": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.convs = nn.ModuleList([nn.Conv2d(dim, dim, k, padding=k // 2) for k in (5, 3, 1)])

            def forward(self, x):
                out = self.convs[0](x)
                for i, conv in enumerate(self.convs):
                    if i > 0:
                        out = out + conv(x)
                return out
        """, {}),
    # timm lcnetv2 with use_rep=False: the container is None when __init__ ends, and
    # reparameterize() sets it to None later
    "container_none_on_some_path": ("""
        class Net(nn.Module):
            def __init__(self, dim, use_rep=False):
                super().__init__()
                if use_rep:
                    self.conv = None
                    self.convs = nn.ModuleList([nn.Conv2d(dim, dim, k, padding=k // 2) for k in (5, 3, 1)])
                else:
                    self.convs = None
                    self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                if self.conv is not None:
                    return self.out(self.conv(x)) + x
                out = self.convs[0](x)
                for i, conv in enumerate(self.convs):
                    if i > 0:
                        out = out + conv(x)
                return self.out(out)

            def reparameterize(self):
                if self.convs is None:
                    return
                self.conv = nn.Conv2d(self.convs[0].in_channels, self.convs[0].out_channels, 3, padding=1)
                self.convs = None
        """, {"use_rep": True}),
    # timm hrnet's head: `range(len(self.c))` over a container a method may only shorten
    "container_a_method_shortens": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.stem = nn.Conv2d(dim, dim, 3, padding=1)
                self.incre = nn.ModuleList([nn.Conv2d(dim, dim, 1) for _ in range(3)])

            def forward(self, x):
                x = self.stem(x)
                y = self.incre[0](x)
                for i in range(len(self.incre)):
                    y = self.incre[i](x) + y
                return y

            def prune(self, keep):
                self.incre = self.incre[:keep]
        """, {}),
    # timm repghost: zip of two Sequentials without enumerate, so no position to index with
    "zip_without_index": ("""
        class Net(nn.Module):
            def __init__(self, dim, reparam=True):
                super().__init__()
                convs, bns = [], []
                if reparam:
                    convs.append(nn.Identity())
                    bns.append(nn.BatchNorm2d(dim))
                    convs.append(nn.Conv2d(dim, dim, 1))
                    bns.append(nn.BatchNorm2d(dim))
                self.primary = nn.Conv2d(dim, dim, 3, padding=1)
                self.fusion_conv = nn.Sequential(*convs)
                self.fusion_bn = nn.Sequential(*bns)

            def forward(self, x):
                x1 = self.primary(x)
                x2 = x1
                for conv, bn in zip(self.fusion_conv, self.fusion_bn):
                    x2 = x2 + bn(conv(x1))
                return x2
        """, {}),
    # hrnet's fuse layers: an op in nested loops takes one shared module
    "nested_loops": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.branches = nn.ModuleList([nn.Conv2d(dim, dim, 3, padding=1) for _ in range(3)])
                self.heads = nn.ModuleList([nn.Conv2d(dim, dim, 1) for _ in range(2)])

            def forward(self, x):
                feats = [branch(x) for branch in self.branches]
                y = self.heads[0](x)
                for i, head in enumerate(self.heads):
                    for j in range(len(feats)):
                        y = y + head(feats[j])
                return y
        """, {}),
    # timm hrnet's fuse layers exactly: `y = None`, then `y = f(x[j])` on the first turn and
    # `y = y + f(x[j])` on the later ones (a tensor op only a later turn shows), in nested loops
    # over a ModuleList of ModuleLists, with a parameterless fuse_act reused by every turn
    "hrnet_fuse_layers": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.branches = nn.ModuleList([nn.Conv2d(dim, dim, 3, padding=1) for _ in range(2)])
                self.fuse_layers = nn.ModuleList([nn.ModuleList([nn.Conv2d(dim, dim, 1) for _ in range(2)])
                                                  for _ in range(2)])
                self.fuse_act = nn.ReLU()

            def forward(self, x):
                x = [branch(x) for branch in self.branches]
                x_fuse = []
                for i, fuse_outer in enumerate(self.fuse_layers):
                    y = None
                    for j, f in enumerate(fuse_outer):
                        if y is None:
                            y = f(x[j])
                        else:
                            y = y + f(x[j])
                    x_fuse.append(self.fuse_act(y))
                return torch.cat(x_fuse, 1)
        """, {}),
}


def _source(name: str) -> str:
    body, kwargs = CASES[name]
    return HEADER + textwrap.dedent(body).strip() + (
        f"\n\n\ndef build(**kwargs):\n    return Net(4, **{{**{kwargs!r}, **kwargs}})\n\n\n"
        "def example_inputs():\n    return (torch.randn(2, 4, 8, 8),)\n")


def _fixed(text: str, unsafe: bool = True) -> str:
    return fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=unsafe).text


def _built(module, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = module.build(**kwargs)
    for sub in model.modules():
        if isinstance(sub, nn.BatchNorm2d):
            sub.running_mean.uniform_(-0.5, 0.5)
            sub.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _calibration(x: torch.Tensor) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn_like(x) for _ in range(4)] + [x]


def _check_prepared(original, prepared, x: torch.Tensor, **kwargs) -> float:
    """Strict load, same float outputs before and after fuse_model(), the README recipe: its SQNR."""
    reference_model = _built(original, **kwargs)
    model = prepared.build(**kwargs).eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.allclose(model(x), reference, atol=1e-6)
        if hasattr(model, "fuse_model"):
            model.fuse_model()
            assert torch.allclose(model(x), reference, atol=1e-5)
    quantized = readme_recipe()(model, _calibration(x))
    with torch.no_grad():
        return sqnr_db(reference, quantized(x))


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_loop_ops_make_eager_ptq_run(name, unsafe):
    text = _source(name)
    result = _fixed(text, unsafe)
    original = load_module_from_source(text, f"loop_trip_{name}")
    prepared = load_module_from_source(result, f"loop_trip_{name}_{unsafe}_fixed")
    x = original.example_inputs()[0]
    with pytest.raises(NotImplementedError), torch.no_grad():  # aten::add on quantized tensors
        readme_recipe()(_built(original), _calibration(x))(x)
    quality = _check_prepared(original, prepared, x)
    print(f"{name}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB
    assert _fixed(result, unsafe) == result


def test_a_container_none_at_the_end_of_init_sizes_an_empty_list():
    """`self.convs = None` on the path __init__ takes: the per-iteration list must still build."""
    text = _source("container_none_on_some_path")
    result = _fixed(text)
    assert "range(len(self.convs or ()))" in result and "self.adds[i].add(out, conv(x))" in result
    original = load_module_from_source(text, "loop_trip_none")
    prepared = load_module_from_source(result, "loop_trip_none_fixed")
    x = original.example_inputs()[0]
    assert _check_prepared(original, prepared, x, use_rep=False) > MIN_SQNR_DB
    model = prepared.build(use_rep=True).eval()
    reference_model = _built(original, use_rep=True)
    model.load_state_dict(reference_model.state_dict(), strict=True)
    model.reparameterize()  # the container becomes None after __init__: the loop no longer runs
    reference_model.reparameterize()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(model(x), reference_model(x), atol=1e-6)


def test_a_shortened_container_keeps_every_index_in_range():
    original = load_module_from_source(_source("container_a_method_shortens"), "loop_trip_short")
    result = _fixed(_source("container_a_method_shortens"))
    assert "for _ in range(len(self.incre))" in result
    prepared = load_module_from_source(result, "loop_trip_short_fixed")
    reference_model, model = _built(original), prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    reference_model.prune(2)
    model.prune(2)
    x = original.example_inputs()[0]
    with torch.no_grad():
        assert torch.allclose(model(x), reference_model(x), atol=1e-6)


@pytest.mark.parametrize("name", ["input_dependent_count", "zip_without_index", "nested_loops", "hrnet_fuse_layers"])
def test_runs_without_their_own_module_share_one_and_say_so(name):
    text = _source(name)
    assert "ModuleList([FloatFunctional()" not in _fixed(text)
    notes = [f for f in analyze_source(text, "model.py", Settings(target="torch-eager"))
             if f.symbol == "tensor-operator"]
    assert notes and all(f.fix is not None and "statistics (one scale and zero point) are shared across the "
                         "iterations" in f.message for f in notes)
    # Distiller keeps one call's statistics: still no fix there
    distiller = [f for f in analyze_source(text, "model.py", Settings(target="distiller"))
                 if f.symbol == "tensor-operator"]
    assert distiller and all(f.fix is None and "one module would be reused by every run" in f.message
                             for f in distiller)


def test_a_relu_reused_by_every_run_is_reported_as_costing_nothing_for_eager():
    """hrnet's `self.fuse_act`: eager prepare gives nn.ReLU no observer (checked here), so sharing it
    across the loop's runs shares no statistics; the PTQ runs above execute it reused."""
    notes = [f.message for f in analyze_source(_source("hrnet_fuse_layers"), "model.py",
                                               Settings(target="torch-eager")) if f.symbol == "reused-module"]
    assert len(notes) == 1 and "self.fuse_act" in notes[0] and "costs nothing" in notes[0]
    wrapped = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()).eval()
    wrapped.qconfig = torch.ao.quantization.get_default_qconfig("x86")
    torch.ao.quantization.prepare(wrapped, inplace=True)
    assert not hasattr(wrapped[1], "activation_post_process") and hasattr(wrapped[0], "activation_post_process")
