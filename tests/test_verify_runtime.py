"""`pylint-distiller verify`: the runtime tracer, the cross-check and the CLI.

The models are defined here so that every expected `file:line` is computed from
this file's own source (`line_of`), never typed in by hand.
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
import sys
import textwrap
import types

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pylint_distiller.findings import Finding
from pylint_distiller.verify.command import run_verify
from pylint_distiller.verify.crosscheck import cross_check
from pylint_distiller.verify.runtime import OP_CATEGORIES, classify_op, trace_model

HERE = os.path.realpath(__file__)


def line_of(obj, marker: str) -> int:
    """Absolute line number of the one line of `obj`'s source containing `marker`."""
    lines, start = inspect.getsourcelines(obj)
    hits = [start + i for i, text in enumerate(lines) if marker in text]
    assert len(hits) == 1, (marker, hits)
    return hits[0]


# --------------------------------------------------------------------- models


class BasicModule(nn.Module):
    """Distiller's worked example plus a module constructed in forward."""

    def __init__(self, planes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)  # relu call 1
        out = self.conv2(out)
        out = self.bn2(out)
        n = 3 + 1  # pure python
        if n > 10:
            out = out * 2  # never runs
        out += identity
        out = self.relu(out)  # relu call 2
        out = torch.cat([identity, out], dim=1)
        out = F.sigmoid(out)
        out = nn.Softmax(dim=1)(out)
        return out


class EltwiseAdd(nn.Module):
    """distiller.modules.EltwiseAdd, per the API table."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, *inputs):
        res = inputs[0]
        for t in inputs[1:]:
            if self.inplace:
                res += t
            else:
                res = res + t
        return res


class Concat(nn.Module):
    """distiller.modules.Concat, per the API table."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = dim

    def forward(self, *seq):
        return torch.cat(seq, dim=self.dim)


class PreparedBasicModule(BasicModule):
    """What `fix` should produce for BasicModule: every op is its own module."""

    def __init__(self, planes=4):
        super().__init__(planes)
        self.relu_2 = nn.ReLU()
        self.add = EltwiseAdd(inplace=True)
        self.cat = Concat(dim=1)
        self.sigmoid = nn.Sigmoid()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.add(out, identity)
        out = self.relu_2(out)
        out = self.cat(identity, out)
        out = self.sigmoid(out)
        return self.softmax(out)


class LayerNorm2d(nn.Module):
    """A leaf with its own arithmetic (ConvNeXt style): owned, never a finding."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def scale_shift(x, w):
    return x * w + 1.0  # helper op


class Stage(nn.Module):
    """Container: leaf with arithmetic, a helper function, MHA, index/mask work."""

    def __init__(self, channels=4):
        super().__init__()
        self.norm = LayerNorm2d(channels)
        self.conv = nn.Conv2d(channels, channels, 1)
        self.attn = nn.MultiheadAttention(channels, 2, batch_first=True)
        self.gamma = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        x = self.conv(self.norm(x))
        positions = torch.arange(h * w) + 1  # int arithmetic: not a finding
        keep = x > 0  # a mask: not a finding
        tokens = x.flatten(2).transpose(1, 2)[:, positions - 1]
        tokens, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        x = tokens.transpose(1, 2).reshape(b, c, h, w)
        bias = torch.where(keep, torch.zeros(()), -1e4)  # a mask from a mask: not a finding
        return scale_shift(x, self.gamma), bias


class FloatFunctionalModel(nn.Module):
    """The torch-eager preparation; `shared=True` reuses one FloatFunctional."""

    def __init__(self, shared=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.add = torch.ao.nn.quantized.FloatFunctional()
        self.cat = self.add if shared else torch.ao.nn.quantized.FloatFunctional()

    def forward(self, x):
        y = self.conv(x)
        out = self.add.add(y, x)  # ff add
        return self.cat.cat([out, x], dim=1)  # ff cat


class TiedLinear(nn.Module):
    """A module with parameters called twice (weight tying) and an unregistered one."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.hidden = [nn.ReLU()]  # a plain list: not registered

    def forward(self, x):
        x = self.fc(x)  # fc call 1
        x = self.hidden[0](x)  # hidden call
        for _ in range(2):
            x = self.fc(x)  # fc loop call
        return x


class BuildsBlockInForward(nn.Module):
    """Constructs a module WITH children in forward: reported once, not per child."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())  # inline block
        return block(self.fc(x))


class MultiLineMethod(nn.Module):
    """A method call split over lines: Python reports the line of `.softmax`."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        y = (y
             .softmax(-1))
        return y


# ------------------------------------------------------------- runtime tracer


def test_basic_module_findings():
    model = BasicModule().eval()
    report = trace_model(model, (torch.randn(1, 4, 5, 5),))

    ops = {(s.path, s.line, s.op) for s in report.op_sites}
    fwd = BasicModule.forward
    assert ops == {
        (HERE, line_of(fwd, "out += identity"), "torch.Tensor.add_"),
        (HERE, line_of(fwd, "torch.cat("), "torch.cat"),
        # F.sigmoid is a thin wrapper around Tensor.sigmoid: the site is the user line.
        (HERE, line_of(fwd, "F.sigmoid("), "torch.Tensor.sigmoid"),
    }
    assert all(s.count == 1 and s.module == "" and s.module_class == "BasicModule"
               for s in report.op_sites)

    (reused,) = report.reused_modules
    assert (reused.name, reused.klass, reused.calls, reused.params) == ("relu", "ReLU", 2, 0)
    assert [(c.path, c.line) for c in reused.call_sites] == [
        (HERE, line_of(fwd, "# relu call 1")),
        (HERE, line_of(fwd, "# relu call 2")),
    ]

    (inline,) = report.inline_modules
    assert (inline.kind, inline.klass, inline.path, inline.line) == (
        "constructed", "Softmax", HERE, line_of(fwd, "nn.Softmax(dim=1)(out)"))
    assert report.finding_count == 5

    data = json.loads(json.dumps(report.as_dict()))
    assert {d["source"] for d in data["op_sites"]} >= {"out += identity"}


def test_prepared_model_has_no_findings_and_same_output():
    torch.manual_seed(0)
    original = BasicModule().eval()
    prepared = PreparedBasicModule().eval()
    prepared.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        expected = original(x.clone())

    report = trace_model(prepared, (x.clone(),))

    assert report.op_sites == [] and report.reused_modules == [] and report.inline_modules == []
    assert report.finding_count == 0
    assert report.module_calls == 11  # the pass really ran: root + 10 members
    # The ops still ran, inside the leaf modules: EltwiseAdd's `res += t` executed.
    assert (HERE, line_of(EltwiseAdd.forward, "res += t")) in report.executed_lines()
    with torch.no_grad():
        assert torch.allclose(prepared(x.clone()), expected)


def test_leaf_arithmetic_helper_functions_torch_modules_and_masks():
    report = trace_model(Stage().eval(), (torch.randn(2, 4, 3, 3),))

    ops = {(s.line, s.op) for s in report.op_sites}
    # Only the helper called from the container's forward (`x * w + 1.0`); nothing
    # from LayerNorm2d, MultiheadAttention, int arithmetic or mask construction.
    assert ops == {
        (line_of(scale_shift, "# helper op"), "torch.Tensor.mul"),
        (line_of(scale_shift, "# helper op"), "torch.Tensor.add"),
    }
    assert {s.module for s in report.op_sites} == {""}
    assert report.reused_modules == [] and report.inline_modules == []
    # LayerNorm2d's arithmetic ran (it is traced) but is owned by the leaf.
    executed = report.executed_lines()
    assert (HERE, line_of(LayerNorm2d.forward, "torch.sqrt")) in executed
    assert (HERE, line_of(Stage.forward, "torch.where")) in executed


def test_same_leaf_arithmetic_in_a_container_is_a_finding():
    class Container(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

        def forward(self, x):
            x = self.conv(x)
            u = x.mean(1, keepdim=True)
            return (x - u) / torch.sqrt(u * u + 1e-6)

    report = trace_model(Container().eval(), (torch.randn(1, 2, 3, 3),))
    names = sorted(s.op.rsplit(".", 1)[-1] for s in report.op_sites)
    assert names == ["add", "div", "mean", "mul", "sqrt", "sub"]


def test_unknown_ops_are_reported_as_findings():
    class UsesRareOp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return torch.rad2deg(self.fc(x))  # not in the table

    (site,) = trace_model(UsesRareOp().eval(), (torch.randn(2, 3),)).op_sites
    assert (site.op, site.category) == ("torch.rad2deg", "unknown")
    assert site.line == line_of(UsesRareOp.forward, "# not in the table")


def test_float_functional_prepared_and_shared():
    report = trace_model(FloatFunctionalModel().eval(), (torch.randn(1, 3, 4, 4),))
    assert report.finding_count == 0

    report = trace_model(FloatFunctionalModel(shared=True).eval(), (torch.randn(1, 3, 4, 4),))
    assert report.op_sites == []
    (reused,) = report.reused_modules
    assert (reused.name, reused.klass, reused.calls) == ("add", "FloatFunctional", 2)
    assert set(reused.aliases) == {"add", "cat"}
    fwd = FloatFunctionalModel.forward
    assert [c.line for c in reused.call_sites] == [line_of(fwd, "# ff add"),
                                                    line_of(fwd, "# ff cat")]


def test_weight_tying_loop_calls_and_unregistered_modules():
    report = trace_model(TiedLinear().eval(), (torch.randn(2, 4),))
    assert report.op_sites == []
    (fc,) = report.reused_modules
    assert (fc.name, fc.calls, fc.params) == ("fc", 3, 4 * 4 + 4)
    fwd = TiedLinear.forward
    assert [(c.line, c.count) for c in fc.call_sites] == [
        (line_of(fwd, "# fc call 1"), 1), (line_of(fwd, "# fc loop call"), 2)]
    (hidden,) = report.inline_modules
    assert (hidden.kind, hidden.klass, hidden.line) == (
        "unregistered", "ReLU", line_of(fwd, "# hidden call"))


def test_block_constructed_in_forward_is_reported_once():
    report = trace_model(BuildsBlockInForward().eval(), (torch.randn(2, 4),))
    assert [(m.kind, m.klass, m.line) for m in report.inline_modules] == [
        ("constructed", "Sequential", line_of(BuildsBlockInForward.forward, "# inline block"))]
    assert report.reused_modules == [] and report.op_sites == []


def test_source_filter_drops_other_files():
    report = trace_model(BasicModule().eval(), (torch.randn(1, 4, 5, 5),),
                         source_filter=lambda path: path != HERE)
    assert report.op_sites == [] and report.inline_modules == []
    assert report.reused_modules[0].call_sites == []  # the reuse itself is still a fact
    assert not any(path == HERE for path, _ in report.executed_lines())


def test_trace_lines_records_pure_python_lines_only_when_asked():
    fwd = BasicModule.forward
    pure, never = line_of(fwd, "# pure python"), line_of(fwd, "# never runs")
    plain = trace_model(BasicModule().eval(), (torch.randn(1, 4, 5, 5),)).executed_lines()
    full = trace_model(BasicModule().eval(), (torch.randn(1, 4, 5, 5),),
                       trace_lines=True).executed_lines()
    assert (HERE, pure) not in plain and (HERE, pure) in full
    assert (HERE, never) not in full
    assert plain <= full
    # The tracer restored whatever trace function was active before.
    before = sys.gettrace()
    trace_model(BasicModule().eval(), (torch.randn(1, 4, 5, 5),), trace_lines=True)
    assert sys.gettrace() is before


def test_failed_forward_leaves_no_hooks_mode_or_patch_behind():
    init = nn.Module.__init__

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) + torch.ones(3)  # shape error

    with pytest.raises(RuntimeError):
        trace_model(Broken().eval(), (torch.randn(2, 4),))
    assert nn.Module.__init__ is init
    assert not torch._C._is_torch_function_mode_enabled()
    from torch.nn.modules import module as module_mod
    assert not module_mod._global_forward_pre_hooks and not module_mod._global_forward_hooks
    # And the next trace is clean (no stale module stack).
    assert trace_model(PreparedBasicModule().eval(), (torch.randn(1, 4, 5, 5),)).finding_count == 0


def test_category_table_is_consistent():
    names = [n for group in OP_CATEGORIES.values() for n in group]
    assert len(names) == len(set(names)), "a name sits in two categories"
    assert classify_op("torch.Tensor.add_") == "compute"
    assert classify_op("torch.Tensor.__iadd__") == "compute"
    assert classify_op("torch.cat") == "compute"
    assert classify_op("torch.nn.functional.softmax") == "compute"
    assert classify_op("torch.Tensor.view") == "data-movement"
    assert classify_op("torch.Tensor.__getitem__") == "data-movement"
    assert classify_op("torch.Tensor.shape.__get__") == "metadata"
    assert classify_op("torch.Tensor.__len__") == "metadata"
    assert classify_op("torch.arange") == "factory"
    assert classify_op("torch.Tensor.ge") == "mask"
    assert classify_op("torch.some_new_op") == "unknown"


# ------------------------------------------------------------ transformers BERT

OP_TOKENS = {
    "add": ("+",), "add_": ("+=",), "mul": ("*",), "matmul": ("matmul", "@"),
    "softmax": ("softmax",), "dropout": ("dropout",),
    "scaled_dot_product_attention": ("scaled_dot_product_attention",),
}


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_tiny_bert_op_sites_point_at_the_op(attn):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=37, vocab_size=99, attn_implementation=attn)
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 99, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0

    report = trace_model(model, (ids,), kwargs={"attention_mask": mask})

    bert_file = os.path.realpath(inspect.getsourcefile(type(model)))
    assert report.op_sites
    for site in report.op_sites:
        assert "/torch/" not in site.path
        text = linecache.getline(site.path, site.line)
        short = site.op.rsplit(".", 1)[-1]
        assert any(tok in text for tok in OP_TOKENS[short]), (site, text)
    sources = {(s.path, s.source(), s.op) for s in report.op_sites}
    assert (bert_file, "embeddings = inputs_embeds + token_type_embeddings",
            "torch.Tensor.add") in sources
    assert (bert_file, "hidden_states = self.LayerNorm(hidden_states + input_tensor)",
            "torch.Tensor.add") in sources
    by_class = {s.module_class for s in report.op_sites}
    assert by_class == {"BertEmbeddings", "BertSelfAttention", "BertSelfOutput", "BertOutput"}
    if attn == "eager":
        matmuls = [s for s in report.op_sites if s.op == "torch.matmul"]
        assert len(matmuls) == 2 and all(s.path == bert_file for s in matmuls)
    # The mask construction (torch.where on a bool mask in masking_utils) is not a finding.
    assert not any(s.op == "torch.where" for s in report.op_sites)
    assert report.reused_modules == [] and report.inline_modules == []
    # GELU runs in transformers' own leaf module: owned, so not a finding.
    assert not any("gelu" in s.op for s in report.op_sites)


# ---------------------------------------------------------------- cross-check


def finding(symbol, path, line, end_line=None):
    return Finding(symbol=symbol, path=path, line=line, col=0,
                   end_line=end_line or line, end_col=1, args=(), message=f"{symbol} here")


def test_cross_check_buckets(tmp_path):
    report = trace_model(BasicModule().eval(), (torch.randn(1, 4, 5, 5),), trace_lines=True)
    fwd = BasicModule.forward
    link = tmp_path / "link.py"
    link.symlink_to(HERE)  # paths are compared after realpath
    static = [
        finding("tensor-operator", str(link), line_of(fwd, "out += identity")),
        finding("reused-module", HERE, line_of(fwd, "# relu call 2")),
        finding("functional-call", HERE, line_of(fwd, "F.sigmoid(")),
        finding("tensor-operator", HERE, line_of(fwd, "# pure python")),  # false alarm
        finding("tensor-operator", HERE, line_of(fwd, "# never runs")),
        finding("unquantizable-module", HERE, line_of(BasicModule.__init__, "self.relu =")),
        # right line, wrong kind: a reuse rule does not match an op site
        finding("reused-module", HERE, line_of(fwd, "torch.cat(")),
    ]
    check = cross_check(report, static)

    assert [m.finding for m in check.both] == static[:3]
    assert [i.kind for i in check.both[1].items] == ["reused-module"]
    assert sorted((i.kind, i.label) for i in check.runtime_only) == [
        ("inline-module", "Softmax"), ("op", "torch.cat")]
    assert check.static_executed == [static[3], static[6]]
    assert check.static_not_executed == [static[4]]
    assert check.unobservable == [static[5]]
    assert check.counts() == {"both": 3, "runtime_only": 2, "static_only_executed": 2,
                              "static_only_not_executed": 1, "not_runtime_observable": 1}
    json.dumps(check.as_dict())


def test_cross_check_shared_instance_matches_by_attribute_names():
    report = trace_model(FloatFunctionalModel(shared=True).eval(), (torch.randn(1, 3, 4, 4),))
    bound = line_of(FloatFunctionalModel.__init__, "self.cat = self.add if shared")
    shared = Finding(symbol="shared-module-instance", path=HERE, line=bound, col=8,
                     end_line=bound, end_col=60, args=("cat", "add"),
                     message="self.cat and self.add are one module instance")
    other = Finding(symbol="shared-module-instance", path=HERE, line=bound, col=8,
                    end_line=bound, end_col=60, args=("conv", "cat"),
                    message="self.conv and self.cat are one module instance")
    check = cross_check(report, [shared, other])
    assert [m.finding for m in check.both] == [shared]
    assert [i.label for i in check.both[0].items] == ["add"]
    assert check.unobservable == [other]  # that pair never ran twice as one instance
    assert check.runtime_only == []


def test_cross_check_multi_line_span():
    report = trace_model(MultiLineMethod().eval(), (torch.randn(2, 4),))
    (site,) = report.op_sites
    start = line_of(MultiLineMethod.forward, "y = (y")
    assert site.line == start + 1  # Python 3.11+ reports the `.softmax` line
    check = cross_check(report, [finding("tensor-method", HERE, start, start + 1)])
    assert len(check.both) == 1 and check.runtime_only == []


# ------------------------------------------------------------------------ CLI

MODEL_FILE = '''
import torch
import torch.nn as nn


class Bad(nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 1)

    def forward(self, x):
        return self.conv(x) + x


class Good(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 4)

    def forward(self, ids):
        return self.emb(ids)


def build():
    return Good()


def not_a_model():
    return 42


def inputs():
    return (torch.randn(1, 3, 4, 4),)
'''


@pytest.fixture
def model_file(tmp_path, request):
    name = "verify_cli_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(MODEL_FILE))
    return path


def test_cli_exit_codes(model_file, capsys):
    shape = ["--input-shape", "1,3,4,4", "--no-static"]
    assert run_verify([f"{model_file}:Bad", *shape]) == 1
    out = capsys.readouterr().out
    bad_line = MODEL_FILE.splitlines().index("        return self.conv(x) + x") + 1
    assert f":{bad_line}  torch.Tensor.add x1 in Bad" in out
    assert "Ops outside leaf modules: 1" in out

    assert run_verify([f"{model_file}:Good", *shape]) == 0
    assert run_verify([f"{model_file}:build", "--inputs", f"{model_file}:inputs",
                       "--no-static"]) == 0
    assert run_verify([f"{model_file}:Bad", "--kwargs", '{"width": 2}', "--input-shape",
                       "1,2,4,4", "--no-static", "--train"]) == 1
    assert run_verify([f"{model_file}:Tokens", "--input-shape", "2,5", "--dtype", "int64",
                       "--no-static"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["nowhere_such_module_xyz:build", "--input-shape", "1"], "cannot import"),
    (["no_colon", "--input-shape", "1"], "module:callable"),
    (["{f}:Missing", "--input-shape", "1"], "has no attribute"),
    (["{f}:not_a_model", "--input-shape", "1"], "not an nn.Module"),
    (["{f}:Good"], "no example input"),
    (["{f}:Good", "--input-shape", "1,x,3"], "bad --input-shape"),
    (["{f}:Good", "--input-shape", "1,3,4,4", "--dtype", "float33"], "unknown --dtype"),
    (["{f}:Bad", "--kwargs", "[1]", "--input-shape", "1"], "--kwargs must be"),
    (["{f}:Good", "--input-shape", "1,5,4,4"], "the forward pass failed: RuntimeError"),
])
def test_cli_user_errors_exit_2_without_traceback(model_file, capsys, argv, message):
    argv = [a.replace("{f}", str(model_file)) for a in argv]
    assert run_verify([*argv, "--no-static"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_import_error_in_user_module(tmp_path, capsys):
    (tmp_path / "verify_cli_broken_mod.py").write_text("import torch\nraise ValueError('boom')\n")
    code = run_verify(["verify_cli_broken_mod:build", "--path", str(tmp_path),
                       "--input-shape", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ValueError: boom" in err and "verify_cli_broken_mod.py:2" in err
    assert "Traceback" not in err
    assert str(tmp_path) not in sys.path  # --path does not leak


def test_cli_help_says_it_executes_code(capsys):
    assert run_verify(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "imports and EXECUTES user code" in text
    assert run_verify(["--format", "yaml"]) == 2


def test_cli_json_output(model_file, capsys, tmp_path):
    argv = [f"{model_file.stem}:Bad", "--path", str(tmp_path), "--input-shape", "1,3,4,4",
            "--format", "json", "--no-static"]
    assert run_verify(argv) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 1 and data["mode"] == "eval"
    (site,) = data["runtime"]["op_sites"]
    assert site["op"] == "torch.Tensor.add" and site["source"] == "return self.conv(x) + x"
    assert os.path.realpath(site["path"]) == os.path.realpath(model_file)
    assert data["crosscheck"] is None and data["static"]["skipped"] == "--no-static"


def test_cli_cross_check_uses_static_analysis_of_model_files(model_file, capsys, monkeypatch):
    """Wiring test with a stand-in analyzer: which files it gets, how buckets print."""
    seen = []
    bad_line = MODEL_FILE.splitlines().index("        return self.conv(x) + x") + 1
    init_line = MODEL_FILE.splitlines().index("        self.conv = nn.Conv2d(width, width, 1)") + 1

    def analyze_file(path, settings=None):
        seen.append(os.path.realpath(path))
        return [finding("tensor-operator", path, bad_line),
                finding("tensor-operator", path, init_line)]

    fake = types.ModuleType("pylint_distiller.api")
    fake.analyze_file = analyze_file
    monkeypatch.setitem(sys.modules, "pylint_distiller.api", fake)

    assert run_verify([f"{model_file}:Bad", "--input-shape", "1,3,4,4", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert seen == [os.path.realpath(model_file)]  # the model's file, not torch's
    assert data["crosscheck"]["counts"] == {
        "both": 1, "runtime_only": 0, "static_only_executed": 0,
        "static_only_not_executed": 1, "not_runtime_observable": 0}

    assert run_verify([f"{model_file}:Bad", "--input-shape", "1,3,4,4"]) == 1
    out = capsys.readouterr().out
    assert "found by both: 1" in out and "static only, line never ran: 1" in out


def test_cli_with_the_real_static_analysis_if_present(model_file, capsys):
    pytest.importorskip("pylint_distiller.api")
    assert run_verify([f"{model_file}:Bad", "--input-shape", "1,3,4,4", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["static"]["ran"] and data["crosscheck"] is not None
    counts = data["crosscheck"]["counts"]
    # The one runtime op site is either matched by a static finding or a static miss.
    assert counts["runtime_only"] == (0 if counts["both"] else 1)
