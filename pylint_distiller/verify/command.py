"""The `pylint-distiller verify` command: import a model, run it once, report.

Unlike linting and `fix`, this command imports and EXECUTES user code (the model's
module, its constructor, one forward pass): the help text says so. Everything
that needs torch is imported inside `run_verify`, so that the top-level CLI stays
importable without torch.

Exit codes: 0 no runtime findings, 1 runtime findings remain (a CI gate for "is
this model prepared?"), 2 usage or import errors, reported as one clear message
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import linecache
import os
import re
import sys
import traceback
from typing import Any

DESCRIPTION = """\
Run ONE forward pass of a model and report, with file:line, what a module-level
quantizer (Distiller, PyTorch eager mode) cannot see: compute ops called outside
leaf modules, modules whose forward runs more than once, modules constructed
during forward. Then cross-check the static analysis of the same source files.

WARNING: this is the one pylint-distiller command that imports and EXECUTES user
code (the TARGET module, the model constructor and its forward). Only run it on
code you trust. Linting and `fix` never import or run the code they check.
"""

EPILOG = """\
examples:
  pylint-distiller verify torchvision.models:resnet18 --input-shape 1,3,224,224
  pylint-distiller verify mymodels.py:BasicModule --kwargs '{"width": 8}' \\
      --input-shape 1,3,32,32
  pylint-distiller verify mypkg.bert:build --inputs mypkg.bert:example_inputs

exit status: 0 no runtime findings, 1 runtime findings remain, 2 usage error.
"""

_LIST_LIMIT = 30  # longest list printed per text section; --format json has all


class VerifyError(Exception):
    """A user error: reported as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pylint-distiller verify",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("target", metavar="TARGET",
        help="module:callable returning an nn.Module, or module:Class (an nn.Module "
             "subclass, built with --args/--kwargs); module may be a dotted name "
             "or a path to a .py file")
    add("--args", default="[]", metavar="JSON",
        help="positional constructor/callable arguments as a JSON list")
    add("--kwargs", default="{}", metavar="JSON",
        help="keyword constructor/callable arguments as a JSON object")
    add("--input-shape", action="append", default=[], metavar="SHAPE",
        help="shape of one random input tensor, e.g. 1,3,224,224 (repeat for "
             "several inputs)")
    add("--dtype", action="append", default=[], metavar="DTYPE",
        help="dtype of the --input-shape tensors (float32, int64, bool, ...); "
             "give once for all inputs or once per input (default float32)")
    add("--int-high", type=int, default=100, metavar="N",
        help="integer inputs are drawn from [0, N) (default 100)")
    add("--inputs", metavar="MODULE:CALLABLE",
        help="callable returning the example inputs: a tuple, a tensor or a dict "
             "of keyword arguments (instead of --input-shape)")
    add("--path", action="append", default=[], metavar="DIR",
        help="directory prepended to sys.path (repeatable; default: the current "
             "directory)")
    add("--train", action="store_true",
        help="run in train mode (default: eval mode)")
    add("--seed", type=int, default=0, help="torch random seed (default 0)")
    add("--format", choices=("text", "json"), default="text", help="output format")
    add("--no-static", action="store_true",
        help="skip the static analysis and the cross-check")
    return parser


def run_verify(argv: list[str]) -> int:
    """CLI entry: `pylint-distiller verify ...` (argv without the subcommand)."""
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    saved_path = list(sys.path)
    try:
        return _verify(options)
    except VerifyError as exc:
        print(f"pylint-distiller verify: error: {exc}", file=sys.stderr)
        return 2
    finally:
        sys.path[:] = saved_path


def _verify(options: argparse.Namespace) -> int:
    for directory in reversed(options.path or [os.getcwd()]):
        sys.path.insert(0, os.path.abspath(directory))
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise VerifyError("verify needs torch: pip install 'pylint-distiller[torch]'") from None
    # pylint: disable-next=import-outside-toplevel
    from pylint_distiller.verify.runtime import trace_model

    torch.manual_seed(options.seed)
    model = _build_model(options, torch)
    model.train(options.train)
    args, kwargs = _build_inputs(options, torch)
    try:
        report = trace_model(model, args, kwargs=kwargs, trace_lines=not options.no_static)
    except Exception as exc:  # a user-code failure, e.g. a wrong input shape
        raise VerifyError(f"the forward pass failed: {_describe(exc)}") from None

    static: dict[str, Any] = {"ran": False, "files": [], "errors": [], "unavailable": None}
    check = None
    if not options.no_static:
        findings = _static_findings(report, static)
        if findings is not None:
            # pylint: disable-next=import-outside-toplevel
            from pylint_distiller.verify.crosscheck import cross_check

            check = cross_check(report, findings)
    status = 1 if report.finding_count else 0
    if options.format == "json":
        output = json.dumps(_json(options, report, static, check, status), indent=2)
    else:
        output = _text(options, report, static, check, status)
    try:
        print(output)
        sys.stdout.flush()
    except BrokenPipeError:  # `verify ... | head`: the reader left, the verdict stands
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status


# ------------------------------------------------------------------ loading


def _load(spec: str, what: str) -> Any:
    """Resolve 'module:attr.path' where module is a dotted name or a .py file."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise VerifyError(f"{what} must look like module:callable, got {spec!r}")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        module = _import_file(module_name)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.split(".")[0] == exc.name.split(".")[0]:
                raise VerifyError(f"cannot import {module_name!r}: {exc} "
                                  f"(sys.path starts with {sys.path[0]!r}; see --path)") from None
            raise VerifyError(f"importing {module_name!r} failed: {_describe(exc)}") from None
        except Exception as exc:  # an error in user code at import time
            raise VerifyError(f"importing {module_name!r} failed: {_describe(exc)}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise VerifyError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def _import_file(path: str) -> Any:
    if not os.path.isfile(path):
        raise VerifyError(f"no such file: {path!r}")
    name = os.path.splitext(os.path.basename(path))[0]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise VerifyError(f"cannot import {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # an error in user code at import time
        sys.modules.pop(name, None)
        raise VerifyError(f"importing {path!r} failed: {_describe(exc)}") from None
    return module


def _json_arg(text: str, flag: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerifyError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise VerifyError(f"{flag} must be a JSON {'list' if kind is list else 'object'}")
    return value


def _build_model(options: argparse.Namespace, torch: Any) -> Any:
    target = _load(options.target, "TARGET")
    args = _json_arg(options.args, "--args", list)
    kwargs = _json_arg(options.kwargs, "--kwargs", dict)
    if isinstance(target, torch.nn.Module):
        if args or kwargs:
            raise VerifyError("TARGET is a model instance: --args/--kwargs do not apply")
        model = target
    elif callable(target):
        try:
            model = target(*args, **kwargs)
        except Exception as exc:
            raise VerifyError(f"building the model failed: {_describe(exc)}") from None
    else:
        raise VerifyError(f"TARGET {options.target!r} is neither callable nor an nn.Module")
    if not isinstance(model, torch.nn.Module):
        raise VerifyError(
            f"TARGET {options.target!r} returned {type(model).__name__}, not an nn.Module"
        )
    return model


def _build_inputs(options: argparse.Namespace, torch: Any) -> tuple[tuple, dict]:
    if options.inputs and options.input_shape:
        raise VerifyError("give either --inputs or --input-shape, not both")
    if options.inputs:
        source = _load(options.inputs, "--inputs")
        try:
            value = source() if callable(source) else source
        except Exception as exc:
            raise VerifyError(f"--inputs failed: {_describe(exc)}") from None
        if isinstance(value, dict):
            return (), value
        if isinstance(value, list):
            value = tuple(value)
        return (value if isinstance(value, tuple) else (value,)), {}
    if not options.input_shape:
        raise VerifyError("no example input: give --input-shape (e.g. 1,3,224,224) or --inputs")
    dtypes = options.dtype or ["float32"]
    if len(dtypes) not in (1, len(options.input_shape)):
        raise VerifyError("give --dtype once, or once per --input-shape")
    tensors = []
    for i, shape_text in enumerate(options.input_shape):
        shape = _shape(shape_text)
        dtype = _dtype(dtypes[i if len(dtypes) > 1 else 0], torch)
        if dtype.is_floating_point or dtype.is_complex:
            tensors.append(torch.randn(shape, dtype=dtype))
        elif dtype == torch.bool:
            tensors.append(torch.randint(0, 2, shape).bool())
        else:
            tensors.append(torch.randint(0, options.int_high, shape, dtype=dtype))
    return tuple(tensors), {}


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in re.split(r"[,x]", text.strip()))
    except ValueError:
        shape = ()
    if not shape or any(d < 0 for d in shape):
        raise VerifyError(f"bad --input-shape {text!r}: expected sizes like 1,3,224,224")
    return shape


def _dtype(name: str, torch: Any) -> Any:
    dtype = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise VerifyError(f"unknown --dtype {name!r} (e.g. float32, float16, int64, bool)")
    return dtype


def _describe(exc: BaseException) -> str:
    """'Type: message (at file:line)', the location being the innermost frame of
    code that is neither torch nor this package: where the user should look."""
    text = f"{type(exc).__name__}: {exc}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename
        if f"{os.sep}torch{os.sep}" in path or f"{os.sep}pylint_distiller{os.sep}" in path:
            continue
        if path.startswith("<frozen"):
            continue
        return f"{text} (at {_rel(path)}:{frame.lineno})"
    return text


# ------------------------------------------------------------------ static


def _static_findings(report: Any, static: dict[str, Any]) -> list[Any] | None:
    try:
        from pylint_distiller.api import analyze_file  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        static["unavailable"] = f"static analysis unavailable ({exc})"
        return None
    files = list(dict.fromkeys([*report.files, *(s.path for s in report.op_sites)]))
    files = [f for f in files if os.path.isfile(f)]
    findings: list[Any] = []
    project = None
    if len(files) > 1:  # the model's files as one project: helpers, bases and shared modules across them
        from pylint_distiller.analysis import analyze_in_project  # pylint: disable=import-outside-toplevel
        from pylint_distiller.analysis.project import ProjectIndex  # pylint: disable=import-outside-toplevel

        project = ProjectIndex(files)
    from pylint_distiller.gc_pause import paused_collection  # pylint: disable=import-outside-toplevel

    with paused_collection():  # the project keeps every tree it parses: nothing for the collector
        for path in files:
            try:
                if project is not None and project.module(path) is not None:
                    findings.extend(analyze_in_project(project, path))
                else:
                    findings.extend(analyze_file(path))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # a file the analysis cannot read: note it and keep going
                static["errors"].append({"path": path, "error": f"{type(exc).__name__}: {exc}"})
    static["ran"] = True
    static["files"] = files
    return findings


# ------------------------------------------------------------------ output


def _rel(path: str | None) -> str:
    if not path:
        return "?"
    if path.startswith("<"):
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir + os.sep) or rel == os.pardir else rel


def _loc(path: str | None, line: int | None) -> str:
    return f"{_rel(path)}:{line if line is not None else '?'}"


def _source(path: str | None, line: int | None) -> str:
    text = linecache.getline(path, line).strip() if path and line else ""
    return text if len(text) <= 70 else text[:67] + "..."


def _limited(lines: list[str]) -> list[str]:
    if len(lines) <= _LIST_LIMIT:
        return lines
    more = len(lines) - _LIST_LIMIT
    return lines[:_LIST_LIMIT] + [f"    ... and {more} more (--format json lists all)"]


def _text(options, report, static, check, status: int) -> str:  # pylint: disable=too-many-locals
    mode = "train" if options.train else "eval"
    out = [
        f"verify {options.target}: one forward pass in {mode} mode, "
        f"{report.torch_calls} torch calls from model code, {report.module_calls} "
        f"module calls, {report.seconds * 1000:.1f} ms",
        "",
        f"Ops outside leaf modules: {len(report.op_sites)}",
    ]
    out += _limited([
        f"  {_loc(s.path, s.line)}  {s.op} x{s.count} in {s.module_class}"
        f"{f' ({s.module})' if s.module else ''}  | {_source(s.path, s.line)}"
        for s in report.op_sites
    ])
    out += ["", f"Modules run more than once: {len(report.reused_modules)}"]
    for m in report.reused_modules:
        sites = ", ".join(
            _loc(c.path, c.line) + (f" x{c.count}" if c.count > 1 else "") for c in m.call_sites
        )
        tied = " (has parameters: duplicating it unties weights)" if m.params else ""
        names = " = ".join(m.aliases)
        out.append(f"  {names} ({m.klass}, {m.params} params) ran {m.calls}x{tied}: {sites}")
    out += ["", f"Modules a quantizer cannot find: {len(report.inline_modules)}"]
    why = {"constructed": "constructed during forward", "unregistered": "not registered"}
    out += [
        f"  {_loc(m.path, m.line)}  {m.klass} x{m.count} ({why.get(m.kind, m.kind)})"
        f"  | {_source(m.path, m.line)}"
        for m in report.inline_modules
    ]
    out.append("")
    if options.no_static:
        out.append("Cross-check: skipped (--no-static)")
    elif check is None:
        out.append(f"Cross-check: skipped, {static['unavailable']}")
    else:
        out += _text_check(static, check)
    out += ["", _verdict(report, status)]
    return "\n".join(out)


def _text_check(static: dict[str, Any], check: Any) -> list[str]:
    counts = check.counts()
    out = [f"Cross-check with the static analysis of {len(static['files'])} file(s):"]
    for err in static["errors"]:
        out.append(f"  ! {_rel(err['path'])}: {err['error']}")

    def fnd(f: Any) -> str:
        return f"    {_loc(f.path, f.line)}  {f.symbol}: {f.message}"

    out.append(f"  found by both: {counts['both']}")
    out += _limited([fnd(m.finding) for m in check.both])
    out.append(f"  runtime only (static misses): {counts['runtime_only']}")
    out += _limited([_runtime_item(i) for i in check.runtime_only])
    out.append("  static only, line executed (static false alarms): "
               f"{counts['static_only_executed']}")
    out += _limited([fnd(f) for f in check.static_executed])
    out.append(f"  static only, line never ran: {counts['static_only_not_executed']}")
    out += _limited([fnd(f) for f in check.static_not_executed])
    if check.unobservable:
        out.append(f"  static only, not observable at runtime: {counts['not_runtime_observable']}")
        out += _limited([fnd(f) for f in check.unobservable])
    return out


def _runtime_item(item: Any) -> str:
    sites = ", ".join(_loc(p, ln) for p, ln in item.sites) or "?"
    if item.kind == "op":
        return f"    {sites}  op {item.label}  | {_source(*item.sites[0])}"
    if item.kind == "reused-module":
        return f"    {sites}  module {item.label or '(root)'} ran {item.record.calls}x"
    why = "constructed in forward" if item.record.kind == "constructed" else "not registered"
    return f"    {sites}  module {item.label} {why}"


def _verdict(report: Any, status: int) -> str:
    if status == 0:
        return "OK: no runtime findings: every compute op ran inside a leaf module, once."
    return (
        f"FAIL: {len(report.op_sites)} op site(s), {len(report.reused_modules)} reused "
        f"module(s), {len(report.inline_modules)} hidden module(s)"
    )


def _json(options, report, static, check, status: int) -> dict[str, Any]:
    runtime = report.as_dict()
    for record in (*runtime["op_sites"], *runtime["inline_modules"]):
        record["path"] = _rel(record["path"]) if record["path"] else None
    for record in runtime["reused_modules"]:
        for site in record["call_sites"]:
            site["path"] = _rel(site["path"])
    runtime["files"] = [_rel(p) for p in runtime["files"]]
    crosscheck = None
    if check is not None:
        crosscheck = check.as_dict()
        for key in ("both", "static_only_executed", "static_only_not_executed",
                    "not_runtime_observable"):
            for record in crosscheck[key]:
                record["path"] = _rel(record["path"])
                for item in record.get("runtime", ()):
                    for site in item["sites"]:
                        site["path"] = _rel(site["path"])
        for item in crosscheck["runtime_only"]:
            for site in item["sites"]:
                site["path"] = _rel(site["path"])
    return {
        "target": options.target,
        "mode": "train" if options.train else "eval",
        "exit_code": status,
        "runtime": runtime,
        "static": {
            "ran": static["ran"],
            "skipped": "--no-static" if options.no_static else static["unavailable"],
            "files": [_rel(p) for p in static["files"]],
            "errors": [dict(e, path=_rel(e["path"])) for e in static["errors"]],
        },
        "crosscheck": crosscheck,
    }
