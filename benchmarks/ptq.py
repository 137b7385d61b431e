"""Eager post-training quantization of prepared code, against torchvision's hand-made twins and FX.

For the bundled examples and real vision models (torchvision, timm), in one run, per model
and per variant: does PTQ run (else the exception, the step and the module where it
failed), the SQNR of the int8 output against the float output on held-out inputs, and the
quantized latency over the float latency (median CPU times, same process, same input,
after warm-up, one torch thread). Variants:

* ``prepared`` / ``prepared+unsafe``: the model's source files (every file that defines
  one of its module classes) copied out of site-packages, rewritten by the real CLI
  (`pylint-distiller fix --target torch-eager [--unsafe-fixes]`), imported in place of the
  installed ones, then the README recipe (`fuse_model()` when the fix added one);
* ``twin``: `torchvision.models.quantization.<name>(weights=None, quantize=False)`, its own
  `fuse_model()`, eager PTQ;
* ``fx``: `prepare_fx`/`convert_fx` (x86 qconfig mapping) of the unprepared model.

All variants of a model share the weights (the float model is built once with a fixed
seed; the others load its state_dict strictly), the calibration batches and the
evaluation batches. See benchmarks/README.md ("PTQ quality") for the data scheme.

    .venv/bin/python benchmarks/ptq.py [--models NAME ...] [--quick] [--json OUT] [--markdown OUT] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.ptq_report import render  # noqa: E402
from pylint_distiller.cli import main as cli_main  # noqa: E402


def _tv(name, twin=None, size=224, **kwargs):
    return {"name": f"tv_{name}", "source": "torchvision", "entry": name, "twin": twin, "size": size, "batch": 2,
            "kwargs": kwargs}


def _timm(name, size=224, **kwargs):
    return {"name": f"timm_{name}", "source": "timm", "entry": name, "twin": None, "size": size, "batch": 2,
            "kwargs": kwargs}


def _example(name):
    return {"name": f"ex_{name}", "source": "example", "entry": name, "twin": None, "kwargs": {}}


_NO_AUX = dict(aux_logits=False, init_weights=True, transform_input=False)
MODELS = [
    *(_example(n) for n in ("basic_module", "bottleneck", "squeeze_excitation", "attention", "shape_arithmetic",
                            "lstm_model")),
    _tv("resnet18", "resnet18"),
    _tv("resnet50", "resnet50"),
    _tv("mobilenet_v2", "mobilenet_v2"),
    _tv("mobilenet_v3_large", "mobilenet_v3_large"),
    _tv("googlenet", "googlenet", **_NO_AUX),
    _tv("inception_v3", "inception_v3", size=299, **_NO_AUX),
    _tv("shufflenet_v2_x1_0", "shufflenet_v2_x1_0"),
    _tv("densenet121"),
    _tv("regnet_y_400mf"),
    _tv("efficientnet_b0"),
    _timm("efficientnet_b0"),
    _timm("mobilenetv3_large_100"),
    _timm("seresnet50"),
    _timm("convnext_atto"),
    _timm("vit_tiny_patch16_224"),
    _timm("tf_efficientnet_b0"),  # TF "same" padding from the input size: FX cannot trace it
    _timm("mobilevit_xxs", size=256),  # also untraceable by FX
]
VARIANTS = ("prepared", "prepared+unsafe", "twin", "fx")


def fix_tree(tree: str, unsafe: bool) -> dict:
    """Run the real CLI on the copied files; keep its summary and what it left."""
    out = io.StringIO()
    argv = ["fix", "--target", "torch-eager", *(["--unsafe-fixes"] if unsafe else []), tree]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(argv)
    text = out.getvalue().replace(tree + os.sep, "")
    fixed = re.search(r"Fixed (\d+) finding", text)
    left = [line for line in text.splitlines() if re.match(r"\S+\.py:\d+:\d+: W57", line)]
    return {"exit": code, "fixed": int(fixed.group(1)) if fixed else 0, "left": left}


def _texts(tree: str, files: list[dict]) -> list[str]:
    out = []
    for f in files:
        with open(os.path.join(tree, f["relpath"]), encoding="utf-8", newline="") as stream:
            out.append(stream.read())
    return out


def _worker(mode: str, spec: dict, work: str, args, timeout: float, **extra) -> tuple[list[dict], str]:
    """Run one worker process; its records, and what went wrong with the process ('' if nothing)."""
    out = os.path.join(work, f"{mode}-{extra.get('label', 'ref')}.jsonl")
    cmd = [sys.executable, os.path.join(HERE, "ptq_worker.py"), mode, "--spec", json.dumps(spec),
           "--state", os.path.join(work, "state.pt"), "--out", out, "--calibration", str(args.calibration),
           "--evaluation", str(args.evaluation), "--rounds", str(args.rounds)]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    problem = ""
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True, check=False)
        if proc.returncode:
            problem = f"worker exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:240]}"
    except subprocess.TimeoutExpired:
        problem = f"timeout after {timeout:.0f} s"
    records = []
    if os.path.exists(out):
        with open(out, encoding="utf-8") as stream:
            records = [json.loads(line) for line in stream if line.strip()]
    return records, problem


def measure_model(spec: dict, args) -> dict:
    work = tempfile.mkdtemp(prefix=f"ptq-{spec['name']}-")
    results: dict = {}
    try:
        records, problem = _worker("reference", spec, work, args, args.timeout)
        for record in records:
            results[record["variant"]] = record
        wanted = ["float", "fx"] + (["twin"] if spec["twin"] else [])
        for variant in wanted:
            results.setdefault(variant, {"variant": variant, "ok": False, "step": "worker", "error": problem})
        if not results["float"].get("ok"):
            for variant in ("prepared", "prepared+unsafe"):
                results[variant] = {"variant": variant, "ok": False, "step": "float model", "error": problem}
            return results
        import torch  # the parent only reads the file list the reference worker saved

        files = torch.load(os.path.join(work, "state.pt"), weights_only=False)["files"]
        trees, logs = {}, {}
        for label, unsafe in (("prepared", False), ("prepared+unsafe", True)):
            tree = trees[label] = os.path.join(work, label.replace("+", "_"))
            for f in files:
                os.makedirs(os.path.dirname(os.path.join(tree, f["relpath"])), exist_ok=True)
                shutil.copyfile(f["path"], os.path.join(tree, f["relpath"]))
            logs[label] = fix_tree(tree, unsafe)
        same = _texts(trees["prepared"], files) == _texts(trees["prepared+unsafe"], files)
        for label in ("prepared", "prepared+unsafe"):
            if label == "prepared+unsafe" and same:
                results[label] = {**results["prepared"], "variant": label, "fix": logs[label],
                                  "note": "unsafe fixes change nothing here: same source as prepared"}
                continue
            records, problem = _worker("prepared", spec, work, args, args.timeout, tree=trees[label], label=label)
            record = records[0] if records else {"variant": label, "ok": False, "step": "worker", "error": problem}
            results[label] = {**record, "fix": logs[label]}
        return results
    finally:
        if args.keep:  # the rewritten trees, to read the lines the diagnosis names
            for label in ("prepared", "prepared_unsafe"):
                if os.path.isdir(os.path.join(work, label)):
                    shutil.copytree(os.path.join(work, label), os.path.join(args.keep, spec["name"], label),
                                    dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", help="model names (default: all): "
                        + " ".join(m["name"] for m in MODELS))
    parser.add_argument("--quick", action="store_true", help="examples and two twins, fewer batches")
    parser.add_argument("--calibration", type=int, default=8, help="calibration batches (default 8)")
    parser.add_argument("--evaluation", type=int, default=4, help="held-out evaluation batches (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per latency median (default 5)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per worker process (default 240)")
    parser.add_argument("--seed", type=int, default=0, help="another draw of weights and data: every seed "
                        "+ 10000 * SEED (default 0)")
    parser.add_argument("--keep", metavar="DIR", help="keep the rewritten source trees in DIR/<model>/")
    parser.add_argument("--json", help="write every record to this file")
    parser.add_argument("--markdown", help="write the report to this file (it is printed too)")
    args = parser.parse_args(argv)
    specs = MODELS
    if args.quick:
        specs = [m for m in MODELS if m["source"] == "example" or m["name"] in ("tv_resnet18", "tv_mobilenet_v2")]
        args.calibration, args.evaluation, args.rounds = 4, 2, 3
    if args.models:
        unknown = set(args.models) - {m["name"] for m in MODELS}
        if unknown:
            parser.error(f"unknown models: {' '.join(sorted(unknown))}")
        specs = [m for m in MODELS if m["name"] in args.models]
    specs = [{**spec, "seed": 10000 * args.seed} for spec in specs]
    start = time.time()
    results = {}
    for spec in specs:
        t0 = time.time()
        results[spec["name"]] = measure_model(spec, args)
        print(f"[ptq] {spec['name']}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    import torch

    meta = {"command": " ".join(["benchmarks/ptq.py", *(argv if argv is not None else sys.argv[1:])]),
            "torch": torch.__version__, "python": platform.python_version(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "elapsed_s": round(time.time() - start),
            "seed": args.seed, "calibration_batches": args.calibration, "evaluation_batches": args.evaluation, "rounds": args.rounds,
            "load_average": os.getloadavg()}
    report = render(specs, results, meta)
    print(report)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"meta": meta, "models": {s["name"]: {"spec": s, "variants": results[s["name"]]} for s in specs}},
                      out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
