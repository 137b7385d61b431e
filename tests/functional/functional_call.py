"""functional-call: torch.nn.functional calls, however torch.nn.functional is spelled."""
import torch.nn.functional as F
from torch import nn
from torch.nn import functional as fn
import torch.nn as tnn


class Head(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.act = F.gelu

    def forward(self, x, ids):
        h = F.relu(self.proj(x))  # [functional-call]
        h = fn.softmax(h, dim=-1)  # [functional-call]
        h = tnn.functional.dropout(h, p=0.1, training=self.training)  # [functional-call]
        h = nn.functional.layer_norm(h, (8,))  # [functional-call]
        h = F.adaptive_avg_pool2d(h, 1)  # [functional-call]
        h = self.act(h)  # [functional-call]
        # data movement and index tensors: not reported
        h = F.pad(h, (1, 1))
        onehot = F.one_hot(ids, 8)
        return h, onehot
