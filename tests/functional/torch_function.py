"""torch-function: compute functions of the torch namespace; factories and masks are not."""
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("running", torch.zeros(dim))

    def forward(self, x, y):
        h = torch.cat([x, self.proj(y)], dim=1)  # [torch-function]
        h = torch.matmul(h, y.transpose(-1, -2))  # [torch-function]
        h = torch.sigmoid(h)  # [torch-function]
        h = torch.softmax(h, dim=-1)  # [torch-function]
        pooled = torch.mean(h, dim=1)  # [torch-function]
        stacked = torch.stack([pooled, pooled])  # [torch-function]
        scores = torch.einsum("bij,bjk->bik", h, h)  # [torch-function]
        # factories, masks, shape functions and data movement: not compute ops
        seq = x.shape[1]
        positions = torch.arange(seq, device=x.device)
        mask = torch.ones(seq, seq, dtype=torch.bool).tril()
        ids = torch.cat([positions, positions + seq])
        big = torch.finfo(x.dtype).min
        flat = torch.flatten(h, 1)
        h = torch.reshape(h, (-1,))
        self.update(x)
        std, mean = self.debug_stats(x)
        return scores, stacked, mask, ids, big, flat, h, std, mean

    @torch.no_grad()
    def update(self, x):
        self.running = self.running * 0.9 + torch.mean(x) * 0.1

    @torch.jit.ignore
    def debug_stats(self, x):
        return torch.std(x), torch.mean(x)

    def _init_weights(self, module):
        module.weight.data = torch.randn_like(module.weight) * 0.02


class NoGradBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        with torch.no_grad():
            target = torch.sigmoid(self.proj(x))
        return torch.tanh(x) - target  # [tensor-operator, torch-function]
