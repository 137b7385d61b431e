"""`fix` output, executed: the rewrite contract of design.md checked by running models.

For every bundled example and every golden fixture, for both targets:

* the rewritten file imports (distiller target: with the test-only stand-in), builds
  from the same seed, loads the ORIGINAL state_dict with ``strict=True`` and gives
  the same outputs (eval and train mode, atol 1e-6);
* at runtime no fixed op still executes outside a module: every compute op the
  tracer (`verify.runtime.trace_model`) still sees in the rewritten file is either
  on a line the checker still reports or an op the target handles natively; and no
  module is newly called more than once per forward pass;
* fix is idempotent and leaves nothing fixable (same applicability) behind.

The torch-eager BasicModule (and friends) then go through PyTorch eager
post-training quantization (QuantStub/DeQuantStub, prepare, calibrate, convert).

Known engine bugs are pinned at the end as strict xfails with minimal inputs.
"""

from __future__ import annotations

import copy
import os
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from pylint_distiller.catalogue import NATIVE, OPS, TARGETS
from pylint_distiller.fixer.engine import allowed, fix_source
from pylint_distiller.settings import Settings
from pylint_distiller.verify.runtime import trace_model
from tests.support.ptq import eager_ptq
from tests.support.realcode import declared_shared, shared_members
from tests.support.runtime_equivalence import (
    assert_same_model,
    count_module_calls,
    island_lines,
    load_module_from_source,
    stub_distiller_on_path,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fix"
EXAMPLES = ["basic_module", "bottleneck", "squeeze_excitation", "attention", "lstm_model", "shape_arithmetic"]


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as stream:
        return stream.read()


def fixture_cases() -> list[str]:
    return sorted(p.name[: -len(".in.py")] for p in (FIXTURES / "inputs").glob("*.in.py"))


FIXTURE_CASES = fixture_cases()


def source_of(kind: str, name: str) -> tuple[str, Path]:
    if kind == "example":
        path = EXAMPLES_DIR / f"{name}.py"
    else:
        path = FIXTURES / "inputs" / f"{name}.in.py"
    return read_text(path), path


ALL_SOURCES = [("example", n) for n in EXAMPLES] + [("fixture", n) for n in FIXTURE_CASES]


def fix(text: str, path, target: str, unsafe: bool = False):
    return fix_source(text, str(path), Settings(target=target), unsafe=unsafe)


def load_pair(text: str, fixed_text: str, name: str, path_hint=None):
    """Original and rewritten source as two live modules (stand-in importable)."""
    with stub_distiller_on_path():
        original = load_module_from_source(text, name, path_hint=path_hint)
        prepared = load_module_from_source(fixed_text, f"{name}_fixed",
                                           path_hint=f"{name}_fixed.py")
    return original, prepared


def native_ops(target: str) -> set[str]:
    """Short names of the ops the target's quantized tensors support as they are."""
    return {key.rsplit(".", 1)[-1] for key, spec in OPS.items() if spec.replacement(target) == NATIVE}


def reported_lines(findings) -> set[int]:
    lines = set()
    for f in findings:
        lines.update(range(f.line, (f.end_line or f.line) + 1))
    return lines


def reused(model: nn.Module, inputs) -> set[str]:
    return {name for name, n in count_module_calls(model, inputs).items() if n > 1}


def build_pair(original_mod, prepared_mod, build="build", seed=0):
    torch.manual_seed(seed)
    original = getattr(original_mod, build)()
    torch.manual_seed(seed)
    prepared = getattr(prepared_mod, build)()
    prepared.load_state_dict(original.state_dict(), strict=True)
    return original.eval(), prepared.eval()


# -------------------------------------------------------------- equivalence
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind,name", ALL_SOURCES, ids=[f"{k}:{n}" for k, n in ALL_SOURCES])
def test_rewritten_model_is_equivalent(kind, name, target):
    text, path = source_of(kind, name)
    result = fix(text, path, target)
    original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
    assert_same_model(original_mod, prepared_mod, modes=("eval", "train"))
    if name == "bottleneck":
        assert_same_model(original_mod, prepared_mod, build_name="build_without_downsample",
                          inputs=original_mod.example_inputs_without_downsample(), modes=("eval", "train"))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind,name", ALL_SOURCES, ids=[f"{k}:{n}" for k, n in ALL_SOURCES])
def test_no_fixed_op_still_runs_outside_a_module(kind, name, target):
    """Runtime ground truth: what still runs outside modules is what is still reported."""
    text, path = source_of(kind, name)
    result = fix(text, path, target)
    original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
    original, prepared = build_pair(original_mod, prepared_mod)
    inputs = original_mod.example_inputs()
    prepared_file = os.path.realpath(prepared_mod.__file__)
    report = trace_model(prepared, tuple(inputs), source_filter=lambda p: p == prepared_file)
    still_reported = reported_lines(result.remaining) | island_lines(result.text)
    natives = native_ops(target)
    leftovers = [(s.line, s.op) for s in report.op_sites
                 if s.line not in still_reported and s.op.rsplit(".", 1)[-1] not in natives]
    assert not leftovers, f"ops still outside modules but no longer reported: {leftovers}"
    assert not report.inline_modules, report.inline_modules
    original_file = os.path.realpath(original_mod.__file__)
    before_report = trace_model(original, tuple(inputs), source_filter=lambda p: p == original_file)
    assert len(report.op_sites) <= len(before_report.op_sites), "more op sites outside modules than before"
    # no module runs more often than before, and no new module runs twice (but the FloatFunctional
    # a torch-eager fix declares shared by every run of a loop)
    before, after = reused(original, inputs), reused(prepared, inputs)
    shared = shared_members(result.applied)
    after = {n for n in after if not declared_shared(prepared, n, shared)}
    assert after <= before, f"newly reused modules: {sorted(after - before)}"


# What each example still runs outside modules after the SAFE fixes (short op
# names), and which modules are still called twice: the examples are fully
# fixable except for what the target handles natively.
EXPECTED_AFTER_FIX = {
    ("squeeze_excitation", "torch-eager"): {"adaptive_avg_pool2d"},
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_are_fully_prepared(name, target):
    text, path = source_of("example", name)
    result = fix(text, path, target)
    original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
    original, prepared = build_pair(original_mod, prepared_mod)
    inputs = original_mod.example_inputs()
    files = {os.path.realpath(original_mod.__file__), os.path.realpath(prepared_mod.__file__)}
    report = trace_model(prepared, tuple(inputs), source_filter=lambda p: p in files)
    ops = {s.op.rsplit(".", 1)[-1] for s in report.op_sites}
    assert ops == EXPECTED_AFTER_FIX.get((name, target), set())
    assert not report.reused_modules, [m.name for m in report.reused_modules]
    assert max(count_module_calls(prepared, inputs).values()) <= 1
    before = trace_model(original, tuple(inputs), source_filter=lambda p: p in files)
    if name not in ("lstm_model", "shape_arithmetic"):
        assert before.op_sites or before.reused_modules  # the example did carry problems


# ------------------------------------------------------- idempotence, leftovers
@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind,name", ALL_SOURCES, ids=[f"{k}:{n}" for k, n in ALL_SOURCES])
def test_fix_is_idempotent_and_leaves_nothing_fixable(kind, name, target, unsafe):
    text, path = source_of(kind, name)
    once = fix(text, path, target, unsafe)
    twice = fix(once.text, path, target, unsafe)
    assert twice.text == once.text
    assert not twice.applied
    leftover = [f"{f.line}: {f.symbol} {f.message}" for f in once.remaining if allowed(f, unsafe)]
    assert not leftover, leftover


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind,name", ALL_SOURCES, ids=[f"{k}:{n}" for k, n in ALL_SOURCES])
def test_unfixed_findings_stay_reported(kind, name, target):
    """What the safe fix leaves alone is still reported afterwards: rewriting the
    code around an op must not hide it (e.g. by losing the fact that a value is a
    tensor)."""
    text, path = source_of(kind, name)
    result = fix(text, path, target)
    applied = {(f.line, f.col, f.symbol) for f in result.applied}
    from pylint_distiller.api import analyze_source

    first = analyze_source(text, str(path), Settings(target=target))
    # a fix applied in the first pass may absorb another finding's code (add_relu removes the relu
    # call a reuse finding was about); a method fix lands in the last pass, where lines have moved
    spans = [f.fix.span for f in first if (f.line, f.col, f.symbol) in applied and f.fix.span]
    methods = {(f.symbol, f.klass) for f in result.applied if f.fix.method is not None}
    before = [f for f in first if (f.line, f.col, f.symbol) not in applied and (f.symbol, f.klass) not in methods
              and not any((s[0], s[1]) <= (f.line, f.col) and (f.end_line, f.end_col) <= (s[2], s[3]) for s in spans)]
    key = lambda f: (f.symbol, f.op)  # noqa: E731
    from collections import Counter

    missing = Counter(map(key, before)) - Counter(map(key, result.remaining))
    assert not missing, f"no longer reported after fix: {dict(missing)}"


# ------------------------------------------------------ eager post-training quantization
@pytest.mark.parametrize("name", ["basic_module", "bottleneck", "squeeze_excitation"])
def test_torch_eager_result_survives_post_training_quantization(name):
    text, path = source_of("example", name)
    result = fix(text, path, "torch-eager")
    original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
    (x,) = original_mod.example_inputs()
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]

    torch.manual_seed(0)
    prepared = prepared_mod.build().eval()
    with torch.no_grad():
        reference = prepared(x)
    quantized = eager_ptq(prepared, calibration)
    with torch.no_grad():
        out = quantized(x)
    assert out.shape == reference.shape and not out.is_quantized
    # int8 activations: close to the float result, not equal to it
    assert (out - reference).abs().max().item() < 0.1 * reference.abs().max().item() + 0.05

    # ... whereas the unprepared model cannot even run once converted
    torch.manual_seed(0)
    unprepared = eager_ptq(original_mod.build().eval(), calibration)
    with pytest.raises((NotImplementedError, RuntimeError)), torch.no_grad():
        unprepared(x)


def test_torch_eager_basic_module_uses_float_functional_per_call_site():
    text, path = source_of("example", "basic_module")
    result = fix(text, path, "torch-eager")
    _, prepared_mod = load_pair(text, result.text, "basic_module", path_hint=path)
    model = prepared_mod.build()
    from torch.ao.nn.quantized import FloatFunctional

    functionals = {n for n, m in model.named_modules() if isinstance(m, FloatFunctional)}
    assert functionals == {"add_relu", "cat"}
    # add_relu took over the relu after the add: self.relu runs once and needs no copy
    relus = {n for n, m in model.named_modules() if isinstance(m, nn.ReLU)}
    assert relus == {"relu"}
    assert max(count_module_calls(model, prepared_mod.example_inputs()).values()) == 1


# ------------------------------------------------------------- unsafe fixes
def test_unsafe_lstm_fix_distiller_loads_converted_weights():
    """DistillerLSTM(..., dropout=0.0) must match nn.LSTM once the checkpoint is
    converted with Distiller's own convert_model_to_distiller_lstm."""
    for kind, name in (("example", "lstm_model"), ("fixture", "lstm")):
        text, path = source_of(kind, name)
        result = fix(text, path, "distiller", unsafe=True)
        assert "DistillerLSTM(" in result.text
        original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
        torch.manual_seed(0)
        original = original_mod.build().eval()
        prepared = prepared_mod.build().eval()
        # the stand-in the prepared module imported (each load gets a fresh one)
        stand_in = prepared_mod.distiller.modules
        assert isinstance(prepared.rnn, stand_in.DistillerLSTM)
        convert_model_to_distiller_lstm = stand_in.convert_model_to_distiller_lstm
        converted = convert_model_to_distiller_lstm(copy.deepcopy(original))
        prepared.load_state_dict(converted.state_dict(), strict=True)
        (inputs,) = original_mod.example_inputs()
        with torch.no_grad():
            expected, actual = original(inputs), prepared(inputs)
        expected = expected[0] if isinstance(expected, tuple) else expected
        actual = actual[0] if isinstance(actual, tuple) else actual
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
        # train mode too: the fix must keep nn.LSTM's dropout of 0 (DistillerLSTM defaults to 0.5)
        original.train(), prepared.train()
        with torch.no_grad():
            a, b = original(inputs), prepared(inputs)
        a = a[0] if isinstance(a, tuple) else a
        b = b[0] if isinstance(b, tuple) else b
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_torch_eager_keeps_nn_lstm_which_eager_prepare_swaps_itself():
    """torch-eager leaves nn.LSTM in the source: eager prepare swaps it for its quantizable
    variant (default custom module config), and the checkpoint still loads strictly."""
    for kind, name in (("example", "lstm_model"), ("fixture", "lstm")):
        text, path = source_of(kind, name)
        result = fix(text, path, "torch-eager", unsafe=True)
        assert "quantizable" not in result.text
        assert not [f for f in result.remaining if f.symbol == "unquantizable-module"]
        original_mod, prepared_mod = load_pair(text, result.text, name, path_hint=path)
        assert_same_model(original_mod, prepared_mod)  # strict load, same outputs
    # eager PTQ of nn.LSTM / nn.MultiheadAttention models: tests/test_islands_runtime.py


def test_unsafe_dropout_fix_differs_in_eval_mode_only():
    """Why `F.dropout(x, p)` (training=True by default) is an unsafe fix."""
    text, path = source_of("fixture", "dropout_default")
    result = fix(text, path, "distiller", unsafe=True)
    original_mod, prepared_mod = load_pair(text, result.text, "dropout_default", path_hint=path)
    assert_same_model(original_mod, prepared_mod, modes=("train",))
    with pytest.raises(AssertionError):
        assert_same_model(original_mod, prepared_mod, modes=("eval",))


def test_unsafe_reuse_fix_unties_weights():
    """Why duplicating a parametric module is unsafe: new state_dict keys."""
    text, path = source_of("fixture", "reused_parametric")
    result = fix(text, path, "distiller", unsafe=True)
    original_mod, prepared_mod = load_pair(text, result.text, "reused_parametric", path_hint=path)
    torch.manual_seed(0)
    original = original_mod.build()
    torch.manual_seed(0)
    prepared = prepared_mod.build()
    keys = prepared.load_state_dict(original.state_dict(), strict=False)
    assert sorted(keys.missing_keys) == ["layer_2.bias", "layer_2.weight"]
    assert reused(prepared, original_mod.example_inputs()) == set()
    assert reused(original, original_mod.example_inputs()) == {"layer"}


# ------------------------------------------------------------------ known bugs
def _model(body: str) -> str:
    return textwrap.dedent(body).lstrip()


BUG_CASES = {
    # `1.0 / t`: EltwiseDiv.forward is `x.div(y)`, so a Python number as the first
    # operand crashes ('float' object has no attribute 'div').
    "scalar_numerator_div": ("distiller", _model("""
        import torch
        import torch.nn as nn


        class Recip(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                return 1.0 / (self.fc(x) + 2.0)


        def build():
            return Recip(8)


        def example_inputs():
            return (torch.rand(3, 8),)
        """), "bug: `1.0 / t` becomes EltwiseDiv()(1.0, t), which calls (1.0).div(t): AttributeError"),
    # torch-eager has no in-place FloatFunctional.add: `out += x` becomes an
    # out-of-place add, so an alias of `out` no longer sees the update.
    "aliased_inplace_add": ("torch-eager", _model("""
        import torch
        import torch.nn as nn


        class AliasInplace(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                out = self.fc(x)
                skip = out
                out += x
                return torch.cat([skip, out], dim=1)


        def build():
            return AliasInplace(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """), "bug: torch-eager `out += x` with an alias of `out` (skip = out) becomes out-of-place "
              "FloatFunctional.add: the alias loses the update, outputs change (safe fix)"),
    # the engine hard-codes `self.` in templates and members
    "first_param_not_self_distiller": ("distiller", _model("""
        import torch
        import torch.nn as nn


        class OddSelf(nn.Module):
            def __init__(this, dim):
                super().__init__()
                this.fc = nn.Linear(dim, dim)

            def forward(this, x):
                return this.fc(x) + x


        def build():
            return OddSelf(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """), "bug: methods whose first parameter is not named `self` get `self.add` in forward "
              "and __init__: NameError"),
    "staticmethod_helper": ("torch-eager", _model("""
        import torch
        import torch.nn as nn


        class StaticHelper(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            @staticmethod
            def swish(x):
                return x * torch.sigmoid(x)

            def forward(self, x):
                return self.swish(self.fc(x))


        def build():
            return StaticHelper(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """), "bug: ops in a @staticmethod called from forward are rewritten to `self.mul(...)`: "
              "NameError (T5's _relative_position_bucket)"),
    "autograd_function": ("distiller", _model("""
        import torch
        import torch.nn as nn


        class SwishFn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, i):
                result = i * torch.sigmoid(i)
                ctx.save_for_backward(i)
                return result

            @staticmethod
            def backward(ctx, grad_output):
                i = ctx.saved_tensors[0]
                s = torch.sigmoid(i)
                return grad_output * (s * (1 + i * (1 - s)))


        class Swish(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                return SwishFn.apply(self.fc(x))


        def build():
            return Swish(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """), "bug: a torch.autograd.Function subclass is treated as an nn.Module: it gets an __init__ "
              "with members and its @staticmethod forward(ctx, ...) uses self: NameError "
              "(efficientnet_pytorch's SwishImplementation)"),
    "subclass_skips_base_init": ("distiller", _model("""
        import torch
        import torch.nn as nn


        class Base(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                return self.fc(x) + x


        class Child(Base):
            def __init__(self, dim):
                nn.Module.__init__(self)  # bypasses Base.__init__
                self.fc = nn.Linear(dim, dim)


        def build():
            return Child(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """), "bug: the member for Base.forward's op goes to Base.__init__, which a same-file subclass "
              "bypasses (nn.Module.__init__(self)): AttributeError 'Child' object has no attribute 'add'"),
}


#: Cases of BUG_CASES that are fixed: they stay as regression tests.
#: (a static method is lifted into a module class held by its class: `analysis/lifting.py`)
FIXED_BUGS = {"scalar_numerator_div", "aliased_inplace_add", "staticmethod_helper"}
#: Cases fixed by refusing: no member is reachable there (no `self`), so the op
#: stays reported with no fix and the file is left as it is.
REFUSED = {"first_param_not_self_distiller", "autograd_function"}


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=() if case in FIXED_BUGS | REFUSED else pytest.mark.xfail(strict=True, reason=reason))
    for case, (_, _, reason) in BUG_CASES.items()
])
def test_known_bug_equivalence(case):
    target, text, _ = BUG_CASES[case]
    result = fix(text, f"{case}.py", target)
    if case in REFUSED:
        assert not result.applied and result.text == text
        return
    assert result.applied, "the case must exercise a fix"
    original_mod, prepared_mod = load_pair(text, result.text, case)
    assert_same_model(original_mod, prepared_mod, modes=("eval",))


def test_member_added_after_eval_call_in_init():
    text = _model("""
        import torch
        import torch.nn as nn
        import torch.nn.functional as F


        class Frozen(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.eval()

            def forward(self, x):
                return F.dropout(self.fc(x), 0.5, training=self.training)


        def build():
            return Frozen(8)
        """)
    result = fix(text, "frozen.py", "distiller")
    assert result.applied
    original_mod, prepared_mod = load_pair(text, result.text, "frozen")
    torch.manual_seed(0)
    original = original_mod.build()
    torch.manual_seed(0)
    prepared = prepared_mod.build()
    x = torch.randn(4, 8)
    with torch.no_grad():  # no .train()/.eval() call: the model as __init__ left it
        torch.testing.assert_close(prepared(x), original(x))


def test_class_constant_operand_survives_eager_quantization():
    text, path = source_of("fixture", "class_constant_operand")
    result = fix(text, path, "torch-eager")
    _, prepared_mod = load_pair(text, result.text, "class_constant_operand", path_hint=path)
    torch.manual_seed(0)
    model = prepared_mod.build().eval()
    (x,) = prepared_mod.example_inputs()
    quantized = eager_ptq(model, [x])
    with torch.no_grad():
        quantized(x)


UNAPPLIABLE_SAFE_FIXES = {
    "early_return_in_init": _model("""
        import torch
        import torch.nn as nn


        class EarlyReturn(nn.Module):
            def __init__(self, dim, light=False):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                if light:
                    return
                self.fc2 = nn.Linear(dim, dim)

            def forward(self, x):
                return self.fc(x) + x
        """),
    "one_line_init": _model("""
        import torch
        import torch.nn as nn


        class OneLine(nn.Module):
            def __init__(self): super().__init__()

            def forward(self, x):
                return torch.sigmoid(x)
        """),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", sorted(UNAPPLIABLE_SAFE_FIXES))
def test_no_safe_fix_is_offered_that_cannot_be_applied(case, target):
    """(Was a bug: a SAFE fix the engine could not apply was left behind.)"""
    result = fix(UNAPPLIABLE_SAFE_FIXES[case], f"{case}.py", target)
    assert not [f for f in result.remaining if allowed(f, unsafe=False)]


@pytest.mark.parametrize("target", TARGETS)
def test_unsafe_reuse_fix_with_shadowed_copy_name(target):
    """(Was a bug: `copy.deepcopy` written where a parameter `copy` shadows the module.) Now refused."""
    text = _model("""
        import torch
        import torch.nn as nn


        class CopyParam(nn.Module):
            def __init__(self, dim, copy=False):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.copy = copy

            def forward(self, x):
                return self.fc(self.fc(x))


        def build():
            return CopyParam(8)
        """)
    result = fix(text, "copy_param.py", target, unsafe=True)
    assert not result.applied and result.text == text
    assert [f.symbol for f in result.remaining] == ["reused-module"]


def test_float_functional_results_are_still_tensors():
    text = _model("""
        import torch
        import torch.nn as nn


        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.q = nn.Linear(4, 4)

            def forward(self, x):
                s = torch.matmul(self.q(x), x)
                return s / 2.0
        """)
    from pylint_distiller.api import analyze_source

    settings = Settings(target="torch-eager")
    assert [f.symbol for f in analyze_source(text, "a.py", settings)] == ["torch-function", "tensor-operator"]
    result = fix(text, "a.py", "torch-eager")
    assert "self.matmul.matmul(" in result.text
    # `/` has no FloatFunctional: the quantized matmul result goes through a float island
    assert "return self.div_quant(self.div_dequant(s) / 2.0)" in result.text
    assert result.remaining == []


@pytest.mark.parametrize("target", TARGETS)
def test_leaf_module_is_not_partially_rewritten(target):
    text = _model("""
        import torch
        import torch.nn as nn


        class RMSNorm(nn.Module):
            def __init__(self, dim, eps=1e-6):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(dim))
                self.eps = eps

            def forward(self, x):
                variance = x.pow(2).mean(-1, keepdim=True)
                return self.weight * (x * torch.rsqrt(variance + self.eps))


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = RMSNorm(dim)

            def forward(self, x):
                return self.norm(self.fc(x))


        def build():
            return Net(8)


        def example_inputs():
            return (torch.randn(3, 8),)
        """)
    result = fix(text, "rmsnorm.py", target)
    original_mod, prepared_mod = load_pair(text, result.text, "rmsnorm")
    assert_same_model(original_mod, prepared_mod)
    original, prepared = build_pair(original_mod, prepared_mod)
    inputs = tuple(original_mod.example_inputs())
    files = {os.path.realpath(original_mod.__file__), os.path.realpath(prepared_mod.__file__)}
    before = trace_model(original, inputs, source_filter=lambda p: p in files)
    after = trace_model(prepared, inputs, source_filter=lambda p: p in files)
    assert len(after.op_sites) <= len(before.op_sites), [(s.line, s.op) for s in after.op_sites]


@pytest.mark.parametrize("target", TARGETS)
def test_method_that_init_also_runs_gets_no_member(target):
    """(Was a bug, timm's SwinTransformerV2Block: `__init__` builds a mask with a method forward
    also calls, so a member added at the end of `__init__` did not exist yet: AttributeError.)"""
    text = _model("""
        import torch
        import torch.nn as nn


        class Masked(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.act = nn.ReLU()
                self._init_buffers(dim)

            def _init_buffers(self, dim):
                self.register_buffer("mask", self.make_mask(torch.ones(dim)), persistent=False)

            def make_mask(self, x):
                return torch.sigmoid(x.unsqueeze(0) - x.unsqueeze(1))

            def forward(self, x):
                y = self.act(self.fc(x))
                return self.act(y) * self.make_mask(x[0]).sum()


        def build():
            return Masked(8)


        def example_inputs():
            return (torch.randn(8, 8),)
        """)
    for unsafe in (False, True):
        result = fix(text, "masked.py", target, unsafe=unsafe)
        refused = [f for f in result.remaining if "make_mask() also runs during __init__" in f.message]
        assert "torch.sigmoid" in {f.op for f in refused}, result.remaining  # (and `-` for distiller)
        assert all(f.fix is None for f in refused)
        assert result.applied, "the ops in forward itself are still fixed"
        original_mod, prepared_mod = load_pair(text, result.text, f"masked_{unsafe}")
        assert_same_model(original_mod, prepared_mod, modes=("eval", "train"))
