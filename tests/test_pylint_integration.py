"""The plugin as users run it: `pylint --load-plugins=pylint_distiller`, in subprocesses.

Every run gets an explicit (empty or test-made) rcfile and `--persistent=n`, so
nothing from the developer's environment or earlier runs leaks in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BASIC = EXAMPLES / "basic_module.py"
ONLY_DISTILLER = ["--disable=all", "--enable=distiller"]


@pytest.fixture()
def empty_rc(tmp_path: Path) -> Path:
    rc = tmp_path / "empty.rc"
    rc.write_text("", encoding="utf-8")
    return rc


def run_pylint(*args: str, rcfile: Path | None = None, stdin: str | None = None, cwd: Path | None = None,
               plugin: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pylint", "--persistent=n"]
    if rcfile is not None:
        cmd.append(f"--rcfile={rcfile}")
    if plugin:
        cmd.append("--load-plugins=pylint_distiller")
    cmd += list(args)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, encoding="utf-8", cwd=cwd or ROOT,
                          env=env, timeout=300, check=False)


def messages(proc: subprocess.CompletedProcess) -> list[dict]:
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    return data["messages"]


def spans(msgs: list[dict]) -> list[tuple]:
    return sorted((m["symbol"], m["line"], m["column"], m["endLine"], m["endColumn"]) for m in msgs)


def line_of(path: Path, text: str) -> int:
    hits = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


# ------------------------------------------------------------------- examples
def test_basic_module_gives_exactly_the_four_findings(empty_rc):
    proc = run_pylint(*ONLY_DISTILLER, "--output-format=json2", str(BASIC), rcfile=empty_rc)
    msgs = messages(proc)
    add = line_of(BASIC, "        out += identity")
    relu_lines = [i for i, line in enumerate(BASIC.read_text().splitlines(), 1)
                  if line.startswith("        ") and "self.relu(out)" in line]
    cat = line_of(BASIC, "        out = torch.cat([identity, out], dim=1)")
    sig = line_of(BASIC, "        out = F.sigmoid(out)")
    assert len(relu_lines) == 2
    line_add = BASIC.read_text().splitlines()[add - 1]
    line_relu = BASIC.read_text().splitlines()[relu_lines[1] - 1]
    line_cat = BASIC.read_text().splitlines()[cat - 1]
    line_sig = BASIC.read_text().splitlines()[sig - 1]
    expected = sorted([
        ("tensor-operator", add, line_add.index("out +="), add, len(line_add.rstrip())),
        ("reused-module", relu_lines[1], line_relu.index("self.relu"), relu_lines[1],
         line_relu.index("self.relu") + len("self.relu(out)")),
        ("torch-function", cat, line_cat.index("torch.cat"), cat, line_cat.index("torch.cat") + len(
            "torch.cat([identity, out], dim=1)")),
        ("functional-call", sig, line_sig.index("F.sigmoid"), sig, line_sig.index("F.sigmoid") + len("F.sigmoid(out)")),
    ])
    assert spans(msgs) == expected
    # the literal numbers, as the worked example documents them
    assert expected == [
        ("functional-call", 42, 14, 42, 28),
        ("reused-module", 39, 14, 39, 28),
        ("tensor-operator", 38, 8, 38, 23),
        ("torch-function", 41, 14, 41, 47),
    ]
    by_symbol = {m["symbol"]: m for m in msgs}
    assert "self.relu" in by_symbol["reused-module"]["message"]
    assert "torch.cat" in by_symbol["torch-function"]["message"]
    assert "F.sigmoid" in by_symbol["functional-call"]["message"]
    assert all(m["messageId"].startswith("W57") for m in msgs)
    assert {m["obj"] for m in msgs} == {"BasicModule.forward"}
    assert proc.returncode == 4  # warnings only


def test_text_output_and_message_ids(empty_rc):
    proc = run_pylint(*ONLY_DISTILLER, "examples/basic_module.py", rcfile=empty_rc)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("examples/basic_module.py:")]
    assert [(line.split(":")[1:4], line.rsplit("(", 1)[1]) for line in lines] == [
        (["38", "8", " W5703"], "tensor-operator)"),
        (["39", "14", " W5701"], "reused-module)"),
        (["41", "14", " W5704"], "torch-function)"),
        (["42", "14", " W5705"], "functional-call)"),
    ]


def test_plugin_messages_are_documented(empty_rc):
    proc = run_pylint("--list-msgs-enabled", rcfile=empty_rc)
    for symbol in ("reused-module", "shared-module-instance", "tensor-operator", "torch-function",
                   "functional-call", "tensor-method", "inline-module", "unquantizable-module"):
        assert f"{symbol} (W57" in proc.stdout, symbol


# -------------------------------------------------------------- editor mode
def test_from_stdin_lints_the_unsaved_buffer(tmp_path, empty_rc):
    on_disk = tmp_path / "model.py"
    shutil.copy(BASIC, on_disk)
    buffer = BASIC.read_text(encoding="utf-8").replace(
        "        out += identity\n", "        # edited in the editor, not saved\n        out = out * 2 + identity\n")
    assert buffer != on_disk.read_text(encoding="utf-8")
    proc = run_pylint(*ONLY_DISTILLER, "--output-format=json2", "--from-stdin", str(on_disk), stdin=buffer,
                      rcfile=empty_rc)
    msgs = messages(proc)
    lines = buffer.splitlines()
    mul = next(i for i, line in enumerate(lines, 1) if "out * 2 + identity" in line)
    ops = [(m["symbol"], m["line"], m["column"], m["endColumn"]) for m in msgs if m["symbol"] == "tensor-operator"]
    col = lines[mul - 1].index("out * 2")
    assert sorted(ops) == [("tensor-operator", mul, col, col + len("out * 2")),
                           ("tensor-operator", mul, col, col + len("out * 2 + identity"))]
    # every finding after the edit moved one line down, as in the buffer
    assert spans([m for m in msgs if m["symbol"] != "tensor-operator"]) == [
        ("functional-call", 43, 14, 43, 28),
        ("reused-module", 40, 14, 40, 28),
        ("torch-function", 42, 14, 42, 47),
    ]
    assert {m["path"] for m in msgs} == {str(on_disk)}


# ------------------------------------------------------------------ parallel
def test_parallel_jobs_give_the_same_messages(empty_rc):
    serial = run_pylint(*ONLY_DISTILLER, "--output-format=json2", "-j", "1", str(EXAMPLES), rcfile=empty_rc)
    parallel = run_pylint(*ONLY_DISTILLER, "--output-format=json2", "-j", "2", str(EXAMPLES), rcfile=empty_rc)

    def key(msgs):
        return sorted((m["path"], m["line"], m["column"], m["endLine"], m["endColumn"], m["symbol"], m["message"])
                      for m in msgs)

    serial_msgs, parallel_msgs = messages(serial), messages(parallel)
    assert len(serial_msgs) > 10
    assert {Path(m["path"]).name for m in serial_msgs} >= {"basic_module.py", "attention.py", "lstm_model.py"}
    assert key(serial_msgs) == key(parallel_msgs)
    assert serial.returncode == parallel.returncode == 4


# ---------------------------------------------------------------- exit codes
CLEAN = textwrap.dedent('''\
    from torch import nn


    class Clean(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x)
    ''')

ONLY_FUNCTION = textwrap.dedent('''\
    import torch
    from torch import nn


    class OnlyCat(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], dim=1)
    ''')


def test_exit_codes_and_fail_on(tmp_path, empty_rc):
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN, encoding="utf-8")
    only_cat = tmp_path / "only_cat.py"
    only_cat.write_text(ONLY_FUNCTION, encoding="utf-8")

    assert run_pylint(*ONLY_DISTILLER, str(clean), rcfile=empty_rc).returncode == 0
    assert run_pylint(*ONLY_DISTILLER, str(BASIC), rcfile=empty_rc).returncode == 4
    # a low --fail-under forgives warnings ...
    forgiving = ["--fail-under=-1000"]
    assert run_pylint(*ONLY_DISTILLER, *forgiving, str(BASIC), rcfile=empty_rc).returncode == 0
    # ... unless --fail-on names a message that was emitted
    proc = run_pylint(*ONLY_DISTILLER, *forgiving, "--fail-on=tensor-operator", str(BASIC), rcfile=empty_rc)
    assert proc.returncode == 4
    proc = run_pylint(*ONLY_DISTILLER, *forgiving, "--fail-on=tensor-operator", str(only_cat), rcfile=empty_rc)
    assert proc.returncode == 0, proc.stdout
    proc = run_pylint(*ONLY_DISTILLER, *forgiving, "--fail-on=torch-function", str(only_cat), rcfile=empty_rc)
    assert proc.returncode == 4
    assert run_pylint(*ONLY_DISTILLER, "--exit-zero", str(BASIC), rcfile=empty_rc).returncode == 0


# ------------------------------------------------------------------- pragmas
def test_disable_pragma_on_one_line(tmp_path, empty_rc):
    text = BASIC.read_text(encoding="utf-8").replace(
        "        out += identity\n", "        out += identity  # pylint: disable=tensor-operator\n")
    target = tmp_path / "pragma.py"
    target.write_text(text, encoding="utf-8")
    msgs = messages(run_pylint(*ONLY_DISTILLER, "--output-format=json2", str(target), rcfile=empty_rc))
    assert sorted(m["symbol"] for m in msgs) == ["functional-call", "reused-module", "torch-function"]

    text = text.replace("        out = torch.cat([identity, out], dim=1)\n",
                        "        out = torch.cat([identity, out], dim=1)  # pylint: disable=W5704\n")
    target.write_text(text, encoding="utf-8")
    msgs = messages(run_pylint(*ONLY_DISTILLER, "--output-format=json2", str(target), rcfile=empty_rc))
    assert sorted(m["symbol"] for m in msgs) == ["functional-call", "reused-module"]


# ------------------------------------------------------------------ options
def test_options_from_a_pyproject(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(BASIC, project / "model.py")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(textwrap.dedent('''\
        [tool.pylint.main]
        load-plugins = ["pylint_distiller"]
        disable = ["all"]
        enable = ["distiller"]

        [tool.pylint."distiller"]
        distiller-target = "torch-eager"
        distiller-ignore-ops = ["F.sigmoid"]
        '''), encoding="utf-8")
    proc = run_pylint("--output-format=json2", "model.py", rcfile=pyproject, cwd=project, plugin=False)
    msgs = messages(proc)
    by_symbol = {m["symbol"]: m for m in msgs}
    assert sorted(by_symbol) == ["reused-module", "tensor-operator", "torch-function", "unfused-modules"]
    assert "FloatFunctional" in by_symbol["tensor-operator"]["message"]
    assert "FloatFunctional" in by_symbol["torch-function"]["message"]

    # the same options on the command line override nothing else: default target again
    proc = run_pylint("--output-format=json2", "--distiller-target=distiller", "model.py", rcfile=pyproject,
                      cwd=project, plugin=False)
    msgs = messages(proc)
    assert "EltwiseAdd" in {m["symbol"]: m for m in msgs}["tensor-operator"]["message"]


def test_unknown_target_is_a_usage_error(empty_rc):
    proc = run_pylint("--distiller-target=tensorrt", str(BASIC), rcfile=empty_rc)
    assert proc.returncode == 2  # argparse's usage error
    assert "invalid choice: 'tensorrt'" in proc.stderr


# --------------------------------------------------------------- non-ASCII
def test_columns_are_characters_on_non_ascii_lines(tmp_path, empty_rc):
    source = textwrap.dedent('''\
        # -*- coding: utf-8 -*-
        import torch
        from torch import nn


        class Étiquette(nn.Module):
            def forward(self, x, y):
                déjà = "€"; somme = x + y
                return torch.cat([somme, x], dim=1)
        ''')
    target = tmp_path / "non_ascii.py"
    target.write_text(source, encoding="utf-8")
    msgs = messages(run_pylint(*ONLY_DISTILLER, "--output-format=json2", str(target), rcfile=empty_rc))
    lines = source.splitlines()
    add_line = next(i for i, line in enumerate(lines, 1) if "x + y" in line)
    text = lines[add_line - 1]
    col = text.index("x + y")  # characters, not UTF-8 bytes
    assert len(text[:col].encode("utf-8")) != col  # the line really is non-ASCII before the op
    assert spans(msgs) == sorted([
        ("tensor-operator", add_line, col, add_line, col + len("x + y")),
        ("torch-function", add_line + 1, 15, add_line + 1, 15 + len("torch.cat([somme, x], dim=1)")),
    ])
