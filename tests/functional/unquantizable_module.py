"""unquantizable-module: recurrent and fused attention modules."""
import torch
import torch.nn as tnn
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16, 1)  # [unquantizable-module]
        self.cell = tnn.LSTMCell(8, 16)  # [unquantizable-module]
        self.gru = nn.GRU(8, 16)  # [unquantizable-module]
        self.attn = torch.nn.MultiheadAttention(16, 2)  # [unquantizable-module]
        self.proj = nn.Linear(16, 16)

    def forward(self, x):
        out, _ = self.rnn(x)
        out, _ = self.gru(out)
        out, _ = self.attn(out, out, out)
        return self.proj(out)
