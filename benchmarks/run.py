#!/usr/bin/env python3
"""Benchmark pylint-distiller against bare astroid parsing, pylint and torchfix.

Every number reported is a RATIO of two timings taken in the same run (the
machines are shared and noisy, so absolute seconds mean little), plus
throughput and peak memory for context. Each timed measurement is repeated
``--repeat`` times (default 3) and the minimum is kept. Ratios use CPU time
(``time.process_time`` in-process, ``wait4`` rusage for subprocesses), which
other load on the machine barely moves; wall time is recorded next to it in
the JSON. The one wall-time ratio is pylint's ``-j 2`` speed-up.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python benchmarks/run.py                 # default: transformers/models tree (~5-8 min)
    .venv/bin/python benchmarks/run.py --quick         # ~40 modeling files, CI-friendly (< 2 min)
    .venv/bin/python benchmarks/run.py --stride 1      # every file of the tree (slower, ~12-15 min)
    .venv/bin/python benchmarks/run.py --json out.json # also write all numbers as JSON
    .venv/bin/python benchmarks/run.py --profile 25    # cProfile `analyze_module`; print the hotspots

See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EXAMPLES = os.path.join(ROOT, "examples")
PYLINT_FLAGS = ["--disable=fixme", "--score=n", "--persistent=n"]
QUICK_FILES = 40          # modeling files in --quick
FULL_STRIDE = 2           # default: every 2nd file of the tree (--stride 1: the whole tree, ~1.6x longer)
FIX_STRIDE = 8            # fix --diff vs check: every 8th file of the main set (full mode)
QUICK_PYLINT = ("basic_module.py", "bottleneck.py", "squeeze_excitation.py")
TORCHFIX_FILES = {"quick": 6, "full": 20}  # torchfix needs ~1 CPU-s per modeling file

# Limits from the issue: (measurement key, limit).
GATES = {
    "analysis_over_parse": 1.50,   # (parse + analysis) / parse
    "check_over_parse": 1.50,      # `pylint-distiller check` / bare astroid parse
    "pylint_plugin_over_plain": 1.10,
    "check_over_string_build": 1.50,
    "analysis_over_string_build": 1.50,
}


# --------------------------------------------------------------------------- helpers

def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _count_lines(path: str) -> int:
    with open(path, "rb") as stream:
        return stream.read().count(b"\n")


def _py_files(top: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
    return sorted(found)


def _transformers_models() -> str | None:
    spec = importlib.util.find_spec("transformers")  # does not import transformers
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "models")
    return path if os.path.isdir(path) else None


def _every(items: list, count: int) -> list:
    """`count` items spread evenly over the sorted list (a fixed, reproducible subset)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


@contextlib.contextmanager
def _silenced():
    """Send fds 1 and 2 (and sys.stdout/err) to /dev/null: the CLI's output costs what it costs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null_fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null_fd, 1)
    os.dup2(null_fd, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null_fd):
            os.close(fd)


def _run_child(argv: list[str], cwd: str = ROOT) -> dict:
    """Run a subprocess with its output discarded; CPU time (user+sys, children included) and wall."""
    wall0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall0
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "rc": proc.returncode,
            "maxrss_mb": usage.ru_maxrss / 1024.0, "stderr_tail": err.decode(errors="replace")[-400:]}


def _run_worker(kind: str, payload: dict) -> dict:
    """Run this script as a worker process (a clean interpreter per measurement kind)."""
    with tempfile.TemporaryDirectory(prefix="distiller-bench-") as tmp:
        job, out = os.path.join(tmp, "job.json"), os.path.join(tmp, "out.json")
        with open(job, "w") as stream:
            json.dump(payload, stream)
        child = _run_child([sys.executable, os.path.abspath(__file__), "--_worker", kind, job, out])
        if child["rc"] != 0 or not os.path.exists(out):
            raise RuntimeError(f"worker {kind} failed (rc={child['rc']}): {child['stderr_tail']}")
        with open(out) as stream:
            return json.load(stream)


def _parallel(tasks: list) -> list:
    """Run callables concurrently in threads (each one drives its own subprocess)."""
    results: list = [None] * len(tasks)
    errors: list = []

    def run(i, task):
        try:
            results[i] = task()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --------------------------------------------------------------------------- workers (child processes)

def _same_gc_as_cli() -> None:
    """Run every measurement under the GC settings `check`/`fix` set for themselves.

    The CLI raises the collection thresholds (astroid builds millions of small
    objects); it does so on its first call, so without this the first repeat of the
    bare parse would run under the default thresholds and the later ones under the
    CLI's, and the ratios would mix GC tuning into the analysis' cost.
    """
    from pylint_distiller import cli

    tune = getattr(cli, "_tune_gc", None)
    if tune is not None:
        tune()


def worker_main(kind: str, job_path: str, out_path: str) -> None:
    with open(job_path) as stream:
        job = json.load(stream)
    _same_gc_as_cli()
    result = {"main": _worker_main_set, "mem-parse": _worker_mem_parse, "mem-check": _worker_mem_check,
              "string-build": _worker_string_build}[kind](job)
    with open(out_path, "w") as stream:
        json.dump(result, stream)


def _worker_main_set(job: dict) -> dict:
    """One shard: per repeat, bare parse + analysis (per file), `check` end to end, `fix --diff` vs `check`."""
    from astroid.exceptions import AstroidSyntaxError

    from pylint_distiller import cli
    from pylint_distiller.analysis import analyze_module
    from pylint_distiller.analysis.project import clear_parse_cache
    from pylint_distiller.fixer.files import check_file
    from pylint_distiller.api import parse
    from pylint_distiller.settings import Settings
    from pylint_distiller.sources import read_source

    files, fix_files, repeat = job["files"], job["fix_files"], job["repeat"]
    fix_set = set(fix_files)
    texts = []
    for path in files:
        try:
            texts.append((path, read_source(path).text))
        except Exception:  # noqa: BLE001 - unreadable files are skipped by both sides
            pass
    settings = Settings()
    reps: list[dict] = []
    per_file: dict[str, list[float]] = {}  # path -> [min parse cpu, min analysis cpu]
    findings = failures = 0
    for rep in range(repeat):
        parse_cpu = parse_wall = ana_cpu = ana_wall = fix_parse = fix_ana = 0.0
        findings = failures = 0
        for path, text in texts:
            c0, w0 = _clock()
            try:
                module = parse(text, path)
            except (AstroidSyntaxError, RecursionError, ValueError):
                failures += 1
                continue
            c1, w1 = _clock()
            findings += len(analyze_module(module, settings, text=text, path=path))
            c2, w2 = _clock()
            parse_cpu += c1 - c0
            parse_wall += w1 - w0
            ana_cpu += c2 - c1
            ana_wall += w2 - w1
            if path in fix_set:
                fix_parse += c1 - c0
                fix_ana += c2 - c1
            best = per_file.setdefault(path, [float("inf"), float("inf")])
            best[0], best[1] = min(best[0], c1 - c0), min(best[1], c2 - c1)
            del module
        row = {"parse_cpu": parse_cpu, "parse_wall": parse_wall, "analysis_cpu": ana_cpu, "analysis_wall": ana_wall,
               "parse_fixset_cpu": fix_parse, "analysis_fixset_cpu": fix_ana}
        for key, argv in (("check", ["check", *files]), ("check_fixset", ["check", *fix_files]),
                          ("fix_diff", ["fix", "--diff", *fix_files])):
            if key != "check" and not fix_files:
                continue
            clear_parse_cache()  # several files: project mode, timed cold like the other runs
            with _silenced():
                c0, w0 = _clock()
                rc = cli.main(argv)
                c1, w1 = _clock()
            row[f"{key}_cpu"], row[f"{key}_wall"], row[f"{key}_rc"] = c1 - c0, w1 - w0, rc
        with _silenced():  # each file alone (what `check FILE` does, without the CLI's start-up per file)
            c0, w0 = _clock()
            for path in files:
                check_file(path, settings)
            c1, w1 = _clock()
        row["check_single_cpu"], row["check_single_wall"] = c1 - c0, w1 - w0
        reps.append(row)
    import gc

    return {"reps": reps, "per_file": per_file, "findings": findings, "parse_failures": failures,
            "files": len(files), "maxrss_mb": _maxrss_mb(), "gc_threshold": gc.get_threshold()}


def _worker_string_build(job: dict) -> dict:
    """Secondary baseline: astroid's public `string_build` (post-build step included, no transforms).

    This is what `api.parse` did before it dropped astroid's post-build inference; its first
    repeat imports and parses torch and base classes from disk (cached afterwards), so it
    runs in its own process and never warms the main measurements' astroid cache.
    """
    import astroid
    from astroid.builder import AstroidBuilder

    from pylint_distiller.sources import read_source

    def _modname(path: str) -> str:  # as pylint_distiller.api names string-built modules
        base = os.path.splitext(os.path.basename(path))[0] or "module"
        return base if base.isidentifier() else "module"

    texts = []
    for path in job["files"]:
        try:
            texts.append((path, read_source(path).text))
        except Exception:  # noqa: BLE001
            pass
    reps = []
    for _ in range(job["repeat"]):
        cpu = wall = 0.0
        for path, text in texts:
            c0, w0 = _clock()
            try:
                AstroidBuilder(astroid.MANAGER, apply_transforms=False).string_build(text, _modname(path), path)
            except Exception:  # noqa: BLE001
                pass
            c1, w1 = _clock()
            cpu += c1 - c0
            wall += w1 - w0
        reps.append({"cpu": cpu, "wall": wall})
    return {"reps": reps}


def _mem_setup():
    import astroid  # noqa: F401 - both memory workers import the same modules before the baseline

    from pylint_distiller import cli  # noqa: F401
    from pylint_distiller.analysis import analyze_module  # noqa: F401
    from pylint_distiller.api import parse  # noqa: F401
    from pylint_distiller.fixer import engine, files  # noqa: F401
    from pylint_distiller.sources import read_source  # noqa: F401
    return _maxrss_mb()


def _worker_mem_parse(job: dict) -> dict:
    base = _mem_setup()
    from pylint_distiller.api import parse
    from pylint_distiller.sources import read_source

    c0, w0 = _clock()
    for path in job["files"]:
        try:
            parse(read_source(path).text, path)
        except Exception:  # noqa: BLE001
            pass
    c1, w1 = _clock()
    return {"baseline_mb": base, "peak_mb": _maxrss_mb(), "cpu": c1 - c0, "wall": w1 - w0}


def _worker_mem_check(job: dict) -> dict:
    base = _mem_setup()
    from pylint_distiller import cli

    with _silenced():
        c0, w0 = _clock()
        cli.main(["check", *job["files"]])
        c1, w1 = _clock()
    return {"baseline_mb": base, "peak_mb": _maxrss_mb(), "cpu": c1 - c0, "wall": w1 - w0}


# --------------------------------------------------------------------------- the run

def select_files(args) -> dict:
    corpus = args.corpus or _transformers_models()
    if corpus is None:
        sys.exit("no corpus: transformers is not installed; pass --corpus DIR")
    every = _py_files(corpus)
    if args.quick:
        modeling = [p for p in every if os.path.basename(p).startswith("modeling_")]
        chosen = _every(modeling, QUICK_FILES)
        how = f"{len(chosen)} of {len(modeling)} modeling_*.py files, evenly spaced"
    else:
        stride = args.stride or FULL_STRIDE
        chosen = every[::stride]
        how = f"{len(chosen)} of {len(every)} files"
        if stride > 1:
            how += f" (--stride {stride}: every {stride}th file)"
    examples = _py_files(EXAMPLES)
    files = chosen + examples
    # every FIX_STRIDE-th file, taken in pairs of neighbours so both shards get their share
    fix_files = files if args.quick else [p for i, p in enumerate(files) if i % (2 * FIX_STRIDE) in (0, 1)]
    mode = "quick" if args.quick else "full"
    # torchfix: evenly spaced modeling files of the main set (torchfix skips files without "torch").
    modeling_chosen = [p for p in chosen if os.path.basename(p).startswith("modeling_")] or chosen
    torchfix_files = _every(modeling_chosen, TORCHFIX_FILES[mode]) + examples
    if args.pylint_files:
        pylint_files = list(args.pylint_files)
    elif args.quick:  # the examples whose inference stays cheap (~1 CPU-s each after torch)
        pylint_files = [p for p in examples if os.path.basename(p) in QUICK_PYLINT]
    else:
        pylint_files = examples + _efficientnet_files()
    return {"corpus": corpus, "how": how, "files": files, "fix_files": fix_files,
            "torchfix_files": torchfix_files, "pylint_files": pylint_files, "mode": mode}


def _efficientnet_files() -> list[str]:
    spec = importlib.util.find_spec("efficientnet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return []
    return _py_files(list(spec.submodule_search_locations)[0])


def _lines(paths: list[str]) -> int:
    return sum(_count_lines(p) for p in paths)


def measure_main_set(sel: dict, repeat: int, workers: int, log) -> dict:
    files, fix_set = sel["files"], set(sel["fix_files"])
    shards = [files[i::workers] for i in range(workers)]
    log(f"[1/4] parse / analysis / check / fix --diff: {len(files)} files in {workers} worker(s), x{repeat}")
    payloads = [{"files": s, "fix_files": [p for p in s if p in fix_set], "repeat": repeat} for s in shards]
    results = _parallel([lambda p=p: _run_worker("main", p) for p in payloads])

    def best(key: str) -> float:
        # shards ran side by side: the total is the sum over shards of each shard's best repeat
        return sum(min(r[key] for r in res["reps"]) for res in results if key in res["reps"][0])

    out = {k: best(k) for k in ("parse_cpu", "parse_wall", "analysis_cpu", "analysis_wall", "check_cpu",
                                "check_single_cpu", "check_single_wall",
                                "check_wall", "check_fixset_cpu", "check_fixset_wall", "fix_diff_cpu",
                                "fix_diff_wall", "parse_fixset_cpu", "analysis_fixset_cpu")}
    out["gc_threshold"] = results[0].get("gc_threshold")
    out["findings"] = sum(r["findings"] for r in results)
    out["parse_failures"] = sum(r["parse_failures"] for r in results)
    out["worker_maxrss_mb"] = max(r["maxrss_mb"] for r in results)
    out["all_reps"] = [r["reps"] for r in results]
    per_file = {}
    for res in results:
        per_file.update(res["per_file"])
    out["per_file"] = per_file
    return out


def measure_memory_and_astroid(files: list[str], fix_files: list[str], repeat: int, memory: bool,
                               string_build: bool, log) -> dict:
    """Two lanes: peak memory of bare parse | of check (fresh processes); then astroid's `string_build`.

    `string_build` runs on the `fix --diff` set only: its first repeat imports torch and
    each file's base classes from source (~1-2 CPU-min whatever the set), and its cache
    of every module built slows later repeats down as the set grows.
    """
    log("[2/4] peak memory (maxrss, fresh processes)" + (f"; astroid string_build baseline on {len(fix_files)} "
                                                         "files" if string_build else "") + f": {len(files)} files")

    def lane_a():
        out = {"mem": _run_worker("mem-parse", {"files": files})} if memory else {}
        if string_build:
            out["string_build"] = _run_worker("string-build", {"files": fix_files, "repeat": repeat})
        return out

    def lane_b():
        return {"mem": _run_worker("mem-check", {"files": files})} if memory else {}

    a, b = _parallel([lane_a, lane_b])
    mem = {"parse": a["mem"], "check": b["mem"]} if memory else None
    reps = a["string_build"]["reps"] if string_build else None
    return {"memory": mem, "string_build_cpu": min(r["cpu"] for r in reps) if reps else None,
            "string_build_reps": reps}


def measure_peers(sel: dict, repeat: int, log) -> dict:
    """pylint plain vs with the plugin, run as simultaneous pairs; then torchfix vs our check (CLIs)."""
    tf, pl = sel["torchfix_files"], sel["pylint_files"]
    have_torchfix = importlib.util.find_spec("torchfix") is not None
    log(f"[3/4] pylint vs pylint+plugin on {len(pl)} files (side by side), then torchfix vs check on "
        f"{len(tf)} files, x{repeat}")
    plain = [sys.executable, "-m", "pylint", *PYLINT_FLAGS, *pl]
    plugin = [sys.executable, "-m", "pylint", "--load-plugins=pylint_distiller", *PYLINT_FLAGS, *pl]
    pylint_runs = {"plain": [], "plugin": []}
    for _ in range(repeat):  # each pair shares the machine's state, so neither side gets the quieter slot
        a, b = _parallel([lambda: _run_child(plain), lambda: _run_child(plugin)])
        pylint_runs["plain"].append(a)
        pylint_runs["plugin"].append(b)
    torchfix_runs = None
    if have_torchfix:
        ours = [sys.executable, "-m", "pylint_distiller", "check", *tf]
        theirs = [sys.executable, "-m", "torchfix", "-j", "1", *tf]
        torchfix_runs = {"check": [], "torchfix": []}
        for _ in range(repeat):
            torchfix_runs["check"].append(_run_child(ours))
            torchfix_runs["torchfix"].append(_run_child(theirs))
    return {"torchfix": torchfix_runs, "pylint": pylint_runs}


def measure_jobs(sel: dict, repeat: int, log) -> dict:
    pl = sel["pylint_files"]
    log(f"[4/4] pylint+plugin -j 1 vs -j 2 (wall time, nothing else of ours running), x{repeat}")
    base = [sys.executable, "-m", "pylint", "--load-plugins=pylint_distiller", *PYLINT_FLAGS]
    runs = {"j1": [], "j2": []}
    for _ in range(repeat):
        runs["j1"].append(_run_child([*base, "-j", "1", *pl]))
        runs["j2"].append(_run_child([*base, "-j", "2", *pl]))
    return runs


def _min(runs: list[dict], key: str) -> float:
    return min(r[key] for r in runs)


def _spread(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{100 * (max(values) / min(values) - 1):.0f}%"


def summarize(sel: dict, main: dict, mem: dict | None, peers: dict | None, jobs: dict | None) -> dict:
    files, lines = len(sel["files"]), _lines(sel["files"])
    parse, ana, check = main["parse_cpu"], main["analysis_cpu"], main["check_cpu"]
    rows = []

    def row(key, label, value, unit="x", note=""):
        gate = GATES.get(key)
        status = "" if gate is None or value is None else ("PASS" if value <= gate else "FAIL")
        rows.append({"key": key, "label": label, "value": value, "unit": unit,
                     "limit": gate, "status": status, "note": note})

    row("parse_lines_per_s", "bare astroid parse (baseline)", lines / parse, "lines/s",
        f"{files} files, {lines} lines, {parse:.1f} CPU-s")
    row("analysis_over_parse", "(parse + analysis) / parse", (parse + ana) / parse, "x",
        f"analysis {ana:.2f} CPU-s on parsed modules; {main['findings']} findings")
    row("check_over_parse", "`check` (project mode) / parse", check / parse, "x",
        "all files in one `check`: read + parse + project index + analysis + report")
    single = main.get("check_single_cpu")
    if single:
        row("check_single_over_parse", "single-file check / parse", single / parse, "x",
            "each file analysed alone (`check FILE`'s work, no CLI start-up per file)")
        row("project_over_single", "project mode / single-file mode", check / single, "x",
            "helpers, bases and shared modules across files, dependents")
    sb = main.get("string_build_cpu")
    if sb:
        fix_lines = _lines(sel["fix_files"])
        note = f"{len(sel['fix_files'])} files"
        row("string_build_over_parse", "astroid string_build / parse", sb / main["parse_fixset_cpu"], "x",
            f"{note}; public astroid parse (post-build inference; min of repeats, the first is cold): "
            f"{fix_lines / sb:,.0f} lines/s")
        row("analysis_over_string_build", "(string_build + analysis) / string_build",
            (sb + main["analysis_fixset_cpu"]) / sb, "x", note)
        row("check_over_string_build", "`check` / astroid string_build", main["check_fixset_cpu"] / sb, "x", note)
    row("check_files_per_s", "`check` throughput", files / check, "files/s")
    row("check_lines_per_s", "`check` throughput", lines / check, "lines/s")
    fix_n = len(sel["fix_files"])
    if main.get("fix_diff_cpu"):
        row("fix_diff_over_check", "`fix --diff` / `check`", main["fix_diff_cpu"] / main["check_fixset_cpu"], "x",
            f"{fix_n} files")
    if mem:
        p = mem["parse"]["peak_mb"] - mem["parse"]["baseline_mb"]
        c = mem["check"]["peak_mb"] - mem["check"]["baseline_mb"]
        row("mem_check_over_parse", "peak memory `check` / parse", c / p if p > 0 else None, "x",
            f"maxrss above imports: check {c:.0f} MB, parse {p:.0f} MB ({files} files)")
    if peers and peers.get("pylint"):
        pyl = peers["pylint"]
        ratio = _min(pyl["plugin"], "cpu") / _min(pyl["plain"], "cpu")
        row("pylint_plugin_over_plain", "pylint + plugin / pylint", ratio, "x",
            f"{len(sel['pylint_files'])} files; plain {_min(pyl['plain'], 'cpu'):.1f} CPU-s; spread of repeats: "
            f"plain {_spread(pyl['plain'], 'cpu')}, plugin {_spread(pyl['plugin'], 'cpu')}")
    if jobs:
        speedup = _min(jobs["j1"], "wall") / _min(jobs["j2"], "wall")
        row("pylint_j2_speedup", "pylint + plugin: -j 1 / -j 2 wall", speedup, "x",
            f"speed-up; >1 is faster; -j 1 {_min(jobs['j1'], 'wall'):.1f} s wall")
    if peers and peers.get("torchfix"):
        tf = peers["torchfix"]
        ratio = _min(tf["check"], "cpu") / _min(tf["torchfix"], "cpu")
        row("check_over_torchfix", "`check` / torchfix (CLIs, -j 1)", ratio, "x",
            f"{len(sel['torchfix_files'])} files; <1 is faster than torchfix")
    return {"rows": rows, "files": files, "lines": lines}


def slowest(main: dict, count: int = 5) -> dict:
    per = [(p, v[0], v[1]) for p, v in main["per_file"].items() if v[0] != float("inf")]
    by_analysis = sorted(per, key=lambda t: -t[2])[:count]
    by_ratio = sorted((t for t in per if t[1] >= 0.01), key=lambda t: -(t[2] / t[1]))[:count]
    fmt = lambda t: {"path": t[0], "parse_cpu": round(t[1], 4), "analysis_cpu": round(t[2], 4),  # noqa: E731
                     "ratio": round((t[1] + t[2]) / t[1], 3) if t[1] else None}
    return {"by_analysis_time": [fmt(t) for t in by_analysis], "by_ratio": [fmt(t) for t in by_ratio]}


def print_table(summary: dict, meta: dict, slow: dict, out=sys.stdout) -> None:
    out.write(f"\npylint-distiller benchmark ({meta['mode']}): {meta['corpus_how']} + examples/\n")
    out.write(f"  corpus {meta['corpus']}\n  {summary['files']} files, {summary['lines']} lines; "
              f"min of {meta['repeat']} repeats; CPU-time ratios; load avg {meta['loadavg_start']} -> "
              f"{meta['loadavg_end']}; {meta['elapsed_s']:.0f} s\n\n")
    width = max(len(r["label"]) for r in summary["rows"])
    out.write(f"  {'measurement':<{width}}  {'value':>12}  {'limit':>6}  status  note\n")
    out.write(f"  {'-' * width}  {'-' * 12}  {'-' * 6}  ------  ----\n")
    for r in summary["rows"]:
        if r["value"] is None:
            value = "n/a"
        elif r["unit"] == "x":
            value = f"{r['value']:.3f} {r['unit']}"
        else:
            value = f"{r['value']:,.0f} {r['unit']}"
        limit = f"{r['limit']:.2f}" if r["limit"] is not None else ""
        out.write(f"  {r['label']:<{width}}  {value:>12}  {limit:>6}  {r['status']:<6}  {r['note']}\n")
    for key, title in (("by_ratio", "files where analysis costs most relative to parsing"),
                       ("by_analysis_time", "files whose analysis costs most CPU time")):
        if not slow[key]:
            continue
        out.write(f"\n  {title} ((parse+analysis)/parse, CPU-s):\n")
        for item in slow[key]:
            path = item["path"]
            if path.startswith(meta["corpus"]):
                path = os.path.relpath(path, meta["corpus"])
            out.write(f"    {item['ratio']:.2f}x  parse {item['parse_cpu']:.3f}  analysis {item['analysis_cpu']:.3f}  "
                      f"{path}\n")
    out.write("\n")


def run_profile(sel: dict, top: int) -> None:
    """cProfile `analyze_module` over the main set (modules parsed beforehand, outside the profile)."""
    import cProfile
    import pstats

    from pylint_distiller.analysis import analyze_module
    from pylint_distiller.api import parse
    from pylint_distiller.settings import Settings
    from pylint_distiller.sources import read_source

    _same_gc_as_cli()
    settings = Settings()
    prof = cProfile.Profile()
    total = 0.0
    for path in sel["files"]:
        try:
            text = read_source(path).text
            module = parse(text, path)
        except Exception:  # noqa: BLE001
            continue
        c0 = time.process_time()
        prof.enable()
        analyze_module(module, settings, text=text, path=path)
        prof.disable()
        total += time.process_time() - c0
    print(f"analyze_module over {len(sel['files'])} files: {total:.2f} CPU-s under cProfile")
    stats = pstats.Stats(prof)
    for order in ("tottime", "cumulative"):
        print(f"\n== top {top} by {order} ==")
        stats.sort_stats(order).print_stats(top)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--_worker"]:
        worker_main(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description="Benchmark pylint-distiller (ratios measured in one run).")
    parser.add_argument("--corpus", metavar="DIR", help="Python tree to measure (default: transformers/models)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FILES} evenly spaced modeling_*.py files")
    parser.add_argument("--stride", type=int, help=f"use every Nth file of the corpus (full mode; default "
                        f"{FULL_STRIDE}; 1 = all)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per timed measurement; the min is kept")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes sharing the in-process measurements (each shard's min is summed)")
    parser.add_argument("--pylint-files", nargs="+", metavar="PATH", help="files for the pylint comparison "
                        "(default: examples/ [+ efficientnet_pytorch in full mode])")
    parser.add_argument("--skip-pylint", action="store_true", help="skip the pylint and torchfix comparisons")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--string-build", action=argparse.BooleanOptionalAction, default=None,
                        help="also time astroid's public string_build as a second baseline on the fix --diff "
                        "set (default: on; off with --quick)")
    parser.add_argument("--json", metavar="OUT", help="write every number (and each repeat) as JSON")
    parser.add_argument("--profile", type=int, nargs="?", const=25, metavar="N",
                        help="only cProfile analyze_module over the corpus and print the top N functions")
    args = parser.parse_args(argv)
    sel = select_files(args)
    if args.profile:
        run_profile(sel, args.profile)
        return 0

    def log(msg):
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        sys.stderr.flush()

    start, load0 = time.perf_counter(), os.getloadavg()
    main_res = measure_main_set(sel, args.repeat, max(1, args.workers), log)
    string_build = args.string_build if args.string_build is not None else not args.quick
    phase2 = measure_memory_and_astroid(sel["files"], sel["fix_files"], args.repeat, not args.skip_memory,
                                        string_build, log)
    main_res["string_build_cpu"] = phase2["string_build_cpu"]
    main_res["string_build_reps"] = phase2["string_build_reps"]
    mem = phase2["memory"]
    peers = jobs = None
    if not args.skip_pylint:
        peers = measure_peers(sel, args.repeat, log)
        if not args.quick:  # on 3 small files -j 2 only measures worker start-up
            jobs = measure_jobs(sel, args.repeat, log)
    elapsed, load1 = time.perf_counter() - start, os.getloadavg()

    summary = summarize(sel, main_res, mem, peers, jobs)
    slow = slowest(main_res)
    versions = {}
    for name in ("astroid", "pylint", "torchfix", "libcst"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = None
    meta = {"mode": sel["mode"], "corpus": sel["corpus"], "corpus_how": sel["how"], "repeat": args.repeat,
            "workers": args.workers, "python": platform.python_version(), "versions": versions,
            "cpu_count": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load0],
            "loadavg_end": [round(x, 2) for x in load1], "elapsed_s": elapsed,
            "sets": {k: len(sel[k]) for k in ("files", "fix_files", "torchfix_files", "pylint_files")},
            "pylint_flags": PYLINT_FLAGS}
    print_table(summary, meta, slow)
    if args.json:
        main_res = dict(main_res)
        main_res.pop("per_file")
        report = {"meta": meta, "results": {r["key"]: r for r in summary["rows"]},
                  "raw": {"main": main_res, "memory": mem, "peers": peers, "jobs": jobs}, "slowest": slow,
                  "files": {k: sel[k] for k in ("fix_files", "torchfix_files", "pylint_files")}}
        with open(args.json, "w") as stream:
            json.dump(report, stream, indent=2)
    failed = [r["key"] for r in summary["rows"] if r["status"] == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
