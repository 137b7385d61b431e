"""unfused-modules (torch-eager): chains of a class's own members that fuse_modules can fuse."""
import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))  # [unfused-modules]


class Assigned(nn.Module):
    def __init__(self, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = conv3x3(4, 4)
        self.bn1 = norm_layer(4)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        out = self.conv1(x)  # [unfused-modules]
        out = self.bn1(out)
        out = self.relu(out)
        return self.act(self.fc(out.mean((2, 3))))


class InSequential(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(4, 4, 1), nn.BatchNorm1d(4), nn.ReLU(),  # [unfused-modules]
                                      nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))

    def forward(self, x):
        return self.features(x)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout), nn.ReLU6())  # [unfused-modules]


class UsedTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        a = self.conv(x)
        b = self.bn(a)
        return b + a  # [tensor-operator]


class Relu6AndMovement(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU6()
        self.conv = nn.Conv2d(4, 4, 1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x, y):
        return self.act(self.fc(x)), self.bn(self.conv(y).contiguous())


class ReadElsewhere(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        assert self.conv.weight.dtype == torch.float32  # [unquantizable-module]
        return self.relu(self.conv(x))


class InLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU()

    def forward(self, x):
        for _ in range(2):
            x = self.relu(self.fc(x))  # [reused-module, reused-module]
        return x


class AcrossClasses(nn.Module):  # [unfused-modules]
    def __init__(self):
        super().__init__()
        self.block = Nested()
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.block(x)) + self.bn(x)  # [tensor-operator]


class AlreadyFused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.fc(x))

    def fuse_model(self, is_qat=False):
        torch.ao.quantization.fuse_modules(self, [["fc", "relu"]], inplace=True)


class Net(nn.Module):  # [unfused-modules]
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Nested() for _ in range(2)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1)


class ConvNormAct(nn.Sequential):
    def __init__(self, cin, cout, activation_layer=nn.ReLU):
        layers = [nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout)]
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)  # [unfused-modules]


class ListBuilt(nn.Module):
    def __init__(self, c, expand):
        super().__init__()
        layers = []
        if expand:
            layers.append(ConvNormAct(c, c))
        layers.extend([nn.Conv2d(c, c, 1), nn.BatchNorm2d(c)])
        self.conv = nn.Sequential(*layers)  # [unfused-modules]

    def forward(self, x):
        return self.conv(x)


class SharedListElement(nn.Module):  # [unfused-modules]
    """An element that is also an attribute: no chain (fusing would leave self.head stale); the walk only."""

    def __init__(self, c):
        super().__init__()
        self.head = nn.Conv2d(c, c, 1)
        layers = [self.head, nn.BatchNorm2d(c)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class IndexedListBuilt(nn.Module):  # [unfused-modules]
    """Its first child's output is read alone: no chain; the walk only."""

    def __init__(self, c):
        super().__init__()
        layers = [nn.Conv2d(c, c, 1), nn.BatchNorm2d(c)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x) + self.body[0](x)  # [tensor-operator]
