"""A feature-extractor block full of shape and integer arithmetic: a precision test.

A precise linter must report NOTHING in this file. Every ``+``, ``*``, ``//``,
``-`` and ``**`` here works on Python ints, floats, tuples or lists, never on
activations, and every tensor computation goes through a module (conv or linear).
The traps, each taken from real model code:

* ``b, c, h, w = x.size()`` and ``x.size(0) * 2``: sizes are ints;
* ``x.view(b, c // self.groups, self.groups, h, w)``: ShuffleNet's channel shuffle;
* ``x[:, : c // 2]``: a slice bound;
* ``h // self.patch`` and ``gh * gw``: patch-grid arithmetic;
* ``tokens.size()[:-1] + (self.heads, -1)``: tuple concatenation (BERT's
  ``transpose_for_scores``);
* ``feats = feats + [x]``: list concatenation;
* ``len(self.stages) - self.num_outputs`` and the ``enumerate`` loop counter;
* ``head_dim ** -0.5`` computed in ``__init__`` (used for weight init only);
* ``torch.arange`` / ``torch.zeros`` building an index and a mask for indexing.

The block returns its features as a Python list, as multi-scale backbones do, so
that no concat or add is needed to combine them.
"""

import torch
import torch.nn as nn


class ShapeArithmeticBlock(nn.Module):
    def __init__(self, channels=8, groups=4, heads=2, patch=2, num_stages=3, num_outputs=2):
        super().__init__()
        self.groups = groups
        self.heads = heads
        self.patch = patch
        self.num_outputs = num_outputs

        self.stem = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        # Applied to both channel halves at once (they are folded into the batch).
        self.half_conv = nn.Conv2d(channels // 2, channels // 2, kernel_size=1)
        self.stages = nn.ModuleList(
            [nn.Conv2d(channels, channels, kernel_size=3, padding=1) for _ in range(num_stages)]
        )
        self.patch_embed = nn.Linear(channels * patch * patch, channels)
        head_dim = channels // heads
        self.head_proj = nn.Linear(head_dim, head_dim)

        # The usual attention scale, here only used to size the init of the head projection.
        self.scale = head_dim ** -0.5
        nn.init.normal_(self.head_proj.weight, std=self.scale)

    def forward(self, x):
        b, c, h, w = x.size()
        x = self.stem(x)

        # Channel shuffle (ShuffleNet): views and a transpose, no arithmetic on values.
        x = x.view(b, c // self.groups, self.groups, h, w)
        x = x.transpose(1, 2).contiguous().view(b, c, h, w)

        # Reverse the channel order with an index tensor: indexing, not compute.
        order = torch.arange(c - 1, -1, -1, device=x.device)
        x = x[:, order]

        # Fold the two channel halves into the batch so that one conv handles both.
        halves = x.reshape(x.size(0) * 2, c // 2, h, w)
        halves = self.half_conv(halves)
        x = halves.reshape(b, c, h, w)
        feats = [x[:, : c // 2]]

        # Keep the outputs of the last `num_outputs` stages.
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= len(self.stages) - self.num_outputs:
                feats = feats + [x]

        # Every `patch`-th row, selected by a boolean mask.
        rows = torch.zeros(h, dtype=torch.bool, device=x.device)
        rows[:: self.patch] = True
        feats = feats + [x[:, :, rows]]

        # Patchify: (b, c, h, w) -> (b, gh * gw, c * patch * patch) -> (b, n, c).
        gh, gw = h // self.patch, w // self.patch
        tokens = x.reshape(b, c, gh, self.patch, gw, self.patch)
        tokens = tokens.permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, -1)
        tokens = self.patch_embed(tokens)

        # Split the channels into heads: (b, n, c) -> (b, heads, n, c // heads).
        new_shape = tokens.size()[:-1] + (self.heads, -1)
        tokens = tokens.view(new_shape).transpose(1, 2)
        tokens = self.head_proj(tokens)
        feats = feats + [tokens]

        return feats


def build():
    return ShapeArithmeticBlock()


def example_inputs():
    return (torch.randn(2, 8, 6, 6),)
