"""Ops measured float-only on quantized activations get a float island: `torch.norm`, `addcmul`, `F.fold`.

timm's GlobalResponseNorm (convnextv2, csatv2: `x.norm(p=2, ...)` and `torch.addcmul(bias, weight,
x * x_n)`) and volo's OutlookAttention (`F.fold`) stopped the README recipe after `fix`
("linalg.vector_norm: Expected a floating point ... tensor", `aten::addcmul.out`,
`aten::col2im` on QuantizedCPU): `addcmul` and `fold` were unmeasured, and an island call
whose activation operand is itself an operator expression (`x * x_n`) was taken for a
sequence it could not unpack. Executed: strict load, same float outputs, the README recipe runs.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

GRN = """
class ResponseNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((dim,), 0.3))
        self.bias = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x):
        x_g = x.norm(p=2, dim=(2, 3), keepdim=True)
        x_n = x_g / (x_g.mean(dim=1, keepdim=True) + self.eps)
        return x + torch.addcmul(self.bias.view(1, -1, 1, 1), self.weight.view(1, -1, 1, 1), x * x_n)


def build():
    return nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), ResponseNorm(4), nn.Conv2d(4, 4, 3, padding=1))
"""

FOLD = """
class Outlook(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim * 4, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        x = self.conv(x).reshape(B, C * 4, H * W)
        x = F.fold(x, output_size=(2 * H, 2 * W), kernel_size=2, stride=2)
        return self.proj(x)


def build():
    return nn.Sequential(Outlook(4), nn.Conv2d(4, 4, 3, padding=1))
"""

CASES = {"norm_addcmul": (GRN, ("norm_dequant", "addcmul_dequant")), "fold": (FOLD, ("fold_dequant",))}


def _fixed(text: str) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=True).text


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_only_op_gets_an_island_and_ptq_runs(name):
    body, members = CASES[name]
    text = HEADER + textwrap.dedent(body)
    result = _fixed(text)
    for member in members:
        assert f"self.{member}(" in result, result
    original = load_module_from_source(text, f"float_only_{name}")
    prepared = load_module_from_source(result, f"float_only_{name}_fixed")
    torch.manual_seed(0)
    reference_model = original.build().eval()
    model = prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    x = torch.randn(2, 4, 8, 8)
    calibration = random_batches((2, 4, 8, 8), 4, seed=1)
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure of eager PTQ, unprepared
        readme_recipe()(original.build().eval(), calibration)(x)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.allclose(model(x), reference, atol=1e-6)
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        quality = sqnr_db(reference, quantized(x))
    assert quality > 15.0, quality
    assert _fixed(result) == result
