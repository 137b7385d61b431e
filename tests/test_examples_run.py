"""The bundled examples run and carry exactly the problems they advertise; the
test-only ``distiller.modules`` stand-in computes what Distiller's modules compute;
the runtime-equivalence helpers catch what they are meant to catch.

The "problems they advertise" are checked at runtime, not with the linter: the
op recorder sees every torch function the model's own forward code calls, and
the hook counter sees every module that runs twice. That gives the linter tests
an independent ground truth for the same files.
"""

from __future__ import annotations

import ast
import inspect
import sys
import traceback
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from tests.support.runtime_equivalence import (
    STUBS_DIR,
    assert_same_model,
    count_module_calls,
    load_module_from_source,
    stub_distiller_on_path,
    top_level_torch_ops,
)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = [
    "basic_module",
    "bottleneck",
    "squeeze_excitation",
    "attention",
    "lstm_model",
    "shape_arithmetic",
]

# Ops that only read sizes, move data or index: no quantizer needs to see them.
PASS_THROUGH = {
    "size", "shape", "device", "dim", "view", "reshape", "permute", "transpose",
    "contiguous", "unbind", "__getitem__", "__setitem__", "arange", "zeros", "dtype",
}

# What each example's forward does outside modules (runtime op names), and
# which module instances it calls more than once.
EXPECTED_PROBLEMS = {
    "basic_module": ({"add_": 1, "cat": 1, "sigmoid": 1}, {"relu": 2}),
    "bottleneck": ({"add_": 1}, {"relu": 3}),
    "squeeze_excitation": ({"adaptive_avg_pool2d": 1, "relu": 1, "sigmoid": 1, "mul": 1}, {}),
    "attention": ({"mul": 1, "matmul": 2, "softmax": 1, "add": 2}, {}),
    "lstm_model": ({}, {}),
    "shape_arithmetic": ({}, {}),
}


def load_example(name: str):
    path = EXAMPLES_DIR / f"{name}.py"
    return load_module_from_source(path.read_text(encoding="utf-8"), name, path_hint=path)


def tensors_in(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from tensors_in(item)


def compute_ops(model, inputs) -> dict[str, int]:
    ops = top_level_torch_ops(model, inputs)
    return {name: n for name, n in ops.items() if name not in PASS_THROUGH}


def reused_modules(model, inputs) -> dict[str, int]:
    return {name: n for name, n in count_module_calls(model, inputs).items() if n > 1}


@pytest.fixture(name="dm")
def distiller_modules():
    """``distiller.modules`` from the stand-in, importable only during the test."""
    with stub_distiller_on_path():
        import distiller.modules

        yield distiller.modules


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_builds_and_runs(name):
    module = load_example(name)
    torch.manual_seed(0)
    model = module.build()
    assert isinstance(model, nn.Module)
    inputs = module.example_inputs()
    assert isinstance(inputs, tuple) and inputs
    output = model(*inputs)
    tensors = list(tensors_in(output))
    assert tensors, "forward returned no tensor"
    assert all(torch.isfinite(t).all() for t in tensors)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_is_deterministic_under_a_seed(name):
    """Two builds from one seed agree in both modes: the precondition for
    comparing an original with its rewrite."""
    module = load_example(name)
    assert_same_model(module, module, modes=("eval", "train"), atol=0.0)


def test_bottleneck_without_downsample_runs():
    module = load_example("bottleneck")
    model = module.build_without_downsample()
    (x,) = module.example_inputs_without_downsample()
    assert model.downsample is None
    assert model(x).shape == x.shape


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_carries_exactly_its_advertised_problems(name):
    module = load_example(name)
    model = module.build().eval()
    inputs = module.example_inputs()
    expected_ops, expected_reuse = EXPECTED_PROBLEMS[name]
    assert compute_ops(model, inputs) == expected_ops
    assert reused_modules(model, inputs) == expected_reuse


def test_lstm_example_uses_an_unquantizable_lstm():
    model = load_example("lstm_model").build()
    assert any(isinstance(m, nn.LSTM) for m in model.modules())


def _forward_of(tree: ast.Module, class_name: str) -> ast.FunctionDef:
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    return next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward")


def test_basic_module_source_has_exactly_the_four_problems():
    """Textual check on top of the runtime one, so nothing hides in code that
    does not run with the example inputs."""
    tree = ast.parse((EXAMPLES_DIR / "basic_module.py").read_text(encoding="utf-8"))
    forward = _forward_of(tree, "BasicModule")
    nodes = list(ast.walk(forward))
    assert not [n for n in nodes if isinstance(n, ast.BinOp)]
    aug = [n for n in nodes if isinstance(n, ast.AugAssign)]
    assert [ast.unparse(n) for n in aug] == ["out += identity"]
    calls = [ast.unparse(n.func) for n in nodes if isinstance(n, ast.Call)]
    assert [c for c in calls if not c.startswith("self.")] == ["torch.cat", "F.sigmoid"]
    assert Counter(calls)["self.relu"] == 2


def test_shape_arithmetic_keeps_its_traps():
    """The file is a precision benchmark: simplifying it away would make the
    'reports nothing' test meaningless."""
    source = (EXAMPLES_DIR / "shape_arithmetic.py").read_text(encoding="utf-8")
    for trap in [
        "b, c, h, w = x.size()",
        "x.view(b, c // self.groups, self.groups, h, w)",
        "x.size(0) * 2",
        "tokens.size()[:-1] + (self.heads, -1)",
        "feats = feats + [x]",
        "len(self.stages) - self.num_outputs",
        "h // self.patch",
        "head_dim ** -0.5",
        "torch.arange(",
        "torch.zeros(",
        "x[:, : c // 2]",
        "for i, stage in enumerate(self.stages)",
    ]:
        assert trap in source, trap


# ---------------------------------------------------------------------------
# The distiller.modules stand-in
# ---------------------------------------------------------------------------


def test_stand_in_exports_the_documented_api(dm):
    assert set(dm.__all__) == {
        "EltwiseAdd", "EltwiseSub", "EltwiseMult", "EltwiseDiv", "Matmul", "BatchMatmul",
        "Concat", "Stack", "Chunk", "Split", "Mean", "Norm",
        "DistillerLSTMCell", "DistillerLSTM", "convert_model_to_distiller_lstm",
    }
    assert Path(dm.__file__).is_relative_to(STUBS_DIR)


def test_op_modules_have_no_state(dm):
    """Adding them to a model must not change its state_dict keys."""
    for module in [
        dm.EltwiseAdd(inplace=True), dm.EltwiseSub(), dm.EltwiseMult(), dm.EltwiseDiv(),
        dm.Matmul(), dm.BatchMatmul(), dm.Concat(dim=1), dm.Stack(dim=1), dm.Chunk(2),
        dm.Split(2), dm.Mean(dim=1), dm.Norm(),
    ]:
        assert module.state_dict() == {}, type(module).__name__


ELTWISE = [
    ("EltwiseAdd", lambda a, b: a + b),
    ("EltwiseSub", lambda a, b: a - b),
    ("EltwiseMult", lambda a, b: a * b),
]


@pytest.mark.parametrize("cls_name, op", ELTWISE)
def test_eltwise_varargs_out_of_place(dm, cls_name, op):
    a, b, c = torch.randn(3, 2, 5).unbind(0)
    a0 = a.clone()
    result = getattr(dm, cls_name)()(a, b, c)
    torch.testing.assert_close(result, op(op(a0, b), c), rtol=0, atol=0)
    assert torch.equal(a, a0), "out-of-place op mutated its first input"
    assert result is not a


@pytest.mark.parametrize("cls_name, op", ELTWISE)
def test_eltwise_inplace_mutates_first_input(dm, cls_name, op):
    a, b, c = torch.randn(3, 2, 5).unbind(0)
    a = a.clone()
    b0 = b.clone()
    expected = op(op(a, b), c)
    result = getattr(dm, cls_name)(inplace=True)(a, b, c)
    assert result is a
    torch.testing.assert_close(a, expected, rtol=0, atol=0)
    assert torch.equal(b, b0), "only the first input may change"


def test_eltwise_add_inplace_matches_augmented_assignment(dm):
    """`out += identity` and `self.add(out, identity)` leave `out` in the same state."""
    out, identity = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    reference = out.clone()
    reference += identity
    view = out[0]  # in-place means aliases see the update too
    dm.EltwiseAdd(inplace=True)(out, identity)
    torch.testing.assert_close(out, reference, rtol=0, atol=0)
    torch.testing.assert_close(view, reference[0], rtol=0, atol=0)


def test_eltwise_div(dm):
    x, y = torch.randn(4, 3), torch.rand(4, 3) + 0.5
    x0 = x.clone()
    torch.testing.assert_close(dm.EltwiseDiv()(x, y), x0 / y, rtol=0, atol=0)
    assert torch.equal(x, x0)
    result = dm.EltwiseDiv(inplace=True)(x, y)
    assert result is x
    torch.testing.assert_close(x, x0 / y, rtol=0, atol=0)
    with pytest.raises(TypeError):
        dm.EltwiseDiv()(x, y, y)  # exactly two operands, unlike EltwiseAdd


def test_matmul_broadcasts_like_the_operator(dm):
    a, b = torch.randn(2, 3, 4, 5), torch.randn(5, 6)
    torch.testing.assert_close(dm.Matmul()(a, b), a @ b, rtol=0, atol=0)


def test_batch_matmul_is_bmm(dm):
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    torch.testing.assert_close(dm.BatchMatmul()(a, b), torch.bmm(a, b), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        dm.BatchMatmul()(torch.randn(2, 2, 3, 4), torch.randn(2, 2, 4, 5))  # no broadcasting


def test_concat_takes_tensors_as_varargs(dm):
    a, b, c = torch.randn(2, 3), torch.randn(2, 1), torch.randn(2, 2)
    torch.testing.assert_close(dm.Concat(dim=1)(a, b, c), torch.cat([a, b, c], dim=1), rtol=0, atol=0)
    xs = [a, b, c]
    torch.testing.assert_close(dm.Concat(dim=1)(*xs), torch.cat(xs, 1), rtol=0, atol=0)
    # The default dim is 0, which is why a rewrite must always pass `dim`.
    torch.testing.assert_close(dm.Concat()(a, a), torch.cat([a, a]), rtol=0, atol=0)
    with pytest.raises(TypeError):
        dm.Concat(dim=1)(xs)  # a list is not a tensor: torch.cat((xs,), 1) fails


def test_stack_takes_one_sequence(dm):
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(dm.Stack(dim=1)([a, b]), torch.stack([a, b], dim=1), rtol=0, atol=0)
    torch.testing.assert_close(dm.Stack()((a, b)), torch.stack((a, b)), rtol=0, atol=0)
    with pytest.raises(TypeError):
        dm.Stack(dim=1)(a, b)


def test_chunk_and_split(dm):
    t = torch.randn(4, 7)
    for got, want in zip(dm.Chunk(3, dim=1)(t), t.chunk(3, 1)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for got, want in zip(dm.Split(2)(t), torch.split(t, 2)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    sections = dm.Split([2, 5], dim=1)(t)
    assert [s.shape[1] for s in sections] == [2, 5]
    for got, want in zip(sections, torch.split(t, [2, 5], dim=1)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_mean_and_norm(dm):
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(dm.Mean()(x), torch.mean(x), rtol=0, atol=0)
    torch.testing.assert_close(dm.Mean(1, keepdim=True)(x), x.mean(1, keepdim=True), rtol=0, atol=0)
    torch.testing.assert_close(dm.Mean(dim=(1, 2))(x), x.mean(dim=(1, 2)), rtol=0, atol=0)
    torch.testing.assert_close(dm.Norm()(x), torch.norm(x), rtol=0, atol=0)
    torch.testing.assert_close(dm.Norm(p=2, dim=1, keepdim=True)(x), torch.norm(x, 2, 1, True), rtol=0, atol=0)


def test_lstm_cell_matches_torch(dm):
    torch.manual_seed(0)
    ref = nn.LSTMCell(5, 7)
    cell = dm.DistillerLSTMCell.from_pytorch_impl(ref)
    x, h0, c0 = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    for got, want in zip(cell(x, (h0, c0)), ref(x, (h0, c0))):
        torch.testing.assert_close(got, want)
    # h=None means zero state, sized from the batch.
    for got, want in zip(cell(x), ref(x)):
        torch.testing.assert_close(got, want)
    back = cell.to_pytorch_impl()
    for got, want in zip(back(x, (h0, c0)), ref(x, (h0, c0))):
        torch.testing.assert_close(got, want)


def test_lstm_cell_is_made_of_modules(dm):
    """The point of the Distiller cell: every gate op is a module a quantizer sees."""
    cell = dm.DistillerLSTMCell(5, 7)
    ops = compute_ops(cell, (torch.randn(3, 5),))
    assert set(ops) <= {"chunk"}
    assert max(count_module_calls(cell, (torch.randn(3, 5),)).values()) == 1


@pytest.mark.parametrize(
    "kwargs, x_shape",
    [
        (dict(num_layers=1), (6, 3, 5)),
        (dict(num_layers=2), (6, 3, 5)),
        (dict(num_layers=2, batch_first=True), (3, 6, 5)),
        (dict(num_layers=2, bidirectional=True), (6, 3, 5)),
        (dict(num_layers=3, bidirectional=True, batch_first=True), (3, 6, 5)),
    ],
)
def test_lstm_shapes_and_values_match_torch(dm, kwargs, x_shape):
    torch.manual_seed(0)
    ref = nn.LSTM(5, 7, **kwargs).eval()
    lstm = dm.DistillerLSTM.from_pytorch_impl(ref).eval()
    x = torch.randn(*x_shape)
    n_dir = 2 if kwargs.get("bidirectional") else 1
    batch = x_shape[0] if kwargs.get("batch_first") else x_shape[1]
    seq = x_shape[1] if kwargs.get("batch_first") else x_shape[0]

    y, (h, c) = lstm(x)
    out_shape = (batch, seq, 7 * n_dir) if kwargs.get("batch_first") else (seq, batch, 7 * n_dir)
    assert y.shape == out_shape
    assert h.shape == c.shape == (kwargs["num_layers"] * n_dir, batch, 7)

    with torch.no_grad():
        y_ref, (h_ref, c_ref) = ref(x)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(c, c_ref, atol=1e-5, rtol=1e-5)
        # An explicit initial state is honoured, in nn.LSTM's layout.
        h0, c0 = torch.randn_like(h), torch.randn_like(c)
        y, (h, c) = lstm(x, (h0, c0))
        y_ref, (h_ref, c_ref) = ref(x, (h0, c0))
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)


def test_lstm_constructor_signature_and_round_trip(dm):
    params = list(inspect.signature(dm.DistillerLSTM).parameters.items())
    assert [(n, p.default) for n, p in params] == [
        ("input_size", inspect.Parameter.empty),
        ("hidden_size", inspect.Parameter.empty),
        ("num_layers", inspect.Parameter.empty),
        ("bias", True),
        ("batch_first", False),
        ("dropout", 0.5),
        ("bidirectional", False),
        ("bidirectional_type", 2),
    ]
    lstm = dm.DistillerLSTM(4, 6, 2, dropout=0.0, bidirectional=True).eval()
    ref = lstm.to_pytorch_impl().eval()
    x = torch.randn(5, 2, 4)
    with torch.no_grad():
        torch.testing.assert_close(lstm(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(NotImplementedError):
        dm.DistillerLSTM(4, 6, 1, bidirectional=True, bidirectional_type=1)
    with pytest.raises(ValueError):
        dm.DistillerLSTM(4, 6, 0)


def test_convert_model_to_distiller_lstm_on_the_example(dm):
    example = load_example("lstm_model")
    torch.manual_seed(0)
    model = example.build().eval()
    (tokens,) = example.example_inputs()
    with torch.no_grad():
        expected = model(tokens)
        converted = dm.convert_model_to_distiller_lstm(model)
        actual = converted(tokens)
    assert converted is model
    assert isinstance(model.rnn, dm.DistillerLSTM)
    assert not any(isinstance(m, (nn.LSTM, nn.LSTMCell)) for m in model.modules())
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
    # The documented caveat: the weights move to new state_dict keys.
    assert "rnn.weight_ih_l0" not in model.state_dict()
    assert "rnn.cells.0.fc_gate_x.weight" in model.state_dict()


def test_convert_replaces_a_bare_lstm_cell(dm):
    converted = dm.convert_model_to_distiller_lstm(nn.LSTMCell(3, 4))
    assert isinstance(converted, dm.DistillerLSTMCell)


# ---------------------------------------------------------------------------
# Runtime-equivalence helpers
# ---------------------------------------------------------------------------


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r}"
    return text.replace(old, new)


def basic_module_prepared_for_distiller() -> str:
    """The distiller-target result of design.md's worked example, by hand."""
    text = (EXAMPLES_DIR / "basic_module.py").read_text(encoding="utf-8")
    text = _replace_once(
        text, "import torch.nn.functional as F\n", "import torch.nn.functional as F\nimport distiller.modules\n"
    )
    text = _replace_once(
        text,
        "        self.bn2 = nn.BatchNorm2d(planes)\n",
        "        self.bn2 = nn.BatchNorm2d(planes)\n"
        "        self.add = distiller.modules.EltwiseAdd(inplace=True)\n"
        "        self.relu_2 = nn.ReLU()\n"
        "        self.cat = distiller.modules.Concat(dim=1)\n"
        "        self.sigmoid = nn.Sigmoid()\n",
    )
    text = _replace_once(
        text,
        "        out += identity\n        out = self.relu(out)\n",
        "        out = self.add(out, identity)\n        out = self.relu_2(out)\n",
    )
    text = _replace_once(text, "out = torch.cat([identity, out], dim=1)", "out = self.cat(identity, out)")
    return _replace_once(text, "out = F.sigmoid(out)", "out = self.sigmoid(out)")


def basic_module_prepared_for_torch_eager() -> str:
    """The torch-eager result of design.md's worked example, by hand."""
    text = (EXAMPLES_DIR / "basic_module.py").read_text(encoding="utf-8")
    text = _replace_once(
        text,
        "import torch.nn.functional as F\n",
        "import torch.nn.functional as F\nfrom torch.ao.nn.quantized import FloatFunctional\n",
    )
    text = _replace_once(
        text,
        "        self.bn2 = nn.BatchNorm2d(planes)\n",
        "        self.bn2 = nn.BatchNorm2d(planes)\n"
        "        self.add = FloatFunctional()\n"
        "        self.relu_2 = nn.ReLU()\n"
        "        self.cat = FloatFunctional()\n"
        "        self.sigmoid = nn.Sigmoid()\n",
    )
    text = _replace_once(
        text,
        "        out += identity\n        out = self.relu(out)\n",
        "        out = self.add.add(out, identity)\n        out = self.relu_2(out)\n",
    )
    text = _replace_once(
        text, "out = torch.cat([identity, out], dim=1)", "out = self.cat.cat([identity, out], dim=1)"
    )
    return _replace_once(text, "out = F.sigmoid(out)", "out = self.sigmoid(out)")


def test_worked_example_distiller_result_is_equivalent_and_clean():
    original = load_example("basic_module")
    with stub_distiller_on_path():
        prepared = load_module_from_source(basic_module_prepared_for_distiller(), "basic_module_prepared")
    # Still usable after the stand-in left sys.path: the module holds its reference.
    _, model = assert_same_model(original, prepared, modes=("train", "eval"))
    inputs = original.example_inputs()
    assert compute_ops(model, inputs) == {}
    assert reused_modules(model, inputs) == {}


# torch 2.13 marks eager quantization's quint8/qint8 tensors as deprecated; that
# warning is torch's, not a defect of the prepared model.
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_worked_example_torch_eager_result_is_equivalent_and_quantizes():
    original = load_example("basic_module")
    prepared = load_module_from_source(basic_module_prepared_for_torch_eager(), "basic_module_eager")
    _, model = assert_same_model(original, prepared, modes=("train", "eval"))
    inputs = original.example_inputs()
    assert reused_modules(model, inputs) == {}

    # design.md: eager post-training quantization must run on this result.
    from torch.ao import quantization as tq

    engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip("no quantized CPU engine in this torch build")
    wrapped = nn.Sequential(tq.QuantStub(), model.eval(), tq.DeQuantStub())
    wrapped.qconfig = tq.get_default_qconfig(engine)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        tq.prepare(wrapped, inplace=True)
        with torch.no_grad():
            for _ in range(4):
                wrapped(torch.randn(2, 8, 6, 6))
        tq.convert(wrapped, inplace=True)
        with torch.no_grad():
            out = wrapped(*inputs)
    finally:
        torch.backends.quantized.engine = previous
    quantized = wrapped[1]
    assert isinstance(quantized.add, torch.ao.nn.quantized.QFunctional)
    assert isinstance(quantized.cat, torch.ao.nn.quantized.QFunctional)
    assert isinstance(quantized.conv1, torch.ao.nn.quantized.Conv2d)
    assert out.shape == (2, 16, 6, 6)
    assert torch.isfinite(out).all()


def test_assert_same_model_reports_a_behaviour_change():
    original = load_example("basic_module")
    text = (EXAMPLES_DIR / "basic_module.py").read_text(encoding="utf-8")
    changed = load_module_from_source(_replace_once(text, "out = F.sigmoid(out)", "out = F.relu(out)"), "basic_module_changed")
    with pytest.raises(AssertionError, match="eval output: max abs diff"):
        assert_same_model(original, changed)


def test_assert_same_model_requires_the_original_state_dict_keys():
    original = load_example("basic_module")
    text = (EXAMPLES_DIR / "basic_module.py").read_text(encoding="utf-8")
    renamed = load_module_from_source(text.replace("self.conv2", "self.conv_2"), "basic_module_renamed")
    with pytest.raises(RuntimeError, match="conv2"):
        assert_same_model(original, renamed)


def test_assert_same_model_compares_structured_outputs():
    source = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        y = self.fc(x)
        return {"logits": y, "extra": (y.argmax(-1), [y.sum()]), "n": 2}


def build():
    return Net()


def example_inputs():
    return (torch.randn(4, 3),)
'''
    a = load_module_from_source(source, "structured")
    b = load_module_from_source(source, "structured")
    assert_same_model(a, b, modes=("eval", "train"))
    c = load_module_from_source(source.replace('"n": 2', '"n": 3'), "structured")
    with pytest.raises(AssertionError, match=r"\['n'\]"):
        assert_same_model(a, c)


def test_assert_same_model_unwraps_model_outputs():
    from dataclasses import dataclass

    from transformers.utils import ModelOutput

    @dataclass
    class Out(ModelOutput):
        logits: torch.Tensor = None

    x = torch.ones(2)
    from tests.support.runtime_equivalence import _assert_close

    _assert_close(Out(logits=x), Out(logits=x.clone()), 0.0, "out")
    with pytest.raises(AssertionError, match=r"to_tuple\(\)\[0\]: max abs diff"):
        _assert_close(Out(logits=x), Out(logits=x + 1), 0.0, "out")


def test_count_module_calls_sees_shared_instances():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    counts = count_module_calls(model, (torch.randn(2, 3),))
    assert counts == {"": 1, "0": 1, "1": 2, "2": 1}


def test_load_module_from_source_gives_fresh_named_modules():
    source = "import torch\nCOUNTER = []\n\ndef f():\n    return 1\n"
    a = load_module_from_source(source, "same")
    b = load_module_from_source(source, "same")
    assert a is not b and a.__name__ != b.__name__
    assert sys.modules[a.__name__] is a and sys.modules[b.__name__] is b
    a.COUNTER.append(1)
    assert b.COUNTER == []
    assert inspect.getsource(a.f) == "def f():\n    return 1\n"


def test_load_module_from_source_uses_the_real_file_when_unchanged():
    path = EXAMPLES_DIR / "basic_module.py"
    module = load_example("basic_module")
    assert module.__file__ == str(path)
    changed = load_module_from_source(path.read_text(encoding="utf-8") + "\n# changed\n", "basic_module", path_hint=path)
    assert changed.__file__ != str(path)
    assert Path(changed.__file__).name == "basic_module.py"
    assert inspect.getsource(changed.BasicModule).startswith("class BasicModule(nn.Module):")


def test_load_module_from_source_tracebacks_show_the_code():
    source = "def boom():\n    raise ValueError('boom')  # the failing line\n"
    module = load_module_from_source(source, "tb")
    with pytest.raises(ValueError) as info:
        module.boom()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.filename == module.__file__
    assert frame.line == "raise ValueError('boom')  # the failing line"


def test_load_module_from_source_honours_a_coding_cookie():
    source = "# -*- coding: latin-1 -*-\ndef f():\n    return 'caf\u00e9'\n"
    module = load_module_from_source(source, "latin")
    assert module.f() == "caf\u00e9"
    assert inspect.getsource(module.f) == "def f():\n    return 'caf\u00e9'\n"


def test_load_module_from_source_unregisters_on_failure():
    before = set(sys.modules)
    with pytest.raises(ZeroDivisionError):
        load_module_from_source("x = 1 / 0\n", "broken")
    assert set(sys.modules) == before


def test_stub_distiller_on_path_cleans_up():
    assert "distiller" not in sys.modules
    with stub_distiller_on_path() as stubs:
        import distiller.modules

        assert str(stubs) in sys.path
        assert Path(distiller.modules.__file__).is_relative_to(stubs)
        assert distiller.modules.EltwiseAdd is distiller.modules.__dict__["EltwiseAdd"]
    assert str(STUBS_DIR) not in sys.path
    assert not [k for k in sys.modules if k == "distiller" or k.startswith("distiller.")]
