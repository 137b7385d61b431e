"""tensor-operator: Python operators on tensors, and the arithmetic that is not on tensors."""
import math

import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, dim, heads=4, patch=2):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.heads = heads
        self.head_dim = dim // heads  # __init__ is not forward code
        self.scale = self.head_dim ** -0.5  # __init__ is not forward code
        self.patch = patch
        self.register_buffer("bias", torch.zeros(dim))

    def forward(self, x, y):
        out = self.proj(x) + y  # [tensor-operator]
        out = out - self.bias  # [tensor-operator]
        out = out * self.scale  # [tensor-operator]
        out = out / 2  # [tensor-operator]
        out = out // 3  # [tensor-operator]
        out = out @ y  # [tensor-operator]
        out = out ** 2  # [tensor-operator]
        out = out % 5  # [tensor-operator]
        out = -out  # [tensor-operator]
        out = 1 - out  # [tensor-operator]
        out += x  # [tensor-operator]
        out *= y  # [tensor-operator]
        return out * torch.sigmoid(out) + x  # [tensor-operator, tensor-operator, torch-function]


class ShapeArithmetic(nn.Module):
    """Shapes, counters, tuples and lists: none of these is a tensor op."""

    def __init__(self, heads=4, patch=2):
        super().__init__()
        self.heads = heads
        self.patch = patch
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        b, n, c = x.shape
        double = x.size(0) * 2
        h = n // self.patch
        per_head = c // self.heads
        new_shape = x.size()[:-1] + (self.heads, per_head)
        out = x.view(b, n * 1, -1)  # int arithmetic inside a tensor call
        out = out.reshape(b, h * self.patch, c)
        to_cat = [out]
        to_cat = to_cat + [x]
        width = x.shape[-1] * self.patch + 1
        total = len(to_cat) * 2 + double + width + math.ceil(n / 2)
        for i in range(3):
            total += i * 2
        return self.proj(out), new_shape, total


class MasksAndModes(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        seq = x.shape[1]
        positions = torch.arange(seq, device=x.device)
        shifted = positions + 1  # index arithmetic on an integer tensor
        causal = positions[None, :] > shifted[:, None]
        keep = torch.zeros(seq, seq, dtype=torch.bool) | causal
        with torch.no_grad():
            stats = x * 2  # under torch.no_grad(): not quantized
        if self.training:
            x = x * 0.5  # [tensor-operator]
        return self.proj(x).masked_fill(keep, 0.0), stats


def scaled(x, factor):
    return x * factor  # [tensor-operator]


class UsesHelper(nn.Module):
    def forward(self, x):
        return scaled(x, 2)


class NotAModule:
    def forward(self, x):
        return x * 2
