"""`fix` on real vision model code: torchvision and timm, executed before and after.

The model families where module-level static quantization is mostly used, each
with a tiny config and a tiny input (32x32 or 64x64 images, 10 classes): residual
nets, densely connected nets, mixed and grouped convolutions, inverted residuals,
squeeze-excitation, attention, channel shuffle, inception branches.

Every file that defines one of the model's module classes is rewritten (timm's
blocks live in ``timm/layers`` and ``timm/models/_efficientnet_blocks.py``, not in
the model's own file) and loaded beside the installed one, see
`tests.support.realcode`. For both targets, with safe fixes and with safe plus
unsafe ones: the ORIGINAL state_dict loads strictly, eval outputs agree, fix is
idempotent, the tracer sees no op that a fix of that level would move still
running outside a module, sites outside modules do not grow, and no module is
newly called more than once per pass. The per-model reduction is printed at the
end of the run.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
import torch

from pylint_distiller.catalogue import TARGETS
from tests.support.realcode import Case, Outcome, check_fixed_model

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")
tvm = torchvision.models

_TMP = tempfile.mkdtemp(prefix="pylint-distiller-vision-")
RESULTS: dict[tuple[str, str, str], Outcome] = {}
TV, TIMM = ("torchvision.",), ("timm.",)


def _pixels(size: int = 32, batch: int = 2):
    return lambda: (torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0)),)


def _timm(name: str, **kwargs) -> Case:
    return Case(lambda: timm.create_model(name, num_classes=10, **kwargs), _pixels(), TIMM)


#: name -> (case, reason of a strict xfail: for every run, or per (target, level), or None)
CASES: dict[str, tuple[Case, str | dict | None]] = {
    # residual, grouped
    "tv_resnet18": (Case(lambda: tvm.resnet18(num_classes=10), _pixels(), TV), None),
    "tv_resnext": (Case(lambda: tvm.resnet.ResNet(tvm.resnet.Bottleneck, [1, 1, 1, 1], num_classes=10, groups=4,
                                                  width_per_group=4), _pixels(), TV), None),
    "tv_regnet_x_400mf": (Case(lambda: tvm.regnet_x_400mf(num_classes=10), _pixels(), TV), None),
    "tv_quantizable_resnet": (Case(lambda: tvm.quantization.resnet.QuantizableResNet(
        tvm.quantization.resnet.QuantizableBasicBlock, [1, 1, 1, 1], num_classes=10), _pixels(), TV), None),
    "tv_convnext": (Case(lambda: tvm.convnext.ConvNeXt([tvm.convnext.CNBlockConfig(16, 32, 1),
                                                        tvm.convnext.CNBlockConfig(32, None, 1)], num_classes=10),
                         _pixels(), TV), None),
    # densely connected
    "tv_densenet": (Case(lambda: tvm.densenet.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16,
                                                       num_classes=10), _pixels(), TV), None),
    # inverted residuals, squeeze-excitation
    "tv_mobilenet_v2": (Case(lambda: tvm.mobilenet_v2(num_classes=10, width_mult=0.25), _pixels(), TV), None),
    "tv_mobilenet_v3_small": (Case(lambda: tvm.mobilenet_v3_small(num_classes=10), _pixels(), TV), None),
    "tv_efficientnet_b0": (Case(lambda: tvm.efficientnet_b0(num_classes=10), _pixels(), TV), None),
    # channel shuffle, inception branches
    "tv_shufflenet_v2": (Case(lambda: tvm.shufflenet_v2_x0_5(num_classes=10), _pixels(), TV), None),
    "tv_googlenet": (Case(lambda: tvm.googlenet(num_classes=10, aux_logits=False, init_weights=True),
                          _pixels(64), TV), None),
    "tv_inception_v3": (Case(lambda: tvm.inception_v3(num_classes=10, aux_logits=False, init_weights=True),
                             _pixels(75, batch=1), TV), None),
    # attention
    "tv_vit": (Case(lambda: tvm.vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10),
        _pixels(), TV), None),
    "tv_swin": (Case(lambda: tvm.swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=[4, 4], num_classes=10),
        _pixels(), TV), None),
    # timm: mixed convolutions, SE, inverted residuals, attention
    "timm_mixnet_s": (_timm("mixnet_s"), None),
    "timm_vovnet": (_timm("ese_vovnet19b_slim_dw"), None),  # a Sequential subclass iterating itself
    "timm_seresnet18": (_timm("seresnet18"), None),
    "timm_efficientnet_b0": (_timm("efficientnet_b0"), None),
    "timm_mobilenetv3": (_timm("mobilenetv3_small_050"), None),
    "timm_regnetx": (_timm("regnetx_002"), None),
    "timm_vit": (_timm("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2), None),
    # an __init__ that runs a method forward also calls (the attention mask)
    "timm_swinv2": (_timm("swinv2_tiny_window8_256", img_size=32, window_size=4, depths=(1, 1), num_heads=(1, 2),
                          embed_dim=16), None),
    # ops in helpers called several times per pass, in loops over feature levels
    "timm_coat": (_timm("coat_tiny", img_size=32), None),
    "tv_fasterrcnn_mobilenet": (Case(lambda: tvm.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=10, min_size=64, max_size=64),
        lambda: ([torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))],), TV), None),
    "timm_convit": (_timm("convit_tiny", img_size=32, patch_size=8, depth=2, local_up_to_layer=1), None),
}

LEVELS = {"safe": False, "unsafe": True}


@pytest.fixture(scope="module", autouse=True)
def _report_and_cleanup(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: intra-op threads only contend (x100 slower on a loaded machine)
    yield
    torch.set_num_threads(threads)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and RESULTS:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line("fix on real vision code: compute-op sites executed outside modules")
            reporter.write_line(f"  {'model':22s} {'target':12s} {'level':6s} {'before':>6s} {'after':>6s} "
                                f"{'applied':>7s} {'files':>5s}")
            for (name, target, level), row in sorted(RESULTS.items()):
                reporter.write_line(f"  {name:22s} {target:12s} {level:6s} {row.before:6d} {row.after:6d} "
                                    f"{row.applied:7d} {len(row.files):5d}{'' if row.ok else '  FAILED'}")
    shutil.rmtree(_TMP, ignore_errors=True)


def _params() -> list:
    out = []
    for name, (_, xfail) in CASES.items():
        for target in TARGETS:
            for level in LEVELS:
                reason = xfail.get((target, level)) if isinstance(xfail, dict) else xfail
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                out.append(pytest.param(name, target, level, id=f"{name}-{target}-{level}", marks=marks))
    return out


@pytest.mark.parametrize("name,target,level", _params())
def test_vision_model_fixed_and_executed(name, target, level):
    outcome = check_fixed_model(CASES[name][0], target, LEVELS[level], _TMP)
    RESULTS[name, target, level] = outcome
    assert outcome.ok, "\n".join(outcome.failures)


def test_vision_fixes_reduce_ops_outside_modules():
    """The distiller target moves real ops into modules in (nearly) every model that has any."""
    rows = {n: r for (n, t, level), r in RESULTS.items() if t == "distiller" and level == "safe" and r.ok}
    if len(rows) < len([c for c in CASES.values() if not isinstance(c[1], str)]):
        pytest.skip("run together with the per-model tests")
    with_sites = {n: r for n, r in rows.items() if r.before}
    improved = [n for n, r in with_sites.items() if r.after < r.before]
    assert len(improved) >= len(with_sites) - 1, {n: (r.before, r.after) for n, r in with_sites.items()}
