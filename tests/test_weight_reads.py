"""Metadata reads of a member's weight (`.weight.dtype`, `.weight.device`), the casts they feed
(`analysis/weight_reads.py`), tensors forward builds from factories (`float_built.py`), activation
classes with a float-only forward, and same-file subclasses of nn.LayerNorm held by other classes
(`runtime_islands.py`), executed.

transformers' CLIP and ViT read `patch_embedding.weight.dtype` and cast the pixels to it; timm's
edgenext and xcit read `token_projection.weight.device`. After eager convert a quantized module's
`weight` is a method and `.to(float32)` of a quantized tensor raises, so eager PTQ stops. For
every case: the model fails the README recipe as written; after ``fix --target torch-eager`` it
loads the original state_dict strictly, gives the same float outputs before and after
`fuse_model()` (eval), runs the README recipe with a sane SQNR, and a second fix adds nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap

import pytest
import torch
from torch import nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 20.0
HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = {
    # transformers CLIPVisionEmbeddings: read the conv's dtype, cast the pixels to it, run the conv
    "weight_dtype_then_cast": ("""
        class Embeddings(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.patch_embedding = nn.Conv2d(3, dim, 4, stride=4)

            def forward(self, pixel_values):
                target_dtype = self.patch_embedding.weight.dtype
                patch_embeds = self.patch_embedding(pixel_values.to(dtype=target_dtype))
                return patch_embeds.flatten(2).transpose(1, 2)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.embeddings = Embeddings(dim)
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                return self.fc(self.embeddings(x))
        """, "torch.randn(2, 3, 16, 16)"),
    # transformers ViTModel: the dtype of a member's member, an `if`, a positional cast
    "nested_weight_dtype_cast": ("""
        class Patches(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.projection = nn.Conv2d(3, dim, 4, stride=4)

            def forward(self, x):
                return self.projection(x).flatten(2).transpose(1, 2)


        class Embeddings(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.patch_embeddings = Patches(dim)

            def forward(self, x):
                return self.patch_embeddings(x)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.embeddings = Embeddings(dim)
                self.fc = nn.Linear(dim, dim)

            def forward(self, pixel_values):
                expected_dtype = self.embeddings.patch_embeddings.projection.weight.dtype
                if pixel_values.dtype != expected_dtype:
                    pixel_values = pixel_values.to(expected_dtype)
                return self.fc(self.embeddings(pixel_values))
        """, "torch.randn(2, 3, 16, 16)"),
    # timm edgenext/xcit: `.weight.device` for a factory call, `.weight.shape` and `.bias.size()` as numbers
    "weight_device_and_shape": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(3, dim, 3, padding=1)
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                device = self.conv.weight.device
                n = self.fc.weight.shape[0] + self.fc.bias.size(0) - self.fc.weight.size(1)
                y = self.conv(x.to(device))
                y = torch.flatten(y.mean((2, 3), keepdim=True), 1)[:, :n]
                return self.fc(y.to(device=self.fc.weight.device))
        """, "torch.randn(2, 3, 8, 8)"),
    # transformers SiLUActivation: a module class whose forward only calls a float-only function,
    # built by a lookup table (ACT2FN), so the holder's source shows no type
    "activation_class_float_only_forward": ("""
        class SiLUActivation(nn.Module):
            def forward(self, input):
                return nn.functional.silu(input)


        ACT2CLS = {"silu": SiLUActivation, "relu": nn.ReLU}


        class Net(nn.Module):
            def __init__(self, dim, act="silu"):
                super().__init__()
                self.conv = nn.Conv2d(3, dim, 3, padding=1)
                self.activation = ACT2CLS[act]()
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.out(self.activation(self.conv(x)))
        """, "torch.randn(2, 3, 8, 8)"),
    # timm edgenext/xcit PositionalEncodingFourier: a grid built from shape numbers (no activation in it),
    # projected by a conv whose weight's device and dtype it reads, returned to a caller that adds it
    "positional_encoding_from_factories": ("""
        class PositionalEncodingFourier(nn.Module):
            def __init__(self, hidden_dim=4, dim=8, temperature=10000.0):
                super().__init__()
                self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
                self.scale = 6.283
                self.temperature = temperature
                self.hidden_dim = hidden_dim

            def forward(self, shape):
                device = self.token_projection.weight.device
                dtype = self.token_projection.weight.dtype
                inv_mask = ~torch.zeros(shape).to(device=device, dtype=torch.bool)
                y_embed = inv_mask.cumsum(1, dtype=torch.float32)
                x_embed = inv_mask.cumsum(2, dtype=torch.float32)
                eps = 1e-6
                y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
                x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
                dim_t = torch.arange(self.hidden_dim, dtype=torch.int64, device=device).to(torch.float32)
                dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / self.hidden_dim)
                pos_x = x_embed[:, :, :, None] / dim_t
                pos_y = y_embed[:, :, :, None] / dim_t
                pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
                pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
                pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
                pos = self.token_projection(pos.to(dtype))
                return pos.reshape(shape[0], -1, shape[1] * shape[2])


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.stem = nn.Conv2d(3, dim, 3, padding=1)
                self.pos_embd = PositionalEncodingFourier(dim=dim)
                self.fc = nn.Linear(dim, dim)

            def forward(self, x):
                x = self.stem(x)
                B, C, H, W = x.shape
                x = x.reshape(B, C, H * W) + self.pos_embd((B, H, W))
                return self.fc(x.permute(0, 2, 1))
        """, "torch.randn(2, 3, 8, 8)"),
    # transformers ConvNextLayerNorm: an nn.LayerNorm subclass with its own forward (convert swaps
    # nn.LayerNorm by exact type only), a direct member and an element of an nn.Sequential literal
    "layernorm_subclass_member_and_element": ("""
        class ChannelsFirstLayerNorm(nn.LayerNorm):
            def forward(self, x):
                return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


        class Stage(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.down = nn.Sequential(ChannelsFirstLayerNorm(dim), nn.Conv2d(dim, dim, 2, stride=2))

            def forward(self, x):
                return self.down(x)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.stem = nn.Conv2d(3, dim, 3, padding=1)
                self.norm = ChannelsFirstLayerNorm(dim)
                self.stage = Stage(dim)

            def forward(self, x):
                return self.stage(self.norm(self.stem(x)))
        """, "torch.randn(2, 3, 8, 8)"),
    # timm eva/beit/swinv2 attention: `self.qkv(x)` on one path, `F.linear(x, self.qkv.weight, bias)` on the
    # other; the member stays quantizable, the value read goes through float_parameter() inside an island
    "value_read_of_a_called_member": ("""
        class Attention(nn.Module):
            def __init__(self, dim, separate=False):
                super().__init__()
                self.qkv = nn.Linear(dim, dim * 3, bias=False)
                self.q_bias = nn.Parameter(torch.randn(dim * 3) * 0.1)
                self.separate = separate
                self.proj = nn.Linear(dim * 3, dim)

            def forward(self, x):
                if self.separate:
                    qkv = self.qkv(x)
                else:
                    qkv = F.linear(x, weight=self.qkv.weight, bias=self.q_bias)
                return self.proj(qkv)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.stem = nn.Linear(dim, dim)
                self.attn = Attention(dim)
                self.other = Attention(dim, separate=True)

            def forward(self, x):
                return self.other(self.attn(self.stem(x)))
        """, "torch.randn(2, 5, 8)"),
}


def _source(name: str) -> str:
    body, inputs = CASES[name]
    return HEADER + textwrap.dedent(body).strip() + (f"\n\n\ndef build():\n    return Net(8)\n\n\n"
                                                     f"def example_inputs():\n    return ({inputs},)\n")


def _fixed(text: str) -> str:
    return fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=True).text


def _built(module) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return module.build().eval(), module.example_inputs()[0]


def _calibration(x: torch.Tensor) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn_like(x) for _ in range(4)] + [x]


@pytest.mark.parametrize("name", sorted(CASES))
def test_prepared_model_quantizes(name):
    text = _source(name)
    result = _fixed(text)
    assert "pylint_distiller" not in result
    original = load_module_from_source(text, f"weight_reads_{name}")
    prepared = load_module_from_source(result, f"weight_reads_{name}_fixed")
    reference_model, x = _built(original)
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure of eager PTQ, unprepared
        readme_recipe()(_built(original)[0], _calibration(x))(x)
    model = prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.equal(model(x), reference)
        if hasattr(model, "fuse_model"):
            model.fuse_model()
            assert torch.allclose(model(x), reference, atol=1e-5)
    quantized = readme_recipe()(model, _calibration(x))
    with torch.no_grad():
        out = quantized(x)
    quality = sqnr_db(reference, out)
    print(f"{name}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB
    assert _fixed(result) == result  # idempotent: the helpers are defined once and reused


def test_reads_and_casts_are_rewritten_the_members_stay_quantizable():
    """The conv keeps the default qconfig (it quantizes: no `qconfig = None`), its read and the cast move."""
    result = _fixed(_source("weight_dtype_then_cast"))
    assert result.count("def float_parameter(") == 1 and result.count("def cast_unless_quantized(") == 1
    assert 'target_dtype = float_parameter(self.patch_embedding, "weight").dtype' in result
    assert "self.patch_embedding(cast_unless_quantized(pixel_values, dtype=target_dtype))" in result
    assert "qconfig" not in result
    prepared = load_module_from_source(result, "weight_reads_quantized_conv")
    model, x = _built(prepared)
    quantized = readme_recipe()(model, _calibration(x))
    kinds = {type(m).__module__ for m in quantized.modules()}
    assert "torch.ao.nn.quantized.modules.conv" in kinds  # the patch conv is a quantized conv


def test_helpers_answer_as_the_float_weight_did():
    """`float_parameter` is the attribute itself in float, the dequantized weight after convert;
    `cast_unless_quantized` is `.to()` except on a quantized tensor."""
    helpers = load_module_from_source(_fixed(_source("weight_dtype_then_cast")), "weight_reads_helpers")
    conv = nn.Conv2d(3, 4, 3)
    assert helpers.float_parameter(conv, "weight") is conv.weight
    assert helpers.float_parameter(nn.Conv2d(3, 4, 3, bias=False), "bias") is None
    quantized = torch.ao.nn.quantized.Conv2d(3, 4, 3)
    weight = helpers.float_parameter(quantized, "weight")
    assert (weight.dtype, weight.shape, weight.device) == (torch.float32, conv.weight.shape, conv.weight.device)
    x = torch.randn(2, 3)
    assert helpers.cast_unless_quantized(x, torch.float64).dtype == torch.float64
    qx = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)
    with pytest.raises(RuntimeError):
        qx.to(dtype=torch.float32)
    assert helpers.cast_unless_quantized(qx, dtype=torch.float32) is qx


def test_a_name_the_file_binds_otherwise_gets_no_fix():
    text = _source("weight_device_and_shape").replace("import torch.nn.functional as F\n",
                                                      "import torch.nn.functional as F\nfloat_parameter = None\n")
    found = fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=True)
    reads = [f for f in found.remaining if f.symbol == "unquantizable-module" and "forward reads" in f.message]
    assert reads and all(f.fix is None or not f.fix.applies for f in reads)
    assert "binds float_parameter to something else" in reads[0].message
    assert "float_parameter(self." not in found.text


def test_factory_built_tensors_stay_plain_and_the_returned_projection_quantizes():
    """No FloatFunctional or island on the grid arithmetic (float after convert too); the projection
    gets a QuantStub on its input, so the caller's add meets a quantized activation."""
    result = _fixed(_source("positional_encoding_from_factories"))
    assert "self.token_projection(self.token_projection_quant(" in result
    assert "token_projection.qconfig" not in result
    grid = result.split("    def forward(self, shape):", 1)[1].split("pos = self.token_projection(", 1)[0]
    assert "self." not in grid.replace('float_parameter(self.token_projection, "weight")', "").replace(
        "self.scale", "").replace("self.temperature", "").replace("self.hidden_dim", "")
    assert "self.token_projection(self.token_projection_quant(pos.to(dtype)))" in result
    assert "self.add.add(x.reshape(B, C, H * W), self.pos_embd((B, H, W)))" in result


def test_value_reads_keep_their_qconfig_finding():
    """`F.linear(x, self.fc.weight)` reads values, not metadata: no helper, `qconfig = None` as before."""
    text = HEADER + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return F.linear(x, self.fc.weight)
        """)
    result = _fixed(text)
    assert "self.fc.qconfig = None" in result and "float_parameter" not in result


def test_clip_vision_real_code_quantizes():
    """transformers CLIPVisionModel (tiny config), its files rewritten beside the installed package."""
    transformers = pytest.importorskip("transformers")
    from tests.support.realcode import Case, check_fixed_model, substituted  # pylint: disable=C0415

    from tests.support.realcode import fixed, model_files, source_of  # pylint: disable=C0415

    def build():
        config = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                               num_attention_heads=2, image_size=32, patch_size=8)
        config._attn_implementation = "eager"  # pylint: disable=protected-access
        return transformers.models.clip.modeling_clip.CLIPVisionModel(config)

    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    case = Case(build, lambda: (pixels,), ("transformers.models.", "transformers.activations"))
    folder = tempfile.mkdtemp(prefix="pylint-distiller-clip-")
    try:
        outcome = check_fixed_model(case, "torch-eager", True, folder)
        assert outcome.ok, outcome.failures
        files = model_files(build(), case.roots)
        texts = {n: fixed(source_of(n)[1], source_of(n)[0], "torch-eager", True).text for n in files}
        assert any("float_parameter(self.patch_embedding" in t for t in texts.values())
        with substituted(texts, folder, case.roots):
            torch.manual_seed(0)
            model = build().eval()

            class Pooled(nn.Module):  # the README recipe wants one tensor out
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, x):
                    return self.inner(x).pooler_output

            with torch.no_grad():
                reference = model(pixels).pooler_output
            quantized = readme_recipe()(Pooled(model), [torch.randn_like(pixels) for _ in range(3)] + [pixels])
            with torch.no_grad():
                quality = sqnr_db(reference, quantized(pixels))
        print(f"CLIPVisionModel: SQNR {quality:.1f} dB")
        assert quality > 10.0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
