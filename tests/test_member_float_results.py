"""A member module fed nothing (`self.relative_position_bias()`) that returns its own parameters, added
to quantized scores in a module-level attention helper (transformers' SwinAttention and its
`eager_attention_forward`, called through a local handle with `**kwargs`).

The bias module's result was taken for a quantized activation, and the helper's `mask` argument
(the bias, or bias + shift mask) was not seen to be float on some path because the helper has no
owner class and its caller is a local handle (`attention_interface = ...get_interface(impl, helper)`)
passing `**kwargs`: the add became `FloatFunctional.add` and stopped PTQ (`aten::qscheme`). Executed:
strict load, same float outputs, the README recipe runs, a second fix adds nothing.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from pylint_distiller.fixer.engine import fix_source
from pylint_distiller.settings import Settings
from tests.support.ptq import random_batches, readme_recipe, sqnr_db
from tests.support.runtime_equivalence import load_module_from_source

SOURCE = "import torch\nimport torch.nn as nn\n\n\n" + textwrap.dedent('''
class RelativePositionBias(nn.Module):
    def __init__(self, heads, window):
        super().__init__()
        self.window_area = window * window
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.1)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.register_buffer("index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)

    def forward(self):
        bias = self.table[self.index]
        bias = bias.view(self.window_area, self.window_area, -1)
        return bias.permute(2, 0, 1).contiguous().unsqueeze(0)


ATTENTION_FUNCTIONS = {}


def attention_forward(module, query, key, value, attention_mask, scaling=None, **kwargs):
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_output = torch.matmul(attn_weights, value)
    return attn_output.transpose(1, 2).contiguous(), attn_weights


class Attention(nn.Module):
    def __init__(self, dim, heads, window):
        super().__init__()
        self.head_dim = dim // heads
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)
        self.relative_position_bias = RelativePositionBias(heads, window)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        relative_position_bias = self.relative_position_bias()
        if attention_mask is not None:
            combined_mask = relative_position_bias + attention_mask.unsqueeze(1)
        else:
            combined_mask = relative_position_bias
        attention_interface = ATTENTION_FUNCTIONS.get("eager", attention_forward)
        out, _ = attention_interface(self, query, key, value, combined_mask, scaling=self.scaling, **kwargs)
        return self.o_proj(out.reshape(*input_shape, -1).contiguous())


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Attention(8, 2, 4)
        self.second = Attention(8, 2, 4)

    def forward(self, x):
        mask = torch.zeros(x.shape[0], 16, 16)
        mask[:, :, 8:] = -100.0
        return self.second(self.first(x), attention_mask=mask)


def build():
    return Model()
''')


def _fixed(text: str, unsafe: bool = False) -> str:
    return fix_source(text, settings=Settings(target="torch-eager"), unsafe=unsafe).text


@pytest.mark.parametrize("unsafe", [False, True])
def test_a_parameter_only_member_result_meets_scores_in_a_float_island(unsafe):
    result = _fixed(SOURCE, unsafe)
    assert "module.add.add(" not in result  # the bias may reach the helper's add: an island, not a FloatFunctional
    original = load_module_from_source(SOURCE, f"member_bias_{unsafe}")
    prepared = load_module_from_source(result, f"member_bias_{unsafe}_fixed")
    torch.manual_seed(0)
    reference_model = original.build().eval()
    model = prepared.build().eval()
    model.load_state_dict(reference_model.state_dict(), strict=True)
    x = torch.randn(2, 16, 8)
    calibration = random_batches((2, 16, 8), 4, seed=1)
    with pytest.raises(Exception), torch.no_grad():  # noqa: B017 - any failure of eager PTQ, unprepared
        readme_recipe()(original.build().eval(), calibration)(x)
    with torch.no_grad():
        reference = reference_model(x)
        assert torch.allclose(model(x), reference, atol=1e-6)
    quantized = readme_recipe()(model, calibration)
    with torch.no_grad():
        quality = sqnr_db(reference, quantized(x))
    assert quality > 15.0, quality
    assert _fixed(result, unsafe) == result
