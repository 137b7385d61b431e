"""GELU in a run-time float island (`eager_support.INPUT_QPARAMS_MODULES`), executed.

Eager runs `nn.GELU` on quantized tensors, but its kernel gives the result the INPUT's scale
and zero point: the grid stays sized for the negative half GELU maps to [-0.17, 0]. FX graph
mode has no pattern for GELU, so it runs it in float and quantizes the result at its own
observed range. The generated `fuse_model()` now puts every nn.GELU into a `FloatIsland`,
which does the same. Measured here: the fact itself, and on a prepared model the SQNR with
the islands against the same prepared model without them.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pylint_distiller import eager_support as E
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = textwrap.dedent('''
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class GELU(nn.Module):
        """timm's GELU: a functional in a module of its own."""

        def __init__(self, inplace=False):
            super().__init__()

        def forward(self, input):
            return F.gelu(input)


    def act_layer():
        return GELU()


    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(dim)
            self.act = nn.GELU()
            self.mlp = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1), nn.GELU(), nn.Conv2d(2 * dim, dim, 1))
            self.act2 = act_layer()
            self.out = nn.Conv2d(dim, dim, 1)

        def forward(self, x):
            x = self.mlp(self.act(self.bn(self.conv(x))))
            return self.out(self.act2(x))


    class Net(nn.Module):
        def __init__(self, dim=8):
            super().__init__()
            self.stem = nn.Conv2d(3, dim, 3, padding=1)
            self.blocks = nn.Sequential(*[Block(dim) for _ in range(4)])

        def forward(self, x):
            return self.blocks(self.stem(x))
''').lstrip()


def _fixed(text: str) -> str:
    return fix_source(text, "gelu_model.py", Settings(target="torch-eager"), unsafe=False).text


@pytest.mark.parametrize("name", sorted(E.INPUT_QPARAMS_MODULES))
def test_eager_keeps_the_input_qparams(name):
    """The measured fact: the module runs on a quantized tensor, its result at the input's scale and zero point."""
    module = getattr(nn, name.rsplit(".", 1)[1])()
    x = torch.quantize_per_tensor(torch.randn(256) * 3, 0.0625, 128, torch.quint8)
    y = module(x)
    assert y.is_quantized and (y.q_scale(), y.q_zero_point()) == (x.q_scale(), x.q_zero_point())
    assert float(y.dequantize().min()) > -0.2  # the lower half of the grid is left unused
    for functional, qname in E.INPUT_QPARAMS_FUNCTIONALS.items():
        assert qname in E.INPUT_QPARAMS_MODULES
        assert F.gelu(x).q_scale() == x.q_scale() and functional.rsplit(".", 1)[1] == "gelu"


def _models():
    original = load_module_from_source(SOURCE, "gelu_island_original")
    result = _fixed(SOURCE)
    prepared = load_module_from_source(result, "gelu_island_prepared")
    torch.manual_seed(0)
    reference = original.Net().eval()
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model = prepared.Net().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    return reference, model, prepared, result


def _quantize(model: nn.Module, x: torch.Tensor) -> nn.Module:
    torch.manual_seed(1)
    return readme_recipe()(model, [torch.randn_like(x) for _ in range(4)] + [x])


def _outputs(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The (dequantized) outputs of the modules at `names` (an island at that name: its output)."""
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    hooks = [modules[n].register_forward_hook(
        lambda m, args, out, n=n: seen.__setitem__(n, out.dequantize() if out.is_quantized else out)) for n in names]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def test_every_gelu_runs_in_an_island_and_quantizes_better():
    reference, model, prepared, result = _models()
    assert _fixed(result) == result  # a second fix adds nothing
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    names = [n for n, m in reference.named_modules() if type(m).__name__ == "GELU"]  # nn.GELU and the F.gelu one
    with torch.no_grad():
        expected = reference(x)
        assert torch.allclose(model(x), expected, atol=1e-6)
        model.fuse_model()
        assert torch.allclose(model(x), expected, atol=1e-5)
    gelus = [m for m in model.modules() if type(m) is nn.GELU]
    islands = [m for m in model.modules() if type(m).__name__ == "FloatIsland"]
    assert len(gelus) == len(names) == 12 and {id(i.module) for i in islands} == {id(g) for g in gelus}
    floats = _outputs(reference, names, x)
    quantized = _quantize(model, x)
    with torch.no_grad():
        assert sqnr_db(expected, quantized(x)) > 30.0
    with_islands = _outputs(quantized, [f"1.{n}" for n in names], x)

    # the same prepared model, its GELUs left to eager's quantized kernel (the behaviour before)
    _, plain, prepared, _ = _models()
    needed = prepared.FloatIsland.needed
    prepared.FloatIsland.needed = classmethod(lambda cls, m: type(m) is not nn.GELU and needed(m))
    try:
        with torch.no_grad():
            plain.fuse_model()
        assert not any(type(m).__name__ == "FloatIsland" for m in plain.modules())
        without = _outputs(_quantize(plain, x), [f"1.{n}" for n in names], x)
    finally:
        prepared.FloatIsland.needed = needed
    gains = sorted(sqnr_db(floats[n], with_islands[f"1.{n}"]) - sqnr_db(floats[n], without[f"1.{n}"]) for n in names)
    print("SQNR gain of each GELU output (dB):", " ".join(f"{g:.1f}" for g in gains))
    assert gains[len(gains) // 2] > 1.5 and gains[0] > -0.5


def test_the_holders_say_why():
    """Block holds an nn.GELU member, GELU an F.gelu that becomes one: each walk islands it, and the finding says so."""
    result = _fixed(SOURCE)
    assert result.count("class FloatIsland(") == 1
    assert "self.gelu = nn.GELU()" in result and "return self.gelu(input)" in result
    block = result.split("class Block(", 1)[1]
    assert "def fuse_model(" in block and "FloatIsland.needed(module)" in block
