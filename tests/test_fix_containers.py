"""Rewrites that never break a model: container subclasses, conditional members, ops in loops.

Executed for both targets, with safe fixes alone and with safe plus unsafe ones:

* the output parses and fixing it again changes nothing;
* the prepared model builds (a member created under a condition in `__init__` gets
  its copy under the same condition: `conditional_member` builds its block both
  ways), loads the ORIGINAL state_dict strictly (unsafe untying only adds the
  `<name>_2` copies' keys), and gives the same outputs in eval and train mode;
* no module runs more often than before, and every module the fix added runs at
  most once per pass (an op in a static loop gets one module per iteration, each
  run exactly once);
* a class that derives from nn.Sequential / nn.ModuleList / nn.ModuleDict, or
  reads its own children, gets no member, and its findings say why.

torch-eager results of the fully fixable cases then go through eager PTQ.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn
from torch.ao.nn.quantized import FloatFunctional

from pylint_distiller.api import analyze_source
from pylint_distiller.catalogue import TARGETS
from pylint_distiller.settings import Settings
from pylint_distiller.verify.runtime import trace_model
from tests.support.runtime_equivalence import count_module_calls, island_lines
from tests.test_fix_runtime import (
    eager_ptq,
    fix,
    load_pair,
    native_ops,
    reported_lines,
    source_of,
)

CASES = ["container_sequential", "container_moduledict", "container_modulelist", "container_children_outside",
         "conditional_member", "loop_static", "loop_zip"]
MODES = [False, True]


def _build_pair(original_mod, prepared_mod, unsafe: bool):
    torch.manual_seed(0)
    original = original_mod.build()
    torch.manual_seed(0)
    prepared = prepared_mod.build()
    keys = prepared.load_state_dict(original.state_dict(), strict=not unsafe)
    if unsafe:  # untied copies are the only new state; nothing of the original is left over
        assert not keys.unexpected_keys, keys.unexpected_keys
        assert all(k.split(".")[-2].endswith("_2") for k in keys.missing_keys), keys.missing_keys
    return original, prepared


_FF_METHODS = ("add", "add_scalar", "mul", "mul_scalar", "cat", "add_relu", "matmul")


def calls_per_pass(model: nn.Module, inputs) -> dict[str, int]:
    """`count_module_calls`, plus the method calls of every FloatFunctional (they bypass __call__)."""
    counts: dict[str, int] = {}
    patched = []
    for name, module in model.named_modules():
        if isinstance(module, FloatFunctional):
            counts[name] = 0
            for method in _FF_METHODS:
                def counting(*args, _name=name, _inner=getattr(module, method), **kwargs):
                    counts[_name] += 1
                    return _inner(*args, **kwargs)
                setattr(module, method, counting)
                patched.append((module, method))
    try:
        hooked = count_module_calls(model, inputs)
    finally:
        for module, method in patched:
            delattr(module, method)
    hooked = {n: c for n, c in hooked.items() if not n.endswith(".activation_post_process")}
    return {**hooked, **{n: c for n, c in counts.items()}}


def _leaf_names(model: nn.Module) -> set[str]:
    return {name for name, module in model.named_modules()
            if isinstance(module, FloatFunctional) or not list(module.children())
            and not name.endswith(".activation_post_process")}


@pytest.mark.parametrize("unsafe", MODES, ids=["safe", "unsafe"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_prepared_model_keeps_the_contract(case, target, unsafe):
    text, path = source_of("fixture", case)
    result = fix(text, path, target, unsafe)
    compile(result.text, "<fixed>", "exec")
    again = fix(result.text, path, target, unsafe)
    assert again.text == result.text and not again.applied

    original_mod, prepared_mod = load_pair(text, result.text, case, path_hint=path)
    original, prepared = _build_pair(original_mod, prepared_mod, unsafe)
    inputs = original_mod.example_inputs()
    for training in (False, True):
        original.train(training)
        prepared.train(training)
        with torch.no_grad():
            expected, actual = original(*inputs), prepared(*inputs)
        for e, a in zip(expected if isinstance(expected, tuple) else (expected,),
                        actual if isinstance(actual, tuple) else (actual,)):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-6)

    prepared.eval()
    original.eval()
    before, after = calls_per_pass(original, inputs), calls_per_pass(prepared, inputs)
    added = _leaf_names(prepared) - _leaf_names(original)
    # at most once: a member used under a condition (the plain block's `add`) does not run at all
    assert all(after[name] <= 1 for name in added), {name: after[name] for name in added}
    assert {n for n, c in after.items() if c > 1} <= {n for n, c in before.items() if c > 1}, "newly reused"

    prepared_file = os.path.realpath(prepared_mod.__file__)
    report = trace_model(prepared, tuple(inputs), source_filter=lambda p: p == prepared_file)
    natives = native_ops(target)
    accounted = reported_lines(result.remaining) | island_lines(result.text)  # islands run float on purpose
    leftovers = [(s.line, s.op) for s in report.op_sites
                 if s.line not in accounted and s.op.rsplit(".", 1)[-1] not in natives]
    assert not leftovers, f"ops still outside modules but no longer reported: {leftovers}"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", ["container_sequential", "container_moduledict", "container_modulelist",
                                  "container_children_outside"])
def test_container_classes_get_no_member_and_say_why(case, target):
    text, path = source_of("fixture", case)
    result = fix(text, path, target, unsafe=True)
    _, prepared_mod = load_pair(text, result.text, case, path_hint=path)
    torch.manual_seed(0)
    model = prepared_mod.build()
    for module in model.modules():
        if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) and type(module).__module__ != "torch":
            # the container's items are what __init__ put there, nothing else
            assert not [m for m in module.children()
                        if type(m).__module__.startswith(("distiller", "torch.ao"))], type(module).__name__
    refused = [f for f in result.remaining if f.klass not in ("Holder", "Net") and "has no module for it" not in f.message]
    assert all(f.fix is None for f in refused)
    assert all("a new member would become one of" in f.message and "(manual)" in f.message for f in refused)
    if target == "torch-eager":  # their tensor adds and muls call the stateless generated helpers (no member)
        assert result.text.count("add_dynamic_qparams(") > 1  # its definition, and a call
    else:
        assert refused


def test_container_refusal_messages_name_the_view():
    text, path = source_of("fixture", "container_moduledict")
    messages = {f.klass: f.message for f in analyze_source(text, str(path), Settings())}
    assert "the class is an nn.ModuleDict whose forward iterates self.items(): a new member would become " \
           "one of its items" in messages["DenseBlock"]
    assert "whose forward iterates self.values()" in messages["MixedConv"]
    assert "whose forward iterates self.keys()" in messages["Keyed"]
    text, path = source_of("fixture", "container_modulelist")
    messages = {f.klass: f.message for f in analyze_source(text, str(path), Settings())}
    assert "nn.ModuleList whose forward iterates self (enumerate(self))" in messages["Stages"]
    assert "its forward reads self.children(): a new member would become one of those children" in messages["Chain"]
    assert "its __getitem__ reads self._modules" in messages["Lookup"]


def test_why_no_rewrite_can_keep_a_container_view():
    """The claim behind the refusal, executed: every module member is one of the container's items.

    FloatFunctional is an nn.Module, so it is registered like a layer; a module kept out
    of `_modules` (object.__setattr__) is also out of the quantizer's sight.
    """
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seq.add = FloatFunctional()
    assert len(seq) == 3 and isinstance(list(seq)[-1], FloatFunctional) and isinstance(seq[-1], FloatFunctional)
    with pytest.raises(RuntimeError, match="FloatFunctional is not intended to use the 'forward'"):
        seq(torch.randn(1, 2))  # Sequential.forward runs it as a layer
    blocks = nn.ModuleDict({"a": nn.Identity()})
    blocks.cat = FloatFunctional()
    assert list(blocks.keys()) == ["a", "cat"]
    items = nn.ModuleList([nn.Identity()])
    items.add = FloatFunctional()
    assert len(items) == 2

    hidden = nn.Sequential(nn.Linear(2, 2))
    object.__setattr__(hidden, "add", FloatFunctional())
    assert len(hidden) == 1
    assert not any(isinstance(m, FloatFunctional) for m in hidden.modules())  # what quantizers walk


@pytest.mark.parametrize("target", TARGETS)
def test_conditional_member_copies_follow_the_condition(target):
    text, path = source_of("fixture", "conditional_member")
    result = fix(text, path, target, unsafe=True)
    original_mod, prepared_mod = load_pair(text, result.text, "conditional_member", path_hint=path)
    for cross in (False, True):
        block = prepared_mod.Block(4, is_cross_attention=cross, use_act=cross)
        assert hasattr(block, "ln_1_kv_2") is cross and hasattr(block, "act_2") is cross
        reference = original_mod.Block(4, is_cross_attention=cross, use_act=cross)
        block.load_state_dict(reference.state_dict(), strict=False)
        x, kv = original_mod.example_inputs()
        counts = calls_per_pass(block, (x, kv))
        assert all(n <= 1 for name, n in counts.items() if name), counts


@pytest.mark.parametrize("target", TARGETS)
def test_static_loops_get_one_module_per_iteration(target):
    text, path = source_of("fixture", "loop_static")
    result = fix(text, path, target)
    assert "self.adds = nn.ModuleList([" in result.text and "for _ in range(len(self.blocks))])" in result.text
    assert "self.muls = nn.ModuleList([" in result.text and "for _ in range(self.depth)])" in result.text
    assert "self.adds[i]" in result.text and "self.relus[j](x)" in result.text
    assert not [f for f in result.remaining if f.symbol != "reused-module" and f.fix is not None]
    original_mod, prepared_mod = load_pair(text, result.text, "loop_static", path_hint=path)
    original, prepared = _build_pair(original_mod, prepared_mod, unsafe=False)
    assert set(prepared.state_dict()) == set(original.state_dict())  # a list of stateless modules adds no keys
    counts = calls_per_pass(prepared.eval(), original_mod.example_inputs())
    assert [counts[f"adds.{i}"] for i in range(3)] == [1, 1, 1]
    assert [counts[f"muls.{i}"] for i in range(3)] == [1, 1, 1]
    assert [counts[f"relus.{i}"] for i in range(2)] == [1, 1]
    assert [counts[f"muls_2.{i}"] for i in range(2)] == [1, 1]
    assert counts["cat"] == 1


_REUSED = "one module would be reused by every run, so no fix"


def test_dynamic_loops_get_no_fix_and_say_why():
    text = '''
import torch
import torch.nn as nn


class Dyn(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(n)])

    def forward(self, x, extras):
        for blk in self.blocks:
            x = blk(x) + x
        for e in extras:
            x = x * e
        i = 0
        while i < 2:
            x = torch.sigmoid(x)
            i += 1
        for a in range(2):
            for b in range(2):
                x = x * 3
        return x
'''
    for target in TARGETS:
        findings = {f.line: f for f in analyze_source(text, "dyn.py", Settings(target=target))}
        if target == "torch-eager":  # eager runs one FloatFunctional shared by every run (loop_sharing.py)
            shared = [f for f in findings.values() if f.op in ("operator.add", "operator.mul")]
            assert shared and all(f.fix is not None and "statistics (one scale and zero point) are shared" in
                                  f.message for f in shared)
            assert findings[18].fix is None  # not a FloatFunctional op: still reused by every run
            assert "while loop" in findings[18].message and _REUSED in findings[18].message
            continue
        assert all(f.fix is None for f in findings.values())
        assert "has no position to index a module list with (write `for i, x in enumerate(self.blocks)`)" \
               in findings[13].message
        assert "once per element of extras, a number not known before forward: one module would be reused " \
               "by every run, so no fix" in findings[15].message
        assert "while loop" in findings[18].message
        assert "nested loops" in findings[22].message


@pytest.mark.parametrize("case", ["loop_static", "loop_zip", "conditional_member"])
def test_torch_eager_results_survive_post_training_quantization(case):
    text, path = source_of("fixture", case)
    result = fix(text, path, "torch-eager")
    _, prepared_mod = load_pair(text, result.text, case, path_hint=path)
    torch.manual_seed(0)
    prepared = prepared_mod.build().eval()
    inputs = prepared_mod.example_inputs()
    if case == "conditional_member":  # one input: wrap the two-argument block pair
        prepared = _Pair(prepared)
    x = inputs[0]
    with torch.no_grad():
        reference = prepared(x)
    torch.manual_seed(1)
    quantized = eager_ptq(prepared, [torch.randn_like(x) for _ in range(4)] + [x])
    with torch.no_grad():
        out = quantized(x)
    assert out.shape == reference.shape
    assert (out - reference).abs().max().item() < 0.1 * reference.abs().max().item() + 0.05


class _Pair(nn.Module):
    """Feeds one input as both arguments and returns the first output (QuantStub has one input)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x, x)[0]


@pytest.mark.parametrize("unsafe", MODES, ids=["safe", "unsafe"])
def test_fuse_model_skips_chains_of_members_not_created(unsafe):
    """`if use_act: self.act = nn.ReLU()`: the proj -> act chain is fused only where act exists."""
    text, path = source_of("fixture", "conditional_member")
    result = fix(text, path, "torch-eager", unsafe)
    assert 'if hasattr(self, "act"):\n            fuse(self, [["proj", "act"]], inplace=True)' in result.text
    original_mod, prepared_mod = load_pair(text, result.text, "conditional_member", path_hint=path)
    original, prepared = _build_pair(original_mod, prepared_mod, unsafe)
    original.eval()
    prepared.eval().fuse_model()  # the plain block has no act: it must not fail
    inputs = original_mod.example_inputs()
    with torch.no_grad():
        for e, a in zip(original(*inputs), prepared(*inputs)):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-5)
