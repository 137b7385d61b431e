"""PTQ sweep: eager post-training quantization of `fix --target torch-eager` output on many
real vision models, against FX graph mode on the untouched code (a benchmark, not a test).

A proxy for issue 9's held-out set (classification, detection, segmentation, CLIP vision).
Models come from `benchmarks/vision_sweep.py`'s lists (torchvision constructors, one timm
model per model file) plus a few small transformers vision configs. Per model, all from one
seed and the same weights, a small input (64 px where the model takes it):

* the ORIGINAL files, loaded beside the installed package (`tests.support.realcode.substituted`),
  build the float model; its BatchNorm statistics are warmed on random batches as
  `benchmarks/ptq.py` does; that state_dict and the float outputs are the reference;
* ``fx``: `prepare_fx`/`convert_fx` (x86) of the original model;
* ``baseline``: the README recipe on the ORIGINAL code (stubs around the model only);
* ``prepared``: every file defining one of the model's classes rewritten by `fix --target
  torch-eager` with safe then unsafe fixes, the files named together (project mode, as a user
  runs it; `--per-file`: each file alone), loaded the same way, the reference state_dict
  loaded strictly, float outputs compared, then the README recipe (`fuse_model()` included).

Detection models quantize their ``backbone`` (a tensor in, feature maps out): the detection
heads take image lists and boxes no PTQ recipe stubs. A model returning several tensors
(dicts, ModelOutput) is wrapped so the quantized model returns them flattened into one.

A failing variant records its failure class: exception type, the aten op of the message,
the innermost module class whose forward ran, and the last model-code file:line.

    nice -n 10 .venv/bin/python benchmarks/ptq_sweep.py --shard 0/2 --json a.json
    nice -n 10 .venv/bin/python benchmarks/ptq_sweep.py --merge a.json b.json --markdown benchmarks/ptq_sweep_results.md

Run from the repository root (it imports tests.support and benchmarks).
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TIMM_FUSED_ATTN", "0")  # timm's explicit attention path, as in its model files

from benchmarks import vision_sweep  # noqa: E402

VARIANTS = ("fx", "baseline", "prepared")
#: torchvision groups (builder files) measured, one constructor each (the first in the list):
#: classification families, the quantizable twins, segmentation, detection
TV_PICK = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_v2_s", "regnet_x_400mf",
           "densenet121", "googlenet", "inception_v3", "shufflenet_v2_x0_5", "squeezenet1_0", "mnasnet0_5",
           "convnext_tiny", "vit_b_16", "swin_t", "swin_v2_t", "maxvit_t", "alexnet", "vgg11_bn", "wide_resnet50_2",
           "quantizable_resnet18", "quantizable_mobilenet_v3_large", "quantizable_shufflenet_v2_x0_5",
           "fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large",
           "fasterrcnn_mobilenet_v3_large_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn",
           "ssdlite320_mobilenet_v3_large",
           "keypointrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn")
#: transformers vision models: (modeling module, config class, model class, config kwargs, pixels)
HF_MODELS = [
    ("transformers.models.clip.modeling_clip", "CLIPVisionConfig", "CLIPVisionModel",
     dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=64,
          patch_size=16), 64),
    ("transformers.models.vit.modeling_vit", "ViTConfig", "ViTModel",
     dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=64,
          patch_size=16), 64),
    ("transformers.models.swin.modeling_swin", "SwinConfig", "SwinModel",
     dict(image_size=64, patch_size=4, embed_dim=16, depths=[1, 2], num_heads=[2, 4], window_size=4), 64),
    ("transformers.models.mobilevit.modeling_mobilevit", "MobileViTConfig", "MobileViTModel",
     dict(image_size=64, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32]), 64),
    ("transformers.models.convnext.modeling_convnext", "ConvNextConfig", "ConvNextModel",
     dict(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 2, 1]), 64),
]


def model_specs() -> list[dict[str, Any]]:
    tv = {s["name"]: s for s in vision_sweep.torchvision_models()}
    specs = [tv[name] for name in TV_PICK if name in tv]
    specs += vision_sweep.timm_models()
    specs += [dict(package="transformers", name=cls, group=module, kind="transformers", config=config,
                   config_kwargs=kwargs, size=size) for module, config, cls, kwargs, size in HF_MODELS]
    return specs


# ------------------------------------------------------------------ one model (worker side)
def _case(spec: dict[str, Any], size: int):
    if spec["kind"] != "transformers":
        return vision_sweep._case(spec, size)  # pylint: disable=protected-access
    import importlib  # pylint: disable=import-outside-toplevel

    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel

    from tests.support.realcode import Case  # pylint: disable=import-outside-toplevel

    def build():
        config = getattr(transformers, spec["config"])(**spec["config_kwargs"])
        config._attn_implementation = "eager"  # pylint: disable=protected-access
        return getattr(importlib.import_module(spec["group"]), spec["name"])(config)

    return Case(build, lambda: (torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)),),
                ("transformers.models.", "transformers.activations"))  # the activation classes' file too


class _Flat:  # a factory, so that torch is imported only in the worker
    @staticmethod
    def wrap(model):
        """`model` returning several tensors as one flat tensor (dequantized first): the
        README recipe's single DeQuantStub then sees one float tensor."""
        from torch import nn  # pylint: disable=import-outside-toplevel
        import torch  # pylint: disable=import-outside-toplevel

        from tests.support.realcode import tensors  # pylint: disable=import-outside-toplevel

        class Flat(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner
                if hasattr(inner, "fuse_model"):
                    self.fuse_model = inner.fuse_model

            def forward(self, x):
                return torch.cat([(t.dequantize() if t.is_quantized else t).float().flatten()
                                  for t in tensors(self.inner(x))])

        return Flat(model)


def _op(error: str) -> str:
    match = (re.search(r"'(aten::\w+|quantized::\w+)'", error) or re.search(r"\b(aten::\w+|quantized::\w+)", error)
             or re.search(r"promoteTypes with (\w+ and \w+)", error))
    return match.group(1) if match else ""


def failure_class(record: dict[str, Any]) -> str:
    """exception type: op, in the innermost module class, at the last model-code line."""
    error = record.get("error", "?")
    kind = error.split(":", 1)[0]
    op = _op(error) or re.sub(r"\d+", "N", error.split(":", 1)[-1].strip())[:70]
    module = re.sub(r"^.*\((\w+)\)$", r"\1", record.get("module", "") or "")
    line = re.sub(r"__fix\d+", "", record.get("line") or "")
    return f"{kind}: {op} | {module or '-'} | {line or '-'}"


def project_fixed(sources: dict[str, tuple[str, str]], tree: str) -> dict[str, str]:
    """The model's files as `pylint-distiller fix --target torch-eager --unsafe-fixes FILE...` leaves them.

    What a user preparing the model runs: the files defining its classes, named together, so
    `fix` analyses them as one project (a helper of another file is lifted into a class there,
    a class another file runs twice makes its ops' fixes refuse). They are copied into `tree`
    at their package paths, with the `__init__.py` of every package above them (re-exports,
    which the project follows but `fix` does not edit), and fixed there.
    """
    import contextlib  # pylint: disable=import-outside-toplevel
    import io  # pylint: disable=import-outside-toplevel
    import shutil  # pylint: disable=import-outside-toplevel

    from pylint_distiller import cli  # pylint: disable=import-outside-toplevel

    copies = {}
    for name, (path, _) in sources.items():
        parts = name.split(".")
        package = path.endswith("__init__.py")
        copy_path = os.path.join(tree, *parts, "__init__.py") if package else os.path.join(tree, *parts) + ".py"
        os.makedirs(os.path.dirname(copy_path), exist_ok=True)
        shutil.copyfile(path, copy_path)
        copies[name] = copy_path
        here, there = os.path.dirname(path), os.path.dirname(copy_path)
        if package:
            here, there = os.path.dirname(here), os.path.dirname(there)
        for _ in parts[:-1]:  # the packages above the file
            init = os.path.join(here, "__init__.py")
            if os.path.isfile(init) and not os.path.exists(os.path.join(there, "__init__.py")):
                shutil.copyfile(init, os.path.join(there, "__init__.py"))
            here, there = os.path.dirname(here), os.path.dirname(there)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["fix", "--target", "torch-eager", "--unsafe-fixes", *copies.values()])
    out = {}
    for name, copy_path in copies.items():
        with open(copy_path, encoding="utf-8", newline="") as stream:
            out[name] = stream.read()
    return out


def measure(spec: dict[str, Any], folder: str, max_params: int, args) -> dict[str, Any]:
    import torch  # pylint: disable=import-outside-toplevel

    from benchmarks import ptq_worker as pw  # pylint: disable=import-outside-toplevel
    from tests.support.ptq import random_batches  # pylint: disable=import-outside-toplevel
    from tests.support.realcode import fixed, model_files, source_of, substituted  # pylint: disable=C0415

    row: dict[str, Any] = dict(spec, variants={})
    start = time.process_time()
    if spec["kind"] == "timm":
        vision_sweep._timm_kwargs(spec)  # pylint: disable=protected-access
    sizes = [spec["size"]] if spec.get("size") else list(dict.fromkeys(
        vision_sweep._sizes(spec) + [128, 224]))  # pylint: disable=protected-access
    detection = spec["kind"] == "detection"

    def target(model):
        return model.backbone if detection else model

    def variant(label, model, quantize, reference, data):
        with torch.no_grad():
            single = isinstance(model(data[0]), torch.Tensor)
        if not single and label != "fx":
            model = _Flat.wrap(model)
        record = pw.measure(label, model, quantize, reference, data, args.rounds)
        record.pop("anatomy", None)
        if not record.get("ok"):
            record["class"] = failure_class(record)
        return record

    errors = []
    for size in sizes:  # the first input size at which the original builds, warms its BN and runs
        case = _case(spec, size)
        params = vision_sweep._params_on_meta(case)  # pylint: disable=protected-access
        if params is not None and params > max_params:
            row["skipped"] = f"{params / 1e6:.0f}M parameters > --max-params"
            return row
        shape = (2, 3, size, size) if spec["kind"] != "video" else (2, 3, 8, size, size)
        try:
            torch.manual_seed(0)
            files = model_files(case.build(), case.roots)
            sources = {name: source_of(name) for name in files}
            texts = {name: text for name, (_, text) in sources.items()}
            with substituted(texts, folder, case.roots):
                torch.manual_seed(0)
                model = target(case.build().eval())
                pw.calibrate_batchnorm(model, random_batches(shape, 4, 3000))
                data = random_batches(shape, args.evaluation, 2000)
                reference = pw.run_all(model, data)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(f"{size}px: {type(exc).__name__}: {exc}"[:300])
            continue
        break
    else:
        row["error_before"] = errors[-1] if errors else "?"
        return row
    row["size"] = size
    calibration = random_batches(shape, args.calibration, 1000)
    state = copy.deepcopy(model.state_dict())
    with substituted(texts, folder, case.roots):
        row["variants"]["fx"] = variant("fx", copy.deepcopy(model), pw.fx_quantize(calibration), reference, data)
        row["variants"]["baseline"] = variant("baseline", model, pw.recipe(calibration), reference, data)
    if args.per_file:
        prepared_texts = {name: fixed(text, path, "torch-eager", True).text for name, (path, text) in sources.items()}
    else:
        prepared_texts = project_fixed(sources, tempfile.mkdtemp(dir=folder, prefix="project-"))
    row["fixed_files"] = len([n for n in files if prepared_texts[n] != texts[n]])
    try:
        with substituted(prepared_texts, folder, case.roots):
            torch.manual_seed(0)
            model = target(case.build().eval())
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError:  # an unsafe fix declared new keys (an untied copy): its own float outputs count
                model.load_state_dict(state, strict=False)
                row["strict_load"] = False
            own = pw.run_all(model, data)
            row["float_max_diff"] = float((own - reference).abs().max())
            row["variants"]["prepared"] = variant("prepared", model, pw.recipe(calibration), reference, data)
    except Exception as exc:  # pylint: disable=broad-except
        record = {"variant": "prepared", "ok": False, "step": "import/build/strict load",
                  "error": f"{type(exc).__name__}: {exc}"[:300]}
        record["class"] = failure_class(record)
        row["variants"]["prepared"] = record
    row["cpu_seconds"] = round(time.process_time() - start, 1)
    return row


def worker(specs: list[dict[str, Any]], args) -> None:
    import warnings  # pylint: disable=import-outside-toplevel

    import torch  # pylint: disable=import-outside-toplevel

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)

    def alarm(*_):
        raise TimeoutError(f"timed out after {args.timeout}s")

    signal.signal(signal.SIGALRM, alarm)
    folder = tempfile.mkdtemp(prefix="ptq-sweep-")
    for spec in specs:
        signal.alarm(args.timeout)
        try:
            row = measure(dict(spec), folder, args.max_params, args)
        except Exception as exc:  # pylint: disable=broad-except
            row = dict(spec, worker_error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            signal.alarm(0)
        print(json.dumps(row), flush=True)


# ------------------------------------------------------------------ the parent
def _run_group(specs: list[dict[str, Any]], args) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pending = list(specs)
    while pending:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(pending),
               "--timeout", str(args.timeout), "--max-params", str(args.max_params),
               "--calibration", str(args.calibration), "--evaluation", str(args.evaluation),
               "--rounds", str(args.rounds)] + (["--per-file"] if args.per_file else [])
        env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                                  timeout=args.timeout * len(pending) + 60, check=False)
            stdout, tail = proc.stdout, proc.stderr[-300:]
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            tail = "worker hung"
        done = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        rows += done
        pending = pending[len(done):]
        if pending:
            rows.append(dict(pending[0], worker_error=f"worker died: {tail.strip()[-200:]}"))
            pending = pending[1:]
    return rows


def _ok(row, variant) -> bool:
    return bool(row.get("variants", {}).get(variant, {}).get("ok"))


def _sqnr(row, variant) -> float:
    return row["variants"][variant]["sqnr_db"]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [r for r in rows if r.get("variants")]
    both = [r for r in measured if _ok(r, "prepared") and _ok(r, "fx")]
    finite = [r for r in both if all(abs(_sqnr(r, v)) != float("inf") for v in ("prepared", "fx"))]
    out: dict[str, Any] = dict(models=len(rows), measured=len(measured),
                               not_measured=[f"{r['name']}: "
                                             f"{r.get('skipped') or r.get('worker_error') or r.get('error_before')}"
                                             for r in rows if not r.get("variants")],
                               runs={v: len([r for r in measured if _ok(r, v)]) for v in VARIANTS},
                               both=len(both))
    if finite:
        out["median_sqnr_both"] = {v: round(statistics.median(_sqnr(r, v) for r in finite), 2)
                                   for v in ("prepared", "fx")}
        out["prepared_minus_fx_median"] = round(statistics.median(_sqnr(r, "prepared") - _sqnr(r, "fx")
                                                                  for r in finite), 2)
    out["prepared_only"] = sorted(r["name"] for r in measured if _ok(r, "prepared") and not _ok(r, "fx"))
    out["fx_only"] = sorted(r["name"] for r in measured if _ok(r, "fx") and not _ok(r, "prepared"))
    out["not_strict"] = sorted(r["name"] for r in measured if r.get("strict_load") is False)
    out["float_changed"] = sorted(r["name"] for r in measured if r.get("float_max_diff", 0) > 1e-4)
    out["classes"] = {v: collections.Counter(r["variants"][v]["class"] for r in measured
                                             if v in r["variants"] and not r["variants"][v].get("ok"))
                      for v in VARIANTS}
    return out


def markdown(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    runs = summary["runs"]
    lines = ["# PTQ sweep", "",
             f"{summary['models']} models, {summary['measured']} measured "
             f"(CPU seconds in the workers: {summary.get('cpu_seconds')}).", "",
             "| | prepared (fix safe+unsafe, README recipe) | FX graph mode | original, stubs only |",
             "|---|---|---|---|",
             f"| PTQ runs | {runs['prepared']} | {runs['fx']} | {runs['baseline']} |"]
    if "median_sqnr_both" in summary:
        med = summary["median_sqnr_both"]
        lines.append(f"| median SQNR (dB) on the {summary['both']} both run | {med['prepared']} | {med['fx']} | |")
        lines.append(f"| median per-model prepared - FX (dB) | {summary['prepared_minus_fx_median']} | | |")
    lines += ["", f"Prepared runs, FX does not ({len(summary['prepared_only'])}): "
              f"{', '.join(summary['prepared_only']) or 'none'}.", "",
              f"FX runs, prepared does not ({len(summary['fx_only'])}): {', '.join(summary['fx_only']) or 'none'}.",
              "", f"Prepared models whose unsafe fixes changed the state_dict keys (loaded strict=False): "
              f"{', '.join(summary['not_strict']) or 'none'}.",
              "", f"Prepared float outputs differ from the original (> 1e-4): "
              f"{', '.join(summary['float_changed']) or 'none'}.", "",
              f"Not measured: {'; '.join(summary['not_measured']) or 'none'}."]
    for variant in ("prepared", "fx"):
        lines += ["", f"## {variant}: failure classes (exception: op | innermost module | model line)", ""]
        lines += [f"- {n} x `{cause}`" for cause, n in summary["classes"][variant].most_common()] or ["- none"]
    lines += ["", "## Models (SQNR dB, or the failing step)", "", "| model | kind | input | prepared | FX | baseline |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for v in ("prepared", "fx", "baseline"):
            rec = r.get("variants", {}).get(v)
            cells.append("" if rec is None else f"{rec['sqnr_db']}" if rec.get("ok") else "fail")
        note = "" if r.get("variants") else (r.get("skipped") or r.get("worker_error") or r.get("error_before") or "")
        lines.append(f"| {r['name']} | {r['kind']} | {r.get('size', '')} | {' | '.join(cells)} |"
                     + (f" {note[:80]}" if note else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--match", help="regex on model names")
    parser.add_argument("--only", choices=("torchvision", "timm", "transformers"))
    parser.add_argument("--shard", help="K/N: every N-th model from the K-th (0-based)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--timeout", type=int, default=150, help="seconds per model")
    parser.add_argument("--max-params", type=int, default=60_000_000)
    parser.add_argument("--calibration", type=int, default=4)
    parser.add_argument("--evaluation", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="latency rounds")
    parser.add_argument("--per-file", action="store_true",
                        help="fix each file alone (fix_source), not the model's files as one project (the CLI)")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--merge", nargs="+", metavar="JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker), args)
        return 0
    if args.merge:
        merged: dict[tuple[str, str], dict] = {}
        for path in args.merge:
            with open(path, encoding="utf-8") as stream:
                rows = [json.loads(line) for line in stream] if path.endswith(".jsonl") else json.load(stream)["rows"]
            merged.update({(r["package"], r["name"]): r for r in rows})
        rows = list(merged.values())
        cpu = round(sum(r.get("cpu_seconds", 0) for r in rows))
        return _report(rows, args, cpu)
    specs = model_specs()
    if args.only:
        specs = [s for s in specs if s["package"] == args.only]
    if args.match:
        specs = [s for s in specs if re.search(args.match, s["name"])]
    specs = [s for s in specs if s["name"] not in vision_sweep.SLOW]
    if args.shard:
        k, n = map(int, args.shard.split("/"))
        specs = specs[k::n]
    specs = specs[:args.limit] if args.limit else specs
    groups: dict[str, list] = collections.defaultdict(list)
    for spec in specs:
        groups[spec["group"]].append(spec)
    rows, start = [], time.time()
    for i, members in enumerate(groups.values(), 1):
        for row in _run_group(members, args):
            rows.append(row)
            if args.json:  # as it comes: a run stopped early keeps what it measured
                with open(args.json + "l", "a", encoding="utf-8") as stream:
                    stream.write(json.dumps(row) + "\n")
            status = row.get("skipped") or row.get("worker_error") or row.get("error_before") or " ".join(
                f"{v}:{rec['sqnr_db'] if rec.get('ok') else 'FAIL ' + rec.get('class', '')[:60]}"
                for v, rec in row["variants"].items())
            print(f"[{i}/{len(groups)} {time.time() - start:5.0f}s] {row['name']:32s} {status[:220]}", flush=True)
    return _report(rows, args, round(sum(r.get("cpu_seconds", 0) for r in rows)))


def _report(rows, args, cpu) -> int:
    summary = summarize(rows)
    summary["cpu_seconds"] = cpu
    report = markdown(summary, rows)
    print(report.split("\n## Models")[0])
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(dict(summary=summary, rows=rows), stream, indent=1, default=list)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as stream:
            stream.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
