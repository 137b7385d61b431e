"""Float islands and the other torch-eager preparations, executed (tests/fixtures/fix/... goldens show the text).

For every case: the model fails eager post-training static quantization as written
(QuantStub/DeQuantStub around it, x86 qconfig, prepare, calibrate, convert, run);
after ``fix --target torch-eager`` it loads the original state_dict strictly, gives
the same float outputs (eval and train), goes through eager PTQ, and its quantized
output is close to the float one (SQNR printed with ``-s``). A second fix adds nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.ao.quantization as tq
import torch.nn as nn

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import eager_ptq
from tests.support.runtime_equivalence import assert_same_model, load_module_from_source

MIN_SQNR_DB = 15.0


def _model(body: str, inputs: str = "torch.randn(2, 4, 8, 8)") -> str:
    return textwrap.dedent(body).strip() + f"\n\n\ndef build():\n    return Net(4)\n\n\ndef example_inputs():\n" \
                                           f"    return ({inputs},)\n"


HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = {
    "silu_module": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.out = nn.Conv2d(dim, dim, 1)
                self.act = nn.SiLU()

            def forward(self, x):
                return self.out(self.act(self.conv(x)))
        """,
    "functional_silu_and_softmax": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)

            def forward(self, x):
                x = F.silu(self.conv(x))
                return x.softmax(dim=-1)
        """,
    "mish_hardswish_functional": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.mish = nn.Mish()

            def forward(self, x):
                return F.hardswish(self.mish(self.conv(x)))
        """,
    "ops_without_modules": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.a = nn.Conv2d(dim, dim, 3, padding=1)
                self.b = nn.Conv2d(dim, dim, 1)
                self.c = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                a, b = self.a(x), self.b(x)
                d = a - b
                e = d / 4.0
                s = torch.sum(e * e, dim=1, keepdim=True)
                return self.c(e) + s.exp() - 1.0
        """,
    "layer_norm_functional": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.out = nn.Linear(8, 8)
                self.weight = nn.Parameter(torch.rand(8))
                self.bias = nn.Parameter(torch.zeros(8))

            def forward(self, x):
                return self.out(F.layer_norm(self.fc(x), (8,), self.weight, self.bias))
        """,
    "prelu": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.out = nn.Conv2d(dim, dim, 1)
                self.act = nn.PReLU(dim)

            def forward(self, x):
                return self.out(self.act(self.conv(x)))
        """,
    "conv_transpose": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.up = nn.ConvTranspose2d(dim, dim, 2, stride=2)
                self.head = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(dim, dim, 2, stride=2))

            def forward(self, x):
                return self.head(self.up(self.conv(x)))
        """,
    # timm lowformer: the ConvTranspose2d's arguments depend on a condition, one type on every path
    "conv_transpose_on_every_path": """
        class Net(nn.Module):
            def __init__(self, dim, stride=2):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                if stride == 1:
                    self.up = nn.ConvTranspose2d(dim, dim, 3, stride=1, padding=1)
                else:
                    self.up = nn.ConvTranspose2d(dim, dim, stride * 2, stride=stride, padding=stride // 2)

            def forward(self, x):
                return self.up(self.conv(x))
        """,
    "float_parameter_operands": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.proj = nn.Linear(8, 8)
                self.mlp = nn.Linear(8, 8)
                self.head = nn.Linear(8, 8)
                self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
                self.pos_embed = nn.Parameter(torch.randn(1, 33, 8) * 0.1)
                self.gamma = nn.Parameter(torch.full((8,), 0.5))

            def forward(self, x):
                x = self.proj(x.flatten(1, 2))
                x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
                x = x + self.pos_embed
                return self.head(self.gamma * self.mlp(x))
        """,
    "batchnorm_subclass_with_its_own_forward": """
        class BatchNormAct2d(nn.BatchNorm2d):
            def __init__(self, num_features):
                super().__init__(num_features)
                self.act = nn.ReLU()

            def forward(self, x):
                x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                 self.eps)
                return self.act(x)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.out = nn.Conv2d(dim, dim, 1)
                self.bn = BatchNormAct2d(dim)

            def forward(self, x):
                return self.out(self.bn(self.conv(x)))
        """,
    "conv_subclass_same_padding": """
        class Conv2dSame(nn.Conv2d):
            def forward(self, x):
                x = F.pad(x, (1, 1, 1, 1))
                return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = Conv2dSame(dim, dim, 3)
                self.pw = nn.Conv2d(dim, dim, 1)
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.out(self.conv(self.pw(x)))
        """,
    "weight_read_in_forward": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.out = nn.Linear(8, 8)
                self.qkv = nn.Linear(8, 8)

            def forward(self, x):
                x = self.fc(x)
                return self.out(F.linear(x, self.qkv.weight, self.qkv.bias))
        """,
    "module_level_helper": """
        def swish(x):
            return x * x.sigmoid()


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.out(swish(self.conv(x)))
        """,
    "leaf_module_rmsnorm": """
        class RMSNorm(nn.Module):
            def __init__(self, dim, eps=1e-6):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(dim))
                self.eps = eps

            def forward(self, x):
                variance = x.pow(2).mean(-1, keepdim=True)
                return self.weight * (x * torch.rsqrt(variance + self.eps))


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.out = nn.Linear(8, 8)
                self.norm = RMSNorm(8)

            def forward(self, x):
                return self.out(self.norm(self.fc(x)))
        """,
    "batchnorm1d_after_a_nonlinearity": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.act = nn.ReLU()
                self.bn = nn.BatchNorm1d(5)  # not fusable here: eager has no quantized BatchNorm1d
                self.out = nn.Linear(8, 8)

            def forward(self, x):
                return self.out(self.bn(self.act(self.fc(x))))
        """,
    "view_after_conv": """
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.fc = nn.Linear(dim * 64, 10)

            def forward(self, x):
                x = self.conv(x)
                x = x.view(x.size(0), -1)
                return self.fc(x)
        """,
    "cls_token_in_a_list_and_pos_embed_on_two_paths": """
        class Net(nn.Module):
            def __init__(self, dim, dynamic=False):
                super().__init__()
                self.proj = nn.Conv2d(dim, 8, 4, 4)
                self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
                self.pos_embed = nn.Parameter(torch.randn(1, 5, 8))
                self.dynamic = dynamic
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                x = self.proj(x).flatten(2).transpose(1, 2)
                to_cat = []
                if self.cls_token is not None:
                    to_cat.append(self.cls_token.expand(x.shape[0], -1, -1))
                if self.dynamic:
                    pos_embed = self.pos_embed.clone()
                else:
                    pos_embed = self.pos_embed
                if to_cat:
                    x = torch.cat(to_cat + [x], dim=1)
                x = x + pos_embed
                return self.fc(x)
        """,
    "batchnorm_subclass_with_comments_between_arguments": """
        class BatchNormAct2d(nn.BatchNorm2d):
            def __init__(self, num_features, eps=1e-5, momentum=0.1):
                super().__init__(num_features, eps=eps, momentum=momentum)
                self.act = nn.ReLU()

            def forward(self, x):
                if self.training:
                    bn_training = True
                else:
                    bn_training = (self.running_mean is None) and (self.running_var is None)
                x = F.batch_norm(
                    x,
                    # If buffers are not to be tracked, ensure that they won't be updated
                    self.running_mean if not self.training or self.track_running_stats else None,
                    self.running_var if not self.training or self.track_running_stats else None,
                    self.weight,
                    self.bias,
                    bn_training,
                    self.momentum,
                    self.eps,
                )
                x = self.act(x)
                return x


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.bn = BatchNormAct2d(dim)
                self.out = nn.Conv2d(dim, dim, 1)

            def forward(self, x):
                return self.out(self.bn(self.conv(x)))
        """,
    "layer_norm_subclass_with_a_fast_path_in_the_other_branch": """
        from timm.layers.fast_norm import fast_layer_norm  # another file: its result is of unknown kind here


        class LayerNorm(nn.LayerNorm):
            def __init__(self, num_channels, eps=1e-6):
                super().__init__(num_channels, eps=eps)
                self._fast_norm = False

            def forward(self, x):
                if self._fast_norm:
                    x = fast_layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
                else:  # x is still the activation here: the if branch's rebinding did not run
                    x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
                return x


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.norm = LayerNorm(8)
                self.out = nn.Linear(8, 8)

            def forward(self, x):
                return self.out(self.norm(self.fc(x)))
        """,
    "module_fed_a_buffer_continuous_position_bias": """
        import math


        class Net(nn.Module):  # timm / torchvision SwinV2 attention: an MLP over a coordinates buffer
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(8, 24)
                self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((2, 1, 1))))
                self.cpb_mlp = nn.Sequential(nn.Linear(2, 16), nn.ReLU(inplace=True), nn.Linear(16, 2, bias=False))
                self.register_buffer("coords_table", torch.randn(5, 5, 2))
                self.proj = nn.Linear(8, 8)

            def forward(self, x):
                b, n, c = x.shape
                q, k, v = self.qkv(x).reshape(b, n, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
                attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
                logit_scale = torch.clamp(self.logit_scale, max=math.log(1. / 0.01)).exp()
                attn = attn * logit_scale
                bias = self.cpb_mlp(self.coords_table).view(-1, 2)
                bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous()
                bias = 16 * torch.sigmoid(bias)
                attn = attn + bias.unsqueeze(0)
                attn = attn.softmax(dim=-1)
                return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))
        """,
    "unfold_module": """
        class Net(nn.Module):  # timm tnt / volo: patches cut by nn.Unfold (no quantized im2col)
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 3, padding=1)
                self.unfold = nn.Unfold(kernel_size=2, stride=2)
                self.fc = nn.Linear(dim * 4, 8)

            def forward(self, x):
                x = self.unfold(self.conv(x))
                return self.fc(x.transpose(1, 2))
        """,
}

INPUTS = {"module_fed_a_buffer_continuous_position_bias": "torch.randn(2, 5, 8)", "layer_norm_functional": "torch.randn(2, 5, 8)",
          "layer_norm_subclass_with_a_fast_path_in_the_other_branch": "torch.randn(2, 5, 8)", "batchnorm1d_after_a_nonlinearity": "torch.randn(2, 5, 8)",
          "leaf_module_rmsnorm": "torch.randn(2, 5, 8)", "weight_read_in_forward": "torch.randn(2, 5, 8)"}


def _source(name: str) -> str:
    return HEADER + _model(CASES[name], INPUTS.get(name, "torch.randn(2, 4, 8, 8)"))


def sqnr(reference: torch.Tensor, out: torch.Tensor) -> float:
    return (20 * torch.log10(reference.norm() / (reference - out).norm())).item()


def quantized_output(module, x: torch.Tensor):
    torch.manual_seed(0)
    model = module.build().eval()
    with torch.no_grad():
        reference = model(x)
    torch.manual_seed(1)
    calibration = [torch.randn_like(x) for _ in range(4)] + [x]
    quantized = eager_ptq(model, calibration)
    with torch.no_grad():
        return reference, quantized(x)


def fixed(text: str, name: str) -> str:
    return fix_source(text, f"{name}.py", Settings(target="torch-eager"), unsafe=True).text


@pytest.mark.parametrize("name", sorted(CASES))
def test_prepared_model_goes_through_eager_ptq(name):
    text = _source(name)
    result = fixed(text, name)
    assert result != text
    original = load_module_from_source(text, f"island_{name}")
    prepared = load_module_from_source(result, f"island_{name}_fixed")
    assert_same_model(original, prepared, modes=("eval", "train"))
    (x,) = original.example_inputs()
    with pytest.raises(Exception):  # noqa: B017 - any failure of the unprepared model
        quantized_output(original, x)
    reference, out = quantized_output(prepared, x)
    assert out.shape == reference.shape and not out.is_quantized
    quality = sqnr(reference, out)
    print(f"{name}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB
    assert fixed(result, name) == result  # a second fix adds no second island


def test_islands_keep_the_state_dict_and_hold_one_stub_pair_per_call_site():
    text = _source("ops_without_modules")
    prepared = load_module_from_source(fixed(text, "pairs"), "island_pairs_fixed").build()
    stubs = sorted(n for n, m in prepared.named_modules() if isinstance(m, (tq.QuantStub, tq.DeQuantStub)))
    assert "sub_dequant" in stubs and "sub_dequant_2" in stubs and "sub_quant" in stubs
    assert all(not list(prepared.get_submodule(n).parameters()) and not list(prepared.get_submodule(n).buffers())
               for n in stubs)
    quants = [n for n in stubs if n.endswith("_quant") or n[-2:].isdigit() and "_quant_" in n]
    assert len(quants) == len(set(quants))


def test_conv_transpose_keeps_its_own_qconfig_through_prepare():
    """propagate_qconfig_ keeps a child's own qconfig over its parent's: the per-tensor weight
    observer set in __init__ is the one convert uses."""
    prepared = load_module_from_source(fixed(_source("conv_transpose"), "ct"), "island_ct_fixed")
    model = prepared.build().eval()
    wrapped = nn.Sequential(tq.QuantStub(), model, tq.DeQuantStub())
    wrapped.qconfig = tq.get_default_qconfig("x86")
    tq.prepare(wrapped, inplace=True)
    assert model.up.qconfig.weight().qscheme == torch.per_tensor_symmetric
    assert model.conv.qconfig.weight().qscheme == torch.per_channel_symmetric


@pytest.mark.parametrize("kind", ["lstm", "multihead_attention"])
def test_lstm_and_multihead_attention_go_through_eager_ptq_unchanged(kind):
    """torch-eager leaves them in the source: eager prepare's default custom module config
    swaps them for torch.ao.nn.quantizable.* and convert for their quantized forms."""
    layer = ("nn.LSTM(8, 16, 1)", "self.layer(x)[0]") if kind == "lstm" else \
        ("nn.MultiheadAttention(8, 2)", "self.layer(x, x, x, need_weights=False)[0]")
    text = HEADER + textwrap.dedent(f"""\
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.layer = {layer[0]}
                self.fc = nn.Linear(16 if {kind == 'lstm'} else 8, 4)

            def forward(self, x):
                return self.fc({layer[1]})


        def build():
            return Net(4)


        def example_inputs():
            return (torch.randn(5, 2, 8),)
        """)
    assert fixed(text, kind) == text
    module = load_module_from_source(text, f"island_{kind}")
    (x,) = module.example_inputs()
    reference, out = quantized_output(module, x)
    quality = sqnr(reference, out)
    print(f"{kind}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB


@pytest.mark.parametrize("name", ["float_islands", "eager_qconfigs"])
def test_golden_fixtures_go_through_eager_ptq(name):
    """The torch-eager goldens of tests/fixtures/fix (reviewed text) quantize; their inputs do not."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent / "fixtures" / "fix"
    text = (fixtures / "inputs" / f"{name}.in.py").read_text(encoding="utf-8")
    golden = (fixtures / "torch-eager" / f"{name}.out.py").read_text(encoding="utf-8")
    assert fixed(text, name) == golden
    original = load_module_from_source(text, f"golden_{name}")
    prepared = load_module_from_source(golden, f"golden_{name}_fixed")
    assert_same_model(original, prepared, modes=("eval", "train"))
    (x,) = original.example_inputs()
    with pytest.raises(Exception):  # noqa: B017 - any failure of the unprepared model
        quantized_output(original, x)
    reference, out = quantized_output(prepared, x)
    quality = sqnr(reference, out)
    print(f"{name}: SQNR {quality:.1f} dB")
    assert quality > MIN_SQNR_DB


ACTIVATION_LIST = HEADER + _model("""
    class Net(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.a = nn.Conv2d(dim, dim, 1)
            self.b = nn.Conv2d(dim, dim, 1)
            self.pos = nn.Parameter(torch.randn(1, dim, 8, 8))

        def forward(self, x):
            parts = []
            parts.append(self.a(x))
            if self.training:
                pos = x
            else:
                pos = self.pos
            y = self.b(x)
            z = y + pos
            return torch.cat(parts + [z], dim=1)
    """)


def test_a_list_or_local_an_activation_may_reach_is_not_taken_for_a_parameter():
    result = fixed(ACTIVATION_LIST, "activation_list")
    assert "cat_dequant" not in result  # `parts` holds activations: no island, they stay quantized
    # `pos` is the parameter only on one path: the island dequantizes it too (a no-op on a float tensor)
    assert "self.add_quant(self.add_dequant(y) + self.add_dequant_2(pos))" in result
    original = load_module_from_source(ACTIVATION_LIST, "island_activation_list")
    prepared = load_module_from_source(result, "island_activation_list_fixed")
    assert_same_model(original, prepared, modes=("eval", "train"))
    (x,) = original.example_inputs()
    torch.manual_seed(0)
    model = prepared.build().eval()
    with torch.no_grad():
        reference = model(x)
    quantized = eager_ptq(model, [torch.randn_like(x) for _ in range(4)] + [x])
    with torch.no_grad():
        out = quantized(x)
    assert sqnr(reference, out) > MIN_SQNR_DB
    assert fixed(result, "activation_list") == result
