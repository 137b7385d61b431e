"""Run `fix` on the source of an INSTALLED package's model and execute both versions.

Real model code lives in packages (torchvision, timm, transformers) whose files
import each other with relative imports. To run a rewritten file, it is written to
a temporary file and imported as a SIBLING of the installed one
(``torchvision.models.resnet__fix3``): its relative imports then resolve to the
installed package. A model usually spans several files (timm's ``MixedConv2d``
lives in ``timm/layers``, the network that uses it in ``timm/models``), so
`substituted` loads every file of a set this way and, while its context is open,
points every reference the package holds to an original class or function at the
loaded one: the package's own builders then build the loaded classes.

The ORIGINAL text goes through the same loader, so the original and the prepared
model differ only by the rewrite, and the tracer sees both in temporary files.

`check_fixed_model` is the whole contract for one model, target and fix level;
tests/test_fix_realcode_vision.py asserts it, benchmarks/vision_sweep.py records it.

Tests and benchmarks only: this module imports torch, which the linter never does.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import importlib.util
import inspect
import itertools
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn
from torch.ao.nn.quantized import FloatFunctional

from pylint_distiller.analysis.loop_sharing import SHARED_NOTE
from pylint_distiller.findings import Applicability
from pylint_distiller.fixer.engine import allowed, fix_source
from pylint_distiller.settings import Settings
from pylint_distiller.verify.runtime import trace_model
from tests.support.runtime_equivalence import stub_distiller_on_path

ATOL = 1e-5
_counter = itertools.count(1)


# ------------------------------------------------------------------ loading one file
def load_sibling(package: str, stem: str, text: str, folder: str) -> tuple[ModuleType, str]:
    """Import `text` as ``<package>.<stem>__fix<n>`` from a file in `folder`; (module, realpath)."""
    n = next(_counter)
    name = f"{package}.{stem}__fix{n}"
    path = os.path.join(folder, f"{stem}__fix{n}.py")
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module, os.path.realpath(path)


@contextlib.contextmanager
def _registries_off() -> Iterator[None]:
    """Model registries of torchvision (raises on a duplicate name) and timm (overwrites
    the global entry) must not see the sibling copies: their decorators become no-ops."""
    saved = []

    def patch(module_name: str, attr: str, value: Any) -> None:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, attr):
            saved.append((module, attr, getattr(module, attr)))
            setattr(module, attr, value)

    patch("torchvision.models._api", "register_model", lambda name=None: (lambda fn: fn))
    patch("timm.models._registry", "register_model", lambda fn: fn)
    patch("timm.models._registry", "register_model_deprecations", lambda *a, **k: None)
    try:
        yield
    finally:
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)


# ------------------------------------------------------------------ a set of files
@dataclass
class Loaded:
    """Loaded siblings of a set of original modules."""

    modules: dict[str, ModuleType] = field(default_factory=dict)  # original module name -> sibling
    paths: dict[str, str] = field(default_factory=dict)  # original module name -> sibling realpath

    @property
    def files(self) -> set[str]:
        return set(self.paths.values())


def _eager_items(table: dict) -> bool:
    """A dict whose `items()` is the stored items (timm's `_NORM_ACT_MAP`, transformers' `ACT2FN`).

    Not a lazy mapping: transformers' `_LazyAutoMapping` overrides `items()` to import every
    model it names, and raises on a name the installed release lists but does not define."""
    return type(table).items in (dict.items, collections.OrderedDict.items)


def _own_objects(module: ModuleType) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items()
            if (inspect.isclass(v) or inspect.isfunction(v)) and getattr(v, "__module__", None) == module.__name__}


def import_order(names) -> list[str]:
    """`names` with every module after the ones of the set it imports from (else in the given order).

    A file's module-level bindings are fixed when it runs: a default argument
    `se_layer=partial(SElayer, ...)` (torchvision mobilenetv3) keeps the class it saw, which
    no later rebinding of module attributes reaches. So a file imported FROM is loaded first,
    and the importing file binds its sibling. What a module imports is read from the installed
    module's globals (classes and functions defined in another module of the set)."""
    names = list(names)
    wanted = set(names)
    deps = {}
    for name in names:
        module = importlib.import_module(name)
        deps[name] = {getattr(v, "__module__", None) for v in vars(module).values()
                      if inspect.isclass(v) or inspect.isfunction(v)} & wanted - {name}
    out: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in out or name in visiting:
            return  # loaded already, or an import cycle: keep the given order
        visiting.add(name)
        for dep in (n for n in names if n in deps[name]):
            visit(dep)
        out.append(name)

    for name in names:
        visit(name)
    return out


@contextlib.contextmanager
def substituted(texts: dict[str, str], folder: str, roots: tuple[str, ...]) -> Iterator[Loaded]:
    """Load `texts` ({module name: source}, bases' files first) as siblings and, while
    open, replace every reference to an original class/function of those modules held
    by a module under `roots` (package prefixes) with the sibling's object."""
    loaded = Loaded()
    undo: list[tuple[Any, str, Any]] = []
    added: list[tuple[Any, str]] = []

    def patch_references(mapping: dict[int, Any]) -> None:
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(roots):
                continue
            for attr, value in list(vars(module).items()):
                new = mapping.get(id(value))
                if new is not None and new is not value:
                    undo.append((module, attr, value))
                    setattr(module, attr, new)
                elif isinstance(value, set) or isinstance(value, dict) and _eager_items(value):
                    patch_registry(module, attr, value, mapping)

    def patch_registry(module, attr, value, mapping: dict[int, Any]) -> None:
        """A module-level table of classes (timm's `_NORM_ACT_MAP`, `_NORM_ACT_TYPES`): the siblings
        are added beside the originals (sets) or replace them (dict values), so a lookup by the
        sibling class still finds its entry. The original table object comes back on exit."""
        if isinstance(value, dict):
            items = {k: mapping[id(v)] for k, v in value.items() if id(v) in mapping and mapping[id(v)] is not v}
            if items:
                undo.append((module, attr, value))
                table = copy.copy(value)  # its own type: transformers' ACT2FN instantiates on lookup
                table.update(items)
                setattr(module, attr, table)
        else:
            added = {mapping[id(v)] for v in value if id(v) in mapping}
            if added - value:
                undo.append((module, attr, value))
                setattr(module, attr, value | added)

    try:
        with stub_distiller_on_path(), _registries_off():
            for module_name in import_order(texts):
                text = texts[module_name]
                original = importlib.import_module(module_name)
                package, _, stem = module_name.rpartition(".")
                sibling, path = load_sibling(package, stem, text, folder)
                loaded.modules[module_name], loaded.paths[module_name] = sibling, path
                # patched at once, so a later file's `from .x import Base` binds the sibling's Base
                patch_references({id(obj): getattr(sibling, attr) for attr, obj in _own_objects(original).items()
                                  if hasattr(sibling, attr)})
                # a class the fix added (a helper lifted across files) is importable from the original
                # name too: the caller's `from pkg.helpers import NewClass` reads the original module
                for attr, obj in _own_objects(sibling).items():
                    if not hasattr(original, attr):
                        setattr(original, attr, obj)
                        added.append((original, attr))
        yield loaded
    finally:
        for module, attr, value in reversed(undo):
            setattr(module, attr, value)
        for module, attr in added:
            delattr(module, attr)


def model_files(model: nn.Module, roots: tuple[str, ...], extra: tuple[str, ...] = ()) -> list[str]:
    """Module names (bases first) of the files under `roots` defining the model's module classes."""
    out: list[str] = []
    for name in extra:
        if name not in out:
            out.append(name)
    for module in model.modules():
        for klass in reversed(type(module).__mro__):
            name = klass.__module__
            if name.startswith(roots) and name not in out and "__fix" not in name:
                out.append(name)
    return out


def source_of(module_name: str) -> tuple[str, str]:
    """(path, text) of an installed module."""
    path = inspect.getsourcefile(importlib.import_module(module_name))
    with open(path, encoding="utf-8", newline="") as stream:
        return path, stream.read()


# ------------------------------------------------------------------ observing a pass
def tensors(value) -> list[torch.Tensor]:
    """Every tensor of a model output, in order (ModelOutput, tuples, dicts, detection lists)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if hasattr(value, "to_tuple"):
        return tensors(value.to_tuple())
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors(v)]
    return []


def reused(model: nn.Module, args, kwargs) -> set[str]:
    """Qualified names of the modules called more than once in one eval pass."""
    counts: dict[str, int] = {}
    handles = []
    for qualified, module in model.named_modules():
        counts[qualified] = 0
        handles.append(module.register_forward_hook(
            lambda *_, q=qualified: counts.__setitem__(q, counts[q] + 1)))
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return {n for n, c in counts.items() if c > 1}


def newly_reused(before: set[str], after: set[str]) -> set[str]:
    """Modules reused after but not before, leaving out those inside a module the
    original already calls several times per pass (its whole subtree is reused then)."""
    return {n for n in after - before if not any(n.startswith(r + ".") for r in before if r)}


def shared_members(applied) -> set[str]:
    """Names of the members applied torch-eager fixes declare shared by every run of a loop."""
    return {f.fix.member.name for f in applied if f.fix.member and SHARED_NOTE in f.message}


def declared_shared(model: nn.Module, path: str, shared: set[str]) -> bool:
    """`path` (or its observer) is a FloatFunctional member a torch-eager fix declared shared by every run."""
    parts = path.split(".")
    if parts[-1] == "activation_post_process":
        parts = parts[:-1]
    if not parts or parts[-1] not in shared:
        return False
    try:
        module = model.get_submodule(".".join(parts))
    except AttributeError:
        return False
    return isinstance(module, FloatFunctional)


# ------------------------------------------------------------------ the contract
#: Behaviour changes an applied UNSAFE fix declares, and which check each exempts.
#: Key changes: the original state_dict cannot load strictly (renamed keys of a
#: quantizable variant, new keys of an untied copy); output changes: eval outputs may
#: differ (F.dropout trains in eval mode; an untied copy keeps its initial weights).
KEY_CHANGES = ("state_dict keys differ", "unties the weights")
OUTPUT_CHANGES = KEY_CHANGES + ("F.dropout trains",)


def declared_changes(finding) -> list[str]:
    """What the applied unsafe fix of `finding` declares (see KEY_CHANGES, OUTPUT_CHANGES)."""
    if finding.fix.applicability is not Applicability.UNSAFE:
        return []
    if finding.symbol == "reused-module":  # the fix deep-copies a module that (may) hold parameters
        return ["unties the weights"]
    return [change for change in OUTPUT_CHANGES if change in finding.message]


@dataclass
class Case:
    """A model of an installed package: how to build it and what to feed it."""

    build: Callable[[], nn.Module]  # builds from the package's CURRENT bindings
    inputs: Callable[[], tuple]
    roots: tuple[str, ...]  # package prefixes whose files are rewritten
    extra: tuple[str, ...] = ()  # module names rewritten even without a module class in the model


@dataclass
class Outcome:  # pylint: disable=too-many-instance-attributes
    """What one (model, target, fix level) run gave; `failures` empty means the contract held."""

    files: list[str] = field(default_factory=list)
    applied: int = 0
    before: int = 0  # compute-op sites executed outside modules in the model's files
    after: int = 0
    left_fixable: list = field(default_factory=list)  # sites a fix of this level would still move
    newly_reused: set[str] = field(default_factory=set)
    refusals: list[tuple[str, int, str]] = field(default_factory=list)  # (module, line, `symbol: reason`)
    declared: list[str] = field(default_factory=list)  # behaviour changes applied unsafe fixes declare
    broke: str | None = None  # the prepared model's exception (stage: type: text)
    loads_strictly: bool | None = None  # None: not tried (broke earlier, or a declared key change)
    same_outputs: bool | None = None  # None: not compared (broke, or a declared output change)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class _Pass:
    model: nn.Module
    outputs: list[torch.Tensor]
    sites: list
    reused: set[str]
    paths: dict[str, str]  # module name -> loaded file


class StageError(Exception):
    """An exception of one stage (load, build, strict load, run) of a prepared model."""

    def __init__(self, stage: str, exc: BaseException):
        super().__init__(f"{stage}: {type(exc).__name__}: {exc}"[:600])
        self.stage = stage


@contextlib.contextmanager
def _stage(name: str) -> Iterator[None]:
    try:
        yield
    except StageError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise StageError(name, exc) from exc


def _execute(case: Case, texts: dict[str, str], folder: str, seed: int, state=None) -> _Pass:
    with _stage("import"), substituted(texts, folder, case.roots) as loaded:
        with _stage("build"):
            torch.manual_seed(seed)
            model = case.build().eval()
        if state is not None:
            with _stage("strict load"):
                model.load_state_dict(state, strict=True)
        args = case.inputs()
        with _stage("run"), torch.no_grad():
            outputs = tensors(model(*args))
        with _stage("trace"):
            report = trace_model(model, args, source_filter=lambda p: p in loaded.files)
            return _Pass(model, outputs, report.op_sites, reused(model, args, {}), dict(loaded.paths))


@functools.lru_cache(maxsize=256)
def fixed(text: str, path: str, target: str, unsafe: bool):
    """`fix_source` once per file text, target and level (files shared by many models)."""
    return fix_source(text, path, Settings(target=target), unsafe=unsafe)


def check_fixed_model(case: Case, target: str, unsafe: bool, folder: str, seed: int = 0,
                      files: list[str] | None = None, original: _Pass | None = None) -> Outcome:
    """Fix every file of the case's model for `target` (safe, or safe+unsafe), build the
    original and the prepared model from one seed, load the ORIGINAL state_dict strictly,
    compare eval outputs, trace both passes; what breaks the contract goes to `failures`.

    An unsafe fix that declares different state_dict keys or outputs (see
    KEY_CHANGES) exempts the run from that check only; it must still build,
    run, leave nothing fixable outside modules and create no reuse (but the FloatFunctional a
    torch-eager fix declares shared by every run of a loop, see loop_sharing.py). Exceptions of the
    ORIGINAL (build or run) propagate: the model itself does not work.
    """
    out = Outcome()
    if files is None:
        torch.manual_seed(seed)
        files = model_files(case.build(), case.roots, case.extra)
    out.files = files
    sources = {name: source_of(name) for name in files}
    if original is None:
        original = run_original(case, files, folder, seed)
    out.before = len(original.sites)

    texts, remaining = {}, {}
    shared: set[str] = set()  # torch-eager members a fix declares shared by every run (loop_sharing.py)
    for name, (path, text) in sources.items():
        result = fixed(text, path, target, unsafe)
        texts[name], remaining[name] = result.text, result.remaining
        out.applied += len(result.applied)
        shared |= shared_members(result.applied)
        out.declared += [change for f in result.applied for change in declared_changes(f)]
        out.refusals += [(name, f.line, refusal(f)) for f in result.remaining if not allowed(f, unsafe)]
        if fixed(result.text, path, target, unsafe).text != result.text:
            out.failures.append(f"{name}: fix is not idempotent")
    keys_declared = any(change in KEY_CHANGES for change in out.declared)
    try:
        prepared = _execute(case, texts, folder, seed, state=None if keys_declared else original.model.state_dict())
    except StageError as exc:
        out.broke = str(exc)
        out.loads_strictly = False if exc.stage == "strict load" else None
        out.failures.append(f"prepared model broke: {exc}")
        return out
    out.loads_strictly = None if keys_declared else True
    failures = len(out.failures)
    _compare(original.outputs, prepared.outputs, exact=not out.declared, failures=out.failures)
    out.same_outputs = None if out.declared else len(out.failures) == failures
    out.after = len(prepared.sites)
    if out.after > out.before:
        out.failures.append(f"op sites outside modules grew: {out.before} -> {out.after}")
    by_path = {prepared.paths[name]: remaining[name] for name in remaining}
    for site in prepared.sites:
        for finding in by_path.get(site.path, ()):
            if finding.line <= site.line <= (finding.end_line or finding.line) and allowed(finding, unsafe):
                out.left_fixable.append((os.path.basename(site.path), site.line, site.op))
    if out.left_fixable:
        out.failures.append(f"fixable ops still outside modules: {out.left_fixable}")
    out.newly_reused = {n for n in newly_reused(original.reused, prepared.reused)
                        if not declared_shared(prepared.model, n, shared)}
    if out.newly_reused:
        out.failures.append(f"modules newly called more than once per pass: {sorted(out.newly_reused)}")
    if callable(getattr(prepared.model, "fuse_model", None)) and not out.declared:
        _check_fused(prepared.model, case, original.outputs, out.failures)
    return out


def _check_fused(model: nn.Module, case: Case, expected: list[torch.Tensor], failures: list[str]) -> None:
    """`fuse_model()` (fusion, run-time float islands) in eval mode keeps the outputs, up to BN-folding rounding."""
    try:
        with torch.no_grad():
            model.fuse_model()
            actual = tensors(model(*case.inputs()))
    except Exception as exc:  # pylint: disable=broad-except
        failures.append(f"fuse_model() broke the model: {type(exc).__name__}: {exc}"[:600])
        return
    for i, (a, b) in enumerate(zip(expected, actual)):
        if a.shape != b.shape or a.numel() and (a - b).abs().max().item() > 1e-4 * max(1.0, a.abs().max().item()):
            failures.append(f"output {i} changed after fuse_model()")


def run_original(case: Case, files: list[str], folder: str, seed: int = 0) -> _Pass:
    """The original files through the same loader: the baseline of `check_fixed_model`."""
    return _execute(case, {name: source_of(name)[1] for name in files}, folder, seed)


def _compare(expected: list[torch.Tensor], actual: list[torch.Tensor], exact: bool, failures: list[str]) -> None:
    if len(actual) != len(expected):
        failures.append(f"{len(expected)} output tensors vs {len(actual)}")
    for i, (a, b) in enumerate(zip(expected, actual)):
        if a.shape != b.shape:
            failures.append(f"output {i}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
        elif exact and a.numel() and not (a - b).abs().max().item() <= ATOL:
            failures.append(f"output {i}: max abs diff {(a - b).abs().max().item():.3e} > {ATOL}")


def refusal(finding) -> str:
    """`symbol: reason` of a finding left alone (manual or no fix; unsafe at the safe level).

    The reason is the message's last parenthesised part (the plan's note), which may
    itself hold parentheses."""
    fix = finding.fix
    if fix is not None and fix.applies:
        return f"{finding.symbol}: unsafe fix not applied"
    message = finding.message.rstrip()
    depth, start = 0, None
    for i in range(len(message) - 1, -1, -1) if message.endswith(")") else ():
        depth += {")": 1, "(": -1}.get(message[i], 0)
        if depth == 0:
            start = i
            break
    return f"{finding.symbol}: {message[start + 1:-1] if start is not None else 'no reason given'}"
