"""Property-based tests of the analysis and the rewrite engine.

For any text:

* `analyze_source` either returns findings whose spans lie inside the text, or,
  only when the text does not parse, raises astroid's syntax error;
* `fix_source` output always compiles, applying it twice equals applying it once,
  and afterwards nothing fixable (for that target and unsafe setting) is left.

Inputs: programs from hypothesmith (`from_grammar`, `from_node`), the same
programs inside a model's forward, model programs from a small grammar of
PyTorch code (ops, reuse, branches, loops, helpers, odd `__init__`s, CRLF, tabs,
unicode names), and mutations of real model files (the examples and a few
transformers modeling files): lines deleted or duplicated, `+`/`*` swapped,
`x = x + x` inserted into forward, statements wrapped in `if self.training:`,
identifiers renamed to unicode.

Everything is derandomized (the same examples on every run) and sized for CI.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
import textwrap
from pathlib import Path

import hypothesmith
import pytest
from astroid.exceptions import AstroidSyntaxError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pylint_distiller.api import analyze_source
from pylint_distiller.fixer.engine import allowed, fix_source
from pylint_distiller.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")  # generated code like `1()` is valid, if odd

_CI = settings(derandomize=True, database=None, deadline=None, print_blob=True,
               suppress_health_check=list(HealthCheck))


def ci(max_examples: int) -> settings:
    """Derandomized, no example database, no deadline: the same run on every machine."""
    return settings(_CI, max_examples=max_examples)

SETTINGS = {(target, unsafe): (Settings(target=target), unsafe)
            for target in ("distiller", "torch-eager") for unsafe in (False, True)}
configurations = st.sampled_from(sorted(SETTINGS))


# ------------------------------------------------------------------ properties
#: characters `str.splitlines` breaks lines at but Python does not (form feed, NEL, U+2028...)
NON_PYTHON_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def python_lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them (\\r\\n, \\r, \\n only)."""
    return re.split(r"\r\n|\r|\n", text)


def _init_cannot_grow(text: str, class_name: str | None) -> bool:
    """An __init__ that returns early gets no member (see test_what_check_calls_fixable_fix_applies)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef) and cls.name == class_name:
            for init in cls.body:
                if isinstance(init, ast.FunctionDef) and init.name == "__init__":
                    if init.body and init.body[0].lineno == init.lineno:
                        return True
                    return any(isinstance(n, ast.Return) for n in ast.walk(init))
    return False


def assert_only_flagged_lines_change(text: str, result) -> None:
    """Outside the applied findings' lines, the original lines survive byte for byte (new lines
    are only inserted). Valid when all fixes landed in one pass (their lines refer to `text`)."""
    before = re.split(r"(?<=\n)", text)
    after = re.split(r"(?<=\n)", result.text)
    flagged = set()
    for f in result.applied:
        flagged.update(range(f.line, f.end_line + 1))
    # a one-line `def __init__(self): ...` is continued in place (`; self.x = ...`): no new line can go there
    flagged.update(i + 1 for i, line in enumerate(before) if re.match(r"\s*def __init__\(.*\):\s*[^\s#]", line))
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            changed = set(range(i1 + 1, i2 + 1))
            assert changed <= flagged, (sorted(changed - flagged), [before[i] for i in sorted(changed - flagged)[:3]])


def _parses(text: str) -> bool:
    try:
        compile(text, "<generated>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def assert_analysis_sound(text: str, settings_: Settings | None = None) -> list | None:
    """Findings with in-range spans, or (only for text Python rejects) a syntax error."""
    try:
        findings = analyze_source(text, "generated.py", settings_)
    except AstroidSyntaxError:
        assert not _parses(text), "astroid rejected text that Python compiles"
        return None
    lines = python_lines(text)
    for f in findings:
        assert 1 <= f.line <= f.end_line <= len(lines), f
        assert 0 <= f.col <= len(lines[f.line - 1]), f
        assert 0 <= f.end_col <= len(lines[f.end_line - 1]), f
    return findings


def assert_fix_sound(text: str, configuration=("distiller", False)) -> None:
    """fix output compiles, is a fixed point, and leaves nothing fixable."""
    settings_, unsafe = SETTINGS[configuration]
    try:
        result = fix_source(text, "generated.py", settings_, unsafe=unsafe)
    except AstroidSyntaxError:
        assert not _parses(text), "astroid rejected text that Python compiles"
        return
    if not result.applied:
        assert result.text == text
        return
    compile(result.text, "<fixed>", "exec", dont_inherit=True)
    if result.passes == 1:
        assert_only_flagged_lines_change(text, result)
    again = fix_source(result.text, "generated.py", settings_, unsafe=unsafe)
    assert not again.applied, [f.symbol for f in again.applied]
    assert again.text == result.text
    left = [f for f in again.remaining if allowed(f, unsafe) and not _init_cannot_grow(again.text, f.klass)]
    assert not left, [(f.symbol, f.line, f.col) for f in left]


# ------------------------------------------------------------- hypothesmith
@ci(40)
@given(hypothesmith.from_grammar())
def test_generated_programs(text):
    assert_analysis_sound(text)
    assert_fix_sound(text)


@ci(15)
@given(hypothesmith.from_node())
def test_generated_programs_from_nodes(text):
    assert_analysis_sound(text)
    assert_fix_sound(text)


MODEL_SHELL = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Generated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3)
        self.relu = nn.ReLU()

    def forward(self, x, y=None):
        h = self.conv(x)
        z = self.relu(h) + x
{body}
        return torch.cat([x, self.relu(z)], dim=1)
'''


@ci(60)
@given(hypothesmith.from_grammar(), configurations)
def test_generated_programs_inside_forward(code, configuration):
    text = MODEL_SHELL.format(body=textwrap.indent(code, " " * 8) or "        pass")
    assert_analysis_sound(text, SETTINGS[configuration][0])
    assert_fix_sound(text, configuration)


# ------------------------------------------------------- model-code grammar
TENSORS = ["x", "h", "out", "identity"]
UNARY_CALLS = ["F.relu({})", "F.relu({}, inplace=True)", "torch.sigmoid({})", "torch.tanh({})", "{}.sigmoid()",
               "{}.softmax(dim=-1)", "F.softmax({}, dim=-1)", "self.relu({})", "self.act({})", "self.conv({})",
               "torch.flatten({}, 1)", "{}.mean(dim=1, keepdim=True)", "F.dropout({}, p=0.1, training=self.training)",
               "F.dropout({}, 0.2)", "F.adaptive_avg_pool2d({}, 1)", "nn.Softmax(dim=-1)({})", "torch.relu({})",
               "-{}", "self.helper({})", "gelu({})", "{}.view({}.size(0), -1)", "F.gelu({})", "self.norm({})",
               "torch.nn.functional.silu({})", "{}.relu_()", "blk({})"]
BINARY_CALLS = ["({} + {})", "({} - {})", "({} * {})", "({} / {})", "({} @ {})", "torch.cat([{}, {}], dim=1)",
                "torch.cat(({}, {}), 1)", "torch.stack([{}, {}])", "torch.add({}, {})", "torch.mul({}, {})",
                "torch.matmul({}, {})", "torch.cat([{}, {}])", "({} + {}.size(0) * 2)"]


def expressions(depth: int = 2):
    leaf = st.sampled_from(TENSORS + ["self.scale", "2", "x.size(0)", "self.blocks[0](x)"])
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    unary = st.tuples(st.sampled_from(UNARY_CALLS), sub).map(lambda t: t[0].replace("{}", t[1]))
    binary = st.tuples(st.sampled_from(BINARY_CALLS), sub, sub).map(lambda t: t[0].format(t[1], t[2]))
    return st.one_of(leaf, unary, binary)


def statements(depth: int = 2):
    target = st.sampled_from(["out", "h", "x", "self.cache", "out, h"])
    simple = st.one_of(
        st.tuples(target, expressions()).map(lambda t: [f"{t[0]} = {t[1]}" if "," not in t[0]
                                                        else f"{t[0]} = {t[1]}, {t[1]}"]),
        st.tuples(st.sampled_from(["out", "h", "x"]), st.sampled_from(["+=", "*=", "-=", "@="]),
                  expressions(1)).map(lambda t: [f"{t[0]} {t[1]} {t[2]}"]),
        expressions(1).map(lambda e: [f"outs = [F.relu(t) for t in ({e}, x)]", "out = torch.cat(outs, dim=1)"]),
        expressions(1).map(lambda e: [f"out = torch.cat([{e}] + [x], dim=1)"]),
        expressions(1).map(lambda e: [f"h = {e}  # pylint: disable=tensor-operator"]),
        st.just(["assert x.dim() == 4, 'NCHW'"]),
        st.just(["h = self.relu(x)", "h = self.relu(h)"]),
    )
    if depth == 0:
        return simple.map(lambda lines: lines)
    block = st.lists(statements(depth - 1), min_size=1, max_size=3).map(lambda bs: [l for b in bs for l in b])
    indent = lambda lines: ["    " + l for l in lines]  # noqa: E731
    compound = st.one_of(
        st.tuples(st.sampled_from(["self.training", "x.sum() > 0", "h is None", "not self.training"]), block, block)
        .map(lambda t: [f"if {t[0]}:", *indent(t[1]), "else:", *indent(t[2])]),
        st.tuples(st.sampled_from(["_ in range(2)", "blk in self.blocks", "t in (x, h)"]), block)
        .map(lambda t: [f"for {t[0]}:", *indent(t[1])]),
        block.map(lambda b: ["with torch.no_grad():", *indent(b)]),
        block.map(lambda b: ["while out is None:", *indent(b), "    break"]),
    )
    return st.one_of(simple, simple, compound)


INITS = {
    "plain": ["def __init__(self):", "    super().__init__()", "    self.conv = nn.Conv2d(4, 4, 3)",
              "    self.relu = nn.ReLU()", "    self.act = nn.GELU()", "    self.norm = nn.LayerNorm(4)",
              "    self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])",
              "    self.scale = 0.5", "    self.cache = None"],
    "early-return": ["def __init__(self, flag=False):", "    super().__init__()", "    self.relu = nn.ReLU()",
                     "    self.conv = nn.Conv2d(4, 4, 3)", "    if flag:", "        return",
                     "    self.act = self.relu"],
    "one-line": ["def __init__(self): super().__init__()"],
    "missing": [],
    "shared": ["def __init__(self, act=nn.ReLU()):", "    super().__init__()", "    self.relu = act",
               "    self.act = act", "    self.conv = nn.Conv2d(4, 4, 3)", "    self.norm = self.conv"],
}


@st.composite
def model_programs(draw):
    body = draw(st.lists(statements(), min_size=1, max_size=5).map(lambda bs: [l for b in bs for l in b]))
    ret = draw(expressions())
    init = INITS[draw(st.sampled_from(sorted(INITS)))]
    helper_body = draw(expressions(1)).replace("x", "t")
    imports = draw(st.sampled_from([
        ["import torch", "import torch.nn as nn", "import torch.nn.functional as F"],
        ["from __future__ import annotations", "import torch", "from torch import nn", "from torch.nn import functional as F"],
        ['"""A module docstring."""', "import torch", "import torch.nn as nn", "import torch.nn.functional as F",
         "import distiller.modules"],
    ]))
    class_doc = draw(st.sampled_from([[], ['"""Generated block."""']]))
    class_attr = draw(st.sampled_from([[], ["default_act = nn.SiLU()"]]))
    members = [*class_doc, *class_attr, *init, "", "def helper(self, t):", f"    return {helper_body}", "",
               "def forward(self, x, h=None):", "    identity = x", "    out = None",
               *["    " + l for l in body], f"    return {ret}"]
    lines = [*imports, "", "", "def gelu(t):", "    return t * torch.sigmoid(1.702 * t)", "", "",
             "class Generated(nn.Module):", *["    " + l if l else "" for l in members]]
    if draw(st.booleans()):
        lines += ["", "", "class Child(Generated):", "    def forward(self, x, h=None):",
                  f"        return super().forward(x) + {draw(expressions(1))}"]
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # unicode identifiers
        text = re.sub(r"\bout\b", "выход", text)
    style = draw(st.sampled_from(["lf", "lf", "crlf", "tabs"]))
    if style == "crlf":
        text = text.replace("\n", "\r\n")
    elif style == "tabs":
        text = re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)
    return text


@ci(150)
@given(model_programs(), configurations)
def test_model_programs(text, configuration):
    assume(_parses(text))
    assert assert_analysis_sound(text, SETTINGS[configuration][0]) is not None
    assert_fix_sound(text, configuration)


# ------------------------------------------------------ mutations of real code
def _transformers_files() -> list[Path]:
    spec = importlib.util.find_spec("transformers")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    base = Path(list(spec.submodule_search_locations)[0]) / "models"
    names = ["resnet/modeling_resnet.py", "convnext/modeling_convnext.py", "poolformer/modeling_poolformer.py",
             "regnet/modeling_regnet.py"]
    return [base / n for n in names if (base / n).is_file()]


REAL_FILES = sorted((ROOT / "examples").glob("*.py")) + _transformers_files()
REAL_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in REAL_FILES}


def _forward_info(text: str):
    """(first-arg name, body indent, insert line index) of each forward, and its simple statements."""
    tree = ast.parse(text)
    lines = text.splitlines(True)
    forwards, simple = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "forward" and len(node.args.args) > 1 and node.body:
            arg = node.args.args[1].arg
            first = node.body[0]
            indent = lines[first.lineno - 1][:first.col_offset]
            forwards.append((arg, indent, first.lineno - 1))
            for stmt in ast.walk(node):
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Expr, ast.Return)) \
                        and stmt.lineno == stmt.end_lineno and stmt.col_offset == len(
                            lines[stmt.lineno - 1]) - len(lines[stmt.lineno - 1].lstrip()):
                    simple.append(stmt.lineno - 1)
    return forwards, simple


UNICODE_NAMES = ["выход", "données", "数据", "ñ", "ĥidden", "ｘ"]


@st.composite
def mutated_real_code(draw):
    name = draw(st.sampled_from(sorted(REAL_TEXTS)))
    text = REAL_TEXTS[name]
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(True)
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "x+x", "training", "unicode", "unicode",
                                     "x+x", "training"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            candidates = [j for j, l in enumerate(lines) if re.search(r"[^\s=][ ]?[+*][ ]?[^\s=*]", l)
                          and not l.lstrip().startswith("#")] or [i]
            j = draw(st.sampled_from(candidates))
            lines[j] = lines[j].translate(str.maketrans({"+": "*", "*": "+"}))
        else:
            try:
                forwards, simple = _forward_info(text)
            except SyntaxError:  # an earlier mutation broke it: keep mutating as text
                forwards, simple = [], []
            if kind == "x+x" and forwards:
                arg, indent, at = draw(st.sampled_from(forwards))
                lines.insert(at, f"{indent}{arg} = {arg} + {arg}\n")
            elif kind == "training" and simple:
                at = draw(st.sampled_from(simple))
                line = lines[at]
                indent = line[:len(line) - len(line.lstrip())]
                newline = "\r\n" if line.endswith("\r\n") else "\n"
                lines[at] = f"{indent}if self.training:{newline}{indent}    {line.lstrip()}"
            elif kind == "unicode":
                try:
                    names = sorted({n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)
                                    and n.id not in ("self", "torch", "nn", "F", "super", "print", "len", "range")})
                except SyntaxError:
                    names = []
                if names:
                    old = draw(st.sampled_from(names))
                    new = draw(st.sampled_from(UNICODE_NAMES)) + "_" + old
                    lines = re.sub(rf"\b{re.escape(old)}\b", new, "".join(lines)).splitlines(True)
        text = "".join(lines)
    return text


@ci(100)
@given(mutated_real_code(), configurations)
def test_mutated_real_model_files(text, configuration):
    assert_analysis_sound(text, SETTINGS[configuration][0])
    assert_fix_sound(text, configuration)


@pytest.mark.parametrize("name", sorted(REAL_TEXTS))
def test_real_model_files_unmutated(name):
    text = REAL_TEXTS[name]
    for configuration in sorted(SETTINGS):
        assert_fix_sound(text, configuration)


# ------------------------------------------------ bugs found here (minimal repros)
@pytest.mark.parametrize("separator", ["\x0c", "\x85", "\u2028"])
def test_columns_after_a_form_feed_in_a_non_ascii_file(separator):
    """Found here: positions split lines with str.splitlines(), which also breaks at form feed, NEL,
    U+2028: columns after such a character were computed on the wrong line (fixed in analysis/positions.py)."""
    text = ('"""Blocks: café."""\n'
            f"# page break{separator}\n"
            "import torch\nimport torch.nn as nn\n\n\n"
            "class M(nn.Module):\n    def forward(self, x):\n"
            "        é = torch.sigmoid(x)\n"
            "        return torch.cat([é, x], dim=1)\n")
    lines = python_lines(text)
    spans = sorted(lines[f.line - 1][f.col:f.end_col] for f in analyze_source(text))
    assert spans == ["torch.cat([é, x], dim=1)", "torch.sigmoid(x)"]
    assert_fix_sound(text)


@pytest.mark.parametrize("init, fixable", [
    ("    def __init__(self, flag=False):\n        super().__init__()\n        if flag:\n            return\n", False),
    ("    def __init__(self): super().__init__()\n", True),
])
def test_what_check_calls_fixable_fix_applies(init, fixable):
    """check's [*] and fix agree: an __init__ that returns early gets no fix (its end may never run),
    a one-line __init__ is continued in place."""
    text = ("import torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass M(nn.Module):\n" + init
            + "\n    def forward(self, x):\n        return F.relu(x)\n")
    findings = analyze_source(text)
    assert [f.fix is not None and f.fix.applicability.value == "safe" for f in findings] == [fixable]
    result = fix_source(text)
    assert bool(result.applied) == fixable
    assert not any(f.fix is not None for f in result.remaining)
    compile(result.text, "<fixed>", "exec")
