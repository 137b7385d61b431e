"""An activation's `.dtype` used to build a tensor that is never quantized (`analysis/activation_dtypes.py`), executed.

transformers' Swin builds its attention mask with `.to(dtype)`, `dtype=hidden_states.dtype`
passed to a method; causal masks take `torch.finfo(x.dtype).min`. After eager convert the
activation's dtype is torch.quint8, which no tensor built from numbers can take, so eager PTQ
stops. For every case: the model fails the README recipe as written; after ``fix --target
torch-eager`` it loads the original state_dict strictly, gives the same float outputs before and
after `fuse_model()` (eval), runs the README recipe with a sane SQNR, and a second fix adds nothing.
A read whose use may cast a quantized tensor keeps its dtype: there `.to(torch.quint8)` is a no-op
and `.to(torch.float32)` would raise.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

MIN_SQNR_DB = 15.0
HEADER = "import torch\nimport torch.nn as nn\n\n\n"

CASES = {
    # transformers SwinLayer.get_attn_mask: the dtype passed to a method, a cast of numbers to it
    "mask_built_in_a_method": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim)
                self.out = nn.Linear(dim, dim)
                self.shift = 2

            def get_attn_mask(self, length, dtype, device):
                idx = torch.arange(length, device=device)
                region = (idx >= length - self.shift).long()
                mask = (region[None, :] * 3 + region[:, None]).to(dtype)
                return mask.masked_fill(mask != 0, -100.0)

            def forward(self, x):
                h = self.qkv(x)
                mask = self.get_attn_mask(h.shape[1], dtype=h.dtype, device=h.device)
                scores = torch.matmul(h, h.transpose(-1, -2)).masked_fill(mask != 0, -10.0)
                return self.out(torch.matmul(scores.softmax(dim=-1), h))
        """, "torch.randn(2, 6, 8)"),
    # a causal mask: the dtype through a local, torch.finfo and a factory's dtype= (quantized
    # scores take masked_fill; a float mask added to them would need an island of its own)
    "causal_mask_through_a_local": ("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim)
                self.out = nn.Linear(dim, dim)

            def forward(self, x):
                h = self.qkv(x)
                n = h.shape[1]
                dtype = h.dtype
                causal = torch.full((n, n), torch.finfo(dtype).min, dtype=dtype).triu(1)
                scores = torch.matmul(h, h.transpose(-1, -2)).masked_fill(causal < 0, -10.0)
                return self.out(torch.matmul(scores.softmax(dim=-1), h))
        """, "torch.randn(2, 6, 8)"),
}


def _source(name: str) -> str:
    body, inputs = CASES[name]
    return HEADER + textwrap.dedent(body).strip() + (f"\n\n\ndef build():\n    return Net(8)\n\n\n"
                                                     f"def example_inputs():\n    return ({inputs},)\n")


def _fixed(text: str) -> str:
    return fix_source(text, "model.py", Settings(target="torch-eager"), unsafe=True).text


def _built(module):
    torch.manual_seed(0)
    return module.build().eval(), module.example_inputs()[0]


def _calibration(x: torch.Tensor) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randn_like(x) for _ in range(4)] + [x]


@pytest.mark.parametrize("name", sorted(CASES))
def test_prepared_model_quantizes(name):
    text = _source(name)
    result = _fixed(text)
    assert result.count("def float_dtype(") == 1 and "float_dtype(h)" in result
    original = load_module_from_source(text, f"activation_dtypes_{name}")
    prepared = load_module_from_source(result, f"activation_dtypes_{name}_fixed")
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
    assert _fixed(result) == result  # idempotent: the helper is defined once and reused


def test_helper_is_the_dtype_in_float_and_float32_for_a_quantized_tensor():
    helpers = load_module_from_source(_fixed(_source("causal_mask_through_a_local")), "activation_dtypes_helper")
    assert helpers.float_dtype(torch.zeros(2, dtype=torch.float64)) is torch.float64
    quantized = torch.quantize_per_tensor(torch.randn(3), 0.1, 128, torch.quint8)
    assert helpers.float_dtype(quantized) is torch.float32


@pytest.mark.parametrize("forward", [
    # the cast of an activation to another activation's dtype: a no-op after convert, kept
    "h = self.qkv(x)\n        return self.out(x.to(h.dtype) + h)",
    # the method casts its tensor argument, which may be quantized: kept
    "h = self.qkv(x)\n        return self.out(self.cast(x, h.dtype))",
    # torch.empty takes a quantized dtype: kept
    "h = self.qkv(x)\n        return self.out(h) + torch.empty(h.shape, dtype=h.dtype).zero_()",
    # a closure reads the local too, and casts a tensor that may be quantized: kept
    "h = self.qkv(x)\n        dtype = h.dtype\n        cast = lambda t: t.to(dtype)\n"
    "        return self.out(cast(x) + torch.zeros(2, dtype=dtype))",
    # the read goes somewhere else too (another class's method): kept
    "h = self.qkv(x)\n        dtype = h.dtype\n        self.log(dtype)\n        return self.out(torch.zeros(2, dtype=dtype) + h)",
])
def test_reads_that_may_cast_a_quantized_tensor_keep_their_dtype(forward):
    text = HEADER + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.qkv = nn.Linear(dim, dim)
                self.out = nn.Linear(dim, dim)

            def cast(self, t, dtype):
                return t.to(dtype)

            def log(self, value):
                self.last = value

            def forward(self, x):
                FORWARD
        """).replace("FORWARD", forward)
    assert "float_dtype" not in _fixed(text)
