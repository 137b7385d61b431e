"""A FloatFunctional (or stub) called from two sites: one observer for two value ranges.

The copy for the second site must keep the method (`self.ff_2.add(...)`): rewriting the
whole `self.ff.add` into `self.ff_2` calls `FloatFunctional.forward`, which raises. A
FloatFunctional holds no parameters, so the copy is a safe fix and the message does not
speak of weight tying. Executed: strict load, same float outputs, the README recipe runs.
"""

from __future__ import annotations

import textwrap

import torch

from pylint_distiller.api import analyze_source
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = "import torch\nimport torch.nn as nn\nfrom torch.ao.nn.quantized import FloatFunctional\n\n\n" + \
    textwrap.dedent("""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.ff = FloatFunctional()

        def forward(self, x):
            y = self.ff.add(x, x)
            return self.ff.mul(y, self.conv(y))
    """)

SETTINGS = Settings(target="torch-eager")


def test_the_copy_keeps_the_method_and_ptq_runs():
    result = fix_source(SOURCE, settings=SETTINGS).text  # safe fixes only
    assert "return self.ff_2.mul(y, self.conv(y))" in result
    original = load_module_from_source(SOURCE, "reused_functional")
    prepared = load_module_from_source(result, "reused_functional_fixed")
    torch.manual_seed(0)
    reference_model = original.Block().eval()
    model = prepared.Block().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.equal(model(x), reference)
    quantized = readme_recipe()(model, random_batches((2, 4, 8, 8), 4, seed=1))
    block = quantized[1]  # the recipe wraps the model: QuantStub, model, DeQuantStub
    assert isinstance(block.ff, torch.ao.nn.quantized.QFunctional)
    assert isinstance(block.ff_2, torch.ao.nn.quantized.QFunctional)
    assert block.ff is not block.ff_2  # each site keeps its own scale
    with torch.no_grad():
        assert sqnr_db(reference, quantized(x)) > 15.0
    assert fix_source(result, settings=SETTINGS).text == result


def test_the_message_does_not_speak_of_weight_tying():
    messages = [f.message for f in analyze_source(SOURCE, settings=SETTINGS) if f.symbol == "reused-module"]
    assert len(messages) == 1 and "weight tying" not in messages[0] and "parameters" not in messages[0]
