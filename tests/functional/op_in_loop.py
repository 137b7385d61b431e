"""Ops in loops: one module per iteration where the trip count is static, else no fix and why."""
import torch
import torch.nn as nn


class Loops(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.depth = depth
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(depth)])

    def forward(self, x, extras):
        for i, blk in enumerate(self.blocks):
            x = blk(x) + x  # [tensor-operator]
        for i in range(self.depth):
            x = torch.sigmoid(x)  # [torch-function]
        for blk in self.blocks:
            x = blk(x) * x  # [tensor-operator]
        for e in extras:
            x = x + e  # [tensor-operator]
        return self._twice(self._twice(x))

    def _twice(self, x):
        return x * 2  # [tensor-operator]


class Features(nn.Module):
    """A loop in a method that forward calls once is as static as one in forward."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward_features(self, x):
        for i, blk in enumerate(self.blocks):
            x = blk(x) + x  # [tensor-operator]
        return x

    def forward(self, x):
        return self.forward_features(x)


class FeaturesTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward_features(self, x):
        for i, blk in enumerate(self.blocks):
            x = blk(x) + x  # [tensor-operator]
        return x

    def forward(self, x):
        return self.forward_features(self.forward_features(x))
