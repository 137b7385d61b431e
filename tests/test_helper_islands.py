"""Helpers run in float at each of their calls, and the other last PTQ stoppers of the sweep, executed.

`analysis/helper_islands.py`: a helper holding no module, called at several places, whose ops
cannot run on quantized tensors (transformers Swin's `cyclic_shift` with `torch.roll`, timm
efficientvit's `_attn` with its `.float()` casts in two exclusive branches, coat's `insert_cls`
meeting a class token, mvitv2's `cal_rel_pos_type` with `einsum` and an in-place write) gets an
island at each call. Also: a loop-carried number operand (`ctx_all = 0`, then `ctx_all = ctx_all
+ ...` in the loop: focalnet), a method called from non-forward code too (volo's
`forward_tokens`, also called by `forward_train`).

For every case: eager PTQ fails as written; after ``fix --target torch-eager`` the model loads
the original state_dict strictly, gives the same float outputs before and after `fuse_model()`
(eval), runs the README recipe with a sane SQNR, and a second fix adds nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.api import analyze_source
from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 15.0
HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = {
    # transformers SwinLayer: one method around torch.roll, called twice (once with reverse=True)
    "method_called_twice_with_roll": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.shift_size = 1
                self.fc1 = nn.Linear(dim, dim)
                self.fc2 = nn.Linear(dim, dim)

            def cyclic_shift(self, x, reverse: bool = False):
                if self.shift_size > 0:
                    direction = 1 if reverse else -1
                    x = torch.roll(x, shifts=(direction * self.shift_size,), dims=(1,))
                return x

            def forward(self, x):
                y = self.fc1(self.cyclic_shift(x))
                return self.fc2(self.cyclic_shift(y, reverse=True))
        """, "torch.randn(2, 8, 4)"),
    # timm efficientvit LiteMLA: explicit float math, called in two exclusive branches
    "float_cast_helper_in_exclusive_branches": ("""
        class Net(nn.Module):
            def __init__(self, dim, eps=1e-4):
                super().__init__()
                self.eps = eps
                self.qkv = nn.Linear(dim, 3 * dim)
                self.proj = nn.Linear(dim, dim)

            def _attn(self, q, k, v):
                dtype = v.dtype
                q, k, v = q.float(), k.float(), v.float()
                kv = k.transpose(-1, -2) @ v
                out = q @ kv
                out = out[..., :-1] / (out[..., -1:] + self.eps)
                return out.to(dtype)

            def forward(self, x):
                q, k, v = self.qkv(x).chunk(3, dim=-1)
                q, k = F.relu(q), F.relu(k)
                v = F.pad(v, (0, 1), mode="constant", value=1.0)
                if not torch.jit.is_scripting():
                    with torch.autocast(device_type="cpu", enabled=False):
                        out = self._attn(q, k, v)
                else:
                    out = self._attn(q, k, v)
                return self.proj(out)
        """, "torch.randn(2, 8, 4)"),
    # timm coat: a module-level helper meets a class token at four calls
    "function_meets_class_tokens_at_several_calls": ("""
        def insert_cls(x, cls_token):
            cls_tokens = cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat((cls_tokens, x), dim=1)
            return x


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc1 = nn.Linear(dim, dim)
                self.fc2 = nn.Linear(dim, dim)
                self.cls_token1 = nn.Parameter(torch.randn(1, 1, dim))
                self.cls_token2 = nn.Parameter(torch.randn(1, 1, dim))

            def forward_features(self, x):
                x1 = insert_cls(self.fc1(x), self.cls_token1)
                x2 = insert_cls(self.fc2(x), self.cls_token2)
                return torch.cat((x1, x2), dim=1)

            def forward(self, x):
                if getattr(self, "return_interm_layers", False):
                    return self.forward_features(x)
                else:
                    return self.forward_features(x).mean(1)
        """, "torch.randn(2, 8, 4)"),
    # timm mvitv2: einsum with float parameters, the helper writes into its argument and returns it
    "function_writing_its_argument_from_two_classes": ("""
        def add_rel(attn, q, rel):
            r = torch.einsum("bnc,kc->bnk", q, rel)
            attn[:, 1:] = attn[:, 1:] + r[:, 1:]
            return attn


        class Attn(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.q = nn.Linear(dim, dim)
                self.rel = nn.Parameter(torch.randn(8, dim))

            def forward(self, x):
                q = self.q(x)
                attn = q @ q.transpose(-2, -1)
                attn = add_rel(attn, q, self.rel)
                return attn


        class PooledAttn(Attn):
            def forward(self, x):
                q = self.q(x)
                attn = q @ q.transpose(-2, -1)
                attn = add_rel(attn, q, self.rel)
                return attn.mean(1, keepdim=True) + attn


        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.a = Attn(dim)
                self.b = PooledAttn(dim)

            def forward(self, x):
                return self.b(self.a(x)[..., :4])
        """, "torch.randn(2, 8, 4)"),
    # timm focalnet: an accumulator that is a number on the first loop turn only
    "loop_carried_number": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(3)])

            def forward(self, x):
                acc = 0
                for layer in self.layers:
                    x = layer(x)
                    acc = acc + x * x
                return acc
        """, "torch.randn(2, 8, 4)"),
    # timm volo: the loop method is also called by forward_train, which forward never runs
    "loop_in_method_also_called_outside_forward": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.network = nn.ModuleList([nn.Linear(dim, dim) for _ in range(3)])
                self.pos_embed = nn.Parameter(torch.randn(1, 8, dim))

            def forward_tokens(self, x):
                for idx, block in enumerate(self.network):
                    if idx == 1:
                        x = x + self.pos_embed
                    x = block(x)
                return x

            def forward_train(self, x):
                return self.forward_tokens(x)

            def forward(self, x):
                return self.forward_tokens(x)
        """, "torch.randn(2, 8, 4)"),
    # timm efficientvim: float weights times each head's output, over a container a method rebuilds
    "island_op_in_a_loop_without_a_static_trip_count": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.weights = nn.Parameter(torch.rand(2) + 0.5)
                self.heads = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])

            def reset_classifier(self, dim, n):
                self.heads = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n)])

            def forward(self, x):
                weights = self.weights.softmax(-1)
                logits = [weights[i] * head(x) for i, head in enumerate(self.heads)]
                return torch.stack(logits).mean(0)
        """, "torch.randn(2, 8, 4)"),
    # timm convmixer: a depthwise "same" conv whose kernel size is an __init__ argument
    "same_padding_conv": ("""
        class Net(nn.Module):
            def __init__(self, dim, kernel_size=5, device=None):
                super().__init__()
                dd = {"device": device}
                self.dw = nn.Conv2d(dim, dim, kernel_size, groups=dim, padding="same", **dd)
                self.pw = nn.Conv2d(dim, dim, 3, padding="same")
                self.wide = nn.Conv2d(dim, dim, (3, 5), dilation=(2, 1), padding="same")

            def forward(self, x):
                return self.wide(self.pw(self.dw(x)))
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
def test_the_prepared_model_quantizes(name):
    text = _source(name)
    result = _fixed(text)
    original = load_module_from_source(text, f"helper_island_{name}")
    prepared = load_module_from_source(result, f"helper_island_{name}_fixed")
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


def test_each_call_gets_its_own_stubs_and_constant_arguments_pass():
    result = _fixed(_source("method_called_twice_with_roll"))
    assert "self.cyclic_shift_quant(self.cyclic_shift(self.cyclic_shift_dequant(x)))" in result
    assert "self.cyclic_shift_quant_2(self.cyclic_shift(self.cyclic_shift_dequant_2(y), reverse=True))" in result
    assert "torch.roll(x," in result  # the helper's body is kept as it is


def test_a_float_parameter_argument_is_not_dequantized():
    result = _fixed(_source("function_meets_class_tokens_at_several_calls"))
    assert "self.insert_cls_quant(insert_cls(self.insert_cls_dequant(self.fc1(x)), self.cls_token1))" in result


def test_a_written_argument_not_stored_back_gets_no_call_site_islands():
    """`add_rel(attn, ...)` without `attn = ...`: after convert the write would reach a dequantized copy.
    One call that cannot take its island leaves every call to the other rules: its ops keep their findings."""
    text = _source("function_writing_its_argument_from_two_classes").replace(
        "attn = add_rel(attn, q, self.rel)\n", "add_rel(attn, q, self.rel)\n", 1)
    findings = analyze_source(text, "model.py", Settings(target="torch-eager"))
    assert not [f for f in findings if f.message.startswith("add_rel() runs")]
    assert any(f.op == "torch.einsum" for f in findings)


def test_a_helper_calling_a_module_gets_no_call_site_island():
    """A module inside the helper would get float input after convert: no island around its calls."""
    text = HEADER + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def shift(self, x):
                return self.fc(torch.roll(x, 1, 1))

            def forward(self, x):
                return self.shift(self.shift(x))
        """)
    assert "shift_quant" not in _fixed(text)


def test_same_padding_becomes_explicit_only_where_it_is_equal():
    result = _fixed(_source("same_padding_conv"))
    assert "padding=explicit_same_padding(kernel_size, 1, 2), **dd)" in result
    assert "nn.Conv2d(dim, dim, 3, padding=1)" in result
    assert "nn.Conv2d(dim, dim, (3, 5), dilation=(2, 1), padding=(2, 2))" in result
    even = HEADER + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.conv = nn.Conv2d(dim, dim, 4, padding="same")

            def forward(self, x):
                return self.conv(x)
        """)
    assert _fixed(even) == even  # torch pads an odd total one more on the right: no symmetric padding is equal
    findings = analyze_source(even, "model.py", Settings(target="torch-eager"))
    assert [f.fix for f in findings if "padding=\"same\"" in f.message] == [None]


def test_the_generated_padding_keeps_same_where_the_total_is_odd():
    namespace: dict = {}
    exec("\n".join(__import__("pylint_distiller.analysis.same_padding", fromlist=["LINES"]).LINES), namespace)
    pick = namespace["explicit_same_padding"]
    assert pick(5, 1, 2) == (2, 2) and pick((3, 5), (2, 1), 2) == (2, 2) and pick(4, 2, 1) == (3,)
    assert pick(4, 1, 2) == "same" and pick((3, 4), 1, 2) == "same"
    for kernel, dilation in ((5, 1), (3, 2), (4, 2), ((3, 5), (1, 3))):
        same = torch.nn.Conv2d(2, 2, kernel, dilation=dilation, padding="same")
        explicit = torch.nn.Conv2d(2, 2, kernel, dilation=dilation, padding=pick(kernel, dilation, 2))
        explicit.load_state_dict(same.state_dict(), strict=True)
        x = torch.randn(1, 2, 9, 7)
        assert torch.equal(same(x), explicit(x))


def test_a_call_that_also_runs_an_override_gets_no_island():
    """A subclass's override calls a module: that call would hand the module float input after convert."""
    text = HEADER + textwrap.dedent("""
        class Base(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.fc = nn.Linear(dim, dim)

            def shift(self, x):
                return torch.roll(x, 1, 1)

            def forward(self, x):
                return self.fc(self.shift(self.shift(x)))


        class Sub(Base):
            def shift(self, x):
                return self.fc(x)
        """)
    assert "shift_quant" not in _fixed(text)
