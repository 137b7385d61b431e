"""Helpers for tests that EXECUTE model code, original and rewritten.

The rewrite contract (design.md) is behavioural: the prepared model loads the
original state_dict with ``strict=True``, gives the same outputs, and runs every
module once per forward pass. These helpers turn that contract into assertions:

* ``load_module_from_source``: run rewritten source text as a real module, with a
  real file behind it so tracebacks and ``inspect.getsource`` work;
* ``assert_same_model``: build both models from the same seed, move the original
  weights into the prepared one strictly, and compare outputs;
* ``count_module_calls``: how often each module instance ran in one forward pass;
* ``top_level_torch_ops``: which torch functions/tensor methods the model's own
  forward code called outside library modules, i.e. what a quantizer cannot see;
* ``stub_distiller_on_path``: make the test-only ``distiller`` stand-in importable.

Tests only: this module imports torch, which the linter itself never does.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import io
import itertools
import math
import os
import re
import shutil
import sys
import tempfile
import tokenize
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from pylint_distiller.analysis.generated_helpers import MARKER

STUBS_DIR = Path(__file__).resolve().parent.parent / "stubs"

_counter = itertools.count(1)
_tmp_root: str | None = None


# ---------------------------------------------------------------------------
# Loading source text as a module
# ---------------------------------------------------------------------------


def _temp_root() -> str:
    """One directory per test process, removed at exit.

    Files must outlive the call that wrote them: ``inspect`` and traceback
    formatting read them lazily, possibly long after the module was loaded.
    """
    global _tmp_root
    if _tmp_root is None:
        _tmp_root = tempfile.mkdtemp(prefix="pylint-distiller-src-")
        atexit.register(shutil.rmtree, _tmp_root, True)
    return _tmp_root


def _encode_for_disk(source: str) -> bytes:
    """Encode ``source`` the way Python will decode the file again.

    ``compile()`` ignores a coding cookie in a ``str``, but ``linecache`` (hence
    tracebacks and ``inspect``) honours the cookie when it reads the file back.
    """
    text = source[1:] if source.startswith("\ufeff") else source
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(text.encode("utf-8")).readline)
    except SyntaxError:  # unknown cookie: compile() will complain on its own terms
        encoding = "utf-8"
    return text.encode(encoding)


def load_module_from_source(
    source: str, name: str, path_hint: str | os.PathLike | None = None
) -> ModuleType:
    """Execute ``source`` as a fresh module and return it.

    Each call gets a unique ``sys.modules`` name (``<name>_<n>``), so the original
    and the rewritten version of one file can live side by side and repeated loads
    never see each other's state. The module's ``__file__`` is ``path_hint`` itself
    when that file holds exactly ``source`` (tracebacks then point at the real
    file); otherwise the source is written to a temporary file named like
    ``path_hint`` (or ``<name>.py``).
    """
    safe = re.sub(r"\W", "_", name) or "module"
    if safe[0].isdigit():
        safe = "_" + safe
    n = next(_counter)
    module_name = f"{safe}_{n}"

    filename = None
    if path_hint is not None:
        hint = Path(path_hint)
        with contextlib.suppress(OSError, UnicodeDecodeError):
            with tokenize.open(hint) as fh:
                if fh.read() == source:
                    filename = str(hint.resolve())
    if filename is None:
        basename = Path(path_hint).name if path_hint is not None else f"{safe}.py"
        directory = Path(_temp_root()) / str(n)
        directory.mkdir()
        path = directory / basename
        path.write_bytes(_encode_for_disk(source))
        filename = str(path)

    code = compile(source, filename, "exec", dont_inherit=True)
    module = ModuleType(module_name)
    module.__file__ = filename
    # Registered before execution, as the import system does, so that code that
    # looks itself up (dataclasses, typing, pickling) finds the module.
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


# ---------------------------------------------------------------------------
# Comparing models
# ---------------------------------------------------------------------------


def _clone_inputs(inputs: Any) -> Any:
    """Deep-copy tensors so an in-place op of one model cannot feed the other."""
    if isinstance(inputs, torch.Tensor):
        return inputs.clone()
    if isinstance(inputs, tuple) and hasattr(inputs, "_fields"):  # namedtuple
        return type(inputs)(*(_clone_inputs(x) for x in inputs))
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_clone_inputs(x) for x in inputs)
    if isinstance(inputs, dict):
        return {k: _clone_inputs(v) for k, v in inputs.items()}
    return inputs


def _assert_close(expected: Any, actual: Any, atol: float, where: str) -> None:
    """Recursive comparison; the message names the path of the first mismatch."""
    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        if not (isinstance(expected, torch.Tensor) and isinstance(actual, torch.Tensor)):
            raise AssertionError(f"{where}: {type(expected).__name__} vs {type(actual).__name__}")
        if expected.shape != actual.shape:
            raise AssertionError(f"{where}: shape {tuple(expected.shape)} vs {tuple(actual.shape)}")
        if expected.dtype != actual.dtype:
            raise AssertionError(f"{where}: dtype {expected.dtype} vs {actual.dtype}")
        a, b = expected.detach(), actual.detach()
        if not (a.is_floating_point() or a.is_complex()):
            if not torch.equal(a, b):
                diff = (a.long() - b.long()).abs().max().item() if a.numel() else 0
                raise AssertionError(f"{where}: integer tensors differ, max abs diff {diff}")
            return
        if not torch.equal(a.isnan(), b.isnan()):
            raise AssertionError(f"{where}: NaN positions differ")
        finite = ~a.isnan()
        diff = (a[finite] - b[finite]).abs().max().item() if finite.any() else 0.0
        if not diff <= atol:  # also catches diff == nan (inf - inf)
            raise AssertionError(f"{where}: max abs diff {diff:.3e} > atol {atol:.1e}")
        return

    # Transformers' ModelOutput is also a dict; compare it by its tuple view,
    # which is what positional consumers of the output see.
    if hasattr(expected, "to_tuple") or hasattr(actual, "to_tuple"):
        if type(expected) is not type(actual):
            raise AssertionError(f"{where}: {type(expected).__name__} vs {type(actual).__name__}")
        _assert_close(expected.to_tuple(), actual.to_tuple(), atol, f"{where}.to_tuple()")
        return
    if isinstance(expected, (tuple, list)):
        if type(expected) is not type(actual):
            raise AssertionError(f"{where}: {type(expected).__name__} vs {type(actual).__name__}")
        if len(expected) != len(actual):
            raise AssertionError(f"{where}: length {len(expected)} vs {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            _assert_close(e, a, atol, f"{where}[{i}]")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or list(expected) != list(actual):
            got = list(actual) if isinstance(actual, dict) else type(actual).__name__
            raise AssertionError(f"{where}: keys {list(expected)} vs {got}")
        for key in expected:
            _assert_close(expected[key], actual[key], atol, f"{where}[{key!r}]")
        return
    if isinstance(expected, float) and isinstance(actual, float):
        both_nan = math.isnan(expected) and math.isnan(actual)
        if not (both_nan or math.isclose(expected, actual, rel_tol=0.0, abs_tol=atol)):
            raise AssertionError(f"{where}: {expected!r} vs {actual!r}")
        return
    if expected != actual:
        raise AssertionError(f"{where}: {expected!r} vs {actual!r}")


def assert_same_model(
    original_module: ModuleType,
    prepared_module: ModuleType,
    build_name: str = "build",
    inputs: Sequence[Any] | None = None,
    seed: int = 0,
    atol: float = 1e-6,
    modes: Sequence[str] = ("eval",),
) -> tuple[nn.Module, nn.Module]:
    """Assert that ``prepared_module`` builds the same model as ``original_module``.

    Both are built after ``torch.manual_seed(seed)``; the prepared model must then
    accept the ORIGINAL state_dict with ``strict=True`` (new modules such as
    EltwiseAdd or FloatFunctional have no parameters, so the keys must not move).
    Each mode in ``modes`` ("eval", "train") runs both models on fresh copies of
    the same inputs (``original_module.example_inputs()`` by default); eval runs
    under ``torch.no_grad()``, train runs with autograd, as QAT would. Returns
    ``(original, prepared)`` after the last mode.
    """
    unknown = set(modes) - {"eval", "train"}
    if unknown:
        raise ValueError(f"unknown modes {sorted(unknown)}; use 'eval' and/or 'train'")

    torch.manual_seed(seed)
    original = getattr(original_module, build_name)()
    torch.manual_seed(seed)
    prepared = getattr(prepared_module, build_name)()
    prepared.load_state_dict(original.state_dict(), strict=True)

    if inputs is None:
        inputs = original_module.example_inputs()
    inputs = tuple(inputs)

    for mode in modes:
        training = mode == "train"
        original.train(training)
        prepared.train(training)
        grad = contextlib.nullcontext() if training else torch.no_grad()
        with grad:
            # Same seed per run, so any randomness in forward matches too.
            torch.manual_seed(seed)
            expected = original(*_clone_inputs(inputs))
            torch.manual_seed(seed)
            actual = prepared(*_clone_inputs(inputs))
        _assert_close(expected, actual, atol, f"{mode} output")
    return original, prepared


# ---------------------------------------------------------------------------
# Observing a forward pass
# ---------------------------------------------------------------------------


def count_module_calls(model: nn.Module, inputs: Sequence[Any]) -> dict[str, int]:
    """Run one forward pass and count the forward calls of every module instance.

    Keys are qualified names from ``named_modules()`` (the root is ``""``); modules
    that did not run are reported with 0. An instance registered under several
    names appears once, under its first name, with all its calls: exactly the
    reuse a quantizer suffers from. The model's train/eval mode is kept; autograd
    is off. Calls that bypass ``__call__`` (``m.forward(x)``) are not seen, just
    as quantizer hooks would not see them.
    """
    counts: dict[str, int] = {}
    handles = []

    def make_hook(qualified: str) -> Callable:
        def hook(module, args, output):
            counts[qualified] += 1

        return hook

    for qualified, module in model.named_modules():
        counts[qualified] = 0
        handles.append(module.register_forward_hook(make_hook(qualified)))
    try:
        with torch.no_grad():
            model(*_clone_inputs(tuple(inputs)))
    finally:
        for handle in handles:
            handle.remove()
    return counts


def _is_library_module(module: nn.Module) -> bool:
    """torch's own modules and the distiller stand-in: their insides are not
    the model's forward code, they are what a quantizer hooks."""
    owner = type(module).__module__
    return owner.startswith("torch.") or owner == "torch" or owner.split(".")[0] == "distiller"


def _op_name(func: Callable) -> str:
    name = getattr(func, "__name__", None)
    if name == "__get__":  # a Tensor property such as .shape or .device
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name or repr(func)


class _RecordOps(TorchFunctionMode):
    def __init__(self, depth: list[int], seen: Counter):
        super().__init__()
        self._depth = depth
        self._seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self._depth[0] == 0:
            self._seen[_op_name(func)] += 1
        return func(*args, **(kwargs or {}))


def top_level_torch_ops(model: nn.Module, inputs: Sequence[Any]) -> Counter:
    """Run one forward pass and count the torch functions and tensor methods
    called by the model's OWN forward code, i.e. outside torch.nn / distiller
    modules (``__add__``, ``__iadd__``, ``cat``, ``sigmoid``, ``view``, ``size``,
    properties such as ``shape``...).

    This is the runtime ground truth for what a module-level quantizer cannot
    see: compute ops in the result are findings, shape and indexing ops are not.
    Ops on non-tensors (int arithmetic on sizes) never reach torch and so never
    show up. Autograd is off, the training mode is kept.
    """
    depth = [0]
    seen: Counter = Counter()
    handles = []

    def enter(module, args):
        depth[0] += 1

    def leave(module, args, output):
        depth[0] -= 1

    for module in model.modules():
        if module is not model and _is_library_module(module):
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave, always_call=True))
    args = _clone_inputs(tuple(inputs))  # outside the mode: not the model's op
    try:
        with torch.no_grad(), _RecordOps(depth, seen):
            model(*args)
    finally:
        for handle in handles:
            handle.remove()
    return seen


# ---------------------------------------------------------------------------
# The distiller stand-in
# ---------------------------------------------------------------------------


def _distiller_entries() -> dict[str, ModuleType]:
    return {k: v for k, v in sys.modules.items() if k == "distiller" or k.startswith("distiller.")}


@contextlib.contextmanager
def stub_distiller_on_path() -> Iterator[Path]:
    """Make ``import distiller.modules`` resolve to the test-only stand-in.

    On exit the stubs directory leaves ``sys.path`` and the ``distiller`` entries
    leave ``sys.modules`` (whatever was there before is put back), so no other
    test can import the stand-in by accident. Modules loaded meanwhile keep their
    references and go on working. Yields the stubs directory.
    """
    saved = _distiller_entries()
    for key in saved:
        del sys.modules[key]
    entry = str(STUBS_DIR)
    sys.path.insert(0, entry)
    try:
        yield STUBS_DIR
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for key in _distiller_entries():
            del sys.modules[key]
        sys.modules.update(saved)


# ---------------------------------------------------------------------------
# torch-eager float islands
# ---------------------------------------------------------------------------

_ISLAND = re.compile(r"\.\w+_quant(?:_\d+)?\(.*\.\w+_dequant(?:_\d+)?\(")


_HELPER_ISLAND = re.compile(r"\.\w+_quant(?:_\d+)?\((\w+)\(")


def island_lines(text: str) -> set[int]:
    """Lines of torch-eager float islands (`self.sub_quant(self.sub_dequant(a) - ...)`), and the body of
    a module-level helper called in one (`self.swish_quant(swish(...))`): their ops run in float on
    purpose, between a DeQuantStub and a QuantStub (tests/test_islands_runtime.py). Also the body of
    a helper a fix generated (its docstring carries MARKER): `cat_common_qparams()` runs `torch.cat`
    where no module can hold it, and picks the quantized output's qparams itself."""
    lines = {i for i, line in enumerate(text.splitlines(), 1) if _ISLAND.search(line)}
    helpers = {m.group(1) for i in lines for m in _HELPER_ISLAND.finditer(text.splitlines()[i - 1])}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and (node.name in helpers or MARKER in (ast.get_docstring(node) or "")):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines
