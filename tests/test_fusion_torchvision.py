"""`fuse_model()` on real torchvision code: mobilenet_v2/v3, efficientnet, regnet, executed.

Their blocks are Sequentials built from lists (`Conv2dNormActivation` in torchvision/ops/misc.py,
`nn.Sequential(*layers)` in InvertedResidual/MBConv) whose children depend on arguments (ReLU6,
Hardswish, SiLU activations). Every file defining one of the model's classes is rewritten by
`fix --target torch-eager` (safe fixes) and loaded beside the installed one
(`tests.support.realcode`). The original state_dict loads strictly, eval outputs are equal; one
`fuse_model()` on the root leaves no BatchNorm, keeps the outputs (rel 1e-4), a second call
changes nothing, and eager PTQ runs on the fused model.
"""

from __future__ import annotations

import tempfile

import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.nn as nn

from tests.support.realcode import fixed, model_files, source_of, substituted
from tests.support.ptq import eager_ptq
from tests.test_fusion_runtime import _close, _randomize_batchnorm

torchvision = pytest.importorskip("torchvision")
tvm = torchvision.models
TV = ("torchvision.",)
_TMP = tempfile.mkdtemp(prefix="pylint-distiller-fusion-tv-")

MODELS = {
    # name: (builder, intrinsic types expected besides conv+bn folded into a plain conv (ReLU6, SiLU...))
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(num_classes=10), set()),
    "mobilenet_v3_large": (lambda: tvm.mobilenet_v3_large(num_classes=10), {nni.ConvReLU2d}),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(num_classes=10), set()),
    "regnet_y_400mf": (lambda: tvm.regnet_y_400mf(num_classes=10), {nni.ConvReLU2d}),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_fuse_model_call_fuses_every_conv_bn(name):
    build, fused_types = MODELS[name]
    torch.manual_seed(0)
    original = build().eval()
    _randomize_batchnorm(original)
    texts = {}
    # torchvision.ops first: regnet's SimpleStemIN subclasses Conv2dNormActivation
    for module_name in sorted(model_files(original, TV), key=lambda n: not n.startswith("torchvision.ops.")):
        path, text = source_of(module_name)
        texts[module_name] = fixed(text, path, "torch-eager", False).text
    assert any("def fuse_model(" in t for t in texts.values())
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = original(x)
    with substituted(texts, _TMP, TV):
        torch.manual_seed(0)
        model = build().eval()
        assert type(model).__module__ != type(original).__module__  # the rewritten file is used
        model.load_state_dict(original.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(model(x), reference)
            model.fuse_model()
            assert _close(reference, model(x))
        assert not [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        kinds = {type(m) for m in model.modules()}
        assert fused_types <= kinds, kinds
        structure = [(n, type(m)) for n, m in model.named_modules()]
        model.fuse_model()  # fused already: a no-op
        assert [(n, type(m)) for n, m in model.named_modules()] == structure
        if name == "mobilenet_v2":
            quantized = eager_ptq(model, [torch.randn_like(x) for _ in range(2)] + [x])
            with torch.no_grad():
                out = quantized(x)
            assert out.shape == reference.shape and torch.isfinite(out).all()
