"""Project mode: several files or a directory analysed as one project (analysis/project.py, crossfile.py).

The fixture packages under tests/fixtures/project split model code over files the
way real packages do: a helper module without module classes, a base block whose
forward the subclass in another file inherits, a head override calling super(),
one Mlp instance bound to two attributes, and an attention function called by
classes of two files. The fix tests run `pylint-distiller fix DIR` on a copy and
EXECUTE both packages: strict state_dict load, same outputs.
"""

from __future__ import annotations

import importlib
import itertools
import json
import shutil
import sys
from pathlib import Path

import pytest

from pylint_distiller import cli
from pylint_distiller.analysis import analyze_in_project
from pylint_distiller.analysis.project import ProjectIndex
from pylint_distiller.api import analyze_file, analyze_source

FIXTURES = Path(__file__).parent / "fixtures" / "project"
DETECTOR = FIXTURES / "detector"
ATTN = FIXTURES / "attn"
_names = itertools.count()


def check_json(*paths, capsys) -> list[dict]:
    cli.main(["check", "--format", "json", *map(str, paths)])
    return json.loads(capsys.readouterr().out)


def by_file(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for record in records:
        out.setdefault(Path(record["path"]).name, []).append(record)
    return out


def line_of(path: Path, text: str) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


# ------------------------------------------------------------------ analysis
def test_helper_in_another_file_is_reported_where_the_op_is_naming_the_caller(capsys):
    files = by_file(check_json(DETECTOR, capsys=capsys))
    boxes = files["boxes.py"]
    assert {(r["line"], r["op"]) for r in boxes} == {
        (7, "operator.add"), (7, "operator.mul"), (8, "operator.mul"), (8, "torch.exp"), (9, "torch.cat")}
    assert all(r["class"] == "Detector" and r["fix"] is None for r in boxes)
    assert all("in the forward of Detector in another file" in r["message"] for r in boxes)
    # analysed alone, a file without module classes has nothing to say
    assert analyze_file(str(DETECTOR / "boxes.py")) == []


def test_inherited_forward_is_walked_with_the_subclass_members_across_files(capsys):
    layers = by_file(check_json(DETECTOR, capsys=capsys))["layers.py"]
    relu = [r for r in layers if r["symbol"] == "reused-module" and r["op"] == "self.relu"]
    assert [r["line"] for r in relu] == [line_of(DETECTOR / "layers.py", "out = self.relu(self.conv2(out))"),
                                         line_of(DETECTOR / "layers.py", "return self.relu(out + x)")]
    assert all(r["class"] == "Block" and r["fix"] is None for r in relu)
    assert "whose own __init__ builds self.relu" in relu[0]["message"]
    assert "reached from Block in model.py" in relu[0]["message"]


def test_inherited_forward_in_one_file_is_analysed_per_subclass():
    source = (DETECTOR / "layers.py").read_text().split("class Mlp")[0] + (
        "\n\nclass Block(BaseBlock):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.conv2 = nn.Conv2d(c, c, 3, padding=1)\n"
        "        self.relu = nn.ReLU()\n")
    reuse = [f for f in analyze_source(source) if f.symbol == "reused-module"]
    assert [(f.line, f.klass) for f in reuse] == [(11, "Block"), (12, "Block")]
    assert all(f.fix is None for f in reuse)  # a member in BaseBlock would not suit every subclass


def test_module_run_twice_from_another_file_makes_its_calls_reused_and_its_op_fixes_refused(capsys):
    layers = by_file(check_json(DETECTOR, capsys=capsys))["layers.py"]
    line = line_of(DETECTOR / "layers.py", "return self.fc2(self.act(self.fc1(x))) + x")
    reused = sorted(r["op"] for r in layers if r["line"] == line and r["symbol"] == "reused-module")
    assert reused == ["self.act", "self.fc1", "self.fc2"]
    assert all("Mlp itself runs 2 times per pass" in r["message"] for r in layers
               if r["line"] == line and r["symbol"] == "reused-module")
    add = [r for r in layers if r["line"] == line and r["op"] == "operator.add"]
    # one new module would run twice per pass (reuse): no fix, and the message says why
    assert add[0]["fix"] is None
    assert "its module class runs several times per forward pass: one module would be reused" in add[0]["message"]
    # alone, layers.py cannot know that model.py calls one Mlp twice: its fix looks safe there
    alone = [f for f in analyze_file(str(DETECTOR / "layers.py")) if f.line == line and f.op == "operator.add"]
    assert alone[0].fix.applicability.value == "safe"


def test_override_that_really_runs_and_super_are_followed_across_files(capsys):
    files = by_file(check_json(DETECTOR, capsys=capsys))
    sigmoid = [r for r in files["model.py"] if r["op"] == "torch.sigmoid"]
    assert [(r["line"], r["class"]) for r in sigmoid] == [(line_of(DETECTOR / "model.py", "torch.sigmoid(y)"),
                                                          "BoxHead")]
    # the base's forward_head, reached through super(), keeps its own finding and fix
    mul = [r for r in files["layers.py"] if r["op"] == "operator.mul"]
    assert mul and mul[0]["fix"]["applicability"] == "safe"
    # alone, model.py cannot see that BoxHead is a module (its base is in layers.py)
    assert not [f for f in analyze_file(str(DETECTOR / "model.py")) if f.op == "torch.sigmoid"]


def test_attention_function_is_checked_against_every_caller_across_files(capsys):
    alone = analyze_file(str(ATTN / "attention.py"))
    assert alone and all(f.fix is not None and f.fix.applies for f in alone)  # would crash CrossAttention
    project = by_file(check_json(ATTN, capsys=capsys))["attention.py"]
    assert len(project) == len(alone)
    assert all(r["fix"] is None and "CrossAttention" in r["message"] for r in project)


def test_one_file_alone_is_not_project_mode(capsys):
    single = check_json(DETECTOR / "layers.py", capsys=capsys)
    expected = [f.as_dict() for f in analyze_file(str(DETECTOR / "layers.py"))]
    assert [(r["line"], r["col"], r["symbol"]) for r in single] == [
        (r["line"], r["col"], r["symbol"]) for r in expected]


# ------------------------------------------------------------------ caching
def test_a_change_rebuilds_only_the_changed_file_and_its_dependents():
    project = ProjectIndex(sorted(DETECTOR.glob("*.py")))
    model, layers, boxes = (str(DETECTOR / n) for n in ("model.py", "layers.py", "boxes.py"))
    walks = {p: project.walk(p) for p in (model, layers, boxes)}
    first = analyze_in_project(project, layers)
    assert project.walk(model) is walks[model]  # cached: nothing changed
    project.set_text(model, (DETECTOR / "model.py").read_text() + "\n# edited\n")
    assert project.walk(layers) is walks[layers] and project.walk(boxes) is walks[boxes]
    assert project.walk(model) is not walks[model]
    assert [f.line for f in analyze_in_project(project, layers)] == [f.line for f in first]
    rebuilt = project.walk(model)
    project.set_text(layers, (DETECTOR / "layers.py").read_text() + "\n")
    assert project.walk(model) is not rebuilt  # model.py imports layers.py
    assert project.walk(boxes) is walks[boxes]  # boxes.py does not


def test_identical_content_is_parsed_once():
    a = ProjectIndex(sorted(DETECTOR.glob("*.py")))
    b = ProjectIndex(sorted(DETECTOR.glob("*.py")))
    assert a.module(str(DETECTOR / "layers.py")) is b.module(str(DETECTOR / "layers.py"))


# --------------------------------------------------------------- execution
def _import_copy(src: Path, root: Path, prefix: str):
    name = f"{prefix}_{next(_names)}"
    shutil.copytree(src, root / name)
    return name


@pytest.fixture
def packages(tmp_path):
    """(original package dir, prepared package dir, importer) under unique package names."""
    sys.path.insert(0, str(tmp_path))
    loaded: list[str] = []

    def load(name: str, module: str):
        importlib.invalidate_caches()
        loaded.append(name)
        return importlib.import_module(f"{name}.{module}")

    try:
        yield tmp_path, load
    finally:
        sys.path.remove(str(tmp_path))
        for key in [k for k in sys.modules if k.split(".")[0] in loaded]:
            del sys.modules[key]


@pytest.mark.parametrize("target", ["distiller", "torch-eager"])
def test_fixing_the_project_keeps_the_model(packages, target, capsys):
    from tests.support.runtime_equivalence import assert_same_model, count_module_calls, stub_distiller_on_path

    root, load = packages
    original = _import_copy(DETECTOR, root, "det_orig")
    prepared = _import_copy(DETECTOR, root, "det_prep")
    assert cli.main(["fix", "--target", target, str(root / prepared)]) in (0, 1)
    capsys.readouterr()
    layers = (root / prepared / "layers.py").read_text()
    # Mlp runs twice per pass: no member may hold its add (it would run twice); torch-eager calls the
    # stateless generated helper instead (`analysis/dynamic_qparams.py`)
    kept = "self.fc2(self.act(self.fc1(x))) + x" if target == "distiller" else \
        "add_dynamic_qparams(self.fc2(self.act(self.fc1(x))), x)"
    assert kept in layers
    assert "self.relu(out + x)" not in layers  # BaseBlock's add got its module
    with stub_distiller_on_path():
        before, after = load(original, "model"), load(prepared, "model")
        _, model = assert_same_model(before, after, modes=("eval", "train"))
        calls = count_module_calls(model, before.example_inputs())
    # no new module runs twice per pass (a FloatFunctional's observer counts its add calls;
    # mul_scalar is not observed)
    new = {name: n + calls.get(f"{name}.activation_post_process", 0) for name, n in calls.items()
           if name.rsplit(".", 1)[-1] in ("add", "mul", "mean", "sigmoid")}
    assert len(new) >= 3 and all(n <= 1 for n in new.values()) and new["block.add"] == 1, calls
    # a second run finds nothing more it may fix safely
    capsys.readouterr()
    assert cli.main(["fix", "--check", "--target", target, str(root / prepared)]) == 0


def test_pylint_j2_gives_the_messages_of_j1_on_a_package():
    from tests.test_pylint_integration import messages, run_pylint

    args = ("--disable=all", "--enable=distiller", "--output-format=json2", str(DETECTOR))
    serial = run_pylint("-j", "1", *args, cwd=FIXTURES.parent.parent.parent)
    parallel = run_pylint("-j", "2", *args, cwd=FIXTURES.parent.parent.parent)
    key = lambda m: (m["path"], m["line"], m["column"], m["symbol"], m["message"])  # noqa: E731
    assert sorted(map(key, messages(serial))) == sorted(map(key, messages(parallel)))
    paths = {Path(m["path"]).name for m in messages(serial)}
    assert {"boxes.py", "layers.py", "model.py"} <= paths  # the helper file's findings come out too
