"""Trace one forward pass and report what a module-level quantizer cannot see.

Static analysis guesses which values are tensors and which calls run twice; a run
knows. `trace_model` executes ONE forward pass and watches it two ways:

* a `torch.overrides.TorchFunctionMode` sees every torch function, tensor method
  and tensor operator that user code calls (the mode is switched off while its
  handler runs, so the nested calls inside one op are not seen: each event is the
  op exactly as the user's code spelled it);
* global forward pre/post hooks keep the stack of running modules and count the
  calls of each module; a temporary wrapper around `nn.Module.__init__` sees
  modules built while forward runs.

An op is a finding when it computes on floating-point values, was called from user
code (not from inside torch), and the innermost running module has children: such
a module is a container whose forward glues its children together, and the glue
is invisible to a quantizer that swaps modules by type. An op inside the forward of
a LEAF module (`EltwiseAdd`, `FloatFunctional`, a custom `LayerNorm2d`) belongs to
that module, which the quantizer handles as one unit.

User code is the innermost frame outside torch and outside pylint_distiller; it is
found by walking `sys._getframe()` links (no `inspect.stack()`, which reads source
files for every frame). Per-code-object results are cached, so the cost per op is
a short walk of a few frames plus dictionary lookups.

Not thread-safe: hooks and the `__init__` wrapper are process-wide while the pass
runs and only events from the tracing thread are recorded.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn.modules import module as _module_mod
from torch.overrides import TorchFunctionMode, resolve_name

__all__ = [
    "OP_CATEGORIES",
    "CallSite",
    "InlineModule",
    "OpSite",
    "ReusedModule",
    "RuntimeReport",
    "classify_op",
    "op_name",
    "reads_activation",
    "source_files",
    "trace_model",
]

# --------------------------------------------------------------------------- ops

OP_CATEGORIES: dict[str, frozenset[str]] = {
    # Ops that compute new activation values. Module-level quantizers only
    # quantize module outputs, so each of these called from a container's forward
    # stays in float (or needs a module: EltwiseAdd, Concat, nn.Sigmoid, ...).
    "compute": frozenset(
        """
        add sub subtract rsub mul multiply div divide true_divide floor_divide
        remainder fmod pow float_power neg negative abs absolute reciprocal sqrt
        rsqrt exp exp2 expm1 log log2 log10 log1p square sign sgn round floor
        ceil trunc frac addcmul addcdiv lerp clamp clip clamp_min clamp_max
        maximum minimum fmax fmin where hypot atan2 sin cos tan asin acos atan
        sinh cosh erf erfc erfinv xlogy
        __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__
        __imul__ __truediv__ __rtruediv__ __itruediv__ __div__ __rdiv__
        __idiv__ __floordiv__ __rfloordiv__ __ifloordiv__ __mod__ __rmod__
        __imod__ __pow__ __rpow__ __ipow__ __matmul__ __rmatmul__ __imatmul__
        __neg__ __pos__ __abs__
        matmul mm bmm baddbmm addmm addbmm addmv mv dot vdot inner outer ger
        einsum tensordot linear bilinear conv1d conv2d conv3d conv_transpose1d
        conv_transpose2d conv_transpose3d scaled_dot_product_attention
        multi_head_attention_forward
        cat concat concatenate stack hstack vstack dstack column_stack
        relu relu6 leaky_relu elu selu celu gelu silu mish sigmoid tanh
        hardtanh hardsigmoid hardswish softplus softsign prelu rrelu glu
        logsigmoid tanhshrink softshrink hardshrink threshold softmax
        log_softmax softmin
        mean sum nansum prod norm std var std_mean var_mean max min amax amin
        aminmax logsumexp cumsum cumprod cummax cummin argmax argmin topk sort
        median
        layer_norm batch_norm group_norm instance_norm local_response_norm
        normalize rms_norm dropout dropout1d dropout2d dropout3d alpha_dropout
        feature_alpha_dropout embedding embedding_bag one_hot
        avg_pool1d avg_pool2d avg_pool3d max_pool1d max_pool2d max_pool3d
        adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
        adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d lp_pool1d
        lp_pool2d interpolate upsample upsample_nearest upsample_bilinear
        grid_sample pixel_shuffle pixel_unshuffle cosine_similarity
        pairwise_distance cdist
        """.split()
    ),
    # Ops that only move, view, slice or re-type existing values. A quantized
    # tensor passes through them unchanged (torchvision's hand-prepared models
    # leave view/flatten/chunk alone), so they are never findings.
    "data-movement": frozenset(
        """
        view view_as reshape reshape_as permute transpose swapaxes swapdims t
        flatten unflatten contiguous unsqueeze squeeze expand expand_as
        broadcast_to chunk split split_with_sizes tensor_split unbind narrow
        select index_select gather take take_along_dim masked_select movedim
        moveaxis repeat repeat_interleave tile roll flip fliplr flipud
        diagonal tril triu pad unfold
        __getitem__ __setitem__ __iter__ __reversed__ copy_ clone detach to
        cpu cuda float double half bfloat16 int long bool byte char short
        type type_as requires_grad_ numpy tolist item
        """.split()
    ),
    # Ops that create fresh tensors from Python values or shapes (masks, position
    # ids, buffers): their inputs are not activations.
    "factory": frozenset(
        """
        arange range zeros ones full empty rand randn randint randperm tensor
        as_tensor asarray from_numpy zeros_like ones_like full_like empty_like
        rand_like randn_like randint_like linspace logspace eye tril_indices
        triu_indices new_zeros new_ones new_full new_empty new_tensor fill_
        zero_ normal_ uniform_ bernoulli bernoulli_ multinomial
        """.split()
    ),
    # Questions about a tensor rather than computations on its values.
    "metadata": frozenset(
        """
        size dim ndimension numel nelement element_size stride storage_offset
        is_contiguous is_floating_point is_complex is_tensor is_nonzero
        data_ptr get_device has_names dim_order __len__ __bool__ __int__
        __float__ __index__ __format__ __repr__ __hash__ __contains__
        __reduce_ex__ __deepcopy__ __get__ __set__ __array__
        """.split()
    ),
    # Comparisons and boolean logic build masks; bool tensors are never quantized
    # and neither target has a module for them.
    "mask": frozenset(
        """
        eq ne lt le gt ge greater greater_equal less less_equal equal not_equal
        __eq__ __ne__ __lt__ __le__ __gt__ __ge__ logical_and logical_or
        logical_not logical_xor __and__ __rand__ __iand__ __or__ __ror__
        __ior__ __xor__ __rxor__ __ixor__ __invert__ bitwise_and bitwise_or
        bitwise_xor bitwise_not isnan isinf isfinite isclose allclose any all
        nonzero argwhere masked_fill_ masked_fill
        """.split()
    ),
}
"""Which torch calls are quantization findings, by short name (last component).

The categories are data so that tests and docs can read them and a missed op is a
one-word fix. In-place variants (`add_`) are looked up without the underscore.
Names in no category are reported as category "unknown" and are treated like
compute ops: a gate that silently ignores an op it does not know is worse than
one that shows it. `masked_fill` sits with masks because attention code uses it to
apply them; it does not create new activation values.
"""

_FINDING_CATEGORIES = frozenset({"compute", "unknown"})
_SHORT_TO_CATEGORY = {
    short: category for category, names in OP_CATEGORIES.items() for short in names
}


def classify_op(name: str) -> str:
    """Category of a resolved torch name such as ``torch.Tensor.add_``."""
    parts = name.rsplit(".", 2)
    short = parts[-1]
    if short in ("__get__", "__set__") and len(parts) == 3:
        return "metadata"  # property access: x.shape, x.dtype, x.T, ...
    category = _SHORT_TO_CATEGORY.get(short)
    if category is None and short.endswith("_") and not short.endswith("__"):
        category = _SHORT_TO_CATEGORY.get(short[:-1])
    return category or "unknown"


def op_name(func: Callable[..., Any]) -> str:
    try:
        name = resolve_name(func)
    except Exception:  # resolve_name is a best-effort helper # pylint: disable=broad-except
        name = None
    if name:
        return name
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    module = getattr(func, "__module__", None) or ""
    if qualname:
        return f"{module}.{qualname}" if module else qualname
    return repr(func)


# ------------------------------------------------------------------- records


@dataclass
class OpSite:  # pylint: disable=too-many-instance-attributes
    """A compute op called outside any leaf module, aggregated per line and op."""

    path: str
    line: int
    col: int | None  # 0-based, in characters, of the first call; None before Python 3.11
    op: str
    category: str
    count: int = 0
    module: str | None = None  # qualified name of the innermost running module
    module_class: str | None = None

    def source(self) -> str:
        return linecache.getline(self.path, self.line).strip()


@dataclass
class CallSite:
    """A user-code line that called a module, with how often it did."""

    path: str
    line: int
    count: int = 0


@dataclass
class ReusedModule:
    """A module instance whose forward ran more than once in the pass."""

    name: str  # qualified name, "" for the root
    aliases: list[str]  # every name the instance is registered under
    klass: str
    calls: int
    params: int  # numel of its parameters: > 0 means duplication unties weights
    leaf: bool
    call_sites: list[CallSite]


@dataclass
class InlineModule:
    """A module that ran but that a quantizer walking the model cannot find.

    kind "constructed": built while forward ran (``nn.Softmax(dim=-1)(x)``);
    kind "unregistered": built earlier but not registered on the model (kept in a
    plain list or dict), reported where it was first called.
    """

    kind: str
    klass: str
    path: str | None
    line: int | None
    count: int = 0


@dataclass
class RuntimeReport:  # pylint: disable=too-many-instance-attributes
    """Everything one traced forward pass found; see the module docstring."""

    op_sites: list[OpSite] = field(default_factory=list)
    reused_modules: list[ReusedModule] = field(default_factory=list)
    inline_modules: list[InlineModule] = field(default_factory=list)
    torch_calls: int = 0  # all torch calls seen from user code, any category
    module_calls: int = 0
    seconds: float = 0.0  # wall time of the traced forward pass
    files: list[str] = field(default_factory=list)  # sources of the module classes seen
    lines: set[tuple[str, int]] = field(default_factory=set, repr=False)

    @property
    def finding_count(self) -> int:
        return len(self.op_sites) + len(self.reused_modules) + len(self.inline_modules)

    def executed_lines(self) -> set[tuple[str, int]]:
        """(realpath, line) of user code that ran a torch op or called a module.

        Complete for the model's source files only when traced with
        ``trace_lines=True``; otherwise it holds the lines seen by the op and
        module hooks (a line doing pure Python arithmetic is missing).
        """
        return set(self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "op_sites": [dict(asdict(s), source=s.source()) for s in self.op_sites],
            "reused_modules": [asdict(m) for m in self.reused_modules],
            "inline_modules": [asdict(m) for m in self.inline_modules],
            "torch_calls": self.torch_calls,
            "module_calls": self.module_calls,
            "seconds": round(self.seconds, 6),
            "files": list(self.files),
            "executed_lines": len(self.lines),
        }


# -------------------------------------------------------------------- tracing

_TORCH_DIR = os.path.realpath(os.path.dirname(torch.__file__)) + os.sep
_SELF_DIR = os.path.realpath(os.path.dirname(os.path.dirname(__file__))) + os.sep
# Frames in torch that belong to a module implementation: an op below one of them
# happened inside torch's own module, even if the module was called as `.forward()`.
_TORCH_MODULE_DIRS = tuple(
    _TORCH_DIR + d.replace("/", os.sep) + os.sep
    for d in ("nn/modules", "ao/nn", "nn/quantized", "nn/intrinsic", "nn/qat", "nn/quantizable")
)

_getframe = sys._getframe  # pylint: disable=protected-access
_USER, _FILTERED, _TORCH, _TORCH_MODULE, _SKIP = range(5)
_FUNCTIONAL_MODULES = frozenset({"FloatFunctional", "FXFloatFunctional", "QFunctional"})


@functools.lru_cache(maxsize=4096)
def _realpath(filename: str) -> str:
    """Cached: realpath costs an lstat per path component, and code objects repeat."""
    return filename if filename.startswith("<") else os.path.realpath(filename)


def _is_torch_path(path: str) -> bool:
    return path.startswith(_TORCH_DIR)


def source_files(modules: Iterable[nn.Module]) -> list[str]:
    """Real paths of the files defining the classes of `modules` and their forward.

    For each class: its own file, and the file of the class in its MRO that
    defines the `forward` that runs (a base class elsewhere). Other bases
    (`PreTrainedModel`, mixins) are left out: their code is not forward code.
    torch's own files and this package's are never included.
    """
    classes: dict[type, None] = {}
    for mod in modules:
        cls = type(mod)
        classes.setdefault(cls, None)
        owner = next((k for k in cls.__mro__ if "forward" in vars(k)), None)
        if owner is not None:
            classes.setdefault(owner, None)
    files = (_class_file(cls) for cls in classes)
    return list(dict.fromkeys(f for f in files if f))


@functools.lru_cache(maxsize=1024)
def _class_file(cls: type) -> str | None:
    """Real path of the file defining `cls`, None for torch's, ours or unknown."""
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None
    real = os.path.realpath(path) if path else None
    if real is None or _is_torch_path(real) or real.startswith(_SELF_DIR):
        return None
    return real


class _OpMode(TorchFunctionMode):
    """Reports every torch call to the tracer, then runs it."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self._tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        # The mode is popped while this handler runs: the tensor queries in on_op
        # (is_floating_point, dim) and the ops inside `func` do not come back here.
        self._tracer.on_op(func, args, kwargs)
        return func(*args, **(kwargs or {}))


def _is_activation(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and (value.is_floating_point() or value.is_complex())
        and value.dim() > 0
    )


def reads_activation(args: tuple, kwargs: dict | None) -> bool:
    """Whether a call reads a floating-point tensor of rank > 0.

    Quantizers only quantize floating-point activations: integer index arithmetic
    (`cache_position + 1`) and bool masks are not findings, and neither is an op
    whose only float input is a 0-dim constant (`torch.where(mask, torch.zeros(()),
    min_value)` builds an attention mask, it does not transform activations).
    """
    for value in (*args, *(kwargs.values() if kwargs else ())):
        if _is_activation(value):
            return True
        if isinstance(value, (list, tuple)) and any(_is_activation(v) for v in value):
            return True
    return False


class _Tracer:  # pylint: disable=too-many-instance-attributes
    """State of one traced pass. Callbacks are hot paths: keep them lean."""

    def __init__(
        self,
        model: nn.Module,
        source_filter: Callable[[str], bool] | None,
        trace_lines: bool | Iterable[str],
    ) -> None:
        self.model = model
        self.source_filter = source_filter
        self.trace_lines = trace_lines
        self.thread = threading.get_ident()
        self.active = False
        self.stack: list[nn.Module] = []
        self.code_kinds: dict[Any, tuple[int, str]] = {}
        self.op_info: dict[Any, tuple[str, str]] = {}
        self.positions: dict[Any, list] = {}
        self.children: dict[int, bool] = {}
        self.sites: dict[tuple[str, int, str], tuple[OpSite, nn.Module]] = {}
        self.modules: dict[int, nn.Module] = {}  # every module that ran, by id
        self.calls: dict[int, int] = {}
        self.call_sites: dict[int, dict[tuple[str, int], int]] = {}
        # (module, (path, line) or None, reported): built while forward ran
        self.constructed: list[tuple[nn.Module, tuple[str, int] | None, bool]] = []
        self.lines: set[tuple[str, int]] = set()
        self.torch_calls = 0

    # ---- frames

    def _code_kind(self, code: Any) -> tuple[int, str]:
        kind = self.code_kinds.get(code)
        if kind is not None:
            return kind
        path = _realpath(code.co_filename)
        if path.startswith(_TORCH_DIR):
            is_module = code.co_name == "forward" or path.startswith(_TORCH_MODULE_DIRS)
            kind = (_TORCH_MODULE if is_module else _TORCH, path)
        elif path.startswith(_SELF_DIR):
            kind = (_SKIP, path)
        elif self.source_filter is not None and not self.source_filter(path):
            kind = (_FILTERED, path)
        else:
            kind = (_USER, path)
        self.code_kinds[code] = kind
        return kind

    def _user_frame(self, frame: Any, owner: nn.Module | None = None, owner_method: str = ""):
        """Innermost user frame from `frame` outwards, and whether a torch module
        implementation frame was crossed on the way.

        With `owner`, user frames of `owner`'s own `owner_method` (a subclass's
        `__init__` or an overridden `__call__`) are skipped: the interesting line
        is the one that built or called the module.
        """
        crossed = False
        while frame is not None:
            code = frame.f_code
            kind, path = self._code_kind(code)
            if kind in (_USER, _FILTERED):
                if (
                    owner is None
                    or code.co_name != owner_method
                    or frame.f_locals.get("self") is not owner
                ):
                    return frame, kind, path, crossed
            elif kind == _TORCH_MODULE:
                crossed = True
            frame = frame.f_back
        return None, _SKIP, "", crossed

    def _col(self, frame: Any) -> int | None:
        code = frame.f_code
        positions = self.positions.get(code)
        if positions is None:
            co_positions = getattr(code, "co_positions", None)  # Python >= 3.11
            positions = self.positions[code] = list(co_positions()) if co_positions else []
        index = frame.f_lasti // 2
        if 0 <= index < len(positions):
            return positions[index][2]
        return None

    # ---- callbacks

    def on_op(self, func: Any, args: tuple, kwargs: dict | None) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        frame, kind, path, crossed = self._user_frame(_getframe(2))
        if kind != _USER:
            return
        self.torch_calls += 1
        line = frame.f_lineno
        self.lines.add((path, line))
        stack = self.stack
        if crossed or not stack:
            return
        top = stack[-1]
        if not self._has_children(top) or _is_torch_class(type(top)):
            return
        info = self.op_info.get(func)
        if info is None:
            name = op_name(func)
            info = self.op_info[func] = (name, classify_op(name))
        name, category = info
        if category not in _FINDING_CATEGORIES or not reads_activation(args, kwargs):
            return
        key = (path, line, name)
        entry = self.sites.get(key)
        if entry is None:
            entry = self.sites[key] = (OpSite(path, line, self._col(frame), name, category), top)
        entry[0].count += 1

    def _has_children(self, module: nn.Module) -> bool:
        has = self.children.get(id(module))
        if has is None:
            has = self.children[id(module)] = next(iter(module.children()), None) is not None
        return has

    def on_pre(self, module: nn.Module, _args: Any) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        self.stack.append(module)
        key = id(module)
        self.modules[key] = module
        self.calls[key] = self.calls.get(key, 0) + 1
        if len(self.stack) == 1:
            return  # the root call: its call site is the caller of trace_model
        frame, kind, path, _ = self._user_frame(_getframe(1), module, "__call__")
        if kind == _USER:
            site = (path, frame.f_lineno)
            self.lines.add(site)
            sites = self.call_sites.setdefault(key, {})
            sites[site] = sites.get(site, 0) + 1

    def on_post(self, module: nn.Module, _args: Any, _output: Any) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is module:
                del stack[i:]
                break

    def on_init(self, module: nn.Module) -> None:
        if not self.active or threading.get_ident() != self.thread:
            return
        frame, kind, path, _ = self._user_frame(_getframe(2), module, "__init__")
        site = None
        if kind == _USER:
            site = (path, frame.f_lineno)
            self.lines.add(site)
        self.constructed.append((module, site, kind != _FILTERED))

    # ---- the pass

    def run(self, inputs: tuple, kwargs: dict) -> RuntimeReport:
        tracer = self
        original_init = nn.Module.__init__

        def traced_init(module, *args, **kw):
            original_init(module, *args, **kw)
            tracer.on_init(module)

        line_files = self._line_files()
        lines = self.lines
        traced: dict[str, str | None] = {}  # co_filename -> realpath if traced, else None

        def local_trace(frame, event, _arg):
            if event == "line":
                lines.add((traced[frame.f_code.co_filename], frame.f_lineno))
            return local_trace

        def global_trace(frame, _event, _arg):  # only ever called for 'call'
            filename = frame.f_code.co_filename
            if filename not in traced:
                real = _realpath(filename)
                traced[filename] = real if real in line_files else None
            return local_trace if traced[filename] else None

        pre = _module_mod.register_module_forward_pre_hook(self.on_pre)
        post = _module_mod.register_module_forward_hook(self.on_post, always_call=True)
        old_trace = sys.gettrace()
        nn.Module.__init__ = traced_init  # type: ignore[method-assign]
        start = time.perf_counter()
        try:
            with torch.no_grad(), _OpMode(self):
                self.active = True
                if line_files:
                    sys.settrace(global_trace)
                try:
                    self.model(*inputs, **kwargs)
                finally:
                    if line_files:
                        sys.settrace(old_trace)
                    self.active = False
        finally:
            seconds = time.perf_counter() - start
            nn.Module.__init__ = original_init  # type: ignore[method-assign]
            pre.remove()
            post.remove()
        return self._report(seconds)

    def _line_files(self) -> frozenset[str]:
        if not self.trace_lines:
            return frozenset()
        if self.trace_lines is True:
            return frozenset(source_files(self.model.modules()))
        return frozenset(os.path.realpath(p) for p in self.trace_lines)  # type: ignore[union-attr]

    # ---- results

    def _report(self, seconds: float) -> RuntimeReport:
        names: dict[int, list[str]] = {}
        for name, mod in self.model.named_modules(remove_duplicate=False):
            names.setdefault(id(mod), []).append(name)

        ops = []
        for site, module in self.sites.values():
            site.col = _char_col(site.path, site.line, site.col)
            site.module = names.get(id(module), [None])[0]
            site.module_class = type(module).__qualname__
            ops.append(site)

        inline = self._inline_modules(names)
        hidden = set()
        for mod, _, _ in self.constructed:
            hidden.update(id(sub) for sub in mod.modules())

        reused = []
        for key, count in self.calls.items():
            if count < 2 or key in hidden or key not in names:
                continue
            mod, aliases = self._owner(self.modules[key], names[key])
            reused.append(
                ReusedModule(
                    name=aliases[0],
                    aliases=aliases,
                    klass=type(mod).__qualname__,
                    calls=count,
                    params=sum(p.numel() for p in mod.parameters()),
                    leaf=not self._has_children(mod),
                    call_sites=[
                        CallSite(p, ln, c) for (p, ln), c in self.call_sites.get(key, {}).items()
                    ],
                )
            )

        ran = list(self.modules.values())
        files = source_files([self.model, *self.model.modules(), *ran])
        return RuntimeReport(
            op_sites=ops,
            reused_modules=reused,
            inline_modules=inline,
            torch_calls=self.torch_calls,
            module_calls=sum(self.calls.values()),
            seconds=seconds,
            files=files,
            lines=self.lines,
        )

    def _owner(self, module: nn.Module, aliases: list[str]) -> tuple[nn.Module, list[str]]:
        """The module a user would name for `module`'s calls.

        `FloatFunctional.add(...)` is a plain method, so no hook sees it; it ends
        by calling its `activation_post_process` child, which is what the hooks
        count. Reuse of that child is reuse of the FloatFunctional.
        """
        parent_name, _, attr = aliases[0].rpartition(".")
        if attr == "activation_post_process":
            parent = self.model.get_submodule(parent_name)
            if type(parent).__name__ in _FUNCTIONAL_MODULES:
                return parent, [a.rpartition(".")[0] for a in aliases]
        return module, aliases

    def _inline_modules(self, names: dict[int, list[str]]) -> list[InlineModule]:
        """Constructed-in-forward and unregistered modules, outermost only."""
        nested: set[int] = set()
        for mod, _, _ in self.constructed:
            nested.update(id(sub) for sub in mod.modules() if sub is not mod)
        grouped: dict[tuple, InlineModule] = {}
        constructed_ids = set()
        for mod, site, reported in self.constructed:
            constructed_ids.add(id(mod))
            if id(mod) in nested or not reported:
                continue
            path, line = site if site else (None, None)
            key = ("constructed", type(mod).__qualname__, path, line)
            rec = grouped.setdefault(key, InlineModule(*key))
            rec.count += 1

        unregistered = [
            mod
            for key, mod in self.modules.items()
            if key not in names and key not in constructed_ids and key not in nested
        ]
        inner: set[int] = set()
        for mod in unregistered:
            inner.update(id(sub) for sub in mod.modules() if sub is not mod)
        for mod in unregistered:
            if id(mod) in inner:
                continue
            sites = self.call_sites.get(id(mod)) or {}
            path, line = next(iter(sites), (None, None))
            key = ("unregistered", type(mod).__qualname__, path, line)
            rec = grouped.setdefault(key, InlineModule(*key))
            rec.count += 1
        return list(grouped.values())


def _char_col(path: str, line: int, col: int | None) -> int | None:
    """Python's code positions count UTF-8 bytes; findings count characters."""
    text = linecache.getline(path, line)
    if col is None or not text or text.isascii():
        return col
    return len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))


def _is_torch_class(cls: type) -> bool:
    """Whether a module class is torch's own (its ops are its implementation)."""
    return cls.__module__.startswith("torch.")


def trace_model(
    model: nn.Module,
    inputs: tuple = (),
    *,
    kwargs: dict[str, Any] | None = None,
    source_filter: Callable[[str], bool] | None = None,
    trace_lines: bool | Iterable[str] = False,
) -> RuntimeReport:
    """Run ``model(*inputs, **kwargs)`` once under `torch.no_grad()` and trace it.

    The model is used as given: call `.eval()` or `.train()` first.

    `source_filter(realpath) -> bool` limits the report to user code in the files
    it accepts (events whose innermost user frame is elsewhere are dropped).
    `trace_lines=True` also records every executed line of the model's source
    files with `sys.settrace` (slower; needed to tell "never ran" from "ran but did
    no torch op" in the cross-check); an iterable of paths traces those files.
    Any active tracer (debugger, coverage) is suspended for the pass.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"trace_model needs an nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return _Tracer(model, source_filter, trace_lines).run(inputs, kwargs or {})
