"""Distiller's classic BasicModule: the worked example of its preparation guide.

The forward pass carries exactly four things a module-level quantizer cannot handle:

1. ``out += identity``: an element-wise add that is not a module, so it stays float.
2. ``self.relu`` is called twice: one instance keeps only its last call's statistics.
3. ``torch.cat([identity, out], dim=1)``: a functional concat, invisible to the quantizer.
4. ``F.sigmoid(out)``: a functional activation, invisible as well.

Everything else is a module call. Keep it that way: tests and docs count on this
file producing exactly these four findings and nothing else.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicModule(nn.Module):
    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        out += identity
        out = self.relu(out)

        out = torch.cat([identity, out], dim=1)
        out = F.sigmoid(out)

        return out


def build():
    # inplanes == planes so that the residual add needs no projection.
    return BasicModule(8, 8)


def example_inputs():
    return (torch.randn(2, 8, 6, 6),)
