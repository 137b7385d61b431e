"""Fusion decided by run-time type (`runtime_fusion.fuse_by_type`), executed.

Real models hide their chain members' classes from the source: an nn.Sequential subclass filled
by `add_module` (timm starnet's/repvit's ConvBN), a conv from a factory and an activation chosen
on two paths (timm hgnet's ConvBNAct), a stem that a second method (`forward_intermediates`)
repeats, a member name another class reads through a member of known class (nextvit). Each case:
the prepared model loads the original state_dict strictly and gives the same float outputs, a
second `fix` adds nothing, after `fuse_model()` no BatchNorm is left and the outputs stay, and
eager PTQ runs; the SQNR of the quantized model beats the unfused one's.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.nn as nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import eager_ptq, sqnr_db
from tests.support.runtime_equivalence import assert_same_model, load_module_from_source

HEADER = "import torch\nimport torch.nn as nn\n\n\n"

CASES = {
    # name: (module source, build expression, input shape, fused types expected after fuse_model)
    "add_module_sequential": ("""
        class ConvBN(nn.Sequential):
            def __init__(self, cin, cout, k=3, with_bn=True):
                super().__init__()
                self.add_module("conv", nn.Conv2d(cin, cout, k, padding=k // 2))
                if with_bn:
                    self.add_module("bn", nn.BatchNorm2d(cout))


        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.dw = ConvBN(c, c, 3)
                self.pw = ConvBN(c, c, 1, with_bn=False)
                self.act = nn.ReLU6()

            def forward(self, x):
                return x + self.pw(self.act(self.dw(x)))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Sequential(ConvBN(3, 8), nn.ReLU())
                self.blocks = nn.Sequential(*[Block(8) for _ in range(3)])

            def forward(self, x):
                return self.blocks(self.stem(x))
        """, "Net()", (2, 3, 16, 16), {nn.Conv2d}),
    "factory_members": ("""
        def make_conv(cin, cout, k):
            return (nn.Conv2d if k > 0 else nn.Identity)(cin, cout, k, padding=k // 2)


        def get_layer(name):
            return {"bn": nn.BatchNorm2d}[name]


        class ConvBNAct(nn.Module):
            def __init__(self, cin, cout, k, use_act=True):
                super().__init__()
                self.conv = make_conv(cin, cout, k)
                self.bn = get_layer("bn")(cout)
                if use_act:
                    self.act = nn.ReLU()
                else:
                    self.act = nn.Identity()

            def forward(self, x):
                x = self.conv(x)
                x = self.bn(x)
                x = self.act(x)
                return x


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = ConvBNAct(3, 8, 3)
                self.b = ConvBNAct(8, 8, 1, use_act=False)

            def forward(self, x):
                return self.b(self.a(x))
        """, "Net()", (2, 3, 16, 16), {nni.ConvReLU2d, nn.Conv2d}),
    "repeated_stem": ("""
        class Net(nn.Module):
            def __init__(self, act_layer=nn.ReLU):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
                self.bn1 = nn.BatchNorm2d(8)
                self.act1 = act_layer()
                self.head = nn.Conv2d(8, 4, 1)

            def forward_features(self, x):
                x = self.conv1(x)
                x = self.bn1(x)
                x = self.act1(x)
                return x

            def forward_intermediates(self, x):
                out = []
                x = self.conv1(x)
                x = self.bn1(x)
                x = self.act1(x)
                out.append(x)
                return out

            def forward(self, x):
                return self.head(self.forward_features(x))
        """, "Net()", (2, 3, 16, 16), {nni.ConvReLU2d}),
    "member_read_through_a_known_class": ("""
        class ConvNormAct(nn.Module):
            def __init__(self, c, norm_layer=nn.BatchNorm2d):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.norm = norm_layer(c)
                self.act = nn.ReLU()

            def forward(self, x):
                return self.act(self.norm(self.conv(x)))


        class Attention(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.k = nn.Conv2d(c, c, 1)
                self.norm = nn.BatchNorm2d(c)

            def forward(self, x):
                return self.norm(self.k(x))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = ConvNormAct(3)
                self.attn = Attention(3)

            def merge(self):
                return self.attn.norm is not None

            def forward(self, x):
                return self.attn(self.stem(x))
        """, "Net()", (2, 3, 16, 16), {nni.ConvReLU2d}),
}


def _source(name: str) -> str:
    body, build, shape, _types = CASES[name]
    return HEADER + textwrap.dedent(body) + f"\n\ndef build():\n    return {build}\n\n\n" \
        f"def example_inputs():\n    return (torch.randn{shape},)\n"


def _randomize_batchnorm(model: nn.Module) -> None:
    gen = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def _fixed(name: str) -> str:
    text = _source(name)
    fixed = fix_source(text, f"{name}.py", Settings(target="torch-eager")).text
    again = fix_source(fixed, f"{name}.py", Settings(target="torch-eager"))
    assert again.text == fixed and not again.applied  # idempotent
    return fixed


def _quantized_sqnr(model: nn.Module, x: torch.Tensor, reference: torch.Tensor) -> float:
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]
    with torch.no_grad():
        return sqnr_db(reference, eager_ptq(model, calibration)(x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_runtime_typed_chains_fuse_and_quantize_better(name):
    text, fixed = _source(name), _fixed(name)
    original_mod = load_module_from_source(text, name)
    prepared_mod = load_module_from_source(fixed, name + "_fixed")
    assert_same_model(original_mod, prepared_mod, modes=("eval", "train"))
    torch.manual_seed(0)
    original = original_mod.build()
    _randomize_batchnorm(original)
    model = prepared_mod.build()
    model.load_state_dict(original.state_dict(), strict=True)
    original.eval()
    model.eval()
    (x,) = original_mod.example_inputs()
    with torch.no_grad():
        reference = original(x)
        assert torch.equal(model(x), reference)
        model.fuse_model()
        fused = model(x)
    assert torch.allclose(fused, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    left = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert left == (["attn.norm"] if name == "member_read_through_a_known_class" else [])  # read from outside
    assert CASES[name][3] <= {type(m) for m in model.modules()}
    structure = [(n, type(m)) for n, m in model.named_modules()]
    model.fuse_model()
    assert [(n, type(m)) for n, m in model.named_modules()] == structure
    unfused = prepared_mod.build()
    unfused.load_state_dict(original.state_dict(), strict=True)
    assert _quantized_sqnr(model, x, reference) > _quantized_sqnr(unfused.eval(), x, reference)


def test_a_run_of_other_types_is_left_alone():
    """The same prepared code with a GroupNorm and a SiLU: nothing fused, nothing raised, outputs equal."""
    prepared_mod = load_module_from_source(_fixed("factory_members"), "factory_members_other")
    block = prepared_mod.ConvBNAct(3, 8, 3).eval()
    block.bn, block.act = nn.GroupNorm(2, 8).eval(), nn.SiLU()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = block(x)
        block.fuse_model()
        assert torch.equal(block(x), reference)
    assert type(block.conv) is nn.Conv2d and type(block.bn) is nn.GroupNorm


def test_a_second_method_reading_an_intermediate_keeps_the_chain_unfused():
    stem = "        x = self.conv1(x)\n        x = self.bn1(x)\n        x = self.act1(x)\n        out.append(x)"
    text = _source("repeated_stem").replace(stem, "        x = self.conv1(x)\n        out.append(x)\n"
                                                  "        x = self.bn1(x)\n        x = self.act1(x)")
    assert "out.append(x)\n        x = self.bn1(x)" in text
    fixed = fix_source(text, "stem.py", Settings(target="torch-eager")).text
    assert '"conv1", "bn1"' not in fixed and '"conv1", "bn1"' in _fixed("repeated_stem")


def test_a_member_read_from_outside_through_an_unknown_receiver_stays_unfused():
    text = _source("member_read_through_a_known_class").replace(
        "return self.attn.norm is not None", "return [m.norm for m in self.modules()]")
    fixed = fix_source(text, "reads.py", Settings(target="torch-eager")).text
    assert '"conv", "norm"' not in fixed and '"conv", "norm"' in _fixed("member_read_through_a_known_class")
