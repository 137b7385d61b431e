"""Golden fixtures for `pylint-distiller fix` (TorchFix style).

Layout: ``tests/fixtures/fix/inputs/<case>.in.py`` is the input, shared by every
target; ``<target>/<case>.out.py`` is the expected result of the SAFE fixes for
that target, and ``<target>/<case>.unsafe.out.py`` the expected result with
``unsafe=True``. An unsafe
golden exists exactly when the unsafe result differs from the safe one, so every
case pins both modes.

Files are read and compared as exact text (``newline=""``): CRLF, tabs and a
missing final newline are part of what the fixtures test (``.gitattributes`` in
the fixture folder keeps git from normalising them).

Goldens listed in `KNOWN_BUGS` hold the hand-written correct output and are
never overwritten by an update.

Regenerate with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_fix_golden.py``,
then review EVERY changed ``.out.py`` by eye against design.md ("Rewrite
contract", "Worked example") before committing it: a golden file is a claim that
its content is right, not a record of what the engine happened to produce.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pylint_distiller.catalogue import TARGETS
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fix"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as stream:
        return stream.read()


def write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)


INPUTS = FIXTURES / "inputs"


def cases() -> list[str]:
    return sorted(p.name[: -len(".in.py")] for p in INPUTS.glob("*.in.py"))


ALL_CASES = [(target, case) for target in TARGETS for case in cases()]

#: Goldens that hold the CORRECT (hand-written) output while the engine is wrong:
#: strict xfail, so each flips to a failure (remove it here) once the bug is fixed.
KNOWN_BUGS = {
}


def params(mode: str) -> list:
    out = []
    for target, case in ALL_CASES:
        reason = KNOWN_BUGS.get((target, case, mode))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(target, case, marks=marks, id=f"{target}/{case}"))
    return out


def fixed(target: str, case: str, unsafe: bool) -> str:
    path = INPUTS / f"{case}.in.py"
    return fix_source(read_text(path), str(path), Settings(target=target), unsafe=unsafe).text


def check_golden(path: Path, actual: str, known_bug: bool = False) -> None:
    if UPDATE and not known_bug:
        if not path.exists() or read_text(path) != actual:
            write_text(path, actual)
        return
    assert path.exists(), f"{path.name} is missing: run with UPDATE_GOLDEN=1 and review it"
    expected = read_text(path)
    if actual != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"{path.name} (expected)", "actual"))
        pytest.fail(f"{path.relative_to(FIXTURES)} differs from the fix output:\n{diff}")


# ------------------------------------------------------------------ goldens
@pytest.mark.parametrize("target,case", params("safe"))
def test_safe_golden(target, case):
    check_golden(FIXTURES / target / f"{case}.out.py", fixed(target, case, unsafe=False),
                 known_bug=(target, case, "safe") in KNOWN_BUGS)


@pytest.mark.parametrize("target,case", params("unsafe"))
def test_unsafe_golden(target, case):
    safe = fixed(target, case, unsafe=False)
    unsafe = fixed(target, case, unsafe=True)
    path = FIXTURES / target / f"{case}.unsafe.out.py"
    if unsafe == safe:
        if UPDATE and path.exists():
            path.unlink()
        assert not path.exists(), f"{path.name} exists but --unsafe-fixes changes nothing for this case"
        return
    check_golden(path, unsafe, known_bug=(target, case, "unsafe") in KNOWN_BUGS)


# ------------------------------------------------------------- fixture hygiene
def test_every_target_has_a_golden_for_every_input():
    assert cases(), "no fixtures found"
    for target in TARGETS:
        for case in cases():
            assert (FIXTURES / target / f"{case}.out.py").exists(), f"{target}/{case}.out.py"


def test_no_orphan_goldens():
    known = set(cases())
    for target in TARGETS:
        for out in (FIXTURES / target).glob("*.out.py"):
            stem = out.name[: -len(".out.py")]
            stem = stem[: -len(".unsafe")] if stem.endswith(".unsafe") else stem
            assert stem in known, f"{out} has no {stem}.in.py"


def test_line_ending_fixtures_were_not_normalised():
    """Guards the fixtures themselves (git autocrlf, an editor's 'fix' on save)."""
    crlf = read_text(INPUTS / "crlf.in.py")
    assert crlf.count("\r\n") == crlf.count("\n") > 10
    tabs = read_text(INPUTS / "tabs.in.py")
    assert "\n\t\tsuper().__init__()" in tabs and "    " not in tabs
    assert not read_text(INPUTS / "no_trailing_newline.in.py").endswith("\n")


# ------------------------------------------- design.md's worked example, spelled out
def test_basic_module_distiller_is_designs_expected_preparation():
    """design.md, "Worked example": the distiller-target result, checked line by line
    independently of the golden file (Distiller's own typos must not be copied)."""
    src = read_text(INPUTS / "basic_module.in.py")
    out = fixed("distiller", "basic_module", unsafe=False)
    init_additions = [
        "        self.add = distiller.modules.EltwiseAdd(inplace=True)\n",
        "        self.relu_2 = nn.ReLU()\n",
        "        self.cat = distiller.modules.Concat(dim=1)\n",
        "        self.sigmoid = nn.Sigmoid()\n",
    ]
    # the new members close __init__, in call order, right after its last statement
    anchor = "        self.bn2 = nn.BatchNorm2d(planes)\n"
    assert anchor + "".join(init_additions) + "\n    def forward(self, x):\n" in out
    forward = out[out.index("    def forward"):]
    for old, new in [
        ("        out += identity\n        out = self.relu(out)\n",
         "        out = self.add(out, identity)\n        out = self.relu_2(out)\n"),
        ("        out = torch.cat([identity, out], dim=1)\n        out = F.sigmoid(out)\n",
         "        out = self.cat(identity, out)\n        out = self.sigmoid(out)\n"),
    ]:
        assert old in src and new in forward
    # the first relu call keeps the original instance
    assert forward.count("        out = self.relu(out)\n") == 1
    assert out.count("import distiller.modules\n") == 1
    assert "EltWiseAdd" not in out and "relu1" not in out
    # nothing else changed: removing the additions and undoing the four edits gives the input back
    undone = out.replace("".join(init_additions), "").replace("import distiller.modules\n", "")
    undone = undone.replace("        out = self.add(out, identity)\n        out = self.relu_2(out)\n",
                            "        out += identity\n        out = self.relu(out)\n")
    undone = undone.replace("        out = self.cat(identity, out)\n        out = self.sigmoid(out)\n",
                            "        out = torch.cat([identity, out], dim=1)\n        out = F.sigmoid(out)\n")
    assert undone == src


def test_basic_module_torch_eager_is_designs_expected_preparation():
    """torchvision's hand-made shape: one FloatFunctional per site, add_relu where the add feeds the
    relu (so self.relu is called once and needs no copy), and fuse_model() for the conv/bn chains."""
    src = read_text(INPUTS / "basic_module.in.py")
    out = fixed("torch-eager", "basic_module", unsafe=False)
    init_additions = [
        "        self.add_relu = FloatFunctional()\n",
        "        self.cat = FloatFunctional()\n",
        "        self.sigmoid = nn.Sigmoid()\n",
    ]
    assert "        self.bn2 = nn.BatchNorm2d(planes)\n" + "".join(init_additions) in out
    assert "        out = self.add_relu.add_relu(out, identity)\n\n" in out
    assert "        out = self.cat.cat([identity, out], dim=1)\n        out = self.sigmoid(out)\n" in out
    assert '        fuse(self, [["conv1", "bn1", "relu"], ["conv2", "bn2"]], inplace=True)\n' in out
    assert out.count("from torch.ao.nn.quantized import FloatFunctional\n") == 1
    assert "distiller" not in out.replace(src, "") and "import distiller" not in out
    undone = out.replace("".join(init_additions), "").replace("from torch.ao.nn.quantized import FloatFunctional\n", "")
    # fuse_model()'s walk uses the run-time island class, generated once before the first class
    assert out.count("\nclass FloatIsland(nn.Module):\n") == 1
    island = undone.index("class FloatIsland(")
    undone = undone[:island] + undone[undone.index("\nclass ", island + 1) + 1:]
    undone = undone.replace("from torch.ao.quantization import QuantStub\n", "")
    undone = undone.replace("from torch.ao.quantization import DeQuantStub\n", "")
    undone = undone.replace("        out = self.add_relu.add_relu(out, identity)\n",
                            "        out += identity\n        out = self.relu(out)\n")
    undone = undone.replace("        out = self.cat.cat([identity, out], dim=1)\n        out = self.sigmoid(out)\n",
                            "        out = torch.cat([identity, out], dim=1)\n        out = F.sigmoid(out)\n")
    method = undone.index("\n\n    def fuse_model(")
    undone = undone[:method] + undone[undone.index("\n\n\ndef build"):]
    assert undone == src


def test_basic_module_fixture_is_the_bundled_example():
    example = Path(__file__).resolve().parent.parent / "examples" / "basic_module.py"
    assert read_text(INPUTS / "basic_module.in.py") == read_text(example)
