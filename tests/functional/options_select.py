"""distiller-select / distiller-ignore: only the selected rules report; a prefix selects its family.

`W570` selects W5701-W5709, `distiller-ignore=tensor-operator` then drops `+`: the reused
ReLU and the torch.cat still report, the `+` stays silent.
"""
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.conv(x))
        out = y + x  # tensor-operator: ignored, so silent
        out = self.relu(out)  # [reused-module]
        return torch.cat([out, x], dim=1)  # [torch-function]
