"""A `torch.cat` no FloatFunctional can hold (a container subclass that iterates itself) goes through
the generated `cat_common_qparams()` (torch-eager).

Left as `torch.cat`, the quantized cat keeps the FIRST input's scale and zero point and clips the
others: in DenseNet's block the first input is a ReLU output (zero point 0), so every negative
value of the later features became 0 and the larger ones were cut (timm densenet121: -4 dB SQNR,
FX 11.5). Executed: strict load, the same float outputs (also after fuse_model()), the README recipe runs,
the SQNR is within 1 dB of a hand-prepared block's (its cat a FloatFunctional: measured 24.3 vs
24.4 dB) where the plain cat gives 1.1 dB, a second fix adds nothing.
"""

from __future__ import annotations

import copy
import textwrap

import pytest
import torch

from pylint_distiller.analysis import common_qparams_cat
from pylint_distiller.api import analyze_source
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Layer(nn.Module):
        def __init__(self, cin, growth):
            super().__init__()
            self.conv = nn.Conv2d(cin, growth, 3, padding=1)

        def forward(self, features):
            return self.conv(torch.cat(features, 1))


    class Block(nn.ModuleDict):
        def __init__(self, cin, growth, layers):
            super().__init__()
            for i in range(layers):
                self.add_module(f"layer{i}", Layer(cin + i * growth, growth))

        def forward(self, x):
            features = [x]
            for _name, layer in self.items():
                features.append(layer(features))
            return torch.cat(features, dim=1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.relu = nn.ReLU()
            self.block = Block(8, 8, 3)
            self.head = nn.Conv2d(32, 4, 1)

        def forward(self, x):
            return self.head(self.block(self.relu(self.stem(x))))


    def build():
        net = Net()
        with torch.no_grad():  # later features: signed, and wider than the first input (a ReLU output)
            for i, layer in enumerate(net.block.values()):
                layer.conv.weight.mul_(3.0 * (i + 1))
        return net
    """)

SHAPE = (2, 3, 12, 12)


def _fixed(text: str, unsafe: bool = False) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=unsafe).text


def _cat_findings(text: str, target: str = "torch-eager"):
    findings = analyze_source(text, settings=Settings(target=target))
    return [f for f in findings if f.op == "torch.cat" and f.klass == "Block"]


def _quantized_sqnr(text: str, name: str, state, calibration, data) -> tuple[float, torch.Tensor]:
    model = load_module_from_source(text, name).build().eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        own = torch.cat([model(x) for x in data])
        fused = copy.deepcopy(model)
        if hasattr(fused, "fuse_model"):
            fused.fuse_model()
        assert torch.allclose(torch.cat([fused(x) for x in data]), own, atol=1e-5)
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        return sqnr_db(own, torch.cat([quantized(x) for x in data])), own


@pytest.mark.parametrize("unsafe", [False, True])
def test_the_cat_of_a_self_iterating_container_goes_through_the_helper_and_quantizes_well(unsafe):
    (finding,) = _cat_findings(SOURCE)
    assert finding.fix is not None and "cat_common_qparams()" in finding.message
    assert "would become one of its items" in finding.message  # why no member holds it
    result = _fixed(SOURCE, unsafe)
    assert "return cat_common_qparams(features, dim=1)" in result
    assert result.count("def cat_common_qparams(") == 1
    assert "self.cat.cat(features, dim=1)" in result  # Layer's own cat keeps its FloatFunctional
    torch.manual_seed(0)
    original = load_module_from_source(SOURCE, f"qparams_cat_{unsafe}").build().eval()
    state = original.state_dict()
    calibration = random_batches(SHAPE, 4, seed=1)
    data = random_batches(SHAPE, 2, seed=100)
    with torch.no_grad():
        reference = torch.cat([original(x) for x in data])
    quality, own = _quantized_sqnr(result, f"qparams_cat_{unsafe}_fixed", state, calibration, data)
    assert torch.equal(own, reference)  # the same float outputs
    # what the fix wrote before: the plain cat, which takes its first input's qparams
    plain, _ = _quantized_sqnr(result.replace("cat_common_qparams(features, dim=1)", "torch.cat(features, dim=1)"),
                               f"qparams_cat_{unsafe}_plain", state, calibration, data)
    # by hand: the block holds its layers in a member ModuleDict, and its cat is a FloatFunctional
    by_hand = result.replace("class Block(nn.ModuleDict):", "class Block(nn.Module):").replace(
        "        super().__init__()\n        for i in range(layers):\n            self.add_module(",
        "        super().__init__()\n        self.layers = nn.ModuleDict()\n        self.cat = FloatFunctional()\n"
        "        for i in range(layers):\n            self.layers.add_module(").replace(
        "self.items()", "self.layers.items()").replace(
        "return cat_common_qparams(features, dim=1)", "return self.cat.cat(features, dim=1)").replace(
        "net.block.values()", "net.block.layers.values()")
    assert by_hand.count("self.layers") == 3 and "self.cat.cat(features, dim=1)" in by_hand.split("class Net")[0]
    hand_state = {k.replace("block.", "block.layers."): v for k, v in state.items()}
    hand, _ = _quantized_sqnr(by_hand, f"qparams_cat_{unsafe}_by_hand", hand_state, calibration, data)
    assert quality > 20.0 and quality > plain + 10.0 and quality > hand - 1.0, (quality, plain, hand)
    assert _fixed(result, unsafe) == result
    assert not [f for f in analyze_source(result, settings=Settings(target="torch-eager")) if f.fix is not None]


def test_distiller_target_keeps_its_no_fix():
    (finding,) = _cat_findings(SOURCE, "distiller")
    assert finding.fix is None and "cat_common_qparams" not in finding.message


def test_a_name_the_file_binds_otherwise_leaves_the_cat_unfixed():
    text = SOURCE + "\n\ndef cat_common_qparams(tensors, dim=0):\n    return tensors\n"
    (finding,) = _cat_findings(text)
    assert finding.fix is None and "(manual)" in finding.message


def _helper():
    namespace: dict = {}
    exec("\n".join(common_qparams_cat.LINES), namespace)  # pylint: disable=exec-used
    return namespace[common_qparams_cat.HELPER]


def test_the_helper_is_torch_cat_in_float_and_where_the_qparams_agree():
    cat = _helper()
    a, b = torch.randn(2, 3), torch.randn(4, 3)
    assert torch.equal(cat((a, b), dim=0), torch.cat((a, b), 0))
    qa, qb = (torch.quantize_per_tensor(t, 0.05, 64, torch.quint8) for t in (a, b))
    together = cat([qa, qb], dim=0)
    plain = torch.cat([qa, qb], 0)
    assert together.q_scale() == plain.q_scale() and together.q_zero_point() == plain.q_zero_point()
    assert torch.equal(together.int_repr(), plain.int_repr())


def test_the_helper_covers_every_input_where_a_plain_quantized_cat_clips():
    cat = _helper()
    small = torch.quantize_per_tensor(torch.rand(64), 0.01, 0, torch.quint8)  # [0, 1): a ReLU output
    wide = torch.quantize_per_tensor(torch.randn(64) * 4, 0.1, 128, torch.quint8)  # signed, wider
    expected = torch.cat([small.dequantize(), wide.dequantize()])
    out = cat([small, wide], 1 - 1)
    assert out.is_quantized
    assert (out.dequantize() - expected).abs().max() <= out.q_scale() / 2 + 1e-6
    clipped = torch.cat([small, wide]).dequantize()
    assert (clipped - expected).abs().max() > 1.0  # the plain cat cut the wide input to [0, 2.55]


TWICE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Mix(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return torch.cat([x, self.conv(x)], 1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.mix = Mix(4)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.head(self.mix(self.mix(self.relu(self.stem(x)))[:, :4]))


    def build():
        net = Net()
        with torch.no_grad():
            net.mix.conv.weight.mul_(4.0)
        return net
    """)


def test_a_cat_in_a_class_that_runs_twice_per_pass_goes_through_the_helper():
    """Net runs self.mix twice (safe fixes leave the weight tying): one FloatFunctional in Mix would be
    reused by both runs, the stateless helper is not."""
    findings = [f for f in analyze_source(TWICE, settings=Settings(target="torch-eager")) if f.op == "torch.cat"]
    assert len(findings) == 1 and "one module would be reused by every run, so it calls" in findings[0].message
    result = _fixed(TWICE)
    assert "return cat_common_qparams([x, self.conv(x)], dim=1)" in result
    torch.manual_seed(0)
    original = load_module_from_source(TWICE, "qparams_cat_twice").build().eval()
    calibration = random_batches(SHAPE, 4, seed=1)
    data = random_batches(SHAPE, 2, seed=100)
    with torch.no_grad():
        reference = torch.cat([original(x) for x in data])
    quality, own = _quantized_sqnr(result, "qparams_cat_twice_fixed", original.state_dict(), calibration, data)
    assert torch.equal(own, reference)
    plain, _ = _quantized_sqnr(result.replace("cat_common_qparams([x, self.conv(x)], dim=1)",
                                              "torch.cat([x, self.conv(x)], 1)"),
                               "qparams_cat_twice_plain", original.state_dict(), calibration, data)
    assert quality > 20.0 and quality > plain + 3.0, (quality, plain)
    assert _fixed(result) == result
