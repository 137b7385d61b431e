"""A Squeeze-and-Excitation block (Hu et al.), in the style of torchvision/timm.

Quantization problems it carries on purpose:

* ``F.adaptive_avg_pool2d(x, 1)`` and ``F.relu``: functional calls, invisible to a
  module-level quantizer;
* ``torch.sigmoid``: a functional activation;
* ``x * scale``: an element-wise multiply outside any module.

The 1x1 convolutions play the role of the two fully connected layers of the
original paper, which keeps the tensors 4-D and avoids any flatten/reshape.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.fc_reduce = nn.Conv2d(channels, squeezed, kernel_size=1)
        self.fc_expand = nn.Conv2d(squeezed, channels, kernel_size=1)

    def forward(self, x):
        # Squeeze: one descriptor per channel.
        scale = F.adaptive_avg_pool2d(x, 1)
        # Excitation: bottleneck MLP with a sigmoid gate.
        scale = self.fc_reduce(scale)
        scale = F.relu(scale)
        scale = self.fc_expand(scale)
        scale = torch.sigmoid(scale)
        # Re-weight the channels (broadcast over H and W).
        return x * scale


def build():
    return SqueezeExcitation(16, reduction=4)


def example_inputs():
    return (torch.randn(2, 16, 5, 5),)
