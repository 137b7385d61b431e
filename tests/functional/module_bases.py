"""Which classes are modules: aliases of torch.nn, its deep paths, indirect bases."""
import torch
import torch.nn as tnn
from torch.nn.modules.module import Module
from torch import nn as torch_nn


class ViaAlias(tnn.Module):
    def forward(self, x):
        return x + 1  # [tensor-operator]


class ViaModulePath(Module):
    def forward(self, x):
        return x * 2  # [tensor-operator]


class ViaFromImport(torch_nn.Module):
    def forward(self, x):
        return torch.relu(x)  # [torch-function]


class Base(tnn.Module):
    """No forward of its own."""


class Indirect(Base):
    def forward(self, x):
        return x - 1  # [tensor-operator]


class Deeper(Indirect):
    def forward(self, x):
        return x / 2  # [tensor-operator]


class Plain:
    """Not a module: its forward is not forward code."""

    def forward(self, x):
        return x + 1


class PlainChild(Plain):
    def forward(self, x):
        return x * 3
