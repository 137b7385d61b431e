"""`fix` keeps every byte it does not have to change (design.md, "Rewrite contract").

* Outside the fix spans the text is identical: a line diff between input and
  output only replaces lines that hold an edit span (and keeps what precedes and
  follows the spans on those lines byte for byte: indentation, trailing comments),
  and otherwise only inserts whole new lines (imports, members, a new __init__).
* Line endings (LF, CRLF, lone CR, mixed), tabs, comments, blank lines, the
  encoding cookie and the BOM survive, through `sources.read_source` /
  `write_atomic` and `fixer.files.fix_file` as well.
* The output always parses, and fixing twice equals fixing once; a seeded
  generator of random forward bodies checks this (and runtime equivalence) beyond
  the hand-written fixtures.
"""

from __future__ import annotations

import codecs
import difflib
import io
import os
import random
import re
import stat
import textwrap
import tokenize
from collections import Counter
from pathlib import Path

import astroid
import pytest

from pylint_distiller.catalogue import TARGETS
from pylint_distiller.fixer.engine import MAX_PASSES, fix_source
from pylint_distiller.fixer.files import fix_file
from pylint_distiller.settings import Settings
from pylint_distiller.sources import SourceError, read_source, write_atomic

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fix"


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as stream:
        return stream.read()


def corpus() -> list[tuple[str, Path]]:
    items = [(f"example:{p.stem}", p) for p in sorted((ROOT / "examples").glob("*.py"))]
    items += [(f"fixture:{p.name[:-6]}", p) for p in sorted((FIXTURES / "inputs").glob("*.in.py"))]
    return items


CORPUS = corpus()
MODES = [(t, u) for t in TARGETS for u in (False, True)]


def fix(text: str, target: str = "distiller", unsafe: bool = False, path: str = "<string>"):
    return fix_source(text, path, Settings(target=target), unsafe=unsafe)


# --------------------------------------------------------------- the invariant
_T = r"(?:\r\n|\r|\n)"
#: the content (no terminator) of a line the engine may insert: an import, a
#: member (or the `if hasattr(self, ...):` guard of one), the two lines of a new
#: __init__, or a blank line
_NEW = (r"[ \t]*(?:import [\w.]+(?: as \w+)?|from [\w.]+ import [\w, ]+|self\.\w+ = [^\r\n]+"
        r'|if hasattr\(self, "\w+"\)(?: and hasattr\(self, "\w+"\))*:'
        r"|def __init__\(self, \*args, \*\*kwargs\):|super\(\)\.__init__\(\*args, \*\*kwargs\)|)")
_NEW_LINE = re.compile(_NEW + _T + "?$")


def offsets(text: str) -> list[int]:
    """Start offset of every line (LF, CRLF and lone CR all end a line)."""
    starts = [0]
    for m in re.finditer(r"\r\n|\r|\n", text):
        starts.append(m.end())
    return starts


def split_lines(text: str) -> list[str]:
    starts = offsets(text) + [len(text)]
    return [text[a:b] for a, b in zip(starts, starts[1:]) if a < b]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _outside_pattern(before: str, spans: list[tuple[int, int]], classes: tuple[str, ...] = ()) -> str:
    """A regex that `after` must match: the text outside the spans verbatim, any
    text for each span, and inserted whole lines (imports, members, an __init__,
    the lines of the classes that lifted helpers, `classes`) only at line boundaries."""
    new = f"(?:{_NEW}|{'|'.join(re.escape(line) for line in classes)})" if classes else _NEW
    # new lines go before a line's terminator; a one-line `def __init__(self): ...`
    # is extended in place with `; self.x = ...`
    insert_before_eol = rf"(?:{_T}{new}|; self\.\w+ = [^\r\n;]+)*"
    insert_at_bol = f"(?:{new}{_T})*"
    parts = [insert_at_bol]
    pos = 0
    for s, e in _merged(spans) + [(len(before), len(before))]:
        segment = before[pos:s]
        for m in re.finditer(r"\r\n|\r|\n|[^\r\n]+", segment):
            piece = m.group()
            if piece in ("\r\n", "\r", "\n"):
                parts += [insert_before_eol, re.escape(piece), insert_at_bol]
            else:
                parts.append(re.escape(piece))
        if s < len(before):
            parts.append("(?s:.*?)")
        pos = e
    parts.append(insert_before_eol)
    return "".join(parts)


def assert_only_edits_changed(before: str, after: str, result) -> None:
    """Everything outside the applied fixes' spans is byte-identical; new text
    outside them is whole inserted lines only."""
    assert result.passes <= 1, "spans of a later pass refer to an intermediate text"
    starts = offsets(before)
    spans = []
    for finding in result.applied:
        line, col, end_line, end_col = finding.fix.span
        spans.append((starts[line - 1] + col, starts[end_line - 1] + end_col))
    classes = tuple({line for f in result.applied for c in f.fix.classes for line in c.lines}
                    | {line for f in result.applied for d in f.fix.definitions for line in d.lines})  # (helpers)
    if re.fullmatch(_outside_pattern(before, spans, classes), after) is None:
        diff = "".join(difflib.unified_diff(split_lines(before), split_lines(after), "before", "after"))
        pytest.fail(f"text outside the edit spans changed (or a non-member line was inserted):\n{diff}")


def comments(text: str) -> Counter:
    return Counter(tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                   if tok.type == tokenize.COMMENT)


def assert_only_methods_added(before: str, after: str, result) -> None:
    """The pass that adds methods (it comes last) only inserts whole lines, and only lines of those
    methods, of the definitions and imports they need (fuse_model's FloatIsland) or blank ones:
    every line of `before` is kept, in order and byte for byte."""
    new = {line.strip() for f in result.applied if f.fix.method is not None
           for line in (*f.fix.method.lines, *f.fix.imports, *(t for d in f.fix.definitions for t in d.lines))}
    old_lines, new_lines = split_lines(before), split_lines(after)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        assert tag == "insert", (tag, old_lines[i1:i2], new_lines[j1:j2])
        assert all(line.strip() in new or not line.strip() for line in new_lines[j1:j2]), new_lines[j1:j2]


def fix_in_two_stages(before: str, target: str, unsafe: bool, path: str):
    """(the text after the call-site and member fixes, the full result): methods land in a pass of their own.

    The call-site and member fixes take one pass, or more where a helper is lifted into a
    module class first (its ops are fixed in the next pass); each pass is checked on its own."""
    text = before
    for _ in range(MAX_PASSES):
        step = fix_source(text, path, Settings(target=target), unsafe=unsafe, select=lambda f: f.fix.method is None)
        if step.text == text:
            break
        assert_only_edits_changed(text, step.text, step)
        text = step.text
    result = fix(before, target, unsafe, path)
    assert fix(text, target, unsafe, path).text == result.text
    return text, result


@pytest.mark.parametrize("target,unsafe", MODES, ids=[f"{t}-{'unsafe' if u else 'safe'}" for t, u in MODES])
@pytest.mark.parametrize("name,path", CORPUS, ids=[n for n, _ in CORPUS])
def test_text_outside_edits_is_untouched(name, path, target, unsafe):
    before = read_text(path)
    middle, result = fix_in_two_stages(before, target, unsafe, str(path))
    after = result.text
    compile(after, str(path), "exec", dont_inherit=True)
    if middle != after:
        assert_only_methods_added(middle, after, fix(middle, target, unsafe, str(path)))
    elif result.passes <= 1:  # (several passes, a lift first: `fix_in_two_stages` checked each one)
        assert_only_edits_changed(before, after, result)
    assert comments(before) <= comments(after), "a comment was lost"
    again = fix(after, target, unsafe, str(path))
    assert again.text == after, "fix twice != fix once"


# ---------------------------------------------------------------- line endings
RESIDUAL = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(dim, dim)

        def forward(self, x):
            # keep me
            return self.fc(x) + x  # and me
    ''')


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_line_endings_are_kept_everywhere(newline, target):
    before = RESIDUAL.replace("\n", newline)
    result = fix(before, target)
    after = result.text
    assert result.applied
    terminators = Counter(re.findall(r"\r\n|\r|\n", after))
    assert set(terminators) == {newline}, f"foreign line terminators: {terminators}"
    assert terminators[newline] > before.count(newline)  # new lines were added, with the file's terminator
    compile(after, "<fixed>", "exec", dont_inherit=True)
    assert_only_edits_changed(before, after, result)
    # the same rewrite as the LF file, terminators aside
    assert after.replace(newline, "\n") == fix(RESIDUAL, target).text


@pytest.mark.parametrize("target", TARGETS)
def test_mixed_line_endings_keep_each_lines_own_terminator(target):
    before = ("import torch\nimport torch.nn as nn\r\n\r\nclass Mixed(nn.Module):\n"
              "    def __init__(self, dim):\r\n        super().__init__()\n        self.fc = nn.Linear(dim, dim)\r\n\n"
              "    def forward(self, x):\r\n        return self.fc(x) + x\n")
    result = fix(before, target)
    assert result.applied
    compile(result.text, "<fixed>", "exec", dont_inherit=True)
    assert_only_edits_changed(before, result.text, result)
    # every line without an edit is still there, with its own terminator
    edited = {finding.fix.span[0] for finding in result.applied}
    untouched = Counter(line for i, line in enumerate(split_lines(before), 1) if i not in edited)
    missing = untouched - Counter(split_lines(result.text))
    assert not missing, f"lines whose terminator changed: {list(missing)}"


@pytest.mark.parametrize("target", TARGETS)
def test_crlf_fixture_output_has_only_crlf(target):
    after = read_text(FIXTURES / target / "crlf.out.py")
    assert "\n" in after and after.count("\n") == after.count("\r\n")
    assert "\r" not in after.replace("\r\n", "")


# ---------------------------------------------------------------- comments
@pytest.mark.parametrize("target", TARGETS)
def test_comments_and_blank_lines_around_edits(target):
    before = read_text(FIXTURES / "inputs" / "comments_blank_lines.in.py")
    after = fix(before, target).text
    for line in before.splitlines(keepends=True):
        if line.strip().startswith("#") or not line.strip():
            assert line in after
    assert "  # residual, with a comment after it\n" in after
    assert comments(after) == comments(before)
    # the blank lines (and comments) between statements are all still there
    blank = lambda t: sum(1 for line in t.splitlines() if not line.strip())  # noqa: E731
    assert blank(after) == blank(before)


@pytest.mark.parametrize("target", TARGETS)
def test_comments_inside_an_edit_span_survive(target):
    before = textwrap.dedent('''\
        import torch
        import torch.nn as nn


        class MultiLine(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                y = (self.fc(x)  # the branch
                     + x)  # the skip
                return torch.sigmoid(  # squash
                    y  # its argument
                )
        ''')
    result = fix(before, target)
    # (was a bug: the rewrite dropped them) an op whose span holds comments is left for the user
    assert comments(result.text) == comments(before)
    assert any("comments" in f.message for f in result.remaining)


@pytest.mark.parametrize("target", TARGETS)
def test_new_init_does_not_separate_a_comment_from_its_statement(target):
    before = textwrap.dedent('''\
        import torch
        import torch.nn as nn


        class WithClassAttr(nn.Module):
            # output channels are planes * expansion
            expansion = 2

            def forward(self, x):
                return torch.tanh(x)
        ''')
    after = fix(before, target).text
    assert "    # output channels are planes * expansion\n    expansion = 2\n" in after


# ---------------------------------------------------------------- tabs, unicode
@pytest.mark.parametrize("target", TARGETS)
def test_tab_indentation_is_kept_for_new_lines(target):
    before = read_text(FIXTURES / "inputs" / "tabs.in.py")
    after = fix(before, target).text
    for line in after.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        assert " " not in indent, f"space indentation in a tab-indented file: {line!r}"
    assert "\t\tself.relu = nn.ReLU()" in after


@pytest.mark.parametrize("target", TARGETS)
def test_non_ascii_before_the_edit_on_the_same_line(target):
    """Columns are characters, not UTF-8 bytes: the edit must not shift."""
    before = read_text(FIXTURES / "inputs" / "nonascii.in.py")
    middle, result = fix_in_two_stages(before, target, False, "nonascii.py")
    if middle != result.text:
        assert_only_methods_added(middle, result.text, fix(middle, target))
    assert "  # résidu\n" in result.text
    assert "self.äct(self.fc(x))" in result.text


# -------------------------------------------------- files: encodings, BOM, errors
BASIC = read_text(ROOT / "examples" / "basic_module.py")


def _write(path: Path, data: bytes, mode: int | None = None) -> Path:
    path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def test_bom_is_kept_through_fix_file(tmp_path):
    path = _write(tmp_path / "bom.py", codecs.BOM_UTF8 + BASIC.encode("utf-8"))
    outcome = fix_file(str(path), Settings(), unsafe=False, write=True)
    assert outcome.error is None and outcome.written
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF8) and not data.startswith(codecs.BOM_UTF8 * 2)
    assert data[len(codecs.BOM_UTF8):].decode("utf-8") == fix(BASIC).text


def test_latin1_cookie_is_kept_through_fix_file(tmp_path):
    text = "# -*- coding: latin-1 -*-\n# Modèle de démonstration (accents encodés en latin-1)\n" + BASIC
    path = _write(tmp_path / "latin.py", text.encode("latin-1"))
    outcome = fix_file(str(path), Settings(target="torch-eager"), unsafe=False, write=True)
    assert outcome.error is None and outcome.written
    data = path.read_bytes()
    assert data.startswith(b"# -*- coding: latin-1 -*-\n# Mod\xe8le de d\xe9monstration")
    assert data.decode("latin-1") == fix(text, "torch-eager").text
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_crlf_and_mode_are_kept_through_fix_file(tmp_path):
    text = BASIC.replace("\n", "\r\n")
    path = _write(tmp_path / "crlf.py", text.encode("utf-8"), mode=0o640)
    outcome = fix_file(str(path), Settings(), unsafe=False, write=True)
    assert outcome.error is None and outcome.written
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.decode("utf-8") == fix(text).text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crlf.py"], "a temporary file was left behind"


def test_read_source_and_write_atomic_round_trip(tmp_path):
    text = "# -*- coding: cp1252 -*-\n# “quotes” and € in cp1252\n" + BASIC
    path = _write(tmp_path / "cp.py", text.encode("cp1252"))
    source = read_source(str(path))
    assert source.text == text and source.encoding.replace("_", "-").lower() in ("cp1252", "windows-1252")
    write_atomic(source, fix(source.text).text)
    assert path.read_bytes() == fix(text).text.encode("cp1252")


def test_text_that_cannot_be_encoded_back_is_not_written(tmp_path):
    text = "# -*- coding: ascii -*-\n" + BASIC
    path = _write(tmp_path / "ascii.py", text.encode("ascii"))
    source = read_source(str(path))
    with pytest.raises(SourceError):
        write_atomic(source, source.text + "# é\n")
    assert path.read_bytes() == text.encode("ascii")


@pytest.mark.parametrize("data,reason", [
    (b"import torch\nx = '\xe9'\n", "utf-8"),                       # latin-1 bytes, no cookie
    (b"import torch\ndef broken(:\n    pass\n", "parse"),            # does not parse
    (b"# -*- coding: klingon -*-\nimport torch\n", "coding"),        # unknown codec
], ids=["not-utf8", "syntax-error", "bad-cookie"])
def test_bad_files_are_reported_and_left_untouched(tmp_path, data, reason):
    path = _write(tmp_path / "bad.py", data)
    outcome = fix_file(str(path), Settings(), unsafe=False, write=True)
    assert outcome.error and str(path) in outcome.error
    assert not outcome.written
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.py"]


def test_read_only_file_is_left_untouched(tmp_path):
    path = _write(tmp_path / "ro.py", BASIC.encode("utf-8"), mode=0o444)
    outcome = fix_file(str(path), Settings(), unsafe=False, write=True)
    assert outcome.error and not outcome.written
    assert path.read_bytes() == BASIC.encode("utf-8")


def test_fix_file_without_write_changes_nothing(tmp_path):
    path = _write(tmp_path / "dry.py", BASIC.encode("utf-8"))
    outcome = fix_file(str(path), Settings(), unsafe=False, write=False)
    assert outcome.error is None and not outcome.written and outcome.result.changed
    assert path.read_bytes() == BASIC.encode("utf-8")


def test_pylint_disable_pragma_is_honoured_by_fix_file(tmp_path):
    text = BASIC.replace("        out += identity\n",
                         "        out += identity  # pylint: disable=tensor-operator\n")
    path = _write(tmp_path / "pragma.py", text.encode("utf-8"))
    outcome = fix_file(str(path), Settings(), unsafe=False, write=True)
    assert outcome.error is None and outcome.written
    after = path.read_text(encoding="utf-8")
    assert "        out += identity  # pylint: disable=tensor-operator\n" in after
    assert "self.cat(identity, out)" in after and "self.relu_2(out)" in after


# ------------------------------------------------------- generated forward bodies
_OPERANDS = ["a", "b", "c"]
_UNARY = ["torch.sigmoid({})", "F.relu({})", "({}).softmax(dim=-1)", "torch.tanh({})", "F.gelu({})",
          "({}).relu()", "F.softmax({}, dim=1)"]
_BINARY = ["{} + {}", "{} - {}", "{} * {}", "{} @ {}", "{} / 2.0", "2.0 * {}", "1.0 - {}", "{} * 0.5",
           "torch.add({}, {})", "torch.matmul({}, {})", "torch.cat([{}, {}], dim=1)[:, :4]",
           "torch.cat(({}, {}), 0)[:4]"]


def _expr(rng: random.Random, depth: int) -> str:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(_OPERANDS)
    if rng.random() < 0.35:
        return rng.choice(_UNARY).format(_expr(rng, depth - 1))
    template = rng.choice(_BINARY)
    parts = [_expr(rng, depth - 1) for _ in range(template.count("{}"))]
    text = template.format(*parts)
    if rng.random() < 0.2:  # a line break inside the brackets
        return f"(\n            {text}\n        )"
    return f"({text})"  # operands never depend on operator precedence


def generated_module(seed: int) -> str:
    rng = random.Random(seed)
    body = []
    for i in range(rng.randint(1, 3)):
        expr = _expr(rng, rng.randint(1, 3))
        comment = "  # step %d" % i if rng.random() < 0.5 else ""
        body.append(f"        v{i} = {expr}{comment}")
        if rng.random() < 0.3:
            body.append(f"        v{i} {rng.choice(['+=', '*='])} {rng.choice(_OPERANDS)}")
        if rng.random() < 0.3:
            body.append("")
    body.append(f"        return v{i}")
    text = textwrap.dedent('''\
        import torch
        import torch.nn as nn
        import torch.nn.functional as F


        class Generated(nn.Module):
            def __init__(self):
                super().__init__()
                self.fa = nn.Linear(4, 4)
                self.fb = nn.Linear(4, 4)
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                a, b, c = self.fa(x), self.fb(x), self.fc(x)
        ''') + "\n".join(body) + textwrap.dedent('''


        def build():
            return Generated()


        def example_inputs():
            return (torch.randn(4, 4),)
        ''')
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
    if rng.random() < 0.3:
        text = re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)
    return text


SEEDS = list(range(40))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_forward_bodies(seed, target):
    from tests.support.runtime_equivalence import assert_same_model, load_module_from_source, stub_distiller_on_path

    before = generated_module(seed)
    compile(before, "<generated>", "exec", dont_inherit=True)
    result = fix(before, target)
    after = result.text
    compile(after, "<fixed>", "exec", dont_inherit=True)
    assert fix(after, target).text == after, "fix twice != fix once"
    # an F.gelu becomes an nn.GELU member, whose class then gets fuse_model() (its GELU island) in a
    # pass of its own: each stage is checked on its own, as for the corpus
    middle, _ = fix_in_two_stages(before, target, False, "<string>")
    if middle != after:
        assert_only_methods_added(middle, after, fix(middle, target))
    else:
        assert_only_edits_changed(before, after, result)
    assert comments(before) <= comments(after)
    with stub_distiller_on_path():
        original = load_module_from_source(before, f"generated_{seed}")
        prepared = load_module_from_source(after, f"generated_{seed}_fixed")
    assert_same_model(original, prepared, modes=("eval", "train"), atol=1e-5)


def test_a_method_goes_after_the_docstring_of_a_class_with_no_other_statement():
    """astroid keeps a class's docstring out of `body`: a class holding only a docstring (transformers'
    `class DeepseekV3MoE(DeepseekV2Moe): \"\"\"...\"\"\"`) has an empty body, and adding `fuse_model` to it
    raised IndexError (which stopped `check --format json` on the whole run)."""
    from pylint_distiller.findings import Method
    from pylint_distiller.fixer.engine import method_edit
    from pylint_distiller.fixer.text import LineIndex

    for nl in ("\n", "\r\n"):
        text = nl.join(["import torch.nn as nn", "", "", "class Sub(nn.Module):", '    """Only a docstring."""',
                        "", "", "x = 1", ""])
        cls = astroid.parse(text).body[1]
        assert cls.body == []
        at, end, insert = method_edit(LineIndex(text), cls, Method("fuse_model", ("def fuse_model(self):", "    pass")))
        result = text[:at] + insert + text[end:]
        compile(result, "<fixed>", "exec")
        assert astroid.parse(result).body[1].body[0].name == "fuse_model"
        assert '"""Only a docstring."""' + nl + nl + "    def fuse_model(self):" + nl + "        pass" + nl in result
