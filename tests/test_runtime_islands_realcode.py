"""Eager PTQ end to end on real EfficientNet code, prepared by `fix --target torch-eager`.

torchvision's efficientnet builds its SiLUs inside `Conv2dNormActivation` (an nn.Sequential
subclass, `activation_layer(inplace=True)`) and passes `SqueezeExcitation` its activation
through `functools.partial`; timm's builds every norm as `BatchNormAct2d` (a BatchNorm2d
subclass with its own forward and a factory-built SiLU). No static island reaches those:
before this, eager PTQ stopped on `aten::silu` for both. The generated `fuse_model()` puts them
into float islands by their run-time type. Every file defining one of the model's classes is
rewritten and loaded beside the installed package (`tests.support.realcode`); the prepared
model loads the original state_dict strictly, gives the same float outputs before and after
`fuse_model()`, and the README recipe quantizes it with an SQNR above a sane floor (random
weights, BN statistics from random data; both measure 28-31 dB at 64x64, a broken calibration about 0).
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
import torch

from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.realcode import Case, fixed, model_files, source_of, substituted

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

MIN_SQNR_DB = 15.0
SHAPE = (2, 3, 64, 64)

CASES = {
    "tv_efficientnet_b0": Case(lambda: torchvision.models.efficientnet_b0(num_classes=10), lambda: (),
                               ("torchvision.",)),
    "timm_efficientnet_b0": Case(lambda: timm.create_model("efficientnet_b0", num_classes=10), lambda: (),
                                 ("timm.",)),
}


@pytest.fixture(scope="module")
def folder():
    path = tempfile.mkdtemp(prefix="pylint-distiller-rt-islands-")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield path
    torch.set_num_threads(threads)
    shutil.rmtree(path, ignore_errors=True)


def _collect_bn_statistics(model: torch.nn.Module) -> None:
    """Running statistics from random data (as benchmarks/ptq.py): default ones make a deep net's output tiny."""
    model.train()
    with torch.no_grad():
        for batch in random_batches(SHAPE, 2, seed=100):
            model(batch)
    model.eval()


@pytest.mark.parametrize("name", sorted(CASES))
def test_efficientnet_goes_through_eager_ptq_after_fix(name, folder):
    case = CASES[name]
    torch.manual_seed(0)
    reference_model = case.build()
    _collect_bn_statistics(reference_model)
    # layer files (ops/, layers/) first: a model file binds their classes as default arguments at import
    files = sorted(model_files(reference_model, case.roots), key=lambda module_name: ".models." in module_name)
    texts = {}
    for module_name in files:
        path, text = source_of(module_name)
        texts[module_name] = fixed(text, path, "torch-eager", False).text
    assert any("class FloatIsland(" in t for t in texts.values())
    x = random_batches(SHAPE, 1, seed=7)[0]
    with torch.no_grad():
        reference = reference_model(x)
    with substituted(texts, folder, case.roots):
        torch.manual_seed(0)
        model = case.build().eval()
        model.load_state_dict(reference_model.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.allclose(model(x), reference, atol=1e-5)
            model.fuse_model()
            islands = sum(type(m).__name__ == "FloatIsland" for m in model.modules())
            assert torch.allclose(model(x), reference, atol=1e-4)
        quantized = readme_recipe()(model, random_batches(SHAPE, 4, seed=10))
        with torch.no_grad():
            out = quantized(x)
    quality = sqnr_db(reference, out)
    print(f"{name}: {islands} run-time islands, SQNR {quality:.1f} dB")
    assert islands >= 16  # one per SiLU-bearing block at least
    assert quality > MIN_SQNR_DB
