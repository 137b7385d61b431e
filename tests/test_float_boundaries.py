"""Float parameters meeting a quantized activation across a boundary (`analysis/boundaries.py`), executed.

A parameter or buffer handed on before it meets an activation (a forward argument, a
method's or a helper's result, a reshaped local) is a float tensor after convert, and no
quantized op takes it with a quantized activation (`aten::qscheme`, `promoteTypes`). For
every case: the model fails eager PTQ as written; after ``fix --target torch-eager`` it
loads the original state_dict strictly, gives the same float outputs before and after
`fuse_model()` (eval), runs the README recipe with a sane SQNR, and a second fix adds nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 15.0
HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = {
    # timm Swin: the block passes its buffer (or a mask it builds) as `mask=`, attention adds it
    "buffer_passed_as_forward_argument": ("""
        class Attention(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim * 3)
                self.proj = nn.Linear(dim, dim)

            def forward(self, x, mask=None):
                q, k, v = self.qkv(x).chunk(3, dim=-1)
                attn = q @ k.transpose(-2, -1)
                if mask is not None:
                    attn = attn + mask.unsqueeze(0)
                return self.proj(attn @ v)


        class Net(nn.Module):
            def __init__(self, dim, dynamic=False):
                super().__init__()
                self.dynamic = dynamic
                self.attn = Attention(dim)
                self.register_buffer("attn_mask", torch.arange(64.0).view(8, 8) / 64, persistent=False)

            def make_mask(self, x):
                return torch.zeros(x.shape[1], x.shape[1])

            def forward(self, x):
                if self.dynamic:
                    mask = self.make_mask(x)
                else:
                    mask = self.attn_mask
                return self.attn(x, mask=mask)
        """, "torch.randn(2, 8, 4)"),
    # timm WindowAttention / RelPosBias: `attn + self._get_rel_pos_bias()`
    "method_returning_a_parameter_view": ("""
        class Net(nn.Module):
            def __init__(self, dim, n=8):
                super().__init__()
                self.n = n
                self.qkv = nn.Linear(dim, dim * 3)
                self.table = nn.Parameter(torch.randn(2 * n - 1))
                self.register_buffer("index", torch.arange(n).view(-1, 1) - torch.arange(n).view(1, -1) + n - 1,
                                     persistent=False)

            def _rel_bias(self):
                bias = self.table[self.index.view(-1)].view(self.n, self.n)
                return bias.unsqueeze(0)

            def forward(self, x):
                q, k, v = self.qkv(x).chunk(3, dim=-1)
                attn = q @ k.transpose(-2, -1)
                attn = attn + self._rel_bias()
                return attn @ v
        """, "torch.randn(2, 8, 4)"),
    # torchvision Swin's `_get_relative_position_bias(table, index, n)` and halonet's helpers
    "helper_returning_a_parameter_view": ("""
        def relative_bias(table, index, n):
            bias = table[index]
            return bias.view(n, n).unsqueeze(0)


        def rel_logits(q, rel_k):
            return q @ rel_k.transpose(-1, -2)


        class Net(nn.Module):
            def __init__(self, dim, n=8):
                super().__init__()
                self.n = n
                self.qkv = nn.Linear(dim, dim * 3)
                self.table = nn.Parameter(torch.randn(n * n))
                self.rel_k = nn.Parameter(torch.randn(n, dim))
                self.register_buffer("index", torch.randperm(n * n), persistent=False)

            def forward(self, x):
                q, k, v = self.qkv(x).chunk(3, dim=-1)
                attn = q @ k.transpose(-2, -1) + relative_bias(self.table, self.index, self.n)
                return (attn + rel_logits(q, self.rel_k)) @ v
        """, "torch.randn(2, 8, 4)"),
    # timm LayerScale2d: `gamma = self.gamma.view(1, -1, 1, 1)` then `x * gamma` (and EfficientViM's `alpha[0]`)
    "layer_scale_parameter_reshaped": ("""
        class LayerScale2d(nn.Module):
            def __init__(self, dim, inplace=False):
                super().__init__()
                self.inplace = inplace
                self.gamma = nn.Parameter(torch.rand(dim) + 0.5)

            def forward(self, x):
                gamma = self.gamma.view(1, -1, 1, 1)
                return x.mul_(gamma) if self.inplace else x * gamma


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.ls = LayerScale2d(dim)
                self.alpha = nn.Parameter(torch.rand(2, dim))
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                alpha = torch.sigmoid(self.alpha).view(2, -1, 1, 1)
                y = self.ls(self.conv(x))
                return self.out(y * alpha[0])
        """, "torch.randn(2, 4, 8, 8)"),
    # timm EfficientViT (MSRA) / LeViT: biases cached per device, added once per head in a loop
    "cached_bias_added_in_a_loop": ("""
        class Net(nn.Module):
            def __init__(self, dim, heads=2, n=8):
                super().__init__()
                self.qkvs = nn.ModuleList([nn.Linear(dim, dim * 3) for _ in range(heads)])
                self.biases = nn.Parameter(torch.randn(heads, n, n))
                self.cache = {}

            def get_biases(self, device):
                if self.training:
                    return self.biases
                key = str(device)
                if key not in self.cache:
                    self.cache[key] = self.biases[:, :]
                return self.cache[key]

            def forward(self, x):
                bias = self.get_biases(x.device)
                outs = []
                for i, qkv in enumerate(self.qkvs):
                    q, k, v = qkv(x).chunk(3, dim=-1)
                    attn = q @ k.transpose(-2, -1)
                    attn = attn + bias[i]
                    outs.append(attn @ v)
                return torch.cat(outs, dim=-1)
        """, "torch.randn(2, 8, 4)"),
    # timm PiT: the class token enters the first stage of an nn.Sequential inside a tuple
    "parameter_in_a_tuple_through_a_sequential": ("""
        class Stage(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                x, cls_tokens = x
                x = torch.cat((cls_tokens, x), dim=1)
                x = self.fc(x)
                return x[:, 1:], x[:, :1]


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
                self.stages = nn.Sequential(Stage(dim), Stage(dim))

            def forward(self, x):
                cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
                x, cls_tokens = self.stages((x, cls_tokens))
                return x + cls_tokens
        """, "torch.randn(2, 8, 4)"),
    # torchvision Swin's `shifted_window_attention(x, self.qkv.weight, ..., relative_position_bias, ...)`
    "helper_taking_weights_and_a_bias": ("""
        def attention(x, qkv_weight, qkv_bias, bias, heads: int, training: bool = True):
            qkv = F.linear(x, qkv_weight, qkv_bias)
            q, k, v = qkv.chunk(3, dim=-1)
            attn = q @ k.transpose(-2, -1) + bias
            attn = F.dropout(F.softmax(attn, dim=-1), p=0.0, training=training)
            return attn @ v


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim * 3)
                self.table = nn.Parameter(torch.randn(8, 8))
                self.proj = nn.Linear(dim, dim)

            def rel_bias(self):
                return self.table.unsqueeze(0)

            def forward(self, x):
                bias = self.rel_bias()
                return self.proj(attention(x, self.qkv.weight, self.qkv.bias, bias, 2, training=self.training))
        """, "torch.randn(2, 8, 4)"),
    # timm ConViT: a registered buffer recomputed by a method in forward, fed to a Linear
    "registered_buffer_recomputed_and_fed_to_a_linear": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim * 3)
                self.pos_proj = nn.Linear(3, 8)
                self.register_buffer("rel_indices", torch.zeros(1, 1, 1, 3), persistent=False)

            def get_rel_indices(self, n: int):
                ind = torch.arange(n, dtype=torch.float32)
                return torch.stack([ind.view(-1, 1) - ind.view(1, -1)] * 3, dim=-1).unsqueeze(0) / n

            def forward(self, x):
                B, N, C = x.shape
                if self.rel_indices.shape[1] != N:
                    self.rel_indices = self.get_rel_indices(N)
                pos = self.pos_proj(self.rel_indices.expand(B, -1, -1, -1)).mean(-1)
                q, k, v = self.qkv(x).chunk(3, dim=-1)
                attn = q @ k.transpose(-2, -1) + pos
                return attn @ v
        """, "torch.randn(2, 8, 4)"),
    # timm HieraDet (sam2): a parameter resized to a size read from the activation (`h, w = x.shape[1:3]`,
    # `F.interpolate(self.pos_embed, size=(h, w))`) plus a tiled one is float; only `x + pos_embed` meets x
    "parameter_resized_to_the_input_shape": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 1)
                self.pos_embed = nn.Parameter(torch.randn(1, dim, 4, 4))
                self.pos_embed_window = nn.Parameter(torch.randn(1, dim, 2, 2))

            def forward(self, x):
                x = self.conv(x)
                h, w = x.shape[2:4]
                window_embed = self.pos_embed_window
                pos_embed = F.interpolate(self.pos_embed, size=(h, w), mode="bilinear")
                tile_h = pos_embed.shape[-2] // window_embed.shape[-2]
                tile_w = pos_embed.shape[-1] // window_embed.shape[-1]
                pos_embed = pos_embed + window_embed.tile((tile_h, tile_w))
                return x + pos_embed
        """, "torch.randn(2, 4, 8, 8)"),
}


def _source(name: str) -> str:
    body, inputs = CASES[name]
    return HEADER + textwrap.dedent(body).strip() + (f"\n\n\ndef build():\n    return Net(4)\n\n\n"
                                                     f"def example_inputs():\n    return ({inputs},)\n")


def _fixed(text: str) -> str:
    return fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=True).text


def _calibration(x: torch.Tensor) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn_like(x) for _ in range(4)] + [x]


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_parameter_across_a_boundary_quantizes(name):
    text = _source(name)
    result = _fixed(text)
    original = load_module_from_source(text, f"float_boundary_{name}")
    prepared = load_module_from_source(result, f"float_boundary_{name}_fixed")
    torch.manual_seed(0)
    reference_model = original.build().eval()
    x = original.example_inputs()[0]
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure of eager PTQ, unprepared
        torch.manual_seed(0)
        readme_recipe()(original.build().eval(), _calibration(x))(x)
    torch.manual_seed(0)
    model = prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.allclose(model(x), reference, atol=1e-6)
        if hasattr(model, "fuse_model"):
            model.fuse_model()
        assert torch.allclose(model(x), reference, atol=1e-5)
    quantized = readme_recipe()(model, _calibration(x))
    with torch.no_grad():
        out = quantized(x)
    quality = sqnr_db(reference, out)
    print(f"{name}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB
    assert _fixed(result) == result  # idempotent


def test_a_buffer_argument_is_dequantized_in_the_island():
    """The mask the block passes is float on that path: the island dequantizes it too (a float
    tensor passes a DeQuantStub unchanged), and its view alone gets no island."""
    result = _fixed(_source("buffer_passed_as_forward_argument"))
    assert "self.add_dequant_2(mask.unsqueeze(0))" in result.replace("\n", "")
    assert "mask.unsqueeze(0)" in result and "unsqueeze_quant" not in result


def test_a_loop_island_gets_one_pair_of_stubs_per_iteration():
    result = _fixed(_source("cached_bias_added_in_a_loop"))
    assert "self.add_quants[i](self.add_dequants[i](attn) + bias[i])" in result
    assert "self.add_quants = nn.ModuleList([QuantStub() for _ in range(len(self.qkvs))])" in result


def test_an_activation_argument_keeps_its_floatfunctional():
    """Every caller passes an activation: nothing is float, the add stays a FloatFunctional."""
    text = HEADER + textwrap.dedent("""
        class Inner(nn.Module):
            def forward(self, x, other):
                return x + other


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 1)
                self.inner = Inner()

            def forward(self, x):
                return self.inner(x, self.conv(x))
        """)
    result = _fixed(text)
    assert "self.add.add(x, other)" in result and "DeQuantStub" not in result


def test_a_weight_read_in_a_no_grad_method_keeps_the_module_quantized():
    """timm's `fuse()` (BatchNorm folded into the Linear, `@torch.no_grad`) is no forward code:
    its `self.linear.weight` read must not keep the Linear float (the head then ran float on
    quantized input: `mat1 and mat2 must have the same dtype`)."""
    text = HEADER + textwrap.dedent("""
        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm1d(4)
                self.linear = nn.Linear(4, 2)

            @torch.no_grad()
            def fuse(self):
                return self.linear.weight * self.bn.weight[None, :]

            def forward(self, x):
                return self.linear(self.bn(x))
        """)
    assert "self.linear.qconfig" not in _fixed(text)
