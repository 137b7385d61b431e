"""One model, measured in its own process for `benchmarks/ptq.py` (never imported by it).

``reference`` builds the float model from the installed code (fixed seed), calibrates its
BatchNorm statistics, saves state_dict, float outputs and the model's source files, then
measures the ``fx`` and ``twin`` variants. ``prepared`` serves the model's modules from a
tree of files rewritten by `fix --target torch-eager` (a meta-path finder maps each module
name to its rewritten file, so the package's relative and absolute imports keep working),
loads the reference state_dict strictly and runs the README recipe. Each variant appends
one JSON line to ``--out`` as soon as it is measured, so a timeout keeps what finished.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.abc
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from tests.support.ptq import random_batches, readme_recipe, sqnr_db  # noqa: E402

TORCH_DIR = os.path.realpath(os.path.dirname(torch.__file__)) + os.sep
OWN_FILES = (os.path.join(ROOT, "benchmarks") + os.sep, os.path.join(ROOT, "tests", "support") + os.sep,
             os.path.join(ROOT, "README.md"))
#: torch leaf modules that eager convert leaves as they are because they run on quantized
#: tensors natively (quantized kernels with the input's or fixed qparams)
PASS_THROUGH = {"ReLU", "ReLU6", "Identity", "Dropout", "Dropout2d", "MaxPool2d", "AdaptiveAvgPool2d", "AvgPool2d",
                "Flatten", "Hardtanh", "Upsample", "ChannelShuffle", "AdaptiveMaxPool2d", "Unflatten", "Sigmoid",
                "Tanh", "Hardsigmoid", "Sequential"}  # (an empty Sequential is a leaf: identity)
#: weights seed and the first seeds of the BN-statistics, calibration and evaluation batches;
#: `--seed N` adds 10000 * N to all of them (another draw of weights and data)
SEED, BN_SEED, CALIBRATION_SEED, EVALUATION_SEED = 0, 3000, 1000, 2000


# ------------------------------------------------------------------ building
def build(spec: dict) -> nn.Module:
    torch.manual_seed(SEED + spec["seed"])
    if spec["source"] == "example":
        return importlib.import_module(f"examples.{spec['entry']}").build()
    if spec["source"] == "torchvision":
        import torchvision

        return getattr(torchvision.models, spec["entry"])(weights=None, **spec["kwargs"])
    import timm

    return timm.create_model(spec["entry"], pretrained=False, **spec["kwargs"])


def batches(spec: dict, count: int, seed: int) -> list[torch.Tensor]:
    if spec["source"] == "example":
        (example,) = importlib.import_module(f"examples.{spec['entry']}").example_inputs()
        if not example.is_floating_point():  # token ids
            return [torch.randint(0, int(example.max()) + 1, example.shape,
                                  generator=torch.Generator().manual_seed(seed + i)) for i in range(count)]
        shape = example.shape
    else:
        shape = (spec["batch"], 3, spec["size"], spec["size"])
    return random_batches(shape, count, seed)


def calibrate_batchnorm(model: nn.Module, data: list[torch.Tensor]) -> None:
    """Random weights with BN's initial statistics (mean 0, var 1) blow activations up or
    down layer by layer; the running statistics of a few train-mode passes (cumulative
    average) make every BN normalise, as trained statistics do."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x in data:
            model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors(v)]
    return []


def flat(value) -> torch.Tensor:
    return torch.cat([t.detach().float().flatten() for t in tensors(value)])


def run_all(model: nn.Module, data: list[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([flat(model(x)) for x in data])


# ------------------------------------------------------------------ measuring
def latency(float_model: nn.Module, quantized: nn.Module, x: torch.Tensor, rounds: int) -> dict:
    """Median CPU time of the quantized model over the float one, same input, alternated
    rounds after two warm-up calls each (one torch thread: CPU time is the work done)."""
    times: dict[str, list[float]] = {"float": [], "quantized": []}
    with torch.no_grad():
        for model in (float_model, quantized, float_model, quantized):
            model(x)
        for _ in range(rounds):
            for key, model in (("float", float_model), ("quantized", quantized)):
                start = time.process_time()
                model(x)
                times[key].append(time.process_time() - start)
    f, q = statistics.median(times["float"]), statistics.median(times["quantized"])
    return {"latency_ratio": q / f if f else None, "float_ms": 1e3 * f, "quantized_ms": 1e3 * q}


def anatomy(model: nn.Module) -> dict:
    """What the converted model computes in int8, and the leaf modules it did not convert
    (neither a quantized module nor one of the PASS_THROUGH ones: float code, or a failure)."""
    out = Counter()
    floats: Counter = Counter()
    for _, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        cls, owner = type(module), type(module).__module__
        if owner.startswith("torch.ao.nn.intrinsic.quantized"):
            out["fused"] += 1
            out["int8"] += 1
        elif owner.startswith("torch.ao.nn.quantized"):
            if cls.__name__ in ("Quantize", "DeQuantize"):
                out[cls.__name__.lower()] += 1
            else:
                out["int8"] += 1
                if cls.__name__.startswith("BatchNorm"):
                    out["unfused_bn"] += 1
        elif cls is not nn.Module and not (owner.startswith("torch.nn") and cls.__name__ in PASS_THROUGH):
            floats[cls.__name__] += 1
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                out["unfused_bn"] += 1
    graph = getattr(model, "graph", None)
    if graph is not None:  # FX: float regions show as dequantize nodes
        out["dequantize"] = sum(1 for n in graph.nodes if n.op in ("call_method", "call_function")
                                and getattr(n.target, "__name__", n.target) == "dequantize")
    return {**out, "unconverted": dict(floats.most_common())}


def where(exc: BaseException, root: nn.Module) -> dict:
    """The innermost module whose forward was running, and the last model-code line."""
    names = {id(m): n for n, m in root.named_modules()}
    module, line = None, None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        owner = frame.f_locals.get("self")
        if frame.f_code.co_name == "forward" and isinstance(owner, nn.Module):
            module = owner
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith(TORCH_DIR) and not path.startswith(OWN_FILES):
            line = f"{_short(path)}:{lineno}"
    out = {"line": line}
    if module is not None:
        out["module"] = f"{names.get(id(module), '?')} ({type(module).__name__})"
    return out


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, ROOT + os.sep):
        if marker in path:
            return path.split(marker, 1)[1]
    return os.path.basename(path)


def failure(step: str, exc: BaseException, root: nn.Module) -> dict:
    first = (str(exc).strip().splitlines() or [""])[0]
    return {"ok": False, "step": step, "error": f"{type(exc).__name__}: {first[:240]}", **where(exc, root)}


def score(record: dict, float_model: nn.Module, quantized: nn.Module, own: torch.Tensor, reference: torch.Tensor,
          data: list[torch.Tensor], rounds: int) -> dict:
    """SQNR against the variant's own float outputs (a twin may compute another float
    function: torchvision's quantizable MobileNetV2 swaps ReLU6 for ReLU), and against the
    original model's."""
    outputs = run_all(quantized, data)
    record.update(ok=True, sqnr_db=round(sqnr_db(own, outputs), 2),
                  sqnr_vs_original_db=round(sqnr_db(reference, outputs), 2), anatomy=anatomy(quantized),
                  **latency(float_model, quantized, data[0], rounds))
    return record


# ------------------------------------------------------------------ variants
def measure(label: str, model: nn.Module, quantize, reference, data, rounds) -> dict:
    """Check the float model against the reference, quantize it, score it; never raises."""
    record: dict = {"variant": label}
    try:
        own = run_all(model, data)
        record["float_max_diff"] = float((own - reference).abs().max())
        float_model = copy.deepcopy(model)
    except Exception as exc:  # pylint: disable=broad-except
        return {**record, **failure("float", exc, model)}
    step = ["quantize"]
    try:
        quantized = quantize(model, step)
    except Exception as exc:  # pylint: disable=broad-except
        return {**record, **failure(step[0], exc, model)}
    try:
        return score(record, float_model, quantized, own, reference, data, rounds)
    except Exception as exc:  # pylint: disable=broad-except
        return {**record, **failure("run", exc, model)}


def recipe(calibration):
    def quantize(model, step):
        step[0] = "README recipe (fuse_model, prepare, calibrate, convert)"
        return readme_recipe()(model, calibration)
    return quantize


def twin_quantize(calibration):
    import torch.ao.quantization as tq

    def quantize(model, step):
        step[0] = "fuse_model"
        model.eval()
        model.fuse_model()
        torch.backends.quantized.engine = "x86"
        model.qconfig = tq.get_default_qconfig("x86")
        step[0] = "prepare"
        tq.prepare(model, inplace=True)
        step[0] = "calibrate"
        with torch.no_grad():
            for x in calibration:
                model(x)
        step[0] = "convert"
        return tq.convert(model, inplace=True)
    return quantize


def fx_quantize(calibration):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    def quantize(model, step):
        torch.backends.quantized.engine = "x86"
        step[0] = "prepare_fx (trace)"
        observed = prepare_fx(model.eval(), get_default_qconfig_mapping("x86"), example_inputs=(calibration[0],))
        step[0] = "calibrate"
        with torch.no_grad():
            for x in calibration:
                observed(x)
        step[0] = "convert_fx"
        return convert_fx(observed)
    return quantize


def batchnorms_after_fuse(model: nn.Module) -> list[str]:
    """BatchNorms still standing after fuse_model(): each one stays its own (slower, noisier) op."""
    probe = copy.deepcopy(model).eval()
    if hasattr(probe, "fuse_model"):
        probe.fuse_model()
    return [f"{n} ({type(m).__name__})" for n, m in probe.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def source_files(model: nn.Module) -> list[dict]:
    """Module name and file of every class the model's modules are made of (torch excluded)."""
    from tests.realcode.measure import model_files

    by_path = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path:
            by_path.setdefault(os.path.realpath(path), name)
    return [{"module": by_path[p], "path": p} for p in model_files(model) if p in by_path]


class _Rewritten(importlib.abc.MetaPathFinder):
    """Serve the listed module names from rewritten files (first on sys.meta_path)."""

    def __init__(self, files: dict[str, tuple[str, str]]) -> None:
        self.files = files  # module name -> (rewritten file, original file)

    def find_spec(self, name, path=None, target=None):
        if name not in self.files:
            return None
        rewritten, original = self.files[name]
        # a package keeps finding its other submodules next to the original
        locations = [os.path.dirname(original)] if original.endswith("__init__.py") else None
        return importlib.util.spec_from_file_location(name, rewritten, submodule_search_locations=locations)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("reference", "prepared"))
    parser.add_argument("--spec", required=True, help="model spec as JSON")
    parser.add_argument("--state", required=True, help="reference state (.pt), written or read")
    parser.add_argument("--out", required=True, help="JSON lines, one per variant")
    parser.add_argument("--tree", help="prepared: folder of rewritten files")
    parser.add_argument("--label", default="prepared")
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--evaluation", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    spec = json.loads(args.spec)

    def emit(record: dict) -> None:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    if args.mode == "prepared":
        state = torch.load(args.state, weights_only=False)
        files = {f["module"]: os.path.join(args.tree, f["relpath"]) for f in state["files"]}
        sys.meta_path.insert(0, _Rewritten({f["module"]: (files[f["module"]], f["path"]) for f in state["files"]}))
    calibration = batches(spec, args.calibration, CALIBRATION_SEED + spec["seed"])
    data = batches(spec, args.evaluation, EVALUATION_SEED + spec["seed"])

    if args.mode == "reference":
        model = build(spec)
        calibrate_batchnorm(model, batches(spec, 4, BN_SEED + spec["seed"]))
        files = source_files(model)
        for f in files:
            parts = f["module"].split(".")
            f["relpath"] = os.path.join(*parts, "__init__.py") if f["path"].endswith("__init__.py") \
                else os.path.join(*parts) + ".py"
        reference = run_all(model, data)
        torch.save({"state_dict": model.state_dict(), "reference": reference, "files": files}, args.state)
        emit({"variant": "float", "ok": True, "files": [f["relpath"] for f in files],
              "batchnorms": sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())})
        emit(measure("fx", copy.deepcopy(model), fx_quantize(calibration), reference, data, args.rounds))
        if spec.get("twin"):
            emit(twin(spec, model.state_dict(), calibration, reference, data, args.rounds))
        return 0

    record = {"variant": args.label}
    try:
        model = build(spec)
        loaded = {name: os.path.realpath(getattr(sys.modules.get(name), "__file__", "") or "") for name in files}
        stale = [name for name, path in loaded.items() if path != os.path.realpath(files[name])]
        if stale:
            raise RuntimeError(f"not served from the rewritten tree: {stale}")
        model.load_state_dict(state["state_dict"], strict=True)
        model.eval()
    except Exception as exc:  # pylint: disable=broad-except
        emit({**record, "ok": False, "step": "build + strict load", "error": f"{type(exc).__name__}: {exc}"[:300]})
        return 0
    record_extra = {"fuse_model": hasattr(model, "fuse_model"), "unfused_after_fuse_model": batchnorms_after_fuse(model)}
    emit({**measure(args.label, model, recipe(calibration), state["reference"], data, args.rounds), **record_extra})
    return 0


def twin(spec, state_dict, calibration, reference, data, rounds) -> dict:
    import torchvision.models.quantization as tvq

    try:
        torch.manual_seed(SEED + spec["seed"])
        model = getattr(tvq, spec["twin"])(weights=None, quantize=False, **spec["kwargs"])
        model.load_state_dict(state_dict, strict=True)
        model.eval()
    except Exception as exc:  # pylint: disable=broad-except
        return {"variant": "twin", "ok": False, "step": "build + strict load", "error": f"{type(exc).__name__}: {exc}"[:300]}
    extra = {"unfused_after_fuse_model": batchnorms_after_fuse(model)}
    return {**measure("twin", model, twin_quantize(calibration), reference, data, rounds), **extra}


if __name__ == "__main__":
    sys.exit(main())
