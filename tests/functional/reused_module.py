"""reused-module: a submodule called more than once per forward pass."""
import torch.nn as nn


class TwoCalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(x)
        return self.relu(self.conv(x))  # [reused-module]


class LoopAndHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Linear(8, 8)
        self.act = nn.GELU()

    def _mlp(self, x):
        return self.act(x)  # [reused-module]

    def forward(self, x):
        for _ in range(3):
            x = self.block(x)  # [reused-module]
        return self._mlp(self._mlp(x))


class Exclusive(nn.Module):
    """Calls in mutually exclusive branches run once per pass: not reuse."""

    def __init__(self, use_post_norm=False):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.cat_act = nn.ReLU()
        self.use_post_norm = use_post_norm

    def forward(self, x, flag):
        if flag:
            x = self.cat_act(x)
        else:
            x = self.cat_act(-x)  # [tensor-operator]
        x = x if self.use_post_norm else self.norm(x)
        x = self.norm(x) if self.use_post_norm else x
        return x


class Blocks(nn.Module):
    """Iterating a container calls each element once: not reuse."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        for i in range(len(self.layers)):
            x = self.layers[i](x)
        return x


class SharedGroups(nn.Module):
    """ALBERT-style: many layers share few groups."""

    def __init__(self, layers=4, groups=1):
        super().__init__()
        self.layers = layers
        self.groups = nn.ModuleList([nn.Linear(8, 8) for _ in range(groups)])

    def forward(self, x):
        for i in range(self.layers):
            group = int(i / (self.layers / len(self.groups)))
            x = self.groups[group](x)  # [reused-module]
        return x


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)  # [reused-module]


class Siamese(nn.Module):
    """A module called twice runs its submodules twice (weight tying)."""

    def __init__(self):
        super().__init__()
        self.encoder = Inner()

    def forward(self, a, b):
        return self.encoder(a), self.encoder(b)  # [reused-module]
