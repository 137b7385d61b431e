"""inline-module: modules constructed inside forward code."""
import torch.nn as nn


class Local(nn.Module):
    def forward(self, x):
        return x


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.softmax = nn.Softmax(dim=-1)  # built in __init__: fine
        self.local = Local()

    def forward(self, x):
        x = nn.Softmax(dim=-1)(x)  # [inline-module]
        proj = nn.Linear(8, 8)  # [inline-module]
        x = Local()(proj(x))  # [inline-module]
        return self.local(self.softmax(x))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 2)

    def forward(self, x, labels=None):
        logits = self.proj(x)
        if labels is not None:
            loss_fct = nn.CrossEntropyLoss()  # a training loss, not part of the quantized model: silent
            return loss_fct(logits, labels)
        return logits
