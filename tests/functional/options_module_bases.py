"""distiller-module-bases: subclasses of a project base class are modules."""
from project.layers import Layer
from project.other import Thing


class Scale(Layer):
    def forward(self, x):
        return x * 2  # [tensor-operator]


class Helper:
    def forward(self, x):
        return x * 2


class Guessed(Thing):
    """An unresolved base that is not configured: a module by inference only."""

    def forward(self, x):
        return x * 3  # [tensor-operator]
