"""distiller-ignore-ops: ops named by catalogue key or display name are never reported."""
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        out = self.conv(x) + x  # ignored as "+"
        out = torch.cat([out, x], dim=1)  # ignored as "torch.cat"
        out = F.relu(out)  # ignored as "F.relu"
        return out * 2  # [tensor-operator]
