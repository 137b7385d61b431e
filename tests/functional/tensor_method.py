"""tensor-method: compute methods called on tensors; metadata and data movement are not."""
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.heads = heads

    def forward(self, x, input_ids):
        b, n, c = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = q.matmul(k.transpose(-1, -2))  # [tensor-method]
        attn = attn.softmax(dim=-1)  # [tensor-method]
        out = attn.bmm(v)  # [tensor-method]
        out = out.add(x)  # [tensor-method]
        out.mul_(2)  # [tensor-method]
        pooled = out.mean(dim=1)  # [tensor-method]
        gate = pooled.sigmoid()  # [tensor-method]
        # data movement, metadata and index tensors: not reported
        out = out.view(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3).contiguous()
        width = out.size(-1) * out.dim()
        positions = input_ids.ne(0).long().cumsum(dim=1)
        count = (input_ids > 0).sum()
        return out, gate, width, positions, count


class UnknownReceiver(nn.Module):
    def forward(self, x):
        cache = {}
        cache.update(x=x)
        return x.abs().sqrt()  # [tensor-method, tensor-method]
