"""Container subclasses: no member may be added, and the message says why."""
import torch
import torch.nn as nn
from torch.nn import ModuleDict as MD, Sequential


class Dense(nn.ModuleDict):
    def forward(self, x):
        features = [x]
        for _name, layer in self.items():
            features.append(layer(torch.cat(features, 1)))  # [torch-function]
        return torch.cat(features, 1)  # [torch-function]


class Mixed(MD):
    def forward(self, x):
        parts = torch.split(x, 2, 1)
        return torch.cat([c(parts[i]) for i, c in enumerate(self.values())], 1)  # [torch-function]


class Residual(Sequential):
    def forward(self, x):
        for layer in self:
            x = layer(x) + x  # [tensor-operator]
        return x


class Indexed(nn.ModuleList):
    def forward(self, x):
        return self[0](x) * self[len(self) - 1](x)  # [tensor-operator]


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        for child in self.named_children():
            x = child[1](x) + x  # [tensor-operator]
        return x


class Holder(nn.Module):
    """Holding a container is fine: the member goes next to it, not into it."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4))

    def forward(self, x):
        for layer in self.body:
            x = layer(x)
        return x + 1  # [tensor-operator]
