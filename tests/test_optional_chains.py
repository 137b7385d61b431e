"""Chains with optional members (`if self.norm is not None: x = self.norm(x)`), executed (`analysis/optional_chains.py`).

timm EfficientViM's `ConvLayer2d` (and its parent's deploy-time `fuse()` reading `self.dwconv.conv`):
the prepared model loads the original state_dict strictly, gives the same outputs before and
after `fuse_model()`, `fuse_model()` fuses the members present in each instance (conv+bn+relu,
conv+bn, conv+relu when the norm is None), eager PTQ runs, and the SQNR is above the same model
with those chains left unfused. Guards of another shape leave the chain alone.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = textwrap.dedent('''
    import torch
    import torch.nn as nn


    def _keep(conv):
        """EfficientViM's `_fuse_depthwise_residual(self.dwconv1.conv)`: a helper that edits the conv in place."""
        conv.weight.data.mul_(1.0)


    class ConvLayer2d(nn.Module):
        def __init__(self, cin, cout, norm=nn.BatchNorm2d, act_layer=nn.ReLU):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.norm = norm(cout) if norm else None
            self.act = act_layer() if act_layer else None

        @torch.no_grad()
        def fuse(self):
            if isinstance(self.norm, nn.BatchNorm2d):
                self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv, self.norm)
                self.norm = None
            return self

        def forward(self, x):
            x = self.conv(x)
            if self.norm is not None:
                x = self.norm(x)
            if self.act is not None:
                x = self.act(x)
            return x


    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dwconv = ConvLayer2d(dim, dim, act_layer=None)
            self.ffn = nn.Sequential(ConvLayer2d(dim, dim), ConvLayer2d(dim, dim, norm=None))

        @torch.no_grad()
        def fuse(self):
            self.dwconv.fuse()
            _keep(self.dwconv.conv)
            return self

        def forward(self, x):
            return self.ffn(self.dwconv(x))


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.stem = ConvLayer2d(3, dim)
            self.blocks = nn.Sequential(Block(dim), Block(dim))

        def forward(self, x):
            return self.blocks(self.stem(x))
''').lstrip()

#: guards of another shape: the chain stays unfused
OTHER_GUARDS = {
    "truthiness": ("if self.norm is not None:", "if self.norm:"),
    "else_branch": ("        if self.norm is not None:\n            x = self.norm(x)\n",
                    "        if self.norm is not None:\n            x = self.norm(x)\n        else:\n"
                    "            x = x * 2\n"),
    "another_member": ("if self.norm is not None:", "if self.act is not None:"),
}


def _fixed(text: str) -> str:
    return fix_source(text, "optional_model.py", Settings(target="torch-eager"), unsafe=False).text


def _reference(module) -> nn.Module:
    torch.manual_seed(0)
    model = module.Net().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


def _quantized_sqnr(model: nn.Module, x: torch.Tensor, expected: torch.Tensor) -> float:
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]
    with torch.no_grad():
        return sqnr_db(expected, readme_recipe()(model, calibration)(x))


def test_present_members_fuse_and_quantize_better():
    result = _fixed(SOURCE)
    assert _fixed(result) == result
    assert "if self._modules.get(n) is not None" in result
    original = load_module_from_source(SOURCE, "optional_original")
    prepared = load_module_from_source(result, "optional_prepared")
    reference = _reference(original)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    model = prepared.Net().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        expected = reference(x)
        assert torch.allclose(model(x), expected, atol=1e-6)
        model.fuse_model()
        assert torch.allclose(model(x), expected, atol=1e-5)
    layers = [m for m in model.modules() if type(m).__name__ == "ConvLayer2d"]
    before = [m for m in reference.modules() if type(m).__name__ == "ConvLayer2d"]
    for layer, was in zip(layers, before):  # whichever members each instance has: conv+bn+relu, conv+bn, conv+relu
        assert all(getattr(layer, n) is None or type(getattr(layer, n)) is nn.Identity for n in ("norm", "act"))
        assert type(layer.conv).__name__ == ("ConvReLU2d" if was.act is not None else "Conv2d")
    assert {(l.norm is None, l.act is None) for l in before} == {(False, False), (False, True), (True, False)}
    with_fusion = _quantized_sqnr(model, x, expected)

    unfused = prepared.Net().eval()
    unfused.load_state_dict(reference.state_dict(), strict=True)
    unfused.fuse_model = lambda is_qat=False: None
    without = _quantized_sqnr(unfused, x, expected)
    print(f"SQNR fused {with_fusion:.2f} dB, unfused {without:.2f} dB")
    assert with_fusion > without + 1.0


@pytest.mark.parametrize("name", sorted(OTHER_GUARDS))
def test_other_guards_leave_the_chain_alone(name):
    old, new = OTHER_GUARDS[name]
    assert old in SOURCE
    result = _fixed(SOURCE.replace(old, new))
    assert "if self._modules.get(n) is not None" not in result
