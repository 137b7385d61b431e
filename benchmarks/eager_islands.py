"""Real vision models through eager PTQ after `fix --target torch-eager --unsafe-fixes` (a benchmark, not a test).

For each model, the files of its installed package that define it (the model file and the
same-package layer files it builds from) are read from site-packages, fixed with whichever
`pylint_distiller` is importable, imported as siblings of the installed modules (relative
imports resolve) and rebound to each other, so the model is built only from rewritten code.
Then: same float output as the installed model from the same seed and a strict state_dict
load, then `fuse_model()` where the fix added one (fusion and run-time float islands, as the
README recipe; the float output must stay the same), and eager post-training static
quantization (QuantStub/DeQuantStub around the model, x86 qconfig, prepare, calibrate on 4
batches, convert, run): does it run, and the SQNR of the quantized output against the float one.

Run it once with the code before a change and once after, e.g.:

    PYTHONPATH=/work/main .venv/bin/python benchmarks/eager_islands.py   # before
    PYTHONPATH=$PWD .venv/bin/python benchmarks/eager_islands.py         # after

It prints one line per model and a JSON summary (``--json FILE`` writes it).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import inspect
import itertools
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

os.environ.setdefault("TIMM_FUSED_ATTN", "0")  # timm's explicit attention path, as in its model files

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from pylint_distiller.fixer.engine import fix_source  # noqa: E402
from pylint_distiller.settings import Settings  # noqa: E402
from tests.support.ptq import eager_ptq  # noqa: E402

_TMP = tempfile.mkdtemp(prefix="eager-islands-")
_counter = itertools.count(1)


@dataclass
class Case:
    name: str
    modules: tuple[str, ...]  # installed modules to rewrite, helpers first, the model's module last
    build: Callable[[Any], nn.Module]  # gets the rewritten model module
    shape: tuple[int, ...] = (2, 3, 64, 64)


def _tv_vit(m):
    return m.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)


def _timm_vit(m):
    return m.VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, init_values=1e-1,
                               num_classes=10)


CASES = [
    Case("tv.mobilenet_v3_small", ("torchvision.ops.misc", "torchvision.models.mobilenetv3"),
         lambda m: m.mobilenet_v3_small()),
    Case("tv.efficientnet_b0", ("torchvision.ops.misc", "torchvision.ops.stochastic_depth",
                                "torchvision.models.efficientnet"), lambda m: m.efficientnet_b0()),
    Case("tv.convnext_tiny", ("torchvision.ops.misc", "torchvision.ops.stochastic_depth",
                              "torchvision.models.convnext"), lambda m: m.convnext_tiny()),
    Case("tv.vit (small config)", ("torchvision.ops.misc", "torchvision.models.vision_transformer"), _tv_vit,
         (2, 3, 32, 32)),
    Case("tv.resnet18", ("torchvision.models.resnet",), lambda m: m.resnet18()),
    Case("timm.vit (small config, layer scale)", ("timm.layers.norm", "timm.layers.mlp", "timm.layers.patch_embed",
                                                  "timm.layers.layer_scale", "timm.layers.attention",
                                                  "timm.models.vision_transformer"), _timm_vit, (2, 3, 32, 32)),
    Case("timm.resnet18 (BatchNormAct2d-free)", ("timm.models.resnet",), lambda m: m.resnet18()),
    Case("timm.efficientnet_b0 (BatchNormAct2d)", ("timm.layers.norm_act", "timm.layers.create_norm_act", "timm.models._efficientnet_blocks",
                                                   "timm.models._efficientnet_builder", "timm.models.efficientnet"),
         lambda m: m.efficientnet_b0()),
]


def _fixed_module(name: str) -> tuple[Any, Any]:
    original = importlib.import_module(name)
    with open(original.__file__, encoding="utf-8", newline="") as stream:
        text = stream.read()
    fixed = fix_source(text, original.__file__, Settings(target="torch-eager"), unsafe=True).text
    package, _, stem = name.rpartition(".")
    n = next(_counter)
    path = os.path.join(_TMP, f"{stem}__islands{n}.py")
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(fixed)
    spec = importlib.util.spec_from_file_location(f"{package}.{stem}__islands{n}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    with _registries_paused():
        spec.loader.exec_module(module)
    return original, module


class _registries_paused:
    """torchvision refuses to register a model name twice: let the rewrite register its copies aside."""

    def __enter__(self):
        self.saved = None
        if "torchvision" in sys.modules:
            from torchvision.models import _api

            self.registry = _api.BUILTIN_MODELS
            self.saved = dict(self.registry)
            self.registry.clear()
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            self.registry.clear()
            self.registry.update(self.saved)
        return False


def _rebind(module, pairs) -> None:
    """Names (and default arguments) `module` took from an original helper now point at its rewrite."""
    swap = {}
    for original, fixed in pairs:
        for key, value in vars(original).items():
            if key in vars(fixed) and (inspect.isclass(value) or inspect.isfunction(value)):
                swap[id(value)] = vars(fixed)[key]
    def swapped(value):
        if isinstance(value, functools.partial) and id(value.func) in swap:
            return functools.partial(swap[id(value.func)], *value.args, **value.keywords)
        if isinstance(value, dict) and any(id(v) in swap for v in value.values()):
            return {k: swap.get(id(v), v) for k, v in value.items()}  # timm's _NORM_ACT_MAP: name -> class
        if isinstance(value, (set, frozenset)) and any(id(v) in swap for v in value):
            return type(value)(swap.get(id(v), v) for v in value)
        return swap.get(id(value), value)

    for key, value in list(vars(module).items()):
        if swapped(value) is not value:
            setattr(module, key, swapped(value))
    for value in list(vars(module).values()):
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for func in vars(value).values():
                if inspect.isfunction(func):
                    if func.__defaults__:
                        func.__defaults__ = tuple(swapped(d) for d in func.__defaults__)
                    if func.__kwdefaults__:
                        func.__kwdefaults__ = {k: swapped(d) for k, d in func.__kwdefaults__.items()}


def load(case: Case):
    pairs = []
    for name in case.modules:
        original, fixed = _fixed_module(name)
        _rebind(fixed, pairs)
        pairs.append((original, fixed))
    return pairs[-1]


def run(case: Case) -> dict:
    out: dict[str, Any] = {"model": case.name}
    start = time.process_time()
    try:
        original_module, fixed_module = load(case)
        torch.manual_seed(0)
        reference_model = case.build(original_module).eval()
        with torch.no_grad():  # zero-initialised heads (torchvision's ViT) would make every output 0
            for param in reference_model.parameters():
                if param.dim() > 1 and not param.any():
                    param.normal_(0, 0.02)
        torch.manual_seed(0)
        model = case.build(fixed_module).eval()
        model.load_state_dict(reference_model.state_dict(), strict=True)
        torch.manual_seed(1)
        x = torch.randn(*case.shape)
        with torch.no_grad():
            reference = model(x)
            out["same_float"] = bool(torch.allclose(reference, reference_model(x), atol=1e-5))
        if hasattr(model, "fuse_model"):  # as the README recipe: fusion, then the run-time float islands
            with torch.no_grad():
                model.fuse_model()
                out["same_after_fuse_model"] = bool(torch.allclose(reference, model(x), atol=1e-4))
        calibration = [torch.randn(*case.shape) for _ in range(4)]
        quantized = eager_ptq(model, calibration)
        with torch.no_grad():
            q = quantized(x)
        out["ptq_runs"] = True
        out["sqnr_db"] = round((20 * torch.log10(reference.norm() / (reference - q).norm())).item(), 1)
    except Exception as exc:  # noqa: BLE001 - the failure is the measurement
        if os.environ.get("EAGER_ISLANDS_TRACE"):
            import traceback

            traceback.print_exc()
        out.setdefault("ptq_runs", False)
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
    out["cpu_s"] = round(time.process_time() - start, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("-k", help="only models whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    results = [run(case) for case in CASES if not args.k or args.k in case.name]
    for r in results:
        status = f"PTQ runs, SQNR {r['sqnr_db']} dB" if r.get("ptq_runs") else f"fails: {r.get('error')}"
        fused = "" if "same_after_fuse_model" not in r else f" after fuse_model(): {r['same_after_fuse_model']!s:5s}"
        print(f"{r['model']:40s} same float: {r.get('same_float')!s:5s}{fused} {status} ({r['cpu_s']} s)")
    print(f"PTQ runs on {sum(bool(r.get('ptq_runs')) for r in results)} of {len(results)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(results, stream, indent=1)


if __name__ == "__main__":
    main()
