"""An operand that is a Python number on some path (`identity_out = 0`, a tensor only if the branch exists).

timm's fastvit MobileOneBlock sums optional branches that start as `0`. The fix made the sum
`FloatFunctional.add`, which takes two tensors only (`torch.add(0, t)` fails already while
calibrating: "Overloaded torch operator invoked from Python failed to match any schema"). The
generated `functional_or_scalar()` picks `add`, `add_scalar` or `+` on the values that arrive.
Executed: strict load, same float outputs, the README recipe runs, a second fix adds nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self, cin, cout, scale_branch=True, branches=1):
            super().__init__()
            self.identity = nn.BatchNorm2d(cout) if cin == cout else None
            self.conv_scale = nn.Conv2d(cin, cout, 1) if scale_branch else None
            self.convs = nn.ModuleList([nn.Conv2d(cin, cout, 3, padding=1) for _ in range(branches)])

        def forward(self, x):
            identity_out = 0
            if self.identity is not None:
                identity_out = self.identity(x)
            scale_out = 0
            if self.conv_scale is not None:
                scale_out = self.conv_scale(x)
            out = scale_out + identity_out
            out += self.convs[0](x)
            return out


    def build():
        # every path: both branches, scale only, identity only, neither (out = 0 + 0, then += a tensor)
        return nn.Sequential(Block(4, 4), Block(4, 8), Block(8, 8, scale_branch=False),
                             Block(8, 4, scale_branch=False))
    """)


def _fixed(text: str, unsafe: bool = False) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=unsafe).text


@pytest.mark.parametrize("unsafe", [False, True])
def test_a_number_on_some_path_goes_through_the_generated_chooser_and_ptq_runs(unsafe):
    result = _fixed(SOURCE, unsafe)
    assert 'functional_or_scalar(self.add, "add", scale_out, identity_out)' in result
    assert "DeQuantStub()" not in result  # no island: a DeQuantStub cannot take a Python number
    original = load_module_from_source(SOURCE, f"number_paths_{unsafe}")
    prepared = load_module_from_source(result, f"number_paths_{unsafe}_fixed")
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
        assert torch.equal(model(x), reference)
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        quality = sqnr_db(reference, quantized(x))
    assert quality > 15.0, quality
    assert _fixed(result, unsafe) == result


def test_two_tensors_keep_the_plain_method():
    """No binding is a number: the sum stays `FloatFunctional.add`, no chooser is written."""
    text = SOURCE.replace("identity_out = 0\n", "identity_out = x\n").replace("scale_out = 0\n", "scale_out = x\n")
    result = _fixed(text)
    assert "functional_or_scalar" not in result and ".add(scale_out, identity_out)" in result


def test_a_file_that_already_holds_the_chooser_still_uses_it():
    """A later `fix` (new code in a file fixed before) reuses the generated helper: the call goes through
    it, the helper is not written twice, and PTQ runs."""
    fixed = _fixed(SOURCE)
    helper = fixed[fixed.index("def functional_or_scalar("):]
    helper = helper[:helper.index("\n\n\n") + 3]
    text = SOURCE.replace("\n\n\nclass ", "\n\n\n" + helper + "class ", 1)
    result = _fixed(text)
    assert result.count("def functional_or_scalar(") == 1
    assert 'functional_or_scalar(self.add, "add", scale_out, identity_out)' in result
    prepared = load_module_from_source(result, "number_paths_reused_fixed")
    torch.manual_seed(0)
    model = prepared.build().eval()
    calibration = random_batches((2, 4, 8, 8), 4, seed=1)
    with torch.no_grad():
        readme_recipe()(model, calibration)(torch.randn(2, 4, 8, 8))
