"""distiller-target=torch-eager: float islands, per-module qconfigs, view -> reshape, LSTM/MHA left to prepare."""
import torch
import torch.nn.functional as F
from torch import nn


def swish(x):
    return x * x.sigmoid()  # [tensor-operator, tensor-method]


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)  # one island at its call


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.SiLU()
        self.prelu = nn.PReLU()  # [unquantizable-module]
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)  # [unquantizable-module]
        self.qkv = nn.Linear(4, 4)  # [unquantizable-module]
        self.norm = RMSNorm(4)
        self.rnn = nn.LSTM(4, 4)  # eager prepare swaps it itself: silent
        self.attn = nn.MultiheadAttention(4, 1)  # eager prepare swaps it itself: silent
        self.cell = nn.GRUCell(4, 4)  # [unquantizable-module]
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        y = self.act(self.conv(x))  # [unquantizable-module]
        y = self.prelu(y)  # [unquantizable-module]
        z = y - x  # [tensor-operator]
        s = z.sum(1)  # [tensor-method]
        z = self.gamma * z  # [tensor-operator]
        z = self.norm(z)  # [unquantizable-module]
        z = self.up(z)
        flat = z.view(z.size(0), -1)  # [tensor-method]
        out = F.linear(flat, self.qkv.weight)  # [functional-call]
        return swish(out), s
