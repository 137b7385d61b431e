"""A conv followed by a BatchNorm2d subclass with an activation inside (timm's BatchNormAct2d), executed.

timm builds almost every conv+norm+act as `ConvNormAct`: `self.conv = create_conv2d(...)`,
`self.bn = norm_act_layer(...)` (a `BatchNormAct2d`, a BatchNorm2d subclass whose forward runs
`F.batch_norm` then its `drop` and `act` children), or an empty `nn.Sequential()` without a norm,
and `in_channels`/`out_channels` properties reading `self.conv`. Nothing fused that pair: eager
`convert` leaves the subclass float, so each one became a float island after a conv that requantized
its output (vovnet39a 4.9 dB, FX 6.2). The generated `fuse_by_type()` now replaces such a norm by
its plain layers (a BatchNorm2d sharing its tensors, then its other children) when a fixed probe
gives the same output, and conv+bn(+relu) fuses. Each case: strict load, same float outputs,
same outputs after `fuse_model()`, no BatchNorm left, eager PTQ (the README recipe) beats the
same model with the norms left as float islands.
"""

from __future__ import annotations

import textwrap

import torch
import torch.ao.nn.intrinsic as nni
import torch.nn as nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import assert_same_model, load_module_from_source

SOURCE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class BatchNormAct2d(nn.BatchNorm2d):
    def __init__(self, num_features, apply_act=True, act_layer=nn.ReLU):
        super().__init__(num_features)
        self.drop = nn.Identity()
        self.act = act_layer() if apply_act else nn.Identity()

    def forward(self, x):
        if self.training:
            bn_training = True
        else:
            bn_training = (self.running_mean is None) and (self.running_var is None)
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, bn_training,
                         0.0 if self.momentum is None else self.momentum, self.eps)
        x = self.drop(x)
        x = self.act(x)
        return x


def create_conv2d(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def get_norm_act_layer(act_layer):
    return BatchNormAct2d


class ConvNormAct(nn.Module):
    def __init__(self, cin, cout, k=3, stride=1, apply_norm=True, apply_act=True, act_layer=nn.ReLU):
        super().__init__()
        self.conv = create_conv2d(cin, cout, k, stride)
        if apply_norm:
            norm_act_layer = get_norm_act_layer(act_layer)
            self.bn = norm_act_layer(cout, apply_act=apply_act, act_layer=act_layer)
        else:
            self.bn = nn.Sequential()

    @property
    def in_channels(self):
        return self.conv.in_channels

    def feature_info(self):
        return dict(num_chs=self.conv.out_channels)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvNormAct(3, 16, stride=2)
        self.mid = ConvNormAct(16, 16, act_layer=nn.Hardtanh)
        self.plain = ConvNormAct(16, 16, apply_act=False)
        self.head = ConvNormAct(16, 8, k=1, apply_norm=False)

    def forward(self, x):
        return self.head(self.plain(self.mid(self.stem(x))))


def build():
    return Net()
'''


def _module(text: str, name: str):
    return load_module_from_source(textwrap.dedent(text), name)


def _fixed(text: str) -> str:
    fixed = fix_source(text, "norm_act.py", Settings(target="torch-eager"), unsafe=True).text
    again = fix_source(fixed, "norm_act.py", Settings(target="torch-eager"), unsafe=True)
    assert again.text == fixed and not again.applied  # idempotent
    return fixed


def _trained_like(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return model.eval()


def _prepared(text: str, name: str):
    original_mod, prepared_mod = _module(text, name), _module(_fixed(text), name + "_fixed")
    assert_same_model(original_mod, prepared_mod, modes=("eval", "train"), inputs=(torch.randn(2, 3, 16, 16),))
    torch.manual_seed(0)
    original = _trained_like(original_mod.build())
    model = prepared_mod.build()
    model.load_state_dict(original.state_dict(), strict=True)
    return original, model.eval(), prepared_mod


def _sqnr(model: nn.Module, x: torch.Tensor, reference: torch.Tensor) -> float:
    calibration = [torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    with torch.no_grad():
        return sqnr_db(reference, readme_recipe()(model, calibration)(x))


def test_conv_then_norm_act_subclass_fuses_and_quantizes_better():
    fixed = _fixed(SOURCE)
    assert 'fuse_by_type(self, ["conv", "bn"], is_qat)' in fixed
    original, model, prepared_mod = _prepared(SOURCE, "norm_act_fold")
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        reference = original(x)
        assert torch.equal(model(x), reference)
        state = torch.get_rng_state()
        model.fuse_model()
        assert torch.equal(torch.get_rng_state(), state)  # the probe draws from its own generator
        fused = model(x)
    assert torch.allclose(fused, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert not [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert type(model.stem.conv) is nni.ConvReLU2d  # conv+bn+relu: one quantized op
    assert type(model.mid.conv) is nn.Conv2d and type(model.mid.bn[1]) is nn.Hardtanh
    assert model.mid.feature_info() == {"num_chs": 16}  # a construction setting read outside forward still works
    structure = [(n, type(m)) for n, m in model.named_modules()]
    model.fuse_model()
    assert [(n, type(m)) for n, m in model.named_modules()] == structure

    islands = prepared_mod.build()
    islands.load_state_dict(original.state_dict(), strict=True)
    for block in (islands.stem, islands.mid, islands.plain):  # what fuse_model() did before: float norms
        block.bn = prepared_mod.FloatIsland(block.bn)
    assert _sqnr(model, x, reference) > _sqnr(islands.eval(), x, reference) + 0.2


def test_a_norm_subclass_doing_more_than_its_layers_is_left_float():
    """The probe tells: a subclass that scales after its act (or acts before its norm) is not its layers."""
    for change in ("        x = self.act(x)\n        return x * 2.0\n",
                   "        return self.act(x) + self.running_mean.view(1, -1, 1, 1)\n"):
        text = SOURCE.replace("        x = self.act(x)\n        return x\n", change)
        assert text != SOURCE
        original, model, _prepared_mod = _prepared(text, f"norm_act_other_{len(change)}")
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            reference = original(x)
            model.fuse_model()
            assert torch.allclose(model(x), reference, rtol=1e-5, atol=1e-5)
        assert type(model.stem.conv) is nn.Conv2d and type(model.stem.bn).__name__ == "FloatIsland"
        assert type(model.stem.bn.module).__name__ == "BatchNormAct2d"


def test_qat_fusion_leaves_the_norm_subclass_alone():
    _original, model, _prepared_mod = _prepared(SOURCE, "norm_act_qat")
    model.train()
    model.fuse_model(is_qat=True)
    assert type(model.stem.bn).__name__ in ("BatchNormAct2d", "FloatIsland")
    assert type(model.stem.conv) is nn.Conv2d


def test_a_setting_read_in_forward_code_keeps_the_chain_unfused():
    body = "        x = self.conv(x)\n        x = self.bn(x)\n"
    text = SOURCE.replace(body + "        return x\n", body + "        return x[:, :self.conv.out_channels]\n")
    assert text != SOURCE
    assert 'fuse_by_type(self, ["conv", "bn"], is_qat)' not in _fixed(text)


OVERRIDDEN = '''
import torch
import torch.nn as nn


def make_conv(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1)


def make_norm(kind, c):
    return {"bn": nn.BatchNorm2d}[kind](c)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = make_conv(c, c)
        self.bn = make_norm("bn", c)

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return x


class Tapped(Block):
    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y  # reads the conv's own output: fusing would change it


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(3)
        self.b = Tapped(3)

    def forward(self, x):
        return self.b(self.a(x))


def build():
    return Net()
'''


def test_a_subclass_running_another_forward_keeps_its_members_unfused():
    """timm's CondConvResidual overrides InvertedResidual.forward: the base's run-time-typed chain is fused
    behind a test that the base's forward runs, so the subclass (which reads an intermediate) stays."""
    fixed = _fixed(OVERRIDDEN)
    assert 'if type(self).forward is Block.forward:\n            fuse_by_type(self, ["conv", "bn"], is_qat)' in fixed
    original, model, _prepared_mod = _prepared(OVERRIDDEN, "norm_act_overridden")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        model.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert type(model.a.bn) is nn.Identity and type(model.b.bn) is nn.BatchNorm2d


IDENTITY_BETWEEN = '''
import torch
import torch.nn as nn


def make_norm(kind, c):
    return {"bn": nn.BatchNorm2d}[kind](c)


class Block(nn.Module):
    def __init__(self, c, drop_block=None, act_layer=nn.ReLU):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = make_norm("bn", c)
        self.drop_block = drop_block() if drop_block is not None else nn.Identity()
        self.act1 = act_layer()

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.drop_block(x)
        x = self.act1(x)
        return x


def build():
    return nn.Sequential(Block(3), Block(3))
'''


def test_an_identity_between_bn_and_relu_does_not_break_the_chain():
    """timm's ResNet blocks run `drop_block` (nn.Identity without drop) between bn and act: conv+bn+relu still
    fuses into one op; the Identity stays where it was."""
    fixed = _fixed(IDENTITY_BETWEEN)
    assert 'fuse_by_type(self, ["conv1", "bn1", "drop_block", "act1"], is_qat)' in fixed
    original, model, _prepared_mod = _prepared(IDENTITY_BETWEEN, "identity_between")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        for block in model:  # the root is a plain nn.Sequential: each block fuses itself
            block.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert [type(m) for m in (model[0].conv1, model[0].bn1, model[0].drop_block, model[0].act1)] == \
        [nni.ConvReLU2d, nn.Identity, nn.Identity, nn.Identity]


ZERO_INIT = '''
import torch
import torch.nn as nn


def make_norm(kind, c):
    return {"bn": nn.BatchNorm2d}[kind](c)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = make_norm("bn", c)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = make_norm("bn", c)
        self.act2 = nn.ReLU()

    def zero_init_last(self):
        if getattr(self.bn2, "weight", None) is not None:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        shortcut = x
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.conv2(x)
        x = self.bn2(x)
        x = x + shortcut
        return self.act2(x)


def build():
    return nn.Sequential(Block(3), Block(3))
'''


def test_a_weight_init_read_outside_forward_does_not_block_fusion():
    """timm's ResNet blocks read `self.bn2` in `zero_init_last()` (getattr, nn.init.zeros_): conv2+bn2 fuses,
    as FX fuses it; a read that computes with the weight still blocks."""
    fixed = _fixed(ZERO_INIT)
    assert '"conv2", "bn2"' in fixed
    original, model, _prepared_mod = _prepared(ZERO_INIT, "zero_init_last")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        for block in model:
            block.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert not [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    model[0].zero_init_last()  # after fusion it meets an nn.Identity and skips
    computed = ZERO_INIT.replace("nn.init.zeros_(self.bn2.weight)", "self.scale = self.bn2.weight.sum()")
    assert computed != ZERO_INIT and '"conv2", "bn2"' not in _fixed(computed)


OPTIONAL = '''
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c, skip=True):
        super().__init__()
        if skip:
            self.skip = nn.Conv2d(c, c, 1)
            self.skipbn = nn.BatchNorm2d(c)
        else:
            self.skip = None
        self.body = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        if self.skip is not None:
            s = self.skip(x)
            s = self.skipbn(s)
        else:
            s = x
        return self.body(x) + s


def build():
    return nn.Sequential(Block(3), Block(3, skip=False))
'''


def test_a_none_test_of_a_member_does_not_block_fusion():
    """xception's `if self.skip is not None:` reads the same after fusion: skip+skipbn fuses where it exists."""
    fixed = _fixed(OPTIONAL)
    assert 'fuse_by_type(self, ["skip", "skipbn"], is_qat)' in fixed
    original, model, _prepared_mod = _prepared(OPTIONAL, "optional_skip")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        for block in model:
            block.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert type(model[0].skipbn) is nn.Identity and model[1].skip is None


PROJECT = '''
import torch
import torch.nn as nn


class Tree(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.project = nn.Identity()
        if cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.body = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        shortcut = self.project(x)
        return self.body(x) + shortcut


def build():
    return nn.Sequential(Tree(3, 8), Tree(8, 8))
'''


def test_a_sequential_or_identity_member_fuses_where_it_is_a_sequential():
    """timm's dla: `self.project = nn.Identity()`, or an nn.Sequential(conv, bn) when the widths differ."""
    fixed = _fixed(PROJECT)
    assert 'if isinstance(self.project, nn.Sequential):\n            fuse(self, [["project.0", "project.1"]]' in fixed
    original, model, _prepared_mod = _prepared(PROJECT, "optional_project")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        for block in model:
            block.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert type(model[0].project[1]) is nn.Identity and type(model[1].project) is nn.Identity


DEEP_STEM = '''
import torch
import torch.nn as nn


def make_norm(kind, c):
    return {"bn": nn.BatchNorm2d}[kind](c)


class Net(nn.Module):
    def __init__(self, deep=True):
        super().__init__()
        if deep:
            self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                       nn.Conv2d(8, 8, 3, padding=1, bias=False))
        else:
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = make_norm("bn", 8)
        self.act1 = nn.ReLU()
        if deep:
            self.maxpool = nn.Sequential(nn.MaxPool2d(2))
        else:
            self.maxpool = nn.MaxPool2d(2)
        self.head = nn.Conv2d(8, 3, 1)

    def forward_intermediates(self, x):
        intermediates = []
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act1(x)
        intermediates.append(x)
        x = self.maxpool(x)
        return intermediates

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.maxpool(x)
        return self.head(x)


def build():
    return nn.Sequential(Net(), Net(deep=False))
'''


def test_a_sequential_stem_joins_the_run_of_the_norm_and_act_after_it():
    """timm resnest's deep stem: `self.conv1` is an nn.Sequential (or a conv), then bn1 and act1; the
    Sequential's children join the run, so its last conv fuses with bn1+act1 (FX fuses across it too).
    `forward_intermediates` taps act1's output before `maxpool`: the run stops before maxpool."""
    fixed = _fixed(DEEP_STEM)
    assert 'fuse_by_type(self, ["conv1", "bn1", "act1"], is_qat)' in fixed
    original, model, _prepared_mod = _prepared(DEEP_STEM, "deep_stem")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        taps = [original[0].forward_intermediates(x)[0], original[1].forward_intermediates(x)[0]]
        for block in model:
            block.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
        for block, tap in zip(model, taps):
            assert torch.allclose(block.forward_intermediates(x)[0], tap, rtol=1e-4, atol=1e-4 * tap.abs().max())
    assert [type(m) for m in model[0].conv1] == [nni.ConvReLU2d, nn.Identity, nn.Identity, nni.ConvReLU2d]
    assert type(model[1].conv1) is nni.ConvReLU2d
    assert all(type(m.bn1) is nn.Identity and type(m.act1) is nn.Identity for m in model)


TV_STEM = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = norm_layer(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = self._make_layer(8)
        self.layer2 = self._make_layer(8)

    def _make_layer(self, c):
        return nn.Sequential(*[nn.Conv2d(c, c, 3, padding=1), nn.ReLU()])

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        return x


def build():
    return Net()
'''


def test_a_stem_the_source_shows_still_fuses_beside_sequential_members():
    """torchvision's ResNet: conv1 -> bn1 (norm_layer's default) -> relu -> maxpool -> layer1...; the
    Sequential layers make a run-time-typed run, maxpool ends it, and the stem before it fuses by name."""
    fixed = _fixed(TV_STEM)
    assert 'fuse(self, [["conv1", "bn1", "relu"]], inplace=True)' in fixed
    original, model, _prepared_mod = _prepared(TV_STEM, "tv_stem")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        reference = original(x)
        model.fuse_model()
        assert torch.allclose(model(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item())
    assert type(model.conv1) is nni.ConvReLU2d and type(model.layer1[0]) is nni.ConvReLU2d
