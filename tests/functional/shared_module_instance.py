"""shared-module-instance: one module object bound to several names."""
import torch.nn as nn


class ClassLevel(nn.Module):
    act = nn.SiLU()  # [shared-module-instance]
    scale = 2  # a constant at class level is fine

    def forward(self, x):
        return self.act(x)


class TwoNames(nn.Module):
    def __init__(self):
        super().__init__()
        act = nn.ReLU()
        self.act1 = act
        self.act2 = act  # [shared-module-instance]
        self.norm_a = self.norm_b = nn.LayerNorm(8)  # [shared-module-instance]
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)  # two instances: fine

    def forward(self, x):
        x = self.act1(self.fc1(x))
        return self.fc2(self.act2(x))  # [reused-module]
