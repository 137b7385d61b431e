"""Does `fuse_model()` keep the float outputs of every prepared model of the PTQ sweep?

The fusion contract (README, "fuse_model"): after `fix --target torch-eager`, calling the
generated `fuse_model()` on the model in eval mode changes its outputs only within float
tolerance. `ptq_sweep.py` measures the quantized result, where a wrong fusion shows only as a
lower SQNR; this measures the contract itself, on the same models, builds and inputs:

    nice -n 10 .venv/bin/python benchmarks/fuse_check.py [--match REGEX] [--json out.json]

Per model: the original's outputs, the prepared model's (strict load), and the prepared
model's after `fuse_model()`; the largest difference relative to the largest output value.
A benchmark, not a test: it takes minutes and needs timm, torchvision and transformers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import signal
import sys
import tempfile
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import ptq_sweep, vision_sweep  # noqa: E402  pylint: disable=wrong-import-position

#: relative difference above which fusion counts as changing the outputs (conv+bn folding
#: reorders float arithmetic: ~1e-6 relative per fused layer)
TOLERANCE = 1e-3


def check(spec: dict, folder: str) -> dict:
    import torch  # pylint: disable=import-outside-toplevel

    from benchmarks import ptq_worker as pw  # pylint: disable=import-outside-toplevel
    from tests.support.ptq import random_batches  # pylint: disable=import-outside-toplevel
    from tests.support.realcode import fixed, model_files, source_of, substituted  # pylint: disable=C0415

    if spec["kind"] == "timm":
        vision_sweep._timm_kwargs(spec)  # pylint: disable=protected-access
    sizes = [spec["size"]] if spec.get("size") else list(dict.fromkeys(
        vision_sweep._sizes(spec) + [128, 224]))  # pylint: disable=protected-access
    detection = spec["kind"] == "detection"
    error = None
    for size in sizes:  # the first input size at which the original builds and runs (as the sweep does)
        case = ptq_sweep._case(spec, size)  # pylint: disable=protected-access
        params = vision_sweep._params_on_meta(case)  # pylint: disable=protected-access
        if params is not None and params > 60e6:
            return {"skipped": "too large"}
        shape = (2, 3, size, size)
        try:
            torch.manual_seed(0)
            files = model_files(case.build(), case.roots)
            sources = {name: source_of(name) for name in files}
            texts = {name: text for name, (_, text) in sources.items()}
            with substituted(texts, folder, case.roots):
                torch.manual_seed(0)
                model = case.build().eval()
                model = model.backbone if detection else model
                pw.calibrate_batchnorm(model, random_batches(shape, 4, 3000))
                data = random_batches(shape, 2, 2000)
                reference = pw.run_all(model, data)
        except Exception as exc:  # pylint: disable=broad-except
            error = f"{size}px: {type(exc).__name__}: {exc}"[:200]
            continue
        break
    else:
        return {"error_before": error}
    state = copy.deepcopy(model.state_dict())
    prepared = {name: fixed(text, path, "torch-eager", True).text for name, (path, text) in sources.items()}
    with substituted(prepared, folder, case.roots):
        torch.manual_seed(0)
        model = case.build().eval()
        model = model.backbone if detection else model
        strict = True
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError:
            model.load_state_dict(state, strict=False)
            strict = False
        own = pw.run_all(model, data)
        if not callable(getattr(model, "fuse_model", None)):
            return {"strict": strict, "fuse_model": False}
        model.fuse_model()
        fused = pw.run_all(model, data)
    scale = float(reference.abs().max()) or 1.0
    return {"strict": strict, "fuse_model": True,
            "prepared_rel": float((own - reference).abs().max()) / scale,
            "fused_rel": float((fused - own).abs().max()) / scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--match", help="regex on model names")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per model")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    import torch  # pylint: disable=import-outside-toplevel

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    def alarm(*_):
        raise TimeoutError(f"timed out after {args.timeout}s")

    signal.signal(signal.SIGALRM, alarm)
    folder = tempfile.mkdtemp(prefix="fuse-check-")
    rows = []
    for spec in ptq_sweep.model_specs():
        if args.match and not re.search(args.match, spec["name"]):
            continue
        signal.alarm(args.timeout)
        try:
            row = dict(spec, **check(dict(spec), folder))
        except Exception as exc:  # pylint: disable=broad-except
            row = dict(spec, error=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            signal.alarm(0)
        rows.append(row)
        print(json.dumps({k: row.get(k) for k in ("package", "name", "strict", "fuse_model", "prepared_rel",
                                                   "fused_rel", "error", "error_before", "skipped")}), flush=True)
    checked = [r for r in rows if r.get("fuse_model")]
    changed = [r["name"] for r in checked if r["fused_rel"] > TOLERANCE]
    print(f"fuse_model() on {len(checked)} prepared models; outputs changed (> {TOLERANCE} relative): "
          f"{len(changed)} {changed}; largest relative change {max((r['fused_rel'] for r in checked), default=0):.2e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
