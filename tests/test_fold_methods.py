"""A deploy-time fold method (timm LeViT's `ConvNorm.fuse()`) no longer blocks fusion (`analysis/fold_methods.py`).

Executed: the prepared model loads the original state_dict strictly, gives the same outputs
before and after `fuse_model()`, and `fuse_model()` folds the conv+bn that the fold method
reads; eager PTQ (README recipe) runs and its SQNR is above the same model with the chain left
unfused. Methods the model may run on the fused model still block the chain.
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

CONV_NORM = '''
    class ConvNorm(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.linear = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(cout)

        @torch.no_grad()
        def fuse(self):
            c, bn = self.linear, self.bn
            w = bn.weight / (bn.running_var + bn.eps) ** 0.5
            m = nn.Conv2d(c.in_channels, c.out_channels, 3, padding=1)
            m.weight.data.copy_(c.weight * w[:, None, None, None])
            m.bias.data.copy_(bn.bias - bn.running_mean * w)
            return m
{extra}
        def forward(self, x):
            return self.bn(self.linear(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(ConvNorm(3, 8), nn.Hardswish(), ConvNorm(8, 8), nn.Hardswish(), ConvNorm(8, 8))

        def forward(self, x):
            return self.stem(x)
'''
HEADER = "import torch\nimport torch.nn as nn\n\n\n"

#: methods that may run on the fused model: each keeps the chain unfused
BLOCKING = {
    "called_through_self": '''
        @torch.no_grad()
        def refresh(self):
            return self.fuse()
''',
    "runs_a_member": '''
        @torch.no_grad()
        def probe(self, x):
            return self.linear(x).std()
''',
    "runs_a_member_of_a_child": '''
        @torch.no_grad()
        def probe(self, x):
            return self.linear.forward(x)
''',
    "not_no_grad": '''
        def scale(self):
            return self.bn.weight.abs().max()
''',
}


def _source(extra: str = "") -> str:
    return HEADER + textwrap.dedent(CONV_NORM.replace("{extra}", textwrap.indent(textwrap.dedent(extra), "    ")))


def _fixed(text: str) -> str:
    return fix_source(text, "fold_model.py", Settings(target="torch-eager"), unsafe=False).text


def _quantized_sqnr(model: nn.Module, x: torch.Tensor, expected: torch.Tensor) -> float:
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]
    with torch.no_grad():
        return sqnr_db(expected, readme_recipe()(model, calibration)(x))


def _reference(module) -> nn.Module:
    torch.manual_seed(0)
    model = module.Net().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 2.0)
    return model


def test_a_fold_method_leaves_the_chain_fusable():
    text = _source()
    result = _fixed(text)
    assert _fixed(result) == result
    assert "fuse(self, [[\"linear\", \"bn\"]], inplace=True)" in result
    original = load_module_from_source(text, "fold_original")
    prepared = load_module_from_source(result, "fold_prepared")
    reference = _reference(original)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    model = prepared.Net().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        expected = reference(x)
        assert torch.allclose(model(x), expected, atol=1e-6)
        assert torch.allclose(model.stem[0].fuse()(x), reference.stem[0](x), atol=1e-5)  # before fuse_model: as written
        model.fuse_model()
        assert torch.allclose(model(x), expected, atol=1e-5)
    assert [type(m.bn) for m in model.modules() if type(m).__name__ == "ConvNorm"] == [nn.Identity] * 3
    fused = _quantized_sqnr(model, x, expected)

    unfused = prepared.Net().eval()  # the same prepared model, its chains left as they were
    unfused.load_state_dict(reference.state_dict(), strict=True)
    unfused.fuse_model = lambda is_qat=False: None
    plain = _quantized_sqnr(unfused, x, expected)
    print(f"SQNR fused {fused:.2f} dB, unfused {plain:.2f} dB")
    assert fused > plain + 1.0


@pytest.mark.parametrize("name", sorted(BLOCKING))
def test_methods_that_may_run_on_the_fused_model_still_block(name):
    result = _fixed(_source(BLOCKING[name]))
    assert '["linear", "bn"]' not in result
