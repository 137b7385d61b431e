"""A ViT-style transformer block (timm's ``Attention`` / ``Mlp`` / ``Block``).

Quantization problems it carries on purpose:

* ``q * self.scale``: a tensor-by-scalar multiply outside any module;
* ``q @ k.transpose(-2, -1)`` and ``attn @ v``: matrix products outside any module;
* ``attn.softmax(dim=-1)``: a tensor-method activation;
* ``x + self.attn(...)`` and ``x + self.mlp(...)``: residual adds.

Traps that are NOT problems: ``self.scale = head_dim ** -0.5`` is computed in
``__init__`` from ints; ``B, N, C = x.shape`` and ``C // self.num_heads`` are shape
arithmetic; ``reshape``/``permute``/``transpose``/``unbind`` only move data.
"""

import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        assert dim % num_heads == 0, "dim should be divisible by num_heads"
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        # (B, N, 3 * C) -> (3, B, heads, N, head_dim)
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)

        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)

        x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        x = self.proj(x)
        return x


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        x = self.fc1(x)
        x = self.act(x)
        x = self.fc2(x)
        return x


class Block(nn.Module):
    """Pre-norm transformer block: attention and MLP, each with a residual add."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


def build():
    return Block(dim=32, num_heads=4)


def example_inputs():
    # (batch, tokens, dim)
    return (torch.randn(2, 7, 32),)
