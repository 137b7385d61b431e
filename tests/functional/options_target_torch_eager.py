"""distiller-target=torch-eager: FloatFunctional suggestions; ops eager mode runs natively are silent."""
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        out = self.conv(x) + x  # [tensor-operator]
        out = out - x  # [tensor-operator]
        out = torch.cat([out, x], dim=1)  # [torch-function]
        out = F.adaptive_avg_pool2d(out, 1)  # natively supported by quantized tensors
        out = out.mean(dim=1)  # natively supported by quantized tensors
        return F.relu(out)  # [functional-call]
