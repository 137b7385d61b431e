"""A member that only torch's load hook `_load_from_state_dict` also touches is still fused.

torchvision's MNASNet patches `self.layers[idx] = layer` there for old (version 1) checkpoints;
that read blocked the fusion of its whole list-built stem (every BatchNorm of mnasnet0_5 stayed
an int8 op of its own). On a fused model only a fused checkpoint loads (the keys differ), so the
hook's patching never meets a fused member. Executed: strict load through the hook, the same
outputs before and after fuse_model(), eager PTQ runs and beats the unfused model.
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
        _version = 2

        def __init__(self):
            super().__init__()
            layers = [
                nn.Conv2d(3, 8, 3, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU(inplace=True),
                nn.Conv2d(8, 8, 3, padding=1, bias=False),
                nn.BatchNorm2d(8),
            ]
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            return self.layers(x)

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                                  unexpected_keys, error_msgs):
            if local_metadata.get("version", None) == 1:  # an old checkpoint: the old stem
                self.layers[0] = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                          unexpected_keys, error_msgs)


    def build():
        net = Net()
        with torch.no_grad():  # BNs far from identity: unfused, each is quantized on its own
            for norm in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
                norm.weight.copy_(torch.linspace(0.2, 3.0, 8))
                norm.bias.copy_(torch.linspace(-1.0, 1.0, 8))
        return net
    """)
SHAPE = (2, 3, 10, 10)


def _quality(model, calibration, data) -> float:
    with torch.no_grad():
        own = torch.cat([model(x) for x in data])
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        return sqnr_db(own, torch.cat([quantized(x) for x in data]))


def test_a_member_the_load_hook_patches_is_still_fused():
    result = fix_source(SOURCE, settings=Settings(target="torch-eager")).text
    assert "def fuse_model(" in result
    torch.manual_seed(0)
    original = load_module_from_source(SOURCE, "load_hook_original").build().eval()
    model = load_module_from_source(result, "load_hook_fixed").build().eval()
    model.load_state_dict(original.state_dict(), strict=True)  # through the hook
    fused = copy.deepcopy(model)
    fused.fuse_model()
    assert not [m for m in fused.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    calibration = random_batches(SHAPE, 4, seed=1)
    data = random_batches(SHAPE, 2, seed=100)
    with torch.no_grad():
        for x in data:
            assert torch.equal(model(x), original(x))
            assert torch.allclose(fused(x), original(x), atol=1e-5)
    quality = _quality(model, calibration, data)
    plain = _quality(original, calibration, data)  # the same code unfused (no fuse_model)
    assert quality > 25.0 and quality > plain + 1.0, (quality, plain)
