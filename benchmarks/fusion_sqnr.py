"""Eager PTQ quality of torchvision models prepared by `fix --target torch-eager`, with and without
`fuse_model()`, against torchvision's hand-made quantizable twin after its own `fuse_model()`.

For each model the installed torchvision source file (`resnet.py`, `mobilenetv2.py`) is rewritten
by this checkout's `fix --target torch-eager` (safe fixes) and executed as a sibling module of the
installed one (`torchvision.models.<file>__fixed`), so its relative imports resolve; nothing is
written into site-packages. Optionally a second checkout's fixer (`--baseline-repo /work/main`) gives
the "before" preparation, run in a subprocess.

One float model per architecture (seeded random weights, BatchNorm affine terms randomised and its
statistics collected in train mode on random data, so that folding BN is not trivial) supplies the
state_dict every variant loads with ``strict=True``. Each variant is wrapped in QuantStub/DeQuantStub
(the twin has its own), quantized with the x86 qconfig, calibrated on seeded random batches and run on
a held-out batch. SQNR = 10*log10(sum(f^2) / sum((f - q)^2)) of its output against the float output of
the ORIGINAL torchvision model (the user's reference); for the twin, whose mobilenet_v2 replaces ReLU6
by ReLU, also against its own float output.

    .venv/bin/python benchmarks/fusion_sqnr.py [--models resnet18 resnet50 mobilenet_v2 googlenet ...]
                                               [--baseline-repo /work/main] [--size 112]

Measured once (torch 2.14.1, torchvision 0.29.1, 112x112, SQNR in dB; "baseline" is the fixer
before fusion and add_relu existed):

| model | baseline | prepared, no fuse call | prepared + fuse_model() | twin + fuse_model() |
|---|---|---|---|---|
| resnet18 | 18.06 | 18.12 | 21.60 | 21.60 |
| resnet50 | 9.25 | 9.34 | 9.97 | 9.97 |
| mobilenet_v2 | 6.54 | 6.54 (nothing fused) | - | 6.92 (7.57 vs its own ReLU float) |
| googlenet | 6.05 | 6.05 | 8.44 | 8.44 |
| shufflenet_v2_x1_0 | 8.12 | 8.12 | 9.61 | 9.61 |
| inception_v3 | 0.84 | 0.84 | 2.50 | 2.50 |
| mobilenet_v3_large | PTQ fails | PTQ fails | - | 6.68 |

MobileNetV2/V3 build their Sequentials from lists; this script rewrites one file, so their
Conv2dNormActivation blocks (torchvision/ops/misc.py) stay unfused here: `benchmarks/ptq.py` rewrites
both files (mobilenet_v2 11.2 dB vs twin 11.7, mobilenet_v3_large 8.7 vs 8.7).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import torch
import torch.ao.quantization as tq
import torch.nn as nn
import torchvision
import torchvision.models.quantization as tvq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pylint_distiller.fixer.engine import fix_source  # noqa: E402
from pylint_distiller.settings import Settings  # noqa: E402

#: the torchvision models that have a hand-made quantizable twin, and their source files
FILES = {"resnet18": "resnet.py", "resnet50": "resnet.py", "mobilenet_v2": "mobilenetv2.py",
         "mobilenet_v3_large": "mobilenetv3.py", "googlenet": "googlenet.py", "inception_v3": "inception.py",
         "shufflenet_v2_x1_0": "shufflenetv2.py"}
DEFAULT_MODELS = ("resnet18", "resnet50", "mobilenet_v2")
_FIX_SNIPPET = ("import sys; from pylint_distiller.fixer.engine import fix_source; "
                "from pylint_distiller.settings import Settings; "
                "sys.stdout.write(fix_source(sys.stdin.read(), 'm.py', Settings(target='torch-eager')).text)")


def sqnr(reference: torch.Tensor, out: torch.Tensor) -> float:
    noise = ((reference - out) ** 2).sum().item()
    return math.inf if noise == 0 else 10 * math.log10((reference ** 2).sum().item() / noise)


def load_sibling(text: str, filename: str, tag: str) -> types.ModuleType:
    """Execute `text` as `torchvision.models.<stem>__<tag>` so `from ._api import ...` resolves."""
    name = f"torchvision.models.{Path(filename).stem}__{tag}"
    module = types.ModuleType(name)
    module.__package__ = "torchvision.models"
    module.__file__ = f"<{name}>"
    sys.modules[name] = module
    api = torchvision.models._api
    register = api.register_model
    api.register_model = lambda name=None: (lambda fn: fn)  # the installed file registered these names
    try:
        exec(compile(text, module.__file__, "exec"), module.__dict__)
    finally:
        api.register_model = register
    return module


def baseline_text(text: str, repo: str) -> str:
    env = dict(os.environ, PYTHONPATH=repo)
    return subprocess.run([sys.executable, "-c", _FIX_SNIPPET], input=text, capture_output=True, text=True,
                          env=env, check=True, cwd=repo).stdout


def reference_model(arch: str, size: int) -> nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)()
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) * 0.4 - 0.2)
            m.momentum = None  # cumulative average over the passes below
    model.eval()  # aux classifiers (GoogLeNet, Inception) stay off; only BatchNorm collects statistics
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, size, size, generator=gen))
    return model.eval()


def quantize(model: nn.Module, calibration, stubs: bool) -> nn.Module:
    model = copy.deepcopy(model).eval()
    if hasattr(model, "fuse_model"):
        model.fuse_model()
    wrapped = nn.Sequential(tq.QuantStub(), model, tq.DeQuantStub()) if stubs else model
    wrapped.eval()
    wrapped.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(wrapped, inplace=True)
    with torch.no_grad():
        for batch in calibration:
            wrapped(batch)
    tq.convert(wrapped, inplace=True)
    return wrapped


def measure(arch: str, size: int, baseline_repo: str | None) -> dict:
    source_path = Path(torchvision.models.__file__).parent / FILES[arch]
    text = source_path.read_text(encoding="utf-8")
    variants = {"prepared": fix_source(text, FILES[arch], Settings(target="torch-eager")).text}
    if baseline_repo:
        variants["baseline"] = baseline_text(text, baseline_repo)
    reference = reference_model(arch, size)
    state = reference.state_dict()
    gen = torch.Generator().manual_seed(2)
    calibration = [torch.randn(4, 3, size, size, generator=gen) for _ in range(8)]
    x = torch.randn(4, 3, size, size, generator=gen)
    with torch.no_grad():
        float_out = reference(x)
    row: dict = {"model": arch}
    for tag, fixed in variants.items():
        module = load_sibling(fixed, FILES[arch], tag)
        model = getattr(module, arch)()
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            assert torch.allclose(model(x), float_out, atol=1e-5), f"{tag}: float outputs differ"
        fusable = hasattr(model, "fuse_model")
        runs = {f"{tag}+fuse_model": model} if fusable else {}
        if fusable:  # the same prepared model, fuse_model() not called
            runs[f"{tag} (no fuse call)"] = _NoFuse(copy.deepcopy(model))
        else:
            runs[tag] = model
        for name, variant in runs.items():
            try:
                quantized = quantize(variant, calibration, stubs=True)
                with torch.no_grad():
                    row[name] = round(sqnr(float_out, quantized(x)), 2)
            except Exception as exc:  # a PTQ that fails is a result too
                row[name] = f"fails: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
    twin = getattr(tvq, arch)(quantize=False)
    twin.load_state_dict(state, strict=True)
    twin.eval()
    with torch.no_grad():
        twin_float = twin(x)
    quantized = quantize(twin, calibration, stubs=False)
    with torch.no_grad():
        q = quantized(x)
    row["twin+fuse_model"] = round(sqnr(float_out, q), 2)
    row["twin vs its own float"] = round(sqnr(twin_float, q), 2)
    return row


class _NoFuse(nn.Module):
    """The prepared model as a submodule of a wrapper without fuse_model: quantize() cannot call it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(FILES))
    parser.add_argument("--baseline-repo", help="a checkout whose fixer gives the 'before' preparation")
    parser.add_argument("--size", type=int, default=112, help="input height and width")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [measure(arch, args.size, args.baseline_repo) for arch in args.models]
    for row in rows:
        print(json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
