"""A forward chain that a second method runs the same way (timm's `forward_intermediates`) is fused.

Before, any read of a member outside the forward walk blocked its chain, and every timm model
re-runs its stem in `forward_intermediates()`: legacy_xception's conv1 -> bn1 -> act1 stayed
three int8 ops (BN requantized on its own). Executed: strict load, the same outputs of both
methods before and after fuse_model(), eager PTQ runs and beats the unfused model; a second
method that runs only part of the chain, or reads a member otherwise, keeps the chain unfused.
"""

from __future__ import annotations

import copy
import textwrap

import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.act1 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.head = nn.Conv2d(8, 4, 1)

        def forward_intermediates(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.act1(x)
            return [x, self.conv2(x)]

        def forward_features(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.act1(x)
            return self.conv2(x)

        def forward(self, x):
            return self.head(self.forward_features(x))


    def build():
        net = Net()
        norm = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
        with torch.no_grad():  # a BN far from identity: unfused, its input and output are quantized apart
            norm.weight.copy_(torch.linspace(0.2, 3.0, 8))
            norm.bias.copy_(torch.linspace(-1.0, 1.0, 8))
        return net
    """)
FUSED = 'fuse(self, [["conv1", "bn1", "act1"]], inplace=True)'
SHAPE = (2, 3, 10, 10)


def _fixed(text: str) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=False).text


def _build(text: str, name: str, state=None):
    torch.manual_seed(0)
    model = load_module_from_source(text, name).build().eval()
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model


def _quality(model, calibration, data) -> float:
    with torch.no_grad():
        own = torch.cat([model(x) for x in data])
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        return sqnr_db(own, torch.cat([quantized(x) for x in data]))


def test_a_chain_a_second_method_runs_the_same_way_is_fused_and_both_methods_keep_their_outputs():
    result = _fixed(SOURCE)
    assert FUSED in result
    original = _build(SOURCE, "chain_readers_original")
    state = original.state_dict()
    calibration = random_batches(SHAPE, 4, seed=1)
    data = random_batches(SHAPE, 2, seed=100)
    model = _build(result, "chain_readers_fixed", state)
    fused = copy.deepcopy(model)
    fused.fuse_model()
    assert type(fused.bn1) is torch.nn.Identity and type(fused.act1) is torch.nn.Identity
    with torch.no_grad():
        for x in data:
            expected = original(x)
            assert torch.equal(model(x), expected)
            assert torch.allclose(fused(x), expected, atol=1e-5)
            for got, want in zip(fused.forward_intermediates(x), original.forward_intermediates(x)):
                assert torch.allclose(got, want, atol=1e-5)
    quality = _quality(model, calibration, data)
    unfused = _quality(_build(result.replace(FUSED, "pass"), "chain_readers_unfused", state), calibration, data)
    assert quality > 25.0 and quality > unfused + 1.0, (quality, unfused)
    assert _fixed(result) == result


def test_a_second_method_that_runs_part_of_the_chain_keeps_it_unfused():
    text = SOURCE.replace("        x = self.act1(x)\n        return [x, self.conv2(x)]",
                          "        return [x, self.act1(x)]")
    assert text != SOURCE
    assert FUSED not in _fixed(text)


def test_another_read_of_a_member_keeps_the_chain_unfused():
    # (a weight-init read, `nn.init.zeros_(self.bn1.weight)`, no longer blocks: tests/test_norm_act_fold.py)
    text = SOURCE.replace("    def forward(self, x):",
                          "    def fold_scale(self):\n        return self.bn1.weight / self.bn1.running_var\n\n"
                          "    def forward(self, x):")
    assert text != SOURCE
    assert FUSED not in _fixed(text)


INHERITED = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent("""
    class Base(nn.Module):
        def forward(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.act1(x)
            return self.head(x)


    class Block(Base):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.act1 = nn.ReLU(inplace=True)
            self.head = nn.Conv2d(8, 4, 1)


    def build():
        return Block()
    """)


def test_an_inherited_forward_chain_is_fused_unless_a_base_method_reads_a_member():
    """The calls are the base's reads (senet's SEBottleneck runs Bottleneck.forward); a base method
    reading a member otherwise blocks the chain (before, such chains were never found)."""
    result = _fixed(INHERITED)
    assert FUSED in result
    torch.manual_seed(0)
    original = load_module_from_source(INHERITED, "chain_inherited").build().eval()
    model = _build(result, "chain_inherited_fixed", original.state_dict())
    fused = copy.deepcopy(model)
    fused.fuse_model()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
        assert torch.allclose(fused(x), original(x), atol=1e-5)
    assert _quality(model, random_batches(SHAPE, 4, seed=1), random_batches(SHAPE, 2, seed=100)) > 25.0
    blocked = INHERITED.replace("        return self.head(x)\n",
                                "        return self.head(x)\n\n    def fold_scale(self):\n"
                                "        return self.bn1.weight / self.bn1.running_var\n")
    assert blocked != INHERITED and FUSED not in _fixed(blocked)


def test_a_forward_after_overload_stubs_is_read_in_full():
    """torchvision's DenseLayer declares `@torch.jit._overload_method` stubs before its forward;
    the reads of the real forward count (norm2 -> relu2 was never fused there)."""
    text = SOURCE.replace("    def forward(self, x):\n",
                          "    @torch.jit._overload_method\n    def forward(self, x):  # noqa: F811\n"
                          "        pass\n\n    def forward(self, x):  # noqa: F811\n", 1)
    assert text != SOURCE and FUSED in _fixed(text)
