"""distiller-report-stateless-reuse=no: reusing Identity or Dropout is not reported."""
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = self.drop(self.relu(x))
        x = self.drop(self.fc(x))  # dropout carries no quantization state
        return self.relu(x)  # [reused-module]
