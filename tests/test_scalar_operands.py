"""A number set in `__init__` as the other operand of `*`/`+` takes FloatFunctional's scalar method.

timm's inception_resnet_v2 (`out * self.scale + x`, `self.scale = scale` with `scale=1.0`) and
nfnet (`out * self.alpha + shortcut`, `alpha: float`) were rewritten to `FloatFunctional.mul`,
which after convert needs two quantized tensors and stopped PTQ ("Overloaded torch operator ...
failed to match any schema"). Executed: strict load, same float outputs, the README recipe runs.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

HEADER = "import torch\nimport torch.nn as nn\n\n\n"

CASES = {
    "default_number": ("def __init__(self, dim, scale=0.17):", "self.scale = scale", "out * self.scale + x"),
    "annotated_float": ("def __init__(self, dim, alpha: float = 1.0):", "self.scale = alpha", "self.scale * out + x"),
    "literal": ("def __init__(self, dim):", "self.scale = 0.5", "out * self.scale + x"),
}


def _source(init: str, assign: str, expr: str) -> str:
    return HEADER + textwrap.dedent(f"""
        class Block(nn.Module):
            {init}
                super().__init__()
                {assign}
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)

            def forward(self, x):
                out = self.conv(x)
                return {expr}


        def build():
            return nn.Sequential(Block(4), Block(4))
        """)


def _fixed(text: str) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=True).text


@pytest.mark.parametrize("name", sorted(CASES))
def test_init_number_operand_takes_the_scalar_method_and_ptq_runs(name):
    text = _source(*CASES[name])
    result = _fixed(text)
    assert ".mul_scalar(" in result and ".mul(" not in result
    original = load_module_from_source(text, f"scalar_{name}")
    prepared = load_module_from_source(result, f"scalar_{name}_fixed")
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
    assert quality > 20.0, quality
    assert _fixed(result) == result


def test_an_argument_that_may_be_a_tensor_keeps_the_tensor_method():
    """`self.scale = scale` with no default and no annotation: nothing says it is a number."""
    result = _fixed(_source("def __init__(self, dim, scale):", "self.scale = scale", "out * self.scale + x"))
    assert ".mul(" in result and ".mul_scalar(" not in result
