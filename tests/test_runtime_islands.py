"""Run-time float islands (`analysis/runtime_islands.py`), executed.

Types the source does not show (a factory's activation, a layer passed in, a subclass of
nn.Conv2d/nn.BatchNorm2d with its own forward) stop eager PTQ; the generated `fuse_model()`
puts them into the generated `FloatIsland` by their actual type. For every case: the model
fails eager PTQ as written; after ``fix --target torch-eager`` it loads the original
state_dict strictly, gives the same float outputs before and after `fuse_model()` (eval),
goes through the README recipe (which calls `fuse_model()`) with a sane SQNR, and a second
fix adds nothing. Islands next to static islands, and islands inside islands, run too.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.ao.quantization as tq
from torch import nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import eager_ptq, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 20.0
HEADER = "import functools\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = {
    # torchvision's Conv2dNormActivation: an nn.Sequential subclass building `activation_layer(...)`
    "sequential_subclass_factory_activation": ("""
        class ConvNormAct(nn.Sequential):
            def __init__(self, cin, cout, activation_layer=nn.ReLU):
                layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
                if activation_layer is not None:
                    layers.append(activation_layer(inplace=True))
                super().__init__(*layers)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.features = nn.Sequential(ConvNormAct(dim, dim, activation_layer=nn.SiLU),
                                              ConvNormAct(dim, dim))
                self.head = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.head(self.features(x))
        """, "torch.randn(2, 4, 8, 8)"),
    # torchvision's SqueezeExcitation(activation=nn.SiLU) through functools.partial
    "partial_activation": ("""
        class SE(nn.Module):
            def __init__(self, dim, activation=nn.ReLU):
                super().__init__()
                self.fc1 = nn.Conv2d(dim, dim, 1)
                self.act = activation()
                self.fc2 = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.fc2(self.act(self.fc1(x)))


        class Net(nn.Module):
            def __init__(self, dim, se_layer=functools.partial(SE, activation=nn.SiLU)):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.se = se_layer(dim)

            def forward(self, x):
                return self.se(self.conv(x))
        """, "torch.randn(2, 4, 8, 8)"),
    # timm's BatchNormAct2d: a BatchNorm2d subclass with its own forward and a factory-built act
    "batchnorm_subclass_with_act": ("""
        class BatchNormAct2d(nn.BatchNorm2d):
            def __init__(self, num_features, act_layer=nn.SiLU):
                super().__init__(num_features)
                self.act = act_layer()

            def forward(self, x):
                x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
                return self.act(x)


        class Net(nn.Module):
            def __init__(self, dim, norm_act_layer=BatchNormAct2d):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
                self.bn = norm_act_layer(dim)
                self.head = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.head(self.bn(self.conv(x)))
        """, "torch.randn(2, 4, 8, 8)"),
    # timm's Conv2dSame and LayerNorm2d: subclasses convert leaves float
    "conv_and_layernorm_subclasses": ("""
        class Conv2dSame(nn.Conv2d):
            def forward(self, x):
                return F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, self.bias, self.stride, 0)


        class LayerNorm2d(nn.LayerNorm):
            def forward(self, x):
                x = x.permute(0, 2, 3, 1)
                return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


        def create_conv(cin, cout):
            return Conv2dSame(cin, cout, 3)


        class Net(nn.Module):
            def __init__(self, dim, norm_layer=LayerNorm2d):
                super().__init__()
                self.stem = create_conv(dim, dim)
                self.norm = norm_layer(dim)
                self.head = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.head(self.norm(self.stem(x)))
        """, "torch.randn(2, 4, 8, 8)"),
    # containers: PReLU, Mish and an unfused BatchNorm1d in Sequential/ModuleList, Softmax at the end
    "containers_of_float_only_modules": ("""
        def mlp(dim, act):
            return nn.Sequential(nn.Linear(dim, dim), act(), nn.BatchNorm1d(dim))


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.blocks = nn.ModuleList([mlp(dim, nn.PReLU), mlp(dim, nn.Mish)])
                self.out = nn.Sequential(nn.Linear(dim, dim), nn.Softmax(dim=-1))

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return self.out(x)
        """, "torch.randn(4, 4)"),
    # a ConvTranspose2d a helper builds: no qconfig of its own, so it runs in an island
    "factory_conv_transpose": ("""
        def upsample(dim):
            return nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, stride=2), nn.ReLU())


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.up = upsample(dim)

            def forward(self, x):
                return self.up(self.conv(x))
        """, "torch.randn(2, 4, 8, 8)"),
    # timm's BN_Linear/RepViT heads: an nn.Sequential subclass filled by add_module, built by
    # another class of the file (whose walk must island what it walks into)
    "sequential_subclass_filled_by_add_module": ("""
        class BNLinear(nn.Sequential):
            def __init__(self, a, b):
                super().__init__()
                self.add_module("bn", nn.BatchNorm1d(a))
                self.add_module("l", nn.Linear(a, b))


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3)
                self.head = BNLinear(dim, 4)

            def forward(self, x):
                return self.head(torch.flatten(self.conv(x).mean((2, 3), keepdim=True), 1))
        """, "torch.randn(4, 4, 8, 8)"),
    # timm nextvit's EfficientAttention: `self.norm = norm_layer(dim)` (nn.BatchNorm1d by default)
    # on one path of __init__, None on the other
    "factory_member_or_none": ("""
        class Attention(nn.Module):
            def __init__(self, dim, sr_ratio=2, norm_layer=nn.BatchNorm1d):
                super().__init__()
                self.q = nn.Linear(dim, dim)
                if sr_ratio > 1:
                    self.sr = nn.AvgPool1d(kernel_size=sr_ratio, stride=sr_ratio)
                    self.norm = norm_layer(dim)
                else:
                    self.sr = None
                    self.norm = None

            def forward(self, x):
                if self.sr is not None:
                    x = self.sr(x.transpose(1, 2))
                    x = self.norm(x).transpose(1, 2)
                return self.q(x)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.attn = Attention(dim)

            def forward(self, x):
                return self.attn(torch.flatten(self.conv(x), 2).transpose(1, 2))
        """, "torch.randn(2, 4, 8, 8)"),
}


def _source(name: str) -> str:
    body, inputs = CASES[name]
    return HEADER + textwrap.dedent(body).strip() + (f"\n\n\ndef build():\n    return Net(4)\n\n\n"
                                                     f"def example_inputs():\n    return ({inputs},)\n")


def _fixed(text: str) -> str:
    return fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=True).text


def _randomize_norms(model: nn.Module) -> None:
    torch.manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)


def _built(module) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = module.build()
    _randomize_norms(model)
    return model.eval(), module.example_inputs()[0]


def _calibration(x: torch.Tensor) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn_like(x) for _ in range(4)] + [x]


@pytest.mark.parametrize("name", sorted(CASES))
def test_runtime_islands_make_eager_ptq_run(name):
    text = _source(name)
    result = _fixed(text)
    assert result.count("class FloatIsland(") == 1 and "pylint_distiller" not in result
    original = load_module_from_source(text, f"rt_island_{name}")
    prepared = load_module_from_source(result, f"rt_island_{name}_fixed")
    reference_model, x = _built(original)
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure of eager PTQ, unprepared
        readme_recipe()(_built(original)[0], _calibration(x))(x)
    model = prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.allclose(model(x), reference, atol=1e-6)
        model.fuse_model()
        assert any(type(m).__name__ == "FloatIsland" for m in model.modules())
        assert torch.allclose(model(x), reference, atol=1e-5)
        islands = sum(type(m).__name__ == "FloatIsland" for m in model.modules())
        model.fuse_model()  # a second call wraps nothing twice
        assert sum(type(m).__name__ == "FloatIsland" for m in model.modules()) == islands
    quantized = readme_recipe()(model, _calibration(x))
    with torch.no_grad():
        out = quantized(x)
    quality = sqnr_db(reference, out)
    print(f"{name}: {islands} run-time islands, SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB
    assert _fixed(result) == result  # idempotent: no second class, no second walk


def _island_class():
    """The generated FloatIsland, from a fixed file."""
    module = load_module_from_source(_fixed(_source("partial_activation")), "rt_island_class")
    return module.FloatIsland


def _ptq(model: nn.Module, x: torch.Tensor) -> nn.Module:
    return eager_ptq(model, _calibration(x))


def test_an_island_inside_a_static_island_returns_float():
    """A static island around the call (DeQuantStub member, module, QuantStub member) and a run-time island
    on the same module: the run-time island gets float after convert and must not quantize it."""
    island = _island_class()

    class Static(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.act = nn.SiLU()
            self.act_dequant, self.act_quant = tq.DeQuantStub(), tq.QuantStub()
            self.out = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.out(self.act_quant(self.act(self.act_dequant(self.conv(x)))))

    torch.manual_seed(0)
    model = Static().eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        reference = model(x)
    model.act = island(model.act)
    seen = []
    model.act.register_forward_hook(lambda m, args, out: seen.append((args[0].is_quantized, out.is_quantized)))
    quantized = _ptq(model, x)
    seen.clear()
    with torch.no_grad():
        out = quantized(x)
    assert seen == [(False, False)]  # float in, float out: the static QuantStub quantizes once
    assert sqnr_db(reference, out) > MIN_SQNR_DB


def test_an_island_inside_an_island_runs():
    """Nested islands (a module kept float whose child is an island too): the inner stubs get no qconfig
    and stay identity, the outer island quantizes once."""
    island = _island_class()
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(4, 4, 1), island(nn.SiLU()))
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), island(inner), nn.Conv2d(4, 4, 1)).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        reference = model(x)
    quantized = _ptq(model, x)
    with torch.no_grad():
        out = quantized(x)
    assert type(quantized[1][1].quant).__name__ == "Quantize"
    assert type(quantized[1][1].module[1].quant) is tq.QuantStub  # inside a float region: left identity
    assert sqnr_db(reference, out) > MIN_SQNR_DB


def test_island_kinds_by_run_time_type():
    island = _island_class()

    class Same(nn.Conv2d):
        pass

    assert island.needed(nn.SiLU()) and island.needed(nn.BatchNorm1d(4)) and island.needed(Same(4, 4, 3))
    assert not island.needed(nn.Conv2d(4, 4, 3)) and not island.needed(nn.ReLU())
    assert not island.needed(nn.modules.linear.NonDynamicallyQuantizableLinear(4, 4))  # torch's own: mapped
    transpose = nn.ConvTranspose2d(4, 4, 2)
    assert island.needed(transpose)
    transpose.qconfig = None  # a qconfig of its own (the static per-tensor fix sets one): left alone
    assert not island.needed(transpose)
    assert list(island(nn.PReLU()).state_dict()) == ["module.weight"]  # the stubs hold no state


def test_a_file_that_binds_the_island_name_gets_the_plain_walk():
    text = _source("partial_activation").replace("import functools\n", "import functools\n\nFloatIsland = None\n")
    result = _fixed(text)
    assert "def fuse_model(" in result and "FloatIsland(" not in result and ".needed(" not in result
