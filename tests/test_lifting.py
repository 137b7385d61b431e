"""Helpers that receive no module, lifted into module classes (`analysis/lifting.py`,
`fixer/together.py`).

Same-file lifts are pinned by the goldens `lift_helpers` / `lift_refused` (which
`test_fix_runtime.py` also executes) and by llama in `test_fix_realcode.py`. Here:
every refusal says why; the cross-file lift (`tests/fixtures/project/rope`: the
helper in `rotary.py`, its callers in `model.py`) is executed for both targets
(strict load of the original state_dict, same outputs, no op of the helper left
outside a module, eager PTQ runs, a second `fix` changes nothing); and a fix
that edits two files writes both or neither.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import os
import shutil
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch.ao.quantization as tq

from pylint_distiller import cli
from pylint_distiller.api import analyze_source
from pylint_distiller.catalogue import TARGETS
from pylint_distiller.settings import Settings
from pylint_distiller.sources import SourceError, read_source
from pylint_distiller.fixer.together import write_together
from pylint_distiller.verify.runtime import trace_model
from tests.support.ptq import sqnr_db
from tests.support.runtime_equivalence import stub_distiller_on_path

ROPE = Path(__file__).resolve().parent / "fixtures" / "project" / "rope"
_counter = itertools.count(1)


def messages(source: str, target: str = "distiller") -> list[str]:
    return [f.message for f in analyze_source(textwrap.dedent(source), "m.py", Settings(target=target))]


HEAD = """
import torch
import torch.nn as nn
"""


def model(helper: str, call: str = "h = helper(h)") -> str:
    return HEAD + textwrap.dedent(helper) + textwrap.dedent(f"""

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                h = self.fc(x)
                {call}
                return h
        """)


@pytest.mark.parametrize("helper,call,reason", [
    ("def helper(x):\n    return x * x\n", "for _ in range(2):\n                    h = helper(h)",
     "helper() runs several times per forward pass"),
    ("def helper(x):\n    return x * x\n", "h = helper(helper(h))", None),  # two call sites: two instances
    ("import functools\n@functools.lru_cache\ndef helper(x):\n    return x * x\n", "h = helper(h)",
     "helper() is decorated (@functools.lru_cache)"),
    ("N = 1\ndef helper(x):\n    global N\n    return x * x\n", "h = helper(h)", "declares global names"),
    ("def helper(x, depth=1):\n    if depth:\n        return helper(x * x, depth - 1)\n    return x\n",
     "h = helper(h)", "helper() is recursive"),
    ("def helper(x):\n    y = x * x\n    def inner():\n        nonlocal y\n        y = y\n    inner()\n    return y\n",
     "h = helper(h)", "declares nonlocal names"),
    ("def helper(x):\n    return x * x\ndef helper(x):\n    return x * x\n", "h = helper(h)",
     "the module binds helper more than once"),
    ("def helper(x, self=None):\n    return x * x\n", "h = helper(h)", "has a parameter named self"),
    ("def helper(x):\n    return torch.sin(x) * x\n", "h = helper(h) if h.shape[0] else h", None),
])
def test_refused_lifts_say_why(helper, call, reason):
    found = [m for m in messages(model(helper, call)) if "'*'" in m]
    assert found, messages(model(helper, call))
    if reason is None:  # lifted: the op carries the lift's fix
        assert not any("cannot be lifted" in m for m in found), found
        return
    assert all("cannot be lifted into a module class" in m and reason in m for m in found), found


def test_helper_called_from_a_method_run_twice_is_not_lifted():
    source = HEAD + textwrap.dedent("""
        def helper(x):
            return x * x


        class M(nn.Module):
            def _step(self, x):
                return helper(x)

            def forward(self, x):
                return self._step(self._step(x))
        """)
    found = [m for m in messages(source) if "'*'" in m]
    assert found and all("helper() runs several times per forward pass from line" in m for m in found), found


def test_an_unrelated_name_bound_to_the_helper_is_not_lifted():
    source = model("def helper(x):\n    return x * x\n", "fn = helper if h.shape[0] else None\n"
                   "                h = fn(h)")
    assert not any("cannot be lifted" in m for m in messages(source))


# ------------------------------------------------------------------ across files
def _copy_package(tmp_path: Path) -> tuple[str, Path]:
    name = f"rope_lift{next(_counter)}"
    folder = tmp_path / name
    shutil.copytree(ROPE, folder)
    return name, folder


def _import(tmp_path: Path, name: str):
    sys.path.insert(0, str(tmp_path))
    try:
        with stub_distiller_on_path():
            return importlib.import_module(f"{name}.model")
    finally:
        sys.path.remove(str(tmp_path))


def _fix(capsys, folder: Path, target: str, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["fix", "--target", target, *extra, str(folder)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class _Quantized(torch.nn.Module):
    """QuantStubs on every input, a DeQuantStub on the output: eager PTQ of a three-input model."""

    def __init__(self, model: torch.nn.Module, inputs: int) -> None:
        super().__init__()
        self.stubs = torch.nn.ModuleList(tq.QuantStub() for _ in range(inputs))
        self.model = model
        self.dequant = tq.DeQuantStub()

    def forward(self, *xs):
        return self.dequant(self.model(*[stub(x) for stub, x in zip(self.stubs, xs)]))


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.py"))}


@pytest.mark.parametrize("target", TARGETS)
def test_helper_of_another_file_is_lifted_there_and_the_model_is_unchanged(tmp_path, capsys, target):
    original_name, original_folder = _copy_package(tmp_path)
    name, folder = _copy_package(tmp_path)
    code, _out, err = _fix(capsys, folder, target)
    assert code == 0, err
    texts = _texts(folder)
    assert "class ApplyRotaryPosEmb(" in texts["rotary.py"] and "class RotateHalf(" in texts["rotary.py"]
    assert "from .rotary import ApplyRotaryPosEmb" in texts["model.py"]
    assert texts["model.py"].count("= ApplyRotaryPosEmb()") == 2  # one instance per calling class

    original_mod, prepared_mod = _import(tmp_path, original_name), _import(tmp_path, name)
    torch.manual_seed(0)
    original = original_mod.build().eval()
    torch.manual_seed(0)
    prepared = prepared_mod.build().eval()
    prepared.load_state_dict(original.state_dict(), strict=True)
    inputs = original_mod.example_inputs()
    with torch.no_grad():
        torch.testing.assert_close(prepared(*inputs), original(*inputs), atol=1e-6, rtol=0)

    rotary = os.path.realpath(folder / "rotary.py")
    report = trace_model(prepared, inputs, source_filter=lambda p: p == rotary)
    assert not report.op_sites, [(s.line, s.op) for s in report.op_sites]
    before = trace_model(original, inputs, source_filter=lambda p: p == os.path.realpath(original_folder /
                                                                                        "rotary.py"))
    assert len(before.op_sites) >= 5  # the helpers' mul, add and cat ran outside any module before
    if target == "torch-eager":  # the lifted classes hold FloatFunctionals: eager PTQ prepares and runs them
        torch.backends.quantized.engine = "x86"
        wrapped = _Quantized(copy.deepcopy(prepared), len(inputs)).eval()
        wrapped.qconfig = tq.get_default_qconfig("x86")
        tq.prepare(wrapped, inplace=True)
        with torch.no_grad():
            for _ in range(3):
                wrapped(*[torch.randn_like(x) for x in inputs])
        tq.convert(wrapped, inplace=True)
        with torch.no_grad():
            expected, quantized = prepared(*inputs), wrapped(*inputs)
        assert sqnr_db(expected, quantized) > 15

    again = _texts(folder)
    code, _out, err = _fix(capsys, folder, target)
    assert code == 0, err
    assert _texts(folder) == again, "fix is not idempotent across files"


def test_cross_file_lift_diff_shows_both_files_and_writes_none(tmp_path, capsys):
    _name, folder = _copy_package(tmp_path)
    before = _texts(folder)
    code, out, err = _fix(capsys, folder, "distiller", "--diff")
    assert code == 0, err
    assert "rotary.py" in out and "model.py" in out and "class ApplyRotaryPosEmb(" in out
    assert _texts(folder) == before


def test_unwritable_helper_file_leaves_both_files_untouched(tmp_path, capsys):
    _name, folder = _copy_package(tmp_path)
    before = _texts(folder)
    os.chmod(folder / "rotary.py", 0o444)
    try:
        code, _out, err = _fix(capsys, folder, "distiller")
    finally:
        os.chmod(folder / "rotary.py", 0o644)
    assert code != 0 and "rotary.py" in err and "read-only" in err, err
    after = _texts(folder)
    assert after["rotary.py"] == before["rotary.py"]
    # the caller keeps its own single-file fixes, never the half of the lift that imports the class
    assert "ApplyRotaryPosEmb" not in after["model.py"]


def test_failed_second_replace_restores_the_first_file(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n", encoding="utf-8")
    b.write_text("y = 2\n", encoding="utf-8")
    pairs = [(read_source(str(a)), "x = 10\n"), (read_source(str(b)), "y = 20\n")]
    real_replace = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    with mock.patch("pylint_distiller.fixer.together.os.replace", side_effect=failing):
        with pytest.raises(SourceError, match="b.py: cannot write.*restored"):
            write_together(pairs)
    assert a.read_text(encoding="utf-8") == "x = 1\n" and b.read_text(encoding="utf-8") == "y = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"], "staged files left behind"


def test_write_together_refuses_text_that_does_not_parse(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(SourceError, match="does not parse"):
        write_together([(read_source(str(a)), "x = (\n")])
    assert a.read_text(encoding="utf-8") == "x = 1\n"


# ------------------------------------------------- helpers that receive their module
ATTENTION = HEAD + '''
def eager_attention_forward(module, query, key):
    return torch.matmul(query, key.transpose(-1, -2)) * module.scaling
{extra}

class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qk = nn.Linear(4, 8)
        self.scaling = 0.5

    def forward(self, x):
        q, k = self.qk(x).chunk(2, dim=-1)
        return {call}
'''


@pytest.mark.parametrize("extra,call,stray_line", [
    ("", "eager_attention_forward(self, q, k)", None),
    ("\nATTENTION = {'eager': eager_attention_forward}\n", "eager_attention_forward(self, q, k)", 8),
    ("\nclass Other(nn.Module):\n    def extra(self, q):\n        return eager_attention_forward(self, q, q)\n",
     "eager_attention_forward(self, q, k)", 10),
    ("\ndef wrapper(module, q, k):\n    return eager_attention_forward(module, q, k)\n", "wrapper(self, q, k)", None),
])
@pytest.mark.parametrize("target", TARGETS)
def test_module_argument_helper_is_fixed_only_when_every_reference_gets_the_member(extra, call, stray_line, target):
    findings = [f for f in analyze_source(ATTENTION.format(extra=extra, call=call), "m.py", Settings(target=target))
                if f.line == 6]
    assert findings
    if stray_line is None:
        assert all(f.fix is not None and f.fix.applies for f in findings), [f.message for f in findings]
    else:
        assert all(f.fix is None and f"eager_attention_forward() is also used at line {stray_line}" in f.message
                   for f in findings), [f.message for f in findings]


def test_cross_file_helper_message_names_the_lift(capsys):
    code = cli.main(["check", str(ROPE)])
    out = capsys.readouterr().out
    assert code != 0
    rotary = [line for line in out.splitlines() if "rotary.py" in line]
    assert rotary and all("lifts its helper into a module class in this file" in line for line in rotary), rotary


def test_static_method_overridden_by_a_subclass_is_not_lifted():
    source = HEAD + textwrap.dedent("""
        class Base(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            @staticmethod
            def _mix(x):
                return x * x

            def forward(self, x):
                return self._mix(self.fc(x))


        class Child(Base):
            @staticmethod
            def _mix(x):
                return x + x
        """)
    found = [m for m in messages(source) if "'*'" in m or "'+'" in m]
    assert found and all("runs different methods in different classes" in m for m in found), found


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
@pytest.mark.parametrize("target", TARGETS)
def test_helper_reexported_by_a_package_init_is_imported_from_its_own_file(tmp_path, capsys, target, absolute):
    """timm eva's `from timm.layers import apply_rot_embed_cat`: the helper is defined in
    `timm/layers/pos_embed_sincos.py` and re-exported by `timm/layers/__init__.py`, which `fix`
    does not edit. The lifted class goes next to the helper, so the caller must import it from
    there: `from timm.layers import ApplyRotEmbedCat` raised ImportError."""
    packages = []
    for _ in range(2):
        name, folder = _copy_package(tmp_path)
        (folder / "layers").mkdir()
        (folder / "rotary.py").rename(folder / "layers" / "rotary.py")
        (folder / "layers" / "__init__.py").write_text("from .rotary import apply_rotary_pos_emb, rotate_half\n")
        model = folder / "model.py"
        source = f"{name}.layers" if absolute else ".layers"
        model.write_text(model.read_text().replace("from .rotary import", f"from {source} import"))
        packages.append((name, folder))
    (original_name, _), (name, folder) = packages
    code, _out, err = _fix(capsys, folder, target)
    assert code == 0, err
    text = (folder / "model.py").read_text()
    assert f"from {source}.rotary import ApplyRotaryPosEmb" in text, text
    assert (folder / "layers" / "__init__.py").read_text() == "from .rotary import apply_rotary_pos_emb, rotate_half\n"

    original_mod, prepared_mod = _import(tmp_path, original_name), _import(tmp_path, name)
    torch.manual_seed(0)
    original = original_mod.build().eval()
    torch.manual_seed(0)
    prepared = prepared_mod.build().eval()
    assert any(type(m).__name__ == "ApplyRotaryPosEmb" for m in prepared.modules())
    prepared.load_state_dict(original.state_dict(), strict=True)
    inputs = original_mod.example_inputs()
    with torch.no_grad():
        torch.testing.assert_close(prepared(*inputs), original(*inputs), atol=1e-6, rtol=0)
    if target == "torch-eager":
        torch.backends.quantized.engine = "x86"
        wrapped = _Quantized(copy.deepcopy(prepared), len(inputs)).eval()
        wrapped.qconfig = tq.get_default_qconfig("x86")
        tq.prepare(wrapped, inplace=True)
        with torch.no_grad():
            for _ in range(3):
                wrapped(*[torch.randn_like(x) for x in inputs])
        tq.convert(wrapped, inplace=True)
        with torch.no_grad():
            assert sqnr_db(prepared(*inputs), wrapped(*inputs)) > 15
    again = {p: p.read_text() for p in folder.rglob("*.py")}
    code, _out, err = _fix(capsys, folder, target)
    assert code == 0, err
    assert {p: p.read_text() for p in folder.rglob("*.py")} == again, "fix is not idempotent across files"
