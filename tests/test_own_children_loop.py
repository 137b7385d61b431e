"""Children a class's own forward runs in a row (`own_children_loop`), fused by run-time type.

The real case: torchvision's `IntermediateLayerGetter` (models/_utils.py), the backbone of every
detection and segmentation model, whose direct children are a ResNet's stem `conv1 -> bn1 ->
relu` and its layers. The file is rewritten by `fix --target torch-eager` and loaded beside the
installed one; the original state_dict loads strictly, outputs are equal, and after
`fuse_model()` the stem is one ConvReLU2d and every returned feature map keeps its value,
including a return layer inside the stem (`bn1`), which ends a run. Then eager PTQ runs.
The static cases pin what must stay unfused: a loop that reads each intermediate, or leaves early.
"""

from __future__ import annotations

import tempfile
import textwrap

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.nn as nn

from pylint_distiller.api import analyze_source
from pylint_distiller.settings import Settings
from tests.support.ptq import eager_ptq
from tests.support.realcode import fixed, source_of, substituted
from tests.test_fusion_runtime import _close, _randomize_batchnorm

torchvision = pytest.importorskip("torchvision")
TV = ("torchvision.",)
_TMP = tempfile.mkdtemp(prefix="pylint-distiller-own-children-")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _prepared_files() -> dict[str, str]:
    """The getter's file and resnet.py (whose residual adds eager cannot run unprepared)."""
    out = {}
    for name in ("torchvision.models._utils", "torchvision.models.resnet"):
        path, text = source_of(name)
        out[name] = fixed(text, path, "torch-eager", False).text
    assert "fuse_by_type(self, run, is_qat)" in out["torchvision.models._utils"]
    return out


@pytest.mark.parametrize("return_layers", [{"layer1": "a", "layer4": "b"}, {"bn1": "stem", "layer2": "c"}],
                         ids=["layers", "return-layer-inside-the-stem"])
def test_intermediate_layer_getter_stem_fused_outputs_kept(return_layers):
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18().eval()
    _randomize_batchnorm(resnet)
    original = torchvision.models._utils.IntermediateLayerGetter(resnet, return_layers).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = original(x)
    with substituted(_prepared_files(), _TMP, TV):
        from torchvision.models import _utils, resnet  # the rewritten files  # pylint: disable=C0415

        torch.manual_seed(0)
        model = _utils.IntermediateLayerGetter(resnet.resnet18(), return_layers).eval()
        assert type(model).__module__ != type(original).__module__ and hasattr(model, "fuse_model")
        model.load_state_dict(original.state_dict(), strict=True)
        with torch.no_grad():
            assert all(torch.equal(a, b) for a, b in zip(model(x).values(), reference.values()))
            model.fuse_model()
            fused = model(x)
        assert list(fused) == list(reference)
        assert all(_close(reference[k], fused[k]) for k in reference)
        if "bn1" in return_layers:  # bn1's output is returned: conv1+bn1 fuse, relu stays
            assert isinstance(model.bn1, nn.Identity) and isinstance(model.relu, nn.ReLU)
            assert type(model.conv1) is nn.Conv2d
        else:
            assert isinstance(model.conv1, nni.ConvReLU2d)
            assert isinstance(model.bn1, nn.Identity) and isinstance(model.relu, nn.Identity)
        quantized = eager_ptq(_FirstOutput(model), [torch.randn_like(x) for _ in range(2)])
        with torch.no_grad():
            out = quantized(x)
        assert out.shape == next(iter(reference.values())).shape and torch.isfinite(out).all()


class _FirstOutput(nn.Module):
    """One tensor out, for the stubs-around-the-model PTQ recipe."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return next(iter(self.inner(x).values()))


_HEADER = "import torch.nn as nn\n\n\n"


def _own_children_findings(source: str) -> list[str]:
    findings = analyze_source(_HEADER + textwrap.dedent(source), "model.py", Settings(target="torch-eager"))
    return [f.message for f in findings if f.symbol == "unfused-modules" and "runs in a row" in f.message]


def test_plain_loop_over_own_children_is_fused_whole():
    found = _own_children_findings("""
        class Chain(nn.ModuleDict):
            def forward(self, x):
                for _, module in self.items():
                    x = module(x)
                return x
    """)
    assert len(found) == 1 and "except across" not in found[0]


@pytest.mark.parametrize("body", [
    ["x = module(x)", "feats.append(x)"],  # every intermediate is read
    ["x = module(x)", "if x.sum() > 0:", "    break"],  # leaves early
    ["x = module(x)", "if name in keep:", "    feats.append(x)"],  # a local: fuse_model cannot see it
    ["x = module(x, scale)"],  # more than the running value goes in
], ids=["each-read", "break", "local-guard", "two-arguments"])
def test_loops_that_see_inner_values_are_not_fused(body):
    loop = "\n".join(" " * 12 + line for line in body)
    found = _own_children_findings(
        "class Chain(nn.ModuleDict):\n"
        "    def forward(self, x, keep=(), scale=1.0):\n"
        "        feats = []\n"
        "        for name, module in self.items():\n"
        f"{loop}\n"
        "        return feats\n")
    assert found == []


def test_another_method_iterating_the_children_blocks():
    found = _own_children_findings("""
        class Chain(nn.ModuleDict):
            def forward(self, x):
                for _, module in self.items():
                    x = module(x)
                return x

            def features(self, x):
                return [m(x) for m in self.values()]
    """)
    assert found == []
