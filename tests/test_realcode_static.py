"""The analysis on real model files of installed packages (never imported, only read).

Expected findings are located by the text of their source line, never by line
number, so a new transformers release moves them without breaking the test; a
release that rewrites the line itself makes the test fail loudly (the text is
gone), which is the point at which it must be looked at again.
"""

from __future__ import annotations

import glob
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache

import pytest

from pylint_distiller.api import analyze_file

transformers = pytest.importorskip("transformers")
TF_MODELS = os.path.join(os.path.dirname(transformers.__file__), "models")
OP_SYMBOLS = {"tensor-operator", "torch-function", "functional-call", "tensor-method"}


def model_file(name: str) -> str:
    return os.path.join(TF_MODELS, name.split("/")[0], f"modeling_{name.split('/')[1]}.py")


@lru_cache(maxsize=None)
def findings(path: str):
    return tuple(analyze_file(path))


@lru_cache(maxsize=None)
def source_lines(path: str) -> tuple[str, ...]:
    with open(path, encoding="utf-8") as stream:
        return tuple(stream.read().splitlines())


def lines_with(path: str, text: str) -> list[int]:
    return [i for i, line in enumerate(source_lines(path), 1) if text in line]


def line_with(path: str, text: str, occurrence: int | None = None) -> int:
    hits = lines_with(path, text)
    if occurrence is None:
        assert len(hits) == 1, f"{text!r} is on lines {hits} of {path}: make the probe unique"
        return hits[0]
    return hits[occurrence]


def at(path: str, line: int, symbol: str | None = None) -> list:
    return [f for f in findings(path) if f.line == line and (symbol is None or f.symbol == symbol)]


def assert_op(path: str, line_text: str, expr: str, symbol: str, occurrence: int | None = None) -> None:
    """A finding of `symbol` sits exactly on `expr`, a one-line expression of the line holding `line_text`."""
    line = line_with(path, line_text, occurrence)
    col = source_lines(path)[line - 1].index(expr)
    spans = [(f.line, f.col, f.end_line, f.end_col) for f in at(path, line, symbol)]
    assert (line, col, line, col + len(expr)) in spans, (line, expr, spans, [f.symbol for f in at(path, line)])


def assert_silent(path: str, line_text: str, occurrence: int | None = None) -> None:
    line = line_with(path, line_text, occurrence)
    assert not at(path, line), (line, source_lines(path)[line - 1], [(f.symbol, f.message) for f in at(path, line)])


# ------------------------------------------------------------------------ BERT
BERT = model_file("bert/bert")


def test_bert_residual_adds_are_reported():
    for line in lines_with(BERT, "hidden_states = self.LayerNorm(hidden_states + input_tensor)"):
        text = source_lines(BERT)[line - 1]
        col = text.index("hidden_states + input_tensor")
        spans = [(f.symbol, f.col, f.end_col) for f in at(BERT, line)]
        assert ("tensor-operator", col, col + len("hidden_states + input_tensor")) in spans
    assert len(lines_with(BERT, "self.LayerNorm(hidden_states + input_tensor)")) == 2


def test_bert_eager_attention_is_reported():
    # eager_attention_forward is never called by name: forward hands it on as the
    # default attention interface, which makes it forward code
    assert_op(BERT, "attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling",
              "torch.matmul(query, key.transpose(2, 3))", "torch-function")
    assert_op(BERT, "attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling",
              "torch.matmul(query, key.transpose(2, 3)) * scaling", "tensor-operator")
    assert_op(BERT, "attn_weights = nn.functional.softmax(attn_weights, dim=-1)",
              "nn.functional.softmax(attn_weights, dim=-1)", "functional-call")
    assert_op(BERT, "attn_output = torch.matmul(attn_weights, value)",
              "torch.matmul(attn_weights, value)", "torch-function")


def test_bert_shape_and_init_arithmetic_is_silent():
    assert_silent(BERT, "self.attention_head_size = int(config.hidden_size / config.num_attention_heads)", 0)
    assert_silent(BERT, "input_shape = hidden_states.shape[:-1]", 0)
    assert_silent(BERT, "hidden_shape = (*input_shape, -1, self.attention_head_size)", 0)


# ----------------------------------------------------------------------- LLaMA
LLAMA = model_file("llama/llama")


def test_llama_rotary_helpers_are_reported():
    assert_op(LLAMA, "return torch.cat((-x2, x1), dim=-1)", "torch.cat((-x2, x1), dim=-1)", "torch-function")
    assert_op(LLAMA, "return torch.cat((-x2, x1), dim=-1)", "-x2", "tensor-operator")
    for probe, var in (("q_embed = (q * cos) + (rotate_half(q) * sin)", "q"),
                       ("k_embed = (k * cos) + (rotate_half(k) * sin)", "k")):
        assert_op(LLAMA, probe, f"{var} * cos", "tensor-operator")
        assert_op(LLAMA, probe, f"rotate_half({var}) * sin", "tensor-operator")
        assert_op(LLAMA, probe, f"(q * cos) + (rotate_half(q) * sin)".replace("q", var), "tensor-operator")


def test_llama_silent_lines():
    assert_silent(LLAMA, "x1 = x[..., : x.shape[-1] // 2]")
    assert_silent(LLAMA, "self.scaling = self.head_dim**-0.5")
    # position ids built from torch.arange: index arithmetic, not an activation op
    assert_silent(LLAMA, "position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + "
                         "past_seen_tokens")


def test_llama_residuals_and_mlp():
    assert_op(LLAMA, "down_proj = self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))",
              "self.act_fn(self.gate_proj(x)) * self.up_proj(x)", "tensor-operator")
    residual_adds = lines_with(LLAMA, "hidden_states = residual + hidden_states")
    assert len(residual_adds) == 2
    for line in residual_adds:
        assert [f.symbol for f in at(LLAMA, line)] == ["tensor-operator"]


# ------------------------------------------------------------------------ GPT-2
GPT2 = model_file("gpt2/gpt2")


def test_gpt2_residual_adds():
    assert_op(GPT2, "hidden_states = attn_output + residual", "attn_output + residual", "tensor-operator")
    assert_op(GPT2, "hidden_states = residual + feed_forward_hidden_states",
              "residual + feed_forward_hidden_states", "tensor-operator")


# -------------------------------------------------------------------------- ViT
VIT = model_file("vit/vit")


def test_vit_residuals_and_embeddings():
    for line in lines_with(VIT, "hidden_states = hidden_states + residual"):
        assert [f.symbol for f in at(VIT, line)] == ["tensor-operator"]
    assert_op(VIT, "embeddings = embeddings + self.position_embeddings",
              "embeddings + self.position_embeddings", "tensor-operator")


# ----------------------------------------------------------------------- ResNet
RESNET = model_file("resnet/resnet")


def test_resnet_in_place_residuals():
    lines = lines_with(RESNET, "hidden_state += residual")
    assert len(lines) == 2
    for line in lines:
        text = source_lines(RESNET)[line - 1]
        spans = [(f.symbol, f.col, f.end_col) for f in at(RESNET, line)]
        assert spans == [("tensor-operator", text.index("hidden_state"), len(text.rstrip()))]


# ---------------------------------------------------------------------- DeBERTa
DEBERTA = model_file("deberta/deberta")


def test_deberta_tuple_shape_concatenation_is_silent():
    assert_silent(DEBERTA, "new_x_shape = x.size()[:-1] + (self.num_attention_heads, -1)")


# ----------------------------------------------------------------------- ALBERT
ALBERT = model_file("albert/albert")


def test_albert_shared_layer_groups_are_reuse():
    line = line_with(ALBERT, "hidden_states = self.albert_layer_groups[group_idx](")
    reuse = at(ALBERT, line, "reused-module")
    assert len(reuse) == 1 and "albert_layer_groups" in reuse[0].message
    # the groups run once per layer, so every module they call runs repeatedly too
    assert at(ALBERT, line_with(ALBERT, "ffn_output = self.ffn(attention_output)"), "reused-module")


# ------------------------------------------------------------- efficientnet_pytorch
def test_efficientnet_pytorch_model():
    pytest.importorskip("efficientnet_pytorch")
    import efficientnet_pytorch

    path = os.path.join(os.path.dirname(efficientnet_pytorch.__file__), "model.py")
    assert_op(path, "x = x + inputs  # skip connection", "x + inputs", "tensor-operator")
    assert_op(path, "x = torch.sigmoid(x_squeezed) * x", "torch.sigmoid(x_squeezed)", "torch-function")
    assert_op(path, "x = torch.sigmoid(x_squeezed) * x", "torch.sigmoid(x_squeezed) * x", "tensor-operator")
    # self._swish is called twice in MBConvBlock.forward and twice in EfficientNet.extract_features
    reuse_lines = {f.line for f in findings(path) if f.symbol == "reused-module"}
    assert line_with(path, "x = self._swish(x)", 1) in reuse_lines
    # drop-connect rate arithmetic is on floats, not tensors
    assert_silent(path, "drop_connect_rate *= float(idx) / len(self._blocks)  # scale drop connect_rate", 0)


# ------------------------------------------------------------ every modeling file
def _analyze_one(path: str) -> tuple[str, int, str | None, float]:
    start = time.perf_counter()
    try:
        count = len(analyze_file(path))
        error = None
    except Exception as exc:  # pylint: disable=broad-except
        count, error = 0, f"{type(exc).__name__}: {exc}"
    return path, count, error, time.perf_counter() - start


def test_every_installed_modeling_file_is_analyzed_without_crashing(record_property):
    paths = sorted(glob.glob(os.path.join(TF_MODELS, "*", "modeling_*.py")))
    assert len(paths) > 300
    start = time.perf_counter()
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_analyze_one, paths, chunksize=8))
    elapsed = time.perf_counter() - start
    errors = [(os.path.relpath(p, TF_MODELS), e) for p, _, e, _ in results if e]
    slowest = max(results, key=lambda r: r[3])
    total = sum(count for _, count, _, _ in results)
    record_property("files", len(paths))
    record_property("seconds", round(elapsed, 1))
    print(f"\n{len(paths)} modeling files, {total} findings, {elapsed:.1f}s wall "
          f"({workers} workers); slowest {os.path.relpath(slowest[0], TF_MODELS)} {slowest[3]:.2f}s")
    assert not errors, errors[:10]
    assert total > 1000  # the analysis really ran (real model files are full of tensor ops)
    assert slowest[3] < 30, slowest
