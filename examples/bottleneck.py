"""A torchvision-style ResNet bottleneck block.

Quantization problems it carries on purpose:

* one ``self.relu`` instance called three times per forward pass (module reuse);
* ``out += identity``: an in-place element-wise add outside any module.

The ``downsample`` projection is optional, as in torchvision: ``build()`` returns a
block that uses it (stride 2, channel change), ``build_without_downsample()`` one
whose identity path is the plain input.
"""

import torch
import torch.nn as nn


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    # Output channels are planes * expansion (the 1x1 "expand" conv at the end).
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        # One activation shared by all three call sites, exactly as torchvision does.
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)

        return out


def build():
    """Block with the projection shortcut: stride 2 and 8 -> 16 channels."""
    inplanes, planes, stride = 8, 4, 2
    downsample = nn.Sequential(
        conv1x1(inplanes, planes * Bottleneck.expansion, stride),
        nn.BatchNorm2d(planes * Bottleneck.expansion),
    )
    return Bottleneck(inplanes, planes, stride=stride, downsample=downsample)


def build_without_downsample():
    """Block whose shortcut is the identity: input and output have 16 channels."""
    return Bottleneck(16, 4)


def example_inputs():
    # 16 input channels would not fit build(); 8 fit build() only.
    return (torch.randn(2, 8, 8, 8),)


def example_inputs_without_downsample():
    return (torch.randn(2, 16, 8, 8),)
