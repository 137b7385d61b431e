"""distiller-flag-data-movement=yes: view, reshape, flatten, chunk... are reported too."""
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        b, n, c = x.shape
        h = self.proj(x).reshape(b, n, 2, c // 2)  # [tensor-method]
        h = h.permute(0, 2, 1, 3)  # [tensor-method]
        h = torch.flatten(h, 1)  # [torch-function]
        first, second = h.chunk(2, dim=-1)  # [tensor-method]
        width = x.size(-1) * 2  # shape arithmetic stays silent
        return first + second, width  # [tensor-operator]
