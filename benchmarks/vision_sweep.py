"""Sweep: `fix` every torchvision and timm model constructor that builds on the CPU in
seconds, then run original and prepared model, both targets, safe and safe+unsafe.

Not a test: a measurement of how often a rewrite keeps its contract on real code
(tests/test_fix_realcode_vision.py holds a fixed set in CI). Per model it records
built / original runs / prepared loads the original state_dict strictly / same eval
outputs / broke (the exception), compute-op sites executed outside modules before ->
after, modules newly called more than once per pass, and the findings left alone
with their reasons. The contract check is `tests.support.realcode.check_fixed_model`.

Models: torchvision's `list_models()` (classification, quantizable twins with
`quantize=False`, segmentation, detection, video, optical flow) and, for timm, ONE
representative per model file, the smallest by name (see `_size_rank`). Models over
`--max-params` (counted on the meta device, nothing allocated) are skipped: they do
not build in seconds. Each group of models (one builder file) runs in its own process
with a per-model timeout; a worker that dies or hangs costs only its own models.

    .venv/bin/python benchmarks/vision_sweep.py --json sweep.json --markdown sweep.md
    .venv/bin/python benchmarks/vision_sweep.py --only torchvision --limit 10

Run from the repository root (it imports tests.support).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVELS = {"safe": False, "unsafe": True}

#: Constructors left out on purpose, with the reason (fixed-size inputs far too slow for a sweep).
SLOW = {
    "mvit_v1_b": "needs 16x224x224 clips", "mvit_v2_s": "needs 16x224x224 clips", "s3d": "needs 224x224 clips",
    "swin3d_b": "video transformer at 224", "swin3d_s": "video transformer at 224",
    # regnet computes its widths with tensors, so the meta-device count fails: sizes from torchvision's docs
    "regnet_y_128gf": "644M parameters", "regnet_y_32gf": "145M parameters", "regnet_x_32gf": "108M parameters",
    "regnet_y_16gf": "84M parameters", "vit_h_14": "632M parameters (and 64 is not a multiple of its patch 14)",
}

# ------------------------------------------------------------------ model lists


def _tv_kind(module: str) -> str:
    for kind in ("quantization", "segmentation", "detection", "video", "optical_flow"):
        if f".{kind}." in module:
            return kind
    return "classification"


def torchvision_models() -> list[dict[str, Any]]:
    from torchvision import models  # pylint: disable=import-outside-toplevel

    out = []
    for name in models.list_models():
        module = models.get_model_builder(name).__module__
        out.append(dict(package="torchvision", name=name, group=module, kind=_tv_kind(module)))
    return out


_SIZES = ("atto", "femto", "pico", "nano", "xxxs", "xxs", "xs", "tiny", "mini", "micro", "small", "lite",
          "050", "035", "s", "t", "b0", "18", "26", "002", "base")


def _size_rank(name: str) -> tuple:
    """Smaller is smaller: the first size word of _SIZES among the name's parts, then the length."""
    parts = re.split(r"[_.]", name)
    ranks = [i for i, size in enumerate(_SIZES) for part in parts if part == size or part.startswith(size)
             and size in ("atto", "femto", "pico", "nano", "tiny", "small")]
    return (min(ranks) if ranks else len(_SIZES), len(name), name)


def timm_models() -> list[dict[str, Any]]:
    from timm.models import _registry  # pylint: disable=import-outside-toplevel

    groups = collections.defaultdict(list)
    for name, module in _registry._model_to_module.items():  # pylint: disable=protected-access
        if name not in _registry._deprecated_models:  # pylint: disable=protected-access
            groups[module].append(name)
    return [dict(package="timm", name=min(names, key=_size_rank), group=f"timm.models.{module}", kind="timm")
            for module, names in sorted(groups.items())]


# ------------------------------------------------------------------ one model (worker side)


def _case(spec: dict[str, Any], size: int):
    import timm  # pylint: disable=import-outside-toplevel
    import torch  # pylint: disable=import-outside-toplevel
    from torchvision import models  # pylint: disable=import-outside-toplevel

    from tests.support.realcode import Case  # pylint: disable=import-outside-toplevel

    name, kind = spec["name"], spec["kind"]

    def pixels(*shape):
        return lambda: (torch.randn(*shape, generator=torch.Generator().manual_seed(0)),)

    if kind == "timm":
        kwargs = dict(num_classes=10, **spec.get("kwargs", {}))
        return Case(lambda: timm.create_model(name, **kwargs), pixels(1, 3, size, size), ("timm.",))
    kwargs: dict[str, Any] = dict(weights=None)
    inputs = pixels(1, 3, size, size)
    if kind in ("classification", "quantization"):
        kwargs["num_classes"] = 10
        if name.startswith("vit_"):
            kwargs["image_size"] = size
    if kind == "quantization":
        kwargs["quantize"] = False
    if kind in ("segmentation", "detection"):
        kwargs.update(weights_backbone=None, num_classes=10)
    if kind == "detection" and not name.startswith("ssd"):  # SSDs resize to their fixed 300/320
        kwargs.update(min_size=size, max_size=size)
        inputs = lambda: ([torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))],)  # noqa: E731
    if kind == "video":
        inputs = pixels(1, 3, 8, size, size)
    if kind == "optical_flow":
        inputs = lambda: (pixels(1, 3, size, size)()[0], pixels(1, 3, size, size)()[0] * 0.5)  # noqa: E731
    if kind == "segmentation" and name.startswith(("deeplabv3_", "fcn_")):
        kwargs["aux_loss"] = False
    return Case(lambda: models.get_model(name, **kwargs), inputs, ("torchvision.",))


def _params_on_meta(case) -> int | None:
    """Parameter count without allocating; None where the constructor needs real values
    (regnet computes its widths with tensors)."""
    import torch  # pylint: disable=import-outside-toplevel

    try:
        with torch.device("meta"):
            return sum(p.numel() for p in case.build().parameters())
    except Exception:  # pylint: disable=broad-except
        return None


def _sizes(spec: dict[str, Any]) -> list[int]:
    name = spec["name"]
    if spec["kind"] == "timm":  # then the pretrained input size: timm's fixed-size models (most transformers)
        from timm.models import get_pretrained_cfg  # pylint: disable=import-outside-toplevel

        cfg = get_pretrained_cfg(name)
        return [64, cfg.input_size[-1] if cfg is not None and cfg.input_size else 224]
    if "inception" in name:
        return [75]
    if name.startswith("maxvit"):
        return [224]
    return [64, 128]


def _timm_kwargs(spec: dict[str, Any]) -> None:
    """Builds at img_size=64 where the model takes it (transformers get 16 tokens, not 196)."""
    import timm  # pylint: disable=import-outside-toplevel

    try:
        with __import__("torch").device("meta"):
            timm.create_model(spec["name"], num_classes=10, img_size=64)
        spec["kwargs"] = dict(img_size=64)
    except Exception:  # pylint: disable=broad-except
        spec["kwargs"] = {}


def measure(spec: dict[str, Any], folder: str, max_params: int) -> dict[str, Any]:
    """Every (target, level) of one model; the row written to the report."""
    import torch  # pylint: disable=import-outside-toplevel

    from pylint_distiller.catalogue import TARGETS  # pylint: disable=import-outside-toplevel
    from tests.support.realcode import check_fixed_model, model_files, run_original  # pylint: disable=C0415

    row: dict[str, Any] = dict(spec, built=False, original_runs=False, runs={})
    start = time.process_time()
    if spec["kind"] == "timm":
        _timm_kwargs(spec)
        row["kwargs"] = spec["kwargs"]
    errors = []
    for size in _sizes(spec):
        case = _case(spec, size)
        try:
            row["params"] = _params_on_meta(case)
            if row["params"] is not None and row["params"] > max_params:
                row["skipped"] = f"{row['params'] / 1e6:.0f}M parameters > --max-params"
                return row
            torch.manual_seed(0)
            model = case.build().eval()
            row["built"] = True
            row["params"] = sum(p.numel() for p in model.parameters())
            files = model_files(model, case.roots)
            with torch.no_grad():  # the installed package's model: does the original itself run?
                model(*case.inputs())
            del model
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(f"{size}px: {type(exc).__name__}: {exc}"[:300])
            continue
        row.update(original_runs=True, size=size, files=files)
        break
    else:
        row["error_before"] = errors[-1] if errors else "?"
        row["cpu_seconds"] = round(time.process_time() - start, 1)
        return row
    try:  # the same original files, loaded beside the installed ones: the baseline of every run
        original = run_original(case, files, folder)
    except Exception as exc:  # pylint: disable=broad-except
        row["loader_error"] = f"{type(exc).__name__}: {exc}"[:300]
        row["cpu_seconds"] = round(time.process_time() - start, 1)
        return row
    for target in TARGETS:
        for level, unsafe in LEVELS.items():
            out = check_fixed_model(case, target, unsafe, folder, files=files, original=original)
            row["runs"][f"{target}/{level}"] = dict(
                ok=out.ok, broke=out.broke, loads_strictly=out.loads_strictly, same_outputs=out.same_outputs,
                before=out.before, after=out.after, applied=out.applied, newly_reused=sorted(out.newly_reused),
                declared=sorted(set(out.declared)), failures=out.failures, refusals=out.refusals)
    row["cpu_seconds"] = round(time.process_time() - start, 1)
    return row


class _Timeout(Exception):
    pass


def worker(specs: list[dict[str, Any]], timeout: int, max_params: int) -> None:
    """Measure `specs` in this process, one JSON line per model on stdout."""
    import torch  # pylint: disable=import-outside-toplevel
    import warnings  # pylint: disable=import-outside-toplevel

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)  # tiny inputs: threads only contend on a shared machine

    def alarm(*_):
        raise _Timeout(f"timed out after {timeout}s")

    signal.signal(signal.SIGALRM, alarm)
    folder = tempfile.mkdtemp(prefix="vision-sweep-")
    for spec in specs:
        signal.alarm(timeout)
        try:
            row = measure(dict(spec), folder, max_params)
        except _Timeout as exc:
            row = dict(spec, timeout=str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            row = dict(spec, worker_error=f"{type(exc).__name__}: {exc}"[:300])
        finally:
            signal.alarm(0)
        print(json.dumps(row), flush=True)


# ------------------------------------------------------------------ the parent


def _run_group(specs: list[dict[str, Any]], timeout: int, max_params: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pending = list(specs)
    while pending:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(pending),
               "--timeout", str(timeout), "--max-params", str(max_params)]
        env = dict(os.environ, PYTHONPATH=ROOT)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                                  timeout=timeout * len(pending) + 60, check=False)
            stdout, tail = proc.stdout, proc.stderr[-300:]
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            tail = "worker hung"
        done = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        rows += done
        pending = pending[len(done):]
        if pending:  # the worker died on pending[0]: record it, go on with the rest
            rows.append(dict(pending[0], worker_error=f"worker died: {tail.strip()[-200:]}"))
            pending = pending[1:]
    return rows


def _cause(text: str) -> str:
    """An exception text without its numbers and names in quotes: one line per cause."""
    text = text.splitlines()[0] if text else "?"
    text = text.split(": [", 1)[0]  # "modules newly called ...: [names]"
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+", "N", text)[:120]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from pylint_distiller.catalogue import TARGETS  # pylint: disable=import-outside-toplevel

    ran = [r for r in rows if r.get("original_runs") and not r.get("loader_error")]
    summary: dict[str, Any] = dict(
        models=len(rows),
        skipped=len([r for r in rows if r.get("skipped") or r.get("slow")]),
        built=len([r for r in rows if r.get("built")]),
        original_runs=len([r for r in rows if r.get("original_runs")]),
        not_loadable=[f"{r['name']}: {_cause(r['loader_error'])}" for r in rows if r.get("loader_error")],
        broke_before=collections.Counter(
            _cause(r.get("error_before") or r.get("timeout") or r.get("worker_error") or "?")
            for r in rows if not r.get("original_runs") and not r.get("skipped") and not r.get("slow")),
        runs={},
    )
    for target in TARGETS:
        for level in LEVELS:
            key = f"{target}/{level}"
            results = [(f"{r['package']}/{r['name']}", r["runs"][key]) for r in ran if key in r["runs"]]
            refusals = {}
            for _, res in results:
                for module, line, reason in res["refusals"]:
                    refusals[(module, line, reason)] = reason
            summary["runs"][key] = dict(
                models=len(results),
                contract_held=len([1 for _, res in results if res["ok"]]),
                broke_after=len([1 for _, res in results if res["broke"]]),
                loads_strictly=len([1 for _, res in results if res["loads_strictly"]]),
                same_outputs=len([1 for _, res in results if res["same_outputs"]]),
                sites_before=sum(res["before"] for _, res in results),
                sites_after=sum(res["after"] for _, res in results if not res["broke"]),
                newly_reused=sum(len(res["newly_reused"]) for _, res in results),
                failed=sorted(name for name, res in results if not res["ok"]),
                causes=collections.Counter(_cause(f) for _, res in results for f in res["failures"]),
                refusals=collections.Counter(refusals.values()),  # per distinct source site
            )
    return summary


def markdown(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = ["# Vision sweep", "",
             f"{summary['models']} models, {summary['skipped']} skipped (too large or slow), "
             f"{summary['built']} built, {summary['original_runs']} original models ran "
             f"(CPU seconds in the workers: {summary.get('cpu_seconds_in_workers')}); "
             f"{len(summary['not_loadable'])} of them cannot be re-imported beside the installed package "
             f"(not measured): {'; '.join(summary['not_loadable']) or 'none'}.", "",
             "| target/level | models | contract held | broke after | strict load | same outputs | "
             "sites outside modules before -> after | newly reused |",
             "|---|---|---|---|---|---|---|---|"]
    for key, run in summary["runs"].items():
        lines.append(f"| {key} | {run['models']} | {run['contract_held']} | {run['broke_after']} | "
                     f"{run['loads_strictly']} | {run['same_outputs']} | {run['sites_before']} -> "
                     f"{run['sites_after']} | {run['newly_reused']} |")
    lines += ["", "## Originals that do not run with the sweep's small config (broke before)", ""]
    lines += [f"- {n} x {cause}" for cause, n in summary["broke_before"].most_common()] or ["- none"]
    for key, run in summary["runs"].items():
        lines += ["", f"## {key}: contract failures", ""]
        lines += [f"- {n} x {cause}" for cause, n in run["causes"].most_common()] or ["- none"]
        if run["failed"]:
            lines.append(f"- models: {', '.join(run['failed'])}")
    for key, run in summary["runs"].items():
        if key.endswith("/unsafe"):
            lines += ["", f"## {key.split('/')[0]}: findings left alone, by reason (distinct source sites)", ""]
            lines += [f"- {n} x {reason}" for reason, n in run["refusals"].most_common()] or ["- none"]
    lines += ["", "## Models", "", "| model | package | params | input | result |", "|---|---|---|---|---|"]
    for r in rows:
        status = (r.get("skipped") or r.get("slow") or r.get("timeout") or r.get("worker_error")
                  or r.get("error_before") or r.get("loader_error") or " ".join(f"{k}:{'ok' if v['ok'] else 'FAIL'}"
                                                       for k, v in r.get("runs", {}).items()))
        params = f"{r['params'] / 1e6:.1f}M" if r.get("params") else ""
        lines.append(f"| {r['name']} | {r['package']} | {params} | {r.get('size', '')} | "
                     f"{str(status).replace('|', '/')[:160]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", choices=("torchvision", "timm"), help="one package")
    parser.add_argument("--kind", action="append", help="torchvision kinds (classification, detection, ...)")
    parser.add_argument("--limit", type=int, help="first N models (after --only/--kind)")
    parser.add_argument("--match", help="regex on model names")
    parser.add_argument("--shard", help="K/N: every N-th model from the K-th (0-based), to split a run")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per model (default 120)")
    parser.add_argument("--max-params", type=int, default=60_000_000, help="skip larger models (default 60M)")
    parser.add_argument("--json", help="write every row and the summary here")
    parser.add_argument("--markdown", help="write the report as markdown here")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="report on the rows of earlier --json runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker), args.timeout, args.max_params)
        return 0
    if args.merge:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for path in args.merge:  # a later file's row replaces an earlier one (a re-run)
            with open(path, encoding="utf-8") as stream:
                merged.update({(r["package"], r["name"]): r for r in json.load(stream)["rows"]})
        return _report(list(merged.values()), args, dict(wall_seconds=None))
    specs = []
    if args.only in (None, "torchvision"):
        specs += [s for s in torchvision_models() if not args.kind or s["kind"] in args.kind]
    if args.only in (None, "timm"):
        specs += timm_models()
    if args.match:
        specs = [s for s in specs if re.search(args.match, s["name"])]
    if args.shard:
        k, n = map(int, args.shard.split("/"))
        specs = specs[k::n]
    specs = specs[:args.limit] if args.limit else specs
    groups: dict[str, list] = collections.defaultdict(list)
    rows = []
    for spec in specs:
        if spec["name"] in SLOW:
            rows.append(dict(spec, slow=SLOW[spec["name"]]))
        else:
            groups[spec["group"]].append(spec)
    start = time.time()
    for i, members in enumerate(groups.values(), 1):
        for row in _run_group(members, args.timeout, args.max_params):
            rows.append(row)
            status = ("skipped: " + row["skipped"] if row.get("skipped") else
                      row.get("timeout") or row.get("worker_error") or row.get("error_before")
                      or row.get("loader_error")
                      or " ".join("ok" if v["ok"] else "FAIL" for v in row["runs"].values()))
            print(f"[{i}/{len(groups)} {time.time() - start:5.0f}s] {row['name']:40s} {status[:100]}", flush=True)
    return _report(rows, args, dict(wall_seconds=round(time.time() - start)))


def _report(rows: list[dict[str, Any]], args, extra: dict[str, Any]) -> int:
    summary = summarize(rows)
    summary.update(extra, cpu_seconds_in_workers=round(sum(r.get("cpu_seconds", 0) for r in rows)))
    report = markdown(summary, rows)
    print()
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
