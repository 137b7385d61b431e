"""unfused-modules and add_relu, executed: `fix --target torch-eager`, then eager quantization.

For every chain shape: the prepared model loads the original state_dict strictly and
gives the same float outputs (eval and train); after ``model.eval(); model.fuse_model()``
its outputs stay equal (rel 1e-4), the fused modules are torch's intrinsic types
(``ConvReLU2d``...), no BatchNorm is left, a second ``fuse_model()`` changes nothing, and
eager PTQ (stubs, x86 qconfig, prepare, calibrate, convert) runs and yields the quantized
intrinsic modules (``torch.ao.nn.intrinsic.quantized.ConvReLU2d``...).
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.quantization as tq
import torch.nn as nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.runtime_equivalence import assert_same_model, count_module_calls, load_module_from_source
from tests.support.ptq import eager_ptq

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def _src(body: str, build: str, inputs: str) -> str:
    return HEADER + textwrap.dedent(body) + f"\n\ndef build():\n    return {build}\n\n\ndef example_inputs():\n" \
                                            f"    return ({inputs},)\n"


CONV_BN_RELU_NESTED = """
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))
"""

CASES = {
    # name: (source, fused float types after fuse_model, quantized intrinsic types after convert)
    "conv_bn_relu_nested": (_src(CONV_BN_RELU_NESTED, "Block(4)", "torch.randn(2, 4, 8, 8)"),
                            {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "assignments_helper_norm_layer": (_src("""
        def conv3x3(cin, cout):
            return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


        class Block(nn.Module):
            def __init__(self, c, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self.conv1 = conv3x3(c, c)
                self.bn1 = norm_layer(c)
                self.relu = nn.ReLU(inplace=True)
                self.conv2 = conv3x3(c, c)
                self.bn2 = norm_layer(c)

            def forward(self, x):
                out = self.conv1(x)
                out = self.bn1(out)
                out = self.relu(out)

                out = self.conv2(out)
                out = self.bn2(out)
                return out
        """, "Block(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "conv1d_conv3d": (_src("""
        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.c1 = nn.Conv1d(c, c, 3, padding=1)
                self.b1 = nn.BatchNorm1d(c)
                self.r1 = nn.ReLU()
                self.c3 = nn.Conv3d(c, c, 1)
                self.b3 = nn.BatchNorm3d(c)

            def forward(self, x):
                y = self.r1(self.b1(self.c1(x.flatten(3).mean(3))))
                return self.b3(self.c3(x.unsqueeze(2))).mean(2) + y.unsqueeze(3)
        """, "Block(4)", "torch.randn(2, 4, 6, 6)"), {nni.ConvReLU1d}, {nniq.ConvReLU1d}),
    "linear_chains_bn_relu": (_src("""
        class Head(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.bn = nn.BatchNorm2d(c)
                self.act = nn.ReLU()
                self.fc1 = nn.Linear(c, 8)
                self.bn1 = nn.BatchNorm1d(8)
                self.fc2 = nn.Linear(8, 8)
                self.relu2 = nn.ReLU()

            def forward(self, x):
                x = self.act(self.bn(x))
                x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
                return self.relu2(self.fc2(self.bn1(self.fc1(x))))
        """, "Head(4)", "torch.randn(3, 4, 5, 5)"), {nni.BNReLU2d, nni.LinearReLU}, {nniq.BNReLU2d, nniq.LinearReLU}),
    "sequential_literals": (_src("""
        class Stem(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                    nn.Sequential(nn.Conv2d(c, c, 1), nn.ReLU()),
                )

            def forward(self, x):
                return self.features(x)


        class ConvBNReLU(nn.Sequential):
            def __init__(self, cin, cout):
                super().__init__(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


        class Net(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.stem = Stem(c)
                self.body = ConvBNReLU(c, c)

            def forward(self, x):
                return self.body(self.stem(x))
        """, "Net(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "functional_relu_becomes_fusable": (_src("""
        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                return F.relu(self.bn(self.conv(x)))
        """, "Block(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "reused_relu": (_src("""
        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv1 = nn.Conv2d(c, c, 3, padding=1)
                self.conv2 = nn.Conv2d(c, c, 3, padding=1)
                self.relu = nn.ReLU()

            def forward(self, x):
                x = self.relu(self.conv1(x))
                return self.relu(self.conv2(x))
        """, "Block(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "nested_containers": (_src(CONV_BN_RELU_NESTED + """

class Stage(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.blocks = nn.ModuleList([Block(c) for _ in range(2)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class Root(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stages = nn.Sequential(Stage(c), Block(c))
        self.fc = nn.Linear(c, 3)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.stages(x)
        return self.relu(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
""", "Root(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d, nni.LinearReLU}, {nniq.ConvReLU2d, nniq.LinearReLU}),
    "conditional_shortcut": (_src("""
        class BasicBlock(nn.Module):
            def __init__(self, in_planes, planes, stride=1):
                super(BasicBlock, self).__init__()
                self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)

                self.shortcut = nn.Sequential()
                if stride != 1 or in_planes != planes:
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes)
                    )

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += self.shortcut(x)
                out = F.relu(out)
                return out


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.Sequential(BasicBlock(4, 4), BasicBlock(4, 8, stride=2))

            def forward(self, x):
                return self.layers(x)
        """, "Net()", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "torchvision_conv_norm_activation": (_src("""
        from torchvision.ops import Conv2dNormActivation as CNA
        from torchvision.ops.misc import Conv2dNormActivation


        class Stem(nn.Module):
            def __init__(self, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self.a = Conv2dNormActivation(3, 8, stride=2)
                self.b = CNA(8, 8, 3, 1, None, 8, norm_layer, activation_layer=nn.ReLU6)
                self.c = nn.Sequential(Conv2dNormActivation(8, 8, norm_layer=None), CNA(8, 8, activation_layer=None))

            def forward(self, x):
                return self.c(self.b(self.a(x)))
        """, "Stem()", "torch.randn(2, 3, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    "injected_downsample": (_src("""
        class Block(nn.Module):
            def __init__(self, cin, cout, stride=1, downsample=None, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
                self.bn = norm_layer(cout)
                self.relu = nn.ReLU(inplace=True)
                self.downsample = downsample

            def forward(self, x):
                identity = x
                out = self.bn(self.conv(x))
                if self.downsample is not None:
                    identity = self.downsample(x)
                out += identity
                return self.relu(out)


        class Net(nn.Module):
            def __init__(self, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                self._norm_layer = norm_layer
                self.layer = self._make_layer(Block, 4, 8)

            def _make_layer(self, block, cin, cout):
                norm_layer = self._norm_layer
                downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), norm_layer(cout))
                return nn.Sequential(block(cin, cout, 2, downsample), block(cout, cout))

            def forward(self, x):
                return self.layer(x)
        """, "Net()", "torch.randn(2, 4, 8, 8)"), set(), {torch.ao.nn.quantized.QFunctional}),  # conv+bn: no BN left
    "add_relu_shapes": (_src("""
        class Residual(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(c)
                self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
                self.bn2 = nn.BatchNorm2d(c)
                self.relu = nn.ReLU(inplace=True)

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn2(self.conv2(out))
                out += identity
                out = self.relu(out)
                y = self.relu(out + x)
                return F.relu(y + out)
        """, "Residual(4)", "torch.randn(2, 4, 8, 8)"), {nni.ConvReLU2d}, {nniq.ConvReLU2d}),
    # torchvision's Conv2dNormActivation / InvertedResidual: Sequentials built from lists whose element
    # types come from arguments (ReLU6 keeps conv+bn fused alone, norm_layer=None gives conv+relu)
    "list_built_sequentials": (_src("""
        class ConvNormAct(nn.Sequential):
            def __init__(self, cin, cout, groups=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU):
                layers = [nn.Conv2d(cin, cout, 3, padding=1, groups=groups, bias=norm_layer is None)]
                if norm_layer is not None:
                    layers.append(norm_layer(cout))
                if activation_layer is not None:
                    layers.append(activation_layer(inplace=True))
                super().__init__(*layers)
                self.out_channels = cout


        class InvertedResidual(nn.Module):
            def __init__(self, c, expand_ratio, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm2d
                hidden = c * expand_ratio
                layers: list[nn.Module] = []
                if expand_ratio != 1:
                    layers.append(ConvNormAct(c, hidden, activation_layer=nn.ReLU6))
                layers.extend([
                    ConvNormAct(hidden, hidden, groups=hidden, norm_layer=norm_layer),
                    nn.Conv2d(hidden, c, 1, bias=False),
                    norm_layer(c),
                ])
                self.conv = nn.Sequential(*layers)

            def forward(self, x):
                return x + self.conv(x)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                features = [ConvNormAct(3, 8), ConvNormAct(8, 8, norm_layer=None)]
                for t in (1, 2):
                    features.append(InvertedResidual(8, t))
                self.features = nn.Sequential(*features)
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                return self.fc(torch.flatten(self.pool(self.features(x)), 1))
        """, "Net()", "torch.randn(2, 3, 8, 8)"), {nni.ConvReLU2d, nn.ReLU6}, {nniq.ConvReLU2d}),
}


def _prepared(name: str):
    text = CASES[name][0]
    result = fix_source(text, f"{name}.py", Settings(target="torch-eager"))
    fixed = result.text
    assert fixed != text
    again = fix_source(fixed, f"{name}.py", Settings(target="torch-eager"))
    assert again.text == fixed and not again.applied  # idempotent
    assert not [f for f in result.remaining if f.symbol == "unfused-modules"]
    original = load_module_from_source(text, name)
    prepared = load_module_from_source(fixed, name + "_fixed")
    return text, fixed, original, prepared


def _randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine terms, so folding them into the conv is really tested."""
    gen = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def _close(expected: torch.Tensor, actual: torch.Tensor) -> bool:
    return torch.allclose(actual, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_model_is_equivalent_and_quantizes_fused(name):
    _text, fixed, original_mod, prepared_mod = _prepared(name)
    _source, fused_types, quantized_types = CASES[name]
    assert fixed.count("def fuse_model(") >= 1 and "pylint_distiller" not in fixed
    assert_same_model(original_mod, prepared_mod, modes=("eval", "train"))

    torch.manual_seed(0)
    original = original_mod.build()
    _randomize_batchnorm(original)
    torch.manual_seed(0)
    model = prepared_mod.build()
    model.load_state_dict(original.state_dict(), strict=True)
    (x,) = original_mod.example_inputs()
    original.eval()
    model.eval()
    with torch.no_grad():
        reference = original(x.clone())
        assert torch.equal(model(x.clone()), reference)
        model.fuse_model()
        assert _close(reference, model(x.clone()))
    kinds = {type(m) for m in model.modules()}
    assert fused_types <= kinds, kinds
    bn_relu = [m for m in model.modules() if isinstance(m, (nni.BNReLU2d, nni.BNReLU3d))]
    loose_bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                and not any(m is f[0] for f in bn_relu)]
    assert not loose_bn, "a BatchNorm was left unfused"
    assert max(count_module_calls(model, (x,)).values()) <= 1

    structure = [(n, type(m)) for n, m in model.named_modules()]
    model.fuse_model()  # fused already: a no-op, not an error
    assert [(n, type(m)) for n, m in model.named_modules()] == structure

    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]
    quantized = eager_ptq(model, calibration)
    with torch.no_grad():
        out = quantized(x.clone())
    assert out.shape == reference.shape and not out.is_quantized
    assert quantized_types <= {type(m) for m in quantized.modules()}
    assert (out - reference).abs().max().item() < 0.1 * reference.abs().max().item() + 0.05


def test_one_root_call_fuses_every_block_once():
    """Root -> Sequential(Stage -> ModuleList of blocks, Block): one call fuses all 3 blocks and the head."""
    _t, _f, _o, prepared_mod = _prepared("nested_containers")
    model = prepared_mod.build().eval()
    model.fuse_model()
    fused = [n for n, m in model.named_modules() if isinstance(m, nni.ConvReLU2d)]
    assert fused == ["stages.0.blocks.0.conv", "stages.0.blocks.1.conv", "stages.1.conv"]
    assert isinstance(model.fc, nni.LinearReLU) and isinstance(model.relu, nn.Identity)
    # a parent that calls fuse_model of every module it finds (torchvision's walk) does no harm
    for module in model.modules():
        if module is not model and hasattr(module, "fuse_model"):
            module.fuse_model()


def test_a_conditional_shortcut_is_fused_where_it_has_the_chain():
    _t, fixed, _o, prepared_mod = _prepared("conditional_shortcut")
    assert '        if len(self.shortcut) == 2:\n            fuse(self, [["shortcut.0", "shortcut.1"]], inplace=True)\n' \
        in fixed
    model = prepared_mod.build().eval()
    model.fuse_model()  # the root holds a Sequential of blocks: its walk reaches both
    assert len(model.layers[0].shortcut) == 0
    assert isinstance(model.layers[1].shortcut[0], nn.Conv2d) and isinstance(model.layers[1].shortcut[1], nn.Identity)
    assert isinstance(model.layers[1].conv1, nni.ConvReLU2d)


def test_an_injected_downsample_is_fused_behind_a_type_test():
    _t, fixed, _o, prepared_mod = _prepared("injected_downsample")
    assert ("        if isinstance(self.downsample, nn.Sequential) and [type(m) for m in self.downsample] == "
            "[nn.Conv2d, nn.BatchNorm2d]:\n            fuse(self, [[\"downsample.0\", \"downsample.1\"]], inplace=True)\n"
            in fixed)
    model = prepared_mod.build().eval()
    model.fuse_model()
    first, second = model.layer
    assert isinstance(first.downsample[1], nn.Identity) and second.downsample is None
    # another value of the parameter (here with a ReLU) does not match the test; the walk's run-time
    # scan of the Sequentials it reaches fuses it by its exact types (fuse_by_type), outputs kept
    other = prepared_mod.Block(4, 8, 2, nn.Sequential(nn.Conv2d(4, 8, 1, 2), nn.BatchNorm2d(8), nn.ReLU())).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        reference = other(x)
        other.fuse_model()
        assert _close(reference, other(x))
    assert [type(m) for m in other.downsample] == [nni.ConvReLU2d, nn.Identity, nn.Identity]


def test_qat_fusion_keeps_batchnorm_trainable():
    _t, _f, _o, prepared_mod = _prepared("conv_bn_relu_nested")
    model = prepared_mod.build().train()
    model.fuse_model(is_qat=True)
    assert isinstance(model.conv, nni.ConvBnReLU2d)
    model.qconfig = tq.get_default_qat_qconfig("x86")
    tq.prepare_qat(model, inplace=True)
    model(torch.randn(2, 4, 8, 8)).sum().backward()


def test_reused_relu_gets_its_own_instance_before_fusion():
    """The same ReLU after two convs: fusing it twice would fail (it becomes Identity); the reuse fix
    gives the second call its own ReLU first, and then both chains fuse."""
    _t, fixed, _o, prepared_mod = _prepared("reused_relu")
    assert '[["conv1", "relu"], ["conv2", "relu_2"]]' in fixed
    model = prepared_mod.build().eval()
    model.fuse_model()
    assert isinstance(model.conv1, nni.ConvReLU2d) and isinstance(model.conv2, nni.ConvReLU2d)


def test_add_relu_replaces_the_add_and_the_relu_call():
    _t, fixed, _o, prepared_mod = _prepared("add_relu_shapes")
    assert "out = self.add_relu.add_relu(out, identity)\n" in fixed
    assert "y = self.add_relu_2.add_relu(out, x)\n" in fixed
    assert "return self.add_relu_3.add_relu(y, out)\n" in fixed
    assert "out += identity" not in fixed and "F.relu" not in fixed
    model = prepared_mod.build()
    functionals = {n for n, m in model.named_modules() if isinstance(m, torch.ao.nn.quantized.FloatFunctional)}
    assert functionals == {"add_relu", "add_relu_2", "add_relu_3"}
    # self.relu stays a member (it still runs in the first chain): the state_dict keeps its keys
    assert isinstance(model.relu, nn.ReLU)


ALIASED_IADD = _src("""
    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 1)
            self.relu = nn.ReLU()

        def forward(self, x):
            out = self.conv(x)
            keep = out
            out += x
            out = self.relu(out)
            return out + keep
    """, "Residual(4)", "torch.randn(2, 4, 4, 4)")


def test_add_relu_of_an_aliased_inplace_add_is_unsafe():
    """`keep = out; out += x` updates keep too: an out-of-place add_relu would not, so it is unsafe."""
    safe = fix_source(ALIASED_IADD, "aliased.py", Settings(target="torch-eager")).text
    assert "out += x" in safe
    unsafe = fix_source(ALIASED_IADD, "aliased.py", Settings(target="torch-eager"), unsafe=True).text
    assert "out = self.add_relu.add_relu(out, x)" in unsafe


HAND_WRITTEN = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(4, 4)
        self.deconv = nn.ConvTranspose2d(4, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = F.relu(self.fc2(self.relu(self.fc(x))))
        return y, self.bn(self.deconv(x.view(1, 4, 2, 2)))

    def fuse_model(self, is_qat=False):
        """Hand-written."""
        torch.ao.quantization.fuse_modules(self, [["fc", "relu"]], inplace=True)


def build():
    return Block()


def example_inputs():
    return (torch.randn(4, 4),)
'''


def test_an_existing_fuse_model_is_extended_not_doubled():
    """The chains it lists stay as they are; new ones (fc2 + the ReLU fix made from F.relu, and a
    ConvTranspose+BN that QAT fusion does not support) go at the start of its body."""
    result = fix_source(HAND_WRITTEN, "hand.py", Settings(target="torch-eager"))
    fixed = result.text
    assert fixed.count("def fuse_model(") == 1
    body = fixed[fixed.index('        """Hand-written."""\n'):]
    assert body.startswith('        """Hand-written."""\n'
                           "        fuse = torch.ao.quantization.fuse_modules_qat if is_qat else "
                           "torch.ao.quantization.fuse_modules\n"
                           '        fuse(self, [["fc2", "relu_2"]], inplace=True)\n'
                           "        if not is_qat:\n"
                           '            torch.ao.quantization.fuse_modules(self, [["deconv", "bn"]], inplace=True)')
    assert fix_source(fixed, "hand.py", Settings(target="torch-eager")).text == fixed
    assert not [f for f in result.remaining if f.symbol == "unfused-modules"]
    original_mod = load_module_from_source(HAND_WRITTEN, "hand")
    prepared_mod = load_module_from_source(fixed, "hand_fixed")
    original, model = assert_same_model(original_mod, prepared_mod)
    (x,) = original_mod.example_inputs()
    with torch.no_grad():
        reference = original(x)
        model.fuse_model()
        after = model(x)
    assert all(_close(r, a) for r, a in zip(reference, after))
    assert isinstance(model.fc2, nni.LinearReLU) and isinstance(model.bn, nn.Identity)
    qat = prepared_mod.build().train()
    qat.fuse_model(is_qat=True)  # ConvTranspose+BN is left alone, not an error
    assert isinstance(qat.fc2, nni.LinearReLU) and isinstance(qat.bn, nn.BatchNorm2d)


def test_distiller_target_does_not_report_fusion():
    text = CASES["conv_bn_relu_nested"][0]
    from pylint_distiller.api import analyze_source

    assert "unfused-modules" not in {f.symbol for f in analyze_source(text, "x.py", Settings())}
    assert "fuse_model" not in fix_source(text, "x.py", Settings()).text


def test_pragmas_keep_a_class_unfused():
    """On the chain's first line, or on a line of its own at the top of the class (pylint's block scope)."""
    text = CASES["conv_bn_relu_nested"][0]
    for pragma in (text.replace("return self.relu(self.bn(self.conv(x)))",
                                "return self.relu(self.bn(self.conv(x)))  # pylint: disable=unfused-modules"),
                   text.replace("class Block(nn.Module):\n",
                                "class Block(nn.Module):\n    # pylint: disable=unfused-modules\n")):
        assert pragma != text
        assert fix_source(pragma, "x.py", Settings(target="torch-eager")).text == pragma


def test_no_fuse_model_where_the_fused_flag_is_taken_or_the_method_is_inherited():
    text = CASES["conv_bn_relu_nested"][0]
    taken = text.replace("        self.relu = nn.ReLU()\n", "        self.relu = nn.ReLU()\n        self._fused = 0\n")
    from pylint_distiller.api import analyze_source

    findings = [f for f in analyze_source(taken, "x.py", Settings(target="torch-eager"))
                if f.symbol == "unfused-modules"]
    assert len(findings) == 1 and findings[0].fix is None and "_fused" in findings[0].message
    inherited = text.replace("class Block(nn.Module):", "class Base(nn.Module):\n    def fuse_model(self):\n"
                             "        pass\n\n\nclass Block(Base):")
    findings = [f for f in analyze_source(inherited, "x.py", Settings(target="torch-eager"))
                if f.symbol == "unfused-modules"]
    assert len(findings) == 1 and findings[0].fix is None and "inherits" in findings[0].message


def _sqnr(reference: torch.Tensor, out: torch.Tensor) -> float:
    return 10 * torch.log10((reference ** 2).sum() / ((reference - out) ** 2).sum()).item()


@pytest.mark.parametrize("name", ["basic_module", "bottleneck"])
def test_examples_through_the_whole_eager_recipe(name):
    """fix, strict load, eval, fuse_model, stubs + x86 qconfig, prepare, calibrate, convert, run: fused
    quantized modules, FloatFunctional.add_relu quantized, and a better SQNR than without fusion."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    text = path.read_text(encoding="utf-8")
    fixed = fix_source(text, str(path), Settings(target="torch-eager")).text
    original_mod = load_module_from_source(text, name, path_hint=path)
    prepared_mod = load_module_from_source(fixed, name + "_fixed")
    assert_same_model(original_mod, prepared_mod, modes=("eval", "train"))
    torch.manual_seed(0)
    original = original_mod.build()
    _randomize_batchnorm(original)
    original.eval()
    (x,) = original_mod.example_inputs()
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(8)]
    with torch.no_grad():
        reference = original(x)
    results = {}
    for fuse in (False, True):
        model = prepared_mod.build()
        model.load_state_dict(original.state_dict(), strict=True)
        model.eval()
        if fuse:
            model.fuse_model()
            with torch.no_grad():
                assert _close(reference, model(x))
        quantized = eager_ptq(model, calibration)
        with torch.no_grad():
            results[fuse] = _sqnr(reference, quantized(x))
        kinds = {type(m) for m in quantized.modules()}
        assert (nniq.ConvReLU2d in kinds) is fuse
        assert torch.ao.nn.quantized.QFunctional in kinds  # add_relu (and cat) converted
    assert results[True] > results[False], results


def test_selection_is_honoured():
    """--select tensor-operator: the add is fixed, the F.relu it feeds is another rule's and stays;
    --ignore unfused-modules: no fuse_model."""
    text = CASES["add_relu_shapes"][0]
    only_ops = fix_source(text, "x.py", Settings(target="torch-eager", select=("tensor-operator",))).text
    assert "return F.relu(self.add.add(y, out))" in only_ops and "fuse_model" not in only_ops
    no_fusion = fix_source(text, "x.py", Settings(target="torch-eager", ignore=("unfused-modules",))).text
    assert "fuse_model" not in no_fusion and "self.add_relu_3.add_relu(y, out)" in no_fusion


DEFAULTED_ACTIVATION = _src("""
    class SqueezeExcite(nn.Module):
        def __init__(self, c, activation=nn.ReLU):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, c // 2, 1)
            self.act = activation()
            self.fc2 = nn.Conv2d(c // 2, c, 1)
            self.gate = nn.Sigmoid()

        def forward(self, x):
            return self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
""", "SqueezeExcite(8)", "torch.randn(2, 8, 4, 4)")


@pytest.mark.parametrize("activation", ["nn.ReLU", "nn.SiLU"])
def test_a_member_type_taken_from_a_default_is_fused_only_when_it_is_that_type(activation):
    """torchvision's SqueezeExcitation defaults to ReLU but EfficientNet passes SiLU: no crash."""
    fixed = fix_source(DEFAULTED_ACTIVATION, "se.py", Settings(target="torch-eager")).text
    assert "if type(self.fc1) is nn.Conv2d and type(self.act) is nn.ReLU:" in fixed
    prepared = load_module_from_source(fixed, "se_fixed_" + activation.replace(".", "_"))
    model = prepared.SqueezeExcite(8, activation=eval(activation, {"nn": nn})).eval()
    x = torch.randn(2, 8, 4, 4)
    expected = model(x)
    model.fuse_model()
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert isinstance(model.fc1, nni.ConvReLU2d) == (activation == "nn.ReLU")


@pytest.mark.parametrize("norm, activation, expected", [
    ("nn.BatchNorm2d", "nn.ReLU", [nni.ConvReLU2d, nn.Identity, nn.Identity]),
    ("nn.BatchNorm2d", "nn.SiLU", [nn.Conv2d, nn.Identity, "FloatIsland"]),  # SiLU: a run-time float island
    ("None", "nn.ReLU", [nni.ConvReLU2d, nn.Identity]),
    ("None", "None", [nn.Conv2d]),
    ("lambda c: nn.GroupNorm(2, c)", "nn.ReLU", [nn.Conv2d, nn.GroupNorm, nn.ReLU]),
])
def test_a_list_built_sequential_fuses_only_runs_of_exactly_a_chains_types(norm, activation, expected):
    """The scan tests exact types at run time: other activations or norms are left alone, never raise."""
    _t, _f, _o, prepared_mod = _prepared("list_built_sequentials")
    scope = {"nn": nn}
    block = prepared_mod.ConvNormAct(4, 4, norm_layer=eval(norm, scope), activation_layer=eval(activation, scope))
    _randomize_batchnorm(block)
    block.eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        reference = block(x)
        block.fuse_model()
        assert _close(reference, block(x))
    expected = [getattr(prepared_mod, e) if isinstance(e, str) else e for e in expected]
    assert [type(m) for m in block] == expected
    block.fuse_model()
    assert [type(m) for m in block] == expected
    assert all(type(m.module) is nn.SiLU for m in block if type(m) is prepared_mod.FloatIsland)
